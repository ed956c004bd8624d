//! HTTP compression (`compression algo|type|offload`): which responses are compressed, as HAProxy 2.6 decides
//! it (the body adapter that then deflates the response as it streams is [`super::compress_body`]).
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

use std::sync::Arc;

use fulcrum_config::haproxy::compression::{CompAlgo, Compression};
use http::{header, HeaderMap, HeaderValue, Method, Response, Version};

use super::body::ProxyBody;
use super::compress_body::Tally;
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
    let tally = Tally::new(fe_rt.clone(), be_rt.clone());
    resp.body_mut().compress(decision.algo, tally);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
