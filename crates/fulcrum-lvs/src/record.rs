//! A compact line encoding of the table's configuration, short enough for nft comments (< 128 bytes a
//! line). Data planes keep these lines next to their rules so that a fresh process reads back exactly the
//! table it configured (`ipvsadm -S` after `ipvsadm -R` reproduces the same commands).
//!
//! ```text
//! T <tcp> <tcpfin> <udp>
//! S <id> <proto>/<addr>/<port>|fwm/<mark>|fwm6/<mark> <sched> <flag-bits> <timeout> m<mask>|p<prefix> <pe>|-
//! R <service-id> <id> <addr> <port> <m|g|i|l> <weight> <upper> <lower> <ipip|gue|gre> <tun-port> <n|c|r>
//! ```

use crate::model::{
    Forward, Netmask, Observed, Protocol, RealServer, Service, ServiceFlags, ServiceKey, Table,
    Timeouts, TunCsum, TunType, Tunnel,
};
use std::net::IpAddr;

/// A record line that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed table record: {0}")]
pub struct RecordError(pub String);

fn key_text(k: &ServiceKey) -> String {
    match k {
        ServiceKey::Addr { proto, addr, port } => format!("{}/{addr}/{port}", proto.name()),
        ServiceKey::Fwmark { mark, ipv6: false } => format!("fwm/{mark}"),
        ServiceKey::Fwmark { mark, ipv6: true } => format!("fwm6/{mark}"),
    }
}

/// The timeouts line.
pub fn timeouts_record(t: &Timeouts) -> String {
    format!("T {} {} {}", t.tcp, t.tcpfin, t.udp)
}

/// The line of a service (without its real servers).
pub fn service_record(s: &Service) -> String {
    let mask = match s.netmask {
        Netmask::V4(m) => format!("m{m}"),
        Netmask::Prefix(p) => format!("p{p}"),
    };
    format!(
        "S {} {} {} {} {} {mask} {}",
        s.id,
        key_text(&s.key),
        s.scheduler,
        s.flags.bits(),
        s.timeout,
        s.pe.as_deref().unwrap_or("-")
    )
}

/// The line of a real server of service `s`.
pub fn dest_record(s: &Service, d: &RealServer) -> String {
    let fwd = match d.forward {
        Forward::Masq => "m",
        Forward::Route => "g",
        Forward::Tunnel => "i",
        Forward::Local => "l",
    };
    let csum = match d.tunnel.csum {
        TunCsum::NoCsum => "n",
        TunCsum::Csum => "c",
        TunCsum::RemCsum => "r",
    };
    format!(
        "R {} {} {} {} {fwd} {} {} {} {} {} {csum}",
        s.id,
        d.id,
        d.addr,
        d.port,
        d.weight,
        d.u_threshold,
        d.l_threshold,
        d.tunnel.kind.name(),
        d.tunnel.port
    )
}

/// Every line of the table: timeouts, then each service followed by its real servers.
pub fn encode(t: &Table) -> Vec<String> {
    let mut v = vec![timeouts_record(&t.timeouts)];
    for s in &t.services {
        v.push(service_record(s));
        for d in &s.dests {
            v.push(dest_record(s, d));
        }
    }
    v
}

fn parse_key(s: &str) -> Option<ServiceKey> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        ["fwm", m] => Some(ServiceKey::Fwmark {
            mark: m.parse().ok()?,
            ipv6: false,
        }),
        ["fwm6", m] => Some(ServiceKey::Fwmark {
            mark: m.parse().ok()?,
            ipv6: true,
        }),
        [p, a, port] => {
            let proto = match *p {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                "sctp" => Protocol::Sctp,
                _ => return None,
            };
            Some(ServiceKey::Addr {
                proto,
                addr: a.parse().ok()?,
                port: port.parse().ok()?,
            })
        }
        _ => None,
    }
}

fn parse_service(w: &[&str]) -> Option<Service> {
    let [id, key, sched, bits, timeout, mask, pe] = w else {
        return None;
    };
    let netmask = if let Some(m) = mask.strip_prefix('m') {
        Netmask::V4(m.parse().ok()?)
    } else {
        Netmask::Prefix(mask.strip_prefix('p')?.parse().ok()?)
    };
    Some(Service {
        id: id.parse().ok()?,
        key: parse_key(key)?,
        scheduler: sched.to_string(),
        flags: ServiceFlags::from_bits(bits.parse().ok()?),
        timeout: timeout.parse().ok()?,
        netmask,
        pe: (*pe != "-").then(|| pe.to_string()),
        dests: Vec::new(),
        observed: Observed::default(),
    })
}

fn parse_dest(w: &[&str]) -> Option<(u32, RealServer)> {
    let [sid, id, addr, port, fwd, weight, u, l, tt, tp, csum] = w else {
        return None;
    };
    let forward = match *fwd {
        "m" => Forward::Masq,
        "g" => Forward::Route,
        "i" => Forward::Tunnel,
        "l" => Forward::Local,
        _ => return None,
    };
    let csum = match *csum {
        "n" => TunCsum::NoCsum,
        "c" => TunCsum::Csum,
        "r" => TunCsum::RemCsum,
        _ => return None,
    };
    let addr: IpAddr = addr.parse().ok()?;
    Some((
        sid.parse().ok()?,
        RealServer {
            id: id.parse().ok()?,
            addr,
            port: port.parse().ok()?,
            forward,
            weight: weight.parse().ok()?,
            u_threshold: u.parse().ok()?,
            l_threshold: l.parse().ok()?,
            tunnel: Tunnel {
                kind: TunType::from_name(tt)?,
                port: tp.parse().ok()?,
                csum,
            },
            observed: Observed::default(),
        },
    ))
}

/// Rebuilds a table from its lines (any order; real servers attach to their service by id).
pub fn decode<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Table, RecordError> {
    let mut t = Table::new();
    let mut dests: Vec<(u32, RealServer)> = Vec::new();
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = || RecordError(line.to_string());
        match words.split_first() {
            Some((&"T", rest)) => {
                let [a, b, c] = rest else { return Err(bad()) };
                t.timeouts = Timeouts {
                    tcp: a.parse().map_err(|_| bad())?,
                    tcpfin: b.parse().map_err(|_| bad())?,
                    udp: c.parse().map_err(|_| bad())?,
                };
            }
            Some((&"S", rest)) => t.services.push(parse_service(rest).ok_or_else(bad)?),
            Some((&"R", rest)) => dests.push(parse_dest(rest).ok_or_else(bad)?),
            None => {}
            _ => return Err(bad()),
        }
    }
    for (sid, d) in dests {
        let s = t
            .services
            .iter_mut()
            .find(|s| s.id == sid)
            .ok_or_else(|| RecordError(format!("R {sid} ...")))?;
        s.dests.push(d);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DestSpec, ServiceSpec};
    use std::net::Ipv4Addr;

    #[test]
    fn round_trip_and_length() {
        let mut t = Table::new();
        t.timeouts.tcp = 1000;
        let key = ServiceKey::Addr {
            proto: Protocol::Sctp,
            addr: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            port: 65535,
        };
        let spec = ServiceSpec {
            key,
            scheduler: "lblcr".into(),
            flags: ServiceFlags::from_bits(63),
            timeout: 2_678_400,
            netmask: Netmask::Prefix(64),
            pe: Some("sip".into()),
        };
        assert!(t.add_service(spec).is_ok());
        let d = DestSpec {
            addr: "fd00:ffff:ffff:ffff:ffff:ffff:ffff:fffe"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            port: 65535,
            forward: Forward::Tunnel,
            weight: 2_147_483_647,
            u_threshold: 65535,
            l_threshold: 65535,
            tunnel: Tunnel {
                kind: TunType::Gue,
                port: 65535,
                csum: TunCsum::RemCsum,
            },
        };
        assert!(t.add_dest(&key, d).is_ok());
        let fw = ServiceKey::Fwmark {
            mark: u32::MAX,
            ipv6: true,
        };
        let spec = ServiceSpec {
            key: fw,
            scheduler: "rr".into(),
            flags: ServiceFlags::default(),
            timeout: 0,
            netmask: Netmask::V4(Ipv4Addr::BROADCAST),
            pe: None,
        };
        assert!(t.add_service(spec).is_ok());
        let lines = encode(&t);
        assert!(lines.iter().all(|l| l.len() < 128), "{lines:?}");
        let back = decode(lines.iter().map(String::as_str));
        assert_eq!(back, Ok(t));
    }

    #[test]
    fn rejects_garbage() {
        for l in [
            "X",
            "T 1 2",
            "S 0 tcp/1.2.3.4/80 rr 0 0 m255.255.255.255",
            "R 0 0 1.2.3.4 80 z 1 0 0 ipip 0 n",
            "S a b c d e f g",
        ] {
            assert!(decode([l]).is_err(), "{l}");
        }
        assert!(decode(["R 7 0 1.2.3.4 80 m 1 0 0 ipip 0 n"]).is_err());
        assert_eq!(decode(["", "  "]), Ok(Table::new()));
    }
}
