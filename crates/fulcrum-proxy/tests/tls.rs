//! TLS termination (`bind ... ssl crt ...`), tried with the clients users have: curl and `openssl s_client`
//! against a proxy whose configuration the real `haproxy -c` also accepts. Certificates are made by the tests
//! with `openssl`: a test CA, server certificates for several names (ECDSA and RSA), a client certificate from
//! the CA and a rogue one from nobody.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::pki::{ca, ca_named, leaf, openssl, Pki};
use common::*;

/// The test PKI, made once per test process.
fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fulcrum-tls-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("certs")).unwrap();
        ca(&dir);
        leaf(&dir, "a", "a.test", &["a.test"], false, false);
        leaf(&dir, "b", "b.test", &["b.test", "*.wild.test"], true, false);
        leaf(&dir, "c-ec", "c.test", &["c.test"], false, false);
        leaf(&dir, "c-rsa", "c.test", &["c.test"], true, false);
        leaf(&dir, "client", "client one", &[], false, false);
        leaf(&dir, "rogue", "client one", &[], false, true);
        // A directory as `crt DIR` loads it: a.pem first (name order), so a.test is the default certificate.
        for f in ["a.pem", "b.pem"] {
            std::fs::copy(dir.join(f), dir.join("certs").join(f)).unwrap();
        }
        // A key kept beside its certificate (`FILE.key`).
        std::fs::copy(dir.join("b.crt"), dir.join("split.pem")).unwrap();
        std::fs::copy(dir.join("b.key.tmp"), dir.join("split.pem.key")).unwrap();
        Pki { dir }
    })
}

/// Starts a proxy from `frontend` (lines after `frontend f`) with a backend `b` of one origin.
fn proxy(global: &str, frontend: &str) -> (Proxy, Vec<fulcrum_proxy::origin::Origin>) {
    let o = origins(1);
    // HAProxy's `-c` refuses port 0: every `127.0.0.1:0` gets a free port.
    let frontend = frontend.replace("127.0.0.1:0", &format!("127.0.0.1:{}", free_port()));
    let cfg = format!(
        "global\n    nbthread 1\n{global}\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout tunnel 5s\n\nfrontend f\n{frontend}\n    default_backend b\n\nbackend b\n{}",
        server_lines(&o, "")
    );
    (start_proxy(&cfg), o)
}

struct Curl {
    ok: bool,
    body: String,
    /// curl's `-v` output (handshake, certificate subject, response headers).
    verbose: String,
}

/// curl to `https://NAME:PORT/PATH` resolved to the proxy, verifying against the test CA.
fn curl(p: &Proxy, name: &str, path: &str, extra: &[&str]) -> Curl {
    let port = p.addr.port();
    let url = format!("https://{name}:{port}{path}");
    let resolve = format!("{name}:{port}:127.0.0.1");
    let out = Command::new("curl")
        .args(["-sS", "-v", "--max-time", "5", "--cacert"])
        .arg(pki().path("ca.pem"))
        .args(["--resolve", &resolve])
        .args(extra)
        .arg(&url)
        .output()
        .unwrap_or_else(|e| panic!("curl is needed: {e}"));
    Curl {
        ok: out.status.success(),
        body: String::from_utf8_lossy(&out.stdout).into_owned(),
        verbose: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The subject CN of the certificate curl was shown.
fn subject(c: &Curl) -> String {
    c.verbose
        .lines()
        .find_map(|l| l.split_once("subject: ").map(|(_, s)| s.to_string()))
        .unwrap_or_default()
}

/// `openssl s_client` to the proxy with `args`; its whole output (stdout and stderr).
fn s_client(p: &Proxy, args: &[&str]) -> String {
    let mut child = Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(p.addr.to_string())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("openssl is needed: {e}"));
    // Closing stdin ends the session once the handshake is done.
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn sni_picks_the_certificate_by_name_and_the_first_loaded_by_default() {
    let k = pki();
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:0 ssl crt {} crt {}",
            k.path("certs"),
            k.path("c-ec.pem")
        ),
    );
    for (name, want) in [
        ("a.test", "a.test"),
        ("b.test", "b.test"),
        ("x.wild.test", "b.test"),
        ("c.test", "c.test"),
    ] {
        let c = curl(&p, name, "/", &[]);
        assert!(c.ok, "{name}: {}", c.verbose);
        assert!(
            subject(&c).contains(&format!("CN={want}")),
            "{name}: {}",
            subject(&c)
        );
        assert_eq!(c.body, "Hello from s1\n", "{name}");
    }
    // A wildcard covers one label only; an unknown name gets the first certificate loaded (a.pem of the
    // directory), which the client then refuses to trust for that name.
    for name in ["y.x.wild.test", "unknown.test"] {
        let c = curl(&p, name, "/", &["-k"]);
        assert!(c.ok, "{name}: {}", c.verbose);
        assert!(subject(&c).contains("CN=a.test"), "{name}: {}", subject(&c));
        assert!(!curl(&p, name, "/", &[]).ok, "{name} must not verify");
    }
    // No server name at all (a client connecting by address): the default certificate too.
    let out = s_client(&p, &["-noservername"]);
    assert!(out.contains("CN = a.test"), "{out}");
}

#[test]
fn strict_sni_refuses_names_without_a_certificate() {
    let k = pki();
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:0 ssl crt {} strict-sni",
            k.path("split.pem")
        ),
    );
    let c = curl(&p, "b.test", "/", &[]);
    assert!(c.ok, "{}", c.verbose);
    assert!(subject(&c).contains("CN=b.test"));
    let c = curl(&p, "unknown.test", "/", &["-k"]);
    assert!(!c.ok, "strict-sni served an unknown name: {}", c.verbose);
    let out = s_client(&p, &["-noservername"]);
    assert!(out.contains("alert"), "{out}");
}

#[test]
fn ecdsa_and_rsa_certificates_for_one_name_follow_what_the_client_offers() {
    let k = pki();
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:0 ssl crt {} crt {}",
            k.path("c-ec.pem"),
            k.path("c-rsa.pem")
        ),
    );
    let ec = s_client(&p, &["-servername", "c.test", "-sigalgs", "ECDSA+SHA256"]);
    assert!(ec.contains("Server public key is 256 bit"), "{ec}");
    let rsa = s_client(
        &p,
        &["-servername", "c.test", "-sigalgs", "rsa_pss_rsae_sha256"],
    );
    assert!(rsa.contains("Server public key is 2048 bit"), "{rsa}");
}

#[test]
fn alpn_h2_is_agreed_when_offered() {
    let k = pki();
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:0 ssl crt {} alpn h2,http/1.1",
            k.path("a.pem")
        ),
    );
    let c = curl(&p, "a.test", "/", &["--http2", "-w", "%{http_version}"]);
    assert!(c.ok, "{}", c.verbose);
    assert_eq!(c.body, "Hello from s1\n2");
    let out = s_client(&p, &["-servername", "a.test", "-alpn", "h2,http/1.1"]);
    assert!(out.contains("ALPN protocol: h2"), "{out}");
}

#[test]
fn protocol_versions_and_cipher_lists() {
    let k = pki();
    // The global default (TLS 1.3 only) applies to a bind line that says nothing.
    let (p, _o) = proxy(
        "    ssl-default-bind-options ssl-min-ver TLSv1.3",
        &format!("    bind 127.0.0.1:0 ssl crt {}", k.path("a.pem")),
    );
    assert!(curl(&p, "a.test", "/", &["--tlsv1.3"]).ok);
    assert!(!curl(&p, "a.test", "/", &["--tls-max", "1.2"]).ok);
    drop(p);
    // force-tlsv12 with an OpenSSL cipher list (the DHE name has no counterpart and is reported, not kept).
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:0 ssl crt {} force-tlsv12 ciphers DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
            k.path("b.pem")
        ),
    );
    let out = s_client(&p, &["-servername", "b.test"]);
    assert!(
        out.contains("Protocol  : TLSv1.2") || out.contains("TLSv1.2"),
        "{out}"
    );
    assert!(out.contains("ECDHE-RSA-AES128-GCM-SHA256"), "{out}");
    assert!(!curl(&p, "b.test", "/", &["--tlsv1.3"]).ok);
    drop(p);
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:0 ssl crt {} ciphersuites TLS_CHACHA20_POLY1305_SHA256",
            k.path("a.pem")
        ),
    );
    let out = s_client(&p, &["-servername", "a.test"]);
    assert!(out.contains("TLS_CHACHA20_POLY1305_SHA256"), "{out}");
}

#[test]
fn client_certificates_required_optional_and_rogue() {
    let k = pki();
    let front = format!(
        "    bind 127.0.0.1:0 ssl crt {} ca-file {} verify required\n    http-request return status 200 content-type text/plain lf-string \"used=%[ssl_c_used] verify=%[ssl_c_verify] dn=%[ssl_c_s_dn] issuer=%[ssl_c_i_dn]\"",
        k.path("a.pem"),
        k.path("ca.pem")
    );
    let (p, _o) = proxy("", &front);
    let c = curl(&p, "a.test", "/", &[]);
    assert!(!c.ok, "no client certificate was let in: {}", c.body);
    let good = ["--cert", &k.path("client.pem")];
    let c = curl(&p, "a.test", "/", &good);
    assert!(c.ok, "{}", c.verbose);
    assert_eq!(
        c.body,
        "used=1 verify=0 dn=/C=FR/O=Fulcrum Tests/CN=client one issuer=/CN=Fulcrum Test CA"
    );
    let c = curl(&p, "a.test", "/", &["--cert", &k.path("rogue.pem")]);
    assert!(
        !c.ok,
        "a certificate from no known CA was let in: {}",
        c.body
    );
    drop(p);
    let (p, _o) = proxy("", &front.replace("verify required", "verify optional"));
    let c = curl(&p, "a.test", "/", &[]);
    assert!(c.ok, "{}", c.verbose);
    assert!(c.body.starts_with("used=0 verify=0 dn= "), "{}", c.body);
    let c = curl(&p, "a.test", "/", &good);
    assert!(c.body.starts_with("used=1 "), "{}", c.body);
    drop(p);
    // The certificate's SHA-1 and X.509 version, as openssl reads the file.
    let (p, _o) = proxy(
        "",
        &front.replace(
            "used=%[ssl_c_used] verify=%[ssl_c_verify] dn=%[ssl_c_s_dn] issuer=%[ssl_c_i_dn]",
            "%[ssl_c_sha1,hex] %[ssl_c_version]",
        ),
    );
    let c = curl(&p, "a.test", "/", &good);
    let fp = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha1", "-in"])
        .arg(k.path("client.pem"))
        .output()
        .unwrap();
    let fp = String::from_utf8_lossy(&fp.stdout)
        .trim()
        .split_once('=')
        .map_or(String::new(), |(_, f)| f.replace(':', ""));
    assert_eq!(c.body, format!("{fp} 3"));
}

#[test]
fn https_idioms_redirect_forwarded_proto_and_hsts() {
    let k = pki();
    let clear_port = free_port();
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:0 ssl crt {}\n    bind 127.0.0.1:{clear_port}\n    http-request redirect scheme https unless {{ ssl_fc }}\n    http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}\n    http-request set-header X-SNI %[ssl_fc_sni]\n    http-request set-header X-TLS \"%[ssl_fc_protocol] %[ssl_fc_cipher]\"\n    http-response set-header Strict-Transport-Security \"max-age=31536000\" if {{ ssl_fc }}",
            k.path("a.pem")
        ),
    );
    let r = get(format!("127.0.0.1:{clear_port}").parse().unwrap(), "/x?y=1");
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("location").unwrap_or_default();
    assert!(
        location.starts_with("https://") && location.ends_with("/x?y=1"),
        "{location}"
    );
    assert_eq!(r.header("strict-transport-security"), None);
    let c = curl(&p, "a.test", "/headers", &[]);
    assert!(c.ok, "{}", c.verbose);
    let seen = c.body.to_ascii_lowercase();
    assert!(seen.contains("x-forwarded-proto: https"), "{seen}");
    assert!(seen.contains("x-sni: a.test"), "{seen}");
    assert!(seen.contains("x-tls: tlsv1.3 tls_"), "{seen}");
    assert!(
        c.verbose
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "{}",
        c.verbose
    );
}

#[test]
fn bodies_keep_alive_and_websocket_over_tls() {
    let k = pki();
    let (p, _o) = proxy(
        "",
        &format!("    bind 127.0.0.1:0 ssl crt {}", k.path("a.pem")),
    );
    // Two requests on one connection, a 1 MiB response then a 1 MiB upload.
    let body = k.dir.join("upload.bin");
    std::fs::write(&body, vec![b'x'; 1 << 20]).unwrap();
    let port = p.addr.port();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(k.path("ca.pem"))
        .args(["--resolve", &format!("a.test:{port}:127.0.0.1")])
        .arg(format!("https://a.test:{port}/bytes/1048576"))
        .args([
            "-o",
            "/dev/null",
            "-w",
            "%{size_download} %{num_connects}\\n",
        ])
        .arg("--next")
        .args(["--cacert"])
        .arg(k.path("ca.pem"))
        .args(["--resolve", &format!("a.test:{port}:127.0.0.1")])
        .arg(format!("https://a.test:{port}/count"))
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .args(["-w", " %{num_connects}\\n"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The download's size and connections made, then the upload's count (the origin's body) and connections.
    assert_eq!(
        text, "1048576 1\n1048576\n 0\n",
        "the upload did not reuse the connection or lost bytes"
    );
    // A WebSocket upgrade becomes a tunnel through the TLS session: what is sent comes back.
    let out = s_client_session(
        &p,
        b"GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nping-through-tls",
    );
    assert!(out.contains("101"), "{out}");
    assert!(out.contains("ping-through-tls"), "{out}");
}

/// Sends `data` through an `openssl s_client` session and returns what came back within a second.
fn s_client_session(p: &Proxy, data: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-servername", "a.test", "-connect"])
        .arg(p.addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(data).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_idle_connection_closed_after_parking_ends_its_session_with_close_notify() {
    let k = pki();
    // `timeout http-keep-alive` well past the delay after which an idle connection is parked (200 ms).
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:0 ssl crt {}\n    timeout http-keep-alive 900ms",
            k.path("a.pem")
        ),
    );
    let mut child = Command::new("openssl")
        .args(["s_client", "-ign_eof", "-servername", "a.test", "-connect"])
        .arg(p.addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("openssl is needed: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"GET /hello HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .unwrap();
    // stdin closed: with -ign_eof, s_client keeps reading until the proxy ends the session.
    drop(stdin);
    let started = std::time::Instant::now();
    let deadline = started + Duration::from_secs(5);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let waited = started.elapsed();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("HTTP/1.1 200"), "{text}");
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(4),
        "closed after {waited:?}: {text}"
    );
    // OpenSSL reports a session that ended without close_notify as an unexpected end of file.
    assert!(!text.contains("unexpected eof"), "no close_notify: {text}");
    assert!(text.contains("DONE") || text.contains("closed"), "{text}");
}

#[test]
fn a_client_that_never_finishes_its_handshake_is_closed_at_the_head_timeout() {
    let k = pki();
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:0 ssl crt {}\n    timeout http-request 500ms",
            k.path("a.pem")
        ),
    );
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the proxy sent {n} bytes to a silent client");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_millis(2500),
        "{waited:?}"
    );
    // Garbage instead of a ClientHello ends at once.
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(!String::from_utf8_lossy(&out).contains("HTTP/1.1 200"));
    let fe = &p.running.as_ref().unwrap().snapshot().frontends[0];
    assert!(
        wait_until(Duration::from_secs(2), || fe.stats.ssl.values()[2] >= 2),
        "failed handshakes not counted"
    );
}

/// A configuration HAProxy refuses, and fulcrum too, naming the bind line.
fn refused(bind_opts: &str, want: &str) {
    let cfg = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend f\n    bind 127.0.0.1:{} {bind_opts}\n    http-request return status 200\n",
        free_port()
    );
    let path = pki().dir.join(format!("refused-{}.cfg", free_port()));
    std::fs::write(&path, &cfg).unwrap();
    if haproxy_present() {
        let out = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "haproxy accepts '{bind_opts}'");
    }
    let err = match fulcrum_config::haproxy::parse_str("t.cfg", &cfg) {
        Err(e) => e.to_string(),
        Ok(c) => match fulcrum_proxy::check(&c) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("fulcrum accepts '{bind_opts}'"),
        },
    };
    assert!(err.contains("t.cfg:7"), "{bind_opts}: {err}");
    assert!(err.contains(want), "{bind_opts}: {err}");
}

#[test]
fn broken_tls_settings_are_refused_with_the_bind_line() {
    let k = pki();
    refused("ssl", "no SSL certificate");
    refused(&format!("ssl crt {}", k.path("nothing.pem")), "nothing.pem");
    refused(
        &format!("ssl crt {}", k.path("b.crt")),
        "No Private Key found",
    );
    refused(&format!("ssl crt {} ciphers FOO", k.path("a.pem")), "FOO");
    refused(
        &format!("ssl crt {} ciphersuites FOO", k.path("a.pem")),
        "FOO",
    );
    refused(&format!("ssl crt {} curves FOO", k.path("a.pem")), "FOO");
    refused(
        &format!("ssl crt {} verify required", k.path("a.pem")),
        "no CA file",
    );
    refused(
        &format!("ssl crt {} ssl-min-ver TLSv9", k.path("a.pem")),
        "TLSv9",
    );
}

/// A TLS front answering `name` itself, with certificate `crt`.
fn tls_answering(crt: &str, name: &str) -> Proxy {
    let port = free_port();
    start_proxy(&format!(
        "global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend {name}\n    bind 127.0.0.1:{port} ssl crt {crt}\n    http-request return status 200 content-type text/plain string \"{name}\"\n"
    ))
}

#[test]
fn sni_passthrough_in_tcp_mode_routes_by_the_client_hello() {
    let k = pki();
    let a = tls_answering(&k.path("a.pem"), "front-a");
    let b = tls_answering(&k.path("b.pem"), "front-b");
    let port = free_port();
    let p = start_proxy(&format!(
        "global\n    nbthread 1\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend sni\n    bind 127.0.0.1:{port}\n    tcp-request inspect-delay 5s\n    tcp-request content accept if {{ req_ssl_hello_type 1 }}\n\
         \x20   use_backend be_a if {{ req_ssl_sni -i a.test }}\n    use_backend be_b if {{ req.ssl_sni -m end .wild.test }}\n    default_backend be_b\n\
         backend be_a\n    server a {}\nbackend be_b\n    server b {}\n",
        a.addr, b.addr
    ));
    for (name, body, cn) in [
        ("A.TEST", "front-a", "CN=a.test"),
        ("x.wild.test", "front-b", "CN=b.test"),
        ("b.test", "front-b", "CN=b.test"),
    ] {
        let c = curl(&p, name, "/", &[]);
        assert!(c.ok, "{name}: {}", c.verbose);
        assert_eq!(c.body, body, "{name}");
        assert!(subject(&c).contains(cn), "{name}: {}", subject(&c));
    }
}

#[test]
fn tcp_mode_terminates_tls_and_relays_clear_text() {
    let k = pki();
    let o = origins(1);
    let port = free_port();
    let p = start_proxy(&format!(
        "global\n    nbthread 1\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend f\n    bind 127.0.0.1:{port} ssl crt {} alpn h2,http/1.1\n    tcp-request inspect-delay 2s\n\
         \x20   tcp-request content reject if {{ req.payload(0,4) -m bin 50524f58 }}\n    tcp-request content accept if {{ req.len gt 0 }}\n\
         \x20   default_backend b\nbackend b\n{}",
        k.path("a.pem"),
        server_lines(&o, "")
    ));
    // The content rules see the clear text: an HTTP request passes, a PROXY line is refused.
    let c = curl(&p, "a.test", "/", &["--http1.1"]);
    assert!(c.ok, "{}", c.verbose);
    assert_eq!(c.body, "Hello from s1\n");
    // In tcp mode ALPN is passed as configured (the server speaks whatever it was offered).
    let out = s_client(&p, &["-servername", "a.test", "-alpn", "h2"]);
    assert!(out.contains("ALPN protocol: h2"), "{out}");
    let out = s_client_session(&p, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
    assert!(out.is_empty(), "{out}");
    // 1 MiB through the relay.
    let c = curl(
        &p,
        "a.test",
        "/bytes/1048576",
        &["--http1.1", "-o", "/dev/null", "-w", "%{size_download}"],
    );
    assert!(c.ok, "{}", c.verbose);
    assert_eq!(c.body, "1048576");
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

#[test]
fn a_certificate_replaced_through_the_runtime_api_serves_new_handshakes_without_a_restart() {
    let k = pki();
    let sock = k.dir.join(format!("admin-{}.sock", free_port()));
    let crt = k.path("a.pem");
    let (p, _o) = proxy(
        &format!("    stats socket {} level admin", sock.display()),
        &format!("    bind 127.0.0.1:0 ssl crt {crt}"),
    );
    assert_eq!(
        cli(&sock, "show ssl cert\n"),
        format!("# filename\n{crt}\n\n")
    );
    let shown = cli(&sock, &format!("show ssl cert {crt}\n"));
    assert!(
        shown.starts_with(&format!("Filename: {crt}\nStatus: Used\nSerial: ")),
        "{shown}"
    );
    assert!(shown.contains("Algorithm: EC256\n"), "{shown}");
    assert!(
        shown.contains("Subject: /C=FR/O=Fulcrum Tests/CN=a.test\nIssuer: /CN=Fulcrum Test CA\n"),
        "{shown}"
    );
    // The real HAProxy prints the same for the same file.
    if haproxy_present() {
        let hsock = k.dir.join(format!("admin-h-{}.sock", free_port()));
        let port = free_port();
        let h = start_haproxy(
            &format!(
                "global\n    stats socket {} level admin\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend f\n    bind 127.0.0.1:{port} ssl crt {crt}\n    http-request return status 200\n",
                hsock.display()
            ),
            format!("127.0.0.1:{port}").parse().unwrap(),
        );
        assert_eq!(cli(&hsock, &format!("show ssl cert {crt}\n")), shown);
        drop(h);
    }
    // Clients keep connecting while the certificate is replaced: none fails.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let addr = p.addr;
    let seen = {
        let stop = stop.clone();
        let ca = k.path("ca.pem");
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..300 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let out = Command::new("curl")
                    .args(["-sS", "-v", "--max-time", "5", "--cacert", &ca])
                    .args(["--resolve", &format!("a.test:{}:127.0.0.1", addr.port())])
                    .arg(format!("https://a.test:{}/", addr.port()))
                    .output()
                    .unwrap();
                let v = String::from_utf8_lossy(&out.stderr).into_owned();
                let cn = v
                    .lines()
                    .find_map(|l| l.split_once("subject: ").map(|(_, s)| s.to_string()))
                    .unwrap_or_default();
                seen.push((out.status.success(), cn));
            }
            seen
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    // The replacement serves a.test too (b.pem's names do not), so clients keep verifying it: a CA-signed
    // certificate for a.test with another key.
    leaf(&k.dir, "a2", "a.test", &["a.test"], true, false);
    let pem = std::fs::read_to_string(k.dir.join("a2.pem")).unwrap();
    assert_eq!(
        cli(&sock, &format!("set ssl cert {crt} <<\n{pem}\n")),
        format!("Transaction created for certificate {crt}!\n\n")
    );
    assert_eq!(
        cli(&sock, "show ssl cert\n"),
        format!("# transaction\n*{crt}\n# filename\n{crt}\n\n")
    );
    assert!(cli(&sock, &format!("show ssl cert *{crt}\n")).contains("Algorithm: RSA2048\n"));
    assert_eq!(
        cli(&sock, &format!("commit ssl cert {crt}\n")),
        format!("Committing {crt}.\nSuccess!\n\n")
    );
    assert!(cli(&sock, &format!("show ssl cert {crt}\n")).contains("Algorithm: RSA2048\n"));
    let out = s_client(&p, &["-servername", "a.test"]);
    assert!(out.contains("Server public key is 2048 bit"), "{out}");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = seen.join().unwrap();
    assert!(seen.len() >= 4, "{seen:?}");
    assert!(
        seen.iter().all(|(ok, _)| *ok),
        "a client failed during the replacement: {seen:?}"
    );
    // Refusals, in HAProxy's words.
    assert_eq!(
        cli(&sock, &format!("abort ssl cert {crt}\n")),
        "No ongoing transaction!\n\n"
    );
    let crt_only = std::fs::read_to_string(k.dir.join("b.crt")).unwrap();
    cli(&sock, &format!("set ssl cert {crt} <<\n{crt_only}\n"));
    assert_eq!(
        cli(&sock, &format!("commit ssl cert {crt}\n")),
        format!("The transaction must contain at least a certificate and a private key!\nCan't commit {crt}!\n\n")
    );
    // A refused commit leaves the transaction open, as HAProxy does.
    assert_eq!(
        cli(&sock, &format!("abort ssl cert {crt}\n")),
        format!("Transaction aborted for certificate '{crt}'!\n\n")
    );
    assert!(cli(
        &sock,
        &format!("set ssl cert {}/zz.pem <<\n{pem}\n", k.dir.display())
    )
    .contains("not referenced by the configuration"));
}

#[test]
fn an_ocsp_response_beside_the_certificate_is_stapled() {
    let k = pki();
    let dir = k.dir.join(format!("ocsp-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["ca.pem", "ca.key"] {
        std::fs::copy(k.dir.join(f), dir.join(f)).unwrap();
    }
    leaf(&dir, "site", "a.test", &["a.test"], false, false);
    // The issuer goes in the chain (HAProxy needs it to match the response to the certificate).
    let pem = [
        std::fs::read(dir.join("site.crt")).unwrap(),
        std::fs::read(dir.join("ca.pem")).unwrap(),
        std::fs::read(dir.join("site.key.tmp")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("site.pem"), pem).unwrap();
    // A response signed by the CA, made the way `openssl ocsp` answers from its index file.
    let serial = Command::new("openssl")
        .args(["x509", "-in", "site.crt", "-noout", "-serial"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let serial = String::from_utf8_lossy(&serial.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_string();
    std::fs::write(
        dir.join("index.txt"),
        format!("V\t491231235959Z\t\t{serial}\tunknown\t/C=FR/O=Fulcrum Tests/CN=a.test\n"),
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "ocsp", "-issuer", "ca.pem", "-cert", "site.crt", "-reqout", "req.der",
        ],
    );
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
            "site.pem.ocsp",
            "-ndays",
            "1",
        ],
    );
    let sock = dir.join("admin.sock");
    let (p, _o) = proxy(
        &format!("    stats socket {} level admin", sock.display()),
        &format!(
            "    bind 127.0.0.1:0 ssl crt {}",
            dir.join("site.pem").display()
        ),
    );
    let out = s_client(&p, &["-servername", "a.test", "-status"]);
    assert!(out.contains("OCSP Response Status: successful"), "{out}");
    assert!(out.contains("Cert Status: good"), "{out}");
    // `set ssl ocsp-response`: a newer response (the certificate revoked meanwhile) replaces the stapled one,
    // given on the line or as a payload.
    std::fs::write(
        dir.join("index.txt"),
        format!(
            "R\t491231235959Z\t250101000000Z\t{serial}\tunknown\t/C=FR/O=Fulcrum Tests/CN=a.test\n"
        ),
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
            "revoked.der",
            "-ndays",
            "1",
        ],
    );
    use base64::Engine;
    let b64 = |f: &str| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(dir.join(f)).unwrap())
    };
    assert_eq!(
        cli(
            &sock,
            &format!("set ssl ocsp-response {}\n", b64("revoked.der"))
        ),
        "OCSP Response updated!\n\n"
    );
    let out = s_client(&p, &["-servername", "a.test", "-status"]);
    assert!(out.contains("Cert Status: revoked"), "{out}");
    let wrapped: String = b64("site.pem.ocsp")
        .as_bytes()
        .chunks(64)
        .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
        .collect();
    assert_eq!(
        cli(&sock, &format!("set ssl ocsp-response <<\n{wrapped}\n")),
        "OCSP Response updated!\n\n"
    );
    let out = s_client(&p, &["-servername", "a.test", "-status"]);
    assert!(out.contains("Cert Status: good"), "{out}");
    // Refusals, in haproxy 2.6.12's words.
    for (cmd, answer) in [
        (
            "set ssl ocsp-response AAAA\n",
            "Unable to parse OCSP response.\n\n",
        ),
        (
            "set ssl ocsp-response\n",
            "'set ssl ocsp-response' expects response in base64 encoding.\n\n",
        ),
        (
            "set ssl ocsp-response @@@\n",
            "'set ssl ocsp-response' received invalid base64 encoded response.\n\n",
        ),
    ] {
        assert_eq!(cli(&sock, cmd), answer, "{cmd}");
    }
    // Without a response file nothing is stapled.
    let sock = dir.join("admin2.sock");
    let (p, _o) = proxy(
        &format!("    stats socket {} level admin", sock.display()),
        &format!("    bind 127.0.0.1:0 ssl crt {}", k.path("a.pem")),
    );
    let out = s_client(&p, &["-servername", "a.test", "-status"]);
    assert!(out.contains("OCSP response: no response sent"), "{out}");
    // A response about another certificate is refused.
    assert_eq!(
        cli(
            &sock,
            &format!("set ssl ocsp-response {}\n", b64("revoked.der"))
        ),
        "OCSP single response: Certificate ID does not match any certificate or issuer.\n\n"
    );
    // A response file about another certificate is checked at load, as HAProxy checks it: the proxy warns,
    // naming the line and the file, and staples nothing (crates/fulcrum-tls/tests/ocsp_load.rs has every case).
    leaf(&dir, "other", "a.test", &["a.test"], false, false);
    let pem = [
        std::fs::read(dir.join("other.crt")).unwrap(),
        std::fs::read(dir.join("ca.pem")).unwrap(),
        std::fs::read(dir.join("other.key.tmp")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("other.pem"), pem).unwrap();
    std::fs::copy(dir.join("site.pem.ocsp"), dir.join("other.pem.ocsp")).unwrap();
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:0 ssl crt {}",
            dir.join("other.pem").display()
        ),
    );
    let out = s_client(&p, &["-servername", "a.test", "-status"]);
    assert!(out.contains("OCSP response: no response sent"), "{out}");
    let cfg = format!(
        "{DEFAULTS}\nfrontend f\n    bind 127.0.0.1:{} ssl crt {}\n    http-request return status 200\n",
        free_port(),
        dir.join("other.pem").display()
    );
    let config = fulcrum_config::haproxy::parse_str("t.cfg", &cfg).unwrap();
    let warnings = fulcrum_proxy::check(&config).expect("a warning, no error");
    assert_eq!(
        warnings,
        [format!(
            "t.cfg:11: 'bind' in proxy 'f': Loading '{}': OCSP single response: Certificate ID does not match certificate and issuer. Content will be ignored.",
            dir.join("other.pem.ocsp").display()
        )]
    );
}

#[test]
fn crt_list_lines_bring_their_own_names_and_options() {
    let k = pki();
    let list = k.dir.join(format!("list-{}.txt", free_port()));
    std::fs::write(
        &list,
        format!(
            "# certificates of the site\n{} [alpn http/1.1 ssl-min-ver TLSv1.3]\n{} [ssl-max-ver TLSv1.2] b.test *.wild.test !deny.wild.test\n{} alias.test\n",
            k.path("a.pem"),
            k.path("b.pem"),
            k.path("c-ec.pem")
        ),
    )
    .unwrap();
    let (p, _o) = proxy(
        "",
        &format!("    bind 127.0.0.1:0 ssl crt-list {}", list.display()),
    );
    // a.pem's line: TLS 1.3 only.
    assert!(curl(&p, "a.test", "/", &[]).ok);
    assert!(!curl(&p, "a.test", "/", &["--tls-max", "1.2"]).ok);
    // b.pem's line: its filters, TLS 1.2 at most.
    let out = s_client(&p, &["-servername", "x.wild.test"]);
    assert!(
        out.contains("CN = b.test") || out.contains("CN=b.test"),
        "{out}"
    );
    assert!(out.contains("TLSv1.2"), "{out}");
    // A denied name and a name the filters replaced get the default (the first certificate).
    for name in ["deny.wild.test", "c.test"] {
        let c = curl(&p, name, "/", &["-k"]);
        assert!(c.ok, "{name}: {}", c.verbose);
        assert!(subject(&c).contains("CN=a.test"), "{name}: {}", subject(&c));
    }
    let c = curl(&p, "alias.test", "/", &["-k"]);
    assert!(subject(&c).contains("CN=c.test"), "{}", subject(&c));
}

/// `crt-ignore-err` lets a client certificate's listed errors through and the rules see them in OpenSSL's numbers,
/// as haproxy 2.6 reports them for the same certificates (observed): a self-signed one is 18, one from an unknown
/// CA 20 then 21 (both on the leaf: `ssl_c_err` 20, `ssl_c_verify` 21); an error not listed still refuses the
/// handshake, and `ca-ignore-err` covers only errors above the leaf.
#[test]
fn ignored_verification_errors_reach_the_rules() {
    let k = pki();
    let other = k.dir.join("other-ca");
    if !other.join("stranger.pem").exists() {
        std::fs::create_dir_all(&other).unwrap();
        // A CA of another name (one of the same name would be a bad signature, 7, not an unknown issuer).
        ca_named(&other, "/CN=Some Other CA");
        leaf(&other, "stranger", "stranger", &[], false, false);
    }
    let stranger = other.join("stranger.pem").display().to_string();
    let front = |ignore: &str| {
        format!(
            "    bind 127.0.0.1:0 ssl crt {} ca-file {} verify required {ignore}\n    http-request return status 200 content-type text/plain lf-string \"verify=%[ssl_c_verify] err=%[ssl_c_err] caerr=%[ssl_c_ca_err] depth=%[ssl_c_ca_err_depth] used=%[ssl_c_used]\"",
            k.path("a.pem"),
            k.path("ca.pem")
        )
    };
    let cases: [(&str, [Option<&str>; 3]); 5] = [
        // ignore list: (good client, self-signed, unknown CA)
        (
            "crt-ignore-err all",
            [
                Some("verify=0 err=0 caerr=0 depth=0 used=1"),
                Some("verify=18 err=18 caerr=0 depth=0 used=1"),
                Some("verify=21 err=20 caerr=0 depth=0 used=1"),
            ],
        ),
        (
            "crt-ignore-err 18",
            [
                Some("verify=0 err=0 caerr=0 depth=0 used=1"),
                Some("verify=18 err=18 caerr=0 depth=0 used=1"),
                None,
            ],
        ),
        // 21 follows 20 for a lone leaf: ignoring 20 alone is not enough.
        (
            "crt-ignore-err 20",
            [Some("verify=0 err=0 caerr=0 depth=0 used=1"), None, None],
        ),
        (
            "crt-ignore-err 20,21",
            [
                Some("verify=0 err=0 caerr=0 depth=0 used=1"),
                None,
                Some("verify=21 err=20 caerr=0 depth=0 used=1"),
            ],
        ),
        (
            "ca-ignore-err all",
            [Some("verify=0 err=0 caerr=0 depth=0 used=1"), None, None],
        ),
    ];
    for (ignore, want) in cases {
        let (p, _o) = proxy("", &front(ignore));
        for (cert, want) in [k.path("client.pem"), k.path("rogue.pem"), stranger.clone()]
            .iter()
            .zip(want)
        {
            let c = curl(&p, "a.test", "/", &["--cert", cert]);
            match want {
                Some(body) => {
                    assert!(c.ok, "{ignore}: {cert} refused: {}", c.verbose);
                    assert_eq!(c.body, body, "{ignore}: {cert}");
                }
                None => assert!(!c.ok, "{ignore}: {cert} let in: {}", c.body),
            }
        }
    }
}

#[test]
fn session_facts_of_the_client_connection() {
    let k = pki();
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:0 ssl crt {}\n    http-request set-header X-FC \"%[ssl_fc_has_sni] %[ssl_fc_is_resumed] %[ssl_fc_use_keysize] %[ssl_fc_alg_keysize] %[ssl_fc_cipher]\"\n    http-request set-header X-Resumed yes if {{ ssl_fc_is_resumed }}",
            k.path("a.pem")
        ),
    );
    // Two connections of one curl: the second resumes the first one's session.
    let port = p.addr.port();
    let one = |name: &str| {
        vec![
            "--cacert".to_string(),
            k.path("ca.pem"),
            "--resolve".into(),
            format!("{name}:{port}:127.0.0.1"),
            "-H".into(),
            "Connection: close".into(),
            format!("https://{name}:{port}/headers"),
        ]
    };
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .args(one("a.test"))
        .arg("--next")
        .args(one("a.test"))
        .output()
        .unwrap_or_else(|e| panic!("curl is needed: {e}"));
    let seen = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    let facts: Vec<&str> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("x-fc: "))
        .collect();
    assert_eq!(facts.len(), 2, "{seen}");
    for (i, f) in facts.iter().enumerate() {
        let words: Vec<&str> = f.split(' ').collect();
        let bits = if words[4].contains("128") {
            "128"
        } else {
            "256"
        };
        assert_eq!(
            &words[..4],
            &["1", if i == 0 { "0" } else { "1" }, bits, bits],
            "{f}"
        );
    }
    assert_eq!(seen.matches("x-resumed: yes").count(), 1, "{seen}");
    // Without a server name, `ssl_fc_has_sni` is false.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-k"])
        .arg(format!("https://127.0.0.1:{port}/headers"))
        .output()
        .unwrap();
    let seen = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(seen.contains("x-fc: 0 0 "), "{seen}");
}

/// The answers of the certificate and crt-list commands of the runtime API, for a bind line with
/// `crt-list LIST strict-sni` (LIST: a.pem for a.test), sent to `sock` in order; `check` runs after each step
/// (with the step's number) to try handshakes.
fn crt_list_session(sock: &Path, list: &str, check: &mut dyn FnMut(usize)) -> Vec<String> {
    let k = pki();
    let (a, c) = (k.path("a.pem"), k.path("new-c.pem"));
    let pem = std::fs::read_to_string(k.dir.join("c-ec.pem")).unwrap();
    let steps = [
        "show ssl crt-list\n".to_string(),
        format!("show ssl crt-list {list}\n"),
        format!("show ssl crt-list -n {list}\n"),
        format!("show ssl crt-list {list}.nope\n"),
        format!("add ssl crt-list {list} {c}\n"),
        format!("new ssl cert {c}\n"),
        format!("new ssl cert {c}\n"),
        format!("add ssl crt-list {list} {c}\n"),
        format!("set ssl cert {c} <<\n{pem}\n"),
        format!("commit ssl cert {c}\n"),
        // 10: c.test is served from here on.
        format!("add ssl crt-list {list} {c}\n"),
        format!("show ssl crt-list -n {list}\n"),
        format!("del ssl cert {c}\n"),
        format!("del ssl cert {a}\n"),
        format!("add ssl crt-list {list}.nope {c}\n"),
        format!("add ssl crt-list {list} <<\n{c} other.test !c.test\n\n"),
        format!("show ssl crt-list -n {list}\n"),
        format!("del ssl crt-list {list} {c}\n"),
        // 18: the line without filters goes; c.test is refused again.
        format!("del ssl crt-list {list} {c}:2\n"),
        format!("del ssl crt-list {list} {c}\n"),
        format!("del ssl crt-list {list} {c}\n"),
        format!("del ssl crt-list {list}.nope {c}\n"),
        format!("del ssl cert {c}\n"),
        format!("del ssl cert {c}\n"),
        format!("show ssl crt-list -n {list}\n"),
        // Trailing slashes name the same list.
        format!("show ssl crt-list {list}//\n"),
    ];
    let mut out = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        out.push(cli(sock, s));
        check(i);
    }
    out
}

#[test]
fn certificates_added_to_a_crt_list_serve_new_handshakes() {
    let k = pki();
    let list = k.dir.join(format!("runtime-{}.crt-list", free_port()));
    std::fs::write(&list, format!("{} a.test\n", k.path("a.pem"))).unwrap();
    let list = list.display().to_string();
    let sock = k.dir.join(format!("admin-l-{}.sock", free_port()));
    let (p, _o) = proxy(
        &format!("    stats socket {} level admin", sock.display()),
        &format!("    bind 127.0.0.1:0 ssl strict-sni crt-list {list}"),
    );
    let mut check = |step: usize| {
        let served = curl(&p, "c.test", "/", &[]).ok;
        assert_eq!(served, (10..18).contains(&step), "c.test at step {step}");
        if step == 10 {
            assert!(subject(&curl(&p, "c.test", "/", &[])).contains("c.test"));
        }
        assert!(curl(&p, "a.test", "/", &[]).ok, "a.test at step {step}");
    };
    let ours = crt_list_session(&sock, &list, &mut check);
    assert_eq!(ours[0], format!("{list}\n\n"));
    assert_eq!(
        ours[11],
        format!(
            "# {list}\n{}:1 a.test\n{}:2\n\n",
            k.path("a.pem"),
            k.path("new-c.pem")
        )
    );
    // The real HAProxy answers the same.
    if haproxy_present() {
        let hsock = k.dir.join(format!("admin-lh-{}.sock", free_port()));
        let port = free_port();
        let h = start_haproxy(
            &format!(
                "global\n    stats socket {} level admin\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend f\n    bind 127.0.0.1:{port} ssl strict-sni crt-list {list}\n    http-request return status 200\n",
                hsock.display()
            ),
            format!("127.0.0.1:{port}").parse().unwrap(),
        );
        let theirs = crt_list_session(&hsock, &list, &mut |_| {});
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(o, t, "step {i}");
        }
        drop(h);
    }
}

/// `del ssl crt-list` refuses to delete the line giving bind lines their default certificate (the first loaded),
/// naming those bind lines as HAProxy does (a `strict-sni` line has no default certificate); another line goes.
#[test]
fn the_default_certificate_of_a_bind_line_is_not_deleted_from_its_crt_list() {
    let k = pki();
    let list = k.dir.join(format!("default-{}.crt-list", free_port()));
    std::fs::write(&list, format!("{}\n{}\n", k.path("a.pem"), k.path("b.pem"))).unwrap();
    let list = list.display().to_string();
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    let sock = k.dir.join(format!("admin-d-{}.sock", free_port()));
    let text = |sock: &Path| {
        format!(
            "global\n    stats socket {} level admin\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend f\n    bind 127.0.0.1:{p1} ssl crt-list {list}\n    bind 127.0.0.1:{p2} ssl crt-list {list}\n    bind 127.0.0.1:{p3} ssl strict-sni crt-list {list}\n    http-request return status 200\n",
            sock.display()
        )
    };
    let session = |sock: &Path| -> Vec<String> {
        [
            format!("del ssl crt-list {list} {}\n", k.path("a.pem")),
            format!("del ssl crt-list {list} {}:2\n", k.path("b.pem")),
            format!("show ssl crt-list -n {list}\n"),
        ]
        .iter()
        .map(|c| cli(sock, c))
        .collect()
    };
    let p = start_proxy(&text(&sock));
    let ours = session(&sock);
    drop(p);
    assert_eq!(
        ours[0],
        format!(
            "Can't delete the entry: certificate '{}' cannot be deleted, it is used as default certificate by the following frontends:\n\t- test.cfg:9\n\t- test.cfg:10\n\n\n",
            k.path("a.pem")
        )
    );
    assert_eq!(
        ours[1],
        format!(
            "Entry '{}' deleted in crtlist '{list}'!\n\n",
            k.path("b.pem")
        )
    );
    if haproxy_present() {
        let hsock = k.dir.join(format!("admin-dh-{}.sock", free_port()));
        let h = start_haproxy(&text(&hsock), format!("127.0.0.1:{p1}").parse().unwrap());
        let cfg =
            std::env::temp_dir().join(format!("fulcrum-haproxy-{}-{p1}.cfg", std::process::id()));
        let theirs: Vec<String> = session(&hsock)
            .into_iter()
            .map(|t| t.replace(&cfg.display().to_string(), "test.cfg"))
            .collect();
        drop(h);
        assert_eq!(ours, theirs);
    }
}

/// `ca-verify-file`: its CAs verify client certificates without being named in the certificate request (those
/// of `ca-file` are), as HAProxy does; `allow-0rtt` is taken (handshakes stay full ones: a warning says so).
#[test]
fn ca_verify_file_verifies_without_naming_its_cas() {
    let k = pki();
    let ca = k.path("ca.pem");
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:0 ssl crt {} ca-verify-file {ca} verify required allow-0rtt",
            k.path("a.pem")
        ),
    );
    let out = s_client(&p, &["-servername", "a.test"]);
    assert!(out.contains("No client certificate CA names sent"), "{out}");
    assert!(
        !curl(&p, "a.test", "/", &[]).ok,
        "a client certificate is required"
    );
    let with_cert = curl(&p, "a.test", "/", &["--cert", &k.path("client.pem")]);
    assert!(with_cert.ok, "{}", with_cert.verbose);
    drop(p);
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:0 ssl crt {} ca-file {ca} verify required",
            k.path("a.pem")
        ),
    );
    let out = s_client(&p, &["-servername", "a.test"]);
    assert!(
        out.contains("Acceptable client certificate CA names\nCN = Fulcrum Test CA"),
        "{out}"
    );
}

/// The leaf certificate a TLS listener at `addr` presents to a client asking for `name`, as `openssl x509 -text`
/// prints it, and the whole chain's PEM.
fn presented(addr: std::net::SocketAddr, name: &str) -> (String, String) {
    let out = Command::new("openssl")
        .args(["s_client", "-showcerts", "-connect", &addr.to_string()])
        .args(["-servername", name])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("openssl is needed: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut chain = String::new();
    let mut inside = false;
    for l in text.lines() {
        inside |= l == "-----BEGIN CERTIFICATE-----";
        if inside {
            chain.push_str(l);
            chain.push('\n');
        }
        inside &= l != "-----END CERTIFICATE-----";
    }
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-text"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    x509.stdin
        .take()
        .unwrap()
        .write_all(chain.as_bytes())
        .unwrap();
    let leaf = x509.wait_with_output().unwrap();
    (String::from_utf8_lossy(&leaf.stdout).into_owned(), chain)
}

/// What of a made certificate depends on neither the clock, the serial counter nor the signature's randomness.
fn fixed_part(text: &str) -> String {
    text.lines()
        .take_while(|l| !l.contains("Signature Value:"))
        .filter(|l| {
            !l.contains("Serial Number:") && !l.contains("Not Before") && !l.contains("Not After")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `generate-certificates`: a name no certificate serves gets one made for it, signed by the CA of
/// `ca-sign-file` for the default certificate's key, which verifies against that CA and holds the name (SAN and a
/// second CN after the CA's); the same name gets the same certificate again (cached); a known name still gets its
/// loaded certificate, and no server name the default one. haproxy 2.6.12 makes the same certificate from the
/// same files (all but its serial, dates and signature).
#[test]
fn generate_certificates_for_names_without_one() {
    let k = pki();
    let sign = k.dir.join("ca-sign.pem");
    let read = |f: &str| std::fs::read(k.dir.join(f)).unwrap();
    std::fs::write(&sign, [read("ca.pem"), read("ca.key")].concat()).unwrap();
    let bind = format!(
        "ssl crt {} generate-certificates ca-sign-file {}",
        k.path("a.pem"),
        sign.display()
    );
    let (p, _o) = proxy(
        "    tune.ssl.ssl-ctx-cache-size 10",
        &format!("    bind 127.0.0.1:0 {bind}"),
    );
    let c = curl(&p, "new.test", "/", &[]);
    assert!(c.ok, "{}", c.verbose);
    assert_eq!(c.body, "Hello from s1\n");
    assert!(
        subject(&c).contains("CN=Fulcrum Test CA") && subject(&c).contains("CN=new.test"),
        "{}",
        subject(&c)
    );
    let (made, chain) = presented(p.addr, "new.test");
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2, "{chain}");
    for line in [
        "Issuer: CN = Fulcrum Test CA",
        "Subject: CN = Fulcrum Test CA, CN = new.test",
        "DNS:new.test",
        "Signature Algorithm: ecdsa-with-SHA256",
    ] {
        assert!(made.contains(line), "{line:?} missing:\n{made}");
    }
    // The chain verifies against the CA, for the name.
    let chain_file = k.dir.join(format!("made-{}.pem", p.addr.port()));
    std::fs::write(&chain_file, &chain).unwrap();
    let verify = Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            &k.path("ca.pem"),
            "-verify_hostname",
            "new.test",
        ])
        .arg(&chain_file)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    // Kept: the same certificate (serial and all) for the same name.
    assert_eq!(presented(p.addr, "new.test").0, made);
    // A known name, and no name: the loaded certificate.
    let c = curl(&p, "a.test", "/", &[]);
    assert!(c.ok && subject(&c).contains("CN=a.test"), "{}", c.verbose);
    let out = s_client(&p, &["-noservername"]);
    assert!(out.contains("CN = a.test"), "{out}");
    if haproxy_present() {
        let port = free_port();
        let h = start_haproxy(
            &format!(
                "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend f\n    bind 127.0.0.1:{port} {bind}\n    http-request return status 200\n"
            ),
            format!("127.0.0.1:{port}").parse().unwrap(),
        );
        let (theirs, their_chain) =
            presented(format!("127.0.0.1:{port}").parse().unwrap(), "new.test");
        assert_eq!(fixed_part(&theirs), fixed_part(&made));
        assert_eq!(their_chain.matches("BEGIN CERTIFICATE").count(), 2);
        drop(h);
    }
}

/// The global section of Mozilla's "intermediate" HAProxy template (ssl-config.mozilla.org), which many
/// configurations start from: its DHE cipher names and `ssl-dh-param-file` are taken with warnings (rustls has no
/// finite-field DHE; the file must still hold DH parameters, as HAProxy requires), and the site is served over TLS
/// 1.2 and 1.3 with HSTS, plain HTTP redirected.
#[test]
fn mozilla_intermediate_template_is_served() {
    let k = pki();
    let ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
    let suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
    let dh = k.dir.join(format!("ffdhe2048-{}.pem", free_port()));
    openssl(
        &k.dir,
        &[
            "genpkey",
            "-genparam",
            "-algorithm",
            "DH",
            "-pkeyopt",
            "group:ffdhe2048",
            "-out",
            dh.to_str().unwrap(),
        ],
    );
    let (tls_port, plain_port) = (free_port(), free_port());
    let global = |dh: &Path| {
        format!(
            "global\n    nbthread 1\n    ssl-default-bind-ciphers {ciphers}\n    ssl-default-bind-ciphersuites {suites}\n    ssl-default-bind-options prefer-client-ciphers no-sslv3 no-tlsv10 no-tlsv11 no-tls-tickets\n    ssl-default-server-ciphers {ciphers}\n    ssl-default-server-ciphersuites {suites}\n    ssl-default-server-options no-sslv3 no-tlsv10 no-tlsv11 no-tls-tickets\n    ssl-dh-param-file {}\n",
            dh.display()
        )
    };
    let o = origins(1);
    let rest = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\nfrontend ft\n    bind 127.0.0.1:{plain_port}\n    bind 127.0.0.1:{tls_port} ssl crt {} alpn h2,http/1.1\n    http-request redirect scheme https code 301 unless {{ ssl_fc }}\n    http-response set-header Strict-Transport-Security max-age=63072000\n    default_backend b\n\nbackend b\n{}",
        k.path("a.pem"),
        server_lines(&o, "")
    );
    let cfg = format!("{}{rest}", global(&dh));
    let config = fulcrum_config::haproxy::parse_str("t.cfg", &cfg).unwrap();
    let mut warnings: Vec<String> = config.warnings.iter().map(|w| w.to_string()).collect();
    warnings.extend(fulcrum_proxy::check(&config).unwrap());
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("t.cfg:9") && w.contains("'ssl-dh-param-file'")),
        "{warnings:#?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("'DHE-RSA-AES128-GCM-SHA256' has no counterpart")),
        "{warnings:#?}"
    );
    let mut p = start_proxy(&cfg);
    p.addr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    for v in [vec!["--tls-max", "1.2"], vec![]] {
        let c = curl(&p, "a.test", "/", &v);
        assert!(c.ok, "{}", c.verbose);
        assert!(
            c.verbose
                .to_ascii_lowercase()
                .contains("strict-transport-security: max-age=63072000"),
            "{}",
            c.verbose
        );
    }
    let r = get(format!("127.0.0.1:{plain_port}").parse().unwrap(), "/x");
    assert_eq!(r.status, 301);
    // A file without DH parameters is refused with the global line, as HAProxy refuses it.
    let junk = format!("{}{rest}", global(&k.dir.join("a.pem")));
    let config = fulcrum_config::haproxy::parse_str("t.cfg", &junk).unwrap();
    let e = fulcrum_proxy::check(&config)
        .expect_err("refused")
        .to_string();
    assert!(
        e.contains("t.cfg:9: 'ssl-dh-param-file': unable to load DH parameters from file"),
        "{e}"
    );
}

/// The lengths of the application-data records a `GET path` over `openssl s_client -msg` received from `addr`
/// (TLS 1.3: plaintext + 17 bytes each), largest last.
fn record_lengths(addr: std::net::SocketAddr, path: &str) -> Vec<usize> {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-msg",
            "-quiet",
            "-servername",
            "a.test",
            "-connect",
        ])
        .arg(addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("openssl is needed: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    stdin.write_all(request.as_bytes()).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    // `<<< ... RecordHeader` lines are followed by the five header bytes: 17 03 03 LL LL for application data.
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lengths: Vec<usize> = text
        .lines()
        .filter_map(|l| {
            let b: Vec<&str> = l.split_whitespace().collect();
            match b[..] {
                ["17", "03", "03", hi, lo] => usize::from_str_radix(&format!("{hi}{lo}"), 16).ok(),
                _ => None,
            }
        })
        .collect();
    lengths.sort_unstable();
    lengths
}

/// `tune.ssl.maxrecord N`: records carry at most N bytes of the response, as HAProxy writes them (N + 17 bytes
/// per TLS 1.3 record); without it, records are as large as TLS allows.
#[test]
fn tune_ssl_maxrecord_bounds_the_records() {
    let k = pki();
    let bind = format!("    bind 127.0.0.1:0 ssl crt {}\n", k.path("a.pem"));
    let (p, _o) = proxy("    tune.ssl.maxrecord 1400\n", &bind);
    let cut = record_lengths(p.addr, "/bytes/65536");
    assert!(cut.len() > 20, "{cut:?}");
    assert_eq!(cut.last(), Some(&1417), "{cut:?}");
    drop(p);
    let (p, _o) = proxy("", &bind);
    let whole = record_lengths(p.addr, "/bytes/65536");
    assert!(whole.last().is_some_and(|&l| l > 16_000), "{whole:?}");
}

/// A PEM file `name` in the test PKI's directory made of the PKI's files `parts`, in order, without empty lines.
fn pem_of(name: &str, parts: &[&str]) -> std::path::PathBuf {
    let k = pki();
    let text = parts
        .iter()
        .map(|p| std::fs::read_to_string(k.dir.join(p)).unwrap())
        .collect::<String>()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let file = k.dir.join(name);
    std::fs::write(&file, format!("{text}\n")).unwrap();
    file
}

/// How many certificates a server at `addr` sends for `a.test`.
fn certificates_sent(addr: std::net::SocketAddr) -> usize {
    presented(addr, "a.test")
        .1
        .matches("BEGIN CERTIFICATE")
        .count()
}

/// With `global` lines and a `bind ... ssl crt FILE`, fulcrum sends `want` certificates for a.test, and so does
/// haproxy 2.6 with the same lines.
fn chain_sent_as_haproxy(global: &str, file: &Path, want: usize) {
    let bind = format!("    bind 127.0.0.1:0 ssl crt {}\n", file.display());
    let (p, o) = proxy(global, &bind);
    assert_eq!(
        certificates_sent(p.addr),
        want,
        "{global:?} {}",
        file.display()
    );
    drop(p);
    if haproxy_present() {
        let port = free_port();
        let cfg = format!(
            "global\n{global}defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    \
             timeout server 5s\nfrontend f\n    bind 127.0.0.1:{port} ssl crt {}\n    default_backend b\n\
             backend b\n{}",
            file.display(),
            server_lines(&o, "")
        );
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let _h = start_haproxy(&cfg, addr);
        assert_eq!(
            certificates_sent(addr),
            want,
            "haproxy, {global:?} {}",
            file.display()
        );
    }
}

/// `ssl-skip-self-issued-ca`: a certificate file holding the leaf and its (self-issued) root CA sends both by
/// default, the leaf alone with the keyword; the same certificates as haproxy 2.6 sends in each case.
#[test]
fn ssl_skip_self_issued_ca_leaves_the_root_out_of_the_chain() {
    let file = pem_of("a-with-root.pem", &["a.crt", "ca.pem", "a.key.tmp"]);
    chain_sent_as_haproxy("", &file, 2);
    chain_sent_as_haproxy("    ssl-skip-self-issued-ca\n", &file, 1);
}

/// `maxsslrate N`: at most N new connections a second on `ssl` listeners (the others wait in the kernel's queue
/// until the next second), while a clear-text listener of the same proxy is not held back.
#[test]
fn maxsslrate_spreads_tls_connections_over_seconds() {
    let k = pki();
    let plain_port = free_port();
    let bind = format!(
        "    bind 127.0.0.1:0 ssl crt {}\n    bind 127.0.0.1:{plain_port}\n",
        k.path("a.pem")
    );
    for (global, limited) in [("", false), ("    maxsslrate 4\n", true)] {
        let (p, _o) = proxy(global, &bind);
        let start = std::time::Instant::now();
        for _ in 0..10 {
            let c = curl(&p, "a.test", "/", &[]);
            assert!(c.ok, "{}", c.verbose);
        }
        let tls_ms = start.elapsed().as_millis();
        let plain = std::net::SocketAddr::from(([127, 0, 0, 1], plain_port));
        let start = std::time::Instant::now();
        for _ in 0..10 {
            assert_eq!(get(plain, "/").status, 200);
        }
        let plain_ms = start.elapsed().as_millis();
        assert!(
            plain_ms < 900,
            "{global:?}: 10 clear-text connections in {plain_ms} ms"
        );
        // Four in the proxy's first second, four in the next, the last two in the third: 2 s from its start.
        if limited {
            assert!(
                tls_ms >= 1500,
                "{global:?}: 10 TLS connections in {tls_ms} ms"
            );
        }
    }
}

/// One pass of [`maxsslconn_bounds_tls_connections_from_clients_and_to_servers`] through the proxy (or haproxy)
/// running `cfg`, whose TLS frontend listens on `tls` and whose clear-text one, proxying to it over TLS, on
/// `plain`: what each step gave.
fn maxsslconn_steps(
    sock: &Path,
    tls: std::net::SocketAddr,
    plain: std::net::SocketAddr,
) -> Vec<String> {
    let ssl_info = || -> String {
        runtime_cmd(sock, "show info")
            .lines()
            .filter(|l| l.contains("SslConns"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let status = |url: &str, insecure: bool| -> String {
        let mut c = Command::new("curl");
        c.args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "1",
        ]);
        if insecure {
            c.arg("-k");
        }
        let out = c.arg(url).output().expect("curl is needed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    /// A client process, stopped (by its pid) when dropped, the test failing or not.
    struct Holder(std::process::Child);
    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    // Two TLS sessions held open by clients that send nothing after their handshake (`timeout client` is long
    // enough that a loaded machine's slow steps do not end them early and make room for the third).
    let mut holders: Vec<Holder> = (0..2)
        .map(|_| {
            Holder(
                Command::new("openssl")
                    .args(["s_client", "-quiet", "-connect", &tls.to_string()])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("openssl is needed"),
            )
        })
        .collect();
    let mut steps = Vec::new();
    let held = wait_until(Duration::from_secs(5), || {
        ssl_info().contains("CurrSslConns: 2")
    });
    steps.push(format!("held: {held} {}", ssl_info()));
    // A third TLS client is not accepted while the two stay; nor is a TLS connection made to the server.
    steps.push(format!(
        "third: {}",
        status(&format!("https://{tls}/"), true)
    ));
    steps.push(format!(
        "to the server: {}",
        status(&format!("http://{plain}/"), false)
    ));
    steps.push(ssl_info());
    drop(holders.remove(0));
    let freed = wait_until(Duration::from_secs(5), || {
        ssl_info().contains("CurrSslConns: 1")
    });
    steps.push(format!(
        "after one left: {freed} {}",
        status(&format!("https://{tls}/"), true)
    ));
    steps
}

/// `maxsslconn N`: TLS connections from clients and to servers together, at most N at once. At the limit the
/// `ssl` listener accepts nothing more (a client waits in the kernel's queue) and a request that needs a new TLS
/// connection to its server gets a 500 at once; `show info` counts them (`MaxSslConns`, `CurrSslConns`,
/// `CumSslConns`). The same steps give the same answers and counts through haproxy 2.6.
#[test]
fn maxsslconn_bounds_tls_connections_from_clients_and_to_servers() {
    let k = pki();
    let run = |haproxy: bool| {
        let sock = unix_sock_path(if haproxy {
            "maxsslconn-h"
        } else {
            "maxsslconn-f"
        });
        let (tls_port, plain_port) = (free_port(), free_port());
        let cfg = format!(
            "global\n    nbthread 1\n    maxsslconn 2\n    stats socket {} level admin\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 60s\n    timeout server 5s\n\
             frontend f\n    bind 127.0.0.1:{tls_port} ssl crt {}\n\
             \x20   http-request return status 200 content-type text/plain string ok\n\
             frontend clear\n    bind 127.0.0.1:{plain_port}\n    default_backend b\n\
             backend b\n    server s 127.0.0.1:{tls_port} ssl verify none\n",
            sock.display(),
            k.path("a.pem")
        );
        let tls = std::net::SocketAddr::from(([127, 0, 0, 1], tls_port));
        let plain = std::net::SocketAddr::from(([127, 0, 0, 1], plain_port));
        let steps = if haproxy {
            let _h = start_haproxy(&cfg, plain);
            maxsslconn_steps(&sock, tls, plain)
        } else {
            let _p = start_proxy(&cfg);
            maxsslconn_steps(&sock, tls, plain)
        };
        let _ = std::fs::remove_file(&sock);
        steps
    };
    let ours = run(false);
    assert_eq!(
        ours,
        [
            "held: true MaxSslConns: 2 CurrSslConns: 2 CumSslConns: 2",
            "third: 000",
            "to the server: 500",
            "MaxSslConns: 2 CurrSslConns: 2 CumSslConns: 2",
            "after one left: true 200",
        ]
    );
    if haproxy_present() {
        assert_eq!(ours, run(true));
    }
}

/// `ssl-skip-self-issued-ca` also holds for a certificate replaced through the runtime API (`set ssl cert` with
/// the leaf, its root CA and the key, then `commit ssl cert`): the leaf goes out alone, as through haproxy 2.6.
#[test]
fn ssl_skip_self_issued_ca_holds_for_runtime_replacements() {
    let k = pki();
    let crt = k.path("b.pem");
    // Without empty lines: one would end the payload.
    let payload = std::fs::read_to_string(pem_of(
        "a-payload-root.pem",
        &["a.crt", "ca.pem", "a.key.tmp"],
    ))
    .unwrap();
    let replace_and_count = |sock: &Path, addr: std::net::SocketAddr| -> (String, usize) {
        let set = runtime_cmd(sock, &format!("set ssl cert {crt} <<\n{payload}"));
        let commit = runtime_cmd(sock, &format!("commit ssl cert {crt}"));
        (format!("{set}{commit}"), certificates_sent(addr))
    };
    let global = |sock: &Path| {
        format!(
            "    ssl-skip-self-issued-ca\n    stats socket {} level admin\n",
            sock.display()
        )
    };
    let sock = unix_sock_path("skip-ca-f");
    let (p, o) = proxy(
        &global(&sock),
        &format!("    bind 127.0.0.1:0 ssl crt {crt}\n"),
    );
    let (answers, sent) = replace_and_count(&sock, p.addr);
    assert_eq!(sent, 1, "{answers}");
    drop(p);
    let _ = std::fs::remove_file(&sock);
    if haproxy_present() {
        let hsock = unix_sock_path("skip-ca-h");
        let port = free_port();
        let cfg = format!(
            "global\n{}defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    \
             timeout server 5s\nfrontend f\n    bind 127.0.0.1:{port} ssl crt {crt}\n    default_backend b\n\
             backend b\n{}",
            global(&hsock),
            server_lines(&o, "")
        );
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let _h = start_haproxy(&cfg, addr);
        assert_eq!(replace_and_count(&hsock, addr), (answers, sent));
        let _ = std::fs::remove_file(&hsock);
    }
}

/// `issuers-chain-path DIR`: a certificate file holding the leaf alone is sent with the chain (a file of DIR)
/// whose first certificate issued it; a file with a chain of its own keeps it. The same certificates as
/// haproxy 2.6 sends in each case.
#[test]
fn issuers_chain_path_completes_certificates_without_a_chain() {
    let k = pki();
    let issuers = k.dir.join("issuers");
    std::fs::create_dir_all(&issuers).unwrap();
    std::fs::copy(k.dir.join("ca.pem"), issuers.join("test-ca.pem")).unwrap();
    let leaf_only = pem_of("a-leaf-only.pem", &["a.crt", "a.key.tmp"]);
    let with_root = pem_of("a-leaf-and-root.pem", &["a.crt", "ca.pem", "a.key.tmp"]);
    let global = format!("    issuers-chain-path {}\n", issuers.display());
    chain_sent_as_haproxy("", &leaf_only, 1);
    chain_sent_as_haproxy(&global, &leaf_only, 2);
    chain_sent_as_haproxy(&global, &with_root, 2);
}

/// `issuers-chain-path` completes a leaf given alone to `set ssl cert` too, once committed.
#[test]
fn issuers_chain_path_completes_runtime_replacements() {
    let k = pki();
    let issuers = k.dir.join("issuers-rt");
    std::fs::create_dir_all(&issuers).unwrap();
    std::fs::copy(k.dir.join("ca.pem"), issuers.join("test-ca.pem")).unwrap();
    let sock = unix_sock_path("issuers-rt");
    let crt = k.path("b.pem");
    let (p, _o) = proxy(
        &format!(
            "    issuers-chain-path {}\n    stats socket {} level admin\n",
            issuers.display(),
            sock.display()
        ),
        &format!("    bind 127.0.0.1:0 ssl crt {crt}\n"),
    );
    let payload =
        std::fs::read_to_string(pem_of("a-payload-leaf.pem", &["a.crt", "a.key.tmp"])).unwrap();
    let set = runtime_cmd(&sock, &format!("set ssl cert {crt} <<\n{payload}"));
    let commit = runtime_cmd(&sock, &format!("commit ssl cert {crt}"));
    assert!(commit.contains("Success!"), "{set}{commit}");
    let (leaf, chain) = presented(p.addr, "a.test");
    assert!(leaf.contains("CN = a.test"), "{leaf}");
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2, "{chain}");
    let _ = std::fs::remove_file(&sock);
}

/// The `ssl_*` fields of `show stat`'s rows, as "proxy/row.field" (row: FRONTEND, BACKEND or the server).
fn ssl_stats(sock: &Path) -> std::collections::BTreeMap<String, u64> {
    show_stat_cells(sock, |c| c.starts_with("ssl_"))
        .into_iter()
        .map(|(k, v)| (k, v.parse().unwrap_or(u64::MAX)))
        .collect()
}

/// HAProxy's `ssl` statistics module: handshakes completed in full, resumed and failed, counted by a frontend for
/// its clients and by a server and its backend for the proxy's own handshakes with the server, health checks
/// included. The same exchanges through haproxy 2.6 give the same figures.
#[test]
fn ssl_statistics_count_full_resumed_and_failed_handshakes_as_haproxy() {
    let k = pki();
    let run = |haproxy: bool| {
        let sock = unix_sock_path(if haproxy { "sslstats-h" } else { "sslstats-f" });
        let (front, inner, checked) = (free_port(), free_port(), free_port());
        let cfg = format!(
            "global\n    nbthread 1\n    stats socket {sock} level admin\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             \x20   timeout check 2s\n\
             frontend f\n    bind 127.0.0.1:{front} ssl crt {a}\n    default_backend b\n\
             frontend inner\n    bind 127.0.0.1:{inner} ssl crt {a}\n\
             \x20   http-request return status 200 content-type text/plain string ok\n\
             frontend checked\n    bind 127.0.0.1:{checked} ssl crt {a}\n\
             \x20   http-request return status 200 content-type text/plain string ok\n\
             backend b\n    server s 127.0.0.1:{inner} ssl verify none no-ssl-reuse\n\
             backend c\n\
             \x20   server good 127.0.0.1:{checked} ssl verify required ca-file {ca} sni str(a.test) check-sni a.test check inter 300ms\n\
             \x20   server bad 127.0.0.1:{checked} ssl verify required ca-file {ca} sni str(b.test) check-sni b.test check inter 300ms\n",
            sock = sock.display(),
            a = k.path("a.pem"),
            ca = k.path("ca.pem"),
        );
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], front));
        // haproxy's start is probed on its frontend, which counts that connection.
        let _running = start_either(&cfg, haproxy, addr);
        // What came before the exchanges below (haproxy's start is probed with a connection that is closed at
        // once: a failed handshake) is taken off at the end.
        let before = ssl_stats(&sock);
        // Two clients with a full handshake each, and one request each to the server.
        for _ in 0..2 {
            let out = Command::new("curl")
                .args(["-sS", "--max-time", "5", "-k"])
                .arg(format!("https://127.0.0.1:{front}/"))
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "ok",
                "haproxy: {haproxy}"
            );
        }
        // A TLS 1.2 session saved, then resumed.
        let session = k.dir.join(format!("sslstats-{haproxy}.sess"));
        let _ = std::fs::remove_file(&session);
        let s_client = |extra: &[&str]| {
            let out = Command::new("openssl")
                .args(["s_client", "-tls1_2", "-connect"])
                .arg(addr.to_string())
                .args(extra)
                .arg(&session)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        s_client(&["-sess_out"]);
        let resumed = s_client(&["-sess_in"]);
        assert!(resumed.contains("Reused"), "haproxy: {haproxy}: {resumed}");
        // Clear text where a ClientHello should be: a failed handshake.
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let _ = s.read_to_end(&mut Vec::new());
        // A connection closed before its ClientHello: failed too.
        drop(TcpStream::connect(addr).unwrap());
        // Checks: `good` verifies the server's certificate for its name, `bad` asks for a name it does not have.
        let stats = || ssl_stats(&sock);
        assert!(
            wait_until(Duration::from_secs(5), || {
                let s = stats();
                s["c/good.ssl_sess"] >= 2 && s["c/bad.ssl_failed_handshake"] >= 2
            }),
            "haproxy: {haproxy}: checks not counted: {:?}",
            stats()
        );
        let mut after = stats();
        for (k, v) in after.iter_mut() {
            if !k.starts_with("c/") && !k.starts_with("checked/") {
                *v -= before.get(k).copied().unwrap_or(0);
            }
        }
        after
    };
    let ours = run(false);
    let mut runs = vec![("fulcrum", ours)];
    if haproxy_present() {
        runs.push(("haproxy", run(true)));
    }
    for (who, s) in &runs {
        let get = |k: &str| s[k];
        // Clients: three full handshakes, one resumed, two failed.
        assert_eq!(
            [
                get("f/FRONTEND.ssl_sess"),
                get("f/FRONTEND.ssl_reused_sess"),
                get("f/FRONTEND.ssl_failed_handshake")
            ],
            [3, 1, 2],
            "{who}: {s:?}"
        );
        // Towards the server: one full handshake per client request (no session reuse asked), on the server and
        // its backend, and the server's own frontend saw them.
        for row in ["b/s", "b/BACKEND", "inner/FRONTEND"] {
            assert_eq!(
                [
                    get(&format!("{row}.ssl_sess")),
                    get(&format!("{row}.ssl_reused_sess")),
                    get(&format!("{row}.ssl_failed_handshake"))
                ],
                [2, 0, 0],
                "{who}: {row}: {s:?}"
            );
        }
        // Checks count on their server and backend: successes on one, failures on the other.
        assert_eq!(get("c/good.ssl_failed_handshake"), 0, "{who}: {s:?}");
        assert_eq!(get("c/bad.ssl_sess"), 0, "{who}: {s:?}");
        assert_eq!(
            get("c/BACKEND.ssl_sess"),
            get("c/good.ssl_sess"),
            "{who}: {s:?}"
        );
        assert_eq!(
            get("c/BACKEND.ssl_failed_handshake"),
            get("c/bad.ssl_failed_handshake"),
            "{who}: {s:?}"
        );
    }
}

/// `show info`'s fields as numbers, by name.
fn info_numbers(sock: &Path) -> std::collections::BTreeMap<String, u64> {
    runtime_cmd(sock, "show info")
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(": ")?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// `show info`'s totals and rates: connections (`CumConns`: the runtime API's own too) and streams (`CumReq`: HTTP
/// requests, `mode tcp` sessions, runtime API connections) in all, and per second with their most: connections,
/// sessions, connections on `ssl` listeners, TLS keys computed for clients and for servers; the session cache's
/// lookups and misses. The same exchanges through haproxy 2.6 give the same totals, and rates within what the
/// exchanges' timing allows.
#[test]
fn show_info_counts_connections_streams_and_tls_keys_as_haproxy() {
    let k = pki();
    let run = |haproxy: bool| {
        let sock = unix_sock_path(if haproxy { "info-h" } else { "info-f" });
        let [front, inner, plain, tcp, probe] = [(); 5].map(|_| free_port());
        let cfg = format!(
            "global\n    nbthread 1\n    stats socket {sock} level admin\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend f\n    bind 127.0.0.1:{front} ssl crt {a}\n    default_backend b\n\
             frontend inner\n    bind 127.0.0.1:{inner} ssl crt {a}\n\
             \x20   http-request return status 200 content-type text/plain string ok\n\
             frontend plain\n    bind 127.0.0.1:{plain}\n    default_backend b\n\
             frontend probe\n    bind 127.0.0.1:{probe}\n    default_backend b\n\
             listen t\n    mode tcp\n    bind 127.0.0.1:{tcp}\n    server o 127.0.0.1:{plain}\n\
             backend b\n    http-reuse never\n    server s 127.0.0.1:{inner} ssl verify none no-ssl-reuse\n",
            sock = sock.display(),
            a = k.path("a.pem"),
        );
        let at = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
        // haproxy's start is probed on its own frontend, which counts that connection.
        let _running = start_either(&cfg, haproxy, at(probe));
        let before = info_numbers(&sock);
        let curl = |args: &[&str]| {
            let out = Command::new("curl")
                .args(["-sS", "--max-time", "5", "-k"])
                .args(args)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        // Two TLS clients, each with a request that goes on to the TLS server.
        for _ in 0..2 {
            assert_eq!(curl(&[&format!("https://127.0.0.1:{front}/")]), "ok");
        }
        // Two requests on one clear-text connection, through one server connection.
        let (one, two) = (
            format!("http://127.0.0.1:{plain}/"),
            format!("http://127.0.0.1:{plain}/"),
        );
        assert_eq!(curl(&[&one, &two]), "okok");
        // Through the tcp listener to the clear-text frontend.
        assert_eq!(curl(&[&format!("http://127.0.0.1:{tcp}/")]), "ok");
        // A TLS 1.2 session saved, then resumed with its ticket, with no request; then another resumed by its id
        // (no ticket): the one lookup in the session cache.
        let session = k.dir.join(format!("info-{haproxy}.sess"));
        for ticket in [&[][..], &["-no_ticket"][..]] {
            let _ = std::fs::remove_file(&session);
            for how in ["-sess_out", "-sess_in"] {
                let out = Command::new("openssl")
                    .args([
                        "s_client",
                        "-tls1_2",
                        "-connect",
                        &format!("127.0.0.1:{front}"),
                        how,
                    ])
                    .arg(&session)
                    .args(ticket)
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                if how == "-sess_in" {
                    assert!(
                        text.contains("Reused"),
                        "haproxy: {haproxy}: {ticket:?}: {text}"
                    );
                }
            }
        }
        // A connection closed at once.
        drop(TcpStream::connect(at(plain)).unwrap());
        std::thread::sleep(Duration::from_millis(200));
        (before, info_numbers(&sock))
    };
    let mut runs = vec![("fulcrum", run(false))];
    if haproxy_present() {
        runs.push(("haproxy", run(true)));
    }
    for (who, (before, after)) in &runs {
        let delta = |k: &str| after[k] - before[k];
        // Connections: 2 + 2 (TLS clients, their server connections), 1 + 1 (keep-alive), 3 (tcp, then through
        // plain to the server), 4 (s_client), 1 (closed at once), 1 (this `show info`).
        assert_eq!(delta("CumConns"), 15, "{who}: {after:?}");
        // Streams: 2 + 2, 2 + 2, 1 + 1 + 1, this `show info`.
        assert_eq!(delta("CumReq"), 12, "{who}: {after:?}");
        let within = |k: &str, lo: u64, hi: u64| {
            assert!((lo..=hi).contains(&after[k]), "{who}: {k}: {after:?}");
        };
        // The most in one second: at most all of them (haproxy's start is probed with one more connection, often in
        // the same second); how they spread over seconds depends on the machine's load.
        within("MaxConnRate", 1, 15);
        within("MaxSessRate", 1, 15);
        within("MaxSslRate", 1, 10);
        within("SslFrontendMaxKeyRate", 1, 8);
        within("SslBackendMaxKeyRate", 1, 4);
        within("ConnRate", 1, 15);
        // The session cache: the one resumption by id, found.
        assert_eq!(
            (delta("SslCacheLookups"), delta("SslCacheMisses")),
            (1, 0),
            "{who}: {after:?}"
        );
        for limit in ["ConnRateLimit", "SessRateLimit", "SslRateLimit"] {
            assert_eq!(after[limit], 0, "{who}: {limit}");
        }
        within("SslFrontendSessionReuse_pct", 0, 100);
    }
}
