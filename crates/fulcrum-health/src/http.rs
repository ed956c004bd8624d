//! The HTTP probe (`option httpchk`): a hand-written HTTP/1.x request, a bounded read of the
//! response, and a verdict per `http-check expect`.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

use fulcrum_sample::LogFormat;

use crate::check_ctx::CheckContext;
use crate::error::SpecError;
use crate::outcome::{CheckOutcome, CheckStatus};
use crate::response::{evaluate, Expect, MAX_RESPONSE};
use crate::tcp::{connect, error_text};

/// A validated HTTP check: the request bytes, rendered once, and the expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    request: Vec<u8>,
    /// Where a header added per check goes: after the configured headers (`http-check send-state`).
    extra_at: usize,
    expect: Expect,
    /// Sent as an HTTP/2 stream (`proto h2` / `check-proto h2`) instead of HTTP/1.
    h2: bool,
}

/// A request target that cannot break the request line: not empty, no spaces or control characters.
pub(crate) fn is_valid_uri(uri: &str) -> bool {
    !uri.is_empty() && !uri.bytes().any(|c| c <= b' ' || c == 0x7f)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// The method is a token and the version one fulcrum sends.
fn check_request_line(method: &str, version: &str) -> Result<(), SpecError> {
    if !is_token(method) {
        return Err(SpecError::Method(method.to_owned()));
    }
    if version != "HTTP/1.0" && version != "HTTP/1.1" {
        return Err(SpecError::Version(version.to_owned()));
    }
    Ok(())
}

/// A header name is a token, and a value given as written holds no line break.
fn check_header(name: &str, value: Option<&str>) -> Result<(), SpecError> {
    if !is_token(name) {
        return Err(SpecError::HeaderName(name.to_owned()));
    }
    if let Some(value) = value.filter(|v| v.bytes().any(|c| (c < b' ' && c != b'\t') || c == 0x7f))
    {
        return Err(SpecError::HeaderValue(value.to_owned()));
    }
    Ok(())
}

/// Writes `METHOD URI VERSION`, the `headers` then the `extra` ones in order, `Connection: close` unless a
/// `Connection` header is given, `Content-Length` when there is a `body` (unless given), and the body, as
/// HAProxy writes a check's request; also where the headers added per check go (after the configured ones).
fn render_request(
    method: &str,
    uri: &[u8],
    version: &str,
    headers: &[(&str, &[u8])],
    extra: &[(String, String)],
    body: Option<&[u8]>,
) -> (Vec<u8>, usize) {
    let has = |n: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
    let mut request = Vec::with_capacity(128);
    request.extend_from_slice(method.as_bytes());
    request.push(b' ');
    request.extend_from_slice(uri);
    request.push(b' ');
    request.extend_from_slice(version.as_bytes());
    request.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        header_line(&mut request, name, value);
    }
    let extra_at = request.len();
    for (name, value) in extra {
        header_line(&mut request, name, value.as_bytes());
    }
    if !has("connection") {
        request.extend_from_slice(b"Connection: close\r\n");
    }
    if let Some(b) = body.filter(|_| !has("content-length")) {
        request.extend_from_slice(format!("Content-Length: {}\r\n", b.len()).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body.unwrap_or_default());
    (request, extra_at)
}

/// `name: value\r\n`, the control characters of `value` other than tab dropped so that it cannot break the head.
fn header_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend(
        value
            .iter()
            .filter(|&&c| c == b'\t' || (c >= b' ' && c != 0x7f)),
    );
    out.extend_from_slice(b"\r\n");
}

/// A part of an `http-check send` request: as written, or a log-format string (`uri-lf`, `body-lf`, `hdr`
/// values) rendered each time the rule runs.
#[derive(Debug, Clone)]
pub enum Text {
    /// As written.
    Plain(String),
    /// A log-format string.
    Format(Arc<LogFormat>),
}

impl Text {
    /// The text, rendered in `ctx`.
    fn render<'a>(&'a self, ctx: &CheckContext) -> Cow<'a, [u8]> {
        match self {
            Text::Plain(s) => Cow::Borrowed(s.as_bytes()),
            Text::Format(f) => Cow::Owned(ctx.render(f)),
        }
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Text::Plain(a), Text::Plain(b)) => a == b,
            (Text::Format(a), Text::Format(b)) => a.source() == b.source(),
            _ => false,
        }
    }
}
impl Eq for Text {}

/// One `http-check send` rule of a scripted HTTP check: its request, rendered when the rule runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSend {
    method: String,
    uri: Text,
    version: String,
    headers: Vec<(String, Text)>,
    body: Option<Text>,
}

impl HttpSend {
    /// The request `http-check send meth M uri[-lf] U ver V hdr N V... body[-lf] B` describes; what is written as
    /// is checked as [`HttpCheck::new`] checks it.
    pub fn new(
        method: &str,
        uri: Text,
        version: &str,
        headers: Vec<(String, Text)>,
        body: Option<Text>,
    ) -> Result<Self, SpecError> {
        check_request_line(method, version)?;
        if let Text::Plain(u) = &uri {
            if !is_valid_uri(u) {
                return Err(SpecError::Uri(u.clone()));
            }
        }
        for (name, value) in &headers {
            let plain = match value {
                Text::Plain(v) => Some(v.as_str()),
                Text::Format(_) => None,
            };
            check_header(name, plain)?;
        }
        Ok(HttpSend {
            method: method.to_owned(),
            uri,
            version: version.to_owned(),
            headers,
            body,
        })
    }

    /// The request bytes in `ctx`, `extra` headers (`http-check send-state`'s) after the configured ones. A URI
    /// that renders empty is `/`; bytes a request target cannot hold are percent-encoded, as HAProxy's encoding
    /// of samples does for log-format strings.
    pub fn render(&self, ctx: &CheckContext, extra: &[(String, String)]) -> Vec<u8> {
        let uri = self.uri.render(ctx);
        let mut target = Vec::with_capacity(uri.len().max(1));
        for &c in uri.iter() {
            if c <= b' ' || c == 0x7f {
                target.extend_from_slice(format!("%{c:02X}").as_bytes());
            } else {
                target.push(c);
            }
        }
        if target.is_empty() {
            target.push(b'/');
        }
        let values: Vec<Cow<'_, [u8]>> = self.headers.iter().map(|(_, v)| v.render(ctx)).collect();
        let lines: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .zip(&values)
            .map(|((n, _), v)| (n.as_str(), v.as_ref()))
            .collect();
        let body = self.body.as_ref().map(|b| b.render(ctx));
        render_request(
            &self.method,
            &target,
            &self.version,
            &lines,
            extra,
            body.as_deref(),
        )
        .0
    }
}

impl HttpCheck {
    /// Builds `METHOD URI VERSION`, then `headers` in order, `Connection: close` unless a `Connection` header
    /// is given, `Content-Length` when there is a `body` (unless given), and the body: the request
    /// `http-check send` describes, as HAProxy writes it.
    ///
    /// `version` is `HTTP/1.0` or `HTTP/1.1`; nothing may smuggle a line break into the request head.
    pub fn new(
        method: &str,
        uri: &str,
        version: &str,
        headers: &[(String, String)],
        body: Option<&str>,
        expect: Expect,
    ) -> Result<Self, SpecError> {
        check_request_line(method, version)?;
        if !is_valid_uri(uri) {
            return Err(SpecError::Uri(uri.to_owned()));
        }
        for (name, value) in headers {
            check_header(name, Some(value))?;
        }
        let lines: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        let (request, extra_at) = render_request(
            method,
            uri.as_bytes(),
            version,
            &lines,
            &[],
            body.map(str::as_bytes),
        );
        Ok(HttpCheck {
            request,
            extra_at,
            expect,
            h2: false,
        })
    }

    /// HAProxy's default `option httpchk`: `OPTIONS / HTTP/1.0`, any 2xx or 3xx passes.
    pub fn options_default() -> Self {
        HttpCheck {
            request: b"OPTIONS / HTTP/1.0\r\nConnection: close\r\n\r\n".to_vec(),
            extra_at: "OPTIONS / HTTP/1.0\r\n".len(),
            expect: Expect::Default,
            h2: false,
        }
    }

    /// This check with the header `name: value` after the configured ones (before `Connection` and
    /// `Content-Length`, where HAProxy puts `http-check send-state`'s). Control characters in `value` are
    /// dropped so that it cannot break the request.
    pub fn with_header(&self, name: &str, value: &str) -> HttpCheck {
        let mut line = Vec::new();
        header_line(&mut line, name, value.as_bytes());
        let mut request = Vec::with_capacity(self.request.len() + line.len());
        request.extend_from_slice(&self.request[..self.extra_at]);
        request.extend_from_slice(&line);
        request.extend_from_slice(&self.request[self.extra_at..]);
        HttpCheck {
            request,
            extra_at: self.extra_at + line.len(),
            expect: self.expect.clone(),
            h2: self.h2,
        }
    }

    /// This check sent as an HTTP/2 stream (prior knowledge, or ALPN `h2` on TLS) when `h2`.
    pub fn over_h2(mut self, h2: bool) -> HttpCheck {
        self.h2 = h2;
        self
    }

    /// Whether the check is sent as an HTTP/2 stream.
    pub fn is_h2(&self) -> bool {
        self.h2
    }

    /// The request bytes sent to the server.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// What the response must show.
    pub fn expect(&self) -> &Expect {
        &self.expect
    }
}

/// Sends `check`'s request to `addr` and judges the response, all within `timeout`.
///
/// At most [`MAX_RESPONSE`] bytes are read. Outcomes: `Layer7 check passed` (with the code),
/// `Layer7 wrong status` (code and reason phrase), `Layer7 invalid response` (garbage, or
/// `expect string` not found), `Layer7 timeout`, or the layer-4 outcomes of [`crate::tcp_check`].
pub async fn http_check(addr: SocketAddr, check: &HttpCheck, timeout: Duration) -> CheckOutcome {
    let start = Instant::now();
    let deadline = start + timeout;
    let stream = match connect(addr, start, deadline).await {
        Ok(s) => s,
        Err(outcome) => return outcome,
    };
    match timeout_at(deadline, exchange(stream, check, start)).await {
        Ok(outcome) => outcome,
        Err(_) => CheckOutcome::new(CheckStatus::L7Timeout, start.elapsed()),
    }
}

pub(crate) async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    check: &HttpCheck,
    start: Instant,
) -> CheckOutcome {
    if check.h2 {
        return crate::http2::exchange(stream, check.request(), check.expect(), start).await;
    }
    // The connection is up: a failure from here on is a `Socket error`, as HAProxy reports it (a reset by a
    // server that refused what it read, e.g. a check without the PROXY header it expects).
    if let Err(e) = stream.write_all(&check.request).await {
        return CheckOutcome::new(CheckStatus::SocketError, start.elapsed())
            .with_info(error_text(&e));
    }
    let mut buf = vec![0u8; MAX_RESPONSE];
    let mut filled = 0;
    loop {
        let (eof, error) = match stream.read(&mut buf[filled..]).await {
            Ok(0) => (true, None),
            Ok(n) => {
                filled += n;
                (false, None)
            }
            Err(e) => (true, Some(e)),
        };
        if let (Some(e), 0) = (&error, filled) {
            return CheckOutcome::new(CheckStatus::SocketError, start.elapsed())
                .with_info(error_text(e));
        }
        if let Some(v) = evaluate(&buf[..filled], eof, &check.expect) {
            let mut outcome = CheckOutcome::new(v.status, start.elapsed());
            outcome.code = v.code;
            if let Some(info) = v.info {
                outcome = outcome.with_info(info);
            }
            return outcome;
        }
        if eof {
            // evaluate() always decides at end of stream; this is only a safety net.
            return CheckOutcome::new(CheckStatus::L7Response, start.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renders_requests() {
        let c = HttpCheck::new(
            "GET",
            "/health",
            "HTTP/1.1",
            &hdrs(&[("Host", "example.org")]),
            None,
            Expect::Status(200),
        )
        .unwrap();
        assert_eq!(
            c.request(),
            b"GET /health HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(c.expect(), &Expect::Status(200));
        let d = HttpCheck::options_default();
        assert_eq!(
            HttpCheck::new("OPTIONS", "/", "HTTP/1.0", &[], None, Expect::Default).unwrap(),
            d
        );
    }

    #[test]
    fn renders_headers_and_body() {
        let c = HttpCheck::new(
            "GET",
            "/status",
            "HTTP/1.1",
            &hdrs(&[("Host", "my-www-host"), ("X-test", "true")]),
            Some("test"),
            Expect::Default,
        )
        .unwrap();
        assert_eq!(
            c.request(),
            &b"GET /status HTTP/1.1\r\nHost: my-www-host\r\nX-test: true\r\nConnection: close\r\nContent-Length: 4\r\n\r\ntest"[..]
        );
        // `http-check send-state`'s header goes after the configured ones, as haproxy 2.6 puts it (observed).
        assert_eq!(
            c.with_header("x-haproxy-server-state", "UP; x\r\ny").request(),
            &b"GET /status HTTP/1.1\r\nHost: my-www-host\r\nX-test: true\r\nx-haproxy-server-state: UP; xy\r\nConnection: close\r\nContent-Length: 4\r\n\r\ntest"[..]
        );
        assert_eq!(
            HttpCheck::options_default().with_header("a", "b").request(),
            b"OPTIONS / HTTP/1.0\r\na: b\r\nConnection: close\r\n\r\n"
        );
        // A Connection header of the user's replaces `Connection: close` (an upgrade check, say).
        let ws = HttpCheck::new(
            "GET",
            "/",
            "HTTP/1.1",
            &hdrs(&[("connection", "upgrade"), ("upgrade", "raw-proto")]),
            None,
            Expect::Status(101),
        )
        .unwrap();
        assert_eq!(
            ws.request(),
            b"GET / HTTP/1.1\r\nconnection: upgrade\r\nupgrade: raw-proto\r\n\r\n"
        );
    }

    #[test]
    fn rejects_injection() {
        let e = Expect::Default;
        let new = |m: &str, u: &str, v: &str, h: &[(&str, &str)]| {
            HttpCheck::new(m, u, v, &hdrs(h), None, e.clone())
        };
        assert!(matches!(
            new("GET\r\n", "/", "HTTP/1.0", &[]),
            Err(SpecError::Method(_))
        ));
        assert!(matches!(
            new("", "/", "HTTP/1.0", &[]),
            Err(SpecError::Method(_))
        ));
        assert!(matches!(
            new("GET", "/ x", "HTTP/1.0", &[]),
            Err(SpecError::Uri(_))
        ));
        assert!(matches!(
            new("GET", "", "HTTP/1.0", &[]),
            Err(SpecError::Uri(_))
        ));
        assert!(matches!(
            new("GET", "/", "HTTP/2", &[]),
            Err(SpecError::Version(_))
        ));
        assert!(matches!(
            new("GET", "/", "HTTP/1.1", &[("Host", "a\r\nX: y")]),
            Err(SpecError::HeaderValue(_))
        ));
        assert!(matches!(
            new("GET", "/", "HTTP/1.1", &[("bad name", "x")]),
            Err(SpecError::HeaderName(_))
        ));
    }
}
