//! HTTP_GET against a loopback HTTP server.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fulcrum_health::keepalived::{
    Checker, ConnectOptions, HttpGetCheck, HttpGetSpec, HttpProtocol, StatusCodes, UrlSpec,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// MD5 of `hello world`.
pub const HELLO_MD5: &str = "5eb63bbbe01eeed093cb22bb8f5acdc3";

/// Reads a request head (up to the blank line).
pub async fn read_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// An HTTP server answering each request with `respond(path)` and closing; the request heads are sent
/// on the returned channel.
pub async fn serve(
    respond: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static,
) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let respond = std::sync::Arc::new(respond);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let (tx, respond) = (tx.clone(), respond.clone());
            tokio::spawn(async move {
                let head = read_head(&mut s).await;
                let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                let _ = tx.send(head);
                let _ = s.write_all(&respond(&path)).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, rx)
}

/// A response with `status` and `body` (with a Content-Length).
pub fn response(status: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.0 {status} Whatever\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn spec(urls: Vec<UrlSpec>) -> HttpGetSpec {
    HttpGetSpec {
        urls,
        connect: super::quick(),
        ..HttpGetSpec::default()
    }
}

fn check(urls: Vec<UrlSpec>) -> HttpGetCheck {
    HttpGetCheck::new(spec(urls)).unwrap()
}

fn url(path: &str) -> UrlSpec {
    UrlSpec::new(path)
}

#[tokio::test]
async fn default_status_is_2xx_and_request_is_keepalived_shaped() {
    let (addr, mut heads) = serve(|path| match path {
        "/ok" => response(200, "fine"),
        "/nc" => response(204, ""),
        "/moved" => response(301, ""),
        _ => response(503, "down"),
    })
    .await;
    let r = check(vec![url("/ok")]).run(addr).await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.reason, "/ok: status 200");
    assert_eq!(r.weight, None);
    assert_eq!(
        heads.recv().await.unwrap(),
        format!("GET /ok HTTP/1.0\r\nUser-Agent: fulcrum-checker\r\nHost: {addr}\r\n\r\n")
    );
    assert!(check(vec![url("/nc")]).run(addr).await.up);
    let r = check(vec![url("/moved")]).run(addr).await;
    assert!(!r.up);
    assert_eq!(r.reason, "/moved: status 301 not in 200-299");
    let r = check(vec![url("/down")]).run(addr).await;
    assert_eq!(
        (r.up, r.reason.as_str()),
        (false, "/down: status 503 not in 200-299")
    );
}

#[tokio::test]
async fn status_code_ranges() {
    let (addr, _heads) = serve(|path| match path {
        "/301" => response(301, ""),
        "/302" => response(302, ""),
        _ => response(404, ""),
    })
    .await;
    let codes = StatusCodes::parse(["200-204 301", "404"]).unwrap();
    let with = |path: &str| UrlSpec {
        status_codes: Some(codes.clone()),
        ..url(path)
    };
    assert!(check(vec![with("/301")]).run(addr).await.up);
    assert!(check(vec![with("/404")]).run(addr).await.up);
    let r = check(vec![with("/302")]).run(addr).await;
    assert!(!r.up);
    assert_eq!(r.reason, "/302: status 302 not in 200-204 301 404");
}

#[tokio::test]
async fn digest_match_and_mismatch() {
    let (addr, _heads) = serve(|path| match path {
        "/hello" => response(200, "hello world"),
        "/teapot" => response(418, "hello world"),
        _ => response(200, "hello world!"),
    })
    .await;
    let with = |path: &str, digest: &str| UrlSpec {
        digest: Some(digest.into()),
        ..url(path)
    };
    let r = check(vec![with("/hello", HELLO_MD5)]).run(addr).await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.reason, "/hello: status 200, digest matches");
    // Upper-case digests are accepted.
    assert!(
        check(vec![with("/hello", &HELLO_MD5.to_uppercase())])
            .run(addr)
            .await
            .up
    );
    let r = check(vec![with("/other", HELLO_MD5)]).run(addr).await;
    assert!(!r.up);
    assert_eq!(
        r.reason,
        "/other: MD5 digest fc3ff98e8c6a0d3087d515c0473f8677 does not match"
    );
    // With a digest and no status_code the status must still be 2xx (keepalived 2.2).
    let r = check(vec![with("/teapot", HELLO_MD5)]).run(addr).await;
    assert_eq!(r.reason, "/teapot: status 418 not in 200-299");
}

#[tokio::test]
async fn regex_and_regex_no_match() {
    let (addr, _heads) = serve(|_| response(200, "status: healthy\nload: 0.3\n")).await;
    let with = |pattern: &str, no_match: bool| UrlSpec {
        regex: Some(pattern.into()),
        regex_no_match: no_match,
        ..url("/")
    };
    let r = check(vec![with(r"(?m)^status: (healthy|degraded)$", false)])
        .run(addr)
        .await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.reason, "/: status 200, regex passes");
    let r = check(vec![with("unhealthy", false)]).run(addr).await;
    assert_eq!((r.up, r.reason.as_str()), (false, "/: regex did not match"));
    assert!(check(vec![with("unhealthy", true)]).run(addr).await.up);
    let r = check(vec![with("healthy", true)]).run(addr).await;
    assert_eq!(
        (r.up, r.reason.as_str()),
        (false, "/: regex matched (regex_no_match)")
    );
}

#[tokio::test]
async fn every_url_must_pass() {
    let (addr, mut heads) = serve(|path| match path {
        "/a" | "/b" => response(200, "hello world"),
        _ => response(500, ""),
    })
    .await;
    let mut s = spec(vec![
        UrlSpec {
            digest: Some(HELLO_MD5.into()),
            ..url("/a")
        },
        UrlSpec {
            virtualhost: Some("b.example".into()),
            ..url("/b")
        },
    ]);
    s.virtualhost = Some("www.example".into());
    s.protocol = HttpProtocol::Http11;
    let both = HttpGetCheck::new(s).unwrap();
    let r = both.run(addr).await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.reason, "2 urls passed");
    let a = heads.recv().await.unwrap();
    let b = heads.recv().await.unwrap();
    assert_eq!(
        a,
        "GET /a HTTP/1.1\r\nUser-Agent: fulcrum-checker\r\nConnection: close\r\nHost: www.example\r\n\r\n"
    );
    assert!(b.contains("\r\nHost: b.example\r\n"), "{b}");

    let r = check(vec![url("/a"), url("/broken"), url("/b")])
        .run(addr)
        .await;
    assert!(!r.up);
    assert_eq!(r.reason, "/broken: status 500 not in 200-299");
    let _ = (heads.recv().await, heads.recv().await);
    // The check stopped at the first failure: /b was not requested.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), heads.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let c = HttpGetCheck::new(HttpGetSpec {
        urls: vec![url("/")],
        connect: ConnectOptions::with_timeout(Duration::from_millis(300)),
        ..HttpGetSpec::default()
    })
    .unwrap();
    let start = Instant::now();
    let r = Checker::HttpGet(c).run(addr).await;
    assert!(!r.up);
    assert_eq!(r.reason, "/: timed out waiting for the response");
    assert!(r.duration >= Duration::from_millis(300), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn refused_garbage_empty_and_truncated() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let r = check(vec![url("/")]).run(closed).await;
    assert_eq!(
        (r.up, r.reason.as_str()),
        (false, "/: connection failed: Connection refused")
    );
    let (addr, _heads) = serve(|path| match path {
        "/garbage" => b"SSH-2.0-OpenSSH\r\n\r\n".to_vec(),
        "/empty" => Vec::new(),
        _ => b"HTTP/1.0 200 OK\r\nContent-Le".to_vec(),
    })
    .await;
    let reason = |path: &'static str| async move { check(vec![url(path)]).run(addr).await.reason };
    assert_eq!(
        reason("/garbage").await,
        "/garbage: invalid HTTP status line"
    );
    assert_eq!(reason("/empty").await, "/empty: no data received");
    assert_eq!(
        reason("/cut").await,
        "/cut: connection closed within the response header"
    );
}

/// A server that sends a complete response with a Content-Length and then keeps the connection open: the
/// check must not wait for the close.
#[tokio::test]
async fn content_length_ends_the_body() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held: Vec<TcpStream> = Vec::new();
        while let Ok((mut s, _)) = listener.accept().await {
            read_head(&mut s).await;
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello worldEXTRA")
                .await
                .unwrap();
            held.push(s);
        }
    });
    let c = HttpGetCheck::new(HttpGetSpec {
        urls: vec![UrlSpec {
            digest: Some(HELLO_MD5.into()),
            ..url("/")
        }],
        connect: ConnectOptions::with_timeout(Duration::from_secs(5)),
        ..HttpGetSpec::default()
    })
    .unwrap();
    let r = c.run(addr).await;
    assert!(r.up, "{r:?}");
    assert!(r.duration < Duration::from_secs(2), "{r:?}");
    let page = c.fetch(addr, 0, true).await.unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(page.body.as_deref(), Some(&b"hello world"[..]));
    assert_eq!(page.body_len, 11);
    assert_eq!(page.digest_hex(), HELLO_MD5);
    assert!(page.head.starts_with(b"HTTP/1.1 200 OK\r\n") && page.head.ends_with(b"\r\n\r\n"));
}

#[tokio::test]
async fn body_size_is_bounded() {
    let (addr, _heads) = serve(|_| {
        let mut r = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        r.extend(std::iter::repeat_n(b'x', 5000));
        r
    })
    .await;
    let mut s = spec(vec![UrlSpec {
        digest: Some(HELLO_MD5.into()),
        ..url("/big")
    }]);
    s.max_body = 4096;
    let r = HttpGetCheck::new(s.clone()).unwrap().run(addr).await;
    assert_eq!(
        (r.up, r.reason.as_str()),
        (false, "/big: response body larger than 4096 bytes")
    );
    // Without digest or regex the body is not read, so its size does not matter.
    s.urls[0].digest = None;
    assert!(HttpGetCheck::new(s).unwrap().run(addr).await.up);
}
