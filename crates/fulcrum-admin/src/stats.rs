//! The stats model: plain data copied from the proxy's live counters, in HAProxy's order (per proxy: the
//! FRONTEND row, the server rows, the BACKEND row). Renderers ([`crate::csv`], [`crate::html`],
//! [`crate::prometheus`]) read only this.

use crate::histogram::HistogramSnapshot;

/// Process-wide facts shown above the tables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Info {
    /// `fulcrum x.y.z`.
    pub version: String,
    /// The process id.
    pub pid: u32,
    /// Seconds since the proxy started.
    pub uptime_secs: u64,
    /// Client connections open in the process.
    pub current_connections: u64,
    /// `global maxconn`, if set.
    pub max_connections: Option<u64>,
    /// Log lines lost since the start: dropped at the logger's queue or not delivered to a target.
    pub dropped_logs: u64,
}

/// Every row of every proxy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Process facts.
    pub info: Info,
    /// Proxies in configuration order.
    pub proxies: Vec<ProxyStats>,
}

impl Stats {
    /// Every row in HAProxy's order.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.proxies.iter().flat_map(|p| p.rows())
    }
}

/// One `frontend`, `backend` or `listen` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProxyStats {
    /// The section name.
    pub name: String,
    /// `http` or `tcp`.
    pub mode: String,
    /// The FRONTEND row (frontends and listens).
    pub frontend: Option<Row>,
    /// One row per server (backends and listens).
    pub servers: Vec<Row>,
    /// The BACKEND row (backends and listens).
    pub backend: Option<Row>,
}

impl ProxyStats {
    /// The rows in HAProxy's order: FRONTEND, servers, BACKEND.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.frontend
            .iter()
            .chain(self.servers.iter())
            .chain(self.backend.iter())
    }
}

/// What a row describes (the CSV `type` column: 0 frontend, 1 backend, 2 server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowKind {
    /// A frontend.
    #[default]
    Frontend,
    /// A backend.
    Backend,
    /// A server.
    Server,
}

impl RowKind {
    /// HAProxy's numeric type.
    pub fn code(self) -> u8 {
        match self {
            RowKind::Frontend => 0,
            RowKind::Backend => 1,
            RowKind::Server => 2,
        }
    }
}

/// The operational state of a row, for colors and the Prometheus `state` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    /// A frontend accepting connections.
    #[default]
    Open,
    /// Up (checked and passing, or a backend with a usable server).
    Up,
    /// Up without health checks.
    NoCheck,
    /// Down (failing checks, or a backend without any usable server).
    Down,
    /// In maintenance (`disabled`, or set by an administrator).
    Maint,
    /// Draining: up, but receives no new traffic.
    Drain,
    /// Stopping (`http-check disable-on-404`): up, but only its persistent clients' traffic.
    NoLb,
}

impl Row {
    /// The `status` column: the state, where an inherited maintenance comes from, and, for a server with an
    /// agent, `(agent)` after a drain or after a DOWN the agent decided (as haproxy 2.6 shows them).
    pub fn status_text(&self) -> String {
        let agent_down = self.agent.as_ref().is_some_and(|a| a.health == 0);
        match (&self.state, &self.maint_via) {
            (State::Maint, Some(via)) => format!("MAINT (via {via})"),
            (State::Drain, _) if self.agent.is_some() => "DRAIN (agent)".into(),
            (State::Down, _) if agent_down => "DOWN (agent)".into(),
            _ => self.state.text().to_string(),
        }
    }
}

/// The agent columns of a server whose agent check is enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentRow {
    /// `agent_status`: `CHECKED`, `L7OK`, `L7STS`, `L4CON`... (`INI` before the first exchange).
    pub status: String,
    /// `agent_code`: 0 after an `up`/`down` word, else none.
    pub code: Option<u64>,
    /// `agent_duration`: of the last exchange, in ms (none before the first).
    pub duration: Option<u64>,
    /// `agent_desc`: `No status change`, `Layer7 check passed`...
    pub desc: String,
    /// `last_agt`: what the agent said (`via agent : down (reason)`), or why it could not be reached.
    pub last: String,
    /// `agent_health`: 0 while the agent holds the server DOWN, else 1 (`agent_rise` and `agent_fall` are 1).
    pub health: u64,
}

impl State {
    /// HAProxy's `status` column text.
    pub fn text(self) -> &'static str {
        match self {
            State::Open => "OPEN",
            State::Up => "UP",
            State::NoCheck => "no check",
            State::Down => "DOWN",
            State::Maint => "MAINT",
            State::Drain => "DRAIN",
            State::NoLb => "NOLB",
        }
    }
}

/// Histograms of a backend or server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings {
    /// Time spent waiting in a queue for a server (0 for a request served at once).
    pub queue: HistogramSnapshot,
    /// From the request head received to the last byte of the response.
    pub total: HistogramSnapshot,
    /// Time to connect to the server (0 for a reused connection).
    pub connect: HistogramSnapshot,
    /// From the request sent to the response head received.
    pub response: HistogramSnapshot,
}

/// One row of `show stat`. Names follow HAProxy's CSV columns; `None` renders as an empty cell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// `pxname`
    pub pxname: String,
    /// `svname`: `FRONTEND`, `BACKEND` or the server name.
    pub svname: String,
    /// Which kind of row.
    pub kind: RowKind,
    /// `qcur`: requests queued now.
    pub qcur: Option<u64>,
    /// `qmax`: most requests queued at once.
    pub qmax: Option<u64>,
    /// `scur`: current sessions.
    pub scur: u64,
    /// `smax`: most sessions at once.
    pub smax: u64,
    /// `slim`: the session limit (`maxconn`).
    pub slim: Option<u64>,
    /// `stot`: sessions since start.
    pub stot: u64,
    /// `bin`: bytes received from clients.
    pub bin: u64,
    /// `bout`: bytes sent to clients.
    pub bout: u64,
    /// `dreq`: requests denied.
    pub dreq: Option<u64>,
    /// `dcon`, `dses`: connections and sessions denied by `tcp-request connection|session` rules (frontends).
    pub denied_conn_sess: Option<(u64, u64)>,
    /// `dresp`: responses denied.
    pub dresp: u64,
    /// `ereq`: request errors.
    pub ereq: Option<u64>,
    /// `econ`: connection errors.
    pub econ: Option<u64>,
    /// `eresp`: response errors.
    pub eresp: Option<u64>,
    /// `wretr`: retries.
    pub wretr: Option<u64>,
    /// `wredis`: redispatches.
    pub wredis: Option<u64>,
    /// `status`
    pub state: State,
    /// A server in maintenance only because the server it tracks is: that server (`BACKEND/SERVER`), shown as
    /// `MAINT (via BACKEND/SERVER)`.
    pub maint_via: Option<String>,
    /// `weight`: effective weight (sum of active servers' weights for a backend).
    pub weight: Option<u64>,
    /// `act`: active server (1/0), or active servers up for a backend.
    pub act: Option<u64>,
    /// `bck`: backup server (1/0), or backup servers up for a backend.
    pub bck: Option<u64>,
    /// `chkfail`: failed checks.
    pub chkfail: Option<u64>,
    /// `hanafail`: times a server's traffic showed `error-limit` errors in a row (`observe`).
    pub hanafail: Option<u64>,
    /// `chkdown`: UP to DOWN transitions.
    pub chkdown: Option<u64>,
    /// `lastchg`: seconds since the last state change.
    pub lastchg: Option<u64>,
    /// `downtime`: seconds spent down.
    pub downtime: Option<u64>,
    /// `qlimit`: the server's `maxqueue`.
    pub qlimit: Option<u64>,
    /// `iid`: proxy id (1-based, in configuration order).
    pub iid: u64,
    /// `sid`: server id within its proxy (1-based; 0 for FRONTEND/BACKEND).
    pub sid: u64,
    /// `throttle`: percentage during a slowstart ramp.
    pub throttle: Option<u64>,
    /// `lbtot`: times the server was selected.
    pub lbtot: Option<u64>,
    /// `check_status`: `L4OK`, `L7STS`... (servers with checks).
    pub check_status: Option<String>,
    /// `check_code`: HTTP status of the last check.
    pub check_code: Option<u64>,
    /// `check_duration`: of the last check, in ms.
    pub check_duration: Option<u64>,
    /// `hrsp_1xx` .. `hrsp_5xx`, `hrsp_other` (HTTP rows).
    pub hrsp: Option<[u64; 6]>,
    /// `req_tot`: HTTP requests.
    pub req_tot: Option<u64>,
    /// `cli_abrt`: transfers aborted by the client.
    pub cli_abrt: Option<u64>,
    /// `srv_abrt`: transfers aborted by the server.
    pub srv_abrt: Option<u64>,
    /// `lastsess`: seconds since the last session (-1: never).
    pub lastsess: Option<i64>,
    /// `check_desc`: description of the last check.
    pub check_desc: Option<String>,
    /// `check_rise`, `check_fall`, `check_health`.
    pub check_rise_fall_health: Option<(u64, u64, u64)>,
    /// The agent columns (servers whose agent check is enabled).
    pub agent: Option<AgentRow>,
    /// `addr`: the server's address.
    pub addr: Option<String>,
    /// `mode`: `http` or `tcp`.
    pub mode: String,
    /// `algo`: the backend's balance algorithm.
    pub algo: Option<String>,
    /// `conn_tot`: connections accepted (frontends).
    pub conn_tot: Option<u64>,
    /// `intercepted`: requests answered by the proxy itself (stats, monitor, services, redirects).
    pub intercepted: Option<u64>,
    /// `comp_in`, `comp_out`, `comp_byp`, `comp_rsp` (frontends and backends): bytes into and out of the HTTP
    /// compressor, bytes that bypassed it, responses compressed.
    pub comp: Option<[u64; 4]>,
    /// `connect`: connections established to servers.
    pub connect: Option<u64>,
    /// `reuse`: idle server connections reused.
    pub reuse: Option<u64>,
    /// `uweight`: the configured weight.
    pub uweight: Option<u64>,
    /// Latency histograms (backends and servers).
    pub timings: Option<Timings>,
    /// `rate`, `rate_max`: sessions over the last second, and the most in one second (frontends, backends,
    /// servers).
    pub rate: Option<(u64, u64)>,
    /// `rate_lim`: the frontend's `rate-limit sessions` (0: none).
    pub rate_lim: Option<u64>,
    /// `conn_rate`, `conn_rate_max`: connections accepted over the last second, and the most in one second
    /// (frontends).
    pub conn_rate: Option<(u64, u64)>,
    /// `req_rate`, `req_rate_max`: HTTP requests over the last second, and the most in one second (frontends).
    pub req_rate: Option<(u64, u64)>,
    /// HAProxy's `ssl` statistics module (frontends, backends and servers), in its column order: TLS handshakes
    /// completed in full, resumed, failed.
    pub ssl: Option<[u64; 3]>,
    /// HAProxy's `h1` statistics module (frontends and backends), in its column order: HTTP/1 connections open
    /// and in total, requests in progress and in total, bytes in and out, bytes spliced in and out.
    pub h1: Option<[u64; 8]>,
    /// HAProxy's `h2` statistics module (frontends and backends), in its column order: HTTP/2 frames received
    /// (HEADERS, DATA, SETTINGS, RST_STREAM, GOAWAY), protocol errors found on connections and on streams,
    /// RST_STREAM and GOAWAY frames sent on errors, connections open, streams open, connections and streams in
    /// all.
    pub h2: Option<[u64; 13]>,
}

impl Row {
    /// `hrsp` class index of an HTTP status: 0 for 1xx .. 4 for 5xx, 5 for anything else.
    pub fn class_of(status: u16) -> usize {
        match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        }
    }
}
