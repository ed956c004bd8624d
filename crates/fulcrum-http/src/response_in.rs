//! The response head read from a server: status line, headers, and how the body that follows is delimited
//! (RFC 9112 section 6.3).

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap};

use crate::head::{self, Refused};
use crate::headers as hdr;
use http::{StatusCode, Version};

/// The largest response head accepted, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header lines accepted in a response head: 100, as HAProxy with its default `tune.http.maxhdr`.
pub const MAX_HEADERS: usize = 100;

/// How the body after a response head ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// There is no body (HEAD request, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub struct ResponseHead {
    /// The status code.
    pub status: StatusCode,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header lines, in order (hop-by-hop ones included).
    pub headers: HeaderMap,
    /// How the body ends.
    pub framing: Framing,
    /// Whether the connection can carry another request once the body has been read.
    pub keep_alive: bool,
    /// Header lines whose names are not tokens, read under `option accept-invalid-http-response`: the name
    /// lower-cased and the value, in order. They are passed on after the other header lines; rules and fetches do
    /// not see them. Empty otherwise.
    pub verbatim_headers: Vec<(Bytes, Bytes)>,
    /// The reason phrase when it is not the standard one for the status (HAProxy passes the server's on).
    pub reason: Option<Bytes>,
}

/// Why a response head is invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP/1.x syntax.
    #[error("invalid response head: {0}")]
    Syntax(httparse::Error),
    /// Larger than [`MAX_HEAD`].
    #[error("response head larger than {MAX_HEAD} bytes")]
    TooLarge,
    /// A status code outside 100-999.
    #[error("invalid status code")]
    Status,
    /// A header name or value the HTTP types refuse.
    #[error("invalid header line")]
    Header,
    /// A `Content-Length` that is not one non-negative number.
    #[error("invalid content-length")]
    ContentLength,
    /// A `Transfer-Encoding` other than one `chunked` (HAProxy refuses any other coding, and `chunked` twice).
    #[error("invalid transfer-encoding")]
    TransferEncoding,
}

/// Parses a response head at the start of `buf`. On success the head's bytes are removed from `buf` (what follows
/// is body) and header values share one buffer with no copy. `Ok(None)`: more bytes are needed.
/// `head_request`: the request was a HEAD, so the response has no body whatever its headers say.
pub fn parse(buf: &mut BytesMut, head_request: bool) -> Result<Option<ResponseHead>, HeadError> {
    parse_with(buf, head_request, false)
}

/// [`parse`]; `accept_invalid` is HAProxy's `option accept-invalid-http-response`: header names may hold any
/// visible byte but `:`, and bytes from 0x80; such lines go to [`ResponseHead::verbatim_headers`].
pub fn parse_with(
    buf: &mut BytesMut,
    head_request: bool,
    accept_invalid: bool,
) -> Result<Option<ResponseHead>, HeadError> {
    // Offsets of each name and value inside `buf` (`spans`), recorded so the head can be split off and shared.
    let mut spans = head::Spans::new();
    let read = match read_head(buf, &mut spans) {
        // The option lets through header names httparse refuses: it reads a copy where they are tokens.
        Err(HeadError::Syntax(httparse::Error::HeaderName)) if accept_invalid => {
            match head::lenient_copy(buf, false) {
                Some(copy) => read_head(&copy, &mut spans),
                None => Err(HeadError::Syntax(httparse::Error::HeaderName)),
            }
        }
        other => other,
    };
    let Some((len, code, minor, reason_at)) = read? else {
        return Ok(None);
    };
    let head: Bytes = buf.split_to(len).freeze();
    let status = StatusCode::from_u16(code).map_err(|_| HeadError::Status)?;
    let reason = reason_at
        .and_then(|(at, n)| (at + n <= head.len()).then(|| head.slice(at..at + n)))
        .filter(|r| !r.is_empty() && Some(&r[..]) != status.canonical_reason().map(str::as_bytes));
    let version = head::version(minor);
    let mut verbatim_headers = Vec::new();
    let mut headers = head::header_map(
        &head,
        &spans,
        accept_invalid.then_some(&mut verbatim_headers),
    )
    .ok_or(HeadError::Header)?;
    let mut keep_alive = hdr::connection_allows_reuse(&headers, version);
    let framing = if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::Empty
    } else if headers.contains_key(header::TRANSFER_ENCODING) {
        // With both, the length is ignored (and removed, so that it is not passed on with a body of another
        // length) and the connection is not trusted with another request (RFC 9112 section 6.3).
        if headers.remove(header::CONTENT_LENGTH).is_some() {
            keep_alive = false;
        }
        if !hdr::only_one_chunked(&headers) {
            return Err(HeadError::TransferEncoding);
        }
        Framing::Chunked
    } else if headers.contains_key(header::CONTENT_LENGTH) {
        Framing::Length(hdr::content_length(&headers).ok_or(HeadError::ContentLength)?)
    } else {
        Framing::UntilClose
    };
    if framing == Framing::UntilClose {
        keep_alive = false;
    }
    Ok(Some(ResponseHead {
        status,
        version,
        headers,
        framing,
        keep_alive,
        verbatim_headers,
        reason,
    }))
}

/// What httparse reads of a response head at the start of `src`: its length, status code, minor version and
/// number of header lines, whose places (offsets in `src`) go to `spans`.
/// The reason phrase's place, its offset in `src` and its length.
type ReasonAt = Option<(usize, usize)>;

#[allow(clippy::type_complexity)]
fn read_head(
    src: &[u8],
    spans: &mut head::Spans,
) -> Result<Option<(usize, u16, u8, ReasonAt)>, HeadError> {
    let mut headers = head::header_slots::<MAX_HEADERS>();
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        src,
        &mut headers,
    );
    let len = match head::complete(parsed, src.len(), MAX_HEAD) {
        Ok(Some(n)) => n,
        Ok(None) => return Ok(None),
        Err(Refused::TooLarge) => return Err(HeadError::TooLarge),
        Err(Refused::Syntax(e)) => return Err(HeadError::Syntax(e)),
    };
    head::record(resp.headers, src.as_ptr() as usize, spans);
    // Where the reason phrase lies in `src` (httparse may hand an empty one from elsewhere: none then).
    let reason_at = resp.reason.filter(|r| !r.is_empty()).and_then(|r| {
        let at = (r.as_ptr() as usize).checked_sub(src.as_ptr() as usize)?;
        (at + r.len() <= src.len()).then_some((at, r.len()))
    });
    Ok(Some((
        len,
        resp.code.unwrap_or(0),
        resp.version.unwrap_or(1),
        reason_at,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str, head: bool) -> Result<Option<ResponseHead>, HeadError> {
        parse(&mut BytesMut::from(s), head)
    }

    #[test]
    fn a_reason_phrase_other_than_the_standard_one_is_kept() {
        let h = parse_str("HTTP/1.1 200 All good\r\nContent-Length: 0\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(h.reason.as_deref(), Some(&b"All good"[..]));
        for standard in [
            "HTTP/1.1 200 OK\r\n\r\n",
            "HTTP/1.1 200 \r\n\r\n",
            "HTTP/1.1 204\r\n\r\n",
        ] {
            assert_eq!(
                parse_str(standard, false).unwrap().unwrap().reason,
                None,
                "{standard:?}"
            );
        }
    }

    #[test]
    fn parses_head_and_leaves_the_body() {
        let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello");
        let h = parse(&mut buf, false).unwrap().unwrap();
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.version, Version::HTTP_11);
        assert_eq!(h.framing, Framing::Length(5));
        assert!(h.keep_alive);
        assert_eq!(h.headers["x-a"], "b");
        assert_eq!(&buf[..], b"hello");
    }

    #[test]
    fn partial_heads_wait_for_more() {
        assert!(parse_str("HTTP/1.1 200 OK\r\nContent-Le", false)
            .unwrap()
            .is_none());
        assert!(parse_str("", false).unwrap().is_none());
    }

    #[test]
    fn framing_rules() {
        let f = |s: &str, head| parse_str(s, head).unwrap().unwrap();
        assert_eq!(
            f("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true).framing,
            Framing::Empty
        );
        assert_eq!(f("HTTP/1.1 204 No\r\n\r\n", false).framing, Framing::Empty);
        assert_eq!(f("HTTP/1.1 304 No\r\n\r\n", false).framing, Framing::Empty);
        assert_eq!(
            f("HTTP/1.1 100 Continue\r\n\r\n", false).framing,
            Framing::Empty
        );
        let chunked = f(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n",
            false,
        );
        assert_eq!(chunked.framing, Framing::Chunked);
        assert!(chunked.keep_alive);
        let both = f(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            false,
        );
        assert_eq!(both.framing, Framing::Chunked);
        assert!(!both.keep_alive);
        assert!(!both.headers.contains_key(header::CONTENT_LENGTH));
        let close = f("HTTP/1.1 200 OK\r\n\r\n", false);
        assert_eq!(close.framing, Framing::UntilClose);
        assert!(!close.keep_alive);
        // As HAProxy: any coding but one `chunked` makes the response invalid (502).
        for te in [
            "gzip",
            "gzip, chunked",
            "chunked, chunked",
            "chunked, gzip",
            "",
        ] {
            let r = parse_str(
                &format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n"),
                false,
            );
            assert!(matches!(r, Err(HeadError::TransferEncoding)), "{te}");
        }
        assert_eq!(
            f("HTTP/1.1 200 OK\r\nContent-Length: 4, 4\r\n\r\n", false).framing,
            Framing::Length(4)
        );
    }

    #[test]
    fn connection_reuse_by_version() {
        let f = |s: &str| parse_str(s, false).unwrap().unwrap().keep_alive;
        assert!(!f(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!f("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(f(
            "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"
        ));
    }

    #[test]
    fn invalid_heads_are_errors() {
        assert!(matches!(
            parse_str("junk\r\n\r\n", false),
            Err(HeadError::Syntax(_))
        ));
        for cl in ["-1", "1, 2", "x", "", "99999999999999999999"] {
            assert_eq!(
                parse_str(
                    &format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\n"),
                    false
                )
                .unwrap_err(),
                HeadError::ContentLength,
                "{cl}"
            );
        }
        let big = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(MAX_HEAD + 1));
        assert_eq!(parse_str(&big, false).unwrap_err(), HeadError::TooLarge);
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect();
        assert_eq!(
            parse_str(&format!("HTTP/1.1 200 OK\r\n{many}\r\n"), false).unwrap_err(),
            HeadError::TooLarge
        );
    }
}

#[cfg(test)]
mod accept_invalid_tests {
    use super::*;

    #[test]
    fn odd_header_names_only_with_the_option() {
        let raw = "HTTP/1.1 200 OK\r\nX@A: b\r\nContent-Length: 2\r\n\r\nok";
        assert!(matches!(
            parse(&mut BytesMut::from(raw), false),
            Err(HeadError::Syntax(_))
        ));
        let h = parse_with(&mut BytesMut::from(raw), false, true)
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Length(2));
        assert_eq!(
            h.verbatim_headers,
            vec![(Bytes::from_static(b"x@a"), Bytes::from_static(b"b"))]
        );
        for bad in ["X A", "Content-Length ", "X\0A", ""] {
            let raw = format!("HTTP/1.1 200 OK\r\n{bad}: 2\r\n\r\nok");
            assert!(
                parse_with(&mut BytesMut::from(raw.as_str()), false, true).is_err(),
                "{bad:?}"
            );
        }
    }
}
