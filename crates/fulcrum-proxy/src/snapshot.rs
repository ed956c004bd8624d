//! The running configuration as the data path reads it: an immutable snapshot built once from the validated
//! config model. Only per-server live state (up/down, current connections) and each backend's selection table
//! change at run time, through atomics and an `ArcSwap`; nothing on the request path takes a lock.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::HeaderName;

use fulcrum_config::haproxy::{
    Balance, Config, ForwardFor, HashType, HttpConnMode, Mode, Proxy, ProxyKind, Server, Timeouts,
};

use crate::queue::Queue;
use crate::rules::http::{ProxyRules, RulesError};
use crate::rules::patref::PatternRefs;
use crate::select::Farm;

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
    /// Client connections open in the whole process (`actconn`, `%ac` in logs).
    pub actconn: Arc<AtomicU32>,
    /// Access logging: targets, queue and the logger thread's counters.
    pub logging: crate::log::Logging,
    /// Every proxy in configuration order: its index in `frontends` and in `backends` (a listen has both).
    pub order: Vec<(Option<usize>, Option<usize>)>,
    /// The stats id (`iid`) of the first proxy in `order`, the others following: 2 when a `stats socket` is
    /// configured (HAProxy's internal `GLOBAL` proxy then takes 1), else 1.
    pub first_iid: u64,
    /// The ACLs' pattern references, which the runtime API changes (`add acl`, `del acl`).
    pub pattern_refs: Arc<PatternRefs>,
    /// `tune.bufsize` and `tune.maxrewrite`: how large a message head may be, and how much of a body a wait
    /// gathers.
    pub buf_limits: crate::http::buffered::BufLimits,
}

/// The frontend half of a `frontend` or `listen` section.
pub struct FrontendRt {
    /// Section name.
    pub name: String,
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
    /// `mode tcp` moves bytes with splice(2) (off with the global `nosplice`).
    pub splice: bool,
    /// `option forwardfor`, with its header name pre-parsed.
    pub forwardfor: Option<(ForwardFor, HeaderName)>,
    /// `maxconn` of this frontend.
    pub maxconn: Option<u32>,
    /// ACL-driven rules: http-request/response, use_backend, tcp-request connection, errorfiles.
    pub rules: ProxyRules,
    /// `capture request|response header` (for `%hr` / `%hs`), header names parsed once.
    pub captures: crate::log::capture::Captures,
    /// Access logging, when the frontend logs.
    pub log: Option<Arc<crate::log::FrontendLog>>,
    /// Client connections open on this frontend (`feconn`, `%fc` in logs).
    pub cur: AtomicU32,
    /// The process-wide count of client connections, shared with [`Snapshot::actconn`].
    pub actconn: Arc<AtomicU32>,
    /// `show stat` counters.
    pub stats: crate::counters::Counters,
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
}

/// The backend half of a `backend` or `listen` section.
pub struct BackendRt {
    /// Index in [`Snapshot::backends`].
    pub id: usize,
    /// Requests waiting for a server slot (`maxconn`).
    pub queue: Arc<Queue>,
    /// Section name.
    pub name: String,
    /// tcp or http.
    pub mode: Mode,
    /// Servers in configuration order, then those added at run time (`add server`); indices are stable.
    pub servers: crate::server_list::ServerList,
    /// The selection table, rebuilt when a server changes state.
    pub farm: ArcSwap<Farm>,
    /// `balance`
    pub balance: Balance,
    /// `hash-type`
    pub hash_type: HashType,
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
    /// `option forwardfor` set in the backend.
    pub forwardfor: Option<(ForwardFor, HeaderName)>,
    /// `retries`
    pub retries: u32,
    /// `option redispatch`
    pub redispatch: bool,
    /// The section as configured (health-check settings, logging options).
    pub config: Proxy,
    /// http-request/response rules (none for the backend side of a `listen`, whose frontend side runs them) and
    /// errorfiles.
    pub rules: ProxyRules,
    /// Requests (http) or connections (tcp) being served by this backend (`beconn`, `%bc` in logs), counted
    /// while logging.
    pub cur: AtomicU32,
    /// `show stat` counters.
    pub stats: crate::counters::Counters,
    /// Where health-check results and server state changes are logged (the backend's `log` targets).
    pub events: Option<Arc<crate::log::EventLog>>,
}

impl BackendRt {
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

    /// Rebuilds the selection table from the servers' current state; called by the control plane only.
    pub fn rebuild_farm(&self) {
        self.farm.store(Arc::new(Farm::build(self)));
    }

    /// Counts of (active, backup) servers currently up.
    pub fn servers_up(&self) -> (usize, usize) {
        let up = |backup: bool| {
            self.servers
                .iter()
                .filter(|s| s.config.backup == backup && s.is_up())
                .count()
        };
        (up(false), up(true))
    }
}

/// One server and its live state.
pub struct ServerRt {
    /// Index in [`Snapshot::servers`] (also the key of per-worker connection pools).
    pub id: usize,
    /// Index inside its backend.
    pub index: usize,
    /// `backend/server`, as HAProxy names it in logs.
    pub full_name: String,
    /// Where traffic goes.
    pub addr: SocketAddr,
    /// The server line as configured.
    pub config: Server,
    up: AtomicBool,
    /// `srv_id` in `show servers state`: 1 + the highest id in the backend when the server was created.
    pub puid: u32,
    /// Runtime API: administrative flags ([`ServerRt::ADMIN_FMAINT`], ...).
    admin: AtomicU8,
    /// Runtime API: the weight set with `set weight` (starts at `config.weight`).
    uweight: AtomicU32,
    /// Runtime API: `disable health` freezes the state the checks set.
    checks_frozen: AtomicBool,
    /// `agent-check`: the agent's last word on the operational state (`up` / `down`); true without an agent.
    agent_up: AtomicBool,
    /// The `maxconn` in force (0: no limit): the configured one, or the last an agent sent.
    maxconn: AtomicU32,
    /// When the state last changed, in seconds since the Unix epoch.
    last_change: AtomicU64,
    /// Connections (tcp) or requests (http) in progress on this server.
    pub cur: AtomicU32,
    /// Total sessions handled.
    pub total: AtomicU64,
    /// `slowstart`: when the current ramp began (microseconds since a process-wide epoch, plus one), 0 when
    /// the server is not ramping up.
    ramp_since: AtomicU64,
    /// Requests waiting in this server's own queue (bound to it by a hash or a retry).
    pub queued: AtomicU32,
    /// Woken when a slot of this server is released and requests wait for it.
    pub slot_free: tokio::sync::Notify,
    /// `show stat` counters.
    pub stats: crate::counters::Counters,
}

impl ServerRt {
    /// Admin flag: forced maintenance (`set server ... state maint`, `disable server`, `disabled`).
    pub const ADMIN_FMAINT: u8 = 0x01;
    /// Admin flag: started in maintenance by the configuration (`disabled`); informational.
    pub const ADMIN_CMAINT: u8 = 0x04;
    /// Admin flag: forced drain (`set server ... state drain`).
    pub const ADMIN_FDRAIN: u8 = 0x08;
    /// Admin flag (fulcrum's own): removed by `del server`; the slot stays so that indices do not move.
    pub const ADMIN_DELETED: u8 = 0x80;

    /// The admin flags a configured server starts with.
    fn initial_admin(config: &Server) -> u8 {
        if config.disabled {
            Self::ADMIN_FMAINT | Self::ADMIN_CMAINT
        } else {
            0
        }
    }

    /// A server added at run time (`add server`), in maintenance: `index` in its backend's list, process-wide
    /// `id`, `srv_id` `puid`.
    pub fn added(id: usize, index: usize, puid: u32, backend: &str, config: Server) -> Self {
        ServerRt {
            id,
            index,
            full_name: format!("{backend}/{}", config.name),
            addr: config.addr,
            up: AtomicBool::new(true),
            puid,
            admin: AtomicU8::new(Self::ADMIN_FMAINT),
            uweight: AtomicU32::new(config.weight),
            checks_frozen: AtomicBool::new(false),
            agent_up: AtomicBool::new(true),
            maxconn: AtomicU32::new(config.maxconn.unwrap_or(0)),
            last_change: AtomicU64::new(unix_now()),
            config,
            cur: AtomicU32::new(0),
            total: AtomicU64::new(0),
            ramp_since: AtomicU64::new(0),
            queued: AtomicU32::new(0),
            slot_free: tokio::sync::Notify::new(),
            stats: crate::counters::Counters::default(),
        }
    }

    /// Whether the server may receive traffic (not down, not in maintenance).
    pub fn is_up(&self) -> bool {
        self.is_checked_up() && !self.in_maint()
    }

    /// Whether the health checks (and the agent, if any) consider the server up, whatever its administrative
    /// state.
    pub fn is_checked_up(&self) -> bool {
        self.up.load(Ordering::Acquire) && self.agent_up.load(Ordering::Acquire)
    }

    /// Whether the health checks alone consider the server up.
    pub fn health_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Records the agent's `up` / `down`; the caller rebuilds the backend's farm.
    pub fn set_agent_up(&self, up: bool) {
        if self.agent_up.swap(up, Ordering::AcqRel) != up {
            self.touch();
        }
        self.stats.state.set(self.is_checked_up());
    }

    /// The `maxconn` in force, `None` when unlimited.
    pub fn maxconn(&self) -> Option<u32> {
        Some(self.maxconn.load(Ordering::Acquire)).filter(|&m| m > 0)
    }

    /// Sets the `maxconn` (an agent's `maxconn:N`; 0: no limit); the caller rebuilds the backend's farm.
    pub fn set_maxconn(&self, n: u32) {
        self.maxconn.store(n, Ordering::Release);
    }

    /// The administrative flags.
    pub fn admin(&self) -> u8 {
        self.admin.load(Ordering::Acquire)
    }

    /// Replaces the administrative flags; the caller rebuilds the backend's farm.
    pub fn set_admin(&self, flags: u8) {
        if self.admin.swap(flags, Ordering::AcqRel) != flags {
            self.touch();
        }
    }

    /// In maintenance (or deleted): takes no traffic.
    pub fn in_maint(&self) -> bool {
        self.admin() & (Self::ADMIN_FMAINT | Self::ADMIN_DELETED) != 0
    }

    /// Draining: no new traffic, connections in progress continue.
    pub fn is_draining(&self) -> bool {
        self.admin() & Self::ADMIN_FDRAIN != 0
    }

    /// Removed by `del server`.
    pub fn is_deleted(&self) -> bool {
        self.admin() & Self::ADMIN_DELETED != 0
    }

    /// The weight the balancing table uses: the runtime weight, 0 while draining.
    pub fn weight(&self) -> u32 {
        if self.is_draining() {
            0
        } else {
            self.user_weight()
        }
    }

    /// The weight set at run time (`set weight`), else the configured one.
    pub fn user_weight(&self) -> u32 {
        self.uweight.load(Ordering::Acquire)
    }

    /// Sets the runtime weight; the caller rebuilds the backend's farm.
    pub fn set_user_weight(&self, w: u32) {
        self.uweight.store(w, Ordering::Release);
    }

    /// Whether `disable health` froze the state the checks set.
    pub fn checks_frozen(&self) -> bool {
        self.checks_frozen.load(Ordering::Acquire)
    }

    /// `disable health` (`true`) / `enable health` (`false`).
    pub fn set_checks_frozen(&self, frozen: bool) {
        self.checks_frozen.store(frozen, Ordering::Release);
    }

    /// When the state last changed, in seconds since the Unix epoch.
    pub fn last_change(&self) -> u64 {
        self.last_change.load(Ordering::Relaxed)
    }

    fn touch(&self) {
        self.last_change.store(unix_now(), Ordering::Relaxed);
    }

    /// Changes the state the health checks see; the caller rebuilds the backend's farm.
    pub fn set_up(&self, up: bool) {
        if self.up.swap(up, Ordering::AcqRel) != up {
            self.touch();
        }
        self.stats.state.set(self.is_checked_up());
    }

    /// A monotonic clock in microseconds, shared by every server of the process.
    fn clock(now: std::time::Instant) -> u64 {
        static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let epoch = *EPOCH.get_or_init(std::time::Instant::now);
        u64::try_from(now.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX - 1)
    }

    /// Starts the `slowstart` ramp at `now` (the server just came back UP); returns the ramp's stamp, or
    /// `None` when the server has no `slowstart`.
    pub fn begin_slowstart(&self, now: std::time::Instant) -> Option<u64> {
        self.config.slowstart?;
        let stamp = Self::clock(now) + 1;
        self.ramp_since.store(stamp, Ordering::Release);
        Some(stamp)
    }

    /// Ends the ramp: any ramp (`None`), or only the one `begin_slowstart` stamped `stamp`.
    pub fn end_slowstart(&self, stamp: Option<u64>) {
        match stamp {
            None => self.ramp_since.store(0, Ordering::Release),
            Some(s) => {
                let _ = self
                    .ramp_since
                    .compare_exchange(s, 0, Ordering::AcqRel, Ordering::Acquire);
            }
        }
    }

    /// The stamp of the ramp in progress (0: none).
    pub fn slowstart_stamp(&self) -> u64 {
        self.ramp_since.load(Ordering::Acquire)
    }

    /// While ramping up at `now`: (time since the server came back, the `slowstart` period); `None` once the
    /// period is over or when there is no ramp.
    pub fn slowstart_progress(&self, now: std::time::Instant) -> Option<(Duration, Duration)> {
        let period = self.config.slowstart?;
        let since = self.slowstart_stamp().checked_sub(1)?;
        let elapsed = Duration::from_micros(Self::clock(now).saturating_sub(since));
        (elapsed < period).then_some((elapsed, period))
    }
}

/// Counts a request or connection on a server for as long as it lives (leastconn reads these counts); a server
/// with `maxconn` also wakes a queued request when the slot is released.
pub struct ServerGuard(pub Arc<ServerRt>, Option<Arc<Queue>>);

impl ServerGuard {
    /// Starts counting on `server` (no `maxconn` to respect).
    pub fn new(server: Arc<ServerRt>) -> Self {
        let now = server.cur.fetch_add(1, Ordering::Relaxed) + 1;
        server.stats.seen(now);
        server.total.fetch_add(1, Ordering::Relaxed);
        ServerGuard(server, None)
    }

    /// A guard for a slot already counted in `server.cur` by [`crate::queue::try_take`].
    pub fn counted(server: Arc<ServerRt>, queue: Arc<Queue>) -> Self {
        server.total.fetch_add(1, Ordering::Relaxed);
        server.stats.seen(server.cur.load(Ordering::Relaxed));
        ServerGuard(server, Some(queue))
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        // SeqCst pairs with the waiters' SeqCst increment of their queue counter then re-check of `cur`: one side
        // always sees the other, so no release goes unnoticed.
        self.0.cur.fetch_sub(1, Ordering::SeqCst);
        if let Some(q) = &self.1 {
            q.release(&self.0);
        }
    }
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn forwardfor(p: &Proxy) -> Option<(ForwardFor, HeaderName)> {
    let ff = p.forwardfor.clone()?;
    let name = HeaderName::from_bytes(ff.header.to_ascii_lowercase().as_bytes())
        .unwrap_or(HeaderName::from_static("x-forwarded-for"));
    Some((ff, name))
}

/// Compiles a proxy's `log-format`, for its mode; errors name the line.
fn compile_log_format(p: &Proxy) -> Result<Option<crate::log::LogFormat>, RulesError> {
    let Some(line) = &p.log_format else {
        return Ok(None);
    };
    crate::log::LogFormat::parse_for_mode(&line.format, p.mode == Mode::Http)
        .map(Some)
        .map_err(|e| RulesError::LogFormat {
            location: line.location.to_string(),
            message: e.to_string(),
        })
}

impl Snapshot {
    /// Builds the runtime view of a validated configuration: compiles ACLs, rules and `log-format` strings.
    pub fn build(config: &Config) -> Result<Snapshot, RulesError> {
        crate::counters::epoch();
        let logging = crate::log::Logging::new(config);
        let pattern_refs = Arc::new(PatternRefs::from_config(config));
        let mut backends = Vec::new();
        let mut servers = Vec::new();
        for p in config.proxies.iter().filter(|p| p.kind.has_backend()) {
            let mut list = Vec::new();
            for (index, s) in p.servers.iter().enumerate() {
                let srv = Arc::new(ServerRt {
                    id: servers.len(),
                    index,
                    full_name: format!("{}/{}", p.name, s.name),
                    addr: s.addr,
                    config: s.clone(),
                    up: AtomicBool::new(true),
                    puid: index as u32 + 1,
                    admin: AtomicU8::new(ServerRt::initial_admin(s)),
                    uweight: AtomicU32::new(s.weight),
                    checks_frozen: AtomicBool::new(false),
                    agent_up: AtomicBool::new(true),
                    maxconn: AtomicU32::new(s.maxconn.unwrap_or(0)),
                    last_change: AtomicU64::new(unix_now()),
                    cur: AtomicU32::new(0),
                    total: AtomicU64::new(0),
                    ramp_since: AtomicU64::new(0),
                    queued: AtomicU32::new(0),
                    slot_free: tokio::sync::Notify::new(),
                    stats: crate::counters::Counters::default(),
                });
                srv.stats.state.set(true);
                servers.push(srv.clone());
                list.push(srv);
            }
            let mut be = BackendRt {
                id: backends.len(),
                name: p.name.clone(),
                mode: p.mode,
                servers: crate::server_list::ServerList::new(list),
                farm: ArcSwap::from_pointee(Farm::empty()),
                balance: p.balance.clone(),
                hash_type: p.hash_type,
                allbackups: p.allbackups,
                timeouts: p.timeouts.clone(),
                conn_mode: p.http_conn_mode,
                reuse: p.http_reuse,
                rr_position: std::sync::atomic::AtomicUsize::new(0),
                forwardfor: forwardfor(p),
                retries: p.retries,
                redispatch: p.redispatch,
                config: p.clone(),
                rules: ProxyRules::compile(
                    &p.rules,
                    p.kind == ProxyKind::Backend,
                    &|_| None,
                    &pattern_refs,
                )?,
                cur: AtomicU32::new(0),
                queue: Arc::new(Queue::new()),
                stats: crate::counters::Counters::default(),
                events: logging.events(p),
            };
            be.farm = ArcSwap::from_pointee(Farm::build(&be));
            let (active, backup) = be.servers_up();
            be.stats.state.set(active + backup > 0);
            backends.push(Arc::new(be));
        }
        let find = |name: &str| backends.iter().find(|b| b.name == name).cloned();
        let actconn = Arc::new(AtomicU32::new(0));
        let mut frontends = Vec::new();
        for p in config.proxies.iter().filter(|p| p.kind.has_frontend()) {
            let default_backend = match p.kind {
                ProxyKind::Listen => find(&p.name),
                _ => p.default_backend.as_deref().and_then(find),
            };
            frontends.push(Arc::new(FrontendRt {
                splice: !config.global.nosplice,
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
                maxconn: p.maxconn,
                rules: ProxyRules::compile(&p.rules, true, &find, &pattern_refs)?,
                captures: crate::log::capture::Captures::new(p),
                log: logging.frontend_with_format(p, compile_log_format(p)?),
                cur: AtomicU32::new(0),
                actconn: actconn.clone(),
                stats: crate::counters::Counters::default(),
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
        Ok(Snapshot {
            order,
            first_iid: if config.global.stats_sockets.is_empty() {
                1
            } else {
                2
            },
            frontends,
            backends,
            servers,
            global_maxconn: config.global.maxconn,
            actconn,
            logging,
            pattern_refs,
            buf_limits: crate::http::buffered::BufLimits::new(&config.global),
        })
    }
}
