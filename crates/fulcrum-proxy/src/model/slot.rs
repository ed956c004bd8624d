//! Server slots: a request (http) or connection (tcp) counted on its server while it lives, within the server's
//! `maxconn` (lowered during a `slowstart` ramp), and the backend's queue that a released slot wakes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use crate::model::server::ServerRt;

/// The backend's queue, for requests any server may take.
pub struct Queue {
    pub(crate) notify: Notify,
    pub(crate) waiting: AtomicU32,
    /// The highest number of requests that waited at once.
    pub max_waiting: AtomicU32,
}

impl Default for Queue {
    fn default() -> Self {
        Queue::new()
    }
}

impl Queue {
    /// An empty queue.
    pub fn new() -> Self {
        Queue {
            notify: Notify::new(),
            waiting: AtomicU32::new(0),
            max_waiting: AtomicU32::new(0),
        }
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::SeqCst)
    }

    /// A slot of `server` was released: wake a request of its own queue, else one of the backend's.
    pub fn release(&self, server: &ServerRt) {
        if server.queued.load(Ordering::SeqCst) > 0 {
            server.slot_free.notify_one();
        } else if self.waiting.load(Ordering::SeqCst) > 0 {
            self.notify.notify_one();
        }
    }
}

/// Takes a slot on `server` if it has room (`maxconn`), counting the request on it.
pub fn try_take(server: &Arc<ServerRt>, queue: &Arc<Queue>) -> Option<ServerGuard> {
    let Some(max) = server.maxconn() else {
        return Some(ServerGuard::new(server.clone()));
    };
    let max = effective_maxconn(server, max);
    let mut cur = server.cur.load(Ordering::SeqCst);
    loop {
        if cur >= max {
            return None;
        }
        match server
            .cur
            .compare_exchange_weak(cur, cur + 1, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => return Some(ServerGuard::counted(server.clone(), queue.clone())),
            Err(now) => cur = now,
        }
    }
}

/// `maxconn` during a `slowstart` ramp rises with the weight, as in HAProxy: from 1/20 of it (at least 1) to all.
fn effective_maxconn(server: &ServerRt, max: u32) -> u32 {
    if server.config.slowstart.is_none() {
        return max;
    }
    match server.slowstart_progress(std::time::Instant::now()) {
        Some((elapsed, period)) => crate::model::ramp::ramp_weight(max, 1, elapsed, period),
        None => max,
    }
}

/// Counts a request or connection on a server for as long as it lives (leastconn reads these counts); a server
/// with `maxconn` also wakes a queued request when the slot is released.
pub struct ServerGuard(pub Arc<ServerRt>, Option<Arc<Queue>>);

impl ServerGuard {
    /// Starts counting on `server` (no `maxconn` to respect).
    pub fn new(server: Arc<ServerRt>) -> Self {
        let now = server.cur.fetch_add(1, Ordering::Relaxed) + 1;
        server.stats.seen(now);
        server.total.fetch_add(1, Ordering::Relaxed);
        server
            .stats
            .session_started(crate::model::counters::coarse_ms());
        ServerGuard(server, None)
    }

    /// A guard for a slot already counted in `server.cur` by [`try_take`].
    pub fn counted(server: Arc<ServerRt>, queue: Arc<Queue>) -> Self {
        server.total.fetch_add(1, Ordering::Relaxed);
        server
            .stats
            .session_started(crate::model::counters::coarse_ms());
        server.stats.seen(server.cur.load(Ordering::Relaxed));
        ServerGuard(server, Some(queue))
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        // SeqCst pairs with the waiters' SeqCst increment of their queue counter then re-check of `cur`: one side
        // always sees the other, so no release goes unnoticed.
        self.0.cur.fetch_sub(1, Ordering::SeqCst);
        if let Some(q) = &self.1 {
            q.release(&self.0);
        }
    }
}
