//! Connection synchronisation between directors (`ipvsadm --start-daemon` / `--stop-daemon`,
//! `-L --daemon`; keepalived's `lvs_sync_daemon`), carried by conntrackd (see [`conf`] for why and how).
//!
//! A daemon is a conntrackd process of its own per role, started in the background as IPVS's kernel thread
//! is, with its files under `/run/fulcrum/sync-<netns>-<role>.*` ([`conf::Files`]): the generated
//! configuration, the control socket (it answers while the daemon runs), the lock and log files, and the spec
//! that `-L --daemon` prints. Files left by a daemon that died are removed before the next start.

pub mod conf;
pub mod follower;
pub mod spec;

use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use spec::{Role, SyncSpec};

use crate::plane::lock::{netns_inode, LOCK_DIR};
use conf::{conntrackd_conf, ConfError, Files};

/// How long a daemon may take to start or stop.
const WAIT: Duration = Duration::from_secs(5);

/// Why a daemon did not start or stop (the messages are ipvsadm's where it has one).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A daemon of this role runs already.
    #[error("Daemon has already run")]
    AlreadyRunning,
    /// No daemon of this role runs.
    #[error("No daemon is running")]
    NotRunning,
    /// The interface does not exist.
    #[error("No such device: {0}")]
    NoDevice(String),
    /// The configuration cannot be written for these settings.
    #[error(transparent)]
    Conf(#[from] ConfError),
    /// conntrackd is missing, refused the configuration or did not answer.
    #[error("{0}")]
    Conntrackd(String),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
}

fn files(role: Role) -> Files {
    Files::new(LOCK_DIR, netns_inode(), role)
}

/// Whether the daemon of these files answers on its control socket.
fn answers(f: &Files) -> bool {
    UnixStream::connect(&f.ctl).is_ok()
}

fn remove(f: &Files) {
    for p in [&f.conf, &f.ctl, &f.lock, &f.log, &f.spec] {
        let _ = std::fs::remove_file(p);
    }
}

/// The daemons running in this network namespace, master first.
pub fn running() -> Vec<SyncSpec> {
    [Role::Master, Role::Backup]
        .into_iter()
        .filter_map(|r| {
            let f = files(r);
            let spec = SyncSpec::from_record(&std::fs::read_to_string(&f.spec).ok()?)?;
            answers(&f).then_some(spec)
        })
        .collect()
}

/// The first IPv4 address of `dev` (`ip -j -4 addr show dev DEV`); NoDevice when it does not exist.
fn ipv4_of(dev: &str) -> Result<IpAddr, SyncError> {
    let out = Command::new("ip")
        .args(["-j", "-4", "addr", "show", "dev", dev])
        .output()
        .map_err(|e| SyncError::Conntrackd(format!("cannot run ip: {e}")))?;
    if !out.status.success() {
        return Err(SyncError::NoDevice(dev.to_string()));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .and_then(|a| a.first())
        .and_then(|l| l.get("addr_info"))
        .and_then(|a| a.as_array())
        .and_then(|a| a.first())
        .and_then(|i| i.get("local"))
        .and_then(|l| l.as_str())
        .and_then(|l| l.parse().ok())
        .ok_or(SyncError::Conf(ConfError::NoAddress))
}

/// Starts the daemon `spec` describes, in the background; returns once it answers.
pub fn start(spec: &SyncSpec) -> Result<(), SyncError> {
    let f = files(spec.role);
    if answers(&f) {
        return Err(SyncError::AlreadyRunning);
    }
    remove(&f);
    let local = ipv4_of(&spec.interface)?;
    let text = conntrackd_conf(spec, local, &f)?;
    std::fs::create_dir_all(LOCK_DIR).map_err(|source| SyncError::Io {
        path: LOCK_DIR.into(),
        source,
    })?;
    for (path, body) in [(&f.conf, text), (&f.spec, spec.record())] {
        std::fs::write(path, body).map_err(|source| SyncError::Io {
            path: path.clone(),
            source,
        })?;
    }
    // `-d` forks the daemon and returns.
    let st = Command::new("conntrackd")
        .args(["-d", "-C", &f.conf])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let failed = |why: String| {
        let log = std::fs::read_to_string(&f.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(3).collect();
        remove(&f);
        SyncError::Conntrackd(format!(
            "{why}{}",
            if tail.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    tail.into_iter().rev().collect::<Vec<_>>().join("; ")
                )
            }
        ))
    };
    match st {
        Err(e) => {
            return Err(failed(format!(
                "cannot run conntrackd (package conntrackd), which carries the connections: {e}"
            )))
        }
        Ok(o) if !o.status.success() => {
            return Err(failed(format!(
                "conntrackd refused to start: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )))
        }
        Ok(_) => {}
    }
    let t0 = Instant::now();
    while !answers(&f) {
        if t0.elapsed() > WAIT {
            return Err(failed("conntrackd did not answer within 5 s".into()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Stops the daemon of `role`; returns once it is gone.
pub fn stop(role: Role) -> Result<(), SyncError> {
    let f = files(role);
    if !answers(&f) {
        remove(&f);
        return Err(SyncError::NotRunning);
    }
    let _ = Command::new("conntrackd")
        .args(["-C", &f.conf, "-k"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let t0 = Instant::now();
    while answers(&f) {
        if t0.elapsed() > WAIT {
            return Err(SyncError::Conntrackd(format!(
                "conntrackd ({}) did not stop within 5 s",
                f.conf
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    remove(&f);
    Ok(())
}
