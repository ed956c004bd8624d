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
    /// `down`, `fail` or `stopped` (the word, lower case).
    Down {
        /// Which of the three words.
        word: &'static str,
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
    /// The text after a word starting with `#` (to the end of the line), else the first word not understood:
    /// the description of the state word, shown in parentheses after it.
    pub note: Option<String>,
    /// The first word not understood (`agent reports an error : WORD` when there is no state word).
    pub unknown: Option<String>,
}

impl AgentReport {
    /// The weight the report gives a server configured with `initial`: the percentage of it, at most 256.
    pub fn weight(&self, initial: u32) -> Option<u32> {
        let pct = u64::from(self.weight_percent?);
        Some(u32::try_from((u64::from(initial) * pct / 100).min(256)).unwrap_or(256))
    }

    /// The outcome `option log-health-checks` logs for the report's state word, if it has one:
    /// `Layer7 check passed` with `via agent : up`, or `Layer7 wrong status` with `via agent : down`.
    /// The description follows in parentheses (`via agent : down (disk full)`), as haproxy 2.6 shows it.
    pub fn outcome(&self, duration: Duration) -> Option<CheckOutcome> {
        let (status, word) = match self.state.as_ref()? {
            AgentState::Up => (CheckStatus::L7Ok, "up"),
            AgentState::Down { word } => (CheckStatus::L7Status, *word),
        };
        let info = match &self.note {
            Some(note) => format!("via agent : {word} ({note})"),
            None => format!("via agent : {word}"),
        };
        Some(
            CheckOutcome::new(status, duration)
                .with_code(0)
                .with_info(info),
        )
    }

    /// What haproxy 2.6 shows of a line without a state word (`last_agt`): the first word it did not
    /// understand, if any.
    pub fn error_text(&self) -> Option<String> {
        if self.state.is_some() {
            return None;
        }
        self.unknown
            .as_ref()
            .map(|w| format!("agent reports an error : {w}"))
    }
}

/// The line an agent sent: `None` while neither a line end nor the end of the stream came.
pub fn reply_line(buf: &[u8], eof: bool) -> Option<&[u8]> {
    match buf.iter().position(|&c| c == b'\r' || c == b'\n') {
        Some(end) => Some(&buf[..end]),
        None => (eof || buf.len() >= MAX_LINE).then_some(buf),
    }
}

/// Parses one line: words separated by spaces, tabs or commas, in any order, as haproxy 2.6 reads them. A
/// word starting with `#` starts the description, which runs to the end of the line; a word glued to a `#`
/// (`down#x`) is not understood. Words not understood change nothing: the first one is the description when
/// none follows a `#`, and is reported when the line has no state word.
pub fn parse_reply(line: &[u8]) -> AgentReport {
    let text = String::from_utf8_lossy(line);
    let is_sep = |c: char| c == ' ' || c == '\t' || c == ',';
    let mut report = AgentReport::default();
    let mut rest: &str = &text;
    let mut description = None;
    loop {
        rest = rest.trim_start_matches(is_sep);
        if rest.is_empty() {
            break;
        }
        if let Some(d) = rest.strip_prefix('#') {
            description = Some(d.trim().to_owned()).filter(|d| !d.is_empty());
            break;
        }
        let end = rest.find(is_sep).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(end);
        rest = tail;
        if !understood(word, &mut report) && report.unknown.is_none() {
            report.unknown = Some(word.to_owned());
        }
    }
    report.note = description.or_else(|| report.unknown.clone());
    report
}

/// Applies one word to `report`; whether it was understood.
fn understood(word: &str, report: &mut AgentReport) -> bool {
    let lower = word.to_ascii_lowercase();
    if let Some(pct) = lower.strip_suffix('%') {
        let Ok(n) = pct.parse::<u32>() else {
            return false;
        };
        report.weight_percent = Some(n);
        return true;
    }
    if let Some(n) = lower.strip_prefix("maxconn:") {
        let Ok(n) = n.parse::<u32>() else {
            return false;
        };
        report.maxconn = Some(n);
        return true;
    }
    match lower.as_str() {
        "ready" => report.admin = Some(AgentAdmin::Ready),
        "drain" => report.admin = Some(AgentAdmin::Drain),
        "maint" => report.admin = Some(AgentAdmin::Maint),
        "up" => report.state = Some(AgentState::Up),
        "down" => report.state = Some(AgentState::Down { word: "down" }),
        "fail" => report.state = Some(AgentState::Down { word: "fail" }),
        "stopped" => report.state = Some(AgentState::Down { word: "stopped" }),
        _ => return false,
    }
    true
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
                state: Some(AgentState::Down { word: "down" }),
                note: None,
                unknown: None,
            }
        );
        assert_eq!(r.weight(100), Some(75));
        assert_eq!(r.weight(3), Some(2));
        let r = parse_reply(b"UP\tready 50%");
        assert_eq!(r.state, Some(AgentState::Up));
        assert_eq!(r.admin, Some(AgentAdmin::Ready));
        assert_eq!(r.weight(1), Some(0));
        assert_eq!(parse_reply(b"1000%").weight(100), Some(256));
        // A word starting with `#` describes the state to the end of the line, else the first word not
        // understood does; a word glued to `#` is not understood (haproxy 2.6.12, observed).
        let r = parse_reply(b"stopped #gone fishing");
        assert_eq!(r.state, Some(AgentState::Down { word: "stopped" }));
        assert_eq!(r.note.as_deref(), Some("gone fishing"));
        let r = parse_reply(b"fail#");
        assert_eq!((r.state, r.unknown.as_deref()), (None, Some("fail#")));
        let r = parse_reply(b"hello up world");
        assert_eq!(r.state, Some(AgentState::Up));
        assert_eq!(r.note.as_deref(), Some("hello"));
        assert_eq!(r.error_text(), None);
        let r = parse_reply(b"garbage x% maxconn:y");
        assert_eq!(
            (r.weight_percent, r.maxconn, r.state.clone()),
            (None, None, None)
        );
        assert_eq!(
            r.error_text().as_deref(),
            Some("agent reports an error : garbage")
        );
        assert_eq!(parse_reply(b""), AgentReport::default());
        assert_eq!(parse_reply(b"").error_text(), None);
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
        for (line, info) in [
            (&b"down foo"[..], "via agent : down (foo)"),
            (b"down #why not", "via agent : down (why not)"),
            (b"hello up", "via agent : up (hello)"),
        ] {
            let o = parse_reply(line).outcome(Duration::ZERO).unwrap();
            assert_eq!(o.info.as_deref(), Some(info));
        }
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
