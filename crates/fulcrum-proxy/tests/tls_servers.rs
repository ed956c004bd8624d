//! TLS towards servers (`server ... ssl`): a proxy whose configuration the real `haproxy -c` also accepts sends
//! its requests over TLS to a test TLS server, a rustls acceptor in front of fulcrum's origin that records the
//! connections it accepted and the server names (SNI) they asked for, and can require a client certificate.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::pki::{ca, leaf, Pki};
use common::*;
use fulcrum_config::haproxy::ssl::{BindSsl, GlobalSsl, Verify};
use fulcrum_proxy::origin::Origin;

/// The test PKI, made once per test process.
fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fulcrum-tls-srv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        ca(&dir);
        leaf(&dir, "srv", "srv.test", &["srv.test"], false, false);
        leaf(&dir, "self", "srv.test", &["srv.test"], false, true);
        leaf(&dir, "client", "proxy client", &[], false, false);
        leaf(&dir, "client2", "proxy client two", &[], true, false);
        Pki { dir }
    })
}

/// A TLS server in front of an origin: what it accepted.
struct TlsOrigin {
    addr: SocketAddr,
    /// Handshakes completed.
    accepted: Arc<AtomicUsize>,
    /// The server name each completed handshake asked for.
    snis: Arc<Mutex<Vec<Option<String>>>>,
    /// The subject of the client certificate each completed handshake showed (or carried, resumed).
    clients: Arc<Mutex<Vec<Option<String>>>>,
    _origin: Origin,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts a TLS server with certificate `crt` (a file of the PKI) in front of a new origin `s1`; `client_ca`:
/// a client certificate from that CA is required.
fn tls_origin(crt: &str, client_ca: Option<&str>) -> TlsOrigin {
    let k = pki();
    let bind = BindSsl {
        enabled: true,
        crts: vec![PathBuf::from(k.path(crt))],
        ca_file: client_ca.map(|c| PathBuf::from(k.path(c))),
        verify: client_ca.map(|_| Verify::Required),
        alpn: vec!["http/1.1".into()],
        ..BindSsl::default()
    };
    let store = fulcrum_tls::store::CertStore::new(std::sync::Arc::new(
        fulcrum_tls::rustls::crypto::aws_lc_rs::default_provider(),
    ));
    let config = fulcrum_tls::server::bind_config(&bind, &GlobalSsl::default(), &store)
        .unwrap_or_else(|e| panic!("{e}"))
        .tls
        .default_config();
    let origin = Origin::start("s1", "127.0.0.1:0".parse().unwrap()).unwrap();
    let target = origin.addr();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let snis = Arc::new(Mutex::new(Vec::new()));
    let clients = Arc::new(Mutex::new(Vec::new()));
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let (acc, names, shown) = (accepted.clone(), snis.clone(), clients.clone());
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            loop {
                let (sock, _) = tokio::select! {
                    _ = &mut stopped => return,
                    r = listener.accept() => match r {
                        Ok(s) => s,
                        Err(_) => continue,
                    },
                };
                let (acceptor, acc, names, shown) =
                    (acceptor.clone(), acc.clone(), names.clone(), shown.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(sock).await else {
                        return;
                    };
                    acc.fetch_add(1, Ordering::SeqCst);
                    names
                        .lock()
                        .unwrap()
                        .push(tls.get_ref().1.server_name().map(str::to_string));
                    shown.lock().unwrap().push(
                        tls.get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .and_then(fulcrum_tls::info::CertInfo::of)
                            .map(|i| i.subject),
                    );
                    let Ok(mut plain) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
    });
    TlsOrigin {
        addr,
        accepted,
        snis,
        clients,
        _origin: origin,
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// A proxy with backend `b` of one server, `server s1 ADDR OPTS`, behind a clear-text frontend.
fn proxy(global: &str, addr: SocketAddr, opts: &str) -> Proxy {
    let cfg = format!(
        "global\n    nbthread 1\n{global}\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout tunnel 5s\n\nfrontend f\n    bind 127.0.0.1:{}\n    default_backend b\n\nbackend b\n    server s1 {addr} {opts}\n",
        free_port()
    );
    start_proxy(&cfg)
}

#[test]
fn verify_required_with_a_ca_file_reaches_the_server_with_its_sni() {
    let k = pki();
    let o = tls_origin("srv.pem", None);
    let p = proxy(
        "",
        o.addr,
        &format!(
            "ssl verify required ca-file {} sni str(srv.test)",
            k.path("ca.pem")
        ),
    );
    let r = get(p.addr, "/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "Hello from s1\n");
    assert_eq!(*o.snis.lock().unwrap(), vec![Some("srv.test".to_string())]);
}

#[test]
fn keep_alive_reuses_one_tls_connection_and_large_bodies_cross_it() {
    let k = pki();
    let o = tls_origin("srv.pem", None);
    let p = proxy(
        "",
        o.addr,
        &format!(
            "ssl verify required ca-file {} sni str(srv.test)",
            k.path("ca.pem")
        ),
    );
    let mut c = Client::connect(p.addr);
    for _ in 0..3 {
        let r = c.get("/");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // A 1 MiB response, then a 1 MiB upload, on the same client connection.
    let r = c.get("/bytes/1048576");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 1 << 20);
    let body = vec![b'x'; 1 << 20];
    let mut req = format!(
        "POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    c.send(&req);
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text().trim(), "1048576");
    assert_eq!(
        o.accepted.load(Ordering::SeqCst),
        1,
        "the TLS connection to the server was not reused"
    );
    // Another client's second request takes the pooled connection (`http-reuse safe` gives a client's first
    // request a connection of its own).
    let mut c2 = Client::connect(p.addr);
    assert_eq!(c2.get("/").status, 200);
    assert_eq!(c2.get("/").status, 200);
    assert_eq!(o.accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn verification_failures_answer_503_and_checks_mark_the_server_down() {
    let k = pki();
    // A certificate from no known CA.
    let o = tls_origin("self.pem", None);
    let p = proxy(
        "",
        o.addr,
        &format!(
            "ssl verify required ca-file {} sni str(srv.test) check inter 100ms rise 1 fall 1",
            k.path("ca.pem")
        ),
    );
    let server = p.running.as_ref().unwrap().snapshot().servers[0].clone();
    assert!(
        wait_until(Duration::from_secs(3), || !server.is_up()),
        "the check did not mark the server DOWN"
    );
    assert_eq!(
        server.stats.check.last(),
        Some(fulcrum_health::CheckStatus::L6Response)
    );
    let r = get(p.addr, "/");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(o.accepted.load(Ordering::SeqCst), 0);
    drop(p);
    // The right CA, the wrong name: refused too (no check: the request itself meets the failure).
    let o = tls_origin("srv.pem", None);
    let p = proxy(
        "",
        o.addr,
        &format!(
            "ssl verify required ca-file {} sni str(wrong.test)",
            k.path("ca.pem")
        ),
    );
    let r = get(p.addr, "/");
    assert_eq!(r.status, 503, "{}", r.text());
    let server = &p.running.as_ref().unwrap().snapshot().servers[0];
    assert!(server.stats.err_conn.load(Ordering::Relaxed) >= 1);
    // The same server checked with the right name over TLS is UP (Layer6 on a TCP check).
    drop(p);
    let p = proxy(
        "",
        o.addr,
        &format!(
            "ssl verify required ca-file {} check-sni srv.test check inter 100ms rise 1 fall 1",
            k.path("ca.pem")
        ),
    );
    let server = p.running.as_ref().unwrap().snapshot().servers[0].clone();
    assert!(wait_until(Duration::from_secs(3), || server
        .stats
        .check
        .last()
        .is_some()));
    assert_eq!(
        server.stats.check.last(),
        Some(fulcrum_health::CheckStatus::L6Ok)
    );
    assert!(server.is_up());
}

#[test]
fn verify_none_accepts_a_self_signed_server_and_no_sni_checks_the_chain_only() {
    let k = pki();
    let o = tls_origin("self.pem", None);
    let p = proxy("", o.addr, "ssl verify none");
    let r = get(p.addr, "/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(*o.snis.lock().unwrap(), vec![None]);
    drop(p);
    // `ssl-server-verify none` in global makes it the default.
    let p = proxy("    ssl-server-verify none", o.addr, "ssl");
    assert_eq!(get(p.addr, "/").status, 200);
    drop(p);
    // Without an SNI, HAProxy verifies the chain and not the name: the CA's certificate for srv.test passes
    // though the proxy connects to 127.0.0.1.
    let o = tls_origin("srv.pem", None);
    let p = proxy("", o.addr, &format!("ssl ca-file {}", k.path("ca.pem")));
    assert_eq!(get(p.addr, "/").status, 200);
}

#[test]
fn sni_from_the_request_host_keys_the_pool() {
    let k = pki();
    let o = tls_origin("self.pem", None);
    let p = proxy("", o.addr, "ssl verify none sni req.hdr(host)");
    let mut c = Client::connect(p.addr);
    for host in ["a.test", "b.test", "a.test"] {
        c.send(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        let r = c.read_response(false);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let snis = o.snis.lock().unwrap().clone();
    assert_eq!(
        snis,
        vec![Some("a.test".to_string()), Some("b.test".to_string())],
        "a connection opened for one name served another"
    );
    let _ = k;
}

#[test]
fn mutual_tls_with_a_client_certificate() {
    let k = pki();
    let o = tls_origin("srv.pem", Some("ca.pem"));
    let p = proxy(
        "",
        o.addr,
        &format!("ssl verify required ca-file {}", k.path("ca.pem")),
    );
    // Under TLS 1.3 the server judges the client's certificate after the proxy's handshake is over: its refusal
    // then arrives instead of a response (502); under TLS 1.2 it fails the handshake (503).
    let status = get(p.addr, "/").status;
    assert!(
        status == 502 || status == 503,
        "no client certificate passed: {status}"
    );
    drop(p);
    let p = proxy(
        "    crt-base /nonexistent-but-absolute-paths-win",
        o.addr,
        &format!(
            "ssl verify required ca-file {} crt {}",
            k.path("ca.pem"),
            k.path("client.pem")
        ),
    );
    let r = get(p.addr, "/");
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The runtime API's answer to `input`, on the stats socket at `path`.
fn cli(path: &std::path::Path, input: &str) -> String {
    use std::io::{Read, Write};
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
fn a_client_certificate_replaced_through_the_runtime_api_is_shown_from_the_next_connection() {
    let k = pki();
    let o = tls_origin("srv.pem", Some("ca.pem"));
    let crt = k.path("client.pem");
    let sock = k.dir.join(format!("admin-{}.sock", free_port()));
    // Two servers share the file (one entry, two users); connections are not kept, sessions are (resumption).
    let servers = |addr: SocketAddr| {
        format!(
            "    server s1 {addr} ssl verify required ca-file {ca} crt {crt}\n    server s2 {addr} ssl verify required ca-file {ca} crt {crt}\n",
            ca = k.path("ca.pem")
        )
    };
    let cfg = |sock: &std::path::Path, port: u16| {
        format!(
            "global\n    nbthread 1\n    stats socket {} level admin\ndefaults\n    mode http\n    option httpclose\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\nfrontend f\n    bind 127.0.0.1:{port}\n    default_backend b\n\nbackend b\n{}",
            sock.display(),
            servers(o.addr)
        )
    };
    let p = start_proxy(&cfg(&sock, free_port()));
    assert_eq!(
        cli(&sock, "show ssl cert\n"),
        format!("# filename\n{crt}\n\n")
    );
    let shown = cli(&sock, &format!("show ssl cert {crt}\n"));
    assert!(
        shown.starts_with(&format!("Filename: {crt}\nStatus: Used\nSerial: ")),
        "{shown}"
    );
    assert!(
        shown.contains("\nSubject: /C=FR/O=Fulcrum Tests/CN=proxy client\n"),
        "{shown}"
    );
    // The real HAProxy lists and shows the same.
    if haproxy_present() {
        let hsock = k.dir.join(format!("admin-h-{}.sock", free_port()));
        let port = free_port();
        let h = start_haproxy(
            &cfg(&hsock, port),
            format!("127.0.0.1:{port}").parse().unwrap(),
        );
        assert_eq!(
            cli(&hsock, "show ssl cert\n"),
            format!("# filename\n{crt}\n\n")
        );
        assert_eq!(cli(&hsock, &format!("show ssl cert {crt}\n")), shown);
        drop(h);
    }
    for _ in 0..3 {
        let r = get(p.addr, "/");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let first = Some("/C=FR/O=Fulcrum Tests/CN=proxy client".to_string());
    assert!(
        o.clients.lock().unwrap().iter().all(|c| *c == first),
        "{:?}",
        o.clients.lock().unwrap()
    );
    let pem = std::fs::read_to_string(k.path("client2.pem")).unwrap();
    assert_eq!(
        cli(&sock, &format!("set ssl cert {crt} <<\n{pem}\n")),
        format!("Transaction created for certificate {crt}!\n\n")
    );
    // A dot per server using the file, as HAProxy counts them.
    assert_eq!(
        cli(&sock, &format!("commit ssl cert {crt}\n")),
        format!("Committing {crt}..\nSuccess!\n\n")
    );
    assert!(cli(&sock, &format!("show ssl cert {crt}\n")).contains("CN=proxy client two\n"));
    let before = o.clients.lock().unwrap().len();
    for _ in 0..3 {
        let r = get(p.addr, "/");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Every new connection shows the new certificate: none resumed a session made with the old one.
    let after: Vec<_> = o.clients.lock().unwrap()[before..].to_vec();
    assert_eq!(
        after,
        vec![Some("/C=FR/O=Fulcrum Tests/CN=proxy client two".to_string()); 3]
    );
    // Deleted servers no longer use the file.
    for s in ["s1", "s2"] {
        cli(&sock, &format!("disable server b/{s}\n"));
        assert_eq!(
            cli(&sock, &format!("del server b/{s}\n")),
            "Server deleted.\n"
        );
    }
    assert!(cli(&sock, &format!("show ssl cert {crt}\n")).contains("\nStatus: Unused\n"));
    // Refusals: an unknown verify method, a verification without CAs, a missing file.
    assert_eq!(
        cli(
            &sock,
            &format!("add server b/s4 {} ssl verify bogus\n", o.addr)
        ),
        "'verify' : unknown verify method 'bogus', only 'none' and 'required' are supported.\n\n"
    );
    let r = cli(&sock, &format!("add server b/s4 {} ssl\n", o.addr));
    assert!(r.contains("no CA file"), "{r}");
    let r = cli(
        &sock,
        &format!(
            "add server b/s4 {} ssl verify none crt /nonexistent.pem\n",
            o.addr
        ),
    );
    assert!(r.contains("/nonexistent.pem"), "{r}");
    // A server added at run time with the file shows what was committed.
    assert_eq!(
        cli(
            &sock,
            &format!(
                "add server b/s3 {} ssl verify required ca-file {} crt {crt}\n",
                o.addr,
                k.path("ca.pem")
            )
        ),
        "New server registered.\n\n"
    );
    cli(&sock, "enable server b/s3\n");
    assert!(cli(&sock, &format!("show ssl cert {crt}\n")).contains("\nStatus: Used\n"));
    let before = o.clients.lock().unwrap().len();
    let r = get(p.addr, "/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        o.clients.lock().unwrap()[before..],
        [Some(
            "/C=FR/O=Fulcrum Tests/CN=proxy client two".to_string()
        )]
    );
    drop(p);
}

#[test]
fn websocket_through_a_tls_server_connection() {
    let o = tls_origin("self.pem", None);
    let p = proxy("", o.addr, "ssl verify none");
    let mut c = Client::connect(p.addr);
    c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    let r = c.read_response(true);
    assert_eq!(r.status, 101, "{}", r.text());
    c.send(b"ping-through-tls");
    let mut got = [0u8; 16];
    use std::io::Read;
    c.reader.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping-through-tls");
}

/// A configuration fulcrum refuses naming the server line (line 7); `haproxy_too`: the real `haproxy -c`
/// refuses it as well.
fn refused(global: &str, opts: &str, want: &str, haproxy_too: bool) {
    let cfg = format!(
        "global\n{global}\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nbackend b\n    server s1 127.0.0.1:{} {opts}\n",
        free_port()
    );
    let line = cfg.lines().position(|l| l.contains("server s1")).unwrap() + 1;
    let path = pki().dir.join(format!("refused-{}.cfg", free_port()));
    std::fs::write(&path, &cfg).unwrap();
    if haproxy_too && haproxy_present() {
        let out = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            !out.status.success() && out.status.code() != Some(2),
            "haproxy accepts '{opts}'"
        );
    }
    let err = match fulcrum_config::haproxy::parse_str("t.cfg", &cfg) {
        Err(e) => e.to_string(),
        Ok(c) => match fulcrum_proxy::check(&c) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("fulcrum accepts '{opts}'"),
        },
    };
    assert!(err.contains(&format!("t.cfg:{line}")), "{opts}: {err}");
    assert!(err.contains(want), "{opts}: {err}");
}

#[test]
fn broken_server_tls_settings_are_refused_with_the_server_line() {
    let k = pki();
    refused("", "ssl", "no CA file", true);
    refused("", "ssl verify required", "no CA file", true);
    refused("", "ssl verify optional", "unknown verify method", true);
    refused(
        "",
        "ssl verify none crt /nonexistent.pem",
        "nonexistent.pem",
        true,
    );
    refused(
        "",
        "ssl verify required ca-file /nonexistent-ca.pem",
        "nonexistent-ca.pem",
        true,
    );
    refused(
        "",
        &format!("ssl verify none crt {}", k.path("srv.crt")),
        "No Private Key found",
        true,
    );
    refused("", "ssl verify none ssl-min-ver TLSv9", "TLSv9", true);
    refused("", "ssl verify none sni nosuchfetch(x)", "sni", true);
    // HAProxy accepts these; fulcrum cannot honour them.
    refused("", "ssl verify none ciphers FOO", "FOO", false);
    refused(
        "",
        "ssl verify none force-tlsv11",
        "no protocol version left",
        false,
    );
}

/// A tcp-mode proxy with backend `b` of one server, `server s1 ADDR OPTS`, behind a clear-text frontend.
fn tcp_proxy(addr: SocketAddr, opts: &str) -> Proxy {
    let cfg = format!(
        "global\n    nbthread 1\n\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\nfrontend f\n    bind 127.0.0.1:{}\n    default_backend b\n\nbackend b\n    server s1 {addr} {opts}\n",
        free_port()
    );
    start_proxy(&cfg)
}

/// Sends one HTTP/1.1 request over a tcp-mode proxy and reads until the server closes.
fn tcp_exchange(addr: SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn ssl_towards_servers_of_a_tcp_backend() {
    let k = pki();
    let o = tls_origin("srv.pem", None);
    // Verified against the CA, with the SNI and an ALPN offer; the bytes cross both ways.
    let p = tcp_proxy(
        o.addr,
        &format!(
            "ssl verify required ca-file {} sni str(srv.test) alpn http/1.1",
            k.path("ca.pem")
        ),
    );
    let r = tcp_exchange(p.addr);
    assert!(
        r.starts_with("HTTP/1.1 200") && r.ends_with("Hello from s1\n"),
        "{r}"
    );
    assert_eq!(*o.snis.lock().unwrap(), vec![Some("srv.test".to_string())]);
    // A client certificate for mutual TLS, and sessions resumed by the next connections.
    drop(p);
    let m = tls_origin("srv.pem", Some("ca.pem"));
    let p = tcp_proxy(
        m.addr,
        &format!(
            "ssl verify required ca-file {ca} crt {crt} sni str(srv.test)",
            ca = k.path("ca.pem"),
            crt = k.path("client.pem")
        ),
    );
    for _ in 0..3 {
        let r = tcp_exchange(p.addr);
        assert!(r.ends_with("Hello from s1\n"), "{r}");
    }
    assert_eq!(m.accepted.load(Ordering::SeqCst), 3);
    drop(p);
    // A certificate that does not verify: the connection fails (retried, then closed), the check says L6RSP.
    let bad = tls_origin("self.pem", None);
    let p = tcp_proxy(
        bad.addr,
        &format!(
            "ssl verify required ca-file {} sni str(srv.test) check inter 100ms rise 1 fall 1",
            k.path("ca.pem")
        ),
    );
    let server = p.running.as_ref().unwrap().snapshot().servers[0].clone();
    assert!(
        wait_until(Duration::from_secs(3), || !server.is_up()),
        "the check did not mark the server DOWN"
    );
    assert_eq!(
        server.stats.check.last(),
        Some(fulcrum_health::CheckStatus::L6Response)
    );
    assert_eq!(tcp_exchange(p.addr), "");
    assert_eq!(bad.accepted.load(Ordering::SeqCst), 0);
    drop(p);
    // `verify none` accepts it, and the check over TLS (`check-ssl` on the traffic port) passes.
    let p = tcp_proxy(
        bad.addr,
        "ssl verify none check check-ssl inter 100ms rise 1 fall 1",
    );
    let server = p.running.as_ref().unwrap().snapshot().servers[0].clone();
    assert!(wait_until(Duration::from_secs(3), || server
        .stats
        .check
        .last()
        .is_some()));
    assert_eq!(
        server.stats.check.last(),
        Some(fulcrum_health::CheckStatus::L6Ok)
    );
    let r = tcp_exchange(p.addr);
    assert!(r.ends_with("Hello from s1\n"), "{r}");
}

#[test]
fn server_side_tls_fetches_in_response_rules() {
    let k = pki();
    let o = tls_origin("srv.pem", None);
    // `http-reuse never`: each client connection opens its own server connection, so the second one resumes
    // the session the first one got.
    let rules = "\n    http-reuse never\n    http-response set-header X-BC \"%[ssl_bc] %[ssl_bc_protocol] %[ssl_bc_cipher] %[ssl_bc_alpn] %[ssl_bc_use_keysize] %[ssl_bc_alg_keysize] %[ssl_bc_is_resumed]\"\n    http-response set-header X-BC-Acl yes if { ssl_bc } { ssl_bc_protocol TLSv1.3 }\n    http-response set-header X-S \"%[ssl_s_s_dn]|%[ssl_s_i_dn]|%[ssl_s_serial,hex]|%[ssl_s_der,hex,length]|%[ssl_s_sha1,hex]|%[ssl_s_version]\"";
    let p = proxy(
        "",
        o.addr,
        &format!(
            "ssl verify required ca-file {} sni str(srv.test) alpn http/1.1{rules}",
            k.path("ca.pem")
        ),
    );
    let first = get(p.addr, "/");
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(
        first.header("x-bc"),
        Some("1 TLSv1.3 TLS_AES_128_GCM_SHA256 http/1.1 128 128 0")
    );
    assert_eq!(first.header("x-bc-acl"), Some("yes"));
    // The server's certificate, as openssl reads it.
    let x509 = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(["x509", "-in", &k.path("srv.pem"), "-noout"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let serial = x509(&["-serial"]).trim_start_matches("serial=").to_string();
    let der_len = Command::new("openssl")
        .args(["x509", "-in", &k.path("srv.pem"), "-outform", "DER"])
        .output()
        .unwrap()
        .stdout
        .len();
    let s_header = first.header("x-s").unwrap_or_default().to_string();
    let parts: Vec<&str> = s_header.split('|').collect();
    assert_eq!(parts.len(), 6, "{s_header}");
    let sha1 = x509(&["-fingerprint", "-sha1"]);
    assert_eq!(
        parts[4],
        sha1.split_once('=').map_or("", |(_, f)| f).replace(':', "")
    );
    assert_eq!(parts[5], "3");
    assert!(parts[0].ends_with("CN=srv.test"), "{s_header}");
    assert!(parts[1].contains("CN="), "{s_header}");
    assert_eq!(
        parts[2].trim_start_matches('0'),
        serial.trim_start_matches('0')
    );
    assert_eq!(parts[3], (2 * der_len).to_string());
    let second = get(p.addr, "/");
    assert_eq!(
        second.header("x-bc"),
        Some("1 TLSv1.3 TLS_AES_128_GCM_SHA256 http/1.1 128 128 1")
    );
    drop(p);
    // A clear-text server: `ssl_bc` and `ssl_bc_is_resumed` are false, the others have no value (haproxy 2.6
    // gives 0 for both on clear text, observed).
    let p = proxy("", o._origin.addr(), rules);
    let r = get(p.addr, "/");
    assert_eq!(r.header("x-bc"), Some("0      0"));
    assert_eq!(r.header("x-bc-acl"), None);
    drop(p);
    // `tcp-response content` rules of a tcp backend see the server's session.
    let p = tcp_proxy(
        o.addr,
        &format!(
            "ssl verify required ca-file {} sni str(srv.test)\n    tcp-response inspect-delay 1s\n    tcp-response content accept if {{ ssl_bc_protocol TLSv1.3 }} {{ ssl_bc }}\n    tcp-response content reject",
            k.path("ca.pem")
        ),
    );
    let r = tcp_exchange(p.addr);
    assert!(r.ends_with("Hello from s1\n"), "{r}");
    drop(p);
    let p = tcp_proxy(
        o.addr,
        &format!(
            "ssl verify required ca-file {} sni str(srv.test)\n    tcp-response inspect-delay 1s\n    tcp-response content accept if {{ ssl_bc_protocol TLSv1.2 }}\n    tcp-response content reject",
            k.path("ca.pem")
        ),
    );
    assert_eq!(tcp_exchange(p.addr), "");
}

#[test]
fn server_side_fetches_are_refused_before_the_server_connection() {
    let cfg = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend f\n    bind 127.0.0.1:{}\n    http-request set-header X %[ssl_bc_cipher]\n    default_backend b\nbackend b\n    server s1 127.0.0.1:{} ssl verify none\n",
        free_port(),
        free_port()
    );
    assert!(!haproxy_takes(&cfg));
    let c = fulcrum_config::haproxy::parse_str("t.cfg", &cfg);
    let err = match c {
        Err(e) => e.to_string(),
        Ok(c) => fulcrum_proxy::check(&c).unwrap_err().to_string(),
    };
    assert!(
        err.contains("t.cfg:8") && err.contains("connection to the server"),
        "{err}"
    );
}

/// Whether the real haproxy accepts `cfg` (false when it refuses it, or when it is not installed): HAProxy
/// refuses what fulcrum refuses.
fn haproxy_takes(cfg: &str) -> bool {
    let path = std::env::temp_dir().join(format!("fulcrum-h-{}.cfg", std::process::id()));
    std::fs::write(&path, cfg).unwrap();
    let ok = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&path)
        .output()
        .is_ok_and(|o| o.status.success());
    let _ = std::fs::remove_file(&path);
    ok
}

/// Receives the first log datagram sent to `sock` (5 s at most).
fn one_log_line(sock: &std::net::UdpSocket) -> String {
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = sock.recv(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn server_side_tls_fetches_in_log_formats() {
    let k = pki();
    let o = tls_origin("srv.pem", None);
    for mode in ["http", "tcp"] {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let cfg = format!(
            "global\n    nbthread 1\n    log {log} local0\n\ndefaults\n    mode {mode}\n    log global\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\nfrontend f\n    bind 127.0.0.1:{port}\n    log-format \"fc=%[ssl_fc] bc=%[ssl_bc] %[ssl_bc_protocol] %[ssl_bc_cipher] %[ssl_bc_is_resumed] end\"\n    default_backend b\n\nbackend b\n    server s1 {addr} ssl verify required ca-file {ca} sni str(srv.test)\n",
            log = sock.local_addr().unwrap(),
            port = free_port(),
            addr = o.addr,
            ca = k.path("ca.pem"),
        );
        let p = start_proxy(&cfg);
        let r = tcp_exchange(p.addr);
        assert!(r.ends_with("Hello from s1\n"), "{r}");
        let line = one_log_line(&sock);
        assert!(
            line.trim_end()
                .ends_with("fc=0 bc=1 TLSv1.3 TLS_AES_128_GCM_SHA256 0 end"),
            "{mode}: {line}"
        );
    }
}

/// `set server B/S ssl on|off` turns TLS towards a server on and off for its next connections, when the server
/// has TLS settings (its line or its `default-server` wrote `ssl` or `check-ssl`); `show servers state` shows
/// it in `srv_use_ssl` (-1 where `no-ssl` is written). The answers are haproxy 2.6's, compared on the same
/// configuration (reg-test server/cli_set_ssl).
#[test]
fn set_server_ssl_turns_tls_towards_a_server_on_and_off() {
    let o = tls_origin("self.pem", None);
    let config = |sock: &std::path::Path, port: u16| {
        format!(
            "global\n    nbthread 1\n    ssl-server-verify none\n    stats socket {} level admin\ndefaults\n    mode http\n    retries 0\n    http-reuse never\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\nfrontend f\n    bind 127.0.0.1:{port}\n    default_backend b\n\nbackend b\n    server plain {addr} no-ssl\n    default-server ssl\n    server www1 {addr} no-ssl\n    server www2 {addr}\n\nbackend c\n    default-server check-ssl\n    server c1 {addr}\n",
            sock.display(),
            addr = o.addr
        )
    };
    let commands = [
        "show servers state b\n",
        "set server b/www1 ssl on\n",
        "set server b/www2 ssl off\n",
        "show servers state b\n",
        "set server b/plain ssl on\n",
        "set server b/www1 ssl maybe\n",
        "set server b/www1 ssl\n",
        "set server c/c1 ssl on\n",
        "show servers state c\n",
    ];
    // Only the `srv_time_since_last_change` column may differ between two processes started apart.
    let stable = |a: &str| -> String {
        a.lines()
            .map(|l| {
                let mut w: Vec<&str> = l.split(' ').collect();
                if w.len() == 25 {
                    w[9] = "T";
                }
                w.join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let dir = std::env::temp_dir();
    let fsock = dir.join(format!(
        "fulcrum-setssl-{}-{}.sock",
        std::process::id(),
        free_port()
    ));
    let p = start_proxy(&config(&fsock, free_port()));
    let ours: Vec<String> = commands.iter().map(|c| stable(&cli(&fsock, c))).collect();
    assert!(
        ours[0].contains(&format!(
            "3 b 1 plain 127.0.0.1 2 0 1 1 T 1 0 2 0 0 0 0 - {} - -1 0 - - 0",
            o.addr.port()
        )),
        "{}",
        ours[0]
    );
    assert_eq!(ours[1], "server ssl setting updated.\n");
    assert!(
        ours[3].contains(" www1 ")
            && ours[3].contains(&format!("{} - 1 0 - - 0\n3 b 3 www2", o.addr.port())),
        "{}",
        ours[3]
    );
    assert_eq!(
        ours[4],
        "'set server <srv> ssl' cannot be set.  default-server should define ssl settings\n"
    );
    if haproxy_present() {
        let hsock = dir.join(format!(
            "haproxy-setssl-{}-{}.sock",
            std::process::id(),
            free_port()
        ));
        let port = free_port();
        let h = start_haproxy(
            &config(&hsock, port),
            format!("127.0.0.1:{port}").parse().unwrap(),
        );
        let theirs: Vec<String> = commands.iter().map(|c| stable(&cli(&hsock, c))).collect();
        drop(h);
        for ((c, a), b) in commands.iter().zip(&ours).zip(&theirs) {
            assert_eq!(a, b, "fulcrum and haproxy answer differently to {c}");
        }
    }
    // Traffic follows: www1 (now TLS) reaches the TLS server, www2 (now clear text) does not.
    let before = o.accepted.load(Ordering::SeqCst);
    let statuses: Vec<u16> = (0..4).map(|_| get(p.addr, "/").status).collect();
    // Clear text to a TLS server: no HTTP answer (502).
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 502),
        "{statuses:?}"
    );
    assert_eq!(
        o.accepted.load(Ordering::SeqCst) - before,
        statuses.iter().filter(|s| **s == 200).count()
    );
    assert_eq!(
        cli(&fsock, "set server b/www2 ssl on\n"),
        "server ssl setting updated.\n\n"
    );
    assert_eq!(cli(&fsock, "set server b/plain state maint\n"), "\n");
    let statuses: Vec<u16> = (0..4).map(|_| get(p.addr, "/").status).collect();
    assert_eq!(statuses, [200; 4]);
}

/// `sni var(sess.NAME)`: the server name comes from a session variable the frontend's rules set (as
/// ssl/ssl_generate_certificate does); a connection opened for one name serves no other.
#[test]
fn sni_from_a_session_variable() {
    let o = tls_origin("self.pem", None);
    let cfg = format!(
        "global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\nfrontend f\n    bind 127.0.0.1:{}\n    http-request set-var(sess.sni) hdr(x-sni)\n    default_backend b\n\nbackend b\n    server s1 {} ssl verify none sni var(sess.sni)\n",
        free_port(),
        o.addr
    );
    let p = start_proxy(&cfg);
    for name in ["a.test", "b.test"] {
        let mut c = Client::connect(p.addr);
        c.send(format!("GET / HTTP/1.1\r\nHost: x\r\nx-sni: {name}\r\n\r\n").as_bytes());
        let r = c.read_response(false);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(
        o.snis.lock().unwrap().clone(),
        vec![Some("a.test".to_string()), Some("b.test".to_string())]
    );
}
