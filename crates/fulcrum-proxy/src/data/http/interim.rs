//! Interim responses a server sends before its final answer (1xx other than `101`, which switches protocols),
//! such as `103 Early Hints`: passed on to an HTTP/1.1 client or an HTTP/2 stream as HAProxy does. `100
//! Continue` only when the client is waiting for the server's (`client_body::ClientBody::relay_continue`). Where they go travels with the request
//! (`request::Client::interim`, an `Rc` clone per request), down to the server exchange.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use fulcrum_http::response_in::ResponseHead;
use fulcrum_http::response_out::{self, BodyOut, ConnectionLine, Framing};
use h2::server::SendResponse;
use http::{HeaderMap, Response, StatusCode};

use crate::data::client_io::ClientIo;

/// Where a request's interim responses go.
#[derive(Clone)]
pub enum Client {
    /// An HTTP/1.1 client's connection.
    H1(Rc<ClientIo>),
    /// An HTTP/2 stream, answered through its handle.
    H2(Rc<RefCell<SendResponse<Bytes>>>),
}

/// Interim responses on their way to the client.
pub struct Interim {
    client: Option<Client>,
    /// The server's `100 Continue` is passed on (once).
    pass_continue: bool,
    pending: Vec<u8>,
    written: usize,
}

impl Interim {
    /// Interim responses to `client` (`None`: an HTTP/1.0 client, which gets none).
    pub fn new(client: Option<&Client>) -> Self {
        Interim {
            client: client.cloned(),
            pass_continue: false,
            pending: Vec::new(),
            written: 0,
        }
    }

    /// Whether `head` is an interim response to pass on (or to skip).
    pub fn is_interim(head: &ResponseHead) -> bool {
        head.status.is_informational() && head.status != StatusCode::SWITCHING_PROTOCOLS
    }

    /// The server's first `100 Continue` goes to the client: the client waits for it.
    pub fn passing_continue(mut self, pass: bool) -> Self {
        self.pass_continue = pass;
        self
    }

    /// Queues `head` (an interim response) for the client, unless it is a `100 Continue` the client does not
    /// wait for; an HTTP/2 stream gets it at once.
    pub fn queue(&mut self, head: &ResponseHead) {
        self.queue_status(head.status, &head.headers);
    }

    /// Queues an interim response of `status` with `headers` from a server (an HTTP/2 server's), unless it is a
    /// `100 Continue` the client does not wait for; an HTTP/2 stream gets it at once.
    pub fn queue_status(&mut self, status: StatusCode, headers: &HeaderMap) {
        if status == StatusCode::CONTINUE && !std::mem::take(&mut self.pass_continue) {
            return;
        }
        let mut headers = headers.clone();
        fulcrum_http::headers::strip_hop_by_hop(&mut headers, false);
        self.queue_head(status, headers);
    }

    /// Queues an interim response of `status` with `headers` (an HTTP/2 stream gets it at once).
    fn queue_head(&mut self, status: StatusCode, headers: HeaderMap) {
        match &self.client {
            None => {}
            Some(Client::H1(_)) => {
                let framing = Framing {
                    body: BodyOut::None,
                    add_length: None,
                    until_close: false,
                };
                response_out::encode(
                    &mut self.pending,
                    &response_out::StatusLine::new(status),
                    &headers,
                    &[],
                    &framing,
                    ConnectionLine::None,
                );
            }
            Some(Client::H2(send)) => {
                let mut resp = Response::new(());
                *resp.status_mut() = status;
                *resp.headers_mut() = headers;
                let (mut parts, ()) = resp.into_parts();
                fulcrum_http::h2map::response_for_h2(&mut parts);
                // A stream the client reset loses it; its final response finds out.
                let _ = send
                    .borrow_mut()
                    .send_informational(Response::from_parts(parts, ()));
            }
        }
    }

    /// Sends `103 Early Hints` with `headers` now (`http-request early-hint`), when the client takes interim
    /// responses.
    pub async fn early_hints(client: Option<&Client>, headers: HeaderMap) {
        if client.is_none() {
            return;
        }
        let mut i = Interim::new(client);
        i.queue_head(StatusCode::EARLY_HINTS, headers);
        i.flush().await;
    }

    /// Writes what it can of the queued bytes. A client that went away loses them (its final response will
    /// find the connection broken).
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(Client::H1(io)) = &self.client else {
            return Poll::Ready(());
        };
        while self.written < self.pending.len() {
            match io.poll_write(cx, &[io::IoSlice::new(&self.pending[self.written..])]) {
                Poll::Ready(Ok(n)) if n > 0 => self.written += n,
                Poll::Ready(_) => {
                    self.pending.clear();
                    self.written = 0;
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(())
    }

    /// Writes the rest of the queued bytes (before the final response goes out).
    pub async fn flush(&mut self) {
        std::future::poll_fn(|cx| self.poll_flush(cx)).await
    }
}
