//! `fulcrum ipvsadm --announce-table N [--announce-protocol P] [--controller]` (fulcrum only): runs in the
//! foreground until SIGTERM or SIGINT, reads the table every interval and keeps the announced routes equal to
//! [`super::serving::serving`]; with `--controller`, the connection-count controller runs in the same loop.
//! On stop the routes are withdrawn first (the routers stop sending), then the controller's maps go back to
//! their static form. Killed outright, the routes go with the TUN device (see [`super`]).

use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::serving::serving;
use super::{AnnounceError, Announcer, Settings, DEFAULT_PROTOCOL};
use crate::controller::{restore_static_maps, Controller};
use crate::plane::nft::NftPlane;
use crate::plane::PlaneError;

/// The option naming the routing table (it makes `ipvsadm` run as the announcing daemon).
pub const TABLE_FLAG: &str = "--announce-table";
/// The option naming the routes' protocol number.
pub const PROTOCOL_FLAG: &str = "--announce-protocol";

/// What the daemon does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Where routes go; None runs the controller alone.
    pub announce: Option<Settings>,
    /// Whether the connection-count controller runs too.
    pub controller: bool,
}

/// Why the daemon stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The announcement device could not be made.
    #[error(transparent)]
    Announce(#[from] AnnounceError),
    /// The data plane refused a change (restoring the static maps at the end).
    #[error(transparent)]
    Plane(#[from] PlaneError),
}

/// Parses the daemon's options (`--controller`, `--announce-table N`, `--announce-protocol P`, also as
/// `--opt=value`); the error says what is wrong.
pub fn parse(args: &[OsString]) -> Result<Options, String> {
    let mut table: Option<u32> = None;
    let mut protocol: Option<u8> = None;
    let mut controller = false;
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        match name.as_str() {
            "--controller" if inline.is_none() => controller = true,
            TABLE_FLAG | PROTOCOL_FLAG => {
                let Some(v) = inline.or_else(|| it.next()) else {
                    return Err(format!("{name} needs a number"));
                };
                if name == TABLE_FLAG {
                    table = Some(
                        v.parse()
                            .map_err(|_| format!("{name}: '{v}' is not a table number"))?,
                    );
                } else {
                    protocol = Some(
                        v.parse()
                            .map_err(|_| format!("{name}: '{v}' is not a protocol number"))?,
                    );
                }
            }
            _ => {
                return Err(format!(
                    "'{a}' cannot be combined with --controller or {TABLE_FLAG} (they take only each other and {PROTOCOL_FLAG})"
                ))
            }
        }
    }
    let announce = match (table, protocol) {
        (Some(t), p) => Some(
            Settings::new(t, p.unwrap_or(DEFAULT_PROTOCOL))
                .map_err(|e| format!("{TABLE_FLAG}: {e}"))?,
        ),
        (None, Some(_)) => return Err(format!("{PROTOCOL_FLAG} comes without {TABLE_FLAG}")),
        (None, None) => None,
    };
    Ok(Options {
        announce,
        controller,
    })
}

/// Runs until `stop` is set (see the module documentation). A pass that cannot read the table (a store
/// replacing it at that moment) keeps the routes as they are and is retried at the next interval.
pub fn run(
    plane: &mut NftPlane,
    settings: Settings,
    controller: bool,
    stop: &AtomicBool,
    interval: Duration,
) -> Result<(), DaemonError> {
    let mut announcer = Announcer::open(settings)?;
    let mut ctl = controller.then(Controller::default);
    tracing::info!(
        table = settings.table,
        protocol = settings.protocol,
        "announcing the virtual addresses the table serves"
    );
    while !stop.load(Ordering::SeqCst) {
        let t0 = Instant::now();
        if let Some(c) = &mut ctl {
            if let Err(e) = c.tick(plane) {
                tracing::warn!(error = %e, "controller pass failed");
            }
        }
        match plane.model() {
            Ok(table) => announcer.set(&serving(&table)),
            Err(e) => tracing::warn!(error = %e, "cannot read the table; routes kept as they are"),
        }
        while !stop.load(Ordering::SeqCst) && t0.elapsed() < interval {
            std::thread::sleep(Duration::from_millis(20).min(interval));
        }
    }
    // Withdrawn before anything else changes.
    drop(announcer);
    if ctl.is_some() {
        restore_static_maps(plane)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, String> {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn options_and_their_errors() {
        let s = |table, protocol| Some(Settings { table, protocol });
        assert_eq!(
            p(&["--announce-table", "100"]),
            Ok(Options {
                announce: s(100, 200),
                controller: false
            })
        );
        assert_eq!(
            p(&[
                "--controller",
                "--announce-table=7",
                "--announce-protocol",
                "42"
            ]),
            Ok(Options {
                announce: s(7, 42),
                controller: true
            })
        );
        assert_eq!(
            p(&["--controller"]),
            Ok(Options {
                announce: None,
                controller: true
            })
        );
        let err = |args: &[&str], want: &str| {
            let e = p(args).err().unwrap_or_default();
            assert!(e.contains(want), "{args:?}: {e}");
        };
        err(&["--announce-table", "254"], "one of the kernel's own");
        err(&["--announce-table", "x"], "'x' is not a table number");
        err(&["--announce-table"], "needs a number");
        err(
            &["--announce-table", "9", "--announce-protocol", "255"],
            "out of range",
        );
        err(&["--announce-protocol", "9"], "without --announce-table");
        err(&["--controller", "-L"], "'-L' cannot be combined");
    }
}
