//! A server's admin state (READY, DRAIN, MAINT) changed by an operator, from the runtime API or the stats page's
//! admin form: the flags set, the backend's table rebuilt and the change logged in HAProxy's words.

use std::sync::atomic::Ordering;

use fulcrum_admin::runtime::AdminState;
use tracing::warn;

use crate::model::server::ServerRt;
use crate::model::snapshot::BackendRt;

/// The admin flags that put `s` in `state`.
pub fn admin_flags(s: &ServerRt, state: AdminState) -> u8 {
    // Maintenance from the configuration and from resolution stay whatever the operator sets.
    let keep = s.admin() & (ServerRt::ADMIN_CMAINT | ServerRt::ADMIN_RMAINT);
    match state {
        AdminState::Ready => keep,
        AdminState::Drain => keep | ServerRt::ADMIN_FDRAIN,
        // Entering maintenance ends a drain (HAProxy does the same).
        AdminState::Maint => (s.admin() & !ServerRt::ADMIN_FDRAIN) | ServerRt::ADMIN_FMAINT,
    }
}

/// Changes a server's admin state (READY/DRAIN/MAINT flags), rebuilds its backend's farm and logs the change in
/// HAProxy's words; shared by the runtime API and the stats page's admin form.
pub fn apply_admin(be: &BackendRt, s: &ServerRt, flags: u8) {
    let before = s.admin();
    if before == flags {
        if flags & ServerRt::ADMIN_FDRAIN != 0 && flags & ServerRt::ADMIN_FMAINT == 0 {
            warn!("{} remains in forced drain mode.", who(s));
        }
        return;
    }
    s.set_admin(flags);
    be.rebuild_farm();
    let was_maint = before & ServerRt::ADMIN_FMAINT != 0;
    let was_drain = before & ServerRt::ADMIN_FDRAIN != 0;
    let maint = flags & ServerRt::ADMIN_FMAINT != 0;
    let drain = flags & ServerRt::ADMIN_FDRAIN != 0;
    let (active, backup) = usable(be);
    let up = s.is_checked_up();
    let line = if maint && !was_maint {
        if up {
            format!(
                "{} is going DOWN for maintenance. {active} active and {backup} backup servers left. {} sessions active, 0 requeued, 0 remaining in queue.",
                who(s),
                s.cur.load(Ordering::Relaxed)
            )
        } else {
            format!("{} was DOWN and now enters maintenance.", who(s))
        }
    } else if was_maint && !maint {
        let state = match (up, drain) {
            (false, _) => "DOWN",
            (true, true) => "UP/DRAIN",
            (true, false) => "UP/READY",
        };
        format!("{} is {state} (leaving forced maintenance).", who(s))
    } else if drain && !was_drain {
        format!(
            "{} enters drain state. {active} active and {backup} backup servers online. 0 sessions requeued, 0 total in queue.",
            who(s)
        )
    } else if was_drain && !drain {
        format!("{} is UP (leaving forced drain).", who(s))
    } else {
        return;
    };
    warn!("{line}");
    // Also to the backend's `log` targets, at HAProxy's levels (alert for a server going down).
    let level = if maint && !was_maint && up {
        crate::model::log::syslog::ALERT
    } else {
        crate::model::log::syslog::NOTICE
    };
    be.log_event(level, &line);
    if active == 0 && backup == 0 {
        let line = fulcrum_health::no_server_available_line(&be.name);
        tracing::error!("{line}");
        be.log_event(crate::model::log::syslog::EMERG, &line);
    }
}

/// `Server app/s1` or `Backup Server app/s1`, as HAProxy starts its state messages.
pub(crate) fn who(s: &ServerRt) -> String {
    let kind = if s.config.backup {
        "Backup Server"
    } else {
        "Server"
    };
    format!("{kind} {}", s.full_name)
}

/// (active, backup) servers that can take new traffic: up, not in maintenance, weight above 0.
pub(crate) fn usable(be: &BackendRt) -> (usize, usize) {
    let n = |backup: bool| {
        be.servers
            .iter()
            .filter(|s| s.config.backup == backup && s.is_up() && s.weight() > 0)
            .count()
    };
    (n(false), n(true))
}
