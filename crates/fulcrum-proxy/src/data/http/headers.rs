//! `option forwardfor`: the client address added to requests (the codec's own header handling is in
//! `fulcrum_http::headers`).

use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use fulcrum_config::haproxy::ForwardFor;

use crate::model::rules::matcher::in_network;

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

/// Applies `option originalto`: appends the address the client connected to as a new header line, unless it is
/// in the `except` network.
pub fn add_original_to(headers: &mut HeaderMap, ot: &ForwardFor, name: &HeaderName, dst: IpAddr) {
    if let Some((net, bits)) = ot.except {
        if in_network(dst, net, bits) {
            return;
        }
    }
    let dst = match dst {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(dst),
        v4 => v4,
    };
    if let Ok(v) = HeaderValue::from_str(&dst.to_string()) {
        headers.append(name.clone(), v);
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
}
