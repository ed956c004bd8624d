//! The mapping between an HTTP/2 message and the proxy's request and response types, sans-IO: what an HTTP/2
//! codec decoded (pseudo-headers already in the method and the URI) becomes a request the HTTP/1 request path
//! reads the same way, and a response head is made fit to go out on an HTTP/2 stream.
//!
//! As HAProxy 2.6 maps an HTTP/2 request:
//! - `:authority` becomes the `Host` header (first of the headers), replacing any `Host` the client sent
//!   (RFC 9113 section 8.3.1); the URI keeps its absolute form (`url` reads `http://host/path`), and a server
//!   is sent its origin form ([`sends_origin_form`]);
//! - the `Cookie` header fields, which HTTP/2 lets a client split, are joined with `; ` into one, placed last
//!   (RFC 9113 section 8.2.3);
//! - connection-specific header fields make the request malformed (RFC 9113 section 8.2.2), and so does a `TE`
//!   other than `trailers`.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::headers::HOP_BY_HOP;
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::Version;

/// Whether a request is one [`request_from_h2`] mapped with an absolute URI (made from the HTTP/2
/// pseudo-headers), which an HTTP/1 server is sent in its origin form ([`origin_form`]). Told from the request
/// itself rather than marked in its extensions: a mark there would cost two allocations per request.
pub fn sends_origin_form(parts: &http::request::Parts) -> bool {
    parts.version == Version::HTTP_2
        && parts.method != http::Method::CONNECT
        && parts.uri.authority().is_some()
}

/// Why an HTTP/2 request is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum H2MapError {
    /// A connection-specific header field (RFC 9113 section 8.2.2).
    #[error("connection-specific header field '{0}' in an HTTP/2 request")]
    ConnectionHeader(HeaderName),
    /// `TE` with a value other than `trailers`.
    #[error("TE header field other than 'trailers' in an HTTP/2 request")]
    Te,
    /// Neither `:authority` nor `Host`, or an invalid one.
    #[error("HTTP/2 request without a valid :authority or Host")]
    Authority,
    /// A value that cannot be carried (a joined cookie that is not a valid header value).
    #[error("invalid header value in an HTTP/2 request")]
    Value,
}

/// Turns the head of a request received on an HTTP/2 stream into the request the proxy serves: see the module
/// documentation. `tls`: the connection is TLS (the scheme when the client sent none).
pub fn request_from_h2(parts: &mut http::request::Parts, tls: bool) -> Result<(), H2MapError> {
    // One pass over the few names a request has, rather than a lookup per forbidden name.
    if let Some(name) = parts
        .headers
        .keys()
        .find(|n| **n != header::TE && HOP_BY_HOP.contains(n))
    {
        return Err(H2MapError::ConnectionHeader(name.clone()));
    }
    for te in parts.headers.get_all(header::TE) {
        if !te.as_bytes().eq_ignore_ascii_case(b"trailers") {
            return Err(H2MapError::Te);
        }
    }
    parts.version = Version::HTTP_2;
    // Values arrive as the client wrote them: surrounding blanks are trimmed, as an HTTP/1 head's are.
    for v in parts.headers.values_mut() {
        let b = v.as_bytes();
        if b.first().is_some_and(|c| *c == b' ' || *c == b'\t')
            || b.last().is_some_and(|c| *c == b' ' || *c == b'\t')
        {
            let t = b.trim_ascii();
            *v = HeaderValue::from_bytes(t).map_err(|_| H2MapError::Value)?;
        }
    }
    let authority = match parts.uri.authority() {
        Some(a) => Some(a.clone()),
        None => match parts.headers.get(header::HOST) {
            Some(h) => Some(Authority::try_from(h.as_bytes()).map_err(|_| H2MapError::Authority)?),
            None => None,
        },
    };
    let scheme =
        parts
            .uri
            .scheme()
            .cloned()
            .unwrap_or(if tls { Scheme::HTTPS } else { Scheme::HTTP });
    // Scheme-based normalization (RFC 3986 section 6.2.3), as HAProxy 2.5+ does it: the scheme's default port is
    // dropped from the authority, and so from Host.
    let authority = authority.map(|a| match (a.port_u16(), scheme.as_str()) {
        (Some(80), "http") | (Some(443), "https") => Authority::try_from(a.host()).unwrap_or(a),
        _ => a,
    });
    // CONNECT names only an authority: the URI stays as it is. Any other URI is made absolute, unless it already
    // is, as it was written (the usual case: the codec made it from `:scheme`, `:authority` and `:path`).
    if parts.method != http::Method::CONNECT {
        if let Some(a) = &authority {
            let as_is = parts.uri.scheme() == Some(&scheme)
                && parts.uri.authority().map(Authority::as_str) == Some(a.as_str())
                && parts.uri.path_and_query().is_some();
            if !as_is {
                let pq = parts
                    .uri
                    .path_and_query()
                    .cloned()
                    .unwrap_or_else(|| PathAndQuery::from_static("/"));
                parts.uri = Uri::builder()
                    .scheme(scheme.clone())
                    .authority(a.clone())
                    .path_and_query(pq)
                    .build()
                    .map_err(|_| H2MapError::Authority)?;
            }
        }
    }
    // The headers are laid out again only when they must move: a Host to put first or cookies to join.
    let cookies = parts.headers.get_all(header::COOKIE).iter().count();
    let host_ok = match (&authority, parts.headers.get(header::HOST)) {
        (None, _) => true,
        (Some(a), Some(h)) => h.as_bytes() == a.as_str().as_bytes() && host_first(&parts.headers),
        (Some(_), None) => false,
    };
    if host_ok && cookies <= 1 {
        return Ok(());
    }
    let old = std::mem::take(&mut parts.headers);
    let mut out = HeaderMap::with_capacity(old.len() + 1);
    if let Some(a) = &authority {
        let v = HeaderValue::from_str(a.as_str()).map_err(|_| H2MapError::Authority)?;
        out.insert(header::HOST, v);
    }
    let mut cookie: Vec<u8> = Vec::new();
    let mut name: Option<HeaderName> = None;
    for (n, v) in old {
        if let Some(n) = n {
            name = Some(n);
        }
        let Some(n) = &name else { continue };
        if *n == header::HOST && authority.is_some() {
            continue;
        }
        if *n == header::COOKIE {
            if !cookie.is_empty() {
                cookie.extend_from_slice(b"; ");
            }
            cookie.extend_from_slice(v.as_bytes());
            continue;
        }
        out.append(n.clone(), v);
    }
    if cookies > 0 {
        let v = HeaderValue::from_bytes(&cookie).map_err(|_| H2MapError::Value)?;
        out.append(header::COOKIE, v);
    }
    parts.headers = out;
    Ok(())
}

fn host_first(headers: &HeaderMap) -> bool {
    headers.keys().next() == Some(&header::HOST)
}

/// The URI an HTTP/1 server is sent for `uri` when [`sends_origin_form`]: its origin form.
pub fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(pq) => Uri::from(pq.clone()),
        None => Uri::from_static("/"),
    }
}

/// Makes the head of a request the proxy forwards fit for an HTTP/2 stream to a server, as HAProxy 2.6 sends it
/// (observed) and RFC 9113 section 8.3.1 asks: a request whose target has an authority (absolute form, or any
/// request from an HTTP/2 client) keeps its URI, which gives `:scheme` and `:authority`, and loses `Host`; one
/// in origin form sends no `:authority` and keeps its `Host` (it is marked HTTP/1.1, which the `h2` codec sends
/// with `:scheme http`, where HAProxy writes `https`). The connection-specific header fields go (and those
/// `Connection` names), a `TE` is kept only as `TE: trailers`.
pub fn request_to_h2(parts: &mut http::request::Parts) {
    let trailers = crate::headers::all_tokens(&parts.headers, header::TE)
        .any(|t| t.trim().eq_ignore_ascii_case("trailers"));
    strip_connection_specific(&mut parts.headers);
    if trailers {
        parts
            .headers
            .insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if parts.method != http::Method::CONNECT && parts.uri.authority().is_some() {
        parts.version = Version::HTTP_2;
        parts.headers.remove(header::HOST);
    } else {
        parts.version = Version::HTTP_11;
    }
}

/// Turns an extended CONNECT received on an HTTP/2 stream (RFC 8441: `:method CONNECT` with `:protocol`) into
/// the HTTP/1.1 protocol upgrade it stands for, as HAProxy 2.6 maps it: a `GET` of the same target, mapped as
/// [`request_from_h2`] maps any request, with `Upgrade: PROTOCOL` and `Connection: upgrade` added.
pub fn upgrade_from_extended_connect(
    parts: &mut http::request::Parts,
    protocol: &str,
    tls: bool,
) -> Result<(), H2MapError> {
    let upgrade = HeaderValue::from_str(protocol).map_err(|_| H2MapError::Value)?;
    parts.method = http::Method::GET;
    request_from_h2(parts, tls)?;
    parts.headers.insert(header::UPGRADE, upgrade);
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    Ok(())
}

/// The protocol an HTTP/1.1 request asks to switch to (`Connection: upgrade` and the first `Upgrade` token).
pub fn upgrade_protocol(headers: &HeaderMap) -> Option<&str> {
    if !crate::headers::wants_upgrade(headers) {
        return None;
    }
    crate::headers::all_tokens(headers, header::UPGRADE).next()
}

/// Makes an HTTP/1.1 protocol upgrade fit for an HTTP/2 stream to a server as an extended CONNECT (RFC 8441), as
/// HAProxy 2.6 sends it (observed): `:method CONNECT`, `:protocol` the upgrade's protocol (returned, for the
/// codec to send), `:scheme` the URI's or `https` for an origin-form target, `:authority` the URI's or the
/// `Host` (which goes), `:path` the target's; connection-specific fields go as [`request_to_h2`] removes them
/// (the WebSocket key and version stay). `None`: not an upgrade; `parts` is unchanged.
pub fn extended_connect_to_h2(parts: &mut http::request::Parts) -> Option<String> {
    let protocol = upgrade_protocol(&parts.headers)?.to_owned();
    let authority = match parts.uri.authority() {
        Some(a) => a.clone(),
        None => Authority::try_from(parts.headers.get(header::HOST)?.as_bytes()).ok()?,
    };
    let scheme = parts.uri.scheme().cloned().unwrap_or(Scheme::HTTPS);
    let pq = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let uri = Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(pq)
        .build()
        .ok()?;
    request_to_h2(parts);
    parts.headers.remove(header::HOST);
    parts.method = http::Method::CONNECT;
    parts.uri = uri;
    parts.version = Version::HTTP_2;
    Some(protocol)
}

/// Makes a response head fit for an HTTP/2 stream: the connection-specific header fields (and those that
/// `Connection` names) are removed, and the version set to HTTP/2.
pub fn response_for_h2(parts: &mut http::response::Parts) {
    strip_connection_specific(&mut parts.headers);
    parts.version = Version::HTTP_2;
}

/// Removes the header fields HTTP/2 cannot carry: those named by `Connection`, then the connection-specific
/// ones themselves.
pub fn strip_connection_specific(headers: &mut HeaderMap) {
    // Most heads have none: one pass over their names tells, rather than a removal per forbidden name.
    if !headers.keys().any(|n| HOP_BY_HOP.contains(n)) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = crate::headers::all_tokens(headers, header::CONNECTION)
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for n in named {
            headers.remove(n);
        }
    }
    // The hop-by-hop fields are HTTP/2's connection-specific ones (RFC 9113 section 8.2.2) and `TE`, which means
    // nothing in a response on HTTP/2.
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn authority_becomes_the_first_host_and_the_uri_stays_absolute() {
        let mut p = parts("http://example.test:8080/a?b", &[("accept", "*/*")]);
        request_from_h2(&mut p, false).unwrap();
        assert_eq!(p.version, Version::HTTP_2);
        assert_eq!(p.uri, "http://example.test:8080/a?b");
        assert_eq!(p.headers.keys().next().unwrap(), "host");
        assert_eq!(p.headers["host"], "example.test:8080");
        assert!(sends_origin_form(&p));
        assert_eq!(origin_form(&p.uri), "/a?b");
    }

    #[test]
    fn authority_wins_over_a_host_header() {
        let mut p = parts("https://a.test/", &[("host", "b.test"), ("x", "1")]);
        request_from_h2(&mut p, true).unwrap();
        assert_eq!(p.headers.get_all("host").iter().count(), 1);
        assert_eq!(p.headers["host"], "a.test");
        let names: Vec<_> = p.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["host", "x"]);
    }

    #[test]
    fn the_default_port_of_the_scheme_is_dropped() {
        for (uri, tls, want_uri, want_host) in [
            ("http://h:80/", false, "http://h/", "h"),
            ("http://h:8080/", false, "http://h:8080/", "h:8080"),
            ("https://h:443/x", true, "https://h/x", "h"),
            ("https://h:80/", true, "https://h:80/", "h:80"),
        ] {
            let mut p = parts(uri, &[("host", "other")]);
            request_from_h2(&mut p, tls).unwrap();
            assert_eq!(p.uri, want_uri);
            assert_eq!(p.headers["host"], want_host);
        }
    }

    #[test]
    fn values_are_trimmed() {
        let mut p = parts("/", &[("a", "  x y \t"), ("b", "z")]);
        request_from_h2(&mut p, false).unwrap();
        assert_eq!(p.headers["a"], "x y");
        assert_eq!(p.headers["b"], "z");
    }

    #[test]
    fn host_alone_gives_the_authority() {
        let mut p = parts("/p", &[("host", "h.test")]);
        request_from_h2(&mut p, true).unwrap();
        assert_eq!(p.uri, "https://h.test/p");
    }

    #[test]
    fn no_authority_keeps_the_origin_form() {
        let mut p = parts("/p", &[]);
        request_from_h2(&mut p, false).unwrap();
        assert_eq!(p.uri, "/p");
        assert!(!sends_origin_form(&p));
    }

    #[test]
    fn cookies_are_joined_into_one_field_placed_last() {
        let mut p = parts(
            "http://a.test/",
            &[
                ("cookie", "a=1"),
                ("x", "y"),
                ("cookie", "b=2"),
                ("cookie", "c=3"),
            ],
        );
        request_from_h2(&mut p, false).unwrap();
        assert_eq!(p.headers.get_all("cookie").iter().count(), 1);
        assert_eq!(p.headers["cookie"], "a=1; b=2; c=3");
        let names: Vec<_> = p.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["host", "x", "cookie"]);
    }

    #[test]
    fn connection_specific_headers_and_te_are_refused() {
        for h in [
            "connection",
            "proxy-connection",
            "keep-alive",
            "transfer-encoding",
            "upgrade",
        ] {
            let mut p = parts("http://a.test/", &[(h, "x")]);
            assert_eq!(
                request_from_h2(&mut p, false),
                Err(H2MapError::ConnectionHeader(HeaderName::from_static(h)))
            );
        }
        let mut p = parts("http://a.test/", &[("te", "gzip")]);
        assert_eq!(request_from_h2(&mut p, false), Err(H2MapError::Te));
        let mut p = parts("http://a.test/", &[("te", "trailers")]);
        request_from_h2(&mut p, false).unwrap();
        assert_eq!(p.headers["te"], "trailers");
    }

    #[test]
    fn a_bad_host_is_refused() {
        let mut p = parts("/", &[("host", "a b")]);
        assert_eq!(request_from_h2(&mut p, false), Err(H2MapError::Authority));
    }

    #[test]
    fn responses_lose_connection_specific_fields() {
        let mut r = http::Response::builder()
            .header("connection", "close, x-hop")
            .header("keep-alive", "timeout=5")
            .header("x-hop", "1")
            .header("transfer-encoding", "chunked")
            .header("x-end", "2")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        response_for_h2(&mut r);
        let names: Vec<_> = r.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-end"]);
        assert_eq!(r.version, Version::HTTP_2);
    }

    #[test]
    fn an_extended_connect_becomes_an_http1_upgrade() {
        let mut b = http::Request::builder()
            .method("CONNECT")
            .uri("http://a.test:80/chat?x");
        b = b.header("sec-websocket-version", "13");
        let mut p = b.body(()).unwrap().into_parts().0;
        upgrade_from_extended_connect(&mut p, "websocket", false).unwrap();
        assert_eq!(p.method, http::Method::GET);
        assert_eq!(p.uri, "http://a.test/chat?x");
        assert_eq!(p.headers["host"], "a.test");
        assert_eq!(p.headers["upgrade"], "websocket");
        assert_eq!(p.headers["connection"], "upgrade");
        assert_eq!(p.headers["sec-websocket-version"], "13");
        assert!(sends_origin_form(&p));
        // Connection-specific fields are still refused.
        let mut p = http::Request::builder()
            .method("CONNECT")
            .uri("http://a.test/")
            .header("upgrade", "x")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert!(upgrade_from_extended_connect(&mut p, "websocket", false).is_err());
    }

    #[test]
    fn an_http1_upgrade_becomes_an_extended_connect() {
        let mut p = parts(
            "/chat",
            &[
                ("host", "h.test"),
                ("connection", "upgrade"),
                ("upgrade", "websocket"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
        );
        assert_eq!(extended_connect_to_h2(&mut p).as_deref(), Some("websocket"));
        assert_eq!(p.method, http::Method::CONNECT);
        assert_eq!(p.uri, "https://h.test/chat");
        assert_eq!(p.version, Version::HTTP_2);
        let names: Vec<_> = p.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["sec-websocket-key"]);
        // An absolute target keeps its scheme; a request that asks no upgrade is left alone.
        let mut p = parts(
            "http://x.test/",
            &[("connection", "upgrade"), ("upgrade", "custom")],
        );
        assert_eq!(extended_connect_to_h2(&mut p).as_deref(), Some("custom"));
        assert_eq!(p.uri, "http://x.test/");
        let mut p = parts("/", &[("host", "h"), ("upgrade", "custom")]);
        assert_eq!(extended_connect_to_h2(&mut p), None);
        assert_eq!(p.method, http::Method::GET);
    }

    #[test]
    fn a_request_for_an_h2_server_keeps_its_authority_and_loses_connection_headers() {
        let mut p = parts(
            "/a?b",
            &[
                ("host", "h.test:81"),
                ("connection", "keep-alive, x-hop"),
                ("x-hop", "1"),
                ("te", "trailers, deflate"),
                ("transfer-encoding", "chunked"),
                ("cookie", "a=1"),
            ],
        );
        request_to_h2(&mut p);
        // Origin form: no :authority, Host kept.
        assert_eq!(p.version, Version::HTTP_11);
        assert_eq!(p.uri, "/a?b");
        assert_eq!(p.headers["host"], "h.test:81");
        assert!(p.headers.get("connection").is_none());
        assert!(p.headers.get("x-hop").is_none());
        assert!(p.headers.get("transfer-encoding").is_none());
        assert_eq!(p.headers["te"], "trailers");
        assert_eq!(p.headers["cookie"], "a=1");
        // An absolute URI gives :scheme and :authority; Host goes.
        let mut p = parts("http://x.test/p", &[("host", "x.test"), ("te", "gzip")]);
        request_to_h2(&mut p);
        assert_eq!(p.version, Version::HTTP_2);
        assert_eq!(p.uri, "http://x.test/p");
        assert!(p.headers.get("host").is_none());
        assert!(p.headers.get("te").is_none());
    }
}
