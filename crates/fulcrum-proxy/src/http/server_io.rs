//! The socket of a connection to a server, as hyper's client reads and writes it.
//!
//! Like the client side ([`crate::client_io`]): a read that empties the receive queue clears the readiness (no
//! `recv` failing with EAGAIN before the next response), and a write of one buffer is a `send(2)` rather than a
//! `writev(2)` (a bodiless request is a single buffer).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::net::TcpStream;

use crate::client_io::{poll_recv, poll_write_stream, poll_write_vectored_stream, shutdown_write};

/// A connection to a server.
pub struct ServerIo(pub TcpStream);

impl Read for ServerIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: the cursor's unfilled part is handed to `recv`, which only writes into it and returns how many
        // bytes it initialised; the cursor is then advanced by exactly that count.
        let n = ready!(poll_recv(&self.0, cx, unsafe { buf.as_mut() }))?;
        // SAFETY: `n` bytes were just initialised by the read.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

impl Write for ServerIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_write_stream(&self.0, cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        poll_write_vectored_stream(&self.0, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(shutdown_write(&self.0))
    }
}
