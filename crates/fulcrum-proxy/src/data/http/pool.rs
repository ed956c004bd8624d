//! Idle connections to servers.
//!
//! Each worker thread keeps the idle connections it opened in a list of its own, which only it locks in the
//! common case (an uncontended lock). With `tune.idle-pool.shared on` (HAProxy's default), a thread that has no
//! idle connection to a server takes one another thread keeps: its socket stays registered with the thread that
//! opened it, which wakes the borrowing task when the server answers, and it goes back to that thread's list
//! once its response has been read. `pool-max-conn` bounds the idle connections of a server in the whole
//! process, as in HAProxy.
//!
//! Like HAProxy, a server keeps no more idle connections than it lately needed: when a connection coming back
//! would make the connections of that server still in use and those idle exceed the most it had in use at once
//! over the last period ([`Need`]), its oldest idle connection is closed (the one coming back when none is).
//! Under `Connection: close` traffic, where a client's first request never reuses a connection (`http-reuse
//! safe`), idle connections would otherwise pile up to the process's cap and hold the server's resources for
//! nothing.
//!
//! A connection comes back once its response body has been read completely
//! (by the response body reader, `upstream_body.rs`). Connections the server closed, or on which it sent anything while
//! idle, are dropped on checkout.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::server_conn::ServerConn;

/// HAProxy's `tune.pool-low-fd-ratio` default: connections stop going into the idle pools once the process
/// keeps this share (in percent) of its descriptor limit in them.
const LOW_FD_RATIO: u64 = 20;

/// The most idle connections the whole process keeps (all servers together) with `fds` descriptors at its
/// disposal (0: unknown), as HAProxy bounds them: a fifth of the descriptors, so that most of them stay free
/// for clients and for the connections in use. Never below 256, which any limit allows.
pub fn idle_cap(fds: u64) -> usize {
    if fds == 0 {
        return usize::MAX;
    }
    usize::try_from(fds * LOW_FD_RATIO / 100)
        .unwrap_or(usize::MAX)
        .max(256)
}

/// The length of a period over which a server's need of connections is measured (HAProxy refreshes its estimate
/// every `pool-purge-delay`, 5 s by default).
const NEED_PERIOD_MS: u64 = 5_000;

/// How many connections a server needed lately: the most in use at once, seen when connections come back, over
/// the current period and the previous one.
#[derive(Default)]
struct Need {
    period: AtomicU64,
    current: AtomicUsize,
    previous: AtomicUsize,
}

impl Need {
    /// Records that `in_use` connections are in use at `now_ms`; returns the need.
    fn observe(&self, in_use: usize, now_ms: u64) -> usize {
        let period = now_ms / NEED_PERIOD_MS;
        let seen = self.period.load(Ordering::Relaxed);
        if period != seen
            && self
                .period
                .compare_exchange(seen, period, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let last = self.current.swap(0, Ordering::Relaxed);
            let carried = if period == seen + 1 { last } else { 0 };
            self.previous.store(carried, Ordering::Relaxed);
        }
        let current = self
            .current
            .fetch_max(in_use, Ordering::Relaxed)
            .max(in_use);
        current.max(self.previous.load(Ordering::Relaxed))
    }
}

/// The idle connections of every worker thread, by worker and server id.
pub struct Pools {
    /// Per worker: per server id, the idle connections (most recently used last).
    workers: Box<[Mutex<Vec<VecDeque<ServerConn>>>]>,
    /// Per server id: idle connections in the whole process.
    idle: Box<[AtomicUsize]>,
    /// Per server id: the most idle connections kept in the whole process (`pool-max-conn`).
    max: Box<[usize]>,
    /// Per server id: how many connections it needed lately.
    need: Box<[Need]>,
    /// Idle connections of all servers in the whole process.
    total: AtomicUsize,
    /// The most of them kept ([`idle_cap`]).
    total_max: usize,
    /// `tune.idle-pool.shared`: whether a thread may take another thread's connection.
    shared: bool,
}

impl Pools {
    /// Pools for `threads` workers and servers whose `pool-max-conn` are `limits` (`None`: no limit of their
    /// own), by server id, keeping at most `total_max` idle connections in all.
    pub fn new(
        threads: usize,
        limits: impl IntoIterator<Item = Option<u32>>,
        shared: bool,
        total_max: usize,
    ) -> Self {
        let threads = threads.max(1);
        let max: Box<[usize]> = limits
            .into_iter()
            .map(|l| l.map_or(usize::MAX, |n| n as usize))
            .collect();
        Pools {
            workers: (0..threads)
                .map(|_| Mutex::new(max.iter().map(|_| VecDeque::new()).collect()))
                .collect(),
            idle: max.iter().map(|_| AtomicUsize::new(0)).collect(),
            need: max.iter().map(|_| Need::default()).collect(),
            max,
            total: AtomicUsize::new(0),
            total_max,
            shared,
        }
    }

    fn lock(&self, worker: usize) -> Option<MutexGuard<'_, Vec<VecDeque<ServerConn>>>> {
        // A thread that panicked while holding the lock left whole lists behind: every change is one push or
        // remove.
        let m = self.workers.get(worker)?;
        Some(m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Closes every idle connection to server `id` (its address changed: new requests go to the new one).
    pub fn purge(&self, id: usize) {
        for w in 0..self.workers.len() {
            if let Some(mut lists) = self.lock(w) {
                if let Some(list) = lists.get_mut(id) {
                    let n = list.len();
                    list.drain(..).for_each(ServerConn::discard);
                    if let Some(c) = self.idle.get(id) {
                        c.fetch_sub(n, Ordering::Relaxed);
                    }
                    self.total.fetch_sub(n, Ordering::Relaxed);
                }
            }
        }
    }

    /// Takes a usable connection to server `id` from `worker`'s list (see [`Pool::checkout`]).
    fn take(
        &self,
        worker: usize,
        id: usize,
        proven: bool,
        sni: Option<&str>,
    ) -> Option<ServerConn> {
        let mut lists = self.lock(worker)?;
        let list = lists.get_mut(id)?;
        let fits = |c: &ServerConn| (!proven || c.served > 1) && c.serves_sni(sni);
        while let Some(mut conn) = list.iter().rposition(fits).and_then(|at| list.remove(at)) {
            self.idle[id].fetch_sub(1, Ordering::Relaxed);
            self.total.fetch_sub(1, Ordering::Relaxed);
            if conn.is_idle_usable() {
                conn.home = Some(worker);
                return Some(conn);
            }
        }
        None
    }
}

/// One worker's view of the pools.
pub struct Pool {
    all: Arc<Pools>,
    me: usize,
}

impl Pool {
    /// Worker `me`'s handle on `all`.
    pub fn new(all: Arc<Pools>, me: usize) -> Self {
        Pool { all, me }
    }

    /// An idle connection to server `id` that can take a request now, if there is one: this thread's own first,
    /// the most recently used one first; else, when pools are shared, another thread's. `proven`: only a
    /// connection that has already carried more than one request (the server showed it keeps connections open),
    /// as `http-reuse aggressive` asks for a client's first request. `sni`: the server name the request needs
    /// (TLS connections are only reused for the name they were opened for).
    pub fn checkout(&self, id: usize, proven: bool, sni: Option<&str>) -> Option<ServerConn> {
        if let Some(c) = self.all.take(self.me, id, proven, sni) {
            return Some(c);
        }
        if !self.all.shared || self.all.idle.get(id)?.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let n = self.all.workers.len();
        (1..n)
            .map(|k| (self.me + k) % n)
            .find_map(|w| self.all.take(w, id, proven, sni))
    }

    /// Hands a connection back for reuse, to the list of the thread it belongs to, unless the server has enough
    /// idle ones for its recent need. `in_use`: the server's connections in use, this one included. The readiness
    /// check also leaves a no-op waker on the socket, so the request task that read the last response is not kept
    /// allocated by the idle connection.
    pub fn checkin(&self, id: usize, mut conn: ServerConn, in_use: usize) {
        if !conn.is_idle_usable() {
            return;
        }
        let (Some(count), Some(&max), Some(need)) = (
            self.all.idle.get(id),
            self.all.max.get(id),
            self.all.need.get(id),
        ) else {
            return;
        };
        // Kept while the idle ones and the others in use do not exceed the need.
        let others = in_use.saturating_sub(1);
        let need = need.observe(in_use, crate::model::counters::now_ms());
        let needed = need.saturating_sub(others).saturating_add(1);
        // Reserve a place under the server's process-wide limit and the process's, or close the connection.
        let total = &self.all.total;
        let reserve = |c: &AtomicUsize, max: usize| {
            c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
        };
        if !reserve(count, max.min(needed)) {
            // Beyond the need (and within `pool-max-conn`), the oldest idle connection goes (this thread's first)
            // rather than this one: the client that just used it may well send its next request on it.
            if needed < max {
                if let Some(old) = self.evict_oldest(id) {
                    old.discard();
                    let home = conn.home.unwrap_or(self.me);
                    if let Some(mut lists) = self.all.lock(home) {
                        lists[id].push_back(conn);
                        return;
                    }
                    count.fetch_sub(1, Ordering::Relaxed);
                    total.fetch_sub(1, Ordering::Relaxed);
                }
            }
            conn.discard();
            return;
        }
        if !reserve(total, self.all.total_max) {
            count.fetch_sub(1, Ordering::Relaxed);
            conn.discard();
            return;
        }
        let home = conn.home.unwrap_or(self.me);
        match self.all.lock(home) {
            Some(mut lists) => lists[id].push_back(conn),
            None => {
                count.fetch_sub(1, Ordering::Relaxed);
                total.fetch_sub(1, Ordering::Relaxed);
                conn.discard();
            }
        }
    }

    /// Takes out the oldest idle connection to server `id`, this thread's list first, keeping its places in the
    /// counts (the caller puts another connection in them).
    fn evict_oldest(&self, id: usize) -> Option<ServerConn> {
        let n = self.all.workers.len();
        (0..n).map(|k| (self.me + k) % n).find_map(|w| {
            let mut lists = self.all.lock(w)?;
            let list = lists.get_mut(id)?;
            list.pop_front()
        })
    }
}

/// The server connection a client connection keeps for itself under `http-reuse never`: it carries only that
/// client's requests and is closed with it. Every client connection has one, most never use it: the connection is
/// boxed, so that an idle client connection pays 16 bytes for it rather than a whole server connection's room.
#[derive(Default)]
pub struct SessionConn {
    idle: RefCell<Option<Box<(usize, ServerConn)>>>,
}

impl SessionConn {
    /// The kept connection, when it goes to server `id` (for server name `sni`) and can take a request now.
    pub fn take(&self, id: usize, sni: Option<&str>) -> Option<ServerConn> {
        let mut idle = self.idle.borrow_mut();
        let (server, mut conn) = *idle.take()?;
        let usable = conn.is_idle_usable();
        if server == id && conn.serves_sni(sni) {
            return usable.then_some(conn);
        }
        // Another server's (or name's) connection is kept until a request for it comes (a closed one is
        // dropped).
        if usable {
            *idle = Some(Box::new((server, conn)));
        }
        None
    }

    /// Keeps `conn` (to server `id`) for the client's next request, closing the one kept before.
    pub fn put(&self, id: usize, mut conn: ServerConn) {
        if conn.is_idle_usable() {
            if let Some(old) = self.idle.borrow_mut().replace(Box::new((id, conn))) {
                old.1.discard();
            }
        }
    }
}

impl Drop for SessionConn {
    /// The client connection ended: its kept server connection is closed as the pool closes those it does not
    /// keep.
    fn drop(&mut self) {
        if let Some(kept) = self.idle.get_mut().take() {
            kept.1.discard();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifth_of_the_descriptors_at_least_256() {
        assert_eq!(idle_cap(20_000), 4_000);
        assert_eq!(idle_cap(1_048_576), 209_715);
        assert_eq!(idle_cap(1_024), 256);
        assert_eq!(idle_cap(0), usize::MAX);
    }

    #[test]
    fn the_need_is_the_most_in_use_over_this_period_and_the_last() {
        let n = Need::default();
        assert_eq!(n.observe(3, 1_000), 3);
        assert_eq!(n.observe(1, 2_000), 3);
        // The next period still remembers the last one's 3.
        assert_eq!(n.observe(2, 6_000), 3);
        assert_eq!(n.observe(5, 7_000), 5);
        // Two periods on: only the previous one (5) counts.
        assert_eq!(n.observe(1, 11_000), 5);
        // After a silence longer than a period, nothing carries over.
        assert_eq!(n.observe(1, 30_000), 1);
    }
}
