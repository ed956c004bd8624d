//! `capture request header NAME len N` and `capture response header NAME len N`: the last value of each named
//! header, cut to its length, kept with the request's log record and written by `%hr` / `%hrl` / `%hs` / `%hsl`
//! (and so by `option httplog`, whose format holds `%hr %hs`). `capture cookie NAME len N`: the first request
//! cookie and the first `Set-Cookie` whose name starts with NAME, as `NAME=VALUE` (spaces around both trimmed,
//! attributes left out) cut to its length, written by `%CC` / `%CS`.

use http::{HeaderMap, HeaderName};

use fulcrum_config::haproxy::{Capture, Proxy};

/// Captured values of one direction, in configuration order; `None` where the header was absent.
pub type Captured = Vec<Option<Box<[u8]>>>;

/// A frontend's captures, header names parsed once.
#[derive(Debug, Default)]
pub struct Captures {
    request: Vec<(HeaderName, usize)>,
    response: Vec<(HeaderName, usize)>,
    cookie: Option<(Box<str>, usize)>,
}

fn parse(list: &[Capture]) -> Vec<(HeaderName, usize)> {
    // The configuration parser only lets header-name characters through; a name `http` refuses anyway is skipped.
    list.iter()
        .filter_map(|c| {
            HeaderName::from_bytes(c.name.as_bytes())
                .ok()
                .map(|n| (n, c.len))
        })
        .collect()
}

fn take(list: &[(HeaderName, usize)], headers: &HeaderMap) -> Captured {
    list.iter()
        .map(|(name, len)| {
            headers.get_all(name).iter().next_back().map(|v| {
                let v = v.as_bytes();
                Box::from(&v[..v.len().min(*len)])
            })
        })
        .collect()
}

impl Captures {
    /// The `capture` lines of `p`.
    pub fn new(p: &Proxy) -> Captures {
        Captures {
            request: parse(&p.capture_request),
            response: parse(&p.capture_response),
            cookie: p
                .capture_cookie
                .as_ref()
                .map(|c| (c.name.as_str().into(), c.len)),
        }
    }

    /// The request's captured headers (empty when none is configured).
    pub fn request(&self, headers: &HeaderMap) -> Captured {
        take(&self.request, headers)
    }

    /// The response's captured headers (empty when none is configured).
    pub fn response(&self, headers: &HeaderMap) -> Captured {
        take(&self.response, headers)
    }
}

/// `b` without its leading and trailing spaces and tabs.
fn trim(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// `NAME=VALUE` of the first `name=value` pair in `text` whose name starts with `prefix`, cut to `len`; pairs are
/// separated by `;`; `all` false looks at the first pair only (a `Set-Cookie` line's cookie, before its attributes).
fn cookie_pair(text: &[u8], prefix: &str, len: usize, all: bool) -> Option<Box<[u8]>> {
    let mut pairs = text.split(|&c| c == b';');
    let mut check = |pair: &[u8]| {
        let eq = pair.iter().position(|&c| c == b'=')?;
        let name = trim(&pair[..eq]);
        if !name.starts_with(prefix.as_bytes()) {
            return None;
        }
        let mut v = name.to_vec();
        v.push(b'=');
        v.extend_from_slice(trim(&pair[eq + 1..]));
        v.truncate(len);
        Some(v.into_boxed_slice())
    };
    if all {
        pairs.find_map(check)
    } else {
        pairs.next().and_then(&mut check)
    }
}

impl Captures {
    /// `capture cookie`: the request's cookie (`%CC`).
    pub fn request_cookie(&self, headers: &HeaderMap) -> Option<Box<[u8]>> {
        let (name, len) = self.cookie.as_ref()?;
        headers
            .get_all(http::header::COOKIE)
            .iter()
            .find_map(|v| cookie_pair(v.as_bytes(), name, *len, true))
    }

    /// `capture cookie`: the response's `Set-Cookie` (`%CS`).
    pub fn response_cookie(&self, headers: &HeaderMap) -> Option<Box<[u8]>> {
        let (name, len) = self.cookie.as_ref()?;
        headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .find_map(|v| cookie_pair(v.as_bytes(), name, *len, false))
    }
}

/// Writes one value with the characters HAProxy encodes in captured headers (controls, non-ASCII, `"`, `#`, `{`,
/// `|`, `}`) as `#XX`.
fn push_encoded(out: &mut Vec<u8>, v: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in v {
        if !(0x20..0x7f).contains(&b) || matches!(b, b'"' | b'#' | b'{' | b'|' | b'}') {
            out.extend_from_slice(&[b'#', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.push(b);
        }
    }
}

/// `%hr` / `%hs`: `{v1|v2|...}`, absent values empty; nothing at all when no capture is configured.
pub fn write_braced(out: &mut Vec<u8>, values: &[Option<Box<[u8]>>]) {
    if values.is_empty() {
        return;
    }
    out.push(b'{');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b'|');
        }
        if let Some(v) = v {
            push_encoded(out, v);
        }
    }
    out.push(b'}');
}

/// `%hrl` / `%hsl`: the values separated by spaces, `-` for an absent one; nothing when none is configured.
pub fn write_list(out: &mut Vec<u8>, values: &[Option<Box<[u8]>>]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        match v {
            Some(v) => push_encoded(out, v),
            None => out.push(b'-'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(list: &[(&str, usize)]) -> Vec<(HeaderName, usize)> {
        parse(
            &list
                .iter()
                .map(|(n, l)| Capture {
                    name: n.to_string(),
                    len: *l,
                })
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn last_value_cut_to_length_and_encoded() {
        let mut h = HeaderMap::new();
        h.append("fooreq", "first".parse().unwrap());
        h.append("FooReq", "second-value".parse().unwrap());
        h.append("x-odd", "a|b{c}\"d#e".parse().unwrap());
        let got = take(&caps(&[("FOOREQ", 6), ("missing", 4), ("x-odd", 64)]), &h);
        let mut out = Vec::new();
        write_braced(&mut out, &got);
        assert_eq!(out, b"{second||a#7Cb#7Bc#7D#22d#23e}");
        out.clear();
        write_list(&mut out, &got);
        assert_eq!(out, b"second - a#7Cb#7Bc#7D#22d#23e");
        out.clear();
        write_braced(&mut out, &[]);
        assert!(out.is_empty());
    }
}
