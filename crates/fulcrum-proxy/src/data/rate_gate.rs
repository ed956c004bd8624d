//! `maxconnrate N` / `maxsessrate N` (global): at most N new connections (sessions) per second over the whole
//! process. A worker that finds the second's budget spent stops accepting until the next second, as HAProxy
//! pauses its listeners; the kernel queues the connections meanwhile.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// A per-second budget shared by every worker.
#[derive(Debug)]
pub struct RateGate {
    limit: u32,
    epoch: Instant,
    /// The second (since `epoch`) the count is for.
    second: AtomicU64,
    count: AtomicU32,
}

impl RateGate {
    /// At most `limit` (at least 1) a second.
    pub fn new(limit: u32) -> RateGate {
        RateGate {
            limit: limit.max(1),
            epoch: Instant::now(),
            second: AtomicU64::new(0),
            count: AtomicU32::new(0),
        }
    }

    /// Takes one from the budget of the second `now` falls in; when it is spent, how long until the next one.
    pub fn try_take(&self, now: Instant) -> Result<(), Duration> {
        let since = now.saturating_duration_since(self.epoch);
        let second = since.as_secs();
        let seen = self.second.load(Relaxed);
        // The first taker of a new second starts its count; a racing one simply joins it.
        if second > seen
            && self
                .second
                .compare_exchange(seen, second, Relaxed, Relaxed)
                .is_ok()
        {
            self.count.store(0, Relaxed);
        }
        if self.count.fetch_add(1, Relaxed) < self.limit {
            return Ok(());
        }
        Err(Duration::from_secs(second + 1).saturating_sub(since))
    }

    /// Waits until the budget allows one more, and takes it.
    pub async fn take(&self) {
        while let Err(wait) = self.try_take(Instant::now()) {
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_per_second() {
        let g = RateGate::new(3);
        let t0 = g.epoch;
        for _ in 0..3 {
            assert!(g.try_take(t0 + Duration::from_millis(100)).is_ok());
        }
        assert_eq!(
            g.try_take(t0 + Duration::from_millis(400)),
            Err(Duration::from_millis(600))
        );
        // The next second brings a new budget.
        assert!(g.try_take(t0 + Duration::from_millis(1000)).is_ok());
        assert!(g.try_take(t0 + Duration::from_millis(1500)).is_ok());
        assert!(g.try_take(t0 + Duration::from_millis(1999)).is_ok());
        assert!(g.try_take(t0 + Duration::from_millis(1999)).is_err());
        assert!(g.try_take(t0 + Duration::from_millis(3200)).is_ok());
    }
}
