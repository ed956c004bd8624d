//! `option tcp-check` rule sequences and `http-check expect` forms against scripted servers on loopback: the
//! verdicts and the `option log-health-checks` lines are compared with the real HAProxy 2.6's on the same
//! servers.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use common::*;

/// A line-based server: greets with `+OK ready`, answers `PING` with `+PONG` (anything else with `-ERR`), and
/// closes after one answer or 300 ms of silence.
fn scripted_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            std::thread::spawn(move || {
                let _ = c.write_all(b"+OK ready\r\n");
                let _ = c.set_read_timeout(Some(Duration::from_millis(300)));
                let mut line = String::new();
                let mut r = BufReader::new(c.try_clone().unwrap());
                if r.read_line(&mut line).is_ok() && !line.is_empty() {
                    let reply: &[u8] = if line.trim_end() == "PING" {
                        b"+PONG\r\n"
                    } else {
                        b"-ERR unknown\r\n"
                    };
                    let _ = c.write_all(reply);
                }
            });
        }
    });
    addr
}

/// The first `Health check for server BACKEND/...` line of each backend sent to a UDP syslog socket within
/// `wait`, the check duration blanked.
fn first_check_lines(sock: UdpSocket, wait: Duration) -> BTreeMap<String, String> {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut out = BTreeMap::new();
    let until = Instant::now() + wait;
    let mut buf = vec![0u8; 65536];
    while Instant::now() < until {
        let Ok(n) = sock.recv(&mut buf) else { continue };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let Some(i) = text.find("Health check for server ") else {
            continue;
        };
        let line = text[i..].trim_end().to_owned();
        let server = line["Health check for server ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .to_owned();
        let blanked = match (line.find("check duration: "), line.find("ms, status")) {
            (Some(a), Some(b)) => format!("{}N{}", &line[..a + 16], &line[b..]),
            _ => line,
        };
        out.entry(server).or_insert(blanked);
    }
    out
}

fn config(listen: u16, log: SocketAddr, srv: SocketAddr, closed: u16) -> String {
    let server =
        |extra: &str| format!("    server s {srv} check inter 100ms rise 1 fall 1 {extra}\n");
    format!(
        "global
    nbthread 1

defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s
    option log-health-checks
    log {log} local0

listen front
    bind 127.0.0.1:{listen}
    server x {srv}

backend redis
    option tcp-check
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG
{redis}
backend greeting
    option tcp-check
    tcp-check expect rstring ^\\+OK comment \"greeting\"
    tcp-check send-binary 50494e470d0a
    tcp-check expect binary 2b504f4e47 ok-status L6OK on-success \"pong seen\"
{greeting}
backend mismatch
    option tcp-check
    tcp-check comment \"wants nope\"
    tcp-check expect string nope
{mismatch}
backend unwanted
    option tcp-check
    tcp-check send QUIT\\r\\n
    tcp-check expect !string -ERR
{unwanted}
backend status
    option tcp-check
    tcp-check send QUIT\\r\\n
    tcp-check expect string +PONG error-status L7STS on-error \"no pong\"
{status}
backend formatted
    option tcp-check
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG on-success \"%[srv_name] sent %[res.payload(11,5)]\" status-code int(242)
{formatted}
backend formatted_err
    option tcp-check
    tcp-check send QUIT\\r\\n
    tcp-check expect string +PONG error-status L7STS on-error \"got %[res.payload(11,4)] from %[be_name]\" status-code int(503)
{formatted_err}
backend lf
    option tcp-check
    tcp-check set-var(check.want) str(+PONG)
    tcp-check send PING\\r\\n
    tcp-check expect string-lf \"%[var(check.want)]\"
{lf}
backend lf_miss
    option tcp-check
    tcp-check send PING\\r\\n
    tcp-check expect binary-lf \"%[str(nope),hex]\"
{lf_miss}
backend ports
    option tcp-check
    tcp-check connect
    tcp-check connect port {closed} comment \"second port\"
{ports}
backend bare
    option tcp-check
    server s 127.0.0.1:{closed} check inter 100ms rise 1 fall 1
",
        redis = server(""),
        greeting = server(""),
        mismatch = server(""),
        unwanted = server(""),
        status = server(""),
        ports = server(""),
        formatted = server(""),
        lf = server(""),
        lf_miss = server(""),
        formatted_err = server(""),
    )
}

#[test]
fn tcp_check_sequences_decide_and_log_as_haproxy_does() {
    let srv = scripted_server();
    let closed = free_port();
    let log = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = config(free_port(), log.local_addr().unwrap(), srv, closed);
    let _p = start_proxy(&cfg);
    let ours = first_check_lines(log, Duration::from_millis(1500));
    let expected = [
        ("bare/s", "failed, reason: Layer4 connection problem, info: \"Connection refused at initial connection step of tcp-check\""),
        ("formatted/s", "succeeded, reason: Layer7 check passed, code: 242, info: \"s sent +PONG\""),
        ("formatted_err/s", "failed, reason: Layer7 wrong status, code: 503, info: \"got -ERR from formatted_err\""),
        ("lf/s", "succeeded, reason: Layer7 check passed, code: 0, info: \"(tcp-check)\""),
        ("lf_miss/s", "failed, reason: Layer7 invalid response, info: \"TCPCHK did not match content (log-format binary) at step 2\""),
        ("greeting/s", "succeeded, reason: Layer6 check passed, info: \"pong seen\""),
        ("mismatch/s", "failed, reason: Layer7 invalid response, info: \"TCPCHK did not match content 'nope' at step 2 comment: wants nope\""),
        ("ports/s", "failed, reason: Layer4 connection problem, info: \"Connection refused at step 2 of tcp-check (connect port PORT) comment: 'second port'\""),
        ("redis/s", "succeeded, reason: Layer7 check passed, code: 0, info: \"(tcp-check)\""),
        ("status/s", "failed, reason: Layer7 wrong status, code: 0, info: \"no pong\""),
        ("unwanted/s", "failed, reason: Layer7 invalid response, info: \"TCPCHK matched unwanted content '-ERR' at step 2\""),
    ];
    assert_eq!(ours.len(), expected.len(), "{ours:#?}");
    for (server, text) in expected {
        let line = &ours[server];
        let text = text.replace("PORT", &closed.to_string());
        assert!(
            line.starts_with(&format!(
                "Health check for server {server} {text}, check duration: N"
            )),
            "{line}\nwanted: {text}"
        );
    }

    // The real HAProxy on the same servers logs the same lines.
    if !haproxy_present() {
        return;
    }
    let log = UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = free_port();
    let cfg = config(listen, log.local_addr().unwrap(), srv, closed);
    let _h = start_haproxy(&cfg, SocketAddr::from(([127, 0, 0, 1], listen)));
    let theirs = first_check_lines(log, Duration::from_millis(1500));
    assert_eq!(ours, theirs);
}

/// An HTTP server answering every request with `200 OK` and the body `hello`.
fn http_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(Duration::from_millis(300)));
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let _ =
                    c.write_all(b"HTTP/1.1 200 OK\r\nX-Foo: bar\r\nContent-Length: 5\r\n\r\nhello");
            });
        }
    });
    addr
}

const HTTP_EXPECTS: &[(&str, &str)] = &[
    ("status 200-399,404", "succeeded, reason: Layer7 check passed, code: 200"),
    ("status 300-399,404", "failed, reason: Layer7 wrong status, code: 200, info: \"OK\""),
    ("! status 200", "failed, reason: Layer7 wrong status, code: 200, info: \"OK\""),
    ("rstatus ^2", "succeeded, reason: Layer7 check passed, code: 200"),
    ("rstatus ^3", "failed, reason: Layer7 wrong status, code: 200, info: \"OK\""),
    ("string hello", "succeeded, reason: Layer7 check passed, code: 200"),
    ("! string hello", "failed, reason: Layer7 invalid response, info: \"HTTP check matched unwanted content\""),
    ("rstring hel+o", "succeeded, reason: Layer7 check passed, code: 200"),
    ("rstring nop", "failed, reason: Layer7 invalid response, info: \"HTTP content check did not match\""),
    ("status 500 comment foo", "failed, reason: Layer7 wrong status, code: 200, info: \"OK comment: foo\""),
    ("string nope comment cc", "failed, reason: Layer7 invalid response, info: \"HTTP content check did not match comment: cc\""),
    ("status 500 error-status L7RSP on-error bad", "failed, reason: Layer7 invalid response, info: \"bad\""),
    ("status 200 ok-status L6OK on-success good", "succeeded, reason: Layer6 check passed, info: \"good\""),
    ("status 200 on-success \"%[res.hdr(x-foo)] from %[srv_name]\" status-code int(299)", "succeeded, reason: Layer7 check passed, code: 299, info: \"bar from s\""),
    ("status 500 on-error \"was %[status]\" status-code str(404)", "failed, reason: Layer7 wrong status, code: 404, info: \"was 200\""),
    ("string nope on-error \"no %[var(check.x)]nope\" status-code int(500)", "failed, reason: Layer7 invalid response, info: \"no nope\""),
    ("string-lf \"h%[str(ell)]o\"", "succeeded, reason: Layer7 check passed, code: 200"),
    ("! string-lf \"%[srv_name]nope\" comment lf", "succeeded, reason: Layer7 check passed, code: 200"),
    ("string-lf \"%[srv_name]nope\" comment lf", "failed, reason: Layer7 invalid response, info: \"HTTP content check did not match comment: lf\""),
    ("min-recv 20 tout-status L6TOUT status 200", "succeeded, reason: Layer7 check passed, code: 200"),
    ("min-recv 1000 status 200", "succeeded, reason: Layer7 check passed, code: 200"),
];

fn http_config(listen: u16, log: SocketAddr, srv: SocketAddr) -> String {
    let mut cfg = format!(
        "global
    nbthread 1

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s
    option log-health-checks
    log {log} local0

listen front
    bind 127.0.0.1:{listen}
    server x {srv}
"
    );
    for (i, (expect, _)) in HTTP_EXPECTS.iter().enumerate() {
        cfg.push_str(&format!(
            "\nbackend h{i}\n    option httpchk\n    http-check expect {expect}\n    server s {srv} check inter 100ms rise 1 fall 1\n"
        ));
    }
    cfg
}

#[test]
fn http_check_expect_forms_decide_and_log_as_haproxy_does() {
    let srv = http_server();
    let log = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = http_config(free_port(), log.local_addr().unwrap(), srv);
    let _p = start_proxy(&cfg);
    let ours = first_check_lines(log, Duration::from_millis(1500));
    assert_eq!(ours.len(), HTTP_EXPECTS.len(), "{ours:#?}");
    for (i, (expect, text)) in HTTP_EXPECTS.iter().enumerate() {
        let line = &ours[&format!("h{i}/s")];
        assert!(
            line.starts_with(&format!(
                "Health check for server h{i}/s {text}, check duration: N"
            )),
            "expect {expect}: {line}\nwanted: {text}"
        );
    }
    if !haproxy_present() {
        return;
    }
    let log = UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = free_port();
    let cfg = http_config(listen, log.local_addr().unwrap(), srv);
    let _h = start_haproxy(&cfg, SocketAddr::from(([127, 0, 0, 1], listen)));
    let theirs = first_check_lines(log, Duration::from_millis(1500));
    assert_eq!(ours, theirs);
}

/// A server answering whatever it reads with a TLS alert record (handshake failure), as a TLS server refusing
/// SSLv3 does.
fn tls_alert_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                if std::io::Read::read(&mut c, &mut buf).is_ok_and(|n| n > 0) {
                    let _ = c.write_all(b"\x15\x03\x01\x00\x02\x02\x28");
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
    });
    addr
}

fn ssl_hello_config(listen: u16, log: SocketAddr, tls: SocketAddr, http: SocketAddr) -> String {
    format!(
        "global
    nbthread 1

defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s
    option log-health-checks
    log {log} local0

listen front
    bind 127.0.0.1:{listen}
    server x {http}

backend tls
    option ssl-hello-chk
    server s {tls} check inter 100ms rise 1 fall 1

backend plain
    option ssl-hello-chk
    server s {http} check inter 100ms rise 1 fall 1
"
    )
}

#[test]
fn ssl_hello_chk_tells_tls_servers_from_others_as_haproxy_does() {
    let (tls, http) = (tls_alert_server(), http_server());
    let log = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = ssl_hello_config(free_port(), log.local_addr().unwrap(), tls, http);
    let _p = start_proxy(&cfg);
    let ours = first_check_lines(log, Duration::from_millis(1000));
    assert!(
        ours["tls/s"].starts_with("Health check for server tls/s succeeded, reason: Layer6 check passed, check duration: N"),
        "{ours:#?}"
    );
    assert!(
        ours["plain/s"].starts_with("Health check for server plain/s failed, reason: Layer6 invalid response, check duration: N"),
        "{ours:#?}"
    );
    if !haproxy_present() {
        return;
    }
    let log = UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = free_port();
    let cfg = ssl_hello_config(listen, log.local_addr().unwrap(), tls, http);
    let _h = start_haproxy(&cfg, SocketAddr::from(([127, 0, 0, 1], listen)));
    let theirs = first_check_lines(log, Duration::from_millis(1000));
    assert_eq!(ours, theirs);
}

/// An HTTP server that keeps every request it reads (head and `Content-Length` body) and answers `200 OK` with
/// the headers `X-Foo: bar` and `X-Hdr-Name: x-foo`.
fn recording_http_server() -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::Read;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let keep = keep.clone();
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(Duration::from_millis(300)));
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut head = String::new();
                let mut line = String::new();
                let mut length = 0;
                while r.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&line);
                    line.clear();
                }
                let mut body = vec![0u8; length];
                let _ = r.read_exact(&mut body);
                head.push_str(&String::from_utf8_lossy(&body));
                keep.lock().unwrap().push(head);
                let _ = c.write_all(
                    b"HTTP/1.1 200 OK\r\nX-Foo: bar\r\nX-Hdr-Name: x-foo\r\nContent-Length: 5\r\n\r\nhello",
                );
            });
        }
    });
    (addr, seen)
}

/// `http-check` rulesets (HAProxy 2.2+): the rules of each backend, and the log line HAProxy 2.6 writes for
/// its first check (observed).
const HTTP_RULESETS: &[(&str, &str)] = &[
    (
        "http-check connect\n    http-check set-var(check.path) str(/one)\n    \
         http-check send meth GET uri-lf %[var(check.path)] ver HTTP/1.1 hdr x-srv %[srv_name]\n    \
         http-check expect status 200\n    http-check connect\n    http-check unset-var(check.path)\n    \
         http-check send meth POST uri-lf /two%[var(check.path)] body-lf \"on %[be_name]\"",
        "succeeded, reason: Layer7 check passed, code: 200",
    ),
    (
        "http-check connect\n    http-check send meth GET uri /three\n    http-check expect status 200\n    \
         http-check connect port {closed}",
        "failed, reason: Layer4 connection problem, info: \"Connection refused\"",
    ),
    (
        "http-check send meth GET uri /four\n    http-check expect status 200\n    \
         http-check set-var(check.h) res.fhdr(x-hdr-name)\n    http-check expect hdr name-lf %[var(check.h)] value bar",
        "succeeded, reason: Layer7 check passed, code: 200",
    ),
    (
        "http-check set-var(check.h) str(x-nope)\n    http-check send meth GET uri /five\n    \
         http-check expect hdr name-lf %[var(check.h)]",
        "failed, reason: Layer7 wrong status, code: 200, info: \"OK\"",
    ),
    (
        "http-check connect\n    http-check send meth GET uri /six\n    http-check expect status 200\n    \
         http-check connect\n    http-check send meth GET uri /seven\n    http-check expect status 201 comment c7",
        "failed, reason: Layer7 wrong status, code: 200, info: \"OK comment: c7\"",
    ),
];

fn ruleset_config(listen: u16, log: SocketAddr, srv: SocketAddr, closed: u16) -> String {
    let mut cfg = format!(
        "global
    nbthread 1

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s
    option log-health-checks
    log {log} local0

listen front
    bind 127.0.0.1:{listen}
    server x {srv}
"
    );
    for (i, (rules, _)) in HTTP_RULESETS.iter().enumerate() {
        let rules = rules.replace("{closed}", &closed.to_string());
        cfg.push_str(&format!(
            "\nbackend r{i}\n    option httpchk\n    {rules}\n    server s {srv} check inter 100ms rise 1 fall 1\n"
        ));
    }
    cfg
}

#[test]
fn http_check_rulesets_decide_log_and_send_as_haproxy_does() {
    let (srv, seen) = recording_http_server();
    let closed = free_port();
    let log = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = ruleset_config(free_port(), log.local_addr().unwrap(), srv, closed);
    let p = start_proxy(&cfg);
    let ours = first_check_lines(log, Duration::from_millis(1500));
    drop(p);
    assert_eq!(ours.len(), HTTP_RULESETS.len(), "{ours:#?}");
    for (i, (rules, text)) in HTTP_RULESETS.iter().enumerate() {
        let line = &ours[&format!("r{i}/s")];
        assert!(
            line.starts_with(&format!(
                "Health check for server r{i}/s {text}, check duration: N"
            )),
            "rules {rules}: {line}\nwanted: {text}"
        );
    }
    // The requests as rendered for each run: variables, names and the default version.
    let requests = seen.lock().unwrap().clone();
    let find = |start: &str| {
        requests
            .iter()
            .find(|r| r.starts_with(start))
            .unwrap_or_else(|| panic!("no request {start:?} in {requests:#?}"))
            .clone()
    };
    assert!(find("GET /one HTTP/1.1\r\n").contains("\r\nx-srv: s\r\n"));
    let two = find("POST /two HTTP/1.0\r\n");
    assert!(two.ends_with("Content-Length: 5\r\non r0"), "{two:?}");
    if !haproxy_present() {
        return;
    }
    let log = UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = free_port();
    let cfg = ruleset_config(listen, log.local_addr().unwrap(), srv, closed);
    let _h = start_haproxy(&cfg, SocketAddr::from(([127, 0, 0, 1], listen)));
    let theirs = first_check_lines(log, Duration::from_millis(1500));
    assert_eq!(ours, theirs);
}

/// A server that accepts connections and never answers (each is held until the test ends).
fn silent_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            held.push(c);
            if held.len() > 256 {
                held.remove(0);
            }
        }
    });
    addr
}

fn timeout_config(listen: u16, log: SocketAddr, srv: SocketAddr) -> String {
    let server = format!("    server s {srv} check inter 100ms rise 1 fall 1\n");
    format!(
        "global
    nbthread 1

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 300ms
    option log-health-checks
    log {log} local0

listen front
    bind 127.0.0.1:{listen}
    server x {srv}

backend plain
    option httpchk
    http-check expect status 200
{server}
backend tout
    option httpchk
    http-check expect tout-status L6TOUT status 200
{server}
backend tout4
    option httpchk
    http-check send meth GET uri /a
    http-check expect status 200 tout-status L4TOUT comment quiet
{server}"
    )
}

/// `tout-status` names the status of a check that times out on its expect rule.
#[test]
fn http_check_timeouts_take_tout_status_as_haproxy_does() {
    let srv = silent_server();
    let log = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = timeout_config(free_port(), log.local_addr().unwrap(), srv);
    let _p = start_proxy(&cfg);
    let ours = first_check_lines(log, Duration::from_millis(1500));
    for (server, text) in [
        ("plain/s", "failed, reason: Layer7 timeout"),
        ("tout/s", "failed, reason: Layer6 timeout"),
        ("tout4/s", "failed, reason: Layer4 timeout"),
    ] {
        let line = ours.get(server).cloned().unwrap_or_default();
        assert!(
            line.starts_with(&format!("Health check for server {server} {text}")),
            "{line}\nwanted: {text}"
        );
    }
    if !haproxy_present() {
        return;
    }
    let log = UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = free_port();
    let cfg = timeout_config(listen, log.local_addr().unwrap(), srv);
    let _h = start_haproxy(&cfg, SocketAddr::from(([127, 0, 0, 1], listen)));
    let theirs = first_check_lines(log, Duration::from_millis(1500));
    assert_eq!(ours, theirs);
}

/// A server answering each line with `COND` while `cond` holds, else with `BAD`.
fn toggled_server(cond: std::sync::Arc<std::sync::atomic::AtomicBool>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let cond = cond.clone();
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(Duration::from_millis(300)));
                let mut line = String::new();
                let mut r = BufReader::new(c.try_clone().unwrap());
                if r.read_line(&mut line).is_ok() && !line.is_empty() {
                    let on = cond.load(std::sync::atomic::Ordering::SeqCst);
                    let _ = c.write_all(if on { b"COND\r\n" } else { b"BAD\r\n" });
                }
            });
        }
    });
    addr
}

/// The state lines a run logs (checks, `Server ...`, `backend ... has no server available!`), check durations
/// blanked, read until a line containing `until` arrives (at most 5 s; with `until` empty, for 300 ms).
fn state_lines(sock: &UdpSocket, until: &str, out: &mut Vec<String>) {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let quiet = until.is_empty();
    let end = Instant::now() + Duration::from_millis(if quiet { 300 } else { 5000 });
    let mut buf = vec![0u8; 65536];
    while Instant::now() < end {
        let Ok(n) = sock.recv(&mut buf) else { continue };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let Some(i) = ["Health check for", "Server ", "backend ", "proxy "]
            .iter()
            .filter_map(|w| text.find(w))
            .min()
        else {
            continue;
        };
        let line = text[i..].trim_end().to_owned();
        let line = match (line.find("check duration: "), line.find("ms, status")) {
            (Some(a), Some(b)) => format!("{}N{}", &line[..a + 16], &line[b..]),
            _ => line,
        };
        let done = !quiet && line.contains(until);
        out.push(line);
        if done {
            return;
        }
    }
    assert!(quiet, "no line with {until:?} in 5 s: {out:#?}");
}

/// `ok-status L7OKC`: a conditional pass puts an UP server in the stopping state (NOLB), and counts as a passed
/// check for `rise`, so a DOWN server comes back straight to stopping. The same lines as haproxy 2.6 logs.
#[test]
fn ok_status_l7okc_stops_the_server_as_haproxy_does() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let run = |start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>| -> Vec<String> {
        let cond = std::sync::Arc::new(AtomicBool::new(true));
        let srv = toggled_server(cond.clone());
        let log = UdpSocket::bind("127.0.0.1:0").unwrap();
        let listen = free_port();
        let cfg = format!(
            "global
    nbthread 1
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    option log-health-checks
    log {} local0
listen li
    bind 127.0.0.1:{listen}
    option tcp-check
    tcp-check send PING\\r\\n
    tcp-check expect string COND ok-status L7OKC
    server s {srv} check inter 100ms rise 2 fall 2
",
            log.local_addr().unwrap()
        );
        let _p = start(&cfg, listen);
        let mut lines = Vec::new();
        state_lines(&log, "is stopping", &mut lines);
        cond.store(false, Ordering::SeqCst);
        state_lines(&log, "is DOWN", &mut lines);
        cond.store(true, Ordering::SeqCst);
        state_lines(&log, "is stopping", &mut lines);
        // The server was not usable before: no "no server available" line this time.
        state_lines(&log, "", &mut lines);
        lines
    };
    let ours = run(&|cfg, _| Box::new(start_proxy(cfg)));
    let want = [
        "Health check for server li/s conditionally succeeded, reason: Layer7 check conditionally passed, code: 0, info: \"(tcp-check)\", check duration: Nms, status: 2/2 UP.",
        "Server li/s is stopping. 0 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
        "proxy li has no server available!",
        "Health check for server li/s failed, reason: Layer7 invalid response, info: \"TCPCHK did not match content 'COND' at step 2\", check duration: Nms, status: 1/2 UP.",
        "Health check for server li/s failed, reason: Layer7 invalid response, info: \"TCPCHK did not match content 'COND' at step 2\", check duration: Nms, status: 0/2 DOWN.",
        "Server li/s is DOWN. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
        "Health check for server li/s conditionally succeeded, reason: Layer7 check conditionally passed, code: 0, info: \"(tcp-check)\", check duration: Nms, status: 1/2 DOWN.",
        "Health check for server li/s conditionally succeeded, reason: Layer7 check conditionally passed, code: 0, info: \"(tcp-check)\", check duration: Nms, status: 2/2 UP.",
        "Server li/s is stopping. 0 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
    ];
    assert_eq!(ours, want, "{ours:#?}");
    if !haproxy_present() {
        return;
    }
    let theirs = run(&|cfg, listen| {
        Box::new(start_haproxy(
            cfg,
            SocketAddr::from(([127, 0, 0, 1], listen)),
        ))
    });
    assert_eq!(ours, theirs);
}
