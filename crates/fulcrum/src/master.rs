//! Master-worker mode (`fulcrum proxy -W [-S ADDR]`), as HAProxy runs it: the master parses the configuration,
//! forks one worker that runs the proxy, forwards stop signals to it, and serves the master CLI on the `-S`
//! sockets. The master CLI answers `show proc` itself and passes `@1 CMD`, `@!PID CMD` to the worker's runtime
//! API, through a unix socket in a directory only the master's user can enter.
//!
//! `program` sections are started by the master before the worker, get the same stop signals, and are listed by
//! `show proc`; one that fails (an exit code other than 0, 130 or 143) while nothing is stopping makes the master
//! stop everything with SIGTERM, as HAProxy's `exit-on-failure` does.
//!
//! Reloads (SIGUSR2, SIGHUP, the `reload` command) are not supported yet: they are answered with a warning and
//! change nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

/// Writes one line to stderr in one write (`eprintln!` writes it in pieces, which readers of the output, such as
/// HAProxy's test harness, may see as several lines).
macro_rules! say {
    ($($arg:tt)*) => {{
        let line = format!("{}\n", format_args!($($arg)*));
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }};
}

/// A running `program`: its section's name, pid and start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramProc {
    /// The `program` section's name.
    pub name: String,
    /// Its process id.
    pub pid: u32,
    /// When it was started.
    pub started: Instant,
}

/// The processes the master knows, for `show proc` and `@` routing.
#[derive(Debug)]
pub struct Procs {
    /// The master's pid and start.
    pub master: (u32, Instant),
    /// The current worker's pid and start.
    pub worker: (u32, Instant),
    /// The worker's runtime API socket, reached by the master only.
    pub worker_cli: PathBuf,
    /// The version both run.
    pub version: &'static str,
    /// The programs still running, in configuration order.
    pub programs: Mutex<Vec<ProgramProc>>,
}

/// What the master CLI does with one command.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// Send this text, then a newline.
    Text(String),
    /// Send the command to the worker's runtime API and relay its answer.
    Forward(String),
    /// Switch the prompt on or off.
    TogglePrompt,
    /// Close the connection.
    Quit,
}

const HELP: &[(&str, &str)] = &[
    ("@!<pid>", "send a command to the <pid> process"),
    (
        "@<relative pid>",
        "send a command to the <relative pid> process",
    ),
    ("@master", "send a command to the master process"),
    ("reload", "reload haproxy (not supported yet by fulcrum)"),
    ("show proc", "show processes status"),
    ("show version", "show version of the current process"),
    ("help [<command>]", "list matching or all commands"),
    ("prompt", "toggle interactive mode with prompt"),
    ("quit", "disconnect"),
];

fn help_text(head: &str, filter: Option<&str>) -> String {
    let mut out = format!("{head}\n");
    for (cmd, what) in HELP {
        if filter.is_none_or(|f| cmd.starts_with(f)) {
            out.push_str(&format!("  {cmd:<40}: {what}\n"));
        }
    }
    out
}

/// `0d00h00m01s`, HAProxy's uptime in `show proc`.
fn uptime(since: Instant) -> String {
    let s = since.elapsed().as_secs();
    format!(
        "{}d{:02}h{:02}m{:02}s",
        s / 86400,
        s / 3600 % 24,
        s / 60 % 60,
        s % 60
    )
}

/// `show proc`: the master, then its workers, then the programs.
pub fn show_proc(p: &Procs) -> String {
    let mut out = format!(
        "{:<15} {:<15} {:<15} {:<15} {:<15}\n",
        "#<PID>", "<type>", "<reloads>", "<uptime>", "<version>"
    );
    out.push_str(&format!(
        "{:<15} {:<15} {:<15} {:<15} {}\n",
        p.master.0,
        "master",
        "0 [failed: 0]",
        uptime(p.master.1),
        p.version
    ));
    out.push_str("# workers\n");
    out.push_str(&format!(
        "{:<15} {:<15} {:<15} {:<15} {}\n",
        p.worker.0,
        "worker",
        "0",
        uptime(p.worker.1),
        p.version
    ));
    out.push_str("# programs\n");
    let programs = p.programs.lock().unwrap_or_else(|e| e.into_inner());
    for prog in programs.iter() {
        out.push_str(&format!(
            "{:<15} {:<15} {:<15} {:<15} {:<15}\n",
            prog.pid,
            prog.name,
            "0",
            uptime(prog.started),
            "-"
        ));
    }
    out
}

/// Answers one command line of the master CLI (without its newline).
pub fn answer(line: &str, p: &Procs) -> Reply {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix('@') {
        let (target, cmd) = rest.split_once(' ').unwrap_or((rest, ""));
        let to_worker = match target {
            "master" => false,
            "1" => true,
            t => match t.strip_prefix('!').and_then(|n| n.parse::<u32>().ok()) {
                Some(pid) if pid == p.master.0 => false,
                Some(pid) if pid == p.worker.0 => true,
                _ => {
                    return Reply::Text(format!(
                        "Can't find the target PID matching the prefix '@{target}'"
                    ))
                }
            },
        };
        let cmd = cmd.trim();
        return if to_worker {
            Reply::Forward(cmd.to_string())
        } else {
            answer(cmd, p)
        };
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["show", "proc"] => Reply::Text(show_proc(p)),
        ["show", "version"] => Reply::Text(p.version.to_string()),
        ["help", rest @ ..] => Reply::Text(help_text(
            "The following commands are valid at this level:",
            rest.first().copied(),
        )),
        ["prompt"] => Reply::TogglePrompt,
        ["quit"] => Reply::Quit,
        ["reload"] => Reply::Text(
            "reload is not supported yet by fulcrum: the worker keeps running unchanged".into(),
        ),
        _ => Reply::Text(help_text(
            "Unknown command, but maybe one of the following ones is a better match:",
            words.first().copied(),
        )),
    }
}

/// One master CLI listener (`-S`): a unix path, `fd@N` (unix or TCP), or a TCP address.
enum Listener {
    /// With the path of the socket file the master created (removed when it exits).
    Unix(UnixListener, Option<PathBuf>),
    Tcp(TcpListener),
}

/// Binds a `-S` argument. HAProxy's `,mode,...` options are refused.
fn bind_master_cli(arg: &str) -> Result<Listener> {
    if arg.contains(',') {
        bail!("'-S {arg}': master CLI socket options are not supported yet by fulcrum");
    }
    if let Some(fd) = fulcrum_config::haproxy::inherited_fd(arg) {
        let fd = fd.map_err(anyhow::Error::msg).context("-S")?;
        // Only this `-S` names the descriptor (the proxy's own `fd@` lines are taken in the worker).
        return Ok(
            match fulcrum_proxy::listener::take_inherited(fd)
                .with_context(|| format!("'-S {arg}'"))?
            {
                fulcrum_proxy::listener::Inherited::Tcp(l) => Listener::Tcp(l),
                fulcrum_proxy::listener::Inherited::Unix(l) => Listener::Unix(l, None),
            },
        );
    }
    let tcp = arg
        .strip_prefix("ipv4@")
        .or_else(|| arg.strip_prefix("ipv6@"))
        .or(arg.parse::<std::net::SocketAddr>().ok().map(|_| arg));
    if let Some(addr) = tcp {
        let l = TcpListener::bind(addr).with_context(|| format!("'-S {arg}': cannot bind"))?;
        return Ok(Listener::Tcp(l));
    }
    let path = PathBuf::from(arg.strip_prefix("unix@").unwrap_or(arg));
    let _ = std::fs::remove_file(&path);
    let l = UnixListener::bind(&path).with_context(|| format!("'-S {arg}': cannot bind"))?;
    Ok(Listener::Unix(l, Some(path)))
}

/// Sends `cmd` to the worker's runtime API and returns its whole answer.
fn forward(p: &Procs, cmd: &str) -> String {
    let run = || -> std::io::Result<String> {
        let mut s = UnixStream::connect(&p.worker_cli)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(format!("{cmd}\n").as_bytes())?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    };
    run().unwrap_or_else(|e| format!("the worker did not answer: {e}\n"))
}

/// Splits a command line at each `;` that no backslash escapes, as HAProxy's CLI does (the escapes stay, for the
/// worker's runtime API to read: `@1 add acl F a\ b\;;@1 show acl F` is two commands).
fn split_commands(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ';' {
            out.push(&line[start..i]);
            start = i + 1;
        }
    }
    out.push(&line[start..]);
    out
}

/// Serves one master CLI connection: non-interactive (answer, then close) until `prompt`.
fn serve<S: Read + Write>(stream: S, p: &Procs) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut interactive = false;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut out = String::new();
        let mut quit = false;
        for part in split_commands(line.trim_end_matches(['\r', '\n'])) {
            match answer(part, p) {
                Reply::Text(t) => {
                    out.push_str(&t);
                    out.push('\n');
                }
                Reply::Forward(cmd) => out.push_str(&forward(p, &cmd)),
                Reply::TogglePrompt => interactive = !interactive,
                Reply::Quit => {
                    quit = true;
                    break;
                }
            }
        }
        if interactive && !quit {
            out.push_str("master> ");
        }
        reader.get_mut().write_all(out.as_bytes())?;
        if quit || !interactive {
            return Ok(());
        }
    }
}

/// Accepts on every `-S` listener, one thread each, a thread per connection.
fn spawn_cli(listeners: Vec<Listener>, p: Arc<Procs>) {
    for l in listeners {
        let p = p.clone();
        let _ = std::thread::Builder::new()
            .name("fulcrum-mcli".into())
            .spawn(move || match l {
                Listener::Unix(l, _) => {
                    for s in l.incoming().flatten() {
                        let p = p.clone();
                        std::thread::spawn(move || serve(s, &p));
                    }
                }
                Listener::Tcp(l) => {
                    for s in l.incoming().flatten() {
                        let p = p.clone();
                        std::thread::spawn(move || serve::<TcpStream>(s, &p));
                    }
                }
            });
    }
}

/// What the master needs from the command line.
pub struct MasterOptions<'a> {
    /// `-S` arguments.
    pub cli: &'a [String],
    /// `-p`
    pub pidfile: Option<&'a Path>,
    /// `-D` (and not `-d`/`-db`)
    pub daemon: bool,
    /// The `program` sections to start.
    pub programs: &'a [fulcrum_config::haproxy::Program],
}

/// Runs the master: forks the worker (which runs `worker` and exits with its code) and supervises it. Returns the
/// master's exit code.
pub fn run(opts: &MasterOptions<'_>, worker: impl FnOnce(UnixListener) -> u8) -> Result<u8> {
    if opts.daemon {
        nix::unistd::daemon(false, false).context("cannot daemonize")?;
    }
    let master_pid = std::process::id();
    if let Some(pidfile) = opts.pidfile {
        std::fs::write(pidfile, format!("{master_pid}\n"))
            .with_context(|| format!("cannot write pid file {}", pidfile.display()))?;
    }
    let dir = std::env::temp_dir().join(format!("fulcrum-master-{master_pid}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let _cleanup = RemoveDir(dir.clone());
    let worker_cli = dir.join("worker.sock");
    let worker_listener = UnixListener::bind(&worker_cli)
        .with_context(|| format!("cannot bind {}", worker_cli.display()))?;
    let listeners = opts
        .cli
        .iter()
        .map(|a| bind_master_cli(a))
        .collect::<Result<Vec<_>>>()?;
    let mut signals = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGUSR1,
        Signal::SIGHUP,
        Signal::SIGUSR2,
        Signal::SIGCHLD,
    ] {
        signals.add(s);
    }
    signals.thread_block().context("cannot block signals")?;
    // Programs first, then the worker, as HAProxy does.
    let programs = start_programs(opts.programs, master_pid)?;
    // SAFETY: the process has one thread here (no runtime, logger or CLI thread was started yet), so the child
    // may run anything.
    let child = match unsafe { nix::unistd::fork() }.context("cannot fork the worker")? {
        ForkResult::Child => {
            // A worker never outlives its master (a master killed with SIGKILL, say): it is stopped like by a
            // SIGTERM then. The check after the request covers a master gone before it was made.
            let orphaned = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).is_err()
                || nix::unistd::getppid().as_raw() as u32 != master_pid;
            if orphaned {
                std::process::exit(1);
            }
            drop(listeners);
            std::mem::forget(_cleanup);
            // The programs are the master's: this process does not know them.
            drop(programs);
            std::process::exit(i32::from(worker(worker_listener)));
        }
        ForkResult::Parent { child } => child,
    };
    drop(worker_listener);
    let now = Instant::now();
    let notice = format!("[NOTICE]   ({master_pid}) : New worker ({child}) forked\n");
    let _ = std::io::stderr().write_all(notice.as_bytes());
    let procs = Arc::new(Procs {
        master: (master_pid, now),
        worker: (child.as_raw() as u32, now),
        worker_cli,
        version: env!("CARGO_PKG_VERSION"),
        programs: Mutex::new(programs),
    });
    let created: Vec<PathBuf> = listeners
        .iter()
        .filter_map(|l| match l {
            Listener::Unix(_, path) => path.clone(),
            Listener::Tcp(_) => None,
        })
        .collect();
    spawn_cli(listeners, procs.clone());
    let code = supervise(&signals, child, &procs);
    for path in created {
        let _ = std::fs::remove_file(path);
    }
    code
}

/// Starts the `program` sections' commands (no shell), each as the user and group it names, with no signal blocked
/// and the stop signals at their default actions.
fn start_programs(
    programs: &[fulcrum_config::haproxy::Program],
    master_pid: u32,
) -> Result<Vec<ProgramProc>> {
    let mut out = Vec::with_capacity(programs.len());
    for p in programs {
        let Some((cmd, args)) = p.command.split_first() else {
            continue;
        };
        let mut c = Command::new(cmd);
        c.args(args);
        if let Some(g) = &p.group {
            c.gid(resolve_group(g)?);
        }
        if let Some(u) = &p.user {
            c.uid(resolve_user(u)?);
        }
        // SAFETY: the closure runs in the child between fork and exec and only calls sigprocmask and signal,
        // which are async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                // The master blocks the signals it waits for; the program gets them as they come, with their
                // default actions (as HAProxy's handlers are reset by exec).
                let mut none: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut none);
                libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
                for sig in [
                    libc::SIGINT,
                    libc::SIGTERM,
                    libc::SIGUSR1,
                    libc::SIGUSR2,
                    libc::SIGHUP,
                    libc::SIGQUIT,
                ] {
                    libc::signal(sig, libc::SIG_DFL);
                }
                Ok(())
            });
        }
        let child = c
            .spawn()
            .with_context(|| format!("cannot start program '{}' ({cmd})", p.name))?;
        let pid = child.id();
        // Reaped by `supervise` through waitpid, not through this handle.
        drop(child);
        say!(
            "[NOTICE]   ({master_pid}) : New program '{}' ({pid}) forked",
            p.name
        );
        out.push(ProgramProc {
            name: p.name.clone(),
            pid,
            started: Instant::now(),
        });
    }
    Ok(out)
}

/// The uid of a user name (or number), as a `program`'s `user` line names it.
pub fn resolve_user(name: &str) -> Result<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        _ => bail!("cannot find user id for '{name}'"),
    }
}

/// The gid of a group name (or number), as a `program`'s `group` line names it.
pub fn resolve_group(name: &str) -> Result<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        _ => bail!("cannot find group id for '{name}'"),
    }
}

/// HAProxy's words for an exit code: `Exit`, or the name of the signal for 128 + N.
fn exit_reason(code: u8) -> String {
    if code < 128 {
        return "Exit".to_string();
    }
    // SAFETY: strsignal returns a pointer to a static (or thread-local) NUL-terminated string, copied at once.
    let text = unsafe {
        let p = libc::strsignal(i32::from(code - 128));
        if p.is_null() {
            return "Exit".to_string();
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    text
}

/// Sends `sig` to the worker and every running program.
fn signal_all(child: Pid, procs: &Procs, sig: Signal) {
    let _ = nix::sys::signal::kill(child, sig);
    let programs = procs.programs.lock().unwrap_or_else(|e| e.into_inner());
    for p in programs.iter() {
        let _ = nix::sys::signal::kill(Pid::from_raw(p.pid as i32), sig);
    }
}

/// Waits for signals: stop signals go to the worker and the programs; the worker's end ends the master with its
/// exit code; after SIGINT the master exits with 130 (128 + SIGINT), as HAProxy's master does, after SIGTERM or
/// SIGUSR1 with the worker's code. A program that fails while nothing is stopping stops everything with SIGTERM
/// (HAProxy's `exit-on-failure`), and the master then exits with the program's code.
fn supervise(signals: &SigSet, child: Pid, procs: &Procs) -> Result<u8> {
    let master = std::process::id();
    let mut stopping = false;
    let mut interrupted = false;
    let mut failure: Option<u8> = None;
    loop {
        match signals.wait().context("waiting for signals")? {
            Signal::SIGCHLD => {
                for (pid, code) in reap_all()? {
                    if pid == child {
                        if !stopping {
                            say!(
                                "[ALERT]    ({master}) : Current worker ({child}) exited with code {code}"
                            );
                        }
                        // The programs do not outlive the master.
                        signal_all(child, procs, Signal::SIGTERM);
                        return Ok(match failure {
                            Some(f) => f,
                            None if interrupted => 130,
                            None => code,
                        });
                    }
                    let name = {
                        let mut programs = procs.programs.lock().unwrap_or_else(|e| e.into_inner());
                        let Some(i) = programs.iter().position(|p| p.pid as i32 == pid.as_raw())
                        else {
                            continue;
                        };
                        programs.remove(i).name
                    };
                    say!(
                        "[ALERT]    ({master}) : Current program '{name}' ({pid}) exited with code {code} ({})",
                        exit_reason(code)
                    );
                    if !stopping && !matches!(code, 0 | 130 | 143) {
                        say!(
                            "[ALERT]    ({master}) : exit-on-failure: killing every processes with SIGTERM"
                        );
                        failure = Some(code);
                        stopping = true;
                        signal_all(child, procs, Signal::SIGTERM);
                    }
                }
            }
            s @ (Signal::SIGHUP | Signal::SIGUSR2) => say!(
                "[WARNING]  ({master}) : {s:?} received: reloads are not supported yet by fulcrum; nothing changed"
            ),
            s => {
                stopping = true;
                interrupted |= s == Signal::SIGINT;
                signal_all(child, procs, s);
            }
        }
    }
}

/// Every child that has ended, with its exit code (128 + N when killed by signal N).
fn reap_all() -> Result<Vec<(Pid, u8)>> {
    let mut out = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => out.push((pid, u8::try_from(code).unwrap_or(1))),
            Ok(WaitStatus::Signaled(pid, sig, _)) => out.push((pid, 128 + sig as u8)),
            Ok(WaitStatus::StillAlive) => return Ok(out),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(nix::errno::Errno::ECHILD) => return Ok(out),
            Err(e) => return Err(e).context("waitpid"),
        }
    }
}

struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn procs() -> Procs {
        let now = Instant::now();
        Procs {
            master: (100, now),
            worker: (101, now),
            worker_cli: PathBuf::from("/nonexistent"),
            version: "0.1.0",
            programs: Mutex::new(Vec::new()),
        }
    }

    #[test]
    fn show_proc_has_haproxy_columns() {
        let out = show_proc(&procs());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "#<PID>          <type>          <reloads>       <uptime>        <version>      "
        );
        assert_eq!(
            lines[1],
            "100             master          0 [failed: 0]   0d00h00m00s     0.1.0"
        );
        assert_eq!(lines[2], "# workers");
        assert!(lines[3].starts_with("101             worker          0    "));
        assert_eq!(lines[4], "# programs");
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn show_proc_lists_programs_in_order() {
        let p = procs();
        p.programs.lock().unwrap().extend([
            ProgramProc {
                name: "foo".into(),
                pid: 102,
                started: Instant::now(),
            },
            ProgramProc {
                name: "bar".into(),
                pid: 103,
                started: Instant::now(),
            },
        ]);
        let out = show_proc(&p);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[4], "# programs");
        assert_eq!(
            lines[5],
            "102             foo             0               0d00h00m00s     -              "
        );
        assert!(lines[6].starts_with("103             bar             0   "));
        assert_eq!(lines.len(), 7);
    }

    #[test]
    fn exit_reasons_are_haproxy_words() {
        assert_eq!(exit_reason(0), "Exit");
        assert_eq!(exit_reason(1), "Exit");
        assert_eq!(exit_reason(130), "Interrupt");
        assert_eq!(exit_reason(143), "Terminated");
    }

    #[test]
    fn escaped_semicolons_do_not_split() {
        assert_eq!(
            split_commands("@1 add acl f a\\ b\\;;@1 show acl f"),
            ["@1 add acl f a\\ b\\;", "@1 show acl f"]
        );
        assert_eq!(split_commands("show proc"), ["show proc"]);
    }

    #[test]
    fn routes_by_prefix() {
        let p = procs();
        assert_eq!(
            answer("@1 show info", &p),
            Reply::Forward("show info".into())
        );
        assert_eq!(
            answer("@!101 show stat", &p),
            Reply::Forward("show stat".into())
        );
        assert_eq!(answer("@!100 show proc", &p), Reply::Text(show_proc(&p)));
        assert_eq!(answer("@master show proc", &p), Reply::Text(show_proc(&p)));
        assert_eq!(
            answer("@9 show info", &p),
            Reply::Text("Can't find the target PID matching the prefix '@9'".into())
        );
        assert_eq!(answer("prompt", &p), Reply::TogglePrompt);
        assert_eq!(answer("quit", &p), Reply::Quit);
        let Reply::Text(t) = answer("show info", &p) else {
            panic!("text expected")
        };
        assert!(t.starts_with("Unknown command, but maybe"), "{t}");
        assert!(t.contains("  show proc ") && !t.contains("@master"), "{t}");
    }
}
