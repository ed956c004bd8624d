//! What the runtime API's `show ssl cert NAME` prints about a certificate, in HAProxy's layout: serial, validity,
//! names, key algorithm, SHA-1 fingerprint, subject and issuer. Read from the DER with the walker of [`crate::dn`].

use rustls::pki_types::CertificateDer;

use crate::dn::{self, tlv};

/// The facts of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Hexadecimal, upper case.
    pub serial: String,
    /// `Dec  5 04:42:57 2026 GMT`
    pub not_before: String,
    /// Same layout.
    pub not_after: String,
    /// `DNS:a.test, DNS:*.b.test`
    pub san: String,
    /// `EC256`, `RSA2048`
    pub algorithm: String,
    /// SHA-1 of the DER, hexadecimal upper case.
    pub sha1: String,
    /// `/C=FR/CN=host`
    pub subject: String,
    /// Same layout.
    pub issuer: String,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// `YYMMDDHHMMSSZ` (UTCTime) or `YYYYMMDDHHMMSSZ` (GeneralizedTime) as OpenSSL prints it.
pub(crate) fn time(tag: u8, v: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(v).ok()?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: u32 = s.get(0..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(0..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let num = |a: usize| -> Option<u32> { rest.get(a..a + 2)?.parse().ok() };
    let month = *[
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .get(usize::try_from(num(0)?).ok()?.checked_sub(1)?)?;
    Some(format!(
        "{month} {:>2} {:02}:{:02}:{:02} {year} GMT",
        num(2)?,
        num(4)?,
        num(6)?,
        num(8)?
    ))
}

/// The key algorithm and size from a SubjectPublicKeyInfo's content.
fn algorithm(spki: &[u8]) -> Option<String> {
    let (_, alg, rest) = tlv(spki)?;
    let (_, oid, params) = tlv(alg)?;
    match oid {
        // id-ecPublicKey: the curve names the size.
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01] => {
            let (_, curve, _) = tlv(params)?;
            let bits = match curve {
                [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] => 256,
                [0x2b, 0x81, 0x04, 0x00, 0x22] => 384,
                [0x2b, 0x81, 0x04, 0x00, 0x23] => 521,
                _ => return Some("EC".into()),
            };
            Some(format!("EC{bits}"))
        }
        // rsaEncryption: the modulus' length.
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01] => {
            let (_, bits, _) = tlv(rest)?;
            // BIT STRING: one byte of unused bits, then RSAPublicKey ::= SEQUENCE { modulus, exponent }.
            let (_, key, _) = tlv(bits.get(1..)?)?;
            let (_, modulus, _) = tlv(key)?;
            let m = match modulus.first() {
                Some(0) => &modulus[1..],
                _ => modulus,
            };
            let lead = m.first().map_or(0, |b| 8 - b.leading_zeros() as usize);
            Some(format!("RSA{}", (m.len().saturating_sub(1)) * 8 + lead))
        }
        [0x2b, 0x65, 0x70] => Some("ED25519".into()),
        _ => None,
    }
}

impl CertInfo {
    /// Reads a certificate; `None` when its DER is not what a certificate holds.
    pub fn of(cert: &CertificateDer<'_>) -> Option<CertInfo> {
        let (_, c, _) = tlv(cert)?;
        let (_, tbs, _) = tlv(c)?;
        let mut rest = tbs;
        // [0] EXPLICIT version, when present.
        if rest.first() == Some(&0xa0) {
            rest = tlv(rest)?.2;
        }
        let (_, serial, r) = tlv(rest)?;
        let (_, _sigalg, r) = tlv(r)?;
        let (_, issuer, r) = tlv(r)?;
        let (_, validity, r) = tlv(r)?;
        let (_, subject, r) = tlv(r)?;
        let (_, spki, _) = tlv(r)?;
        let (t1, nb, v) = tlv(validity)?;
        let (t2, na, _) = tlv(v)?;
        let serial = match serial {
            [0, rest @ ..] if !rest.is_empty() => rest,
            s => s,
        };
        let san = webpki::EndEntityCert::try_from(cert)
            .map(|ee| {
                ee.valid_dns_names()
                    .map(|n| format!("DNS:{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert);
        Some(CertInfo {
            serial: hex(serial),
            not_before: time(t1, nb)?,
            not_after: time(t2, na)?,
            san,
            algorithm: algorithm(spki).unwrap_or_default(),
            sha1: hex(sha1.as_ref()),
            subject: dn::oneline(subject)?,
            issuer: dn::oneline(issuer)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_openssl_prints_them() {
        assert_eq!(
            time(0x17, b"261205044257Z").as_deref(),
            Some("Dec  5 04:42:57 2026 GMT")
        );
        assert_eq!(
            time(0x18, b"20501231235959Z").as_deref(),
            Some("Dec 31 23:59:59 2050 GMT")
        );
        assert_eq!(time(0x17, b"261305044257Z"), None);
        assert_eq!(time(0x17, b"26"), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = CertInfo::of(&CertificateDer::from(bytes));
        }
    }
}
