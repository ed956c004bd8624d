//! Network-namespace labs shared by the netns test files: two namespaces joined by a veth pair, fulcrum and
//! keepalived processes in them, VIP checks, and a packet sniffer timing VRRP adverts and gratuitous ARPs.
//!
//! Namespaces are named `fulcrum-<pid>-<n>-{a,b}`, addresses come from 198.18.0.0/15 and fd00::/8, and everything
//! (processes by PID, namespaces, the sniffer thread) is torn down in Drop guards, also when a test panics.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Timing checks are serialised so that two tests do not compete for the 2 cores.
pub static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

pub const VIP4: &str = "198.18.0.100";
pub const VIP4_2: &str = "198.18.0.101";
pub const VIP6: &str = "fd00:198:18::100";
/// The primary addresses of `va` (namespace a) and `vb` (namespace b).
pub const A4: &str = "198.18.0.1";
pub const B4: &str = "198.18.0.2";
/// The address of the hub's bridge (see [`Lab::with_hub`]).
pub const HUB4: &str = "198.18.0.3";

pub fn ip(args: &[&str]) -> Result<String, String> {
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
pub fn available() -> bool {
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
        // Unique per call: tests of one binary run this at the same time.
        let probe = format!(
            "fulcrum-probe{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
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

/// Two namespaces `a` and `b` joined by veth `va` <-> `vb` (or, with [`Lab::with_hub`], each by a veth to a
/// bridge in a third namespace); deleted on drop, with every process killed by PID.
pub struct Lab {
    pub a: String,
    pub b: String,
    /// With [`Lab::with_hub`]: the namespace holding bridge `br0` (address [`HUB4`]) with ports `pa` and `pb`.
    pub hub: Option<String>,
    pub dir: PathBuf,
    pub children: Vec<Child>,
    logs: Vec<PathBuf>,
}

impl Lab {
    pub fn new() -> Lab {
        Lab::build(false)
    }

    /// `a` and `b` on a bridge in a third namespace (`hub`), which can send to both and cut them apart.
    pub fn with_hub() -> Lab {
        Lab::build(true)
    }

    fn build(hub: bool) -> Lab {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("fulcrum-netns-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        // The guard exists before anything is created, so a failing setup is cleaned up too.
        let lab = Lab {
            a: format!("fulcrum-{tag}-a"),
            b: format!("fulcrum-{tag}-b"),
            hub: hub.then(|| format!("fulcrum-{tag}-x")),
            dir,
            children: Vec::new(),
            logs: Vec::new(),
        };
        for ns in [&lab.a, &lab.b].into_iter().chain(lab.hub.as_ref()) {
            ip(&["netns", "add", ns]).unwrap();
            ip(&["-n", ns, "link", "set", "lo", "up"]).unwrap();
        }
        if let Some(x) = &lab.hub {
            ip(&["-n", x, "link", "add", "br0", "type", "bridge"]).unwrap();
            for (ns, dev, port) in [(&lab.a, "va", "pa"), (&lab.b, "vb", "pb")] {
                ip(&[
                    "-n", x, "link", "add", port, "type", "veth", "peer", "name", dev, "netns", ns,
                ])
                .unwrap();
                ip(&["-n", x, "link", "set", port, "master", "br0"]).unwrap();
                ip(&["-n", x, "link", "set", port, "up"]).unwrap();
            }
            ip(&["-n", x, "addr", "add", &format!("{HUB4}/24"), "dev", "br0"]).unwrap();
            ip(&["-n", x, "link", "set", "br0", "up"]).unwrap();
        } else {
            ip(&[
                "-n", &lab.a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns",
                &lab.b,
            ])
            .unwrap();
        }
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

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Adds an up interface `name` in `ns` to track: one end of a veth pair whose other end (`{name}p`) stays in
    /// `ns` and up, so that `name` has carrier. (A veth rather than a dummy: the dummy module may be missing.)
    pub fn track_link(&self, ns: &str, name: &str) {
        let peer = format!("{name}p");
        ip(&[
            "-n", ns, "link", "add", name, "type", "veth", "peer", "name", &peer,
        ])
        .unwrap();
        self.set_link(ns, &peer, true);
        self.set_link(ns, name, true);
        let ok = self.until(Duration::from_secs(5), || {
            ip(&["-n", ns, "link", "show", name]).is_ok_and(|s| s.contains("LOWER_UP"))
        });
        assert!(ok.is_some(), "{name} never got carrier");
    }

    /// The Ethernet address of `dev` in `ns`.
    pub fn mac(&self, ns: &str, dev: &str) -> [u8; 6] {
        let out = ip(&["-n", ns, "-o", "link", "show", dev]).unwrap();
        let text = out
            .split("link/ether ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no MAC for {dev}: {out}"));
        let mut mac = [0u8; 6];
        for (m, p) in mac.iter_mut().zip(text.split(':')) {
            *m = u8::from_str_radix(p, 16).unwrap();
        }
        mac
    }

    pub fn set_link(&self, ns: &str, dev: &str, up: bool) {
        ip(&["-n", ns, "link", "set", dev, if up { "up" } else { "down" }]).unwrap();
    }

    pub fn spawn(&mut self, ns: &str, what: &str, argv: &[&std::ffi::OsStr]) -> usize {
        let log_path = self
            .dir
            .join(format!("{what}-{ns}-{}.log", self.children.len()));
        let log = std::fs::File::create(&log_path).unwrap();
        // Each fulcrum writes its statistics file (SIGUSR2) in a directory of its own.
        let dump = self.dump_dir(self.children.len());
        std::fs::create_dir_all(&dump).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(argv)
            .env("FULCRUM_KEEPALIVED_DUMP_DIR", &dump)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.push(child);
        self.logs.push(log_path);
        self.children.len() - 1
    }

    /// Starts fulcrum in namespace `ns`; returns its index in `children`.
    pub fn fulcrum(&mut self, ns: &str, conf: &Path) -> usize {
        let bin = env!("CARGO_BIN_EXE_fulcrum");
        let fixed = [bin, "keepalived", "-n", "-l", "-D", "-f"];
        let args: Vec<&std::ffi::OsStr> = fixed
            .iter()
            .map(std::ffi::OsStr::new)
            .chain([conf.as_os_str()])
            .collect();
        self.spawn(ns, "fulcrum", &args)
    }

    /// Starts keepalived (VRRP only, foreground) in namespace `ns`.
    pub fn keepalived(&mut self, ns: &str, conf: &Path) -> usize {
        let d = self.dir.clone();
        let n = self.children.len();
        let pids: Vec<PathBuf> = ["k", "v", "c"]
            .iter()
            .map(|k| d.join(format!("{k}-{ns}-{n}.pid")))
            .collect();
        let fixed = ["keepalived", "-n", "-l", "-D", "-P", "-f"];
        let mut args: Vec<&std::ffi::OsStr> = fixed.iter().map(std::ffi::OsStr::new).collect();
        args.push(conf.as_os_str());
        for (flag, p) in ["-p", "-r", "-c"].iter().zip(&pids) {
            args.push(std::ffi::OsStr::new(flag));
            args.push(p.as_os_str());
        }
        self.spawn(ns, "keepalived", &args)
    }

    fn dump_dir(&self, idx: usize) -> PathBuf {
        self.dir.join(format!("dump-{idx}"))
    }

    /// Sends SIGUSR2 to fulcrum child `idx` and returns the statistics file it writes (waits up to 5 s).
    pub fn stats(&self, idx: usize) -> String {
        let path = self.dump_dir(idx).join("keepalived.stats");
        let _ = std::fs::remove_file(&path);
        let pid = nix::unistd::Pid::from_raw(self.children[idx].id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR2).unwrap();
        let ok = self.until(Duration::from_secs(5), || path.exists());
        assert!(
            ok.is_some(),
            "no statistics from child {idx}\n{}",
            self.logs()
        );
        std::fs::read_to_string(&path).unwrap()
    }

    /// The stderr log of child `idx`, without terminal colour codes.
    pub fn log(&self, idx: usize) -> String {
        strip_ansi(&std::fs::read_to_string(&self.logs[idx]).unwrap_or_default())
    }

    /// Sends `sig` to child `idx` living in `ns`; SIGKILL goes to every process of the namespace (keepalived's
    /// VRRP child too), as a crashed node would lose them all. They are all stopped first: keepalived's VRRP child
    /// is sent SIGTERM when its parent dies and would then say goodbye with a priority-0 advert, which a crash
    /// does not.
    pub fn signal(&mut self, idx: usize, ns: &str, sig: nix::sys::signal::Signal) {
        use nix::sys::signal::{kill, Signal};
        let pid = nix::unistd::Pid::from_raw(self.children[idx].id() as i32);
        if sig == Signal::SIGKILL {
            let all: Vec<_> = pids_in(ns)
                .into_iter()
                .map(nix::unistd::Pid::from_raw)
                .chain([pid])
                .collect();
            for &p in &all {
                let _ = kill(p, Signal::SIGSTOP);
            }
            for &p in &all {
                let _ = kill(p, Signal::SIGKILL);
            }
            return;
        }
        let _ = kill(pid, sig);
    }

    pub fn wait_exit(&mut self, idx: usize, within: Duration) -> Option<i32> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.children[idx].try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn holds(&self, ns: &str, vip: &str) -> bool {
        ip(&["-n", ns, "-o", "addr", "show"])
            .map(|s| {
                s.split_whitespace()
                    .any(|w| w.split('/').next() == Some(vip))
            })
            .unwrap_or(false)
    }

    pub fn other(&self, ns: &str) -> &str {
        if ns == self.a {
            &self.b
        } else {
            &self.a
        }
    }

    /// Whether `ns` holds `vip` and the other namespace does not.
    pub fn sole(&self, ns: &str, vip: &str) -> bool {
        self.holds(ns, vip) && !self.holds(self.other(ns), vip)
    }

    /// Waits until `f` holds, polling every 20 ms; returns the time it took.
    pub fn until(&self, within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < within {
            if f() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits (bounded) for `ns` to be the only holder of every VIP in `vips`; returns how long it took.
    pub fn wait_sole(&self, ns: &str, vips: &[&str], within: Duration, what: &str) -> Duration {
        let took = self.until(within, || vips.iter().all(|v| self.sole(ns, v)));
        took.unwrap_or_else(|| {
            panic!(
                "{what}: {ns} never became the only holder of {vips:?} within {within:?}\n{}",
                self.logs()
            )
        })
    }

    /// Checks for `period` (every 20 ms) that `ns` stays the only holder of every VIP in `vips`.
    pub fn stays_sole(&self, ns: &str, vips: &[&str], period: Duration, what: &str) {
        let end = Instant::now() + period;
        while Instant::now() < end {
            for v in vips {
                assert!(
                    self.sole(ns, v),
                    "{what}: {ns} stopped being the only holder of {v}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for `ns` to be the only VIP holder, and for that to last 1.5 s.
    pub fn settle(&self, ns: &str, vip: &str) {
        self.settle_all(ns, &[vip]);
    }

    /// [`Lab::settle`] for several VIPs.
    pub fn settle_all(&self, ns: &str, vips: &[&str]) {
        self.wait_sole(ns, vips, Duration::from_secs(12), "election");
        self.stays_sole(ns, vips, Duration::from_millis(1500), "election");
    }

    pub fn logs(&self) -> String {
        let mut s = String::new();
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths {
                if p.extension().is_some_and(|x| x == "log") {
                    let text = std::fs::read_to_string(&p).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(40).collect();
                    s.push_str(&format!("==== {}\n", p.display()));
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

/// PIDs of processes living in namespace `ns`.
pub fn pids_in(ns: &str) -> Vec<i32> {
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
        for ns in [&self.a, &self.b].into_iter().chain(self.hub.as_ref()) {
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

/// A frame seen by the [`Sniffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// An IPv4 VRRP advert.
    Advert {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        vrid: u8,
        priority: u8,
    },
    /// An ARP whose sender address is `ip` (a gratuitous ARP when it announces a VIP), from Ethernet address `mac`.
    Arp { ip: Ipv4Addr, mac: [u8; 6] },
}

/// One frame and when it was seen: `at` when the sniffer read it, `kernel` the kernel's receive timestamp (since
/// the Unix epoch; precise, for gaps between frames).
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub at: Instant,
    pub kernel: Duration,
    pub frame: Frame,
}

impl Seen {
    /// The priority when this is an advert.
    pub fn priority(&self) -> Option<u8> {
        match self.frame {
            Frame::Advert { priority, .. } => Some(priority),
            Frame::Arp { .. } => None,
        }
    }
}

/// Records every VRRP advert and ARP crossing one interface of a namespace (both directions), with the time it was
/// read. Runs in its own thread, which enters the namespace; stopped and joined on drop.
pub struct Sniffer {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sniffer {
    pub fn start(ns: &str, dev: &str) -> Sniffer {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (ns, dev) = (ns.to_string(), dev.to_string());
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let fd = match open_packet_socket(&ns, &dev) {
                Ok(fd) => {
                    let _ = ready_tx.send(Ok(()));
                    fd
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let mut buf = [0u8; 2048];
            while !stop2.load(Ordering::Relaxed) {
                // SAFETY: receives into a live buffer of its length.
                let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
                let at = Instant::now();
                if n <= 0 {
                    continue;
                }
                let mut tv = libc::timeval {
                    tv_sec: 0,
                    tv_usec: 0,
                };
                // SAFETY: SIOCGSTAMP writes the last packet's timestamp into a live timeval.
                let kernel = if unsafe { libc::ioctl(fd, SIOCGSTAMP as _, &mut tv) } == 0 {
                    Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000)
                } else {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default()
                };
                if let Some(frame) = parse_frame(&buf[..n as usize]) {
                    seen2.lock().unwrap().push(Seen { at, kernel, frame });
                }
            }
            // SAFETY: closes the descriptor this thread opened.
            unsafe { libc::close(fd) };
        });
        match ready_rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("sniffer: {e}"),
            Err(e) => panic!("sniffer did not start: {e}"),
        }
        Sniffer {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Everything seen so far.
    pub fn frames(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Adverts of `vrid` from `src`, in order.
    pub fn adverts(&self, src: &str, vrid: u8) -> Vec<Seen> {
        let src: Ipv4Addr = src.parse().unwrap();
        self.frames()
            .into_iter()
            .filter(|s| matches!(s.frame, Frame::Advert { src: a, vrid: v, .. } if a == src && v == vrid))
            .collect()
    }

    /// ARPs announcing `ip` sent from Ethernet address `mac`, in order.
    pub fn arps(&self, ip: &str, mac: [u8; 6]) -> Vec<Seen> {
        let ip: Ipv4Addr = ip.parse().unwrap();
        self.frames()
            .into_iter()
            .filter(|s| matches!(s.frame, Frame::Arp { ip: i, mac: m } if i == ip && m == mac))
            .collect()
    }
}

impl Drop for Sniffer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `SIOCGSTAMP`: the receive time of the last packet read from a socket (not exported by the libc crate).
const SIOCGSTAMP: u64 = 0x8906;

/// Enters namespace `ns` (this thread only) and opens an AF_PACKET socket on `dev` with a 50 ms receive timeout.
fn open_packet_socket(ns: &str, dev: &str) -> Result<i32, String> {
    let path = format!("/var/run/netns/{ns}");
    let nsfile = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    use std::os::fd::AsRawFd;
    // SAFETY: setns on a namespace file we hold open; affects only this thread.
    if unsafe { libc::setns(nsfile.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!("setns: {}", std::io::Error::last_os_error()));
    }
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
    if fd < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    let name = std::ffi::CString::new(dev).unwrap();
    // SAFETY: a valid NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    // SAFETY: a zeroed sockaddr_ll is valid; the fields set are the ones bind(2) reads.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as i32;
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 50_000,
    };
    // SAFETY: pointers to live values with their sizes.
    let ok = unsafe {
        libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        ) == 0
            && libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            ) == 0
    };
    if ifindex == 0 || !ok {
        let e = std::io::Error::last_os_error();
        // SAFETY: closes our descriptor.
        unsafe { libc::close(fd) };
        return Err(format!("binding to {dev}: {e}"));
    }
    Ok(fd)
}

/// Parses an Ethernet frame into a VRRP advert (IPv4) or an ARP.
pub fn parse_frame(f: &[u8]) -> Option<Frame> {
    if f.len() < 14 {
        return None;
    }
    let body = &f[14..];
    match u16::from_be_bytes([f[12], f[13]]) {
        0x0800 => {
            if body.len() < 20 || body[9] != 112 {
                return None;
            }
            let ihl = usize::from(body[0] & 0x0f) * 4;
            let vrrp = body.get(ihl..ihl + 3)?;
            Some(Frame::Advert {
                src: Ipv4Addr::new(body[12], body[13], body[14], body[15]),
                dst: Ipv4Addr::new(body[16], body[17], body[18], body[19]),
                vrid: vrrp[1],
                priority: vrrp[2],
            })
        }
        0x0806 => {
            let spa = body.get(14..18)?;
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&f[6..12]);
            Some(Frame::Arp {
                ip: Ipv4Addr::new(spa[0], spa[1], spa[2], spa[3]),
                mac,
            })
        }
        _ => None,
    }
}

/// One `vrrp_instance` block.
pub struct Inst<'a> {
    pub name: &'a str,
    pub dev: &'a str,
    pub vrid: u8,
    pub priority: u8,
    pub version: u8,
    pub vips: &'a [&'a str],
    /// Extra lines inside the block (unicast, tracking, nopreempt...).
    pub extra: &'a str,
}

impl Inst<'_> {
    pub fn render(&self) -> String {
        let auth = if self.version == 2 {
            "    authentication {\n        auth_type PASS\n        auth_pass s3cret\n    }\n"
        } else {
            ""
        };
        let vips: String = self
            .vips
            .iter()
            .map(|v| format!("        {v}/24\n"))
            .collect();
        format!(
            "vrrp_instance {name} {{\n    state BACKUP\n    interface {dev}\n    virtual_router_id {vrid}\n    \
             priority {prio}\n    advert_int 1\n    version {ver}\n{auth}    virtual_ipaddress {{\n{vips}    }}\n{extra}}}\n",
            name = self.name,
            dev = self.dev,
            vrid = self.vrid,
            prio = self.priority,
            ver = self.version,
            extra = self.extra,
        )
    }
}

/// `global_defs` with scripts run as root, as keepalived's script security wants.
pub fn global(router_id: &str) -> String {
    format!(
        "global_defs {{\n    router_id {router_id}\n    script_user root\n    enable_script_security\n}}\n"
    )
}

/// Unicast lines for an instance on side a (`from_a`) or b.
pub fn unicast(from_a: bool) -> String {
    let (me, peer) = if from_a { (A4, B4) } else { (B4, A4) };
    format!("    unicast_src_ip {me}\n    unicast_peer {{\n        {peer}\n    }}\n")
}
