//! The request head read from a client: request line, headers, and how the body that follows is delimited
//! (RFC 9112 section 6.3), with HAProxy's answers to the framings it refuses.

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap};
use http::{Method, Uri, Version};

use crate::head::{self, Refused};
use crate::headers as hdr;

/// The most header lines accepted in a request head by default: 100, as HAProxy with its `tune.http.maxhdr`
/// default of 101 (one of which its message layout takes for the start line).
pub const MAX_HEADERS: usize = 100;

/// `Connection` lines beyond the header limit that a head may still have: HAProxy does not count them (it takes
/// them apart from the other headers), so its limit leaves room for a few.
const CONNECTION_SLACK: usize = 16;

/// How the body after a request head ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// No body.
    Empty,
    /// Exactly this many bytes (more than zero).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The request target.
    pub uri: Uri,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header lines, in order (hop-by-hop ones included). A `Content-Length` beside a `Transfer-Encoding` has
    /// been removed.
    pub headers: HeaderMap,
    /// How the body ends.
    pub body: BodyLength,
    /// Whether the client lets the connection carry another request after this one (its version and `Connection`
    /// header), and the framing does not forbid it.
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before it sends its body (`Expect: 100-continue` on HTTP/1.1).
    pub expect_continue: bool,
    /// The head's size on the wire.
    pub wire_len: usize,
    /// What the `http` types could not hold as received (see [`Verbatim`]); `None` for almost every request.
    pub verbatim: Option<Box<Verbatim>>,
}

/// Why a request head is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not HTTP/1.x syntax.
    #[error("invalid request head: {0}")]
    Syntax(httparse::Error),
    /// Longer than allowed, or more header lines than allowed.
    #[error("request head too large")]
    TooLarge,
    /// A request target the URI type refuses.
    #[error("invalid request target")]
    Target,
    /// A header name or value the HTTP types refuse.
    #[error("invalid header line")]
    Header,
    /// A `Content-Length` that is not one non-negative number.
    #[error("invalid content-length")]
    ContentLength,
    /// A `Transfer-Encoding` that does not end with one `chunked`, or lists it twice.
    #[error("invalid transfer-encoding")]
    Framing,
    /// A transfer coding other than `chunked` before the final `chunked` (HAProxy answers 422).
    #[error("unsupported transfer coding")]
    Coding,
    /// `Host` lines that disagree, or a `Host` other than an absolute-form target's authority (RFC 9112
    /// section 3.2).
    #[error("conflicting Host")]
    Host,
}

impl RequestError {
    /// The status HAProxy answers it with.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::Coding => 422,
            _ => 400,
        }
    }
}

/// Parses a request head at the start of `buf`, skipping empty lines before the request line. On success the
/// head's bytes are removed from `buf` (what follows is body, or the next request) and header values share one
/// buffer with no copy. `Ok(None)`: more bytes are needed. A head (or the part received) longer than `max_head`
/// bytes is refused, and so is one with more than [`MAX_HEADERS`] header lines.
pub fn parse(buf: &mut BytesMut, max_head: usize) -> Result<Option<RequestHead>, RequestError> {
    parse_limited(buf, max_head, MAX_HEADERS)
}

/// [`parse`], with at most `max_headers` header lines (`tune.http.maxhdr`).
pub fn parse_limited(
    buf: &mut BytesMut,
    max_head: usize,
    max_headers: usize,
) -> Result<Option<RequestHead>, RequestError> {
    parse_with(buf, max_head, max_headers, false)
}

/// What a request head carries that the `http` types cannot hold as received; only a head read with
/// `accept_invalid` has header lines here, and the target is here when it had bytes the URI type refuses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verbatim {
    /// The request target as received, and the URI it was read as (those bytes percent-encoded): the target is
    /// passed on as received as long as the request's URI is still that one.
    pub target: Option<(Bytes, Uri)>,
    /// Header lines whose names are not tokens (`option accept-invalid-http-request`): the name lower-cased and the
    /// value, in order. They are passed on after the other header lines; rules and fetches do not see them.
    pub headers: Vec<(Bytes, Bytes)>,
}

/// [`parse_limited`]; `accept_invalid` is HAProxy's `option accept-invalid-http-request`: header names may hold
/// any visible byte but `:` (and bytes from 0x80), and the target may hold `#` and bytes from 0x80. Both then go
/// to the head's [`Verbatim`].
pub fn parse_with(
    buf: &mut BytesMut,
    max_head: usize,
    max_headers: usize,
    accept_invalid: bool,
) -> Result<Option<RequestHead>, RequestError> {
    let readable = lower_minor_version(buf);
    let mut spans = head::Spans::new();
    let read =
        match read_head(
            &buf[..readable],
            buf.len(),
            max_head,
            max_headers,
            &mut spans,
        ) {
            // The option lets through header names httparse refuses, and targets that are not UTF-8: it reads a copy
            // where they are tokens and ASCII.
            Err(RequestError::Syntax(
                e @ (httparse::Error::HeaderName | httparse::Error::Token),
            )) if accept_invalid => match head::lenient_copy(&buf[..readable], true) {
                Some(copy) => read_head(&copy, buf.len(), max_head, max_headers, &mut spans),
                None => Err(RequestError::Syntax(e)),
            },
            other => other,
        };
    let Some((len, method, target, minor)) = read? else {
        return Ok(None);
    };
    let head: Bytes = buf.split_to(len).freeze();
    let (uri, raw_target) =
        request_target(head.slice(target.0..target.0 + target.1), accept_invalid)?;
    let version = head::version(minor);
    let mut raw_headers = Vec::new();
    let mut headers = head::header_map(&head, &spans, accept_invalid.then_some(&mut raw_headers))
        .ok_or(RequestError::Header)?;
    let verbatim = (raw_target.is_some() || !raw_headers.is_empty()).then(|| {
        Box::new(Verbatim {
            target: raw_target.map(|raw| (raw, uri.clone())),
            headers: raw_headers,
        })
    });
    let mut keep_alive = hdr::connection_allows_reuse(&headers, version);
    let body = if headers.contains_key(header::TRANSFER_ENCODING) {
        check_codings(&headers)?;
        // With both, the length is ignored and removed, and the connection is not trusted with another request
        // (RFC 9112 section 6.3). An HTTP/1.0 message with a transfer coding is read as chunked, and the
        // connection closed after it (section 6.1).
        if headers.remove(header::CONTENT_LENGTH).is_some() || version == Version::HTTP_10 {
            keep_alive = false;
        }
        BodyLength::Chunked
    } else if headers.contains_key(header::CONTENT_LENGTH) {
        match hdr::content_length(&headers).ok_or(RequestError::ContentLength)? {
            0 => BodyLength::Empty,
            n => BodyLength::Length(n),
        }
    } else {
        BodyLength::Empty
    };
    check_host(&uri, &method, &headers)?;
    let expect_continue = version == Version::HTTP_11
        && headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    Ok(Some(RequestHead {
        method,
        uri,
        version,
        headers,
        body,
        keep_alive,
        expect_continue,
        wire_len: len,
        verbatim,
    }))
}

/// A head's length, method, target (offset and length) and minor version.
type Read = (usize, Method, (usize, usize), u8);

/// What httparse reads of a head at the start of `src`: its length, method, target (offset and length in `src`),
/// minor version; where its header lines lie goes to `spans`. `received`: the bytes received (`src`
/// may stop short of them while a version digit waits).
fn read_head(
    src: &[u8],
    received: usize,
    max_head: usize,
    max_headers: usize,
    spans: &mut head::Spans,
) -> Result<Option<Read>, RequestError> {
    let cap = max_headers + CONNECTION_SLACK;
    let mut stack = head::header_slots::<{ MAX_HEADERS + CONNECTION_SLACK }>();
    let mut heap;
    let headers: &mut [std::mem::MaybeUninit<httparse::Header<'_>>] = if cap <= stack.len() {
        &mut stack[..cap]
    } else {
        heap = vec![std::mem::MaybeUninit::uninit(); cap];
        &mut heap
    };
    let mut req = httparse::Request::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        // As HAProxy: `GET /  HTTP/1.1` is read as `GET / HTTP/1.1`.
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .parse_request_with_uninit_headers(&mut req, src, headers);
    let len = match head::complete(parsed, received, max_head) {
        Ok(Some(n)) => n,
        Ok(None) => return Ok(None),
        Err(Refused::TooLarge) => return Err(RequestError::TooLarge),
        Err(Refused::Syntax(e)) => return Err(RequestError::Syntax(e)),
    };
    let counted = req
        .headers
        .iter()
        .filter(|h| !h.name.eq_ignore_ascii_case("connection"))
        .count();
    if counted > max_headers {
        return Err(RequestError::TooLarge);
    }
    let base = src.as_ptr() as usize;
    head::record(req.headers, base, spans);
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| RequestError::Syntax(httparse::Error::Token))?;
    let path = req.path.unwrap_or("");
    let target = (path.as_ptr() as usize - base, path.len());
    Ok(Some((len, method, target, req.version.unwrap_or(1))))
}

/// Bytes HAProxy 2.6 lets through in a request target that the URI type refuses (RFC 3986 does not allow them);
/// they are percent-encoded in the URI rules and fetches see, and the target is passed on as received.
const TOLERATED_IN_TARGET: &[u8] = b"\"<>\\^`{|}";

/// The URI of a request target, and the target as received when the URI had to percent-encode some of its bytes.
/// As HAProxy: `#` (a fragment is never sent, RFC 9110 section 7.1) and bytes from 0x80 are refused unless
/// `accept_invalid`. (httparse has already refused spaces, control bytes and DEL.)
fn request_target(raw: Bytes, accept_invalid: bool) -> Result<(Uri, Option<Bytes>), RequestError> {
    // The URI type takes UTF-8 sequences as they are, and drops a fragment: neither may pass unseen.
    let invalid = raw.iter().any(|&b| b == b'#' || b >= 0x80);
    if invalid && !accept_invalid {
        return Err(RequestError::Target);
    }
    if !invalid {
        if let Ok(uri) = Uri::from_maybe_shared(raw.clone()) {
            return Ok((uri, None));
        }
    }
    let mut encoded = Vec::with_capacity(raw.len() + 16);
    for &b in raw.iter() {
        let tolerated = TOLERATED_IN_TARGET.contains(&b);
        if tolerated || b == b'#' || b >= 0x80 {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            encoded.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            encoded.push(b);
        }
    }
    let uri = Uri::from_maybe_shared(Bytes::from(encoded)).map_err(|_| RequestError::Target)?;
    Ok((uri, Some(raw)))
}

/// An HTTP/1 minor version above 1 is read as HTTP/1.1, the highest this side speaks (RFC 9110 section 2.5), as
/// HAProxy reads it: the digit is changed in place once the request line is complete. Returns how much of `buf` can
/// be read now: all of it, or, while the request line is not complete and ends with such a version, what comes
/// before the digit (the digit alone would be refused, though the line may turn out fine).
fn lower_minor_version(buf: &mut BytesMut) -> usize {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let eol = buf[start..].iter().position(|&b| b == b'\n');
    let mut end = eol.map_or(buf.len(), |eol| start + eol);
    if end > start && buf[end - 1] == b'\r' {
        end -= 1;
    }
    let line = &buf[start..end];
    if line.len() > 9
        && line[line.len() - 9] == b' '
        && line[line.len() - 8..].starts_with(b"HTTP/1.")
        && matches!(line[line.len() - 1], b'2'..=b'9')
    {
        if eol.is_none() {
            return end - 1;
        }
        buf[end - 1] = b'1';
    }
    buf.len()
}

/// `Host` lines must agree, and match an absolute-form target's authority.
fn check_host(uri: &Uri, method: &Method, headers: &HeaderMap) -> Result<(), RequestError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let Some(host) = hosts.next() else {
        return Ok(());
    };
    if hosts.any(|other| other != host) {
        return Err(RequestError::Host);
    }
    match uri.authority() {
        Some(authority)
            if *method != Method::CONNECT
                && !authority
                    .as_str()
                    .as_bytes()
                    .eq_ignore_ascii_case(host.as_bytes()) =>
        {
            Err(RequestError::Host)
        }
        _ => Ok(()),
    }
}

/// Checks a request's transfer codings as HAProxy does: they must end with one `chunked` (400 otherwise, and
/// for `chunked` listed twice or an empty value), and any other coding before it is refused with 422.
fn check_codings(headers: &HeaderMap) -> Result<(), RequestError> {
    let mut chunked = 0;
    let mut other = false;
    let mut last_chunked = false;
    for v in headers.get_all(header::TRANSFER_ENCODING) {
        if hdr::tokens(v).next().is_none() {
            return Err(RequestError::Framing);
        }
        for t in hdr::tokens(v) {
            last_chunked = t.eq_ignore_ascii_case("chunked");
            if last_chunked {
                chunked += 1;
            } else {
                other = true;
            }
        }
    }
    if chunked != 1 || !last_chunked {
        Err(RequestError::Framing)
    } else if other {
        Err(RequestError::Coding)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Option<RequestHead>, RequestError> {
        parse(&mut BytesMut::from(s), 16 * 1024)
    }

    fn head(s: &str) -> RequestHead {
        parse_str(s).unwrap().unwrap()
    }

    #[test]
    fn parses_head_and_leaves_the_rest() {
        let mut buf = BytesMut::from(
            "\r\nPOST /p?q=1  HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET",
        );
        let h = parse(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(h.method, Method::POST);
        assert_eq!(h.uri, "/p?q=1");
        assert_eq!(h.version, Version::HTTP_11);
        assert_eq!(h.headers["host"], "a");
        assert_eq!(h.body, BodyLength::Length(5));
        assert!(h.keep_alive);
        assert!(!h.expect_continue);
        assert_eq!(&buf[..], b"helloGET");
        assert!(parse_str("GET / HTTP/1.1\r\nHo").unwrap().is_none());
    }

    #[test]
    fn keep_alive_by_version_and_connection() {
        assert!(!head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(head("GET / HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n").expect_continue);
        assert!(!head("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
    }

    #[test]
    fn framing_rules() {
        assert_eq!(head("GET / HTTP/1.1\r\n\r\n").body, BodyLength::Empty);
        assert_eq!(
            head("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").body,
            BodyLength::Empty
        );
        let both =
            head("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(both.body, BodyLength::Chunked);
        assert!(!both.keep_alive);
        assert!(!both.headers.contains_key(header::CONTENT_LENGTH));
        let old =
            head("POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(old.body, BodyLength::Chunked);
        assert!(!old.keep_alive);
        let err = |te: &str| {
            parse_str(&format!(
                "POST / HTTP/1.1\r\nTransfer-Encoding: {te}\r\n\r\n"
            ))
            .unwrap_err()
        };
        assert_eq!(err("chunked, chunked"), RequestError::Framing);
        assert_eq!(err("chunked, gzip"), RequestError::Framing);
        assert_eq!(err(""), RequestError::Framing);
        assert_eq!(err("gzip, chunked"), RequestError::Coding);
        assert_eq!(err("gzip, chunked").status(), 422);
        assert_eq!(
            parse_str("POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n").unwrap_err(),
            RequestError::ContentLength
        );
    }

    #[test]
    fn host_rules_and_minor_versions() {
        assert!(parse_str("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n").is_ok());
        assert_eq!(
            parse_str("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").unwrap_err(),
            RequestError::Host
        );
        assert!(parse_str("GET http://A/p HTTP/1.1\r\nHost: a\r\n\r\n").is_ok());
        assert_eq!(
            parse_str("GET http://a/p HTTP/1.1\r\nHost: b\r\n\r\n").unwrap_err(),
            RequestError::Host
        );
        assert!(parse_str("CONNECT a:443 HTTP/1.1\r\nHost: b\r\n\r\n").is_ok());
        assert_eq!(
            head("GET / HTTP/1.2\r\nHost: a\r\n\r\n").version,
            Version::HTTP_11
        );
        assert!(parse_str("GET / HTTP/2.0\r\n\r\n").is_err());
    }

    /// Found by fuzzing (fuzz/fuzz_targets/http_request_head.rs): a read that ends right after a minor version above
    /// 1 got the request refused as an invalid version, though the whole request line is read as HTTP/1.1.
    #[test]
    fn minor_version_cut_before_the_line_end_waits() {
        for cut in ["GET / HTTP/1.2", "GET / HTTP/1.2\r"] {
            let mut buf = BytesMut::from(cut);
            assert!(parse(&mut buf, 1024).unwrap().is_none(), "{cut:?}");
            buf.extend_from_slice(&b"GET / HTTP/1.2\r\nConnection: close\r\n\r\n"[cut.len()..]);
            let h = parse(&mut buf, 1024).unwrap().unwrap();
            assert_eq!(h.version, Version::HTTP_11);
            assert!(buf.is_empty());
        }
        // Waiting still stops at the size limit, and at a syntax error before the version.
        let mut long = BytesMut::from(format!("GET /{} HTTP/1.2", "a".repeat(64)).as_str());
        assert_eq!(parse(&mut long, 32).unwrap_err(), RequestError::TooLarge);
        let mut bad = BytesMut::from("GET\x07 / HTTP/1.2");
        assert!(matches!(
            parse(&mut bad, 1024),
            Err(RequestError::Syntax(_))
        ));
        // The digit is not changed in a line that is not complete: it may be the target (`GET HTTP/1.2 ...`).
        let mut target = BytesMut::from("GET HTTP/1.2");
        assert!(parse(&mut target, 1024).unwrap().is_none());
        assert_eq!(&target[..], b"GET HTTP/1.2");
    }

    #[test]
    fn refuses_invalid_and_oversized_heads() {
        assert!(matches!(
            parse_str("GET / HTTP/2.0\r\n\r\n"),
            Err(RequestError::Syntax(_))
        ));
        assert!(matches!(
            parse_str("junk\r\n\r\n"),
            Err(RequestError::Syntax(_))
        ));
        let mut big = BytesMut::from(&b"GET / HTTP/1.1\r\nX: "[..]);
        big.extend_from_slice(&[b'a'; 200]);
        assert_eq!(parse(&mut big, 100).unwrap_err(), RequestError::TooLarge);
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect();
        assert_eq!(
            parse_str(&format!("GET / HTTP/1.1\r\n{many}\r\n")).unwrap_err(),
            RequestError::TooLarge
        );
    }

    #[test]
    fn header_count_limit_is_tunable() {
        let head = |n: usize| -> String {
            let lines: String = (0..n).map(|i| format!("X-{i}: v\r\n")).collect();
            format!("GET / HTTP/1.1\r\n{lines}\r\n")
        };
        let parse_n = |n: usize, max: usize| {
            parse_limited(&mut BytesMut::from(head(n).as_str()), 1 << 20, max)
        };
        assert!(parse_n(5, 5).unwrap().is_some());
        assert_eq!(parse_n(6, 5).unwrap_err(), RequestError::TooLarge);
        assert!(parse_n(300, 300).unwrap().is_some());
        assert_eq!(parse_n(301, 300).unwrap_err(), RequestError::TooLarge);
        // As HAProxy, `Connection` lines are not counted.
        let lines: String = (0..5).map(|i| format!("X-{i}: v\r\n")).collect();
        let with_connection = format!("GET / HTTP/1.1\r\n{lines}Connection: close\r\n\r\n");
        let h = parse_limited(&mut BytesMut::from(with_connection.as_str()), 1 << 20, 5)
            .unwrap()
            .unwrap();
        assert_eq!(h.headers.len(), 6);
        assert!(!h.keep_alive);
        let over = format!("GET / HTTP/1.1\r\n{lines}X-5: v\r\nConnection: close\r\n\r\n");
        assert_eq!(
            parse_limited(&mut BytesMut::from(over.as_str()), 1 << 20, 5).unwrap_err(),
            RequestError::TooLarge
        );
    }

    proptest::proptest! {
        /// Any bytes: an error or a head, never a panic; a head consumes what it reports.
        #[test]
        fn never_panics(input in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut buf = BytesMut::from(&input[..]);
            if let Ok(Some(h)) = parse(&mut buf, 4096) {
                proptest::prop_assert_eq!(buf.len() + h.wire_len, input.len());
            }
        }
    }
}

#[cfg(test)]
mod accept_invalid_tests {
    use super::*;

    fn lenient(s: &[u8], accept: bool) -> Result<Option<RequestHead>, RequestError> {
        parse_with(&mut BytesMut::from(s), 16 * 1024, MAX_HEADERS, accept)
    }

    #[test]
    fn odd_header_names_only_with_the_option() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX@A: b\r\nX-B: c\r\nY\xe9{}: d\r\n\r\n";
        assert!(matches!(lenient(raw, false), Err(RequestError::Syntax(_))));
        let h = lenient(raw, true).unwrap().unwrap();
        assert_eq!(h.headers.len(), 2);
        let v = h.verbatim.unwrap();
        assert_eq!(
            v.headers,
            vec![
                (Bytes::from_static(b"x@a"), Bytes::from_static(b"b")),
                (Bytes::from_static(b"y\xe9{}"), Bytes::from_static(b"d")),
            ]
        );
        assert!(v.target.is_none());
        // Whitespace and control bytes stay refused, and so does an empty name.
        for bad in [
            &b"X A"[..],
            b"X-A ",
            b"X-A\t",
            b"X\0A",
            b"X\x01A",
            b"X\x7fA",
            b"",
        ] {
            let raw = [&b"GET / HTTP/1.1\r\nHost: a\r\n"[..], bad, b": b\r\n\r\n"].concat();
            assert!(lenient(&raw, true).is_err(), "{bad:?}");
        }
        // A head cut before its end waits, whether the odd name is complete or not.
        assert!(lenient(b"GET / HTTP/1.1\r\nX@", true).unwrap().is_none());
        assert!(lenient(b"GET / HTTP/1.1\r\nX@A: b\r\n", true)
            .unwrap()
            .is_none());
    }

    #[test]
    fn targets() {
        // Tolerated by HAProxy without the option: passed on as received, percent-encoded in the URI.
        let h = lenient(b"GET /a<b>?q=\"x\" HTTP/1.1\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(h.uri, "/a%3Cb%3E?q=%22x%22");
        let (raw, read_as) = h.verbatim.unwrap().target.unwrap();
        assert_eq!(&raw[..], b"/a<b>?q=\"x\"");
        assert_eq!(read_as, h.uri);
        // A fragment and bytes from 0x80 need the option (the URI type dropped one and took the other).
        for t in [
            &b"/a#b"[..],
            b"/caf\xc3\xa9",
            b"/a\xe9b",
            b"/?q=\xff",
            b"/a\x80",
        ] {
            let raw = [&b"GET "[..], t, b" HTTP/1.1\r\n\r\n"].concat();
            assert!(lenient(&raw, false).is_err(), "{t:?}");
            let h = lenient(&raw, true).unwrap().unwrap();
            assert_eq!(&h.verbatim.unwrap().target.unwrap().0[..], t);
        }
        // Control bytes and DEL never.
        for t in [&b"/a\x01b"[..], b"/a\x7fb", b"/a\x00b"] {
            let raw = [&b"GET "[..], t, b" HTTP/1.1\r\n\r\n"].concat();
            assert!(lenient(&raw, true).is_err(), "{t:?}");
        }
        // Nor a method with such bytes.
        assert!(lenient(b"G\xe9T / HTTP/1.1\r\n\r\n", true).is_err());
        // A plain request carries nothing verbatim.
        assert!(lenient(b"GET /a?b=c HTTP/1.1\r\n\r\n", true)
            .unwrap()
            .unwrap()
            .verbatim
            .is_none());
    }

    #[test]
    fn written_back_as_received() {
        let h = lenient(b"GET /a\xe9#f HTTP/1.1\r\nHost: a\r\nX@A: b\r\n\r\n", true)
            .unwrap()
            .unwrap();
        let v = h.verbatim.as_deref();
        let mut out = Vec::new();
        crate::request_out::encode(
            &mut out,
            &h.method,
            &h.uri,
            h.version,
            &h.headers,
            crate::request_out::BodyFraming::None,
            v,
        );
        assert_eq!(out, b"GET /a\xe9#f HTTP/1.1\r\nhost: a\r\nx@a: b\r\n\r\n");
        // A rewritten URI goes as rewritten.
        let mut out = Vec::new();
        crate::request_out::encode(
            &mut out,
            &h.method,
            &"/new".parse().unwrap(),
            h.version,
            &h.headers,
            crate::request_out::BodyFraming::None,
            v,
        );
        assert!(out.starts_with(b"GET /new HTTP/1.1\r\n"));
    }

    proptest::proptest! {
        /// With the option too: any bytes give an error or a head, never a panic.
        #[test]
        fn never_panics_with_the_option(input in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut buf = BytesMut::from(&input[..]);
            if let Ok(Some(h)) = parse_with(&mut buf, 4096, MAX_HEADERS, true) {
                proptest::prop_assert_eq!(buf.len() + h.wire_len, input.len());
            }
        }
    }
}
