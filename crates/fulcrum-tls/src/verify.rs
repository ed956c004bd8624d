//! `ca-ignore-err` / `crt-ignore-err`: client certificates that fail verification, let through for the errors a
//! bind line lists, with the errors reported to the rules (`ssl_c_verify`, `ssl_c_err`, `ssl_c_ca_err`,
//! `ssl_c_ca_err_depth`) in OpenSSL's X509 numbers, as HAProxy reports them.
//!
//! rustls says why a chain failed, not at which depth nor with OpenSSL's numbers, so [`errors`] maps its reasons
//! onto the errors OpenSSL raises for the same chain (observed with haproxy 2.6 and OpenSSL 3.0): a leaf from an
//! unknown issuer is 20 (no local issuer) then 21 (cannot verify the first certificate) at depth 0; a self-signed
//! leaf 18; expired 10; not yet valid 9; revoked 23; a bad signature 7; a wrong purpose 26. An expired or not yet
//! valid certificate is charged to the leaf (rustls does not say which one was); an unknown issuer above sent
//! intermediates is 20 (19 when the top one is self-signed) at the depth of the top one. What maps to no number
//! is 1 (unspecified), which only `all` lets through.
//!
//! The same verifier checks what webpki cannot read, version 1 client certificates and CRLs, so their errors
//! come in the same numbers (see [`IgnoringVerifier`]).

use std::fmt;
use std::sync::Arc;

use fulcrum_config::haproxy::ssl::IgnoreErr;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

/// What verification found for a client's chain, in OpenSSL's numbers (0: no error).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// `ssl_c_verify`: the last error raised.
    pub verify: u8,
    /// `ssl_c_err`: the first error on the client's own certificate (depth 0).
    pub crt_err: u8,
    /// `ssl_c_ca_err`: the first error above it.
    pub ca_err: u8,
    /// `ssl_c_ca_err_depth`: the depth of that error.
    pub ca_err_depth: u8,
}

/// Whether a certificate's subject is its issuer.
fn self_signed(cert: &CertificateDer<'_>) -> bool {
    webpki::EndEntityCert::try_from(cert).is_ok_and(|c| c.subject() == c.issuer())
}

/// The errors, `(number, depth)` in the order OpenSSL raises them, of a chain rustls refused with `e`.
pub fn errors(
    e: &Error,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Vec<(u8, u8)> {
    let Error::InvalidCertificate(c) = e else {
        return vec![(1, 0)];
    };
    let code = match c {
        CertificateError::UnknownIssuer => {
            return match intermediates.last() {
                None if self_signed(end_entity) => vec![(18, 0)],
                None => vec![(20, 0), (21, 0)],
                Some(top) => {
                    let depth = u8::try_from(intermediates.len()).unwrap_or(u8::MAX);
                    vec![(if self_signed(top) { 19 } else { 20 }, depth)]
                }
            }
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => 10,
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => 9,
        CertificateError::Revoked => 23,
        CertificateError::BadSignature => 7,
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => 26,
        CertificateError::UnknownRevocationStatus => 3,
        CertificateError::ExpiredRevocationList
        | CertificateError::ExpiredRevocationListContext { .. } => 12,
        CertificateError::UnhandledCriticalExtension => 34,
        _ => 1,
    };
    vec![(code, 0)]
}

/// The outcome of `errs` (as [`errors`] lists them).
pub fn outcome(errs: &[(u8, u8)]) -> Outcome {
    let mut o = Outcome::default();
    for &(code, depth) in errs {
        o.verify = code;
        if depth == 0 {
            if o.crt_err == 0 {
                o.crt_err = code;
            }
        } else if o.ca_err == 0 {
            o.ca_err = code;
            o.ca_err_depth = depth;
        }
    }
    o
}

/// The client-certificate verifier of a bind line: webpki's (the inner one), plus what webpki does not do —
/// version 1 client certificates (verified here against `ca-file`, their handshake signatures against their
/// key), version 1 CRLs ([`crate::crl`]) — and the errors of `ca-ignore-err` (depth > 0) and `crt-ignore-err`
/// (depth 0) let through.
pub struct IgnoringVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    ca: Option<IgnoreErr>,
    crt: Option<IgnoreErr>,
    /// The signature algorithms a version 1 certificate's handshake signature is checked with (webpki reads no
    /// such certificate, so the inner verifier cannot; its errors may have been let through).
    algorithms: Option<rustls::crypto::WebPkiSupportedAlgorithms>,
    /// The revocation checks of the version 1 lists of `crl-file`, which webpki cannot read.
    crls: Option<Arc<crate::crl::V1Crls>>,
    /// The certificates of `ca-file`, for version 1 client certificates (which webpki does not verify).
    cas: Vec<CertificateDer<'static>>,
}

/// The rustls error standing for OpenSSL's error `code`.
pub(crate) fn error_of(code: u8) -> Error {
    Error::InvalidCertificate(match code {
        7 => CertificateError::BadSignature,
        9 => CertificateError::NotValidYet,
        10 => CertificateError::Expired,
        18 | 20 | 21 => CertificateError::UnknownIssuer,
        23 => CertificateError::Revoked,
        3 => CertificateError::UnknownRevocationStatus,
        _ => CertificateError::BadEncoding,
    })
}

/// The errors OpenSSL finds on a version 1 client certificate, which webpki refuses to read: its issuer among
/// `cas` (unknown: 20 then 21; self-signed: 18), the issuer's signature (7), its validity (9, 10). `None` when
/// it is no version 1 certificate.
pub(crate) fn v1_leaf_errors(
    cas: &[CertificateDer<'_>],
    leaf: &CertificateDer<'_>,
    now: UnixTime,
) -> Option<Vec<(u8, u8)>> {
    let f = crate::x509::CertFields::parse(leaf)?;
    if f.version() != 1 {
        return None;
    }
    let issuer = cas.iter().find(|c| {
        crate::x509::CertFields::parse(c).is_some_and(|p| p.subject(c) == f.issuer(leaf))
    });
    let Some(ca) = issuer else {
        return Some(if f.issuer(leaf) == f.subject(leaf) {
            vec![(18, 0)]
        } else {
            vec![(20, 0), (21, 0)]
        });
    };
    let mut errs = Vec::new();
    if !crate::crl::signed_by(ca, f.sig_oid(leaf), f.tbs(leaf), f.signature(leaf)) {
        errs.push((7, 0));
    }
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    match f.validity() {
        Some((nb, _)) if now < nb => errs.push((9, 0)),
        Some((_, na)) if now > na => errs.push((10, 0)),
        Some(_) => {}
        // A time that does not read: OpenSSL's "format error in certificate's notAfter field".
        None => errs.push((14, 0)),
    }
    Some(errs)
}

impl fmt::Debug for IgnoringVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IgnoringVerifier")
            .field("ca", &self.ca)
            .field("crt", &self.crt)
            .finish_non_exhaustive()
    }
}

impl IgnoringVerifier {
    pub fn new(
        inner: Arc<dyn ClientCertVerifier>,
        ca: Option<IgnoreErr>,
        crt: Option<IgnoreErr>,
    ) -> Self {
        IgnoringVerifier {
            inner,
            ca,
            crt,
            algorithms: None,
            crls: None,
            cas: Vec::new(),
        }
    }

    /// Verifies version 1 client certificates issued by one of `cas` (the CAs of `ca-file`) itself.
    pub fn with_cas(mut self, cas: Vec<CertificateDer<'static>>) -> Self {
        self.cas = cas;
        self
    }

    /// Also checks chains against the version 1 lists of `crl-file`.
    pub fn with_v1_crls(mut self, crls: Arc<crate::crl::V1Crls>) -> Self {
        self.crls = Some(crls);
        self
    }

    /// Every error of a chain: webpki's (and the rustls error it refused with), then the version 1 lists'.
    fn all_errors(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> (Vec<(u8, u8)>, Option<Error>) {
        let (mut errs, first) = match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Ok(_) => (Vec::new(), None),
            // webpki reads no version 1 certificate: such a client certificate is checked here.
            Err(e) => match v1_leaf_errors(&self.cas, end_entity, now) {
                Some(errs) => (errs, None),
                None => (errors(&e, end_entity, intermediates), Some(e)),
            },
        };
        if let Some(c) = &self.crls {
            // In OpenSSL's order: building the chain (no issuer, self-signed), then revocation, then signatures
            // and validity (`ssl_c_verify` is the last one).
            let at = errs
                .iter()
                .position(|&(code, _)| !matches!(code, 2 | 18 | 19 | 20 | 21))
                .unwrap_or(errs.len());
            let revocation = c.errors(end_entity, intermediates);
            errs.splice(at..at, revocation);
        }
        (errs, first)
    }

    /// Checks the handshake signatures of version 1 certificates with `algorithms` (the provider's).
    pub fn with_algorithms(
        mut self,
        algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
    ) -> Self {
        self.algorithms = Some(algorithms);
        self
    }

    /// A handshake signature made with the key of a version 1 certificate (see [`v1_handshake_signature`]).
    fn v1_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
        tls13: bool,
    ) -> Option<Result<HandshakeSignatureValid, Error>> {
        v1_handshake_signature(self.algorithms.as_ref()?, message, cert, dss, tls13)
    }

    /// Whether every error of `errs` is let through.
    fn ignored(&self, errs: &[(u8, u8)]) -> bool {
        errs.iter().all(|&(code, depth)| {
            let list = if depth == 0 { &self.crt } else { &self.ca };
            list.as_ref().is_some_and(|l| l.ignores(code))
        })
    }

    /// What verifying a client's chain finds (after a handshake that let it through, for the fetches).
    pub fn check(&self, certs: &[CertificateDer<'_>]) -> Outcome {
        let Some((leaf, intermediates)) = certs.split_first() else {
            return Outcome::default();
        };
        outcome(&self.all_errors(leaf, intermediates, UnixTime::now()).0)
    }
}

/// A handshake signature made with the key of a version 1 certificate, which webpki does not read: checked
/// against the certificate's public key read by fulcrum's DER walker. `None`: not such a certificate.
pub(crate) fn v1_handshake_signature(
    algs: &rustls::crypto::WebPkiSupportedAlgorithms,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    tls13: bool,
) -> Option<Result<HandshakeSignatureValid, Error>> {
    let fields = crate::x509::CertFields::parse(cert)?;
    if fields.version() != 1 {
        return None;
    }
    let spki = rustls::pki_types::SubjectPublicKeyInfoDer::from(fields.spki(cert));
    if tls13 {
        return Some(rustls::crypto::verify_tls13_signature_with_raw_key(
            message, &spki, dss, algs,
        ));
    }
    let key = webpki::RawPublicKeyEntity::try_from(&spki).ok()?;
    let ok = algs
        .mapping
        .iter()
        .filter(|(scheme, _)| *scheme == dss.scheme)
        .flat_map(|(_, candidates)| candidates.iter())
        .any(|alg| key.verify_signature(*alg, message, dss.signature()).is_ok());
    Some(if ok {
        Ok(HandshakeSignatureValid::assertion())
    } else {
        Err(Error::InvalidCertificate(CertificateError::BadSignature))
    })
}

impl ClientCertVerifier for IgnoringVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let (errs, first) = self.all_errors(end_entity, intermediates, now);
        if errs.is_empty() || self.ignored(&errs) {
            return Ok(ClientCertVerified::assertion());
        }
        Err(first.unwrap_or_else(|| error_of(errs[0].0)))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner
            .verify_tls12_signature(message, cert, dss)
            .or_else(|e| {
                self.v1_signature(message, cert, dss, false)
                    .unwrap_or(Err(e))
            })
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner
            .verify_tls13_signature(message, cert, dss)
            .or_else(|e| {
                self.v1_signature(message, cert, dss, true)
                    .unwrap_or(Err(e))
            })
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_openssl_s_order() {
        // An unknown issuer of a lone leaf: 20 then 21, both on the leaf; 21 is the final result.
        assert_eq!(
            outcome(&[(20, 0), (21, 0)]),
            Outcome {
                verify: 21,
                crt_err: 20,
                ca_err: 0,
                ca_err_depth: 0
            }
        );
        assert_eq!(
            outcome(&[(20, 2)]),
            Outcome {
                verify: 20,
                crt_err: 0,
                ca_err: 20,
                ca_err_depth: 2
            }
        );
        assert_eq!(outcome(&[]), Outcome::default());
    }

    #[test]
    fn reasons_map_to_openssl_numbers() {
        let leaf = CertificateDer::from(vec![0u8; 4]);
        let e = |c| Error::InvalidCertificate(c);
        assert_eq!(errors(&e(CertificateError::Expired), &leaf, &[]), [(10, 0)]);
        assert_eq!(
            errors(&e(CertificateError::NotValidYet), &leaf, &[]),
            [(9, 0)]
        );
        assert_eq!(errors(&e(CertificateError::Revoked), &leaf, &[]), [(23, 0)]);
        // Not a parseable certificate, so not self-signed: no local issuer.
        assert_eq!(
            errors(&e(CertificateError::UnknownIssuer), &leaf, &[]),
            [(20, 0), (21, 0)]
        );
        assert_eq!(
            errors(
                &e(CertificateError::UnknownIssuer),
                &leaf,
                std::slice::from_ref(&leaf)
            ),
            [(20, 1)]
        );
        assert_eq!(errors(&Error::General("x".into()), &leaf, &[]), [(1, 0)]);
    }
}
