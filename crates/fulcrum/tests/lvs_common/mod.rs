//! The network-namespace lab shared by the netns tests: a client, a director and two real servers on a
//! bridge behind the director, IPv4 (198.18.0.0/15) and IPv6 (fd00::/8), python3 servers and clients.
//!
//! Needs root, `ip`, `nft`, `conntrack` and `python3`. Without them the tests print a skip notice and
//! pass, unless `FULCRUM_REQUIRE_NETNS=1`, which turns the skip into a failure. Namespaces are named
//! `fulcrum-<pid>-<n>-<role>`; every namespace is deleted and every process killed by its PID when the
//! lab is dropped, even after a failure.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);
pub const VIP: &str = "198.19.0.100";
pub const VIP6: &str = "fd00:19::100";

/// Real servers: TCP 8080 sends the name and closes; TCP 8081 sends the name, then echoes until the
/// client closes; UDP 5353 answers the name. Dual stack.
const SERVER: &str = r#"
import socket, sys, threading
name = sys.argv[1].encode()
def udp():
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    u.bind(("::", 5353))
    while True:
        d, a = u.recvfrom(100)
        u.sendto(name, a)
def listener(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(256)
    return s
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
def hold():
    s = listener(8081)
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()
threading.Thread(target=udp, daemon=True).start()
threading.Thread(target=hold, daemon=True).start()
s = listener(8080)
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
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
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
                c = socket.socket(fam, socket.SOCK_DGRAM)
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

/// Stand-in for the kernel's `tunl0` on a real server (this test kernel has no `ipip`, `fou` or `ip_gre`
/// module): IP-in-IP packets in from a raw socket, GUE from a UDP socket on port 6080 (as `ip fou add port
/// 6080 gue` would take them) and GRE from a raw protocol-47 socket, the inner packets handed to the stack
/// through a TUN device named `tunl0`. IPv6 in IPv6 (next header 41) arrives without its outer header on a
/// raw IPv6 socket.
///
/// The kernel's own decapsulation keeps what the packet's buffer knows: a TCP or UDP checksum the client's veth
/// left for "hardware" to fill (Linux leaves it partial between namespaces) stays trusted. Bytes through a raw
/// socket and a TUN device lose that, so the stand-in fills an inner IPv4 packet's TCP/UDP checksum in, as the
/// hardware would have (an XDP program, which sees bytes, forwards the packet as the client's veth left it).
const DECAP: &str = r#"
import fcntl, os, select, socket, struct
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"tunl0", 0x0001 | 0x1000))
v4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
v6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 41)
gue = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
gue.bind(("0.0.0.0", 6080))
gre = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
def ungue(d):
    # GUE variant 0: hlen words of optional fields after 4 bytes; IP-in-IP inside
    if len(d) < 4 or d[0] >> 6 != 0 or d[0] & 0x20 or d[1] != 4:
        return None
    return d[4 + (d[0] & 31) * 4:]
def ungre(p):
    g = p[(p[0] & 15) * 4:]
    if len(g) < 4 or g[2:4] != b"\x08\x00" or g[1] & 7:
        return None
    n = 4 + 4 * sum(1 for bit in (0x80, 0x20, 0x10) if g[0] & bit)
    return g[n:]
def fold(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return t
def checksummed(ip):
    ihl = (ip[0] & 15) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    proto = ip[9]
    at = {6: 16, 17: 6}.get(proto)
    if at is None or ihl < 20 or total > len(ip) or total < ihl + at + 2:
        return ip
    l4 = bytearray(ip[ihl:total])
    if fold(ip[12:20] + bytes([0, proto]) + struct.pack("!H", len(l4)) + bytes(l4)) == 0xffff:
        return ip
    l4[at:at + 2] = b"\0\0"
    c = 0xffff - fold(ip[12:20] + bytes([0, proto]) + struct.pack("!H", len(l4)) + bytes(l4))
    l4[at:at + 2] = struct.pack("!H", c or 0xffff)
    return ip[:ihl] + bytes(l4) + ip[total:]
print("ready", flush=True)
while True:
    for s in select.select([v4, v6, gue, gre], [], [])[0]:
        pkt = s.recv(65535)
        if s is v4:
            inner = pkt[(pkt[0] & 15) * 4:]
        elif s is gue:
            inner = ungue(pkt)
        elif s is gre:
            inner = ungre(pkt)
        else:
            inner = pkt
        if inner:
            os.write(fd, checksummed(inner) if s is not v6 else inner)
"#;

/// Opens n connections to the echo port and keeps them; prints each server's name, then on every
/// "ping" line from stdin sends a byte on every connection and prints how many echoed it.
const HOLDER: &str = r#"
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conns = []
for i in range(n):
    c = socket.create_connection((host, port), timeout=3)
    conns.append(c)
    print(c.recv(100).decode(), flush=True)
for line in sys.stdin:
    ok = 0
    for c in conns:
        try:
            c.sendall(b"x")
            if c.recv(100) == b"x":
                ok += 1
        except OSError:
            pass
    print(ok, flush=True)
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

/// A long-running process in a namespace, killed by PID when dropped.
pub struct Proc {
    child: Child,
}

impl Proc {
    /// Sends SIGTERM by PID and waits (bounded) for the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Proc {
    /// Reads one line of the process's output (empty at its end).
    pub fn read_line(&mut self) -> String {
        use std::io::Read;
        let mut line = Vec::new();
        if let Some(out) = self.child.stdout.as_mut() {
            let mut b = [0u8; 1];
            while out.read(&mut b).unwrap_or(0) == 1 && b[0] != b'\n' {
                line.push(b[0]);
            }
        }
        String::from_utf8_lossy(&line).into_owned()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connections held open from the client (see `HOLDER`).
pub struct Holder {
    proc: Proc,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Server name of each connection.
    pub names: Vec<String>,
}

impl Holder {
    /// Sends a byte on every connection; returns how many echoed it.
    pub fn ping(&mut self) -> usize {
        let _ = writeln!(self.stdin, "ping");
        let _ = self.stdin.flush();
        let mut line = String::new();
        let _ = self.stdout.read_line(&mut line);
        line.trim().parse().unwrap_or(0)
    }

    /// The process id (for the record).
    pub fn pid(&self) -> u32 {
        self.proc.child.id()
    }
}

/// Namespaces and processes of one test; everything is removed on drop, even after a failure.
pub struct Lab {
    pub prefix: String,
    /// The L4 data plane the director's commands run on (`FULCRUM_L4_PLANE`): `xdp` (fulcrum's default) or
    /// `nftables`.
    pub plane: &'static str,
    namespaces: Vec<String>,
    children: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // An empty table detaches the XDP program and removes its pins (a namespace deleted with them in
        // place would leave them to the next store's sweep).
        if self.plane == "xdp" && self.namespaces.contains(&self.ns("d")) {
            let _ = self.ipvsadm(&["-C"], "");
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

impl Lab {
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    pub fn exec(&self, role: &str, args: &[&str]) -> Result<String, String> {
        let ns = self.ns(role);
        let mut v = vec!["ip", "netns", "exec", ns.as_str()];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Runs each line (split on spaces) with `ip netns exec` in `role`; panics on failure.
    pub fn run_all(&self, role: &str, lines: &[&str]) {
        for l in lines {
            let args: Vec<&str> = l.split_whitespace().collect();
            if let Err(e) = self.exec(role, &args) {
                panic!("{role}: {e}");
            }
        }
    }

    /// Spawns a long-running process in `role`'s namespace, killed when the returned guard drops.
    pub fn spawn(&self, role: &str, args: &[&str]) -> Proc {
        let ns = self.ns(role);
        let child = Command::new("ip")
            .args(["netns", "exec", ns.as_str()])
            .args(args)
            .env("FULCRUM_L4_PLANE", self.plane)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn in {role}: {e}"));
        Proc { child }
    }

    /// Opens `n` connections from the client to `host:port` and keeps them open.
    pub fn hold(&self, host: &str, port: u16, n: usize) -> Holder {
        let (port, n_s) = (port.to_string(), n.to_string());
        let mut proc = self.spawn("c", &["python3", "-c", HOLDER, host, &port, &n_s]);
        let stdin = proc.child.stdin.take().unwrap_or_else(|| panic!("stdin"));
        let stdout = proc.child.stdout.take().unwrap_or_else(|| panic!("stdout"));
        let mut h = Holder {
            proc,
            stdin,
            stdout: BufReader::new(stdout),
            names: Vec::new(),
        };
        for _ in 0..n {
            let mut line = String::new();
            if h.stdout.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("holder could not open its connections");
            }
            h.names.push(line.trim().to_string());
        }
        h
    }

    /// Runs the ipvsadm binary on the director; returns (exit code, stdout, stderr).
    pub fn ipvsadm(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        self.ipvsadm_env(&[], args, stdin)
    }

    /// [`Lab::ipvsadm`] with `env` added to its environment.
    pub fn ipvsadm_env(
        &self,
        env: &[(&str, &str)],
        args: &[&str],
        stdin: &str,
    ) -> (i32, String, String) {
        let ns = self.ns("d");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns.as_str(),
                env!("CARGO_BIN_EXE_fulcrum"),
                "ipvsadm",
            ])
            .args(args)
            .env_remove("FULCRUM_LVS_STATE")
            .env("FULCRUM_L4_PLANE", self.plane)
            .envs(env.iter().copied())
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

    /// Starts `ipvsadm --controller` on the director (killed by PID on drop).
    pub fn controller(&self) -> Proc {
        self.spawn(
            "d",
            &[env!("CARGO_BIN_EXE_fulcrum"), "ipvsadm", "--controller"],
        )
    }

    pub fn ok(&self, line: &str) -> String {
        let args: Vec<&str> = line.split_whitespace().collect();
        let (code, out, err) = self.ipvsadm(&args, "");
        assert_eq!((code, err.as_str()), (0, ""), "ipvsadm {line}");
        out
    }

    /// Makes `n` connections (tcp) or requests (udp) from the client to the IPv4 VIP; replies per server.
    pub fn traffic(&self, proto: &str, port: u16, n: usize) -> HashMap<String, usize> {
        self.traffic_to(VIP, proto, port, n, 50)
    }

    /// Like [`Lab::traffic`] with `tries` attempts per connection.
    pub fn traffic_tries(
        &self,
        proto: &str,
        port: u16,
        n: usize,
        tries: u32,
    ) -> HashMap<String, usize> {
        self.traffic_to(VIP, proto, port, n, tries)
    }

    /// Makes `n` connections or requests from the client to `host:port`; replies per server.
    pub fn traffic_to(
        &self,
        host: &str,
        proto: &str,
        port: u16,
        n: usize,
        tries: u32,
    ) -> HashMap<String, usize> {
        let (port, n, tries) = (port.to_string(), n.to_string(), tries.to_string());
        let out = self
            .exec(
                "c",
                &["python3", "-c", CLIENT, proto, host, &port, &n, &tries],
            )
            .unwrap_or_else(|e| panic!("client: {e}"));
        let mut m = HashMap::new();
        for l in out.lines() {
            *m.entry(l.to_string()).or_insert(0) += 1;
        }
        m
    }

    /// Runs up to `n` TCP connections from the client to `host:port` in the background, one try each (0.5 s
    /// timeout): one line per connection, the server's name or `FAIL`.
    pub fn connections_background(&self, host: &str, port: u16, n: usize) -> Proc {
        let (port, n) = (port.to_string(), n.to_string());
        self.spawn("c", &["python3", "-c", CLIENT, "tcp", host, &port, &n, "1"])
    }

    /// Runs `n` connections (tcp) or requests (udp) from the client to `host:port` in the background.
    pub fn traffic_background(&self, host: &str, proto: &str, port: u16, n: usize) -> Proc {
        let (port, n) = (port.to_string(), n.to_string());
        self.spawn(
            "c",
            &["python3", "-c", CLIENT, proto, host, &port, &n, "50"],
        )
    }

    /// A link counter from `ip -s link` in `role` (e.g. "rx" "packets").
    pub fn link_stat(&self, role: &str, dev: &str, dir: &str, what: &str) -> u64 {
        let j = self
            .exec(role, &["ip", "-j", "-s", "link", "show", dev])
            .unwrap_or_default();
        let key = format!("\"{dir}\":{{");
        j.find(&key)
            .and_then(|i| {
                let rest = &j[i..];
                let k = format!("\"{what}\":");
                rest.find(&k).map(|p| &rest[p + k.len()..])
            })
            .and_then(|r| {
                r.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Direct routing's setting: a second leg of the client on the servers' segment (198.18.1.9, the return
    /// path that skips the director), and the VIP on each real server's `lo` with ARP kept quiet about it.
    pub fn direct_routing_legs(&self) {
        let (c, d) = (self.ns("c"), self.ns("d"));
        for l in [
            format!("ip link add c1 netns {c} type veth peer pc netns {d}"),
            format!("ip -n {d} link set pc master br0"),
            format!("ip -n {d} link set pc up"),
            format!("ip -n {c} addr add 198.18.1.9/24 dev c1"),
            format!("ip -n {c} link set c1 up"),
            format!("ip netns exec {c} sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.c1.rp_filter=0 net.ipv4.conf.c0.rp_filter=0"),
        ] {
            let args: Vec<&str> = l.split_whitespace().collect();
            sh(&args).unwrap_or_else(|e| panic!("{e}"));
        }
        for r in ["r1", "r2"] {
            self.run_all(
                r,
                &[
                    &format!("ip addr add {VIP}/32 dev lo"),
                    "sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2",
                    "sysctl -qw net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2",
                    "ip route add 198.18.0.0/24 via 198.18.1.9",
                ],
            );
        }
    }

    /// The real servers' side of a tunnel (after [`Lab::direct_routing_legs`]): the VIP moves from `lo` to
    /// `tunl0` (a stand-in for the kernel's, see `DECAP`), reverse-path filtering off, and
    /// unencapsulated packets for the VIP dropped (with a counter of the encapsulated ones).
    pub fn tunnel_ends(&self) -> Vec<Proc> {
        let mut procs = Vec::new();
        for r in ["r1", "r2"] {
            let mut p = self.spawn(r, &["python3", "-u", "-c", DECAP]);
            let _ = p.read_line();
            procs.push(p);
            self.run_all(
                r,
                &[
                    &format!("ip addr del {VIP}/32 dev lo"),
                    "ip link set tunl0 up",
                    &format!("ip addr add {VIP}/32 dev tunl0"),
                    "sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0",
                    &format!("ip addr add {VIP6}/128 dev tunl0 nodad"),
                    "nft add table inet tun",
                    "nft add chain inet tun pre { type filter hook prerouting priority -300 ; }",
                    "nft add rule inet tun pre iifname eth0 meta l4proto { 4, 41, 47 } counter",
                    "nft add rule inet tun pre iifname eth0 udp dport 6080 counter",
                    &format!("nft add rule inet tun pre iifname eth0 ip daddr {VIP} counter drop"),
                    &format!("nft add rule inet tun pre iifname eth0 ip6 daddr {VIP6} counter drop"),
                ],
            );
        }
        procs
    }

    /// Packets (encapsulated: IP-in-IP, GRE and GUE; dropped plain: IPv4 and IPv6 together) counted by a
    /// real server's rules.
    pub fn tunnel_seen(&self, r: &str) -> (u64, u64) {
        let out = self
            .exec(r, &["nft", "list", "chain", "inet", "tun", "pre"])
            .unwrap_or_default();
        let (mut encapsulated, mut plain) = (0, 0);
        for l in out.lines() {
            let Some(n) = l
                .split("packets ")
                .nth(1)
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            else {
                continue;
            };
            if l.contains("drop") {
                plain += n;
            } else {
                encapsulated += n;
            }
        }
        (encapsulated, plain)
    }

    /// Waits (bounded) until `f` holds.
    pub fn wait_until(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}");
    }
}

fn skip(why: &str) -> Option<Lab> {
    if std::env::var("FULCRUM_REQUIRE_NETNS").as_deref() == Ok("1") {
        panic!("network namespace test cannot run: {why}");
    }
    eprintln!("skipping network namespace test: {why}");
    None
}

fn uid() -> u32 {
    sh(&["id", "-u"])
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u32::MAX)
}

/// Builds the lab: client `c` (198.18.0.2, fd00::2) on veth c0 - d0 to the director `d` (198.18.0.1,
/// fd00::1), which routes to bridge br0 (198.18.1.1, fd00:1::1) holding real servers `r1`
/// (198.18.1.2, fd00:1::2) and `r2` (198.18.1.3, fd00:1::3).
// Both labs use it, and a test may load both.
#[allow(clippy::duplicate_mod)]
#[path = "../bpffs_common/mod.rs"]
mod bpffs_common;

/// The lab on fulcrum's default plane: XDP in front of nftables.
pub fn setup() -> Option<Lab> {
    setup_on("xdp")
}

/// The lab with the director's commands on `plane` (`xdp` or `nftables`).
pub fn setup_on(plane: &'static str) -> Option<Lab> {
    if uid() != 0 {
        return skip("not root");
    }
    if plane == "xdp" {
        if let Err(e) = bpffs_common::mount() {
            return skip(&format!(
                "cannot mount a bpf file system at {}: {e}",
                bpffs_common::BPFFS
            ));
        }
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
        plane,
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
    let (c, d) = (lab.ns("c"), lab.ns("d"));
    let mut all: Vec<String> = vec![
        format!("ip link add c0 netns {c} type veth peer d0 netns {d}"),
        format!("ip -n {c} addr add 198.18.0.2/24 dev c0"),
        format!("ip -n {c} addr add fd00::2/64 dev c0 nodad"),
        format!("ip -n {c} link set c0 up"),
        format!("ip -n {c} link set lo up"),
        format!("ip -n {c} route add default via 198.18.0.1"),
        format!("ip -n {c} -6 route add default via fd00::1"),
        format!("ip -n {d} addr add 198.18.0.1/24 dev d0"),
        format!("ip -n {d} addr add fd00::1/64 dev d0 nodad"),
        format!("ip -n {d} link set d0 up"),
        format!("ip -n {d} link set lo up"),
        format!("ip -n {d} link add br0 type bridge"),
        format!("ip -n {d} addr add 198.18.1.1/24 dev br0"),
        format!("ip -n {d} addr add fd00:1::1/64 dev br0 nodad"),
        format!("ip -n {d} link set br0 up"),
        format!("ip netns exec {d} sysctl -qw net.ipv4.ip_forward=1"),
        format!("ip netns exec {d} sysctl -qw net.ipv6.conf.all.forwarding=1"),
    ];
    for (i, role) in ["r1", "r2"].into_iter().enumerate() {
        let ns = lab.ns(role);
        all.extend([
            format!("ip link add eth0 netns {ns} type veth peer p{i} netns {d}"),
            format!("ip -n {d} link set p{i} master br0"),
            format!("ip -n {d} link set p{i} up"),
            format!("ip -n {ns} addr add 198.18.1.{}/24 dev eth0", i + 2),
            format!("ip -n {ns} addr add fd00:1::{}/64 dev eth0 nodad", i + 2),
            format!("ip -n {ns} link set eth0 up"),
            format!("ip -n {ns} link set lo up"),
            format!("ip -n {ns} route add default via 198.18.1.1"),
            format!("ip -n {ns} -6 route add default via fd00:1::1"),
        ]);
        let child = Command::new("ip")
            .args(["netns", "exec", &ns, "python3", "-c", SERVER, role])
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
        let args: Vec<&str> = v.split_whitespace().collect();
        if let Err(e) = sh(&args) {
            panic!("setup: {e}");
        }
    }
    for role in ["r1", "r2"] {
        lab.wait_until(
            &format!("server {role} to listen"),
            Duration::from_secs(5),
            || {
                lab.exec(role, &["ss", "-ltn"])
                    .is_ok_and(|o| o.contains(":8080") && o.contains(":8081"))
            },
        );
    }
    Some(lab)
}

/// Replies of r1 and r2 in a traffic result.
pub fn counts(m: &HashMap<String, usize>) -> (usize, usize) {
    (
        m.get("r1").copied().unwrap_or(0),
        m.get("r2").copied().unwrap_or(0),
    )
}

/// `fulcrum keepalived -n -l -C -f FILE` on the director (with `path` as its PATH when given), killed by PID when
/// dropped; its log is kept.
pub struct Keepalived {
    child: Child,
    log: std::path::PathBuf,
}

impl Keepalived {
    pub fn start(
        lab: &Lab,
        conf: &std::path::Path,
        log: std::path::PathBuf,
        path: Option<&std::ffi::OsStr>,
    ) -> Keepalived {
        Keepalived::start_with(lab, conf, log, path, &[])
    }

    /// [`Keepalived::start`] with more options (`-I`, ...); the log is appended to.
    pub fn start_with(
        lab: &Lab,
        conf: &std::path::Path,
        log: std::path::PathBuf,
        path: Option<&std::ffi::OsStr>,
        extra: &[&str],
    ) -> Keepalived {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &lab.ns("d")])
            .arg(env!("CARGO_BIN_EXE_fulcrum"))
            .args(["keepalived", "-n", "-l", "-C"])
            .args(extra)
            .arg("-f")
            .arg(conf)
            .env_remove("FULCRUM_LVS_STATE")
            .env("FULCRUM_L4_PLANE", lab.plane)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out);
        if let Some(p) = path {
            cmd.env("PATH", p);
        }
        Keepalived {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args([sig, &pid]).status();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit code (bounded wait).
    pub fn terminate(&mut self) -> Option<i32> {
        self.signal("-TERM");
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
