//! `fulcrum demo`, the embedded default: it serves, spreads traffic, shows a backend failing over and back, serves
//! its stats page, Prometheus metrics and runtime API, stops cleanly on SIGINT, and prints a configuration that
//! `fulcrum proxy -c` accepts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `fulcrum demo` and the lines it printed.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Demo {
    fn start(args: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fulcrum"))
            .arg("demo")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Demo { child, lines: rx }
    }

    /// The lines printed up to and including the first one starting with `last` (or all of them after 60 s).
    fn read_until(&self, last: &str) -> Vec<String> {
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    let done = l.starts_with(last);
                    lines.push(l);
                    if done {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(_) => break,
            }
        }
        lines
    }

    /// Sends SIGINT and waits (5 s at most) for the exit.
    fn interrupt(mut self) -> (ExitStatus, Vec<String>) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("demo did not stop on SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let rest = self.lines.iter().collect();
        (status, rest)
    }
}

/// The value of the line starting with `prefix`.
fn value<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{}", lines.join("\n")))
}

/// The address and path of an `http://127.0.0.1:PORT/PATH` URL.
fn split_url(url: &str) -> (SocketAddr, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http URL: {url}"));
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    (host.parse().unwrap(), format!("/{path}"))
}

/// GETs `url`: (status code, body).
fn fetch(url: &str) -> (u16, String) {
    let (addr, path) = split_url(url);
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (code, body.to_string())
}

/// Sends one command to the runtime API at `sock` and returns the whole answer.
fn runtime(sock: &Path, cmd: &str) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn refused(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err()
}

#[test]
fn demo_serves_and_shows_failover() {
    let demo = Demo::start(&["--listen", "127.0.0.1:0"]);
    let lines = demo.read_until("serving until Ctrl-C");
    let text = lines.join("\n");
    assert!(text.contains("serving until Ctrl-C"), "{text}");
    let section = |start: &str, end: &str| -> String {
        let a = text
            .find(start)
            .unwrap_or_else(|| panic!("no {start:?} in:\n{text}"));
        let b = text[a..].find(end).map_or(text.len(), |b| a + b);
        text[a..b].to_string()
    };
    let rr = section("-- round robin", "-- backend2 starts");
    for b in ["backend1", "backend2", "backend3"] {
        assert_eq!(rr.matches(&format!("Hello from {b}")).count(), 2, "{rr}");
    }
    let failing = section("-- backend2 starts", "-- backend2 recovers");
    assert!(failing.contains("backend2 is DOWN"), "{failing}");
    assert_eq!(failing.matches("200 OK").count(), 4, "{failing}");
    assert!(!failing.contains("Hello from backend2"), "{failing}");
    let recovered = section("-- backend2 recovers", "-- tour done");
    assert!(recovered.contains("backend2 is UP"), "{recovered}");

    // The service answers while the demo keeps running.
    let service = value(&lines, "service: ").to_string();
    assert!(service.starts_with("http://127.0.0.1:"), "{service}");
    let (code, body) = fetch(&service);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("Hello from backend"), "{body}");

    // The stats page and the Prometheus metrics, on a port of their own.
    let stats = value(&lines, "stats page: ").to_string();
    let (code, page) = fetch(&stats);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("Statistics Report"), "{page}");
    for name in ["demo_servers", "backend1", "backend2", "backend3"] {
        assert!(page.contains(name), "{name} missing from the stats page");
    }
    let metrics = value(&lines, "prometheus metrics: ").to_string();
    assert!(metrics.ends_with("/metrics"), "{metrics}");
    let (code, exposition) = fetch(&metrics);
    assert_eq!(code, 200, "{exposition}");
    assert!(exposition.contains("# TYPE haproxy_"), "{exposition}");
    assert!(
        exposition
            .lines()
            .any(|l| l.starts_with("haproxy_server_status") && l.contains("backend1")),
        "{exposition}"
    );
    let (stats_addr, _) = split_url(&stats);
    let (service_addr, _) = split_url(&service);
    assert_ne!(stats_addr, service_addr);

    // The runtime API, and the line to paste.
    let sock = PathBuf::from(value(&lines, "runtime API socket: "));
    let paste = format!("try: echo \"show stat\" | socat - UNIX:{}", sock.display());
    assert!(lines.contains(&paste), "no {paste:?} in:\n{text}");
    let csv = runtime(&sock, "show stat");
    assert!(csv.starts_with("# pxname,svname,"), "{csv}");
    assert!(csv.contains("\ndemo_servers,backend2,"), "{csv}");
    let dir = sock.parent().unwrap().to_path_buf();
    assert!(dir.starts_with(std::env::temp_dir()), "{}", dir.display());

    // SIGINT: exit 0, nothing left behind.
    let (status, rest) = demo.interrupt();
    assert_eq!(status.code(), Some(0), "{status:?}; then printed {rest:?}");
    assert!(!sock.exists(), "{} left behind", sock.display());
    assert!(!dir.exists(), "{} left behind", dir.display());
    for addr in [service_addr, stats_addr] {
        assert!(refused(addr), "{addr} still accepts connections");
    }
}

#[test]
fn sigint_during_the_tour_stops_cleanly() {
    let demo = Demo::start(&["--listen", "127.0.0.1:0"]);
    let lines = demo.read_until("service: ");
    let service = value(&lines, "service: ").to_string();
    let (service_addr, _) = split_url(&service);
    let started = Instant::now();
    let (status, rest) = demo.interrupt();
    assert_eq!(status.code(), Some(0), "{status:?}; then printed {rest:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        rest.iter().any(|l| l.starts_with("runtime API socket: ")),
        "{rest:?}"
    );
    let sock = PathBuf::from(value(&rest, "runtime API socket: "));
    assert!(
        !sock.parent().unwrap().exists(),
        "{} left behind",
        sock.display()
    );
    assert!(refused(service_addr));
}

fn print_config(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fulcrum"))
        .args(["demo", "--print-config"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn printed_config_passes_fulcrum_proxy_check() {
    let cfg = print_config(&[]);
    for line in [
        "    bind 127.0.0.1:8080",
        "    bind 127.0.0.1:8081",
        "    server backend1 127.0.0.1:8082 check inter 300ms fall 2 rise 2",
        "    server backend3 127.0.0.1:8084 check inter 300ms fall 2 rise 2",
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "    stats uri /stats",
    ] {
        assert!(cfg.lines().any(|l| l == line), "no {line:?} in:\n{cfg}");
    }
    let sock = std::env::temp_dir().join("fulcrum-demo.sock");
    assert!(
        cfg.contains(&format!("    stats socket {} ", sock.display())),
        "{cfg}"
    );
    assert!(cfg.contains("# The servers backend1..3 are built into `fulcrum demo`"));
    let moved = print_config(&["--listen", "127.0.0.1:9000", "--stats", "127.0.0.1:9100"]);
    for line in [
        "    bind 127.0.0.1:9000",
        "    bind 127.0.0.1:9100",
        "    server backend1 127.0.0.1:9101 check inter 300ms fall 2 rise 2",
    ] {
        assert!(moved.lines().any(|l| l == line), "no {line:?} in:\n{moved}");
    }

    // Port 0 is chosen at run time: there is nothing to print for it.
    let out = Command::new(env!("CARGO_BIN_EXE_fulcrum"))
        .args(["demo", "--print-config", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");

    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-print-config.cfg");
    std::fs::write(&file, &cfg).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fulcrum"))
        .args(["proxy", "-c", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fulcrum proxy -c refused the printed configuration: {}\n{cfg}",
        String::from_utf8_lossy(&out.stderr)
    );
}
