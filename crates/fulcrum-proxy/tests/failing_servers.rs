//! Servers that fail while wrk keeps the proxy busy (#15): one is killed, one resets its connections, one accepts
//! and never answers, one answers too slowly, one sends a broken response. With `retries`, `option redispatch`
//! and `retry-on` no idempotent request fails; without them the client gets HAProxy's status for the failure
//! (checked against haproxy 2.6 with the same config), and afterwards no connection is left open anywhere.
//!
//! Needs `wrk` (scripts/install-deps.sh installs it); skips without it unless peers are required.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// What a test server does with the requests it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    /// Answers 200 at once, keeping the connection open.
    Good = 0,
    /// Gone: the listener is closed (connections refused) and every open connection is shut.
    Killed = 1,
    /// Resets the connection after reading a request (linger 0, then close).
    Reset = 2,
    /// Reads the request and never answers (holds the connection until the peer closes it).
    Hang = 3,
    /// Answers after 1.5 s, longer than the proxy's `timeout server`.
    Slow = 4,
    /// Answers with a head no HTTP parser accepts.
    Broken = 5,
}

impl Mode {
    fn from_u8(v: u8) -> Mode {
        [
            Mode::Good,
            Mode::Killed,
            Mode::Reset,
            Mode::Hang,
            Mode::Slow,
            Mode::Broken,
        ][v as usize]
    }
}

/// A keep-alive HTTP/1.1 server whose behaviour can change while it runs; counts its open connections that
/// carried a proxied request (health checks, which go on every `inter`, are not counted).
struct TestServer {
    name: &'static str,
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    open: Arc<AtomicUsize>,
    /// A second handle on every open connection (to shut them all when the server is killed), by id.
    conns: Arc<Mutex<HashMap<usize, TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl TestServer {
    fn start(name: &'static str) -> TestServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let s = TestServer {
            name,
            addr: l.local_addr().unwrap(),
            mode: Arc::new(AtomicU8::new(Mode::Good as u8)),
            open: Arc::new(AtomicUsize::new(0)),
            conns: Arc::new(Mutex::new(HashMap::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (mode, open, conns, stop) = (
            s.mode.clone(),
            s.open.clone(),
            s.conns.clone(),
            s.stop.clone(),
        );
        std::thread::spawn(move || {
            // The listener goes with this thread: a killed server refuses connections from then on.
            let mut next_id = 0;
            while !stop.load(Ordering::Relaxed) {
                if Mode::from_u8(mode.load(Ordering::Relaxed)) == Mode::Killed {
                    drop(l);
                    return;
                }
                match l.accept() {
                    Ok((c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        next_id += 1;
                        let id = next_id;
                        conns.lock().unwrap().insert(id, c.try_clone().unwrap());
                        let (mode, open, conns) = (mode.clone(), open.clone(), conns.clone());
                        std::thread::spawn(move || {
                            let mut counted = false;
                            let reset = serve(&c, name, &mode, &open, &mut counted);
                            // The other handle goes first, so that closing `c` really closes the socket.
                            conns.lock().unwrap().remove(&id);
                            if reset {
                                let _ = socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO));
                            }
                            drop(c);
                            if counted {
                                open.fetch_sub(1, Ordering::Relaxed);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        s
    }

    fn set(&self, m: Mode) {
        self.mode.store(m as u8, Ordering::Relaxed);
        if m == Mode::Killed {
            for c in self.conns.lock().unwrap().values() {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for c in self.conns.lock().unwrap().values() {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// Serves requests on `c` (GETs without a body) as the mode says at the time each one arrives. True: the
/// connection is to be reset rather than closed. The first request that is not a check counts the connection in
/// `open` (and sets `counted`).
fn serve(
    mut c: &TcpStream,
    name: &str,
    mode: &AtomicU8,
    open: &AtomicUsize,
    counted: &mut bool,
) -> bool {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    // A connection lives at most as long as a test can; a held one is released by the peer closing it.
    let _ = c.set_read_timeout(Some(Duration::from_secs(20)));
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match c.read(&mut chunk) {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        if !*counted && !buf.starts_with(b"GET /health ") {
            *counted = true;
            open.fetch_add(1, Ordering::Relaxed);
        }
        buf.drain(..end);
        match Mode::from_u8(mode.load(Ordering::Relaxed)) {
            Mode::Good => {
                let r = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-served-by: {name}\r\n\r\nok"
                );
                if c.write_all(r.as_bytes()).is_err() {
                    return false;
                }
            }
            Mode::Killed => return false,
            Mode::Reset => return true,
            Mode::Hang => {
                // Until the proxy gives up and closes: a read returns 0 then.
                while let Ok(n) = c.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                }
                return false;
            }
            Mode::Slow => {
                // 1.5 s, unless the peer closes first (it has given up on the answer).
                let _ = c.set_read_timeout(Some(Duration::from_millis(1500)));
                if let Ok(0) = c.read(&mut chunk) {
                    return false;
                }
                let _ = c.set_read_timeout(Some(Duration::from_secs(20)));
                let r = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-served-by: {name}\r\n\r\nok"
                );
                if c.write_all(r.as_bytes()).is_err() {
                    return false;
                }
            }
            Mode::Broken => {
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\nok");
                return false;
            }
        }
    }
}

fn wrk_present() -> bool {
    match Command::new("wrk").arg("--version").output() {
        Ok(_) => true,
        Err(e) => {
            assert!(!peers_required(), "wrk is needed for the load tests: {e}");
            eprintln!("wrk missing: skipping");
            false
        }
    }
}

/// What wrk reported.
#[derive(Debug, Default)]
struct WrkResult {
    requests: u64,
    non_2xx: u64,
    socket_errors: u64,
    text: String,
}

fn parse_wrk(text: &str) -> WrkResult {
    let mut r = WrkResult {
        text: text.to_string(),
        ..Default::default()
    };
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            r.non_2xx = rest.trim().parse().unwrap();
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 1, write 0, timeout 0"
            r.socket_errors = rest
                .split(',')
                .map(|p| p.split_whitespace().last().unwrap().parse::<u64>().unwrap())
                .sum();
        } else if line.contains(" requests in ") {
            r.requests = line.split_whitespace().next().unwrap().parse().unwrap();
        }
    }
    r
}

/// Runs wrk against `addr` for `secs` seconds; `during` runs once the load is on.
fn under_load(addr: SocketAddr, secs: u64, during: impl FnOnce()) -> WrkResult {
    let child = Command::new("wrk")
        .args(["-t1", "-c12", &format!("-d{secs}s"), "--timeout", "4s"])
        .arg(format!("http://{addr}/"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wrk starts");
    std::thread::sleep(Duration::from_millis(700));
    during();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "wrk failed: {out:?}");
    parse_wrk(&String::from_utf8_lossy(&out.stdout))
}

/// The stats CSV row of `pxname`/`svname`, as a map from column to value.
fn stat(stats: SocketAddr, px: &str, sv: &str) -> std::collections::HashMap<String, String> {
    let text = get(stats, "/stats;csv").text();
    let mut lines = text.lines();
    let cols: Vec<String> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .map(String::from)
        .collect();
    for l in lines {
        let vals: Vec<&str> = l.split(',').collect();
        if vals.first() == Some(&px) && vals.get(1) == Some(&sv) {
            return cols
                .iter()
                .cloned()
                .zip(vals.iter().map(|v| v.to_string()))
                .collect();
        }
    }
    panic!("no stats row {px}/{sv} in:\n{text}");
}

fn config(listen: u16, stats: u16, servers: &[&TestServer], extra: &str) -> String {
    let mut lines = String::new();
    for s in servers {
        lines += &format!(
            "    server {} {} check inter 100ms fall 2 rise 2\n",
            s.name, s.addr
        );
    }
    format!(
        "global
    nbthread 1

defaults
    mode http
    timeout connect 300ms
    timeout client 5s
    timeout server 500ms
    timeout check 300ms

frontend stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats

listen app
    bind 127.0.0.1:{listen}
    balance roundrobin
    option httpchk GET /health
{extra}
{lines}"
    )
}

const RETRYING: &str = "    retries 3\n    option redispatch\n    retry-on all-retryable-errors";

/// One failure under load with retries: no request fails, the server is taken out by its checks, and
/// afterwards nothing is left open.
fn survives(mode: Mode) {
    if !wrk_present() {
        return;
    }
    let servers = [
        TestServer::start("a"),
        TestServer::start("b"),
        TestServer::start("c"),
    ];
    let (listen, stats) = (free_port(), free_port());
    let refs: Vec<&TestServer> = servers.iter().collect();
    let _p = start_proxy(&config(listen, stats, &refs, RETRYING));
    let app: SocketAddr = format!("127.0.0.1:{listen}").parse().unwrap();
    let stats: SocketAddr = format!("127.0.0.1:{stats}").parse().unwrap();
    assert!(wait_until(Duration::from_secs(3), || {
        stat(stats, "app", "a")["status"] == "UP"
    }));
    let started = Instant::now();
    let r = under_load(app, 4, || servers[0].set(mode));
    eprintln!("{mode:?}: {r:?}");
    assert!(r.requests > 200, "too little load to mean anything: {r:?}");
    assert_eq!(
        (r.non_2xx, r.socket_errors),
        (0, 0),
        "{mode:?}: requests failed under load with retries and redispatch:\n{}",
        r.text
    );
    let a = stat(stats, "app", "a");
    assert!(
        a["status"].starts_with("DOWN"),
        "{mode:?}: the failing server is still {} after {:?}",
        a["status"],
        started.elapsed()
    );
    // Nothing stuck: every client and server connection of the proxy has ended, and the failing server holds
    // none of the proxy's connections (hung ones are closed at `timeout server`).
    let settled = wait_until(Duration::from_secs(3), || {
        stat(stats, "app", "FRONTEND")["scur"] == "0"
            && stat(stats, "app", "BACKEND")["scur"] == "0"
            && servers[0].open() == 0
    });
    assert!(
        settled,
        "{mode:?}: connections left: frontend {}, backend {}, open on the failing server {}",
        stat(stats, "app", "FRONTEND")["scur"],
        stat(stats, "app", "BACKEND")["scur"],
        servers[0].open()
    );
    assert_eq!(get(app, "/").status, 200);
}

#[test]
fn killed_server_under_load_loses_no_request() {
    survives(Mode::Killed);
}

#[test]
fn resetting_server_under_load_loses_no_request() {
    survives(Mode::Reset);
}

#[test]
fn silent_server_under_load_loses_no_request() {
    survives(Mode::Hang);
}

#[test]
fn slow_server_under_load_loses_no_request() {
    survives(Mode::Slow);
}

#[test]
fn broken_server_under_load_loses_no_request() {
    survives(Mode::Broken);
}

/// Without retries each failure reaches the client as HAProxy reports it: refused 503, reset 502, silent and
/// slow 504, broken 502; fulcrum and haproxy 2.6 answer the same, and close nothing they should keep.
#[test]
fn without_retries_the_status_says_what_failed() {
    let cases = [
        (Mode::Killed, 503),
        (Mode::Reset, 502),
        (Mode::Hang, 504),
        (Mode::Slow, 504),
        (Mode::Broken, 502),
    ];
    let with_haproxy = haproxy_present();
    for (mode, want) in cases {
        let s = TestServer::start("a");
        s.set(mode);
        let (listen, stats) = (free_port(), free_port());
        // A connect limit that a loaded machine (the load tests of this file run beside it) cannot exceed on
        // loopback: only the server's behaviour decides the status.
        let cfg = config(listen, stats, &[], "    retries 0")
            .replace("    option httpchk GET /health\n", "")
            .replace("timeout connect 300ms", "timeout connect 3s")
            + &format!("    server a {}\n", s.addr);
        let _p = start_proxy(&cfg);
        let got = get(format!("127.0.0.1:{listen}").parse().unwrap(), "/").status;
        let theirs = if with_haproxy {
            let (hl, hs) = (free_port(), free_port());
            let hcfg = config(hl, hs, &[], "    retries 0")
                .replace("    option httpchk GET /health\n", "")
                .replace("timeout connect 300ms", "timeout connect 3s")
                + &format!("    server a {}\n", s.addr);
            let addr: SocketAddr = format!("127.0.0.1:{hl}").parse().unwrap();
            let _h = start_haproxy(&hcfg, addr);
            Some(get(addr, "/").status)
        } else {
            None
        };
        assert_eq!(
            (got, theirs.unwrap_or(want)),
            (want, want),
            "{mode:?}: fulcrum {got}, haproxy {theirs:?}"
        );
        let stats: SocketAddr = format!("127.0.0.1:{stats}").parse().unwrap();
        assert!(
            wait_until(Duration::from_secs(3), || s.open() == 0
                && stat(stats, "app", "BACKEND")["scur"] == "0"),
            "{mode:?}: a connection is left open"
        );
    }
}
