//! The HTTP probe (`option httpchk`): a hand-written HTTP/1.x request, a bounded read of the
//! response, and a verdict per `http-check expect`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

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
        if !is_token(method) {
            return Err(SpecError::Method(method.to_owned()));
        }
        if !is_valid_uri(uri) {
            return Err(SpecError::Uri(uri.to_owned()));
        }
        if version != "HTTP/1.0" && version != "HTTP/1.1" {
            return Err(SpecError::Version(version.to_owned()));
        }
        for (name, value) in headers {
            if !is_token(name) {
                return Err(SpecError::HeaderName(name.to_owned()));
            }
            if value.bytes().any(|c| (c < b' ' && c != b'\t') || c == 0x7f) {
                return Err(SpecError::HeaderValue(value.to_owned()));
            }
        }
        let has = |n: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
        let mut request = format!("{method} {uri} {version}\r\n");
        for (name, value) in headers {
            request.push_str(name);
            request.push_str(": ");
            request.push_str(value);
            request.push_str("\r\n");
        }
        let extra_at = request.len();
        if !has("connection") {
            request.push_str("Connection: close\r\n");
        }
        if let Some(b) = body.filter(|_| !has("content-length")) {
            request.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        request.push_str("\r\n");
        request.push_str(body.unwrap_or_default());
        Ok(HttpCheck {
            request: request.into_bytes(),
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
        let clean: String = value
            .chars()
            .filter(|&c| c == '\t' || !c.is_control())
            .collect();
        let line = format!("{name}: {clean}\r\n");
        let mut request = Vec::with_capacity(self.request.len() + line.len());
        request.extend_from_slice(&self.request[..self.extra_at]);
        request.extend_from_slice(line.as_bytes());
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
        return crate::http2::exchange(stream, check, start).await;
    }
    if let Err(e) = stream.write_all(&check.request).await {
        return CheckOutcome::new(CheckStatus::L4Connection, start.elapsed())
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
            return CheckOutcome::new(CheckStatus::L4Connection, start.elapsed())
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
