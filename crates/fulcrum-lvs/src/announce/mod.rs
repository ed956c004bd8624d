//! Announcing healthy services to a routing daemon (fulcrum only: `fulcrum_announce_table` in keepalived.conf's
//! `global_defs`, `--announce-table` for `fulcrum ipvsadm`).
//!
//! Directors that run side by side behind ECMP each announce the virtual addresses over BGP, through a routing
//! daemon such as BIRD or FRR (fulcrum does not speak BGP). The conventional interface is the kernel routing
//! table: fulcrum puts a host route for the virtual address of every service that is healthy in a table of its
//! own, with its own protocol number; the daemon learns that table and exports the routes, and withdraws one as
//! soon as fulcrum deletes it. What "healthy" means is the caller's: keepalived's checkers count the quorum,
//! `ipvsadm --announce-table` asks whether a real server can take new connections ([`serving`]).
//!
//! The routes point at a TUN device that fulcrum creates and holds open without making it persistent
//! (`fulcrum-ann`): should fulcrum die, even by SIGKILL, the kernel destroys the device with its last
//! descriptor, the routes through it vanish, and the daemon withdraws them at once instead of announcing a
//! director that no longer checks anything. Nothing is ever sent through the device.

pub mod daemon;
pub mod serving;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;

/// The device the announced routes point at.
pub const DEVICE: &str = "fulcrum-ann";

/// Why announcing cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    /// The TUN device could not be made.
    #[error("cannot create the announcement device {DEVICE}: {0}")]
    Device(std::io::Error),
    /// A command failed.
    #[error("{0}")]
    Command(String),
}

/// Where announced routes go: a routing table of fulcrum's own and the routes' protocol number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The table (1 to 2^32-2, not 253-255: those are the kernel's own).
    pub table: u32,
    /// The routes' protocol number (5 to 254; 200 by default).
    pub protocol: u8,
}

/// The default protocol number of announced routes.
pub const DEFAULT_PROTOCOL: u8 = 200;

impl Settings {
    /// Checks the numbers; the error says what is wrong.
    pub fn new(table: u32, protocol: u8) -> Result<Settings, String> {
        match table {
            0 | u32::MAX => Err(format!("table {table} is out of range (1 to 4294967294)")),
            253..=255 => Err(format!(
                "table {table} is one of the kernel's own (default, main, local); announce into a table of its own"
            )),
            _ if !(5..=254).contains(&protocol) => Err(format!(
                "protocol {protocol} is out of range (5 to 254: 0-4 and 255 are the kernel's own)"
            )),
            _ => Ok(Settings { table, protocol }),
        }
    }
}

/// The routes in force and the device holding them.
pub struct Announcer {
    conf: Settings,
    _device: OwnedFd,
    announced: BTreeSet<IpAddr>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Creates the non-persistent TUN device (gone with the returned descriptor).
fn tun_device() -> Result<OwnedFd, std::io::Error> {
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    let path = c"/dev/net/tun";
    // SAFETY: open(2) with a valid C string; the descriptor is owned right away.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = [0u8; 40];
    req[..DEVICE.len()].copy_from_slice(DEVICE.as_bytes());
    let flags: u16 = 0x0001 | 0x1000; // IFF_TUN | IFF_NO_PI
    req[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: TUNSETIFF reads a struct ifreq (40 bytes) from `req`, which outlives the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, req.as_mut_ptr()) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

fn route_args<'a>(verb: &'a str, dest: &'a str, table: &'a str, proto: &'a str) -> Vec<&'a str> {
    vec![
        "route", verb, dest, "dev", DEVICE, "table", table, "proto", proto,
    ]
}

impl Announcer {
    /// Creates the device; nothing is announced yet.
    pub fn open(conf: Settings) -> Result<Announcer, AnnounceError> {
        let device = tun_device().map_err(AnnounceError::Device)?;
        ip(&["link", "set", DEVICE, "up"]).map_err(AnnounceError::Command)?;
        Ok(Announcer {
            conf,
            _device: device,
            announced: BTreeSet::new(),
        })
    }

    /// The settings it runs with.
    pub fn conf(&self) -> Settings {
        self.conf
    }

    /// The addresses announced now.
    pub fn announced(&self) -> &BTreeSet<IpAddr> {
        &self.announced
    }

    /// Announces exactly `wanted`: routes for new addresses are added, those of addresses no longer wanted
    /// deleted. A failed command is logged and tried again at the next call.
    pub fn set(&mut self, wanted: &BTreeSet<IpAddr>) {
        let table = self.conf.table.to_string();
        let proto = self.conf.protocol.to_string();
        for a in self.announced.clone().difference(wanted) {
            let dest = host_route(*a);
            match ip(&route_args("del", &dest, &table, &proto)) {
                Ok(()) => {
                    tracing::info!("withdrawing {a}: its service is unhealthy or gone");
                    self.announced.remove(a);
                }
                Err(e) if e.contains("No such process") => {
                    self.announced.remove(a);
                }
                Err(e) => tracing::error!("cannot withdraw {a}: {e}"),
            }
        }
        for a in wanted.difference(&self.announced.clone()) {
            let dest = host_route(*a);
            match ip(&route_args("replace", &dest, &table, &proto)) {
                Ok(()) => {
                    tracing::info!(
                        "announcing {a} (route in table {table}, protocol {proto}): its service is healthy"
                    );
                    self.announced.insert(*a);
                }
                Err(e) => tracing::error!("cannot announce {a}: {e}"),
            }
        }
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        self.set(&BTreeSet::new());
    }
}

/// `ADDR/32` or `ADDR/128`.
fn host_route(a: IpAddr) -> String {
    match a {
        IpAddr::V4(v) => format!("{v}/32"),
        IpAddr::V6(v) => format!("{v}/128"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_refuse_the_kernels_tables_and_protocols() {
        assert!(Settings::new(100, DEFAULT_PROTOCOL).is_ok());
        for t in [0, 253, 254, 255, u32::MAX] {
            assert!(Settings::new(t, DEFAULT_PROTOCOL).is_err(), "table {t}");
        }
        for p in [0, 4, 255] {
            assert!(Settings::new(100, p).is_err(), "protocol {p}");
        }
    }

    #[test]
    fn routes_are_host_routes_in_the_table_through_the_device() {
        assert_eq!(
            host_route("198.19.0.100".parse().unwrap()),
            "198.19.0.100/32"
        );
        assert_eq!(host_route("fd00::1".parse().unwrap()), "fd00::1/128");
        assert_eq!(
            route_args("replace", "198.19.0.100/32", "100", "200").join(" "),
            "route replace 198.19.0.100/32 dev fulcrum-ann table 100 proto 200"
        );
    }
}
