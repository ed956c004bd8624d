//! The `global` section.

use std::path::PathBuf;

use super::addr::{self, Proto, Resolver};
use super::common::{Line, Sink};
use super::known;
use super::log;
use super::model::{
    Fmt, Global, GlobalVar, GlobalVarValue, SampleExpr, StatsAddr, StatsLevel, StatsSocket,
    VarName, VarScope,
};
use super::proxy;

/// The fetches an expression of the `global` section may use: no stream exists there, only constants, variables,
/// the environment, the clock and random numbers (HAProxy refuses the others at load time too).
const GLOBAL_FETCHES: &[&str] = &[
    "str",
    "int",
    "bool",
    "ipv4",
    "ipv6",
    "bin",
    "meth",
    "always_true",
    "always_false",
    "var",
    "env",
    "date",
    "date_us",
    "rand",
    "uuid",
];

/// `set-var proc.NAME EXPR`, `set-var-fmt proc.NAME FMT`.
fn global_var(g: &mut Global, line: &Line, sink: &mut Sink) {
    let loc = &line.location;
    let kw = line.word(0);
    if line.words.len() != 3 {
        let what = if kw == "set-var" {
            "a sample expression"
        } else {
            "a log-format string"
        };
        sink.error(
            loc,
            kw,
            format!("expects a variable name and {what}: '{kw} proc.NAME VALUE'"),
        );
        return;
    }
    let name: VarName = match line.word(1).parse() {
        Ok(n) => n,
        Err(e) => return sink.error(loc, kw, e.to_string()),
    };
    if name.scope() != VarScope::Proc {
        return sink.error(
            loc,
            kw,
            format!("cannot set variable '{name}', only scope 'proc' is permitted in the global section"),
        );
    }
    let text = line.word(2);
    let usable = |e: &fulcrum_sample::Expr| -> Result<(), String> {
        if GLOBAL_FETCHES.contains(&e.fetch_name()) {
            Ok(())
        } else {
            Err(format!(
                "fetch method '{}' reads a stream (a connection or a request), none of which exists in the global section",
                e.fetch_name()
            ))
        }
    };
    let value = if kw == "set-var" {
        match fulcrum_sample::Expr::parse(text) {
            Ok(e) => match usable(&e) {
                Ok(()) => GlobalVarValue::Expr(SampleExpr(std::sync::Arc::new(e))),
                Err(m) => return sink.error(loc, kw, m),
            },
            Err(e) => return sink.error(loc, kw, format!("'{text}': {e}")),
        }
    } else {
        match Fmt::parse(text) {
            Ok(f) => {
                for seg in f.format().segments() {
                    let problem = match seg {
                        fulcrum_sample::Segment::Expr { expr, .. } => usable(expr).err(),
                        fulcrum_sample::Segment::Var { name, .. } => Some(format!(
                            "log-format variable '%{name}' describes a stream, none of which exists in the global section"
                        )),
                        _ => None,
                    };
                    if let Some(m) = problem {
                        return sink.error(loc, kw, m);
                    }
                }
                GlobalVarValue::Fmt(f)
            }
            Err(e) => return sink.error(loc, kw, format!("'{text}': {e}")),
        }
    };
    g.vars.push(GlobalVar {
        name,
        value,
        location: loc.clone(),
    });
}

/// Applies the keyword lines of one `global` section to `g` (several sections are merged).
pub fn apply(g: &mut Global, lines: &[Line], resolver: Resolver<'_>, sink: &mut Sink) {
    for line in lines {
        keyword(g, line, resolver, sink);
    }
}

fn keyword(g: &mut Global, line: &Line, resolver: Resolver<'_>, sink: &mut Sink) {
    let loc = &line.location;
    let kw = line.word(0);
    let arg = line.words.get(1).map(String::as_str);
    if super::ssl::global_keyword(&mut g.ssl, line, sink) {
        return;
    }
    match kw {
        "maxconn" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(n) = sink.uint(loc, kw, arg, 1, u64::from(u32::MAX)) {
                    g.maxconn = Some(n as u32);
                }
            }
        }
        "nbthread" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(n) = sink.uint(loc, kw, arg, 1, 4096) {
                    g.nbthread = Some(n as u16);
                }
            }
        }
        "log" => {
            if arg == Some("global") {
                sink.error(loc, kw, "'log global' is only allowed in proxy sections (it refers to the global log targets)");
            } else if let Some(t) = log::parse(line, resolver, sink) {
                g.logs.push(t);
            }
        }
        "stats" => match arg {
            Some("socket") => stats_socket(g, line, resolver, sink),
            Some("timeout") => {
                let kw = "stats timeout";
                match line.words.get(2).map(String::as_str) {
                    Some(v) if line.words.len() == 3 => {
                        if let Some(t) = sink.time(loc, kw, Some(v)) {
                            if t.is_zero() {
                                sink.error(loc, kw, "expects a positive delay");
                            } else {
                                g.stats_timeout = Some(t);
                            }
                        }
                    }
                    _ => sink.error(loc, kw, "expects one delay (e.g. 'stats timeout 30s')"),
                }
            }
            Some("maxconn") => {
                let kw = "stats maxconn";
                match line.words.get(2).map(String::as_str) {
                    Some(v) if line.words.len() == 3 => {
                        if let Some(n) = sink.uint(loc, kw, Some(v), 1, u64::from(u32::MAX)) {
                            g.stats_maxconn = Some(n as u32);
                        }
                    }
                    _ => sink.error(loc, kw, "expects one number (e.g. 'stats maxconn 10')"),
                }
            }
            // A leftover of `nbproc`: haproxy 2.6 takes it (with or without a value) and does nothing with it.
            Some("bind-process") => sink.warn(
                crate::diag::Severity::Warning,
                loc,
                "stats bind-process",
                "'stats bind-process' is ignored: there is one process (HAProxy 2.6 ignores it too)",
            ),
            Some(sub) => sink.error(loc, kw, format!("unknown 'stats {sub}' in 'global' section: expected 'stats socket', 'stats timeout' or 'stats maxconn'")),
            None => sink.error(loc, kw, "expects 'stats socket PATH ...'"),
        },
        "user" | "group" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg {
                    Some(a) if !a.is_empty() => {
                        let v = Some(a.to_string());
                        if kw == "user" { g.user = v } else { g.group = v }
                    }
                    _ => sink.error(loc, kw, format!("expects a {kw} name")),
                }
            }
        }
        "uid" | "gid" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(n) = sink.uint(loc, kw, arg, 0, u64::from(u32::MAX)) {
                    let v = Some(n.to_string());
                    if kw == "uid" { g.user = v } else { g.group = v }
                }
            }
        }
        "daemon" => {
            if sink.max_args(line, kw, 1, 0) {
                g.daemon = true;
            }
        }
        "expose-experimental-directives" => {
            if sink.max_args(line, kw, 1, 0) {
                g.expose_experimental = true;
            }
        }
        "strict-limits" => {
            if sink.max_args(line, kw, 1, 0) {
                g.strict_limits = Some(true);
            }
        }
        "no" if arg == Some("strict-limits") => {
            if sink.max_args(line, "no strict-limits", 2, 0) {
                g.strict_limits = Some(false);
            }
        }
        "node" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg {
                    Some(n) if !n.is_empty() => g.node = Some(n.to_string()),
                    _ => sink.error(loc, kw, "expects a node name"),
                }
            }
        }
        "description" => {
            // HAProxy joins the words with single spaces.
            if line.words.len() < 2 {
                sink.error(loc, kw, "expects a string");
            } else {
                g.description = Some(line.words[1..].join(" "));
            }
        }
        // Applied while the file was read (`env.rs`): they change the later lines' expansions.
        "setenv" | "presetenv" | "unsetenv" | "resetenv" => {}
        "cpu-map" => match cpu_map(&line.words[1..]) {
            Some(m) => g.cpu_map.push(m),
            None => sink.error(
                loc,
                kw,
                "expects a process set ('all', 'odd', 'even', a number from 1 to 64 or a range), optionally '/' and a thread set, then a list of CPU numbers or ranges (from 0 to 1023); 'auto:' before the sets gives the threads one CPU each",
            ),
        },
        "maxconnrate" | "maxsessrate" | "maxsslrate" | "maxsslconn" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg.map(str::parse::<u32>) {
                    Some(Ok(n)) => {
                        let v = (n > 0).then_some(n);
                        match kw {
                            "maxconnrate" => g.maxconnrate = v,
                            "maxsessrate" => g.maxsessrate = v,
                            "maxsslrate" => g.maxsslrate = v,
                            _ => g.maxsslconn = v,
                        }
                    }
                    _ => sink.error(loc, kw, "expects an integer argument."),
                }
            }
        }
        "spread-checks" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg.map(str::parse::<i64>) {
                    Some(Ok(n)) if (0..=50).contains(&n) => g.spread_checks = n as u8,
                    Some(Ok(_)) => sink.error(loc, kw, "needs a positive value in range 0..50."),
                    _ => sink.error(loc, kw, "expects an integer argument (0..50)."),
                }
            }
        }
        "ulimit-n" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg.map(str::parse::<u64>) {
                    Some(Ok(n)) => g.ulimit_n = (n > 0).then_some(n),
                    _ => sink.error(loc, kw, "expects an integer argument."),
                }
            }
        }
        "log-tag" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg {
                    Some(t) if !t.is_empty() => g.log_tag = Some(t.to_string()),
                    _ => sink.error(loc, kw, "expects a tag for use in syslog."),
                }
            }
        }
        "log-send-hostname" => {
            if sink.max_args(line, kw, 1, 1) {
                g.log_send_hostname = Some(arg.filter(|h| !h.is_empty()).map(str::to_string));
            }
        }
        "nosplice" => {
            if sink.max_args(line, kw, 1, 0) {
                g.nosplice = true;
            }
        }
        "noreuseport" => {
            if sink.max_args(line, kw, 1, 0) {
                g.noreuseport = true;
            }
        }
        "master-worker" => match arg {
            None => g.master_worker = true,
            Some("no-exit-on-failure") => sink.error(
                loc,
                kw,
                "'master-worker no-exit-on-failure' is supported by HAProxy, not yet by fulcrum",
            ),
            Some(other) => sink.error(
                loc,
                kw,
                format!("only supports 'no-exit-on-failure' option, found '{other}'"),
            ),
        },
        "grace" | "hard-stop-after" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(t) = sink.time(loc, kw, arg) {
                    if kw == "grace" { g.grace = Some(t) } else { g.hard_stop_after = Some(t) }
                }
            }
        }
        "mworker-max-reloads" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(n) = sink.uint(loc, kw, arg, 0, u64::from(u32::MAX)) {
                    g.mworker_max_reloads = Some(n as u32);
                }
            }
        }
        "tune.idle-pool.shared" => {
            if let Some(on) = idle_pool_shared(line, sink) {
                g.idle_pool_shared = Some(on);
            }
        }
        "set-var" | "set-var-fmt" => global_var(g, line, sink),
        "tune.bufsize" | "tune.maxrewrite" => {
            if sink.max_args(line, kw, 1, 1) {
                let min = u64::from(kw == "tune.bufsize");
                if let Some(n) = sink.uint(loc, kw, arg, min, 1 << 30) {
                    if kw == "tune.bufsize" {
                        // As HAProxy: rounded up to a multiple of two pointers.
                        g.tune_bufsize = Some((n as u32).next_multiple_of(16));
                    } else {
                        g.tune_maxrewrite = Some(n as u32);
                    }
                }
            }
        }
        "tune.rcvbuf.client" | "tune.sndbuf.client" | "tune.rcvbuf.server" | "tune.sndbuf.server" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(n) = sink.uint(loc, kw, arg, 0, i32::MAX as u64) {
                    let n = Some(n as u32);
                    match kw {
                        "tune.rcvbuf.client" => g.tune_client_bufs.rcv = n,
                        "tune.sndbuf.client" => g.tune_client_bufs.snd = n,
                        "tune.rcvbuf.server" => g.tune_server_bufs.rcv = n,
                        _ => g.tune_server_bufs.snd = n,
                    }
                }
            }
        }
        "fd-hard-limit" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(n) = sink.uint(loc, kw, arg, 1, u64::from(u32::MAX)) {
                    g.fd_hard_limit = Some(n);
                }
            }
        }
        "max-spread-checks" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(d) = sink.time(loc, kw, arg) {
                    g.max_spread_checks = Some(d);
                }
            }
        }
        "quiet"
        | "zero-warning"
        | "external-check"
        | "insecure-fork-wanted"
        | "h2-workaround-bogus-websocket-clients" => {
            if sink.max_args(line, kw, 1, 0) {
                match kw {
                    "quiet" => g.quiet = true,
                    "zero-warning" => g.zero_warning = true,
                    "external-check" => g.external_check = true,
                    "insecure-fork-wanted" => g.insecure_fork_wanted = true,
                    _ => g.tune_h2.no_websocket = true,
                }
            }
        }
        "tune.pipesize" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(n) = sink.uint(loc, kw, arg, 0, i32::MAX as u64) {
                    g.tune_pipesize = Some(n as u32);
                }
            }
        }
        "tune.maxpollevents" | "tune.runqueue-depth" | "maxpipes" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(n) = sink.uint(loc, kw, arg, 0, i32::MAX as u64) {
                    let v = (n > 0).then_some(n as u32);
                    match kw {
                        "tune.maxpollevents" => g.tune_maxpollevents = v,
                        "tune.runqueue-depth" => g.tune_runqueue_depth = v,
                        _ => g.maxpipes = v,
                    }
                }
            }
        }
        // -1: no limit; 0: the default.
        "tune.maxaccept" => {
            if sink.max_args(line, kw, 1, 1) {
                if arg == Some("-1") {
                    g.tune_maxaccept = Some(None);
                } else if let Some(n) = sink.uint(loc, kw, arg, 0, i32::MAX as u64) {
                    g.tune_maxaccept = (n > 0).then_some(Some(n as u32));
                }
            }
        }
        "tune.chksize" => sink.error(
            loc,
            kw,
            "option 'tune.chksize' is not supported any more (tune.bufsize is used instead).",
        ),
        // HAProxy's bounds: 1 to 32767 header lines; a log line keeps at least one byte of the request line.
        "tune.http.maxhdr" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(n) = sink.uint(loc, kw, arg, 1, 32767) {
                    g.tune_http_maxhdr = Some(n as u32);
                }
            }
        }
        // HAProxy's bounds: the HPACK table at most 64 kB, frames within RFC 9113's limits.
        "tune.h2.header-table-size"
        | "tune.h2.initial-window-size"
        | "tune.h2.max-concurrent-streams"
        | "tune.h2.max-frame-size" => {
            if sink.max_args(line, kw, 1, 1) {
                let (min, max) = match kw {
                    "tune.h2.header-table-size" => (4096, 65536),
                    "tune.h2.max-frame-size" => (16384, 16_777_215),
                    "tune.h2.max-concurrent-streams" => (0, u64::from(u32::MAX)),
                    _ => (0, (1 << 31) - 1),
                };
                if let Some(n) = sink.uint(loc, kw, arg, min, max) {
                    let n = Some(n as u32);
                    match kw {
                        "tune.h2.header-table-size" => g.tune_h2.header_table_size = n,
                        "tune.h2.max-frame-size" => g.tune_h2.max_frame_size = n,
                        "tune.h2.max-concurrent-streams" => g.tune_h2.max_concurrent_streams = n,
                        _ => g.tune_h2.initial_window_size = n,
                    }
                }
            }
        }
        "tune.comp.maxlevel" => {
            match (line.words.len(), arg.map(str::parse::<u8>)) {
                (2, Some(Ok(n))) if (1..=9).contains(&n) => g.tune_comp_maxlevel = Some(n),
                _ => sink.error(
                    loc,
                    kw,
                    "'tune.comp.maxlevel' expects a numeric value between 1 and 9",
                ),
            }
        }
        "tune.http.logurilen" => {
            if sink.max_args(line, kw, 1, 1) {
                if let Some(n) = sink.uint(loc, kw, arg, 1, 1 << 20) {
                    g.tune_http_logurilen = Some(n as u32);
                }
            }
        }
        "server-state-file" | "server-state-base" => {
            let what = if kw == "server-state-file" {
                "a file path"
            } else {
                "a directory path"
            };
            match (line.words.len(), arg) {
                (2, Some(a)) if !a.is_empty() => {
                    let v = Some(PathBuf::from(a));
                    if kw == "server-state-file" {
                        g.server_state_file = v
                    } else {
                        g.server_state_base = v
                    }
                }
                _ => sink.error(loc, kw, format!("expects one argument: {what}")),
            }
        }
        "chroot" | "pidfile" => {
            if sink.max_args(line, kw, 1, 1) {
                match arg {
                    Some(a) if !a.is_empty() => {
                        let v = Some(PathBuf::from(a));
                        if kw == "chroot" { g.chroot = v } else { g.pidfile = v }
                    }
                    _ => sink.error(loc, kw, "expects a path"),
                }
            }
        }
        _ if known::global_unsupported(kw) => sink.unsupported(loc, kw),
        _ if proxy::is_proxy_keyword(kw) => sink.error(
            loc,
            kw,
            format!("'{kw}' is a proxy keyword: it belongs in 'defaults', 'frontend', 'backend' or 'listen' sections, not in 'global'"),
        ),
        _ => sink.error(loc, kw, format!("unknown keyword '{kw}' in 'global' section")),
    }
}

/// `tune.idle-pool.shared on|off`: whether a worker thread with no idle connection to a server may take one
/// another thread keeps (`on`, HAProxy's default) or not.
fn idle_pool_shared(line: &Line, sink: &mut Sink) -> Option<bool> {
    let kw = line.word(0);
    let loc = &line.location;
    if !sink.max_args(line, kw, 1, 1) {
        return None;
    }
    match line.word(1) {
        "off" => Some(false),
        "on" => Some(true),
        other => {
            sink.error(
                loc,
                kw,
                format!("expects either 'on' or 'off' but got '{other}'"),
            );
            None
        }
    }
}

/// Where a `stats socket` listens: `fd@N`, a unix path (`unix@PATH`, an absolute path, or a word with no `:` and
/// no `@`), else an IP address and port.
fn stats_addr(text: &str, resolver: Resolver<'_>) -> Result<StatsAddr, String> {
    if let Some(fd) = addr::inherited_fd(text) {
        return fd.map(StatsAddr::Fd);
    }
    if let Some(p) = text.strip_prefix("unix@") {
        return Ok(StatsAddr::Unix(PathBuf::from(p)));
    }
    if text.starts_with('/') || !text.contains('@') && !text.contains(':') {
        return Ok(StatsAddr::Unix(PathBuf::from(text)));
    }
    let split = addr::split(text, Proto::Stream)?;
    let Some(port) = split.port.as_deref().filter(|p| !p.is_empty()) else {
        return Err(format!("address '{text}' has no port: expected IP:PORT"));
    };
    let port = addr::port(port)?;
    addr::resolve(&split.host, split.family, port, resolver).map(StatsAddr::Tcp)
}

fn stats_socket(g: &mut Global, line: &Line, resolver: Resolver<'_>, sink: &mut Sink) {
    let loc = &line.location;
    let kw = "stats socket";
    let Some(path) = line.words.get(2) else {
        sink.error(loc, kw, "expects an address: 'stats socket PATH|IP:PORT|fd@N [mode OCTAL] [level user|operator|admin] [expose-fd listeners]'");
        return;
    };
    let addr = match stats_addr(path, resolver) {
        Ok(a) => a,
        Err(e) => {
            sink.error(loc, kw, e);
            return;
        }
    };
    let mut s = StatsSocket {
        addr,
        mode: None,
        level: StatsLevel::Admin,
        expose_fd_listeners: false,
        location: loc.clone(),
    };
    let mut ok = true;
    let mut i = 3;
    while i < line.words.len() {
        let opt = line.word(i);
        let val = line.words.get(i + 1).map(String::as_str);
        match opt {
            "mode" => match val
                .and_then(|v| u32::from_str_radix(v, 8).ok())
                .filter(|m| *m <= 0o7777)
            {
                Some(m) => s.mode = Some(m),
                None => {
                    sink.error(
                        loc,
                        kw,
                        format!(
                            "'mode' expects an octal permission such as 600, got '{}'",
                            val.unwrap_or("")
                        ),
                    );
                    ok = false;
                }
            },
            "level" => match val {
                Some("user") => s.level = StatsLevel::User,
                Some("operator") => s.level = StatsLevel::Operator,
                Some("admin") => s.level = StatsLevel::Admin,
                _ => {
                    sink.error(
                        loc,
                        kw,
                        format!(
                            "'level' expects user, operator or admin, got '{}'",
                            val.unwrap_or("")
                        ),
                    );
                    ok = false;
                }
            },
            "expose-fd" => match val {
                Some("listeners") => s.expose_fd_listeners = true,
                _ => {
                    sink.error(
                        loc,
                        kw,
                        format!(
                            "'expose-fd' expects 'listeners', got '{}'",
                            val.unwrap_or("")
                        ),
                    );
                    ok = false;
                }
            },
            other => {
                ok = false;
                match known::BIND_UNSUPPORTED.iter().find(|(n, _)| *n == other) {
                    Some((_, arity)) => {
                        sink.error(loc, kw, format!("bind option '{other}' is supported by HAProxy on a stats socket, not yet by fulcrum"));
                        i += 1 + arity;
                        continue;
                    }
                    None => sink.error(
                        loc,
                        kw,
                        format!("unknown option '{other}': expected mode, level or expose-fd"),
                    ),
                }
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    if ok {
        g.stats_sockets.push(s);
    }
}

/// `all`, `odd`, `even`, `N` or `N-M` (from 1 to `max`).
fn id_set(word: &str, max: u32) -> Option<super::model::IdSet> {
    use super::model::IdSet;
    Some(match word {
        "all" => IdSet::All,
        "odd" => IdSet::Odd,
        "even" => IdSet::Even,
        _ => {
            let (a, b) = word.split_once('-').unwrap_or((word, word));
            let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
            if a == 0 || a > b || b > max {
                return None;
            }
            IdSet::Range(a, b)
        }
    })
}

/// The words after `cpu-map`: `[auto:]PROC[/THREADS] CPUS...`.
fn cpu_map(words: &[String]) -> Option<super::model::CpuMap> {
    let (first, cpus) = words.split_first()?;
    if cpus.is_empty() {
        return None;
    }
    let (auto, sets) = match first.strip_prefix("auto:") {
        Some(rest) => (true, rest),
        None => (false, first.as_str()),
    };
    let (process, threads) = match sets.split_once('/') {
        Some((p, t)) => (id_set(p, 64)?, Some(id_set(t, 4096)?)),
        None => (id_set(sets, 64)?, None),
    };
    let mut list = Vec::new();
    for w in cpus {
        let (a, b) = w.split_once('-').unwrap_or((w, w));
        let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
        if a > b || b > 1023 {
            return None;
        }
        for c in a..=b {
            if !list.contains(&c) {
                list.push(c);
            }
        }
    }
    Some(super::model::CpuMap {
        auto,
        process,
        threads,
        cpus: list,
    })
}
