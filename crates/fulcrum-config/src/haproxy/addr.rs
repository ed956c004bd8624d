//! Addresses as `bind`, `server` and `log` write them: `IP:PORT`, `[v6]:PORT`, `:PORT`, `*:PORT`, `:::PORT`,
//! `ipv4@` / `ipv6@` prefixes, host names, port ranges.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Which address family a prefix asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// no prefix: as written
    Any,
    /// `ipv4@`, `tcp4@`, `udp4@`
    V4,
    /// `ipv6@`, `tcp6@`, `udp6@`
    V6,
}

/// A host part: nothing (any address), an IP, or a name to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// empty or `*`
    Any,
    /// a literal address
    Ip(IpAddr),
    /// a host name, resolved while validating
    Name(String),
}

/// An address split into its parts, before the port is interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// the family prefix
    pub family: Family,
    /// the host part
    pub host: Host,
    /// the text after the port colon, if any
    pub port: Option<String>,
}

/// Which protocol prefixes a keyword accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// bind and server: stream sockets
    Stream,
    /// log: datagram sockets
    Datagram,
}

/// Reads a unix stream socket address: `/PATH` (or a path with `unix@`), `abns@NAME` (Linux's abstract namespace);
/// `None` when `s` has another form.
pub fn unix_addr(s: &str) -> Option<Result<super::model::UnixAddr, String>> {
    use super::model::UnixAddr;
    if let Some(name) = s.strip_prefix("abns@") {
        return Some(if name.is_empty() {
            Err(format!("'{s}': expected 'abns@NAME' with a name"))
        } else {
            Ok(UnixAddr::Abstract(name.to_string()))
        });
    }
    let path = match s.strip_prefix("unix@") {
        Some(p) => p,
        None if s.starts_with('/') => s,
        None => return None,
    };
    // The kernel's limit for a socket path (sun_path, with its terminating zero).
    Some(if path.is_empty() {
        Err(format!("'{s}': expected 'unix@PATH' with a path"))
    } else if path.len() > 107 {
        Err(format!(
            "unix socket path '{path}' is too long (at most 107 bytes)"
        ))
    } else {
        Ok(UnixAddr::Path(path.into()))
    })
}

/// Reads `fd@N`, a socket inherited from the parent process: `None` when `s` has another form.
pub fn inherited_fd(s: &str) -> Option<Result<i32, String>> {
    let n = s.strip_prefix("fd@")?;
    let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    Some(
        n.parse::<i32>()
            .ok()
            .filter(|_| digits)
            .ok_or_else(|| format!("'{s}': expected 'fd@N' with N a file descriptor number")),
    )
}

/// Splits `s` into family, host and port text. Errors say what was expected.
pub fn split(s: &str, proto: Proto) -> Result<Split, String> {
    let (family, rest) = match s.find('@') {
        Some(p) => {
            let prefix = &s[..p];
            let family = match (prefix, proto) {
                ("fd", _) => {
                    return Err(format!(
                        "'{s}': an inherited socket 'fd@N' is not accepted by this keyword"
                    ))
                }
                ("ipv4", _) => Family::V4,
                ("ipv6", _) => Family::V6,
                ("tcp", Proto::Stream) | ("udp", Proto::Datagram) => Family::Any,
                ("tcp4", Proto::Stream) | ("udp4", Proto::Datagram) => Family::V4,
                ("tcp6", Proto::Stream) | ("udp6", Proto::Datagram) => Family::V6,
                (
                    "unix" | "abns" | "sockpair" | "quic4" | "quic6" | "udp" | "udp4" | "udp6"
                    | "tcp" | "tcp4" | "tcp6" | "ring",
                    _,
                ) => {
                    return Err(format!("address prefix '{prefix}@' is supported by HAProxy but not yet by fulcrum here"));
                }
                _ => {
                    return Err(format!(
                        "unknown address prefix '{prefix}@' (expected 'ipv4@' or 'ipv6@')"
                    ))
                }
            };
            (family, &s[p + 1..])
        }
        None => (Family::Any, s),
    };
    if rest.starts_with('/') {
        return Err(format!(
            "unix socket address '{rest}' is not accepted by this keyword in fulcrum"
        ));
    }
    let (host_text, port) = if let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(format!("missing ']' in address '{s}'"));
        };
        let after = &inner[close + 1..];
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(p) => Some(p.to_string()),
                None => {
                    return Err(format!(
                        "unexpected '{after}' after ']' in address '{s}' (expected ':PORT')"
                    ))
                }
            },
        };
        let h = &inner[..close];
        if h.parse::<Ipv6Addr>().is_err() {
            return Err(format!("'{h}' between brackets is not an IPv6 address"));
        }
        (h, port)
    } else {
        match rest.rfind(':') {
            Some(p) => (&rest[..p], Some(rest[p + 1..].to_string())),
            None => (rest, None),
        }
    };
    let host = if host_text.is_empty() || host_text == "*" {
        Host::Any
    } else if let Ok(ip) = host_text.parse::<IpAddr>() {
        Host::Ip(ip)
    } else if host_text.parse::<Ipv6Addr>().is_err() && is_hostname(host_text) {
        Host::Name(host_text.to_string())
    } else {
        return Err(format!(
            "'{host_text}' is neither an IP address nor a host name"
        ));
    };
    match (family, &host) {
        (Family::V4, Host::Ip(IpAddr::V6(_))) => {
            return Err(format!(
                "'{host_text}' is not an IPv4 address (ipv4@ prefix)"
            ))
        }
        (Family::V6, Host::Ip(IpAddr::V4(_))) => {
            return Err(format!(
                "'{host_text}' is not an IPv6 address (ipv6@ prefix)"
            ))
        }
        _ => {}
    }
    Ok(Split { family, host, port })
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// Parses a single port 1..=65535.
pub fn port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 && !s.starts_with('+') => Ok(p),
        _ => Err(format!(
            "invalid port '{s}': expected a number between 1 and 65535"
        )),
    }
}

/// Parses `PORT` or `FIRST-LAST` into an inclusive range.
pub fn port_range(s: &str) -> Result<(u16, u16), String> {
    match s.split_once('-') {
        None => port(s).map(|p| (p, p)),
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if a > b {
                return Err(format!(
                    "invalid port range '{s}': the first port must not be above the last"
                ));
            }
            Ok((a, b))
        }
    }
}

/// The wildcard address of a family (IPv4 when not specified, as HAProxy does).
pub fn any_addr(family: Family) -> IpAddr {
    match family {
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

/// Resolves a host name; the function is injectable so tests need no DNS.
pub type Resolver<'a> = &'a dyn Fn(&str, u16) -> std::io::Result<Vec<SocketAddr>>;

/// Looks `host` up with the system resolver.
pub fn system_resolve(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs;
    Ok((host, port).to_socket_addrs()?.collect())
}

/// Turns a host into one socket address, resolving names and honouring the family prefix.
pub fn resolve(
    host: &Host,
    family: Family,
    port: u16,
    resolver: Resolver<'_>,
) -> Result<SocketAddr, String> {
    match host {
        Host::Any => Ok(SocketAddr::new(any_addr(family), port)),
        Host::Ip(ip) => Ok(SocketAddr::new(*ip, port)),
        Host::Name(name) => {
            let addrs = resolver(name, port)
                .map_err(|e| format!("could not resolve address '{name}': {e}"))?;
            addrs
                .into_iter()
                .find(|a| match family {
                    Family::Any => true,
                    Family::V4 => a.is_ipv4(),
                    Family::V6 => a.is_ipv6(),
                })
                .ok_or_else(|| format!("could not resolve address '{name}': no matching address"))
        }
    }
}

/// Parses `IP[/MASK]` where MASK is a prefix length or (IPv4) a dotted mask.
pub fn parse_net(s: &str) -> Result<(std::net::IpAddr, u8), String> {
    let bad = || {
        format!("invalid network '{s}': expected ADDRESS[/PREFIX] such as 10.0.0.0/8 or 10.0.0.0/255.0.0.0")
    };
    let (ip, mask) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let ip: std::net::IpAddr = ip.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match mask {
        None => max,
        Some(m) => match m.parse::<u8>() {
            Ok(n) if n <= max => n,
            Ok(_) => return Err(bad()),
            Err(_) => match (ip, m.parse::<std::net::Ipv4Addr>()) {
                (std::net::IpAddr::V4(_), Ok(mask)) => {
                    let bits = u32::from(mask);
                    if bits.leading_ones() + bits.trailing_zeros() != 32 {
                        return Err(bad());
                    }
                    bits.leading_ones() as u8
                }
                _ => return Err(bad()),
            },
        },
    };
    Ok((ip, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(s: &str) -> Split {
        split(s, Proto::Stream).unwrap()
    }

    #[test]
    fn forms() {
        assert_eq!(sp(":80").host, Host::Any);
        assert_eq!(sp("*:80").port.as_deref(), Some("80"));
        assert_eq!(sp(":::80").host, Host::Ip("::".parse().unwrap()));
        assert_eq!(sp("[::1]:80").host, Host::Ip("::1".parse().unwrap()));
        assert_eq!(sp("[::1]").port, None);
        assert_eq!(sp("10.0.0.1").port, None);
        assert_eq!(sp("ipv6@:80").family, Family::V6);
        assert_eq!(sp("example.com:80").host, Host::Name("example.com".into()));
        assert!(split("unix@/x", Proto::Stream).is_err());
        assert!(split("/run/x.sock", Proto::Stream).is_err());
        assert!(split("bogus@1.2.3.4:1", Proto::Stream)
            .unwrap_err()
            .contains("unknown address prefix"));
        assert!(split("ipv4@::1:80", Proto::Stream).is_err());
        assert!(split("[::1:80", Proto::Stream).is_err());
        assert!(split("a b:80", Proto::Stream).is_err());
        assert_eq!(
            split("udp@1.2.3.4:514", Proto::Datagram).unwrap().family,
            Family::Any
        );
    }

    #[test]
    fn ports() {
        assert_eq!(port("80"), Ok(80));
        assert!(port("0").is_err());
        assert!(port("65536").is_err());
        assert!(port("+1").is_err());
        assert_eq!(port_range("2000-2005"), Ok((2000, 2005)));
        assert!(port_range("5-2").is_err());
    }
}
