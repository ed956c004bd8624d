//! A client connection served over HTTP/2: `bind ... proto h2`, ALPN `h2` on a TLS bind, or the HTTP/2 preface
//! (`PRI * HTTP/2.0`) sent first on a clear-text HTTP/1 bind, as HAProxy 2.6 detects it.
//!
//! The `h2` crate is the codec (HPACK, frames, flow control, stream states). The connection task drives it and
//! accepts streams; each stream becomes a request served by its own local task through the same
//! [`super::request::handle`] as an HTTP/1 request (rules, balancing, queues, counters, one access-log line per
//! stream). The request body is the stream's data ([`H2Body`]); the response head, body (sent as the client's
//! flow-control windows open) and trailers go back on the stream. A stream the client resets gives its request
//! up at once.
//!
//! Limits, with HAProxy's keywords: `tune.h2.max-concurrent-streams`, `tune.h2.header-table-size`,
//! `tune.h2.initial-window-size`, `tune.h2.max-frame-size`; a header block (HEADERS and its CONTINUATION frames)
//! larger than `tune.bufsize` is refused, which bounds CONTINUATION floods and HPACK bombs; streams reset by the
//! client before they were served are bounded (rapid reset, GOAWAY `ENHANCE_YOUR_CALM`). A connection without
//! streams is closed after `timeout http-keep-alive` (else `timeout client`); a soft stop sends GOAWAY.

use crate::model::h2_stats::{H2Conn, H2StreamCount, H2Watch};
use std::cell::{Cell, RefCell};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes};
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::debug;

use super::body::ProxyBody;
use super::conn::ClientConn;
pub use super::h2_body::H2Body;
use super::reqbody::ReqBody;
use super::request;
use crate::data::client_io::ClientIo;
use crate::data::http_log::TxnSlot;
use crate::data::worker_state::Worker;
use crate::model::counters::Counters;

/// The HTTP/2 connection preface a client sends first.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether `buf` starts with the HTTP/2 preface: `Some(true)` when it does, `None` when it is still a part of it
/// (more bytes are needed to tell), `Some(false)` when it is not.
pub fn preface(buf: &[u8]) -> Option<bool> {
    if buf.len() >= PREFACE.len() {
        Some(buf.starts_with(PREFACE))
    } else if PREFACE.starts_with(buf) {
        None
    } else {
        Some(false)
    }
}

/// How often an idle connection looks whether a soft stop began.
const DRAIN_CHECK: Duration = Duration::from_secs(1);

/// The connection-level receive window, set once the first stream arrives (a WINDOW_UPDATE right after the
/// SETTINGS would come before the client's SETTINGS acknowledgement, where HAProxy sends none): room for several
/// streams' uploads at once.
const CONNECTION_WINDOW: u32 = 4 * 1024 * 1024;

/// The most streams the client may reset before they are served, per connection, before the connection is closed
/// (GOAWAY `ENHANCE_YOUR_CALM`).
const MAX_PENDING_RESETS: usize = 50;

/// The most streams the proxy may reset for the client's protocol errors before it closes the connection.
const MAX_LOCAL_ERROR_RESETS: usize = 100;

/// The client connection seen by the `h2` codec: reads take the bytes already received first (the preface read
/// by the HTTP/1 loop), then read through [`ClientIo`] (TLS included, bytes counted). Its frames are counted in
/// the frontend's `h2` statistics.
struct H2Io(Rc<ClientIo>, H2Watch);

impl AsyncRead for H2Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let H2Io(io, watch) = self.get_mut();
        if io.rbuf().is_empty() {
            ready!(io.poll_fill(cx, buf.remaining()))?;
        }
        let mut rb = io.rbuf();
        let n = rb.len().min(buf.remaining());
        buf.put_slice(&rb[..n]);
        watch.read(&rb[..n]);
        rb.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(this.0.poll_write(cx, bufs))?;
        let mut left = n;
        for b in bufs {
            let k = left.min(b.len());
            this.1.written(&b[..k]);
            left -= k;
            if left == 0 {
                break;
            }
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    // Writes reach the socket (TLS records included) before they return.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.shutdown_write();
        Poll::Ready(Ok(()))
    }
}

/// What the streams of one connection share.
struct Shared {
    conn: ClientConn,
    /// Streams being served.
    active: Cell<usize>,
    /// When the last stream ended (or the connection started): the idle timeout counts from there.
    idle_since: Cell<tokio::time::Instant>,
    /// The connection loop, woken when its last stream ends so that the idle timeout starts on time.
    idle_waker: Cell<Option<Waker>>,
}

/// Serves a client connection over HTTP/2 until it closes.
pub async fn serve(worker: Rc<Worker>, conn: ClientConn) {
    let tune = worker.snapshot.h2;
    let max_header_list = worker.snapshot.buf_limits.fill().max(1024) as u32;
    let mut builder = h2::server::Builder::new();
    builder
        .initial_window_size(tune.initial_window_size())
        .max_concurrent_streams(tune.max_concurrent_streams())
        .header_table_size(tune.header_table_size())
        .max_frame_size(tune.max_frame_size())
        .max_header_list_size(max_header_list)
        .max_send_buffer_size(256 * 1024)
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
        .max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS));
    // Extended CONNECT (RFC 8441: WebSocket over HTTP/2), as HAProxy 2.6 offers it unless
    // `h2-workaround-bogus-websocket-clients`.
    if !tune.no_websocket {
        builder.enable_connect_protocol();
    }
    builder
        // As HAProxy: an invalid `:method`, `:scheme` or `:authority` is answered 400 (not reset), and each DATA
        // frame the proxy consumes is acknowledged at once with WINDOW_UPDATEs (vendor/h2 adds both options).
        .deliver_bad_requests(true)
        .eager_window_updates(true);
    let io = conn.io.clone();
    let fe = conn.st.fe.clone();
    let peer = conn.st.peer;
    // The preface and the client's SETTINGS must arrive within the time allowed for a request head.
    let watch = H2Watch::new(H2Conn::open(&fe.stats.h2), true);
    let handshake = builder.handshake::<_, Bytes>(H2Io(io.clone(), watch));
    let started = match fe.head_timeout() {
        Some(limit) => tokio::time::timeout(limit, handshake)
            .await
            .map_err(|_| "timeout".to_string()),
        None => Ok(handshake.await),
    };
    let mut h2c = match started.and_then(|r| r.map_err(|e| e.to_string())) {
        Ok(c) => c,
        Err(e) => {
            Counters::inc(&fe.stats.err_req);
            debug!(frontend = %fe.name, %peer, error = %e, "HTTP/2 preface refused");
            conn.finish();
            return;
        }
    };
    let idle_limit = fe.timeouts.http_keep_alive.or(fe.timeouts.client);
    let shared = Rc::new(Shared {
        conn,
        active: Cell::new(0),
        idle_since: Cell::new(tokio::time::Instant::now()),
        idle_waker: Cell::new(None),
    });
    let mut closing = false;
    let mut widened = false;
    // One timer for the connection, moved only when it would fire too late (or has fired): a new `Sleep` per
    // accepted stream registered and removed a timer-wheel entry for every request. While streams are served the
    // clock is not read here at all: the timer only has to wake the loop once a second to notice a soft stop.
    let tick = tokio::time::sleep(DRAIN_CHECK);
    tokio::pin!(tick);
    loop {
        if !closing && worker.draining.get() {
            h2c.graceful_shutdown();
            closing = true;
        }
        match idle_limit {
            Some(l) if shared.active.get() == 0 && !closing => {
                let now = tokio::time::Instant::now();
                let left = (shared.idle_since.get() + l).saturating_duration_since(now);
                if left.is_zero() {
                    // As HAProxy: a GOAWAY naming the last stream served, and the connection closed (no
                    // stream is in flight, so nothing waits for the client's PING acknowledgement).
                    debug!(frontend = %fe.name, %peer, "HTTP/2 connection idle: closed");
                    h2c.abrupt_shutdown(Reason::NO_ERROR);
                    closing = true;
                    tick.as_mut().reset(now + DRAIN_CHECK);
                } else {
                    let due = now + left.min(DRAIN_CHECK);
                    if tick.is_elapsed() || tick.deadline() > due {
                        tick.as_mut().reset(due);
                    }
                }
            }
            _ => {
                if tick.is_elapsed() {
                    tick.as_mut()
                        .reset(tokio::time::Instant::now() + DRAIN_CHECK);
                }
            }
        }
        // With streams in flight, the end of the last one wakes the loop: the idle timeout is then set from it
        // rather than at the next tick, up to a second late.
        let watch_idle = idle_limit.is_some() && !closing && shared.active.get() > 0;
        let went_idle = std::future::poll_fn(|cx| {
            if shared.active.get() == 0 {
                return Poll::Ready(());
            }
            shared.idle_waker.set(Some(cx.waker().clone()));
            Poll::Pending
        });
        let accepted = tokio::select! {
            a = h2c.accept() => a,
            () = &mut tick => continue,
            () = went_idle, if watch_idle => continue,
        };
        match accepted {
            Some(Ok((req, respond))) => {
                if !widened {
                    h2c.set_target_window_size(CONNECTION_WINDOW.max(tune.initial_window_size()));
                    widened = true;
                }
                shared.active.set(shared.active.get() + 1);
                // The task holds only the stream's arguments and a box: tokio copies a task's future (twice) as
                // it spawns it, and serve_stream's whole future is 3 KB where its arguments are 280 bytes.
                let (worker, shared) = (worker.clone(), shared.clone());
                tokio::task::spawn_local(async move {
                    Box::pin(serve_stream(worker, shared, req, respond)).await
                });
            }
            Some(Err(e)) => {
                debug!(frontend = %fe.name, %peer, error = %e, "HTTP/2 connection error");
                break;
            }
            None => break,
        }
    }
    // The codec's last frames (GOAWAY) go out before the socket is shut.
    let _ = std::future::poll_fn(|cx| h2c.poll_closed(cx)).await;
    shared.conn.finish();
}

/// Serves one stream: its request through the request path, its response back on the stream.
async fn serve_stream(
    worker: Rc<Worker>,
    shared: Rc<Shared>,
    req: Request<RecvStream>,
    respond: SendResponse<Bytes>,
) {
    /// The stream counted among the connection's active ones and in the frontend's `h2` gauges until it ends.
    struct Active {
        shared: Rc<Shared>,
        _counted: H2StreamCount,
    }
    impl Drop for Active {
        fn drop(&mut self) {
            let left = self.shared.active.get().saturating_sub(1);
            self.shared.active.set(left);
            if left == 0 {
                self.shared.idle_since.set(tokio::time::Instant::now());
                if let Some(w) = self.shared.idle_waker.take() {
                    w.wake();
                }
            }
        }
    }
    let active = Active {
        _counted: H2StreamCount::start(&shared.conn.st.fe.stats.h2),
        shared,
    };
    let conn = &active.shared.conn;
    let fe = conn.st.fe.clone();
    let io = conn.io.clone();
    let (mut parts, recv) = req.into_parts();
    // A `:method`, `:scheme` or `:authority` that is not valid syntax: answered 400, as HAProxy answers it.
    let bad = parts.extensions.remove::<h2::ext::BadRequest>();
    // An extended CONNECT (`:protocol`) is the HTTP/1.1 upgrade it stands for; its stream carries the tunnel.
    let protocol = parts.extensions.remove::<h2::ext::Protocol>();
    let mapped = match (&bad, &protocol) {
        (Some(_), _) => Ok(()),
        (None, Some(p)) => fulcrum_http::h2map::upgrade_from_extended_connect(
            &mut parts,
            p.as_str(),
            io.tls().is_some(),
        ),
        (None, None) => fulcrum_http::h2map::request_from_h2(&mut parts, io.tls().is_some()),
    };
    if let Err(e) = mapped {
        debug!(frontend = %fe.name, peer = %conn.st.peer, error = %e, "malformed HTTP/2 request");
        Counters::inc(&fe.stats.err_req);
        let mut respond = respond;
        respond.send_reset(Reason::PROTOCOL_ERROR);
        return;
    }
    let method = parts.method.clone();
    let mut tunnel_recv = None;
    if protocol.is_some() {
        if let Some(key) = super::upgrade::add_websocket_key(&mut parts.headers) {
            parts.extensions.insert(key);
        }
    }
    let body = if protocol.is_some() {
        tunnel_recv = Some(recv);
        ReqBody::Empty
    } else if recv.is_end_stream() {
        ReqBody::Empty
    } else {
        ReqBody::H2(H2Body {
            recv,
            data_done: false,
        })
    };
    let req = Request::from_parts(parts, body);
    io.count_request();
    let client = conn.request_client();
    let mut txn = TxnSlot::begin(conn.st.conn_log.as_ref(), &req);
    // Shared with the server side for the time the request is served: interim responses (`103 Early Hints`) go
    // out on it.
    let respond = Rc::new(RefCell::new(respond));
    let mut client = client;
    client.interim = Some(super::interim::Client::H2(respond.clone()));
    let resp = if let Some(h2::ext::BadRequest(why)) = bad {
        // Logged as HAProxy logs a request its parser refused (`<BADREQ>`, `PR--`).
        debug!(frontend = %fe.name, peer = %conn.st.peer, error = why, "invalid HTTP/2 request");
        Counters::inc(&fe.stats.err_req);
        txn.bad_request();
        txn.term(b"PR");
        request::error_for(&fe, None, 400)
    } else {
        // Boxed: inline, its future (kilobytes) would make every stream's task that large, and the task is copied
        // several times as it is spawned (memmove was 10% of the proxy's CPU under h2load).
        let handled = Box::pin(request::handle(worker.clone(), &fe, client, req, &mut txn));
        // A stream the client resets (RST_STREAM) gives its request up. A connection the client closes does not:
        // as HAProxy, its requests go on to their servers unless `option abortonclose` (which the request path
        // applies) says otherwise.
        let reset = async {
            match std::future::poll_fn(|cx| respond.borrow_mut().poll_reset(cx)).await {
                Ok(_) => {}
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            r = handled => r,
            () = reset => {
                debug!(frontend = %fe.name, peer = %conn.st.peer, "HTTP/2 stream reset by the client");
                txn.abort(b"CH");
                return;
            }
        }
    };
    let status = resp.status().as_u16();
    fe.stats.response(status);
    let log = txn.into_body_log(status);
    let mut resp = resp.map(|b| b.with_log(log));
    let tunnel = match (resp.body_mut().take_tunnel(), tunnel_recv.take()) {
        (Some(tunnel), Some(recv)) => Some((tunnel, recv)),
        (other, _) => {
            if other.is_some() {
                // A protocol switch HTTP/2 cannot carry (no extended CONNECT asked it).
                respond.borrow_mut().send_reset(Reason::CANCEL);
                return;
            }
            None
        }
    };
    if let Some((tunnel, recv)) = tunnel {
        // The server switched protocols for an extended CONNECT: the stream is answered `200` and carries the
        // tunnel, as HAProxy answers it.
        let (mut head, _) = resp.into_parts();
        head.status = http::StatusCode::OK;
        fulcrum_http::h2map::response_for_h2(&mut head);
        for h in [
            http::header::SEC_WEBSOCKET_ACCEPT,
            http::header::CONTENT_LENGTH,
        ] {
            head.headers.remove(h);
        }
        let send = match respond
            .borrow_mut()
            .send_response(Response::from_parts(head, ()), false)
        {
            Ok(s) => s,
            Err(e) => {
                debug!(frontend = %fe.name, peer = %conn.st.peer, error = %e, "HTTP/2 response not sent");
                return;
            }
        };
        Box::pin(tunnel.run_h2(super::tunnel::H2Half {
            send,
            recv,
            hold: None,
        }))
        .await;
        return;
    }
    if resp
        .extensions()
        .get::<super::errors::CloseSilently>()
        .is_some()
    {
        // No answer (an empty errorfile): the stream is reset.
        respond.borrow_mut().send_reset(Reason::CANCEL);
        return;
    }
    let (mut head, mut body) = resp.into_parts();
    fulcrum_http::h2map::response_for_h2(&mut head);
    let bodiless =
        method == Method::HEAD || matches!(head.status.as_u16(), 204 | 304) || body.is_end_stream();
    if bodiless && !body.is_end_stream() {
        // A body the client does not get (HEAD, 204, 304) is still read to its end, as over HTTP/1, so that the
        // server connection it comes on can carry the next request; the stream ends once it has been read, so
        // that the client's next stream finds that connection idle (as HAProxy ends it).
        let drain = async { while let Some(Ok(_)) = body.frame().await {} };
        match fe.timeouts.server.or(fe.timeouts.client) {
            Some(t) => {
                let _ = tokio::time::timeout(t, drain).await;
            }
            None => drain.await,
        }
    }
    let send = match respond
        .borrow_mut()
        .send_response(Response::from_parts(head, ()), bodiless)
    {
        Ok(s) => s,
        Err(e) => {
            debug!(frontend = %fe.name, peer = %conn.st.peer, error = %e, "HTTP/2 response not sent");
            return;
        }
    };
    if !bodiless {
        send_body(send, &mut body, fe.timeouts.client).await;
    }
    drop(body);
    if let Some(l) = &conn.st.conn_log {
        l.flush_pending();
    }
}

/// Sends the response body on the stream as the client's windows allow, then its trailers if any. A client that
/// resets the stream, or a server body that fails or falls silent for `timeout server` (the stream is then reset),
/// ends it early, and so does a client that keeps its window closed for `timeout client` (the stream is reset: a
/// zero-window stall holds nothing long).
async fn send_body(mut send: SendStream<Bytes>, body: &mut ProxyBody, idle: Option<Duration>) {
    let server_idle = body.server_idle();
    loop {
        let frame = tokio::select! {
            f = body.frame_within(server_idle) => f,
            _ = std::future::poll_fn(|cx| send.poll_reset(cx)) => return,
        };
        let Some(frame) = frame else {
            debug!("server silent in the middle of the response body");
            body.server_silent();
            send.send_reset(Reason::INTERNAL_ERROR);
            return;
        };
        let frame = match frame {
            None => {
                let _ = send.send_data(Bytes::new(), true);
                return;
            }
            Some(Err(_)) => {
                send.send_reset(Reason::INTERNAL_ERROR);
                return;
            }
            Some(Ok(f)) => f,
        };
        let mut data = match frame.into_data() {
            Ok(d) => d,
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    let mut trailers = trailers;
                    fulcrum_http::h2map::strip_connection_specific(&mut trailers);
                    let _ = send.send_trailers(trailers);
                    return;
                }
                continue;
            }
        };
        while !data.is_empty() {
            send.reserve_capacity(data.len());
            let mut granted = send.capacity();
            if granted == 0 {
                let wait = std::future::poll_fn(|cx| send.poll_capacity(cx));
                let got = match idle {
                    Some(limit) => match tokio::time::timeout(limit, wait).await {
                        Ok(got) => got,
                        Err(_) => {
                            body.client_silent();
                            send.send_reset(Reason::CANCEL);
                            return;
                        }
                    },
                    None => wait.await,
                };
                granted = match got {
                    Some(Ok(n)) => n,
                    _ => return,
                };
                if granted == 0 {
                    continue;
                }
            }
            let chunk = data.split_to(granted.min(data.len()));
            // The last bytes of a body that is known to end carry END_STREAM, as HAProxy sends them, rather than
            // an empty DATA frame after them.
            let last = data.is_empty() && body.is_end_stream();
            if send.send_data(chunk, last).is_err() || last {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preface_is_told_apart_from_http1() {
        assert_eq!(preface(PREFACE), Some(true));
        assert_eq!(preface(b"PRI * HTTP/2.0\r\n"), None);
        assert_eq!(preface(b""), None);
        assert_eq!(preface(b"P"), None);
        assert_eq!(preface(b"POST / HTTP/1.1\r\n"), Some(false));
        assert_eq!(preface(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"), Some(false));
        assert_eq!(preface(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), Some(false));
    }
}
