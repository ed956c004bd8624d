//! One type for "the check configured on this server": TCP connect, HTTP, or a server protocol.

use std::net::SocketAddr;
use std::time::Duration;

use crate::http::{http_check, HttpCheck};
use crate::outcome::CheckOutcome;
use crate::protocol::{protocol_check, ProtocolCheck};
use crate::tcp::tcp_check;

/// The kind of active check a server runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A TCP connect (HAProxy's default).
    Tcp,
    /// An HTTP request (`option httpchk`).
    Http(HttpCheck),
    /// A check in the server's protocol (`option smtpchk`, `option redis-check`...).
    Protocol(ProtocolCheck),
}

impl Probe {
    /// Runs the check against `addr` within `timeout`.
    pub async fn run(&self, addr: SocketAddr, timeout: Duration) -> CheckOutcome {
        match self {
            Probe::Tcp => tcp_check(addr, timeout).await,
            Probe::Http(check) => http_check(addr, check, timeout).await,
            Probe::Protocol(check) => protocol_check(addr, check, timeout).await,
        }
    }
}
