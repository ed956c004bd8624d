//! The text of OCSP responses against what haproxy 2.6.12 printed for the same responses (`show ssl
//! ocsp-response KEY`, the CLI's closing empty line dropped), kept under `tests/ocsp/`. The responses are the ones
//! of HAProxy's reg-test ssl/show_ssl_ocspresponse.vtc: they are read from HAProxy's suite when it is beside the
//! checkout (`HAPROXY_REGTESTS`, else `../shared/haproxy-reg-tests` from the workspace or from the repository a
//! worktree belongs to), and the test says it skipped otherwise. A response made here with `openssl ocsp` is
//! checked in the proxy's stats-socket test (crates/fulcrum-proxy/tests/tls_ocsp.rs).

use std::path::PathBuf;

use fulcrum_tls::ocsp_text::{cert_ids, cli_text, describe};

/// HAProxy's ssl/ reg-test directory, when present.
fn suite_ssl() -> Option<PathBuf> {
    let top = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut candidates = Vec::new();
    if let Ok(s) = std::env::var("HAPROXY_REGTESTS") {
        candidates.push(PathBuf::from(s));
    }
    candidates.push(top.join("../shared/haproxy-reg-tests"));
    // A git worktree: beside the main checkout.
    if let Ok(git) = std::fs::read_to_string(top.join(".git")) {
        if let Some(dir) = git.strip_prefix("gitdir: ") {
            candidates.push(PathBuf::from(dir.trim()).join("../../../../shared/haproxy-reg-tests"));
        }
    }
    candidates
        .into_iter()
        .map(|c| c.join("reg-tests/ssl"))
        .find(|c| c.join("show_ocsp_server.pem.ocsp").is_file())
}

fn expected(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/ocsp")
        .join(name);
    std::fs::read_to_string(p).expect("expected text")
}

/// Line by line, so a difference names its line.
fn assert_same_text(got: &str, want: &str) {
    for (n, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "line {}", n + 1);
    }
    assert_eq!(got.lines().count(), want.lines().count());
    assert_eq!(got, want);
}

#[test]
fn responses_print_as_haproxy_prints_them() {
    let Some(dir) = suite_ssl() else {
        eprintln!("skipped: HAProxy's reg-tests are not beside this checkout");
        return;
    };
    for (file, text) in [
        ("show_ocsp_server.pem.ocsp", "show_ocsp_server.pem.ocsp.txt"),
        (
            "show_ocsp_server.pem.ocsp.revoked",
            "show_ocsp_server.pem.ocsp.revoked.txt",
        ),
    ] {
        let der = std::fs::read(dir.join(file)).unwrap();
        let got = cli_text(&der).unwrap_or_else(|| panic!("{file} has no text"));
        assert_same_text(&got, &expected(text));
        let ids = cert_ids(&der).unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(
            ids[0].key_hex(),
            "303b300906052b0e03021a050004148a83e0060faff709ca7e9b95522a2e81635fda0a0414f652b0e435d5ea923851508f0adbe92d85de007a0202100f"
        );
        // The list entry, as haproxy 2.6.12 printed it after `# Certificate IDs`.
        assert_eq!(
            ids[0].list_entry(),
            "Certificate ID key : 303b300906052b0e03021a050004148a83e0060faff709ca7e9b95522a2e81635fda0a0414f652b0e435d5ea923851508f0adbe92d85de007a0202100f\n Certificate ID:\n   Issuer Name Hash: 8A83E0060FAFF709CA7E9B95522A2E81635FDA0A\n   Issuer Key Hash: F652B0E435D5EA923851508F0ADBE92D85DE007A\n   Serial Number: 100F\n"
        );
    }
}

/// Runs `openssl ARGS` in `dir`; its standard output, `None` when openssl is missing or fails.
fn openssl(dir: &std::path::Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A response made here (an Ed25519 responder certificate with key usages, alternative names, access
/// information, CRL distribution points, policies; a revoked certificate with its reason) reads as `openssl
/// ocsp -resp_text` prints it; the runtime API's text differs as haproxy 2.6.12's does (observed): each empty
/// line is a space, so that the answer does not end early.
#[test]
fn a_response_made_with_openssl_reads_as_openssl_prints_it() {
    let dir = std::env::temp_dir().join(format!("fulcrum-ocsp-text-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let steps: &[&[&str]] = &[
        &[
            "req",
            "-x509",
            "-newkey",
            "ed25519",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/C=FR/O=Fulcrum Tests/CN=OCSP CA",
            "-days",
            "2",
            "-addext",
            "keyUsage=critical,digitalSignature,keyCertSign,cRLSign",
            "-addext",
            "extendedKeyUsage=OCSPSigning,serverAuth",
            "-addext",
            "subjectAltName=DNS:ocsp.test,IP:127.0.0.1,email:ca@ocsp.test",
            "-addext",
            "authorityInfoAccess=OCSP;URI:http://ocsp.test/,caIssuers;URI:http://ca.test/ca.crt",
            "-addext",
            "crlDistributionPoints=URI:http://crl.test/a.crl,URI:http://crl.test/b.crl",
            "-addext",
            "noCheck=ignored",
            "-addext",
            "certificatePolicies=2.23.140.1.2.1,2.5.29.32.0",
            "-addext",
            "nsComment=a comment",
        ],
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.pem",
            "-subj",
            "/CN=leaf.test",
            "-days",
            "2",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "0x8000000000000001",
        ],
    ];
    for s in steps {
        if openssl(&dir, s).is_none() {
            eprintln!("skipped: openssl missing or too old ({s:?})");
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
    }
    std::fs::write(
        dir.join("index.txt"),
        "R\t491231235959Z\t230102030405Z,cessationOfOperation\t8000000000000001\tunknown\t/CN=leaf.test\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "ocsp", "-issuer", "ca.pem", "-cert", "leaf.pem", "-reqout", "req.der",
        ],
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "ocsp",
            "-index",
            "index.txt",
            "-rsigner",
            "ca.pem",
            "-rkey",
            "ca.key",
            "-CA",
            "ca.pem",
            "-reqin",
            "req.der",
            "-respout",
            "resp.der",
            "-ndays",
            "1",
        ],
    )
    .unwrap();
    let text = openssl(
        &dir,
        &["ocsp", "-respin", "resp.der", "-resp_text", "-noverify"],
    )
    .unwrap();
    let der = std::fs::read(dir.join("resp.der")).unwrap();
    let got = describe(&der).unwrap();
    assert_same_text(&got, &text);
    let spaced: String = text
        .split_inclusive('\n')
        .map(|l| if l == "\n" { " \n" } else { l })
        .collect();
    assert_same_text(&cli_text(&der).unwrap(), &spaced);
    assert!(
        got.contains("    Revocation Reason: cessationOfOperation (0x5)\n"),
        "{got}"
    );
    assert!(got.contains("ED25519 Public-Key:"), "{got}");
    let _ = std::fs::remove_dir_all(&dir);
}
