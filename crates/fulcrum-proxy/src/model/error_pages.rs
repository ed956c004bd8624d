//! The error responses the proxy generates itself, shaped like HAProxy's: a status line, `cache-control: no-cache`,
//! `content-type: text/html`, `connection: close` and a small HTML body naming the status.

use std::collections::HashMap;

use bytes::Bytes;
use fulcrum_config::haproxy::{Fmt, Reply as ConfigReply, ReturnBody};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

/// A status the proxy can answer with on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    /// 400: the request could not be parsed.
    BadRequest,
    /// 403: denied by a rule.
    Forbidden,
    /// 408: the request head did not arrive within `timeout http-request`.
    RequestTimeout,
    /// 422: the request body has a transfer coding other than `chunked`.
    UnprocessableContent,
    /// 500: an internal error.
    Internal,
    /// 502: the server's response was invalid or the server closed too early.
    BadGateway,
    /// 503: no server is available.
    ServiceUnavailable,
    /// 504: the server did not answer within `timeout server`.
    GatewayTimeout,
}

impl ProxyError {
    /// The error the proxy generates with this status, if it is one of its own.
    pub fn from_status(status: u16) -> Option<Self> {
        Some(match status {
            400 => ProxyError::BadRequest,
            403 => ProxyError::Forbidden,
            408 => ProxyError::RequestTimeout,
            422 => ProxyError::UnprocessableContent,
            500 => ProxyError::Internal,
            502 => ProxyError::BadGateway,
            503 => ProxyError::ServiceUnavailable,
            504 => ProxyError::GatewayTimeout,
            _ => return None,
        })
    }

    /// The HTTP status code.
    pub fn status(self) -> u16 {
        match self {
            ProxyError::BadRequest => 400,
            ProxyError::Forbidden => 403,
            ProxyError::RequestTimeout => 408,
            ProxyError::UnprocessableContent => 422,
            ProxyError::Internal => 500,
            ProxyError::BadGateway => 502,
            ProxyError::ServiceUnavailable => 503,
            ProxyError::GatewayTimeout => 504,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            ProxyError::BadRequest => "Bad request",
            ProxyError::Forbidden => "Forbidden",
            ProxyError::RequestTimeout => "Request Time-out",
            ProxyError::UnprocessableContent => "Unprocessable Content",
            ProxyError::Internal => "Internal Server Error",
            ProxyError::BadGateway => "Bad Gateway",
            ProxyError::ServiceUnavailable => "Service Unavailable",
            ProxyError::GatewayTimeout => "Gateway Time-out",
        }
    }

    fn explanation(self) -> &'static str {
        match self {
            ProxyError::BadRequest => "The request could not be understood.",
            ProxyError::Forbidden => "Access to this resource is forbidden.",
            ProxyError::RequestTimeout => "The request was not received in time.",
            ProxyError::UnprocessableContent => {
                "The request body uses a transfer coding the proxy does not handle."
            }
            ProxyError::Internal => "The proxy met an internal error.",
            ProxyError::BadGateway => "The server returned an invalid or incomplete response.",
            ProxyError::ServiceUnavailable => "No server is available for this request.",
            ProxyError::GatewayTimeout => "The server did not respond in time.",
        }
    }

    /// The HTML body.
    pub fn body(self) -> Bytes {
        Bytes::from(format!(
            "<html><body><h1>{} {}</h1>\n{}\n</body></html>\n",
            self.status(),
            self.reason(),
            self.explanation()
        ))
    }

    /// A complete HTTP/1.1 response, for writing straight to a socket when no HTTP layer is left to do it.
    pub fn raw_response(self) -> Vec<u8> {
        let body = self.body();
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n",
            self.status(),
            self.reason(),
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    }
}

/// The reason phrase HAProxy uses for a status it generates, or the standard one.
fn reason_for(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        410 => "Gone",
        413 => "Payload Too Large",
        425 => "Too Early",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        _ => http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error"),
    }
}

/// An answer the proxy makes up (an error page, a rule's reply, a redirect): a response whose body is all there.
pub type Page = http::Response<Bytes>;

/// An HTML page with `status`, not to be cached, as the built-in errors are.
fn html_page(status: StatusCode, body: Bytes) -> Page {
    let mut resp = http::Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html"),
    );
    resp
}

/// The built-in page of one of the proxy's own errors; the connection closes after it.
pub fn error_response(e: ProxyError) -> Page {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = html_page(status, e.body());
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

/// A generated page for any status (`deny_status`, tarpit): the same shape as the built-in errors.
pub fn page_response(status: u16) -> Page {
    let body = Bytes::from(format!(
        "<html><body><h1>{status} {}</h1>\nA rule of this proxy refused this request.\n</body></html>\n",
        reason_for(status)
    ));
    html_page(
        StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
        body,
    )
}

/// The built-in page of `http-request auth` (401, or 407 for a proxy request): credentials are needed; the
/// caller adds the `WWW-Authenticate` (or `Proxy-Authenticate`) header naming the realm.
pub fn auth_required(status: u16) -> Page {
    let body = Bytes::from(format!(
        "<html><body><h1>{status} {}</h1>\nValid credentials are needed to reach this resource.\n</body></html>\n",
        reason_for(status)
    ));
    html_page(
        StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED),
        body,
    )
}

/// The built-in page for `status`: the proxy's own errors (400, 408, 502, 503, 504) close the connection; the
/// statuses rules answer with (403, 500, `deny_status`) keep it.
pub fn builtin(status: u16) -> Page {
    match ProxyError::from_status(status) {
        Some(e) if status != 403 && status != 500 => error_response(e),
        _ => page_response(status),
    }
}

/// Marks a response that must not be sent: the connection is closed without an answer (an empty errorfile, as
/// HAProxy's `errorfile 408 /dev/null`).
#[derive(Debug, Clone, Copy)]
pub struct CloseSilently;

/// With [`CloseSilently`]: the client is not even told (`silent-drop`): the socket is closed in TCP repair mode,
/// so neither a FIN nor a RST leaves.
#[derive(Debug, Clone, Copy)]
pub struct SilentDrop;

/// A complete response read from an `errorfile`.
#[derive(Debug, Clone)]
pub struct ErrorFile {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// An errorfile that is not an HTTP response.
#[derive(Debug, thiserror::Error)]
#[error("errorfile for status {0} is not a valid HTTP response")]
pub struct BadErrorFile(pub u16);

impl ErrorFile {
    /// Parses the raw contents of a (non-empty) errorfile.
    pub fn parse(code: u16, raw: &[u8]) -> Result<Self, BadErrorFile> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(raw) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => return Err(BadErrorFile(code)),
        };
        let status = resp
            .code
            .and_then(|c| StatusCode::from_u16(c).ok())
            .ok_or(BadErrorFile(code))?;
        let mut map = HeaderMap::new();
        for h in resp.headers.iter() {
            let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| BadErrorFile(code))?;
            let value = HeaderValue::from_bytes(h.value).map_err(|_| BadErrorFile(code))?;
            map.append(name, value);
        }
        // The body is whatever follows the head; the length is recomputed from it.
        map.remove(http::header::CONTENT_LENGTH);
        map.remove(http::header::TRANSFER_ENCODING);
        Ok(ErrorFile {
            status,
            headers: map,
            body: Bytes::copy_from_slice(&raw[head_len..]),
        })
    }

    /// The response to send.
    pub fn response(&self) -> Page {
        let mut r = http::Response::new(self.body.clone());
        *r.status_mut() = self.status;
        *r.headers_mut() = self.headers.clone();
        r
    }
}

/// A reply the proxy makes up, compiled from the configuration's [`fulcrum_config::haproxy::Reply`].
#[derive(Debug, Clone)]
pub enum Reply {
    /// The proxy's error for the status (`default-errorfiles`, a plain `deny`).
    ProxyError,
    /// An errorfile, sent as it is.
    File(ErrorFile),
    /// An empty errorfile: the connection is closed without an answer.
    Close,
    /// A response built from parts: its headers (content type first) and body.
    Built {
        /// `content-type` and `hdr` lines
        headers: HeaderMap,
        /// the body
        body: Bytes,
    },
    /// A reply with log-format parts (`lf-string`, `lf-file`, `hdr NAME %[...]`), rendered per request.
    Template(Template),
}

/// A built reply whose header values or body are log-format strings.
#[derive(Debug, Clone)]
pub struct Template {
    /// `content-type`, then the `hdr` lines, in order.
    headers: Vec<(HeaderName, Fmt)>,
    body: TemplateBody,
}

#[derive(Debug, Clone)]
enum TemplateBody {
    Fixed(Bytes),
    Format(Fmt),
}

impl Template {
    /// The response for `status`, each format rendered by `render` (which appends it).
    pub fn render(&self, status: u16, render: &mut dyn FnMut(&Fmt, &mut Vec<u8>)) -> Page {
        let body = match &self.body {
            TemplateBody::Fixed(b) => b.clone(),
            TemplateBody::Format(f) => {
                let mut out = Vec::new();
                render(f, &mut out);
                Bytes::from(out)
            }
        };
        let mut r = http::Response::new(body);
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let h = r.headers_mut();
        let mut out = Vec::new();
        for (n, f) in &self.headers {
            out.clear();
            render(f, &mut out);
            // As HAProxy 2.6.12: a value that renders empty makes no header line (reg-test
            // http-rules/except-forwardfor-originalto).
            if out.is_empty() {
                continue;
            }
            if let Ok(v) = HeaderValue::from_bytes(&out) {
                h.append(n.clone(), v);
            }
        }
        r
    }
}

/// A reply that does not compile: an errorfile that is not HTTP, or a header HTTP does not allow.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// An errorfile that is not an HTTP response.
    #[error(transparent)]
    ErrorFile(#[from] BadErrorFile),
    /// A header name or value HTTP does not allow.
    #[error("invalid header name or value in '{0}'")]
    Header(String),
}

impl Reply {
    /// Compiles a configured reply for `status`.
    pub fn compile(status: u16, r: &ConfigReply) -> Result<Reply, ReplyError> {
        Ok(match r {
            ConfigReply::ProxyError | ConfigReply::Errorfiles(_) => Reply::ProxyError,
            ConfigReply::Errorfile(b) if b.is_empty() => Reply::Close,
            ConfigReply::Errorfile(b) => Reply::File(ErrorFile::parse(status, b)?),
            ConfigReply::Built {
                content_type,
                headers,
                body,
            } => {
                let dynamic = headers.iter().any(|(_, v)| v.as_literal().is_none())
                    || matches!(body, ReturnBody::Format(_));
                if dynamic {
                    let mut list = Vec::new();
                    if let Some(t) = content_type {
                        HeaderValue::from_str(t)
                            .map_err(|_| ReplyError::Header(format!("content-type: {t}")))?;
                        list.push((http::header::CONTENT_TYPE, Fmt::literal(t)));
                    }
                    for (n, v) in headers {
                        let name = HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes())
                            .map_err(|_| ReplyError::Header(format!("{n}: {v}")))?;
                        list.push((name, v.clone()));
                    }
                    let body = match body {
                        ReturnBody::Empty => TemplateBody::Fixed(Bytes::new()),
                        ReturnBody::Text(s) => TemplateBody::Fixed(Bytes::from(s.clone())),
                        ReturnBody::File(b) => TemplateBody::Fixed(Bytes::from(b.clone())),
                        ReturnBody::Format(f) => TemplateBody::Format(f.clone()),
                    };
                    return Ok(Reply::Template(Template {
                        headers: list,
                        body,
                    }));
                }
                let mut map = HeaderMap::new();
                let bad = |n: &str, v: &str| ReplyError::Header(format!("{n}: {v}"));
                if let Some(t) = content_type {
                    let v = HeaderValue::from_str(t).map_err(|_| bad("content-type", t))?;
                    map.insert(http::header::CONTENT_TYPE, v);
                }
                for (n, v) in headers {
                    let v = v.as_literal().unwrap_or_default();
                    let name = HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes())
                        .map_err(|_| bad(n, v))?;
                    let value = HeaderValue::from_bytes(&fulcrum_sample::raw_bytes(v))
                        .map_err(|_| bad(n, v))?;
                    map.append(name, value);
                }
                let body = match body {
                    ReturnBody::Empty => Bytes::new(),
                    ReturnBody::Text(s) => Bytes::from(s.clone()),
                    ReturnBody::File(b) => Bytes::from(b.clone()),
                    ReturnBody::Format(f) => Bytes::from(f.source().to_string()),
                };
                Reply::Built { headers: map, body }
            }
        })
    }
}

/// A proxy's error replies by status (`errorfile`, `errorfiles`, `http-error`).
#[derive(Debug, Default)]
pub struct ErrorPages(HashMap<u16, Reply>);

impl ErrorPages {
    /// Compiles a proxy's configured error replies.
    pub fn compile(list: &[(u16, ConfigReply)]) -> Result<Self, ReplyError> {
        let mut map = HashMap::new();
        for (code, r) in list {
            map.insert(*code, Reply::compile(*code, r)?);
        }
        Ok(ErrorPages(map))
    }

    /// Whether a reply is configured for `status`.
    pub fn has(&self, status: u16) -> bool {
        self.0.contains_key(&status)
    }
}

/// The one place that turns a made-up answer into a response: `reply` for `status`; [`Reply::ProxyError`] looks
/// the status up in `pages` (the backend's first, then the frontend's) and falls back to the built-in page.
pub fn respond(status: u16, reply: &Reply, pages: &[&ErrorPages]) -> Page {
    // Without a request at hand, only the literal parts of a template are written.
    respond_with(status, reply, pages, &mut |f, out| {
        for seg in f.format().segments() {
            if let fulcrum_sample::Segment::Literal(l) = seg {
                fulcrum_sample::extend_raw(out, l);
            }
        }
    })
}

/// As [`respond`], where a request is at hand: `render` appends a log-format string (an `http-error`, `return`
/// or `deny` reply's `lf-string`, `lf-file` or `hdr` value) evaluated against it.
pub fn respond_with(
    status: u16,
    reply: &Reply,
    pages: &[&ErrorPages],
    render: &mut dyn FnMut(&Fmt, &mut Vec<u8>),
) -> Page {
    let reply = match reply {
        Reply::ProxyError => match pages.iter().find_map(|p| p.0.get(&status)) {
            Some(r) => r,
            None => return builtin(status),
        },
        r => r,
    };
    match reply {
        Reply::ProxyError => builtin(status),
        Reply::File(f) => f.response(),
        Reply::Close => {
            let mut r = http::Response::new(Bytes::new());
            *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            r.extensions_mut().insert(CloseSilently);
            r
        }
        Reply::Built { headers, body } => {
            let mut r = http::Response::new(body.clone());
            *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            *r.headers_mut() = headers.clone();
            r
        }
        Reply::Template(t) => t.render(status, render),
    }
}

/// The proxy's error for `status`: the first of `pages` that configures it, else the built-in page.
pub fn error_for(status: u16, pages: &[&ErrorPages]) -> Page {
    respond(status, &Reply::ProxyError, pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errorfile_parses_a_raw_response() {
        let raw = b"HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\nContent-Length: 999\r\n\r\n<h1>busy</h1>\n";
        let f = ErrorFile::parse(503, raw).unwrap();
        let r = f.response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["content-type"], "text/html");
        assert!(r.headers().get("content-length").is_none());
        assert!(ErrorFile::parse(503, b"not http").is_err());
    }

    #[test]
    fn replies_fall_back_from_backend_to_frontend_to_builtin() {
        let page = |tag: &str| {
            ConfigReply::Errorfile(format!("HTTP/1.1 400 Bad\r\nx-tag: {tag}\r\n\r\n").into_bytes())
        };
        let be =
            ErrorPages::compile(&[(400, page("be")), (408, ConfigReply::Errorfile(Vec::new()))])
                .unwrap();
        let fe = ErrorPages::compile(&[(400, page("fe")), (403, page("fe"))]).unwrap();
        assert_eq!(error_for(400, &[&be, &fe]).headers()["x-tag"], "be");
        assert_eq!(error_for(403, &[&be, &fe]).headers()["x-tag"], "fe");
        assert!(error_for(408, &[&be, &fe])
            .extensions()
            .get::<CloseSilently>()
            .is_some());
        let r = error_for(503, &[&be, &fe]);
        assert_eq!(
            (r.status().as_u16(), r.headers()["content-type"].as_bytes()),
            (503, &b"text/html"[..])
        );
        let built = Reply::compile(
            200,
            &ConfigReply::Built {
                content_type: Some("text/plain".into()),
                headers: vec![("X-A".into(), "b".into())],
                body: ReturnBody::Text("hi".into()),
            },
        )
        .unwrap();
        let r = respond(200, &built, &[&be]);
        assert_eq!(r.headers()["x-a"], "b");
        assert_eq!(r.headers()["content-type"], "text/plain");
        assert!(Reply::compile(
            200,
            &ConfigReply::Built {
                content_type: None,
                headers: vec![("bad name".into(), "v".into())],
                body: ReturnBody::Empty
            }
        )
        .is_err());
    }

    #[test]
    fn raw_response_is_well_formed() {
        for e in [
            ProxyError::BadRequest,
            ProxyError::RequestTimeout,
            ProxyError::BadGateway,
            ProxyError::ServiceUnavailable,
            ProxyError::GatewayTimeout,
        ] {
            let raw = String::from_utf8(e.raw_response()).unwrap();
            let (head, body) = raw.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {} ", e.status())));
            assert!(head.contains(&format!("content-length: {}", body.len())));
            assert!(body.contains(&format!("<h1>{} ", e.status())));
        }
    }
}
