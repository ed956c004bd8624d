//! `bench/proxy-vs-haproxy.sh --smoke` end to end: HAProxy and this build of `fulcrum proxy` side by side for 1 s
//! each in keep-alive, tcp, idle (200 connections) and keep-alive over TLS modes; the script fails unless both
//! served requests without errors and held every idle connection. It runs the debug binary Cargo built for this
//! test (`FULCRUM_BIN`), so nothing is rebuilt in release mode. Needs haproxy, wrk, gawk, bc, taskset, curl, python3
//! and openssl; skips with a message when one is missing (scripts/install-deps.sh installs them).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fulcrum");
const TOOLS: &[&str] = &[
    "haproxy", "wrk", "gawk", "bc", "taskset", "curl", "python3", "openssl",
];

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// A port P such that P and P + 1 are free on 127.0.0.1 (the origin and the proxy of the script).
fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no two consecutive free ports");
}

#[test]
fn bench_script_smoke() {
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| !on_path(t)).collect();
    if !missing.is_empty() {
        eprintln!(
            "skipping the benchmark smoke test: missing {}",
            missing.join(", ")
        );
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/proxy-vs-haproxy.sh");
    let port = free_port_pair();
    let mut child = Command::new("bash")
        .arg(&script)
        .arg("--smoke")
        .arg("--port")
        .arg(port.to_string())
        .env("FULCRUM_BIN", BIN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The script bounds every step itself (1 s runs, a 60 s cap on opening idle connections); this is a backstop.
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(120) {
            // SIGTERM lets the script's exit trap stop the origin and the proxy it started.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("smoke: ok"),
        "bench/proxy-vs-haproxy.sh --smoke failed ({}) after {:?}:\n{stdout}\n{stderr}",
        out.status,
        t0.elapsed()
    );
    for scen in ["ka", "tcp", "idle"] {
        for who in ["haproxy", "fulcrum"] {
            assert!(
                stdout
                    .lines()
                    .any(|l| l.split_whitespace().take(2).eq([scen, who])),
                "no {scen} row for {who}:\n{stdout}"
            );
        }
    }
}
