//! What a check over TLS needs (HAProxy's `check-ssl`), shared by every kind of check.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;

/// A check over TLS (HAProxy's `check-ssl`): the server's TLS configuration and the name the check's handshake
/// is for (sent as SNI when it is a DNS name).
#[derive(Debug, Clone)]
pub struct TlsCheck {
    /// The server's client configuration (versions, CAs, client certificate).
    pub config: Arc<ClientConfig>,
    /// `check-sni`, else the server's address (no SNI sent, the chain alone verified).
    pub name: ServerName<'static>,
}
