//! `fulcrum proxy` as a user runs it: `-c` with file:line diagnostics, `-f DIR`, a real run with a pid file, signals.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fulcrum");

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fulcrum-cli-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn check(args: &[&Path]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("proxy").arg("-c");
    for a in args {
        cmd.arg("-f").arg(a);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_mode_reports_every_problem_with_file_and_line() {
    let d = tempdir("bad");
    let f = d.join("bad.cfg");
    std::fs::write(
        &f,
        "global\n    maxconn 100\n    bogus_kw 1\ndefaults\n    mode http\nfrontend fe\n    bind 127.0.0.1:8080\n    default_backend missing\n",
    )
    .unwrap();
    let (code, _, err) = check(&[&f]);
    assert_eq!(code, 1, "{err}");
    let name = f.display().to_string();
    assert!(
        err.contains(&format!("{name}:3")) && err.contains("bogus_kw"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{name}:8")) && err.contains("missing"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn check_mode_accepts_a_valid_directory_in_lexical_order() {
    let d = tempdir("dir");
    // The backend is declared in a later file than the frontend using it: files load in lexical order.
    std::fs::write(
        d.join("10-front.cfg"),
        "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend fe\n    bind 127.0.0.1:8080\n    default_backend be\n",
    )
    .unwrap();
    std::fs::write(
        d.join("20-back.cfg"),
        "backend be\n    server s1 127.0.0.1:8081\n",
    )
    .unwrap();
    std::fs::write(d.join("README.txt"), "not a config\n").unwrap();
    let (code, out, err) = check(&[&d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Configuration file is valid"), "{out}");
    let _ = std::fs::remove_dir_all(d);
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn runs_with_a_pidfile_and_stops_on_sigterm() {
    let origin =
        fulcrum_proxy::origin::Origin::start("web1", "127.0.0.1:0".parse().unwrap()).unwrap();
    let d = tempdir("run");
    let port = free_port();
    let cfg = d.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n    nbthread 2\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\nbackend be\n    server web1 {}\n",
            origin.addr()
        ),
    )
    .unwrap();
    let pidfile = d.join("fulcrum.pid");
    let child = Command::new(BIN)
        .arg("proxy")
        .arg("-f")
        .arg(&cfg)
        .arg("-p")
        .arg(&pidfile)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "proxy never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let resp = http_get(port);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("Hello from web1\n"), "{resp}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid as u32, running.0.id());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(st) = running.0.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn check_mode_compiles_log_formats() {
    let d = tempdir("logfmt");
    let f = d.join("logfmt.cfg");
    let text = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend fe\n    bind 127.0.0.1:8080\n    log-format \"%ci [%tr] %nosuchvar\"\n    default_backend be\nbackend be\n    server s1 127.0.0.1:8081\n";
    std::fs::write(&f, text).unwrap();
    let (code, _, err) = check(&[&f]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("{}:8", f.display())) && err.contains("nosuchvar"),
        "{err}"
    );
    // The same line with a valid format passes.
    std::fs::write(&f, text.replace(" %nosuchvar", " %ST %B")).unwrap();
    let (code, out, err) = check(&[&f]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Configuration file is valid"));
    let _ = std::fs::remove_dir_all(d);
}
