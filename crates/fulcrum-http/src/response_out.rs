//! The response head written to a client, and how the body that follows is framed for it.

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, StatusCode, Version};

/// How a response body is framed towards the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyOut {
    /// No body is written (HEAD request, 1xx, 204, 304).
    None,
    /// The body's bytes as they are: its length is in the head, or it ends when the connection closes.
    Raw,
    /// Chunked transfer coding (added by the proxy: the body's length is not known in advance).
    Chunked,
}

/// What the head says about the body, decided by [`frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// How the body is written.
    pub body: BodyOut,
    /// A `content-length` line to add (the body's known length; the head had none).
    pub add_length: Option<u64>,
    /// The body is delimited by closing the connection (an HTTP/1.0 client, no known length).
    pub until_close: bool,
}

/// Decides how a response body is framed for a client that sent `method` as `version`: a length in the head is
/// kept; a body of known length (`known`) gets one; any other body is chunked for an HTTP/1.1 client and ends with
/// the connection for an HTTP/1.0 one. Responses that cannot have a body get none.
pub fn frame(
    status: StatusCode,
    method: &Method,
    version: Version,
    headers: &HeaderMap,
    known: Option<u64>,
) -> Framing {
    let none = Framing {
        body: BodyOut::None,
        add_length: None,
        until_close: false,
    };
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || method == Method::HEAD
    {
        return none;
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return Framing {
            body: BodyOut::Chunked,
            ..none
        };
    }
    if headers.contains_key(header::CONTENT_LENGTH) {
        return Framing {
            body: BodyOut::Raw,
            ..none
        };
    }
    match known {
        Some(n) => Framing {
            body: BodyOut::Raw,
            add_length: Some(n),
            until_close: false,
        },
        None if version == Version::HTTP_10 => Framing {
            body: BodyOut::Raw,
            add_length: None,
            until_close: true,
        },
        None => Framing {
            body: BodyOut::Chunked,
            ..none
        },
    }
}

/// The connection header a response carries beyond its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionLine {
    /// None added.
    None,
    /// `connection: close`: the connection ends after this response.
    Close,
    /// `connection: keep-alive`: an HTTP/1.0 client's connection stays open.
    KeepAlive,
}

/// Marks a server's HTTP/1.1 response whose body ends when the server closes (no length, not chunked): it goes
/// on to an HTTP/1.1 client the same way, unchunked, with `connection: close`, as HAProxy passes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloseDelimited;

/// Marks a server's HTTP/1.0 response that came chunked (faulty framing, RFC 9112 section 6.1): it goes on as
/// HTTP/1.0 and still chunked, and the client connection ends after it, as HAProxy passes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkedHttp10;

/// Header lines of a server's response whose names are not tokens (`option accept-invalid-http-response`),
/// carried beside the response's header map to be written after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verbatim(pub Vec<(Bytes, Bytes)>);

/// A server's reason phrase that is not the standard one, carried in the response's extensions to the client's
/// status line (HAProxy passes it on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(pub Bytes);

/// A response's first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusLine<'a> {
    /// HTTP/1.1 whatever the client spoke, as HAProxy answers, unless a server's response was HTTP/1.0 (which
    /// keeps its version, as through HAProxy).
    pub version: Version,
    /// The status code.
    pub status: StatusCode,
    /// The server's reason phrase, when it is not the standard one (HAProxy passes it on); `None`: the standard.
    pub reason: Option<&'a [u8]>,
}

impl StatusLine<'_> {
    /// `HTTP/1.1 STATUS` with the standard reason phrase.
    pub fn new(status: StatusCode) -> StatusLine<'static> {
        StatusLine {
            version: Version::HTTP_11,
            status,
            reason: None,
        }
    }
}

/// Appends the status line and headers to `out`, then the lines `framing` and `connection` add, and the empty
/// line. `verbatim`: header lines whose names are not tokens (`option accept-invalid-http-response`), written
/// after the others.
pub fn encode(
    out: &mut Vec<u8>,
    line: &StatusLine<'_>,
    headers: &HeaderMap,
    verbatim: &[(Bytes, Bytes)],
    framing: &Framing,
    connection: ConnectionLine,
) {
    out.extend_from_slice(if line.version == Version::HTTP_10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(line.status.as_str().as_bytes());
    out.push(b' ');
    match line.reason {
        Some(r) => out.extend_from_slice(r),
        None => out.extend_from_slice(line.status.canonical_reason().unwrap_or("").as_bytes()),
    }
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in verbatim {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(n) = framing.add_length {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(n.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if framing.body == BodyOut::Chunked && !headers.contains_key(header::TRANSFER_ENCODING) {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    match connection {
        ConnectionLine::None => {}
        ConnectionLine::Close => out.extend_from_slice(b"connection: close\r\n"),
        ConnectionLine::KeepAlive => out.extend_from_slice(b"connection: keep-alive\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the line that starts a chunk of `len` bytes.
pub fn chunk_prefix(out: &mut Vec<u8>, len: usize) {
    use std::io::Write;
    let _ = write!(out, "{len:x}\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn framing(
        status: u16,
        method: Method,
        version: Version,
        h: &HeaderMap,
        known: Option<u64>,
    ) -> Framing {
        frame(
            StatusCode::from_u16(status).unwrap(),
            &method,
            version,
            h,
            known,
        )
    }

    #[test]
    fn framing_follows_head_then_known_length_then_version() {
        let empty = HeaderMap::new();
        let mut cl = HeaderMap::new();
        cl.insert("content-length", HeaderValue::from_static("5"));
        assert_eq!(
            framing(200, Method::GET, Version::HTTP_11, &cl, None).body,
            BodyOut::Raw
        );
        let known = framing(200, Method::GET, Version::HTTP_11, &empty, Some(7));
        assert_eq!((known.body, known.add_length), (BodyOut::Raw, Some(7)));
        assert_eq!(
            framing(200, Method::GET, Version::HTTP_11, &empty, None).body,
            BodyOut::Chunked
        );
        let old = framing(200, Method::GET, Version::HTTP_10, &empty, None);
        assert!(old.until_close);
        for (status, method) in [
            (204, Method::GET),
            (304, Method::GET),
            (200, Method::HEAD),
            (101, Method::GET),
        ] {
            assert_eq!(
                framing(status, method, Version::HTTP_11, &empty, Some(3)).body,
                BodyOut::None
            );
        }
    }

    #[test]
    fn encodes_status_line_headers_and_added_lines() {
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("1"));
        let f = framing(200, Method::GET, Version::HTTP_11, &h, None);
        let mut out = Vec::new();
        encode(
            &mut out,
            &StatusLine::new(StatusCode::OK),
            &h,
            &[],
            &f,
            ConnectionLine::Close,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nx-a: 1\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        );
        // A server's HTTP/1.0 response keeps its version.
        let mut out = Vec::new();
        let f = framing(200, Method::GET, Version::HTTP_10, &h, Some(2));
        encode(
            &mut out,
            &StatusLine {
                version: Version::HTTP_10,
                status: StatusCode::OK,
                reason: Some(b"Fine"),
            },
            &h,
            &[],
            &f,
            ConnectionLine::KeepAlive,
        );
        assert_eq!(
            out,
            b"HTTP/1.0 200 Fine\r\nx-a: 1\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n"
        );
        let mut out = Vec::new();
        let f = framing(
            404,
            Method::GET,
            Version::HTTP_10,
            &HeaderMap::new(),
            Some(0),
        );
        encode(
            &mut out,
            &StatusLine::new(StatusCode::NOT_FOUND),
            &HeaderMap::new(),
            &[],
            &f,
            ConnectionLine::KeepAlive,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
        );
        let mut line = Vec::new();
        chunk_prefix(&mut line, 255);
        assert_eq!(line, b"ff\r\n");
    }
}
