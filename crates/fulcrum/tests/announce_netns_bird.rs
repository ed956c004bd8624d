//! Health-driven announcement to a routing daemon (`fulcrum_announce_table`), end to end with BIRD in network
//! namespaces (the lab of `lvs_common`): the director runs `fulcrum keepalived -C` and BIRD, which learns
//! fulcrum's routing table and exports it over eBGP to BIRD in the client's namespace (the "router"); the
//! router installs the learned route in its kernel. The virtual address is announced while its service holds
//! its quorum, withdrawn when the checks fail, announced again when they pass, withdrawn at once when fulcrum
//! is killed with SIGKILL (the routes go with fulcrum's TUN device) and when it stops.

#[path = "lvs_common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{sh, Lab, VIP};

const DIRECTOR_BIRD: &str = "router id 198.18.0.1;
protocol device {}
protocol kernel fulcrum {
    kernel table 100;
    learn;
    scan time 1;
    ipv4 { import all; export none; };
}
protocol bgp uplink {
    local 198.18.0.1 as 65001;
    neighbor 198.18.0.2 as 65000;
    hold time 3;
    keepalive time 1;
    ipv4 { import none; export where proto = \"fulcrum\"; };
}
";

const ROUTER_BIRD: &str = "router id 198.18.0.2;
protocol device {}
protocol kernel {
    ipv4 { import none; export all; };
}
protocol bgp director {
    local 198.18.0.2 as 65000;
    neighbor 198.18.0.1 as 65001;
    hold time 3;
    keepalive time 1;
    ipv4 { import all; export none; };
}
";

/// True when the router has a route for the VIP learned from the director.
fn routed(lab: &Lab) -> bool {
    lab.exec(
        "c",
        &[
            "ip",
            "route",
            "show",
            "exact",
            &format!("{VIP}/32"),
            "proto",
            "bird",
        ],
    )
    .is_ok_and(|o| o.contains("via 198.18.0.1"))
}

/// Waits (bounded) until the router's route is `want`; returns how long it took.
fn until_routed(lab: &Lab, want: bool, within: Duration, what: &str) -> Duration {
    let t0 = Instant::now();
    lab.wait_until(what, within, || routed(lab) == want);
    t0.elapsed()
}

#[test]
fn healthy_services_are_announced_and_withdrawn_with_their_health() {
    let Some(lab) = common::setup() else { return };
    if sh(&["bird", "--version"]).is_err() && sh(&["which", "bird"]).is_err() {
        if std::env::var("FULCRUM_REQUIRE_NETNS").as_deref() == Ok("1") {
            panic!("bird (package bird2) is missing");
        }
        eprintln!("skipping: bird (package bird2) is missing");
        return;
    }
    let dir = std::env::temp_dir().join(format!("{}-announce", lab.prefix));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let dconf = file("director-bird.conf", DIRECTOR_BIRD);
    let rconf = file("router-bird.conf", ROUTER_BIRD);
    let conf = file(
        "keepalived.conf",
        &format!(
            "global_defs {{
    fulcrum_announce_table 100
}}
virtual_server {VIP} 8080 {{
    delay_loop 1
    lb_kind NAT
    real_server 198.18.1.2 8080 {{
        TCP_CHECK {{
            connect_timeout 1
            retry 0
        }}
    }}
}}
"
        ),
    );
    let dsock = dir.join("d.ctl").display().to_string();
    let rsock = dir.join("r.ctl").display().to_string();
    let started = Instant::now();
    let _dbird = lab.spawn("d", &["bird", "-f", "-c", &dconf, "-s", &dsock]);
    let _rbird = lab.spawn("c", &["bird", "-f", "-c", &rconf, "-s", &rsock]);
    let fulcrum = env!("CARGO_BIN_EXE_fulcrum");
    let args = [fulcrum, "keepalived", "-n", "-l", "-C", "-f", &conf];
    let mut k = lab.spawn("d", &args);

    // Announced once the check passes and the BGP session is up (BIRD takes a few seconds to establish it).
    let show = |what: &str| {
        let d = lab.exec("d", &["ip", "route", "show", "table", "100"]);
        let db = sh(&["birdc", "-s", &dsock, "show", "route", "all"]);
        let rp = sh(&[
            "birdc",
            "-s",
            &rsock,
            "show",
            "protocols",
            "all",
            "director",
        ]);
        let links = lab.exec("d", &["ip", "link"]);
        eprintln!("{what}:\ntable 100: {d:?}\ndirector bird: {db:?}\nrouter bgp: {rp:?}\nlinks: {links:?}");
    };
    while !routed(&lab) && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if !routed(&lab) {
        show("not announced");
        panic!("the VIP was not announced within 30 s");
    }
    eprintln!(
        "announced {:?} after fulcrum and BIRD started",
        started.elapsed()
    );
    let table = lab
        .exec("d", &["ip", "route", "show", "table", "100"])
        .unwrap_or_default();
    assert!(
        table.contains(&format!("{VIP} dev fulcrum-ann proto 200")),
        "{table}"
    );

    // The real server stops answering the director's checks: quorum lost, the VIP withdrawn.
    lab.run_all(
        "r1",
        &[
            "nft add table inet block",
            "nft add chain inet block in { type filter hook input priority 0 ; }",
            "nft add rule inet block in ip saddr 198.18.1.1 tcp dport 8080 drop",
        ],
    );
    let t = until_routed(&lab, false, Duration::from_secs(10), "the VIP withdrawn");
    eprintln!("withdrawn {t:?} after the checks started failing");
    lab.run_all("r1", &["nft delete table inet block"]);
    let t = until_routed(
        &lab,
        true,
        Duration::from_secs(10),
        "the VIP announced again",
    );
    eprintln!("announced again {t:?} after the checks passed");

    // Killed outright: the TUN device goes with the process, its routes with it, and BIRD withdraws.
    drop(k);
    let t = until_routed(
        &lab,
        false,
        Duration::from_secs(5),
        "the VIP withdrawn after SIGKILL",
    );
    eprintln!("withdrawn {t:?} after SIGKILL");
    assert!(lab
        .exec("d", &["ip", "link", "show", "fulcrum-ann"])
        .is_err());

    // Started again, then stopped: withdrawn before the service goes, and the process exits 0.
    k = lab.spawn("d", &args);
    until_routed(
        &lab,
        true,
        Duration::from_secs(15),
        "the VIP announced after a restart",
    );
    assert_eq!(k.terminate(), Some(0));
    let t = until_routed(
        &lab,
        false,
        Duration::from_secs(5),
        "the VIP withdrawn on SIGTERM",
    );
    eprintln!("withdrawn {t:?} after SIGTERM");
    let _ = std::fs::remove_dir_all(&dir);
}
