//! The PROXY protocol through real sockets: `bind ... accept-proxy` (v1 and v2, with TLVs; a missing or bad
//! header closes the connection), `tcp-request connection expect-proxy layer4`, the header's addresses in `src`,
//! `dst`, ports and `X-Forwarded-For`, the `fc_*` fetches, `send-proxy` / `send-proxy-v2` towards servers in both
//! modes, `check-send-proxy`, and interoperation with the real haproxy 2.6 in both directions.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use fulcrum_proxyproto::{self as pp, Decoded};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A frontend answering itself with what it knows of the client, in response headers.
fn echo_frontend(bind_opts: &str, extra: &str) -> String {
    format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{} {bind_opts}
{extra}    http-after-response set-header x-src %[src]:%[src_port]
    http-after-response set-header x-dst %[dst]:%[dst_port]
    http-after-response set-header x-rcvd %[fc_rcvd_proxy]
    http-after-response set-header x-authority %[fc_pp_authority]
    http-after-response set-header x-unique-id %[fc_pp_unique_id]
    http-request return status 200
",
        free_port()
    )
}

fn v2(src: &str, dst: &str, tlvs: Vec<pp::Tlv>, crc32c: bool) -> Vec<u8> {
    let mut out = Vec::new();
    pp::V2 {
        addrs: Some((sa(src), sa(dst))),
        tlvs,
        crc32c,
    }
    .encode(&mut out);
    out
}

#[test]
fn accept_proxy_v1_gives_the_client_addresses() {
    let p = start_proxy(&echo_frontend("accept-proxy", ""));
    let mut c = Client::connect(p.addr);
    c.send(b"PROXY TCP4 192.0.2.7 198.51.100.9 40000 8443\r\n");
    let r = c.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-src"), Some("192.0.2.7:40000"));
    assert_eq!(r.header("x-dst"), Some("198.51.100.9:8443"));
    assert_eq!(r.header("x-rcvd"), Some("1"));
    assert_eq!(r.header("x-authority"), Some(""));
    // The header opens the connection once: the next request on it keeps the same client.
    let r = c.get("/again");
    assert_eq!(r.header("x-src"), Some("192.0.2.7:40000"));
    // IPv6, header and request in one segment.
    let mut c = Client::connect(p.addr);
    c.send(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.header("x-src"), Some("2001:db8::1:1"));
    // UNKNOWN keeps the connection's own addresses.
    let mut c = Client::connect(p.addr);
    let local = c.reader.get_ref().local_addr().unwrap();
    c.send(b"PROXY UNKNOWN\r\n");
    let r = c.get("/");
    assert_eq!(r.header("x-src"), Some(&*local.to_string()));
    assert_eq!(r.header("x-rcvd"), Some("1"));
}

#[test]
fn accept_proxy_v2_with_tlvs_in_pieces() {
    let p = start_proxy(&echo_frontend("accept-proxy", ""));
    let header = v2(
        "10.1.2.3:5555",
        "10.9.9.9:443",
        vec![
            pp::Tlv::new(pp::kind::AUTHORITY, "www.example.com"),
            pp::Tlv::new(pp::kind::UNIQUE_ID, "abc-123"),
            pp::Tlv::new(pp::kind::NOOP, vec![0; 5]),
        ],
        true,
    );
    let mut c = Client::connect(p.addr);
    // The header arrives in three pieces: the proxy waits for all of it.
    c.send(&header[..5]);
    std::thread::sleep(Duration::from_millis(50));
    c.send(&header[5..20]);
    std::thread::sleep(Duration::from_millis(50));
    c.send(&header[20..]);
    let r = c.get("/");
    assert_eq!(r.header("x-src"), Some("10.1.2.3:5555"));
    assert_eq!(r.header("x-dst"), Some("10.9.9.9:443"));
    assert_eq!(r.header("x-authority"), Some("www.example.com"));
    assert_eq!(r.header("x-unique-id"), Some("abc-123"));
    // A LOCAL header (a health check of the proxy in front) keeps the real addresses.
    let mut local_hdr = Vec::new();
    pp::V2::default().encode(&mut local_hdr);
    let mut c = Client::connect(p.addr);
    let me = c.reader.get_ref().local_addr().unwrap();
    c.send(&local_hdr);
    let r = c.get("/");
    assert_eq!(r.header("x-src"), Some(&*me.to_string()));
}

#[test]
fn bad_or_missing_headers_close_the_connection() {
    let p = start_proxy(&echo_frontend("accept-proxy", ""));
    let mut bad_crc = v2("1.2.3.4:1", "5.6.7.8:2", vec![], true);
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 1;
    let overflow = {
        let mut h = v2("1.2.3.4:1", "5.6.7.8:2", vec![], false);
        // Announce 4 TLV bytes, send a TLV claiming 10.
        h[15] += 4;
        h.extend_from_slice(&[0x02, 0x00, 0x0a, b'x']);
        h
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no header", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("bad v1", b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n".to_vec()),
        (
            "v1 too long",
            [&b"PROXY UNKNOWN "[..], &[b'a'; 120]].concat(),
        ),
        ("bad crc32c", bad_crc),
        ("tlv overflow", overflow),
    ];
    for (what, bytes) in cases {
        let mut c = Client::connect(p.addr);
        c.send(&bytes);
        let _ = c
            .reader
            .get_mut()
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            c.closed_within(Duration::from_secs(3)),
            "{what}: still open"
        );
    }
}

#[test]
fn expect_proxy_rule_applies_to_matching_sources() {
    let p = start_proxy(&echo_frontend(
        "",
        "    tcp-request connection expect-proxy layer4 if { src 127.0.0.2 }\n",
    ));
    // From 127.0.0.1: no header expected.
    let r = get(p.addr, "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-rcvd"), Some("0"));
    // From 127.0.0.2: a header is required.
    let mut c = Client::connect_from(p.addr, "127.0.0.2");
    c.send(b"PROXY TCP4 203.0.113.5 203.0.113.6 7 8\r\n");
    let r = c.get("/");
    assert_eq!(r.header("x-src"), Some("203.0.113.5:7"));
    let mut c = Client::connect_from(p.addr, "127.0.0.2");
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(c.closed_within(Duration::from_secs(3)));
}

/// A server that records the first bytes of each connection it accepts (a PROXY header and a request head, or
/// what arrives within 300 ms), answers an HTTP 200 and closes.
fn recording_server() -> (SocketAddr, mpsc::Receiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_millis(300)))
                    .unwrap();
                let mut all = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    all.extend_from_slice(&buf[..n]);
                    // The end of the request head, after the PROXY header (a v2 one holds CR LF CR LF).
                    let head = match pp::decode(&all) {
                        Ok(Decoded::Done { len, .. }) => len,
                        Ok(Decoded::Incomplete) => continue,
                        Err(_) => 0,
                    };
                    if all[head..].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
                let _ = tx.send(all);
            });
        }
    });
    (addr, rx)
}

fn decode_all(bytes: &[u8]) -> (pp::Header, &[u8]) {
    match pp::decode(bytes) {
        Ok(Decoded::Done { header, len }) => (header, &bytes[len..]),
        other => panic!("{other:?}: {:?}", String::from_utf8_lossy(bytes)),
    }
}

#[test]
fn send_proxy_v1_and_v2_in_http_mode() {
    let (srv, rx) = recording_server();
    let fe_port = free_port();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{fe_port} accept-proxy
    option forwardfor
    use_backend v2 if {{ path_beg /v2 }}
    default_backend v1
backend v1
    server s {srv} send-proxy
backend v2
    server s {srv} send-proxy-v2 proxy-v2-options crc32c,authority,unique-id
"
    );
    let p = start_proxy(&cfg);
    let mut c = Client::connect(p.addr);
    c.send(b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 2000\r\n");
    assert_eq!(c.get("/v1").status, 200);
    let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        got.starts_with(b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 2000\r\nGET /v1 HTTP/1.1\r\n"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    // The header's client is the one X-Forwarded-For names.
    assert!(String::from_utf8_lossy(&got)
        .to_ascii_lowercase()
        .contains("x-forwarded-for: 192.0.2.1\r\n"));
    // Without a header from the client, the connection's own addresses go to the server.
    let mut c = Client::connect(p.addr);
    let me = c.reader.get_ref().local_addr().unwrap();
    c.send(b"PROXY UNKNOWN\r\n");
    assert_eq!(c.get("/v2").status, 200);
    let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let (h, rest) = decode_all(&got);
    assert_eq!(h.version, pp::Version::V2);
    assert_eq!(h.source(), Some(me));
    assert_eq!(h.destination(), Some(p.addr));
    // The checksum was there, and right (decode checks it).
    assert!(h.tlv(pp::kind::CRC32C).is_some());
    // No TLS and no unique-id-format: nothing to say for those.
    assert_eq!(h.tlv(pp::kind::AUTHORITY), None);
    assert!(rest.starts_with(b"GET /v2 HTTP/1.1\r\n"));
}

#[test]
fn tcp_mode_accepts_and_sends_proxy() {
    let (srv, rx) = recording_server();
    let cfg = format!(
        "global
    nbthread 1
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{} accept-proxy
    default_backend be
backend be
    server s {srv} send-proxy-v2
",
        free_port()
    );
    let p = start_proxy(&cfg);
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&v2("[2001:db8::7]:4444", "[2001:db8::8]:80", vec![], false))
        .unwrap();
    s.write_all(b"hello\r\n\r\n").unwrap();
    let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let (h, rest) = decode_all(&got);
    assert_eq!(h.source(), Some(sa("[2001:db8::7]:4444")));
    assert_eq!(h.destination(), Some(sa("[2001:db8::8]:80")));
    assert_eq!(rest, b"hello\r\n\r\n");
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    assert!(reply.ends_with("ok"), "{reply:?}");
}

#[test]
fn checks_send_proxy_unknown() {
    let (srv, rx) = recording_server();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    default_backend be
backend be
    server s {srv} check inter 200ms check-send-proxy
",
        free_port()
    );
    let _p = start_proxy(&cfg);
    let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(got, b"PROXY UNKNOWN\r\n");
    drop(_p);
    // Version 2 traffic: the checks on the same port say LOCAL.
    let (srv, rx) = recording_server();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    default_backend be
backend be
    server s {srv} check inter 200ms send-proxy-v2
",
        free_port()
    );
    let _p = start_proxy(&cfg);
    let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let (h, rest) = decode_all(&got);
    assert_eq!(h.command, pp::Command::Local);
    assert!(rest.is_empty());
}

#[test]
fn interop_with_haproxy_both_ways() {
    if !haproxy_present() {
        return;
    }
    // haproxy send-proxy-v2 -> fulcrum accept-proxy
    let fulcrum = start_proxy(&echo_frontend("accept-proxy", ""));
    let hx_addr = sa(&format!("127.0.0.1:{}", free_port()));
    let hx_cfg = format!(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen l
    bind {hx_addr}
    server f {} send-proxy-v2 proxy-v2-options crc32c
",
        fulcrum.addr
    );
    haproxy_accepts(&hx_cfg);
    let _hx = start_haproxy(&hx_cfg, hx_addr);
    let mut c = Client::connect(hx_addr);
    let me = c.reader.get_ref().local_addr().unwrap();
    let r = c.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-rcvd"), Some("1"));
    assert_eq!(r.header("x-src"), Some(&*me.to_string()));
    assert_eq!(r.header("x-dst"), Some(&*hx_addr.to_string()));

    // fulcrum send-proxy / send-proxy-v2 -> haproxy accept-proxy
    for opt in ["send-proxy", "send-proxy-v2 proxy-v2-options crc32c"] {
        let hx_addr = sa(&format!("127.0.0.1:{}", free_port()));
        let hx_cfg = format!(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend f
    bind {hx_addr} accept-proxy
    http-request return status 200 hdr x-src \"%[src]:%[src_port]\" hdr x-dst \"%[dst]:%[dst_port]\" hdr x-rcvd \"%[fc_rcvd_proxy]\"
"
        );
        let _hx = start_haproxy(&hx_cfg, hx_addr);
        let cfg = format!(
            "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    default_backend be
backend be
    server h {hx_addr} {opt}
",
            free_port()
        );
        let p = start_proxy(&cfg);
        let mut c = Client::connect(p.addr);
        let me = c.reader.get_ref().local_addr().unwrap();
        let r = c.get("/");
        assert_eq!(r.status, 200, "{opt}");
        assert_eq!(r.header("x-rcvd"), Some("1"), "{opt}");
        assert_eq!(r.header("x-src"), Some(&*me.to_string()), "{opt}");
        assert_eq!(r.header("x-dst"), Some(&*p.addr.to_string()), "{opt}");
    }
}

#[test]
fn unique_id_in_header_and_proxy_v2() {
    let (srv, rx) = recording_server();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    unique-id-format %{{+X}}o\\ ID-%[req.hdr(in)]-%[path]
    unique-id-header x-unique-id
    default_backend be
backend be
    server s {srv} send-proxy-v2 proxy-v2-options unique-id
",
        free_port()
    );
    let p = start_proxy(&cfg);
    let mut c = Client::connect(p.addr);
    for (i, path) in ["/a", "/b"].iter().enumerate() {
        c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\nin: v{i}\r\n\r\n").as_bytes());
        assert_eq!(c.read_response(false).status, 200);
        let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let (h, rest) = decode_all(&got);
        let want = format!("ID-v{i}-{path}");
        // A new server connection per request: each header names its own request.
        assert_eq!(h.tlv(pp::kind::UNIQUE_ID), Some(want.as_bytes()));
        assert!(String::from_utf8_lossy(rest)
            .to_ascii_lowercase()
            .contains(&format!("x-unique-id: {}\r\n", want.to_ascii_lowercase())));
    }
}

/// curl sends a PROXY v1 line (`--haproxy-protocol`) and then TLS to an `accept-proxy ssl` bind line; the server
/// behind gets a v2 header with the SSL TLV (version, cipher, the client certificate's CN), the authority (SNI)
/// and the ALPN protocol.
#[test]
fn tls_client_facts_in_the_v2_tlvs() {
    let dir = std::env::temp_dir().join(format!("fulcrum-pp-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    common::pki::ca(&dir);
    common::pki::leaf(&dir, "srv", "a.test", &["a.test"], false, false);
    common::pki::leaf(&dir, "client", "client one", &[], false, false);
    let k = common::pki::Pki { dir: dir.clone() };
    let (srv, rx) = recording_server();
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port} accept-proxy ssl crt {} ca-file {} verify optional alpn http/1.1
    default_backend be
backend be
    server s {srv} send-proxy-v2-ssl-cn proxy-v2-options ssl-cipher,authority
",
        k.path("srv.pem"),
        k.path("ca.pem")
    );
    let _p = start_proxy(&cfg);
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "5", "--haproxy-protocol", "--cacert"])
        .arg(k.path("ca.pem"))
        .arg("--cert")
        .arg(k.path("client.pem"))
        .args(["--resolve", &format!("a.test:{port}:127.0.0.1")])
        .arg(format!("https://a.test:{port}/x"))
        .output()
        .unwrap_or_else(|e| panic!("curl is needed: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let (h, rest) = decode_all(&got);
    assert!(rest.starts_with(b"GET /x HTTP/1.1\r\n"));
    assert_eq!(h.tlv(pp::kind::AUTHORITY), Some(&b"a.test"[..]));
    assert_eq!(h.tlv(pp::kind::ALPN), Some(&b"http/1.1"[..]));
    let ssl = h.ssl().unwrap().unwrap();
    assert_eq!(
        ssl.client,
        pp::ssl_client::SSL | pp::ssl_client::CERT_CONN | pp::ssl_client::CERT_SESS
    );
    assert_eq!(ssl.verify, 0);
    assert!(ssl
        .get(pp::kind::SSL_VERSION)
        .unwrap()
        .starts_with(b"TLSv1."));
    assert_eq!(ssl.get(pp::kind::SSL_CN), Some(&b"client one"[..]));
    assert!(!ssl.get(pp::kind::SSL_CIPHER).unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `unique-id-format` in `mode tcp`: the connection's ID goes to the server in the PROXY v2 unique ID and to the
/// access log as `%ID`, as haproxy 2.6 sends and logs it for the same connection.
#[test]
fn unique_id_in_tcp_mode() {
    let (srv, rx) = recording_server();
    let run = |start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>| -> (String, String) {
        let log = common::syslog::Syslog::start();
        let port = free_port();
        let cfg = format!(
            "global
    nbthread 1
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    log {} local0
    log-format \"id=%ID b=%b\"
    unique-id-format %ci_%b_static_%fp
    default_backend be
backend be
    server s {srv} send-proxy-v2 proxy-v2-options unique-id
",
            log.addr
        );
        let _p = start(&cfg, port);
        let mut s = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"hello\r\n\r\n").unwrap();
        // A probe of the listener may have come first: the record with the bytes sent is ours.
        let id = loop {
            let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            let (h, rest) = decode_all(&got);
            if rest == b"hello\r\n\r\n" {
                break h.tlv(pp::kind::UNIQUE_ID).expect("unique ID").to_vec();
            }
        };
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        drop(s);
        let line = log
            .wait_messages(1, |m| m.contains("id="))
            .pop()
            .unwrap_or_default();
        let line = line[line.find("id=").unwrap()..].trim_end().to_string();
        let port = port.to_string();
        (
            String::from_utf8_lossy(&id).replace(&port, "PORT"),
            line.replace(&port, "PORT"),
        )
    };
    let ours = run(&|cfg, _| Box::new(start_proxy(cfg)));
    assert_eq!(
        ours,
        (
            "127.0.0.1_be_static_PORT".to_string(),
            "id=127.0.0.1_be_static_PORT b=be".to_string()
        )
    );
    if haproxy_present() {
        let theirs = run(&|cfg, port| {
            Box::new(start_haproxy(cfg, SocketAddr::from(([127, 0, 0, 1], port))))
        });
        assert_eq!(ours, theirs);
    }
}

/// `proxy-v2-options cert-sig,cert-key` (and the other SSL options alone): the SSL TLV's sub-TLVs, with the
/// frontend certificate's signature algorithm and key type and size, as haproxy 2.6 sends them for the same TLS
/// clients, for an RSA and an ECDSA certificate.
#[test]
fn certificate_algorithms_in_the_v2_tlvs_as_haproxy() {
    let dir = std::env::temp_dir().join(format!("fulcrum-pp-alg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    common::pki::ca(&dir);
    common::pki::leaf(&dir, "rsa", "a.test", &["a.test"], true, false);
    common::pki::leaf(&dir, "ec", "a.test", &["a.test"], false, false);
    let k = common::pki::Pki { dir: dir.clone() };
    let (srv, rx) = recording_server();
    // What the server got for each path: the SSL TLV's flags and sub-TLVs (the version and cipher only named).
    let run = |cert: &str, start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>| -> Vec<String> {
        let port = free_port();
        let cfg = format!(
            "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port} ssl crt {}
    use_backend algs if {{ path /algs }}
    use_backend cipher if {{ path /cipher }}
    default_backend cn
backend algs
    server s {srv} send-proxy-v2 proxy-v2-options cert-sig,cert-key
backend cipher
    server s {srv} send-proxy-v2 proxy-v2-options ssl-cipher
backend cn
    server s {srv} send-proxy-v2 proxy-v2-options cert-cn
",
            k.path(&format!("{cert}.pem")),
        );
        let _p = start(&cfg, port);
        // The probe of a started haproxy may have left a record: drop what came so far.
        std::thread::sleep(Duration::from_millis(400));
        while rx.try_recv().is_ok() {}
        let mut out = Vec::new();
        for path in ["/algs", "/cipher", "/cn"] {
            let status = std::process::Command::new("curl")
                .args(["-sS", "-o", "/dev/null", "--max-time", "5", "--cacert"])
                .arg(k.path("ca.pem"))
                .args(["--resolve", &format!("a.test:{port}:127.0.0.1")])
                .arg(format!("https://a.test:{port}{path}"))
                .status()
                .unwrap_or_else(|e| panic!("curl is needed: {e}"));
            assert!(status.success(), "{path}");
            let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            let (h, _) = decode_all(&got);
            let mut desc = format!("{path}:");
            match h.ssl() {
                None => desc.push_str(" no SSL TLV"),
                Some(ssl) => {
                    let ssl = ssl.unwrap();
                    desc.push_str(&format!(" client={} verify={}", ssl.client, ssl.verify));
                    for t in &ssl.sub {
                        let v = match t.kind {
                            pp::kind::SSL_VERSION | pp::kind::SSL_CIPHER => "..".to_string(),
                            _ => String::from_utf8_lossy(&t.value).into_owned(),
                        };
                        desc.push_str(&format!(" {:#x}={v}", t.kind));
                    }
                }
            }
            out.push(desc);
        }
        out
    };
    let haproxy = haproxy_present();
    // Both leaves are signed by the test CA's ECDSA key.
    for (cert, sig, key) in [
        ("rsa", "ecdsa-with-SHA256", "RSA2048"),
        ("ec", "ecdsa-with-SHA256", "EC256"),
    ] {
        let ours = run(cert, &|cfg, _| Box::new(start_proxy(cfg)));
        assert_eq!(
            ours[0],
            format!("/algs: client=1 verify=0 0x21=.. 0x25={key} 0x24={sig}"),
            "{ours:#?}"
        );
        if haproxy {
            let theirs = run(cert, &|cfg, port| {
                Box::new(start_haproxy(cfg, SocketAddr::from(([127, 0, 0, 1], port))))
            });
            assert_eq!(ours, theirs, "{cert}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
