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
