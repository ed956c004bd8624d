//! The certificate fetches: `ssl_c_*` (the client's certificate), `ssl_f_*` (the one the frontend presented)
//! and `ssl_s_*` (the server's, on an `ssl` server connection), read by the same configuration run by fulcrum
//! and, when it is installed, by the real haproxy 2.6, whose answers must be the same byte for byte. As in
//! HAProxy's reg-tests ssl/ssl_*_samples: a clear-text frontend sends requests to a TLS frontend of the same
//! process through an `ssl` server line with a client certificate; the TLS frontend answers with what it sees of
//! the client and of its own certificate, the clear one adds what it saw of the server's.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::pki::openssl;
use common::*;

/// The fetches the TLS frontend answers with (the client's certificate and its own).
const FRONT: &[&str] = &[
    "ssl_c_der,hex",
    "ssl_c_chain_der,hex",
    "ssl_c_sha1,hex",
    "ssl_c_serial,hex",
    "ssl_c_notbefore",
    "ssl_c_notafter",
    "ssl_c_sig_alg",
    "ssl_c_key_alg",
    "ssl_c_version",
    "ssl_c_s_dn",
    "ssl_c_i_dn",
    "ssl_c_s_dn(,0,rfc2253)",
    "ssl_c_s_dn(CN)",
    "ssl_c_s_dn(OU,2)",
    "ssl_c_s_dn(OU,-1)",
    "ssl_c_s_dn(O,0)",
    "ssl_c_s_dn(emailAddress)",
    "ssl_c_i_dn(CN,1,rfc2253)",
    "ssl_f_der,hex",
    "ssl_f_sha1,hex",
    "ssl_f_serial,hex",
    "ssl_f_notbefore",
    "ssl_f_notafter",
    "ssl_f_sig_alg",
    "ssl_f_key_alg",
    "ssl_f_version",
    "ssl_f_s_dn",
    "ssl_f_i_dn(,0,rfc2253)",
    "ssl_fc_has_crt",
];

/// The fetches the clear-text frontend adds to the response (the server's certificate).
const BACK: &[&str] = &[
    "ssl_s_der,hex",
    "ssl_s_chain_der,hex",
    "ssl_s_sha1,hex",
    "ssl_s_serial,hex",
    "ssl_s_notbefore",
    "ssl_s_notafter",
    "ssl_s_sig_alg",
    "ssl_s_key_alg",
    "ssl_s_version",
    "ssl_s_s_dn",
    "ssl_s_i_dn(,0,rfc2253)",
    "ssl_s_s_dn(CN)",
    "ssl_f_s_dn(CN)",
];

/// A CA (EC), an intermediate (RSA) below it, a server certificate for www.test1.com (EC, signed with
/// SHA-384, serial 0x80) and a client certificate with a name full of what needs escaping (RSA, serial 255,
/// version 1: no extensions), both from the intermediate and kept with it in their PEM files.
fn pki(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let o = |args: &[&str]| openssl(dir, args);
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    o(&[
        &[
            "req", "-x509", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        ][..],
        &ec,
        &["-subj", "/CN=Samples Root", "-days", "3"],
    ]
    .concat());
    std::fs::write(
        dir.join("ca.ext"),
        "basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n",
    )
    .unwrap();
    o(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "int.key",
        "-out",
        "int.csr",
        "-subj",
        "/C=FR/O=Samples/CN=Samples Intermediate",
    ]);
    o(&[
        "x509",
        "-req",
        "-in",
        "int.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "7",
        "-days",
        "3",
        "-extfile",
        "ca.ext",
        "-out",
        "int.pem",
    ]);
    std::fs::write(dir.join("srv.ext"), "subjectAltName=DNS:www.test1.com\n").unwrap();
    o(&[
        &["req", "-nodes", "-keyout", "srv.key", "-out", "srv.csr"][..],
        &ec,
        &["-subj", "/C=FR/ST=Ile-de-France/O=Samples/CN=www.test1.com"],
    ]
    .concat());
    o(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "int.pem",
        "-CAkey",
        "int.key",
        "-set_serial",
        "128",
        "-days",
        "3",
        "-sha384",
        "-extfile",
        "srv.ext",
        "-out",
        "srv.crt",
    ]);
    o(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "cli.key",
        "-out",
        "cli.csr",
        "-utf8",
        "-multivalue-rdn",
        "-subj",
        "/C=FR/O=Samples+OU=Unit A/OU=Unit #2/CN= client, \"one\" \u{e9}<x>;/emailAddress=c@test",
    ]);
    o(&[
        "x509",
        "-req",
        "-in",
        "cli.csr",
        "-CA",
        "int.pem",
        "-CAkey",
        "int.key",
        "-set_serial",
        "255",
        "-days",
        "3",
        "-out",
        "cli.crt",
    ]);
    let cat = |out: &str, parts: &[&str]| {
        let all: Vec<u8> = parts
            .iter()
            .flat_map(|p| std::fs::read(dir.join(p)).unwrap())
            .collect();
        std::fs::write(dir.join(out), all).unwrap();
    };
    cat("srv.pem", &["srv.crt", "int.pem", "srv.key"]);
    cat("cli.pem", &["cli.crt", "int.pem", "cli.key"]);
}

fn config(dir: &Path, tls_port: u16, clear_port: u16) -> String {
    let p = |f: &str| dir.join(f).display().to_string();
    let body: String = FRONT.iter().map(|f| format!("{f}=%[{f}]\\n")).collect();
    let headers: String = BACK
        .iter()
        .enumerate()
        .map(|(i, f)| format!("    http-response set-header x-s-{i} %[{f}]\n"))
        .collect();
    format!(
        "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\n\
frontend tls\n    bind 127.0.0.1:{tls_port} ssl crt {srv} ca-file {ca} verify optional crt-ignore-err all ca-ignore-err all\n    http-request return status 200 content-type text/plain lf-string \"{body}\"\n\n\
frontend clear\n    bind 127.0.0.1:{clear_port}\n{headers}    default_backend b\n\n\
backend b\n    server s 127.0.0.1:{tls_port} ssl verify none sni str(www.test1.com) crt {cli}\n",
        srv = p("srv.pem"),
        ca = p("ca.pem"),
        cli = p("cli.pem"),
    )
}

/// A GET through the clear frontend: the body, then the `x-s-N` headers one a line in order.
fn fetch(port: u16) -> String {
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .unwrap_or_else(|e| panic!("curl is needed: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut headers: Vec<(usize, String)> = head
        .lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            let n = name
                .to_ascii_lowercase()
                .strip_prefix("x-s-")?
                .parse()
                .ok()?;
            Some((n, format!("{}={}", BACK[n], value.trim())))
        })
        .collect();
    headers.sort();
    let mut out = body.to_string();
    for (_, h) in headers {
        out.push_str(&h);
        out.push('\n');
    }
    out
}

fn hex_of(dir: &Path, files: &[&str]) -> String {
    let mut out = String::new();
    for f in files {
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(dir.join(f))
            .output()
            .unwrap()
            .stdout;
        out.extend(der.iter().map(|b| format!("{b:02X}")));
    }
    out
}

fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key} in {out}"))
}

#[test]
fn certificate_fetches_of_the_client_the_frontend_and_the_server_match_haproxy() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("fulcrum-tls-samples-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    pki(&dir);
    let (tls_port, clear_port) = (free_port(), free_port());
    let cfg = config(&dir, tls_port, clear_port);
    let p = start_proxy(&cfg);
    // The second request opens a new server connection, which resumes the TLS session of the first: the
    // frontend's certificate is then the one its name chooses; the certificates are those of the session,
    // the chains are not known any more, and no certificate was sent in this handshake (as in HAProxy).
    let first = fetch(clear_port);
    let second = fetch(clear_port);
    drop(p);
    let differ = [
        "ssl_c_chain_der,hex",
        "ssl_s_chain_der,hex",
        "ssl_fc_has_crt",
    ];
    let without = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !differ.iter().any(|d| l.starts_with(&format!("{d}="))))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(without(&first), without(&second));
    assert_eq!(line(&first, "ssl_fc_has_crt"), "1");
    assert_eq!(line(&second, "ssl_fc_has_crt"), "0");
    assert_eq!(line(&second, "ssl_c_chain_der,hex"), "");
    assert_eq!(line(&second, "ssl_s_chain_der,hex"), "");

    assert_eq!(line(&first, "ssl_c_der,hex"), hex_of(&dir, &["cli.crt"]));
    assert_eq!(
        line(&first, "ssl_c_chain_der,hex"),
        hex_of(&dir, &["int.pem"])
    );
    assert_eq!(line(&first, "ssl_c_serial,hex"), "FF");
    assert_eq!(line(&first, "ssl_c_version"), "1");
    assert_eq!(line(&first, "ssl_c_sig_alg"), "RSA-SHA256");
    assert_eq!(line(&first, "ssl_c_key_alg"), "rsaEncryption");
    assert_eq!(
        line(&first, "ssl_c_s_dn"),
        // DER orders the members of the multi-valued RDN: the unit's encoding is the shorter.
        "/C=FR/OU=Unit A/O=Samples/OU=Unit #2/CN= client, \"one\" \u{e9}<x>;/emailAddress=c@test"
    );
    assert_eq!(
        line(&first, "ssl_c_s_dn(,0,rfc2253)"),
        "emailAddress=c@test,CN=\\ client\\, \\\"one\\\" \\C3\\A9\\<x\\>\\;,OU=Unit #2,O=Samples+OU=Unit A,C=FR"
    );
    assert_eq!(line(&first, "ssl_c_s_dn(OU,2)"), "Unit #2");
    assert_eq!(line(&first, "ssl_c_s_dn(OU,-1)"), "Unit #2");
    assert_eq!(line(&first, "ssl_c_s_dn(O,0)"), "");
    assert_eq!(
        line(&first, "ssl_c_i_dn(CN,1,rfc2253)"),
        "Samples Intermediate"
    );
    assert_eq!(line(&first, "ssl_f_der,hex"), hex_of(&dir, &["srv.crt"]));
    assert_eq!(line(&first, "ssl_f_serial,hex"), "80");
    assert_eq!(line(&first, "ssl_f_sig_alg"), "RSA-SHA384");
    assert_eq!(line(&first, "ssl_f_key_alg"), "id-ecPublicKey");
    assert_eq!(line(&first, "ssl_f_version"), "3");
    assert_eq!(
        line(&first, "ssl_f_s_dn"),
        "/C=FR/ST=Ile-de-France/O=Samples/CN=www.test1.com"
    );
    assert_eq!(
        line(&first, "ssl_f_i_dn(,0,rfc2253)"),
        "CN=Samples Intermediate,O=Samples,C=FR"
    );
    assert_eq!(line(&first, "ssl_s_der,hex"), hex_of(&dir, &["srv.crt"]));
    assert_eq!(
        line(&first, "ssl_s_chain_der,hex"),
        hex_of(&dir, &["srv.crt", "int.pem"])
    );
    assert_eq!(line(&first, "ssl_s_s_dn(CN)"), "www.test1.com");
    // The server side has no frontend certificate.
    assert_eq!(line(&first, "ssl_f_s_dn(CN)"), "");
    let nb = line(&first, "ssl_c_notbefore");
    assert!(
        nb.len() == 13 && nb.ends_with('Z') && nb[..12].bytes().all(|b| b.is_ascii_digit()),
        "{nb}"
    );

    if haproxy_present() {
        let (tls_port, clear_port) = (free_port(), free_port());
        let h = start_haproxy(
            &config(&dir, tls_port, clear_port),
            format!("127.0.0.1:{clear_port}").parse().unwrap(),
        );
        let theirs = fetch(clear_port);
        let theirs_again = fetch(clear_port);
        drop(h);
        assert_eq!(first, theirs, "fulcrum (left) and haproxy (right) differ");
        assert_eq!(second, theirs_again);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A CA named `name` in `dir` (`NAME.pem`, `NAME.key`, EC), with what `openssl ca` needs to revoke and to write
/// a version 1 CRL (no CRL number, no extensions).
fn ca_with_db(dir: &Path, name: &str) {
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
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "3",
        ],
    );
    std::fs::write(dir.join(format!("{name}.idx")), "").unwrap();
    std::fs::write(dir.join(format!("{name}.serial")), "20\n").unwrap();
    std::fs::write(
        dir.join(format!("{name}.cnf")),
        format!("[ca]\ndefault_ca = d\n[d]\ndatabase = {name}.idx\ncertificate = {name}.pem\nprivate_key = {name}.key\ndefault_md = sha256\ndefault_crl_days = 3\nnew_certs_dir = .\nserial = {name}.serial\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n"),
    )
    .unwrap();
}

/// A client certificate `file` (`.pem` with its key) from CA `ca`.
fn client(dir: &Path, ca: &str, file: &str, serial: &str) {
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{file}.key"),
            "-out",
            &format!("{file}.csr"),
            "-subj",
            &format!("/CN={file}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{file}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            serial,
            "-days",
            "3",
            "-extfile",
            "client.ext",
            "-out",
            &format!("{file}.crt"),
        ],
    );
    let pem = [
        std::fs::read(dir.join(format!("{file}.crt"))).unwrap(),
        std::fs::read(dir.join(format!("{file}.key"))).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join(format!("{file}.pem")), pem).unwrap();
}

/// A version 1 client certificate `file` from CA `ca` (`openssl ca` without extensions), valid from `start` to
/// `end` (`YYYYMMDDhhmmssZ`).
fn client_v1(dir: &Path, ca: &str, file: &str, start: &str, end: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{file}.key"),
            "-out",
            &format!("{file}.csr"),
            "-subj",
            &format!("/CN={file}"),
        ],
    );
    openssl(
        dir,
        &[
            "ca",
            "-config",
            &format!("{ca}.cnf"),
            "-batch",
            "-notext",
            "-in",
            &format!("{file}.csr"),
            "-out",
            &format!("{file}.crt"),
            "-startdate",
            start,
            "-enddate",
            end,
        ],
    );
    let pem = [
        std::fs::read(dir.join(format!("{file}.crt"))).unwrap(),
        std::fs::read(dir.join(format!("{file}.key"))).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join(format!("{file}.pem")), pem).unwrap();
}

/// curl with client certificate `cert` to `https://127.0.0.1:PORT/`: the body, or `refused`.
fn with_cert(dir: &Path, port: u16, cert: &str) -> String {
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "5", "--cert"])
        .arg(dir.join(format!("{cert}.pem")))
        .arg(format!("https://127.0.0.1:{port}/"))
        .output()
        .unwrap_or_else(|e| panic!("curl is needed: {e}"));
    if out.status.success() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        "refused".into()
    }
}

/// `crl-file` with a version 1 list (what `openssl ca -gencrl` writes without a CRL number), which webpki does
/// not read: a revoked certificate is refused, or let through as error 23 by `crt-ignore-err`; a certificate from
/// a CA the file has no list for is error 3, on the certificate and on its CA (OpenSSL checks the whole chain).
/// Version 1 client certificates (no extensions, which webpki does not read either) are verified: signature,
/// validity, revocation. The same answers as haproxy 2.6's for the same files.
#[test]
fn version_1_crls_and_client_certificates() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("fulcrum-tls-crl1-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    ca_with_db(&dir, "ca1");
    ca_with_db(&dir, "ca2");
    client(&dir, "ca1", "good", "10");
    client(&dir, "ca1", "revoked", "11");
    client(&dir, "ca2", "other", "12");
    // Version 1 certificates (webpki reads none; fulcrum verifies them itself): valid, expired, revoked.
    client_v1(&dir, "ca1", "v1", "20200101000000Z", "20991231000000Z");
    client_v1(
        &dir,
        "ca1",
        "v1-expired",
        "20200101000000Z",
        "20200102000000Z",
    );
    client_v1(
        &dir,
        "ca1",
        "v1-revoked",
        "20200101000000Z",
        "20991231000000Z",
    );
    client_v1(&dir, "ca1", "v1-both", "20200101000000Z", "20200102000000Z");
    for r in ["revoked.crt", "v1-revoked.crt", "v1-both.crt"] {
        openssl(&dir, &["ca", "-config", "ca1.cnf", "-revoke", r]);
    }
    openssl(
        &dir,
        &["ca", "-config", "ca1.cnf", "-gencrl", "-out", "crl.pem"],
    );
    let text = Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(dir.join("crl.pem"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("Version 1 (0x0)"));
    let cas = [
        std::fs::read(dir.join("ca1.pem")).unwrap(),
        std::fs::read(dir.join("ca2.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("cas.pem"), cas).unwrap();
    // The server's certificate: any will do (curl does not verify it here).
    let cat = |out: &str, parts: &[&str]| {
        let all: Vec<u8> = parts
            .iter()
            .flat_map(|p| std::fs::read(dir.join(p)).unwrap())
            .collect();
        std::fs::write(dir.join(out), all).unwrap();
    };
    cat("srv.pem", &["good.crt", "good.key"]);
    let cfg = |port: u16, ignore: &str| {
        format!(
            "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\n\
frontend tls\n    bind 127.0.0.1:{port} ssl crt {dir}/srv.pem ca-file {dir}/cas.pem crl-file {dir}/crl.pem verify required {ignore}\n    http-request return status 200 content-type text/plain lf-string \"verify=%[ssl_c_verify] err=%[ssl_c_err] caerr=%[ssl_c_ca_err] depth=%[ssl_c_ca_err_depth] cn=%[ssl_c_s_dn(CN)]\"\n",
            dir = dir.display()
        )
    };
    let cases = [
        ("", "good", "verify=0 err=0 caerr=0 depth=0 cn=good"),
        ("", "revoked", "refused"),
        ("", "other", "refused"),
        (
            "crt-ignore-err 23",
            "revoked",
            "verify=23 err=23 caerr=0 depth=0 cn=revoked",
        ),
        ("crt-ignore-err 3", "other", "refused"),
        (
            "crt-ignore-err 3 ca-ignore-err 3",
            "other",
            "verify=3 err=3 caerr=3 depth=1 cn=other",
        ),
        ("", "v1", "verify=0 err=0 caerr=0 depth=0 cn=v1"),
        ("", "v1-expired", "refused"),
        ("", "v1-revoked", "refused"),
        (
            "crt-ignore-err all",
            "v1-expired",
            "verify=10 err=10 caerr=0 depth=0 cn=v1-expired",
        ),
        (
            "crt-ignore-err all",
            "v1-revoked",
            "verify=23 err=23 caerr=0 depth=0 cn=v1-revoked",
        ),
        // Revocation is checked before validity (`ssl_c_verify` is the last error, `ssl_c_err` the first).
        (
            "crt-ignore-err all",
            "v1-both",
            "verify=10 err=23 caerr=0 depth=0 cn=v1-both",
        ),
    ];
    let mut ours = Vec::new();
    for (ignore, cert, want) in cases {
        let port = free_port();
        let p = start_proxy(&cfg(port, ignore));
        let got = with_cert(&dir, port, cert);
        drop(p);
        assert_eq!(got, want, "{ignore} {cert}");
        ours.push(got);
    }
    if haproxy_present() {
        for ((ignore, cert, _), mine) in cases.iter().zip(&ours) {
            let port = free_port();
            let h = start_haproxy(
                &cfg(port, ignore),
                format!("127.0.0.1:{port}").parse().unwrap(),
            );
            let theirs = with_cert(&dir, port, cert);
            drop(h);
            assert_eq!(
                mine, &theirs,
                "fulcrum (left) and haproxy (right) differ: {ignore} {cert}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `show ssl cert` prints a name's values as their bytes, as HAProxy does (UTF-8 included), and the serial
/// without DER's sign byte: compared with haproxy 2.6 on the certificate of the sample test.
#[test]
fn show_ssl_cert_prints_names_as_haproxy_does() {
    use std::io::{Read, Write};
    let cli = |path: &Path, input: &str| -> String {
        let mut s = std::os::unix::net::UnixStream::connect(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        s.write_all(input.as_bytes()).unwrap();
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let dir: PathBuf =
        std::env::temp_dir().join(format!("fulcrum-tls-show-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    pki(&dir);
    let crt = dir.join("cli.pem").display().to_string();
    let cfg = |sock: &Path, port: u16| {
        format!(
            "global\n    stats socket {} level admin\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend f\n    bind 127.0.0.1:{port} ssl crt {crt}\n    http-request return status 200\n",
            sock.display()
        )
    };
    let sock = dir.join("ours.sock");
    let p = start_proxy(&cfg(&sock, free_port()));
    let ours = cli(&sock, &format!("show ssl cert {crt}\n"));
    drop(p);
    assert!(ours.contains("\nSerial: FF\n"), "{ours}");
    assert!(
        ours.contains("\nSubject: /C=FR/OU=Unit A/O=Samples/OU=Unit #2/CN= client, \"one\" \u{e9}<x>;/emailAddress=c@test\n"),
        "{ours}"
    );
    if haproxy_present() {
        let hsock = dir.join("theirs.sock");
        let port = free_port();
        let h = start_haproxy(
            &cfg(&hsock, port),
            format!("127.0.0.1:{port}").parse().unwrap(),
        );
        let theirs = cli(&hsock, &format!("show ssl cert {crt}\n"));
        drop(h);
        assert_eq!(ours, theirs);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server presenting a version 1 certificate (which webpki does not read) is reached under `verify none`: the
/// handshake signature is checked against the certificate's key, and the `ssl_s_*` fetches read it.
#[test]
fn a_server_with_a_version_1_certificate_under_verify_none() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("fulcrum-tls-srv1-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    ca_with_db(&dir, "ca1");
    client_v1(&dir, "ca1", "srv-v1", "20200101000000Z", "20991231000000Z");
    let cfg = |tls: u16, clear: u16| {
        format!(
            "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\n\
frontend tls\n    bind 127.0.0.1:{tls} ssl crt {dir}/srv-v1.pem\n    http-request return status 200 content-type text/plain string ok\n\n\
frontend clear\n    bind 127.0.0.1:{clear}\n    http-response set-header x-s-0 %[ssl_s_version]\n    default_backend b\n\n\
backend b\n    server s 127.0.0.1:{tls} ssl verify none\n",
            dir = dir.display()
        )
    };
    let (tls, clear) = (free_port(), free_port());
    let p = start_proxy(&cfg(tls, clear));
    let got = fetch(clear);
    drop(p);
    // The body, then header x-s-0 (which `fetch` names after `BACK[0]`; here it carries `ssl_s_version`).
    assert_eq!(got, format!("ok{}=1\n", BACK[0]));
    let _ = std::fs::remove_dir_all(&dir);
}
