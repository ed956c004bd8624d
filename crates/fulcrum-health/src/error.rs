//! Errors in a health check's configuration.

use thiserror::Error;

/// Why an HTTP check could not be set up.
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
}
