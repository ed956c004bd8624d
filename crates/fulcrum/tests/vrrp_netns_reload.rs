//! Reloads that lose nothing: a fulcrum master with two VRRP instances is reloaded (SIGHUP) ten times, one
//! instance's configuration changing each time (its priority, a second VIP added and removed) and the other's
//! not. A watcher polling both namespaces every 20 ms must never see the unchanged instance's VIP leave the master,
//! nor any VIP on the backup (a second fulcrum), and the backup must never enter MASTER.
//!
//! Needs root and `ip netns`; skips without them unless FULCRUM_REQUIRE_NETNS=1.

#[path = "vrrp_common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

/// The second VIP that the changing instance gains and loses.
const VIP4_3: &str = "198.18.0.102";

fn conf(router: &str, dev: &str, p1: u8, p2: u8, extra_vip: bool) -> String {
    let vips2: &[&str] = if extra_vip {
        &[VIP4_2, VIP4_3]
    } else {
        &[VIP4_2]
    };
    let mut s = global(router);
    for i in [
        Inst {
            name: "VI_1",
            dev,
            vrid: 51,
            priority: p1,
            version: 3,
            vips: &[VIP4],
            extra: "",
        },
        Inst {
            name: "VI_2",
            dev,
            vrid: 52,
            priority: p2,
            version: 3,
            vips: vips2,
            extra: "",
        },
    ] {
        s.push_str(&i.render());
    }
    s
}

/// The addresses of `ns`, as `ip -o addr` lists them.
fn addrs(ns: &str) -> Vec<String> {
    ip(&["-n", ns, "-o", "addr", "show"])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.split('/').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn reloads_keep_the_unchanged_vip_and_the_backup_stays_backup() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !available() {
        return;
    }
    let mut lab = Lab::new();
    let (a, b) = (lab.a.clone(), lab.b.clone());
    let master_conf = lab.write("a.conf", &conf("fulcrum-a", "va", 150, 150, false));
    let backup_conf = lab.write("b.conf", &conf("fulcrum-b", "vb", 100, 100, false));
    let m = lab.fulcrum(&a, &master_conf);
    let bk = lab.fulcrum(&b, &backup_conf);
    lab.settle_all(&a, &[VIP4, VIP4_2]);
    // Adverts seen on the backup's side: they must keep their 1 s pace through the reloads.
    let sniff = Sniffer::start(&b, "vb");
    let first_reload = Instant::now();

    // The watcher: every 20 ms, VIP4 and VIP4_2 on a, no VIP at all on b.
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let watcher = {
        let (a, b, stop, seen) = (a.clone(), b.clone(), stop.clone(), seen.clone());
        std::thread::spawn(move || {
            let mut polls = 0u32;
            let end = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                let t = Instant::now();
                let on_a = addrs(&a);
                let on_b = addrs(&b);
                for v in [VIP4, VIP4_2] {
                    if !on_a.iter().any(|x| x == v) {
                        seen.lock()
                            .unwrap()
                            .push(format!("{v} missing on a at poll {polls}"));
                    }
                }
                for v in [VIP4, VIP4_2, VIP4_3] {
                    if on_b.iter().any(|x| x == v) {
                        seen.lock()
                            .unwrap()
                            .push(format!("{v} on b at poll {polls}"));
                    }
                }
                polls += 1;
                std::thread::sleep(Duration::from_millis(20).saturating_sub(t.elapsed()));
            }
            polls
        })
    };

    // Ten reloads: five back to back (150 ms apart), five a second apart; VI_2 changes every time.
    for n in 0..10u8 {
        let extra = n % 2 == 0;
        let p2 = if n % 3 == 0 { 140 } else { 150 };
        std::fs::write(&master_conf, conf("fulcrum-a", "va", 150, p2, extra)).unwrap();
        lab.signal(m, &a, Signal::SIGHUP);
        let pause = if n < 5 { 150 } else { 1000 };
        std::thread::sleep(Duration::from_millis(pause));
        if n >= 5 {
            // The changing instance's extra VIP follows its configuration.
            let held = lab.holds(&a, VIP4_3);
            assert_eq!(
                held,
                extra,
                "reload {n}: {VIP4_3} held {held}\n{}",
                lab.logs()
            );
        }
    }
    // Longer than the backup's master-down interval (3 adverts + skew) after the last reload.
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, Ordering::Relaxed);
    let polls = watcher.join().unwrap();
    let problems = seen.lock().unwrap().clone();
    assert!(polls > 100, "the watcher polled only {polls} times");
    assert!(
        problems.is_empty(),
        "over {polls} polls: {problems:?}\n{}",
        lab.logs()
    );
    // Adverts of both instances kept flowing: never more than advert_int (plus scheduling slack) apart, and
    // never with priority 0 (which would hand the VIPs over).
    for vrid in [51, 52] {
        let adverts: Vec<_> = sniff
            .adverts(A4, vrid)
            .into_iter()
            .filter(|s| s.at >= first_reload)
            .collect();
        assert!(adverts.len() >= 8, "VRID {vrid}: {} adverts", adverts.len());
        assert!(
            adverts.iter().all(|s| s.priority() != Some(0)),
            "VRID {vrid}"
        );
        let gap = adverts
            .windows(2)
            .map(|w| w[1].kernel.saturating_sub(w[0].kernel))
            .max()
            .unwrap();
        eprintln!(
            "VRID {vrid}: {} adverts, largest gap {gap:?}",
            adverts.len()
        );
        assert!(
            gap < Duration::from_millis(1300),
            "VRID {vrid}: a {gap:?} gap"
        );
    }
    drop(sniff);
    let mlog = lab.log(m);
    assert_eq!(mlog.matches("reloading").count(), 10, "{mlog}");
    let blog = lab.log(bk);
    assert!(!blog.contains("entering MASTER"), "{blog}");
    assert!(lab.sole(&a, VIP4) && lab.sole(&a, VIP4_2));
}

/// A reload that takes far longer than three adverts (its file is a FIFO the test writes only after 4.5 s, as a
/// configuration on a stalled network mount would be) keeps the VIPs on the master and the backup a backup: the
/// file is read on a thread of its own while adverts keep going, and the new configuration is then installed.
#[test]
fn a_slow_reload_keeps_advertising() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !available() {
        return;
    }
    let mut lab = Lab::new();
    let (a, b) = (lab.a.clone(), lab.b.clone());
    let master_conf = lab.write("a.conf", &conf("fulcrum-a", "va", 150, 150, false));
    let backup_conf = lab.write("b.conf", &conf("fulcrum-b", "vb", 100, 100, false));
    let m = lab.fulcrum(&a, &master_conf);
    let _bk = lab.fulcrum(&b, &backup_conf);
    lab.settle_all(&a, &[VIP4, VIP4_2]);
    std::fs::remove_file(&master_conf).unwrap();
    nix::unistd::mkfifo(
        &master_conf,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    lab.signal(m, &a, Signal::SIGHUP);
    let end = Instant::now() + Duration::from_millis(4500);
    let mut polls = 0;
    while Instant::now() < end {
        let (on_a, on_b) = (addrs(&a), addrs(&b));
        assert!(
            on_a.iter().any(|x| x == VIP4) && !on_b.iter().any(|x| x == VIP4),
            "the VIP moved while the reload was reading its file (poll {polls})\n{}",
            lab.logs()
        );
        polls += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    // The file arrives: the new configuration (VI_2 gains a VIP) is installed.
    let writer = {
        let path = master_conf.clone();
        let text = conf("fulcrum-a", "va", 150, 150, true);
        std::thread::spawn(move || std::fs::write(&path, text))
    };
    assert!(
        lab.until(Duration::from_secs(5), || lab.holds(&a, VIP4_3))
            .is_some(),
        "the slow reload was never installed\n{}",
        lab.logs()
    );
    writer.join().unwrap().unwrap();
    assert!(lab.holds(&a, VIP4) && !lab.holds(&b, VIP4));
}
