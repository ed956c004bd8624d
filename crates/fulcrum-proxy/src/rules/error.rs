//! Why a proxy's rules, or the parts of the snapshot compiled with them (stick actions, server TLS, log formats,
//! error pages), could not be compiled.

use super::acl::AclError;
use crate::http::errors::ReplyError;

/// Why a proxy's rules could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// A stick counter action names a table that does not exist.
    #[error("[ALERT] {location}: {message}")]
    Stick {
        /// where
        location: String,
        /// what is wrong
        message: String,
    },
    /// A server line's TLS settings cannot be used (a certificate or CA file, a cipher list ...).
    #[error("[ALERT] {location}: 'server {server}': {message}")]
    ServerTls {
        /// The server line.
        location: String,
        /// `backend/server`
        server: String,
        /// What is wrong.
        message: String,
    },
    /// An ACL pattern.
    #[error(transparent)]
    Acl(#[from] AclError),
    /// A header name or value that HTTP does not allow.
    #[error("{location}: invalid header name or value in '{what}'")]
    Header {
        /// where
        location: String,
        /// the offending text
        what: String,
    },
    /// A regular expression of `replace-header`.
    #[error("{location}: invalid regular expression: {source}")]
    Regex {
        /// where
        location: String,
        /// the regex error
        source: regex::Error,
    },
    /// A `log-format` string that does not compile.
    #[error("{location}: 'log-format': {message}")]
    LogFormat {
        /// where
        location: String,
        /// what is wrong
        message: String,
    },
    /// An errorfile that is not an HTTP response, or a reply header HTTP does not allow.
    #[error("{location}: {source}")]
    Reply {
        /// where (the proxy, or the rule's line)
        location: String,
        /// what is wrong
        source: ReplyError,
    },
}
