//! The fields of a certificate the `ssl_c_*`, `ssl_s_*` and `ssl_f_*` fetches read (serial, names, validity,
//! algorithms, version, SHA-1), found once in its DER and kept as positions, so that a fetch is a slice and not a
//! parse. Read with the DER walker of [`crate::dn`]; what HAProxy prints, observed against haproxy 2.6.12:
//!
//! - the serial number without the sign byte DER puts before a high first byte (`00FF` is `FF`);
//! - `notBefore` / `notAfter` as the certificate writes them (`YYMMDDhhmmssZ`); a GeneralizedTime of the years
//!   2000 to 2099 loses its century, others have no value;
//! - the signature and key algorithms by OpenSSL's short names (`RSA-SHA256`, `ecdsa-with-SHA256`,
//!   `rsaEncryption`, `id-ecPublicKey`), no value for an OID OpenSSL does not name;
//! - the version as 1 to 3.

use std::ops::Range;

use crate::dn::tlv;

/// Where the fields are in a certificate's DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFields {
    serial: Range<usize>,
    issuer: Range<usize>,
    subject: Range<usize>,
    /// The whole SubjectPublicKeyInfo (tag and length too).
    spki: Range<usize>,
    /// The whole TBS part (what the issuer signed), the signature algorithm's OID and the signature's bytes.
    tbs: Range<usize>,
    sig_oid: Range<usize>,
    signature: Range<usize>,
    /// The validity period in seconds since the epoch, when its times read.
    validity: Option<(i64, i64)>,
    not_before: Option<Range<usize>>,
    not_after: Option<Range<usize>>,
    sig_alg: Option<&'static str>,
    key_alg: Option<&'static str>,
    version: u8,
    sha1: [u8; 20],
}

/// The position of `part` (a sub-slice) in `whole`.
fn span(whole: &[u8], part: &[u8]) -> Range<usize> {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    start..start + part.len()
}

/// A time as HAProxy prints it: UTCTime as it is, GeneralizedTime of 20xx without the century.
fn time(tag: u8, v: &[u8]) -> Option<&[u8]> {
    match tag {
        0x17 => Some(v),
        0x18 if v.len() >= 12 && v.starts_with(b"20") => Some(&v[2..]),
        _ => None,
    }
}

/// A UTCTime (`YYMMDDhhmmssZ`, years 1950-2049) or GeneralizedTime (`YYYYMMDDhhmmssZ`) in seconds since the epoch.
fn epoch(tag: u8, v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 if s.len() == 12 => {
            let yy: i64 = s.get(0..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        0x18 if s.len() == 14 => (s.get(0..4)?.parse().ok()?, &s[4..]),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |a: usize| -> Option<i64> { rest.get(a..a + 2)?.parse().ok() };
    let (month, day, h, m, sec) = (n(0)?, n(2)?, n(4)?, n(6)?, n(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days from the civil date (proleptic Gregorian calendar).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// OpenSSL's short name of a signature algorithm.
fn sig_alg_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, n] => match n {
            2 => "RSA-MD2",
            3 => "RSA-MD4",
            4 => "RSA-MD5",
            5 => "RSA-SHA1",
            10 => "RSASSA-PSS",
            11 => "RSA-SHA256",
            12 => "RSA-SHA384",
            13 => "RSA-SHA512",
            14 => "RSA-SHA224",
            15 => "RSA-SHA512/224",
            16 => "RSA-SHA512/256",
            _ => return None,
        },
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01] => "ecdsa-with-SHA1",
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, n] => match n {
            1 => "ecdsa-with-SHA224",
            2 => "ecdsa-with-SHA256",
            3 => "ecdsa-with-SHA384",
            4 => "ecdsa-with-SHA512",
            _ => return None,
        },
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, n] => match n {
            9 => "id-ecdsa-with-sha3-224",
            10 => "id-ecdsa-with-sha3-256",
            11 => "id-ecdsa-with-sha3-384",
            12 => "id-ecdsa-with-sha3-512",
            13 => "id-rsassa-pkcs1-v1_5-with-sha3-224",
            14 => "id-rsassa-pkcs1-v1_5-with-sha3-256",
            15 => "id-rsassa-pkcs1-v1_5-with-sha3-384",
            16 => "id-rsassa-pkcs1-v1_5-with-sha3-512",
            _ => return None,
        },
        [0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x03] => "DSA-SHA1",
        [0x2b, 0x65, 0x70] => "ED25519",
        [0x2b, 0x65, 0x71] => "ED448",
        _ => return None,
    })
}

/// OpenSSL's short name of a public key algorithm.
fn key_alg_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01] => "rsaEncryption",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a] => "RSASSA-PSS",
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01] => "id-ecPublicKey",
        [0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01] => "DSA",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x03, 0x01] => "dhKeyAgreement",
        [0x2b, 0x65, 0x6e] => "X25519",
        [0x2b, 0x65, 0x6f] => "X448",
        [0x2b, 0x65, 0x70] => "ED25519",
        [0x2b, 0x65, 0x71] => "ED448",
        _ => return None,
    })
}

/// The OID of an AlgorithmIdentifier's content.
fn algorithm_oid(alg: &[u8]) -> Option<&[u8]> {
    match tlv(alg)? {
        (0x06, oid, _) => Some(oid),
        _ => None,
    }
}

impl CertFields {
    /// Finds the fields of a certificate; `None` when its DER is not a certificate's.
    pub fn parse(der: &[u8]) -> Option<CertFields> {
        let (0x30, c, _) = tlv(der)? else {
            return None;
        };
        let (0x30, tbs, _) = tlv(c)? else {
            return None;
        };
        let mut rest = tbs;
        let mut version = 1;
        // [0] EXPLICIT version, when present.
        if let Some((0xa0, v, r)) = tlv(rest) {
            let (0x02, n, _) = tlv(v)? else {
                return None;
            };
            version = n.last()?.saturating_add(1);
            rest = r;
        }
        let (0x02, serial, r) = tlv(rest)? else {
            return None;
        };
        let (0x30, _inner_sig, r) = tlv(r)? else {
            return None;
        };
        let (0x30, issuer, r) = tlv(r)? else {
            return None;
        };
        let (0x30, validity, r) = tlv(r)? else {
            return None;
        };
        let (0x30, subject, r) = tlv(r)? else {
            return None;
        };
        let (0x30, spki, after_spki) = tlv(r)? else {
            return None;
        };
        let spki_whole = &r[..r.len() - after_spki.len()];
        // The signature algorithm after the TBS part, then the signature.
        let (_, _tbs, after) = tlv(c)?;
        let tbs_whole = &c[..c.len() - after.len()];
        let (0x30, sig_alg, after_alg) = tlv(after)? else {
            return None;
        };
        let (0x06, sig_oid, _) = tlv(sig_alg)? else {
            return None;
        };
        let (0x03, sig_bits, _) = tlv(after_alg)? else {
            return None;
        };
        let signature = sig_bits.get(1..)?;
        let (t1, nb, v) = tlv(validity)?;
        let (t2, na, _) = tlv(v)?;
        let (0x30, key_alg, _) = tlv(spki)? else {
            return None;
        };
        // The magnitude: DER's sign byte before a high first byte goes, a lone zero stays.
        let serial = match serial {
            [0, next, ..] if *next >= 0x80 => &serial[1..],
            s => s,
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
        let mut sha1 = [0u8; 20];
        sha1.copy_from_slice(digest.as_ref());
        Some(CertFields {
            serial: span(der, serial),
            issuer: span(der, issuer),
            subject: span(der, subject),
            spki: span(der, spki_whole),
            not_before: time(t1, nb).map(|t| span(der, t)),
            not_after: time(t2, na).map(|t| span(der, t)),
            tbs: span(der, tbs_whole),
            sig_oid: span(der, sig_oid),
            signature: span(der, signature),
            validity: epoch(t1, nb).zip(epoch(t2, na)),
            sig_alg: algorithm_oid(sig_alg).and_then(sig_alg_name),
            key_alg: algorithm_oid(key_alg).and_then(key_alg_name),
            version,
            sha1,
        })
    }

    /// The serial number's bytes.
    pub fn serial<'d>(&self, der: &'d [u8]) -> &'d [u8] {
        &der[self.serial.clone()]
    }

    /// The issuer's Name (the content of its SEQUENCE).
    pub fn issuer<'d>(&self, der: &'d [u8]) -> &'d [u8] {
        &der[self.issuer.clone()]
    }

    /// The subject's Name.
    pub fn subject<'d>(&self, der: &'d [u8]) -> &'d [u8] {
        &der[self.subject.clone()]
    }

    /// The SubjectPublicKeyInfo's DER.
    pub fn spki<'d>(&self, der: &'d [u8]) -> &'d [u8] {
        &der[self.spki.clone()]
    }

    /// What the issuer signed (the TBS part, whole).
    pub fn tbs<'d>(&self, der: &'d [u8]) -> &'d [u8] {
        &der[self.tbs.clone()]
    }

    /// The signature algorithm's OID.
    pub fn sig_oid<'d>(&self, der: &'d [u8]) -> &'d [u8] {
        &der[self.sig_oid.clone()]
    }

    /// The issuer's signature.
    pub fn signature<'d>(&self, der: &'d [u8]) -> &'d [u8] {
        &der[self.signature.clone()]
    }

    /// The validity period, seconds since the epoch (`None` when a time does not read).
    pub fn validity(&self) -> Option<(i64, i64)> {
        self.validity
    }

    /// The start of validity as HAProxy prints it.
    pub fn not_before<'d>(&self, der: &'d [u8]) -> Option<&'d [u8]> {
        der.get(self.not_before.clone()?)
    }

    /// The end of validity as HAProxy prints it.
    pub fn not_after<'d>(&self, der: &'d [u8]) -> Option<&'d [u8]> {
        der.get(self.not_after.clone()?)
    }

    /// The signature algorithm's short name.
    pub fn sig_alg(&self) -> Option<&'static str> {
        self.sig_alg
    }

    /// The public key algorithm's short name.
    pub fn key_alg(&self) -> Option<&'static str> {
        self.key_alg
    }

    /// The public key as OpenSSL's key type and size name it (`RSA2048`, `EC256`, `DSA2048`), as the PROXY
    /// v2 `cert-key` TLV carries it; `None` for other kinds of keys.
    pub fn key_type_bits(&self, der: &[u8]) -> Option<String> {
        let spki = self.spki(der);
        let (0x30, inner, _) = tlv(spki)? else {
            return None;
        };
        let (0x30, alg, after_alg) = tlv(inner)? else {
            return None;
        };
        let (0x06, oid, params) = tlv(alg)? else {
            return None;
        };
        let (0x03, key_bits, _) = tlv(after_alg)? else {
            return None;
        };
        let key = key_bits.get(1..)?;
        // The bits of a DER INTEGER's magnitude.
        let int_bits = |n: &[u8]| -> usize {
            let n = match n.iter().position(|&b| b != 0) {
                Some(i) => &n[i..],
                None => return 0,
            };
            (n.len() - 1) * 8 + (8 - n[0].leading_zeros() as usize)
        };
        match oid {
            // rsaEncryption: RSAPublicKey { modulus, publicExponent }
            [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01] => {
                let (0x30, rsa, _) = tlv(key)? else {
                    return None;
                };
                let (0x02, modulus, _) = tlv(rsa)? else {
                    return None;
                };
                Some(format!("RSA{}", int_bits(modulus)))
            }
            // id-ecPublicKey: the named curve's order size.
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01] => {
                let (0x06, curve, _) = tlv(params)? else {
                    return None;
                };
                let bits = match curve {
                    [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] => 256,
                    [0x2b, 0x81, 0x04, 0x00, 0x22] => 384,
                    [0x2b, 0x81, 0x04, 0x00, 0x23] => 521,
                    [0x2b, 0x81, 0x04, 0x00, 0x21] => 224,
                    [0x2b, 0x81, 0x04, 0x00, 0x0a] => 256,
                    _ => return None,
                };
                Some(format!("EC{bits}"))
            }
            // DSA: the size of p, in the parameters.
            [0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01] => {
                let (0x30, dsa, _) = tlv(params)? else {
                    return None;
                };
                let (0x02, p, _) = tlv(dsa)? else {
                    return None;
                };
                Some(format!("DSA{}", int_bits(p)))
            }
            _ => None,
        }
    }

    /// The X.509 version, 1 to 3.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The SHA-1 of the DER.
    pub fn sha1(&self) -> &[u8; 20] {
        &self.sha1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_keep_their_text_and_generalized_ones_of_this_century_lose_it() {
        assert_eq!(time(0x17, b"180116230238Z"), Some(&b"180116230238Z"[..]));
        assert_eq!(time(0x18, b"20500101000000Z"), Some(&b"500101000000Z"[..]));
        assert_eq!(time(0x18, b"21261112011845Z"), None);
        assert_eq!(time(0x18, b"2050"), None);
        assert_eq!(time(0x05, b""), None);
    }

    #[test]
    fn times_in_seconds_since_the_epoch() {
        assert_eq!(epoch(0x17, b"700101000000Z"), Some(0));
        assert_eq!(epoch(0x17, b"200428185942Z"), Some(1_588_100_382));
        assert_eq!(epoch(0x18, b"20500421185942Z"), Some(2_534_180_382));
        assert_eq!(epoch(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(epoch(0x17, b"201328185942Z"), None);
        assert_eq!(epoch(0x17, b"2004281859Z"), None);
    }

    #[test]
    fn algorithm_names_are_openssl_short_names() {
        assert_eq!(
            sig_alg_name(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11]),
            Some("RSA-SHA256")
        );
        assert_eq!(
            sig_alg_name(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 3]),
            Some("ecdsa-with-SHA384")
        );
        assert_eq!(
            key_alg_name(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 2, 1]),
            Some("id-ecPublicKey")
        );
        assert_eq!(key_alg_name(&[0x2a, 3]), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            if let Some(f) = CertFields::parse(&bytes) {
                let _ = (f.serial(&bytes), f.subject(&bytes), f.issuer(&bytes), f.not_before(&bytes), f.not_after(&bytes));
            }
        }
    }
}
