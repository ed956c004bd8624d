//! The TCP connect probe (HAProxy's default check) and the connection step shared with HTTP.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout_at, Instant};

use crate::outcome::{CheckOutcome, CheckStatus};

/// The system's text for an I/O error, without Rust's ` (os error N)` suffix
/// (`Connection refused`), as HAProxy logs it.
pub fn error_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Connects to `addr` before `deadline`; on failure, the layer-4 outcome to report.
pub(crate) async fn connect(
    addr: SocketAddr,
    start: Instant,
    deadline: Instant,
) -> Result<TcpStream, CheckOutcome> {
    connect_from(addr, None, start, deadline).await
}

/// Connects to `addr` before `deadline`, from `bind` when given (keepalived's `bindto` / `bind_port`;
/// port 0 lets the system choose). A socket that cannot be created or bound is a `Socket error`.
pub(crate) async fn connect_from(
    addr: SocketAddr,
    bind: Option<SocketAddr>,
    start: Instant,
    deadline: Instant,
) -> Result<TcpStream, CheckOutcome> {
    let socket_error = |e: io::Error| {
        CheckOutcome::new(CheckStatus::SocketError, start.elapsed()).with_info(error_text(&e))
    };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(socket_error)?;
    if let Some(local) = bind {
        socket.bind(local).map_err(socket_error)?;
    }
    match timeout_at(deadline, socket.connect(addr)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(
            CheckOutcome::new(CheckStatus::L4Connection, start.elapsed()).with_info(error_text(&e)),
        ),
        Err(_) => Err(CheckOutcome::new(CheckStatus::L4Timeout, start.elapsed())),
    }
}

/// Checks that a TCP connection to `addr` completes within `timeout`.
///
/// `Layer4 check passed` on success, `Layer4 connection problem` with the system's error text
/// (e.g. `Connection refused`) on failure, `Layer4 timeout` when the handshake did not finish.
pub async fn tcp_check(addr: SocketAddr, timeout: Duration) -> CheckOutcome {
    let start = Instant::now();
    match connect(addr, start, start + timeout).await {
        Ok(stream) => {
            drop(stream);
            CheckOutcome::new(CheckStatus::L4Ok, start.elapsed())
        }
        Err(outcome) => outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_os_error_suffix() {
        let e = io::Error::from_raw_os_error(111);
        assert_eq!(error_text(&e), "Connection refused");
        let custom = io::Error::other("boom");
        assert_eq!(error_text(&custom), "boom");
    }
}
