//! The DER of a certificate made for `generate-certificates`, laid out as haproxy 2.6.12 (OpenSSL 3.0) makes
//! one, observed black-box: version 3; the serial given; the issuer is the CA's subject, copied byte for byte;
//! valid from a day before `now` to 365 days after; the subject is the CA's subject with one more RDN, `CN=name`
//! (a UTF8String); the key of the bind line's default certificate (its SubjectPublicKeyInfo copied); and six
//! non-critical extensions in this order: basicConstraints `CA:FALSE`, the Netscape comment
//! `"OpenSSL Generated Certificate"` (quotes included), subjectKeyIdentifier (SHA-1 of the key's bits),
//! authorityKeyIdentifier (the CA's own key identifier when it has one, the CA's issuer and serial),
//! keyUsage `digitalSignature, nonRepudiation, keyEncipherment`, and subjectAltName `DNS:name`.
//!
//! Written by hand rather than with rcgen: rcgen builds names from a map of attribute types, so it can neither
//! repeat `CN` (the subject holds the CA's CN and the client's name) nor keep the CA's name as its bytes (repeated
//! `DC` / `OU`, string types), and its authorityKeyIdentifier holds a key identifier only.

use crate::dn::tlv;

/// OIDs (content bytes).
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const OID_SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
const OID_AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23];
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// 2.16.840.1.113730.1.13, Netscape's certificate comment.
const OID_NS_COMMENT: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x86, 0xf8, 0x42, 0x01, 0x0d];
/// 1.2.840.10045.4.3.2
pub(crate) const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// 1.2.840.113549.1.1.11
pub(crate) const OID_RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];

/// What HAProxy writes in the Netscape comment (OpenSSL's configuration value, quotes and all).
const COMMENT: &[u8] = b"\"OpenSSL Generated Certificate\"";

/// Appends one DER element.
fn put(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// One DER element.
fn el(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 4);
    put(&mut out, tag, content);
    out
}

/// A SEQUENCE of the given elements.
fn seq(parts: &[&[u8]]) -> Vec<u8> {
    el(0x30, &parts.concat())
}

/// The content of a positive INTEGER whose magnitude is `magnitude` (big-endian, leading zeros dropped).
fn positive(magnitude: &[u8]) -> Vec<u8> {
    let m = match magnitude.iter().position(|b| *b != 0) {
        Some(i) => &magnitude[i..],
        None => &[0][..],
    };
    let mut out = Vec::with_capacity(m.len() + 1);
    if m[0] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(m);
    out
}

/// The signature algorithm of the certificate: what the CA's key type signs with (always SHA-256, as HAProxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigAlg {
    /// `ecdsa-with-SHA256` (no parameters).
    EcdsaSha256,
    /// `sha256WithRSAEncryption` (NULL parameters).
    RsaSha256,
}

impl SigAlg {
    /// Its AlgorithmIdentifier.
    fn identifier(self) -> Vec<u8> {
        match self {
            SigAlg::EcdsaSha256 => seq(&[&el(0x06, OID_ECDSA_SHA256)]),
            SigAlg::RsaSha256 => seq(&[&el(0x06, OID_RSA_SHA256), &[0x05, 0x00]]),
        }
    }
}

/// What the certificate takes from its CA: parts of the CA certificate's DER.
#[derive(Debug, Clone)]
pub(crate) struct CaParts {
    /// The CA's subject Name, whole (tag and length too): the new certificate's issuer.
    pub subject: Vec<u8>,
    /// The CA's issuer Name, whole: the authorityKeyIdentifier's issuer.
    pub issuer: Vec<u8>,
    /// The magnitude of the CA's serial number.
    pub serial: Vec<u8>,
    /// The CA's subjectKeyIdentifier, when it has one.
    pub key_id: Option<Vec<u8>>,
}

impl CaParts {
    /// The parts of CA certificate `der`; `None` when it does not read as a certificate.
    pub fn of(der: &[u8]) -> Option<CaParts> {
        let f = crate::x509::CertFields::parse(der)?;
        Some(CaParts {
            subject: el(0x30, f.subject(der)),
            issuer: el(0x30, f.issuer(der)),
            serial: f.serial(der).to_vec(),
            key_id: extension(der, OID_SUBJECT_KEY_ID).and_then(|v| match tlv(v) {
                Some((0x04, id, _)) => Some(id.to_vec()),
                _ => None,
            }),
        })
    }
}

/// The value (inside its OCTET STRING) of extension `oid` of certificate `der`.
fn extension<'d>(der: &'d [u8], oid: &[u8]) -> Option<&'d [u8]> {
    let (0x30, cert, _) = tlv(der)? else {
        return None;
    };
    let (0x30, mut tbs, _) = tlv(cert)? else {
        return None;
    };
    // Skip the fields up to the [3] extensions.
    let exts = loop {
        let (tag, v, rest) = tlv(tbs)?;
        if tag == 0xa3 {
            break v;
        }
        tbs = rest;
    };
    let (0x30, mut list, _) = tlv(exts)? else {
        return None;
    };
    while let Some((0x30, ext, rest)) = tlv(list) {
        list = rest;
        let Some((0x06, id, mut r)) = tlv(ext) else {
            continue;
        };
        if id != oid {
            continue;
        }
        // critical BOOLEAN, when written.
        if let Some((0x01, _, after)) = tlv(r) {
            r = after;
        }
        return match tlv(r)? {
            (0x04, value, _) => Some(value),
            _ => None,
        };
    }
    None
}

/// A time as X.509 writes it: UTCTime for the years 1950 to 2049, GeneralizedTime otherwise.
fn time(epoch: i64) -> Vec<u8> {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    let hms = format!("{:02}{:02}{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60);
    if (1950..2050).contains(&y) {
        el(0x17, format!("{:02}{m:02}{d:02}{hms}", y % 100).as_bytes())
    } else {
        el(0x18, format!("{y:04}{m:02}{d:02}{hms}").as_bytes())
    }
}

/// The civil date (year, month, day) of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// One extension, not critical.
fn ext(oid: &[u8], value: &[u8]) -> Vec<u8> {
    seq(&[&el(0x06, oid), &el(0x04, value)])
}

/// What a certificate for `name` holds besides the CA and the key.
pub(crate) struct Request<'a> {
    /// The client's server name (lower case).
    pub name: &'a str,
    /// The SubjectPublicKeyInfo (whole) of the key it certifies.
    pub spki: &'a [u8],
    /// Its serial number.
    pub serial: u64,
    /// Seconds since the epoch.
    pub now: i64,
}

/// The TBSCertificate (what the CA signs) for `req`, issued by `ca` and signed with `alg`; `None` when the key
/// does not read as a SubjectPublicKeyInfo.
pub(crate) fn tbs(ca: &CaParts, alg: SigAlg, req: &Request<'_>) -> Option<Vec<u8>> {
    // The key's bits (after the unused-bits count) give its identifier.
    let (0x30, spki, _) = tlv(req.spki)? else {
        return None;
    };
    let (0x30, _, rest) = tlv(spki)? else {
        return None;
    };
    let (0x03, bits, _) = tlv(rest)? else {
        return None;
    };
    let key_bits = bits.get(1..)?;
    let ski = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, key_bits);
    // The subject: the CA's RDNs, then CN=name.
    let (0x30, ca_rdns, _) = tlv(&ca.subject)? else {
        return None;
    };
    let cn = el(
        0x31,
        &seq(&[&el(0x06, OID_CN), &el(0x0c, req.name.as_bytes())]),
    );
    let subject = el(0x30, &[ca_rdns, &cn].concat());
    let mut aki = Vec::new();
    if let Some(id) = &ca.key_id {
        put(&mut aki, 0x80, id);
    }
    put(&mut aki, 0xa1, &el(0xa4, &ca.issuer));
    put(&mut aki, 0x82, &positive(&ca.serial));
    let extensions = seq(&[
        &ext(OID_BASIC_CONSTRAINTS, &seq(&[])),
        &ext(OID_NS_COMMENT, &el(0x16, COMMENT)),
        &ext(OID_SUBJECT_KEY_ID, &el(0x04, ski.as_ref())),
        &ext(OID_AUTHORITY_KEY_ID, &el(0x30, &aki)),
        // digitalSignature, nonRepudiation, keyEncipherment: bits 0-2, five unused bits.
        &ext(OID_KEY_USAGE, &el(0x03, &[0x05, 0xe0])),
        &ext(
            OID_SUBJECT_ALT_NAME,
            &seq(&[&el(0x82, req.name.as_bytes())]),
        ),
    ]);
    Some(seq(&[
        &el(0xa0, &el(0x02, &[2])),
        &el(0x02, &positive(&req.serial.to_be_bytes())),
        &alg.identifier(),
        &ca.subject,
        &seq(&[&time(req.now - 86_400), &time(req.now + 365 * 86_400)]),
        &subject,
        req.spki,
        &el(0xa3, &extensions),
    ]))
}

/// The certificate: `tbs`, the algorithm and the CA's `signature` over it.
pub(crate) fn certificate(tbs: &[u8], alg: SigAlg, signature: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0);
    bits.extend_from_slice(signature);
    seq(&[tbs, &alg.identifier(), &el(0x03, &bits)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_times_and_integers() {
        assert_eq!(el(0x04, &[1, 2]), [0x04, 2, 1, 2]);
        let long = el(0x04, &[0; 200]);
        assert_eq!(&long[..3], &[0x04, 0x81, 200]);
        let longer = el(0x04, &[0; 300]);
        assert_eq!(&longer[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(positive(&[0, 0, 0x4a, 0xf0]), [0x4a, 0xf0]);
        assert_eq!(positive(&[0, 0, 0xca, 0xf0]), [0, 0xca, 0xf0]);
        assert_eq!(positive(&[0, 0]), [0]);
        // 2026-12-06T10:39:45Z, as haproxy wrote the day before as notBefore.
        assert_eq!(time(1_796_553_585 - 86_400), el(0x17, b"261205103945Z"));
        assert_eq!(time(0), el(0x17, b"700101000000Z"));
        // 2050 and later are GeneralizedTime.
        assert_eq!(time(2_524_608_000), el(0x18, b"20500101000000Z"));
        assert_eq!(time(951_782_400), el(0x17, b"000229000000Z"));
    }
}
