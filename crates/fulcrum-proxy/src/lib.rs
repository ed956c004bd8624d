//! fulcrum's proxy data path: listeners, HTTP/1.1 and TCP forwarding, balancing and health checks.
//!
//! The path of a connection: [`listener`] binds one socket per worker and address; [`worker`] accepts on it and
//! hands the connection to [`http::serve_client`] or [`tcp::serve_client`]; a server is chosen through
//! [`select`] from the backend's [`snapshot`]; [`health`] runs checks on its own thread and flips server states.

pub mod control;
pub mod data;
pub mod health;
pub mod model;
pub mod net;

// The modules' paths before the crate was drawn in layers, kept so that callers outside it read on.
pub use control::{cert_api, runtime_api, server_state};
pub use data::http::stats;
pub use data::{client_io, http, queue, tcp, tls_relay, totals, worker, worker_state};
pub use health::admin_state;
pub use model::{
    counters, log, ramp, rules, select, server, server_list, slot, snapshot, stick, tls_config,
};
pub use net::{fd_limit, listener, memory, origin, parking, proxy_header, relay, splice, tls_io};

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{watch, Semaphore};

use fulcrum_config::haproxy::{Config, StatsAddr};

pub use model::error::StartError;
pub use snapshot::Snapshot;

/// A running proxy; dropping it does not stop it, call [`RunningProxy::stop`].
pub struct RunningProxy {
    snapshot: Arc<Snapshot>,
    stop: watch::Sender<bool>,
    drain: watch::Sender<bool>,
    exposed: runtime_api::Exposed,
    /// The `peers` sections still handing their tables to the new process after a soft stop.
    handing: data::peers::Handing,
    threads: Vec<JoinHandle<()>>,
    bound: Vec<(String, SocketAddr)>,
    logger: Option<log::Logger>,
}

impl RunningProxy {
    /// The addresses actually listened on, per frontend (ports chosen by the kernel are resolved).
    pub fn local_addrs(&self) -> &[(String, SocketAddr)] {
        &self.bound
    }

    /// The live state (server states, counters).
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// Starts a soft stop: the listeners stop accepting (this process's copies of the sockets close), idle
    /// keep-alive connections close and busy ones close after their current response. Connections in progress
    /// (requests, tunnels, `mode tcp` sessions) go on; [`RunningProxy::connections`] counts them, and
    /// [`RunningProxy::stop`] ends them.
    pub fn soft_stop(&self) {
        self.exposed.clear();
        let _ = self.drain.send(true);
    }

    /// Whether, after [`RunningProxy::soft_stop`], a `peers` section is still handing its tables to the new
    /// process (at most a few seconds): the process should not exit before.
    pub fn handing_over(&self) -> bool {
        self.handing.busy()
    }

    /// The client connections open in the whole process.
    pub fn connections(&self) -> usize {
        self.snapshot
            .frontends
            .iter()
            .map(|fe| fe.cur.load(std::sync::atomic::Ordering::Relaxed) as usize)
            .sum()
    }

    /// Stops every worker and the health checker, and waits for their threads.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.threads {
            let _ = t.join();
        }
        // The workers are gone: write what they logged, then stop the logger.
        if let Some(l) = self.logger {
            l.shutdown();
        }
    }

    /// Waits until the proxy stops (it only stops through [`RunningProxy::stop`] from another handle or a signal).
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
        if let Some(l) = self.logger {
            l.shutdown();
        }
    }

    /// A handle that can stop the proxy from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop.clone())
    }
}

/// Stops a running proxy from anywhere.
#[derive(Clone)]
pub struct Stopper(watch::Sender<bool>);

impl Stopper {
    /// Asks every thread of the proxy to stop.
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

/// Worker threads to run: `nbthread`, else one per CPU.
pub(crate) fn thread_count(config: &Config) -> usize {
    config
        .global
        .nbthread
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// A configuration whose listening sockets are open, before any thread is started (so that the process may still
/// fork into the background or drop privileges).
pub struct Bound {
    snapshot: Arc<Snapshot>,
    /// The idle server connections of every worker thread.
    idle_pools: Arc<http::pool::Pools>,
    /// The runtime API and its `stats socket` listeners.
    runtime: (
        Arc<runtime_api::RuntimeApi>,
        Vec<runtime_api::StatsListener>,
    ),
    per_worker: Vec<Vec<worker::Listener>>,
    peers: Vec<data::peers::Section>,
    limits: worker::Limits,
    bound: Vec<(String, SocketAddr)>,
    exposed: runtime_api::Exposed,
}

/// Opens every listening socket of `config` (one per worker thread and address).
pub fn bind(config: &Config) -> Result<Bound, StartError> {
    bind_with(config, &mut listener::Handover::default())
}

/// The TCP addresses `config` listens on (its `bind` lines; inherited `fd@N` excepted), each once.
pub fn listen_addrs(config: &Config) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for p in config.proxies.iter().filter(|p| p.kind.has_frontend()) {
        for b in &p.binds {
            for a in &b.addrs {
                if !out.contains(a) {
                    out.push(*a);
                }
            }
        }
    }
    out
}

/// The worker threads `config` runs (`nbthread`, else one per CPU).
pub fn threads(config: &Config) -> usize {
    thread_count(config)
}

/// Opens every listening socket of `config` (one per worker thread and address), taking the sockets of
/// `handover` whose address `config` binds instead of binding them again.
pub fn bind_with(config: &Config, handover: &mut listener::Handover) -> Result<Bound, StartError> {
    let snapshot = Arc::new(Snapshot::build(config)?);
    // States carried over a restart (`load-server-state-from-file`) apply before any traffic or check.
    server_state::load(config, &snapshot)?;
    rules::vars::set_global_vars(&config.global.vars);
    net::pipes::set_pipe_size(config.global.tune_pipesize.map(|n| n as usize));
    net::pipes::set_max_pipes(config.global.maxpipes.map(|n| n as usize));
    let (tls, certs, warnings) = tls_config::all(config)?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    // The servers' client certificates join the bind lines' in the runtime API's store.
    for id in snapshot
        .servers
        .iter()
        .filter_map(|s| s.tls_identity.as_ref())
    {
        certs.register_client(id);
    }
    // And their CA and CRL files, which `show ssl ca-file|crl-file` lists with the bind lines' (read at start
    // as the servers' settings were), and which `commit ssl ca-file|crl-file` replaces for them too.
    for t in snapshot.servers.iter().filter_map(|s| s.tls_trust.as_ref()) {
        if let Some(ca) = &t.ca {
            let _ = certs.read_for_server("ca-file", ca);
        }
        if let Some(crl) = &t.crl {
            let _ = certs.read_for_server("crl-file", crl);
        }
        certs.register_trust(t);
    }
    let threads = thread_count(config);
    let limits = worker::Limits {
        global: snapshot
            .global_maxconn
            .map(|n| Arc::new(Semaphore::new(n as usize))),
        conn_rate: config
            .global
            .maxconnrate
            .map(|n| Arc::new(data::rate_gate::RateGate::new(n))),
        sess_rate: config
            .global
            .maxsessrate
            .map(|n| Arc::new(data::rate_gate::RateGate::new(n))),
        ssl_rate: config
            .global
            .maxsslrate
            .map(|n| Arc::new(data::rate_gate::RateGate::new(n))),
        cpu_map: fulcrum_config::haproxy::CpuMap::per_thread(&config.global.cpu_map, threads)
            .into(),
        scheduling: worker::Scheduling::of(&config.global),
    };
    // Raised before anything is opened, as HAProxy does; a limit too low for `maxconn` stops the start unless
    // `no strict-limits` says to go on.
    let listeners: usize = config
        .proxies
        .iter()
        .flat_map(|p| &p.binds)
        .map(|b| (b.addrs.len() + b.fds.len() + b.unix.len()) * threads)
        .sum::<usize>()
        + config.global.stats_sockets.len();
    let need = config
        .global
        .maxconn
        .map(|m| fd_limit::needed(m, listeners));
    let strict = config.global.strict_limits.unwrap_or(true);
    let fds = match config.global.ulimit_n {
        Some(n) => fd_limit::set_exact(n, need, strict)?,
        None => fd_limit::raise(need, strict, config.global.fd_hard_limit)?,
    };
    let idle_pools = Arc::new(http::pool::Pools::new(
        threads,
        snapshot.servers.iter().map(|s| s.config.pool_max_conn),
        config.global.idle_pool_shared.unwrap_or(true),
        http::pool::idle_cap(fds),
    ));
    let mut per_worker: Vec<Vec<worker::Listener>> = (0..threads).map(|_| Vec::new()).collect();
    let mut bound = Vec::new();
    // `stats socket ... expose-fd listeners`: the listening sockets may be handed to a new process (`-x`).
    let expose = config
        .global
        .stats_sockets
        .iter()
        .any(|s| s.expose_fd_listeners);
    let exposed = runtime_api::Exposed::default();
    // Inherited sockets are claimed before anything is bound, so that an `fd@N` can only name a descriptor
    // the process was given, never one it opened itself.
    let mut claims = listener::Claims::default();
    let frontends: Vec<_> = config
        .proxies
        .iter()
        .filter(|p| p.kind.has_frontend())
        .collect();
    for ((fe, proxy), tls) in snapshot.frontends.iter().zip(&frontends).zip(&tls) {
        let limit = fe.maxconn.map(|n| Arc::new(Semaphore::new(n as usize)));
        let mut first_id = 1;
        for (bind, tls) in proxy.binds.iter().zip(tls) {
            let ids = first_id..;
            first_id += (bind.fds.len() + bind.addrs.len() + bind.unix.len()) as i64;
            for (&fd, id) in bind.fds.iter().zip(ids) {
                let inherit_error = |source| StartError::Inherit {
                    keyword: "bind",
                    location: bind.location.to_string(),
                    source,
                };
                claims.claim(fd).map_err(inherit_error)?;
                let sockets = listener::inherit_tcp(fd, threads).map_err(inherit_error)?;
                tune(&sockets, listen_tuning(bind, proxy, &config.global)).map_err(|source| {
                    StartError::Inherit {
                        keyword: "bind",
                        location: bind.location.to_string(),
                        source: listener::InheritError::NotOpen(fd, source),
                    }
                })?;
                add_listeners(
                    &mut per_worker,
                    &mut bound,
                    (fe, tls, Arc::new(worker::ListenerInfo::of(bind, id))),
                    &limit,
                    sockets.into_iter().map(worker::ListenSocket::Tcp).collect(),
                );
            }
        }
    }
    for s in &config.global.stats_sockets {
        if let StatsAddr::Fd(fd) = s.addr {
            claims.claim(fd).map_err(|source| StartError::Inherit {
                keyword: "stats socket",
                location: s.location.to_string(),
                source,
            })?;
        }
    }
    for ((fe, proxy), tls) in snapshot.frontends.iter().zip(&frontends).zip(&tls) {
        let limit = fe.maxconn.map(|n| Arc::new(Semaphore::new(n as usize)));
        let mut first_id = 1;
        for (bind, tls) in proxy.binds.iter().zip(tls) {
            // The listeners of a frontend are numbered in configuration order (`so_id`), inherited ones first.
            let ids = first_id + bind.fds.len() as i64..;
            let unix_ids = first_id + (bind.fds.len() + bind.addrs.len()) as i64..;
            first_id += (bind.fds.len() + bind.addrs.len() + bind.unix.len()) as i64;
            for (addr, id) in bind.unix.iter().zip(unix_ids) {
                // One socket, shared by the workers (the kernel has no SO_REUSEPORT spreading for unix sockets).
                let socket = net::unix::bind(addr, bind.unix_perms).map_err(|source| {
                    StartError::BindUnix {
                        proxy: fe.name.clone(),
                        addr: addr.to_string(),
                        location: bind.location.to_string(),
                        source,
                    }
                })?;
                let mut sockets = Vec::with_capacity(threads);
                for _ in 1..threads {
                    sockets.push(worker::ListenSocket::Unix(
                        socket.try_clone().map_err(StartError::Thread)?,
                    ));
                }
                sockets.push(worker::ListenSocket::Unix(socket));
                add_listeners(
                    &mut per_worker,
                    &mut bound,
                    (fe, tls, Arc::new(worker::ListenerInfo::of(bind, id))),
                    &limit,
                    sockets,
                );
            }
            for (&addr, id) in bind.addrs.iter().zip(ids) {
                let tuning = listen_tuning(bind, proxy, &config.global);
                let sockets = match handover.take(addr, threads) {
                    Some(handed) => handed,
                    None => listener::bind_for_workers(
                        addr,
                        threads,
                        tuning.backlog,
                        config.global.noreuseport,
                    ),
                }
                .and_then(|sockets| tune(&sockets, tuning).map(|()| sockets))
                .map_err(|source| StartError::Bind {
                    proxy: fe.name.clone(),
                    addr,
                    location: bind.location.to_string(),
                    source,
                })?;
                if expose {
                    for s in &sockets {
                        if let Ok(dup) = s.try_clone() {
                            exposed.push(addr, dup);
                        }
                    }
                }
                add_listeners(
                    &mut per_worker,
                    &mut bound,
                    (fe, tls, Arc::new(worker::ListenerInfo::of(bind, id))),
                    &limit,
                    sockets.into_iter().map(worker::ListenSocket::Tcp).collect(),
                );
            }
        }
    }
    // The `peers` sections' listening sockets (an inherited `fd@N` or an address).
    let peers =
        data::peers::Section::all(config, &snapshot.tables, &certs, |b| match b.fds.first() {
            Some(&fd) => {
                claims
                    .claim(fd)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                listener::inherit_tcp(fd, 1)
                    .map_err(|e| std::io::Error::other(e.to_string()))?
                    .pop()
                    .ok_or_else(|| std::io::Error::other("no socket"))
            }
            None => {
                let addr = b.addrs[0];
                match handover.take(addr, 1) {
                    Some(handed) => handed?,
                    None => listener::bind_reuseport(addr, 1)?,
                }
                .pop()
                .ok_or_else(|| std::io::Error::other("no socket"))
            }
        })?;
    let mut stats_sockets = Vec::new();
    for s in &config.global.stats_sockets {
        stats_sockets.push(runtime_api::bind_socket(s).map_err(|e| match e {
            runtime_api::BindError::Inherit(source) => StartError::Inherit {
                keyword: "stats socket",
                location: s.location.to_string(),
                source,
            },
            runtime_api::BindError::Io(source) => StartError::StatsSocket {
                path: s.addr.to_string(),
                location: s.location.to_string(),
                source,
            },
        })?);
    }
    let mut api = runtime_api::RuntimeApi::new(config, snapshot.clone(), threads, bound.len());
    let client_certs = snapshot.servers.iter().any(|s| s.tls_identity.is_some());
    if client_certs || tls.iter().flatten().any(Option::is_some) {
        api.set_certs(certs);
    }
    api.set_exposed(exposed.clone());
    api.set_pools(idle_pools.clone());
    Ok(Bound {
        idle_pools,
        peers,
        runtime: (Arc::new(api), stats_sockets),
        snapshot,
        per_worker,
        limits,
        bound,
        exposed,
    })
}

/// Gives one socket of a listening address to each worker, and records the address as bound.
/// The TCP options a `bind` line of a proxy asks for.
fn listen_tuning(
    bind: &fulcrum_config::haproxy::Bind,
    proxy: &fulcrum_config::haproxy::Proxy,
    global: &fulcrum_config::haproxy::Global,
) -> listener::Tuning {
    let backlog = bind.tcp.backlog.or(proxy.backlog);
    listener::Tuning {
        backlog: backlog.map_or(listener::BACKLOG, |b| i32::try_from(b).unwrap_or(i32::MAX)),
        defer_accept: bind.tcp.defer_accept,
        fast_open: bind.tcp.tfo,
        user_timeout: bind.tcp.user_timeout.filter(|d| !d.is_zero()),
        delay_ack: proxy.tcp_smart_accept,
        nolinger: proxy.nolinger,
        bufs: global.tune_client_bufs,
    }
}

/// Sets a `bind` line's TCP options on each of its sockets.
fn tune(sockets: &[std::net::TcpListener], tuning: listener::Tuning) -> std::io::Result<()> {
    sockets.iter().try_for_each(|s| tuning.apply(s))
}

fn add_listeners(
    per_worker: &mut [Vec<worker::Listener>],
    bound: &mut Vec<(String, SocketAddr)>,
    (fe, tls, info): (
        &Arc<snapshot::FrontendRt>,
        &Option<Arc<fulcrum_tls::server::ServerTls>>,
        Arc<worker::ListenerInfo>,
    ),
    limit: &Option<Arc<Semaphore>>,
    sockets: Vec<worker::ListenSocket>,
) {
    if let Some(worker::ListenSocket::Tcp(s)) = sockets.first() {
        if let Ok(a) = s.local_addr() {
            bound.push((fe.name.clone(), a));
        }
    }
    // One socket per worker; sockets handed over by a process with more threads are spread over the workers.
    let workers = per_worker.len();
    for (i, socket) in sockets.into_iter().enumerate() {
        per_worker[i % workers].push(worker::Listener {
            frontend: fe.clone(),
            socket,
            limit: limit.clone(),
            tls: tls.clone(),
            info: info.clone(),
        });
    }
}

impl Bound {
    /// Serves the runtime API on one more listener besides the `stats socket` lines (the master's channel).
    pub fn add_cli_listener(&mut self, listener: runtime_api::StatsListener) {
        self.runtime.1.push(listener);
    }

    /// The addresses listened on, per frontend.
    pub fn local_addrs(&self) -> &[(String, SocketAddr)] {
        &self.bound
    }

    /// Starts the worker threads and the health checker.
    pub fn spawn(self) -> Result<RunningProxy, StartError> {
        let logger = self.snapshot.logging.start().map_err(StartError::Thread)?;
        let (stop, stop_rx) = watch::channel(false);
        let (drain, drain_rx) = watch::channel(false);
        let mut handles = Vec::new();
        for (id, listeners) in self.per_worker.into_iter().enumerate() {
            handles.push(
                worker::spawn(
                    id,
                    (self.snapshot.clone(), self.idle_pools.clone()),
                    listeners,
                    self.limits.clone(),
                    (drain_rx.clone(), stop_rx.clone()),
                )
                .map_err(StartError::Thread)?,
            );
        }
        let (api, stats_sockets) = self.runtime;
        if let Some(h) = runtime_api::spawn(api.clone(), stats_sockets, stop_rx.clone())
            .map_err(StartError::Thread)?
        {
            handles.push(h);
        }
        if let Some(h) = stats::spawn_sampler(self.snapshot.clone(), stop_rx.clone())
            .map_err(StartError::Thread)?
        {
            handles.push(h);
        }
        if let Some(h) = data::resolvers::spawn(
            self.snapshot.clone(),
            self.idle_pools.clone(),
            stop_rx.clone(),
        )
        .map_err(StartError::Thread)?
        {
            handles.push(h);
        }
        let handing = data::peers::Handing::default();
        if let Some(h) =
            data::peers::spawn(self.peers, (stop_rx.clone(), drain_rx.clone()), &handing)
                .map_err(StartError::Thread)?
        {
            handles.push(h);
        }
        if let Some(h) =
            health::spawn(self.snapshot.clone(), stop_rx).map_err(StartError::Thread)?
        {
            handles.push(h);
        }
        Ok(RunningProxy {
            snapshot: self.snapshot,
            stop,
            drain,
            exposed: self.exposed,
            handing,
            threads: handles,
            bound: self.bound,
            logger,
        })
    }
}

/// Checks what only the proxy can check (rules compiled, `log-format` strings, inherited `fd@N` sockets open
/// and listening, the addresses `init-addr last` takes from server-state files), without binding anything:
/// `fulcrum proxy -c` runs it after the configuration parsed. The warnings it has, file:line first.
pub fn check(config: &Config) -> Result<Vec<String>, StartError> {
    let snapshot = Snapshot::build(config).map_err(StartError::from)?;
    // The server-state files too: `init-addr last` may need them for an address, as in `haproxy -c`.
    let mut warnings = server_state::load(config, &snapshot)?;
    let (_, store, tls_warnings) = tls_config::all(config)?;
    warnings.extend(tls_warnings);
    for p in config.peers.iter().filter(|p| !p.disabled) {
        tls_config::peers(config, p, &store, &mut warnings)?;
    }
    let inherited = config
        .proxies
        .iter()
        .flat_map(|p| &p.binds)
        .flat_map(|b| b.fds.iter().map(move |fd| ("bind", *fd, &b.location)));
    let stats = config
        .global
        .stats_sockets
        .iter()
        .filter_map(|s| match s.addr {
            StatsAddr::Fd(fd) => Some(("stats socket", fd, &s.location)),
            _ => None,
        });
    let mut claims = listener::Claims::default();
    for (keyword, fd, location) in inherited.chain(stats) {
        let checked = claims.claim(fd).and_then(|()| {
            if keyword == "bind" {
                listener::check_inherited_kind(fd, listener::InheritKind::Tcp)
            } else {
                listener::check_inherited(fd).map(|_| ())
            }
        });
        checked.map_err(|source| StartError::Inherit {
            keyword,
            location: location.to_string(),
            source,
        })?;
    }
    Ok(warnings)
}

/// Binds every listener and starts the workers and the health checker.
pub fn start(config: &Config) -> Result<RunningProxy, StartError> {
    bind(config)?.spawn()
}
