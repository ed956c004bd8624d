//! One command: words in, HAProxy 2.6's answer out. Answers are the command's output without the empty line
//! that ends every answer (the session adds it); a few HAProxy messages have no newline of their own, so they
//! end up followed by a single newline, exactly as HAProxy prints them.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

use super::format::{render_info, render_servers_state};
use super::{
    AclError, AdminState, CheckChange, Control, CtlError, ForcedHealth, Level, MuxProto, NewServer,
    Weight, MAX_WEIGHT,
};

/// What a command asks of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Output to send (the session then adds the closing newline).
    Text(String),
    /// Output to send without the closing newline (haproxy 2.6 ends a few refusals so).
    Bare(String),
    /// `quit`: close the connection.
    Quit,
    /// `prompt`: toggle the interactive mode.
    TogglePrompt,
    /// `user` / `operator`: lower the session's level.
    SetLevel(Level),
    /// `experimental-mode on|off`: allow the experimental commands (`set var`) in this session.
    Experimental(bool),
}

/// The commands fulcrum implements: usage, what it does. Sorted like HAProxy's list, with `help`, `prompt` and
/// `quit` last.
const COMMANDS: &[(&str, &str)] = &[
    ("add acl <acl> <pattern>", "add an acl entry"),
    (
        "add map [@<ver>] <map> <key> <val>",
        "add a map entry (payload supported instead of key/val)",
    ),
    (
        "add server <bk>/<srv>",
        "add a server at run time, in maintenance (ADDR:PORT [weight N] [maxconn N] [check] [inter T] [rise N] [fall N] [agent-check agent-port N] [track B/S] [backup] [proto h1] ...)",
    ),
    ("clear acl <acl>", "clear the contents of this acl"),
    ("clear map [@<ver>] <map>", "clear the contents of this map"),
    (
        "commit map @<ver> <map>",
        "commit a map's version: the converters read it from now on",
    ),
    (
        "del acl <acl> [<key>|#<ref>]",
        "delete acl entries matching <key>",
    ),
    (
        "del map <map> [<key>|#<ref>]",
        "delete map entries matching <key>",
    ),
    (
        "del server <bk>/<srv>",
        "remove a server that is in maintenance and has no connection",
    ),
    (
        "disable agent",
        "stop a server's agent checks",
    ),
    (
        "disable health",
        "freeze a server's state: health checks stop changing it",
    ),
    (
        "disable server <bk>/<srv>",
        "put a server in maintenance (same as 'set server <bk>/<srv> state maint')",
    ),
    (
        "enable agent",
        "run a server's agent checks (again)",
    ),
    (
        "enable health",
        "let the health checks change a server's state again",
    ),
    (
        "enable server <bk>/<srv>",
        "take a server out of maintenance",
    ),
    ("experimental-mode [on|off]", "show/enable/disable experimental commands (set var)"),
    ("get var <name>", "retrieve contents of a process-wide variable"),
    (
        "get map <map> <value>",
        "report the keys and values matching a sample for a map",
    ),
    (
        "get weight <bk>/<srv>",
        "print a server's current and configured weights",
    ),
    ("operator", "lower this session's level to operator"),
    (
        "prepare map <map>",
        "create a new empty version of a map for an atomic replacement",
    ),
    (
        "set map <map> [<key>|#<ref>] <value>",
        "modify a map entry",
    ),
    (
        "set server <bk>/<srv> [opts]",
        "change a server's state (ready, drain, maint) or weight",
    ),
    (
        "set var <name> [expr|fmt] <v>",
        "set a process-wide variable (experimental mode)",
    ),
    (
        "set weight <bk>/<srv> <w>[%]",
        "change a server's weight (same as 'set server <bk>/<srv> weight')",
    ),
    (
        "show acl [<acl>]",
        "report available acls or dump an acl's contents",
    ),
    ("show backend", "list the backends"),
    (
        "show map [@<ver>] [<map>]",
        "report available maps or dump a map's contents",
    ),
    ("show cli level", "print this session's level"),
    ("show info", "information about the running process"),
    (
        "show servers state [<backend>]",
        "server states in the server-state-file format (all or one backend)",
    ),
    (
        "show stat",
        "counters of every proxy and server, as CSV (`show stat json`: as JSON, `show stat typed`: a line per field)",
    ),
    ("user", "lower this session's level to user"),
    ("help [<command>]", "list all the commands, or those starting with <command>"),
    ("prompt", "toggle the interactive mode with a prompt"),
    ("quit", "close the connection"),
];

fn help_line(out: &mut String, usage: &str, what: &str) {
    let _ = writeln!(out, "  {usage:<40}: {what}");
}

/// The help lines whose usage starts with `words` (every line when empty), then `help`, `prompt` and `quit`.
pub fn help_lines(words: &[&str]) -> String {
    let mut out = String::new();
    let n = COMMANDS.len() - 3;
    for (usage, what) in &COMMANDS[..n] {
        let u: Vec<&str> = usage.split_whitespace().collect();
        if words.len() <= u.len() && u.iter().zip(words).all(|(a, b)| a == b) {
            help_line(&mut out, usage, what);
        }
    }
    for (usage, what) in &COMMANDS[n..] {
        help_line(&mut out, usage, what);
    }
    out
}

/// HAProxy's answer to an unknown command: the commands sharing the most leading words with it, or all.
fn unknown(words: &[&str]) -> String {
    let n = COMMANDS.len() - 3;
    let shared = |usage: &str| {
        usage
            .split_whitespace()
            .zip(words)
            .take_while(|(a, b)| a == *b)
            .count()
    };
    let best = COMMANDS[..n]
        .iter()
        .map(|(u, _)| shared(u))
        .max()
        .unwrap_or(0);
    if best == 0 {
        return format!(
            "Unknown command. Please enter one of the following commands only:\n{}",
            help_lines(&[])
        );
    }
    let mut out =
        String::from("Unknown command, but maybe one of the following ones is a better match:\n");
    for (usage, what) in &COMMANDS[..n] {
        if shared(usage) == best {
            help_line(&mut out, usage, what);
        }
    }
    for (usage, what) in &COMMANDS[n..] {
        help_line(&mut out, usage, what);
    }
    out
}

const DENIED: &str = "Permission denied\n";
const REQUIRE_BS: &str = "Require 'backend/server'.\n";

fn text(s: impl Into<String>) -> Reply {
    Reply::Text(s.into())
}

/// HAProxy's message for a refusal; `bare` for the commands whose messages have no newline of their own.
fn refusal(e: &CtlError, bare: bool) -> String {
    let msg = match e {
        CtlError::NoBackend => "No such backend.",
        CtlError::NoServer => "No such server.",
        CtlError::StaticWeight => {
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'."
        }
        CtlError::NotDynamic => {
            "Backend must use a dynamic load balancing to support dynamic servers."
        }
        CtlError::AlreadyExists => "Already exists a server with the same name in backend.",
        CtlError::NotInMaint => "Only servers in maintenance mode can be deleted.",
        CtlError::Referenced => "This server cannot be removed at runtime due to other configuration elements pointing to it.",
        CtlError::HasConnections => {
            "Server still has connections attached to it, cannot remove it."
        }
        CtlError::Other(m) => m.as_str(),
    };
    if bare {
        msg.to_string()
    } else {
        format!("{msg}\n")
    }
}

fn answer(r: Result<(), CtlError>) -> Reply {
    text(match r {
        Ok(()) => String::new(),
        Err(e) => refusal(&e, false),
    })
}

/// Splits `backend/server`.
fn split_bs<'a>(word: Option<&&'a str>) -> Option<(&'a str, &'a str)> {
    let (b, s) = word?.split_once('/')?;
    Some((b, s))
}

/// Parses `N` or `N%` like HAProxy, with its messages.
fn parse_weight(word: Option<&&str>) -> Result<Weight, String> {
    let Some(w) = word else {
        return Err("Require <weight> or <weight%>.\n".into());
    };
    let (neg, digits) = match w.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, w.strip_prefix('+').unwrap_or(w)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return Err("Empty weight string empty or preceded by garbage".into());
    }
    let rest = &digits[end..];
    let relative = match rest {
        "" => false,
        "%" => true,
        _ => return Err("Trailing garbage in weight string".into()),
    };
    let n: u64 = digits[..end].parse().unwrap_or(u64::MAX);
    if relative {
        if neg {
            return Err("Relative weight must be positive.\n".into());
        }
        return Ok(Weight::Relative(u32::try_from(n).unwrap_or(u32::MAX)));
    }
    if neg || n > u64::from(MAX_WEIGHT) {
        return Err("Absolute weight can only be between 0 and 256 inclusive.\n".into());
    }
    Ok(Weight::Absolute(n as u32))
}

fn set_weight(ctl: &dyn Control, bs: Option<&&str>, w: Option<&&str>) -> Reply {
    let Some((b, s)) = split_bs(bs) else {
        return text(REQUIRE_BS);
    };
    if let Err(e) = ctl.lookup(b, s) {
        return text(refusal(&e, false));
    }
    match parse_weight(w) {
        Ok(w) => answer(ctl.set_weight(b, s, w)),
        Err(m) => text(m),
    }
}

fn add_server(ctl: &dyn Control, words: &[&str]) -> Reply {
    let Some((b, s)) = split_bs(words.get(2)) else {
        return text(REQUIRE_BS.trim_end());
    };
    if !ctl.backends().iter().any(|n| n == b) {
        return text(refusal(&CtlError::NoBackend, true));
    }
    let Some(written) = words.get(3) else {
        return text("'server' expects <name> and <addr>[:<port>] as arguments.\n");
    };
    // Environment variables in the address are expanded, as in the configuration.
    let addr = expand_env(written);
    if addr.is_empty() {
        return text(format!(
            "'{written}' resolves to an empty address (environment variable missing?)\n"
        ));
    }
    // A socket file: `/PATH` or `unix@PATH`.
    let unix = addr
        .strip_prefix("unix@")
        .or(addr.starts_with('/').then_some(addr.as_str()))
        .map(std::path::PathBuf::from);
    // No host (`:PORT`, `:`, as an unset variable leaves it): 0.0.0.0, as HAProxy; the server gets its address
    // from `set server ... addr`.
    let no_host = addr
        .strip_prefix(':')
        .and_then(|p| {
            if p.is_empty() {
                Some(0)
            } else {
                p.parse::<u16>().ok()
            }
        })
        .map(|port| SocketAddr::from(([0, 0, 0, 0], port)));
    let addr = match (&unix, no_host, addr.parse::<SocketAddr>()) {
        (Some(_), _, _) => SocketAddr::from(([0, 0, 0, 0], 0)),
        (None, Some(a), _) | (None, None, Ok(a)) => a,
        (None, None, Err(_)) => {
            return text(format!(
                "'server {b}/{s}' : fulcrum expects a numeric address with a port (IP:PORT) or a socket path, got '{addr}'.\n"
            ))
        }
    };
    let mut new = NewServer::at(addr);
    new.unix = unix;
    let mut i = 4;
    while i < words.len() {
        match words[i] {
            "check" => new.check = true,
            "backup" => new.backup = true,
            "ssl" => new.ssl = true,
            kw @ ("verify" | "ca-file" | "crl-file" | "crt" | "sni") => {
                i += 1;
                let Some(v) = words.get(i).filter(|v| !v.is_empty()) else {
                    return text(format!("'{kw}' : missing value.\n"));
                };
                match kw {
                    "verify" => match *v {
                        "none" => new.verify = Some(false),
                        "required" => new.verify = Some(true),
                        _ => {
                            return text(format!(
                                "'verify' : unknown verify method '{v}', only 'none' and 'required' are supported.\n"
                            ))
                        }
                    },
                    "ca-file" => new.ca_file = Some(v.into()),
                    "crl-file" => new.crl_file = Some(v.into()),
                    "sni" => new.sni = Some(v.to_string()),
                    _ => new.crt = Some(v.into()),
                }
            }
            "proto" => {
                i += 1;
                match words.get(i) {
                    None => return text("'proto' : missing value.\n"),
                    Some(p) => match MuxProto::parse(p) {
                        Some(p) => new.proto = Some(p),
                        None => {
                            return text(format!("'proto' :  unknown MUX protocol '{p}'.\n"))
                        }
                    },
                }
            }
            kw @ ("weight" | "maxconn") => {
                let v = words.get(i + 1).and_then(|v| v.parse::<i64>().ok());
                i += 1;
                if kw == "weight" {
                    match v {
                        Some(w) if (0..=i64::from(MAX_WEIGHT)).contains(&w) => {
                            new.weight = w as u32;
                        }
                        _ => {
                            return text(format!(
                                "'server {b}/{s}' : weight of server {s} is not within 0 and 256 ({}).\n",
                                v.map_or(String::new(), |w| w.to_string())
                            ))
                        }
                    }
                } else {
                    match v.and_then(|m| u32::try_from(m).ok()) {
                        Some(m) => new.maxconn = Some(m),
                        None => {
                            return text(format!(
                                "'server {b}/{s}' : 'maxconn' expects an integer argument.\n"
                            ))
                        }
                    }
                }
            }
            "agent-check" => new.agent.enabled = true,
            "send-proxy" => new.send_proxy_v2 = Some(false),
            "send-proxy-v2" => new.send_proxy_v2 = Some(true),
            "check-send-proxy" => new.check_send_proxy = true,
            kw @ ("inter" | "fastinter" | "downinter" | "agent-inter" | "rise" | "fall"
            | "port" | "addr" | "agent-port" | "agent-addr" | "agent-send" | "track") => {
                i += 1;
                let Some(v) = words.get(i).filter(|v| !v.is_empty()) else {
                    return text(format!("'{kw}' expects an argument.\n"));
                };
                if let Err(m) = check_option(&mut new, s, kw, v) {
                    return text(m);
                }
            }
            other => {
                return text(format!(
                    "'server {b}/{s}' : unknown keyword '{other}' (fulcrum takes weight, maxconn, check, backup, proto, ssl, verify, ca-file, crl-file, crt, sni, inter, fastinter, downinter, rise, fall, port, addr, agent-check, agent-addr, agent-port, agent-send, agent-inter, send-proxy, send-proxy-v2, check-send-proxy and track here).\n"
                ))
            }
        }
        i += 1;
    }
    match ctl.add_server(b, s, &new) {
        Ok(()) => text("New server registered.\n"),
        Err(e @ (CtlError::NotDynamic | CtlError::NoBackend)) => text(refusal(&e, true)),
        Err(e) => text(refusal(&e, false)),
    }
}

/// `text` with each `${NAME}` replaced by the environment variable's value (empty when it is not set), as
/// HAProxy expands addresses.
fn expand_env(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&std::env::var(&rest[start + 2..start + 2 + len]).unwrap_or_default());
        rest = &rest[start + 2 + len + 1..];
    }
    out.push_str(rest);
    out
}

/// One check, agent or `track` option of `add server` with its value, into `new`; the error is HAProxy's
/// message (`s`: the server's name).
fn check_option(new: &mut NewServer, s: &str, kw: &str, v: &str) -> Result<(), String> {
    let time = || {
        match parse_time(v) {
        Some(d) if !d.is_zero() => Ok(d),
        Some(_) => Err(format!(
            "invalid value 0 for argument '{kw}' of server {s}..\n"
        )),
        None => Err(format!(
            "'{kw}' : invalid time value '{v}' for server {s} (a number, with a unit us, ms, s, m, h or d).\n"
        )),
    }
    };
    let count = || match v.parse::<u32>() {
        Ok(0) | Err(_) => Err(format!("'{kw}' has to be > 0..\n")),
        Ok(n) => Ok(n),
    };
    let port = || match v.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!(
            "'{kw}' expects a valid port number as an argument (1-65535), got '{v}'.\n"
        )),
    };
    let ip = || {
        v.parse::<IpAddr>()
            .map_err(|_| format!("'{kw}' : fulcrum expects a numeric IP address, got '{v}'.\n"))
    };
    match kw {
        "inter" => new.timing.inter = Some(time()?),
        "fastinter" => new.timing.fastinter = Some(time()?),
        "downinter" => new.timing.downinter = Some(time()?),
        "agent-inter" => new.agent.inter = Some(time()?),
        "rise" => new.timing.rise = Some(count()?),
        "fall" => new.timing.fall = Some(count()?),
        "port" => new.check_port = Some(port()?),
        "agent-port" => new.agent.port = v.parse::<u16>().ok().filter(|&p| p > 0),
        "addr" => new.check_addr = Some(ip()?),
        "agent-addr" => new.agent.addr = Some(ip()?),
        "agent-send" => new.agent.send = Some(v.to_string()),
        _ => new.track = Some(v.to_string()),
    }
    Ok(())
}

/// A time as HAProxy writes it: a number, in milliseconds unless a unit follows (`us`, `ms`, `s`, `m`, `h`,
/// `d`).
fn parse_time(v: &str) -> Option<std::time::Duration> {
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: u64 = v[..digits].parse().ok()?;
    let micros = match &v[digits..] {
        "us" => 1,
        "" | "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return None,
    };
    Some(std::time::Duration::from_micros(n.checked_mul(micros)?))
}

fn del_server(ctl: &dyn Control, bs: Option<&&str>) -> Reply {
    let Some((b, s)) = split_bs(bs) else {
        return text(REQUIRE_BS.trim_end());
    };
    match ctl.del_server(b, s) {
        Ok(()) => text("Server deleted."),
        Err(e) => text(refusal(&e, true)),
    }
}

fn set_server(ctl: &dyn Control, words: &[&str]) -> Reply {
    let Some((b, s)) = split_bs(words.get(2)) else {
        return text(REQUIRE_BS);
    };
    if let Err(e) = ctl.lookup(b, s) {
        return text(refusal(&e, false));
    }
    match words.get(3).copied() {
        Some("state") => {
            let state = match words.get(4).copied() {
                Some("ready") => AdminState::Ready,
                Some("drain") => AdminState::Drain,
                Some("maint") => AdminState::Maint,
                _ => {
                    return text("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n")
                }
            };
            answer(ctl.set_state(b, s, state))
        }
        Some("weight") => match parse_weight(words.get(4)) {
            Ok(w) => answer(ctl.set_weight(b, s, w)),
            Err(m) => text(m),
        },
        // A new name only means something to a server whose address is resolved at run time (`resolvers`).
        Some("fqdn") => match words.get(4) {
            Some(name) => match ctl.set_server_fqdn(b, s, name) {
                Ok(m) | Err(CtlError::Other(m)) => text(format!("{m}\n")),
                Err(e) => text(refusal(&e, false)),
            },
            None => text("set server <b>/<s> fqdn requires a FQDN.\n"),
        },
        Some("addr") => {
            let Some(addr) = words.get(4) else {
                return text(
                    "set server <b>/<s> addr requires an address and optionally a port.\n",
                );
            };
            let port = match (words.get(5).copied(), words.get(6).copied()) {
                (Some("port"), p) => p.or(Some("")),
                _ => None,
            };
            match ctl.set_server_addr(b, s, addr, port) {
                Ok(m) | Err(CtlError::Other(m)) => text(format!("{m}\n")),
                Err(e) => text(refusal(&e, false)),
            }
        }
        Some("ssl") => {
            let on = match words.get(4).copied() {
                Some("on") => true,
                Some("off") => false,
                _ => return text("'set server <srv> ssl' expects 'on' or 'off'.\n"),
            };
            match ctl.set_server_ssl(b, s, on) {
                Ok(()) => text("server ssl setting updated.\n"),
                Err(CtlError::Other(m)) => text(format!("{m}\n")),
                Err(e) => text(refusal(&e, false)),
            }
        }
        Some("agent") => match words.get(4).copied() {
            Some("up") => change_checks(ctl, b, s, CheckChange::Agent(true)),
            Some("down") => change_checks(ctl, b, s, CheckChange::Agent(false)),
            _ => text("'set server <srv> agent' expects 'up' or 'down'.\n"),
        },
        Some("health") => {
            let forced = match words.get(4).copied() {
                Some("up") => ForcedHealth::Up,
                Some("stopping") => ForcedHealth::Stopping,
                Some("down") => ForcedHealth::Down,
                _ => return text("'set server <srv> health' expects 'up', 'stopping', or 'down'.\n"),
            };
            change_checks(ctl, b, s, CheckChange::Health(forced))
        }
        Some(what @ ("agent-addr" | "check-addr")) => {
            let Some(addr) = words.get(4).filter(|a| !a.is_empty()) else {
                return text(format!(
                    "set server <b>/<s> {what} requires an address and optionally a port.\n"
                ));
            };
            let port = match (words.get(5).copied(), words.get(6)) {
                (Some("port"), p) => Some(p.map_or(String::new(), |p| p.to_string())),
                _ => None,
            };
            let change = if what == "agent-addr" {
                CheckChange::AgentAddr(addr.to_string(), port)
            } else {
                CheckChange::CheckAddr(addr.to_string(), port)
            };
            change_checks(ctl, b, s, change)
        }
        Some(what @ ("agent-port" | "check-port")) => {
            let Some(port) = words.get(4).filter(|p| !p.is_empty()) else {
                return text(format!("set server <b>/<s> {what} requires a port.\n"));
            };
            let change = if what == "agent-port" {
                CheckChange::AgentPort(port.to_string())
            } else {
                CheckChange::CheckPort(port.to_string())
            };
            change_checks(ctl, b, s, change)
        }
        Some("agent-send") => {
            let send = words.get(4).map_or(String::new(), |w| w.to_string());
            change_checks(ctl, b, s, CheckChange::AgentSend(send))
        }
        _ => text("usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n"),
    }
}

/// Runs a [`CheckChange`] and answers with what the proxy said.
fn change_checks(ctl: &dyn Control, b: &str, s: &str, change: CheckChange) -> Reply {
    match ctl.change_checks(b, s, change) {
        Ok(m) | Err(CtlError::Other(m)) => text(m),
        Err(e) => text(refusal(&e, false)),
    }
}

const UNKNOWN_ACL: &str = "Unknown ACL identifier. Please use #<id> or <file>.\n";

fn acl_refusal(e: AclError, unknown: &str) -> Reply {
    text(match e {
        AclError::UnknownRef => unknown.to_string(),
        AclError::KeyNotFound => "Key not found.\n".to_string(),
        AclError::Invalid(m) => format!("{m}\n"),
    })
}

/// `show acl [REF]`: the references (`# id (file) description`), or the patterns of one (`0xID PATTERN`).
fn show_acl(ctl: &dyn Control, reference: Option<&str>) -> Reply {
    let Some(r) = reference else {
        let mut out = String::from("# id (file) description\n");
        for p in ctl.acl_refs() {
            let _ = writeln!(
                out,
                "{} ({}) {}. curr_ver=0 next_ver=0 entry_cnt={}",
                p.id,
                p.file.as_deref().unwrap_or(""),
                p.display,
                p.entries
            );
        }
        return text(out);
    };
    match ctl.acl_entries(r) {
        Some(entries) => {
            let mut out = String::new();
            for e in entries {
                let _ = writeln!(out, "{:#x} {}", e.id, e.text);
            }
            text(out)
        }
        None => text(UNKNOWN_ACL),
    }
}

fn acl_command(ctl: &dyn Control, words: &[&str]) -> Reply {
    match words {
        ["add", "acl", r, pattern, ..] => match ctl.add_acl(r, pattern) {
            Ok(()) => text(""),
            Err(e) => acl_refusal(e, UNKNOWN_ACL),
        },
        ["add", "acl", ..] => {
            text("'add acl' expects two parameters: ACL identifier and pattern.\n")
        }
        // HAProxy 2.6 says "map" here.
        ["del", "acl", r, key, ..] => match ctl.del_acl(r, key) {
            Ok(()) => text(""),
            Err(e) => acl_refusal(e, "Unknown map identifier. Please use #<id> or <file>.\n"),
        },
        ["del", "acl", ..] => {
            text("This command expects two parameters: ACL identifier and key.\n")
        }
        ["clear", "acl", r, ..] => match ctl.clear_acl(r) {
            Ok(()) => text(""),
            Err(e) => acl_refusal(e, UNKNOWN_ACL),
        },
        _ => text("Missing ACL identifier.\n"),
    }
}

const UNKNOWN_MAP: &str = "Unknown map identifier. Please use #<id> or <file>.\n";

/// A leading `@VER` of a map command: the version and the words after it.
fn version<'a, 'w>(words: &'a [&'w str]) -> (Option<u32>, &'a [&'w str]) {
    match words.first().and_then(|w| w.strip_prefix('@')) {
        Some(v) => (Some(v.parse().unwrap_or(u32::MAX)), &words[1..]),
        None => (None, words),
    }
}

/// `show map [@VER] [REF]`: the maps (`# id (file) description`), or the entries of one (`0xID KEY VALUE`).
fn show_map(ctl: &dyn Control, rest: &[&str]) -> Reply {
    let (ver, rest) = version(rest);
    let Some(r) = rest.first() else {
        let mut out = String::from("# id (file) description\n");
        for p in ctl.map_refs() {
            let _ = writeln!(
                out,
                "{} ({}) {}. curr_ver={} next_ver={} entry_cnt={}",
                p.id, p.file, p.display, p.curr_ver, p.next_ver, p.entries
            );
        }
        return text(out);
    };
    match ctl.map_entries(r, ver) {
        Some(entries) => {
            let mut out = String::new();
            for e in entries {
                let _ = writeln!(out, "{:#x} {} {}", e.id, e.key, e.value);
            }
            text(out)
        }
        None => text(UNKNOWN_MAP),
    }
}

/// HAProxy's answer to a refused map command; `not_found` words a missing entry (`set map` and `del map` say it
/// differently).
fn map_refusal(e: AclError, not_found: &str) -> Reply {
    text(match e {
        AclError::UnknownRef => UNKNOWN_MAP.to_string(),
        AclError::KeyNotFound => not_found.to_string(),
        AclError::Invalid(m) => format!("{m}\n"),
    })
}

fn done(r: Result<(), AclError>, not_found: &str) -> Reply {
    match r {
        Ok(()) => text(""),
        Err(e) => map_refusal(e, not_found),
    }
}

fn map_command(ctl: &dyn Control, words: &[&str]) -> Reply {
    let (ver, rest) = version(words.get(2..).unwrap_or_default());
    match (words.first().copied().unwrap_or_default(), rest) {
        ("add", [r, key, value, ..]) => return done(ctl.add_map(r, ver, key, value), ""),
        ("add", _) => return text(ADD_MAP_USAGE),
        ("clear", [r, ..]) => return done(ctl.clear_map(r, ver), ""),
        ("commit", [r, ..]) => {
            return match ver {
                Some(v) => done(ctl.commit_map(r, v), ""),
                None => text("Missing version number.\n"),
            }
        }
        ("prepare", [r, ..]) => {
            return match ctl.prepare_map(r) {
                Ok(v) => text(format!("New version created: {v}\n")),
                Err(e) => map_refusal(e, ""),
            }
        }
        ("prepare" | "commit", _) => return text(UNKNOWN_MAP),
        _ => {}
    }
    match words {
        ["del", "map", r, key, ..] => done(ctl.del_map(r, key), "Key not found.\n"),
        ["del", "map", ..] => {
            text("This command expects two parameters: map identifier and key.\n")
        }
        ["set", "map", r, key, value, ..] => done(ctl.set_map(r, key, value), "entry not found.\n"),
        ["set", "map", ..] => {
            text("'set map' expects three parameters: map identifier, key and value.\n")
        }
        ["clear", "map", ..] => text("Missing map identifier.\n"),
        ["get", "map", r, sample, ..] => match ctl.get_map(r, sample) {
            Some(out) => text(out),
            None => text(UNKNOWN_MAP),
        },
        _ => text("Missing map identifier and/or key.\n"),
    }
}

const ADD_MAP_USAGE: &str = "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) and a payload\n";

/// `add map REF <<` with one `KEY VALUE` entry a line: added in order, stopping at the first one refused
/// (those before it stay).
fn add_map_payload(ctl: &dyn Control, ver: Option<u32>, r: &str, payload: &str) -> Reply {
    for line in payload.lines() {
        let line = line.trim_start_matches([' ', '\t']);
        if line.is_empty() {
            continue;
        }
        let (key, value) = match line.find([' ', '\t']) {
            Some(i) => (&line[..i], line[i..].trim_start_matches([' ', '\t'])),
            None => return text(ADD_MAP_USAGE),
        };
        if let Err(e) = ctl.add_map(r, ver, key, value) {
            return map_refusal(e, "");
        }
    }
    text("")
}

/// Splits a command line into its commands at each `;` that no backslash escapes (the backslashes stay, for
/// [`split_words`]).
pub fn split_commands(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ';' {
            out.push(&line[start..i]);
            start = i + 1;
        }
    }
    out.push(&line[start..]);
    out
}

/// Splits one command into words as HAProxy's CLI does: at spaces and tabs that no backslash escapes; then a
/// backslash keeps the character after it (`\ ` a space, `\;` a semicolon, `\\` a backslash) and goes.
pub fn split_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Whether the command changes ACL patterns (HAProxy's operator-level commands).
fn needs_operator(words: &[&str]) -> bool {
    matches!(
        words,
        ["add" | "del" | "clear", "acl", ..]
            | ["show", "table", ..]
            | [
                "add" | "del" | "clear" | "set" | "prepare" | "commit",
                "map",
                ..
            ]
    )
}

/// Whether the command changes something (HAProxy's admin-level commands).
fn needs_admin(words: &[&str]) -> bool {
    matches!(
        words,
        [
            "set" | "commit" | "abort" | "new" | "del",
            "ssl",
            "cert",
            ..
        ] | ["add" | "del", "ssl", "crt-list", ..]
            | ["set", "ssl", "ocsp-response", ..]
            | [_, "ssl", "ca-file" | "crl-file", ..]
            | ["show", "ssl", ..]
            | ["set", "weight", ..]
            | ["set", "server", ..]
            | ["enable" | "disable", "server" | "health" | "agent", ..]
            | ["add" | "del", "server", ..]
            | ["experimental-mode", ..]
            | ["set", "var", ..]
            | ["clear" | "set", "table", ..]
    )
}

/// Runs one command that came with a payload (the lines after a line ending in `<<`, up to an empty line).
pub fn execute_with_payload(
    command: &str,
    payload: &str,
    level: Level,
    ctl: &dyn Control,
) -> Reply {
    let owned = split_words(command);
    let words: Vec<&str> = owned.iter().map(String::as_str).collect();
    if (needs_admin(&words) && level < Level::Admin)
        || (needs_operator(&words) && level < Level::Operator)
    {
        return text(DENIED);
    }
    match words.as_slice() {
        ["set", "ssl", "cert", name, ..] => text(match ctl.ssl_cert_set(name, payload) {
            Ok(t) | Err(t) => t,
        }),
        ["set", "ssl", "cert"] => {
            text("'set ssl cert' expects a filename and a certificate as a payload\n")
        }
        ["add", "ssl", "crt-list", ..]
        | ["set", "ssl", "ocsp-response", ..]
        | ["set", "ssl", "ca-file" | "crl-file", ..] => {
            text(ctl.ssl_list_command(&words, Some(payload)))
        }
        ["add", "map", r] => add_map_payload(ctl, None, r, payload),
        ["add", "map", v, r] if v.starts_with('@') => {
            add_map_payload(ctl, version(&[v]).0, r, payload)
        }
        ["add", "map", ..] => text(ADD_MAP_USAGE),
        _ => text(unknown(&words)),
    }
}

/// `show ssl cert [NAME]`.
fn show_ssl_cert(ctl: &dyn Control, name: Option<&str>) -> Reply {
    let Some((pending, names)) = ctl.ssl_certs() else {
        return text("# filename\n");
    };
    match name {
        Some(n) => text(ctl.ssl_cert_details(n).unwrap_or_else(|| {
            "Can't display the certificate: Not found or the certificate is a bundle!\n".into()
        })),
        None => {
            let mut out = String::new();
            if let Some(p) = pending {
                out.push_str(&format!("# transaction\n*{p}\n"));
            }
            out.push_str("# filename\n");
            for n in names {
                out.push_str(&n);
                out.push('\n');
            }
            text(out)
        }
    }
}

/// Runs one command (the words of one `;`-separated part of a line) at `level`.
pub fn execute(command: &str, level: Level, ctl: &dyn Control) -> Reply {
    execute_in(command, level, false, ctl)
}

/// `set var NAME [expr|fmt] VALUE` (experimental mode only), as haproxy 2.6 answers it.
fn set_var(ctl: &dyn Control, experimental: bool, rest: &[&str]) -> Reply {
    if !experimental {
        return text("This command is restricted to experimental mode only.\n");
    }
    let (name, value) = match rest {
        [name, "fmt", v @ ..] if !v.is_empty() => (name, (true, v.join(" "))),
        [name, "expr", v @ ..] if !v.is_empty() => (name, (false, v.join(" "))),
        [name, v @ ..] if !v.is_empty() && v[0] != "fmt" && v[0] != "expr" => {
            (name, (false, v.join(" ")))
        }
        [] => return text("Missing variable name.\n"),
        _ => return text("Missing either 'expr', 'fmt' or expression.\n"),
    };
    match ctl.set_proc_var(name, value.0, &value.1) {
        Ok(()) => text(""),
        Err(e) => text(e),
    }
}

/// Runs one command at `level`, `experimental` when the session turned `experimental-mode on`.
pub fn execute_in(command: &str, level: Level, experimental: bool, ctl: &dyn Control) -> Reply {
    let owned = split_words(command);
    let words: Vec<&str> = owned.iter().map(String::as_str).collect();
    if (needs_admin(&words) && level < Level::Admin)
        || (needs_operator(&words) && level < Level::Operator)
    {
        return text(DENIED);
    }
    match words.as_slice() {
        [] => text(format!(
            "Unknown command. Please enter one of the following commands only:\n{}",
            help_lines(&[])
        )),
        ["help", rest @ ..] => text(format!(
            "The following commands are valid at this level:\n{}",
            help_lines(rest)
        )),
        ["prompt", ..] => Reply::TogglePrompt,
        ["quit", ..] => Reply::Quit,
        ["user", ..] => Reply::SetLevel(Level::User),
        ["operator", ..] if level >= Level::Operator => Reply::SetLevel(Level::Operator),
        ["operator", ..] => text(DENIED),
        ["show", "info", ..] => text(render_info(&ctl.info())),
        ["show", "stat", rest @ ..] => match ctl.stats() {
            // HAProxy's JSON ends with a line break (the CSV's rows end with theirs).
            Some(st) if rest.first() == Some(&"json") => {
                text(format!("{}\n", crate::json_stat::render(&st)))
            }
            Some(st) if rest.first() == Some(&"typed") => text(crate::typed_stat::render(&st)),
            Some(st) => text(crate::csv::render(&st)),
            None => text("'show stat' is not available here.\n"),
        },
        ["show", "servers", "state", rest @ ..] => match ctl.servers_state(rest.first().copied()) {
            Some(rows) => text(render_servers_state(&rows)),
            None => text("Can't find backend.\n"),
        },
        ["show", "acl", rest @ ..] => show_acl(ctl, rest.first().copied()),
        ["show", "resolvers", rest @ ..] => {
            let all = ctl.resolvers();
            match rest.first() {
                None => text(super::format::render_resolvers(&all)),
                Some(n) => match all.iter().find(|r| r.name == *n) {
                    Some(r) => text(super::format::render_resolvers(std::slice::from_ref(r))),
                    None => text("Can't find that resolvers section\n"),
                },
            }
        }
        ["add" | "del" | "clear", "acl", ..] => acl_command(ctl, &words),
        ["show", "map", rest @ ..] => show_map(ctl, rest),
        [verb @ ("show" | "clear" | "set"), "table", rest @ ..] => text(ctl.table(verb, rest)),
        ["add" | "del" | "clear" | "set" | "get" | "prepare" | "commit", "map", ..] => {
            map_command(ctl, &words)
        }
        ["show", "backend", ..] => {
            let mut out = String::from("# name\n");
            for b in ctl.backends() {
                out.push_str(&b);
                out.push('\n');
            }
            text(out)
        }
        ["show", "cli", "level", ..] => text(format!("{}\n", level.name())),
        ["get", "var"] => text("Missing process-wide variable identifier.\n"),
        ["set", "var", rest @ ..] => set_var(ctl, experimental, rest),
        ["experimental-mode", "on", ..] => Reply::Experimental(true),
        ["experimental-mode", "off", ..] => Reply::Experimental(false),
        ["experimental-mode", ..] => text(format!(
            "experimental-mode is {}\n",
            if experimental { "on" } else { "off" }
        )),
        ["get", "var", name, ..] => match ctl.proc_var(name) {
            Some(line) => text(line),
            None => text("Variable not found.\n"),
        },
        ["get", "weight", rest @ ..] => {
            let Some((b, s)) = split_bs(rest.first()) else {
                return text(REQUIRE_BS);
            };
            match ctl.weight(b, s) {
                Ok((cur, initial)) => text(format!("{cur} (initial {initial})\n")),
                Err(e) => text(refusal(&e, false)),
            }
        }
        ["set", "weight", rest @ ..] => set_weight(ctl, rest.first(), rest.get(1)),
        ["set", "server", ..] => set_server(ctl, &words),
        [op @ ("enable" | "disable"), what @ ("server" | "health" | "agent"), rest @ ..] => {
            let Some((b, s)) = split_bs(rest.first()) else {
                return text(REQUIRE_BS);
            };
            let enable = *op == "enable";
            answer(match *what {
                "server" => ctl.set_maint(b, s, !enable),
                "health" => ctl.set_health(b, s, enable),
                _ => ctl.set_agent(b, s, enable),
            })
        }
        ["add", "server", ..] => add_server(ctl, &words),
        ["show", "ssl", "cert", rest @ ..] => show_ssl_cert(ctl, rest.first().copied()),
        ["new" | "del", "ssl", "cert", ..]
        | ["set" | "show", "ssl", "ocsp-response", ..]
        | ["show" | "add" | "del", "ssl", "crt-list", ..]
        | ["set" | "commit" | "abort" | "new" | "del", "ssl", "ca-file" | "crl-file", ..] => {
            text(ctl.ssl_list_command(&words, None))
        }
        ["show", "ssl", "ca-file" | "crl-file", ..] => {
            let t = ctl.ssl_list_command(&words, None);
            // haproxy 2.6 ends its refusal of a bad `NAME:INDEX` without the closing empty line.
            if t.starts_with("wrong ") && t.contains(" index after colons in '") {
                Reply::Bare(t)
            } else {
                text(t)
            }
        }
        ["set", "ssl", "cert", ..] => text(
            "'set ssl cert' expects a filename and a certificate as a payload (a line ending in '<<', then the PEM, then an empty line)\n",
        ),
        [op @ ("commit" | "abort"), "ssl", "cert", name, ..] => {
            let r = if *op == "commit" {
                ctl.ssl_cert_commit(name)
            } else {
                ctl.ssl_cert_abort(name)
            };
            text(match r {
                Ok(t) | Err(t) => t,
            })
        }
        ["commit" | "abort", "ssl", "cert"] => text("'commit ssl cert' and 'abort ssl cert' expect a filename\n"),
        ["del", "server", rest @ ..] => del_server(ctl, rest.first()),
        _ => text(unknown(&words)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_variables_of_add_server() {
        use std::time::Duration;
        assert_eq!(parse_time("200ms"), Some(Duration::from_millis(200)));
        assert_eq!(parse_time("150"), Some(Duration::from_millis(150)));
        assert_eq!(parse_time("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_time("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_time("10us"), Some(Duration::from_micros(10)));
        assert_eq!(parse_time("2x"), None);
        assert_eq!(parse_time("ms"), None);
        assert_eq!(parse_time("99999999999999999999d"), None);
        assert_eq!(
            expand_env("${FULCRUM_SURELY_UNSET_VAR}:${FULCRUM_SURELY_UNSET_VAR}"),
            ":"
        );
        assert_eq!(expand_env("127.0.0.1:80"), "127.0.0.1:80");
        assert_eq!(expand_env("a${b"), "a${b");
        let home = std::env::var("PATH").unwrap_or_default();
        assert_eq!(expand_env("x${PATH}y"), format!("x{home}y"));
        let mut new = NewServer::at(SocketAddr::from(([127, 0, 0, 1], 1)));
        assert_eq!(
            check_option(&mut new, "s9", "inter", "0"),
            Err("invalid value 0 for argument 'inter' of server s9..\n".into())
        );
        assert_eq!(
            check_option(&mut new, "s9", "rise", "0"),
            Err("'rise' has to be > 0..\n".into())
        );
        assert_eq!(check_option(&mut new, "s9", "agent-inter", "300ms"), Ok(()));
        assert_eq!(new.agent.inter, Some(Duration::from_millis(300)));
        assert_eq!(check_option(&mut new, "s9", "track", "b/s"), Ok(()));
        assert_eq!(new.track.as_deref(), Some("b/s"));
    }

    #[test]
    fn weights_parse_with_haproxy_messages() {
        let p = |w: &str| parse_weight(Some(&w));
        assert_eq!(p("10"), Ok(Weight::Absolute(10)));
        assert_eq!(p("50%"), Ok(Weight::Relative(50)));
        assert_eq!(p("0"), Ok(Weight::Absolute(0)));
        assert_eq!(
            p("257"),
            Err("Absolute weight can only be between 0 and 256 inclusive.\n".into())
        );
        assert_eq!(
            p("-1"),
            Err("Absolute weight can only be between 0 and 256 inclusive.\n".into())
        );
        assert_eq!(p("-5%"), Err("Relative weight must be positive.\n".into()));
        assert_eq!(
            p("abc"),
            Err("Empty weight string empty or preceded by garbage".into())
        );
        assert_eq!(p("5x"), Err("Trailing garbage in weight string".into()));
        assert_eq!(
            parse_weight(None),
            Err("Require <weight> or <weight%>.\n".into())
        );
        assert_eq!(Weight::Relative(50).resolve(20), 10);
        assert_eq!(Weight::Relative(1000).resolve(200), 256);
    }

    #[test]
    fn help_lines_have_haproxy_shape() {
        let all = help_lines(&[]);
        for line in all.lines() {
            assert!(line.starts_with("  "), "{line}");
            assert_eq!(line.as_bytes()[42], b':', "{line}");
        }
        assert!(all.ends_with("  quit                                    : close the connection\n"));
        let get = help_lines(&["get"]);
        assert_eq!(get.lines().count(), 6, "{get}");
        assert!(get.contains("  get var <name>"), "{get}");
        assert!(get.contains("  get map <map> <value>"), "{get}");
        assert!(get.contains("\n  get weight <bk>/<srv>"), "{get}");
    }

    #[test]
    fn commands_and_words_split_as_haproxy() {
        assert_eq!(split_commands("a b;c\\;d;;e"), ["a b", "c\\;d", "", "e"]);
        assert_eq!(split_commands("x\\\\;y"), ["x\\\\", "y"]);
        assert_eq!(
            split_words("add acl f Mon\\ User\\ Agent\\;"),
            ["add", "acl", "f", "Mon User Agent;"]
        );
        assert_eq!(split_words("  a\t b\\\\c  "), ["a", "b\\c"]);
        assert_eq!(split_words("a\\"), ["a"]);
        assert!(split_words("   ").is_empty());
    }

    #[test]
    fn changes_need_admin() {
        assert!(needs_admin(&["set", "weight", "a/b", "1"]));
        assert!(needs_admin(&["disable", "health", "a/b"]));
        assert!(!needs_admin(&["get", "weight", "a/b"]));
        assert!(!needs_admin(&["show", "servers", "state"]));
        assert!(needs_operator(&["add", "acl", "f", "x"]));
        assert!(needs_operator(&["clear", "acl", "f"]));
        assert!(!needs_operator(&["show", "acl"]));
        for w in ["add", "del", "set", "clear", "prepare", "commit"] {
            assert!(needs_operator(&[w, "map", "f"]), "{w} map");
        }
        assert!(!needs_operator(&["show", "map"]));
        assert!(!needs_operator(&["get", "map", "f", "x"]));
        assert_eq!(version(&["@12", "f"]), (Some(12), &["f"][..]));
        assert_eq!(version(&["f", "@1"]), (None, &["f", "@1"][..]));
    }
}
