//! HTTP/2 towards servers (`server ... proto h2`): an origin written with the `h2` crate's server in this test,
//! requests from HTTP/1.1 and HTTP/2 clients sent to it as streams, a gRPC-like exchange (POST
//! `application/grpc`, the status in a trailer) end to end on both client protocols, streams multiplexed on one
//! connection and a new connection when the server's MAX_CONCURRENT_STREAMS is reached, `http-response` rules
//! and retries on the h2 path. Every configuration is also checked with the real `haproxy -c`.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{HeaderMap, Request, Response};

/// An HTTP/2 origin on its own thread. `GET /...` answers `h2 origin conn=N path=P authority=A te=T` (N: the
/// connection's number), `POST /grpc` echoes the request body with `content-type: application/grpc` and the
/// trailers `grpc-status: 0` and `grpc-message: ok`, `GET /slow` answers after 300 ms.
struct H2Origin {
    addr: SocketAddr,
    conns: Arc<AtomicUsize>,
}

fn h2_origin(max_streams: u32) -> H2Origin {
    h2_origin_on(max_streams, None)
}

/// An HTTP/2 origin behind TLS, offering `h2` by ALPN.
fn h2_tls_origin() -> H2Origin {
    use fulcrum_config::haproxy::ssl::{BindSsl, GlobalSsl};
    let k = pki();
    let bind = BindSsl {
        enabled: true,
        crts: vec![std::path::PathBuf::from(k.path("srv.pem"))],
        alpn: vec!["h2".into()],
        ..BindSsl::default()
    };
    let store = fulcrum_tls::store::CertStore::new(Arc::new(
        fulcrum_tls::rustls::crypto::aws_lc_rs::default_provider(),
    ));
    let config = fulcrum_tls::server::bind_config(&bind, &GlobalSsl::default(), &store)
        .unwrap_or_else(|e| panic!("{e}"))
        .tls
        .default_config();
    h2_origin_on(100, Some(tokio_rustls::TlsAcceptor::from(config)))
}

fn pki() -> &'static common::pki::Pki {
    static PKI: std::sync::OnceLock<common::pki::Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fulcrum-h2-srv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        common::pki::ca(&dir);
        common::pki::leaf(&dir, "srv", "srv.test", &["srv.test"], false, false);
        common::pki::Pki { dir }
    })
}

fn h2_origin_on(max_streams: u32, tls: Option<tokio_rustls::TlsAcceptor>) -> H2Origin {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let counter = conns.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(sock).await {
                                serve_h2(s, n, max_streams).await;
                            }
                        }
                        None => serve_h2(sock, n, max_streams).await,
                    }
                });
            }
        });
    });
    H2Origin { addr, conns }
}

async fn serve_h2<T>(io: T, n: usize, max_streams: u32)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut b = h2::server::Builder::new();
    b.max_concurrent_streams(max_streams);
    let Ok(mut conn) = b.handshake::<_, Bytes>(io).await else {
        return;
    };
    while let Some(Ok((req, respond))) = conn.accept().await {
        tokio::spawn(answer(n, req, respond));
    }
}

async fn answer(
    conn: usize,
    req: Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) {
    let (parts, mut body) = req.into_parts();
    let mut received = Vec::new();
    while let Some(Ok(d)) = body.data().await {
        let _ = body.flow_control().release_capacity(d.len());
        received.extend_from_slice(&d);
    }
    if parts.uri.path() == "/trailers" {
        // Echoes the request's body and trailer fields.
        let trailers = body.trailers().await.ok().flatten().unwrap_or_default();
        let mut text = String::from_utf8_lossy(&received).into_owned();
        for (k, v) in &trailers {
            text.push_str(&format!(" {k}={}", v.to_str().unwrap_or("")));
        }
        let resp = Response::builder()
            .status(200)
            .header("content-length", text.len().to_string())
            .body(())
            .unwrap();
        let mut send = respond.send_response(resp, false).unwrap();
        send.send_data(Bytes::from(text), true).unwrap();
        return;
    }
    if parts.uri.path() == "/grpc" {
        let resp = Response::builder()
            .status(200)
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        let mut send = respond.send_response(resp, false).unwrap();
        send.send_data(Bytes::from(received), false).unwrap();
        let mut t = HeaderMap::new();
        t.insert("grpc-status", "0".parse().unwrap());
        t.insert("grpc-message", "ok".parse().unwrap());
        send.send_trailers(t).unwrap();
        return;
    }
    if parts.uri.path() == "/slow" {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let text = format!(
        "h2 origin conn={conn} path={} authority={} te={} host={} version={:?}",
        parts.uri.path(),
        parts.uri.authority().map_or("", |a| a.as_str()),
        parts
            .headers
            .get("te")
            .map_or("", |v| v.to_str().unwrap_or("")),
        parts
            .headers
            .get("host")
            .map_or("", |v| v.to_str().unwrap_or("")),
        parts.version,
    );
    let resp = Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .header("content-length", text.len().to_string())
        .body(())
        .unwrap();
    let mut send = respond.send_response(resp, false).unwrap();
    send.send_data(Bytes::from(text), true).unwrap();
}

fn proxy_to(origin: &H2Origin, server_opts: &str, backend_extra: &str) -> Proxy {
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}\nfrontend f\n    bind 127.0.0.1:{port}\n    default_backend b\n\nbackend b\n{backend_extra}    server s1 {} {server_opts}\n",
        origin.addr
    );
    start_proxy(&cfg)
}

/// Sends `raw` on a fresh connection and reads until the proxy closes it.
fn raw_exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn http1_clients_are_served_over_h2_streams() {
    let o = h2_origin(100);
    let p = proxy_to(&o, "proto h2", "");
    let r = get(p.addr, "/a?x=1");
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(text.starts_with("h2 origin conn=1 path=/a"), "{text}");
    // Origin form: no :authority, the Host header kept, as HAProxy sends it.
    assert!(text.contains("authority= "), "{text}");
    assert!(text.contains("host=test "), "{text}");
    assert!(text.contains("version=HTTP/2.0"), "{text}");
    // Later requests (other client connections) reuse the same server connection.
    for _ in 0..3 {
        let r = get(p.addr, "/b");
        assert!(r.text().starts_with("h2 origin conn=1 "), "{}", r.text());
    }
    assert_eq!(o.conns.load(Ordering::SeqCst), 1);
}

#[test]
fn grpc_like_exchange_keeps_its_trailers_for_http1_and_http2_clients() {
    let o = h2_origin(100);
    let p = proxy_to(&o, "proto h2", "");
    // HTTP/1.1 client: the trailers come after the last chunk.
    let body = b"\x00\x00\x00\x00\x05hello";
    let mut raw = format!(
        "POST /grpc HTTP/1.1\r\nhost: g.test\r\ncontent-type: application/grpc\r\nte: trailers\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    let out = raw_exchange(p.addr, &raw);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("content-type: application/grpc"), "{out}");
    assert!(out.contains("transfer-encoding: chunked"), "{out}");
    assert!(out.contains("\x05hello\r\n"), "{out}");
    assert!(
        out.ends_with("0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n"),
        "{out:?}"
    );

    // HTTP/2 client (prior knowledge on the plain bind): h2 trailers.
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
        let req = Request::builder()
            .method("POST")
            .uri(format!("http://{addr}/grpc"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let (resp, mut send) = client.send_request(req, false).unwrap();
        send.send_data(Bytes::from_static(b"\x00\x00\x00\x00\x02hi"), true)
            .unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(5), resp)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/grpc");
        let mut body = resp.into_body();
        let mut got = Vec::new();
        while let Some(d) = body.data().await {
            got.extend_from_slice(&d.unwrap());
        }
        assert_eq!(got, b"\x00\x00\x00\x00\x02hi");
        let trailers = body.trailers().await.unwrap().expect("trailers");
        assert_eq!(trailers["grpc-status"], "0");
        assert_eq!(trailers["grpc-message"], "ok");
    });
}

#[test]
fn streams_are_multiplexed_up_to_the_servers_limit() {
    // One stream at a time per connection: two concurrent requests need two connections.
    let o = h2_origin(1);
    let p = proxy_to(&o, "proto h2", "");
    let addr = p.addr;
    let slow: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || get(addr, "/slow").text()))
        .collect();
    let answers: Vec<String> = slow.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        answers.iter().all(|a| a.starts_with("h2 origin conn=")),
        "{answers:?}"
    );
    assert_eq!(o.conns.load(Ordering::SeqCst), 2, "{answers:?}");
    // Many streams allowed: concurrent requests share one connection.
    let o = h2_origin(100);
    let p = proxy_to(&o, "proto h2", "");
    let addr = p.addr;
    let _ = get(addr, "/warm");
    let slow: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || get(addr, "/slow").text()))
        .collect();
    for t in slow {
        assert!(t.join().unwrap().starts_with("h2 origin conn=1 "));
    }
    assert_eq!(o.conns.load(Ordering::SeqCst), 1);
}

#[test]
fn default_server_proto_h2_with_response_rules_and_reuse_never() {
    let o = h2_origin(100);
    let p = proxy_to(
        &o,
        "",
        "    default-server proto h2\n    http-reuse never\n    http-response set-header x-seen yes\n",
    );
    for i in 1..=2 {
        let r = get(p.addr, "/r");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-seen"), Some("yes"));
        // `http-reuse never`: a connection per request, not shared.
        assert!(
            r.text().starts_with(&format!("h2 origin conn={i} ")),
            "{}",
            r.text()
        );
    }
}

#[test]
fn an_h2_server_that_is_down_gets_retries_then_503() {
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}\nfrontend f\n    bind 127.0.0.1:{port}\n    default_backend b\n\nbackend b\n    retries 1\n    server s1 127.0.0.1:{} proto h2\n",
        free_port()
    );
    let p = start_proxy(&cfg);
    assert_eq!(get(p.addr, "/").status, 503);
}

#[test]
fn proto_is_checked_where_it_is_written() {
    let err = fulcrum_config::haproxy::parse_str(
        "t.cfg",
        "defaults\n    mode http\nbackend b\n    server s 127.0.0.1:80 proto h3\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("t.cfg:4"), "{err}");
    assert!(err.contains("'proto' expects 'h1' or 'h2'"), "{err}");
    let err = fulcrum_config::haproxy::parse_str(
        "t.cfg",
        "backend b\n    mode tcp\n    server s 127.0.0.1:80 proto h2\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("MUX protocol 'h2' is not usable for server 's'"),
        "{err}"
    );
}

#[test]
fn ssl_server_that_picks_h2_by_alpn_gets_http2() {
    let o = h2_tls_origin();
    let ca = pki().path("ca.pem");
    let p = proxy_to(
        &o,
        &format!("ssl ca-file {ca} verifyhost srv.test alpn h2,http/1.1"),
        "    http-response set-header x-alpn %[ssl_bc_alpn]\n",
    );
    for _ in 0..2 {
        let r = get(p.addr, "/tls");
        assert_eq!(r.status, 200);
        let text = r.text();
        assert!(text.starts_with("h2 origin conn=1 path=/tls"), "{text}");
        assert!(text.contains("host=test "), "{text}");
        assert_eq!(r.header("x-alpn"), Some("h2"));
    }
    assert_eq!(o.conns.load(Ordering::SeqCst), 1);
}

#[test]
fn an_http2_clients_head_reads_the_servers_body_before_its_stream_ends() {
    // The HTTP/1 origin answers HEAD-turned-GET with a body: it is read (not sent) before the stream ends, so the
    // next stream finds the server connection idle and reuses it.
    let o = origins(1);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}\nfrontend f\n    bind 127.0.0.1:{port} proto h2\n    http-request set-method GET\n    default_backend b\n\nbackend b\n{}",
        server_lines(&o, "")
    );
    let p = start_proxy(&cfg);
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
        for (method, path) in [
            ("HEAD", "/bytes/100000"),
            ("HEAD", "/bytes/20"),
            ("GET", "/"),
        ] {
            let req = Request::builder()
                .method(method)
                .uri(format!("http://{addr}{path}"))
                .body(())
                .unwrap();
            let (resp, _) = client.send_request(req, true).unwrap();
            let resp = tokio::time::timeout(Duration::from_secs(5), resp)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(resp.status(), 200);
            let mut body = resp.into_body();
            let mut got = Vec::new();
            while let Some(d) = body.data().await {
                got.extend_from_slice(&d.unwrap());
            }
            if method == "HEAD" {
                assert!(got.is_empty());
            } else {
                assert!(got.starts_with(b"Hello from s1"));
            }
        }
    });
    assert_eq!(o[0].connections(), 1);
}

/// HTTP checks speak HTTP/2 to a `proto h2` server, or where `check-proto h2` says, and judge the answer by the
/// same `http-check expect` rules; an HTTP/1 check of an HTTP/2-only server fails.
#[test]
fn http_checks_over_h2() {
    let o = h2_origin(100);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}
frontend f
    bind 127.0.0.1:{port}
    default_backend ok

backend ok
    option httpchk GET /health
    server by_proto {addr} proto h2 check inter 100ms rise 1 fall 1
    server by_check_proto {addr} check check-proto h2 inter 100ms rise 1 fall 1

backend wrong_status
    option httpchk GET /health
    http-check expect status 418
    server s {addr} proto h2 check inter 100ms rise 1 fall 1

backend h1_check
    option httpchk GET /health
    server s {addr} proto h2 check check-proto h1 inter 100ms rise 1 fall 1
",
        addr = o.addr
    );
    let p = start_proxy(&cfg);
    let servers = p.running.as_ref().unwrap().snapshot().servers.clone();
    let server = |name: &str| {
        servers
            .iter()
            .find(|s| s.full_name == name)
            .unwrap()
            .clone()
    };
    // The checks run: the server answers them (over HTTP/2, or not at all).
    assert!(
        wait_until(Duration::from_secs(5), || o.conns.load(Ordering::SeqCst)
            >= 3),
        "no check reached the server"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(server("ok/by_proto").is_up());
    assert!(server("ok/by_check_proto").is_up());
    assert!(!server("wrong_status/s").is_up());
    assert!(!server("h1_check/s").is_up());
    let last = |name: &str| server(name).stats.check.last().map(|s| s.code());
    assert_eq!(last("wrong_status/s"), Some("L7STS"));
    assert_eq!(last("h1_check/s"), Some("L7RSP"));
    assert_eq!(last("ok/by_proto"), Some("L7OK"));
}

/// `http-check connect proto h2|h1`: the requests of a scripted HTTP check go as HTTP/2 streams on that
/// connection (or as HTTP/1), and the `default` connection follows the server's `proto h2`.
#[test]
fn scripted_http_checks_choose_their_protocol() {
    let o = h2_origin(100);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}
frontend f
    bind 127.0.0.1:{port}
    default_backend h2

backend h2
    option httpchk
    http-check connect proto h2
    http-check send meth GET uri /health ver HTTP/1.1 hdr host h.test
    http-check expect status 200
    http-check expect rstring h2\\ origin.*path=/health\\ authority=h.test
    server s {addr} check inter 100ms rise 1 fall 1

backend by_server
    option httpchk
    http-check connect default
    http-check send meth GET uri /by-server
    http-check expect rstring path=/by-server
    server s {addr} proto h2 check inter 100ms rise 1 fall 1

backend h1
    option httpchk
    http-check connect proto h1
    http-check send meth GET uri /health
    http-check expect status 200
    server s {addr} proto h2 check inter 100ms rise 1 fall 1
",
        addr = o.addr
    );
    let p = start_proxy(&cfg);
    let servers = p.running.as_ref().unwrap().snapshot().servers.clone();
    let last = |name: &str| {
        servers
            .iter()
            .find(|s| s.full_name == name)
            .and_then(|s| s.stats.check.last())
            .map(|s| s.code())
    };
    assert!(
        wait_until(Duration::from_secs(5), || last("h2/s").is_some()
            && last("by_server/s").is_some()
            && last("h1/s").is_some()),
        "the checks did not run"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(last("h2/s"), Some("L7OK"));
    assert_eq!(last("by_server/s"), Some("L7OK"));
    // HTTP/1 to an HTTP/2-only server: the server drops the connection on the bad preface.
    assert!(
        matches!(last("h1/s"), Some("L7RSP" | "SOCKERR")),
        "{:?}",
        last("h1/s")
    );
}

/// A chunked HTTP/1 request's trailer fields reach an HTTP/2 server as HTTP/2 trailers.
#[test]
fn request_trailers_reach_an_h2_server() {
    let o = h2_origin(100);
    let p = proxy_to(&o, "proto h2", "");
    let out = raw_exchange(
        p.addr,
        b"POST /trailers HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\nx-r: 1\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("\r\n\r\nhello x-r=1"), "{out:?}");
}
