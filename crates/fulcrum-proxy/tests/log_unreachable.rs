//! `log` targets that cannot be reached: the proxy says so on stderr in HAProxy's words (`[ALERT]    (PID) :
//! sendmsg()/writev() failed in logger #N: No such file or directory (errno=2)`), once per destination within a
//! burst, counts every lost line in `show info`'s `DroppedLogs`, and still delivers to the targets that work.
//!
//! The proxy's stderr is the process's file descriptor 2, which a test cannot read in its own process: the test
//! runs itself again as a child process (the same test, told so by an environment variable) that runs the proxy
//! until its stdin closes; the parent sends the traffic, reads the stats socket and the child's stderr.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

/// Set in the child process: the configuration it runs.
const CHILD_CFG: &str = "FULCRUM_TEST_LOG_UNREACHABLE_CFG";
/// Requests in the burst.
const REQUESTS: usize = 30;

fn temp(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("fulcrum-logdrop-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Collects the datagrams sent to a unix socket (a reachable syslog).
struct UnixSyslog {
    path: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UnixSyslog {
    fn start(path: PathBuf) -> UnixSyslog {
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (lines.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            // Bounded: a test never lasts this long.
            let until = Instant::now() + Duration::from_secs(120);
            while Instant::now() < until && !s.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    l.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
            }
        });
        UnixSyslog {
            path,
            lines,
            stop,
            thread: Some(thread),
        }
    }

    fn count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }
}

impl Drop for UnixSyslog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A child process, killed (by its handle) if still running when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Reads all of `r` on a thread (so that a full pipe never blocks the child).
fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// Waits at most `limit` for the child to exit.
fn wait_exit(p: &mut Proc, limit: Duration) -> bool {
    wait_until(limit, || matches!(p.0.try_wait(), Ok(Some(_))))
}

/// `show info` on the stats socket at `path`: the value of `DroppedLogs`.
fn dropped_logs(path: &Path) -> Option<u64> {
    let mut s = UnixStream::connect(path).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"show info\n").ok()?;
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines()
        .find_map(|l| l.strip_prefix("DroppedLogs: "))
        .and_then(|v| v.trim().parse().ok())
}

/// The configuration: the reachable `ok` socket is logger #1 and the missing `global` path #2 of every proxy
/// with `log global`; the proxy's own missing path comes after them, #3 (HAProxy numbers them so: observed).
fn config(
    ok: &Path,
    missing_global: &Path,
    missing_own: &Path,
    stats: &Path,
    port: u16,
    origin: SocketAddr,
) -> String {
    format!(
        "global
    nbthread 1
    log {ok} local0
    log {missing_global} local0
    stats socket {stats} level admin

defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 1s
    timeout client 5s
    timeout server 5s

listen app
    bind 127.0.0.1:{port}
    log {missing_own} local1
    server s1 {origin}
",
        ok = ok.display(),
        missing_global = missing_global.display(),
        missing_own = missing_own.display(),
        stats = stats.display(),
    )
}

/// The child's part: runs `text` until stdin closes.
fn run_child(text: &str) {
    let config = fulcrum_config::haproxy::parse_str("test.cfg", text)
        .unwrap_or_else(|e| panic!("fulcrum rejects the test config:\n{e}\n{text}"));
    let running = fulcrum_proxy::start(&config).expect("proxy starts");
    println!("LISTEN {}", running.local_addrs()[0].1);
    std::io::stdout().flush().unwrap();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    running.stop();
}

/// The `sendmsg()` alerts in `stderr`, each without its `[ALERT]    (PID) : ` prefix (which is checked against
/// `pid`).
fn alerts(stderr: &str, pid: u32) -> Vec<String> {
    let prefix = format!("[ALERT]    ({pid}) : ");
    stderr
        .lines()
        .filter(|l| l.contains("sendmsg()"))
        .map(|l| {
            l.strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("not HAProxy's alert prefix for pid {pid}: {l:?}"))
                .to_string()
        })
        .collect()
}

#[test]
fn unreachable_log_targets_alert_once_and_count_their_lost_lines() {
    if let Ok(text) = std::env::var(CHILD_CFG) {
        run_child(&text);
        return;
    }
    let origins = origins(1);
    let ok = UnixSyslog::start(temp("ok.sock"));
    let (missing_global, missing_own) = (temp("missing-global.sock"), temp("missing-own.sock"));
    let stats = temp("stats.sock");
    let text = config(
        &ok.path,
        &missing_global,
        &missing_own,
        &stats,
        free_port(),
        origins[0].addr(),
    );
    haproxy_accepts(&text);

    let exe = std::env::current_exe().unwrap();
    let mut child = Proc(
        Command::new(exe)
            .args([
                "unreachable_log_targets_alert_once_and_count_their_lost_lines",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_CFG, &text)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the test runs itself"),
    );
    let pid = child.0.id();
    let stderr = drain(child.0.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            // libtest writes `test NAME ... ` before it, on the same line.
            if let Some((_, a)) = line.split_once("LISTEN ") {
                let _ = tx.send(a.parse::<SocketAddr>().unwrap());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the child proxy starts");

    for _ in 0..REQUESTS {
        assert_eq!(get(addr, "/").status, 200);
    }
    assert!(
        wait_until(Duration::from_secs(5), || ok.count() >= REQUESTS),
        "the reachable target got {} lines of {REQUESTS}",
        ok.count()
    );
    // Every line goes to the three targets: two of them lose it. The logger thread sends to #1 before it fails
    // at #2 and #3, so the count may lag the delivered lines by a moment.
    let settled = wait_until(Duration::from_secs(5), || {
        dropped_logs(&stats) == Some(2 * ok.count() as u64)
    });
    let delivered = ok.count();
    let dropped = dropped_logs(&stats);
    assert!(
        settled,
        "DroppedLogs {dropped:?}, lines delivered {delivered}"
    );
    assert_eq!(dropped, Some(2 * delivered as u64));
    assert_eq!(
        ok.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("\"GET / HTTP/1.1\""))
            .count(),
        REQUESTS
    );

    drop(child.0.stdin.take());
    assert!(
        wait_exit(&mut child, Duration::from_secs(10)),
        "the child proxy does not stop"
    );
    let stderr = stderr.join().unwrap();
    let seen = alerts(&stderr, pid);
    assert_eq!(
        seen,
        [
            "sendmsg()/writev() failed in logger #2: No such file or directory (errno=2)",
            "sendmsg()/writev() failed in logger #3: No such file or directory (errno=2)",
        ],
        "stderr:\n{stderr}"
    );
    assert_eq!(stderr.matches("[ALERT]").count(), 2, "stderr:\n{stderr}");

    // HAProxy's first alert for the same configuration is the same line (it prints no other: one per process).
    if let Some(first) = haproxy_alerts(&origins[0]).map(|a| a[0].clone()) {
        assert_eq!(first, seen[0]);
    }
    let _ = std::fs::remove_file(&stats);
}

/// Runs the real haproxy on the same kind of configuration for a few requests; its `sendmsg()` alerts, `None`
/// when haproxy is missing (a failure in CI).
fn haproxy_alerts(origin: &fulcrum_proxy::origin::Origin) -> Option<Vec<String>> {
    let ok = UnixSyslog::start(temp("hap-ok.sock"));
    let stats = temp("hap-stats.sock");
    let port = free_port();
    let text = config(
        &ok.path,
        &temp("hap-missing-global.sock"),
        &temp("hap-missing-own.sock"),
        &stats,
        port,
        origin.addr(),
    );
    let cfg = temp("hap.cfg");
    std::fs::write(&cfg, &text).unwrap();
    let child = Command::new("haproxy")
        .arg("-f")
        .arg(&cfg)
        .arg("-db")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => Proc(c),
        Err(e) if !peers_required() => {
            eprintln!("skipping the comparison with haproxy: {e}");
            let _ = std::fs::remove_file(&cfg);
            return None;
        }
        Err(e) => panic!("haproxy is needed for the comparison: {e}"),
    };
    let pid = child.0.id();
    let stderr = drain(child.0.stderr.take().unwrap());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || UnixStream::connect(&stats)
            .is_ok()),
        "haproxy does not start"
    );
    for _ in 0..5 {
        assert_eq!(get(addr, "/").status, 200);
    }
    assert!(wait_until(Duration::from_secs(5), || ok.count() >= 5));
    let _ = child.0.kill();
    let _ = child.0.wait();
    let stderr = stderr.join().unwrap();
    let _ = std::fs::remove_file(&cfg);
    let _ = std::fs::remove_file(&stats);
    let seen = alerts(&stderr, pid);
    assert_eq!(seen.len(), 1, "haproxy's stderr:\n{stderr}");
    Some(seen)
}
