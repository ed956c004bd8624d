//! `fulcrum keepalived` driving the L4 table from its checkers, end to end in network namespaces (the lab of
//! `lvs_common`): a NAT `virtual_server` with HTTP_GET, TCP_CHECK and MISC_CHECK checkers, real TCP traffic
//! from the client, a real server that dies and comes back, quorum lost to the sorry server, a SIGHUP that
//! changes the scheduler and keeps the checkers' verdicts, a service added by hand that is left alone, and
//! SIGTERM removing exactly the services keepalived created; and direct-routing and tunnel services driven the
//! same way.

#[path = "lvs_common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{counts, setup, Keepalived, Lab, VIP};

fn config(dir: &std::path::Path, sched: &str) -> String {
    let flag = dir.join("r2-ok");
    format!(
        "global_defs {{
    router_id fulcrum-test
}}
virtual_server {VIP} 80 {{
    delay_loop 1
    lb_algo {sched}
    lb_kind NAT
    protocol TCP
    sorry_server 198.18.1.12 8080
    real_server 198.18.1.2 8080 {{
        weight 1
        HTTP_GET {{
            url {{
                path /
                status_code 200
            }}
            connect_port 8000
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }}
    }}
    real_server 198.18.1.3 8080 {{
        weight 1
        TCP_CHECK {{
            connect_port 8000
            connect_timeout 1
            retry 0
        }}
        MISC_CHECK {{
            misc_path \"/usr/bin/test -e {}\"
            misc_timeout 2
        }}
    }}
}}
",
        flag.display()
    )
}

/// A web server on port 8000 in a real server's namespace (what HTTP_GET and TCP_CHECK probe).
fn web(lab: &Lab, role: &str) -> common::Proc {
    let docroot = std::env::temp_dir().join(format!("{}-www", lab.prefix));
    let _ = std::fs::create_dir_all(&docroot);
    std::fs::write(docroot.join("index.html"), "ok\n").unwrap();
    let root = docroot.display().to_string();
    let p = lab.spawn(role, &["python3", "-m", "http.server", "8000", "-d", &root]);
    lab.wait_until(
        &format!("web server in {role}"),
        Duration::from_secs(5),
        || {
            lab.exec(role, &["ss", "-ltn"])
                .is_ok_and(|o| o.contains(":8000"))
        },
    );
    p
}

/// The listing of keepalived's service only (`-L -n -t VIP:80`; empty when it does not exist).
fn listing(lab: &Lab) -> String {
    lab.ipvsadm(&["-L", "-n", "-t", &format!("{VIP}:80")], "").1
}

#[test]
fn checkers_drive_the_table() {
    let Some(lab) = setup() else { return };
    let dir = std::env::temp_dir().join(format!("{}-kachk", lab.prefix));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("r2-ok"), "").unwrap();
    // The sorry server: a second address of r1 (its servers listen on every address).
    lab.run_all("r1", &["ip addr add 198.18.1.12/24 dev eth0"]);
    let mut w1 = Some(web(&lab, "r1"));
    let _w2 = web(&lab, "r2");
    // A service added by hand, which keepalived must leave alone.
    lab.ok(&format!("-A -t {VIP}:81 -s rr"));
    lab.ok(&format!("-a -t {VIP}:81 -r 198.18.1.3:8080 -m"));
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, config(&dir, "rr")).unwrap();
    let mut k = Keepalived::start(&lab, &conf, dir.join("keepalived.log"), None);

    let both = |l: &str| l.contains("198.18.1.2:8080") && l.contains("198.18.1.3:8080");
    lab.wait_until(
        "both real servers in the table",
        Duration::from_secs(10),
        || both(&listing(&lab)),
    );
    let l = listing(&lab);
    assert!(l.contains(&format!("TCP  {VIP}:80 rr")), "{l}");
    assert!(l.contains("Masq"), "{l}");
    assert!(
        !l.contains("198.18.1.12"),
        "sorry server only without quorum:\n{l}"
    );
    assert_eq!(
        counts(&lab.traffic("tcp", 80, 20)),
        (10, 10),
        "rr over both"
    );

    // r1's web server dies: HTTP_GET fails twice (retry 1) and r1 leaves the table, within
    // delay_loop + retry x delay_before_retry + timeouts.
    let t0 = Instant::now();
    drop(w1.take());
    lab.wait_until("r1 removed", Duration::from_secs(8), || {
        !listing(&lab).contains("198.18.1.2:8080")
    });
    let removed_after = t0.elapsed();
    assert_eq!(counts(&lab.traffic("tcp", 80, 10)), (0, 10), "only r2");
    // It answers again: back after one passing check.
    w1 = Some(web(&lab, "r1"));
    lab.wait_until("r1 back", Duration::from_secs(5), || {
        listing(&lab).contains("198.18.1.2:8080")
    });
    assert_eq!(counts(&lab.traffic("tcp", 80, 20)), (10, 10), "both again");

    // MISC_CHECK fails on r2 (its flag file goes): r2 leaves even though its TCP_CHECK passes.
    std::fs::remove_file(dir.join("r2-ok")).unwrap();
    lab.wait_until("r2 removed by MISC_CHECK", Duration::from_secs(6), || {
        !listing(&lab).contains("198.18.1.3:8080")
    });
    // SIGHUP with another scheduler: the service changes in place, r2 stays out (its verdict is kept).
    std::fs::write(&conf, config(&dir, "wlc")).unwrap();
    k.signal("-HUP");
    lab.wait_until("wlc after SIGHUP", Duration::from_secs(5), || {
        listing(&lab).contains(&format!("TCP  {VIP}:80 wlc"))
    });
    let l = listing(&lab);
    assert!(
        l.contains("198.18.1.2:8080") && !l.contains("198.18.1.3:8080"),
        "verdicts survive the reload:\n{l}"
    );

    // Every real server down: quorum lost, the sorry server alone takes the traffic.
    drop(w1.take());
    lab.wait_until("sorry server in", Duration::from_secs(8), || {
        let l = listing(&lab);
        l.contains("198.18.1.12:8080") && !l.contains("198.18.1.2:8080")
    });
    assert_eq!(
        counts(&lab.traffic("tcp", 80, 6)),
        (6, 0),
        "sorry server (on r1)"
    );
    std::fs::write(dir.join("r2-ok"), "").unwrap();
    lab.wait_until(
        "quorum back, sorry server out",
        Duration::from_secs(6),
        || {
            let l = listing(&lab);
            l.contains("198.18.1.3:8080") && !l.contains("198.18.1.12:8080")
        },
    );

    // SIGTERM: keepalived's service goes, the hand-made one stays.
    assert_eq!(k.terminate(), Some(0), "{}", k.log());
    let l = lab.ok("-L -n");
    assert!(!l.contains(&format!("{VIP}:80 ")), "{l}");
    assert!(l.contains(&format!("{VIP}:81 rr")), "{l}");
    let log = k.log();
    assert!(log.contains("HTTP_GET"), "{log}");
    eprintln!("r1 removed {removed_after:?} after its web server stopped");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A direct-routing `virtual_server` (`lb_kind DR`) follows its TCP_CHECKs like a NAT one: the table lists the
/// real servers as `Route`, traffic reaches both without passing back through the director, and a server whose
/// check fails leaves.
#[test]
fn checkers_drive_a_direct_routing_service() {
    direct_service(setup(), "DR", "Route");
}

/// The same on the nftables plane alone (`FULCRUM_L4_PLANE=nftables`).
#[test]
fn checkers_drive_a_direct_routing_service_on_the_nftables_plane() {
    direct_service(common::setup_on("nftables"), "DR", "Route");
}

/// `lb_kind TUN`: the same with IP-in-IP to the real servers (see lvs_netns_tunnel.rs), which see no packet
/// for the VIP unencapsulated.
#[test]
fn checkers_drive_a_tunnel_service() {
    direct_service(setup(), "TUN", "Tunnel");
}

/// The same on the nftables plane alone (`FULCRUM_L4_PLANE=nftables`).
#[test]
fn checkers_drive_a_tunnel_service_on_the_nftables_plane() {
    direct_service(common::setup_on("nftables"), "TUN", "Tunnel");
}

/// A service whose real servers answer the client directly (`lb_kind` DR or TUN, listed as `listed`).
fn direct_service(lab: Option<common::Lab>, kind: &str, listed: &str) {
    let Some(lab) = lab else { return };
    lab.direct_routing_legs();
    let _ends = if kind == "TUN" {
        lab.tunnel_ends()
    } else {
        Vec::new()
    };
    let dir = std::env::temp_dir().join(format!("{}-ka{kind}", lab.prefix));
    std::fs::create_dir_all(&dir).unwrap();
    let w1 = web(&lab, "r1");
    let _w2 = web(&lab, "r2");
    let conf = dir.join("keepalived.conf");
    let rs = |ip: &str| {
        format!(
            "    real_server {ip} 8080 {{
        TCP_CHECK {{
            connect_port 8000
            connect_timeout 1
            retry 0
        }}
    }}
"
        )
    };
    std::fs::write(
        &conf,
        format!(
            "virtual_server {VIP} 8080 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind {kind}\n{}{}}}\n",
            rs("198.18.1.2"),
            rs("198.18.1.3")
        ),
    )
    .unwrap();
    let mut k = Keepalived::start(&lab, &conf, dir.join("keepalived.log"), None);
    let list = || {
        lab.ipvsadm(&["-L", "-n", "-t", &format!("{VIP}:8080")], "")
            .1
    };
    lab.wait_until("both real servers listed", Duration::from_secs(10), || {
        let l = list();
        l.contains(&format!("198.18.1.2:8080              {listed}"))
            && l.contains(&format!("198.18.1.3:8080              {listed}"))
    });
    let d0_tx = lab.link_stat("d", "d0", "tx", "packets");
    assert_eq!(counts(&lab.traffic("tcp", 8080, 20)), (10, 10), "{kind} rr");
    if kind == "TUN" {
        for r in ["r1", "r2"] {
            let (tunnelled, plain) = lab.tunnel_seen(r);
            assert!(tunnelled >= 30 && plain == 0, "{r}: {tunnelled} {plain}");
        }
    }
    let d0_tx = lab.link_stat("d", "d0", "tx", "packets") - d0_tx;
    assert!(
        d0_tx < 10,
        "replies do not pass through the director: {d0_tx}"
    );
    drop(w1);
    lab.wait_until("r1 removed", Duration::from_secs(6), || {
        !list().contains("198.18.1.2:8080")
    });
    assert_eq!(counts(&lab.traffic("tcp", 8080, 10)), (0, 10), "only r2");
    assert_eq!(k.terminate(), Some(0), "{}", k.log());
    assert!(list().is_empty() || !list().contains(listed), "{}", list());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ha_suspend`: checks wait while the virtual address is not on the director (a VRRP backup's state), so a
/// dead real server stays as it was; once the address arrives (the instance became master) they run and it
/// leaves.
#[test]
fn ha_suspend_checks_only_while_the_vip_is_here() {
    let Some(lab) = setup() else { return };
    let dir = std::env::temp_dir().join(format!("{}-kasusp", lab.prefix));
    std::fs::create_dir_all(&dir).unwrap();
    let _w1 = web(&lab, "r1");
    let conf = dir.join("keepalived.conf");
    let rs = |ip: &str| {
        format!(
            "    real_server {ip} 8080 {{\n        TCP_CHECK {{\n            connect_port 8000\n            connect_timeout 1\n            retry 0\n        }}\n    }}\n"
        )
    };
    std::fs::write(
        &conf,
        format!(
            "virtual_server {VIP} 8080 {{\n    ha_suspend\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n{}{}}}\n",
            rs("198.18.1.2"),
            rs("198.18.1.3")
        ),
    )
    .unwrap();
    let mut k = Keepalived::start(&lab, &conf, dir.join("keepalived.log"), None);
    let list = || {
        lab.ipvsadm(&["-L", "-n", "-t", &format!("{VIP}:8080")], "")
            .1
    };
    lab.wait_until("the service", Duration::from_secs(10), || {
        list().contains("198.18.1.3:8080")
    });
    // r2 has no web server on 8000, but nothing checks it while the VIP is elsewhere.
    std::thread::sleep(Duration::from_secs(3));
    assert!(list().contains("198.18.1.3:8080"), "{}", list());
    assert!(k.log().contains("suspended"), "{}", k.log());
    lab.run_all("d", &[&format!("ip addr add {VIP}/32 dev lo")]);
    let t0 = Instant::now();
    lab.wait_until("r2 removed once checks run", Duration::from_secs(6), || {
        !list().contains("198.18.1.3:8080")
    });
    eprintln!("checks resumed and removed r2 in {:?}", t0.elapsed());
    assert!(list().contains("198.18.1.2:8080"), "{}", list());
    assert!(k.log().contains("resumed"), "{}", k.log());
    assert_eq!(k.terminate(), Some(0), "{}", k.log());
    let _ = std::fs::remove_dir_all(&dir);
}
