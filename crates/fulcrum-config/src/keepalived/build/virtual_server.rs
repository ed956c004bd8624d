//! `virtual_server`, `virtual_server_group`, `real_server` and checker blocks into the model of
//! [`super::super::virtual_server`], with keepalived's defaults resolved from the innermost block out (checker,
//! real server, virtual server, keepalived's default).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::super::model::ScriptUser;
use super::super::tree::Stmt;
use super::super::virtual_server::*;
use super::Builder;

/// Schedulers keepalived accepts for `lb_algo` (those of the L4 table).
const SCHEDULERS: [&str; 13] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
];

/// Keywords accepted for compatibility that change nothing in fulcrum.
const IGNORED_VS: &[&str] = &["smtp_alert", "nat_mask"];

/// Settings a virtual server or a real server passes down to its checkers.
#[derive(Debug, Clone, Default)]
struct Inherited {
    retry: Option<u32>,
    delay_before_retry: Option<Duration>,
    connect_timeout: Option<Duration>,
    delay_loop: Option<Duration>,
    warmup: Option<Duration>,
    virtualhost: Option<String>,
    inhibit_on_failure: Option<bool>,
    alpha: Option<bool>,
    lb_kind: Option<LbKind>,
}

impl Inherited {
    /// `inner`'s values where set, else `self`'s.
    fn under(&self, inner: &Inherited) -> Inherited {
        Inherited {
            retry: inner.retry.or(self.retry),
            delay_before_retry: inner.delay_before_retry.or(self.delay_before_retry),
            connect_timeout: inner.connect_timeout.or(self.connect_timeout),
            delay_loop: inner.delay_loop.or(self.delay_loop),
            warmup: inner.warmup.or(self.warmup),
            virtualhost: inner.virtualhost.clone().or(self.virtualhost.clone()),
            inhibit_on_failure: inner.inhibit_on_failure.or(self.inhibit_on_failure),
            alpha: inner.alpha.or(self.alpha),
            lb_kind: inner.lb_kind.or(self.lb_kind),
        }
    }
}

impl Builder {
    /// One of the settings inherited by checkers; false when `s` is not one.
    fn inherited_kw(&mut self, s: &Stmt, into: &mut Inherited) -> bool {
        match s.keyword() {
            "retry" => into.retry = self.num(s, 0, 1_000_000).or(into.retry),
            "nb_get_retry" => {
                self.warn_at(
                    &s.loc,
                    "nb_get_retry",
                    "deprecated, as in keepalived: write 'retry'",
                );
                into.retry = self.num(s, 0, 1_000_000).or(into.retry);
            }
            "delay_before_retry" => {
                into.delay_before_retry = self.seconds(s, true).or(into.delay_before_retry)
            }
            "connect_timeout" => {
                into.connect_timeout = self.seconds(s, false).or(into.connect_timeout)
            }
            "delay_loop" => into.delay_loop = self.seconds(s, false).or(into.delay_loop),
            "warmup" => into.warmup = self.seconds(s, true).or(into.warmup),
            "virtualhost" => into.virtualhost = self.arg(s).map(str::to_string),
            "inhibit_on_failure" => into.inhibit_on_failure = Some(self.flag(s)),
            "alpha" => into.alpha = Some(self.flag(s)),
            "no_alpha" => into.alpha = self.flag(s).then_some(false),
            "lb_kind" | "lvs_method" => into.lb_kind = self.lb_kind(s).or(into.lb_kind),
            _ => return false,
        }
        true
    }

    fn lb_kind(&mut self, s: &Stmt) -> Option<LbKind> {
        let a = s.args();
        let kind = match a.first().map(String::as_str) {
            Some("NAT") => LbKind::Nat,
            Some("DR") => LbKind::Dr,
            Some("TUN") => LbKind::Tun,
            _ => {
                self.err(s, "expected NAT, DR or TUN");
                return None;
            }
        };
        match (kind, a.len()) {
            (_, 1) => Some(kind),
            (LbKind::Tun, 3) if a[1] == "type" && a[2] == "ipip" => Some(kind),
            (LbKind::Tun, _) => {
                self.err(
                    s,
                    "tunnel types other than ipip (gue, gre) are supported by keepalived, not yet by fulcrum",
                );
                None
            }
            _ => {
                self.err(s, "expected NAT, DR or TUN and nothing after it");
                None
            }
        }
    }

    /// `IP PORT` as two words (port 0 to 65535).
    fn ip_port(&mut self, s: &Stmt, words: &[String]) -> Option<SocketAddr> {
        if words.len() != 2 {
            self.err(s, "expected an IP address and a port");
            return None;
        }
        let ip = self.ip(s, &words[0])?;
        match words[1].parse::<u16>() {
            Ok(p) => Some(SocketAddr::new(ip, p)),
            Err(_) => {
                self.err(s, format!("'{}' is not a port (0 to 65535)", words[1]));
                None
            }
        }
    }

    /// `virtual_server_group NAME { IP PORT | IP-LAST PORT | fwmark N ... }`.
    pub(super) fn vs_group(&mut self, s: &Stmt) -> Option<VirtualServerGroup> {
        let name = self.name(s)?;
        let body = self.block(s)?;
        let mut members = Vec::new();
        for c in body {
            if c.block.is_some() {
                self.err(c, "takes no block");
                continue;
            }
            if c.keyword() == "fwmark" {
                if let Some(m) = self.num::<u32>(c, 1, u32::MAX) {
                    members.push(GroupMember::Fwmark(m));
                }
                continue;
            }
            match expand_range(&c.words) {
                Ok(addrs) => members.extend(addrs.into_iter().map(GroupMember::Addr)),
                Err(msg) => self.err(c, msg),
            }
        }
        if members.is_empty() {
            self.err(s, "has no members");
        }
        Some(VirtualServerGroup {
            location: s.loc.clone(),
            name,
            members,
        })
    }

    /// `virtual_server IP PORT | fwmark N | group NAME { ... }`.
    pub(super) fn virtual_server(
        &mut self,
        s: &Stmt,
        script_user: Option<&ScriptUser>,
    ) -> Option<VirtualServer> {
        let a = s.args();
        let target = match a.first().map(String::as_str) {
            Some("fwmark") if a.len() == 2 => match a[1].parse::<u32>() {
                Ok(m) if m > 0 => VsTarget::Fwmark(m),
                _ => {
                    self.err(
                        s,
                        format!("'{}' is not a firewall mark (1 to 4294967295)", a[1]),
                    );
                    return None;
                }
            },
            Some("group") if a.len() == 2 => VsTarget::Group(a[1].clone()),
            _ => VsTarget::Addr(self.ip_port(s, a)?),
        };
        let body = self.block(s)?;
        let mut vs = VirtualServer {
            location: s.loc.clone(),
            ipv6: matches!(target, VsTarget::Addr(sa) if sa.is_ipv6()),
            target,
            protocol: VsProtocol::Tcp,
            scheduler: "wlc".into(),
            lb_kind: LbKind::Nat,
            persistence_timeout: None,
            persistence_granularity: None,
            delay_loop: Duration::from_secs(60),
            quorum: 1,
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            sorry_server: None,
            sorry_server_inhibit: false,
            sorry_server_lb_kind: None,
            ha_suspend: false,
            omega: false,
            ops: false,
            sched_flags: [false; 3],
            real_servers: Vec::new(),
        };
        // Scheduler flags named for one scheduler (`mh-port`), checked once `lb_algo` is known.
        let mut named_flags: Vec<(&Stmt, &str)> = Vec::new();
        let mut inh = Inherited::default();
        let mut family: Option<bool> = None;
        let mut real = Vec::new();
        for c in body {
            if self.inherited_kw(c, &mut inh) {
                continue;
            }
            match c.keyword() {
                "real_server" => real.push(c),
                "lb_algo" | "lvs_sched" => {
                    if let Some(a) = self.arg(c) {
                        if SCHEDULERS.contains(&a) {
                            vs.scheduler = a.to_string();
                        } else {
                            self.err(
                                c,
                                format!(
                                    "unknown scheduler '{a}' (expected one of {})",
                                    SCHEDULERS.join(" ")
                                ),
                            );
                        }
                    }
                }
                "protocol" => match self.arg(c) {
                    Some("TCP") => vs.protocol = VsProtocol::Tcp,
                    Some("UDP") => vs.protocol = VsProtocol::Udp,
                    Some("SCTP") => vs.protocol = VsProtocol::Sctp,
                    Some(o) => self.err(c, format!("unknown protocol '{o}' (TCP, UDP or SCTP)")),
                    None => {}
                },
                "persistence_timeout" => match c.args().len() {
                    0 if c.block.is_none() => vs.persistence_timeout = Some(360),
                    _ => {
                        vs.persistence_timeout =
                            self.num(c, 1, 86400 * 31).or(vs.persistence_timeout)
                    }
                },
                "persistence_granularity" => {
                    if let Some(a) = self.arg(c) {
                        let ok = a.parse::<std::net::Ipv4Addr>().is_ok()
                            || a.parse::<u8>().is_ok_and(|p| (1..=128).contains(&p));
                        if ok {
                            vs.persistence_granularity = Some(a.to_string());
                        } else {
                            self.err(c, format!("'{a}' is not a netmask or a prefix length"));
                        }
                    }
                }
                "quorum" => vs.quorum = self.num(c, 1, u32::MAX).unwrap_or(vs.quorum),
                "hysteresis" => vs.hysteresis = self.num(c, 0, u32::MAX).unwrap_or(0),
                "quorum_up" => vs.quorum_up = self.command(c),
                "quorum_down" => vs.quorum_down = self.command(c),
                "sorry_server" => vs.sorry_server = self.ip_port(c, c.args()),
                "sorry_server_inhibit" => vs.sorry_server_inhibit = self.flag(c),
                "sorry_server_lvs_method" => vs.sorry_server_lb_kind = self.lb_kind(c),
                "ha_suspend" => vs.ha_suspend = self.flag(c),
                "omega" => vs.omega = self.flag(c),
                "ops" => vs.ops = self.flag(c),
                "ip_family" => match self.arg(c) {
                    Some("inet") => family = Some(false),
                    Some("inet6") => family = Some(true),
                    Some(o) => self.err(c, format!("unknown family '{o}' (inet or inet6)")),
                    None => {}
                },
                kw @ ("flag-1" | "flag-2" | "flag-3" | "sh-fallback" | "sh-port"
                | "mh-fallback" | "mh-port") => {
                    if self.flag(c) {
                        let (bit, sched) = sched_flag(kw);
                        vs.sched_flags[bit] = true;
                        if let Some(sched) = sched {
                            named_flags.push((c, sched));
                        }
                    }
                }
                "persistence_engine" | "lvs_flags" | "one_packet_scheduling" => {
                    self.err(c, "supported by keepalived, not yet by fulcrum keepalived")
                }
                k if IGNORED_VS.contains(&k) => self.ignored.push((c.loc.clone(), k.into())),
                _ => self.unknown(c, "virtual_server"),
            }
        }
        for (c, sched) in named_flags {
            if vs.scheduler != sched {
                self.err(
                    c,
                    format!(
                        "a flag of the {sched} scheduler, but lb_algo is {}",
                        vs.scheduler
                    ),
                );
            }
        }
        vs.delay_loop = inh.delay_loop.unwrap_or(vs.delay_loop);
        vs.lb_kind = inh.lb_kind.unwrap_or(LbKind::Nat);
        for c in real {
            if let Some(rs) = self.real_server(c, &inh, &vs, script_user) {
                vs.real_servers.push(rs);
            }
        }
        // The family of a fwmark service: ip_family, else its real servers' (keepalived's rule).
        if let VsTarget::Fwmark(_) | VsTarget::Group(_) = vs.target {
            vs.ipv6 = family.unwrap_or_else(|| {
                vs.real_servers
                    .first()
                    .map(|r| r.addr.is_ipv6())
                    .unwrap_or(false)
            });
        }
        if vs.ops && vs.protocol != VsProtocol::Udp {
            self.err_at(
                &vs.location,
                "ops",
                "one-packet scheduling applies to UDP services only",
            );
        }
        Some(vs)
    }

    /// A script command line: one quoted word or several words.
    fn command(&mut self, s: &Stmt) -> Option<String> {
        if s.block.is_some() || s.args().is_empty() {
            self.err(s, "expected a script command line");
            return None;
        }
        Some(s.args().join(" "))
    }

    fn real_server(
        &mut self,
        s: &Stmt,
        vs_inh: &Inherited,
        vs: &VirtualServer,
        script_user: Option<&ScriptUser>,
    ) -> Option<RealServer> {
        let addr = self.ip_port(s, s.args())?;
        let body = self.block(s)?;
        let mut own = Inherited::default();
        let mut rs = RealServer {
            location: s.loc.clone(),
            addr,
            weight: 1,
            inhibit_on_failure: false,
            notify_up: None,
            notify_down: None,
            uthreshold: 0,
            lthreshold: 0,
            alpha: false,
            lb_kind: vs.lb_kind,
            checkers: Vec::new(),
        };
        let mut checkers = Vec::new();
        for c in body {
            if self.inherited_kw(c, &mut own) {
                continue;
            }
            match c.keyword() {
                "weight" => rs.weight = self.num(c, 0, 65535).unwrap_or(rs.weight),
                "notify_up" => rs.notify_up = self.command(c),
                "notify_down" => rs.notify_down = self.command(c),
                "uthreshold" => rs.uthreshold = self.num(c, 0, u32::MAX).unwrap_or(0),
                "lthreshold" => rs.lthreshold = self.num(c, 0, u32::MAX).unwrap_or(0),
                "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "MISC_CHECK" | "DNS_CHECK"
                | "SMTP_CHECK" => checkers.push(c),
                "BFD_CHECK" | "PING_CHECK" | "UDP_CHECK" | "FILE_CHECK" => {
                    self.err(c, "supported by keepalived, not yet by fulcrum keepalived")
                }
                "smtp_alert" => self.ignored.push((c.loc.clone(), "smtp_alert".into())),
                _ => self.unknown(c, "real_server"),
            }
        }
        if rs.lthreshold > rs.uthreshold {
            self.err(s, "lthreshold is above uthreshold");
        }
        let inh = vs_inh.under(&own);
        rs.inhibit_on_failure = inh.inhibit_on_failure.unwrap_or(false);
        rs.alpha = inh.alpha.unwrap_or(false);
        rs.lb_kind = inh.lb_kind.unwrap_or(vs.lb_kind);
        for c in checkers {
            if let Some(ch) = self.checker(c, &inh, vs, script_user) {
                rs.checkers.push(ch);
            }
        }
        Some(rs)
    }

    fn checker(
        &mut self,
        s: &Stmt,
        outer: &Inherited,
        vs: &VirtualServer,
        script_user: Option<&ScriptUser>,
    ) -> Option<Checker> {
        let body = match &s.block {
            Some(b) if s.args().is_empty() => b.as_slice(),
            _ => {
                self.err(s, "expected a '{ ... }' block and no argument");
                return None;
            }
        };
        let mut own = Inherited::default();
        let mut common = CheckerCommon {
            connect_ip: None,
            connect_port: None,
            bindto: None,
            bind_port: None,
            connect_timeout: Duration::from_secs(5),
            retry: 1,
            delay_before_retry: Duration::from_secs(1),
            delay_loop: vs.delay_loop,
            warmup: None,
        };
        let mut urls = Vec::new();
        let mut http_protocol = "1.0".to_string();
        let (mut misc_path, mut misc_timeout, mut misc_dynamic, mut user) =
            (None, None, false, None);
        let (mut qtype, mut qname) = ("SOA".to_string(), ".".to_string());
        let mut helo_name = None;
        let kw = s.keyword();
        for c in body {
            // What only a virtual or real server may say.
            let server_only = [
                "virtualhost",
                "lb_kind",
                "lvs_method",
                "inhibit_on_failure",
                "alpha",
                "no_alpha",
            ];
            if !server_only.contains(&c.keyword()) && self.inherited_kw(c, &mut own) {
                continue;
            }
            match (kw, c.keyword()) {
                (_, "connect_ip") => {
                    if let Some(a) = self.arg(c) {
                        common.connect_ip = self.ip(c, a);
                    }
                }
                (_, "connect_port") => common.connect_port = self.num(c, 1, 65535),
                (_, "bindto") => {
                    if let Some(a) = self.arg(c) {
                        common.bindto = self.ip(c, a);
                    }
                }
                (_, "bind_port") => common.bind_port = self.num(c, 1, 65535),
                ("HTTP_GET" | "SSL_GET", "virtualhost") => {
                    own.virtualhost = self.arg(c).map(str::to_string)
                }
                ("HTTP_GET" | "SSL_GET", "url") => {
                    if let Some(u) = self.url(c) {
                        urls.push(u);
                    }
                }
                ("HTTP_GET" | "SSL_GET", "http_protocol") => match self.arg(c) {
                    Some(p @ ("1.0" | "1.1" | "1.0C" | "1.0K")) => http_protocol = p.to_string(),
                    Some(o) => self.err(
                        c,
                        format!("unknown HTTP protocol '{o}' (1.0, 1.1, 1.0C or 1.0K)"),
                    ),
                    None => {}
                },
                ("HTTP_GET" | "SSL_GET", "fast_recovery") => {
                    // A failed server is checked again after delay_before_retry instead of delay_loop.
                    self.flag(c);
                    self.ignored.push((c.loc.clone(), "fast_recovery".into()));
                }
                ("MISC_CHECK", "misc_path") => misc_path = self.command(c),
                ("MISC_CHECK", "misc_timeout") => misc_timeout = self.seconds(c, false),
                ("MISC_CHECK", "misc_dynamic") => misc_dynamic = self.flag(c),
                ("MISC_CHECK", "user") => user = self.script_user(c),
                ("DNS_CHECK", "type") => {
                    if let Some(a) = self.arg(c) {
                        let t = a.to_ascii_uppercase();
                        if ["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"].contains(&t.as_str()) {
                            qtype = t;
                        } else {
                            self.err(
                                c,
                                format!(
                                    "unknown DNS type '{a}' (A, NS, CNAME, SOA, MX, TXT or AAAA)"
                                ),
                            );
                        }
                    }
                }
                ("DNS_CHECK", "name") => {
                    if let Some(a) = self.arg(c) {
                        qname = a.to_string();
                    }
                }
                ("SMTP_CHECK", "helo_name") => helo_name = self.arg(c).map(str::to_string),
                _ => self.unknown(c, kw),
            }
        }
        let inh = outer.under(&own);
        common.connect_timeout = inh.connect_timeout.unwrap_or(common.connect_timeout);
        common.delay_loop = inh.delay_loop.unwrap_or(common.delay_loop);
        common.warmup = inh.warmup;
        // keepalived's defaults differ by checker: HTTP/SSL retry after 3 s, MISC does not retry, DNS 3 times.
        let (retry, delay) = match kw {
            "HTTP_GET" | "SSL_GET" => (1, 3),
            "MISC_CHECK" => (0, 1),
            "DNS_CHECK" => (3, 1),
            _ => (1, 1),
        };
        common.retry = inh.retry.unwrap_or(retry);
        common.delay_before_retry = inh.delay_before_retry.unwrap_or(Duration::from_secs(delay));
        let kind = match kw {
            "TCP_CHECK" => CheckerKind::Tcp,
            "HTTP_GET" | "SSL_GET" => {
                if urls.is_empty() {
                    self.err(s, "has no 'url' block");
                }
                CheckerKind::Http {
                    ssl: kw == "SSL_GET",
                    urls,
                    virtualhost: inh.virtualhost.clone(),
                    http_protocol,
                }
            }
            "MISC_CHECK" => {
                let Some(path) = misc_path else {
                    self.err(s, "has no 'misc_path' to run");
                    return None;
                };
                CheckerKind::Misc {
                    path,
                    timeout: misc_timeout.unwrap_or(common.delay_loop),
                    dynamic: misc_dynamic,
                    user: user.or_else(|| script_user.cloned()),
                }
            }
            "DNS_CHECK" => CheckerKind::Dns { qtype, name: qname },
            _ => CheckerKind::Smtp { helo_name },
        };
        Some(Checker {
            location: s.loc.clone(),
            kind,
            common,
        })
    }

    fn url(&mut self, s: &Stmt) -> Option<UrlCheck> {
        let body = self.block(s)?;
        let mut u = UrlCheck {
            path: String::new(),
            digest: None,
            status: Vec::new(),
            virtualhost: None,
            regex: None,
            regex_no_match: false,
        };
        for c in body {
            match c.keyword() {
                "path" => {
                    if let Some(a) = self.arg(c) {
                        if a.starts_with('/') && !a.bytes().any(|b| b <= b' ' || b == 0x7f) {
                            u.path = a.to_string();
                        } else {
                            self.err(c, format!("'{a}' is not a path (it must start with '/')"));
                        }
                    }
                }
                "digest" => {
                    if let Some(a) = self.arg(c) {
                        if a.len() == 32 && a.bytes().all(|b| b.is_ascii_hexdigit()) {
                            u.digest = Some(a.to_ascii_lowercase());
                        } else {
                            self.err(c, format!("'{a}' is not an MD5 digest (32 hex digits)"));
                        }
                    }
                }
                "status_code" => {
                    if c.args().is_empty() || c.block.is_some() {
                        self.err(c, "expected status codes or ranges such as 200 or 200-299");
                    }
                    for w in c.args() {
                        match parse_status(w) {
                            Some(r) => u.status.push(r),
                            None => self.err(
                                c,
                                format!("'{w}' is not a status code or range from 100 to 599"),
                            ),
                        }
                    }
                }
                "virtualhost" => u.virtualhost = self.arg(c).map(str::to_string),
                "regex" => {
                    if let Some(a) = self.arg(c) {
                        match regex::bytes::Regex::new(a) {
                            Ok(_) => u.regex = Some(a.to_string()),
                            Err(e) => self.err(c, format!("bad regex: {e}")),
                        }
                    }
                }
                "regex_no_match" => u.regex_no_match = self.flag(c),
                _ => self.unknown(c, "url"),
            }
        }
        if u.path.is_empty() {
            self.err(s, "has no 'path'");
            return None;
        }
        if u.status.is_empty() {
            u.status.push((200, 299));
        }
        Some(u)
    }
}

impl Builder {
    /// Whole-file rules: groups exist and are used once, no service is defined twice, real servers are unique
    /// within a service and of the service's address family.
    pub(super) fn validate_virtual_servers(
        &mut self,
        vss: &[VirtualServer],
        groups: &[VirtualServerGroup],
    ) {
        let mut seen_groups = std::collections::HashSet::new();
        for g in groups {
            if !seen_groups.insert(g.name.as_str()) {
                self.err_at(
                    &g.location,
                    "virtual_server_group",
                    format!("group '{}' is defined twice", g.name),
                );
            }
        }
        let mut services: std::collections::HashMap<String, &VirtualServer> = Default::default();
        for vs in vss {
            let keys: Vec<String> = match &vs.target {
                VsTarget::Addr(a) => vec![format!("{:?} {a}", vs.protocol)],
                VsTarget::Fwmark(m) => vec![format!("fwmark {m} {}", vs.ipv6)],
                VsTarget::Group(name) => match groups.iter().find(|g| &g.name == name) {
                    None => {
                        self.err_at(
                            &vs.location,
                            "virtual_server",
                            format!("no virtual_server_group named '{name}'"),
                        );
                        continue;
                    }
                    Some(g) => g
                        .members
                        .iter()
                        .map(|m| match m {
                            GroupMember::Addr(a) => format!("{:?} {a}", vs.protocol),
                            GroupMember::Fwmark(f) => format!("fwmark {f} {}", vs.ipv6),
                        })
                        .collect(),
                },
            };
            for k in keys {
                if let Some(first) = services.insert(k.clone(), vs) {
                    self.err_at(
                        &vs.location,
                        "virtual_server",
                        format!("service {k} is already defined at {}", first.location),
                    );
                }
            }
            let mut addrs = std::collections::HashSet::new();
            for rs in vs.real_servers.iter() {
                if !addrs.insert(rs.addr) {
                    self.err_at(
                        &rs.location,
                        "real_server",
                        format!("{} is listed twice in this virtual_server", rs.addr),
                    );
                }
                if matches!(vs.target, VsTarget::Addr(_)) && rs.addr.is_ipv6() != vs.ipv6 {
                    self.err_at(
                        &rs.location,
                        "real_server",
                        "is not of the virtual server's address family",
                    );
                }
            }
            if let Some(sorry) = vs.sorry_server {
                if addrs.contains(&sorry) {
                    self.err_at(
                        &vs.location,
                        "sorry_server",
                        format!("{sorry} is also a real_server"),
                    );
                }
            }
        }
    }
}

/// `200` or `200-299`, within 100 to 599.
fn parse_status(w: &str) -> Option<(u16, u16)> {
    let (a, b) = w.split_once('-').unwrap_or((w, w));
    let (a, b) = (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?);
    ((100..=599).contains(&a) && (100..=599).contains(&b) && a <= b).then_some((a, b))
}

/// `IP PORT` or `IP-LAST PORT` (LAST replaces the last byte of an IPv4 address or the last group of an IPv6
/// one) into the addresses it names.
fn expand_range(words: &[String]) -> Result<Vec<SocketAddr>, String> {
    let [ip, port] = words else {
        return Err("expected IP PORT, IP-LAST PORT or fwmark N".into());
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{port}' is not a port (0 to 65535)"))?;
    let Some((first, last)) = ip.rsplit_once('-') else {
        let a: IpAddr = ip
            .parse()
            .map_err(|_| format!("'{ip}' is not an IP address"))?;
        return Ok(vec![SocketAddr::new(a, port)]);
    };
    let a: IpAddr = first
        .parse()
        .map_err(|_| format!("'{first}' is not an IP address"))?;
    let out: Vec<SocketAddr> = match a {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            let end: u8 = last
                .parse()
                .map_err(|_| format!("'{last}' is not the last byte of a range (0 to 255)"))?;
            if end < o[3] {
                return Err(format!("range {ip} ends before it starts"));
            }
            (o[3]..=end)
                .map(|b| SocketAddr::new(std::net::Ipv4Addr::new(o[0], o[1], o[2], b).into(), port))
                .collect()
        }
        IpAddr::V6(v6) => {
            let mut seg = v6.segments();
            let end = u16::from_str_radix(last, 16)
                .map_err(|_| format!("'{last}' is not the last group of a range (hex)"))?;
            if end < seg[7] {
                return Err(format!("range {ip} ends before it starts"));
            }
            (seg[7]..=end)
                .map(|g| {
                    seg[7] = g;
                    SocketAddr::new(std::net::Ipv6Addr::from(seg).into(), port)
                })
                .collect()
        }
    };
    if out.len() > 256 {
        return Err(format!("range {ip} names more than 256 addresses"));
    }
    Ok(out)
}

/// The bit (0, 1, 2 for flags 1, 2, 3) of a scheduler-flag keyword, and the scheduler it belongs to.
fn sched_flag(kw: &str) -> (usize, Option<&'static str>) {
    match kw {
        "sh-fallback" => (0, Some("sh")),
        "mh-fallback" => (0, Some("mh")),
        "sh-port" => (1, Some("sh")),
        "mh-port" => (1, Some("mh")),
        "flag-1" => (0, None),
        "flag-2" => (1, None),
        _ => (2, None),
    }
}
