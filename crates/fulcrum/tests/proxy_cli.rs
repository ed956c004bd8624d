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
    // HAProxy's reload signals do not end a standalone process (only a master reloads: nothing changes).
    for sig in [
        nix::sys::signal::Signal::SIGHUP,
        nix::sys::signal::Signal::SIGUSR2,
    ] {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(running.0.try_wait().unwrap().is_none(), "{sig:?} ended it");
        assert!(http_get(port).starts_with("HTTP/1.1 200"));
    }
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

/// A listening socket the child inherits (close-on-exec cleared), as systemd and HAProxy's test harness pass them.
fn inheritable_listener() -> (std::net::TcpListener, i32) {
    use std::os::fd::AsRawFd;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fd = l.as_raw_fd();
    // SAFETY: F_SETFD on a descriptor this function owns; only the close-on-exec flag changes.
    assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, 0);
    (l, fd)
}

/// Sends one command over a TCP stats socket and reads the answer until the socket closes.
fn cli_tcp(addr: std::net::SocketAddr, cmd: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// `bind fd@N` and `stats socket fd@N` serve on sockets inherited from the parent, `stats socket IP:PORT` on TCP;
/// `-L` is accepted, `-c` checks that an `fd@` names an open listening socket, and the inherited sockets work.
#[test]
fn inherited_listeners_and_tcp_stats_sockets() {
    let d = tempdir("fd");
    let (fe, fe_fd) = inheritable_listener();
    let (cli, cli_fd) = inheritable_listener();
    let tcp_cli = free_port();
    let cfg = d.join("fd.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n    stats socket fd@{cli_fd} level admin\n    stats socket ipv4@127.0.0.1:{tcp_cli} level operator\n\
             defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n\
             frontend fe\n    bind \"fd@${{FE_FD}}\"\n    http-request return status 200 content-type text/plain string inherited\n"
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("proxy")
            .args(args)
            .arg("-f")
            .arg(&cfg)
            .env("FE_FD", fe_fd.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let out = run(&["-c", "-L", "peer1"]).wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An fd@ naming a descriptor that is not open fails -c with the line, as haproxy -c does.
    let bad = d.join("bad.cfg");
    std::fs::write(&bad, "frontend fe\n    mode http\n    bind fd@987\n").unwrap();
    let (code, _, err) = check(&[&bad]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("bad.cfg:3") && err.contains("file descriptor '987'"),
        "{err}"
    );

    let mut child = Running(run(&["-d", "-L", "peer1"]));
    let fe_addr = fe.local_addr().unwrap();
    let cli_addr = cli.local_addr().unwrap();
    drop((fe, cli));
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let mut s = TcpStream::connect(fe_addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        if !out.is_empty() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("inherited"),
        "{answer}"
    );
    assert!(
        cli_tcp(cli_addr, "show info").contains("Name: "),
        "inherited stats socket"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let stat = loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", tcp_cli)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"show stat\n").unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            break out;
        }
        assert!(Instant::now() < deadline, "TCP stats socket never opened");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(stat.starts_with("# pxname,svname,"), "{stat}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.0.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no exit after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(d);
}

/// `-cc EXPR` answers as haproxy does: 0 true, 1 false, 2 with an alert when the condition does not parse.
#[test]
fn condition_check_exit_codes() {
    let cc = |expr: &str| {
        let out = Command::new(BIN)
            .args(["proxy", "-cc", expr])
            .env("FULCRUM_CC_VAR", "1")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(cc("version_atleast(2.5-dev0)").0, 0);
    // TLS is built in (on rustls), the library is not OpenSSL
    assert_eq!(cc("feature(OPENSSL)").0, 0);
    assert_eq!(cc("ssllib_name_startswith(OpenSSL)").0, 1);
    assert_eq!(
        cc("defined(FULCRUM_CC_VAR) && streq(\"$FULCRUM_CC_VAR\",1)").0,
        0
    );
    let (code, err) = cc("200rrr");
    assert_eq!(code, 2);
    assert!(
        err.contains("[ALERT]") && err.contains("condition"),
        "{err}"
    );
}

fn unix_cli(path: &Path, cmd: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// A master-worker proxy (`-W -db -S DIR/master.sock -p DIR/pid`) whose frontend answers "worker" on `port`,
/// once it serves; the process is killed when the guard drops.
struct MasterWorker {
    child: Running,
    dir: PathBuf,
    port: u16,
    mcli: PathBuf,
}

fn start_master_worker(tag: &str) -> MasterWorker {
    let dir = tempdir(tag);
    let port = free_port();
    let cfg = dir.join("mw.cfg");
    let mcli = dir.join("master.sock");
    std::fs::write(
        &cfg,
        format!(
            "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n\
             frontend fe\n    bind 127.0.0.1:{port}\n    http-request return status 200 content-type text/plain string worker\n"
        ),
    )
    .unwrap();
    let child = Running(
        Command::new(BIN)
            .args(["proxy", "-W", "-db", "-S"])
            .arg(&mcli)
            .arg("-p")
            .arg(dir.join("pid"))
            .arg("-f")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let served =
        || TcpStream::connect(("127.0.0.1", port)).is_ok() && http_get(port).ends_with("worker");
    while !(mcli.exists() && served()) {
        assert!(Instant::now() < deadline, "master-worker never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    MasterWorker {
        child,
        dir,
        port,
        mcli,
    }
}

/// `-W -S`: a master process writes the pid file, forks the worker that serves, answers `show proc` and passes
/// `@1`/`@!PID` commands to the worker; SIGINT stops both (exit 130, as HAProxy's master) and removes the master
/// CLI socket.
#[test]
fn master_worker_with_master_cli() {
    let mw = start_master_worker("mw");
    let (mut child, mcli, d) = (mw.child, mw.mcli, mw.dir);
    let pidfile = d.join("pid");
    let master = child.0.id();
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{master}\n")
    );
    let procs = unix_cli(&mcli, "show proc");
    let lines: Vec<&str> = procs.lines().collect();
    assert!(lines[0].starts_with("#<PID>          <type>"), "{procs}");
    assert!(
        lines[1].starts_with(&format!("{master:<15} master ")),
        "{procs}"
    );
    assert_eq!(lines[2], "# workers", "{procs}");
    let worker: u32 = lines[3].split_whitespace().next().unwrap().parse().unwrap();
    assert_ne!(worker, master);
    let info = unix_cli(&mcli, "@1 show info");
    assert!(info.contains(&format!("\nPid: {worker}\n")), "{info}");
    let info = unix_cli(&mcli, &format!("@!{worker} show info"));
    assert!(info.contains("Process_num: 1"), "{info}");
    assert!(unix_cli(&mcli, "@7 show info").contains("Can't find the target PID"));
    // Prompt mode keeps the connection and prompts after each answer.
    let mut s = std::os::unix::net::UnixStream::connect(&mcli).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"prompt\nshow proc\nquit\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(
        out.starts_with("master> #<PID>") && out.contains("# programs\n\nmaster> "),
        "{out:?}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(master as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    assert!(!mcli.exists(), "the master CLI socket is removed");
    // The worker is gone too.
    assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(worker as i32), None).is_err());
    assert!(!std::env::temp_dir()
        .join(format!("fulcrum-master-{master}"))
        .exists());
    let _ = std::fs::remove_dir_all(d);
}

/// A worker does not outlive its master: killed with SIGKILL, the master takes the worker along.
#[test]
fn worker_stops_when_the_master_is_killed() {
    let mw = start_master_worker("mwkill");
    let (mut child, mcli, port, d) = (mw.child, mw.mcli, mw.port, mw.dir);
    let procs = unix_cli(&mcli, "show proc");
    let worker: i32 = procs
        .lines()
        .nth(3)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // Gone (or a zombie until init reaps it): either way its port closes.
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        if Instant::now() > deadline {
            // Stop it by its PID before failing, so that a failure leaves nothing behind.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(worker),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("the worker {worker} outlived its master");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(d);
}

/// The tutorial's `balance round-robin` (refused by HAProxy) runs as `roundrobin` with a warning naming file, line
/// and the right spelling; any other misspelling stays an error, as in HAProxy.
#[test]
fn tutorial_round_robin_spelling_is_accepted_with_a_warning() {
    let d = tempdir("rr-spelling");
    let body = |algo: &str| {
        format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
             frontend fe\n    bind 127.0.0.1:{}\n    default_backend be\n\
             backend be\n    balance {algo}\n    server s1 127.0.0.1:1\n",
            free_port()
        )
    };
    let ok = d.join("tutorial.cfg");
    std::fs::write(&ok, body("round-robin")).unwrap();
    let (code, out, err) = check(&[&ok]);
    assert_eq!(code, 0, "{out}{err}");
    let name = ok.display().to_string();
    assert!(
        err.contains("[WARNING]") && err.contains(&format!("{name}:10")),
        "{err}"
    );
    assert!(err.contains("'roundrobin'"), "{err}");
    let bad = d.join("typo.cfg");
    std::fs::write(&bad, body("round_robin")).unwrap();
    let (code, _, err) = check(&[&bad]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("{}:10", bad.display())) && err.contains("round_robin"),
        "{err}"
    );
    // HAProxy itself refuses the tutorial's spelling: the warning is a deliberate kindness, not a copy.
    if let Ok(out) = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&ok)
        .output()
    {
        assert_ne!(out.status.code(), Some(0), "haproxy accepted round-robin");
    }
    let _ = std::fs::remove_dir_all(d);
}

/// `--help` ends with the signals and where the stats page, the metrics and the runtime API are configured; the
/// keywords it shows are ones `-c` accepts and the docs it names exist. Usage errors print the usage alone.
#[test]
fn help_lists_signals_and_where_to_look() {
    let out = Command::new(BIN)
        .args(["proxy", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.starts_with("Usage: fulcrum proxy "), "{help}");
    let signals = help.find("\nSignals:\n").expect("a Signals block");
    let see_also = help.find("\nSee also:\n").expect("a See also block");
    assert!(signals < see_also, "{help}");
    for s in [
        "SIGTERM, SIGINT  stop at once",
        "SIGUSR1",
        "SIGHUP",
        "SIGUSR2",
        "with -W",
        "stats uri /stats",
        "http-request use-service prometheus-exporter if { path /metrics }",
        "stats socket /run/fulcrum/admin.sock mode 600 level admin",
    ] {
        assert!(help[signals..].contains(s), "{s:?} missing:\n{help}");
    }
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for doc in ["docs/OPERATIONS.md", "docs/COMPATIBILITY.md"] {
        assert!(help[see_also..].contains(doc), "{doc} missing:\n{help}");
        assert!(docs.join(doc).is_file(), "{doc} does not exist");
    }

    let d = tempdir("help-keywords");
    let cfg = d.join("stats.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n    stats socket {}/admin.sock mode 600 level admin\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
             frontend fe\n    bind 127.0.0.1:{}\n    stats uri /stats\n\
             \x20   http-request use-service prometheus-exporter if {{ path /metrics }}\n    default_backend be\n\
             backend be\n    server s1 127.0.0.1:1\n",
            d.display(),
            free_port()
        ),
    )
    .unwrap();
    let (code, out, err) = check(&[&cfg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.is_empty(), "{err}");

    let out = Command::new(BIN).args(["proxy", "-Z"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Usage: fulcrum proxy") && !err.contains("See also:"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(d);
}

/// Kills the given processes by PID when dropped (programs a failed test would leave behind).
struct KillPids(Vec<i32>);

impl Drop for KillPids {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

fn wait_exit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `program` sections: the master starts each command beside the worker, `show proc` lists them under
/// `# programs`, and a stop signal reaches them too; `-c` refuses them without master-worker mode (`-W` or
/// `master-worker` in global), as HAProxy 2.6 does.
#[test]
fn program_sections_run_beside_the_worker() {
    let d = tempdir("programs");
    let port = free_port();
    let cfg = d.join("p.cfg");
    let mcli = d.join("master.sock");
    let body = format!(
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    http-request return status 200 content-type text/plain string worker\n\
         program foo\n    command sleep 30\nprogram bar\n    command sleep 31\n"
    );
    std::fs::write(&cfg, &body).unwrap();
    let (code, _, err) = check(&[&cfg]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("Can't use a 'program' section without master worker mode."),
        "{err}"
    );
    let out = Command::new(BIN)
        .args(["proxy", "-c", "-W", "-f"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let global = d.join("g.cfg");
    std::fs::write(&global, format!("global\n    master-worker\n{body}")).unwrap();
    assert_eq!(check(&[&global]).0, 0);

    let mut child = Running(
        Command::new(BIN)
            .args(["proxy", "-W", "-db", "-S"])
            .arg(&mcli)
            .arg("-f")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(mcli.exists() && TcpStream::connect(("127.0.0.1", port)).is_ok()) {
        assert!(Instant::now() < deadline, "master-worker never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    let procs = unix_cli(&mcli, "show proc");
    let lines: Vec<&str> = procs.lines().collect();
    assert_eq!(lines[4], "# programs", "{procs}");
    let pid_of = |line: &str, name: &str| -> i32 {
        let w: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(w.get(1), Some(&name), "{procs}");
        assert_eq!(w.get(4), Some(&"-"), "{procs}");
        w[0].parse().unwrap()
    };
    let programs = KillPids(vec![pid_of(lines[5], "foo"), pid_of(lines[6], "bar")]);
    for pid in &programs.0 {
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(cmdline.starts_with("sleep\u{0}3"), "{cmdline:?}");
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_exit(&mut child.0, "no exit after SIGTERM");
    assert!(status.code().is_some(), "{status:?}");
    // The programs got the signal (sleep ends on it): gone, or zombies until init reaps them.
    for pid in &programs.0 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z ") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "program {pid} still runs: {stat}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = std::fs::remove_dir_all(d);
}

/// A program that fails (exit code 3) stops everything with SIGTERM and the master exits with its code, as
/// HAProxy's `exit-on-failure`.
#[test]
fn a_failing_program_stops_the_master() {
    let d = tempdir("progfail");
    let port = free_port();
    let cfg = d.join("p.cfg");
    std::fs::write(
        &cfg,
        format!(
            "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n\
             frontend fe\n    bind 127.0.0.1:{port}\n    http-request return status 200\n\
             program fails\n    command sh -c \"sleep 0.3; exit 3\"\n"
        ),
    )
    .unwrap();
    let mut child = Running(
        Command::new(BIN)
            .args(["proxy", "-W", "-db", "-f"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let status = wait_exit(
        &mut child.0,
        "the master did not stop after its program failed",
    );
    assert_eq!(status.code(), Some(3));
    let mut err = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("New program 'fails' (")
            && err.contains("Current program 'fails' (")
            && err.contains(") exited with code 3 (Exit)")
            && err.contains("exit-on-failure: killing every processes with SIGTERM"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(d);
}

/// `-dR` is `noreuseport` from the command line: with two worker threads sharing one listening socket bound
/// without SO_REUSEPORT, no other socket can bind the address (one can without the flag), and requests are served.
#[test]
fn dash_d_capital_r_binds_without_reuseport() {
    let origin =
        fulcrum_proxy::origin::Origin::start("web1", "127.0.0.1:0".parse().unwrap()).unwrap();
    let d = tempdir("dr");
    for (flags, alone) in [(&[][..], false), (&["-dR"][..], true)] {
        let port = free_port();
        let cfg = d.join(format!("dr-{port}.cfg"));
        std::fs::write(
            &cfg,
            format!(
                "global\n    nbthread 2\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nlisten app\n    bind 127.0.0.1:{port}\n    server web1 {}\n",
                origin.addr()
            ),
        )
        .unwrap();
        let _running = Running(
            Command::new(BIN)
                .arg("proxy")
                .args(flags)
                .arg("-f")
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(10), "never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        let other =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        other.set_reuse_port(true).unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert_eq!(other.bind(&addr.into()).is_err(), alone, "{flags:?}");
        drop(other);
        assert!(http_get(port).starts_with("HTTP/1.1 200"), "{flags:?}");
    }
    let _ = std::fs::remove_dir_all(d);
}
