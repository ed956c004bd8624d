//! keepalived's real-server checkers: `TCP_CHECK`, `HTTP_GET` / `SSL_GET`, `MISC_CHECK`, `DNS_CHECK` and
//! `SMTP_CHECK`, with keepalived 2.2's semantics.
//!
//! Each checker is a validated spec, built once from the configuration ([`HttpGetCheck::new`],
//! [`MiscCheck::new`], ...), whose `run` performs one probe against the address to check and returns a
//! [`ProbeResult`]: up or down, for `MISC_CHECK` with `misc_dynamic` a new weight, a short reason for the
//! log, and how long the probe took. `retry`, `delay_before_retry`, `delay_loop` and `warmup` belong to the
//! loop that calls `run`, not to a probe. The address passed to `run` is the one to connect to: the real
//! server's, or `connect_ip` / `connect_port` when configured.
//!
//! Timeouts follow keepalived: `connect_timeout` bounds the connection and then each wait for the peer
//! (a send, a read), not the whole exchange.

mod dns;
mod http_get;
mod misc;
mod smtp;
mod tls;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::outcome::{CheckOutcome, CheckStatus};
use crate::tcp::connect_from;

pub use dns::{DnsCheck, DnsType, DEFAULT_DNS_NAME, DEFAULT_DNS_TYPE};
pub use http_get::{
    Fetched, HttpGetCheck, HttpGetSpec, HttpProtocol, StatusCodes, TlsOptions, UrlSpec,
    DEFAULT_MAX_BODY, USER_AGENT,
};
pub use misc::{split_command_line, MiscCheck, ScriptUser, DEFAULT_KILL_GRACE};
pub use smtp::SmtpCheck;

/// keepalived's default `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a checker's configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckSpecError {
    /// A timeout of zero would fail every probe.
    #[error("the timeout must be greater than zero")]
    ZeroTimeout,
    /// `HTTP_GET` / `SSL_GET` without any `url` block.
    #[error("HTTP_GET/SSL_GET needs at least one url")]
    NoUrl,
    /// A `path` that is empty or holds spaces or control characters.
    #[error("invalid url path {0:?}")]
    Path(String),
    /// A `digest` that is not 32 hexadecimal digits.
    #[error("invalid MD5 digest {0:?} (32 hexadecimal digits)")]
    Digest(String),
    /// A `status_code` entry that is not a code or range within 100-599.
    #[error("invalid status_code {0:?} (a code or a range LOW-HIGH within 100-599)")]
    StatusCode(String),
    /// A `virtualhost` that is empty or holds spaces or control characters.
    #[error("invalid virtualhost {0:?}")]
    VirtualHost(String),
    /// A `regex` that does not compile.
    #[error("invalid regex {pattern:?}: {message}")]
    Regex {
        /// The pattern as configured.
        pattern: String,
        /// The compiler's complaint.
        message: String,
    },
    /// An `http_protocol` other than 1.0, 1.0C or 1.1.
    #[error("invalid http_protocol {0:?} (1.0, 1.0C or 1.1)")]
    HttpProtocol(String),
    /// An `sni_name` (or the virtualhost used as SNI) that is not a valid server name.
    #[error("invalid SNI name {0:?}")]
    SniName(String),
    /// The TLS client could not be set up.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// A `helo_name` that is empty or holds spaces or control characters.
    #[error("invalid helo_name {0:?}")]
    HeloName(String),
    /// A DNS `type` other than the supported ones.
    #[error("unsupported DNS type {0:?} (A, NS, CNAME, SOA, MX, TXT, AAAA, RRSIG, DNSKEY)")]
    DnsType(String),
    /// A DNS `name` that cannot be encoded (empty label, label over 63 bytes, name over 255 bytes).
    #[error("invalid DNS name {0:?}")]
    DnsName(String),
    /// A `misc_path` with nothing to run.
    #[error("misc_path is empty")]
    EmptyCommand,
    /// A `misc_path` with an unterminated quote or a trailing backslash.
    #[error("invalid misc_path {0:?}: unterminated quote or trailing backslash")]
    CommandLine(String),
}

/// Where a checker connects from and how long it waits: keepalived's `connect_timeout` and `bindto` /
/// `bind_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Bounds the connection, then each wait for the peer. keepalived's default is 5 s.
    pub timeout: Duration,
    /// Source address (`bindto`) and port (`bind_port`, 0 for any); `None` lets the system choose.
    pub bind: Option<SocketAddr>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout: DEFAULT_CONNECT_TIMEOUT,
            bind: None,
        }
    }
}

impl ConnectOptions {
    /// `timeout` from no particular source address.
    pub fn with_timeout(timeout: Duration) -> Self {
        ConnectOptions {
            timeout,
            bind: None,
        }
    }

    pub(crate) fn validate(self) -> Result<Self, CheckSpecError> {
        if self.timeout.is_zero() {
            return Err(CheckSpecError::ZeroTimeout);
        }
        Ok(self)
    }

    /// Opens the TCP connection through the crate's one connect step.
    pub(crate) async fn connect(&self, target: SocketAddr) -> Result<TcpStream, String> {
        let start = Instant::now();
        connect_from(target, self.bind, start, start + self.timeout)
            .await
            .map_err(|o| l4_reason(&o))
    }
}

/// The reason text for a failed connection.
fn l4_reason(outcome: &CheckOutcome) -> String {
    let info = outcome.info.as_deref().unwrap_or("unknown error");
    match outcome.status {
        CheckStatus::L4Timeout => "connection timed out".to_owned(),
        CheckStatus::SocketError => format!("socket error: {info}"),
        _ => format!("connection failed: {info}"),
    }
}

/// The reason text for an I/O error during an exchange.
pub(crate) fn io_reason(what: &str, e: &io::Error) -> String {
    format!("{what}: {}", crate::tcp::error_text(e))
}

/// Runs `fut`, giving up after `timeout` with "`what` timed out".
pub(crate) async fn within<T>(
    timeout: Duration,
    what: &str,
    fut: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(format!("{what} timed out")),
    }
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// Whether the check passed.
    pub up: bool,
    /// `MISC_CHECK` with `misc_dynamic` only: the weight the exit status asks for (status - 2).
    pub weight: Option<u32>,
    /// A short, printable reason for the log (`status 503 not in 200-299`, `exit status 1`...).
    pub reason: String,
    /// From the start of the probe to the verdict.
    pub duration: Duration,
}

impl ProbeResult {
    /// A passed check.
    pub fn up(reason: impl Into<String>, duration: Duration) -> Self {
        ProbeResult {
            up: true,
            weight: None,
            reason: reason.into(),
            duration,
        }
    }

    /// A failed check.
    pub fn down(reason: impl Into<String>, duration: Duration) -> Self {
        ProbeResult {
            up: false,
            weight: None,
            reason: reason.into(),
            duration,
        }
    }

    pub(crate) fn from_verdict(verdict: Result<String, String>, start: Instant) -> Self {
        match verdict {
            Ok(reason) => ProbeResult::up(reason, start.elapsed()),
            Err(reason) => ProbeResult::down(reason, start.elapsed()),
        }
    }
}

/// `TCP_CHECK`: the connection completes within `connect_timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpCheck {
    connect: ConnectOptions,
}

impl TcpCheck {
    /// A TCP connect check with these connection options.
    pub fn new(connect: ConnectOptions) -> Result<Self, CheckSpecError> {
        Ok(TcpCheck {
            connect: connect.validate()?,
        })
    }

    /// Connects to `target` and closes the connection.
    pub async fn run(&self, target: SocketAddr) -> ProbeResult {
        let start = Instant::now();
        let verdict = self
            .connect
            .connect(target)
            .await
            .map(|_| "connected".to_owned());
        ProbeResult::from_verdict(verdict, start)
    }
}

/// One checker of a real server, whichever its kind.
#[derive(Debug, Clone)]
pub enum Checker {
    /// `TCP_CHECK`.
    Tcp(TcpCheck),
    /// `HTTP_GET`, or `SSL_GET` when built with TLS options.
    HttpGet(HttpGetCheck),
    /// `MISC_CHECK`.
    Misc(MiscCheck),
    /// `DNS_CHECK`.
    Dns(DnsCheck),
    /// `SMTP_CHECK`.
    Smtp(SmtpCheck),
}

impl Checker {
    /// Runs one probe against `target` (`MISC_CHECK` ignores it: its command line says what to check).
    pub async fn run(&self, target: SocketAddr) -> ProbeResult {
        match self {
            Checker::Tcp(c) => c.run(target).await,
            Checker::HttpGet(c) => c.run(target).await,
            Checker::Misc(c) => c.run().await,
            Checker::Dns(c) => c.run(target).await,
            Checker::Smtp(c) => c.run(target).await,
        }
    }

    /// The keyword of the checker's kind (`TCP_CHECK`, `HTTP_GET`, `SSL_GET`...), for logs.
    pub fn keyword(&self) -> &'static str {
        match self {
            Checker::Tcp(_) => "TCP_CHECK",
            Checker::HttpGet(c) if c.is_tls() => "SSL_GET",
            Checker::HttpGet(_) => "HTTP_GET",
            Checker::Misc(_) => "MISC_CHECK",
            Checker::Dns(_) => "DNS_CHECK",
            Checker::Smtp(_) => "SMTP_CHECK",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn zero_timeout_is_refused() {
        assert_eq!(
            TcpCheck::new(ConnectOptions::with_timeout(Duration::ZERO)),
            Err(CheckSpecError::ZeroTimeout)
        );
        assert_eq!(ConnectOptions::default().timeout, Duration::from_secs(5));
    }

    #[tokio::test]
    async fn tcp_check_up_down_and_bindto() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move { listener.accept().await.unwrap().1 });
        let check = Checker::Tcp(
            TcpCheck::new(ConnectOptions {
                timeout: Duration::from_secs(2),
                bind: Some("127.0.0.2:0".parse().unwrap()),
            })
            .unwrap(),
        );
        assert_eq!(check.keyword(), "TCP_CHECK");
        let r = check.run(addr).await;
        assert!(r.up, "{r:?}");
        assert_eq!(r.weight, None);
        // bindto is honoured: the server saw the connection come from 127.0.0.2.
        assert_eq!(
            accept.await.unwrap().ip(),
            "127.0.0.2".parse::<std::net::IpAddr>().unwrap()
        );

        // Nothing listens any more on that port.
        let r = check.run(addr).await;
        assert!(!r.up);
        assert_eq!(r.reason, "connection failed: Connection refused");

        // A source address of the wrong family is a socket error, not a panic.
        let v6 = TcpCheck::new(ConnectOptions {
            timeout: Duration::from_secs(1),
            bind: Some("[::1]:0".parse().unwrap()),
        })
        .unwrap();
        let r = v6.run(addr).await;
        assert!(!r.up && r.reason.starts_with("socket error"), "{r:?}");
    }
}
