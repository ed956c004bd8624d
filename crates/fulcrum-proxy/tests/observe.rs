//! `observe layer4|layer7` with `error-limit` and `on-error`: the traffic's own errors count against a server's
//! health; `on-marked-down shutdown-sessions` and `on-marked-up shutdown-backup-sessions` close sessions when a
//! server changes state. The configurations are checked with the real `haproxy -c`; the behaviour follows what
//! HAProxy 2.6 does black-box (a server answering 500 with `observe layer7 error-limit 3` is at `UP 1/2` after
//! three errors and DOWN after six, with the check status `HANA`).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use common::*;
use fulcrum_health::CheckStatus;

/// A listener on one origin, the server line carrying `opts`.
fn one_server(o: &fulcrum_proxy::origin::Origin, extra: &str, opts: &str) -> Proxy {
    start_proxy(&format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    option httpchk GET /health
{extra}    server s1 {} {opts}
",
        free_port(),
        o.addr(),
    ))
}

#[test]
fn layer7_errors_fail_checks_until_the_server_is_down() {
    let o = origins(1);
    // Checks pass, but the traffic gets 500s: every 3 in a row count as one failed check; fall 2.
    let p = one_server(
        &o[0],
        "",
        "check inter 10s fastinter 10s rise 1 fall 2 observe layer7 error-limit 3",
    );
    let s = p.running.as_ref().unwrap().snapshot().servers[0].clone();
    assert!(s.is_up());
    // Errors that are not consecutive count nothing.
    for path in [
        "/status/500",
        "/status/503",
        "/",
        "/status/502",
        "/status/404",
    ] {
        get(p.addr, path);
    }
    assert_eq!(s.observer.failed.load(Relaxed), 0);
    // 501 and 505 are not errors either.
    for path in ["/status/500", "/status/501", "/status/500", "/status/505"] {
        get(p.addr, path);
    }
    assert_eq!(s.observer.failed.load(Relaxed), 0);
    for _ in 0..3 {
        assert_eq!(get(p.addr, "/status/500").status, 500);
    }
    assert!(wait_until(Duration::from_secs(2), || s.stats.check.last()
        == Some(CheckStatus::Hana)));
    assert_eq!(s.observer.failed.load(Relaxed), 1);
    assert_eq!(s.stats.check.failures.load(Relaxed), 1);
    assert!(s.is_up(), "one failed check of fall 2 leaves the server UP");
    for _ in 0..3 {
        get(p.addr, "/status/500");
    }
    assert!(
        wait_until(Duration::from_secs(2), || !s.is_up()),
        "six errors in a row never took the server DOWN"
    );
    assert_eq!(get(p.addr, "/").status, 503);
    assert_eq!(s.observer.failed.load(Relaxed), 2);
}

#[test]
fn mark_down_takes_the_server_down_and_the_checks_bring_it_back_at_fastinter() {
    let o = origins(1);
    let p = one_server(
        &o[0],
        "",
        "check inter 30s fastinter 1500ms rise 1 fall 3 observe layer7 error-limit 2 on-error mark-down",
    );
    let s = p.running.as_ref().unwrap().snapshot().servers[0].clone();
    get(p.addr, "/status/504");
    assert!(s.is_up());
    get(p.addr, "/status/504");
    assert!(
        wait_until(Duration::from_secs(1), || !s.is_up()),
        "mark-down did not take the server DOWN"
    );
    assert_eq!(s.stats.check.last(), Some(CheckStatus::Hana));
    // The next check comes after fastinter (not inter's 30 s) and passes.
    assert!(
        wait_until(Duration::from_secs(4), || s.is_up()),
        "the check at fastinter never brought the server back"
    );
    assert_eq!(s.stats.check.last(), Some(CheckStatus::L7Ok));
}

#[test]
fn sudden_death_leaves_one_more_error_and_fastinter_none() {
    let o = origins(2);
    let p = start_proxy(&format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    balance first
    option httpchk GET /health
    server s1 {} check inter 10s rise 1 fall 5 observe layer7 error-limit 1 on-error sudden-death
    server s2 {} check inter 10s rise 1 fall 1 observe layer7 error-limit 1 on-error fastinter
",
        free_port(),
        o[0].addr(),
        o[1].addr(),
    ));
    let servers = p.running.as_ref().unwrap().snapshot().servers.clone();
    let (s1, s2) = (&servers[0], &servers[1]);
    // Let the first checks run (s1 then fully up at health 5).
    assert!(wait_until(Duration::from_secs(2), || s1
        .stats
        .check
        .last()
        .is_some()));
    std::thread::sleep(Duration::from_millis(200));
    get(p.addr, "/status/500");
    assert!(wait_until(Duration::from_secs(1), || s1.stats.check.last()
        == Some(CheckStatus::Hana)));
    assert!(
        s1.is_up(),
        "sudden-death leaves the server UP, one error away"
    );
    get(p.addr, "/status/500");
    assert!(
        wait_until(Duration::from_secs(1), || !s1.is_up()),
        "the second error did not take the server DOWN"
    );
    // s1 is DOWN: s2 now gets the traffic; `fastinter` only counts, it never marks anything.
    for _ in 0..4 {
        assert_eq!(get(p.addr, "/status/500").status, 500);
    }
    assert!(wait_until(Duration::from_secs(1), || s2
        .observer
        .failed
        .load(Relaxed)
        == 4));
    std::thread::sleep(Duration::from_millis(100));
    assert!(s2.is_up());
    assert_ne!(s2.stats.check.last(), Some(CheckStatus::Hana));
}

#[test]
fn layer4_connection_failures_count() {
    let o = origins(1);
    // The traffic port refuses connections; the checks go to the origin (`port`).
    let closed = free_port();
    let p = start_proxy(&format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    retries 0
    server s1 127.0.0.1:{closed} port {} check inter 10s rise 1 fall 2 observe layer4 error-limit 2
",
        free_port(),
        o[0].addr().port(),
    ));
    let s = p.running.as_ref().unwrap().snapshot().servers[0].clone();
    assert!(wait_until(Duration::from_secs(2), || s.stats.check.last()
        == Some(CheckStatus::L4Ok)));
    assert_eq!(get(p.addr, "/").status, 503);
    assert_eq!(get(p.addr, "/").status, 503);
    assert!(wait_until(Duration::from_secs(1), || s.stats.check.last()
        == Some(CheckStatus::Hana)));
    assert!(s.is_up());
    get(p.addr, "/");
    get(p.addr, "/");
    assert!(
        wait_until(Duration::from_secs(1), || !s.is_up()),
        "four refused connections never took the server DOWN"
    );
    assert_eq!(s.observer.failed.load(Relaxed), 2);
}

#[test]
fn without_checks_the_errors_only_count() {
    let o = origins(1);
    let p = start_proxy(&format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    server s1 {} observe layer7 error-limit 1 on-error mark-down
",
        free_port(),
        o[0].addr(),
    ));
    let s = p.running.as_ref().unwrap().snapshot().servers[0].clone();
    for _ in 0..3 {
        assert_eq!(get(p.addr, "/status/500").status, 500);
    }
    assert_eq!(s.observer.failed.load(Relaxed), 3);
    assert!(s.is_up());
    assert_eq!(get(p.addr, "/").status, 200);
}

#[test]
fn a_server_marked_down_loses_its_tcp_sessions() {
    let o = origins(1);
    let p = start_proxy(&format!(
        "{DEFAULTS}
listen app
    mode tcp
    bind 127.0.0.1:{}
    option httpchk GET /health
    server s1 {} check inter 100ms rise 1 fall 1 on-marked-down shutdown-sessions
",
        free_port(),
        o[0].addr(),
    ));
    let s = p.running.as_ref().unwrap().snapshot().servers[0].clone();
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").status, 200);
    assert!(!c.closed_within(Duration::from_millis(300)));
    o[0].set_healthy(false);
    assert!(wait_until(Duration::from_secs(2), || !s.is_up()));
    assert!(
        c.closed_within(Duration::from_secs(1)),
        "the session of the server marked DOWN stayed open"
    );
}

#[test]
fn an_active_server_coming_up_closes_the_backup_sessions() {
    let o = origins(2);
    let p = start_proxy(&format!(
        "{DEFAULTS}
listen app
    mode tcp
    bind 127.0.0.1:{}
    option httpchk GET /health
    server s1 {} check inter 100ms rise 1 fall 1 on-marked-up shutdown-backup-sessions
    server s2 {} backup
",
        free_port(),
        o[0].addr(),
        o[1].addr(),
    ));
    let s1 = p.running.as_ref().unwrap().snapshot().servers[0].clone();
    o[0].set_healthy(false);
    assert!(wait_until(Duration::from_secs(2), || !s1.is_up()));
    let mut c = Client::connect(p.addr);
    let r = c.get("/");
    assert_eq!(served_by(&r), "s2");
    assert!(!c.closed_within(Duration::from_millis(200)));
    o[0].set_healthy(true);
    assert!(wait_until(Duration::from_secs(2), || s1.is_up()));
    assert!(
        c.closed_within(Duration::from_secs(1)),
        "the backup's session stayed open once s1 came back"
    );
    // Without the option, a backup's session outlives the active server's return.
    let p2 = start_proxy(&format!(
        "{DEFAULTS}
listen app
    mode tcp
    bind 127.0.0.1:{}
    option httpchk GET /health
    server s1 {} check inter 100ms rise 1 fall 1
    server s2 {} backup
",
        free_port(),
        o[0].addr(),
        o[1].addr(),
    ));
    let s1 = p2.running.as_ref().unwrap().snapshot().servers[0].clone();
    o[0].set_healthy(false);
    assert!(wait_until(Duration::from_secs(2), || !s1.is_up()));
    let mut c = Client::connect(p2.addr);
    assert_eq!(served_by(&c.get("/")), "s2");
    o[0].set_healthy(true);
    assert!(wait_until(Duration::from_secs(2), || s1.is_up()));
    assert!(!c.closed_within(Duration::from_millis(500)));
    assert_eq!(served_by(&c.get("/")), "s2");
}

/// A server that answers each request after `delay`, and a check port that accepts until `up` turns false.
fn slow_server_and_check_port(
    delay: Duration,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (std::net::SocketAddr, u16) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                std::thread::sleep(delay);
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            });
        }
    });
    let checks = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = checks.local_addr().unwrap().port();
    checks.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        // Accepts (and closes) check connections while `up`, then closes the port: the checks are refused.
        let end = std::time::Instant::now() + Duration::from_secs(30);
        while up.load(Relaxed) && std::time::Instant::now() < end {
            let _ = checks.accept();
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    (addr, port)
}

/// `on-marked-down shutdown-sessions` in `mode http`: a request waiting for the response of a server that goes
/// DOWN is answered 502 and logged `DH--`, as haproxy 2.6 does (observed).
#[test]
fn an_http_request_to_a_server_marked_down_gets_502() {
    let run = |start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>| -> (u16, String) {
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (srv, check_port) = slow_server_and_check_port(Duration::from_secs(3), up.clone());
        let log = common::syslog::Syslog::start();
        let port = free_port();
        let cfg = format!(
            "{DEFAULTS}
listen app
    bind 127.0.0.1:{port}
    log {} local0
    log-format \"%ST %tsc %s\"
    server s1 {srv} check port {check_port} inter 100ms rise 1 fall 1 on-marked-down shutdown-sessions
",
            log.addr
        );
        let _p = start(&cfg, port);
        let mut c = Client::connect(SocketAddr::from(([127, 0, 0, 1], port)));
        c.send(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
        std::thread::sleep(Duration::from_millis(300));
        up.store(false, Relaxed);
        let started = std::time::Instant::now();
        let status = c.read_response(false).status;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the answer waited for the server"
        );
        let line = log
            .wait_messages(1, |m| m.contains(" s1"))
            .pop()
            .unwrap_or_default();
        let line = line[line.rfind([']', ':']).map_or(0, |i| i + 1)..]
            .trim()
            .to_string();
        (status, line)
    };
    let ours = run(&|cfg, _| Box::new(start_proxy(cfg)));
    assert_eq!(ours, (502, "502 DH-- s1".to_string()));
    if haproxy_present() {
        let theirs = run(&|cfg, port| {
            Box::new(start_haproxy(cfg, SocketAddr::from(([127, 0, 0, 1], port))))
        });
        assert_eq!(ours, theirs);
    }
}
