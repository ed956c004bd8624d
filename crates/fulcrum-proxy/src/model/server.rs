//! One server and its live state: up or down, admin flags, weight and `maxconn` set at run time, connections in
//! progress, the `slowstart` ramp and its counters. Shared by every worker; changed through atomics only.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI8, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fulcrum_config::haproxy::Server;
use fulcrum_tls::rustls::ClientConfig;

/// One server and its live state.
pub struct ServerRt {
    /// Index in [`Snapshot::servers`] (also the key of per-worker connection pools).
    pub id: usize,
    /// Index inside its backend.
    pub index: usize,
    /// `backend/server`, as HAProxy names it in logs.
    pub full_name: String,
    /// Where traffic goes; changed at run time by the resolvers and `set server ... addr` (read per connection).
    addr: arc_swap::ArcSwap<SocketAddr>,
    /// The name the resolvers ask for this server (`set server ... fqdn` changes it); `None` without one.
    fqdn: std::sync::Mutex<Option<String>>,
    /// A `server-template` slot filled from an SRV record: the record's target host.
    srv_target: std::sync::Mutex<Option<String>>,
    /// The server line as configured.
    pub config: Server,
    /// The TLS configuration of its connections (and checks), when `ssl` or `check-ssl` is set.
    pub tls: Option<Arc<ClientConfig>>,
    /// Its client certificate (`crt`), registered in the runtime API's certificate store (which sees the
    /// server deleted when this is dropped).
    pub tls_identity: Option<Arc<fulcrum_tls::client::ClientIdentity>>,
    /// What its certificate is verified against (`ca-file`, `crl-file`), registered in the runtime API's
    /// store, which replaces the files at run time.
    pub tls_trust: Option<Arc<fulcrum_tls::server_trust::ServerTrust>>,
    /// Whether its traffic goes over TLS, as `srv_use_ssl` shows it: 1 yes (`ssl`), 0 no, -1 no (`no-ssl`
    /// written); `set server ... ssl on|off` sets 1 or 0.
    use_ssl: AtomicI8,
    up: AtomicBool,
    /// `srv_id` in `show servers state`: 1 + the highest id in the backend when the server was created.
    pub puid: u32,
    /// Runtime API: administrative flags ([`ServerRt::ADMIN_FMAINT`], ...).
    admin: AtomicU8,
    /// Runtime API: the weight set with `set weight` (starts at `config.weight`).
    uweight: AtomicU32,
    /// Runtime API: `disable health` freezes the state the checks set.
    checks_frozen: AtomicBool,
    /// `http-check disable-on-404`: the checks found the server UP but answering 404 (NOLB, HAProxy's
    /// "stopping" state): it takes no new traffic but its persistent clients.
    stopping: AtomicBool,
    /// `agent-check`: the agent's last word on the operational state (`up` / `down`); true without an agent.
    agent_up: AtomicBool,
    /// The `maxconn` in force (0: no limit): the configured one, or the last an agent sent.
    maxconn: AtomicU32,
    /// When the state last changed, in seconds since the Unix epoch.
    last_change: AtomicU64,
    /// The operational state a server-state file carried over a restart, for the health checks to start from:
    /// 0 none, 1 UP, 2 DOWN.
    carried: AtomicU8,
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
    /// `observe` and the `on-marked-*` session shutdowns.
    pub observer: crate::model::observed::Observer,
    /// `show stat` counters.
    pub stats: crate::model::counters::Counters,
    /// What the last agent exchange gave (`agent-check`), for the stats.
    pub agent_stats: crate::model::counters::AgentStats,
    /// Where the checks go: `addr` and `port` as configured, changed by `set server ... check-addr|check-port`.
    check_target: std::sync::Mutex<(Option<std::net::IpAddr>, Option<u16>)>,
    /// The agent's address, port and what it is sent, as configured or changed by `set server ... agent-*`.
    agent_target: std::sync::Mutex<Option<AgentTarget>>,
    /// A verdict `set server ... health up|down` forced on the checks, for their loop to adopt (0: none, 1: up,
    /// 2: down).
    forced_health: AtomicU8,
    /// Named elsewhere in the configuration (`use-server`, `srv_*` fetches, `track`): `del server` refuses it.
    pub referenced: bool,
    /// Added at run time (`add server`): its checks start disabled, it cannot be tracked, and its checks send a
    /// PROXY header only with `check-send-proxy`, as in HAProxy 2.6.
    pub dynamic: bool,
    /// Runtime API: `disable agent` stopped its agent checks (a dynamic server's start so).
    agent_frozen: AtomicBool,
    /// Its check and agent tasks, ended when the server is deleted.
    tasks: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
    /// A server added at run time tracked it once: `del server` refuses it from then on, even once that
    /// tracker is gone (haproxy 2.6 observed).
    tracked_at_run_time: AtomicBool,
}

/// Where a server's agent is asked and what it is sent (`agent-addr`, `agent-port`, `agent-send`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTarget {
    /// `agent-addr` (the server's address when `None`).
    pub addr: Option<std::net::IpAddr>,
    /// `agent-port`
    pub port: u16,
    /// `agent-send`
    pub send: Option<Vec<u8>>,
}

impl From<&fulcrum_config::haproxy::AgentCheck> for AgentTarget {
    fn from(a: &fulcrum_config::haproxy::AgentCheck) -> Self {
        AgentTarget {
            addr: a.addr,
            port: a.port,
            send: a.send.as_ref().map(|s| s.clone().into_bytes()),
        }
    }
}

impl ServerRt {
    /// Admin flag: forced maintenance (`set server ... state maint`, `disable server`, `disabled`).
    pub const ADMIN_FMAINT: u8 = 0x01;
    /// Admin flag: in maintenance because the server it tracks (`track`) is, directly or down the chain.
    pub const ADMIN_IMAINT: u8 = 0x02;
    /// Admin flag: started in maintenance by the configuration (`disabled`); informational.
    pub const ADMIN_CMAINT: u8 = 0x04;
    /// Admin flag: forced drain (`set server ... state drain`).
    pub const ADMIN_FDRAIN: u8 = 0x08;
    /// Admin flag: draining because the server it tracks is.
    pub const ADMIN_IDRAIN: u8 = 0x10;
    /// Every maintenance flag a tracking server inherits as [`ServerRt::ADMIN_IMAINT`].
    pub const ADMIN_MAINT: u8 =
        Self::ADMIN_FMAINT | Self::ADMIN_IMAINT | Self::ADMIN_CMAINT | Self::ADMIN_RMAINT;
    /// Both drain flags.
    pub const ADMIN_DRAIN: u8 = Self::ADMIN_FDRAIN | Self::ADMIN_IDRAIN;
    /// Admin flag: in maintenance because it has no address (resolution failed or not done yet, or no host).
    pub const ADMIN_RMAINT: u8 = 0x20;
    /// Admin flag (fulcrum's own): removed by `del server`; the slot stays so that indices do not move.
    pub const ADMIN_DELETED: u8 = 0x80;
    /// Admin flag (fulcrum's own): the configuration gave no host (`server NAME :`, an unset `${ADDR}`), so the
    /// server takes no traffic until `set server ... addr` gives it one. HAProxy keeps such a server out of
    /// maintenance (it would connect to 0.0.0.0): this flag is not one of [`ServerRt::ADMIN_MAINT`], so its
    /// trackers, the log and `show servers state` see the server as HAProxy's.
    pub const ADMIN_NOADDR: u8 = 0x40;

    /// The admin flags a configured server starts with.
    fn initial_admin(config: &Server) -> u8 {
        // A name not resolved yet, or no host at all (`server NAME :`): no address to send traffic to.
        let rmaint = if config.resolve.as_ref().is_some_and(|r| r.unresolved) {
            Self::ADMIN_RMAINT
        } else if config.resolve.is_none()
            && config.unix.is_none()
            && config.addr.ip().is_unspecified()
        {
            Self::ADMIN_NOADDR
        } else {
            0
        };
        if config.disabled {
            Self::ADMIN_FMAINT | Self::ADMIN_CMAINT | rmaint
        } else {
            rmaint
        }
    }

    /// Where traffic goes now.
    pub fn addr(&self) -> SocketAddr {
        **self.addr.load()
    }

    /// Whether the server has an address (none while a name it waits for is unresolved).
    pub fn has_addr(&self) -> bool {
        self.config.unix.is_some() || !self.addr().ip().is_unspecified()
    }

    /// Changes where new connections go; connections open stay where they are.
    pub fn set_addr(&self, addr: SocketAddr) {
        self.addr.store(Arc::new(addr));
    }

    /// The name the resolvers ask for this server, if any.
    pub fn fqdn(&self) -> Option<String> {
        self.fqdn.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The SRV record's target host a `server-template` slot holds, if any.
    pub fn srv_target(&self) -> Option<String> {
        self.srv_target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records the SRV target a slot holds.
    pub fn set_srv_target(&self, target: Option<String>) {
        *self.srv_target.lock().unwrap_or_else(|e| e.into_inner()) = target;
    }

    /// Replaces the name the resolvers ask.
    pub fn set_fqdn(&self, name: Option<String>) {
        *self.fqdn.lock().unwrap_or_else(|e| e.into_inner()) = name;
    }

    /// `srv_use_ssl` as configured.
    fn initial_use_ssl(config: &Server) -> i8 {
        if config.tls.as_ref().is_some_and(|t| t.traffic) {
            1
        } else if config.no_ssl {
            -1
        } else {
            0
        }
    }

    /// Whether its traffic goes over TLS now (`ssl`, or `set server ... ssl on`).
    pub fn tls_traffic(&self) -> bool {
        self.tls.is_some() && self.use_ssl.load(Ordering::Relaxed) == 1
    }

    /// `srv_use_ssl` in `show servers state`.
    pub fn use_ssl(&self) -> i8 {
        self.use_ssl.load(Ordering::Relaxed)
    }

    /// `set server ... ssl on|off`: false when the server has no TLS settings to use (neither it nor its
    /// `default-server` line wrote `ssl` or `check-ssl`).
    pub fn set_use_ssl(&self, on: bool) -> bool {
        if self.tls.is_none() {
            return false;
        }
        self.use_ssl.store(i8::from(on), Ordering::Relaxed);
        true
    }

    /// A server of the configuration: `index` in its backend's list, process-wide `id`.
    pub fn configured(
        id: usize,
        index: usize,
        backend: &str,
        config: &Server,
        tls: Option<Arc<ClientConfig>>,
    ) -> Self {
        ServerRt {
            tls,
            tls_identity: None,
            tls_trust: None,
            use_ssl: AtomicI8::new(Self::initial_use_ssl(config)),
            id,
            index,
            full_name: format!("{backend}/{}", config.name),
            addr: arc_swap::ArcSwap::from_pointee(config.addr),
            fqdn: std::sync::Mutex::new(config.resolve.as_ref().and_then(|r| r.fqdn.clone())),
            srv_target: std::sync::Mutex::new(None),
            config: config.clone(),
            up: AtomicBool::new(true),
            puid: index as u32 + 1,
            admin: AtomicU8::new(ServerRt::initial_admin(config)),
            uweight: AtomicU32::new(config.weight),
            checks_frozen: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            agent_up: AtomicBool::new(true),
            maxconn: AtomicU32::new(config.maxconn.unwrap_or(0)),
            last_change: AtomicU64::new(unix_now()),
            carried: AtomicU8::new(0),
            cur: AtomicU32::new(0),
            total: AtomicU64::new(0),
            ramp_since: AtomicU64::new(0),
            queued: AtomicU32::new(0),
            slot_free: tokio::sync::Notify::new(),
            observer: Default::default(),
            stats: crate::model::counters::Counters::default(),
            agent_stats: Default::default(),
            check_target: std::sync::Mutex::new((config.check_addr, config.check_port)),
            agent_target: std::sync::Mutex::new(config.agent.as_ref().map(AgentTarget::from)),
            forced_health: AtomicU8::new(0),
            referenced: false,
            dynamic: false,
            agent_frozen: AtomicBool::new(false),
            tasks: std::sync::Mutex::new(Vec::new()),
            tracked_at_run_time: AtomicBool::new(false),
        }
    }

    /// A server added at run time (`add server`), in maintenance: `index` in its backend's list, process-wide
    /// `id`, `srv_id` `puid`.
    pub fn added(id: usize, index: usize, puid: u32, backend: &str, config: Server) -> Self {
        let check_target = std::sync::Mutex::new((config.check_addr, config.check_port));
        let agent_target = std::sync::Mutex::new(config.agent.as_ref().map(AgentTarget::from));
        ServerRt {
            id,
            index,
            full_name: format!("{backend}/{}", config.name),
            addr: arc_swap::ArcSwap::from_pointee(config.addr),
            fqdn: std::sync::Mutex::new(None),
            srv_target: std::sync::Mutex::new(None),
            up: AtomicBool::new(true),
            puid,
            admin: AtomicU8::new(Self::ADMIN_FMAINT),
            uweight: AtomicU32::new(config.weight),
            // Its checks and agent wait for `enable health` / `enable agent`, as in HAProxy.
            checks_frozen: AtomicBool::new(true),
            stopping: AtomicBool::new(false),
            agent_up: AtomicBool::new(true),
            maxconn: AtomicU32::new(config.maxconn.unwrap_or(0)),
            last_change: AtomicU64::new(unix_now()),
            carried: AtomicU8::new(0),
            use_ssl: AtomicI8::new(Self::initial_use_ssl(&config)),
            config,
            tls: None,
            tls_identity: None,
            tls_trust: None,
            cur: AtomicU32::new(0),
            total: AtomicU64::new(0),
            ramp_since: AtomicU64::new(0),
            queued: AtomicU32::new(0),
            slot_free: tokio::sync::Notify::new(),
            observer: Default::default(),
            stats: crate::model::counters::Counters::default(),
            agent_stats: Default::default(),
            check_target,
            agent_target,
            forced_health: AtomicU8::new(0),
            referenced: false,
            dynamic: true,
            agent_frozen: AtomicBool::new(true),
            tasks: std::sync::Mutex::new(Vec::new()),
            tracked_at_run_time: AtomicBool::new(false),
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

    /// Where the checks go now: (`addr`, `port`), each `None` for the server's own.
    pub fn check_target(&self) -> (Option<std::net::IpAddr>, Option<u16>) {
        *self.check_target.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes where the checks go (`set server ... check-addr|check-port`); `None` leaves a part as it is.
    pub fn set_check_target(&self, addr: Option<std::net::IpAddr>, port: Option<u16>) {
        let mut t = self.check_target.lock().unwrap_or_else(|e| e.into_inner());
        t.0 = addr.or(t.0);
        t.1 = port.or(t.1);
    }

    /// The agent's address, port and message now (`None` without `agent-check`).
    pub fn agent_target(&self) -> Option<AgentTarget> {
        self.agent_target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Changes the agent's settings (`set server ... agent-addr|agent-port|agent-send`).
    pub fn change_agent_target(&self, f: impl FnOnce(&mut AgentTarget)) {
        if let Some(t) = self
            .agent_target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            f(t);
        }
    }

    /// Forces the checks' verdict (`set server ... health up|down`): their loop adopts it before its next
    /// check, which then counts from there.
    pub fn force_health(&self, up: bool) {
        self.forced_health
            .store(if up { 1 } else { 2 }, Ordering::Release);
    }

    /// The verdict forced since the last call, if any.
    pub fn take_forced_health(&self) -> Option<bool> {
        match self.forced_health.swap(0, Ordering::AcqRel) {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }

    /// Whether the agent lets the server be UP (it did not say `down`, `fail` or `stopped` last).
    pub fn agent_up(&self) -> bool {
        self.agent_up.load(Ordering::Acquire)
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
        self.admin()
            & (Self::ADMIN_FMAINT
                | Self::ADMIN_IMAINT
                | Self::ADMIN_RMAINT
                | Self::ADMIN_NOADDR
                | Self::ADMIN_DELETED)
            != 0
    }

    /// Draining: no new traffic, connections in progress continue.
    pub fn is_draining(&self) -> bool {
        self.admin() & Self::ADMIN_DRAIN != 0
    }

    /// Stopping (`http-check disable-on-404`): UP, but no new traffic except the persistent clients'.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Enters or leaves the stopping state; whether it changed. The caller rebuilds the backend's farm.
    pub fn set_stopping(&self, stopping: bool) -> bool {
        let changed = self.stopping.swap(stopping, Ordering::AcqRel) != stopping;
        if changed {
            self.touch();
        }
        changed
    }

    /// Removed by `del server`.
    pub fn is_deleted(&self) -> bool {
        self.admin() & Self::ADMIN_DELETED != 0
    }

    /// The weight the balancing table uses: the runtime weight, 0 while draining or stopping.
    pub fn weight(&self) -> u32 {
        if self.is_draining() || self.is_stopping() {
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

    /// Whether `disable agent` stopped its agent checks.
    pub fn agent_frozen(&self) -> bool {
        self.agent_frozen.load(Ordering::Acquire)
    }

    /// `disable agent` (`true`) / `enable agent` (`false`).
    pub fn set_agent_frozen(&self, frozen: bool) {
        self.agent_frozen.store(frozen, Ordering::Release);
    }

    /// Keeps a check or agent task of this server, to end it when the server is deleted.
    pub fn hold_task(&self, task: tokio::task::AbortHandle) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        // A task that ended on its own is not kept.
        tasks.retain(|t| !t.is_finished());
        if self.is_deleted() {
            task.abort();
        } else {
            tasks.push(task);
        }
    }

    /// Ends the server's check and agent tasks (it was deleted); [`ServerRt::running_tasks`] counts them until
    /// they are gone.
    pub fn stop_tasks(&self) {
        for task in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            task.abort();
        }
    }

    /// How many of its check and agent tasks still run.
    pub fn running_tasks(&self) -> usize {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|t| !t.is_finished())
            .count()
    }

    /// When the state last changed, in seconds since the Unix epoch.
    pub fn last_change(&self) -> u64 {
        self.last_change.load(Ordering::Relaxed)
    }

    /// Backdates the last change of state to `secs` seconds ago (a state carried from a server-state file).
    pub fn set_last_change_ago(&self, secs: u64) {
        self.last_change
            .store(unix_now().saturating_sub(secs), Ordering::Relaxed);
    }

    /// Records the operational state a server-state file carried (`true`: UP): the server takes it now and its
    /// health checks start from it (fully UP, or DOWN until `rise` checks pass).
    pub fn carry_state(&self, up: bool) {
        self.carried
            .store(if up { 1 } else { 2 }, Ordering::Release);
        self.up.store(up, Ordering::Release);
        self.stats.state.set(self.is_checked_up());
    }

    /// The operational state a server-state file carried, if any (`Some(true)`: UP).
    pub fn carried_state(&self) -> Option<bool> {
        match self.carried.load(Ordering::Acquire) {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }

    fn touch(&self) {
        self.last_change.store(unix_now(), Ordering::Relaxed);
    }

    /// Notes that `tracker` tracks this one: a server added at run time that does makes `del server` refuse
    /// this one from then on (the list of trackers is its backend's: `BackendRt::add_tracker`).
    pub fn tracked_by(&self, tracker: &ServerRt) {
        if tracker.dynamic {
            self.tracked_at_run_time.store(true, Ordering::Release);
        }
    }

    /// Whether a server added at run time ever tracked this one (`del server` then refuses it).
    pub fn tracked_at_run_time(&self) -> bool {
        self.tracked_at_run_time.load(Ordering::Acquire)
    }

    /// The admin flags `tracker` should carry while it tracks this server: its own, with this one's maintenance
    /// and drain inherited.
    pub fn flags_for_tracker(&self, tracker: &ServerRt) -> u8 {
        let mut flags = tracker.admin() & !(Self::ADMIN_IMAINT | Self::ADMIN_IDRAIN);
        if self.admin() & Self::ADMIN_MAINT != 0 {
            flags |= Self::ADMIN_IMAINT;
        }
        if self.admin() & Self::ADMIN_DRAIN != 0 {
            flags |= Self::ADMIN_IDRAIN;
        }
        flags
    }

    /// The address to connect to for a client whose connection arrived at `dst`: the server's, its port taken
    /// from `dst` (plus the offset) when the configuration gave none or an offset (`server NAME 10.0.0.1`,
    /// `10.0.0.1:+1000`), as HAProxy.
    pub fn target(&self, dst: impl FnOnce() -> Option<SocketAddr>) -> SocketAddr {
        let addr = self.addr();
        // The client's destination costs a system call: asked only for a server whose port follows it.
        let Some(offset) = self.config.port_offset else {
            return addr;
        };
        match dst() {
            Some(d) => {
                let port = (i32::from(d.port()) + offset).rem_euclid(65536) as u16;
                SocketAddr::new(addr.ip(), port)
            }
            None => addr,
        }
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

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
