//! The TCP connect probe (HAProxy's default check) and the connection step shared with the other probes.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpStream;
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

/// Why a connection could not be made.
enum ConnectError {
    /// The socket could not be created or bound.
    Socket(io::Error),
    /// `connect()` itself failed (unreachable network, ...), before any packet was answered.
    Immediate(io::Error),
    /// The connection attempt failed (refused, reset, host unreachable...).
    Failed(io::Error),
    /// The handshake did not finish before the deadline.
    Timeout,
}

/// Connects to `addr` before `deadline`, from `bind` when given, telling a failure of the `connect()` call from
/// one of the attempt.
async fn try_connect(
    addr: SocketAddr,
    bind: Option<SocketAddr>,
    deadline: Instant,
) -> Result<TcpStream, ConnectError> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )
    .map_err(ConnectError::Socket)?;
    if let Some(local) = bind {
        socket.bind(&local.into()).map_err(ConnectError::Socket)?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EINPROGRESS as i32) => {}
        Err(e) => return Err(ConnectError::Immediate(e)),
    }
    let stream =
        TcpStream::from_std(std::net::TcpStream::from(socket)).map_err(ConnectError::Socket)?;
    match timeout_at(deadline, stream.writable()).await {
        Err(_) => Err(ConnectError::Timeout),
        Ok(Err(e)) => Err(ConnectError::Failed(e)),
        Ok(Ok(())) => match stream.take_error() {
            Ok(None) => Ok(stream),
            Ok(Some(e)) | Err(e) => Err(ConnectError::Failed(e)),
        },
    }
}

/// Connects to `addr` before `deadline`; on failure, the layer-4 outcome HAProxy reports: a `connect()` that
/// fails at once is a `General socket error (...)` (an unreachable network), a refused or failed attempt
/// names the system's error.
pub(crate) async fn connect(
    addr: SocketAddr,
    start: Instant,
    deadline: Instant,
) -> Result<TcpStream, CheckOutcome> {
    try_connect(addr, None, deadline)
        .await
        .map_err(|e| match e {
            ConnectError::Immediate(e) => {
                CheckOutcome::new(CheckStatus::L4Connection, start.elapsed())
                    .with_info(format!("General socket error ({})", error_text(&e)))
            }
            other => l4_outcome(other, start),
        })
}

/// Connects to `addr` before `deadline`, through the SOCKS4 proxy `via` when one is given (`check-via-socks4`):
/// the connection goes to the proxy, which is asked to connect on to `addr`. Its refusal is a `Socket error`
/// (`SOCKS4 Proxy deny the request`, as HAProxy words it), its silence past the deadline a `Layer4 timeout`.
pub(crate) async fn connect_via(
    addr: SocketAddr,
    via: Option<SocketAddr>,
    start: Instant,
    deadline: Instant,
) -> Result<TcpStream, CheckOutcome> {
    let Some(proxy) = via else {
        return connect(addr, start, deadline).await;
    };
    let mut stream = connect(proxy, start, deadline).await?;
    match timeout_at(deadline, socks4(&mut stream, addr)).await {
        Err(_) => Err(CheckOutcome::new(CheckStatus::L4Timeout, start.elapsed())),
        Ok(Err(info)) => {
            Err(CheckOutcome::new(CheckStatus::SocketError, start.elapsed()).with_info(info))
        }
        Ok(Ok(())) => Ok(stream),
    }
}

/// The SOCKS4 CONNECT exchange for `target` on a connection to a SOCKS proxy; `Err` says why it failed.
async fn socks4(stream: &mut TcpStream, target: SocketAddr) -> Result<(), String> {
    use fulcrum_proxyproto::socks4;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let SocketAddr::V4(target) = target else {
        return Err("SOCKS4 reaches IPv4 addresses only".into());
    };
    stream
        .write_all(&socks4::request(target))
        .await
        .map_err(|e| error_text(&e))?;
    let mut reply = [0u8; socks4::REPLY_LEN];
    stream
        .read_exact(&mut reply)
        .await
        .map_err(|e| format!("SOCKS4 Proxy read error: {}", error_text(&e)))?;
    socks4::reply(&reply).map_err(|e| e.to_string())
}

/// The outcome of a failed connection, worded without HAProxy's distinctions.
fn l4_outcome(e: ConnectError, start: Instant) -> CheckOutcome {
    match e {
        ConnectError::Socket(e) => {
            CheckOutcome::new(CheckStatus::SocketError, start.elapsed()).with_info(error_text(&e))
        }
        ConnectError::Immediate(e) | ConnectError::Failed(e) => {
            CheckOutcome::new(CheckStatus::L4Connection, start.elapsed()).with_info(error_text(&e))
        }
        ConnectError::Timeout => CheckOutcome::new(CheckStatus::L4Timeout, start.elapsed()),
    }
}

/// Connects to `addr` before `deadline`, from `bind` when given (keepalived's `bindto` / `bind_port`;
/// port 0 lets the system choose). A socket that cannot be created or bound is a `Socket error`.
pub(crate) async fn connect_from(
    addr: SocketAddr,
    bind: Option<SocketAddr>,
    start: Instant,
    deadline: Instant,
) -> Result<TcpStream, CheckOutcome> {
    try_connect(addr, bind, deadline)
        .await
        .map_err(|e| l4_outcome(e, start))
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
