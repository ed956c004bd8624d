//! Response bodies spliced from the server's socket to the client's under `option splice-response` (and
//! `splice-auto`; `net::splice::exact` through `respond.rs`): intact, counted in the logs as copied bodies are,
//! the server's connection kept for the next request, no pipe used without the option or under `nosplice`, and
//! a server falling silent in the middle of a body cut after `timeout server` with HAProxy's `sD`, spliced or
//! not, and for an HTTP/2 client's stream. Request bodies spliced under `option splice-request`, bodies that end
//! with the server's connection spliced too, and the `h1` statistics counting them as haproxy 2.6 does.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::syslog::Syslog;
use common::*;

/// The body the origin sends for `/N`: N bytes that differ from one position to the next.
fn body(len: usize) -> Vec<u8> {
    noise(len as u64, len)
}

/// Reads a request head (up to the empty line); `None` when the connection ended first.
fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).ok()? == 0 {
            return None;
        }
        head.push(b[0]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// An origin answering `GET /N` with N bytes of [`noise`] and keeping its connections; `/stall/N` sends the
/// head of an N-byte body and a tenth of it, then nothing for 5 s. Counts the connections it accepted.
fn origin() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for s in l.incoming().take(64) {
            let Ok(mut s) = s else { return };
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                while let Some(head) = read_head(&mut s) {
                    let path = head.split(' ').nth(1).unwrap_or("/0").to_string();
                    let (stall, n) = match path.strip_prefix("/stall/") {
                        Some(n) => (true, n.parse().unwrap_or(0)),
                        None => (false, path[1..].parse().unwrap_or(0)),
                    };
                    let body = body(n);
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
                    if s.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    if stall {
                        let _ = s.write_all(&body[..n / 10]);
                        std::thread::sleep(Duration::from_secs(5));
                        return;
                    }
                    if s.write_all(&body).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// Taken by each test: one counts the process's pipes, which the others' proxies open too.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The pipes this process holds open (the proxy runs in it: its workers keep spliced pipes for reuse).
fn pipes() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| t.to_string_lossy().starts_with("pipe:"))
        .count()
}

/// The proxy's configuration, listening on a port of its own; `option` goes in the backend.
fn config(
    global: &str,
    option: &str,
    server: SocketAddr,
    log: SocketAddr,
    timeout_server: &str,
) -> String {
    let port = free_port();
    format!(
        "global\n    nbthread 1\n{global}\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server {timeout_server}\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    log {log} local0\n    log-format \"%ST %B %ts\"\n\
         \x20   default_backend be\n\
         backend be\n{option}    server s1 {server}\n"
    )
}

/// Three requests on one client connection: two large bodies around a small one. Returns the log lines, the
/// connections the server accepted and the pipes the process opened.
fn three_requests(global: &str, option: &str) -> (Vec<String>, usize, isize) {
    let (server, accepted) = origin();
    let log = Syslog::start();
    let before = pipes() as isize;
    let p = start_proxy(&config(global, option, server, log.addr, "5s"));
    let mut c = Client::connect(p.addr);
    for n in [3_000_000, 5, 2_000_001] {
        let r = c.get(&format!("/{n}"));
        assert_eq!(r.status, 200);
        assert!(
            r.body == body(n),
            "the body of /{n} came altered ({} bytes)",
            r.body.len()
        );
    }
    let lines = log.wait_messages(3, |_| true);
    let after = pipes() as isize;
    drop(c);
    drop(p);
    (lines, accepted.load(Ordering::SeqCst), after - before)
}

#[test]
fn large_bodies_are_spliced_intact_on_kept_connections_and_logged_as_copied_ones() {
    let _one = one_at_a_time();
    // All in one test: the pipe count is the whole process's.
    const SPLICE: &str = "    option splice-response\n";
    let (copied, copied_conns, copied_pipes) = three_requests("", "");
    let (refused, _, refused_pipes) = three_requests("    nosplice\n", SPLICE);
    let (spliced, spliced_conns, spliced_pipes) = three_requests("", SPLICE);
    let (auto, _, auto_pipes) = three_requests("", "    option splice-auto\n");
    assert_eq!(
        copied_pipes, 0,
        "pipes were opened without option splice-response"
    );
    assert_eq!(refused_pipes, 0, "nosplice opened pipes");
    assert!(spliced_pipes > 0, "no pipe was opened: nothing was spliced");
    assert!(auto_pipes > 0, "option splice-auto spliced nothing");
    // The server's connection carried all three requests: a spliced body leaves it ready for the next one.
    assert_eq!((copied_conns, spliced_conns), (1, 1));
    assert_eq!(copied.len(), 3, "{copied:?}");
    assert_eq!(spliced, copied, "the logs differ");
    assert_eq!((&auto, &refused), (&copied, &copied), "the logs differ");
    let bytes: Vec<u64> = spliced
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(bytes[0] > 3_000_000 && bytes[2] > 2_000_001, "{spliced:?}");
}

/// The proxy (or haproxy 2.6) started on `cfg`, and the address of its one `bind`; both stop when dropped.
fn start_either(cfg: &str, haproxy: bool) -> (SocketAddr, Option<Haproxy>, Option<Proxy>) {
    let bind = cfg
        .lines()
        .find_map(|l| l.trim().strip_prefix("bind "))
        .unwrap();
    let addr: SocketAddr = bind.split(' ').next().unwrap().parse().unwrap();
    if haproxy {
        (addr, Some(start_haproxy(cfg, addr)), None)
    } else {
        (addr, None, Some(start_proxy(cfg)))
    }
}

/// `/stall/N` through a proxy with `timeout server 500ms`: how long until the client's connection ends, the
/// body bytes it got, and the log line.
fn stalled(option: &str, haproxy: bool) -> (Duration, usize, String) {
    let (server, _) = origin();
    let log = Syslog::start();
    let cfg = config("", option, server, log.addr, "500ms");
    let (addr, _h, _p) = start_either(&cfg, haproxy);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    s.write_all(b"GET /stall/4000000 HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let mut b = vec![0u8; 65536];
    while let Ok(n) = s.read(&mut b) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&b[..n]);
    }
    let took = start.elapsed();
    let body = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |at| got.len() - at - 4);
    let line = log.wait_messages(1, |m| m.starts_with("200 ")).join("|");
    (took, body, line)
}

#[test]
fn a_server_silent_in_the_middle_of_a_body_is_cut_after_timeout_server() {
    let _one = one_at_a_time();
    const SPLICE: &str = "    option splice-response\n";
    let mut runs = vec![
        ("spliced", stalled(SPLICE, false)),
        ("copied", stalled("", false)),
    ];
    if haproxy_present() {
        runs.push(("haproxy", stalled("", true)));
        runs.push(("haproxy splicing", stalled(SPLICE, true)));
    }
    for (what, (took, body, line)) in runs {
        assert!(
            took < Duration::from_secs(3),
            "{what}: the client waited {took:?}"
        );
        assert_eq!(body, 400_000, "{what}: the client got {body} body bytes");
        assert!(line.ends_with(" sD"), "{what}: logged {line:?}");
    }
}

/// `/stall/N` from an HTTP/2 client (curl, prior knowledge) through a proxy with `timeout server 500ms`: how
/// long until curl gives up on the stream, and the log line.
fn stalled_h2(haproxy: bool) -> Option<(Duration, String)> {
    let (server, _) = origin();
    let log = Syslog::start();
    let cfg = config("", "", server, log.addr, "500ms");
    let cfg = cfg.replace("\n    log ", " proto h2\n    log ");
    let (addr, _h, _p) = start_either(&cfg, haproxy);
    let start = Instant::now();
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "--http2-prior-knowledge",
            "--max-time",
            "8",
        ])
        .arg(format!("http://{addr}/stall/4000000"))
        .output();
    if out.is_err() {
        assert!(!peers_required(), "curl is needed");
        return None;
    }
    let took = start.elapsed();
    let line = log.wait_messages(1, |m| m.starts_with("200 ")).join("|");
    Some((took, line))
}

#[test]
fn an_http2_clients_stream_is_reset_when_the_server_falls_silent() {
    let _one = one_at_a_time();
    let mut runs = vec![("fulcrum", stalled_h2(false))];
    if haproxy_present() {
        runs.push(("haproxy", stalled_h2(true)));
    }
    for (what, run) in runs {
        let Some((took, line)) = run else { continue };
        assert!(
            took < Duration::from_secs(3),
            "{what}: curl waited {took:?}"
        );
        assert!(line.ends_with(" sD"), "{what}: logged {line:?}");
    }
}

/// A client that sends its request for 8 MB and reads nothing, through a proxy with `timeout client 500ms`: how
/// long until the proxy closed its side, and the log line.
fn stops_reading(option: &str, haproxy: bool) -> (Duration, String) {
    let (server, _) = origin();
    let log = Syslog::start();
    let cfg = config("", option, server, log.addr, "5s")
        .replace("timeout client 5s", "timeout client 500ms");
    let (addr, _h, _p) = start_either(&cfg, haproxy);
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /8000000 HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let start = Instant::now();
    let line = log.wait_messages(1, |m| m.starts_with("200 ")).join("|");
    (start.elapsed(), line)
}

#[test]
fn a_client_that_stops_reading_is_logged_cd_after_timeout_client() {
    let _one = one_at_a_time();
    const SPLICE: &str = "    option splice-response\n";
    let mut runs = vec![
        ("spliced", stops_reading(SPLICE, false)),
        ("copied", stops_reading("", false)),
    ];
    if haproxy_present() {
        runs.push(("haproxy", stops_reading("", true)));
    }
    for (what, (took, line)) in runs {
        assert!(
            took < Duration::from_secs(4),
            "{what}: logged after {took:?}"
        );
        assert!(line.ends_with(" cD"), "{what}: logged {line:?}");
    }
}

/// The capacities of the pipes this process holds open (the proxy's pooled pipes among them).
fn pipe_sizes() -> Vec<i32> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            target
                .to_string_lossy()
                .starts_with("pipe:")
                .then_some(())?;
            let fd: i32 = e.file_name().to_string_lossy().parse().ok()?;
            // SAFETY: F_GETPIPE_SZ only reads the pipe's capacity; a descriptor closed meanwhile gives an error.
            let size = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
            (size > 0).then_some(size)
        })
        .collect()
}

/// `tune.pipesize` sets the capacity of the pipes that splice (fulcrum's own default otherwise: 256 KiB).
#[test]
fn tune_pipesize_sizes_the_pipes() {
    let _one = one_at_a_time();
    for (global, want) in [("    tune.pipesize 131072\n", 131_072), ("", 262_144)] {
        let (server, _) = origin();
        let log = Syslog::start();
        let before = pipe_sizes();
        let p = start_proxy(&config(
            global,
            "    option splice-response\n",
            server,
            log.addr,
            "5s",
        ));
        let mut c = Client::connect(p.addr);
        assert!(c.get("/3000000").body == body(3_000_000));
        let mut after = pipe_sizes();
        for s in &before {
            if let Some(at) = after.iter().position(|a| a == s) {
                after.remove(at);
            }
        }
        assert!(!after.is_empty(), "{global:?}: no pipe was opened");
        assert!(
            after.iter().all(|&s| s == want),
            "{global:?}: pipes of {after:?}"
        );
        drop(c);
        drop(p);
    }
}

#[test]
fn a_client_reading_late_gets_the_whole_spliced_body() {
    let _one = one_at_a_time();
    let (server, _) = origin();
    let log = Syslog::start();
    let p = start_proxy(&config(
        "",
        "    option splice-response\n",
        server,
        log.addr,
        "5s",
    ));
    let mut c = Client::connect(p.addr);
    c.send(b"GET /8000000 HTTP/1.1\r\nHost: test\r\n\r\n");
    // The client's socket and the proxy's fill up; the rest waits with the server meanwhile.
    std::thread::sleep(Duration::from_millis(1500));
    let r = c.read_response(false);
    assert!(
        r.body == body(8_000_000),
        "the body came altered ({} bytes)",
        r.body.len()
    );
    let r = c.get("/70000");
    assert!(r.body == body(70_000));
}

/// An origin for [`request_and_close_delimited_bodies_are_spliced_and_counted_as_haproxy`]: a request's body
/// (of known length) is read and answered with its length and byte sum; `GET /close/N` gets N bytes of
/// [`noise`] without a length, ended by closing the connection.
fn splice_origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(16) {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                while let Some(head) = read_head(&mut s) {
                    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    let mut got = vec![0u8; len];
                    if s.read_exact(&mut got).is_err() {
                        return;
                    }
                    if let Some(n) = path.strip_prefix("/close/") {
                        let n = n.parse().unwrap_or(0);
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
                        let _ = s.write_all(&body(n));
                        return;
                    }
                    let sum: u64 = got.iter().map(|&b| u64::from(b)).sum();
                    let answer = format!("{len} {sum}");
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                        answer.len()
                    );
                    if s.write_all(head.as_bytes()).is_err()
                        || s.write_all(answer.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Through the proxy (or haproxy) at `addr`: a 1 MiB POST, then on a second connection a 1 MiB response that
/// ends with the server's connection. Returns the first answer's body, the second response's head and whether
/// its body came whole.
fn splice_exchanges(addr: SocketAddr) -> (String, String, bool) {
    let n = 1 << 20;
    let mut c = Client::connect(addr);
    let mut req =
        format!("POST /post HTTP/1.1\r\nHost: t\r\nContent-Length: {n}\r\n\r\n").into_bytes();
    req.extend_from_slice(&body(n));
    c.send(&req);
    let posted = c.read_response(false).text();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    s.write_all(format!("GET /close/{n} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let at = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(got.len(), |at| at + 4);
    let head = String::from_utf8_lossy(&got[..at]).into_owned();
    (posted, head, got[at..] == body(n)[..])
}

/// The `h1_*` fields of the frontend and backend rows of `show stat typed`, by row letter and name.
fn h1_stats(sock: &std::path::Path) -> std::collections::BTreeMap<String, u64> {
    runtime_cmd(sock, "show stat typed")
        .lines()
        .filter(|l| l.starts_with("F.") || l.starts_with("B."))
        .filter_map(|l| {
            let name = l.split('.').nth(4)?;
            let value = l.rsplit(':').next()?.parse().ok()?;
            name.starts_with("h1_")
                .then(|| (format!("{}.{name}", &l[..1]), value))
        })
        .collect()
}

/// `option splice-request` splices a request body of known length to the server, and a response body that ends
/// with the server's connection is spliced to the client under `splice-response` (unchunked, `connection:
/// close`), both arriving intact. The frontend's and backend's `h1` statistics count connections, requests and
/// bytes as haproxy 2.6 counts them for the same exchanges (compared with it), with spliced bytes in both
/// directions on both sides, as HAProxy's reg-test http-messaging/http_splicing expects.
#[test]
fn request_and_close_delimited_bodies_are_spliced_and_counted_as_haproxy() {
    let _one = one_at_a_time();
    let run = |haproxy: bool| {
        let sock = unix_sock_path(if haproxy { "splice-h" } else { "splice-f" });
        let cfg = format!(
            "global\n    nbthread 1\n    stats socket {} level admin\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             \x20   option splice-request\n    option splice-response\n\
             listen li1\n    bind 127.0.0.1:{}\n    server s1 {}\n",
            sock.display(),
            free_port(),
            splice_origin()
        );
        let (addr, _h, _p) = start_either(&cfg, haproxy);
        // What the exchanges add: haproxy has already counted the connection that saw it listening.
        let before = h1_stats(&sock);
        let (posted, head, whole) = splice_exchanges(addr);
        std::thread::sleep(Duration::from_millis(300));
        let mut stats = h1_stats(&sock);
        for (field, value) in &mut stats {
            if !field.contains("_open_") {
                *value -= before.get(field).copied().unwrap_or(0);
            }
        }
        let _ = std::fs::remove_file(&sock);
        (posted, head, whole, stats)
    };
    let sum: u64 = body(1 << 20).iter().map(|&b| u64::from(b)).sum();
    let (posted, head, whole, ours) = run(false);
    assert_eq!(posted, format!("{} {sum}", 1 << 20));
    assert_eq!(head, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
    assert!(whole, "the close-delimited body did not come whole");
    for field in [
        "F.h1_spliced_bytes_in",
        "F.h1_spliced_bytes_out",
        "B.h1_spliced_bytes_in",
        "B.h1_spliced_bytes_out",
    ] {
        assert!(ours[field] > 0, "{field}: {ours:?}");
    }
    if !haproxy_present() {
        return;
    }
    let (posted_h, head_h, whole_h, theirs) = run(true);
    assert_eq!((posted, head, whole), (posted_h, head_h, whole_h));
    // How much went through pipes depends on timing; the rest is exact.
    for (field, value) in &ours {
        if field.contains("spliced") {
            assert_eq!(
                *value > 0,
                theirs[field] > 0,
                "{field}: {ours:?} {theirs:?}"
            );
        } else {
            assert_eq!(
                Some(value),
                theirs.get(field),
                "{field}: {ours:?} {theirs:?}"
            );
        }
    }
    assert_eq!(ours.len(), 16, "{ours:?}");
}

/// `maxpipes N`: no more than N pipes open in the process at once, pooled ones included. Two large bodies
/// spliced at the same time to slow readers share the one pipe `maxpipes 1` allows: the body that finds none
/// is copied meanwhile, both arrive intact, and `show info` says `Maxpipes: 1`.
#[test]
fn maxpipes_bounds_the_pipes_and_the_rest_is_copied() {
    let _one = one_at_a_time();
    let (server, _) = origin();
    let sock = unix_sock_path("maxpipes");
    let port = free_port();
    let cfg = format!(
        "global\n    nbthread 1\n    maxpipes 1\n    stats socket {} level admin\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
         backend be\n    option splice-response\n    server s1 {server}\n",
        sock.display()
    );
    let before = pipes();
    let p = start_proxy(&cfg);
    let n = 4_000_000;
    let most = Arc::new(AtomicUsize::new(0));
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (most, watching) = (most.clone(), watching.clone());
        std::thread::spawn(move || {
            while watching.load(Ordering::SeqCst) {
                most.fetch_max(pipes().saturating_sub(before), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let addr = p.addr;
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.write_all(format!("GET /{n} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                    .unwrap();
                let mut got = Vec::new();
                let mut b = vec![0u8; 32 * 1024];
                // A slow reader: both transfers overlap for most of their time.
                while got.len() < n + 40 {
                    match s.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => got.extend_from_slice(&b[..k]),
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                let at = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                got[at..] == body(n)[..]
            })
        })
        .collect();
    for r in readers {
        assert!(r.join().unwrap(), "a body did not come intact");
    }
    watching.store(false, Ordering::SeqCst);
    watcher.join().unwrap();
    let info = runtime_cmd(&sock, "show info");
    assert!(info.contains("\nMaxpipes: 1\n"), "{info}");
    // Two descriptors: one pipe at most, at any time.
    assert!(
        most.load(Ordering::SeqCst) <= 2,
        "{} pipe descriptors",
        most.load(Ordering::SeqCst)
    );
    let stat = runtime_cmd(&sock, "show stat typed");
    let spliced: u64 = stat
        .lines()
        .find(|l| l.starts_with("F.") && l.contains(".h1_spliced_bytes_out."))
        .and_then(|l| l.rsplit(':').next()?.parse().ok())
        .unwrap();
    assert!(spliced > 0, "nothing was spliced");
    assert!(spliced < 2 * n as u64, "everything was spliced: {spliced}");
    drop(p);
    let _ = std::fs::remove_file(&sock);
}
