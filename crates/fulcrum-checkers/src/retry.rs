//! A store of the virtual-server table that failed: when to try again and what to say.
//!
//! A failed store leaves the previous table in force (fulcrum-lvs checks and says so), and the control
//! thread keeps what the table should hold, so nothing is lost: the next store that succeeds brings in every
//! change made since (the table is read and reconciled afresh each time). Meanwhile the store is tried again
//! every [`RETRY_AFTER`], at the control thread's next pass; the first failure is logged, the same failure
//! again only every [`REPEAT_LOG`] (with the count), and the first success after failures says so.

use std::time::{Duration, Instant};

/// How long after a failed store the next one is tried.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often the same failure is logged again while it lasts.
pub const REPEAT_LOG: Duration = Duration::from_secs(60);

/// The state of failed stores (none at start).
#[derive(Debug, Default)]
pub struct Retry {
    failures: u32,
    next: Option<Instant>,
    logged: Option<(String, Instant)>,
}

impl Retry {
    /// True when a store may be tried at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.next.is_none_or(|t| now >= t)
    }

    /// Records a failed store at `now`; returns the line to log, if this one is to be logged.
    pub fn failed(&mut self, now: Instant, error: &str) -> Option<String> {
        self.failures = self.failures.saturating_add(1);
        self.next = Some(now + RETRY_AFTER);
        if let Some((last, at)) = &self.logged {
            if last == error && now.duration_since(*at) < REPEAT_LOG {
                return None;
            }
        }
        self.logged = Some((error.to_string(), now));
        Some(format!(
            "checkers: cannot update the virtual-server table (attempt {}), trying again every {} s: {error}",
            self.failures,
            RETRY_AFTER.as_secs()
        ))
    }

    /// Records a store that succeeded; returns the line to log when failures came before it.
    pub fn succeeded(&mut self) -> Option<String> {
        let n = std::mem::take(self).failures;
        (n > 0).then(|| {
            format!(
                "checkers: the virtual-server table is up to date again, after {n} failed attempt{}",
                if n == 1 { "" } else { "s" }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_every_second_logs_once_a_minute_and_says_when_it_recovers() {
        let t0 = Instant::now();
        let mut r = Retry::default();
        assert!(r.due(t0));
        assert_eq!(r.succeeded(), None);
        let e = "the change was not applied, the previous table is in place: nft failed: refused";
        let first = r.failed(t0, e).unwrap_or_default();
        assert!(
            first.contains("(attempt 1), trying again every 1 s: the change was not applied"),
            "{first}"
        );
        assert!(!r.due(t0 + Duration::from_millis(999)));
        assert!(r.due(t0 + RETRY_AFTER));
        // The same failure is not logged again within the minute; another one is.
        assert_eq!(r.failed(t0 + Duration::from_secs(1), e), None);
        let other = r.failed(t0 + Duration::from_secs(2), "nft failed: other");
        assert!(other.is_some_and(|l| l.contains("(attempt 3)")));
        assert_eq!(
            r.failed(t0 + Duration::from_secs(3), "nft failed: other"),
            None
        );
        assert!(r
            .failed(t0 + Duration::from_secs(63), "nft failed: other")
            .is_some_and(|l| l.contains("(attempt 5)")));
        assert_eq!(
            r.succeeded().as_deref(),
            Some("checkers: the virtual-server table is up to date again, after 5 failed attempts")
        );
        assert!(r.due(t0));
        assert_eq!(r.succeeded(), None);
    }
}
