//! The path of one HTTP request, once its head is read: rules -> backend -> server picked -> pooled connection ->
//! response head back. Errors become HAProxy-style responses (503, 502, 504, 408). The client connection's loop
//! (`client.rs`, above this file) writes the response.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use fulcrum_http::headers::{strip_hop_by_hop, wants_upgrade};
use fulcrum_http::response_out;
use http::{header, HeaderValue, Request, Response, StatusCode, Version};
use tracing::debug;

use fulcrum_config::haproxy::{HttpConnMode, HttpReuse, ProxyKind};

use super::body::ProxyBody;
use super::buffered::{self, Waited};
use super::errors::{self, ProxyError};
use super::h2_upstream::{self, Upstream};
use super::headers;
use super::pool::SessionConn;
use super::reqbody::{Replay, ReqBody};
use super::server_conn::{ConnectError, SendError, ServerConn, TlsTarget};
use super::tunnel::Tunnel;
use super::upstream_body::{Reuse, UpstreamBody};
use crate::data::client_io::ClientIo;
use crate::data::http_log::{Phase, TxnSlot};
use crate::data::queue;
use crate::data::totals::{self, Done};
use crate::data::worker_state::Worker;
use crate::health::observe;
use crate::model::counters::Counters;
use crate::model::rules::http::{
    RequestFacts, RequestLine, RespVerdict, Resume, TcpEnd, TcpVerdict, Verdict,
};
use crate::model::rules::sample::{Stream, VarMap};
use crate::model::select::RequestKey;
use crate::model::snapshot::{BackendRt, FrontendRt};

/// The stricter of two connection modes (close beats server-close beats keep-alive), as HAProxy combines the
/// frontend's and the backend's options.
fn combined_mode(a: HttpConnMode, b: HttpConnMode) -> HttpConnMode {
    use HttpConnMode::*;
    match (a, b) {
        (Close, _) | (_, Close) => Close,
        (ServerClose, _) | (_, ServerClose) => ServerClose,
        _ => KeepAlive,
    }
}

/// Which error page to send: the backend's error reply, else the frontend's, else the built-in page.
pub(crate) fn error_for(
    fe: &FrontendRt,
    be: Option<&BackendRt>,
    status: u16,
) -> Response<ProxyBody> {
    let fe_pages = fe.rules.error_pages();
    match be {
        Some(b) => errors::error_for(status, &[b.rules.error_pages(), fe_pages]),
        None => errors::error_for(status, &[fe_pages]),
    }
    .map(ProxyBody::fixed)
}

/// The client connection a request came on, as the request path needs it.
pub(crate) struct Client {
    pub(crate) peer: SocketAddr,
    /// The local port the client connected to.
    pub(crate) dst_port: u16,
    /// The listener it came through (`so_name`, `so_id`).
    pub(crate) listener: Arc<crate::net::listener::ListenerInfo>,
    /// The first request of the connection (`http-reuse safe` and `aggressive` treat it apart).
    pub(crate) first: bool,
    /// The server connection kept for this client alone (`http-reuse never`).
    pub(crate) session: Rc<SessionConn>,
    /// The client connection (its socket, to notice the client closing: `option abortonclose`).
    pub(crate) conn: Rc<ClientIo>,
    /// `sess.` variables.
    pub(crate) vars: Rc<RefCell<VarMap>>,
    /// The first request of a connection a `mode tcp` frontend upgraded to HTTP: the transaction variables set
    /// before the upgrade (the frontend's `tcp-request` rules already ran for it).
    pub(crate) upgraded: Option<Box<VarMap>>,
    /// The connection's stick counters.
    pub(crate) stick: Rc<crate::model::stick::Ctrs>,
    /// Where interim responses (`103 Early Hints`) go: an HTTP/1.1 connection or an HTTP/2 stream; `None` for an
    /// HTTP/1.0 client.
    pub(crate) interim: Option<super::interim::Client>,
}

/// Serves one request: its answer, made here or streamed from a server, then the `http-after-response` rules
/// (the backend's, then the frontend's) on whatever answer it is.
pub(crate) async fn handle(
    worker: Rc<Worker>,
    fe: &Arc<FrontendRt>,
    client: Client,
    req: Request<ReqBody>,
    txn: &mut TxnSlot,
) -> Response<ProxyBody> {
    let peer = client.peer;
    // Borrowed from the worker, which outlives the request: no reference count touched per request.
    let worker_ref = worker.clone();
    let snapshot = &*worker_ref.snapshot;
    // Only stick tables count the request head's bytes: not measured otherwise.
    let req_head = if snapshot.tables.list().is_empty() {
        0
    } else {
        wire_head_size(&req)
    };
    let dst = || client.conn.dst();
    let tls = client.conn.tls().map(|t| t.facts.clone());
    let refs = &snapshot.pattern_refs;
    let mut stream = Stream {
        src: peer,
        dst_port: client.dst_port,
        dst: &dst,
        frontend: &fe.name,
        frontend_id: fe.iid as i64,
        frontend_conns: &fe.cur,
        last_rule: None,
        listener: &client.listener,
        server: None,
        backends: &snapshot.backends,
        backend: None,
        txn: std::cell::RefCell::new(client.upgraded.as_deref().cloned().unwrap_or_default()),
        sess: &client.vars,
        tls: tls.as_deref(),
        server_tls: None,
        first_req: client.first,
        dst_set: None,
        timeouts: Default::default(),
        client_timeout: fe.timeouts.client,
        versions: [Some(req.version()), None],
        early_hints: Vec::new(),
        log_level: std::cell::Cell::new(None),
        status_reason: None,
        userlists: &refs.userlists,
        received_uri: Some(req.uri().clone()),
        proxied: client.conn.proxied(),
        unique_id: None,
        comp_algo: None,
        req_body: None,
        capture_slots: [&fe.config.request_slots, &fe.config.response_slots],
        captured: [Vec::new(), Vec::new()],
        stick: (!snapshot.tables.list().is_empty()).then(|| {
            // The connection's tracked entries count this request.
            client.stick.each(&mut |d| d.http_request());
            crate::model::rules::sample::StreamStick {
                tables: &snapshot.tables,
                sess: &client.stick,
                txn: crate::model::stick::Ctrs::default(),
            }
        }),
    };
    // `capture request header` slots, as the request arrived (`capture.req.hdr(N)`).
    stream.capture_headers(false, req.headers());
    let after = fe.rules.has_after_response_rules() || worker.snapshot.backend_after_response;
    let line = after.then(|| RequestLine {
        method: req.method().clone(),
        uri: req.uri().clone(),
        src: peer.ip(),
        dst_port: client.dst_port,
        tls: tls.clone(),
    });
    let limits = worker.snapshot.buf_limits;
    let mut chosen = None;
    let mut resp = match handle_inner(worker, fe, &client, req, &mut stream, &mut chosen, txn).await
    {
        Ok(r) | Err(r) => r,
    };
    if let Some(line) = line {
        after_response(
            fe,
            chosen.as_deref(),
            &line,
            &mut stream,
            &mut resp,
            limits,
            txn,
        );
    }
    keep_log_vars(txn, &mut stream);
    txn.keep_captures(stream.capture_slots, &stream.captured);
    if let Some(s) = &stream.stick {
        let status = resp.status().as_u16();
        // As HAProxy: a 4xx counts as an error unless `http-request return` made it; a 5xx from a server (but 501
        // and 505) as a failure.
        let err = (400..500).contains(&status)
            && resp
                .extensions()
                .get::<crate::model::stick::NotAnError>()
                .is_none();
        let fail = (500..600).contains(&status)
            && status != 501
            && status != 505
            && stream.server.is_some();
        if err || fail {
            let mut count = |d: &mut fulcrum_stick::Data<'_>| {
                if err {
                    d.http_error();
                } else {
                    d.http_failure();
                }
            };
            s.sess.each(&mut count);
            s.txn.each(&mut count);
        }
        // The tracked entries count the request's and the response's bytes once the response body is out.
        let mut handles = s.sess.handles();
        handles.extend(s.txn.handles());
        if !handles.is_empty() {
            let resp_head = wire_response_head_size(&resp);
            match resp.body_mut().take_done() {
                Some(mut d) => {
                    d.stick = handles;
                    d.heads = (req_head, resp_head);
                    let body =
                        std::mem::replace(resp.body_mut(), ProxyBody::fixed(bytes::Bytes::new()));
                    *resp.body_mut() = body.with_done(d);
                }
                // No backend took the request (a frontend's own answer): counted now.
                None => {
                    let body = http_body::Body::size_hint(resp.body()).exact().unwrap_or(0);
                    let now = crate::model::stick::now_ms();
                    for t in &handles {
                        t.update(now, |d| {
                            d.bytes_in(req_head);
                            d.bytes_out(resp_head + body);
                        });
                    }
                }
            }
        }
    }
    resp
}

/// The size of a request head as the client sent it in HTTP/1.1 (start line, header lines, blank line).
fn wire_head_size<B>(req: &Request<B>) -> u64 {
    let target = crate::model::limits::target_len(req.uri());
    let line = req.method().as_str().len() + 1 + target + 1 + "HTTP/1.1".len() + 2;
    (line + header_lines_size(req.headers()) + 2) as u64
}

/// The size of a response head as it goes out in HTTP/1.1.
fn wire_response_head_size(resp: &Response<ProxyBody>) -> u64 {
    let reason = resp
        .extensions()
        .get::<response_out::Reason>()
        .map(|r| r.0.len())
        .or_else(|| resp.status().canonical_reason().map(str::len))
        .unwrap_or(0);
    let line = "HTTP/1.1 200 ".len() + reason + 2;
    (line + header_lines_size(resp.headers()) + 2) as u64
}

fn header_lines_size(h: &http::HeaderMap) -> usize {
    h.iter()
        .map(|(n, v)| n.as_str().len() + 2 + v.len() + 2)
        .sum()
}

/// The `http-after-response` rules of the backend, then of the frontend, on the response about to be sent. A
/// response that is not sent (`CloseSilently`) is left alone; a rewrite failing under `strict-mode` replaces the
/// response with the 500 error, on which no rule runs.
fn after_response(
    fe: &FrontendRt,
    be: Option<&BackendRt>,
    line: &RequestLine,
    stream: &mut Stream<'_>,
    resp: &mut Response<ProxyBody>,
    limits: buffered::BufLimits,
    txn: &mut TxnSlot,
) {
    if resp.extensions().get::<errors::CloseSilently>().is_some() {
        return;
    }
    let mut status = resp.status().as_u16();
    let mut room = MsgRoom::new(limits, response_head_size(resp));
    room.body(resp.body().buffered());
    // A `listen` section's rules are its frontend's: its backend side has none of its own.
    let rulesets = be.map(|b| &b.rules).into_iter().chain([&fe.rules]);
    // `allow` ends one proxy's rules; the next proxy's still run.
    for rules in rulesets {
        let verdict = rules.apply_after_response(
            &mut status,
            resp.headers_mut(),
            line,
            stream,
            &mut room.room,
        );
        if matches!(verdict, RespVerdict::RewriteFailed) {
            let done = resp.body_mut().take_done();
            let mut r = rewrite_failed(fe, be, txn, b"IH");
            if let Some(done) = done {
                r = r.map(|b| b.with_done(done));
            }
            *resp = r;
            return;
        }
    }
    set_status(resp, status, stream);
}

/// The status the response rules left, with the reason phrase a `set-status` gave (or the standard one in
/// place of the server's, as HAProxy puts it).
fn set_status(resp: &mut Response<ProxyBody>, status: u16, stream: &mut Stream<'_>) {
    if let Ok(s) = StatusCode::from_u16(status) {
        *resp.status_mut() = s;
    }
    match stream.status_reason.take() {
        None => {}
        Some(None) => {
            resp.extensions_mut().remove::<response_out::Reason>();
        }
        Some(Some(r)) => {
            resp.extensions_mut().insert(response_out::Reason(r));
        }
    }
}

async fn handle_inner(
    worker: Rc<Worker>,
    fe: &Arc<FrontendRt>,
    client: &Client,
    mut req: Request<ReqBody>,
    stream: &mut Stream<'_>,
    chosen: &mut Option<Arc<BackendRt>>,
    txn: &mut TxnSlot,
) -> Result<Response<ProxyBody>, Response<ProxyBody>> {
    let tls = client.conn.tls().map(|t| t.facts.clone());
    let start = Instant::now();
    // `tcp-request session` rules run on the connection's first request, before it counts as one: a session
    // refused is no request, as in HAProxy, which runs them before any request. (Upgraded from `mode tcp`: they
    // ran before the switch.)
    if stream.first_req && client.upgraded.is_none() {
        let sock = Some(client.conn.stream());
        if let TcpVerdict::RejectSession(silent) = fe.rules.apply_tcp_session(sock, &req, stream) {
            Counters::inc(&fe.stats.denied_sess);
            keep_log_vars(txn, stream);
            txn.abort(b"PR");
            let mut r = error_for(fe, None, 400);
            r.extensions_mut().insert(errors::CloseSilently);
            if silent {
                r.extensions_mut().insert(errors::SilentDrop);
            }
            return Ok(r);
        }
    }
    Counters::inc(&fe.stats.requests);
    fe.process.stream();
    fe.stats.req_rate.hit(crate::model::counters::coarse_ms());
    // A head that does not fit in HAProxy's buffer (`tune.bufsize` less `tune.maxrewrite`).
    let limits = worker.snapshot.buf_limits;
    let head_size = buffered::request_head_size(&req);
    if head_size > limits.fill() {
        Counters::inc(&fe.stats.err_req);
        txn.term(b"PR");
        return Ok(error_for(fe, None, 400));
    }
    // A WebSocket handshake without its key is refused as HAProxy's HTTP/1 parser refuses it.
    if req.version() <= Version::HTTP_11
        && fulcrum_http::headers::websocket_without_key(req.headers(), false)
    {
        Counters::inc(&fe.stats.err_req);
        txn.term(b"PR");
        return Ok(error_for(fe, None, 400));
    }
    let body_room = limits.body_room(head_size);
    // The room header rewrites have in the buffer, less what the body bytes waited for take.
    let mut room = MsgRoom::new(limits, head_size);
    // `monitor-uri` is answered before anything else.
    if fe
        .config
        .monitor_uri
        .as_deref()
        .is_some_and(|m| crate::data::http::stats::is_monitor_uri(m, req.uri()))
    {
        Counters::inc(&fe.stats.intercepted);
        txn.term(b"LR");
        // `monitor fail if|unless COND`: the service is reported down.
        let facts = RequestFacts {
            req: &req,
            stream: Some(&*stream),
            src: stream.src.ip(),
            dst_port: stream.dst_port,
            tls: tls.as_deref(),
            captured_uri: stream.captured_uri(),
        };
        if fe.rules.monitor_fails(&facts) {
            return Ok(error_for(fe, None, 503));
        }
        return Ok(crate::data::http::stats::monitor_response());
    }
    // `option http-buffer-request` in the frontend: the body is waited for before its rules.
    if fe.config.http_buffer_request {
        let deadline = fe.timeouts.http_request.map(|t| Instant::now() + t);
        if let Err(r) = wait_request_body(fe, None, &mut req, body_room, deadline, txn).await {
            return Ok(r);
        }
        room.body(req.body().prefetched());
        stream.req_body = req.body().prefetched_data();
    }
    // The frontend's http-request rules, then its stats page, then use_backend / default_backend, then the
    // backend's stats page and rules.
    let mut at = Resume::default();
    // `tcp-request content` rules run first.
    let sock = Some(client.conn.stream());
    let end = match client.upgraded {
        // Upgraded from `mode tcp`: the frontend's `tcp-request` rules ran before the switch.
        Some(_) => TcpEnd::Accept,
        None => fe.rules.apply_backend_content(sock, &req, stream),
    };
    if end != TcpEnd::Accept {
        keep_log_vars(txn, stream);
        return Ok(reject(fe, None, &fe.stats, end == TcpEnd::SilentDrop, txn));
    }
    loop {
        let verdict = fe
            .rules
            .apply_request_from(at, &mut req, stream, None, &mut room.room);
        if !stream.early_hints.is_empty() {
            send_early_hints(stream, client).await;
        }
        match verdict {
            Verdict::Continue => break,
            Verdict::Respond(r) => return Ok(rule_response(txn, &fe.stats, *r)),
            Verdict::Service(_) => {
                Counters::inc(&fe.stats.intercepted);
                txn.term(b"LR");
                return Ok(crate::data::http::stats::prometheus_response(
                    &worker.snapshot,
                ));
            }
            Verdict::Tarpit(status) => {
                Counters::inc(&fe.stats.denied_req);
                txn.term(b"PT");
                return Ok(tarpit(fe, None, status).await);
            }
            Verdict::Reject(silent) => {
                keep_log_vars(txn, stream);
                return Ok(reject(fe, None, &fe.stats, silent, txn));
            }
            Verdict::WaitForBody { wait, resume } => {
                let want = wait_want(body_room, wait.at_least);
                let deadline = Some(Instant::now() + wait.time);
                if let Err(r) = wait_request_body(fe, None, &mut req, want, deadline, txn).await {
                    return Ok(r);
                }
                room.body(req.body().prefetched());
                stream.req_body = req.body().prefetched_data();
                at = resume;
            }
            Verdict::RewriteFailed => return Ok(rewrite_failed(fe, None, txn, b"IR")),
        }
    }
    // `set-src` and `set-dst` rules change the addresses the rest of the request sees.
    let (mut src, mut dst_port) = (stream.src.ip(), stream.dst_port);
    if let Some(page) = fe
        .config
        .stats
        .as_ref()
        .filter(|p| crate::data::http::stats::is_stats_request(p, &req))
    {
        Counters::inc(&fe.stats.intercepted);
        txn.term(b"LR");
        let access = crate::data::http::stats::access(
            &fe.rules,
            &req,
            stream,
            src,
            dst_port,
            tls.as_deref(),
        );
        if access == crate::data::http::stats::Access::Deny {
            return Ok(error_for(fe, None, 403));
        }
        let admin = crate::data::http::stats::admin_allowed(
            &fe.config.rules.stats_admin,
            &req,
            src,
            dst_port,
            tls.as_deref(),
        );
        if req.method() == http::Method::POST {
            return Ok(crate::data::http::stats::stats_admin_post(
                page,
                &fe.name,
                req,
                &worker.snapshot,
                admin,
                &access,
            )
            .await);
        }
        return Ok(crate::data::http::stats::stats_response(
            page,
            &fe.name,
            &req,
            &worker.snapshot,
            admin,
            &access,
        ));
    }
    let facts = RequestFacts {
        req: &req,
        stream: Some(&*stream),
        src,
        dst_port,
        tls: tls.as_deref(),
        captured_uri: stream.captured_uri(),
    };
    let backends = &worker.snapshot.backends;
    let mut dynamic = |f: &fulcrum_config::haproxy::Fmt| {
        let name = crate::model::rules::http::render_request(&req, stream, f);
        backends.iter().position(|b| b.name == name)
    };
    let Some(be) = fe
        .rules
        .pick_backend(&facts, &mut dynamic)
        .map(|i| i.map(|i| worker.snapshot.backends[i].clone()))
        .unwrap_or_else(|| fe.default_backend.clone())
    else {
        txn.term(b"SC");
        return Ok(error_for(fe, None, 503));
    };
    txn.backend(&be);
    stream.backend = Some(be.clone());
    *chosen = Some(be.clone());
    let mut done = Done::new(be.clone(), start);
    Counters::inc(&be.stats.requests);
    if fe.config.splice_request || be.config.splice_request {
        req.body_mut().allow_splice();
    }
    done.bytes_in = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    // The backend's `tcp-request content` rules, as the request enters it (a listen's ran as its frontend's).
    let end = match be.config.kind {
        ProxyKind::Backend => be.rules.apply_backend_content(sock, &req, stream),
        _ => TcpEnd::Accept,
    };
    if end != TcpEnd::Accept {
        keep_log_vars(txn, stream);
        let r = reject(fe, Some(&be), &be.stats, end == TcpEnd::SilentDrop, txn);
        return Ok(r.map(|b| b.with_done(done)));
    }
    // A `backend` section's own stats page (a listen's was checked as a frontend).
    if let Some(page) = be.config.stats.as_ref().filter(|p| {
        be.config.kind == ProxyKind::Backend && crate::data::http::stats::is_stats_request(p, &req)
    }) {
        Counters::inc(&be.stats.intercepted);
        txn.term(b"LR");
        let access = crate::data::http::stats::access(
            &be.rules,
            &req,
            stream,
            src,
            dst_port,
            tls.as_deref(),
        );
        if access == crate::data::http::stats::Access::Deny {
            let r = error_for(fe, Some(&be), 403);
            return Ok(r.map(|b| b.with_done(done)));
        }
        let admin = crate::data::http::stats::admin_allowed(
            &be.config.rules.stats_admin,
            &req,
            src,
            dst_port,
            tls.as_deref(),
        );
        let r = if req.method() == http::Method::POST {
            crate::data::http::stats::stats_admin_post(
                page,
                &be.name,
                req,
                &worker.snapshot,
                admin,
                &access,
            )
            .await
        } else {
            crate::data::http::stats::stats_response(
                page,
                &be.name,
                &req,
                &worker.snapshot,
                admin,
                &access,
            )
        };
        be.stats.response(r.status().as_u16());
        return Ok(r.map(|b| b.with_done(done)));
    }
    // `option http-buffer-request` in the backend: the body is waited for before its rules.
    if be.config.http_buffer_request && be.config.kind == ProxyKind::Backend {
        let deadline = be.timeouts.http_request.map(|t| Instant::now() + t);
        if let Err(r) = wait_request_body(fe, Some(&be), &mut req, body_room, deadline, txn).await {
            return Ok(r.map(|b| b.with_done(done)));
        }
        room.body(req.body().prefetched());
        stream.req_body = req.body().prefetched_data();
    }
    let mut at = Resume::default();
    let resp = loop {
        let verdict =
            be.rules
                .apply_request_from(at, &mut req, stream, Some(&fe.rules), &mut room.room);
        if !stream.early_hints.is_empty() {
            send_early_hints(stream, client).await;
        }
        match verdict {
            Verdict::Continue => break None,
            Verdict::Respond(r) => break Some(rule_response(txn, &be.stats, *r)),
            Verdict::Service(_) => {
                Counters::inc(&be.stats.intercepted);
                txn.term(b"LR");
                break Some(crate::data::http::stats::prometheus_response(
                    &worker.snapshot,
                ));
            }
            Verdict::Reject(silent) => {
                keep_log_vars(txn, stream);
                break Some(reject(fe, Some(&be), &be.stats, silent, txn));
            }
            Verdict::Tarpit(status) => {
                Counters::inc(&be.stats.denied_req);
                txn.term(b"PT");
                break Some(tarpit(fe, Some(&be), status).await);
            }
            Verdict::WaitForBody { wait, resume } => {
                let want = wait_want(body_room, wait.at_least);
                let deadline = Some(Instant::now() + wait.time);
                if let Err(r) =
                    wait_request_body(fe, Some(&be), &mut req, want, deadline, txn).await
                {
                    break Some(r);
                }
                room.body(req.body().prefetched());
                stream.req_body = req.body().prefetched_data();
                at = resume;
            }
            Verdict::RewriteFailed => break Some(rewrite_failed(fe, Some(&be), txn, b"IR")),
        }
    };
    if let Some(r) = resp {
        be.stats.response(r.status().as_u16());
        return Ok(r.map(|b| b.with_done(done)));
    }
    // The client closed (or sent an invalid body) while its body was waited for: HAProxy gives the request up
    // before connecting (`CR`), and nothing is answered.
    if req.body().failed() {
        txn.abort(b"CR");
        let mut r = error_for(fe, Some(&be), 400);
        r.extensions_mut().insert(errors::CloseSilently);
        return Ok(r.map(|b| b.with_done(done)));
    }
    (src, dst_port) = (stream.src.ip(), stream.dst_port);
    // `unique-id-format`: the request's unique ID, in `unique-id-header` and in a PROXY v2 header.
    let unique_id = fe.config.unique_id_format.as_ref().map(|f| {
        let mut id = Vec::new();
        let msg = crate::model::rules::sample::Msg::Request {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
        };
        crate::model::rules::sample::Ctx::new(msg, stream).render_separated(f, &mut id);
        id
    });
    if let (Some(id), Some(name)) = (&unique_id, &fe.config.unique_id_header) {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(id),
        ) {
            req.headers_mut().insert(n, v);
        }
    }
    if let Some(id) = unique_id {
        // The `unique-id` fetch of the response rules reads it from the stream, `%ID` from the log record.
        txn.unique_id(&id);
        stream.unique_id = Some(id.clone());
        req.extensions_mut().insert(UniqueId(id));
    }
    // The address the client connected to is a system call away: asked only for `option originalto`.
    let wants_dst = fe.originalto.is_some() || be.originalto.is_some();
    let sender = || Sender {
        client,
        src: stream.src,
        dst: if wants_dst { stream.dst_addr() } else { None },
    };
    // `cookie`: the server the persistence cookie names (the cookie stripped as the mode asks).
    // `force-persist` / `ignore-persist`: the first rule whose condition holds.
    let persist_rule = be.rules.persist_rule(&req, stream);
    let persistence = super::cookie::on_request(&be, req.headers_mut(), persist_rule);
    if let Some(p) = persistence {
        txn.cookie(0, p.letter);
        txn.cookie(1, b'N');
    }
    let post = req.method() == http::Method::POST;
    // The `balance hash` sample and the `stick` rules' decision, both read from the request before it is forwarded.
    // `use-server`: a server the rules name, unless the persistence cookie already chose one.
    let forced = persistence
        .and_then(|p| p.server)
        .or_else(|| use_server(&be, &req, stream));
    let hash_sample = (
        balance_sample(&be, &req, stream),
        {
            let mut plan = be.rules.stick_plan(&req, stream);
            if persist_rule == Some(fulcrum_config::haproxy::PersistRule::Ignore) {
                // `ignore-persist`: the stored server is not used (the stores still happen).
                plan.server = None;
            }
            plan
        },
        forced,
    );
    let line = (be.rules.has_response_rules()
        || fe.rules.has_response_rules()
        || be.rules.has_store_response())
    .then(|| RequestLine {
        method: req.method().clone(),
        uri: req.uri().clone(),
        src,
        dst_port,
        tls: tls.clone(),
    });
    // `compression`: the algorithm the client accepts (its Accept-Encoding removed under `offload`).
    let (fe_comp, be_comp) = (
        fe.config.compression.as_ref(),
        be.config.compression.as_ref(),
    );
    let compression = if fe_comp.is_some() || be_comp.is_some() {
        let (method, version) = (req.method().clone(), req.version());
        super::compress::choose(fe_comp, be_comp, &method, version, req.headers_mut())
    } else {
        None
    };
    let forwarded = if be.config.abortonclose {
        // `option abortonclose`: a client that closes while its request waits for a server slot, a connection or
        // the response head gives the request up (`CQ`, `CC`, `CH` with status 400, as HAProxy logs them).
        let fwd = Box::pin(forward(
            &worker,
            fe,
            &be,
            sender(),
            req,
            hash_sample,
            txn,
            &mut done,
        ));
        tokio::select! {
            // The request goes as far as it can before the client's close is looked at.
            biased;
            r = fwd => Some(r),
            () = client.conn.closed() => None,
        }
    } else {
        // Boxed: inline, the server exchange's future (5 KB) would be copied again into each future that awaits
        // it (this one, the request's, the HTTP/2 stream's box): one allocation costs less than those copies.
        Some(
            Box::pin(forward(
                &worker,
                fe,
                &be,
                sender(),
                req,
                hash_sample,
                txn,
                &mut done,
            ))
            .await,
        )
    };
    let Some(forwarded) = forwarded else {
        let (term, status) = match txn.phase() {
            Phase::Queue => (b"CQ", None),
            Phase::Connect => (b"CC", None),
            Phase::Response => (b"CH", Some(400)),
        };
        debug!(backend = %be.name, "client closed: request given up (option abortonclose)");
        txn.abort_with(term, status);
        let mut r = error_for(fe, Some(&be), 400);
        r.extensions_mut().insert(errors::CloseSilently);
        return Ok(r.map(|b| b.with_done(done)));
    };
    let mut resp = match forwarded {
        Ok(r) => r,
        // The client closed before the end of its body: as HAProxy, nothing is answered (`CD`).
        Err(ProxyError::BadRequest) if client.conn.eof() => {
            let mut r = error_for(fe, Some(&be), 400);
            r.extensions_mut().insert(errors::CloseSilently);
            return Ok(r.map(|b| b.with_done(done)));
        }
        Err(e) => {
            txn.error_status(e.status());
            be.stats.response(e.status());
            return Ok(error_for(fe, Some(&be), e.status()).map(|b| b.with_done(done)));
        }
    };
    stream.server = done.chosen_server().cloned();
    stream.versions[1] = Some(resp.version());
    stream.server_tls = Some(
        resp.extensions()
            .get::<ServerTlsFacts>()
            .map(|f| f.0.clone()),
    );
    if let (Some(p), Some(server)) = (persistence, &stream.server) {
        let letter = super::cookie::on_response(&be, p, server, post, resp.headers_mut());
        txn.cookie(1, letter);
    }
    // `stick store-response`: the server that answered, stored under the key the response gives.
    if let (Some(line), Some(server)) = (&line, &stream.server) {
        let status = resp.status().as_u16();
        be.rules
            .stick_store_response(status, resp.headers(), line, stream, server);
    }
    stream.capture_headers(true, resp.headers());
    if let Some(line) =
        line.filter(|_| be.rules.has_response_rules() || fe.rules.has_response_rules())
    {
        // The backend's `tcp-response content` rules first: a rejection closes the client connection without an
        // answer.
        if !be.rules.apply_tcp_response(&line, stream) {
            keep_log_vars(txn, stream);
            txn.abort(b"PD");
            Counters::inc(&fe.stats.denied_resp);
            Counters::inc(&be.stats.denied_resp);
            let mut r = error_for(fe, Some(&be), 502);
            r.extensions_mut().insert(errors::CloseSilently);
            return Ok(r.map(|b| b.with_done(done)));
        }
        // The backend's http-response rules, then the frontend's.
        let mut status = resp.status().as_u16();
        let head_size = response_head_size(&resp);
        let body_room = limits.body_room(head_size);
        let mut room = MsgRoom::new(limits, head_size);
        room.body(resp.body().buffered());
        let mut denied = None;
        for rules in [&be.rules, &fe.rules] {
            let mut at = Resume::default();
            loop {
                match rules.apply_response_from(
                    at,
                    &mut status,
                    resp.headers_mut(),
                    &line,
                    stream,
                    &mut room.room,
                ) {
                    RespVerdict::Continue | RespVerdict::Allow => break,
                    RespVerdict::Redirect(code, location) => {
                        // The server's response is dropped for the redirect (its connection with it).
                        let page = crate::model::rules::http::response_redirect(code, &location);
                        Counters::inc(&be.stats.intercepted);
                        txn.term(b"LR");
                        be.stats.response(code);
                        return Ok(page.map(ProxyBody::fixed).map(|b| b.with_done(done)));
                    }
                    RespVerdict::Deny(s) => {
                        denied = Some(s);
                        break;
                    }
                    RespVerdict::Respond(page) => {
                        // `http-response return`: the server's response is dropped for the rule's (logged `LH`,
                        // as haproxy 2.6 does).
                        Counters::inc(&be.stats.intercepted);
                        txn.term(b"LH");
                        be.stats.response(page.status().as_u16());
                        return Ok(page.map(ProxyBody::fixed).map(|b| b.with_done(done)));
                    }
                    RespVerdict::RewriteFailed => {
                        let r = rewrite_failed(fe, Some(&be), txn, b"IH");
                        be.stats.response(500);
                        return Ok(r.map(|b| b.with_done(done)));
                    }
                    RespVerdict::WaitForBody { wait, resume } => {
                        let want = wait_want(body_room, wait.at_least);
                        let deadline = Some(tokio::time::Instant::now() + wait.time);
                        match resp
                            .body_mut()
                            .wait(want, deadline, be.timeouts.server)
                            .await
                        {
                            Waited::Done => {}
                            // HAProxy answers 504 when the server's body does not come in time, and 502 when
                            // it fails.
                            Waited::Deadline | Waited::Idle => {
                                Counters::inc(&be.stats.err_resp);
                                txn.term(b"sH");
                                be.stats.response(504);
                                return Ok(error_for(fe, Some(&be), 504).map(|b| b.with_done(done)));
                            }
                            Waited::Failed => {
                                Counters::inc(&be.stats.err_resp);
                                txn.term(b"SH");
                                be.stats.response(502);
                                return Ok(error_for(fe, Some(&be), 502).map(|b| b.with_done(done)));
                            }
                        }
                        room.body(resp.body().buffered());
                        at = resume;
                    }
                }
            }
            if denied.is_some() {
                break;
            }
        }
        if let Some(status) = denied {
            txn.term(b"PH");
            Counters::inc(&fe.stats.denied_resp);
            Counters::inc(&be.stats.denied_resp);
            be.stats.response(status);
            let mut r = error_for(fe, Some(&be), status);
            // A denied response is a rule's answer, not a failure of the proxy: the client connection stays
            // open (as haproxy 2.6 keeps it, reg-test log/last_rule), whatever the status.
            r.headers_mut().remove(header::CONNECTION);
            return Ok(r.map(|b| b.with_done(done)));
        }
        set_status(&mut resp, status, stream);
    }
    if let Some(d) = compression {
        if super::compress::start(d, (fe, &be), &mut resp) {
            stream.comp_algo = Some(d.algo.config_name());
            txn.comp_algo(d.algo.config_name());
        }
    }
    be.stats.response(resp.status().as_u16());
    Ok(resp.map(|b| b.with_done(done)))
}

/// The room header rewrites have in a message's buffer (HAProxy's, of `tune.bufsize` bytes): what its head and
/// the body bytes in the buffer leave.
struct MsgRoom {
    room: buffered::Room,
    limits: buffered::BufLimits,
    head: usize,
    /// What the body bytes in the buffer take.
    body: usize,
}

impl MsgRoom {
    fn new(limits: buffered::BufLimits, head: usize) -> Self {
        MsgRoom {
            room: buffered::Room::new(limits.size, head),
            limits,
            head,
            body: 0,
        }
    }

    /// `len` body bytes are in the buffer now.
    fn body(&mut self, len: usize) {
        let cost = buffered::body_cost(&self.limits, self.head, len);
        self.room.take(cost as isize - self.body as isize);
        self.body = cost;
    }
}

/// A rewrite that did not fit under `strict-mode on`: HAProxy answers 500 (`term`: `IR` for a request, `IH` for
/// a response).
fn rewrite_failed(
    fe: &FrontendRt,
    be: Option<&BackendRt>,
    txn: &mut TxnSlot,
    term: &[u8; 2],
) -> Response<ProxyBody> {
    txn.term(term);
    error_for(fe, be, 500)
}

/// How many body bytes a `wait-for-body` waits for: `at-least` (0: no such limit), within `room`.
fn wait_want(room: usize, at_least: u64) -> usize {
    match usize::try_from(at_least) {
        Ok(0) => room,
        Ok(n) => n.min(room),
        Err(_) => room,
    }
}

/// [`buffered::head_size`] of a response head (its reason is the standard one, as fulcrum sends it).
fn response_head_size(resp: &Response<ProxyBody>) -> usize {
    let reason = resp.status().canonical_reason().map_or(0, str::len);
    buffered::head_size(["HTTP/1.1".len(), 3, reason], resp.headers())
}

/// Waits for the request body (`option http-buffer-request`, `wait-for-body`): until it is complete, `want`
/// bytes of it are there, or `deadline`. The client's inactivity (`timeout client`) or the deadline passing
/// answers 408 (`cD`, `cR`), as HAProxy does; a client that closes meanwhile is noted in the body and the request
/// goes on, to be given up before a server is contacted.
async fn wait_request_body(
    fe: &FrontendRt,
    be: Option<&BackendRt>,
    req: &mut Request<ReqBody>,
    want: usize,
    deadline: Option<Instant>,
    txn: &mut TxnSlot,
) -> Result<(), Response<ProxyBody>> {
    let deadline = deadline.map(tokio::time::Instant::from_std);
    match req
        .body_mut()
        .wait(want, deadline, fe.timeouts.client)
        .await
    {
        Waited::Done | Waited::Failed => Ok(()),
        waited => {
            Counters::inc(&fe.stats.err_req);
            txn.term(if waited == Waited::Idle { b"cD" } else { b"cR" });
            Err(error_for(fe, be, 408))
        }
    }
}

/// A response made by an `http-request` rule: HAProxy logs `PR` for a denial, `LR` for a locally generated
/// answer (`return`, `redirect`); the status tells them apart.
fn rule_response(txn: &mut TxnSlot, stats: &Counters, r: errors::Page) -> Response<ProxyBody> {
    let denied = r.status().as_u16() >= 400;
    Counters::inc(if denied {
        &stats.denied_req
    } else {
        &stats.intercepted
    });
    txn.term(if denied { b"PR" } else { b"LR" });
    r.map(ProxyBody::fixed)
}

/// Keeps what the log line's samples read from the stream (variables, timeouts, the last rule), once the rules
/// ran: before a rejection ends the record, else when the answer is there.
fn keep_log_vars(txn: &mut TxnSlot, stream: &mut Stream<'_>) {
    if let Some(level) = stream.log_level.get() {
        txn.set_log_level(level);
    }
    let timeouts = {
        use fulcrum_sample::TimeoutFetch as T;
        [
            T::BeServer,
            T::BeTunnel,
            T::CurServer,
            T::CurTunnel,
            T::FeClient,
        ]
        .map(|w| stream.timeout_ms(w))
    };
    txn.keep_vars(
        stream.txn.get_mut(),
        stream.sess,
        timeouts,
        stream.last_rule.take(),
    );
}

/// `http-request tarpit`: hold the request for `timeout tarpit` (else `timeout connect`), then answer.
/// `http-request reject` / `silent-drop`: the request is denied and the connection closed with nothing sent
/// (`PR` in the log, no status).
fn reject(
    fe: &FrontendRt,
    be: Option<&BackendRt>,
    stats: &Counters,
    silent: bool,
    txn: &mut TxnSlot,
) -> Response<ProxyBody> {
    Counters::inc(&stats.denied_req);
    txn.abort(b"PR");
    let mut r = error_for(fe, be, 400);
    r.extensions_mut().insert(errors::CloseSilently);
    if silent {
        r.extensions_mut().insert(errors::SilentDrop);
    }
    r
}

async fn tarpit(fe: &FrontendRt, be: Option<&BackendRt>, status: u16) -> Response<ProxyBody> {
    let t = &fe.timeouts;
    if let Some(wait) = t.tarpit.or(t.connect) {
        tokio::time::sleep(wait).await;
    }
    error_for(fe, be, status)
}

/// Who sends a request on to a server: the client connection, and its addresses as the rules left them
/// (`set-src`, `set-dst`).
struct Sender<'a> {
    client: &'a Client,
    src: SocketAddr,
    dst: Option<SocketAddr>,
}

/// The value `balance hash EXPR` hashes, as bytes (`None` for other algorithms, or when the sample is absent:
/// the pick then falls back to round robin).
fn balance_sample(be: &BackendRt, req: &Request<ReqBody>, stream: &Stream<'_>) -> Option<Vec<u8>> {
    let fulcrum_config::haproxy::Balance::Hash(e) = &be.balance else {
        return None;
    };
    let msg = crate::model::rules::sample::Msg::Request {
        method: req.method(),
        uri: req.uri(),
        headers: req.headers(),
    };
    let ctx = crate::model::rules::sample::Ctx::new(msg, stream);
    let v = e.0.eval(&ctx)?.cast(fulcrum_sample::Type::Bin)?;
    Some(v.into_str_bytes().into_owned())
}

/// The server the backend's `use-server` rules choose for `req`: the first whose condition holds and whose server
/// is UP (or any, under `option persist`).
fn use_server<B>(be: &BackendRt, req: &Request<B>, stream: &Stream<'_>) -> Option<usize> {
    if !be.rules.has_use_server() {
        return None;
    }
    let facts = RequestFacts::of(req, stream);
    be.rules.pick_server(&facts, &|i| {
        be.servers
            .get(i)
            .is_some_and(|s| !s.in_maint() && (s.is_up() || be.config.persist))
    })
}

/// The TLS facts of the server connection a response came over (`ssl_bc*` in `http-response` rules).
#[derive(Clone)]
struct ServerTlsFacts(Arc<fulcrum_tls::Facts>);

#[allow(clippy::too_many_arguments)]
async fn forward(
    worker: &Worker,
    fe: &FrontendRt,
    be: &BackendRt,
    Sender {
        client,
        src: peer,
        dst,
    }: Sender<'_>,
    mut req: Request<ReqBody>,
    (hash_sample, stick, cookie_server): (
        Option<Vec<u8>>,
        crate::model::stick::Plan,
        Option<usize>,
    ),
    txn: &mut TxnSlot,
    done: &mut Done,
) -> Result<Response<ProxyBody>, ProxyError> {
    let unique_id = req.extensions_mut().remove::<UniqueId>();
    let unique_id = unique_id.as_ref().map(|u| &u.0[..]);
    let mode = combined_mode(fe.conn_mode, be.conn_mode);
    // `http-request set-timeout` may have given this stream its own server and tunnel timeouts.
    let own = req
        .extensions()
        .get::<crate::model::rules::sample::StreamTimeouts>()
        .copied()
        .unwrap_or_default();
    let server_timeout = own.server.or(be.timeouts.server);
    let tunnel_timeout = own.tunnel.or(be.timeouts.tunnel);
    let upgrade = wants_upgrade(req.headers());
    // The WebSocket key the proxy made (an HTTP/2 client's extended CONNECT): the server's `101` must answer it.
    let made_key = req.extensions().get::<super::upgrade::MadeKey>().cloned();
    strip_hop_by_hop(req.headers_mut(), upgrade);
    if let Some((ff, name)) = fe.forwardfor.as_ref().or(be.forwardfor.as_ref()) {
        headers::add_forwarded_for(req.headers_mut(), ff, name, peer.ip());
    }
    if let (Some((ot, name)), Some(dst)) = (fe.originalto.as_ref().or(be.originalto.as_ref()), dst)
    {
        headers::add_original_to(req.headers_mut(), ot, name, dst.ip());
    }
    // An HTTP/1.0 request goes as HTTP/1.0, as HAProxy sends it, asking the server to keep the connection when
    // it may be reused.
    if req.version() == Version::HTTP_10 && mode == HttpConnMode::KeepAlive {
        req.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    // Under `option httpclose` and `http-server-close` the server connection serves this request only, and the
    // server is told so, as HAProxy tells it (an HTTP/1.0 request says it by its version).
    if req.version() == Version::HTTP_11 && mode != HttpConnMode::KeepAlive {
        req.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let key = RequestKey::for_request(&be.balance, peer.ip(), &req).with_sample(hash_sample);

    let retry_on = &be.config.retry_on;
    // Failures after the request was written are retried only for a request kept for replay: bodiless, or its
    // whole body read ahead. One with a body read ahead is also kept for a reused connection the server closes.
    let replay = if !upgrade && (retry_on.replays() || !http_body::Body::is_end_stream(req.body()))
    {
        Replay::of(&req)
    } else {
        None
    };
    let mut failures = 0u32;
    let mut previous: Option<usize> = None;
    // `stick match`/`stick on`: the stored server, when it can take the request, is the first attempt's.
    // A persistence cookie naming a server comes first (it may name a down one under `option persist`).
    let mut persisted = cookie_server.or_else(|| {
        stick
            .server
            .as_ref()
            .and_then(|stuck| be.servers.iter().position(|s| stuck.is(s) && s.is_up()))
    });
    // The last attempt's connection was refused (not timed out).
    let mut refused = false;
    // Counts a failed attempt; false when no retry is left.
    let mut retry = |txn: &mut TxnSlot, server: &crate::model::server::ServerRt| {
        failures += 1;
        if failures > be.retries {
            return false;
        }
        Counters::inc(&be.stats.retries);
        Counters::inc(&server.stats.retries);
        txn.retry();
        true
    };
    let (exchange, conn, server_id, private, guard) = loop {
        // Retries stay on the same server unless `option redispatch` allows another one.
        let same = previous
            .filter(|_| !be.redispatch)
            .or(persisted.take())
            .map(|i| &be.servers[i]);
        let (acquired, queued) =
            totals::waited(queue::acquire(worker, be, &key, previous, same)).await;
        let (server, guard) = acquired.map_err(|_| ProxyError::ServiceUnavailable)?;
        totals::queue_time(be, &server, queued);
        // `stick store-request`/`stick on`: the server this request goes to.
        stick.store(&server);
        // A retry on the server that just refused waits HAProxy's turn-around (another server does not).
        if std::mem::take(&mut refused) && previous == Some(server.index) {
            tokio::time::sleep(be.turn_around()).await;
        }
        txn.server(&server);
        // The server's `req_tot`: each request it is given (a retry on the same server counts once).
        if done.server(&server) {
            Counters::inc(&server.stats.requests);
        }
        // `http-send-name-header`: the server's name replaces any value the client sent (again on a retry).
        if let Some(h) = &be.send_name_header {
            if let Ok(v) = HeaderValue::from_str(&server.config.name) {
                req.headers_mut().remove(h);
                req.headers_mut().insert(h.clone(), v);
            }
        }
        Counters::inc(&server.stats.lbtot);
        if let Some(p) = previous.filter(|&p| p != server.index) {
            Counters::inc(&be.stats.redispatches);
            Counters::inc(&be.servers[p].stats.redispatches);
        }
        // The server name of a TLS connection, evaluated on this request (`sni`).
        let sni = match server.config.tls.as_ref() {
            Some(t) if server.tls_traffic() => t.sni.as_ref().and_then(|e| {
                super::server_sni::evaluate(
                    &e.0,
                    &req,
                    peer,
                    client.conn.tls().map(|t| &*t.facts),
                    &client.vars,
                )
            }),
            _ => None,
        };
        // A connection opened with a PROXY header speaks for its client alone: it is kept for that client
        // connection, as under `http-reuse never`.
        // So is one whose port comes from the client's destination port.
        let reuse_mode =
            if server.config.send_proxy.is_some() || server.config.port_offset.is_some() {
                HttpReuse::Never
            } else {
                be.reuse
            };
        // A shared HTTP/2 connection to the server with room for another stream carries the request.
        let h2_shared = reuse_mode != HttpReuse::Never
            && server.config.proto != Some(fulcrum_config::haproxy::BindProto::H1);
        let link = h2_shared
            .then(|| h2_upstream::checkout(server.id, server.addr(), sni.as_deref()))
            .flatten();
        let pooled = if mode == HttpConnMode::KeepAlive && link.is_none() {
            idle_conn(worker, reuse_mode, client, server.id, sni.as_deref())
        } else {
            None
        };
        let reused = pooled.is_some() || link.is_some();
        if link.is_some() {
            Counters::inc(&server.stats.reuse);
            totals::connect_time(be, &server, std::time::Duration::ZERO);
        }
        let conn = match link {
            Some(l) => Upstream::H2(l, None),
            None => match pooled {
                Some(s) => {
                    Counters::inc(&server.stats.reuse);
                    totals::connect_time(be, &server, std::time::Duration::ZERO);
                    s
                }
                // Boxed: the connect future is the request path's largest (3.7 KB), and inline it would make the
                // future of every request that large, copied as it is built, even for the many that reuse a
                // connection.
                None => match Box::pin(totals::timed(ServerConn::connect_via(
                    server.target(|| client.conn.dst()),
                    (
                        super::server_conn::Route::of(&server.config),
                        crate::net::connect::Tuning {
                            delay_ack: be.config.tcp_smart_connect,
                            user_timeout: server.config.tcp_user_timeout,
                            nolinger: be.config.nolinger,
                            bufs: be.server_bufs,
                        },
                    ),
                    be.timeouts.connect,
                    server
                        .tls
                        .as_ref()
                        .filter(|_| server.tls_traffic())
                        .map(|config| TlsTarget {
                            config,
                            sni,
                            conns: &worker.snapshot.ssl_conns,
                            counted_for: (be, &server),
                        }),
                    &proxy_line(&server.config, client, unique_id),
                )))
                .await
                {
                    (Ok(mut s), took) => {
                        s.count_in(&be.stats.h1);
                        if be.config.srvtcpka {
                            s.set_keepalive();
                        }
                        Counters::inc(&server.stats.connect);
                        totals::connect_time(be, &server, took);
                        observe::report(&server, observe::Event::L4Ok);
                        s
                    }
                    // `maxsslconn` reached: the proxy's resource, not the server's fault, and not retried (HAProxy's
                    // 500, logged `IC`).
                    (Err(ConnectError::SslLimit), _) => {
                        debug!(server = %server.full_name, "maxsslconn reached: no TLS connection to the server");
                        Counters::inc(&be.stats.err_conn);
                        Counters::inc(&server.stats.err_conn);
                        txn.term(b"IC");
                        return Err(ProxyError::Internal);
                    }
                    (Err(e), _) => {
                        debug!(server = %server.full_name, error = %e, "connect failed");
                        Counters::inc(&be.stats.err_conn);
                        Counters::inc(&server.stats.err_conn);
                        observe::report(&server, observe::Event::L4Error);
                        if !retry_on.conn_failure || !retry(txn, &server) {
                            return Err(ProxyError::ServiceUnavailable);
                        }
                        refused = !matches!(e, ConnectError::Timeout);
                        previous = Some(server.index);
                        continue;
                    }
                },
            }
            .into(),
        };
        // A fresh connection speaks HTTP/2 when the server line says so or the server chose it by ALPN.
        let mut conn = match conn {
            Upstream::H1(c) if !reused && h2_upstream::speaks_h2(&c, server.config.proto) => {
                match h2_upstream::handshake(
                    c,
                    server.id,
                    server.addr(),
                    h2_shared,
                    server_timeout,
                    &be.stats.h2,
                )
                .await
                {
                    Ok(l) => Upstream::H2(l, None),
                    Err(e) => {
                        debug!(server = %server.full_name, error = %e, "HTTP/2 handshake with the server failed");
                        Counters::inc(&be.stats.err_conn);
                        Counters::inc(&server.stats.err_conn);
                        observe::report(&server, observe::Event::L4Error);
                        if !retry_on.conn_failure || !retry(txn, &server) {
                            return Err(ProxyError::ServiceUnavailable);
                        }
                        previous = Some(server.index);
                        continue;
                    }
                }
            }
            other => other,
        };
        txn.connected(if txn.is_on() { conn.local_addr() } else { None });
        txn.server_tls(conn.tls_facts());
        let sent_at = Instant::now();
        let idempotent = is_idempotent(req.method());
        // `on-marked-down shutdown-sessions` (and `on-marked-up shutdown-backup-sessions` for a backup): a server
        // marked DOWN while the response head is awaited loses the request, which is answered 502 and logged `DH`,
        // as haproxy 2.6 does.
        // Only servers that can be told to shut their sessions wait on it: the wait takes the lock of a list that
        // every worker thread shares.
        let watch = observe::shuts_sessions(be, &server);
        let shutdown = async {
            if watch {
                server.observer.shutdown.notified().await
            } else {
                std::future::pending().await
            }
        };
        let sending = async {
            tokio::select! {
                r = conn.send(
                    req,
                    be.config.accept_invalid_response,
                    client.interim.as_ref(),
                ) => Some(r),
                () = shutdown => None,
            }
        };
        let result = match server_timeout {
            Some(t) => match tokio::time::timeout(t, sending).await {
                Ok(r) => r,
                Err(_) => {
                    Counters::inc(&be.stats.err_resp);
                    Counters::inc(&server.stats.err_resp);
                    observe::report(&server, observe::Event::ReadTimeout);
                    match &replay {
                        Some(again) if retry_on.response_timeout && retry(txn, &server) => {
                            req = again.request();
                            previous = Some(server.index);
                            continue;
                        }
                        _ => return Err(ProxyError::GatewayTimeout),
                    }
                }
            },
            None => sending.await,
        };
        let Some(result) = result else {
            debug!(server = %server.full_name, "response given up: the server was marked DOWN");
            txn.term(b"DH");
            return Err(ProxyError::BadGateway);
        };
        match result {
            Ok(exchange) => {
                let status = exchange.head.status.as_u16();
                txn.response_head(&exchange.head.headers);
                totals::response_time(be, &server, sent_at.elapsed());
                server.stats.response(status);
                observe::report(&server, observe::Event::for_status(status));
                if let Some(again) = &replay {
                    if retry_on.statuses.contains(&status) && retry(txn, &server) {
                        debug!(server = %server.full_name, status, "retrying on status");
                        req = again.request();
                        previous = Some(server.index);
                        continue;
                    }
                }
                break (
                    exchange,
                    conn,
                    server.id,
                    server.config.send_proxy.map(|p| p.options.unique_id),
                    guard,
                );
            }
            // Nothing reached the server, or a reused connection that the server had just closed dropped a
            // request that can safely go again: a fresh connection takes it.
            Err(SendError::Unsent(unsent, _)) => {
                req = *unsent;
                if !reused && (!retry_on.conn_failure || !retry(txn, &server)) {
                    return Err(ProxyError::ServiceUnavailable);
                }
                previous = Some(server.index);
            }
            Err(SendError::Closed {
                request,
                response_started: false,
            }) if reused && idempotent && (request.is_some() || replay.is_some()) => {
                debug!(server = %server.full_name, "reused connection closed by the server; sending again");
                req = match (request, &replay) {
                    (Some(unsent), _) => *unsent,
                    (None, Some(again)) => again.request(),
                    (None, None) => return Err(ProxyError::BadGateway),
                };
                previous = Some(server.index);
            }
            Err(SendError::ClientBody(e)) => {
                debug!(server = %server.full_name, error = %e, "client aborted its request body");
                txn.term(b"CD");
                return Err(ProxyError::BadRequest);
            }
            Err(e) => {
                debug!(server = %server.full_name, error = %e, "invalid or aborted response");
                Counters::inc(&be.stats.err_resp);
                Counters::inc(&server.stats.err_resp);
                let junk = matches!(e, SendError::Invalid(_));
                observe::report(
                    &server,
                    match &e {
                        SendError::Invalid(_) => observe::Event::HttpInvalid,
                        SendError::Closed { .. } => observe::Event::BrokenPipe,
                        _ => observe::Event::ReadError,
                    },
                );
                let wanted = if junk {
                    retry_on.junk_response
                } else {
                    retry_on.empty_response
                };
                if let Some(again) = replay.as_ref().filter(|_| wanted) {
                    if retry(txn, &server) {
                        req = again.request();
                        previous = Some(server.index);
                        continue;
                    }
                }
                txn.term(if junk { b"PH" } else { b"SH" });
                return Err(ProxyError::BadGateway);
            }
        }
    };

    let head = exchange.head;
    let server_tls = conn.tls_facts().cloned();
    // A head that does not fit in HAProxy's buffer (`tune.bufsize` less `tune.maxrewrite`).
    let reason = head.status.canonical_reason().map_or(0, str::len);
    if buffered::head_size(["HTTP/1.1".len(), 3, reason], &head.headers)
        > worker.snapshot.buf_limits.fill()
    {
        debug!(status = head.status.as_u16(), "response head too large");
        Counters::inc(&be.stats.err_resp);
        txn.term(b"PH");
        return Err(ProxyError::BadGateway);
    }
    let mut parts = http::response::Builder::new()
        .status(head.status)
        // As HAProxy: a server's HTTP/1.0 response reaches an HTTP/1 client as HTTP/1.0 (its body as the server
        // delimited it); any other as HTTP/1.1.
        .version(if head.version == Version::HTTP_10 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        })
        .body(())
        .map_err(|_| ProxyError::BadGateway)?
        .into_parts()
        .0;
    // An HTTP/1.0 response with Transfer-Encoding: read as chunked, and, as HAProxy does (RFC 9112 section 6.1),
    // the client connection is closed after it.
    let faulty_framing =
        head.version == Version::HTTP_10 && head.headers.contains_key(header::TRANSFER_ENCODING);
    parts.headers = head.headers;
    if let Some(f) = server_tls {
        parts.extensions.insert(ServerTlsFacts(f));
    }
    if !head.verbatim_headers.is_empty() {
        parts
            .extensions
            .insert(response_out::Verbatim(head.verbatim_headers));
    }
    if let Some(r) = head.reason {
        parts.extensions.insert(response_out::Reason(r));
    }
    let conn = match conn {
        Upstream::H1(c) => c,
        Upstream::H2(_, stream) => {
            // A `101` here is an extended CONNECT the server accepted (`h2_upstream` made it one): the stream
            // carries the tunnel. HTTP/2 switches no other protocol.
            if parts.status == StatusCode::SWITCHING_PROTOCOLS {
                let Some(half) = stream.filter(|_| upgrade).and_then(|s| s.into_tunnel()) else {
                    txn.term(b"PH");
                    return Err(ProxyError::BadGateway);
                };
                let idle = tunnel_timeout.or(server_timeout);
                return Ok(Response::from_parts(
                    parts,
                    ProxyBody::tunnel(Tunnel::h2(half, idle, guard)),
                ));
            }
            let Some(stream) = stream else {
                txn.term(b"PH");
                return Err(ProxyError::BadGateway);
            };
            strip_hop_by_hop(&mut parts.headers, false);
            if mode == HttpConnMode::Close {
                parts
                    .headers
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            let body = UpstreamBody::h2(stream, guard).with_idle(server_timeout);
            return Ok(Response::from_parts(parts, ProxyBody::upstream(body)));
        }
    };
    if parts.status == StatusCode::SWITCHING_PROTOCOLS {
        // A server accepting a WebSocket handshake must answer with its accept key (only its presence is
        // checked, as HAProxy does).
        let answered = match &made_key {
            Some(k) => super::upgrade::accepts(k, &parts.headers),
            None => !fulcrum_http::headers::websocket_without_key(&parts.headers, true),
        };
        if upgrade && answered {
            let (stream, tls, early) = conn.into_upgraded();
            let idle = tunnel_timeout.or(server_timeout);
            return Ok(Response::from_parts(
                parts,
                ProxyBody::tunnel(Tunnel::new(stream, tls, early, idle, guard)),
            ));
        }
        txn.term(b"PH");
        return Err(ProxyError::BadGateway);
    }
    strip_hop_by_hop(&mut parts.headers, false);
    if head.version == Version::HTTP_10
        || matches!(head.framing, fulcrum_http::response_in::Framing::UntilClose)
    {
        // Compression needs an HTTP/1.1 response whose end is known.
        parts.extensions.insert(super::compress::NotCompressible);
    }
    if mode == HttpConnMode::Close {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if faulty_framing {
        parts.extensions.insert(response_out::ChunkedHttp10);
    } else if matches!(head.framing, fulcrum_http::response_in::Framing::UntilClose) {
        parts.extensions.insert(response_out::CloseDelimited);
    }
    // A connection whose PROXY header names one request (its unique ID) serves that request only.
    let reusable = private != Some(true);
    let reuse = (mode == HttpConnMode::KeepAlive
        && head.keep_alive
        && exchange.request_complete
        && reusable)
        .then(|| match be.reuse {
            _ if private.is_some() => Reuse::Session {
                slot: client.session.clone(),
                server: server_id,
            },
            HttpReuse::Never => Reuse::Session {
                slot: client.session.clone(),
                server: server_id,
            },
            _ => Reuse::Pool {
                pool: worker.pool.clone(),
                server: server_id,
            },
        });
    let body = UpstreamBody::new(conn, head.framing, reuse, guard)
        .with_idle(server_timeout)
        .with_splice(fe.config.splice_response || be.config.splice_response);
    Ok(Response::from_parts(parts, ProxyBody::upstream(body)))
}

/// An idle connection to server `id` that `http-reuse` lets this request take: under `never` only the one its
/// own client connection kept; under `safe` none for a client's first request (it gets a connection of its own,
/// so a server closing an idle connection at that moment cannot cost it), under `aggressive` one that has already
/// carried more than one request; otherwise (and under `always`) the most recently used one.
/// `sni`: the server name the request needs (a TLS connection is only reused for the name it was opened for).
fn idle_conn(
    worker: &Worker,
    reuse: HttpReuse,
    client: &Client,
    id: usize,
    sni: Option<&str>,
) -> Option<ServerConn> {
    match reuse {
        HttpReuse::Never => client.session.take(id, sni),
        HttpReuse::Safe if client.first => None,
        HttpReuse::Aggressive if client.first => worker.pool.checkout(id, true, sni),
        _ => worker.pool.checkout(id, false, sni),
    }
}

/// The request's unique ID (`unique-id-format`), carried to [`forward`] for the PROXY v2 header.
#[derive(Clone)]
struct UniqueId(Vec<u8>);

/// The PROXY protocol header a new connection to `server` starts with (`send-proxy`, `send-proxy-v2`): the
/// client's addresses as the request sees them; empty when the server takes none.
fn proxy_line(
    server: &fulcrum_config::haproxy::Server,
    client: &Client,
    unique_id: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(how) = &server.send_proxy {
        let dst = client.conn.dst();
        let facts = crate::net::proxy_header::Facts {
            tls: client.conn.tls().map(|t| &*t.facts),
            unique_id,
        };
        crate::net::proxy_header::encode(how, dst.map(|d| (client.peer, d)), &facts, &mut out);
    }
    out
}

/// Sends the `103 Early Hints` responses the `http-request early-hint` rules that just ran made (to HTTP/1.1 and
/// HTTP/2 clients; see `interim.rs`).
async fn send_early_hints(stream: &mut Stream<'_>, client: &Client) {
    for hints in std::mem::take(&mut stream.early_hints) {
        super::interim::Interim::early_hints(client.interim.as_ref(), hints).await;
    }
}

/// Methods that may be sent twice with the same effect (RFC 9110 section 9.2.2).
fn is_idempotent(m: &http::Method) -> bool {
    use http::Method;
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(m)
}
