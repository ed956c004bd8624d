//! Interprets the statement tree into the typed [`Config`], then validates it as a whole.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::time::Duration;

use super::model::*;
use super::tree::Stmt;
use crate::diag::{Severity, Warning};
use crate::{Diagnostic, Location};

mod virtual_server;

/// Global keywords accepted for compatibility that do nothing in fulcrum (mail alerts, checker tuning, ...).
const IGNORED_GLOBAL: &[&str] = &[
    "notification_email",
    "notification_email_from",
    "smtp_server",
    "smtp_connect_timeout",
    "smtp_helo_name",
    "lvs_id",
    "lvs_flush",
    "vrrp_skip_check_adv_addr",
    "vrrp_check_unicast_src",
    "vrrp_garp_interval",
    "vrrp_gna_interval",
    "vrrp_priority",
    "checker_priority",
    "vrrp_no_swap",
    "checker_no_swap",
    "max_auto_priority",
    "vrrp_iptables",
    "dynamic_interfaces",
];

/// Instance keywords accepted for compatibility that do nothing in fulcrum.
const IGNORED_INSTANCE: &[&str] = &[
    "smtp_alert",
    "debug",
    "lvs_sync_daemon_interface",
    "skip_check_adv_addr",
    "check_unicast_src",
    "strict_mode",
    "promote_secondaries",
];

pub(crate) struct Builder {
    pub diags: Vec<Diagnostic>,
    ignored: Vec<(Location, String)>,
    warnings: Vec<Warning>,
}

impl Builder {
    pub fn new(diags: Vec<Diagnostic>) -> Builder {
        Builder {
            diags,
            ignored: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Something keepalived's `-t` reports although keepalived runs with it (see [`Config::warnings`]).
    fn warn_at(&mut self, loc: &Location, kw: &str, msg: impl Into<String>) {
        self.warnings.push(Warning {
            severity: Severity::Warning,
            diagnostic: Diagnostic {
                location: loc.clone(),
                keyword: kw.to_string(),
                message: msg.into(),
            },
        });
    }

    fn err(&mut self, s: &Stmt, msg: impl Into<String>) {
        self.err_at(&s.loc, s.keyword(), msg);
    }

    fn err_at(&mut self, loc: &Location, kw: &str, msg: impl Into<String>) {
        self.diags.push(Diagnostic {
            location: loc.clone(),
            keyword: kw.to_string(),
            message: msg.into(),
        });
    }

    /// The statement must have exactly `n` arguments and no block.
    fn args<'a>(&mut self, s: &'a Stmt, n: usize) -> Option<&'a [String]> {
        if s.block.is_some() {
            self.err(s, "takes no block");
            return None;
        }
        if s.args().len() != n {
            let what = match n {
                0 => "no argument".to_string(),
                1 => "one argument".to_string(),
                n => format!("{n} arguments"),
            };
            self.err(s, format!("expected {what}, got {}", s.args().len()));
            return None;
        }
        Some(s.args())
    }

    fn arg<'a>(&mut self, s: &'a Stmt) -> Option<&'a str> {
        self.args(s, 1).map(|a| a[0].as_str())
    }

    fn flag(&mut self, s: &Stmt) -> bool {
        self.args(s, 0).is_some()
    }

    fn block<'a>(&mut self, s: &'a Stmt) -> Option<&'a [Stmt]> {
        match &s.block {
            Some(b) => Some(b),
            None => {
                self.err(s, "expected a '{ ... }' block");
                None
            }
        }
    }

    fn num<T: FromStr + PartialOrd + std::fmt::Display + Copy>(
        &mut self,
        s: &Stmt,
        min: T,
        max: T,
    ) -> Option<T> {
        let a = self.arg(s)?;
        match a.parse::<T>() {
            Ok(v) if v >= min && v <= max => Some(v),
            _ => {
                self.err(
                    s,
                    format!("expected an integer from {min} to {max}, got '{a}'"),
                );
                None
            }
        }
    }

    /// Decimal seconds (`1`, `0.5`), positive unless `allow_zero`.
    fn seconds(&mut self, s: &Stmt, allow_zero: bool) -> Option<Duration> {
        let a = self.arg(s)?;
        match parse_seconds(a) {
            Some(d) if allow_zero || !d.is_zero() => Some(d),
            _ => {
                self.err(s, format!("expected a number of seconds, got '{a}'"));
                None
            }
        }
    }

    fn ip(&mut self, s: &Stmt, word: &str) -> Option<IpAddr> {
        match word.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(s, format!("'{word}' is not an IP address"));
                None
            }
        }
    }

    fn unknown(&mut self, s: &Stmt, section: &str) {
        self.err(s, format!("unknown keyword in {section}"));
    }

    pub fn config(mut self, stmts: &[Stmt]) -> Result<Config, Vec<Diagnostic>> {
        let mut global = GlobalDefs::default();
        let mut raw_instances = Vec::new();
        let mut scripts = Vec::new();
        let mut groups = Vec::new();
        let (mut raw_vs, mut vs_groups) = (Vec::new(), Vec::new());
        for s in stmts {
            match s.keyword() {
                "global_defs" => {
                    if let Some(b) = self.block(s) {
                        self.global_defs(b, &mut global);
                    }
                }
                "vrrp_script" => {
                    if let Some(v) = self.vrrp_script(s) {
                        scripts.push(v);
                    }
                }
                "vrrp_instance" => raw_instances.push(s),
                "vrrp_sync_group" => {
                    if let Some(g) = self.sync_group(s) {
                        groups.push(g);
                    }
                }
                "virtual_server" => raw_vs.push(s),
                "virtual_server_group" => {
                    if let Some(g) = self.vs_group(s) {
                        vs_groups.push(g);
                    }
                }
                "static_ipaddress"
                | "static_routes"
                | "static_rules"
                | "vrrp_track_process"
                | "vrrp_track_file"
                | "track_file"
                | "linkbeat_use_polling"
                | "net_namespace" => self.err(s, "not supported yet"),
                _ => self.unknown(s, "the top level"),
            }
        }
        // Instances after global_defs, wherever it was, so vrrp_version applies to all.
        let mut instances = Vec::new();
        for s in raw_instances {
            if let Some(i) = self.vrrp_instance(s, &global) {
                instances.push(i);
            }
        }
        let mut virtual_servers = Vec::new();
        for s in raw_vs {
            if let Some(v) = self.virtual_server(s, global.script_user.as_ref()) {
                virtual_servers.push(v);
            }
        }
        self.validate(&scripts, &instances, &groups);
        if let Some(d) = &global.lvs_sync_daemon {
            if !instances.iter().any(|i| i.name == d.instance) {
                self.err_at(
                    &d.location,
                    "lvs_sync_daemon",
                    format!("no vrrp_instance named '{}'", d.instance),
                );
            }
        }
        self.validate_virtual_servers(&virtual_servers, &vs_groups);
        if self.diags.is_empty() {
            Ok(Config {
                global,
                scripts,
                instances,
                sync_groups: groups,
                virtual_servers,
                vs_groups,
                ignored: self.ignored,
                warnings: self.warnings,
            })
        } else {
            Err(self.diags)
        }
    }

    fn global_defs(&mut self, stmts: &[Stmt], g: &mut GlobalDefs) {
        for s in stmts {
            match s.keyword() {
                "router_id" => {
                    if let Some(a) = self.arg(s) {
                        g.router_id = Some(a.to_string());
                    }
                }
                "vrrp_version" => {
                    if let Some(v) = self.num::<u8>(s, 2, 3) {
                        g.vrrp_version = v;
                    }
                }
                "vrrp_garp_master_delay" => {
                    if let Some(v) = self.num::<u64>(s, 0, 3600) {
                        g.garp_master_delay = Duration::from_secs(v);
                    }
                }
                "vrrp_garp_master_repeat" => {
                    if let Some(v) = self.num::<u32>(s, 1, 255) {
                        g.garp_master_repeat = v;
                    }
                }
                "vrrp_garp_master_refresh" => {
                    if let Some(v) = self.num::<u64>(s, 0, 86400) {
                        g.garp_master_refresh = (v > 0).then(|| Duration::from_secs(v));
                    }
                }
                "vrrp_garp_master_refresh_repeat" => {
                    if let Some(v) = self.num::<u32>(s, 1, 255) {
                        g.garp_master_refresh_repeat = v;
                    }
                }
                "script_user" => g.script_user = self.script_user(s),
                "enable_script_security" => g.enable_script_security = self.flag(s),
                "vrrp_mcast_group4" => {
                    if let Some(a) = self.arg(s) {
                        match a.parse::<Ipv4Addr>() {
                            Ok(ip) if ip.is_multicast() => g.mcast_group4 = ip,
                            _ => self.err(s, format!("'{a}' is not an IPv4 multicast address")),
                        }
                    }
                }
                "vrrp_mcast_group6" => {
                    if let Some(a) = self.arg(s) {
                        match a.parse::<std::net::Ipv6Addr>() {
                            Ok(ip) if ip.is_multicast() => g.mcast_group6 = ip,
                            _ => self.err(s, format!("'{a}' is not an IPv6 multicast address")),
                        }
                    }
                }
                "v3_checksum_as_v2" => g.v3_checksum_as_v2 = self.flag(s),
                "vrrp_strict" => g.vrrp_strict = self.flag(s),
                "lvs_sync_daemon" => g.lvs_sync_daemon = self.lvs_sync_daemon(s),
                "fulcrum_announce_table" => {
                    // Not 0 (unspec) nor 253-255 (default, main, local): a table of its own.
                    match self.num::<u32>(s, 1, u32::MAX - 1) {
                        Some(t @ 253..=255) => self.err(
                            s,
                            format!("table {t} is one of the kernel's own (default, main, local); announce into a table of its own"),
                        ),
                        Some(t) => {
                            let protocol = g.announce.map_or(ANNOUNCE_PROTOCOL, |a| a.protocol);
                            g.announce = Some(Announce { table: t, protocol });
                        }
                        None => {}
                    }
                }
                "fulcrum_announce_protocol" => {
                    if let Some(p) = self.num::<u8>(s, 5, 254) {
                        match &mut g.announce {
                            Some(a) => a.protocol = p,
                            None => self.err(
                                s,
                                "comes without fulcrum_announce_table (put that first)".to_string(),
                            ),
                        }
                    }
                }
                "fulcrum_metrics_listen" => {
                    if let Some(a) = self.arg(s) {
                        match a.parse::<std::net::SocketAddr>() {
                            Ok(addr) => g.metrics_listen = Some(addr),
                            Err(_) => self.err(
                                s,
                                format!("'{a}' is not an address and port (e.g. 127.0.0.1:9650 or [::1]:9650)"),
                            ),
                        }
                    }
                }
                k if IGNORED_GLOBAL.contains(&k) => self.ignored.push((s.loc.clone(), k.into())),
                _ => self.unknown(s, "global_defs"),
            }
        }
    }

    fn lvs_sync_daemon(&mut self, s: &Stmt) -> Option<LvsSyncDaemon> {
        let args = s.args();
        if s.block.is_some() || args.len() < 2 {
            self.err(
                s,
                "expected INTERFACE VRRP_INSTANCE [id N] [maxlen L] [port P] [ttl T] [group ADDR]",
            );
            return None;
        }
        let mut d = LvsSyncDaemon {
            location: s.loc.clone(),
            interface: args[0].clone(),
            instance: args[1].clone(),
            syncid: 0,
            maxlen: None,
            port: None,
            ttl: None,
            group: None,
        };
        let mut rest = args[2..].iter();
        while let Some(k) = rest.next() {
            let Some(v) = rest.next() else {
                self.err(s, format!("'{k}' needs a value"));
                return None;
            };
            let bad = |what: &str| format!("'{v}' is not {what} for '{k}'");
            match k.as_str() {
                "id" => match v.parse::<u8>() {
                    Ok(n) => d.syncid = n,
                    Err(_) => self.err(s, bad("a sync id (0-255)")),
                },
                "maxlen" => match v.parse::<u16>() {
                    Ok(n) if (1..=65507).contains(&n) => d.maxlen = Some(n),
                    _ => self.err(s, bad("a length (1-65507)")),
                },
                "port" => match v.parse::<u16>() {
                    Ok(n) if n > 0 => d.port = Some(n),
                    _ => self.err(s, bad("a port (1-65535)")),
                },
                "ttl" => match v.parse::<u8>() {
                    Ok(n) if n > 0 => d.ttl = Some(n),
                    _ => self.err(s, bad("a TTL (1-255)")),
                },
                "group" => match v.parse::<std::net::IpAddr>() {
                    Ok(a) if a.is_multicast() => d.group = Some(a),
                    _ => self.err(s, bad("a multicast address")),
                },
                _ => {
                    self.err(
                        s,
                        format!("unknown option '{k}' (id, maxlen, port, ttl or group)"),
                    );
                    return None;
                }
            }
        }
        Some(d)
    }

    fn script_user(&mut self, s: &Stmt) -> Option<ScriptUser> {
        if s.block.is_some() || s.args().is_empty() || s.args().len() > 2 {
            self.err(s, "expected USER [GROUP]");
            return None;
        }
        Some(ScriptUser {
            user: s.args()[0].clone(),
            group: s.args().get(1).cloned(),
        })
    }

    fn name(&mut self, s: &Stmt) -> Option<String> {
        if s.args().len() != 1 {
            self.err(s, "expected exactly one name");
            return None;
        }
        Some(s.args()[0].clone())
    }

    fn vrrp_script(&mut self, s: &Stmt) -> Option<VrrpScript> {
        let name = self.name(s)?;
        let body = self.block(s)?;
        let mut v = VrrpScript {
            name,
            location: s.loc.clone(),
            script: String::new(),
            interval: Duration::from_secs(1),
            timeout: None,
            fall: 1,
            rise: 1,
            weight: 0,
            reverse: false,
            user: None,
            init_fail: false,
        };
        let mut have_script = false;
        for c in body {
            match c.keyword() {
                "script" => {
                    if let Some(a) = self.arg(c) {
                        v.script = a.to_string();
                        have_script = !a.trim().is_empty();
                    }
                }
                "interval" => {
                    if let Some(d) = self.seconds(c, false) {
                        v.interval = d;
                    }
                }
                "timeout" => v.timeout = self.seconds(c, false).or(v.timeout),
                "fall" => v.fall = self.num(c, 1, 1_000_000).unwrap_or(v.fall),
                "rise" => v.rise = self.num(c, 1, 1_000_000).unwrap_or(v.rise),
                "weight" => {
                    if let Some((w, r)) = self.weight(c) {
                        v.weight = w;
                        v.reverse = r;
                    }
                }
                "user" => v.user = self.script_user(c),
                "init_fail" => v.init_fail = self.flag(c),
                _ => self.unknown(c, "vrrp_script"),
            }
        }
        if !have_script {
            self.err(s, "has no 'script' to run");
        }
        Some(v)
    }

    /// `weight W [reverse]`.
    fn weight(&mut self, s: &Stmt) -> Option<(i32, bool)> {
        let a = s.args();
        let ok = s.block.is_none() && (a.len() == 1 || (a.len() == 2 && a[1] == "reverse"));
        let w = a.first().and_then(|w| w.parse::<i32>().ok());
        match w {
            Some(w) if ok && (-253..=253).contains(&w) => Some((w, a.len() == 2)),
            _ => {
                self.err(
                    s,
                    "expected a weight from -253 to 253, optionally followed by 'reverse'",
                );
                None
            }
        }
    }

    fn notify_kw(&mut self, s: &Stmt, n: &mut Notify) -> bool {
        let slot = match s.keyword() {
            "notify_master" => &mut n.master,
            "notify_backup" => &mut n.backup,
            "notify_fault" => &mut n.fault,
            "notify_stop" => &mut n.stop,
            "notify" => &mut n.any,
            _ => return false,
        };
        if s.block.is_some() || s.args().is_empty() {
            self.err(s, "expected a script command line");
        } else {
            // keepalived accepts the command quoted or as several words.
            *slot = Some(s.args().join(" "));
        }
        true
    }

    fn sync_group(&mut self, s: &Stmt) -> Option<SyncGroup> {
        let name = self.name(s)?;
        let body = self.block(s)?;
        let mut g = SyncGroup {
            name,
            location: s.loc.clone(),
            members: Vec::new(),
            notify: Notify::default(),
        };
        let mut have_group = false;
        for c in body {
            if self.notify_kw(c, &mut g.notify) {
                continue;
            }
            match c.keyword() {
                "group" => {
                    if let Some(b) = self.block(c) {
                        have_group = true;
                        for m in b {
                            if m.block.is_some() {
                                self.err(m, "unexpected block in group");
                            }
                            g.members.extend(m.words.iter().cloned());
                        }
                    }
                }
                "smtp_alert" | "global_tracking" | "sync_group_tracking_weight" => {
                    self.ignored.push((c.loc.clone(), c.keyword().into()))
                }
                _ => self.unknown(c, "vrrp_sync_group"),
            }
        }
        if !have_group || g.members.is_empty() {
            self.err(
                s,
                "needs a 'group { INSTANCE ... }' block with at least one instance",
            );
        }
        Some(g)
    }

    fn addresses(&mut self, s: &Stmt) -> Vec<VirtualAddress> {
        let Some(b) = self.block(s) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for line in b {
            if let Some(v) = self.vip(line) {
                out.push(v);
            }
        }
        out
    }

    fn vip(&mut self, s: &Stmt) -> Option<VirtualAddress> {
        if s.block.is_some() {
            self.err(s, "unexpected block in an address list");
            return None;
        }
        let first = s.keyword();
        let (addr_s, len_s) = match first.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (first, None),
        };
        let Ok(addr) = addr_s.parse::<IpAddr>() else {
            self.err(s, format!("'{first}' is not an address: expected ADDR[/LEN] [brd A] [dev IF] [scope S] [label L]"));
            return None;
        };
        let max = if addr.is_ipv6() { 128 } else { 32 };
        let prefix_len = match len_s {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => {
                    self.err(s, format!("bad prefix length '{l}' (0-{max})"));
                    return None;
                }
            },
        };
        let mut v = VirtualAddress {
            addr,
            prefix_len,
            brd: None,
            dev: None,
            scope: None,
            label: None,
            location: s.loc.clone(),
        };
        let rest = s.args();
        let mut i = 0;
        while i < rest.len() {
            let key = rest[i].as_str();
            let Some(val) = rest.get(i + 1) else {
                self.err(s, format!("'{key}' needs a value"));
                return None;
            };
            match key {
                "brd" | "broadcast" => match val.parse::<Ipv4Addr>() {
                    Ok(b) if addr.is_ipv4() => v.brd = Some(b),
                    _ => {
                        self.err(s, format!("bad broadcast address '{val}'"));
                        return None;
                    }
                },
                "dev" => v.dev = Some(val.clone()),
                "label" => {
                    if val.len() > 15 {
                        self.err(s, format!("label '{val}' is longer than 15 characters"));
                        return None;
                    }
                    v.label = Some(val.clone());
                }
                "scope" => match parse_scope(val) {
                    Some(sc) => v.scope = Some(sc),
                    None => {
                        self.err(s, format!("unknown scope '{val}' (global, site, link, host, nowhere or 0-255)"));
                        return None;
                    }
                },
                _ => {
                    self.err(
                        s,
                        format!("unknown address option '{key}' (brd, dev, scope, label)"),
                    );
                    return None;
                }
            }
            i += 2;
        }
        Some(v)
    }

    /// One `virtual_routes` line (keepalived's, which follows `ip route add`):
    /// `[src IP] [to] [unicast|blackhole|unreachable|prohibit] DEST|default [via|gw GW] [dev IF] [src IP]
    /// [metric|preference|priority N] [table T] [scope S] [proto|protocol P] [no_track]`.
    fn route(&mut self, s: &Stmt) -> Option<VirtualRoute> {
        const SHAPE: &str =
            "expected [to] [blackhole|unreachable|prohibit] DEST[/LEN]|default [via GW] [dev IF] \
                             [src IP] [metric N] [table T] [scope S] [proto P]";
        if s.block.is_some() {
            self.err(s, "unexpected block in virtual_routes");
            return None;
        }
        let mut dest: Option<(Option<IpAddr>, u8)> = None;
        let mut r = VirtualRoute {
            dest: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            prefix_len: 0,
            kind: RouteKind::Unicast,
            via: None,
            dev: None,
            src: None,
            metric: None,
            table: None,
            scope: None,
            protocol: None,
            location: s.loc.clone(),
        };
        let mut kind_seen = false;
        let words = &s.words;
        let mut i = 0;
        while i < words.len() {
            let w = words[i].as_str();
            let kind = match w {
                "unicast" => Some(RouteKind::Unicast),
                "blackhole" => Some(RouteKind::Blackhole),
                "unreachable" => Some(RouteKind::Unreachable),
                "prohibit" => Some(RouteKind::Prohibit),
                _ => None,
            };
            if let Some(k) = kind {
                if kind_seen || dest.is_some() {
                    self.err(
                        s,
                        format!("'{w}' must come once, before the destination; {SHAPE}"),
                    );
                    return None;
                }
                r.kind = k;
                kind_seen = true;
                i += 1;
                continue;
            }
            if w == "no_track" {
                // fulcrum never watches its routes, which is what no_track asks for.
                i += 1;
                continue;
            }
            let is_option = matches!(
                w,
                "to" | "via"
                    | "gw"
                    | "dev"
                    | "src"
                    | "metric"
                    | "preference"
                    | "priority"
                    | "table"
                    | "scope"
                    | "proto"
                    | "protocol"
            );
            if !is_option {
                // The destination, written without `to`.
                if dest.is_some() {
                    self.err(
                        s,
                        format!("unknown route option '{w}' (via, dev, src, metric, table, scope, proto, no_track)"),
                    );
                    return None;
                }
                dest = Some(self.route_dest(s, w)?);
                i += 1;
                continue;
            }
            let Some(val) = words.get(i + 1).map(String::as_str) else {
                self.err(s, format!("'{w}' needs a value"));
                return None;
            };
            let dup = match w {
                "to" => dest.is_some(),
                "via" | "gw" => r.via.is_some(),
                "dev" => r.dev.is_some(),
                "src" => r.src.is_some(),
                "metric" | "preference" | "priority" => r.metric.is_some(),
                "table" => r.table.is_some(),
                "scope" => r.scope.is_some(),
                _ => r.protocol.is_some(),
            };
            if dup {
                self.err(s, format!("'{w}' is given twice"));
                return None;
            }
            match w {
                "to" => dest = Some(self.route_dest(s, val)?),
                "via" | "gw" => match val.parse::<IpAddr>() {
                    Ok(a) => r.via = Some(a),
                    Err(_) => {
                        self.err(s, format!("'{val}' is not a gateway address"));
                        return None;
                    }
                },
                "dev" => r.dev = Some(val.to_string()),
                "src" => match val.parse::<IpAddr>() {
                    Ok(a) => r.src = Some(a),
                    Err(_) => {
                        self.err(s, format!("'{val}' is not a source address"));
                        return None;
                    }
                },
                "metric" | "preference" | "priority" => match val.parse::<u32>() {
                    Ok(n) => r.metric = Some(n),
                    Err(_) => {
                        self.err(s, format!("bad metric '{val}' (0-4294967295)"));
                        return None;
                    }
                },
                "table" => match parse_table(val) {
                    Some(t) => r.table = Some(t),
                    None => {
                        self.err(
                            s,
                            format!("unknown table '{val}' (main, local, default or 1-4294967295)"),
                        );
                        return None;
                    }
                },
                "scope" => match parse_scope(val) {
                    Some(sc) => r.scope = Some(sc),
                    None => {
                        self.err(s, format!("unknown scope '{val}' (global, site, link, host, nowhere or 0-255)"));
                        return None;
                    }
                },
                _ => match parse_route_protocol(val) {
                    Some(p) => r.protocol = Some(p),
                    None => {
                        self.err(s, format!("unknown route protocol '{val}' (boot, static, kernel, keepalived, ... or 0-255)"));
                        return None;
                    }
                },
            }
            i += 2;
        }
        let Some((addr, len)) = dest else {
            self.err(s, format!("no destination: {SHAPE}"));
            return None;
        };
        // `default` takes its family from the gateway or the source, else IPv4.
        let v6 = match addr {
            Some(a) => a.is_ipv6(),
            None => r.via.or(r.src).is_some_and(|a| a.is_ipv6()),
        };
        r.dest = addr.unwrap_or(if v6 {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        });
        r.prefix_len = len;
        for (what, a) in [("gateway", r.via), ("source", r.src)] {
            if let Some(a) = a {
                if a.is_ipv6() != v6 {
                    self.err(s, format!("{what} {a} is not of the destination's family"));
                    return None;
                }
            }
        }
        if r.kind != RouteKind::Unicast && (r.via.is_some() || r.dev.is_some()) {
            self.err(
                s,
                "a blackhole, unreachable or prohibit route takes no 'via' or 'dev'",
            );
            return None;
        }
        Some(r)
    }

    /// A route destination: `ADDR[/LEN]` or `default` (None: the family is decided later).
    fn route_dest(&mut self, s: &Stmt, w: &str) -> Option<(Option<IpAddr>, u8)> {
        if w == "default" {
            return Some((None, 0));
        }
        let (addr_s, len_s) = match w.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (w, None),
        };
        let Ok(addr) = addr_s.parse::<IpAddr>() else {
            self.err(
                s,
                format!("'{w}' is not a route destination (ADDR[/LEN] or default); options: via, dev, src, metric, table, scope, proto, blackhole, unreachable, prohibit"),
            );
            return None;
        };
        let max = if addr.is_ipv6() { 128 } else { 32 };
        match len_s {
            None => Some((Some(addr), max)),
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max => Some((Some(addr), n)),
                _ => {
                    self.err(s, format!("bad prefix length '{l}' (0-{max})"));
                    None
                }
            },
        }
    }

    fn vrrp_instance(&mut self, s: &Stmt, global: &GlobalDefs) -> Option<VrrpInstance> {
        let name = self.name(s)?;
        let body = self.block(s)?;
        let mut v = VrrpInstance {
            name,
            location: s.loc.clone(),
            state: None,
            interface: String::new(),
            virtual_router_id: 0,
            priority: 100,
            advert_int: Duration::from_secs(1),
            version: global.vrrp_version,
            preempt: true,
            preempt_delay: Duration::ZERO,
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            unicast_src_ip: None,
            unicast_peers: Vec::new(),
            mcast_src_ip: None,
            track_scripts: Vec::new(),
            track_interfaces: Vec::new(),
            notify: Notify::default(),
            authentication: None,
            garp_master_delay: None,
            garp_master_repeat: None,
            garp_master_refresh: None,
            garp_master_refresh_repeat: None,
            dont_track_primary: false,
            virtual_routes: Vec::new(),
            accept: true,
        };
        let mut advert_stmt: Option<&Stmt> = None;
        let mut accept: Option<bool> = None;
        let mut vrid_seen = false;
        // Where keywords that later checks name were written.
        let mut state_stmt: Option<&Stmt> = None;
        let mut version_stmt: Option<&Stmt> = None;
        let mut nopreempt_stmt: Option<&Stmt> = None;
        let mut unicast_stmt: Option<&Stmt> = None;
        let mut auth_stmt: Option<&Stmt> = None;
        let mut accept_stmt: Option<&Stmt> = None;
        let mut preempt_delay_stmt: Option<&Stmt> = None;
        let mut track_if_locs: Vec<Location> = Vec::new();
        for c in body {
            if self.notify_kw(c, &mut v.notify) {
                continue;
            }
            match c.keyword() {
                "state" => {
                    state_stmt = Some(c);
                    match self.arg(c) {
                        Some("MASTER") => v.state = Some(InitialState::Master),
                        Some("BACKUP") => v.state = Some(InitialState::Backup),
                        Some(o) => self.err(c, format!("expected MASTER or BACKUP, got '{o}'")),
                        None => {}
                    }
                }
                "interface" => {
                    if let Some(a) = self.arg(c) {
                        v.interface = a.to_string();
                    }
                }
                "virtual_router_id" => {
                    if let Some(n) = self.num::<u8>(c, 1, 255) {
                        v.virtual_router_id = n;
                        vrid_seen = true;
                    }
                }
                "priority" => v.priority = self.num(c, 1, 255).unwrap_or(v.priority),
                "advert_int" => {
                    if let Some(d) = self.seconds(c, false) {
                        v.advert_int = d;
                        advert_stmt = Some(c);
                    }
                }
                "version" => {
                    if let Some(n) = self.num(c, 2, 3) {
                        v.version = n;
                        version_stmt = Some(c);
                    }
                }
                "nopreempt" => {
                    if self.flag(c) {
                        v.preempt = false;
                        nopreempt_stmt = Some(c);
                    }
                }
                "preempt" => {
                    if self.flag(c) {
                        v.preempt = true;
                    }
                }
                "preempt_delay" => {
                    if let Some(d) = self.seconds(c, true) {
                        if d > Duration::from_secs(1000) {
                            self.err(c, "expected at most 1000 seconds");
                        } else {
                            v.preempt_delay = d;
                            preempt_delay_stmt = Some(c);
                        }
                    }
                }
                "virtual_ipaddress" => {
                    let a = self.addresses(c);
                    v.virtual_ipaddress.extend(a);
                }
                "virtual_ipaddress_excluded" => {
                    let a = self.addresses(c);
                    v.virtual_ipaddress_excluded.extend(a);
                }
                "virtual_routes" => {
                    if let Some(b) = self.block(c) {
                        for r in b {
                            if let Some(route) = self.route(r) {
                                v.virtual_routes.push(route);
                            }
                        }
                    }
                }
                "unicast_src_ip" => {
                    unicast_stmt = unicast_stmt.or(Some(c));
                    if let Some(a) = self.arg(c) {
                        v.unicast_src_ip = self.ip(c, a);
                    }
                }
                "mcast_src_ip" => {
                    if let Some(a) = self.arg(c) {
                        v.mcast_src_ip = self.ip(c, a);
                    }
                }
                "unicast_peer" => {
                    unicast_stmt = unicast_stmt.or(Some(c));
                    if let Some(b) = self.block(c) {
                        for p in b {
                            if let Some(ip) = self.unicast_peer(p) {
                                v.unicast_peers.push(ip);
                            }
                        }
                    }
                }
                "track_script" => {
                    if let Some(b) = self.block(c) {
                        for t in b {
                            if let Some(ts) = self.track_script(t) {
                                v.track_scripts.push(ts);
                            }
                        }
                    }
                }
                "track_interface" => {
                    if let Some(b) = self.block(c) {
                        for t in b {
                            if let Some(ti) = self.track_interface(t) {
                                if v.track_interfaces.iter().any(|o| o.name == ti.name) {
                                    self.warn_at(
                                        &t.loc,
                                        &ti.name,
                                        "is tracked twice: this line is not used",
                                    );
                                } else {
                                    track_if_locs.push(t.loc.clone());
                                    v.track_interfaces.push(ti);
                                }
                            }
                        }
                    }
                }
                "authentication" => {
                    auth_stmt = Some(c);
                    v.authentication = self.authentication(c);
                }
                "garp_master_delay" => {
                    v.garp_master_delay = self.num::<u64>(c, 0, 3600).map(Duration::from_secs)
                }
                "garp_master_repeat" => v.garp_master_repeat = self.num(c, 1, 255),
                "garp_master_refresh" => {
                    v.garp_master_refresh = self.num::<u64>(c, 0, 86400).map(Duration::from_secs)
                }
                "garp_master_refresh_repeat" => v.garp_master_refresh_repeat = self.num(c, 1, 255),
                "accept" => {
                    if self.flag(c) {
                        accept = Some(true);
                        accept_stmt = Some(c);
                    }
                }
                "no_accept" => {
                    if self.flag(c) {
                        accept = Some(false);
                    }
                }
                "use_vmac" => self.err(
                    c,
                    "not supported yet: fulcrum sends adverts and GARPs from the interface's own MAC address",
                ),
                "dont_track_primary" => v.dont_track_primary = self.flag(c),
                k if IGNORED_INSTANCE.contains(&k) => self.ignored.push((c.loc.clone(), k.into())),
                _ => self.unknown(c, "vrrp_instance"),
            }
        }
        // VRRPv2 carries IPv4 only: an IPv6 instance that does not say `version` runs VRRPv3 whatever vrrp_version
        // says, as keepalived does, silently. An explicit `version 2` is turned into 3 under vrrp_strict (keepalived
        // reports it); without vrrp_strict keepalived sends its own VRRPv2 over IPv6, which fulcrum does not speak.
        if v.is_ipv6() && v.version == 2 {
            match version_stmt {
                None => v.version = 3,
                Some(c) if global.vrrp_strict => {
                    self.warn_at(
                        &c.loc,
                        "version",
                        "VRRPv2 cannot carry IPv6 addresses under vrrp_strict: VRRPv3 is used",
                    );
                    v.version = 3;
                }
                Some(c) => self.err(
                    c,
                    "fulcrum runs IPv6 instances with VRRPv3 only (keepalived would send its non-standard VRRPv2 \
                     over IPv6): write 'version 3' or leave 'version' out",
                ),
            }
        }
        // keepalived: under vrrp_strict an instance that says neither accept nor no_accept drops traffic to its
        // addresses (the address owner, priority 255, always accepts it).
        v.accept = accept.unwrap_or(!global.vrrp_strict);
        // What keepalived corrects and reports (its -t fails) but runs with: fulcrum corrects it the same way.
        if let Some(c) = unicast_stmt {
            if v.unicast_peers.is_empty() {
                self.warn_at(
                    &c.loc,
                    c.keyword(),
                    "is given without any unicast peer: adverts are sent by multicast",
                );
            }
        }
        if v.version == 3 && v.authentication.is_some() {
            let loc = auth_stmt.map_or(&s.loc, |c| &c.loc).clone();
            self.warn_at(
                &loc,
                "authentication",
                "VRRPv3 has no authentication: it is not used",
            );
            v.authentication = None;
        }
        if global.vrrp_strict {
            if v.authentication.is_some() {
                let loc = auth_stmt.map_or(&s.loc, |c| &c.loc).clone();
                self.warn_at(
                    &loc,
                    "authentication",
                    "vrrp_strict allows no authentication: it is not used",
                );
                v.authentication = None;
            }
            if let (Some(c), Some(InitialState::Master)) = (state_stmt, v.state) {
                if v.priority != 255 {
                    self.warn_at(
                        &c.loc,
                        "state",
                        "under vrrp_strict only the address owner (priority 255) starts as MASTER: the instance \
                         starts as BACKUP",
                    );
                    v.state = Some(InitialState::Backup);
                }
            }
            if let Some(c) = preempt_delay_stmt.filter(|_| !v.preempt_delay.is_zero()) {
                self.warn_at(
                    &c.loc,
                    "preempt_delay",
                    "vrrp_strict allows no preempt_delay: it is not used",
                );
                v.preempt_delay = Duration::ZERO;
            }
            if let (Some(c), true) = (accept_stmt, v.version == 2) {
                self.warn_at(
                    &c.loc,
                    "accept",
                    "under vrrp_strict VRRPv2 (RFC 3768) has no accept mode: 'no_accept' is used",
                );
                v.accept = false;
            }
            if let Some(first) = v.virtual_ipaddress.first() {
                if let IpAddr::V6(a) = first.addr {
                    if (a.segments()[0] & 0xffc0) != 0xfe80 {
                        let loc = first.location.clone();
                        self.warn_at(
                            &loc,
                            "virtual_ipaddress",
                            "under vrrp_strict the first IPv6 address must be link-local (fe80::/10)",
                        );
                    }
                }
            }
        }
        if let (Some(c), Some(InitialState::Master)) = (nopreempt_stmt, v.state) {
            if !v.preempt {
                self.warn_at(
                    &c.loc,
                    "nopreempt",
                    "does not work with 'state MASTER': it is cleared, the instance preempts",
                );
                v.preempt = true;
            }
        }
        if let Some(c) = preempt_delay_stmt.filter(|_| !v.preempt && !v.preempt_delay.is_zero()) {
            self.warn_at(
                &c.loc,
                "preempt_delay",
                "has no effect with 'nopreempt': it is not used",
            );
            v.preempt_delay = Duration::ZERO;
        }
        if let Some(k) = v
            .track_interfaces
            .iter()
            .position(|t| t.name == v.interface)
        {
            self.warn_at(
                &track_if_locs[k],
                &v.interface,
                "is the instance's own interface: this track_interface line is not used",
            );
            v.track_interfaces.remove(k);
        }
        // Per-instance validation.
        if v.interface.is_empty() {
            self.err(s, "needs an 'interface'");
        }
        if !vrid_seen {
            self.err(s, "needs a 'virtual_router_id' (1-255)");
        }
        if v.virtual_ipaddress.is_empty() {
            self.err(
                s,
                "needs a 'virtual_ipaddress' block with at least one address",
            );
        }
        let v6 = v.is_ipv6();
        let all: Vec<&VirtualAddress> = v.virtual_ipaddress.iter().collect();
        for a in all {
            if a.addr.is_ipv6() != v6 {
                let loc = a.location.clone();
                self.err_at(&loc, "virtual_ipaddress", "mixes IPv4 and IPv6 addresses (use virtual_ipaddress_excluded for the other family)");
            }
        }
        if let Some(c) = advert_stmt {
            let cs = v.advert_int.as_millis() / 10;
            if v.version == 2
                && (v.advert_int.subsec_nanos() != 0 || v.advert_int > Duration::from_secs(255))
            {
                self.err(c, "VRRPv2 needs whole seconds from 1 to 255");
            } else if v.version == 3 && !(1..=4095).contains(&cs) {
                self.err(c, "VRRPv3 needs 0.01 to 40.95 seconds");
            }
        }
        for p in v
            .unicast_peers
            .iter()
            .chain(&v.unicast_src_ip)
            .chain(&v.mcast_src_ip)
        {
            if !v.virtual_ipaddress.is_empty() && p.is_ipv6() != v6 {
                self.err(s, format!("address {p} is not of the instance's family"));
            }
        }
        Some(v)
    }

    /// One `unicast_peer` line: `ADDR [min_ttl N] [max_ttl N]`. fulcrum does not check the TTL of unicast adverts,
    /// so the limits are checked and listed as ignored.
    fn unicast_peer(&mut self, p: &Stmt) -> Option<IpAddr> {
        if p.block.is_some() {
            self.err(p, "unexpected block in unicast_peer");
            return None;
        }
        let ip = self.ip(p, p.keyword())?;
        let (mut min, mut max) = (None, None);
        let a = p.args();
        let mut i = 0;
        while i < a.len() {
            let k = a[i].as_str();
            if k != "min_ttl" && k != "max_ttl" {
                self.err(
                    p,
                    format!("unknown unicast_peer option '{k}' (min_ttl, max_ttl)"),
                );
                return None;
            }
            let Some(val) = a.get(i + 1) else {
                self.err(p, format!("'{k}' needs a value"));
                return None;
            };
            let Ok(n) = val.parse::<u8>() else {
                self.err(
                    p,
                    format!("{k}: expected an integer from 0 to 255, got '{val}'"),
                );
                return None;
            };
            if k == "min_ttl" {
                min = Some(n);
            } else {
                max = Some(n);
            }
            self.ignored.push((p.loc.clone(), k.into()));
            i += 2;
        }
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                self.warn_at(
                    &p.loc,
                    p.keyword(),
                    format!(
                        "min_ttl {lo} is above max_ttl {hi}: keepalived would discard every advert of this peer"
                    ),
                );
            }
        }
        Some(ip)
    }

    fn track_script(&mut self, t: &Stmt) -> Option<TrackScript> {
        if t.block.is_some() {
            self.err(t, "unexpected block in track_script");
            return None;
        }
        let a = t.args();
        let (weight, reverse) = match a.len() {
            0 => (None, false),
            2 | 3 if a[0] == "weight" => {
                let w = a[1]
                    .parse::<i32>()
                    .ok()
                    .filter(|w| (-253..=253).contains(w));
                let rev_ok = a.len() == 2 || a[2] == "reverse";
                match w {
                    Some(w) if rev_ok => (Some(w), a.len() == 3),
                    _ => {
                        self.err(
                            t,
                            "expected NAME [weight W [reverse]] with W from -253 to 253",
                        );
                        return None;
                    }
                }
            }
            _ => {
                self.err(t, "expected NAME [weight W [reverse]]");
                return None;
            }
        };
        Some(TrackScript {
            name: t.keyword().to_string(),
            weight,
            reverse,
            location: t.loc.clone(),
        })
    }

    fn track_interface(&mut self, t: &Stmt) -> Option<TrackInterface> {
        let a = t.args();
        let ok_shape = t.block.is_none()
            && (a.is_empty() || ((a.len() == 2 || a.len() == 3) && a[0] == "weight"));
        let weight = if a.is_empty() {
            Some(0)
        } else {
            a.get(1)
                .and_then(|w| w.parse::<i32>().ok())
                .filter(|w| (-254..=254).contains(w))
        };
        let reverse = a.len() == 3 && a[2] == "reverse";
        match weight {
            Some(weight) if ok_shape && (a.len() != 3 || reverse) => Some(TrackInterface {
                name: t.keyword().to_string(),
                weight,
                reverse,
            }),
            _ => {
                self.err(
                    t,
                    "expected INTERFACE [weight W [reverse]] with W from -254 to 254",
                );
                None
            }
        }
    }

    fn authentication(&mut self, s: &Stmt) -> Option<Authentication> {
        let body = self.block(s)?;
        let mut kind = None;
        let mut pass = None;
        for c in body {
            match c.keyword() {
                "auth_type" => match self.arg(c) {
                    Some("PASS") => kind = Some(true),
                    Some("AH") => kind = Some(false),
                    Some(o) => self.err(c, format!("expected PASS or AH, got '{o}'")),
                    None => {}
                },
                "auth_pass" => {
                    if let Some(p) = self.arg(c) {
                        // keepalived keeps the first 8 bytes, and reports it.
                        if p.len() > 8 {
                            self.warn_at(
                                &c.loc,
                                "auth_pass",
                                "is longer than 8 characters: only the first 8 are used",
                            );
                        }
                        let mut end = p.len().min(8);
                        while !p.is_char_boundary(end) {
                            end -= 1;
                        }
                        pass = Some(p[..end].to_string());
                    }
                }
                _ => self.unknown(c, "authentication"),
            }
        }
        match (kind, pass) {
            (Some(true), Some(p)) => Some(Authentication::Pass(p)),
            (Some(false), Some(p)) => Some(Authentication::Ah(p)),
            (None, _) => {
                self.err(s, "needs 'auth_type PASS|AH'");
                None
            }
            (Some(_), None) => {
                self.err(s, "needs 'auth_pass'");
                None
            }
        }
    }

    fn validate(
        &mut self,
        scripts: &[VrrpScript],
        instances: &[VrrpInstance],
        groups: &[SyncGroup],
    ) {
        let mut names = HashSet::new();
        for sc in scripts {
            if !names.insert(sc.name.as_str()) {
                self.err_at(
                    &sc.location,
                    "vrrp_script",
                    format!("'{}' is defined twice", sc.name),
                );
            }
        }
        let mut inames = HashSet::new();
        let mut vrids: HashMap<(String, u8, bool), &str> = HashMap::new();
        for i in instances {
            if !inames.insert(i.name.as_str()) {
                self.err_at(
                    &i.location,
                    "vrrp_instance",
                    format!("'{}' is defined twice", i.name),
                );
            }
            if !i.interface.is_empty() && i.virtual_router_id != 0 {
                let key = (i.interface.clone(), i.virtual_router_id, i.is_ipv6());
                if let Some(other) = vrids.insert(key, &i.name) {
                    self.err_at(
                        &i.location,
                        "virtual_router_id",
                        format!(
                            "VRID {} on {} is also used by instance '{other}'",
                            i.virtual_router_id, i.interface
                        ),
                    );
                }
            }
            for t in &i.track_scripts {
                if !names.contains(t.name.as_str()) {
                    self.err_at(
                        &t.location,
                        "track_script",
                        format!("no vrrp_script named '{}'", t.name),
                    );
                }
            }
        }
        let mut member_of: HashMap<&str, &str> = HashMap::new();
        for g in groups {
            for m in &g.members {
                if !inames.contains(m.as_str()) {
                    self.err_at(
                        &g.location,
                        "vrrp_sync_group",
                        format!("no vrrp_instance named '{m}'"),
                    );
                } else if let Some(other) = member_of.insert(m, &g.name) {
                    self.err_at(
                        &g.location,
                        "vrrp_sync_group",
                        format!("instance '{m}' is already in group '{other}'"),
                    );
                }
            }
        }
    }
}

/// Decimal seconds: `3`, `0.5`, `1.25` (at most microsecond precision).
fn parse_seconds(s: &str) -> Option<Duration> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 6
    {
        return None;
    }
    let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    if secs > 1_000_000 {
        return None;
    }
    let micros: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().ok()?
    };
    Some(Duration::from_secs(secs) + Duration::from_micros(micros))
}

/// rtnetlink scope names as `ip` spells them, or a number.
fn parse_scope(s: &str) -> Option<u8> {
    match s {
        "global" | "universe" => Some(0),
        "site" => Some(200),
        "link" => Some(253),
        "host" => Some(254),
        "nowhere" => Some(255),
        n => n.parse().ok(),
    }
}

/// Routing table names as `ip route` knows them without /etc/iproute2, or a number.
fn parse_table(s: &str) -> Option<u32> {
    match s {
        "main" => Some(254),
        "local" => Some(255),
        "default" => Some(253),
        n => n.parse().ok().filter(|&t| t != 0),
    }
}

/// Route protocol names of iproute2's rt_protos, or a number.
fn parse_route_protocol(s: &str) -> Option<u8> {
    let n = match s {
        "redirect" => 1,
        "kernel" => 2,
        "boot" => 3,
        "static" => 4,
        "gated" => 8,
        "ra" => 9,
        "mrt" => 10,
        "zebra" => 11,
        "bird" => 12,
        "dnrouted" => 13,
        "xorp" => 14,
        "ntk" => 15,
        "dhcp" => 16,
        "keepalived" => 18,
        "babel" => 42,
        "bgp" => 186,
        "isis" => 187,
        "ospf" => 188,
        "rip" => 189,
        "eigrp" => 192,
        n => return n.parse().ok(),
    };
    Some(n)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_seconds("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_seconds(".25"), Some(Duration::from_millis(250)));
        assert_eq!(parse_seconds("1.05"), Some(Duration::from_millis(1050)));
        assert_eq!(parse_seconds("x"), None);
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("."), None);
    }

    #[test]
    fn scopes() {
        assert_eq!(parse_scope("link"), Some(253));
        assert_eq!(parse_scope("17"), Some(17));
        assert_eq!(parse_scope("bogus"), None);
    }
}
