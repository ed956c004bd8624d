//! The running configuration as the data path reads it: an immutable snapshot built once from the validated
//! config model. Only per-server live state (up/down, current connections) and each backend's selection table
//! change at run time, through atomics and an `ArcSwap`; nothing on the request path takes a lock.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::HeaderName;

use fulcrum_config::haproxy::{
    Balance, Config, ForwardFor, HashType, HttpConnMode, Mode, Proxy, ProxyKind, Timeouts,
};

use crate::model::error::RulesError;
use crate::model::rules::http::ProxyRules;
use crate::model::rules::patref::PatternRefs;
use crate::model::select::{Farm, FarmSpec};
use crate::model::server::ServerRt;
use crate::model::slot::Queue;

/// Everything a worker needs to serve traffic.
pub struct Snapshot {
    /// Proxies that accept connections.
    pub frontends: Vec<Arc<FrontendRt>>,
    /// Proxies that have servers.
    pub backends: Vec<Arc<BackendRt>>,
    /// Every server of every backend, indexed by [`ServerRt::id`].
    pub servers: Vec<Arc<ServerRt>>,
    /// `global maxconn`.
    pub global_maxconn: Option<u32>,
    /// `maxconnrate`, `maxsessrate`, `maxsslrate` (0: no limit), for `show info`.
    pub rate_limits: [u32; 3],
    /// The process's TLS connections, bounded by `maxsslconn`.
    pub ssl_conns: Arc<crate::model::ssl_conns::SslConns>,
    /// `global node` (`None`: the host name).
    pub node: Option<String>,
    /// `global description`.
    pub description: Option<String>,
    /// Client connections open in the whole process (`actconn`, `%ac` in logs).
    pub actconn: Arc<AtomicU32>,
    /// The process's figures of `show info` (connections, requests and rates).
    pub process: Arc<crate::model::process_stats::ProcessStats>,
    /// Access logging: targets, queue and the logger thread's counters.
    pub logging: crate::model::log::Logging,
    /// Every proxy in configuration order: its index in `frontends` and in `backends` (a listen has both).
    pub order: Vec<(Option<usize>, Option<usize>)>,
    /// The stats id (`iid`) of the first proxy in `order`, the others following: 2 when a `stats socket` is
    /// configured (HAProxy's internal `GLOBAL` proxy then takes 1), else 1.
    pub first_iid: u64,
    /// The ACLs' pattern references, which the runtime API changes (`add acl`, `del acl`).
    pub pattern_refs: Arc<PatternRefs>,
    /// The map files of the `map*` converters, which the runtime API changes (`add map`, `set map`, ...).
    pub maps: Arc<fulcrum_sample::Maps>,
    /// `tune.bufsize` and `tune.maxrewrite`: how large a message head may be, and how much of a body a wait
    /// gathers.
    pub buf_limits: crate::model::limits::BufLimits,
    /// The most header lines a request head may have: `tune.http.maxhdr` less one, as HAProxy counts it.
    pub max_headers: usize,
    /// `tune.h2.*`: the HTTP/2 settings offered to clients.
    pub h2: fulcrum_config::haproxy::H2Tune,
    /// Whether a backend has `http-after-response` rules (then every response's request line is kept for them).
    pub backend_after_response: bool,
    /// The `resolvers` sections with their counters, and the resolver task's wake-up.
    pub resolvers: Arc<crate::model::resolvers::Registry>,
    /// The last minutes of each backend and server, for the stats page's pictures (filled by
    /// the stats page's sampler thread when some proxy has a stats page).
    pub history: Arc<std::sync::Mutex<fulcrum_admin::history::History>>,
    /// The stick tables (`stick-table` lines), by proxy name.
    pub tables: Arc<crate::model::stick::Tables>,
}

/// The frontend half of a `frontend` or `listen` section.
pub struct FrontendRt {
    /// Section name.
    pub name: String,
    /// The proxy's id (`iid` in stats, `fe_id`): its `id`, else numbered as HAProxy does ([`Proxy::uid`]).
    pub iid: u64,
    /// tcp or http.
    pub mode: Mode,
    /// Addresses to listen on.
    pub binds: Vec<SocketAddr>,
    /// The backend requests go to.
    pub default_backend: Option<Arc<BackendRt>>,
    /// Client-side timeouts.
    pub timeouts: Timeouts,
    /// Keep-alive handling on this side.
    pub conn_mode: HttpConnMode,
    /// The deflate level of its compressed responses (`tune.comp.maxlevel`).
    pub comp_level: u8,
    /// `mode tcp` connections, and HTTP response bodies under `option splice-response`, move with splice(2) (off
    /// with the global `nosplice`).
    pub splice: bool,
    /// `option forwardfor`, with its header name pre-parsed.
    pub forwardfor: Option<(ForwardFor, HeaderName)>,
    /// `option originalto`, with its header name pre-parsed.
    pub originalto: Option<(ForwardFor, HeaderName)>,
    /// `maxconn` of this frontend.
    pub maxconn: Option<u32>,
    /// ACL-driven rules: http-request/response, use_backend, tcp-request connection, errorfiles.
    pub rules: ProxyRules,
    /// `capture request|response header` (for `%hr` / `%hs`), header names parsed once.
    pub captures: crate::model::log::capture::Captures,
    /// Access logging, when the frontend logs.
    pub log: Option<Arc<crate::model::log::FrontendLog>>,
    /// `unique-id-format` of a `mode tcp` frontend, rendered from the connection's log fields (the HTTP side
    /// renders its own from the request).
    pub tcp_unique_id: Option<crate::model::log::LogFormat>,
    /// Client connections open on this frontend (`feconn`, `%fc` in logs).
    pub cur: AtomicU32,
    /// The process-wide count of client connections, shared with [`Snapshot::actconn`].
    pub actconn: Arc<AtomicU32>,
    /// The process's figures, shared with [`Snapshot::process`].
    pub process: Arc<crate::model::process_stats::ProcessStats>,
    /// `show stat` counters.
    pub stats: crate::model::counters::Counters,
    /// The section as configured (stats page, monitor-uri).
    pub config: Proxy,
}

/// Counts a client connection on its frontend and in the process for as long as it lives.
pub struct ConnGuard(Arc<FrontendRt>);

impl ConnGuard {
    /// Starts counting a connection accepted by `fe`.
    pub fn new(fe: Arc<FrontendRt>) -> Self {
        let now = fe.cur.fetch_add(1, Ordering::Relaxed) + 1;
        fe.actconn.fetch_add(1, Ordering::Relaxed);
        fe.stats.seen(now);
        fe.stats.sessions.fetch_add(1, Ordering::Relaxed);
        fe.process.session();
        fe.stats
            .session_started(crate::model::counters::coarse_ms());
        ConnGuard(fe)
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.cur.fetch_sub(1, Ordering::Relaxed);
        self.0.actconn.fetch_sub(1, Ordering::Relaxed);
    }
}

impl FrontendRt {
    /// How long the request head may take: `timeout http-request`, else `timeout client`.
    pub fn head_timeout(&self) -> Option<Duration> {
        self.timeouts.http_request.or(self.timeouts.client)
    }

    /// A client's TLS handshake ended (`Some(resumed)`: completed; `None`: failed): counted in the frontend's
    /// `ssl` statistics and, when completed, the process's key rate and session reuse.
    pub fn count_tls_handshake(&self, done: Option<bool>) {
        match done {
            Some(resumed) => {
                self.stats.ssl.completed(resumed);
                self.process.client_handshake(resumed);
            }
            None => self.stats.ssl.failed(),
        }
    }
}

/// The backend half of a `backend` or `listen` section.
pub struct BackendRt {
    /// Index in [`Snapshot::backends`].
    pub id: usize,
    /// The proxy's id (`iid` in stats, `be_id`): its `id`, else numbered as HAProxy does ([`Proxy::uid`]).
    pub iid: u64,
    /// Requests waiting for a server slot (`maxconn`).
    pub queue: Arc<Queue>,
    /// The global `spread-checks` (percent of jitter on check intervals).
    pub spread_checks: u8,
    /// `max-spread-checks`: the first checks of its servers start within this delay.
    pub max_spread_checks: Option<std::time::Duration>,
    /// Section name.
    pub name: String,
    /// tcp or http.
    pub mode: Mode,
    /// Servers in configuration order, then those added at run time (`add server`); indices are stable.
    pub servers: crate::model::server_list::ServerList,
    /// The selection table, rebuilt when a server changes state.
    pub farm: ArcSwap<Farm>,
    /// `balance`
    pub balance: Balance,
    /// `hash-type`
    pub hash_type: HashType,
    /// `hash-type`'s function and `avalanche`
    pub hash_options: fulcrum_config::haproxy::HashOptions,
    /// `option allbackups`
    pub allbackups: bool,
    /// Server-side timeouts.
    pub timeouts: Timeouts,
    /// Keep-alive handling on this side.
    pub conn_mode: HttpConnMode,
    /// `http-reuse`: which idle server connections a request may take.
    pub reuse: fulcrum_config::haproxy::HttpReuse,
    /// The next position in the round-robin order, shared by every worker thread.
    pub rr_position: std::sync::atomic::AtomicUsize,
    /// Where leastconn's tie-break starts, shared by every worker thread.
    pub lc_position: std::sync::atomic::AtomicUsize,
    /// `option forwardfor` set in the backend.
    pub forwardfor: Option<(ForwardFor, HeaderName)>,
    /// `option originalto` set in the backend.
    pub originalto: Option<(ForwardFor, HeaderName)>,
    /// `http-send-name-header NAME`, the name pre-parsed: the chosen server's name goes to it.
    pub send_name_header: Option<HeaderName>,
    /// `retries`
    pub retries: u32,
    /// `option redispatch`
    pub redispatch: bool,
    /// `tune.rcvbuf.server` / `tune.sndbuf.server`: the buffer sizes of its connections to servers.
    pub server_bufs: fulcrum_config::haproxy::SocketBufs,
    /// The section as configured (health-check settings, logging options).
    pub config: Proxy,
    /// http-request/response rules (none for the backend side of a `listen`, whose frontend side runs them) and
    /// errorfiles.
    pub rules: ProxyRules,
    /// Requests (http) or connections (tcp) being served by this backend (`beconn`, `%bc` in logs), counted
    /// while logging.
    pub cur: AtomicU32,
    /// `show stat` counters.
    pub stats: crate::model::counters::Counters,
    /// The process's figures, shared with [`Snapshot::process`] (TLS keys computed for servers).
    pub process: Arc<crate::model::process_stats::ProcessStats>,
    /// Where health-check results and server state changes are logged (the backend's `log` targets).
    pub events: Option<Arc<crate::model::log::EventLog>>,
    /// `track`: the servers (with their backends) whose `track` names one of this backend's servers (by its
    /// `id`), the last one to start tracking first, the order HAProxy passes a change on in.
    trackers: std::sync::Mutex<Vec<Tracker>>,
}

/// A server of this backend (its `id`) and a server following its state (`track`) with that server's backend,
/// whose farm changes with it.
type Tracker = (usize, Weak<BackendRt>, Weak<ServerRt>);

impl crate::model::rules::vars::Backends for Vec<Arc<BackendRt>> {
    fn find(&self, name: &str) -> Option<&dyn crate::model::rules::vars::StreamBackend> {
        self.iter()
            .find(|b| b.name == name)
            .map(|b| &**b as &dyn crate::model::rules::vars::StreamBackend)
    }
}

impl crate::model::rules::vars::StreamBackend for BackendRt {
    fn name(&self) -> &str {
        &self.name
    }
    fn id(&self) -> i64 {
        self.iid as i64
    }
    fn timeouts(&self) -> (Option<std::time::Duration>, Option<std::time::Duration>) {
        (self.timeouts.server, self.timeouts.tunnel)
    }
    fn server_stat(&self, server: &str, stat: fulcrum_sample::ServerStat) -> Option<i64> {
        use fulcrum_sample::ServerStat as S;
        let s = self
            .servers
            .iter()
            .find(|s| s.config.name == server && !s.is_deleted())?;
        Some(match stat {
            S::Conns => i64::from(s.cur.load(Ordering::Relaxed)),
            S::IsUp => i64::from(s.is_up()),
            S::Queue => i64::from(s.queued.load(Ordering::Relaxed)),
            S::SessRate => s.stats.sess_rate.read(crate::model::counters::coarse_ms()) as i64,
        })
    }
    fn stat(&self, stat: fulcrum_sample::BackendStat) -> i64 {
        match stat {
            fulcrum_sample::BackendStat::UsableServers => {
                let (active, backup) = self.servers_up();
                (if active > 0 { active } else { backup }) as i64
            }
            fulcrum_sample::BackendStat::Conns => i64::from(self.stats.cur.load(Ordering::Relaxed)),
            fulcrum_sample::BackendStat::Slots => {
                // As haproxy 2.6 counts them (observed): every server that can take traffic, backups included,
                // gives its free connections and free queue places; one without a limit makes it unlimited.
                let mut free = 0i64;
                for s in self.servers.iter().filter(|s| s.is_up()) {
                    let (Some(maxconn), Some(maxqueue)) =
                        (s.maxconn(), s.config.maxqueue.filter(|&q| q > 0))
                    else {
                        return -1;
                    };
                    free += i64::from(maxconn) - i64::from(s.cur.load(Ordering::Relaxed));
                    free += i64::from(maxqueue) - i64::from(s.queued.load(Ordering::Relaxed));
                }
                free
            }
        }
    }
}

impl BackendRt {
    /// A TLS handshake with `server` ended (`Some(resumed)`: completed; `None`: failed), traffic's or a health
    /// check's: counted in the server's and the backend's `ssl` statistics and the process's key rate.
    pub fn count_tls_handshake(&self, server: &ServerRt, done: Option<bool>) {
        for c in [&server.stats.ssl, &self.stats.ssl] {
            match done {
                Some(resumed) => c.completed(resumed),
                None => c.failed(),
            }
        }
        if let Some(resumed) = done {
            self.process.server_handshake(resumed);
        }
    }

    /// Notes that `server` of `backend` tracks `tracked`, one of this backend's servers.
    pub fn add_tracker(
        &self,
        tracked: &ServerRt,
        backend: &Arc<BackendRt>,
        server: &Arc<ServerRt>,
    ) {
        tracked.tracked_by(server);
        // The newest first: HAProxy passes a change on to the last tracker added first.
        self.trackers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                0,
                (tracked.id, Arc::downgrade(backend), Arc::downgrade(server)),
            );
    }

    /// Forgets `server` as a tracker of `tracked` (it was deleted).
    pub fn remove_tracker(&self, tracked: &ServerRt, server: &ServerRt) {
        self.trackers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(id, _, s)| *id != tracked.id || !std::ptr::eq(s.as_ptr(), server));
    }

    /// The servers tracking `tracked` (those still alive), with their backends.
    pub fn trackers_of(&self, tracked: &ServerRt) -> Vec<(Arc<BackendRt>, Arc<ServerRt>)> {
        self.trackers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(id, _, _)| *id == tracked.id)
            .filter_map(|(_, b, s)| Some((b.upgrade()?, s.upgrade()?)))
            .collect()
    }

    /// Passes the maintenance and drain of `tracked` (one of this backend's servers) on to its trackers and
    /// theirs, without logging: when the process starts (a `disabled` server's trackers start in maintenance) or
    /// loads a server-state file.
    pub fn pass_admin_to_trackers(&self, tracked: &ServerRt, depth: usize) {
        if depth > 64 {
            return;
        }
        for (tbe, t) in self.trackers_of(tracked) {
            let flags = tracked.flags_for_tracker(&t);
            if t.admin() != flags {
                t.set_admin(flags);
                tbe.rebuild_farm();
                tbe.pass_admin_to_trackers(&t, depth + 1);
            }
        }
    }

    /// How long a retry waits after a connection error that was not a timeout, as HAProxy does: the smaller of
    /// one second and `timeout connect`, so that a restarting server is not hammered.
    pub fn turn_around(&self) -> std::time::Duration {
        let second = std::time::Duration::from_secs(1);
        self.timeouts.connect.map_or(second, |c| c.min(second))
    }

    /// Logs a server state change or check result to the backend's `log` targets (if any), at syslog `level`.
    pub fn log_event(&self, level: u8, msg: &str) {
        if let Some(ev) = &self.events {
            ev.send(level, msg);
        }
    }

    /// What the backend's selection table is built from.
    pub fn farm_spec(&self) -> FarmSpec<'_> {
        FarmSpec {
            name: &self.name,
            servers: &self.servers,
            balance: &self.balance,
            hash_type: self.hash_type,
            hash_options: self.hash_options,
            allbackups: self.allbackups,
        }
    }

    /// Rebuilds the selection table from the servers' current state; called by the control plane only.
    pub fn rebuild_farm(&self) {
        self.farm.store(Arc::new(Farm::build(&self.farm_spec())));
    }

    /// Counts of (active, backup) servers currently up.
    pub fn servers_up(&self) -> (usize, usize) {
        let up = |backup: bool| {
            self.servers
                .iter()
                .filter(|s| s.config.backup == backup && s.is_up() && !s.is_stopping())
                .count()
        };
        (up(false), up(true))
    }
}

fn forwardfor(p: &Proxy) -> Option<(ForwardFor, HeaderName)> {
    let ff = p.forwardfor.clone()?;
    let name = HeaderName::from_bytes(ff.header.to_ascii_lowercase().as_bytes())
        .unwrap_or(HeaderName::from_static("x-forwarded-for"));
    Some((ff, name))
}

fn originalto(p: &Proxy) -> Option<(ForwardFor, HeaderName)> {
    let ot = p.originalto.clone()?;
    let name = HeaderName::from_bytes(ot.header.to_ascii_lowercase().as_bytes())
        .unwrap_or(HeaderName::from_static("x-original-to"));
    Some((ot, name))
}

/// Compiles a proxy's `log-format`, for its mode; errors name the line.
fn compile_log_format(p: &Proxy) -> Result<Option<crate::model::log::LogFormat>, RulesError> {
    let Some(line) = &p.log_format else {
        return Ok(None);
    };
    crate::model::log::LogFormat::parse_for_mode(&line.format, p.mode == Mode::Http)
        .map(Some)
        .map_err(|e| RulesError::LogFormat {
            location: line.location.to_string(),
            message: e.to_string(),
        })
}

/// A `mode tcp` proxy's `unique-id-format`, compiled as a log format.
fn tcp_unique_id(p: &Proxy) -> Result<Option<crate::model::log::LogFormat>, RulesError> {
    let Some(f) = p.unique_id_format.as_ref().filter(|_| p.mode == Mode::Tcp) else {
        return Ok(None);
    };
    crate::model::log::LogFormat::parse(f.source())
        .map(Some)
        .map_err(|e| RulesError::LogFormat {
            location: format!("proxy '{}'", p.name),
            message: format!("unique-id-format: {e}"),
        })
}

impl Snapshot {
    /// Builds the runtime view of a validated configuration: compiles ACLs, rules and `log-format` strings.
    pub fn build(config: &Config) -> Result<Snapshot, RulesError> {
        crate::model::counters::epoch();
        let logging = crate::model::log::Logging::new(config);
        let pattern_refs = Arc::new(PatternRefs::from_config(config));
        let tables = crate::model::stick::Tables::build(config);
        let mut backends = Vec::new();
        let mut servers = Vec::new();
        let process = Arc::new(crate::model::process_stats::ProcessStats::default());
        let first_iid: u64 = if config.global.stats_sockets.is_empty() {
            1
        } else {
            2
        };
        for p in config.proxies.iter().filter(|p| p.kind.has_backend()) {
            let mut list = Vec::new();
            for (index, s) in p.servers.iter().enumerate() {
                let (tls, identity, trust) = crate::model::tls_config::server(config, p, s)?;
                let mut srv = ServerRt::configured(servers.len(), index, &p.name, s, tls);
                srv.tls_identity = identity;
                srv.tls_trust = trust;
                srv.referenced = p.referenced_servers.contains(&s.name);
                let srv = Arc::new(srv);
                srv.stats.state.set(true);
                servers.push(srv.clone());
                list.push(srv);
            }
            let mut be = BackendRt {
                id: backends.len(),
                iid: u64::from(p.uid),
                name: p.name.clone(),
                mode: p.mode,
                servers: crate::model::server_list::ServerList::new(list),
                farm: ArcSwap::from_pointee(Farm::empty()),
                balance: p.balance.clone(),
                hash_type: p.hash_type,
                hash_options: p.hash_options,
                allbackups: p.allbackups,
                timeouts: p.timeouts.clone(),
                conn_mode: p.http_conn_mode,
                reuse: p.http_reuse,
                rr_position: std::sync::atomic::AtomicUsize::new(0),
                lc_position: std::sync::atomic::AtomicUsize::new(0),
                forwardfor: forwardfor(p),
                originalto: originalto(p),
                send_name_header: p
                    .send_name_header
                    .as_deref()
                    .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
                retries: p.retries,
                spread_checks: config.global.spread_checks,
                max_spread_checks: config.global.max_spread_checks,
                redispatch: p.redispatch,
                server_bufs: config.global.tune_server_bufs,
                config: p.clone(),
                rules: ProxyRules::compile(
                    &p.rules,
                    p.kind == ProxyKind::Backend,
                    &|_| None,
                    &pattern_refs,
                    &crate::model::stick::Binder {
                        tables: &tables,
                        own: &p.name,
                    },
                )?,
                cur: AtomicU32::new(0),
                queue: Arc::new(Queue::new()),
                stats: crate::model::counters::Counters::default(),
                process: process.clone(),
                events: logging.events(p),
                trackers: std::sync::Mutex::new(Vec::new()),
            };
            be.farm = ArcSwap::from_pointee(Farm::build(&be.farm_spec()));
            let (active, backup) = be.servers_up();
            be.stats.state.set(active + backup > 0);
            backends.push(Arc::new(be));
        }
        // `track`: each tracked server learns who follows its state (checked when the configuration loaded).
        for be in &backends {
            for s in be.servers.iter() {
                let Some((tb, ts)) = &s.config.track else {
                    continue;
                };
                let target = backends.iter().find(|b| b.name == *tb).and_then(|b| {
                    let t = b.servers.iter().find(|t| t.config.name == *ts)?;
                    Some((b, t))
                });
                if let Some((tbe, t)) = target {
                    tbe.add_tracker(t, be, s);
                }
            }
        }
        for be in &backends {
            for s in be.servers.iter() {
                be.pass_admin_to_trackers(s, 0);
            }
        }
        let index = |name: &str| backends.iter().position(|b| b.name == name);
        let find = |name: &str| index(name).map(|i| backends[i].clone());
        let actconn = Arc::new(AtomicU32::new(0));
        let mut frontends = Vec::new();
        for p in config.proxies.iter().filter(|p| p.kind.has_frontend()) {
            // A `listen` section is its own backend, unless it names another with `default_backend` (as
            // HAProxy does).
            let named = p.default_backend.as_deref().and_then(find);
            let default_backend = match p.kind {
                ProxyKind::Listen => named.or_else(|| find(&p.name)),
                _ => named,
            };
            frontends.push(Arc::new(FrontendRt {
                iid: u64::from(p.uid),
                splice: !config.global.nosplice,
                comp_level: config.global.comp_level(),
                name: p.name.clone(),
                mode: p.mode,
                binds: p
                    .binds
                    .iter()
                    .flat_map(|b| b.addrs.iter().copied())
                    .collect(),
                default_backend,
                timeouts: p.timeouts.clone(),
                conn_mode: p.http_conn_mode,
                forwardfor: forwardfor(p),
                originalto: originalto(p),
                maxconn: p.maxconn,
                rules: ProxyRules::compile(
                    &p.rules,
                    true,
                    &index,
                    &pattern_refs,
                    &crate::model::stick::Binder {
                        tables: &tables,
                        own: &p.name,
                    },
                )?,
                captures: crate::model::log::capture::Captures::new(p),
                log: logging.frontend_with_format(p, compile_log_format(p)?),
                tcp_unique_id: tcp_unique_id(p)?,
                cur: AtomicU32::new(0),
                actconn: actconn.clone(),
                process: process.clone(),
                stats: crate::model::counters::Counters::default(),
                config: p.clone(),
            }));
        }
        let order = config
            .proxies
            .iter()
            .map(|p| {
                let fe = p
                    .kind
                    .has_frontend()
                    .then(|| frontends.iter().position(|f| f.name == p.name))
                    .flatten();
                let be = p
                    .kind
                    .has_backend()
                    .then(|| backends.iter().position(|b| b.name == p.name))
                    .flatten();
                (fe, be)
            })
            .collect();
        let backend_after_response = backends.iter().any(|b| b.rules.has_after_response_rules());
        Ok(Snapshot {
            tables,
            backend_after_response,
            resolvers: Arc::new(crate::model::resolvers::Registry::new(&config.resolvers)),
            history: Arc::default(),
            order,
            first_iid,
            frontends,
            backends,
            servers,
            global_maxconn: config.global.maxconn,
            rate_limits: [
                config.global.maxconnrate.unwrap_or(0),
                config.global.maxsessrate.unwrap_or(0),
                config.global.maxsslrate.unwrap_or(0),
            ],
            ssl_conns: crate::model::ssl_conns::SslConns::new(config.global.maxsslconn),
            node: config.global.node.clone(),
            description: config.global.description.clone(),
            actconn,
            process,
            logging,
            pattern_refs,
            maps: config.maps.0.clone(),
            buf_limits: crate::model::limits::BufLimits::new(&config.global),
            max_headers: (config.global.maxhdr() as usize).saturating_sub(1),
            h2: config.global.tune_h2,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Snapshot;

    /// A `listen` section is its own backend, unless `default_backend` names another (HAProxy's reg-tests
    /// ssl/new_del_ssl_cafile and new_del_ssl_crlfile route so).
    #[test]
    fn a_listen_section_goes_to_the_backend_it_names() {
        let text = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
listen named\n    bind 127.0.0.1:1\n    default_backend b\n\
listen own\n    bind 127.0.0.1:2\n    server s 127.0.0.1:1\n\
backend b\n    server s 127.0.0.1:2\n";
        let config = fulcrum_config::haproxy::parse_str("t.cfg", text).expect("config");
        let s = Snapshot::build(&config).expect("snapshot");
        let default_of = |name: &str| {
            s.frontends
                .iter()
                .find(|f| f.name == name)
                .and_then(|f| f.default_backend.as_ref())
                .map(|b| b.name.clone())
        };
        assert_eq!(default_of("named").as_deref(), Some("b"));
        assert_eq!(default_of("own").as_deref(), Some("own"));
    }
}
