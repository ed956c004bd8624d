//! `cookie NAME [rewrite|insert|prefix] [indirect] [nocache] [postonly] [preserve] [httponly] [secure]
//! [domain D]... [attr A]...`: server persistence through a cookie (backends, listens, defaults).

use super::common::{Line, Sink};

/// What the proxy does with the persistence cookie in responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieMode {
    /// No mode given: the cookie is only read from requests (the servers set it themselves).
    Passive,
    /// `insert`: the proxy adds a `Set-Cookie` naming the server when the client had no valid one.
    Insert,
    /// `rewrite`: the value of the server's own `Set-Cookie NAME=...` is replaced by the server's cookie.
    Rewrite,
    /// `prefix`: the server's cookie is put before the value of its own `Set-Cookie NAME=...` (`SRV~value`), and
    /// taken off again in requests.
    Prefix,
}

/// A `cookie` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePersist {
    /// The cookie's name.
    pub name: String,
    /// `insert`, `rewrite`, `prefix` or none.
    pub mode: CookieMode,
    /// `indirect`: the cookie is not sent again to a client that already has a valid one, the server's own
    /// cookie of that name is dropped then, and in `insert` mode the cookie is removed from requests.
    pub indirect: bool,
    /// `nocache`: responses carrying an inserted cookie are marked as not cacheable when they were cacheable.
    pub nocache: bool,
    /// `postonly`: a cookie is inserted only in responses to POST requests.
    pub postonly: bool,
    /// `preserve`: a cookie of that name set by the server is left alone (and none is inserted then).
    pub preserve: bool,
    /// `httponly`
    pub httponly: bool,
    /// `secure`
    pub secure: bool,
    /// `domain D`, in order.
    pub domains: Vec<String>,
    /// `attr A`, in order.
    pub attrs: Vec<String>,
    /// `maxidle T` (whole seconds): a cookie whose last-seen date is older is ignored; dates travel in the value.
    pub maxidle: Option<u32>,
    /// `maxlife T` (whole seconds): a cookie first set longer ago is ignored.
    pub maxlife: Option<u32>,
    /// `dynamic`: servers without a `cookie` value get one hashed from `dynamic-cookie-key` and their address.
    pub dynamic: bool,
    /// The proxy's `dynamic-cookie-key` (set when the proxy is validated).
    pub dynamic_key: Option<String>,
}

const KW: &str = "cookie";

/// Parses a `cookie` line; reports every problem and returns `None` when there is one.
pub fn parse(line: &Line, sink: &mut Sink) -> Option<CookiePersist> {
    let loc = &line.location;
    let Some(name) = line.words.get(1).filter(|n| !n.is_empty()) else {
        sink.error(
            loc,
            KW,
            "expects a cookie name: 'cookie NAME [insert|rewrite|prefix] [options]'",
        );
        return None;
    };
    let mut c = CookiePersist {
        name: name.clone(),
        mode: CookieMode::Passive,
        indirect: false,
        nocache: false,
        postonly: false,
        preserve: false,
        httponly: false,
        secure: false,
        domains: Vec::new(),
        attrs: Vec::new(),
        maxidle: None,
        maxlife: None,
        dynamic: false,
        dynamic_key: None,
    };
    let mut i = 2;
    let w = &line.words;
    while i < w.len() {
        let opt = w[i].as_str();
        let val = w.get(i + 1).map(String::as_str);
        match opt {
            "insert" | "rewrite" | "prefix" => {
                if c.mode != CookieMode::Passive {
                    sink.error(
                        loc,
                        KW,
                        "the 'rewrite', 'insert' and 'prefix' modes cannot be combined: choose one",
                    );
                    return None;
                }
                c.mode = match opt {
                    "insert" => CookieMode::Insert,
                    "rewrite" => CookieMode::Rewrite,
                    _ => CookieMode::Prefix,
                };
            }
            "indirect" => c.indirect = true,
            "nocache" => c.nocache = true,
            "postonly" => c.postonly = true,
            "preserve" => c.preserve = true,
            "httponly" => c.httponly = true,
            "secure" => c.secure = true,
            "domain" | "attr" => {
                let Some(v) = val.filter(|v| !v.is_empty()) else {
                    sink.error(loc, KW, format!("'{opt}' expects a value"));
                    return None;
                };
                if let Some(b) = v.bytes().find(|&b| b < 0x20 || b == 0x7f || b == b';') {
                    sink.error(
                        loc,
                        KW,
                        format!("'{opt}': the byte 0x{b:02X} may not stand in a cookie attribute"),
                    );
                    return None;
                }
                if opt == "domain" {
                    c.domains.push(v.to_string());
                } else {
                    c.attrs.push(v.to_string());
                }
                i += 1;
            }
            "dynamic" => c.dynamic = true,
            "maxidle" | "maxlife" => {
                let Some(v) = val.filter(|v| !v.is_empty()) else {
                    sink.error(loc, KW, format!("'{opt}' expects a time, such as 30m"));
                    return None;
                };
                // In seconds by default; HAProxy keeps whole seconds.
                let secs = match super::units::parse_time(&format!(
                    "{v}{}",
                    if v.bytes().all(|b| b.is_ascii_digit()) {
                        "s"
                    } else {
                        ""
                    }
                )) {
                    Ok(d) => d.as_secs(),
                    Err(e) => {
                        sink.error(loc, KW, format!("'{opt}': {e}"));
                        return None;
                    }
                };
                let Ok(secs) = u32::try_from(secs) else {
                    sink.error(loc, KW, format!("'{opt}': {v} is too long"));
                    return None;
                };
                if opt == "maxidle" {
                    c.maxidle = Some(secs);
                } else {
                    c.maxlife = Some(secs);
                }
                i += 1;
            }
            other => {
                sink.error(loc, KW, format!("unknown cookie option '{other}': expected rewrite, insert, prefix, indirect, nocache, postonly, preserve, httponly, secure, domain, maxidle, maxlife, dynamic or attr"));
                return None;
            }
        }
        i += 1;
    }
    if c.preserve && c.mode != CookieMode::Insert && !c.indirect {
        sink.error(loc, KW, "'preserve' requires 'insert' or 'indirect'");
        return None;
    }
    Some(c)
}
