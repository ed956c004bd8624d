//! What a `server` line's certificate is verified against: the CAs of its `ca-file` and the revocation lists of
//! its `crl-file` (version 2 lists by webpki, version 1 lists by [`crate::crl`], every certificate of the chain
//! checked, as HAProxy asks OpenSSL). The runtime API's store keeps a weak reference to it: a committed
//! replacement of either file (`commit ssl ca-file` / `commit ssl crl-file`) is used from the server's next
//! handshake, its cached sessions (verified under the old trust) forgotten.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::server::{revocation, ReadFile};
use crate::{certs, crl, TlsError};

/// The checks built from the files' text.
#[derive(Debug)]
struct Checks {
    webpki: Arc<WebPkiServerVerifier>,
    v1: Option<crl::V1Crls>,
    /// The certificates of `ca-file`, for version 1 server certificates.
    cas: Vec<CertificateDer<'static>>,
}

/// Whether `cert` is a version 1 certificate.
fn is_v1(cert: &CertificateDer<'_>) -> bool {
    crate::x509::CertFields::parse(cert).is_some_and(|f| f.version() == 1)
}

/// Verifies a version 1 server certificate as OpenSSL would: issued by a CA of `cas` (its signature and
/// validity checked), that CA chaining within `cas` up to a self-signed one (each signature checked), and the
/// name, when there is one to check, among its common names (it has no subjectAltName).
fn v1_server_cert(
    cas: &[CertificateDer<'static>],
    leaf: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, ()> {
    use crate::x509::CertFields;
    match crate::verify::v1_leaf_errors(cas, leaf, now) {
        Some(errs) if errs.is_empty() => {}
        _ => return Err(()),
    }
    let leaf_fields = CertFields::parse(leaf).ok_or(())?;
    let issuer_of = |issuer: &[u8]| {
        cas.iter()
            .find(|c| CertFields::parse(c).is_some_and(|f| f.subject(c) == issuer))
    };
    let mut current = issuer_of(leaf_fields.issuer(leaf)).ok_or(())?;
    for _ in 0..8 {
        let f = CertFields::parse(current).ok_or(())?;
        let parent = issuer_of(f.issuer(current)).ok_or(())?;
        if !crl::signed_by(
            parent,
            f.sig_oid(current),
            f.tbs(current),
            f.signature(current),
        ) {
            return Err(());
        }
        if f.issuer(current) == f.subject(current) {
            if let ServerName::DnsName(n) = name {
                let cns = crate::dn::common_names(leaf_fields.subject(leaf));
                if !cns.iter().any(|cn| cn.eq_ignore_ascii_case(n.as_ref())) {
                    return Err(());
                }
            }
            return Ok(ServerCertVerified::assertion());
        }
        current = parent;
    }
    Err(())
}

/// A server line's trust: its files, and the checks built from them (none under `verify none`, where the files
/// are still read, as HAProxy reads them).
#[derive(Debug)]
pub struct ServerTrust {
    /// `ca-file`, under `ca-base`.
    pub ca: Option<PathBuf>,
    /// `crl-file`, under `ca-base`.
    pub crl: Option<PathBuf>,
    verify: bool,
    provider: Arc<CryptoProvider>,
    checks: RwLock<Option<Arc<Checks>>>,
    /// The server's cached sessions, forgotten when the trust changes.
    sessions: Arc<crate::client::Sessions>,
    /// Its server was deleted (`del server`): its files no longer count it as a user.
    retired: std::sync::atomic::AtomicBool,
}

/// The checks of a server's trust rebuilt over replaced files, not used yet.
pub struct RebuiltTrust {
    trust: Arc<ServerTrust>,
    checks: Option<Arc<Checks>>,
}

impl RebuiltTrust {
    /// Used from the server's next handshake; its cached sessions forgotten.
    pub fn install(self) {
        *self.trust.checks.write().unwrap_or_else(|e| e.into_inner()) = self.checks;
        self.trust.sessions.clear();
    }
}

impl ServerTrust {
    /// The trust of a server line: `ca` and `crl` (under `ca-base`), read through `read`; checks only when
    /// `verify`.
    pub(crate) fn new(
        ca: Option<PathBuf>,
        crl: Option<PathBuf>,
        verify: bool,
        provider: Arc<CryptoProvider>,
        sessions: Arc<crate::client::Sessions>,
        read: ReadFile<'_>,
    ) -> Result<ServerTrust, TlsError> {
        let t = ServerTrust {
            ca,
            crl,
            verify,
            provider,
            checks: RwLock::new(None),
            sessions,
            retired: Default::default(),
        };
        let checks = t.build(read)?;
        *t.checks.write().unwrap_or_else(|e| e.into_inner()) = checks;
        Ok(t)
    }

    /// Whether it reads CA or CRL file `path`.
    pub fn uses(&self, path: &Path) -> bool {
        !self.is_retired()
            && (self.ca.as_deref() == Some(path) || self.crl.as_deref() == Some(path))
    }

    /// Its server is deleted: its files no longer count it.
    pub fn retire(&self) {
        self.retired
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether its server was deleted.
    pub fn is_retired(&self) -> bool {
        self.retired.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The checks built again, the files read through `read` (where a replaced file gives its new text).
    /// Nothing changes until [`RebuiltTrust::install`].
    pub fn rebuild(self: &Arc<Self>, read: ReadFile<'_>) -> Result<RebuiltTrust, TlsError> {
        Ok(RebuiltTrust {
            trust: self.clone(),
            checks: self.build(read)?,
        })
    }

    fn build(&self, read: ReadFile<'_>) -> Result<Option<Arc<Checks>>, TlsError> {
        // Both files must read, whatever `verify` says.
        let ca = match &self.ca {
            Some(p) => Some((read("ca-file", p)?, p)),
            None => None,
        };
        let crl = match &self.crl {
            Some(p) => Some((read("crl-file", p)?, p)),
            None => None,
        };
        let Some((ca_bytes, ca_path)) = ca.filter(|_| self.verify) else {
            return Ok(None);
        };
        let cas = certs::certificates(&ca_bytes, ca_path)?;
        let mut roots = rustls::RootCertStore::empty();
        for c in &cas {
            roots.add(c.clone()).map_err(|e| TlsError::Pem {
                path: ca_path.clone(),
                reason: e.to_string(),
            })?;
        }
        let mut b =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone());
        let mut v1 = None;
        if let Some((bytes, path)) = crl {
            let (v2, old) = revocation(&bytes, path, &cas)?;
            if old.is_some() {
                b = b.allow_unknown_revocation_status();
            }
            v1 = old;
            b = b.with_crls(v2);
        }
        let webpki = b.build().map_err(|e| TlsError::Settings(e.to_string()))?;
        Ok(Some(Arc::new(Checks { webpki, v1, cas })))
    }

    /// Whether checks apply (`verify required`).
    pub(crate) fn verifies(&self) -> bool {
        self.verify
    }

    /// Verifies a server's chain for `name`; `Ok` without checks (`verify none`).
    pub(crate) fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let checks = self
            .checks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(c) = checks else {
            return Ok(ServerCertVerified::assertion());
        };
        let verified =
            match c
                .webpki
                .verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
            {
                // webpki reads no version 1 certificate: such a server certificate is checked here.
                Err(e) if is_v1(end_entity) => {
                    v1_server_cert(&c.cas, end_entity, name, now).map_err(|_| e)?
                }
                // No SNI and no `verifyhost`: the chain is what is verified.
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. },
                )) if matches!(name, ServerName::IpAddress(_)) => ServerCertVerified::assertion(),
                other => other?,
            };
        if let Some(v1) = &c.v1 {
            if let Some(&(code, _)) = v1.errors(end_entity, intermediates).first() {
                return Err(crate::verify::error_of(code));
            }
        }
        Ok(verified)
    }
}
