//! The controller (`ipvsadm --controller`) in network namespaces: wlc follows live connection counts
//! and upper thresholds stop new connections, with real long-lived TCP connections through NAT.

#[path = "lvs_common/mod.rs"]
mod common;

use common::{setup, Lab, VIP};
use std::time::{Duration, Instant};

/// Waits until the controller's rewrite of service 0's scheduling chain is in force.
fn controlled(lab: &Lab) {
    lab.wait_until("the controller's rewrite", Duration::from_secs(5), || {
        lab.exec("d", &["nft", "list", "chain", "inet", "fulcrum_lvs", "s0"])
            .is_ok_and(|o| o.contains("comment \"ctl "))
    });
    // A pass that read the table just before the store may have written a stale plan; the next
    // passes (every 200 ms) correct it.
    std::thread::sleep(Duration::from_millis(450));
}

fn active(lab: &Lab, rip: &str) -> u32 {
    lab.ok("-L -n")
        .lines()
        .find(|l| l.contains(rip))
        .and_then(|l| l.split_whitespace().nth(4).and_then(|v| v.parse().ok()))
        .unwrap_or(u32::MAX)
}

#[test]
fn controller_wlc_follows_connection_counts_and_thresholds() {
    let Some(lab) = setup() else { return };
    let t0 = Instant::now();
    let mut ctl = lab.controller();
    lab.ok(&format!("-A -t {VIP}:81 -s wlc"));
    lab.ok(&format!("-a -t {VIP}:81 -r 198.18.1.2:8081 -m"));
    lab.ok(&format!("-a -t {VIP}:81 -r 198.18.1.3:8081 -m -w 0"));
    controlled(&lab);
    let first = lab.hold(VIP, 81, 6);
    assert!(first.names.iter().all(|n| n == "r1"), "{:?}", first.names);

    // r2 back with weight 1: it has no connections, r1 has 6 established, so wlc sends new ones to r2.
    lab.ok(&format!("-e -t {VIP}:81 -r 198.18.1.3:8081 -m -w 1"));
    controlled(&lab);
    let second = lab.hold(VIP, 81, 5);
    assert!(second.names.iter().all(|n| n == "r2"), "{:?}", second.names);

    // r1's connections close: now r1 is the least loaded.
    drop(first);
    lab.wait_until("r1 idle", Duration::from_secs(5), || {
        active(&lab, "198.18.1.2:8081") == 0
    });
    std::thread::sleep(Duration::from_millis(600));
    let third = lab.hold(VIP, 81, 3);
    assert!(third.names.iter().all(|n| n == "r1"), "{:?}", third.names);

    // Thresholds: rr, r2 (5 connections) over its upper threshold 5 takes nothing new.
    lab.ok(&format!("-E -t {VIP}:81 -s rr"));
    lab.ok(&format!("-e -t {VIP}:81 -r 198.18.1.3:8081 -m -x 5"));
    controlled(&lab);
    let fourth = lab.hold(VIP, 81, 4);
    assert!(fourth.names.iter().all(|n| n == "r1"), "{:?}", fourth.names);
    let th = lab.ok("-L -n --thresholds");
    assert!(
        th.contains(
            "  -> 198.18.1.3:8081              5          3          5          0         \n"
        ),
        "{th}"
    );
    // Closed connections stay inactive (TIME_WAIT) and count toward thresholds, as in IPVS; raise the
    // thresholds instead: 5 connections are below the new lower threshold 6, so r2 is available again.
    lab.ok(&format!("-e -t {VIP}:81 -r 198.18.1.3:8081 -m -x 8 -y 6"));
    controlled(&lab);
    lab.wait_until("r2 available", Duration::from_secs(5), || {
        lab.exec("d", &["nft", "list", "chain", "inet", "fulcrum_lvs", "s0"])
            .is_ok_and(|o| o.contains("jump r0_1"))
    });
    let fifth = lab.hold(VIP, 81, 4);
    assert_eq!(
        fifth.names.iter().filter(|n| *n == "r2").count(),
        2,
        "{:?}",
        fifth.names
    );

    // SIGTERM: the controller stops and puts the static maps back.
    assert_eq!(ctl.terminate(), Some(0));
    drop((second, third, fourth, fifth));
    eprintln!("netns controller test took {:?}", t0.elapsed());
}
