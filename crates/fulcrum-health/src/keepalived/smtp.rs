//! `SMTP_CHECK`: connect, read the 220 greeting, send `HELO helo_name`, expect 250, then say `QUIT`.
//!
//! Replies are read as RFC 5321 describes them: a multi-line reply (`250-...` lines, then `250 ...`)
//! counts once, with its last line's code. The verdict is reached at the 250; `QUIT` is sent as a courtesy
//! and its answer awaited (within the timeout) but not judged.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{io_reason, within, CheckSpecError, ConnectOptions, ProbeResult};

/// Longest reply read (all its lines); a longer one fails the check.
const MAX_REPLY: usize = 4096;

/// A validated `SMTP_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpCheck {
    helo_name: String,
    connect: ConnectOptions,
}

impl SmtpCheck {
    /// `helo_name`, or this machine's host name when `None`.
    pub fn new(helo_name: Option<&str>, connect: ConnectOptions) -> Result<Self, CheckSpecError> {
        let helo_name = match helo_name {
            Some(name) => name.to_owned(),
            None => nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .filter(|h| valid_helo(h))
                .unwrap_or_else(|| "localhost".to_owned()),
        };
        if !valid_helo(&helo_name) {
            return Err(CheckSpecError::HeloName(helo_name));
        }
        Ok(SmtpCheck {
            helo_name,
            connect: connect.validate()?,
        })
    }

    /// The name sent with `HELO`.
    pub fn helo_name(&self) -> &str {
        &self.helo_name
    }

    /// Greeting, HELO, QUIT with the server at `target`.
    pub async fn run(&self, target: SocketAddr) -> ProbeResult {
        let start = Instant::now();
        let verdict = match self.connect.connect(target).await {
            Ok(stream) => self.dialogue(stream).await,
            Err(e) => Err(e),
        };
        ProbeResult::from_verdict(verdict, start)
    }

    async fn dialogue(&self, stream: TcpStream) -> Result<String, String> {
        let mut s = Session {
            stream,
            buf: Vec::new(),
            timeout: self.connect.timeout,
        };
        let greeting = s.reply("greeting").await?;
        if greeting != 220 {
            return Err(format!("greeting {greeting}, expected 220"));
        }
        s.send(format!("HELO {}\r\n", self.helo_name).as_bytes())
            .await?;
        let helo = s.reply("HELO reply").await?;
        if helo != 250 {
            return Err(format!("HELO reply {helo}, expected 250"));
        }
        if s.send(b"QUIT\r\n").await.is_ok() {
            let _ = s.reply("QUIT reply").await;
        }
        Ok("greeting 220, HELO 250".to_owned())
    }
}

fn valid_helo(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.bytes().all(|c| c.is_ascii_graphic())
}

struct Session {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Session {
    async fn send(&mut self, line: &[u8]) -> Result<(), String> {
        let stream = &mut self.stream;
        within(self.timeout, "sending to the server", async {
            stream
                .write_all(line)
                .await
                .map_err(|e| io_reason("sending to the server failed", &e))
        })
        .await
    }

    /// Reads one complete reply and returns its code.
    async fn reply(&mut self, what: &str) -> Result<u16, String> {
        loop {
            match parse_reply(&self.buf) {
                Parsed::Complete { code, len } => {
                    self.buf.drain(..len);
                    return Ok(code);
                }
                Parsed::Invalid => return Err(format!("invalid {what}")),
                Parsed::Partial if self.buf.len() >= MAX_REPLY => {
                    return Err(format!("{what} longer than {MAX_REPLY} bytes"))
                }
                Parsed::Partial => {}
            }
            let mut chunk = [0u8; 1024];
            let stream = &mut self.stream;
            let n = within(self.timeout, &format!("waiting for the {what}"), async {
                stream
                    .read(&mut chunk)
                    .await
                    .map_err(|e| io_reason(&format!("reading the {what} failed"), &e))
            })
            .await?;
            if n == 0 {
                return Err(format!("connection closed before the {what}"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// A whole reply: its code and the bytes it took.
    Complete { code: u16, len: usize },
    /// More bytes are needed.
    Partial,
    /// Not an SMTP reply.
    Invalid,
}

/// Parses the reply at the start of `buf`: lines `NNN-text` then a last line `NNN text` (or `NNN`).
fn parse_reply(buf: &[u8]) -> Parsed {
    let mut offset = 0;
    let mut first_code = None;
    while let Some(nl) = buf[offset..].iter().position(|&c| c == b'\n') {
        let line = &buf[offset..offset + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        offset += nl + 1;
        let (digits, rest) = line.split_at(line.len().min(3));
        if digits.len() != 3 || !digits.iter().all(u8::is_ascii_digit) {
            return Parsed::Invalid;
        }
        let code = digits
            .iter()
            .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
        if *first_code.get_or_insert(code) != code {
            return Parsed::Invalid;
        }
        match rest.first() {
            None | Some(b' ') => return Parsed::Complete { code, len: offset },
            Some(b'-') => continue,
            Some(_) => return Parsed::Invalid,
        }
    }
    Parsed::Partial
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(
            parse_reply(b"220 mail.example ESMTP\r\n"),
            Parsed::Complete { code: 220, len: 24 }
        );
        assert_eq!(
            parse_reply(b"250\n"),
            Parsed::Complete { code: 250, len: 4 }
        );
        assert_eq!(
            parse_reply(b"250-mail.example\r\n250-SIZE 10\r\n250 HELP\r\nextra"),
            Parsed::Complete { code: 250, len: 41 }
        );
        assert_eq!(parse_reply(b"250-mail.example\r\n250 HE"), Parsed::Partial);
        assert_eq!(parse_reply(b"22"), Parsed::Partial);
        assert_eq!(parse_reply(b""), Parsed::Partial);
        assert_eq!(parse_reply(b"hello\r\n"), Parsed::Invalid);
        assert_eq!(parse_reply(b"2200 x\r\n"), Parsed::Invalid);
        assert_eq!(parse_reply(b"250-a\r\n220 b\r\n"), Parsed::Invalid);
    }

    #[test]
    fn helo_names() {
        let c = SmtpCheck::new(Some("checker.example"), ConnectOptions::default()).unwrap();
        assert_eq!(c.helo_name(), "checker.example");
        assert!(matches!(
            SmtpCheck::new(Some("a b"), ConnectOptions::default()),
            Err(CheckSpecError::HeloName(_))
        ));
        assert!(SmtpCheck::new(Some(""), ConnectOptions::default()).is_err());
        let default = SmtpCheck::new(None, ConnectOptions::default()).unwrap();
        assert!(valid_helo(default.helo_name()));
    }
}
