//! `fulcrum demo --cluster`: the "HAProxy + keepalived" tutorial cluster in network namespaces. It runs the
//! walk-through to the end (both web servers serve, web1 is taken out, the VIP moves to lb2 within a measured
//! outage) and leaves nothing behind; without root it creates nothing and says it needs root; its files pass
//! `fulcrum proxy -c` and `fulcrum keepalived -t`; SIGINT in the middle cleans up too.
//!
//! The cluster tests need root and iproute2: they are skipped with a notice otherwise, unless
//! `FULCRUM_REQUIRE_NETNS=1`, which makes a missing requirement a failure.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fulcrum");

/// The cluster runs are serialised: two at once would compete for the 2 cores and blur the timings.
static SERIAL: Mutex<()> = Mutex::new(());

fn required() -> bool {
    std::env::var("FULCRUM_REQUIRE_NETNS").is_ok_and(|v| v == "1")
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

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

/// Whether network namespaces can be made here; prints why not, and panics when they are required.
fn netns_available(test: &str) -> bool {
    let why = if !is_root() {
        Some("not root".to_string())
    } else {
        let probe = format!("fulcrum-probe-dc{}", std::process::id());
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
        Some(w) if required() => panic!("{test}: FULCRUM_REQUIRE_NETNS=1 but {w}"),
        Some(w) => {
            eprintln!("skip {test}: {w} (set FULCRUM_REQUIRE_NETNS=1 to make this a failure)");
            false
        }
    }
}

/// The namespaces left by the demo of process `pid`.
fn namespaces_of(pid: u32) -> Vec<String> {
    let prefix = format!("fulcrum-demo-{pid}-");
    ip(&["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// The demo's directory of files and logs.
fn dir_of(pid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("fulcrum-demo-cluster.{pid}"))
}

/// Processes whose command line names the demo's directory (its proxies and keepalived processes).
fn processes_of(pid: u32) -> Vec<String> {
    let dir = dir_of(pid).display().to_string();
    let mut found = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(&dir) {
                found.push(format!("{}: {text}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// Asserts that the demo of process `pid` left no namespace, directory or process behind.
fn assert_nothing_left(pid: u32, output: &str) {
    let ns = namespaces_of(pid);
    assert!(ns.is_empty(), "namespaces left behind: {ns:?}\n{output}");
    let dir = dir_of(pid);
    assert!(!dir.exists(), "{} left behind\n{output}", dir.display());
    let procs = processes_of(pid);
    assert!(
        procs.is_empty(),
        "processes left behind: {procs:?}\n{output}"
    );
}

/// A running `fulcrum demo --cluster`, its output collected by threads. Dropped before it ended (a failed
/// assertion), it is interrupted and whatever it left is removed.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Demo {
    fn start() -> Demo {
        let mut child = Command::new(BIN)
            .args(["demo", "--cluster"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("demo| {line}");
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    stderr
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        Demo {
            child,
            lines: rx,
            stdout: Vec::new(),
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Collects output until a line contains `what` (true) or `within` passed (false).
    fn wait_for_line(&mut self, what: &str, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => {
                    let hit = l.contains(what);
                    self.stdout.push(l);
                    if hit {
                        return true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
        false
    }

    /// Waits for the exit (`within` at most), collecting the rest of the output.
    fn wait(&mut self, within: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + within;
        loop {
            while let Ok(l) = self.lines.try_recv() {
                self.stdout.push(l);
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                // The reader threads end with the pipes.
                let drain = Instant::now() + Duration::from_secs(2);
                while Instant::now() < drain {
                    match self.lines.recv_timeout(Duration::from_millis(100)) {
                        Ok(l) => self.stdout.push(l),
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
                return Some(st);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid()).unwrap());
        nix::sys::signal::kill(pid, sig).unwrap();
    }

    fn output(&self) -> String {
        format!(
            "---- stdout\n{}\n---- stderr\n{}",
            self.stdout.join("\n"),
            self.stderr.lock().unwrap()
        )
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal(nix::sys::signal::Signal::SIGINT);
            if self.wait(Duration::from_secs(15)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        let pid = self.pid();
        for ns in namespaces_of(pid) {
            let _ = ip(&["netns", "del", &ns]);
        }
    }
}

/// Runs headless Chromium with `args`; `None` (skip) when it is missing and peers are not required.
fn chromium(args: &[&str]) -> Option<Output> {
    let profile = std::env::temp_dir().join(format!("fulcrum-chromium-dc-{}", std::process::id()));
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .output();
    let _ = std::fs::remove_dir_all(&profile);
    match out {
        Ok(o) => Some(o),
        Err(e) => {
            assert!(
                !required(),
                "chromium is needed (scripts/install-deps.sh): {e}"
            );
            eprintln!("chromium missing: skipping the cluster page's browser check");
            None
        }
    }
}

/// The number following `label` in `text` (as in "outage seen by the client: 3.31 s").
fn number_after(text: &str, label: &str) -> Option<f64> {
    let rest = &text[text.find(label)? + label.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn cluster_walk_through_fails_over_and_leaves_nothing_behind() {
    if !netns_available("cluster_walk_through_fails_over_and_leaves_nothing_behind") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut demo = Demo::start();
    // Once the page says who is MASTER, a browser loads it (while the walk goes on).
    let shown = demo.wait_for_line("the cluster page shows:", Duration::from_secs(60));
    assert!(
        shown,
        "the cluster page never showed the elected master\n{}",
        demo.output()
    );
    let url = demo
        .stdout
        .iter()
        .find_map(|l| l.split("cluster page: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no cluster page URL printed\n{}", demo.output()));
    if let Some(dom) = chromium(&["--dump-dom", &url]) {
        let dom = String::from_utf8_lossy(&dom.stdout);
        for want in [
            "<div class=\"director\" id=\"lb1\">",
            "<div class=\"director\" id=\"lb2\">",
            "<td class=\"ok\">MASTER</td>",
            "<td class=\"mid\">BACKUP</td>",
            "<td>198.18.1.100</td>",
            "<th>why</th>",
            "<td>no advert for the master down interval</td>",
            // The backend's requests per second and latency over the last readings.
            "req/s, p50 ",
            "<th>http_back</th><td class=\"ok\">UP</td>",
            "<td>web1</td><td class=\"ok\">UP</td>",
        ] {
            assert!(
                dom.contains(want),
                "no {want} in the cluster page's DOM:\n{dom}"
            );
        }
    }
    let status = demo.wait(Duration::from_secs(90));
    let out = demo.output();
    let status = status.unwrap_or_else(|| panic!("the demo did not end within 90 s\n{out}"));
    assert!(status.success(), "exit status {status}\n{out}");
    let text = demo.stdout.join("\n");
    for want in [
        "served by web1 (through lb1)",
        "served by web2 (through lb1)",
        "lb1 holds the virtual IP 198.18.1.100",
        "lb2 is BACKUP",
        "http_back/web1 is DOWN",
        "all requests go to web2 since",
        "web1 serves again",
        "lb2 holds the virtual IP 198.18.1.100 now",
        "first answer through lb2",
        "walk-through done",
        "deleted 6 namespaces",
        // What the cluster page shows, read from the directors' metrics, at each step.
        "lb1: VI_1 MASTER holding 198.18.1.100 (why: no advert for the master down interval); \
         http_back UP (web1 UP, web2 UP)",
        "lb2: VI_1 BACKUP (why: started); http_back UP (web1 UP, web2 UP)",
        "lb1: VI_1 MASTER holding 198.18.1.100 (why: no advert for the master down interval); \
         http_back UP (web1 DOWN, web2 UP)",
        "lb1: VI_1 FAULT (why: interface eth0 down)",
        "lb2: VI_1 MASTER holding 198.18.1.100 (why: no advert for the master down interval)",
    ] {
        assert!(text.contains(want), "no '{want}' in the output\n{out}");
    }
    assert!(
        !text.contains("the cluster page does not show it yet"),
        "{out}"
    );
    let outage = number_after(&text, "outage seen by the client: ")
        .unwrap_or_else(|| panic!("no measured outage in the output\n{out}"));
    assert!(
        outage > 0.0 && outage < 6.0,
        "outage {outage} s (expected about 3.6 s: 3 adverts and a skew)\n{out}"
    );
    let removal = number_after(&text, "all requests go to web2 since ")
        .unwrap_or_else(|| panic!("no measured removal time in the output\n{out}"));
    // `check`: every 2 s, 3 failures take a server out.
    assert!(
        removal > 1.0 && removal < 10.0,
        "web1 taken out after {removal} s\n{out}"
    );
    assert_nothing_left(demo.pid(), &out);
}

#[test]
fn sigint_in_the_middle_cleans_up() {
    if !netns_available("sigint_in_the_middle_cleans_up") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut demo = Demo::start();
    // A few seconds in: the directors' processes run and lb1 is waiting to claim the VIP.
    let started = demo.wait_for_line("lb1: started `fulcrum keepalived", Duration::from_secs(30));
    assert!(
        started,
        "the demo did not start its keepalived\n{}",
        demo.output()
    );
    std::thread::sleep(Duration::from_secs(2));
    let pid = demo.pid();
    let running = namespaces_of(pid);
    assert_eq!(running.len(), 6, "namespaces while running: {running:?}");
    assert!(
        !processes_of(pid).is_empty(),
        "no proxy or keepalived process seen while running"
    );
    demo.signal(nix::sys::signal::Signal::SIGINT);
    let status = demo.wait(Duration::from_secs(15));
    let out = demo.output();
    let status =
        status.unwrap_or_else(|| panic!("the demo did not stop within 15 s of SIGINT\n{out}"));
    assert_eq!(status.code(), Some(130), "{out}");
    assert!(out.contains("stopped on SIGINT"), "{out}");
    assert_nothing_left(pid, &out);
}

#[test]
fn without_root_it_creates_nothing_and_says_it_needs_root() {
    let mut cmd;
    if is_root() {
        let setpriv = Command::new("setpriv").arg("--version").output();
        if !setpriv.is_ok_and(|o| o.status.success()) {
            eprintln!(
                "skip without_root_it_creates_nothing_and_says_it_needs_root: root, and no setpriv"
            );
            return;
        }
        // nobody must be able to run the binary where it is.
        let probe = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                BIN,
                "--version",
            ])
            .output();
        if !probe.is_ok_and(|o| o.status.success()) {
            eprintln!(
                "skip without_root_it_creates_nothing_and_says_it_needs_root: user 65534 cannot run {BIN}"
            );
            return;
        }
        cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
    } else {
        cmd = Command::new(BIN);
    }
    let child = cmd
        .args(["demo", "--cluster"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // setpriv executes the demo in its own process: the pid is the demo's.
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{}{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(!out.status.success(), "exit status {}\n{all}", out.status);
    assert!(
        stderr.contains("root"),
        "the message does not name root\n{all}"
    );
    assert!(
        stderr.contains("ip"),
        "the message does not name iproute2\n{all}"
    );
    assert!(
        stderr.contains("network namespaces"),
        "the message does not name network namespaces\n{all}"
    );
    assert!(stderr.contains("Nothing was created"), "{all}");
    assert_nothing_left(pid, &all);
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("fulcrum-dc-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A namespace with an `eth0` (one end of a veth pair), deleted on drop: where `keepalived -t` finds the
/// tutorial's interface whatever the host's interfaces are called.
struct EthNs(String);

impl EthNs {
    fn new() -> EthNs {
        let ns = EthNs(format!("fulcrum-dc-check-{}", std::process::id()));
        ip(&["netns", "add", &ns.0]).unwrap();
        ip(&[
            "-n", &ns.0, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
        ])
        .unwrap();
        for dev in ["eth0p", "eth0"] {
            ip(&["-n", &ns.0, "link", "set", dev, "up"]).unwrap();
        }
        ns
    }
}

impl Drop for EthNs {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.0]);
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn show(o: &Output) -> String {
    format!(
        "exit {}\n---- stdout\n{}---- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Splits `--print-config`'s output at its `==== ... ====` comment lines.
fn sections(printed: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in printed.split_inclusive('\n') {
        let t = line.trim_start_matches(['#', '!']).trim();
        if (line.starts_with("# ====") || line.starts_with("! ====")) && t.ends_with("====") {
            out.push(String::new());
        } else if let Some(s) = out.last_mut() {
            s.push_str(line);
        }
    }
    out
}

#[test]
fn cluster_files_pass_proxy_check_and_keepalived_test() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cluster");
    let haproxy = std::fs::read_to_string(examples.join("haproxy.cfg")).unwrap();
    let keepalived = std::fs::read_to_string(examples.join("keepalived.conf")).unwrap();
    for want in [
        "frontend http_front",
        "bind *:80",
        "default_backend http_back",
        "backend http_back",
        "balance round-robin",
        "server web1 198.18.1.2:80 check",
        "server web2 198.18.1.3:80 check",
    ] {
        assert!(
            haproxy.lines().any(|l| l.trim() == want),
            "haproxy.cfg has no '{want}'"
        );
    }
    for want in [
        "vrrp_script chk_haproxy {",
        "vrrp_instance VI_1 {",
        "state MASTER",
        "interface eth0",
        "virtual_router_id 51",
        "priority 101",
        "advert_int 1",
        "198.18.1.100",
        "chk_haproxy",
    ] {
        assert!(
            keepalived.lines().any(|l| l.trim() == want),
            "keepalived.conf has no '{want}'"
        );
    }

    // What the demo prints is what it runs: the tutorial's files with the metrics endpoints its cluster page reads
    // added (a `frontend metrics` at the end of haproxy.cfg, `fulcrum_metrics_listen` first in global_defs), and
    // lb2's derived by two substitutions.
    let printed = run(Command::new(BIN).args(["demo", "--cluster", "--print-config"]));
    assert!(printed.status.success(), "{}", show(&printed));
    let parts = sections(&String::from_utf8_lossy(&printed.stdout));
    assert_eq!(parts.len(), 3, "{}", show(&printed));
    let added = parts[0]
        .strip_prefix(haproxy.trim_end())
        .unwrap_or_else(|| panic!("haproxy.cfg is not printed first as it is:\n{}", parts[0]));
    let added: Vec<&str> = added
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        added,
        [
            "frontend metrics",
            "    bind 127.0.0.1:8405",
            "    http-request use-service prometheus-exporter if { path /metrics }"
        ]
    );
    let without_added = |text: &str| -> String {
        text.lines()
            .filter(|l| {
                !l.contains("fulcrum_metrics_listen")
                    && !l.contains("Added by `fulcrum demo --cluster`")
            })
            .map(|l| format!("{l}\n"))
            .collect()
    };
    assert!(
        parts[1].contains("    fulcrum_metrics_listen 127.0.0.1:9650\n"),
        "{}",
        parts[1]
    );
    assert_eq!(without_added(&parts[1]).trim_end(), keepalived.trim_end());
    let backup = keepalived
        .replace("    state MASTER\n", "    state BACKUP\n")
        .replace("    priority 101\n", "    priority 100\n");
    assert_eq!(without_added(&parts[2]).trim_end(), backup.trim_end());
    let differ: Vec<(&str, &str)> = parts[1]
        .lines()
        .zip(parts[2].lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        differ,
        [
            ("    state MASTER", "    state BACKUP"),
            ("    priority 101", "    priority 100")
        ]
    );

    let dir = Scratch::new("files");
    let hcfg = dir.write("haproxy.cfg", &parts[0]);
    let check = run(Command::new(BIN)
        .arg("proxy")
        .arg("-c")
        .arg("-f")
        .arg(&hcfg));
    assert!(check.status.success(), "fulcrum proxy -c: {}", show(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("Configuration file is valid"),
        "{}",
        show(&check)
    );
    // The tutorial's misspelling is run as roundrobin, with a warning naming the line.
    assert!(
        String::from_utf8_lossy(&check.stderr).contains("'round-robin'"),
        "{}",
        show(&check)
    );

    // keepalived -t looks for `interface eth0` on the machine: in a namespace that has one when possible.
    let ns = if netns_available(
        "cluster_files_pass_proxy_check_and_keepalived_test (keepalived -t in a namespace)",
    ) {
        Some(EthNs::new())
    } else if Path::new("/sys/class/net/eth0").exists() {
        None
    } else {
        eprintln!("skip keepalived -t: no namespace can be made and this machine has no eth0");
        return;
    };
    for (name, text) in [("lb1.conf", &parts[1]), ("lb2.conf", &parts[2])] {
        let conf = dir.write(name, text);
        let mut cmd = match &ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &ns.0, BIN]);
                c
            }
            None => Command::new(BIN),
        };
        let t = run(cmd.arg("keepalived").arg("-t").arg("-f").arg(&conf));
        assert_eq!(
            t.status.code(),
            Some(0),
            "fulcrum keepalived -t, {name}: {}",
            show(&t)
        );
    }
}
