//! An IPv6 instance that does not say `version` runs VRRPv3 in fulcrum as it does in keepalived, even under
//! `vrrp_version 2`: a fulcrum master and a keepalived backup configured so elect one holder of the VIP (each takes
//! the other's adverts), and the backup takes over as soon as the master stops. Had fulcrum sent VRRPv2, keepalived
//! would drop its adverts and both would hold the address. The same holds with keepalived as the master.

mod vrrp_common;

use std::time::Duration;

use vrrp_common::*;

fn conf(dev: &str, priority: u8) -> String {
    format!(
        "global_defs {{\n    router_id {dev}\n    vrrp_version 2\n}}\n\
         vrrp_instance VI_6 {{\n    state BACKUP\n    interface {dev}\n    virtual_router_id 61\n    \
         priority {priority}\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP6}/64\n    }}\n}}\n"
    )
}

#[test]
fn ipv6_without_version_interoperates_with_keepalived_as_vrrp_v3() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !available() {
        return;
    }
    let mut lab = Lab::new();
    let (a, b) = (lab.a.clone(), lab.b.clone());
    let a_conf = lab.write("a.conf", &conf("va", 150));
    let b_conf = lab.write("b.conf", &conf("vb", 100));
    let master = lab.fulcrum(&a, &a_conf);
    lab.keepalived(&b, &b_conf);
    // One holder, which needs each to take the other's adverts.
    lab.settle(&a, VIP6);
    // A stop sends priority 0, which only a VRRPv3 peer reads: the backup takes over at once (skew time).
    lab.signal(master, &a, nix::sys::signal::Signal::SIGTERM);
    let took = lab
        .until(Duration::from_secs(8), || lab.sole(&b, VIP6))
        .unwrap_or_else(|| panic!("backup never took over\n{}", lab.logs()));
    assert!(
        took <= Duration::from_millis(1200),
        "takeover took {took:?}\n{}",
        lab.logs()
    );
    assert_eq!(lab.wait_exit(master, Duration::from_secs(5)), Some(0));
}

/// The other way round: a keepalived master and a fulcrum backup, both without `version`, elect keepalived
/// alone (fulcrum reads keepalived's VRRPv3 adverts), and fulcrum takes over at once when keepalived stops.
#[test]
fn ipv6_without_version_keepalived_master_fulcrum_backup() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !available() {
        return;
    }
    let mut lab = Lab::new();
    let (a, b) = (lab.a.clone(), lab.b.clone());
    let a_conf = lab.write("a.conf", &conf("va", 150));
    let b_conf = lab.write("b.conf", &conf("vb", 100));
    let master = lab.keepalived(&a, &a_conf);
    let backup = lab.fulcrum(&b, &b_conf);
    lab.settle(&a, VIP6);
    lab.signal(master, &a, nix::sys::signal::Signal::SIGTERM);
    let took = lab
        .until(Duration::from_secs(8), || lab.sole(&b, VIP6))
        .unwrap_or_else(|| panic!("fulcrum never took over\n{}", lab.logs()));
    assert!(
        took <= Duration::from_millis(1200),
        "takeover took {took:?}\n{}",
        lab.logs()
    );
    lab.signal(backup, &b, nix::sys::signal::Signal::SIGTERM);
    assert_eq!(lab.wait_exit(backup, Duration::from_secs(5)), Some(0));
}
