//! What `observe` keeps per server: the events the traffic reports and the count of errors in a row
//! ([`Observer`]). The model holds it in each [`crate::model::server::ServerRt`]; what the events do to the
//! server's health (`on-error`, the session shutdowns) is `crate::health::observe`'s.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use fulcrum_config::haproxy::ObserveLayer;

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
    pub(crate) fn count(&self, layer: ObserveLayer, limit: u32, event: Event) -> bool {
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
