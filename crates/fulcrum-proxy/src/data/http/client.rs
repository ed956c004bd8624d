//! The loop of one HTTP/1 client connection: read a request head ([`fulcrum_http::request_in`]), serve the request
//! ([`super::request::handle`]), write the response ([`super::respond`]), and again while the connection lasts.
//! Requests are served one after the other, so pipelined requests are answered in order; bytes read past a head
//! stay in the connection's receive buffer for the body and the next request.
//!
//! Timeouts, as HAProxy applies them: a request head must arrive within `timeout http-request` (else
//! `timeout client`) of the connection's accept or of its first byte, or the client gets a 408; between requests
//! the connection may stay idle for `timeout http-keep-alive` (else the head timeout) and is then closed without a
//! word. An idle connection is parked after a short while: its task ends and its buffers are released, and the
//! worker's parking lot starts a new task when the client sends again.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use fulcrum_config::haproxy::HttpConnMode;
use fulcrum_http::request_in::{self, BodyLength, RequestHead};
use http::Request;
use tokio::time::Instant;
use tracing::debug;

use super::client_body::{BodyCursor, ClientBody};
pub use super::conn::ClientConn;
use super::conn::{ConnState, ParkedConn, Parking};
use super::reqbody::ReqBody;
use super::request;
use super::respond::{self, Written};
use super::tunnel::Tunnel;
use crate::data::client_io::ClientIo;
use crate::data::http_log::{ConnEnd, ConnLog, TxnSlot};
use crate::data::worker_state::{Accepted, ConnTicket, Worker};
use crate::model::counters::Counters;
use crate::model::rules::vars::VarMap;
use crate::model::snapshot::FrontendRt;
use crate::net::parking::Lot;

/// How long a keep-alive connection may wait for its next request before its task and buffers are released: the
/// socket alone stays open, parked. Shorter when the head timeout is under twice this.
const PARK_AFTER: Duration = Duration::from_millis(200);

/// The most bytes read at once while a request head is awaited.
const HEAD_READ: usize = 4 * 1024;

thread_local! {
    /// The worker thread's idle keep-alive connections, waiting for their next request without a task.
    static PARKED: Rc<Lot<ParkedConn>> = Rc::new(Lot::default());
}

/// Runs the worker thread's parking lot: a parked connection whose client sends again gets a new task, one idle
/// for its whole keep-alive time is closed.
pub async fn run_parking_lot(worker: Rc<Worker>) {
    let lot = PARKED.with(Rc::clone);
    lot.run(
        |parked| {
            if let Some(conn) = parked.resume() {
                tokio::task::spawn_local(serve(worker.clone(), conn));
            }
        },
        ParkedConn::close_idle,
    )
    .await
}

/// A soft stop began on this worker thread: every parked (idle) keep-alive connection is closed; the busy ones
/// close after their current response (see [`serve_request`]).
pub fn close_parked() {
    let lot = PARKED.with(Rc::clone);
    for parked in lot.take_all() {
        parked.close_idle();
    }
}

/// Serves one accepted client connection until it closes or parks.
pub async fn serve_client(
    worker: Rc<Worker>,
    fe: Arc<FrontendRt>,
    stream: tokio::net::TcpStream,
    (tls, listener): (
        Option<Arc<fulcrum_tls::server::ServerTls>>,
        Arc<crate::net::listener::ListenerInfo>,
    ),
    accepted: Accepted,
    ticket: ConnTicket,
) {
    let Accepted {
        peer,
        local_port,
        expect_proxy,
    } = accepted;
    // `accept-proxy`: the PROXY header comes first, before TLS, within the time allowed for a request head.
    let proxied = match expect_proxy {
        false => None,
        true => match crate::net::proxy_header::receive(&stream, fe.head_timeout()).await {
            Ok(r) => Some(Box::new(r)),
            Err(e) => {
                Counters::inc(&fe.stats.err_req);
                debug!(frontend = %fe.name, %peer, error = %e, "PROXY protocol header refused");
                return;
            }
        },
    };
    let dst = proxied.as_ref().and_then(|p| p.dst());
    let peer = proxied.as_ref().and_then(|p| p.src()).unwrap_or(peer);
    let local_port = dst.map_or(local_port, |d| d.port());
    // The local address costs a system call: asked only when the frontend logs.
    let conn_log = match fe.log {
        Some(_) => ConnLog::new(&fe, peer, dst.or_else(|| stream.local_addr().ok())),
        None => None,
    };
    let session = match tls {
        None => None,
        Some(config) => {
            // The handshake counts against the time allowed for the first request head.
            let handshake = crate::net::tls_io::TlsSession::accept(&stream, &config);
            let done = match fe.head_timeout() {
                Some(limit) => tokio::time::timeout(limit, handshake)
                    .await
                    .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
                None => handshake.await,
            };
            match done {
                Ok(s) => {
                    fe.count_tls_handshake(Some(s.facts.resumed));
                    if let Some(l) = &conn_log {
                        l.set_tls(s.facts.clone());
                    }
                    Some(Box::new(s))
                }
                Err(e) => {
                    fe.count_tls_handshake(None);
                    debug!(frontend = %fe.name, %peer, error = %e, "SSL handshake failure");
                    return;
                }
            }
        }
    };
    start(
        worker,
        fe,
        stream,
        (session, listener, proxied),
        (peer, local_port),
        conn_log,
        (&[], None),
        ticket,
    )
    .await;
}

/// Serves as HTTP a connection a `mode tcp` frontend accepted, once the backend it chose is `mode http`: HAProxy
/// upgrades such a connection, and the frontend's and the backend's HTTP rules then apply to each request (as
/// haproxy 2.6 does, despite its warning that the frontend's are ignored). `first`: the bytes the frontend's
/// `tcp-request content` rules buffered, the start of the first request.
#[allow(clippy::too_many_arguments)]
pub async fn serve_upgraded(
    worker: Rc<Worker>,
    fe: Arc<FrontendRt>,
    stream: tokio::net::TcpStream,
    session: Option<crate::net::tls_io::TlsSession>,
    (listener, proto): (
        Arc<crate::net::listener::ListenerInfo>,
        Option<fulcrum_config::haproxy::BindProto>,
    ),
    (peer, local_port, proxied): (
        std::net::SocketAddr,
        u16,
        Option<crate::net::proxy_header::Received>,
    ),
    (first, vars): (&[u8], VarMap),
    ticket: ConnTicket,
) {
    let dst = proxied.as_ref().and_then(|p| p.dst());
    let conn_log = match fe.log {
        Some(_) => ConnLog::new(&fe, peer, dst.or_else(|| stream.local_addr().ok())),
        None => None,
    };
    if let (Some(l), Some(s)) = (&conn_log, &session) {
        l.set_tls(s.facts.clone());
    }
    let listener = match proto {
        Some(p) => Arc::new(listener.forcing(p)),
        None => listener,
    };
    start(
        worker,
        fe,
        stream,
        (session.map(Box::new), listener, proxied.map(Box::new)),
        (peer, local_port),
        conn_log,
        (first, Some(vars)),
        ticket,
    )
    .await;
}

/// The connection's HTTP life, once its PROXY header and TLS handshake are done; `first`: bytes already read;
/// `carried`: the variables of a connection upgraded from `mode tcp` (its `sess.` ones stay with the connection,
/// the others go to its first request).
#[allow(clippy::too_many_arguments)]
async fn start(
    worker: Rc<Worker>,
    fe: Arc<FrontendRt>,
    stream: tokio::net::TcpStream,
    (session, listener, proxied): (
        Option<Box<crate::net::tls_io::TlsSession>>,
        Arc<crate::net::listener::ListenerInfo>,
        Option<Box<crate::net::proxy_header::Received>>,
    ),
    (peer, local_port): (std::net::SocketAddr, u16),
    conn_log: Option<Arc<ConnLog>>,
    (first, carried): (&[u8], Option<VarMap>),
    ticket: ConnTicket,
) {
    // HTTP/2 from the first byte: `proto h2`, or `h2` agreed by ALPN.
    let h2 = listener.h2
        || session
            .as_ref()
            .is_some_and(|s| s.facts.alpn.as_deref() == Some(&b"h2"[..]));
    let io =
        Rc::new(ClientIo::new(stream, session, fe.clone(), conn_log.clone()).with_proxied(proxied));
    if !first.is_empty() {
        io.rbuf().extend_from_slice(first);
    }
    let conn = ClientConn {
        st: ConnState {
            fe,
            peer,
            local_port,
            listener,
            accepted: Instant::now(),
            conn_log,
            session: Rc::default(),
            vars: Rc::default(),
            upgraded: Default::default(),
            _ticket: ticket,
        },
        io,
        wbuf: Vec::new(),
        timer: None,
    };
    if let Some(carried) = carried {
        let (sess, carried): (VarMap, VarMap) = carried
            .into_iter()
            .partition(|(name, _)| name.scope() == fulcrum_config::haproxy::VarScope::Sess);
        *conn.st.vars.borrow_mut() = sess;
        // Over HTTP/2 each stream is a new transaction whose `tcp-request` rules run (as HAProxy's).
        if !h2 {
            conn.st.upgraded.set(Some(Box::new(carried)));
        }
    }
    if h2 {
        super::h2::serve(worker, conn).await;
    } else {
        serve(worker, conn).await;
    }
}

/// What waiting for the next request head gave.
// The head is moved once, right away: boxing it would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Next {
    Head(RequestHead),
    /// The connection has been idle long enough to be parked.
    Park,
    /// The connection sat idle for its whole keep-alive time.
    KeepAliveTimeout,
    /// The client closed between requests.
    Closed,
    /// No complete head.
    Failed(ConnEnd),
    /// The client sent the HTTP/2 preface: the connection speaks HTTP/2 from now on.
    H2,
}

/// What comes after a request.
enum After {
    /// The next request.
    Next,
    /// The connection ends.
    Close,
    /// The connection switched protocols.
    Tunnel(Box<Tunnel>),
}

/// Serves a connection: a new one, or a parked one whose next request is arriving. An idle connection is handed to
/// the worker's parking lot and this task ends; the lot starts a new one when the client sends again.
pub async fn serve(worker: Rc<Worker>, mut conn: ClientConn) {
    conn.io.count_h1(true);
    let end = loop {
        match next_head(&worker, &mut conn).await {
            Next::Head(head) => match serve_request(&worker, &mut conn, head).await {
                After::Next => continue,
                After::Close => break None,
                After::Tunnel(tunnel) => {
                    let early = conn.io.rbuf().split().freeze();
                    match Rc::get_mut(&mut conn.io) {
                        Some(io) => match io.stream_mut() {
                            Some(stream) if !tunnel.needs_copy() => {
                                tunnel.run(stream, &early).await
                            }
                            _ => tunnel.run_through(io, &early).await,
                        },
                        None => debug!("tunnel dropped: the client connection is still shared"),
                    }
                    break None;
                }
            },
            // A soft stop closes idle connections instead of keeping them.
            Next::Park if worker.draining.get() => break None,
            Next::Park => {
                crate::net::memory::connection_parked();
                conn.io.release_buffers();
                conn.wbuf = Vec::new();
                conn.timer = None;
                // How long an idle keep-alive connection is kept: HAProxy's `timeout http-keep-alive`, else the
                // time allowed for a request head.
                let deadline = conn
                    .st
                    .fe
                    .timeouts
                    .http_keep_alive
                    .or(conn.st.fe.head_timeout())
                    .map(|limit| conn.io.last_activity() + limit);
                // Out of the reactor and into the lot, unless a request or an upgrade still holds the
                // connection (it then waits here for its next head).
                let parked = match conn.park() {
                    Parking::Parked(parked) => parked,
                    Parking::Closed => return,
                    Parking::Shared(back) => {
                        conn = back;
                        continue;
                    }
                };
                match PARKED.with(Rc::clone).park(parked, deadline) {
                    Ok(()) => return,
                    // The lot could not watch it: serve it from here again.
                    Err(back) => match back.resume() {
                        Some(back) => conn = back,
                        None => return,
                    },
                }
            }
            Next::KeepAliveTimeout => {
                debug!(frontend = %conn.st.fe.name, peer = %conn.st.peer, "keep-alive timeout");
                break None;
            }
            Next::Closed => break None,
            Next::Failed(end) => break Some(end),
            Next::H2 => {
                // Each HTTP/2 stream is a new transaction: nothing carried from an upgrade applies.
                conn.st.upgraded.take();
                conn.io.count_h1(false);
                return super::h2::serve(worker, conn).await;
            }
        }
    };
    let ClientConn { st, io, .. } = &conn;
    let ConnState {
        fe, conn_log, peer, ..
    } = st;
    let mut answered = false;
    if let Some(end) = end {
        // A head that did not arrive in time: HAProxy answers 408 on a new connection or a partly received
        // request, and closes silently an idle keep-alive connection. An invalid head gets its error status.
        // A head cut short by the client's close gets a 400, as HAProxy answers it (the client may still read).
        let partial = io.rbuf().iter().any(|&b| b != b'\r' && b != b'\n');
        let status = match end {
            ConnEnd::Timeout if io.requests() == 0 || io.has_buffered() => Some(408),
            ConnEnd::BadHead(status) => Some(status),
            ConnEnd::Closed if partial => Some(400),
            _ => None,
        };
        if let Some(status) = status {
            Counters::inc(&fe.stats.err_req);
            fe.stats.response(status);
            let mut page = request::error_for(fe, None, status);
            let mut wbuf = Vec::new();
            let method = http::Method::GET;
            respond::write_response(
                io,
                &mut wbuf,
                &mut page,
                &method,
                http::Version::HTTP_11,
                true,
                fe.timeouts.client,
            )
            .await;
            answered = true;
        }
        debug!(frontend = %fe.name, peer = %peer, end = ?end, "client connection ended without a request");
    }
    io.finish();
    if let Some(l) = conn_log {
        l.close(end, answered);
    }
}

/// Waits for the next request head, within the connection's timeouts.
///
/// The connection's timer is set to the earliest deadline only when it would otherwise fire too late; one that
/// fires early (the connection moved since it was set) is set again. So a busy keep-alive connection does not
/// touch the runtime's timer wheel on every request, only every [`PARK_AFTER`] or so.
async fn next_head(worker: &Worker, conn: &mut ClientConn) -> Next {
    let io = &conn.io;
    let fe = &conn.st.fe;
    let max_head = worker.snapshot.buf_limits.fill().max(1);
    let max_headers = worker.snapshot.max_headers;
    let accept_invalid = fe.config.accept_invalid_request;
    let head_timeout = fe.head_timeout();
    let head_is_inactivity = fe.timeouts.http_request.is_none();
    let park_after = head_timeout.map_or(PARK_AFTER, |t| PARK_AFTER.min(t / 2));
    let idle_limit = fe.timeouts.http_keep_alive.or(head_timeout);
    let keep_alive = fe.conn_mode != HttpConnMode::Close;
    // When the head started: the accept for a connection's first request, else its first byte.
    let mut started = if io.requests() == 0 {
        Some(conn.st.accepted)
    } else {
        None
    };
    let idle_since = io.last_activity();
    enum Expiry {
        Head,
        Idle,
        Park,
    }
    loop {
        // A new connection may start with the HTTP/2 preface (prior knowledge), as HAProxy 2.6 accepts it on a
        // clear-text bind: it is looked for before the first request only.
        let mut undecided = false;
        if io.requests() == 0 && !conn.st.listener.h1_only {
            match super::h2::preface(&io.rbuf()) {
                Some(true) => return Next::H2,
                None => undecided = true,
                Some(false) => {}
            }
        }
        if io.has_buffered() && !undecided {
            match request_in::parse_with(&mut io.rbuf(), max_head, max_headers, accept_invalid) {
                Ok(Some(head)) => return Next::Head(head),
                Ok(None) => {}
                Err(e) => {
                    debug!(frontend = %fe.name, peer = %conn.st.peer, error = %e, "invalid request head");
                    return Next::Failed(ConnEnd::BadHead(e.status()));
                }
            }
            started.get_or_insert_with(Instant::now);
        }
        if io.eof() {
            return if io.has_buffered() || io.requests() == 0 {
                Next::Failed(ConnEnd::Closed)
            } else {
                Next::Closed
            };
        }
        let deadline = match started {
            Some(s) => head_timeout.map(|t| (s + t, Expiry::Head)),
            None => {
                let idle = idle_limit.map(|t| (idle_since + t, Expiry::Idle));
                let park = idle_since + park_after;
                match idle {
                    Some((at, _)) if !keep_alive || at <= park => idle,
                    _ if keep_alive => Some((park, Expiry::Park)),
                    other => other,
                }
            }
        };
        let read = match deadline {
            Some((at, expiry)) => {
                let timer = conn
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                if timer.deadline() > at {
                    timer.as_mut().reset(at);
                }
                tokio::select! {
                    r = io.fill(HEAD_READ) => r,
                    () = timer.as_mut() => {
                        if Instant::now() < at {
                            // Set for an earlier deadline that no longer holds.
                            timer.as_mut().reset(at);
                            continue;
                        }
                        return match expiry {
                            Expiry::Head => Next::Failed(ConnEnd::Timeout),
                            Expiry::Idle => Next::KeepAliveTimeout,
                            Expiry::Park => Next::Park,
                        };
                    }
                }
            }
            None => io.fill(HEAD_READ).await,
        };
        match read {
            Ok(0) => {}
            // `timeout http-request` bounds the whole head; without it `timeout client` bounds the silence between
            // the head's pieces, as HAProxy's (observed: a head sent in pieces 200 ms apart for 1 s is served under
            // `timeout client 300`).
            Ok(_) if head_is_inactivity => started = Some(Instant::now()),
            Ok(_) => {
                started.get_or_insert_with(Instant::now);
            }
            Err(_) => return Next::Failed(ConnEnd::Closed),
        }
    }
}

/// Serves one request whose head was just read, and writes its response.
async fn serve_request(worker: &Rc<Worker>, conn: &mut ClientConn, head: RequestHead) -> After {
    let io = conn.io.clone();
    io.count_request();
    let _h1 = io.h1_stream();
    let fe = conn.st.fe.clone();
    let (method, version) = (head.method.clone(), head.version);
    // A bodiless request (most) needs no cursor shared with its body.
    let cursor =
        (head.body != BodyLength::Empty).then(|| Rc::new(RefCell::new(BodyCursor::new(head.body))));
    let body = match &cursor {
        None => ReqBody::Empty,
        Some(c) => ReqBody::Stream(ClientBody::new(io.clone(), c.clone(), head.expect_continue)),
    };
    let mut req = Request::new(body);
    *req.method_mut() = head.method;
    *req.uri_mut() = head.uri;
    *req.version_mut() = head.version;
    *req.headers_mut() = head.headers;
    if let Some(verbatim) = head.verbatim {
        req.extensions_mut().insert(*verbatim);
    }
    let mut client = conn.request_client();
    // A server's interim responses (`103 Early Hints`) reach HTTP/1.1 clients only.
    if version == http::Version::HTTP_11 {
        client.interim = Some(super::interim::Client::H1(io.clone()));
    }
    let mut txn = TxnSlot::begin(conn.st.conn_log.as_ref(), &req);
    let resp = request::handle(worker.clone(), &fe, client, req, &mut txn).await;
    let status = resp.status().as_u16();
    fe.stats.response(status);
    let log = txn.into_body_log(status);
    let mut resp = resp.map(|b| b.with_log(log));
    if resp
        .extensions()
        .get::<super::errors::CloseSilently>()
        .is_some()
    {
        if resp
            .extensions()
            .get::<super::errors::SilentDrop>()
            .is_some()
        {
            io.forget();
        } else {
            // An empty errorfile, `reject`: the connection is closed without an answer.
            let _ = socket2::SockRef::from(io.stream()).shutdown(std::net::Shutdown::Both);
        }
        return After::Close;
    }
    let tunnel = resp.body_mut().take_tunnel();
    // During a soft stop the response says `Connection: close` and the connection ends after it.
    let close = !head.keep_alive || fe.conn_mode == HttpConnMode::Close || worker.draining.get();
    let written = respond::write_response(
        &io,
        &mut conn.wbuf,
        &mut resp,
        &method,
        version,
        close && tunnel.is_none(),
        fe.timeouts.client,
    )
    .await;
    drop(resp);
    if let Some(l) = &conn.st.conn_log {
        l.flush_pending();
    }
    match (written, tunnel) {
        (Written::Broken, _) => After::Close,
        (Written::Complete { .. }, Some(t)) => After::Tunnel(t),
        (Written::Complete { close: true }, None) => After::Close,
        (Written::Complete { close: false }, None) => {
            // The next request starts after this one's body: what of it is already here is skipped, and a body
            // still on its way ends the connection.
            let Some(cursor) = cursor else {
                return After::Next;
            };
            let mut cursor = cursor.borrow_mut();
            while !cursor.is_done() {
                match cursor.take(&mut io.rbuf()) {
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            if cursor.is_done() {
                After::Next
            } else {
                After::Close
            }
        }
    }
}
