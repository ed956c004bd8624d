//! A connection that switched protocols (WebSocket) becomes a bidirectional byte tunnel.

use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tracing::debug;

use crate::snapshot::ServerGuard;

/// Joins the client's and the server's upgraded connections once both sides have switched.
pub fn spawn(client: OnUpgrade, server: OnUpgrade, idle: Option<Duration>, guard: ServerGuard) {
    tokio::task::spawn_local(async move {
        let _guard = guard;
        let (client, server) = match tokio::try_join!(client, server) {
            Ok(pair) => pair,
            Err(e) => {
                debug!(error = %e, "upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut server = TokioIo::new(server);
        crate::tcp::splice_bidirectional(&mut client, &mut server, idle).await;
    });
}
