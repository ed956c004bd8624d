//! Balancing through a real proxy: round robin with weights, leastconn, source, backup servers, 503.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;

#[test]
fn roundrobin_weights_are_smooth_and_exact() {
    let o = origins(2);
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    default_backend be
backend be
    balance roundrobin
    server s1 {} weight 3
    server s2 {} weight 1
",
        free_port(),
        o[0].addr(),
        o[1].addr()
    );
    let p = start_proxy(&cfg);
    let mut c = Client::connect(p.addr);
    let order: Vec<String> = (0..8).map(|_| served_by(&c.get("/"))).collect();
    assert_eq!(order.iter().filter(|s| *s == "s1").count(), 6, "{order:?}");
    assert_eq!(order.iter().filter(|s| *s == "s2").count(), 2, "{order:?}");
    // Interleaved: s2 comes once in every window of four, never twice in a row.
    for w in order.chunks(4) {
        assert_eq!(w.iter().filter(|s| *s == "s2").count(), 1, "{order:?}");
    }
}

#[test]
fn roundrobin_equal_weights_rotate() {
    let o = origins(3);
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
{}",
        free_port(),
        server_lines(&o, "")
    );
    let p = start_proxy(&cfg);
    let order: Vec<String> = (0..6).map(|_| served_by(&get(p.addr, "/"))).collect();
    assert_eq!(order, ["s1", "s2", "s3", "s1", "s2", "s3"]);
}

#[test]
fn leastconn_avoids_the_busy_server() {
    let o = origins(2);
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    balance leastconn
{}",
        free_port(),
        server_lines(&o, "")
    );
    let p = start_proxy(&cfg);
    // Hold one slow request; with one server busy every new request must go to the other one.
    let addr = p.addr;
    let slow = std::thread::spawn(move || get(addr, "/sleep/1500"));
    assert!(wait_until(Duration::from_secs(2), || {
        o[0].requests() + o[1].requests() >= 1
    }));
    let busy = if o[0].requests() == 1 { "s1" } else { "s2" };
    for _ in 0..6 {
        let r = get(p.addr, "/");
        assert_ne!(served_by(&r), busy);
    }
    assert_eq!(slow.join().unwrap().status, 200);
}

#[test]
fn source_hash_is_sticky_and_spreads() {
    let o = origins(3);
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    balance source
{}",
        free_port(),
        server_lines(&o, "")
    );
    let p = start_proxy(&cfg);
    let mut first: HashMap<String, String> = HashMap::new();
    for round in 0..3 {
        for i in 1..=20 {
            let local = format!("127.0.0.{i}");
            let mut c = Client::connect_from(p.addr, &local);
            let s = served_by(&c.get("/"));
            if round == 0 {
                first.insert(local, s);
            } else {
                assert_eq!(first[&local], s, "source {local} moved");
            }
        }
    }
    let distinct: std::collections::HashSet<_> = first.values().collect();
    assert!(
        distinct.len() >= 2,
        "20 sources all on one server: {first:?}"
    );
}

#[test]
fn backup_only_when_every_active_server_is_down() {
    let o = origins(3);
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    option httpchk GET /health
    server s1 {} check inter 100ms fall 1 rise 1
    server s2 {} check inter 100ms fall 1 rise 1
    server s3 {} check inter 100ms fall 1 rise 1 backup
",
        free_port(),
        o[0].addr(),
        o[1].addr(),
        o[2].addr()
    );
    let p = start_proxy(&cfg);
    for _ in 0..6 {
        assert_ne!(served_by(&get(p.addr, "/")), "s3");
    }
    o[0].set_healthy(false);
    let servers = p.running.as_ref().unwrap().snapshot().servers.clone();
    assert!(wait_until(Duration::from_secs(3), || !servers[0].is_up()));
    for _ in 0..4 {
        assert_eq!(served_by(&get(p.addr, "/")), "s2");
    }
    o[1].set_healthy(false);
    assert!(wait_until(Duration::from_secs(3), || !servers[1].is_up()));
    for _ in 0..4 {
        assert_eq!(served_by(&get(p.addr, "/")), "s3");
    }
    o[0].set_healthy(true);
    assert!(wait_until(Duration::from_secs(3), || servers[0].is_up()));
    for _ in 0..4 {
        assert_eq!(served_by(&get(p.addr, "/")), "s1");
    }
}

#[test]
fn every_server_down_gives_503() {
    let dead1 = free_port();
    let dead2 = free_port();
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    retries 1
    server s1 127.0.0.1:{dead1} check inter 100ms fall 1
    server s2 127.0.0.1:{dead2} check inter 100ms fall 1
",
        free_port()
    );
    let p = start_proxy(&cfg);
    // Before the checks notice: connection failures, retried, then 503.
    let r = get(p.addr, "/");
    assert_eq!(r.status, 503);
    let servers = p.running.as_ref().unwrap().snapshot().servers.clone();
    assert!(wait_until(Duration::from_secs(3), || servers
        .iter()
        .all(|s| !s.is_up())));
    // Once they are known down: 503 at once, with HAProxy's headers and an HTML body.
    let r = get(p.addr, "/");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert!(
        r.text().contains("<h1>503 Service Unavailable</h1>"),
        "{}",
        r.text()
    );
}

/// The servers 12 requests from one client go to, one connection each, through a proxy with four worker threads
/// and `balance` as given (`None`: the default, roundrobin).
fn order_across_four_threads(balance: Option<&str>) -> Vec<String> {
    let o = origins(4);
    let cfg = format!(
        "{}
listen app
    bind 127.0.0.1:{}
{}{}",
        DEFAULTS.replace("nbthread 1", "nbthread 4"),
        free_port(),
        balance.map_or(String::new(), |b| format!("    balance {b}\n")),
        server_lines(&o, "")
    );
    let p = start_proxy(&cfg);
    (0..12).map(|_| served_by(&get(p.addr, "/"))).collect()
}

/// s1 s2 s3 s4 s1 ... for 12 requests.
fn in_turn() -> Vec<String> {
    (0..12).map(|i| format!("s{}", i % 4 + 1)).collect()
}

/// With several worker threads, new connections land on whichever thread accepts them, and still follow one
/// round-robin order per backend, as in HAProxy (HAProxy's reg-test balance/balance-rr.vtc checks the same).
#[test]
fn roundrobin_order_is_shared_by_worker_threads() {
    assert_eq!(order_across_four_threads(None), in_turn());
}

/// static-rr's rotation is one per backend as well (HAProxy's reg-test balance/balance-rr.vtc checks
/// roundrobin; static-rr shares its order the same way).
#[test]
fn static_rr_order_is_shared_by_worker_threads() {
    assert_eq!(order_across_four_threads(Some("static-rr")), in_turn());
}

/// leastconn's turn among equally loaded servers is one per backend too: requests that each end before the
/// next (every server idle, all tied) go to the servers in turn, whichever of four threads picks, as HAProxy's
/// one leastconn tree per backend sends them (each thread starting from the first server would repeat it).
#[test]
fn leastconn_ties_take_turns_across_worker_threads() {
    assert_eq!(order_across_four_threads(Some("leastconn")), in_turn());
}
