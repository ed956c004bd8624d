//! `option log-health-checks` and server state changes on a backend's `log` targets, and the request
//! `http-check send` writes, against live servers on loopback.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

/// Collects the datagrams sent to a UDP socket, on its own thread, for the life of the test.
fn syslog() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let sink = common::syslog::Syslog::start();
    (sink.addr, sink.lines.clone())
}

/// Waits until a line containing `needle` arrived; returns it.
fn line_with(lines: &Mutex<Vec<String>>, needle: &str) -> String {
    let found = || {
        lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains(needle))
            .cloned()
    };
    wait_until(Duration::from_secs(5), || found().is_some());
    found().unwrap_or_else(|| panic!("no line with {needle:?} in {:#?}", lines.lock().unwrap()))
}

#[test]
fn health_check_results_and_state_changes_reach_the_backend_log() {
    let o = origins(1);
    let (log, lines) = syslog();
    let cfg = format!(
        "{DEFAULTS}
    option log-health-checks

listen app
    bind 127.0.0.1:{}
    log {log} local0
    option httpchk GET /health
{}",
        free_port(),
        server_lines(&o, "check inter 50ms rise 1 fall 1")
    );
    let _p = start_proxy(&cfg);
    let pid = std::process::id();
    // local0 (16) * 8 + notice (5) = 133: the first check's status differs from none, so it is logged.
    let up = line_with(&lines, "Health check for server app/s1 succeeded");
    assert!(up.starts_with("<133>"), "{up}");
    assert!(up.contains(&format!(" fulcrum[{pid}]: Health check for server app/s1 succeeded, reason: Layer7 check passed, code: 200, check duration: ")), "{up}");
    assert!(up.ends_with("ms, status: 1/1 UP.\n"), "{up}");

    o[0].set_healthy(false);
    let failed = line_with(&lines, "Health check for server app/s1 failed");
    assert!(failed.starts_with("<133>"), "{failed}");
    assert!(
        failed.contains("failed, reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\", check duration: "),
        "{failed}"
    );
    assert!(failed.ends_with("ms, status: 0/1 DOWN.\n"), "{failed}");
    // The state change, at alert (<129>), then the backend's emergency (<128>); haproxy 2.6 names a `listen`
    // section a `proxy` there.
    let down = line_with(&lines, "Server app/s1 is DOWN");
    assert!(down.starts_with("<129>"), "{down}");
    let none = line_with(&lines, "proxy app has no server available!");
    assert!(none.starts_with("<128>"), "{none}");

    o[0].set_healthy(true);
    let back = line_with(&lines, "Server app/s1 is UP");
    assert!(back.starts_with("<133>"), "{back}");
    // Checks that change nothing are not logged: one line per change only.
    std::thread::sleep(Duration::from_millis(300));
    let checks = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("Health check for"))
        .count();
    assert_eq!(checks, 3, "{:#?}", lines.lock().unwrap());
}

#[test]
fn without_the_option_only_state_changes_are_logged() {
    let o = origins(1);
    let (log, lines) = syslog();
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    log {log} local0
    option httpchk GET /health
{}",
        free_port(),
        server_lines(&o, "check inter 50ms rise 1 fall 1")
    );
    let _p = start_proxy(&cfg);
    o[0].set_healthy(false);
    line_with(&lines, "Server app/s1 is DOWN");
    assert!(
        !lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("Health check")),
        "{:#?}",
        lines.lock().unwrap()
    );
}

/// The request an `http-check send` line describes, merged with `option httpchk`'s, as the server reads it.
#[test]
fn http_check_send_writes_headers_and_body() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let port = free_port();
    let cfg = format!(
        r#"{DEFAULTS}
listen app
    bind 127.0.0.1:{port}
    option httpchk GET /status HTTP/1.1\r\nHdr:\ dropped
    http-check send hdr Host "my-www-host" hdr X-test true body "test"
    server s1 {addr} check inter 5s
"#
    );
    let _p = start_proxy(&cfg);
    server.set_nonblocking(false).unwrap();
    let (mut conn, _) = server.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let want: &[u8] = b"GET /status HTTP/1.1\r\nHost: my-www-host\r\nX-test: true\r\nConnection: close\r\nContent-Length: 4\r\n\r\ntest";
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while got.len() < want.len() {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    let _ = conn.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
}

/// `http-check expect hdr|fhdr` against a server answering `X-Test: a, b`: the results and log lines
/// `/usr/sbin/haproxy` 2.6 gives for the same configuration (`hdr` splits on commas, `fhdr` does not, a
/// mismatch is a wrong status with the reason phrase).
#[test]
fn header_expectations() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in server.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut buf = [0u8; 1024];
            let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nX-Test: a, b\r\nX-Other: Value\r\nContent-Length: 0\r\n\r\n",
            );
        }
    });
    let (log, lines) = syslog();
    let backend = |name: &str, expect: &str| {
        format!(
            "backend {name}\n    log {log} local0\n    option httpchk\n    http-check expect {expect}\n    server s1 {addr} check inter 5s\n"
        )
    };
    let cfg = format!(
        "{DEFAULTS}
    option log-health-checks

listen app
    bind 127.0.0.1:{}
    server s1 {addr}

{}{}{}{}{}",
        free_port(),
        backend("split", "hdr name X-TEST value b"),
        backend("full", "fhdr name x-test value b"),
        backend("regex", "hdr name -m reg ^x-oth value -m beg Val"),
        // Several expect rules judge the same response in order; the first failing one decides.
        backend("seq_ok", "status 200\n    http-check expect hdr name x-test value a"),
        backend(
            "seq_fail",
            "status 200\n    http-check expect hdr name x-nope comment second\n    http-check expect status 500"
        ),
    );
    let _p = start_proxy(&cfg);
    for ok in ["split", "regex", "seq_ok"] {
        let l = line_with(&lines, &format!("server {ok}/s1"));
        assert!(
            l.contains("succeeded, reason: Layer7 check passed, code: 200,"),
            "{l}"
        );
    }
    let l = line_with(&lines, "server full/s1");
    assert!(
        l.contains("failed, reason: Layer7 wrong status, code: 200, info: \"OK\","),
        "{l}"
    );
    let l = line_with(&lines, "server seq_fail/s1");
    assert!(
        l.contains("failed, reason: Layer7 wrong status, code: 200, info: \"OK comment: second\","),
        "{l}"
    );
}

/// `http-check send-state`: the header haproxy 2.6 sends (observed with the same configuration), after the
/// configured headers: `UP 1/3` on the first check of a server starting UP (as the log's `status: 1/3 UP`), then
/// `UP`; the weight over the backend's active weight (a server in maintenance does not count).
#[test]
fn http_check_send_state_header() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let port = free_port();
    let cfg = format!(
        "{}    node mynode\n{}
frontend front
    bind 127.0.0.1:{}
    default_backend app

backend app
    option httpchk
    http-check send-state
    http-check send meth GET uri /x ver HTTP/1.1 hdr Host foo
    server s1 {addr} check inter 100ms weight 10
    server s2 127.0.0.1:{port} weight 20 disabled
",
        DEFAULTS.split_once("\n\n").unwrap().0.to_owned() + "\n",
        DEFAULTS.split_once("\n\n").unwrap().1,
        free_port(),
    );
    let _p = start_proxy(&cfg);
    let mut requests = Vec::new();
    for _ in 0..2 {
        let (mut conn, _) = server.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(b"\r\n\r\n") {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _ = conn.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
        requests.push(String::from_utf8_lossy(&got).into_owned());
    }
    let want = |state: &str| {
        format!("GET /x HTTP/1.1\r\nHost: foo\r\nx-haproxy-server-state: {state}; address=127.0.0.1; port={}; name=app/s1; node=mynode; weight=10/10; scur=0/0; qcur=0\r\nConnection: close\r\n\r\n", addr.port())
    };
    assert_eq!(requests[0], want("UP 1/3"));
    // A passed check puts the counter at its top: plain `UP`, as haproxy sends it.
    assert_eq!(requests[1], want("UP"));
}
