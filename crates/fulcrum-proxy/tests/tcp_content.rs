//! mode tcp: `tcp-request inspect-delay` and `tcp-request content accept|reject|set-var` on `req.len` and
//! `req.payload`, `tcp-response content` on `res.len` and `res.payload`, through a real proxy. Every configuration is also checked by the real `haproxy -c`.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// A server that reads until the client half-closes, then sends back every byte it read and closes; counts the
/// connections it accepted.
fn echo_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            c.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut all = Vec::new();
                let _ = s.read_to_end(&mut all);
                let _ = s.write_all(&all);
            });
        }
    });
    (addr, count)
}

/// A tcp-mode listen section with `rules` in front of `server`.
fn proxy(rules: &str, server: SocketAddr) -> Proxy {
    let cfg = format!(
        "global
    nbthread 1
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen li
    bind 127.0.0.1:{}
{rules}
    server s1 {server}
",
        free_port()
    );
    start_proxy(&cfg)
}

fn connect(p: &Proxy) -> TcpStream {
    let s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Sends `parts` with a pause between them, half-closes and reads what comes back (the error, if the proxy reset
/// the connection, as empty).
fn exchange(p: &Proxy, parts: &[&[u8]], pause: Duration) -> Vec<u8> {
    let mut s = connect(p);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        if s.write_all(part).is_err() {
            return Vec::new();
        }
    }
    let _ = s.shutdown(Shutdown::Write);
    let mut back = Vec::new();
    let _ = s.read_to_end(&mut back);
    back
}

#[test]
fn content_rules_accept_on_length_and_payload_across_segments() {
    let (srv, count) = echo_server();
    let p = proxy(
        r#"    tcp-request inspect-delay 5s
    tcp-request content accept if { req.len eq 14 } { req.payload(0,14) -m str "*1\r\n\$4\r\nPING\r\n" }
    tcp-request content reject"#,
        srv,
    );
    // The request arrives in three pieces: the rules wait for the 14 bytes, then accept at once (not after 5s).
    let start = Instant::now();
    let back = exchange(
        &p,
        &[b"*1\r\n", b"$4\r\nPI", b"NG\r\n"],
        Duration::from_millis(100),
    );
    assert_eq!(back, b"*1\r\n$4\r\nPING\r\n");
    assert!(start.elapsed() < Duration::from_secs(3));
    // Other bytes of the same length are rejected before any server connection.
    let back = exchange(&p, &[b"*1\r\n$4\r\nPONG\r\n"], Duration::ZERO);
    assert!(back.is_empty());
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn content_rules_binary_patterns_and_bytes_forwarded_intact() {
    let (srv, count) = echo_server();
    let p = proxy(
        "    tcp-request inspect-delay 5s
    tcp-request content reject if { req.payload(4,2) -m bin FFFF }
    tcp-request content accept if { req.payload(0,4) -m bin 00000017 } { req.len ge 8 }
    tcp-request content reject",
        srv,
    );
    // 100 kB after a matching head: the inspected bytes and every later one reach the server in order.
    let mut big = vec![0u8, 0, 0, 0x17];
    big.extend((0..100_000u32).map(|i| (i % 251) as u8));
    let back = exchange(
        &p,
        &[&big[..3], &big[3..6], &big[6..]],
        Duration::from_millis(50),
    );
    assert_eq!(back.len(), big.len());
    assert!(back == big);
    // A first rule that matches rejects, even though the second one would accept.
    assert!(exchange(&p, &[&[0, 0, 0, 0x17, 0xff, 0xff, 3, 4]], Duration::ZERO).is_empty());
    // Too short for the second rule once the client closed: the last rule rejects.
    assert!(exchange(&p, &[&[0, 0, 0, 0x17, 1]], Duration::ZERO).is_empty());
    // Lowercase hex matches too.
    let p2 = proxy(
        "    tcp-request inspect-delay 5s
    tcp-request content accept if { req.payload(0,2) -m bin abcd }
    tcp-request content reject",
        srv,
    );
    assert_eq!(
        exchange(&p2, &[&[0xab, 0xcd, 9]], Duration::ZERO),
        [0xab, 0xcd, 9]
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[test]
fn content_rules_decide_when_the_delay_expires() {
    let (srv, count) = echo_server();
    // Too few bytes: `req.len ge 10` cannot be decided until the delay expires, then fails: the next rule rejects.
    let p = proxy(
        "    tcp-request inspect-delay 400ms
    tcp-request content accept if { req.len ge 10 }
    tcp-request content reject",
        srv,
    );
    let mut s = connect(&p);
    s.write_all(b"abc").unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(count.load(Ordering::SeqCst), 0);

    // A payload reaching past the bytes there waits too; when the delay expires no rule matches: accepted, with
    // the bytes that came.
    let p = proxy(
        "    tcp-request inspect-delay 400ms
    tcp-request content reject if { req.payload(0,4) -m str EVIL }",
        srv,
    );
    let mut s = connect(&p);
    s.write_all(b"EV").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    s.write_all(b"IL").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"EVIL");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn content_rules_without_inspect_delay_decide_at_once() {
    let (srv, count) = echo_server();
    let p = proxy(
        "    tcp-request content accept if { req.len gt 0 }
    tcp-request content reject",
        srv,
    );
    // Nothing sent yet: the rules run once on no byte, and reject.
    let mut s = connect(&p);
    let start = Instant::now();
    let mut buf = [0u8; 4];
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0);
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(count.load(Ordering::SeqCst), 0);
}

#[test]
fn content_rules_final_when_the_client_closes() {
    let (srv, _) = echo_server();
    // The client half-closes after 2 bytes: the rules decide at once (no more byte can come), not after 5s.
    let p = proxy(
        "    tcp-request inspect-delay 5s
    tcp-request content accept if { req.len ge 4 }
    tcp-request content reject",
        srv,
    );
    let start = Instant::now();
    assert_eq!(exchange(&p, &[b"ab"], Duration::ZERO), b"");
    assert_eq!(exchange(&p, &[b"abcd"], Duration::ZERO), b"abcd");
    assert!(start.elapsed() < Duration::from_secs(3));
}

/// A server that reads a 4-byte command and answers `NO` to `DENY`, `OK CMD` to any other, then closes.
fn command_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            c.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut cmd = [0u8; 4];
                if s.read_exact(&mut cmd).is_err() {
                    return;
                }
                let answer = if &cmd == b"DENY" {
                    b"NO".to_vec()
                } else {
                    [&b"OK "[..], &cmd].concat()
                };
                let _ = s.write_all(&answer);
            });
        }
    });
    (addr, count)
}

/// The rules of `tcp_mode_variables_and_response_rules`: variables set by `tcp-request content` in order with
/// the other rules, read again by `tcp-response content` rules, which also read `res.len` and `res.payload`.
const VAR_RULES: &str = "    tcp-request inspect-delay 5s
    tcp-request content reject unless { req.len ge 4 }
    tcp-request content set-var(txn.cmd) req.payload(0,4)
    tcp-request content reject if { var(txn.cmd) -m str QUIT }
    tcp-response inspect-delay 5s
    tcp-response content reject unless { res.len ge 2 }
    tcp-response content set-var(res.status) res.payload(0,2)
    tcp-response content reject if { var(res.status) -m str NO }
    tcp-response content reject if { var(txn.cmd) -m str DROP }";

/// Each command sent in two pieces, and what the client gets back.
fn var_rules_answers(addr: SocketAddr) -> Vec<Vec<u8>> {
    ["PING", "QUIT", "DENY", "DROP"]
        .iter()
        .map(|cmd| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(&cmd.as_bytes()[..2]);
            std::thread::sleep(Duration::from_millis(50));
            let _ = s.write_all(&cmd.as_bytes()[2..]);
            let mut back = Vec::new();
            let _ = s.read_to_end(&mut back);
            back
        })
        .collect()
}

#[test]
fn tcp_mode_variables_and_response_rules() {
    let (srv, count) = command_server();
    let p = proxy(VAR_RULES, srv);
    let start = Instant::now();
    let answers = var_rules_answers(p.addr);
    assert_eq!(
        answers,
        [b"OK PING".to_vec(), Vec::new(), Vec::new(), Vec::new()]
    );
    // QUIT never reaches the server; the rules decide as soon as the bytes are there, not after the delays.
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(start.elapsed() < Duration::from_secs(3));
    // haproxy 2.6 answers the same.
    if haproxy_present() {
        let port = free_port();
        let cfg = format!(
            "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             listen li\n    bind 127.0.0.1:{port}\n{VAR_RULES}\n    server s1 {srv}\n"
        );
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&cfg, addr);
        assert_eq!(var_rules_answers(addr), answers);
    }
}

/// Without a delay the response rules decide on the bytes already there: a server that says nothing at once
/// leaves `res.len` at 0.
#[test]
fn response_rules_without_delay_decide_at_once() {
    let (srv, _) = command_server();
    let p = proxy(
        "    tcp-request inspect-delay 5s
    tcp-request content accept if { req.len ge 4 }
    tcp-response content reject if { res.len lt 2 }",
        srv,
    );
    assert_eq!(var_rules_answers(p.addr)[0], b"");
}

/// The rules of `http_mode_session_content_and_response_rules`: session rules on the client's address, content
/// rules on the HTTP request in the frontend and in the backend, response rules before the `http-response` ones.
fn http_tcp_rules(port: u16, server: SocketAddr) -> String {
    format!(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    tcp-request session reject if {{ src 127.0.0.2 }}
    tcp-request session set-var(sess.who) src
    tcp-request content set-var(txn.p) path
    tcp-request content reject if {{ var(txn.p) -m beg /rej-fe }}
    tcp-request content accept if {{ path_beg /acc }}
    tcp-request content reject if {{ path_beg /acc }}
    http-response set-header x-p \"%[var(txn.p)] %[var(sess.who)]\"
    default_backend be
backend be
    tcp-request inspect-delay 1s
    tcp-request content reject if {{ var(txn.p) -m beg /rej-be }}
    tcp-response inspect-delay 1s
    tcp-response content set-var(txn.st) str(seen)
    tcp-response content set-var(txn.st2) status
    tcp-response content accept if {{ var(txn.p) -m beg /acc-res }}
    tcp-response content reject if {{ var(txn.p) -m sub res }}
    http-response set-header x-st \"%[var(txn.st)] %[var(txn.st2)]\"
    server s1 {server}
"
    )
}

/// What a client at `from` gets for `path`: `closed` when nothing comes back, else the status and the `x-p` and
/// `x-st` headers.
fn http_outcome(addr: SocketAddr, from: &str, path: &str) -> String {
    let mut c = Client::connect_from(addr, from);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes());
    let mut all = Vec::new();
    let _ = c.reader.read_to_end(&mut all);
    if all.is_empty() {
        return "closed".to_string();
    }
    let text = String::from_utf8_lossy(&all).to_ascii_lowercase();
    let mut out: Vec<&str> = vec![text.get(9..12).unwrap_or("?")];
    out.extend(
        text.lines()
            .filter(|l| l.starts_with("x-p:") || l.starts_with("x-st:"))
            .map(str::trim),
    );
    out.join(" | ")
}

fn http_outcomes(addr: SocketAddr) -> Vec<String> {
    let mut all: Vec<String> = [
        "/ok", "/rej-fe", "/rej-be", "/acc-x", "/rej-res", "/acc-res",
    ]
    .iter()
    .map(|p| http_outcome(addr, "127.0.0.1", p))
    .collect();
    all.push(http_outcome(addr, "127.0.0.2", "/ok"));
    all
}

/// In `mode http`: `tcp-request session` rules run once per connection, `tcp-request content` rules on the
/// request in the frontend then in the backend (HTTP fetches allowed, `accept` ending only its own list), and
/// `tcp-response content` rules when the response comes, before `http-response` (its status not known to them
/// yet, as in haproxy); a rejection closes the connection without an answer. The same outcomes as haproxy 2.6.
#[test]
fn http_mode_session_content_and_response_rules() {
    let origin = origins(1);
    let p = start_proxy(&http_tcp_rules(free_port(), origin[0].addr()));
    let got = http_outcomes(p.addr);
    assert_eq!(
        got,
        [
            "200 | x-st: seen | x-p: /ok 127.0.0.1",
            "closed",
            "closed",
            "200 | x-st: seen | x-p: /acc-x 127.0.0.1",
            "closed",
            "200 | x-st: seen | x-p: /acc-res 127.0.0.1",
            "closed",
        ]
    );
    if haproxy_present() {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&http_tcp_rules(port, origin[0].addr()), addr);
        assert_eq!(http_outcomes(addr), got);
    }
}

/// A `mode tcp` frontend with session rules in front of a backend with its own content rules.
fn tcp_session_backend_rules(port: u16, server: SocketAddr) -> String {
    format!(
        "defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    tcp-request session reject if {{ src 127.0.0.2 }}
    tcp-request session set-var(sess.n) int(4)
    default_backend be
backend be
    tcp-request inspect-delay 2s
    tcp-request content reject unless {{ req.len ge 4 }}
    tcp-request content reject if {{ req.payload(0,4) -m str QUIT }}
    tcp-request content accept if {{ var(sess.n) -m int 4 }}
    tcp-request content reject
    server s1 {server}
"
    )
}

fn tcp_session_outcomes(addr: SocketAddr) -> Vec<Vec<u8>> {
    [
        ("127.0.0.1", "PING"),
        ("127.0.0.1", "QUIT"),
        ("127.0.0.2", "PING"),
    ]
    .iter()
    .map(|(from, cmd)| {
        let mut c = Client::connect_from(addr, from);
        let s = c.reader.get_mut();
        // In two pieces: the backend's rules wait within its inspect delay for the whole command.
        let _ = s.write_all(&cmd.as_bytes()[..2]);
        std::thread::sleep(Duration::from_millis(50));
        let _ = s.write_all(&cmd.as_bytes()[2..]);
        let _ = s.shutdown(Shutdown::Write);
        let mut back = Vec::new();
        let _ = c.reader.read_to_end(&mut back);
        back
    })
    .collect()
}

/// In `mode tcp`: `tcp-request session` rules (and their variables) run once before any byte is inspected, and
/// a backend's `tcp-request content` rules run as the connection enters it, with the backend's inspect delay.
/// The same answers as haproxy 2.6.
#[test]
fn tcp_mode_session_rules_and_backend_content_rules() {
    let (srv, count) = echo_server();
    let p = start_proxy(&tcp_session_backend_rules(free_port(), srv));
    let start = Instant::now();
    let got = tcp_session_outcomes(p.addr);
    assert_eq!(got, [b"PING".to_vec(), Vec::new(), Vec::new()]);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(start.elapsed() < Duration::from_secs(2));
    if haproxy_present() {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&tcp_session_backend_rules(port, srv), addr);
        assert_eq!(tcp_session_outcomes(addr), got);
    }
}

/// `WAIT_END` holds only once the rules run for the last time: with it, the bytes wait for the whole inspect
/// delay even though they are all there.
#[test]
fn wait_end_waits_for_the_inspect_delay() {
    let (srv, _) = command_server();
    let p = proxy(
        "    tcp-request inspect-delay 400ms\n    tcp-request content reject unless WAIT_END\n",
        srv,
    );
    let start = Instant::now();
    let mut s = connect(&p);
    s.write_all(b"PING").unwrap();
    let mut back = Vec::new();
    let _ = s.read_to_end(&mut back);
    assert_eq!(back, b"OK PING");
    assert!(start.elapsed() >= Duration::from_millis(350));
}

/// `silent-drop` in `tcp-request session` and `tcp-request content` rules (both modes): the connection is closed
/// without telling the client (no FIN, no RST: its read waits), where `reject` resets it; nothing reaches a server.
#[test]
fn silent_drop_in_session_and_content_rules() {
    let (srv, count) = echo_server();
    let tcp = proxy(
        "    tcp-request session silent-drop if { src 127.0.0.2 }\n    tcp-request inspect-delay 1s\n    tcp-request content silent-drop if { req.payload(0,4) -m str DROP }\n    tcp-request content reject if { req.payload(0,4) -m str KILL }\n",
        srv,
    );
    let o = origins(1);
    let http = start_proxy(&format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{}\n    tcp-request session silent-drop if {{ src 127.0.0.2 }}\n\
         tcp-request content silent-drop if {{ path /drop }}\n    default_backend be\n\
         backend be\n    server s1 {}\n",
        free_port(),
        o[0].addr()
    ));
    let read_after = |addr: SocketAddr, from: &str, send: &[u8]| {
        let mut c = Client::connect_from(addr, from);
        let s = c.reader.get_mut();
        s.set_read_timeout(Some(Duration::from_millis(600)))
            .unwrap();
        let _ = s.write_all(send);
        let mut buf = [0u8; 64];
        s.read(&mut buf).map_err(|e| e.kind())
    };
    use std::io::ErrorKind::{ConnectionReset, WouldBlock};
    // Nothing sent: the session is dropped at once, and bytes arriving after that would meet the kernel's reset.
    assert_eq!(read_after(tcp.addr, "127.0.0.2", b""), Err(WouldBlock));
    assert_eq!(read_after(tcp.addr, "127.0.0.1", b"DROP"), Err(WouldBlock));
    assert_eq!(
        read_after(tcp.addr, "127.0.0.1", b"KILL"),
        Err(ConnectionReset)
    );
    assert_eq!(count.load(Ordering::SeqCst), 0);
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        read_after(http.addr, "127.0.0.2", get("/").as_bytes()),
        Err(WouldBlock)
    );
    assert_eq!(
        read_after(http.addr, "127.0.0.1", get("/drop").as_bytes()),
        Err(WouldBlock)
    );
    assert_eq!(o[0].requests(), 0);
}

/// The netfilter mark `ss` reports for the proxy's end of the connection from local port `client_port`, when `ss`
/// runs.
fn fwmark(client_port: u16) -> Option<Option<String>> {
    let out = std::process::Command::new("ss")
        .args(["-tnieH", &format!("dport = :{client_port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    Some(
        text.split_whitespace()
            .find_map(|w| w.strip_prefix("fwmark:"))
            .map(str::to_string),
    )
}

/// `set-mark` in `tcp-request session` and `tcp-request content` rules (both modes) marks the client's socket
/// (`SO_MARK`, which needs CAP_NET_ADMIN: checked only when the tests run as root); `set-tos` is accepted
/// alongside. Evaluation goes on after them.
#[test]
fn set_mark_in_session_and_content_rules() {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    });
    let (srv, _) = echo_server();
    let tcp = proxy(
        "    tcp-request session set-mark 0x2a\n    tcp-request content set-tos 0x20\n    tcp-request content set-mark 42 if { src 127.0.0.2 }\n",
        srv,
    );
    let o = origins(1);
    let http = start_proxy(&format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{}\n    tcp-request content set-tos 0x20\n    tcp-request content set-mark 0x2b if {{ path /m }}\n\
         default_backend be\nbackend be\n    server s1 {}\n",
        free_port(),
        o[0].addr()
    ));
    let c = Client::connect_from(tcp.addr, "127.0.0.1");
    let port = c.reader.get_ref().local_addr().unwrap().port();
    let mut h = Client::connect(http.addr);
    assert_eq!(h.get("/m").status, 200);
    let hport = h.reader.get_ref().local_addr().unwrap().port();
    if !root {
        return;
    }
    std::thread::sleep(Duration::from_millis(100));
    if let Some(mark) = fwmark(port) {
        assert_eq!(mark.as_deref(), Some("0x2a"));
        assert_eq!(fwmark(hport).flatten().as_deref(), Some("0x2b"));
    }
    drop(c);
}

/// `fe_conn` counts the client connections open on the frontend, this one included.
#[test]
fn fe_conn_counts_open_client_connections() {
    let o = origins(1);
    let p = start_proxy(&format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{}\n    http-response set-header x-fc %[fe_conn]\n    default_backend be\n\
         backend be\n    server s1 {}\n",
        free_port(),
        o[0].addr()
    ));
    let mut a = Client::connect(p.addr);
    assert_eq!(a.get("/").header("x-fc"), Some("1"));
    let mut b = Client::connect(p.addr);
    assert_eq!(b.get("/").header("x-fc"), Some("2"));
    assert_eq!(a.get("/").header("x-fc"), Some("2"));
}

/// `REQ_CONTENT` (HAProxy's `req.len gt 0`): the first bytes accept the connection at once, well before the
/// inspect delay; a client that sends nothing is rejected when the delay ends.
#[test]
fn req_content_accepts_as_soon_as_bytes_arrive() {
    let (srv, _) = command_server();
    let p = proxy(
        "    tcp-request inspect-delay 3s\n    tcp-request content accept if REQ_CONTENT\n    \
         tcp-request content reject\n",
        srv,
    );
    let start = Instant::now();
    let mut s = connect(&p);
    s.write_all(b"PING").unwrap();
    let mut back = [0u8; 7];
    s.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"OK PING");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );

    let p = proxy(
        "    tcp-request inspect-delay 300ms\n    tcp-request content accept if REQ_CONTENT\n    \
         tcp-request content reject\n",
        srv,
    );
    let start = Instant::now();
    let mut s = connect(&p);
    let mut back = Vec::new();
    let _ = s.read_to_end(&mut back);
    assert!(back.is_empty(), "{back:?}");
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
}
