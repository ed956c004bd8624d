//! A client connection's socket and receive buffer, shared by the connection loop (`http::client`) and the body
//! of the request being served (`http::client_body`): every byte read or written goes through here, so the
//! frontend's byte counters, the access log's byte counts and the idle clock stay exact.
//!
//! The receive buffer holds what was read past the current request head: its body, then any pipelined request.
//! It is released while the connection is parked.

use std::cell::{Cell, RefCell};
use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::data::http_log::ConnLog;
use crate::model::counters::coarse_ms;
use crate::model::snapshot::FrontendRt;
use crate::net::tls_io::TlsSession;

/// Room kept free in the receive buffer before a read.
const READ_MIN: usize = 4 * 1024;
/// Size of a fresh receive buffer.
const READ_INITIAL: usize = 4 * 1024;

/// A client connection.
pub struct ClientIo {
    stream: TcpStream,
    st: IoState,
}

/// What a client connection holds besides its socket, kept as it is while the connection is parked
/// ([`ClientIo::park`]).
struct IoState {
    /// The TLS session, on a `bind ... ssl` listener.
    tls: Option<Box<TlsSession>>,
    fe: Arc<FrontendRt>,
    log: Option<Arc<ConnLog>>,
    /// Bytes read and not yet consumed.
    rbuf: RefCell<BytesMut>,
    /// The client closed its sending side (or reset the connection).
    eof: Cell<bool>,
    /// `silent-drop`: nothing more is sent, not even a FIN ([`ClientIo::forget`]).
    forgotten: Cell<bool>,
    /// Requests received so far.
    requests: Cell<u64>,
    /// [`coarse_ms`] at the last byte read or written.
    last_activity_ms: Cell<u64>,
    /// The PROXY protocol header the connection started with (`accept-proxy`).
    proxied: Option<Box<crate::net::proxy_header::Received>>,
    /// The connection speaks HTTP/1 and is counted in the frontend's `h1` statistics ([`ClientIo::count_h1`]).
    h1: Cell<bool>,
}

impl IoState {
    /// Counts the connection in (or out of) the frontend's `h1` statistics, once each way.
    fn set_h1(&self, h1: bool) {
        if h1 == self.h1.replace(h1) {
            return;
        }
        if h1 {
            self.fe.stats.h1.conns.opened();
        } else {
            self.fe.stats.h1.conns.closed();
        }
    }

    /// Drops an empty receive buffer's memory.
    fn release_rbuf(&self) {
        let mut b = self.rbuf.borrow_mut();
        if b.is_empty() {
            *b = BytesMut::new();
        }
    }
}

impl Drop for IoState {
    fn drop(&mut self) {
        self.set_h1(false);
    }
}

/// An idle client connection taken out of the reactor (its socket registered nowhere), waiting in the worker's
/// parking lot with no buffer: [`ClientIo::park`], [`ParkedIo::resume`].
pub struct ParkedIo {
    stream: std::net::TcpStream,
    st: IoState,
}

impl ParkedIo {
    /// The socket's descriptor, for the parking lot to watch.
    pub fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.stream.as_raw_fd()
    }

    /// Registers the socket with the reactor again. On failure the connection is closed.
    ///
    /// The lot resumes a connection whose socket became readable: that counts as activity, so the connection is
    /// not parked again before the reactor, which learns of the readiness at its next turn, lets it read.
    pub fn resume(self) -> io::Result<ClientIo> {
        self.st.last_activity_ms.set(coarse_ms());
        Ok(ClientIo {
            stream: TcpStream::from_std(self.stream)?,
            st: self.st,
        })
    }

    /// Ends a parked connection as [`ClientIo::finish`] ends a served one, without registering its socket with
    /// the reactor again.
    pub fn finish(self) {
        if let Some(tls) = &self.st.tls {
            tls.close_parked(&self.stream);
        }
        let _ = shutdown_write(&self.stream);
        drain(|buf| io::Read::read(&mut &self.stream, buf));
    }
}

impl ClientIo {
    /// Wraps an accepted connection of `fe`.
    pub fn new(
        stream: TcpStream,
        tls: Option<Box<TlsSession>>,
        fe: Arc<FrontendRt>,
        log: Option<Arc<ConnLog>>,
    ) -> Self {
        ClientIo {
            stream,
            st: IoState {
                tls,
                fe,
                log,
                rbuf: RefCell::new(BytesMut::new()),
                eof: Cell::new(false),
                h1: Cell::new(false),
                forgotten: Cell::new(false),
                requests: Cell::new(0),
                last_activity_ms: Cell::new(coarse_ms()),
                proxied: None,
            },
        }
    }

    /// Takes an idle connection out of the reactor, its receive buffer released: parked, it holds no buffer and
    /// no registration. On failure the connection is closed.
    pub fn park(self) -> io::Result<ParkedIo> {
        let ClientIo { stream, st } = self;
        st.release_rbuf();
        Ok(ParkedIo {
            stream: stream.into_std()?,
            st,
        })
    }

    /// Records the PROXY protocol header the connection started with.
    pub fn with_proxied(
        mut self,
        proxied: Option<Box<crate::net::proxy_header::Received>>,
    ) -> Self {
        self.st.proxied = proxied;
        self
    }

    /// The PROXY protocol header the connection started with, if any.
    pub fn proxied(&self) -> Option<&crate::net::proxy_header::Received> {
        self.st.proxied.as_deref()
    }

    /// The address the client connected to: the PROXY header's when it gave one, else the socket's (a system
    /// call).
    pub fn dst(&self) -> Option<std::net::SocketAddr> {
        self.proxied()
            .and_then(|p| p.dst())
            .or_else(|| self.stream.local_addr().ok())
    }

    /// `silent-drop`: the connection ends without a word to the client, not even a FIN.
    pub fn forget(&self) {
        self.st.forgotten.set(true);
        crate::net::silent_drop::forget(&self.stream);
    }

    /// The connection's socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// The connection's socket, to hand it to a tunnel; `None` under TLS (the bytes must go through the session).
    pub fn stream_mut(&mut self) -> Option<&mut TcpStream> {
        match self.st.tls {
            None => Some(&mut self.stream),
            Some(_) => None,
        }
    }

    /// The TLS session, when the connection has one.
    pub fn tls(&self) -> Option<&TlsSession> {
        self.st.tls.as_deref()
    }

    /// The receive buffer (bytes read and not consumed yet).
    pub fn rbuf(&self) -> std::cell::RefMut<'_, BytesMut> {
        self.st.rbuf.borrow_mut()
    }

    /// Whether bytes are waiting in the receive buffer.
    pub fn has_buffered(&self) -> bool {
        !self.st.rbuf.borrow().is_empty() || self.st.tls.as_ref().is_some_and(|t| t.has_plaintext())
    }

    /// Releases the receive buffer (the connection is idle and holds no unread byte).
    pub fn release_buffers(&self) {
        self.st.release_rbuf();
    }

    /// Whether the client has closed its sending side.
    pub fn eof(&self) -> bool {
        self.st.eof.get()
    }

    /// Counts a request received on the connection.
    pub fn count_request(&self) {
        self.st.requests.set(self.st.requests.get() + 1);
    }

    /// Requests received on the connection so far.
    pub fn requests(&self) -> u64 {
        self.st.requests.get()
    }

    /// When the connection last moved a byte (to within a few milliseconds).
    pub fn last_activity(&self) -> Instant {
        let ago = coarse_ms().saturating_sub(self.st.last_activity_ms.get());
        Instant::now() - std::time::Duration::from_millis(ago)
    }

    fn touch(&self) {
        self.st.last_activity_ms.set(coarse_ms());
    }

    /// Reads more bytes into the receive buffer, at most about `max`. `Ok(0)`: the client closed its side.
    pub fn poll_fill(&self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<usize>> {
        let mut buf = self.st.rbuf.borrow_mut();
        if buf.capacity() - buf.len() < READ_MIN {
            buf.reserve(READ_INITIAL.max(max.min(256 * 1024)));
        }
        let spare = buf.spare_capacity_mut();
        let want = spare.len().min(max.max(READ_MIN));
        let read = match &self.st.tls {
            None => poll_recv(&self.stream, cx, &mut spare[..want]),
            Some(tls) => tls.poll_read(&self.stream, cx, &mut spare[..want]),
        };
        let n = match ready!(read) {
            Ok(n) => n,
            Err(e) => {
                self.st.eof.set(true);
                return Poll::Ready(Err(e));
            }
        };
        let len = buf.len() + n;
        // SAFETY: `poll_recv` initialised the first `n` bytes of the spare capacity.
        unsafe { buf.set_len(len) };
        if n == 0 {
            self.st.eof.set(true);
        } else {
            self.counted_in(n);
            if self.st.h1.get() {
                self.st.fe.stats.h1.received(n);
            }
        }
        Poll::Ready(Ok(n))
    }

    /// Counts `n` bytes read from the client.
    fn counted_in(&self, n: usize) {
        self.touch();
        self.st.fe.stats.bytes_in.fetch_add(n as u64, Relaxed);
        if let Some(l) = &self.st.log {
            l.on_read(n);
        }
    }

    /// From now on the connection speaks HTTP/1 (`true`: it is counted among the frontend's open `h1`
    /// connections and its bytes in the `h1` statistics) or no longer does (it switched to HTTP/2).
    pub fn count_h1(&self, h1: bool) {
        self.st.set_h1(h1);
    }

    /// Counts a request starting on an HTTP/1 connection in the frontend's `h1` statistics, until the returned
    /// guard is dropped.
    pub fn h1_stream(&self) -> Option<H1Stream> {
        self.st
            .h1
            .get()
            .then(|| H1Stream::start(&self.st.fe.stats.h1))
    }

    /// Reads more bytes into the receive buffer (see [`ClientIo::poll_fill`]).
    pub async fn fill(&self, max: usize) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx, max)).await
    }

    /// Writes from `bufs` once the socket is writable; returns how many bytes went out.
    pub fn poll_write(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let n = match &self.st.tls {
            None => ready!(poll_write_vectored_stream(&self.stream, cx, bufs))?,
            Some(tls) => ready!(tls.poll_write(&self.stream, cx, bufs))?,
        };
        self.wrote(n);
        Poll::Ready(Ok(n))
    }

    /// Whether response bodies may go to this client straight from a server's socket (splice(2)): clear text,
    /// and not turned off (`nosplice`).
    pub fn splices(&self) -> bool {
        self.st.tls.is_none() && self.st.fe.splice && crate::net::splice::available()
    }

    /// Counts `n` bytes read from the socket without passing through the receive buffer (spliced to a server).
    pub fn read_spliced(&self, n: usize) {
        self.counted_in(n);
        if self.st.h1.get() {
            self.st.fe.stats.h1.spliced_in(n);
        }
    }

    /// Counts `n` bytes written to the socket by [`ClientIo::poll_write`].
    pub fn wrote(&self, n: usize) {
        self.counted_out(n);
        if self.st.h1.get() {
            self.st.fe.stats.h1.sent(n);
        }
    }

    /// Counts `n` bytes spliced to the socket from a server.
    pub fn wrote_spliced(&self, n: usize) {
        self.counted_out(n);
        if self.st.h1.get() {
            self.st.fe.stats.h1.spliced_out(n);
        }
    }

    fn counted_out(&self, n: usize) {
        self.touch();
        self.st.fe.stats.bytes_out.fetch_add(n as u64, Relaxed);
        if let Some(l) = &self.st.log {
            l.on_written(n);
        }
    }

    /// About how many more bytes the kernel would take on this connection's socket now: half its send buffer
    /// (the kernel counts its own bookkeeping against the buffer too) less what is queued and not yet
    /// acknowledged. The response writer reads no more from a server than this, so a client that stops reading
    /// pins little memory here; 0 when the socket cannot be asked.
    pub fn send_room(&self) -> usize {
        use std::os::fd::AsRawFd;
        let Ok(sndbuf) = socket2::SockRef::from(&self.stream).send_buffer_size() else {
            return 0;
        };
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCOUTQ writes one c_int into memory owned by this frame.
        let ok = unsafe {
            libc::ioctl(
                self.stream.as_raw_fd(),
                libc::TIOCOUTQ,
                &mut queued as *mut libc::c_int,
            ) == 0
        };
        if !ok {
            return 0;
        }
        (sndbuf / 2).saturating_sub(usize::try_from(queued).unwrap_or(0))
    }

    /// Writes all of `parts`, in order.
    pub async fn write_all(&self, parts: &[&[u8]]) -> io::Result<()> {
        let mut at = 0usize;
        let total: usize = parts.iter().map(|p| p.len()).sum();
        std::future::poll_fn(|cx| {
            while at < total {
                let mut slices = [io::IoSlice::new(&[]); 16];
                let mut count = 0;
                let mut skip = at;
                for p in parts {
                    if skip >= p.len() {
                        skip -= p.len();
                        continue;
                    }
                    if count == slices.len() {
                        break;
                    }
                    slices[count] = io::IoSlice::new(&p[skip..]);
                    skip = 0;
                    count += 1;
                }
                let n = ready!(self.poll_write(cx, &slices[..count]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                at += n;
            }
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Resolves once the client has closed its side of the connection (or reset it). While bytes the client sent
    /// wait unread (a request body being streamed, a pipelined request), a close behind them cannot be seen: this
    /// then never resolves.
    pub async fn closed(&self) {
        use std::os::fd::AsRawFd;
        if self.st.eof.get() {
            return;
        }
        if self.has_buffered() {
            return std::future::pending().await;
        }
        let fd = self.stream.as_raw_fd();
        loop {
            if self.stream.readable().await.is_err() {
                return;
            }
            let peeked = self.stream.try_io(tokio::io::Interest::READABLE, || {
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
            match peeked {
                Ok(0) => return,
                Ok(_) => std::future::pending::<()>().await,
                // The readiness was stale (and is now cleared): wait again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Ends what the proxy sends (`close_notify` under TLS, then a FIN) while still reading what the client sends.
    pub fn shutdown_write(&self) {
        if let Some(tls) = &self.st.tls {
            tls.close(&self.stream);
        }
        let _ = shutdown_write(&self.stream);
    }

    /// Ends the connection: the write side is shut down (the client sees the end of what was sent), then what the
    /// client sent meanwhile is read and dropped when it is already there, so that closing does not reset the
    /// connection under a response still in flight.
    pub fn finish(&self) {
        if self.st.forgotten.get() {
            return;
        }
        if let Some(tls) = &self.st.tls {
            tls.close(&self.stream);
        }
        let _ = shutdown_write(&self.stream);
        drain(|buf| self.stream.try_read(buf));
    }
}

/// Reads and drops what a closing client has already sent (at most 64 KiB, without waiting), so that closing does
/// not reset the connection under a response still in flight.
fn drain(mut read: impl FnMut(&mut [u8]) -> io::Result<usize>) {
    let mut scratch = [0u8; 4096];
    for _ in 0..16 {
        match read(&mut scratch) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
}

/// Writes `buf` to `stream` once it is writable (send(2)).
pub(crate) fn poll_write_stream(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    loop {
        ready!(stream.poll_write_ready(cx))?;
        match stream.try_write(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return Poll::Ready(r),
        }
    }
}

/// Writes `bufs` to `stream` once it is writable: one non-empty buffer with send(2), which is cheaper, several
/// with writev(2).
pub(crate) fn poll_write_vectored_stream(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    bufs: &[io::IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let mut filled = bufs.iter().filter(|b| !b.is_empty());
    let first = filled.next().map_or(&[][..], |b| &b[..]);
    if filled.next().is_none() {
        return poll_write_stream(stream, cx, first);
    }
    loop {
        ready!(stream.poll_write_ready(cx))?;
        match stream.try_write_vectored(bufs) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return Poll::Ready(r),
        }
    }
}

/// Shuts down the writing side of `stream`; a socket the peer already reset counts as shut down.
pub(crate) fn shutdown_write(stream: &impl std::os::fd::AsFd) -> io::Result<()> {
    match socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write) {
        Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e),
        _ => Ok(()),
    }
}

/// Reads from `stream` into `buf` once it is readable.
///
/// A read that returns fewer bytes than asked for has emptied the socket's receive queue, so it also clears the
/// stream's readiness: the next read then waits for the reactor instead of first making a `recv` that fails with
/// EAGAIN (tokio does the same in its own `AsyncRead`, which a shared stream cannot use). Bytes arriving after the
/// read raise a new edge-triggered event, so no wake-up is lost.
pub(crate) fn poll_recv(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> Poll<io::Result<usize>> {
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    loop {
        ready!(stream.poll_read_ready(cx))?;
        let mut short = None;
        let result = stream.try_io(tokio::io::Interest::READABLE, || {
            // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let n = n as usize;
            if n > 0 && n < buf.len() {
                // Report "would block" to tokio so that it clears the readiness; the bytes are kept in `short`.
                short = Some(n);
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        });
        match (result, short) {
            (_, Some(n)) => return Poll::Ready(Ok(n)),
            (Ok(n), None) => return Poll::Ready(Ok(n)),
            (Err(e), None) if e.kind() == io::ErrorKind::WouldBlock => continue,
            (Err(e), None) if e.kind() == io::ErrorKind::Interrupted => continue,
            (Err(e), None) => return Poll::Ready(Err(e)),
        }
    }
}

/// A request in progress on an HTTP/1 client connection, counted in its frontend's `h1` statistics while held.
pub type H1Stream = crate::model::conn_gauges::OpenStream<crate::model::h1_stats::H1Counters>;
