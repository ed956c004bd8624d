//! The runtime API's TLS commands beyond a whole certificate's replacement (see tls.rs for that one): a
//! certificate replaced part by part (`set ssl cert NAME.key`, with `ssl-load-extra-del-ext`). Each session is
//! run against fulcrum and, when it is installed, against haproxy 2.6 with the same configuration and files:
//! every answer must be the same, byte for byte; then handshakes show that the change took effect.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::pki::{ca, leaf};
use common::*;

/// A fresh directory with a test CA.
fn pki(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fulcrum-tls-rt-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    ca(&dir);
    dir
}

/// Sends `input` to a runtime API socket as `socat` does and reads the answer.
fn cli(path: &Path, input: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(input.as_bytes()).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The configuration both proxies run: `global` lines, then a frontend `f` on `port` with `frontend`'s lines
/// (answering 200 itself), the runtime API on `sock`.
fn config(global: &str, sock: &Path, port: u16, frontend: &str) -> String {
    format!(
        "global\n    nbthread 1\n    stats socket {} level admin\n{global}\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\nfrontend f\n    bind 127.0.0.1:{port} {frontend}\n    http-request return status 200\n",
        sock.display()
    )
}

/// Runs `commands` (each a whole input, payload included) on fulcrum's socket and, when haproxy is installed,
/// on haproxy's with the same configuration: the answers must agree (less HAProxy's `@system-ca` line).
/// Returns fulcrum's answers.
fn compare_session(global: &str, frontend: &str, dir: &Path, commands: &[String]) -> Vec<String> {
    let hsock = dir.join(format!("h-{}.sock", free_port()));
    let hport = free_port();
    let theirs: Option<Vec<String>> = haproxy_present().then(|| {
        let h = start_haproxy(
            &config(global, &hsock, hport, frontend),
            format!("127.0.0.1:{hport}").parse().unwrap(),
        );
        // Less the `@system-ca` bundle `show ssl ca-file` lists and fulcrum does not load.
        let answers = commands
            .iter()
            .map(|c| {
                cli(&hsock, c)
                    .split_inclusive('\n')
                    .filter(|l| !l.starts_with("@system-ca"))
                    .collect()
            })
            .collect();
        drop(h);
        answers
    });
    let fsock = dir.join(format!("f-{}.sock", free_port()));
    let p = start_proxy(&config(global, &fsock, free_port(), frontend));
    let ours: Vec<String> = commands.iter().map(|c| cli(&fsock, c)).collect();
    drop(p);
    if let Some(theirs) = theirs {
        for ((c, o), t) in commands.iter().zip(&ours).zip(&theirs) {
            assert_eq!(o, t, "fulcrum and haproxy answer differently to:\n{c}");
        }
    }
    ours
}

/// `openssl s_client` to `addr` asking for `name`; its whole output, spaces taken out (OpenSSL 3 writes
/// `CN = name`).
fn s_client(addr: std::net::SocketAddr, name: &str) -> String {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            name,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("openssl is needed: {e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .replace(' ', "")
}

/// With `ssl-load-extra-del-ext`, `site.crt`'s key is `site.key` (not `site.crt.key`), and the runtime API
/// takes the certificate and its key as two payloads (`set ssl cert site.crt`, then `set ssl cert site.key`),
/// as haproxy 2.6 does (reg-test ssl/set_ssl_cert_noext).
#[test]
fn a_certificate_and_its_key_set_apart_with_ssl_load_extra_del_ext() {
    let dir = pki("noext");
    leaf(&dir, "site", "site.test", &["site.test"], false, false);
    leaf(&dir, "next", "next.test", &["next.test"], true, false);
    // site.crt and site.key: no key in the certificate file, no site.crt.key.
    std::fs::rename(dir.join("site.key.tmp"), dir.join("site.key")).unwrap();
    let d = dir.display();
    let global = "    ssl-load-extra-del-ext";
    let frontend = format!("ssl crt {d}/site.crt");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let (next_crt, next_key, old_key) = (read("next.crt"), read("next.key.tmp"), read("site.key"));
    let set = |name: &str, payload: &str| format!("set ssl cert {d}/{name} <<\n{payload}\n");
    let commands = vec![
        "show ssl cert\n".to_string(),
        set("site.crt", &next_crt),
        "show ssl cert\n".to_string(),
        // A certificate without its key is not committed; the transaction stays open.
        format!("commit ssl cert {d}/site.crt\n"),
        // A `.key` payload must hold a key.
        set("site.key", &next_crt),
        // Another file's key while this transaction is open (named with `.crt`, as HAProxy names it).
        set("other.key", &next_key),
        format!("commit ssl cert {d}/site.key\n"),
        format!("abort ssl cert {d}/site.key\n"),
        set("site.key", &next_key),
        format!("commit ssl cert {d}/site.crt\n"),
        format!("show ssl cert {d}/site.crt\n"),
        // The old key does not belong to the new certificate.
        set("site.key", &old_key),
        format!("commit ssl cert {d}/site.crt\n"),
        format!("abort ssl cert {d}/site.crt\n"),
        format!("commit ssl cert {d}/site.crt\n"),
        // A key for a file the configuration does not name.
        set("nothere.key", &next_key),
    ];
    let answers = compare_session(global, &frontend, &dir, &commands);
    assert_eq!(answers[0], format!("# filename\n{d}/site.crt\n\n"));
    assert_eq!(
        answers[1],
        format!("Transaction created for certificate {d}/site.crt!\n\n")
    );
    assert_eq!(
        answers[3],
        format!("The transaction must contain at least a certificate and a private key!\nCan't commit {d}/site.crt!\n\n")
    );
    assert_eq!(
        answers[5],
        format!("The ongoing transaction is about '{d}/site.crt' but you are trying to set '{d}/other.crt'\nCan't update {d}/other.key!\n\n")
    );
    assert_eq!(
        answers[8],
        format!("Transaction updated for certificate {d}/site.crt!\n\n")
    );
    assert_eq!(
        answers[9],
        format!("Committing {d}/site.crt.\nSuccess!\n\n")
    );
    assert!(
        answers[10].contains("Subject: /C=FR/O=Fulcrum Tests/CN=next.test\n"),
        "{}",
        answers[10]
    );
    assert_eq!(
        answers[12],
        format!("inconsistencies between private key and certificate loaded '{d}/site.crt'.\nCan't commit {d}/site.crt!\n\n")
    );

    // New handshakes get the new certificate and its key.
    let sock = dir.join("handshakes.sock");
    let port = free_port();
    let p = start_proxy(&config(global, &sock, port, &frontend));
    assert!(s_client(p.addr, "site.test").contains("CN=site.test"));
    cli(&sock, &set("site.crt", &next_crt));
    cli(&sock, &set("site.key", &next_key));
    assert_eq!(
        cli(&sock, &format!("commit ssl cert {d}/site.crt\n")),
        format!("Committing {d}/site.crt.\nSuccess!\n\n")
    );
    let out = s_client(p.addr, "site.test");
    assert!(
        out.contains("CN=next.test") && out.contains("Serverpublickeyis2048bit"),
        "{out}"
    );
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

/// curl to `https://NAME:PORT/` resolved to `addr`, verifying against `ca`, with `extra` options; whether a
/// response came.
fn curl_ok(addr: std::net::SocketAddr, name: &str, ca: &Path, extra: &[&str]) -> bool {
    let port = addr.port();
    Command::new("curl")
        .args(["-sS", "--max-time", "5", "-o", "/dev/null", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
        .args(extra)
        .arg(format!("https://{name}:{port}/"))
        .output()
        .unwrap_or_else(|e| panic!("curl is needed: {e}"))
        .status
        .success()
}

/// A `crt-list` line added at run time with options (`[verify required ca-file CA]`) serves its names with them
/// (a client certificate asked for there only), and stops when the line is deleted; a line naming a CA or CRL
/// file no bind line loaded is refused, HAProxy reading no file at run time (reg-test ssl/add_ssl_crt-list).
#[test]
fn crt_list_lines_added_with_options_serve_with_them() {
    let dir = pki("lineopts");
    leaf(&dir, "a", "a.test", &["a.test"], false, false);
    leaf(&dir, "c", "c.test", &["c.test"], false, false);
    leaf(&dir, "client", "client one", &[], false, false);
    let d = dir.display();
    let list = format!("{d}/l.crt-list");
    // Filters are printed back in the order written, as HAProxy prints them.
    std::fs::write(&list, format!("{d}/a.pem !no.test a.test\n")).unwrap();
    // The bind line loads ca.pem (without verifying clients): run-time lines may name it.
    let frontend = format!("ssl strict-sni crt-list {list} ca-file {d}/ca.pem verify none");
    let pem = std::fs::read_to_string(dir.join("c.pem")).unwrap();
    let add = |line: &str| format!("add ssl crt-list {list} <<\n{line}\n\n");
    let commands = vec![
        format!("show ssl crt-list -n {list}\n"),
        format!("new ssl cert {d}/c.pem\n"),
        format!("set ssl cert {d}/c.pem <<\n{pem}\n"),
        format!("commit ssl cert {d}/c.pem\n"),
        add(&format!("{d}/c.pem [ca-file {d}/nope.pem] c.test")),
        add(&format!("{d}/c.pem [ca-verify-file {d}/nope.pem] c.test")),
        add(&format!("{d}/c.pem [crl-file {d}/nope.pem] c.test")),
        add(&format!("{d}/c.pem [frobnicate] c.test")),
        add(&format!(
            "{d}/c.pem [verify required ca-file {d}/ca.pem allow-0rtt] c.test"
        )),
        format!("del ssl crt-list {list} {d}/c.pem\n"),
    ];
    let answers = compare_session("", &frontend, &dir, &commands);
    assert_eq!(
        answers[0],
        format!("# {list}\n{d}/a.pem:1 !no.test a.test\n\n")
    );
    assert_eq!(
        answers[4],
        format!("Can't edit the crt-list: 'ca-file' : unable to load {d}/nope.pem\n\n")
    );
    assert_eq!(
        answers[8],
        format!("Inserting certificate '{d}/c.pem' in crt-list '{list}'.\nSuccess!\n\n")
    );

    let sock = dir.join("handshakes.sock");
    let p = start_proxy(&config("", &sock, free_port(), &frontend));
    let ca = dir.join("ca.pem");
    let client = dir.join("client.pem").display().to_string();
    let with_cert = ["--cert", client.as_str()];
    assert!(
        !curl_ok(p.addr, "c.test", &ca, &[]),
        "no certificate for c.test yet"
    );
    for c in &commands[1..4] {
        cli(&sock, c);
    }
    assert!(cli(&sock, &commands[8]).ends_with("Success!\n\n"));
    assert!(
        !curl_ok(p.addr, "c.test", &ca, &[]),
        "c.test asks for a client certificate"
    );
    assert!(curl_ok(p.addr, "c.test", &ca, &with_cert));
    assert!(
        curl_ok(p.addr, "a.test", &ca, &[]),
        "a.test keeps the bind line's options"
    );
    let shown = cli(&sock, &format!("show ssl crt-list -n {list}\n"));
    assert!(
        shown.contains(&format!(
            "{d}/c.pem:2 [verify required ca-file {d}/ca.pem allow-0rtt] c.test\n"
        )),
        "{shown}"
    );
    assert_eq!(
        cli(&sock, &format!("del ssl crt-list {list} {d}/c.pem\n")),
        format!("Entry '{d}/c.pem' deleted in crtlist '{list}'!\n\n")
    );
    assert!(
        !curl_ok(p.addr, "c.test", &ca, &with_cert),
        "the line is gone"
    );
    assert!(curl_ok(p.addr, "a.test", &ca, &[]));
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `show ssl ca-file [NAME[:INDEX]]` lists the CA files bind lines loaded (`ca-file`, `ca-verify-file`) and
/// prints their certificates as haproxy 2.6 does (compared, less the `@system-ca` bundle HAProxy lists and
/// fulcrum does not load).
#[test]
fn show_ssl_ca_file_prints_the_cas_as_haproxy_does() {
    let dir = pki("cafile");
    leaf(&dir, "a", "a.test", &["a.test"], false, false);
    // A second CA, in a file of two with the first.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    ca(&other);
    let both = [
        std::fs::read(dir.join("ca.pem")).unwrap(),
        std::fs::read(other.join("ca.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("both.pem"), both).unwrap();
    let d = dir.display();
    let frontend = format!(
        "ssl crt {d}/a.pem ca-file {d}/both.pem ca-verify-file {d}/other/ca.pem verify optional"
    );
    let commands = [
        "show ssl ca-file\n".to_string(),
        format!("show ssl ca-file {d}/both.pem\n"),
        format!("show ssl ca-file {d}/both.pem:2\n"),
        format!("show ssl ca-file {d}/both.pem:3\n"),
        format!("show ssl ca-file {d}/nope.pem\n"),
    ];
    let hsock = dir.join(format!("h-{}.sock", free_port()));
    let hport = free_port();
    let theirs: Option<Vec<String>> = haproxy_present().then(|| {
        let h = start_haproxy(
            &config("", &hsock, hport, &frontend),
            format!("127.0.0.1:{hport}").parse().unwrap(),
        );
        let answers = commands
            .iter()
            .map(|c| {
                cli(&hsock, c)
                    .lines()
                    .filter(|l| !l.starts_with("@system-ca"))
                    .map(|l| format!("{l}\n"))
                    .collect()
            })
            .collect();
        drop(h);
        answers
    });
    let sock = dir.join(format!("f-{}.sock", free_port()));
    let p = start_proxy(&config("", &sock, free_port(), &frontend));
    let ours: Vec<String> = commands.iter().map(|c| cli(&sock, c)).collect();
    drop(p);
    assert_eq!(
        ours[0],
        format!(
            "# filename\n{d}/both.pem - 2 certificate(s)\n{d}/other/ca.pem - 1 certificate(s)\n\n"
        )
    );
    assert!(
        ours[2].contains(" \nCertificate #2:\n") && !ours[2].contains("#1"),
        "{}",
        ours[2]
    );
    if let Some(theirs) = theirs {
        for ((c, o), t) in commands.iter().zip(&ours).zip(&theirs) {
            assert_eq!(o, t, "fulcrum and haproxy answer differently to {c}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A CRL of the CA in `dir` (`ca.pem`, `ca.key`) revoking the certificates `revoked` (`NAME.crt`), written to
/// `out`: a version 2 list, as `openssl ca -gencrl` writes it.
fn crl(dir: &Path, revoked: &[&str], out: &str) {
    let db = dir.join(format!("{out}.db"));
    let _ = std::fs::remove_dir_all(&db);
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(db.join("index.txt"), "").unwrap();
    std::fs::write(db.join("crlnumber"), "1000\n").unwrap();
    let cnf = db.join("ca.cnf");
    std::fs::write(
        &cnf,
        format!(
            "[ca]\ndefault_ca = c\n[c]\ndatabase = {db}/index.txt\ncrlnumber = {db}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n",
            db = db.display()
        ),
    )
    .unwrap();
    let cnf = cnf.display().to_string();
    let base = ["-config", &cnf, "-keyfile", "ca.key", "-cert", "ca.pem"];
    for r in revoked {
        let crt = format!("{r}.crt");
        let mut args = vec!["ca"];
        args.extend(base);
        args.extend(["-revoke", &crt]);
        common::pki::openssl(dir, &args);
    }
    let mut args = vec!["ca"];
    args.extend(base);
    args.extend(["-gencrl", "-out", out]);
    common::pki::openssl(dir, &args);
}

/// Two CAs: `a/` signs the clients `alice` and `bob`, `b/` the site certificate (`site.test`).
fn two_cas(name: &str) -> PathBuf {
    let dir = pki(name);
    let (a, b) = (dir.join("a"), dir.join("b"));
    for d in [&a, &b] {
        std::fs::create_dir_all(d).unwrap();
        ca(d);
    }
    leaf(&a, "alice", "alice", &[], false, false);
    leaf(&a, "bob", "bob", &[], false, false);
    leaf(&b, "site", "site.test", &["site.test"], false, false);
    crl(&a, &[], "empty.crl");
    crl(&a, &["alice"], "alice.crl");
    crl(&b, &[], "empty.crl");
    crl(&b, &["site"], "site.crl");
    dir
}

/// `set ssl ca-file` + `commit` and `set ssl crl-file` + `commit` change what a running proxy verifies from the
/// next handshake, on the bind line (client certificates: one signed by the new CA accepted, a revoked one
/// refused) and on a server line (its certificate, with `crl-file` on the server); nothing changes before the
/// commit nor after an abort (reg-tests ssl/set_ssl_cafile and ssl/set_ssl_crlfile).
#[test]
fn ca_and_crl_files_replaced_at_run_time_change_verification() {
    let dir = two_cas("cacommit");
    let d = dir.display();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    // The bind line trusts CA b only at first; the server line CA a only (the site's is b).
    std::fs::write(dir.join("bind-ca.pem"), read("b/ca.pem")).unwrap();
    std::fs::write(dir.join("bind.crl"), read("a/empty.crl")).unwrap();
    std::fs::write(dir.join("srv-ca.pem"), read("a/ca.pem")).unwrap();
    std::fs::write(dir.join("srv.crl"), read("b/empty.crl")).unwrap();
    let sock = dir.join("api.sock");
    let (tls_port, plain_port, origin_port) = (free_port(), free_port(), free_port());
    let text = format!(
        "global\n    nbthread 1\n    stats socket {sock} level admin\n\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\n\
frontend tls\n    bind 127.0.0.1:{tls_port} ssl crt {d}/b/site.pem ca-file {d}/bind-ca.pem crl-file {d}/bind.crl verify required\n    http-request return status 200\n\n\
frontend plain\n    bind 127.0.0.1:{plain_port}\n    default_backend be\n\n\
backend be\n    server s1 127.0.0.1:{origin_port} ssl ca-file {d}/srv-ca.pem crl-file {d}/srv.crl verify required sni str(site.test)\n\n\
frontend origin\n    bind 127.0.0.1:{origin_port} ssl crt {d}/b/site.pem\n    http-request return status 200\n",
        sock = sock.display()
    );
    let p = start_proxy(&text);
    let tls: std::net::SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    let site_ca = dir.join("b/ca.pem");
    let client = |who: &str| {
        let pem = dir.join(format!("a/{who}.pem")).display().to_string();
        curl_ok(tls, "site.test", &site_ca, &["--cert", &pem])
    };
    let through_server = || {
        let out = Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "5",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .arg(format!("http://127.0.0.1:{plain_port}/"))
            .output()
            .unwrap_or_else(|e| panic!("curl is needed: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let set = |kind: &str, name: &str, payload: &str| {
        cli(&sock, &format!("set ssl {kind} {d}/{name} <<\n{payload}\n"))
    };
    let commit = |kind: &str, name: &str| cli(&sock, &format!("commit ssl {kind} {d}/{name}\n"));

    // CA b does not know alice.
    assert!(!client("alice"));
    assert_eq!(
        set("ca-file", "bind-ca.pem", &read("a/ca.pem")),
        format!("transaction created for CA {d}/bind-ca.pem!\n\n")
    );
    assert!(cli(&sock, "show ssl ca-file\n").starts_with(&format!(
        "# transaction\n*{d}/bind-ca.pem - 1 certificate(s)\n# filename\n"
    )));
    assert!(!client("alice"), "not committed yet");
    assert_eq!(
        cli(&sock, &format!("abort ssl ca-file {d}/bind-ca.pem\n")),
        format!("Transaction aborted for certificate '{d}/bind-ca.pem'!\n\n")
    );
    assert_eq!(
        commit("ca-file", "bind-ca.pem"),
        format!("No ongoing transaction! !\nCan't commit {d}/bind-ca.pem!\n\n")
    );
    set("ca-file", "bind-ca.pem", &read("a/ca.pem"));
    assert_eq!(
        commit("ca-file", "bind-ca.pem"),
        format!("Committing {d}/bind-ca.pem.\nSuccess!\n\n")
    );
    assert!(client("alice") && client("bob"), "CA a is trusted now");
    assert!(
        !curl_ok(tls, "site.test", &site_ca, &[]),
        "a certificate is still required"
    );

    // alice revoked: from the commit on.
    assert_eq!(
        set("crl-file", "bind.crl", &read("a/alice.crl")),
        format!("transaction created for CRL {d}/bind.crl!\n\n")
    );
    assert!(client("alice"), "not committed yet");
    commit("crl-file", "bind.crl");
    assert!(!client("alice"), "alice is revoked");
    assert!(client("bob"), "bob is not");

    // The server line: CA a does not sign the site's certificate.
    assert_eq!(through_server(), "503");
    set("ca-file", "srv-ca.pem", &read("b/ca.pem"));
    assert_eq!(
        commit("ca-file", "srv-ca.pem"),
        format!("Committing {d}/srv-ca.pem.\nSuccess!\n\n")
    );
    assert_eq!(through_server(), "200");
    // Revoked by the server line's crl-file (its cached session is not resumed past the change).
    set("crl-file", "srv.crl", &read("b/site.crl"));
    commit("crl-file", "srv.crl");
    assert_eq!(through_server(), "503");
    set("crl-file", "srv.crl", &read("b/empty.crl"));
    commit("crl-file", "srv.crl");
    assert_eq!(through_server(), "200");

    // Files in use are not deleted.
    assert_eq!(
        cli(&sock, &format!("del ssl crl-file {d}/srv.crl\n")),
        format!(
            "Can't remove the CRL file: CRL file '{d}/srv.crl' in use, can't be deleted!\n\n\n"
        )
    );
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The answers of the CA and CRL file commands — transactions, `new`, `del`, `show ssl ca-file|crl-file` with
/// the CRLs printed as OpenSSL prints them — are haproxy 2.6's, byte for byte (reg-tests
/// ssl/new_del_ssl_cafile and ssl/new_del_ssl_crlfile).
#[test]
fn ca_and_crl_file_commands_answer_as_haproxy() {
    let dir = two_cas("cafilecli");
    let d = dir.display();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    std::fs::write(dir.join("bind-ca.pem"), read("a/ca.pem")).unwrap();
    std::fs::write(
        dir.join("bind.crl"),
        read("a/empty.crl") + &read("b/empty.crl"),
    )
    .unwrap();
    let frontend = format!(
        "ssl crt {d}/b/site.pem ca-file {d}/bind-ca.pem crl-file {d}/bind.crl verify required"
    );
    let set =
        |kind: &str, name: &str, payload: &str| format!("set ssl {kind} {name} <<\n{payload}\n");
    let bind_ca = format!("{d}/bind-ca.pem");
    let bind_crl = format!("{d}/bind.crl");
    let commands = vec![
        "show ssl crl-file\n".to_string(),
        format!("show ssl crl-file {bind_crl}\n"),
        format!("show ssl crl-file {bind_crl}:2\n"),
        format!("show ssl crl-file {bind_crl}:x\n"),
        set(
            "crl-file",
            &bind_crl,
            &(read("a/alice.crl") + &read("b/site.crl")),
        ),
        set("crl-file", &bind_crl, &read("a/alice.crl")),
        "show ssl crl-file\n".to_string(),
        format!("show ssl crl-file *{bind_crl}\n"),
        set("crl-file", "other.crl", &read("a/alice.crl")),
        format!("commit ssl crl-file other.crl\n"),
        format!("abort ssl crl-file other.crl\n"),
        format!("del ssl crl-file {bind_crl}\n"),
        format!("commit ssl crl-file {bind_crl}\n"),
        format!("show ssl crl-file {bind_crl}\n"),
        format!("abort ssl crl-file {bind_crl}\n"),
        set("crl-file", "nope.crl", &read("a/alice.crl")),
        set("crl-file", &bind_crl, "garbage\n"),
        "new ssl crl-file new.crl\n".to_string(),
        "new ssl crl-file new.crl\n".to_string(),
        format!("new ssl crl-file {bind_crl}\n"),
        "show ssl crl-file new.crl\n".to_string(),
        set("crl-file", "new.crl", &read("b/site.crl")),
        "commit ssl crl-file new.crl\n".to_string(),
        "show ssl crl-file new.crl\n".to_string(),
        "del ssl crl-file new.crl\n".to_string(),
        "del ssl crl-file new.crl\n".to_string(),
        "show ssl crl-file\n".to_string(),
        // The same for CA files.
        "new ssl ca-file new.pem\n".to_string(),
        "new ssl ca-file new.pem\n".to_string(),
        "show ssl ca-file\n".to_string(),
        "show ssl ca-file new.pem\n".to_string(),
        set(
            "ca-file",
            "new.pem",
            &(read("a/ca.pem") + &read("b/ca.pem")),
        ),
        set("ca-file", &bind_ca, &read("b/ca.pem")),
        "show ssl ca-file\n".to_string(),
        "show ssl ca-file *new.pem:2\n".to_string(),
        "del ssl ca-file new.pem\n".to_string(),
        "commit ssl ca-file new.pem\n".to_string(),
        "show ssl ca-file new.pem:0\n".to_string(),
        "show ssl ca-file new.pem:1\n".to_string(),
        format!(
            "set ssl ca-file {bind_ca} <<\n{}\n",
            read("b/ca.pem") + &read("a/ca.pem")
        ),
        format!("commit ssl ca-file {bind_ca}\n"),
        format!("show ssl ca-file {bind_ca}\n"),
        format!("del ssl ca-file {bind_ca}\n"),
        "del ssl ca-file new.pem\n".to_string(),
        "del ssl ca-file nope.pem\n".to_string(),
        "show ssl ca-file\n".to_string(),
    ];
    let answers = compare_session("", &frontend, &dir, &commands);
    assert_eq!(answers[0], format!("# filename\n{bind_crl}\n\n"));
    assert!(
        answers[1].starts_with(&format!(
            "Filename: {bind_crl}\nStatus: Used\n \nCertificate Revocation List #1:\nVersion 2\nSignature Algorithm: ecdsa-with-SHA256\nIssuer: /CN=Fulcrum Test CA\nLast Update: "
        )) && answers[1].contains("No Revoked Certificates.\n \nCertificate Revocation List #2:\n"),
        "{}",
        answers[1]
    );
    assert!(
        answers[7].contains("Revoked Certificates:\n    Serial Number: "),
        "{}",
        answers[7]
    );
    assert_eq!(answers[12], format!("Committing {bind_crl}.\nSuccess!\n\n"));
    assert_eq!(answers[24], "CRL file 'new.crl' deleted!\n\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server added at run time (`add server ... ssl ca-file F verify required`) reads its CA file through the
/// store, so a committed `set ssl ca-file F` reaches it as it reaches the configured servers; once the server is
/// deleted, the file is no longer in use and `del ssl ca-file` takes it.
#[test]
fn servers_added_at_run_time_follow_committed_ca_files() {
    let dir = two_cas("caadded");
    let d = dir.display();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    std::fs::write(dir.join("dyn-ca.pem"), read("a/ca.pem")).unwrap();
    let sock = dir.join("api.sock");
    let (plain_port, origin_port) = (free_port(), free_port());
    let text = format!(
        "global\n    nbthread 1\n    stats socket {sock} level admin\n\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\n\
frontend plain\n    bind 127.0.0.1:{plain_port}\n    default_backend be\n\n\
backend be\n    balance roundrobin\n\n\
frontend origin\n    bind 127.0.0.1:{origin_port} ssl crt {d}/b/site.pem\n    http-request return status 200\n",
        sock = sock.display()
    );
    let p = start_proxy(&text);
    let status = || {
        let out = Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "5",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .arg(format!("http://127.0.0.1:{plain_port}/"))
            .output()
            .unwrap_or_else(|e| panic!("curl is needed: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        cli(
            &sock,
            &format!("add server be/dyn 127.0.0.1:{origin_port} ssl ca-file {d}/dyn-ca.pem verify required sni str(site.test)\n")
        ),
        "New server registered.\n\n"
    );
    assert_eq!(
        cli(&sock, &format!("add server be/bad 127.0.0.1:{origin_port} ssl sni nosuchfetch\n")),
        "'server be/bad' : error detected while parsing sni expression : unknown fetch method 'nosuchfetch' at position 1\n\n"
    );
    cli(&sock, "enable server be/dyn\n");
    // CA a does not sign the site's certificate; CA b, committed, does.
    assert_eq!(status(), "503");
    cli(
        &sock,
        &format!("set ssl ca-file {d}/dyn-ca.pem <<\n{}\n", read("b/ca.pem")),
    );
    assert_eq!(
        cli(&sock, &format!("commit ssl ca-file {d}/dyn-ca.pem\n")),
        format!("Committing {d}/dyn-ca.pem.\nSuccess!\n\n")
    );
    assert_eq!(status(), "200");
    assert!(cli(&sock, &format!("del ssl ca-file {d}/dyn-ca.pem\n")).contains("in use"));
    cli(&sock, "disable server be/dyn\n");
    assert!(cli(&sock, "del server be/dyn\n").starts_with("Server deleted."));
    assert_eq!(
        cli(&sock, &format!("del ssl ca-file {d}/dyn-ca.pem\n")),
        format!("CA file '{d}/dyn-ca.pem' deleted!\n\n")
    );
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An OCSP response for certificate `crt` (signed by `signer`, the test CA or a responder it delegated to, whose
/// certificate it carries), made the way `openssl ocsp` answers from its index file: `revoked` gives the
/// certificate as revoked for a key compromise.
fn ocsp_response(dir: &Path, crt: &str, subject: &str, revoked: bool, signer: &str, out: &str) {
    let serial = Command::new("openssl")
        .args(["x509", "-in", crt, "-noout", "-serial"])
        .current_dir(dir)
        .output()
        .unwrap();
    let serial = String::from_utf8_lossy(&serial.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_string();
    let state = if revoked {
        "R\t491231235959Z\t230101000000Z,keyCompromise"
    } else {
        "V\t491231235959Z\t"
    };
    std::fs::write(
        dir.join("index.txt"),
        format!("{state}\t{serial}\tunknown\t{subject}\n"),
    )
    .unwrap();
    common::pki::openssl(
        dir,
        &[
            "ocsp", "-issuer", "ca.pem", "-cert", crt, "-reqout", "req.der",
        ],
    );
    common::pki::openssl(
        dir,
        &[
            "ocsp",
            "-index",
            "index.txt",
            "-rsigner",
            &format!("{signer}.pem"),
            "-rkey",
            &format!("{signer}.key"),
            "-CA",
            "ca.pem",
            "-reqin",
            "req.der",
            "-respout",
            out,
            "-ndays",
            "1",
        ],
    );
}

/// `show ssl ocsp-response` lists the certificate IDs of the stapled responses, `show ssl ocsp-response KEY` and
/// `show ssl cert NAME.ocsp` print a response (its single responses, extensions, signature and the certificate
/// it carries), `show ssl cert NAME` its key; a response replaced by `set ssl ocsp-response`, or through a
/// transaction (`set ssl cert NAME.ocsp` + commit), shows as the new one (reg-test ssl/show_ssl_ocspresponse).
/// Every answer is compared with haproxy 2.6's, byte for byte, for an ECDSA and an RSA certificate.
#[test]
fn ocsp_responses_are_shown_as_haproxy_shows_them() {
    use base64::Engine;
    let dir = pki("ocsp");
    leaf(&dir, "site", "a.test", &["a.test"], false, false);
    leaf(&dir, "other", "b.test", &["b.test"], true, false);
    leaf(&dir, "plain", "c.test", &["c.test"], false, false);
    // Each file holds the issuer after the certificate (HAProxy needs it to match the response).
    for f in ["site", "other", "plain"] {
        let pem = [
            std::fs::read(dir.join(format!("{f}.crt"))).unwrap(),
            std::fs::read(dir.join("ca.pem")).unwrap(),
            std::fs::read(dir.join(format!("{f}.key.tmp"))).unwrap(),
        ]
        .concat();
        std::fs::write(dir.join(format!("{f}.pem")), pem).unwrap();
    }
    // A responder the CA delegated to, with extensions whose text spans several lines or none (OCSP No Check:
    // an empty line, which the runtime API turns into a space as HAProxy does).
    common::pki::openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "responder.key",
            "-out",
            "responder.pem",
            "-subj",
            "/C=FR/O=Fulcrum Tests/CN=Responder",
            "-days",
            "2",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-addext",
            "extendedKeyUsage=OCSPSigning",
            "-addext",
            "noCheck=ignored",
            "-addext",
            "authorityInfoAccess=caIssuers;URI:http://ca.test/ca.crt",
            "-addext",
            "crlDistributionPoints=URI:http://crl.test/a.crl",
        ],
    );
    let (a, b) = (
        "/C=FR/O=Fulcrum Tests/CN=a.test",
        "/C=FR/O=Fulcrum Tests/CN=b.test",
    );
    ocsp_response(&dir, "site.crt", a, false, "ca", "site.pem.ocsp");
    ocsp_response(&dir, "other.crt", b, false, "responder", "other.pem.ocsp");
    ocsp_response(&dir, "site.crt", a, true, "ca", "revoked.der");
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let key = |f: &str| {
        let ids = fulcrum_tls::ocsp_text::cert_ids(&read(f)).unwrap();
        ids[0].key_hex()
    };
    let (site_key, other_key) = (key("site.pem.ocsp"), key("other.pem.ocsp"));
    assert_eq!(site_key, key("revoked.der"));
    let b64 = |f: &str| base64::engine::general_purpose::STANDARD.encode(read(f));
    // Base64 over several lines, as `openssl base64` writes it.
    let wrapped = |f: &str| {
        b64(f)
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned() + "\n")
            .collect::<String>()
    };
    let d = dir.display();
    let frontend = format!("ssl crt {d}/site.pem crt {d}/other.pem crt {d}/plain.pem");
    let commands = vec![
        "show ssl ocsp-response\n".to_string(),
        format!("show ssl ocsp-response {site_key}\n"),
        format!("show ssl ocsp-response {other_key}\n"),
        "show ssl ocsp-response 303b30\n".to_string(),
        format!("show ssl cert {d}/site.pem\n"),
        format!("show ssl cert {d}/site.pem.ocsp\n"),
        format!("show ssl cert {d}/plain.pem\n"),
        format!("show ssl cert {d}/plain.pem.ocsp\n"),
        format!("set ssl ocsp-response <<\n{}\n", wrapped("revoked.der")),
        format!("show ssl ocsp-response {site_key}\n"),
        format!("show ssl cert {d}/site.pem.ocsp\n"),
        format!(
            "set ssl cert {d}/site.pem.ocsp <<\n{}\n",
            wrapped("site.pem.ocsp")
        ),
        format!("show ssl cert *{d}/site.pem.ocsp\n"),
        format!("show ssl cert *{d}/site.pem\n"),
        format!("show ssl ocsp-response {site_key}\n"),
        format!("commit ssl cert {d}/site.pem\n"),
        format!("show ssl ocsp-response {site_key}\n"),
        "show ssl ocsp-response\n".to_string(),
    ];
    let a = compare_session("", &frontend, &dir, &commands);
    assert!(
        a[0].starts_with("# Certificate IDs\nCertificate ID key : "),
        "{}",
        a[0]
    );
    assert!(
        a[0].contains(&format!("Certificate ID key : {other_key}\n")),
        "{}",
        a[0]
    );
    assert!(
        a[0].contains(&format!("Certificate ID key : {site_key}\n")),
        "{}",
        a[0]
    );
    for (i, responder, key) in [
        (1, "CN = Fulcrum Test CA", "ASN1 OID: prime256v1\n"),
        (
            2,
            "C = FR, O = Fulcrum Tests, CN = Responder",
            "Exponent: 65537 (0x10001)\n",
        ),
    ] {
        assert!(a[i].starts_with(&format!("OCSP Response Data:\n    OCSP Response Status: successful (0x0)\n    Response Type: Basic OCSP Response\n    Version: 1 (0x0)\n    Responder Id: {responder}\n")), "{}", a[i]);
        assert!(a[i].contains("    Cert Status: good\n"), "{}", a[i]);
        assert!(
            a[i].contains(key) && a[i].contains("-----END CERTIFICATE-----\n"),
            "{}",
            a[i]
        );
        assert!(!a[i][..a[i].len() - 1].contains("\n\n"), "{}", a[i]);
    }
    assert!(
        a[2].contains("            OCSP No Check: \n \n"),
        "{}",
        a[2]
    );
    assert_eq!(a[3], "Certificate ID does not match any certificate.\n\n");
    assert!(
        a[4].ends_with(&format!("OCSP Response Key: {site_key}\n\n")),
        "{}",
        a[4]
    );
    assert_eq!(a[5], a[1]);
    assert!(a[6].ends_with("OCSP Response Key: \n\n"), "{}", a[6]);
    assert_eq!(a[7], "\n");
    assert_eq!(a[8], "OCSP Response updated!\n\n");
    assert!(
        a[9].contains("    Cert Status: revoked\n    Revocation Time: Jan  1 00:00:00 2023 GMT\n    Revocation Reason: keyCompromise (0x1)\n"),
        "{}",
        a[9]
    );
    assert_eq!(a[10], a[9]);
    assert_eq!(
        a[11],
        format!("Transaction created for certificate {d}/site.pem!\n\n")
    );
    assert_eq!(a[12], a[1]);
    assert!(
        a[13].starts_with(&format!("Filename: *{d}/site.pem\n")),
        "{}",
        a[13]
    );
    assert_eq!(a[14], a[9]);
    assert_eq!(a[15], format!("Committing {d}/site.pem.\nSuccess!\n\n"));
    assert_eq!(a[16], a[1]);
    assert_eq!(a[17], a[0]);
    let _ = std::fs::remove_dir_all(&dir);
}
