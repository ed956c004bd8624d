//! Hostile VRRP input (issue #15) and split-brain recovery, in network namespaces.
//!
//! Two `fulcrum keepalived` (a: priority 150, the master; b: 100) sit on a bridge in a third namespace, the hub,
//! which sends crafted IPv4 VRRP packets with a raw socket of its own (`IP_HDRINCL`, so the TTL and every byte are
//! ours): truncated, bad checksum, wrong version, wrong TTL, wrong password (with a priority above the master's),
//! wrong auth types, wrong interval, wrong type, a payload too short to hold a VRID, an unknown VRID, and a flood
//! of 20,000 bad packets. Every one must be counted in the statistics file (SIGUSR2) of both nodes, in
//! keepalived's category for it, and dropped: nobody changes state, the VIP stays where it was, and a real
//! failover afterwards takes its usual time.
//!
//! The partition tests cut the bridge for VRRP (an nftables `bridge` rule in the hub), wait for both nodes to be
//! master, heal it, and measure the time from the heal to a single VIP holder: at most one advert interval (1 s),
//! with fulcrum and with keepalived 2.2.7 as the lower-priority peer.
//!
//! Needs root, `ip netns`, nft and keepalived; skips without them unless FULCRUM_REQUIRE_NETNS=1.

#[path = "vrrp_common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::*;
use fulcrum_vrrp::codec::{internet_checksum, Advert, Auth, V3Ipv4Checksum, Version};
use nix::sys::signal::Signal;

/// Allowance for process scheduling and the 20 ms polling on a 2-core machine.
const SLACK: Duration = Duration::from_millis(400);

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn conf(router_id: &str, dev: &str, priority: u8) -> String {
    let inst = Inst {
        name: "VI_1",
        dev,
        vrid: 51,
        priority,
        version: 2,
        vips: &[VIP4],
        extra: "",
    };
    format!("{}{}", global(router_id), inst.render())
}

/// The statistics file as `section/group/field -> value` (`VRRP Instance: VI_1/Packet Errors/Length`).
fn parse_stats(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let (mut section, mut group) = (String::new(), String::new());
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let l = line.trim();
        match l.rsplit_once(": ") {
            Some((k, v)) if v.parse::<u64>().is_ok() => {
                let key = if indent >= 4 {
                    format!("{section}/{group}/{k}")
                } else {
                    format!("{section}/{k}")
                };
                out.insert(key, v.parse().unwrap_or(0));
            }
            _ if indent == 0 => section = l.to_string(),
            _ => group = l.trim_end_matches(':').to_string(),
        }
    }
    out
}

/// `after - before` for every key that changed.
fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let b = before.get(k).copied().unwrap_or(0);
            (*v != b).then(|| (k.clone(), v.saturating_sub(b)))
        })
        .collect()
}

const I: &str = "VRRP Instance: VI_1";
const F: &str = "Fulcrum Instance: VI_1";
const IF: &str = "Fulcrum Interface";

/// A valid advert for VI_1 from the hub, with priority `prio` and password `pass`.
fn advert(prio: u8, pass: &str) -> Vec<u8> {
    Advert {
        version: Version::V2,
        vrid: 51,
        priority: prio,
        interval_cs: 100,
        addrs: vec![VIP4.parse().unwrap()],
        auth: Auth::pass(pass),
    }
    .encode(src(), group(), V3Ipv4Checksum::default())
    .unwrap()
}

fn src() -> IpAddr {
    HUB4.parse().unwrap()
}

fn group() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18))
}

/// Sets the VRRPv2 checksum of `msg` right after an edit.
fn fix_checksum(mut msg: Vec<u8>) -> Vec<u8> {
    if msg.len() >= 8 {
        msg[6] = 0;
        msg[7] = 0;
        let c = internet_checksum(&[&msg]);
        msg[6..8].copy_from_slice(&c.to_be_bytes());
    }
    msg
}

fn edit(prio: u8, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut m = advert(prio, "s3cret");
    f(&mut m);
    fix_checksum(m)
}

/// An IPv4 packet from the hub to 224.0.0.18 carrying `payload` with `ttl`.
fn ipv4(payload: &[u8], ttl: u8) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0xc0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0, 1, 0, 0, ttl, 112, 0, 0]);
    h.extend_from_slice(&HUB4.parse::<Ipv4Addr>().unwrap().octets());
    h.extend_from_slice(&[224, 0, 0, 18]);
    let c = internet_checksum(&[&h]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// Sends `packets` in order from `dev` in namespace `ns` through a raw IP_HDRINCL socket, in bursts of `burst`
/// with `pause` between them (so that the receivers' socket buffers do not overflow and every packet is
/// counted), stopping at `deadline`; returns how many were sent and how long it took.
fn send_raw(
    ns: &str,
    dev: &str,
    packets: Vec<Vec<u8>>,
    burst: usize,
    pause: Duration,
    deadline: Duration,
) -> (usize, Duration) {
    let (ns, dev) = (ns.to_string(), dev.to_string());
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let nsfile = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
        // SAFETY: setns on a namespace file we hold open; affects only this thread.
        assert_eq!(
            unsafe { libc::setns(nsfile.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let sock = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(112)),
        )
        .unwrap();
        sock.set_header_included_v4(true).unwrap();
        sock.bind_device(Some(dev.as_bytes())).unwrap();
        let to =
            socket2::SockAddr::from(std::net::SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 18), 0));
        let start = Instant::now();
        let mut sent = 0;
        for chunk in packets.chunks(burst.max(1)) {
            if start.elapsed() > deadline {
                break;
            }
            for p in chunk {
                sock.send_to(p, &to).unwrap();
                sent += 1;
            }
            std::thread::sleep(pause);
        }
        (sent, start.elapsed())
    })
    .join()
    .unwrap()
}

/// Packets the kernel dropped for want of buffer space on the VRRP sockets of namespace `ns` that listen to the
/// group (raw sockets for protocol 112 bound to no address: `/proc/net/raw`'s last column).
fn kernel_drops(ns: &str) -> u64 {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "cat", "/proc/net/raw"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().nth(1) == Some("00000000:0070"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

/// Every kind of bad packet, then a flood, at a master and a backup: counted by both in the right category, no
/// state change, and the backup still takes over in Skew_Time when the master leaves.
#[test]
fn hostile_adverts_are_counted_and_dropped_without_state_change() {
    let _serial = lock();
    if !available() {
        return;
    }
    let mut lab = Lab::with_hub();
    let (a, b, x) = (lab.a.clone(), lab.b.clone(), lab.hub.clone().unwrap());
    let ca = lab.write("a.conf", &conf("fulcrum-a", "va", 150));
    let cb = lab.write("b.conf", &conf("fulcrum-b", "vb", 100));
    let fa = lab.fulcrum(&a, &ca);
    let fb = lab.fulcrum(&b, &cb);
    lab.settle(&a, VIP4);
    let changes = |lab: &Lab| {
        (
            count(&lab.log(fa), "state change"),
            count(&lab.log(fb), "state change"),
        )
    };
    let changes_before = changes(&lab);
    let before = [parse_stats(&lab.stats(fa)), parse_stats(&lab.stats(fb))];

    const N: u64 = 5;
    let high_bad_pass = advert(254, "wrong");
    let v3 = Advert {
        version: Version::V3,
        vrid: 51,
        priority: 254,
        interval_cs: 100,
        addrs: vec![VIP4.parse().unwrap()],
        auth: Auth::None,
    }
    .encode(src(), group(), V3Ipv4Checksum::WithPseudoHeader)
    .unwrap();
    let mut bad_sum = advert(254, "s3cret");
    bad_sum[7] ^= 0x55;
    // (payload, ttl, counter it must land in)
    let cases: Vec<(Vec<u8>, u8, String)> = vec![
        (
            advert(254, "s3cret")[..6].to_vec(),
            255,
            format!("{I}/Packet Errors/Length"),
        ),
        (
            advert(254, "s3cret")[..12].to_vec(),
            255,
            format!("{I}/Packet Errors/Length"),
        ),
        (
            {
                let mut m = advert(254, "s3cret");
                m.extend_from_slice(&[0; 4]);
                fix_checksum(m)
            },
            255,
            format!("{I}/Packet Errors/Length"),
        ),
        (bad_sum, 255, format!("{F}/Checksum Errors")),
        (
            edit(254, |m| m[0] = 0x41),
            255,
            format!("{F}/Version Errors"),
        ),
        (v3, 255, format!("{F}/Version Errors")),
        (advert(254, "s3cret"), 64, format!("{I}/Packet Errors/TTL")),
        (
            high_bad_pass.clone(),
            255,
            format!("{I}/Authentication Errors/Failure"),
        ),
        (
            edit(254, |m| {
                m[4] = 0;
                m[12..20].fill(0);
            }),
            255,
            format!("{I}/Authentication Errors/Type Mismatch"),
        ),
        (
            edit(254, |m| m[4] = 3),
            255,
            format!("{I}/Authentication Errors/Invalid Type"),
        ),
        (
            edit(254, |m| m[5] = 2),
            255,
            format!("{I}/Packet Errors/Advertisement Interval"),
        ),
        (
            edit(254, |m| m[0] = 0x22),
            255,
            format!("{I}/Packet Errors/Invalid Type"),
        ),
        (vec![0x21], 255, "IF/Packet Errors/Length".to_string()),
        (
            edit(254, |m| m[1] = 99),
            255,
            "IF/Packet Errors/VRID".to_string(),
        ),
    ];
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut packets = Vec::new();
    for (payload, ttl, counter) in &cases {
        *expected.entry(counter.clone()).or_default() += N;
        for _ in 0..N {
            packets.push(ipv4(payload, *ttl));
        }
    }
    let (sent, _) = send_raw(
        &x,
        "br0",
        packets,
        20,
        Duration::from_millis(5),
        Duration::from_secs(10),
    );
    assert_eq!(sent as u64, N * cases.len() as u64);
    std::thread::sleep(Duration::from_millis(300));
    let after = [parse_stats(&lab.stats(fa)), parse_stats(&lab.stats(fb))];
    for (node, (b0, a0)) in ["master", "backup"].iter().zip(before.iter().zip(&after)) {
        let mut got = delta(b0, a0);
        // Adverts the peers exchanged meanwhile are not the hub's.
        got.retain(|k, _| {
            !k.ends_with("/Advertisements/Received") && !k.ends_with("/Advertisements/Sent")
        });
        let got: BTreeMap<String, u64> = got
            .into_iter()
            .map(
                |(k, v)| match k.strip_prefix(IF).and_then(|r| r.split_once('/')) {
                    Some((_, rest)) => (format!("IF/{rest}"), v),
                    None => (k, v),
                },
            )
            .collect();
        assert_eq!(
            got,
            expected,
            "{node}: counters moved by\n{got:#?}\n{}",
            lab.logs()
        );
    }
    eprintln!("every bad packet counted once by each node in its category: {expected:#?}");

    // The flood: 20,000 bad packets (a higher priority with the wrong password, and bad checksums).
    const FLOOD: usize = 20_000;
    let mut flood = Vec::with_capacity(FLOOD);
    let mut bad_sum = advert(254, "s3cret");
    bad_sum[6] ^= 0xff;
    for k in 0..FLOOD {
        flood.push(ipv4(
            if k % 2 == 0 { &high_bad_pass } else { &bad_sum },
            255,
        ));
    }
    let before_flood = [parse_stats(&lab.stats(fa)), parse_stats(&lab.stats(fb))];
    let drops_before = [kernel_drops(&a), kernel_drops(&b)];
    let (sent, took) = send_raw(
        &x,
        "br0",
        flood,
        100,
        Duration::from_millis(5),
        Duration::from_secs(30),
    );
    eprintln!(
        "flood: {sent} packets in {took:?} ({:.0}/s)",
        sent as f64 / took.as_secs_f64()
    );
    assert_eq!(sent, FLOOD, "the flood was cut by its time bound");
    lab.stays_sole(&a, &[VIP4], Duration::from_millis(500), "after the flood");
    let after_flood = [parse_stats(&lab.stats(fa)), parse_stats(&lab.stats(fb))];
    let drops = [
        kernel_drops(&a) - drops_before[0],
        kernel_drops(&b) - drops_before[1],
    ];
    for ((node, (b0, a0)), dropped) in ["master", "backup"]
        .iter()
        .zip(before_flood.iter().zip(&after_flood))
        .zip(drops)
    {
        let d = delta(b0, a0);
        let failures = d
            .get(&format!("{I}/Authentication Errors/Failure"))
            .copied()
            .unwrap_or(0);
        let sums = d.get(&format!("{F}/Checksum Errors")).copied().unwrap_or(0);
        eprintln!(
            "{node}: {failures} auth failures and {sums} checksum errors counted, {dropped} dropped by the \
             kernel (socket buffer full), of {FLOOD}"
        );
        // Every packet is counted in its category, unless the kernel had no room for it before fulcrum read it.
        // (`dropped` may also hold an advert of the peer's.)
        assert!(
            failures + sums <= FLOOD as u64 && failures + sums + dropped >= FLOOD as u64,
            "{node}: {d:#?}"
        );
        assert!(
            failures >= FLOOD as u64 / 2 - dropped && sums >= FLOOD as u64 / 2 - dropped,
            "{node}: {d:#?}"
        );
        for k in ["Became master", "Released master"] {
            assert_eq!(d.get(&format!("{I}/{k}")), None, "{node}: {k} moved");
        }
    }
    // The same flood at full speed: the nodes' socket buffers overflow and the kernel drops what they cannot
    // read, so fewer are counted, never more.
    let flood: Vec<Vec<u8>> = (0..FLOOD).map(|_| ipv4(&high_bad_pass, 255)).collect();
    let b0 = [parse_stats(&lab.stats(fa)), parse_stats(&lab.stats(fb))];
    let (sent, took) = send_raw(
        &x,
        "br0",
        flood,
        FLOOD,
        Duration::ZERO,
        Duration::from_secs(30),
    );
    eprintln!(
        "unpaced flood: {sent} packets in {took:?} ({:.0}/s)",
        sent as f64 / took.as_secs_f64()
    );
    lab.stays_sole(
        &a,
        &[VIP4],
        Duration::from_millis(500),
        "after the unpaced flood",
    );
    let after_flood = [parse_stats(&lab.stats(fa)), parse_stats(&lab.stats(fb))];
    for (node, (b0, a0)) in ["master", "backup"].iter().zip(b0.iter().zip(&after_flood)) {
        let d = delta(b0, a0);
        let failures = d
            .get(&format!("{I}/Authentication Errors/Failure"))
            .copied()
            .unwrap_or(0);
        eprintln!("{node}: {failures} of {sent} counted (the rest dropped by the kernel)");
        assert!(failures > 0 && failures <= sent as u64, "{node}: {d:#?}");
        for k in ["Became master", "Released master"] {
            assert_eq!(d.get(&format!("{I}/{k}")), None, "{node}: {k} moved");
        }
    }
    assert_eq!(
        changes(&lab),
        changes_before,
        "a state changed\n{}",
        lab.logs()
    );
    assert!(lab.sole(&a, VIP4));
    // The backup still follows the master: its received adverts go on growing.
    let r0 = after_flood[1][&format!("{I}/Advertisements/Received")];
    std::thread::sleep(Duration::from_millis(1100));
    let r1 = parse_stats(&lab.stats(fb))[&format!("{I}/Advertisements/Received")];
    assert!(
        r1 > r0,
        "the backup stopped hearing the master ({r0} -> {r1})"
    );

    // A real failover still works, in its usual time: SIGTERM, priority 0, takeover after Skew_Time.
    lab.signal(fa, &a, Signal::SIGTERM);
    let took = lab.wait_sole(
        &b,
        &[VIP4],
        Duration::from_secs(5),
        "takeover after the flood",
    );
    let skew = Duration::from_secs(156) / 256;
    eprintln!("takeover after SIGTERM, after the flood: {took:?} (skew {skew:?})");
    assert!(took <= skew + SLACK, "takeover took {took:?}");
    assert_eq!(lab.wait_exit(fa, Duration::from_secs(5)), Some(0));
}

/// Cuts VRRP between a and b (an nftables rule on the hub's bridge), waits for both to be master, heals the cut and
/// measures the time to a single master: at most one advert interval.
fn partition_heals(peer_keepalived: bool) {
    let _serial = lock();
    if !available() {
        return;
    }
    let mut lab = Lab::with_hub();
    let (a, b, x) = (lab.a.clone(), lab.b.clone(), lab.hub.clone().unwrap());
    let ca = lab.write("a.conf", &conf("fulcrum-a", "va", 150));
    let cb = lab.write("b.conf", &conf("peer-b", "vb", 100));
    let fa = lab.fulcrum(&a, &ca);
    let pb = if peer_keepalived {
        lab.keepalived(&b, &cb)
    } else {
        lab.fulcrum(&b, &cb)
    };
    lab.settle(&a, VIP4);
    let nft = |script: &str| {
        let mut c = std::process::Command::new("ip")
            .args(["netns", "exec", &x, "nft", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(c.wait().unwrap().success(), "nft: {script}");
    };
    const ROUNDS: u32 = 3;
    let mut figures = Vec::new();
    for round in 1..=ROUNDS {
        nft("table bridge fulcrum_cut {\n chain cut {\n  type filter hook forward priority 0; policy accept;\n  \
             ip protocol 112 drop\n }\n}\n");
        // Split brain: b stops hearing a and takes the VIP too (3 x 1 s + skew after a's last advert).
        let ok = lab.until(Duration::from_secs(8), || {
            lab.holds(&a, VIP4) && lab.holds(&b, VIP4)
        });
        assert!(
            ok.is_some(),
            "round {round}: no split brain after the cut\n{}",
            lab.logs()
        );
        // Let both run as masters a little; the heal then falls at a different phase of the adverts each round.
        std::thread::sleep(Duration::from_millis(1000 + 370 * u64::from(round)));
        assert!(lab.holds(&a, VIP4) && lab.holds(&b, VIP4));
        nft("delete table bridge fulcrum_cut\n");
        let took = lab.wait_sole(&a, &[VIP4], Duration::from_secs(5), "after the heal");
        figures.push(took);
        assert!(
            took <= Duration::from_secs(1) + SLACK,
            "round {round}: two masters for {took:?} after the heal\n{}",
            lab.logs()
        );
        lab.stays_sole(&a, &[VIP4], Duration::from_millis(1500), "after the heal");
    }
    let peer = if peer_keepalived {
        "keepalived"
    } else {
        "fulcrum"
    };
    eprintln!(
        "partition healed, fulcrum (150) and {peer} (100): one master {figures:?} after the heal (advert interval 1 s)"
    );
    // fulcrum counted the takeovers and releases.
    let s = parse_stats(&lab.stats(fa));
    assert_eq!(
        (
            s[&format!("{I}/Became master")],
            s[&format!("{I}/Released master")]
        ),
        (1, 0)
    );
    if !peer_keepalived {
        let s = parse_stats(&lab.stats(pb));
        assert_eq!(
            (
                s[&format!("{I}/Became master")],
                s[&format!("{I}/Released master")]
            ),
            (u64::from(ROUNDS), u64::from(ROUNDS))
        );
    }
}

#[test]
fn partition_heals_to_one_master_within_an_advert_interval() {
    partition_heals(false);
}

#[test]
fn partition_heals_with_keepalived_as_the_peer() {
    partition_heals(true);
}
