//! `tcp-check` rules (`option tcp-check`): `connect`, `send`, `send-binary`, `expect`, `comment`, parsed and
//! validated with HAProxy 2.6's wording for their errors.

use std::net::IpAddr;

use super::common::{Line, Sink};
use super::model::{
    BindProto, CheckVarValue, Fmt, SampleExpr, TcpCheckAction, TcpCheckConnect, TcpCheckExpect,
    TcpCheckRule,
};
use crate::Location;

/// Statuses `ok-status` accepts.
const OK_STATUSES: &[&str] = &["L4OK", "L6OK", "L7OK", "L7OKC"];
/// Statuses `error-status` accepts.
const ERROR_STATUSES: &[&str] = &["L7RSP", "L7STS", "L6RSP", "L4CON"];
/// Statuses `tout-status` accepts.
const TOUT_STATUSES: &[&str] = &["L7TOUT", "L6TOUT", "L4TOUT"];

/// Where a section's `tcp-check` lines go: its ruleset (inherited from the defaults until its first line), whether
/// it wrote any, and whether the ruleset is already its own.
pub struct Ruleset<'a> {
    pub rules: &'a mut Vec<TcpCheckRule>,
    pub lines: &'a mut bool,
    pub own: &'a mut bool,
}

/// Starts the section's own tcp-check ruleset on its first `tcp-check` line: those of the defaults section are
/// then no longer inherited.
fn own_rules(r: &mut Ruleset<'_>) {
    if !*r.own {
        *r.own = true;
        r.rules.clear();
    }
}

/// One `tcp-check ACTION ...` line.
pub fn tcp_check(line: &Line, mut r: Ruleset<'_>, sink: &mut Sink) {
    let loc = &line.location;
    let action = line.word(1);
    let key = format!("tcp-check {action}");
    let args = &line.words[2.min(line.words.len())..];
    let rule = match action {
        "comment" => match args {
            [text] => TcpCheckRule {
                action: TcpCheckAction::Comment,
                comment: Some(text.clone()),
            },
            [] => return sink.error(loc, &key, "expects a string as argument."),
            [_, extra, ..] => {
                return sink.error(loc, &key, format!("unexpected argument '{extra}'."))
            }
        },
        "connect" => {
            let Some((c, comment)) = connect_options(args, loc, &key, sink) else {
                return;
            };
            let rule = TcpCheckRule {
                action: TcpCheckAction::Connect(c),
                comment,
            };
            // Inherited rules are dropped by this section's first line.
            let existing: &[TcpCheckRule] = if *r.own {
                r.rules
            } else {
                &[]
            };
            let first = existing
                .iter()
                .find(|r| {
                    !matches!(
                        r.action,
                        TcpCheckAction::Comment
                            | TcpCheckAction::SetVar(..)
                            | TcpCheckAction::UnsetVar(_)
                    )
                });
            if !matches!(first.map(|r| &r.action), None | Some(TcpCheckAction::Connect(_)))
            {
                return sink.error(loc, &key, "first step MUST also be a 'connect', optionally preceded by a 'set-var', an 'unset-var' or a 'comment', when there is a 'connect' step in the tcp-check ruleset.");
            }
            rule
        }
        "send" | "send-binary" => {
            let (data, comment) = match args {
                [] => {
                    return sink.error(
                        loc,
                        &key,
                        format!(
                            "'{}' expects a send as argument.",
                            if action == "send" { "string" } else { "binary" }
                        ),
                    )
                }
                [data] => (data, None),
                [data, c, text] if c == "comment" => (data, Some(text.clone())),
                [_, c] if c == "comment" => {
                    return sink.error(loc, &key, "'comment' expects a string as argument.")
                }
                [_, extra, ..] => {
                    return sink.error(
                        loc,
                        &key,
                        format!("expects 'comment' but got '{extra}' as argument."),
                    )
                }
            };
            let bytes = if action == "send" {
                data.as_bytes().to_vec()
            } else {
                match fulcrum_hex(data) {
                    Some(b) => b,
                    None => {
                        return sink.error(
                            loc,
                            &key,
                            format!("'{data}' is not a valid hexadecimal string."),
                        )
                    }
                }
            };
            TcpCheckRule {
                action: TcpCheckAction::Send(bytes),
                comment,
            }
        }
        "expect" => match expect(args, loc, &key, sink) {
            Some(rule) => rule,
            None => return,
        },
        "send-lf" | "send-binary-lf" => {
            let (text, comment) = match args {
                [text] => (text, None),
                [text, c, v] if c == "comment" => (text, Some(v.clone())),
                [] => return sink.error(loc, &key, "expects a log-format string as argument."),
                [_, extra, ..] => {
                    return sink.error(
                        loc,
                        &key,
                        format!("expects 'comment' but got '{extra}' as argument."),
                    )
                }
            };
            let format = match super::model::Fmt::parse(text) {
                Ok(f) => f,
                Err(e) => return sink.error(loc, &key, format!("'{text}': {e}")),
            };
            TcpCheckRule {
                action: TcpCheckAction::SendLf {
                    format,
                    binary: action == "send-binary-lf",
                },
                comment,
            }
        }
        "" => return sink.error(loc, "tcp-check", "expects an action such as 'expect'"),
        a if a.starts_with("set-var") || a.starts_with("unset-var") => {
            let Some((name, conds, value)) = check_var(a, args, loc, &key, sink)
            else {
                return;
            };
            TcpCheckRule {
                action: match value {
                    Some(v) => TcpCheckAction::SetVar(name, v, conds),
                    None => TcpCheckAction::UnsetVar(name),
                },
                comment: None,
            }
        }
        other => {
            return sink.error(
                loc,
                "tcp-check",
                format!("'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', 'expect', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got '{other}'"),
            )
        }
    };
    own_rules(&mut r);
    *r.lines = true;
    r.rules.push(rule);
}

fn fulcrum_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The options of a `tcp-check connect` or `http-check connect` line, and its comment.
pub(super) fn connect_options(
    args: &[String],
    loc: &crate::Location,
    key: &str,
    sink: &mut Sink,
) -> Option<(TcpCheckConnect, Option<String>)> {
    let mut c = TcpCheckConnect::default();
    let mut comment = None;
    let mut i = 0;
    while i < args.len() {
        let word = args[i].as_str();
        let value = args.get(i + 1);
        match word {
            "default" => c.default = true,
            "send-proxy" => c.send_proxy = true,
            "linger" => c.linger = true,
            "port" | "addr" | "comment" => {
                let Some(v) = value else {
                    sink.error(loc, key, format!("'{word}' expects an argument."));
                    return None;
                };
                match word {
                    "port" => match v.parse::<u16>() {
                        Ok(p) if p > 0 => c.port = Some(p),
                        _ => {
                            sink.error(loc, key, format!("expects a valid TCP port (from range 1 to 65535) or a sample expression, got {v}."));
                            return None;
                        }
                    },
                    "addr" => match (v.parse::<IpAddr>(), v.parse::<std::net::SocketAddr>()) {
                        (Ok(a), _) => c.addr = Some(a),
                        // `addr IP:PORT`: the port too, unless `port` says otherwise.
                        (_, Ok(sa)) => {
                            c.addr = Some(sa.ip());
                            c.port = c.port.or(Some(sa.port()).filter(|&p| p > 0));
                        }
                        _ => {
                            sink.error(
                                loc,
                                key,
                                format!("'addr' expects an IP address, got '{v}'."),
                            );
                            return None;
                        }
                    },
                    _ => comment = Some(v.clone()),
                }
                i += 1;
            }
            "ssl" => c.ssl = true,
            "sni" | "alpn" => {
                let Some(v) = value.filter(|v| !v.is_empty()) else {
                    sink.error(loc, key, format!("'{word}' expects an argument."));
                    return None;
                };
                if word == "sni" {
                    c.sni = Some(v.clone());
                } else {
                    c.alpn = Some(v.split(',').map(str::to_owned).collect());
                }
                i += 1;
            }
            "via-socks4" => c.via_socks4 = true,
            "proto" => {
                let Some(v) = value else {
                    sink.error(loc, key, format!("'{word}' expects an argument."));
                    return None;
                };
                // HAProxy's multiplexers: TCP checks take `none` only, HTTP checks an HTTP one.
                let http = key.starts_with("http-check");
                let what = if http { "http-check" } else { "tcp-check" };
                match (v.as_str(), http) {
                    ("none", false) => {}
                    ("h1", true) => c.proto = Some(BindProto::H1),
                    ("h2", true) => c.proto = Some(BindProto::H2),
                    ("fcgi", true) => {
                        sink.error(
                            loc,
                            key,
                            "'proto fcgi' is supported by HAProxy, not yet by fulcrum".to_string(),
                        );
                        return None;
                    }
                    ("none" | "h1" | "h2" | "fcgi", _) => {
                        sink.error(
                            loc,
                            key,
                            format!("'proto' : invalid MUX protocol '{v}' for {what}."),
                        );
                        return None;
                    }
                    _ => {
                        sink.error(loc, key, format!("'proto' : unknown MUX protocol '{v}'."));
                        return None;
                    }
                }
                i += 1;
            }
            other => {
                sink.error(loc, key, format!("expects 'comment', 'port', 'addr', 'send-proxy', 'ssl', 'sni', 'alpn' or 'via-socks4', 'linger', 'default' but got '{other}' as argument."));
                return None;
            }
        }
        i += 1;
    }
    Some((c, comment))
}

fn expect(
    args: &[String],
    loc: &crate::Location,
    key: &str,
    sink: &mut Sink,
) -> Option<TcpCheckRule> {
    let mut e = TcpCheckExpect::default();
    let mut comment = None;
    let mut pattern_kind: Option<String> = None;
    let mut i = 0;
    let fail = |sink: &mut Sink, msg: String| {
        sink.error(loc, key, msg);
        None
    };
    while i < args.len() {
        let word = args[i].as_str();
        let value = args.get(i + 1);
        let (inverse, bare) = match word.strip_prefix('!') {
            Some(b) => (true, b),
            None => (false, word),
        };
        match bare {
            "string" | "rstring" | "binary" | "rbinary" if pattern_kind.is_none() => {
                let Some(v) = value else {
                    return fail(sink, format!("'{bare}' expects a <pattern> as argument."));
                };
                e.inverse = inverse;
                e.pattern = v.clone();
                match bare {
                    "rstring" | "rbinary" => {
                        if let Err(err) = regex::bytes::Regex::new(v) {
                            return fail(sink, format!("'{bare}' : regex '{v}' does not compile: {err}"));
                        }
                    }
                    "binary" if fulcrum_hex(v).is_none() => {
                        return fail(sink, format!("'{v}' is not a valid hexadecimal string."));
                    }
                    _ => {}
                }
                pattern_kind = Some(bare.to_owned());
                i += 2;
                continue;
            }
            "string-lf" | "binary-lf" if pattern_kind.is_none() => {
                let Some(v) = value else {
                    return fail(sink, format!("'{bare}' expects a <pattern> as argument."));
                };
                if let Err(err) = super::model::Fmt::parse(v) {
                    return fail(sink, format!("'{bare}': '{v}': {err}"));
                }
                e.inverse = inverse;
                e.pattern = v.clone();
                pattern_kind = Some(bare.to_owned());
                i += 2;
                continue;
            }
            "custom" => {
                return fail(
                    sink,
                    format!("'{bare}' is supported by HAProxy, not yet by fulcrum"),
                )
            }
            _ if inverse => {
                return fail(sink, format!("only supports min-recv, '[!]binary', '[!]string', '[!]rstring', '[!]string-lf''[!]rbinary', '[!]binary-lf' or comment but got '{word}' as argument."))
            }
            "min-recv" | "comment" | "ok-status" | "error-status" | "tout-status" | "on-success"
            | "on-error" => {
                let Some(v) = value else {
                    return fail(sink, format!("'{word}' expects an argument."));
                };
                let status = |allowed: &[&str], v: &str| allowed.contains(&v).then(|| v.to_owned());
                match word {
                    "min-recv" => match v.parse::<usize>() {
                        Ok(n) => e.min_recv = Some(n),
                        Err(_) => return fail(sink, format!("'min-recv' expects an integer, got '{v}'.")),
                    },
                    "comment" => comment = Some(v.clone()),
                    "ok-status" => match status(OK_STATUSES, v) {
                        Some(st) => e.ok_status = Some(st),
                        None => return fail(sink, format!("'ok-status' only supports 'L4OK', 'L6OK', 'L7OK' or 'L7OKC' status (got '{v}').")),
                    },
                    "error-status" => match status(ERROR_STATUSES, v) {
                        Some(st) => e.error_status = Some(st),
                        None => return fail(sink, format!("'error-status' only supports 'L7RSP', 'L7STS', 'L6RSP' or 'L4CON' status (got '{v}').")),
                    },
                    "tout-status" => match status(TOUT_STATUSES, v) {
                        Some(st) => e.tout_status = Some(st),
                        None => return fail(sink, format!("'tout-status' only supports 'L7TOUT', 'L6TOUT', or 'L4TOUT' status (got '{v}').")),
                    },
                    _ => {
                        if let Err(err) = super::model::Fmt::parse(v) {
                            return fail(sink, format!("'{word}': '{v}': {err}"));
                        }
                        if word == "on-success" {
                            e.on_success = Some(v.clone());
                        } else {
                            e.on_error = Some(v.clone());
                        }
                    }
                }
                i += 2;
                continue;
            }
            "status-code" => {
                let Some(v) = value else {
                    return fail(sink, "'status-code' expects an expression.".into());
                };
                match fulcrum_sample::Expr::parse(v) {
                    Ok(x) => e.status_code = Some(super::model::SampleExpr(std::sync::Arc::new(x))),
                    Err(err) => return fail(sink, format!("'status-code': '{v}': {err}")),
                }
                i += 2;
                continue;
            }
            _ => {
                return fail(sink, format!("only supports min-recv, '[!]binary', '[!]string', '[!]rstring', '[!]string-lf''[!]rbinary', '[!]binary-lf' or comment but got '{word}' as argument."))
            }
        }
    }
    let Some(kind) = pattern_kind else {
        return fail(
            sink,
            "expects a pattern: '[!]string', '[!]rstring', '[!]binary' or '[!]rbinary'".into(),
        );
    };
    e.kind = kind;
    Some(TcpCheckRule {
        action: TcpCheckAction::Expect(e),
        comment,
    })
}
/// `set-var(check.NAME) EXPR`, `set-var-fmt(check.NAME) FMT`, `unset-var(check.NAME)` of a check ruleset
/// (`http-check` or `tcp-check`): the action, or `None` once reported.
pub(super) fn check_var(
    action: &str,
    args: &[String],
    loc: &Location,
    key: &str,
    sink: &mut Sink,
) -> Option<(
    fulcrum_sample::VarName,
    fulcrum_sample::VarConds,
    Option<CheckVarValue>,
)> {
    let (base, rest) = action.split_once('(')?;
    let Some(inner) = rest.strip_suffix(')') else {
        sink.error(
            loc,
            key,
            format!("'{action}': missing ')' after the variable name"),
        );
        return None;
    };
    // `set-var(NAME,COND...)`: the conditions after the name.
    let mut parts = inner.split(',');
    let inner = parts.next().unwrap_or("");
    let conds = match fulcrum_sample::VarConds::parse(parts.map(str::trim)) {
        Ok(c) => c,
        Err(e) => {
            sink.error(loc, key, format!("'{action}': {e}"));
            return None;
        }
    };
    if base == "unset-var" && !conds.is_empty() {
        sink.error(
            loc,
            key,
            format!("'{action}': 'unset-var' takes no condition"),
        );
        return None;
    }
    let name: fulcrum_sample::VarName = match inner.parse() {
        Ok(n) => n,
        Err(e) => {
            sink.error(loc, key, e.to_string());
            return None;
        }
    };
    if name.scope() != fulcrum_sample::Scope::Check {
        sink.error(
            loc,
            key,
            format!("'{name}': fulcrum keeps only 'check.' variables in health checks"),
        );
        return None;
    }
    let value = match (base, args) {
        ("unset-var", []) => return Some((name, conds, None)),
        ("set-var" | "set-var-fmt", [v]) => v,
        ("unset-var", [extra, ..]) | (_, [_, extra, ..]) => {
            sink.error(loc, key, format!("unexpected argument '{extra}'."));
            return None;
        }
        ("set-var", []) => {
            sink.error(loc, key, format!("'{action}' expects a sample expression"));
            return None;
        }
        ("set-var-fmt", []) => {
            sink.error(loc, key, format!("'{action}' expects a log-format string"));
            return None;
        }
        _ => return None,
    };
    let value = if base == "set-var" {
        match fulcrum_sample::Expr::parse(value) {
            Ok(e) => CheckVarValue::Expr(SampleExpr(std::sync::Arc::new(e))),
            Err(e) => {
                sink.error(loc, key, format!("'{value}': {e}"));
                return None;
            }
        }
    } else {
        match Fmt::parse(value) {
            Ok(f) => CheckVarValue::Format(f),
            Err(e) => {
                sink.error(loc, key, format!("'{value}': {e}"));
                return None;
            }
        }
    };
    Some((name, conds, Some(value)))
}
