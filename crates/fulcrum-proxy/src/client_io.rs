//! The client connection as hyper sees it, over a shared `TcpStream`, plus the connection's state that the proxy
//! needs beside hyper.
//!
//! hyper takes ownership of the IO it serves. Sharing the stream lets the proxy still write a response of its own
//! once hyper has given up on the connection (a 408 when the request head did not arrive in time). The shared
//! [`ConnState`] tells whether request bytes are waiting, how many requests are being served, and when the
//! connection last moved a byte, so an idle keep-alive connection can be closed after `timeout http-keep-alive`.
//!
//! hyper answers a request it cannot parse with a bare `400 Bad Request`. Such a response is the only thing hyper
//! writes while no request is being served, so [`ClientIo`] replaces it with the proxy's own error page.
//!
//! hyper also refuses any HTTP/1.0 request carrying `Transfer-Encoding`, which HAProxy accepts (as chunked, closing
//! the connection after the response, as RFC 9112 section 6.1 asks). The connection's first request head is
//! therefore looked at before hyper sees it ([`sniff_head`]): an HTTP/1.0 head with a `Transfer-Encoding` header
//! reaches hyper as HTTP/1.1, so that it goes through hyper's HTTP/1.1 framing rules (and the proxy's own checks of
//! the codings), and [`ConnState::take_http10_coded`] tells the request path to restore HTTP/1.0 and close.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::http::errors::ProxyError;

/// A client connection's socket and what the proxy tracks about it while hyper serves it (one allocation: an idle
/// connection keeps little else).
pub struct ConnState {
    stream: TcpStream,
    /// Requests received on the connection so far.
    requests: AtomicU64,
    /// Set when bytes were read since the last write: a request is partly received.
    pending_input: AtomicBool,
    /// Requests whose response is not completely written yet.
    active: AtomicU32,
    /// [`coarse_ms`] at the last byte read or written.
    last_activity_ms: AtomicU64,
    /// Set while hyper is being ended on an idle connection that stays open: its shutdown is then skipped.
    parking: AtomicBool,
    /// Set when the connection's first request head was HTTP/1.0 with `Transfer-Encoding` and reached hyper as
    /// HTTP/1.1 (see [`sniff_head`]).
    http10_coded: AtomicBool,
}

impl ConnState {
    fn touch(&self) {
        self.last_activity_ms.store(coarse_ms(), Ordering::Relaxed);
    }

    /// The connection's socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// When the connection last moved a byte (to within a few milliseconds).
    pub fn last_activity(&self) -> Instant {
        let ago = coarse_ms().saturating_sub(self.last_activity_ms.load(Ordering::Relaxed));
        Instant::now() - std::time::Duration::from_millis(ago)
    }

    /// Whether request bytes arrived that no response has followed yet.
    pub fn has_pending_input(&self) -> bool {
        self.pending_input.load(Ordering::Relaxed)
    }

    /// Marks hyper's end on this connection as a parking (the socket stays open) or not.
    pub fn set_parking(&self, parking: bool) {
        self.parking.store(parking, Ordering::Relaxed);
    }

    /// Counts a request received on the connection.
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests received on the connection so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Whether the request hyper has just parsed was an HTTP/1.0 head with `Transfer-Encoding` that reached hyper
    /// as HTTP/1.1; true once.
    pub fn take_http10_coded(&self) -> bool {
        self.http10_coded.swap(false, Ordering::Relaxed)
    }

    /// Resolves once the client has closed its side of the connection (or reset it). While bytes the client sent
    /// wait unread on the socket (a request body being streamed, a pipelined request), a close behind them cannot
    /// be seen: this then never resolves.
    pub async fn closed(&self) {
        use std::os::fd::AsRawFd;
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

    /// Whether the connection waits for a new request with nothing received and nothing being answered.
    pub fn is_idle(&self) -> bool {
        !self.has_pending_input() && self.active.load(Ordering::Acquire) == 0
    }
}

/// Milliseconds of the coarse monotonic clock: stamping every read and write with it costs a few nanoseconds, and
/// its resolution (a few milliseconds) is plenty for idle timeouts.
fn coarse_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into; CLOCK_MONOTONIC_COARSE exists on every Linux we run on.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Counts a request as being served until its response is completely written (it travels with the response body).
pub struct ActiveRequest(Arc<ConnState>);

impl ActiveRequest {
    /// Starts counting a request on `state`.
    pub fn new(state: Arc<ConnState>) -> Self {
        state.active.fetch_add(1, Ordering::AcqRel);
        ActiveRequest(state)
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.0.touch();
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where the replacement of an automatic error response stands.
enum Replacing {
    /// Nothing replaced: bytes go through.
    No,
    /// Writing the proxy's page; `.1` bytes of it are out (boxed: the connection is small while nothing is
    /// replaced).
    Writing(Box<(Vec<u8>, usize)>),
    /// The page is out; anything else hyper writes before closing is dropped.
    Done,
}

/// Where the look at the connection's first request head stands (see [`sniff_head`]).
enum Sniff {
    /// Bytes go straight to hyper.
    Off,
    /// The first request head is being received; the bytes held back from hyper so far (none while its request
    /// line is still incomplete in a single read, which is almost always).
    Head(Vec<u8>),
    /// The held bytes are being handed to hyper; `.1` of them are handed.
    Release(Vec<u8>, usize),
}

/// The most bytes of a first request head held back from hyper; a longer head goes to hyper as it is.
const SNIFF_LIMIT: usize = 64 * 1024;

/// A client connection shared between hyper and the proxy.
pub struct ClientIo {
    state: Arc<ConnState>,
    /// Progress of replacing hyper's bare error response by the proxy's error page.
    replacing: Replacing,
    /// The look at the connection's first request head.
    sniff: Sniff,
}

impl ClientIo {
    /// Wraps an accepted connection.
    pub fn new(stream: TcpStream) -> Self {
        ClientIo {
            state: Arc::new(ConnState {
                stream,
                requests: AtomicU64::new(0),
                pending_input: AtomicBool::new(false),
                active: AtomicU32::new(0),
                last_activity_ms: AtomicU64::new(coarse_ms()),
                parking: AtomicBool::new(false),
                http10_coded: AtomicBool::new(false),
            }),
            replacing: Replacing::No,
            sniff: Sniff::Off,
        }
    }

    /// Another handle on the same connection (for hyper, or for writing after hyper is done). On a connection
    /// that has received nothing yet, the handle looks at the first request head before handing it on.
    pub fn handle(&self) -> ClientIo {
        let fresh = self.state.requests() == 0 && !self.state.has_pending_input();
        ClientIo {
            state: self.state.clone(),
            replacing: Replacing::No,
            sniff: if fresh {
                Sniff::Head(Vec::new())
            } else {
                Sniff::Off
            },
        }
    }

    /// The connection's local address.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.state.stream.local_addr().ok()
    }

    /// The connection's shared state.
    pub fn state(&self) -> &Arc<ConnState> {
        &self.state
    }

    /// Writes `bytes` completely, bypassing hyper (used once hyper has stopped serving the connection).
    pub async fn write_all_direct(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            self.state.stream.writable().await?;
            match self.state.stream.try_write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn poll_write_bytes(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        poll_write_stream(&self.state.stream, cx, buf)
    }

    fn wrote(&self) {
        self.state.pending_input.store(false, Ordering::Relaxed);
        self.state.touch();
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
pub(crate) fn shutdown_write(stream: &TcpStream) -> io::Result<()> {
    match socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write) {
        Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e),
        _ => Ok(()),
    }
}

/// hyper's automatic answer to an unparsable request head, if `buf` is one: a 400, or a 431 for a head longer
/// than allowed, which HAProxy answers with 400 too. hyper's is a bare head (`content-length: 0`); the proxy's
/// own 400 pages carry a body.
fn automatic_error(buf: &[u8]) -> Option<ProxyError> {
    let rest = buf.strip_prefix(b"HTTP/1.1 ")?;
    if !matches!(rest.get(..3)?, b"400" | b"431") {
        return None;
    }
    let empty = b"\r\ncontent-length: 0\r\n";
    buf.windows(empty.len())
        .any(|w| w.eq_ignore_ascii_case(empty))
        .then_some(ProxyError::BadRequest)
}

/// What the start of a connection's first request head calls for.
#[derive(Debug, PartialEq, Eq)]
enum HeadSniff {
    /// Hand the bytes to hyper as they are.
    Pass,
    /// The request line, or the head of an HTTP/1.0 request, is not complete yet.
    NeedMore,
    /// An HTTP/1.0 head with a `Transfer-Encoding` header: the byte at this index (the `0` of `HTTP/1.0`) is to
    /// become `1`.
    Rewrite(usize),
}

/// Looks at the first bytes of a connection: whether they are an HTTP/1.0 request head with a
/// `Transfer-Encoding` header. Empty lines before the request line are skipped, as hyper does; a head longer than
/// [`SNIFF_LIMIT`] passes as it is.
fn sniff_head(buf: &[u8]) -> HeadSniff {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let more = if buf.len() >= SNIFF_LIMIT {
        HeadSniff::Pass
    } else {
        HeadSniff::NeedMore
    };
    let Some(eol) = buf[start..].iter().position(|&b| b == b'\n') else {
        return more;
    };
    let line_end = start + eol;
    let line = &buf[start..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !line.ends_with(b" HTTP/1.0") {
        return HeadSniff::Pass;
    }
    let digit = start + line.len() - 1;
    // The header lines, up to the empty line that ends the head.
    let mut at = line_end + 1;
    loop {
        let Some(eol) = buf[at..].iter().position(|&b| b == b'\n') else {
            return more;
        };
        let field = &buf[at..at + eol];
        let field = field.strip_suffix(b"\r").unwrap_or(field);
        if field.is_empty() {
            return HeadSniff::Pass;
        }
        let name = field.split(|&b| b == b':').next().unwrap_or(field);
        if field.len() > name.len() && name.eq_ignore_ascii_case(b"transfer-encoding") {
            return HeadSniff::Rewrite(digit);
        }
        at += eol + 1;
    }
}

impl ClientIo {
    /// Reads from the socket into `buf`, counting the bytes as request input.
    fn poll_read_socket(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(poll_recv(&self.state.stream, cx, buf))?;
        if n > 0 {
            self.state.pending_input.store(true, Ordering::Relaxed);
            self.state.touch();
        }
        Poll::Ready(Ok(n))
    }

    /// Reads while the connection's first request head is being looked at: bytes are held back from hyper until
    /// [`sniff_head`] has decided, then handed on (rewritten when it says so).
    fn poll_read_head(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let Sniff::Head(held) = &mut self.sniff else {
                return Poll::Ready(Ok(()));
            };
            // The cursor's free space serves as the read buffer; it is advanced only for bytes handed on.
            // SAFETY: `recv` only writes into the unfilled part and returns how many bytes it initialised.
            let unfilled = unsafe { buf.as_mut() };
            let n = ready!(poll_recv(&self.state.stream, cx, unfilled))?;
            // SAFETY: the first `n` bytes of the unfilled part were just initialised by the read, and
            // `MaybeUninit<u8>` has the layout of `u8`.
            let read = unsafe {
                &mut *(&mut unfilled[..n] as *mut [std::mem::MaybeUninit<u8>] as *mut [u8])
            };
            if n > 0 {
                self.state.pending_input.store(true, Ordering::Relaxed);
                self.state.touch();
            }
            if held.is_empty() {
                let verdict = if n == 0 {
                    HeadSniff::Pass
                } else {
                    sniff_head(read)
                };
                match verdict {
                    HeadSniff::NeedMore => held.extend_from_slice(read),
                    other => {
                        if let HeadSniff::Rewrite(i) = other {
                            read[i] = b'1';
                            self.state.http10_coded.store(true, Ordering::Relaxed);
                        }
                        self.sniff = Sniff::Off;
                        // SAFETY: `n` bytes were initialised by the read.
                        unsafe { buf.advance(n) };
                        return Poll::Ready(Ok(()));
                    }
                }
                continue;
            }
            held.extend_from_slice(read);
            let verdict = if n == 0 {
                HeadSniff::Pass
            } else {
                sniff_head(held)
            };
            match verdict {
                HeadSniff::NeedMore => continue,
                HeadSniff::Rewrite(i) => {
                    held[i] = b'1';
                    self.state.http10_coded.store(true, Ordering::Relaxed);
                }
                HeadSniff::Pass => {}
            }
            self.sniff = Sniff::Release(std::mem::take(held), 0);
            return self.poll_release(buf);
        }
    }

    /// Hands held bytes to hyper.
    fn poll_release(&mut self, buf: &mut ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        if let Sniff::Release(held, at) = &mut self.sniff {
            let n = buf.remaining().min(held.len() - *at);
            buf.put_slice(&held[*at..*at + n]);
            *at += n;
            if *at == held.len() {
                self.sniff = Sniff::Off;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl Read for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.sniff {
            Sniff::Off => {}
            Sniff::Head(_) => return this.poll_read_head(cx, &mut buf),
            Sniff::Release(..) => return this.poll_release(&mut buf),
        }
        // SAFETY: the cursor's unfilled part is handed to `recv`, which only writes into it and returns how many
        // bytes it initialised; the cursor is then advanced by exactly that count.
        let n = ready!(this.poll_read_socket(cx, unsafe { buf.as_mut() }))?;
        // SAFETY: `n` bytes were just initialised by the read.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
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

impl Write for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if matches!(this.replacing, Replacing::No) && this.state.active.load(Ordering::Acquire) == 0
        {
            if let Some(e) = automatic_error(buf) {
                this.replacing = Replacing::Writing(Box::new((e.raw_response(), 0)));
            }
        }
        loop {
            match &mut this.replacing {
                Replacing::No => break,
                Replacing::Writing(progress) => {
                    let (page, written) = &mut **progress;
                    let n = ready!(poll_write_stream(&this.state.stream, cx, &page[*written..]))?;
                    if n == 0 {
                        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                    }
                    *written += n;
                    if *written == page.len() {
                        this.replacing = Replacing::Done;
                    }
                }
                // hyper's own bytes count as written; it closes the connection after an automatic error.
                Replacing::Done => {
                    this.wrote();
                    return Poll::Ready(Ok(buf.len()));
                }
            }
        }
        let n = ready!(this.poll_write_bytes(cx, buf))?;
        this.wrote();
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        // A response whose body ended before hyper wrote it leaves no request counted as active: only hyper's
        // own error head needs the plain (replacing) path, everything else goes out in one vectored write.
        if !matches!(self.replacing, Replacing::No)
            || (self.state.active.load(Ordering::Acquire) == 0 && automatic_error(first).is_some())
        {
            return self.poll_write(cx, first);
        }
        let this = self.get_mut();
        let n = ready!(poll_write_vectored_stream(&this.state.stream, cx, bufs))?;
        this.wrote();
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.state.parking.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        Poll::Ready(shutdown_write(&self.state.stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_hypers_automatic_errors_only() {
        assert_eq!(
            automatic_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"),
            Some(ProxyError::BadRequest)
        );
        assert_eq!(
            automatic_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 90\r\n\r\n"),
            None
        );
        assert_eq!(
            automatic_error(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n"
            ),
            Some(ProxyError::BadRequest)
        );
        assert_eq!(automatic_error(b"HTTP/1.1 200 OK\r\n"), None);
        assert_eq!(automatic_error(b"4\r\nbody"), None);
        assert_eq!(automatic_error(b""), None);
    }

    #[test]
    fn sniffs_http10_heads_with_transfer_encoding() {
        let head = b"POST / HTTP/1.0\r\nHost: a\r\ntransfer-Encoding: chunked\r\n\r\n0\r\n";
        assert_eq!(sniff_head(head), HeadSniff::Rewrite(14));
        assert_eq!(head[14], b'0');
        // Leading empty lines, bare LF line ends.
        assert_eq!(
            sniff_head(b"\r\nGET / HTTP/1.0\nTransfer-Encoding: chunked\n\n"),
            HeadSniff::Rewrite(15)
        );
        // HTTP/1.1, or HTTP/1.0 without the header (a name that only contains it, a value that mentions it).
        assert_eq!(
            sniff_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            HeadSniff::Pass
        );
        assert_eq!(
            sniff_head(
                b"GET / HTTP/1.0\r\nX-Transfer-Encoding: a\r\nA: transfer-encoding:\r\n\r\n"
            ),
            HeadSniff::Pass
        );
        assert_eq!(
            sniff_head(b"GET / HTTP/1.0\r\ntransfer-encoding\r\n\r\n"),
            HeadSniff::Pass
        );
        // Incomplete: the request line, or an HTTP/1.0 head; an HTTP/1.1 head is decided by its request line.
        assert_eq!(sniff_head(b"POST / HTTP/1."), HeadSniff::NeedMore);
        assert_eq!(sniff_head(b"\r\n"), HeadSniff::NeedMore);
        assert_eq!(
            sniff_head(b"POST / HTTP/1.0\r\nHost: a\r\n"),
            HeadSniff::NeedMore
        );
        assert_eq!(sniff_head(b"POST / HTTP/1.1\r\nHo"), HeadSniff::Pass);
        // A head too long to hold passes as it is.
        let mut long = b"GET / HTTP/1.0\r\nX: ".to_vec();
        long.resize(SNIFF_LIMIT, b'a');
        assert_eq!(sniff_head(&long), HeadSniff::Pass);
        let mut line = b"GET /".to_vec();
        line.resize(SNIFF_LIMIT, b'a');
        assert_eq!(sniff_head(&line), HeadSniff::Pass);
    }
}
