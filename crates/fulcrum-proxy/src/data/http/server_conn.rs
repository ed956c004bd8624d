//! One HTTP/1.1 connection to a server, driven by the request task itself: the request head is written, the
//! request body streamed while the response head is awaited, and the response body then read by
//! the response body reader (`upstream_body.rs`). There is no separate task per server connection and no channel between
//! the request and its connection.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Method, Request};
use http_body::Body;
use tokio::io::Interest;
use tokio::net::TcpStream;

use fulcrum_tls::rustls::ClientConfig;
use std::sync::Arc;

use super::reqbody::ReqBody;
use crate::data::client_io::{poll_recv, poll_write_stream, poll_write_vectored_stream};
use crate::model::h1_stats::{H1Counters, H1Link};
use crate::net::tls_io::TlsClientSession;
use fulcrum_http::request_in::Verbatim;
use fulcrum_http::request_out::{self as request_head, BodyFraming};
use fulcrum_http::response_in::{self as response_head, HeadError, ResponseHead};

/// Room kept free in the read buffer before a read.
const READ_MIN: usize = 4 * 1024;
/// Size of a fresh read buffer.
const READ_INITIAL: usize = 8 * 1024;
/// A pooled connection's buffers larger than this are released while it is idle.
const IDLE_BUF_MAX: usize = 16 * 1024;

/// Why a connection to a server could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// `timeout connect` expired.
    #[error("connection timeout")]
    Timeout,
    /// The TCP connect failed (refused, unreachable...).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The TLS handshake failed (the server's certificate did not verify, no common version or cipher...).
    #[error("SSL handshake failure: {0}")]
    Tls(io::Error),
    /// `maxsslconn` TLS connections are open already: none was attempted.
    #[error("too many SSL connections")]
    SslLimit,
}

/// How a connection reaches its server.
#[derive(Debug, Clone, Copy)]
pub enum Route<'a> {
    /// A TCP connection to the server's address.
    Direct,
    /// The server's unix socket.
    Unix(&'a fulcrum_config::haproxy::UnixAddr),
    /// Through this SOCKS4 proxy (`socks4`).
    Socks4(SocketAddr),
}

impl<'a> Route<'a> {
    /// The route of a configured server.
    pub fn of(server: &'a fulcrum_config::haproxy::Server) -> Self {
        match (&server.unix, server.socks4) {
            (Some(u), _) => Route::Unix(u),
            (None, Some(via)) => Route::Socks4(via),
            (None, None) => Route::Direct,
        }
    }
}

/// TLS towards a server for one connection: the server's configuration and the name the connection is for.
pub struct TlsTarget<'a> {
    /// The server's TLS configuration.
    pub config: &'a Arc<ClientConfig>,
    /// The SNI sent (`sni` evaluated on the request); `None` sends none.
    pub sni: Option<Box<str>>,
    /// The process's TLS connections (`maxsslconn`).
    pub conns: &'a Arc<crate::model::ssl_conns::SslConns>,
    /// The backend and server the handshake is counted for.
    pub counted_for: (
        &'a crate::model::snapshot::BackendRt,
        &'a crate::model::server::ServerRt,
    ),
}

/// Why a request got no usable response head.
#[derive(thiserror::Error)]
pub enum SendError {
    /// The connection failed before the server could have seen anything: the request is handed back intact.
    #[error("request not sent: {1}")]
    Unsent(Box<Request<ReqBody>>, io::Error),
    /// The server closed or reset the connection before a complete response head. `request` is the request
    /// handed back when its body was empty (nothing of it was consumed); `response_started` tells whether any
    /// response byte had arrived.
    #[error("connection closed before a response head")]
    Closed {
        /// The request, when it can still be sent again.
        request: Option<Box<Request<ReqBody>>>,
        /// Whether part of a response had arrived.
        response_started: bool,
    },
    /// The response head is invalid.
    #[error("{0}")]
    Invalid(#[from] HeadError),
    /// Reading the request body from the client failed.
    #[error("client request body: {0}")]
    ClientBody(io::Error),
}

impl std::fmt::Debug for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SendError({self})")
    }
}

/// An HTTP/1.1 connection to a server.
pub struct ServerConn {
    stream: TcpStream,
    /// The TLS session, to an `ssl` server.
    tls: Option<Box<TlsClientSession>>,
    /// The SNI the TLS session was opened with: the connection only carries requests for that name.
    sni: Option<Box<str>>,
    /// Bytes read from the server and not yet consumed: the start of a response, or body bytes.
    pub(super) buf: BytesMut,
    /// A read larger than [`IDLE_BUF_MAX`] was made since the connection last went idle: `buf` may be the tail
    /// of a large allocation, which its small remaining capacity does not show and which it keeps alive.
    large_reads: bool,
    /// The request head being written; kept between requests to avoid an allocation per request.
    wbuf: Vec<u8>,
    /// Responses read to their end on this connection (`http-reuse aggressive` lets a client's first request use
    /// an idle connection only once it has carried two).
    pub(super) served: u32,
    /// The worker thread whose runtime the socket is registered with, once the connection has been idle in a
    /// pool; a connection taken by another thread goes back to that one's pool (`http::pool`).
    pub(super) home: Option<usize>,
    /// Its place in the backend's `h1` statistics ([`ServerConn::count_in`]).
    pub(super) h1: H1Link,
}

/// What a request sent on a connection got back.
pub struct Exchange {
    /// The final response head (interim 1xx responses other than 101 are passed on to the client, see `interim`).
    pub head: ResponseHead,
    /// False when the request body was not sent completely (the server answered first): the connection cannot
    /// carry another request.
    pub request_complete: bool,
}

impl ServerConn {
    /// Opens a connection to `addr`, within `timeout` when one is set; `proxy` is a PROXY protocol header
    /// written first (`send-proxy`), before the TLS handshake.
    pub async fn connect(
        addr: SocketAddr,
        timeout: Option<Duration>,
        tls: Option<TlsTarget<'_>>,
        proxy: &[u8],
    ) -> Result<Self, ConnectError> {
        Self::connect_via(
            addr,
            (Route::Direct, Default::default()),
            timeout,
            tls,
            proxy,
        )
        .await
    }

    /// [`ServerConn::connect`] along `route`: to a unix socket (`addr` then only names the server to TLS when it
    /// has no `sni`) or through a SOCKS4 proxy.
    pub async fn connect_via(
        addr: SocketAddr,
        route: (Route<'_>, crate::net::connect::Tuning),
        timeout: Option<Duration>,
        tls: Option<TlsTarget<'_>>,
        proxy: &[u8],
    ) -> Result<Self, ConnectError> {
        let connect = Self::connect_tls(addr, route, tls, proxy);
        match timeout {
            Some(t) => tokio::time::timeout(t, connect)
                .await
                .map_err(|_| ConnectError::Timeout)?,
            None => connect.await,
        }
    }

    /// The TCP connection, then the TLS handshake when `tls` is given (both within `timeout connect`, as
    /// HAProxy counts the handshake in the connection's set-up).
    async fn connect_tls(
        addr: SocketAddr,
        (route, tuning): (Route<'_>, crate::net::connect::Tuning),
        tls: Option<TlsTarget<'_>>,
        proxy: &[u8],
    ) -> Result<Self, ConnectError> {
        // Under `maxsslconn`, as HAProxy: a TLS connection over the limit is not even started.
        let counted = match &tls {
            Some(t) => Some(t.conns.try_take().ok_or(ConnectError::SslLimit)?),
            None => None,
        };
        let mut stream = match route {
            Route::Unix(u) => crate::net::unix::connect(u).await?,
            Route::Direct => crate::net::connect::tcp(addr, tuning).await?,
            Route::Socks4(via) => crate::net::socks4::connect(addr, Some(via), tuning).await?,
        };
        if !proxy.is_empty() {
            tokio::io::AsyncWriteExt::write_all(&mut stream, proxy).await?;
        }
        let (session, sni) = match tls {
            Some(t) => {
                let name = fulcrum_tls::client::server_name(t.sni.as_deref(), addr.ip());
                let session = TlsClientSession::connect(&stream, t.config.clone(), name).await;
                let (be, server) = t.counted_for;
                be.count_tls_handshake(server, session.as_ref().ok().map(|s| s.facts.resumed));
                let session = session.map_err(ConnectError::Tls)?;
                let session = match counted {
                    Some(c) => session.counted_as(c),
                    None => session,
                };
                (Some(Box::new(session)), t.sni)
            }
            None => (None, None),
        };
        Ok(ServerConn {
            stream,
            tls: session,
            sni,
            buf: BytesMut::new(),
            large_reads: false,
            wbuf: Vec::new(),
            served: 0,
            home: None,
            h1: H1Link::default(),
        })
    }

    /// Closes an idle connection the proxy no longer wants (its pool is full, the server moved), as HAProxy
    /// does: with a reset rather than a FIN, so the proxy's side keeps no TIME_WAIT socket on an ephemeral
    /// port. At `Connection: close` rates a graceful close here filled the local port range with TIME_WAIT
    /// sockets and made every new connection to a server search it. Safe because the connection is idle: its
    /// last response was read whole and nothing is in flight. A TLS connection is closed normally.
    pub fn discard(self) {
        if self.tls.is_none() && self.buf.is_empty() {
            let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        }
    }

    /// Counts the connection, its requests and its bytes in `counters` (its backend's `h1` statistics).
    pub fn count_in(&mut self, counters: &std::sync::Arc<H1Counters>) {
        self.h1 = H1Link::open(counters);
    }

    /// Whether an idle connection can take a request: the server has neither closed it nor sent anything since
    /// its last response. Costs no system call unless the socket was signalled readable.
    pub fn is_idle_usable(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let ready = self.stream.poll_read_ready(&mut cx);
        if let Some(tls) = &mut self.tls {
            // Records may have arrived (session tickets): the session reads and judges them.
            return !matches!(ready, Poll::Ready(Err(_))) && tls.is_idle_usable(&self.stream);
        }
        match ready {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            // Readable: a close, stray bytes, or only a readiness not yet cleared. A peek tells them apart.
            Poll::Ready(Ok(())) => {
                use std::os::fd::AsRawFd;
                let fd = self.stream.as_raw_fd();
                let peeked = self.stream.try_io(Interest::READABLE, || {
                    let mut byte = 0u8;
                    // SAFETY: one byte of valid, writable memory.
                    let n = unsafe {
                        libc::recv(
                            fd,
                            (&mut byte as *mut u8).cast(),
                            1,
                            libc::MSG_PEEK | libc::MSG_DONTWAIT,
                        )
                    };
                    if n < 0 {
                        Err(io::Error::last_os_error())
                    } else {
                        Ok(n)
                    }
                });
                matches!(peeked, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// What the TLS handshake with the server settled (`ssl_bc*`); `None` on clear text.
    pub fn tls_facts(&self) -> Option<&std::sync::Arc<fulcrum_tls::Facts>> {
        self.tls.as_ref().map(|t| &t.facts)
    }

    /// The socket, when bytes read from it are the response's own (clear text) and none wait in the buffer: what
    /// a body may be spliced from.
    pub(super) fn clear_socket(&self) -> Option<&TcpStream> {
        (self.tls.is_none() && self.buf.is_empty()).then_some(&self.stream)
    }

    /// The server name the TLS session was opened for.
    pub fn sni(&self) -> Option<&str> {
        self.sni.as_deref()
    }

    /// Whether the connection was opened for the server name `sni` (clear-text connections match any).
    pub fn serves_sni(&self, sni: Option<&str>) -> bool {
        self.tls.is_none() || self.sni.as_deref() == sni
    }

    /// `option srvtcpka`: the kernel's keep-alive probes on this connection.
    pub fn set_keepalive(&self) {
        let _ = socket2::SockRef::from(&self.stream).set_keepalive(true);
    }

    /// The connection's local address (logged as `%bi:%bp`); a system call, made only when asked.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.stream.local_addr().ok()
    }

    /// Releases large buffers before the connection waits in the pool.
    pub fn shrink_idle(&mut self) {
        if self.large_reads || self.buf.capacity() > IDLE_BUF_MAX {
            self.buf = BytesMut::new();
            self.large_reads = false;
        }
        if self.wbuf.capacity() > IDLE_BUF_MAX {
            self.wbuf = Vec::new();
        }
    }

    /// Sends `req` and waits for the final response head; interim responses go to `client`. The request body is
    /// streamed while the head is awaited, so a server answering before reading the whole body is seen at once. `accept_invalid`: the
    /// backend's `option accept-invalid-http-response`.
    pub async fn send(
        &mut self,
        req: Request<ReqBody>,
        accept_invalid: bool,
        client: Option<&super::interim::Client>,
    ) -> Result<Exchange, SendError> {
        let head_request = req.method() == Method::HEAD;
        let (parts, mut body) = req.into_parts();
        // An HTTP/1.1 client waiting for `100 Continue` gets this server's.
        let relay_continue = match (&mut body, client) {
            (ReqBody::Stream(b), Some(super::interim::Client::H1(_))) => b.relay_continue(),
            _ => false,
        };
        let has_body = !body.is_end_stream();
        let framing = request_head::body_framing(&parts.headers, has_body);
        self.wbuf.clear();
        // A request from an HTTP/2 client carries an absolute URI; the server is sent its origin form.
        let origin = fulcrum_http::h2map::sends_origin_form(&parts)
            .then(|| fulcrum_http::h2map::origin_form(&parts.uri));
        request_head::encode(
            &mut self.wbuf,
            &parts.method,
            origin.as_ref().unwrap_or(&parts.uri),
            parts.version,
            &parts.headers,
            framing,
            parts.extensions.get::<Verbatim>(),
        );
        if let Err(e) = write_all(&self.stream, &mut self.tls, &self.wbuf).await {
            return Err(SendError::Unsent(
                Box::new(Request::from_parts(parts, body)),
                e,
            ));
        }
        self.h1.stream_started();
        if let Some(c) = self.h1.counters() {
            c.sent(self.wbuf.len());
        }
        let mut writer = (has_body && framing != BodyFraming::None).then(|| BodyWriter {
            chunked: framing == BodyFraming::Chunked,
            pending: None,
            finished: false,
            splice: None,
        });
        let mut write_failed = false;
        let stream = &self.stream;
        let tls = &mut self.tls;
        let buf = &mut self.buf;
        let h1 = self.h1.counters();
        // Interim responses (`103 Early Hints`...) on their way to the client, once one came.
        let mut interim: Option<super::interim::Interim> = None;
        let read = poll_fn(|cx| {
            if let Some(i) = &mut interim {
                // Best effort while the final response is awaited; finished before it goes out.
                let _ = i.poll_flush(cx);
            }
            if let Some(w) = &mut writer {
                match w.poll_write(cx, (stream, h1), tls, &mut body) {
                    Poll::Ready(Ok(())) => writer = None,
                    Poll::Ready(Err(BodyWriteError::Client(e))) => {
                        return Poll::Ready(Err(SendError::ClientBody(e)))
                    }
                    // The server may still have answered (and closed): read what it sent.
                    Poll::Ready(Err(BodyWriteError::Server(e))) => {
                        tracing::debug!(error = %e, "request body not fully sent to the server");
                        write_failed = true;
                        writer = None;
                    }
                    Poll::Pending => {}
                }
            }
            loop {
                match ready!(poll_head(
                    (stream, h1),
                    tls,
                    buf,
                    cx,
                    head_request,
                    accept_invalid
                )) {
                    Ok(h) if super::interim::Interim::is_interim(&h) => {
                        let i = interim.get_or_insert_with(|| {
                            super::interim::Interim::new(client).passing_continue(relay_continue)
                        });
                        i.queue(&h);
                        let _ = i.poll_flush(cx);
                        continue;
                    }
                    other => return Poll::Ready(other),
                }
            }
        })
        .await;
        if let Some(i) = &mut interim {
            i.flush().await;
        }
        let request_complete = writer.is_none() && !write_failed;
        match read {
            Ok(head) => Ok(Exchange {
                head,
                request_complete,
            }),
            Err(SendError::Closed {
                response_started, ..
            }) => Err(SendError::Closed {
                request: (!has_body).then(|| Box::new(Request::from_parts(parts, ReqBody::Empty))),
                response_started,
            }),
            Err(e) => Err(e),
        }
    }

    /// Reads more bytes from the server into the buffer, at most `max`. `Ok(0)`: the server closed.
    pub(super) fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        self.large_reads |= max > IDLE_BUF_MAX;
        fill(
            (&self.stream, self.h1.counters()),
            &mut self.tls,
            &mut self.buf,
            cx,
            max,
        )
    }

    /// The socket, its TLS session and the bytes already read past the response head, for a protocol switch.
    pub fn into_upgraded(self) -> (TcpStream, Option<Box<TlsClientSession>>, Bytes) {
        (self.stream, self.tls, self.buf.freeze())
    }
}

/// Reads from the server: through its TLS session when it has one.
pub(crate) fn poll_read_server(
    stream: &TcpStream,
    tls: &mut Option<Box<TlsClientSession>>,
    cx: &mut Context<'_>,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> Poll<io::Result<usize>> {
    match tls {
        Some(t) => t.poll_read(stream, cx, buf),
        None => poll_recv(stream, cx, buf),
    }
}

/// Writes to the server: through its TLS session when it has one.
pub(crate) fn poll_write_server(
    stream: &TcpStream,
    tls: &mut Option<Box<TlsClientSession>>,
    cx: &mut Context<'_>,
    bufs: &[io::IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    match tls {
        Some(t) => t.poll_write(stream, cx, bufs),
        None => poll_write_vectored_stream(stream, cx, bufs),
    }
}

/// Reads from the server into `buf`, counting the bytes in the backend's `h1` statistics when given.
fn fill(
    (stream, h1): (&TcpStream, Option<&H1Counters>),
    tls: &mut Option<Box<TlsClientSession>>,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
    max: usize,
) -> Poll<io::Result<usize>> {
    if buf.capacity() - buf.len() < READ_MIN {
        buf.reserve(READ_INITIAL.max(max.min(256 * 1024)));
    }
    let spare = buf.spare_capacity_mut();
    let want = spare.len().min(max.max(READ_MIN));
    let n = ready!(poll_read_server(stream, tls, cx, &mut spare[..want]))?;
    // SAFETY: `poll_recv` initialised the first `n` bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n) };
    if let Some(c) = h1 {
        c.received(n);
    }
    Poll::Ready(Ok(n))
}

fn poll_head(
    stream: (&TcpStream, Option<&H1Counters>),
    tls: &mut Option<Box<TlsClientSession>>,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
    head_request: bool,
    accept_invalid: bool,
) -> Poll<Result<ResponseHead, SendError>> {
    loop {
        if !buf.is_empty() {
            match response_head::parse_with(buf, head_request, accept_invalid) {
                Ok(Some(h)) => return Poll::Ready(Ok(h)),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Err(SendError::Invalid(e))),
            }
        }
        match ready!(fill(stream, tls, buf, cx, READ_INITIAL)) {
            Ok(0) | Err(_) => {
                return Poll::Ready(Err(SendError::Closed {
                    request: None,
                    response_started: !buf.is_empty(),
                }))
            }
            Ok(_) => {}
        }
    }
}

async fn write_all(
    stream: &TcpStream,
    tls: &mut Option<Box<TlsClientSession>>,
    mut bytes: &[u8],
) -> io::Result<()> {
    poll_fn(|cx| {
        while !bytes.is_empty() {
            let n = match tls {
                Some(t) => ready!(t.poll_write(stream, cx, &[io::IoSlice::new(bytes)]))?,
                None => ready!(poll_write_stream(stream, cx, bytes))?,
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            bytes = &bytes[n..];
        }
        Poll::Ready(Ok(()))
    })
    .await
}

enum BodyWriteError {
    Client(io::Error),
    Server(io::Error),
}

/// Streams a request body to the server, chunking it when it has no length.
struct BodyWriter {
    chunked: bool,
    /// Bytes of the current piece still to write: chunk size line, data, CRLF.
    pending: Option<Pending>,
    finished: bool,
    /// The rest of the body on its way from the client's socket to the server's through a pipe
    /// (`option splice-request`).
    splice: Option<crate::net::splice::ExactPump>,
}

struct Pending {
    parts: [Bytes; 3],
    idx: usize,
}

impl Pending {
    fn advance(&mut self, mut n: usize) {
        while n > 0 && self.idx < 3 {
            let part = &mut self.parts[self.idx];
            let k = n.min(part.len());
            let _ = part.split_to(k);
            n -= k;
            if part.is_empty() {
                self.idx += 1;
            }
        }
        while self.idx < 3 && self.parts[self.idx].is_empty() {
            self.idx += 1;
        }
    }
}

impl BodyWriter {
    /// Splices what is left of a body of known length from the client's socket to the server's once none of it
    /// waits in the proxy (see [`ReqBody::splice_left`]); ready at once when the body is not spliced.
    fn poll_splice(
        &mut self,
        cx: &mut Context<'_>,
        (stream, h1): (&TcpStream, Option<&H1Counters>),
        body: &mut ReqBody,
    ) -> Poll<Result<(), BodyWriteError>> {
        use crate::net::splice::{ExactError, ExactPump};
        if self.splice.is_none() {
            self.splice = body.splice_left().map(|left| ExactPump::new(Some(left)));
        }
        let (Some(pump), Some(src)) = (&mut self.splice, body.splice_socket()) else {
            return Poll::Ready(Ok(()));
        };
        let mut moved = 0u64;
        let r = pump.poll_move(cx, src, stream, |n| moved += n as u64);
        let client_failed = matches!(
            r,
            Poll::Ready(Err(ExactError::Src | ExactError::SrcTimeout))
        );
        body.spliced(moved, client_failed);
        if let (Some(c), true) = (h1, moved > 0) {
            c.spliced_out(usize::try_from(moved).unwrap_or(usize::MAX));
        }
        let end = ready!(r);
        self.splice = None;
        Poll::Ready(match end {
            // The body is complete: the next frame says so.
            Ok(()) => Ok(()),
            Err(ExactError::Src | ExactError::SrcTimeout) => {
                Err(BodyWriteError::Client(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "client closed the connection before the end of its request body",
                )))
            }
            Err(ExactError::Dst | ExactError::DstTimeout) => {
                Err(BodyWriteError::Server(io::ErrorKind::BrokenPipe.into()))
            }
        })
    }

    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        (stream, h1): (&TcpStream, Option<&H1Counters>),
        tls: &mut Option<Box<TlsClientSession>>,
        body: &mut ReqBody,
    ) -> Poll<Result<(), BodyWriteError>> {
        loop {
            if let Some(p) = &mut self.pending {
                let mut slices = [io::IoSlice::new(&[]); 3];
                let mut count = 0;
                for part in p.parts[p.idx..].iter().filter(|b| !b.is_empty()) {
                    slices[count] = io::IoSlice::new(part);
                    count += 1;
                }
                let n = ready!(poll_write_server(stream, tls, cx, &slices[..count]))
                    .map_err(BodyWriteError::Server)?;
                if let Some(c) = h1 {
                    c.sent(n);
                }
                if n == 0 {
                    return Poll::Ready(Err(BodyWriteError::Server(
                        io::ErrorKind::WriteZero.into(),
                    )));
                }
                p.advance(n);
                if p.idx == 3 {
                    self.pending = None;
                }
                continue;
            }
            if self.finished {
                return Poll::Ready(Ok(()));
            }
            if !self.chunked && tls.is_none() {
                ready!(self.poll_splice(cx, (stream, h1), body))?;
            }
            match ready!(Pin::new(&mut *body).poll_frame(cx)) {
                Some(Ok(frame)) if frame.is_trailers() => {
                    // The request's trailer fields end a chunked body (without chunking there is nowhere to put
                    // them: dropped, as HAProxy does); the body ends with them.
                    self.finished = true;
                    if self.chunked {
                        let mut lines = Vec::new();
                        if let Ok(t) = frame.into_trailers() {
                            fulcrum_http::chunked::encode_trailers(&t, &mut lines);
                        }
                        lines.extend_from_slice(b"\r\n");
                        self.pending = Some(Pending {
                            parts: [
                                Bytes::from_static(b"0\r\n"),
                                Bytes::from(lines),
                                Bytes::new(),
                            ],
                            idx: 0,
                        });
                    }
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            self.pending = Some(if self.chunked {
                                Pending {
                                    parts: [
                                        Bytes::from(request_head::chunk_prefix(data.len())),
                                        data,
                                        Bytes::from_static(b"\r\n"),
                                    ],
                                    idx: 0,
                                }
                            } else {
                                Pending {
                                    parts: [data, Bytes::new(), Bytes::new()],
                                    idx: 0,
                                }
                            });
                        }
                    }
                }
                Some(Err(e)) => return Poll::Ready(Err(BodyWriteError::Client(e))),
                None => {
                    self.finished = true;
                    if self.chunked {
                        self.pending = Some(Pending {
                            parts: [
                                Bytes::from_static(request_head::LAST_CHUNK),
                                Bytes::new(),
                                Bytes::new(),
                            ],
                            idx: 0,
                        });
                    }
                }
            }
        }
    }
}
