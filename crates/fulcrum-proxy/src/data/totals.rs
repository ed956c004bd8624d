//! The totals of one request (http) or connection (tcp) on its backend and server: counted as current while it is
//! served, and its total time, bytes and server recorded when it ends (an HTTP response body carries it).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::counters::Counters;
use crate::model::server::ServerRt;
use crate::model::snapshot::BackendRt;

/// Counts a request (http) or connection (tcp) on a backend for as long as it is served, and records its total
/// time, response bytes and server when it ends.
pub struct Done {
    start: Instant,
    be: Arc<BackendRt>,
    server: Option<Arc<ServerRt>>,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// Request bytes received.
    pub bytes_in: u64,
    /// The stick table entries the request is tracked in (the connection's and its own), which count its bytes
    /// when it ends: `bytes_in_*` the request's head and body, `bytes_out_*` the response's.
    pub stick: Vec<fulcrum_stick::Tracked>,
    /// The request's and the response's head sizes, added to those counts.
    pub heads: (u64, u64),
}

impl Done {
    /// Starts counting on `be` a request whose head arrived at `start`.
    pub fn new(be: Arc<BackendRt>, start: Instant) -> Self {
        let now = be.stats.cur.fetch_add(1, Relaxed) + 1;
        be.stats.seen(now);
        Counters::inc(&be.stats.sessions);
        be.stats
            .session_started(crate::model::counters::coarse_ms());
        Done {
            start,
            be,
            server: None,
            bytes_out: 0,
            bytes_in: 0,
            stick: Vec::new(),
            heads: (0, 0),
        }
    }

    /// The server that served it; `true` when it is another one than before (a first, or a redispatch).
    pub fn server(&mut self, s: &Arc<ServerRt>) -> bool {
        let other = !self.server.as_ref().is_some_and(|c| Arc::ptr_eq(c, s));
        if other {
            self.server = Some(s.clone());
        }
        other
    }

    /// The server that served it, once one did (`srv_name` and `srv_id` in `http-response` rules).
    pub fn chosen_server(&self) -> Option<&Arc<ServerRt>> {
        self.server.as_ref()
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<BackendRt> {
        &self.be
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        if !self.stick.is_empty() {
            let now = crate::model::stick::now_ms();
            let (i, o) = (self.heads.0 + self.bytes_in, self.heads.1 + self.bytes_out);
            for t in &self.stick {
                t.update(now, |d| {
                    d.bytes_in(i);
                    d.bytes_out(o);
                });
            }
        }
        let elapsed = self.start.elapsed();
        let b = &self.be.stats;
        b.cur.fetch_sub(1, Relaxed);
        b.timings.total.observe(elapsed);
        b.bytes_out.fetch_add(self.bytes_out, Relaxed);
        b.bytes_in.fetch_add(self.bytes_in, Relaxed);
        if let Some(s) = &self.server {
            s.stats.timings.total.observe(elapsed);
            s.stats.bytes_out.fetch_add(self.bytes_out, Relaxed);
            s.stats.bytes_in.fetch_add(self.bytes_in, Relaxed);
        }
    }
}

/// Records the time a request or connection waited for `s` (in a queue; 0 when served at once) on it and on its
/// backend.
pub fn queue_time(be: &BackendRt, s: &ServerRt, d: Duration) {
    be.stats.timings.queue.observe(d);
    s.stats.timings.queue.observe(d);
}

/// Runs `fut` and says how long it took, reading the clock only if it had to wait: a request that finds a free
/// server slot at once (nearly all) waited 0 and costs no clock reads.
pub async fn waited<F: std::future::Future>(fut: F) -> (F::Output, Duration) {
    let mut fut = std::pin::pin!(fut);
    let mut since = None;
    std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        std::task::Poll::Ready(v) => {
            std::task::Poll::Ready((v, since.map_or(Duration::ZERO, |s: Instant| s.elapsed())))
        }
        std::task::Poll::Pending => {
            since.get_or_insert_with(Instant::now);
            std::task::Poll::Pending
        }
    })
    .await
}

/// Runs `fut` and says how long it took.
pub async fn timed<F: std::future::Future>(fut: F) -> (F::Output, Duration) {
    let start = Instant::now();
    let out = fut.await;
    (out, start.elapsed())
}

/// Records the time to connect to `s` (0 for a reused connection) on it and on its backend.
pub fn connect_time(be: &BackendRt, s: &ServerRt, d: Duration) {
    be.stats.timings.connect.observe(d);
    s.stats.timings.connect.observe(d);
}

/// Records a response time (request sent to response head) on a backend and its server.
pub fn response_time(be: &BackendRt, s: &ServerRt, d: Duration) {
    be.stats.timings.response.observe(d);
    s.stats.timings.response.observe(d);
}
