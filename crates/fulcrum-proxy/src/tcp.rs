//! mode tcp: bytes forwarded both ways between the client and a server, with half-close passed through
//! (EOF from one side shuts down writing towards the other, the other direction goes on).

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::debug;

use crate::rules::http::ConnFacts;
use crate::select::RequestKey;
use crate::snapshot::{FrontendRt, ServerGuard};
use crate::worker::Worker;

/// Serves one tcp-mode client connection.
pub async fn serve_client(
    worker: Rc<Worker>,
    fe: Arc<FrontendRt>,
    mut client: TcpStream,
    peer: SocketAddr,
    local_port: u16,
) {
    let facts = ConnFacts {
        src: peer.ip(),
        dst_port: local_port,
    };
    let Some(be) = fe
        .rules
        .pick_backend(&facts)
        .or_else(|| fe.default_backend.clone())
    else {
        return;
    };
    let key = RequestKey::from_ip(peer.ip());
    let mut failures = 0u32;
    let mut previous: Option<usize> = None;
    let (mut server, guard) = loop {
        let server = match previous {
            Some(index) if !be.redispatch => be.servers[index].clone(),
            _ => match worker.pick(&be, &key, previous) {
                Some(s) => s,
                None => return,
            },
        };
        let guard = ServerGuard::new(server.clone());
        let connect = TcpStream::connect(server.addr);
        let result = match be.timeouts.connect {
            Some(t) => tokio::time::timeout(t, connect)
                .await
                .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
            None => connect.await,
        };
        match result {
            Ok(s) => break (s, guard),
            Err(e) => {
                debug!(server = %server.full_name, error = %e, "connect failed");
                failures += 1;
                if failures > be.retries {
                    return;
                }
                previous = Some(server.index);
            }
        }
    };
    let _guard = guard;
    let _ = server.set_nodelay(true);
    let idle = be
        .timeouts
        .tunnel
        .or(match (fe.timeouts.client, be.timeouts.server) {
            (Some(c), Some(s)) => Some(c.min(s)),
            (c, s) => c.or(s),
        });
    splice_bidirectional(&mut client, &mut server, idle).await;
}

/// Copies both ways until both directions ended, or until nothing moved for `idle`.
pub async fn splice_bidirectional<A, B>(a: &mut A, b: &mut B, idle: Option<Duration>)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let Some(idle) = idle else {
        let _ = tokio::io::copy_bidirectional(a, b).await;
        return;
    };
    let last = Rc::new(Cell::new(Instant::now()));
    let mut a = Activity {
        inner: a,
        last: last.clone(),
    };
    let mut b = Activity {
        inner: b,
        last: last.clone(),
    };
    let copy = tokio::io::copy_bidirectional(&mut a, &mut b);
    tokio::pin!(copy);
    loop {
        let deadline = last.get() + idle;
        tokio::select! {
            _ = &mut copy => return,
            _ = tokio::time::sleep_until(deadline) => {
                if last.get() + idle <= Instant::now() {
                    debug!("tunnel idle timeout");
                    return;
                }
            }
        }
    }
}

/// Records the time of the last byte moved through a stream.
struct Activity<'a, T> {
    inner: &'a mut T,
    last: Rc<Cell<Instant>>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<'_, T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut *self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.last.set(Instant::now());
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
        if let Poll::Ready(Ok(n)) = polled {
            if n > 0 {
                self.last.set(Instant::now());
            }
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
