//! Server `maxconn` and the queue of requests waiting for a free slot (`maxqueue`, `timeout queue`).
//!
//! A server with `maxconn` takes a slot with a compare-and-swap on its request counter; when every server the
//! algorithm offers is full, the request waits in its backend's queue until a slot is released or `timeout queue`
//! (else `timeout connect`, as in HAProxy) expires, which answers 503. Waiting uses a `Notify` shared by the
//! backend's workers; nothing is locked and nothing waits while a slot is free.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::select::RequestKey;
use crate::snapshot::{BackendRt, ServerGuard, ServerRt};
use crate::worker::Worker;

/// The queue of one backend.
pub struct Queue {
    notify: Notify,
    waiting: AtomicU32,
    /// Most requests that may wait: the sum of the servers' `maxqueue` when every server sets one.
    capacity: Option<u32>,
    /// The highest number of requests that waited at once.
    pub max_waiting: AtomicU32,
}

/// Why no server slot could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// No server is usable at all.
    #[error("no server available")]
    NoServer,
    /// Every server is full and the queue is full too (`maxqueue`).
    #[error("queue full")]
    Full,
    /// The request waited `timeout queue` without a free slot.
    #[error("queue timeout")]
    Timeout,
}

impl Queue {
    /// The queue of a backend whose servers have the given `maxqueue` values.
    pub fn new(maxqueues: impl Iterator<Item = Option<u32>>) -> Self {
        let mut total: Option<u32> = Some(0);
        for m in maxqueues {
            total = match (total, m.filter(|&m| m > 0)) {
                (Some(t), Some(m)) => Some(t.saturating_add(m)),
                _ => None,
            };
        }
        Queue {
            notify: Notify::new(),
            waiting: AtomicU32::new(0),
            capacity: total.filter(|&t| t > 0),
            max_waiting: AtomicU32::new(0),
        }
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::Acquire)
    }

    /// A slot was released: wake one waiting request, if any.
    pub fn release(&self) {
        if self.waiting.load(Ordering::Acquire) > 0 {
            self.notify.notify_one();
        }
    }
}

/// Takes a slot on `server` if it has room (`maxconn`), counting the request on it.
pub fn try_take(server: &Arc<ServerRt>, queue: &Arc<Queue>) -> Option<ServerGuard> {
    let Some(max) = server.config.maxconn.filter(|&m| m > 0) else {
        return Some(ServerGuard::new(server.clone()));
    };
    let mut cur = server.cur.load(Ordering::Relaxed);
    loop {
        if cur >= max {
            return None;
        }
        match server
            .cur
            .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed)
        {
            Ok(_) => return Some(ServerGuard::counted(server.clone(), queue.clone())),
            Err(now) => cur = now,
        }
    }
}

/// Picks a server with a free slot: the algorithm's choice, else its next choices (round robin moves on), else
/// waits in the queue. `same` pins the request to one server (a retry without `option redispatch`).
pub async fn acquire(
    worker: &Worker,
    be: &BackendRt,
    key: &RequestKey,
    avoid: Option<usize>,
    same: Option<&Arc<ServerRt>>,
) -> Result<(Arc<ServerRt>, ServerGuard), QueueError> {
    let attempt = || -> Result<Option<(Arc<ServerRt>, ServerGuard)>, QueueError> {
        if let Some(s) = same {
            return Ok(try_take(s, &be.queue).map(|g| (s.clone(), g)));
        }
        for _ in 0..be.servers.len().max(1) {
            let s = worker.pick(be, key, avoid).ok_or(QueueError::NoServer)?;
            if let Some(g) = try_take(&s, &be.queue) {
                return Ok(Some((s, g)));
            }
        }
        Ok(None)
    };
    if let Some(got) = attempt()? {
        return Ok(got);
    }
    let wait = be
        .timeouts
        .queue
        .or(be.timeouts.connect)
        .unwrap_or(Duration::from_secs(3600));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let q = &be.queue;
        if q.capacity.is_some_and(|c| q.waiting() >= c) {
            return Err(QueueError::Full);
        }
        let notified = q.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now_waiting = q.waiting.fetch_add(1, Ordering::AcqRel) + 1;
        q.max_waiting.fetch_max(now_waiting, Ordering::Relaxed);
        // Re-check after registering, so a slot released in between is not missed.
        let outcome = match attempt() {
            Ok(Some(got)) => Some(Ok(got)),
            Err(e) => Some(Err(e)),
            Ok(None) => match tokio::time::timeout_at(deadline, notified).await {
                Ok(()) => None,
                Err(_) => Some(Err(QueueError::Timeout)),
            },
        };
        q.waiting.fetch_sub(1, Ordering::AcqRel);
        if let Some(result) = outcome {
            return result;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_the_sum_of_maxqueue_when_every_server_sets_one() {
        assert_eq!(Queue::new([Some(2), Some(3)].into_iter()).capacity, Some(5));
        assert_eq!(Queue::new([Some(2), None].into_iter()).capacity, None);
        assert_eq!(Queue::new([Some(0), Some(0)].into_iter()).capacity, None);
    }
}
