//! Connections from the kernel's conntrack table (`conntrack -L`, or /proc/net/nf_conntrack), filtered
//! to the ones fulcrum's data plane scheduled (their conntrack mark carries service and real-server ids).

use crate::format::ConnEntry;
use crate::model::Protocol;
use std::net::IpAddr;

/// One conntrack entry of a virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// The conntrack mark.
    pub mark: u32,
    /// The entry as `ipvsadm -c` shows it.
    pub entry: ConnEntry,
}

/// Parses `conntrack -L` (or /proc/net/nf_conntrack) text; lines without a usable mark, unknown
/// protocols or malformed fields are skipped.
pub fn parse(text: &str, wanted: impl Fn(u32) -> bool) -> Vec<Tracked> {
    text.lines()
        .filter_map(|l| parse_line(l, &wanted))
        .collect()
}

fn parse_line(line: &str, wanted: &impl Fn(u32) -> bool) -> Option<Tracked> {
    let words: Vec<&str> = line.split_whitespace().collect();
    // Skip an optional "ipv4 2" prefix (the /proc format).
    let start = words
        .iter()
        .position(|w| matches!(*w, "tcp" | "udp" | "sctp"))?;
    let proto = match words[start] {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        _ => Protocol::Sctp,
    };
    let expire: u64 = words.get(start + 2)?.parse().ok()?;
    let state = match words.get(start + 3) {
        Some(s) if proto != Protocol::Udp && !s.contains('=') => s.to_string(),
        _ if proto == Protocol::Udp => "UDP".to_string(),
        _ => "NONE".to_string(),
    };
    let mut src = Vec::new();
    let mut dst = Vec::new();
    let mut sport = Vec::new();
    let mut dport = Vec::new();
    let mut mark = None;
    for w in &words[start..] {
        if let Some((k, v)) = w.split_once('=') {
            match k {
                "src" => src.push(v.parse::<IpAddr>().ok()?),
                "dst" => dst.push(v.parse::<IpAddr>().ok()?),
                "sport" => sport.push(v.parse::<u16>().ok()?),
                "dport" => dport.push(v.parse::<u16>().ok()?),
                "mark" => mark = v.parse::<u32>().ok(),
                _ => {}
            }
        }
    }
    let mark = mark?;
    if !wanted(mark) || src.len() < 2 || dst.len() < 2 || sport.len() < 2 || dport.len() < 2 {
        return None;
    }
    Some(Tracked {
        mark,
        entry: ConnEntry {
            proto,
            expire,
            state,
            client: (src[0], sport[0]),
            virt: (dst[0], dport[0]),
            dest: (src[1], sport[1]),
        },
    })
}

/// Reads the conntrack entries carrying this data plane's mark tag: `conntrack -L --mark` when the tool
/// exists (the kernel filters), else all of /proc/net/nf_conntrack.
pub fn read() -> Option<String> {
    let mut out = String::new();
    let mut ok = false;
    for family in ["ipv4", "ipv6"] {
        if let Ok(o) = std::process::Command::new("conntrack")
            .args(["-L", "-f", family, "--mark", "0x4c000000/0xff000000"])
            .output()
        {
            if o.status.success() {
                ok = true;
                out.push_str(&String::from_utf8_lossy(&o.stdout));
            }
        }
    }
    if ok {
        return Some(out);
    }
    std::fs::read_to_string("/proc/net/nf_conntrack").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_conntrack_lines() {
        let text = "tcp      6 431999 ESTABLISHED src=198.18.0.2 dst=198.19.0.100 sport=51514 dport=80 src=198.18.1.2 dst=198.18.0.2 sport=8080 dport=51514 [ASSURED] mark=1275068416 use=1\n\
ipv4     2 udp      17 29 src=198.18.0.2 dst=198.19.0.100 sport=40123 dport=53 src=198.18.1.3 dst=198.18.0.2 sport=53 dport=40123 mark=1275068417 use=1\n\
tcp      6 10 TIME_WAIT src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 mark=0 use=1\n\
garbage line\n";
        let v = parse(text, |m| m >> 24 == 0x4c);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].entry.state, "ESTABLISHED");
        assert_eq!(v[0].entry.expire, 431999);
        assert_eq!(
            v[0].entry.dest,
            (
                "198.18.1.2"
                    .parse()
                    .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
                8080
            )
        );
        assert_eq!(v[1].entry.state, "UDP");
        assert_eq!(v[1].entry.proto, Protocol::Udp);
    }
}
