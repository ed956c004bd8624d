//! Probes against in-process servers on 127.0.0.1.

use std::net::SocketAddr;
use std::time::Duration;

use fulcrum_health::{
    haproxy_log_line, http_check, tcp_check, CheckStatus, Expect, HttpCheck, LogContext, Probe,
    Tracker, Transition,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;

const TIMEOUT: Duration = Duration::from_secs(2);
const SHORT: Duration = Duration::from_millis(300);

/// A port on which nothing listens.
async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// Reads a request head (bounded), returns it.
async fn read_head(s: &mut TcpStream) -> Vec<u8> {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    req
}

/// A server answering every connection with `response`, then closing; requests are sent on the channel.
async fn serve(response: Vec<u8>) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let response = response.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let req = read_head(&mut s).await;
                let _ = tx.send(req);
                let _ = s.write_all(&response).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, rx)
}

/// A server that accepts and never answers.
async fn silent() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    addr
}

fn check(expect: Expect) -> HttpCheck {
    let host = [("Host".to_string(), "app.local".to_string())];
    HttpCheck::new("GET", "/health", "HTTP/1.1", &host, None, expect).unwrap()
}

#[tokio::test]
async fn tcp_refused() {
    let o = tcp_check(closed_port().await, TIMEOUT).await;
    assert_eq!(o.status, CheckStatus::L4Connection);
    assert_eq!(o.info.as_deref(), Some("Connection refused"));
    assert!(!o.ok());
}

#[tokio::test]
async fn tcp_passes() {
    let o = tcp_check(silent().await, TIMEOUT).await;
    assert_eq!(o.status, CheckStatus::L4Ok);
    assert!(o.ok());
    assert_eq!(o.code, None);
}

#[tokio::test]
async fn tcp_timeout_when_the_accept_queue_is_full() {
    // A listener with backlog 0 that never accepts: once one connection waits in its queue,
    // the kernel drops further SYNs, so the next handshake never completes.
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let _listener = socket.listen(0).unwrap();
    let mut fillers = Vec::new();
    for _ in 0..3 {
        fillers.push(tokio::spawn(TcpStream::connect(addr)));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let o = tcp_check(addr, SHORT).await;
    assert_eq!(o.status, CheckStatus::L4Timeout, "{o:?}");
    assert!(o.duration >= SHORT);
    let h = http_check(addr, &HttpCheck::options_default(), SHORT).await;
    assert_eq!(h.status, CheckStatus::L4Timeout);
    for f in fillers {
        f.abort();
    }
}

#[tokio::test]
async fn http_reset_after_connecting_is_a_socket_error() {
    // A server that reads the request and resets the connection (as a listener expecting a PROXY header does):
    // haproxy 2.6 reports `Socket error, info: "Connection reset by peer"` (observed with reg-test
    // server/cli_add_check_server), not a Layer4 connection problem.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        if let Ok((mut s, _)) = l.accept().await {
            let _ = read_head(&mut s).await;
            // Closing with SO_LINGER 0 sends a reset (the socket does not block: nothing is left to send).
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            drop(s);
        }
    });
    let o = http_check(addr, &HttpCheck::options_default(), TIMEOUT).await;
    assert_eq!(o.status, CheckStatus::SocketError, "{o:?}");
    assert_eq!(o.info.as_deref(), Some("Connection reset by peer"));
    assert!(!o.ok());
}

#[tokio::test]
async fn http_refused() {
    let o = http_check(closed_port().await, &HttpCheck::options_default(), TIMEOUT).await;
    assert_eq!(o.status, CheckStatus::L4Connection);
    assert_eq!(o.info.as_deref(), Some("Connection refused"));
}

#[tokio::test]
async fn http_default_passes_and_sends_the_request() {
    let (addr, mut requests) =
        serve(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()).await;
    let o = http_check(addr, &HttpCheck::options_default(), TIMEOUT).await;
    assert_eq!((o.status, o.code), (CheckStatus::L7Ok, Some(200)));
    assert_eq!(o.description(), "Layer7 check passed");
    assert_eq!(
        requests.recv().await.unwrap(),
        b"OPTIONS / HTTP/1.0\r\nConnection: close\r\n\r\n"
    );
    let o = http_check(addr, &check(Expect::Default), TIMEOUT).await;
    assert!(o.ok());
    assert_eq!(
        requests.recv().await.unwrap(),
        b"GET /health HTTP/1.1\r\nHost: app.local\r\nConnection: close\r\n\r\n"
    );
}

#[tokio::test]
async fn http_wrong_status() {
    let (addr, _) =
        serve(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_vec()).await;
    let o = http_check(addr, &HttpCheck::options_default(), TIMEOUT).await;
    assert_eq!(o.status, CheckStatus::L7Status);
    assert_eq!(o.code, Some(503));
    assert_eq!(o.info.as_deref(), Some("Service Unavailable"));
    assert_eq!(o.description(), "Layer7 wrong status");
    let (ok_addr, _) = serve(b"HTTP/1.1 200 OK\r\n\r\n".to_vec()).await;
    let o = http_check(ok_addr, &check(Expect::Status(201)), TIMEOUT).await;
    assert_eq!(
        (o.status, o.code, o.info.as_deref()),
        (CheckStatus::L7Status, Some(200), Some("OK"))
    );
}

#[tokio::test]
async fn http_string_match() {
    let (addr, _) =
        serve(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nstatus: good".to_vec()).await;
    let o = http_check(addr, &check(Expect::String("good".into())), TIMEOUT).await;
    assert_eq!((o.status, o.code), (CheckStatus::L7Ok, Some(200)));
    let o = http_check(addr, &check(Expect::String("bad".into())), TIMEOUT).await;
    assert_eq!(o.status, CheckStatus::L7Response);
    assert_eq!(o.info.as_deref(), Some("HTTP content check did not match"));
}

#[tokio::test]
async fn http_garbage_and_empty() {
    let (addr, _) = serve(b"garbage\r\n\r\n".to_vec()).await;
    let o = http_check(addr, &HttpCheck::options_default(), TIMEOUT).await;
    assert_eq!(
        (o.status, o.code, o.info.as_deref()),
        (CheckStatus::L7Response, None, None)
    );
    let (addr, _) = serve(Vec::new()).await;
    let o = http_check(addr, &HttpCheck::options_default(), TIMEOUT).await;
    assert_eq!(o.status, CheckStatus::L7Response);
    let (addr, _) = serve(vec![0xff; 40_000]).await;
    let o = http_check(addr, &HttpCheck::options_default(), TIMEOUT).await;
    assert_eq!(o.status, CheckStatus::L7Response);
}

#[tokio::test]
async fn http_timeout() {
    let o = http_check(silent().await, &HttpCheck::options_default(), SHORT).await;
    assert_eq!(o.status, CheckStatus::L7Timeout);
    assert!(o.duration >= SHORT);
    assert_eq!(o.description(), "Layer7 timeout");
}

#[tokio::test]
async fn a_dead_server_goes_down_with_a_haproxy_line() {
    let addr = closed_port().await;
    let mut tracker = Tracker::new(2, 3, TIMEOUT, SHORT, TIMEOUT, true);
    let mut outcome = Probe::Tcp.run(addr, TIMEOUT).await;
    outcome.duration = Duration::ZERO;
    assert_eq!(tracker.record(outcome.result()), Some(Transition::Down));
    let ctx = LogContext {
        active: 1,
        ..LogContext::default()
    };
    assert_eq!(
        haproxy_log_line("app", "s2", Transition::Down, &outcome, &ctx),
        "Server app/s2 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    );
    let (ok, _) = serve(b"HTTP/1.1 200 OK\r\n\r\n".to_vec()).await;
    let probe = Probe::Http(HttpCheck::options_default());
    assert_eq!(tracker.record(probe.run(ok, TIMEOUT).await.result()), None);
    assert_eq!(
        tracker.record(probe.run(ok, TIMEOUT).await.result()),
        Some(Transition::Up)
    );
}
