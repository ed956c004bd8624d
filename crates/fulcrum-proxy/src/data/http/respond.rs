//! Writing a response to the client: the head as [`fulcrum_http::response_out`] frames it, then the body's pieces
//! as they come, each written together with its chunk framing (and the first with the head when it is already
//! there) in one vectored write.
//!
//! With `option splice-response` (or `splice-auto`), a server's body of known length that nothing reads on the
//! way (no compression, no rule waiting for it), on clear-text connections at both ends, is not read here past
//! what came with the head: the rest goes from the server's socket to the client's through a pipe (splice(2),
//! `net::splice::exact`), as `mode tcp` moves its bytes. Off by default, as in HAProxy: on loopback it costs the
//! peers more than it saves the proxy (docs/PERFORMANCE.md, "Splicing HTTP response bodies").

use std::io;
use std::time::Duration;

use bytes::Bytes;
use fulcrum_http::headers::all_tokens;
use fulcrum_http::response_out::{self, BodyOut, ConnectionLine};
use http::{header, Method, Response, Version};
use http_body::Body;

use super::body::ProxyBody;
use crate::data::client_io::ClientIo;

/// The most body bytes gathered for one write (and so the most a client that stops reading can pin when the
/// kernel refuses more than the socket's room said, as under TCP memory pressure).
const MAX_BATCH: usize = 256 * 1024;
/// The least body bytes a write gathers when more are there.
const MIN_BATCH: usize = super::upstream_body::MIN_PIECE;
/// The most body bytes the first write of a response gathers before the client's socket is asked how much it can
/// take: a response this small never asks.
const FIRST_BATCH: usize = super::upstream_body::FIRST_PIECE;

/// How many body bytes to gather for the next write, given the `room` left in the client's socket: no more than it
/// takes at once, so that a client that stops reading leaves at most about [`MIN_BATCH`] bytes waiting here
/// (HAProxy's buffer); a client that keeps up gets large writes.
fn batch_cap(room: usize) -> usize {
    room.clamp(MIN_BATCH, MAX_BATCH)
}

/// The most body pieces gathered for one write.
const MAX_PIECES: usize = 16;

/// How writing a response went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// All of it is on the socket; `close`: the connection ends after it (the head said so).
    Complete {
        /// The connection closes after this response.
        close: bool,
    },
    /// The response could not be completed (the client went away, or the server's body failed): the connection
    /// ends.
    Broken,
}

/// Writes `parts` to the client, giving up when they do not all go out within `idle` (`timeout client`: a client
/// that stops reading).
async fn send(io: &ClientIo, parts: &[&[u8]], idle: Option<Duration>) -> io::Result<()> {
    match idle {
        Some(t) => tokio::time::timeout(t, io.write_all(parts))
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
        None => io.write_all(parts).await,
    }
}

/// How a write of `body`'s response went, noting on it a client that took nothing for `timeout client` (logged
/// `cD`).
fn sent(r: io::Result<()>, body: &mut ProxyBody) -> io::Result<()> {
    if let Err(e) = &r {
        if e.kind() == io::ErrorKind::TimedOut {
            body.client_silent();
        }
    }
    r
}

/// Whether the rest of `body` would be spliced (see the module's comment): nothing of it waits in user space.
fn spliceable(body: &mut ProxyBody) -> bool {
    body.untouched()
        .is_some_and(|b| b.splice_source().is_some())
}

/// Moves the rest of a [`spliceable`] body from the server's socket to the client's; true when all of it went.
/// `idle`: how long the client may take no bytes (`timeout client`); the server's silence is bounded by the
/// body's own idle time (`timeout server`).
async fn splice_rest(io: &ClientIo, body: &mut ProxyBody, idle: Option<Duration>) -> bool {
    let Some(up) = body.untouched() else {
        return false;
    };
    let server_idle = up.idle();
    let Some((src, left)) = up.splice_source() else {
        return false;
    };
    let mut first = true;
    let mut moved = 0u64;
    let r = crate::net::splice::exact(
        src,
        io.stream(),
        left,
        (server_idle, idle),
        // As for copied bodies: the first read takes what an empty socket surely can, later ones what the
        // client's socket can take now, so a client that stops reading leaves the bytes with the server.
        || {
            if std::mem::take(&mut first) {
                FIRST_BATCH
            } else {
                batch_cap(io.send_room())
            }
        },
        |n| {
            moved += n as u64;
            io.wrote_spliced(n);
        },
    )
    .await;
    if let Err(e) = r {
        tracing::debug!(error = ?e, "spliced response body failed");
    }
    body.spliced(moved, r);
    r.is_ok()
}

/// Writes `resp` to the client, which sent its request with `method` as `version`. `close`: the connection ends
/// after this response, whatever the response says. `wbuf` is the connection's head buffer. `idle`: how long a
/// write may wait for the client to read (`timeout client`).
pub async fn write_response(
    io: &ClientIo,
    wbuf: &mut Vec<u8>,
    resp: &mut Response<ProxyBody>,
    method: &Method,
    version: Version,
    close: bool,
    idle: Option<Duration>,
) -> Written {
    let known = resp.body().size_hint().exact();
    // A server's HTTP/1.0 response stays HTTP/1.0 (as through HAProxy): it cannot be chunked, and its connection
    // persists only with `connection: keep-alive`.
    let message_10 = resp.version() == Version::HTTP_10;
    // One that came chunked stays chunked, and ends the connection.
    let chunked_10 = resp
        .extensions()
        .get::<response_out::ChunkedHttp10>()
        .is_some();
    // One whose body ends with the server's connection is passed on the same way (not chunked).
    let close_delimited = resp
        .extensions()
        .get::<response_out::CloseDelimited>()
        .is_some();
    let framing_version = if (message_10 && !chunked_10) || close_delimited {
        Version::HTTP_10
    } else {
        version
    };
    let framing = response_out::frame(
        resp.status(),
        method,
        framing_version,
        resp.headers(),
        known,
    );
    let (mut has_close, mut has_keep) = (false, false);
    for t in all_tokens(resp.headers(), header::CONNECTION) {
        has_close |= t.eq_ignore_ascii_case("close");
        has_keep |= t.eq_ignore_ascii_case("keep-alive");
    }
    let closing = close || framing.until_close || has_close || chunked_10;
    let line = if closing && !has_close && !message_10 {
        ConnectionLine::Close
    } else if !closing && (version == Version::HTTP_10 || message_10) && !has_keep {
        ConnectionLine::KeepAlive
    } else {
        ConnectionLine::None
    };
    wbuf.clear();
    let verbatim = resp
        .extensions()
        .get::<response_out::Verbatim>()
        .map_or(&[][..], |v| &v.0[..]);
    let reason = resp
        .extensions()
        .get::<response_out::Reason>()
        .map(|r| &r.0[..]);
    response_out::encode(
        wbuf,
        &response_out::StatusLine {
            version: resp.version(),
            status: resp.status(),
            reason,
        },
        resp.headers(),
        verbatim,
        &framing,
        line,
    );
    let body = resp.body_mut();
    // The head as it goes out, for the stick counters' `bytes_out_*`.
    body.head_written(wbuf.len() as u64);
    let chunked = framing.body == BodyOut::Chunked;
    let mut head_sent = false;
    let mut prefix = Vec::with_capacity(16);
    // The response's trailers, as chunked trailer lines (a server's HTTP/2 trailers: gRPC's status).
    let mut trailers: Vec<u8> = Vec::new();
    // Body pieces already there are gathered and written together (as one chunk when chunked).
    let mut batch: [Bytes; MAX_PIECES] = std::array::from_fn(|_| Bytes::new());
    // How many body bytes this write gathers, and whether the socket was asked yet for this write.
    let mut cap = FIRST_BATCH;
    let mut asked = false;
    let splices = framing.body == BodyOut::Raw && io.splices();
    let server_idle = body.server_idle();
    loop {
        if splices && spliceable(body) {
            if !head_sent && sent(send(io, &[wbuf], idle).await, body).is_err() {
                return Written::Broken;
            }
            return if splice_rest(io, body, idle).await {
                Written::Complete { close: closing }
            } else {
                Written::Broken
            };
        }
        let frame = if head_sent {
            // The last write went out whole: the socket says how much the next may carry.
            cap = batch_cap(io.send_room());
            asked = true;
            body.set_read_limit(cap);
            match body.frame_within(server_idle).await {
                Some(f) => f,
                None => {
                    tracing::debug!("server silent in the middle of the response body");
                    body.server_silent();
                    return Written::Broken;
                }
            }
        } else {
            match body.frame_now().await {
                Some(f) => f,
                None => {
                    // The body is not there yet: the head goes alone.
                    if sent(send(io, &[wbuf], idle).await, body).is_err() {
                        return Written::Broken;
                    }
                    head_sent = true;
                    continue;
                }
            }
        };
        let mut pieces = 0;
        let mut ended = false;
        let mut failed = false;
        let mut next = Some(frame);
        let mut size = 0usize;
        while let Some(frame) = next.take() {
            match frame {
                Some(Ok(frame)) => {
                    // Trailers go after the last chunk of a chunked body; a response without a body writes none.
                    match frame.into_data() {
                        Ok(data) => {
                            if !data.is_empty() && framing.body != BodyOut::None {
                                size += data.len();
                                batch[pieces] = data;
                                pieces += 1;
                            }
                        }
                        Err(frame) => {
                            if let (Ok(t), true) = (frame.into_trailers(), chunked) {
                                fulcrum_http::chunked::encode_trailers(&t, &mut trailers);
                            }
                        }
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "response body failed");
                    failed = true;
                }
                None => ended = true,
            }
            if ended || failed || pieces == MAX_PIECES {
                break;
            }
            if size >= cap && !asked {
                cap = batch_cap(io.send_room());
                asked = true;
            }
            // The rest goes through a pipe once nothing of it waits here: the pieces gathered go out first.
            if size < cap && !(splices && spliceable(body)) {
                body.set_read_limit(cap - size);
                next = body.frame_now().await;
            }
        }
        let head: &[u8] = if head_sent { &[] } else { wbuf };
        // Head, chunk size line, the pieces, chunk end, last chunk: no allocation per response.
        let mut parts: [&[u8]; MAX_PIECES + 6] = [&[]; MAX_PIECES + 6];
        let mut n = 0;
        parts[n] = head;
        n += 1;
        if chunked && size > 0 {
            prefix.clear();
            response_out::chunk_prefix(&mut prefix, size);
            parts[n] = &prefix;
            n += 1;
        }
        for piece in &batch[..pieces] {
            parts[n] = piece;
            n += 1;
        }
        if chunked && size > 0 {
            parts[n] = b"\r\n";
            n += 1;
        }
        if ended && chunked && trailers.is_empty() {
            parts[n] = b"0\r\n\r\n";
            n += 1;
        } else if ended && chunked {
            parts[n] = b"0\r\n";
            parts[n + 1] = &trailers;
            parts[n + 2] = b"\r\n";
            n += 3;
        }
        let parts = &parts[..n];
        if parts.iter().any(|p| !p.is_empty()) && sent(send(io, parts, idle).await, body).is_err() {
            return Written::Broken;
        }
        head_sent = true;
        for piece in &mut batch[..pieces] {
            *piece = Bytes::new();
        }
        if failed {
            return Written::Broken;
        }
        if ended {
            return Written::Complete { close: closing };
        }
    }
}
