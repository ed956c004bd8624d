//! The stopping state (`NOLB` in the stats) that a check enters by passing "conditionally" (`L7OKC`): the server
//! keeps its persistent clients but takes no new traffic, until a check passes outright (back to UP) or fails it
//! DOWN.
//!
//! Two ways lead there, as in HAProxy. `http-check disable-on-404`: a server whose HTTP check answers 404 while it
//! is UP is being taken out of service by its operators; a 404 to a server that is DOWN is a failed check
//! (`Layer7 wrong status`), so a server cannot come UP by answering 404. And a rule's `ok-status L7OKC`
//! (`tcp-check expect` / `http-check expect`): that verdict counts as a passed check for `rise`, so a DOWN server
//! reaching `rise` with it goes straight to stopping (haproxy 2.6 logs `is stopping`, never `is UP`).

use std::sync::Arc;

use fulcrum_health::{CheckOutcome, CheckStatus};
use tracing::warn;

use crate::model::server::ServerRt;
use crate::model::snapshot::BackendRt;

/// The verdict of a check under `disable-on-404`: a 404 answered to a server the checks see `up` passes
/// conditionally; anything else stands.
pub(super) fn judge(outcome: CheckOutcome, up: bool) -> CheckOutcome {
    if up && outcome.status == CheckStatus::L7Status && outcome.code == Some(404) {
        CheckOutcome {
            status: CheckStatus::L7OkCond,
            info: None,
            ..outcome
        }
    } else {
        outcome
    }
}

/// After a check's verdict was applied: enters or leaves the stopping state, rebuilds the farm and logs the change
/// in HAProxy's words (`Server B/S is stopping. ...`, then `Server B/S is UP. ...` when a check passes outright).
/// A failed check changes nothing until it takes the server DOWN, which ends the stopping state silently (the
/// DOWN line was logged).
pub(super) fn follow(be: &Arc<BackendRt>, server: &Arc<ServerRt>, outcome: &CheckOutcome) {
    let up = server.is_checked_up();
    let stopping = match outcome.status {
        _ if !up => false,
        CheckStatus::L7OkCond => true,
        _ if outcome.ok() => false,
        _ => return,
    };
    if !server.set_stopping(stopping) {
        return;
    }
    be.rebuild_farm();
    if up {
        announce(be, server, stopping, true);
    }
}

/// Logs that an UP server entered or left the stopping state (`Server B/S is stopping. ...` / `is UP. ...`), and,
/// when it was `usable` before, that the backend has no usable server left when it was the last one.
pub(super) fn announce(be: &BackendRt, server: &ServerRt, stopping: bool, usable: bool) {
    let (active, backups) = be.servers_up();
    be.stats.state.set(active + backups > 0);
    let line = format!(
        "{}erver {} is {}. {active} active and {backups} backup servers online. 0 sessions requeued, 0 total in queue.",
        if server.config.backup { "Backup S" } else { "S" },
        server.full_name,
        if stopping { "stopping" } else { "UP" },
    );
    warn!("{line}");
    be.log_event(crate::model::log::syslog::NOTICE, &line);
    // The server was usable before it stopped: it may have been the last one.
    if stopping && usable && active == 0 && backups == 0 {
        let line = fulcrum_health::no_server_available_line(
            &be.name,
            be.config.kind == fulcrum_config::haproxy::ProxyKind::Listen,
        );
        tracing::error!("{line}");
        be.log_event(crate::model::log::syslog::EMERG, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_404_passes_conditionally_only_on_an_up_server() {
        let not_found = CheckOutcome::new(CheckStatus::L7Status, Duration::from_millis(3))
            .with_code(404)
            .with_info("Not Found");
        let cond = judge(not_found.clone(), true);
        assert_eq!(
            (cond.status, cond.code, cond.info.as_deref(), cond.duration),
            (
                CheckStatus::L7OkCond,
                Some(404),
                None,
                Duration::from_millis(3)
            )
        );
        assert!(cond.ok());
        assert_eq!(judge(not_found.clone(), false), not_found);
        let error = CheckOutcome::new(CheckStatus::L7Status, Duration::ZERO).with_code(500);
        assert_eq!(judge(error.clone(), true), error);
        let ok = CheckOutcome::new(CheckStatus::L7Ok, Duration::ZERO).with_code(200);
        assert_eq!(judge(ok.clone(), true), ok);
    }
}
