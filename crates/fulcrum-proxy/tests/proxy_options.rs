//! Options whose effect the other files do not show, through a real proxy: `maxconn` in a frontend and in
//! `global`, `timeout connect`, `timeout tunnel`, the `port` and `addr` of health checks, and the stats page's
//! `show-node` and `show-legends`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// One client connection holds the only slot: a second connection is left waiting (the proxy stops accepting)
/// until the first one closes, then it is served.
fn second_connection_waits_for_the_first(addr: SocketAddr) {
    let mut first = Client::connect(addr);
    assert_eq!(first.get("/").status, 200);
    let mut second = Client::connect(addr);
    second.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let stream = second.reader.get_ref();
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut b = [0u8; 1];
    match stream.peek(&mut b) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("the second connection was served beyond maxconn: {other:?}"),
    }
    drop(first);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let r = second.read_response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello from s1\n");
}

#[test]
fn frontend_maxconn_holds_further_connections_until_one_closes() {
    let o = origins(1);
    let p = start_proxy(&format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    maxconn 1
{}",
        free_port(),
        server_lines(&o, "")
    ));
    second_connection_waits_for_the_first(p.addr);
}

#[test]
fn global_maxconn_holds_further_connections_until_one_closes() {
    let o = origins(1);
    let p = start_proxy(&format!(
        "{}
listen app
    bind 127.0.0.1:{}
{}",
        DEFAULTS.replace("nbthread 1", "nbthread 1\n    maxconn 1"),
        free_port(),
        server_lines(&o, "")
    ));
    second_connection_waits_for_the_first(p.addr);
}

/// `timeout connect` bounds each attempt to reach a server: against a server whose handshakes never complete, the
/// client gets a 503 once the attempts (1 + `retries`) have timed out, not after the kernel's SYN retries.
#[test]
fn timeout_connect_bounds_each_connection_attempt() {
    use socket2::{Domain, Socket, Type};
    // A listener with backlog 0 that never accepts: once its queue is full, the kernel drops further SYNs.
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    listener.bind(&local.into()).unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let fillers: Vec<Socket> = (0..3)
        .map(|_| {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            s.set_nonblocking(true).unwrap();
            let _ = s.connect(&addr.into());
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let p = start_proxy(&format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    timeout connect 200ms
    retries 1
    server s1 {addr}
",
        free_port()
    ));
    let start = Instant::now();
    let r = get(p.addr, "/");
    let took = start.elapsed();
    assert_eq!(r.status, 503);
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "answered after {took:?}"
    );
    drop(fillers);
}

/// `timeout tunnel` is the idle limit of a WebSocket tunnel and of a tcp-mode connection: the proxy closes them
/// once nothing moved for that long, although `timeout client` and `timeout server` are longer.
#[test]
fn timeout_tunnel_closes_idle_websocket_and_tcp_tunnels() {
    let o = origins(1);
    let p = start_proxy(&format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    timeout tunnel 300ms
{}",
        free_port(),
        server_lines(&o, "")
    ));
    let mut c = Client::connect(p.addr);
    c.send(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(c.read_response(true).status, 101);
    c.send(b"ping");
    let mut back = [0u8; 4];
    c.reader.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"ping");
    let idle = Instant::now();
    assert!(c.closed_within(Duration::from_secs(3)), "tunnel not closed");
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(2),
        "closed after {waited:?}"
    );

    // tcp mode: an echo server behind the proxy.
    let echo = TcpListener::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in echo.incoming().take(4) {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let p = start_proxy(&format!(
        "{DEFAULTS}
listen raw
    mode tcp
    bind 127.0.0.1:{}
    timeout tunnel 300ms
    server e {echo_addr}
",
        free_port()
    ));
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"hello").unwrap();
    let mut back = [0u8; 5];
    s.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"hello");
    let idle = Instant::now();
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("tcp tunnel not closed: {other:?}"),
    }
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(2),
        "closed after {waited:?}"
    );
}

/// `port` and `addr` send a server's health checks elsewhere than its traffic: checks to a closed port or to an
/// address nothing listens on take the server down although its traffic address works.
#[test]
fn check_port_and_addr_send_checks_elsewhere() {
    let o = origins(3);
    let closed = free_port();
    let s3_port = o[2].addr().port();
    let p = start_proxy(&format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    server s1 {} check inter 100ms fall 1 port {closed}
    server s2 {} check inter 100ms fall 1 addr 127.0.0.2
    server s3 {} check inter 100ms fall 1 addr 127.0.0.1 port {s3_port}
",
        free_port(),
        o[0].addr(),
        o[1].addr(),
        o[2].addr()
    ));
    assert!(
        wait_until(Duration::from_secs(5), || {
            (0..6).all(|_| get(p.addr, "/").text() == "Hello from s3\n")
        }),
        "s1 and s2 stayed up"
    );
}

/// `stats show-node NAME` puts the node name in the page's heading; `stats show-legends` shows the servers'
/// addresses, which the page hides otherwise, as HAProxy's does.
#[test]
fn stats_show_node_and_show_legends() {
    let o = origins(1);
    let page = |extra: &str| {
        let p = start_proxy(&format!(
            "{DEFAULTS}
listen web
    bind 127.0.0.1:{}
    stats uri /st
{extra}
{}",
            free_port(),
            server_lines(&o, "")
        ));
        let r = get(p.addr, "/st");
        assert_eq!(r.status, 200);
        r.text()
    };
    let addr = o[0].addr().to_string();
    let plain = page("");
    assert!(!plain.contains("node-7"), "{plain}");
    assert!(!plain.contains(&addr), "{plain}");
    let shown = page("    stats show-node node-7\n    stats show-legends");
    assert!(shown.contains("Statistics Report for node-7"), "{shown}");
    assert!(shown.contains(&addr), "{shown}");
}

#[test]
fn set_timeout_gives_a_request_its_own_server_timeout() {
    let o = origins(1);
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    timeout server 5s
    http-request set-timeout server 200ms if {{ path_beg /sleep/ }} {{ req.hdr(x-short) -m found }}
    http-request set-timeout server int(3),mul(1000) if {{ path /figures }}
    http-request return status 200 content-type text/plain lf-string \"%[be_server_timeout] %[cur_server_timeout] %[cur_tunnel_timeout]\" if {{ path /figures }}
    server s1 {}
",
        free_port(),
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    // the backend's 5 s would let the server take 600 ms; the request's own 200 ms does not
    let mut c = Client::connect(p.addr);
    let start = Instant::now();
    c.send(b"GET /sleep/600 HTTP/1.1\r\nHost: t\r\nX-Short: 1\r\n\r\n");
    assert_eq!(c.read_response(false).status, 504);
    assert!(
        start.elapsed() < Duration::from_millis(550),
        "{:?}",
        start.elapsed()
    );
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/sleep/300").status, 200);
    // the fetches: the backend's timeout, this stream's, and the tunnel one (none set: no sample)
    assert_eq!(get(p.addr, "/figures").text(), "5000 3000 ");
}
