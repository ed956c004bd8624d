//! `fulcrum keepalived` as a user runs it: `-t` checks keepalived.conf and reports problems with file:line, with
//! keepalived's exit codes; `--help` tells the signals and where the documentation is.

use std::process::Command;

/// Whether the tests that need root and network namespaces run here; prints why not, and fails when
/// FULCRUM_REQUIRE_NETNS=1 asks for them.
fn netns_available() -> bool {
    let required = std::env::var("FULCRUM_REQUIRE_NETNS").is_ok_and(|v| v == "1");
    let probe = format!("fulcrum-{}-probe", std::process::id());
    let why = if !nix::unistd::getuid().is_root() {
        Some("not root".to_string())
    } else {
        match Command::new("ip").args(["netns", "add", &probe]).output() {
            Ok(o) if o.status.success() => {
                let _ = Command::new("ip").args(["netns", "del", &probe]).output();
                None
            }
            Ok(o) => Some(format!(
                "ip netns does not work: {}",
                String::from_utf8_lossy(&o.stderr)
            )),
            Err(e) => Some(format!("no ip command: {e}")),
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

/// A non-loopback interface with multicast on this machine (VRRP refuses the others), if there is one.
fn usable_interface() -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().find(|n| {
        std::fs::read_to_string(format!("/sys/class/net/{n}/flags"))
            .ok()
            .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
            .is_some_and(|f| f & 0x8 == 0 && f & 0x1000 != 0)
    })
}

fn run_check(text: &str, tag: &str) -> (i32, String) {
    let path = std::env::temp_dir().join(format!("fulcrum-kcli-{}-{tag}.conf", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fulcrum"))
        .arg("keepalived")
        .arg("-t")
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "K"),
    )
}

const VALID: &str = "\
global_defs {
    router_id test
}
vrrp_instance VI_1 {
    state MASTER
    interface IFACE
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cret
    }
    virtual_ipaddress {
        198.18.0.100/24
    }
}
";

#[test]
fn check_accepts_a_valid_config() {
    let Some(dev) = usable_interface() else {
        assert!(
            netns_available(),
            "no interface to check a valid configuration with"
        );
        // A namespace has what this machine lacks: a veth pair, multicast-capable.
        let ns = Netns::new("ok");
        let path =
            std::env::temp_dir().join(format!("fulcrum-kcli-{}-okns.conf", std::process::id()));
        std::fs::write(&path, VALID.replace("IFACE", "ck0")).unwrap();
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                env!("CARGO_BIN_EXE_fulcrum"),
                "keepalived",
                "-t",
                "-f",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    };
    let (code, err) = run_check(&VALID.replace("IFACE", &dev), "ok");
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn check_names_file_line_and_keyword() {
    let bad = VALID.replace(
        "    advert_int 1\n",
        "    advert_int 1\n    frobnicate yes\n",
    );
    let (code, err) = run_check(&bad, "bad");
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("K:10") && err.contains("frobnicate"), "{err}");
}

#[test]
fn check_reports_an_interface_that_does_not_exist() {
    // keepalived -t: "interface ... doesn't exist", "Non-existent interface specified in configuration", exit 5.
    let (code, err) = run_check(&VALID.replace("IFACE", "nxfulcrum0"), "noif");
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("[ALERT] K:4: 'interface': interface 'nxfulcrum0' for vrrp_instance VI_1 does not exist"),
        "{err}"
    );
    assert!(
        err.contains("the configuration names interfaces that do not exist"),
        "{err}"
    );
    let no_track = VALID.replace("IFACE", "nxfulcrum0").replace(
        "    advert_int 1\n",
        "    advert_int 1\n    track_interface {\n        nxfulcrum1\n    }\n",
    );
    let (code, err) = run_check(&no_track, "notrack");
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains(
            "'track_interface': interface 'nxfulcrum1' for track_interface of vrrp_instance VI_1"
        ),
        "{err}"
    );
}

#[test]
fn check_exit_codes_for_a_missing_file_and_warnings() {
    let missing =
        std::env::temp_dir().join(format!("fulcrum-kcli-{}-none.conf", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_fulcrum"))
        .args(["keepalived", "-t", "-f"])
        .arg(&missing)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("is missing"), "{err}");
    // What keepalived corrects and runs with still fails the check (exit 5), printed as a warning.
    let long = VALID
        .replace("IFACE", "nxfulcrum0")
        .replace("auth_pass s3cret", "auth_pass s3cret-and-more");
    let (code, err) = run_check(&long, "long");
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("[WARNING] K:12: 'auth_pass': is longer than 8 characters"),
        "{err}"
    );
}

/// A network namespace `fulcrum-<pid>-<n>` with a veth pair ck0 <-> ck0p, up; deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let ns = Netns(format!("fulcrum-{}-{n}{tag}", std::process::id()));
        let ip = |args: &[&str]| {
            let o = Command::new("ip").args(args).output().unwrap();
            assert!(
                o.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        ip(&["netns", "add", &ns.0]);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ip(&[
            "-n", &ns.0, "link", "add", "ck0", "type", "veth", "peer", "name", "ck0p",
        ]);
        ip(&["-n", &ns.0, "addr", "add", "198.18.0.1/24", "dev", "ck0"]);
        ip(&["-n", &ns.0, "link", "set", "ck0p", "up"]);
        ip(&["-n", &ns.0, "link", "set", "ck0", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

#[test]
fn help_tells_signals_exit_codes_and_docs() {
    let out = Command::new(env!("CARGO_BIN_EXE_fulcrum"))
        .args(["keepalived", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Usage: fulcrum keepalived",
        "Exit codes of -t",
        "  4  the configuration file is missing",
        "  5  problems were reported",
        "  6  scripts are set up but global_defs has no enable_script_security",
        "SIGTERM, SIGINT  stop: a master sends a priority-0 advert and removes its virtual addresses",
        "SIGHUP           reload the configuration file",
        "SIGUSR2          write the statistics",
        "SIGUSR1          write every VRRP instance's state",
        "docs/COMPATIBILITY.md, section 'keepalived'",
    ] {
        assert!(help.contains(needle), "missing {needle:?} in:\n{help}");
    }
    // The documentation it names is there, with that section and the signals in it.
    let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/COMPATIBILITY.md");
    let doc = std::fs::read_to_string(doc).unwrap();
    assert!(doc.contains("## keepalived (`fulcrum keepalived`)"));
    assert!(doc.contains("| SIGTERM / SIGINT |") && doc.contains("| SIGHUP |"));
    // A usage error prints the options only.
    let out = Command::new(env!("CARGO_BIN_EXE_fulcrum"))
        .args(["keepalived", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown option --bogus") && !err.contains("Signals:"),
        "{err}"
    );
}

/// What the help says of SIGUSR1 and SIGUSR2 is what happens: neither ends the process nor moves the master's
/// address; SIGUSR2 writes keepalived's statistics file (in `FULCRUM_KEEPALIVED_DUMP_DIR`, so that tests running at
/// once do not share `/tmp/keepalived.stats`), SIGUSR1 the data dump; SIGTERM then removes the address and exits 0.
#[test]
fn sigusr_keeps_running_usr2_writes_stats_sigterm_cleans_up() {
    if !netns_available() {
        return;
    }
    let ns = Netns::new("sig");
    let dir = std::env::temp_dir().join(format!("fulcrum-kcli-{}-sig", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        "vrrp_instance VI_1 {\n    interface ck0\n    virtual_router_id 51\n    priority 255\n    \
         virtual_ipaddress {\n        198.18.0.100/24\n    }\n}\n",
    )
    .unwrap();
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_fulcrum"),
            "keepalived",
            "-n",
            "-l",
            "-f",
        ])
        .arg(&conf)
        .env("FULCRUM_KEEPALIVED_DUMP_DIR", &dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // `ip netns exec` execs the command: the child is fulcrum itself. Killed by PID on every way out.
    struct Kill(std::process::Child, std::path::PathBuf);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let mut child = Kill(child, dir.clone());
    let has_vip = || {
        let o = Command::new("ip")
            .args(["-n", &ns.0, "-4", "addr", "show", "dev", "ck0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).contains("198.18.0.100/24")
    };
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !f() {
            assert!(std::time::Instant::now() < end, "{what}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    wait("the owner never took its address", &has_vip);
    let pid = i32::try_from(child.0.id()).unwrap();
    let stats = dir.join("keepalived.stats");
    for sig in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGUSR2] {
        let _ = std::fs::remove_file(&stats);
        // SAFETY: kill(2) on the PID of our own child, which has not been reaped.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
        if sig == libc::SIGUSR2 {
            wait("SIGUSR2 wrote no statistics", &|| stats.exists());
            let text = std::fs::read_to_string(&stats).unwrap();
            assert!(
                text.starts_with("VRRP Instance: VI_1\n  Advertisements:\n    Received: 0\n")
                    && text.contains("  Became master: 1\n")
                    && text.contains("Fulcrum Instance: VI_1\n"),
                "{text}"
            );
        } else {
            let data = dir.join("keepalived.data");
            wait("SIGUSR1 wrote no data dump", &|| data.exists());
            let text = std::fs::read_to_string(&data).unwrap();
            assert!(
                text.contains(" VRRP Instance = VI_1\n   VRRP Version = 2\n   State = MASTER\n"),
                "{text}"
            );
            assert!(!stats.exists(), "SIGUSR1 wrote {}", stats.display());
        }
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "signal {sig} ended the process"
        );
        assert!(has_vip(), "signal {sig} moved the address");
    }
    // keepalived's real-time signals: JSON writes keepalived.json; STATS_CLEAR writes the statistics, then zeroes
    // them (the next SIGUSR2 no longer counts the one transition to master).
    let signum = |f: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_fulcrum"))
            .args(["keepalived", &format!("--signum={f}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "--signum={f}: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<i32>()
            .unwrap()
    };
    let json = dir.join("keepalived.json");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, signum("JSON")) }, 0);
    wait("the JSON signal wrote no dump", &|| json.exists());
    let text = std::fs::read_to_string(&json).unwrap();
    assert!(
        text.starts_with("[{\"data\":{\"iname\":\"VI_1\",") && text.contains("\"state\":2,"),
        "{text}"
    );
    for (sig, became) in [(signum("STATS_CLEAR"), 1), (libc::SIGUSR2, 0)] {
        let _ = std::fs::remove_file(&stats);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
        wait("no statistics written", &|| stats.exists());
        let text = std::fs::read_to_string(&stats).unwrap();
        assert!(
            text.contains(&format!("  Became master: {became}\n")),
            "signal {sig}: {text}"
        );
    }
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "a signal ended the process"
    );
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < end,
            "SIGTERM did not end the process"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(!has_vip(), "SIGTERM left the address");
}

/// At start-up, what `-t` refuses stops the daemon too, before it opens anything: exit 1 with the same messages.
#[test]
fn start_refuses_an_interface_that_does_not_exist() {
    let path = std::env::temp_dir().join(format!("fulcrum-kcli-{}-start.conf", std::process::id()));
    std::fs::write(&path, VALID.replace("IFACE", "nxfulcrum0")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fulcrum"))
        .args(["keepalived", "-n", "-l", "-f"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if std::time::Instant::now() > end {
            // Killed by its own PID, so that a failure leaves nothing running.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let _ = std::fs::remove_file(&path);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{err}");
    assert!(
        err.contains("interface 'nxfulcrum0' for vrrp_instance VI_1 does not exist"),
        "{err}"
    );
}

#[test]
fn signum_prints_keepalived_s_numbers() {
    let run = |arg: &str| {
        Command::new(env!("CARGO_BIN_EXE_fulcrum"))
            .args(["keepalived", arg])
            .output()
            .unwrap()
    };
    // The same answers as keepalived 2.2.7: the number on stdout, or a message on stderr and exit 1.
    let out = run("--signum=DATA");
    assert_eq!(
        (out.status.code(), &out.stdout[..]),
        (Some(0), &b"10\n"[..])
    );
    let out = run("--signum=JSON");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "36\n");
    let out = run("--signum=data");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Unknown sigfunc data\n"
    );
}

/// The Prometheus project's reference parser (`prometheus_client`) reading `http://127.0.0.1:PORT/metrics`: one
/// line per sample, `name labels value` with labels sorted.
const SCRAPE: &str = r#"
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
r = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5)
assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers["Content-Type"]
for fam in text_string_to_metric_families(r.read().decode()):
    for s in fam.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{fam.type} {s.name} {labels} {float(s.value)}")
"#;

/// Runs [`SCRAPE`] against `port`, inside network namespace `ns` or on this host's loopback; `None` when python's
/// parser is missing and peers are not required.
fn scrape(ns: Option<&str>, port: u16) -> Option<std::process::Output> {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "python3"]);
            c
        }
        None => Command::new("python3"),
    };
    let out = cmd
        .args(["-c", SCRAPE, &port.to_string()])
        .output()
        .unwrap();
    if String::from_utf8_lossy(&out.stderr).contains("No module named 'prometheus_client'") {
        assert!(
            std::env::var_os("FULCRUM_REQUIRE_NETNS").is_none(),
            "prometheus_client is needed (scripts/install-deps.sh)"
        );
        return None;
    }
    Some(out)
}

/// The parsed page of `http://127.0.0.1:PORT/metrics` inside `ns` (see [`scrape`]); a failed read fails the test.
fn scrape_in(ns: &str, port: u16) -> Option<String> {
    let out = scrape(Some(ns), port)?;
    assert!(
        out.status.success(),
        "scrape failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn metrics_endpoint_uses_the_keepalived_exporter_names() {
    if !netns_available() {
        return;
    }
    let ns = Netns::new("met");
    let dir = std::env::temp_dir().join(format!("fulcrum-kcli-{}-met", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        "global_defs {\n    fulcrum_metrics_listen 127.0.0.1:19650\n    script_user root\n    enable_script_security\n}\n\
         vrrp_script chk {\n    script \"/bin/true\"\n    interval 1\n    weight 5\n}\n\
         vrrp_instance VI_1 {\n    interface ck0\n    virtual_router_id 51\n    priority 100\n    \
         track_script {\n        chk\n    }\n    track_interface {\n        ck0p weight -10\n    }\n    \
         virtual_ipaddress {\n        198.18.0.100/24\n    }\n}\n\
         virtual_server 198.18.0.100 80 {\n    delay_loop 1\n    lb_kind NAT\n    protocol TCP\n    \
         real_server 127.0.0.1 1 {\n        TCP_CHECK {\n            connect_timeout 1\n            retry 0\n        }\n    }\n}\n",
    )
    .unwrap();
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_fulcrum"),
            "keepalived",
            "-n",
            "-l",
            "-f",
        ])
        .arg(&conf)
        // The checkers keep their table in a file here: the page is what is tested, not nftables.
        .env("FULCRUM_LVS_STATE", dir.join("table.json"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child, std::path::PathBuf);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let _child = Kill(child, dir.clone());
    // Master after 3 adverts' worth of silence, then one more second for the page to be published.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let text = loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let page = scrape_in(&ns.0, 19650);
        match page {
            None => return,
            Some(t)
                if t.contains(
                    "keepalived_vrrp_state iname=VI_1,intf=ck0,ip_address=198.18.0.100,vrid=51 2.0",
                ) && t.contains("fulcrum_checker_real_server_up real_server=[127.0.0.1]:1,") =>
            {
                break t
            }
            Some(t) => assert!(
                std::time::Instant::now() < end,
                "never MASTER on the page:\n{t}"
            ),
        }
    };
    let common = "iname=VI_1,intf=ck0,state=MASTER,vrid=51";
    for line in [
        "gauge keepalived_up  1.0".to_string(),
        format!("counter keepalived_become_master_total {common} 1.0"),
        format!("counter keepalived_release_master_total {common} 0.0"),
        format!("counter keepalived_gratuitous_arp_delay_total {common} 5.0"),
        "gauge keepalived_script_status name=chk 1.0".to_string(),
        "gauge fulcrum_vrrp_priority iname=VI_1,intf=ck0,vrid=51 100.0".to_string(),
        // chk (+5) holds and ck0p is up (its -10 applies only when down).
        "gauge fulcrum_vrrp_effective_priority iname=VI_1,intf=ck0,vrid=51 105.0".to_string(),
        "gauge fulcrum_vrrp_tracked_up iname=VI_1,kind=script,name=chk 1.0".to_string(),
        // Why the state last changed, in the labels (the parser sorts them).
        "gauge fulcrum_vrrp_last_transition_info iname=VI_1,intf=ck0,reason=no advert for the master down interval,state=MASTER,vrid=51 1.0"
            .to_string(),
        "gauge fulcrum_vrrp_tracked_up iname=VI_1,kind=interface,name=ck0p 1.0".to_string(),
        // The checkers running beside VRRP share its endpoint (port 1 is closed: down after one failure).
        "gauge fulcrum_checker_real_server_up real_server=[127.0.0.1]:1,virtual_server=[198.18.0.100]:tcp:80 0.0"
            .to_string(),
        "gauge fulcrum_checker_virtual_server_quorum_up virtual_server=[198.18.0.100]:tcp:80 0.0"
            .to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in:\n{text}");
    }
    let sent = text
        .lines()
        .find(|l| l.starts_with("counter keepalived_advertisements_sent_total "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(sent >= 1.0, "{text}");
    let r = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "http://127.0.0.1:19650/",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&r.stdout), "404");
}

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The parsed page of `http://127.0.0.1:PORT/metrics` on this host (see [`scrape`]); `None` also while nothing
/// serves it yet.
fn scrape_here(port: u16) -> Option<String> {
    let out = scrape(None, port)?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `-C` alone serves the checkers' metrics at `fulcrum_metrics_listen`: per real server its verdict, weight and
/// transitions, per checker its counts and last duration, then the table's `node_ipvs_*` families (file plane:
/// no root needed). One real server answers, the other's port is closed.
#[test]
fn checkers_only_serve_their_metrics() {
    let dir = std::env::temp_dir().join(format!("fulcrum-kcli-{}-chkmet", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up_port = up.local_addr().unwrap().port();
    let down_port = closed_port();
    let metrics_port = closed_port();
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            "global_defs {{\n    fulcrum_metrics_listen 127.0.0.1:{metrics_port}\n}}\n\
             virtual_server 198.18.0.1 80 {{\n    delay_loop 1\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n\
             \x20   real_server 127.0.0.1 {up_port} {{\n        weight 3\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n\
             \x20   real_server 127.0.0.1 {down_port} {{\n        weight 2\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 0\n        }}\n    }}\n}}\n"
        ),
    )
    .unwrap();
    let state = dir.join("table.json");
    let child = Command::new(env!("CARGO_BIN_EXE_fulcrum"))
        .args(["keepalived", "-n", "-l", "-C", "-f"])
        .arg(&conf)
        .env("FULCRUM_LVS_STATE", &state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child, std::path::PathBuf);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let _child = Kill(child, dir.clone());
    let vs = "virtual_server=[198.18.0.1]:tcp:80";
    let rs_up = format!("real_server=[127.0.0.1]:{up_port}");
    let rs_down = format!("real_server=[127.0.0.1]:{down_port}");
    let down_line = format!("gauge fulcrum_checker_real_server_up {rs_down},{vs} 0.0");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let text = loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        match scrape_here(metrics_port) {
            Some(t)
                if t.lines().any(|l| l == down_line)
                    && t.contains("node_ipvs_connections_total") =>
            {
                break t
            }
            Some(_) | None if std::time::Instant::now() < end => {}
            Some(t) => panic!("the closed port's server never went down on the page:\n{t}"),
            None => {
                if std::env::var_os("FULCRUM_REQUIRE_NETNS").is_none()
                    && scrape_here_parser_missing()
                {
                    return;
                }
                panic!("no metrics page at 127.0.0.1:{metrics_port}");
            }
        }
    };
    let checker_up = format!("checker=TCP_CHECK,index=0,{rs_up},target=[127.0.0.1]:{up_port},{vs}");
    let checker_down =
        format!("checker=TCP_CHECK,index=0,{rs_down},target=[127.0.0.1]:{down_port},{vs}");
    for line in [
        format!("gauge fulcrum_checker_real_server_up {rs_up},{vs} 1.0"),
        format!("gauge fulcrum_checker_real_server_weight {rs_up},{vs} 3.0"),
        format!("gauge fulcrum_checker_real_server_weight {rs_down},{vs} 2.0"),
        format!("counter fulcrum_checker_real_server_transitions_total {rs_down},{vs} 1.0"),
        format!("counter fulcrum_checker_real_server_transitions_total {rs_up},{vs} 0.0"),
        format!("gauge fulcrum_checker_up {checker_up} 1.0"),
        format!("gauge fulcrum_checker_up {checker_down} 0.0"),
        format!("gauge fulcrum_checker_virtual_server_quorum_up {vs} 1.0"),
        format!("gauge fulcrum_checker_virtual_server_live_weight {vs} 3.0"),
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in:\n{text}");
    }
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in:\n{text}"))
    };
    // Labels come sorted from the parser: `result` sits between `real_server` and `target`.
    let counts = |rs: &str, port: u16, result: &str| {
        format!(
            "counter fulcrum_checker_checks_total checker=TCP_CHECK,index=0,{rs},result={result},\
             target=[127.0.0.1]:{port},{vs} "
        )
    };
    assert!(value(&counts(&rs_down, down_port, "failed")) >= 1.0);
    assert_eq!(value(&counts(&rs_down, down_port, "passed")), 0.0);
    assert!(value(&counts(&rs_up, up_port, "passed")) >= 1.0);
    let took = value(&format!(
        "gauge fulcrum_checker_last_check_duration_seconds {checker_up} "
    ));
    assert!(took > 0.0 && took < 1.0, "{took}");
    // The table's families follow, with the up server in the service (the down one was taken out).
    let service = "local_address=198.18.0.1,local_mark=,local_port=80,proto=TCP";
    assert!(
        text.lines().any(|l| l
            == format!("gauge node_ipvs_backend_weight {service},remote_address=127.0.0.1,remote_port={up_port} 3.0")),
        "{text}"
    );
    assert!(
        !text.contains(&format!("remote_port={down_port}")),
        "{text}"
    );
    drop(up);
}

/// Whether python's Prometheus parser is missing here.
fn scrape_here_parser_missing() -> bool {
    Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
}
