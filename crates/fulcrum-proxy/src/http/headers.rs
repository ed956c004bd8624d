//! Request and response header handling: hop-by-hop headers (RFC 9110 section 7.6.1) and X-Forwarded-For.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use fulcrum_config::haproxy::ForwardFor;

use super::errors::ProxyError;

/// Headers that only describe one hop and are never forwarded as they are.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Whether the message asks to switch protocols (`Connection: upgrade` plus an `Upgrade` header).
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| tokens(v).any(|t| t.eq_ignore_ascii_case("upgrade")))
}

/// The comma-separated tokens of a list-valued header (`Connection`, `Transfer-Encoding`...), trimmed.
pub(crate) fn tokens(v: &HeaderValue) -> impl Iterator<Item = &str> {
    v.to_str()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Removes hop-by-hop headers and every header named in `Connection`. When `upgrade` is true the message is a
/// protocol switch: `Connection: upgrade` and `Upgrade` are kept so the next hop sees the request for it. A `TE`
/// listing the bare token `trailers` becomes `TE: trailers` (its other codings and any parameters are dropped), as
/// HAProxy forwards it.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    // Most messages carry none: one pass over the names instead of a lookup per hop-by-hop name.
    if !headers.keys().any(|k| HOP_BY_HOP.contains(k)) {
        return;
    }
    let te_trailers = headers
        .get_all(header::TE)
        .iter()
        .flat_map(tokens)
        .any(|t| t.eq_ignore_ascii_case("trailers"));
    // Only allocate when Connection names extra headers, which is rare.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(tokens)
        .filter(|t| {
            !t.eq_ignore_ascii_case("close")
                && !t.eq_ignore_ascii_case("keep-alive")
                && !t.eq_ignore_ascii_case("upgrade")
        })
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    let upgrade_value = if upgrade {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    };
    for name in HOP_BY_HOP.iter() {
        headers.remove(name);
    }
    if let Some(value) = upgrade_value {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, value);
    }
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// What HAProxy answers to a request whose `Transfer-Encoding` hyper accepted (hyper already refuses one that
/// does not end with `chunked`): `chunked` applied twice is a framing error (400), any other coding 422.
pub fn request_coding_error(headers: &HeaderMap) -> Option<ProxyError> {
    let mut values = headers.get_all(header::TRANSFER_ENCODING).iter().peekable();
    values.peek()?;
    let mut chunked = 0;
    let mut other = false;
    for v in values {
        if tokens(v).next().is_none() {
            return Some(ProxyError::BadRequest);
        }
        for t in tokens(v) {
            if t.eq_ignore_ascii_case("chunked") {
                chunked += 1;
            } else {
                other = true;
            }
        }
    }
    if chunked > 1 {
        Some(ProxyError::BadRequest)
    } else if other {
        Some(ProxyError::UnprocessableContent)
    } else {
        None
    }
}

/// Applies `option forwardfor`: appends the client address as a new header line, unless the client is in the
/// `except` network, or `if-none` is set and the header is already there.
pub fn add_forwarded_for(
    headers: &mut HeaderMap,
    ff: &ForwardFor,
    name: &HeaderName,
    client: IpAddr,
) {
    if let Some((net, bits)) = ff.except {
        if in_network(client, net, bits) {
            return;
        }
    }
    if ff.if_none && headers.contains_key(name) {
        return;
    }
    let client = match client {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(client),
        v4 => v4,
    };
    if let Ok(v) = HeaderValue::from_str(&client.to_string()) {
        headers.append(name.clone(), v);
    }
}

/// Whether `ip` lies in `net/bits`.
pub fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits.min(32)))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits.min(128)))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|a| in_network(IpAddr::V4(a), net, bits)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "gzip"),
            ("transfer-encoding", "chunked"),
            ("host", "example"),
            ("x-kept", "yes"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["host", "x-kept"]);
    }

    #[test]
    fn request_transfer_codings() {
        let err = |v: &str| request_coding_error(&map(&[("transfer-encoding", v)]));
        assert_eq!(err("chunked"), None);
        assert_eq!(err("Chunked"), None);
        assert_eq!(err("chunked, chunked"), Some(ProxyError::BadRequest));
        assert_eq!(err("chunked, gzip, chunked"), Some(ProxyError::BadRequest));
        assert_eq!(err("gzip, chunked"), Some(ProxyError::UnprocessableContent));
        assert_eq!(request_coding_error(&map(&[("host", "a")])), None);
    }

    #[test]
    fn te_keeps_only_a_bare_trailers() {
        let te = |v: &str| {
            let mut h = map(&[("te", v), ("host", "example")]);
            strip_hop_by_hop(&mut h, false);
            h.get("te").map(|v| v.to_str().unwrap().to_string())
        };
        assert_eq!(te("trailers, gzip").as_deref(), Some("trailers"));
        assert_eq!(te("gzip, Trailers").as_deref(), Some("trailers"));
        assert_eq!(te("gzip"), None);
        assert_eq!(te("trailers;q=0.5"), None);
    }

    #[test]
    fn keeps_upgrade_when_switching() {
        let mut h = map(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "abc"),
        ]);
        assert!(wants_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["sec-websocket-key"], "abc");
    }

    #[test]
    fn forwardfor_appends_and_respects_options() {
        let name = HeaderName::from_static("x-forwarded-for");
        let mut ff = ForwardFor {
            except: None,
            header: "X-Forwarded-For".into(),
            if_none: false,
        };
        let mut h = map(&[("x-forwarded-for", "10.1.1.1")]);
        add_forwarded_for(&mut h, &ff, &name, "198.18.0.7".parse().unwrap());
        let all: Vec<_> = h.get_all(&name).iter().collect();
        assert_eq!(all, vec!["10.1.1.1", "198.18.0.7"]);

        ff.if_none = true;
        add_forwarded_for(&mut h, &ff, &name, "198.18.0.8".parse().unwrap());
        assert_eq!(h.get_all(&name).iter().count(), 2);

        ff.if_none = false;
        ff.except = Some(("127.0.0.0".parse().unwrap(), 8));
        let mut h = HeaderMap::new();
        add_forwarded_for(&mut h, &ff, &name, "127.0.0.1".parse().unwrap());
        assert!(h.is_empty());
        add_forwarded_for(&mut h, &ff, &name, "::ffff:198.18.0.9".parse().unwrap());
        assert_eq!(h[&name], "198.18.0.9");
    }

    #[test]
    fn networks() {
        assert!(in_network(
            "198.18.3.4".parse().unwrap(),
            "198.18.0.0".parse().unwrap(),
            15
        ));
        assert!(!in_network(
            "198.20.0.1".parse().unwrap(),
            "198.18.0.0".parse().unwrap(),
            15
        ));
        assert!(in_network(
            "fd00::1".parse().unwrap(),
            "fd00::".parse().unwrap(),
            8
        ));
        assert!(in_network(
            "1.2.3.4".parse().unwrap(),
            "0.0.0.0".parse().unwrap(),
            0
        ));
    }
}
