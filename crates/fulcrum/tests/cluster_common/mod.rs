//! A two-director keepalived + LVS cluster in network namespaces, for the cluster tests.
//!
//! Namespaces (named `fulcrum-<pid>-<n>-<role>`, n from 100 so they never meet the other labs' names):
//! a client `c`, two directors `d1` and `d2`, two real servers `r1` and `r2`, a sorry server `s`, and `sw`
//! holding two bridges joined to the others by veth pairs: `brf` (front: c, d1, d2) and `brb` (back: d1,
//! d2, r1, r2, s).
//!
//! | role | device(s)         | address(es)                    | route                      |
//! |------|-------------------|--------------------------------|----------------------------|
//! | c    | eth0 (front)      | 198.18.0.2/24                  | default via the VIP        |
//! | d1   | front, back       | 198.18.0.11/24, 198.18.1.11/24 | ip_forward=1               |
//! | d2   | front, back       | 198.18.0.12/24, 198.18.1.12/24 | ip_forward=1               |
//! | r1   | eth0 (back)       | 198.18.1.2/24                  | default via 198.18.1.254   |
//! | r2   | eth0 (back)       | 198.18.1.3/24                  | default via 198.18.1.254   |
//! | s    | eth0 (back)       | 198.18.1.9/24                  | default via 198.18.1.254   |
//!
//! The client-side VIP is 198.18.0.100 and the real servers' gateway VIP 198.18.1.254; VRRP moves them.
//! HTTP servers (python3) answer `GET /` on port 8080 with their name.
//!
//! Needs root, `ip`, `nft`, `ss` and `python3`; without them a test prints a skip notice and passes, unless
//! `FULCRUM_REQUIRE_NETNS=1`. Every process is killed by PID and every namespace deleted in Drop guards.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests of one binary that measure times run one at a time (2 cores, VRRP timers).
pub static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(100);

pub const VIP: &str = "198.18.0.100";
pub const GW_VIP: &str = "198.18.1.254";
pub const R1: &str = "198.18.1.2";
pub const R2: &str = "198.18.1.3";
pub const SORRY: &str = "198.18.1.9";

/// An HTTP server answering `GET /` with its name (argv[1]) on port 8080 of every address.
const HTTP_SERVER: &str = r#"
import sys, http.server
name = sys.argv[1].encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(name)))
        self.end_headers()
        self.wfile.write(name)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer.allow_reuse_address = True
http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
"#;

/// `n` HTTP GETs, each on a new connection, `tries` attempts each with a connect/read timeout of
/// `timeout` seconds; prints the body of each reply (the server's name) or FAIL.
const HTTP_CLIENT: &str = r#"
import socket, sys, time
host, port, n, tries, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
def get():
    c = socket.create_connection((host, port), timeout=timeout)
    try:
        c.sendall(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
        data = b""
        while True:
            d = c.recv(4096)
            if not d:
                break
            data += d
    finally:
        c.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or head.split(b"\r\n")[0].split()[1] != b"200":
        raise OSError("bad reply")
    return body.decode()
for i in range(n):
    for attempt in range(tries):
        try:
            print(get(), flush=True)
            break
        except (OSError, IndexError):
            time.sleep(0.05)
    else:
        print("FAIL", flush=True)
"#;

/// An echo server on port 8080 of every address (a VIP on `lo` included): sends its name (argv[1]), then
/// echoes until the client closes.
const ECHO_SERVER: &str = r#"
import socket, sys, threading
name = sys.argv[1].encode()
def echo(c):
    try:
        c.sendall(name)
        while True:
            d = c.recv(100)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen(1024)
while True:
    c, _ = s.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
"#;

/// Opens n connections and keeps them, printing `PORT NAME` for each; then on every line read from stdin
/// sends one byte on each and waits (at most the given seconds in all) for it to come back; prints
/// `OK` followed by the ports that failed (reset, closed, or no echo in time).
const HOLDER: &str = r#"
import select, socket, sys, time
host, port, n, wait = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
conns = []
for i in range(n):
    c = socket.create_connection((host, port), timeout=3)
    conns.append(c)
    print(c.getsockname()[1], c.recv(100).decode(), flush=True)
for line in sys.stdin:
    pending = {}
    for c in conns:
        try:
            c.sendall(b"x")
            pending[c] = c.getsockname()[1]
        except OSError:
            pass
    failed = [c.getsockname()[1] for c in conns if c not in pending]
    end = time.time() + wait
    while pending and time.time() < end:
        ready, _, _ = select.select(list(pending), [], [], max(0.0, end - time.time()))
        for c in ready:
            try:
                d = c.recv(100)
            except OSError:
                d = b""
            if d != b"x":
                failed.append(pending[c])
            del pending[c]
    failed.extend(pending.values())
    print("OK", *failed, flush=True)
"#;

pub fn sh(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// PIDs of the processes living in namespace `ns`.
pub fn pids_in(ns: &str) -> Vec<i32> {
    sh(&["ip", "netns", "pids", ns])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Sends `sig` to `pid`.
fn signal_pid(pid: u32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// A long-running process started in a namespace (`ip netns exec` execs it, so the PID is the process's
/// own); killed by PID when dropped.
pub struct Proc {
    child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `fulcrum keepalived -n -l -f CONF` in a namespace; killed by PID when dropped; its stderr log is kept.
pub struct Keepalived {
    child: Child,
    pub ns: String,
    log: PathBuf,
}

impl Keepalived {
    pub fn start(ns: &str, conf: &Path, log: PathBuf) -> Keepalived {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(env!("CARGO_BIN_EXE_fulcrum"))
            .args(["keepalived", "-n", "-l", "-f"])
            .arg(conf)
            .env_remove("FULCRUM_LVS_STATE")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start fulcrum keepalived in {ns}: {e}"));
        Keepalived {
            child,
            ns: ns.to_string(),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log so far, without terminal colour codes.
    pub fn log(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Sends `sig` by PID.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        signal_pid(self.pid(), sig);
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM by PID, then the exit code (bounded wait; None when it did not exit in 10 s).
    pub fn terminate(&mut self) -> Option<i32> {
        signal_pid(self.pid(), nix::sys::signal::Signal::SIGTERM);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs `fulcrum ipvsadm ARGS` in namespace `ns` (the nftables data plane); returns stdout, or panics
/// with its stderr when it fails.
pub fn ipvsadm_in(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            env!("CARGO_BIN_EXE_fulcrum"),
            "ipvsadm",
        ])
        .args(args)
        .env_remove("FULCRUM_LVS_STATE")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("fulcrum ipvsadm in {ns}: {e}"));
    assert!(
        out.status.success(),
        "fulcrum ipvsadm {args:?} in {ns}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Like [`ipvsadm_in`], for failure messages: stdout and stderr, never a panic.
pub fn ipvsadm_text(ns: &str, args: &[&str]) -> String {
    match Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            env!("CARGO_BIN_EXE_fulcrum"),
            "ipvsadm",
        ])
        .args(args)
        .env_remove("FULCRUM_LVS_STATE")
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => format!("fulcrum ipvsadm in {ns}: {e}"),
    }
}

/// The service lines (`TCP  ...`, `UDP  ...`, `FWM  ...`) of a `-L -n` listing.
pub fn services(listing: &str) -> Vec<&str> {
    listing
        .lines()
        .filter(|l| l.starts_with("TCP ") || l.starts_with("UDP ") || l.starts_with("FWM "))
        .collect()
}

/// The real servers (`IP:PORT`) listed under the service whose line starts with `service` (e.g.
/// `"TCP  198.18.0.100:80 "`), or None when the service is not listed.
pub fn members(listing: &str, service: &str) -> Option<Vec<String>> {
    let mut lines = listing.lines().skip_while(|l| !l.starts_with(service));
    lines.next()?;
    Some(
        lines
            .take_while(|l| l.starts_with("  -> "))
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
            .collect(),
    )
}

/// Waits (bounded, polling every 50 ms) until `f` holds; returns how long it took, or None.
pub fn until(within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    loop {
        if f() {
            return Some(t0.elapsed());
        }
        if t0.elapsed() >= within {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The namespaces and processes of one cluster; everything goes on drop, also after a failure.
pub struct Cluster {
    pub prefix: String,
    pub dir: PathBuf,
    namespaces: Vec<String>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Whatever still lives in our namespaces (servers, keepalived, its scripts) is killed by PID.
        for ns in &self.namespaces {
            for p in pids_in(ns) {
                signal_pid(p as u32, nix::sys::signal::Signal::SIGKILL);
            }
        }
        // The directors' tables are cleared, which detaches their XDP programs and removes the pins (a
        // namespace deleted with them in place would leave them to the next store's sweep).
        for ns in self.namespaces.iter().filter(|n| {
            n.rsplit('-')
                .next()
                .is_some_and(|role| role.starts_with('d'))
        }) {
            let _ = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    ns,
                    env!("CARGO_BIN_EXE_fulcrum"),
                    "ipvsadm",
                    "-C",
                ])
                .env_remove("FULCRUM_LVS_STATE")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        if std::thread::panicking() {
            eprintln!("cluster files kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn skip(why: &str) -> Option<Cluster> {
    if std::env::var("FULCRUM_REQUIRE_NETNS").as_deref() == Ok("1") {
        panic!("network namespace test cannot run: {why}");
    }
    eprintln!("skipping network namespace test: {why}");
    None
}

/// Root, and the tools the cluster uses (None with a notice when something is missing; a panic when
/// `FULCRUM_REQUIRE_NETNS=1`).
pub fn prerequisites() -> Option<()> {
    if !nix::unistd::getuid().is_root() {
        skip("not root")?;
    }
    for tool in [
        ["ip", "-V"],
        ["nft", "--version"],
        ["ss", "--version"],
        ["python3", "--version"],
    ] {
        if sh(&tool).is_err() {
            skip(&format!("{} missing", tool[0]))?;
        }
    }
    Some(())
}

/// An empty lab: the namespaces of `roles` (with `lo` up), each named `<prefix>-<role>`, and a directory for
/// files, all removed when the returned guard drops.
// Both labs use it, and a test may load both.
#[allow(clippy::duplicate_mod)]
#[path = "../bpffs_common/mod.rs"]
mod bpffs_common;

/// The namespaces of `roles`, their directors on fulcrum's default L4 plane (XDP in front of nftables, pinned
/// under the bpf file system this mounts when it is not yet).
pub fn namespaces(roles: &[&str]) -> Option<Cluster> {
    prerequisites()?;
    if let Err(e) = bpffs_common::mount() {
        return skip(&format!(
            "cannot mount a bpf file system at {}: {e}",
            bpffs_common::BPFFS
        ));
    }
    let prefix = format!(
        "fulcrum-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let dir = std::env::temp_dir().join(format!("{prefix}-cluster"));
    std::fs::create_dir_all(&dir).unwrap();
    // The guard exists before anything is created, so a failing setup is cleaned up too.
    let mut cl = Cluster {
        prefix,
        dir,
        namespaces: Vec::new(),
    };
    for role in roles {
        let ns = cl.ns(role);
        if let Err(e) = sh(&["ip", "netns", "add", &ns]) {
            return skip(&format!("ip netns add failed: {e}"));
        }
        cl.namespaces.push(ns);
        cl.ip(role, "link set lo up");
    }
    Some(cl)
}

/// Whether `args` (a tool's version command) runs; when not, a skip notice naming `package` (None), or a panic
/// under `FULCRUM_REQUIRE_NETNS=1`.
pub fn tool(args: &[&str], package: &str) -> Option<()> {
    if sh(args).is_err() {
        skip(&format!("{} (package {package}) is missing", args[0]))?;
    }
    Some(())
}

/// Builds the cluster described in the module documentation, with the HTTP servers not yet started.
pub fn setup() -> Option<Cluster> {
    let cl = namespaces(&["sw", "c", "d1", "d2", "r1", "r2", "s"])?;
    cl.ip("sw", "link add brf type bridge mcast_snooping 0");
    cl.ip("sw", "link add brb type bridge mcast_snooping 0");
    cl.ip("sw", "link set brf up");
    cl.ip("sw", "link set brb up");
    // (role, device there, bridge, switch port, address)
    let legs = [
        ("c", "eth0", "brf", "cf", "198.18.0.2/24"),
        ("d1", "front", "brf", "d1f", "198.18.0.11/24"),
        ("d2", "front", "brf", "d2f", "198.18.0.12/24"),
        ("d1", "back", "brb", "d1b", "198.18.1.11/24"),
        ("d2", "back", "brb", "d2b", "198.18.1.12/24"),
        ("r1", "eth0", "brb", "r1b", "198.18.1.2/24"),
        ("r2", "eth0", "brb", "r2b", "198.18.1.3/24"),
        ("s", "eth0", "brb", "sb", "198.18.1.9/24"),
    ];
    for (role, dev, br, port, addr) in legs {
        cl.leg(role, dev, br, port, addr);
    }
    cl.ip("c", &format!("route add default via {VIP}"));
    for role in ["r1", "r2", "s"] {
        cl.ip(role, &format!("route add default via {GW_VIP}"));
    }
    for role in ["d1", "d2"] {
        cl.exec(role, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])
            .unwrap_or_else(|e| panic!("{e}"));
    }
    Some(cl)
}

impl Cluster {
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    /// `ip -n NS ARGS` (split on spaces); panics on failure.
    pub fn ip(&self, role: &str, args: &str) {
        let ns = self.ns(role);
        let mut v = vec!["ip", "-n", ns.as_str()];
        v.extend(args.split_whitespace());
        sh(&v).unwrap_or_else(|e| panic!("{role}: {e}"));
    }

    /// Joins `role` to bridge `br` of namespace `sw` (which must exist): a veth pair with `dev` in `role`
    /// holding `addr` (with its prefix length) and `port` in `sw`; both ends up.
    pub fn leg(&self, role: &str, dev: &str, br: &str, port: &str, addr: &str) {
        let (ns, sw) = (self.ns(role), self.ns("sw"));
        sh(&[
            "ip", "link", "add", dev, "netns", &ns, "type", "veth", "peer", port, "netns", &sw,
        ])
        .unwrap_or_else(|e| panic!("setup: {e}"));
        self.ip("sw", &format!("link set {port} master {br}"));
        self.ip("sw", &format!("link set {port} up"));
        self.ip(role, &format!("addr add {addr} dev {dev}"));
        self.ip(role, &format!("link set {dev} up"));
    }

    /// Runs `args` in `role`'s namespace.
    pub fn exec(&self, role: &str, args: &[&str]) -> Result<String, String> {
        let ns = self.ns(role);
        let mut v = vec!["ip", "netns", "exec", ns.as_str()];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Spawns a long-running process in `role`'s namespace, killed by PID when the guard drops.
    pub fn spawn(&self, role: &str, args: &[&str]) -> Proc {
        let ns = self.ns(role);
        let child = Command::new("ip")
            .args(["netns", "exec", ns.as_str()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn in {role}: {e}"));
        Proc { child }
    }

    /// Starts the HTTP server answering `name` on port 8080 in `role` and waits (bounded) for it to listen.
    pub fn http_server(&self, role: &str, name: &str) -> Proc {
        let p = self.spawn(role, &["python3", "-c", HTTP_SERVER, name]);
        let ok = until(Duration::from_secs(5), || {
            self.exec(role, &["ss", "-Hltn", "sport = :8080"])
                .is_ok_and(|o| o.contains(":8080"))
        });
        assert!(ok.is_some(), "the HTTP server in {role} never listened");
        p
    }

    /// Starts the echo server answering `name` on port 8080 in `role` and waits (bounded) for it to listen.
    pub fn echo_server(&self, role: &str, name: &str) -> Proc {
        let p = self.spawn(role, &["python3", "-c", ECHO_SERVER, name]);
        let ok = until(Duration::from_secs(5), || {
            self.exec(role, &["ss", "-Hltn", "sport = :8080"])
                .is_ok_and(|o| o.contains(":8080"))
        });
        assert!(ok.is_some(), "the echo server in {role} never listened");
        p
    }

    /// Starts `fulcrum keepalived` in `role` with `conf` (written to the cluster's directory).
    pub fn keepalived(&self, role: &str, conf: &str) -> Keepalived {
        let path = self.dir.join(format!("{role}.conf"));
        std::fs::write(&path, conf).unwrap();
        Keepalived::start(&self.ns(role), &path, self.dir.join(format!("{role}.log")))
    }

    /// `fulcrum ipvsadm -L -n` on a director.
    pub fn listing(&self, role: &str) -> String {
        ipvsadm_in(&self.ns(role), &["-L", "-n"])
    }

    /// Whether `role` holds address `addr` on any device.
    pub fn holds(&self, role: &str, addr: &str) -> bool {
        self.exec(role, &["ip", "-o", "addr", "show"])
            .map(|s| {
                s.split_whitespace()
                    .any(|w| w.split('/').next() == Some(addr))
            })
            .unwrap_or(false)
    }

    /// `n` HTTP GETs from the client to `host:port`, each on a new connection; replies counted by body
    /// (server name, or FAIL).
    pub fn requests(&self, host: &str, port: u16, n: usize) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for l in self.client(host, port, n, 20, 1.0).lines() {
            *m.entry(l.to_string()).or_insert(0) += 1;
        }
        m
    }

    /// Runs the HTTP client in `c` (see `HTTP_CLIENT`); returns its output.
    pub fn client(&self, host: &str, port: u16, n: usize, tries: u32, timeout: f64) -> String {
        let (port, n, tries, timeout) = (
            port.to_string(),
            n.to_string(),
            tries.to_string(),
            timeout.to_string(),
        );
        self.exec(
            "c",
            &[
                "python3",
                "-c",
                HTTP_CLIENT,
                host,
                &port,
                &n,
                &tries,
                &timeout,
            ],
        )
        .unwrap_or_else(|e| panic!("client: {e}"))
    }
}

/// Long-lived connections from the client (see `HOLDER`).
pub struct Holder {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Real server of each connection, by client port.
    pub names: BTreeMap<u16, String>,
}

impl Holder {
    /// Opens `n` connections from the client `c` to `host:port` (the echo server's), each ping waiting at
    /// most 4 s in all for the echoes.
    pub fn open(cl: &Cluster, host: &str, port: u16, n: usize) -> Holder {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &cl.ns("c"), "python3", "-c", HOLDER, host])
            .args([port.to_string(), n.to_string(), "4".to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("holder: {e}"));
        let stdin = child.stdin.take().unwrap_or_else(|| panic!("stdin"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
        let mut h = Holder {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            names: BTreeMap::new(),
        };
        for _ in 0..n {
            let mut line = String::new();
            if h.stdout.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("the holder could not open its connections");
            }
            if let Some((p, name)) = line.trim().split_once(' ') {
                h.names.insert(p.parse().unwrap_or(0), name.to_string());
            }
        }
        h
    }

    /// Sends a byte on every connection; returns the client ports of those that did not echo it.
    pub fn ping(&mut self) -> Vec<u16> {
        let _ = writeln!(self.stdin, "ping");
        let _ = self.stdin.flush();
        let mut line = String::new();
        let _ = self.stdout.read_line(&mut line);
        assert!(line.starts_with("OK"), "the holder died: {line:?}");
        line.split_whitespace()
            .skip(1)
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
