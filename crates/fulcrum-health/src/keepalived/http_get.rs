//! `HTTP_GET` and `SSL_GET`: for each `url` block, one connection, a `GET` request, the whole response read
//! (bounded), then the status code, the MD5 digest of the body and the regex judged. All URLs must pass.
//!
//! The request is keepalived's shape: `GET path HTTP/1.0` (or 1.1 with `http_protocol`), a `User-Agent`,
//! `Connection: close` for `1.0C` and `1.1`, and `Host:` the virtualhost or, without one, the address
//! connected to with its port (`[v6]:port` for IPv6).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use md5::{Digest, Md5};
use regex::bytes::Regex;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::{io_reason, tls, within, CheckSpecError, ConnectOptions, ProbeResult};
use crate::http::is_valid_uri;
use crate::response::{body_start, content_length, parse_status_line, MAX_RESPONSE};

/// The `User-Agent` sent with every request.
pub const USER_AGENT: &str = "fulcrum-checker";

/// Largest response body read by default; a longer body fails the check.
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;

/// keepalived's `http_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpProtocol {
    /// `1.0` (the default): `HTTP/1.0`, no `Connection` header.
    #[default]
    Http10,
    /// `1.0C`: `HTTP/1.0` with `Connection: close`.
    Http10Close,
    /// `1.1`: `HTTP/1.1` with `Connection: close`.
    Http11,
}

impl HttpProtocol {
    fn version(self) -> &'static str {
        match self {
            HttpProtocol::Http11 => "HTTP/1.1",
            _ => "HTTP/1.0",
        }
    }
}

impl FromStr for HttpProtocol {
    type Err = CheckSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1.0" => Ok(HttpProtocol::Http10),
            "1.0C" | "1.0c" => Ok(HttpProtocol::Http10Close),
            "1.1" => Ok(HttpProtocol::Http11),
            _ => Err(CheckSpecError::HttpProtocol(s.to_owned())),
        }
    }
}

impl fmt::Display for HttpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HttpProtocol::Http10 => "1.0",
            HttpProtocol::Http10Close => "1.0C",
            HttpProtocol::Http11 => "1.1",
        })
    }
}

/// The accepted status codes of a `url` (`status_code 200 300-399`), within 100-599.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusCodes {
    bits: [u64; 8],
}

impl StatusCodes {
    /// Lowest code a `status_code` may name.
    pub const MIN: u16 = 100;
    /// Highest code a `status_code` may name.
    pub const MAX: u16 = 599;

    fn none() -> Self {
        StatusCodes { bits: [0; 8] }
    }

    fn insert(&mut self, low: u16, high: u16) {
        for code in low..=high {
            let i = usize::from(code - Self::MIN);
            self.bits[i / 64] |= 1 << (i % 64);
        }
    }

    /// keepalived's default when a `url` has no `status_code`: 200-299.
    pub fn default_range() -> Self {
        let mut s = Self::none();
        s.insert(200, 299);
        s
    }

    /// Codes from inclusive `(low, high)` ranges; at least one, each within 100-599 with `low <= high`.
    pub fn from_ranges(ranges: &[(u16, u16)]) -> Result<Self, CheckSpecError> {
        if ranges.is_empty() {
            return Err(CheckSpecError::StatusCode(String::new()));
        }
        let mut s = Self::none();
        for &(low, high) in ranges {
            if low < Self::MIN || high > Self::MAX || low > high {
                return Err(CheckSpecError::StatusCode(format!("{low}-{high}")));
            }
            s.insert(low, high);
        }
        Ok(s)
    }

    /// Parses `status_code`'s arguments: codes (`200`) and ranges (`200-299`), separated by whitespace,
    /// in one or several strings.
    pub fn parse<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Result<Self, CheckSpecError> {
        let mut ranges = Vec::new();
        for token in tokens.into_iter().flat_map(str::split_whitespace) {
            let bad = || CheckSpecError::StatusCode(token.to_owned());
            let number = |s: &str| -> Result<u16, CheckSpecError> {
                if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                s.parse().map_err(|_| bad())
            };
            let range = match token.split_once('-') {
                Some((low, high)) => (number(low)?, number(high)?),
                None => {
                    let code = number(token)?;
                    (code, code)
                }
            };
            if range.0 < Self::MIN || range.1 > Self::MAX || range.0 > range.1 {
                return Err(bad());
            }
            ranges.push(range);
        }
        Self::from_ranges(&ranges)
    }

    /// Whether `code` is accepted.
    pub fn contains(&self, code: u16) -> bool {
        if !(Self::MIN..=Self::MAX).contains(&code) {
            return false;
        }
        let i = usize::from(code - Self::MIN);
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }

    /// The accepted codes as inclusive ranges, in order.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        for code in Self::MIN..=Self::MAX {
            if !self.contains(code) {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.1 + 1 == code => last.1 = code,
                _ => out.push((code, code)),
            }
        }
        out
    }
}

impl fmt::Display for StatusCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (low, high)) in self.ranges().into_iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if low == high {
                write!(f, "{low}")?;
            } else {
                write!(f, "{low}-{high}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for StatusCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusCodes({self})")
    }
}

/// One `url { ... }` block as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlSpec {
    /// `path`: the request target.
    pub path: String,
    /// `digest`: the expected MD5 of the body, 32 hex digits.
    pub digest: Option<String>,
    /// `status_code`; `None` means 200-299 (also when a digest is given, as in keepalived 2.2).
    pub status_codes: Option<StatusCodes>,
    /// `virtualhost` of this URL; `None` falls back to the checker's.
    pub virtualhost: Option<String>,
    /// `regex`: searched in the body; no match fails the check.
    pub regex: Option<String>,
    /// `regex_no_match`: a match fails the check instead.
    pub regex_no_match: bool,
}

impl UrlSpec {
    /// A URL with only a path: any 2xx passes.
    pub fn new(path: impl Into<String>) -> Self {
        UrlSpec {
            path: path.into(),
            ..UrlSpec::default()
        }
    }
}

/// `SSL_GET`'s options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `enable_sni`: send a server name (`sni_name`, else the virtualhost) in the handshake.
    pub enable_sni: bool,
    /// `sni_name`.
    pub sni_name: Option<String>,
}

/// An `HTTP_GET` / `SSL_GET` block as configured.
#[derive(Debug, Clone)]
pub struct HttpGetSpec {
    /// The `url` blocks, checked in order; all must pass.
    pub urls: Vec<UrlSpec>,
    /// The checker's `virtualhost`, already defaulted by the caller from the real then the virtual server.
    pub virtualhost: Option<String>,
    /// `http_protocol`.
    pub protocol: HttpProtocol,
    /// `Some` for `SSL_GET`.
    pub tls: Option<TlsOptions>,
    /// `connect_timeout`, `bindto`.
    pub connect: ConnectOptions,
    /// Largest body read ([`DEFAULT_MAX_BODY`] by default).
    pub max_body: usize,
}

impl Default for HttpGetSpec {
    fn default() -> Self {
        HttpGetSpec {
            urls: Vec::new(),
            virtualhost: None,
            protocol: HttpProtocol::default(),
            tls: None,
            connect: ConnectOptions::default(),
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// A validated `url`: the request rendered up to the Host value, the expectations compiled.
#[derive(Debug, Clone)]
struct UrlCheck {
    path: String,
    request_head: Vec<u8>,
    host: Option<String>,
    digest: Option<[u8; 16]>,
    status: StatusCodes,
    regex: Option<Regex>,
    regex_no_match: bool,
    sni: Option<ServerName<'static>>,
}

impl UrlCheck {
    fn request(&self, target: SocketAddr) -> Vec<u8> {
        let mut request = self.request_head.clone();
        match &self.host {
            Some(host) => request.extend_from_slice(host.as_bytes()),
            None => request.extend_from_slice(target.to_string().as_bytes()),
        }
        request.extend_from_slice(b"\r\n\r\n");
        request
    }

    fn needs_body(&self) -> bool {
        self.digest.is_some() || self.regex.is_some()
    }

    /// Judges a response: status, then digest, then regex (keepalived's order).
    fn judge(&self, page: &Fetched) -> Result<String, String> {
        if !self.status.contains(page.status) {
            return Err(format!("status {} not in {}", page.status, self.status));
        }
        let mut passed = format!("status {}", page.status);
        if let Some(want) = self.digest {
            if want != page.digest {
                return Err(format!("MD5 digest {} does not match", hex(&page.digest)));
            }
            passed.push_str(", digest matches");
        }
        if let Some(re) = &self.regex {
            let matched = re.is_match(page.body.as_deref().unwrap_or_default());
            if matched == self.regex_no_match {
                return Err(if matched {
                    "regex matched (regex_no_match)".to_owned()
                } else {
                    "regex did not match".to_owned()
                });
            }
            passed.push_str(", regex passes");
        }
        Ok(passed)
    }
}

/// A fetched page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The status code.
    pub status: u16,
    /// The response head, status line to blank line included.
    pub head: Vec<u8>,
    /// Bytes of body read: up to `Content-Length` when given, else to the end of the connection.
    pub body_len: usize,
    /// MD5 of those bytes (what `digest` is compared with and genhash prints).
    pub digest: [u8; 16],
    /// The body itself, when asked for.
    pub body: Option<Vec<u8>>,
}

impl Fetched {
    /// The digest as 32 lowercase hex digits.
    pub fn digest_hex(&self) -> String {
        hex(&self.digest)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_digest(s: &str) -> Result<[u8; 16], CheckSpecError> {
    let bad = || CheckSpecError::Digest(s.to_owned());
    if s.len() != 32 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

fn valid_host(h: &str) -> bool {
    !h.is_empty() && !h.bytes().any(|c| c <= b' ' || c == 0x7f)
}

/// The server name for SNI from a name or a `host[:port]` virtualhost; IP addresses give a name that
/// rustls does not send.
fn sni_name(name: &str) -> Result<ServerName<'static>, CheckSpecError> {
    if let Ok(n) = ServerName::try_from(name.to_owned()) {
        return Ok(n);
    }
    match name.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty() && !port.is_empty() && port.bytes().all(|c| c.is_ascii_digit()) =>
        {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            ServerName::try_from(host.to_owned())
                .map_err(|_| CheckSpecError::SniName(name.to_owned()))
        }
        _ => Err(CheckSpecError::SniName(name.to_owned())),
    }
}

/// A validated `HTTP_GET` / `SSL_GET` checker.
#[derive(Debug, Clone)]
pub struct HttpGetCheck {
    urls: Vec<UrlCheck>,
    tls: Option<Arc<ClientConfig>>,
    connect: ConnectOptions,
    max_body: usize,
}

impl HttpGetCheck {
    /// Validates `spec`: paths, digests, virtualhosts, regexes and SNI names are checked and compiled here,
    /// the requests rendered, so that a probe only formats the target address.
    pub fn new(spec: HttpGetSpec) -> Result<Self, CheckSpecError> {
        if spec.urls.is_empty() {
            return Err(CheckSpecError::NoUrl);
        }
        let connect = spec.connect.validate()?;
        if let Some(h) = spec.virtualhost.as_deref().filter(|h| !valid_host(h)) {
            return Err(CheckSpecError::VirtualHost(h.to_owned()));
        }
        let tls = match &spec.tls {
            Some(_) => Some(tls::client_config()?),
            None => None,
        };
        let mut urls = Vec::with_capacity(spec.urls.len());
        for u in &spec.urls {
            if !is_valid_uri(&u.path) {
                return Err(CheckSpecError::Path(u.path.clone()));
            }
            if let Some(h) = u.virtualhost.as_deref().filter(|h| !valid_host(h)) {
                return Err(CheckSpecError::VirtualHost(h.to_owned()));
            }
            let host = u.virtualhost.clone().or_else(|| spec.virtualhost.clone());
            let digest = u.digest.as_deref().map(parse_digest).transpose()?;
            let regex = match &u.regex {
                Some(pattern) => Some(Regex::new(pattern).map_err(|e| CheckSpecError::Regex {
                    pattern: pattern.clone(),
                    message: e.to_string(),
                })?),
                None => None,
            };
            let sni = match &spec.tls {
                Some(t) if t.enable_sni => t
                    .sni_name
                    .as_deref()
                    .or(host.as_deref())
                    .map(sni_name)
                    .transpose()?,
                _ => None,
            };
            let mut head = format!(
                "GET {} {}\r\nUser-Agent: {USER_AGENT}\r\n",
                u.path,
                spec.protocol.version()
            );
            if spec.protocol != HttpProtocol::Http10 {
                head.push_str("Connection: close\r\n");
            }
            head.push_str("Host: ");
            urls.push(UrlCheck {
                path: u.path.clone(),
                request_head: head.into_bytes(),
                host,
                digest,
                status: u
                    .status_codes
                    .clone()
                    .unwrap_or_else(StatusCodes::default_range),
                regex,
                regex_no_match: u.regex_no_match,
                sni,
            });
        }
        Ok(HttpGetCheck {
            urls,
            tls,
            connect,
            max_body: spec.max_body,
        })
    }

    /// Whether this is `SSL_GET`.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// How many `url` blocks are checked.
    pub fn url_count(&self) -> usize {
        self.urls.len()
    }

    /// The request sent for URL `index` to `target`.
    ///
    /// # Panics
    /// When `index` is not below [`HttpGetCheck::url_count`].
    pub fn request(&self, index: usize, target: SocketAddr) -> Vec<u8> {
        self.urls[index].request(target)
    }

    /// Checks every URL against `target` in order; the first failure decides.
    pub async fn run(&self, target: SocketAddr) -> ProbeResult {
        let start = Instant::now();
        let mut last = String::new();
        for url in &self.urls {
            let verdict = match self
                .fetch_url(url, target, url.needs_body(), url.regex.is_some())
                .await
            {
                Ok(page) => url.judge(&page),
                Err(e) => Err(e),
            };
            match verdict {
                Ok(passed) => last = format!("{}: {passed}", url.path),
                Err(failed) => {
                    return ProbeResult::down(format!("{}: {failed}", url.path), start.elapsed())
                }
            }
        }
        if self.urls.len() > 1 {
            last = format!("{} urls passed", self.urls.len());
        }
        ProbeResult::up(last, start.elapsed())
    }

    /// Fetches URL `index` from `target` and reads the whole body (genhash), without judging it.
    /// The body is returned when `keep_body` is set. `Err` is the reason the page could not be fetched.
    ///
    /// # Panics
    /// When `index` is not below [`HttpGetCheck::url_count`].
    pub async fn fetch(
        &self,
        target: SocketAddr,
        index: usize,
        keep_body: bool,
    ) -> Result<Fetched, String> {
        self.fetch_url(&self.urls[index], target, true, keep_body)
            .await
    }

    async fn fetch_url(
        &self,
        url: &UrlCheck,
        target: SocketAddr,
        read_body: bool,
        keep_body: bool,
    ) -> Result<Fetched, String> {
        let request = url.request(target);
        let tcp = self.connect.connect(target).await?;
        let reader = Reader {
            timeout: self.connect.timeout,
            read_body,
            keep_body,
            max_body: self.max_body,
        };
        match &self.tls {
            None => reader.exchange(tcp, &request).await,
            Some(config) => {
                let name = url
                    .sni
                    .clone()
                    .unwrap_or_else(|| ServerName::from(target.ip()));
                let connector = TlsConnector::from(config.clone());
                let stream = within(self.connect.timeout, "TLS handshake", async {
                    connector
                        .connect(name, tcp)
                        .await
                        .map_err(|e| io_reason("TLS handshake failed", &e))
                })
                .await?;
                reader.exchange(stream, &request).await
            }
        }
    }
}

/// How a response is read.
struct Reader {
    timeout: Duration,
    read_body: bool,
    keep_body: bool,
    max_body: usize,
}

impl Reader {
    async fn read_some<S: AsyncRead + Unpin>(
        &self,
        stream: &mut S,
        chunk: &mut [u8],
    ) -> Result<usize, String> {
        match tokio::time::timeout(self.timeout, stream.read(chunk)).await {
            Err(_) => Err("timed out waiting for the response".to_owned()),
            Ok(Ok(n)) => Ok(n),
            // A TLS peer closing without close_notify: the end of the response all the same.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
            Ok(Err(e)) => Err(io_reason("reading the response failed", &e)),
        }
    }

    async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        request: &[u8],
    ) -> Result<Fetched, String> {
        let failed = |e: std::io::Error| io_reason("sending the request failed", &e);
        within(self.timeout, "sending the request", async {
            stream.write_all(request).await.map_err(failed)?;
            stream.flush().await.map_err(failed)
        })
        .await?;

        let mut buf = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        let head_end = loop {
            if let Some(end) = body_start(&buf) {
                break end;
            }
            if buf.len() > MAX_RESPONSE {
                return Err(format!("response header larger than {MAX_RESPONSE} bytes"));
            }
            let n = self.read_some(&mut stream, &mut chunk).await?;
            if n == 0 {
                return Err(if buf.is_empty() {
                    "no data received".to_owned()
                } else {
                    "connection closed within the response header".to_owned()
                });
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        if head_end > MAX_RESPONSE + 4 {
            return Err(format!("response header larger than {MAX_RESPONSE} bytes"));
        }
        let line_end = buf.iter().position(|&c| c == b'\n').unwrap_or(head_end);
        let status = parse_status_line(&buf[..line_end])
            .ok_or_else(|| "invalid HTTP status line".to_owned())?
            .code;
        let head = buf[..head_end].to_vec();
        let mut body = Body {
            hasher: Md5::new(),
            len: 0,
            kept: self.keep_body.then(Vec::new),
            expected: content_length(&head),
            max: self.max_body,
        };
        if self.read_body {
            let mut done = body.feed(&buf[head_end..])?;
            while !done {
                let n = self.read_some(&mut stream, &mut chunk).await?;
                if n == 0 {
                    break;
                }
                done = body.feed(&chunk[..n])?;
            }
        }
        Ok(Fetched {
            status,
            head,
            body_len: body.len,
            digest: body.hasher.finalize().into(),
            body: body.kept,
        })
    }
}

/// The body as it arrives: hashed, counted, kept when asked, bounded.
struct Body {
    hasher: Md5,
    len: usize,
    kept: Option<Vec<u8>>,
    expected: Option<usize>,
    max: usize,
}

impl Body {
    /// Takes `bytes` (up to `Content-Length`); `Ok(true)` once the announced length is complete.
    fn feed(&mut self, bytes: &[u8]) -> Result<bool, String> {
        let take = match self.expected {
            Some(total) => bytes.len().min(total.saturating_sub(self.len)),
            None => bytes.len(),
        };
        if self.len + take > self.max {
            return Err(format!("response body larger than {} bytes", self.max));
        }
        let piece = &bytes[..take];
        self.hasher.update(piece);
        if let Some(kept) = &mut self.kept {
            kept.extend_from_slice(piece);
        }
        self.len += take;
        Ok(self.expected.is_some_and(|total| self.len >= total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: HttpGetSpec) -> HttpGetCheck {
        HttpGetCheck::new(spec).unwrap()
    }

    fn one_url(url: UrlSpec) -> HttpGetSpec {
        HttpGetSpec {
            urls: vec![url],
            ..HttpGetSpec::default()
        }
    }

    #[test]
    fn protocols() {
        assert_eq!("1.0".parse(), Ok(HttpProtocol::Http10));
        assert_eq!("1.0C".parse(), Ok(HttpProtocol::Http10Close));
        assert_eq!("1.0c".parse(), Ok(HttpProtocol::Http10Close));
        assert_eq!("1.1".parse(), Ok(HttpProtocol::Http11));
        assert!(matches!(
            "2".parse::<HttpProtocol>(),
            Err(CheckSpecError::HttpProtocol(_))
        ));
        assert_eq!(HttpProtocol::Http10Close.to_string(), "1.0C");
    }

    #[test]
    fn renders_keepalived_style_requests() {
        let v4: SocketAddr = "192.0.2.7:8080".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        let c = check(one_url(UrlSpec::new("/health?x=1")));
        assert_eq!(
            c.request(0, v4),
            b"GET /health?x=1 HTTP/1.0\r\nUser-Agent: fulcrum-checker\r\nHost: 192.0.2.7:8080\r\n\r\n"
        );
        assert_eq!(
            c.request(0, v6),
            b"GET /health?x=1 HTTP/1.0\r\nUser-Agent: fulcrum-checker\r\nHost: [2001:db8::1]:80\r\n\r\n"
        );
        let mut spec = one_url(UrlSpec::new("/"));
        spec.protocol = HttpProtocol::Http11;
        spec.virtualhost = Some("www.example.org".into());
        let c = check(spec);
        assert_eq!(
            c.request(0, v4),
            b"GET / HTTP/1.1\r\nUser-Agent: fulcrum-checker\r\nConnection: close\r\nHost: www.example.org\r\n\r\n"
        );
        // A url's virtualhost wins over the checker's.
        let mut spec = one_url(UrlSpec {
            virtualhost: Some("a.example".into()),
            ..UrlSpec::new("/a")
        });
        spec.protocol = HttpProtocol::Http10Close;
        spec.virtualhost = Some("b.example".into());
        assert_eq!(
            check(spec).request(0, v4),
            b"GET /a HTTP/1.0\r\nUser-Agent: fulcrum-checker\r\nConnection: close\r\nHost: a.example\r\n\r\n"
        );
    }

    #[test]
    fn status_codes() {
        let d = StatusCodes::default_range();
        assert!(d.contains(200) && d.contains(299) && !d.contains(199) && !d.contains(300));
        assert_eq!(d.to_string(), "200-299");
        let s = StatusCodes::parse(["200-204 301", "404"]).unwrap();
        assert_eq!(s.ranges(), vec![(200, 204), (301, 301), (404, 404)]);
        assert_eq!(s.to_string(), "200-204 301 404");
        assert!(!s.contains(205) && s.contains(404) && !s.contains(0) && !s.contains(600));
        let edge = StatusCodes::parse(["100-599"]).unwrap();
        assert!(edge.contains(100) && edge.contains(599));
        for bad in [
            "99", "600", "300-200", "2xx", "-", "200-", "", "+200", "1000000",
        ] {
            assert!(
                matches!(
                    StatusCodes::parse([bad]),
                    Err(CheckSpecError::StatusCode(_))
                ),
                "{bad:?}"
            );
        }
        assert!(StatusCodes::from_ranges(&[]).is_err());
        assert!(StatusCodes::from_ranges(&[(200, 600)]).is_err());
    }

    #[test]
    fn validation() {
        let err = |spec: HttpGetSpec| HttpGetCheck::new(spec).unwrap_err();
        assert_eq!(err(HttpGetSpec::default()), CheckSpecError::NoUrl);
        assert!(matches!(
            err(one_url(UrlSpec::new("/a b"))),
            CheckSpecError::Path(_)
        ));
        assert!(matches!(
            err(one_url(UrlSpec::new(""))),
            CheckSpecError::Path(_)
        ));
        let digest = |d: &str| UrlSpec {
            digest: Some(d.into()),
            ..UrlSpec::new("/")
        };
        assert!(matches!(
            err(one_url(digest("abc"))),
            CheckSpecError::Digest(_)
        ));
        assert!(matches!(
            err(one_url(digest("zz3a0c85a887a256d6939da88aabd8cd"))),
            CheckSpecError::Digest(_)
        ));
        assert!(HttpGetCheck::new(one_url(digest("9B3A0C85A887A256D6939DA88AABD8CD"))).is_ok());
        let vhost = UrlSpec {
            virtualhost: Some("a\r\nX: y".into()),
            ..UrlSpec::new("/")
        };
        assert!(matches!(
            err(one_url(vhost)),
            CheckSpecError::VirtualHost(_)
        ));
        let regex = UrlSpec {
            regex: Some("(".into()),
            ..UrlSpec::new("/")
        };
        assert!(matches!(err(one_url(regex)), CheckSpecError::Regex { .. }));
        let mut zero = one_url(UrlSpec::new("/"));
        zero.connect.timeout = Duration::ZERO;
        assert_eq!(err(zero), CheckSpecError::ZeroTimeout);
        let mut sni = one_url(UrlSpec::new("/"));
        sni.tls = Some(TlsOptions {
            enable_sni: true,
            sni_name: Some("bad name".into()),
        });
        assert!(matches!(err(sni), CheckSpecError::SniName(_)));
    }

    #[test]
    fn sni_names() {
        assert!(matches!(
            sni_name("www.example.org"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(matches!(
            sni_name("www.example.org:8443"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(matches!(
            sni_name("192.0.2.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            sni_name("[2001:db8::1]:443"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(sni_name("a b").is_err());
    }

    #[test]
    fn body_is_bounded_and_cut_at_content_length() {
        let mut b = Body {
            hasher: Md5::new(),
            len: 0,
            kept: Some(Vec::new()),
            expected: Some(5),
            max: 100,
        };
        assert_eq!(b.feed(b"abc"), Ok(false));
        assert_eq!(b.feed(b"defgh"), Ok(true));
        assert_eq!(b.kept.as_deref(), Some(&b"abcde"[..]));
        assert_eq!(
            hex(&b.hasher.finalize()),
            "ab56b4d92b40713acc5af89985d4b786"
        );
        let mut small = Body {
            hasher: Md5::new(),
            len: 0,
            kept: None,
            expected: None,
            max: 4,
        };
        assert_eq!(small.feed(b"1234"), Ok(false));
        assert_eq!(
            small.feed(b"5"),
            Err("response body larger than 4 bytes".to_owned())
        );
    }
}
