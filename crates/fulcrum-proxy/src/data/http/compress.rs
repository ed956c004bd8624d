//! HTTP compression (`compression algo|type|offload`): which responses are compressed, as HAProxy 2.6 decides
//! it, and [`CompressBody`], the body adapter that deflates a response piece by piece as it streams to the
//! client (never the whole body at once).
//!
//! The decision has two halves. On the request ([`choose`]): the algorithm the client's `Accept-Encoding` picks
//! among the proxy's (the backend's list, else the frontend's), its q-values weighed, `*` taking the algorithm
//! written last, `identity` taken when nothing else is; `compression offload` then removes `Accept-Encoding`
//! before the request goes to the server. On the response ([`start`]): HTTP/1.1 (or HTTP/2) on both sides, not
//! HEAD, status 200 to 203, a body whose end is known (length or chunks, not the close of the connection) and
//! not announced empty (`Content-Length: 0`), no
//! `Content-Encoding`, no `Cache-Control: no-transform`, at most one well-formed `ETag`, and a `Content-Type`
//! among `compression type` (any when unset; never `multipart/*`). A compressed response loses its
//! `Content-Length` (it is sent chunked to HTTP/1.1 clients), gets `Content-Encoding` (unless `identity`) and
//! `Vary: Accept-Encoding`, and a strong `ETag` becomes weak.
//!
//! The deflate streams come from `flate2` over `zlib-rs` (a maintained pure-Rust port of zlib: no C toolchain,
//! zlib's speed), at level 1 as HAProxy's default `tune.comp.maxlevel`. Each piece read from the server is
//! compressed and flushed (a sync flush), so a streaming response is not held back waiting for more input.

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::{Compress, Compression as Level, FlushCompress, Status};
use fulcrum_config::haproxy::compression::{CompAlgo, Compression};
use http::{header, HeaderMap, HeaderValue, Method, Response, Version};
use http_body::{Body, Frame, SizeHint};

use super::body::ProxyBody;
use crate::model::counters::Counters;
use crate::model::snapshot::{BackendRt, FrontendRt};

/// What the request side decided: the algorithm chosen, and whether the request allows compressing at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The algorithm the response will be compressed with, if its head allows it.
    pub algo: CompAlgo,
    /// The request is HTTP/1.1 or later and not HEAD.
    pub request_ok: bool,
}

/// Marks a server's response that can never be compressed: an HTTP/1.0 one, or one whose body ends when the
/// server closes the connection.
#[derive(Debug, Clone, Copy)]
pub struct NotCompressible;

/// The proxy whose list applies: the backend's when it names algorithms, else the frontend's.
fn algos<'a>(fe: Option<&'a Compression>, be: Option<&'a Compression>) -> Option<&'a Compression> {
    be.filter(|c| !c.algos.is_empty())
        .or(fe.filter(|c| !c.algos.is_empty()))
}

/// Chooses the algorithm for a request, and removes its `Accept-Encoding` under `compression offload`. `None`:
/// the response will not be compressed.
pub fn choose(
    fe: Option<&Compression>,
    be: Option<&Compression>,
    method: &Method,
    version: Version,
    headers: &mut HeaderMap,
) -> Option<Decision> {
    let comp = algos(fe, be)?;
    if old_user_agent(headers) {
        return None;
    }
    let mut best: Option<(CompAlgo, u16)> = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        for element in value.as_bytes().split(|&b| b == b',') {
            let element = trim_start(element);
            if element.is_empty() {
                continue;
            }
            let token_len = element.iter().take_while(|&&b| is_tchar(b)).count();
            let q = qvalue(&element[token_len..]);
            if q <= best.map_or(0, |(_, q)| q) {
                continue;
            }
            let token = &element[..token_len];
            let any = element[0] == b'*';
            if let Some(a) = comp
                .preference()
                .find(|a| any || token.eq_ignore_ascii_case(a.token().as_bytes()))
            {
                best = Some((a, q));
            }
        }
    }
    let algo = match best {
        Some((a, _)) => {
            if fe.is_some_and(|c| c.offload) || be.is_some_and(|c| c.offload) {
                headers.remove(header::ACCEPT_ENCODING);
            }
            a
        }
        // `identity` needs no word from the client.
        None => comp
            .algos
            .iter()
            .copied()
            .find(|a| *a == CompAlgo::Identity)?,
    };
    Some(Decision {
        algo,
        request_ok: version >= Version::HTTP_11 && method != Method::HEAD,
    })
}

/// HAProxy does not compress for clients announcing themselves as `Mozilla/4` unless they are MSIE 7 or later, or
/// MSIE 6 with `SV1` (XP SP2) at its place in the string: older ones mishandled compressed responses.
fn old_user_agent(headers: &HeaderMap) -> bool {
    let Some(ua) = headers.get(header::USER_AGENT).map(HeaderValue::as_bytes) else {
        return false;
    };
    if !ua.starts_with(b"Mozilla/4") {
        return false;
    }
    let good = ua.len() >= 31
        && &ua[25..30] == b"MSIE "
        && (ua[30] > b'6' || (ua[30] == b'6' && ua.len() >= 54 && &ua[51..54] == b"SV1"));
    !good
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    &b[n..]
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The weight (0 to 1000) of an `Accept-Encoding` element given what follows its token: its `q=` parameter, 1000
/// without one (or when it does not start with a digit).
fn qvalue(mut rest: &[u8]) -> u16 {
    loop {
        rest = trim_start(rest);
        let Some(after) = rest.strip_prefix(b";") else {
            return 1000;
        };
        rest = trim_start(after);
        if let Some(v) = rest.strip_prefix(b"q=") {
            return parse_q(v);
        }
        match rest.iter().position(|&b| b == b';') {
            Some(i) => rest = &rest[i..],
            None => return 1000,
        }
    }
}

fn parse_q(v: &[u8]) -> u16 {
    let Some(&first) = v.first().filter(|b| b.is_ascii_digit()) else {
        return 1000;
    };
    let mut q = u16::from(first - b'0') * 1000;
    if v.get(1) == Some(&b'.') {
        for (i, scale) in [100u16, 10, 1].into_iter().enumerate() {
            match v.get(2 + i) {
                Some(d) if d.is_ascii_digit() => q += u16::from(d - b'0') * scale,
                _ => break,
            }
        }
    }
    q.min(1000)
}

/// The types list that applies: the backend's when it names types, else the frontend's.
fn types<'a>(fe: Option<&'a Compression>, be: Option<&'a Compression>) -> &'a [String] {
    be.filter(|c| !c.types.is_empty())
        .or(fe.filter(|c| !c.types.is_empty()))
        .map_or(&[], |c| &c.types)
}

/// What an `ETag` value is.
#[derive(Debug, PartialEq, Eq)]
enum Etag {
    Strong,
    Weak,
    Invalid,
}

fn etag(v: &[u8]) -> Etag {
    let quoted = |s: &[u8]| s.len() >= 2 && s[0] == b'"' && s[s.len() - 1] == b'"';
    if quoted(v) {
        Etag::Strong
    } else if v.starts_with(b"W/") && quoted(&v[2..]) {
        Etag::Weak
    } else {
        Etag::Invalid
    }
}

/// Whether a response head allows compressing (the request side having chosen an algorithm).
fn allowed(resp: &Response<ProxyBody>, fe: Option<&Compression>, be: Option<&Compression>) -> bool {
    if !(200..=203).contains(&resp.status().as_u16())
        || resp.extensions().get::<NotCompressible>().is_some()
        || resp.body().is_tunnel()
    {
        return false;
    }
    let h = resp.headers();
    // A body announced empty by its length is not one to compress (an empty chunked one is).
    if h.get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0")
    {
        return false;
    }
    if h.contains_key(header::CONTENT_ENCODING) {
        return false;
    }
    let no_transform = fulcrum_http::headers::all_tokens(h, header::CACHE_CONTROL)
        .any(|t| t.eq_ignore_ascii_case("no-transform"));
    if no_transform {
        return false;
    }
    let mut etags = h.get_all(header::ETAG).iter();
    if let Some(e) = etags.next() {
        if etag(e.as_bytes()) == Etag::Invalid || etags.next().is_some() {
            return false;
        }
    }
    let types = types(fe, be);
    match h.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes) {
        Some(ct) => {
            let starts = |p: &[u8]| ct.len() >= p.len() && ct[..p.len()].eq_ignore_ascii_case(p);
            !starts(b"multipart")
                && (types.is_empty() || types.iter().any(|t| starts(t.as_bytes())))
        }
        None => types.is_empty(),
    }
}

/// Compresses `resp` when its head allows it: rewrites the head and wraps the body. Returns whether it did.
pub fn start(
    decision: Decision,
    (fe_rt, be_rt): (&Arc<FrontendRt>, &Arc<BackendRt>),
    resp: &mut Response<ProxyBody>,
) -> bool {
    let (fe, be) = (
        fe_rt.config.compression.as_ref(),
        be_rt.config.compression.as_ref(),
    );
    if !decision.request_ok || !allowed(resp, fe, be) {
        return false;
    }
    Counters::inc(&fe_rt.stats.comp_rsp);
    Counters::inc(&be_rt.stats.comp_rsp);
    let h = resp.headers_mut();
    h.remove(header::CONTENT_LENGTH);
    if decision.algo != CompAlgo::Identity {
        h.append(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(decision.algo.token()),
        );
    }
    if let Some(e) = h.get_mut(header::ETAG) {
        if etag(e.as_bytes()) == Etag::Strong {
            let mut weak = Vec::with_capacity(e.len() + 2);
            weak.extend_from_slice(b"W/");
            weak.extend_from_slice(e.as_bytes());
            if let Ok(v) = HeaderValue::from_bytes(&weak) {
                *e = v;
            }
        }
    }
    h.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    let tally = Tally {
        fe: fe_rt.clone(),
        be: be_rt.clone(),
        bytes_in: 0,
        bytes_out: 0,
    };
    resp.body_mut().compress(decision.algo, tally);
    true
}

/// A compressed response's byte counts, added to its frontend's and backend's `comp_in` / `comp_out` when the
/// body is done (or dropped).
pub struct Tally {
    fe: Arc<FrontendRt>,
    be: Arc<BackendRt>,
    bytes_in: u64,
    bytes_out: u64,
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

    fn comp(algos: &[CompAlgo], types: &[&str], offload: bool) -> Compression {
        Compression {
            algos: algos.to_vec(),
            types: types.iter().map(|t| t.to_string()).collect(),
            offload,
        }
    }

    fn pick(c: &Compression, ae: &[&str]) -> Option<CompAlgo> {
        let mut h = HeaderMap::new();
        for v in ae {
            h.append(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        choose(None, Some(c), &Method::GET, Version::HTTP_11, &mut h).map(|d| d.algo)
    }

    #[test]
    fn accept_encoding_weights() {
        use CompAlgo::*;
        let c = comp(&[Gzip, Deflate], &[], false);
        assert_eq!(pick(&c, &[]), None);
        assert_eq!(pick(&c, &["gzip"]), Some(Gzip));
        assert_eq!(pick(&c, &["br, GZIP"]), Some(Gzip));
        assert_eq!(pick(&c, &["invalid"]), None);
        assert_eq!(
            pick(&c, &["*;q=0, gzip;q=0.750, deflate;q=0.500"]),
            Some(Gzip)
        );
        assert_eq!(
            pick(&c, &["*;q=0, gzip;q=0.500, deflate;q=0.750"]),
            Some(Deflate)
        );
        assert_eq!(pick(&c, &["gzip;q=0"]), None);
        // The first of equal weights wins; `*` takes the algorithm written last.
        assert_eq!(pick(&c, &["deflate, gzip"]), Some(Deflate));
        assert_eq!(pick(&c, &["*"]), Some(Deflate));
        assert_eq!(
            pick(&c, &["gzip;level=1;q=0.2", "deflate ; q=0.3"]),
            Some(Deflate)
        );
        // identity is taken without the client's word.
        let c = comp(&[Identity, Gzip], &[], false);
        assert_eq!(pick(&c, &[]), Some(Identity));
        assert_eq!(pick(&c, &["gzip"]), Some(Gzip));
        assert_eq!(parse_q(b"0.5"), 500);
        assert_eq!(parse_q(b"1"), 1000);
        assert_eq!(parse_q(b"x"), 1000);
        assert_eq!(parse_q(b"0.0001"), 0);
    }

    #[test]
    fn offload_and_user_agents() {
        let c = comp(&[CompAlgo::Gzip], &[], true);
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let d = choose(Some(&c), None, &Method::HEAD, Version::HTTP_10, &mut h).unwrap();
        assert!(!d.request_ok);
        assert!(h.get(header::ACCEPT_ENCODING).is_none());
        // Not chosen: the header stays.
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("br"));
        assert!(choose(Some(&c), None, &Method::GET, Version::HTTP_11, &mut h).is_none());
        assert!(h.get(header::ACCEPT_ENCODING).is_some());
        for (ua, old) in [
            ("Mozilla/4", true),
            ("Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)", true),
            ("Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)", false),
            (
                "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)",
                false,
            ),
            ("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)", true),
            ("Mozilla/5.0 (X11; Linux x86_64)", false),
        ] {
            let mut h = HeaderMap::new();
            h.insert(header::USER_AGENT, HeaderValue::from_static(ua));
            assert_eq!(old_user_agent(&h), old, "{ua}");
        }
    }

    #[test]
    fn etags() {
        assert_eq!(etag(b"\"123\""), Etag::Strong);
        assert_eq!(etag(b"\"\""), Etag::Strong);
        assert_eq!(etag(b"\"W/789\""), Etag::Strong);
        assert_eq!(etag(b"W/\"\""), Etag::Weak);
        for bad in [
            &b"\"invalid"[..],
            b"invalid\"",
            b"invalid",
            b"W/\"x",
            b"W/x\"",
            b"W/x",
            b"\"",
        ] {
            assert_eq!(etag(bad), Etag::Invalid, "{:?}", std::str::from_utf8(bad));
        }
    }

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
