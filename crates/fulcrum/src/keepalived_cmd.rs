//! `fulcrum keepalived`, the process shell (flags, logging, daemonizing, pid file, signals) around keepalived's two
//! halves in one process. VRRP (fulcrum-vrrp) runs on the main thread;
//! when the configuration has `virtual_server` blocks, the checkers (fulcrum-checkers) run beside it and keep
//! the L4 table of `fulcrum ipvsadm` in line with the real servers' health. `-P` runs VRRP only, `-C` the
//! checkers only, as keepalived. SIGHUP reloads both (each keeps what did not change); SIGTERM/SIGINT stop
//! both, and the checkers remove the services they created (unless `-I`/`--dont-release-ipvs`: then they stay,
//! and the next start adopts those it would create identically). With `lvs_sync_daemon`, the connection sync daemon
//! (conntrackd, see `fulcrum_lvs::sync`) is the backup until its VRRP instance becomes MASTER, then the master.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::Path;

use fulcrum_admin::metrics_server::MetricsServer;
use fulcrum_checkers::{Checkers, Plane, Reloader};
use fulcrum_config::keepalived;
use fulcrum_lvs::plane::file::FilePlane;
use fulcrum_lvs::plane::nft::NftPlane;
use fulcrum_lvs::sync::follower::{Follower, RoleSender};
use fulcrum_lvs::sync::{Role, SyncSpec};
use fulcrum_vrrp::cli::{self, CliOptions};
use nix::sys::signal::{SigSet, Signal};

/// Runs `fulcrum keepalived` with `argv` (`argv[0]` is the program name); returns the exit code.
pub fn main(argv: Vec<OsString>) -> i32 {
    let opts = match cli::parse_args(&argv) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("fulcrum keepalived: {e}\n{}", cli::USAGE);
            return 1;
        }
    };
    if opts.help {
        print!("{}{}", cli::USAGE, cli::SEE_ALSO);
        return 0;
    }
    if opts.version {
        println!("fulcrum keepalived {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    if let Some(func) = &opts.signum {
        return match cli::signum(func) {
            Some(n) => {
                println!("{n}");
                0
            }
            None => {
                eprintln!("Unknown sigfunc {func}");
                1
            }
        };
    }
    if opts.config_test {
        return fulcrum_vrrp::config_test(&opts.config);
    }
    init_logging(opts.log_detail);
    match keepalived::load(&opts.config) {
        Ok(config) => run(&opts, config),
        Err(d) => {
            eprintln!("{d}");
            tracing::error!("{d}");
            1
        }
    }
}

fn init_logging(detail: bool) {
    let level = if detail { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn plane() -> Plane {
    match std::env::var_os(fulcrum_lvs::cli::STATE_ENV) {
        Some(p) if !p.is_empty() => Plane::File(FilePlane::new(p)),
        _ if fulcrum_lvs::plane::xdp::selected() => {
            Plane::Xdp(fulcrum_lvs::plane::xdp::XdpPlane::default().in_background())
        }
        _ => Plane::Nft(NftPlane::default()),
    }
}

fn run(opts: &CliOptions, config: keepalived::Config) -> i32 {
    if !opts.dont_fork {
        // SAFETY: daemon(3) forks; no thread has been started yet.
        if unsafe { libc::daemon(0, i32::from(opts.log_console)) } != 0 {
            eprintln!(
                "fulcrum keepalived: daemon: {}",
                std::io::Error::last_os_error()
            );
            return 1;
        }
    }
    // Every thread started from here on inherits the blocked signals; the VRRP daemon (or the loop below)
    // takes them from a signalfd / sigwait.
    let mask = fulcrum_vrrp::linux::daemon::signal_mask();
    if let Err(e) = mask.thread_block() {
        eprintln!("fulcrum keepalived: cannot block signals: {e}");
        return 1;
    }
    // With VRRP, the daemon's own load reports these; without it, nobody else does.
    if opts.checkers_only {
        for (loc, kw) in &config.ignored {
            tracing::warn!("{loc}: '{kw}' has no effect in fulcrum");
        }
        for w in &config.warnings {
            tracing::warn!("{w}");
        }
    }
    // The sync daemon follows its VRRP instance, so it runs with VRRP (not with -C), and needs the kernel table.
    let sync = match &config.global.lvs_sync_daemon {
        Some(d) if !opts.checkers_only => {
            if std::env::var_os(fulcrum_lvs::cli::STATE_ENV).is_some_and(|p| !p.is_empty()) {
                tracing::warn!("lvs_sync_daemon: no sync daemon for the dry-run table");
                None
            } else {
                match sync_follower(d) {
                    Ok(f) => Some((d.instance.clone(), f)),
                    Err(e) => {
                        eprintln!("lvs_sync_daemon: {e}");
                        tracing::error!("lvs_sync_daemon: {e}");
                        return 1;
                    }
                }
            }
        }
        _ => None,
    };
    let metrics_listen = config.global.metrics_listen;
    if let Err(e) = fulcrum_lvs::plane::xdp::selection() {
        eprintln!("fulcrum keepalived: {e}");
        return 1;
    }
    // The checkers run when there is something to check (or -C asks for them alone), and never with -P.
    let checkers = if opts.vrrp_only || (config.virtual_servers.is_empty() && !opts.checkers_only) {
        None
    } else {
        match Checkers::start(config, plane()) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("{e}");
                tracing::error!("{e}");
                return 1;
            }
        }
    };
    write_pid(opts.pid_file.as_deref());
    let code = if opts.checkers_only {
        wait_for_signals(&mask, &opts.config, checkers.as_ref(), metrics_listen)
    } else {
        let follow = sync.as_ref().map(|(i, f)| (i.clone(), f.sender()));
        run_vrrp(&opts.config, checkers.as_ref(), follow)
    };
    // Stopped (both roles) once VRRP has stopped.
    drop(sync);
    if let Some(c) = checkers {
        // keepalived's -I: the services stay, for the next start to adopt.
        c.stop_with(!opts.dont_release_ipvs);
    }
    if let Some(p) = &opts.pid_file {
        let _ = std::fs::remove_file(p);
    }
    code
}

fn write_pid(path: Option<&Path>) {
    if let Some(p) = path {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            tracing::warn!("cannot write pid file {}: {e}", p.display());
        }
    }
}

/// Reloads the checkers from `path`; returns the new configuration's `fulcrum_metrics_listen` when it loaded.
fn reload_with(path: &Path, r: &Reloader) -> Option<Option<SocketAddr>> {
    match keepalived::load(path) {
        Ok(config) => {
            let listen = config.global.metrics_listen;
            if let Err(e) = r.reload(config) {
                tracing::error!("reload refused, the running checkers stay: {e}");
                return None;
            }
            Some(listen)
        }
        Err(d) => {
            tracing::error!("reload failed, keeping the running configuration:\n{d}");
            None
        }
    }
}

/// `lvs_sync_daemon`'s thread, the backup daemon started.
fn sync_follower(d: &keepalived::LvsSyncDaemon) -> std::io::Result<Follower> {
    let mut spec = SyncSpec::new(Role::Backup, &d.interface, d.syncid);
    spec.maxlen = d.maxlen.unwrap_or(spec.maxlen);
    spec.port = d.port.unwrap_or(spec.port);
    spec.ttl = d.ttl.unwrap_or(spec.ttl);
    spec.group = d.group.unwrap_or(spec.group);
    Follower::start(spec)
}

/// VRRP on this thread until SIGTERM/SIGINT, the checkers following its SIGHUPs and the sync daemon (instance,
/// role sender) its instance's state.
fn run_vrrp(path: &Path, checkers: Option<&Checkers>, sync: Option<(String, RoleSender)>) -> i32 {
    let mut daemon = match fulcrum_vrrp::linux::daemon::Daemon::new(path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            tracing::error!("{e}");
            return 1;
        }
    };
    // The checkers' metrics follow VRRP's on its endpoint (`fulcrum_metrics_listen`).
    if let Some(c) = checkers {
        let page = c.metrics_page();
        daemon.set_metrics_extra(Box::new(move || {
            page.lock().map(|p| p.clone()).unwrap_or_default()
        }));
    }
    // The hook outlives this frame, so it holds a reloader of its own.
    let reload = checkers.map(Checkers::reloader);
    let path_owned = path.to_path_buf();
    daemon.set_signal_hook(Box::new(move |sig| {
        if sig == Signal::SIGHUP {
            if let Some(r) = &reload {
                reload_with(&path_owned, r);
            }
        }
    }));
    if let Some((instance, roles)) = sync {
        daemon.set_state_hook(Box::new(move |name, state| {
            if name == instance {
                match state {
                    "MASTER" => roles.follow(Role::Master),
                    "BACKUP" | "FAULT" => roles.follow(Role::Backup),
                    _ => {}
                }
            }
        }));
    }
    daemon.run()
}

/// The checkers' own metrics endpoint with `-C` (with VRRP, the VRRP daemon serves them): moved or stopped to
/// match `addr`, a failure to bind logged.
fn listen_metrics(server: &mut Option<MetricsServer>, addr: Option<SocketAddr>) {
    if server.as_ref().map(MetricsServer::addr) == addr && addr.is_some_and(|a| a.port() != 0) {
        return;
    }
    *server = None;
    if let Some(a) = addr {
        match MetricsServer::start(a) {
            Ok(m) => {
                tracing::info!(addr = %a, "serving metrics at /metrics");
                *server = Some(m);
            }
            Err(e) => tracing::error!(addr = %a, "cannot serve metrics: {e}"),
        }
    }
}

/// `-C`: no VRRP; wait for signals here (raw numbers: the JSON and STATS_CLEAR signals are real-time ones, which
/// nix's `Signal` cannot name), publishing the checkers' metrics once a second when `fulcrum_metrics_listen` asks.
fn wait_for_signals(
    mask: &SigSet,
    path: &Path,
    checkers: Option<&Checkers>,
    listen: Option<SocketAddr>,
) -> i32 {
    use fulcrum_vrrp::linux::daemon::{sig_json, sig_stats_clear};
    let mut server = None;
    listen_metrics(&mut server, listen);
    let page = checkers.map(Checkers::metrics_page);
    loop {
        if let (Some(s), Some(p)) = (&server, &page) {
            if let Ok(text) = p.lock() {
                s.publish(text.clone());
            }
        }
        let timeout = libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        // SAFETY: `mask` is a valid set blocked in this thread; no siginfo is asked for; `timeout` outlives the call.
        let signo = unsafe { libc::sigtimedwait(mask.as_ref(), std::ptr::null_mut(), &timeout) };
        if signo < 0 {
            let e = std::io::Error::last_os_error();
            if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR)) {
                continue;
            }
            tracing::error!("sigtimedwait: {e}");
            return 1;
        }
        if signo == libc::SIGHUP {
            tracing::info!(path = %path.display(), "reloading");
            if let Some(c) = checkers {
                if let Some(addr) = reload_with(path, &c.reloader()) {
                    listen_metrics(&mut server, addr);
                }
            }
        } else if [libc::SIGUSR1, libc::SIGUSR2, sig_json(), sig_stats_clear()].contains(&signo) {
            tracing::warn!(
                "keepalived's data, statistics and JSON dumps are VRRP's; nothing to write with -C"
            );
        } else {
            tracing::info!("stopping");
            return 0;
        }
    }
}
