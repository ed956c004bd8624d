//! `observe layer4|layer7` with `error-limit` and `on-error`: the traffic's own connection and response errors
//! count against a server's health. The data path reports each event ([`report`]); `error-limit` errors in a
//! row wake the server's check loop, which applies `on-error` to its rise/fall counter ([`OnError`]). A
//! server without `check` only counts (HAProxy does the same: nothing marks it down).
//!
//! `on-marked-down shutdown-sessions` and `on-marked-up shutdown-backup-sessions` close the sessions of a server
//! that goes DOWN, or of the backups when an active server comes UP ([`on_marked`]); the sessions wait on
//! [`Observer::shutdown`].

use fulcrum_config::haproxy::OnError;
use fulcrum_health::{CheckOutcome, CheckStatus};

use crate::model::server::ServerRt;
use crate::model::snapshot::BackendRt;

pub use crate::model::observed::{Event, Observer};

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

/// True when [`on_marked`] may shut the sessions of `server`: its own `on-marked-down shutdown-sessions`, or, for a
/// backup server, another server's `on-marked-up shutdown-backup-sessions`.
pub fn shuts_sessions(be: &BackendRt, server: &ServerRt) -> bool {
    server.config.shutdown_on_down
        || (server.config.backup
            && be
                .servers
                .iter()
                .any(|s| !s.config.backup && s.config.shutdown_backups_on_up))
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
    use fulcrum_config::haproxy::ObserveLayer;
    use std::sync::atomic::Ordering::Relaxed;

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
