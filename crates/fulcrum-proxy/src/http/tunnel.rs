//! A connection that switched protocols (WebSocket) becomes a bidirectional byte tunnel.

use std::time::Duration;

use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::debug;

use crate::snapshot::ServerGuard;

/// Joins the client's upgraded connection, once hyper has switched it, to the server's socket. `early`: bytes the
/// server sent right after its 101 head, read along with it; they go to the client first.
pub fn spawn(
    client: OnUpgrade,
    server: TcpStream,
    early: Bytes,
    idle: Option<Duration>,
    guard: ServerGuard,
) {
    tokio::task::spawn_local(async move {
        let _guard = guard;
        let client = match client.await {
            Ok(c) => c,
            Err(e) => {
                debug!(error = %e, "upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut server = server;
        if !early.is_empty() {
            if let Err(e) = client.write_all(&early).await {
                debug!(error = %e, "tunnel ended before it started");
                return;
            }
        }
        crate::tcp::splice_bidirectional(&mut client, &mut server, idle).await;
    });
}
