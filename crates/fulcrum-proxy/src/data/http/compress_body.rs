//! The body adapter of a compressed response ([`CompressBody`]): each piece read from the server is deflated and
//! flushed (a sync flush) as it streams to the client, so a streaming response is not held back waiting for more
//! input and the whole body is never held. The deflate streams come from `flate2` over `zlib-rs` (a maintained
//! pure-Rust port of zlib: no C toolchain, zlib's speed), at level 1 (HAProxy's default `tune.comp.maxlevel`); a
//! worker thread keeps idle compressors for the next responses, and the byte counts go to the frontend's and
//! backend's `comp_in` / `comp_out` ([`Tally`]). Which responses are compressed is decided in [`super::compress`].

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::{Compress, Compression as Level, FlushCompress, Status};
use fulcrum_config::haproxy::compression::CompAlgo;
use http_body::{Body, Frame, SizeHint};

use crate::model::snapshot::{BackendRt, FrontendRt};

/// A compressed response's byte counts, added to its frontend's and backend's `comp_in` / `comp_out` when the
/// body is done (or dropped).
pub struct Tally {
    fe: Arc<FrontendRt>,
    be: Arc<BackendRt>,
    bytes_in: u64,
    bytes_out: u64,
}

impl Tally {
    /// Nothing counted yet, for the frontend and backend of a response.
    pub fn new(fe: Arc<FrontendRt>, be: Arc<BackendRt>) -> Tally {
        Tally {
            fe,
            be,
            bytes_in: 0,
            bytes_out: 0,
        }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        for c in [&self.fe.stats, &self.be.stats] {
            c.comp_in.fetch_add(self.bytes_in, Relaxed);
            c.comp_out.fetch_add(self.bytes_out, Relaxed);
        }
    }
}

/// How many idle compressors of each kind a worker thread keeps for the next responses.
const POOLED: usize = 8;

thread_local! {
    /// Idle compressors of this thread (gzip, zlib, raw), reset and ready: a compressor holds about 256 KiB of
    /// window and hash tables, which would otherwise be allocated (mapped) and released for every response.
    static IDLE: std::cell::RefCell<[Vec<(u8, Compress)>; 3]> = const {
        std::cell::RefCell::new([Vec::new(), Vec::new(), Vec::new()])
    };
}

fn kind(algo: CompAlgo) -> Option<usize> {
    match algo {
        CompAlgo::Identity => None,
        CompAlgo::Gzip => Some(0),
        CompAlgo::Deflate => Some(1),
        CompAlgo::RawDeflate => Some(2),
    }
}

/// The encoder of one response.
struct Encoder {
    /// `None` for `identity`; the kind (index into [`IDLE`]), the level and the compressor.
    deflate: Option<(usize, u8, Compress)>,
}

impl Encoder {
    /// An encoder for `algo` at deflate `level` (1 to 9, `tune.comp.maxlevel`).
    fn new(algo: CompAlgo, level: u8) -> Encoder {
        let deflate = kind(algo).map(|k| {
            // A pooled compressor of another level (a configuration of another level ran on this thread) is
            // dropped rather than reused.
            let pooled = IDLE.with(|idle| {
                let mut idle = idle.borrow_mut();
                idle[k].retain(|(l, _)| *l == level);
                idle[k].pop()
            });
            let c = pooled.map(|(_, c)| c).unwrap_or_else(|| {
                let lvl = Level::new(u32::from(level));
                match algo {
                    CompAlgo::Gzip => Compress::new_gzip(lvl, 15),
                    CompAlgo::Deflate => Compress::new(lvl, true),
                    _ => Compress::new(lvl, false),
                }
            });
            (k, level, c)
        });
        Encoder { deflate }
    }

    /// Compresses `input` and flushes (`finish`: ends the stream); returns what came out.
    fn run(&mut self, input: &[u8], finish: bool) -> io::Result<Bytes> {
        let Some((_, _, c)) = self.deflate.as_mut() else {
            return Ok(Bytes::copy_from_slice(input));
        };
        let flush = if finish {
            FlushCompress::Finish
        } else {
            FlushCompress::Sync
        };
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        let mut input = input;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            let (before_in, before_out) = (c.total_in(), c.total_out());
            let status = c
                .compress_vec(input, &mut out, flush)
                .map_err(|e| io::Error::other(e.to_string()))?;
            input = &input[(c.total_in() - before_in) as usize..];
            let room_left = out.len() < out.capacity();
            let stuck = c.total_in() == before_in && c.total_out() == before_out;
            match status {
                Status::StreamEnd => break,
                // A flush is complete when the output was not filled.
                _ if input.is_empty() && room_left && !finish => break,
                _ if stuck && room_left => {
                    return Err(io::Error::other("the compressor made no progress"))
                }
                _ => {}
            }
        }
        Ok(Bytes::from(out))
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        if let Some((k, level, mut c)) = self.deflate.take() {
            c.reset();
            IDLE.with(|idle| {
                let mut idle = idle.borrow_mut();
                if idle[k].len() < POOLED {
                    idle[k].push((level, c));
                }
            });
        }
    }
}

/// A response body compressed on the fly: each data frame of the inner body is compressed as it comes.
pub struct CompressBody<B> {
    inner: B,
    encoder: Encoder,
    done: bool,
    tally: Option<Tally>,
}

impl<B> CompressBody<B> {
    /// Wraps `inner`, compressing it with `algo` at the level of the tally's frontend (1 without one).
    pub fn new(inner: B, algo: CompAlgo, tally: Option<Tally>) -> Self {
        let level = tally.as_ref().map_or(1, |t| t.fe.comp_level);
        CompressBody {
            inner,
            encoder: Encoder::new(algo, level),
            done: false,
            tally,
        }
    }

    fn count(&mut self, bytes_in: usize, bytes_out: usize) {
        if let Some(t) = &mut self.tally {
            t.bytes_in += bytes_in as u64;
            t.bytes_out += bytes_out as u64;
        }
    }

    /// The body being compressed.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// The body being compressed.
    pub fn inner_mut(&mut self) -> &mut B {
        &mut self.inner
    }
}

impl<B> Body for CompressBody<B>
where
    B: Body<Data = Bytes, Error = io::Error> + Unpin,
{
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers are not passed on by the writers; only data is compressed.
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if data.is_empty() {
                        continue;
                    }
                    let out = this.encoder.run(&data, false)?;
                    this.count(data.len(), out.len());
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                }
                Poll::Ready(None) => {
                    this.done = true;
                    let out = this.encoder.run(&[], true)?;
                    this.count(0, out.len());
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A body of several frames, then compressed, decompresses to the same bytes.
    #[test]
    fn streams_decompress() {
        let text: Vec<u8> = (0..200_000u32)
            .map(|i| b"{\"id\": 1, \"name\": \"fulcrum\"}\n"[(i % 29) as usize])
            .collect();
        // The second round takes the compressors the first gave back to the thread's pool.
        for algo in [
            CompAlgo::Gzip,
            CompAlgo::Deflate,
            CompAlgo::RawDeflate,
            CompAlgo::Identity,
        ]
        .repeat(2)
        {
            let mut e = Encoder::new(algo, 1);
            let mut out = Vec::new();
            for piece in text.chunks(7000) {
                out.extend_from_slice(&e.run(piece, false).unwrap());
            }
            out.extend_from_slice(&e.run(&[], true).unwrap());
            let mut back = Vec::new();
            match algo {
                CompAlgo::Gzip => {
                    flate2::read::GzDecoder::new(&out[..])
                        .read_to_end(&mut back)
                        .unwrap();
                }
                CompAlgo::Deflate => {
                    flate2::read::ZlibDecoder::new(&out[..])
                        .read_to_end(&mut back)
                        .unwrap();
                }
                CompAlgo::RawDeflate => {
                    flate2::read::DeflateDecoder::new(&out[..])
                        .read_to_end(&mut back)
                        .unwrap();
                }
                CompAlgo::Identity => back = out.clone(),
            }
            assert_eq!(back, text, "{algo:?}");
            if algo != CompAlgo::Identity {
                assert!(out.len() < text.len() / 10, "{algo:?}: {}", out.len());
            }
        }
        assert_eq!(
            IDLE.with(|i| i.borrow().iter().map(Vec::len).sum::<usize>()),
            3
        );
    }
}
