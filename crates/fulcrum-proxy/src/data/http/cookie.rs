//! Server persistence through a cookie (`cookie NAME insert|rewrite|prefix ...`, server `cookie VALUE`).
//!
//! Two hooks on the request path (`request.rs`): [`on_request`] reads the persistence cookie before the server is
//! chosen (which server it names, whether that one can take the request, and what to strip before the server
//! sees it), [`on_response`] handles the server's own `Set-Cookie` of that name and inserts the proxy's. Each
//! returns the letter HAProxy logs for it in `%tsc` (third and fourth characters). Behaviour observed on HAProxy
//! 2.6: an inserted cookie is `NAME=VALUE; path=/`, then `; domain=D` for each domain, `; HttpOnly`, `; Secure`,
//! then `; A` for each `attr`.

use fulcrum_config::haproxy::cookie::{CookieMode, CookiePersist};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};

use crate::server::ServerRt;
use crate::snapshot::BackendRt;

/// What the request's persistence cookie decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Persistence {
    /// The server the cookie names, when the request should go there first (index in the backend's servers).
    pub server: Option<usize>,
    /// The request letter: `N` no cookie, `I` names no server, `D` names a server that is down, `V` valid.
    pub letter: u8,
}

/// Reads the backend's persistence cookie from the request headers, and removes or unprefixes it as the mode
/// asks (`insert indirect`: removed; `prefix`: the server's part taken off). `None` when the backend has no
/// `cookie`.
pub(crate) fn on_request(be: &BackendRt, headers: &mut HeaderMap) -> Option<Persistence> {
    let cfg = be.config.cookie.as_ref()?;
    let mut found: Option<Persistence> = None;
    let strip = cfg.mode == CookieMode::Insert && cfg.indirect;
    let mut rewritten: Option<Vec<HeaderValue>> = None;
    let values: Vec<HeaderValue> = headers.get_all(COOKIE).iter().cloned().collect();
    for (i, value) in values.iter().enumerate() {
        let Ok(text) = std::str::from_utf8(value.as_bytes()) else {
            continue;
        };
        let mut changed = false;
        let mut kept: Vec<std::borrow::Cow<'_, str>> = Vec::new();
        for piece in text.split(';') {
            let piece = piece.trim_matches(|c| c == ' ' || c == '\t');
            if piece.is_empty() {
                changed = true;
                continue;
            }
            let (name, val) = piece.split_once('=').unwrap_or((piece, ""));
            if name.trim_end() != cfg.name {
                kept.push(piece.into());
                continue;
            }
            let val = val.trim_start();
            // In prefix mode the server's part ends at the first `~`.
            let (key, rest) = match (cfg.mode, val.split_once('~')) {
                (CookieMode::Prefix, Some((k, r))) => (k, Some(r)),
                _ => (val, None),
            };
            if found.is_none() {
                found = Some(decide(be, key));
            }
            if strip {
                changed = true;
            } else if let (Some(rest), Some(p)) = (rest, found) {
                if p.letter != b'I' {
                    kept.push(format!("{}={rest}", cfg.name).into());
                    changed = true;
                    continue;
                }
                kept.push(piece.into());
            } else {
                kept.push(piece.into());
            }
        }
        if changed {
            let list = rewritten.get_or_insert_with(|| values[..i].to_vec());
            if !kept.is_empty() {
                if let Ok(v) = HeaderValue::from_str(&kept.join("; ")) {
                    list.push(v);
                }
            }
        } else if let Some(list) = &mut rewritten {
            list.push(value.clone());
        }
    }
    if let Some(list) = rewritten {
        headers.remove(COOKIE);
        for v in list {
            headers.append(COOKIE, v);
        }
    }
    Some(found.unwrap_or(Persistence {
        server: None,
        letter: b'N',
    }))
}

/// The persistence a cookie value gives.
fn decide(be: &BackendRt, value: &str) -> Persistence {
    let Some(s) = be
        .servers
        .iter()
        .find(|s| !s.is_deleted() && s.config.cookie.as_deref() == Some(value))
    else {
        return Persistence {
            server: None,
            letter: b'I',
        };
    };
    // A server in maintenance counts as down; draining ones keep the clients they have. Under `option persist`
    // a down server still gets the request (HAProxy logs `D` all the same).
    let up = s.is_checked_up() && !s.in_maint();
    Persistence {
        server: (up || be.config.persist).then_some(s.index),
        letter: if up { b'V' } else { b'D' },
    }
}

/// Handles the response's `Set-Cookie` headers of the persistence cookie and inserts the proxy's; returns the
/// response letter: `N` nothing done, `I` inserted, `D` the server's cookie deleted, `P` passed as it was,
/// `R` rewritten (or prefixed).
pub(crate) fn on_response(
    be: &BackendRt,
    persistence: Persistence,
    server: &ServerRt,
    post: bool,
    headers: &mut HeaderMap,
) -> u8 {
    let Some(cfg) = be.config.cookie.as_ref() else {
        return b'-';
    };
    // The client already has a cookie for the server that answered.
    let direct = persistence.server == Some(server.index);
    let mut letter = b'N';
    let mut server_set = false;
    let values: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
    let mut out: Vec<HeaderValue> = Vec::with_capacity(values.len());
    let mut changed = false;
    for v in values {
        let Some(value) = std::str::from_utf8(v.as_bytes())
            .ok()
            .and_then(|t| own_cookie(t, &cfg.name))
        else {
            out.push(v);
            continue;
        };
        server_set = true;
        let keep = cfg.preserve;
        let delete = match cfg.mode {
            CookieMode::Insert => !keep,
            _ => cfg.indirect && direct && !keep,
        };
        if delete {
            letter = b'D';
            changed = true;
            continue;
        }
        let rewritten = match (cfg.mode, server.config.cookie.as_deref()) {
            _ if keep => None,
            (CookieMode::Rewrite, Some(c)) => Some(replace_value(&v, &cfg.name, c)),
            (CookieMode::Prefix, Some(c)) => {
                Some(replace_value(&v, &cfg.name, &format!("{c}~{value}")))
            }
            _ => None,
        };
        match rewritten.and_then(|t| HeaderValue::from_str(&t).ok()) {
            Some(n) => {
                letter = b'R';
                changed = true;
                out.push(n);
            }
            None => {
                letter = b'P';
                out.push(v);
            }
        }
    }
    if changed {
        headers.remove(SET_COOKIE);
        for v in out {
            headers.append(SET_COOKIE, v);
        }
    }
    let insert = cfg.mode == CookieMode::Insert
        && !(server_set && cfg.preserve)
        && !direct
        && (!cfg.postonly || post);
    if insert {
        if let Ok(v) = HeaderValue::from_str(&inserted(cfg, server.config.cookie.as_deref())) {
            headers.append(SET_COOKIE, v);
            letter = b'I';
        }
    }
    letter
}

/// The value of the persistence cookie a `Set-Cookie` line sets, if it sets that one.
fn own_cookie<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let first = line.split(';').next()?;
    let (n, v) = first.split_once('=')?;
    (n.trim() == name).then(|| v.trim())
}

/// `line` with its first cookie's value replaced by `new`.
fn replace_value(line: &HeaderValue, name: &str, new: &str) -> String {
    let text = std::str::from_utf8(line.as_bytes()).unwrap_or_default();
    let rest = text.split_once(';').map_or("", |(_, r)| r);
    if rest.is_empty() && !text.contains(';') {
        format!("{name}={new}")
    } else {
        format!("{name}={new};{rest}")
    }
}

/// The `Set-Cookie` value the proxy inserts for a server with cookie `value` (none: the cookie is cleared).
pub(crate) fn inserted(cfg: &CookiePersist, value: Option<&str>) -> String {
    let mut s = match value {
        Some(v) => format!("{}={v}; path=/", cfg.name),
        None => format!(
            "{}=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/",
            cfg.name
        ),
    };
    for d in &cfg.domains {
        s.push_str("; domain=");
        s.push_str(d);
    }
    if cfg.httponly {
        s.push_str("; HttpOnly");
    }
    if cfg.secure {
        s.push_str("; Secure");
    }
    for a in &cfg.attrs {
        s.push_str("; ");
        s.push_str(a);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(mode: CookieMode) -> CookiePersist {
        CookiePersist {
            name: "SRVID".into(),
            mode,
            indirect: false,
            nocache: false,
            postonly: false,
            preserve: false,
            httponly: false,
            secure: false,
            domains: Vec::new(),
            attrs: Vec::new(),
        }
    }

    #[test]
    fn inserted_cookie_has_haproxys_attribute_order() {
        let mut c = cfg(CookieMode::Insert);
        c.domains = vec![".a.com".into(), ".b.com".into()];
        c.httponly = true;
        c.secure = true;
        c.attrs = vec!["SameSite=Lax".into(), "x=y".into()];
        assert_eq!(
            inserted(&c, Some("c1")),
            "SRVID=c1; path=/; domain=.a.com; domain=.b.com; HttpOnly; Secure; SameSite=Lax; x=y"
        );
        assert_eq!(
            inserted(&cfg(CookieMode::Insert), None),
            "SRVID=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"
        );
    }

    #[test]
    fn set_cookie_value_is_found_and_replaced() {
        assert_eq!(own_cookie("SRVID=abc; path=/app", "SRVID"), Some("abc"));
        assert_eq!(own_cookie("SRVIDX=abc", "SRVID"), None);
        assert_eq!(own_cookie("JSESSIONID=1", "SRVID"), None);
        let v = HeaderValue::from_static("SRVID=abc; path=/app");
        assert_eq!(
            replace_value(&v, "SRVID", "c1~abc"),
            "SRVID=c1~abc; path=/app"
        );
        let v = HeaderValue::from_static("SRVID=abc");
        assert_eq!(replace_value(&v, "SRVID", "c1"), "SRVID=c1");
    }
}
