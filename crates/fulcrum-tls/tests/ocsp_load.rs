//! An OCSP response beside a certificate (`FILE.ocsp`) is checked when the certificate is loaded, as haproxy 2.6
//! checks it: each case below is loaded by fulcrum (`certs::load_crt`) and, when haproxy is installed, by
//! `haproxy -c` on a bind line with the same files, and both must agree: stapled, ignored with the same reason
//! (a warning), or refused with the same reason (an error). Responses are made with `openssl ocsp` from an index
//! file; those dated in the past or the future with `faketime`.

use std::path::{Path, PathBuf};
use std::process::Command;

use fulcrum_tls::certs::{load_crt, LoadOptions};

fn run(dir: &Path, cmd: &[&str]) {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{} is needed: {e}", cmd[0]));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    run(dir, &[&["openssl"], args].concat());
}

/// A response from the CA (`ca.pem`) about the certificates `crts` (their statuses from `index.txt`), made
/// `shift` away from now (`faketime` syntax, e.g. `-3d`) when given, valid `ndays` days when given.
fn respond(dir: &Path, crts: &[&str], out: &str, shift: Option<&str>, ndays: Option<&str>) {
    let mut req = vec![
        "ocsp",
        "-issuer",
        "ca.pem",
        "-no_nonce",
        "-reqout",
        "req.der",
    ];
    for c in crts {
        req.extend(["-cert", c]);
    }
    openssl(dir, &req);
    let mut cmd = vec![];
    if let Some(s) = shift {
        cmd.extend(["faketime", "-f", s]);
    }
    cmd.extend([
        "openssl",
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
        out,
    ]);
    if let Some(n) = ndays {
        cmd.extend(["-ndays", n]);
    }
    run(dir, &cmd);
}

/// The test PKI in a directory of its own (`name`: one per test, as tests run side by side).
fn pki(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fulcrum-ocsp-load-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &dir,
        &[
            &["req", "-x509"],
            &ec[..],
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=OCSP Test CA",
                "-days",
                "30",
            ],
        ]
        .concat(),
    );
    let mut index = String::new();
    for n in ["a", "b"] {
        let (key, csr, crt) = (format!("{n}.key"), format!("{n}.csr"), format!("{n}.crt"));
        let subj = format!("/CN={n}.test");
        openssl(
            &dir,
            &[
                &["req"],
                &ec[..],
                &["-keyout", &key, "-out", &csr, "-subj", &subj],
            ]
            .concat(),
        );
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "10",
            ],
        );
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        // With its issuer in the chain, and without.
        std::fs::write(
            dir.join(format!("{n}.pem")),
            [read(&crt), read("ca.pem"), read(&key)].concat(),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{n}-alone.pem")),
            [read(&crt), read(&key)].concat(),
        )
        .unwrap();
        let serial = Command::new("openssl")
            .args(["x509", "-in", &crt, "-noout", "-serial"])
            .current_dir(&dir)
            .output()
            .unwrap();
        let serial = String::from_utf8_lossy(&serial.stdout)
            .trim()
            .trim_start_matches("serial=")
            .to_string();
        index.push_str(&format!(
            "V\t491231235959Z\t\t{serial}\tunknown\t/CN={n}.test\n"
        ));
    }
    std::fs::write(dir.join("index.txt"), index).unwrap();
    respond(&dir, &["a.crt"], "a.der", None, Some("1"));
    respond(&dir, &["b.crt"], "b.der", None, Some("1"));
    respond(&dir, &["a.crt", "b.crt"], "ab.der", None, Some("1"));
    respond(&dir, &["a.crt"], "no-next.der", None, None);
    std::fs::write(dir.join("junk.der"), "not a response\n").unwrap();
    std::fs::write(dir.join("empty.der"), "").unwrap();
    // OCSPResponse { responseStatus unauthorized }
    std::fs::write(dir.join("unauthorized.der"), [0x30, 0x03, 0x0a, 0x01, 0x06]).unwrap();
    dir
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Stapled,
    /// Loaded, with no OCSP response and no warning.
    Loaded,
    Ignored(String),
    Refused(String),
}

/// Loads `crt` with `ocsp` copied beside it (and `issuer` as its `.issuer` when given) in fulcrum.
fn fulcrum(dir: &Path, crt: &str, ocsp: &str, issuer: Option<&str>) -> Outcome {
    load(dir, crt, Some(ocsp), issuer, None)
}

/// Loads `crt` with its companions (`ocsp`, `issuer`, and `CRT.key` when that file exists) under
/// `ssl-load-extra-files EXTRA` when given, in fulcrum and, when it is installed, in haproxy: both must agree.
fn load(
    dir: &Path,
    crt: &str,
    ocsp: Option<&str>,
    issuer: Option<&str>,
    extra: Option<&str>,
) -> Outcome {
    let case = dir.join(format!("case-{crt}"));
    let _ = std::fs::remove_dir_all(&case);
    std::fs::create_dir_all(&case).unwrap();
    let path = case.join(crt);
    std::fs::copy(dir.join(crt), &path).unwrap();
    if let Some(o) = ocsp {
        std::fs::copy(dir.join(o), case.join(format!("{crt}.ocsp"))).unwrap();
    }
    if let Some(i) = issuer {
        std::fs::copy(dir.join(i), case.join(format!("{crt}.issuer"))).unwrap();
    }
    let key = dir.join(format!("{crt}.key"));
    if key.exists() {
        std::fs::copy(&key, case.join(format!("{crt}.key"))).unwrap();
    }
    let global = extra.map_or(String::new(), |e| {
        format!("global\n    ssl-load-extra-files {e}\n")
    });
    let parsed = fulcrum_config::haproxy::parse_str("g.cfg", &global).unwrap();
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let mut warnings = Vec::new();
    let stapled = ocsp.map(|o| std::fs::read(dir.join(o)).unwrap());
    let loaded = load_crt(
        &path,
        &provider,
        &LoadOptions::of(&parsed.global.ssl),
        &mut warnings,
    );
    let out = match loaded {
        Err(e) => Outcome::Refused(e.to_string()),
        Ok(l) if l[0].key.ocsp.is_some() && l[0].key.ocsp == stapled => {
            assert!(warnings.is_empty(), "{warnings:?}");
            Outcome::Stapled
        }
        Ok(l) if warnings.is_empty() => {
            assert!(l[0].key.ocsp.is_none());
            Outcome::Loaded
        }
        Ok(l) => {
            assert!(l[0].key.ocsp.is_none());
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            Outcome::Ignored(warnings.remove(0))
        }
    };
    if haproxy_present() {
        let cfg = case.join("h.cfg");
        std::fs::write(
            &cfg,
            format!(
                "{global}defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:1 ssl crt {}\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n",
                path.display()
            ),
        )
        .unwrap();
        let h = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&cfg)
            .output()
            .unwrap();
        let text =
            String::from_utf8_lossy(&h.stdout).into_owned() + &String::from_utf8_lossy(&h.stderr);
        match &out {
            Outcome::Stapled | Outcome::Loaded => assert!(
                h.status.success() && !text.contains("WARNING"),
                "haproxy: {text}"
            ),
            Outcome::Ignored(w) => {
                assert!(h.status.success(), "haproxy: {text}");
                // fulcrum names the file where haproxy says "Loading:".
                let reason = w.split_once("': ").unwrap().1;
                assert!(
                    text.contains(&format!("Loading: {reason}")),
                    "fulcrum: {w}\nhaproxy: {text}"
                );
            }
            Outcome::Refused(e) => {
                assert!(!h.status.success(), "haproxy accepts it: {text}");
                assert!(text.contains(e.as_str()), "fulcrum: {e}\nhaproxy: {text}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&case);
    out
}

fn haproxy_present() -> bool {
    let present = Command::new("haproxy")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present && std::env::var_os("FULCRUM_REQUIRE_NETNS").is_some() {
        panic!("haproxy is needed to compare (scripts/install-deps.sh installs it)");
    }
    present
}

fn ignored(reason: &str, dir: &Path) -> Outcome {
    Outcome::Ignored(format!(
        "Loading '{}': {reason}. Content will be ignored.",
        dir.join("case-a.pem").join("a.pem.ocsp").display()
    ))
}

#[test]
fn ocsp_responses_are_checked_at_load_as_haproxy_checks_them() {
    let dir = pki("ocsp");
    assert_eq!(fulcrum(&dir, "a.pem", "a.der", None), Outcome::Stapled);
    // The issuer from `.issuer` when the chain lacks it.
    assert_eq!(
        fulcrum(&dir, "a-alone.pem", "a.der", Some("ca.pem")),
        Outcome::Stapled
    );
    assert_eq!(
        fulcrum(&dir, "a.pem", "a.der", Some("ca.pem")),
        Outcome::Stapled
    );
    for (ocsp, reason) in [
        (
            "b.der",
            "OCSP single response: Certificate ID does not match certificate and issuer",
        ),
        ("junk.der", "Unable to parse OCSP response"),
        ("empty.der", "Unable to parse OCSP response"),
        ("unauthorized.der", "OCSP response status not successful"),
        (
            "ab.der",
            "OCSP response ignored because contains multiple single responses (2)",
        ),
        ("no-next.der", "OCSP single response: missing nextupdate"),
    ] {
        assert_eq!(
            fulcrum(&dir, "a.pem", ocsp, None),
            ignored(reason, &dir),
            "{ocsp}"
        );
    }
    // Expired, and not yet valid (beyond the five minutes of skew).
    if Command::new("faketime").arg("-v").output().is_ok() {
        respond(&dir, &["a.crt"], "old.der", Some("-3d"), Some("1"));
        respond(&dir, &["a.crt"], "future.der", Some("+3d"), Some("1"));
        for ocsp in ["old.der", "future.der"] {
            assert_eq!(
                fulcrum(&dir, "a.pem", ocsp, None),
                ignored("OCSP single response: no longer valid.", &dir),
                "{ocsp}"
            );
        }
    } else if std::env::var_os("FULCRUM_REQUIRE_NETNS").is_some() {
        panic!("faketime is needed (scripts/install-deps.sh installs it)");
    } else {
        eprintln!("skipped the expired and future responses: faketime is not installed");
    }
    // Refused: no issuer to compute the certificate ID with, a `.issuer` that is none, or not this one's.
    let refused = |crt: &str, issuer: Option<&str>| match fulcrum(&dir, crt, "a.der", issuer) {
        Outcome::Refused(e) => e,
        other => panic!("{crt} {issuer:?}: {other:?}"),
    };
    assert!(refused("a-alone.pem", None).contains(
        "is present and activates OCSP but it is impossible to compute the OCSP certificate ID"
    ));
    assert!(refused("a.pem", Some("junk.der")).ends_with("a.pem.issuer' cannot be read or parsed"));
    assert!(refused("a-alone.pem", Some("b.crt")).ends_with("a-alone.pem.issuer' is not an issuer"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ssl-load-extra-files` says which companions are looked for, as haproxy 2.6 reads them: without `key` a key
/// kept beside the certificate is not found, without `ocsp` a response file is not read (nor checked), without
/// `issuer` the issuer comes from the chain only; a `.sctl` file (not served: rustls sends no timestamps) is
/// named in a warning unless `sctl` is left out.
#[test]
fn ssl_load_extra_files_chooses_the_companions_as_haproxy() {
    let dir = pki("extra");
    std::fs::copy(dir.join("a.crt"), dir.join("a-crt.pem")).unwrap();
    std::fs::copy(dir.join("a.key"), dir.join("a-crt.pem.key")).unwrap();
    let refused = |crt: &str, ocsp, issuer, extra| match load(&dir, crt, ocsp, issuer, Some(extra))
    {
        Outcome::Refused(e) => e,
        other => panic!("{crt} {extra}: {other:?}"),
    };
    assert!(refused("a-crt.pem", None, None, "none").contains("No Private Key found in '"));
    assert_eq!(
        load(&dir, "a-crt.pem", None, None, Some("key")),
        Outcome::Loaded
    );
    assert_eq!(
        load(&dir, "a-crt.pem", None, None, Some("all")),
        Outcome::Loaded
    );
    // A response about another certificate, beside a certificate without its issuer.
    assert_eq!(
        load(&dir, "a-alone.pem", Some("b.der"), None, Some("key")),
        Outcome::Loaded
    );
    assert!(
        refused("a-alone.pem", Some("b.der"), Some("ca.pem"), "key ocsp")
            .contains("impossible to compute the OCSP certificate ID")
    );
    match load(
        &dir,
        "a-alone.pem",
        Some("b.der"),
        Some("ca.pem"),
        Some("key ocsp issuer"),
    ) {
        Outcome::Ignored(w) => assert!(w.contains("Certificate ID does not match"), "{w}"),
        other => panic!("{other:?}"),
    }
    // Refusals in HAProxy's words (haproxy -c refuses the same lines).
    for (extra, want) in [
        ("bogus", "'ssl-load-extra-files' expects one or multiple arguments (none, all, bundle, sctl, ocsp, issuer)."),
        ("", "'ssl-load-extra-files' expects one or multiple arguments"),
        ("none key", "'ssl-load-extra-files' 'none' and 'all' can be only used alone"),
    ] {
        let text = format!("global\n    ssl-load-extra-files {extra}\n");
        let e = fulcrum_config::haproxy::parse_str("g.cfg", &text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("g.cfg:2") && e.contains(want), "{extra}: {e}");
        if haproxy_present() {
            let cfg = dir.join("refused.cfg");
            std::fs::write(&cfg, &text).unwrap();
            let h = Command::new("haproxy").arg("-c").arg("-f").arg(&cfg).output().unwrap();
            assert!(!h.status.success() && String::from_utf8_lossy(&h.stderr).contains(want), "haproxy: {extra}");
        }
    }
    // A `.sctl` beside the certificate is named, unless `sctl` is left out.
    let sctl_dir = dir.join("sctl");
    std::fs::create_dir_all(&sctl_dir).unwrap();
    std::fs::copy(dir.join("a.pem"), sctl_dir.join("a.pem")).unwrap();
    std::fs::write(sctl_dir.join("a.pem.sctl"), [0u8, 0]).unwrap();
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    for (extra, named) in [("all", true), ("key ocsp issuer", false)] {
        let g = fulcrum_config::haproxy::parse_str(
            "g.cfg",
            &format!("global\n    ssl-load-extra-files {extra}\n"),
        )
        .unwrap();
        let mut warnings = Vec::new();
        load_crt(
            &sctl_dir.join("a.pem"),
            &provider,
            &LoadOptions::of(&g.global.ssl),
            &mut warnings,
        )
        .unwrap();
        assert_eq!(
            warnings.iter().any(|w| w.contains(
                "a.pem.sctl': fulcrum's TLS library sends no signed certificate timestamps"
            )),
            named,
            "{extra}: {warnings:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
