//! Servers reached through a SOCKS4 proxy (`server ... socks4 ADDR:PORT`, `check-via-socks4`): the traffic of
//! `mode http` and `mode tcp` backends and the health checks go through a SOCKS4 proxy run by the test, which
//! records each request; a proxy that refuses makes connection failures (503 after the retries) and failed checks
//! worded as haproxy 2.6 words them (compared with the real haproxy when it is installed).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::syslog::Syslog;
use common::*;

/// A SOCKS4 proxy on loopback that grants (status 0x5a) or refuses (0x5b) every request, records the request
/// bytes and, when it grants, relays to the address asked for. Runs until the test process ends.
struct Socks {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Socks {
    fn start(grant: bool) -> Socks {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for c in l.incoming().take(200) {
                let Ok(c) = c else { continue };
                let seen = seen.clone();
                std::thread::spawn(move || serve(c, grant, &seen));
            }
        });
        Socks { addr, requests }
    }

    fn requests(&self) -> Vec<Vec<u8>> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(mut c: TcpStream, grant: bool, seen: &Mutex<Vec<Vec<u8>>>) {
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Version, command, port, address, then the user ID up to its NUL.
    let mut req = vec![0u8; 8];
    if c.read_exact(&mut req).is_err() {
        return;
    }
    let mut b = [0u8; 1];
    while req.len() < 64 && c.read_exact(&mut b).is_ok() {
        req.push(b[0]);
        if b[0] == 0 {
            break;
        }
    }
    seen.lock().unwrap().push(req.clone());
    let status = if grant { 0x5a } else { 0x5b };
    if c.write_all(&[0, status, 0, 0, 0, 0, 0, 0]).is_err() || !grant {
        return;
    }
    let port = u16::from_be_bytes([req[2], req[3]]);
    let ip = std::net::Ipv4Addr::new(req[4], req[5], req[6], req[7]);
    let Ok(s) = TcpStream::connect((ip, port)) else {
        return;
    };
    let (mut c2, mut s2) = (c.try_clone().unwrap(), s.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
        let _ = s2.shutdown(std::net::Shutdown::Write);
    });
    let (mut s, mut c) = (s, c);
    let _ = std::io::copy(&mut s, &mut c);
    let _ = c.shutdown(std::net::Shutdown::Write);
}

/// What a request for `target` looks like: 4, 1 (CONNECT), the port, the IPv4 address, "HAProxy" and a NUL.
fn expected_request(target: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(t) = target else {
        panic!("IPv4 target")
    };
    let mut v = vec![4, 1];
    v.extend_from_slice(&t.port().to_be_bytes());
    v.extend_from_slice(&t.ip().octets());
    v.extend_from_slice(b"HAProxy\0");
    v
}

#[test]
fn http_and_tcp_traffic_go_through_the_socks_proxy() {
    let o = origins(1);
    let socks = Socks::start(true);
    let (http_port, tcp_port) = (free_port(), free_port());
    let cfg = format!(
        "{DEFAULTS}    retries 0\n\n\
frontend web\n    bind 127.0.0.1:{http_port}\n    default_backend app\n\n\
backend app\n    server s1 {origin} socks4 {socks}\n\n\
listen raw\n    mode tcp\n    bind 127.0.0.1:{tcp_port}\n    server s1 {origin} socks4 {socks}\n",
        origin = o[0].addr(),
        socks = socks.addr,
    );
    let _p = start_proxy(&cfg);
    let web: SocketAddr = format!("127.0.0.1:{http_port}").parse().unwrap();
    let r = get(web, "/via-socks");
    assert_eq!(r.status, 200);
    assert_eq!(served_by(&r), "s1");
    let raw: SocketAddr = format!("127.0.0.1:{tcp_port}").parse().unwrap();
    let r = get(raw, "/raw");
    assert_eq!(r.status, 200);
    assert_eq!(served_by(&r), "s1");
    let want = expected_request(o[0].addr());
    assert_eq!(socks.requests(), vec![want.clone(), want]);
}

#[test]
fn a_refusing_socks_proxy_is_a_failed_connection() {
    let o = origins(1);
    let socks = Socks::start(false);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}    retries 2\n\n\
listen web\n    bind 127.0.0.1:{port}\n    server s1 {origin} socks4 {socks}\n",
        origin = o[0].addr(),
        socks = socks.addr,
    );
    let _p = start_proxy(&cfg);
    let r = get(format!("127.0.0.1:{port}").parse().unwrap(), "/");
    assert_eq!(r.status, 503);
    // The first attempt and its two retries each asked the SOCKS proxy.
    assert_eq!(socks.requests().len(), 3);
}

/// `check-via-socks4`: the check goes through the SOCKS proxy, which passes it on or refuses it; without it the
/// check goes straight to the server. The health-check log lines are haproxy 2.6's.
#[test]
fn checks_via_socks4_log_as_haproxy() {
    let o = origins(1);
    let (granting, refusing, unused) =
        (Socks::start(true), Socks::start(false), Socks::start(false));
    let cfg = |port: u16, log: u16, g: SocketAddr, r: SocketAddr, u: SocketAddr| {
        format!(
            "{DEFAULTS}\n\
backend app\n    log 127.0.0.1:{log} local0\n    option log-health-checks\n    option httpchk\n\
    server via {origin} socks4 {g} check-via-socks4 check inter 300ms rise 1 fall 1\n\
    server denied {origin} socks4 {r} check-via-socks4 check inter 300ms rise 1 fall 1\n\
    server direct {origin} socks4 {u} check inter 300ms rise 1 fall 1\n\n\
frontend web\n    bind 127.0.0.1:{port}\n    default_backend app\n",
            origin = o[0].addr(),
        )
    };
    let keep = |m: &str| m.starts_with("Health check for server");
    // haproxy sometimes appends the socket's pending errno to the refusal, as in
    // `"SOCKS4 Proxy deny the request (Message too long)"`, depending on timing: the comparison leaves it out.
    let shape = |m: &str| {
        let m = regex::Regex::new(r"check duration: \d+ms")
            .unwrap()
            .replace(m, "check duration: Nms")
            .into_owned();
        regex::Regex::new(r#"(info: "[^"]*?) \([^()"]*\)""#)
            .unwrap()
            .replace(&m, "$1\"")
            .into_owned()
    };
    let log = Syslog::start();
    let port = free_port();
    let ours = {
        let _p = start_proxy(&cfg(
            port,
            log.addr.port(),
            granting.addr,
            refusing.addr,
            unused.addr,
        ));
        log.wait_messages(3, keep)
    };
    let mut ours: Vec<String> = ours.iter().map(|m| shape(m)).collect();
    ours.sort();
    ours.dedup();
    assert_eq!(
        ours,
        [
            "Health check for server app/denied failed, reason: Socket error, info: \"SOCKS4 Proxy deny the request\", check duration: Nms, status: 0/1 DOWN.",
            "Health check for server app/direct succeeded, reason: Layer7 check passed, code: 200, check duration: Nms, status: 1/1 UP.",
            "Health check for server app/via succeeded, reason: Layer7 check passed, code: 200, check duration: Nms, status: 1/1 UP.",
        ],
        "{ours:#?}"
    );
    // `via` and `direct` both reached the origin, only `via` through the granting proxy; `direct` did not use
    // the refusing one.
    let target = expected_request(o[0].addr());
    assert!(!granting.requests().is_empty() && granting.requests().iter().all(|r| *r == target));
    assert!(refusing.requests().iter().all(|r| *r == target));
    assert!(!refusing.requests().is_empty());
    assert_eq!(unused.requests(), Vec::<Vec<u8>>::new());
    if haproxy_present() {
        let (g2, r2) = (Socks::start(true), Socks::start(false));
        let log = Syslog::start();
        let port = free_port();
        let theirs = {
            let _h = start_haproxy(
                &cfg(port, log.addr.port(), g2.addr, r2.addr, unused.addr),
                format!("127.0.0.1:{port}").parse().unwrap(),
            );
            log.wait_messages(3, keep)
        };
        let mut theirs: Vec<String> = theirs.iter().map(|m| shape(m)).collect();
        theirs.sort();
        theirs.dedup();
        assert_eq!(ours, theirs);
        assert!(!g2.requests().is_empty());
        assert_eq!(unused.requests(), Vec::<Vec<u8>>::new());
    }
}
