//! ACLs, conditions and the rules that use them: `acl`, `use_backend`, `http-request`, `http-response`,
//! `http-after-response`,//! `tcp-request connection`, `redirect`, and `errorfile`.
//!
//! A section's lines are parsed into a [`RulesDraft`]; [`finish`] resolves ACL names once the whole section is
//! known and checks that every condition can match where it is used.
//!
//! Name resolution follows HAProxy 2.6: an ACL name must have been declared (by at least one `acl` line of the same
//! section) before a condition uses it, otherwise HAProxy reports "no such ACL". Every `acl` line of that name in
//! the section is part of it though, including lines after the use (HAProxy appends them to the same ACL). An ACL
//! declared by the user hides a predefined ACL of the same name from the lines that follow it.
//!
//! Where a condition is evaluated limits what it can test, as in HAProxy (which only warns that such ACLs never
//! match; fulcrum reports an error): `tcp-request connection` only `src` and `dst_port`; `http-response` no request
//! fetch (`path`, `url_param`, `hdr`) but response headers through `res.hdr` / `shdr*`, so that in an `http-response`
//! condition `Sample::Hdr` always means a response header, and everywhere else a request header; `use_backend` in
//! a `mode tcp` proxy only `src` and `dst_port`.

use std::collections::HashMap;
use std::net::IpAddr;

use super::addr::parse_net;
use super::common::{Line, MapLoad, Sink};
use super::known;
use super::model::{
    Acl, AddrPart, CaptureSlot, CondTerm, Condition, Fmt, HttpRequestAction, HttpResponseAction,
    MatchMethod, Mode, PatternFile, Redirect, RedirectTarget, Reply, ReqSsl, ReturnBody, Rule,
    Rules, Sample, SampleExpr, Service, TcpConnAction, TcpContentAction, UseBackend, VarConds,
    VarName, WaitForBody, RULE_LOG_VARS,
};
use super::model::{BindProto, PersistRule, StatsHttpAction, StickRule, UriNormalizer, UseServer};
use super::sections::SectionKind;
use crate::diag::Severity;
use crate::Location;

/// The status codes `errorfile` handles, which are also the only ones `deny` and `tarpit` may answer with (they
/// have no body of their own).
pub const ERROR_CODES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
];

fn ns(what: impl std::fmt::Display) -> String {
    format!("{what} is not supported yet by fulcrum")
}

fn codes_list() -> String {
    ERROR_CODES
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An ACL with what the model does not keep: the fetch as written, and whether it looks at the response.
#[derive(Debug, Clone)]
pub struct DraftAcl {
    acl: Acl,
    /// The fetch name as written, without arguments (`hdr_beg`, `res.hdr`), for messages.
    fetch: String,
    /// `res.hdr` / `shdr*`: a response header (`Sample::Hdr` then means the response's header, which only
    /// `http-response` conditions can test).
    response: bool,
}

/// One term of a condition before the section is complete.
#[derive(Debug, Clone)]
struct TermDraft {
    negate: bool,
    name: String,
    /// `None`: an ACL declared in the section, resolved by name in [`finish`]; `Some`: anonymous or predefined.
    acls: Option<Vec<DraftAcl>>,
}

/// `if|unless COND` before the section is complete.
#[derive(Debug, Clone)]
pub struct CondDraft {
    unless: bool,
    any_of: Vec<Vec<TermDraft>>,
}

/// A rule before the section is complete.
#[derive(Debug, Clone)]
pub struct RuleDraft<A> {
    action: A,
    cond: Option<CondDraft>,
    location: Location,
    /// The keyword the line is reported under.
    keyword: String,
}

/// The rules of a section as its lines are read.
#[derive(Debug, Clone, Default)]
pub struct RulesDraft {
    /// Whether `expose-experimental-directives` came in `global` before this section (`normalize-uri` needs it).
    pub experimental: bool,
    /// `acl` lines in order.
    acls: Vec<DraftAcl>,
    /// `use_backend` lines: the backend name (and its format, when it has `%[...]`) is the action.
    pub use_backends: Vec<RuleDraft<(String, Option<Fmt>)>>,
    http_request: Vec<RuleDraft<HttpRequestAction>>,
    http_response: Vec<RuleDraft<HttpResponseAction>>,
    http_after_response: Vec<RuleDraft<HttpResponseAction>>,
    tcp_connection: Vec<RuleDraft<TcpConnAction>>,
    /// `tcp-request content` lines in order.
    tcp_content: Vec<RuleDraft<TcpContentAction>>,
    /// `tcp-request session` lines.
    tcp_session: Vec<RuleDraft<TcpContentAction>>,
    /// `tcp-request inspect-delay` (the last line wins) and where it was.
    inspect_delay: Option<(std::time::Duration, Location)>,
    /// `tcp-response content` lines in order.
    tcp_response: Vec<RuleDraft<TcpContentAction>>,
    /// `tcp-response inspect-delay` (the last line wins) and where it was.
    response_inspect_delay: Option<(std::time::Duration, Location)>,
    /// Why `tcp-response content` expressions that read an HTTP response cannot be used in `mode tcp`.
    tcp_response_http_only: Vec<crate::Diagnostic>,
    /// The capture slots declared so far, request side (a frontend starts with its named defaults' ones).
    pub request_slots: Vec<CaptureSlot>,
    /// The capture slots declared so far, response side.
    pub response_slots: Vec<CaptureSlot>,
    /// `capture ... id N` actions whose slot must exist once the section is read: (response side, N, where, the keyword).
    capture_ids: Vec<(bool, usize, Location, String)>,
    /// `stats admin if|unless COND` lines.
    stats_admin: Vec<RuleDraft<()>>,
    /// `stats http-request allow|deny|auth [realm R] [if|unless COND]` lines.
    stats_http_request: Vec<RuleDraft<StatsHttpAction>>,
    /// `stick on|match|store-request` lines.
    stick: Vec<RuleDraft<StickRule>>,
    /// `force-persist` / `ignore-persist` lines.
    persist: Vec<RuleDraft<PersistRule>>,
    /// `use-server` lines.
    use_servers: Vec<RuleDraft<UseServer>>,
    /// `monitor fail` lines.
    monitor_fail: Vec<RuleDraft<()>>,
    /// Names used in a condition before any `acl` line declared them: (name, where, keyword).
    missing: Vec<(String, Location, String)>,
}

impl RulesDraft {
    /// Whether the section defines TCP/HTTP rules (`acl` lines alone are not rules).
    pub fn has_rules(&self) -> bool {
        !(self.http_request.is_empty()
            && self.http_response.is_empty()
            && self.http_after_response.is_empty()
            && self.tcp_connection.is_empty()
            && self.tcp_content.is_empty()
            && self.tcp_session.is_empty()
            && self.tcp_response.is_empty())
    }

    /// Whether nothing was declared: no ACL, no rule, no condition naming an ACL that does not exist.
    pub fn is_empty(&self) -> bool {
        !self.has_rules()
            && self.acls.is_empty()
            && self.use_backends.is_empty()
            && self.use_servers.is_empty()
            && self.monitor_fail.is_empty()
            && self.stats_admin.is_empty()
            && self.stats_http_request.is_empty()
            && self.missing.is_empty()
    }

    /// Whether the section has `tcp-response content` rules (which only backends run).
    pub fn has_tcp_response(&self) -> bool {
        !self.tcp_response.is_empty()
    }

    /// Whether the section has `tcp-request connection` or `tcp-request session` rules (which only frontends
    /// run).
    pub fn has_tcp_connection(&self) -> bool {
        !self.tcp_connection.is_empty() || !self.tcp_session.is_empty()
    }

    /// The `use_backend` lines: backend name and location.
    pub fn use_backend_refs(&self) -> impl Iterator<Item = (&str, &Location)> {
        self.use_backends
            .iter()
            .filter(|r| r.action.1.is_none())
            .map(|r| (r.action.0.as_str(), &r.location))
    }
}

// ---------- acl ----------

/// `acl NAME FETCH [flags] [--] [patterns]`
pub fn acl(line: &Line, rules: &mut RulesDraft, sink: &mut Sink) {
    let loc = &line.location;
    let name = line.word(1);
    if name.is_empty() {
        sink.error(
            loc,
            "acl",
            "expects 'acl NAME FETCH [flags] [--] [patterns]'",
        );
        return;
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.:".contains(*c)))
    {
        sink.error(
            loc,
            "acl",
            format!("character '{bad}' is not permitted in acl name '{name}' (letters, digits, '-', '_', '.' and ':' only)"),
        );
        return;
    }
    if line.words.len() < 3 {
        sink.error(
            loc,
            "acl",
            format!("acl '{name}': missing fetch method: expects 'acl {name} FETCH [flags] [--] [patterns]'"),
        );
        return;
    }
    if let Some(a) = expr(name, &line.words[2..], loc, "acl", sink) {
        rules.acls.push(a);
    }
}

/// What an ACL is called in messages.
fn acl_desc(name: &str) -> String {
    if name.is_empty() {
        "anonymous acl".to_string()
    } else {
        format!("acl '{name}'")
    }
}

/// Parses `FETCH [flags] [--] [patterns]` (a named or an anonymous ACL).
fn expr(
    name: &str,
    words: &[String],
    loc: &Location,
    kw: &str,
    sink: &mut Sink,
) -> Option<DraftAcl> {
    let who = acl_desc(name);
    let Some(fetch_word) = words.first().filter(|w| !w.is_empty()) else {
        sink.error(loc, kw, format!("{who}: missing fetch method"));
        return None;
    };
    let (sample, implied, response) = match fetch(fetch_word) {
        Ok(f) => f,
        Err(m) => {
            sink.error(loc, kw, format!("{who}: {m}"));
            return None;
        }
    };
    let mut method = implied.unwrap_or(MatchMethod::Str);
    let mut explicit = false;
    let mut ignore_case = false;
    let mut dashdash = false;
    let mut from_file = false;
    let mut map_file = false;
    // (pattern, where it came from for messages)
    let mut pats: Vec<(String, Option<String>)> = Vec::new();
    let mut files: Vec<PatternFile> = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let w = words[i].as_str();
        if !w.starts_with('-') {
            break;
        }
        match w {
            "--" => {
                dashdash = true;
                i += 1;
                break;
            }
            "-i" => ignore_case = true,
            "-m" => {
                let m = words.get(i + 1).map(String::as_str).unwrap_or("");
                explicit = true;
                method = match m {
                    "str" => MatchMethod::Str,
                    "beg" => MatchMethod::Beg,
                    "end" => MatchMethod::End,
                    "sub" => MatchMethod::Sub,
                    "reg" => MatchMethod::Reg,
                    "found" => MatchMethod::Found,
                    "ip" => MatchMethod::Ip,
                    "int" => MatchMethod::Int,
                    "bin" => MatchMethod::Bin,
                    "bool" => MatchMethod::Bool,
                    "dir" => MatchMethod::Dir,
                    "dom" => MatchMethod::Dom,
                    "len" => MatchMethod::Len,
                    m => {
                        sink.error(
                            loc,
                            kw,
                            format!("{who}: unknown matching method '{m}' (expected str, beg, end, sub, reg, dir, dom, len, found, bool, ip, int or bin)"),
                        );
                        return None;
                    }
                };
                i += 1;
            }
            "-f" => {
                from_file = true;
                let f = words.get(i + 1).map(String::as_str).unwrap_or("");
                if f.is_empty() {
                    sink.error(loc, kw, format!("{who}: '-f' expects a file name"));
                    return None;
                }
                match std::fs::read(f) {
                    Ok(bytes) => {
                        let text = String::from_utf8_lossy(&bytes);
                        let before = pats.len();
                        for (n, l) in text.lines().enumerate() {
                            let l = l.trim();
                            if l.is_empty() || l.starts_with('#') {
                                continue;
                            }
                            // `-M`: a map file, whose key (the first word) is the pattern
                            let l = if map_file {
                                l.split([' ', '\t']).next().unwrap_or(l)
                            } else {
                                l
                            };
                            pats.push((l.to_string(), Some(format!("{f}:{}", n + 1))));
                        }
                        files.push(PatternFile {
                            path: f.to_string(),
                            count: pats.len() - before,
                        });
                    }
                    Err(e) => {
                        sink.error(
                            loc,
                            kw,
                            format!("{who}: cannot read pattern file '{f}': {e}"),
                        );
                        return None;
                    }
                }
                i += 1;
            }
            // no DNS resolution of patterns: fulcrum never resolves names in patterns anyway
            "-n" => {}
            "-M" => map_file = true,
            "-u" => {
                let id = words.get(i + 1).map(String::as_str).unwrap_or("");
                if id.parse::<u32>().is_err() {
                    sink.error(
                        loc,
                        kw,
                        format!("{who}: '-u' expects a numeric unique id, found '{id}'"),
                    );
                    return None;
                }
                i += 1;
            }
            _ => {
                sink.error(
                    loc,
                    kw,
                    format!("{who}: '{w}' is not a valid ACL flag (-i, -m METHOD, -f FILE, -M, -n, -u ID); put '--' before a pattern that begins with '-'"),
                );
                return None;
            }
        }
        i += 1;
    }
    pats.extend(words[i..].iter().map(|p| (p.clone(), None)));

    let fname = fetch_word.split(['(', ',']).next().unwrap_or("");
    if let (Sample::Expr(e), None, false) = (&sample, implied, explicit) {
        match default_method(&e.0) {
            Some(m) => method = m,
            None => {
                sink.error(
                    loc,
                    kw,
                    format!("{who}: matching method must be specified first (using '-m') when using a sample fetch of this type ('{fname}')"),
                );
                return None;
            }
        }
    }
    if matches!(sample, Sample::ReqPayload { .. }) && !explicit {
        sink.error(
            loc,
            kw,
            format!("{who}: matching method must be specified first (using '-m') when using a sample fetch of this type ('{fname}')"),
        );
        return None;
    }
    let text_only = matches!(sample, Sample::Method | Sample::ReqPayload { .. });
    if (text_only && matches!(method, MatchMethod::Ip | MatchMethod::Int))
        || (sample == Sample::ReqLen && method == MatchMethod::Ip)
    {
        let m = if method == MatchMethod::Ip {
            "ip"
        } else {
            "int"
        };
        sink.error(
            loc,
            kw,
            format!("{who}: matching method '{m}' cannot be used with fetch '{fname}'"),
        );
        return None;
    }
    if method == MatchMethod::Found || method == MatchMethod::Bool {
        if let Some((p, _)) = pats.first() {
            let what = if method == MatchMethod::Bool {
                format!("'-m bool' only tests that '{fname}' is true")
            } else {
                format!("'-m found' only tests that '{fname}' exists")
            };
            sink.error(
                loc,
                kw,
                format!("{who}: {what} and takes no pattern, found '{p}'"),
            );
            return None;
        }
    } else if pats.is_empty() && !dashdash && !from_file {
        sink.error(
            loc,
            kw,
            format!("{who}: no pattern to match '{fname}' against, so it would never match (add '--' if that is intended, or use '-m found' to test that it exists)"),
        );
        return None;
    }
    let mut patterns = Vec::with_capacity(pats.len());
    // HAProxy's integer operators (`status eq 200`, `dst_port ge 1024`) apply to the line's patterns after them.
    let mut op = "eq";
    for (p, origin) in pats {
        let p = if matches!(method, MatchMethod::Int | MatchMethod::Len) && origin.is_none() {
            if let Some(o) = ["eq", "ge", "gt", "le", "lt"].into_iter().find(|o| *o == p) {
                op = o;
                continue;
            }
            int_operator(op, p)
        } else {
            p
        };
        match acl_pattern(method, ignore_case, &p) {
            Ok(v) => patterns.push(v),
            Err(m) => {
                let at = origin.map(|o| format!(" (at {o})")).unwrap_or_default();
                sink.error(loc, kw, format!("{who}: {m}{at}"));
                return None;
            }
        }
    }
    let expr_id = sink.acl_exprs;
    sink.acl_exprs += 1;
    Some(DraftAcl {
        acl: Acl {
            name: name.to_string(),
            sample,
            method,
            ignore_case,
            patterns,
            location: loc.clone(),
            files,
            fetch: fname.to_string(),
            expr_id: Some(expr_id),
        },
        fetch: fname.to_string(),
        response,
    })
}

/// Checks one pattern for an ACL matching with `method` and returns it as the ACL keeps it (networks in their
/// canonical `ADDR/BITS` form); the message says what is wrong. The parser checks every pattern of the
/// configuration with it, and the runtime API the patterns it adds (`add acl`).
pub fn acl_pattern(method: MatchMethod, ignore_case: bool, p: &str) -> Result<String, String> {
    match method {
        MatchMethod::Reg => regex::RegexBuilder::new(p)
            .case_insensitive(ignore_case)
            .build()
            .map(|_| p.to_string())
            .map_err(|e| format!("invalid regex '{p}': {e}")),
        MatchMethod::Ip => ip_pattern(p),
        MatchMethod::Int | MatchMethod::Len => int_pattern(p),
        MatchMethod::Bin => bin_pattern(p).map(|_| p.to_string()),
        _ => Ok(p.to_string()),
    }
}

/// The bytes a `-m bin` pattern stands for: pairs of hexadecimal digits, as HAProxy's `parse_binary`.
pub fn bin_pattern(p: &str) -> Result<Vec<u8>, String> {
    if !p.len().is_multiple_of(2) {
        return Err(format!(
            "'{p}' is not a binary pattern: it needs an even number of hexadecimal digits"
        ));
    }
    let digit = |c: u8| (c as char).to_digit(16);
    p.as_bytes()
        .chunks(2)
        .map(|pair| match (digit(pair[0]), digit(pair[1])) {
            (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
            _ => Err(format!(
                "'{p}' is not a binary pattern: '{}' is not a hexadecimal byte",
                String::from_utf8_lossy(pair)
            )),
        })
        .collect()
}

/// HAProxy's `tune.bufsize`: a payload reaching past it can never match.
const BUFSIZE: u64 = 16384;

/// The arguments of `req.payload(OFFSET,LENGTH)`.
fn payload_args(base: &str, args: Option<&str>) -> Result<Sample, String> {
    let usage = format!("'{base}' expects two arguments: {base}(OFFSET,LENGTH)");
    let Some(args) = args else {
        return Err(usage);
    };
    let mut parts = args.split(',');
    let (Some(o), Some(l), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(usage);
    };
    let num = |s: &str, what: &str| -> Result<u32, String> {
        let s = s.trim();
        s.parse::<u32>()
            .ok()
            .filter(|n| u64::from(*n) <= BUFSIZE)
            .ok_or_else(|| {
                format!("'{base}': {what} '{s}' is not a number between 0 and {BUFSIZE}")
            })
    };
    let offset = num(o, "offset")?;
    let length = num(l, "length")?;
    if u64::from(offset) + u64::from(length) > BUFSIZE {
        return Err(format!(
            "'{base}({offset},{length})' reaches past the {BUFSIZE}-byte buffer and would never match"
        ));
    }
    Ok(Sample::ReqPayload { offset, length })
}

/// The action word of a `tcp-request connection|content` line (`accept` is true, `reject` false); anything else is
/// reported (an action HAProxy has that fulcrum does not support yet, or an unknown one) and gives none.
fn accept_or_reject(
    line: &Line,
    loc: &Location,
    kw: &str,
    unsupported: &[&str],
    sink: &mut Sink,
) -> Option<bool> {
    match line.word(2) {
        "accept" => Some(true),
        "reject" => Some(false),
        "" => {
            sink.error(loc, kw, "expects an action: 'accept' or 'reject'");
            None
        }
        other if known::listed(unsupported, base_action(other)) => {
            let base = base_action(other);
            sink.error(
                loc,
                &format!("{kw} {base}"),
                ns(format!("{kw} action '{base}'")),
            );
            None
        }
        other => {
            sink.error(
                loc,
                kw,
                format!("unknown action '{other}': expected 'accept' or 'reject'"),
            );
            None
        }
    }
}

/// `FETCH[(ARGS)][,CONVERTER...]`: the sample, the matching method its name implies (`None`: the one of its
/// output type), and whether it reads the response. The fetches fulcrum matched before sample expressions existed
/// keep their own forms (the runtime API describes them); everything else is a compiled [`SampleExpr`].
fn fetch(word: &str) -> Result<(Sample, Option<MatchMethod>, bool), String> {
    match legacy_fetch(word) {
        Ok((sample, method, response)) => Ok((sample, Some(method), response)),
        Err(legacy) => expr_fetch(word).map_err(|e| e.unwrap_or(legacy)),
    }
}

/// The ACL keywords made of a fetch and a suffix naming the matching method (`hdr_beg`, `path_dir`, `url_len`).
const ACL_SUFFIXES: &[(&str, MatchMethod)] = &[
    ("_beg", MatchMethod::Beg),
    ("_end", MatchMethod::End),
    ("_sub", MatchMethod::Sub),
    ("_reg", MatchMethod::Reg),
    ("_dir", MatchMethod::Dir),
    ("_dom", MatchMethod::Dom),
    ("_len", MatchMethod::Len),
];

/// A fetch with converters, or one the legacy forms do not cover, compiled by fulcrum-sample (with HAProxy's
/// suffixed ACL keywords: `hdr_dom(host)` is `hdr(host)` matched with `-m dom`). `Err(None)`: fulcrum-sample does
/// not know the fetch either (the caller's message stands).
fn expr_fetch(word: &str) -> Result<(Sample, Option<MatchMethod>, bool), Option<String>> {
    let compiled = |text: &str| {
        fulcrum_sample::Expr::parse(text).map(|e| {
            let response = e.needs().response;
            (Sample::Expr(SampleExpr(std::sync::Arc::new(e))), response)
        })
    };
    let err = |e: fulcrum_sample::Error| match e {
        fulcrum_sample::Error::UnknownFetch { .. } => None,
        e => Some(format!("'{word}': {e}")),
    };
    match compiled(word) {
        Ok((s, r)) => Ok((s, None, r)),
        Err(first) => {
            let base_len = word.find(['(', ',']).unwrap_or(word.len());
            let base = &word[..base_len];
            for (sfx, method) in ACL_SUFFIXES {
                if let Some(f) = base.strip_suffix(sfx).filter(|f| !f.is_empty()) {
                    let text = format!("{f}{}", &word[base_len..]);
                    // As HAProxy 2.6: converters after the keyword drop its method for the one of their output
                    // type (`hdr_beg(host),lower` compares whole strings).
                    let rest = &word[base_len..];
                    let after_args = match rest.strip_prefix('(') {
                        Some(r) => r.find(')').map_or("", |c| &r[c + 1..]),
                        None => rest,
                    };
                    let converted = after_args.starts_with(',');
                    return match compiled(&text) {
                        Ok((s, r)) if converted => Ok((s, None, r)),
                        Ok((s, r)) => Ok((s, Some(*method), r)),
                        Err(fulcrum_sample::Error::UnknownFetch { .. }) => Err(err(first)),
                        Err(e) => Err(err(e)),
                    };
                }
            }
            Err(err(first))
        }
    }
}

/// The matching method HAProxy gives a sample expression written without `-m`, from its output type; `None` for
/// the types that need an explicit one (binary, and `var()` whose type is only known at run time).
fn default_method(e: &fulcrum_sample::Expr) -> Option<MatchMethod> {
    use fulcrum_sample::Type;
    Some(match e.output_type() {
        Type::Str | Type::Meth => MatchMethod::Str,
        Type::Int => MatchMethod::Int,
        Type::Ipv4 | Type::Ipv6 | Type::Addr => MatchMethod::Ip,
        Type::Bool => MatchMethod::Bool,
        Type::Bin | Type::Any => return None,
    })
}

/// `FETCH` or `FETCH(ARGS)` of the fetches fulcrum matched before sample expressions existed: the sample, the
/// matching method its name implies, and whether it is a response header (`res.hdr`, `shdr*`).
fn legacy_fetch(word: &str) -> Result<(Sample, MatchMethod, bool), String> {
    let (base, args, after) = match word.find('(') {
        Some(p) => {
            let rest = &word[p + 1..];
            match rest.find(')') {
                Some(c) => (&word[..p], Some(&rest[..c]), &rest[c + 1..]),
                None => return Err(format!("'{word}': expected ')' after the arguments")),
            }
        }
        None => match word.find(',') {
            Some(c) => (&word[..c], None, &word[c..]),
            None => (word, None, ""),
        },
    };
    use MatchMethod as M;
    let (sample, method, arg): (fn(String) -> Sample, MatchMethod, bool) = match base {
        "path" => (|_| Sample::Path, M::Str, false),
        "path_beg" => (|_| Sample::Path, M::Beg, false),
        "path_end" => (|_| Sample::Path, M::End, false),
        "path_sub" => (|_| Sample::Path, M::Sub, false),
        "path_reg" => (|_| Sample::Path, M::Reg, false),
        "url_param" | "urlp" => (Sample::UrlParam, M::Str, true),
        "urlp_beg" => (Sample::UrlParam, M::Beg, true),
        "urlp_end" => (Sample::UrlParam, M::End, true),
        "urlp_sub" => (Sample::UrlParam, M::Sub, true),
        "urlp_reg" => (Sample::UrlParam, M::Reg, true),
        "hdr" | "req.hdr" => (Sample::Hdr, M::Str, true),
        "hdr_beg" => (Sample::Hdr, M::Beg, true),
        "hdr_end" => (Sample::Hdr, M::End, true),
        "hdr_sub" => (Sample::Hdr, M::Sub, true),
        "hdr_reg" => (Sample::Hdr, M::Reg, true),
        "res.hdr" | "shdr" => (Sample::Hdr, M::Str, true),
        "shdr_beg" => (Sample::Hdr, M::Beg, true),
        "shdr_end" => (Sample::Hdr, M::End, true),
        "shdr_sub" => (Sample::Hdr, M::Sub, true),
        "shdr_reg" => (Sample::Hdr, M::Reg, true),
        "src" => (|_| Sample::Src, M::Ip, false),
        "dst_port" => (|_| Sample::DstPort, M::Int, false),
        "method" => (|_| Sample::Method, M::Str, false),
        "http_auth" => (Sample::HttpAuth, M::Bool, true),
        "capture.req.uri" => (|_| Sample::CaptureReqUri, M::Str, false),
        "http_auth_group" => (Sample::HttpAuthGroup, M::Str, true),
        "status" => (|_| Sample::Status, M::Int, false),
        "req.len" | "req_len" => (|_| Sample::ReqLen, M::Int, false),
        "req.ssl_sni" | "req_ssl_sni" => (|_| Sample::ReqSsl(ReqSsl::Sni), M::Str, false),
        "req.ssl_hello_type" | "req_ssl_hello_type" => {
            (|_| Sample::ReqSsl(ReqSsl::HelloType), M::Int, false)
        }
        "req.ssl_alpn" => (|_| Sample::ReqSsl(ReqSsl::Alpn), M::Str, false),
        // The names (`ssl_c_s_dn` ...) take arguments and are printed by the sample language: an expression.
        b if fulcrum_sample::SslFetch::by_name(b).is_some_and(|f| !f.is_dn()) => {
            let f = fulcrum_sample::SslFetch::by_name(b)
                .ok_or_else(|| format!("unknown fetch method '{b}'"))?;
            let method = match f.out_type() {
                fulcrum_sample::Type::Bool => M::Bool,
                fulcrum_sample::Type::Int => M::Int,
                fulcrum_sample::Type::Bin => M::Bin,
                _ => M::Str,
            };
            if after.starts_with(',') {
                return Err(ns(format!("converters ('{after}' after '{base}')")));
            }
            if args.is_some() || !after.is_empty() {
                return Err(format!("fetch '{base}' takes no argument"));
            }
            return Ok((Sample::Ssl(f), method, false));
        }
        "req.payload" | "payload" => {
            if after.starts_with(',') {
                return Err(ns(format!("converters ('{after}' after '{base}')")));
            }
            if !after.is_empty() {
                return Err(format!("'{word}': unexpected '{after}' after ')'"));
            }
            return Ok((payload_args(base, args)?, M::Bin, false));
        }
        b if known::FETCHES.contains(&b) => return Err(ns(format!("fetch '{b}'"))),
        b => return Err(format!("unknown fetch method '{b}'")),
    };
    if !after.is_empty() {
        return Err(if after.starts_with(',') {
            ns(format!("converters ('{after}' after '{base}')"))
        } else {
            format!("'{word}': unexpected '{after}' after ')'")
        });
    }
    if !arg {
        return match args {
            Some(a) => Err(format!("fetch '{base}' takes no argument, found '({a})'")),
            // `status` is the one response fetch without argument.
            None => Ok((sample(String::new()), method, base == "status")),
        };
    }
    let response = base == "res.hdr" || base.starts_with("shdr");
    let what = if base.contains("hdr") {
        "header name"
    } else if base.starts_with("http_auth") {
        "userlist name"
    } else {
        "parameter name"
    };
    let args = args.unwrap_or("");
    let mut parts = args.split(',');
    let first = parts.next().unwrap_or("");
    if first.is_empty() {
        return Err(ns(format!(
            "'{base}' without a {what} (expected {base}(NAME))"
        )));
    }
    if let Some(extra) = parts.next() {
        return Err(ns(format!("the second argument of '{base}' ('{extra}')")));
    }
    Ok((sample(first.to_string()), method, response))
}

/// An IP pattern: `ADDR` or `ADDR/BITS` (IPv4 also `ADDR/MASK`), normalized to `NETWORK/BITS`.
fn ip_pattern(p: &str) -> Result<String, String> {
    let (ip, len) = parse_net(p).map_err(|_| {
        format!("'{p}' is not a valid IPv4 or IPv6 address or network (ADDR or ADDR/BITS; host names are not supported yet by fulcrum)")
    })?;
    let net = match ip {
        IpAddr::V4(a) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            IpAddr::from(std::net::Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            IpAddr::from(std::net::Ipv6Addr::from(u128::from(a) & m))
        }
    };
    Ok(format!("{net}/{len}"))
}

/// An integer pattern written after an operator (`ge 1024`) as the range it stands for (`1024:`); a range, or a
/// pattern after `eq`, stays as it is.
fn int_operator(op: &str, p: String) -> String {
    let Ok(n) = p.parse::<u64>() else {
        return p;
    };
    match op {
        "ge" => format!("{n}:"),
        "gt" => format!("{}:", n.saturating_add(1)),
        "le" => format!(":{n}"),
        // `lt 0` matches no (non-negative) sample; HAProxy reads it as `:-1`.
        "lt" => n
            .checked_sub(1)
            .map_or(":-1".to_string(), |m| format!(":{m}")),
        _ => p,
    }
}

/// An integer pattern: `N`, or a range `LOW:HIGH`, `LOW:` (no upper bound) or `:HIGH` (no lower bound) with
/// LOW <= HIGH, as HAProxy; numbers are normalized to plain decimal. HAProxy also takes a negative `N`, which fulcrum
/// does not support yet (the samples it compares, ports and decimal texts, are never negative).
fn int_pattern(p: &str) -> Result<String, String> {
    if matches!(p, "eq" | "ge" | "gt" | "le" | "lt") {
        return Err(ns(format!("the integer operator '{p}'")));
    }
    let num = |s: &str| -> Option<i64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match p.split_once(':') {
        // `lt 0`: the samples fulcrum compares are never negative, so nothing matches
        Some(("", "-1")) => Ok(":-1".to_string()),
        Some((lo, hi)) => {
            let bad = || format!("'{p}' is not a valid number range LOW:HIGH");
            let lo = if lo.is_empty() {
                None
            } else {
                Some(num(lo).ok_or_else(bad)?)
            };
            let hi = if hi.is_empty() {
                None
            } else {
                Some(num(hi).ok_or_else(bad)?)
            };
            match (lo, hi) {
                (None, None) => Err(bad()),
                (Some(l), Some(h)) if l > h => Err(bad()),
                (l, h) => Ok(format!(
                    "{}:{}",
                    l.map(|v| v.to_string()).unwrap_or_default(),
                    h.map(|v| v.to_string()).unwrap_or_default()
                )),
            }
        }
        None => match (p.strip_prefix('-').map(num), num(p)) {
            (Some(Some(_)), _) => Err(ns(format!("the negative integer '{p}'"))),
            (_, Some(v)) => Ok(v.to_string()),
            _ => Err(format!("'{p}' is not a number")),
        },
    }
}

/// The predefined ACLs fulcrum supports, as ordinary ACLs evaluated like any other:
/// - `TRUE`: `src -m found` (a connection always has a source, at every layer);
/// - `FALSE`: `src -m ip` with no pattern (never matches);
/// - `LOCALHOST`: `src 127.0.0.0/8`;
/// - `HTTP`: `method -m found` (every HTTP request has a method; layer 7, like HAProxy's `req.proto_http`);
/// - `WAIT_END`: [`Sample::WaitEnd`];
/// - `METH_GET`: `method GET HEAD`; `METH_CONNECT`, `METH_DELETE`, `METH_HEAD`, `METH_OPTIONS`, `METH_POST`,
///   `METH_PUT`, `METH_TRACE`: `method NAME` (case-sensitive, as in HAProxy).
fn predefined(name: &str, loc: &Location) -> Option<DraftAcl> {
    let (sample, method, pats): (Sample, MatchMethod, &[&str]) = match name {
        "TRUE" => (Sample::Src, MatchMethod::Found, &[]),
        "FALSE" => (Sample::Src, MatchMethod::Ip, &[]),
        "LOCALHOST" => (Sample::Src, MatchMethod::Ip, &["127.0.0.0/8"]),
        "HTTP" => (Sample::Method, MatchMethod::Found, &[]),
        "WAIT_END" => (Sample::WaitEnd, MatchMethod::Found, &[]),
        "METH_GET" => (Sample::Method, MatchMethod::Str, &["GET", "HEAD"]),
        "METH_CONNECT" => (Sample::Method, MatchMethod::Str, &["CONNECT"]),
        "METH_DELETE" => (Sample::Method, MatchMethod::Str, &["DELETE"]),
        "METH_HEAD" => (Sample::Method, MatchMethod::Str, &["HEAD"]),
        "METH_OPTIONS" => (Sample::Method, MatchMethod::Str, &["OPTIONS"]),
        "METH_POST" => (Sample::Method, MatchMethod::Str, &["POST"]),
        "METH_PUT" => (Sample::Method, MatchMethod::Str, &["PUT"]),
        "METH_TRACE" => (Sample::Method, MatchMethod::Str, &["TRACE"]),
        _ => return None,
    };
    let fetch = match sample {
        Sample::Src => "src",
        Sample::WaitEnd => "wait_end",
        _ => "method",
    };
    Some(DraftAcl {
        acl: Acl {
            name: name.to_string(),
            sample,
            method,
            ignore_case: false,
            patterns: pats.iter().map(|p| p.to_string()).collect(),
            location: loc.clone(),
            files: Vec::new(),
            fetch: fetch.to_string(),
            expr_id: None,
        },
        fetch: fetch.to_string(),
        response: false,
    })
}

/// The predefined ACLs HAProxy defines with a fetch fulcrum-sample compiles, as the ACL line each stands for.
fn predefined_expr(name: &str) -> Option<&'static str> {
    Some(match name {
        "RDP_COOKIE" => "req.rdp_cookie_cnt gt 0",
        "REQ_CONTENT" => "req.len gt 0",
        "HTTP_1.0" => "req.ver 1.0",
        "HTTP_1.1" => "req.ver 1.1",
        "HTTP_2.0" => "req.ver 2.0",
        "HTTP_CONTENT" => "req.hdr(content-length) -m int gt 0",
        "HTTP_URL_ABS" => "url_reg ^[^/:]*://",
        "HTTP_URL_SLASH" => "url_beg /",
        "HTTP_URL_STAR" => "url *",
        _ => return None,
    })
}

// ---------- conditions ----------

/// Parses what follows `if` / `unless` (`words[0]` is that word). Problems are reported; `None` then.
fn condition(
    words: &[String],
    loc: &Location,
    kw: &str,
    rules: &mut RulesDraft,
    sink: &mut Sink,
) -> Option<CondDraft> {
    let unless = words[0] == "unless";
    let which = &words[0];
    let mut any_of: Vec<Vec<TermDraft>> = Vec::new();
    let mut group: Vec<TermDraft> = Vec::new();
    let mut negate = false;
    let mut i = 1;
    while i < words.len() {
        let raw = words[i].as_str();
        let mut word = raw;
        while let Some(rest) = word.strip_prefix('!') {
            negate = !negate;
            word = rest;
        }
        if word.is_empty() {
            i += 1;
            continue;
        }
        if word == "||" || word.eq_ignore_ascii_case("or") {
            if group.is_empty() || negate {
                sink.error(
                    loc,
                    kw,
                    format!("condition: '{raw}' must be preceded by an ACL"),
                );
                return None;
            }
            any_of.push(std::mem::take(&mut group));
            i += 1;
            continue;
        }
        let term = if word == "{" {
            let Some(end) = words[i + 1..].iter().position(|w| w == "}") else {
                sink.error(loc, kw, "condition: missing closing '}'");
                return None;
            };
            let inner = &words[i + 1..i + 1 + end];
            i += end + 2;
            let a = expr("", inner, loc, kw, sink)?;
            TermDraft {
                negate,
                name: format!("{{ {} }}", inner.join(" ")),
                acls: Some(vec![a]),
            }
        } else {
            i += 1;
            let acls = if rules.acls.iter().any(|a| a.acl.name == word) {
                None
            } else if let Some(a) = predefined(word, loc) {
                Some(vec![a])
            } else if let Some(def) = predefined_expr(word) {
                let def: Vec<String> = def.split(' ').map(str::to_string).collect();
                Some(vec![expr(word, &def, loc, kw, sink)?])
            } else {
                rules
                    .missing
                    .push((word.to_string(), loc.clone(), kw.to_string()));
                return None;
            };
            TermDraft {
                negate,
                name: word.to_string(),
                acls,
            }
        };
        negate = false;
        group.push(term);
    }
    if negate {
        sink.error(loc, kw, "condition: '!' must be followed by an ACL");
        return None;
    }
    if group.is_empty() {
        let msg = if any_of.is_empty() {
            format!("expects a condition after '{which}'")
        } else {
            "condition: '||' / 'or' must be followed by an ACL".to_string()
        };
        sink.error(loc, kw, msg);
        return None;
    }
    any_of.push(group);
    Some(CondDraft { unless, any_of })
}

/// The optional `if|unless COND` at `line.words[i..]`. `Err` when something else is there or the condition is
/// invalid (already reported).
fn tail(
    line: &Line,
    i: usize,
    kw: &str,
    rules: &mut RulesDraft,
    sink: &mut Sink,
) -> Result<Option<CondDraft>, ()> {
    match line.words.get(i).map(String::as_str) {
        None => Ok(None),
        Some("if" | "unless") => condition(&line.words[i..], &line.location, kw, rules, sink)
            .map(Some)
            .ok_or(()),
        Some(other) => {
            sink.error(
                &line.location,
                kw,
                format!("expects 'if' or 'unless' followed by a condition, found '{other}'"),
            );
            Err(())
        }
    }
}

/// A value that HAProxy reads as a log-format string: `%%` is a literal `%`; any other `%` starts an expression,
/// which fulcrum does not evaluate yet.
fn plain(value: &str, loc: &Location, kw: &str, sink: &mut Sink) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            if chars.peek() == Some(&'%') {
                chars.next();
            } else {
                sink.error(
                    loc,
                    kw,
                    format!("'{value}': log-format expressions are not supported yet by fulcrum (write '%%' for a literal '%')"),
                );
                return None;
            }
        }
        out.push(c);
    }
    Some(out)
}

/// Which rules a log-format string or an expression runs in: what its fetches may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `http-request` rules and the replies they make.
    Request,
    /// `http-response` rules.
    Response,
    /// `tcp-response content` rules: the server's first bytes, no HTTP message, no request bytes.
    TcpResponse,
}

/// Refuses an expression that reads what `phase` does not have (as HAProxy does when loading).
fn expr_fits(
    e: &fulcrum_sample::Expr,
    phase: Phase,
    loc: &Location,
    kw: &str,
    sink: &mut Sink,
) -> bool {
    let needs = e.needs();
    let why = match phase {
        Phase::Request | Phase::Response if needs.response_content => {
            "the buffered response bytes, which only 'tcp-response content' rules see"
        }
        // `req.len` is not `content` for the sample crate: HTTP rules may read it (the request's size).
        Phase::TcpResponse
            if needs.content || needs.http || matches!(e.fetch_name(), "req.len" | "req_len") =>
        {
            "the request or an HTTP message, which 'tcp-response content' rules cannot see"
        }
        Phase::Request if needs.response => "the response, which 'http-request' rules cannot see",
        Phase::Request if needs.server_conn => {
            "the connection to the server, which does not exist yet when 'http-request' rules run"
        }
        Phase::Response if needs.request => {
            "the request's URI, headers or cookies, which HAProxy does not offer to 'http-response' rules"
        }
        _ => return true,
    };
    sink.error(
        loc,
        kw,
        format!("sample fetch '{}' reads {why}", e.fetch_name()),
    );
    false
}

/// A value that HAProxy reads as a log-format string: literal text, `%%`, `%[expr]` and the log variables of
/// [`RULE_LOG_VARS`], compiled now; errors carry fulcrum-sample's message.
fn lf(value: &str, phase: Phase, loc: &Location, kw: &str, sink: &mut Sink) -> Option<Fmt> {
    let maps = sink.maps.clone();
    let mut load = MapLoad {
        maps: &maps,
        location: loc,
    };
    let f = match Fmt::parse_with(value, &mut load) {
        Ok(f) => f,
        Err(e) => {
            sink.error(loc, kw, format!("'{value}': {e}"));
            return None;
        }
    };
    for seg in f.format().segments() {
        match seg {
            fulcrum_sample::Segment::Var { name, .. }
                if !RULE_LOG_VARS.contains(&name.as_str()) =>
            {
                sink.error(
                    loc,
                    kw,
                    format!("'{value}': log-format variable '%{name}' is not supported yet by fulcrum in rules (supported: {}; use '%[...]' sample expressions, or '%%' for a literal '%')", RULE_LOG_VARS.iter().map(|v| format!("%{v}")).collect::<Vec<_>>().join(" ")),
                );
                return None;
            }
            fulcrum_sample::Segment::Expr { expr, .. }
                if !expr_fits(expr, phase, loc, kw, sink) =>
            {
                return None;
            }
            _ => {}
        }
    }
    Some(f)
}

/// `set-var(scope.name) EXPR`, `set-var-fmt(scope.name) FMT`, `unset-var(scope.name)`: the action and the index
/// of the first word after it; `None` (nothing reported) when `action` is none of them.
enum VarAction {
    Set(VarName, SampleExpr, VarConds),
    SetFmt(VarName, Fmt, VarConds),
    Unset(VarName),
}

fn var_action(
    line: &Line,
    at: usize,
    action: &str,
    phase: Phase,
    kw: &str,
    sink: &mut Sink,
) -> Option<Result<(VarAction, usize), ()>> {
    let loc = &line.location;
    let (base, rest) = action.split_once('(')?;
    if !matches!(base, "set-var" | "set-var-fmt" | "unset-var") {
        return None;
    }
    let words = if kw.starts_with("tcp-") { 2 } else { 1 };
    let prefix: Vec<&str> = kw.split(' ').take(words).collect();
    let kw = &format!("{} {base}", prefix.join(" "));
    let Some(inner) = rest.strip_suffix(')') else {
        sink.error(
            loc,
            kw,
            format!("'{action}': missing ')' after the variable name"),
        );
        return Some(Err(()));
    };
    let mut parts = inner.split(',');
    let var = parts.next().unwrap_or("");
    let conds = match VarConds::parse(parts.map(str::trim)) {
        Ok(c) => c,
        Err(e) => {
            sink.error(loc, kw, format!("'{action}': {e}"));
            return Some(Err(()));
        }
    };
    if base == "unset-var" && !conds.is_empty() {
        sink.error(
            loc,
            kw,
            format!("'{action}': 'unset-var' takes no condition"),
        );
        return Some(Err(()));
    }
    let name: VarName = match var.parse() {
        Ok(n) => n,
        Err(e) => {
            sink.error(loc, kw, e.to_string());
            return Some(Err(()));
        }
    };
    if name.scope() == fulcrum_sample::Scope::Check {
        sink.error(
            loc,
            kw,
            format!("'{name}': 'check.' variables only exist in health checks"),
        );
        return Some(Err(()));
    }
    if base == "unset-var" {
        return Some(Ok((VarAction::Unset(name), at + 1)));
    }
    let Some(v) = line.words.get(at + 1).map(String::as_str) else {
        let what = if base == "set-var" {
            "a sample expression"
        } else {
            "a log-format string"
        };
        sink.error(loc, kw, format!("'{action}' expects {what}"));
        return Some(Err(()));
    };
    if base == "set-var-fmt" {
        return Some(
            lf(v, phase, loc, kw, sink)
                .map(|f| (VarAction::SetFmt(name, f, conds), at + 2))
                .ok_or(()),
        );
    }
    let maps = sink.maps.clone();
    let mut load = MapLoad {
        maps: &maps,
        location: loc,
    };
    match fulcrum_sample::Expr::parse_with(v, &mut load) {
        Ok(e) => {
            if !expr_fits(&e, phase, loc, kw, sink) {
                return Some(Err(()));
            }
            Some(Ok((
                VarAction::Set(name, SampleExpr(std::sync::Arc::new(e)), conds),
                at + 2,
            )))
        }
        Err(e) => {
            sink.error(loc, kw, format!("'{v}': {e}"));
            Some(Err(()))
        }
    }
}

/// `set-timeout server|tunnel TIME|EXPR` (words 2 and 3), with HAProxy's refusals.
fn set_timeout(
    line: &Line,
    kw: &str,
    sink: &mut Sink,
) -> Option<(super::model::StreamTimeout, super::model::TimeoutValue)> {
    use super::model::{StreamTimeout, TimeoutValue};
    let loc = &line.location;
    let (Some(which), Some(v)) = (arg(line, 2), arg(line, 3)) else {
        sink.error(
            loc,
            kw,
            "'set-timeout' expects exactly 2 arguments: server|tunnel and a time or an expression",
        );
        return None;
    };
    let t = match which {
        "server" => StreamTimeout::Server,
        "tunnel" => StreamTimeout::Tunnel,
        other => {
            sink.error(
                loc,
                kw,
                format!("'set-timeout' changes 'server' or 'tunnel', not '{other}'"),
            );
            return None;
        }
    };
    if v.starts_with(|c: char| c.is_ascii_digit()) {
        return match super::units::parse_time(v) {
            Ok(d) if d.is_zero() => {
                sink.error(loc, kw, format!("'set-timeout {which}' cannot be 0"));
                None
            }
            Ok(d) => Some((t, TimeoutValue::Fixed(d))),
            Err(e) => {
                sink.error(loc, kw, e);
                None
            }
        };
    }
    match fulcrum_sample::Expr::parse(v) {
        Ok(e) => expr_fits(&e, Phase::Request, loc, kw, sink)
            .then(|| (t, TimeoutValue::Expr(SampleExpr(std::sync::Arc::new(e))))),
        Err(e) => {
            sink.error(loc, kw, format!("'{v}': {e}"));
            None
        }
    }
}

/// The sample expression of `set-src`, `set-dst`, `set-src-port` or `set-dst-port` (word 2), which reads the
/// request.
fn addr_expr(line: &Line, kw: &str, sink: &mut Sink) -> Option<SampleExpr> {
    let loc = &line.location;
    let Some(v) = arg(line, 2) else {
        sink.error(loc, kw, "expects a sample expression");
        return None;
    };
    match fulcrum_sample::Expr::parse(v) {
        Ok(e) => {
            expr_fits(&e, Phase::Request, loc, kw, sink).then(|| SampleExpr(std::sync::Arc::new(e)))
        }
        Err(e) => {
            sink.error(loc, kw, format!("'{v}': {e}"));
            None
        }
    }
}

/// The word at `i` when it is present and not empty.
fn arg(line: &Line, i: usize) -> Option<&str> {
    line.words
        .get(i)
        .map(String::as_str)
        .filter(|w| !w.is_empty())
}

fn regex_ok(re: &str, loc: &Location, kw: &str, sink: &mut Sink) -> bool {
    match regex::Regex::new(re) {
        Ok(_) => true,
        Err(e) => {
            sink.error(loc, kw, format!("invalid regex '{re}': {e}"));
            false
        }
    }
}

// ---------- use_backend ----------

/// `use_backend NAME [if|unless COND]`
pub fn use_backend(line: &Line, rules: &mut RulesDraft, sink: &mut Sink) {
    let loc = &line.location;
    let kw = "use_backend";
    let Some(name) = arg(line, 1) else {
        sink.error(loc, kw, "expects a backend name");
        return;
    };
    // As HAProxy: a name with a '%' is a log-format string, dynamic unless it says constant text.
    let action = if name.contains('%') {
        let Some(f) = lf(name, Phase::Request, loc, kw, sink) else {
            return;
        };
        match f.as_literal() {
            Some(l) => (l.to_string(), None),
            None => (name.to_string(), Some(f)),
        }
    } else {
        let Some(name) = plain(name, loc, kw, sink) else {
            return;
        };
        (name, None)
    };
    if let Ok(cond) = tail(line, 2, kw, rules, sink) {
        rules.use_backends.push(RuleDraft {
            action,
            cond,
            location: loc.clone(),
            keyword: kw.to_string(),
        });
    }
}

/// `use-server NAME if|unless COND` (the condition is required, as HAProxy requires it).
pub fn use_server(line: &Line, rules: &mut RulesDraft, sink: &mut Sink) {
    let loc = &line.location;
    let kw = "use-server";
    let Some(name) = arg(line, 1) else {
        sink.error(loc, kw, "expects a server name.");
        return;
    };
    if !matches!(line.word(2), "if" | "unless") {
        sink.error(
            loc,
            kw,
            "requires either 'if' or 'unless' followed by a condition.",
        );
        return;
    }
    let Some(name) = plain(name, loc, kw, sink) else {
        return;
    };
    if let Ok(cond) = tail(line, 2, kw, rules, sink) {
        rules.use_servers.push(RuleDraft {
            action: UseServer { name, index: 0 },
            cond,
            location: loc.clone(),
            keyword: kw.to_string(),
        });
    }
}

// ---------- redirect / http-request ----------

/// `redirect location|prefix|scheme TARGET [code N] [drop-query] [append-slash]` from `line.words[start..]`;
/// returns it and the index of what follows.
fn redirect(line: &Line, start: usize, kw: &str, sink: &mut Sink) -> Option<(Redirect, usize)> {
    redirect_in(line, start, Phase::Request, kw, sink)
}

/// `redirect ...` in the rules of `phase`: `http-response redirect` only takes `location`, which may read the
/// response.
fn redirect_in(
    line: &Line,
    start: usize,
    phase: Phase,
    kw: &str,
    sink: &mut Sink,
) -> Option<(Redirect, usize)> {
    let loc = &line.location;
    let mut target = None;
    let mut code = 302;
    let (mut drop_query, mut append_slash, mut ignore_empty) = (false, false, false);
    let mut i = start;
    while let Some(w) = line.words.get(i).map(String::as_str) {
        match w {
            "location" | "prefix" | "scheme" => {
                let Some(v) = arg(line, i + 1) else {
                    sink.error(loc, kw, format!("'{w}' expects an argument"));
                    return None;
                };
                if phase == Phase::Response && w != "location" {
                    sink.error(loc, kw, "response only supports redirect type 'location'");
                    return None;
                }
                let v = lf(v, phase, loc, kw, sink)?;
                target = Some(match w {
                    "location" => RedirectTarget::Location(v),
                    "prefix" => RedirectTarget::Prefix(v),
                    _ => RedirectTarget::Scheme(v),
                });
                i += 2;
            }
            "code" => {
                let Some(v) = arg(line, i + 1) else {
                    sink.error(loc, kw, "'code' expects an argument");
                    return None;
                };
                match v.parse::<u16>() {
                    Ok(c @ (301 | 302 | 303 | 307 | 308)) => code = c,
                    _ => {
                        sink.error(
                            loc,
                            kw,
                            format!("'code': unsupported HTTP code '{v}' (must be one of 301, 302, 303, 307 or 308)"),
                        );
                        return None;
                    }
                }
                i += 2;
            }
            "drop-query" => {
                drop_query = true;
                i += 1;
            }
            "append-slash" => {
                append_slash = true;
                i += 1;
            }
            "ignore-empty" => {
                ignore_empty = true;
                i += 1;
            }
            "set-cookie" | "clear-cookie" => {
                sink.error(loc, kw, ns(format!("redirect option '{w}'")));
                return None;
            }
            "if" | "unless" => break,
            other => {
                sink.error(
                    loc,
                    kw,
                    format!("expects 'location', 'prefix', 'scheme', 'code', 'drop-query', 'append-slash' or 'ignore-empty', found '{other}'"),
                );
                return None;
            }
        }
    }
    let Some(target) = target else {
        sink.error(
            loc,
            kw,
            "expects a redirection type: 'location', 'prefix' or 'scheme'",
        );
        return None;
    };
    Some((
        Redirect {
            target,
            code,
            drop_query,
            append_slash,
            ignore_empty,
        },
        i,
    ))
}

/// Old-style `redirect ... [if|unless COND]`: the same as `http-request redirect`.
pub fn redirect_line(line: &Line, rules: &mut RulesDraft, sink: &mut Sink) {
    let kw = "redirect";
    let Some((r, i)) = redirect(line, 1, kw, sink) else {
        return;
    };
    if let Ok(cond) = tail(line, i, kw, rules, sink) {
        rules.http_request.push(RuleDraft {
            action: HttpRequestAction::Redirect(r),
            cond,
            location: line.location.clone(),
            keyword: kw.to_string(),
        });
    }
}

/// `deny` / `tarpit` options from `line.words[start..]`: the status and the index of what follows.
fn deny_opts(
    line: &Line,
    start: usize,
    default: u16,
    kw: &str,
    sink: &mut Sink,
) -> Option<(u16, usize)> {
    let loc = &line.location;
    let mut status = default;
    let mut i = start;
    while let Some(w) = line.words.get(i).map(String::as_str) {
        match w {
            "deny_status" | "status" => {
                let Some(v) = arg(line, i + 1) else {
                    sink.error(loc, kw, format!("'{w}' expects a status code"));
                    return None;
                };
                match v.parse::<u16>() {
                    Ok(c) if ERROR_CODES.contains(&c) => status = c,
                    _ => {
                        sink.error(
                            loc,
                            kw,
                            format!("'{w}': status code '{v}' is not one HAProxy has an error page for (expected one of {})", codes_list()),
                        );
                        return None;
                    }
                }
                i += 2;
            }
            "content-type" | "string" | "file" | "lf-string" | "lf-file" | "errorfile"
            | "errorfiles" | "default-errorfiles" | "hdr" => {
                sink.error(loc, kw, ns(format!("option '{w}' of '{kw}'")));
                return None;
            }
            _ => break,
        }
    }
    Some((status, i))
}

/// Which body option of a reply was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKw {
    DefaultErrorfiles,
    Errorfile,
    Errorfiles,
    File,
    LfFile,
    Text,
    LfText,
}

/// Reports `w` when a reply body was already given (only one of the body options may be); true if it was.
fn second_body(
    body: &Option<(BodyKw, &str, String)>,
    w: &str,
    loc: &Location,
    kw: &str,
    sink: &mut Sink,
) -> bool {
    let Some((_, prev, _)) = body else {
        return false;
    };
    sink.error(
        loc,
        kw,
        format!("unexpected '{w}': '{prev}' was already given"),
    );
    true
}

/// The reply options shared by `return`, `deny` and `http-error` (`line.words[start..]`, up to `if`/`unless` or
/// the end): `[status N] [content-type T] [default-errorfiles | errorfile F | errorfiles NAME | file F | lf-file F
/// | string S | lf-string S] [hdr NAME VALUE]*`. `status_kws` names the words that set the status (`status`,
/// `deny_status`), none for `http-error` (whose status comes first). Returns the status if given, the reply, whether
/// any option other than the status was given, and the index of what follows.
fn reply_opts(
    line: &Line,
    start: usize,
    status_kws: &[&str],
    kw: &str,
    sink: &mut Sink,
) -> Option<(Option<u16>, Reply, bool, usize)> {
    reply_opts_in(line, start, status_kws, Phase::Request, kw, sink)
}

/// [`reply_opts`] for a rule of `phase` (`http-response return` renders against the response).
fn reply_opts_in(
    line: &Line,
    start: usize,
    status_kws: &[&str],
    phase: Phase,
    kw: &str,
    sink: &mut Sink,
) -> Option<(Option<u16>, Reply, bool, usize)> {
    // An `http-error` reply's log-format strings are evaluated against the request when a rule answers with the
    // proxy's error (`deny`, `return ... default-errorfiles`); errors met without a request at hand (a bad request,
    // no server) write their literal parts only.
    let fmt = |v: &str, sink: &mut Sink| -> Option<Fmt> { lf(v, phase, loc_of(line), kw, sink) };
    let loc = &line.location;
    let mut status = None;
    let mut content_type: Option<String> = None;
    let mut headers = Vec::new();
    let mut body: Option<(BodyKw, &str, String)> = None;
    let mut i = start;
    while let Some(w) = line.words.get(i).map(String::as_str) {
        if w == "if" || w == "unless" {
            break;
        }
        if w == "default-errorfiles" {
            if second_body(&body, w, loc, kw, sink) {
                return None;
            }
            body = Some((BodyKw::DefaultErrorfiles, w, String::new()));
            i += 1;
            continue;
        }
        if !KNOWN_REPLY_OPTS.contains(&w) && !status_kws.contains(&w) {
            reply_unexpected(w, status_kws, loc, kw, sink);
            return None;
        }
        let Some(v) = arg(line, i + 1) else {
            let what = match w {
                _ if status_kws.contains(&w) => "a status code",
                "content-type" => "a media type",
                "hdr" => "a header name and a value",
                "string" | "lf-string" => "a text",
                "errorfiles" => "the name of an http-errors section",
                _ => "a file name",
            };
            sink.error(loc, kw, format!("'{w}' expects {what}"));
            return None;
        };
        match w {
            _ if status_kws.contains(&w) => {
                match v.parse::<u16>() {
                    Ok(c) if (200..=599).contains(&c) => status = Some(c),
                    _ => {
                        sink.error(
                            loc,
                            kw,
                            format!("'{w}': unexpected status code '{v}' (expected 200 to 599)"),
                        );
                        return None;
                    }
                }
                i += 2;
            }
            "content-type" => {
                content_type = Some(v.to_string());
                i += 2;
            }
            "hdr" => {
                let Some(value) = arg(line, i + 2) else {
                    sink.error(loc, kw, "'hdr' expects a header name and a value");
                    return None;
                };
                let value = fmt(value, sink)?;
                headers.push((v.to_string(), value));
                i += 3;
            }
            _ => {
                if second_body(&body, w, loc, kw, sink) {
                    return None;
                }
                let k = match w {
                    "errorfile" => BodyKw::Errorfile,
                    "errorfiles" => BodyKw::Errorfiles,
                    "file" => BodyKw::File,
                    "lf-file" => BodyKw::LfFile,
                    "string" => BodyKw::Text,
                    _ => BodyKw::LfText,
                };
                body = Some((k, w, v.to_string()));
                i += 2;
            }
        }
    }
    let any = body.is_some() || content_type.is_some() || !headers.is_empty();
    let built = |content_type: Option<String>, headers, b: ReturnBody| {
        if b == ReturnBody::Empty {
            // As HAProxy: the content type of an empty reply is ignored.
            return Some(Reply::Built {
                content_type: None,
                headers,
                body: b,
            });
        }
        Some(Reply::Built {
            content_type,
            headers,
            body: b,
        })
    };
    let reply = match body {
        None => built(None, headers, ReturnBody::Empty)?,
        Some((k, _, v)) => match k {
            BodyKw::DefaultErrorfiles | BodyKw::Errorfile | BodyKw::Errorfiles => {
                // HAProxy only warns that these are ignored with an errorfile.
                if let Some(t) = &content_type {
                    sink.warn(Severity::Warning, loc, kw, format!("content-type '{t}' ignored by the http reply when used with an errorfile"));
                }
                if !headers.is_empty() {
                    sink.warn(
                        Severity::Warning,
                        loc,
                        kw,
                        "hdr parameters ignored by the http reply when used with an errorfile",
                    );
                }
                match k {
                    BodyKw::DefaultErrorfiles => Reply::ProxyError,
                    BodyKw::Errorfiles => Reply::Errorfiles(v),
                    _ => Reply::Errorfile(load_errorfile(&v, loc, kw, sink)?),
                }
            }
            BodyKw::Text | BodyKw::LfText => {
                let b = if k == BodyKw::Text {
                    ReturnBody::Text(v)
                } else {
                    text_body(fmt(&v, sink)?)
                };
                if content_type.is_none() {
                    sink.error(loc, kw, "a content type must be defined when non-empty payload is configured ('content-type TYPE')");
                    return None;
                }
                built(content_type, headers, b)?
            }
            BodyKw::File | BodyKw::LfFile => {
                let bytes = match std::fs::read(&v) {
                    Ok(b) => b,
                    Err(e) => {
                        sink.error(loc, kw, format!("cannot read file '{v}': {e}"));
                        return None;
                    }
                };
                let b = if bytes.is_empty() {
                    ReturnBody::Empty
                } else if k == BodyKw::File {
                    ReturnBody::File(bytes)
                } else {
                    let text = String::from_utf8_lossy(&bytes);
                    text_body(fmt(&text, sink)?)
                };
                if b != ReturnBody::Empty && content_type.is_none() {
                    sink.error(loc, kw, "a content type must be defined when non-empty payload is configured ('content-type TYPE')");
                    return None;
                }
                built(content_type, headers, b)?
            }
        },
    };
    if let (Some(s @ (204 | 304)), Reply::Built { body, .. }) = (status, &reply) {
        if *body != ReturnBody::Empty {
            sink.error(loc, kw, format!("a {s} response has no body"));
            return None;
        }
    }
    if let (Some(s), Reply::ProxyError | Reply::Errorfiles(_)) = (status, &reply) {
        if !ERROR_CODES.contains(&s) {
            sink.error(
                loc,
                kw,
                format!("status code '{s}' is not one HAProxy has an error page for (expected one of {})", codes_list()),
            );
            return None;
        }
    }
    Some((status, reply, any, i))
}

fn loc_of(line: &Line) -> &Location {
    &line.location
}

/// The body of an `lf-string` / `lf-file`: plain text when it holds no expression.
fn text_body(f: Fmt) -> ReturnBody {
    match f.as_literal() {
        Some(t) => ReturnBody::Text(t.to_string()),
        None => ReturnBody::Format(f),
    }
}

const KNOWN_REPLY_OPTS: &[&str] = &[
    "content-type",
    "default-errorfiles",
    "errorfile",
    "errorfiles",
    "file",
    "lf-file",
    "string",
    "lf-string",
    "hdr",
];

fn reply_unexpected(w: &str, status_kws: &[&str], loc: &Location, kw: &str, sink: &mut Sink) {
    let status = status_kws
        .iter()
        .map(|s| format!("'{s}', "))
        .collect::<String>();
    sink.error(
        loc,
        kw,
        format!("expects {status}'content-type', 'default-errorfiles', 'errorfile', 'errorfiles', 'file', 'lf-file', 'string', 'lf-string', 'hdr', or 'if'/'unless' followed by a condition, found '{w}'"),
    );
}

/// `return [status N] REPLY-OPTIONS` from `line.words[start..]`.
fn return_opts(
    line: &Line,
    start: usize,
    kw: &str,
    sink: &mut Sink,
) -> Option<(HttpRequestAction, usize)> {
    let (status, reply, _, i) = reply_opts(line, start, &["status"], kw, sink)?;
    Some((HttpRequestAction::Return(status.unwrap_or(200), reply), i))
}

/// The action name without its `(ARGS)` part, for messages.
fn base_action(a: &str) -> &str {
    a.split('(').next().unwrap_or(a)
}

/// A header action shared by `http-request` and `http-response`.
enum HeaderAction {
    Set(String, Fmt),
    Add(String, Fmt),
    /// `del-header NAME [-m METHOD]`: `None` for an exact name (`-m str`).
    Del(String, Option<MatchMethod>),
}

/// Parses `set-header NAME VALUE`, `add-header NAME VALUE` or `del-header NAME` (words from 2); returns the
/// action and the index of the first word after it.
fn header_action(
    line: &Line,
    action: &str,
    phase: Phase,
    kw: &str,
    sink: &mut Sink,
) -> Option<(HeaderAction, usize)> {
    let loc = &line.location;
    if action == "del-header" {
        let Some(n) = arg(line, 2) else {
            sink.error(loc, kw, "expects a header name");
            return None;
        };
        if line.word(3) != "-m" {
            return Some((HeaderAction::Del(n.to_string(), None), 3));
        }
        let method = match line.word(4) {
            "str" => None,
            "beg" => Some(MatchMethod::Beg),
            "end" => Some(MatchMethod::End),
            "sub" => Some(MatchMethod::Sub),
            "reg" => {
                if !regex_ok(n, loc, kw, sink) {
                    return None;
                }
                Some(MatchMethod::Reg)
            }
            "" => {
                sink.error(
                    loc,
                    kw,
                    "'-m' expects a matching method: str, beg, end, sub or reg",
                );
                return None;
            }
            other => {
                sink.error(
                    loc,
                    kw,
                    format!("-m with unsupported matching method '{other}' (expected str, beg, end, sub or reg)"),
                );
                return None;
            }
        };
        return Some((HeaderAction::Del(n.to_string(), method), 5));
    }
    let (Some(n), Some(v)) = (arg(line, 2), arg(line, 3)) else {
        sink.error(loc, kw, "expects a header name and a value");
        return None;
    };
    let v = lf(v, phase, loc, kw, sink)?;
    let a = if action == "set-header" {
        HeaderAction::Set(n.to_string(), v)
    } else {
        HeaderAction::Add(n.to_string(), v)
    };
    Some((a, 4))
}

/// `wait-for-body time T [at-least N]` (the words after the action), and where the condition may start.
fn wait_for_body(line: &Line, kw: &str, sink: &mut Sink) -> Option<(WaitForBody, usize)> {
    let loc = &line.location;
    let mut time = None;
    let mut at_least = 0;
    let mut i = 2;
    loop {
        match line.word(i) {
            "time" => match super::units::parse_time(line.word(i + 1)) {
                Ok(t) => time = Some(t),
                Err(e) => {
                    sink.error(loc, kw, format!("'time': {e}"));
                    return None;
                }
            },
            "at-least" => match super::units::parse_size(line.word(i + 1)) {
                Ok(n) => at_least = n,
                Err(e) => {
                    sink.error(loc, kw, format!("'at-least': {e}"));
                    return None;
                }
            },
            "" | "if" | "unless" => break,
            other => {
                sink.error(
                    loc,
                    kw,
                    format!("unexpected '{other}': expects 'time TIME [at-least BYTES]'"),
                );
                return None;
            }
        }
        i += 2;
    }
    let Some(time) = time else {
        sink.error(loc, kw, "expects 'time TIME [at-least BYTES]'");
        return None;
    };
    Some((WaitForBody { time, at_least }, i))
}

/// `strict-mode on|off`.
fn strict_mode(line: &Line, kw: &str, sink: &mut Sink) -> Option<bool> {
    match line.word(2) {
        "on" => Some(true),
        "off" => Some(false),
        _ => {
            sink.error(&line.location, kw, "expects 'on' or 'off'");
            None
        }
    }
}

/// `set-log-level LEVEL|silent`: the syslog level (`None`: silent).
fn log_level(line: &Line, kw: &str, sink: &mut Sink) -> Option<Option<u8>> {
    log_level_at(line, 2, kw, sink)
}

/// [`log_level`] from word `at` of the line.
fn log_level_at(line: &Line, at: usize, kw: &str, sink: &mut Sink) -> Option<Option<u8>> {
    let word = line.word(at);
    if word == "silent" {
        return Some(None);
    }
    match super::log::LEVELS.iter().position(|l| *l == word) {
        Some(i) => Some(Some(i as u8)),
        None => {
            sink.error(
                &line.location,
                kw,
                format!(
                    "expects a log level ({} or silent), got '{word}'",
                    super::log::LEVELS.join(", ")
                ),
            );
            None
        }
    }
}

/// `normalize-uri NORMALIZER [full|strict]`: the normaliser and the index of the word after it.
fn uri_normalizer(line: &Line, kw: &str, sink: &mut Sink) -> Option<(UriNormalizer, usize)> {
    let option = |word: &str| line.word(3) == word;
    let n = match line.word(2) {
        "path-merge-slashes" => UriNormalizer::PathMergeSlashes,
        "path-strip-dot" => UriNormalizer::PathStripDot,
        "path-strip-dotdot" => UriNormalizer::PathStripDotdot {
            full: option("full"),
        },
        "percent-decode-unreserved" => UriNormalizer::PercentDecodeUnreserved {
            strict: option("strict"),
        },
        "percent-to-uppercase" => UriNormalizer::PercentToUppercase {
            strict: option("strict"),
        },
        "query-sort-by-name" => UriNormalizer::QuerySortByName,
        "fragment-strip" => UriNormalizer::FragmentStrip,
        "fragment-encode" => UriNormalizer::FragmentEncode,
        other => {
            let what = if other.is_empty() {
                "expects".to_string()
            } else {
                format!("unknown normalizer '{other}': expected")
            };
            sink.error(
                &line.location,
                kw,
                format!("{what} one of path-merge-slashes, path-strip-dot, path-strip-dotdot [full], percent-decode-unreserved [strict], percent-to-uppercase [strict], query-sort-by-name, fragment-strip, fragment-encode"),
            );
            return None;
        }
    };
    let with_option = matches!(
        n,
        UriNormalizer::PathStripDotdot { full: true }
            | UriNormalizer::PercentDecodeUnreserved { strict: true }
            | UriNormalizer::PercentToUppercase { strict: true }
    );
    Some((n, if with_option { 4 } else { 3 }))
}

/// `http-request ACTION ... [if|unless COND]`
pub fn http_request(line: &Line, rules: &mut RulesDraft, sink: &mut Sink) {
    let loc = &line.location;
    let action = line.word(1);
    let kw = format!("http-request {action}");
    let kw = kw.as_str();
    let (act, next) = match action {
        "" => {
            sink.error(
                loc,
                "http-request",
                "expects an action: set-header, add-header, del-header, replace-header, set-path, set-query, redirect, deny, return or tarpit",
            );
            return;
        }
        "early-hint" => {
            let Some((HeaderAction::Add(n, v), next)) =
                header_action(line, "add-header", Phase::Request, kw, sink)
            else {
                return;
            };
            (HttpRequestAction::EarlyHint(n, v), next)
        }
        "set-header" | "add-header" | "del-header" => {
            let Some((h, next)) = header_action(line, action, Phase::Request, kw, sink) else {
                return;
            };
            let a = match h {
                HeaderAction::Set(n, v) => HttpRequestAction::SetHeader(n, v),
                HeaderAction::Add(n, v) => HttpRequestAction::AddHeader(n, v),
                HeaderAction::Del(n, None) => HttpRequestAction::DelHeader(n),
                HeaderAction::Del(n, Some(m)) => HttpRequestAction::DelHeaderMatch(n, m),
            };
            (a, next)
        }
        "replace-header" | "replace-value" => {
            let (Some(n), Some(re), Some(rep)) = (arg(line, 2), arg(line, 3), arg(line, 4)) else {
                sink.error(loc, kw, "expects a header name, a regex and a replacement");
                return;
            };
            if !regex_ok(re, loc, kw, sink) {
                return;
            }
            let Some(rep) = lf(rep, Phase::Request, loc, kw, sink) else {
                return;
            };
            let (n, re) = (n.to_string(), re.to_string());
            let a = if action == "replace-header" {
                HttpRequestAction::ReplaceHeader(n, re, rep)
            } else {
                HttpRequestAction::ReplaceValue(n, re, rep)
            };
            (a, 5)
        }
        "set-path" | "set-query" | "set-uri" | "set-pathq" | "set-method" => {
            let Some(v) = arg(line, 2) else {
                let what = match action {
                    "set-path" => "a path",
                    "set-uri" => "a URI",
                    "set-pathq" => "a path and query string",
                    "set-method" => "a method",
                    _ => "a query string",
                };
                sink.error(loc, kw, format!("expects {what}"));
                return;
            };
            let Some(v) = lf(v, Phase::Request, loc, kw, sink) else {
                return;
            };
            let a = match action {
                "set-path" => HttpRequestAction::SetPath(v),
                "set-uri" => HttpRequestAction::SetUri(v),
                "set-pathq" => HttpRequestAction::SetPathQ(v),
                "set-method" => HttpRequestAction::SetMethod(v),
                _ => HttpRequestAction::SetQuery(v),
            };
            (a, 3)
        }
        "replace-path" | "replace-pathq" | "replace-uri" => {
            let (Some(re), Some(rep)) = (arg(line, 2), arg(line, 3)) else {
                sink.error(loc, kw, "expects a regex and a replacement");
                return;
            };
            if !regex_ok(re, loc, kw, sink) {
                return;
            }
            let Some(rep) = lf(rep, Phase::Request, loc, kw, sink) else {
                return;
            };
            let re = re.to_string();
            let a = match action {
                "replace-path" => HttpRequestAction::ReplacePath(re, rep),
                "replace-pathq" => HttpRequestAction::ReplacePathQ(re, rep),
                _ => HttpRequestAction::ReplaceUri(re, rep),
            };
            (a, 4)
        }
        "set-src" | "set-src-port" | "set-dst" | "set-dst-port" => {
            let part = match action {
                "set-src" => AddrPart::Src,
                "set-src-port" => AddrPart::SrcPort,
                "set-dst" => AddrPart::Dst,
                _ => AddrPart::DstPort,
            };
            let Some(e) = addr_expr(line, kw, sink) else {
                return;
            };
            (HttpRequestAction::SetAddr(part, e), 3)
        }
        "set-timeout" => {
            let Some((t, v)) = set_timeout(line, kw, sink) else {
                return;
            };
            (HttpRequestAction::SetTimeout(t, v), 4)
        }
        "allow" => (HttpRequestAction::Allow, 2),
        "auth" => {
            let (realm, next) = match line.word(2) {
                "realm" => match arg(line, 3) {
                    Some(r) => (Some(r.to_string()), 4),
                    None => {
                        sink.error(loc, kw, "'realm' expects a realm name");
                        return;
                    }
                },
                _ => (None, 2),
            };
            (HttpRequestAction::Auth(realm), next)
        }
        "redirect" => {
            let Some((r, i)) = redirect(line, 2, kw, sink) else {
                return;
            };
            (HttpRequestAction::Redirect(r), i)
        }
        "deny" => {
            let Some((s, reply, any, i)) =
                reply_opts(line, 2, &["deny_status", "status"], kw, sink)
            else {
                return;
            };
            let s = s.unwrap_or(403);
            // As HAProxy: `deny [deny_status N]` alone is `deny status N default-errorfiles`.
            let a = if !any || reply == Reply::ProxyError {
                if !ERROR_CODES.contains(&s) {
                    sink.error(
                        loc,
                        kw,
                        format!("status code '{s}' is not one HAProxy has an error page for (expected one of {})", codes_list()),
                    );
                    return;
                }
                HttpRequestAction::Deny(s)
            } else {
                HttpRequestAction::DenyWith(s, reply)
            };
            (a, i)
        }
        "tarpit" => {
            let Some((s, i)) = deny_opts(line, 2, 500, kw, sink) else {
                return;
            };
            (HttpRequestAction::Tarpit(s), i)
        }
        "reject" => (HttpRequestAction::Reject(false), 2),
        "silent-drop" => (HttpRequestAction::Reject(true), 2),
        "use-service" => match line.word(2) {
            "prometheus-exporter" => (
                HttpRequestAction::UseService(Service::PrometheusExporter),
                3,
            ),
            "" => {
                sink.error(loc, kw, "expects a service name: prometheus-exporter");
                return;
            }
            other => {
                sink.error(
                    loc,
                    kw,
                    format!("unknown service '{other}': fulcrum has 'prometheus-exporter'"),
                );
                return;
            }
        },
        "return" => match return_opts(line, 2, kw, sink) {
            Some(r) => r,
            None => return,
        },
        "wait-for-body" => {
            let Some((w, i)) = wait_for_body(line, kw, sink) else {
                return;
            };
            (HttpRequestAction::WaitForBody(w), i)
        }
        "capture" => {
            let Some((e, slot)) = capture_action(line, false, rules, kw, sink) else {
                return;
            };
            (HttpRequestAction::Capture(e, slot), 5)
        }
        "strict-mode" => {
            let Some(on) = strict_mode(line, kw, sink) else {
                return;
            };
            (HttpRequestAction::StrictMode(on), 3)
        }
        "set-log-level" => {
            let Some(level) = log_level(line, kw, sink) else {
                return;
            };
            (HttpRequestAction::SetLogLevel(level), 3)
        }
        "normalize-uri" => {
            if !rules.experimental {
                sink.error(
                    loc,
                    kw,
                    "is experimental: it needs 'expose-experimental-directives' in the 'global' section before it",
                );
                return;
            }
            let Some((n, next)) = uri_normalizer(line, kw, sink) else {
                return;
            };
            (HttpRequestAction::NormalizeUri(n), next)
        }
        a if super::stick::is_stick_action(a) => {
            let Some((s, next)) = super::stick::stick_action(line, 1, kw, sink) else {
                return;
            };
            (HttpRequestAction::Stick(s), next)
        }
        other if var_action(line, 1, other, Phase::Request, kw, &mut Sink::default()).is_some() => {
            match var_action(line, 1, other, Phase::Request, kw, sink) {
                Some(Ok((VarAction::Set(n, e, c), i))) => (HttpRequestAction::SetVar(n, e, c), i),
                Some(Ok((VarAction::SetFmt(n, f, c), i))) => {
                    (HttpRequestAction::SetVarFmt(n, f, c), i)
                }
                Some(Ok((VarAction::Unset(n), i))) => (HttpRequestAction::UnsetVar(n), i),
                _ => return,
            }
        }
        other => {
            let base = base_action(other);
            if known::listed(known::HTTP_REQUEST_UNSUPPORTED, base) {
                sink.error(
                    loc,
                    &format!("http-request {base}"),
                    ns(format!("http-request action '{base}'")),
                );
            } else {
                sink.error(
                    loc,
                    "http-request",
                    format!("unknown http-request action '{other}'"),
                );
            }
            return;
        }
    };
    if let Ok(cond) = tail(line, next, kw, rules, sink) {
        rules.http_request.push(RuleDraft {
            action: act,
            cond,
            location: loc.clone(),
            keyword: kw.to_string(),
        });
    }
}

/// `stats admin if|unless COND` (the words from `stats`).
pub fn stats_admin(line: &Line, rules: &mut RulesDraft, sink: &mut Sink) {
    let kw = "stats admin";
    if !matches!(line.word(2), "if" | "unless") {
        sink.error(
            &line.location,
            kw,
            "expects 'if' or 'unless' followed by a condition (such as 'stats admin if TRUE')",
        );
        return;
    }
    if let Ok(cond) = tail(line, 2, kw, rules, sink) {
        rules.stats_admin.push(RuleDraft {
            action: (),
            cond,
            location: line.location.clone(),
            keyword: kw.to_string(),
        });
    }
}

/// `stats http-request allow|deny|auth [realm REALM] [if|unless COND]` (the words from `stats`): who may see
/// the stats page. The first rule whose condition holds decides.
pub fn stats_http_request(line: &Line, rules: &mut RulesDraft, sink: &mut Sink) {
    let kw = "stats http-request";
    let (action, next) = match line.word(2) {
        "allow" => (StatsHttpAction::Allow, 3),
        "deny" => (StatsHttpAction::Deny, 3),
        "auth" if line.word(3) == "realm" => {
            let realm = line.word(4);
            if realm.is_empty() {
                sink.error(&line.location, kw, "'realm' expects a realm name");
                return;
            }
            (StatsHttpAction::Auth(Some(realm.to_string())), 5)
        }
        "auth" => (StatsHttpAction::Auth(None), 3),
        other => {
            sink.error(
                &line.location,
                kw,
                format!("expects 'allow', 'deny' or 'auth', got '{other}'"),
            );
            return;
        }
    };
    if let Ok(cond) = tail(line, next, kw, rules, sink) {
        rules.stats_http_request.push(RuleDraft {
            action,
            cond,
            location: line.location.clone(),
            keyword: kw.to_string(),
        });
    }
}

/// `monitor fail if|unless COND`
pub fn monitor(line: &Line, rules: &mut RulesDraft, sink: &mut Sink) {
    if line.word(1) != "fail" {
        sink.error(&line.location, "monitor", "'monitor' only supports 'fail'.");
        return;
    }
    let kw = "monitor fail";
    if !matches!(line.word(2), "if" | "unless") {
        sink.error(
            &line.location,
            kw,
            "requires either 'if' or 'unless' followed by a condition.",
        );
        return;
    }
    if let Ok(cond) = tail(line, 2, kw, rules, sink) {
        rules.monitor_fail.push(RuleDraft {
            action: (),
            cond,
            location: line.location.clone(),
            keyword: kw.to_string(),
        });
    }
}

/// `http-response set-header|add-header|del-header|deny ... [if|unless COND]`
pub fn http_response(line: &Line, rules: &mut RulesDraft, sink: &mut Sink) {
    response_rule(line, false, rules, sink);
}

/// `http-after-response ACTION ... [if|unless COND]`: the rules run on every response sent to the client,
/// those the proxy makes up included.
pub fn http_after_response(line: &Line, rules: &mut RulesDraft, sink: &mut Sink) {
    response_rule(line, true, rules, sink);
}

/// An `http-response` line, or an `http-after-response` one (`after`), which takes neither `deny` nor
/// `wait-for-body` but takes `allow`.
fn response_rule(line: &Line, after: bool, rules: &mut RulesDraft, sink: &mut Sink) {
    let loc = &line.location;
    let action = line.word(1);
    let which = if after {
        "http-after-response"
    } else {
        "http-response"
    };
    let kw = format!("{which} {action}");
    let kw = kw.as_str();
    let (act, next) = match action {
        "" => {
            let expected = if after {
                "allow, add-header, del-header, replace-header, replace-value, set-header, set-status, set-var, set-var-fmt, strict-mode or unset-var"
            } else {
                "set-header, add-header, del-header or deny"
            };
            sink.error(loc, which, format!("expects an action: {expected}"));
            return;
        }
        "set-header" | "add-header" | "del-header" => {
            let Some((h, next)) = header_action(line, action, Phase::Response, kw, sink) else {
                return;
            };
            let a = match h {
                HeaderAction::Set(n, v) => HttpResponseAction::SetHeader(n, v),
                HeaderAction::Add(n, v) => HttpResponseAction::AddHeader(n, v),
                HeaderAction::Del(n, None) => HttpResponseAction::DelHeader(n),
                HeaderAction::Del(n, Some(m)) => HttpResponseAction::DelHeaderMatch(n, m),
            };
            (a, next)
        }
        "replace-header" | "replace-value" => {
            let (Some(n), Some(re), Some(rep)) = (arg(line, 2), arg(line, 3), arg(line, 4)) else {
                sink.error(loc, kw, "expects a header name, a regex and a replacement");
                return;
            };
            if !regex_ok(re, loc, kw, sink) {
                return;
            }
            let Some(rep) = lf(rep, Phase::Response, loc, kw, sink) else {
                return;
            };
            let (n, re) = (n.to_string(), re.to_string());
            let a = if action == "replace-header" {
                HttpResponseAction::ReplaceHeader(n, re, rep)
            } else {
                HttpResponseAction::ReplaceValue(n, re, rep)
            };
            (a, 5)
        }
        "set-status" => {
            let Some(code) = arg(line, 2)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (100..=999).contains(c))
            else {
                sink.error(
                    loc,
                    kw,
                    "expects an integer status code between 100 and 999",
                );
                return;
            };
            if line.word(3) == "reason" {
                let Some(reason) = arg(line, 4) else {
                    sink.error(loc, kw, "'reason' expects a text");
                    return;
                };
                if reason.bytes().any(|c| c == b'\r' || c == b'\n') {
                    sink.error(loc, kw, "the reason cannot hold a line break");
                    return;
                }
                (
                    HttpResponseAction::SetStatus(code, Some(reason.to_string())),
                    5,
                )
            } else {
                (HttpResponseAction::SetStatus(code, None), 3)
            }
        }
        "allow" => (HttpResponseAction::Allow, 2),
        "redirect" if !after => {
            let Some((r, i)) = redirect_in(line, 2, Phase::Response, kw, sink) else {
                return;
            };
            (HttpResponseAction::Redirect(r), i)
        }
        "deny" if !after => {
            let Some((s, i)) = deny_opts(line, 2, 502, kw, sink) else {
                return;
            };
            (HttpResponseAction::Deny(s), i)
        }
        "wait-for-body" if !after => {
            let Some((w, i)) = wait_for_body(line, kw, sink) else {
                return;
            };
            (HttpResponseAction::WaitForBody(w), i)
        }
        "strict-mode" => {
            let Some(on) = strict_mode(line, kw, sink) else {
                return;
            };
            (HttpResponseAction::StrictMode(on), 3)
        }
        "set-log-level" if !after => {
            let Some(level) = log_level(line, kw, sink) else {
                return;
            };
            (HttpResponseAction::SetLogLevel(level), 3)
        }
        "return" if !after => {
            let Some((status, reply, _, i)) =
                reply_opts_in(line, 2, &["status"], Phase::Response, kw, sink)
            else {
                return;
            };
            (HttpResponseAction::Return(status.unwrap_or(200), reply), i)
        }
        "capture" => {
            let Some((e, slot)) = capture_action(line, true, rules, kw, sink) else {
                return;
            };
            (HttpResponseAction::Capture(e, slot), 5)
        }
        other
            if var_action(line, 1, other, Phase::Response, kw, &mut Sink::default()).is_some() =>
        {
            match var_action(line, 1, other, Phase::Response, kw, sink) {
                Some(Ok((VarAction::Set(n, e, c), i))) => (HttpResponseAction::SetVar(n, e, c), i),
                Some(Ok((VarAction::SetFmt(n, f, c), i))) => {
                    (HttpResponseAction::SetVarFmt(n, f, c), i)
                }
                Some(Ok((VarAction::Unset(n), i))) => (HttpResponseAction::UnsetVar(n), i),
                _ => return,
            }
        }
        other => {
            let base = base_action(other);
            let unsupported = if after {
                known::HTTP_AFTER_RESPONSE_UNSUPPORTED
            } else {
                known::HTTP_RESPONSE_UNSUPPORTED
            };
            if known::listed(unsupported, base) {
                sink.error(
                    loc,
                    &format!("{which} {base}"),
                    ns(format!("{which} action '{base}'")),
                );
            } else {
                sink.error(loc, which, format!("unknown {which} action '{other}'"));
            }
            return;
        }
    };
    if let Ok(cond) = tail(line, next, kw, rules, sink) {
        let draft = RuleDraft {
            action: act,
            cond,
            location: loc.clone(),
            keyword: kw.to_string(),
        };
        if after {
            rules.http_after_response.push(draft);
        } else {
            rules.http_response.push(draft);
        }
    }
}

/// Whether `action` is `set-var(...)`, `set-var-fmt(...)` or `unset-var(...)`.
fn is_var_action(action: &str) -> bool {
    action
        .split_once('(')
        .is_some_and(|(b, _)| matches!(b, "set-var" | "set-var-fmt" | "unset-var"))
}

/// `tcp-request connection|session|content ACTION [if|unless COND]` and `tcp-request inspect-delay TIME`
/// (`connection` and `session` not in backends, as HAProxy); the actions fulcrum lacks are refused.
pub fn tcp_request(kind: SectionKind, line: &Line, rules: &mut RulesDraft, sink: &mut Sink) {
    let loc = &line.location;
    let which = line.word(1);
    match which {
        "connection" | "session" if kind == SectionKind::Backend => {
            sink.error(
                loc,
                &format!("tcp-request {which}"),
                format!("'tcp-request {which}' is not allowed in a 'backend' section (allowed in: frontend, listen)"),
            );
        }
        "connection" => {
            let kw = "tcp-request connection";
            let (act, cond_at) = if super::stick::is_stick_action(line.word(2)) {
                let Some((s, next)) = super::stick::stick_action(line, 2, kw, sink) else {
                    return;
                };
                (TcpConnAction::Stick(s), next)
            } else if line.word(2) == "expect-proxy" {
                if line.word(3) != "layer4" {
                    sink.error(
                        loc,
                        "tcp-request connection expect-proxy",
                        "'expect-proxy' expects 'layer4'",
                    );
                    return;
                }
                (TcpConnAction::ExpectProxy, 4)
            } else {
                let Some(accept) =
                    accept_or_reject(line, loc, kw, known::TCP_CONNECTION_UNSUPPORTED, sink)
                else {
                    return;
                };
                let act = if accept {
                    TcpConnAction::Accept
                } else {
                    TcpConnAction::Reject
                };
                (act, 3)
            };
            if let Ok(cond) = tail(line, cond_at, kw, rules, sink) {
                rules.tcp_connection.push(RuleDraft {
                    action: act,
                    cond,
                    location: loc.clone(),
                    keyword: kw.to_string(),
                });
            }
        }
        "inspect-delay" => {
            let kw = "tcp-request inspect-delay";
            if line.words.len() > 3 {
                sink.error(
                    loc,
                    kw,
                    format!(
                        "expects exactly one time argument, found '{}' after it",
                        line.word(3)
                    ),
                );
                return;
            }
            if line.word(2).is_empty() {
                sink.error(
                    loc,
                    kw,
                    "expects a time (e.g. 'tcp-request inspect-delay 5s')",
                );
                return;
            }
            if let Some(d) = sink.time(loc, kw, Some(line.word(2))) {
                rules.inspect_delay = Some((d, loc.clone()));
            }
        }
        "content" | "session" if super::stick::is_stick_action(line.word(2)) => {
            let kw = format!("tcp-request {which}");
            let Some((s, next)) = super::stick::stick_action(line, 2, &kw, sink) else {
                return;
            };
            if let Ok(cond) = tail(line, next, &kw, rules, sink) {
                let keyword = format!("{kw} {}", line.word(2));
                let location = loc.clone();
                let list = if which == "session" {
                    &mut rules.tcp_session
                } else {
                    &mut rules.tcp_content
                };
                list.push(RuleDraft {
                    action: TcpContentAction::Var(HttpRequestAction::Stick(s)),
                    cond,
                    location,
                    keyword,
                });
            }
        }
        "content" if line.word(2) == "switch-mode" => {
            let kw = "tcp-request content switch-mode";
            if kind == SectionKind::Backend {
                sink.error(
                    loc,
                    kw,
                    "'tcp-request content switch-mode' is not allowed in a 'backend' section (allowed in: frontend, listen)",
                );
                return;
            }
            if line.word(3) != "http" {
                sink.error(
                    loc,
                    kw,
                    format!(
                        "'switch-mode' expects a valid mode (got '{}'); only 'http' is",
                        line.word(3)
                    ),
                );
                return;
            }
            let (proto, cond_at) = match line.word(4) {
                "proto" => match line.word(5) {
                    "h1" => (Some(BindProto::H1), 6),
                    "h2" => (Some(BindProto::H2), 6),
                    other => {
                        sink.error(
                            loc,
                            kw,
                            format!("'proto' expects 'h1' or 'h2' (got '{other}')"),
                        );
                        return;
                    }
                },
                _ => (None, 4),
            };
            if let Ok(cond) = tail(line, cond_at, kw, rules, sink) {
                rules.tcp_content.push(RuleDraft {
                    action: TcpContentAction::SwitchHttp(proto),
                    cond,
                    location: loc.clone(),
                    keyword: kw.to_string(),
                });
            }
        }
        "content" | "session" if is_var_action(line.word(2)) => {
            let kw = format!("tcp-request {which}");
            let Some(Ok((v, next))) = var_action(line, 2, line.word(2), Phase::Request, &kw, sink)
            else {
                return;
            };
            let action = match v {
                VarAction::Set(n, e, c) => HttpRequestAction::SetVar(n, e, c),
                VarAction::SetFmt(n, f, c) => HttpRequestAction::SetVarFmt(n, f, c),
                VarAction::Unset(n) => HttpRequestAction::UnsetVar(n),
            };
            if let Ok(cond) = tail(line, next, &kw, rules, sink) {
                let keyword = format!("{kw} {}", line.word(2).split('(').next().unwrap_or(""));
                let list = if which == "session" {
                    &mut rules.tcp_session
                } else {
                    &mut rules.tcp_content
                };
                list.push(RuleDraft {
                    action: TcpContentAction::Var(action),
                    cond,
                    location: loc.clone(),
                    keyword,
                });
            }
        }
        "content" | "session" => {
            let kw = format!("tcp-request {which}");
            let unsupported = if which == "session" {
                known::TCP_SESSION_UNSUPPORTED
            } else {
                known::TCP_CONTENT_UNSUPPORTED
            };
            let act = if line.word(2) == "silent-drop" {
                TcpContentAction::SilentDrop
            } else if line.word(2) == "set-log-level" && which == "content" {
                let Some(level) = log_level_at(line, 3, &kw, sink) else {
                    return;
                };
                TcpContentAction::SetLogLevel(level)
            } else if matches!(line.word(2), "set-mark" | "set-tos") {
                let Some(n) = mark_or_tos(line, &kw, sink) else {
                    return;
                };
                if line.word(2) == "set-mark" {
                    TcpContentAction::SetMark(n)
                } else {
                    TcpContentAction::SetTos(n)
                }
            } else {
                let Some(accept) = accept_or_reject(line, loc, &kw, unsupported, sink) else {
                    return;
                };
                if accept {
                    TcpContentAction::Accept
                } else {
                    TcpContentAction::Reject
                }
            };
            let cond_at = match act {
                TcpContentAction::SetMark(_)
                | TcpContentAction::SetTos(_)
                | TcpContentAction::SetLogLevel(_) => 4,
                _ => 3,
            };
            if let Ok(cond) = tail(line, cond_at, &kw, rules, sink) {
                let list = if which == "session" {
                    &mut rules.tcp_session
                } else {
                    &mut rules.tcp_content
                };
                list.push(RuleDraft {
                    action: act,
                    cond,
                    location: loc.clone(),
                    keyword: kw,
                });
            }
        }
        other => sink.error(
            loc,
            "tcp-request",
            format!(
                "expects 'connection', 'content', 'inspect-delay' or 'session', found '{other}'"
            ),
        ),
    }
}

/// The value of `set-mark N` / `set-tos N` (word 3): decimal or `0x` hexadecimal, as HAProxy reads it.
fn mark_or_tos(line: &Line, kw: &str, sink: &mut Sink) -> Option<u32> {
    let kw = format!("{kw} {}", line.word(2));
    let w = line.word(3);
    if w.is_empty() || matches!(line.word(4), w4 if !w4.is_empty() && w4 != "if" && w4 != "unless")
    {
        sink.error(
            &line.location,
            &kw,
            "expects exactly 1 argument (integer/hex value)",
        );
        return None;
    }
    let n = match w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => w.parse::<u32>().ok(),
    };
    if n.is_none() {
        sink.error(
            &line.location,
            &kw,
            format!("invalid character starting at '{w}' (integer/hex value expected)"),
        );
    }
    n
}

/// Most capture slots of one direction per proxy (HAProxy's own limit is far above any real use; this one keeps a
/// hostile configuration from asking for unbounded work per request).
pub const MAX_CAPTURE_SLOTS: usize = 64;

/// Declares one more capture slot of `len` bytes (`header`: filled from that header); its index, `None` when
/// there are too many (reported).
pub fn declare_slot(
    rules: &mut RulesDraft,
    response: bool,
    len: usize,
    header: Option<String>,
    loc: &Location,
    kw: &str,
    sink: &mut Sink,
) -> Option<usize> {
    let list = if response {
        &mut rules.response_slots
    } else {
        &mut rules.request_slots
    };
    if list.len() >= MAX_CAPTURE_SLOTS {
        let dir = if response { "response" } else { "request" };
        sink.error(
            loc,
            kw,
            format!("too many {dir} captures (at most {MAX_CAPTURE_SLOTS})"),
        );
        return None;
    }
    list.push(CaptureSlot { len, header });
    Some(list.len() - 1)
}

/// `http-request capture EXPR len N|id N`, `http-response capture EXPR id N` (`response`): the expression and the
/// slot, a new one for `len`.
fn capture_action(
    line: &Line,
    response: bool,
    rules: &mut RulesDraft,
    kw: &str,
    sink: &mut Sink,
) -> Option<(SampleExpr, usize)> {
    let loc = &line.location;
    let phase = if response {
        Phase::Response
    } else {
        Phase::Request
    };
    let forms = if response {
        "'id N'"
    } else {
        "'len N' or 'id N'"
    };
    let (Some(v), Some(how), Some(n)) = (arg(line, 2), arg(line, 3), arg(line, 4)) else {
        sink.error(
            loc,
            kw,
            format!("expects a sample expression followed by {forms}"),
        );
        return None;
    };
    let maps = sink.maps.clone();
    let mut load = MapLoad {
        maps: &maps,
        location: loc,
    };
    let e = match fulcrum_sample::Expr::parse_with(v, &mut load) {
        Ok(e) => e,
        Err(e) => {
            sink.error(loc, kw, format!("'{v}': {e}"));
            return None;
        }
    };
    if !expr_fits(&e, phase, loc, kw, sink) {
        return None;
    }
    let Ok(n) = n.parse::<usize>() else {
        sink.error(loc, kw, format!("'{how}' expects a number, found '{n}'"));
        return None;
    };
    let slot = match how {
        "len" if !response => declare_slot(rules, false, n, None, loc, kw, sink)?,
        "id" => {
            rules
                .capture_ids
                .push((response, n, loc.clone(), kw.to_string()));
            n
        }
        other => {
            sink.error(
                loc,
                kw,
                format!("expects {forms} after the sample expression, found '{other}'"),
            );
            return None;
        }
    };
    Some((SampleExpr(std::sync::Arc::new(e)), slot))
}

/// `tcp-response inspect-delay TIME`, `tcp-response content accept|reject|set-var(...)|set-var-fmt(...)|
/// unset-var(...) [if|unless COND]` (backends and listens, as HAProxy allows).
pub fn tcp_response(kind: SectionKind, line: &Line, rules: &mut RulesDraft, sink: &mut Sink) {
    let loc = &line.location;
    let which = line.word(1);
    match which {
        "content" | "inspect-delay" if kind == SectionKind::Frontend => {
            let kw = format!("tcp-response {which}");
            sink.error(
                loc,
                &kw,
                format!(
                    "'{kw}' is not allowed in a 'frontend' section (allowed in: backend, listen)"
                ),
            );
        }
        "inspect-delay" => {
            let kw = "tcp-response inspect-delay";
            if line.word(2).is_empty() || line.words.len() > 3 {
                sink.error(
                    loc,
                    kw,
                    "expects exactly one time argument (e.g. 'tcp-response inspect-delay 5s')",
                );
                return;
            }
            if let Some(d) = sink.time(loc, kw, Some(line.word(2))) {
                rules.response_inspect_delay = Some((d, loc.clone()));
            }
        }
        "content" if is_var_action(line.word(2)) => {
            let kw = "tcp-response content";
            // Which fetches the expression may use depends on the proxy's mode, known once the section is read:
            // those of `mode tcp` (the server's bytes), else those of an HTTP response, refused later in
            // `mode tcp` with what they would have been refused for.
            let mut tcp = Sink {
                maps: sink.maps.clone(),
                ..Sink::default()
            };
            let parsed = var_action(line, 2, line.word(2), Phase::TcpResponse, kw, &mut tcp);
            let parsed = match parsed {
                Some(Ok(p)) if tcp.diags.is_empty() => Some(Ok(p)),
                _ => {
                    let before = sink.diags.len();
                    let p = var_action(line, 2, line.word(2), Phase::Response, kw, sink);
                    if sink.diags.len() == before {
                        rules.tcp_response_http_only.extend(tcp.diags);
                    }
                    p
                }
            };
            let Some(Ok((v, next))) = parsed else {
                return;
            };
            let action = match v {
                VarAction::Set(n, e, c) => HttpRequestAction::SetVar(n, e, c),
                VarAction::SetFmt(n, f, c) => HttpRequestAction::SetVarFmt(n, f, c),
                VarAction::Unset(n) => HttpRequestAction::UnsetVar(n),
            };
            if let Ok(cond) = tail(line, next, kw, rules, sink) {
                rules.tcp_response.push(RuleDraft {
                    action: TcpContentAction::Var(action),
                    cond,
                    location: loc.clone(),
                    keyword: format!("{kw} {}", line.word(2).split('(').next().unwrap_or("")),
                });
            }
        }
        "content" => {
            let kw = "tcp-response content";
            let (act, cond_at) = if line.word(2) == "set-log-level" {
                let Some(level) = log_level_at(line, 3, kw, sink) else {
                    return;
                };
                (TcpContentAction::SetLogLevel(level), 4)
            } else {
                let Some(accept) =
                    accept_or_reject(line, loc, kw, known::TCP_RESPONSE_UNSUPPORTED, sink)
                else {
                    return;
                };
                let act = if accept {
                    TcpContentAction::Accept
                } else {
                    TcpContentAction::Reject
                };
                (act, 3)
            };
            if let Ok(cond) = tail(line, cond_at, kw, rules, sink) {
                rules.tcp_response.push(RuleDraft {
                    action: act,
                    cond,
                    location: loc.clone(),
                    keyword: kw.to_string(),
                });
            }
        }
        other => sink.error(
            loc,
            "tcp-response",
            format!("expects 'content' or 'inspect-delay', found '{other}'"),
        ),
    }
}

/// `stick on|match|store-request EXPR [table T] [if|unless COND]`.
pub fn stick_rule(line: &Line, rules: &mut RulesDraft, sink: &mut Sink) {
    let kw = format!("stick {}", line.word(1));
    let Some((rule, next)) = super::stick::stick_rule(line, &kw, sink) else {
        return;
    };
    if let Ok(cond) = tail(line, next, &kw, rules, sink) {
        rules.stick.push(RuleDraft {
            action: rule,
            cond,
            location: line.location.clone(),
            keyword: kw,
        });
    }
}

/// `force-persist if|unless COND`, `ignore-persist if|unless COND`: the condition is required.
pub fn persist_rule(line: &Line, rules: &mut RulesDraft, sink: &mut Sink) {
    let kw = line.word(0).to_string();
    let action = if kw == "force-persist" {
        PersistRule::Force
    } else {
        PersistRule::Ignore
    };
    match tail(line, 1, &kw, rules, sink) {
        Ok(Some(cond)) => rules.persist.push(RuleDraft {
            action,
            cond: Some(cond),
            location: line.location.clone(),
            keyword: kw,
        }),
        Ok(None) => sink.error(
            &line.location,
            &kw,
            "expects 'if' or 'unless' followed by a condition",
        ),
        Err(()) => {}
    }
}

// ---------- errorfile ----------

/// One line that sets a proxy's error replies (`errorfile`, `errorfiles`, `http-error`), kept in order until every
/// `http-errors` section is known.
#[derive(Debug, Clone)]
pub enum ErrorEntry {
    /// `errorfile CODE FILE`, `http-error status CODE ...`
    Set(u16, Reply),
    /// `http-error status CODE default-errorfiles`: back to the error the proxy would have without any.
    Reset(u16),
    /// `http-error status CODE errorfiles NAME`: the section's page for CODE, else the proxy's error.
    FromSection {
        /// the status
        code: u16,
        /// the `http-errors` section
        name: String,
        /// where the line is
        location: Location,
    },
    /// `errorfiles NAME [CODE ...]`: the section's pages (all of them when no code is given).
    Import {
        /// the `http-errors` section
        name: String,
        /// the codes to import
        codes: Vec<u16>,
        /// where the line is
        location: Location,
    },
}

/// The `http-errors` sections by name: where each was declared and its pages.
pub type HttpErrorsSections = HashMap<String, (Location, Vec<(u16, Vec<u8>)>)>;

/// A status code that `errorfile`, `errorfiles` and `http-error` handle.
fn error_code(code: &str, loc: &Location, kw: &str, sink: &mut Sink) -> Option<u16> {
    match code.parse::<u16>() {
        Ok(c) if ERROR_CODES.contains(&c) => Some(c),
        _ => {
            sink.error(
                loc,
                kw,
                format!(
                    "status code '{code}' is not handled (expected one of {})",
                    codes_list()
                ),
            );
            None
        }
    }
}

/// Reads an errorfile and checks that it is a complete HTTP response (or empty).
fn load_errorfile(file: &str, loc: &Location, kw: &str, sink: &mut Sink) -> Option<Vec<u8>> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            sink.error(loc, kw, format!("cannot read '{file}': {e}"));
            return None;
        }
    };
    if let Err(m) = check_http_response(&bytes) {
        sink.error(loc, kw, format!("'{file}': {m}"));
        return None;
    }
    Some(bytes)
}

/// `errorfile CODE FILE` (in a proxy or an `http-errors` section).
pub fn errorfile(line: &Line, entries: &mut Vec<ErrorEntry>, sink: &mut Sink) {
    let loc = &line.location;
    let kw = "errorfile";
    let (Some(code), Some(file)) = (arg(line, 1), arg(line, 2)) else {
        sink.error(loc, kw, "expects 'errorfile CODE FILE'");
        return;
    };
    if !sink.max_args(line, kw, 1, 2) {
        return;
    }
    let Some(code) = error_code(code, loc, kw, sink) else {
        return;
    };
    if let Some(bytes) = load_errorfile(file, loc, kw, sink) {
        entries.push(ErrorEntry::Set(code, Reply::Errorfile(bytes)));
    }
}

/// `errorloc CODE URL`, `errorloc302 CODE URL`, `errorloc303 CODE URL`: the error is answered by a redirect to
/// URL, as haproxy 2.6 writes it (`302 Found` or `303 See Other`, `cache-control: no-cache`, an empty body).
pub fn errorloc(line: &Line, entries: &mut Vec<ErrorEntry>, sink: &mut Sink) {
    let loc = &line.location;
    let kw = line.word(0);
    let (Some(code), Some(url)) = (arg(line, 1), arg(line, 2)) else {
        sink.error(loc, kw, format!("expects '{kw} CODE URL'"));
        return;
    };
    if !sink.max_args(line, kw, 1, 2) {
        return;
    }
    let Some(code) = error_code(code, loc, kw, sink) else {
        return;
    };
    if url.bytes().any(|b| b < 0x20 || b == 0x7f) {
        sink.error(loc, kw, "the URL may not hold control characters");
        return;
    }
    let status = if kw == "errorloc303" {
        "303 See Other"
    } else {
        "302 Found"
    };
    let page = format!(
        "HTTP/1.1 {status}\r\ncache-control: no-cache\r\nlocation: {url}\r\ncontent-length: 0\r\n\r\n"
    );
    entries.push(ErrorEntry::Set(code, Reply::Errorfile(page.into_bytes())));
}

/// `errorfiles NAME [CODE ...]`
pub fn errorfiles(line: &Line, entries: &mut Vec<ErrorEntry>, sink: &mut Sink) {
    let loc = &line.location;
    let kw = "errorfiles";
    let Some(name) = arg(line, 1) else {
        sink.error(loc, kw, "expects 'errorfiles NAME [CODE ...]'");
        return;
    };
    let mut codes = Vec::new();
    for c in &line.words[2..] {
        let Some(c) = error_code(c, loc, kw, sink) else {
            return;
        };
        codes.push(c);
    }
    entries.push(ErrorEntry::Import {
        name: name.to_string(),
        codes,
        location: loc.clone(),
    });
}

/// `http-error status CODE REPLY-OPTIONS`
pub fn http_error(line: &Line, entries: &mut Vec<ErrorEntry>, sink: &mut Sink) {
    let loc = &line.location;
    let kw = "http-error";
    let (Some("status"), Some(code)) = (arg(line, 1), arg(line, 2)) else {
        sink.error(loc, kw, "expects 'http-error status CODE [content-type TYPE] [default-errorfiles | errorfile FILE | errorfiles NAME | file FILE | lf-file FILE | string TEXT | lf-string TEXT] [hdr NAME VALUE]*'");
        return;
    };
    let Some(code) = error_code(code, loc, kw, sink) else {
        return;
    };
    let Some((_, reply, _, i)) = reply_opts(line, 3, &[], kw, sink) else {
        return;
    };
    if let Some(w) = line.words.get(i) {
        reply_unexpected(w, &[], loc, kw, sink);
        return;
    }
    entries.push(match reply {
        Reply::ProxyError => ErrorEntry::Reset(code),
        Reply::Errorfiles(name) => ErrorEntry::FromSection {
            code,
            name,
            location: loc.clone(),
        },
        r => ErrorEntry::Set(code, r),
    });
}

/// An `http-errors NAME` section: its `errorfile` lines.
pub fn http_errors_section(
    name: &str,
    location: &Location,
    lines: &[Line],
    sections: &mut HttpErrorsSections,
    sink: &mut Sink,
) {
    if let Some((prev, _)) = sections.get(name) {
        sink.error(
            location,
            "http-errors",
            format!("http-errors section '{name}' already exists (declared at {prev})"),
        );
        return;
    }
    let mut entries = Vec::new();
    for line in lines {
        match line.word(0) {
            "errorfile" => errorfile(line, &mut entries, sink),
            other => sink.error(
                &line.location,
                other,
                format!("unknown keyword '{other}' in 'http-errors' section (expected 'errorfile CODE FILE')"),
            ),
        }
    }
    let mut pages: Vec<(u16, Vec<u8>)> = Vec::new();
    for e in entries {
        if let ErrorEntry::Set(code, Reply::Errorfile(bytes)) = e {
            match pages.iter_mut().find(|(c, _)| *c == code) {
                Some(p) => p.1 = bytes,
                None => pages.push((code, bytes)),
            }
        }
    }
    sections.insert(name.to_string(), (location.clone(), pages));
}

/// The page of `code` in the `http-errors` section `name`; `None` when the section lacks it (the proxy's error
/// is used then, as in HAProxy, which warns). An unknown section is an error.
fn section_page(
    name: &str,
    code: u16,
    sections: &HttpErrorsSections,
    proxy: &str,
    loc: &Location,
    kw: &str,
    sink: &mut Sink,
) -> Option<Vec<u8>> {
    let Some((_, pages)) = sections.get(name) else {
        sink.error(
            loc,
            kw,
            format!("{proxy}: unknown http-errors section '{name}'"),
        );
        return None;
    };
    let page = pages
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, b)| b.clone());
    if page.is_none() {
        sink.warn(
                Severity::Warning,
            loc,
            kw,
            format!("{proxy}: status '{code}' not declared in http-errors section '{name}': the proxy's error is used"),
        );
    }
    page
}

/// Applies a proxy's `errorfile` / `errorfiles` / `http-error` lines in order: the error replies by status.
pub fn resolve_errors(
    entries: Vec<ErrorEntry>,
    sections: &HttpErrorsSections,
    proxy: &str,
    sink: &mut Sink,
) -> Vec<(u16, Reply)> {
    let mut out: Vec<(u16, Reply)> = Vec::new();
    fn set(out: &mut Vec<(u16, Reply)>, code: u16, r: Option<Reply>) {
        let at = out.iter().position(|(c, _)| *c == code);
        match (at, r) {
            (Some(i), Some(r)) => out[i].1 = r,
            (None, Some(r)) => out.push((code, r)),
            (Some(i), None) => {
                out.remove(i);
            }
            (None, None) => {}
        }
    }
    for e in entries {
        match e {
            ErrorEntry::FromSection {
                code,
                name,
                location,
            } => {
                if sections.contains_key(&name) {
                    let page =
                        section_page(&name, code, sections, proxy, &location, "http-error", sink);
                    set(&mut out, code, page.map(Reply::Errorfile));
                } else {
                    sink.error(
                        &location,
                        "http-error",
                        format!("{proxy}: unknown http-errors section '{name}'"),
                    );
                }
            }
            ErrorEntry::Set(code, r) => set(&mut out, code, Some(r)),
            ErrorEntry::Reset(code) => set(&mut out, code, None),
            ErrorEntry::Import {
                name,
                codes,
                location,
            } => {
                let Some((_, pages)) = sections.get(&name) else {
                    sink.error(
                        &location,
                        "errorfiles",
                        format!("{proxy}: unknown http-errors section '{name}'"),
                    );
                    continue;
                };
                if codes.is_empty() {
                    for (c, b) in pages {
                        set(&mut out, *c, Some(Reply::Errorfile(b.clone())));
                    }
                }
                for c in codes {
                    match pages.iter().find(|(pc, _)| *pc == c) {
                        Some((_, b)) => set(&mut out, c, Some(Reply::Errorfile(b.clone()))),
                        None => sink.warn(
                Severity::Warning,
                            &location,
                            "errorfiles",
                            format!("{proxy}: status '{c}' not declared in http-errors section '{name}'"),
                        ),
                    }
                }
            }
        }
    }
    out
}

/// Checks that an error file holds a complete HTTP response: status line, headers, blank line, then a body whose
/// size matches `Content-Length` when there is one. An empty file is allowed (nothing is sent).
fn check_http_response(b: &[u8]) -> Result<(), String> {
    if b.is_empty() {
        return Ok(());
    }
    if !b.starts_with(b"HTTP/") {
        return Err("it must be a complete HTTP response starting with a status line such as 'HTTP/1.0 503 Service Unavailable'".into());
    }
    let crlf = b.windows(4).position(|w| w == b"\r\n\r\n").map(|p| (p, 4));
    let lf = b.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2));
    let (end, sep) = match (crlf, lf) {
        (Some(a), Some(b)) => {
            if a.0 < b.0 {
                a
            } else {
                b
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => {
            return Err(
                "the headers are not followed by an empty line: not a complete HTTP response"
                    .into(),
            )
        }
    };
    let head = String::from_utf8_lossy(&b[..end]);
    let body_len = b.len() - end - sep;
    for (n, l) in head.split('\n').enumerate().skip(1) {
        let l = l.strip_suffix('\r').unwrap_or(l);
        let Some((name, value)) = l.split_once(':').filter(|(n, _)| !n.trim().is_empty()) else {
            return Err(format!(
                "line {} is not a header ('NAME: VALUE'): '{l}'",
                n + 1
            ));
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            match value.trim().parse::<usize>() {
                Ok(cl) if cl == body_len => {}
                Ok(cl) => {
                    return Err(format!(
                        "the body is {body_len} bytes long but Content-Length announces {cl}"
                    ))
                }
                Err(_) => return Err(format!("invalid Content-Length '{}'", value.trim())),
            }
        }
    }
    Ok(())
}

// ---------- end of section ----------

/// A condition resolved against the section's ACLs, before it becomes a [`Condition`].
type Groups = Vec<Vec<(bool, String, Vec<DraftAcl>)>>;

/// Resolves the named terms of `c`: each stands for every `acl` line of that name in `acls`.
fn resolve(c: CondDraft, acls: &[DraftAcl]) -> (bool, Groups) {
    let groups = c
        .any_of
        .into_iter()
        .map(|g| {
            g.into_iter()
                .map(|t| {
                    let list = t.acls.unwrap_or_else(|| {
                        acls.iter()
                            .filter(|a| a.acl.name == t.name)
                            .cloned()
                            .collect()
                    });
                    (t.negate, t.name, list)
                })
                .collect()
        })
        .collect();
    (c.unless, groups)
}

fn to_condition((unless, groups): (bool, Groups)) -> Condition {
    Condition {
        unless,
        any_of: groups
            .into_iter()
            .map(|g| {
                g.into_iter()
                    .map(|(negate, name, acls)| CondTerm {
                        negate,
                        name,
                        acls: acls.into_iter().map(|a| a.acl).collect(),
                    })
                    .collect()
            })
            .collect(),
    }
}

/// The first term that uses an ACL for which `bad` holds: how to call it and the fetch it uses.
fn find_bad(groups: &Groups, bad: fn(&DraftAcl) -> bool) -> Option<(String, String)> {
    groups.iter().flatten().find_map(|(_, name, acls)| {
        acls.iter().find(|a| bad(a)).map(|a| {
            let who = if a.acl.name.is_empty() {
                format!("anonymous acl {name}")
            } else {
                format!("acl '{name}'")
            };
            (who, a.fetch.clone())
        })
    })
}

/// Needs an HTTP message.
fn layer7(a: &DraftAcl) -> bool {
    match &a.acl.sample {
        Sample::Expr(e) => e.0.needs().http,
        s => {
            !matches!(
                s,
                Sample::Src | Sample::DstPort | Sample::Ssl(_) | Sample::WaitEnd
            ) && !s.is_content()
        }
    }
}

/// Reads the connection to the server (`ssl_bc*`), which exists only once the response rules run.
fn server_side(a: &DraftAcl) -> bool {
    match &a.acl.sample {
        Sample::Expr(e) => e.0.needs().server_conn,
        Sample::Ssl(f) => f.is_backend(),
        _ => false,
    }
}

/// Looks at the buffered request or response bytes (`req.len`, `req.payload`, `res.payload`).
fn content(a: &DraftAcl) -> bool {
    a.acl.sample.is_content()
}

/// Looks at the buffered response bytes (`res.len`, `res.payload`).
fn response_content(a: &DraftAcl) -> bool {
    matches!(&a.acl.sample, Sample::Expr(e) if e.0.needs().response_content)
}

/// Can only be known while the request is processed.
fn request_only(a: &DraftAcl) -> bool {
    match &a.acl.sample {
        Sample::Expr(e) => e.0.needs().request,
        s => {
            matches!(
                s,
                Sample::Path | Sample::UrlParam(_) | Sample::HttpAuth(_) | Sample::HttpAuthGroup(_)
            ) || (matches!(s, Sample::Hdr(_)) && !a.response)
        }
    }
}

/// Can only be known once the response is there.
fn response_only(a: &DraftAcl) -> bool {
    a.response
}

/// Where a condition is evaluated.
#[derive(Clone, Copy)]
enum Place {
    /// `http-request`, `redirect`, and `use_backend` in an HTTP proxy
    Request,
    /// `use_backend` in a tcp proxy
    TcpSwitch,
    /// `http-response`
    Response,
    /// `tcp-request connection`
    Connection,
    /// `tcp-request content` (in `mode tcp`)
    Content,
    /// `tcp-response content` (in `mode tcp`)
    TcpResponse,
}

/// Resolves a rule's condition and checks that it can match where it is used; `None` after reporting a problem.
fn check(
    cond: Option<CondDraft>,
    place: Place,
    acls: &[DraftAcl],
    proxy: &str,
    loc: &Location,
    kw: &str,
    sink: &mut Sink,
) -> Result<Option<Condition>, ()> {
    let Some(c) = cond else {
        return Ok(None);
    };
    let r = resolve(c, acls);
    let content_elsewhere = |t: String, f: &str| {
        format!(
            "{t} uses '{f}', which looks at the buffered request bytes: {}",
            ns(format!(
                "'{f}' outside 'tcp-request content' rules and 'use_backend' in 'mode tcp'"
            ))
        )
    };
    let problem = match place {
        Place::Request | Place::Response => {
            find_bad(&r.1, content).map(|(t, f)| content_elsewhere(t, &f))
        }
        _ => None,
    };
    let problem = problem.or_else(|| match place {
        Place::Request | Place::Connection | Place::Content | Place::TcpSwitch => {
            find_bad(&r.1, server_side).map(|(t, f)| {
                format!("{t} would never match in '{kw}': '{f}' reads the connection to the server, which is not made yet")
            })
        }
        _ => None,
    });
    let problem = problem.or_else(|| match place {
        Place::Request => find_bad(&r.1, response_only).map(|(t, f)| {
            format!("{t} would never match in '{kw}': '{f}' is a response fetch (only 'http-response' conditions can test the response)")
        }),
        Place::TcpSwitch => find_bad(&r.1, layer7).map(|(t, f)| {
            format!("{t} uses '{f}', which needs an HTTP message, but {proxy} is in 'mode tcp' (HAProxy can inspect HTTP in tcp mode after 'tcp-request inspect-delay', which is not supported yet by fulcrum)")
        }),
        Place::Response => find_bad(&r.1, request_only).map(|(t, f)| {
            let hint = if f.contains("hdr") {
                " (use res.hdr(NAME) or shdr(NAME) to test a response header)"
            } else {
                ""
            };
            format!("{t} would never match in 'http-response': '{f}' is a request fetch{hint}")
        }),
        Place::Connection => find_bad(&r.1, content)
            .map(|(t, f)| {
                format!("{t} would never match in 'tcp-request connection': '{f}' looks at request bytes, and none is read when a connection is accepted (use 'tcp-request content' with 'tcp-request inspect-delay')")
            })
            .or_else(|| {
                find_bad(&r.1, layer7).map(|(t, f)| {
                    format!("{t} would never match in 'tcp-request connection': '{f}' needs an HTTP message, and only src and dst_port are known when a connection is accepted")
                })
            }),
        Place::Content => find_bad(&r.1, response_content)
            .map(|(t, f)| {
                format!("{t} would never match in '{kw}': '{f}' reads the response's bytes (only 'tcp-response content' rules can test them)")
            })
            // The method of a request line in the buffered bytes is known (the predefined ACL `HTTP`).
            .or_else(|| find_bad(&r.1, |a| layer7(a) && a.acl.sample != Sample::Method).map(|(t, f)| {
                format!("{t} uses '{f}', which needs an HTTP message: {}", ns("HTTP fetches in 'tcp-request content' rules"))
            })),
        Place::TcpResponse => find_bad(&r.1, |a| content(a) && !response_content(a))
            .map(|(t, f)| {
                format!("{t} would never match in '{kw}': '{f}' reads the request's bytes (only 'tcp-request content' rules can test them)")
            })
            .or_else(|| find_bad(&r.1, layer7).map(|(t, f)| {
                format!("{t} uses '{f}', which needs an HTTP message, and 'tcp-response content' rules have none")
            })),
    });
    match problem {
        Some(m) => {
            sink.error(loc, kw, m);
            Err(())
        }
        None => Ok(Some(to_condition(r))),
    }
}

/// Resolves the section's ACL names and checks where each condition is used. `proxy` names the section for
/// messages ("frontend 'f'").
pub fn finish(
    d: RulesDraft,
    mode: Mode,
    proxy: &str,
    errorfiles: Vec<ErrorEntry>,
    sections: &HttpErrorsSections,
    sink: &mut Sink,
) -> Rules {
    let errorfiles = resolve_errors(errorfiles, sections, proxy, sink);
    for (name, loc, kw) in &d.missing {
        match d.acls.iter().find(|a| &a.acl.name == name) {
            Some(later) => sink.error(
                loc,
                kw,
                format!("no such ACL '{name}' yet: it is declared later, at {} (HAProxy requires an ACL to be declared before a condition uses it)", later.acl.location),
            ),
            None => sink.error(loc, kw, format!("no such ACL '{name}' in {proxy}")),
        }
    }
    // `capture ... id N`: a frontend's slot must exist (a backend's rules write the slots of whichever
    // frontend the stream came through; there a missing slot is ignored at run time).
    if !proxy.starts_with("backend") {
        for (response, n, loc, kw) in &d.capture_ids {
            let (slots, dir) = if *response {
                (&d.response_slots, "response")
            } else {
                (&d.request_slots, "request")
            };
            if *n >= slots.len() {
                sink.error(
                    loc,
                    kw,
                    format!("{proxy}: no {dir} capture with id {n} (declare it with 'declare capture {dir} len N' or a capture line)"),
                );
            }
        }
    }
    let acls = &d.acls;
    fn rules_of<A>(
        list: Vec<RuleDraft<A>>,
        place: Place,
        acls: &[DraftAcl],
        proxy: &str,
        sink: &mut Sink,
    ) -> Vec<Rule<A>> {
        list.into_iter()
            .filter_map(|r| {
                let cond = check(r.cond, place, acls, proxy, &r.location, &r.keyword, sink).ok()?;
                Some(Rule {
                    action: r.action,
                    cond,
                    location: r.location,
                })
            })
            .collect()
    }
    let switch = if mode == Mode::Tcp {
        Place::TcpSwitch
    } else {
        Place::Request
    };
    if mode == Mode::Tcp {
        if let Some(r) = d.use_backends.iter().find(|r| r.action.1.is_some()) {
            sink.error(
                &r.location,
                &r.keyword,
                ns(format!(
                    "a dynamic backend name ('{}') in {proxy} (in 'mode tcp')",
                    r.action.0
                )),
            );
        }
    }
    let use_backends = rules_of(d.use_backends, switch, acls, proxy, sink)
        .into_iter()
        .map(|r| UseBackend {
            backend: r.action.0,
            dynamic: r.action.1,
            cond: r.cond,
            location: r.location,
        })
        .collect();
    let mut http_request = rules_of(d.http_request, Place::Request, acls, proxy, sink);
    // In `mode http` the content rules run on each HTTP request (before its `http-request` rules) and the
    // response rules on each response head (before the `http-response` rules): HTTP fetches are theirs, and
    // every message is whole when they run (a lone inspect delay changes nothing).
    let (content_place, response_place) = if mode == Mode::Tcp {
        (Place::Content, Place::TcpResponse)
    } else {
        (Place::Request, Place::Response)
    };
    let tcp_content = rules_of(d.tcp_content, content_place, acls, proxy, sink);
    let tcp_response = rules_of(d.tcp_response, response_place, acls, proxy, sink);
    let response_inspect_delay = d.response_inspect_delay.map(|(t, _)| t);
    if mode == Mode::Tcp {
        sink.diags.extend(d.tcp_response_http_only);
        // `stick on|match|store-request` decide on the connection's bytes before the server is chosen,
        // `store-response` on the server's first bytes (typically an SSL session id read from its hello).
        if let Some(r) = d.stick.iter().find(|r| r.action.key.0.needs().http) {
            sink.error(
                &r.location,
                &r.keyword,
                format!(
                    "'{}' in {proxy}: sample fetch '{}' reads HTTP data, which a 'mode tcp' proxy does not have",
                    r.keyword,
                    r.action.key.0.fetch_name()
                ),
            );
        }
    }
    for r in &d.tcp_session {
        let e = match &r.action {
            TcpContentAction::Var(HttpRequestAction::SetVar(_, e, _)) => Some(&e.0),
            _ => None,
        };
        if let Some(e) = e.filter(|e| e.needs().http || e.needs().content) {
            sink.error(&r.location, &r.keyword, format!("sample fetch '{}' reads the HTTP request or its bytes, which are not known yet when '{}' rules run", e.fetch_name(), r.keyword));
        }
    }
    let tcp_session = rules_of(d.tcp_session, Place::Connection, acls, proxy, sink);
    let inspect_delay = d.inspect_delay.map(|(t, _)| t);
    for r in &mut http_request {
        // `errorfiles NAME` in `return` / `deny`: the section's page, else the proxy's error.
        let kw = match r.action {
            HttpRequestAction::Return(..) => "http-request return",
            _ => "http-request deny",
        };
        if let HttpRequestAction::Return(code, reply) | HttpRequestAction::DenyWith(code, reply) =
            &mut r.action
        {
            if let Reply::Errorfiles(name) = reply {
                if sections.contains_key(name.as_str()) {
                    *reply = match section_page(name, *code, sections, proxy, &r.location, kw, sink)
                    {
                        Some(page) => Reply::Errorfile(page),
                        None => Reply::ProxyError,
                    };
                } else {
                    sink.error(
                        &r.location,
                        kw,
                        format!("{proxy}: unknown http-errors section '{name}'"),
                    );
                }
            }
        }
    }
    Rules {
        acls: acls.iter().map(|a| a.acl.clone()).collect(),
        use_backends,
        http_request,
        http_response: rules_of(d.http_response, Place::Response, acls, proxy, sink),
        http_after_response: rules_of(d.http_after_response, Place::Response, acls, proxy, sink),
        tcp_connection: rules_of(d.tcp_connection, Place::Connection, acls, proxy, sink),
        tcp_content,
        tcp_session,
        inspect_delay,
        tcp_response,
        response_inspect_delay,
        errorfiles,
        stats_admin: rules_of(d.stats_admin, Place::Request, acls, proxy, sink),
        stats_http_request: rules_of(d.stats_http_request, Place::Request, acls, proxy, sink),
        stick: rules_of(d.stick, switch, acls, proxy, sink),
        persist: rules_of(d.persist, Place::Request, acls, proxy, sink),
        use_servers: rules_of(d.use_servers, switch, acls, proxy, sink),
        monitor_fail: rules_of(d.monitor_fail, Place::Request, acls, proxy, sink),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_patterns() {
        assert_eq!(ip_pattern("10.1.2.3/8").unwrap(), "10.0.0.0/8");
        assert_eq!(ip_pattern("10.1.2.3").unwrap(), "10.1.2.3/32");
        assert_eq!(ip_pattern("10.1.2.3/255.255.0.0").unwrap(), "10.1.0.0/16");
        assert_eq!(ip_pattern("0.0.0.0/0").unwrap(), "0.0.0.0/0");
        assert_eq!(ip_pattern("2001:db8::1/32").unwrap(), "2001:db8::/32");
        assert_eq!(ip_pattern("::/0").unwrap(), "::/0");
        assert!(ip_pattern("1.2.3").is_err());
        assert!(ip_pattern("1.2.3.4/33").is_err());
        assert!(ip_pattern("localhost").is_err());
    }

    #[test]
    fn int_patterns() {
        assert_eq!(int_pattern("80").unwrap(), "80");
        assert!(int_pattern("+80").is_err());
        assert!(int_pattern("-5").unwrap_err().contains("not supported yet"));
        assert_eq!(int_pattern("0080").unwrap(), "80");
        assert!(int_pattern("-1:1").is_err());
        assert!(int_pattern("1:-1").is_err());
        assert!(int_pattern("3:1").is_err());
        assert!(int_pattern("1:2:3").is_err());
        assert!(int_pattern("99999999999999999999").is_err());
        assert_eq!(int_pattern("80:90").unwrap(), "80:90");
        assert_eq!(int_pattern("1024:").unwrap(), "1024:");
        assert_eq!(int_pattern(":5").unwrap(), ":5");
        assert!(int_pattern(":").is_err());
        assert!(int_pattern("x").is_err());
        assert!(int_pattern("1:x").is_err());
        assert!(int_pattern("le").unwrap_err().contains("not supported yet"));
    }

    #[test]
    fn int_operators() {
        let op = |o: &str, p: &str| int_operator(o, p.to_string());
        assert_eq!(op("eq", "200"), "200");
        assert_eq!(op("ge", "1024"), "1024:");
        assert_eq!(op("gt", "1024"), "1025:");
        assert_eq!(op("le", "5"), ":5");
        assert_eq!(op("lt", "5"), ":4");
        assert_eq!(op("ge", "1:5"), "1:5");
        assert_eq!(op("ge", "x"), "x");
    }

    #[test]
    fn http_responses() {
        assert!(check_http_response(b"").is_ok());
        assert!(check_http_response(b"HTTP/1.0 503 x\r\nA: b\r\n\r\nbody").is_ok());
        assert!(check_http_response(b"HTTP/1.0 503 x\n\n").is_ok());
        assert!(check_http_response(b"HTTP/1.0 503 x\r\nContent-Length: 4\r\n\r\nbody").is_ok());
        assert!(check_http_response(b"HTTP/1.0 503 x\r\nContent-Length: 3\r\n\r\nbody").is_err());
        assert!(check_http_response(b"hello\n").is_err());
        assert!(check_http_response(b"HTTP/1.0 503 x\n").is_err());
        assert!(check_http_response(b"HTTP/1.0 503 x\r\nFoo\r\n\r\n").is_err());
    }

    #[test]
    fn fetches() {
        assert_eq!(
            fetch("path_beg").unwrap(),
            (Sample::Path, Some(MatchMethod::Beg), false)
        );
        assert_eq!(
            fetch("hdr_sub(host)").unwrap(),
            (Sample::Hdr("host".into()), Some(MatchMethod::Sub), false)
        );
        assert_eq!(
            fetch("shdr_sub(server)").unwrap(),
            (Sample::Hdr("server".into()), Some(MatchMethod::Sub), true)
        );
        assert_eq!(
            fetch("res.hdr(server)").unwrap(),
            (Sample::Hdr("server".into()), Some(MatchMethod::Str), true)
        );
        assert_eq!(
            fetch("urlp(id)").unwrap(),
            (Sample::UrlParam("id".into()), Some(MatchMethod::Str), false)
        );
        assert_eq!(
            fetch("ssl_fc").unwrap(),
            (
                Sample::Ssl(fulcrum_sample::SslFetch::Fc),
                Some(MatchMethod::Bool),
                false
            )
        );
        assert_eq!(
            fetch("ssl_bc").unwrap(),
            (
                Sample::Ssl(fulcrum_sample::SslFetch::Bc),
                Some(MatchMethod::Bool),
                false
            )
        );
        assert!(fetch("ssl_bc_session_id")
            .unwrap_err()
            .contains("not yet by fulcrum"));
        assert!(fetch("frob").unwrap_err().contains("unknown fetch method"));
        assert!(fetch("path(x)").is_err());
        assert!(fetch("hdr(host").is_err());
        // anything else is a sample expression, typed by fulcrum-sample
        for (word, method) in [
            ("hdr(host,1)", None),
            ("path,lower", None),
            ("req.hdr(x),lower,field(1,:)", None),
            ("hdr_dom(host)", Some(MatchMethod::Dom)),
            // converters drop the keyword's method, as in HAProxy 2.6
            ("hdr_dom(host),lower", None),
            ("path_beg,lower", None),
            ("path_dir", Some(MatchMethod::Dir)),
            ("url_len", Some(MatchMethod::Len)),
            ("var(txn.x)", None),
        ] {
            let (s, m, r) = fetch(word).unwrap();
            assert!(matches!(s, Sample::Expr(_)), "{word}");
            assert_eq!((m, r), (method, false), "{word}");
        }
        assert!(fetch("res.hdr(x),lower").unwrap().2);
        assert!(fetch("src,frob")
            .unwrap_err()
            .contains("unknown converter 'frob'"));
    }
}
