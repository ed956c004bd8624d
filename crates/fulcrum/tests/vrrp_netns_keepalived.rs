//! End-to-end interop with real keepalived (2.2.x) in network namespaces.
//!
//! Each test builds two namespaces joined by a veth pair (addresses from 198.18.0.0/15 and fd00::/8), runs
//! `fulcrum keepalived` in one and keepalived in the other, and checks elections,
//! takeover times and that exactly one node holds the VIP. Everything is torn down by Drop guards, processes by PID.
//!
//! Needs root, `ip netns` and keepalived. Without them a test prints "skip" and passes, unless
//! FULCRUM_REQUIRE_NETNS=1, in which case it fails.

#[path = "vrrp_common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

struct Node<'a> {
    dev: &'a str,
    priority: u8,
    version: u8,
    v6: bool,
}

fn conf(n: &Node) -> String {
    let auth = if n.version == 2 {
        "    authentication {\n        auth_type PASS\n        auth_pass s3cret\n    }\n"
    } else {
        ""
    };
    let vip = if n.v6 {
        format!("{VIP6}/64")
    } else {
        format!("{VIP4}/24")
    };
    format!(
        "global_defs {{\n    router_id {dev}\n    vrrp_version {ver}\n}}\n\
vrrp_instance VI_1 {{\n    state BACKUP\n    interface {dev}\n    virtual_router_id 51\n    priority {prio}\n    advert_int 1\n{auth}    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n",
        dev = n.dev,
        ver = n.version,
        prio = n.priority,
    )
}

enum Kill {
    Term,
    Kill,
}

/// Runs one scenario: the master (`a` side when `fulcrum_master`, with priority 150) against a backup at 100;
/// kills the master and checks the takeover time.
fn scenario(fulcrum_master: bool, version: u8, v6: bool, kill: Kill) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !available() {
        return;
    }
    let mut lab = Lab::new();
    let a_conf = lab.write(
        "a.conf",
        &conf(&Node {
            dev: "va",
            priority: 150,
            version,
            v6,
        }),
    );
    let b_conf = lab.write(
        "b.conf",
        &conf(&Node {
            dev: "vb",
            priority: 100,
            version,
            v6,
        }),
    );
    let (a, b) = (lab.a.clone(), lab.b.clone());
    let master = if fulcrum_master {
        lab.fulcrum(&a, &a_conf)
    } else {
        lab.keepalived(&a, &a_conf)
    };
    if fulcrum_master {
        lab.keepalived(&b, &b_conf);
    } else {
        lab.fulcrum(&b, &b_conf);
    }
    let vip = if v6 { VIP6 } else { VIP4 };
    lab.settle(&a, vip);
    // keepalived accepted every advert fulcrum sent (TTL, checksum, auth, interval).
    let klog = lab.logs();
    for bad in ["invalid", "Invalid", "checksum", "mismatch"] {
        assert!(!klog.contains(bad), "keepalived complained ({bad})\n{klog}");
    }
    if fulcrum_master {
        // SIGHUP with an unchanged configuration keeps the master as it is.
        lab.signal(master, &a, nix::sys::signal::Signal::SIGHUP);
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            lab.holds(&a, vip) && !lab.holds(&b, vip),
            "reload flipped the VIP\n{}",
            lab.logs()
        );
        let flog = lab.log(master);
        assert!(flog.contains("kept across reload"), "{flog}");
        assert_eq!(flog.matches("entering MASTER").count(), 1, "{flog}");
    }

    let skew = Duration::from_secs(156) / 256;
    let (sig, limit) = match kill {
        Kill::Term => (
            nix::sys::signal::Signal::SIGTERM,
            skew + Duration::from_millis(300),
        ),
        Kill::Kill => (
            nix::sys::signal::Signal::SIGKILL,
            Duration::from_secs(3) + skew + Duration::from_millis(300),
        ),
    };
    lab.signal(master, &a, sig);
    let took = lab.until(Duration::from_secs(8), || lab.holds(&b, vip));
    let took = took.unwrap_or_else(|| panic!("backup never took over\n{}", lab.logs()));
    assert!(
        took <= limit,
        "takeover took {took:?}, limit {limit:?}\n{}",
        lab.logs()
    );
    if let Kill::Kill = kill {
        // A killed master says nothing: the backup waits 3 intervals + skew after the last advert, which came
        // less than one interval before the kill.
        assert!(
            took >= Duration::from_secs(2) + skew,
            "takeover after SIGKILL took only {took:?}: did the master send priority 0?\n{}",
            lab.logs()
        );
    }
    match kill {
        Kill::Term => {
            // The stopped master removed its VIP and exited cleanly.
            assert!(
                !lab.holds(&a, vip),
                "stopped master kept the VIP\n{}",
                lab.logs()
            );
            if fulcrum_master {
                assert_eq!(
                    lab.wait_exit(master, Duration::from_secs(5)),
                    Some(0),
                    "{}",
                    lab.logs()
                );
            }
        }
        Kill::Kill => {
            // After SIGKILL the dead node keeps its VIP (as with keepalived); the survivor holds it too.
            assert!(lab.holds(&b, vip));
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        lab.holds(&b, vip),
        "new master lost the VIP\n{}",
        lab.logs()
    );
}

#[test]
fn v2_pass_fulcrum_master_keepalived_backup_sigterm() {
    scenario(true, 2, false, Kill::Term);
}

#[test]
fn v2_pass_keepalived_master_fulcrum_backup_sigkill() {
    scenario(false, 2, false, Kill::Kill);
}

#[test]
fn v3_fulcrum_master_keepalived_backup_sigkill() {
    scenario(true, 3, false, Kill::Kill);
}

#[test]
fn v3_keepalived_master_fulcrum_backup_sigterm() {
    scenario(false, 3, false, Kill::Term);
}

#[test]
fn v3_ipv6_fulcrum_master_keepalived_backup_sigterm() {
    scenario(true, 3, true, Kill::Term);
}

#[test]
fn config_test_flag_reports_diagnostics() {
    let dir = std::env::temp_dir().join(format!("fulcrum-t-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.conf");
    std::fs::write(
        &good,
        conf(&Node {
            dev: "eth0",
            priority: 100,
            version: 2,
            v6: false,
        }),
    )
    .unwrap();
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "vrrp_instance X {\n  interface eth0\n  bogus 1\n}\n").unwrap();
    let run = |p: &Path| {
        Command::new(env!("CARGO_BIN_EXE_fulcrum"))
            .args(["keepalived", "-t"])
            .arg("-f")
            .arg(p)
            .output()
            .unwrap()
    };
    let out = run(&good);
    assert_eq!(out.status.code(), Some(0));
    let out = run(&bad);
    assert_eq!(
        out.status.code(),
        Some(5),
        "keepalived -t exits 5 on errors"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.conf:3: 'bogus'"), "{err}");
    assert!(err.contains("needs a 'virtual_router_id'"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
