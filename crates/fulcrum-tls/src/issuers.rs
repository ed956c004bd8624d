//! `issuers-chain-path DIR`: chains kept apart from the certificates, each PEM file of the directory one chain
//! starting with the certificate that issues. A bind line's certificate file that holds no chain of its own gets
//! the chain whose first certificate issued it (its subject is the leaf's issuer, and its key identifier the one
//! the leaf names, when both say one), as HAProxy completes it.

use std::collections::HashMap;
use std::path::Path;

use der::Decode;
use rustls_pki_types::CertificateDer;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};

/// The chains of an `issuers-chain-path` directory, by the subject of their first certificate.
#[derive(Debug, Default)]
pub struct IssuerChains {
    /// Each chain with the subject key identifier of its first certificate.
    by_subject: HashMap<Vec<u8>, Vec<Keyed>>,
}

/// A chain and the subject key identifier of its first certificate (read once, when the directory is).
type Keyed = (Option<Vec<u8>>, Vec<CertificateDer<'static>>);

/// The DER subject, DER issuer, subject key identifier and authority key identifier of a certificate.
type Facts = (Vec<u8>, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

fn facts(cert: &CertificateDer<'_>) -> Option<Facts> {
    use der::Encode;
    let c = x509_cert::Certificate::from_der(cert).ok()?;
    let tbs = &c.tbs_certificate;
    let ski = tbs
        .get::<SubjectKeyIdentifier>()
        .ok()
        .flatten()
        .map(|(_, s)| s.0.as_bytes().to_vec());
    let aki = tbs
        .get::<AuthorityKeyIdentifier>()
        .ok()
        .flatten()
        .and_then(|(_, a)| a.key_identifier.map(|k| k.as_bytes().to_vec()));
    Some((
        tbs.subject.to_der().ok()?,
        tbs.issuer.to_der().ok()?,
        ski,
        aki,
    ))
}

impl IssuerChains {
    /// Reads every file of `dir` (hidden ones aside), in name order; a file without a certificate is left out
    /// with a warning, as HAProxy leaves it.
    pub fn load(dir: &Path, warnings: &mut Vec<String>) -> IssuerChains {
        let mut chains = IssuerChains::default();
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        });
        files.sort();
        for file in files {
            let chain = std::fs::read(&file)
                .ok()
                .and_then(|b| crate::certs::certificates(&b, &file).ok());
            match chain.and_then(|c| Some((facts(c.first()?)?, c))) {
                Some(((subject, _, ski, _), chain)) => chains
                    .by_subject
                    .entry(subject)
                    .or_default()
                    .push((ski, chain)),
                None => warnings.push(format!(
                    "unable to load issuers-chain {} : no PEM certificate in it",
                    file.display()
                )),
            }
        }
        chains
    }

    /// Appends to `chain`, when it is a certificate alone, the chain whose first certificate issued it.
    pub fn complete(&self, chain: &mut Vec<CertificateDer<'static>>) {
        let [leaf] = chain.as_slice() else {
            return;
        };
        let Some((_, issuer, _, aki)) = facts(leaf) else {
            return;
        };
        let found = self.by_subject.get(&issuer).and_then(|candidates| {
            candidates
                .iter()
                .find_map(|(ski, chain)| match (&aki, ski) {
                    (Some(a), Some(s)) if a != s => None,
                    _ => Some(chain),
                })
        });
        if let Some(issuers) = found {
            chain.extend(issuers.iter().cloned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_a_certificate_is_left_out_with_a_warning() {
        let dir = std::env::temp_dir().join(format!("fulcrum-issuers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("junk.pem"), "not a certificate\n").unwrap();
        std::fs::write(dir.join(".hidden"), "skipped\n").unwrap();
        let mut warnings = Vec::new();
        let chains = IssuerChains::load(&dir, &mut warnings);
        assert!(chains.by_subject.is_empty());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("unable to load issuers-chain "));
        assert!(warnings[0].contains("junk.pem"));
        // Nothing to complete with: a chain stays as it is.
        let mut chain = vec![CertificateDer::from(vec![0x30, 0x00])];
        chains.complete(&mut chain);
        assert_eq!(chain.len(), 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}
