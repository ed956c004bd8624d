//! `http-check` lines: `connect`, `send`, `expect`, `set-var`, `unset-var`, `comment` and `send-state`, kept in
//! order as the ruleset HAProxy 2.2+ runs, with HAProxy 2.6's wording for their errors.

use super::common::{Line, Sink};
use super::known;
use super::model::{
    Fmt, HeaderExpect, HeaderMatchMethod, HttpCheckAction, HttpCheckRule, HttpExpect,
    HttpExpectOptions, SampleExpr,
};
use super::section_state::{own_check_rules, Body, CheckSend, Settings};
use crate::Location;

/// Whether `text` is a log-format string fulcrum compiles; reported when not.
fn log_format_ok(text: &str, loc: &Location, key: &str, sink: &mut Sink) -> bool {
    match Fmt::parse(text) {
        Ok(_) => true,
        Err(e) => {
            sink.error(loc, key, format!("'{text}': {e}"));
            false
        }
    }
}

/// Where the next rule goes: a `connect` must come first when there is one (after `comment`, `set-var` and
/// `unset-var` rules), as HAProxy requires.
fn connect_may_come(rules: &[HttpCheckRule]) -> bool {
    rules.iter().all(|r| {
        matches!(
            r.action,
            HttpCheckAction::Comment
                | HttpCheckAction::SetVar(..)
                | HttpCheckAction::UnsetVar(_)
                | HttpCheckAction::Connect(_)
        )
    }) || rules
        .iter()
        .any(|r| matches!(r.action, HttpCheckAction::Connect(_)))
}

/// `http-check send [meth M] [uri U] [ver V] [hdr NAME VALUE]... [body TEXT] [comment TEXT]`
fn http_check_send(line: &Line, s: &mut Settings, body: &mut Body, sink: &mut Sink) {
    let loc = &line.location;
    let key = "http-check send";
    let mut send = CheckSend::default();
    let w = &line.words[2.min(line.words.len())..];
    let mut i = 0;
    while i < w.len() {
        let arg = w[i].as_str();
        let value = w.get(i + 1).cloned();
        let need = |what: &str, sink: &mut Sink| {
            sink.error(loc, key, format!("'{arg}' expects {what}"));
        };
        match arg {
            "meth" | "uri" | "ver" | "body" | "comment" => {
                let Some(v) = value else {
                    need("an argument", sink);
                    return;
                };
                match arg {
                    "meth" => send.method = Some(v),
                    "uri" => {
                        send.uri = Some(v);
                        send.uri_lf = false;
                    }
                    "ver" => {
                        if v != "HTTP/1.0" && v != "HTTP/1.1" {
                            sink.error(
                                loc,
                                key,
                                format!(
                                    "'ver {v}': fulcrum sends HTTP/1.0 or HTTP/1.1 checks only"
                                ),
                            );
                            return;
                        }
                        send.version = Some(v);
                    }
                    "body" => {
                        send.body = Some(v);
                        send.body_lf = false;
                    }
                    _ => {}
                }
                i += 2;
            }
            "hdr" => {
                let (Some(name), Some(v)) = (value, w.get(i + 2).cloned()) else {
                    need("a header name and a value", sink);
                    return;
                };
                if !log_format_ok(&v, loc, key, sink) {
                    return;
                }
                send.headers.push((name, v));
                send.headers_lf = true;
                i += 3;
            }
            "uri-lf" | "body-lf" => {
                let Some(v) = value else {
                    need("an argument", sink);
                    return;
                };
                if !log_format_ok(&v, loc, key, sink) {
                    return;
                }
                if arg == "uri-lf" {
                    send.uri = Some(v);
                    send.uri_lf = true;
                } else {
                    send.body = Some(v);
                    send.body_lf = true;
                }
                i += 2;
            }
            _ => {
                sink.error(loc, key, format!("expects 'comment', 'meth', 'uri', 'uri-lf', 'ver', 'hdr', 'body' or 'body-lf' but got '{arg}' as argument"));
                return;
            }
        }
    }
    own_check_rules(s, body);
    // One request per connection: a second `send`, or one after an `expect`, needs `http-check connect` between.
    let since_connect = s
        .http_rules
        .iter()
        .rev()
        .take_while(|r| !matches!(r.action, HttpCheckAction::Connect(_)));
    let busy = since_connect.clone().any(|r| {
        matches!(
            r.action,
            HttpCheckAction::Send(_) | HttpCheckAction::Expect(..)
        )
    });
    if busy {
        sink.error(
            loc,
            key,
            "unable to add http-check send rule (missing connect rule).",
        );
        return;
    }
    s.http_check_rules = true;
    let first = !s
        .http_rules
        .iter()
        .any(|r| matches!(r.action, HttpCheckAction::Send(_)));
    let request = if first {
        // The first request is merged with `option httpchk`'s, whichever comes first.
        match &mut s.http_send {
            Some(implied) => {
                implied.overwrite(send);
                implied.from_option = false;
            }
            None => s.http_send = Some(send),
        }
        CheckSend::default().resolve()
    } else {
        send.resolve()
    };
    s.http_rules.push(HttpCheckRule {
        action: HttpCheckAction::Send(request),
        comment: None,
    });
}

pub(super) fn http_check(line: &Line, s: &mut Settings, body: &mut Body, sink: &mut Sink) {
    let loc = &line.location;
    let action = line.word(1);
    let key = format!("http-check {action}");
    if action.is_empty() {
        sink.error(loc, "http-check", "expects an action such as 'expect'");
        return;
    }
    if action == "send" {
        http_check_send(line, s, body, sink);
        return;
    }
    if action == "send-state" || action == "disable-on-404" {
        if sink.max_args(line, &key, 2, 0) {
            if action == "send-state" {
                s.http_send_state = true;
            } else {
                s.http_disable_on_404 = true;
            }
            s.http_check_rules = true;
        }
        return;
    }
    let args = &line.words[2.min(line.words.len())..];
    let push = |s: &mut Settings, body: &mut Body, action, comment| {
        own_check_rules(s, body);
        s.http_check_rules = true;
        s.http_rules.push(HttpCheckRule { action, comment });
    };
    if action == "comment" {
        match args {
            [text] => push(s, body, HttpCheckAction::Comment, Some(text.clone())),
            [] => sink.error(loc, &key, "expects a string as argument."),
            [_, extra, ..] => sink.error(loc, &key, format!("unexpected argument '{extra}'.")),
        }
        return;
    }
    if action == "connect" {
        let Some((connect, comment)) = super::tcp_check::connect_options(args, loc, &key, sink)
        else {
            return;
        };
        let rules: &[HttpCheckRule] = if body.own_check_rules {
            &s.http_rules
        } else {
            &[]
        };
        if !connect_may_come(rules) {
            sink.error(loc, &key, "first step MUST also be a 'connect', optionally preceded by a 'set-var', an 'unset-var' or a 'comment', when there is a 'connect' step in the tcp-check ruleset.");
            return;
        }
        push(s, body, HttpCheckAction::Connect(connect), comment);
        return;
    }
    if action.starts_with("set-var") || action.starts_with("unset-var") {
        if let Some((name, conds, value)) =
            super::tcp_check::check_var(action, args, loc, &key, sink)
        {
            let act = match value {
                Some(v) => HttpCheckAction::SetVar(name, v, conds),
                None => HttpCheckAction::UnsetVar(name),
            };
            push(s, body, act, None);
        }
        return;
    }
    if action != "expect" {
        if known::HTTP_CHECK_UNSUPPORTED.contains(&action) {
            sink.unsupported(loc, &key);
        } else {
            sink.error(loc, &key, format!("unknown http-check action '{action}'"));
        }
        return;
    }
    let w = &line.words[2..];
    let mut opts = HttpExpectOptions::default();
    let mut i = 0;
    let mut found = None;
    let fail = |sink: &mut Sink, msg: String| sink.error(loc, &key, msg);
    while i < w.len() {
        let mut word = w[i].as_str();
        let value = w.get(i + 1);
        if let Some(bare) = word.strip_prefix('!') {
            opts.inverse = true;
            if bare.is_empty() {
                i += 1;
                continue;
            }
            word = bare;
        }
        match word {
            "comment" | "ok-status" | "error-status" | "tout-status" | "on-success"
            | "on-error" | "min-recv" => {
                let Some(v) = value else {
                    return fail(sink, format!("'{word}' expects an argument."));
                };
                let pick = |allowed: &[&str]| allowed.contains(&v.as_str()).then(|| v.clone());
                match word {
                    "comment" => opts.comment = Some(v.clone()),
                    "ok-status" => match pick(&["L4OK", "L6OK", "L7OK", "L7OKC"]) {
                        Some(st) => opts.ok_status = Some(st),
                        None => return fail(sink, format!("'ok-status' only supports 'L4OK', 'L6OK', 'L7OK' or 'L7OKC' status (got '{v}').")),
                    },
                    "error-status" => match pick(&["L7RSP", "L7STS", "L6RSP", "L4CON"]) {
                        Some(st) => opts.error_status = Some(st),
                        None => return fail(sink, format!("'error-status' only supports 'L7RSP', 'L7STS', 'L6RSP' or 'L4CON' status (got '{v}').")),
                    },
                    "tout-status" => match pick(&["L7TOUT", "L6TOUT", "L4TOUT"]) {
                        Some(st) => opts.tout_status = Some(st),
                        None => return fail(sink, format!("'tout-status' only supports 'L7TOUT', 'L6TOUT', or 'L4TOUT' status (got '{v}').")),
                    },
                    "min-recv" => match v.parse::<usize>() {
                        Ok(n) => opts.min_recv = Some(n),
                        Err(_) => return fail(sink, format!("'min-recv' expects an integer, got '{v}'.")),
                    },
                    _ => match Fmt::parse(v) {
                        Err(e) => return fail(sink, format!("'{word}': '{v}': {e}")),
                        Ok(_) if word == "on-success" => opts.on_success = Some(v.clone()),
                        Ok(_) => opts.on_error = Some(v.clone()),
                    },
                }
                i += 2;
                continue;
            }
            "status-code" => {
                let Some(v) = value else {
                    return fail(sink, "'status-code' expects an expression.".into());
                };
                match fulcrum_sample::Expr::parse(v) {
                    Ok(e) => opts.status_code = Some(SampleExpr(std::sync::Arc::new(e))),
                    Err(e) => return fail(sink, format!("'status-code': '{v}': {e}")),
                }
                i += 2;
                continue;
            }
            "status" | "rstatus" | "string" | "rstring" | "string-lf" if found.is_none() => {
                let Some(p) = value else {
                    return fail(sink, format!("'{word}' expects a pattern"));
                };
                let regex_ok = |sink: &mut Sink| match regex::bytes::Regex::new(p) {
                    Ok(_) => true,
                    Err(e) => {
                        sink.error(
                            loc,
                            &key,
                            format!("'{word}' : regex '{p}' does not compile: {e}"),
                        );
                        false
                    }
                };
                found = Some(match word {
                    "status" => match p.parse::<u16>() {
                        Ok(c) => HttpExpect::Status(c),
                        Err(_) => match status_ranges(p) {
                            Some(list) => HttpExpect::Statuses(list),
                            None => {
                                return fail(sink, format!("expects an HTTP status code, a list or a range of them (such as '200-399,404'), got '{p}'"))
                            }
                        },
                    },
                    "string" => HttpExpect::String(p.clone()),
                    "string-lf" => match Fmt::parse(p) {
                        Ok(_) => HttpExpect::StringLf(p.clone()),
                        Err(e) => return fail(sink, format!("'{word}': '{p}': {e}")),
                    },
                    "rstatus" if regex_ok(sink) => HttpExpect::RStatus(p.clone()),
                    "rstring" if regex_ok(sink) => HttpExpect::RString(p.clone()),
                    _ => return,
                });
                i += 2;
                continue;
            }
            "hdr" | "fhdr" if found.is_none() => match expect_header(&w[i + 1..], word == "fhdr") {
                Ok((h, used)) => {
                    found = Some(HttpExpect::Header(h));
                    i += 1 + used;
                    continue;
                }
                Err(msg) => return fail(sink, format!("'{word}': {msg}")),
            },
            // `custom` is HAProxy's own, for its built-in checks: a configuration cannot give its
            // function, so whatever follows is refused, as HAProxy refuses it.
            "custom" => {
                let next = value.map_or("", |v| v.as_str());
                return fail(sink, format!("only supports min-recv, [!]string', '[!]rstring', '[!]string-lf', '[!]status', '[!]rstatus', [!]hdr, [!]fhdr or comment but got '{next}' as argument."));
            }
            _ => {
                return fail(sink, format!("only supports min-recv, [!]string', '[!]rstring', '[!]string-lf', '[!]status', '[!]rstatus', [!]hdr, [!]fhdr or comment but got '{word}' as argument."));
            }
        }
    }
    let Some(expect) = found else {
        return fail(
            sink,
            "expects 'status CODE', 'rstatus REGEX', 'string TEXT', 'rstring REGEX', 'hdr ...' or 'fhdr ...'".into(),
        );
    };
    // Several expect rules judge the same response in order; the first that fails ends the check.
    push(s, body, HttpCheckAction::Expect(expect, opts), None);
}

/// The words after `http-check expect hdr|fhdr`: `name [-m METH] NAME [value [-m METH] VALUE]`; the match and
/// how many words it used.
fn expect_header(w: &[String], full: bool) -> Result<(HeaderExpect, usize), String> {
    let mut i = 0;
    let part =
        |key: &str, i: &mut usize| -> Result<Option<(HeaderMatchMethod, String, bool)>, String> {
            let lf = match w.get(*i).map(String::as_str) {
                Some(k) if k == key => false,
                Some(k) if k == format!("{key}-lf") => true,
                _ => return Ok(None),
            };
            *i += 1;
            let mut method = HeaderMatchMethod::Str;
            if w.get(*i).map(String::as_str) == Some("-m") {
                method = match w.get(*i + 1).map(String::as_str) {
                    Some("str") => HeaderMatchMethod::Str,
                    Some("beg") => HeaderMatchMethod::Beg,
                    Some("end") => HeaderMatchMethod::End,
                    Some("sub") => HeaderMatchMethod::Sub,
                    Some("reg") => HeaderMatchMethod::Reg,
                    other => {
                        return Err(format!(
                            "'{key} -m' expects 'str', 'beg', 'end', 'sub' or 'reg' (got '{}')",
                            other.unwrap_or("")
                        ))
                    }
                };
                *i += 2;
            }
            let Some(pattern) = w.get(*i) else {
                return Err(format!("'{key}' expects a pattern"));
            };
            *i += 1;
            if method == HeaderMatchMethod::Reg && lf {
                return Err(format!("'{key}-lf' takes no regular expression ('-m reg')"));
            }
            if method == HeaderMatchMethod::Reg {
                if let Err(e) = regex::bytes::Regex::new(pattern) {
                    return Err(format!("regex '{pattern}' does not compile: {e}"));
                }
            }
            if lf {
                if let Err(e) = Fmt::parse(pattern) {
                    return Err(format!("'{pattern}': {e}"));
                }
            }
            Ok(Some((method, pattern.clone(), lf)))
        };
    let Some((name_method, name, name_lf)) = part("name", &mut i)? else {
        return Err(
            "expects 'name [-m METHOD] NAME' (optionally followed by 'value [-m METHOD] VALUE')"
                .into(),
        );
    };
    let value = part("value", &mut i)?;
    let value_lf = value.as_ref().is_some_and(|v| v.2);
    Ok((
        HeaderExpect {
            full,
            name: (name_method, name),
            value: value.map(|(m, v, _)| (m, v)),
            name_lf,
            value_lf,
        },
        i,
    ))
}

/// `200-399,404`: inclusive ranges of status codes; `None` when malformed.
fn status_ranges(text: &str) -> Option<Vec<(u16, u16)>> {
    text.split(',')
        .map(|part| {
            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
            let (lo, hi): (u16, u16) = (lo.parse().ok()?, hi.parse().ok()?);
            (lo <= hi).then_some((lo, hi))
        })
        .collect()
}
