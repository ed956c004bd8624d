//! What the runtime API's `show ssl crl-file NAME` prints about each revocation list of a CRL file, in haproxy
//! 2.6's layout (observed byte for byte): version, signature algorithm (OpenSSL's long name), issuer, last and
//! next update, then the revoked serial numbers with their dates. Read from the DER with the walker of
//! [`crate::dn`]; CRL and entry extensions are not printed, as HAProxy prints none.

use crate::dn::tlv;

/// OpenSSL's long name of a signature algorithm (the dotted OID for one it has no name for).
pub(crate) fn sig_alg_long_name(oid: &[u8]) -> String {
    let name = match oid {
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, n] => match n {
            2 => "md2WithRSAEncryption",
            3 => "md4WithRSAEncryption",
            4 => "md5WithRSAEncryption",
            5 => "sha1WithRSAEncryption",
            10 => "rsassaPss",
            11 => "sha256WithRSAEncryption",
            12 => "sha384WithRSAEncryption",
            13 => "sha512WithRSAEncryption",
            14 => "sha224WithRSAEncryption",
            _ => "",
        },
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01] => "ecdsa-with-SHA1",
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, n] => match n {
            1 => "ecdsa-with-SHA224",
            2 => "ecdsa-with-SHA256",
            3 => "ecdsa-with-SHA384",
            4 => "ecdsa-with-SHA512",
            _ => "",
        },
        [0x2b, 0x65, 0x70] => "ED25519",
        [0x2b, 0x65, 0x71] => "ED448",
        _ => "",
    };
    if !name.is_empty() {
        return name.to_string();
    }
    dotted(oid)
}

/// An OID in dotted form.
fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut n: u64 = 0;
    for &b in oid {
        n = n.saturating_mul(128) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (n / 40).min(2);
                arcs.push(first);
                arcs.push(n - first * 40);
            } else {
                arcs.push(n);
            }
            n = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// A serial number as OpenSSL prints it in a CRL: its bytes in upper-case hexadecimal, the sign byte dropped.
fn serial(content: &[u8]) -> String {
    let magnitude = match content {
        [0, rest @ ..] if !rest.is_empty() => rest,
        s => s,
    };
    if magnitude.is_empty() {
        return "00".into();
    }
    magnitude.iter().map(|b| format!("{b:02X}")).collect()
}

/// The text of one CRL (DER), from its `Version` line; `None` when it does not read.
pub fn describe(der: &[u8]) -> Option<String> {
    let (0x30, list, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(list)? else {
        return None;
    };
    let mut r = tbs;
    // version is absent in a version 1 list, INTEGER 1 in a version 2 one.
    let mut version = 1;
    if let Some((0x02, v, next)) = tlv(r) {
        version = u32::from(*v.last()?) + 1;
        r = next;
    }
    let (0x30, alg, r) = tlv(r)? else {
        return None;
    };
    let (0x06, oid, _) = tlv(alg)? else {
        return None;
    };
    let (0x30, issuer, r) = tlv(r)? else {
        return None;
    };
    let (tag, this_update, mut r) = tlv(r)?;
    let last = crate::info::time(tag, this_update)?;
    let mut next = "NONE".to_string();
    if let Some((tag @ (0x17 | 0x18), v, rest)) = tlv(r) {
        next = crate::info::time(tag, v)?;
        r = rest;
    }
    let mut out = format!(
        "Version {version}\nSignature Algorithm: {}\nIssuer: {}\nLast Update: {last}\nNext Update: {next}\n",
        sig_alg_long_name(oid),
        crate::dn::oneline(issuer)?,
    );
    let mut entries = Vec::new();
    if let Some((0x30, revoked, _)) = tlv(r) {
        let mut rest = revoked;
        while !rest.is_empty() {
            let (0x30, entry, more) = tlv(rest)? else {
                return None;
            };
            let (0x02, number, after) = tlv(entry)? else {
                return None;
            };
            let (tag, date, _) = tlv(after)?;
            entries.push((serial(number), crate::info::time(tag, date)?));
            rest = more;
        }
    }
    if entries.is_empty() {
        out.push_str("No Revoked Certificates.\n");
    } else {
        out.push_str("Revoked Certificates:\n");
        for (number, date) in entries {
            out.push_str(&format!(
                "    Serial Number: {number}\n        Revocation Date: {date}\n"
            ));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_as_openssl_prints_them() {
        assert_eq!(
            sig_alg_long_name(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]),
            "sha256WithRSAEncryption"
        );
        assert_eq!(
            sig_alg_long_name(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
            "ecdsa-with-SHA256"
        );
        assert_eq!(
            sig_alg_long_name(&[0x2b, 0x06, 0x01, 0x04, 0x01]),
            "1.3.6.1.4.1"
        );
        assert_eq!(serial(&[0x10, 0x07]), "1007");
        assert_eq!(serial(&[0x03]), "03");
        assert_eq!(serial(&[0x00, 0x80]), "80");
        assert_eq!(serial(&[]), "00");
    }

    /// DER: a tag and its content.
    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match content.len() {
            n if n < 0x80 => out.push(n as u8),
            n if n < 0x100 => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(content);
        out
    }

    #[test]
    fn a_version_1_list_prints_as_haproxy_prints_it() {
        let sha256_rsa = der(
            0x30,
            &[
                der(
                    0x06,
                    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
                ),
                der(0x05, &[]),
            ]
            .concat(),
        );
        let cn = der(
            0x31,
            &der(
                0x30,
                &[
                    der(0x06, &[0x55, 0x04, 0x03]),
                    der(0x0c, b"Intermediate CA1"),
                ]
                .concat(),
            ),
        );
        let issuer = der(
            0x30,
            &[
                der(
                    0x31,
                    &der(
                        0x30,
                        &[der(0x06, &[0x55, 0x04, 0x06]), der(0x13, b"FR")].concat(),
                    ),
                ),
                cn,
            ]
            .concat(),
        );
        let entry = der(
            0x30,
            &[der(0x02, &[0x10, 0x07]), der(0x17, b"210423143615Z")].concat(),
        );
        let tbs = der(
            0x30,
            &[
                sha256_rsa.clone(),
                issuer,
                der(0x17, b"210423143626Z"),
                der(0x17, b"480908143626Z"),
                der(0x30, &entry),
            ]
            .concat(),
        );
        let crl = der(0x30, &[tbs, sha256_rsa, der(0x03, &[0, 1, 2])].concat());
        assert_eq!(
            describe(&crl).as_deref(),
            Some(
                "Version 1\nSignature Algorithm: sha256WithRSAEncryption\nIssuer: /C=FR/CN=Intermediate CA1\nLast Update: Apr 23 14:36:26 2021 GMT\nNext Update: Sep  8 14:36:26 2048 GMT\nRevoked Certificates:\n    Serial Number: 1007\n        Revocation Date: Apr 23 14:36:15 2021 GMT\n"
            )
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = describe(&bytes);
        }
    }
}
