//! Sample expressions at run time: the variables of a transaction, a client connection and the process, and
//! [`Ctx`], the `fulcrum_sample::Context` over a request or a response that `%[...]`, `set-var` and `var()` read.
//!
//! Expressions and log-format strings were compiled when the configuration was loaded
//! (`fulcrum_config::haproxy::Fmt`); here they are only evaluated. A context borrows the message, the names and
//! the variables, so the common fetches (a header, the path, a `txn.` variable) copy nothing.

use std::borrow::Cow;
use std::cell::{Ref, RefCell};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::SystemTime;

use fulcrum_config::haproxy::{Fmt, VarConds, VarName, VarScope};
use fulcrum_sample::{BackendStat, Context, Flags, HeaderVisitor, IdOf, Value};
use http::{HeaderMap, Uri};

pub use super::vars::{describe_proc_var, set_global_vars, set_proc_var, StreamBackend, VarMap};
pub(crate) use super::vars::{lock_proc, random_u32};

/// What a transaction's rules know besides its messages: addresses, proxy names and variables.
pub struct Stream<'a> {
    /// The client's address.
    pub src: SocketAddr,
    /// The port the client connected to.
    pub dst_port: u16,
    /// The address the client connected to, asked of the socket only when an expression reads it.
    pub dst: &'a dyn Fn() -> Option<SocketAddr>,
    /// The frontend's name.
    pub frontend: &'a str,
    /// The frontend's proxy id (`fe_id`).
    pub frontend_id: i64,
    /// The client connections open on the frontend (`fe_conn`).
    pub frontend_conns: &'a std::sync::atomic::AtomicU32,
    /// Where the last final rule the stream ran was written (`last_rule_file`, `last_rule_line`).
    pub last_rule: Option<fulcrum_config::Location>,
    /// The listener the client came through (`so_name`, `so_id`).
    pub listener: &'a crate::net::listener::ListenerInfo,
    /// Every backend, for the fetches naming one (`nbsrv(NAME)`, `be_conn(NAME)`).
    pub backends: &'a dyn super::vars::Backends,
    /// The server the request went to, once its response is there (`srv_name`, `srv_id`).
    pub server: Option<std::sync::Arc<crate::model::server::ServerRt>>,
    /// The backend, once one is chosen.
    pub backend: Option<std::sync::Arc<dyn StreamBackend>>,
    /// `txn.`, `req.` and `res.` variables: one transaction.
    pub txn: RefCell<VarMap>,
    /// `sess.` variables: the client connection's.
    pub sess: &'a RefCell<VarMap>,
    /// The client connection's TLS facts (`None` on clear text).
    pub tls: Option<&'a fulcrum_tls::Facts>,
    /// The server connection once the response is there: `None` before, `Some(None)` on clear text, else its
    /// TLS facts (`ssl_bc*`).
    pub server_tls: Option<Option<std::sync::Arc<fulcrum_tls::Facts>>>,
    /// Whether this is the first request of the client connection (`http_first_req`).
    pub first_req: bool,
    /// The destination address as `set-dst` / `set-dst-port` made it (then `dst` is no longer asked).
    pub dst_set: Option<SocketAddr>,
    /// The `userlist` sections (`http_auth`, `http_auth_group`).
    pub userlists: &'a Userlists,
    /// The request target as the client sent it (`capture.req.uri`).
    pub received_uri: Option<http::Uri>,
    /// The PROXY protocol header the client connection started with (`fc_rcvd_proxy`, `fc_pp_*`).
    pub proxied: Option<&'a crate::net::proxy_header::Received>,
    /// The request's unique ID (`unique-id`), made from the frontend's `unique-id-format` once the
    /// `http-request` rules ran.
    pub unique_id: Option<Vec<u8>>,
    /// The algorithm the response is compressed with (`res.comp_algo`), once the proxy decided it.
    pub comp_algo: Option<&'static str>,
    /// The request body bytes waited for (`option http-buffer-request`, `wait-for-body`): `req.body`.
    pub req_body: Option<bytes::Bytes>,
    /// The frontend's capture slots, request and response side.
    pub capture_slots: [&'a [fulcrum_config::haproxy::CaptureSlot]; 2],
    /// What `capture` rules stored in those slots (empty until one does).
    pub captured: [Vec<Option<Vec<u8>>>; 2],
    /// Stick tables and counters (`None` when the configuration has no table).
    pub stick: Option<StreamStick<'a>>,
    /// The server and tunnel timeouts `http-request set-timeout` gave this stream.
    pub timeouts: StreamTimeouts,
    /// The frontend's `timeout client` (`fe_client_timeout`).
    pub client_timeout: Option<std::time::Duration>,
    /// The HTTP versions of the request and, once it is there, of the response (`req.ver`, `capture.res.ver`).
    pub versions: [Option<http::Version>; 2],
    /// `http-request early-hint` headers not sent yet, one `103 Early Hints` response each.
    pub early_hints: Vec<http::HeaderMap>,
    /// `set-log-level`: the level the request's log line goes out at (`Some(None)`: `silent`, no line); `None`
    /// when no rule set it (info).
    pub log_level: std::cell::Cell<Option<Option<u8>>>,
    /// `set-status ... [reason TEXT]` ran: the reason phrase the response goes out with (`Some(None)`: the
    /// standard one for its status, not the server's); `None` when no rule set a status.
    pub status_reason: Option<Option<bytes::Bytes>>,
}

/// An HTTP version as `req.ver` gives it.
pub(crate) fn version_text(v: http::Version) -> Option<&'static str> {
    match v {
        http::Version::HTTP_10 => Some("1.0"),
        http::Version::HTTP_11 => Some("1.1"),
        http::Version::HTTP_2 => Some("2.0"),
        _ => None,
    }
}

/// A stream's own server and tunnel timeouts (`http-request set-timeout`), over its backend's; carried to the
/// forwarding code in the request's extensions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamTimeouts {
    /// `set-timeout server`
    pub server: Option<std::time::Duration>,
    /// `set-timeout tunnel`
    pub tunnel: Option<std::time::Duration>,
}

/// The stick tables a stream sees, the client connection's counters and the request's own.
pub struct StreamStick<'a> {
    /// The snapshot's tables.
    pub tables: &'a crate::model::stick::Tables,
    /// The client connection's counters (`tcp-request connection|session track-sc*`).
    pub sess: &'a crate::model::stick::Ctrs,
    /// The request's counters (`http-request track-sc*`, `tcp-request content track-sc*`).
    pub txn: crate::model::stick::Ctrs,
}

impl Stream<'_> {
    /// Runs a stick counter action of a request rule; `session`: a `tcp-request session` rule, whose tracking
    /// lasts as long as the client connection.
    pub fn run_stick(&self, a: &crate::model::stick::StickAct, msg: Msg<'_>, session: bool) {
        let Some(s) = &self.stick else {
            return;
        };
        let ctx = Ctx::new(msg, self);
        if session {
            a.run(&ctx, s.sess, Some(&s.txn), true, true);
        } else {
            a.run(&ctx, &s.txn, Some(s.sess), true, false);
        }
    }

    /// The stick samples' view of this stream.
    pub fn stick_view(&self) -> Option<crate::model::stick::View<'_>> {
        let s = self.stick.as_ref()?;
        Some(crate::model::stick::View {
            tables: s.tables,
            sess: Some(s.sess),
            txn: Some(&s.txn),
            src: Some(self.src.ip()),
            own: self.backend.as_ref().map_or(self.frontend, |b| b.name()),
        })
    }
}

impl Stream<'_> {
    /// `be_server_timeout` and the others, in milliseconds; `None` before a backend is chosen (outside a `listen`)
    /// or when the timeout is not set.
    pub fn timeout_ms(&self, which: fulcrum_sample::TimeoutFetch) -> Option<i64> {
        use fulcrum_sample::TimeoutFetch as T;
        let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        if which == T::FeClient {
            return Some(self.client_timeout.map_or(0, ms));
        }
        // Before a backend is chosen, a `listen` section's rules see its own.
        let (server, tunnel) = match self.backend.as_ref() {
            Some(b) => b.timeouts(),
            None => self.backends.find(self.frontend)?.timeouts(),
        };
        let t = match which {
            T::BeServer => server,
            T::BeTunnel => tunnel,
            T::CurServer => self.timeouts.server.or(server),
            T::CurTunnel => self.timeouts.tunnel.or(tunnel),
            T::FeClient => None,
        };
        t.map(ms)
    }

    /// `capture.req.uri`: the path and query the client sent (an absolute target without scheme and authority).
    pub fn captured_uri(&self) -> Option<&str> {
        self.received_uri
            .as_ref()?
            .path_and_query()
            .map(|pq| pq.as_str())
    }
}

/// The `userlist` sections by name.
pub type Userlists = std::collections::HashMap<String, std::sync::Arc<super::auth::Users>>;

impl Stream<'_> {
    /// The address the client connected to, as rules may have changed it.
    pub fn dst_addr(&self) -> Option<SocketAddr> {
        self.dst_set.or_else(|| (self.dst)())
    }

    /// `set-src`, `set-src-port`, `set-dst`, `set-dst-port` with the value `v`: an address (or text that reads as
    /// one), or a port (an integer from 0 to 65535); a value of another kind changes nothing, as in HAProxy.
    pub fn set_addr(&mut self, part: fulcrum_config::haproxy::AddrPart, v: &Value<'_>) {
        use fulcrum_config::haproxy::AddrPart;
        match part {
            AddrPart::Src | AddrPart::Dst => {
                let Some(ip) = value_ip(v) else { return };
                if part == AddrPart::Src {
                    // As HAProxy 2.6 does: the port stays.
                    self.src.set_ip(ip);
                } else {
                    let port = self.dst_addr().map_or(self.dst_port, |a| a.port());
                    self.dst_set = Some(SocketAddr::new(ip, port));
                }
            }
            AddrPart::SrcPort | AddrPart::DstPort => {
                let Some(port) = value_port(v) else { return };
                if part == AddrPart::SrcPort {
                    self.src.set_port(port);
                } else {
                    let ip = self
                        .dst_addr()
                        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
                    self.dst_set = Some(SocketAddr::new(ip, port));
                    self.dst_port = port;
                }
            }
        }
    }
    /// Sets a variable (`set-var`).
    pub fn set_var(&mut self, name: &VarName, v: Value<'static>) {
        match name.scope() {
            VarScope::Proc => {
                lock_proc().insert(name.clone(), v);
            }
            VarScope::Sess => {
                self.sess.borrow_mut().insert(name.clone(), v);
            }
            _ => {
                self.txn.get_mut().insert(name.clone(), v);
            }
        }
    }

    /// Sets a variable when `conds` allow it (`set-var(scope.name,COND...)`).
    pub fn set_var_if(&mut self, name: &VarName, v: Value<'static>, conds: VarConds) {
        if conds.is_empty() {
            return self.set_var(name, v);
        }
        let allowed = match name.scope() {
            VarScope::Proc => conds.allows(name.scope(), lock_proc().get(name), &v),
            VarScope::Sess => conds.allows(name.scope(), self.sess.borrow().get(name), &v),
            _ => conds.allows(name.scope(), self.txn.get_mut().get(name), &v),
        };
        if allowed {
            self.set_var(name, v);
        }
    }

    /// `capture EXPR id N`: stores `v` in slot `idx` of one side, cut to the slot's length; a slot the frontend
    /// does not have (a backend's rule) is ignored.
    pub fn set_capture(&mut self, response: bool, idx: usize, v: &[u8]) {
        let side = usize::from(response);
        let Some(slot) = self.capture_slots[side].get(idx) else {
            return;
        };
        let list = &mut self.captured[side];
        if list.len() < self.capture_slots[side].len() {
            list.resize(self.capture_slots[side].len(), None);
        }
        list[idx] = Some(v[..v.len().min(slot.len)].to_vec());
    }

    /// Fills the `capture ... header` slots of one side with the last value of their header in `headers`.
    pub fn capture_headers(&mut self, response: bool, headers: &HeaderMap) {
        let side = usize::from(response);
        let slots = self.capture_slots[side];
        for (idx, slot) in slots.iter().enumerate() {
            let Some(name) = &slot.header else { continue };
            if let Some(v) = headers.get_all(name.as_str()).iter().next_back() {
                self.set_capture(response, idx, v.as_bytes());
            }
        }
    }

    /// Removes a variable (`unset-var`).
    pub fn unset_var(&mut self, name: &VarName) {
        match name.scope() {
            VarScope::Proc => {
                lock_proc().remove(name);
            }
            VarScope::Sess => {
                self.sess.borrow_mut().remove(name);
            }
            _ => {
                self.txn.get_mut().remove(name);
            }
        }
    }
}

/// The message an expression runs on.
pub enum Msg<'a> {
    /// `http-request` rules: the request.
    Request {
        /// The method.
        method: &'a http::Method,
        /// The request target.
        uri: &'a Uri,
        /// The request's headers.
        headers: &'a HeaderMap,
    },
    /// `http-response` rules: the request line and the response.
    Response {
        /// The request's method.
        method: &'a http::Method,
        /// The request target.
        uri: &'a Uri,
        /// The status.
        status: u16,
        /// The response's headers.
        headers: &'a HeaderMap,
    },
}

/// The `fulcrum_sample::Context` of one evaluation.
pub struct Ctx<'a, 's> {
    method: &'a http::Method,
    uri: &'a Uri,
    /// The request target as received: borrowed for the origin form, written out for an absolute one.
    uri_text: Cow<'a, str>,
    req_headers: Option<&'a HeaderMap>,
    res: Option<(u16, &'a HeaderMap)>,
    stream: &'a Stream<'s>,
    /// Borrowed for the context's life so that `var()` hands out borrowed values; released before the
    /// variables the `set-var` converter asked for are written (on drop).
    sess: Option<Ref<'a, VarMap>>,
    txn: Option<Ref<'a, VarMap>>,
    /// `set-var` converter writes, applied when the context is dropped.
    pending: RefCell<Vec<(VarName, Value<'static>, VarConds)>>,
}

impl Drop for Ctx<'_, '_> {
    fn drop(&mut self) {
        let pending = std::mem::take(self.pending.get_mut());
        if pending.is_empty() {
            return;
        }
        self.sess = None;
        self.txn = None;
        for (name, v, conds) in pending {
            match name.scope() {
                VarScope::Proc => {
                    let mut vars = lock_proc();
                    if conds.allows(name.scope(), vars.get(&name), &v) {
                        vars.insert(name, v);
                    }
                }
                VarScope::Check => {}
                scope => {
                    let cell = if scope == VarScope::Sess {
                        self.stream.sess
                    } else {
                        &self.stream.txn
                    };
                    // another context over the same stream still reading: the write is lost, never a panic
                    if let Ok(mut vars) = cell.try_borrow_mut() {
                        if conds.allows(scope, vars.get(&name), &v) {
                            vars.insert(name, v);
                        }
                    }
                }
            }
        }
    }
}

impl<'a, 's> Ctx<'a, 's> {
    /// A context over `msg` in `stream`.
    pub fn new(msg: Msg<'a>, stream: &'a Stream<'s>) -> Self {
        let (method, uri, req_headers, res) = match msg {
            Msg::Request {
                method,
                uri,
                headers,
            } => (method, uri, Some(headers), None),
            Msg::Response {
                method,
                uri,
                status,
                headers,
            } => (method, uri, None, Some((status, headers))),
        };
        let uri_text = match (uri.scheme(), uri.path_and_query()) {
            (None, Some(pq)) => Cow::Borrowed(pq.as_str()),
            _ => Cow::Owned(uri.to_string()),
        };
        Ctx {
            method,
            uri,
            uri_text,
            req_headers,
            res,
            stream,
            sess: stream.sess.try_borrow().ok(),
            txn: stream.txn.try_borrow().ok(),
            pending: RefCell::new(Vec::new()),
        }
    }

    /// Renders `f` into `out`: expressions through this context, the log variables of `RULE_LOG_VARS` from
    /// the stream.
    pub fn render(&self, f: &Fmt, out: &mut Vec<u8>) {
        if let Some(l) = f.as_literal() {
            fulcrum_sample::extend_raw(out, l);
            return;
        }
        f.format().render(self, out, &mut |name, flags, out| {
            self.log_var(name, flags, out)
        });
    }

    /// Renders `f` as a `log-format` directive does (`unique-id-format`): its runs of spaces are separators,
    /// written once and only after something was written, so `%{+X}o ID` gives `ID`.
    pub fn render_separated(&self, f: &Fmt, out: &mut Vec<u8>) {
        use fulcrum_sample::Segment;
        // Something was written since the last separator.
        let mut open = false;
        for seg in f.format().segments() {
            match seg {
                Segment::Literal(text) => {
                    for &c in fulcrum_sample::raw_bytes(text).iter() {
                        if c != b' ' {
                            out.push(c);
                            open = true;
                        } else if open {
                            out.push(b' ');
                            open = false;
                        }
                    }
                }
                Segment::Var { name, flags } => {
                    let before = out.len();
                    let _ = self.log_var(name, *flags, out);
                    open |= out.len() > before;
                }
                Segment::Expr { expr, flags } => {
                    if let Some(v) = expr.eval(self) {
                        fulcrum_sample::encode_http(
                            &v.as_str_bytes(),
                            flags.escape == Some(true),
                            out,
                        );
                    }
                    open = true;
                }
            }
        }
    }

    /// Renders `f` as a string.
    pub fn render_string(&self, f: &Fmt) -> String {
        let mut out = Vec::new();
        self.render(f, &mut out);
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    fn log_var(&self, name: &str, flags: Flags, out: &mut Vec<u8>) -> ControlFlow<()> {
        use std::io::Write;
        let quote = flags.quote == Some(true);
        if quote {
            out.push(b'"');
        }
        let s = self.stream;
        let _ = match name {
            "ci" => write!(out, "{}", s.src.ip()),
            "cp" => write!(out, "{}", s.src.port()),
            "fi" => match s.dst_addr() {
                Some(a) => write!(out, "{}", a.ip()),
                None => write!(out, "-"),
            },
            "fp" => match s.dst_addr() {
                Some(a) => write!(out, "{}", a.port()),
                None => write!(out, "-"),
            },
            "f" | "ft" => write!(out, "{}", s.frontend),
            "b" => write!(
                out,
                "{}",
                s.backend.as_ref().map_or(s.frontend, |b| b.name())
            ),
            "pid" => write!(out, "{}", std::process::id()),
            "Ts" => write!(
                out,
                "{}",
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            ),
            "HM" => write!(out, "{}", self.method),
            "HU" => write!(out, "{}", self.uri_text),
            "HP" => write!(out, "{}", self.uri.path()),
            "HQ" => match self.uri.query() {
                Some(q) => write!(out, "?{q}"),
                None => Ok(()),
            },
            _ => Ok(()),
        };
        if quote {
            out.push(b'"');
        }
        ControlFlow::Continue(())
    }
}

fn visit<'s>(h: &'s HeaderMap, visit: &mut HeaderVisitor<'_, 's>) {
    for (n, v) in h {
        if visit(n.as_str().as_bytes(), v.as_bytes()).is_break() {
            return;
        }
    }
}

impl Context for Ctx<'_, '_> {
    fn is_htx(&self) -> bool {
        true
    }
    fn method(&self) -> Option<&[u8]> {
        Some(self.method.as_str().as_bytes())
    }
    fn http_version(&self, response: bool) -> Option<&str> {
        version_text(self.stream.versions[usize::from(response)]?)
    }
    fn uri(&self) -> Option<&[u8]> {
        Some(self.uri_text.as_bytes())
    }
    fn req_headers<'s>(&'s self, v: &mut HeaderVisitor<'_, 's>) {
        if let Some(h) = self.req_headers {
            visit(h, v);
        }
    }
    fn res_headers<'s>(&'s self, v: &mut HeaderVisitor<'_, 's>) {
        if let Some((_, h)) = self.res {
            visit(h, v);
        }
    }
    fn is_response(&self) -> bool {
        self.res.is_some()
    }
    fn status(&self) -> Option<u16> {
        self.res.map(|(s, _)| s)
    }
    fn src(&self) -> Option<SocketAddr> {
        Some(self.stream.src)
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.stream.dst_addr()
    }
    fn frontend_name(&self) -> Option<&str> {
        Some(self.stream.frontend)
    }
    fn first_request(&self) -> Option<bool> {
        Some(self.stream.first_req)
    }
    fn received_proxy(&self) -> Option<bool> {
        Some(self.stream.proxied.is_some())
    }
    fn proxy_tlv(&self, kind: u8) -> Option<&[u8]> {
        self.stream.proxied?.header.tlv(kind)
    }
    fn server_name(&self) -> Option<&str> {
        self.stream.server.as_ref().map(|s| s.config.name.as_str())
    }
    fn id(&self, of: IdOf) -> Option<i64> {
        match of {
            IdOf::Frontend => Some(self.stream.frontend_id),
            // As `be_name`: before a backend is chosen, the frontend's.
            IdOf::Backend => Some(
                self.stream
                    .backend
                    .as_ref()
                    .map_or(self.stream.frontend_id, |b| b.id()),
            ),
            IdOf::Server => self.stream.server.as_ref().map(|s| i64::from(s.puid)),
            IdOf::Listener => Some(self.stream.listener.id),
        }
    }
    fn listener_name(&self) -> Option<&str> {
        self.stream.listener.name.as_deref()
    }
    fn request_body(&self) -> Option<&[u8]> {
        // Only while the request is processed, as HAProxy.
        self.req_headers?;
        self.stream.req_body.as_deref()
    }
    fn unique_id(&self) -> Option<Cow<'_, [u8]>> {
        self.stream.unique_id.as_deref().map(Cow::Borrowed)
    }
    fn compression(&self) -> Option<&str> {
        self.stream.comp_algo
    }
    fn capture(&self, response: bool, idx: usize) -> Option<Cow<'_, [u8]>> {
        let side = usize::from(response);
        match self.stream.captured[side].get(idx) {
            Some(Some(v)) => Some(Cow::Borrowed(v)),
            _ => None,
        }
    }
    fn timeout(&self, which: fulcrum_sample::TimeoutFetch) -> Option<i64> {
        self.stream.timeout_ms(which)
    }
    fn last_rule(&self) -> Option<(&std::path::Path, i64)> {
        let l = self.stream.last_rule.as_ref()?;
        Some((l.file.as_path(), l.line as i64))
    }
    fn frontend_conns(&self) -> Option<i64> {
        Some(i64::from(
            self.stream
                .frontend_conns
                .load(std::sync::atomic::Ordering::Relaxed),
        ))
    }
    fn backend_stat(&self, backend: Option<&str>, stat: BackendStat) -> Option<i64> {
        match backend {
            None => Some(self.stream.backend.as_ref().map_or(0, |b| b.stat(stat))),
            Some(name) => self.stream.backends.find(name).map(|b| b.stat(stat)),
        }
    }
    fn server_stat(
        &self,
        backend: Option<&str>,
        server: &str,
        stat: fulcrum_sample::ServerStat,
    ) -> Option<i64> {
        match backend {
            Some(name) => self.stream.backends.find(name)?.server_stat(server, stat),
            // Written without a backend: the one the rule belongs to, which is the stream's backend once chosen
            // (a `listen` section's rules run before that, under the same name).
            None => match self.stream.backend.as_ref() {
                Some(b) => b.server_stat(server, stat),
                None => self
                    .stream
                    .backends
                    .find(self.stream.frontend)?
                    .server_stat(server, stat),
            },
        }
    }
    fn ssl(&self, f: fulcrum_sample::SslFetch) -> Option<Value<'_>> {
        fulcrum_tls::sample(self.stream.tls, f)
    }
    fn ssl_backend(&self, f: fulcrum_sample::SslFetch) -> Option<Value<'_>> {
        fulcrum_tls::sample(self.stream.server_tls.as_ref()?.as_deref(), f)
    }
    fn backend_name(&self) -> Option<&str> {
        // As HAProxy: before a backend is chosen, the stream's backend is its frontend.
        Some(
            self.stream
                .backend
                .as_ref()
                .map_or(self.stream.frontend, |b| b.name()),
        )
    }
    fn check_user(&self, list: &str, user: &[u8], pass: &[u8]) -> Option<bool> {
        let users = self.stream.userlists.get(list)?;
        let (Ok(user), Ok(pass)) = (std::str::from_utf8(user), std::str::from_utf8(pass)) else {
            return Some(false);
        };
        Some(users.check(user, pass).is_some())
    }
    fn stick(
        &self,
        f: &fulcrum_sample::StickFetch,
        key: Option<&Value<'_>>,
    ) -> Option<Value<'static>> {
        self.stream.stick_view()?.fetch(f, key)
    }
    fn var(&self, name: &VarName) -> Option<Value<'_>> {
        match name.scope() {
            VarScope::Proc => lock_proc().get(name).cloned(),
            VarScope::Sess => self.sess.as_ref()?.get(name).map(Value::reborrow),
            VarScope::Check => None,
            _ => self.txn.as_ref()?.get(name).map(Value::reborrow),
        }
    }
    fn set_var(&self, name: &VarName, value: Value<'_>, conds: VarConds) {
        self.pending
            .borrow_mut()
            .push((name.clone(), value.into_owned(), conds));
    }
    fn request_len(&self) -> Option<usize> {
        // As HAProxy counts an HTTP request in its internal form: a fixed 21 bytes for the start line's block,
        // the method, the target and the version, then each header's name and value.
        let headers = self.req_headers?;
        let mut n = 21 + self.method.as_str().len() + self.uri_text.len() + "HTTP/1.1".len();
        for (k, v) in headers {
            n += k.as_str().len() + v.len();
        }
        Some(n)
    }
    fn env(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        std::env::var_os(name).map(|v| Cow::Owned(v.into_encoded_bytes()))
    }
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn random_u32(&self) -> u32 {
        random_u32()
    }
}

/// An address sample: an IPv4 or IPv6 value, or text that reads as one (HAProxy casts strings to addresses).
fn value_ip(v: &Value<'_>) -> Option<std::net::IpAddr> {
    match v {
        Value::Ipv4(a) => Some((*a).into()),
        Value::Ipv6(a) => Some((*a).into()),
        Value::Str(s) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// A port sample: an integer from 0 to 65535, or text that reads as one.
fn value_port(v: &Value<'_>) -> Option<u16> {
    match v {
        Value::Int(i) => u16::try_from(*i).ok(),
        Value::Str(s) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
        _ => None,
    }
}
