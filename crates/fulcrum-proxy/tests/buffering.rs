//! Waiting for message bodies and HAProxy's buffer size: `option http-buffer-request`, `http-request
//! wait-for-body`, `http-response wait-for-body`, `tune.bufsize` / `tune.maxrewrite` (the cases of HAProxy's
//! http_request_buffer and http_wait_for_body reg-tests, written afresh, and the head sizes measured against
//! haproxy 2.6).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// What the test server saw of one request.
struct Seen {
    /// When its head arrived.
    head_at: Instant,
    head: String,
    body: Vec<u8>,
}

/// A server that reads each request (head, then a `Content-Length` body) and answers with what `answer` returns
/// for its head; each request seen comes out of the channel.
fn server(
    answer: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static,
) -> (SocketAddr, mpsc::Receiver<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            let (tx, answer) = (tx.clone(), answer.clone());
            std::thread::spawn(move || serve(s, &*answer, &tx));
        }
    });
    (addr, rx)
}

/// Serves the requests of one connection.
fn serve(s: TcpStream, answer: &dyn Fn(&str, &mut TcpStream), tx: &mpsc::Sender<Seen>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut out = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        if head.is_empty() {
            break;
        }
        let head_at = Instant::now();
        let body = if head.contains("transfer-encoding: chunked") {
            match read_chunked(&mut r) {
                Some(b) => b,
                None => break,
            }
        } else {
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_err() {
                break;
            }
            body
        };
        answer(&head, &mut out);
        let _ = tx.send(Seen {
            head_at,
            head,
            body,
        });
    }
}

/// A chunked body (no trailers).
fn read_chunked(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size).ok()?;
        let n = usize::from_str_radix(size.trim(), 16).ok()?;
        let mut chunk = vec![0; n + 2];
        r.read_exact(&mut chunk).ok()?;
        if n == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

fn ok_answer(_: &str, out: &mut TcpStream) {
    let _ = out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
}

fn proxy(global: &str, section: &str, server: SocketAddr) -> Proxy {
    start_proxy(&format!(
        "global\n    nbthread 1\n{global}\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 300ms\n    timeout server 5s\n\
         listen app\n    bind 127.0.0.1:{}\n{section}\n    server s1 {server}\n",
        free_port()
    ))
}

/// Sends `head` and `first` of a body, waits `pause`, sends `rest`; returns the response.
fn send_in_two(addr: SocketAddr, head: &str, first: &[u8], pause: Duration, rest: &[u8]) -> Resp {
    let mut c = Client::connect(addr);
    c.send(head.as_bytes());
    c.send(first);
    std::thread::sleep(pause);
    if !rest.is_empty() {
        c.send(rest);
    }
    c.read_response(false)
}

#[test]
fn http_buffer_request_waits_for_the_whole_body() {
    let (addr, seen) = server(ok_answer);
    let p = proxy("", "    option http-buffer-request", addr);
    // The body completes after 150 ms: the server gets the request only then, whole.
    let t0 = Instant::now();
    let r = send_in_two(
        p.addr,
        "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n",
        b"12345",
        Duration::from_millis(150),
        b"67890",
    );
    assert_eq!(r.status, 200);
    let s = seen.recv().unwrap();
    assert!(
        s.head_at - t0 >= Duration::from_millis(140),
        "forwarded before the body was complete"
    );
    assert_eq!(s.body, b"1234567890");
    // A chunked body split inside a chunk.
    let r = send_in_two(
        p.addr,
        "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"1\r\n1\r\n1",
        Duration::from_millis(20),
        b"\r\n1\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let s = seen.recv().unwrap();
    assert!(s.head.starts_with("POST /c HTTP/1.1\r\n"), "{}", s.head);
    assert!(s.head.contains("transfer-encoding: chunked"), "{}", s.head);
    assert_eq!(s.body, b"11");
    // One byte never comes: after `timeout client` of silence, 408, and nothing reached the server.
    let t0 = Instant::now();
    let r = send_in_two(
        p.addr,
        "POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n",
        b"123456789",
        Duration::ZERO,
        b"",
    );
    assert_eq!(r.status, 408);
    assert!(t0.elapsed() >= Duration::from_millis(290));
    assert!(seen.recv_timeout(Duration::from_millis(100)).is_err());
    // The client closes before its body is complete: the request is given up, the server never contacted.
    let mut c = Client::connect(p.addr);
    c.send(b"POST /d HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12");
    drop(c);
    assert!(seen.recv_timeout(Duration::from_millis(300)).is_err());
}

#[test]
fn http_buffer_request_stops_when_the_buffer_is_full() {
    let (addr, seen) = server(ok_answer);
    // 2048 - 1024 bytes for head and body: a 5000-byte body goes on once about 900 bytes are there.
    let p = proxy(
        "    tune.bufsize 2048",
        "    option http-buffer-request",
        addr,
    );
    let t0 = Instant::now();
    let r = send_in_two(
        p.addr,
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n",
        &[b'a'; 1000],
        Duration::from_millis(200),
        &[b'b'; 4000],
    );
    assert_eq!(r.status, 200);
    let s = seen.recv().unwrap();
    assert!(
        s.head_at - t0 < Duration::from_millis(150),
        "waited for more than the buffer holds"
    );
    assert_eq!(s.body.len(), 5000);
}

#[test]
fn wait_for_body_time_and_at_least() {
    let (addr, seen) = server(ok_answer);
    let p = proxy(
        "",
        "    http-request wait-for-body time 100ms if { path /a }\n    \
         http-request wait-for-body time 1s at-least 5 if { path /b }",
        addr,
    );
    let head =
        |path: &str| format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n");
    // Not all of it within the time: 408.
    let t0 = Instant::now();
    let r = send_in_two(
        p.addr,
        &head("/a"),
        b"12345",
        Duration::from_millis(250),
        b"67890",
    );
    assert_eq!(r.status, 408);
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(100), "{took:?}");
    // Within the time: forwarded once complete.
    let r = send_in_two(
        p.addr,
        &head("/a"),
        b"12345",
        Duration::from_millis(30),
        b"67890",
    );
    assert_eq!(r.status, 200);
    assert_eq!(seen.recv().unwrap().body, b"1234567890");
    // `at-least 5`: forwarded as soon as 5 bytes are there.
    let t0 = Instant::now();
    let r = send_in_two(
        p.addr,
        &head("/b"),
        b"12345",
        Duration::from_millis(200),
        b"67890",
    );
    assert_eq!(r.status, 200);
    let s = seen.recv().unwrap();
    assert!(s.head_at - t0 < Duration::from_millis(150));
    assert_eq!(s.body, b"1234567890");
    // Another path waits for nothing.
    let r = send_in_two(
        p.addr,
        &head("/c"),
        b"12345",
        Duration::from_millis(50),
        b"67890",
    );
    assert_eq!(r.status, 200);
}

/// A server answering `GET /full` with a 10-byte body at once, and anything else with the first 5 bytes, then,
/// after 300 ms, the rest; `GET /least` with status 201.
fn slow_answer(head: &str, out: &mut TcpStream) {
    let status = if head.starts_with("GET /least ") {
        "201 Created"
    } else {
        "200 OK"
    };
    let _ =
        out.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 10\r\n\r\n12345").as_bytes());
    if !head.starts_with("GET /full ") {
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = out.write_all(b"67890");
}

#[test]
fn http_response_wait_for_body() {
    let (addr, _seen) = server(slow_answer);
    let p = proxy(
        "",
        "    http-response wait-for-body time 100ms if { status eq 200 }\n    \
         http-response wait-for-body time 100ms at-least 5 if { status eq 201 }",
        addr,
    );
    // Not there in time: 504.
    assert_eq!(get(p.addr, "/slow").status, 504);
    // There at once.
    let r = get(p.addr, "/full");
    assert_eq!((r.status, r.text().as_str()), (200, "1234567890"));
    // `at-least 5`: the first 5 bytes are enough; the rest follows.
    let r = get(p.addr, "/least");
    assert_eq!((r.status, r.text().as_str()), (201, "1234567890"));
}

#[test]
fn heads_larger_than_the_buffer_are_refused() {
    let big_answer = |head: &str, out: &mut TcpStream| {
        let n: usize = head
            .lines()
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|p| p.trim_start_matches('/').parse().ok())
            .unwrap_or(0);
        let _ = out.write_all(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nX: {}\r\n\r\nok",
                "a".repeat(n)
            )
            .as_bytes(),
        );
    };
    let (addr, _seen) = server(big_answer);
    let p = proxy("    tune.bufsize 2048", "", addr);
    // haproxy 2.6 with `tune.bufsize 2048` takes a 937-byte request head with two headers, not 938.
    let req = |x: usize| {
        let mut c = Client::connect(p.addr);
        let head = format!("GET /0 HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "a".repeat(x));
        c.send(head.as_bytes());
        (head.len(), c.read_response(false).status)
    };
    assert_eq!(req(904), (937, 200));
    assert_eq!(req(905), (938, 400));
    // Far beyond: refused by the parser already, with the same 400.
    assert_eq!(req(5000).1, 400);
    // A response head: 937 bytes with two headers, from the server, is the largest passed on.
    let resp = |x: usize| get(p.addr, &format!("/{x}")).status;
    assert_eq!(resp(894), 200);
    assert_eq!(resp(895), 502);
}

/// HAProxy's strict rewriting mode: with `tune.bufsize 2048` and `tune.maxrewrite 128`, a message whose body fills
/// the buffer leaves room for one 60-byte header; a second rewrite fails, answered with 500 unless `strict-mode
/// off` came before it (the header is then just not added).
#[test]
fn rewrites_that_do_not_fit_fail_under_strict_mode() {
    let answer = |head: &str, out: &mut TcpStream| {
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let _ = out.write_all(
            format!(
                "HTTP/1.1 200 OK\r\nx-path: {path}\r\ncontent-length: 2000\r\n\r\n{}",
                "b".repeat(2000)
            )
            .as_bytes(),
        );
    };
    let (addr, seen) = server(answer);
    let v = "1".repeat(60);
    let p = proxy(
        "    tune.bufsize 2048\n    tune.maxrewrite 128",
        &format!(
            "    option http-buffer-request\n    \
             http-request set-header x-a {v}\n    \
             http-request set-header x-b {v} if {{ path /2 }}\n    \
             http-request strict-mode off if {{ path /3 }}\n    \
             http-request set-header x-c {v} if {{ path /3 }}\n    \
             http-response set-header x-d {v} if {{ res.hdr(x-path) /r2 }}\n    \
             http-response set-header x-e {v} if {{ res.hdr(x-path) /r2 }}"
        ),
        addr,
    );
    let post = |path: &str, len: usize| {
        let mut c = Client::connect(p.addr);
        c.send(
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n").as_bytes(),
        );
        c.send(&vec![b'a'; len]);
        c.read_response(false)
    };
    // One header fits in the room the body leaves.
    assert_eq!(post("/1", 2000).status, 200);
    let s = seen.recv().unwrap();
    assert!(s.head.contains(&format!("x-a: {v}")), "{}", s.head);
    // Two do not.
    assert_eq!(post("/2", 2000).status, 500);
    // With a small body they do.
    assert_eq!(post("/2", 10).status, 200);
    let s = seen.recv().unwrap();
    assert!(
        s.head.contains("x-a: ") && s.head.contains("x-b: "),
        "{}",
        s.head
    );
    // `strict-mode off`: the failed rewrite is skipped.
    assert_eq!(post("/3", 2000).status, 200);
    let s = seen.recv().unwrap();
    assert!(
        s.head.contains("x-a: ") && !s.head.contains("x-c: "),
        "{}",
        s.head
    );
    // A response whose body fills the buffer: the second header does not fit.
    let r = get(p.addr, "/r1");
    assert_eq!((r.status, r.body.len()), (200, 2000));
    assert_eq!(get(p.addr, "/r2").status, 500);
}
