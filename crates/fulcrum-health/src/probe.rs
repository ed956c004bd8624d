//! One type for "the check configured on this server": TCP connect, HTTP, or a server protocol.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::{timeout_at, Instant};

use crate::http::{http_check, HttpCheck};
use crate::outcome::{CheckOutcome, CheckStatus};
use crate::protocol::{protocol_check, ProtocolCheck};
use crate::tcp::{connect, tcp_check};
use crate::tcpcheck::{self, TcpCheck};
use crate::tls_check::HandshakeError;
pub use crate::tls_check::TlsCheck;

/// The kind of active check a server runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A TCP connect (HAProxy's default).
    Tcp,
    /// An HTTP request (`option httpchk`).
    Http(HttpCheck),
    /// A check in the server's protocol (`option smtpchk`, `option redis-check`...).
    Protocol(ProtocolCheck),
    /// A scripted check (`option tcp-check` with its `tcp-check` rules).
    Script(TcpCheck),
}

impl Probe {
    /// Runs the check against `addr` within `timeout`.
    pub async fn run(&self, addr: SocketAddr, timeout: Duration) -> CheckOutcome {
        match self {
            Probe::Tcp => tcp_check(addr, timeout).await,
            Probe::Http(check) => http_check(addr, check, timeout).await,
            Probe::Protocol(check) => protocol_check(addr, check, timeout).await,
            Probe::Script(check) => {
                let target = tcpcheck::Target {
                    addr,
                    preamble: Vec::new(),
                    tls: None,
                    rules_tls: None,
                    names: Default::default(),
                    extra_headers: Vec::new(),
                    socks4: None,
                    via_socks4: false,
                    h2: false,
                };
                tcpcheck::run(check, &target, timeout).await
            }
        }
    }

    /// Runs the check against `addr` within `timeout`, over TLS when `tls` is given: a handshake that fails is
    /// `Layer6 invalid response` (with the reason), one that does not finish in time `Layer6 timeout`; a TCP check
    /// whose handshake succeeds is `Layer6 check passed`.
    pub async fn run_over(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        tls: Option<&TlsCheck>,
    ) -> CheckOutcome {
        if let Probe::Script(check) = self {
            let target = tcpcheck::Target {
                addr,
                preamble: Vec::new(),
                tls: tls.cloned(),
                rules_tls: tls.cloned(),
                names: Default::default(),
                extra_headers: Vec::new(),
                socks4: None,
                via_socks4: false,
                h2: false,
            };
            return tcpcheck::run(check, &target, timeout).await;
        }
        let Some(tls) = tls else {
            return self.run(addr, timeout).await;
        };
        let start = Instant::now();
        let deadline = start + timeout;
        let stream = match connect(addr, start, deadline).await {
            Ok(s) => s,
            Err(outcome) => return outcome,
        };
        let stream = match tls.handshake(stream, deadline).await {
            Ok(s) => s,
            Err(e) => return handshake_failed(e, start),
        };
        let exchange = async {
            match self {
                // Scripted checks returned above.
                Probe::Tcp | Probe::Script(_) => {
                    CheckOutcome::new(CheckStatus::L6Ok, start.elapsed())
                }
                Probe::Http(check) => crate::http::exchange(stream, check, start).await,
                Probe::Protocol(check) => crate::protocol::converse(stream, check, start).await,
            }
        };
        match timeout_at(deadline, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => CheckOutcome::new(CheckStatus::L7Timeout, start.elapsed()),
        }
    }

    /// [`Probe::run_over`], the connection going through the SOCKS4 proxy `socks4` when one is given
    /// (`check-via-socks4`), then opening with `preamble` (a PROXY protocol header, HAProxy's `check-send-proxy`)
    /// before anything else, TLS included. A preamble that cannot be written is a `Layer4 connection problem`.
    pub async fn run_with_preamble(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        tls: Option<&TlsCheck>,
        preamble: &[u8],
        socks4: Option<SocketAddr>,
    ) -> CheckOutcome {
        if preamble.is_empty() && socks4.is_none() {
            return self.run_over(addr, timeout, tls).await;
        }
        if let Probe::Script(check) = self {
            let target = tcpcheck::Target {
                addr,
                preamble: preamble.to_vec(),
                tls: tls.cloned(),
                rules_tls: tls.cloned(),
                names: Default::default(),
                extra_headers: Vec::new(),
                socks4,
                via_socks4: socks4.is_some(),
                h2: false,
            };
            return tcpcheck::run(check, &target, timeout).await;
        }
        let start = Instant::now();
        let deadline = start + timeout;
        let mut stream = match crate::tcp::connect_via(addr, socks4, start, deadline).await {
            Ok(s) => s,
            Err(outcome) => return outcome,
        };
        let write = tokio::io::AsyncWriteExt::write_all(&mut stream, preamble);
        match timeout_at(deadline, write).await {
            Err(_) => return CheckOutcome::new(CheckStatus::L4Timeout, start.elapsed()),
            Ok(Err(e)) => {
                return CheckOutcome::new(CheckStatus::L4Connection, start.elapsed())
                    .with_info(e.to_string())
            }
            Ok(Ok(())) => {}
        }
        let outcome = match tls {
            Some(tls) => {
                let stream = match tls.handshake(stream, deadline).await {
                    Ok(s) => s,
                    Err(e) => return handshake_failed(e, start),
                };
                let exchange = async {
                    match self {
                        // Scripted checks returned above.
                        Probe::Tcp | Probe::Script(_) => {
                            CheckOutcome::new(CheckStatus::L6Ok, start.elapsed())
                        }
                        Probe::Http(check) => crate::http::exchange(stream, check, start).await,
                        Probe::Protocol(check) => {
                            crate::protocol::converse(stream, check, start).await
                        }
                    }
                };
                timeout_at(deadline, exchange).await
            }
            None => {
                let exchange = async {
                    match self {
                        Probe::Tcp | Probe::Script(_) => {
                            CheckOutcome::new(CheckStatus::L4Ok, start.elapsed())
                        }
                        Probe::Http(check) => crate::http::exchange(stream, check, start).await,
                        Probe::Protocol(check) => {
                            crate::protocol::converse(stream, check, start).await
                        }
                    }
                };
                timeout_at(deadline, exchange).await
            }
        };
        outcome.unwrap_or_else(|_| CheckOutcome::new(CheckStatus::L7Timeout, start.elapsed()))
    }
}

/// HAProxy's info for a failed check handshake (it names no reason either).
/// The outcome of a check whose TLS handshake did not complete.
fn handshake_failed(e: HandshakeError, start: Instant) -> CheckOutcome {
    match e {
        HandshakeError::Timeout => CheckOutcome::new(CheckStatus::L6Timeout, start.elapsed()),
        HandshakeError::Failed(_) => CheckOutcome::new(CheckStatus::L6Response, start.elapsed())
            .with_info("SSL handshake failure"),
    }
}
