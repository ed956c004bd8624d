//! The CA of `ca-sign-file`: its certificate (with any chain after it in the file) and its private key, read as
//! HAProxy reads a `crt` file (the key in the file, else in `FILE.key`), and the signatures it makes. HAProxy signs
//! with SHA-256 whatever the key: `sha256WithRSAEncryption` for RSA, `ecdsa-with-SHA256` for EC keys on P-256,
//! P-384 or P-521.

use std::path::Path;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::der::{CaParts, SigAlg};
use crate::certs::{self, LoadOptions};
use crate::TlsError;

/// A CA's private key, by type.
enum Key {
    Rsa(RsaKeyPair),
    /// P-256 or P-521: aws-lc-rs signs their SHA-256 directly.
    Ec(EcdsaKeyPair),
    /// P-384, whose aws-lc-rs signer hashes with SHA-384: given the SHA-256 digest instead (see [`Ca::sign`]).
    P384(EcdsaKeyPair),
}

/// The CA that signs generated certificates.
pub struct Ca {
    /// Its certificate, then the rest of the file's certificates: sent after each generated certificate.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) parts: CaParts,
    key: Key,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").field("parts", &self.parts).finish()
    }
}

/// Why the CA cannot be used.
fn refused(path: &Path, reason: impl Into<String>) -> TlsError {
    TlsError::CaSign {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl Ca {
    /// Reads `ca-sign-file PATH`.
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Ca, TlsError> {
        let bytes = std::fs::read(path).map_err(|e| {
            refused(
                path,
                format!(
                    "Chain loading failed: cannot open the file '{}': {e}",
                    path.display()
                ),
            )
        })?;
        Ca::from_pem(&bytes, path, opts)
    }

    /// The CA in PEM text `bytes` read from `path` (its key in the text, else in the `.key` companion).
    pub fn from_pem(bytes: &[u8], path: &Path, opts: &LoadOptions) -> Result<Ca, TlsError> {
        if encrypted(bytes) {
            return Err(refused(path, ENCRYPTED));
        }
        let (chain, key) = certs::parse_pem(bytes, path)?;
        let key = match key {
            Some(k) => k,
            None => {
                let companion = opts.path(path, "key");
                let data = std::fs::read(&companion).unwrap_or_default();
                if encrypted(&data) {
                    return Err(refused(path, ENCRYPTED));
                }
                PrivateKeyDer::from_pem_slice(&data).map_err(|_| TlsError::NoKey(companion))?
            }
        };
        let parts = CaParts::of(&chain[0])
            .ok_or_else(|| refused(path, "its certificate does not read as X.509"))?;
        let key = Key::of(&key).ok_or_else(|| {
            refused(
                path,
                "its key is neither RSA nor EC on P-256, P-384 or P-521, or does not read",
            )
        })?;
        let ca = Ca { chain, parts, key };
        // The key must be the certificate's: sign something and check it with the certificate's key.
        if !ca.owns_certificate_key() {
            return Err(TlsError::KeyMismatch(path.to_path_buf()));
        }
        Ok(ca)
    }

    /// The algorithm its signatures are made with.
    pub(crate) fn alg(&self) -> SigAlg {
        match self.key {
            Key::Rsa(_) => SigAlg::RsaSha256,
            Key::Ec(_) | Key::P384(_) => SigAlg::EcdsaSha256,
        }
    }

    /// Signs `msg` with SHA-256.
    pub(crate) fn sign(&self, msg: &[u8]) -> Option<Vec<u8>> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Rsa(k) => {
                let mut out = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut out)
                    .ok()?;
                Some(out)
            }
            Key::Ec(k) => Some(k.sign(&rng, msg).ok()?.as_ref().to_vec()),
            Key::P384(k) => {
                // ECDSA signs the leftmost bits of the digest that fit the curve's order (FIPS 186-5, 6.4.1): a
                // 32-byte SHA-256 on P-384 is taken whole, which is the number the 48-byte value of 16 zero bytes
                // and that SHA-256 stands for. The signature verifies as ecdsa-with-SHA256 (tested below).
                let sha256 = digest::digest(&digest::SHA256, msg);
                let mut wide = [0u8; 48];
                wide[16..].copy_from_slice(sha256.as_ref());
                let d = digest::Digest::import_less_safe(&wide, &digest::SHA384).ok()?;
                Some(k.sign_digest(&d).ok()?.as_ref().to_vec())
            }
        }
    }

    /// Whether its key signs what its certificate's key verifies.
    fn owns_certificate_key(&self) -> bool {
        let der = &self.chain[0];
        let Some(f) = crate::x509::CertFields::parse(der) else {
            return false;
        };
        let spki = f.spki(der);
        let Some(sig) = self.sign(b"fulcrum ca-sign-file check") else {
            return false;
        };
        verify(spki, self.alg(), b"fulcrum ca-sign-file check", &sig)
    }
}

/// Checks `sig` over `msg`, made with `alg`, against the key of SubjectPublicKeyInfo `spki` (whole).
pub(crate) fn verify(spki: &[u8], alg: SigAlg, msg: &[u8], sig: &[u8]) -> bool {
    use crate::dn::tlv;
    let Some((0x30, inner, _)) = tlv(spki) else {
        return false;
    };
    let Some((0x30, key_alg, rest)) = tlv(inner) else {
        return false;
    };
    let Some((0x03, bits, _)) = tlv(rest) else {
        return false;
    };
    let Some(key) = bits.get(1..) else {
        return false;
    };
    // The curve is the OID after id-ecPublicKey.
    let curve = tlv(key_alg).and_then(|(_, _, r)| tlv(r)).map(|(_, c, _)| c);
    let v: &'static dyn signature::VerificationAlgorithm = match (alg, curve) {
        (SigAlg::RsaSha256, _) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (SigAlg::EcdsaSha256, Some(P256)) => &signature::ECDSA_P256_SHA256_ASN1,
        (SigAlg::EcdsaSha256, Some(P384)) => &signature::ECDSA_P384_SHA256_ASN1,
        (SigAlg::EcdsaSha256, Some(P521)) => &signature::ECDSA_P521_SHA256_ASN1,
        _ => return false,
    };
    signature::UnparsedPublicKey::new(v, key)
        .verify(msg, sig)
        .is_ok()
}

/// Curve OIDs (content bytes): prime256v1, secp384r1, secp521r1.
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

/// What fulcrum says of an encrypted CA key.
const ENCRYPTED: &str = "its private key is encrypted: fulcrum reads unencrypted CA keys only (haproxy 2.6 cannot \
                         read an encrypted one either: it asks for the pass phrase on its terminal); decrypt it \
                         with 'openssl pkey'";

/// Whether PEM text holds an encrypted private key (PKCS#8 or OpenSSL's legacy `Proc-Type: 4,ENCRYPTED`).
fn encrypted(pem: &[u8]) -> bool {
    let text = String::from_utf8_lossy(pem);
    text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
}

impl Key {
    fn of(key: &PrivateKeyDer<'_>) -> Option<Key> {
        let der = key.secret_der();
        match key {
            PrivateKeyDer::Pkcs1(_) => RsaKeyPair::from_der(der).ok().map(Key::Rsa),
            PrivateKeyDer::Sec1(_) | PrivateKeyDer::Pkcs8(_) => {
                let ec = |alg| EcdsaKeyPair::from_private_key_der(alg, der).ok();
                ec(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
                    .map(Key::Ec)
                    .or_else(|| ec(&signature::ECDSA_P384_SHA384_ASN1_SIGNING).map(Key::P384))
                    .or_else(|| ec(&signature::ECDSA_P521_SHA256_ASN1_SIGNING).map(Key::Ec))
                    .or_else(|| match key {
                        PrivateKeyDer::Pkcs8(_) => RsaKeyPair::from_pkcs8(der).ok().map(Key::Rsa),
                        _ => None,
                    })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::KeyPair;

    /// An EC key on each curve (PKCS#8) signs what its public key verifies as SHA-256.
    #[test]
    fn every_curve_signs_with_sha256() {
        let rng = SystemRandom::new();
        for (alg, curve) in [
            (&signature::ECDSA_P256_SHA256_ASN1_SIGNING, P256),
            (&signature::ECDSA_P384_SHA384_ASN1_SIGNING, P384),
            (&signature::ECDSA_P521_SHA512_ASN1_SIGNING, P521),
        ] {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
            let key = Key::of(&PrivateKeyDer::Pkcs8(pkcs8.as_ref().to_vec().into())).unwrap();
            let public = match &key {
                Key::Ec(k) | Key::P384(k) => k.public_key().as_ref().to_vec(),
                Key::Rsa(_) => unreachable!(),
            };
            let ca = Ca {
                chain: Vec::new(),
                parts: CaParts {
                    subject: Vec::new(),
                    issuer: Vec::new(),
                    serial: vec![1],
                    key_id: None,
                },
                key,
            };
            let sig = ca.sign(b"message").unwrap();
            // An SPKI for the key: id-ecPublicKey with the curve, then the point.
            let alg_id = [
                &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01][..],
                &[0x06, curve.len() as u8],
                curve,
            ]
            .concat();
            let spki = der_seq(&[der_seq(&[alg_id]), der_bits(&public)]);
            assert!(
                verify(&spki, SigAlg::EcdsaSha256, b"message", &sig),
                "{curve:?}"
            );
            assert!(
                !verify(&spki, SigAlg::EcdsaSha256, b"other", &sig),
                "{curve:?}"
            );
        }
    }

    fn der_len(n: usize) -> Vec<u8> {
        if n < 0x80 {
            vec![n as u8]
        } else if n < 0x100 {
            vec![0x81, n as u8]
        } else {
            vec![0x82, (n >> 8) as u8, n as u8]
        }
    }

    fn der_seq(parts: &[Vec<u8>]) -> Vec<u8> {
        let c = parts.concat();
        [vec![0x30], der_len(c.len()), c].concat()
    }

    fn der_bits(b: &[u8]) -> Vec<u8> {
        [vec![0x03], der_len(b.len() + 1), vec![0], b.to_vec()].concat()
    }

    #[test]
    fn encrypted_keys_are_recognised() {
        assert!(encrypted(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nxx\n"));
        assert!(encrypted(
            b"-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
        ));
        assert!(!encrypted(b"-----BEGIN PRIVATE KEY-----\n"));
    }
}
