//! What a probe found: HAProxy's check status, its wording, the HTTP code and the duration.

use std::fmt;
use std::time::Duration;

use crate::tracker::CheckResult;

/// HAProxy's check status (the `check_status` column of `show stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// `L4OK`: the TCP connection was established.
    L4Ok,
    /// `L4TOUT`: the TCP connection did not complete in time.
    L4Timeout,
    /// `L4CON`: the TCP connection failed (refused, unreachable, reset...).
    L4Connection,
    /// `L6OK`: the TLS handshake succeeded (a TCP check over TLS).
    L6Ok,
    /// `L6TOUT`: the TLS handshake did not complete in time.
    L6Timeout,
    /// `L6RSP`: the TLS handshake failed (the server's certificate did not verify, no common version...).
    L6Response,
    /// `L7OK`: the response met the expectation.
    L7Ok,
    /// `L7OKC`: a 404 answered the HTTP check of an UP server under `http-check disable-on-404`: the check
    /// passes, and the server stops taking new traffic (NOLB).
    L7OkCond,
    /// `L7TOUT`: connected, but no conclusive response in time.
    L7Timeout,
    /// `L7RSP`: the response was not valid HTTP or did not match the expected content.
    L7Response,
    /// `L7STS`: the response's status code was not the expected one.
    L7Status,
    /// `SOCKERR`: a local socket error prevented the check.
    SocketError,
    /// `HANA`: the server's traffic showed too many errors in a row (`observe` with `on-error`); not the result
    /// of a probe.
    Hana,
    /// `PROCERR`: the external check's program exited with a status other than 0 (its code), or could not run.
    ProcError,
    /// `PROCTOUT`: the external check's program was still running at the end of the interval.
    ProcTimeout,
    /// `PROCOK`: the external check's program exited with status 0.
    ProcOk,
}

impl CheckStatus {
    /// Whether this status is a passed check.
    pub fn passed(self) -> bool {
        matches!(
            self,
            CheckStatus::L4Ok
                | CheckStatus::L6Ok
                | CheckStatus::L7Ok
                | CheckStatus::L7OkCond
                | CheckStatus::ProcOk
        )
    }

    /// The short code used in the stats page and CSV (`L4OK`, `L7STS`...).
    pub fn code(self) -> &'static str {
        match self {
            CheckStatus::L4Ok => "L4OK",
            CheckStatus::L4Timeout => "L4TOUT",
            CheckStatus::L4Connection => "L4CON",
            CheckStatus::L6Ok => "L6OK",
            CheckStatus::L6Timeout => "L6TOUT",
            CheckStatus::L6Response => "L6RSP",
            CheckStatus::L7Ok => "L7OK",
            CheckStatus::L7OkCond => "L7OKC",
            CheckStatus::L7Timeout => "L7TOUT",
            CheckStatus::L7Response => "L7RSP",
            CheckStatus::L7Status => "L7STS",
            CheckStatus::SocketError => "SOCKERR",
            CheckStatus::Hana => "HANA",
            CheckStatus::ProcError => "PROCERR",
            CheckStatus::ProcTimeout => "PROCTOUT",
            CheckStatus::ProcOk => "PROCOK",
        }
    }

    /// HAProxy's number for the status (`srv_check_status` in `show servers state`).
    pub fn number(self) -> u8 {
        match self {
            CheckStatus::Hana => 4,
            CheckStatus::SocketError => 5,
            CheckStatus::L4Ok => 6,
            CheckStatus::L4Timeout => 7,
            CheckStatus::L4Connection => 8,
            CheckStatus::L6Ok => 9,
            CheckStatus::L6Timeout => 10,
            CheckStatus::L6Response => 11,
            CheckStatus::L7Timeout => 12,
            CheckStatus::L7Response => 13,
            CheckStatus::L7Ok => 15,
            CheckStatus::L7OkCond => 16,
            CheckStatus::L7Status => 17,
            CheckStatus::ProcError => 18,
            CheckStatus::ProcTimeout => 19,
            CheckStatus::ProcOk => 20,
        }
    }

    /// The wording used as `reason:` in log lines (`Layer4 connection problem`...).
    pub fn description(self) -> &'static str {
        match self {
            CheckStatus::L4Ok => "Layer4 check passed",
            CheckStatus::L4Timeout => "Layer4 timeout",
            CheckStatus::L4Connection => "Layer4 connection problem",
            CheckStatus::L6Ok => "Layer6 check passed",
            CheckStatus::L6Timeout => "Layer6 timeout",
            CheckStatus::L6Response => "Layer6 invalid response",
            CheckStatus::L7Ok => "Layer7 check passed",
            CheckStatus::L7OkCond => "Layer7 check conditionally passed",
            CheckStatus::L7Timeout => "Layer7 timeout",
            CheckStatus::L7Response => "Layer7 invalid response",
            CheckStatus::L7Status => "Layer7 wrong status",
            CheckStatus::SocketError => "Socket error",
            CheckStatus::Hana => "Health analyze",
            CheckStatus::ProcError => "External check error",
            CheckStatus::ProcTimeout => "External check timeout",
            CheckStatus::ProcOk => "External check passed",
        }
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    /// What happened.
    pub status: CheckStatus,
    /// The HTTP status code, when a status line was read.
    pub code: Option<u16>,
    /// Detail for the log (`Connection refused`, the reason phrase...), printable ASCII only.
    pub info: Option<String>,
    /// From the start of the connection attempt to the verdict.
    pub duration: Duration,
}

/// Longest `info` kept from network input (a MySQL error message runs past 100 bytes).
pub const MAX_INFO_LEN: usize = 256;

impl CheckOutcome {
    /// An outcome with `status`, no code and no info.
    pub fn new(status: CheckStatus, duration: Duration) -> Self {
        CheckOutcome {
            status,
            code: None,
            info: None,
            duration,
        }
    }

    /// Sets the HTTP status code.
    pub fn with_code(mut self, code: u16) -> Self {
        self.code = Some(code);
        self
    }

    /// Sets the info text, keeping printable ASCII only and at most [`MAX_INFO_LEN`] bytes
    /// (it may come from the network). Empty text means no info.
    pub fn with_info(mut self, info: impl AsRef<[u8]>) -> Self {
        let clean: String = info
            .as_ref()
            .iter()
            .filter(|&&c| (0x20..0x7f).contains(&c) && c != b'"')
            .take(MAX_INFO_LEN)
            .map(|&c| char::from(c))
            .collect();
        let clean = clean.trim().to_owned();
        self.info = (!clean.is_empty()).then_some(clean);
        self
    }

    /// Whether the check passed.
    pub fn ok(&self) -> bool {
        self.status.passed()
    }

    /// The result to feed the [`crate::Tracker`].
    pub fn result(&self) -> CheckResult {
        if self.ok() {
            CheckResult::Passed
        } else {
            CheckResult::Failed
        }
    }

    /// The description used in log lines (`Layer7 wrong status`...).
    pub fn description(&self) -> &'static str {
        self.status.description()
    }

    /// The check duration in whole milliseconds, as logged.
    pub fn duration_ms(&self) -> u128 {
        self.duration.as_millis()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_is_sanitised() {
        let o = CheckOutcome::new(CheckStatus::L7Status, Duration::ZERO)
            .with_info(b"Service \"Unavailable\"\r\n\x00\xff");
        assert_eq!(o.info.as_deref(), Some("Service Unavailable"));
        let long = CheckOutcome::new(CheckStatus::L7Status, Duration::ZERO).with_info([b'a'; 400]);
        assert_eq!(long.info.unwrap().len(), MAX_INFO_LEN);
        let empty = CheckOutcome::new(CheckStatus::L7Status, Duration::ZERO).with_info(" ");
        assert_eq!(empty.info, None);
    }

    #[test]
    fn statuses() {
        assert!(CheckStatus::L4Ok.passed() && CheckStatus::L7Ok.passed());
        assert!(!CheckStatus::L7Status.passed());
        assert_eq!(CheckStatus::L4Connection.code(), "L4CON");
        assert_eq!(CheckStatus::L7Timeout.to_string(), "Layer7 timeout");
        let o = CheckOutcome::new(CheckStatus::L4Ok, Duration::from_micros(1500));
        assert_eq!(o.result(), CheckResult::Passed);
        assert_eq!(o.duration_ms(), 1);
        assert_eq!(o.description(), "Layer4 check passed");
    }
}
