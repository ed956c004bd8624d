//! A test PKI made with the `openssl` command: keys and certificates in HAProxy's usual layout.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `openssl ARGS` in `dir`; panics when it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl is needed: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A key and a certificate for `names` signed by the CA (`self_signed`: by itself), as `NAME.pem` holding the
/// chain and the key, HAProxy's usual layout.
pub fn leaf(dir: &Path, file: &str, cn: &str, names: &[&str], rsa: bool, self_signed: bool) {
    let key = format!("{file}.key.tmp");
    if rsa {
        openssl(dir, &["genrsa", "-out", &key, "2048"]);
    } else {
        openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &key,
            ],
        );
    }
    let csr = format!("{file}.csr");
    let subj = format!("/C=FR/O=Fulcrum Tests/CN={cn}");
    openssl(
        dir,
        &["req", "-new", "-key", &key, "-subj", &subj, "-out", &csr],
    );
    let ext = format!("{file}.ext");
    let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    let mut text = String::new();
    if !san.is_empty() {
        text.push_str(&format!("subjectAltName={}\n", san.join(",")));
    }
    if names.is_empty() {
        text.push_str("extendedKeyUsage=clientAuth\n");
    }
    std::fs::write(dir.join(&ext), text).unwrap();
    let crt = format!("{file}.crt");
    let mut args = vec!["x509", "-req", "-in", &csr, "-days", "2", "-extfile", &ext];
    if self_signed {
        args.extend(["-signkey", &key]);
    } else {
        args.extend(["-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"]);
    }
    args.extend(["-out", &crt]);
    openssl(dir, &args);
    let pem = [
        std::fs::read(dir.join(&crt)).unwrap(),
        std::fs::read(dir.join(&key)).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join(format!("{file}.pem")), pem).unwrap();
}

/// A directory of test certificates.
pub struct Pki {
    /// Where the files are.
    pub dir: PathBuf,
}

impl Pki {
    /// The path of a file of the PKI, as text for configurations and command lines.
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// A test CA (`ca.pem`, `ca.key`) in `dir`.
pub fn ca(dir: &Path) {
    ca_named(dir, "/CN=Fulcrum Test CA");
}

/// A CA (`ca.pem`, `ca.key`) in `dir` whose subject is `subject`.
pub fn ca_named(dir: &Path, subject: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            subject,
            "-days",
            "2",
        ],
    );
}
