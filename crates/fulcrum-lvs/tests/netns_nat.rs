//! End-to-end tests of the nftables data plane in network namespaces: a client, a director and two real
//! servers on a bridge, real TCP and UDP traffic, listings read back from the kernel by fresh processes.
//!
//! Needs root, `ip`, `nft`, `conntrack` and `python3`. Without them the tests print a skip notice and
//! pass, unless `FULCRUM_REQUIRE_NETNS=1`, which turns the skip into a failure.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static COUNTER: AtomicU32 = AtomicU32::new(0);
const VIP: &str = "198.19.0.100";

const SERVER: &str = r#"
import socket, sys, threading
name = sys.argv[1].encode()
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", 5353))
    while True:
        d, a = u.recvfrom(100)
        u.sendto(name, a)
threading.Thread(target=udp, daemon=True).start()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen(256)
while True:
    c, _ = s.accept()
    try:
        c.sendall(name)
    finally:
        c.close()
"#;

const CLIENT: &str = r#"
import socket, sys, time
proto, host, port, n, tries = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
for i in range(n):
    for attempt in range(tries):
        try:
            if proto == "tcp":
                c = socket.create_connection((host, port), timeout=2 if tries > 1 else 0.5)
                data = b""
                while True:
                    d = c.recv(100)
                    if not d:
                        break
                    data += d
                c.close()
            else:
                c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                c.settimeout(1)
                c.sendto(b"hi", (host, port))
                data, _ = c.recvfrom(100)
                c.close()
            print(data.decode(), flush=True)
            break
        except OSError:
            time.sleep(0.1)
    else:
        print("FAIL", flush=True)
"#;

fn sh(args: &[&str]) -> Result<String, String> {
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

/// Namespaces and processes of one test; everything is removed on drop, even after a failure.
struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    children: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

impl Lab {
    fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    fn exec(&self, role: &str, args: &[&str]) -> Result<String, String> {
        let ns = self.ns(role);
        let mut v = vec!["ip", "netns", "exec", ns.as_str()];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Runs the ipvsadm binary on the director; returns (exit code, stdout, stderr).
    fn ipvsadm(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        use std::io::Write;
        let ns = self.ns("d");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns.as_str(),
                env!("CARGO_BIN_EXE_fulcrum-ipvsadm"),
            ])
            .args(args)
            .env_remove("FULCRUM_LVS_STATE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            return (-1, String::new(), "spawn failed".into());
        };
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(stdin.as_bytes());
        }
        match child.wait_with_output() {
            Ok(o) => (
                o.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            ),
            Err(e) => (-1, String::new(), e.to_string()),
        }
    }

    fn ok(&self, line: &str) -> String {
        let args: Vec<&str> = line.split_whitespace().collect();
        let (code, out, err) = self.ipvsadm(&args, "");
        assert_eq!((code, err.as_str()), (0, ""), "ipvsadm {line}");
        out
    }

    /// Makes `n` connections (tcp) or requests (udp) from the client; returns replies per server.
    fn traffic(&self, proto: &str, port: u16, n: usize) -> HashMap<String, usize> {
        self.traffic_tries(proto, port, n, 50)
    }

    /// Like [`Lab::traffic`] with `tries` attempts per connection.
    fn traffic_tries(
        &self,
        proto: &str,
        port: u16,
        n: usize,
        tries: u32,
    ) -> HashMap<String, usize> {
        let (port, n, tries) = (port.to_string(), n.to_string(), tries.to_string());
        let out = self
            .exec(
                "c",
                &["python3", "-c", CLIENT, proto, VIP, &port, &n, &tries],
            )
            .unwrap_or_else(|e| panic!("client: {e}"));
        let mut m = HashMap::new();
        for l in out.lines() {
            *m.entry(l.to_string()).or_insert(0) += 1;
        }
        m
    }
}

fn skip(why: &str) -> Option<Lab> {
    if std::env::var("FULCRUM_REQUIRE_NETNS").as_deref() == Ok("1") {
        panic!("network namespace test cannot run: {why}");
    }
    eprintln!("skipping network namespace test: {why}");
    None
}

fn setup() -> Option<Lab> {
    if nix_uid() != 0 {
        return skip("not root");
    }
    for tool in [
        ["nft", "--version"],
        ["conntrack", "--version"],
        ["python3", "--version"],
    ] {
        if sh(&tool).is_err() {
            return skip(&format!("{} missing", tool[0]));
        }
    }
    let prefix = format!(
        "fulcrum-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let mut lab = Lab {
        prefix,
        namespaces: Vec::new(),
        children: Vec::new(),
    };
    for role in ["c", "d", "r1", "r2"] {
        let ns = lab.ns(role);
        if let Err(e) = sh(&["ip", "netns", "add", &ns]) {
            return skip(&format!("ip netns add failed: {e}"));
        }
        lab.namespaces.push(ns);
    }
    let (c, d, r1, r2) = (lab.ns("c"), lab.ns("d"), lab.ns("r1"), lab.ns("r2"));
    let steps: Vec<Vec<String>> = vec![
        vec![
            "ip", "link", "add", "c0", "netns", &c, "type", "veth", "peer", "d0", "netns", &d,
        ],
        vec!["ip", "-n", &c, "addr", "add", "198.18.0.2/24", "dev", "c0"],
        vec!["ip", "-n", &c, "link", "set", "c0", "up"],
        vec!["ip", "-n", &c, "link", "set", "lo", "up"],
        vec![
            "ip",
            "-n",
            &c,
            "route",
            "add",
            "default",
            "via",
            "198.18.0.1",
        ],
        vec!["ip", "-n", &d, "addr", "add", "198.18.0.1/24", "dev", "d0"],
        vec!["ip", "-n", &d, "link", "set", "d0", "up"],
        vec!["ip", "-n", &d, "link", "set", "lo", "up"],
        vec!["ip", "-n", &d, "link", "add", "br0", "type", "bridge"],
        vec!["ip", "-n", &d, "addr", "add", "198.18.1.1/24", "dev", "br0"],
        vec!["ip", "-n", &d, "link", "set", "br0", "up"],
        vec![
            "ip",
            "netns",
            "exec",
            &d,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect();
    let mut all = steps;
    for (i, (role, ns)) in [("r1", &r1), ("r2", &r2)].into_iter().enumerate() {
        let port = format!("p{i}");
        let addr = format!("198.18.1.{}/24", i + 2);
        for v in [
            vec![
                "ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", &port, "netns",
                &d,
            ],
            vec!["ip", "-n", &d, "link", "set", &port, "master", "br0"],
            vec!["ip", "-n", &d, "link", "set", &port, "up"],
            vec!["ip", "-n", ns, "addr", "add", &addr, "dev", "eth0"],
            vec!["ip", "-n", ns, "link", "set", "eth0", "up"],
            vec!["ip", "-n", ns, "link", "set", "lo", "up"],
            vec![
                "ip",
                "-n",
                ns,
                "route",
                "add",
                "default",
                "via",
                "198.18.1.1",
            ],
        ] {
            all.push(v.into_iter().map(String::from).collect());
        }
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", SERVER, role])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(c) => lab.children.push(c),
            Err(e) => panic!("cannot start server: {e}"),
        }
    }
    for v in all {
        let args: Vec<&str> = v.iter().map(String::as_str).collect();
        if let Err(e) = sh(&args) {
            panic!("setup: {e}");
        }
    }
    // Wait for both servers to listen.
    for role in ["r1", "r2"] {
        let mut up = false;
        for _ in 0..100 {
            if lab
                .exec(role, &["ss", "-ltn"])
                .is_ok_and(|o| o.contains(":8080"))
            {
                up = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(up, "server {role} did not start");
    }
    Some(lab)
}

fn nix_uid() -> u32 {
    sh(&["id", "-u"])
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u32::MAX)
}

fn counts(m: &HashMap<String, usize>) -> (usize, usize) {
    (
        m.get("r1").copied().unwrap_or(0),
        m.get("r2").copied().unwrap_or(0),
    )
}

#[test]
fn nat_schedulers_quiescing_and_listings() {
    let Some(lab) = setup() else { return };
    let t0 = std::time::Instant::now();
    lab.ok(&format!("-A -t {VIP}:80 -s rr"));
    lab.ok(&format!("-a -t {VIP}:80 -r 198.18.1.2:8080 -m"));
    lab.ok(&format!("-a -t {VIP}:80 -r 198.18.1.3:8080 -m"));
    assert_eq!(counts(&lab.traffic("tcp", 80, 20)), (10, 10), "rr");

    // wrr 3:1 -> 30/10 of 40 connections.
    lab.ok(&format!("-E -t {VIP}:80 -s wrr"));
    lab.ok(&format!("-e -t {VIP}:80 -r 198.18.1.2:8080 -m -w 3"));
    assert_eq!(counts(&lab.traffic("tcp", 80, 40)), (30, 10), "wrr");

    // Weight 0 quiesces: no new connections.
    lab.ok(&format!("-e -t {VIP}:80 -r 198.18.1.2:8080 -m -w 0"));
    assert_eq!(counts(&lab.traffic("tcp", 80, 10)), (0, 10), "quiesced");

    // sh: one client always reaches the same server.
    lab.ok(&format!("-e -t {VIP}:80 -r 198.18.1.2:8080 -m -w 1"));
    lab.ok(&format!("-E -t {VIP}:80 -s sh"));
    let (a, b) = counts(&lab.traffic("tcp", 80, 20));
    assert!((a, b) == (20, 0) || (a, b) == (0, 20), "sh sticky: {a}/{b}");

    // mh: sticky as well.
    lab.ok(&format!("-E -t {VIP}:80 -s mh"));
    let (a, b) = counts(&lab.traffic("tcp", 80, 10));
    assert!((a, b) == (10, 0) || (a, b) == (0, 10), "mh sticky: {a}/{b}");

    // Persistence: a client sticks to its first server even under rr.
    lab.ok(&format!("-E -t {VIP}:80 -s rr -p 60"));
    let (a, b) = counts(&lab.traffic("tcp", 80, 10));
    assert!(
        (a, b) == (10, 0) || (a, b) == (0, 10),
        "persistent: {a}/{b}"
    );
    let pc = lab.ok(&format!("-L -n --persistent-conn -t {VIP}:80"));
    assert!(pc.contains(" 1           "), "one persistence entry:\n{pc}");

    // UDP with port mapping 53 -> 5353.
    lab.ok(&format!("-A -u {VIP}:53 -s rr"));
    lab.ok(&format!("-a -u {VIP}:53 -r 198.18.1.2:5353 -m"));
    lab.ok(&format!("-a -u {VIP}:53 -r 198.18.1.3:5353 -m"));
    assert_eq!(counts(&lab.traffic("udp", 53, 10)), (5, 5), "udp rr");

    // Listings read back from the kernel by fresh processes.
    let list = lab.ok("-L -n");
    assert!(
        list.starts_with("IP Virtual Server version 1.2.1 (size=4096)\n"),
        "{list}"
    );
    assert!(
        list.contains(&format!("TCP  {VIP}:80 rr persistent 60\n")),
        "{list}"
    );
    assert!(list.contains(&format!("UDP  {VIP}:53 rr\n")), "{list}");
    let tcp_line = list
        .lines()
        .find(|l| l.contains("198.18.1.3:8080"))
        .unwrap_or_default()
        .to_string();
    let inact: u32 = tcp_line
        .split_whitespace()
        .last()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        inact > 0,
        "closed TCP connections count as inactive: {tcp_line}"
    );
    let stats = lab.ok("-L -n --stats");
    let svc = stats
        .lines()
        .find(|l| l.starts_with(&format!("TCP  {VIP}:80")))
        .unwrap_or_default()
        .to_string();
    let conns: u64 = svc
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert_eq!(
        conns,
        20 + 40 + 10 + 20 + 10 + 10,
        "service Conns counter: {stats}"
    );
    let inpkts: u64 = svc
        .split_whitespace()
        .nth(3)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(inpkts >= conns * 3, "{stats}");
    assert!(lab.ok("-L -n --rate").contains("  -> RemoteAddress:Port\n"));
    let conn = lab.ok("-L -n -c");
    assert!(conn.starts_with("IPVS connection entries\npro expire state       source             virtual            destination\n"), "{conn}");
    assert!(
        conn.contains("198.18.0.2:") && conn.contains(&format!("{VIP}:80 ")),
        "{conn}"
    );
    assert!(
        conn.lines()
            .any(|l| l.starts_with("UDP ") && l.contains(":5353")),
        "{conn}"
    );
    assert_eq!(
        lab.ok("-L --timeout"),
        "Timeout (tcp tcpfin udp): 900 120 300\n"
    );

    // Zero the counters.
    lab.ok("-Z");
    let stats = lab.ok("-L -n --stats");
    let zeroed = stats.lines().skip(3).all(|l| {
        l.split_whitespace()
            .skip(1)
            .all(|v| v == "0" || v == "->" || v.contains(':'))
    });
    assert!(zeroed, "{stats}");

    // Save, clear, restore: the same table, and traffic flows again.
    let saved = lab.ok("-S -n");
    lab.ok("-C");
    assert_eq!(lab.ok("-S -n"), "");
    assert_eq!(
        lab.traffic_tries("tcp", 80, 1, 1).get("FAIL").copied(),
        Some(1),
        "cleared table forwards nothing"
    );
    let (code, _, err) = lab.ipvsadm(&["-R"], &saved);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(lab.ok("-S -n"), saved);
    let (a, b) = counts(&lab.traffic("tcp", 80, 4));
    assert_eq!(a + b, 4);
    eprintln!("netns NAT test took {:?}", t0.elapsed());
}
