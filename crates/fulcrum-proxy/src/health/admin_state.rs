//! A server's admin state (READY, DRAIN, MAINT) changed by an operator, from the runtime API or the stats page's
//! admin form: the flags set, the backend's table rebuilt and the change logged in HAProxy's words.

use std::sync::atomic::Ordering;

use fulcrum_admin::runtime::AdminState;
use tracing::warn;

use crate::model::server::ServerRt;
use crate::model::snapshot::BackendRt;

/// The admin flags that put `s` in `state`.
pub fn admin_flags(s: &ServerRt, state: AdminState) -> u8 {
    // Maintenance from the configuration and from resolution, and what is inherited from a tracked server, stay
    // whatever the operator sets.
    let keep = s.admin()
        & (ServerRt::ADMIN_CMAINT
            | ServerRt::ADMIN_RMAINT
            | ServerRt::ADMIN_NOADDR
            | ServerRt::ADMIN_IMAINT
            | ServerRt::ADMIN_IDRAIN);
    match state {
        AdminState::Ready => keep,
        AdminState::Drain => keep | ServerRt::ADMIN_FDRAIN,
        // Entering maintenance ends a forced drain (HAProxy does the same).
        AdminState::Maint => (s.admin() & !ServerRt::ADMIN_FDRAIN) | ServerRt::ADMIN_FMAINT,
    }
}

/// Changes a server's admin state (READY/DRAIN/MAINT flags), rebuilds its backend's farm and logs the change in
/// HAProxy's words; shared by the runtime API and the stats page's admin form. The servers tracking it (`track`)
/// inherit its maintenance and drain, down the chain, as HAProxy's do.
pub fn apply_admin(be: &BackendRt, s: &ServerRt, flags: u8) {
    if change(be, s, flags, None) {
        inherit(be, s, 0);
    }
}

/// Passes `s`'s maintenance and drain on to the servers tracking it, and theirs to their trackers, each change
/// logged as HAProxy logs it.
fn inherit(be: &BackendRt, s: &ServerRt, depth: usize) {
    // The configuration refuses loops; the bound only guards against a deep chain.
    if depth > 64 {
        return;
    }
    for (tbe, t) in be.trackers_of(s) {
        if change(&tbe, &t, s.flags_for_tracker(&t), Some(s)) {
            inherit(&tbe, &t, depth + 1);
        }
    }
}

/// Sets `flags` on `s`, rebuilds the farm and logs the visible change; `via`: the tracked server the change comes
/// from. False when nothing changed.
fn change(be: &BackendRt, s: &ServerRt, flags: u8, via: Option<&ServerRt>) -> bool {
    let before = s.admin();
    if before == flags {
        if via.is_none()
            && flags & ServerRt::ADMIN_FDRAIN != 0
            && flags & ServerRt::ADMIN_MAINT == 0
        {
            warn!("{} remains in forced drain mode.", who(s));
        }
        return false;
    }
    let (active0, backup0) = usable(be);
    s.set_admin(flags);
    be.rebuild_farm();
    let was_maint = before & ServerRt::ADMIN_MAINT != 0;
    let was_drain = before & ServerRt::ADMIN_DRAIN != 0;
    let maint = flags & ServerRt::ADMIN_MAINT != 0;
    let drain = flags & ServerRt::ADMIN_DRAIN != 0;
    let (active, backup) = usable(be);
    let up = s.is_checked_up();
    let via_name = via
        .map(|v| format!(" via {}", v.full_name))
        .unwrap_or_default();
    let mut lines = Vec::new();
    if maint && !was_maint {
        lines.push(if up {
            format!(
                "{} is going DOWN for maintenance{via_name}. {active} active and {backup} backup servers left. {} sessions active, 0 requeued, 0 remaining in queue.",
                who(s),
                s.cur.load(Ordering::Relaxed)
            )
        } else {
            format!("{} was DOWN and now enters maintenance{via_name}.", who(s))
        });
    } else if was_maint && !maint {
        let state = match (up, drain) {
            (false, _) => "DOWN",
            (true, true) => "UP/DRAIN",
            (true, false) => "UP/READY",
        };
        let forced = if via.is_none() { "forced " } else { "" };
        lines.push(format!(
            "{} is {state} (leaving {forced}maintenance).",
            who(s)
        ));
        // Still draining: HAProxy says why.
        if flags & ServerRt::ADMIN_FDRAIN != 0 {
            lines.push(format!("{} remains in forced drain mode.", who(s)));
        } else if drain {
            if let Some((tb, ts)) = &s.config.track {
                lines.push(format!(
                    "{} is leaving forced drain but remains in drain mode via {tb}/{ts}.",
                    who(s)
                ));
            }
        }
    } else if drain && !was_drain && !maint {
        lines.push(format!(
            "{} enters drain state{via_name}. {active} active and {backup} backup servers online. 0 sessions requeued, 0 total in queue.",
            who(s)
        ));
    } else if was_drain && !drain && !maint {
        let state = if up { "UP" } else { "DOWN" };
        lines.push(format!("{} is {state} (leaving forced drain).", who(s)));
    }
    // To the backend's `log` targets too, at HAProxy's levels (alert for a server going down).
    let level = if maint && !was_maint && up {
        crate::model::log::syslog::ALERT
    } else {
        crate::model::log::syslog::NOTICE
    };
    for line in &lines {
        warn!("{line}");
        be.log_event(level, line);
    }
    if active == 0 && backup == 0 && active0 + backup0 > 0 {
        let line = fulcrum_health::no_server_available_line(
            &be.name,
            be.config.kind == fulcrum_config::haproxy::ProxyKind::Listen,
        );
        tracing::error!("{line}");
        be.log_event(crate::model::log::syslog::EMERG, &line);
    }
    true
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
