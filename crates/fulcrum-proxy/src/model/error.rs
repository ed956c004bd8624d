//! Why a proxy's rules, or the parts of the snapshot compiled with them (stick actions, server TLS, log formats,
//! error pages), could not be compiled ([`RulesError`], [`AclError`]), and why the proxy could not start ([`StartError`]).

use std::net::SocketAddr;

use crate::model::error_pages::ReplyError;

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

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A bind address could not be listened on.
    #[error("[ALERT] {location}: 'bind': cannot bind to {addr} for proxy '{proxy}': {source}")]
    Bind {
        /// The frontend.
        proxy: String,
        /// The address.
        addr: SocketAddr,
        /// The bind line.
        location: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A unix socket of a bind line could not be listened on.
    #[error("[ALERT] {location}: 'bind': cannot bind to {addr} for proxy '{proxy}': {source}")]
    BindUnix {
        /// The frontend.
        proxy: String,
        /// The address (`unix@PATH`, `abns@NAME`).
        addr: String,
        /// The bind line.
        location: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// An inherited socket (`fd@N`) cannot be used.
    #[error("[ALERT] {location}: '{keyword}': {source}")]
    Inherit {
        /// `bind` or `stats socket`.
        keyword: &'static str,
        /// The line.
        location: String,
        /// What is wrong with the descriptor.
        source: crate::net::listener::InheritError,
    },
    /// The rules of a proxy could not be compiled.
    #[error("[ALERT] {0}")]
    Rules(#[from] RulesError),
    /// Servers left without an address by every `init-addr` method, `last` included (the server-state file gave
    /// none): one alert per server, then HAProxy's closing line.
    #[error("{}\n[ALERT] Failed to initialize server(s) addr.", .0.join("\n"))]
    InitAddr(Vec<String>),
    /// The descriptor limit is too low for `maxconn` (`strict-limits`).
    #[error("{0}")]
    FdLimit(#[from] crate::net::fd_limit::FdLimitError),
    /// A TLS setting of `global` cannot be used (`ssl-dh-param-file` without DH parameters).
    #[error("[ALERT] {location}: '{keyword}': {message}")]
    GlobalTls {
        /// The line.
        location: String,
        /// The keyword.
        keyword: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A `bind` line's TLS settings cannot be used.
    #[error("[ALERT] {location}: 'bind' in proxy '{proxy}': {message}")]
    Tls {
        /// The bind line.
        location: String,
        /// The frontend.
        proxy: String,
        /// What is wrong.
        message: String,
    },
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// A `stats socket` could not be created.
    #[error("[ALERT] {location}: 'stats socket': cannot bind '{path}': {source}")]
    StatsSocket {
        /// The socket address.
        path: String,
        /// The `stats socket` line.
        location: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The listening socket of a `peers` section could not be opened.
    #[error("[ALERT] {location}: 'peers': cannot listen: {source}")]
    Peers {
        /// The `bind` or `peer` line.
        location: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TLS settings of a `peers` section's `bind` line or of a peer's line cannot be used.
    #[error("[ALERT] {location}: '{keyword}' in peers section '{section}': {message}")]
    PeersTls {
        /// The line.
        location: String,
        /// `bind` or `server`.
        keyword: &'static str,
        /// The section.
        section: String,
        /// What is wrong.
        message: String,
    },
}

/// Why an ACL could not be compiled (the parser validates patterns, so this means a parser bug).
#[derive(Debug, thiserror::Error)]
pub enum AclError {
    /// A regular expression that does not compile.
    #[error("acl '{name}': invalid regular expression '{pattern}': {source}")]
    Regex {
        /// ACL name
        name: String,
        /// the pattern
        pattern: String,
        /// the regex error
        source: regex::Error,
    },
    /// A pattern that is not a valid address, network or integer.
    #[error("acl '{name}': invalid pattern '{pattern}'")]
    Pattern {
        /// ACL name
        name: String,
        /// the pattern
        pattern: String,
    },
    /// A pattern its reference holds that the ACL cannot take.
    #[error("acl '{name}': {message}")]
    Reference {
        /// ACL name
        name: String,
        /// what is wrong
        message: String,
    },
}
