//! The table lock: one writer at a time.
//!
//! IPVS changes its table one operation at a time in the kernel, so `ipvsadm` and keepalived never undo each
//! other's work. fulcrum's nftables plane writes the whole table from a model it has just read, so two writers
//! (an `ipvsadm` command, `fulcrum keepalived`'s checkers, the connection-count controller) that read and
//! write at the same time would lose one of the two changes. Every writer therefore holds this lock from the
//! read its change is based on until its write: an advisory `flock(2)` on a file named after the network
//! namespace (`/run/fulcrum/lvs-<netns inode>.lock`), so directors in different namespaces do not wait for
//! one another. The kernel releases it when its holder exits, even on a crash.

use super::PlaneError;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Where lock files live.
pub const LOCK_DIR: &str = "/run/fulcrum";
/// How long a writer waits for the lock before giving up with an error.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// The held lock; released when dropped.
#[derive(Debug)]
pub struct TableLock {
    _file: File,
}

/// The inode number of this process's network namespace (0 when it cannot be read): what tells the files of
/// one namespace's table and daemons from another's under [`LOCK_DIR`].
pub fn netns_inode() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/net").map_or(0, |m| m.ino())
}

/// The lock file of the current network namespace.
pub fn lock_path() -> String {
    format!("{LOCK_DIR}/lvs-{}.lock", netns_inode())
}

impl TableLock {
    /// Takes the lock of this network namespace, waiting up to [`LOCK_WAIT`].
    pub fn acquire() -> Result<TableLock, PlaneError> {
        Self::acquire_at(&lock_path(), LOCK_WAIT)
    }

    /// Takes the lock at `path`, waiting up to `wait`.
    pub fn acquire_at(path: &str, wait: Duration) -> Result<TableLock, PlaneError> {
        let io = |source| PlaneError::Io {
            path: path.to_string(),
            source,
        };
        if let Some(dir) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io)?;
        let t0 = Instant::now();
        loop {
            // SAFETY: flock on a descriptor this function owns.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if r == 0 {
                return Ok(TableLock { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io(e));
            }
            if t0.elapsed() >= wait {
                return Err(PlaneError::Unsupported(format!(
                    "the virtual-server table is busy: another fulcrum ipvsadm or fulcrum keepalived has held {path} for {} s",
                    wait.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_gets_it() {
        let path = std::env::temp_dir()
            .join(format!("fulcrum-lock-test-{}", std::process::id()))
            .display()
            .to_string();
        let first = TableLock::acquire_at(&path, Duration::from_millis(100)).unwrap();
        let busy = TableLock::acquire_at(&path, Duration::from_millis(50));
        assert!(
            matches!(&busy, Err(PlaneError::Unsupported(m)) if m.contains("busy")),
            "{busy:?}"
        );
        let t = std::thread::spawn({
            let path = path.clone();
            move || TableLock::acquire_at(&path, Duration::from_secs(5)).is_ok()
        });
        std::thread::sleep(Duration::from_millis(100));
        drop(first);
        assert!(t.join().unwrap());
        let _ = std::fs::remove_file(&path);
    }
}
