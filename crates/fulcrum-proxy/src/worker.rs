//! Worker threads: each runs its own single-threaded tokio runtime with its own listening sockets, connection
//! pools and balancing state, so a request never crosses threads and never waits on a lock.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::LocalSet;
use tracing::{debug, info_span, warn, Instrument};

use fulcrum_config::haproxy::Mode;

use crate::http::client::ClientConn;
use crate::http::pool::Pool;
use crate::parking::Lot;
use crate::rules::http::ConnFacts;
use crate::select::{RequestKey, Selector};
use crate::snapshot::{BackendRt, ConnGuard, FrontendRt, ServerRt, Snapshot};

/// The per-thread state of a worker.
pub struct Worker {
    /// Worker index, 0-based.
    pub id: usize,
    /// Idle server connections of this worker.
    pub pool: Rc<Pool>,
    /// Idle keep-alive client connections, waiting for their next request without a task.
    pub parked: Lot<ClientConn>,
    /// The running configuration (read by the stats page and the Prometheus exporter).
    pub snapshot: Arc<Snapshot>,
    selectors: RefCell<Vec<Selector>>,
    rng: Cell<u64>,
}

impl Worker {
    fn new(id: usize, snapshot: &Arc<Snapshot>) -> Self {
        Worker {
            id,
            pool: Rc::new(Pool::new(snapshot.servers.len())),
            parked: Lot::default(),
            snapshot: snapshot.clone(),
            selectors: RefCell::new(
                snapshot
                    .backends
                    .iter()
                    .map(|_| Selector::default())
                    .collect(),
            ),
            rng: Cell::new(
                0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            ),
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
        farm.pick(selector, be, key, avoid, rng)
            .map(|i| be.servers[i].clone())
    }
}

/// Connection limits shared by all workers: `global maxconn` and each frontend's `maxconn`.
#[derive(Clone)]
pub struct Limits {
    /// The process-wide limit.
    pub global: Option<Arc<Semaphore>>,
}

/// One listening socket handed to a worker.
pub struct Listener {
    /// The frontend it serves.
    pub frontend: Arc<FrontendRt>,
    /// The socket, already bound and listening.
    pub socket: std::net::TcpListener,
    /// The frontend's own `maxconn`, shared with the other workers.
    pub limit: Option<Arc<Semaphore>>,
}

/// Starts a worker thread.
pub fn spawn(
    id: usize,
    snapshot: Arc<Snapshot>,
    listeners: Vec<Listener>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("fulcrum-worker-{id}"))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    warn!(error = %e, "worker {id}: cannot start its runtime");
                    return;
                }
            };
            let local = LocalSet::new();
            local.block_on(&rt, async move {
                let worker = Rc::new(Worker::new(id, &snapshot));
                let lot = worker.clone();
                tokio::task::spawn_local(async move {
                    let resume = lot.clone();
                    lot.parked
                        .run(
                            |conn| {
                                tokio::task::spawn_local(crate::http::client::serve(
                                    resume.clone(),
                                    conn,
                                ));
                            },
                            ClientConn::close_idle,
                        )
                        .await
                });
                for l in listeners {
                    let listener = match TcpListener::from_std(l.socket) {
                        Ok(s) => s,
                        Err(e) => {
                            warn!(frontend = %l.frontend.name, error = %e, "cannot register listener");
                            continue;
                        }
                    };
                    let span = info_span!("frontend", name = %l.frontend.name);
                    tokio::task::spawn_local(
                        accept_loop(worker.clone(), l.frontend, listener, l.limit, limits.clone())
                            .instrument(span),
                    );
                }
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            });
        })
}

async fn acquire(sem: &Option<Arc<Semaphore>>) -> Option<Option<OwnedSemaphorePermit>> {
    match sem {
        None => Some(None),
        Some(s) => s.clone().acquire_owned().await.ok().map(Some),
    }
}

async fn accept_loop(
    worker: Rc<Worker>,
    fe: Arc<FrontendRt>,
    listener: TcpListener,
    fe_limit: Option<Arc<Semaphore>>,
    limits: Limits,
) {
    let local_port = listener.local_addr().map_or(0, |a| a.port());
    loop {
        // Stop accepting while a limit is reached, as HAProxy does; the kernel queues new connections.
        let Some(global) = acquire(&limits.global).await else {
            return;
        };
        let Some(local) = acquire(&fe_limit).await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                debug!(error = %e, "accept failed");
                // EMFILE and friends: back off briefly instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        fe.stats
            .conn_tot
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !fe.rules.accept_connection(&ConnFacts {
            src: peer.ip(),
            dst_port: local_port,
        }) {
            fe.stats
                .denied_conn
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            debug!(%peer, "connection rejected by tcp-request connection rules");
            continue;
        }
        let _ = stream.set_nodelay(true);
        let ticket = ConnTicket {
            _counted: ConnGuard::new(fe.clone()),
            _permits: (global, local),
        };
        let worker = worker.clone();
        match fe.mode {
            // Its own task, with nothing around it: an idle HTTP connection is then a single small allocation.
            Mode::Http => {
                let fe = fe.clone();
                tokio::task::spawn_local(crate::http::serve_client(
                    worker, fe, stream, peer, local_port, ticket,
                ));
            }
            Mode::Tcp => {
                let fe = fe.clone();
                tokio::task::spawn_local(async move {
                    let _ticket = ticket;
                    crate::tcp::serve_client(worker, fe, stream, peer, local_port).await;
                });
            }
        }
    }
}

/// What an accepted connection holds until it closes: its count in the frontend's current sessions and its places
/// under the global and frontend `maxconn`.
pub struct ConnTicket {
    _counted: ConnGuard,
    _permits: (Option<OwnedSemaphorePermit>, Option<OwnedSemaphorePermit>),
}
