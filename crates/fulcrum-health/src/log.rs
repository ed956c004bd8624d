//! HAProxy-worded log lines for server state changes, as HAProxy 2.6 prints them.

use std::fmt::Write;

use crate::outcome::{CheckOutcome, CheckStatus};
use crate::tracker::Transition;

/// The backend's situation after a state change, for the tail of the log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogContext {
    /// Whether the server is a `backup` server (the line then starts with `Backup Server`).
    pub backup: bool,
    /// Usable active servers after the change.
    pub active: usize,
    /// Usable backup servers after the change.
    pub backups: usize,
    /// Sessions still on the server (DOWN lines).
    pub sessions_active: u64,
    /// Sessions moved to other servers.
    pub requeued: u64,
    /// Requests waiting in queues.
    pub queued: u64,
    /// `option log-health-checks` already logged the check that caused the change: HAProxy then leaves the
    /// reason out (`Server app/s2 is DOWN. 0 active and ...`).
    pub check_logged: bool,
}

/// The line HAProxy logs when a check changes a server's state, e.g.
///
/// `Server app/s2 is DOWN, reason: Layer4 connection problem, info: "Connection refused", check
/// duration: 0ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining
/// in queue.`
pub fn haproxy_log_line(
    backend: &str,
    server: &str,
    transition: Transition,
    outcome: &CheckOutcome,
    ctx: &LogContext,
) -> String {
    let mut line = String::with_capacity(200);
    let who = if ctx.backup {
        "Backup Server"
    } else {
        "Server"
    };
    let state = match transition {
        Transition::Up => "UP",
        Transition::Down => "DOWN",
    };
    // Writing to a String cannot fail.
    let _ = write!(line, "{who} {backend}/{server} is {state}");
    if ctx.check_logged {
        line.push_str(". ");
    } else {
        let _ = write!(line, ", reason: {}", outcome.description());
        if let Some(code) = outcome.code {
            let _ = write!(line, ", code: {code}");
        }
        if let Some(info) = &outcome.info {
            let _ = write!(line, ", info: \"{info}\"");
        }
        // A verdict drawn from the traffic (`observe`) took no time of its own.
        if outcome.status == CheckStatus::Hana {
            line.push_str(". ");
        } else {
            let _ = write!(line, ", check duration: {}ms. ", outcome.duration_ms());
        }
    }
    let verb = match transition {
        Transition::Up => "online",
        Transition::Down => "left",
    };
    let _ = write!(
        line,
        "{} active and {} backup servers {verb}.",
        ctx.active, ctx.backups
    );
    if ctx.active == 0 && ctx.backups > 0 {
        line.push_str(" Running on backup.");
    }
    let _ = match transition {
        Transition::Down => write!(
            line,
            " {} sessions active, {} requeued, {} remaining in queue.",
            ctx.sessions_active, ctx.requeued, ctx.queued
        ),
        Transition::Up => write!(
            line,
            " {} sessions requeued, {} total in queue.",
            ctx.requeued, ctx.queued
        ),
    };
    line
}

/// Where a server's health counter stands, for [`health_check_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckProgress {
    /// Progress shown before the slash ([`crate::Tracker::log_status`]).
    pub step: u32,
    /// Out of.
    pub of: u32,
    /// Whether the counter says UP.
    pub up: bool,
    /// The server's weight is 0: an UP server shows `DRAIN`.
    pub drain: bool,
}

/// The line `option log-health-checks` logs when a check's status or the health counter changed, e.g.
///
/// `Health check for server be1/srv1 succeeded, reason: Layer4 check passed, check duration: 0ms, status: 1/1 UP.`
pub fn health_check_line(
    backend: &str,
    server: &str,
    backup: bool,
    outcome: &CheckOutcome,
    progress: CheckProgress,
) -> String {
    check_line("Health", backend, server, backup, outcome, progress)
}

/// The line `option log-health-checks` logs when an agent check's status changed, e.g.
///
/// `Agent check for server be1/srv failed, reason: Layer7 wrong status, code: 0, info: "via agent : down", check duration: 0ms, status: 0/1 DOWN.`
pub fn agent_check_line(
    backend: &str,
    server: &str,
    backup: bool,
    outcome: &CheckOutcome,
    progress: CheckProgress,
) -> String {
    check_line("Agent", backend, server, backup, outcome, progress)
}

fn check_line(
    kind: &str,
    backend: &str,
    server: &str,
    backup: bool,
    outcome: &CheckOutcome,
    progress: CheckProgress,
) -> String {
    let mut line = String::with_capacity(160);
    let verdict = match outcome.status {
        CheckStatus::L7OkCond => "conditionally succeeded",
        _ if outcome.ok() => "succeeded",
        _ => "failed",
    };
    let backup = if backup { "backup " } else { "" };
    // Writing to a String cannot fail.
    let _ = write!(
        line,
        "{kind} check for {backup}server {backend}/{server} {verdict}, reason: {}",
        outcome.description()
    );
    if let Some(code) = outcome.code {
        let _ = write!(line, ", code: {code}");
    }
    if let Some(info) = &outcome.info {
        let _ = write!(line, ", info: \"{info}\"");
    }
    let state = match (progress.up, progress.drain) {
        (false, _) => "DOWN",
        (true, true) => "DRAIN",
        (true, false) => "UP",
    };
    let _ = write!(
        line,
        ", check duration: {}ms, status: {}/{} {state}.",
        outcome.duration_ms(),
        progress.step,
        progress.of
    );
    line
}

/// The alert HAProxy logs when a backend has no usable server left; a `listen` section is named a `proxy`
/// there (`listen` true), as haproxy 2.6 names it.
pub fn no_server_available_line(backend: &str, listen: bool) -> String {
    let kind = if listen { "proxy" } else { "backend" };
    format!("{kind} {backend} has no server available!")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::outcome::CheckStatus;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    // Every expected line below was observed verbatim in HAProxy 2.6.12's log.

    #[test]
    fn down_connection_refused() {
        let o = CheckOutcome::new(CheckStatus::L4Connection, ms(0)).with_info("Connection refused");
        let ctx = LogContext {
            active: 4,
            backups: 1,
            ..LogContext::default()
        };
        assert_eq!(
            haproxy_log_line("app", "s2", Transition::Down, &o, &ctx),
            "Server app/s2 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms. 4 active and 1 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
    }

    #[test]
    fn down_by_health_analyze_has_no_check_duration() {
        // As HAProxy 2.6 logs a server that `observe layer4 ... on-error mark-down` took down.
        let o = CheckOutcome::new(CheckStatus::Hana, ms(0))
            .with_info("Detected 3 consecutive errors, last one was: L4 unsuccessful connection");
        let ctx = LogContext {
            sessions_active: 1,
            ..LogContext::default()
        };
        assert_eq!(
            haproxy_log_line("b", "s2", Transition::Down, &o, &ctx),
            "Server b/s2 is DOWN, reason: Health analyze, info: \"Detected 3 consecutive errors, last one was: L4 unsuccessful connection\". 0 active and 0 backup servers left. 1 sessions active, 0 requeued, 0 remaining in queue."
        );
    }

    #[test]
    fn down_wrong_status() {
        let o = CheckOutcome::new(CheckStatus::L7Status, ms(0))
            .with_code(503)
            .with_info("Service Unavailable");
        let ctx = LogContext {
            active: 3,
            backups: 1,
            ..LogContext::default()
        };
        assert_eq!(
            haproxy_log_line("app", "s3", Transition::Down, &o, &ctx),
            "Server app/s3 is DOWN, reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\", check duration: 0ms. 3 active and 1 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
    }

    #[test]
    fn down_invalid_timeout_and_mismatch() {
        let ctx = LogContext {
            active: 2,
            backups: 1,
            ..LogContext::default()
        };
        let o = CheckOutcome::new(CheckStatus::L7Response, ms(2));
        assert_eq!(
            haproxy_log_line("app", "s4", Transition::Down, &o, &ctx),
            "Server app/s4 is DOWN, reason: Layer7 invalid response, check duration: 2ms. 2 active and 1 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        let t = CheckOutcome::new(CheckStatus::L7Timeout, ms(1001));
        let ctx1 = LogContext {
            active: 1,
            backups: 1,
            ..LogContext::default()
        };
        assert_eq!(
            haproxy_log_line("app", "s5", Transition::Down, &t, &ctx1),
            "Server app/s5 is DOWN, reason: Layer7 timeout, check duration: 1001ms. 1 active and 1 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        let m = CheckOutcome::new(CheckStatus::L7Response, ms(1))
            .with_info("HTTP content check did not match");
        assert_eq!(
            haproxy_log_line("strb", "x1", Transition::Down, &m, &LogContext::default()),
            "Server strb/x1 is DOWN, reason: Layer7 invalid response, info: \"HTTP content check did not match\", check duration: 1ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        let l4 = CheckOutcome::new(CheckStatus::L4Timeout, ms(501));
        assert_eq!(
            haproxy_log_line("l4", "f1", Transition::Down, &l4, &LogContext::default()),
            "Server l4/f1 is DOWN, reason: Layer4 timeout, check duration: 501ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
    }

    #[test]
    fn up_lines() {
        let o = CheckOutcome::new(CheckStatus::L7Ok, ms(1)).with_code(200);
        let ctx = LogContext {
            active: 2,
            ..LogContext::default()
        };
        assert_eq!(
            haproxy_log_line("app", "s2", Transition::Up, &o, &ctx),
            "Server app/s2 is UP, reason: Layer7 check passed, code: 200, check duration: 1ms. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
        );
        let l4 = CheckOutcome::new(CheckStatus::L4Ok, ms(0));
        let ctx = LogContext {
            active: 3,
            ..LogContext::default()
        };
        assert_eq!(
            haproxy_log_line("tcpb", "t2", Transition::Up, &l4, &ctx),
            "Server tcpb/t2 is UP, reason: Layer4 check passed, check duration: 0ms. 3 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
        );
    }

    #[test]
    fn health_check_lines() {
        let up = CheckProgress {
            step: 1,
            of: 1,
            up: true,
            drain: false,
        };
        let ok = CheckOutcome::new(CheckStatus::L4Ok, ms(0));
        assert_eq!(
            health_check_line("be1", "srv1", false, &ok, up),
            "Health check for server be1/srv1 succeeded, reason: Layer4 check passed, check duration: 0ms, status: 1/1 UP."
        );
        let http = CheckOutcome::new(CheckStatus::L7Ok, ms(1)).with_code(200);
        assert_eq!(
            health_check_line("be2", "srv", true, &http, CheckProgress { drain: true, ..up }),
            "Health check for backup server be2/srv succeeded, reason: Layer7 check passed, code: 200, check duration: 1ms, status: 1/1 DRAIN."
        );
        let refused =
            CheckOutcome::new(CheckStatus::L4Connection, ms(0)).with_info("Connection refused");
        let down = CheckProgress {
            step: 0,
            of: 2,
            up: false,
            drain: false,
        };
        assert_eq!(
            health_check_line("be4", "srv4", false, &refused, down),
            "Health check for server be4/srv4 failed, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms, status: 0/2 DOWN."
        );
    }

    #[test]
    fn backup_lines() {
        let refused =
            CheckOutcome::new(CheckStatus::L4Connection, ms(0)).with_info("Connection refused");
        let active_down = LogContext {
            active: 0,
            backups: 1,
            ..LogContext::default()
        };
        assert_eq!(
            haproxy_log_line("m", "m1", Transition::Down, &refused, &active_down),
            "Server m/m1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms. 0 active and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        let ok = CheckOutcome::new(CheckStatus::L7Ok, ms(0)).with_code(200);
        let backup_up = LogContext {
            backup: true,
            active: 0,
            backups: 1,
            ..LogContext::default()
        };
        assert_eq!(
            haproxy_log_line("m", "mb", Transition::Up, &ok, &backup_up),
            "Backup Server m/mb is UP, reason: Layer7 check passed, code: 200, check duration: 0ms. 0 active and 1 backup servers online. Running on backup. 0 sessions requeued, 0 total in queue."
        );
        assert_eq!(
            no_server_available_line("m", false),
            "backend m has no server available!"
        );
        assert_eq!(
            no_server_available_line("m", true),
            "proxy m has no server available!"
        );
    }

    #[test]
    fn agent_and_protocol_lines() {
        let down = CheckOutcome::new(CheckStatus::L7Status, ms(0))
            .with_code(0)
            .with_info("via agent : down");
        let progress = CheckProgress {
            step: 0,
            of: 1,
            up: false,
            drain: false,
        };
        assert_eq!(
            agent_check_line("be1", "srv", false, &down, progress),
            "Agent check for server be1/srv failed, reason: Layer7 wrong status, code: 0, info: \"via agent : down\", check duration: 0ms, status: 0/1 DOWN."
        );
        let redis = CheckOutcome::new(CheckStatus::L7Ok, ms(0))
            .with_code(0)
            .with_info("Redis server is ok");
        let up = CheckProgress {
            step: 1,
            of: 1,
            up: true,
            drain: false,
        };
        assert_eq!(
            health_check_line("be1", "srv", false, &redis, up),
            "Health check for server be1/srv succeeded, reason: Layer7 check passed, code: 0, info: \"Redis server is ok\", check duration: 0ms, status: 1/1 UP."
        );
    }

    #[test]
    fn lines_after_a_logged_check_leave_the_reason_out() {
        let o = CheckOutcome::new(CheckStatus::L7Timeout, ms(301));
        let down = LogContext {
            check_logged: true,
            ..LogContext::default()
        };
        assert_eq!(
            haproxy_log_line("be1", "srv", Transition::Down, &o, &down),
            "Server be1/srv is DOWN. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        let ok = CheckOutcome::new(CheckStatus::L7Ok, ms(0)).with_code(0);
        let up = LogContext {
            active: 1,
            check_logged: true,
            ..LogContext::default()
        };
        assert_eq!(
            haproxy_log_line("be1", "srv", Transition::Up, &ok, &up),
            "Server be1/srv is UP. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
        );
    }
}
