//! Active health checks. One thread runs a check loop per server with `check`; a state change flips the
//! server's `up` flag, rebuilds its backend's balancing table and is logged in HAProxy's words. A server with
//! `slowstart` that comes back UP ramps up: the table is rebuilt at every step of the ramp until full weight.

pub mod admin_state;
pub(crate) mod forced;
pub mod observe;
mod stopping;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info_span, warn, Instrument};

use fulcrum_admin::runtime::AdminState;
use fulcrum_config::haproxy::{
    CheckVarValue, HeaderMatchMethod, HttpCheckAction, HttpExpect, HttpExpectOptions,
    ProtocolCheck as CheckOption, TcpCheckAction, TcpCheckConnect, TcpCheckRule,
};
use fulcrum_health::agent::AgentAdmin;
use fulcrum_health::protocol::{MysqlCheck, PgsqlCheck, SmtpCheck};
use fulcrum_health::{
    AgentReply, AgentReport, CheckOutcome, CheckStatus, Expect, HttpCheck, LogContext, Probe,
    ProtocolCheck, TcpCheck, Tracker, Transition,
};

use crate::model::server::ServerRt;
use crate::model::snapshot::{BackendRt, Snapshot};

/// How long one check may take, as HAProxy bounds it: without `timeout check`, `inter` bounds the whole check;
/// with it, the connection gets `min(timeout connect, inter)` and the reply `timeout check` more.
fn check_timeout(be: &BackendRt, server: &ServerRt) -> Duration {
    bounded(server.config.inter, be.timeouts.connect, be.timeouts.check)
}

/// HAProxy's bound on a check run every `inter`, given `timeout connect` and `timeout check`.
fn bounded(inter: Duration, connect: Option<Duration>, check: Option<Duration>) -> Duration {
    match check {
        None => inter,
        Some(k) => connect.map_or(inter, |c| c.min(inter)) + k,
    }
}

/// `global node` (else the host name), for `http-check send-state`; set by [`spawn`].
static NODE: std::sync::RwLock<String> = std::sync::RwLock::new(String::new());

/// The value of `http-check send-state`'s header, with haproxy 2.6's fields (observed): the state (`UP`, `DOWN`,
/// `NOLB` while draining; with the health counter as `status: x/y` shows it while in transition), the server's
/// address and port, `backend/server`, the node, the weight over the backend's active weight, the server's
/// connections over the backend's, its queue, and `throttle=N%` during `slowstart`.
fn server_state(be: &BackendRt, server: &ServerRt, tracker: &Tracker) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let (step, of, up) = tracker.log_status();
    let word = match (up, server.weight() == 0) {
        (true, true) => "NOLB",
        (true, false) => "UP",
        (false, _) => "DOWN",
    };
    let settled = if up { step == of } else { step == 0 };
    let state = if settled {
        word.to_owned()
    } else {
        format!("{word} {step}/{of}")
    };
    let total: u64 = be
        .servers
        .iter()
        .filter(|s| s.is_up() && !s.config.backup)
        .map(|s| u64::from(s.weight()))
        .sum();
    let node = NODE.read().map(|n| n.clone()).unwrap_or_default();
    let addr = server.addr();
    let mut out = format!(
        "{state}; address={}; port={}; name={}/{}; node={node}; weight={}/{total}; scur={}/{}; qcur={}",
        addr.ip(),
        addr.port(),
        be.name,
        server.config.name,
        server.weight(),
        server.cur.load(Relaxed),
        be.stats.cur.load(Relaxed),
        server.queued.load(Relaxed),
    );
    if let Some((elapsed, period)) = server.slowstart_progress(Instant::now()) {
        let pct = elapsed.as_millis() * 100 / period.as_millis().max(1);
        out.push_str(&format!("; throttle={pct}%"));
    }
    out
}

/// Starts the health-check thread when at least one server has `check` or `agent-check`.
pub fn spawn(
    snapshot: Arc<Snapshot>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<Option<JoinHandle<()>>> {
    if let Ok(mut node) = NODE.write() {
        *node = snapshot
            .node
            .clone()
            .unwrap_or_else(|| crate::model::log::clock::hostname().to_owned());
    }
    let checked: Vec<(Arc<BackendRt>, Arc<ServerRt>)> = snapshot
        .backends
        .iter()
        .flat_map(|be| {
            be.servers
                .iter()
                // Servers in maintenance (`disabled`) get a loop too: it probes once they leave maintenance.
                .filter(|s| s.config.check || s.config.agent.is_some())
                .map(move |s| (be.clone(), s.clone()))
        })
        .collect();
    if checked.is_empty() {
        return Ok(None);
    }
    let handle = std::thread::Builder::new()
        .name("fulcrum-health".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                warn!("health checks: cannot start their runtime");
                return;
            };
            rt.block_on(async move {
                let mut tasks = tokio::task::JoinSet::new();
                for (be, server) in checked {
                    if server.config.agent.is_some() {
                        let span = info_span!("agent", server = %server.full_name);
                        let task =
                            tasks.spawn(agent_loop(be.clone(), server.clone()).instrument(span));
                        server.hold_task(task);
                    }
                    if server.config.check {
                        let span = info_span!("check", server = %server.full_name);
                        let task = tasks.spawn(check_loop(be, server.clone()).instrument(span));
                        server.hold_task(task);
                    }
                }
                let mut stop = stop;
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
                tasks.abort_all();
            });
        })?;
    Ok(Some(handle))
}

/// Starts the check and agent tasks of a server added at run time on `rt`; they end when it is deleted.
pub(crate) fn start_server_tasks(
    rt: &tokio::runtime::Handle,
    be: &Arc<BackendRt>,
    server: &Arc<ServerRt>,
) {
    if server.config.agent.is_some() {
        let span = info_span!("agent", server = %server.full_name);
        let task = rt.spawn(agent_loop(be.clone(), server.clone()).instrument(span));
        server.hold_task(task.abort_handle());
    }
    if server.config.check {
        let span = info_span!("check", server = %server.full_name);
        let task = rt.spawn(check_loop(be.clone(), server.clone()).instrument(span));
        server.hold_task(task.abort_handle());
    }
}

/// What an external check of `server` (at `target`) runs with: haproxy 2.6's arguments and `HAPROXY_*`
/// variables (see `fulcrum_health::external`).
fn external_run(
    be: &BackendRt,
    server: &ServerRt,
    ext: &fulcrum_config::haproxy::ExternalCheck,
    target: SocketAddr,
) -> fulcrum_health::external::ExternalRun {
    // The proxy's first listening address: a `listen` section's; a backend has none.
    let bind = be.config.binds.first();
    let (proxy_addr, proxy_port) = match (
        bind.and_then(|b| b.addrs.first()),
        bind.and_then(|b| b.unix.first()),
    ) {
        (Some(a), _) => (a.ip().to_string(), a.port().to_string()),
        (None, Some(u)) => (u.name().to_string(), "NOT_USED".to_string()),
        (None, None) => ("NOT_USED".to_string(), "NOT_USED".to_string()),
    };
    let c = &server.config;
    let proto = match c.proto {
        Some(fulcrum_config::haproxy::BindProto::H2) => "h2",
        _ if be.config.mode == fulcrum_config::haproxy::Mode::Http => "h1",
        _ => "tcp",
    };
    let (addr, port) = (target.ip().to_string(), target.port().to_string());
    fulcrum_health::external::ExternalRun {
        command: ext.command.clone().into(),
        path: ext.path.clone().into(),
        args: [
            proxy_addr.clone(),
            proxy_port.clone(),
            addr.clone(),
            port.clone(),
        ],
        vars: vec![
            ("HAPROXY_PROXY_ADDR", proxy_addr),
            ("HAPROXY_PROXY_ID", be.iid.to_string()),
            ("HAPROXY_PROXY_NAME", be.name.to_string()),
            ("HAPROXY_PROXY_PORT", proxy_port),
            ("HAPROXY_SERVER_ADDR", addr),
            (
                "HAPROXY_SERVER_CURCONN",
                server
                    .cur
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .to_string(),
            ),
            ("HAPROXY_SERVER_ID", server.puid.to_string()),
            ("HAPROXY_SERVER_MAXCONN", c.maxconn.unwrap_or(0).to_string()),
            ("HAPROXY_SERVER_NAME", c.name.clone()),
            ("HAPROXY_SERVER_PORT", port),
            ("HAPROXY_SERVER_PROTO", proto.to_string()),
            ("HAPROXY_SERVER_SSL", u8::from(c.tls.is_some()).to_string()),
        ],
    }
}

/// The check of `be`'s servers: HTTP, a server protocol, or a TCP connect.
fn probe_for(be: &BackendRt) -> Probe {
    if let Some(rules) = &be.config.tcp_check {
        match script_probe(rules) {
            Ok(check) => return Probe::Script(check),
            Err(e) => {
                // The configuration refuses what would fail here; a TCP connect is the fallback.
                warn!(backend = %be.name, error = %e, "invalid tcp-check rules; checking TCP connections instead");
                return Probe::Tcp;
            }
        }
    }
    if be.config.httpchk.is_some() && !http_ruleset_is_plain(be) {
        match http_script(be) {
            Ok(check) => return Probe::Script(check),
            Err(e) => {
                // The configuration refuses what would fail here.
                warn!(backend = %be.name, error = %e, "invalid http-check rules; checking with option httpchk's request");
            }
        }
    }
    if let Some(http) = http_probe(be) {
        return Probe::Http(http);
    }
    if be.config.protocol_check == Some(CheckOption::SslHello) {
        return Probe::Script(TcpCheck::ssl_hello());
    }
    match be.config.protocol_check.as_ref().map(protocol_probe) {
        Some(Ok(check)) => Probe::Protocol(check),
        Some(Err(e)) => {
            // The configuration refuses what would fail here; a TCP connect is the fallback.
            warn!(backend = %be.name, error = %e, "invalid check option; checking TCP connections instead");
            Probe::Tcp
        }
        None => Probe::Tcp,
    }
}

fn protocol_probe(option: &CheckOption) -> Result<ProtocolCheck, fulcrum_health::SpecError> {
    Ok(match option {
        CheckOption::Smtp { verb, domain } => ProtocolCheck::Smtp(SmtpCheck::new(verb, domain)?),
        CheckOption::Redis => ProtocolCheck::Redis,
        CheckOption::Pgsql { user } => ProtocolCheck::Pgsql(PgsqlCheck::new(user)?),
        CheckOption::Mysql { user: None, .. } => ProtocolCheck::Mysql(MysqlCheck::handshake_only()),
        CheckOption::Mysql {
            user: Some(user),
            pre41,
        } => ProtocolCheck::Mysql(MysqlCheck::login(user, !pre41)?),
        CheckOption::Ldap => ProtocolCheck::Ldap,
        CheckOption::Spop => ProtocolCheck::Spop,
        // Run as a scripted check (`probe_for`); a TCP connect at worst.
        CheckOption::SslHello => {
            return Err(fulcrum_health::SpecError::Ruleset(
                "ssl-hello-chk is a scripted check".into(),
            ))
        }
    })
}

/// The check status a `tcp-check expect` option names (the configuration allows only known ones).
fn status_named(name: &str) -> Option<CheckStatus> {
    crate::model::counters::CHECK_STATUSES
        .into_iter()
        .find(|s| s.code() == name)
}

/// The validated `tcp-check` ruleset of `option tcp-check`.
fn script_probe(rules: &[TcpCheckRule]) -> Result<TcpCheck, fulcrum_health::SpecError> {
    use fulcrum_health::tcpcheck::{self as tc, Rule};
    let mut out = Vec::with_capacity(rules.len());
    for r in rules {
        let action = match &r.action {
            TcpCheckAction::Comment => tc::Action::Comment,
            TcpCheckAction::Send(bytes) => tc::Action::Send(bytes.clone()),
            TcpCheckAction::Connect(c) => tc::Action::Connect(connect_rule(c)),
            TcpCheckAction::SetVar(name, value, conds) => set_var_rule(name, value, *conds),
            TcpCheckAction::UnsetVar(name) => tc::Action::UnsetVar(name.clone()),
            TcpCheckAction::SendLf { format, binary } => {
                tc::Action::SendLf(Arc::new(format.format().clone()), *binary)
            }
            TcpCheckAction::Expect(e) => {
                let mut x = tc::Expect::new(tc::Expect::pattern(&e.kind, &e.pattern)?);
                x.inverse = e.inverse;
                x.min_recv = e.min_recv;
                let pick = |name: &Option<String>, default| {
                    name.as_deref().and_then(status_named).unwrap_or(default)
                };
                x.ok_status = pick(&e.ok_status, x.ok_status);
                x.error_status = pick(&e.error_status, x.error_status);
                x.tout_status = pick(&e.tout_status, x.tout_status);
                (x.on_success, x.on_error, x.formats) =
                    verdict_texts(&e.on_success, &e.on_error, &e.status_code);
                tc::Action::Expect(Box::new(x))
            }
        };
        out.push(Rule::new(action).with_comment(r.comment.clone()));
    }
    TcpCheck::new(out)
}

/// An expect rule's `on-success`, `on-error` (plain texts as such, log-format strings with `%` sequences
/// to evaluate) and `status-code`.
fn verdict_texts(
    on_success: &Option<String>,
    on_error: &Option<String>,
    status_code: &Option<fulcrum_config::haproxy::SampleExpr>,
) -> (
    Option<String>,
    Option<String>,
    fulcrum_health::check_ctx::VerdictFormats,
) {
    // The configuration checked that the formats compile.
    let split = |t: &Option<String>| match t {
        Some(t) if t.contains('%') => {
            (None, fulcrum_sample::LogFormat::parse(t).ok().map(Arc::new))
        }
        other => (other.clone(), None),
    };
    let (success, success_lf) = split(on_success);
    let (error, error_lf) = split(on_error);
    let formats = fulcrum_health::check_ctx::VerdictFormats {
        on_success: success_lf,
        on_error: error_lf,
        status_code: status_code.as_ref().map(|e| e.0.clone()),
    };
    (success, error, formats)
}

fn connect_rule(c: &TcpCheckConnect) -> fulcrum_health::tcpcheck::Connect {
    fulcrum_health::tcpcheck::Connect {
        port: c.port,
        addr: c.addr,
        send_proxy: c.send_proxy,
        default: c.default,
        linger: c.linger,
        ssl: c.ssl,
        sni: c.sni.clone(),
        alpn: c.alpn.clone(),
        via_socks4: c.via_socks4,
        h2: c.proto.map(|p| p == fulcrum_config::haproxy::BindProto::H2),
    }
}

fn set_var_rule(
    name: &fulcrum_sample::VarName,
    value: &CheckVarValue,
    conds: fulcrum_sample::VarConds,
) -> fulcrum_health::tcpcheck::Action {
    use fulcrum_health::tcpcheck::Action;
    match value {
        CheckVarValue::Expr(e) => Action::SetVar(name.clone(), e.0.clone(), conds),
        CheckVarValue::Format(f) => {
            Action::SetVarFmt(name.clone(), Arc::new(f.format().clone()), conds)
        }
    }
}

/// Whether an `http-check` ruleset is one request judged by its expects, nothing computed per run: it then
/// runs as [`Probe::Http`] (over HTTP/2 too); any other runs in the scripted checks' step machine.
fn http_ruleset_is_plain(be: &BackendRt) -> bool {
    let mut sends = 0;
    be.config.http_check.iter().all(|r| match &r.action {
        HttpCheckAction::Comment => true,
        HttpCheckAction::Connect(_)
        | HttpCheckAction::SetVar(..)
        | HttpCheckAction::UnsetVar(_) => false,
        HttpCheckAction::Send(req) => {
            sends += 1;
            sends == 1 && !request_is_dynamic(req)
        }
        HttpCheckAction::Expect(HttpExpect::StringLf(_), _) => false,
        HttpCheckAction::Expect(_, o)
            if o.status_code.is_some()
                || o.min_recv.is_some()
                || o.tout_status.is_some()
                || [&o.on_success, &o.on_error]
                    .iter()
                    .any(|t| t.as_deref().is_some_and(|t| t.contains('%'))) =>
        {
            false
        }
        HttpCheckAction::Expect(HttpExpect::Header(h), _) => !h.name_lf && !h.value_lf,
        HttpCheckAction::Expect(..) => true,
    })
}

/// Whether a request has log-format parts that say something (a `%`).
fn request_is_dynamic(req: &fulcrum_config::haproxy::HttpCheck) -> bool {
    (req.uri_lf && req.uri.contains('%'))
        || (req.body_lf && req.body.as_deref().is_some_and(|b| b.contains('%')))
        || (req.headers_lf && req.headers.iter().any(|(_, v)| v.contains('%')))
}

/// One `http-check send` request for the step machine.
fn http_send(
    req: &fulcrum_config::haproxy::HttpCheck,
) -> Result<fulcrum_health::http::HttpSend, fulcrum_health::SpecError> {
    use fulcrum_health::http::{HttpSend, Text};
    let text = |lf: bool, t: &str| -> Result<Text, fulcrum_health::SpecError> {
        if !lf {
            return Ok(Text::Plain(t.to_owned()));
        }
        fulcrum_sample::LogFormat::parse(t)
            .map(|f| Text::Format(Arc::new(f)))
            .map_err(|e| fulcrum_health::SpecError::Pattern(format!("'{t}': {e}")))
    };
    let headers = req
        .headers
        .iter()
        .map(|(n, v)| Ok((n.clone(), text(req.headers_lf, v)?)))
        .collect::<Result<Vec<_>, fulcrum_health::SpecError>>()?;
    let body = match &req.body {
        Some(b) => Some(text(req.body_lf, b)?),
        None => None,
    };
    HttpSend::new(
        &req.method,
        text(req.uri_lf, &req.uri)?,
        &req.version,
        headers,
        body,
    )
}

/// An `http-check` ruleset for the step machine: connections, requests rendered per run, expects, variables.
fn http_script(be: &BackendRt) -> Result<TcpCheck, fulcrum_health::SpecError> {
    use fulcrum_health::tcpcheck::{Action, Rule};
    let default = match &be.config.httpchk {
        Some(req) => http_send(req)?,
        None => {
            return Err(fulcrum_health::SpecError::Ruleset(
                "no option httpchk".into(),
            ))
        }
    };
    let mut rules = Vec::with_capacity(be.config.http_check.len());
    for r in &be.config.http_check {
        let action = match &r.action {
            HttpCheckAction::Comment => Action::Comment,
            HttpCheckAction::Connect(c) => Action::Connect(connect_rule(c)),
            HttpCheckAction::SetVar(name, value, conds) => set_var_rule(name, value, *conds),
            HttpCheckAction::UnsetVar(name) => Action::UnsetVar(name.clone()),
            HttpCheckAction::Send(req) => Action::SendHttp(Box::new(http_send(req)?)),
            HttpCheckAction::Expect(e, o) => {
                let expect = match http_expect(Some(e), o, true) {
                    Expect::Rule(mut rule) => {
                        if let (fulcrum_health::Match::Header(h), HttpExpect::Header(cfg)) =
                            (&mut rule.matcher, e)
                        {
                            let lf = |on: bool, t: Option<&String>| {
                                t.filter(|_| on)
                                    .and_then(|t| fulcrum_sample::LogFormat::parse(t).ok())
                                    .map(Arc::new)
                            };
                            h.name_lf = lf(cfg.name_lf, Some(&cfg.name.1));
                            h.value_lf = lf(cfg.value_lf, cfg.value.as_ref().map(|v| &v.1));
                        }
                        Expect::Rule(rule)
                    }
                    other => other,
                };
                Action::ExpectHttp(Box::new(expect))
            }
        };
        rules.push(Rule::new(action).with_comment(r.comment.clone()));
    }
    TcpCheck::http(rules, default)
}

/// The expectation of `http-check expect`: the plain forms as such, the others as a full rule.
/// `full`: always a full rule (one of several), never the plain forms.
fn http_expect(expect: Option<&HttpExpect>, opts: &HttpExpectOptions, full: bool) -> Expect {
    use fulcrum_health::{ExpectRule, Match};
    let plain = !full && *opts == HttpExpectOptions::default();
    let regex = |re: &str| regex::bytes::Regex::new(re).ok();
    let matcher = match expect {
        None => return Expect::Default,
        Some(HttpExpect::Status(code)) if plain => return Expect::Status(*code),
        Some(HttpExpect::String(s)) if plain => return Expect::String(s.clone()),
        Some(HttpExpect::Status(code)) => Match::Statuses(vec![(*code, *code)]),
        Some(HttpExpect::Statuses(list)) => Match::Statuses(list.clone()),
        Some(HttpExpect::String(s)) => Match::Body(s.clone().into_bytes()),
        // The configuration checked that the format compiles.
        Some(HttpExpect::StringLf(f)) => match fulcrum_sample::LogFormat::parse(f) {
            Ok(f) => Match::BodyFormat(Arc::new(f)),
            Err(_) => return Expect::Default,
        },
        // The configuration checked that the expressions compile.
        Some(HttpExpect::RStatus(re)) => match regex(re) {
            Some(re) => Match::StatusRegex(re),
            None => return Expect::Default,
        },
        Some(HttpExpect::RString(re)) => match regex(re) {
            Some(re) => Match::BodyRegex(re),
            None => return Expect::Default,
        },
        Some(HttpExpect::Header(h)) => {
            let name = text_match(&h.name, true);
            let value = match &h.value {
                Some(v) => match text_match(v, false) {
                    Some(m) => Some(m),
                    None => return Expect::Default,
                },
                None => None,
            };
            match name {
                Some(name) => Match::Header(fulcrum_health::HeaderRule::new(h.full, name, value)),
                None => return Expect::Default,
            }
        }
    };
    let mut rule = ExpectRule::new(matcher);
    rule.inverse = opts.inverse;
    rule.comment = opts.comment.clone();
    if let Some(st) = opts.ok_status.as_deref().and_then(status_named) {
        rule.ok_status = st;
    }
    rule.error_status = opts.error_status.as_deref().and_then(status_named);
    rule.tout_status = opts.tout_status.as_deref().and_then(status_named);
    rule.min_recv = opts.min_recv;
    (rule.on_success, rule.on_error, rule.formats) =
        verdict_texts(&opts.on_success, &opts.on_error, &opts.status_code);
    Expect::Rule(Box::new(rule))
}

/// One side of `http-check expect hdr`; names are matched ignoring case (a name regex too).
fn text_match(
    (method, text): &(HeaderMatchMethod, String),
    fold: bool,
) -> Option<fulcrum_health::TextMatch> {
    use fulcrum_health::TextMatch;
    let bytes = text.clone().into_bytes();
    Some(match method {
        HeaderMatchMethod::Str => TextMatch::Str(bytes),
        HeaderMatchMethod::Beg => TextMatch::Beg(bytes),
        HeaderMatchMethod::End => TextMatch::End(bytes),
        HeaderMatchMethod::Sub => TextMatch::Sub(bytes),
        // The configuration checked that the expression compiles.
        HeaderMatchMethod::Reg => TextMatch::Reg(
            regex::bytes::RegexBuilder::new(text)
                .case_insensitive(fold)
                .build()
                .ok()?,
        ),
    })
}

fn http_probe(be: &BackendRt) -> Option<HttpCheck> {
    let chk = be.config.httpchk.as_ref()?;
    let expects = be.config.http_expects();
    let expect = if expects.len() <= 1 {
        match expects.first() {
            Some((e, o)) => http_expect(Some(e), o, false),
            None => Expect::Default,
        }
    } else {
        // Several rules on the same response, in order.
        let rules = expects
            .iter()
            .map(|(e, o)| http_expect(Some(e), o, true))
            .filter_map(|e| match e {
                Expect::Rule(r) => Some(*r),
                _ => None,
            })
            .collect();
        Expect::Rules(rules)
    };
    match HttpCheck::new(
        &chk.method,
        &chk.uri,
        &chk.version,
        &chk.headers,
        chk.body.as_deref(),
        expect,
    ) {
        Ok(c) => Some(c),
        Err(e) => {
            warn!(backend = %be.name, error = %e, "invalid httpchk request; using the default OPTIONS check");
            Some(HttpCheck::options_default())
        }
    }
}

/// `spread-checks PCT`: `interval` moved by up to `pct` percent either way, `r` (uniform over `u32`) saying where.
fn spread(interval: Duration, pct: u8, r: u32) -> Duration {
    if pct == 0 {
        return interval;
    }
    let span = interval.as_secs_f64() * f64::from(pct.min(50)) / 100.0;
    // From -span (r = 0) to +span (r = u32::MAX).
    let offset = span * (2.0 * f64::from(r) / f64::from(u32::MAX) - 1.0);
    Duration::from_secs_f64((interval.as_secs_f64() + offset).max(0.0))
}

/// How often the farm is rebuilt while a server ramps up over `period`.
fn ramp_step(period: Duration) -> Duration {
    (period / crate::model::ramp::RAMP_STEPS).max(Duration::from_millis(100))
}

/// Rebuilds the backend's farm at every step of the `slowstart` ramp stamped `stamp`, until the server runs at
/// full weight; stops early when the server goes down or a newer ramp starts.
async fn slowstart_ramp(be: Arc<BackendRt>, server: Arc<ServerRt>, stamp: u64) {
    let Some(period) = server.config.slowstart else {
        return;
    };
    let step = ramp_step(period);
    loop {
        tokio::time::sleep(step).await;
        if server.slowstart_stamp() != stamp || !server.is_up() {
            return;
        }
        let done = server.slowstart_progress(Instant::now()).is_none();
        if done {
            server.end_slowstart(Some(stamp));
        }
        be.rebuild_farm();
        if done {
            tracing::debug!("slowstart over: full weight");
            return;
        }
    }
}

/// The PROXY protocol header a check connection opens with, as HAProxy sends it: with `check-send-proxy`, or
/// when the traffic has one (`send-proxy*`) and the checks go to the traffic's address (no `port` nor `addr`).
/// It names no client: `PROXY UNKNOWN` in version 1, the LOCAL command in version 2. Empty when none is sent.
/// A server added at run time (`dynamic`) sends one only with `check-send-proxy` (haproxy 2.6 observed).
pub(crate) fn check_preamble(c: &fulcrum_config::haproxy::Server, dynamic: bool) -> Vec<u8> {
    let same_target = c.check_port.is_none() && c.check_addr.is_none() && !dynamic;
    let mut out = Vec::new();
    if c.check_send_proxy || (c.send_proxy.is_some() && same_target) {
        let how = c.send_proxy.unwrap_or_default();
        crate::net::proxy_header::encode(&how, None, &Default::default(), &mut out);
    }
    out
}

/// A check's TLS handshakes, counted in the `ssl` statistics of its server and backend as HAProxy counts them.
struct CheckTally {
    be: Arc<BackendRt>,
    server: Arc<ServerRt>,
}

impl fulcrum_health::HandshakeTally for CheckTally {
    fn completed(&self, resumed: bool) {
        self.be.count_tls_handshake(&self.server, Some(resumed));
    }

    fn failed(&self) {
        self.be.count_tls_handshake(&self.server, None);
    }
}

/// The checks of one server, until it is deleted (`del server`) or the task is dropped.
pub(crate) async fn check_loop(be: Arc<BackendRt>, server: Arc<ServerRt>) {
    let c = &server.config;
    // A state carried over a restart (server-state file): an UP server starts fully up, so it takes `fall`
    // failed checks to go DOWN as if it had never stopped; a DOWN one needs `rise` passed checks.
    let carried = server.carried_state();
    let mut tracker = Tracker::new(
        c.rise,
        c.fall,
        c.inter,
        c.fastinter,
        c.downinter,
        carried.unwrap_or(true),
    );
    if carried == Some(true) {
        tracker.force(true);
    }
    let target = SocketAddr::new(
        c.check_addr.unwrap_or(server.addr().ip()),
        c.check_port.unwrap_or(server.addr().port()),
    );
    let probe = match probe_for(&be) {
        // HTTP checks speak the server's protocol (`proto h2`), or the one `check-proto` names.
        Probe::Http(http) => {
            let proto = server.config.check_proto.or(server.config.proto);
            Probe::Http(http.over_h2(proto == Some(fulcrum_config::haproxy::BindProto::H2)))
        }
        other => other,
    };
    let timeout = check_timeout(&be, &server);
    // `check-ssl`, or `ssl` checked on its traffic port: the check runs over TLS with the server's settings.
    // The server's TLS settings, which `connect ssl` rules use too; `check-alpn` (else `alpn`) offered.
    let rules_tls = match (&server.tls, &c.tls) {
        (Some(config), Some(t)) => Some(fulcrum_health::TlsCheck {
            config: match &t.check_alpn {
                Some(list) => {
                    let mut with_alpn = (**config).clone();
                    with_alpn.alpn_protocols = list.iter().map(|p| p.as_bytes().to_vec()).collect();
                    Arc::new(with_alpn)
                }
                None => config.clone(),
            },
            name: fulcrum_tls::client::server_name(t.check_sni.as_deref(), target.ip()),
            tally: Some(Arc::new(CheckTally {
                be: be.clone(),
                server: server.clone(),
            })),
        }),
        _ => None,
    };
    let tls = rules_tls
        .clone()
        .filter(|_| c.tls.as_ref().is_some_and(|t| t.checks));
    let preamble = check_preamble(c, server.dynamic);
    // Spread the first checks over the interval so that servers are not all probed at once, within
    // `max-spread-checks` when it is set.
    let offset = Duration::from_millis(c.inter.as_millis() as u64 * (server.index as u64 % 8) / 8);
    tokio::time::sleep(be.max_spread_checks.map_or(offset, |m| offset.min(m))).await;
    // The status of the previous check (`None` before the first): `option log-health-checks` logs a check whose
    // status differs from it, or that moved the health counter.
    let mut last_status = None;
    loop {
        if server.is_deleted() {
            return;
        }
        // In maintenance, or after `disable health` on the runtime API, the checks leave the state alone.
        let paused = || server.in_maint() || server.checks_frozen();
        if paused() {
            tokio::time::sleep(c.inter).await;
            continue;
        }
        // `set server ... health up|down` forced a verdict: the counting goes on from it.
        if let Some(up) = server.take_forced_health() {
            tracker.force(up);
            server.stats.check.set_health(tracker.health());
        }
        // The address may have changed since (resolvers, `set server ... addr|check-addr|check-port`).
        let (check_addr, check_port) = server.check_target();
        let target = SocketAddr::new(
            check_addr.unwrap_or(server.addr().ip()),
            check_port.unwrap_or(server.addr().port()),
        );
        let stated;
        let probe_now = match &probe {
            Probe::Http(http) if be.config.http_send_state => {
                let state = server_state(&be, &server, &tracker);
                stated = Probe::Http(http.with_header("x-haproxy-server-state", &state));
                &stated
            }
            _ => &probe,
        };
        let outcome = if let Some(ext) = &be.config.external_check {
            // `option external-check`: a program, given until the next check is due (as haproxy 2.6 bounds it).
            let run = external_run(&be, &server, ext, target);
            fulcrum_health::external::external_check(&run, c.inter).await
        } else {
            match &probe {
                // Scripted checks (tcp-check, http-check rulesets) see the server's names and carry send-state.
                Probe::Script(check) => {
                    let extra_headers = if be.config.http_send_state {
                        vec![(
                            "x-haproxy-server-state".to_owned(),
                            server_state(&be, &server, &tracker),
                        )]
                    } else {
                        Vec::new()
                    };
                    let target = fulcrum_health::tcpcheck::Target {
                        addr: target,
                        preamble: preamble.clone(),
                        tls: tls.clone(),
                        rules_tls: rules_tls.clone(),
                        names: fulcrum_health::check_ctx::CheckNames {
                            backend: be.name.to_string(),
                            server: c.name.clone(),
                        },
                        extra_headers,
                        socks4: c.socks4,
                        via_socks4: c.check_via_socks4,
                        h2: c.check_proto.or(c.proto)
                            == Some(fulcrum_config::haproxy::BindProto::H2),
                    };
                    fulcrum_health::tcpcheck::run(check, &target, timeout).await
                }
                _ => {
                    probe_now
                        .run_with_preamble(
                            target,
                            timeout,
                            tls.as_ref(),
                            &preamble,
                            c.socks4.filter(|_| c.check_via_socks4),
                        )
                        .await
                }
            }
        };
        let outcome = if be.config.http_disable_on_404 {
            stopping::judge(outcome, tracker.log_status().2)
        } else {
            outcome
        };
        server.stats.check.record(&outcome);
        if paused() {
            continue;
        }
        let health_before = tracker.health();
        let transition = tracker.record(outcome.result());
        server.stats.check.set_health(tracker.health());
        if be.config.log_health_checks
            && (last_status != Some(outcome.status) || tracker.health() != health_before)
        {
            log_check(&be, &server, &tracker, &outcome);
        }
        last_status = Some(outcome.status);
        if let Some(transition) = transition {
            apply_transition(&be, &server, transition, &outcome);
        }
        if be.config.http_disable_on_404
            || outcome.status == CheckStatus::L7OkCond
            || server.is_stopping()
        {
            stopping::follow(&be, &server, &outcome);
        }
        // Until the next check, the traffic may report `error-limit` errors in a row (`observe`): `on-error`
        // then counts as a failed check, or less, and brings the next check to `fastinter` at the latest.
        let mut next = tokio::time::Instant::now()
            + spread(
                tracker.next_interval(),
                be.spread_checks,
                crate::model::rules::vars::random_u32(),
            );
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => break,
                _ = server.observer.wake.notified() => {
                    let Some((errors, last)) = server.observer.take() else {
                        continue;
                    };
                    if paused() {
                        continue;
                    }
                    next = next.min(tokio::time::Instant::now() + c.fastinter);
                    if !observe::prepare(c.observe.on_error, &mut tracker) {
                        continue;
                    }
                    let outcome = observe::outcome(errors, last);
                    server.stats.check.record(&outcome);
                    let health_before = tracker.health();
                    let transition = tracker.record(outcome.result());
                    server.stats.check.set_health(tracker.health());
                    if be.config.log_health_checks && tracker.health() != health_before {
                        log_check(&be, &server, &tracker, &outcome);
                    }
                    last_status = Some(outcome.status);
                    if let Some(transition) = transition {
                        apply_transition(&be, &server, transition, &outcome);
                    }
                }
            }
        }
    }
}

/// Applies a change of state the checks decided: the farm, the `slowstart` ramp, the log and the
/// `on-marked-*` shutdowns.
fn apply_transition(
    be: &Arc<BackendRt>,
    server: &Arc<ServerRt>,
    transition: Transition,
    outcome: &CheckOutcome,
) {
    let up = transition == Transition::Up;
    // A server coming back UP ramps up over `slowstart` (a DOWN one ends any ramp in progress).
    let ramp = if up {
        server.begin_slowstart(Instant::now())
    } else {
        server.end_slowstart(None);
        None
    };
    let was_up = server.is_checked_up();
    // `ok-status L7OKC`: a server coming UP on a conditional pass comes UP stopping.
    if up && outcome.status == CheckStatus::L7OkCond {
        server.set_stopping(true);
    }
    server.set_up(up);
    be.rebuild_farm();
    if let Some(stamp) =
        ramp.filter(|_| crate::model::select::is_dynamic(&be.balance, be.hash_type))
    {
        tokio::spawn(slowstart_ramp(be.clone(), server.clone(), stamp).in_current_span());
    }
    // While an agent holds the server DOWN, the checks' verdict changes nothing visible.
    if server.is_checked_up() != was_up {
        if up && server.is_stopping() {
            // Not usable before, so not the last one lost either.
            stopping::announce(be, server, true, false);
        } else {
            announce(be, server, transition, outcome);
        }
        observe::on_marked(be, server, up);
    }
    follow_tracked(be, server, up, 0);
}

/// `track`: the servers tracking `server` (of backend `be`) take its new state, and those tracking them in turn.
fn follow_tracked(be: &BackendRt, server: &ServerRt, up: bool, depth: usize) {
    // The configuration refuses loops; the bound only guards against a deep chain.
    if depth > 64 {
        return;
    }
    for (tbe, t) in be.trackers_of(server) {
        let was_up = t.is_checked_up();
        t.set_up(up);
        tbe.rebuild_farm();
        if t.is_checked_up() != was_up {
            let (active, backups) = tbe.servers_up();
            tbe.stats.state.set(active + backups > 0);
            let line = format!(
                "Server {} is {} via {}. {active} active and {backups} backup servers left. {} sessions active, 0 requeued, 0 remaining in queue.",
                t.full_name,
                if up { "UP" } else { "DOWN" },
                server.full_name,
                t.cur.load(std::sync::atomic::Ordering::Relaxed),
            );
            warn!("{line}");
            let level = if up {
                crate::model::log::syslog::NOTICE
            } else {
                crate::model::log::syslog::ALERT
            };
            tbe.log_event(level, &line);
            observe::on_marked(&tbe, &t, up);
        }
        follow_tracked(&tbe, &t, up, depth + 1);
    }
}

/// Logs a server's change of state in HAProxy's words, on fulcrum's log and to the backend's `log` targets, and
/// says when the backend has no usable server left.
fn announce(be: &BackendRt, server: &ServerRt, transition: Transition, outcome: &CheckOutcome) {
    let (active, backups) = be.servers_up();
    be.stats.state.set(active + backups > 0);
    let ctx = LogContext {
        backup: server.config.backup,
        active,
        backups,
        sessions_active: u64::from(server.cur.load(std::sync::atomic::Ordering::Relaxed)),
        requeued: 0,
        queued: 0,
        check_logged: be.config.log_health_checks,
    };
    let line =
        fulcrum_health::haproxy_log_line(&be.name, &server.config.name, transition, outcome, &ctx);
    warn!("{line}");
    let level = if transition == Transition::Up {
        crate::model::log::syslog::NOTICE
    } else {
        crate::model::log::syslog::ALERT
    };
    be.log_event(level, &line);
    // A stopping server (`disable-on-404`) was not counted among the usable ones: its going DOWN takes no
    // last server away.
    if active == 0 && backups == 0 && !server.is_stopping() {
        let line = fulcrum_health::no_server_available_line(
            &be.name,
            be.config.kind == fulcrum_config::haproxy::ProxyKind::Listen,
        );
        tracing::error!("{line}");
        be.log_event(crate::model::log::syslog::EMERG, &line);
    }
}

/// How long one agent exchange may take: `agent-inter`, unless `timeout check` is set (then as for checks).
fn agent_timeout(be: &BackendRt, inter: Duration) -> Duration {
    bounded(inter, be.timeouts.connect, be.timeouts.check)
}

/// The agent checks of one server (`agent-check`): every `agent-inter`, ask the agent and apply its report,
/// until the server is deleted or the task is dropped.
pub(crate) async fn agent_loop(be: Arc<BackendRt>, server: Arc<ServerRt>) {
    let Some(agent) = server.config.agent.clone() else {
        return;
    };
    let timeout = agent_timeout(&be, agent.inter);
    let offset = agent.inter.as_millis() as u64 * (server.index as u64 % 8) / 8;
    tokio::time::sleep(Duration::from_millis(offset)).await;
    // The status of the last agent verdict logged (`option log-health-checks` logs changes).
    let mut last_status = None;
    loop {
        if server.is_deleted() {
            return;
        }
        // `disable agent` on the runtime API (a server added at run time waits for `enable agent`).
        if server.agent_frozen() {
            tokio::time::sleep(agent.inter).await;
            continue;
        }
        // The reply is applied before the connection closes, as HAProxy does.
        let apply = |reply| match reply {
            // Stopped or deleted while the agent answered: its word is not taken.
            _ if server.agent_frozen() || server.is_deleted() => {}
            // The regular checks judge connectivity; an unreachable agent changes nothing.
            AgentReply::Unreachable(outcome) => {
                tracing::debug!(reason = %outcome.description(), "agent unreachable");
                server.agent_stats.record(&outcome);
            }
            AgentReply::Empty(outcome) => {
                server.agent_stats.record(&outcome);
                if last_status != Some(outcome.status) {
                    log_agent(&be, &server, &outcome);
                }
                last_status = Some(outcome.status);
            }
            AgentReply::Line { report, duration } => {
                apply_agent(&be, &server, &report);
                match report.outcome(duration) {
                    Some(outcome) => server.agent_stats.record(&outcome),
                    None => server
                        .agent_stats
                        .record_checked(duration, report.error_text()),
                }
                if let Some(outcome) = report.outcome(duration) {
                    let was_up = server.is_checked_up();
                    server.set_agent_up(outcome.ok());
                    be.rebuild_farm();
                    if last_status != Some(outcome.status) {
                        log_agent(&be, &server, &outcome);
                    }
                    last_status = Some(outcome.status);
                    let now_up = server.is_checked_up();
                    if now_up != was_up && !server.in_maint() {
                        let transition = if now_up {
                            Transition::Up
                        } else {
                            Transition::Down
                        };
                        announce(&be, &server, transition, &outcome);
                        observe::on_marked(&be, &server, now_up);
                    }
                }
            }
        };
        // Where and what: as configured, or as `set server ... agent-addr|agent-port|agent-send` changed them.
        let Some(now) = server.agent_target() else {
            return;
        };
        let target = SocketAddr::new(now.addr.unwrap_or(server.addr().ip()), now.port);
        let send = now.send.filter(|s| !s.is_empty());
        fulcrum_health::agent_exchange_with(target, send.as_deref(), timeout, apply).await;
        tokio::time::sleep(spread(
            agent.inter,
            be.spread_checks,
            crate::model::rules::vars::random_u32(),
        ))
        .await;
    }
}

/// Applies an agent's weight, `maxconn` and administrative state to `server`.
fn apply_agent(be: &BackendRt, server: &ServerRt, report: &AgentReport) {
    let mut changed = false;
    if let Some(w) = report.weight(server.config.weight) {
        changed |= server.user_weight() != w;
        server.set_user_weight(w);
    }
    if let Some(n) = report.maxconn {
        changed |= server.maxconn() != Some(n).filter(|&m| m > 0);
        server.set_maxconn(n);
    }
    if changed {
        be.rebuild_farm();
    }
    if let Some(admin) = report.admin {
        let state = match admin {
            AgentAdmin::Ready => AdminState::Ready,
            AgentAdmin::Drain => AdminState::Drain,
            AgentAdmin::Maint => AdminState::Maint,
        };
        crate::health::admin_state::apply_admin(
            be,
            server,
            crate::health::admin_state::admin_flags(server, state),
        );
    }
}

/// Logs an agent's verdict as `option log-health-checks` does (`Agent check for server ...`); the agent's
/// health counts 1/1.
fn log_agent(be: &BackendRt, server: &ServerRt, outcome: &CheckOutcome) {
    if !be.config.log_health_checks {
        return;
    }
    let up = server.is_checked_up();
    let progress = fulcrum_health::CheckProgress {
        step: u32::from(up),
        of: 1,
        up,
        drain: server.user_weight() == 0,
    };
    let line = fulcrum_health::agent_check_line(
        &be.name,
        &server.config.name,
        server.config.backup,
        outcome,
        progress,
    );
    warn!("{line}");
    be.log_event(crate::model::log::syslog::NOTICE, &line);
}

/// Logs one check's result as `option log-health-checks` does: a warning on fulcrum's own log and a notice to
/// the backend's `log` targets.
fn log_check(be: &BackendRt, server: &ServerRt, tracker: &Tracker, outcome: &CheckOutcome) {
    let (step, of, up) = tracker.log_status();
    let progress = fulcrum_health::CheckProgress {
        step,
        of,
        up,
        drain: server.user_weight() == 0,
    };
    let line = fulcrum_health::health_check_line(
        &be.name,
        &server.config.name,
        server.config.backup,
        outcome,
        progress,
    );
    warn!("{line}");
    be.log_event(crate::model::log::syslog::NOTICE, &line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_bounded_as_haproxy_bounds_them() {
        let ms = Duration::from_millis;
        // Without `timeout check`, `inter` bounds the whole check, whatever `timeout connect` says.
        assert_eq!(bounded(ms(200), Some(ms(5000)), None), ms(200));
        assert_eq!(bounded(ms(200), None, None), ms(200));
        // With it: min(connect, inter) for the connection, then `timeout check`.
        assert_eq!(bounded(ms(2000), Some(ms(500)), Some(ms(300))), ms(800));
        assert_eq!(bounded(ms(200), Some(ms(5000)), Some(ms(300))), ms(500));
        assert_eq!(bounded(ms(200), None, Some(ms(300))), ms(500));
    }

    #[test]
    fn check_options_become_probes() {
        let mysql = protocol_probe(&CheckOption::Mysql {
            user: Some("u".into()),
            pre41: true,
        })
        .unwrap();
        assert_eq!(
            mysql,
            ProtocolCheck::Mysql(MysqlCheck::login("u", false).unwrap())
        );
        let smtp = protocol_probe(&CheckOption::Smtp {
            verb: "EHLO".into(),
            domain: "example.org".into(),
        })
        .unwrap();
        assert_eq!(
            smtp,
            ProtocolCheck::Smtp(SmtpCheck::new("EHLO", "example.org").unwrap())
        );
        assert!(protocol_probe(&CheckOption::Pgsql {
            user: String::new()
        })
        .is_err());
        assert_eq!(
            protocol_probe(&CheckOption::Spop).unwrap(),
            ProtocolCheck::Spop
        );
    }

    #[test]
    fn spread_checks_move_intervals_by_up_to_the_percentage() {
        let s = Duration::from_secs;
        assert_eq!(spread(s(10), 0, 0), s(10));
        assert_eq!(spread(s(10), 5, 0), Duration::from_millis(9500));
        assert_eq!(spread(s(10), 5, u32::MAX), Duration::from_millis(10_500));
        let mid = spread(s(10), 50, u32::MAX / 2);
        assert!(mid > Duration::from_millis(9999) && mid < Duration::from_millis(10_001));
        assert_eq!(spread(s(10), 50, 0), s(5));
        // Any draw stays within the bounds.
        for r in [1, 77, 1 << 20, 3_000_000_000] {
            let d = spread(s(2), 20, r);
            assert!(d >= Duration::from_millis(1600) && d <= Duration::from_millis(2400));
        }
    }

    #[test]
    fn ramp_steps_are_a_twentieth_of_the_period_but_at_least_100ms() {
        assert_eq!(
            ramp_step(Duration::from_secs(2)),
            Duration::from_millis(100)
        );
        assert_eq!(ramp_step(Duration::from_secs(60)), Duration::from_secs(3));
        assert_eq!(
            ramp_step(Duration::from_millis(500)),
            Duration::from_millis(100)
        );
    }
}
