//! Waiting for a message body before going on (`option http-buffer-request`, `http-request wait-for-body`,
//! `http-response wait-for-body`), within HAProxy's message buffer.
//!
//! HAProxy holds a message in a buffer of `tune.bufsize` bytes, of which `tune.maxrewrite` are kept for header
//! rewrites: a head must fit in the rest, and a wait for the body ends when the body fills it. The space a head
//! takes there (HAProxy's HTX) is not its size on the wire: [`head_size`] counts it as HAProxy does (measured
//! against haproxy 2.6: a fixed 85 bytes, the three words of the start line, and each header's name and value plus
//! 8 bytes), so that the same heads are refused.
//!
//! The body bytes waited for are kept in front of the rest of the body ([`Prefetched`]) and handed on first.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::time::Instant;

pub use crate::model::limits::{
    body_cost, head_size, header_cost, headers_cost, request_head_size, BufLimits, Room,
};

/// How a wait for a body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// The body is complete, or as many bytes as wanted are there (or the buffer is full).
    Done,
    /// The longest wait passed first.
    Deadline,
    /// Nothing arrived for the sender's inactivity timeout.
    Idle,
    /// The body failed (the sender closed or sent something invalid); the error is handed on after the bytes
    /// that came before it.
    Failed,
}

/// A body whose first bytes were read ahead (waited for), handed on before the rest.
pub struct Prefetched<B: Body> {
    ahead: VecDeque<Frame<Bytes>>,
    /// Data bytes in `ahead`.
    len: usize,
    /// The rest of the body; `None` once it ended or failed.
    rest: Option<B>,
    /// The error the body failed with while it was waited for.
    error: Option<B::Error>,
}

impl<B> Prefetched<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    /// Wraps `body`, nothing read ahead yet.
    pub fn new(body: B) -> Self {
        Prefetched {
            ahead: VecDeque::new(),
            len: 0,
            rest: Some(body),
            error: None,
        }
    }

    /// The data bytes read ahead so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The data bytes read ahead so far, in one buffer (copied only when they came in several frames).
    pub fn data(&self) -> Bytes {
        let mut frames = self.ahead.iter().filter_map(|f| f.data_ref());
        match (frames.next(), frames.next()) {
            (None, _) => Bytes::new(),
            (Some(one), None) => one.clone(),
            _ => {
                let mut all = Vec::with_capacity(self.len);
                for f in self.ahead.iter().filter_map(|f| f.data_ref()) {
                    all.extend_from_slice(f);
                }
                Bytes::from(all)
            }
        }
    }

    /// The whole body, when all of it was read ahead (it ended, did not fail, and carries no trailers).
    pub fn whole(&self) -> Option<Bytes> {
        let ended = self.error.is_none() && self.rest.as_ref().is_none_or(|r| r.is_end_stream());
        (ended && self.ahead.iter().all(|f| f.is_data())).then(|| self.data())
    }

    /// Whether nothing was read ahead.
    pub fn is_empty(&self) -> bool {
        self.ahead.is_empty()
    }

    /// Whether the body failed while it was waited for.
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// The rest of the body (after the bytes read ahead), unless it ended.
    pub fn rest(&self) -> Option<&B> {
        self.rest.as_ref()
    }

    /// The rest of the body, still being read, to adjust.
    pub fn rest_mut(&mut self) -> Option<&mut B> {
        self.rest.as_mut()
    }

    /// Reads the body ahead until it ends or `want` data bytes are read ahead, for at most until `deadline`, and
    /// as long as something arrives within `idle`.
    pub async fn wait(
        &mut self,
        want: usize,
        deadline: Option<Instant>,
        idle: Option<Duration>,
    ) -> Waited {
        loop {
            if self.error.is_some() {
                return Waited::Failed;
            }
            let Some(rest) = self.rest.as_mut().filter(|r| !r.is_end_stream()) else {
                return Waited::Done;
            };
            if self.len >= want {
                return Waited::Done;
            }
            let idle_at = idle.map(|t| Instant::now() + t);
            let limit = match (deadline, idle_at) {
                (Some(d), Some(i)) => Some(d.min(i)),
                (d, i) => d.or(i),
            };
            let frame = match limit {
                Some(at) => match tokio::time::timeout_at(at, rest.frame()).await {
                    Ok(f) => f,
                    Err(_) if deadline.is_some_and(|d| d <= at) => return Waited::Deadline,
                    Err(_) => return Waited::Idle,
                },
                None => rest.frame().await,
            };
            match frame {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        if data.is_empty() {
                            continue;
                        }
                        self.len += data.len();
                    }
                    self.ahead.push_back(frame);
                }
                Some(Err(e)) => {
                    self.error = Some(e);
                    self.rest = None;
                }
                None => self.rest = None,
            }
        }
    }
}

impl<B> Body for Prefetched<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(frame) = this.ahead.pop_front() {
            if let Some(data) = frame.data_ref() {
                this.len -= data.len();
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(e) = this.error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        match &mut this.rest {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ahead.is_empty()
            && self.error.is_none()
            && self.rest.as_ref().is_none_or(|r| r.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let len = self.len as u64;
        match &self.rest {
            None => SizeHint::with_exact(len),
            Some(rest) => {
                let h = rest.size_hint();
                let mut out = SizeHint::new();
                out.set_lower(h.lower() + len);
                if let Some(u) = h.upper() {
                    out.set_upper(u + len);
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fulcrum_config::haproxy::Global;
    use http::{HeaderMap, Request};
    use http_body_util::Full;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (n.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    /// The sizes measured against haproxy 2.6 with `tune.bufsize 2048` (1024 bytes for the head): a request
    /// head of 937 bytes on the wire with two headers is the largest accepted, with eleven headers 901 bytes, with
    /// one header and a long path 941 bytes.
    #[test]
    fn head_sizes_match_haproxy() {
        let limits = BufLimits {
            size: 2048,
            rewrite: 1024,
        };
        assert_eq!(limits.fill(), 1024);
        // "GET / HTTP/1.1\r\nHost: a\r\nX: aaa...\r\n\r\n", 937 bytes.
        let x = "a".repeat(937 - 16 - 9 - 5 - 2);
        let req = Request::get("/")
            .header("host", "a")
            .header("x", x.as_str())
            .body(())
            .unwrap();
        assert_eq!(request_head_size(&req), 1024);
        let mut h: Vec<(String, String)> = (0..9).map(|i| (format!("x{i}"), "b".into())).collect();
        h.push(("host".into(), "a".into()));
        h.push(("x".into(), "a".repeat(901 - 16 - 9 - 9 * 7 - 5 - 2)));
        let mut req = Request::get("/").body(()).unwrap();
        for (n, v) in &h {
            req.headers_mut()
                .append(n.parse::<http::HeaderName>().unwrap(), v.parse().unwrap());
        }
        assert_eq!(request_head_size(&req), 1024);
        let path = format!("/{}", "a".repeat(941 - 16 - 9 - 2));
        let req = Request::get(path.as_str())
            .header("host", "a")
            .body(())
            .unwrap();
        assert_eq!(request_head_size(&req), 1024);
        // A response: 937 bytes with two headers, as for a request.
        let x = "a".repeat(937 - 17 - 19 - 5 - 2);
        let h = headers(&[("content-length", "2"), ("x", x.as_str())]);
        assert_eq!(head_size([8, 3, 2], &h), 1024);
    }

    /// HAProxy's strict_rw_mode case: `tune.bufsize 2048`, `tune.maxrewrite 128`, a 2000-byte body filling the
    /// buffer: one 60-byte header fits in the rewrite room, a second one does not.
    #[test]
    fn rewrites_fit_in_the_room_left() {
        let limits = BufLimits {
            size: 2048,
            rewrite: 128,
        };
        let head = 148;
        let mut room = Room::new(limits.size, head + body_cost(&limits, head, 2000));
        assert!(room.rewrite(0, header_cost(6, 60)));
        assert!(!room.rewrite(0, header_cost(6, 60)));
        // Replacing a header frees what it took.
        assert!(room.rewrite(header_cost(6, 60), header_cost(6, 60)));
        room.take(-100);
        assert!(room.rewrite(0, header_cost(6, 60)));
        assert!(Room::unlimited().rewrite(0, 1 << 30));
        // A small body takes what it is.
        assert_eq!(body_cost(&limits, head, 10), 18);
        assert_eq!(body_cost(&limits, head, 0), 0);
    }

    #[test]
    fn tune_maxrewrite_is_capped_at_half_the_buffer() {
        let g = Global {
            tune_bufsize: Some(2048),
            tune_maxrewrite: Some(4000),
            ..Global::default()
        };
        assert_eq!(BufLimits::new(&g).fill(), 1024);
        assert_eq!(BufLimits::default().fill(), 16384 - 1024);
    }

    /// A body of these pieces, then an end, an error, or nothing more ever (`then`).
    struct Pieces {
        parts: VecDeque<&'static str>,
        then: Then,
    }

    #[derive(Clone, Copy)]
    enum Then {
        End,
        Fail,
        Stall,
    }

    fn pieces(parts: &[&'static str], then: Then) -> Pieces {
        Pieces {
            parts: parts.iter().copied().collect(),
            then,
        }
    }

    impl Body for Pieces {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            let this = self.get_mut();
            if let Some(p) = this.parts.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(p.as_bytes())))));
            }
            match this.then {
                Then::End => Poll::Ready(None),
                Then::Fail => {
                    this.then = Then::End;
                    Poll::Ready(Some(Err(std::io::ErrorKind::UnexpectedEof.into())))
                }
                Then::Stall => Poll::Pending,
            }
        }
    }

    #[tokio::test]
    async fn waits_until_enough_then_hands_everything_on() {
        let mut b = Prefetched::new(pieces(&["ab", "cd", "ef"], Then::End));
        assert_eq!(b.wait(3, None, None).await, Waited::Done);
        assert_eq!(b.len(), 4);
        assert_eq!(&b.collect().await.unwrap().to_bytes()[..], b"abcdef");
        // The whole body, shorter than wanted.
        let mut b = Prefetched::new(Full::new(Bytes::from_static(b"xyz")));
        assert_eq!(b.wait(100, None, None).await, Waited::Done);
        assert!(!b.is_end_stream());
        assert_eq!(b.size_hint().exact(), Some(3));
        assert_eq!(&b.collect().await.unwrap().to_bytes()[..], b"xyz");
        // Nothing wanted: nothing read.
        let mut b = Prefetched::new(pieces(&["ab"], Then::End));
        assert_eq!(b.wait(0, None, None).await, Waited::Done);
        assert!(b.is_empty());
    }

    #[tokio::test]
    async fn a_wait_ends_at_the_deadline_or_when_nothing_comes() {
        let start = Instant::now();
        let mut b = Prefetched::new(pieces(&["ab"], Then::Stall));
        let deadline = Some(start + Duration::from_millis(100));
        assert_eq!(
            b.wait(10, deadline, Some(Duration::from_secs(5))).await,
            Waited::Deadline
        );
        let took = Instant::now() - start;
        assert!(took >= Duration::from_millis(100) && took < Duration::from_secs(2));
        assert_eq!(
            b.wait(10, None, Some(Duration::from_millis(50))).await,
            Waited::Idle
        );
        assert_eq!(b.len(), 2);
    }

    #[tokio::test]
    async fn a_failure_comes_after_the_bytes_before_it() {
        let mut b = Prefetched::new(pieces(&["ab"], Then::Fail));
        assert_eq!(b.wait(10, None, None).await, Waited::Failed);
        assert!(b.failed());
        let first = b.frame().await.unwrap().unwrap();
        assert_eq!(first.data_ref().map(|d| &d[..]), Some(&b"ab"[..]));
        assert!(b.frame().await.unwrap().is_err());
        assert!(b.frame().await.is_none());
    }
}
