//! `generate-certificates`: a client whose server name (SNI) no certificate of the bind line serves gets one made
//! for that name on the spot, signed by the CA of `ca-sign-file` ([`Ca`]), for the key of the line's default
//! certificate, laid out as haproxy 2.6 makes it ([`der`]). Made certificates are kept in one process-wide cache
//! ([`Forged`]) of `tune.ssl.ssl-ctx-cache-size` entries, the least recently used dropped first, keyed by bind
//! line and name; their serial numbers count up from the clock in milliseconds, as HAProxy's do.

mod ca;
mod der;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustls::sign::CertifiedKey;
use rustls_pki_types::CertificateDer;

pub use ca::Ca;

/// A made certificate, with the key it was made for (the bind line's default certificate may be replaced at run
/// time: a certificate for the old key is then made again).
struct Entry {
    spki: Vec<u8>,
    key: Arc<CertifiedKey>,
}

/// The certificates made for every bind line of the process, and the serial numbers they take.
pub struct Forged {
    /// `None` when `tune.ssl.ssl-ctx-cache-size` is 0: every handshake then makes its own.
    cache: Option<Mutex<lru::LruCache<(u64, String), Entry>>>,
    serial: AtomicU32,
    next_line: AtomicU64,
}

impl std::fmt::Debug for Forged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forged")
            .field("cached", &self.len())
            .finish()
    }
}

impl Forged {
    /// A cache of `size` certificates; serial numbers start after the clock's milliseconds (modulo 2^32).
    pub fn new(size: u32) -> Forged {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Forged::with_serial(size, ms as u32)
    }

    /// A cache of `size` certificates whose first serial number is `last + 1`.
    pub fn with_serial(size: u32, last: u32) -> Forged {
        Forged {
            cache: NonZeroUsize::new(size as usize).map(|n| Mutex::new(lru::LruCache::new(n))),
            serial: AtomicU32::new(last),
            next_line: AtomicU64::new(0),
        }
    }

    /// How many certificates are kept.
    pub fn len(&self) -> usize {
        self.cache
            .as_ref()
            .map_or(0, |c| c.lock().unwrap_or_else(|e| e.into_inner()).len())
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn next_serial(&self) -> u32 {
        self.serial.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
    }
}

/// The certificate maker of one bind line.
#[derive(Debug)]
pub struct Generator {
    ca: Ca,
    forged: Arc<Forged>,
    /// The bind line's key in the cache.
    line: u64,
}

impl Generator {
    /// A maker signing with `ca`, keeping what it makes in `forged`.
    pub fn new(ca: Ca, forged: Arc<Forged>) -> Generator {
        let line = forged.next_line.fetch_add(1, Ordering::Relaxed);
        Generator { ca, forged, line }
    }

    /// The certificate for server name `name` and the key of `default` (the bind line's default certificate):
    /// the kept one, else one made now. `None` when it cannot be made (HAProxy then serves the default).
    pub fn certificate(
        &self,
        name: &str,
        default: &Arc<CertifiedKey>,
    ) -> Option<Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let leaf = default.cert.first()?;
        let fields = crate::x509::CertFields::parse(leaf)?;
        let spki = fields.spki(leaf);
        let key = (self.line, name);
        if let Some(cache) = &self.forged.cache {
            let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = c.get(&key).filter(|e| e.spki == spki) {
                return Some(e.key.clone());
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let der = self.make(&key.1, spki, self.forged.next_serial().into(), now)?;
        let mut chain = vec![CertificateDer::from(der)];
        chain.extend(self.ca.chain.iter().cloned());
        let made = Arc::new(CertifiedKey::new(chain, default.key.clone()));
        if let Some(cache) = &self.forged.cache {
            cache.lock().unwrap_or_else(|e| e.into_inner()).put(
                key,
                Entry {
                    spki: spki.to_vec(),
                    key: made.clone(),
                },
            );
        }
        Some(made)
    }

    /// The DER of a certificate for `name` (lower case) and the key of SubjectPublicKeyInfo `spki`, with serial
    /// number `serial`, made at `now` (seconds since the epoch).
    pub fn make(&self, name: &str, spki: &[u8], serial: u64, now: i64) -> Option<Vec<u8>> {
        let alg = self.ca.alg();
        let req = der::Request {
            name,
            spki,
            serial,
            now,
        };
        let tbs = der::tbs(&self.ca.parts, alg, &req)?;
        let sig = self.ca.sign(&tbs)?;
        Some(der::certificate(&tbs, alg, &sig))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TlsError;
    use std::path::Path;
    use std::process::Command;

    fn openssl(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is needed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A CA `NAME.pem` (certificate and key) with key options `key`, and a self-signed server certificate
    /// `server.pem` on P-384 whose key the made certificates certify.
    fn pki(dir: &Path, name: &str, key: &[&str], subj: &str) {
        let mut args = vec!["req", "-x509", "-nodes", "-newkey"];
        args.extend(key);
        let (k, c) = (format!("{name}.key"), format!("{name}.crt"));
        args.extend(["-keyout", &k, "-out", &c, "-subj", subj, "-days", "30"]);
        openssl(dir, &args);
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        std::fs::write(
            dir.join(format!("{name}.pem")),
            [read(&c), read(&k)].concat(),
        )
        .unwrap();
    }

    fn server(dir: &Path) -> Arc<CertifiedKey> {
        pki(
            dir,
            "server",
            &["ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
            "/CN=server.test",
        );
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        crate::certs::load_file(&dir.join("server.pem"), &provider, &Default::default())
            .unwrap()
            .key
    }

    /// What `openssl x509 -text` says of a made certificate, and whether `openssl verify` accepts it against the
    /// CA `ca.crt`.
    fn inspect(dir: &Path, ca: &str, der: &[u8]) -> (String, String) {
        std::fs::write(dir.join("made.der"), der).unwrap();
        openssl(
            dir,
            &[
                "x509", "-inform", "der", "-in", "made.der", "-out", "made.pem",
            ],
        );
        let text = openssl(dir, &["x509", "-in", "made.pem", "-noout", "-text"]);
        let verify = openssl(dir, &["verify", "-CAfile", ca, "made.pem"]);
        (text, verify)
    }

    /// The certificate made for a name holds what haproxy 2.6.12 puts in its own (compared field by field with
    /// one haproxy made from the same CA and key: see also the `tls` integration test, which compares them
    /// whole), verifies against the CA, and is kept: the same name gets the same certificate, the next name the
    /// next serial number.
    #[test]
    fn made_certificates_are_haproxys_and_are_kept() {
        let dir = std::env::temp_dir().join(format!("fulcrum-tls-gen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        pki(
            &dir,
            "ca",
            &["ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
            "/C=FR/ST=Some-State/O=Test Org/CN=Test CA",
        );
        let default = server(&dir);
        let ca = Ca::load(&dir.join("ca.pem"), &Default::default()).unwrap();
        let generator = Generator::new(ca, Arc::new(Forged::with_serial(2, 0x4af0_3253)));
        let made = generator.certificate("Unknown-SNI.com.", &default).unwrap();
        assert_eq!(made.cert.len(), 2, "the made certificate, then the CA's");
        assert!(
            Arc::ptr_eq(&made.key, &default.key),
            "the default certificate's key"
        );
        let (text, verify) = inspect(&dir, "ca.crt", &made.cert[0]);
        assert!(verify.contains("made.pem: OK"), "{verify}");
        for line in [
            "Version: 3 (0x2)",
            "Serial Number: 1257255508 (0x4af03254)",
            "Signature Algorithm: ecdsa-with-SHA256",
            "Issuer: C = FR, ST = Some-State, O = Test Org, CN = Test CA",
            "Subject: C = FR, ST = Some-State, O = Test Org, CN = Test CA, CN = unknown-sni.com",
            "NIST CURVE: P-384",
            "X509v3 Basic Constraints: \n                CA:FALSE",
            "Netscape Comment: \n                \"OpenSSL Generated Certificate\"",
            "X509v3 Key Usage: \n                Digital Signature, Non Repudiation, Key Encipherment",
            "X509v3 Subject Alternative Name: \n                DNS:unknown-sni.com",
            "serial:",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
        // A day before now to a year after.
        let f = crate::x509::CertFields::parse(&made.cert[0]).unwrap();
        let (nb, na) = f.validity().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(
            (now - 86_400 - nb).abs() < 60 && na - nb == 366 * 86_400,
            "{nb} {na}"
        );
        // The key identifiers chain: the made certificate's authority key is the CA's subject key.
        let ca_text = openssl(
            &dir,
            &[
                "x509",
                "-in",
                "ca.crt",
                "-noout",
                "-ext",
                "subjectKeyIdentifier",
            ],
        );
        let ca_ski = ca_text.lines().nth(1).unwrap().trim().to_string();
        assert!(
            text.contains(&format!("keyid:{ca_ski}")),
            "{ca_ski}\n{text}"
        );
        // Kept: the same certificate for the same name, in any case.
        let again = generator.certificate("unknown-sni.com", &default).unwrap();
        assert!(Arc::ptr_eq(&made, &again));
        // The next name, the next serial; a third name drops the least recently used (size 2).
        let other = generator.certificate("other.test", &default).unwrap();
        let serial = |k: &CertifiedKey| {
            let f = crate::x509::CertFields::parse(&k.cert[0]).unwrap();
            f.serial(&k.cert[0]).to_vec()
        };
        assert_eq!(serial(&other), [0x4a, 0xf0, 0x32, 0x55]);
        let _ = generator.certificate("unknown-sni.com", &default).unwrap();
        let _third = generator.certificate("third.test", &default).unwrap();
        assert_eq!(generator.forged.len(), 2);
        let other_again = generator.certificate("other.test", &default).unwrap();
        assert!(!Arc::ptr_eq(&other, &other_again), "dropped, made again");
        assert_eq!(serial(&other_again), [0x4a, 0xf0, 0x32, 0x57]);
        let made_again = generator.certificate("unknown-sni.com", &default).unwrap();
        assert!(
            !Arc::ptr_eq(&made, &made_again),
            "dropped by third.test and other.test"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// An RSA CA signs with sha256WithRSAEncryption; its name is copied as it is (repeated DC and OU); with no
    /// cache every handshake makes its own certificate.
    #[test]
    fn rsa_ca_names_are_copied_whole() {
        let dir = std::env::temp_dir().join(format!("fulcrum-tls-gen-rsa-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        pki(
            &dir,
            "ca",
            &["rsa:2048"],
            "/DC=com/DC=example/OU=A/OU=B/CN=RSA Test CA",
        );
        let default = server(&dir);
        let ca = Ca::load(&dir.join("ca.pem"), &Default::default()).unwrap();
        let generator = Generator::new(ca, Arc::new(Forged::with_serial(0, u32::MAX)));
        let made = generator.certificate("x.y.test", &default).unwrap();
        let (text, verify) = inspect(&dir, "ca.crt", &made.cert[0]);
        assert!(verify.contains("made.pem: OK"), "{verify}");
        for line in [
            "Serial Number: 0 (0x0)",
            "Signature Algorithm: sha256WithRSAEncryption",
            "Issuer: DC = com, DC = example, OU = A, OU = B, CN = RSA Test CA",
            "Subject: DC = com, DC = example, OU = A, OU = B, CN = RSA Test CA, CN = x.y.test",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
        let again = generator.certificate("x.y.test", &default).unwrap();
        assert!(!Arc::ptr_eq(&made, &again));
        assert!(generator.forged.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A CA file without a key, with an encrypted key, or with another key than its certificate's is refused.
    #[test]
    fn unusable_ca_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("fulcrum-tls-gen-bad-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        pki(
            &dir,
            "ca",
            &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "/CN=CA",
        );
        pki(
            &dir,
            "other",
            &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "/CN=Other",
        );
        let c = &Default::default();
        match Ca::load(&dir.join("ca.crt"), c) {
            Err(TlsError::NoKey(p)) => assert_eq!(p, dir.join("ca.crt.key")),
            other => panic!("{other:?}"),
        }
        openssl(
            &dir,
            &[
                "pkey", "-in", "ca.key", "-aes256", "-passout", "pass:x", "-out", "enc.key",
            ],
        );
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        std::fs::write(
            dir.join("enc.pem"),
            [read("ca.crt"), read("enc.key")].concat(),
        )
        .unwrap();
        let e = Ca::load(&dir.join("enc.pem"), c).unwrap_err().to_string();
        assert!(e.contains("encrypted"), "{e}");
        std::fs::write(
            dir.join("mixed.pem"),
            [read("ca.crt"), read("other.key")].concat(),
        )
        .unwrap();
        assert!(matches!(
            Ca::load(&dir.join("mixed.pem"), c),
            Err(TlsError::KeyMismatch(_))
        ));
        let e = Ca::load(&dir.join("none.pem"), c).unwrap_err().to_string();
        assert!(e.contains("cannot open the file"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
