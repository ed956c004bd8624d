//! `observe layer4|layer7` with `error-limit` and `on-error`: the traffic's own connection and response errors
//! count against a server's health. The data path reports each event ([`report`]); `error-limit` errors in a
//! row wake the server's check loop, which applies `on-error` to its rise/fall counter ([`OnError`]). A
//! server without `check` only counts (HAProxy does the same: nothing marks it down).
//!
//! `on-marked-down shutdown-sessions` and `on-marked-up shutdown-backup-sessions` close the sessions of a server
//! that goes DOWN, or of the backups when an active server comes UP ([`on_marked`]); the sessions wait on
//! [`Observer::shutdown`].

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use fulcrum_config::haproxy::{ObserveLayer, OnError};
use fulcrum_health::{CheckOutcome, CheckStatus};

use crate::model::server::ServerRt;
use crate::model::snapshot::BackendRt;

/// One thing the traffic showed about a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A connection to the server was established.
    L4Ok,
    /// A connection to the server failed (refused, unreachable, timed out).
    L4Error,
    /// A response with a status that says the server works (1xx to 4xx, 501, 505).
    HttpOk,
    /// A response with any other 5xx status.
    HttpStatus,
    /// A response that was not valid HTTP.
    HttpInvalid,
    /// No response in time (`timeout server`).
    ReadTimeout,
    /// The connection failed while the response was awaited.
    ReadError,
    /// The server closed the connection before responding.
    BrokenPipe,
}

impl Event {
    /// The event a response status makes.
    pub fn for_status(status: u16) -> Event {
        if (100..500).contains(&status) || status == 501 || status == 505 {
            Event::HttpOk
        } else {
            Event::HttpStatus
        }
    }

    /// How the event is named in the `Detected N consecutive errors, last one was: ...` text.
    pub fn description(self) -> &'static str {
        match self {
            Event::L4Ok => "L4 successful connection",
            Event::L4Error => "L4 unsuccessful connection",
            Event::HttpOk => "Correct http response",
            Event::HttpStatus => "Wrong http response",
            Event::HttpInvalid => "Invalid http response",
            Event::ReadTimeout => "Read timeout (http)",
            Event::ReadError => "Read error (http)",
            Event::BrokenPipe => "Close from server (http)",
        }
    }

    /// What the event means under `observe layer`: `Some(true)` an error, `Some(false)` a sign of health that
    /// clears the count, `None` nothing. An established connection says nothing at layer 7: a server that
    /// accepts connections and answers 5xx keeps counting.
    pub fn is_error(self, layer: ObserveLayer) -> Option<bool> {
        match (self, layer) {
            (Event::L4Error, _) => Some(true),
            (Event::L4Ok, ObserveLayer::Layer4) => Some(false),
            (Event::L4Ok, ObserveLayer::Layer7) => None,
            (_, ObserveLayer::Layer4) => None,
            (Event::HttpOk, ObserveLayer::Layer7) => Some(false),
            (_, ObserveLayer::Layer7) => Some(true),
        }
    }
}

/// The per-server state of `observe` and of the `on-marked-*` session shutdowns.
#[derive(Debug, Default)]
pub struct Observer {
    /// Consecutive errors so far.
    errors: AtomicU32,
    /// The last limit reached and not yet applied by the check loop: (errors, last event).
    pending: Mutex<Option<(u32, Event)>>,
    /// Wakes the check loop when `pending` is set.
    pub wake: tokio::sync::Notify,
    /// Times `error-limit` was reached (`hanafail` in `show stat`).
    pub failed: AtomicU64,
    /// Woken (all waiters) to close every session of the server.
    pub shutdown: tokio::sync::Notify,
}

impl Observer {
    /// Counts `event` under `layer`; true when it made `limit` errors in a row (the count then starts over).
    fn count(&self, layer: ObserveLayer, limit: u32, event: Event) -> bool {
        match event.is_error(layer) {
            None => false,
            Some(false) => {
                if self.errors.load(Relaxed) != 0 {
                    self.errors.store(0, Relaxed);
                }
                false
            }
            Some(true) => {
                let n = self.errors.fetch_add(1, Relaxed) + 1;
                // Of several threads past the limit at once, the one that takes the count reports it.
                if n < limit {
                    return false;
                }
                let n = self.errors.swap(0, Relaxed);
                if n < limit {
                    return false;
                }
                self.failed.fetch_add(1, Relaxed);
                if let Ok(mut p) = self.pending.lock() {
                    *p = Some((n, event));
                }
                true
            }
        }
    }

    /// The limit reached since the last call, if any: (consecutive errors, last event).
    pub fn take(&self) -> Option<(u32, Event)> {
        self.pending.lock().ok().and_then(|mut p| p.take())
    }
}

/// Reports what the traffic showed about `server` (nothing happens unless it has `observe`).
#[inline]
pub fn report(server: &ServerRt, event: Event) {
    let o = &server.config.observe;
    if let Some(layer) = o.layer {
        if server.observer.count(layer, o.error_limit, event) {
            server.observer.wake.notify_one();
        }
    }
}

/// The verdict `on-error` records as a check: status `HANA`, with the count and the last error.
pub fn outcome(errors: u32, last: Event) -> CheckOutcome {
    CheckOutcome::new(CheckStatus::Hana, std::time::Duration::ZERO).with_info(format!(
        "Detected {errors} consecutive errors, last one was: {}",
        last.description()
    ))
}

/// Readies the check loop's tracker for what `on-error` asks; true when a failed check is then to be recorded
/// (all but `fastinter`).
pub fn prepare(on_error: OnError, tracker: &mut fulcrum_health::Tracker) -> bool {
    match on_error {
        OnError::FastInter => return false,
        OnError::FailCheck => {}
        OnError::SuddenDeath => tracker.pre_fatal(),
        OnError::MarkDown => tracker.fatal(),
    }
    true
}

/// `on-marked-down shutdown-sessions` / `on-marked-up shutdown-backup-sessions`, once `server` went DOWN or UP.
pub fn on_marked(be: &BackendRt, server: &ServerRt, up: bool) {
    if !up && server.config.shutdown_on_down {
        tracing::debug!(server = %server.full_name, "closing the sessions of a server marked DOWN");
        server.observer.shutdown.notify_waiters();
    }
    if up && !server.config.backup && server.config.shutdown_backups_on_up {
        for b in be.servers.iter().filter(|b| b.config.backup) {
            tracing::debug!(server = %b.full_name, "closing the sessions of a backup server");
            b.observer.shutdown.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_haproxy_does() {
        for ok in [100, 200, 302, 404, 499, 501, 505] {
            assert_eq!(Event::for_status(ok), Event::HttpOk, "{ok}");
        }
        for bad in [500, 502, 503, 504, 506, 599, 600] {
            assert_eq!(Event::for_status(bad), Event::HttpStatus, "{bad}");
        }
    }

    #[test]
    fn layers_count_their_own_errors() {
        use ObserveLayer::{Layer4, Layer7};
        assert_eq!(Event::L4Error.is_error(Layer4), Some(true));
        assert_eq!(Event::L4Error.is_error(Layer7), Some(true));
        assert_eq!(Event::L4Ok.is_error(Layer4), Some(false));
        assert_eq!(Event::L4Ok.is_error(Layer7), None);
        assert_eq!(Event::HttpStatus.is_error(Layer4), None);
        assert_eq!(Event::HttpStatus.is_error(Layer7), Some(true));
        assert_eq!(Event::ReadTimeout.is_error(Layer7), Some(true));
        assert_eq!(Event::HttpOk.is_error(Layer7), Some(false));
    }

    #[test]
    fn the_limit_counts_consecutive_errors_and_starts_over() {
        let o = Observer::default();
        let l7 = ObserveLayer::Layer7;
        assert!(!o.count(l7, 3, Event::HttpStatus));
        assert!(!o.count(l7, 3, Event::HttpStatus));
        // A good answer clears the count; a connection says nothing at layer 7.
        assert!(!o.count(l7, 3, Event::HttpOk));
        assert!(!o.count(l7, 3, Event::HttpStatus));
        assert!(!o.count(l7, 3, Event::L4Ok));
        assert!(!o.count(l7, 3, Event::HttpStatus));
        assert!(o.count(l7, 3, Event::L4Error));
        assert_eq!(o.take(), Some((3, Event::L4Error)));
        assert_eq!(o.take(), None);
        assert_eq!(o.failed.load(Relaxed), 1);
        assert!(!o.count(l7, 3, Event::HttpStatus));
        assert_eq!(
            outcome(3, Event::HttpStatus).info.as_deref(),
            Some("Detected 3 consecutive errors, last one was: Wrong http response")
        );
    }
}
