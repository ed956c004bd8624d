//! Server `maxconn` and the queues of requests waiting for a free slot, as HAProxy keeps them.
//!
//! A server with `maxconn` takes a slot with a compare-and-swap on its request counter. When no server the
//! algorithm offers has room, the request waits:
//! - in the chosen server's own queue when it is bound to that server (a hashing algorithm, or a retry without
//!   `option redispatch`), unless that queue already holds `maxqueue` requests: then it is redispatched, as HAProxy
//!   does, to the backend's queue where any server will do;
//! - otherwise in the backend's queue (no limit).
//!
//! A released slot wakes a request of its server's queue first, else one of the backend's queue. A request that
//! waited `timeout queue` (else `timeout connect`, as in HAProxy) gets a 503. Nothing is locked: counters are
//! atomics and waiting uses `Notify`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use fulcrum_config::haproxy::Balance;

use crate::data::worker_state::Worker;
use crate::model::select::RequestKey;
use crate::model::server::ServerRt;
use crate::model::slot::try_take;
use crate::model::slot::ServerGuard;
use crate::model::snapshot::BackendRt;

/// Why no server slot could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// No server is usable at all.
    #[error("no server available")]
    NoServer,
    /// The request waited `timeout queue` without a free slot.
    #[error("queue timeout")]
    Timeout,
}

/// Whether the algorithm binds a request to one server (hashing), so that it waits in that server's queue.
fn binds_to_server(b: &Balance) -> bool {
    matches!(
        b,
        Balance::Source | Balance::Uri { .. } | Balance::UrlParam(_) | Balance::Hdr(_)
    )
}

/// Waits on `notify` (registered before `counter` is raised and `retry` runs, so no wake-up is lost) until
/// `retry` succeeds or `deadline` passes.
async fn wait_for<T>(
    notify: &Notify,
    counter: &AtomicU32,
    deadline: Instant,
    mut retry: impl FnMut() -> Result<Option<T>, QueueError>,
    on_wait: impl Fn(u32),
) -> Result<T, QueueError> {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now_waiting = counter.fetch_add(1, Ordering::SeqCst) + 1;
        on_wait(now_waiting);
        let outcome = match retry() {
            Ok(Some(got)) => Some(Ok(got)),
            Err(e) => Some(Err(e)),
            Ok(None) => match tokio::time::timeout_at(deadline, notified).await {
                Ok(()) => None,
                Err(_) => Some(Err(QueueError::Timeout)),
            },
        };
        counter.fetch_sub(1, Ordering::SeqCst);
        if let Some(result) = outcome {
            return result;
        }
    }
}

/// Picks a server with a free slot, waiting in a queue when none has room. `same` pins the request to one server
/// (a retry without `option redispatch`).
pub async fn acquire(
    worker: &Worker,
    be: &BackendRt,
    key: &RequestKey,
    avoid: Option<usize>,
    same: Option<&Arc<ServerRt>>,
) -> Result<(Arc<ServerRt>, ServerGuard), QueueError> {
    // The algorithm's choices; round robin moves on to the next server at each pick.
    let any = || -> Result<Option<(Arc<ServerRt>, ServerGuard)>, QueueError> {
        for _ in 0..be.servers.len().max(1) {
            let s = worker.pick(be, key, avoid).ok_or(QueueError::NoServer)?;
            if let Some(g) = try_take(&s, &be.queue) {
                return Ok(Some((s, g)));
            }
        }
        Ok(None)
    };
    let bound = match same {
        Some(s) => Some(s.clone()),
        None if binds_to_server(&be.balance) => {
            Some(worker.pick(be, key, avoid).ok_or(QueueError::NoServer)?)
        }
        None => None,
    };
    if let Some(s) = &bound {
        if let Some(g) = try_take(s, &be.queue) {
            return Ok((s.clone(), g));
        }
    } else if let Some(got) = any()? {
        return Ok(got);
    }
    let wait = be
        .timeouts
        .queue
        .or(be.timeouts.connect)
        .unwrap_or(Duration::from_secs(3600));
    let deadline = Instant::now() + wait;
    if let Some(s) = bound {
        let room = s
            .config
            .maxqueue
            .filter(|&m| m > 0)
            .is_none_or(|m| s.queued.load(Ordering::SeqCst) < m);
        if room {
            let retry = || Ok(try_take(&s, &be.queue).map(|g| (s.clone(), g)));
            return wait_for(&s.slot_free, &s.queued, deadline, retry, |n| {
                s.stats.qmax.fetch_max(n, Ordering::Relaxed);
            })
            .await;
        }
        // The server's queue is full: redispatched to whichever server frees a slot first.
        let take_any = || {
            Ok(be
                .servers
                .iter()
                .filter(|c| c.is_up() && c.weight() > 0)
                .find_map(|c| try_take(c, &be.queue).map(|g| (c.clone(), g))))
        };
        if let Some(got) = take_any()? {
            return Ok(got);
        }
        let q = &be.queue;
        return wait_for(&q.notify, &q.waiting, deadline, take_any, |n| {
            q.max_waiting.fetch_max(n, Ordering::Relaxed);
        })
        .await;
    }
    let q = &be.queue;
    wait_for(&q.notify, &q.waiting, deadline, any, |n| {
        q.max_waiting.fetch_max(n, Ordering::Relaxed);
    })
    .await
}
