//! The client connection as hyper sees it, over a shared `TcpStream`.
//!
//! hyper takes ownership of the IO it serves. Sharing the stream lets the proxy still write a response of its own
//! once hyper has given up on the connection (a 408 when the request head did not arrive in time), and tells
//! whether any request bytes arrived since the last response, so an idle keep-alive connection is closed silently.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::net::TcpStream;

/// A client connection shared between hyper and the proxy.
#[derive(Clone)]
pub struct ClientIo {
    stream: Arc<TcpStream>,
    /// Set when bytes were read since the last write: a request is partly received.
    pending_input: Arc<AtomicBool>,
}

impl ClientIo {
    /// Wraps an accepted connection.
    pub fn new(stream: TcpStream) -> Self {
        ClientIo {
            stream: Arc::new(stream),
            pending_input: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The underlying stream.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Whether request bytes arrived that no response has followed yet.
    pub fn has_pending_input(&self) -> bool {
        self.pending_input.load(Ordering::Relaxed)
    }

    /// Writes `bytes` completely, bypassing hyper (used once hyper has stopped serving the connection).
    pub async fn write_all_direct(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            self.stream.writable().await?;
            match self.stream.try_write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Read for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.stream.poll_read_ready(cx))?;
            // SAFETY: the cursor's unfilled part is handed to `try_read_buf`, which only writes into it and
            // returns how many bytes it initialised; the cursor is then advanced by exactly that count.
            let mut unfilled = unsafe { buf.as_mut() };
            match self.stream.try_read_buf(&mut unfilled) {
                Ok(n) => {
                    if n > 0 {
                        self.pending_input.store(true, Ordering::Relaxed);
                    }
                    // SAFETY: `n` bytes were just initialised by the read.
                    unsafe { buf.advance(n) };
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl Write for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_write(buf) {
                Ok(n) => {
                    self.pending_input.store(false, Ordering::Relaxed);
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_write_vectored(bufs) {
                Ok(n) => {
                    self.pending_input.store(false, Ordering::Relaxed);
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let sock = socket2::SockRef::from(self.stream.as_ref());
        match sock.shutdown(std::net::Shutdown::Write) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}
