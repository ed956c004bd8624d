//! The body of a request, read from the client connection as the server side asks for it: bytes already in the
//! connection's receive buffer first, then from the socket. A `Content-Length` body is handed on as it comes; a
//! chunked one is decoded (the server side chunks it again). `Expect: 100-continue`: when the request goes to an
//! HTTP/1 server, the server's own `100 Continue` is passed on (as HAProxy does; [`ClientBody::relay_continue`]),
//! so a server that refuses the request never makes the client send its body; otherwise (the proxy waits for
//! the body itself, or another kind of server takes it) the proxy answers it when the body is first asked for.
//!
//! Where the body stands ([`BodyCursor`]) is shared with the connection loop, which needs to know after the
//! response whether the next request starts right after it.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use fulcrum_http::chunked::{Decoded, Decoder};
use fulcrum_http::request_in::BodyLength;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

use crate::data::client_io::ClientIo;

/// The most bytes handed on in one piece (and read from the client at once).
const MAX_PIECE: usize = 64 * 1024;

/// The interim response that lets a client send its body.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Where a request body stands.
#[derive(Debug)]
pub enum BodyCursor {
    /// This many bytes are still to come.
    Length(u64),
    /// Chunked, being decoded.
    Chunked(Decoder),
    /// Read completely: the next request starts in the receive buffer.
    Done,
    /// The client closed, or sent an invalid chunk: the connection cannot carry another request.
    Failed,
}

impl BodyCursor {
    /// The cursor at the start of a body delimited as `length` says.
    pub fn new(length: BodyLength) -> Self {
        match length {
            BodyLength::Empty => BodyCursor::Done,
            BodyLength::Length(n) => BodyCursor::Length(n),
            BodyLength::Chunked => BodyCursor::Chunked(Decoder::default()),
        }
    }

    /// Whether the body has been read completely.
    pub fn is_done(&self) -> bool {
        matches!(self, BodyCursor::Done)
    }

    /// Takes the body's next piece from `buf`, if one is there; `Ok(None)`: more bytes are needed (or the body
    /// has ended: see [`BodyCursor::is_done`]). Trailer fields are dropped.
    pub fn take(&mut self, buf: &mut bytes::BytesMut) -> io::Result<Option<Bytes>> {
        self.take_keeping_trailers(buf, &mut None)
    }

    /// [`BodyCursor::take`], keeping the trailer fields of a chunked body in `trailers` when it ends.
    pub fn take_keeping_trailers(
        &mut self,
        buf: &mut bytes::BytesMut,
        trailers: &mut Option<Box<HeaderMap>>,
    ) -> io::Result<Option<Bytes>> {
        match self {
            BodyCursor::Done | BodyCursor::Failed => Ok(None),
            BodyCursor::Length(left) => {
                if buf.is_empty() {
                    return Ok(None);
                }
                let n = buf.len().min(MAX_PIECE);
                let n = usize::try_from(*left).map_or(n, |l| n.min(l));
                *left -= n as u64;
                let data = buf.split_to(n).freeze();
                if *left == 0 {
                    *self = BodyCursor::Done;
                }
                Ok(Some(data))
            }
            BodyCursor::Chunked(decoder) => match decoder.decode(buf, MAX_PIECE) {
                Ok(Decoded::Data(data)) => Ok(Some(data)),
                Ok(Decoded::End) => {
                    *trailers = decoder.take_trailers().map(Box::new);
                    *self = BodyCursor::Done;
                    Ok(None)
                }
                Ok(Decoded::NeedMore) => Ok(None),
                Err(e) => {
                    *self = BodyCursor::Failed;
                    Err(io::Error::new(io::ErrorKind::InvalidData, e))
                }
            },
        }
    }

    /// How many more bytes to read for it.
    fn want(&self) -> usize {
        match self {
            BodyCursor::Length(left) => {
                usize::try_from(*left).map_or(MAX_PIECE, |l| l.min(MAX_PIECE))
            }
            _ => MAX_PIECE,
        }
    }
}

/// A request body streamed from the client.
pub struct ClientBody {
    io: Rc<ClientIo>,
    cursor: Rc<RefCell<BodyCursor>>,
    /// `Some(n)`: `100 Continue` is owed to the client, `n` bytes of it written.
    continue_owed: Option<usize>,
    /// The server's `100 Continue` goes to the client instead of the proxy's.
    continue_relayed: bool,
    /// The trailer fields of a chunked body, from its end until handed on (boxed: most bodies have none).
    trailers: Option<Box<HeaderMap>>,
    /// The body may go from the client's socket to the server's through a pipe (`option splice-request`).
    splice: bool,
}

impl ClientBody {
    /// The body of the request just read on `io`; `expect_continue`: the client waits for `100 Continue`.
    pub fn new(io: Rc<ClientIo>, cursor: Rc<RefCell<BodyCursor>>, expect_continue: bool) -> Self {
        ClientBody {
            io,
            cursor,
            continue_owed: expect_continue.then_some(0),
            continue_relayed: false,
            trailers: None,
            splice: false,
        }
    }

    /// Lets the rest of the body be spliced to the server (`option splice-request`; see
    /// [`ClientBody::splice_left`]).
    pub fn allow_splice(&mut self) {
        self.splice = true;
    }

    /// The client's socket, when the body may be spliced from it: splicing allowed and clear text.
    pub fn splice_socket(&self) -> Option<&tokio::net::TcpStream> {
        (self.splice && self.io.tls().is_none() && crate::net::splice::available())
            .then(|| self.io.stream())
    }

    /// The body bytes still to come on the client's socket, when the rest of the body can go straight from that
    /// socket ([`ClientBody::splice_socket`]): a length, none of it waiting in the receive buffer, and no
    /// `100 Continue` left for the proxy to write.
    pub fn splice_left(&self) -> Option<u64> {
        self.splice_socket()?;
        if self.continue_owed.is_some() || !self.io.rbuf().is_empty() {
            return None;
        }
        match *self.cursor.borrow() {
            BodyCursor::Length(left) if left > 0 => Some(left),
            _ => None,
        }
    }

    /// `n` more body bytes went from the client's socket to the server's without being read here; `failed`: the
    /// client closed or its socket failed before the rest came.
    pub fn spliced(&mut self, n: u64, failed: bool) {
        if n > 0 {
            self.io
                .read_spliced(usize::try_from(n).unwrap_or(usize::MAX));
        }
        let mut cursor = self.cursor.borrow_mut();
        if failed {
            *cursor = BodyCursor::Failed;
        } else if let BodyCursor::Length(left) = &mut *cursor {
            *left = left.saturating_sub(n);
            if *left == 0 {
                *cursor = BodyCursor::Done;
            }
        }
    }

    /// The request goes to a server that answers `Expect: 100-continue` itself (HTTP/1): from now on the proxy
    /// writes no `100 Continue` of its own, and the server's is passed on. True when that is so (also for a
    /// retry on another server); false when the proxy already answered, or no interim response is owed.
    pub fn relay_continue(&mut self) -> bool {
        if self.continue_owed == Some(0) {
            self.continue_owed = None;
            self.continue_relayed = true;
        }
        self.continue_relayed
    }

    fn poll_continue(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(at) = self.continue_owed {
            if at == CONTINUE.len() {
                self.continue_owed = None;
                break;
            }
            let n = ready!(self.io.poll_write(cx, &[io::IoSlice::new(&CONTINUE[at..])]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.continue_owed = Some(at + n);
        }
        Poll::Ready(Ok(()))
    }
}

fn client_closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "client closed the connection before the end of its request body",
    )
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            {
                let mut cursor = this.cursor.borrow_mut();
                match cursor.take_keeping_trailers(&mut this.io.rbuf(), &mut this.trailers) {
                    Ok(Some(data)) => {
                        // Bytes of the body came: the client did not wait for the interim response.
                        this.continue_owed = None;
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    Ok(None) if cursor.is_done() => {
                        // The trailer fields of a chunked body go on to the server after the data.
                        let trailers = this.trailers.take();
                        return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(*t))));
                    }
                    Ok(None) if matches!(*cursor, BodyCursor::Failed) => {
                        return Poll::Ready(Some(Err(client_closed())))
                    }
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(Some(Err(e))),
                }
            }
            if let Err(e) = ready!(this.poll_continue(cx)) {
                *this.cursor.borrow_mut() = BodyCursor::Failed;
                return Poll::Ready(Some(Err(e)));
            }
            let want = this.cursor.borrow().want();
            match ready!(this.io.poll_fill(cx, want)) {
                Ok(n) if n > 0 => {}
                Ok(_) => {
                    *this.cursor.borrow_mut() = BodyCursor::Failed;
                    return Poll::Ready(Some(Err(client_closed())));
                }
                Err(e) => {
                    *this.cursor.borrow_mut() = BodyCursor::Failed;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.cursor.borrow().is_done()
    }

    fn size_hint(&self) -> SizeHint {
        match &*self.cursor.borrow() {
            BodyCursor::Length(n) => SizeHint::with_exact(*n),
            BodyCursor::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}
