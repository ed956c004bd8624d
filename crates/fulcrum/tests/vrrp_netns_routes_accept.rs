//! `virtual_routes` and `no_accept` in network namespaces.
//!
//! - Routes: fulcrum (a, priority 150) and keepalived (b, priority 100) both carry virtual routes; only the master's
//!   namespace has them, a stale copy from an earlier run is removed at start, and fulcrum's go away when it stops
//!   (keepalived's then appear in b, as it takes over).
//! - no_accept: while fulcrum (priority 150, not the address owner) is master, an ICMP echo or a TCP connect to its
//!   VIP from b gets no answer, while its primary address still answers; after a reload to `accept` both are
//!   answered; the nftables table is gone after SIGTERM.
//!
//! Needs root, `ip netns`, keepalived and nft; skips without them unless FULCRUM_REQUIRE_NETNS=1.

#[path = "vrrp_common/mod.rs"]
mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` on a thread that entered namespace `ns`.
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns on a namespace file we hold open; affects only this thread.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("thread in namespace panicked")
}

/// The routes of `ns` for `dst` (`ip route show` / `ip -6 route show`), as text.
fn routes(ns: &str, dst: &str, extra: &[&str]) -> String {
    let fam = if dst.contains(':') { "-6" } else { "-4" };
    let mut args = vec!["-n", ns, fam, "route", "show"];
    args.extend_from_slice(extra);
    args.push(dst);
    ip(&args).unwrap_or_default().trim().to_string()
}

/// What came back from a probe.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// Some reply (an echo reply, or a SYN-ACK / RST).
    Yes,
    /// Nothing within the timeout.
    No,
}

/// A TCP connect from `ns` to `addr:9` (nothing listens: an answer is an RST, refused).
fn tcp_probe(ns: &str, addr: &str) -> Answer {
    let sa = SocketAddr::new(addr.parse().unwrap(), 9);
    in_ns(ns, move || {
        match TcpStream::connect_timeout(&sa, Duration::from_millis(700)) {
            Ok(_) => Answer::Yes,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Answer::Yes,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Answer::No,
            Err(e) => panic!("connect to {sa}: {e}"),
        }
    })
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One ICMP echo request from `ns` to `addr` (a raw socket: no `ping` needed), waiting 700 ms for the reply.
fn ping(ns: &str, addr: &str) -> Answer {
    let dst: Ipv4Addr = addr.parse().unwrap();
    in_ns(ns, move || {
        use socket2::{Domain, Protocol, SockAddr, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).unwrap();
        let id = (std::process::id() & 0xffff) as u16;
        let mut req = vec![8u8, 0, 0, 0];
        req.extend_from_slice(&id.to_be_bytes());
        req.extend_from_slice(&1u16.to_be_bytes());
        req.extend_from_slice(b"fulcrum no_accept probe");
        let c = checksum(&req);
        req[2..4].copy_from_slice(&c.to_be_bytes());
        s.send_to(&req, &SockAddr::from(SocketAddr::new(IpAddr::V4(dst), 0)))
            .unwrap();
        let end = Instant::now() + Duration::from_millis(700);
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1500];
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let Ok(n) = s.recv(&mut buf) else {
                break;
            };
            // SAFETY: recv initialised the first n bytes.
            let pkt: Vec<u8> = buf[..n]
                .iter()
                .map(|b| unsafe { b.assume_init() })
                .collect();
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            let from = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
            let icmp = &pkt[ihl..];
            if from == dst && icmp.len() >= 8 && icmp[0] == 0 && icmp[4..6] == id.to_be_bytes() {
                return Answer::Yes;
            }
        }
        Answer::No
    })
}

fn nft_table(ns: &str) -> Option<String> {
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "nft",
            "list",
            "table",
            "inet",
            "fulcrum_vrrp",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn nft_available() -> bool {
    let ok = std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var("FULCRUM_REQUIRE_NETNS").is_ok_and(|v| v == "1") {
        panic!("FULCRUM_REQUIRE_NETNS=1 but nft is not installed");
    }
    ok
}

/// Routes come with MASTER and go with it; stale ones are removed at start; keepalived does the same on its side.
#[test]
fn virtual_routes_follow_the_master() {
    let _serial = lock();
    if !available() {
        return;
    }
    let started = Instant::now();
    let mut lab = Lab::new();
    let (a, b) = (lab.a.clone(), lab.b.clone());
    let fulcrum_routes = format!(
        "    virtual_routes {{\n        198.19.5.0/24 via {B4}\n        198.19.6.0/24 via {B4} src {VIP4} metric 7\n        \
         blackhole 198.19.7.0/24\n        fd00:5::/48 via fd00:198:18::2\n    }}\n"
    );
    let keepalived_routes =
        format!("    virtual_routes {{\n        198.19.5.0/24 via {A4}\n    }}\n");
    let inst = |dev, priority, extra| Inst {
        name: "VI_1",
        dev,
        vrid: 51,
        priority,
        version: 2,
        vips: &[VIP4],
        extra,
    };
    let fconf = lab.write(
        "a.conf",
        &(global("fulcrum-a") + &inst("va", 150, &fulcrum_routes).render()),
    );
    let kconf = lab.write(
        "b.conf",
        &(global("keepalived-b") + &inst("vb", 100, &keepalived_routes).render()),
    );
    // A route left by a killed run, with the same spec.
    ip(&["-n", &a, "route", "add", "198.19.5.0/24", "via", B4]).unwrap();
    let f = lab.fulcrum(&a, &fconf);
    let k = lab.keepalived(&b, &kconf);
    // 1. Removed at start, while fulcrum is still backup (its master-down timer is 3.4 s).
    let gone = lab.until(Duration::from_secs(2), || {
        routes(&a, "198.19.5.0/24", &[]).is_empty()
    });
    assert!(
        gone.is_some() && !lab.holds(&a, VIP4),
        "stale route not removed while backup\n{}",
        lab.logs()
    );

    // 2. fulcrum master: its routes in a, none in b.
    lab.settle(&a, VIP4);
    let r = routes(&a, "198.19.5.0/24", &[]);
    assert!(
        r.contains(&format!("via {B4} dev va")),
        "{r}\n{}",
        lab.logs()
    );
    let r = routes(&a, "198.19.6.0/24", &[]);
    assert!(
        r.contains(&format!("src {VIP4}")) && r.contains("metric 7"),
        "{r}"
    );
    let r = routes(&a, "198.19.7.0/24", &[]);
    assert!(r.starts_with("blackhole 198.19.7.0/24"), "{r}");
    let r = routes(&a, "fd00:5::/48", &[]);
    assert!(r.contains("via fd00:198:18::2 dev va"), "{r}");
    assert_eq!(routes(&b, "198.19.5.0/24", &[]), "");

    // 3. SIGTERM: fulcrum's routes go with its VIP; keepalived takes over and adds its own.
    lab.signal(f, &a, Signal::SIGTERM);
    assert_eq!(lab.wait_exit(f, Duration::from_secs(5)), Some(0));
    for dst in [
        "198.19.5.0/24",
        "198.19.6.0/24",
        "198.19.7.0/24",
        "fd00:5::/48",
    ] {
        assert_eq!(
            routes(&a, dst, &[]),
            "",
            "{dst} left behind\n{}",
            lab.log(f)
        );
    }
    lab.wait_sole(&b, &[VIP4], Duration::from_secs(3), "fulcrum stopped");
    let took = lab.until(Duration::from_secs(2), || {
        routes(&b, "198.19.5.0/24", &[]).contains(&format!("via {A4}"))
    });
    assert!(
        took.is_some(),
        "keepalived never added its route\n{}",
        lab.log(k)
    );
    let flog = lab.log(f);
    assert!(!flog.contains("ERROR"), "{flog}");
    eprintln!("virtual_routes: {:?}", started.elapsed());
}

/// no_accept drops traffic to the VIP while master (not the owner); accept (after a reload) lets it in.
#[test]
fn no_accept_drops_traffic_to_the_vip_accept_lets_it_in() {
    let _serial = lock();
    if !available() || !nft_available() {
        return;
    }
    let started = Instant::now();
    let mut lab = Lab::new();
    let (a, b) = (lab.a.clone(), lab.b.clone());
    // VRRPv3 at 0.1 s: fulcrum alone becomes master after 0.3 s + skew.
    let conf = |mode: &str| {
        global("fulcrum-a")
            + &Inst {
                name: "VI_1",
                dev: "va",
                vrid: 51,
                priority: 150,
                version: 3,
                vips: &[VIP4],
                extra: &format!("    {mode}\n"),
            }
            .render()
            .replace("advert_int 1", "advert_int 0.1")
    };
    let path = lab.write("a.conf", &conf("no_accept"));
    let f = lab.fulcrum(&a, &path);
    lab.wait_sole(&a, &[VIP4], Duration::from_secs(5), "fulcrum alone");
    let table = nft_table(&a).unwrap_or_else(|| panic!("no nftables table\n{}", lab.logs()));
    assert!(table.contains(VIP4), "{table}");

    // 1. no_accept: nothing to the VIP is answered; the primary address still is.
    assert_eq!(ping(&b, VIP4), Answer::No, "ping answered under no_accept");
    assert_eq!(
        tcp_probe(&b, VIP4),
        Answer::No,
        "TCP answered under no_accept"
    );
    assert_eq!(ping(&b, A4), Answer::Yes, "primary address not answering");
    assert_eq!(tcp_probe(&b, A4), Answer::Yes);

    // 2. Reload to accept: the instance stays master and the VIP answers.
    lab.write("a.conf", &conf("accept"));
    lab.signal(f, &a, Signal::SIGHUP);
    let ok = lab.until(Duration::from_secs(3), || nft_table(&a).is_none());
    assert!(
        ok.is_some(),
        "table kept after reload to accept\n{}",
        lab.log(f)
    );
    assert!(lab.holds(&a, VIP4));
    assert_eq!(ping(&b, VIP4), Answer::Yes, "ping unanswered under accept");
    assert_eq!(
        tcp_probe(&b, VIP4),
        Answer::Yes,
        "TCP unanswered under accept"
    );

    // 3. Back to no_accept: the master that was kept is filtered again at once.
    lab.write("a.conf", &conf("no_accept"));
    lab.signal(f, &a, Signal::SIGHUP);
    let ok = lab.until(Duration::from_secs(3), || {
        nft_table(&a).is_some_and(|t| t.contains(VIP4))
    });
    assert!(ok.is_some(), "filter not back after reload\n{}", lab.log(f));
    assert_eq!(tcp_probe(&b, VIP4), Answer::No);

    // 4. SIGTERM: the table goes with fulcrum.
    lab.signal(f, &a, Signal::SIGTERM);
    assert_eq!(lab.wait_exit(f, Duration::from_secs(5)), Some(0));
    assert!(nft_table(&a).is_none(), "table left after SIGTERM");
    let flog = lab.log(f);
    assert!(!flog.contains("ERROR"), "{flog}");
    eprintln!("no_accept: {:?}", started.elapsed());
}

/// Without `nft`, a configuration with a no_accept instance is refused at start with a clear message, before any
/// address is touched.
#[test]
fn no_accept_without_nft_refuses_to_start() {
    let _serial = lock();
    if !available() {
        return;
    }
    let lab = Lab::new();
    let conf = lab.write(
        "a.conf",
        &(global("fulcrum-a")
            + &Inst {
                name: "VI_1",
                dev: "va",
                vrid: 51,
                priority: 150,
                version: 2,
                vips: &[VIP4],
                extra: "    no_accept\n",
            }
            .render()),
    );
    let empty = lab.dir.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.a, "env"])
        .arg(format!("PATH={}", empty.display()))
        .args([
            env!("CARGO_BIN_EXE_fulcrum"),
            "keepalived",
            "-n",
            "-l",
            "-f",
        ])
        .arg(&conf)
        .output()
        .unwrap();
    let err = strip_ansi(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no_accept needs nftables") && err.contains("'nft' not found"),
        "{err}"
    );
    assert!(!lab.holds(&lab.a, VIP4));
}
