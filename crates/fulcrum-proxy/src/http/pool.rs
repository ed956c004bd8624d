//! Idle connections to servers, kept per worker thread so that checking one out takes no lock.
//!
//! A connection is handed back as soon as the response head has arrived; it only becomes usable again once hyper
//! reports it ready (the previous response fully read). Connections the server closed are dropped on checkout.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::client::conn::http1::{self, SendRequest};
use tokio::net::TcpStream;

/// Most idle connections kept per server and worker.
const MAX_IDLE_PER_SERVER: usize = 256;

/// A connection to a server able to carry one request at a time.
pub type Sender = SendRequest<super::reqbody::ReqBody>;

/// Why a connection to a server could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// `timeout connect` expired.
    #[error("connection timeout")]
    Timeout,
    /// The TCP connect failed (refused, unreachable...).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The HTTP/1 handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] hyper::Error),
}

/// A connection to a server and its local address (logged as `%bi:%bp`).
pub struct Conn {
    /// Sends requests on the connection.
    pub sender: Sender,
    /// The connection's local address.
    pub local: Option<SocketAddr>,
}

/// The idle connections of one worker, indexed by server id.
#[derive(Default)]
pub struct Pool {
    idle: RefCell<Vec<Vec<Conn>>>,
}

impl Pool {
    /// A pool for `servers` servers.
    pub fn new(servers: usize) -> Self {
        Pool {
            idle: RefCell::new((0..servers).map(|_| Vec::new()).collect()),
        }
    }

    /// An idle connection to server `id` that can take a request now, if there is one.
    pub fn checkout(&self, id: usize) -> Option<Conn> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(id)?;
        let mut i = list.len();
        while i > 0 {
            i -= 1;
            if list[i].sender.is_closed() {
                list.swap_remove(i);
            } else if list[i].sender.is_ready() {
                return Some(list.swap_remove(i));
            }
        }
        None
    }

    /// Hands a connection back for reuse.
    pub fn checkin(&self, id: usize, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        if let Some(list) = idle.get_mut(id) {
            if list.len() < MAX_IDLE_PER_SERVER {
                list.push(conn);
            }
        }
    }
}

/// Opens a new HTTP/1 connection to `addr`; its driver task runs on the current worker.
pub async fn connect(addr: SocketAddr, timeout: Option<Duration>) -> Result<Conn, ConnectError> {
    let stream = match timeout {
        Some(t) => tokio::time::timeout(t, TcpStream::connect(addr))
            .await
            .map_err(|_| ConnectError::Timeout)??,
        None => TcpStream::connect(addr).await?,
    };
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok();
    let (sender, conn) = http1::Builder::new()
        // Reads from a server of at most 256 KiB at a time (hyper's default grows to ~400 KiB): large responses
        // interleave more evenly between connections, for less tail latency and no measurable CPU.
        .max_buf_size(256 * 1024)
        .handshake(super::server_io::ServerIo(stream))
        .await?;
    tokio::task::spawn_local(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "server connection ended with an error");
        }
    });
    Ok(Conn { sender, local })
}
