//! A `server` line's TLS settings (over `ssl-default-server-*`) built into one rustls client configuration,
//! shared by every connection to that server, checks included: versions, cipher lists, the CAs the server's
//! certificate must chain to (`verify required`) or none (`verify none`), a client certificate (`crt`), ALPN, and
//! a session cache so that connections after the first resume their session (unless `no-ssl-reuse`).
//!
//! As HAProxy, the server's name is checked against `verifyhost` when set, else against the SNI sent; a
//! connection that sends no SNI (no `sni` expression, or one with no value) has only its certificate chain
//! verified.

use std::sync::{Arc, RwLock};

use fulcrum_config::haproxy::ssl::GlobalSsl;
use fulcrum_config::haproxy::ServerTls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, ResolvesClientCert, Resumption,
    Tls12ClientSessionValue, Tls12Resumption, Tls13ClientSessionValue,
};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, NamedGroup, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::server::{provider, under, versions};
use crate::server_trust::ServerTrust;
use crate::{certs, TlsError};

/// Sessions kept per server for resumption.
const SESSIONS_PER_SERVER: usize = 256;

/// A built client configuration and what the build had to report without failing.
pub struct ServerTlsConfig {
    /// Shared by every connection to the server.
    pub config: Arc<ClientConfig>,
    /// Settings fulcrum cannot honour exactly, to be logged.
    pub warnings: Vec<String>,
    /// The client certificate (`crt`) the server is shown, which the runtime API can replace.
    pub identity: Option<Arc<ClientIdentity>>,
    /// What the server's certificate is verified against (`ca-file`, `crl-file`), which the runtime API can
    /// replace; `None` when the line names neither file.
    pub trust: Option<Arc<ServerTrust>>,
}

/// A server line's client certificate (`crt`) and its cached sessions: the runtime API's certificate store
/// keeps a weak reference to it, and a committed replacement (`commit ssl cert`) is shown from the next
/// connection on, the sessions that carried the old one forgotten.
#[derive(Debug)]
pub struct ClientIdentity {
    slot: Arc<ClientSlot>,
    /// The file's name in the store.
    pub name: String,
    /// The certificate as loaded at start, for the store to keep when it has not this file yet.
    pub loaded: certs::Loaded,
    /// Its server was deleted (`del server`): the file no longer counts it as a user.
    retired: std::sync::atomic::AtomicBool,
}

impl ClientIdentity {
    /// Shows `key` from the next handshake on, and forgets the sessions resumed without showing it.
    pub fn replace(&self, key: Arc<CertifiedKey>) {
        *self.slot.key.write().unwrap_or_else(|e| e.into_inner()) = key;
        self.slot.sessions.clear();
    }

    /// Its server is deleted: `show ssl cert` no longer counts it, commits no longer update it.
    pub fn retire(&self) {
        self.retired
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether its server was deleted.
    pub fn is_retired(&self) -> bool {
        self.retired.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The certificate the next handshake shows.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.slot.current()
    }
}

/// What a server's connections read at each handshake: the certificate to show and the session cache.
#[derive(Debug)]
struct ClientSlot {
    key: RwLock<Arc<CertifiedKey>>,
    sessions: Arc<Sessions>,
}

impl ClientSlot {
    fn current(&self) -> Arc<CertifiedKey> {
        self.key.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// rustls' in-memory session cache, which [`Sessions::clear`] empties by starting a new one.
#[derive(Debug)]
pub(crate) struct Sessions(RwLock<Arc<ClientSessionMemoryCache>>);

impl Sessions {
    fn new() -> Sessions {
        Sessions(RwLock::new(Arc::new(ClientSessionMemoryCache::new(
            SESSIONS_PER_SERVER,
        ))))
    }

    fn get(&self) -> Arc<ClientSessionMemoryCache> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn clear(&self) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(ClientSessionMemoryCache::new(SESSIONS_PER_SERVER));
    }
}

impl ClientSessionStore for Sessions {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.get().set_kx_hint(server_name, group)
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.get().kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.get().set_tls12_session(server_name, value)
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.get().tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.get().remove_tls12_session(server_name)
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.get().insert_tls13_ticket(server_name, value)
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.get().take_tls13_ticket(server_name)
    }
}

/// Builds the TLS configuration towards one server.
pub fn server_config(t: &ServerTls, g: &GlobalSsl) -> Result<ServerTlsConfig, TlsError> {
    server_config_with(t, g, &|_, path| {
        std::fs::read(path).map_err(|source| TlsError::Stat {
            path: path.to_path_buf(),
            source,
        })
    })
}

/// Builds the TLS configuration towards one server, its CA and CRL files read through `read` (the runtime
/// API's store, which has them as last committed, or the disk).
pub fn server_config_with(
    t: &ServerTls,
    g: &GlobalSsl,
    read: crate::server::ReadFile<'_>,
) -> Result<ServerTlsConfig, TlsError> {
    let o = &t.options;
    let mut warnings = Vec::new();
    let versions = versions(o, &mut warnings)?;
    let provider = Arc::new(provider(o, &mut warnings)?);
    if t.verify && t.ca_file.is_none() {
        return Err(TlsError::Settings(
            "verify is enabled but no CA file specified ('ca-file')".into(),
        ));
    }
    let sessions = Arc::new(Sessions::new());
    let trust = match (&t.ca_file, &t.crl_file) {
        (None, None) => None,
        (ca, crl) => Some(Arc::new(ServerTrust::new(
            ca.as_ref().map(|f| under(&g.ca_base, f)),
            crl.as_ref().map(|f| under(&g.ca_base, f)),
            t.verify,
            provider.clone(),
            sessions.clone(),
            read,
        )?)),
    };
    let host = match t.verifyhost.as_deref() {
        Some(h) => Some(ServerName::try_from(h.to_string()).map_err(|_| {
            TlsError::Settings(format!("verifyhost: '{h}' is not a valid host name"))
        })?),
        None => None,
    };
    let verifier = Arc::new(Verifier {
        inner: trust.clone().filter(|t| t.verifies()),
        host,
        provider: provider.clone(),
    });
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Settings(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut identity = None;
    let mut config = match &t.crt {
        Some(crt) => {
            let loaded = certs::load_file(
                &under(&g.crt_base, crt),
                &provider,
                &certs::LoadOptions::of(g),
            )?;
            let slot = Arc::new(ClientSlot {
                key: RwLock::new(loaded.key.clone()),
                sessions: sessions.clone(),
            });
            identity = Some(Arc::new(ClientIdentity {
                slot: slot.clone(),
                name: loaded.path.display().to_string(),
                loaded,
                retired: Default::default(),
            }));
            builder.with_client_cert_resolver(Arc::new(ClientCert(slot)))
        }
        None => builder.with_no_client_auth(),
    };
    // fulcrum speaks HTTP/1.1 and HTTP/2 to servers: another protocol agreed by ALPN would leave the server
    // speaking one the proxy does not.
    let mut alpn = Vec::new();
    for p in &t.alpn {
        if p == "h2" || p == "http/1.1" || p == "http/1.0" {
            alpn.push(p.as_bytes().to_vec());
        } else {
            warnings.push(format!(
                "alpn: '{p}' is not offered: fulcrum speaks HTTP/1.1 and HTTP/2 to servers"
            ));
        }
    }
    config.alpn_protocols = alpn;
    config.max_fragment_size = g.max_record.map(crate::suites::record_size);
    config.resumption = if t.reuse {
        let r = Resumption::store(sessions);
        if o.no_tls_tickets {
            r.tls12_resumption(Tls12Resumption::SessionIdOnly)
        } else {
            r
        }
    } else {
        Resumption::disabled()
    };
    Ok(ServerTlsConfig {
        config: Arc::new(config),
        warnings,
        identity,
        trust,
    })
}

/// The name a connection is opened for: `sni` when it has one (sent, and checked unless `verifyhost` is set),
/// else the server's address (nothing is sent, and only the chain is verified).
pub fn server_name(sni: Option<&str>, addr: std::net::IpAddr) -> ServerName<'static> {
    sni.filter(|s| !s.is_empty())
        .and_then(|s| ServerName::try_from(s.to_string()).ok())
        .unwrap_or(ServerName::IpAddress(addr.into()))
}

/// Verifies a server's certificate as HAProxy does: against the CAs under `verify required` (the name against
/// `verifyhost`, else the SNI sent, else not at all), not at all under `verify none`.
#[derive(Debug)]
struct Verifier {
    /// `None` under `verify none`.
    inner: Option<Arc<ServerTrust>>,
    /// `verifyhost`
    host: Option<ServerName<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        let name = self.host.as_ref().unwrap_or(server_name);
        inner.verify(end_entity, intermediates, name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        // A version 1 certificate (webpki reads none, `verify none` lets it through): its key read here.
        verify_tls12_signature(message, cert, dss, algs).or_else(|e| {
            crate::verify::v1_handshake_signature(algs, message, cert, dss, false).unwrap_or(Err(e))
        })
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algs).or_else(|e| {
            crate::verify::v1_handshake_signature(algs, message, cert, dss, true).unwrap_or(Err(e))
        })
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `crt`: the one client certificate of a server line (the last committed one), shown whenever the server asks.
#[derive(Debug)]
struct ClientCert(Arc<ClientSlot>);

impl ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
