//! `fulcrum proxy` as a process: the flags `-v`, `-vv`, `-q`, `-V`, `-dD`, `-d`, `-db`, `-L` and `-D`; `user`/`uid`,
//! `group`/`gid` and `chroot` applied after binding; the `stats socket` file across starts and stops. The tests that
//! change users need root: elsewhere they print why they skip (and fail when FULCRUM_REQUIRE_NETNS=1 asks for them).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fulcrum");

/// The user and group the privilege tests switch to (`nobody` / `nogroup` on Debian).
const NOBODY: u32 = 65534;

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fulcrum-proc-{}-{tag}", std::process::id()));
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

/// Whether the tests that need root run here; prints why not, and fails when FULCRUM_REQUIRE_NETNS=1 asks for them.
fn root() -> bool {
    if nix::unistd::getuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("FULCRUM_REQUIRE_NETNS").map_or(true, |v| v != "1"),
        "FULCRUM_REQUIRE_NETNS=1 but not root"
    );
    eprintln!("skip: not root");
    false
}

/// A frontend on `port` that answers every request itself.
fn config(global: &str, port: u16) -> String {
    format!(
        "global\n    nbthread 1\n{global}\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    http-request return status 200 content-type text/plain string served\n"
    )
}

fn proxy(args: &[&str], cfg: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("proxy")
        .args(args)
        .arg("-f")
        .arg(cfg)
        .env_remove("RUST_LOG");
    cmd
}

fn output(args: &[&str], cfg: &Path) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = proxy(args, cfg).output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A proxy process; killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    fn start(args: &[&str], cfg: &Path, port: u16) -> Running {
        let child = proxy(args, cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut running = Running(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !get(port).is_some_and(|r| r.ends_with("served")) {
            if let Some(st) = running.0.try_wait().unwrap() {
                let mut err = String::new();
                let _ = running.0.stderr.take().unwrap().read_to_string(&mut err);
                panic!("the proxy exited ({st:?}): {err}");
            }
            assert!(Instant::now() < deadline, "the proxy never served");
            std::thread::sleep(Duration::from_millis(50));
        }
        running
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// Sends `sig`, waits for the exit; returns the exit code and what the proxy wrote on stderr.
    fn stop(mut self, sig: nix::sys::signal::Signal) -> (Option<i32>, String) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).unwrap();
        let mut err = String::new();
        let _ = self.0.stderr.take().unwrap().read_to_string(&mut err);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.0.try_wait().unwrap() {
                return (st.code(), err);
            }
            assert!(Instant::now() < deadline, "no exit after {sig:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One request with `Connection: close`; `None` when nothing listens.
fn get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    Some(out)
}

/// One runtime API command on a unix stats socket.
fn cli(path: &Path, cmd: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// `-v` and `-vv` print the version (and the build options); `-q` silences `-c`'s verdict; `-V` is accepted;
/// `.diag` messages appear only with `-dD`.
#[test]
fn version_quiet_verbose_and_diag_flags() {
    let d = tempdir("flags");
    let cfg = d.join("p.cfg");
    std::fs::write(
        &cfg,
        format!(".diag \"a diagnostic\"\n{}", config("", free_port())),
    )
    .unwrap();
    let out = Command::new(BIN).args(["proxy", "-v"]).output().unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(v.starts_with("fulcrum proxy version "), "{v}");
    assert_eq!(v.lines().count(), 1, "{v}");
    let out = Command::new(BIN).args(["proxy", "-vv"]).output().unwrap();
    let vv = String::from_utf8_lossy(&out.stdout);
    assert!(vv.starts_with("fulcrum proxy version ") && vv.contains("\nBuild options: "));

    let (code, out, err) = output(&["-c"], &cfg);
    assert_eq!((code, out.as_str()), (0, "Configuration file is valid\n"));
    assert!(!err.contains("a diagnostic"), "{err}");
    let (code, out, _) = output(&["-c", "-q"], &cfg);
    assert_eq!((code, out.as_str()), (0, ""));
    let (code, out, _) = output(&["-c", "-V"], &cfg);
    assert_eq!((code, out.as_str()), (0, "Configuration file is valid\n"));
    let (code, _, err) = output(&["-c", "-dD"], &cfg);
    assert_eq!(code, 0);
    assert!(err.contains("a diagnostic"), "{err}");
    let _ = std::fs::remove_dir_all(d);
}

/// `quiet` in global is `-q` (no warnings, no "Configuration file is valid"), and `zero-warning` makes a
/// configuration that gives warnings fail, with haproxy 2.6's alert unless quiet; a valid configuration that gave
/// warnings says "Warnings were found." first. The exit codes and what is printed compared with `haproxy -c` on
/// the same files.
#[test]
fn quiet_and_zero_warning_in_global() {
    let d = tempdir("zero");
    // A frontend-only option in a backend: both proxies warn and ignore it.
    let warned = "backend b\n    option tcp-smart-accept\n    server s 127.0.0.1:80\n";
    let cases = [
        ("    quiet\n", "", (0, false, false)),
        ("    quiet\n", warned, (0, false, false)),
        ("", warned, (0, true, true)),
        ("    zero-warning\n", "", (0, true, false)),
        ("    zero-warning\n", warned, (1, false, true)),
        ("    zero-warning\n    quiet\n", warned, (1, false, false)),
    ];
    for (n, (global, extra, (want_code, valid, warns))) in cases.into_iter().enumerate() {
        let cfg = d.join(format!("q{n}.cfg"));
        std::fs::write(&cfg, format!("{}{extra}", config(global, free_port()))).unwrap();
        let (code, out, err) = output(&["-c"], &cfg);
        let what = format!("global {global:?}, warning {}", !extra.is_empty());
        assert_eq!(code, want_code, "{what}: {out}{err}");
        assert_eq!(
            out.contains("Configuration file is valid"),
            valid,
            "{what}: {out}"
        );
        assert_eq!(
            out.contains("Warnings were found."),
            valid && warns,
            "{what}: {out}"
        );
        assert_eq!(err.contains("tcp-smart-accept"), warns, "{what}: {err}");
        assert_eq!(
            err.contains("Some warnings were found and 'zero-warning' is set. Aborting."),
            want_code == 1 && warns,
            "{what}: {err}"
        );
        if let Ok(h) = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&cfg)
            .output()
        {
            let herr = String::from_utf8_lossy(&h.stderr);
            let hout = String::from_utf8_lossy(&h.stdout);
            assert_eq!(h.status.code(), Some(want_code), "haproxy, {what}: {herr}");
            assert_eq!(
                hout.contains("Configuration file is valid"),
                valid,
                "haproxy, {what}"
            );
            assert_eq!(
                hout.contains("Warnings were found."),
                valid && warns,
                "haproxy, {what}"
            );
            assert_eq!(
                herr.contains("tcp-smart-accept"),
                warns,
                "haproxy, {what}: {herr}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(d);
}

/// The soft descriptor limit a proxy started with a soft limit of 1024 runs with; `None` when it exited, with
/// what it printed then.
fn soft_limit_after_start(program: &str, args: &[&str], cfg: &Path) -> Result<u64, String> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    cmd.args(args).arg("-f").arg(cfg).env_remove("RUST_LOG");
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut r = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
            r.rlim_cur = 1024;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            Ok(())
        });
    }
    let mut child = Running(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if child.0.try_wait().unwrap().is_some() {
            let mut err = String::new();
            let _ = child.0.stderr.take().unwrap().read_to_string(&mut err);
            return Err(err);
        }
        let limits =
            std::fs::read_to_string(format!("/proc/{}/limits", child.pid())).unwrap_or_default();
        let soft = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(soft) = soft.filter(|&s| s != 1024) {
            return Ok(soft);
        }
        if Instant::now() > deadline {
            return Ok(1024);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `fd-hard-limit N`: the descriptor limit is raised no further than N (to N, without `maxconn`), and a
/// `maxconn` that needs more fails with haproxy 2.6's alert. Difference: haproxy 2.6 raises the limit to N - 1.
#[test]
fn fd_hard_limit_caps_the_descriptor_limit() {
    let d = tempdir("fdhard");
    let cfg = d.join("a.cfg");
    std::fs::write(&cfg, config("    fd-hard-limit 5000\n", free_port())).unwrap();
    assert_eq!(soft_limit_after_start(BIN, &["proxy"], &cfg), Ok(5000));
    let cfg = d.join("b.cfg");
    std::fs::write(
        &cfg,
        config("    fd-hard-limit 5000\n    maxconn 4000\n", free_port()),
    )
    .unwrap();
    let alert = "Cannot raise FD limit to 8017, limit is 5000.";
    let ours = soft_limit_after_start(BIN, &["proxy"], &cfg);
    assert!(ours.as_ref().is_err_and(|e| e.contains(alert)), "{ours:?}");
    // haproxy 2.6 refuses the same file with the same alert (its count of the descriptors needed, and the limit
    // it names when it does not raise it at all, differ by a few).
    if Command::new("haproxy").arg("-v").output().is_ok() {
        let theirs = soft_limit_after_start("haproxy", &["-db"], &cfg);
        assert!(
            theirs
                .as_ref()
                .is_err_and(|e| e.contains("Cannot raise FD limit to ")),
            "haproxy: {theirs:?}"
        );
    }
    let _ = std::fs::remove_dir_all(d);
}

/// `-L NAME` is exported to the configuration as `HAPROXY_LOCALPEER`; without it the variable holds the host name.
#[test]
fn local_peer_name_is_exported_to_the_configuration() {
    let d = tempdir("peer");
    let port = free_port();
    let cfg = d.join("p.cfg");
    let expecting = |name: &str| {
        std::fs::write(
            &cfg,
            format!(
                ".if !streq(\"$HAPROXY_LOCALPEER\",\"{name}\")\n.alert \"HAPROXY_LOCALPEER is '$HAPROXY_LOCALPEER'\"\n.endif\n{}",
                config("", port)
            ),
        )
        .unwrap();
    };
    expecting("peer-one");
    let (code, _, err) = output(&["-c", "-L", "peer-one"], &cfg);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = output(&["-c", "-L", "peer-two"], &cfg);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("HAPROXY_LOCALPEER is 'peer-two'"), "{err}");
    let host = nix::unistd::gethostname().unwrap();
    expecting(host.to_str().unwrap());
    let (code, _, err) = output(&["-c"], &cfg);
    assert_eq!(code, 0, "{err}");
    let _ = std::fs::remove_dir_all(d);
}

/// `-d` stays in the foreground and logs at debug level on stderr (the end of an idle keep-alive connection is a
/// debug line); `-db` stays in the foreground without debug lines; `-q` leaves out the start-up lines.
#[test]
fn debug_foreground_and_quiet_logging() {
    let d = tempdir("debug");
    let port = free_port();
    let cfg = d.join("p.cfg");
    std::fs::write(
        &cfg,
        config("", port).replace(
            "    timeout server 5s\n",
            "    timeout server 5s\n    timeout http-keep-alive 100ms\n",
        ),
    )
    .unwrap();
    let run = |flag: &str| {
        let p = Running::start(&[flag], &cfg, port);
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        // The answer, then the end of the connection once it has been idle for 100 ms.
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        assert!(String::from_utf8_lossy(&all).ends_with("served"));
        p.stop(nix::sys::signal::Signal::SIGTERM)
    };
    let (code, err) = run("-d");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(" DEBUG ") && err.contains("keep-alive"),
        "{err}"
    );
    let (code, err) = run("-db");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !err.contains("DEBUG") && err.contains("Proxy fe started"),
        "{err}"
    );
    let (code, err) = run("-q");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !err.contains("Proxy fe started") && err.contains("SIGTERM received"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(d);
}

/// `-D` forks into the background once the sockets are bound (a bind error is still reported by the command, with
/// exit code 1); the pid file names the daemon, which serves and stops on SIGTERM.
#[test]
fn daemon_forks_after_binding_and_writes_the_pid_file() {
    let d = tempdir("daemon");
    let port = free_port();
    let cfg = d.join("p.cfg");
    std::fs::write(&cfg, config("", port)).unwrap();
    let pidfile = d.join("p.pid");
    let busy = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let pf = pidfile.to_str().unwrap();
    let (code, _, err) = output(&["-D", "-p", pf], &cfg);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("[ALERT]") && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(!pidfile.exists());
    drop(busy);

    let start = Instant::now();
    let (code, _, err) = output(&["-D", "-p", pf], &cfg);
    assert_eq!(code, 0, "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    // The daemon writes the pid file just after the fork: it may appear a moment after the command returned.
    let deadline = Instant::now() + Duration::from_secs(5);
    let pid: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.strip_suffix('\n').and_then(|p| p.parse().ok()))
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "no pid file");
        std::thread::sleep(Duration::from_millis(20));
    };
    let daemon = nix::unistd::Pid::from_raw(pid);
    let stop = || {
        let _ = nix::sys::signal::kill(daemon, nix::sys::signal::Signal::SIGTERM);
    };
    let served = get(port).is_some_and(|r| r.ends_with("served"));
    if !served {
        stop();
        panic!("the daemon {pid} does not serve");
    }
    stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    // Gone (or a zombie until its new parent reaps it): either way its port closes.
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        if Instant::now() > deadline {
            let _ = nix::sys::signal::kill(daemon, nix::sys::signal::Signal::SIGKILL);
            panic!("the daemon {pid} did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(d);
}

/// A port below 1024 that is free here (binding it needs root).
fn free_privileged_port() -> u16 {
    (600..1000)
        .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        .expect("a free port below 1024")
}

fn proc_status(pid: i32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap()
}

/// `uid`, `gid` and `chroot` are applied after the sockets are bound: the proxy binds a port below 1024 and creates
/// its stats socket as root, then runs as the configured user and group inside the chroot.
#[test]
fn user_group_and_chroot_are_applied_after_binding() {
    if !root() {
        return;
    }
    let d = tempdir("privs");
    let port = free_privileged_port();
    let sock = d.join("admin.sock");
    let cfg = d.join("p.cfg");
    std::fs::write(
        &cfg,
        config(
            &format!(
                "    uid {NOBODY}\n    gid {NOBODY}\n    chroot {}\n    stats socket {}\n",
                d.display(),
                sock.display()
            ),
            port,
        ),
    )
    .unwrap();
    let p = Running::start(&[], &cfg, port);
    let ids = format!("{NOBODY}\t{NOBODY}\t{NOBODY}\t{NOBODY}");
    assert_eq!(proc_status(p.pid(), "Uid"), ids);
    assert_eq!(proc_status(p.pid(), "Gid"), ids);
    assert_eq!(proc_status(p.pid(), "Groups"), NOBODY.to_string());
    assert_eq!(
        std::fs::read_link(format!("/proc/{}/root", p.pid())).unwrap(),
        d
    );
    assert_eq!(std::fs::metadata(&sock).unwrap().uid(), 0);
    assert!(cli(&sock, "show info").contains("Name: fulcrum"));
    let (code, err) = p.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, Some(0), "{err}");
    let _ = std::fs::remove_dir_all(d);
}

/// The unix `stats socket` file: whatever sits at its path at start (a stale socket, any file) is replaced. At stop
/// the proxy removes it when it still may: as root, or when the `user` it switched to may write the directory; a
/// proxy that dropped its privileges in a root-owned directory leaves it, as HAProxy 2.6 always leaves its socket,
/// and the next start replaces it.
#[test]
fn stats_socket_file_is_replaced_at_start_and_removed_at_stop_when_the_process_may() {
    if !root() {
        return;
    }
    let d = tempdir("sock");
    let port = free_port();
    let sock = d.join("admin.sock");
    let cfg = d.join("p.cfg");
    let write = |global: &str, sock: &Path| {
        std::fs::write(
            &cfg,
            config(
                &format!("{global}    stats socket {} mode 600\n", sock.display()),
                port,
            ),
        )
        .unwrap();
    };
    let is_socket =
        |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket());
    let drop_privs = format!("    uid {NOBODY}\n    gid {NOBODY}\n");

    // As root: a stale regular file is replaced; SIGINT removes the socket.
    std::fs::write(&sock, "stale").unwrap();
    write("", &sock);
    let p = Running::start(&[], &cfg, port);
    assert!(is_socket(&sock));
    assert!(cli(&sock, "show info").contains("Name: fulcrum"));
    let (code, err) = p.stop(nix::sys::signal::Signal::SIGINT);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !sock.exists(),
        "the socket file stays after a root proxy stops"
    );

    // Privileges dropped in a directory only root may write: the file stays, as HAProxy leaves it.
    write(&drop_privs, &sock);
    let p = Running::start(&[], &cfg, port);
    let ino = std::fs::metadata(&sock).unwrap().ino();
    assert!(cli(&sock, "show info").contains("Name: fulcrum"));
    let (code, err) = p.stop(nix::sys::signal::Signal::SIGINT);
    assert_eq!(code, Some(0), "{err}");
    assert!(is_socket(&sock), "the socket file was removed");
    // The next start replaces the file left behind.
    write("", &sock);
    let p = Running::start(&[], &cfg, port);
    assert_ne!(std::fs::metadata(&sock).unwrap().ino(), ino);
    assert!(cli(&sock, "show info").contains("Name: fulcrum"));
    let (code, err) = p.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, Some(0), "{err}");
    assert!(!sock.exists());

    // Privileges dropped to a user who owns the directory: the file is removed.
    let own = d.join("own");
    std::fs::create_dir(&own).unwrap();
    nix::unistd::chown(
        &own,
        Some(nix::unistd::Uid::from_raw(NOBODY)),
        Some(nix::unistd::Gid::from_raw(NOBODY)),
    )
    .unwrap();
    let sock = own.join("admin.sock");
    write(&drop_privs, &sock);
    let p = Running::start(&[], &cfg, port);
    assert!(cli(&sock, "show info").contains("Name: fulcrum"));
    let (code, err) = p.stop(nix::sys::signal::Signal::SIGINT);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !sock.exists(),
        "the socket file stays in the user's directory"
    );
    let _ = std::fs::remove_dir_all(d);
}

/// The soft and hard descriptor limits of process `pid`, from /proc.
fn open_files_limit(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("{text}"));
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[test]
fn the_descriptor_limit_is_raised_for_maxconn_or_the_start_refused_as_haproxy_does() {
    let dir = tempdir("fdlimit");
    let hard = hard_limit();
    // maxconn 1000 under a soft limit of 256: raised to 2 x 1000 + listeners + spare.
    let port = free_port();
    let cfg = dir.join("ok.cfg");
    std::fs::write(&cfg, config("    maxconn 1000\n", port)).unwrap();
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 256; exec {BIN} proxy -f {}",
            cfg.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port);
    let (soft, _) = open_files_limit(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert!((2000..2100).contains(&soft), "soft limit {soft}");
    // A maxconn the hard limit cannot hold: refused at start (strict-limits, HAProxy's default), with HAProxy's words.
    let big = dir.join("big.cfg");
    std::fs::write(&big, config(&format!("    maxconn {hard}\n"), free_port())).unwrap();
    let out = proxy(&[], &big).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("Cannot raise FD limit to") && err.contains(&format!("limit is {hard}")),
        "{err}"
    );
    if Command::new("haproxy").arg("-v").output().is_ok() {
        let h = Command::new("timeout")
            .args(["5", "haproxy", "-db", "-f"])
            .arg(&big)
            .output()
            .unwrap();
        assert!(!h.status.success(), "haproxy started with maxconn {hard}");
    }
    // `no strict-limits`: it starts, and says why it may run out.
    let port = free_port();
    let loose = dir.join("loose.cfg");
    std::fs::write(
        &loose,
        config(&format!("    maxconn {hard}\n    no strict-limits\n"), port),
    )
    .unwrap();
    let mut child = proxy(&[], &loose)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(port);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "did not start"
    );
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Cannot raise FD limit to"), "{err}");
}

/// Waits up to 10 s for something to listen on `port`.
fn wait_listening(port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err()
        && started.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// This process's hard descriptor limit.
fn hard_limit() -> u64 {
    open_files_limit(std::process::id()).1
}
