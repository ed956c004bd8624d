//! Test harness: free ports, origin servers, a fulcrum proxy started from haproxy.cfg text that is also checked by
//! the real `haproxy -c`, and a small blocking HTTP/1.1 client that shows exactly what went over the wire.
#![allow(dead_code)]

pub mod pki;
pub mod syslog;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fulcrum_proxy::origin::Origin;
use fulcrum_proxy::RunningProxy;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The first of `n` consecutive ports nobody listens on, for configs that bind `port`, `port + 1`, ...
///
/// Taken below the kernel's ephemeral range (32768 and up by default), so outgoing connections of other tests
/// cannot take `port + 1` between this check and the bind, as they could next to a port from `free_port`.
pub fn free_port_block(n: u16) -> u16 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut x = (std::process::id() as u64).wrapping_mul(6364136223846793005) ^ now | 1;
    for _ in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let base = 20_000 + (x % 12_000) as u16;
        let held: Vec<TcpListener> = (0..n)
            .filter_map(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if held.len() == n as usize {
            return base;
        }
    }
    panic!("no block of {n} free ports found below the ephemeral range");
}

/// Starts `n` origins named s1..sn.
pub fn origins(n: usize) -> Vec<Origin> {
    (1..=n)
        .map(|i| Origin::start(&format!("s{i}"), "127.0.0.1:0".parse().unwrap()).unwrap())
        .collect()
}

fn temp_path(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "fulcrum-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Whether a missing peer program must fail the test (CI) rather than skip the comparison.
pub fn peers_required() -> bool {
    std::env::var_os("FULCRUM_REQUIRE_NETNS").is_some() || std::env::var_os("CI").is_some()
}

/// Runs the real `haproxy -c` on `text`; panics when HAProxy rejects it (or is missing in CI).
pub fn haproxy_accepts(text: &str) {
    let path = temp_path("haproxy.cfg");
    std::fs::write(&path, text).unwrap();
    let out = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    match out {
        Ok(o) => assert!(
            o.status.success(),
            "haproxy -c rejects a config the tests use:\n{text}\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) if !peers_required() => {
            eprintln!("skipping the haproxy -c comparison: {e}");
        }
        Err(e) => panic!("haproxy is needed to check test configs: {e}"),
    }
}

/// A proxy running in this process; stopped when dropped.
pub struct Proxy {
    pub running: Option<RunningProxy>,
    pub addr: SocketAddr,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
    }
}

/// Parses `text` with fulcrum's parser (and checks it with haproxy -c), then starts it.
pub fn start_proxy(text: &str) -> Proxy {
    haproxy_accepts(text);
    let config = fulcrum_config::haproxy::parse_str("test.cfg", text)
        .unwrap_or_else(|e| panic!("fulcrum rejects the test config:\n{e}\n{text}"));
    let running = fulcrum_proxy::start(&config).expect("proxy starts");
    let addr = running.local_addrs()[0].1;
    Proxy {
        running: Some(running),
        addr,
    }
}

/// `defaults` most tests use.
pub const DEFAULTS: &str = "\
global
    nbthread 1

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
";

/// A server line for each origin: `server sN ADDR OPTIONS`.
pub fn server_lines(origins: &[Origin], opts: &str) -> String {
    origins
        .iter()
        .map(|o| format!("    server {} {} {}\n", o.name(), o.addr(), opts))
        .collect()
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The trailer fields of a chunked body.
    pub trailers: Vec<(String, String)>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client connection that can carry several requests.
pub struct Client {
    pub reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            reader: BufReader::new(s),
        }
    }

    /// Connects from a chosen local address (127.0.0.0/8 has many), for source-hash tests.
    pub fn connect_from(addr: SocketAddr, local: &str) -> Client {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let local: SocketAddr = format!("{local}:0").parse().unwrap();
        sock.bind(&local.into()).unwrap();
        sock.connect(&addr.into()).unwrap();
        let s: TcpStream = sock.into();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            reader: BufReader::new(s),
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.reader.get_mut().write_all(raw).unwrap();
    }

    pub fn get(&mut self, path: &str) -> Resp {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.read_response(false)
    }

    /// Reads header (or trailer) fields up to the empty line.
    fn read_fields(&mut self) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        loop {
            let mut l = String::new();
            self.reader.read_line(&mut l).unwrap();
            let l = l.trim_end();
            if l.is_empty() {
                return fields;
            }
            let (k, v) = l.split_once(':').unwrap();
            fields.push((k.trim().to_string(), v.trim().to_string()));
        }
    }

    /// Reads one response (`head_only` for answers to HEAD).
    pub fn read_response(&mut self, head_only: bool) -> Resp {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        assert!(line.starts_with("HTTP/1."), "bad status line {line:?}");
        let status: u16 = line[9..12].parse().unwrap();
        let headers = self.read_fields();
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
            trailers: Vec::new(),
        };
        if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
            return resp;
        }
        if let Some(len) = resp.header("content-length") {
            let mut body = vec![0; len.parse().unwrap()];
            self.reader.read_exact(&mut body).unwrap();
            resp.body = body;
        } else if resp
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim(), 16).unwrap();
                if n == 0 {
                    resp.trailers = self.read_fields();
                    break;
                }
                let mut chunk = vec![0; n + 2];
                self.reader.read_exact(&mut chunk).unwrap();
                resp.body.extend_from_slice(&chunk[..n]);
            }
        } else {
            self.reader.read_to_end(&mut resp.body).unwrap();
        }
        resp
    }

    /// Whether the server closed the connection (reads EOF within `limit`).
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        self.reader.get_ref().set_read_timeout(Some(limit)).unwrap();
        let mut b = [0u8; 1];
        // A peer that closes with unread input resets the connection instead of sending FIN.
        match self.reader.read(&mut b) {
            Ok(0) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            Ok(_) => false,
        }
    }
}

/// One request on a new connection.
pub fn get(addr: SocketAddr, path: &str) -> Resp {
    let mut c = Client::connect(addr);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes());
    c.read_response(false)
}

/// Polls `f` until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Who served a response (`x-served-by`).
pub fn served_by(r: &Resp) -> String {
    r.header("x-served-by").unwrap_or("-").to_string()
}

/// A real haproxy, killed (by its pid) when dropped.
pub struct Haproxy {
    child: Child,
    cfg: std::path::PathBuf,
}

impl Haproxy {
    /// The haproxy process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.cfg);
    }
}

/// Whether haproxy can be run; panics when it must (CI) and cannot.
pub fn haproxy_present() -> bool {
    match Command::new("haproxy").arg("-v").output() {
        Ok(o) if o.status.success() => true,
        r => {
            assert!(
                !peers_required(),
                "haproxy is needed for the comparisons with HAProxy: {r:?}"
            );
            eprintln!("haproxy missing: skipping the comparison with HAProxy");
            false
        }
    }
}

pub fn start_haproxy(cfg: &str, addr: SocketAddr) -> Haproxy {
    let path = std::env::temp_dir().join(format!(
        "fulcrum-haproxy-{}-{}.cfg",
        std::process::id(),
        addr.port()
    ));
    std::fs::write(&path, cfg).unwrap();
    let child = Command::new("haproxy")
        .arg("-f")
        .arg(&path)
        .arg("-db")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy starts");
    let h = Haproxy { child, cfg: path };
    assert!(
        wait_until(Duration::from_secs(5), || TcpStream::connect(addr).is_ok()),
        "haproxy does not listen on {addr}"
    );
    // The probe connection above logs nothing with dontlognull, and 'Connect from'/400 CR lines otherwise: a
    // caller comparing logs sets dontlognull on the probed frontend or skips those lines.
    // haproxy may create its stats sockets after the listener answers: wait for their files too.
    for path in cfg.lines().filter_map(|l| {
        let rest = l.trim().strip_prefix("stats socket ")?;
        let path = rest.split_whitespace().next()?;
        let path = path.strip_prefix("unix@").unwrap_or(path);
        path.starts_with('/')
            .then(|| std::path::PathBuf::from(path))
    }) {
        assert!(
            wait_until(Duration::from_secs(5), || path.exists()),
            "haproxy did not create its stats socket {}",
            path.display()
        );
    }
    h
}

/// A proxy a comparison runs: fulcrum (in this process) or haproxy, from the same configuration; stopped when
/// dropped.
pub enum Either {
    Fulcrum(Proxy),
    Haproxy(Haproxy),
}

/// Starts haproxy (`haproxy`: waiting until `probe` answers, which it counts as a connection) or fulcrum from
/// `cfg`.
pub fn start_either(cfg: &str, haproxy: bool, probe: SocketAddr) -> Either {
    if haproxy {
        Either::Haproxy(start_haproxy(cfg, probe))
    } else {
        Either::Fulcrum(start_proxy(cfg))
    }
}

/// A path for a unix socket of this test process; `tag` tells a test's sockets apart.
pub fn unix_sock_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "fulcrum-t-{}-{}-{tag}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Sends one command to the runtime API at `path` as `socat` does (then half-closes), and returns the answer.
pub fn runtime_cmd(path: &std::path::Path, c: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{c}\n").as_bytes()).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The cells of `show stat` (CSV) at the runtime API `sock` whose column `keep` accepts, by
/// "proxy/row.column" (row: `FRONTEND`, `BACKEND` or the server's name).
pub fn show_stat_cells(
    sock: &std::path::Path,
    keep: impl Fn(&str) -> bool,
) -> std::collections::BTreeMap<String, String> {
    let csv = runtime_cmd(sock, "show stat");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let mut out = std::collections::BTreeMap::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() < 2 {
            continue;
        }
        for (name, value) in header.iter().zip(&cells) {
            if keep(name) {
                out.insert(
                    format!("{}/{}.{name}", cells[0], cells[1]),
                    value.to_string(),
                );
            }
        }
    }
    out
}

/// Pseudo-random bytes (xorshift64), reproducible from `seed`.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
