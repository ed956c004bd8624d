//! What one worker thread owns and its connections share: the running snapshot, its handle on the idle server
//! connections (`http::pool`, which other threads may borrow from), one balancing cursor per backend and a random
//! number source; and the ticket each accepted connection holds while it lives.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use crate::data::http::pool::{Pool, Pools};
use crate::model::select::{RequestKey, Selector};
use crate::model::server::ServerRt;
use crate::model::snapshot::{BackendRt, ConnGuard, Snapshot};

/// The per-thread state of a worker.
pub struct Worker {
    /// Worker index, 0-based.
    pub id: usize,
    /// Idle server connections of this worker.
    pub pool: Rc<Pool>,
    /// The running configuration (read by the stats page and the Prometheus exporter).
    pub snapshot: Arc<Snapshot>,
    selectors: RefCell<Vec<Selector>>,
    rng: Cell<u64>,
    /// A soft stop is under way: keep-alive connections close after their current response.
    pub draining: Cell<bool>,
    /// The stick counters every connection shares when the configuration has no stick table (they stay empty).
    pub no_stick_ctrs: Rc<crate::model::stick::Ctrs>,
}

impl Worker {
    /// The state of worker `id` serving `snapshot`, with its handle on the process's idle server connections.
    pub fn new(id: usize, snapshot: &Arc<Snapshot>, idle_pools: Arc<Pools>) -> Self {
        Worker {
            id,
            pool: Rc::new(Pool::new(idle_pools, id)),
            snapshot: snapshot.clone(),
            selectors: RefCell::new(
                snapshot
                    .backends
                    .iter()
                    .map(|_| Selector::default())
                    .collect(),
            ),
            rng: Cell::new(
                0x9E37_79B9_7F4A_7C15
                    ^ (id as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9)
                    ^ fresh_seed(),
            ),
            draining: Cell::new(false),
            no_stick_ctrs: Rc::default(),
        }
    }

    /// A fresh pseudo-random number (splitmix64), for algorithms that draw at random.
    pub fn random(&self) -> u64 {
        let mut z = self.rng.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.rng.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Picks a server of `be` for a request, avoiding server index `avoid` when another one is usable.
    pub fn pick(
        &self,
        be: &BackendRt,
        key: &RequestKey,
        avoid: Option<usize>,
    ) -> Option<Arc<ServerRt>> {
        let farm = be.farm.load();
        let mut selectors = self.selectors.borrow_mut();
        let selector = selectors.get_mut(be.id)?;
        let rng = self.random();
        // One round-robin order per backend for all threads, as in HAProxy: consecutive requests go to consecutive
        // servers whichever thread accepted them.
        selector.seek_rr(
            be.rr_position
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        );
        // So is leastconn's turn among equally loaded servers.
        let lc = be.lc_position.load(std::sync::atomic::Ordering::Relaxed);
        selector.seek_lc(lc);
        let picked = farm.pick(selector, &be.servers, key, avoid, rng);
        if selector.lc_position() != lc {
            be.lc_position
                .store(selector.lc_position(), std::sync::atomic::Ordering::Relaxed);
        }
        picked.map(|i| be.servers[i].clone())
    }
}

/// A seed from the operating system's randomness (through the keys std's hash maps draw, new at each call), so that
/// processes, a process and the one that replaces it on reload, and the workers of one process draw different
/// sequences: HAProxy seeds its generator from the system too, not from a constant.
fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// An accepted connection as the accept loop saw it.
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    /// The socket's peer.
    pub peer: std::net::SocketAddr,
    /// The local port it connected to.
    pub local_port: u16,
    /// A PROXY protocol header must open it (`accept-proxy`, `tcp-request connection expect-proxy layer4`).
    pub expect_proxy: bool,
}

/// What an accepted connection holds until it closes: its count in the frontend's current sessions and its places
/// under the global and frontend `maxconn`.
pub struct ConnTicket {
    pub(crate) _counted: ConnGuard,
    pub(crate) _permits: (Option<OwnedSemaphorePermit>, Option<OwnedSemaphorePermit>),
    /// The connection's stick counters (`tcp-request connection|session track-sc*`).
    pub(crate) stick: std::rc::Rc<crate::model::stick::Ctrs>,
    /// Its place under `maxsslconn`, on an `ssl` listener.
    pub(crate) _ssl: Option<crate::model::ssl_conns::SslConn>,
}
