//! Worker threads: each runs its own single-threaded tokio runtime with its own listening sockets, connection
//! pools and balancing state, so a request never crosses threads and never waits on a lock.

use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::LocalSet;
use tracing::{debug, info_span, warn, Instrument};

use fulcrum_config::haproxy::Mode;

use crate::data::worker_state::{Accepted, ConnTicket, Worker};
use crate::model::rules::http::ConnFacts;
use crate::model::snapshot::{ConnGuard, FrontendRt, Snapshot};

pub use crate::net::listener::ListenerInfo;

/// Connection limits shared by all workers: `global maxconn` and each frontend's `maxconn`.
#[derive(Clone)]
pub struct Limits {
    /// The process-wide limit.
    pub global: Option<Arc<Semaphore>>,
    /// `maxconnrate`: new connections per second, process-wide.
    pub conn_rate: Option<Arc<crate::data::rate_gate::RateGate>>,
    /// `maxsessrate`: new sessions (connections the `tcp-request connection` rules accepted) per second.
    pub sess_rate: Option<Arc<crate::data::rate_gate::RateGate>>,
    /// `maxsslrate`: new connections per second on TLS listeners (each a TLS handshake to come).
    pub ssl_rate: Option<Arc<crate::data::rate_gate::RateGate>>,
    /// `cpu-map`: the CPUs each worker thread runs on (index: worker id), `None` where no line names it.
    pub cpu_map: Arc<[Option<Vec<usize>>]>,
    /// `tune.maxpollevents`, `tune.runqueue-depth`, `tune.maxaccept`: how each worker's runtime and listeners
    /// take turns (see [`Scheduling`]).
    pub scheduling: Scheduling,
}

/// How a worker shares its thread between new events, ready tasks and new connections.
#[derive(Debug, Clone, Copy)]
pub struct Scheduling {
    /// `tune.maxpollevents`: the most readiness events taken from the kernel in one wait.
    pub max_poll_events: Option<usize>,
    /// `tune.runqueue-depth`: the most task polls before the runtime looks for new events.
    pub runqueue_depth: Option<u32>,
    /// `tune.maxaccept`: connections a listener accepts in a row before letting other work run (`None`: no limit).
    pub max_accept: Option<u32>,
}

impl Scheduling {
    /// As `global` sets it (HAProxy's `tune.maxaccept` default with one process: 64).
    pub fn of(g: &fulcrum_config::haproxy::Global) -> Self {
        Scheduling {
            max_poll_events: g.tune_maxpollevents.map(|n| n as usize),
            runqueue_depth: g.tune_runqueue_depth,
            max_accept: g.tune_maxaccept.unwrap_or(Some(64)),
        }
    }
}

/// Binds the calling thread to `cpus` (`cpu-map`); a failure (no such CPU here) is a warning, as the thread
/// then runs where the system puts it.
fn pin_to(id: usize, cpus: &[usize]) {
    // SAFETY: `set` is a plain bit set the CPU_* helpers fill within its size; the call only reads it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &c in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        warn!(
            error = %std::io::Error::last_os_error(),
            "cpu-map: cannot bind thread {} to CPUs {cpus:?}",
            id + 1
        );
    }
}

/// One listening socket handed to a worker.
pub struct Listener {
    /// The frontend it serves.
    pub frontend: Arc<FrontendRt>,
    /// The socket, already bound and listening.
    pub socket: ListenSocket,
    /// The frontend's own `maxconn`, shared with the other workers.
    pub limit: Option<Arc<Semaphore>>,
    /// TLS settings, on a `bind ... ssl` line.
    pub tls: Option<Arc<fulcrum_tls::server::ServerTls>>,
    /// Which listener of its frontend it is.
    pub info: Arc<ListenerInfo>,
}

/// A listening socket of a `bind` line.
pub enum ListenSocket {
    /// TCP (an address, or an inherited `fd@N`).
    Tcp(std::net::TcpListener),
    /// A unix stream socket (`/PATH`, `unix@PATH`, `abns@NAME`).
    Unix(std::os::unix::net::UnixListener),
}

/// A registered listening socket; its connections come out as `TcpStream`s (see `net/unix.rs`).
enum Acceptor {
    Tcp(TcpListener),
    Unix(tokio::net::UnixListener),
}

impl Acceptor {
    fn register(s: ListenSocket) -> std::io::Result<Acceptor> {
        Ok(match s {
            ListenSocket::Tcp(s) => Acceptor::Tcp(TcpListener::from_std(s)?),
            ListenSocket::Unix(s) => Acceptor::Unix(tokio::net::UnixListener::from_std(s)?),
        })
    }

    /// The listening port (`dst_port`; 0 on a unix socket).
    fn local_port(&self) -> u16 {
        match self {
            Acceptor::Tcp(l) => l.local_addr().map_or(0, |a| a.port()),
            Acceptor::Unix(_) => 0,
        }
    }

    /// The next connection and its source address ([`crate::net::unix::UNIX_PEER`] on a unix socket).
    async fn accept(&self) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
        match self {
            Acceptor::Tcp(l) => l.accept().await,
            Acceptor::Unix(l) => Ok((
                crate::net::unix::accept(l).await?,
                crate::net::unix::UNIX_PEER,
            )),
        }
    }
}

/// Waits until `flag` turns true (or its sender is gone, which never ends the wait).
pub(crate) async fn until_set(mut flag: watch::Receiver<bool>) {
    while !*flag.borrow_and_update() {
        if flag.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Starts a worker thread. `drain` turning true starts a soft stop: the accept loops end (their sockets close in
/// this process), idle keep-alive connections close, busy ones close after their current response; `stop` turning
/// true ends the thread and every connection it still serves.
pub fn spawn(
    id: usize,
    (snapshot, idle_pools): (Arc<Snapshot>, Arc<crate::data::http::pool::Pools>),
    listeners: Vec<Listener>,
    limits: Limits,
    (drain, mut stop): (watch::Receiver<bool>, watch::Receiver<bool>),
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("fulcrum-worker-{id}"))
        .spawn(move || {
            if let Some(cpus) = limits.cpu_map.get(id).and_then(Option::as_ref) {
                pin_to(id, cpus);
            }
            let mut builder = tokio::runtime::Builder::new_current_thread();
            builder.enable_all();
            if let Some(n) = limits.scheduling.max_poll_events {
                builder.max_io_events_per_tick(n);
            }
            if let Some(n) = limits.scheduling.runqueue_depth {
                builder.event_interval(n);
            }
            let rt = match builder.build() {
                Ok(rt) => rt,
                Err(e) => {
                    warn!(error = %e, "worker {id}: cannot start its runtime");
                    return;
                }
            };
            let local = LocalSet::new();
            local.block_on(&rt, async move {
                let worker = Rc::new(Worker::new(id, &snapshot, idle_pools));
                tokio::task::spawn_local(crate::data::http::client::run_parking_lot(worker.clone()));
                for l in listeners {
                    let listener = match Acceptor::register(l.socket) {
                        Ok(s) => s,
                        Err(e) => {
                            warn!(frontend = %l.frontend.name, error = %e, "cannot register listener");
                            continue;
                        }
                    };
                    let span = info_span!("frontend", name = %l.frontend.name);
                    let accept = accept_loop(worker.clone(), l.frontend, listener, (l.tls, l.info), l.limit, limits.clone())
                        .instrument(span);
                    let drain = drain.clone();
                    tokio::task::spawn_local(async move {
                        // A soft stop drops the accept loop, and with it this thread's copy of the socket.
                        tokio::select! {
                            () = accept => {}
                            () = until_set(drain) => {}
                        }
                    });
                }
                {
                    let worker = worker.clone();
                    let drain = drain.clone();
                    tokio::task::spawn_local(async move {
                        until_set(drain).await;
                        worker.draining.set(true);
                        crate::data::http::client::close_parked();
                    });
                }
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            });
        })
}

async fn acquire(sem: &Option<Arc<Semaphore>>) -> Option<Option<OwnedSemaphorePermit>> {
    match sem {
        None => Some(None),
        Some(s) => s.clone().acquire_owned().await.ok().map(Some),
    }
}

async fn accept_loop(
    worker: Rc<Worker>,
    fe: Arc<FrontendRt>,
    listener: Acceptor,
    (tls, info): (
        Option<Arc<fulcrum_tls::server::ServerTls>>,
        Arc<ListenerInfo>,
    ),
    fe_limit: Option<Arc<Semaphore>>,
    limits: Limits,
) {
    let local_port = listener.local_port();
    // Connections accepted since this loop last let the worker's other tasks run (`tune.maxaccept`).
    let mut in_a_row = 0u32;
    loop {
        if limits.scheduling.max_accept.is_some_and(|m| in_a_row >= m) {
            in_a_row = 0;
            tokio::task::yield_now().await;
        }
        // Stop accepting while a limit is reached, as HAProxy does; the kernel queues new connections.
        let Some(global) = acquire(&limits.global).await else {
            return;
        };
        let Some(local) = acquire(&fe_limit).await else {
            return;
        };
        // `maxconnrate` / `maxsessrate`: the second's budget, else no accepting until the next second.
        if let Some(g) = &limits.conn_rate {
            g.take().await;
        }
        if let Some(g) = &limits.sess_rate {
            g.take().await;
        }
        if let Some(g) = limits.ssl_rate.as_ref().filter(|_| tls.is_some()) {
            g.take().await;
        }
        // `rate-limit sessions N`: while the frontend's session rate is at N, it accepts nothing (shared by the
        // workers, as HAProxy pauses the frontend's listeners).
        if let Some(limit) = fe.config.rate_limit_sessions {
            while let Some(ms) = fe
                .stats
                .sess_rate
                .wait_for_room(u64::from(limit), crate::model::counters::coarse_ms())
            {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
        }
        // `maxsslconn`: an `ssl` listener accepts only while the process has room for one more TLS connection
        // (the room is not held meanwhile: the connection counts once accepted).
        if tls.is_some() {
            worker.snapshot.ssl_conns.room().await;
        }
        let (stream, peer) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                debug!(error = %e, "accept failed");
                // EMFILE and friends: back off briefly instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        in_a_row += 1;
        // A connection to a server may have taken the room since: this one then waits for the next.
        let ssl = match &tls {
            Some(_) => Some(worker.snapshot.ssl_conns.wait().await),
            None => None,
        };
        fe.stats
            .conn_tot
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        fe.stats.conn_rate.hit(crate::model::counters::coarse_ms());
        fe.process.accepted(tls.is_some());
        let tables = &worker.snapshot.tables;
        // Without stick tables nothing can be tracked: every connection shares the worker's empty counters
        // rather than holding its own while it idles.
        let stick_ctrs = if tables.list().is_empty() {
            worker.no_stick_ctrs.clone()
        } else {
            std::rc::Rc::new(crate::model::stick::Ctrs::default())
        };
        let facts = ConnFacts {
            src: peer,
            dst_port: local_port,
            stick: (!tables.list().is_empty()).then(|| crate::model::rules::http::ConnStick {
                tables: tables.clone(),
                ctrs: stick_ctrs.clone(),
                own: fe.name.clone(),
            }),
        };
        let accepted = fe.rules.accept_connection(&facts);
        drop(facts);
        let Some(expect_proxy) = accepted else {
            fe.stats
                .denied_conn
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            debug!(%peer, "connection rejected by tcp-request connection rules");
            continue;
        };
        let expect_proxy = info.accept_proxy || expect_proxy;
        // TCP_NODELAY, `nolinger` and the listener's other options came with the connection
        // (`net::listener::Tuning`).
        if fe.config.clitcpka {
            // `option clitcpka`: the kernel's keep-alive probes on the client connection.
            let _ = socket2::SockRef::from(&stream).set_keepalive(true);
        }
        let ticket = ConnTicket {
            _counted: ConnGuard::new(fe.clone()),
            _permits: (global, local),
            stick: stick_ctrs,
            _ssl: ssl,
        };
        let worker = worker.clone();
        match fe.mode {
            // Its own task, with nothing around it: an idle HTTP connection is then a single small allocation.
            Mode::Http => {
                let fe = fe.clone();
                tokio::task::spawn_local(crate::data::http::serve_client(
                    worker,
                    fe,
                    stream,
                    (tls.clone(), info.clone()),
                    Accepted {
                        peer,
                        local_port,
                        expect_proxy,
                    },
                    ticket,
                ));
            }
            Mode::Tcp => {
                let fe = fe.clone();
                let tls = tls.clone();
                let info = info.clone();
                tokio::task::spawn_local(crate::data::tcp::serve_client(
                    worker,
                    fe,
                    stream,
                    (tls, info),
                    Accepted {
                        peer,
                        local_port,
                        expect_proxy,
                    },
                    ticket,
                ));
            }
        }
    }
}
