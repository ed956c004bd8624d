//! HTTP text helpers for the fetches: header values split on commas, cookies, the path and the
//! query of a request target, URL parameters. Pure functions over byte slices; they return
//! sub-slices of their input so that fetches do not allocate.

use std::ops::ControlFlow;

/// Linear white space around header values (HAProxy trims CR and LF too).
fn is_lws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// The end of the comma-delimited value starting at `from`: the first comma outside a quoted
/// string (where a backslash escapes the next character).
fn value_end(v: &[u8], from: usize, delims: &[u8]) -> usize {
    let mut quoted = false;
    let mut escaped = false;
    for (i, &c) in v.iter().enumerate().skip(from) {
        if escaped {
            escaped = false;
        } else if quoted {
            match c {
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => {}
            }
        } else if c == b'"' {
            quoted = true;
        } else if delims.contains(&c) {
            return i;
        }
    }
    v.len()
}

fn trim_lws(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|&c| !is_lws(c)).unwrap_or(v.len());
    let end = v.iter().rposition(|&c| !is_lws(c)).map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

/// Calls `f` with each value of a header line: the whole line trimmed when `full`, otherwise
/// each comma-separated value trimmed (`a, b ,c` gives `a`, `b`, `c`; a trailing comma gives a
/// last empty value; commas inside double quotes do not split).
pub(crate) fn for_each_value<'s>(
    line: &'s [u8],
    full: bool,
    f: &mut dyn FnMut(&'s [u8]) -> ControlFlow<()>,
) -> ControlFlow<()> {
    if full {
        return f(trim_lws(line));
    }
    let mut p = 0;
    loop {
        while p < line.len() && is_lws(line[p]) {
            p += 1;
        }
        let end = value_end(line, p, b",");
        f(trim_lws(&line[p..end]))?;
        if end >= line.len() {
            return ControlFlow::Continue(());
        }
        p = end + 1;
    }
}

/// Finds cookie `name` (any cookie when empty) in one `Cookie` value (`list`: `name=value`
/// pairs separated by `;` or `,`) or `Set-Cookie` value (not `list`: pairs separated by `;`,
/// the search stopping at the first pair that does not match, as HAProxy does). Returns each
/// match's value to `f`, trimmed, quotes kept.
pub(crate) fn for_each_cookie<'s>(
    v: &'s [u8],
    name: &[u8],
    list: bool,
    f: &mut dyn FnMut(&'s [u8]) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let is_sp = |c: u8| c == b' ' || c == b'\t';
    let mut att_beg = 0;
    while att_beg + name.len() + 1 < v.len() {
        while att_beg < v.len() && is_sp(v[att_beg]) {
            att_beg += 1;
        }
        // the name ends at the last non-space before '=', ';' (or ',' in a list) or the end
        let mut equal = att_beg;
        let mut att_end = att_beg;
        while equal < v.len() {
            let c = v[equal];
            if c == b'=' || c == b';' || (list && c == b',') {
                break;
            }
            equal += 1;
            if !is_sp(c) {
                att_end = equal;
            }
        }
        let (val_beg, val_end, next) = if equal < v.len() && v[equal] == b'=' {
            let mut vb = equal + 1;
            while vb < v.len() && is_sp(v[vb]) {
                vb += 1;
            }
            let next = value_end(v, vb, b";,");
            let mut ve = next;
            while ve > vb && is_sp(v[ve - 1]) {
                ve -= 1;
            }
            (vb, ve, next)
        } else {
            (equal, equal, equal)
        };
        // attributes starting with '$' and pairs without '=' are skipped; in a Set-Cookie
        // value the first other pair that does not match ends the search
        let skip = v.get(att_beg) == Some(&b'$') || equal == next;
        if !skip {
            if name.is_empty() || &v[att_beg..att_end] == name {
                f(&v[val_beg..val_end])?;
            } else if !list {
                return ControlFlow::Continue(());
            }
        }
        att_beg = next + 1;
    }
    ControlFlow::Continue(())
}

/// The path of a request target: from the first `/` of an origin-form target, or after the
/// authority of an absolute URI; `None` for `*`, an authority (CONNECT) or an absolute URI without
/// a path. The query is cut off unless `with_query`.
pub(crate) fn path(uri: &[u8], with_query: bool) -> Option<&[u8]> {
    let p = match uri.first()? {
        b'/' => uri,
        _ if uri == b"*" => return None,
        _ => {
            let rest = after_scheme(uri)?;
            let slash = rest.iter().position(|&c| c == b'/')?;
            &rest[slash..]
        }
    };
    if with_query {
        return Some(p);
    }
    Some(match p.iter().position(|&c| c == b'?') {
        Some(q) => &p[..q],
        None => p,
    })
}

/// What follows `scheme://` in an absolute URI.
fn after_scheme(uri: &[u8]) -> Option<&[u8]> {
    if !uri.first()?.is_ascii_alphabetic() {
        return None;
    }
    let end = uri
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')))?;
    uri[end..].strip_prefix(b"://")
}

/// The query string: everything after the first `?` (empty for a trailing `?`), `None` without one.
/// The scheme of an `Authorization` header value as HAProxy names it (`Basic`, `Bearer`; other schemes are not
/// recognized), and what follows it.
pub(crate) fn authorization(v: &[u8]) -> Option<(&'static str, &[u8])> {
    let v = trim(v);
    let end = v.iter().position(|c| is_lws(*c)).unwrap_or(v.len());
    let scheme = match &v[..end] {
        s if s.eq_ignore_ascii_case(b"basic") => "Basic",
        s if s.eq_ignore_ascii_case(b"bearer") => "Bearer",
        _ => return None,
    };
    Some((scheme, trim(&v[end..])))
}

/// The user name and password of Basic credentials (`Basic BASE64(user:password)`).
pub(crate) fn basic_credentials(v: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    use base64::Engine;
    let ("Basic", b64) = authorization(v)? else {
        return None;
    };
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let colon = raw.iter().position(|&c| c == b':')?;
    Some((raw[..colon].to_vec(), raw[colon + 1..].to_vec()))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|c| !is_lws(*c)).unwrap_or(v.len());
    let end = v.iter().rposition(|c| !is_lws(*c)).map_or(start, |e| e + 1);
    &v[start..end]
}

pub(crate) fn query(uri: &[u8]) -> Option<&[u8]> {
    let q = uri.iter().position(|&c| c == b'?')?;
    Some(&uri[q + 1..])
}

/// The value of URL parameter `name` (the first parameter with a value when empty) in the
/// parameters following the first `delim` of the target; parameters end at `&`, `;` or `delim`.
/// Names are case-sensitive and values are not decoded.
pub(crate) fn url_param<'u>(uri: &'u [u8], name: &[u8], delim: u8) -> Option<&'u [u8]> {
    let start = uri.iter().position(|&c| c == delim)? + 1;
    param(&uri[start..], name, |c| {
        c == b'&' || c == b';' || c == delim
    })
}

/// `req.body_param`: the value of parameter `name` (the first parameter with a value when empty) of a
/// url-encoded body; parameters end at `&` or `;`, as haproxy 2.6 reads them (observed).
pub(crate) fn body_param<'b>(body: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
    param(body, name, |c| c == b'&' || c == b';')
}

/// The value of parameter `name` in `qs`, parameters ending where `is_delim` says.
fn param<'q>(qs: &'q [u8], name: &[u8], is_delim: impl Fn(u8) -> bool) -> Option<&'q [u8]> {
    let value_start = if name.is_empty() {
        qs.iter().position(|&c| c == b'=')? + 1
    } else {
        let mut pos = 0;
        loop {
            let eq = pos + name.len();
            if eq >= qs.len() {
                return None;
            }
            if qs[eq] == b'=' && &qs[pos..eq] == name {
                break eq + 1;
            }
            pos = qs[pos..].iter().position(|&c| is_delim(c))? + pos + 1;
        }
    };
    let len = qs[value_start..]
        .iter()
        .position(|&c| is_delim(c))
        .unwrap_or(qs.len() - value_start);
    Some(&qs[value_start..value_start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_params_like_haproxy() {
        // observed with haproxy 2.6.12: req.body_param(a), req.body_param(), req.body_param(d)
        assert_eq!(body_param(b"a=1&b=2&a=3", b"a"), Some(&b"1"[..]));
        assert_eq!(body_param(b"x&a=5", b""), Some(&b"5"[..]));
        assert_eq!(body_param(b"c&a=%41+b;d=7", b"a"), Some(&b"%41+b"[..]));
        assert_eq!(body_param(b"c&a=%41+b;d=7", b"d"), Some(&b"7"[..]));
        assert_eq!(body_param(b"=9&a=", b""), Some(&b"9"[..]));
        assert_eq!(body_param(b"=9&a=", b"a"), Some(&b""[..]));
        assert_eq!(body_param(b"b=2&c=3", b"a"), None);
        assert_eq!(body_param(b"b=2&c=3", b"A"), None);
    }

    fn values(line: &str, full: bool) -> Vec<String> {
        let mut out = Vec::new();
        let _ = for_each_value(line.as_bytes(), full, &mut |v| {
            out.push(String::from_utf8_lossy(v).into_owned());
            ControlFlow::Continue(())
        });
        out
    }

    fn cookies(line: &str, name: &str, list: bool) -> Vec<String> {
        let mut out = Vec::new();
        let _ = for_each_cookie(line.as_bytes(), name.as_bytes(), list, &mut |v| {
            out.push(String::from_utf8_lossy(v).into_owned());
            ControlFlow::Continue(())
        });
        out
    }

    #[test]
    fn header_values() {
        // observed with haproxy 2.6.12 through req.hdr and req.hdr_cnt
        assert_eq!(values("a, b ,c", false), ["a", "b", "c"]);
        assert_eq!(values("a, b ,c", true), ["a, b ,c"]);
        assert_eq!(values("\"a,b\",c", false), ["\"a,b\"", "c"]);
        assert_eq!(values("\"a\\\",b\",c", false), ["\"a\\\",b\"", "c"]);
        assert_eq!(values("a,,c", false), ["a", "", "c"]);
        assert_eq!(values("a,b,", false), ["a", "b", ""]);
        assert_eq!(values("", false), [""]);
        assert_eq!(values("  x  ", true), ["x"]);
        assert_eq!(values(" , ", false), ["", ""]);
    }

    #[test]
    fn cookie_values() {
        // observed with haproxy 2.6.12 through req.cook
        assert_eq!(cookies("a=1; b=2; a=3", "a", true), ["1", "3"]);
        assert_eq!(cookies("a=1; b = 2 ;c=3", "b", true), ["2"]);
        assert_eq!(cookies("a=1; b=2", "", true), ["1", "2"]);
        assert_eq!(cookies("a=\"x;y\"; b=2", "a", true), ["\"x;y\""]);
        assert!(cookies("a", "a", true).is_empty());
        assert!(cookies("a=", "a", true).is_empty());
        assert_eq!(cookies("a=; b=1", "a", true), [""]);
        assert_eq!(cookies("$a=1; a=2", "a", true), ["2"]);
        assert_eq!(cookies("x=1, a=5", "a", true), ["5"]);
        assert!(cookies("c", "", true).is_empty());
        // Set-Cookie: the search stops at the first pair that does not match (observed with
        // haproxy 2.6.12 through res.cook and res.cook_cnt)
        assert_eq!(cookies("s=1; Path=/; a=2", "s", false), ["1"]);
        assert!(cookies("s=1; Path=/; a=2", "a", false).is_empty());
        assert_eq!(cookies("s=1; Path=/; a=2", "", false), ["1", "/", "2"]);
        assert_eq!(cookies("s=1; s=5", "s", false), ["1", "5"]);
    }

    #[test]
    fn paths_and_queries() {
        let p =
            |u: &str| path(u.as_bytes(), false).map(|p| String::from_utf8_lossy(p).into_owned());
        // observed with haproxy 2.6.12
        assert_eq!(p("/a/b?c=d").as_deref(), Some("/a/b"));
        assert_eq!(p("http://h.x/a/b?c").as_deref(), Some("/a/b"));
        assert_eq!(p("http://u@h.x/p").as_deref(), Some("/p"));
        assert_eq!(p("http://h.x"), None);
        assert_eq!(p("*"), None);
        assert_eq!(p("foo.bar:443"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("1ttp://x/y"), None);
        assert_eq!(path(b"/a/b?c=d", true), Some(&b"/a/b?c=d"[..]));
        assert_eq!(query(b"/a/b?c=d&e"), Some(&b"c=d&e"[..]));
        assert_eq!(query(b"/a/b?"), Some(&b""[..]));
        assert_eq!(query(b"/a/b"), None);
        assert_eq!(query(b"/a?b?c"), Some(&b"b?c"[..]));
    }

    #[test]
    fn url_params() {
        let u = |uri: &str, name: &str, d: u8| {
            url_param(uri.as_bytes(), name.as_bytes(), d)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        // observed with haproxy 2.6.12
        assert_eq!(u("/p?a=1&b=2&a=3", "a", b'?').as_deref(), Some("1"));
        assert_eq!(u("/p?a=1;b=2", "b", b'?').as_deref(), Some("2"));
        assert_eq!(u("/p?a=1&b=2", "c", b'?'), None);
        assert_eq!(u("/p?x&a=1&b=2", "", b'?').as_deref(), Some("1"));
        assert_eq!(u("/p?a", "a", b'?'), None);
        assert_eq!(u("/p?a=", "a", b'?').as_deref(), Some(""));
        assert_eq!(u("/p?aa=1&a=2", "a", b'?').as_deref(), Some("2"));
        assert_eq!(u("/p;a=1;b=2", "b", b';').as_deref(), Some("2"));
        assert_eq!(u("/p?q=1?a=2", "a", b'?').as_deref(), Some("2"));
        assert_eq!(u("/p", "a", b'?'), None);
        assert_eq!(u("/p?", "", b'?'), None);
    }
}
