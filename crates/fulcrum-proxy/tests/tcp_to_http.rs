//! A `mode tcp` frontend whose connections become HTTP, as HAProxy upgrades them: when the backend it picks is
//! `mode http`, or when a `tcp-request content switch-mode http` rule says so. The frontend's HTTP rules then
//! apply to each request (haproxy 2.6 warns they are ignored, and applies them: observed), and the variables the
//! `tcp-request content` rules set before the switch belong to the first request.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

const TCP_DEFAULTS: &str = "\
global
    nbthread 1

defaults
    timeout connect 1s
    timeout client 5s
    timeout server 5s
";

/// The request as the origin received it (its `/headers` page), lower-cased.
fn seen(c: &mut Client) -> String {
    let r = c.get("/headers");
    assert_eq!(r.status, 200, "{r:?}");
    r.text().to_ascii_lowercase()
}

/// An HTTP backend behind a tcp frontend: every request on the connection goes through the frontend's and the
/// backend's `http-request` rules.
#[test]
fn a_tcp_frontend_hands_its_connections_to_an_http_backend() {
    let o = origins(1);
    let p = start_proxy(&format!(
        "{TCP_DEFAULTS}frontend fe\n    mode tcp\n    bind 127.0.0.1:{}\n    http-request set-header x-name %[fe_name]\n    default_backend be\nbackend be\n    mode http\n    http-request set-header x-be %[be_name]\n    server s1 {}\n",
        free_port(),
        o[0].addr()
    ));
    let mut c = Client::connect(p.addr);
    for _ in 0..2 {
        let t = seen(&mut c);
        assert!(t.contains("x-name: fe\n"), "{t}");
        assert!(t.contains("x-be: be\n"), "{t}");
    }
}

/// `switch-mode http if HTTP`: the first request was inspected in tcp mode (its variable says so), the next ones
/// are HTTP from the start; bytes that are not HTTP meet the `reject` after it.
#[test]
fn switch_mode_http_carries_the_first_requests_variables() {
    let o = origins(1);
    let p = start_proxy(&format!(
        "{TCP_DEFAULTS}frontend fe\n    mode tcp\n    bind 127.0.0.1:{}\n    tcp-request inspect-delay 1s\n    tcp-request content set-var(req.mode) internal.strm.is_htx,iif(http,tcp)\n    tcp-request content switch-mode http if HTTP\n    tcp-request content reject\n    http-request set-header x-mode %[var(req.mode)]\n    default_backend be\nbackend be\n    mode http\n    server s1 {}\n",
        free_port(),
        o[0].addr()
    ));
    let mut c = Client::connect(p.addr);
    assert!(seen(&mut c).contains("x-mode: tcp\n"));
    assert!(seen(&mut c).contains("x-mode: http\n"));
    assert!(seen(&mut c).contains("x-mode: http\n"));
    // HTTP/2 with prior knowledge: each stream is an HTTP transaction from its start.
    let out = std::process::Command::new("curl")
        .args(["-s", "--http2-prior-knowledge", "--max-time", "5"])
        .arg(format!("http://{}/headers", p.addr))
        .output()
        .unwrap_or_else(|e| panic!("curl is needed: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(text.contains("x-mode: http\n"), "{text}");
    // Not HTTP: rejected, no answer.
    let mut s = std::net::TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"hello there\r\n\r\n").unwrap();
    let mut buf = [0u8; 64];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
}

/// `switch-mode http proto h1` refuses an HTTP/2 preface with a 400, as HAProxy; a `proto none` bind never
/// switches: the connection is closed without an answer.
#[test]
fn switch_mode_proto_h1_and_proto_none_binds() {
    let o = origins(1);
    let p = start_proxy(&format!(
        "{TCP_DEFAULTS}frontend fe\n    mode tcp\n    bind 127.0.0.1:{}\n    tcp-request inspect-delay 1s\n    tcp-request content switch-mode http proto h1 if HTTP\n    tcp-request content reject\n    default_backend be\nbackend be\n    mode http\n    server s1 {}\n",
        free_port(),
        o[0].addr()
    ));
    let mut c = Client::connect(p.addr);
    assert!(seen(&mut c).starts_with("get /headers http/1.1"));
    let mut c = Client::connect(p.addr);
    c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert_eq!(c.read_response(false).status, 400);
    let p = start_proxy(&format!(
        "{TCP_DEFAULTS}frontend fe\n    mode tcp\n    bind 127.0.0.1:{} proto none\n    tcp-request inspect-delay 1s\n    tcp-request content switch-mode http if HTTP\n    tcp-request content reject\n    default_backend be\nbackend be\n    mode http\n    server s1 {}\n",
        free_port(),
        o[0].addr()
    ));
    let mut s = std::net::TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut buf = [0u8; 64];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
}
