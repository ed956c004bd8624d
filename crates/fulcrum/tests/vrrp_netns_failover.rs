//! Failover against real keepalived (2.2.x) in network namespaces: unicast peers, track_script (weighted and
//! weight 0), track_interface, sync groups, preemption and nopreempt. After every transition exactly one namespace
//! holds each VIP (checked in both).
//!
//! Namespace a runs fulcrum at priority 150, namespace b keepalived at 100, both `state BACKUP`, advert_int 1, so
//! keepalived's observed figures apply: a priority-0 advert is answered after Skew_Time (0.61 s at
//! priority 100), a silent or lower-priority master after 3 x 1 s + 0.61 s.
//!
//! Needs root, `ip netns` and keepalived; skips without them unless FULCRUM_REQUIRE_NETNS=1.

#[path = "vrrp_common/mod.rs"]
mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

/// Skew_Time of keepalived's instances at priority 100.
fn skew100() -> Duration {
    Duration::from_secs(156) / 256
}

/// Allowance for process scheduling and the 20 ms polling on a 2-core machine.
const SLACK: Duration = Duration::from_millis(400);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn fulcrum_conf(instances: &[Inst], tail: &str) -> String {
    let mut s = global("fulcrum-a");
    for i in instances {
        s.push_str(&i.render());
    }
    s.push_str(tail);
    s
}

fn keepalived_conf(instances: &[Inst], tail: &str) -> String {
    let mut s = global("keepalived-b");
    for i in instances {
        s.push_str(&i.render());
    }
    s.push_str(tail);
    s
}

fn vi1<'a>(dev: &'a str, priority: u8, version: u8, extra: &'a str) -> Inst<'a> {
    Inst {
        name: "VI_1",
        dev,
        vrid: 51,
        priority,
        version,
        vips: &[VIP4],
        extra,
    }
}

/// Asserts that keepalived accepted every advert (nothing about TTL, checksum, auth, interval).
fn keepalived_happy(lab: &Lab, idx: usize) {
    let klog = lab.log(idx);
    for bad in ["invalid", "Invalid", "checksum", "mismatch", "ttl"] {
        assert!(!klog.contains(bad), "keepalived complained ({bad})\n{klog}");
    }
}

/// fulcrum's first gratuitous ARP after it took over (first advert from `src` after `after`) follows that advert
/// within a few milliseconds (it used to wait 8-12 ms for an RCU grace period when binding a fresh packet socket).
fn garp_follows_advert(sniff: &Sniffer, after: Instant, src: &str, vip: &str, mac: [u8; 6]) {
    std::thread::sleep(Duration::from_millis(100));
    let adv = sniff
        .adverts(src, 51)
        .into_iter()
        .find(|s| s.at > after && s.priority() != Some(0))
        .expect("an advert from the new master");
    let arp = sniff
        .arps(vip, mac)
        .into_iter()
        .find(|s| s.kernel >= adv.kernel)
        .expect("a gratuitous ARP from the new master");
    let gap = arp.kernel - adv.kernel;
    eprintln!("first advert -> first GARP: {gap:?}");
    assert!(
        gap < Duration::from_millis(5),
        "GARP {gap:?} after the advert"
    );
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

/// Unicast peers both ways: fulcrum master with keepalived backup, then fulcrum backup with keepalived master.
fn unicast_roles(version: u8) {
    let _serial = lock();
    if !available() {
        return;
    }
    let started = Instant::now();
    let mut lab = Lab::new();
    let sniff = Sniffer::start(&lab.b, "vb");
    let (a, b) = (lab.a.clone(), lab.b.clone());
    let (ua, ub) = (unicast(true), unicast(false));
    let high = lab.write("a.conf", &fulcrum_conf(&[vi1("va", 150, version, &ua)], ""));
    let low = lab.write(
        "a-low.conf",
        &fulcrum_conf(&[vi1("va", 50, version, &ua)], ""),
    );
    let kconf = lab.write(
        "b.conf",
        &keepalived_conf(&[vi1("vb", 100, version, &ub)], ""),
    );
    let f = lab.fulcrum(&a, &high);
    let k = lab.keepalived(&b, &kconf);
    // 1. fulcrum is master over unicast; keepalived, backup, accepts its adverts.
    lab.settle(&a, VIP4);
    keepalived_happy(&lab, k);
    let a4: Ipv4Addr = A4.parse().unwrap();
    let b4: Ipv4Addr = B4.parse().unwrap();
    let seen = sniff.frames();
    let from_a: Vec<_> = seen
        .iter()
        .filter_map(|s| match s.frame {
            Frame::Advert { src, dst, .. } if src == a4 => Some(dst),
            _ => None,
        })
        .collect();
    assert!(!from_a.is_empty(), "no advert from fulcrum seen");
    assert!(
        from_a.iter().all(|d| *d == b4),
        "fulcrum sent adverts elsewhere than the unicast peer: {from_a:?}"
    );

    // 2. SIGTERM: fulcrum's priority-0 unicast advert makes keepalived take over after its skew time.
    lab.signal(f, &a, Signal::SIGTERM);
    let took = lab.wait_sole(&b, &[VIP4], skew100() + SLACK, "fulcrum stopped");
    assert_eq!(lab.wait_exit(f, Duration::from_secs(5)), Some(0));
    eprintln!("unicast v{version}: keepalived took over {took:?} after fulcrum's SIGTERM");

    // 3. fulcrum comes back at priority 50: it must hear keepalived's unicast adverts and stay backup for longer
    //    than its master-down interval (3 + 206/256 s).
    let f2 = lab.fulcrum(&a, &low);
    lab.stays_sole(&b, &[VIP4], secs(4.8), "fulcrum at priority 50");
    let flog = lab.log(f2);
    assert!(flog.contains("entering BACKUP"), "{flog}");
    assert!(!flog.contains("entering MASTER"), "{flog}");

    // 4. keepalived stops: its priority-0 unicast advert makes fulcrum (backup) take over after skew(50).
    let t_kill = Instant::now();
    lab.signal(k, &b, Signal::SIGTERM);
    let took = lab.wait_sole(
        &a,
        &[VIP4],
        Duration::from_secs(206) / 256 + SLACK,
        "keepalived stopped",
    );
    eprintln!("unicast v{version}: fulcrum took over {took:?} after keepalived's SIGTERM");
    garp_follows_advert(&sniff, t_kill, A4, VIP4, lab.mac(&a, "va"));
    assert!(
        sniff
            .frames()
            .iter()
            .any(|s| matches!(s.frame, Frame::Advert { src, dst, priority: 0, .. } if src == b4 && dst == a4)),
        "no priority-0 unicast advert from keepalived seen"
    );
    drop(sniff);
    eprintln!("unicast v{version}: {:?}", started.elapsed());
}

#[test]
fn unicast_v2_fulcrum_master_then_backup() {
    unicast_roles(2);
}

#[test]
fn unicast_v3_fulcrum_master_then_backup() {
    unicast_roles(3);
}

/// track_script: a weighted failure lowers fulcrum below keepalived (takeover 3 + skew after the last
/// priority-150 advert), recovery preempts back, a weight-0 failure is FAULT (VIP removed at once).
#[test]
fn track_script_weight_then_fault() {
    let _serial = lock();
    if !available() {
        return;
    }
    let started = Instant::now();
    let mut lab = Lab::new();
    let sniff = Sniffer::start(&lab.b, "vb");
    let (a, b) = (lab.a.clone(), lab.b.clone());
    let w = lab.write("w", "");
    let fl = lab.write("f", "");
    let scripts = format!(
        "vrrp_script chk_w {{\n    script \"/usr/bin/test -e {w}\"\n    interval 1\n    fall 1\n    rise 1\n    weight -60\n}}\n\
         vrrp_script chk_f {{\n    script \"/usr/bin/test -e {f}\"\n    interval 1\n    fall 1\n    rise 1\n}}\n",
        w = w.display(),
        f = fl.display(),
    );
    let track = "    track_script {\n        chk_w\n        chk_f\n    }\n";
    let fconf = lab.write(
        "a.conf",
        &fulcrum_conf(&[vi1("va", 150, 2, track)], &scripts),
    );
    let kconf = lab.write("b.conf", &keepalived_conf(&[vi1("vb", 100, 2, "")], ""));
    let f = lab.fulcrum(&a, &fconf);
    let k = lab.keepalived(&b, &kconf);
    lab.settle(&a, VIP4);

    // 1. chk_w fails: fulcrum advertises 150 - 60 = 90 < 100; keepalived (preempting) ignores those adverts and
    //    takes over when its master-down timer, last reset by a priority-150 advert, fires.
    std::fs::remove_file(&w).unwrap();
    lab.wait_sole(&b, &[VIP4], secs(1.0 + 3.61) + SLACK * 3, "chk_w failed");
    let from_a = sniff.adverts(A4, 51);
    let last_high = from_a
        .iter()
        .rev()
        .find(|s| s.priority() == Some(150))
        .map(|s| s.kernel)
        .expect("fulcrum sent priority 150");
    assert!(
        from_a
            .iter()
            .any(|s| s.priority() == Some(90) && s.kernel > last_high),
        "fulcrum never advertised priority 90: {from_a:?}"
    );
    let first_b = sniff
        .adverts(B4, 51)
        .into_iter()
        .find(|s| s.kernel > last_high)
        .expect("keepalived advertised as master");
    let takeover = first_b.kernel - last_high;
    eprintln!("track_script weight: keepalived's first advert {takeover:?} after fulcrum's last priority-150 advert");
    let expect = Duration::from_secs(3) + skew100();
    assert!(
        takeover >= expect - Duration::from_millis(150) && takeover <= expect + SLACK,
        "takeover {takeover:?}, expected about {expect:?}\n{}",
        lab.logs()
    );
    // fulcrum (90) stepped down on keepalived's 100: the VIP is on b only (wait_sole checked a too).
    assert!(lab.log(f).contains("entering BACKUP"), "{}", lab.log(f));

    // 2. chk_w recovers: back at 150, fulcrum preempts keepalived once its master-down timer fires.
    std::fs::write(&w, "").unwrap();
    let took = lab.wait_sole(&a, &[VIP4], secs(1.0 + 3.41) + SLACK * 3, "chk_w recovered");
    eprintln!("track_script weight: fulcrum took the VIP back {took:?} after the script recovered");
    lab.stays_sole(&a, &[VIP4], secs(0.5), "preempted back");

    // 3. chk_f (weight 0) fails: FAULT, VIP removed, priority 0 sent; keepalived takes over after its skew.
    let t0 = Instant::now();
    std::fs::remove_file(&fl).unwrap();
    let took = lab.wait_sole(&b, &[VIP4], secs(1.0) + skew100() + SLACK, "chk_f failed");
    let flog = lab.log(f);
    assert!(flog.contains("entering FAULT"), "{flog}");
    assert!(
        sniff
            .adverts(A4, 51)
            .iter()
            .any(|s| s.priority() == Some(0) && s.at > t0),
        "no priority-0 advert when entering FAULT"
    );
    eprintln!(
        "track_script weight 0: keepalived took over {took:?} after the script file was removed"
    );
    lab.stays_sole(&b, &[VIP4], secs(1.0), "fulcrum in FAULT");
    keepalived_happy(&lab, k);
    drop(sniff);
    eprintln!("track_script: {:?}", started.elapsed());
}

/// track_interface: the tracked dummy going down is FAULT (VIP to keepalived at once); up again, fulcrum
/// preempts back.
#[test]
fn track_interface_down_fault_then_preempt_back() {
    let _serial = lock();
    if !available() {
        return;
    }
    let started = Instant::now();
    let mut lab = Lab::new();
    let sniff = Sniffer::start(&lab.b, "vb");
    let (a, b) = (lab.a.clone(), lab.b.clone());
    lab.track_link(&a, "trk0");
    let track = "    track_interface {\n        trk0\n    }\n";
    let fconf = lab.write("a.conf", &fulcrum_conf(&[vi1("va", 150, 3, track)], ""));
    let kconf = lab.write("b.conf", &keepalived_conf(&[vi1("vb", 100, 3, "")], ""));
    let f = lab.fulcrum(&a, &fconf);
    lab.keepalived(&b, &kconf);
    lab.settle(&a, VIP4);

    let t0 = Instant::now();
    lab.set_link(&a, "trk0", false);
    let took = lab.wait_sole(&b, &[VIP4], skew100() + SLACK, "trk0 down");
    eprintln!("track_interface: keepalived took over {took:?} after trk0 went down");
    assert!(lab.log(f).contains("entering FAULT"), "{}", lab.log(f));
    assert!(
        sniff
            .adverts(A4, 51)
            .iter()
            .any(|s| s.priority() == Some(0) && s.at > t0),
        "no priority-0 advert when entering FAULT"
    );
    lab.stays_sole(&b, &[VIP4], secs(0.5), "trk0 down");

    // Up again: FAULT -> BACKUP, then preemption after the master-down interval (3 + 106/256 s).
    lab.set_link(&a, "trk0", true);
    let took = lab.wait_sole(&a, &[VIP4], secs(3.41) + SLACK * 2, "trk0 up");
    eprintln!("track_interface: fulcrum took the VIP back {took:?} after trk0 came up");
    assert!(
        took >= secs(3.0),
        "fulcrum preempted before its master-down interval ({took:?})"
    );
    lab.stays_sole(&a, &[VIP4], secs(1.0), "trk0 up");
    drop(sniff);
    eprintln!("track_interface: {:?}", started.elapsed());
}

/// A sync group on fulcrum: one member's tracked interface goes down, both members go to FAULT and keepalived
/// (the same two instances) takes both VIPs; they come back together.
#[test]
fn sync_group_moves_together() {
    let _serial = lock();
    if !available() {
        return;
    }
    let started = Instant::now();
    let mut lab = Lab::new();
    let sniff = Sniffer::start(&lab.b, "vb");
    let (a, b) = (lab.a.clone(), lab.b.clone());
    lab.track_link(&a, "trk0");
    let track = "    track_interface {\n        trk0\n    }\n";
    let pair = |dev: &'static str, prio: u8, extra: &'static str| {
        [
            vi1(dev, prio, 2, extra),
            Inst {
                name: "VI_2",
                dev,
                vrid: 52,
                priority: prio,
                version: 2,
                vips: &[VIP4_2],
                extra: "",
            },
        ]
    };
    let group = "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n}\n";
    let fconf = lab.write("a.conf", &fulcrum_conf(&pair("va", 150, track), group));
    let kconf = lab.write("b.conf", &keepalived_conf(&pair("vb", 100, ""), group));
    let f = lab.fulcrum(&a, &fconf);
    lab.keepalived(&b, &kconf);
    let both = [VIP4, VIP4_2];
    lab.settle_all(&a, &both);

    let t0 = Instant::now();
    lab.set_link(&a, "trk0", false);
    let took = lab.wait_sole(&b, &both, skew100() + SLACK * 2, "trk0 down");
    eprintln!("sync group: keepalived took both VIPs {took:?} after trk0 went down");
    let flog = lab.log(f);
    assert_eq!(count(&flog, "entering FAULT"), 2, "{flog}");
    for vrid in [51, 52] {
        assert!(
            sniff
                .adverts(A4, vrid)
                .iter()
                .any(|s| s.priority() == Some(0) && s.at > t0),
            "no priority-0 advert for VRID {vrid}"
        );
    }
    lab.stays_sole(&b, &both, secs(0.5), "group in FAULT");

    lab.set_link(&a, "trk0", true);
    let took = lab.wait_sole(&a, &both, secs(3.41) + SLACK * 2, "trk0 up");
    eprintln!("sync group: fulcrum took both VIPs back {took:?} after trk0 came up");
    lab.stays_sole(&a, &both, secs(1.0), "group back");
    drop(sniff);
    eprintln!("sync group: {:?}", started.elapsed());
}

/// nopreempt: after a failover, fulcrum (150) returns as backup and leaves the VIP on keepalived (100); it takes
/// over only when keepalived leaves.
#[test]
fn nopreempt_returning_node_stays_backup() {
    let _serial = lock();
    if !available() {
        return;
    }
    let started = Instant::now();
    let mut lab = Lab::new();
    let sniff = Sniffer::start(&lab.b, "vb");
    let (a, b) = (lab.a.clone(), lab.b.clone());
    lab.track_link(&a, "trk0");
    let extra = "    nopreempt\n    track_interface {\n        trk0\n    }\n";
    let fconf = lab.write("a.conf", &fulcrum_conf(&[vi1("va", 150, 2, extra)], ""));
    let kconf = lab.write("b.conf", &keepalived_conf(&[vi1("vb", 100, 2, "")], ""));
    let f = lab.fulcrum(&a, &fconf);
    // fulcrum first, so that the election does not depend on which daemon starts faster.
    lab.wait_sole(&a, &[VIP4], Duration::from_secs(6), "fulcrum alone");
    let k = lab.keepalived(&b, &kconf);
    lab.settle(&a, VIP4);

    lab.set_link(&a, "trk0", false);
    lab.wait_sole(&b, &[VIP4], skew100() + SLACK, "trk0 down");
    lab.set_link(&a, "trk0", true);
    // Longer than fulcrum's master-down interval (3.41 s): a preempting node would have taken the VIP back.
    lab.stays_sole(&b, &[VIP4], secs(4.5), "nopreempt");
    let flog = lab.log(f);
    let fault = flog.find("entering FAULT").expect("FAULT logged");
    assert!(flog[fault..].contains("entering BACKUP"), "{flog}");
    assert_eq!(count(&flog, "entering MASTER"), 1, "{flog}");

    let t_kill = Instant::now();
    lab.signal(k, &b, Signal::SIGTERM);
    let took = lab.wait_sole(
        &a,
        &[VIP4],
        Duration::from_secs(106) / 256 + SLACK,
        "keepalived stopped",
    );
    eprintln!("nopreempt: fulcrum took over {took:?} after keepalived's SIGTERM");
    garp_follows_advert(&sniff, t_kill, A4, VIP4, lab.mac(&a, "va"));
    drop(sniff);
    eprintln!("nopreempt: {:?}", started.elapsed());
}
