//! HTTP/1.1 towards servers, against scripted servers: body framings, pooled connections the server closes,
//! early answers, and responses that break the protocol.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// A request as a scripted server received it.
struct Got {
    /// Which request on its connection (0 for the first).
    index: usize,
    head: String,
    body: Vec<u8>,
}

/// A server that runs `script` for every request; `script` writes its answer and returns false to close the
/// connection. Returns the address and the number of connections accepted.
fn scripted(
    script: impl Fn(&Got, &mut TcpStream) -> bool + Send + Sync + 'static,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let counted = conns.clone();
    let script = Arc::new(script);
    std::thread::spawn(move || {
        for s in l.incoming().take(32) {
            let Ok(s) = s else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            let script = script.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut out = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                for index in 0.. {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        match r.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        head.push_str(&line);
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    let mut body = vec![0u8; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    if !script(&Got { index, head, body }, &mut out) {
                        return;
                    }
                }
            });
        }
    });
    (addr, conns)
}

fn proxy_to(addr: SocketAddr, extra: &str) -> Proxy {
    start_proxy(&format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
{extra}
    server s1 {addr}
",
        free_port()
    ))
}

#[test]
fn chunked_responses_in_pieces_keep_the_connection() {
    let (addr, conns) = scripted(|_, s| {
        for piece in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5;ext=1\r\nhel"[..],
            b"lo\r\n6\r\n world\r",
            b"\n0\r\nX-Trailer: t\r\n",
            b"\r\n",
        ] {
            s.write_all(piece).unwrap();
            s.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    });
    let p = proxy_to(addr, "");
    let mut c = Client::connect(p.addr);
    for _ in 0..3 {
        let r = c.get("/");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "hello world");
        assert_eq!(r.header("x-a"), Some("1"));
        // The trailer field, split across reads, is passed on too.
        assert_eq!(r.trailers, [("x-trailer".to_string(), "t".to_string())]);
    }
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[test]
fn close_delimited_response_is_forwarded_whole() {
    let (addr, conns) = scripted(|_, s| {
        s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nfirst part, ")
            .unwrap();
        std::thread::sleep(Duration::from_millis(30));
        s.write_all(b"second part").unwrap();
        false
    });
    let p = proxy_to(addr, "");
    // The body ends with the server's connection, so the client's ends after it too (as through haproxy 2.6:
    // `connection: close`, no chunking): each request comes on a connection of its own.
    for _ in 0..2 {
        let mut c = Client::connect(p.addr);
        let r = c.get("/");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(r.text(), "first part, second part");
        assert!(c.closed_within(Duration::from_secs(2)));
    }
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

#[test]
fn pooled_connection_closed_by_the_server_while_idle_is_replaced() {
    // Answers one request per connection, advertising keep-alive, then closes shortly after.
    let (addr, conns) = scripted(|_, s| {
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        false
    });
    let p = proxy_to(addr, "");
    let mut c = Client::connect(p.addr);
    for _ in 0..3 {
        assert_eq!(c.get("/").text(), "ok");
        std::thread::sleep(Duration::from_millis(150));
    }
    assert_eq!(conns.load(Ordering::SeqCst), 3);
}

#[test]
fn reused_connection_dropped_after_the_request_retries_only_idempotent_requests() {
    // Each connection answers its first request; a second request is read and the connection closed unanswered.
    let (addr, conns) = scripted(|got, s| {
        if got.index > 0 {
            return false;
        }
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        true
    });
    // `always`: the first requests of the later clients take pooled connections too (under the default `safe`
    // they would get new ones).
    let p = proxy_to(addr, "    http-reuse always");
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").text(), "ok");
    // Sent on the pooled connection, dropped unanswered, sent again on a new one.
    assert_eq!(c.get("/").text(), "ok");
    assert_eq!(conns.load(Ordering::SeqCst), 2);
    let mut c = Client::connect(p.addr);
    c.send(b"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response(false).status, 200);
    assert_eq!(conns.load(Ordering::SeqCst), 3);
    // A POST is not sent twice: the client gets the error.
    let mut c = Client::connect(p.addr);
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response(false).status, 502);
    assert_eq!(conns.load(Ordering::SeqCst), 3);
}

#[test]
fn reused_connection_dropped_after_a_buffered_body_sends_it_again_whole() {
    // Each connection answers its first request with the body it got; a second request is read and the
    // connection closed unanswered.
    let (addr, conns) = scripted(|got, s| {
        if got.index > 0 {
            return false;
        }
        let mut answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            got.body.len()
        )
        .into_bytes();
        answer.extend_from_slice(&got.body);
        s.write_all(&answer).unwrap();
        true
    });
    // The whole body is read before the request leaves: it can go again on a new connection (HAProxy's
    // reg-test converter/json_query met this race with a server that closes after each answer).
    let p = proxy_to(
        addr,
        "    http-reuse always\n    option http-buffer-request",
    );
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").text(), "");
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    let r = c.read_response(false);
    assert_eq!((r.status, r.text()), (200, "hello".to_string()));
    assert_eq!(conns.load(Ordering::SeqCst), 2);
    // A streamed body (no buffering asked for) was consumed by the failed attempt: the client gets the error.
    let (addr, conns) = scripted(|got, s| {
        if got.index > 0 {
            return false;
        }
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        true
    });
    let p = proxy_to(addr, "    http-reuse always");
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").text(), "ok");
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(c.read_response(false).status, 502);
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[test]
fn early_answer_is_forwarded_while_the_upload_is_refused() {
    // A server that answers 413 as soon as it has the head, without reading the body.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((s, _)) = l.accept() else { return };
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        while r.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            line.clear();
        }
        let mut s = s;
        let _ = s.write_all(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig",
        );
        std::thread::sleep(Duration::from_secs(2));
    });
    let p = proxy_to(addr, "");
    let s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    let uploader = std::thread::spawn(move || {
        let _ = w.write_all(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 67108864\r\n\r\n");
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..1024 {
            if w.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let mut c = Client {
        reader: BufReader::new(s),
    };
    let r = c.read_response(false);
    assert_eq!(r.status, 413);
    assert_eq!(r.text(), "big");
    drop(c);
    let _ = uploader.join();
}

#[test]
fn bytes_after_a_body_stop_the_connection_from_being_reused() {
    let (addr, conns) = scripted(|_, s| {
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
            .unwrap();
        true
    });
    let p = proxy_to(addr, "");
    let mut c = Client::connect(p.addr);
    for _ in 0..2 {
        assert_eq!(c.get("/").text(), "ok");
    }
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

#[test]
fn broken_responses_get_502_or_an_aborted_body() {
    for bad in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx"[..],
        b"HTTP/1.1 999x OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",
    ] {
        let (addr, _) = scripted(move |_, s| {
            let _ = s.write_all(bad);
            false
        });
        let p = proxy_to(addr, "");
        let r = get(p.addr, "/");
        assert_eq!(r.status, 502, "{}", String::from_utf8_lossy(bad));
    }
    // A body that breaks ends the client's connection, never with a complete response: nothing is sent when the
    // error comes before hyper wrote the head, else the body stays incomplete.
    for bad in [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    ] {
        let (addr, _) = scripted(move |_, s| {
            let _ = s.write_all(bad);
            false
        });
        let p = proxy_to(addr, "");
        let mut c = Client::connect(p.addr);
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let mut all = Vec::new();
        let _ = c.reader.read_to_end(&mut all);
        let text = String::from_utf8_lossy(&all).into_owned();
        if text.is_empty() {
            continue;
        }
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        if head.contains("content-length: 10") {
            assert!(body.len() < 10, "{text}");
        } else {
            assert!(!body.ends_with("0\r\n\r\n"), "{text}");
        }
    }
}

#[test]
fn request_bodies_reach_the_server_with_their_framing() {
    let (addr, _) = scripted(|got, s| {
        let reply = format!(
            "{}|{}",
            got.head.lines().next().unwrap_or(""),
            String::from_utf8_lossy(&got.body)
        );
        write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{reply}",
            reply.len()
        )
        .unwrap();
        true
    });
    let p = proxy_to(addr, "");
    let mut c = Client::connect(p.addr);
    c.send(b"PUT /a?b=c HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(c.read_response(false).text(), "PUT /a?b=c HTTP/1.1|hello");
    let r = c.get("/x");
    assert_eq!(r.text(), "GET /x HTTP/1.1|");
}

#[test]
fn servers_without_a_port_take_the_clients_destination_port() {
    // As HAProxy: `server s 127.0.0.2` connects to the port the client connected to, `127.0.0.2:-5` to that
    // port less 5; in mode http and mode tcp. (The proxy listens on 127.0.0.1, the origins on 127.0.0.2.)
    // An origin on 127.0.0.2 and a port `offset` above its own that is free on 127.0.0.1 for the proxy.
    let pair = |name: &str, offset: u16| {
        (0..50)
            .find_map(|_| {
                let o = fulcrum_proxy::origin::Origin::start(name, "127.0.0.2:0".parse().unwrap())
                    .ok()?;
                let up = o.addr().port().checked_add(offset)?;
                std::net::TcpListener::bind(("127.0.0.1", up)).ok()?;
                Some((o, up))
            })
            .expect("a free port pair")
    };
    let (same, port) = pair("same", 0);
    let (shifted, shifted_bind) = pair("shifted", 5);
    let (tcp_origin, tcp_port) = pair("tcp", 0);
    let p = start_proxy(&format!(
        "{DEFAULTS}
listen same
    bind 127.0.0.1:{port}
    server s 127.0.0.2

listen shifted
    bind 127.0.0.1:{shifted_bind}
    server s 127.0.0.2:-5

listen raw
    mode tcp
    bind 127.0.0.1:{tcp_port}
    server s 127.0.0.2
"
    ));
    let at = |port: u16| -> SocketAddr { format!("127.0.0.1:{port}").parse().unwrap() };
    assert_eq!(served_by(&get(at(port), "/")), "same");
    assert_eq!(served_by(&get(at(shifted_bind), "/")), "shifted");
    assert_eq!(served_by(&get(at(tcp_port), "/")), "tcp");
    drop((p, same, shifted, tcp_origin));
}
