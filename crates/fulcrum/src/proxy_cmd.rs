//! `fulcrum proxy`: HAProxy's command line over fulcrum's proxy.
//!
//! Flags as HAProxy takes them: `-f FILE|DIR` (repeatable), `-c` (check and exit), `-p PIDFILE`, `-D` (daemon),
//! `-d`/`-db` (foreground, debug), `-q`, `-V`, `-v`/`-vv`. `-W` runs a master process that starts the worker,
//! reloads it on SIGUSR2/SIGHUP and serves the master CLI (`-S`, see [`crate::master`]); `-Ws` adds systemd's
//! sd_notify. Standalone, `-sf PID...`/`-st PID...` soft-stop/stop older processes once this one serves, and
//! `-x SOCKET` takes their listening sockets over a `stats socket ... expose-fd listeners`.
//!
//! A soft stop (SIGUSR1; an old worker after a reload) waits `grace`, then stops accepting, closes idle
//! keep-alive connections, ends busy ones after their current response, and exits when no connection is left,
//! or at `hard-stop-after`.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use nix::sys::signal::{SigSet, Signal};

use fulcrum_config::diag::Severity;
use fulcrum_config::haproxy::{self, Config};

const USAGE: &str = "\
Usage: fulcrum proxy [-f <cfgfile|cfgdir>]* [-c] [-cc <cond>] [-L <name>] [-p <pidfile>] [-D] [-d] [-db] [-dD] [-dR] [-q] [-V] [-v|-vv]
  -f  load a configuration file, or every *.cfg of a directory in lexical order (repeatable)
  -c  check the configuration and exit: 0 when valid, 1 with one message per problem otherwise
  -cc evaluate a condition as '.if' does: exit 0 when true, 1 when false, 2 when it cannot be evaluated
  -L  set the local peer name (exported to the configuration as HAPROXY_LOCALPEER)
  -dD diagnostic mode: also print '.diag' messages
  -dR bind listening sockets without SO_REUSEPORT (as 'noreuseport' in global)
  -W  master-worker mode: a master process starts the worker, forwards signals to it and reloads it
  -Ws master-worker mode with systemd notification (sd_notify READY=1, RELOADING=1, STATUS=)
  -S  master CLI socket (with -W): a unix path, ipv4@IP:PORT or fd@N (repeatable)
  -sf <pid>*  once serving, soft-stop these processes (SIGUSR1)
  -st <pid>*  once serving, stop these processes (SIGTERM)
  -x  take the listening sockets from the 'stats socket ... expose-fd listeners' at this unix path
  -p  write the process id to <pidfile>
  -D  run in the background (daemon)
  -d, -db  stay in the foreground with debug logging / stay in the foreground
  -q  quiet, -V verbose
  -v  print the version, -vv the version and build options
";

/// What `-h`/`--help` prints after [`USAGE`] (usage errors print only [`USAGE`]).
const SEE_ALSO: &str = "
Signals:
  SIGTERM, SIGINT  stop at once: listeners and open connections are closed
  SIGUSR1          soft stop: after 'grace', stop accepting, close idle keep-alive connections, end busy
                   ones after their response, exit when none is left (at 'hard-stop-after' at the latest)
  SIGHUP, SIGUSR2  standalone: logged, nothing changes (reload with -W, or start a new process with -sf/-x)
  with -W          SIGHUP, SIGUSR2 or 'reload' on the master CLI reload: the configuration is checked as -c
                   does; if valid a new worker starts with the listening sockets and the old ones soft-stop,
                   else nothing changes; SIGTERM, SIGINT and SIGUSR1 go to the workers, and the master exits
                   with the worker's code (130 after SIGINT)

See also:
  stats page       any 'stats' line in a frontend, listen or backend section, e.g. 'stats uri /stats'
                   (default URI /haproxy?stats; '<uri>;csv' is the CSV)
  Prometheus       'http-request use-service prometheus-exporter if { path /metrics }'
  runtime API      'stats socket /run/fulcrum/admin.sock mode 600 level admin' in global (also ipv4@,
                   ipv6@, IP:PORT, fd@N); with -W, '@1 <command>' on the master CLI (-S) too
  docs             in fulcrum's source tree: docs/OPERATIONS.md (stats page, metrics, runtime API),
                   docs/COMPATIBILITY.md (flags, signals and keywords: what is supported)
";

/// What the command line asked for.
#[derive(Debug, Default, PartialEq)]
struct Options {
    files: Vec<PathBuf>,
    check: bool,
    pidfile: Option<PathBuf>,
    daemon: bool,
    foreground: bool,
    debug: bool,
    quiet: bool,
    verbose: bool,
    version: u8,
    help: bool,
    /// `-L NAME`: the local peer name (also exported as HAPROXY_LOCALPEER for the configuration).
    localpeer: Option<String>,
    /// `-dR`: as `noreuseport` in global.
    no_reuseport: bool,
    /// `-cc EXPR`: evaluate a condition and exit.
    condition: Option<String>,
    /// `-dD`: diagnostic mode (`.diag` messages are shown).
    diag: bool,
    /// `-W`: master-worker mode.
    master_worker: bool,
    /// `-S ADDR` (repeatable): master CLI sockets.
    master_cli: Vec<String>,
    /// `-Ws`: master-worker mode with sd_notify.
    systemd: bool,
    /// `-sf PID...`: processes to soft-stop once serving.
    soft_finish: Vec<i32>,
    /// `-st PID...`: processes to stop once serving.
    terminate: Vec<i32>,
    /// `-x PATH`: take the listening sockets from this stats socket.
    take_from: Option<PathBuf>,
}

fn parse(args: Vec<OsString>) -> Result<Options> {
    let mut o = Options::default();
    let mut it = args.into_iter().peekable();
    while let Some(arg) = it.next() {
        let Some(a) = arg.to_str() else {
            bail!("argument {arg:?} is not valid UTF-8");
        };
        match a {
            "-f" => {
                let v = it.next().context("option '-f' needs a file or directory")?;
                o.files.push(PathBuf::from(v));
            }
            "-p" => {
                let v = it.next().context("option '-p' needs a pid file")?;
                o.pidfile = Some(PathBuf::from(v));
            }
            "-c" => o.check = true,
            "-cc" => {
                let v = it.next().context("option '-cc' needs a condition")?;
                let Some(v) = v.to_str() else {
                    bail!("the condition of '-cc' is not valid UTF-8");
                };
                o.condition = Some(v.to_string());
            }
            "-L" => {
                let v = it.next().context("option '-L' needs a local peer name")?;
                let Some(v) = v.to_str() else {
                    bail!("the peer name of '-L' is not valid UTF-8");
                };
                o.localpeer = Some(v.to_string());
            }
            "-dD" => o.diag = true,
            "-dR" => o.no_reuseport = true,
            "-D" => o.daemon = true,
            "-d" => {
                o.foreground = true;
                o.debug = true;
            }
            "-db" => o.foreground = true,
            "-q" => o.quiet = true,
            "-V" => o.verbose = true,
            "-v" => o.version = o.version.max(1),
            "-vv" => o.version = 2,
            "-h" | "--help" => o.help = true,
            "-W" => o.master_worker = true,
            "-S" => {
                let v = it.next().context("option '-S' needs a socket address")?;
                let Some(v) = v.to_str() else {
                    bail!("the address of '-S' is not valid UTF-8");
                };
                o.master_cli.push(v.to_string());
            }
            "-Ws" => {
                o.master_worker = true;
                o.systemd = true;
            }
            "-sf" | "-st" => {
                // The pids follow, up to the next option.
                while let Some(pid) = it
                    .peek()
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.parse::<i32>().ok())
                {
                    it.next();
                    if pid <= 0 {
                        bail!("option '{a}': invalid pid '{pid}'");
                    }
                    if a == "-sf" {
                        o.soft_finish.push(pid);
                    } else {
                        o.terminate.push(pid);
                    }
                }
            }
            "-x" => {
                let v = it.next().context("option '-x' needs a unix socket path")?;
                o.take_from = Some(PathBuf::from(v));
            }
            "-N" | "-n" | "-m" | "-C" | "-dM" | "-de" | "-dp" | "-dS" | "-dr" | "-dV" => {
                bail!("HAProxy option '{a}' is not supported yet by fulcrum")
            }
            other if other.starts_with("-f") && other.len() > 2 => {
                o.files.push(PathBuf::from(&other[2..]));
            }
            other => bail!("unknown option '{other}'\n{USAGE}"),
        }
    }
    Ok(o)
}

/// Writes `text` to stdout; a reader that went away (`fulcrum proxy -h | head`) is not an error.
fn out(text: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes()).and_then(|()| o.flush());
}

fn print_version(level: u8) {
    let mut text = format!(
        "fulcrum proxy version {} (haproxy.cfg dialect of HAProxy 2.6)\n",
        env!("CARGO_PKG_VERSION")
    );
    if level > 1 {
        text.push_str(
            "Build options: Rust, tokio {worker per thread, SO_REUSEPORT}, fulcrum-http (HTTP/1.1), rustls (TLS)\n",
        );
        text.push_str(&format!(
            "Built with profile: {}\n",
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        ));
    }
    out(&text);
}

/// Runs `fulcrum proxy ARGS`; returns the exit code.
pub fn main(args: Vec<OsString>) -> u8 {
    let raw_args = args.clone();
    let opts = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("[ALERT] {e:#}");
            return 1;
        }
    };
    if opts.help {
        out(&format!("{USAGE}{SEE_ALSO}"));
        return 0;
    }
    if opts.version > 0 {
        print_version(opts.version);
        return 0;
    }
    if let Some(expr) = &opts.condition {
        return match haproxy::cond::evaluate(expr, &|name| std::env::var(name).ok()) {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => {
                eprintln!("[ALERT] config : Failed to evaluate condition: {e}");
                2
            }
        };
    }
    // HAProxy exports the local peer name (-L, else the host name) to the configuration it reads.
    let localpeer = opts.localpeer.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default()
    });
    std::env::set_var("HAPROXY_LOCALPEER", &localpeer);
    if opts.files.is_empty() {
        eprintln!("[ALERT] No configuration file given: use -f <cfgfile|cfgdir>.\n{USAGE}");
        return 1;
    }
    // A worker started by a master (`-W`): the master checked the configuration and holds the sockets.
    if let Some(cli) = std::env::var_os(crate::master::ENV_CLI) {
        return match worker_main(&opts, &cli) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("[ALERT] {e:#}");
                1
            }
        };
    }
    let (config, warned) = match load_checked(&opts, false) {
        Ok((c, warnings)) => {
            // `quiet` in global is -q: no warnings, no notices.
            let quiet = opts.quiet || c.global.quiet;
            if !quiet {
                for w in &warnings {
                    eprintln!("{w}");
                }
            }
            if c.global.zero_warning && !warnings.is_empty() {
                if !quiet {
                    eprintln!(
                        "[ALERT] config : Some warnings were found and 'zero-warning' is set. Aborting."
                    );
                }
                return 1;
            }
            (c, !warnings.is_empty())
        }
        Err(messages) => {
            eprintln!("{messages}");
            return 1;
        }
    };
    // `master-worker` in global is the same as -W.
    let master_worker = opts.master_worker || config.global.master_worker;
    if !opts.master_cli.is_empty() && !master_worker {
        eprintln!("[ALERT] the master CLI (-S) needs master-worker mode (-W).");
        return 1;
    }
    let quiet = opts.quiet || config.global.quiet;
    if opts.check {
        if !quiet {
            // As `haproxy -c` says it, on standard output.
            if warned {
                println!("Warnings were found.");
            }
            println!("Configuration file is valid");
        }
        return 0;
    }
    let level = if opts.debug {
        "debug"
    } else if quiet {
        "warn"
    } else {
        "info"
    };
    crate::logging::init(level);
    let daemon = (opts.daemon || config.global.daemon) && !opts.foreground;
    let pidfile = opts.pidfile.clone().or(config.global.pidfile.clone());
    let result = if master_worker {
        let programs = config.programs.clone();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let mut reload_opts = Options {
            check: true,
            ..clone_files(&opts)
        };
        // A daemonized master runs in `/`: the files are read again from where they were named.
        reload_opts.files = reload_opts.files.iter().map(|f| cwd.join(f)).collect();
        let load = move || load_checked(&reload_opts, true).map(|(c, _)| c);
        let master = crate::master::MasterOptions {
            cli: &opts.master_cli,
            pidfile: pidfile.as_deref(),
            daemon,
            systemd: opts.systemd,
            programs: &programs,
            args: &raw_args,
            config: &config,
            cwd: &cwd,
            load: &load,
        };
        crate::master::run(&master)
    } else {
        let handover = match &opts.take_from {
            None => fulcrum_proxy::listener::Handover::default(),
            Some(path) => match fulcrum_proxy::listener::receive_sockets(path) {
                Ok(h) => h,
                Err(e) => {
                    eprintln!(
                        "[ALERT] -x {}: cannot take the listening sockets: {e}",
                        path.display()
                    );
                    return 1;
                }
            },
        };
        run(
            config,
            RunOptions {
                daemon,
                pidfile: pidfile.as_deref(),
                master: None,
                handover,
                ready: None,
                old: [
                    (Signal::SIGUSR1, opts.soft_finish.clone()),
                    (Signal::SIGTERM, opts.terminate.clone()),
                ],
            },
        )
        .map(|()| 0)
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("[ALERT] {e:#}");
            1
        }
    }
}

/// The options that say which configuration to read (for the master's reloads).
fn clone_files(o: &Options) -> Options {
    Options {
        files: o.files.clone(),
        diag: o.diag,
        master_worker: o.master_worker,
        ..Options::default()
    }
}

/// Reads and checks the configuration as `-c` does: the configuration and the warnings to show, or every message
/// saying why it is invalid. `reload` says the master-worker mode is on whatever the options say.
fn load_checked(opts: &Options, reload: bool) -> Result<(Config, Vec<String>), String> {
    let fatal = "[ALERT] Fatal errors found in configuration.";
    let mut config = match haproxy::load(&opts.files) {
        Ok(c) => c,
        Err(diags) => {
            let mut out: Vec<String> = diags.0.iter().map(|d| d.to_string()).collect();
            out.push(fatal.into());
            return Err(out.join("\n"));
        }
    };
    config.global.noreuseport |= opts.no_reuseport;
    let master_worker = reload || opts.master_worker || config.global.master_worker;
    if let Err(e) = check_programs(&config, master_worker) {
        return Err(format!("{e}\n{fatal}"));
    }
    let mut warnings: Vec<String> = config
        .warnings
        .iter()
        .filter(|w| w.severity != Severity::Diag || opts.diag)
        .map(|w| w.to_string())
        .collect();
    // What only the proxy can check: rules and log-format strings compile, server-state files give addresses.
    if opts.check {
        match fulcrum_proxy::check(&config) {
            Ok(more) => warnings.extend(more.into_iter().map(|w| format!("[WARNING] {w}"))),
            Err(e) => return Err(format!("{e}\n{fatal}")),
        }
    }
    Ok((config, warnings))
}

/// Runs a worker started by the master: the listening sockets, the runtime API channel and the readiness pipe
/// are inherited descriptors named in the environment.
fn worker_main(opts: &Options, cli: &std::ffi::OsStr) -> Result<()> {
    use std::os::fd::FromRawFd;
    let fd_of = |v: &std::ffi::OsStr, what: &str| -> Result<i32> {
        v.to_str()
            .and_then(|v| v.parse::<i32>().ok())
            .filter(|fd| *fd > 2)
            .with_context(|| format!("invalid {what} descriptor from the master"))
    };
    let cli_fd = fd_of(cli, "runtime API")?;
    let ready_fd = fd_of(
        &std::env::var_os(crate::master::ENV_READY).unwrap_or_default(),
        "readiness",
    )?;
    let sockets = std::env::var(crate::master::ENV_SOCKETS).unwrap_or_default();
    for v in [
        crate::master::ENV_CLI,
        crate::master::ENV_READY,
        crate::master::ENV_SOCKETS,
    ] {
        std::env::remove_var(v);
    }
    // SAFETY: the master passed these descriptors to this process for it alone, each named once.
    let (channel, ready) = unsafe {
        (
            std::os::unix::net::UnixListener::from_raw_fd(cli_fd),
            std::os::fd::OwnedFd::from_raw_fd(ready_fd),
        )
    };
    for fd in [cli_fd, ready_fd] {
        // SAFETY: F_SETFD on a descriptor this process owns.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    let mut handover = fulcrum_proxy::listener::Handover::default();
    for item in sockets.split(',').filter(|s| !s.is_empty()) {
        let (addr, fd) = item
            .rsplit_once('=')
            .context("invalid socket list from the master")?;
        let addr: std::net::SocketAddr = addr
            .parse()
            .context("invalid socket address from the master")?;
        let fd = fd_of(std::ffi::OsStr::new(fd), "listening socket")?;
        // SAFETY: as above.
        handover.insert(addr, unsafe { std::net::TcpListener::from_raw_fd(fd) });
    }
    let (config, _) = load_checked(opts, true).map_err(anyhow::Error::msg)?;
    let level = if opts.debug {
        "debug"
    } else if opts.quiet || config.global.quiet {
        "warn"
    } else {
        "info"
    };
    crate::logging::init(level);
    let channel = fulcrum_proxy::runtime_api::StatsListener::unix(
        channel,
        fulcrum_config::haproxy::StatsLevel::Admin,
    );
    run(
        config,
        RunOptions {
            daemon: false,
            pidfile: None,
            master: Some(channel),
            handover,
            ready: Some(ready),
            old: [(Signal::SIGUSR1, Vec::new()), (Signal::SIGTERM, Vec::new())],
        },
    )
}

/// How [`run`] starts.
struct RunOptions<'a> {
    daemon: bool,
    pidfile: Option<&'a std::path::Path>,
    /// The master's channel to this process's runtime API, in master-worker mode.
    master: Option<fulcrum_proxy::runtime_api::StatsListener>,
    /// Listening sockets handed over (by the master, or through `-x`).
    handover: fulcrum_proxy::listener::Handover,
    /// Where to say "serving" to the master.
    ready: Option<std::os::fd::OwnedFd>,
    /// `-sf` and `-st`: the processes to signal once serving.
    old: [(Signal, Vec<i32>); 2],
}

/// Waits up to `timeout` for one of `signals`.
fn wait_signal(signals: &SigSet, timeout: std::time::Duration) -> Option<Signal> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: the set and the timeout live for the call; no siginfo is asked for.
    let n = unsafe { libc::sigtimedwait(signals.as_ref(), std::ptr::null_mut(), &ts) };
    if n <= 0 {
        return None;
    }
    Signal::try_from(n).ok()
}

/// Runs the proxy until it stops: binds (taking handed-over sockets), daemonizes when asked, writes the pid file,
/// drops privileges, starts the workers, then waits for signals: SIGTERM and SIGINT stop at once, SIGUSR1 stops
/// softly (see the module's documentation).
fn run(config: Config, o: RunOptions<'_>) -> Result<()> {
    let mut handover = o.handover;
    let mut bound = fulcrum_proxy::bind_with(&config, &mut handover)?;
    // Handed-over sockets of addresses no longer bound are closed here.
    drop(handover);
    if let Some(channel) = o.master {
        bound.add_cli_listener(channel);
    }
    if o.daemon {
        nix::unistd::daemon(false, false).context("cannot daemonize")?;
    }
    if let Some(pidfile) = o.pidfile {
        std::fs::write(pidfile, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write pid file {}", pidfile.display()))?;
    }
    drop_privileges(&config)?;
    // Block the stop signals before any thread starts, so that they are all delivered to this thread's sigwait.
    let mut signals = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGUSR1,
        Signal::SIGHUP,
        Signal::SIGUSR2,
    ] {
        signals.add(s);
    }
    signals.thread_block().context("cannot block signals")?;
    let running = bound.spawn()?;
    for (name, addr) in running.local_addrs() {
        tracing::info!("Proxy {name} started, listening on {addr}.");
    }
    if let Some(ready) = o.ready {
        let _ = nix::unistd::write(&ready, b"R");
    }
    for (sig, pids) in &o.old {
        for pid in pids {
            if let Err(e) = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), *sig) {
                tracing::warn!("cannot send {sig:?} to the old process {pid}: {e}");
            }
        }
    }
    let grace = config.global.grace.unwrap_or_default();
    let hard_stop_after = config.global.hard_stop_after;
    // When SIGUSR1 came, and whether the listeners were stopped yet.
    let mut soft: Option<(std::time::Instant, bool)> = None;
    let pid = std::process::id();
    loop {
        let tick = if soft.is_some() {
            std::time::Duration::from_millis(50)
        } else {
            std::time::Duration::from_secs(3600)
        };
        match wait_signal(&signals, tick) {
            None => {}
            // HAProxy's reload signals: a standalone process cannot reload itself.
            Some(s @ (Signal::SIGHUP | Signal::SIGUSR2)) => tracing::warn!(
                "{s:?} received: a standalone process does not reload (run it with -W, or start a new one with -sf); nothing changed"
            ),
            Some(Signal::SIGUSR1) if soft.is_none() => {
                if !grace.is_zero() {
                    say(&format!(
                        "[NOTICE]   ({pid}) : Scheduling a soft-stop in {} ms.",
                        grace.as_millis()
                    ));
                }
                soft = Some((std::time::Instant::now(), false));
            }
            Some(Signal::SIGUSR1) => {}
            Some(s) => {
                tracing::warn!("{s:?} received: stopping.");
                break;
            }
        }
        let Some((since, stopped)) = &mut soft else {
            continue;
        };
        if !*stopped && since.elapsed() >= grace {
            *stopped = true;
            running.soft_stop();
            tracing::warn!(
                "soft stop: listeners stopped, {} connections left",
                running.connections()
            );
        }
        if *stopped && running.connections() == 0 && !running.handing_over() {
            tracing::info!("soft stop: no connection left, exiting.");
            break;
        }
        if hard_stop_after.is_some_and(|h| since.elapsed() >= h) {
            say(&format!(
                "[WARNING]  ({pid}) : hard-stop-after: closing the {} connections left.",
                running.connections()
            ));
            break;
        }
    }
    running.stop();
    Ok(())
}

/// Writes one line to stderr in one write.
fn say(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}

/// What only this process can check of `program` sections: they need master-worker mode (as in HAProxy 2.6), and
/// the users and groups they name must exist.
fn check_programs(config: &Config, master_worker: bool) -> Result<(), String> {
    let mut problems = Vec::new();
    for p in &config.programs {
        for (what, name) in [("user", &p.user), ("group", &p.group)] {
            let Some(name) = name else { continue };
            let found = if what == "user" {
                crate::master::resolve_user(name)
            } else {
                crate::master::resolve_group(name)
            };
            if let Err(e) = found {
                problems.push(format!(
                    "[ALERT] {}: '{what}': program '{}': {e}",
                    p.location, p.name
                ));
            }
        }
    }
    if !config.programs.is_empty() && !master_worker {
        problems.push(
            "[ALERT] config : Can't use a 'program' section without master worker mode.".into(),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn drop_privileges(config: &Config) -> Result<()> {
    use nix::unistd::{chdir, chroot, setgid, setgroups, setuid, Group, User};
    let g = &config.global;
    let gid = match &g.group {
        Some(name) => Some(match name.parse::<u32>() {
            Ok(n) => nix::unistd::Gid::from_raw(n),
            Err(_) => {
                Group::from_name(name)?
                    .with_context(|| format!("unknown group '{name}'"))?
                    .gid
            }
        }),
        None => None,
    };
    let uid = match &g.user {
        Some(name) => Some(match name.parse::<u32>() {
            Ok(n) => nix::unistd::Uid::from_raw(n),
            Err(_) => {
                User::from_name(name)?
                    .with_context(|| format!("unknown user '{name}'"))?
                    .uid
            }
        }),
        None => None,
    };
    if let Some(dir) = &g.chroot {
        chroot(dir).with_context(|| format!("cannot chroot to {}", dir.display()))?;
        chdir("/").context("chdir / after chroot")?;
    }
    if let Some(gid) = gid {
        setgroups(&[gid]).context("setgroups")?;
        setgid(gid).context("setgid")?;
    }
    if let Some(uid) = uid {
        setuid(uid).context("setuid")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_haproxy_flags() {
        let o = parse(args(&[
            "-f",
            "a.cfg",
            "-f",
            "conf.d",
            "-c",
            "-p",
            "/run/p.pid",
            "-D",
        ]))
        .unwrap();
        assert_eq!(
            o.files,
            vec![PathBuf::from("a.cfg"), PathBuf::from("conf.d")]
        );
        assert!(o.check && o.daemon);
        assert_eq!(o.pidfile, Some(PathBuf::from("/run/p.pid")));
        assert_eq!(parse(args(&["-vv"])).unwrap().version, 2);
        assert_eq!(
            parse(args(&["-fa.cfg"])).unwrap().files,
            vec![PathBuf::from("a.cfg")]
        );
    }

    #[test]
    fn parses_reload_flags() {
        let o = parse(args(&[
            "-f",
            "a.cfg",
            "-sf",
            "12",
            "13",
            "-st",
            "14",
            "-x",
            "/run/s.sock",
        ]))
        .unwrap();
        assert_eq!(o.soft_finish, [12, 13]);
        assert_eq!(o.terminate, [14]);
        assert_eq!(o.take_from, Some(PathBuf::from("/run/s.sock")));
        // HAProxy's usual spelling: the pids last.
        let o = parse(args(&["-f", "a.cfg", "-sf"])).unwrap();
        assert!(o.soft_finish.is_empty());
        let o = parse(args(&["-Ws", "-f", "a.cfg"])).unwrap();
        assert!(o.master_worker && o.systemd);
        assert!(parse(args(&["-x"])).is_err());
        assert!(parse(args(&["-sf", "0"])).is_err());
    }

    #[test]
    fn refuses_unsupported_and_unknown_flags() {
        let o = parse(args(&["-W", "-S", "/run/m.sock", "-S", "fd@7"])).unwrap();
        assert!(o.master_worker);
        assert_eq!(o.master_cli, ["/run/m.sock", "fd@7"]);
        let e = parse(args(&["-N"])).unwrap_err().to_string();
        assert!(e.contains("not supported yet"), "{e}");
        let e = parse(args(&["--bogus"])).unwrap_err().to_string();
        assert!(e.contains("unknown option '--bogus'"), "{e}");
        let e = parse(args(&["-f"])).unwrap_err().to_string();
        assert!(e.contains("needs a file"), "{e}");
    }
}
