//! Direct routing (`-g`) end to end in network namespaces: the director forwards at its ingress hook by
//! rewriting the destination MAC; the real servers hold the VIP on `lo` (arp_ignore=1, arp_announce=2)
//! and answer the client straight over a second leg of the client on the servers' segment, so replies
//! never pass through the director.

#[path = "lvs_common/mod.rs"]
mod common;

use common::{counts, VIP};
use std::time::Instant;

#[test]
fn direct_routing_rr_replies_bypass_the_director() {
    direct_routing_rr(common::setup());
}

/// The same on the nftables plane alone (`FULCRUM_L4_PLANE=nftables`).
#[test]
fn direct_routing_rr_on_the_nftables_plane() {
    direct_routing_rr(common::setup_on("nftables"));
}

fn direct_routing_rr(lab: Option<common::Lab>) {
    let Some(lab) = lab else { return };
    let t0 = Instant::now();
    lab.direct_routing_legs();
    lab.ok(&format!("-A -t {VIP}:8080 -s rr"));
    lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.2 -g"));
    lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.3"));
    let list = lab.ok("-L -n");
    assert!(
        list.contains("  -> 198.18.1.2:8080              Route   1      0          0         \n"),
        "{list}"
    );

    let c1_rx = lab.link_stat("c", "c1", "rx", "packets");
    let d0_tx = lab.link_stat("d", "d0", "tx", "packets");
    assert_eq!(counts(&lab.traffic("tcp", 8080, 20)), (10, 10), "DR rr");
    let c1_rx = lab.link_stat("c", "c1", "rx", "packets") - c1_rx;
    let d0_tx = lab.link_stat("d", "d0", "tx", "packets") - d0_tx;
    // Every connection gets at least SYN-ACK, data and FIN back: all over c1, none through d0.
    assert!(c1_rx >= 60, "replies reach the client directly: {c1_rx}");
    assert!(
        d0_tx < 10,
        "replies do not pass through the director: {d0_tx}"
    );
    // The servers saw the VIP as the destination (no NAT): their closed sockets are VIP:8080.
    let tw = lab
        .exec("r1", &["ss", "-Htan", "state", "time-wait"])
        .unwrap_or_default();
    assert!(
        tw.contains("198.19.0.100:8080") || tw.contains("198.19.0.100]:8080"),
        "{tw}"
    );

    // Counters, flows and listings read back by fresh processes.
    let stats = lab.ok("-L -n --stats --exact");
    let svc: Vec<u64> = stats
        .lines()
        .find(|l| l.starts_with(&format!("TCP  {VIP}:8080")))
        .unwrap_or_default()
        .split_whitespace()
        .skip(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    assert_eq!(svc.first(), Some(&20), "{stats}");
    assert!(svc.get(1).is_some_and(|p| *p >= 60), "{stats}");
    assert_eq!(
        svc.get(2),
        Some(&0),
        "no OutPkts with direct routing: {stats}"
    );
    let conns = lab.ok("-L -n -c");
    assert!(
        conns
            .lines()
            .filter(|l| l.contains(&format!("{VIP}:8080")))
            .count()
            >= 20,
        "{conns}"
    );

    // Long-lived connections: counted as active, and they survive later stores (the flow entries
    // are carried over).
    lab.ok(&format!("-A -t {VIP}:8081 -s rr"));
    for r in ["198.18.1.2", "198.18.1.3"] {
        lab.ok(&format!("-a -t {VIP}:8081 -r {r}"));
    }
    let mut held = lab.hold(VIP, 8081, 4);
    let names = held.names.clone();
    assert_eq!(
        names.iter().filter(|n| *n == "r1").count(),
        2,
        "rr over held connections: {names:?}"
    );
    let list = lab.ok("-L -n");
    assert!(
        list.contains("  -> 198.18.1.2:8081              Route   1      2          0         \n"),
        "open flows count as active: {list}"
    );
    lab.ok(&format!("-e -t {VIP}:8081 -r 198.18.1.2 -w 0"));
    lab.ok("--set 0 0 0");
    assert_eq!(held.ping(), 4, "held connections survive stores");
    // Quiesced r1 takes no new connections; its open ones continue.
    assert_eq!(
        counts(&lab.traffic("tcp", 8080, 4)),
        (2, 2),
        "other service unaffected"
    );
    let more = lab.hold(VIP, 8081, 3);
    assert!(more.names.iter().all(|n| n == "r2"), "{:?}", more.names);
    assert_eq!(held.ping(), 4);
    eprintln!("netns DR test took {:?}", t0.elapsed());
}
