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
    /// What the connection keeps whether served or parked.
    pub(super) st: ConnState,
    pub(super) io: Rc<ClientIo>,
    /// The response head being written; kept between requests.
    pub(super) wbuf: Vec<u8>,
    /// The connection's timer, kept between requests (see `client::next_head`).
    pub(super) timer: Option<Pin<Box<Sleep>>>,
}

/// What a client connection keeps for its whole life, served ([`ClientConn`]) or parked ([`ParkedConn`]).
pub struct ConnState {
    pub(super) fe: Arc<FrontendRt>,
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
    pub(super) _ticket: ConnTicket,
}

impl ConnState {
    /// Writes the connection's log record (`option logasap` and connection logs) when it ends.
    fn log_closed(&self) {
        if let Some(l) = &self.conn_log {
            l.close(None, false);
        }
    }
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
    st: ConnState,
    io: ParkedIo,
}

impl crate::net::parking::Parkable for ParkedConn {
    fn fd(&self) -> std::os::fd::RawFd {
        self.io.fd()
    }
}

impl ParkedConn {
    /// Closes a connection that stayed idle for its whole keep-alive time (or that a soft stop ends), without
    /// registering its socket with the reactor again.
    pub fn close_idle(self) {
        debug!(frontend = %self.st.fe.name, peer = %self.st.peer, "idle keep-alive connection closed");
        self.io.finish();
        self.st.log_closed();
    }

    /// The connection back from the lot, its socket registered with the reactor again. `None`: that failed,
    /// and the connection is closed (its log record written).
    pub fn resume(self) -> Option<ClientConn> {
        let ParkedConn { st, io } = self;
        match io.resume() {
            Ok(io) => Some(ClientConn {
                st,
                io: Rc::new(io),
                wbuf: Vec::new(),
                timer: None,
            }),
            Err(e) => {
                debug!(frontend = %st.fe.name, peer = %st.peer, error = %e, "a parked connection could not be resumed");
                st.log_closed();
                None
            }
        }
    }
}

impl ClientConn {
    /// Takes an idle connection out of the reactor to park it.
    pub(super) fn park(self) -> Parking {
        let ClientConn {
            st,
            io,
            wbuf,
            timer,
        } = self;
        let io = match Rc::try_unwrap(io) {
            Ok(io) => io,
            Err(io) => {
                return Parking::Shared(ClientConn {
                    st,
                    io,
                    wbuf,
                    timer,
                })
            }
        };
        match io.park() {
            Ok(io) => Parking::Parked(ParkedConn { st, io }),
            Err(e) => {
                debug!(frontend = %st.fe.name, peer = %st.peer, error = %e, "an idle connection could not be parked");
                st.log_closed();
                Parking::Closed
            }
        }
    }

    /// Ends the connection: the socket closed, the connection's log record written.
    pub(super) fn finish(&self) {
        self.io.finish();
        self.st.log_closed();
    }

    /// The client connection as the request path sees it (one per request: HTTP/1 or an HTTP/2 stream).
    pub(super) fn request_client(&self) -> super::request::Client {
        super::request::Client {
            peer: self.st.peer,
            dst_port: self.st.local_port,
            listener: self.st.listener.clone(),
            first: self.io.requests() == 1,
            session: self.st.session.clone(),
            vars: self.st.vars.clone(),
            upgraded: self.st.upgraded.take(),
            conn: self.io.clone(),
            stick: self.st._ticket.stick.clone(),
            interim: None,
        }
    }
}
