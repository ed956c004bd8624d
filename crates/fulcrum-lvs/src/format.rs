//! ipvsadm's output formats, byte for byte: `-L` (plain, `--stats`, `--rate`, `--thresholds`,
//! `--persistent-conn`, `--tun-info`, `--exact`), `-c`, `--timeout` and `-S`.

use crate::addr::{format_addr_port, Names};
use crate::args::ListFormat;
use crate::model::{
    Forward, Protocol, RealServer, Service, ServiceKey, Table, Timeouts, TunCsum, TunType,
    IPVS_TABLE_SIZE, IPVS_VERSION,
};
use std::fmt::Write as _;
use std::net::IpAddr;

/// A counter as ipvsadm prints it: 9 columns below 10^8, else 8 columns and a K/M/G/T suffix
/// (dividing by 1000 each step); with `exact`, every digit in at least 9 columns.
pub fn largenum(i: u64, exact: bool) -> String {
    if exact {
        let len = i.to_string().len();
        let width = if len <= 8 { 9 } else { len + 1 };
        return format!("{i:>width$}");
    }
    if i < 100_000_000 {
        format!("{i:>9}")
    } else if i < 1_000_000_000 {
        format!("{:>8}K", i / 1_000)
    } else if i < 1_000_000_000_000 {
        format!("{:>8}M", i / 1_000_000)
    } else if i < 1_000_000_000_000_000 {
        format!("{:>8}G", i / 1_000_000_000)
    } else {
        format!("{:>8}T", i / 1_000_000_000_000)
    }
}

/// The version header printed before a listing of the whole table.
pub fn version_header() -> String {
    format!("IP Virtual Server version {IPVS_VERSION} (size={IPVS_TABLE_SIZE})\n")
}

/// The column titles of a listing.
pub fn title(f: &ListFormat) -> String {
    let remote = "  -> RemoteAddress:Port\n";
    if f.stats {
        format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{remote}",
            "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        )
    } else if f.rate {
        format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{remote}",
            "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        )
    } else if f.thresholds {
        format!(
            "{:<33} {:<10} {:<10} {:<10} {:<10}\n{remote}",
            "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        )
    } else if f.persistent_conn {
        format!(
            "{:<33} {:<9} {:<11} {:<10} {:<10}\n{remote}",
            "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn"
        )
    } else if f.tun_info {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n".to_string()
    } else {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n".to_string()
    }
}

fn truncate(mut s: String, n: usize) -> String {
    if s.len() > n {
        let mut cut = n;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

fn service_name(s: &Service, rule: bool, numeric: bool, names: &dyn Names) -> String {
    match s.key {
        ServiceKey::Fwmark { mark, ipv6 } => match (rule, ipv6) {
            (true, true) => format!("-f {mark} -6"),
            (true, false) => format!("-f {mark}"),
            (false, true) => format!("FWM  {mark} IPv6"),
            (false, false) => format!("FWM  {mark}"),
        },
        ServiceKey::Addr { proto, addr, port } => {
            let v = format_addr_port(addr, port, Some(proto), numeric, names);
            if rule {
                format!("{} {v}", proto.switch())
            } else {
                let n = format!("{:<4} {v}", proto.label());
                if addr.is_ipv6() {
                    n
                } else {
                    truncate(n, 33)
                }
            }
        }
    }
}

fn dest_name(s: &Service, d: &RealServer, rule: bool, numeric: bool, names: &dyn Names) -> String {
    let n = format_addr_port(d.addr, d.port, s.key.protocol(), numeric, names);
    if !rule && !d.addr.is_ipv6() {
        truncate(n, 28)
    } else {
        n
    }
}

fn sorted_dests(s: &Service, nosort: bool) -> Vec<&RealServer> {
    let mut v: Vec<&RealServer> = s.dests.iter().collect();
    if !nosort {
        v.sort_by_key(|d| (d.addr.is_ipv6(), d.addr, d.port));
    }
    v
}

fn csum_name(c: TunCsum) -> &'static str {
    match c {
        TunCsum::NoCsum => "nocsum",
        TunCsum::Csum => "csum",
        TunCsum::RemCsum => "remcsum",
    }
}

fn tun_info(d: &RealServer) -> String {
    if d.forward != Forward::Tunnel {
        return "n/a".into();
    }
    match d.tunnel.kind {
        TunType::Ipip => "ipip".into(),
        TunType::Gue => format!("gue:{}:{}", d.tunnel.port, csum_name(d.tunnel.csum)),
        TunType::Gre => format!("gre:{}", csum_name(d.tunnel.csum)),
    }
}

/// One service and its real servers in listing format `f`.
pub fn service_entry(s: &Service, f: &ListFormat, names: &dyn Names) -> String {
    let mut out = String::new();
    let name = service_name(s, false, f.numeric, names);
    let st = &s.observed.stats;
    let rt = &s.observed.rates;
    let ln = |v: u64| largenum(v, f.exact);
    if f.stats {
        let _ = writeln!(
            out,
            "{name:<33}{}{}{}{}{}",
            ln(st.conns),
            ln(st.inpkts),
            ln(st.outpkts),
            ln(st.inbytes),
            ln(st.outbytes)
        );
    } else if f.rate {
        let _ = writeln!(
            out,
            "{name:<33}{}{}{}{}{}",
            ln(rt.cps),
            ln(rt.inpps),
            ln(rt.outpps),
            ln(rt.inbps),
            ln(rt.outbps)
        );
    } else {
        let _ = write!(out, "{name} {}", s.scheduler);
        if s.flags.any_sched() {
            let _ = write!(out, " ({})", s.flags.sched_names(&s.scheduler));
        }
        if s.flags.persistent {
            let _ = write!(out, " persistent {}", s.timeout);
            if !s.netmask.is_default() {
                let _ = write!(out, " mask {}", s.netmask);
            }
        }
        if let Some(pe) = &s.pe {
            let _ = write!(out, " pe {pe}");
        }
        if s.flags.one_packet {
            out.push_str(" ops");
        }
        out.push('\n');
    }
    for d in sorted_dests(s, f.nosort) {
        let dn = dest_name(s, d, false, f.numeric, names);
        let o = &d.observed;
        if f.stats {
            let st = &o.stats;
            let _ = writeln!(
                out,
                "  -> {dn:<28}{}{}{}{}{}",
                ln(st.conns),
                ln(st.inpkts),
                ln(st.outpkts),
                ln(st.inbytes),
                ln(st.outbytes)
            );
        } else if f.rate {
            let r = &o.rates;
            let _ = writeln!(
                out,
                "  -> {dn:<28} {:>8} {:>8} {:>8}{}{}",
                r.cps,
                r.inpps,
                r.outpps,
                ln(r.inbps),
                ln(r.outbps)
            );
        } else if f.thresholds {
            let _ = writeln!(
                out,
                "  -> {dn:<28} {:<10} {:<10} {:<10} {:<10}",
                d.u_threshold, d.l_threshold, o.active, o.inactive
            );
        } else if f.persistent_conn {
            let _ = writeln!(
                out,
                "  -> {dn:<28} {:<9} {:<11} {:<10} {:<10}",
                d.weight, o.persist, o.active, o.inactive
            );
        } else if f.tun_info {
            let _ = writeln!(
                out,
                "  -> {dn:<28} {:<7} {:<13} {:<6} {:<10} {:<10}",
                d.forward.label(),
                tun_info(d),
                d.weight,
                o.active,
                o.inactive
            );
        } else {
            let _ = writeln!(
                out,
                "  -> {dn:<28} {:<7} {:<6} {:<10} {:<10}",
                d.forward.label(),
                d.weight,
                o.active,
                o.inactive
            );
        }
    }
    out
}

fn sorted_services(t: &Table, nosort: bool) -> Vec<&Service> {
    let mut v: Vec<&Service> = t.services.iter().collect();
    if !nosort {
        v.sort_by(|a, b| a.key.sort_cmp(&b.key));
    }
    v
}

/// `ipvsadm -L`: the version header, the titles and every service.
pub fn list_all(t: &Table, f: &ListFormat, names: &dyn Names) -> String {
    let mut out = version_header();
    out.push_str(&title(f));
    for s in sorted_services(t, f.nosort) {
        out.push_str(&service_entry(s, f, names));
    }
    out
}

/// `ipvsadm -L -t ...`: the titles and one service.
pub fn list_service(s: &Service, f: &ListFormat, names: &dyn Names) -> String {
    let mut out = title(f);
    out.push_str(&service_entry(s, f, names));
    out
}

/// `ipvsadm -L --timeout`.
pub fn timeouts(t: &Timeouts) -> String {
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}\n",
        t.tcp, t.tcpfin, t.udp
    )
}

/// `ipvsadm -S`: the table as `-R` input.
pub fn save(t: &Table, numeric: bool, names: &dyn Names) -> String {
    let mut out = String::new();
    for s in sorted_services(t, false) {
        let name = service_name(s, true, numeric, names);
        let _ = write!(out, "-A {name} -s {}", s.scheduler);
        if s.flags.persistent {
            let _ = write!(out, " -p {}", s.timeout);
            if !s.netmask.is_default() {
                let _ = write!(out, " -M {}", s.netmask);
            }
        }
        if let Some(pe) = &s.pe {
            let _ = write!(out, " --pe {pe}");
        }
        if s.flags.one_packet {
            out.push_str(" -o");
        }
        if s.flags.any_sched() {
            let _ = write!(out, " -b {}", s.flags.sched_names(&s.scheduler));
        }
        out.push('\n');
        for d in sorted_dests(s, false) {
            let dn = dest_name(s, d, true, numeric, names);
            let _ = write!(
                out,
                "-a {name} -r {dn} {} -w {}",
                d.forward.switch(),
                d.weight
            );
            if d.forward == Forward::Tunnel {
                let tt = d.tunnel.kind.name();
                match d.tunnel.kind {
                    TunType::Ipip => {
                        let _ = write!(out, " --tun-type {tt}");
                    }
                    TunType::Gue => {
                        let _ = write!(
                            out,
                            " --tun-type {tt} --tun-port {} {}",
                            d.tunnel.port,
                            d.tunnel.csum.switch()
                        );
                    }
                    TunType::Gre => {
                        let _ = write!(out, " --tun-type {tt} {}", d.tunnel.csum.switch());
                    }
                }
            }
            out.push('\n');
        }
    }
    out
}

/// One entry of the connection table (`-c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnEntry {
    /// Protocol.
    pub proto: Protocol,
    /// Seconds until the entry expires.
    pub expire: u64,
    /// State name (`ESTABLISHED`, `TIME_WAIT`, ..., `UDP`).
    pub state: String,
    /// Client address and port.
    pub client: (IpAddr, u16),
    /// Virtual address and port.
    pub virt: (IpAddr, u16),
    /// Real server address and port.
    pub dest: (IpAddr, u16),
}

/// `ipvsadm -L -c`: the connection table.
pub fn connections(conns: &[ConnEntry], f: &ListFormat, names: &dyn Names) -> String {
    let mut out = String::from("IPVS connection entries\n");
    if f.persistent_conn {
        out.push_str("pro expire state       source             virtual            destination        pe name          pe_data\n");
    } else {
        out.push_str("pro expire state       source             virtual            destination\n");
    }
    for c in conns {
        let p = Some(c.proto);
        let src = format_addr_port(c.client.0, c.client.1, p, f.numeric, names);
        let virt = format_addr_port(c.virt.0, c.virt.1, p, f.numeric, names);
        let dst = format_addr_port(c.dest.0, c.dest.1, p, f.numeric, names);
        let expire = format!("{:02}:{:02}", c.expire / 60, c.expire % 60);
        if f.persistent_conn {
            let _ = writeln!(
                out,
                "{:<3} {:<6} {:<11} {src:<18} {virt:<18} {dst:<18} {:<16} ",
                c.proto.label(),
                expire,
                c.state,
                ""
            );
        } else {
            let _ = writeln!(
                out,
                "{:<3} {:<6} {:<11} {src:<18} {virt:<18} {dst}",
                c.proto.label(),
                expire,
                c.state
            );
        }
    }
    out
}
