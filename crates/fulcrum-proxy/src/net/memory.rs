//! Giving memory back to the system once connections go idle.
//!
//! A parked keep-alive connection frees its HTTP buffers, but an allocator keeps freed pages for a while and only
//! returns them when the thread allocates again, which a worker whose connections all went idle no longer does.
//! The binary, which chooses the allocator, registers how to release memory ([`set_release`]); after connections
//! park, each worker calls it once, a moment later (at most once per [`SETTLE`]).

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Duration;

/// How long after a connection parks the release runs (more connections usually park meanwhile).
const SETTLE: Duration = Duration::from_millis(300);

static RELEASE: OnceLock<fn()> = OnceLock::new();

thread_local! {
    static SCHEDULED: Cell<bool> = const { Cell::new(false) };
}

/// Registers the function that returns freed memory to the system (for mimalloc: a forced collection). Only the
/// first registration counts.
pub fn set_release(release: fn()) {
    let _ = RELEASE.set(release);
}

/// Notes that a connection of this worker released its buffers: schedules one release on this worker unless one is
/// already pending. Must run on a worker (inside its `LocalSet`).
pub fn connection_parked() {
    let Some(&release) = RELEASE.get() else {
        return;
    };
    if SCHEDULED.with(|s| s.replace(true)) {
        return;
    }
    tokio::task::spawn_local(async move {
        tokio::time::sleep(SETTLE).await;
        SCHEDULED.with(|s| s.set(false));
        release();
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn count() {
        CALLS.fetch_add(1, Ordering::Relaxed);
    }

    #[test]
    fn one_release_per_burst_of_parkings() {
        set_release(count);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            for _ in 0..100 {
                connection_parked();
            }
            tokio::time::sleep(SETTLE * 2).await;
            assert_eq!(CALLS.load(Ordering::Relaxed), 1);
            connection_parked();
            tokio::time::sleep(SETTLE * 2).await;
            assert_eq!(CALLS.load(Ordering::Relaxed), 2);
        });
    }
}
