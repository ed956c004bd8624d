//! A connection that switched protocols (WebSocket) becomes a bidirectional byte tunnel between the client and the
//! server, once the `101` head has reached the client.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::debug;

use crate::slot::ServerGuard;

/// The server side of a tunnel, waiting for the client's side.
pub struct Tunnel {
    server: TcpStream,
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
        early: Bytes,
        idle: Option<Duration>,
        guard: ServerGuard,
    ) -> Self {
        Tunnel {
            server,
            early,
            idle,
            _guard: guard,
        }
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
        crate::relay::splice_bidirectional(client, &mut self.server, self.idle).await;
    }
}

impl Tunnel {
    /// Joins a client whose bytes go through its connection's TLS session to the server, until either side
    /// closes or the tunnel is idle too long (copied through user space: splice cannot see clear text).
    pub async fn run_through(mut self, client: &crate::client_io::ClientIo, client_early: &[u8]) {
        use tokio::io::AsyncReadExt;
        if !self.early.is_empty() && client.write_all(&[&self.early]).await.is_err() {
            debug!("tunnel ended before it started");
            return;
        }
        if !client_early.is_empty() && self.server.write_all(client_early).await.is_err() {
            debug!("tunnel ended before it started");
            return;
        }
        let last = std::cell::Cell::new(tokio::time::Instant::now());
        let (mut from_server, mut to_server) = self.server.split();
        let upstream = async {
            loop {
                match client.fill(16 * 1024).await {
                    Ok(n) if n > 0 => {
                        last.set(tokio::time::Instant::now());
                        let chunk = client.rbuf().split().freeze();
                        if to_server.write_all(&chunk).await.is_err() {
                            break;
                        }
                    }
                    _ => {
                        let _ = to_server.shutdown().await;
                        break;
                    }
                }
            }
        };
        let downstream = async {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match from_server.read(&mut buf).await {
                    Ok(n) if n > 0 => {
                        last.set(tokio::time::Instant::now());
                        if client.write_all(&[&buf[..n]]).await.is_err() {
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
