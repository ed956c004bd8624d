//! Live counters of frontends, backends and servers, as HAProxy keeps them for `show stat`: relaxed atomic adds
//! on the request path, read (never locked) by the stats collector.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::time::Instant;

use fulcrum_admin::Histogram;

/// Milliseconds since the process's stats epoch (the first snapshot built).
pub fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds of the coarse monotonic clock (a few milliseconds' resolution, a few nanoseconds a read, no
/// system call): the clock of the per-second rates and of the connections' idle times.
pub fn coarse_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into; CLOCK_MONOTONIC_COARSE exists on every Linux we run on.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// When the stats clock started.
pub fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Latency histograms of a backend or a server.
#[derive(Default)]
pub struct Timings {
    /// Time spent waiting for a server in a queue.
    pub queue: Histogram,
    /// Request head received to last response byte.
    pub total: Histogram,
    /// Connection set-up to the server (0 for a reused one).
    pub connect: Histogram,
    /// Request sent to response head received.
    pub response: Histogram,
}

/// The counters of one frontend, backend or server. Which ones apply depends on the kind, as in HAProxy.
#[derive(Default)]
pub struct Counters {
    /// Sessions in progress (backends; frontends and servers have their own `cur`).
    pub cur: AtomicU32,
    /// Most sessions at once.
    pub smax: AtomicU32,
    /// Sessions since start (frontend: connections kept; backend: requests or connections routed to it).
    pub sessions: AtomicU64,
    /// Connections accepted (frontends), before `tcp-request connection` rules.
    pub conn_tot: AtomicU64,
    /// Connections refused by `tcp-request connection reject` (`dcon`).
    pub denied_conn: AtomicU64,
    /// Sessions refused by `tcp-request session reject` (`dses`).
    pub denied_sess: AtomicU64,
    /// [`coarse_ms`] at the last session, plus one (0: none yet; `lastsess`).
    pub last_sess: AtomicU64,
    /// TLS handshakes: with clients (frontends), with the server (servers and backends).
    pub ssl: crate::model::ssl_stats::SslCounters,
    /// Bytes received from clients.
    pub bytes_in: AtomicU64,
    /// Bytes sent to clients.
    pub bytes_out: AtomicU64,
    /// HTTP requests.
    pub requests: AtomicU64,
    /// HTTP responses by class: 1xx, 2xx, 3xx, 4xx, 5xx, other.
    pub hrsp: [AtomicU64; 6],
    /// Requests denied by rules.
    pub denied_req: AtomicU64,
    /// Responses denied by rules.
    pub denied_resp: AtomicU64,
    /// Invalid or timed-out requests.
    pub err_req: AtomicU64,
    /// Failed connection attempts to servers.
    pub err_conn: AtomicU64,
    /// Invalid, aborted or timed-out responses.
    pub err_resp: AtomicU64,
    /// Retries.
    pub retries: AtomicU64,
    /// Redispatches to another server.
    pub redispatches: AtomicU64,
    /// Requests answered by the proxy itself (stats, monitor, services, redirects, returns).
    pub intercepted: AtomicU64,
    /// Response body bytes fed to the compressor (`comp_in`).
    pub comp_in: AtomicU64,
    /// Bytes the compressor produced (`comp_out`).
    pub comp_out: AtomicU64,
    /// Responses compressed (`comp_rsp`).
    pub comp_rsp: AtomicU64,
    /// Times a server was selected.
    pub lbtot: AtomicU64,
    /// New connections to servers.
    pub connect: AtomicU64,
    /// Idle server connections reused.
    pub reuse: AtomicU64,
    /// Most requests waiting at once in a server's own queue.
    pub qmax: AtomicU32,
    /// Sessions over the last second (`rate`, `rate_max`; servers: `srv_sess_rate`), on [`coarse_ms`].
    pub sess_rate: SecondRate,
    /// Connections accepted over the last second (frontends: `conn_rate`, `conn_rate_max`).
    pub conn_rate: SecondRate,
    /// HTTP requests over the last second (frontends: `req_rate`, `req_rate_max`).
    pub req_rate: SecondRate,
    /// Latency histograms (backends and servers).
    pub timings: Timings,
    /// Health state tracking (servers and backends).
    pub state: StateClock,
    /// The last health check (servers).
    pub check: CheckStats,
    /// HAProxy's `h1` module: HTTP/1 connections, requests and bytes (frontends and backends).
    pub h1: std::sync::Arc<crate::model::h1_stats::H1Counters>,
    /// HAProxy's `h2` module: HTTP/2 frames, errors, connections and streams (frontends and backends).
    pub h2: std::sync::Arc<crate::model::h2_stats::H2Counters>,
}

impl Counters {
    /// Adds one to a counter.
    #[inline]
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    /// Counts a response status in its class.
    #[inline]
    pub fn response(&self, status: u16) {
        self.hrsp[fulcrum_admin::Row::class_of(status)].fetch_add(1, Relaxed);
    }

    /// A session started at `now_ms` ([`coarse_ms`]): counted in the rate and as the last one.
    #[inline]
    pub fn session_started(&self, now_ms: u64) {
        self.sess_rate.hit(now_ms);
        self.last_sess.store(now_ms + 1, Relaxed);
    }

    /// Seconds since the last session at `now_ms`, or -1 before the first (`lastsess`).
    pub fn last_session_secs(&self, now_ms: u64) -> i64 {
        match self.last_sess.load(Relaxed) {
            0 => -1,
            at => i64::try_from(now_ms.saturating_sub(at - 1) / 1000).unwrap_or(i64::MAX),
        }
    }

    /// Notes `now_current` sessions in progress for `smax`.
    #[inline]
    pub fn seen(&self, now_current: u32) {
        self.smax.fetch_max(now_current, Relaxed);
    }
}

/// Events per second, as HAProxy's rate figures read: the events of the current second plus those of the previous
/// second weighted by the part of it still inside the last 1000 ms; and the most events seen in one second. One
/// atomic add per event, except for the first of a second, which starts the count over, and one that sets a new
/// most.
#[derive(Default)]
pub struct SecondRate {
    /// The second (of the caller's millisecond clock) in the high 32 bits, its count in the low 32.
    cur: AtomicU64,
    /// The count of the second before `cur`'s.
    prev: AtomicU32,
    /// The most events counted in one second.
    max: AtomicU32,
}

impl SecondRate {
    /// Counts one event at `now_ms`.
    pub fn hit(&self, now_ms: u64) {
        let second = now_ms / 1000;
        let v = self.cur.load(Relaxed);
        if v >> 32 == second {
            let n = (self.cur.fetch_add(1, Relaxed) as u32).wrapping_add(1);
            if n > self.max.load(Relaxed) {
                self.max.fetch_max(n, Relaxed);
            }
            return;
        }
        // The first event of a new second: the one that swaps the word in also moves the finished count.
        let prev = if (v >> 32) + 1 == second { v as u32 } else { 0 };
        match self
            .cur
            .compare_exchange(v, (second << 32) | 1, Relaxed, Relaxed)
        {
            Ok(_) => {
                self.prev.store(prev, Relaxed);
                self.max.fetch_max(1, Relaxed);
            }
            Err(_) => {
                self.cur.fetch_add(1, Relaxed);
            }
        }
    }

    /// How long from `now_ms` until the rate [`SecondRate::read`] gives falls under `limit` (at least 1), so that
    /// one more event keeps it at most `limit`: `None` when it is under already. As HAProxy's frontends wait out
    /// `rate-limit sessions`: the previous second's events weigh less as the current one advances.
    pub fn wait_for_room(&self, limit: u64, now_ms: u64) -> Option<u64> {
        let into = now_ms % 1000;
        let (cur, prev) = self.counts(now_ms / 1000);
        if cur + prev * (1000 - into) / 1000 < limit {
            return None;
        }
        if cur >= limit || prev == 0 {
            return Some(1000 - into);
        }
        // The first millisecond `t` of this second where cur + prev * (1000 - t) / 1000 < limit.
        let t = 1000 - ((limit - cur) * 1000).div_ceil(prev) + 1;
        Some(t.saturating_sub(into).max(1))
    }

    /// The most events counted in one second so far.
    pub fn max(&self) -> u64 {
        u64::from(self.max.load(Relaxed))
    }

    /// The rate at `now_ms`.
    pub fn read(&self, now_ms: u64) -> u64 {
        let into = now_ms % 1000;
        let (cur, prev) = self.counts(now_ms / 1000);
        cur + prev * (1000 - into) / 1000
    }

    /// The events counted in `second` and in the second before it.
    fn counts(&self, second: u64) -> (u64, u64) {
        let v = self.cur.load(Relaxed);
        let (at, count) = (v >> 32, u64::from(v as u32));
        if at == second {
            (count, u64::from(self.prev.load(Relaxed)))
        } else if at + 1 == second {
            (0, count)
        } else {
            (0, 0)
        }
    }
}

/// When the state of a server or backend last changed, and how long it was down.
#[derive(Default)]
pub struct StateClock {
    /// 0 unknown (initial), 1 up, 2 down.
    state: AtomicU8,
    /// [`now_ms`] at the last change.
    pub changed_ms: AtomicU64,
    /// Milliseconds spent down before the current down period.
    down_ms: AtomicU64,
    /// UP to DOWN transitions.
    pub downs: AtomicU64,
}

impl StateClock {
    /// Records the state; a change stamps the time and accounts downtime. Called by the control plane only.
    pub fn set(&self, up: bool) {
        let new = if up { 1 } else { 2 };
        let old = self.state.swap(new, Relaxed);
        if old == new {
            return;
        }
        let now = now_ms();
        let since = self.changed_ms.swap(now, Relaxed);
        if old == 2 {
            self.down_ms.fetch_add(now.saturating_sub(since), Relaxed);
        }
        if old == 1 && new == 2 {
            self.downs.fetch_add(1, Relaxed);
        }
    }

    /// Seconds since the last change (since start when it never changed).
    pub fn last_change_secs(&self) -> u64 {
        now_ms().saturating_sub(self.changed_ms.load(Relaxed)) / 1000
    }

    /// Seconds spent down, including the current down period.
    pub fn downtime_secs(&self) -> u64 {
        let mut ms = self.down_ms.load(Relaxed);
        if self.state.load(Relaxed) == 2 {
            ms += now_ms().saturating_sub(self.changed_ms.load(Relaxed));
        }
        ms / 1000
    }
}

/// The last health check of a server.
#[derive(Default)]
pub struct CheckStats {
    /// Index + 1 in [`CHECK_STATUSES`] (0: no check ran yet).
    pub status: AtomicU8,
    /// HTTP status of the last check (0: none).
    pub code: AtomicU32,
    /// Duration of the last check in ms.
    pub duration_ms: AtomicU64,
    /// Failed checks.
    pub failures: AtomicU64,
    /// The checks' health counter (0 ..= rise + fall - 1) plus one, kept by the check loop and by `set server
    /// ... health`; 0 until either sets it.
    health: AtomicU32,
}

/// What the last exchange with a server's agent gave, for the stats' agent columns (`agent_status`, `last_agt`
/// ...). Written every `agent-inter` by the agent's task, read by `show stat`: a lock, off the data path.
#[derive(Default)]
pub struct AgentStats {
    last: std::sync::Mutex<Option<AgentSeen>>,
}

/// One exchange with an agent, as the stats show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSeen {
    /// HAProxy's status code (`CHECKED` for a line without an `up`/`down` word).
    pub status: &'static str,
    /// Its description (`No status change`).
    pub desc: &'static str,
    /// 0 after an `up`/`down` word.
    pub code: Option<u16>,
    /// How long the exchange took.
    pub duration_ms: u64,
    /// What the agent said, or why it could not be reached (`last_agt`).
    pub info: String,
}

impl AgentStats {
    /// Records an exchange whose verdict is `outcome` (an `up`/`down` word, or why the agent was not heard).
    pub fn record(&self, o: &fulcrum_health::CheckOutcome) {
        self.set(AgentSeen {
            status: o.status.code(),
            desc: o.status.description(),
            code: o.code,
            duration_ms: u64::try_from(o.duration.as_millis()).unwrap_or(u64::MAX),
            info: o.info.clone().unwrap_or_default(),
        });
    }

    /// Records a line without an `up`/`down` word: `CHECKED`, with what HAProxy shows of it (`info`).
    pub fn record_checked(&self, duration: std::time::Duration, info: Option<String>) {
        self.set(AgentSeen {
            status: "CHECKED",
            desc: "No status change",
            code: None,
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            info: info.unwrap_or_default(),
        });
    }

    fn set(&self, seen: AgentSeen) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(seen);
    }

    /// The last exchange, if one took place.
    pub fn last(&self) -> Option<AgentSeen> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The check statuses in the order [`CheckStats::status`] stores them.
pub const CHECK_STATUSES: [fulcrum_health::CheckStatus; 13] = [
    fulcrum_health::CheckStatus::L4Ok,
    fulcrum_health::CheckStatus::L4Timeout,
    fulcrum_health::CheckStatus::L4Connection,
    fulcrum_health::CheckStatus::L7Ok,
    fulcrum_health::CheckStatus::L7Timeout,
    fulcrum_health::CheckStatus::L7Response,
    fulcrum_health::CheckStatus::L7Status,
    fulcrum_health::CheckStatus::SocketError,
    fulcrum_health::CheckStatus::L6Ok,
    fulcrum_health::CheckStatus::L6Timeout,
    fulcrum_health::CheckStatus::L6Response,
    fulcrum_health::CheckStatus::Hana,
    fulcrum_health::CheckStatus::L7OkCond,
];

impl CheckStats {
    /// Records a check's outcome.
    pub fn record(&self, o: &fulcrum_health::CheckOutcome) {
        let i = CHECK_STATUSES
            .iter()
            .position(|s| *s == o.status)
            .unwrap_or(0);
        self.status.store(i as u8 + 1, Relaxed);
        self.code.store(o.code.map_or(0, u32::from), Relaxed);
        self.duration_ms.store(
            u64::try_from(o.duration.as_millis()).unwrap_or(u64::MAX),
            Relaxed,
        );
        if !o.ok() {
            self.failures.fetch_add(1, Relaxed);
        }
    }

    /// Notes the checks' health counter.
    pub fn set_health(&self, health: u32) {
        self.health.store(health.saturating_add(1), Relaxed);
    }

    /// The checks' health counter, once set.
    pub fn health(&self) -> Option<u32> {
        self.health.load(Relaxed).checked_sub(1)
    }

    /// The last status, if a check ran.
    pub fn last(&self) -> Option<fulcrum_health::CheckStatus> {
        let i = self.status.load(Relaxed);
        (i > 0).then(|| CHECK_STATUSES[usize::from(i - 1)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_rate_keeps_the_most_events_of_one_second() {
        let r = SecondRate::default();
        assert_eq!(r.max(), 0);
        for _ in 0..3 {
            r.hit(1_500);
        }
        for _ in 0..5 {
            r.hit(2_100);
        }
        r.hit(3_000);
        assert_eq!(r.max(), 5);
        // A second long past starts over; the most stays.
        r.hit(9_000);
        assert_eq!((r.read(9_000), r.max()), (1, 5));
    }

    #[test]
    fn wait_for_room_lasts_until_one_more_event_fits() {
        let r = SecondRate::default();
        assert_eq!(r.wait_for_room(10, 500), None);
        for _ in 0..10 {
            r.hit(1_200);
        }
        // The second's budget is spent: wait for the next second.
        assert_eq!(r.wait_for_room(10, 1_300), Some(700));
        // Next second: the 10 of the previous one weigh (1000 - t) / 1000, under 10 from t = 1 ms on, and under 5
        // (with 5 this second) from t = 501 ms on.
        assert_eq!(r.wait_for_room(10, 2_000), Some(1));
        for _ in 0..5 {
            r.hit(2_100);
        }
        let wait = r.wait_for_room(10, 2_100).unwrap();
        assert_eq!(wait, 401);
        assert!(r.read(2_100 + wait) < 10 && r.read(2_100 + wait - 1) >= 10);
        assert_eq!(r.wait_for_room(10, 2_501), None);
        // Long past: no wait.
        assert_eq!(r.wait_for_room(10, 9_000), None);
    }

    #[test]
    fn second_rate_weights_the_previous_second() {
        let r = SecondRate::default();
        for _ in 0..10 {
            r.hit(5_100);
        }
        assert_eq!(r.read(5_900), 10);
        r.hit(6_000);
        // 1 this second, plus the 10 of the previous one weighted by the 750 ms of it still in the window
        assert_eq!(r.read(6_250), 1 + 10 * 750 / 1000);
        // in the next second only the last second's 1 counts, in part
        assert_eq!(r.read(7_400), 0);
        assert_eq!(r.read(9_000), 0);
        // a gap of more than a second forgets the old count
        r.hit(20_000);
        assert_eq!(r.read(20_000), 1);
    }
}
