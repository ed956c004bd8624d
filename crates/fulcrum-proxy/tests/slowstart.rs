//! `slowstart` through a real proxy: a server that comes back UP after failing its health checks starts with a
//! small share of the traffic and reaches its full weight at the end of the period; at process start, and with a
//! static algorithm, it gets its full weight at once.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fulcrum_proxy::server::ServerRt;

fn config(o: &[fulcrum_proxy::origin::Origin], balance: &str) -> String {
    format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    balance {balance}
    option httpchk GET /health
{}",
        free_port(),
        server_lines(o, "check inter 100ms fall 1 rise 1 slowstart 2s")
    )
}

/// How many of `n` requests on one keep-alive connection `name` served.
fn served_count(addr: SocketAddr, n: usize, name: &str) -> usize {
    let mut c = Client::connect(addr);
    (0..n).filter(|_| served_by(&c.get("/")) == name).count()
}

/// Makes s2 fail its checks until it is DOWN, then pass them again; returns when it is back UP.
fn bounce(o: &[fulcrum_proxy::origin::Origin], s2: &ServerRt) -> Instant {
    o[1].set_healthy(false);
    assert!(
        wait_until(Duration::from_secs(3), || !s2.is_up()),
        "s2 never went DOWN"
    );
    o[1].set_healthy(true);
    assert!(
        wait_until(Duration::from_secs(3), || s2.is_up()),
        "s2 never came back UP"
    );
    Instant::now()
}

fn servers(p: &Proxy) -> Vec<Arc<ServerRt>> {
    p.running.as_ref().unwrap().snapshot().servers.clone()
}

#[test]
fn roundrobin_ramps_a_recovered_server_up() {
    let o = origins(2);
    let p = start_proxy(&config(&o, "roundrobin"));
    let s = servers(&p);
    // Not at process start: both servers have their full weight from the first request.
    assert_eq!(served_count(p.addr, 20, "s2"), 10);
    assert_eq!(s[1].slowstart_stamp(), 0);

    let back = bounce(&o, &s[1]);
    assert_ne!(s[1].slowstart_stamp(), 0, "no ramp after coming back");
    // Right after its return s2 runs at about 1/20 of its weight: a small share, but not nothing.
    let early = served_count(p.addr, 60, "s2");
    let early_time = back.elapsed();
    assert!(
        (1..=18).contains(&early),
        "s2 served {early}/60 in the first {early_time:?} of its slowstart"
    );

    // Past the 2 s period: the ramp ends and the weights are equal again.
    std::thread::sleep(Duration::from_millis(2200).saturating_sub(back.elapsed()));
    assert!(
        wait_until(Duration::from_secs(2), || s[1].slowstart_stamp() == 0),
        "the ramp never ended"
    );
    let late = served_count(p.addr, 100, "s2");
    assert!(
        (40..=60).contains(&late),
        "s2 served {late}/100 after its slowstart"
    );
}

#[test]
fn the_share_grows_during_the_ramp() {
    let o = origins(2);
    let p = start_proxy(&config(&o, "roundrobin"));
    let s = servers(&p);
    let back = bounce(&o, &s[1]);
    let early = served_count(p.addr, 100, "s2");
    // Halfway (weight about 0.5 against 1): about a third of the requests.
    std::thread::sleep(Duration::from_millis(1100).saturating_sub(back.elapsed()));
    let mid = served_count(p.addr, 100, "s2");
    assert!(
        early < mid && (15..=49).contains(&mid),
        "s2 served {early}/100 at first, then {mid}/100 halfway through slowstart"
    );
}

#[test]
fn static_rr_ignores_slowstart() {
    let o = origins(2);
    let p = start_proxy(&config(&o, "static-rr"));
    let s = servers(&p);
    bounce(&o, &s[1]);
    // Let the farm built at the transition be swapped in.
    std::thread::sleep(Duration::from_millis(20));
    let share = served_count(p.addr, 40, "s2");
    assert!(
        (18..=22).contains(&share),
        "s2 served {share}/40 right after coming back with static-rr"
    );
}

#[test]
fn a_server_going_down_during_its_ramp_ends_it() {
    let o = origins(2);
    let p = start_proxy(&config(&o, "roundrobin"));
    let s = servers(&p);
    bounce(&o, &s[1]);
    o[1].set_healthy(false);
    assert!(wait_until(Duration::from_secs(3), || !s[1].is_up()));
    assert_eq!(s[1].slowstart_stamp(), 0);
    for _ in 0..4 {
        assert_eq!(served_by(&get(p.addr, "/")), "s1");
    }
    // It comes back with a new ramp of its own.
    bounce(&o, &s[1]);
    assert_ne!(s[1].slowstart_stamp(), 0);
}
