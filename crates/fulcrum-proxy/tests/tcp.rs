//! mode tcp: bytes both ways, half-close passed through, balancing per connection.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use common::*;

/// A server that reads until the client half-closes, then answers `NAME:<bytes read>` and closes.
fn counting_server(name: &'static str) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(16) {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut all = Vec::new();
                let _ = s.read_to_end(&mut all);
                let _ = s.write_all(format!("{name}:{}", all.len()).as_bytes());
            });
        }
    });
    addr
}

#[test]
fn tcp_mode_forwards_and_passes_half_close() {
    let a = counting_server("a");
    let b = counting_server("b");
    let cfg = format!(
        "global
    nbthread 1
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{}
    default_backend be
backend be
    server a {a}
    server b {b}
",
        free_port()
    );
    let p = start_proxy(&cfg);
    let mut answers = Vec::new();
    for n in [10usize, 100_000, 3] {
        let mut s = TcpStream::connect(p.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(&vec![b'z'; n]).unwrap();
        // Half-close: the server only answers after seeing our EOF, and we can still read its answer.
        s.shutdown(Shutdown::Write).unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        answers.push(reply);
    }
    assert_eq!(answers, ["a:10", "b:100000", "a:3"]);
}

#[test]
fn tcp_mode_carries_http_too() {
    let o = origins(2);
    let cfg = format!(
        "global
    nbthread 1
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen app
    bind 127.0.0.1:{}
    balance roundrobin
{}",
        free_port(),
        server_lines(&o, "")
    );
    let p = start_proxy(&cfg);
    let names: Vec<String> = (0..4).map(|_| served_by(&get(p.addr, "/"))).collect();
    assert_eq!(names, ["s1", "s2", "s1", "s2"]);
}

#[test]
fn nosplice_copies_through_user_space_with_the_same_result() {
    let a = counting_server("a");
    let cfg = format!(
        "global
    nbthread 1
    nosplice
defaults
    mode tcp
    option splice-auto
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen l
    bind 127.0.0.1:{}
    server a {a}
",
        free_port()
    );
    haproxy_accepts(&cfg);
    let p = start_proxy(&cfg);
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&vec![b'z'; 3_000_000]).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "a:3000000");
}

#[test]
fn a_connection_no_backend_takes_is_closed_without_a_reset() {
    // As haproxy 2.6 closes it (checks/ssl-hello-check.vtc's be2 reads an empty response there, not a reset).
    let cfg = format!(
        "global
    nbthread 1
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{}
",
        free_port()
    );
    let p = start_proxy(&cfg);
    for _ in 0..5 {
        let mut s = TcpStream::connect(p.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"\x16\x03\x00 some bytes the proxy never reads")
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let mut buf = [0u8; 16];
        assert_eq!(s.read(&mut buf).map_err(|e| e.kind()), Ok(0));
    }
}
