//! `log-format` strings: compiled once (at configuration time) into a list of items, rendered per request into a
//! reused buffer on the worker thread.
//!
//! The syntax is HAProxy's: `%var` or `%{+Q,-E}var` variables, `%%` for a literal `%`, runs of spaces collapse
//! into one separator (a separator after an empty field is not repeated), anything else is literal text.
//! Sample expressions (`%[var(txn.x)]`, `%[src,ipmask(24)]`) are compiled with the format and evaluated when the
//! line is emitted (`sample.rs`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::clock;
use super::digits::{push_padded, push_uint};
pub use super::fields::Fields;

/// Why a format string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// `%name` is not a variable HAProxy knows.
    #[error("no such format variable '{0}'. If you wanted to emit the '%' character verbatim, you need to use '%%'")]
    Unknown(String),
    /// A variable or construct HAProxy has that fulcrum does not implement yet.
    #[error("'{0}' is supported by HAProxy, not yet by fulcrum")]
    Unsupported(String),
    /// `%{...` or `%[...` without its closing character.
    #[error("missing '{0}' in log-format")]
    Unclosed(char),
    /// A `%` at the end of the string, or not followed by a variable name.
    #[error("'%' must be followed by a variable name, '{{' or '%'")]
    Dangling,
    /// An option in `%{...}` that is not `+Q`, `-Q`, `+E`, `-E`, `+X` or `-X`.
    #[error("unknown log-format option '{0}'")]
    Option(String),
    /// An HTTP-only variable in a TCP-mode proxy.
    #[error("format variable '{0}' is reserved for HTTP mode")]
    HttpOnly(String),
    /// A sample expression that does not parse.
    #[error("invalid sample expression '%[{0}]': {1}")]
    Sample(String, String),
    /// A sample expression whose data is gone when the line is logged.
    #[error("{0}")]
    SampleNotHere(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    ClientIp,
    ClientPort,
    FrontendIp,
    FrontendPort,
    BackendIp,
    BackendPort,
    ServerIp,
    ServerPort,
    AcceptDate,
    RequestDate,
    RequestDateGmt,
    RequestDateLocal,
    AcceptDateGmt,
    AcceptDateLocal,
    AcceptTs,
    AcceptMs,
    FrontendNameTransport,
    FrontendName,
    SslCipher,
    SslVersion,
    BackendName,
    ServerName,
    TReq,
    Tw,
    Tc,
    Tr,
    Ta,
    Tt,
    Tq,
    Th,
    Ti,
    Td,
    Status,
    BytesOut,
    BytesIn,
    CookieReq,
    CookieResp,
    Term,
    TermCookie,
    ActConn,
    FeConn,
    BeConn,
    SrvConn,
    Retries,
    SrvQueue,
    BackendQueue,
    HdrReq,
    HdrResp,
    HdrReqList,
    HdrRespList,
    RequestLine,
    Method,
    Uri,
    Path,
    PathOnly,
    Query,
    Version,
    UniqueId,
    Pid,
    Hostname,
}

const VARS: &[(&str, Var, bool)] = &[
    // (name, variable, HTTP only)
    ("ci", Var::ClientIp, false),
    ("cp", Var::ClientPort, false),
    ("fi", Var::FrontendIp, false),
    ("fp", Var::FrontendPort, false),
    ("bi", Var::BackendIp, false),
    ("bp", Var::BackendPort, false),
    ("si", Var::ServerIp, false),
    ("sp", Var::ServerPort, false),
    ("t", Var::AcceptDate, false),
    ("tr", Var::RequestDate, true),
    ("trg", Var::RequestDateGmt, true),
    ("trl", Var::RequestDateLocal, true),
    ("T", Var::AcceptDateGmt, false),
    ("Tl", Var::AcceptDateLocal, false),
    ("Ts", Var::AcceptTs, false),
    ("ms", Var::AcceptMs, false),
    ("ft", Var::FrontendNameTransport, false),
    ("f", Var::FrontendName, false),
    ("b", Var::BackendName, false),
    ("s", Var::ServerName, false),
    ("TR", Var::TReq, true),
    ("Tw", Var::Tw, false),
    ("Tc", Var::Tc, false),
    ("Tr", Var::Tr, true),
    ("Ta", Var::Ta, true),
    ("Tt", Var::Tt, false),
    ("Tq", Var::Tq, true),
    ("Th", Var::Th, false),
    ("Ti", Var::Ti, true),
    ("Td", Var::Td, false),
    ("ST", Var::Status, false),
    ("B", Var::BytesOut, false),
    ("U", Var::BytesIn, false),
    ("CC", Var::CookieReq, true),
    ("CS", Var::CookieResp, true),
    ("ts", Var::Term, false),
    ("tsc", Var::TermCookie, false),
    ("ac", Var::ActConn, false),
    ("fc", Var::FeConn, false),
    ("bc", Var::BeConn, false),
    ("sc", Var::SrvConn, false),
    ("rc", Var::Retries, false),
    ("sq", Var::SrvQueue, false),
    ("bq", Var::BackendQueue, false),
    ("hr", Var::HdrReq, false),
    ("hs", Var::HdrResp, false),
    ("hrl", Var::HdrReqList, false),
    ("hsl", Var::HdrRespList, false),
    ("r", Var::RequestLine, true),
    ("HM", Var::Method, true),
    ("HU", Var::Uri, true),
    ("HP", Var::Path, true),
    ("HPO", Var::PathOnly, true),
    ("HQ", Var::Query, true),
    ("HV", Var::Version, true),
    ("ID", Var::UniqueId, false),
    ("pid", Var::Pid, false),
    ("H", Var::Hostname, false),
    ("sslc", Var::SslCipher, false),
    ("sslv", Var::SslVersion, false),
];

/// Variables HAProxy knows that fulcrum does not render yet.
const UNSUPPORTED: &[&str] = &[
    "rt", "lc", "Tu", "HQ?", "o", "bc_err", "fc_err", "fs", "sc_err",
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Opts {
    quote: bool,
    escape: bool,
    hex: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Text(Box<[u8]>),
    Sep,
    Var(Var, Opts),
    Sample(Box<SampleItem>, Opts),
}

/// A compiled `%[...]`, compared by its text.
#[derive(Debug, Clone)]
struct SampleItem(fulcrum_sample::Expr);

impl PartialEq for SampleItem {
    fn eq(&self, other: &Self) -> bool {
        self.0.source() == other.0.source()
    }
}

impl Eq for SampleItem {}

/// A compiled `log-format` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    items: Vec<Item>,
    http_only: Option<String>,
    samples: bool,
    source: String,
}

/// HAProxy's `option httplog` format.
pub const HTTPLOG: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
/// HAProxy's `option httpslog` format: the httplog line, then the connection's and TLS layer's error codes, whether
/// the TLS session was resumed, the server name, version and cipher.
pub const HTTPSLOG: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r %[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed] %[ssl_fc_sni]/%sslv/%sslc";
/// HAProxy's `option tcplog` format.
pub const TCPLOG: &str = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// The format of `option httplog`.
pub fn default_httplog() -> LogFormat {
    LogFormat::parse(HTTPLOG).expect("the httplog format is valid")
}

/// The format of `option httpslog`.
pub fn default_httpslog() -> LogFormat {
    LogFormat::parse(HTTPSLOG).expect("the httpslog format is valid")
}

/// The format of `option tcplog`.
pub fn default_tcplog() -> LogFormat {
    LogFormat::parse(TCPLOG).expect("the tcplog format is valid")
}

impl LogFormat {
    /// Compiles a format string.
    pub fn parse(s: &str) -> Result<LogFormat, FormatError> {
        let b = s.as_bytes();
        let mut items = Vec::new();
        let mut text = Vec::new();
        let mut http_only = None;
        let mut i = 0;
        let flush = |text: &mut Vec<u8>, items: &mut Vec<Item>| {
            if !text.is_empty() {
                items.push(Item::Text(std::mem::take(text).into_boxed_slice()));
            }
        };
        while i < b.len() {
            match b[i] {
                b' ' => {
                    flush(&mut text, &mut items);
                    while i < b.len() && b[i] == b' ' {
                        i += 1;
                    }
                    items.push(Item::Sep);
                }
                b'%' if b.get(i + 1) == Some(&b'%') => {
                    text.push(b'%');
                    i += 2;
                }
                b'%' => {
                    flush(&mut text, &mut items);
                    i += 1;
                    let mut opts = Opts::default();
                    if b.get(i) == Some(&b'{') {
                        let end = s[i..].find('}').ok_or(FormatError::Unclosed('}'))? + i;
                        for o in s[i + 1..end].split(',').filter(|o| !o.is_empty()) {
                            let (on, flag) = match o.as_bytes() {
                                [b'+', f] => (true, *f),
                                [b'-', f] => (false, *f),
                                _ => return Err(FormatError::Option(o.to_string())),
                            };
                            match flag {
                                b'Q' => opts.quote = on,
                                b'E' => opts.escape = on,
                                b'X' => opts.hex = on,
                                _ => return Err(FormatError::Option(o.to_string())),
                            }
                        }
                        i = end + 1;
                    }
                    if b.get(i) == Some(&b'[') {
                        let end = s[i..].find(']').ok_or(FormatError::Unclosed(']'))? + i;
                        let (e, used) =
                            fulcrum_sample::Expr::parse_prefix(&s[i + 1..]).map_err(|e| {
                                FormatError::Sample(s[i + 1..end].to_string(), e.to_string())
                            })?;
                        if b.get(i + 1 + used) != Some(&b']') {
                            return Err(FormatError::Sample(
                                s[i + 1..end].to_string(),
                                "expected ']' after the expression".to_string(),
                            ));
                        }
                        super::sample::check(&e).map_err(FormatError::SampleNotHere)?;
                        // HTTP fetches are accepted in a TCP-mode format, as HAProxy does: they are absent there.
                        items.push(Item::Sample(Box::new(SampleItem(e)), opts));
                        i += used + 2;
                        continue;
                    }
                    let start = i;
                    while i < b.len() && b[i].is_ascii_alphabetic() {
                        i += 1;
                    }
                    let name = &s[start..i];
                    if name.is_empty() {
                        return Err(FormatError::Dangling);
                    }
                    match VARS.iter().find(|(n, _, _)| *n == name) {
                        Some(&(_, var, http)) => {
                            if http && http_only.is_none() {
                                http_only = Some(name.to_string());
                            }
                            items.push(Item::Var(var, opts));
                        }
                        None if UNSUPPORTED.contains(&name) => {
                            return Err(FormatError::Unsupported(format!("%{name}")))
                        }
                        None => return Err(FormatError::Unknown(name.to_string())),
                    }
                }
                c => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        flush(&mut text, &mut items);
        Ok(LogFormat {
            samples: items.iter().any(|i| matches!(i, Item::Sample(..))),
            items,
            http_only,
            source: s.to_string(),
        })
    }

    /// Compiles a format for a proxy in `mode http` (`http` true) or `mode tcp`: HTTP-only variables are
    /// refused in TCP mode, as HAProxy does.
    pub fn parse_for_mode(s: &str, http: bool) -> Result<LogFormat, FormatError> {
        let f = LogFormat::parse(s)?;
        match (&f.http_only, http) {
            (Some(v), false) => Err(FormatError::HttpOnly(v.clone())),
            _ => Ok(f),
        }
    }

    /// Whether the format evaluates sample expressions (`%[...]`), which may read the transaction's variables.
    pub fn has_samples(&self) -> bool {
        self.samples
    }

    /// The format string as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Appends the line for `f` to `out`.
    pub fn render(&self, f: &Fields<'_>, out: &mut Vec<u8>) {
        let mut last_sep = true;
        for item in &self.items {
            match item {
                Item::Sep => {
                    if !last_sep {
                        out.push(b' ');
                        last_sep = true;
                    }
                }
                Item::Text(t) => {
                    out.extend_from_slice(t);
                    last_sep = false;
                }
                Item::Var(v, o) => {
                    if render_var(*v, *o, f, out) {
                        last_sep = false;
                    }
                }
                Item::Sample(e, o) => {
                    let ctx = super::sample::LogCtx { fields: f };
                    let v = e.0.eval_to_string(&ctx);
                    push_str(out, v.as_deref(), *o);
                    last_sep = false;
                }
            }
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Writes an integer in decimal.
pub(crate) fn push_int(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
        push_uint(out, v.unsigned_abs());
    } else {
        push_uint(out, v as u64);
    }
}

fn push_hex(out: &mut Vec<u8>, v: u64, width: usize) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for i in (0..width).rev() {
        out.push(HEX[((v >> (i * 4)) & 0xf) as usize]);
    }
}

/// Writes a string, quoted with `+Q`, backslash-escaped with `+E`, `-` when absent or empty (`""` when quoted).
fn push_str(out: &mut Vec<u8>, s: Option<&[u8]>, o: Opts) {
    match s {
        Some(s) if !s.is_empty() => {
            if o.quote {
                out.push(b'"');
            }
            if o.escape {
                for &c in s {
                    if matches!(c, b'"' | b'\\' | b']') {
                        out.push(b'\\');
                    }
                    out.push(c);
                }
            } else {
                out.extend_from_slice(s);
            }
            if o.quote {
                out.push(b'"');
            }
        }
        _ if o.quote => out.extend_from_slice(b"\"\""),
        _ => out.push(b'-'),
    }
}

/// Writes request-line text with control characters, `"`, `#` and non-ASCII bytes as `#XX`, as HAProxy does.
fn push_encoded(out: &mut Vec<u8>, s: &[u8], o: Opts) {
    if o.quote {
        out.push(b'"');
    }
    for &c in s {
        if !(0x20..0x7f).contains(&c) || c == b'"' || c == b'#' {
            out.push(b'#');
            push_hex(out, u64::from(c), 2);
        } else if o.escape && matches!(c, b'\\' | b']') {
            out.push(b'\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    if o.quote {
        out.push(b'"');
    }
}

fn push_ip(out: &mut Vec<u8>, a: Option<SocketAddr>, o: Opts) {
    let Some(a) = a else {
        push_str(out, None, o);
        return;
    };
    if o.hex {
        match a.ip() {
            IpAddr::V4(v4) => push_hex(out, u64::from(u32::from(v4)), 8),
            IpAddr::V6(v6) => {
                let n = u128::from(v6);
                push_hex(out, (n >> 64) as u64, 16);
                push_hex(out, n as u64, 16);
            }
        }
        return;
    }
    let mut buf = [0u8; 48];
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    let _ = std::io::Write::write_fmt(&mut cur, format_args!("{}", a.ip()));
    let n = cur.position() as usize;
    push_str(out, Some(&buf[..n]), o);
}

fn push_port(out: &mut Vec<u8>, a: Option<SocketAddr>, o: Opts) {
    match a {
        Some(a) if o.hex => push_hex(out, u64::from(a.port()), 4),
        Some(a) => push_uint(out, u64::from(a.port())),
        None => out.push(b'-'),
    }
}

/// The request line split into method, URI and version.
fn split_request(r: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let first = r.iter().position(|&c| c == b' ');
    let Some(first) = first else {
        return (r, b"", b"");
    };
    let rest = &r[first + 1..];
    match rest.iter().rposition(|&c| c == b' ') {
        Some(last) => (&r[..first], &rest[..last], &rest[last + 1..]),
        None => (&r[..first], rest, b""),
    }
}

/// The path of a request target without scheme, authority or query (`%HPO`): `http://h/p?q` gives `/p`; an
/// authority-form target (`CONNECT h:443`) has none.
fn path_only(uri: &[u8]) -> &[u8] {
    let uri = uri.split(|&c| c == b'?').next().unwrap_or(uri);
    if matches!(uri.first(), Some(b'/' | b'*')) {
        return uri;
    }
    let Some(scheme_end) = uri.windows(3).position(|w| w == b"://") else {
        return b"";
    };
    let after = &uri[scheme_end + 3..];
    match after.iter().position(|&c| c == b'/') {
        Some(slash) => &after[slash..],
        None => b"",
    }
}

fn sum(parts: &[i64]) -> i64 {
    if parts.iter().any(|&p| p < 0) {
        -1
    } else {
        parts.iter().sum()
    }
}

/// The `+` `option logasap` puts before a total the line is sent too early to know.
fn plus(out: &mut Vec<u8>, asap: bool) {
    if asap {
        out.push(b'+');
    }
}

/// Renders one variable; false when it produced nothing (so a following separator is not doubled).
fn render_var(v: Var, o: Opts, f: &Fields<'_>, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    match v {
        Var::ClientIp => push_ip(out, f.client, o),
        Var::ClientPort => push_port(out, f.client, o),
        Var::FrontendIp => push_ip(out, f.frontend_addr, o),
        Var::FrontendPort => push_port(out, f.frontend_addr, o),
        Var::BackendIp => push_ip(out, f.backend_src, o),
        Var::BackendPort => push_port(out, f.backend_src, o),
        Var::ServerIp => push_ip(out, f.server_addr, o),
        Var::ServerPort => push_port(out, f.server_addr, o),
        Var::AcceptDate => clock::push_log_date(out, f.accept_us),
        Var::RequestDate => clock::push_log_date(out, f.request_us),
        Var::RequestDateGmt => clock::push_clf_date(out, f.request_us, false),
        Var::RequestDateLocal => clock::push_clf_date(out, f.request_us, true),
        Var::AcceptDateGmt => clock::push_clf_date(out, f.accept_us, false),
        Var::AcceptDateLocal => clock::push_clf_date(out, f.accept_us, true),
        Var::AcceptTs => {
            let secs = f.accept_us.div_euclid(1_000_000);
            if o.hex {
                push_hex(out, secs as u64, 8);
            } else {
                push_int(out, secs);
            }
        }
        Var::AcceptMs => push_padded(out, (f.accept_us.rem_euclid(1_000_000) / 1000) as u64, 3),
        Var::FrontendName => push_str(out, Some(f.frontend.as_bytes()), o),
        // HAProxy marks a frontend connection over TLS with a `~` after the name.
        Var::FrontendNameTransport => match f.ssl {
            Some(_) => push_str(out, Some(format!("{}~", f.frontend).as_bytes()), o),
            None => push_str(out, Some(f.frontend.as_bytes()), o),
        },
        Var::SslCipher => push_str(out, f.ssl.map(|s| s.1.as_bytes()), o),
        Var::SslVersion => push_str(out, f.ssl.map(|s| s.0.as_bytes()), o),
        Var::BackendName => push_str(out, Some(f.backend.as_bytes()), o),
        Var::ServerName => push_str(out, Some(f.server.as_bytes()), o),
        Var::TReq => push_int(out, f.t_req),
        Var::Tw => push_int(out, f.tw),
        Var::Tc => push_int(out, f.tc),
        Var::Tr => push_int(out, f.tr),
        Var::Ta => {
            plus(out, f.asap);
            push_int(out, f.ta)
        }
        Var::Tt => {
            plus(out, f.asap);
            push_int(out, f.tt)
        }
        Var::Tq => push_int(out, sum(&[f.th, f.ti, f.t_req])),
        Var::Th => push_int(out, f.th),
        Var::Ti => push_int(out, f.ti),
        Var::Td => {
            let before = sum(&[f.t_req, f.tw, f.tc, f.tr]);
            let active = if f.ta >= 0 { f.ta } else { f.tt };
            push_int(
                out,
                if before < 0 || active < 0 {
                    -1
                } else {
                    (active - before).max(0)
                },
            )
        }
        Var::Status => push_int(out, i64::from(f.status.max(-1))),
        Var::BytesOut => {
            plus(out, f.asap);
            push_uint(out, f.bytes_out)
        }
        Var::BytesIn => push_uint(out, f.bytes_in),
        Var::UniqueId => push_str(out, f.unique_id, o),
        Var::CookieReq => push_str(out, f.cookies[0], o),
        Var::CookieResp => push_str(out, f.cookies[1], o),
        Var::Term => out.extend_from_slice(&f.term),
        Var::TermCookie => {
            out.extend_from_slice(&f.term);
            out.extend_from_slice(&f.cookie);
        }
        Var::ActConn => push_uint(out, u64::from(f.conns[0])),
        Var::FeConn => push_uint(out, u64::from(f.conns[1])),
        Var::BeConn => push_uint(out, u64::from(f.conns[2])),
        Var::SrvConn => push_uint(out, u64::from(f.conns[3])),
        Var::Retries => push_uint(out, u64::from(f.retries)),
        Var::SrvQueue | Var::BackendQueue => out.push(b'0'),
        // Without `capture` lines these write nothing at all, as HAProxy does.
        Var::HdrReq => super::capture::write_braced(out, f.captures[0]),
        Var::HdrResp => super::capture::write_braced(out, f.captures[1]),
        Var::HdrReqList => super::capture::write_list(out, f.captures[0]),
        Var::HdrRespList => super::capture::write_list(out, f.captures[1]),
        Var::RequestLine => match f.request {
            Some(r) => push_encoded(out, r, o),
            None => push_encoded(out, b"<BADREQ>", o),
        },
        Var::Method | Var::Uri | Var::Path | Var::PathOnly | Var::Query | Var::Version => {
            let Some(r) = f.request else {
                push_str(out, None, o);
                return true;
            };
            let (m, u, ver) = split_request(r);
            let part = match v {
                Var::Method => m,
                Var::Uri => u,
                Var::Version => ver,
                Var::Path => u.split(|&c| c == b'?').next().unwrap_or(u),
                Var::PathOnly => path_only(u),
                _ => match u.iter().position(|&c| c == b'?') {
                    Some(q) => &u[q..],
                    None => b"",
                },
            };
            if part.is_empty() {
                // HAProxy writes nothing for a request without a query string.
                if v != Var::Query {
                    push_str(out, None, o);
                }
            } else {
                push_encoded(out, part, o);
            }
        }
        Var::Pid => push_uint(out, u64::from(std::process::id())),
        Var::Hostname => push_str(out, Some(clock::hostname().as_bytes()), o),
    }
    out.len() > start
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields<'static> {
        Fields {
            client: Some("127.0.0.1:50404".parse().unwrap()),
            frontend_addr: Some("127.0.0.1:8080".parse().unwrap()),
            server_addr: Some("127.0.0.1:8081".parse().unwrap()),
            // 2026-11-24 21:49:47.795 UTC
            accept_us: 1_795_556_987_795_000,
            request_us: 1_795_556_987_795_000,
            frontend: "app",
            backend: "app",
            server: "s1",
            th: 0,
            ti: 0,
            t_req: 0,
            tw: 0,
            tc: 0,
            tr: 2,
            ta: 4,
            tt: 4,
            status: 200,
            bytes_out: 151,
            bytes_in: 78,
            conns: [1, 1, 0, 0],
            request: Some(b"GET / HTTP/1.1"),
            ..Fields::default()
        }
    }

    fn render(fmt: &str, f: &Fields<'_>) -> String {
        let mut out = Vec::new();
        LogFormat::parse(fmt).unwrap().render(f, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn tls_fields() {
        let clear = fields();
        assert_eq!(render("%ft %f %sslv %sslc", &clear), "app app - -");
        let tls = Fields {
            ssl: Some(("TLSv1.3", "TLS_AES_128_GCM_SHA256")),
            ..fields()
        };
        assert_eq!(
            render("%ft %f %sslv %sslc", &tls),
            "app~ app TLSv1.3 TLS_AES_128_GCM_SHA256"
        );
    }

    #[test]
    fn httplog_shape() {
        let _tz = clock::force_utc_for_tests();
        let line = render(HTTPLOG, &fields());
        assert_eq!(
            line,
            "127.0.0.1:50404 [24/Nov/2026:21:49:47.795] app app/s1 0/0/0/2/4 200 151 - - ---- 1/1/0/0/0 0/0 \"GET / HTTP/1.1\""
        );
    }

    #[test]
    fn tcplog_shape() {
        let _tz = clock::force_utc_for_tests();
        let mut f = fields();
        f.request = None;
        f.tw = 1;
        f.tt = 4;
        f.bytes_out = 152;
        let line = render(TCPLOG, &f);
        assert_eq!(
            line,
            "127.0.0.1:50404 [24/Nov/2026:21:49:47.795] app app/s1 1/0/4 152 -- 1/1/0/0/0 0/0"
        );
    }

    #[test]
    fn variables_and_options() {
        let _tz = clock::force_utc_for_tests();
        let mut f = fields();
        f.request = Some(b"GET /p/q?x=1 HTTP/1.1");
        assert_eq!(
            render("%HM|%HU|%HP|%HQ|%HV|%{+Q}HU|%{-Q}r|%ID|%{+Q}ID|%Tq|%Td", &f),
            "GET|/p/q?x=1|/p/q|?x=1|HTTP/1.1|\"/p/q?x=1\"|GET /p/q?x=1 HTTP/1.1|-|\"\"|0|2"
        );
        assert_eq!(
            render(
                "%{+Q}ci %{+Q}B %{+X}ci:%{+X}cp %Ts %ms text%%lit {brace}",
                &f
            ),
            "\"127.0.0.1\" 151 7F000001:C4E4 1795556987 795 text%lit {brace}"
        );
        f.request = Some(b"GET http://h.test/r/4?q=4 HTTP/1.1");
        assert_eq!(
            render("%HPO|%HP|%HU|%HQ", &f),
            "/r/4|http://h.test/r/4|http://h.test/r/4?q=4|?q=4"
        );
        f.request = Some(b"GET /r/1 HTTP/1.1");
        assert_eq!(render("%HPO|%HP|%HQ|", &f), "/r/1|/r/1||");
        f.request = Some(b"CONNECT h.test:443 HTTP/1.1");
        assert_eq!(render("%HPO|%{+Q}HPO", &f), "-|\"\"");
        assert_eq!(
            render("%T|%trg|%Tl", &f),
            "24/Nov/2026:21:49:47 +0000|24/Nov/2026:21:49:47 +0000|24/Nov/2026:21:49:47 +0000"
        );
    }

    #[test]
    fn separators_collapse_around_empty_fields() {
        let f = fields();
        assert_eq!(render("  a %hr %hs b  ", &f), "a b ");
        assert_eq!(render("%hr|%hs|", &f), "||");
    }

    #[test]
    fn request_line_is_encoded() {
        let mut f = fields();
        f.request = Some(b"GET /a\"b#c\x01\xe9 HTTP/1.1");
        assert_eq!(render("%{+Q}r", &f), "\"GET /a#22b#23c#01#E9 HTTP/1.1\"");
        f.request = None;
        assert_eq!(render("%{+Q}r %HM", &f), "\"<BADREQ>\" -");
    }

    #[test]
    fn errors() {
        assert_eq!(
            LogFormat::parse("%zz"),
            Err(FormatError::Unknown("zz".into()))
        );
        assert!(LogFormat::parse("%[src]").is_ok_and(|f| f.has_samples()));
        assert!(!LogFormat::parse("%ci").unwrap().has_samples());
        assert!(matches!(
            LogFormat::parse("%[nosuchfetch]"),
            Err(FormatError::Sample(..))
        ));
        assert!(matches!(
            LogFormat::parse("%[src"),
            Err(FormatError::Unclosed(']'))
        ));
        assert!(matches!(
            LogFormat::parse("%[src x]"),
            Err(FormatError::Sample(..))
        ));
        assert!(matches!(
            LogFormat::parse("%[req.hdr(host)]"),
            Err(FormatError::SampleNotHere(_))
        ));
        assert!(LogFormat::parse_for_mode("%[method]", false).is_ok());
        assert_eq!(LogFormat::parse("%{+Q"), Err(FormatError::Unclosed('}')));
        assert_eq!(LogFormat::parse("a %"), Err(FormatError::Dangling));
        assert_eq!(
            LogFormat::parse("%{+Z}ci"),
            Err(FormatError::Option("+Z".into()))
        );
        assert_eq!(
            LogFormat::parse_for_mode("%ci %r", false),
            Err(FormatError::HttpOnly("r".into()))
        );
        assert!(LogFormat::parse_for_mode(TCPLOG, false).is_ok());
        assert!(LogFormat::parse_for_mode(HTTPLOG, true).is_ok());
    }
}
