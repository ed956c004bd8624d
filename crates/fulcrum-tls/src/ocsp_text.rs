//! What the runtime API prints about an OCSP response: `show ssl ocsp-response` lists the certificate IDs of the
//! responses held (`Certificate ID key : <hex of the DER CertID>`), and `show ssl ocsp-response KEY` or
//! `show ssl cert FILE.ocsp` print the whole response in the layout haproxy 2.6 prints it (OpenSSL's text of an
//! OCSP response, observed line for line against haproxy 2.6.12): status, type, version, responder, the single
//! responses with their certificate IDs and statuses, the response extensions, the signature, then each
//! certificate the response carries (see [`crate::cert_text`]).
//!
//! The DER is decoded with RustCrypto's `x509-ocsp` types; what this module adds is the text.

use der::{Decode, Encode};
use x509_cert::ext::pkix::CrlReason;
use x509_ocsp::{BasicOcspResponse, CertId, CertStatus, OcspResponse, OcspResponseStatus};

use crate::cert_text::{self, hex_upper};

/// id-pkix-ocsp-basic (1.3.6.1.5.5.7.48.1.1).
const OCSP_BASIC: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");

/// One single response's certificate ID: its DER (the key HAProxy names it by) and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdView {
    /// The DER of the CertID.
    pub der: Vec<u8>,
    /// The issuer's name hash.
    pub name_hash: Vec<u8>,
    /// The issuer's key hash.
    pub key_hash: Vec<u8>,
    /// The serial number's bytes, without the sign byte.
    pub serial: Vec<u8>,
}

impl CertIdView {
    fn of(id: &CertId) -> Option<CertIdView> {
        Some(CertIdView {
            der: id.to_der().ok()?,
            name_hash: id.issuer_name_hash.as_bytes().to_vec(),
            key_hash: id.issuer_key_hash.as_bytes().to_vec(),
            serial: crate::ocsp::strip_zero(id.serial_number.as_bytes()).to_vec(),
        })
    }

    /// The key in lower-case hexadecimal, as `show ssl ocsp-response` and `show ssl cert` print it.
    pub fn key_hex(&self) -> String {
        self.der.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Its entry in the list `show ssl ocsp-response` prints (after the `# Certificate IDs` line).
    pub fn list_entry(&self) -> String {
        format!(
            "Certificate ID key : {}\n Certificate ID:\n   Issuer Name Hash: {}\n   Issuer Key Hash: {}\n   Serial Number: {}\n",
            self.key_hex(),
            hex_upper(&self.name_hash),
            hex_upper(&self.key_hash),
            serial_hex(&self.serial)
        )
    }
}

/// A serial number as OpenSSL writes an INTEGER in hexadecimal: its bytes upper-case, `00` for none.
fn serial_hex(magnitude: &[u8]) -> String {
    if magnitude.is_empty() {
        "00".into()
    } else {
        hex_upper(magnitude)
    }
}

/// The basic response inside a successful OCSP response.
fn basic(der: &[u8]) -> Option<BasicOcspResponse> {
    let resp = OcspResponse::from_der(der).ok()?;
    if resp.response_status != OcspResponseStatus::Successful {
        return None;
    }
    let bytes = resp.response_bytes?;
    if bytes.response_type != OCSP_BASIC {
        return None;
    }
    BasicOcspResponse::from_der(bytes.response.as_bytes()).ok()
}

/// The certificate IDs of a successful basic OCSP response's single responses, in order; `None` when `der` is no
/// such response.
pub fn cert_ids(der: &[u8]) -> Option<Vec<CertIdView>> {
    basic(der)?
        .tbs_response_data
        .responses
        .iter()
        .map(|s| CertIdView::of(&s.cert_id))
        .collect()
}

/// The certificate ID of the single response of `der` that answers for certificate `cert` (matched by serial
/// number), as HAProxy keys the response it staples for a certificate.
pub fn id_for(cert: &[u8], der: &[u8]) -> Option<CertIdView> {
    let cert = rustls::pki_types::CertificateDer::from(cert);
    let ee = webpki::EndEntityCert::try_from(&cert).ok()?;
    let serial = crate::ocsp::strip_zero(ee.serial());
    cert_ids(der)?.into_iter().find(|id| id.serial == serial)
}

/// OpenSSL's name of an OCSP response status.
fn status_name(s: OcspResponseStatus) -> &'static str {
    match s {
        OcspResponseStatus::Successful => "successful",
        OcspResponseStatus::MalformedRequest => "malformedrequest",
        OcspResponseStatus::InternalError => "internalerror",
        OcspResponseStatus::TryLater => "trylater",
        OcspResponseStatus::SigRequired => "sigrequired",
        OcspResponseStatus::Unauthorized => "unauthorized",
    }
}

/// OpenSSL's name of a revocation reason.
fn reason_name(r: CrlReason) -> &'static str {
    match r {
        CrlReason::Unspecified => "unspecified",
        CrlReason::KeyCompromise => "keyCompromise",
        CrlReason::CaCompromise => "cACompromise",
        CrlReason::AffiliationChanged => "affiliationChanged",
        CrlReason::Superseded => "superseded",
        CrlReason::CessationOfOperation => "cessationOfOperation",
        CrlReason::CertificateHold => "certificateHold",
        CrlReason::RemoveFromCRL => "removeFromCRL",
        CrlReason::PrivilegeWithdrawn | CrlReason::AaCompromise => "(UNKNOWN)",
    }
}

/// The short name OpenSSL gives a hash algorithm (the dotted OID for another).
fn hash_name(oid: &der::oid::ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.3.14.3.2.26" => "sha1".into(),
        "2.16.840.1.101.3.4.2.1" => "sha256".into(),
        "2.16.840.1.101.3.4.2.2" => "sha384".into(),
        "2.16.840.1.101.3.4.2.3" => "sha512".into(),
        "2.16.840.1.101.3.4.2.4" => "sha224".into(),
        "1.2.840.113549.2.5" => "md5".into(),
        other => other.into(),
    }
}

/// The text of an OCSP response as the runtime API prints it (without the empty line that closes the answer):
/// [`describe`]'s, each empty line a single space, as haproxy 2.6 writes them so that the answer does not end
/// early.
pub fn cli_text(der: &[u8]) -> Option<String> {
    Some(
        describe(der)?
            .split_inclusive('\n')
            .map(|l| if l == "\n" { " \n" } else { l })
            .collect(),
    )
}

/// The whole text of an OCSP response, as OpenSSL's `openssl ocsp -resp_text` prints it; `None` when `der` does
/// not decode as an OCSP response.
pub fn describe(der: &[u8]) -> Option<String> {
    let resp = OcspResponse::from_der(der).ok()?;
    let status = resp.response_status;
    let mut out = format!(
        "OCSP Response Data:\n    OCSP Response Status: {} (0x{:x})\n",
        status_name(status),
        status as u32
    );
    let Some(bytes) = resp.response_bytes else {
        return Some(out);
    };
    if bytes.response_type != OCSP_BASIC {
        out.push_str(&format!(
            "    Response Type: {}\n (unknown response type)\n",
            bytes.response_type
        ));
        return Some(out);
    }
    out.push_str("    Response Type: Basic OCSP Response\n");
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).ok()?;
    let data = &basic.tbs_response_data;
    let v = data.version as u32;
    out.push_str(&format!("    Version: {} (0x{v:x})\n", v + 1));
    match &data.responder_id {
        x509_ocsp::ResponderId::ByName(name) => out.push_str(&format!(
            "    Responder Id: {}\n",
            cert_text::name_spaced(&name.to_der().ok()?)?
        )),
        x509_ocsp::ResponderId::ByKey(k) => {
            out.push_str(&format!("    Responder Id: {}\n", hex_upper(k.as_bytes())))
        }
    }
    out.push_str(&format!(
        "    Produced At: {}\n    Responses:\n",
        cert_text::gmt(&data.produced_at.0)
    ));
    for single in &data.responses {
        let id = &single.cert_id;
        out.push_str(&format!(
            "    Certificate ID:\n      Hash Algorithm: {}\n      Issuer Name Hash: {}\n      Issuer Key Hash: {}\n      Serial Number: {}\n",
            hash_name(&id.hash_algorithm.oid),
            hex_upper(id.issuer_name_hash.as_bytes()),
            hex_upper(id.issuer_key_hash.as_bytes()),
            serial_hex(crate::ocsp::strip_zero(id.serial_number.as_bytes()))
        ));
        match &single.cert_status {
            CertStatus::Good(_) => out.push_str("    Cert Status: good\n"),
            CertStatus::Unknown(_) => out.push_str("    Cert Status: unknown\n"),
            CertStatus::Revoked(info) => {
                out.push_str(&format!(
                    "    Cert Status: revoked\n    Revocation Time: {}\n",
                    cert_text::gmt(&info.revocation_time.0)
                ));
                if let Some(r) = info.revocation_reason {
                    out.push_str(&format!(
                        "    Revocation Reason: {} (0x{:x})\n",
                        reason_name(r),
                        r as u32
                    ));
                }
            }
        }
        out.push_str(&format!(
            "    This Update: {}\n",
            cert_text::gmt(&single.this_update.0)
        ));
        if let Some(n) = &single.next_update {
            out.push_str(&format!("    Next Update: {}\n", cert_text::gmt(&n.0)));
        }
        if let Some(exts) = &single.single_extensions {
            cert_text::extensions(&mut out, "Response Single Extensions", exts, 8);
        }
        out.push('\n');
    }
    if let Some(exts) = &data.response_extensions {
        cert_text::extensions(&mut out, "Response Extensions", exts, 4);
    }
    cert_text::signature(
        &mut out,
        &basic.signature_algorithm.oid,
        basic.signature.raw_bytes(),
    );
    for c in basic.certs.iter().flatten() {
        if let Some(text) = cert_text::describe(c) {
            out.push_str(&text);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_no_ocsp_response_has_no_text() {
        assert_eq!(describe(b""), None);
        assert_eq!(describe(&[0x30, 0x03, 0x0a, 0x01, 0x09]), None);
        assert_eq!(cert_ids(&[0x30, 0x03, 0x0a, 0x01, 0x00]), None);
    }

    #[test]
    fn an_unsuccessful_response_prints_its_status_alone() {
        // OCSPResponse { responseStatus tryLater }
        assert_eq!(
            describe(&[0x30, 0x03, 0x0a, 0x01, 0x03]).as_deref(),
            Some("OCSP Response Data:\n    OCSP Response Status: trylater (0x3)\n")
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = describe(&bytes);
            let _ = cert_ids(&bytes);
        }
    }
}
