//! `option smtpchk [HELO|EHLO DOMAIN]`: wait for the server's greeting, send `HELO localhost` (or the hello
//! configured), and pass on a reply code starting with `2`.
//!
//! As HAProxy 2.6: the greeting must start with three digits and a space or CR (a multi-line greeting is an
//! invalid response) and be a 2xx; the hello reply passes when it starts with `2NN` followed by `-`, a space
//! or CR (the first line of a multi-line EHLO reply is enough). The `info` logged is the reply's text after
//! the code, up to the line's end; the code is the reply's. `QUIT` is written after the verdict, without
//! waiting for its answer.

use super::{cut_crlf, empty_response, Reply};
use crate::error::SpecError;

/// Written after the verdict, to end the session politely.
pub const QUIT: &[u8] = b"QUIT\r\n";

/// The rule numbers HAProxy names in its "empty response" text: the greeting, the hello reply.
const GREETING_STEP: u32 = 2;
const HELLO_STEP: u32 = 5;

/// A validated SMTP check: its hello line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpCheck {
    hello: Vec<u8>,
}

impl Default for SmtpCheck {
    /// `HELO localhost`, as `option smtpchk` without arguments.
    fn default() -> Self {
        SmtpCheck {
            hello: b"HELO localhost\r\n".to_vec(),
        }
    }
}

impl SmtpCheck {
    /// `verb` is `HELO` or `EHLO`; `domain` a non-empty word without spaces or control characters.
    pub fn new(verb: &str, domain: &str) -> Result<Self, SpecError> {
        if verb != "HELO" && verb != "EHLO" {
            return Err(SpecError::SmtpHello(verb.to_owned()));
        }
        if domain.is_empty() || domain.bytes().any(|c| c <= b' ' || c == 0x7f) {
            return Err(SpecError::SmtpDomain(domain.to_owned()));
        }
        Ok(SmtpCheck {
            hello: format!("{verb} {domain}\r\n").into_bytes(),
        })
    }

    /// The line sent after the greeting, CRLF included.
    pub fn hello_line(&self) -> &[u8] {
        &self.hello
    }
}

/// The code in the first three bytes, when they are three digits.
fn digits(buf: &[u8]) -> Option<u16> {
    match buf {
        [a, b, c, ..] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// The code logged: the first three bytes' number, 0 when they are not three digits.
fn code(buf: &[u8]) -> u16 {
    digits(buf).unwrap_or(0)
}

/// The text after the code: from the fifth byte, leading spaces dropped, up to the line's end.
fn text(buf: &[u8]) -> &[u8] {
    let rest = buf.get(4..).unwrap_or_default();
    let start = rest.iter().position(|&c| c != b' ').unwrap_or(rest.len());
    cut_crlf(&rest[start..])
}

/// `2NN` followed by one of `ends`.
fn is_2xx(buf: &[u8], ends: &[u8]) -> bool {
    matches!(buf, [b'2', b, c, d, ..] if b.is_ascii_digit() && c.is_ascii_digit() && ends.contains(d))
}

/// Whether a multi-line reply has come to its last line: a complete line of three digits and a space (or none).
fn has_last_line(buf: &[u8]) -> bool {
    buf.split_inclusive(|&b| b == b'\n')
        .filter(|l| l.ends_with(b"\n"))
        .any(|l| matches!(l, [a, b, c, d, ..] if [a, b, c].iter().all(|x| x.is_ascii_digit()) && *d != b'-'))
}

/// Judges the greeting: `None` until four bytes came; a passed [`Reply`] means "send the hello line".
pub fn judge_greeting(buf: &[u8], eof: bool) -> Option<Reply> {
    if buf.len() < 4 && !eof {
        return None;
    }
    if buf.is_empty() {
        return Some(Reply::invalid(empty_response(GREETING_STEP)));
    }
    if digits(buf).is_none() || !matches!(buf.get(3), Some(b' ' | b'\r')) {
        return Some(Reply::invalid(cut_crlf(buf)));
    }
    if buf[0] != b'2' {
        return Some(Reply::wrong_status(code(buf), text(buf)));
    }
    Some(Reply::passed(code(buf), text(buf)))
}

/// Judges the reply to the hello line: `None` while its first line is incomplete and does not pass yet, and
/// while a passing multi-line reply (`250-...`) has not reached its last line (`250 ...`): the verdict is the
/// first line's, as HAProxy's, but the connection is closed only once the server has said all it had to say
/// (closing on unread lines resets the connection under a server still writing them).
pub fn judge_hello_reply(buf: &[u8], eof: bool) -> Option<Reply> {
    if buf.is_empty() {
        return eof.then(|| Reply::wrong_status(0, empty_response(HELLO_STEP)));
    }
    if is_2xx(buf, b"- \r") {
        if buf[3] == b'-' && !eof && !has_last_line(buf) {
            return None;
        }
        return Some(Reply::passed(code(buf), text(buf)));
    }
    if !eof && !buf.contains(&b'\n') {
        return None;
    }
    Some(Reply::wrong_status(code(buf), text(buf)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::CheckStatus;
    use proptest::prelude::*;

    #[test]
    fn hello_lines() {
        assert_eq!(SmtpCheck::default().hello_line(), b"HELO localhost\r\n");
        assert_eq!(
            SmtpCheck::new("EHLO", "domain.tld").unwrap().hello_line(),
            b"EHLO domain.tld\r\n"
        );
        assert!(matches!(
            SmtpCheck::new("ehlo", "x"),
            Err(SpecError::SmtpHello(_))
        ));
        assert!(matches!(
            SmtpCheck::new("HELO", "a\r\nRCPT TO:<x>"),
            Err(SpecError::SmtpDomain(_))
        ));
        assert!(matches!(
            SmtpCheck::new("HELO", ""),
            Err(SpecError::SmtpDomain(_))
        ));
    }

    #[test]
    fn greetings() {
        assert_eq!(judge_greeting(b"220", false), None);
        assert_eq!(
            judge_greeting(b"220 smtp-check.vtc SMTP Server\r\n", false),
            Some(Reply::passed(220, &b"smtp-check.vtc SMTP Server"[..]))
        );
        // Bytes dribbling in: "220" then CRLFs.
        assert_eq!(
            judge_greeting(b"220\r\n\r\n", false).map(|r| r.status),
            Some(CheckStatus::L7Ok)
        );
        assert_eq!(
            judge_greeting(b"I'm not a SMTP server\r\n", false),
            Some(Reply::invalid(&b"I'm not a SMTP server"[..]))
        );
        assert_eq!(
            judge_greeting(b"421 Try again later\r\nmore", false),
            Some(Reply::wrong_status(421, &b"Try again later"[..]))
        );
        // A multi-line greeting or a four-digit code is not what HAProxy accepts.
        assert_eq!(
            judge_greeting(b"220-a\r\n220 b\r\n", false),
            Some(Reply::invalid(&b"220-a"[..]))
        );
        assert_eq!(
            judge_greeting(b"4210 busy\r\n", false),
            Some(Reply::invalid(&b"4210 busy"[..]))
        );
        assert_eq!(
            judge_greeting(b"22", true),
            Some(Reply::invalid(&b"22"[..]))
        );
        assert_eq!(
            judge_greeting(b"", true),
            Some(Reply::invalid(
                "TCPCHK got an empty response at step 2".as_bytes()
            ))
        );
    }

    #[test]
    fn hello_replies() {
        assert_eq!(
            judge_hello_reply(b"250 smtp-check.vtc\r\n", false),
            Some(Reply::passed(250, &b"smtp-check.vtc"[..]))
        );
        // A multi-line reply is judged by its first line once its last line is in.
        assert_eq!(
            judge_hello_reply(b"250-smtp-check.vtc\r\n250-KEYWORD\r\n", false),
            None
        );
        assert_eq!(
            judge_hello_reply(b"250-smtp-check.vtc\r\n250-KEYWORD\r\n250 LAST\r\n", false),
            Some(Reply::passed(250, &b"smtp-check.vtc"[..]))
        );
        assert_eq!(
            judge_hello_reply(b"250-smtp-check.vtc\r\n250-KEY", true),
            Some(Reply::passed(250, &b"smtp-check.vtc"[..]))
        );
        assert_eq!(
            judge_hello_reply(b"248\r\n\r\n", false),
            Some(Reply::passed(248, Vec::new()))
        );
        assert_eq!(judge_hello_reply(b"25", false), None);
        assert_eq!(judge_hello_reply(b"512 DNS", false), None);
        assert_eq!(
            judge_hello_reply(b"512 DNS error\r\n", false),
            Some(Reply::wrong_status(512, &b"DNS error"[..]))
        );
        assert_eq!(
            judge_hello_reply(b"550  no way\r\n", true),
            Some(Reply::wrong_status(550, &b"no way"[..]))
        );
        assert_eq!(
            judge_hello_reply(b"hello\r\n", true),
            Some(Reply::wrong_status(0, &b"o"[..]))
        );
        assert_eq!(
            judge_hello_reply(b"250", true),
            Some(Reply::wrong_status(250, Vec::new()))
        );
        assert_eq!(judge_hello_reply(b"", false), None);
        assert_eq!(
            judge_hello_reply(b"", true),
            Some(Reply::wrong_status(
                0,
                "TCPCHK got an empty response at step 5".as_bytes()
            ))
        );
    }

    proptest! {
        #[test]
        fn never_panics(buf in prop::collection::vec(any::<u8>(), 0..64), eof in any::<bool>()) {
            let g = judge_greeting(&buf, eof);
            let h = judge_hello_reply(&buf, eof);
            if eof {
                prop_assert!(g.is_some() && h.is_some());
            }
        }
    }
}
