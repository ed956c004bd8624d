//! HTTP/2 towards servers: `server ... proto h2` (clear text, prior knowledge) and `server ... ssl alpn h2` when
//! the server picks `h2` by ALPN.
//!
//! A connection to a server is opened as for HTTP/1 (`server_conn.rs`: TCP, PROXY header, TLS), then handed to
//! the `h2` crate's client; a local task drives it ([`Link`]). Each request the proxy forwards to the server is
//! one stream on such a connection: the head is mapped once (`fulcrum_http::h2map::request_to_h2`), the request
//! body streamed as the server's windows open, and the response head handed to the request path as an HTTP/1
//! one would be, its body and trailers read by the response body reader (`upstream_body.rs`).
//!
//! The connections of each worker are kept per server in a list of the worker's own ([`LINKS`]) and shared by
//! the worker's requests while they have room for another stream (the server's `MAX_CONCURRENT_STREAMS`); a
//! new one is opened when all are full. Under `http-reuse never` (and for servers taking a PROXY header, which
//! speaks for one client) a connection carries one request and is not shared. A connection without streams for
//! `timeout server` (else [`IDLE_DEFAULT`]) is closed, and so is one whose server changed address.

use crate::model::h2_stats::{H2Conn, H2Counters, H2StreamCount, H2Watch};
use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use h2::client::SendRequest;
use h2::{Reason, RecvStream, SendStream};
use http::{Method, Request, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tracing::debug;

use super::reqbody::ReqBody;
use super::server_conn::{poll_read_server, poll_write_server, Exchange, SendError, ServerConn};
use crate::net::tls_io::TlsClientSession;
use fulcrum_http::response_in::{Framing, ResponseHead};

/// How long an idle HTTP/2 connection to a server is kept when the backend sets no `timeout server`.
pub const IDLE_DEFAULT: Duration = Duration::from_secs(30);

/// How often a connection's task looks whether it went idle.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// The receive window of each stream and of the connection (the latter once the server's SETTINGS came): a
/// response body of this size flows without waiting for the proxy to acknowledge it.
const WINDOW: u32 = 1024 * 1024;

/// What a connection's task and its users share.
struct LinkState {
    /// Streams open (requests sent and their response bodies not yet read to their end).
    active: Cell<usize>,
    /// The most streams the server lets the proxy open at once.
    max: Cell<usize>,
    /// The connection ended (or is ending): it takes no new stream.
    closed: Cell<bool>,
    /// A response came on the connection, so the server's SETTINGS (its stream limit) are known: until then the
    /// connection carries only the stream it was opened for.
    proven: Cell<bool>,
    /// The server's first SETTINGS frame has been read and applied (whether it allows extended CONNECT is known).
    settings_known: Cell<bool>,
    /// Wakes the requests waiting for the server's SETTINGS.
    settings_wait: tokio::sync::Notify,
    /// The highest stream id opened on the connection.
    last_stream: Cell<u32>,
    /// Frames the proxy writes itself, between the codec's frames (see [`ServerIo::poll_flush`]).
    inject: Rc<RefCell<Vec<u8>>>,
    /// The connection's task, to be woken when there is something to write.
    task: RefCell<Option<std::task::Waker>>,
    /// The backend's `h2` statistics.
    h2: Arc<H2Counters>,
}

/// An HTTP/2 connection to a server taken by one request, a stream counted on it.
pub struct Link {
    shared: Shared,
    /// The stream counted for the request from the moment the connection was taken.
    reserved: Option<StreamSlot>,
}

/// An HTTP/2 connection to a server, shared by the streams of one worker.
#[derive(Clone)]
struct Shared {
    send: SendRequest<Bytes>,
    state: Rc<LinkState>,
    /// The server's address when the connection was opened.
    addr: SocketAddr,
    /// The SNI the TLS session was opened with.
    sni: Option<Box<str>>,
    /// The TLS session's facts (`ssl_bc*`).
    tls: Option<Arc<fulcrum_tls::Facts>>,
    /// The connection's local address.
    local: Option<SocketAddr>,
}

thread_local! {
    /// This worker's shareable HTTP/2 connections, by server id.
    static LINKS: RefCell<Vec<(usize, Shared)>> = const { RefCell::new(Vec::new()) };
}

/// A shared connection to server `id` (now at `addr`) with room for another stream, for the server name `sni`.
/// Connections that ended, or that go to an address the server no longer has, are forgotten on the way.
pub fn checkout(id: usize, addr: SocketAddr, sni: Option<&str>) -> Option<Link> {
    LINKS.with(|links| {
        let mut links = links.borrow_mut();
        links.retain(|(i, l)| {
            let stale = l.state.closed.get() || (*i == id && l.addr != addr);
            if stale && *i == id && l.addr != addr {
                l.state.closed.set(true);
            }
            !stale
        });
        let (_, l) = links.iter().find(|(i, l)| {
            let active = l.state.active.get();
            *i == id
                && l.sni.as_deref() == sni
                && active < l.state.max.get().max(1)
                && (active == 0 || l.state.proven.get())
        })?;
        Some(Link {
            reserved: Some(StreamSlot::take(&l.state)),
            shared: l.clone(),
        })
    })
}

/// Whether a fresh connection to a server speaks HTTP/2: `proto h2`, or ALPN `h2` agreed in its TLS handshake
/// (unless `proto h1` forces HTTP/1).
pub fn speaks_h2(conn: &ServerConn, proto: Option<fulcrum_config::haproxy::BindProto>) -> bool {
    use fulcrum_config::haproxy::BindProto;
    match proto {
        Some(BindProto::H2) => true,
        Some(BindProto::H1) => false,
        None => conn
            .tls_facts()
            .and_then(|f| f.alpn.as_deref())
            .is_some_and(|a| a == b"h2"),
    }
}

/// Starts HTTP/2 on a fresh connection to server `id` at `addr`: the preface and SETTINGS are sent and the
/// connection's task started. `shared`: the connection is listed for the worker's other requests. `idle`: how
/// long it stays open without streams.
pub async fn handshake(
    conn: ServerConn,
    id: usize,
    addr: SocketAddr,
    shared: bool,
    idle: Option<Duration>,
    counters: &Arc<H2Counters>,
) -> io::Result<Link> {
    let tls = conn.tls_facts().cloned();
    let sni = conn.sni().map(Box::from);
    let local = conn.local_addr();
    let (stream, session, early) = conn.into_upgraded();
    let inject = Rc::new(RefCell::new(Vec::new()));
    let first_frame = Rc::new(Cell::new(FirstFrame::Header(0, [0; 9])));
    let io = ServerIo {
        stream,
        tls: session,
        early,
        first_frame: first_frame.clone(),
        inject: inject.clone(),
        watch: H2Watch::new(H2Conn::open(counters), false),
    };
    let mut builder = h2::client::Builder::new();
    builder
        .enable_push(false)
        .initial_window_size(WINDOW)
        .max_send_buffer_size(256 * 1024);
    let (send, connection) = builder
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|e| io::Error::new(io::ErrorKind::ConnectionAborted, e))?;
    let state = Rc::new(LinkState {
        active: Cell::new(0),
        max: Cell::new(usize::MAX),
        closed: Cell::new(false),
        proven: Cell::new(false),
        settings_known: Cell::new(false),
        settings_wait: tokio::sync::Notify::new(),
        last_stream: Cell::new(0),
        inject,
        task: RefCell::new(None),
        h2: counters.clone(),
    });
    let reserved = Some(StreamSlot::take(&state));
    tokio::task::spawn_local(drive(
        connection,
        state.clone(),
        first_frame,
        idle.unwrap_or(IDLE_DEFAULT),
    ));
    let link = Shared {
        send,
        state,
        addr,
        sni,
        tls,
        local,
    };
    if shared {
        LINKS.with(|l| l.borrow_mut().push((id, link.clone())));
    }
    Ok(Link {
        shared: link,
        reserved,
    })
}

/// Drives a connection until the server closes it, it fails, or it stays without streams for `idle` (it is then
/// closed with a GOAWAY, as HAProxy closes an idle connection to a server).
async fn drive(
    mut conn: h2::client::Connection<ServerIo, Bytes>,
    state: Rc<LinkState>,
    first_frame: Rc<Cell<FirstFrame>>,
    idle: Duration,
) {
    let mut idle_since = tokio::time::Instant::now();
    loop {
        let tick = tokio::time::sleep(IDLE_CHECK.min(idle));
        tokio::select! {
            r = poll_fn(|cx| {
                state.max.set(conn.max_concurrent_send_streams());
                *state.task.borrow_mut() = Some(cx.waker().clone());
                // A frame read in this poll is acted upon before the poll returns (the codec applies the
                // server's SETTINGS as it reads on): once the first frame has been read, they are known.
                let read_first = first_frame.get() == FirstFrame::Read;
                let r = Pin::new(&mut conn).poll(cx);
                if !state.settings_known.get() && (read_first || first_frame.get() == FirstFrame::Read) {
                    state.settings_known.set(true);
                    state.settings_wait.notify_waiters();
                    // The connection's window is widened once the SETTINGS exchange is done (a WINDOW_UPDATE
                    // before the acknowledgement of the server's SETTINGS is not what HAProxy sends).
                    conn.set_target_window_size(WINDOW);
                    cx.waker().wake_by_ref();
                }
                r
            }) => {
                if let Err(e) = r {
                    debug!(error = %e, "HTTP/2 connection to a server ended");
                }
                state.closed.set(true);
                state.settings_known.set(true);
                state.settings_wait.notify_waiters();
                return;
            }
            () = tick => {
                let now = tokio::time::Instant::now();
                if state.active.get() > 0 {
                    idle_since = now;
                } else if now.duration_since(idle_since) >= idle || state.closed.get() {
                    break;
                }
            }
        }
    }
    // Idle (or its server moved): the connection is closed. Once no request holds it, the codec ends it with a
    // GOAWAY (NO_ERROR), given a moment to go out.
    state.closed.set(true);
    LINKS.with(|l| {
        l.borrow_mut()
            .retain(|(_, s)| !Rc::ptr_eq(&s.state, &state))
    });
    let _ = tokio::time::timeout(GOAWAY_GRACE, poll_fn(|cx| Pin::new(&mut conn).poll(cx))).await;
    drop(conn);
}

/// How long a connection closed for being idle waits for its GOAWAY to go out.
const GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// How far the server's first frame (its SETTINGS, RFC 9113 section 3.4) has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FirstFrame {
    /// This many bytes of its 9-byte header.
    Header(usize, [u8; 9]),
    /// This many bytes of its payload are still to come.
    Payload(usize),
    /// Read whole.
    Read,
}

impl FirstFrame {
    /// Follows `bytes` read from the server.
    fn advance(self, mut bytes: &[u8]) -> Self {
        let mut state = self;
        loop {
            state = match state {
                FirstFrame::Read => return FirstFrame::Read,
                FirstFrame::Header(n, mut h) => {
                    if bytes.is_empty() {
                        return state;
                    }
                    let take = (9 - n).min(bytes.len());
                    h[n..n + take].copy_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if n + take < 9 {
                        return FirstFrame::Header(n + take, h);
                    }
                    let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
                    FirstFrame::Payload(len)
                }
                FirstFrame::Payload(0) => FirstFrame::Read,
                FirstFrame::Payload(left) => {
                    if bytes.is_empty() {
                        return state;
                    }
                    let take = left.min(bytes.len());
                    bytes = &bytes[take..];
                    FirstFrame::Payload(left - take)
                }
            };
        }
    }
}

/// Counts a stream on its connection until dropped.
struct StreamSlot(Rc<LinkState>);

impl StreamSlot {
    fn take(state: &Rc<LinkState>) -> Self {
        state.active.set(state.active.get() + 1);
        StreamSlot(state.clone())
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.active.set(self.0.active.get().saturating_sub(1));
    }
}

impl Shared {
    /// Refuses the stream the codec would open next, as HAProxy refuses an upgrade the server cannot take: an
    /// RST_STREAM (INTERNAL_ERROR) on it, with no HEADERS before. The codec knows nothing of it, so the
    /// connection takes no new stream after it (the id is spent).
    fn refuse_next_stream(&self) {
        let state = &self.state;
        state.closed.set(true);
        let last = state.last_stream.get();
        let id = if last == 0 { 1 } else { last + 2 };
        if id > 0x7fff_ffff {
            return;
        }
        state.last_stream.set(id);
        let mut frame = [0u8; 13];
        // Length 4, type RST_STREAM (3), no flags, the stream id, then the error code.
        frame[..5].copy_from_slice(&[0, 0, 4, 3, 0]);
        frame[5..9].copy_from_slice(&id.to_be_bytes());
        frame[9..].copy_from_slice(&u32::from(Reason::INTERNAL_ERROR).to_be_bytes());
        state.inject.borrow_mut().extend_from_slice(&frame);
        if let Some(w) = state.task.borrow().as_ref() {
            w.wake_by_ref();
        }
    }
}

impl Link {
    /// The connection's local address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared.local
    }

    /// The TLS facts of the connection, on TLS.
    pub fn tls_facts(&self) -> Option<&Arc<fulcrum_tls::Facts>> {
        self.shared.tls.as_ref()
    }

    /// Sends `req` as a new stream and waits for the final response head; interim responses go to `client`. The
    /// request body is streamed meanwhile, and after it by the response body ([`H2Stream`]). A protocol upgrade
    /// goes as an extended CONNECT (RFC 8441) when the server allows it (else the stream is refused with
    /// RST_STREAM, as HAProxy does, and the request gets a 502); the server's `2xx` comes back as a `101`.
    pub async fn send(
        &mut self,
        req: Request<ReqBody>,
        client: Option<&super::interim::Client>,
    ) -> Result<(Exchange, H2Stream), SendError> {
        let link = &mut self.shared;
        let slot = match self.reserved.take() {
            Some(s) => s,
            None => StreamSlot::take(&link.state),
        };
        if let Err(e) = poll_fn(|cx| link.send.poll_ready(cx)).await {
            link.state.closed.set(true);
            return Err(SendError::Unsent(
                Box::new(req),
                io::Error::new(io::ErrorKind::ConnectionAborted, e),
            ));
        }
        let head_request = req.method() == Method::HEAD;
        let (mut parts, body) = req.into_parts();
        let ws_key = parts.headers.get(http::header::SEC_WEBSOCKET_KEY).cloned();
        let protocol = fulcrum_http::h2map::extended_connect_to_h2(&mut parts);
        match &protocol {
            None => fulcrum_http::h2map::request_to_h2(&mut parts),
            Some(p) => {
                // Whether the server takes extended CONNECT is known from its SETTINGS.
                let state = link.state.clone();
                while !state.settings_known.get() {
                    let woken = state.settings_wait.notified();
                    if state.settings_known.get() {
                        break;
                    }
                    woken.await;
                }
                if !link.send.is_extended_connect_protocol_enabled() || state.closed.get() {
                    debug!("the server does not take extended CONNECT: the upgrade is refused");
                    link.refuse_next_stream();
                    drop(slot);
                    return Err(SendError::Closed {
                        request: None,
                        response_started: false,
                    });
                }
                if let Ok(p) = std::str::from_utf8(p.as_bytes()) {
                    parts.extensions.insert(h2::ext::Protocol::from(p));
                }
            }
        }
        // The stream of an extended CONNECT carries the tunnel: it is not ended with the (empty) request body.
        let end = body.is_end_stream() && protocol.is_none();
        let h2req = Request::from_parts(parts, ());
        let (response, sender) = match link.send.send_request(h2req, end) {
            Ok(r) => r,
            Err(e) => {
                debug!(error = %e, "HTTP/2 request not sent to the server");
                link.state.closed.set(true);
                return Err(SendError::Closed {
                    request: None,
                    response_started: false,
                });
            }
        };
        let counted = H2StreamCount::start(&link.state.h2);
        let id = u32::from(response.stream_id());
        if id > link.state.last_stream.get() {
            link.state.last_stream.set(id);
        }
        let (mut upload, mut tunnel) = if protocol.is_some() {
            (None, Some(sender))
        } else {
            let upload = (!end).then(|| Upload {
                body,
                send: sender,
                pending: Bytes::new(),
                done: false,
            });
            (upload, None)
        };
        let mut response = response;
        // Interim responses (`103 Early Hints`...) on their way to the client, once one came.
        let mut interim: Option<super::interim::Interim> = None;
        let head = poll_fn(|cx| {
            while let Poll::Ready(Some(Ok(r))) = response.poll_informational(cx) {
                if r.status() != StatusCode::SWITCHING_PROTOCOLS {
                    let i = interim.get_or_insert_with(|| super::interim::Interim::new(client));
                    i.queue_status(r.status(), r.headers());
                }
            }
            if let Some(i) = &mut interim {
                // Best effort while the final response is awaited; finished before it goes out.
                let _ = i.poll_flush(cx);
            }
            if let Some(u) = &mut upload {
                match u.poll(cx) {
                    Poll::Ready(Ok(())) => upload = None,
                    Poll::Ready(Err(UploadError::Client(e))) => {
                        return Poll::Ready(Err(SendError::ClientBody(e)))
                    }
                    // The server may have answered already (and reset the stream): its answer is read.
                    Poll::Ready(Err(UploadError::Server)) => upload = None,
                    Poll::Pending => {}
                }
            }
            Pin::new(&mut response).poll(cx).map_err(|e| {
                debug!(error = %e, "HTTP/2 stream to the server failed");
                SendError::Closed {
                    request: None,
                    response_started: false,
                }
            })
        })
        .await?;
        if let Some(i) = &mut interim {
            i.flush().await;
        }
        link.state.proven.set(true);
        let (mut rparts, recv) = head.into_parts();
        if let (Some(p), Some(send)) = (&protocol, &mut tunnel) {
            if rparts.status.is_success() {
                // The server took the extended CONNECT: an HTTP/1.1 client is told the protocol switched, with
                // the accept key its WebSocket key calls for (as HAProxy answers it).
                rparts.status = StatusCode::SWITCHING_PROTOCOLS;
                fulcrum_http::h2map::strip_connection_specific(&mut rparts.headers);
                rparts.headers.remove(http::header::CONTENT_LENGTH);
                rparts.headers.insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("upgrade"),
                );
                if let Ok(v) = http::HeaderValue::from_str(p) {
                    rparts.headers.insert(http::header::UPGRADE, v);
                }
                if let Some(k) = &ws_key {
                    rparts.headers.insert(
                        http::header::SEC_WEBSOCKET_ACCEPT,
                        super::upgrade::websocket_accept(k.as_bytes()),
                    );
                }
            } else {
                // Refused: the stream ends with the answer.
                let _ = send.send_data(Bytes::new(), true);
                tunnel = None;
            }
        }
        let framing = if head_request
            || rparts.status == StatusCode::SWITCHING_PROTOCOLS
            || matches!(
                rparts.status,
                StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
            )
            || rparts.status.is_informational()
        {
            Framing::Empty
        } else {
            match rparts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
            {
                Some(n) => Framing::Length(n),
                None => Framing::Chunked,
            }
        };
        let mut headers = rparts.headers;
        if tunnel.is_none() {
            fulcrum_http::h2map::strip_connection_specific(&mut headers);
        }
        let bodiless = framing == Framing::Empty;
        let exchange = Exchange {
            head: ResponseHead {
                status: rparts.status,
                version: Version::HTTP_11,
                headers,
                framing,
                keep_alive: true,
                verbatim_headers: Vec::new(),
                reason: None,
            },
            request_complete: true,
        };
        Ok((
            exchange,
            H2Stream {
                recv: (!bodiless || !recv.is_end_stream() || tunnel.is_some()).then_some(recv),
                tunnel,
                upload,
                _slot: slot,
                _counted: counted,
                head_request: bodiless,
            },
        ))
    }
}

enum UploadError {
    Client(io::Error),
    Server,
}

/// A request body streamed to a server's stream as its windows open.
struct Upload {
    body: ReqBody,
    send: SendStream<Bytes>,
    /// Bytes read from the client and not yet sent.
    pending: Bytes,
    done: bool,
}

impl Upload {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), UploadError>> {
        loop {
            if !self.pending.is_empty() {
                self.send.reserve_capacity(self.pending.len());
                let granted = match self.send.capacity() {
                    0 => match ready!(self.send.poll_capacity(cx)) {
                        Some(Ok(n)) => n,
                        _ => return Poll::Ready(Err(UploadError::Server)),
                    },
                    n => n,
                };
                if granted == 0 {
                    continue;
                }
                let whole = granted >= self.pending.len();
                let piece = self.pending.split_to(granted.min(self.pending.len()));
                // The body's last bytes carry END_STREAM, as HAProxy sends them, rather than an empty DATA frame
                // after them.
                let last = whole && self.body.is_end_stream();
                if self.send.send_data(piece, last).is_err() {
                    return Poll::Ready(Err(UploadError::Server));
                }
                if last {
                    self.done = true;
                }
                continue;
            }
            if self.done {
                return Poll::Ready(Ok(()));
            }
            // A server that reset the stream takes no more.
            if self.send.poll_reset(cx).is_ready() {
                return Poll::Ready(Err(UploadError::Server));
            }
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.pending = data,
                    Err(frame) => {
                        if let Ok(mut trailers) = frame.into_trailers() {
                            fulcrum_http::h2map::strip_connection_specific(&mut trailers);
                            self.done = true;
                            if self.send.send_trailers(trailers).is_err() {
                                return Poll::Ready(Err(UploadError::Server));
                            }
                        }
                    }
                },
                Some(Err(e)) => {
                    self.send.send_reset(Reason::CANCEL);
                    return Poll::Ready(Err(UploadError::Client(e)));
                }
                None => {
                    self.done = true;
                    if self.send.send_data(Bytes::new(), true).is_err() {
                        return Poll::Ready(Err(UploadError::Server));
                    }
                }
            }
        }
    }
}

/// The response body of a stream (and what is left of its request body to send), with its trailers.
pub struct H2Stream {
    /// `None`: the response has no body.
    recv: Option<RecvStream>,
    /// The sending half of an extended CONNECT the server accepted: the stream carries a tunnel.
    tunnel: Option<SendStream<Bytes>>,
    upload: Option<Upload>,
    _slot: StreamSlot,
    _counted: H2StreamCount,
    /// The response has no body whatever the server sends (HEAD, 204, 304).
    head_request: bool,
}

impl H2Stream {
    /// The stream of an extended CONNECT the server accepted, to carry the tunnel (its place on the connection
    /// held while the tunnel lasts).
    pub fn into_tunnel(self) -> Option<super::tunnel::H2Half> {
        Some(super::tunnel::H2Half {
            send: self.tunnel?,
            recv: self.recv?,
            hold: Some(Box::new((self._slot, self._counted))),
        })
    }

    /// Whether the body has ended.
    pub fn is_end_stream(&self) -> bool {
        self.head_request || self.recv.as_ref().is_none_or(RecvStream::is_end_stream)
    }

    /// What is known of the body's length.
    pub fn size_hint(&self) -> SizeHint {
        if self.is_end_stream() {
            SizeHint::with_exact(0)
        } else {
            SizeHint::default()
        }
    }

    /// The next piece of the body, or its trailers.
    pub fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        if let Some(u) = &mut self.upload {
            match u.poll(cx) {
                Poll::Ready(Ok(())) | Poll::Ready(Err(UploadError::Server)) => self.upload = None,
                Poll::Ready(Err(UploadError::Client(e))) => {
                    self.upload = None;
                    self.recv = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Pending => {}
            }
        }
        if self.head_request {
            return Poll::Ready(None);
        }
        let Some(recv) = &mut self.recv else {
            return Poll::Ready(None);
        };
        if !recv.is_end_stream() {
            match ready!(recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => {
                    self.recv = None;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        e,
                    ))));
                }
                None => {}
            }
        }
        let trailers = ready!(recv.poll_trailers(cx));
        self.recv = None;
        match trailers {
            Ok(Some(t)) => Poll::Ready(Some(Ok(Frame::trailers(t)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                e,
            )))),
        }
    }
}

/// A server connection as the `h2` codec sees it: bytes read past the TLS handshake first, then the socket
/// (through its TLS session when it has one).
struct ServerIo {
    stream: TcpStream,
    tls: Option<Box<TlsClientSession>>,
    early: Bytes,
    /// How far the server's first frame has been read.
    first_frame: Rc<Cell<FirstFrame>>,
    /// Frames the proxy writes itself ([`Shared::refuse_next_stream`]), sent between the codec's frames.
    inject: Rc<RefCell<Vec<u8>>>,
    /// The frames both ways, for the backend's `h2` statistics.
    watch: H2Watch,
}

impl ServerIo {
    /// Notes bytes read from the server, until its first frame has been read whole.
    fn saw(&self, bytes: &[u8]) {
        let f = self.first_frame.get();
        if f != FirstFrame::Read {
            self.first_frame.set(f.advance(bytes));
        }
    }
}

impl AsyncRead for ServerIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        if !this.early.is_empty() {
            let n = this.early.len().min(buf.remaining());
            buf.put_slice(&this.early[..n]);
            this.early.advance(n);
        } else {
            // SAFETY: the bytes the read reports are initialised by it; `ReadBuf` tracks them.
            let spare = unsafe { buf.unfilled_mut() };
            let n = ready!(poll_read_server(&this.stream, &mut this.tls, cx, spare))?;
            // SAFETY: `poll_read_server` initialised the first `n` bytes of the unfilled part.
            unsafe { buf.assume_init(n) };
            buf.advance(n);
        }
        this.saw(&buf.filled()[before..]);
        this.watch.read(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ServerIo {
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
        let n = ready!(poll_write_server(&this.stream, &mut this.tls, cx, bufs))?;
        let mut left = n;
        for b in bufs {
            let k = left.min(b.len());
            this.watch.written(&b[..k]);
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

    // Writes reach the socket (TLS records included) before they return. The codec flushes only once all its
    // frames are written, so this is where frames of the proxy's own go out, whole, between two of the codec's.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let inject = this.inject.clone();
            let mut pending = inject.borrow_mut();
            if pending.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let n = ready!(poll_write_server(
                &this.stream,
                &mut this.tls,
                cx,
                &[io::IoSlice::new(&pending)]
            ))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            this.watch.written(&pending[..n]);
            pending.drain(..n);
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(t) = &mut this.tls {
            t.close(&this.stream);
        }
        let _ = socket2::SockRef::from(&this.stream).shutdown(std::net::Shutdown::Write);
        Poll::Ready(Ok(()))
    }
}

/// The way a request goes to its server: an HTTP/1.1 connection of its own, or a stream on an HTTP/2 one.
pub enum Upstream {
    /// HTTP/1.1.
    H1(ServerConn),
    /// HTTP/2; the stream once the request is sent.
    H2(Link, Option<H2Stream>),
}

impl Upstream {
    /// The connection's local address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Upstream::H1(c) => c.local_addr(),
            Upstream::H2(l, _) => l.local_addr(),
        }
    }

    /// The TLS facts of the connection, on TLS.
    pub fn tls_facts(&self) -> Option<&Arc<fulcrum_tls::Facts>> {
        match self {
            Upstream::H1(c) => c.tls_facts(),
            Upstream::H2(l, _) => l.tls_facts(),
        }
    }

    /// Sends the request and waits for the response head (see [`ServerConn::send`], [`Link::send`]).
    pub async fn send(
        &mut self,
        req: Request<ReqBody>,
        accept_invalid: bool,
        client: Option<&super::interim::Client>,
    ) -> Result<Exchange, SendError> {
        match self {
            Upstream::H1(c) => c.send(req, accept_invalid, client).await,
            Upstream::H2(l, stream) => {
                let (exchange, s) = l.send(req, client).await?;
                *stream = Some(s);
                Ok(exchange)
            }
        }
    }
}

impl From<ServerConn> for Upstream {
    fn from(c: ServerConn) -> Self {
        Upstream::H1(c)
    }
}
