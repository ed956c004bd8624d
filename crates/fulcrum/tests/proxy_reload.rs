//! Hitless operations of `fulcrum proxy`: soft stop (SIGUSR1, `grace`, `hard-stop-after`), master-worker reloads
//! under load (`-W`, SIGUSR2, the master CLI's `reload`), systemd notification (`-Ws`), and the standalone hand-over
//! (`-x` with `expose-fd listeners`, `-sf`). Everything runs on loopback; processes are stopped by pid.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_fulcrum");

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fulcrum-reload-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (SIGKILL, by pid) when dropped.
struct Running(Child);

impl Running {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.0.id() as i32)
    }

    fn signal(&self, sig: Signal) {
        kill(self.pid(), sig).unwrap();
    }

    fn wait_exit(&mut self, within: Duration, what: &str) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str], cfg: &Path, log: &Path) -> Running {
    Running(
        Command::new(BIN)
            .arg("proxy")
            .args(args)
            .arg("-f")
            .arg(cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One `GET /` with `Connection: close`: the whole answer.
fn get(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn unix_cli(path: &Path, cmd: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n";

/// An origin that answers every request with a `size`-byte body, written in 64 KiB pieces `pause` apart.
fn slow_origin(size: usize, pause: Duration) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut head = Vec::new();
                let mut b = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let _ = s.write_all(
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nContent-Type: application/octet-stream\r\n\r\n")
                        .as_bytes(),
                );
                let chunk = vec![b'x'; 64 * 1024];
                let mut left = size;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if s.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    left -= n;
                    std::thread::sleep(pause);
                }
            });
        }
    });
    addr
}

/// SIGUSR1 during a 10 MiB download: the download completes, an idle keep-alive connection is closed, a new
/// connection is refused at once, and the process exits when the download is over.
#[test]
fn soft_stop_lets_a_download_finish_and_refuses_new_connections() {
    const SIZE: usize = 10 * 1024 * 1024;
    let origin = slow_origin(SIZE, Duration::from_millis(8));
    let d = tempdir("soft");
    let port = free_port();
    let cfg = d.join("p.cfg");
    std::fs::write(
        &cfg,
        format!("global\n    nbthread 2\n{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\nbackend be\n    server s1 {origin}\n"),
    )
    .unwrap();
    let mut p = start(&[], &cfg, &d.join("log"));
    wait_listening(port);
    // An idle keep-alive connection (one request answered, nothing since).
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    idle.write_all(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // The download: headers and the first bytes arrive, then the soft stop.
    let mut dl = TcpStream::connect(("127.0.0.1", port)).unwrap();
    dl.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    dl.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = dl.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    // A busy keep-alive connection: a request every 50 ms, so it is never idle long enough to be closed.
    let busy = std::thread::spawn(move || {
        let mut k = TcpStream::connect(("127.0.0.1", port)).unwrap();
        k.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 4096];
        for answered in 0.. {
            if k.write_all(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n").is_err() {
                return (answered, false);
            }
            let n = k.read(&mut b).unwrap_or(0);
            if n == 0 {
                return (answered, false);
            }
            let head = String::from_utf8_lossy(&b[..n]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            if head.contains("connection: close") {
                // Then the connection ends.
                return (answered + 1, k.read(&mut b).unwrap_or(1) == 0);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        unreachable!()
    });
    std::thread::sleep(Duration::from_millis(300));
    p.signal(Signal::SIGUSR1);
    std::thread::sleep(Duration::from_millis(300));
    let (answered, closed) = busy.join().unwrap();
    assert!(
        answered > 2 && closed,
        "the busy connection did not end with 'Connection: close' ({answered} answers)"
    );
    let refused = TcpStream::connect(("127.0.0.1", port));
    assert!(
        refused.is_err(),
        "a new connection was accepted after the soft stop"
    );
    // The idle connection was closed.
    assert_eq!(
        idle.read(&mut buf).unwrap_or(0),
        0,
        "idle connection still open"
    );
    assert!(
        p.0.try_wait().unwrap().is_none(),
        "exited during the download"
    );
    // The download goes on to its last byte.
    let split = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&got[..split]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Read to the end: the connection closes after the response (a time-out here fails the test).
    let mut body = got.len() - split;
    loop {
        match dl.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => body += n,
            Err(e) => panic!("download cut after {body} bytes: {e}"),
        }
    }
    assert_eq!(body, SIZE, "download incomplete");
    let status = p.wait_exit(Duration::from_secs(5), "no exit after the download ended");
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(d);
}

/// `grace`: connections are still accepted for that long after SIGUSR1; `hard-stop-after`: a `mode tcp` session
/// that never ends is closed then, and the process exits.
#[test]
fn grace_and_hard_stop_after_bound_a_soft_stop() {
    // A TCP echo server: the session lasts as long as the client keeps it.
    let echo = TcpListener::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in echo.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut b = [0u8; 1024];
                while let Ok(n) = s.read(&mut b) {
                    if n == 0 || s.write_all(&b[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let d = tempdir("hard");
    let port = free_port();
    let cfg = d.join("p.cfg");
    std::fs::write(
        &cfg,
        format!("global\n    grace 700ms\n    hard-stop-after 2s\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\nlisten echo\n    bind 127.0.0.1:{port}\n    server e {echo_addr}\n"),
    )
    .unwrap();
    let mut p = start(&[], &cfg, &d.join("log"));
    wait_listening(port);
    let mut session = TcpStream::connect(("127.0.0.1", port)).unwrap();
    session
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    session.write_all(b"ping").unwrap();
    let mut b = [0u8; 16];
    assert_eq!(session.read(&mut b).unwrap(), 4);
    let t0 = Instant::now();
    p.signal(Signal::SIGUSR1);
    std::thread::sleep(Duration::from_millis(200));
    // Within the grace period: still accepting.
    let mut late = TcpStream::connect(("127.0.0.1", port)).expect("refused within grace");
    late.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    late.write_all(b"pong").unwrap();
    assert_eq!(late.read(&mut b).unwrap(), 4);
    drop(late);
    std::thread::sleep(Duration::from_millis(900));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still accepting after the grace period"
    );
    // The session still works until hard-stop-after.
    session.write_all(b"ping").unwrap();
    assert_eq!(session.read(&mut b).unwrap(), 4);
    let status = p.wait_exit(Duration::from_secs(5), "no exit at hard-stop-after");
    let took = t0.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took >= Duration::from_millis(1900),
        "exited before hard-stop-after: {took:?}"
    );
    assert_eq!(session.read(&mut b).unwrap_or(0), 0, "session not closed");
    let _ = std::fs::remove_dir_all(d);
}

fn reload_config(port: u16, origin: std::net::SocketAddr, generation: usize) -> String {
    format!(
        "global\n    nbthread 2\n    hard-stop-after 20s\n{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\nbackend be\n    http-response set-header X-Gen g{generation}\n    server s1 {origin}\n"
    )
}

/// The header `X-Gen` of a `GET /`.
fn generation(port: u16) -> String {
    let r = get(port);
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    r.lines()
        .find_map(|l| l.strip_prefix("x-gen: ").or(l.strip_prefix("X-Gen: ")))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// What a wrk run reported: (requests, non-2xx responses, socket errors).
fn wrk_figures(out: &str) -> (u64, u64, u64) {
    let requests = out
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or(0);
    let non2xx = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let errors = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Socket errors:"))
        .map(|e| {
            e.split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    (requests, non2xx, errors)
}

/// 20 reloads of a master-worker proxy (one with an invalid configuration in the middle) while one wrk drives
/// keep-alive load and another `Connection: close` load: no failed request, no socket error; after the invalid
/// one the previous configuration still serves; after the last one its header is served; `show proc` counts the
/// reloads and the failure.
#[test]
fn twenty_reloads_under_keep_alive_and_close_load_lose_nothing() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: skipped");
        return;
    }
    let origin =
        fulcrum_proxy::origin::Origin::start("web1", "127.0.0.1:0".parse().unwrap()).unwrap();
    let d = tempdir("load");
    let port = free_port();
    let cfg = d.join("p.cfg");
    let mcli = d.join("master.sock");
    std::fs::write(&cfg, reload_config(port, origin.addr(), 0)).unwrap();
    let p = start(&["-W", "-S", mcli.to_str().unwrap()], &cfg, &d.join("log"));
    wait_listening(port);
    assert_eq!(generation(port), "g0");
    let url = format!("http://127.0.0.1:{port}/");
    let wrk = |extra: &[&str]| {
        Command::new("wrk")
            .args(["-t1", "-c20", "-d12s", "--latency"])
            .args(extra)
            .arg(&url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let keep_alive = wrk(&[]);
    let close = wrk(&["-H", "Connection: close"]);
    std::thread::sleep(Duration::from_millis(500));
    let mut last = 0;
    for i in 1..=20 {
        if i == 10 {
            // An invalid configuration: nothing changes.
            std::fs::write(
                &cfg,
                format!(
                    "{}    bogus-keyword\n",
                    reload_config(port, origin.addr(), 99)
                ),
            )
            .unwrap();
            let answer = unix_cli(&mcli, "reload");
            assert!(answer.starts_with("Success=0"), "{answer}");
            assert!(answer.contains("bogus-keyword"), "{answer}");
            assert_eq!(generation(port), format!("g{last}"));
            continue;
        }
        std::fs::write(&cfg, reload_config(port, origin.addr(), i)).unwrap();
        if i % 2 == 0 {
            let answer = unix_cli(&mcli, "reload");
            assert!(answer.starts_with("Success=1"), "{answer}");
        } else {
            p.signal(Signal::SIGUSR2);
        }
        // The old worker stops accepting once the new one serves: then only the new one answers.
        let deadline = Instant::now() + Duration::from_secs(10);
        while generation(port) != format!("g{i}") {
            assert!(Instant::now() < deadline, "reload {i} never served");
            std::thread::sleep(Duration::from_millis(20));
        }
        last = i;
        std::thread::sleep(Duration::from_millis(250));
    }
    let procs = unix_cli(&mcli, "show proc");
    let master = procs.lines().nth(1).unwrap_or("");
    assert!(master.contains("19 [failed: 1]"), "{procs}");
    for (name, child) in [("keep-alive", keep_alive), ("close", close)] {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let (requests, non2xx, errors) = wrk_figures(&text);
        eprintln!("wrk {name}: {requests} requests, {non2xx} non-2xx, {errors} socket errors");
        assert!(requests > 1000, "{name}: too few requests\n{text}");
        assert_eq!(non2xx, 0, "{name}: failed requests\n{text}");
        assert_eq!(errors, 0, "{name}: socket errors\n{text}");
    }
    assert_eq!(generation(port), "g20");
    drop(p);
    let _ = std::fs::remove_dir_all(d);
}

/// `-Ws`: READY=1 once the worker serves, RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a reload, and
/// STATUS=Reload failed! after an invalid one.
#[test]
fn systemd_mode_notifies_ready_reloading_and_failures() {
    let d = tempdir("notify");
    let port = free_port();
    let cfg = d.join("p.cfg");
    let body = format!("{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n    http-request return status 200 content-type text/plain string ok\n");
    std::fs::write(&cfg, &body).unwrap();
    let sock_path = d.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let p = Running(
        Command::new(BIN)
            .args(["proxy", "-Ws", "-f"])
            .arg(&cfg)
            .env("NOTIFY_SOCKET", &sock_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let recv = || {
        let mut b = [0u8; 1024];
        let n = sock.recv(&mut b).expect("no notification");
        String::from_utf8_lossy(&b[..n]).into_owned()
    };
    let ready = recv();
    assert!(ready.contains("READY=1"), "{ready}");
    assert!(get(port).starts_with("HTTP/1.1 200"));
    p.signal(Signal::SIGUSR2);
    let reloading = recv();
    assert!(
        reloading.contains("RELOADING=1") && reloading.contains("MONOTONIC_USEC="),
        "{reloading}"
    );
    let after = recv();
    assert!(
        after.contains("READY=1") && after.contains("STATUS=Ready"),
        "{after}"
    );
    std::fs::write(&cfg, format!("{body}    bogus-keyword\n")).unwrap();
    p.signal(Signal::SIGHUP);
    assert!(recv().contains("RELOADING=1"));
    let failed = recv();
    assert!(failed.contains("STATUS=Reload failed!"), "{failed}");
    assert!(get(port).starts_with("HTTP/1.1 200"));
    drop(p);
    let _ = std::fs::remove_dir_all(d);
}

/// Standalone hand-over: a second process takes the listening sockets of the first through its
/// `stats socket ... expose-fd listeners` (`-x`) and soft-stops it (`-sf`); the port never stops answering.
#[test]
fn x_and_sf_hand_the_listeners_to_a_new_process() {
    let d = tempdir("xsf");
    let port = free_port();
    let stats = d.join("stats.sock");
    let cfg = |text: &str| {
        format!(
            "global\n    stats socket {} level admin expose-fd listeners\n{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n    http-request return status 200 content-type text/plain string {text}\n",
            stats.display()
        )
    };
    let cfg1 = d.join("one.cfg");
    std::fs::write(&cfg1, cfg("one")).unwrap();
    let mut first = start(&[], &cfg1, &d.join("log1"));
    wait_listening(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stats.exists() {
        assert!(Instant::now() < deadline, "no stats socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(get(port).ends_with("one"));
    // Connections keep being answered during the hand-over.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut failures = 0;
            let mut served = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = get(port);
                if r.starts_with("HTTP/1.1 200") {
                    served += 1;
                } else {
                    failures += 1;
                }
            }
            (served, failures)
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let cfg2 = d.join("two.cfg");
    std::fs::write(&cfg2, cfg("two")).unwrap();
    let pid1 = first.0.id().to_string();
    let _second = start(
        &["-x", stats.to_str().unwrap(), "-sf", &pid1],
        &cfg2,
        &d.join("log2"),
    );
    let status = first.wait_exit(Duration::from_secs(10), "the first process did not stop");
    assert!(status.success(), "{status:?}");
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (served, failures) = prober.join().unwrap();
    assert!(served > 10, "{served}");
    assert_eq!(failures, 0, "requests failed during the hand-over");
    assert!(get(port).ends_with("two"));
    let _ = std::fs::remove_dir_all(d);
}

/// A `mode tcp` session keeps its old worker draining: `show proc` lists it under `# old workers` with the reloads
/// it has seen; `mworker-max-reloads 1` stops it (SIGTERM) at the second reload, which ends the session.
#[test]
fn old_workers_are_listed_and_stopped_after_mworker_max_reloads() {
    let echo = TcpListener::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in echo.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut b = [0u8; 1024];
                while let Ok(n) = s.read(&mut b) {
                    if n == 0 || s.write_all(&b[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let d = tempdir("maxreloads");
    let port = free_port();
    let cfg = d.join("p.cfg");
    let mcli = d.join("master.sock");
    std::fs::write(
        &cfg,
        format!("global\n    mworker-max-reloads 1\n    hard-stop-after 60s\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 60s\n    timeout server 60s\nlisten echo\n    bind 127.0.0.1:{port}\n    server e {echo_addr}\n"),
    )
    .unwrap();
    let _p = start(&["-W", "-S", mcli.to_str().unwrap()], &cfg, &d.join("log"));
    wait_listening(port);
    let mut session = TcpStream::connect(("127.0.0.1", port)).unwrap();
    session
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut b = [0u8; 16];
    session.write_all(b"ping").unwrap();
    assert_eq!(session.read(&mut b).unwrap(), 4);
    let first = unix_cli(&mcli, "show proc");
    let first_pid = first
        .lines()
        .nth(3)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(unix_cli(&mcli, "reload").starts_with("Success=1"));
    std::thread::sleep(Duration::from_millis(300));
    let procs = unix_cli(&mcli, "show proc");
    let lines: Vec<&str> = procs.lines().collect();
    assert!(lines[1].contains("1 [failed: 0]"), "{procs}");
    assert_eq!(lines[2], "# workers", "{procs}");
    assert_eq!(lines[4], "# old workers", "{procs}");
    let old: Vec<&str> = lines[5].split_whitespace().collect();
    assert_eq!(
        (old[0], old[1], old[2]),
        (first_pid.as_str(), "worker", "1"),
        "{procs}"
    );
    // The session still runs on the old worker.
    session.write_all(b"ping").unwrap();
    assert_eq!(session.read(&mut b).unwrap(), 4);
    assert!(unix_cli(&mcli, "reload").starts_with("Success=1"));
    // Two reloads seen, more than 1: the old worker is stopped, and the session with it.
    assert_eq!(session.read(&mut b).unwrap_or(0), 0, "the session survived");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let procs = unix_cli(&mcli, "show proc");
        if !procs.contains(&format!("\n{first_pid} ")) {
            break;
        }
        assert!(Instant::now() < deadline, "{procs}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(d);
}

/// Master-worker reloads keep the stick tables of a `peers` section that has only the local peer: each old
/// worker, soft-stopping, teaches its tables to the new one through the local peer's address, as HAProxy does.
#[test]
fn stick_tables_survive_reloads_through_the_local_peer() {
    let d = tempdir("peers");
    let (port, peer) = (free_port(), free_port());
    let cfg = d.join("p.cfg");
    let sock = d.join("stats.sock");
    std::fs::write(
        &cfg,
        format!(
            "global\n    stats socket {} level admin\n{DEFAULTS}peers local\n    peer me 127.0.0.1:{peer}\nfrontend fe\n    bind 127.0.0.1:{port}\n    stick-table type ip size 1k expire 60s store http_req_cnt peers local\n    http-request track-sc0 src\n    http-request return status 200\n",
            sock.display()
        ),
    )
    .unwrap();
    let p = start(&["-W", "-L", "me"], &cfg, &d.join("log"));
    wait_listening(port);
    assert!(get(port).starts_with("HTTP/1.1 200"));
    assert!(get(port).starts_with("HTTP/1.1 200"));
    // the counter of 127.0.0.1 in the table, as the current worker's stats socket shows it
    let has = |n: u32| {
        let t = std::os::unix::net::UnixStream::connect(&sock)
            .map(|_| unix_cli(&sock, "show table fe"))
            .unwrap_or_default();
        t.lines().any(|l| {
            l.contains("key=127.0.0.1 use=0 exp=") && l.ends_with(&format!("http_req_cnt={n}"))
        })
    };
    assert!(has(2));
    let worker = || {
        std::os::unix::net::UnixStream::connect(&sock)
            .map(|_| unix_cli(&sock, "show info"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("Pid: ").map(str::to_string))
            .unwrap_or_default()
    };
    for round in 0..2u32 {
        let old = worker();
        assert!(!old.is_empty());
        p.signal(Signal::SIGUSR2);
        let deadline = Instant::now() + Duration::from_secs(10);
        while worker() == old || worker().is_empty() {
            assert!(Instant::now() < deadline, "round {round}: no new worker");
            std::thread::sleep(Duration::from_millis(20));
        }
        // the new worker's stats socket answers with what the old one taught it (one request more each round)
        while !has(2 + round) {
            assert!(
                Instant::now() < deadline,
                "round {round}: {}",
                unix_cli(&sock, "show table fe")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(get(port).starts_with("HTTP/1.1 200"));
        assert!(has(3 + round), "{}", unix_cli(&sock, "show table fe"));
    }
    drop(p);
    let _ = std::fs::remove_dir_all(d);
}
