//! The request head written to a server: request line and header lines, in the client's HTTP version (as HAProxy
//! forwards it), and the framing of the request body that follows it.

use http::{HeaderMap, Method, Uri, Version};

use crate::request_in::Verbatim;

/// How a request body is framed towards the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// `Content-Length` bytes, passed on as they come.
    Length,
    /// Re-chunked: the client's body had no length (its own chunking was undone on the way in).
    Chunked,
}

/// How the body of a request is framed, from its headers and whether the client sent a body at all.
pub fn body_framing(headers: &HeaderMap, has_body: bool) -> BodyFraming {
    if headers.contains_key(http::header::CONTENT_LENGTH) {
        BodyFraming::Length
    } else if has_body {
        BodyFraming::Chunked
    } else {
        BodyFraming::None
    }
}

/// Appends the request line and headers to `out`, ending with the empty line. Chunked framing adds
/// `transfer-encoding: chunked` (the client's own was removed as hop-by-hop). An HTTP/1.0 request goes as HTTP/1.0,
/// unless its body is chunked, which only HTTP/1.1 can carry. `verbatim`: what the client's head carried that the
/// `http` types could not hold (its target as received, while `uri` is still the one it was read as, and header
/// lines with names that are not tokens, written after the others).
pub fn encode(
    out: &mut Vec<u8>,
    method: &Method,
    uri: &Uri,
    version: Version,
    headers: &HeaderMap,
    framing: BodyFraming,
    verbatim: Option<&Verbatim>,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    let raw_target = verbatim
        .and_then(|v| v.target.as_ref())
        .filter(|(_, read_as)| read_as == uri);
    // Origin form as received; an absolute-form request (sent to a proxy) is passed on in the same form.
    match (uri.scheme(), uri.path_and_query()) {
        _ if raw_target.is_some() => {
            out.extend_from_slice(raw_target.map_or(&[][..], |(raw, _)| &raw[..]));
        }
        (None, Some(pq)) => out.extend_from_slice(pq.as_str().as_bytes()),
        (None, None) => match uri.authority() {
            // CONNECT host:port.
            Some(a) => out.extend_from_slice(a.as_str().as_bytes()),
            None => out.push(b'/'),
        },
        (Some(_), _) => out.extend_from_slice(uri.to_string().as_bytes()),
    }
    if version == Version::HTTP_10 && framing != BodyFraming::Chunked {
        out.extend_from_slice(b" HTTP/1.0\r\n");
    } else {
        out.extend_from_slice(b" HTTP/1.1\r\n");
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in verbatim.map_or(&[][..], |v| &v.headers[..]) {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if framing == BodyFraming::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The line that starts a chunk of `len` bytes.
pub fn chunk_prefix(len: usize) -> Vec<u8> {
    format!("{len:x}\r\n").into_bytes()
}

/// The end of a chunked body: the last chunk and an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn encodes_request_line_and_headers() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("example.test"));
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        let mut out = Vec::new();
        let uri: Uri = "/p?q=1".parse().unwrap();
        encode(
            &mut out,
            &Method::GET,
            &uri,
            Version::HTTP_11,
            &h,
            BodyFraming::None,
            None,
        );
        assert_eq!(
            out,
            b"GET /p?q=1 HTTP/1.1\r\nhost: example.test\r\nx-a: 1\r\nx-a: 2\r\n\r\n"
        );
    }

    #[test]
    fn absolute_form_and_chunked_framing() {
        let mut out = Vec::new();
        let uri: Uri = "http://a.test/x".parse().unwrap();
        encode(
            &mut out,
            &Method::POST,
            &uri,
            Version::HTTP_10,
            &HeaderMap::new(),
            BodyFraming::Chunked,
            None,
        );
        assert_eq!(
            out,
            b"POST http://a.test/x HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        out.clear();
        encode(
            &mut out,
            &Method::GET,
            &"/".parse().unwrap(),
            Version::HTTP_10,
            &HeaderMap::new(),
            BodyFraming::None,
            None,
        );
        assert_eq!(out, b"GET / HTTP/1.0\r\n\r\n");
    }

    #[test]
    fn framing_follows_content_length_then_body_presence() {
        let mut h = HeaderMap::new();
        assert_eq!(body_framing(&h, false), BodyFraming::None);
        assert_eq!(body_framing(&h, true), BodyFraming::Chunked);
        h.insert("content-length", HeaderValue::from_static("0"));
        assert_eq!(body_framing(&h, false), BodyFraming::Length);
        assert_eq!(chunk_prefix(255), b"ff\r\n");
    }
}
