//! VRRP v2/v3 for `fulcrum keepalived`: a sans-IO codec and state machine, plus the Linux driver.
//!
//! - [`codec`]: adverts on the wire (v2/v3, IPv4/IPv6, both v3 IPv4 checksum forms, PASS auth).
//! - [`frames`]: gratuitous ARP and unsolicited NA frames.
//! - [`instance`]: one instance's state machine (`handle(now, event) -> actions`, `poll_timeout()`).
//! - [`node`]: all instances of a node plus sync groups.
//! - [`stats`]: per-instance and per-interface counters, and keepalived's statistics file.
//! - [`linux`]: sockets, netlink, scripts and the event loop ([`linux::daemon::Daemon`]).
//! - [`cli`]: keepalived's flags and usage; [`config_test`]: `-t`. The process around them (logging, daemonizing,
//!   pid file) is the binary's (`crates/fulcrum/src/keepalived_cmd.rs`).

pub mod cli;
pub mod codec;
pub mod data;
pub mod frames;
pub mod instance;
pub mod json;
pub mod linux;
pub mod metrics;
pub mod node;
pub mod stats;

#[cfg(test)]
mod instance_tests;

pub use codec::{Advert, Auth, DecodeError, EncodeError, V3Ipv4Checksum, Version};
pub use instance::{
    Action, Event, GarpSchedule, Instance, InstanceConfig, NotifyState, State, TrackKey, Tracked,
};
pub use node::{GroupConfig, Node, NodeAction};
pub use stats::{InstanceStats, InterfaceStats, PacketError};

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
