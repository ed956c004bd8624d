//! `http-check disable-on-404`, run by fulcrum and by the real haproxy 2.6 against the same servers, whose
//! health answers (200, 404, 500) the test changes: an UP server answering 404 stops taking new traffic (NOLB)
//! but keeps its persistent clients, comes back with a 200, goes DOWN with errors; the `log-health-checks` and
//! state lines are compared step by step.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::syslog::Syslog;
use common::*;

/// A server answering every request with the status its switch holds and its name in `x-served-by`.
struct Switchable {
    addr: SocketAddr,
    code: Arc<AtomicU16>,
}

impl Switchable {
    fn start(name: &'static str, code: u16) -> Switchable {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let code = Arc::new(AtomicU16::new(code));
        let c = code.clone();
        std::thread::spawn(move || {
            for s in l.incoming().take(500) {
                let Ok(mut s) = s else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let status = c.load(Ordering::Relaxed);
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nx-served-by: {name}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
            }
        });
        Switchable { addr, code }
    }

    fn set(&self, code: u16) {
        self.code.store(code, Ordering::Relaxed);
    }
}

fn config(port: u16, log: u16, s: SocketAddr, t: SocketAddr) -> String {
    format!(
        "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\n\
frontend web\n    bind 127.0.0.1:{port}\n    default_backend app\n\n\
backend app\n    log 127.0.0.1:{log} local0\n    option log-health-checks\n    option httpchk GET /health\n\
    http-check disable-on-404\n    cookie SRV insert indirect nocache\n\
    server s {s} cookie s check inter 150ms rise 2 fall 2\n    server t {t} cookie t check inter 150ms rise 2 fall 2\n"
    )
}

/// The messages of one run, step by step (durations blanked), and who served the requests of each step.
fn run(start: impl FnOnce(&str, SocketAddr) -> Box<dyn std::any::Any>) -> Vec<String> {
    let (s, t) = (Switchable::start("s", 200), Switchable::start("t", 404));
    let log = Syslog::start();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _running = start(&config(port, log.addr.port(), s.addr, t.addr), addr);
    let shape = |m: &str| {
        regex::Regex::new(r"check duration: \d+ms")
            .unwrap()
            .replace(m, "check duration: Nms")
            .into_owned()
    };
    let mut out = Vec::new();
    let mut seen = 0;
    let mut step = |out: &mut Vec<String>, what: &str, lines: usize| {
        let msgs = log.wait_messages(seen + lines, |_| true);
        let mut new: Vec<String> = msgs[seen.min(msgs.len())..]
            .iter()
            .map(|m| shape(m))
            .collect();
        seen = msgs.len();
        new.sort();
        out.push(format!("== {what}"));
        out.extend(new);
    };
    // t answers 404 from the start: it is UP (servers start UP) and stops at its first check.
    step(&mut out, "t answers 404", 3);
    let served: Vec<String> = (0..4).map(|_| served_by(&get(addr, "/"))).collect();
    out.push(format!("new clients: {served:?}"));
    // A client that has t's cookie still goes to t.
    let mut c = Client::connect(addr);
    c.send(b"GET / HTTP/1.1\r\nHost: test\r\nCookie: SRV=t\r\n\r\n");
    out.push(format!(
        "t's persistent client: {}",
        served_by(&c.read_response(false))
    ));
    s.set(404);
    step(&mut out, "s answers 404", 3);
    out.push(format!("new client: {}", get(addr, "/").status));
    s.set(500);
    step(&mut out, "s answers 500", 3);
    t.set(200);
    step(&mut out, "t answers 200", 2);
    let served: Vec<String> = (0..3).map(|_| served_by(&get(addr, "/"))).collect();
    out.push(format!("new clients: {served:?}"));
    out
}

#[test]
fn a_404_takes_an_up_server_out_of_the_farm_as_haproxy_does() {
    let ours = run(|cfg, _| Box::new(start_proxy(cfg)));
    let expected = [
        "== t answers 404",
        "Health check for server app/s succeeded, reason: Layer7 check passed, code: 200, check duration: Nms, status: 2/2 UP.",
        "Health check for server app/t conditionally succeeded, reason: Layer7 check conditionally passed, code: 404, check duration: Nms, status: 2/2 UP.",
        "Server app/t is stopping. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
        "new clients: [\"s\", \"s\", \"s\", \"s\"]",
        "t's persistent client: t",
        "== s answers 404",
        "Health check for server app/s conditionally succeeded, reason: Layer7 check conditionally passed, code: 404, check duration: Nms, status: 2/2 UP.",
        "Server app/s is stopping. 0 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
        "backend app has no server available!",
        "new client: 503",
    ];
    assert_eq!(ours[..expected.len()], expected, "{ours:#?}");
    let tail = &ours[expected.len()..];
    assert_eq!(tail[0], "== s answers 500");
    assert!(
        tail.contains(&"Server app/s is DOWN. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.".to_string()),
        "{tail:#?}"
    );
    assert!(
        tail.contains(&"Server app/t is UP. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.".to_string()),
        "{tail:#?}"
    );
    assert_eq!(ours.last().unwrap(), "new clients: [\"t\", \"t\", \"t\"]");
    if haproxy_present() {
        let theirs = run(|cfg, addr| Box::new(start_haproxy(cfg, addr)));
        assert_eq!(ours, theirs, "fulcrum (left) and haproxy (right) differ");
    }
}
