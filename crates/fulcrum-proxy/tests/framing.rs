//! Transfer codings as HAProxy handles them (the cases of its http_transfer_encoding reg-test, written afresh):
//! codings other than one `chunked` refused both ways, `TE: trailers` kept, a chunked response's `Content-Length`
//! dropped, an HTTP/1.0 server's response kept as HTTP/1.0, trailers and interim responses passed on.

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
    // An HTTP/1.0 server answering chunked: faulty framing (RFC 9112 section 6.1). As haproxy 2.6 (observed), the
    // client gets it as HTTP/1.0, still chunked, and the connection is closed after it.
    let (addr, _) = server("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    let p = proxy(addr);
    let mut c = Client::connect(p.addr);
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut all = Vec::new();
    let _ = c.reader.read_to_end(&mut all);
    assert_eq!(
        String::from_utf8_lossy(&all),
        "HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"
    );
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

/// An HTTP/1.0 request with `Transfer-Encoding: chunked` is read as chunked, as HAProxy does, even when its head
/// arrives in pieces and on any request of a connection; the `Content-Length` beside it is dropped, the answer
/// says `Connection: close` and the connection closes, keep-alive asked or not (RFC 9112 section 6.1). The codings
/// are checked as for HTTP/1.1.
#[test]
fn http10_request_with_transfer_encoding() {
    let (addr, heads) = server("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    let p = proxy(addr);
    let mut c = Client::connect(p.addr);
    for piece in [
        "POST /a HTT",
        "P/1.0\r\nConnection: keep-alive\r\nContent-Length: 12\r\nTransfer-Enc",
        "oding: chunked\r\n",
        "\r\n0\r\n\r\n",
    ] {
        c.send(piece.as_bytes());
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = c.read_response(false);
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert!(c.closed_within(Duration::from_secs(2)));
    let head = heads.recv().unwrap();
    assert!(head.starts_with("POST /a HTTP/1."), "{head}");
    assert!(head.contains("transfer-encoding: chunked\r\n"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    // In one piece, without keep-alive.
    let mut c = Client::connect(p.addr);
    c.send(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_eq!(c.read_response(false).status, 200);
    assert!(c.closed_within(Duration::from_secs(2)));
    assert!(heads.recv().is_ok());
    // The codings are checked as for HTTP/1.1.
    for (te, status) in [
        ("chunked, chunked", 400),
        ("gzip, chunked", 422),
        ("gzip", 400),
    ] {
        let mut c = Client::connect(p.addr);
        c.send(format!("POST / HTTP/1.0\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n").as_bytes());
        assert_eq!(c.read_response(false).status, status, "{te}");
    }
    assert!(heads.try_recv().is_err(), "nothing reached the server");
    // A plain HTTP/1.0 request goes to the server as HTTP/1.0, asking it to keep the connection (as HAProxy
    // sends it); the client gets HTTP/1.0 framing and the connection closes after the answer.
    let mut c = Client::connect(p.addr);
    c.send(b"GET / HTTP/1.0\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert!(c.closed_within(Duration::from_secs(2)));
    let head = heads.recv().unwrap();
    assert!(head.starts_with("GET / HTTP/1.0\r\n"), "{head}");
    assert!(head.contains("connection: keep-alive\r\n"), "{head}");
    // As a later request of a keep-alive connection too (HAProxy reads every request alike).
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").status, 200);
    assert!(heads.recv().is_ok());
    c.send(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert!(c.closed_within(Duration::from_secs(2)));
    assert!(heads.recv().is_ok());
}

/// An HTTP/1.0 client that asks for keep-alive keeps its connection and is told so (`Connection: keep-alive`), as
/// HAProxy answers; a request with a body and a request pipelined right behind it, in one segment, are served in
/// order on the same connection.
#[test]
fn http10_keep_alive_and_pipelined_bodies() {
    let (addr, heads) =
        server("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    let p = proxy(addr);
    let mut c = Client::connect(p.addr);
    for _ in 0..2 {
        c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = c.read_response(false);
        assert_eq!(
            (r.status, r.header("connection")),
            (200, Some("keep-alive"))
        );
        assert!(heads.recv().unwrap().starts_with("GET / HTTP/1.0\r\n"));
    }
    // The test server answers one request per connection, so it says so (a pooled connection it has just closed
    // would cost the POST a 502: a request with a body is never sent twice).
    let (addr, heads) =
        server("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let p = proxy(addr);
    let mut c = Client::connect(p.addr);
    c.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response(false).status, 403);
    assert!(heads.recv().is_ok());
    c.send(b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response(false).status, 403);
    assert_eq!(c.read_response(false).status, 403);
    let heads: Vec<String> = heads.iter().take(2).collect();
    assert!(heads[0].starts_with("POST /b "), "{heads:?}");
    assert!(heads[1].starts_with("GET /c "), "{heads:?}");
}

/// Under `option httpclose` and `option http-server-close` an HTTP/1.1 request tells the server
/// `connection: close`, as HAProxy sends it; an HTTP/1.0 request goes without a `connection` header.
#[test]
fn close_modes_tell_the_server() {
    for option in ["httpclose", "http-server-close"] {
        let (addr, heads) = server("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        let p = start_proxy(&format!(
            "{DEFAULTS}    option {option}\nlisten app\n    bind 127.0.0.1:{}\n    server s1 {addr}\n",
            free_port()
        ));
        let mut c = Client::connect(p.addr);
        assert_eq!(c.get("/").status, 200);
        let head = heads.recv().unwrap();
        assert!(head.contains("connection: close\r\n"), "{option}: {head}");
        let mut c = Client::connect(p.addr);
        c.send(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(c.read_response(false).status, 200);
        let head = heads.recv().unwrap();
        assert!(
            head.starts_with("GET / HTTP/1.0\r\n") && !head.contains("connection:"),
            "{option}: {head}"
        );
    }
}

/// A server that reads one chunked request to the end of its trailer section, sends back the body bytes it got
/// (from the first chunk on) on the channel, and answers with a chunked response carrying trailers.
fn trailer_server() -> (SocketAddr, mpsc::Receiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming().take(4) {
            let Ok(mut s) = s else { return };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // The head, then the body up to the empty line after the trailers (the body here: "hello").
            let head_end = |g: &[u8]| g.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
            let complete =
                |g: &[u8]| head_end(g).is_some_and(|h| g[h..].windows(4).any(|w| w == b"\r\n\r\n"));
            while !complete(&got) {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let body_at = head_end(&got).unwrap_or(got.len());
            let _ = tx.send(got[body_at..].to_vec());
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-t\r\n\r\n5\r\nhello\r\n0\r\nx-t: yes\r\ngrpc-status: 0\r\n\r\n",
            );
        }
    });
    (addr, rx)
}

/// One chunked request with trailers, the raw response read to the server's close.
fn exchange_with_trailers(addr: SocketAddr) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTrailer: x-r\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nx-r: 1\r\nx-r: 2\r\n\r\n",
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Trailer fields pass both ways with their chunked bodies, and the `Trailer` field announcing them stays, as
/// haproxy 2.6 does (compared with it).
#[test]
fn trailers_are_forwarded_both_ways_as_haproxy() {
    let run = |addr: SocketAddr, got: &mpsc::Receiver<Vec<u8>>| {
        let response = exchange_with_trailers(addr);
        let body = got
            .recv_timeout(Duration::from_secs(5))
            .expect("the server got the request");
        (
            String::from_utf8_lossy(&response).into_owned(),
            String::from_utf8_lossy(&body).into_owned(),
        )
    };
    let (ours_srv, ours_got) = trailer_server();
    let p = proxy(ours_srv);
    let ours = run(p.addr, &ours_got);
    assert!(ours.0.contains("trailer: x-t\r\n"), "{ours:?}");
    assert!(
        ours.0
            .ends_with("5\r\nhello\r\n0\r\nx-t: yes\r\ngrpc-status: 0\r\n\r\n"),
        "{ours:?}"
    );
    assert_eq!(ours.1, "5\r\nhello\r\n0\r\nx-r: 1\r\nx-r: 2\r\n\r\n");
    if !haproxy_present() {
        return;
    }
    let (theirs_srv, theirs_got) = trailer_server();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _h = start_haproxy(
        &format!("{DEFAULTS}\nlisten app\n    bind {addr}\n    server s1 {theirs_srv}\n"),
        addr,
    );
    let theirs = run(addr, &theirs_got);
    // The same fields (fulcrum writes `transfer-encoding` after the server's other fields, where haproxy keeps
    // its place), the same body and trailers.
    let fields = |r: &str| -> (Vec<String>, String) {
        let (head, rest) = r.split_once("\r\n\r\n").unwrap();
        let mut lines: Vec<String> = head.lines().map(str::to_string).collect();
        lines.sort();
        (lines, rest.to_string())
    };
    assert_eq!(fields(&ours.0), fields(&theirs.0));
    assert_eq!(ours.1, theirs.1);
}

/// The same over HTTP/2 from the client (prior knowledge on the plain bind): its trailers reach the HTTP/1 server
/// after the last chunk, and the server's reach the client as HTTP/2 trailers.
#[test]
fn trailers_cross_between_http2_clients_and_http1_servers() {
    let (srv, got) = trailer_server();
    let p = proxy(srv);
    let addr = p.addr;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut client, conn) = h2::client::handshake(sock).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("http://{addr}/"))
            .body(())
            .unwrap();
        let (resp, mut send) = client.send_request(req, false).unwrap();
        send.send_data(bytes::Bytes::from_static(b"hello"), false)
            .unwrap();
        let mut t = http::HeaderMap::new();
        t.insert("x-r", "1".parse().unwrap());
        send.send_trailers(t).unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(5), resp)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut data = Vec::new();
        while let Some(d) = body.data().await {
            data.extend_from_slice(&d.unwrap());
        }
        assert_eq!(data, b"hello");
        let trailers = body.trailers().await.unwrap().expect("trailers");
        assert_eq!(trailers["x-t"], "yes");
        assert_eq!(trailers["grpc-status"], "0");
    });
    let body = got.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&body),
        "5\r\nhello\r\n0\r\nx-r: 1\r\n\r\n"
    );
}

/// A server answering `103 Early Hints` before its final response, and `100 Continue` before reading a body.
fn hints_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(16) {
            let Ok(mut s) = s else { return };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            if got.starts_with(b"POST /refuse") {
                // Refused on its head alone: the client never gets a `100 Continue`, so sends no body.
                let _ = s.write_all(
                    b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            }
            if got.starts_with(b"POST") {
                let _ = s.write_all(b"HTTP/1.1 100 Continue\r\nx-from: server\r\n\r\n");
                // The body (3 bytes) may already have come with the head.
                let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
                if got.len() < head_end + 3 {
                    let _ = s.read(&mut buf);
                }
            } else {
                let _ =
                    s.write_all(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    addr
}

/// The response header lines curl shows for `GET /h` over HTTP/2 with prior knowledge (`< ...` lines, without
/// the date).
fn curl_h2_heads(addr: SocketAddr) -> Vec<String> {
    let out = std::process::Command::new("curl")
        .args([
            "-sv",
            "--http2-prior-knowledge",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
        ])
        .arg(format!("http://{addr}/h"))
        .output()
        .unwrap_or_else(|e| panic!("curl is needed: {e}"));
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("< "))
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Sends `raw` (then `body` once a `100 Continue` came) and reads the whole answer.
fn exchange(addr: SocketAddr, raw: &[u8], body: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let mut body_sent = body.is_empty();
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        if !body_sent && out.windows(12).any(|w| w == b"100 Continue") {
            s.write_all(body).unwrap();
            body_sent = true;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A server's `103 Early Hints` reaches an HTTP/1.1 client before the final response, and an
/// `Expect: 100-continue` request gets the server's `100 Continue`, or none when the server refuses it at once:
/// as haproxy 2.6 (compared with it). An HTTP/1.0 client
/// gets no interim response.
#[test]
fn interim_responses_reach_http11_clients_as_haproxy() {
    let cases: [(&[u8], &[u8]); 4] = [
        (b"GET /h HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", b""),
        (b"GET /h HTTP/1.0\r\nHost: t\r\n\r\n", b""),
        (
            b"POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
            b"abc",
        ),
        (
            b"POST /refuse HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
            b"abc",
        ),
    ];
    let p = proxy(hints_server());
    let ours: Vec<String> = cases.iter().map(|(r, b)| exchange(p.addr, r, b)).collect();
    // An HTTP/2 client (curl, prior knowledge) gets the 103 on its stream, before the final response.
    let h2 = curl_h2_heads(p.addr);
    assert_eq!(
        h2,
        [
            "HTTP/2 103",
            "link: </a.css>; rel=preload",
            "HTTP/2 200",
            "content-length: 2"
        ],
        "{h2:?}"
    );
    assert!(
        ours[0].starts_with(
            "HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n"
        ),
        "{ours:?}"
    );
    assert!(!ours[1].contains("103"), "{ours:?}");
    // The server's own `100 Continue` is passed on (not one the proxy makes up), and a server that refuses on
    // the head alone answers a client that never got one.
    assert_eq!(ours[2].matches("100 Continue").count(), 1, "{ours:?}");
    assert!(
        ours[2].starts_with("HTTP/1.1 100 Continue\r\nx-from: server\r\n\r\n"),
        "{ours:?}"
    );
    assert!(
        ours[3].starts_with("HTTP/1.1 417 Expectation Failed\r\n"),
        "{ours:?}"
    );
    if !haproxy_present() {
        return;
    }
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _h = start_haproxy(
        &format!(
            "{DEFAULTS}\nlisten app\n    bind {addr}\n    server s1 {}\n",
            hints_server()
        ),
        addr,
    );
    let theirs: Vec<String> = cases.iter().map(|(r, b)| exchange(addr, r, b)).collect();
    assert_eq!(ours[0], theirs[0]);
    assert_eq!(ours[2], theirs[2]);
    assert_eq!(ours[3], theirs[3]);
    assert_eq!(h2, curl_h2_heads(addr));
    // A deliberate difference: haproxy 2.6 also sends the 103 to the HTTP/1.0 client, which RFC 9110 (section
    // 15.2) forbids and such a client would take for the final response.
    assert!(theirs[1].starts_with("HTTP/1.1 103"), "{theirs:?}");
    assert_eq!(ours[1], theirs[1].split_once("\r\n\r\n").unwrap().1);
}

/// A server's HTTP/1.0 response keeps its version (and its reason phrase, as every response), as through haproxy
/// 2.6 (compared with it): with a length and
/// `Connection: keep-alive` the client connection stays (and says `connection: keep-alive`), without a length the
/// body runs to the server's close, unchunked.
#[test]
fn http10_responses_keep_their_version_as_haproxy() {
    fn http10_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming().take(8) {
                let Ok(s) = s else { return };
                std::thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut out = s.try_clone().unwrap();
                    let mut r = BufReader::new(s);
                    loop {
                        let mut first = String::new();
                        if r.read_line(&mut first).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut line = String::new();
                        while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                            line.clear();
                        }
                        if first.contains("/close") {
                            let _ = out.write_all(
                                b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nclose-delimited body",
                            );
                            return;
                        }
                        let _ = out.write_all(
                            b"HTTP/1.0 200 Fine\r\nConnection: keep-alive\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
                        );
                    }
                });
            }
        });
        addr
    }
    let run = |addr: SocketAddr| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /close HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    let p = proxy(http10_server());
    let ours = run(p.addr);
    assert_eq!(
        ours,
        "HTTP/1.0 200 Fine\r\ncontent-type: text/plain\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\nhello\
HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nclose-delimited body"
    );
    if !haproxy_present() {
        return;
    }
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _h = start_haproxy(
        &format!(
            "{DEFAULTS}\nlisten app\n    bind {addr}\n    server s1 {}\n",
            http10_server()
        ),
        addr,
    );
    assert_eq!(ours, run(addr));
}

/// A server's HTTP/1.1 response with neither a length nor chunking ends with its connection. haproxy 2.6 passes
/// it on the same way to an HTTP/1.1 client, unchunked, with `connection: close`, and closes the client's
/// connection after it (compared with it; fulcrum used to chunk it and keep the connection).
#[test]
fn http11_responses_without_a_length_end_with_the_connection_as_haproxy() {
    const ANSWER: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nclose-delimited body";
    let run = |addr: SocketAddr| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // The second request must not be answered: the connection ends with the first response.
        s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    let (origin, _) = server(ANSWER);
    let ours = run(proxy(origin).addr);
    assert_eq!(
        ours,
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nclose-delimited body"
    );
    if !haproxy_present() {
        return;
    }
    let (origin, _) = server(ANSWER);
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _h = start_haproxy(
        &format!("{DEFAULTS}\nlisten app\n    bind {addr}\n    server s1 {origin}\n"),
        addr,
    );
    assert_eq!(ours, run(addr));
}

/// `http-request early-hint`: consecutive rules make one `103 Early Hints` response, sent before the request
/// goes on; values are log formats. The same interim responses as haproxy 2.6 sends (compared with it).
#[test]
fn early_hint_rules_send_103_responses_as_haproxy() {
    let o = fulcrum_proxy::origin::Origin::start("s1", "127.0.0.1:0".parse().unwrap()).unwrap();
    let config = |port: u16| {
        format!(
            "{DEFAULTS}
listen app
    bind 127.0.0.1:{port}
    http-request early-hint link \"</a.css>; rel=preload\"
    http-request early-hint link \"</b.js>; rel=preload\"
    http-request set-var(txn.x) str(hinted)
    http-request early-hint x-h \"%[var(txn.x)]\" if {{ path /h }}
    server s1 {}
",
            o.addr()
        )
    };
    // What the client gets before the final response.
    let interim = |addr: SocketAddr, version: &str| {
        let out = exchange(
            addr,
            format!("GET /h HTTP/{version}\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
            b"",
        );
        out.split("HTTP/1.1 200")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let port = free_port();
    let p = start_proxy(&config(port));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ours = interim(addr, "1.1");
    assert_eq!(
        ours,
        "HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\nlink: </b.js>; rel=preload\r\n\r\n\
HTTP/1.1 103 Early Hints\r\nx-h: hinted\r\n\r\n"
    );
    // HTTP/1.0 clients get no interim response (RFC 9110 section 15.2; haproxy 2.6 sends them the 103s).
    let ours_10 = interim(addr, "1.0");
    assert!(
        ours_10.starts_with("HTTP/1.0 200") && !ours_10.contains("103"),
        "{ours_10}"
    );
    drop(p);
    if !haproxy_present() {
        return;
    }
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _h = start_haproxy(&config(port), addr);
    assert_eq!(interim(addr, "1.1"), ours);
}
