//! `resolvers NAME` sections: the nameservers and timers the servers with `resolvers NAME` use at run time.

use std::net::SocketAddr;
use std::time::Duration;

use super::addr;
use super::common::{Line, Sink};
use super::model::{Nameserver, Resolvers};
use crate::diag::Severity;
use crate::Location;

/// The system resolver configuration `parse-resolv-conf` reads.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Parses the lines of `resolvers NAME` into `list`; `resolv_conf` gives the text of /etc/resolv.conf when a
/// `parse-resolv-conf` line asks for it.
pub fn section(
    name: &str,
    location: &Location,
    lines: &[Line],
    list: &mut Vec<Resolvers>,
    resolv_conf: &dyn Fn() -> std::io::Result<String>,
    sink: &mut Sink,
) {
    if name.is_empty() {
        sink.error(location, "resolvers", "missing name for resolvers section");
        return;
    }
    if let Some(prev) = list.iter().find(|r| r.name == name) {
        sink.error(
            location,
            "resolvers",
            format!(
                "resolvers section '{name}' has the same name as another resolvers section declared at {}",
                prev.location
            ),
        );
        return;
    }
    let mut r = Resolvers {
        name: name.to_string(),
        nameservers: Vec::new(),
        retries: 3,
        timeout_resolve: Duration::from_secs(1),
        timeout_retry: Duration::from_secs(1),
        hold_valid: Duration::from_secs(10),
        hold_nx: Duration::from_secs(30),
        hold_other: Duration::from_secs(30),
        hold_refused: Duration::from_secs(30),
        hold_timeout: Duration::from_secs(30),
        hold_obsolete: Duration::ZERO,
        accepted_payload_size: 512,
        location: location.clone(),
    };
    for line in lines {
        let loc = &line.location;
        let kw = line.word(0);
        match kw {
            "nameserver" => {
                let (id, a) = (line.word(1), line.word(2));
                if id.is_empty() || a.is_empty() {
                    sink.error(loc, kw, "'nameserver' expects <name> and <addr>[:<port>] as arguments");
                    continue;
                }
                match nameserver_addr(a) {
                    Ok(addr) => add_nameserver(&mut r, id, addr, loc, sink),
                    Err(e) => sink.error(loc, kw, format!("'nameserver {id}' : {e}")),
                }
            }
            "parse-resolv-conf" => match resolv_conf() {
                Ok(text) => {
                    for (i, addr) in resolv_conf_nameservers(&text).into_iter().enumerate() {
                        let id = format!("{}", i + 1);
                        add_nameserver(&mut r, &id, addr, loc, sink);
                    }
                }
                Err(e) => sink.error(loc, kw, format!("failed to open {RESOLV_CONF}: {e}")),
            },
            // HAProxy takes 0; one query is always sent.
            "resolve_retries" => {
                if let Some(n) = sink.uint(loc, kw, line.words.get(1).map(String::as_str), 0, 1_000) {
                    r.retries = (n as u32).max(1);
                }
            }
            "accepted_payload_size" => match line.word(1).parse::<u32>() {
                // Below 512 no EDNS0 record is sent: 512 bytes is what every DNS answer over UDP may have.
                Ok(n) if (12..=65535).contains(&n) => r.accepted_payload_size = n as u16,
                _ => sink.error(
                    loc,
                    kw,
                    format!(
                        "'accepted_payload_size' must be between 12 and 65535 inclusive (was {})",
                        line.word(1)
                    ),
                ),
            },
            "timeout" => {
                let which = line.word(1);
                let key = format!("timeout {which}");
                let slot = match which {
                    "resolve" => &mut r.timeout_resolve,
                    "retry" => &mut r.timeout_retry,
                    _ => {
                        sink.error(
                            loc,
                            kw,
                            format!("'timeout' expects 'retry' or 'resolve' and <time> as arguments got '{which}'"),
                        );
                        continue;
                    }
                };
                match sink.time(loc, &key, line.words.get(2).map(String::as_str)) {
                    Some(d) if d.is_zero() => sink.error(loc, &key, format!("'{key}' must be greater than zero")),
                    Some(d) => *slot = d,
                    None => {}
                }
            }
            "hold" => {
                let event = line.word(1);
                let key = format!("hold {event}");
                let slot = match event {
                    "valid" => &mut r.hold_valid,
                    "nx" => &mut r.hold_nx,
                    "other" => &mut r.hold_other,
                    "refused" => &mut r.hold_refused,
                    "timeout" => &mut r.hold_timeout,
                    "obsolete" => &mut r.hold_obsolete,
                    _ => {
                        sink.error(
                            loc,
                            kw,
                            format!("'hold' unknown <event>: '{event}', expects either 'valid', 'nx', 'refused', 'timeout', 'obsolete' or 'other'"),
                        );
                        continue;
                    }
                };
                if let Some(d) = sink.time(loc, &key, line.words.get(2).map(String::as_str)) {
                    *slot = d;
                }
            }
            _ => sink.error(
                loc,
                kw,
                format!("unknown keyword '{kw}' in 'resolvers' section: expected nameserver, parse-resolv-conf, resolve_retries, timeout resolve|retry, hold valid|nx|other|refused|timeout|obsolete or accepted_payload_size"),
            ),
        }
    }
    if r.nameservers.is_empty() {
        sink.warn(
            Severity::Warning,
            location,
            "resolvers",
            format!(
                "resolvers '{name}' has no nameservers configured: its names are never resolved"
            ),
        );
    }
    list.push(r);
}

fn add_nameserver(r: &mut Resolvers, id: &str, addr: SocketAddr, loc: &Location, sink: &mut Sink) {
    if let Some(prev) = r.nameservers.iter().find(|n| n.id == id) {
        sink.error(
            loc,
            "nameserver",
            format!(
                "nameserver '{id}' has same name as another nameserver (declared at {})",
                prev.location
            ),
        );
        return;
    }
    r.nameservers.push(Nameserver {
        id: id.to_string(),
        addr,
        location: loc.clone(),
    });
}

/// A nameserver's address: `[udp@]IP:PORT`.
fn nameserver_addr(a: &str) -> Result<SocketAddr, String> {
    let rest = match a.split_once('@') {
        None => a,
        Some(("udp" | "udp4" | "udp6", r)) => r,
        Some(("tcp" | "tcp4" | "tcp6", _)) => {
            return Err(format!(
                "'{a}': DNS over TCP nameservers are supported by HAProxy, not yet by fulcrum (use udp@ or no prefix)"
            ))
        }
        Some((p, _)) => return Err(format!("'{a}': unsupported address prefix '{p}@' (expected udp@)")),
    };
    let split = addr::split(rest, addr::Proto::Stream)?;
    let port = match split.port.as_deref() {
        None | Some("") => return Err(format!("missing port specification in '{a}'")),
        Some(p) => addr::port(p)?,
    };
    match split.host {
        addr::Host::Ip(ip) => Ok(SocketAddr::new(ip, port)),
        _ => Err(format!(
            "'{a}': a nameserver's address must be an IP address"
        )),
    }
}

/// HAProxy 2.6's implicit `resolvers default`: when no section has that name, one is made from the nameservers of
/// /etc/resolv.conf (`resolv_conf` gives its text), each named by its address; none when the file cannot be read
/// or names no nameserver. Servers may name it without declaring it.
pub fn add_default(list: &mut Vec<Resolvers>, resolv_conf: &dyn Fn() -> std::io::Result<String>) {
    if list.iter().any(|r| r.name == "default") {
        return;
    }
    let Ok(text) = resolv_conf() else { return };
    let location = Location::new(RESOLV_CONF, 0);
    let nameservers: Vec<Nameserver> = resolv_conf_nameservers(&text)
        .into_iter()
        .map(|addr| Nameserver {
            id: addr.ip().to_string(),
            addr,
            location: location.clone(),
        })
        .collect();
    if nameservers.is_empty() {
        return;
    }
    list.push(Resolvers {
        name: "default".into(),
        nameservers,
        retries: 3,
        timeout_resolve: Duration::from_secs(1),
        timeout_retry: Duration::from_secs(1),
        hold_valid: Duration::from_secs(10),
        hold_nx: Duration::from_secs(30),
        hold_other: Duration::from_secs(30),
        hold_refused: Duration::from_secs(30),
        hold_timeout: Duration::from_secs(30),
        hold_obsolete: Duration::ZERO,
        accepted_payload_size: 512,
        location,
    });
}

/// The `nameserver` addresses of a resolv.conf text, port 53.
pub fn resolv_conf_nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then_some(())?;
            // A link-local IPv6 address may carry a zone (`fe80::1%eth0`); fulcrum skips it.
            let ip = w.next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf() {
        let t = "# comment\nsearch x\nnameserver 127.0.0.53\nnameserver ::1\nnameserver fe80::1%eth0\noptions edns0\n";
        assert_eq!(
            resolv_conf_nameservers(t),
            vec![
                "127.0.0.53:53".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn implicit_default_section() {
        let mut list = Vec::new();
        add_default(&mut list, &|| Ok("nameserver 10.0.0.53\n".into()));
        assert_eq!(list[0].name, "default");
        assert_eq!(list[0].nameservers[0].id, "10.0.0.53");
        assert_eq!(list[0].nameservers[0].addr, "10.0.0.53:53".parse().unwrap());
        // Not twice, and not without nameservers.
        add_default(&mut list, &|| Ok("nameserver 10.0.0.54\n".into()));
        assert_eq!(list.len(), 1);
        let mut none = Vec::new();
        add_default(&mut none, &|| Ok("search x\n".into()));
        add_default(&mut none, &|| Err(std::io::ErrorKind::NotFound.into()));
        assert!(none.is_empty());
    }

    #[test]
    fn nameserver_addresses() {
        assert_eq!(
            nameserver_addr("udp@127.0.0.1:53"),
            Ok("127.0.0.1:53".parse().unwrap())
        );
        assert_eq!(
            nameserver_addr("[::1]:5353"),
            Ok("[::1]:5353".parse().unwrap())
        );
        assert!(nameserver_addr("127.0.0.1")
            .unwrap_err()
            .contains("missing port"));
        assert!(nameserver_addr("tcp@127.0.0.1:53")
            .unwrap_err()
            .contains("not yet"));
        assert!(nameserver_addr("dns.example:53").is_err());
    }
}
