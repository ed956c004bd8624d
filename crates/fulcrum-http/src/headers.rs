//! Header handling shared by requests and responses: list-valued headers, hop-by-hop headers (RFC 9110 section
//! 7.6.1), connection reuse and body-length fields.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Version;

/// Headers that only describe one hop and are never forwarded as they are. (`Trailer`, which announces the
/// trailer fields, is forwarded with them, as HAProxy does.)
pub(crate) const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The comma-separated tokens of a list-valued header (`Connection`, `Transfer-Encoding`...), trimmed.
pub fn tokens(v: &HeaderValue) -> impl Iterator<Item = &str> {
    v.to_str()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The tokens of every `name` header line.
pub fn all_tokens(headers: &HeaderMap, name: HeaderName) -> impl Iterator<Item = &str> {
    headers.get_all(name).into_iter().flat_map(tokens)
}

/// Whether the message asks to switch protocols (`Connection: upgrade` plus an `Upgrade` header).
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && all_tokens(headers, header::CONNECTION).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

/// A WebSocket handshake (RFC 6455 section 4) missing its key: an upgrade to `websocket` without
/// `Sec-WebSocket-Key` (a request), or a `101` switching to `websocket` without `Sec-WebSocket-Accept` (a
/// response, `response` true). HAProxy refuses the first with a 400 and the second with a 502; only the key's
/// presence is checked, as HAProxy does between two HTTP/1 sides.
pub fn websocket_without_key(headers: &HeaderMap, response: bool) -> bool {
    let websocket = wants_upgrade(headers)
        && all_tokens(headers, header::UPGRADE).any(|t| t.eq_ignore_ascii_case("websocket"));
    let key = if response {
        header::SEC_WEBSOCKET_ACCEPT
    } else {
        header::SEC_WEBSOCKET_KEY
    };
    websocket && !headers.contains_key(key)
}

/// HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
pub fn connection_allows_reuse(headers: &HeaderMap, version: Version) -> bool {
    let mut close = false;
    let mut keep = false;
    for t in all_tokens(headers, header::CONNECTION) {
        close |= t.eq_ignore_ascii_case("close");
        keep |= t.eq_ignore_ascii_case("keep-alive");
    }
    !close && (version == Version::HTTP_11 || keep)
}

/// Whether the transfer codings are exactly one `chunked`.
pub fn only_one_chunked(headers: &HeaderMap) -> bool {
    let mut t = all_tokens(headers, header::TRANSFER_ENCODING);
    t.next().is_some_and(|c| c.eq_ignore_ascii_case("chunked")) && t.next().is_none()
}

/// The body length the `Content-Length` lines give; repeated values must all agree (`Content-Length: 5, 5` is 5).
/// `None`: absent, or not one non-negative number.
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    let mut found = None;
    for t in all_tokens(headers, header::CONTENT_LENGTH) {
        if t.len() > 19 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n = t
            .bytes()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
        if found.is_some_and(|f| f != n) {
            return None;
        }
        found = Some(n);
    }
    found
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
    let te_trailers = all_tokens(headers, header::TE).any(|t| t.eq_ignore_ascii_case("trailers"));
    // Only allocate when Connection names extra headers, which is rare.
    // Only allocate when Connection names extra headers, which is rare.
    let named: Vec<HeaderName> = all_tokens(headers, header::CONNECTION)
        .filter(|t| {
            !t.eq_ignore_ascii_case("close")
                && !t.eq_ignore_ascii_case("keep-alive")
                && !t.eq_ignore_ascii_case("upgrade")
        })
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    let upgrade_value = if upgrade {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    };
    // Rebuilt in order: `HeaderMap::remove` moves the last header into the hole, and the next hop would see the
    // others reordered (HAProxy keeps their order). What is kept of `Connection`, `Upgrade` and `TE` stays where
    // it was.
    let old = std::mem::replace(headers, HeaderMap::with_capacity(headers.len()));
    let mut current: Option<HeaderName> = None;
    for (name, value) in old {
        if let Some(n) = name {
            current = Some(n);
        }
        let Some(name) = current.clone() else {
            continue;
        };
        if named.contains(&name) {
            continue;
        }
        if !HOP_BY_HOP.contains(&name) {
            headers.append(name, value);
            continue;
        }
        if headers.contains_key(&name) {
            continue;
        }
        if name == header::CONNECTION && upgrade_value.is_some() {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        } else if name == header::UPGRADE {
            if let Some(v) = &upgrade_value {
                headers.insert(header::UPGRADE, v.clone());
            }
        } else if name == header::TE && te_trailers {
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
    }
    if let Some(value) = upgrade_value {
        if !headers.contains_key(header::CONNECTION) {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        if !headers.contains_key(header::UPGRADE) {
            headers.insert(header::UPGRADE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_handshakes_need_their_key() {
        let h = |pairs: &[(&str, &str)]| {
            let mut m = HeaderMap::new();
            for (n, v) in pairs {
                m.append(
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            m
        };
        let ws = [("connection", "Upgrade"), ("upgrade", "WebSocket")];
        assert!(websocket_without_key(&h(&ws), false));
        assert!(websocket_without_key(&h(&ws), true));
        let with_key = [
            ws[0],
            ws[1],
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        assert!(!websocket_without_key(&h(&with_key), false));
        let with_accept = [ws[0], ws[1], ("sec-websocket-accept", "x")];
        assert!(!websocket_without_key(&h(&with_accept), true));
        // another protocol, or no Connection: upgrade, is not a WebSocket handshake
        assert!(!websocket_without_key(
            &h(&[("connection", "upgrade"), ("upgrade", "h2c")]),
            false
        ));
        assert!(!websocket_without_key(
            &h(&[("upgrade", "websocket")]),
            false
        ));
    }

    pub(crate) fn map(pairs: &[(&str, &str)]) -> HeaderMap {
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
    fn what_is_kept_keeps_its_order() {
        let mut h = map(&[
            ("host", "example"),
            ("connection", "keep-alive"),
            ("user-agent", "ua"),
            ("te", "trailers, gzip"),
            ("accept", "*/*"),
            ("x-a", "1"),
            ("x-b", "2"),
            ("x-c", "3"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let pairs: Vec<_> = h
            .iter()
            .map(|(k, v)| format!("{}={}", k, v.to_str().unwrap()))
            .collect();
        assert_eq!(
            pairs,
            [
                "host=example",
                "user-agent=ua",
                "te=trailers",
                "accept=*/*",
                "x-a=1",
                "x-b=2",
                "x-c=3"
            ]
        );
        let mut h = map(&[
            ("connection", "upgrade"),
            ("host", "example"),
            ("upgrade", "websocket"),
            ("x-a", "1"),
        ]);
        strip_hop_by_hop(&mut h, true);
        let names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["connection", "host", "upgrade", "x-a"]);
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
    fn content_lengths_must_agree() {
        let cl = |v: &str| content_length(&map(&[("content-length", v)]));
        assert_eq!(cl("5"), Some(5));
        assert_eq!(cl("5, 5"), Some(5));
        for bad in ["-1", "1, 2", "x", "", "99999999999999999999"] {
            assert_eq!(cl(bad), None, "{bad}");
        }
        assert_eq!(content_length(&HeaderMap::new()), None);
    }
}
