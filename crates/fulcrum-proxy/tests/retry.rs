//! retries, option redispatch and retry-on: which failures are retried, and a request with a body is never
//! sent twice.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// What a misbehaving server does after reading a request head.
#[derive(Clone, Copy)]
enum Misbehave {
    /// Answers these bytes and closes.
    Reply(&'static [u8]),
    /// Closes without answering.
    Close,
    /// Holds the connection without answering.
    Hang,
}

/// A server that misbehaves on every connection; counts the requests it read.
fn bad_server(how: Misbehave) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming().take(16) {
            let Ok(mut s) = s else { return };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::Relaxed);
                match how {
                    Misbehave::Reply(bytes) => {
                        let _ = s.write_all(bytes);
                    }
                    Misbehave::Close => {}
                    Misbehave::Hang => std::thread::sleep(Duration::from_secs(3)),
                }
            });
        }
    });
    (addr, seen)
}

fn proxy(extra: &str, bad: SocketAddr, good: SocketAddr) -> Proxy {
    start_proxy(&format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    retries 2
    option redispatch
{extra}
    server bad {bad}
    server good {good}
",
        free_port()
    ))
}

const UNAVAILABLE: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy";

#[test]
fn retry_on_status_moves_to_another_server() {
    let o = origins(1);
    let (bad, seen) = bad_server(Misbehave::Reply(UNAVAILABLE));
    let p = proxy("    retry-on conn-failure 503", bad, o[0].addr());
    for _ in 0..2 {
        let r = get(p.addr, "/");
        assert_eq!((r.status, served_by(&r).as_str()), (200, "s1"));
    }
    assert!(seen.load(Ordering::Relaxed) >= 1);
    // Without 503 in retry-on the answer goes through as it is.
    let (bad, _) = bad_server(Misbehave::Reply(UNAVAILABLE));
    let p = proxy("", bad, o[0].addr());
    let statuses: Vec<u16> = (0..2).map(|_| get(p.addr, "/").status).collect();
    assert!(statuses.contains(&503), "{statuses:?}");
}

#[test]
fn retry_on_empty_response_and_timeout() {
    let o = origins(1);
    let (bad, _) = bad_server(Misbehave::Close);
    let p = proxy("    retry-on empty-response", bad, o[0].addr());
    for _ in 0..2 {
        assert_eq!(get(p.addr, "/").status, 200);
    }
    let (bad, _) = bad_server(Misbehave::Close);
    let p = proxy("", bad, o[0].addr());
    let statuses: Vec<u16> = (0..2).map(|_| get(p.addr, "/").status).collect();
    assert!(statuses.contains(&502), "{statuses:?}");

    let (bad, _) = bad_server(Misbehave::Hang);
    let p = proxy(
        "    timeout server 300ms\n    retry-on response-timeout",
        bad,
        o[0].addr(),
    );
    for _ in 0..2 {
        assert_eq!(get(p.addr, "/").status, 200);
    }
}

#[test]
fn a_request_with_a_body_is_never_replayed() {
    let o = origins(1);
    let (bad, seen) = bad_server(Misbehave::Close);
    let p = proxy("    retry-on all-retryable-errors", bad, o[0].addr());
    // Round robin starts on `bad`: the POST reaches it, its body is sent, and it is not sent again.
    let mut c = Client::connect(p.addr);
    c.send(
        b"POST /count HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    let r = c.read_response(false);
    assert_eq!(r.status, 502);
    assert_eq!(seen.load(Ordering::Relaxed), 1);
    assert_eq!(o[0].requests(), 0, "the request was replayed");
}

#[test]
fn retry_on_none_does_not_retry_connection_failures() {
    let o = origins(1);
    let dead: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let p = proxy("    retry-on none", dead, o[0].addr());
    // The first request goes to the dead server and is not retried elsewhere.
    assert_eq!(get(p.addr, "/").status, 503);
    assert_eq!(o[0].requests(), 0);
}

/// A refused connection is retried on the same server after HAProxy's turn-around, the smaller of one second
/// and `timeout connect` (here 300 ms), in http and tcp mode: two retries make the 503 (or the closed
/// connection) come after about 600 ms, not at once.
#[test]
fn refused_connections_are_retried_after_the_turn_around() {
    let dead = free_port();
    for mode in ["http", "tcp"] {
        let p = start_proxy(&format!(
            "{DEFAULTS}
listen app
    mode {mode}
    bind 127.0.0.1:{}
    retries 2
    timeout connect 300ms
    server dead 127.0.0.1:{dead}
",
            free_port()
        ));
        let t0 = std::time::Instant::now();
        if mode == "http" {
            assert_eq!(get(p.addr, "/").status, 503);
        } else {
            let mut c = std::net::TcpStream::connect(p.addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 16];
            assert_eq!(c.read(&mut buf).unwrap_or(0), 0);
        }
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(550) && took < Duration::from_millis(1500),
            "{mode}: {took:?}"
        );
    }
    // With `option redispatch` and another server, the retry goes there at once (as haproxy 2.6 does).
    let o = origins(1);
    let p = start_proxy(&format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    retries 3
    option redispatch
    server dead 127.0.0.1:{dead}
    server s1 {}
",
        free_port(),
        o[0].addr()
    ));
    for _ in 0..2 {
        let t0 = std::time::Instant::now();
        assert_eq!(get(p.addr, "/").status, 200);
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );
    }
}
