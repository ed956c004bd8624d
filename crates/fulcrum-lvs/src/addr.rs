//! Addresses and ports on the command line (`host[:port]`, `[v6]:port`, service names) and in listings.

use crate::model::Protocol;
use std::net::{IpAddr, Ipv6Addr, ToSocketAddrs};

/// Name lookups for non-numeric listings and for host/service names on the command line.
pub trait Names {
    /// Host name of `ip`, if known.
    fn host(&self, ip: IpAddr) -> Option<String>;
    /// Service name of `port` for `proto` (`tcp`, `udp`, `sctp`), if known.
    fn port_name(&self, port: u16, proto: &str) -> Option<String>;
    /// Port number of service `name` for `proto`.
    fn port_number(&self, name: &str, proto: &str) -> Option<u16>;
    /// Address of host `name` (IPv4 preferred).
    fn resolve(&self, name: &str) -> Option<IpAddr>;
}

/// No names at all: everything stays numeric.
#[derive(Debug, Default, Clone, Copy)]
pub struct NumericNames;

impl Names for NumericNames {
    fn host(&self, _ip: IpAddr) -> Option<String> {
        None
    }
    fn port_name(&self, _port: u16, _proto: &str) -> Option<String> {
        None
    }
    fn port_number(&self, _name: &str, _proto: &str) -> Option<u16> {
        None
    }
    fn resolve(&self, _name: &str) -> Option<IpAddr> {
        None
    }
}

/// The system's names: `/etc/services` for ports, `/etc/hosts` for host names, the resolver for
/// host names given on the command line. Reverse DNS is not queried (listings stay fast and offline).
#[derive(Debug, Default, Clone)]
pub struct SystemNames {
    services: Vec<(String, u16, String)>,
    hosts: Vec<(IpAddr, String)>,
}

impl SystemNames {
    /// Reads `/etc/services` and `/etc/hosts` (missing files mean no names).
    pub fn load() -> Self {
        let services = std::fs::read_to_string("/etc/services")
            .map(|s| parse_services(&s))
            .unwrap_or_default();
        let hosts = std::fs::read_to_string("/etc/hosts")
            .map(|s| parse_hosts(&s))
            .unwrap_or_default();
        SystemNames { services, hosts }
    }

    /// Builds from the text of a services file and a hosts file.
    pub fn from_text(services: &str, hosts: &str) -> Self {
        SystemNames {
            services: parse_services(services),
            hosts: parse_hosts(hosts),
        }
    }
}

fn parse_services(text: &str) -> Vec<(String, u16, String)> {
    let mut v = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut it = line.split_whitespace();
        let (Some(name), Some(pp)) = (it.next(), it.next()) else {
            continue;
        };
        let Some((port, proto)) = pp.split_once('/') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        v.push((name.to_string(), port, proto.to_string()));
        for alias in it {
            v.push((alias.to_string(), port, proto.to_string()));
        }
    }
    v
}

fn parse_hosts(text: &str) -> Vec<(IpAddr, String)> {
    let mut v = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut it = line.split_whitespace();
        let (Some(ip), Some(name)) = (it.next(), it.next()) else {
            continue;
        };
        if let Ok(ip) = ip.parse::<IpAddr>() {
            v.push((ip, name.to_string()));
        }
    }
    v
}

impl Names for SystemNames {
    fn host(&self, ip: IpAddr) -> Option<String> {
        self.hosts
            .iter()
            .find(|(a, _)| *a == ip)
            .map(|(_, n)| n.clone())
    }

    fn port_name(&self, port: u16, proto: &str) -> Option<String> {
        self.services
            .iter()
            .find(|(_, p, pr)| *p == port && pr == proto)
            .map(|(n, _, _)| n.clone())
    }

    fn port_number(&self, name: &str, proto: &str) -> Option<u16> {
        self.services
            .iter()
            .find(|(n, _, pr)| n == name && pr == proto)
            .map(|(_, p, _)| *p)
    }

    fn resolve(&self, name: &str) -> Option<IpAddr> {
        if let Some((ip, _)) = self.hosts.iter().find(|(ip, n)| n == name && ip.is_ipv4()) {
            return Some(*ip);
        }
        let addrs: Vec<IpAddr> = (name, 0).to_socket_addrs().ok()?.map(|a| a.ip()).collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
    }
}

/// A parsed `host[:port]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPort {
    /// The address.
    pub addr: IpAddr,
    /// The port, when one was given.
    pub port: Option<u16>,
}

fn parse_port(s: &str, proto: &str, names: &dyn Names) -> Option<u16> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u16>().ok();
    }
    if s.is_empty() {
        return None;
    }
    names.port_number(s, proto)
}

fn parse_host(s: &str, names: &dyn Names) -> Option<IpAddr> {
    if s.is_empty() {
        return None;
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(a);
    }
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return names.resolve(s);
    }
    None
}

/// Parses `host[:port]`, `[v6addr][:port]` (or a bare IPv6 address); ports may be service names of `proto`.
pub fn parse_host_port(s: &str, proto: &str, names: &dyn Names) -> Option<HostPort> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let addr: Ipv6Addr = host.parse().ok()?;
        let port = match after {
            "" => None,
            p => Some(parse_port(p.strip_prefix(':')?, proto, names)?),
        };
        return Some(HostPort {
            addr: IpAddr::V6(addr),
            port,
        });
    }
    if s.matches(':').count() >= 2 {
        let addr: Ipv6Addr = s.parse().ok()?;
        return Some(HostPort {
            addr: IpAddr::V6(addr),
            port: None,
        });
    }
    match s.split_once(':') {
        Some((h, p)) => Some(HostPort {
            addr: parse_host(h, names)?,
            port: Some(parse_port(p, proto, names)?),
        }),
        None => Some(HostPort {
            addr: parse_host(s, names)?,
            port: None,
        }),
    }
}

/// Formats `addr:port` as ipvsadm does: numeric (`10.0.0.1:80`, `[::1]:80`) or with host and service names
/// where known (`web1:http`).
pub fn format_addr_port(
    addr: IpAddr,
    port: u16,
    proto: Option<Protocol>,
    numeric: bool,
    names: &dyn Names,
) -> String {
    let host = if numeric { None } else { names.host(addr) };
    let host = host.unwrap_or_else(|| match addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    });
    let pname = if numeric || port == 0 {
        None
    } else {
        names.port_name(port, proto.map_or("tcp", Protocol::name))
    };
    match pname {
        Some(p) => format!("{host}:{p}"),
        None => format!("{host}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> SystemNames {
        SystemNames::from_text(
            "http 80/tcp www # web\nhttp 80/udp\ndomain 53/udp\nbogus x/tcp\n",
            "10.0.0.5 web5 alias\n::1 localhost6\n",
        )
    }

    #[test]
    fn parses_forms() {
        let n = names();
        let p = |s: &str| parse_host_port(s, "tcp", &n);
        assert_eq!(p("10.0.0.1:80").map(|h| h.port), Some(Some(80)));
        assert_eq!(p("10.0.0.1").map(|h| h.port), Some(None));
        assert_eq!(p("10.0.0.1:www").map(|h| h.port), Some(Some(80)));
        assert_eq!(
            p("web5:http").map(|h| h.addr.to_string()),
            Some("10.0.0.5".into())
        );
        assert_eq!(
            p("[2001:db8::1]:443").map(|h| (h.addr.to_string(), h.port)),
            Some(("2001:db8::1".into(), Some(443)))
        );
        assert_eq!(p("[2001:db8::1]").map(|h| h.port), Some(None));
        assert_eq!(p("2001:db8::1").map(|h| h.port), Some(None));
        for bad in [
            "",
            ":80",
            "10.0.0.1:",
            "10.0.0.1:65536",
            "10.0.0.1:nosuch",
            "[::1",
            "[::1]x",
            "[1.2.3.4]:1",
            "a b",
            "1.2.3.4:-1",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats() {
        let n = names();
        let v4: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(
            format_addr_port(v4, 80, Some(Protocol::Tcp), true, &n),
            "10.0.0.5:80"
        );
        assert_eq!(
            format_addr_port(v4, 80, Some(Protocol::Tcp), false, &n),
            "web5:http"
        );
        assert_eq!(
            format_addr_port(v4, 53, Some(Protocol::Tcp), false, &n),
            "web5:53"
        );
        assert_eq!(format_addr_port(v4, 0, None, false, &n), "web5:0");
        let v6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(
            format_addr_port(v6, 53, Some(Protocol::Udp), false, &n),
            "[2001:db8::1]:domain"
        );
    }
}
