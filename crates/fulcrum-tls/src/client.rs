//! A `server` line's TLS settings (over `ssl-default-server-*`) built into one rustls client configuration,
//! shared by every connection to that server, checks included: versions, cipher lists, the CAs the server's
//! certificate must chain to (`verify required`) or none (`verify none`), a client certificate (`crt`), ALPN, and
//! a session cache so that connections after the first resume their session (unless `no-ssl-reuse`).
//!
//! As HAProxy, the server's name is checked against `verifyhost` when set, else against the SNI sent; a
//! connection that sends no SNI (no `sni` expression, or one with no value) has only its certificate chain
//! verified.

use std::sync::Arc;

use fulcrum_config::haproxy::ssl::GlobalSsl;
use fulcrum_config::haproxy::ServerTls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, Resumption, Tls12Resumption, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::server::{provider, roots, under, versions};
use crate::{certs, TlsError};

/// Sessions kept per server for resumption.
const SESSIONS_PER_SERVER: usize = 256;

/// A built client configuration and what the build had to report without failing.
pub struct ServerTlsConfig {
    /// Shared by every connection to the server.
    pub config: Arc<ClientConfig>,
    /// Settings fulcrum cannot honour exactly, to be logged.
    pub warnings: Vec<String>,
}

/// Builds the TLS configuration towards one server.
pub fn server_config(t: &ServerTls, g: &GlobalSsl) -> Result<ServerTlsConfig, TlsError> {
    let o = &t.options;
    let mut warnings = Vec::new();
    let versions = versions(o, &mut warnings)?;
    let provider = Arc::new(provider(o, &mut warnings)?);
    let inner = match (&t.ca_file, t.verify) {
        (Some(ca), true) => {
            let roots = roots(&under(&g.ca_base, ca))?;
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| TlsError::Settings(e.to_string()))?,
            )
        }
        (None, true) => {
            return Err(TlsError::Settings(
                "verify is enabled but no CA file specified ('ca-file')".into(),
            ))
        }
        (_, false) => None,
    };
    let host = match t.verifyhost.as_deref() {
        Some(h) => Some(ServerName::try_from(h.to_string()).map_err(|_| {
            TlsError::Settings(format!("verifyhost: '{h}' is not a valid host name"))
        })?),
        None => None,
    };
    let verifier = Arc::new(Verifier {
        inner,
        host,
        provider: provider.clone(),
    });
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Settings(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &t.crt {
        Some(crt) => {
            let loaded = certs::load_file(&under(&g.crt_base, crt), &provider)?;
            builder.with_client_cert_resolver(Arc::new(ClientCert(loaded.key)))
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
    config.resumption = if t.reuse {
        let r = Resumption::in_memory_sessions(SESSIONS_PER_SERVER);
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
    inner: Option<Arc<WebPkiServerVerifier>>,
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
        match inner.verify_server_cert(end_entity, intermediates, name, ocsp_response, now) {
            // No SNI and no `verifyhost`: the chain is what is verified.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if matches!(name, ServerName::IpAddress(_)) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
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

/// `crt`: the one client certificate of a server line, shown whenever the server asks.
#[derive(Debug)]
struct ClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
