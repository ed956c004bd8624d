//! HAProxy's agent check (`agent-check`): an auxiliary TCP exchange in which an agent next to the server
//! reports a weight, a `maxconn`, an administrative state and an operational state on one line.
//!
//! [`parse_reply`] reads the line (sans-IO); [`agent_exchange`] fetches it. Applying the report to a server
//! is the proxy's business.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

use crate::outcome::{CheckOutcome, CheckStatus};
use crate::protocol::empty_response;
use crate::tcp::{connect, error_text};

/// Most bytes read while waiting for the end of the line.
pub const MAX_LINE: usize = 1024;

/// An administrative state an agent asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentAdmin {
    /// `ready`: leaves drain and maintenance.
    Ready,
    /// `drain`: no new traffic.
    Drain,
    /// `maint`: no traffic at all.
    Maint,
}

/// An operational state an agent reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    /// `up`: the server may be UP again (if its health checks agree).
    Up,
    /// `down`, `fail` or `stopped` (the word, lower case), with the description after a `#`, if any.
    Down {
        /// Which of the three words.
        word: &'static str,
        /// The text after `#`.
        description: Option<String>,
    },
}

/// What an agent's line says; what it does not mention stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentReport {
    /// `N%`: the weight, as a percentage of the configured one.
    pub weight_percent: Option<u32>,
    /// `maxconn:N` (0: no limit).
    pub maxconn: Option<u32>,
    /// `ready`, `drain` or `maint`.
    pub admin: Option<AgentAdmin>,
    /// `up`, `down`, `fail` or `stopped`.
    pub state: Option<AgentState>,
}

impl AgentReport {
    /// The weight the report gives a server configured with `initial`: the percentage of it, at most 256.
    pub fn weight(&self, initial: u32) -> Option<u32> {
        let pct = u64::from(self.weight_percent?);
        Some(u32::try_from((u64::from(initial) * pct / 100).min(256)).unwrap_or(256))
    }

    /// The outcome `option log-health-checks` logs for the report's state word, if it has one:
    /// `Layer7 check passed` with `via agent : up`, or `Layer7 wrong status` with `via agent : down`.
    pub fn outcome(&self, duration: Duration) -> Option<CheckOutcome> {
        let (status, word) = match self.state.as_ref()? {
            AgentState::Up => (CheckStatus::L7Ok, "up"),
            AgentState::Down { word, .. } => (CheckStatus::L7Status, *word),
        };
        Some(
            CheckOutcome::new(status, duration)
                .with_code(0)
                .with_info(format!("via agent : {word}")),
        )
    }
}

/// The line an agent sent: `None` while neither a line end nor the end of the stream came.
pub fn reply_line(buf: &[u8], eof: bool) -> Option<&[u8]> {
    match buf.iter().position(|&c| c == b'\r' || c == b'\n') {
        Some(end) => Some(&buf[..end]),
        None => (eof || buf.len() >= MAX_LINE).then_some(buf),
    }
}

/// Parses one line: words separated by spaces, tabs or commas, in any order; a `#` ends the words and starts
/// the description of `down`, `fail` or `stopped`. Unknown words are ignored, as HAProxy does.
pub fn parse_reply(line: &[u8]) -> AgentReport {
    let (words, description) = match line.iter().position(|&c| c == b'#') {
        Some(i) => {
            let d = String::from_utf8_lossy(&line[i + 1..]).trim().to_owned();
            (&line[..i], (!d.is_empty()).then_some(d))
        }
        None => (line, None),
    };
    let mut report = AgentReport::default();
    for word in words.split(|&c| c == b' ' || c == b'\t' || c == b',') {
        let Ok(word) = std::str::from_utf8(word) else {
            continue;
        };
        let lower = word.to_ascii_lowercase();
        if let Some(pct) = lower.strip_suffix('%') {
            if let Ok(n) = pct.parse::<u32>() {
                report.weight_percent = Some(n);
            }
            continue;
        }
        if let Some(n) = lower.strip_prefix("maxconn:") {
            if let Ok(n) = n.parse::<u32>() {
                report.maxconn = Some(n);
            }
            continue;
        }
        match lower.as_str() {
            "ready" => report.admin = Some(AgentAdmin::Ready),
            "drain" => report.admin = Some(AgentAdmin::Drain),
            "maint" => report.admin = Some(AgentAdmin::Maint),
            "up" => report.state = Some(AgentState::Up),
            "down" | "fail" | "stopped" => {
                let word = match lower.as_str() {
                    "down" => "down",
                    "fail" => "fail",
                    _ => "stopped",
                };
                report.state = Some(AgentState::Down {
                    word,
                    description: description.clone(),
                });
            }
            _ => {}
        }
    }
    report
}

/// What one exchange with an agent gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentReply {
    /// The agent could not be reached (not an error for the server: its health checks judge that).
    Unreachable(CheckOutcome),
    /// The agent closed without a word: `Layer7 invalid response`, logged, no change.
    Empty(CheckOutcome),
    /// A line.
    Line {
        /// The report.
        report: AgentReport,
        /// From the connection attempt to the line.
        duration: Duration,
    },
}

/// Connects to the agent at `addr`, writes `send` if any, and reads its first line, all within `timeout`.
pub async fn agent_exchange(
    addr: SocketAddr,
    send: Option<&[u8]>,
    timeout: Duration,
) -> AgentReply {
    agent_exchange_with(addr, send, timeout, |r| r).await
}

/// [`agent_exchange`], with `apply` run on the reply before the connection to the agent closes: whoever watches
/// the agent's side sees the close only once the reply took effect (HAProxy's order; reg-test
/// checks/agent-check.vtc reads the state right after the close).
pub async fn agent_exchange_with<T>(
    addr: SocketAddr,
    send: Option<&[u8]>,
    timeout: Duration,
    apply: impl FnOnce(AgentReply) -> T,
) -> T {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut stream = match connect(addr, start, deadline).await {
        Ok(s) => s,
        Err(outcome) => return apply(AgentReply::Unreachable(outcome)),
    };
    let exchange = async {
        if let Some(bytes) = send {
            if let Err(e) = stream.write_all(bytes).await {
                return AgentReply::Unreachable(
                    CheckOutcome::new(CheckStatus::SocketError, start.elapsed())
                        .with_info(error_text(&e)),
                );
            }
        }
        let mut buf = vec![0u8; MAX_LINE];
        let mut filled = 0;
        loop {
            let eof = match stream.read(&mut buf[filled..]).await {
                Ok(0) | Err(_) => true,
                Ok(n) => {
                    filled += n;
                    false
                }
            };
            if eof && filled == 0 {
                let step = if send.is_some() { 2 } else { 1 };
                return AgentReply::Empty(
                    CheckOutcome::new(CheckStatus::L7Response, start.elapsed())
                        .with_info(empty_response(step)),
                );
            }
            if let Some(line) = reply_line(&buf[..filled], eof) {
                return AgentReply::Line {
                    report: parse_reply(line),
                    duration: start.elapsed(),
                };
            }
        }
    };
    let reply = match timeout_at(deadline, exchange).await {
        Ok(reply) => reply,
        Err(_) => {
            AgentReply::Unreachable(CheckOutcome::new(CheckStatus::L7Timeout, start.elapsed()))
        }
    };
    let out = apply(reply);
    drop(stream);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reports() {
        let r = parse_reply(b"75%,maxconn:30,maint,down");
        assert_eq!(
            r,
            AgentReport {
                weight_percent: Some(75),
                maxconn: Some(30),
                admin: Some(AgentAdmin::Maint),
                state: Some(AgentState::Down {
                    word: "down",
                    description: None
                }),
            }
        );
        assert_eq!(r.weight(100), Some(75));
        assert_eq!(r.weight(3), Some(2));
        let r = parse_reply(b"UP\tready 50%");
        assert_eq!(r.state, Some(AgentState::Up));
        assert_eq!(r.admin, Some(AgentAdmin::Ready));
        assert_eq!(r.weight(1), Some(0));
        assert_eq!(parse_reply(b"1000%").weight(100), Some(256));
        let r = parse_reply(b"stopped #gone fishing");
        assert_eq!(
            r.state,
            Some(AgentState::Down {
                word: "stopped",
                description: Some("gone fishing".into())
            })
        );
        assert_eq!(
            parse_reply(b"fail#").state,
            Some(AgentState::Down {
                word: "fail",
                description: None
            })
        );
        assert_eq!(parse_reply(b"garbage x% maxconn:y"), AgentReport::default());
        assert_eq!(parse_reply(b"").weight(100), None);
    }

    #[test]
    fn outcomes() {
        let up = parse_reply(b"up").outcome(Duration::ZERO).unwrap();
        assert_eq!(
            (up.status, up.code, up.info.as_deref()),
            (CheckStatus::L7Ok, Some(0), Some("via agent : up"))
        );
        let down = parse_reply(b"fail").outcome(Duration::ZERO).unwrap();
        assert_eq!(
            (down.status, down.info.as_deref()),
            (CheckStatus::L7Status, Some("via agent : fail"))
        );
        assert_eq!(parse_reply(b"50%").outcome(Duration::ZERO), None);
    }

    #[test]
    fn lines() {
        assert_eq!(reply_line(b"75%", false), None);
        assert_eq!(reply_line(b"75%", true), Some(&b"75%"[..]));
        assert_eq!(reply_line(b"75%\r\nup\n", false), Some(&b"75%"[..]));
        assert_eq!(
            reply_line(&[b'x'; MAX_LINE], false).map(<[u8]>::len),
            Some(MAX_LINE)
        );
    }

    proptest! {
        #[test]
        fn never_panics(line in prop::collection::vec(any::<u8>(), 0..64), initial in 0u32..=256) {
            let r = parse_reply(&line);
            if let Some(w) = r.weight(initial) {
                prop_assert!(w <= 256);
            }
        }
    }
}
