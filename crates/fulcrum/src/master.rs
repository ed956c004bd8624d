//! Master-worker mode (`fulcrum proxy -W [-S ADDR]`), as HAProxy runs it: the master parses the configuration,
//! forks one worker that runs the proxy, forwards stop signals to it, and serves the master CLI on the `-S`
//! sockets. The master CLI answers `show proc` itself and passes `@1 CMD`, `@!PID CMD` to the worker's runtime
//! API, through a unix socket in a directory only the master's user can enter.
//!
//! `program` sections are started by the master before the worker, get the same stop signals, and are listed by
//! `show proc`; one that fails (an exit code other than 0, 130 or 143) while nothing is stopping makes the master
//! stop everything with SIGTERM, as HAProxy's `exit-on-failure` does.
//!
//! The master binds the proxy's listening sockets itself and passes them to each worker it starts (the worker is
//! this binary executed again, with the descriptors and its runtime API channel named in `FULCRUM_MWORKER_*`
//! variables). A reload (SIGUSR2, SIGHUP, the `reload` command) reads and checks the configuration again, as `-c`
//! does; when it is invalid nothing changes and the failure is logged (and sent to systemd and to the CLI). When it
//! is valid the master binds the new addresses, starts a new worker with the sockets, waits until it serves, then
//! soft-stops the old workers (SIGUSR1) and closes the sockets of the addresses no longer bound. Connections
//! waiting in an accept queue are never lost: the sockets stay open across the reload.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
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
use nix::unistd::Pid;

use fulcrum_config::haproxy::Config;

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

/// A worker the master started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerProc {
    /// Its process id.
    pub pid: u32,
    /// When it was started.
    pub started: Instant,
    /// The master's reload count when it was started (its `<reloads>` column is the difference).
    pub generation: u32,
    /// Its runtime API socket, reached by the master only.
    pub cli: PathBuf,
}

/// The workers, current first, then the old ones (soft-stopping), newest first; and the reload counts.
#[derive(Debug, Default)]
pub struct Workers {
    /// The current worker, then the old ones.
    pub list: Vec<WorkerProc>,
    /// Successful reloads.
    pub reloads: u32,
    /// Failed reloads.
    pub failed: u32,
}

/// The processes the master knows, for `show proc` and `@` routing.
#[derive(Debug)]
pub struct Procs {
    /// The master's pid and start.
    pub master: (u32, Instant),
    /// The workers.
    pub workers: Mutex<Workers>,
    /// The version both run.
    pub version: &'static str,
    /// The programs still running, in configuration order.
    pub programs: Mutex<Vec<ProgramProc>>,
    /// `reload` commands of the master CLI waiting for the result of the reload they asked for.
    pub reload_waiters: Mutex<Vec<std::sync::mpsc::Sender<String>>>,
}

impl Procs {
    fn workers(&self) -> std::sync::MutexGuard<'_, Workers> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the master CLI does with one command.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// Send this text, then a newline.
    Text(String),
    /// Send the command to the runtime API of the worker listening on this path and relay its answer.
    Forward(PathBuf, String),
    /// Reload, and answer how it went.
    Reload,
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
    ("reload", "reload haproxy"),
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

/// `show proc`: the master, then its current worker, the old workers still draining, then the programs.
pub fn show_proc(p: &Procs) -> String {
    let mut out = format!(
        "{:<15} {:<15} {:<15} {:<15} {:<15}\n",
        "#<PID>", "<type>", "<reloads>", "<uptime>", "<version>"
    );
    let workers = p.workers();
    out.push_str(&format!(
        "{:<15} {:<15} {:<15} {:<15} {}\n",
        p.master.0,
        "master",
        format!("{} [failed: {}]", workers.reloads, workers.failed),
        uptime(p.master.1),
        p.version
    ));
    let line = |w: &WorkerProc| {
        format!(
            "{:<15} {:<15} {:<15} {:<15} {}\n",
            w.pid,
            "worker",
            workers.reloads - w.generation,
            uptime(w.started),
            p.version
        )
    };
    out.push_str("# workers\n");
    if let Some(w) = workers.list.first() {
        out.push_str(&line(w));
    }
    if workers.list.len() > 1 {
        out.push_str("# old workers\n");
        for w in &workers.list[1..] {
            out.push_str(&line(w));
        }
    }
    drop(workers);
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
        let workers = p.workers();
        // `@N`: the Nth worker, 1 the current one, 2 the newest old one...; `@!PID`: by pid.
        let to_worker = match target {
            "master" | "0" => None,
            t => match t.strip_prefix('!').and_then(|n| n.parse::<u32>().ok()) {
                Some(pid) if pid == p.master.0 => None,
                Some(pid) => match workers.list.iter().find(|w| w.pid == pid) {
                    Some(w) => Some(w.cli.clone()),
                    None => {
                        return Reply::Text(format!(
                            "Can't find the target PID matching the prefix '@{target}'"
                        ))
                    }
                },
                None => match t
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| workers.list.get(n.checked_sub(1)?))
                {
                    Some(w) => Some(w.cli.clone()),
                    None => {
                        return Reply::Text(format!(
                            "Can't find the target PID matching the prefix '@{target}'"
                        ))
                    }
                },
            },
        };
        drop(workers);
        let cmd = cmd.trim();
        return match to_worker {
            Some(path) => Reply::Forward(path, cmd.to_string()),
            None => answer(cmd, p),
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
        ["reload"] => Reply::Reload,
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
        // The workers, executed by the master, must not inherit it.
        // SAFETY: F_SETFD only changes the flags of the descriptor, which `take_inherited` checks below.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
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

/// Asks the master's main thread for a reload and waits for its outcome.
fn reload_from_cli(p: &Procs) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    p.reload_waiters
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(tx);
    // The main thread waits for SIGUSR2 (blocked in every thread), as for `kill -USR2`.
    let _ = nix::sys::signal::kill(Pid::from_raw(p.master.0 as i32), Signal::SIGUSR2);
    rx.recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| "Success=0\n--\nthe reload did not finish in time\n".into())
}

/// Sends `cmd` to a worker's runtime API and returns its whole answer.
fn forward(path: &Path, cmd: &str) -> String {
    let run = || -> std::io::Result<String> {
        let mut s = UnixStream::connect(path)?;
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
                Reply::Forward(path, cmd) => out.push_str(&forward(&path, &cmd)),
                Reply::Reload => out.push_str(&reload_from_cli(p)),
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
    /// `-Ws`: tell systemd (sd_notify) when the worker serves and when a reload starts and ends.
    pub systemd: bool,
    /// The `program` sections to start.
    pub programs: &'a [fulcrum_config::haproxy::Program],
    /// The command line, given to each worker as it is (the worker reads the configuration files again).
    pub args: &'a [OsString],
    /// The configuration read at start.
    pub config: &'a Config,
    /// The directory the command was started in: workers start there (a daemonized master is in `/`), so that
    /// relative paths of the command line and the configuration mean what they meant at start.
    pub cwd: &'a Path,
    /// Reads and checks the configuration again, as `-c` does: the configuration, or the messages saying why not.
    pub load: &'a dyn Fn() -> std::result::Result<Config, String>,
}

/// Environment variables naming what a worker started by the master inherits.
pub const ENV_CLI: &str = "FULCRUM_MWORKER_CLI";
/// The pipe on which the worker says it serves (one byte, `R`).
pub const ENV_READY: &str = "FULCRUM_MWORKER_READY";
/// The listening sockets: `ADDR=FD` separated by commas.
pub const ENV_SOCKETS: &str = "FULCRUM_MWORKER_SOCKETS";

/// How long a new worker may take to start serving before the reload is given up.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends `msg` to systemd's notification socket (`NOTIFY_SOCKET`, a unix datagram socket, `@` for the abstract
/// namespace), when there is one.
pub fn sd_notify(msg: &str) {
    use std::os::linux::net::SocketAddrExt;
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let _ = match bytes.strip_prefix(b"@") {
        Some(name) => std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| sock.send_to_addr(msg.as_bytes(), &a)),
        None => sock.send_to(msg.as_bytes(), Path::new(&path)),
    };
}

/// CLOCK_MONOTONIC in microseconds, as systemd wants it with `RELOADING=1`.
fn monotonic_usec() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which lives for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1_000_000 + t.tv_nsec as u64 / 1000
}

/// The listening sockets the master holds for its workers, by address (`bind` lines with a fixed port).
#[derive(Default)]
struct Sockets(Vec<(SocketAddr, Vec<TcpListener>)>);

impl Sockets {
    /// Binds what `config` needs and is not held yet: one socket per worker thread and address.
    fn ensure(&mut self, config: &Config) -> Result<()> {
        let threads = fulcrum_proxy::threads(config);
        for addr in fulcrum_proxy::listen_addrs(config) {
            if addr.port() == 0 {
                continue;
            }
            let i = match self.0.iter().position(|(a, _)| *a == addr) {
                Some(i) => i,
                None => {
                    self.0.push((addr, Vec::new()));
                    self.0.len() - 1
                }
            };
            let have = self.0[i].1.len();
            if have < threads {
                // Without SO_REUSEPORT the address cannot be bound twice: more workers share the socket held.
                let more = match self.0[i].1.first() {
                    Some(held) if config.global.noreuseport => (have..threads)
                        .map(|_| held.try_clone())
                        .collect::<std::io::Result<Vec<_>>>(),
                    _ => fulcrum_proxy::listener::bind_for_workers(
                        addr,
                        threads - have,
                        fulcrum_proxy::listener::BACKLOG,
                        config.global.noreuseport,
                    ),
                }
                .with_context(|| format!("cannot bind to {addr}"))?;
                self.0[i].1.extend(more);
            }
        }
        Ok(())
    }

    /// Closes the sockets of the addresses `config` no longer binds.
    fn retain(&mut self, config: &Config) {
        let keep = fulcrum_proxy::listen_addrs(config);
        self.0.retain(|(a, _)| keep.contains(a));
    }
}

/// What the master owns across reloads.
struct Master<'a> {
    opts: &'a MasterOptions<'a>,
    sockets: Sockets,
    dir: PathBuf,
    started: u32,
    max_reloads: Option<u32>,
}

impl Master<'_> {
    /// Starts a worker with the held sockets and waits until it serves; its pid.
    fn spawn_worker(&mut self) -> Result<(u32, PathBuf)> {
        use std::os::fd::{AsRawFd, RawFd};
        self.started += 1;
        let cli = self.dir.join(format!("worker-{}.sock", self.started));
        let _ = std::fs::remove_file(&cli);
        let listener =
            UnixListener::bind(&cli).with_context(|| format!("cannot bind {}", cli.display()))?;
        let (ready_r, ready_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("cannot make a pipe")?;
        let mut pass: Vec<RawFd> = vec![listener.as_raw_fd(), ready_w.as_raw_fd()];
        let mut spec = String::new();
        for (addr, socks) in &self.sockets.0 {
            for s in socks {
                if !spec.is_empty() {
                    spec.push(',');
                }
                spec.push_str(&format!("{addr}={}", s.as_raw_fd()));
                pass.push(s.as_raw_fd());
            }
        }
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
        let mut cmd = Command::new(exe);
        cmd.arg("proxy")
            .args(self.opts.args)
            .current_dir(self.opts.cwd)
            .env(ENV_CLI, listener.as_raw_fd().to_string())
            .env(ENV_READY, ready_w.as_raw_fd().to_string())
            .env(ENV_SOCKETS, spec);
        // SAFETY: the closure runs in the child between fork and exec and only calls fcntl and prctl, which are
        // async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &pass {
                    libc::fcntl(fd, libc::F_SETFD, 0);
                }
                // A worker never outlives its master.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn().context("cannot start the worker")?;
        let pid = child.id();
        // Reaped through waitpid by `supervise`.
        drop(child);
        drop(ready_w);
        drop(listener);
        let mut pfd = libc::pollfd {
            fd: ready_r.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let ready = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // SAFETY: one valid pollfd for the call's duration.
            let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            if n <= 0 {
                break false;
            }
            let mut b = [0u8; 1];
            break matches!(nix::unistd::read(ready_r.as_raw_fd(), &mut b), Ok(1) if b[0] == b'R');
        };
        if !ready {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            let _ = std::fs::remove_file(&cli);
            bail!("the new worker ({pid}) failed to start");
        }
        Ok((pid, cli))
    }

    /// A reload: the configuration is read and checked again; valid, a new worker starts with the sockets and
    /// the old ones are soft-stopped; invalid, nothing changes. Returns what the master CLI's `reload` answers.
    fn reload(&mut self, procs: &Procs) -> String {
        let master = procs.master.0;
        say!("[NOTICE]   ({master}) : Reloading fulcrum");
        if self.opts.systemd {
            sd_notify(&format!(
                "RELOADING=1\nSTATUS=Reloading Configuration.\nMONOTONIC_USEC={}\n",
                monotonic_usec()
            ));
        }
        let attempt = (self.opts.load)().and_then(|config| {
            self.sockets
                .ensure(&config)
                .map_err(|e| format!("[ALERT] {e:#}"))?;
            let started = self.spawn_worker().map_err(|e| format!("[ALERT] {e:#}"))?;
            Ok((config, started))
        });
        match attempt {
            Err(messages) => {
                procs.workers().failed += 1;
                for line in messages.lines() {
                    say!("{line}");
                }
                say!("[ALERT]    ({master}) : Reload failed: the previous configuration keeps running.");
                if self.opts.systemd {
                    sd_notify("READY=1\nSTATUS=Reload failed!\n");
                }
                format!("Success=0\n--\n{messages}\n")
            }
            Ok((config, (pid, cli))) => {
                let old: Vec<WorkerProc> = {
                    let mut w = procs.workers();
                    w.reloads += 1;
                    let generation = w.reloads;
                    let old = w.list.clone();
                    w.list.insert(
                        0,
                        WorkerProc {
                            pid,
                            started: Instant::now(),
                            generation,
                            cli,
                        },
                    );
                    old
                };
                say!("[NOTICE]   ({master}) : New worker ({pid}) forked");
                say!("[NOTICE]   ({master}) : Loading success.");
                self.max_reloads = config.global.mworker_max_reloads;
                for w in &old {
                    let _ = nix::sys::signal::kill(Pid::from_raw(w.pid as i32), Signal::SIGUSR1);
                }
                self.enforce_max_reloads(procs);
                // The new worker holds its own copies; the old ones close theirs as they stop.
                self.sockets.retain(&config);
                if self.opts.systemd {
                    sd_notify("READY=1\nSTATUS=Ready.\n");
                }
                "Success=1\n--\n".to_string()
            }
        }
    }

    /// `mworker-max-reloads N`: an old worker that has seen more than N reloads is stopped with SIGTERM.
    fn enforce_max_reloads(&self, procs: &Procs) {
        let Some(max) = self.max_reloads else {
            return;
        };
        let w = procs.workers();
        for old in w.list.iter().skip(1) {
            if w.reloads - old.generation > max {
                say!(
                    "[WARNING]  ({}) : Worker ({}) has reached the maximum number of reloads ({max}), sending SIGTERM",
                    procs.master.0,
                    old.pid
                );
                let _ = nix::sys::signal::kill(Pid::from_raw(old.pid as i32), Signal::SIGTERM);
            }
        }
    }
}

/// Runs the master: binds the listening sockets, starts the programs and the worker (this binary again, see
/// [`ENV_SOCKETS`]), then supervises them and reloads on demand. Returns the master's exit code.
pub fn run(opts: &MasterOptions<'_>) -> Result<u8> {
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
    let mut master = Master {
        opts,
        sockets: Sockets::default(),
        dir: dir.clone(),
        started: 0,
        max_reloads: opts.config.global.mworker_max_reloads,
    };
    master.sockets.ensure(opts.config)?;
    // Programs first, then the worker, as HAProxy does.
    let programs = start_programs(opts.programs, master_pid)?;
    let (child, cli) = match master.spawn_worker() {
        Ok(w) => w,
        Err(e) => {
            let procs = Procs {
                master: (master_pid, Instant::now()),
                workers: Mutex::default(),
                version: env!("CARGO_PKG_VERSION"),
                programs: Mutex::new(programs),
                reload_waiters: Mutex::default(),
            };
            signal_all(&procs, Signal::SIGTERM);
            return Err(e);
        }
    };
    let now = Instant::now();
    say!("[NOTICE]   ({master_pid}) : New worker ({child}) forked");
    say!("[NOTICE]   ({master_pid}) : Loading success.");
    if opts.systemd {
        sd_notify(&format!("READY=1\nSTATUS=Ready.\nMAINPID={master_pid}\n"));
    }
    let procs = Arc::new(Procs {
        master: (master_pid, now),
        workers: Mutex::new(Workers {
            list: vec![WorkerProc {
                pid: child,
                started: now,
                generation: 0,
                cli,
            }],
            reloads: 0,
            failed: 0,
        }),
        version: env!("CARGO_PKG_VERSION"),
        programs: Mutex::new(programs),
        reload_waiters: Mutex::default(),
    });
    let created: Vec<PathBuf> = listeners
        .iter()
        .filter_map(|l| match l {
            Listener::Unix(_, path) => path.clone(),
            Listener::Tcp(_) => None,
        })
        .collect();
    spawn_cli(listeners, procs.clone());
    let code = supervise(&signals, &mut master, &procs);
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

/// Sends `sig` to every worker and every running program.
fn signal_all(procs: &Procs, sig: Signal) {
    for w in procs.workers().list.iter() {
        let _ = nix::sys::signal::kill(Pid::from_raw(w.pid as i32), sig);
    }
    let programs = procs.programs.lock().unwrap_or_else(|e| e.into_inner());
    for p in programs.iter() {
        let _ = nix::sys::signal::kill(Pid::from_raw(p.pid as i32), sig);
    }
}

/// Waits for signals: stop signals go to the workers and the programs, reload signals reload. The current
/// worker's end ends everything: the master exits with its code once no worker is left; after SIGINT with 130
/// (128 + SIGINT), as HAProxy's master does. A program that fails while nothing is stopping stops everything with
/// SIGTERM (HAProxy's `exit-on-failure`), and the master then exits with the program's code.
fn supervise(signals: &SigSet, master: &mut Master<'_>, procs: &Procs) -> Result<u8> {
    let me = std::process::id();
    let mut stopping = false;
    let mut interrupted = false;
    let mut failure: Option<u8> = None;
    let mut current_code: Option<u8> = None;
    loop {
        match signals.wait().context("waiting for signals")? {
            Signal::SIGCHLD => {
                for (pid, code) in reap_all()? {
                    let pid = pid.as_raw() as u32;
                    let place = procs.workers().list.iter().position(|w| w.pid == pid);
                    if let Some(i) = place {
                        let gone = procs.workers().list.remove(i);
                        if i == 0 && current_code.is_none() {
                            if !stopping {
                                say!("[ALERT]    ({me}) : Current worker ({pid}) exited with code {code}");
                                stopping = true;
                                signal_all(procs, Signal::SIGTERM);
                            }
                            current_code = Some(code);
                        } else {
                            say!(
                                "[WARNING]  ({me}) : Former worker ({pid}) exited with code {code} ({})",
                                exit_reason(code)
                            );
                        }
                        let _ = std::fs::remove_file(&gone.cli);
                        if current_code.is_some() && procs.workers().list.is_empty() {
                            // The programs do not outlive the master.
                            signal_all(procs, Signal::SIGTERM);
                            return Ok(match failure {
                                Some(f) => f,
                                None if interrupted => 130,
                                None => current_code.unwrap_or(0),
                            });
                        }
                        continue;
                    }
                    let name = {
                        let mut programs = procs.programs.lock().unwrap_or_else(|e| e.into_inner());
                        let Some(i) = programs.iter().position(|p| p.pid == pid) else {
                            continue;
                        };
                        programs.remove(i).name
                    };
                    say!(
                        "[ALERT]    ({me}) : Current program '{name}' ({pid}) exited with code {code} ({})",
                        exit_reason(code)
                    );
                    if !stopping && !matches!(code, 0 | 130 | 143) {
                        say!(
                            "[ALERT]    ({me}) : exit-on-failure: killing every processes with SIGTERM"
                        );
                        failure = Some(code);
                        stopping = true;
                        signal_all(procs, Signal::SIGTERM);
                    }
                }
            }
            Signal::SIGHUP | Signal::SIGUSR2 if !stopping => {
                let waiters: Vec<_> = std::mem::take(
                    &mut *procs
                        .reload_waiters
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()),
                );
                let answer = master.reload(procs);
                for w in waiters {
                    let _ = w.send(answer.clone());
                }
            }
            Signal::SIGHUP | Signal::SIGUSR2 => {
                // Stopping: no reload; a `reload` command waiting is told so.
                let waiters: Vec<_> = std::mem::take(
                    &mut *procs
                        .reload_waiters
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()),
                );
                for w in waiters {
                    let _ = w.send("Success=0\n--\nthe master is stopping\n".into());
                }
            }
            s => {
                stopping = true;
                interrupted |= s == Signal::SIGINT;
                signal_all(procs, s);
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
            workers: Mutex::new(Workers {
                list: vec![WorkerProc {
                    pid: 101,
                    started: now,
                    generation: 0,
                    cli: PathBuf::from("/nonexistent"),
                }],
                reloads: 0,
                failed: 0,
            }),
            version: "0.1.0",
            programs: Mutex::new(Vec::new()),
            reload_waiters: Mutex::default(),
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
    fn show_proc_lists_old_workers_and_reload_counts() {
        let p = procs();
        {
            let mut w = p.workers.lock().unwrap();
            w.reloads = 2;
            w.failed = 1;
            let now = Instant::now();
            w.list.insert(
                0,
                WorkerProc {
                    pid: 105,
                    started: now,
                    generation: 2,
                    cli: PathBuf::from("/new"),
                },
            );
        }
        let out = show_proc(&p);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[1].starts_with("100             master          2 [failed: 1]   "),
            "{out}"
        );
        assert_eq!(lines[2], "# workers");
        assert!(
            lines[3].starts_with("105             worker          0    "),
            "{out}"
        );
        assert_eq!(lines[4], "# old workers");
        assert!(
            lines[5].starts_with("101             worker          2    "),
            "{out}"
        );
        assert_eq!(lines[6], "# programs");
        assert_eq!(
            answer("@2 show info", &p),
            Reply::Forward("/nonexistent".into(), "show info".into())
        );
        assert_eq!(
            answer("@1 show info", &p),
            Reply::Forward("/new".into(), "show info".into())
        );
        assert_eq!(answer("reload", &p), Reply::Reload);
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
            Reply::Forward("/nonexistent".into(), "show info".into())
        );
        assert_eq!(
            answer("@!101 show stat", &p),
            Reply::Forward("/nonexistent".into(), "show stat".into())
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
