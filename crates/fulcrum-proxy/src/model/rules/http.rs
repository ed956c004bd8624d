//! `http-request`, `http-response` and `http-after-response` rules, `use_backend` and `errorfile`, compiled per proxy.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{PathAndQuery, Uri};
use http::{Request, Response, StatusCode};
use regex::Regex;

use fulcrum_config::haproxy::{
    AddrPart, Fmt, HttpRequestAction, HttpResponseAction, MatchMethod, Redirect, RedirectTarget,
    Rules, SampleExpr, Service, TcpConnAction, TcpContentAction, VarConds, VarName, WaitForBody,
};
use fulcrum_config::Location;

use super::cond::{compile_opt, decide, holds, CompiledCond, Facts};
use super::sample::{Ctx, Msg, Stream};
pub use crate::model::error::RulesError;
use crate::model::error_pages::{respond, respond_with, ErrorPages, Page, Reply};
use crate::model::limits::{header_cost, headers_cost, Room};

/// The facts a request offers to conditions.
pub struct RequestFacts<'a, B> {
    /// The request.
    pub req: &'a Request<B>,
    /// The stream (variables, names), for sample-expression ACLs; without it they do not match.
    pub stream: Option<&'a Stream<'a>>,
    /// The client's address.
    pub src: IpAddr,
    /// The port the client connected to.
    pub dst_port: u16,
    /// The client connection's TLS facts (`None` on clear text).
    pub tls: Option<&'a fulcrum_tls::Facts>,
    /// The request target as the client sent it (`capture.req.uri`).
    pub captured_uri: Option<&'a str>,
}

impl<'a, B> RequestFacts<'a, B> {
    /// The facts of `req` on `stream`: its client, port, TLS session and received target.
    pub fn of(req: &'a Request<B>, stream: &'a Stream<'a>) -> Self {
        RequestFacts {
            req,
            stream: Some(stream),
            src: stream.src.ip(),
            dst_port: stream.dst_port,
            tls: stream.tls,
            captured_uri: stream.captured_uri(),
        }
    }
}

fn query_param<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    let q = uri.query()?;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

fn any_value(headers: &HeaderMap, name: &str, f: &mut dyn FnMut(&str) -> bool) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .any(&mut *f)
    })
}

impl<B> Facts for RequestFacts<'_, B> {
    fn src(&self) -> Option<IpAddr> {
        Some(self.src)
    }
    fn dst_port(&self) -> Option<u16> {
        Some(self.dst_port)
    }
    fn method(&self) -> Option<&str> {
        Some(self.req.method().as_str())
    }
    fn path(&self) -> Option<&str> {
        Some(self.req.uri().path())
    }
    fn url_param(&self, name: &str) -> Option<&str> {
        query_param(self.req.uri(), name)
    }
    fn any_header_value(&self, name: &str, f: &mut dyn FnMut(&str) -> bool) -> bool {
        any_value(self.req.headers(), name, f)
    }
    fn has_header(&self, name: &str) -> bool {
        self.req.headers().contains_key(name)
    }
    fn captured_uri(&self) -> Option<&str> {
        self.captured_uri
    }
    fn authorization(&self) -> Option<&str> {
        self.req.headers().get(header::AUTHORIZATION)?.to_str().ok()
    }
    fn ssl(&self, f: fulcrum_sample::SslFetch) -> Option<fulcrum_sample::Value<'_>> {
        fulcrum_tls::sample(self.tls, f)
    }
    fn with_context(&self, f: &mut dyn FnMut(&dyn fulcrum_sample::Context) -> bool) -> bool {
        match self.stream {
            Some(stream) => f(&Ctx::new(req_msg(self.req), stream)),
            None => false,
        }
    }
}

/// The request side of a response: what `http-response` conditions may read besides the response headers.
pub struct RequestLine {
    /// The request method.
    pub method: http::Method,
    /// The request target.
    pub uri: Uri,
    /// The client's address.
    pub src: IpAddr,
    /// The port the client connected to.
    pub dst_port: u16,
    /// The client connection's TLS facts (`None` on clear text).
    pub tls: Option<std::sync::Arc<fulcrum_tls::Facts>>,
}

/// The facts a response offers: the request's line and client, the response's headers (`hdr()` reads the
/// response in `http-response` rules, as in HAProxy).
struct ResponseFacts<'a> {
    line: &'a RequestLine,
    captured_uri: Option<&'a str>,
    status: u16,
    headers: &'a HeaderMap,
    stream: &'a Stream<'a>,
}

impl Facts for ResponseFacts<'_> {
    fn src(&self) -> Option<IpAddr> {
        Some(self.line.src)
    }
    fn dst_port(&self) -> Option<u16> {
        Some(self.line.dst_port)
    }
    fn method(&self) -> Option<&str> {
        Some(self.line.method.as_str())
    }
    fn path(&self) -> Option<&str> {
        Some(self.line.uri.path())
    }
    fn url_param(&self, name: &str) -> Option<&str> {
        query_param(&self.line.uri, name)
    }
    fn any_header_value(&self, name: &str, f: &mut dyn FnMut(&str) -> bool) -> bool {
        any_value(self.headers, name, f)
    }
    fn has_header(&self, name: &str) -> bool {
        self.headers.contains_key(name)
    }
    fn status(&self) -> Option<u16> {
        Some(self.status)
    }
    fn captured_uri(&self) -> Option<&str> {
        self.captured_uri
    }
    fn ssl(&self, f: fulcrum_sample::SslFetch) -> Option<fulcrum_sample::Value<'_>> {
        fulcrum_tls::sample(self.line.tls.as_deref(), f)
    }
    fn ssl_backend(&self, f: fulcrum_sample::SslFetch) -> Option<fulcrum_sample::Value<'_>> {
        fulcrum_tls::sample(self.stream.server_tls.as_ref()?.as_deref(), f)
    }
    fn with_context(&self, f: &mut dyn FnMut(&dyn fulcrum_sample::Context) -> bool) -> bool {
        let msg = Msg::Response {
            method: &self.line.method,
            uri: &self.line.uri,
            status: self.status,
            headers: self.headers,
        };
        f(&Ctx::new(msg, self.stream))
    }
}

/// The facts of a connection before any byte is read.
pub struct ConnFacts {
    /// The client's address and port.
    pub src: SocketAddr,
    /// The port the client connected to.
    pub dst_port: u16,
    /// The stick tables and the connection's counters, when the configuration has tables.
    pub stick: Option<ConnStick>,
}

/// The stick tables a connection's rules see, and the counters they track.
pub struct ConnStick {
    /// The snapshot's tables.
    pub tables: std::sync::Arc<crate::model::stick::Tables>,
    /// The connection's stick counters.
    pub ctrs: std::rc::Rc<crate::model::stick::Ctrs>,
    /// The frontend's name (its table is the default one).
    pub own: String,
}

impl ConnFacts {
    fn ctx(&self) -> L4Ctx<'_> {
        L4Ctx {
            src: self.src,
            payload: None,
            res_payload: None,
            vars: None,
            stick: self.stick.as_ref(),
            tls: None,
            server_tls: None,
        }
    }
}

impl Facts for ConnFacts {
    fn src(&self) -> Option<IpAddr> {
        Some(self.src.ip())
    }
    fn dst_port(&self) -> Option<u16> {
        Some(self.dst_port)
    }
    fn with_context(&self, f: &mut dyn FnMut(&dyn fulcrum_sample::Context) -> bool) -> bool {
        f(&self.ctx())
    }
}

/// The sample-expression context of a connection without an HTTP message: its addresses, in `tcp-request
/// content` rules the client's buffered bytes, in `tcp-response content` rules the server's, and in `mode tcp`
/// the connection's variables.
struct L4Ctx<'a> {
    src: SocketAddr,
    payload: Option<&'a [u8]>,
    res_payload: Option<&'a [u8]>,
    vars: Option<&'a std::cell::RefCell<super::vars::VarMap>>,
    stick: Option<&'a ConnStick>,
    tls: Option<&'a fulcrum_tls::Facts>,
    server_tls: Option<Option<&'a fulcrum_tls::Facts>>,
}

/// The method and target of the HTTP request line at the start of `buf`, once the line is complete (HAProxy
/// reads HTTP requests out of a `mode tcp` connection's buffer for `tcp-request content` rules).
fn request_line(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = buf.iter().take(8192).position(|&b| b == b'\n')?;
    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let mut parts = line.split(|&b| b == b' ');
    let method = parts
        .next()
        .filter(|m| !m.is_empty() && m.iter().all(u8::is_ascii_uppercase))?;
    let uri = parts.next().filter(|u| !u.is_empty())?;
    let version = parts.next()?;
    (version.starts_with(b"HTTP/") && parts.next().is_none()).then_some((method, uri))
}

impl fulcrum_sample::Context for L4Ctx<'_> {
    fn src(&self) -> Option<SocketAddr> {
        Some(self.src)
    }
    fn method(&self) -> Option<&[u8]> {
        request_line(self.payload?).map(|(m, _)| m)
    }
    fn uri(&self) -> Option<&[u8]> {
        request_line(self.payload?).map(|(_, u)| u)
    }
    fn payload(&self) -> Option<&[u8]> {
        self.payload
    }
    fn response_payload(&self) -> Option<&[u8]> {
        self.res_payload
    }
    fn ssl(&self, f: fulcrum_sample::SslFetch) -> Option<fulcrum_sample::Value<'_>> {
        fulcrum_tls::sample(self.tls, f)
    }
    fn ssl_backend(&self, f: fulcrum_sample::SslFetch) -> Option<fulcrum_sample::Value<'_>> {
        fulcrum_tls::sample(self.server_tls?, f)
    }
    fn var(&self, name: &VarName) -> Option<fulcrum_sample::Value<'_>> {
        super::tcp::get(self.vars, name)
    }
    fn set_var(&self, name: &VarName, value: fulcrum_sample::Value<'_>, conds: VarConds) {
        super::tcp::set(self.vars, name, value.into_owned(), conds);
    }
    fn stick(
        &self,
        f: &fulcrum_sample::StickFetch,
        key: Option<&fulcrum_sample::Value<'_>>,
    ) -> Option<fulcrum_sample::Value<'static>> {
        let s = self.stick?;
        crate::model::stick::View {
            tables: &s.tables,
            sess: Some(&s.ctrs),
            txn: None,
            src: Some(self.src.ip()),
            own: &s.own,
        }
        .fetch(f, key)
    }
    fn now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }
    fn random_u32(&self) -> u32 {
        super::vars::random_u32()
    }
    fn env(&self, name: &str) -> Option<std::borrow::Cow<'_, [u8]>> {
        std::env::var_os(name).map(|v| std::borrow::Cow::Owned(v.into_encoded_bytes()))
    }
}

/// The facts of a tcp-mode connection whose first bytes are buffered (`tcp-request content`, `use_backend`).
pub struct ContentFacts<'a> {
    /// The client's address and port.
    pub src: SocketAddr,
    /// The port the client connected to.
    pub dst_port: u16,
    /// The bytes the client sent so far.
    pub buf: &'a [u8],
    /// Whether more bytes may still come before the rules must decide (the inspect delay runs, the client did not
    /// close, the buffer is not full).
    pub may_change: bool,
    /// Whether `buf` holds the server's bytes (`tcp-response content`) rather than the client's.
    pub response: bool,
    /// The connection's variables (`mode tcp`).
    pub vars: Option<&'a std::cell::RefCell<super::vars::VarMap>>,
    /// The stick tables and the connection's counters (`mode tcp`, when the configuration has tables).
    pub stick: Option<&'a ConnStick>,
    /// The client connection's TLS facts (`None` on clear text).
    pub tls: Option<&'a fulcrum_tls::Facts>,
    /// The server connection, once made: `Some(None)` on clear text, else its TLS facts (`ssl_bc*`).
    pub server_tls: Option<Option<&'a fulcrum_tls::Facts>>,
    /// The client's socket, for `set-mark` / `set-tos` (`None` where they cannot run).
    pub sock: Option<&'a tokio::net::TcpStream>,
    /// Where `set-log-level` leaves the level of the connection's log line (`mode tcp`; `Some(None)`:
    /// silent).
    pub log_level: Option<&'a std::cell::Cell<Option<Option<u8>>>>,
}

impl<'a> ContentFacts<'a> {
    /// The value of `e` over these facts, as bytes (`balance hash` and `balance rdp-cookie` in `mode tcp`).
    pub fn sample_bytes(&self, e: &fulcrum_sample::Expr) -> Option<Vec<u8>> {
        let ctx = self.ctx();
        let v = e.eval(&ctx)?.cast(fulcrum_sample::Type::Bin)?;
        Some(v.into_str_bytes().into_owned())
    }

    fn ctx(&self) -> L4Ctx<'a> {
        L4Ctx {
            src: self.src,
            payload: (!self.response).then_some(self.buf),
            res_payload: self.response.then_some(self.buf),
            vars: self.vars,
            stick: self.stick,
            tls: self.tls,
            server_tls: self.server_tls,
        }
    }
}

impl Facts for ContentFacts<'_> {
    fn ssl(&self, f: fulcrum_sample::SslFetch) -> Option<fulcrum_sample::Value<'_>> {
        fulcrum_tls::sample(self.tls, f)
    }
    fn ssl_backend(&self, f: fulcrum_sample::SslFetch) -> Option<fulcrum_sample::Value<'_>> {
        fulcrum_tls::sample(self.server_tls?, f)
    }
    fn src(&self) -> Option<IpAddr> {
        Some(self.src.ip())
    }
    fn with_context(&self, f: &mut dyn FnMut(&dyn fulcrum_sample::Context) -> bool) -> bool {
        f(&self.ctx())
    }
    fn dst_port(&self) -> Option<u16> {
        Some(self.dst_port)
    }
    fn payload(&self) -> Option<&[u8]> {
        (!self.response).then_some(self.buf)
    }
    fn payload_may_change(&self) -> bool {
        self.may_change
    }
    /// The method of an HTTP request line at the start of the client's bytes (the predefined ACL `HTTP`, as
    /// HAProxy's `req.proto_http` reads it in `mode tcp`); an HTTP/2 preface's `PRI` counts.
    fn method(&self) -> Option<&str> {
        if self.response {
            return None;
        }
        request_line(self.buf).and_then(|(m, _)| std::str::from_utf8(m).ok())
    }
}

/// A header value of a rule: constant, or a log-format string rendered per message.
#[derive(Debug)]
enum HdrVal {
    Const(HeaderValue),
    Lf(Fmt),
}

impl HdrVal {
    fn compile(name: &str, v: &Fmt, location: &str) -> Result<Self, RulesError> {
        match v.as_literal() {
            Some(l) => Ok(HdrVal::Const(
                HeaderValue::from_bytes(&fulcrum_sample::raw_bytes(l)).map_err(|_| {
                    RulesError::Header {
                        location: location.to_string(),
                        what: format!("{name}: {l}"),
                    }
                })?,
            )),
            None => Ok(HdrVal::Lf(v.clone())),
        }
    }

    /// The value; `None` when the rendered text is not a valid header value (the rule then does nothing).
    fn value<'a, 's: 'a>(&self, ctx: impl FnOnce() -> Ctx<'a, 's>) -> Option<HeaderValue> {
        match self {
            HdrVal::Const(v) => Some(v.clone()),
            HdrVal::Lf(f) => {
                let mut out = Vec::new();
                ctx().render(f, &mut out);
                HeaderValue::from_maybe_shared(Bytes::from(out)).ok()
            }
        }
    }
}

/// `set-var` / `set-var-fmt` / `unset-var`.
#[derive(Debug)]
enum VarAct {
    /// A stick counter action of a request (`http-request`): its tracking lasts for the request.
    Stick(crate::model::stick::StickAct),
    Set(VarName, SampleExpr, VarConds),
    SetFmt(VarName, Fmt, VarConds),
    Unset(VarName),
}

impl VarAct {
    /// Runs the action over the bytes of a `mode tcp` connection, then changes the variable in its variables.
    fn run_l4(&self, facts: &ContentFacts<'_>) {
        match self {
            // The configuration refuses stick counters in `mode tcp` content and session rules.
            VarAct::Stick(_) => {}
            VarAct::Unset(n) => super::tcp::unset(facts.vars, n),
            VarAct::Set(n, e, c) => {
                let v = e.0.eval(&facts.ctx()).map(|v| v.into_owned());
                // As HAProxy: an absent sample leaves the variable as it was.
                if let Some(v) = v {
                    super::tcp::set(facts.vars, n, v, *c);
                }
            }
            VarAct::SetFmt(n, f, c) => {
                let mut out = Vec::new();
                let ctx = facts.ctx();
                match f.as_literal() {
                    Some(l) => fulcrum_sample::extend_raw(&mut out, l),
                    // No log variable has a value without an HTTP stream.
                    None => f.format().render(&ctx, &mut out, &mut |_, _, _| {
                        std::ops::ControlFlow::Continue(())
                    }),
                }
                super::tcp::set(facts.vars, n, fulcrum_sample::Value::string(out), *c);
            }
        }
    }

    /// Runs the action over `msg`, then changes the variable in `stream`.
    fn run(&self, msg: Msg<'_>, stream: &mut Stream<'_>) {
        match self {
            VarAct::Stick(a) => stream.run_stick(a, msg, false),
            VarAct::Unset(n) => stream.unset_var(n),
            VarAct::Set(n, e, c) => {
                let v = e.0.eval(&Ctx::new(msg, stream)).map(|v| v.into_owned());
                // As HAProxy: an absent sample leaves the variable as it was.
                if let Some(v) = v {
                    stream.set_var_if(n, v, *c);
                }
            }
            VarAct::SetFmt(n, f, c) => {
                let mut out = Vec::new();
                Ctx::new(msg, stream).render(f, &mut out);
                stream.set_var_if(n, fulcrum_sample::Value::string(out), *c);
            }
        }
    }
}

impl ReqAction {
    /// Whether the action ends the rules (a `redirect` only when it has a target, see where it runs).
    fn is_final(&self) -> bool {
        matches!(
            self,
            ReqAction::Allow
                | ReqAction::Auth(_)
                | ReqAction::Answer(..)
                | ReqAction::Tarpit(_)
                | ReqAction::Reject(_)
                | ReqAction::Service(_)
        )
    }
}

#[derive(Debug)]
enum ReqAction {
    SetHeader(HeaderName, HdrVal),
    AddHeader(HeaderName, HdrVal),
    EarlyHint(HeaderName, HdrVal),
    DelHeader(HeaderName),
    DelHeaderMatch(NameMatch),
    ReplaceHeader(HeaderName, Regex, Fmt),
    ReplaceValue(HeaderName, Regex, Fmt),
    SetPath(Fmt),
    SetQuery(Fmt),
    SetUri(Fmt),
    SetPathQ(Fmt),
    SetMethod(Fmt),
    /// `replace-path`, `replace-pathq`, `replace-uri`: which part, the regex, the replacement.
    Replace(UriPart, Regex, Fmt),
    SetAddr(AddrPart, SampleExpr),
    SetTimeout(
        fulcrum_config::haproxy::StreamTimeout,
        fulcrum_config::haproxy::TimeoutValue,
    ),
    Allow,
    Auth(Option<String>),
    Var(VarAct),
    Redirect(Redirect),
    /// `deny`, `return`: answer with this reply and status.
    /// The status, the reply, and whether a 4xx counts as an HTTP error in stick tables (`deny` does, `return`
    /// does not).
    Answer(u16, Reply, bool),
    Tarpit(u16),
    /// `reject` (false), `silent-drop` (true)
    Reject(bool),
    Service(Service),
    WaitForBody(WaitForBody),
    StrictMode(bool),
    /// `set-log-level LEVEL|silent` (`None`: silent).
    LogLevel(Option<u8>),
    NormalizeUri(fulcrum_http::normalize::Normalizer),
    /// `capture EXPR id N` (request side).
    Capture(SampleExpr, usize),
}

/// The part of the request target a `replace-*` action rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UriPart {
    /// `replace-path`: the path, without the query string.
    Path,
    /// `replace-pathq`: the path and the query string.
    PathQ,
    /// `replace-uri`: the whole target as received.
    Uri,
}

#[derive(Debug)]
enum RespAction {
    SetHeader(HeaderName, HdrVal),
    AddHeader(HeaderName, HdrVal),
    Var(VarAct),
    DelHeader(HeaderName),
    DelHeaderMatch(NameMatch),
    Deny(u16),
    WaitForBody(WaitForBody),
    StrictMode(bool),
    /// `set-log-level LEVEL|silent` (`None`: silent).
    LogLevel(Option<u8>),
    /// `return ...`: the response replaced by this reply with this status.
    Return(u16, Reply),
    ReplaceHeader(HeaderName, Regex, Fmt),
    ReplaceValue(HeaderName, Regex, Fmt),
    /// `set-status CODE [reason TEXT]`.
    SetStatus(u16, Option<bytes::Bytes>),
    Allow,
    /// `redirect location FMT ...` (`http-response`).
    Redirect(Redirect),
    /// `capture EXPR id N` (response side).
    Capture(SampleExpr, usize),
}

/// `del-header NAME -m beg|end|sub|reg`: which header names match (lower case, as names are kept).
#[derive(Debug)]
enum NameMatch {
    Beg(String),
    End(String),
    Sub(String),
    Reg(Regex),
}

impl NameMatch {
    fn compile(name: &str, method: MatchMethod, location: &str) -> Result<Self, RulesError> {
        let n = name.to_ascii_lowercase();
        Ok(match method {
            MatchMethod::Beg => NameMatch::Beg(n),
            MatchMethod::End => NameMatch::End(n),
            MatchMethod::Reg => {
                NameMatch::Reg(Regex::new(name).map_err(|source| RulesError::Regex {
                    location: location.to_string(),
                    source,
                })?)
            }
            _ => NameMatch::Sub(n),
        })
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            NameMatch::Beg(p) => name.starts_with(p.as_str()),
            NameMatch::End(p) => name.ends_with(p.as_str()),
            NameMatch::Sub(p) => name.contains(p.as_str()),
            NameMatch::Reg(re) => re.is_match(name),
        }
    }

    /// Removes every header whose name matches.
    fn remove_from(&self, headers: &mut HeaderMap) {
        let names: Vec<HeaderName> = headers
            .keys()
            .filter(|n| self.matches(n.as_str()))
            .cloned()
            .collect();
        for n in names {
            headers.remove(&n);
        }
    }
}

/// What the request rules decided.
pub enum Verdict {
    /// Go on with the request.
    Continue,
    /// Answer now with this response.
    Respond(Box<Page>),
    /// Hold the request for `timeout tarpit`, then answer this status.
    Tarpit(u16),
    /// Close the client connection without an answer (`reject`); without a FIN or RST either (`silent-drop`).
    Reject(bool),
    /// Hand the request to a built-in service (`use-service`).
    Service(Service),
    /// Wait for the request body as `wait-for-body` says, then go on where `resume` says
    /// ([`ProxyRules::apply_request_from`]).
    WaitForBody {
        /// How long and for how much.
        wait: WaitForBody,
        /// Where the rules go on.
        resume: Resume,
    },
    /// A rewrite did not fit in the buffer under `strict-mode on`: HAProxy answers 500.
    RewriteFailed,
}

/// Where the evaluation of a proxy's rules stands: the rule to run next, and whether a rewrite that does not fit
/// is an error (`strict-mode`, on at the start of each ruleset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// The index of the next rule.
    pub next: usize,
    /// `strict-mode on`
    pub strict: bool,
}

impl Default for Resume {
    fn default() -> Self {
        Resume {
            next: 0,
            strict: true,
        }
    }
}

/// What the response rules decided.
#[derive(Debug)]
pub enum RespVerdict {
    /// Go on with the response.
    Continue,
    /// Replace the response with the proxy's error for this status.
    Deny(u16),
    /// Wait for the response body as `wait-for-body` says, then go on where `resume` says
    /// ([`ProxyRules::apply_response_from`]).
    WaitForBody {
        /// How long and for how much.
        wait: WaitForBody,
        /// Where the rules go on.
        resume: Resume,
    },
    /// A rewrite did not fit in the buffer under `strict-mode on`: HAProxy answers 500.
    RewriteFailed,
    /// `allow` (`http-after-response`): the rest of this proxy's rules are skipped.
    Allow,
    /// `redirect`: the response is replaced by a redirect with this status to this location.
    Redirect(u16, String),
    /// `return`: the response is replaced by this one.
    Respond(Box<Page>),
}

/// The backend of a `use_backend` rule.
pub enum BackendTarget {
    /// Named in the configuration: its index in the snapshot's backends.
    Fixed(usize),
    /// `%[...]` in the name: rendered per stream, then looked up by name.
    Dynamic(Fmt),
    /// A backend the configuration disabled: the stream has no backend (503), as in HAProxy.
    Disabled,
}

/// `set-mark N` / `set-tos N`: an option of the client's socket.
#[derive(Debug, Clone, Copy)]
enum SockOpt {
    Mark(u32),
    Tos(u32),
}

impl SockOpt {
    /// Sets the option on `sock`; a refusal (`SO_MARK` needs CAP_NET_ADMIN) changes nothing, as in HAProxy.
    fn apply(self, sock: Option<&tokio::net::TcpStream>) {
        let Some(sock) = sock else { return };
        let s = socket2::SockRef::from(sock);
        let _ = match self {
            SockOpt::Mark(m) => s.set_mark(m),
            SockOpt::Tos(t) => match sock.local_addr() {
                Ok(std::net::SocketAddr::V6(_)) => s.set_tclass_v6(t),
                _ => s.set_tos(t),
            },
        };
    }
}

/// How `tcp-request session` / `content` or `tcp-response content` rules ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpEnd {
    /// `accept`, or no rule decided: the connection goes on.
    Accept,
    /// `reject`: the connection is closed (reset in `mode tcp`).
    Reject,
    /// `silent-drop`: the connection is closed without telling the client.
    SilentDrop,
    /// `switch-mode http [proto P]` (`tcp-request content` in `mode tcp`): the connection is served as HTTP
    /// from here on, only in version `P` when one is given.
    SwitchHttp(Option<fulcrum_config::haproxy::BindProto>),
}

/// A `tcp-request session`, `tcp-request content` or `tcp-response content` rule's action.
#[derive(Debug)]
enum TcpRule {
    Accept,
    Reject,
    SilentDrop,
    /// `switch-mode http`: final, as `accept`.
    SwitchHttp(Option<fulcrum_config::haproxy::BindProto>),
    /// `set-mark` / `set-tos` on the client's socket.
    Sock(SockOpt),
    Var(VarAct),
    /// `track-sc*`, `sc-inc-gpc*`, `sc-set-gpt0` of `tcp-request content` in `mode tcp`: the counters of the
    /// connection (which is the stream).
    Stick(crate::model::stick::StickAct),
    /// `set-log-level LEVEL|silent` (`None`: silent).
    LogLevel(Option<u8>),
}

impl TcpRule {
    fn compile(
        a: &TcpContentAction,
        stick: &crate::model::stick::Binder<'_>,
        location: &fulcrum_config::Location,
    ) -> Result<Self, RulesError> {
        if let TcpContentAction::Var(HttpRequestAction::Stick(s)) = a {
            return Ok(TcpRule::Stick(crate::model::stick::StickAct::compile(
                s,
                stick,
                &location.to_string(),
            )?));
        }
        Ok(match a {
            TcpContentAction::Accept => TcpRule::Accept,
            TcpContentAction::Reject => TcpRule::Reject,
            TcpContentAction::SilentDrop => TcpRule::SilentDrop,
            TcpContentAction::SwitchHttp(p) => TcpRule::SwitchHttp(*p),
            TcpContentAction::SetMark(m) => TcpRule::Sock(SockOpt::Mark(*m)),
            TcpContentAction::SetTos(t) => TcpRule::Sock(SockOpt::Tos(*t)),
            TcpContentAction::SetLogLevel(l) => TcpRule::LogLevel(*l),
            TcpContentAction::Var(HttpRequestAction::SetVar(n, e, c)) => {
                TcpRule::Var(VarAct::Set(n.clone(), e.clone(), *c))
            }
            TcpContentAction::Var(HttpRequestAction::SetVarFmt(n, f, c)) => {
                TcpRule::Var(VarAct::SetFmt(n.clone(), f.clone(), *c))
            }
            TcpContentAction::Var(HttpRequestAction::UnsetVar(n)) => {
                TcpRule::Var(VarAct::Unset(n.clone()))
            }
            // The configuration puts only the variable and stick counter actions here.
            TcpContentAction::Var(_) => TcpRule::Accept,
        })
    }
}

/// Runs `rules` in order from `*next` over the buffered bytes: how they ended (accepting also when no rule is
/// left), `None` to wait for more bytes, with `*next` the rule to resume at (the variable actions before it are not
/// run again).
fn run_tcp_rules(
    rules: &[(TcpRule, Option<CompiledCond>)],
    facts: &ContentFacts<'_>,
    next: &mut usize,
    session: bool,
) -> Option<TcpEnd> {
    for (i, (action, cond)) in rules.iter().enumerate().skip(*next) {
        match decide(cond, facts) {
            None => {
                *next = i;
                return None;
            }
            Some(false) => continue,
            Some(true) => {}
        }
        match action {
            TcpRule::Accept => return Some(TcpEnd::Accept),
            TcpRule::Reject => return Some(TcpEnd::Reject),
            TcpRule::SilentDrop => return Some(TcpEnd::SilentDrop),
            TcpRule::SwitchHttp(p) => return Some(TcpEnd::SwitchHttp(*p)),
            TcpRule::Sock(o) => o.apply(facts.sock),
            TcpRule::LogLevel(l) => {
                if let Some(cell) = facts.log_level {
                    cell.set(Some(*l));
                }
            }
            TcpRule::Var(v) => v.run_l4(facts),
            TcpRule::Stick(a) => {
                // a key not there yet (an incomplete request line) is waited for while bytes may come
                if facts.may_change && a.key_missing(&facts.ctx()) {
                    *next = i;
                    return None;
                }
                if let Some(st) = facts.stick {
                    a.run(&facts.ctx(), &st.ctrs, None, false, session);
                }
            }
        }
    }
    *next = rules.len();
    Some(TcpEnd::Accept)
}

/// What the `tcp-request session` rules of an HTTP proxy decided on a connection's first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpVerdict {
    /// Go on with the `tcp-request content` rules.
    Continue,
    /// A `tcp-request session` rule rejected the connection (`true`: `silent-drop`).
    RejectSession(bool),
}

/// Runs `tcp-request session` (`session`) or `tcp-request content` rules on an HTTP request: how one of them ended
/// the list, `None` when none of them decided.
fn apply_tcp_http<B>(
    (rules, sites): (&[(TcpRule, Option<CompiledCond>)], &[Location]),
    session: bool,
    sock: Option<&tokio::net::TcpStream>,
    req: &Request<B>,
    stream: &mut Stream<'_>,
) -> Option<TcpEnd> {
    for (i, (action, cond)) in rules.iter().enumerate() {
        let facts = RequestFacts {
            req,
            stream: Some(&*stream),
            src: stream.src.ip(),
            dst_port: stream.dst_port,
            tls: stream.tls,
            captured_uri: stream.captured_uri(),
        };
        if !holds(cond, &facts) {
            continue;
        }
        match action {
            TcpRule::Accept | TcpRule::Reject | TcpRule::SilentDrop | TcpRule::SwitchHttp(_) => {
                // HAProxy keeps no line for session rules (they run before the stream exists).
                if !session {
                    stream.last_rule = site(sites, i);
                }
                return Some(match action {
                    // Already HTTP: `switch-mode http` ends the rules as `accept` does.
                    TcpRule::Accept | TcpRule::SwitchHttp(_) => TcpEnd::Accept,
                    TcpRule::Reject => TcpEnd::Reject,
                    _ => TcpEnd::SilentDrop,
                });
            }
            TcpRule::Sock(o) => o.apply(sock),
            TcpRule::LogLevel(l) => stream.log_level.set(Some(*l)),
            TcpRule::Var(v) => v.run(req_msg(req), stream),
            TcpRule::Stick(a) => stream.run_stick(a, req_msg(req), session),
        }
    }
    None
}

/// A compiled `tcp-request connection` action.
#[derive(Debug)]
enum ConnAct {
    Accept,
    Reject,
    ExpectProxy,
    Stick(crate::model::stick::StickAct),
}

/// The compiled rules of one proxy.
#[derive(Default)]
pub struct ProxyRules {
    http_request: Vec<(ReqAction, Option<CompiledCond>)>,
    http_response: Vec<(RespAction, Option<CompiledCond>)>,
    http_after_response: Vec<(RespAction, Option<CompiledCond>)>,
    /// `use_backend` rules with their backends resolved (indices in the snapshot's backends) or their names'
    /// formats.
    pub use_backends: Vec<(BackendTarget, Option<CompiledCond>)>,
    tcp_connection: Vec<(ConnAct, Option<CompiledCond>)>,
    tcp_content: Vec<(TcpRule, Option<CompiledCond>)>,
    /// `tcp-response content` rules (a backend's, in `mode tcp`).
    tcp_response: Vec<(TcpRule, Option<CompiledCond>)>,
    response_inspect_delay: Option<std::time::Duration>,
    /// `tcp-request session`: once per client connection, after the connection rules and before the content
    /// rules (in `mode http`, before its first request).
    tcp_session: Vec<(TcpRule, Option<CompiledCond>)>,
    inspect_delay: Option<std::time::Duration>,
    errorfiles: ErrorPages,
    /// `stick on|match|store-request` (server persistence), with their tables resolved.
    stick: Vec<(crate::model::stick::StickRuleRt, Option<CompiledCond>)>,
    /// `force-persist` / `ignore-persist`, in order.
    persist: Vec<(fulcrum_config::haproxy::PersistRule, Option<CompiledCond>)>,
    /// `stats http-request allow|deny|auth` rules.
    stats_http_request: Vec<(
        fulcrum_config::haproxy::StatsHttpAction,
        Option<CompiledCond>,
    )>,
    /// `use-server`: the server's index in the backend, when the condition holds.
    use_servers: Vec<(usize, Option<CompiledCond>)>,
    /// `monitor fail`: the conditions that make `monitor-uri` answer 503.
    monitor_fail: Vec<Option<CompiledCond>>,
    /// Where each rule of the lists above was written, for `last_rule_file` / `last_rule_line`.
    sites: Sites,
}

/// The configuration lines of a proxy's rules, list by list, in the lists' order.
#[derive(Default)]
struct Sites {
    http_request: Vec<Location>,
    http_response: Vec<Location>,
    http_after_response: Vec<Location>,
    tcp_content: Vec<Location>,
    tcp_response: Vec<Location>,
}

/// Where each rule of `rules` was written.
fn sites_of<A>(rules: &[fulcrum_config::haproxy::Rule<A>]) -> Vec<Location> {
    rules.iter().map(|r| r.location.clone()).collect()
}

/// The line of rule `i` of `sites`, as `last_rule_file` / `last_rule_line` report it.
fn site(sites: &[Location], i: usize) -> Option<Location> {
    sites.get(i).cloned()
}

fn header_pair(
    name: &str,
    value: &Fmt,
    location: &str,
) -> Result<(HeaderName, HdrVal), RulesError> {
    let n = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| {
        RulesError::Header {
            location: location.to_string(),
            what: format!("{name}: {value}"),
        }
    })?;
    Ok((n, HdrVal::compile(name, value, location)?))
}

fn header_name(name: &str, location: &str) -> Result<HeaderName, RulesError> {
    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| RulesError::Header {
        location: location.to_string(),
        what: name.to_string(),
    })
}

impl ProxyRules {
    /// Compiles the rules of a proxy. `with_http` is false for the backend side of a `listen` section, whose
    /// rules its frontend side already runs. `backend` resolves `use_backend` names; the ACLs' patterns live in
    /// `refs`.
    pub fn compile(
        rules: &Rules,
        with_http: bool,
        backend: &dyn Fn(&str) -> Option<usize>,
        refs: &super::patref::PatternRefs,
        stick: &crate::model::stick::Binder<'_>,
    ) -> Result<Self, RulesError> {
        let errorfiles =
            ErrorPages::compile(&rules.errorfiles).map_err(|source| RulesError::Reply {
                location: "errorfile".to_string(),
                source,
            })?;
        let mut out = ProxyRules {
            errorfiles,
            ..ProxyRules::default()
        };
        // A backend's (also a listen's backend side's): they run on its server connections.
        for r in &rules.tcp_response {
            out.tcp_response.push((
                TcpRule::compile(&r.action, stick, &r.location)?,
                compile_opt(&r.cond, refs)?,
            ));
        }
        out.response_inspect_delay = rules.response_inspect_delay;
        out.sites.tcp_response = sites_of(&rules.tcp_response);
        for r in &rules.stick {
            let rt = crate::model::stick::StickRuleRt::compile(
                &r.action,
                stick,
                &r.location.to_string(),
            )?;
            out.stick.push((rt, compile_opt(&r.cond, refs)?));
        }
        for r in &rules.stats_http_request {
            out.stats_http_request
                .push((r.action.clone(), compile_opt(&r.cond, refs)?));
        }
        for r in &rules.persist {
            out.persist.push((r.action, compile_opt(&r.cond, refs)?));
        }
        for u in &rules.use_servers {
            out.use_servers
                .push((u.action.index, compile_opt(&u.cond, refs)?));
        }
        for m in &rules.monitor_fail {
            out.monitor_fail.push(compile_opt(&m.cond, refs)?);
        }
        if !with_http {
            return Ok(out);
        }
        for r in &rules.http_request {
            let loc = r.location.to_string();
            let action = match &r.action {
                HttpRequestAction::SetHeader(n, v) => {
                    let (n, v) = header_pair(n, v, &loc)?;
                    ReqAction::SetHeader(n, v)
                }
                HttpRequestAction::AddHeader(n, v) => {
                    let (n, v) = header_pair(n, v, &loc)?;
                    ReqAction::AddHeader(n, v)
                }
                HttpRequestAction::EarlyHint(n, v) => {
                    let (n, v) = header_pair(n, v, &loc)?;
                    ReqAction::EarlyHint(n, v)
                }
                HttpRequestAction::DelHeader(n) => ReqAction::DelHeader(header_name(n, &loc)?),
                HttpRequestAction::DelHeaderMatch(n, m) => {
                    ReqAction::DelHeaderMatch(NameMatch::compile(n, *m, &loc)?)
                }
                HttpRequestAction::ReplaceValue(n, re, rep) => ReqAction::ReplaceValue(
                    header_name(n, &loc)?,
                    Regex::new(re).map_err(|source| RulesError::Regex {
                        location: loc.clone(),
                        source,
                    })?,
                    rep.clone(),
                ),
                HttpRequestAction::ReplaceHeader(n, re, rep) => ReqAction::ReplaceHeader(
                    header_name(n, &loc)?,
                    Regex::new(re).map_err(|source| RulesError::Regex {
                        location: loc.clone(),
                        source,
                    })?,
                    rep.clone(),
                ),
                HttpRequestAction::SetPath(p) => ReqAction::SetPath(p.clone()),
                HttpRequestAction::SetQuery(q) => ReqAction::SetQuery(q.clone()),
                HttpRequestAction::SetUri(u) => ReqAction::SetUri(u.clone()),
                HttpRequestAction::SetPathQ(u) => ReqAction::SetPathQ(u.clone()),
                HttpRequestAction::SetMethod(m) => ReqAction::SetMethod(m.clone()),
                HttpRequestAction::ReplacePath(re, with)
                | HttpRequestAction::ReplacePathQ(re, with)
                | HttpRequestAction::ReplaceUri(re, with) => {
                    let part = match &r.action {
                        HttpRequestAction::ReplacePath(..) => UriPart::Path,
                        HttpRequestAction::ReplacePathQ(..) => UriPart::PathQ,
                        _ => UriPart::Uri,
                    };
                    let re = Regex::new(re).map_err(|source| RulesError::Regex {
                        location: loc.clone(),
                        source,
                    })?;
                    ReqAction::Replace(part, re, with.clone())
                }
                HttpRequestAction::SetAddr(part, e) => ReqAction::SetAddr(*part, e.clone()),
                HttpRequestAction::SetTimeout(t, v) => ReqAction::SetTimeout(*t, v.clone()),
                HttpRequestAction::Allow => ReqAction::Allow,
                HttpRequestAction::Auth(realm) => ReqAction::Auth(realm.clone()),
                HttpRequestAction::SetVar(n, e, c) => {
                    ReqAction::Var(VarAct::Set(n.clone(), e.clone(), *c))
                }
                HttpRequestAction::SetVarFmt(n, f, c) => {
                    ReqAction::Var(VarAct::SetFmt(n.clone(), f.clone(), *c))
                }
                HttpRequestAction::UnsetVar(n) => ReqAction::Var(VarAct::Unset(n.clone())),
                HttpRequestAction::Stick(s) => ReqAction::Var(VarAct::Stick(
                    crate::model::stick::StickAct::compile(s, stick, &loc)?,
                )),
                HttpRequestAction::Redirect(r) => ReqAction::Redirect(r.clone()),
                HttpRequestAction::Deny(s) => ReqAction::Answer(*s, Reply::ProxyError, true),
                HttpRequestAction::DenyWith(s, rep) | HttpRequestAction::Return(s, rep) => {
                    let reply = Reply::compile(*s, rep).map_err(|source| RulesError::Reply {
                        location: loc.clone(),
                        source,
                    })?;
                    let is_deny = matches!(r.action, HttpRequestAction::DenyWith(..));
                    ReqAction::Answer(*s, reply, is_deny)
                }
                HttpRequestAction::Tarpit(s) => ReqAction::Tarpit(*s),
                HttpRequestAction::Reject(silent) => ReqAction::Reject(*silent),
                HttpRequestAction::UseService(s) => ReqAction::Service(*s),
                HttpRequestAction::WaitForBody(w) => ReqAction::WaitForBody(*w),
                HttpRequestAction::StrictMode(on) => ReqAction::StrictMode(*on),
                HttpRequestAction::SetLogLevel(l) => ReqAction::LogLevel(*l),
                HttpRequestAction::NormalizeUri(n) => ReqAction::NormalizeUri(normalizer(*n)),
                HttpRequestAction::Capture(e, slot) => ReqAction::Capture(e.clone(), *slot),
            };
            out.http_request.push((action, compile_opt(&r.cond, refs)?));
        }
        out.http_response = compile_response(&rules.http_response, refs)?;
        out.http_after_response = compile_response(&rules.http_after_response, refs)?;
        out.sites.http_request = sites_of(&rules.http_request);
        out.sites.http_response = sites_of(&rules.http_response);
        out.sites.http_after_response = sites_of(&rules.http_after_response);
        out.sites.tcp_content = sites_of(&rules.tcp_content);
        for u in &rules.use_backends {
            let target = match &u.dynamic {
                Some(f) => BackendTarget::Dynamic(f.clone()),
                // The configuration checked the name: a backend that is not there was disabled.
                None => match backend(&u.backend) {
                    Some(be) => BackendTarget::Fixed(be),
                    None => BackendTarget::Disabled,
                },
            };
            out.use_backends.push((target, compile_opt(&u.cond, refs)?));
        }
        for r in &rules.tcp_connection {
            let a =
                match &r.action {
                    TcpConnAction::Accept => ConnAct::Accept,
                    TcpConnAction::Reject => ConnAct::Reject,
                    TcpConnAction::ExpectProxy => ConnAct::ExpectProxy,
                    TcpConnAction::Stick(s) => ConnAct::Stick(
                        crate::model::stick::StickAct::compile(s, stick, &r.location.to_string())?,
                    ),
                };
            out.tcp_connection.push((a, compile_opt(&r.cond, refs)?));
        }
        for r in &rules.tcp_content {
            out.tcp_content.push((
                TcpRule::compile(&r.action, stick, &r.location)?,
                compile_opt(&r.cond, refs)?,
            ));
        }
        for r in &rules.tcp_session {
            out.tcp_session.push((
                TcpRule::compile(&r.action, stick, &r.location)?,
                compile_opt(&r.cond, refs)?,
            ));
        }
        out.inspect_delay = rules.inspect_delay;
        Ok(out)
    }

    /// The `stick` rules' decision for a request: the server stored for the first matching `match` rule whose
    /// key is in its table, and the (table, key) pairs the chosen server is to be stored under.
    pub fn stick_plan<B>(
        &self,
        req: &Request<B>,
        stream: &Stream<'_>,
    ) -> crate::model::stick::Plan {
        let mut plan = crate::model::stick::Plan::default();
        if self.stick.is_empty() {
            return plan;
        }
        let facts = RequestFacts::of(req, stream);
        for (rule, cond) in &self.stick {
            if !rule.response && holds(cond, &facts) {
                rule.plan(&Ctx::new(req_msg(req), stream), &mut plan);
            }
        }
        plan
    }

    /// The `stick` rules' decision for a `mode tcp` connection, on the bytes its content rules buffered (`stick
    /// on src`, `stick match req.payload(...)`): as [`ProxyRules::stick_plan`] for a request.
    pub fn stick_plan_tcp(&self, facts: &ContentFacts<'_>) -> crate::model::stick::Plan {
        let mut plan = crate::model::stick::Plan::default();
        for (rule, cond) in &self.stick {
            if !rule.response && holds(cond, facts) {
                rule.plan(&facts.ctx(), &mut plan);
            }
        }
        plan
    }

    /// `stick store-response` in `mode tcp`: on the server's first bytes (`facts` over the response buffer), the
    /// rules whose condition holds store `server` under their key. `payload` / `payload_lv` read the response
    /// there, as HAProxy's direction-less fetches do.
    pub fn stick_store_response_tcp(
        &self,
        facts: &ContentFacts<'_>,
        server: &crate::model::server::ServerRt,
    ) {
        for (rule, cond) in self.stick.iter().filter(|(r, _)| r.response) {
            if holds(cond, facts) {
                let mut ctx = facts.ctx();
                ctx.payload = Some(facts.buf);
                rule.store_response(&ctx, server);
            }
        }
    }

    /// The first `stats http-request` rule whose condition holds for a request of the stats page.
    pub fn stats_access(
        &self,
        facts: &dyn Facts,
    ) -> Option<&fulcrum_config::haproxy::StatsHttpAction> {
        self.stats_http_request
            .iter()
            .find(|(_, cond)| holds(cond, facts))
            .map(|(a, _)| a)
    }

    /// The first `force-persist` / `ignore-persist` rule whose condition holds for the request.
    pub fn persist_rule<B>(
        &self,
        req: &Request<B>,
        stream: &Stream<'_>,
    ) -> Option<fulcrum_config::haproxy::PersistRule> {
        if self.persist.is_empty() {
            return None;
        }
        let facts = RequestFacts::of(req, stream);
        self.persist
            .iter()
            .find(|(_, cond)| holds(cond, &facts))
            .map(|(rule, _)| *rule)
    }

    /// Whether any `stick store-response` rule exists (so the request line must be kept for it).
    pub fn has_store_response(&self) -> bool {
        self.stick.iter().any(|(r, _)| r.response)
    }

    /// Runs the `stick store-response` rules on a response from the server whose id is `server_id`.
    pub fn stick_store_response(
        &self,
        status: u16,
        headers: &HeaderMap,
        line: &RequestLine,
        stream: &Stream<'_>,
        server: &crate::model::server::ServerRt,
    ) {
        for (rule, cond) in self.stick.iter().filter(|(r, _)| r.response) {
            let facts = ResponseFacts {
                line,
                captured_uri: stream.captured_uri(),
                status,
                headers,
                stream,
            };
            if holds(cond, &facts) {
                let msg = Msg::Response {
                    method: &line.method,
                    uri: &line.uri,
                    status,
                    headers,
                };
                rule.store_response(&Ctx::new(msg, stream), server);
            }
        }
    }

    /// Whether any `http-response` or `tcp-response content` rule exists (so the request line must be kept for
    /// them).
    pub fn has_response_rules(&self) -> bool {
        !self.http_response.is_empty() || !self.tcp_response.is_empty()
    }

    /// Whether any `http-after-response` rule exists.
    pub fn has_after_response_rules(&self) -> bool {
        !self.http_after_response.is_empty()
    }

    /// The proxy's error replies (`errorfile`, `errorfiles`, `http-error`).
    pub fn error_pages(&self) -> &ErrorPages {
        &self.errorfiles
    }

    /// Runs `tcp-request connection` rules: `None` rejects the connection; `Some(true)` when an `expect-proxy
    /// layer4` rule matched on the way (the connection must start with a PROXY protocol header).
    pub fn accept_connection(&self, facts: &ConnFacts) -> Option<bool> {
        let mut expect_proxy = false;
        for (action, cond) in &self.tcp_connection {
            if holds(cond, facts) {
                match action {
                    ConnAct::Accept => return Some(expect_proxy),
                    ConnAct::Reject => return None,
                    // Not final: the next rules still run.
                    ConnAct::ExpectProxy => expect_proxy = true,
                    ConnAct::Stick(a) => {
                        if let Some(st) = &facts.stick {
                            a.run(&facts.ctx(), &st.ctrs, None, false, true);
                        }
                    }
                }
            }
        }
        Some(expect_proxy)
    }

    /// Whether the proxy has `tcp-request content` rules to run on the client's first bytes.
    pub fn has_content_rules(&self) -> bool {
        !self.tcp_content.is_empty()
    }

    /// `tcp-request inspect-delay`: how long the content rules may wait for bytes.
    pub fn inspect_delay(&self) -> Option<std::time::Duration> {
        self.inspect_delay
    }

    /// Runs `tcp-request content` rules in order, from rule `*next`, over the bytes buffered so far: how they
    /// ended (accepting also when no rule matches), `None` to wait for more bytes (a rule whose condition cannot
    /// be decided yet, which only happens while `facts.may_change`); `*next` is then where to resume.
    pub fn inspect_content(&self, facts: &ContentFacts<'_>, next: &mut usize) -> Option<TcpEnd> {
        run_tcp_rules(&self.tcp_content, facts, next, false)
    }

    /// Whether the backend has `tcp-response content` rules to run on the server's first bytes.
    pub fn has_tcp_response_rules(&self) -> bool {
        !self.tcp_response.is_empty()
    }

    /// `tcp-response inspect-delay`: how long the response rules may wait for bytes.
    pub fn response_inspect_delay(&self) -> Option<std::time::Duration> {
        self.response_inspect_delay
    }

    /// Runs `tcp-response content` rules over the server's bytes, as [`ProxyRules::inspect_content`] does.
    pub fn inspect_response(&self, facts: &ContentFacts<'_>, next: &mut usize) -> Option<TcpEnd> {
        run_tcp_rules(&self.tcp_response, facts, next, false)
    }

    /// The backend chosen by the first matching `use_backend`, if any: `Some(Some(index))` in the snapshot's
    /// backends, `Some(None)` for a disabled backend (no backend: 503), `None` when no rule chose one (the default
    /// backend then). `dynamic` renders a dynamic name and finds the backend so named; when it finds none, the
    /// choice falls to the default backend, as HAProxy's does.
    pub fn pick_backend(
        &self,
        facts: &dyn Facts,
        dynamic: &mut dyn FnMut(&Fmt) -> Option<usize>,
    ) -> Option<Option<usize>> {
        let (target, _) = self
            .use_backends
            .iter()
            .find(|(_, cond)| holds(cond, facts))?;
        match target {
            BackendTarget::Fixed(be) => Some(Some(*be)),
            BackendTarget::Dynamic(f) => dynamic(f).map(Some),
            BackendTarget::Disabled => Some(None),
        }
    }

    /// The server of the first `use-server` rule whose condition holds and whose server `usable` accepts (a rule
    /// naming a server that cannot take the request is passed over, as HAProxy does).
    pub fn pick_server(&self, facts: &dyn Facts, usable: &dyn Fn(usize) -> bool) -> Option<usize> {
        self.use_servers
            .iter()
            .find(|(i, cond)| usable(*i) && holds(cond, facts))
            .map(|(i, _)| *i)
    }

    /// Whether a `monitor fail` condition holds (`monitor-uri` then answers 503).
    pub fn monitor_fails(&self, facts: &dyn Facts) -> bool {
        self.monitor_fail.iter().any(|c| holds(c, facts))
    }

    /// Whether the proxy has `use-server` rules.
    pub fn has_use_server(&self) -> bool {
        !self.use_servers.is_empty()
    }

    /// Whether the proxy has `tcp-request session` rules.
    pub fn has_session_rules(&self) -> bool {
        !self.tcp_session.is_empty()
    }

    /// Runs the `tcp-request session` rules of a `mode tcp` connection (once, before its content rules, over no
    /// byte yet).
    pub fn accept_session(&self, facts: &ContentFacts<'_>) -> TcpEnd {
        let mut next = 0;
        run_tcp_rules(&self.tcp_session, facts, &mut next, true).unwrap_or(TcpEnd::Accept)
    }

    /// Runs the `tcp-request session` rules for a connection's first HTTP request: `Continue`, or
    /// `RejectSession`.
    pub fn apply_tcp_session<B>(
        &self,
        sock: Option<&tokio::net::TcpStream>,
        req: &Request<B>,
        stream: &mut Stream<'_>,
    ) -> TcpVerdict {
        match apply_tcp_http((&self.tcp_session, &[]), true, sock, req, stream) {
            Some(TcpEnd::Reject) => TcpVerdict::RejectSession(false),
            Some(TcpEnd::SilentDrop) => TcpVerdict::RejectSession(true),
            _ => TcpVerdict::Continue,
        }
    }

    /// Runs the `tcp-request content` rules on an HTTP request (a frontend's, or a backend's as the request
    /// enters it: its session rules are the frontend's business).
    pub fn apply_backend_content<B>(
        &self,
        sock: Option<&tokio::net::TcpStream>,
        req: &Request<B>,
        stream: &mut Stream<'_>,
    ) -> TcpEnd {
        apply_tcp_http(
            (&self.tcp_content, &self.sites.tcp_content),
            false,
            sock,
            req,
            stream,
        )
        .unwrap_or(TcpEnd::Accept)
    }

    /// Runs the `tcp-response content` rules of an HTTP backend when a response arrives, before its
    /// `http-response` rules: `false` rejects (the connections are closed, nothing is sent to the client). As in
    /// haproxy 2.6, they run before the response head is parsed: its status and headers give no sample there
    /// (observed: `status`, `res.hdr()` empty), the variables and the connection's facts do.
    pub fn apply_tcp_response(&self, line: &RequestLine, stream: &mut Stream<'_>) -> bool {
        let none = HeaderMap::new();
        for (i, (action, cond)) in self.tcp_response.iter().enumerate() {
            let facts = ResponseFacts {
                line,
                captured_uri: stream.captured_uri(),
                status: 0,
                headers: &none,
                stream,
            };
            if !holds(cond, &facts) {
                continue;
            }
            let msg = Msg::Request {
                method: &line.method,
                uri: &line.uri,
                headers: &none,
            };
            match action {
                TcpRule::Accept
                | TcpRule::Reject
                | TcpRule::SilentDrop
                | TcpRule::SwitchHttp(_) => {
                    stream.last_rule = site(&self.sites.tcp_response, i);
                    return !matches!(action, TcpRule::Reject | TcpRule::SilentDrop);
                }
                // The configuration refuses them in response rules.
                TcpRule::Sock(_) => {}
                TcpRule::LogLevel(l) => stream.log_level.set(Some(*l)),
                TcpRule::Var(v) => v.run(msg, stream),
                TcpRule::Stick(a) => stream.run_stick(a, msg, false),
            }
        }
        true
    }

    /// Runs the `http-request` rules in order on `req`, no rewrite limited by a buffer. `outer` is the frontend
    /// when these are a backend's rules: its error replies back the backend's.
    pub fn apply_request<B>(
        &self,
        req: &mut Request<B>,
        stream: &mut Stream<'_>,
        outer: Option<&ProxyRules>,
    ) -> Verdict {
        let mut room = Room::unlimited();
        self.apply_request_from(Resume::default(), req, stream, outer, &mut room)
    }

    /// Runs the `http-request` rules from where `at` says (the start, or the rule after a `wait-for-body`), the
    /// rewrites within `room`.
    pub fn apply_request_from<B>(
        &self,
        at: Resume,
        req: &mut Request<B>,
        stream: &mut Stream<'_>,
        outer: Option<&ProxyRules>,
        room: &mut Room,
    ) -> Verdict {
        let mut strict = at.strict;
        // Consecutive `early-hint` rules make one `103 Early Hints` response.
        let mut hinting = false;
        for (index, (action, cond)) in self.http_request.iter().enumerate().skip(at.next) {
            // `set-src` and `set-dst` change what the next rules see.
            let facts = RequestFacts {
                req,
                stream: Some(&*stream),
                src: stream.src.ip(),
                dst_port: stream.dst_port,
                tls: stream.tls,
                captured_uri: stream.captured_uri(),
            };
            if !holds(cond, &facts) {
                continue;
            }
            let was_hinting = std::mem::take(&mut hinting);
            if action.is_final() {
                stream.last_rule = site(&self.sites.http_request, index);
            }
            let render =
                |f: &Fmt, stream: &Stream<'_>| -> String { req_ctx(req, stream).render_string(f) };
            let done = match action {
                ReqAction::SetHeader(n, v) => match v.value(|| req_ctx(req, stream)) {
                    Some(v) => set_header(req.headers_mut(), n, &v, room),
                    None => true,
                },
                ReqAction::AddHeader(n, v) => match v.value(|| req_ctx(req, stream)) {
                    Some(v) => add_header(req.headers_mut(), n, &v, room),
                    None => true,
                },
                ReqAction::EarlyHint(n, v) => {
                    if let Some(v) = v.value(|| req_ctx(req, stream)) {
                        if !was_hinting || stream.early_hints.is_empty() {
                            stream.early_hints.push(HeaderMap::new());
                        }
                        if let Some(group) = stream.early_hints.last_mut() {
                            group.append(n.clone(), v);
                        }
                    }
                    hinting = true;
                    continue;
                }
                ReqAction::DelHeader(n) => del_header(req.headers_mut(), n, room),
                ReqAction::DelHeaderMatch(m) => del_header_match(req.headers_mut(), m, room),
                ReqAction::ReplaceHeader(n, re, rep) => {
                    let rep = render(rep, stream);
                    replace_header_within(req.headers_mut(), n, re, &rep, room)
                }
                ReqAction::ReplaceValue(n, re, rep) => {
                    let rep = render(rep, stream);
                    replace_value_within(req.headers_mut(), n, re, &rep, room)
                }
                ReqAction::SetPath(p) => {
                    let p = render(p, stream);
                    let q = req.uri().query().map(str::to_string);
                    set_uri_within(req, &p, q.as_deref(), room)
                }
                ReqAction::SetQuery(q) => {
                    let q = render(q, stream);
                    let p = req.uri().path().to_string();
                    set_uri_within(req, &p, (!q.is_empty()).then_some(q.as_str()), room)
                }
                ReqAction::SetUri(u) => {
                    let u = render(u, stream);
                    set_whole_uri_within(req, &u, room)
                }
                ReqAction::SetPathQ(pq) => {
                    let pq = render(pq, stream);
                    let (p, q) = match pq.split_once('?') {
                        Some((p, q)) => (p, Some(q)),
                        None => (pq.as_str(), None),
                    };
                    set_uri_within(req, p, q, room)
                }
                ReqAction::SetMethod(m) => {
                    let m = render(m, stream);
                    set_method_within(req, &m, room)
                }
                ReqAction::Replace(part, re, with) => {
                    let with = render(with, stream);
                    replace_uri_part(req, *part, re, &with, room)
                }
                ReqAction::SetAddr(part, e) => {
                    let v = e.0.eval(&req_ctx(req, stream)).map(|v| v.into_owned());
                    if let Some(v) = v {
                        stream.set_addr(*part, &v);
                    }
                    true
                }
                ReqAction::SetTimeout(which, v) => {
                    use fulcrum_config::haproxy::{StreamTimeout, TimeoutValue};
                    let d = match v {
                        TimeoutValue::Fixed(d) => Some(*d),
                        // milliseconds; no sample, or not a positive number, changes nothing
                        TimeoutValue::Expr(e) => {
                            e.0.eval(&req_ctx(req, stream))
                                .and_then(|v| v.to_int())
                                .filter(|&ms| ms > 0)
                                .map(|ms| std::time::Duration::from_millis(ms as u64))
                        }
                    };
                    if let Some(d) = d {
                        match which {
                            StreamTimeout::Server => stream.timeouts.server = Some(d),
                            StreamTimeout::Tunnel => stream.timeouts.tunnel = Some(d),
                        }
                        req.extensions_mut().insert(stream.timeouts);
                    }
                    true
                }
                ReqAction::Allow => return Verdict::Continue,
                ReqAction::Auth(realm) => {
                    let realm = match realm {
                        Some(r) => r.as_str(),
                        // The realm is the name of the proxy whose rule it is.
                        None if outer.is_some() => stream
                            .backend
                            .as_ref()
                            .map_or(stream.frontend, |b| b.name()),
                        None => stream.frontend,
                    };
                    let mut pages = vec![&self.errorfiles];
                    pages.extend(outer.map(|o| &o.errorfiles));
                    return Verdict::Respond(Box::new(auth_page(realm, &pages)));
                }
                ReqAction::Var(v) => {
                    v.run(req_msg(req), stream);
                    true
                }
                ReqAction::Capture(e, slot) => {
                    let v =
                        e.0.eval(&Ctx::new(req_msg(req), stream))
                            .and_then(|v| v.cast(fulcrum_sample::Type::Str))
                            .map(|v| v.into_str_bytes().into_owned());
                    if let Some(v) = v {
                        stream.set_capture(false, *slot, &v);
                    }
                    true
                }
                ReqAction::StrictMode(on) => {
                    strict = *on;
                    true
                }
                ReqAction::LogLevel(l) => {
                    stream.log_level.set(Some(*l));
                    true
                }
                ReqAction::NormalizeUri(n) => {
                    let target = req.uri().path_and_query().map_or("", |pq| pq.as_str());
                    match fulcrum_http::normalize::normalize(target.as_bytes(), *n) {
                        Ok(None) => true,
                        // The normalisers write ASCII from the ASCII of a parsed URI.
                        Ok(Some(new)) => match String::from_utf8(new) {
                            Ok(new) => {
                                let (p, q) = match new.split_once('?') {
                                    Some((p, q)) => (p, Some(q)),
                                    None => (new.as_str(), None),
                                };
                                set_uri_within(req, p, q, room)
                            }
                            Err(_) => true,
                        },
                        // `strict` and a malformed escape: HAProxy answers 400.
                        Err(_) => {
                            let mut pages = vec![&self.errorfiles];
                            pages.extend(outer.map(|o| &o.errorfiles));
                            return Verdict::Respond(Box::new(respond(
                                400,
                                &Reply::ProxyError,
                                &pages,
                            )));
                        }
                    }
                }
                ReqAction::Redirect(r) => {
                    let target = match &r.target {
                        RedirectTarget::Location(f)
                        | RedirectTarget::Prefix(f)
                        | RedirectTarget::Scheme(f) => render(f, stream),
                    };
                    if r.ignore_empty && target.is_empty() {
                        true
                    } else {
                        stream.last_rule = site(&self.sites.http_request, index);
                        return Verdict::Respond(Box::new(redirect(r, &target, req)));
                    }
                }
                ReqAction::Answer(status, reply, counted) => {
                    let mut pages = vec![&self.errorfiles];
                    pages.extend(outer.map(|o| &o.errorfiles));
                    // The reply, or the proxy's for the status (an `http-error` one may be a template too),
                    // rendered against this request.
                    let ctx = req_ctx(req, stream);
                    let mut resp =
                        respond_with(*status, reply, &pages, &mut |f, out| ctx.render(f, out));
                    if !*counted {
                        resp.extensions_mut()
                            .insert(crate::model::stick::NotAnError);
                    }
                    return Verdict::Respond(Box::new(resp));
                }
                ReqAction::Tarpit(s) => return Verdict::Tarpit(*s),
                ReqAction::Reject(silent) => return Verdict::Reject(*silent),
                ReqAction::Service(s) => return Verdict::Service(*s),
                ReqAction::WaitForBody(w) => {
                    return Verdict::WaitForBody {
                        wait: *w,
                        resume: Resume {
                            next: index + 1,
                            strict,
                        },
                    }
                }
            };
            if !done && strict {
                return Verdict::RewriteFailed;
            }
        }
        Verdict::Continue
    }

    /// Runs the `http-response` rules on a response's head from where `at` says (the start, or the rule after a
    /// `wait-for-body`), the rewrites within `room`.
    pub fn apply_response_from(
        &self,
        at: Resume,
        status: &mut u16,
        headers: &mut HeaderMap,
        line: &RequestLine,
        stream: &mut Stream<'_>,
        room: &mut Room,
    ) -> RespVerdict {
        apply_response(
            (
                &self.http_response,
                &self.sites.http_response,
                &self.errorfiles,
            ),
            at,
            status,
            headers,
            line,
            stream,
            room,
        )
    }

    /// Runs the `http-after-response` rules on a response's head (any response sent to the client), the
    /// rewrites within `room`: [`RespVerdict::Continue`], [`RespVerdict::Allow`] or
    /// [`RespVerdict::RewriteFailed`].
    pub fn apply_after_response(
        &self,
        status: &mut u16,
        headers: &mut HeaderMap,
        line: &RequestLine,
        stream: &mut Stream<'_>,
        room: &mut Room,
    ) -> RespVerdict {
        let at = Resume::default();
        apply_response(
            (
                &self.http_after_response,
                &self.sites.http_after_response,
                &self.errorfiles,
            ),
            at,
            status,
            headers,
            line,
            stream,
            room,
        )
    }
}

/// Compiles `http-response` or `http-after-response` rules.
fn compile_response(
    rules: &[fulcrum_config::haproxy::Rule<HttpResponseAction>],
    refs: &super::patref::PatternRefs,
) -> Result<Vec<(RespAction, Option<CompiledCond>)>, RulesError> {
    let mut out = Vec::with_capacity(rules.len());
    for r in rules {
        let loc = r.location.to_string();
        let regex = |re: &str| {
            Regex::new(re).map_err(|source| RulesError::Regex {
                location: loc.clone(),
                source,
            })
        };
        let action = match &r.action {
            HttpResponseAction::SetHeader(n, v) => {
                let (n, v) = header_pair(n, v, &loc)?;
                RespAction::SetHeader(n, v)
            }
            HttpResponseAction::AddHeader(n, v) => {
                let (n, v) = header_pair(n, v, &loc)?;
                RespAction::AddHeader(n, v)
            }
            HttpResponseAction::DelHeader(n) => RespAction::DelHeader(header_name(n, &loc)?),
            HttpResponseAction::DelHeaderMatch(n, m) => {
                RespAction::DelHeaderMatch(NameMatch::compile(n, *m, &loc)?)
            }
            HttpResponseAction::ReplaceHeader(n, re, rep) => {
                RespAction::ReplaceHeader(header_name(n, &loc)?, regex(re)?, rep.clone())
            }
            HttpResponseAction::ReplaceValue(n, re, rep) => {
                RespAction::ReplaceValue(header_name(n, &loc)?, regex(re)?, rep.clone())
            }
            HttpResponseAction::SetStatus(s, reason) => {
                RespAction::SetStatus(*s, reason.as_ref().map(|r| bytes::Bytes::from(r.clone())))
            }
            HttpResponseAction::Allow => RespAction::Allow,
            HttpResponseAction::Redirect(r) => RespAction::Redirect(r.clone()),
            HttpResponseAction::Deny(s) => RespAction::Deny(*s),
            HttpResponseAction::SetVar(n, e, c) => {
                RespAction::Var(VarAct::Set(n.clone(), e.clone(), *c))
            }
            HttpResponseAction::SetVarFmt(n, f, c) => {
                RespAction::Var(VarAct::SetFmt(n.clone(), f.clone(), *c))
            }
            HttpResponseAction::UnsetVar(n) => RespAction::Var(VarAct::Unset(n.clone())),
            HttpResponseAction::WaitForBody(w) => RespAction::WaitForBody(*w),
            HttpResponseAction::StrictMode(on) => RespAction::StrictMode(*on),
            HttpResponseAction::SetLogLevel(l) => RespAction::LogLevel(*l),
            HttpResponseAction::Return(s, rep) => RespAction::Return(
                *s,
                Reply::compile(*s, rep).map_err(|source| RulesError::Reply {
                    location: r.location.to_string(),
                    source,
                })?,
            ),
            HttpResponseAction::Capture(e, slot) => RespAction::Capture(e.clone(), *slot),
        };
        out.push((action, compile_opt(&r.cond, refs)?));
    }
    Ok(out)
}

/// Runs response rules (`http-response` or `http-after-response`, with where each was written) from where `at`
/// says.
/// A list of response rules: the rules with their conditions, where each was written, and the proxy's error
/// pages (for `return ... default-errorfiles`).
type RespRules<'a> = (
    &'a [(RespAction, Option<CompiledCond>)],
    &'a [Location],
    &'a ErrorPages,
);

fn apply_response(
    (rules, sites, errorfiles): RespRules<'_>,
    at: Resume,
    status: &mut u16,
    headers: &mut HeaderMap,
    line: &RequestLine,
    stream: &mut Stream<'_>,
    room: &mut Room,
) -> RespVerdict {
    {
        let mut strict = at.strict;
        for (index, (action, cond)) in rules.iter().enumerate().skip(at.next) {
            let status_now = *status;
            let facts = ResponseFacts {
                line,
                captured_uri: stream.captured_uri(),
                status: status_now,
                headers: &*headers,
                stream: &*stream,
            };
            if !holds(cond, &facts) {
                continue;
            }
            let msg = |headers| Msg::Response {
                method: &line.method,
                uri: &line.uri,
                status: status_now,
                headers,
            };
            let done = match action {
                RespAction::SetHeader(n, v) => match v.value(|| Ctx::new(msg(&*headers), stream)) {
                    Some(v) => set_header(headers, n, &v, room),
                    None => true,
                },
                RespAction::AddHeader(n, v) => match v.value(|| Ctx::new(msg(&*headers), stream)) {
                    Some(v) => add_header(headers, n, &v, room),
                    None => true,
                },
                RespAction::Var(v) => {
                    v.run(msg(&*headers), stream);
                    true
                }
                RespAction::Capture(e, slot) => {
                    let v =
                        e.0.eval(&Ctx::new(msg(&*headers), stream))
                            .and_then(|v| v.cast(fulcrum_sample::Type::Str))
                            .map(|v| v.into_str_bytes().into_owned());
                    if let Some(v) = v {
                        stream.set_capture(true, *slot, &v);
                    }
                    true
                }
                RespAction::DelHeader(n) => del_header(headers, n, room),
                RespAction::DelHeaderMatch(m) => del_header_match(headers, m, room),
                RespAction::StrictMode(on) => {
                    strict = *on;
                    true
                }
                RespAction::LogLevel(l) => {
                    stream.log_level.set(Some(*l));
                    true
                }
                RespAction::ReplaceHeader(n, re, rep) => {
                    let rep = Ctx::new(msg(&*headers), stream).render_string(rep);
                    replace_header_within(headers, n, re, &rep, room)
                }
                RespAction::ReplaceValue(n, re, rep) => {
                    let rep = Ctx::new(msg(&*headers), stream).render_string(rep);
                    replace_value_within(headers, n, re, &rep, room)
                }
                RespAction::SetStatus(s, reason) => {
                    *status = *s;
                    stream.status_reason = Some(reason.clone());
                    true
                }
                RespAction::Allow => {
                    stream.last_rule = site(sites, index);
                    return RespVerdict::Allow;
                }
                RespAction::Deny(s) => {
                    stream.last_rule = site(sites, index);
                    return RespVerdict::Deny(*s);
                }
                RespAction::Return(s, reply) => {
                    stream.last_rule = site(sites, index);
                    let ctx = Ctx::new(msg(&*headers), stream);
                    let page =
                        respond_with(*s, reply, &[errorfiles], &mut |f, out| ctx.render(f, out));
                    return RespVerdict::Respond(Box::new(page));
                }
                RespAction::Redirect(r) => {
                    let RedirectTarget::Location(f) = &r.target else {
                        // The configuration allows only `location` in response rules.
                        continue;
                    };
                    let mut to = Vec::new();
                    Ctx::new(msg(&*headers), stream).render(f, &mut to);
                    if r.ignore_empty && to.is_empty() {
                        true
                    } else {
                        stream.last_rule = site(sites, index);
                        return RespVerdict::Redirect(
                            r.code,
                            String::from_utf8_lossy(&to).into_owned(),
                        );
                    }
                }
                RespAction::WaitForBody(w) => {
                    return RespVerdict::WaitForBody {
                        wait: *w,
                        resume: Resume {
                            next: index + 1,
                            strict,
                        },
                    }
                }
            };
            if !done && strict {
                return RespVerdict::RewriteFailed;
            }
        }
        RespVerdict::Continue
    }
}

/// What expressions in `http-request` rules read: the request as it stands.
fn req_msg<B>(req: &Request<B>) -> Msg<'_> {
    Msg::Request {
        method: req.method(),
        uri: req.uri(),
        headers: req.headers(),
    }
}

/// Renders a log-format string over a request (a dynamic `use_backend` name).
pub fn render_request<B>(req: &Request<B>, stream: &Stream<'_>, f: &Fmt) -> String {
    req_ctx(req, stream).render_string(f)
}

fn req_ctx<'a, 's, B>(req: &'a Request<B>, stream: &'a Stream<'s>) -> Ctx<'a, 's> {
    Ctx::new(req_msg(req), stream)
}

/// The buffer space the lines of header `name` take.
fn header_lines_cost(headers: &HeaderMap, name: &HeaderName) -> usize {
    headers
        .get_all(name)
        .iter()
        .map(|v| header_cost(name.as_str().len(), v.len()))
        .sum()
}

/// `set-header`: the header's lines are removed, then the new one added if it fits (as HAProxy, the removal
/// stays when it does not).
fn set_header(headers: &mut HeaderMap, n: &HeaderName, v: &HeaderValue, room: &mut Room) -> bool {
    let freed = header_lines_cost(headers, n);
    if room.rewrite(freed, header_cost(n.as_str().len(), v.len())) {
        headers.insert(n.clone(), v.clone());
        return true;
    }
    headers.remove(n);
    room.take(-(freed as isize));
    false
}

/// `add-header`, if the line fits.
fn add_header(headers: &mut HeaderMap, n: &HeaderName, v: &HeaderValue, room: &mut Room) -> bool {
    let fits = room.rewrite(0, header_cost(n.as_str().len(), v.len()));
    if fits {
        headers.append(n.clone(), v.clone());
    }
    fits
}

/// `del-header NAME`: always done, and frees room.
fn del_header(headers: &mut HeaderMap, n: &HeaderName, room: &mut Room) -> bool {
    room.take(-(header_lines_cost(headers, n) as isize));
    headers.remove(n);
    true
}

/// `del-header NAME -m ...`: always done, and frees room.
fn del_header_match(headers: &mut HeaderMap, m: &NameMatch, room: &mut Room) -> bool {
    let before = headers_cost(headers);
    m.remove_from(headers);
    room.take(headers_cost(headers) as isize - before as isize);
    true
}

/// `replace-header`, if the new values fit (otherwise nothing changes).
fn replace_header_within(
    headers: &mut HeaderMap,
    n: &HeaderName,
    re: &Regex,
    rep: &str,
    room: &mut Room,
) -> bool {
    let old: Vec<HeaderValue> = headers.get_all(n).iter().cloned().collect();
    let before = header_lines_cost(headers, n);
    replace_header(headers, n, re, rep);
    if room.rewrite(before, header_lines_cost(headers, n)) {
        return true;
    }
    headers.remove(n);
    for v in old {
        headers.append(n.clone(), v);
    }
    false
}

/// `replace-value`, if the new values fit (otherwise nothing changes).
fn replace_value_within(
    headers: &mut HeaderMap,
    n: &HeaderName,
    re: &Regex,
    rep: &str,
    room: &mut Room,
) -> bool {
    let old: Vec<HeaderValue> = headers.get_all(n).iter().cloned().collect();
    if old.is_empty() {
        return true;
    }
    let before = header_lines_cost(headers, n);
    headers.remove(n);
    for v in &old {
        let text = String::from_utf8_lossy(v.as_bytes());
        let new: Vec<String> = text
            .split(',')
            .map(|item| {
                // As HAProxy: an element the regex matches is replaced without the blanks around it; the others
                // stay as they were.
                match expand(re, item.trim_matches([' ', '\t']), rep) {
                    Some(new) => new,
                    None => item.to_string(),
                }
            })
            .collect();
        let value = HeaderValue::from_str(&new.join(",")).unwrap_or_else(|_| v.clone());
        headers.append(n.clone(), value);
    }
    if room.rewrite(before, header_lines_cost(headers, n)) {
        return true;
    }
    headers.remove(n);
    for v in old {
        headers.append(n.clone(), v);
    }
    false
}

/// What a value `text` that `re` matches becomes: `rep` (the whole value is replaced, as HAProxy does), where
/// `\1`..`\9` stand for the regex's groups; `None` when the regex does not match.
fn expand(re: &Regex, text: &str, rep: &str) -> Option<String> {
    let caps = re.captures(text)?;
    let mut out = String::with_capacity(rep.len() + text.len());
    let mut chars = rep.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                chars.next();
                out.push_str(caps.get(d as usize).map_or("", |m| m.as_str()));
                continue;
            }
        }
        out.push(c);
    }
    Some(out)
}

/// `set-path` / `set-query`, if the new request target fits (otherwise nothing changes).
fn set_uri_within<B>(
    req: &mut Request<B>,
    path: &str,
    query: Option<&str>,
    room: &mut Room,
) -> bool {
    let old = req.uri().clone();
    set_path_and_query(req, path, query);
    let len = |u: &Uri| u.path_and_query().map_or(0, |pq| pq.as_str().len());
    if room.rewrite(len(&old), len(req.uri())) {
        return true;
    }
    *req.uri_mut() = old;
    false
}

/// `set-uri`, if the new request target is valid and fits (otherwise nothing changes). A target that is neither
/// origin-form (`/...`) nor absolute (`scheme://...`) is read as HAProxy reads it: what comes before its first `/`
/// is an authority, which becomes the `Host` header, and the rest the path.
fn set_whole_uri_within<B>(req: &mut Request<B>, uri: &str, room: &mut Room) -> bool {
    let len = |u: &Uri| u.to_string().len();
    let host = match uri.find('/') {
        Some(i) if i > 0 && !uri.contains("://") && !uri.starts_with('*') => {
            Some((&uri[..i], &uri[i..]))
        }
        _ => None,
    };
    if let Some((authority, rest)) = host {
        let (Ok(new), Ok(h)) = (Uri::try_from(rest), HeaderValue::from_str(authority)) else {
            return true;
        };
        let old_host = header_lines_cost(req.headers(), &header::HOST);
        let new_host = header_cost(header::HOST.as_str().len(), h.len());
        if room.rewrite(len(req.uri()) + old_host, len(&new) + new_host) {
            *req.uri_mut() = new;
            req.headers_mut().insert(header::HOST, h);
            return true;
        }
        return false;
    }
    let Ok(new) = Uri::try_from(uri) else {
        return true;
    };
    if room.rewrite(len(req.uri()), len(&new)) {
        *req.uri_mut() = new;
        return true;
    }
    false
}

/// `replace-header`: each value of the header that the regex matches is replaced by the replacement, where
/// `\1`..`\9` stand for the regex's groups.
fn replace_header(headers: &mut HeaderMap, name: &HeaderName, re: &Regex, rep: &str) {
    let old: Vec<HeaderValue> = headers.get_all(name).iter().cloned().collect();
    if old.is_empty() {
        return;
    }
    headers.remove(name);
    for v in old {
        let text = String::from_utf8_lossy(v.as_bytes()).into_owned();
        let new = match expand(re, &text, rep) {
            Some(out) => HeaderValue::from_str(&out).unwrap_or(v),
            None => v,
        };
        headers.append(name.clone(), new);
    }
}

/// `set-method`: an invalid method changes nothing.
fn set_method_within<B>(req: &mut Request<B>, m: &str, room: &mut Room) -> bool {
    let Ok(new) = http::Method::from_bytes(m.as_bytes()) else {
        return true;
    };
    if room.rewrite(req.method().as_str().len(), new.as_str().len()) {
        *req.method_mut() = new;
        return true;
    }
    false
}

/// `replace-path`, `replace-pathq`, `replace-uri`: when `re` matches the part, it is replaced by `with` (whose
/// `\1`..`\9` stand for the regex's groups); a result that is not a valid target changes nothing.
fn replace_uri_part<B>(
    req: &mut Request<B>,
    part: UriPart,
    re: &Regex,
    with: &str,
    room: &mut Room,
) -> bool {
    let uri = req.uri();
    let new = match part {
        UriPart::Path => expand(re, uri.path(), with),
        UriPart::PathQ => expand(re, uri.path_and_query().map_or("", |pq| pq.as_str()), with),
        UriPart::Uri => {
            let text = match (uri.scheme(), uri.path_and_query()) {
                (None, Some(pq)) => pq.as_str().to_string(),
                _ => uri.to_string(),
            };
            expand(re, &text, with)
        }
    };
    let Some(new) = new else {
        return true;
    };
    match part {
        UriPart::Path => {
            let q = req.uri().query().map(str::to_string);
            set_uri_within(req, &new, q.as_deref(), room)
        }
        UriPart::PathQ => {
            let (p, q) = match new.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (new.as_str(), None),
            };
            set_uri_within(req, p, q, room)
        }
        UriPart::Uri => set_whole_uri_within(req, &new, room),
    }
}

/// The answer of `http-request auth`: the proxy's 401 page (an `errorfile 401` when there is one) asking for
/// Basic credentials in `realm`.
/// The data path's form of a configured `normalize-uri` normaliser.
fn normalizer(n: fulcrum_config::haproxy::UriNormalizer) -> fulcrum_http::normalize::Normalizer {
    use fulcrum_config::haproxy::UriNormalizer as C;
    use fulcrum_http::normalize::Normalizer as N;
    match n {
        C::PathMergeSlashes => N::PathMergeSlashes,
        C::PathStripDot => N::PathStripDot,
        C::PathStripDotdot { full } => N::PathStripDotdot { full },
        C::PercentDecodeUnreserved { strict } => N::PercentDecodeUnreserved { strict },
        C::PercentToUppercase { strict } => N::PercentToUppercase { strict },
        C::QuerySortByName => N::QuerySortByName,
        C::FragmentStrip => N::FragmentStrip,
        C::FragmentEncode => N::FragmentEncode,
    }
}

fn auth_page(realm: &str, pages: &[&ErrorPages]) -> Page {
    let mut resp = if pages.iter().any(|p| p.has(401)) {
        respond(401, &Reply::ProxyError, pages)
    } else {
        crate::model::error_pages::auth_required(401)
    };
    let realm = realm.replace(['"', '\\'], "");
    if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{realm}\"")) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// Replaces the path and query of the request target, keeping scheme and authority of an absolute-form target.
fn set_path_and_query<B>(req: &mut Request<B>, path: &str, query: Option<&str>) {
    let pq = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let Ok(pq) = PathAndQuery::try_from(pq) else {
        return;
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(pq);
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
}

/// The response of a `redirect` rule whose location, prefix or scheme rendered as `target`.
fn redirect<B>(r: &Redirect, target: &str, req: &Request<B>) -> Page {
    let uri = req.uri();
    let location = match &r.target {
        RedirectTarget::Location(_) => target.to_string(),
        RedirectTarget::Prefix(_) => {
            let pfx = target;
            let mut path = uri.path().to_string();
            if r.append_slash && !path.ends_with('/') {
                path.push('/');
            }
            let base = if pfx == "/" {
                ""
            } else {
                pfx.trim_end_matches('/')
            };
            match uri.query().filter(|_| !r.drop_query) {
                Some(q) => format!("{base}{path}?{q}"),
                None => format!("{base}{path}"),
            }
        }
        RedirectTarget::Scheme(_) => {
            let scheme = target;
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| uri.authority().map(|a| a.as_str()))
                .unwrap_or("");
            let pq = uri.path_and_query().map_or("/", |p| p.as_str());
            format!("{scheme}://{host}{pq}")
        }
    };
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::from_u16(r.code).unwrap_or(StatusCode::FOUND);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The answer of an `http-response redirect` rule: `code` to `location`, no body.
pub fn response_redirect(code: u16, location: &str) -> Page {
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::FOUND);
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_header_expands_groups() {
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("user=alice; role=admin"));
        h.append("x-a", HeaderValue::from_static("nothing here"));
        let re = Regex::new("user=([a-z]+); role=([a-z]+)").unwrap();
        replace_header(&mut h, &HeaderName::from_static("x-a"), &re, "\\2:\\1");
        let vals: Vec<_> = h.get_all("x-a").iter().collect();
        assert_eq!(vals, ["admin:alice", "nothing here"]);
    }

    #[test]
    fn paths_and_redirects() {
        let mut req = Request::builder()
            .uri("/old/x?a=1")
            .header("host", "h.test")
            .body(())
            .unwrap();
        set_path_and_query(&mut req, "/new/x", Some("a=1"));
        assert_eq!(req.uri(), "/new/x?a=1");
        let r = Redirect {
            target: RedirectTarget::Prefix("https://h.test".into()),
            code: 301,
            drop_query: true,
            append_slash: true,
            ignore_empty: false,
        };
        let resp = redirect(&r, "https://h.test", &req);
        assert_eq!(resp.status(), 301);
        assert_eq!(resp.headers()["location"], "https://h.test/new/x/");
        let r = Redirect {
            target: RedirectTarget::Scheme("https".into()),
            code: 302,
            drop_query: false,
            append_slash: false,
            ignore_empty: false,
        };
        assert_eq!(
            redirect(&r, "https", &req).headers()["location"],
            "https://h.test/new/x?a=1"
        );
    }

    #[test]
    fn a_tcp_buffer_gives_its_request_line() {
        assert_eq!(
            request_line(b"GET /c1_client HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some((&b"GET"[..], &b"/c1_client"[..]))
        );
        assert_eq!(request_line(b"GET /c1_client HTTP/1.1"), None);
        assert_eq!(request_line(b"\x16\x03\x01 binary\n"), None);
        assert_eq!(request_line(b"get / HTTP/1.0\n"), None);
    }
}
