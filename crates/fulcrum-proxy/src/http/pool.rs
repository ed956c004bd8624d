//! Idle connections to servers, kept per worker thread so that checking one out takes no lock.
//!
//! A connection comes back once its response body has been read completely
//! ([`super::upstream_body::UpstreamBody`]). Connections the server closed, or on which it sent anything while
//! idle, are dropped on checkout.

use std::cell::RefCell;

use super::server_conn::ServerConn;

/// Most idle connections kept per server and worker.
const MAX_IDLE_PER_SERVER: usize = 256;

/// The idle connections of one worker, indexed by server id.
#[derive(Default)]
pub struct Pool {
    idle: RefCell<Vec<Vec<ServerConn>>>,
    /// The most idle connections kept per server (its `pool-max-conn`, else [`MAX_IDLE_PER_SERVER`]).
    max: Vec<usize>,
}

impl Pool {
    /// A pool for servers whose `pool-max-conn` are `limits` (`None`: no limit of their own), by server id.
    pub fn new(limits: impl IntoIterator<Item = Option<u32>>) -> Self {
        let max: Vec<usize> = limits
            .into_iter()
            .map(|l| {
                l.map_or(MAX_IDLE_PER_SERVER, |n| {
                    (n as usize).min(MAX_IDLE_PER_SERVER)
                })
            })
            .collect();
        Pool {
            idle: RefCell::new(max.iter().map(|_| Vec::new()).collect()),
            max,
        }
    }

    /// An idle connection to server `id` that can take a request now, if there is one. The most recently used
    /// one is tried first. `proven`: only a connection that has already carried more than one request (the
    /// server showed it keeps connections open), as `http-reuse aggressive` asks for a client's first request.
    /// `sni`: the server name the request needs (TLS connections are only reused for the name they were opened
    /// for).
    pub fn checkout(&self, id: usize, proven: bool, sni: Option<&str>) -> Option<ServerConn> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(id)?;
        if !proven {
            while let Some(at) = list.iter().rposition(|c| c.serves_sni(sni)) {
                let mut conn = list.remove(at);
                if conn.is_idle_usable() {
                    return Some(conn);
                }
            }
            return None;
        }
        while let Some(at) = list.iter().rposition(|c| c.served > 1 && c.serves_sni(sni)) {
            let mut conn = list.remove(at);
            if conn.is_idle_usable() {
                return Some(conn);
            }
        }
        None
    }

    /// Hands a connection back for reuse. The readiness check also leaves a no-op waker on the socket, so the
    /// request task that read the last response is not kept allocated by the idle connection.
    pub fn checkin(&self, id: usize, mut conn: ServerConn) {
        if !conn.is_idle_usable() {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        if let Some(list) = idle.get_mut(id) {
            if list.len() < self.max.get(id).copied().unwrap_or(0) {
                list.push(conn);
            }
        }
    }
}

/// The server connection a client connection keeps for itself under `http-reuse never`: it carries only that
/// client's requests and is closed with it.
#[derive(Default)]
pub struct SessionConn {
    idle: RefCell<Option<(usize, ServerConn)>>,
}

impl SessionConn {
    /// The kept connection, when it goes to server `id` (for server name `sni`) and can take a request now.
    pub fn take(&self, id: usize, sni: Option<&str>) -> Option<ServerConn> {
        let mut idle = self.idle.borrow_mut();
        let (server, mut conn) = idle.take()?;
        let usable = conn.is_idle_usable();
        if server == id && conn.serves_sni(sni) {
            return usable.then_some(conn);
        }
        // Another server's (or name's) connection is kept until a request for it comes (a closed one is
        // dropped).
        if usable {
            *idle = Some((server, conn));
        }
        None
    }

    /// Keeps `conn` (to server `id`) for the client's next request, closing the one kept before.
    pub fn put(&self, id: usize, mut conn: ServerConn) {
        if conn.is_idle_usable() {
            *self.idle.borrow_mut() = Some((id, conn));
        }
    }
}
