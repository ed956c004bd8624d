//! Bytes relayed both ways between two streams in user space, with half-close passed through (EOF from one side
//! shuts down writing towards the other, the other direction goes on) and an idle limit: the relay of WebSocket
//! tunnels, and what the splice(2) pump of `mode tcp` falls back to where the kernel refuses splice(2).

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tracing::debug;

/// How a splice ended.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpliceEnd {
    /// Bytes read from the first stream (and written to the second).
    pub a_to_b: u64,
    /// Bytes read from the second stream.
    pub b_to_a: u64,
    /// The first stream failed (reset, broken pipe).
    pub a_failed: bool,
    /// The second stream failed.
    pub b_failed: bool,
    /// Nothing moved for the idle timeout.
    pub timed_out: bool,
}

/// Buffer of each direction of [`splice_bidirectional`]. Moving 1 MiB answers, tokio's default of 8 KiB needed about
/// 1.7 times the CPU per byte of 16 KiB (HAProxy's `tune.bufsize`); 32 KiB saved another third, but these buffers
/// live as long as the tunnel, idle or not, and tunnels (WebSocket) are mostly idle.
const COPY_BUF: usize = 16 * 1024;

/// Copies both ways until both directions ended, or until nothing moved for `idle`. For any pair of streams (such
/// as upgraded HTTP connections); two TCP sockets go through the splice(2) pump instead.
pub async fn splice_bidirectional<A, B>(a: &mut A, b: &mut B, idle: Option<Duration>) -> SpliceEnd
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let last = idle.map(|_| Rc::new(Cell::new(Instant::now())));
    let mut a = Activity::new(a, last.clone());
    let mut b = Activity::new(b, last.clone());
    let mut timed_out = false;
    {
        let copy = tokio::io::copy_bidirectional_with_sizes(&mut a, &mut b, COPY_BUF, COPY_BUF);
        tokio::pin!(copy);
        match (idle, &last) {
            (Some(idle), Some(last)) => loop {
                let deadline = last.get() + idle;
                tokio::select! {
                    _ = &mut copy => break,
                    _ = tokio::time::sleep_until(deadline) => {
                        if last.get() + idle <= Instant::now() {
                            debug!("tunnel idle timeout");
                            timed_out = true;
                            break;
                        }
                    }
                }
            },
            _ => {
                let _ = copy.await;
            }
        }
    }
    SpliceEnd {
        a_to_b: a.read,
        b_to_a: b.read,
        a_failed: a.failed,
        b_failed: b.failed,
        timed_out,
    }
}

/// Counts the bytes read from a stream, notes whether it failed, and records the time of the last byte moved
/// (when an idle timeout applies).
struct Activity<'a, T> {
    inner: &'a mut T,
    last: Option<Rc<Cell<Instant>>>,
    read: u64,
    failed: bool,
}

impl<'a, T> Activity<'a, T> {
    fn new(inner: &'a mut T, last: Option<Rc<Cell<Instant>>>) -> Self {
        Activity {
            inner,
            last,
            read: 0,
            failed: false,
        }
    }

    fn touch(&self) {
        if let Some(l) = &self.last {
            l.set(Instant::now());
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<'_, T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut *self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.read += n as u64;
            self.touch();
        }
        if let Poll::Ready(Err(_)) = polled {
            self.failed = true;
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Activity<'_, T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut *self.inner).poll_write(cx, buf);
        match polled {
            Poll::Ready(Ok(n)) if n > 0 => self.touch(),
            Poll::Ready(Err(_)) => self.failed = true,
            _ => {}
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}
