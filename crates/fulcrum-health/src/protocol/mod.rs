//! Checks that speak the server's own protocol instead of HTTP: `option smtpchk`, `option redis-check`,
//! `option pgsql-check`, `option mysql-check`, `option ldap-check` and `option spop-check`.
//!
//! Each protocol is sans-IO: a pure function builds the bytes to send and one judges the bytes read so far
//! (`None` while more are needed). [`Conversation`] strings them together (SMTP talks twice) and
//! [`protocol_check`] runs one over a TCP connection. The verdicts carry HAProxy 2.6's statuses and `info`
//! texts, so that `option log-health-checks` lines read as HAProxy's.

pub mod ldap;
pub mod mysql;
pub mod pgsql;
pub mod redis;
pub mod smtp;
pub mod spop;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

use crate::outcome::{CheckOutcome, CheckStatus};
use crate::tcp::{connect, error_text};

pub use mysql::MysqlCheck;
pub use pgsql::PgsqlCheck;
pub use smtp::SmtpCheck;

/// Most bytes of a reply kept and judged; a reply that fills them is judged as it stands.
pub const MAX_REPLY: usize = 16 * 1024;

/// A check in a server's protocol, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolCheck {
    /// `option smtpchk`: greeting, `HELO`/`EHLO`, a 2xx reply.
    Smtp(SmtpCheck),
    /// `option redis-check`: `PING`, `+PONG`.
    Redis,
    /// `option pgsql-check user NAME`: a StartupMessage, an authentication request.
    Pgsql(PgsqlCheck),
    /// `option mysql-check [user NAME [post-41|pre-41]]`: the handshake, and the login's answer with a user.
    Mysql(MysqlCheck),
    /// `option ldap-check`: an anonymous simple bind, a successful bind response.
    Ldap,
    /// `option spop-check`: the SPOP HELLO handshake.
    Spop,
}

/// What a reply amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HAProxy's status.
    pub status: CheckStatus,
    /// The code logged (`code: N`); HAProxy logs one, 0 when the protocol has none, with `Layer7 check
    /// passed` and `Layer7 wrong status`.
    pub code: Option<u16>,
    /// The `info` text, raw from the network or fixed; empty means none.
    pub info: Vec<u8>,
}

impl Reply {
    /// `Layer7 check passed`.
    pub fn passed(code: u16, info: impl Into<Vec<u8>>) -> Self {
        Reply {
            status: CheckStatus::L7Ok,
            code: Some(code),
            info: info.into(),
        }
    }

    /// `Layer7 wrong status`.
    pub fn wrong_status(code: u16, info: impl Into<Vec<u8>>) -> Self {
        Reply {
            status: CheckStatus::L7Status,
            code: Some(code),
            info: info.into(),
        }
    }

    /// `Layer7 invalid response`.
    pub fn invalid(info: impl Into<Vec<u8>>) -> Self {
        Reply {
            status: CheckStatus::L7Response,
            code: None,
            info: info.into(),
        }
    }

    /// The outcome to record, `duration` after the check started.
    pub fn into_outcome(self, duration: Duration) -> CheckOutcome {
        let mut outcome = CheckOutcome::new(self.status, duration).with_info(&self.info);
        outcome.code = self.code;
        outcome
    }
}

/// HAProxy's text when the server closed without a byte where its rule number `step` expected some.
pub fn empty_response(step: u32) -> String {
    format!("TCPCHK got an empty response at step {step}")
}

/// Up to the first CR or LF (HAProxy's `cut_crlf`).
pub(crate) fn cut_crlf(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == b'\r' || c == b'\n');
    &b[..end.unwrap_or(b.len())]
}

/// Up to the first NUL, as a C string reads.
pub(crate) fn c_str(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0);
    &b[..end.unwrap_or(b.len())]
}

/// The next step of a [`Conversation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// More bytes are needed.
    Read,
    /// Write these bytes; what was read so far is spent.
    Send(Vec<u8>),
    /// The verdict. `farewell`, when given, is written (best effort) before the connection is closed.
    Done {
        /// What the exchange amounts to.
        reply: Reply,
        /// Bytes that end the session politely (SMTP's `QUIT`).
        farewell: Option<&'static [u8]>,
    },
}

/// One check's exchange, as a state machine: [`Conversation::opening`] once connected, then
/// [`Conversation::input`] with everything read since the last [`Step::Send`].
#[derive(Debug)]
pub struct Conversation<'a> {
    check: &'a ProtocolCheck,
    /// SMTP: the greeting passed and the hello line was sent.
    greeted: bool,
}

impl<'a> Conversation<'a> {
    /// A conversation for `check`.
    pub fn new(check: &'a ProtocolCheck) -> Self {
        Conversation {
            check,
            greeted: false,
        }
    }

    /// What is sent as soon as the connection is up (nothing for SMTP, which waits for the greeting, nor for
    /// MySQL without a user).
    pub fn opening(&self) -> Option<Vec<u8>> {
        match self.check {
            ProtocolCheck::Smtp(_) => None,
            ProtocolCheck::Redis => Some(redis::PING.to_vec()),
            ProtocolCheck::Pgsql(c) => Some(c.request().to_vec()),
            ProtocolCheck::Mysql(c) => c.request().map(<[u8]>::to_vec),
            ProtocolCheck::Ldap => Some(ldap::BIND_REQUEST.to_vec()),
            ProtocolCheck::Spop => Some(spop::hello_frame()),
        }
    }

    /// Judges `buf`, everything read since the last send; `eof` when no more will come (the server closed,
    /// or [`MAX_REPLY`] bytes were read). Never [`Step::Read`] when `eof`.
    pub fn input(&mut self, buf: &[u8], eof: bool) -> Step {
        let done = |reply| Step::Done {
            reply,
            farewell: None,
        };
        let verdict = match self.check {
            ProtocolCheck::Smtp(c) => {
                if self.greeted {
                    return match smtp::judge_hello_reply(buf, eof) {
                        Some(reply) => Step::Done {
                            reply,
                            farewell: Some(smtp::QUIT),
                        },
                        None => Step::Read,
                    };
                }
                match smtp::judge_greeting(buf, eof) {
                    Some(reply) if reply.status == CheckStatus::L7Ok => {
                        self.greeted = true;
                        return Step::Send(c.hello_line().to_vec());
                    }
                    other => other,
                }
            }
            ProtocolCheck::Redis => redis::judge(buf, eof),
            ProtocolCheck::Pgsql(_) => pgsql::judge(buf, eof),
            ProtocolCheck::Mysql(c) => mysql::judge(buf, eof, c.logs_in()),
            ProtocolCheck::Ldap => ldap::judge(buf, eof),
            ProtocolCheck::Spop => spop::judge(buf, eof),
        };
        match verdict {
            Some(reply) => done(reply),
            // The judges always decide at the end of the stream; this is only a safety net.
            None if eof => done(Reply::invalid(Vec::new())),
            None => Step::Read,
        }
    }
}

/// Runs `check` against `addr`, the whole exchange within `timeout`.
///
/// Outcomes: the protocol's verdict, `Layer7 timeout` when the server did not say enough in time, `Socket
/// error` when the connection broke before a byte came back, or the layer-4 outcomes of
/// [`crate::tcp_check`].
pub async fn protocol_check(
    addr: SocketAddr,
    check: &ProtocolCheck,
    timeout: Duration,
) -> CheckOutcome {
    let start = Instant::now();
    let deadline = start + timeout;
    let stream = match connect(addr, start, deadline).await {
        Ok(s) => s,
        Err(outcome) => return outcome,
    };
    match timeout_at(deadline, converse(stream, check, start)).await {
        Ok(outcome) => outcome,
        Err(_) => CheckOutcome::new(CheckStatus::L7Timeout, start.elapsed()),
    }
}

pub(crate) async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    check: &ProtocolCheck,
    start: Instant,
) -> CheckOutcome {
    let socket_error = |e: &std::io::Error| {
        CheckOutcome::new(CheckStatus::SocketError, start.elapsed()).with_info(error_text(e))
    };
    let mut conversation = Conversation::new(check);
    if let Some(request) = conversation.opening() {
        if let Err(e) = stream.write_all(&request).await {
            return socket_error(&e);
        }
    }
    let mut buf = vec![0u8; MAX_REPLY];
    let mut filled = 0;
    loop {
        let eof = match stream.read(&mut buf[filled..]).await {
            Ok(0) => true,
            Ok(n) => {
                filled += n;
                false
            }
            Err(e) if filled == 0 => return socket_error(&e),
            Err(_) => true,
        };
        match conversation.input(&buf[..filled], eof || filled == MAX_REPLY) {
            Step::Read => {}
            Step::Send(bytes) => {
                if let Err(e) = stream.write_all(&bytes).await {
                    return socket_error(&e);
                }
                filled = 0;
            }
            Step::Done { reply, farewell } => {
                if let Some(bytes) = farewell {
                    let _ = stream.write_all(bytes).await;
                }
                return reply.into_outcome(start.elapsed());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(cut_crlf(b"abc\r\ndef"), b"abc");
        assert_eq!(cut_crlf(b"abc\ndef"), b"abc");
        assert_eq!(cut_crlf(b"abc"), b"abc");
        assert_eq!(c_str(b"8.0.19\0rest"), b"8.0.19");
        assert_eq!(c_str(b"abcd"), b"abcd");
        assert_eq!(empty_response(2), "TCPCHK got an empty response at step 2");
    }

    #[test]
    fn replies_become_outcomes() {
        let o = Reply::passed(0, "Redis server is ok").into_outcome(Duration::ZERO);
        assert_eq!(
            (o.status, o.code, o.info.as_deref()),
            (CheckStatus::L7Ok, Some(0), Some("Redis server is ok"))
        );
        let o = Reply::invalid(Vec::new()).into_outcome(Duration::ZERO);
        assert_eq!(
            (o.status, o.code, o.info),
            (CheckStatus::L7Response, None, None)
        );
        let o = Reply::wrong_status(421, &b"Try \"again\"\x01"[..]).into_outcome(Duration::ZERO);
        assert_eq!(o.info.as_deref(), Some("Try again"));
    }

    #[test]
    fn smtp_conversation_sends_hello_then_quits() {
        let check = ProtocolCheck::Smtp(SmtpCheck::new("EHLO", "domain.tld").unwrap());
        let mut c = Conversation::new(&check);
        assert_eq!(c.opening(), None);
        assert_eq!(c.input(b"22", false), Step::Read);
        assert_eq!(
            c.input(b"220 mx ESMTP\r\n", false),
            Step::Send(b"EHLO domain.tld\r\n".to_vec())
        );
        assert_eq!(c.input(b"25", false), Step::Read);
        match c.input(b"250-mx\r\n250 SIZE\r\n", false) {
            Step::Done { reply, farewell } => {
                assert_eq!(reply, Reply::passed(250, &b"mx"[..]));
                assert_eq!(farewell, Some(&b"QUIT\r\n"[..]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn smtp_bad_greeting_ends_the_conversation() {
        let check = ProtocolCheck::Smtp(SmtpCheck::default());
        let mut c = Conversation::new(&check);
        assert_eq!(
            c.input(b"421 Try again later\r\n", false),
            Step::Done {
                reply: Reply::wrong_status(421, &b"Try again later"[..]),
                farewell: None
            }
        );
    }

    #[test]
    fn openings() {
        let open = |c: ProtocolCheck| Conversation::new(&c).opening();
        assert_eq!(open(ProtocolCheck::Redis).unwrap(), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(open(ProtocolCheck::Ldap).unwrap().len(), 14);
        assert_eq!(open(ProtocolCheck::Spop).unwrap().len(), 82);
        assert_eq!(
            open(ProtocolCheck::Mysql(MysqlCheck::handshake_only())),
            None
        );
        let pg = PgsqlCheck::new("postgres").unwrap();
        assert_eq!(open(ProtocolCheck::Pgsql(pg)).unwrap().len(), 23);
    }

    #[test]
    fn every_judge_decides_at_end_of_stream() {
        let checks = [
            ProtocolCheck::Smtp(SmtpCheck::default()),
            ProtocolCheck::Redis,
            ProtocolCheck::Pgsql(PgsqlCheck::new("u").unwrap()),
            ProtocolCheck::Mysql(MysqlCheck::handshake_only()),
            ProtocolCheck::Mysql(MysqlCheck::login("u", true).unwrap()),
            ProtocolCheck::Ldap,
            ProtocolCheck::Spop,
        ];
        for check in &checks {
            for input in [&b""[..], b"x", b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"] {
                let step = Conversation::new(check).input(input, true);
                assert_ne!(step, Step::Read, "{check:?} on {input:?}");
            }
        }
    }
}
