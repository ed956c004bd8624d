//! HAProxy's runtime API (the `stats socket` command line), without any I/O.
//!
//! [`Session`] is the line protocol of one connection (one command per line, several separated by `;`,
//! non-interactive by default, `prompt` for the interactive mode); [`execute`] parses one command, checks the
//! session's [`Level`] and answers in HAProxy 2.6's words, asking a [`Control`] (implemented by the proxy over
//! its live snapshot) for the facts and the changes. The socket itself lives in `fulcrum_proxy::runtime_api`.

mod commands;
mod format;
mod session;
pub mod state_file;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use commands::{execute, help_lines, split_commands, split_words, Reply};
pub use format::{render_info, render_servers_state, SERVERS_STATE_HEADER};
pub use session::Session;

/// Access level of a runtime API session (`stats socket ... level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Read-only.
    User,
    /// Read-only plus a few non-sensitive changes (none of the commands fulcrum implements).
    Operator,
    /// Everything.
    Admin,
}

impl Level {
    /// The name `show cli level` prints.
    pub fn name(self) -> &'static str {
        match self {
            Level::User => "user",
            Level::Operator => "operator",
            Level::Admin => "admin",
        }
    }
}

/// What `set server B/S health ...` forces the checks' verdict to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForcedHealth {
    /// `up`: fully up, as after `rise` passed checks.
    Up,
    /// `stopping`: up, taking no new traffic (NOLB).
    Stopping,
    /// `down`: down, as after `fall` failed checks.
    Down,
}

/// The check and agent settings `set server B/S ...` changes; the texts as typed, checked by the proxy after it
/// found the server (HAProxy refuses a server without agent or checks before it reads the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckChange {
    /// `agent up|down`: the agent's verdict.
    Agent(bool),
    /// `health up|stopping|down`: the checks' verdict.
    Health(ForcedHealth),
    /// `agent-addr ADDR [port PORT]`
    AgentAddr(String, Option<String>),
    /// `agent-port PORT`
    AgentPort(String),
    /// `agent-send TEXT`
    AgentSend(String),
    /// `check-addr ADDR [port PORT]`
    CheckAddr(String, Option<String>),
    /// `check-port PORT`
    CheckPort(String),
}

/// A port typed on the runtime API, refused in haproxy 2.6's words.
pub fn cli_port(text: &str) -> Result<u16, String> {
    let n: i64 = text
        .parse()
        .map_err(|_| "provided port is not an integer".to_string())?;
    u16::try_from(n).map_err(|_| "provided port is invalid".to_string())
}

/// An address typed on the runtime API (an IP address, no name), refused in haproxy 2.6's words.
pub fn cli_addr(text: &str) -> Result<IpAddr, String> {
    text.parse().map_err(|_| format!("invalid addr '{text}'"))
}

/// The administrative state asked for by `set server B/S state ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminState {
    /// Takes traffic (leaves maintenance and drain).
    Ready,
    /// No new traffic; connections in progress continue.
    Drain,
    /// Maintenance: no traffic at all.
    Maint,
}

/// A weight change: `N` or `N%` of the configured weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// `N`, 0 to 256.
    Absolute(u32),
    /// `N%` of the configured (initial) weight.
    Relative(u32),
}

impl Weight {
    /// The weight to use for a server configured with `initial`, capped at 256.
    pub fn resolve(self, initial: u32) -> u32 {
        match self {
            Weight::Absolute(w) => w,
            Weight::Relative(p) => {
                u32::try_from((u64::from(initial) * u64::from(p) / 100).min(MAX_WEIGHT as u64))
                    .unwrap_or(MAX_WEIGHT)
            }
        }
    }
}

/// Highest server weight.
pub const MAX_WEIGHT: u32 = 256;

/// A server to create with `add server B/S ADDR:PORT [weight N] [check] [backup] [disabled]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewServer {
    /// Where traffic goes.
    pub addr: SocketAddr,
    /// `weight N` (1 when absent).
    pub weight: u32,
    /// `check`: run health checks (with the backend's check settings and the default intervals).
    pub check: bool,
    /// `backup`
    pub backup: bool,
    /// `maxconn N`
    pub maxconn: Option<u32>,
    /// `proto NAME`: the multiplexer towards the server.
    pub proto: Option<MuxProto>,
    /// The address was a socket file (`/PATH` or `unix@PATH`); `addr` is then unused.
    pub unix: Option<std::path::PathBuf>,
    /// `ssl`: the traffic goes over TLS.
    pub ssl: bool,
    /// `verify none|required` (true: required); none given: `ssl-server-verify`, else required.
    pub verify: Option<bool>,
    /// `ca-file FILE`
    pub ca_file: Option<std::path::PathBuf>,
    /// `crl-file FILE`
    pub crl_file: Option<std::path::PathBuf>,
    /// `sni EXPR`: the sample expression naming the server in the TLS handshake, as written
    pub sni: Option<String>,
    /// `crt FILE`: the client certificate shown to the server (shared with the runtime API's certificate
    /// store, where a file already loaded is taken as it is now).
    pub crt: Option<std::path::PathBuf>,
    /// The timing and thresholds of its checks (`inter`, `fastinter`, `downinter`, `rise`, `fall`).
    pub timing: CheckTiming,
    /// `port N`: checks go to this port.
    pub check_port: Option<u16>,
    /// `addr IP`: checks (and the agent, unless `agent-addr`) go to this address.
    pub check_addr: Option<IpAddr>,
    /// `agent-check` and the `agent-*` options.
    pub agent: NewAgent,
    /// `send-proxy` (`Some(false)`) or `send-proxy-v2` (`Some(true)`): a PROXY header opens each connection.
    pub send_proxy_v2: Option<bool>,
    /// `check-send-proxy`: checks open with a PROXY header too.
    pub check_send_proxy: bool,
    /// `track [BACKEND/]SERVER`, as written.
    pub track: Option<String>,
}

impl NewServer {
    /// A server at `addr` with HAProxy's defaults: weight 1, no option.
    pub fn at(addr: SocketAddr) -> Self {
        NewServer {
            addr,
            weight: 1,
            check: false,
            backup: false,
            maxconn: None,
            proto: None,
            unix: None,
            ssl: false,
            verify: None,
            ca_file: None,
            crl_file: None,
            sni: None,
            crt: None,
            timing: CheckTiming::default(),
            check_port: None,
            check_addr: None,
            agent: NewAgent::default(),
            send_proxy_v2: None,
            check_send_proxy: false,
            track: None,
        }
    }
}

/// The check timings `add server` may set; `None`: HAProxy's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckTiming {
    /// `inter` (2 s)
    pub inter: Option<std::time::Duration>,
    /// `fastinter` (`inter`)
    pub fastinter: Option<std::time::Duration>,
    /// `downinter` (`inter`)
    pub downinter: Option<std::time::Duration>,
    /// `rise` (2)
    pub rise: Option<u32>,
    /// `fall` (3)
    pub fall: Option<u32>,
}

/// The agent check options of `add server`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAgent {
    /// `agent-check`
    pub enabled: bool,
    /// `agent-addr IP`
    pub addr: Option<IpAddr>,
    /// `agent-port N`
    pub port: Option<u16>,
    /// `agent-send TEXT`
    pub send: Option<String>,
    /// `agent-inter T` (2 s)
    pub inter: Option<std::time::Duration>,
}

/// The multiplexers HAProxy 2.6 knows for servers (`proto NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MuxProto {
    /// `h1`: HTTP/1.1, what fulcrum speaks to servers anyway.
    H1,
    /// `h2`: HTTP/2 with prior knowledge.
    H2,
    /// `fcgi`: FastCGI.
    Fcgi,
    /// `none`: pass-through.
    None,
}

impl MuxProto {
    /// The name as written after `proto`.
    pub fn name(self) -> &'static str {
        match self {
            MuxProto::H1 => "h1",
            MuxProto::H2 => "h2",
            MuxProto::Fcgi => "fcgi",
            MuxProto::None => "none",
        }
    }

    /// Parses a `proto` argument.
    pub fn parse(s: &str) -> Option<MuxProto> {
        Some(match s {
            "h1" => MuxProto::H1,
            "h2" => MuxProto::H2,
            "fcgi" => MuxProto::Fcgi,
            "none" => MuxProto::None,
            _ => return None,
        })
    }
}

/// Why the proxy refused a change or a lookup; rendered in HAProxy's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtlError {
    /// The backend does not exist.
    NoBackend,
    /// The server does not exist in that backend.
    NoServer,
    /// A weight change other than 0% / 100% on a static algorithm.
    StaticWeight,
    /// `add server` on a backend whose algorithm cannot take new servers.
    NotDynamic,
    /// `add server` with a name already used in the backend.
    AlreadyExists,
    /// `del server` on a server that is not in maintenance.
    NotInMaint,
    /// `del server`: the configuration names the server elsewhere (`use-server`, a `srv_*` fetch).
    Referenced,
    /// `del server` on a server that still has connections (or queued requests).
    HasConnections,
    /// Anything else, already worded.
    Other(String),
}

/// One line of `show servers state` (HAProxy's server-state-file format version 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    /// The backend's numeric id.
    pub be_id: u32,
    /// The backend's name.
    pub be_name: String,
    /// The server's numeric id inside its backend.
    pub srv_id: u32,
    /// The server's name.
    pub srv_name: String,
    /// Its address (`None` while its name is unresolved: `-`).
    pub addr: Option<IpAddr>,
    /// Its port.
    pub port: u16,
    /// The name its resolvers ask (`srv_fqdn`), if any.
    pub fqdn: Option<String>,
    /// The SRV name of its `server-template` (`srvrecord`), if any.
    pub srvrecord: Option<String>,
    /// 0 stopped, 2 running (1 starting, 3 stopping).
    pub op_state: u8,
    /// HAProxy's admin flags: 0x01 forced maintenance, 0x04 maintenance from the configuration (`disabled`),
    /// 0x08 forced drain.
    pub admin_state: u8,
    /// The current (user) weight.
    pub uweight: u32,
    /// The configured (initial) weight.
    pub iweight: u32,
    /// Seconds since the last state change.
    pub since_last_change: u64,
    /// HAProxy's check status code (1 initializing, 6 layer-4 OK, 8 layer-4 connection problem, 15 layer-7 OK).
    pub check_status: u8,
    /// 0 unknown, 2 failed, 3 passed.
    pub check_result: u8,
    /// The check's health counter (0 .. rise + fall - 1).
    pub check_health: u32,
    /// HAProxy's check flags: 0x02 configured, 0x04 enabled, 0x08 paused.
    pub check_state: u32,
    /// `port` of the check when it differs.
    pub check_port: u16,
    /// `addr` of the check when it differs.
    pub check_addr: Option<IpAddr>,
    /// `srv_use_ssl`: 1 traffic over TLS, 0 not, -1 not (`no-ssl` written).
    /// `srv_agent_state`: HAProxy's check state flags of the agent (0 without one).
    pub agent_state: u32,
    /// `srv_agent_addr`: the `agent-addr`, if one is configured.
    pub agent_addr: Option<IpAddr>,
    /// `srv_agent_port`: the `agent-port` (0 without an agent).
    pub agent_port: u16,
    pub use_ssl: i8,
}

/// Process facts for `show info`; the fields fulcrum cannot fill are left out of the output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    /// `fulcrum`'s version.
    pub version: String,
    /// Worker threads.
    pub nbthread: u32,
    /// Process id.
    pub pid: u32,
    /// Time since the proxy started.
    pub uptime: Duration,
    /// When it started, in seconds since the Unix epoch.
    pub start_time_sec: u64,
    /// The file descriptor limit.
    pub ulimit_n: u64,
    /// `global maxconn` (0 when unlimited).
    pub maxconn: u32,
    /// Client connections open now.
    pub curr_conns: u64,
    /// Client connections accepted since the start, when counted.
    pub cum_conns: Option<u64>,
    /// Requests received since the start, when counted.
    pub cum_req: Option<u64>,
    /// `MaxSslConns` (0: no limit), `CurrSslConns`, `CumSslConns`: TLS connections from clients and to servers.
    pub ssl_conns: [u64; 3],
    /// `Maxpipes` (0: no limit), `PipesUsed`, `PipesFree`: the pipes splicing uses.
    pub pipes: [u64; 3],
    /// The per-second figures, when measured.
    pub rates: Option<InfoRates>,
    /// Listening sockets.
    pub listeners: u64,
    /// Log lines lost: dropped at the logger's queue or not delivered to a target.
    pub dropped_logs: u64,
    /// `global node`, else the host name.
    pub node: String,
    /// `global description`, when set.
    pub description: Option<String>,
    /// Whether the process is stopping.
    pub stopping: bool,
}

/// `show info`'s per-second figures: over the last second as HAProxy reads its rates, with their limits
/// (0: none) and the most seen in one second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InfoRates {
    /// `ConnRate`, `ConnRateLimit` (`maxconnrate`), `MaxConnRate`: connections accepted.
    pub conn: [u64; 3],
    /// `SessRate`, `SessRateLimit` (`maxsessrate`), `MaxSessRate`: sessions.
    pub sess: [u64; 3],
    /// `SslRate`, `SslRateLimit` (`maxsslrate`), `MaxSslRate`: connections accepted on `ssl` listeners.
    pub ssl: [u64; 3],
    /// `SslFrontendKeyRate`, `SslFrontendMaxKeyRate`, `SslFrontendSessionReuse_pct`: TLS keys computed for
    /// clients (full handshakes), and the share of `ssl` connections that resumed instead.
    pub fe_keys: [u64; 3],
    /// `SslBackendKeyRate`, `SslBackendMaxKeyRate`: TLS keys computed for servers.
    pub be_keys: [u64; 2],
    /// `SslCacheLookups`, `SslCacheMisses`: sessions clients asked to resume by id, and those not in the cache.
    pub ssl_cache: [u64; 2],
}

/// One pattern reference, as `show acl` lists them: an ACL's `-f FILE`, or the patterns written on one ACL line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternRef {
    /// `#ID`
    pub id: u32,
    /// The file it was loaded from, if any.
    pub file: Option<String>,
    /// HAProxy's description (`acl 'path' file 'haproxy.cfg' line 12`).
    pub display: String,
    /// How many patterns it holds now.
    pub entries: usize,
}

/// One pattern of a reference, with the unique id `show acl REF` prints and `del acl REF #ID` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternEntry {
    /// Unique among the process's patterns.
    pub id: u64,
    /// The pattern as it was given.
    pub text: String,
}

/// One map, as `show map` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRefInfo {
    /// `#ID`
    pub id: u32,
    /// The file.
    pub file: String,
    /// `pattern loaded from file 'F' used by map at file 'C' line N, ...`
    pub display: String,
    /// What HAProxy counts as `entry_cnt`.
    pub entries: usize,
    /// The version the converters read (`curr_ver`).
    pub curr_ver: u32,
    /// The last version prepared (`next_ver`).
    pub next_ver: u32,
}

/// One entry of a map, as `show map REF` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntryInfo {
    /// Unique among the process's entries.
    pub id: u64,
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// Why an ACL command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclError {
    /// No reference with that `#ID` or file name.
    UnknownRef,
    /// `del acl`: no pattern with that text or id.
    KeyNotFound,
    /// A pattern that an ACL using the reference cannot match with (already worded, as HAProxy words it).
    Invalid(String),
}

/// One `resolvers` section's counters, as `show resolvers` prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolversInfo {
    /// The section's name.
    pub name: String,
    /// Its nameservers, in order.
    pub nameservers: Vec<NameserverInfo>,
}

/// One nameserver's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameserverInfo {
    /// Its ID.
    pub id: String,
    /// The counters in `show resolvers`' order: sent, snd_error, valid, update, cname, cname_error, any_err, nx,
    /// timeout, refused, other, invalid, too_big, truncated, outdated.
    pub counters: [u64; 15],
}

/// The names of [`NameserverInfo::counters`], in order.
pub const NAMESERVER_COUNTERS: [&str; 15] = [
    "sent",
    "snd_error",
    "valid",
    "update",
    "cname",
    "cname_error",
    "any_err",
    "nx",
    "timeout",
    "refused",
    "other",
    "invalid",
    "too_big",
    "truncated",
    "outdated",
];

/// What the runtime API reads from and changes in the running proxy.
pub trait Control {
    /// Process facts.
    fn info(&self) -> Info;
    /// Backend names in configuration order.
    fn backends(&self) -> Vec<String>;
    /// The state of the servers of `backend` (of all backends when `None`); `None` when the backend does not
    /// exist.
    fn servers_state(&self, backend: Option<&str>) -> Option<Vec<ServerState>>;
    /// Checks that `backend/server` exists.
    fn lookup(&self, backend: &str, server: &str) -> Result<(), CtlError>;
    /// (current, configured) weight.
    fn weight(&self, backend: &str, server: &str) -> Result<(u32, u32), CtlError>;
    /// Changes the weight.
    fn set_weight(&self, backend: &str, server: &str, weight: Weight) -> Result<(), CtlError>;
    /// `set server B/S ssl on|off`: whether the server's traffic goes over TLS; `CtlError::Other` when it has no
    /// TLS settings to use.
    fn set_server_ssl(&self, backend: &str, server: &str, on: bool) -> Result<(), CtlError>;
    /// Changes the administrative state.
    fn set_state(&self, backend: &str, server: &str, state: AdminState) -> Result<(), CtlError>;
    /// `enable server` (`true`: leaves maintenance) / `disable server` (`false`: enters it).
    fn set_maint(&self, backend: &str, server: &str, maint: bool) -> Result<(), CtlError>;
    /// Lets the health checks change the server's state, or freezes it.
    fn set_health(&self, backend: &str, server: &str, enabled: bool) -> Result<(), CtlError>;
    /// `enable agent` / `disable agent`: runs the server's agent checks, or stops them.
    fn set_agent(&self, backend: &str, server: &str, enabled: bool) -> Result<(), CtlError> {
        let _ = (backend, server, enabled);
        Err(CtlError::Other(
            "Agent was not configured on this server, cannot enable.".into(),
        ))
    }
    /// `set server B/S agent|health|agent-addr|agent-port|agent-send|check-addr|check-port ...`: the text to
    /// answer (empty when all went well).
    fn change_checks(
        &self,
        backend: &str,
        server: &str,
        change: CheckChange,
    ) -> Result<String, CtlError> {
        let _ = (backend, server, change);
        Err(CtlError::Other("not supported here".into()))
    }
    /// Creates a server, in maintenance.
    fn add_server(&self, backend: &str, server: &str, new: &NewServer) -> Result<(), CtlError>;
    /// Removes a server in maintenance with no connection.
    fn del_server(&self, backend: &str, server: &str) -> Result<(), CtlError>;
    /// The counters `show stat` prints (as CSV, or as JSON with `show stat json`), when they are available.
    fn stats(&self) -> Option<crate::Stats>;
    /// A `proc.` variable as `get var` prints it (`proc.x: type=sint value=<5>`); `None` when it is not set or
    /// the name is not a `proc.` variable's.
    fn proc_var(&self, name: &str) -> Option<String> {
        let _ = name;
        None
    }
    /// `set var NAME [expr|fmt] VALUE`: sets a `proc.` variable from a sample expression (or a log-format string,
    /// `fmt`); the error is the message to print.
    fn set_proc_var(&self, name: &str, fmt: bool, value: &str) -> Result<(), String> {
        let _ = (name, fmt, value);
        Err("'set var' is not available here.".into())
    }
    /// `show table [NAME ...]`, `clear table NAME ...`, `set table NAME ...` (`verb` is the first word, `args`
    /// what follows `table`): the text to print, HAProxy's messages included.
    fn table(&self, verb: &str, args: &[&str]) -> String {
        let _ = (verb, args);
        if verb == "show" && args.is_empty() {
            String::new()
        } else {
            "No such table\n".into()
        }
    }
    /// The ACL pattern references, by id (`show acl`).
    fn acl_refs(&self) -> Vec<PatternRef> {
        Vec::new()
    }
    /// The patterns of a reference named `#ID` or by its file (`show acl REF`); `None` when there is none.
    fn acl_entries(&self, reference: &str) -> Option<Vec<PatternEntry>> {
        let _ = reference;
        None
    }
    /// Adds a pattern to a reference: every ACL using it matches it from now on (`add acl REF PATTERN`).
    fn add_acl(&self, reference: &str, pattern: &str) -> Result<(), AclError> {
        let _ = (reference, pattern);
        Err(AclError::UnknownRef)
    }
    /// Removes the patterns equal to `key`, or the one whose id is `#ID` (`del acl REF KEY|#ID`).
    fn del_acl(&self, reference: &str, key: &str) -> Result<(), AclError> {
        let _ = (reference, key);
        Err(AclError::UnknownRef)
    }
    /// Removes every pattern of a reference (`clear acl REF`).
    fn clear_acl(&self, reference: &str) -> Result<(), AclError> {
        let _ = reference;
        Err(AclError::UnknownRef)
    }
    /// The maps, by id (`show map`).
    fn map_refs(&self) -> Vec<MapRefInfo> {
        Vec::new()
    }
    /// The entries of a map named `#ID` or by its file, of the current version or of `version`
    /// (`show map [@VER] REF`); `None` when there is no such map.
    fn map_entries(&self, reference: &str, version: Option<u32>) -> Option<Vec<MapEntryInfo>> {
        let _ = (reference, version);
        None
    }
    /// Adds an entry to a map, to the current version or to `version` (`add map [@VER] REF KEY VALUE`).
    fn add_map(
        &self,
        reference: &str,
        version: Option<u32>,
        key: &str,
        value: &str,
    ) -> Result<(), AclError> {
        let _ = (reference, version, key, value);
        Err(AclError::UnknownRef)
    }
    /// Starts a new empty version of a map; its number (`prepare map REF`).
    fn prepare_map(&self, reference: &str) -> Result<u32, AclError> {
        let _ = reference;
        Err(AclError::UnknownRef)
    }
    /// Makes a prepared version the one the converters read (`commit map @VER REF`).
    fn commit_map(&self, reference: &str, version: u32) -> Result<(), AclError> {
        let _ = (reference, version);
        Err(AclError::UnknownRef)
    }
    /// Removes the entries with that key, or the one whose id is `#ID` (`del map REF KEY|#ID`).
    fn del_map(&self, reference: &str, key: &str) -> Result<(), AclError> {
        let _ = (reference, key);
        Err(AclError::UnknownRef)
    }
    /// Changes the value of the entries with that key or id (`set map REF KEY|#ID VALUE`); `KeyNotFound`
    /// when there is none.
    fn set_map(&self, reference: &str, key: &str, value: &str) -> Result<(), AclError> {
        let _ = (reference, key, value);
        Err(AclError::UnknownRef)
    }
    /// Removes every entry of a map, of the current version or of `version` (`clear map [@VER] REF`).
    fn clear_map(&self, reference: &str, version: Option<u32>) -> Result<(), AclError> {
        let _ = (reference, version);
        Err(AclError::UnknownRef)
    }
    /// What each table reading the map finds for `sample` (`get map REF SAMPLE`), as printed; `None` when
    /// there is no such map.
    fn get_map(&self, reference: &str, sample: &str) -> Option<String> {
        let _ = (reference, sample);
        None
    }
    /// The certificate files loaded (`show ssl cert`): the open transaction's file, if any, and every file in
    /// name order; `None` when the proxy terminates no TLS.
    fn ssl_certs(&self) -> Option<(Option<String>, Vec<String>)> {
        None
    }
    /// The details of one certificate file (`show ssl cert NAME`, `*NAME` for the transaction's), as printed.
    fn ssl_cert_details(&self, name: &str) -> Option<String> {
        let _ = name;
        None
    }
    /// `set ssl cert NAME <<` with its payload; the answer, or the refusal, as printed.
    fn ssl_cert_set(&self, name: &str, payload: &str) -> Result<String, String> {
        let _ = (name, payload);
        Err(NO_TLS.into())
    }
    /// `commit ssl cert NAME`.
    fn ssl_cert_commit(&self, name: &str) -> Result<String, String> {
        let _ = name;
        Err(NO_TLS.into())
    }
    /// `set server B/S addr ADDR [port PORT]`: the answer, in HAProxy's words.
    fn set_server_addr(
        &self,
        backend: &str,
        server: &str,
        addr: &str,
        port: Option<&str>,
    ) -> Result<String, CtlError> {
        let _ = (backend, server, addr, port);
        Err(CtlError::Other("not supported".into()))
    }
    /// `set server B/S fqdn NAME`: the answer, in HAProxy's words.
    fn set_server_fqdn(&self, backend: &str, server: &str, fqdn: &str) -> Result<String, CtlError> {
        let _ = (backend, server, fqdn);
        Err(CtlError::Other(
            "set server <b>/<s> fqdn failed because no resolution is configured.".into(),
        ))
    }
    /// The `resolvers` sections and their counters.
    fn resolvers(&self) -> Vec<ResolversInfo> {
        Vec::new()
    }
    /// `abort ssl cert NAME`.
    fn ssl_cert_abort(&self, name: &str) -> Result<String, String> {
        let _ = name;
        Err(NO_TLS.into())
    }
    /// `new ssl cert`, `del ssl cert`, `show ssl crt-list`, `add ssl crt-list` (with `payload`, the line given
    /// after `<<`) and `del ssl crt-list`: the answer as printed (`words`: the whole command).
    fn ssl_list_command(&self, words: &[&str], payload: Option<&str>) -> String {
        let _ = (words, payload);
        NO_TLS.into()
    }
}

/// The answer of the `ssl cert` commands when no certificate was loaded.
pub const NO_TLS: &str =
    "Can't replace a certificate which is not referenced by the configuration!\n";
