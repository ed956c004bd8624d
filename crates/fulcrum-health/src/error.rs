//! Errors in a health check's configuration.

use thiserror::Error;

/// Why an HTTP or protocol check could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    /// The method is empty or holds characters other than an HTTP token's.
    #[error("invalid HTTP check method {0:?}")]
    Method(String),
    /// The URI is empty or holds spaces or control characters.
    #[error("invalid HTTP check URI {0:?}")]
    Uri(String),
    /// A header name is not an HTTP token.
    #[error("invalid HTTP check header name {0:?}")]
    HeaderName(String),
    /// A header value holds control characters (a line break could smuggle a header or a request).
    #[error("invalid HTTP check header value {0:?}")]
    HeaderValue(String),
    /// The version is neither `HTTP/1.0` nor `HTTP/1.1`.
    #[error("unsupported HTTP check version {0:?} (HTTP/1.0 or HTTP/1.1)")]
    Version(String),
    /// The SMTP hello command is neither `HELO` nor `EHLO`.
    #[error("invalid SMTP hello command {0:?} (HELO or EHLO)")]
    SmtpHello(String),
    /// The SMTP domain is empty or holds spaces or control characters.
    #[error("invalid SMTP check domain {0:?}")]
    SmtpDomain(String),
    /// A database user name is empty, too long, or holds a NUL.
    #[error("invalid database check user {0:?}")]
    DatabaseUser(String),
    /// A `tcp-check` or `http-check expect` pattern does not compile (bad regular expression, odd hex).
    #[error("invalid check pattern {0}")]
    Pattern(String),
    /// A `tcp-check` ruleset is not in an order HAProxy runs.
    #[error("invalid tcp-check ruleset: {0}")]
    Ruleset(String),
}
