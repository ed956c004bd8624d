//! Certificates named by `crt FILE|DIR`: a PEM file holds the certificate, its chain and (usually) the private
//! key; a key missing from it is read from `FILE.key` beside it, as HAProxy does (`site.key` for `site.crt` under
//! `ssl-load-extra-del-ext`: see [`LoadOptions`]). A directory loads every file in it, in name order, except the
//! companions HAProxy reads with a certificate (`.key`, `.ocsp`, `.issuer`, `.sctl`) and hidden files. An OCSP
//! response in `FILE.ocsp` is stapled once checked against the certificate and its issuer (from `FILE.issuer` or
//! the chain; see [`crate::ocsp_check`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsError;
use fulcrum_config::haproxy::ssl::ExtraFiles;

/// Extensions of the files that accompany a certificate in a directory and are not certificates themselves.
const COMPANIONS: &[&str] = &["key", "ocsp", "issuer", "sctl"];

/// How certificate files are read, as `global` says. The files accompanying a certificate are named after the
/// whole file name (`site.crt.key`, HAProxy's default), or, with `del_ext` (`ssl-load-extra-del-ext`), after the
/// name without its `.crt` extension (`site.key`; a file with another extension keeps its whole name, as HAProxy
/// does); which of them are looked for is `ssl-load-extra-files` (all by default). The chain is then completed
/// (`issuers-chain-path`) and trimmed of root CAs (`ssl-skip-self-issued-ca`).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `ssl-load-extra-del-ext`.
    pub del_ext: bool,
    /// `ssl-load-extra-files`.
    pub load: ExtraFiles,
    /// `ssl-skip-self-issued-ca`: self-issued certificates after the first are left out of the chain.
    pub skip_self_issued_ca: bool,
    /// `issuers-chain-path`: the chains that complete a certificate file holding none (see
    /// [`LoadOptions::with_issuers`]).
    pub issuers: Option<Arc<crate::issuers::IssuerChains>>,
}

impl LoadOptions {
    /// As `global` configures them.
    pub fn of(g: &fulcrum_config::haproxy::ssl::GlobalSsl) -> LoadOptions {
        LoadOptions {
            del_ext: g.extra_del_ext,
            load: g.extra_files,
            skip_self_issued_ca: g.skip_self_issued_ca,
            issuers: None,
        }
    }

    /// The same, with the chains of `issuers-chain-path` read (once: they complete every certificate loaded
    /// with these options), and what was wrong with its files.
    pub fn with_issuers(
        mut self,
        g: &fulcrum_config::haproxy::ssl::GlobalSsl,
    ) -> (LoadOptions, Vec<String>) {
        let mut warnings = Vec::new();
        if let Some(dir) = &g.issuers_chain_path {
            self.issuers = Some(Arc::new(crate::issuers::IssuerChains::load(
                dir,
                &mut warnings,
            )));
        }
        (self, warnings)
    }

    /// Completes a certificate that came without its chain (`issuers-chain-path`), then leaves out the root CAs
    /// when `ssl-skip-self-issued-ca` says so.
    pub fn finish_chain(&self, chain: &mut Vec<CertificateDer<'static>>) {
        if let Some(i) = &self.issuers {
            i.complete(chain);
        }
        if self.skip_self_issued_ca {
            skip_self_issued_ca(chain);
        }
    }

    /// The companion of certificate file `cert` with extension `ext` (`key`, `ocsp` ...).
    pub fn path(&self, cert: &Path, ext: &str) -> PathBuf {
        let name = cert.as_os_str().as_encoded_bytes();
        let stem = match name.strip_suffix(b".crt") {
            Some(s) if self.del_ext => s,
            _ => name,
        };
        let mut out = stem.to_vec();
        out.push(b'.');
        out.extend_from_slice(ext.as_bytes());
        PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
    }
}

/// One loaded certificate with the names it serves.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file it came from.
    pub path: PathBuf,
    /// Chain and signing key.
    pub key: Arc<CertifiedKey>,
    /// DNS names from its subjectAltName, then its subject CN, lower-cased (wildcards as `*.example.com`).
    pub names: Vec<String>,
}

/// Loads `crt PATH`: one file, or every certificate file of a directory.
pub fn load_crt(
    path: &Path,
    provider: &CryptoProvider,
    opts: &LoadOptions,
    warnings: &mut Vec<String>,
) -> Result<Vec<Loaded>, TlsError> {
    let meta = std::fs::metadata(path).map_err(|source| TlsError::Stat {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Ok(vec![load_served(path, provider, opts, warnings)?]);
    }
    let entries = std::fs::read_dir(path).map_err(|source| TlsError::Stat {
        path: path.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            let companion = p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| COMPANIONS.contains(&e));
            !hidden && !companion && p.is_file()
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(TlsError::EmptyDir(path.to_path_buf()));
    }
    files
        .iter()
        .map(|f| load_served(f, provider, opts, warnings))
        .collect()
}

/// Loads one PEM file (and its `.key` companion when the key is not in it).
pub fn load_file(
    path: &Path,
    provider: &CryptoProvider,
    opts: &LoadOptions,
) -> Result<Loaded, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Stat {
        path: path.to_path_buf(),
        source,
    })?;
    let (mut chain, key) = parse_pem(&bytes, path)?;
    opts.finish_chain(&mut chain);
    let key = match key {
        Some(k) => k,
        None if opts.load.key => {
            let companion = opts.path(path, "key");
            let data = std::fs::read(&companion).unwrap_or_default();
            PrivateKeyDer::from_pem_slice(&data).map_err(|_| TlsError::NoKey(companion))?
        }
        // `ssl-load-extra-files` without `key`: HAProxy names the certificate file.
        None => return Err(TlsError::NoKey(path.to_path_buf())),
    };
    build(path, chain, key, provider)
}

/// A certificate a bind line serves, with its OCSP response: loaded as [`load_file`] loads it, then `FILE.ocsp`,
/// when there is one, is stapled to the handshakes of clients that ask for it, as HAProxy does, once it is
/// checked to be a valid response about this certificate (else a warning says why, and nothing is stapled).
pub fn load_served(
    path: &Path,
    provider: &CryptoProvider,
    opts: &LoadOptions,
    warnings: &mut Vec<String>,
) -> Result<Loaded, TlsError> {
    let mut loaded = load_file(path, provider, opts)?;
    if opts.load.sctl {
        let sctl = opts.path(path, "sctl");
        if sctl.exists() {
            warnings.push(format!(
                "'{}': fulcrum's TLS library sends no signed certificate timestamps: the file is not used",
                sctl.display()
            ));
        }
    }
    if !opts.load.ocsp {
        return Ok(loaded);
    }
    let ocsp = opts.path(path, "ocsp");
    let der = match std::fs::read(&ocsp) {
        Ok(der) => der,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(loaded),
        Err(source) => return Err(TlsError::Stat { path: ocsp, source }),
    };
    let leaf = loaded
        .key
        .cert
        .first()
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let issuers = loaded.key.cert.get(1..).unwrap_or_default();
    let named = if opts.load.issuer {
        ocsp_issuer(path, opts, &leaf)?
    } else {
        None
    };
    let issuer = match named {
        Some(i) => i,
        None => crate::ocsp_check::issuer_of(&leaf, issuers)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| TlsError::NoOcspIssuer(ocsp.clone()))?,
    };
    match crate::ocsp_check::check(&der, &leaf, &issuer, std::time::SystemTime::now()) {
        Ok(()) => {
            let mut key = (*loaded.key).clone();
            key.ocsp = Some(der);
            loaded.key = Arc::new(key);
        }
        Err(why) => warnings.push(format!(
            "Loading '{}': {why}. Content will be ignored.",
            ocsp.display()
        )),
    }
    Ok(loaded)
}

/// The issuer named by `FILE.issuer`, read (as HAProxy reads it) when an OCSP response is to be checked: a file
/// that holds no certificate, or not the issuer of `leaf`, is an error.
fn ocsp_issuer(path: &Path, opts: &LoadOptions, leaf: &[u8]) -> Result<Option<Vec<u8>>, TlsError> {
    let file = opts.path(path, "issuer");
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err(TlsError::IssuerUnreadable(file)),
    };
    let Ok(cert) = CertificateDer::from_pem_slice(&bytes) else {
        return Err(TlsError::IssuerUnreadable(file));
    };
    if !crate::ocsp_check::issued(&cert, leaf) {
        return Err(TlsError::NotAnIssuer(file));
    }
    Ok(Some(cert.to_vec()))
}

/// Whether `cert` names itself as its issuer (a root CA, or any self-signed certificate).
/// `ssl-skip-self-issued-ca`: the certificates after the leaf that issued themselves (root CAs) leave the chain.
/// The leaf stays whatever it is; a root CA after it is the verifier's anchor, useless on the wire.
pub fn skip_self_issued_ca(chain: &mut Vec<CertificateDer<'static>>) {
    let mut at = 0;
    chain.retain(|c| {
        at += 1;
        at == 1 || !self_issued(c)
    });
}

fn self_issued(cert: &CertificateDer<'_>) -> bool {
    use der::Decode;
    x509_cert::Certificate::from_der(cert)
        .is_ok_and(|c| c.tbs_certificate.issuer == c.tbs_certificate.subject)
}

/// The certificates and the private key (when there is one) of PEM text.
pub fn parse_pem(
    bytes: &[u8],
    path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, Option<PrivateKeyDer<'static>>), TlsError> {
    let chain = certificates(bytes, path)?;
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(k) => Ok((chain, Some(k))),
        Err(pem::Error::NoItemsFound) => Ok((chain, None)),
        Err(e) => Err(TlsError::Pem {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// A certificate chain and its key made ready to serve, checked to belong together.
pub fn build(
    path: &Path,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> Result<Loaded, TlsError> {
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::BadKey {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    certify(path, chain, signer)
}

/// A certificate chain and a loaded signing key made ready to serve, checked to belong together (an empty chain
/// belongs to no key).
pub fn certify(
    path: &Path,
    chain: Vec<CertificateDer<'static>>,
    signer: Arc<dyn rustls::sign::SigningKey>,
) -> Result<Loaded, TlsError> {
    let Some(leaf) = chain.first().cloned() else {
        return Err(TlsError::KeyMismatch(path.to_path_buf()));
    };
    let key = CertifiedKey::new(chain, signer);
    let matched = match key.keys_match() {
        Ok(()) => true,
        Err(rustls::Error::InconsistentKeys(_)) => false,
        // webpki reads no X.509 v1 certificate (OpenSSL and HAProxy take them): compare the keys ourselves.
        Err(_) => match (key.key.public_key(), spki(&leaf)) {
            (Some(k), Some(c)) => k.as_ref() == c,
            _ => false,
        },
    };
    if !matched {
        return Err(TlsError::KeyMismatch(path.to_path_buf()));
    }
    let names = names(&leaf);
    Ok(Loaded {
        path: path.to_path_buf(),
        key: Arc::new(key),
        names,
    })
}

/// Every certificate of a PEM file, in order; at least one.
pub fn certificates(bytes: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(chain)
}

/// The DNS names a certificate serves: subjectAltName DNS entries, then the subject's CN, lower-cased.
pub fn names(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else {
        // An X.509 v1 certificate (no extensions, so no SAN): its subject's CN.
        return subject(cert)
            .map(crate::dn::common_names)
            .unwrap_or_default()
            .into_iter()
            .map(|cn| cn.to_ascii_lowercase())
            .collect();
    };
    let mut out: Vec<String> = ee.valid_dns_names().map(str::to_ascii_lowercase).collect();
    for cn in crate::dn::common_names(ee.subject()) {
        let cn = cn.to_ascii_lowercase();
        if !out.contains(&cn) {
            out.push(cn);
        }
    }
    out
}

/// The parts of a certificate's TBSCertificate up to its key: (subject content, whole SubjectPublicKeyInfo
/// element), read with the DER walker of `dn.rs` (so X.509 v1 certificates, which webpki refuses, are read too).
fn subject_and_spki(cert: &[u8]) -> Option<(&[u8], &[u8])> {
    use crate::dn::tlv;
    let (_, c, _) = tlv(cert)?;
    let (_, tbs, _) = tlv(c)?;
    let mut rest = tbs;
    // [0] EXPLICIT version, absent in a v1 certificate.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    let (_, _serial, r) = tlv(rest)?;
    let (_, _sigalg, r) = tlv(r)?;
    let (_, _issuer, r) = tlv(r)?;
    let (_, _validity, r) = tlv(r)?;
    let (_, subject, r) = tlv(r)?;
    let (_, _, after) = tlv(r)?;
    Some((subject, &r[..r.len() - after.len()]))
}

fn spki(cert: &[u8]) -> Option<&[u8]> {
    subject_and_spki(cert).map(|(_, k)| k)
}

fn subject(cert: &[u8]) -> Option<&[u8]> {
    subject_and_spki(cert).map(|(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is needed");
        assert!(out.status.success(), "openssl {args:?}");
    }

    /// X.509 v1 certificates (no extensions; HAProxy's reg-tests use many), which webpki does not read: loaded,
    /// their key checked, their CN their name.
    #[test]
    fn version_1_certificates_load_with_their_key_checked() {
        let dir = std::env::temp_dir().join(format!("fulcrum-tls-v1-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        openssl(&dir, &["genrsa", "-out", "k.pem", "2048"]);
        openssl(&dir, &["genrsa", "-out", "other.pem", "2048"]);
        openssl(
            &dir,
            &[
                "req",
                "-new",
                "-key",
                "k.pem",
                "-subj",
                "/CN=V1.test",
                "-out",
                "r.csr",
            ],
        );
        // `x509 -req` without extensions makes a version 1 certificate.
        openssl(
            &dir,
            &[
                "x509", "-req", "-in", "r.csr", "-signkey", "k.pem", "-days", "2", "-out", "c.pem",
            ],
        );
        let crt = std::fs::read(dir.join("c.pem")).unwrap();
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        std::fs::write(dir.join("good.pem"), [crt.clone(), read("k.pem")].concat()).unwrap();
        std::fs::write(dir.join("bad.pem"), [crt, read("other.pem")].concat()).unwrap();
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let good =
            load_file(&dir.join("good.pem"), &provider, &LoadOptions::default()).expect("loads");
        assert_eq!(good.names, ["v1.test"]);
        assert!(matches!(
            load_file(&dir.join("bad.pem"), &provider, &LoadOptions::default()),
            Err(TlsError::KeyMismatch(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `ssl-load-extra-del-ext` names the key of `site.crt` `site.key` (only a `.crt` extension is dropped, as
    /// HAProxy does); by default it is `site.crt.key`. Observed with haproxy 2.6 -c on the same files.
    #[test]
    fn companions_are_named_with_or_without_the_crt_extension() {
        let plain = LoadOptions::default();
        let del = LoadOptions {
            del_ext: true,
            ..LoadOptions::default()
        };
        assert_eq!(
            plain.path(Path::new("/d/site.crt"), "key"),
            Path::new("/d/site.crt.key")
        );
        assert_eq!(
            del.path(Path::new("/d/site.crt"), "key"),
            Path::new("/d/site.key")
        );
        assert_eq!(
            del.path(Path::new("/d/site.crt"), "ocsp"),
            Path::new("/d/site.ocsp")
        );
        assert_eq!(
            del.path(Path::new("/d/site.pem"), "key"),
            Path::new("/d/site.pem.key")
        );

        let dir = std::env::temp_dir().join(format!("fulcrum-tls-noext-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "site.key",
                "-out",
                "site.crt",
                "-subj",
                "/CN=noext.test",
                "-days",
                "2",
            ],
        );
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let crt = dir.join("site.crt");
        let loaded = load_file(&crt, &provider, &del).expect("the key is site.key");
        assert_eq!(loaded.names, ["noext.test"]);
        match load_file(&crt, &provider, &plain) {
            Err(TlsError::NoKey(p)) => assert_eq!(p, dir.join("site.crt.key")),
            other => panic!("expected no key, got {:?}", other.map(|l| l.names)),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
