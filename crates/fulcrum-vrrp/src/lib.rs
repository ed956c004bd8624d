//! VRRP v2/v3 for `fulcrum keepalived`: a sans-IO codec and state machine, plus the Linux driver.
//!
//! - [`codec`]: adverts on the wire (v2/v3, IPv4/IPv6, both v3 IPv4 checksum forms, PASS auth).
//! - [`frames`]: gratuitous ARP and unsolicited NA frames.
//! - [`instance`]: one instance's state machine (`handle(now, event) -> actions`, `poll_timeout()`).
//! - [`node`]: all instances of a node plus sync groups.
//! - [`linux`]: sockets, netlink, scripts and the event loop behind [`cli_main`].

pub mod cli;
pub mod codec;
pub mod frames;
pub mod instance;
pub mod linux;
pub mod node;

#[cfg(test)]
mod instance_tests;

pub use codec::{Advert, Auth, DecodeError, EncodeError, V3Ipv4Checksum, Version};
pub use instance::{
    Action, Event, GarpSchedule, Instance, InstanceConfig, NotifyState, State, TrackKey, Tracked,
};
pub use node::{GroupConfig, Node, NodeAction};

/// `fulcrum keepalived ARGS...`: keepalived's command line (`args[0]` is the program name); returns the exit code.
///
/// `-t` checks the configuration, with keepalived's exit codes (see [`config_test`]). Otherwise the daemon runs
/// until SIGTERM/SIGINT (priority-0 adverts, addresses removed, exit 0); SIGHUP reloads, keeping the state of
/// instances that are still configured.
pub fn cli_main(args: Vec<std::ffi::OsString>) -> i32 {
    let opts = match cli::parse_args(&args) {
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
    if opts.config_test {
        return config_test(&opts.config);
    }
    let level = if opts.log_detail { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    if !opts.dont_fork {
        // SAFETY: daemon(3) forks; called before any thread is started by us.
        if unsafe { libc::daemon(0, i32::from(opts.log_console)) } != 0 {
            eprintln!(
                "fulcrum keepalived: daemon: {}",
                std::io::Error::last_os_error()
            );
            return 1;
        }
    }
    let mut daemon = match linux::daemon::Daemon::new(&opts.config) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            tracing::error!("{e}");
            return 1;
        }
    };
    if let Some(p) = &opts.pid_file {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            tracing::warn!("cannot write pid file {}: {e}", p.display());
        }
    }
    let code = daemon.run();
    if let Some(p) = &opts.pid_file {
        let _ = std::fs::remove_file(p);
    }
    code
}

/// `-t -f PATH`: checks the file and then the system (interfaces, scripts, users) as keepalived's `-t` does, prints
/// every problem on stderr and returns keepalived's exit code: 0 when nothing is reported, 4 when the file is missing
/// (keepalived's code with `-e`; fulcrum never runs without its file), 5 when problems are reported (also those that
/// keepalived corrects and runs with), 6 when scripts are set up without `enable_script_security`.
pub fn config_test(path: &std::path::Path) -> i32 {
    use linux::check;
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("[ALERT] configuration file '{}' is missing", path.display());
            return check::EXIT_MISSING_FILE;
        }
        Ok(m) if m.is_dir() => {
            eprintln!(
                "[ALERT] configuration file '{}' is a directory",
                path.display()
            );
            return check::EXIT_MISSING_FILE;
        }
        _ => {}
    }
    let config = match fulcrum_config::keepalived::load(path) {
        Ok(c) => c,
        Err(d) => {
            for diag in &d.0 {
                eprintln!("{diag}");
            }
            return check::EXIT_CONFIG;
        }
    };
    for w in &config.warnings {
        eprintln!("{w}");
    }
    let report = check::check(&config, &check::Live);
    for line in report.lines() {
        eprintln!("{line}");
    }
    report.exit_code(config.warnings.len())
}
