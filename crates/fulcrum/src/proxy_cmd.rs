//! `fulcrum proxy`: HAProxy's command line over fulcrum's proxy.
//!
//! Flags as HAProxy takes them: `-f FILE|DIR` (repeatable), `-c` (check and exit), `-p PIDFILE`, `-D` (daemon),
//! `-d`/`-db` (foreground, debug), `-q`, `-V`, `-v`/`-vv`. `-W` runs a master process that forks the worker
//! and serves the master CLI (`-S`, see [`crate::master`]); systemd notification and seamless reloads (`-Ws`,
//! `-sf`, `-st`, `-x`) are refused with a clear message until fulcrum supports them.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use nix::sys::signal::{SigSet, Signal};

use fulcrum_config::diag::Severity;
use fulcrum_config::haproxy::{self, Config};

const USAGE: &str = "\
Usage: fulcrum proxy [-f <cfgfile|cfgdir>]* [-c] [-cc <cond>] [-L <name>] [-p <pidfile>] [-D] [-d] [-db] [-dD] [-q] [-V] [-v|-vv]
  -f  load a configuration file, or every *.cfg of a directory in lexical order (repeatable)
  -c  check the configuration and exit: 0 when valid, 1 with one message per problem otherwise
  -cc evaluate a condition as '.if' does: exit 0 when true, 1 when false, 2 when it cannot be evaluated
  -L  set the local peer name (exported to the configuration as HAPROXY_LOCALPEER)
  -dD diagnostic mode: also print '.diag' messages
  -W  master-worker mode: a master process forks the worker and forwards signals to it
  -S  master CLI socket (with -W): a unix path, ipv4@IP:PORT or fd@N (repeatable)
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
  SIGUSR1          the same (HAProxy's graceful soft stop is not implemented yet)
  SIGHUP, SIGUSR2  logged; nothing changes (configuration reload is not supported yet)
  with -W          the master passes SIGTERM, SIGINT and SIGUSR1 to the worker and exits with its code
                   (130 after SIGINT); SIGHUP and SIGUSR2 to the master: a warning, nothing changes

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
    /// `-cc EXPR`: evaluate a condition and exit.
    condition: Option<String>,
    /// `-dD`: diagnostic mode (`.diag` messages are shown).
    diag: bool,
    /// `-W`: master-worker mode.
    master_worker: bool,
    /// `-S ADDR` (repeatable): master CLI sockets.
    master_cli: Vec<String>,
}

fn parse(args: Vec<OsString>) -> Result<Options> {
    let mut o = Options::default();
    let mut it = args.into_iter();
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
            "-Ws" | "-sf" | "-st" | "-x" => bail!(
                "option '{a}' (systemd notification and seamless reloads) is not supported yet by fulcrum"
            ),
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

fn print_version(level: u8) {
    println!(
        "fulcrum proxy version {} (haproxy.cfg dialect of HAProxy 2.6)",
        env!("CARGO_PKG_VERSION")
    );
    if level > 1 {
        println!(
            "Build options: Rust, tokio {{worker per thread, SO_REUSEPORT}}, hyper 1 (HTTP/1.1)"
        );
        println!(
            "Built with profile: {}",
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        );
    }
}

/// Runs `fulcrum proxy ARGS`; returns the exit code.
pub fn main(args: Vec<OsString>) -> u8 {
    let opts = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("[ALERT] {e:#}");
            return 1;
        }
    };
    if opts.help {
        print!("{USAGE}{SEE_ALSO}");
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
    let config = match haproxy::load(&opts.files) {
        Ok(c) => c,
        Err(diags) => {
            for d in &diags.0 {
                eprintln!("{d}");
            }
            eprintln!("[ALERT] Fatal errors found in configuration.");
            return 1;
        }
    };
    // `master-worker` in global is the same as -W.
    let master_worker = opts.master_worker || config.global.master_worker;
    if !opts.master_cli.is_empty() && !master_worker {
        eprintln!("[ALERT] the master CLI (-S) needs master-worker mode (-W).");
        return 1;
    }
    if let Err(e) = check_programs(&config, master_worker) {
        eprintln!("{e}");
        eprintln!("[ALERT] Fatal errors found in configuration.");
        return 1;
    }
    for w in &config.warnings {
        if w.severity != Severity::Diag || opts.diag {
            eprintln!("{w}");
        }
    }
    if opts.check {
        // What only the proxy can check: rules and log-format strings compile.
        if let Err(e) = fulcrum_proxy::check(&config) {
            eprintln!("{e}");
            eprintln!("[ALERT] Fatal errors found in configuration.");
            return 1;
        }
        if !opts.quiet {
            println!("Configuration file is valid");
        }
        return 0;
    }
    let level = if opts.debug {
        "debug"
    } else if opts.quiet {
        "warn"
    } else {
        "info"
    };
    crate::logging::init(level);
    let daemon = (opts.daemon || config.global.daemon) && !opts.foreground;
    let pidfile = opts.pidfile.clone().or(config.global.pidfile.clone());
    let result = if master_worker {
        let programs = config.programs.clone();
        let master = crate::master::MasterOptions {
            cli: &opts.master_cli,
            pidfile: pidfile.as_deref(),
            daemon,
            programs: &programs,
        };
        // The worker: the master already daemonized and wrote the pid file.
        crate::master::run(&master, |channel| {
            let channel = fulcrum_proxy::runtime_api::StatsListener::unix(
                channel,
                fulcrum_config::haproxy::StatsLevel::Admin,
            );
            match run(false, None, config, Some(channel)) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("[ALERT] {e:#}");
                    1
                }
            }
        })
    } else {
        run(daemon, pidfile.as_deref(), config, None).map(|()| 0)
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("[ALERT] {e:#}");
            1
        }
    }
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

/// Runs the proxy until a stop signal: binds, daemonizes when asked, writes the pid file, drops privileges, starts
/// the workers. `master` is the master's channel to this process's runtime API in master-worker mode.
fn run(
    daemon: bool,
    pidfile: Option<&std::path::Path>,
    config: Config,
    master: Option<fulcrum_proxy::runtime_api::StatsListener>,
) -> Result<()> {
    let mut bound = fulcrum_proxy::bind(&config)?;
    if let Some(channel) = master {
        bound.add_cli_listener(channel);
    }
    if daemon {
        nix::unistd::daemon(false, false).context("cannot daemonize")?;
    }
    if let Some(pidfile) = pidfile {
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
    loop {
        match signals.wait().context("waiting for signals")? {
            // HAProxy's reload signals: a reload is not implemented yet, and ending the process would be worse.
            s @ (Signal::SIGHUP | Signal::SIGUSR2) => {
                tracing::warn!(
                    "{s:?} received: configuration reload is not supported yet; nothing changed"
                )
            }
            s => {
                tracing::warn!("{s:?} received: stopping.");
                break;
            }
        }
    }
    running.stop();
    Ok(())
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
    fn refuses_unsupported_and_unknown_flags() {
        let e = parse(args(&["-sf", "123"])).unwrap_err().to_string();
        assert!(e.contains("not supported yet"), "{e}");
        let o = parse(args(&["-W", "-S", "/run/m.sock", "-S", "fd@7"])).unwrap();
        assert!(o.master_worker);
        assert_eq!(o.master_cli, ["/run/m.sock", "fd@7"]);
        let e = parse(args(&["-Ws"])).unwrap_err().to_string();
        assert!(e.contains("not supported yet"), "{e}");
        let e = parse(args(&["--bogus"])).unwrap_err().to_string();
        assert!(e.contains("unknown option '--bogus'"), "{e}");
        let e = parse(args(&["-f"])).unwrap_err().to_string();
        assert!(e.contains("needs a file"), "{e}");
    }
}
