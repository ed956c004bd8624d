//! A response body read straight from the server's connection as the client side asks for it. Once the body has
//! ended cleanly the connection goes back to the worker's pool, ready for the next request.

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::pool::{Pool, SessionConn};
use super::server_conn::ServerConn;
use crate::model::slot::ServerGuard;
use fulcrum_http::chunked::{self, Decoded};
use fulcrum_http::response_in::Framing;

/// The most bytes handed on in one piece (and read from the server at once).
const MAX_PIECE: usize = 256 * 1024;
/// The least read limit a body is given: HAProxy's buffer size. What a client that stops reading pins is about
/// one such piece (see [`UpstreamBody::set_read_limit`]).
pub const MIN_PIECE: usize = 16 * 1024;
/// The read limit a body starts with: what an empty socket takes at once on any network (a fresh connection's
/// send buffer holds more), so that a response up to this size is read and written without asking the socket.
pub const FIRST_PIECE: usize = 64 * 1024;

enum State {
    Length(u64),
    Chunked(chunked::Decoder),
    UntilClose,
    /// A stream on an HTTP/2 connection (`h2_upstream.rs`): its data, then its trailers.
    H2(Box<super::h2_upstream::H2Stream>),
    Done,
}

/// Where a connection goes back once its response body has been read.
pub enum Reuse {
    /// The worker's pool, for server `server`.
    Pool {
        /// The worker's pool.
        pool: Rc<Pool>,
        /// The server's id.
        server: usize,
    },
    /// The client connection's own slot (`http-reuse never`).
    Session {
        /// The slot.
        slot: Rc<SessionConn>,
        /// The server's id.
        server: usize,
    },
}

/// A response body being read from a server.
pub struct UpstreamBody {
    conn: Option<ServerConn>,
    state: State,
    reuse: Option<Reuse>,
    /// Keeps the request counted on its server (leastconn) until the body has ended.
    guard: Option<ServerGuard>,
    /// The most bytes read from the server at once (and handed on in one piece).
    limit: usize,
    /// How long the server may stay silent in the middle of the body (`timeout server`), in milliseconds as
    /// HAProxy's timeouts are (0: no limit; kept small, the body is part of every response).
    idle_ms: u32,
    /// The body may be spliced to the client (`option splice-response`).
    splice: bool,
}

impl UpstreamBody {
    /// The body that follows a response head with `framing` on `conn`. `reuse`: where the connection goes when
    /// the body ends cleanly; `None` closes it.
    pub fn new(
        conn: ServerConn,
        framing: Framing,
        reuse: Option<Reuse>,
        guard: ServerGuard,
    ) -> Self {
        let state = match framing {
            Framing::Empty => State::Length(0),
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(chunked::Decoder::default()),
            Framing::UntilClose => State::UntilClose,
        };
        let mut body = UpstreamBody {
            conn: Some(conn),
            state,
            reuse,
            guard: Some(guard),
            limit: FIRST_PIECE,
            idle_ms: 0,
            splice: false,
        };
        if matches!(body.state, State::Length(0)) {
            body.finish();
        }
        body
    }

    /// The body of a response that came on an HTTP/2 stream.
    pub fn h2(stream: super::h2_upstream::H2Stream, guard: ServerGuard) -> Self {
        UpstreamBody {
            conn: None,
            state: State::H2(Box::new(stream)),
            reuse: None,
            guard: Some(guard),
            limit: FIRST_PIECE,
            idle_ms: 0,
            splice: false,
        }
    }

    /// The server may stay silent for `idle` in the middle of the body (`timeout server`).
    pub fn with_idle(mut self, idle: Option<std::time::Duration>) -> Self {
        self.idle_ms = idle.map_or(0, |d| {
            u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
        });
        self
    }

    /// The body may go to the client through a pipe (`option splice-response` / `splice-auto`; see
    /// [`UpstreamBody::splice_source`]).
    pub fn with_splice(mut self, splice: bool) -> Self {
        self.splice = splice;
        self
    }

    /// How long the server may stay silent in the middle of the body.
    pub fn idle(&self) -> Option<std::time::Duration> {
        (self.idle_ms > 0).then(|| std::time::Duration::from_millis(self.idle_ms.into()))
    }

    /// Reads at most `n` bytes from the server at once from now on (between [`MIN_PIECE`] and 256 KiB): the
    /// response writer sets it to what the client's socket can take. When the limit drops well below the read
    /// buffer's allocation and that buffer is empty, the buffer is let go, so that the next pieces come from a
    /// small allocation: a piece still waiting for a slow client then pins only its own bytes, not a large
    /// buffer it was cut from.
    pub fn set_read_limit(&mut self, n: usize) {
        self.limit = n.clamp(MIN_PIECE, MAX_PIECE);
        if let Some(conn) = self.conn.as_mut() {
            if conn.buf.is_empty() && conn.buf.capacity() > 2 * self.limit {
                conn.buf = bytes::BytesMut::new();
            }
        }
    }

    /// The body bytes read from the server and not yet handed on (with a chunked body, its framing too).
    pub fn buffered(&self) -> usize {
        let Some(conn) = &self.conn else {
            return 0;
        };
        match self.state {
            State::Length(left) => {
                usize::try_from(left).map_or(conn.buf.len(), |l| l.min(conn.buf.len()))
            }
            State::Done => 0,
            _ => conn.buf.len(),
        }
    }

    /// The server's socket and the body bytes still to come on it (`None`: until the server closes), when the rest
    /// of the body can go from that socket to the client's untouched (`respond::splice_rest`): a clear-text body
    /// of known length or ending with its connection, none of it waiting in the read buffer, and splicing asked
    /// for.
    pub fn splice_source(&self) -> Option<(&tokio::net::TcpStream, Option<u64>)> {
        if !self.splice {
            return None;
        }
        let conn = self.conn.as_ref()?;
        match self.state {
            State::Length(left) if left > 0 => Some((conn.clear_socket()?, Some(left))),
            State::UntilClose => Some((conn.clear_socket()?, None)),
            _ => None,
        }
    }

    /// `n` more body bytes went from the server's socket to the client's without being read here; `complete`:
    /// the transfer ended without error (for a body that ends with its connection: the server closed). Otherwise
    /// the connection, now out of step, is closed and the body stays unfinished.
    pub fn spliced(&mut self, n: u64, complete: bool) {
        if let Some(c) = self.conn.as_ref().and_then(|c| c.h1.counters()) {
            c.spliced_in(usize::try_from(n).unwrap_or(usize::MAX));
        }
        match &mut self.state {
            State::Length(left) => {
                *left = left.saturating_sub(n);
                if !complete {
                    self.conn = None;
                } else if *left == 0 {
                    self.finish();
                }
            }
            State::UntilClose if complete => self.ended_by_close(),
            State::UntilClose => self.conn = None,
            _ => {}
        }
    }

    /// No more of the body comes, and its connection is not kept. `released`: the body ended (a body delimited
    /// by the server's close, an HTTP/2 stream's end) and the server is released now; otherwise it failed, and
    /// the server is released with the body.
    fn stop(&mut self, released: bool) {
        self.conn = None;
        self.state = State::Done;
        if released {
            self.guard.take();
        }
    }

    /// A body delimited by its connection's close is complete.
    fn ended_by_close(&mut self) {
        self.stop(true);
    }

    /// The body has been read completely: release the server and keep the connection when it is clean.
    fn finish(&mut self) {
        self.state = State::Done;
        // The server's requests in progress, this one included, before it is released.
        let in_use = self.guard.take().map_or(1, |g| {
            g.0.cur.load(std::sync::atomic::Ordering::Relaxed) as usize
        });
        match (self.conn.take(), self.reuse.take()) {
            // Bytes after the body mean the server does not speak HTTP/1.1 properly: drop the connection.
            (Some(mut conn), Some(reuse)) if conn.buf.is_empty() => {
                conn.h1.stream_ended();
                conn.shrink_idle();
                conn.served += 1;
                match reuse {
                    Reuse::Pool { pool, server } => pool.checkin(server, conn, in_use),
                    Reuse::Session { slot, server } => slot.put(server, conn),
                }
            }
            // A connection not kept (`option http-server-close`, `httpclose`, a server that asked to close) whose
            // response was read whole is reset, as HAProxy closes such a connection: the proxy's side keeps no
            // TIME-WAIT socket on a local port.
            (Some(conn), None) => conn.discard(),
            _ => {}
        }
    }
}

fn piece(data: Bytes) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
    Poll::Ready(Some(Ok(Frame::data(data))))
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "server closed the connection before the end of the body",
    )
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let limit = this.limit;
        if let State::H2(stream) = &mut this.state {
            let polled = ready!(stream.poll_frame(cx));
            if matches!(polled, None | Some(Err(_))) {
                this.stop(true);
            }
            return Poll::Ready(polled);
        }
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            let want = match &mut this.state {
                State::Done | State::H2(_) => return Poll::Ready(None),
                State::Length(left) => {
                    if !conn.buf.is_empty() {
                        let n = conn.buf.len().min(limit);
                        let n = usize::try_from(*left).map_or(n, |l| n.min(l));
                        *left -= n as u64;
                        let data = conn.buf.split_to(n).freeze();
                        if *left == 0 {
                            this.finish();
                        }
                        return piece(data);
                    }
                    usize::try_from(*left).map_or(limit, |l| l.min(limit))
                }
                State::Chunked(decoder) => match decoder.decode(&mut conn.buf, limit) {
                    Ok(Decoded::Data(data)) => return piece(data),
                    Ok(Decoded::End) => {
                        // The trailer fields go on to the client (chunked trailers, or HTTP/2 trailers).
                        let trailers = decoder.take_trailers();
                        this.finish();
                        return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                    }
                    Ok(Decoded::NeedMore) => limit,
                    Err(e) => {
                        this.stop(false);
                        return Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            e,
                        ))));
                    }
                },
                State::UntilClose => {
                    if !conn.buf.is_empty() {
                        let n = conn.buf.len().min(limit);
                        let data = conn.buf.split_to(n).freeze();
                        return piece(data);
                    }
                    limit
                }
            };
            match ready!(conn.poll_fill(cx, want)) {
                Ok(0) if matches!(this.state, State::UntilClose) => {
                    this.ended_by_close();
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    this.stop(false);
                    return Poll::Ready(Some(Err(truncated())));
                }
                Ok(_) => {}
                Err(e) => {
                    this.stop(false);
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.state {
            State::Done => true,
            State::H2(s) => s.is_end_stream(),
            _ => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Length(n) => SizeHint::with_exact(*n),
            State::Done => SizeHint::with_exact(0),
            State::H2(s) => s.size_hint(),
            _ => SizeHint::default(),
        }
    }
}
