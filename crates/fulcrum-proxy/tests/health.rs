//! Health checks against live servers: a server that fails its checks leaves the rotation and comes back.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn http_check_down_and_up_moves_traffic() {
    let o = origins(2);
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    option httpchk GET /health
    http-check expect status 200
{}",
        free_port(),
        server_lines(
            &o,
            "check inter 100ms fastinter 50ms downinter 100ms rise 2 fall 2"
        )
    );
    let p = start_proxy(&cfg);
    let servers = p.running.as_ref().unwrap().snapshot().servers.clone();
    let both: std::collections::HashSet<_> = (0..4).map(|_| served_by(&get(p.addr, "/"))).collect();
    assert_eq!(both.len(), 2);

    o[1].set_healthy(false);
    assert!(
        wait_until(Duration::from_secs(3), || !servers[1].is_up()),
        "s2 never went DOWN"
    );
    for _ in 0..5 {
        assert_eq!(served_by(&get(p.addr, "/")), "s1");
    }
    o[1].set_healthy(true);
    assert!(
        wait_until(Duration::from_secs(3), || servers[1].is_up()),
        "s2 never came back UP"
    );
    let back: std::collections::HashSet<_> = (0..4).map(|_| served_by(&get(p.addr, "/"))).collect();
    assert_eq!(back.len(), 2);
}

#[test]
fn tcp_check_notices_a_dead_server_and_its_return() {
    let o = origins(2);
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
{}",
        free_port(),
        server_lines(&o, "check inter 100ms rise 1 fall 1")
    );
    let p = start_proxy(&cfg);
    let servers = p.running.as_ref().unwrap().snapshot().servers.clone();
    let addr2 = o[1].addr();
    let mut o = o;
    let s2 = o.pop().unwrap();
    s2.stop();
    assert!(
        wait_until(Duration::from_secs(3), || !servers[1].is_up()),
        "s2 never went DOWN"
    );
    for _ in 0..4 {
        assert_eq!(served_by(&get(p.addr, "/")), "s1");
    }
    // The server comes back on the same address.
    let again = fulcrum_proxy::origin::Origin::start("s2", addr2).unwrap();
    assert!(
        wait_until(Duration::from_secs(3), || servers[1].is_up()),
        "s2 never came back"
    );
    let names: std::collections::HashSet<_> =
        (0..4).map(|_| served_by(&get(p.addr, "/"))).collect();
    assert!(names.contains("s2"));
    again.stop();
}

#[test]
fn track_follows_the_tracked_server_and_srv_is_up_sees_it() {
    let o = origins(2);
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    http-request return status 200 content-type text/plain string up if {{ path /state }} {{ srv_is_up(chk/c1) }}
    http-request return status 503 content-type text/plain string down if {{ path /state }}
    http-request return status 200 content-type text/plain lf-string \"%[srv_conn(s2)] %[srv_queue(app/s2)]\" if {{ path /figures }}
    server s1 {} track chk/c1
    server s2 {}
backend chk
    option httpchk GET /health
    http-check expect status 200
    server c1 {} check inter 100ms fastinter 50ms downinter 100ms rise 2 fall 2
",
        free_port(),
        o[0].addr(),
        o[1].addr(),
        o[0].addr(),
    );
    let p = start_proxy(&cfg);
    let servers = p.running.as_ref().unwrap().snapshot().servers.clone();
    let s1 = servers
        .iter()
        .find(|s| s.full_name == "app/s1")
        .unwrap()
        .clone();
    assert_eq!(get(p.addr, "/state").status, 200);
    assert_eq!(get(p.addr, "/figures").text(), "0 0");
    let both: std::collections::HashSet<_> = (0..4).map(|_| served_by(&get(p.addr, "/"))).collect();
    assert_eq!(both.len(), 2);

    // c1's checks fail: s1, which runs no checks of its own, goes DOWN with it
    o[0].set_healthy(false);
    assert!(
        wait_until(Duration::from_secs(3), || !s1.is_up()),
        "s1 never followed c1 DOWN"
    );
    assert_eq!(get(p.addr, "/state").status, 503);
    for _ in 0..4 {
        assert_eq!(served_by(&get(p.addr, "/")), "s2");
    }
    o[0].set_healthy(true);
    assert!(
        wait_until(Duration::from_secs(3), || s1.is_up()),
        "s1 never followed c1 back UP"
    );
    assert_eq!(get(p.addr, "/state").status, 200);
}

/// The first checks of a farm are spread over the check interval (the eighth server's comes 7/8 of it later);
/// `max-spread-checks` bounds that spread, as in HAProxy.
#[test]
fn max_spread_checks_bounds_the_spread_of_the_first_checks() {
    let checked = |global: &str| {
        let o = origins(8);
        let cfg = format!(
            "global\n    nbthread 1\n{global}\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    \
             timeout server 5s\n\nlisten app\n    bind 127.0.0.1:{}\n    option httpchk GET /health\n{}",
            free_port(),
            server_lines(&o, "check inter 20s")
        );
        let _p = start_proxy(&cfg);
        wait_until(Duration::from_millis(1500), || {
            o.iter().all(|o| o.requests() > 0)
        });
        o.iter().filter(|o| o.requests() > 0).count()
    };
    assert_eq!(
        checked("    max-spread-checks 200ms\n"),
        8,
        "with max-spread-checks"
    );
    assert!(
        checked("") < 8,
        "without it, all eight were checked within 1.5 s"
    );
}
