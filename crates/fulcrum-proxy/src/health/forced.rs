//! Verdicts forced on the runtime API: `set server B/S health up|stopping|down` stands for the checks' verdict
//! (their counting goes on from it), `set server B/S agent up|down` for the agent's. The server's state follows
//! at once, logged as haproxy 2.6 logs it (`Server B/S is DOWN, changed from CLI. ...`).

use std::sync::Arc;

use fulcrum_admin::runtime::ForcedHealth;
use tracing::warn;

use crate::health::admin_state::who;
use crate::model::server::ServerRt;
use crate::model::snapshot::BackendRt;

/// The server's operational state as the logs name it: down, up or stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Down,
    Up,
    Stopping,
}

fn op(s: &ServerRt) -> Op {
    match (s.is_checked_up(), s.is_stopping()) {
        (false, _) => Op::Down,
        (true, false) => Op::Up,
        (true, true) => Op::Stopping,
    }
}

/// `set server ... health up|stopping|down`.
pub(crate) fn health(be: &Arc<BackendRt>, s: &Arc<ServerRt>, forced: ForcedHealth) {
    let before = op(s);
    let up = forced != ForcedHealth::Down;
    s.set_up(up);
    s.set_stopping(forced == ForcedHealth::Stopping);
    s.force_health(up);
    // As the checks' loop will count from: full, or none.
    let c = &s.config;
    s.stats.check.set_health(if up {
        c.rise.max(1) + c.fall.max(1) - 1
    } else {
        0
    });
    follow(be, s, before);
}

/// `set server ... agent up|down`.
pub(crate) fn agent(be: &Arc<BackendRt>, s: &Arc<ServerRt>, up: bool) {
    let before = op(s);
    s.set_agent_up(up);
    follow(be, s, before);
}

/// Rebuilds the farm and logs the change of state, if there is one.
fn follow(be: &Arc<BackendRt>, s: &Arc<ServerRt>, before: Op) {
    be.rebuild_farm();
    let after = op(s);
    if after == before || s.in_maint() {
        return;
    }
    let (active, backups) = be.servers_up();
    be.stats.state.set(active + backups > 0);
    let line = match after {
        Op::Down => format!(
            "{} is DOWN, changed from CLI. {active} active and {backups} backup servers left. {} sessions active, 0 requeued, 0 remaining in queue.",
            who(s),
            s.cur.load(std::sync::atomic::Ordering::Relaxed)
        ),
        Op::Up | Op::Stopping => format!(
            "{} is {}, changed from CLI. {active} active and {backups} backup servers online. 0 sessions requeued, 0 total in queue.",
            who(s),
            if after == Op::Up { "UP" } else { "stopping" }
        ),
    };
    warn!("{line}");
    let level = if after == Op::Down {
        crate::model::log::syslog::ALERT
    } else {
        crate::model::log::syslog::NOTICE
    };
    be.log_event(level, &line);
    crate::health::observe::on_marked(be, s, after != Op::Down);
    // The last usable server gone.
    if before == Op::Up && active == 0 && backups == 0 {
        let line = fulcrum_health::no_server_available_line(
            &be.name,
            be.config.kind == fulcrum_config::haproxy::ProxyKind::Listen,
        );
        tracing::error!("{line}");
        be.log_event(crate::model::log::syslog::EMERG, &line);
    }
}
