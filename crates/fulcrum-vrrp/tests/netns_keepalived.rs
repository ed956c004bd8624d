//! End-to-end interop with real keepalived (2.2.x) in network namespaces.
//!
//! Each test builds two namespaces joined by a veth pair (addresses from 198.18.0.0/15 and fd00::/8), runs
//! `fulcrum-vrrp-test-node` (a thin `cli_main` wrapper) in one and keepalived in the other, and checks elections,
//! takeover times and that exactly one node holds the VIP. Everything is torn down by Drop guards, processes by PID.
//!
//! Needs root, `ip netns` and keepalived. Without them a test prints "skip" and passes, unless
//! FULCRUM_REQUIRE_NETNS=1, in which case it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Timing checks are serialised so that two tests do not compete for the 2 cores.
static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

const VIP4: &str = "198.18.0.100";
const VIP6: &str = "fd00:198:18::100";

fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Whether this machine can run the tests; prints why not, and fails when they are required.
fn available() -> bool {
    let required = std::env::var("FULCRUM_REQUIRE_NETNS").is_ok_and(|v| v == "1");
    let why = if !nix::unistd::getuid().is_root() {
        Some("not root".to_string())
    } else if Command::new("keepalived")
        .arg("--version")
        .output()
        .is_err()
    {
        Some("keepalived is not installed".to_string())
    } else {
        let probe = format!("fulcrum-probe{}", std::process::id());
        match ip(&["netns", "add", &probe]) {
            Ok(_) => {
                let _ = ip(&["netns", "del", &probe]);
                None
            }
            Err(e) => Some(format!("ip netns does not work: {e}")),
        }
    };
    match why {
        None => true,
        Some(w) if required => panic!("FULCRUM_REQUIRE_NETNS=1 but {w}"),
        Some(w) => {
            eprintln!("skip: {w}");
            false
        }
    }
}

/// Two namespaces `a` and `b` joined by veth `va` <-> `vb`; deleted on drop, with every process killed by PID.
struct Lab {
    a: String,
    b: String,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Lab {
    fn new() -> Lab {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("fulcrum-netns-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Lab {
            a: format!("fulcrum-{tag}-a"),
            b: format!("fulcrum-{tag}-b"),
            dir,
            children: Vec::new(),
        };
        for ns in [&lab.a, &lab.b] {
            ip(&["netns", "add", ns]).unwrap();
            ip(&["-n", ns, "link", "set", "lo", "up"]).unwrap();
        }
        ip(&[
            "-n", &lab.a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns",
            &lab.b,
        ])
        .unwrap();
        for (ns, dev, v4, v6) in [
            (&lab.a, "va", "198.18.0.1/24", "fd00:198:18::1/64"),
            (&lab.b, "vb", "198.18.0.2/24", "fd00:198:18::2/64"),
        ] {
            ip(&["-n", ns, "addr", "add", v4, "dev", dev]).unwrap();
            ip(&["-n", ns, "addr", "add", v6, "dev", dev, "nodad"]).unwrap();
            ip(&["-n", ns, "link", "set", dev, "up"]).unwrap();
        }
        // Wait for link-local addresses (DAD) on both sides.
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            let ready = [(&lab.a, "va"), (&lab.b, "vb")].iter().all(|(ns, dev)| {
                ip(&["-n", ns, "-6", "addr", "show", "dev", dev, "scope", "link"])
                    .map(|s| s.contains("fe80") && !s.contains("tentative"))
                    .unwrap_or(false)
            });
            if ready {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        lab
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Starts fulcrum in namespace `ns`; returns its index in `children`.
    fn fulcrum(&mut self, ns: &str, conf: &Path) -> usize {
        let log = std::fs::File::create(self.dir.join(format!("fulcrum-{ns}.log"))).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                env!("CARGO_BIN_EXE_fulcrum-vrrp-test-node"),
                "-n",
                "-l",
                "-D",
                "-f",
            ])
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    /// Starts keepalived (VRRP only, foreground) in namespace `ns`.
    fn keepalived(&mut self, ns: &str, conf: &Path) -> usize {
        let d = &self.dir;
        let log = std::fs::File::create(d.join(format!("keepalived-{ns}.log"))).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "keepalived",
                "-n",
                "-l",
                "-D",
                "-P",
                "-f",
            ])
            .arg(conf)
            .arg("-p")
            .arg(d.join(format!("k-{ns}.pid")))
            .arg("-r")
            .arg(d.join(format!("v-{ns}.pid")))
            .arg("-c")
            .arg(d.join(format!("c-{ns}.pid")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    /// Sends `sig` to child `idx` living in `ns`; SIGKILL goes to every process of the namespace (keepalived's
    /// VRRP child too), as a crashed node would lose them all.
    fn signal(&mut self, idx: usize, ns: &str, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.children[idx].id() as i32);
        if sig == nix::sys::signal::Signal::SIGKILL {
            for p in pids_in(ns) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig);
            }
        }
        let _ = nix::sys::signal::kill(pid, sig);
    }

    fn wait_exit(&mut self, idx: usize, within: Duration) -> Option<i32> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.children[idx].try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn holds(&self, ns: &str, vip: &str) -> bool {
        ip(&["-n", ns, "-o", "addr", "show"])
            .map(|s| {
                s.split_whitespace()
                    .any(|w| w.split('/').next() == Some(vip))
            })
            .unwrap_or(false)
    }

    /// Waits until `f` holds, polling every 20 ms; returns the time it took.
    fn until(&self, within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < within {
            if f() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits for `ns` to be the only VIP holder, and for that to last 1.5 s.
    fn settle(&self, ns: &str, vip: &str) {
        let other = if ns == self.a { &self.b } else { &self.a };
        let ok = self.until(Duration::from_secs(12), || {
            self.holds(ns, vip) && !self.holds(other, vip)
        });
        assert!(
            ok.is_some(),
            "{ns} never became the only holder of {vip}\n{}",
            self.logs()
        );
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            self.holds(ns, vip) && !self.holds(other, vip),
            "election did not stay stable\n{}",
            self.logs()
        );
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "log") {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(40).collect();
                    s.push_str(&format!("==== {}\n", e.path().display()));
                    for l in tail.into_iter().rev() {
                        s.push_str(l);
                        s.push('\n');
                    }
                }
            }
        }
        s
    }
}

/// PIDs of processes living in namespace `ns`.
fn pids_in(ns: &str) -> Vec<i32> {
    ip(&["netns", "pids", ns])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.a, &self.b] {
            for p in pids_in(ns) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = ip(&["netns", "del", ns]);
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("logs kept in {}", self.dir.display());
        }
    }
}

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
        let flog = std::fs::read_to_string(lab.dir.join(format!("fulcrum-{a}.log"))).unwrap();
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
        Command::new(env!("CARGO_BIN_EXE_fulcrum-vrrp-test-node"))
            .arg("-t")
            .arg("-f")
            .arg(p)
            .output()
            .unwrap()
    };
    let out = run(&good);
    assert_eq!(out.status.code(), Some(0));
    let out = run(&bad);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.conf:3: 'bogus'"), "{err}");
    assert!(err.contains("needs a 'virtual_router_id'"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
