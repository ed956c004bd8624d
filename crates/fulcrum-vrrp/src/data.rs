//! keepalived's data dump (`/tmp/keepalived.data`, written on SIGUSR1), for what fulcrum's VRRP job has: the
//! global definitions it honours and, per instance, its state, when it last changed, where it sends adverts, its
//! priorities, timers, authentication and addresses.
//!
//! Every line written here is a line keepalived 2.2.7 writes for the same configuration and state, with the same
//! spelling and indentation, so tools that read keepalived's file (exporters, scripts grepping `State = MASTER`)
//! read fulcrum's. keepalived also writes the internals of its own implementation (descriptors, socket pools,
//! process priorities, SNMP and D-Bus settings, per-interface kernel settings); those lines have no meaning for
//! fulcrum and are left out rather than made up.

use std::fmt::Write;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::codec::Auth;
use crate::instance::GarpSchedule;

/// The `global_defs` settings the dump shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalView {
    /// `router_id` (keepalived shows the host name when it is not set).
    pub router_id: String,
    /// `vrrp_mcast_group4`
    pub mcast_group4: IpAddr,
    /// `vrrp_mcast_group6`
    pub mcast_group6: IpAddr,
    /// `vrrp_version`
    pub version: u8,
    /// `vrrp_strict`
    pub strict: bool,
}

/// One instance as the dump shows it.
#[derive(Debug, Clone)]
pub struct InstanceView<'a> {
    /// Its name.
    pub name: &'a str,
    /// VRRP version, 2 or 3.
    pub version: u8,
    /// `MASTER`, `BACKUP`, `FAULT`...
    pub state: &'a str,
    /// When the state last changed (the start when it never did).
    pub last_transition: SystemTime,
    /// Why it last changed, in words.
    pub last_reason: &'a str,
    /// The interface adverts go out of.
    pub interface: &'a str,
    /// The source address of adverts.
    pub src: IpAddr,
    /// Whether `src` was configured (`unicast_src_ip` / `mcast_src_ip`) rather than taken from the interface.
    pub src_configured: bool,
    /// The multicast group, or `None` with unicast peers.
    pub group: Option<IpAddr>,
    /// The unicast peers.
    pub peers: &'a [IpAddr],
    /// Gratuitous ARP settings.
    pub garp: GarpSchedule,
    /// The VRID.
    pub vrid: u8,
    /// The configured priority.
    pub priority: u8,
    /// The priority after tracking.
    pub effective_priority: u8,
    /// `advert_int`
    pub advert_interval: Duration,
    /// `accept`
    pub accept: bool,
    /// `preempt` (not `nopreempt`)
    pub preempt: bool,
    /// Authentication.
    pub auth: &'a Auth,
    /// `virtual_ipaddress`: address, prefix length, device, scope, and whether it is set on the system now.
    pub vips: Vec<Vip<'a>>,
    /// `virtual_ipaddress_excluded`, as `vips`.
    pub evips: Vec<Vip<'a>>,
    /// `dont_track_primary`
    pub dont_track_primary: bool,
    /// `vrrp_strict` (global)
    pub strict: bool,
    /// The priority of the master last obeyed as a backup (0 before any).
    pub master_priority: u8,
    /// The master's advert interval as known here.
    pub master_advert_interval: Duration,
    /// `preempt_delay`
    pub preempt_delay: Duration,
    /// `track_interface` names.
    pub track_interfaces: Vec<&'a str>,
    /// `track_script` command lines, as keepalived shows them (see [`script_words`]).
    pub track_scripts: Vec<String>,
    /// The counters.
    pub stats: &'a crate::stats::InstanceStats,
}

/// A virtual address: address, prefix length, device, scope, and whether it is set on the system now.
pub type Vip<'a> = (IpAddr, u8, &'a str, u8, bool);

/// A virtual address as keepalived writes it in both dumps: `ADDR[/LEN] dev DEV scope SCOPE[ set]` (no prefix
/// length when it is the whole address).
pub fn vip_text(&(addr, prefix, dev, scope, set): &Vip<'_>) -> String {
    let full = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = if prefix == full {
        String::new()
    } else {
        format!("/{prefix}")
    };
    let set = if set { " set" } else { "" };
    format!("{addr}{prefix} dev {dev} scope {}{set}", scope_name(scope))
}

/// A script's command line as keepalived shows it: each word in single quotes, the program as its real path
/// (`/bin/true` is `'/usr/bin/true'` where `/bin` links to `/usr/bin`).
pub fn script_words(command: &str) -> String {
    command
        .split_whitespace()
        .enumerate()
        .map(|(k, w)| {
            let w = if k == 0 {
                std::fs::canonicalize(w)
                    .ok()
                    .and_then(|p| p.to_str().map(str::to_string))
                    .unwrap_or_else(|| w.to_string())
            } else {
                w.to_string()
            };
            format!("'{w}'")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The dump's text.
pub fn render(global: &GlobalView, instances: &[InstanceView<'_>]) -> String {
    let mut out = String::new();
    let o = &mut out;
    let _ = writeln!(o, "------< Global definitions >------");
    let _ = writeln!(o, " Router ID = {}", global.router_id);
    let _ = writeln!(o, " VRRP IPv4 mcast group = {}", global.mcast_group4);
    let _ = writeln!(o, " VRRP IPv6 mcast group = {}", global.mcast_group6);
    let _ = writeln!(o, " VRRP default protocol version = {}", global.version);
    let _ = writeln!(o, " VRRP strict mode = {}", global.strict);
    let _ = writeln!(o, "------< VRRP Topology >------");
    for i in instances {
        instance(o, i);
    }
    out
}

fn on_off(b: bool) -> &'static str {
    if b {
        "enabled"
    } else {
        "disabled"
    }
}

fn instance(o: &mut String, i: &InstanceView<'_>) {
    let _ = writeln!(o, " VRRP Instance = {}", i.name);
    let _ = writeln!(o, "   VRRP Version = {}", i.version);
    let _ = writeln!(o, "   State = {}", i.state);
    let _ = writeln!(o, "   Wantstate = {}", i.state);
    let _ = writeln!(o, "   Last transition = {}", timestamp(i.last_transition));
    let _ = writeln!(o, "   Interface = {}", i.interface);
    let from = if i.src_configured {
        " (from configuration)"
    } else {
        ""
    };
    let _ = writeln!(o, "   Using src_ip = {}{from}", i.src);
    if let Some(g) = i.group {
        let _ = writeln!(o, "   Multicast address {g}");
    }
    let _ = writeln!(o, "   Gratuitous ARP delay = {}", i.garp.delay.as_secs());
    let _ = writeln!(o, "   Gratuitous ARP repeat = {}", i.garp.repeat);
    let _ = writeln!(
        o,
        "   Gratuitous ARP refresh = {}",
        i.garp.refresh.map_or(0, |d| d.as_secs())
    );
    let _ = writeln!(
        o,
        "   Gratuitous ARP refresh repeat = {}",
        i.garp.refresh_repeat
    );
    let _ = writeln!(o, "   Virtual Router ID = {}", i.vrid);
    let _ = writeln!(o, "   Priority = {}", i.priority);
    let _ = writeln!(o, "   Effective priority = {}", i.effective_priority);
    let _ = writeln!(
        o,
        "   Advert interval = {}",
        interval(i.version, i.advert_interval)
    );
    let _ = writeln!(o, "   Accept = {}", on_off(i.accept));
    let _ = writeln!(o, "   Preempt = {}", on_off(i.preempt));
    match i.auth {
        Auth::None => {
            let _ = writeln!(o, "   Authentication type = none");
        }
        Auth::Pass(p) => {
            let _ = writeln!(o, "   Authentication type = SIMPLE_PASSWORD");
            let end = p.iter().position(|&c| c == 0).unwrap_or(p.len());
            let _ = writeln!(o, "   Password = {}", String::from_utf8_lossy(&p[..end]));
        }
        Auth::Ah(_) => {
            let _ = writeln!(o, "   Authentication type = IPSEC_AH");
        }
    }
    let _ = writeln!(o, "   Virtual IP ({}):", i.vips.len());
    for v in &i.vips {
        let _ = writeln!(o, "     {}", vip_text(v));
    }
    if i.group.is_none() {
        let _ = writeln!(o, "   Unicast Peer :");
        for p in i.peers {
            let _ = writeln!(o, "     {p} min_ttl 0 max_ttl 255");
        }
    }
}

/// keepalived's interval: whole seconds rounded up for VRRPv2 (`3 sec` for 2.5 s), milliseconds for v3.
pub(crate) fn interval(version: u8, d: Duration) -> String {
    if version == 2 {
        let ms = d.as_millis();
        format!("{} sec", ms.div_ceil(1000))
    } else {
        format!("{} milli-sec", d.as_millis())
    }
}

fn scope_name(scope: u8) -> String {
    match scope {
        0 => "global".into(),
        200 => "site".into(),
        253 => "link".into(),
        254 => "host".into(),
        255 => "nowhere".into(),
        n => n.to_string(),
    }
}

/// `SECS.USECS (Www Mmm dd HH:MM:SS.USECS YYYY)` in local time, as keepalived writes times.
pub(crate) fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let usec = d.subsec_micros();
    let mut tm: libc::tm = unsafe_zeroed_tm();
    let raw = secs as libc::time_t;
    // SAFETY: `localtime_r` reads `raw` and writes the whole of `tm`, both valid for the call.
    let ok = !unsafe { libc::localtime_r(&raw, &mut tm) }.is_null();
    if !ok {
        return format!("{secs}.{usec:06}");
    }
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{secs}.{usec:06} ({} {} {:2} {:02}:{:02}:{:02}.{usec:06} {})",
        DAYS[tm.tm_wday.clamp(0, 6) as usize],
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_year + 1900
    )
}

fn unsafe_zeroed_tm() -> libc::tm {
    // SAFETY: `tm` is plain integers (and, on glibc, a pointer that may be null): all zeroes is a valid value.
    unsafe { std::mem::zeroed() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_scopes_as_keepalived_writes_them() {
        assert_eq!(interval(2, Duration::from_millis(2500)), "3 sec");
        assert_eq!(interval(2, Duration::from_secs(1)), "1 sec");
        assert_eq!(interval(3, Duration::from_millis(500)), "500 milli-sec");
        assert_eq!(scope_name(0), "global");
        assert_eq!(scope_name(253), "link");
    }

    #[test]
    fn an_instance_block() {
        let auth = Auth::pass("secret");
        let peers = ["198.18.0.2".parse().unwrap()];
        let v = InstanceView {
            name: "VI_2",
            version: 2,
            state: "BACKUP",
            last_transition: SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_469_728_334_654),
            last_reason: "started",
            interface: "veth0",
            src: "198.18.0.1".parse().unwrap(),
            src_configured: true,
            group: None,
            peers: &peers,
            garp: GarpSchedule::default(),
            vrid: 52,
            priority: 50,
            effective_priority: 50,
            advert_interval: Duration::from_millis(2500),
            accept: true,
            preempt: false,
            auth: &auth,
            vips: vec![
                ("198.18.0.101".parse().unwrap(), 24, "veth0", 0, false),
                ("198.18.0.102".parse().unwrap(), 32, "veth0", 0, true),
            ],
            evips: vec![],
            dont_track_primary: false,
            strict: false,
            master_priority: 0,
            master_advert_interval: Duration::from_millis(2500),
            preempt_delay: Duration::ZERO,
            track_interfaces: vec![],
            track_scripts: vec![],
            stats: &crate::stats::InstanceStats::default(),
        };
        let mut s = String::new();
        instance(&mut s, &v);
        for line in [
            " VRRP Instance = VI_2\n",
            "   State = BACKUP\n",
            "   Using src_ip = 198.18.0.1 (from configuration)\n",
            "   Advert interval = 3 sec\n",
            "   Preempt = disabled\n",
            "   Password = secret\n",
            "   Virtual IP (2):\n     198.18.0.101/24 dev veth0 scope global\n     198.18.0.102 dev veth0 scope global set\n",
            "   Unicast Peer :\n     198.18.0.2 min_ttl 0 max_ttl 255\n",
        ] {
            assert!(s.contains(line), "{line:?} in\n{s}");
        }
        assert!(
            s.contains("   Last transition = 1796469728.334654 ("),
            "{s}"
        );
    }
}
