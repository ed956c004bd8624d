//! `option tcp-check`: a scripted check, a sequence of `tcp-check` rules (connect, send, expect, comment) run
//! over one or more connections.
//!
//! [`TcpCheck`] is the validated rule list (patterns compiled once at load time). [`Session`] is the sans-IO step
//! machine that walks it: it returns an [`Action`] (connect, send, read, done) and is fed what the socket did.
//! [`run`] is the thin tokio driver. Verdicts and their `info` texts are HAProxy 2.6's, as `option
//! log-health-checks` prints them (`TCPCHK did not match content 'X' at step N`, `Connection refused at step 2 of
//! tcp-check (connect port 1)`, ...).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use regex::bytes::Regex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

use std::sync::Arc;

use fulcrum_sample::{Expr, LogFormat, VarConds, VarName};

use crate::check_ctx::{CheckContext, CheckNames};
use crate::error::SpecError;
use crate::http::HttpSend;
use crate::outcome::{CheckOutcome, CheckStatus};
use crate::tcp::error_text;
use crate::tls_check::{HandshakeError, TlsCheck};

/// Most bytes kept of what the server sent since the last send; a full buffer is judged as it stands.
pub const MAX_INPUT: usize = 16 * 1024;

/// `tcp-check connect [default] [port N] [addr A] [send-proxy] [linger] [comment C]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connect {
    /// `port N`: else the server's check port.
    pub port: Option<u16>,
    /// `addr A`: else the server's check address.
    pub addr: Option<IpAddr>,
    /// `send-proxy`: the connection opens with a PROXY protocol header.
    pub send_proxy: bool,
    /// `default`: the server's own check settings (`check-send-proxy`, `check-ssl`) apply.
    pub default: bool,
    /// `linger`: close without waiting (accepted; the connection is closed at the end either way).
    pub linger: bool,
    /// `ssl`: the connection handshakes TLS with the server's TLS settings.
    pub ssl: bool,
    /// `sni NAME`: the server name of that handshake (else the server's check name).
    pub sni: Option<String>,
    /// `alpn LIST`: the protocols it offers.
    pub alpn: Option<Vec<String>>,
    /// `via-socks4`: the connection goes through the server's SOCKS4 proxy.
    pub via_socks4: bool,
    /// `proto h1|h2` (`http-check connect`): whether the HTTP requests on this connection go as HTTP/2 streams
    /// (`None`: the server's check protocol on `default` and implicit connections, else HTTP/1).
    pub h2: Option<bool>,
}

/// What an `expect` rule looks for.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// `string TEXT`: TEXT anywhere in the input.
    String(Vec<u8>),
    /// `rstring RE`: a regular expression on the input.
    Regex(Regex),
    /// `binary HEX`: these bytes anywhere in the input.
    Binary(Vec<u8>),
    /// `rbinary RE`: a regular expression on the input written as upper-case hexadecimal.
    BinaryRegex(Regex),
    /// `string-lf FMT`: the format rendered when the rule runs, then as `string`.
    StringFormat(Arc<LogFormat>),
    /// `binary-lf FMT`: the format rendered when the rule runs, as hexadecimal, then as `binary`.
    BinaryFormat(Arc<LogFormat>),
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Pattern::String(a), Pattern::String(b)) | (Pattern::Binary(a), Pattern::Binary(b)) => {
                a == b
            }
            (Pattern::Regex(a), Pattern::Regex(b))
            | (Pattern::BinaryRegex(a), Pattern::BinaryRegex(b)) => a.as_str() == b.as_str(),
            (Pattern::StringFormat(a), Pattern::StringFormat(b))
            | (Pattern::BinaryFormat(a), Pattern::BinaryFormat(b)) => a.source() == b.source(),
            _ => false,
        }
    }
}
impl Eq for Pattern {}

/// `tcp-check expect [min-recv N] [ok-status S] [error-status S] [tout-status S] [on-success T] [on-error T]
/// [!] PATTERN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// `!`: the check fails when the pattern matches.
    pub inverse: bool,
    /// `min-recv N`: wait for N bytes before judging; then a mismatch is final.
    pub min_recv: Option<usize>,
    /// The pattern.
    pub pattern: Pattern,
    /// `ok-status`: the status when this rule ends the check successfully (`L7OK` by default).
    pub ok_status: CheckStatus,
    /// `error-status`: the status of a mismatch (`L7RSP` by default).
    pub error_status: CheckStatus,
    /// `tout-status`: the status when the check times out on this rule (`L7TOUT` by default).
    pub tout_status: CheckStatus,
    /// `on-success TEXT`: the info when this rule ends the check successfully.
    pub on_success: Option<String>,
    /// `on-error TEXT`: the info of a mismatch.
    pub on_error: Option<String>,
    /// `on-success` / `on-error` with `%` sequences, and `status-code EXPR`, evaluated when the rule decides.
    pub formats: crate::check_ctx::VerdictFormats,
}

impl Expect {
    /// An expectation of `pattern` with HAProxy's defaults.
    pub fn new(pattern: Pattern) -> Self {
        Expect {
            inverse: false,
            min_recv: None,
            pattern,
            ok_status: CheckStatus::L7Ok,
            error_status: CheckStatus::L7Response,
            tout_status: CheckStatus::L7Timeout,
            on_success: None,
            on_error: None,
            formats: Default::default(),
        }
    }

    /// `pattern` compiled from its configuration form (`string`, `rstring`, `binary`, `rbinary`).
    pub fn pattern(kind: &str, text: &str) -> Result<Pattern, SpecError> {
        let regex =
            |re: &str| Regex::new(re).map_err(|e| SpecError::Pattern(format!("'{re}': {e}")));
        Ok(match kind {
            "string" => Pattern::String(text.as_bytes().to_vec()),
            "rstring" => Pattern::Regex(regex(text)?),
            "binary" => Pattern::Binary(
                parse_hex(text).ok_or_else(|| SpecError::Pattern(format!("'{text}': bad hex")))?,
            ),
            "rbinary" => Pattern::BinaryRegex(regex(text)?),
            "string-lf" | "binary-lf" => {
                let f = LogFormat::parse(text)
                    .map_err(|e| SpecError::Pattern(format!("'{text}': {e}")))?;
                if kind == "string-lf" {
                    Pattern::StringFormat(Arc::new(f))
                } else {
                    Pattern::BinaryFormat(Arc::new(f))
                }
            }
            other => {
                return Err(SpecError::Pattern(format!(
                    "unknown pattern kind '{other}'"
                )))
            }
        })
    }

    /// Whether the pattern is in `input` (before `!`).
    fn found(&self, input: &[u8]) -> bool {
        match &self.pattern {
            Pattern::String(s) | Pattern::Binary(s) => {
                s.is_empty() || input.windows(s.len()).any(|w| w == s.as_slice())
            }
            Pattern::Regex(re) => re.is_match(input),
            Pattern::BinaryRegex(re) => re.is_match(hex_upper(input).as_bytes()),
            // Rendered by the session before judging (see `Session::resolved`).
            Pattern::StringFormat(_) | Pattern::BinaryFormat(_) => false,
        }
    }

    /// The rule with a log-format pattern rendered in `ctx` (`None`: it has none). A `binary-lf` that does
    /// not render to hexadecimal is `Err`.
    fn resolved(&self, ctx: &CheckContext) -> Option<Result<Expect, ()>> {
        let pattern = match &self.pattern {
            Pattern::StringFormat(f) => Ok(Pattern::String(ctx.render(f))),
            Pattern::BinaryFormat(f) => std::str::from_utf8(&ctx.render(f))
                .ok()
                .and_then(parse_hex)
                .map(Pattern::Binary)
                .ok_or(()),
            _ => return None,
        };
        Some(pattern.map(|pattern| Expect {
            pattern,
            ..self.clone()
        }))
    }

    /// How a mismatch names the pattern: `'TEXT'`, `(regex)`, `(binary)`, `(binary regex)`.
    fn content_name(&self) -> String {
        match &self.pattern {
            Pattern::String(s) => format!("'{}'", String::from_utf8_lossy(s)),
            Pattern::Regex(_) => "(regex)".into(),
            Pattern::Binary(_) => "(binary)".into(),
            Pattern::BinaryRegex(_) => "(binary regex)".into(),
            Pattern::StringFormat(_) => "(log-format string)".into(),
            Pattern::BinaryFormat(_) => "(log-format binary)".into(),
        }
    }

    /// How an error of the step describes it: `expect string 'TEXT'`, `expect regex`...
    fn step_name(&self) -> String {
        match &self.pattern {
            Pattern::String(s) => format!("expect string '{}'", String::from_utf8_lossy(s)),
            Pattern::Regex(_) => "expect regex".into(),
            Pattern::Binary(b) => format!("expect binary '{}'", hex_upper(b)),
            Pattern::BinaryRegex(_) => "expect binary regex".into(),
            Pattern::StringFormat(_) => "expect log-format string".into(),
            Pattern::BinaryFormat(_) => "expect log-format binary".into(),
        }
    }
}

/// An SSLv3 ClientHello record (version 3.0, a fixed random, no session, the usual RSA/DHE suites of that
/// protocol, no compression), enough for any SSL/TLS server to answer with a handshake or an alert record.
pub fn ssl3_client_hello() -> Vec<u8> {
    const SUITES: &[u16] = &[
        0x0039, 0x0038, 0x0035, 0x0016, 0x0013, 0x000a, 0x0033, 0x0032, 0x002f, 0x0005, 0x0004,
        0x0015, 0x0012, 0x0009, 0x0014, 0x0011, 0x0008, 0x0006, 0x0003, 0x00ff,
    ];
    let mut body = vec![0x03, 0x00];
    body.extend((0u8..32).map(|i| i.wrapping_mul(37).wrapping_add(11)));
    body.push(0); // no session id
    body.extend_from_slice(&((SUITES.len() * 2) as u16).to_be_bytes());
    for s in SUITES {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // the null compression method
    let mut handshake = vec![0x01, 0, 0, 0];
    handshake[1..4].copy_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x00];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

/// Decodes an even-length hexadecimal string.
pub fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

fn hex_upper(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for c in b {
        let _ = write!(s, "{c:02X}");
    }
    s
}

/// One `tcp-check` or `http-check` rule.
#[derive(Debug, Clone)]
pub enum Action {
    /// `connect`
    Connect(Connect),
    /// `send` / `send-binary`: these bytes.
    Send(Vec<u8>),
    /// `expect`
    Expect(Box<Expect>),
    /// `comment TEXT`: names the rules after it in errors.
    Comment,
    /// `http-check send`: an HTTP request, rendered when the rule runs.
    SendHttp(Box<HttpSend>),
    /// `http-check expect` (or the implicit one of an HTTP ruleset): judged on the HTTP response.
    ExpectHttp(Box<crate::response::Expect>),
    /// `set-var(check.NAME[,COND...]) EXPR`: the variable takes the expression's value (unchanged when it has
    /// none, or when a condition does not hold).
    SetVar(VarName, Arc<Expr>, VarConds),
    /// `send-lf FMT` / `send-binary-lf FMT` (`binary`: the rendered text is hexadecimal, decoded before sending).
    SendLf(Arc<LogFormat>, bool),
    /// `set-var-fmt(check.NAME[,COND...]) FMT`: the variable takes the rendered string (when the conditions hold).
    SetVarFmt(VarName, Arc<LogFormat>, VarConds),
    /// `unset-var(check.NAME)`
    UnsetVar(VarName),
}

impl Action {
    /// Whether the rule only names or prepares what follows (`comment`, `set-var`, `unset-var`).
    fn is_preamble(&self) -> bool {
        matches!(
            self,
            Action::Comment | Action::SetVar(..) | Action::SetVarFmt(..) | Action::UnsetVar(_)
        )
    }

    fn is_expect(&self) -> bool {
        matches!(self, Action::Expect(_) | Action::ExpectHttp(_))
    }
}

impl PartialEq for Action {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Action::Connect(a), Action::Connect(b)) => a == b,
            (Action::Send(a), Action::Send(b)) => a == b,
            (Action::Expect(a), Action::Expect(b)) => a == b,
            (Action::Comment, Action::Comment) => true,
            (Action::SendHttp(a), Action::SendHttp(b)) => a == b,
            (Action::ExpectHttp(a), Action::ExpectHttp(b)) => a == b,
            (Action::SetVar(a, x, c), Action::SetVar(b, y, d)) => {
                a == b && c == d && x.source() == y.source()
            }
            (Action::SetVarFmt(a, x, c), Action::SetVarFmt(b, y, d)) => {
                a == b && c == d && x.source() == y.source()
            }
            (Action::SendLf(x, a), Action::SendLf(y, b)) => a == b && x.source() == y.source(),
            (Action::UnsetVar(a), Action::UnsetVar(b)) => a == b,
            _ => false,
        }
    }
}
impl Eq for Action {}

/// A rule with its `comment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// What the rule does.
    pub action: Action,
    /// `comment TEXT` (for [`Action::Comment`], the text itself).
    pub comment: Option<String>,
}

impl Rule {
    /// A rule without a comment.
    pub fn new(action: Action) -> Self {
        Rule {
            action,
            comment: None,
        }
    }

    /// The same rule with `comment`.
    pub fn with_comment(mut self, comment: Option<String>) -> Self {
        self.comment = comment;
        self
    }
}

/// A validated tcp-check ruleset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TcpCheck {
    rules: Vec<Rule>,
    /// A ruleset of fulcrum's own (`option ssl-hello-chk`): its errors name no step and its pass has no info, as
    /// HAProxy's built-in rulesets.
    builtin: bool,
    /// An `http-check` ruleset: its errors name no step either, and its verdict is the last HTTP expect's.
    http: bool,
}

impl TcpCheck {
    /// The ruleset `rules`. When it has a `connect` rule, the first rule other than a comment must be one (as
    /// HAProxy requires); without any, the check connects to the server first.
    pub fn new(rules: Vec<Rule>) -> Result<Self, SpecError> {
        let has_connect = rules.iter().any(|r| matches!(r.action, Action::Connect(_)));
        let first = rules.iter().find(|r| !r.action.is_preamble());
        if has_connect && !matches!(first.map(|r| &r.action), Some(Action::Connect(_))) {
            return Err(SpecError::Ruleset(
                "first step MUST also be a 'connect' when there is a 'connect' step in the tcp-check ruleset"
                    .into(),
            ));
        }
        Ok(TcpCheck {
            rules,
            builtin: false,
            http: false,
        })
    }

    /// An `http-check` ruleset, completed as HAProxy completes one: without any `send` rule, `request` (the one
    /// `option httpchk` describes) is sent after the first connection; a `send` with no `expect` after it
    /// before the next `connect` is followed by the default expectation (any 2xx or 3xx status).
    pub fn http(mut rules: Vec<Rule>, request: HttpSend) -> Result<Self, SpecError> {
        if !rules
            .iter()
            .any(|r| matches!(r.action, Action::SendHttp(_)))
        {
            let at = rules
                .iter()
                .position(|r| matches!(r.action, Action::Connect(_)))
                .map_or(0, |i| i + 1);
            rules.insert(at, Rule::new(Action::SendHttp(Box::new(request))));
        }
        let mut i = 0;
        while i < rules.len() {
            if matches!(rules[i].action, Action::SendHttp(_)) {
                let end = rules[i + 1..]
                    .iter()
                    .position(|r| matches!(r.action, Action::Connect(_)))
                    .map_or(rules.len(), |p| i + 1 + p);
                if !rules[i + 1..end].iter().any(|r| r.action.is_expect()) {
                    let implicit = crate::response::Expect::Default;
                    rules.insert(end, Rule::new(Action::ExpectHttp(Box::new(implicit))));
                }
            }
            i += 1;
        }
        let mut check = TcpCheck::new(rules)?;
        check.http = true;
        Ok(check)
    }

    /// `option ssl-hello-chk`: an SSLv3 ClientHello is sent and any TLS record of type alert (0x15) or
    /// handshake (0x16) coming back passes the check at layer 6.
    pub fn ssl_hello() -> Self {
        let mut expect = Expect::new(Pattern::BinaryRegex(
            Regex::new("^1[56]").expect("a valid expression"),
        ));
        expect.min_recv = Some(5);
        expect.ok_status = CheckStatus::L6Ok;
        expect.error_status = CheckStatus::L6Response;
        expect.tout_status = CheckStatus::L6Timeout;
        TcpCheck {
            rules: vec![
                Rule::new(Action::Send(ssl3_client_hello())),
                Rule::new(Action::Expect(Box::new(expect))),
            ],
            builtin: true,
            http: false,
        }
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    fn implicit_connect(&self) -> bool {
        !self
            .rules
            .iter()
            .any(|r| matches!(r.action, Action::Connect(_)))
    }
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Close any open connection and open one as described (the implicit first connection is
    /// `Connect::default()` with `default` set).
    Connect(Connect),
    /// Write these bytes.
    Send(Vec<u8>),
    /// Read more (then call [`Session::input`]).
    Read,
    /// The verdict.
    Done(CheckOutcomeParts),
}

/// A verdict without its duration (the driver knows the clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcomeParts {
    /// The status.
    pub status: CheckStatus,
    /// The code logged (`code: 0` with Layer7 passed / wrong status).
    pub code: Option<u16>,
    /// The info text.
    pub info: Option<String>,
}

impl CheckOutcomeParts {
    fn new(status: CheckStatus, info: Option<String>) -> Self {
        let code = matches!(
            status,
            CheckStatus::L7Ok | CheckStatus::L7OkCond | CheckStatus::L7Status
        )
        .then_some(0);
        CheckOutcomeParts { status, code, info }
    }

    /// The outcome, `duration` after the start.
    pub fn into_outcome(self, duration: Duration) -> CheckOutcome {
        let mut o = CheckOutcome::new(self.status, duration);
        o.code = self.code;
        o.info = self.info.filter(|i| !i.is_empty());
        o
    }
}

/// The step machine of one check run over a [`TcpCheck`].
#[derive(Debug)]
pub struct Session<'a> {
    check: &'a TcpCheck,
    /// Index of the current rule; `None` while on the implicit first connection.
    current: Option<usize>,
    /// The next rule to run.
    next: usize,
    /// Input since the last send or connect.
    input: Vec<u8>,
    /// The next expect must read first.
    must_read: bool,
    /// The server closed (or the input is full).
    eof: bool,
    started: bool,
    /// Variables, names and the last response, for the rules' expressions.
    ctx: CheckContext,
    /// Headers every HTTP request of the run carries after its own (`http-check send-state`).
    extra: Vec<(String, String)>,
    /// The verdict of the last HTTP expect that passed: the run's verdict if no rule fails after it.
    last_http: Option<CheckOutcomeParts>,
    /// The current connection went through a TLS handshake.
    tls: bool,
}

impl<'a> Session<'a> {
    /// A run of `check`.
    pub fn new(check: &'a TcpCheck) -> Self {
        Session::with_context(check, CheckContext::default(), Vec::new())
    }

    /// A run of `check` whose expressions see `ctx`, its HTTP requests carrying the `extra` headers.
    pub fn with_context(
        check: &'a TcpCheck,
        ctx: CheckContext,
        extra: Vec<(String, String)>,
    ) -> Self {
        Session {
            check,
            current: None,
            next: 0,
            input: Vec::new(),
            must_read: true,
            eof: false,
            started: false,
            ctx,
            extra,
            last_http: None,
            tls: false,
        }
    }

    /// The first step: always a connection.
    pub fn start(&mut self) -> Step {
        self.started = true;
        if self.check.implicit_connect() {
            return Step::Connect(Connect {
                default: true,
                ..Connect::default()
            });
        }
        self.advance()
    }

    /// The connection asked for is up (its PROXY header, if any, written).
    pub fn connected(&mut self) -> Step {
        self.tls = false;
        self.sent()
    }

    /// The connection asked for is up and its TLS handshake done: a run that ends on it passes at layer 6.
    pub fn connected_over_tls(&mut self) -> Step {
        self.tls = true;
        self.sent()
    }

    /// The TLS handshake of the connection asked for failed (`timeout`: it did not finish in time): `Layer6
    /// invalid response` with HAProxy's `SSL handshake failure`, or `Layer6 timeout`.
    pub fn tls_failed(&self, timeout: bool) -> Step {
        if timeout {
            return self.done(CheckStatus::L6Timeout, Some(self.where_()));
        }
        self.done(
            CheckStatus::L6Response,
            Some(format!("SSL handshake failure{}", self.where_())),
        )
    }

    /// The bytes asked for were written.
    pub fn sent(&mut self) -> Step {
        self.input.clear();
        self.eof = false;
        self.must_read = true;
        self.ctx.clear_response();
        self.advance()
    }

    /// `data` was read (`eof`: the server closed the connection).
    pub fn input(&mut self, data: &[u8], eof: bool) -> Step {
        let room = MAX_INPUT - self.input.len();
        self.input.extend_from_slice(&data[..data.len().min(room)]);
        self.eof = eof || self.input.len() >= MAX_INPUT;
        self.must_read = false;
        if eof && self.input.is_empty() && !self.check.http {
            let status = match self.current_action() {
                Some(Action::Expect(e)) => e.error_status,
                _ => CheckStatus::L7Response,
            };
            return self.done(
                status,
                Some(format!(
                    "TCPCHK got an empty response at step {}",
                    self.step_number()
                )),
            );
        }
        self.advance()
    }

    /// The connection failed, or a read or write on it did (`error` is the system's text). A failure while
    /// connecting is a `Layer4 connection problem`, one later a `Socket error`.
    pub fn io_error(&self, error: &str) -> Step {
        let status = match self.current_action() {
            None | Some(Action::Connect(_)) => CheckStatus::L4Connection,
            _ => CheckStatus::SocketError,
        };
        self.done(status, Some(format!("{error}{}", self.where_())))
    }

    /// The check ran out of time on its current step.
    pub fn timeout(&self) -> CheckOutcomeParts {
        let status = match self.current_action() {
            None | Some(Action::Connect(_)) => CheckStatus::L4Timeout,
            Some(Action::Expect(e)) => e.tout_status,
            Some(Action::ExpectHttp(e)) => match e.as_ref() {
                crate::response::Expect::Rule(r) => r.tout_status.unwrap_or(CheckStatus::L7Timeout),
                _ => CheckStatus::L7Timeout,
            },
            _ => CheckStatus::L7Timeout,
        };
        CheckOutcomeParts::new(status, Some(self.where_()))
    }

    fn current_action(&self) -> Option<&'a Action> {
        self.current.map(|i| &self.check.rules[i].action)
    }

    /// The 1-based number of the current step.
    fn step_number(&self) -> usize {
        self.current.map_or(1, |i| i + 1)
    }

    /// The comment of the current rule, or of the comment rule just before it.
    fn comment(&self) -> Option<&'a str> {
        let i = self.current?;
        let rules = &self.check.rules;
        rules[i].comment.as_deref().or_else(|| {
            i.checked_sub(1)
                .map(|p| &rules[p])
                .filter(|r| matches!(r.action, Action::Comment))
                .and_then(|r| r.comment.as_deref())
        })
    }

    /// ` at step N of tcp-check (what) comment: 'C'`, as HAProxy appends to an error.
    fn where_(&self) -> String {
        if self.check.builtin || self.check.http {
            return String::new();
        }
        let Some(i) = self.current else {
            return " at initial connection step of tcp-check".into();
        };
        let mut s = format!(" at step {} of tcp-check", i + 1);
        match &self.check.rules[i].action {
            Action::Connect(c) => match c.port {
                Some(p) => {
                    let _ = write!(s, " (connect port {p})");
                }
                None => s.push_str(" (connect)"),
            },
            Action::Send(_) => s.push_str(" (send)"),
            Action::Expect(e) => {
                let _ = write!(s, " ({})", e.step_name());
            }
            Action::SendHttp(_) | Action::SendLf(..) => s.push_str(" (send)"),
            Action::ExpectHttp(_) => s.push_str(" (expect)"),
            Action::Comment | Action::SetVar(..) | Action::SetVarFmt(..) | Action::UnsetVar(_) => {}
        }
        if let Some(c) = self.comment() {
            let _ = write!(s, " comment: '{c}'");
        }
        s
    }

    fn done(&self, status: CheckStatus, info: Option<String>) -> Step {
        Step::Done(CheckOutcomeParts::new(status, info))
    }

    /// [`Self::done`] with the code a `status-code` gave, for the statuses that report one.
    fn done_with_code(&self, status: CheckStatus, info: Option<String>, code: Option<u16>) -> Step {
        let mut parts = CheckOutcomeParts::new(status, info);
        if let (Some(c), Some(_)) = (code, parts.code) {
            parts.code = Some(c);
        }
        Step::Done(parts)
    }

    /// Runs rules from `next` until one needs I/O or the ruleset ends.
    fn advance(&mut self) -> Step {
        let check = self.check;
        let rules = &check.rules;
        while self.next < rules.len() {
            let i = self.next;
            self.current = Some(i);
            match &rules[i].action {
                Action::Comment => self.next += 1,
                Action::SetVar(name, expr, conds) => {
                    self.take_response();
                    self.ctx.set(name, *conds, expr.eval(&self.ctx));
                    self.next += 1;
                }
                Action::SetVarFmt(name, format, conds) => {
                    self.take_response();
                    let text = self.ctx.render(format);
                    self.ctx
                        .set(name, *conds, Some(fulcrum_sample::Value::string(text)));
                    self.next += 1;
                }
                Action::UnsetVar(name) => {
                    self.ctx.unset(name);
                    self.next += 1;
                }
                Action::SendLf(format, binary) => {
                    self.next += 1;
                    let text = self.ctx.render(format);
                    if !*binary {
                        return Step::Send(text);
                    }
                    match std::str::from_utf8(&text).ok().and_then(parse_hex) {
                        Some(bytes) => return Step::Send(bytes),
                        None => {
                            return self.done(
                                CheckStatus::L7Response,
                                Some(format!("invalid hexadecimal data{}", self.where_())),
                            )
                        }
                    }
                }
                Action::SendHttp(request) => {
                    self.next += 1;
                    return Step::Send(request.render(&self.ctx, &self.extra));
                }
                Action::ExpectHttp(e) => {
                    if self.must_read {
                        return Step::Read;
                    }
                    self.take_response();
                    let judged = self.judge_http(e);
                    if let Some(step) = self.after_expect(i, judged) {
                        return step;
                    }
                }
                Action::Connect(c) => {
                    self.next += 1;
                    return Step::Connect(c.clone());
                }
                Action::Send(bytes) => {
                    self.next += 1;
                    return Step::Send(bytes.clone());
                }
                Action::Expect(e) => {
                    if self.must_read {
                        return Step::Read;
                    }
                    let judged = self.judge(e);
                    if let Some(step) = self.after_expect(i, judged) {
                        return step;
                    }
                }
            }
        }
        // Every rule passed: the last one run sets the verdict.
        if self.check.builtin {
            let status = match self.current_action() {
                Some(Action::Expect(e)) => e.ok_status,
                _ => CheckStatus::L4Ok,
            };
            return self.done(status, None);
        }
        if let Some(parts) = self.last_http.clone().filter(|_| self.check.http) {
            return Step::Done(parts);
        }
        match self.current_action() {
            None => self.done(CheckStatus::L4Ok, None),
            Some(Action::Connect(_)) if self.tls => {
                self.done(CheckStatus::L6Ok, Some("(tcp-check)".into()))
            }
            Some(Action::Connect(_)) => self.done(CheckStatus::L4Ok, Some("(tcp-check)".into())),
            Some(Action::Expect(e)) => {
                let (formatted, code) = self.decided(&e.formats, true);
                let info = formatted
                    .or_else(|| e.on_success.clone())
                    .unwrap_or_else(|| "(tcp-check)".into());
                self.done_with_code(e.ok_status, Some(info), code)
            }
            Some(_) => self.done(CheckStatus::L7Ok, Some("(tcp-check)".into())),
        }
    }

    /// Moves on after expect rule `i` judged the input: to the next rule when it passed; back to the first
    /// expect of its run, with more input to read, when it waits; `Some` is the step to return.
    fn after_expect(&mut self, i: usize, judged: Judged) -> Option<Step> {
        match judged {
            Judged::Pass => {
                self.next += 1;
                None
            }
            Judged::Wait => {
                self.next = self.group_head(i);
                self.must_read = true;
                Some(Step::Read)
            }
            Judged::Fail(step) => Some(step),
        }
    }

    fn group_head(&self, mut i: usize) -> usize {
        while i > 0 && self.check.rules[i - 1].action.is_expect() {
            i -= 1;
        }
        i
    }

    /// Takes the response head in, once complete, for the expressions of the rules that follow.
    fn take_response(&mut self) {
        if self.ctx.has_response() {
            return;
        }
        if let Some(end) = crate::response::body_start(&self.input) {
            self.ctx.take_response(&self.input[..end]);
        }
    }

    fn judge_http(&mut self, e: &crate::response::Expect) -> Judged {
        let resolved = match e {
            crate::response::Expect::Rule(r) => r
                .resolved(&self.ctx)
                .map(|r| crate::response::Expect::Rule(Box::new(r))),
            _ => None,
        };
        let expect = resolved.as_ref().unwrap_or(e);
        let Some(v) = crate::response::evaluate(&self.input, self.eof, expect) else {
            return Judged::Wait;
        };
        let mut parts = CheckOutcomeParts {
            status: v.status,
            code: v.code,
            info: v.info.map(|i| String::from_utf8_lossy(&i).into_owned()),
        };
        let passed = matches!(
            v.status,
            CheckStatus::L7Ok | CheckStatus::L6Ok | CheckStatus::L4Ok
        );
        if let crate::response::Expect::Rule(r) = expect {
            let (info, code) = self.decided(&r.formats, passed);
            if info.is_some() {
                parts.info = info;
            }
            if let (Some(c), Some(_)) = (code, parts.code) {
                parts.code = Some(c);
            }
        }
        if passed {
            self.last_http = Some(parts);
            Judged::Pass
        } else {
            Judged::Fail(Step::Done(parts))
        }
    }

    /// An expect rule's own info text (`on-success` or `on-error` with `%` sequences, by `passed`) and its
    /// `status-code`, evaluated on what the server sent.
    fn decided(
        &mut self,
        formats: &crate::check_ctx::VerdictFormats,
        passed: bool,
    ) -> (Option<String>, Option<u16>) {
        if formats.is_empty() {
            return (None, None);
        }
        self.ctx.set_payload(&self.input);
        let info = if passed {
            formats.success(&self.ctx)
        } else {
            formats.error(&self.ctx)
        };
        (info, formats.code(&self.ctx))
    }

    fn judge(&mut self, e: &Expect) -> Judged {
        // A log-format pattern is rendered for the match; mismatches name it as written
        // (`(log-format string)`), as HAProxy does.
        let rendered = if matches!(
            e.pattern,
            Pattern::StringFormat(_) | Pattern::BinaryFormat(_)
        ) {
            self.ctx.set_payload(&self.input);
            match e.resolved(&self.ctx) {
                Some(Ok(r)) => Some(r),
                _ => {
                    return Judged::Fail(self.done(
                        e.error_status,
                        Some(format!("invalid hexadecimal data{}", self.where_())),
                    ))
                }
            }
        } else {
            None
        };
        let matcher = rendered.as_ref().unwrap_or(e);
        let input = &self.input;
        if let Some(min) = e.min_recv {
            if input.len() < min && !self.eof {
                return Judged::Wait;
            }
        }
        let found = matcher.found(input);
        // Without `min-recv`, a pattern not (yet) found waits for more input until the server closes.
        if !found && !self.eof && e.min_recv.is_none() {
            return Judged::Wait;
        }
        if found != e.inverse {
            return Judged::Pass;
        }
        let step = self.step_number();
        let (formatted, code) = self.decided(&e.formats, false);
        let info = match formatted.as_ref().or(e.on_error.as_ref()) {
            Some(text) => text.clone(),
            None if self.check.builtin => String::new(),
            None => {
                let verb = if e.inverse {
                    "matched unwanted"
                } else {
                    "did not match"
                };
                let mut s = format!("TCPCHK {verb} content {} at step {step}", e.content_name());
                if let Some(c) = self.comment() {
                    let _ = write!(s, " comment: {c}");
                }
                s
            }
        };
        Judged::Fail(self.done_with_code(e.error_status, Some(info), code))
    }
}

enum Judged {
    Pass,
    Wait,
    Fail(Step),
}

/// Where and how the driver connects: the server's check target, and what its `check-send-proxy` (or the
/// traffic's `send-proxy`) writes first.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server's check address and port.
    pub addr: SocketAddr,
    /// The PROXY header of the server's checks (empty when none), written on `default` and implicit connections.
    pub preamble: Vec<u8>,
    /// `check-ssl`: `default` and implicit connections handshake TLS after the preamble.
    pub tls: Option<crate::tls_check::TlsCheck>,
    /// The server's TLS settings, for `connect ssl` rules (whether or not the server has `check-ssl`).
    pub rules_tls: Option<crate::tls_check::TlsCheck>,
    /// Who is checked, for the rules' expressions (`be_name`, `srv_name`).
    pub names: CheckNames,
    /// Headers every HTTP request carries after its own (`http-check send-state`).
    pub extra_headers: Vec<(String, String)>,
    /// The server's SOCKS4 proxy (`socks4`), for `connect via-socks4` rules.
    pub socks4: Option<SocketAddr>,
    /// `check-via-socks4`: `default` and implicit connections go through that proxy too.
    pub via_socks4: bool,
    /// The server's checks speak HTTP/2 (`check-proto h2`, or `proto h2`): `default` and implicit connections
    /// carry the HTTP requests as HTTP/2 streams.
    pub h2: bool,
}

/// The TLS a connection rule asks for: `ssl` (with its `sni` and `alpn`) the server's settings, `default` (and
/// the implicit first connection) the server's `check-ssl`; `Err` when `ssl` is asked of a server without TLS
/// settings, or `sni` is no server name.
fn connect_tls(c: &Connect, target: &Target) -> Result<Option<TlsCheck>, String> {
    if !c.ssl {
        return Ok(target.tls.clone().filter(|_| c.default));
    }
    let Some(base) = target.rules_tls.as_ref() else {
        return Err("no TLS settings for this server".into());
    };
    let name = match &c.sni {
        Some(sni) => rustls::pki_types::ServerName::try_from(sni.clone())
            .map_err(|_| format!("'{sni}' is not a server name"))?,
        None => base.name.clone(),
    };
    let config = match &c.alpn {
        Some(list) => {
            let mut config = (*base.config).clone();
            config.alpn_protocols = list.iter().map(|p| p.as_bytes().to_vec()).collect();
            Arc::new(config)
        }
        None => base.config.clone(),
    };
    Ok(Some(base.with(config, name)))
}

/// A PROXY protocol v1 header that names no client, for `connect send-proxy`.
const PROXY_UNKNOWN: &[u8] = b"PROXY UNKNOWN\r\n";

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Runs `check` against `target`, every step within `timeout` of the start.
pub async fn run(check: &TcpCheck, target: &Target, timeout: Duration) -> CheckOutcome {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut session = Session::with_context(
        check,
        CheckContext::new(target.names.clone()),
        target.extra_headers.clone(),
    );
    let mut step = session.start();
    let mut stream: Option<Box<dyn Io>> = None;
    // On an HTTP/2 connection: the HTTP/1 request the rules wrote, sent as one stream at the first read; the
    // response comes back whole, as HTTP/1 text.
    let mut h2: Option<Vec<u8>> = None;
    let mut buf = vec![0u8; 4096];
    let timed_out = |session: &Session<'_>| session.timeout().into_outcome(start.elapsed());
    loop {
        step = match step {
            Step::Done(parts) => return parts.into_outcome(start.elapsed()),
            Step::Connect(c) => {
                drop(stream.take());
                h2 = c.h2.unwrap_or(c.default && target.h2).then(Vec::new);
                let addr = SocketAddr::new(
                    c.addr.unwrap_or(target.addr.ip()),
                    c.port.unwrap_or(target.addr.port()),
                );
                let via = target
                    .socks4
                    .filter(|_| c.via_socks4 || (c.default && target.via_socks4));
                let mut s = match crate::tcp::connect_via(addr, via, start, deadline).await {
                    Ok(s) => s,
                    Err(o) if o.status == CheckStatus::L4Timeout => return timed_out(&session),
                    Err(o) => {
                        step = session.io_error(&o.info.unwrap_or_default());
                        continue;
                    }
                };
                let preamble: &[u8] = match (c.send_proxy, c.default) {
                    (true, _) if target.preamble.is_empty() => PROXY_UNKNOWN,
                    (true, _) | (false, true) => &target.preamble,
                    (false, false) => &[],
                };
                match timeout_at(deadline, s.write_all(preamble)).await {
                    Err(_) => return timed_out(&session),
                    Ok(Err(e)) => session.io_error(&error_text(&e)),
                    Ok(Ok(())) => match connect_tls(&c, target) {
                        Err(e) => session.io_error(&e),
                        Ok(None) => {
                            stream = Some(Box::new(s));
                            session.connected()
                        }
                        Ok(Some(tls)) => match tls.handshake(s, deadline).await {
                            Err(HandshakeError::Timeout) => session.tls_failed(true),
                            Err(HandshakeError::Failed(_)) => session.tls_failed(false),
                            Ok(t) => {
                                stream = Some(Box::new(t));
                                session.connected_over_tls()
                            }
                        },
                    },
                }
            }
            Step::Send(bytes) if stream.is_some() && h2.is_some() => {
                if let Some(request) = h2.as_mut() {
                    request.extend_from_slice(&bytes);
                }
                session.sent()
            }
            Step::Read if stream.is_some() && h2.as_ref().is_some_and(|r| !r.is_empty()) => {
                let (Some(s), Some(request)) = (stream.take(), h2.replace(Vec::new())) else {
                    unreachable!("checked by the guard");
                };
                match timeout_at(deadline, crate::http2::round_trip(s, &request)).await {
                    Err(_) => return timed_out(&session),
                    Ok(Err(info)) => session.io_error(&info),
                    Ok(Ok(text)) => session.input(&text, true),
                }
            }
            Step::Send(bytes) => match stream.as_mut() {
                None => session.io_error("no connection"),
                Some(s) => match timeout_at(deadline, s.write_all(&bytes)).await {
                    Err(_) => return timed_out(&session),
                    Ok(Err(e)) => session.io_error(&error_text(&e)),
                    Ok(Ok(())) => session.sent(),
                },
            },
            Step::Read => match stream.as_mut() {
                None => session.io_error("no connection"),
                Some(s) => match timeout_at(deadline, s.read(&mut buf)).await {
                    Err(_) => return timed_out(&session),
                    Ok(Err(e)) => session.io_error(&error_text(&e)),
                    Ok(Ok(n)) => session.input(&buf[..n], n == 0),
                },
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(kind: &str, text: &str) -> Rule {
        Rule::new(Action::Expect(Box::new(Expect::new(
            Expect::pattern(kind, text).unwrap(),
        ))))
    }

    fn expect_with(kind: &str, text: &str, f: impl FnOnce(&mut Expect)) -> Rule {
        let mut e = Expect::new(Expect::pattern(kind, text).unwrap());
        f(&mut e);
        Rule::new(Action::Expect(Box::new(e)))
    }

    fn connect(port: Option<u16>) -> Rule {
        Rule::new(Action::Connect(Connect {
            port,
            ..Connect::default()
        }))
    }

    fn done(step: Step) -> (CheckStatus, Option<u16>, Option<String>) {
        match step {
            Step::Done(p) => (p.status, p.code, p.info),
            other => panic!("not done: {other:?}"),
        }
    }

    #[test]
    fn redis_idiom_passes() {
        let check = TcpCheck::new(vec![
            Rule::new(Action::Send(b"PING\r\n".to_vec())),
            expect("string", "+PONG"),
        ])
        .unwrap();
        let mut s = Session::new(&check);
        assert!(matches!(s.start(), Step::Connect(c) if c.default));
        assert_eq!(s.connected(), Step::Send(b"PING\r\n".to_vec()));
        assert_eq!(s.sent(), Step::Read);
        assert_eq!(s.input(b"+PO", false), Step::Read);
        assert_eq!(
            done(s.input(b"NG\r\n", false)),
            (CheckStatus::L7Ok, Some(0), Some("(tcp-check)".into()))
        );
    }

    #[test]
    fn mismatch_and_empty_reply_texts() {
        let check = TcpCheck::new(vec![
            expect("string", "nope").with_comment(Some("cmt1".into()))
        ])
        .unwrap();
        let mut s = Session::new(&check);
        s.start();
        assert_eq!(s.connected(), Step::Read);
        assert_eq!(s.input(b"valid", false), Step::Read);
        assert_eq!(
            done(s.input(b"", true)),
            (
                CheckStatus::L7Response,
                None,
                Some("TCPCHK did not match content 'nope' at step 1 comment: cmt1".into())
            )
        );
        let mut s = Session::new(&check);
        s.start();
        s.connected();
        assert_eq!(
            done(s.input(b"", true)).2.unwrap(),
            "TCPCHK got an empty response at step 1"
        );
    }

    #[test]
    fn negative_and_binary_patterns() {
        let check =
            TcpCheck::new(vec![expect_with("string", "error", |e| e.inverse = true)]).unwrap();
        let mut s = Session::new(&check);
        s.start();
        s.connected();
        assert_eq!(
            done(s.input(b"error here\r\n", true)).2.unwrap(),
            "TCPCHK matched unwanted content 'error' at step 1"
        );
        for (kind, pat, text) in [
            ("binary", "7a7a", "(binary)"),
            ("rbinary", "7A+", "(binary regex)"),
            ("rstring", "zz+", "(regex)"),
        ] {
            let check = TcpCheck::new(vec![expect(kind, pat)]).unwrap();
            let mut s = Session::new(&check);
            s.start();
            s.connected();
            assert_eq!(
                done(s.input(b"valid", true)).2.unwrap(),
                format!("TCPCHK did not match content {text} at step 1")
            );
            let mut s = Session::new(&check);
            s.start();
            s.connected();
            assert_eq!(done(s.input(b"xzzzy", false)).0, CheckStatus::L7Ok);
        }
    }

    #[test]
    fn min_recv_makes_a_negative_match_conclusive() {
        let rules = |min| {
            vec![
                connect(None),
                expect_with("rstring", "^error", |e| {
                    e.inverse = true;
                    e.min_recv = min;
                })
                .with_comment(Some("negative check".into())),
                expect("string", "valid"),
                Rule::new(Action::Send(b"0123456789".to_vec())),
                expect("string", "valid"),
            ]
        };
        // Without min-recv: the absent pattern waits for more, then times out on step 2.
        let check = TcpCheck::new(rules(None)).unwrap();
        let mut s = Session::new(&check);
        assert!(matches!(s.start(), Step::Connect(_)));
        assert_eq!(s.connected(), Step::Read);
        assert_eq!(s.input(b"valid", false), Step::Read);
        let t = s.timeout();
        assert_eq!(t.status, CheckStatus::L7Timeout);
        assert_eq!(
            t.info.unwrap(),
            " at step 2 of tcp-check (expect regex) comment: 'negative check'"
        );
        // With min-recv 5: five bytes are enough to judge.
        let check = TcpCheck::new(rules(Some(5))).unwrap();
        let mut s = Session::new(&check);
        s.start();
        assert_eq!(s.connected(), Step::Read);
        assert_eq!(s.input(b"vali", false), Step::Read);
        assert_eq!(s.input(b"d", false), Step::Send(b"0123456789".to_vec()));
        assert_eq!(s.sent(), Step::Read);
        assert_eq!(done(s.input(b"valid", false)).0, CheckStatus::L7Ok);
    }

    #[test]
    fn several_connections() {
        let check = TcpCheck::new(vec![connect(Some(8080)), connect(Some(1))]).unwrap();
        let mut s = Session::new(&check);
        assert!(matches!(s.start(), Step::Connect(c) if c.port == Some(8080)));
        assert!(matches!(s.connected(), Step::Connect(c) if c.port == Some(1)));
        assert_eq!(
            done(s.io_error("Connection refused")),
            (
                CheckStatus::L4Connection,
                None,
                Some("Connection refused at step 2 of tcp-check (connect port 1)".into())
            )
        );
        let mut s = Session::new(&check);
        s.start();
        s.connected();
        assert_eq!(
            done(s.connected()),
            (CheckStatus::L4Ok, None, Some("(tcp-check)".into()))
        );
        // Without rules: a plain connection, judged at layer 4.
        let empty = TcpCheck::default();
        let mut s = Session::new(&empty);
        s.start();
        assert_eq!(
            done(s.io_error("Connection refused")).2.unwrap(),
            "Connection refused at initial connection step of tcp-check"
        );
        let mut s = Session::new(&empty);
        s.start();
        assert_eq!(done(s.connected()), (CheckStatus::L4Ok, None, None));
    }

    #[test]
    fn connect_must_come_first() {
        assert!(TcpCheck::new(vec![
            Rule::new(Action::Comment).with_comment(Some("c".into())),
            connect(None)
        ])
        .is_ok());
        assert!(
            TcpCheck::new(vec![Rule::new(Action::Send(b"x".to_vec())), connect(None)]).is_err()
        );
    }

    #[test]
    fn custom_statuses_and_texts() {
        let check = TcpCheck::new(vec![
            Rule::new(Action::Comment).with_comment(Some("first".into())),
            expect_with("string", "valid", |e| {
                e.ok_status = CheckStatus::L6Ok;
                e.on_success = Some("yay".into());
                e.error_status = CheckStatus::L7Status;
                e.on_error = Some("boo".into());
                e.tout_status = CheckStatus::L4Timeout;
            }),
        ])
        .unwrap();
        let mut s = Session::new(&check);
        s.start();
        s.connected();
        assert_eq!(
            done(s.input(b"valid", false)),
            (CheckStatus::L6Ok, None, Some("yay".into()))
        );
        let mut s = Session::new(&check);
        s.start();
        s.connected();
        assert_eq!(
            done(s.input(b"other", true)),
            (CheckStatus::L7Status, Some(0), Some("boo".into()))
        );
        let mut s = Session::new(&check);
        s.start();
        s.connected();
        let t = s.timeout();
        assert_eq!(t.status, CheckStatus::L4Timeout);
        assert_eq!(
            t.info.unwrap(),
            " at step 2 of tcp-check (expect string 'valid') comment: 'first'"
        );
    }

    #[test]
    fn formatted_texts_and_status_code_are_evaluated_on_what_was_read() {
        let lf = |t: &str| Some(Arc::new(fulcrum_sample::LogFormat::parse(t).unwrap()));
        let expr = |t: &str| Some(Arc::new(fulcrum_sample::Expr::parse(t).unwrap()));
        let with_code = |code: &str| {
            TcpCheck::new(vec![expect_with("string", "+OK", |e| {
                e.error_status = CheckStatus::L7Status;
                e.formats.on_success = lf("read %[res.payload(0,3)]");
                e.formats.on_error = lf("got %[res.payload(0,4)]");
                e.formats.status_code = expr(code);
            })])
            .unwrap()
        };
        let run = |check: &TcpCheck, input: &[u8]| {
            let mut s = Session::new(check);
            s.start();
            s.connected();
            done(s.input(input, true))
        };
        let check = with_code("res.payload(5,3),bytes(0)");
        let text = with_code("str(250)");
        assert_eq!(
            run(&text, b"+OK  250"),
            (CheckStatus::L7Ok, Some(250), Some("read +OK".into()))
        );
        assert_eq!(
            run(&text, b"-ERR 503"),
            (CheckStatus::L7Status, Some(250), Some("got -ERR".into()))
        );
        // A status-code that is not a number (binary data, as HAProxy does not cast it) leaves the code as
        // it was.
        assert_eq!(
            run(&check, b"-ERR 503"),
            (CheckStatus::L7Status, Some(0), Some("got -ERR".into()))
        );
    }

    #[test]
    fn socket_errors_name_the_step() {
        let check = TcpCheck::new(vec![
            expect("rstring", "^valid"),
            Rule::new(Action::Send(b"foo".to_vec())),
            expect("string", "more"),
        ])
        .unwrap();
        let mut s = Session::new(&check);
        s.start();
        s.connected();
        assert_eq!(s.input(b"valid", false), Step::Send(b"foo".to_vec()));
        assert_eq!(s.sent(), Step::Read);
        assert_eq!(
            done(s.io_error("Connection reset by peer")),
            (
                CheckStatus::SocketError,
                None,
                Some(
                    "Connection reset by peer at step 3 of tcp-check (expect string 'more')".into()
                )
            )
        );
    }

    #[test]
    fn ssl_hello() {
        let hello = ssl3_client_hello();
        assert_eq!(&hello[..3], &[0x16, 0x03, 0x00]);
        assert_eq!(
            usize::from(u16::from_be_bytes([hello[3], hello[4]])),
            hello.len() - 5
        );
        assert_eq!(hello[5], 0x01);
        let check = TcpCheck::ssl_hello();
        let run = |reply: &[u8], eof: bool| {
            let mut s = Session::new(&check);
            s.start();
            assert_eq!(s.connected(), Step::Send(hello.clone()));
            assert_eq!(s.sent(), Step::Read);
            s.input(reply, eof)
        };
        // A handshake failure alert, or a ServerHello: layer 6 passed, no info.
        assert_eq!(
            done(run(b"\x15\x03\x01\x00\x02\x02\x28", false)),
            (CheckStatus::L6Ok, None, None)
        );
        assert_eq!(
            done(run(b"\x16\x03\x03\x00\x31\x02", false)),
            (CheckStatus::L6Ok, None, None)
        );
        assert_eq!(run(b"\x16\x03", false), Step::Read);
        assert_eq!(
            done(run(b"HTTP/1.1 400 Bad", false)),
            (CheckStatus::L6Response, None, Some(String::new()))
        );
        let mut s = Session::new(&check);
        s.start();
        s.connected();
        s.sent();
        assert_eq!(
            done(s.io_error("Connection reset by peer")),
            (
                CheckStatus::SocketError,
                None,
                Some("Connection reset by peer".into())
            )
        );
        assert_eq!(s.timeout().status, CheckStatus::L6Timeout);
        // A server that closes without a byte: the expect's error status, HAProxy's text.
        assert_eq!(
            done(run(b"", true)),
            (
                CheckStatus::L6Response,
                None,
                Some("TCPCHK got an empty response at step 2".into())
            )
        );
    }

    #[test]
    fn hex() {
        assert_eq!(parse_hex("50494e47"), Some(b"PING".to_vec()));
        assert_eq!(parse_hex("5"), None);
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(hex_upper(b"\x0a\xff"), "0AFF");
    }

    fn http_send(
        method: &str,
        uri: crate::http::Text,
        version: &str,
        hdrs: &[(&str, &str)],
        body: Option<&str>,
    ) -> Rule {
        use crate::http::Text;
        let headers = hdrs
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    Text::Format(Arc::new(fulcrum_sample::LogFormat::parse(v).unwrap())),
                )
            })
            .collect();
        let body =
            body.map(|b| Text::Format(Arc::new(fulcrum_sample::LogFormat::parse(b).unwrap())));
        Rule::new(Action::SendHttp(Box::new(
            HttpSend::new(method, uri, version, headers, body).unwrap(),
        )))
    }

    fn lf(text: &str) -> crate::http::Text {
        crate::http::Text::Format(Arc::new(fulcrum_sample::LogFormat::parse(text).unwrap()))
    }

    fn set_var(name: &str, expr: &str) -> Rule {
        Rule::new(Action::SetVar(
            name.parse().unwrap(),
            Arc::new(Expr::parse(expr).unwrap()),
            VarConds::NONE,
        ))
    }

    fn default_request() -> HttpSend {
        HttpSend::new(
            "OPTIONS",
            crate::http::Text::Plain("/".into()),
            "HTTP/1.0",
            Vec::new(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn http_rulesets_connect_send_and_expect_several_times() {
        use crate::response::{Expect as HttpExpect, ExpectRule};
        let status = |t: &str| {
            Rule::new(Action::ExpectHttp(Box::new(HttpExpect::Rule(Box::new(
                ExpectRule::new(ExpectRule::status_list(t).unwrap()),
            )))))
        };
        let check = TcpCheck::http(
            vec![
                connect(Some(81)),
                set_var("check.server", "str(srv)"),
                set_var("check.path", "str(/req1)"),
                http_send(
                    "GET",
                    lf("%[var(check.path)]"),
                    "HTTP/1.1",
                    &[("x-test", "server=%[var(check.server)]")],
                    None,
                ),
                status("200"),
                connect(Some(82)),
                Rule::new(Action::UnsetVar("check.path".parse().unwrap())),
                http_send(
                    "GET",
                    lf("%[var(check.path)]"),
                    "HTTP/1.0",
                    &[],
                    Some("on %[be_name]-%[srv_name]"),
                ),
            ],
            default_request(),
        )
        .unwrap();
        // The last send gets the implicit expectation.
        assert!(
            matches!(check.rules().last().map(|r| &r.action), Some(Action::ExpectHttp(e)) if **e == HttpExpect::Default)
        );
        let names = CheckNames {
            backend: "be4".into(),
            server: "srv".into(),
        };
        let extra = vec![("x-state".to_string(), "UP".to_string())];
        let mut s = Session::with_context(&check, CheckContext::new(names), extra);
        assert!(matches!(s.start(), Step::Connect(c) if c.port == Some(81)));
        assert_eq!(
            s.connected(),
            Step::Send(b"GET /req1 HTTP/1.1\r\nx-test: server=srv\r\nx-state: UP\r\nConnection: close\r\n\r\n".to_vec())
        );
        assert_eq!(s.sent(), Step::Read);
        assert_eq!(s.input(b"HTTP/1.1 200 OK\r\n", false), Step::Read);
        assert!(
            matches!(s.input(b"content-length: 0\r\n\r\n", false), Step::Connect(c) if c.port == Some(82))
        );
        assert_eq!(
            s.connected(),
            Step::Send(b"GET / HTTP/1.0\r\nx-state: UP\r\nConnection: close\r\nContent-Length: 10\r\n\r\non be4-srv".to_vec())
        );
        assert_eq!(s.sent(), Step::Read);
        assert_eq!(
            done(s.input(b"HTTP/1.0 302 Found\r\n\r\n", false)),
            (CheckStatus::L7Ok, Some(302), None)
        );
    }

    #[test]
    fn http_rulesets_fail_on_the_first_failing_expect_without_naming_the_step() {
        use crate::response::{Expect as HttpExpect, ExpectRule, HeaderRule, Match, TextMatch};
        let status = |t: &str| {
            Rule::new(Action::ExpectHttp(Box::new(HttpExpect::Rule(Box::new(
                ExpectRule::new(ExpectRule::status_list(t).unwrap()),
            )))))
        };
        let mut by_var = HeaderRule::new(false, TextMatch::Str(Vec::new()), None);
        by_var.name_lf = Some(Arc::new(
            fulcrum_sample::LogFormat::parse("%[var(check.h)]").unwrap(),
        ));
        let hdr_lf = Rule::new(Action::ExpectHttp(Box::new(HttpExpect::Rule(Box::new(
            ExpectRule::new(Match::Header(by_var)),
        )))));
        // No send: the default request goes first; set-var reads the response judged by the expect before it.
        let check = TcpCheck::http(
            vec![
                status("200-399"),
                set_var("check.h", "res.fhdr(x-hdr-name)"),
                hdr_lf,
            ],
            default_request(),
        )
        .unwrap();
        let run = |response: &[u8]| {
            let mut s = Session::new(&check);
            assert!(matches!(s.start(), Step::Connect(c) if c.default));
            assert_eq!(
                s.connected(),
                Step::Send(b"OPTIONS / HTTP/1.0\r\nConnection: close\r\n\r\n".to_vec())
            );
            assert_eq!(s.sent(), Step::Read);
            done(s.input(response, true))
        };
        assert_eq!(
            run(b"HTTP/1.1 202 Accepted\r\nx-hdr-name: x-test1\r\nx-test1: y\r\n\r\n"),
            (CheckStatus::L7Ok, Some(202), None)
        );
        assert_eq!(
            run(b"HTTP/1.1 202 Accepted\r\nx-hdr-name: x-nope\r\nx-test1: y\r\n\r\n"),
            (CheckStatus::L7Status, Some(202), Some("Accepted".into()))
        );
        assert_eq!(
            run(b"HTTP/1.1 500 Oops\r\n\r\n"),
            (CheckStatus::L7Status, Some(500), Some("Oops".into()))
        );
        // A refused connection names no step in an HTTP ruleset (haproxy 2.6 observed).
        let mut s = Session::new(&check);
        s.start();
        assert_eq!(
            done(s.io_error("Connection refused")),
            (
                CheckStatus::L4Connection,
                None,
                Some("Connection refused".into())
            )
        );
    }

    #[test]
    fn tls_connections_pass_at_layer_6_and_name_their_step_on_failure() {
        let ssl = |sni: Option<&str>| {
            Rule::new(Action::Connect(Connect {
                ssl: true,
                sni: sni.map(str::to_owned),
                ..Connect::default()
            }))
        };
        let check = TcpCheck::new(vec![ssl(Some("connect.haproxy.org"))]).unwrap();
        let mut s = Session::new(&check);
        assert!(
            matches!(s.start(), Step::Connect(c) if c.ssl && c.sni.as_deref() == Some("connect.haproxy.org"))
        );
        assert_eq!(
            done(s.connected_over_tls()),
            (CheckStatus::L6Ok, None, Some("(tcp-check)".into()))
        );
        // As checks/tcp-check-ssl.vtc expects of haproxy 2.6.
        let mut s = Session::new(&check);
        s.start();
        assert_eq!(
            done(s.tls_failed(false)),
            (
                CheckStatus::L6Response,
                None,
                Some("SSL handshake failure at step 1 of tcp-check (connect)".into())
            )
        );
        assert_eq!(done(s.tls_failed(true)).0, CheckStatus::L6Timeout);
        // A later clear-text connection ends at layer 4.
        let check = TcpCheck::new(vec![ssl(None), connect(Some(80))]).unwrap();
        let mut s = Session::new(&check);
        s.start();
        assert!(matches!(s.connected_over_tls(), Step::Connect(c) if !c.ssl));
        assert_eq!(done(s.connected()).0, CheckStatus::L4Ok);
    }

    #[test]
    fn connection_tls_follows_the_rule() {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let base = TlsCheck {
            config: Arc::new(config),
            name: rustls::pki_types::ServerName::try_from("default.example").unwrap(),
            tally: None,
        };
        let mut target = Target {
            addr: "127.0.0.1:1".parse().unwrap(),
            preamble: Vec::new(),
            tls: None,
            rules_tls: Some(base.clone()),
            names: CheckNames::default(),
            extra_headers: Vec::new(),
            socks4: None,
            via_socks4: false,
            h2: false,
        };
        let plain = Connect::default();
        assert!(connect_tls(&plain, &target).unwrap().is_none());
        let rule = Connect {
            ssl: true,
            sni: Some("connect.example".into()),
            alpn: Some(vec!["h2".into(), "http/1.1".into()]),
            ..Connect::default()
        };
        let t = connect_tls(&rule, &target).unwrap().unwrap();
        assert_eq!(
            t.name,
            rustls::pki_types::ServerName::try_from("connect.example").unwrap()
        );
        assert_eq!(
            t.config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        // `default` takes `check-ssl`'s settings, none without it.
        let default = Connect {
            default: true,
            ..Connect::default()
        };
        assert!(connect_tls(&default, &target).unwrap().is_none());
        target.tls = Some(base);
        assert!(connect_tls(&default, &target).unwrap().is_some());
        target.rules_tls = None;
        assert!(connect_tls(&rule, &target).is_err());
    }

    #[test]
    fn send_lf_renders_variables_and_names() {
        let lf = |t: &str| Arc::new(fulcrum_sample::LogFormat::parse(t).unwrap());
        let check = TcpCheck::new(vec![
            set_var("check.cmd", "str(PING)"),
            Rule::new(Action::SendLf(
                lf("%[var(check.cmd)] %[srv_name]\r\n"),
                false,
            )),
            Rule::new(Action::SendLf(lf("50%[str(4E),lower]47"), true)),
            Rule::new(Action::SendLf(lf("zz"), true)),
        ])
        .unwrap();
        let names = CheckNames {
            backend: "be".into(),
            server: "s1".into(),
        };
        let mut s = Session::with_context(&check, CheckContext::new(names), Vec::new());
        s.start();
        assert_eq!(s.connected(), Step::Send(b"PING s1\r\n".to_vec()));
        assert_eq!(s.sent(), Step::Send(b"PNG".to_vec()));
        assert_eq!(
            done(s.sent()),
            (
                CheckStatus::L7Response,
                None,
                Some("invalid hexadecimal data at step 4 of tcp-check (send)".into())
            )
        );
    }

    /// `set-var(check.NAME,COND...)`: the value is stored only when the conditions hold (`ifnotset` keeps the
    /// first value, `ifgt` replaces a larger one).
    #[test]
    fn set_var_conditions() {
        let lf = |t: &str| Arc::new(fulcrum_sample::LogFormat::parse(t).unwrap());
        let conds = |c: &[&str]| VarConds::parse(c.iter().copied()).unwrap();
        let var = |name: &str, expr: &str, c: &[&str]| {
            Rule::new(Action::SetVar(
                name.parse().unwrap(),
                Arc::new(Expr::parse(expr).unwrap()),
                conds(c),
            ))
        };
        let check = TcpCheck::new(vec![
            var("check.a", "int(1)", &[]),
            var("check.a", "int(2)", &["ifnotset"]),
            var("check.b", "int(5)", &[]),
            var("check.b", "int(3)", &["ifgt"]),
            var("check.b", "int(9)", &["ifgt"]),
            Rule::new(Action::SetVarFmt(
                "check.c".parse().unwrap(),
                lf("x"),
                conds(&["ifexists"]),
            )),
            Rule::new(Action::SendLf(
                lf("a=%[var(check.a)] b=%[var(check.b)] c=%[var(check.c)]"),
                false,
            )),
        ])
        .unwrap();
        let mut s =
            Session::with_context(&check, CheckContext::new(CheckNames::default()), Vec::new());
        s.start();
        assert_eq!(s.connected(), Step::Send(b"a=1 b=3 c=".to_vec()));
    }
}
