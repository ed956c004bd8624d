//! The typed model of keepalived's LVS half: `virtual_server`, `virtual_server_group`, `real_server` and the
//! checkers, with keepalived's defaults already applied (so the runtime reads plain values).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::Location;

/// `script_user USER [GROUP]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptUser {
    /// User name.
    pub user: String,
    /// Group name (the user's primary group when absent).
    pub group: Option<String>,
}

/// What a `virtual_server` line names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VsTarget {
    /// `virtual_server IP PORT`.
    Addr(SocketAddr),
    /// `virtual_server fwmark N`.
    Fwmark(u32),
    /// `virtual_server group NAME` (a `virtual_server_group`).
    Group(String),
}

/// Transport protocol (`protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VsProtocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

/// Forwarding method (`lb_kind` / `lvs_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbKind {
    /// Masquerading (the default).
    Nat,
    /// Direct routing.
    Dr,
    /// IP-in-IP tunnel.
    Tun,
}

/// One member of a `virtual_server_group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupMember {
    /// `IP PORT`, or `IP-LAST PORT` expanded into one member per address.
    Addr(SocketAddr),
    /// `fwmark N`.
    Fwmark(u32),
}

/// `virtual_server_group NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServerGroup {
    /// Where it is defined.
    pub location: Location,
    /// Its name.
    pub name: String,
    /// Members, ranges expanded, in file order.
    pub members: Vec<GroupMember>,
}

/// Settings every checker of a real server takes, defaults resolved (checker, then real server, then virtual
/// server, then keepalived's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckerCommon {
    /// `connect_ip` (default: the real server's address).
    pub connect_ip: Option<IpAddr>,
    /// `connect_port` (default: the real server's port).
    pub connect_port: Option<u16>,
    /// `bindto`: source address of the probe.
    pub bindto: Option<IpAddr>,
    /// `bind_port`: source port of the probe.
    pub bind_port: Option<u16>,
    /// `connect_timeout` (default 5 s).
    pub connect_timeout: Duration,
    /// `retry` (alias `nb_get_retry`): failed checks repeated before the server is failed.
    pub retry: u32,
    /// `delay_before_retry`: the pause before a repeated check.
    pub delay_before_retry: Duration,
    /// `delay_loop`: the pause between two rounds of checks.
    pub delay_loop: Duration,
    /// `warmup`: the first check waits a random time up to this.
    pub warmup: Option<Duration>,
}

/// `url { ... }` of `HTTP_GET` / `SSL_GET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlCheck {
    /// `path` (required).
    pub path: String,
    /// `digest`: MD5 of the body, lower-case hex.
    pub digest: Option<String>,
    /// `status_code`: inclusive ranges (default 200-299).
    pub status: Vec<(u16, u16)>,
    /// `virtualhost` of this url.
    pub virtualhost: Option<String>,
    /// `regex`: must match the body.
    pub regex: Option<String>,
    /// `regex_no_match`: the regex must not match.
    pub regex_no_match: bool,
}

/// One checker of a real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckerKind {
    /// `TCP_CHECK`.
    Tcp,
    /// `HTTP_GET` (`ssl` false) or `SSL_GET` (`ssl` true).
    Http {
        /// Over TLS.
        ssl: bool,
        /// The urls; all must pass.
        urls: Vec<UrlCheck>,
        /// Host header (checker's, else the virtual server's `virtualhost`).
        virtualhost: Option<String>,
        /// `http_protocol` (`1.0`, `1.0C`, `1.1`); default `1.0`.
        http_protocol: String,
    },
    /// `MISC_CHECK`.
    Misc {
        /// `misc_path`: the command line.
        path: String,
        /// `misc_timeout` (default: delay_loop).
        timeout: Duration,
        /// `misc_dynamic`: exit codes 2-255 set the weight to code - 2.
        dynamic: bool,
        /// `user` of the checker, else global `script_user`.
        user: Option<ScriptUser>,
    },
    /// `DNS_CHECK`.
    Dns {
        /// `type` (default SOA).
        qtype: String,
        /// `name` (default `.`).
        name: String,
    },
    /// `SMTP_CHECK`.
    Smtp {
        /// `helo_name` (default: the local host name at run time).
        helo_name: Option<String>,
    },
}

/// A checker with its common settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checker {
    /// Where it is defined.
    pub location: Location,
    /// What it does.
    pub kind: CheckerKind,
    /// Connection, timing and retry settings.
    pub common: CheckerCommon,
}

impl Checker {
    /// The keepalived keyword of this checker (`TCP_CHECK`, `HTTP_GET`, ...).
    pub fn name(&self) -> &'static str {
        match &self.kind {
            CheckerKind::Tcp => "TCP_CHECK",
            CheckerKind::Http { ssl: false, .. } => "HTTP_GET",
            CheckerKind::Http { ssl: true, .. } => "SSL_GET",
            CheckerKind::Misc { .. } => "MISC_CHECK",
            CheckerKind::Dns { .. } => "DNS_CHECK",
            CheckerKind::Smtp { .. } => "SMTP_CHECK",
        }
    }
}

/// `real_server IP PORT { ... }` (also the `sorry_server`, which has no checkers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServer {
    /// Where it is defined.
    pub location: Location,
    /// Address and port.
    pub addr: SocketAddr,
    /// `weight` (default 1).
    pub weight: u32,
    /// `inhibit_on_failure` (own, else the virtual server's): failed means weight 0, not removed.
    pub inhibit_on_failure: bool,
    /// `notify_up` script.
    pub notify_up: Option<String>,
    /// `notify_down` script.
    pub notify_down: Option<String>,
    /// `uthreshold`: upper connection threshold (0 = none).
    pub uthreshold: u32,
    /// `lthreshold`: lower connection threshold.
    pub lthreshold: u32,
    /// `alpha` (own, else the virtual server's): starts failed until a check passes.
    pub alpha: bool,
    /// `lvs_method` of this real server (else the virtual server's).
    pub lb_kind: LbKind,
    /// Its checkers; the server is up only when all pass (no checker: always up).
    pub checkers: Vec<Checker>,
}

/// `virtual_server ... { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServer {
    /// Where it is defined.
    pub location: Location,
    /// What it serves.
    pub target: VsTarget,
    /// `protocol` (default TCP).
    pub protocol: VsProtocol,
    /// `lb_algo` / `lvs_sched` (default wlc).
    pub scheduler: String,
    /// `lb_kind` / `lvs_method` (default NAT).
    pub lb_kind: LbKind,
    /// `persistence_timeout` in seconds (a bare keyword: 360).
    pub persistence_timeout: Option<u32>,
    /// `persistence_granularity`: netmask (IPv4 dotted) or prefix length.
    pub persistence_granularity: Option<String>,
    /// `delay_loop` (default 60 s).
    pub delay_loop: Duration,
    /// `quorum` (default 1): minimum sum of the weights of live real servers.
    pub quorum: u32,
    /// `hysteresis` (default 0).
    pub hysteresis: u32,
    /// `quorum_up` script.
    pub quorum_up: Option<String>,
    /// `quorum_down` script.
    pub quorum_down: Option<String>,
    /// `sorry_server IP PORT`.
    pub sorry_server: Option<SocketAddr>,
    /// `sorry_server_inhibit`: the sorry server stays in the table at weight 0 when not in use.
    pub sorry_server_inhibit: bool,
    /// `sorry_server_lvs_method`.
    pub sorry_server_lb_kind: Option<LbKind>,
    /// `ha_suspend`.
    pub ha_suspend: bool,
    /// `omega`: run the down notifiers and quorum_down on shutdown.
    pub omega: bool,
    /// `ops`: one-packet scheduling (UDP).
    pub ops: bool,
    /// The scheduler flags 1, 2 and 3: `flag-1` (= `sh-fallback`, `mh-fallback`), `flag-2` (= `sh-port`,
    /// `mh-port`: hash the client's port too), `flag-3`; ipvsadm's `-b`.
    pub sched_flags: [bool; 3],
    /// `ip_family inet|inet6` for fwmark services (else from the real servers).
    pub ipv6: bool,
    /// The real servers, in file order.
    pub real_servers: Vec<RealServer>,
}
