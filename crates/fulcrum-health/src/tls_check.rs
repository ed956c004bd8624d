//! What a check over TLS needs (HAProxy's `check-ssl`), shared by every kind of check, and the handshake they all
//! make with it.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{timeout_at, Instant};
use tokio_rustls::client::TlsStream;

/// Where a check's TLS handshakes are counted (the proxy's `ssl` statistics of the server and its backend).
pub trait HandshakeTally: Send + Sync {
    /// A handshake completed, `resumed` or in full.
    fn completed(&self, resumed: bool);
    /// A handshake failed or timed out.
    fn failed(&self);
}

/// A check over TLS (HAProxy's `check-ssl`): the server's TLS configuration and the name the check's handshake
/// is for (sent as SNI when it is a DNS name).
#[derive(Clone)]
pub struct TlsCheck {
    /// The server's client configuration (versions, CAs, client certificate).
    pub config: Arc<ClientConfig>,
    /// `check-sni`, else the server's address (no SNI sent, the chain alone verified).
    pub name: ServerName<'static>,
    /// Where the handshakes are counted, if anywhere.
    pub tally: Option<Arc<dyn HandshakeTally>>,
}

impl std::fmt::Debug for TlsCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsCheck")
            .field("name", &self.name)
            .field("tally", &self.tally.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a check's handshake did not complete.
pub enum HandshakeError {
    /// The deadline passed.
    Timeout,
    /// The handshake failed.
    Failed(std::io::Error),
}

impl TlsCheck {
    /// The same TLS for another configuration and name (a `tcp-check connect ssl` rule's own `sni` or `alpn`).
    pub fn with(&self, config: Arc<ClientConfig>, name: ServerName<'static>) -> TlsCheck {
        TlsCheck {
            config,
            name,
            tally: self.tally.clone(),
        }
    }

    /// The client side of a handshake over `stream`, by `deadline`, counted in the tally.
    pub async fn handshake<S>(
        &self,
        stream: S,
        deadline: Instant,
    ) -> Result<TlsStream<S>, HandshakeError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let done = match timeout_at(deadline, connector.connect(self.name.clone(), stream)).await {
            Err(_) => Err(HandshakeError::Timeout),
            Ok(Err(e)) => Err(HandshakeError::Failed(e)),
            Ok(Ok(s)) => Ok(s),
        };
        if let Some(t) = &self.tally {
            match &done {
                Ok(s) => t.completed(
                    s.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
                ),
                Err(_) => t.failed(),
            }
        }
        done
    }
}
