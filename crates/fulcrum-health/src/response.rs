//! Judging an HTTP check's response from the bytes read so far: pure, bounded, panic-free.
//!
//! As in HAProxy 2.6, a response is judged once its whole head is in, and a head the proxy's own parser
//! (`fulcrum_http::response_in`) would refuse is `Layer7 invalid response` whatever its status: a server sending
//! such heads fails every proxied request too, so it must not be kept in the farm.

pub use crate::status_line::{parse_status_line, StatusLine};
use std::borrow::Cow;
use std::sync::Arc;

use bytes::BytesMut;
use fulcrum_sample::LogFormat;
use regex::bytes::Regex;

use crate::check_ctx::CheckContext;

use crate::outcome::CheckStatus;

/// Most bytes of a response (head and body) that are read and scanned.
pub const MAX_RESPONSE: usize = 16 * 1024;

/// Info logged when `expect string` did not find its text (HAProxy's wording).
pub const CONTENT_MISMATCH: &str = "HTTP content check did not match";

/// Info logged when a body match (`string`, `rstring`, negated or not) met an empty body (HAProxy's wording).
pub const NO_BODY: &str = "HTTP content check could not find a response body";

/// Info logged when a negated `expect string|rstring` found its text (HAProxy's wording).
pub const UNWANTED_CONTENT: &str = "HTTP check matched unwanted content";

/// What a full `http-check expect` rule matches.
#[derive(Debug, Clone)]
pub enum Match {
    /// `status 200-399,404`: the status is in one of these inclusive ranges.
    Statuses(Vec<(u16, u16)>),
    /// `rstatus RE`: the status code, as three digits, matches.
    StatusRegex(Regex),
    /// `string TEXT`: the body contains TEXT.
    Body(Vec<u8>),
    /// `rstring RE`: the body matches.
    BodyRegex(Regex),
    /// `hdr|fhdr name ... [value ...]`: a header of the response matches.
    Header(HeaderRule),
    /// `string-lf FMT`: the body contains the format, rendered when the rule runs (see
    /// [`ExpectRule::resolved`]; unrendered, it matches nothing).
    BodyFormat(Arc<LogFormat>),
}

/// How one side of a header expectation is matched (`-m str|beg|end|sub|reg`).
#[derive(Debug, Clone)]
pub enum TextMatch {
    /// Equal.
    Str(Vec<u8>),
    /// A prefix.
    Beg(Vec<u8>),
    /// A suffix.
    End(Vec<u8>),
    /// A substring.
    Sub(Vec<u8>),
    /// A regular expression.
    Reg(Regex),
}

impl TextMatch {
    /// The same method on `text` (a regular expression is kept as it is).
    fn with_text(&self, text: Vec<u8>) -> TextMatch {
        match self {
            TextMatch::Str(_) => TextMatch::Str(text),
            TextMatch::Beg(_) => TextMatch::Beg(text),
            TextMatch::End(_) => TextMatch::End(text),
            TextMatch::Sub(_) => TextMatch::Sub(text),
            TextMatch::Reg(re) => TextMatch::Reg(re.clone()),
        }
    }

    /// Whether `text` matches; `fold`: ASCII case is ignored (names; a name regex is compiled with `(?i)`).
    fn matches(&self, text: &[u8], fold: bool) -> bool {
        let eq = |a: &[u8], b: &[u8]| {
            if fold {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        match self {
            TextMatch::Str(p) => eq(text, p),
            TextMatch::Beg(p) => text.len() >= p.len() && eq(&text[..p.len()], p),
            TextMatch::End(p) => text.len() >= p.len() && eq(&text[text.len() - p.len()..], p),
            TextMatch::Sub(p) if fold => {
                p.is_empty() || text.windows(p.len()).any(|w| w.eq_ignore_ascii_case(p))
            }
            TextMatch::Sub(p) => find(text, p).is_some(),
            TextMatch::Reg(re) => re.is_match(text),
        }
    }

    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (TextMatch::Str(a), TextMatch::Str(b))
            | (TextMatch::Beg(a), TextMatch::Beg(b))
            | (TextMatch::End(a), TextMatch::End(b))
            | (TextMatch::Sub(a), TextMatch::Sub(b)) => a == b,
            (TextMatch::Reg(a), TextMatch::Reg(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// `http-check expect hdr|fhdr`: some header's name matches (ASCII case ignored) and, when a value matcher is
/// given, one of its values does (case kept): with `hdr` each comma-separated element, with `fhdr` the whole value.
#[derive(Debug, Clone)]
pub struct HeaderRule {
    /// `fhdr`: values are not split on commas.
    pub full: bool,
    /// The name matcher (a regex should be compiled case-insensitively).
    pub name: TextMatch,
    /// The value matcher; `None`: the header being present is enough.
    pub value: Option<TextMatch>,
    /// `name-lf`: the name's pattern is this log-format string, rendered when the rule runs (the matcher's own
    /// text is then a placeholder; `-m reg` takes no log-format).
    pub name_lf: Option<Arc<LogFormat>>,
    /// `value-lf`: the same for the value.
    pub value_lf: Option<Arc<LogFormat>>,
}

impl HeaderRule {
    /// A rule on `name` (and `value`) as written.
    pub fn new(full: bool, name: TextMatch, value: Option<TextMatch>) -> Self {
        HeaderRule {
            full,
            name,
            value,
            name_lf: None,
            value_lf: None,
        }
    }

    /// Whether a pattern is a log-format string, to render before the rule runs.
    pub fn is_dynamic(&self) -> bool {
        self.name_lf.is_some() || self.value_lf.is_some()
    }

    /// The rule with its log-format patterns rendered in `ctx`.
    pub fn resolved(&self, ctx: &CheckContext) -> HeaderRule {
        let name = match &self.name_lf {
            Some(f) => self.name.with_text(ctx.render(f)),
            None => self.name.clone(),
        };
        let value = match (&self.value, &self.value_lf) {
            (Some(v), Some(f)) => Some(v.with_text(ctx.render(f))),
            (v, _) => v.clone(),
        };
        HeaderRule::new(self.full, name, value)
    }

    /// Whether the response head `head` (status line included) has a matching header.
    pub fn matches(&self, head: &[u8]) -> bool {
        head.split(|&c| c == b'\n').skip(1).any(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&c| c == b':') else {
                return false;
            };
            if !self.name.matches(&line[..colon], true) {
                return false;
            }
            let Some(want) = &self.value else {
                return true;
            };
            let value = trim(&line[colon + 1..]);
            if self.full {
                want.matches(value, false)
            } else {
                value
                    .split(|&c| c == b',')
                    .any(|v| want.matches(trim(v), false))
            }
        })
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

impl PartialEq for Match {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Match::Statuses(a), Match::Statuses(b)) => a == b,
            (Match::Body(a), Match::Body(b)) => a == b,
            (Match::StatusRegex(a), Match::StatusRegex(b))
            | (Match::BodyRegex(a), Match::BodyRegex(b)) => a.as_str() == b.as_str(),
            (Match::BodyFormat(a), Match::BodyFormat(b)) => a.source() == b.source(),
            (Match::Header(a), Match::Header(b)) => {
                let lf = |x: &Option<Arc<LogFormat>>, y: &Option<Arc<LogFormat>>| {
                    x.as_ref().map(|f| f.source()) == y.as_ref().map(|f| f.source())
                };
                a.full == b.full
                    && lf(&a.name_lf, &b.name_lf)
                    && lf(&a.value_lf, &b.value_lf)
                    && a.name.same(&b.name)
                    && match (&a.value, &b.value) {
                        (Some(x), Some(y)) => x.same(y),
                        (None, None) => true,
                        _ => false,
                    }
            }
            _ => false,
        }
    }
}
impl Eq for Match {}

/// A full `http-check expect [!] MATCH PATTERN` rule with its `comment`, `ok-status`, `error-status`,
/// `on-success` and `on-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectRule {
    /// `!`: the check fails when the pattern matches.
    pub inverse: bool,
    /// What is matched.
    pub matcher: Match,
    /// `comment TEXT`, appended to the info of a failure.
    pub comment: Option<String>,
    /// `ok-status` (`L7OK` by default).
    pub ok_status: CheckStatus,
    /// `error-status` (by default `L7STS` for status matches, `L7RSP` for body matches).
    pub error_status: Option<CheckStatus>,
    /// `on-success TEXT`: the info of a pass.
    pub on_success: Option<String>,
    /// `on-error TEXT`: the info of a failure.
    pub on_error: Option<String>,
    /// `min-recv N`: the rule waits for N bytes of the response (head and body) unless it ends first.
    pub min_recv: Option<usize>,
    /// `tout-status`: the status when the check times out on this rule (`L7TOUT` by default).
    pub tout_status: Option<CheckStatus>,
    /// `on-success` / `on-error` with `%` sequences, and `status-code EXPR`, evaluated when the rule decides
    /// (by the scripted checks' step machine, which has the check's context).
    pub formats: crate::check_ctx::VerdictFormats,
}

impl ExpectRule {
    /// The rule with its log-format patterns rendered in `ctx`; `None` when it has none.
    pub fn resolved(&self, ctx: &CheckContext) -> Option<ExpectRule> {
        match &self.matcher {
            Match::Header(h) if h.is_dynamic() => Some(ExpectRule {
                matcher: Match::Header(h.resolved(ctx)),
                ..self.clone()
            }),
            Match::BodyFormat(f) => Some(ExpectRule {
                matcher: Match::Body(ctx.render(f)),
                ..self.clone()
            }),
            _ => None,
        }
    }

    /// A rule matching `matcher` with HAProxy's defaults.
    pub fn new(matcher: Match) -> Self {
        ExpectRule {
            inverse: false,
            matcher,
            comment: None,
            ok_status: CheckStatus::L7Ok,
            error_status: None,
            on_success: None,
            on_error: None,
            min_recv: None,
            tout_status: None,
            formats: Default::default(),
        }
    }

    /// `status LIST`: comma-separated codes or `LOW-HIGH` ranges; `None` when malformed.
    pub fn status_list(text: &str) -> Option<Match> {
        let mut out = Vec::new();
        for part in text.split(',') {
            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
            let (lo, hi) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
            if lo > hi {
                return None;
            }
            out.push((lo, hi));
        }
        Some(Match::Statuses(out))
    }

    fn judge<'a>(
        &self,
        buf: &'a [u8],
        start: usize,
        done: bool,
        status: StatusLine<'a>,
    ) -> Option<Verdict<'a>> {
        let code = status.code;
        if self.min_recv.is_some_and(|n| buf.len() < n) && !done {
            return None;
        }
        // An empty (complete) body fails a body match, negated or not, as HAProxy 2.6 judges it.
        let mut no_body = false;
        let (matched, on_status) = match &self.matcher {
            Match::Statuses(list) => (list.iter().any(|&(a, b)| (a..=b).contains(&code)), true),
            Match::StatusRegex(re) => (re.is_match(format!("{code:03}").as_bytes()), true),
            // A header mismatch is reported as a wrong status, as HAProxy 2.6 does.
            Match::Header(h) => (h.matches(&buf[..start]), true),
            Match::Body(_) | Match::BodyRegex(_) | Match::BodyFormat(_) => {
                let body = &buf[start..];
                let found = match &self.matcher {
                    Match::Body(text) => find(body, text).is_some(),
                    Match::BodyRegex(re) => re.is_match(body),
                    _ => false,
                };
                let complete = content_length(&buf[..start]).is_some_and(|len| body.len() >= len);
                if !(found || done || complete) {
                    return None;
                }
                no_body = body.is_empty();
                (found, false)
            }
        };
        let with_code = |st: CheckStatus| {
            matches!(st, CheckStatus::L7Ok | CheckStatus::L7Status).then_some(code)
        };
        if matched != self.inverse && !no_body {
            let info = self
                .on_success
                .as_ref()
                .map(|t| Cow::Owned(t.clone().into_bytes()));
            return Some(Verdict::new(
                self.ok_status,
                with_code(self.ok_status),
                info,
            ));
        }
        let status_kind = if on_status {
            CheckStatus::L7Status
        } else {
            CheckStatus::L7Response
        };
        let st = self.error_status.unwrap_or(status_kind);
        let info = match (&self.on_error, on_status) {
            (Some(text), _) => text.clone().into_bytes(),
            (None, true) => status.reason.to_vec(),
            (None, false) if no_body => NO_BODY.as_bytes().to_vec(),
            (None, false) if self.inverse => UNWANTED_CONTENT.as_bytes().to_vec(),
            (None, false) => CONTENT_MISMATCH.as_bytes().to_vec(),
        };
        let mut info = info;
        if let (None, Some(c)) = (&self.on_error, &self.comment) {
            info.extend_from_slice(format!(" comment: {c}").as_bytes());
        }
        Some(Verdict::new(st, with_code(st), Some(Cow::Owned(info))))
    }
}

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
    /// Any other `expect` rule: status lists, regular expressions, negation, custom statuses and texts.
    Rule(Box<ExpectRule>),
    /// Several `expect` rules judging the same response in order: the first that fails decides, else the last.
    Rules(Vec<ExpectRule>),
}

/// A decision on a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<'a> {
    /// What the response amounts to.
    pub status: CheckStatus,
    /// The status code, when it counts for the log.
    pub code: Option<u16>,
    /// Detail for the log.
    pub info: Option<Cow<'a, [u8]>>,
}

impl<'a> Verdict<'a> {
    fn new(status: CheckStatus, code: Option<u16>, info: Option<Cow<'a, [u8]>>) -> Self {
        Verdict { status, code, info }
    }

    fn invalid() -> Self {
        Verdict::new(CheckStatus::L7Response, None, None)
    }
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
            Some(Cow::Borrowed(status.reason)),
        )),
        Expect::String(text) => {
            let body = &buf[start..];
            if !body.is_empty() && find(body, text.as_bytes()).is_some() {
                return Some(Verdict::new(CheckStatus::L7Ok, code, None));
            }
            let complete = content_length(&buf[..start]).is_some_and(|len| body.len() >= len);
            let info = if body.is_empty() {
                NO_BODY
            } else {
                CONTENT_MISMATCH
            };
            (done || complete).then_some(Verdict::new(
                CheckStatus::L7Response,
                None,
                Some(Cow::Borrowed(info.as_bytes())),
            ))
        }
        Expect::Rule(rule) => rule.judge(buf, start, done, status),
        Expect::Rules(rules) => {
            let mut last = None;
            for rule in rules {
                let verdict = rule.judge(buf, start, done, status)?;
                let passed = matches!(
                    verdict.status,
                    CheckStatus::L7Ok | CheckStatus::L6Ok | CheckStatus::L4Ok
                );
                if !passed {
                    return Some(verdict);
                }
                last = Some(verdict);
            }
            last.or(Some(Verdict::new(CheckStatus::L7Ok, code, None)))
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
        assert_eq!(v.info.as_deref(), Some(&b"Service Unavailable"[..]));
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
            (v.status, v.code, v.info.as_deref()),
            (CheckStatus::L7Status, Some(200), Some(&b"OK"[..]))
        );
        let v = evaluate(b"HTTP/1.1 201 Created\r\n\r\n", false, &e).unwrap();
        assert_eq!(v.status, CheckStatus::L7Ok);
    }

    /// Matched as `/usr/sbin/haproxy` 2.6 judged the same response (see `header_expectations` in the
    /// fulcrum-proxy `health_log` tests for the live comparison).
    #[test]
    fn header_expectations_as_haproxy_judges_them() {
        let resp =
            b"HTTP/1.1 200 OK\r\nX-Test: a, b\r\nX-Other:  Value \r\nContent-Length: 0\r\n\r\n";
        let judge = |full: bool, name: TextMatch, value: Option<TextMatch>, inverse: bool| {
            let mut r = ExpectRule::new(Match::Header(HeaderRule::new(full, name, value)));
            r.inverse = inverse;
            let v = evaluate(resp, false, &Expect::Rule(Box::new(r))).unwrap();
            let info = v.info.map(|i| String::from_utf8(i.into_owned()).unwrap());
            (v.status, v.code, info)
        };
        let s = |t: &str| TextMatch::Str(t.as_bytes().to_vec());
        let ci = |t: &str| {
            TextMatch::Reg(
                regex::bytes::RegexBuilder::new(t)
                    .case_insensitive(true)
                    .build()
                    .unwrap(),
            )
        };
        let ok = (CheckStatus::L7Ok, Some(200), None);
        let wrong = (CheckStatus::L7Status, Some(200), Some("OK".to_owned()));
        // Presence; names ignore case, whatever the method.
        assert_eq!(judge(false, s("x-test"), None, false), ok);
        assert_eq!(judge(false, s("X-OTHER"), None, false), ok);
        assert_eq!(judge(false, s("x-nope"), None, false), wrong);
        assert_eq!(judge(false, ci("^x-oth"), None, false), ok);
        assert_eq!(
            judge(false, TextMatch::Beg(b"x-t".to_vec()), None, true),
            wrong
        );
        assert_eq!(
            judge(
                false,
                TextMatch::Sub(b"OTH".to_vec()),
                Some(TextMatch::Beg(b"Val".to_vec())),
                false
            ),
            ok
        );
        assert_eq!(
            judge(false, TextMatch::End(b"THER".to_vec()), None, false),
            ok
        );
        // hdr splits values on commas, fhdr does not; values keep their case.
        assert_eq!(judge(false, s("x-test"), Some(s("b")), false), ok);
        assert_eq!(judge(true, s("x-test"), Some(s("b")), false), wrong);
        assert_eq!(judge(true, s("x-test"), Some(s("a, b")), false), ok);
        assert_eq!(
            judge(
                false,
                s("x-test"),
                Some(TextMatch::Reg(Regex::new("^b$").unwrap())),
                false
            ),
            ok
        );
        assert_eq!(
            judge(
                false,
                s("x-other"),
                Some(TextMatch::Sub(b"VAL".to_vec())),
                false
            ),
            wrong
        );
        assert_eq!(judge(false, s("x-other"), Some(s("Value")), false), ok);
    }

    /// As `/usr/sbin/haproxy` 2.6 logs it for a `Content-Length: 0` response: whatever the body match,
    /// negated or not, `on-error` replacing the text.
    #[test]
    fn an_empty_body_fails_every_body_match() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let judge = |e: Expect| {
            let v = evaluate(resp, false, &e).unwrap();
            let info = v.info.map(|i| String::from_utf8(i.into_owned()).unwrap());
            (v.status, v.code, info)
        };
        let no_body = (CheckStatus::L7Response, None, Some(NO_BODY.to_owned()));
        assert_eq!(judge(Expect::String("foo".into())), no_body);
        let rule = |m: Match, inverse: bool, on_error: Option<&str>| {
            let mut r = ExpectRule::new(m);
            r.inverse = inverse;
            r.on_error = on_error.map(str::to_owned);
            Expect::Rule(Box::new(r))
        };
        assert_eq!(
            judge(rule(Match::Body(b"foo".to_vec()), true, None)),
            no_body
        );
        let re = Regex::new("foo").unwrap();
        assert_eq!(judge(rule(Match::BodyRegex(re), false, None)), no_body);
        assert_eq!(
            judge(rule(Match::Body(b"foo".to_vec()), false, Some("custom"))),
            (CheckStatus::L7Response, None, Some("custom".to_owned()))
        );
    }

    #[test]
    fn several_rules_the_first_failing_decides() {
        let resp = b"HTTP/1.1 200 OK\r\nX-Test: a\r\nContent-Length: 5\r\n\r\nhello";
        let status = |t: &str| ExpectRule::new(ExpectRule::status_list(t).unwrap());
        let hdr = |n: &str| {
            ExpectRule::new(Match::Header(HeaderRule::new(
                false,
                TextMatch::Str(n.as_bytes().to_vec()),
                None,
            )))
        };
        let judge = |rules: Vec<ExpectRule>| {
            let v = evaluate(resp, false, &Expect::Rules(rules)).unwrap();
            let info = v.info.map(|i| String::from_utf8(i.into_owned()).unwrap());
            (v.status, v.code, info)
        };
        let ok = (CheckStatus::L7Ok, Some(200), None);
        assert_eq!(judge(vec![status("200"), hdr("x-test")]), ok);
        let mut commented = hdr("x-nope");
        commented.comment = Some("second".into());
        assert_eq!(
            judge(vec![status("200"), commented, status("500")]),
            (
                CheckStatus::L7Status,
                Some(200),
                Some("OK comment: second".into())
            )
        );
        let mut body = ExpectRule::new(Match::Body(b"nope".to_vec()));
        body.on_error = Some("no body".into());
        assert_eq!(
            judge(vec![body, status("500")]),
            (CheckStatus::L7Response, None, Some("no body".into()))
        );
        // A body rule waits for the body, even after rules already satisfied.
        let partial = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe";
        let rules = Expect::Rules(vec![
            status("200"),
            ExpectRule::new(Match::Body(b"hello".to_vec())),
        ]);
        assert_eq!(evaluate(partial, false, &rules), None);
    }

    #[test]
    fn expect_rules_as_haproxy_judges_them() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let judge = |r: ExpectRule| {
            let v = evaluate(resp, false, &Expect::Rule(Box::new(r))).unwrap();
            let info = v.info.map(|i| String::from_utf8(i.into_owned()).unwrap());
            (v.status, v.code, info)
        };
        let status = |t: &str| ExpectRule::new(ExpectRule::status_list(t).unwrap());
        let re = |t: &str| Regex::new(t).unwrap();
        let ok = (CheckStatus::L7Ok, Some(200), None);
        let wrong = (CheckStatus::L7Status, Some(200), Some("OK".to_owned()));
        assert_eq!(judge(status("200-399,404")), ok);
        assert_eq!(judge(status("300-399,404")), wrong);
        assert_eq!(judge(status("201-202")), wrong);
        let mut not200 = status("200");
        not200.inverse = true;
        assert_eq!(judge(not200), wrong);
        assert_eq!(judge(ExpectRule::new(Match::StatusRegex(re("^2")))), ok);
        assert_eq!(judge(ExpectRule::new(Match::StatusRegex(re("^3")))), wrong);
        assert_eq!(judge(ExpectRule::new(Match::Body(b"hello".to_vec()))), ok);
        assert_eq!(judge(ExpectRule::new(Match::BodyRegex(re("hel+o")))), ok);
        let mismatch = |info: &str| (CheckStatus::L7Response, None, Some(info.to_owned()));
        assert_eq!(
            judge(ExpectRule::new(Match::Body(b"nope".to_vec()))),
            mismatch(CONTENT_MISMATCH)
        );
        let mut unwanted = ExpectRule::new(Match::BodyRegex(re("hel")));
        unwanted.inverse = true;
        assert_eq!(judge(unwanted), mismatch(UNWANTED_CONTENT));
        let mut commented = status("500");
        commented.comment = Some("foo".into());
        assert_eq!(
            judge(commented),
            (
                CheckStatus::L7Status,
                Some(200),
                Some("OK comment: foo".into())
            )
        );
        let mut commented = ExpectRule::new(Match::Body(b"nope".to_vec()));
        commented.comment = Some("cc".into());
        assert_eq!(
            judge(commented),
            mismatch("HTTP content check did not match comment: cc")
        );
        let mut custom = status("500");
        custom.error_status = Some(CheckStatus::L7Response);
        custom.on_error = Some("bad".into());
        assert_eq!(judge(custom), mismatch("bad"));
        let mut custom = status("200");
        custom.ok_status = CheckStatus::L6Ok;
        custom.on_success = Some("good".into());
        assert_eq!(
            judge(custom),
            (CheckStatus::L6Ok, None, Some("good".into()))
        );
        // A body match waits for the whole body.
        let e = Expect::Rule(Box::new(ExpectRule::new(Match::Body(b"lo".to_vec()))));
        assert_eq!(evaluate(&resp[..resp.len() - 2], false, &e), None);
        assert!(ExpectRule::status_list("2xx").is_none());
        assert!(ExpectRule::status_list("300-200").is_none());
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
        assert_eq!(v.info.as_deref(), Some(CONTENT_MISMATCH.as_bytes()));
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
