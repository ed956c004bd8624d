//! The check HAProxy makes of an OCSP response loaded from `FILE.ocsp` before stapling it: the response must be
//! a successful basic response with exactly one single response, whose certificate ID is that of the certificate
//! (the hashes of its issuer's name and key, and its serial number), with a next update and within its validity
//! period (five minutes of clock skew allowed either way). A response that fails is not stapled and the proxy warns
//! ([`Rejected`]'s texts are HAProxy's reasons). The certificate's issuer comes from `FILE.issuer` when there is one,
//! else from the chain ([`issuer_of`]).

use std::time::{Duration, SystemTime};

use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_ocsp::{BasicOcspResponse, OcspResponse, OcspResponseStatus};

/// Clock skew allowed on an OCSP response's update times (OpenSSL's `OCSP_check_validity` with HAProxy's 300 s).
const SKEW: Duration = Duration::from_secs(300);

/// id-pkix-ocsp-basic (1.3.6.1.5.5.7.48.1.1).
const OCSP_BASIC: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");

/// Why a loaded OCSP response is not stapled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Not DER of an OCSP response.
    #[error("Unable to parse OCSP response")]
    Unparsable,
    /// Its status is not `successful`.
    #[error("OCSP response status not successful")]
    NotSuccessful,
    /// Successful but not a basic response (or a broken one).
    #[error("Failed to get basic response from OCSP Response")]
    NoBasic,
    /// More than one single response.
    #[error("OCSP response ignored because contains multiple single responses ({0})")]
    Multiple(usize),
    /// No single response.
    #[error("Failed to get OCSP single response")]
    NoSingle,
    /// The single response is about another certificate.
    #[error("OCSP single response: Certificate ID does not match certificate and issuer")]
    OtherCertificate,
    /// No nextUpdate.
    #[error("OCSP single response: missing nextupdate")]
    NoNextUpdate,
    /// Not yet valid, or expired.
    #[error("OCSP single response: no longer valid.")]
    NotValidNow,
}

/// Checks OCSP response `der` against certificate `leaf` issued by `issuer` (both DER), at time `now`.
pub fn check(der: &[u8], leaf: &[u8], issuer: &[u8], now: SystemTime) -> Result<(), Rejected> {
    let resp = OcspResponse::from_der(der).map_err(|_| Rejected::Unparsable)?;
    if resp.response_status != OcspResponseStatus::Successful {
        return Err(Rejected::NotSuccessful);
    }
    let basic = resp
        .response_bytes
        .filter(|b| b.response_type == OCSP_BASIC)
        .and_then(|b| BasicOcspResponse::from_der(b.response.as_bytes()).ok())
        .ok_or(Rejected::NoBasic)?;
    let singles = &basic.tbs_response_data.responses;
    let single = match singles.as_slice() {
        [one] => one,
        [] => return Err(Rejected::NoSingle),
        many => return Err(Rejected::Multiple(many.len())),
    };
    let id = &single.cert_id;
    let (Some(hash), Some(expected)) = (
        digest_of(&id.hash_algorithm.oid),
        CertIdParts::of(leaf, issuer),
    ) else {
        return Err(Rejected::OtherCertificate);
    };
    let same = aws_lc_rs::digest::digest(hash, &expected.issuer_name).as_ref()
        == id.issuer_name_hash.as_bytes()
        && aws_lc_rs::digest::digest(hash, &expected.issuer_key).as_ref()
            == id.issuer_key_hash.as_bytes()
        && crate::ocsp::strip_zero(id.serial_number.as_bytes())
            == crate::ocsp::strip_zero(&expected.serial);
    if !same {
        return Err(Rejected::OtherCertificate);
    }
    let Some(next) = &single.next_update else {
        return Err(Rejected::NoNextUpdate);
    };
    let this = single.this_update.0.to_system_time();
    let next = next.0.to_system_time();
    if this > now + SKEW || next + SKEW < now || next < this {
        return Err(Rejected::NotValidNow);
    }
    Ok(())
}

/// What a certificate ID is computed from: the DER of the certificate's issuer Name, the issuer's public key (the
/// BIT STRING's bytes) and the certificate's serial number.
struct CertIdParts {
    issuer_name: Vec<u8>,
    issuer_key: Vec<u8>,
    serial: Vec<u8>,
}

impl CertIdParts {
    fn of(leaf: &[u8], issuer: &[u8]) -> Option<CertIdParts> {
        let leaf = Certificate::from_der(leaf).ok()?;
        let issuer = Certificate::from_der(issuer).ok()?;
        Some(CertIdParts {
            issuer_name: leaf.tbs_certificate.issuer.to_der().ok()?,
            issuer_key: issuer
                .tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes()
                .to_vec(),
            serial: leaf.tbs_certificate.serial_number.as_bytes().to_vec(),
        })
    }
}

/// The digest a certificate ID names (SHA-1 is what OpenSSL and most responders use).
fn digest_of(oid: &der::oid::ObjectIdentifier) -> Option<&'static aws_lc_rs::digest::Algorithm> {
    Some(match oid.to_string().as_str() {
        "1.3.14.3.2.26" => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        "2.16.840.1.101.3.4.2.4" => &aws_lc_rs::digest::SHA224,
        "2.16.840.1.101.3.4.2.1" => &aws_lc_rs::digest::SHA256,
        "2.16.840.1.101.3.4.2.2" => &aws_lc_rs::digest::SHA384,
        "2.16.840.1.101.3.4.2.3" => &aws_lc_rs::digest::SHA512,
        _ => return None,
    })
}

/// Whether certificate `candidate` issued `leaf`: its subject is the leaf's issuer and its key verifies the leaf's
/// signature (the checks of OpenSSL's `X509_check_issued` that matter here).
pub fn issued(candidate: &[u8], leaf: &[u8]) -> bool {
    use crate::x509::CertFields;
    let (Some(c), Some(l)) = (CertFields::parse(candidate), CertFields::parse(leaf)) else {
        return false;
    };
    c.subject(candidate) == l.issuer(leaf)
        && crate::crl::signed_by(candidate, l.sig_oid(leaf), l.tbs(leaf), l.signature(leaf))
}

/// The issuer of `leaf` among the certificates of its chain (after the leaf), as HAProxy looks for it when a
/// `.issuer` file does not name it.
pub fn issuer_of<'a>(leaf: &[u8], chain: &'a [impl AsRef<[u8]>]) -> Option<&'a [u8]> {
    chain.iter().map(AsRef::as_ref).find(|c| issued(c, leaf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_no_successful_basic_response_is_refused_in_haproxys_words() {
        let now = SystemTime::now();
        assert_eq!(check(b"", b"", b"", now), Err(Rejected::Unparsable));
        assert_eq!(check(b"junk\n", b"", b"", now), Err(Rejected::Unparsable));
        // OCSPResponse { responseStatus unauthorized (6) }
        assert_eq!(
            check(&[0x30, 0x03, 0x0a, 0x01, 0x06], b"", b"", now),
            Err(Rejected::NotSuccessful)
        );
        // successful, without responseBytes
        assert_eq!(
            check(&[0x30, 0x03, 0x0a, 0x01, 0x00], b"", b"", now),
            Err(Rejected::NoBasic)
        );
        assert_eq!(
            Rejected::NotValidNow.to_string() + ".",
            "OCSP single response: no longer valid.."
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = check(&bytes, &bytes, &bytes, SystemTime::now());
            let _ = issued(&bytes, &bytes);
        }
    }
}
