//! The body of a request sent to a server: streamed from the client (its first bytes possibly waited for, by
//! `option http-buffer-request` or `wait-for-body`), or, when a request is sent again after a failed attempt
//! (`retry-on`, or a reused connection the server had just closed), empty or the whole body read ahead before. A
//! request whose body was still streaming when it left is never replayed.

use std::pin::Pin;
use std::task::{Context, Poll};

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

use super::buffered::{Prefetched, Waited};
use super::client_body::ClientBody;

/// A request body for a server.
pub enum ReqBody {
    /// Streamed from the client.
    Stream(ClientBody),
    /// Streamed from the client, its first bytes already read (waited for).
    Prefetched(Box<Prefetched<ClientBody>>),
    /// Streamed from an HTTP/2 stream.
    H2(super::h2_body::H2Body),
    /// Streamed from an HTTP/2 stream, its first bytes already read (waited for).
    H2Prefetched(Box<Prefetched<super::h2_body::H2Body>>),
    /// A body read completely before, sent again (`None` once sent).
    Full(Option<Bytes>),
    /// No body.
    Empty,
}

impl ReqBody {
    /// Waits for the client's body (see [`Prefetched::wait`]).
    pub async fn wait(
        &mut self,
        want: usize,
        deadline: Option<Instant>,
        idle: Option<Duration>,
    ) -> Waited {
        if let ReqBody::Stream(_) = self {
            let ReqBody::Stream(b) = std::mem::replace(self, ReqBody::Empty) else {
                unreachable!("checked just above")
            };
            *self = ReqBody::Prefetched(Box::new(Prefetched::new(b)));
        }
        if let ReqBody::H2(_) = self {
            let ReqBody::H2(b) = std::mem::replace(self, ReqBody::Empty) else {
                unreachable!("checked just above")
            };
            *self = ReqBody::H2Prefetched(Box::new(Prefetched::new(b)));
        }
        match self {
            ReqBody::Prefetched(p) => p.wait(want, deadline, idle).await,
            ReqBody::H2Prefetched(p) => p.wait(want, deadline, idle).await,
            _ => Waited::Done,
        }
    }

    /// The body bytes read ahead (waited for) and not yet sent on.
    pub fn prefetched(&self) -> usize {
        match self {
            ReqBody::Prefetched(p) => p.len(),
            ReqBody::H2Prefetched(p) => p.len(),
            _ => 0,
        }
    }

    /// The body bytes read ahead, in one buffer (`req.body`); `None` when none was waited for.
    pub fn prefetched_data(&self) -> Option<bytes::Bytes> {
        match self {
            ReqBody::Prefetched(p) => Some(p.data()),
            ReqBody::H2Prefetched(p) => Some(p.data()),
            _ => None,
        }
    }

    /// Lets a body streamed from an HTTP/1 client be spliced to the server (`option splice-request`).
    pub fn allow_splice(&mut self) {
        if let ReqBody::Stream(b) = self {
            b.allow_splice();
        }
    }

    /// The client's body as it may be spliced: see [`ClientBody::splice_socket`].
    pub fn splice_socket(&self) -> Option<&tokio::net::TcpStream> {
        match self {
            ReqBody::Stream(b) => b.splice_socket(),
            _ => None,
        }
    }

    /// See [`ClientBody::splice_left`].
    pub fn splice_left(&self) -> Option<u64> {
        match self {
            ReqBody::Stream(b) => b.splice_left(),
            _ => None,
        }
    }

    /// See [`ClientBody::spliced`].
    pub fn spliced(&mut self, n: u64, failed: bool) {
        if let ReqBody::Stream(b) = self {
            b.spliced(n, failed);
        }
    }

    /// Whether the client's body failed (it closed or sent something invalid) while it was waited for.
    pub fn failed(&self) -> bool {
        match self {
            ReqBody::Prefetched(p) => p.failed(),
            ReqBody::H2Prefetched(p) => p.failed(),
            _ => false,
        }
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            ReqBody::Stream(b) => Pin::new(b).poll_frame(cx),
            ReqBody::Prefetched(b) => Pin::new(&mut **b).poll_frame(cx),
            ReqBody::H2(b) => Pin::new(b).poll_frame(cx),
            ReqBody::H2Prefetched(b) => Pin::new(&mut **b).poll_frame(cx),
            ReqBody::Full(b) => Poll::Ready(b.take().map(|d| Ok(Frame::data(d)))),
            ReqBody::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Stream(b) => b.is_end_stream(),
            ReqBody::Prefetched(b) => b.is_end_stream(),
            ReqBody::H2(b) => b.is_end_stream(),
            ReqBody::H2Prefetched(b) => b.is_end_stream(),
            ReqBody::Full(b) => b.is_none(),
            ReqBody::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Stream(b) => b.size_hint(),
            ReqBody::Prefetched(b) => b.size_hint(),
            ReqBody::H2(b) => b.size_hint(),
            ReqBody::H2Prefetched(b) => b.size_hint(),
            ReqBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |d| d.len() as u64)),
            ReqBody::Empty => SizeHint::with_exact(0),
        }
    }
}

/// A request kept so that it can be sent again: its head, and its body when the client had sent all of it before
/// the request left (`option http-buffer-request`, `wait-for-body`) and it carries no trailers.
pub struct Replay {
    method: http::Method,
    version: http::Version,
    uri: http::Uri,
    headers: http::HeaderMap,
    /// What the client's head held that the HTTP types cannot (`option accept-invalid-http-request`).
    verbatim: Option<fulcrum_http::request_in::Verbatim>,
    /// The whole body, when there is one.
    body: Option<Bytes>,
}

impl Replay {
    /// Keeps a copy of `req` when it has no body or its whole body was read ahead (only such requests can be sent
    /// twice).
    pub fn of(req: &Request<ReqBody>) -> Option<Self> {
        let body = match req.body() {
            b if b.is_end_stream() => None,
            ReqBody::Prefetched(p) => Some(p.whole()?),
            ReqBody::H2Prefetched(p) => Some(p.whole()?),
            _ => return None,
        };
        Some(Replay {
            method: req.method().clone(),
            version: req.version(),
            uri: req.uri().clone(),
            headers: req.headers().clone(),
            verbatim: req
                .extensions()
                .get::<fulcrum_http::request_in::Verbatim>()
                .cloned(),
            body,
        })
    }

    /// The request again.
    pub fn request(&self) -> Request<ReqBody> {
        let mut r = Request::new(match &self.body {
            Some(b) => ReqBody::Full(Some(b.clone())),
            None => ReqBody::Empty,
        });
        *r.method_mut() = self.method.clone();
        *r.uri_mut() = self.uri.clone();
        *r.headers_mut() = self.headers.clone();
        *r.version_mut() = self.version;
        if let Some(v) = &self.verbatim {
            r.extensions_mut().insert(v.clone());
        }
        r
    }
}
