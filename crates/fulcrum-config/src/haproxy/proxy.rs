//! Keywords of `defaults`, `frontend`, `backend` and `listen` sections.

use std::time::Duration;

pub use super::addr::parse_net;
use super::addr::Resolver;
use super::bind;
use super::common::{Line, Sink};
use super::known;
use super::log;
use super::model::{
    Balance, Capture, Fmt, ForwardFor, HashFunction, HashOptions, HashType, HttpConnMode,
    HttpReuse, LoadServerState, LogFormatLine, Mode, ProtocolCheck, RetryOn, StatsPage,
};
use super::rules;
use super::sections::SectionKind;
use super::server::{self, ServerOpts};
use crate::diag::Severity;
use crate::Location;

/// Section bit: `defaults`.
pub const D: u8 = 1;
/// Section bit: `frontend`.
pub const F: u8 = 2;
/// Section bit: `listen`.
pub const L: u8 = 4;
/// Section bit: `backend`.
pub const B: u8 = 8;
const ALL: u8 = D | F | L | B;
const FE: u8 = D | F | L;
const BE: u8 = D | L | B;

/// Supported keywords and the sections that allow them.
const KEYWORDS: &[(&str, u8)] = &[
    ("mode", ALL),
    ("id", F | L | B),
    ("disabled", ALL),
    ("enabled", ALL),
    ("backlog", ALL),
    ("fullconn", ALL),
    ("bind", F | L),
    ("maxconn", FE),
    ("rate-limit", ALL),
    ("timeout", ALL),
    ("option", ALL),
    ("http-check", BE),
    ("external-check", BE),
    ("tcp-check", BE),
    ("default_backend", FE),
    ("balance", BE),
    ("persist", BE),
    ("hash-type", BE),
    ("retries", BE),
    ("log", ALL),
    ("default-server", BE),
    ("server", L | B),
    ("server-template", L | B),
    ("acl", ALL),
    ("use_backend", F | L),
    ("http-request", ALL),
    ("http-response", ALL),
    ("http-after-response", ALL),
    ("tcp-request", ALL),
    ("tcp-response", ALL),
    ("redirect", F | L | B),
    ("errorfile", ALL),
    ("errorfiles", ALL),
    ("http-error", ALL),
    ("log-format", FE),
    ("retry-on", BE),
    ("stats", ALL),
    ("monitor-uri", FE),
    ("unique-id-format", FE),
    ("unique-id-header", FE),
    ("http-reuse", BE),
    ("dispatch", L | B),
    ("capture", F | L),
    ("load-server-state-from-file", BE),
    ("server-state-file-name", BE),
    ("declare", F | L),
    ("stick-table", F | L | B),
    ("stick", L | B),
    ("cookie", ALL),
    ("dynamic-cookie-key", BE),
    ("force-persist", F | L | B),
    ("ignore-persist", F | L | B),
    ("description", F | L | B),
    ("use-server", L | B),
    ("monitor", F | L),
    ("log-tag", ALL),
    ("http-send-name-header", BE),
    ("errorloc", ALL),
    ("errorloc302", ALL),
    ("errorloc303", ALL),
    ("compression", ALL),
    ("filter", F | L | B),
];

/// Keywords of rules and ACLs: HAProxy 2.6 rejects them in anonymous `defaults` sections; a named one applies its
/// rules to the proxies that use it, before their own.
const RULE_KEYWORDS: &[&str] = &[
    "acl",
    "http-request",
    "http-response",
    "http-after-response",
    "tcp-request",
    "tcp-response",
];

/// `timeout` names and the sections that allow them (`None`: not supported yet).
const TIMEOUTS: &[(&str, u8)] = &[
    ("connect", BE),
    ("client", FE),
    ("server", BE),
    ("http-request", ALL),
    ("http-keep-alive", ALL),
    ("tunnel", BE),
    ("queue", BE),
    ("check", BE),
    ("client-fin", FE),
    ("server-fin", BE),
    ("tarpit", ALL),
];

/// Supported `option` names and the sections that allow them.
const OPTIONS: &[(&str, u8)] = &[
    ("http-keep-alive", ALL),
    ("http-server-close", ALL),
    ("httpclose", ALL),
    ("forwardfor", ALL),
    ("originalto", ALL),
    ("httpchk", BE),
    ("tcp-check", BE),
    ("smtpchk", BE),
    ("redis-check", BE),
    ("pgsql-check", BE),
    ("mysql-check", BE),
    ("ldap-check", BE),
    ("spop-check", BE),
    ("ssl-hello-chk", BE),
    ("external-check", BE),
    ("redispatch", BE),
    ("persist", BE),
    ("allbackups", BE),
    ("httplog", FE),
    ("httpslog", FE),
    ("tcplog", FE),
    ("dontlognull", FE),
    ("dontlog-normal", FE),
    ("logasap", FE),
    ("log-health-checks", BE),
    ("http-buffer-request", ALL),
    ("abortonclose", BE),
    // HAProxy takes these in every proxy section too, and warns where the proxy lacks the side they act on.
    ("tcpka", ALL),
    ("clitcpka", ALL),
    ("srvtcpka", ALL),
    ("tcp-smart-accept", ALL),
    ("tcp-smart-connect", ALL),
    ("nolinger", ALL),
    // HAProxy takes these in every proxy section, and warns (then ignores them) where the proxy lacks the side
    // they act on: a backend has no clients to read requests from, a frontend no servers to read responses from.
    ("accept-invalid-http-request", ALL),
    ("accept-invalid-http-response", ALL),
    // fulcrum splices every `mode tcp` connection (unless `nosplice`) whatever these say; in `mode http`,
    // `splice-response` splices response bodies, `splice-request` request bodies, `splice-auto` both (see
    // `Proxy::splice_response` and `Proxy::splice_request`).
    ("splice-auto", ALL),
    ("splice-request", ALL),
    ("splice-response", ALL),
];

/// Legacy keywords HAProxy removed, with what to use instead.
const LEGACY: &[(&str, &str)] = &[
    ("contimeout", "timeout connect"),
    ("clitimeout", "timeout client"),
    ("srvtimeout", "timeout server"),
    ("redisp", "option redispatch"),
    ("redispatch", "option redispatch"),
];

/// The bit of a section kind (global has none).
pub fn bit(kind: SectionKind) -> u8 {
    match kind {
        SectionKind::Global
        | SectionKind::HttpErrors
        | SectionKind::Program
        | SectionKind::Userlist
        | SectionKind::Resolvers => 0,
        SectionKind::Peers => 0,
        SectionKind::Defaults => D,
        SectionKind::Frontend => F,
        SectionKind::Listen => L,
        SectionKind::Backend => B,
    }
}

/// Whether a keyword whose sections are `mask` may stand in a `kind` section; reports it when not.
fn allowed_in(mask: u8, kind: SectionKind, loc: &Location, key: &str, sink: &mut Sink) -> bool {
    if mask & bit(kind) != 0 {
        return true;
    }
    sink.error(
        loc,
        key,
        format!(
            "'{key}' is not allowed in a '{}' section (allowed in: {})",
            kind.keyword(),
            mask_names(mask)
        ),
    );
    false
}

fn mask_names(mask: u8) -> String {
    [
        (D, "defaults"),
        (F, "frontend"),
        (L, "listen"),
        (B, "backend"),
    ]
    .iter()
    .filter(|(b, _)| mask & b != 0)
    .map(|(_, n)| *n)
    .collect::<Vec<_>>()
    .join(", ")
}

/// Whether `kw` is a keyword of proxy sections (supported or not).
pub fn is_proxy_keyword(kw: &str) -> bool {
    KEYWORDS.iter().any(|(k, _)| *k == kw)
        || known::PROXY_UNSUPPORTED.contains(&kw)
        || LEGACY.iter().any(|(k, _)| *k == kw)
}

use super::section_state::own_check_rules;
pub use super::section_state::{Body, CheckSend, InheritedRules, Settings};

/// `external-check command CMD` / `external-check path PATH`.
fn external_check(line: &Line, s: &mut Settings, sink: &mut Sink) {
    let loc = &line.location;
    let what = line.word(1);
    let key = format!("external-check {what}");
    match (what, line.words.get(2)) {
        ("command" | "path", None) => sink.error(loc, &key, "expects a single argument"),
        ("command" | "path", Some(_)) if line.words.len() > 3 => {
            sink.error(loc, &key, "expects a single argument")
        }
        ("command", Some(c)) => s.external_command = Some(c.clone()),
        ("path", Some(p)) => s.external_path = Some(p.clone()),
        _ => sink.error(
            loc,
            "external-check",
            format!("expects 'command' or 'path', found '{what}'"),
        ),
    }
}

/// Applies one keyword line of a defaults or proxy section (`named`: the section has a name; only matters for
/// `defaults`).
pub fn apply(
    kind: SectionKind,
    named: bool,
    line: &Line,
    s: &mut Settings,
    body: &mut Body,
    resolver: Resolver<'_>,
    sink: &mut Sink,
) {
    let loc = &line.location;
    let section = kind.keyword();
    let mut kw = line.word(0);
    let mut negate = false;
    let mut first = 0;
    if kw == "no" || kw == "default" {
        match line.word(1) {
            "option" | "log" if kw == "no" => {
                negate = true;
                first = 1;
                kw = line.word(1);
            }
            "option" => {
                sink.unsupported(loc, "default option");
                return;
            }
            _ => {
                sink.error(
                    loc,
                    kw,
                    format!("'{kw}' must be followed by 'option' (or 'no log')"),
                );
                return;
            }
        }
    }
    let Some(&(_, mask)) = KEYWORDS.iter().find(|(k, _)| *k == kw) else {
        if let Some((_, instead)) = LEGACY.iter().find(|(k, _)| *k == kw) {
            sink.error(
                loc,
                kw,
                format!("'{kw}' is not supported (HAProxy removed it): use '{instead}'"),
            );
        } else if kw == "appsession" {
            // Removed from HAProxy long ago; refused in its words.
            sink.error(
                loc,
                kw,
                "'appsession' is not supported anymore since HAProxy 1.6.",
            );
        } else if known::PROXY_UNSUPPORTED.contains(&kw) {
            sink.unsupported(loc, kw);
        } else if known::is_global_keyword(kw) {
            sink.error(
                loc,
                kw,
                format!("'{kw}' is a 'global' keyword: it is not allowed in a '{section}' section"),
            );
        } else {
            sink.error(
                loc,
                kw,
                format!("unknown keyword '{kw}' in '{section}' section"),
            );
        }
        return;
    };
    if kind == SectionKind::Defaults && !named && RULE_KEYWORDS.contains(&kw) {
        sink.error(
            loc,
            kw,
            format!("'{kw}' is not allowed in an anonymous 'defaults' section (allowed in: frontend, listen, backend, and named 'defaults' sections, whose rules apply to the proxies using them)"),
        );
        return;
    }
    if !allowed_in(mask, kind, loc, kw, sink) {
        return;
    }
    let before = body.server_refs.len();
    server_refs(line, &mut body.server_refs);
    if kind == SectionKind::Defaults {
        // A defaults section has no servers of its own: its rules must name the backend (as HAProxy requires).
        for (_, server, _) in body.server_refs[before..].iter().filter(|r| r.0.is_none()) {
            sink.error(
                loc,
                kw,
                format!("'{server}': backend name must be set in a server fetch of a 'defaults' section (write BACKEND/SERVER)"),
            );
        }
    }
    let args = &line.words[first + 1..];
    let arg = args.first().map(String::as_str);
    match kw {
        "mode" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg {
                    Some("tcp") => s.mode = Mode::Tcp,
                    Some("http") => s.mode = Mode::Http,
                    other => sink.error(
                        loc,
                        kw,
                        format!("expects 'tcp' or 'http', got '{}'", other.unwrap_or("")),
                    ),
                }
            }
        }
        "bind" => {
            body.bind_lines += 1;
            if let Some(b) = bind::parse(line, resolver, sink) {
                body.binds.push(b);
            }
        }
        "load-server-state-from-file" => {
            s.load_server_state = match arg {
                Some("global") if args.len() == 1 => LoadServerState::Global,
                Some("local") if args.len() == 1 => LoadServerState::Local,
                Some("none") if args.len() == 1 => LoadServerState::None,
                _ => {
                    return sink.error(
                        loc,
                        kw,
                        format!(
                            "expects 'global', 'local' or 'none', got '{}'",
                            args.join(" ")
                        ),
                    )
                }
            };
        }
        "server-state-file-name" => {
            if sink.max_args(line, kw, 1, 1) {
                s.server_state_file_name = match arg {
                    None | Some("use-backend-name") => None,
                    Some(name) => Some(name.to_string()),
                };
            }
        }
        "id" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg.and_then(|a| a.parse::<u32>().ok()).filter(|&n| n > 0) {
                    Some(n) => s.id = Some((n, loc.clone())),
                    None => sink.error(loc, kw, "custom id has to be > 0"),
                }
            }
        }
        "disabled" | "enabled" => {
            if sink.max_args(line, kw, 1, 0) {
                s.disabled = kw == "disabled";
            }
        }
        "backlog" | "fullconn" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(n) = sink.uint(loc, kw, arg, 0, u64::from(u32::MAX)) {
                    // As HAProxy: each applies to one side of a proxy, and is ignored with a warning elsewhere.
                    let (ignored, which) = match kw {
                        "backlog" => (kind == SectionKind::Backend, "backlog"),
                        _ => (kind == SectionKind::Frontend, "fullconn"),
                    };
                    if ignored {
                        body.ignored_keywords.push((loc.clone(), which));
                    } else if kw == "backlog" {
                        s.backlog = Some(n as u32);
                    } else {
                        s.fullconn = Some(n as u32);
                    }
                }
            }
        }
        "rate-limit" => match arg {
            Some("sessions") if sink.max_args(line, kw, 2, 1) => {
                let what = "rate-limit sessions";
                match line.words.get(2) {
                    None => sink.error(loc, what, "expects an integer value (in sessions/second)"),
                    Some(v) => {
                        if let Some(n) =
                            sink.uint(loc, what, Some(v.as_str()), 0, u64::from(u32::MAX))
                        {
                            if kind == SectionKind::Backend {
                                body.ignored_keywords
                                    .push((loc.clone(), "rate-limit sessions"));
                            } else {
                                s.rate_limit_sessions = Some(n as u32);
                            }
                        }
                    }
                }
            }
            Some("sessions") => {}
            Some(other) => sink.error(loc, kw, format!("only supports 'sessions' (got '{other}')")),
            None => sink.error(
                loc,
                kw,
                "expects 'sessions' and a rate (e.g. 'rate-limit sessions 100')",
            ),
        },
        "maxconn" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(n) = sink.uint(loc, kw, arg, 0, u64::from(u32::MAX)) {
                    s.maxconn = Some(n as u32);
                }
            }
        }
        "retry-on" => {
            if line.words.len() < 2 {
                sink.error(loc, kw, "expects one or more failure types (conn-failure, empty-response, junk-response, response-timeout, 404, 408, 425, 500, 501, 502, 503, 504, all-retryable-errors or none)");
            } else {
                let mut r = RetryOn {
                    conn_failure: false,
                    ..RetryOn::default()
                };
                for w in &line.words[1..] {
                    match w.as_str() {
                        "none" if line.words.len() == 2 => {}
                        "conn-failure" => r.conn_failure = true,
                        "empty-response" => r.empty_response = true,
                        "junk-response" => r.junk_response = true,
                        "response-timeout" => r.response_timeout = true,
                        "all-retryable-errors" => {
                            r.conn_failure = true;
                            r.empty_response = true;
                            r.junk_response = true;
                            r.response_timeout = true;
                            r.statuses.extend([500, 502, 503, 504]);
                        }
                        "404" | "408" | "425" | "500" | "501" | "502" | "503" | "504" => {
                            r.statuses.push(w.parse().unwrap_or(0))
                        }
                        "0rtt-rejected" => sink.error(
                            loc,
                            kw,
                            "'0rtt-rejected' is supported by HAProxy, not yet by fulcrum (no TLS yet)",
                        ),
                        other => sink.error(
                            loc,
                            kw,
                            format!("unknown failure type '{other}': expected conn-failure, empty-response, junk-response, response-timeout, 404, 408, 425, 500, 501, 502, 503, 504, all-retryable-errors or none (alone)"),
                        ),
                    }
                }
                r.statuses.sort_unstable();
                r.statuses.dedup();
                s.retry_on = r;
            }
        }
        "log-format" => {
            if line.words.len() != 2 {
                sink.error(
                    loc,
                    kw,
                    "expects exactly one format string: quote it or escape its spaces",
                );
            } else {
                s.log_format = Some(LogFormatLine {
                    format: line.words[1].clone(),
                    location: loc.clone(),
                });
            }
        }
        "retries" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(n) = sink.uint(loc, kw, arg, 0, u64::from(u32::MAX)) {
                    s.retries = n as u32;
                }
            }
        }
        "default_backend" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg {
                    Some(n) if !n.is_empty() => {
                        s.default_backend = Some((n.to_string(), loc.clone()))
                    }
                    _ => sink.error(loc, kw, "expects the name of a backend"),
                }
            }
        }
        "timeout" => timeout(kind, line, s, sink),
        "option" => option(
            kind,
            line,
            negate,
            &args[1.min(args.len())..],
            s,
            body,
            sink,
        ),
        "http-check" => super::http_check::http_check(line, s, body, sink),
        "external-check" => external_check(line, s, sink),
        "tcp-check" => super::tcp_check::tcp_check(
            line,
            super::tcp_check::Ruleset {
                rules: &mut s.tcp_check_rules,
                lines: &mut s.tcp_check_lines,
                own: &mut body.own_tcp_check_rules,
            },
            sink,
        ),
        "balance" => {
            if let Some(b) = balance(line, sink) {
                s.balance = b;
            }
        }
        "hash-type" => hash_type(line, s, sink),
        "persist" => {
            let a = arg.unwrap_or("");
            let name = match a.strip_prefix("rdp-cookie") {
                Some("") => Some("msts"),
                Some(r) => r
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .filter(|n| !n.is_empty()),
                None => None,
            };
            match name {
                Some(n) if sink.max_args(line, "persist", 2, 0) => {
                    s.persist_rdp = Some(n.to_owned())
                }
                Some(_) => {}
                None => sink.error(
                    &line.location,
                    "persist",
                    format!(
                        "'persist' only supports 'rdp-cookie' or 'rdp-cookie(NAME)', got '{a}'"
                    ),
                ),
            }
        }
        "log" => {
            if negate {
                if sink.max_args(line, "no log", 2, 0) {
                    s.logs.clear();
                    s.log_global = false;
                }
            } else if arg == Some("global") {
                if sink.max_args(line, "log global", 2, 0) {
                    s.log_global = true;
                }
            } else if let Some(t) = log::parse(line, resolver, sink) {
                s.logs.push(t);
            }
        }
        "default-server" => {
            if let Some(o) = server::parse_opts(line, 1, "default-server", sink) {
                s.default_server = s.default_server.overlay(&o);
            }
        }
        "server" => {
            if let Some(d) = server::parse_server(line, &s.default_server, sink) {
                body.servers.push(d);
            }
        }
        "server-template" => {
            body.servers
                .extend(server::parse_template(line, &s.default_server, sink));
        }
        "acl" => rules::acl(line, &mut body.rules, sink),
        "use_backend" => rules::use_backend(line, &mut body.rules, sink),
        "http-request"
            if kind == SectionKind::Backend
                && line.word(1) == "capture"
                && line.word(3) == "len" =>
        {
            sink.error(
                &line.location,
                "http-request capture",
                "'http-request capture ... len N' declares a capture slot, which only frontends and listens have (a backend may write one with 'id N')",
            );
        }
        "http-request" => rules::http_request(line, &mut body.rules, sink),
        "http-response" => rules::http_response(line, &mut body.rules, sink),
        "http-after-response" => rules::http_after_response(line, &mut body.rules, sink),
        "tcp-request" => rules::tcp_request(kind, line, &mut body.rules, sink),
        "tcp-response" => rules::tcp_response(kind, line, &mut body.rules, sink),
        "redirect" => rules::redirect_line(line, &mut body.rules, sink),
        "errorfile" => rules::errorfile(line, &mut s.errorfiles, sink),
        "errorfiles" => rules::errorfiles(line, &mut s.errorfiles, sink),
        "errorloc" | "errorloc302" | "errorloc303" => {
            rules::errorloc(line, &mut s.errorfiles, sink)
        }
        "http-error" => rules::http_error(line, &mut s.errorfiles, sink),
        "stats" => stats(kind, line, s, body, sink),
        "http-reuse" => {
            if sink.max_args(line, kw, 1, 1) {
                match HttpReuse::parse(arg.unwrap_or("")) {
                    Some(r) => s.http_reuse = r,
                    None => sink.error(
                        loc,
                        kw,
                        "only supports 'never', 'safe', 'aggressive', 'always'",
                    ),
                }
            }
        }
        "dispatch" => dispatch(line, body, sink),
        "capture" => capture(line, body, sink),
        "declare" => declare(line, body, sink),
        "stick" => rules::stick_rule(line, &mut body.rules, sink),
        "force-persist" | "ignore-persist" => rules::persist_rule(line, &mut body.rules, sink),
        "use-server" => rules::use_server(line, &mut body.rules, sink),
        "monitor" => rules::monitor(line, &mut body.rules, sink),
        "http-send-name-header" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg {
                    Some(h) if !h.is_empty() && h.bytes().all(is_tchar) => {
                        s.send_name_header = Some(h.to_string())
                    }
                    Some(h) if !h.is_empty() => {
                        sink.error(loc, kw, format!("'{h}' is not a header name"))
                    }
                    _ => sink.error(loc, kw, "expects a header name"),
                }
            }
        }
        "log-tag" => match args {
            [tag] if !tag.is_empty() => s.log_tag = Some(tag.clone()),
            [_, _, ..] => sink.error(loc, kw, "expects exactly one argument, the syslog tag"),
            _ => sink.error(loc, kw, "expects a tag for use in syslog."),
        },
        "compression" => super::compression::apply(
            line,
            kind == SectionKind::Defaults,
            &mut s.compression,
            sink,
        ),
        "filter" => super::compression::filter(line, &mut body.filters, sink),
        "description" => {
            // HAProxy joins the words with single spaces.
            if args.is_empty() {
                sink.error(loc, kw, "expects a string");
            } else {
                body.description = Some(args.join(" "));
            }
        }
        "dynamic-cookie-key" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg {
                    Some(k) if !k.is_empty() => s.dynamic_cookie_key = Some(k.to_string()),
                    _ => sink.error(
                        loc,
                        kw,
                        "expects a key (the secret dynamic cookies are hashed with)",
                    ),
                }
            }
        }
        "cookie" => {
            if let Some(c) = super::cookie::parse(line, sink) {
                s.cookie = Some((c, loc.clone()));
            }
        }
        "stick-table" => {
            if let Some(first) = &body.stick_table {
                sink.error(
                    loc,
                    kw,
                    format!(
                        "only one 'stick-table' per section (the first is at {})",
                        first.location
                    ),
                );
            } else if let Some(t) = super::stick::stick_table(line, "", sink) {
                body.stick_table = Some(t);
            }
        }
        "unique-id-format" => {
            if line.words.len() != 2 {
                sink.error(
                    loc,
                    kw,
                    "expects exactly one format string: quote it or escape its spaces",
                );
            } else {
                match Fmt::parse(&line.words[1]) {
                    Ok(f) => s.unique_id_format = Some(f),
                    Err(e) => sink.error(loc, kw, e.to_string()),
                }
            }
        }
        "unique-id-header" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg {
                    Some(h) if !h.is_empty() && h.bytes().all(is_tchar) => {
                        s.unique_id_header = Some(h.to_string())
                    }
                    _ => sink.error(loc, kw, "expects a header name"),
                }
            }
        }
        "monitor-uri" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg {
                    Some(u) if !u.is_empty() => s.monitor_uri = Some(u.to_string()),
                    _ => sink.error(loc, kw, "expects a URI such as /health"),
                }
            }
        }
        _ => sink.error(
            loc,
            kw,
            format!("unknown keyword '{kw}' in '{section}' section"),
        ),
    }
}

/// `capture request header NAME len N`, `capture response header NAME len N`, `capture cookie NAME len N`.
/// The fetches whose argument names a server (`[BACKEND/]SERVER`).
const SERVER_FETCHES: &[&str] = &["srv_conn(", "srv_is_up(", "srv_queue(", "srv_sess_rate("];

/// Notes the servers `line` names in server fetches, wherever they are written (an ACL, a condition, a log
/// format, a variable): `del server` must refuse them, and they must exist.
fn server_refs(line: &Line, out: &mut Vec<(Option<String>, String, Location)>) {
    for w in &line.words {
        for f in SERVER_FETCHES {
            let mut from = 0;
            while let Some(at) = w[from..].find(f).map(|p| p + from) {
                from = at + f.len();
                // a fetch name, not the end of a longer one
                if w[..at]
                    .bytes()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
                {
                    continue;
                }
                let Some(len) = w[from..].find(')') else {
                    continue;
                };
                let arg = w[from..from + len].trim();
                let (backend, server) = match arg.split_once('/') {
                    Some((b, s)) => (Some(b.to_string()), s.to_string()),
                    None => (None, arg.to_string()),
                };
                if !server.is_empty() {
                    out.push((backend, server, line.location.clone()));
                }
            }
        }
    }
}

fn capture(line: &Line, body: &mut Body, sink: &mut Sink) {
    let loc = &line.location;
    let words: Vec<&str> = line.words.iter().map(String::as_str).collect();
    let (dir, name, len) = match words.as_slice() {
        ["capture", "cookie", name, "len", len] => {
            let Some(len) = len
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=65536).contains(n))
            else {
                sink.error(
                    loc,
                    "capture cookie",
                    format!("'len' expects a length between 1 and 65536, got '{len}'"),
                );
                return;
            };
            if body.capture_cookie.is_some() {
                sink.error(
                    loc,
                    "capture cookie",
                    "only one 'capture cookie' per section",
                );
                return;
            }
            body.capture_cookie = Some(Capture {
                name: name.to_string(),
                len,
            });
            return;
        }
        ["capture", "cookie", ..] => {
            sink.error(loc, "capture cookie", "expects 'capture cookie NAME len N'");
            return;
        }
        ["capture", dir @ ("request" | "response"), "header", name, "len", len] => {
            (*dir, *name, *len)
        }
        ["capture", dir @ ("request" | "response"), "header", ..] => {
            sink.error(
                loc,
                "capture",
                format!("'capture {dir} header' expects 'capture {dir} header NAME len LENGTH'"),
            );
            return;
        }
        _ => {
            sink.error(
                loc,
                "capture",
                "expects 'capture request header NAME len N', 'capture response header NAME len N' or 'capture cookie'",
            );
            return;
        }
    };
    let Some(len) = len.parse::<usize>().ok().filter(|n| *n <= 65536) else {
        sink.error(
            loc,
            "capture",
            format!("'len' expects a length between 0 and 65536, got '{len}'"),
        );
        return;
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        sink.error(loc, "capture", format!("'{name}' is not a header name"));
        return;
    }
    let response = dir == "response";
    if super::rules::declare_slot(
        &mut body.rules,
        response,
        len,
        Some(name.to_string()),
        loc,
        "capture",
        sink,
    )
    .is_none()
    {
        return;
    }
    let list = if response {
        &mut body.capture_response
    } else {
        &mut body.capture_request
    };
    list.push(Capture {
        name: name.to_string(),
        len,
    });
}

/// `declare capture request|response len N`: one more capture slot for `capture ... id N` rules.
fn declare(line: &Line, body: &mut Body, sink: &mut Sink) {
    let loc = &line.location;
    let words: Vec<&str> = line.words.iter().map(String::as_str).collect();
    let ["declare", "capture", dir @ ("request" | "response"), "len", len] = words.as_slice()
    else {
        sink.error(
            loc,
            "declare",
            "expects 'declare capture request len N' or 'declare capture response len N'",
        );
        return;
    };
    let Some(len) = len.parse::<usize>().ok().filter(|n| *n <= 65536) else {
        sink.error(
            loc,
            "declare",
            format!("'len' expects a length between 0 and 65536, got '{len}'"),
        );
        return;
    };
    let _ = super::rules::declare_slot(
        &mut body.rules,
        *dir == "response",
        len,
        None,
        loc,
        "declare capture",
        sink,
    );
}

/// `stats enable|uri|realm|auth|refresh|hide-version|show-node|show-legends|admin ...`: any of them enables the
/// page, as in HAProxy.
/// `dispatch ADDR:PORT`: every request goes to that address, whatever the servers (HAProxy turns load balancing
/// off); kept as an implicit server named `dispatch` (validation refuses it beside `server` lines).
fn dispatch(line: &Line, body: &mut Body, sink: &mut Sink) {
    let loc = &line.location;
    if !sink.max_args(line, "dispatch", 1, 1) {
        return;
    }
    let Some(address) = line.words.get(1) else {
        sink.error(
            loc,
            "dispatch",
            "expects an address: 'dispatch ADDRESS:PORT'",
        );
        return;
    };
    let as_server = Line {
        location: loc.clone(),
        words: vec!["server".into(), "dispatch".into(), address.clone()],
    };
    let before = sink.diags.len();
    match server::parse_server(&as_server, &ServerOpts::default(), sink) {
        // Unlike a server's, the dispatch address needs its port (HAProxy refuses one without).
        Some(d) if d.port_offset.is_some() => sink.error(
            loc,
            "dispatch",
            format!("address '{address}' has no port: expected 'dispatch ADDRESS:PORT'"),
        ),
        Some(d) => body.dispatch = Some(d),
        None => {}
    }
    for d in &mut sink.diags[before..] {
        d.keyword = "dispatch".into();
        d.message = d.message.replacen("server 'dispatch': ", "", 1);
    }
}

fn stats(kind: SectionKind, line: &Line, s: &mut Settings, body: &mut Body, sink: &mut Sink) {
    let loc = &line.location;
    let sub = line.word(1);
    let key = format!("stats {sub}");
    fn page<'a>(s: &'a mut Settings, loc: &crate::Location) -> &'a mut StatsPage {
        s.stats.get_or_insert_with(|| StatsPage::new(loc.clone()))
    }
    let one = |sink: &mut Sink, what: &str| -> Option<String> {
        match line.words.get(2).filter(|w| !w.is_empty()) {
            None => {
                sink.error(loc, &key, format!("expects {what}"));
                None
            }
            Some(_) if line.words.len() > 3 => {
                sink.error(
                    loc,
                    &key,
                    format!("expects {what} only, found '{}'", line.words[3]),
                );
                None
            }
            Some(w) => Some(w.clone()),
        }
    };
    match sub {
        "" => sink.error(loc, "stats", "expects enable, uri, realm, auth, refresh, hide-version, show-node, show-legends, scope, http-request or admin"),
        "enable" | "hide-version" | "show-legends" => {
            if sink.max_args(line, &key, 2, 0) {
                let p = page(s, loc);
                match sub {
                    "hide-version" => p.hide_version = true,
                    "show-legends" => p.show_legends = true,
                    _ => {}
                }
            }
        }
        "uri" => {
            if let Some(u) = one(sink, "a URI prefix such as /stats") {
                page(s, loc).uri = u;
            }
        }
        "realm" => {
            if let Some(r) = one(sink, "a realm name (spaces escaped with '\\')") {
                page(s, loc).realm = Some(r);
            }
        }
        "auth" => {
            if let Some(a) = one(sink, "USER:PASSWORD") {
                match a.split_once(':') {
                    Some((u, p)) if !u.is_empty() => page(s, loc).auth.push((u.to_string(), p.to_string())),
                    _ => sink.error(loc, &key, format!("expects USER:PASSWORD, got '{a}'")),
                }
            }
        }
        "refresh" => {
            if let Some(t) = one(sink, "a delay such as 10s") {
                if let Some(d) = sink.time(loc, &key, Some(&t)) {
                    page(s, loc).refresh = (!d.is_zero()).then_some(d);
                }
            }
        }
        "show-node" => {
            if sink.max_args(line, &key, 2, 1) {
                let name = line.words.get(2).cloned().unwrap_or_else(|| {
                    std::fs::read_to_string("/proc/sys/kernel/hostname")
                        .map(|h| h.trim().to_string())
                        .unwrap_or_default()
                });
                page(s, loc).show_node = Some(name);
            }
        }
        "admin" => {
            if kind == SectionKind::Defaults {
                sink.error(loc, &key, "'stats admin' is not allowed in a 'defaults' section (allowed in: frontend, listen, backend)");
            } else {
                page(s, loc);
                rules::stats_admin(line, &mut body.rules, sink);
            }
        }
        "http-request" => {
            if kind == SectionKind::Defaults {
                sink.error(loc, &key, "'stats http-request' is not allowed in a 'defaults' section (allowed in: frontend, listen, backend)");
            } else {
                page(s, loc);
                rules::stats_http_request(line, &mut body.rules, sink);
            }
        }
        "scope" => {
            if let Some(name) = one(sink, "a proxy name, or '.' for this one") {
                page(s, loc).scope.push(name);
            }
        }
        "show-desc" | "show-modules" | "bind-process" => sink.unsupported(loc, &key),
        other => sink.error(loc, &key, format!("unknown 'stats {other}': expected enable, uri, realm, auth, refresh, hide-version, show-node, show-legends, scope, http-request or admin")),
    }
}

fn timeout(kind: SectionKind, line: &Line, s: &mut Settings, sink: &mut Sink) {
    let loc = &line.location;
    let name = line.word(1);
    let key = format!("timeout {name}");
    if name.is_empty() {
        sink.error(loc, "timeout", "expects 'timeout NAME VALUE' (connect, client, server, http-request, http-keep-alive, tunnel, queue, check, client-fin, server-fin, tarpit)");
        return;
    }
    let Some(&(_, mask)) = TIMEOUTS.iter().find(|(n, _)| *n == name) else {
        if known::TIMEOUT_UNSUPPORTED.contains(&name) {
            sink.unsupported(loc, &key);
        } else {
            sink.error(loc, &key, format!("unknown timeout '{name}': expected connect, client, server, http-request, http-keep-alive, tunnel, queue, check, client-fin, server-fin or tarpit"));
        }
        return;
    };
    if !allowed_in(mask, kind, loc, &key, sink) {
        return;
    }
    if !sink.max_args(line, &key, 2, 1) {
        return;
    }
    let Some(d) = sink.time(loc, &key, line.words.get(2).map(String::as_str)) else {
        return;
    };
    let v: Option<Duration> = (!d.is_zero()).then_some(d);
    let t = &mut s.timeouts;
    match name {
        "connect" => t.connect = v,
        "client" => t.client = v,
        "server" => t.server = v,
        "http-request" => t.http_request = v,
        "http-keep-alive" => t.http_keep_alive = v,
        "tunnel" => t.tunnel = v,
        "queue" => t.queue = v,
        "check" => t.check = v,
        "client-fin" => t.client_fin = v,
        "tarpit" => t.tarpit = v,
        _ => t.server_fin = v,
    }
}

fn option(
    kind: SectionKind,
    line: &Line,
    negate: bool,
    args: &[String],
    s: &mut Settings,
    body: &mut Body,
    sink: &mut Sink,
) {
    let loc = &line.location;
    let skip = if negate { 3 } else { 2 };
    let name = line.word(skip - 1);
    let key = format!("option {name}");
    let shown = if negate {
        format!("no option {name}")
    } else {
        key.clone()
    };
    if name.is_empty() {
        sink.error(loc, "option", "expects an option name");
        return;
    }
    let Some(&(_, mask)) = OPTIONS.iter().find(|(n, _)| *n == name) else {
        if known::OPTION_UNSUPPORTED.contains(&name) {
            sink.unsupported(loc, &key);
        } else {
            sink.error(
                loc,
                &key,
                format!("unknown option '{name}' in '{}' section", kind.keyword()),
            );
        }
        return;
    };
    if !allowed_in(mask, kind, loc, &key, sink) {
        return;
    }
    let rest = args;
    if negate
        && matches!(
            name,
            "forwardfor"
                | "originalto"
                | "tcpka"
                | "httpchk"
                | "tcp-check"
                | "httplog"
                | "httpslog"
                | "tcplog"
                | "smtpchk"
                | "redis-check"
                | "pgsql-check"
                | "mysql-check"
                | "ldap-check"
                | "spop-check"
                | "ssl-hello-chk"
        )
    {
        sink.error(
            loc,
            &shown,
            format!("'no option {name}' is not supported: this option cannot be negated"),
        );
        return;
    }
    match name {
        "http-keep-alive" | "http-server-close" | "httpclose" => {
            if sink.max_args(line, &shown, skip, 0) {
                s.http_conn_mode = match (negate, name) {
                    (true, _) => HttpConnMode::KeepAlive,
                    (false, "http-keep-alive") => HttpConnMode::KeepAlive,
                    (false, "http-server-close") => HttpConnMode::ServerClose,
                    (false, _) => HttpConnMode::Close,
                };
            }
        }
        "splice-auto" | "splice-request" | "splice-response" => {
            if sink.max_args(line, &shown, skip, 0) {
                match name {
                    "splice-response" => s.splice_response = !negate,
                    "splice-request" => s.splice_request = !negate,
                    _ => s.splice_auto = !negate,
                }
            }
        }
        "redispatch"
        | "persist"
        | "allbackups"
        | "httplog"
        | "httpslog"
        | "tcplog"
        | "dontlognull"
        | "dontlog-normal"
        | "logasap"
        | "log-health-checks"
        | "http-buffer-request"
        | "abortonclose"
        | "tcpka"
        | "clitcpka"
        | "srvtcpka"
        | "tcp-smart-accept"
        | "tcp-smart-connect"
        | "nolinger"
        | "accept-invalid-http-request"
        | "accept-invalid-http-response" => {
            if let Some(a) = rest.first() {
                if (name == "redispatch" || name == "httplog") && !negate {
                    sink.error(
                        loc,
                        &shown,
                        format!("'{key} {a}' is supported by HAProxy, not yet by fulcrum"),
                    );
                } else {
                    sink.error(loc, &shown, format!("expects no argument, found '{a}'"));
                }
                return;
            }
            let v = !negate;
            match name {
                "redispatch" => s.redispatch = v,
                "persist" => s.persist = v,
                "allbackups" => s.allbackups = v,
                // The later of the two formats wins, as in HAProxy.
                "httplog" | "httpslog" => {
                    s.httplog = v;
                    s.httpslog = name == "httpslog";
                }
                "tcplog" => s.tcplog = v,
                "log-health-checks" => s.log_health_checks = v,
                "http-buffer-request" => s.http_buffer_request = v,
                "abortonclose" => s.abortonclose = v,
                "dontlog-normal" => s.dontlog_normal = v,
                "logasap" => s.logasap = v,
                "tcpka" => {
                    s.clitcpka = v;
                    s.srvtcpka = v;
                }
                "clitcpka" => {
                    if kind == SectionKind::Backend {
                        body.ignored_options.push((loc.clone(), "clitcpka"));
                    }
                    s.clitcpka = v;
                }
                "srvtcpka" => {
                    if kind == SectionKind::Frontend {
                        body.ignored_options.push((loc.clone(), "srvtcpka"));
                    }
                    s.srvtcpka = v;
                }
                "tcp-smart-accept" => {
                    if kind == SectionKind::Backend {
                        body.ignored_options.push((loc.clone(), "tcp-smart-accept"));
                    }
                    s.tcp_smart_accept = Some(v);
                }
                "tcp-smart-connect" => {
                    if kind == SectionKind::Frontend {
                        body.ignored_options
                            .push((loc.clone(), "tcp-smart-connect"));
                    }
                    s.tcp_smart_connect = v;
                }
                "nolinger" => s.nolinger = v,
                "accept-invalid-http-request" => {
                    if kind == SectionKind::Backend {
                        body.ignored_options
                            .push((loc.clone(), "accept-invalid-http-request"));
                    }
                    s.accept_invalid_request = v;
                }
                "accept-invalid-http-response" => {
                    if kind == SectionKind::Frontend {
                        body.ignored_options
                            .push((loc.clone(), "accept-invalid-http-response"));
                    }
                    s.accept_invalid_response = v;
                }
                _ => s.dontlognull = v,
            }
        }
        "forwardfor" => {
            if let Some(f) = forwardfor(line, rest, false, sink) {
                s.forwardfor = Some(f);
            }
        }
        "originalto" => {
            if let Some(f) = forwardfor(line, rest, true, sink) {
                s.originalto = Some(f);
            }
        }
        "smtpchk" | "redis-check" | "pgsql-check" | "mysql-check" | "ldap-check" | "spop-check" => {
            if let Some(check) = protocol_check(name, rest, loc, &key, sink) {
                s.httpchk = false;
                s.tcpchk = false;
                s.external_check = false;
                s.protocol_check = Some(check);
            }
        }
        "external-check" => {
            if sink.max_args(line, &key, skip, 0) {
                // The check type, as `option httpchk` and the others: the last one given wins.
                s.external_check = !negate;
                if !negate {
                    s.httpchk = false;
                    s.tcpchk = false;
                    s.protocol_check = None;
                }
            }
        }
        "ssl-hello-chk" => {
            if sink.max_args(line, &key, skip, 0) {
                s.protocol_check = Some(ProtocolCheck::SslHello);
                s.httpchk = false;
                s.tcpchk = false;
                s.external_check = false;
            }
        }
        "tcp-check" => {
            if sink.max_args(line, &key, skip, 0) {
                s.tcpchk = true;
                s.httpchk = false;
                s.protocol_check = None;
                s.external_check = false;
            }
        }
        _ => {
            if sink.max_args(line, &key, skip, 3) {
                s.httpchk = true;
                s.tcpchk = false;
                s.protocol_check = None;
                s.external_check = false;
                own_check_rules(s, body);
                let implied = httpchk(rest);
                // An `http-check send` of this section's ruleset keeps what `option httpchk` does not set.
                match &mut s.http_send {
                    Some(send) if !send.from_option => send.overwrite(implied),
                    _ => s.http_send = Some(implied),
                }
            }
        }
    }
}

/// `option smtpchk|redis-check|pgsql-check|mysql-check|ldap-check|spop-check ARGS`, with HAProxy's rules for the
/// arguments and its wording for their errors.
fn protocol_check(
    name: &str,
    rest: &[String],
    loc: &Location,
    key: &str,
    sink: &mut Sink,
) -> Option<ProtocolCheck> {
    let mut fail = |msg: String| {
        sink.error(loc, key, msg);
        None
    };
    let unexpected = |a: &str| format!("cannot handle unexpected argument '{a}'");
    // A user name or a domain goes into the request as is: no empty word, no control character or space.
    let bad_word = |w: &str| w.is_empty() || w.chars().any(|c| c.is_control() || c == ' ');
    match (name, rest) {
        ("smtpchk", [_, _, extra, ..]) => fail(unexpected(extra)),
        ("smtpchk", [verb, domain]) if verb == "HELO" || verb == "EHLO" => {
            if bad_word(domain) {
                return fail(format!(
                    "invalid domain '{domain}': spaces and control characters are not allowed"
                ));
            }
            Some(ProtocolCheck::Smtp {
                verb: verb.clone(),
                domain: domain.clone(),
            })
        }
        // HAProxy sends its default for any other hello command, or for one without a domain.
        ("smtpchk", _) => Some(ProtocolCheck::Smtp {
            verb: "HELO".into(),
            domain: "localhost".into(),
        }),
        ("pgsql-check", [u, user]) if u == "user" => {
            if bad_word(user) {
                return fail(format!("invalid user name '{user}'"));
            }
            Some(ProtocolCheck::Pgsql { user: user.clone() })
        }
        ("pgsql-check", [u, _, extra, ..]) if u == "user" => fail(unexpected(extra)),
        ("pgsql-check", [] | [_]) if rest.iter().all(|u| u == "user") => {
            fail("expects 'user <username>' as argument".into())
        }
        ("pgsql-check", _) => fail("only supports optional values: 'user'".into()),
        ("mysql-check", []) => Some(ProtocolCheck::Mysql {
            user: None,
            pre41: false,
        }),
        ("mysql-check", [u]) if u == "user" => {
            fail("'option mysql-check user' expects <username> as argument".into())
        }
        ("mysql-check", [u, user, tail @ ..]) if u == "user" => {
            let pre41 = match tail {
                [] => false,
                [v] if v == "post-41" => false,
                [v] if v == "pre-41" => true,
                [v] => {
                    return fail(format!(
                        "keyword 'user' only supports 'post-41' and 'pre-41' (got '{v}')"
                    ))
                }
                [_, extra, ..] => return fail(unexpected(extra)),
            };
            if bad_word(user) {
                return fail(format!("invalid user name '{user}'"));
            }
            Some(ProtocolCheck::Mysql {
                user: Some(user.clone()),
                pre41,
            })
        }
        ("mysql-check", [other, ..]) => fail(format!(
            "only supports optional values: 'user' (got '{other}')"
        )),
        (_, [extra, ..]) => fail(unexpected(extra)),
        ("redis-check", []) => Some(ProtocolCheck::Redis),
        ("ldap-check", []) => Some(ProtocolCheck::Ldap),
        (_, []) => Some(ProtocolCheck::Spop),
    }
}

/// `option forwardfor [except NET] [header NAME] [if-none]`, or `option originalto [except NET] [header NAME]`
/// (`original_to`).
fn forwardfor(
    line: &Line,
    rest: &[String],
    original_to: bool,
    sink: &mut Sink,
) -> Option<ForwardFor> {
    let loc = &line.location;
    let (key, header) = if original_to {
        ("option originalto", "X-Original-To")
    } else {
        ("option forwardfor", "X-Forwarded-For")
    };
    let mut f = ForwardFor {
        except: None,
        header: header.to_string(),
        if_none: false,
    };
    let mut ok = true;
    let mut i = 0;
    while i < rest.len() {
        match rest[i].as_str() {
            "except" => {
                match rest.get(i + 1).map(|n| parse_net(n)) {
                    Some(Ok(n)) => f.except = Some(n),
                    Some(Err(e)) => {
                        sink.error(loc, key, e);
                        ok = false;
                    }
                    None => {
                        sink.error(loc, key, "'except' expects a network such as 10.0.0.0/8");
                        ok = false;
                    }
                }
                i += 2;
            }
            "header" => {
                match rest.get(i + 1).filter(|h| !h.is_empty()) {
                    Some(h) => f.header = h.clone(),
                    None => {
                        sink.error(loc, key, "'header' expects a header name");
                        ok = false;
                    }
                }
                i += 2;
            }
            "if-none" if !original_to => {
                f.if_none = true;
                i += 1;
            }
            other => {
                let expected = if original_to {
                    "'except NETWORK' or 'header NAME'"
                } else {
                    "'except NETWORK', 'header NAME' or 'if-none'"
                };
                sink.error(
                    loc,
                    key,
                    format!("unexpected '{other}': expected {expected}"),
                );
                ok = false;
                i += 1;
            }
        }
    }
    ok.then_some(f)
}

fn httpchk(rest: &[String]) -> CheckSend {
    let (method, uri, version) = match rest {
        [] => (None, None, None),
        [u] => (None, Some(u), None),
        [m, u] => (Some(m), Some(u), None),
        [m, u, v, ..] => (Some(m), Some(u), Some(v)),
    };
    // `HTTP/1.1\r\nHost:\ example` carries headers (and, after an empty line, a body) after the version.
    let (version, headers, body) = match version {
        None => (None, Vec::new(), None),
        Some(v) => {
            let (head, body) = match v.split_once("\r\n\r\n") {
                Some((h, b)) => (h, Some(b.to_string())),
                None => (v.as_str(), None),
            };
            let mut parts = head.split("\r\n");
            let version = parts.next().unwrap_or_default().to_string();
            let headers = parts
                .filter_map(|h| {
                    let (n, v) = h.split_once(':')?;
                    Some((n.trim().to_string(), v.trim().to_string()))
                })
                .collect();
            (Some(version), headers, body.filter(|b| !b.is_empty()))
        }
    };
    CheckSend {
        method: method.cloned(),
        uri: uri.cloned(),
        version,
        headers,
        body,
        from_option: true,
        ..CheckSend::default()
    }
}

fn balance(line: &Line, sink: &mut Sink) -> Option<Balance> {
    let loc = &line.location;
    let Some(algo) = line.words.get(1) else {
        sink.error(loc, "balance", "expects an algorithm: roundrobin, static-rr, leastconn, first, source, uri, url_param, hdr(NAME) or random");
        return None;
    };
    let simple = |b: Balance, sink: &mut Sink| sink.max_args(line, "balance", 2, 0).then_some(b);
    match algo.as_str() {
        "roundrobin" => simple(Balance::RoundRobin, sink),
        // The spelling of a widely read keepalived + HAProxy tutorial, which HAProxy refuses: accepted with a
        // warning that names the right one, so a reader who follows it gets a running balancer. No other
        // misspelling is accepted.
        "round-robin" => {
            let b = simple(Balance::RoundRobin, sink)?;
            sink.warn(
                Severity::Warning,
                loc,
                "balance",
                "'round-robin' is not a HAProxy algorithm (HAProxy refuses it); using 'roundrobin', the right spelling",
            );
            Some(b)
        }
        "static-rr" => simple(Balance::StaticRr, sink),
        "leastconn" => simple(Balance::LeastConn, sink),
        "first" => simple(Balance::First, sink),
        "source" => simple(Balance::Source, sink),
        "uri" => {
            let (mut len, mut depth, mut whole, mut path_only) = (None, None, false, false);
            let mut i = 2;
            let mut ok = true;
            while i < line.words.len() {
                match line.word(i) {
                    "len" | "depth" => {
                        let which = line.word(i);
                        match sink.uint(
                            loc,
                            "balance",
                            line.words.get(i + 1).map(String::as_str),
                            1,
                            u64::from(u32::MAX),
                        ) {
                            Some(n) if which == "len" => len = Some(n as usize),
                            Some(n) => depth = Some(n as usize),
                            None => ok = false,
                        }
                        i += 2;
                    }
                    "whole" => {
                        whole = true;
                        i += 1;
                    }
                    "path-only" => {
                        path_only = true;
                        i += 1;
                    }
                    other => {
                        sink.error(loc, "balance", format!("unexpected '{other}' after 'uri': expected len N, depth N, whole or path-only"));
                        ok = false;
                        i += 1;
                    }
                }
            }
            ok.then_some(Balance::Uri {
                len,
                depth,
                whole,
                path_only,
            })
        }
        "url_param" => match line.words.get(2) {
            Some(p) if !p.is_empty() => {
                if let Some(extra) = line.words.get(3) {
                    sink.error(loc, "balance", format!("'url_param {p} {extra}' options are supported by HAProxy, not yet by fulcrum"));
                    return None;
                }
                Some(Balance::UrlParam(p.clone()))
            }
            _ => {
                sink.error(loc, "balance", "'url_param' expects a parameter name");
                None
            }
        },
        "hash" => {
            let Some(text) = line.words.get(2).filter(|w| !w.is_empty()) else {
                sink.error(loc, "balance", "'hash' expects a sample expression, such as 'balance hash req.cook(sessionid)'");
                return None;
            };
            if let Some(extra) = line.words.get(3) {
                sink.error(
                    loc,
                    "balance",
                    format!("unexpected '{extra}' after the expression of 'balance hash'"),
                );
                return None;
            }
            match fulcrum_sample::Expr::parse(text) {
                Ok(e) if e.needs().response => {
                    sink.error(loc, "balance", format!("'balance hash {text}': the expression reads the response, which does not exist yet when a server is chosen"));
                    None
                }
                Ok(e) => Some(Balance::Hash(super::model::SampleExpr(
                    std::sync::Arc::new(e),
                ))),
                Err(e) => {
                    sink.error(loc, "balance", format!("'balance hash {text}': {e}"));
                    None
                }
            }
        }
        a if a == "rdp-cookie" || a.starts_with("rdp-cookie(") => {
            let name = match a.strip_prefix("rdp-cookie(").map(|r| r.strip_suffix(')')) {
                None => "mstshash",
                Some(Some(n)) if !n.is_empty() => n,
                Some(_) => {
                    sink.error(
                        loc,
                        "balance",
                        format!("'balance {a}': expects 'rdp-cookie' or 'rdp-cookie(NAME)'"),
                    );
                    return None;
                }
            };
            match fulcrum_sample::Expr::parse(&format!("req.rdp_cookie({name})")) {
                Ok(e) => Some(Balance::RdpCookie(super::model::SampleExpr(
                    std::sync::Arc::new(e),
                ))),
                Err(e) => {
                    sink.error(loc, "balance", format!("'balance {a}': {e}"));
                    None
                }
            }
        }
        a if a.starts_with("hdr(") => {
            let name = a
                .strip_prefix("hdr(")
                .and_then(|r| r.strip_suffix(')'))
                .filter(|n| !n.is_empty());
            let Some(name) = name else {
                sink.error(loc, "balance", format!("'{a}': expected hdr(NAME)"));
                return None;
            };
            if let Some(extra) = line.words.get(2) {
                sink.error(
                    loc,
                    "balance",
                    format!(
                        "'{extra}' after hdr(NAME) is supported by HAProxy, not yet by fulcrum"
                    ),
                );
                return None;
            }
            Some(Balance::Hdr(name.to_string()))
        }
        a if a == "random" || a.starts_with("random(") => {
            let n = if a == "random" {
                Some(2)
            } else {
                a.strip_prefix("random(")
                    .and_then(|r| r.strip_suffix(')'))
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| *n >= 1)
            };
            match n {
                Some(n) => simple(Balance::Random(n), sink),
                None => {
                    sink.error(
                        loc,
                        "balance",
                        format!("'{a}': expected random or random(N) with N >= 1"),
                    );
                    None
                }
            }
        }
        other => {
            sink.error(loc, "balance", format!("unknown algorithm '{other}': expected roundrobin, static-rr, leastconn, first, source, uri, url_param, hdr(NAME) or random"));
            None
        }
    }
}

fn hash_type(line: &Line, s: &mut Settings, sink: &mut Sink) {
    let loc = &line.location;
    let t = match line.word(1) {
        "map-based" => HashType::MapBased,
        "consistent" => HashType::Consistent,
        other => {
            sink.error(
                loc,
                "hash-type",
                format!("expects 'map-based' or 'consistent', got '{other}'"),
            );
            return;
        }
    };
    let mut ok = true;
    let mut opts = HashOptions::default();
    for (i, a) in line.words.iter().enumerate().skip(2) {
        match (i, a.as_str()) {
            (2, "sdbm") => opts.function = HashFunction::Sdbm,
            (2, "djb2") => opts.function = HashFunction::Djb2,
            (2, "crc32") => opts.function = HashFunction::Crc32,
            (2, "wt6") => opts.function = HashFunction::Wt6,
            (2 | 3, "avalanche") if !opts.avalanche => opts.avalanche = true,
            _ => {
                sink.error(loc, "hash-type", format!("unexpected '{a}': expected 'hash-type map-based|consistent [sdbm|djb2|wt6|crc32] [avalanche]'"));
                ok = false;
            }
        }
    }
    if ok {
        s.hash_type = t;
        s.hash_options = opts;
    }
}

/// A character of an HTTP token (RFC 9110 section 5.6.2), as header names are made of.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets() {
        assert_eq!(
            parse_net("10.0.0.0/8"),
            Ok(("10.0.0.0".parse().unwrap(), 8))
        );
        assert_eq!(
            parse_net("10.0.0.0/255.255.0.0"),
            Ok(("10.0.0.0".parse().unwrap(), 16))
        );
        assert_eq!(
            parse_net("127.0.0.1"),
            Ok(("127.0.0.1".parse().unwrap(), 32))
        );
        assert_eq!(parse_net("::1/128"), Ok(("::1".parse().unwrap(), 128)));
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("10.0.0.0/255.0.255.0").is_err());
        assert!(parse_net("x/8").is_err());
    }
}
