//! HTTP behaviour through a real proxy: keep-alive and pooling, headers, bodies, upgrades, errors and timeouts.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::*;

fn one_backend(o: &[fulcrum_proxy::origin::Origin], extra: &str) -> String {
    format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
{extra}
{}",
        free_port(),
        server_lines(o, "")
    )
}

/// Asserts that the proxy closes `c` no sooner than `min` and before `max` from now.
fn assert_closed_between(c: &mut Client, min: Duration, max: Duration) {
    let start = Instant::now();
    assert!(c.closed_within(max + Duration::from_secs(1)));
    let waited = start.elapsed();
    assert!(waited >= min && waited < max, "closed after {waited:?}");
}

#[test]
fn client_keepalive_and_server_pooling() {
    let o = origins(1);
    let p = start_proxy(&one_backend(&o, ""));
    let mut c = Client::connect(p.addr);
    for _ in 0..50 {
        let r = c.get("/");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "Hello from s1\n");
    }
    // 50 requests on one client connection, carried by one pooled server connection.
    assert_eq!(o[0].requests(), 50);
    assert_eq!(o[0].connections(), 1);
    // A second client's first request gets a server connection of its own (`http-reuse safe`, the default);
    // its next requests take idle ones.
    let mut c2 = Client::connect(p.addr);
    assert_eq!(c2.get("/").status, 200);
    assert_eq!(o[0].connections(), 2);
    assert_eq!(c2.get("/").status, 200);
    assert_eq!(c.get("/").status, 200);
    assert_eq!(o[0].connections(), 2);
}

#[test]
fn http_server_close_opens_a_server_connection_per_request() {
    let o = origins(1);
    let p = start_proxy(&one_backend(&o, "    option http-server-close"));
    let mut c = Client::connect(p.addr);
    for _ in 0..5 {
        assert_eq!(c.get("/").status, 200);
    }
    assert_eq!(o[0].connections(), 5);
}

#[test]
fn httpclose_closes_the_client_connection() {
    let o = origins(1);
    let p = start_proxy(&one_backend(&o, "    option httpclose"));
    let mut c = Client::connect(p.addr);
    let r = c.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_within(Duration::from_secs(2)));
}

#[test]
fn headers_forwardfor_and_hop_by_hop() {
    let o = origins(1);
    let p = start_proxy(&one_backend(&o, "    option forwardfor"));
    let mut c = Client::connect(p.addr);
    c.send(
        b"GET /headers?q=1&r=%20x HTTP/1.1\r\nHost: www.example.test\r\nConnection: keep-alive, X-Drop\r\n\
X-Drop: secret\r\nKeep-Alive: timeout=5\r\nX-Forwarded-For: 198.18.0.1\r\nX-Keep: yes\r\n\r\n",
    );
    let r = c.read_response(false);
    let seen = r.text();
    assert!(
        seen.starts_with("GET /headers?q=1&r=%20x HTTP/1.1\n"),
        "{seen}"
    );
    assert!(seen.contains("host: www.example.test\n"), "{seen}");
    assert!(seen.contains("x-keep: yes\n"), "{seen}");
    assert!(
        seen.contains("x-forwarded-for: 198.18.0.1\nx-forwarded-for: 127.0.0.1\n"),
        "{seen}"
    );
    assert!(!seen.contains("x-drop"), "{seen}");
    assert!(!seen.contains("keep-alive"), "{seen}");
}

#[test]
fn head_204_and_304_have_no_body() {
    let o = origins(1);
    let p = start_proxy(&one_backend(&o, ""));
    let mut c = Client::connect(p.addr);
    c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response(true);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("14"));
    for code in [204, 304] {
        let r = c.get(&format!("/status/{code}"));
        assert_eq!(r.status, code);
    }
    // The connection is still in sync after the bodiless responses.
    assert_eq!(c.get("/").text(), "Hello from s1\n");
}

#[test]
fn expect_100_continue() {
    let o = origins(1);
    let p = start_proxy(&one_backend(&o, ""));
    let mut c = Client::connect(p.addr);
    c.send(b"POST /count HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.read_response(true);
    assert_eq!(interim.status, 100);
    c.send(b"hello");
    let r = c.read_response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "5\n");
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn hundred_megabyte_bodies_stream_both_ways() {
    const SIZE: usize = 100 * 1024 * 1024;
    let o = origins(1);
    let p = start_proxy(&one_backend(&o, ""));
    let before = rss_kib();
    // Upload, chunked.
    let mut c = Client::connect(p.addr);
    c.send(b"POST /count HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = vec![b'a'; 64 * 1024];
    let head = format!("{:x}\r\n", chunk.len());
    let mut sent = 0;
    while sent < SIZE {
        c.send(head.as_bytes());
        c.send(&chunk);
        c.send(b"\r\n");
        sent += chunk.len();
    }
    c.send(b"0\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.text(), format!("{SIZE}\n"));
    // Download, chunked, counted without keeping it.
    c.send(format!("GET /bytes/{SIZE} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        c.reader.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let mut got = 0usize;
    loop {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut c.reader, &mut line).unwrap();
        let n = usize::from_str_radix(line.trim(), 16).unwrap();
        let mut sink = vec![0u8; n + 2];
        c.reader.read_exact(&mut sink).unwrap();
        if n == 0 {
            break;
        }
        got += n;
    }
    assert_eq!(got, SIZE);
    let grown = rss_kib().saturating_sub(before);
    // 200 MB went through the proxy (in this process); memory must not grow with it.
    assert!(grown < 40 * 1024, "RSS grew by {grown} KiB");
}

#[test]
fn websocket_upgrade_becomes_a_tunnel() {
    let o = origins(1);
    let p = start_proxy(&one_backend(&o, "    timeout tunnel 10s"));
    let mut c = Client::connect(p.addr);
    c.send(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    let r = c.read_response(true);
    assert_eq!(r.status, 101);
    assert_eq!(r.header("upgrade"), Some("websocket"));
    for msg in [&b"ping"[..], b"\x81\x05hello", &[0u8; 3000]] {
        c.send(msg);
        let mut back = vec![0u8; msg.len()];
        c.reader.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
}

#[test]
fn websocket_handshakes_without_their_key_are_refused() {
    // the request without Sec-WebSocket-Key: 400 before any server is asked
    let o = origins(1);
    let p = start_proxy(&one_backend(&o, ""));
    let mut c = Client::connect(p.addr);
    c.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(c.read_response(false).status, 400);
    assert_eq!(o[0].requests(), 0);
    // the test origin answers with the accept key RFC 6455 computes
    let mut c = Client::connect(p.addr);
    c.send(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    let r = c.read_response(true);
    assert_eq!(
        (r.status, r.header("sec-websocket-accept")),
        (101, Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
    );
    // a server switching to websocket without an accept key: 502
    let bad = raw_server(
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        Duration::ZERO,
    );
    let p = start_proxy(&format!(
        "{DEFAULTS}\nlisten l\n    bind 127.0.0.1:{}\n    server s {bad}\n",
        free_port()
    ));
    let mut c = Client::connect(p.addr);
    c.send(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    assert_eq!(c.read_response(false).status, 502);
}

#[test]
fn slow_request_head_gets_408() {
    let o = origins(1);
    let p = start_proxy(&one_backend(&o, "    timeout http-request 300ms"));
    let mut c = Client::connect(p.addr);
    let start = Instant::now();
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n");
    let r = c.read_response(false);
    assert_eq!(r.status, 408);
    assert!(r.text().contains("408"), "{}", r.text());
    assert!(start.elapsed() < Duration::from_secs(3));
    // A keep-alive connection that simply stays idle is closed without a 408.
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").status, 200);
    assert!(c.closed_within(Duration::from_secs(3)));
}

#[test]
fn malformed_requests_get_400() {
    let o = origins(1);
    let p = start_proxy(&one_backend(&o, ""));
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
        b"GET /\x01 HTTP/1.1\r\n\r\n",
    ] {
        let mut c = Client::connect(p.addr);
        c.send(raw);
        let r = c.read_response(false);
        assert_eq!(r.status, 400, "for {:?}", String::from_utf8_lossy(raw));
        assert_eq!(r.header("content-type"), Some("text/html"));
        assert!(
            r.text().contains("<h1>400 Bad request</h1>"),
            "{}",
            r.text()
        );
        assert!(c.closed_within(Duration::from_secs(2)));
    }
    assert_eq!(o[0].requests(), 0, "a malformed request reached the server");
}

/// A server that answers every connection with `reply` after reading the request head, then closes.
fn raw_server(reply: &'static [u8], delay: Duration) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(8) {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                std::thread::sleep(delay);
                let _ = s.write_all(reply);
            });
        }
    });
    addr
}

#[test]
fn invalid_server_response_gets_502() {
    let addr = raw_server(b"NOT HTTP AT ALL\r\n\r\n", Duration::ZERO);
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    server bad {addr}
",
        free_port()
    );
    let p = start_proxy(&cfg);
    let r = get(p.addr, "/");
    assert_eq!(r.status, 502);
    assert!(r.text().contains("<h1>502 Bad Gateway</h1>"));
}

#[test]
fn slow_server_gets_504() {
    let o = origins(1);
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    timeout server 300ms
{}",
        free_port(),
        server_lines(&o, "")
    );
    let p = start_proxy(&cfg);
    let start = Instant::now();
    let r = get(p.addr, "/sleep/3000");
    assert_eq!(r.status, 504);
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn connection_refused_is_retried_then_redispatched() {
    let o = origins(1);
    let dead = free_port();
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    retries 2
    option redispatch
    server dead 127.0.0.1:{dead}
    server s1 {}
",
        free_port(),
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    for _ in 0..4 {
        let r = get(p.addr, "/");
        assert_eq!(r.status, 200);
        assert_eq!(served_by(&r), "s1");
    }
    let _ = TcpStream::connect(p.addr);
}

#[test]
fn keepalive_timeout_closes_idle_connections_only() {
    let o = origins(1);
    let p = start_proxy(&one_backend(
        &o,
        "    timeout http-request 5s\n    timeout http-keep-alive 300ms",
    ));
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").status, 200);
    assert_closed_between(&mut c, Duration::from_millis(250), Duration::from_secs(2));
    // A request that takes longer than the keep-alive timeout is not cut.
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").status, 200);
    let r = c.get("/sleep/800");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "slept\n");
}

#[test]
fn idle_keepalive_connections_are_parked_and_resumed() {
    // A keep-alive connection idle for longer than the parking delay (200 ms) gives up its HTTP state; the next
    // request on it, whole or arriving in pieces, is served as before, over the same pooled server connection.
    let o = origins(1);
    let p = start_proxy(&one_backend(&o, ""));
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").status, 200);
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(400));
        let r = c.get("/");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "Hello from s1\n");
    }
    std::thread::sleep(Duration::from_millis(400));
    c.send(b"GET /headers HTTP/1.1\r\n");
    std::thread::sleep(Duration::from_millis(400));
    c.send(b"Host: parked.test\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("parked.test"), "{}", r.text());
    // Two pipelined requests sent together after a pause both get answers.
    std::thread::sleep(Duration::from_millis(400));
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response(false).status, 200);
    assert_eq!(c.read_response(false).status, 200);
    assert_eq!(o[0].requests(), 7);
    assert_eq!(o[0].connections(), 1);
}

#[test]
fn parked_connections_still_obey_the_idle_timeouts() {
    // `timeout http-keep-alive` longer than the parking delay: closed after it, not before.
    let o = origins(1);
    let p = start_proxy(&one_backend(
        &o,
        "    timeout http-request 5s\n    timeout http-keep-alive 900ms",
    ));
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").status, 200);
    assert_closed_between(&mut c, Duration::from_millis(800), Duration::from_secs(3));
    // Without http-keep-alive, `timeout http-request` bounds the wait for the next request, silently.
    let p = start_proxy(&one_backend(&o, "    timeout http-request 700ms"));
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").status, 200);
    assert_closed_between(&mut c, Duration::from_millis(600), Duration::from_secs(3));
}

#[test]
fn proxy_adds_no_date_header() {
    // As HAProxy: the proxy's own answers carry no Date, and a server's responses keep only what the server sent.
    let o = origins(1);
    let p = start_proxy(&one_backend(
        &o,
        "    http-request return status 200 content-type text/plain string local if { path /local }",
    ));
    let mut c = Client::connect(p.addr);
    let local = c.get("/local");
    assert_eq!(local.status, 200);
    assert_eq!(local.header("date"), None);
    let proxied = c.get("/");
    assert_eq!(proxied.status, 200);
    // The built-in origin (hyper) sends a Date; it is passed through.
    assert!(proxied.header("date").is_some());
}

#[test]
fn keepalive_timeout_longer_than_http_request_applies_to_idle_connections() {
    // As HAProxy: between requests the limit is `timeout http-keep-alive`, even when `timeout http-request` is
    // shorter (the latter bounds a request head once it has started).
    let o = origins(1);
    let p = start_proxy(&one_backend(
        &o,
        "    timeout http-request 300ms\n    timeout http-keep-alive 1500ms",
    ));
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").status, 200);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        c.get("/").status,
        200,
        "closed before timeout http-keep-alive"
    );
    assert_closed_between(&mut c, Duration::from_millis(1300), Duration::from_secs(4));
    // A head that starts but does not finish still gets its 408 after `timeout http-request`.
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").status, 200);
    std::thread::sleep(Duration::from_millis(500));
    c.send(b"GET / HTTP/1.1\r\n");
    let start = Instant::now();
    let r = c.read_response(false);
    assert_eq!(r.status, 408);
    assert!(
        start.elapsed() < Duration::from_millis(1200),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn without_http_request_timeout_client_bounds_the_silence_within_a_head() {
    // As haproxy 2.6 (observed): with no `timeout http-request`, `timeout client` is the longest silence between
    // the pieces of a request head, not a bound on the whole head; `timeout http-request` bounds the whole head.
    let o = origins(1);
    let pieces = |c: &mut Client| {
        for p in [
            &b"GET / HT"[..],
            b"TP/1.1\r\n",
            b"Host: t\r\n",
            b"X-A: 1\r\n",
            b"\r\n",
        ] {
            // A proxy that answered 408 has closed: the rest cannot be sent.
            if c.reader.get_mut().write_all(p).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let p = start_proxy(&one_backend(&o, "    timeout client 500ms"));
    let mut c = Client::connect(p.addr);
    pieces(&mut c);
    assert_eq!(
        c.read_response(false).status,
        200,
        "a head 1 s long in pieces 200 ms apart"
    );
    // A silence longer than `timeout client` still ends with a 408.
    let mut c = Client::connect(p.addr);
    c.send(b"GET / HTTP/1.1\r\n");
    assert_eq!(c.read_response(false).status, 408);

    let p = start_proxy(&one_backend(
        &o,
        "    timeout client 5s\n    timeout http-request 500ms",
    ));
    let mut c = Client::connect(p.addr);
    pieces(&mut c);
    assert_eq!(
        c.read_response(false).status,
        408,
        "timeout http-request bounds the whole head"
    );
}

/// `tune.maxpollevents`, `tune.runqueue-depth` and `tune.maxaccept` at their smallest (one event per wait, one
/// task between event checks, one connection accepted before other work): the worker still serves twenty
/// clients that connect at once, each with a few keep-alive requests.
#[test]
fn the_smallest_scheduling_tunables_still_serve_everyone() {
    let o = origins(1);
    let port = free_port();
    let p = start_proxy(&format!(
        "global\n    nbthread 1\n    tune.maxpollevents 1\n    tune.runqueue-depth 1\n    tune.maxaccept 1\n\
         {DEFAULTS}\nlisten app\n    bind 127.0.0.1:{port}\n{}",
        server_lines(&o, "")
    ));
    let clients: Vec<_> = (0..20)
        .map(|_| {
            let addr = p.addr;
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                (0..5).all(|_| c.get("/").status == 200)
            })
        })
        .collect();
    for c in clients {
        assert!(c.join().unwrap());
    }
}
