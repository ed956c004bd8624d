//! `mode tcp` when either side speaks TLS: the clear text of the client's TLS session (`bind ... ssl`) and/or of
//! the server's (`server ... ssl`) relayed through user space (splice cannot see inside TLS), with the same ending
//! reasons and byte counts as the clear-text relay. [`Clear`] is one side's way to its clear text.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::data::client_io::{poll_write_stream, shutdown_write};
use crate::net::relay::SpliceEnd;
use crate::net::tls_io::{TlsClientSession, TlsSession};

/// Buffer of each direction (HAProxy's `tune.bufsize`).
const BUF: usize = 16 * 1024;

/// How one side's clear text is read and written over its socket.
#[derive(Clone, Copy)]
pub enum Clear<'a> {
    /// The socket carries clear text.
    Plain,
    /// The client's TLS session (`bind ... ssl`).
    Front(&'a TlsSession),
    /// The server's TLS session (`server ... ssl`).
    Back(&'a RefCell<TlsClientSession>),
}

/// Views initialised bytes as possibly uninitialised ones (only initialised bytes are ever written into them).
fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: same layout; callers only write initialised bytes.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

impl Clear<'_> {
    /// Whether the side speaks TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Clear::Plain)
    }

    /// Reads clear text into `buf`; `Ok(0)` at the end of the stream.
    pub fn poll_read(
        &self,
        stream: &TcpStream,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self {
            Clear::Plain => loop {
                ready!(stream.poll_read_ready(cx))?;
                match stream.try_read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    r => return Poll::Ready(r),
                }
            },
            Clear::Front(t) => t.poll_read(stream, cx, as_uninit(buf)),
            Clear::Back(t) => t.borrow_mut().poll_read(stream, cx, as_uninit(buf)),
        }
    }

    /// Reads the clear text already there, without waiting (`WouldBlock` when there is none).
    pub fn try_read(&self, stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Clear::Plain => stream.try_read(buf),
            _ => {
                let mut cx = Context::from_waker(std::task::Waker::noop());
                match self.poll_read(stream, &mut cx, buf) {
                    Poll::Ready(r) => r,
                    Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                }
            }
        }
    }

    /// Writes clear text from `data`; returns how much was taken.
    pub fn poll_write(
        &self,
        stream: &TcpStream,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let slice = [io::IoSlice::new(data)];
        match self {
            Clear::Plain => poll_write_stream(stream, cx, data),
            Clear::Front(t) => t.poll_write(stream, cx, &slice),
            Clear::Back(t) => t.borrow_mut().poll_write(stream, cx, &slice),
        }
    }

    /// Writes all of `data`.
    pub async fn write_all(&self, stream: &TcpStream, data: &[u8]) -> io::Result<()> {
        let mut at = 0;
        while at < data.len() {
            match poll_fn(|cx| self.poll_write(stream, cx, &data[at..])).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => at += n,
            }
        }
        Ok(())
    }

    /// Ends the writing direction: `close_notify` on TLS, then the socket's write side shut down.
    pub fn shutdown(&self, stream: &TcpStream) {
        match self {
            Clear::Plain => {}
            Clear::Front(t) => t.close(stream),
            Clear::Back(t) => t.borrow_mut().close(stream),
        }
        let _ = shutdown_write(stream);
    }
}

/// Relays between the client (`client` read and written through `a`) and `server` (through `b`) until both
/// directions ended, one side failed, or nothing moved for `idle`.
pub async fn relay(
    client: &TcpStream,
    a: Clear<'_>,
    server: &TcpStream,
    b: Clear<'_>,
    idle: Option<Duration>,
) -> SpliceEnd {
    let last = Cell::new(Instant::now());
    let (a_to_b, b_to_a) = (Cell::new(0u64), Cell::new(0u64));
    let (a_failed, b_failed) = (Cell::new(false), Cell::new(false));
    let up = pump(client, a, &a_failed, server, b, &b_failed, &a_to_b, &last);
    let down = pump(server, b, &b_failed, client, a, &a_failed, &b_to_a, &last);
    let watchdog = async {
        match idle {
            None => std::future::pending().await,
            Some(limit) => loop {
                tokio::time::sleep_until(last.get() + limit).await;
                if last.get().elapsed() >= limit {
                    return;
                }
            },
        }
    };
    let both = async {
        // A direction that ends cleanly leaves the other running (half-close); a failure ends both, as in the
        // clear-text relay.
        let (mut up, mut down) = (std::pin::pin!(up), std::pin::pin!(down));
        let (mut up_done, mut down_done) = (false, false);
        while !(up_done && down_done) {
            tokio::select! {
                _ = &mut up, if !up_done => up_done = true,
                _ = &mut down, if !down_done => down_done = true,
            }
            if a_failed.get() || b_failed.get() {
                break;
            }
        }
    };
    let timed_out = tokio::select! {
        _ = both => false,
        _ = watchdog => true,
    };
    SpliceEnd {
        a_to_b: a_to_b.get(),
        b_to_a: b_to_a.get(),
        a_failed: a_failed.get(),
        b_failed: b_failed.get(),
        timed_out,
    }
}

/// One direction of [`relay`]: reads from `from` (whose failures set `from_failed`), writes to `to`, counting in
/// `count` and stamping `last` at each read; at the end of `from`, `to`'s write side is shut down.
#[allow(clippy::too_many_arguments)]
async fn pump(
    from: &TcpStream,
    src: Clear<'_>,
    from_failed: &Cell<bool>,
    to: &TcpStream,
    dst: Clear<'_>,
    to_failed: &Cell<bool>,
    count: &Cell<u64>,
    last: &Cell<Instant>,
) {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match poll_fn(|cx| src.poll_read(from, cx, &mut buf)).await {
            Ok(0) => {
                dst.shutdown(to);
                return;
            }
            Ok(n) => n,
            Err(_) => {
                from_failed.set(true);
                return;
            }
        };
        last.set(Instant::now());
        count.set(count.get() + n as u64);
        let mut at = 0;
        while at < n {
            match poll_fn(|cx| dst.poll_write(to, cx, &buf[at..n])).await {
                Ok(w) if w > 0 => at += w,
                _ => {
                    to_failed.set(true);
                    return;
                }
            }
        }
    }
}
