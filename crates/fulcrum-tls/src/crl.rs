//! Version 1 CRLs (no version field, no extensions), which `openssl ca -gencrl` still writes and which webpki does
//! not read. `crl-file` hands version 2 lists to webpki; a version 1 list is read here: its issuer and revoked
//! serial numbers, its signature checked at load against the CA of `ca-file` that issued it (a list no CA of
//! the file signed is not used, never kept unchecked: the certificates of its issuer then have no list, which
//! fails their check, as OpenSSL fails a list whose issuer it cannot find). Client chains are then looked up in it after webpki's
//! verification: a revoked certificate is error 23 (OpenSSL's "certificate revoked"), at its depth.

use rustls::pki_types::CertificateDer;

use crate::dn::tlv;
use crate::x509::CertFields;

/// One version 1 list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Crl {
    /// The issuer's Name (content of its SEQUENCE).
    issuer: Vec<u8>,
    /// The serial numbers revoked, as [`CertFields::serial`] gives them (without DER's sign byte).
    revoked: Vec<Vec<u8>>,
}

/// Whether a CRL's DER is a version 1 list (its TBS part opens with the signature algorithm, not a version).
pub fn is_v1(der: &[u8]) -> bool {
    let Some((0x30, list, _)) = tlv(der) else {
        return false;
    };
    matches!(tlv(list), Some((0x30, tbs, _)) if matches!(tlv(tbs), Some((0x30, _, _))))
}

/// The magnitude of a DER INTEGER's content (the sign byte before a high first byte dropped).
fn magnitude(n: &[u8]) -> &[u8] {
    match n {
        [0, next, ..] if *next >= 0x80 => &n[1..],
        s => s,
    }
}

/// The aws-lc-rs verification algorithm for a signature OID and the issuer's key (its curve for ECDSA).
fn algorithm(
    sig_oid: &[u8],
    curve: Option<&[u8]>,
) -> Option<&'static dyn aws_lc_rs::signature::VerificationAlgorithm> {
    use aws_lc_rs::signature as s;
    const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    Some(match (sig_oid, curve) {
        ([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, n], None) => match n {
            5 => &s::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            11 => &s::RSA_PKCS1_2048_8192_SHA256,
            12 => &s::RSA_PKCS1_2048_8192_SHA384,
            13 => &s::RSA_PKCS1_2048_8192_SHA512,
            _ => return None,
        },
        ([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, n], Some(c)) => match (n, c) {
            (2, P256) => &s::ECDSA_P256_SHA256_ASN1,
            (3, P256) => &s::ECDSA_P256_SHA384_ASN1,
            (2, P384) => &s::ECDSA_P384_SHA256_ASN1,
            (3, P384) => &s::ECDSA_P384_SHA384_ASN1,
            _ => return None,
        },
        _ => return None,
    })
}

/// Whether `signature` over `message` was made with the key of certificate `ca` using algorithm `sig_oid`.
pub(crate) fn signed_by(ca: &[u8], sig_oid: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Some(fields) = CertFields::parse(ca) else {
        return false;
    };
    let verify = || -> Option<bool> {
        let (_, spki, _) = tlv(fields.spki(ca))?;
        let (_, key_alg, rest) = tlv(spki)?;
        let (_, _key_oid, params) = tlv(key_alg)?;
        let curve = match tlv(params) {
            Some((0x06, c, _)) => Some(c),
            _ => None,
        };
        let (0x03, bits, _) = tlv(rest)? else {
            return None;
        };
        let key = bits.get(1..)?;
        let alg = algorithm(sig_oid, curve)?;
        Some(
            aws_lc_rs::signature::UnparsedPublicKey::new(alg, key)
                .verify(message, signature)
                .is_ok(),
        )
    };
    verify().unwrap_or(false)
}

impl V1Crl {
    /// Reads a version 1 list and checks its signature against `cas` (the certificates of `ca-file`): `None`
    /// when no CA of `cas` issued it (such a list is not used, and covers nothing: see [`V1Crls`]).
    pub fn parse(der: &[u8], cas: &[CertificateDer<'_>]) -> Result<Option<V1Crl>, String> {
        let broken = || "version 1 CRL: malformed".to_string();
        let (0x30, list, _) = tlv(der).ok_or_else(broken)? else {
            return Err(broken());
        };
        let (0x30, tbs_content, after_tbs) = tlv(list).ok_or_else(broken)? else {
            return Err(broken());
        };
        let tbs = &list[..list.len() - after_tbs.len()];
        let (0x30, sig_alg, r) = tlv(after_tbs).ok_or_else(broken)? else {
            return Err(broken());
        };
        let (0x03, sig_bits, _) = tlv(r).ok_or_else(broken)? else {
            return Err(broken());
        };
        let (0x06, sig_oid, _) = tlv(sig_alg).ok_or_else(broken)? else {
            return Err(broken());
        };
        let signature = sig_bits.get(1..).ok_or_else(broken)?;
        let (0x30, _inner_alg, r) = tlv(tbs_content).ok_or_else(broken)? else {
            return Err(broken());
        };
        let (0x30, issuer, r) = tlv(r).ok_or_else(broken)? else {
            return Err(broken());
        };
        let (_this_update_tag, _, mut r) = tlv(r).ok_or_else(broken)?;
        // nextUpdate, when present, is a time (UTCTime or GeneralizedTime).
        if let Some((0x17 | 0x18, _, next)) = tlv(r) {
            r = next;
        }
        let mut revoked = Vec::new();
        if let Some((0x30, entries, _)) = tlv(r) {
            let mut rest = entries;
            while !rest.is_empty() {
                let (0x30, entry, more) = tlv(rest).ok_or_else(broken)? else {
                    return Err(broken());
                };
                let (0x02, serial, _) = tlv(entry).ok_or_else(broken)? else {
                    return Err(broken());
                };
                revoked.push(magnitude(serial).to_vec());
                rest = more;
            }
        }
        let signed = cas.iter().any(|ca| {
            CertFields::parse(ca).is_some_and(|f| f.subject(ca) == issuer)
                && signed_by(ca, sig_oid, tbs, signature)
        });
        if !signed {
            return Ok(None);
        }
        Ok(Some(V1Crl {
            issuer: issuer.to_vec(),
            revoked,
        }))
    }

    /// Whether it revokes certificate `der`.
    pub fn revokes(&self, der: &[u8]) -> bool {
        CertFields::parse(der).is_some_and(|f| {
            f.issuer(der) == self.issuer.as_slice()
                && self.revoked.iter().any(|s| s.as_slice() == f.serial(der))
        })
    }
}

/// The issuer Name of any CRL (version 1 or 2).
pub fn issuer(der: &[u8]) -> Option<&[u8]> {
    let (0x30, list, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(list)? else {
        return None;
    };
    let mut r = tbs;
    if let Some((0x02, _, next)) = tlv(r) {
        r = next;
    }
    let (0x30, _alg, r) = tlv(r)? else {
        return None;
    };
    match tlv(r)? {
        (0x30, issuer, _) => Some(issuer),
        _ => None,
    }
}

/// The revocation checks webpki cannot make when a `crl-file` holds version 1 lists: webpki checks the version 2
/// lists (unknown status allowed), these the version 1 lists and which certificates no list covers.
#[derive(Debug, Clone, Default)]
pub struct V1Crls {
    /// The version 1 lists.
    pub lists: Vec<V1Crl>,
    /// The issuers of every list of the file, of both versions.
    pub issuers: Vec<Vec<u8>>,
    /// The certificates of `ca-file`: a chain is checked up to its trust anchor, as OpenSSL checks it.
    pub cas: Vec<CertificateDer<'static>>,
}

impl V1Crls {
    /// The errors, `(number, depth)` as OpenSSL numbers them, these lists find in a chain (the client's own
    /// certificate at depth 0, then its issuers up to the anchor): revoked by a version 1 list 23; issued by a CA no list of the
    /// file covers 3 ("unable to get certificate CRL", every certificate being checked as HAProxy asks OpenSSL).
    pub fn errors(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Vec<(u8, u8)> {
        // The path OpenSSL verifies: from the client's certificate up by issuer, through the CAs of ca-file first
        // (OpenSSL's trusted-first) then the certificates the client sent, to a self-signed one; certificates
        // the client sent off the path are not checked.
        let mut chain: Vec<&[u8]> = vec![end_entity.as_ref()];
        for _ in 0..8 {
            let Some(top) = chain.last().copied() else {
                break;
            };
            let Some(f) = CertFields::parse(top) else {
                break;
            };
            if f.issuer(top) == f.subject(top) {
                break;
            }
            let issued = |c: &&CertificateDer<'_>| {
                CertFields::parse(c).is_some_and(|p| p.subject(c) == f.issuer(top))
            };
            let parent = self
                .cas
                .iter()
                .find(issued)
                .or_else(|| intermediates.iter().find(issued));
            match parent {
                Some(p) if !chain.contains(&p.as_ref()) => chain.push(p.as_ref()),
                _ => break,
            }
        }
        let mut out = Vec::new();
        for (d, c) in chain.into_iter().enumerate() {
            let depth = u8::try_from(d).unwrap_or(u8::MAX);
            if self.lists.iter().any(|l| l.revokes(c)) {
                out.push((23, depth));
            } else if !CertFields::parse(c)
                .is_some_and(|f| self.issuers.iter().any(|i| i.as_slice() == f.issuer(c)))
            {
                out.push((3, depth));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_told_apart_and_garbage_is_refused() {
        // SEQUENCE { SEQUENCE { INTEGER 1, ... } }: version 2.
        assert!(!is_v1(&[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x01]));
        // SEQUENCE { SEQUENCE { SEQUENCE {} } }: version 1.
        assert!(is_v1(&[0x30, 0x04, 0x30, 0x02, 0x30, 0x00]));
        assert!(!is_v1(&[]));
        assert!(V1Crl::parse(&[0x30, 0x04, 0x30, 0x02, 0x30, 0x00], &[]).is_err());
        assert_eq!(magnitude(&[0, 0x80]), &[0x80]);
        assert_eq!(magnitude(&[0]), &[0]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = is_v1(&bytes);
            let _ = V1Crl::parse(&bytes, &[]);
        }
    }
}
