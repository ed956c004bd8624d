//! What an HTTP client connection owns between requests ([`ClientConn`]): built by `client.rs`, served there over
//! HTTP/1 or handed to `h2.rs`, and kept in the worker's parking lot while idle.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use tokio::time::{Instant, Sleep};
use tracing::debug;

use super::pool::SessionConn;
use crate::data::client_io::ClientIo;
use crate::data::http_log::ConnLog;
use crate::data::worker_state::ConnTicket;
use crate::model::rules::vars::VarMap;
use crate::model::snapshot::FrontendRt;

/// What an HTTP client connection owns, carried from one request to the next and kept in the worker's parking lot
/// (`crate::net::parking`) while the connection is idle.
pub struct ClientConn {
    pub(super) fe: Arc<FrontendRt>,
    pub(super) io: Rc<ClientIo>,
    pub(super) peer: SocketAddr,
    pub(super) local_port: u16,
    /// The listener it came through (`so_name`, `so_id`).
    pub(super) listener: Arc<crate::net::listener::ListenerInfo>,
    pub(super) accepted: Instant,
    pub(super) conn_log: Option<Arc<ConnLog>>,
    /// The server connection kept for this client alone (`http-reuse never`).
    pub(super) session: Rc<SessionConn>,
    /// `sess.` variables.
    pub(super) vars: Rc<RefCell<VarMap>>,
    /// A connection a `mode tcp` frontend upgraded to HTTP (`switch-mode http`): the transaction variables its
    /// `tcp-request content` rules set, for its first request, whose frontend `tcp-request` rules already ran.
    pub(super) upgraded: std::cell::Cell<Option<Box<VarMap>>>,
    /// The response head being written; kept between requests.
    pub(super) wbuf: Vec<u8>,
    /// The connection's timer, kept between requests (see `client::next_head`).
    pub(super) timer: Option<Pin<Box<Sleep>>>,
    pub(super) _ticket: ConnTicket,
}

impl crate::net::parking::Parkable for ClientConn {
    fn stream(&self) -> &tokio::net::TcpStream {
        self.io.stream()
    }
}

impl ClientConn {
    /// Closes a connection that stayed idle for its whole keep-alive time.
    pub fn close_idle(self) {
        debug!(frontend = %self.fe.name, peer = %self.peer, "idle keep-alive connection closed");
        self.finish();
    }

    /// Ends the connection: the socket closed, the connection's log record written.
    pub(super) fn finish(&self) {
        self.io.finish();
        if let Some(l) = &self.conn_log {
            l.close(None, false);
        }
    }

    /// The client connection as the request path sees it (one per request: HTTP/1 or an HTTP/2 stream).
    pub(super) fn request_client(&self) -> super::request::Client {
        super::request::Client {
            peer: self.peer,
            dst_port: self.local_port,
            listener: self.listener.clone(),
            first: self.io.requests() == 1,
            session: self.session.clone(),
            vars: self.vars.clone(),
            upgraded: self.upgraded.take(),
            conn: self.io.clone(),
            stick: self._ticket.stick.clone(),
            interim: None,
        }
    }
}
