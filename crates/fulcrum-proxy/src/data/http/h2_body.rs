//! The body of a request that arrives on an HTTP/2 stream ([`H2Body`]): below the request path, which reads it
//! as any other request body (`reqbody.rs`), and `h2.rs`, which makes it.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use h2::RecvStream;
use http_body::{Body, Frame, SizeHint};

/// A request body streamed from an HTTP/2 stream. The client's window is opened again as the server takes the
/// bytes, so a slow server slows the client down instead of filling memory.
pub struct H2Body {
    pub(super) recv: RecvStream,
    /// The data ended: the trailers (if any) were handed on or are being read.
    pub(super) data_done: bool,
}

impl Body for H2Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if !self.data_done {
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        e,
                    ))))
                }
                None => self.data_done = true,
            }
        }
        // The request's trailers go on to the server (chunked trailers for HTTP/1, HTTP/2 trailers), once.
        match ready!(self.recv.poll_trailers(cx)) {
            Ok(Some(t)) => Poll::Ready(Some(Ok(Frame::trailers(t)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                e,
            )))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
