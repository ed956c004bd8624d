//! Transfer codings as HAProxy handles them (the cases of its http_transfer_encoding reg-test, written afresh):
//! codings other than one `chunked` refused both ways, `TE: trailers` kept, a chunked response's `Content-Length`
//! dropped, and HTTP/1.1 answered whatever version the server spoke.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use common::*;

/// A server answering each connection's single request with `answer`; the request heads it read come out of the
/// channel.
fn server(answer: &'static str) -> (SocketAddr, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming().take(16) {
            let Ok(s) = s else { return };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut out = s.try_clone().unwrap();
            let mut r = BufReader::new(s);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            if head.contains("transfer-encoding: chunked") {
                // The request's chunked body: here always the last chunk alone.
                let mut end = [0u8; 5];
                let _ = r.read_exact(&mut end);
            }
            let _ = tx.send(head);
            let _ = out.write_all(answer.as_bytes());
        }
    });
    (addr, rx)
}

fn proxy(server: SocketAddr) -> Proxy {
    start_proxy(&format!(
        "{DEFAULTS}\nlisten app\n    bind 127.0.0.1:{}\n    server s1 {server}\n",
        free_port()
    ))
}

fn post(addr: SocketAddr, te: &str, extra: &str) -> Resp {
    let mut c = Client::connect(addr);
    c.send(
        format!("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: {te}\r\n{extra}\r\n0\r\n\r\n")
            .as_bytes(),
    );
    c.read_response(false)
}

#[test]
fn request_codings() {
    let (addr, heads) = server("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    let p = proxy(addr);
    assert_eq!(post(p.addr, "chunked, chunked", "").status, 400);
    assert_eq!(post(p.addr, "gzip, chunked", "").status, 422);
    assert!(heads.try_recv().is_err(), "nothing reached the server");
    // Only a bare `trailers` survives in TE.
    assert_eq!(
        post(p.addr, "chunked", "TE: trailers, gzip\r\n").status,
        200
    );
    assert!(heads.recv().unwrap().contains("te: trailers\r\n"));
    assert_eq!(
        post(p.addr, "chunked", "TE: trailers;q=0.5\r\n").status,
        200
    );
    assert!(!heads.recv().unwrap().contains("te:"));
}

#[test]
fn response_codings() {
    // Both framings: read as chunked, the length dropped.
    let (addr, _) = server(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\nResponse splitting attach",
    );
    let r = get(proxy(addr).addr, "/");
    assert_eq!((r.status, r.header("content-length")), (200, None));
    assert!(r.body.is_empty());
    // An HTTP/1.0 server: the client still gets HTTP/1.1, chunked.
    let (addr, _) = server("HTTP/1.0 200 Ok\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    let p = proxy(addr);
    let mut c = Client::connect(p.addr);
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut line = String::new();
    c.reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    // Any other coding, or chunked twice: 502.
    for answer in [
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\ncontent-length: 0\r\n\r\n",
    ] {
        let (addr, _) = server(answer);
        assert_eq!(get(proxy(addr).addr, "/").status, 502, "{answer}");
    }
}
