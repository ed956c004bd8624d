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
use crate::data::client_io::{ClientIo, ParkedIo};
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

/// What [`ClientConn::park`] made of a connection.
pub enum Parking {
    /// Ready for the lot.
    Parked(ParkedConn),
    /// Not parked: its client connection is still shared (a request or an upgrade holds it).
    Shared(ClientConn),
    /// Taking its socket out of the reactor failed: the connection is closed (its log record written).
    Closed,
}

/// A [`ClientConn`] waiting in the worker's parking lot for its next request: its socket out of the reactor, no
/// buffer, no timer, and all of it in the lot's one allocation ([`ClientConn::park`], [`ParkedConn::resume`]).
pub struct ParkedConn {
    fe: Arc<FrontendRt>,
    io: ParkedIo,
    peer: SocketAddr,
    local_port: u16,
    listener: Arc<crate::net::listener::ListenerInfo>,
    accepted: Instant,
    conn_log: Option<Arc<ConnLog>>,
    session: Rc<SessionConn>,
    vars: Rc<RefCell<VarMap>>,
    upgraded: std::cell::Cell<Option<Box<VarMap>>>,
    _ticket: ConnTicket,
}

impl crate::net::parking::Parkable for ParkedConn {
    fn fd(&self) -> std::os::fd::RawFd {
        self.io.fd()
    }
}

impl ParkedConn {
    /// Closes a connection that stayed idle for its whole keep-alive time (or that a soft stop ends).
    pub fn close_idle(self) {
        if let Some(conn) = self.resume() {
            conn.close_idle();
        }
    }

    /// The connection back from the lot, its socket registered with the reactor again. `None`: that failed,
    /// and the connection is closed (its log record written).
    pub fn resume(self) -> Option<ClientConn> {
        let ParkedConn {
            fe,
            io,
            peer,
            local_port,
            listener,
            accepted,
            conn_log,
            session,
            vars,
            upgraded,
            _ticket,
        } = self;
        let io = match io.resume() {
            Ok(io) => io,
            Err(e) => {
                debug!(frontend = %fe.name, %peer, error = %e, "a parked connection could not be resumed");
                if let Some(l) = &conn_log {
                    l.close(None, false);
                }
                return None;
            }
        };
        Some(ClientConn {
            fe,
            io: Rc::new(io),
            peer,
            local_port,
            listener,
            accepted,
            conn_log,
            session,
            vars,
            upgraded,
            wbuf: Vec::new(),
            timer: None,
            _ticket,
        })
    }
}

impl ClientConn {
    /// Takes an idle connection out of the reactor to park it.
    pub(super) fn park(self) -> Parking {
        let ClientConn {
            fe,
            io,
            peer,
            local_port,
            listener,
            accepted,
            conn_log,
            session,
            vars,
            upgraded,
            wbuf,
            timer,
            _ticket,
        } = self;
        let io = match Rc::try_unwrap(io) {
            Ok(io) => io,
            Err(io) => {
                return Parking::Shared(ClientConn {
                    fe,
                    io,
                    peer,
                    local_port,
                    listener,
                    accepted,
                    conn_log,
                    session,
                    vars,
                    upgraded,
                    wbuf,
                    timer,
                    _ticket,
                })
            }
        };
        let io = match io.park() {
            Ok(io) => io,
            Err(e) => {
                debug!(frontend = %fe.name, %peer, error = %e, "an idle connection could not be parked");
                if let Some(l) = &conn_log {
                    l.close(None, false);
                }
                return Parking::Closed;
            }
        };
        Parking::Parked(ParkedConn {
            fe,
            io,
            peer,
            local_port,
            listener,
            accepted,
            conn_log,
            session,
            vars,
            upgraded,
            _ticket,
        })
    }

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
