//! `option forwardfor`: the client address added to requests (the codec's own header handling is in
//! `fulcrum_http::headers`).

use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use fulcrum_config::haproxy::ForwardFor;

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
