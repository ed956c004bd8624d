//! A connection that switched protocols (WebSocket) becomes a bidirectional byte tunnel between the client and the
//! server, once the `101` head has reached the client.

use std::time::Duration;

use std::cell::RefCell;
use std::io;
use std::task::{ready, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::debug;

use super::server_conn::{poll_read_server, poll_write_server};
use crate::data::client_io::shutdown_write;
use crate::model::slot::ServerGuard;
use crate::net::tls_io::TlsClientSession;

/// The server side of a tunnel, waiting for the client's side.
pub struct Tunnel {
    server: TcpStream,
    /// The server connection's TLS session (`server ... ssl`): bytes then go through it.
    server_tls: Option<Box<TlsClientSession>>,
    /// Bytes the server sent right after its `101` head, read along with it; they go to the client first.
    early: Bytes,
    idle: Option<Duration>,
    /// Keeps the server counted (leastconn) while the tunnel lasts.
    _guard: ServerGuard,
}

impl Tunnel {
    /// The server's socket, what it sent past its `101` head, the tunnel's idle limit (`timeout tunnel`), and the
    /// server's place in its count.
    pub fn new(
        server: TcpStream,
        server_tls: Option<Box<TlsClientSession>>,
        early: Bytes,
        idle: Option<Duration>,
        guard: ServerGuard,
    ) -> Self {
        Tunnel {
            server,
            server_tls,
            early,
            idle,
            _guard: guard,
        }
    }

    /// Whether the bytes must be copied through user space (the server side is TLS): [`Tunnel::run_through`]
    /// then joins any client, [`Tunnel::run`] none.
    pub fn needs_copy(&self) -> bool {
        self.server_tls.is_some()
    }

    /// Joins `client` to the server until either side closes or the tunnel is idle too long. `client_early`:
    /// bytes the client sent after its request head, read along with it; they go to the server first.
    pub async fn run(mut self, client: &mut TcpStream, client_early: &[u8]) {
        if !self.early.is_empty() {
            if let Err(e) = client.write_all(&self.early).await {
                debug!(error = %e, "tunnel ended before it started");
                return;
            }
        }
        if !client_early.is_empty() {
            if let Err(e) = self.server.write_all(client_early).await {
                debug!(error = %e, "tunnel ended before it started");
                return;
            }
        }
        crate::net::relay::splice_bidirectional(client, &mut self.server, self.idle).await;
    }
}

impl Tunnel {
    /// Joins a client whose bytes go through its connection's TLS session, or a server whose bytes go through
    /// the server connection's, until either side closes or the tunnel is idle too long (copied through user
    /// space: splice cannot see clear text).
    pub async fn run_through(
        mut self,
        client: &crate::data::client_io::ClientIo,
        client_early: &[u8],
    ) {
        let stream = &self.server;
        let tls = RefCell::new(self.server_tls.take());
        if !self.early.is_empty() && client.write_all(&[&self.early]).await.is_err() {
            debug!("tunnel ended before it started");
            return;
        }
        if !client_early.is_empty() && write_server(stream, &tls, client_early).await.is_err() {
            debug!("tunnel ended before it started");
            return;
        }
        let last = std::cell::Cell::new(tokio::time::Instant::now());
        let upstream = async {
            loop {
                match client.fill(16 * 1024).await {
                    Ok(n) if n > 0 => {
                        last.set(tokio::time::Instant::now());
                        let chunk = client.rbuf().split().freeze();
                        if write_server(stream, &tls, &chunk).await.is_err() {
                            break;
                        }
                    }
                    _ => {
                        if let Some(t) = tls.borrow_mut().as_mut() {
                            t.close(stream);
                        }
                        let _ = shutdown_write(stream);
                        break;
                    }
                }
            }
        };
        let downstream = async {
            let mut buf = BytesMut::with_capacity(16 * 1024);
            loop {
                buf.clear();
                let read = std::future::poll_fn(|cx| {
                    poll_read_server(stream, &mut tls.borrow_mut(), cx, buf.spare_capacity_mut())
                })
                .await;
                match read {
                    Ok(n) if n > 0 => {
                        // SAFETY: the read initialised the first `n` bytes of the spare capacity.
                        unsafe { buf.set_len(n) };
                        last.set(tokio::time::Instant::now());
                        if client.write_all(&[&buf[..]]).await.is_err() {
                            break;
                        }
                    }
                    _ => break,
                }
            }
            client.shutdown_write();
        };
        let idle = async {
            match self.idle {
                None => std::future::pending().await,
                Some(limit) => loop {
                    tokio::time::sleep_until(last.get() + limit).await;
                    if last.get().elapsed() >= limit {
                        break;
                    }
                },
            }
        };
        tokio::select! {
            _ = async { tokio::join!(upstream, downstream) } => {}
            _ = idle => debug!("tunnel idle for its whole timeout"),
        }
    }
}

/// Writes all of `bytes` to the server of a tunnel (through its TLS session when it has one).
async fn write_server(
    stream: &TcpStream,
    tls: &RefCell<Option<Box<TlsClientSession>>>,
    mut bytes: &[u8],
) -> io::Result<()> {
    std::future::poll_fn(|cx| {
        while !bytes.is_empty() {
            let n = ready!(poll_write_server(
                stream,
                &mut tls.borrow_mut(),
                cx,
                &[io::IoSlice::new(bytes)]
            ))?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero)));
            }
            bytes = &bytes[n..];
        }
        Poll::Ready(Ok(()))
    })
    .await
}
