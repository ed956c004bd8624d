//! Judging an HTTP check's response from the bytes read so far: pure, bounded, panic-free.
//!
//! As in HAProxy 2.6, a response is judged once its whole head is in, and a head the proxy's own parser
//! (`fulcrum_http::response_in`) would refuse is `Layer7 invalid response` whatever its status: a server sending
//! such heads fails every proxied request too, so it must not be kept in the farm.

use bytes::BytesMut;

use crate::outcome::CheckStatus;

/// Most bytes of a response (head and body) that are read and scanned.
pub const MAX_RESPONSE: usize = 16 * 1024;

/// Info logged when `expect string` did not find its text (HAProxy's wording).
pub const CONTENT_MISMATCH: &str = "HTTP content check did not match";

/// What an HTTP check expects (`http-check expect ...`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Expect {
    /// No `http-check expect`: any 2xx or 3xx status passes.
    #[default]
    Default,
    /// `expect status N`: exactly this status.
    Status(u16),
    /// `expect string TEXT`: the body contains TEXT (any status).
    String(String),
}

/// A parsed status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusLine<'a> {
    /// The three-digit status code.
    pub code: u16,
    /// The reason phrase (may be empty).
    pub reason: &'a [u8],
}

/// A decision on a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict<'a> {
    /// What the response amounts to.
    pub status: CheckStatus,
    /// The status code, when it counts for the log.
    pub code: Option<u16>,
    /// Detail for the log.
    pub info: Option<&'a [u8]>,
}

impl<'a> Verdict<'a> {
    fn new(status: CheckStatus, code: Option<u16>, info: Option<&'a [u8]>) -> Self {
        Verdict { status, code, info }
    }

    fn invalid() -> Self {
        Verdict::new(CheckStatus::L7Response, None, None)
    }
}

/// Parses `HTTP/x.y SP NNN [SP reason]` (without the line ending); `None` when malformed.
pub fn parse_status_line(line: &[u8]) -> Option<StatusLine<'_>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let rest = line.strip_prefix(b"HTTP/")?;
    let [major, b'.', minor, rest @ ..] = rest else {
        return None;
    };
    if !major.is_ascii_digit() || !minor.is_ascii_digit() {
        return None;
    }
    let start = rest.iter().position(|&c| c != b' ')?;
    if start == 0 {
        return None;
    }
    let rest = &rest[start..];
    let [a, b, c, tail @ ..] = rest else {
        return None;
    };
    if ![a, b, c].iter().all(|d| d.is_ascii_digit()) {
        return None;
    }
    let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
    let reason = match tail {
        [] => &[][..],
        [b' ', reason @ ..] => reason,
        _ => return None,
    };
    Some(StatusLine { code, reason })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Where the body starts (after the blank line ending the head), if the head is complete.
pub(crate) fn body_start(buf: &[u8]) -> Option<usize> {
    let crlf = find(buf, b"\r\n\r\n").map(|p| p + 4);
    let lf = find(buf, b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The `Content-Length` of a response head, if present and valid.
pub(crate) fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&c| c == b'\n').skip(1).find_map(|line| {
        let colon = line.iter().position(|&c| c == b':')?;
        if !line[..colon].eq_ignore_ascii_case(b"content-length") {
            return None;
        }
        let value = std::str::from_utf8(&line[colon + 1..]).ok()?.trim();
        value.parse().ok()
    })
}

/// Whether the complete head `head` is one the proxy would accept from a server.
fn head_is_valid(head: &[u8]) -> bool {
    let mut copy = BytesMut::from(head);
    matches!(
        fulcrum_http::response_in::parse(&mut copy, false),
        Ok(Some(_))
    )
}

/// Judges the response bytes read so far: `None` while more bytes are needed (the connection
/// is open and fewer than [`MAX_RESPONSE`] bytes were read), a [`Verdict`] otherwise.
pub fn evaluate<'a>(buf: &'a [u8], eof: bool, expect: &Expect) -> Option<Verdict<'a>> {
    let done = eof || buf.len() >= MAX_RESPONSE;
    let Some(nl) = buf.iter().position(|&c| c == b'\n') else {
        return done.then(Verdict::invalid);
    };
    let Some(status) = parse_status_line(&buf[..nl]) else {
        return Some(Verdict::invalid());
    };
    // The verdict waits for the whole head, which must be valid.
    let Some(start) = body_start(buf) else {
        return done.then(Verdict::invalid);
    };
    if !head_is_valid(&buf[..start]) {
        return Some(Verdict::invalid());
    }
    let code = Some(status.code);
    match expect {
        Expect::Default if (200..400).contains(&status.code) => {
            Some(Verdict::new(CheckStatus::L7Ok, code, None))
        }
        Expect::Status(want) if *want == status.code => {
            Some(Verdict::new(CheckStatus::L7Ok, code, None))
        }
        Expect::Default | Expect::Status(_) => Some(Verdict::new(
            CheckStatus::L7Status,
            code,
            Some(status.reason),
        )),
        Expect::String(text) => {
            let body = &buf[start..];
            if find(body, text.as_bytes()).is_some() {
                return Some(Verdict::new(CheckStatus::L7Ok, code, None));
            }
            let complete = content_length(&buf[..start]).is_some_and(|len| body.len() >= len);
            (done || complete).then_some(Verdict::new(
                CheckStatus::L7Response,
                None,
                Some(CONTENT_MISMATCH.as_bytes()),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn status_lines() {
        let ok = parse_status_line(b"HTTP/1.1 200 OK\r").unwrap();
        assert_eq!((ok.code, ok.reason), (200, &b"OK"[..]));
        let s = parse_status_line(b"HTTP/1.0 503 Service Unavailable").unwrap();
        assert_eq!((s.code, s.reason), (503, &b"Service Unavailable"[..]));
        assert_eq!(parse_status_line(b"HTTP/1.1 204").unwrap().reason, b"");
        assert_eq!(
            parse_status_line(b"HTTP/1.1  404 Not Found").unwrap().code,
            404
        );
        for bad in [
            &b"garbage"[..],
            b"",
            b"HTTP/1.1",
            b"HTTP/1.1 ",
            b"HTTP/1.1 20",
            b"HTTP/1.1 2000",
            b"HTTP/1.1 abc OK",
            b"HTTP/x.1 200 OK",
            b"HTTP/1.1200 OK",
            b"http/1.1 200 OK",
        ] {
            assert_eq!(
                parse_status_line(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn default_expectation() {
        let v = evaluate(b"HTTP/1.0 301 Moved\r\n\r\n", false, &Expect::Default).unwrap();
        assert_eq!((v.status, v.code), (CheckStatus::L7Ok, Some(301)));
        let v = evaluate(
            b"HTTP/1.0 503 Service Unavailable\r\n\r\n",
            false,
            &Expect::Default,
        )
        .unwrap();
        assert_eq!(v.status, CheckStatus::L7Status);
        assert_eq!(v.info, Some(&b"Service Unavailable"[..]));
        assert_eq!(evaluate(b"HTTP/1.0 200", false, &Expect::Default), None);
        assert_eq!(
            evaluate(b"HTTP/1.0 200", true, &Expect::Default)
                .unwrap()
                .status,
            CheckStatus::L7Response
        );
        assert_eq!(
            evaluate(b"", true, &Expect::Default).unwrap().status,
            CheckStatus::L7Response
        );
        assert_eq!(
            evaluate(&[b'x'; MAX_RESPONSE], false, &Expect::Default)
                .unwrap()
                .status,
            CheckStatus::L7Response
        );
    }

    /// What haproxy 2.6.12 decided for each of these responses (server `check`, `option httpchk`), observed.
    #[test]
    fn the_whole_head_is_awaited_and_must_be_valid() {
        let d = &Expect::Default;
        let status = |buf: &[u8], eof| evaluate(buf, eof, d).map(|v| v.status);
        // A status line alone: wait (L7TOUT when the server holds on), invalid when it closes.
        assert_eq!(status(b"HTTP/1.1 200 OK\r\n", false), None);
        assert_eq!(
            status(b"HTTP/1.1 200 OK\r\n", true),
            Some(CheckStatus::L7Response)
        );
        // The body is not awaited.
        assert_eq!(
            status(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok", false),
            Some(CheckStatus::L7Ok)
        );
        assert_eq!(
            status(b"HTTP/1.0 200 OK\n\n", true),
            Some(CheckStatus::L7Ok)
        );
        // Heads the proxy refuses are invalid, whatever the status.
        for bad in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\nok"[..],
            b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
            b"HTTP/1.1 503 Busy\r\nContent-Length: x\r\n\r\n",
        ] {
            assert_eq!(
                status(bad, false),
                Some(CheckStatus::L7Response),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn status_expectation() {
        let e = Expect::Status(201);
        let v = evaluate(b"HTTP/1.1 200 OK\r\n\r\n", false, &e).unwrap();
        assert_eq!(
            (v.status, v.code, v.info),
            (CheckStatus::L7Status, Some(200), Some(&b"OK"[..]))
        );
        let v = evaluate(b"HTTP/1.1 201 Created\r\n\r\n", false, &e).unwrap();
        assert_eq!(v.status, CheckStatus::L7Ok);
    }

    #[test]
    fn string_expectation() {
        let e = Expect::String("alive".into());
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n";
        assert_eq!(evaluate(head, false, &e), None);
        let full = [&head[..], b"I'm alive"].concat();
        let v = evaluate(&full, false, &e).unwrap();
        assert_eq!((v.status, v.code), (CheckStatus::L7Ok, Some(200)));
        let other = [&head[..], b"I'm dead!"].concat();
        let v = evaluate(&other, false, &e).unwrap();
        assert_eq!(v.status, CheckStatus::L7Response);
        assert_eq!(v.info, Some(CONTENT_MISMATCH.as_bytes()));
        let v = evaluate(b"HTTP/1.1 500 Oops\n\nalive", false, &e).unwrap();
        assert_eq!(v.status, CheckStatus::L7Ok);
        let partial = b"HTTP/1.1 200 OK\r\n\r\nali";
        assert_eq!(evaluate(partial, false, &e), None);
        assert_eq!(
            evaluate(partial, true, &e).unwrap().status,
            CheckStatus::L7Response
        );
        assert_eq!(
            evaluate(b"HTTP/1.1 200 OK\r\n", true, &e).unwrap().status,
            CheckStatus::L7Response
        );
    }

    #[test]
    fn content_lengths() {
        assert_eq!(
            content_length(b"HTTP/1.1 200 OK\r\ncontent-LENGTH:  12 \r\n"),
            Some(12)
        );
        assert_eq!(
            content_length(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n"),
            None
        );
        assert_eq!(content_length(b"Content-Length: 3\r\n"), None);
    }

    proptest! {
        #[test]
        fn never_panics(buf in prop::collection::vec(any::<u8>(), 0..300), eof in any::<bool>(), text in "[a-z]{0,3}") {
            for e in [Expect::Default, Expect::Status(200), Expect::String(text.clone())] {
                let _ = evaluate(&buf, eof, &e);
                if eof {
                    prop_assert!(evaluate(&buf, eof, &e).is_some());
                }
            }
            let _ = parse_status_line(&buf);
        }

        #[test]
        fn valid_status_lines_parse(code in 100u16..1000, reason in "[ -~]{0,20}") {
            let line = format!("HTTP/1.1 {code} {reason}");
            let parsed = parse_status_line(line.as_bytes()).unwrap();
            prop_assert_eq!(parsed.code, code);
            prop_assert_eq!(parsed.reason, reason.as_bytes());
        }
    }
}
