//! `fulcrum demo`, the embedded default: it serves, spreads traffic, and shows a backend failing over and back.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn demo_serves_and_shows_failover() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fulcrum"))
        .args(["demo", "--listen", "127.0.0.1:0"])
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
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => {
                let done = l.starts_with("serving until Ctrl-C");
                lines.push(l);
                if done {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(_) => break,
        }
    }
    let text = lines.join("\n");
    // The service URL is printed and answers while the demo keeps running.
    let url = lines
        .iter()
        .find_map(|l| l.strip_prefix("service: "))
        .unwrap_or_else(|| panic!("no service URL in:\n{text}"))
        .to_string();
    let port: u16 = url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches('/')
        .parse()
        .unwrap();
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

    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.contains("Hello from backend"), "{resp}");

    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("demo did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
