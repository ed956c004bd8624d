//! Active health checks. One thread runs a check loop per server with `check`; a state change flips the
//! server's `up` flag, rebuilds its backend's balancing table and is logged in HAProxy's words. A server with
//! `slowstart` that comes back UP ramps up: the table is rebuilt at every step of the ramp until full weight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info_span, warn, Instrument};

use fulcrum_config::haproxy::HttpExpect;
use fulcrum_health::{CheckOutcome, Expect, HttpCheck, LogContext, Tracker, Transition};

use crate::snapshot::{BackendRt, ServerRt, Snapshot};

/// Default `timeout check` when neither it nor `timeout connect` is set: the check interval.
fn check_timeout(be: &BackendRt, server: &ServerRt) -> Duration {
    // HAProxy: `timeout connect` bounds the connection, `timeout check` (if set) the reply; without either,
    // the interval bounds the whole check.
    let t = &be.timeouts;
    match (t.connect, t.check) {
        (Some(c), Some(k)) => c + k,
        (Some(c), None) => c,
        (None, Some(k)) => k,
        (None, None) => server.config.inter,
    }
}

/// Starts the health-check thread when at least one server has `check`.
pub fn spawn(
    snapshot: Arc<Snapshot>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<Option<JoinHandle<()>>> {
    let checked: Vec<(Arc<BackendRt>, Arc<ServerRt>)> = snapshot
        .backends
        .iter()
        .flat_map(|be| {
            be.servers
                .iter()
                // Servers in maintenance (`disabled`) get a loop too: it probes once they leave maintenance.
                .filter(|s| s.config.check)
                .map(move |s| (be.clone(), s.clone()))
        })
        .collect();
    if checked.is_empty() {
        return Ok(None);
    }
    let handle = std::thread::Builder::new()
        .name("fulcrum-health".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                warn!("health checks: cannot start their runtime");
                return;
            };
            rt.block_on(async move {
                let mut tasks = tokio::task::JoinSet::new();
                for (be, server) in checked {
                    let span = info_span!("check", server = %server.full_name);
                    tasks.spawn(check_loop(be, server).instrument(span));
                }
                let mut stop = stop;
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
                tasks.abort_all();
            });
        })?;
    Ok(Some(handle))
}

fn probe_for(be: &BackendRt) -> Option<HttpCheck> {
    let chk = be.config.httpchk.as_ref()?;
    let expect = match &be.config.http_expect {
        Some(HttpExpect::Status(code)) => Expect::Status(*code),
        Some(HttpExpect::String(s)) => Expect::String(s.clone()),
        // A regular expression on the status is not evaluated yet: any 2xx/3xx passes, as without `expect`.
        Some(HttpExpect::RStatus(_)) | None => Expect::Default,
    };
    match HttpCheck::new(
        &chk.method,
        &chk.uri,
        &chk.version,
        &chk.headers,
        chk.body.as_deref(),
        expect,
    ) {
        Ok(c) => Some(c),
        Err(e) => {
            warn!(backend = %be.name, error = %e, "invalid httpchk request; using the default OPTIONS check");
            Some(HttpCheck::options_default())
        }
    }
}

async fn run_probe(addr: SocketAddr, probe: Option<&HttpCheck>, timeout: Duration) -> CheckOutcome {
    match probe {
        Some(p) => fulcrum_health::http_check(addr, p, timeout).await,
        None => fulcrum_health::tcp_check(addr, timeout).await,
    }
}

/// How often the farm is rebuilt while a server ramps up over `period`.
fn ramp_step(period: Duration) -> Duration {
    (period / crate::select::RAMP_STEPS).max(Duration::from_millis(100))
}

/// Rebuilds the backend's farm at every step of the `slowstart` ramp stamped `stamp`, until the server runs at
/// full weight; stops early when the server goes down or a newer ramp starts.
async fn slowstart_ramp(be: Arc<BackendRt>, server: Arc<ServerRt>, stamp: u64) {
    let Some(period) = server.config.slowstart else {
        return;
    };
    let step = ramp_step(period);
    loop {
        tokio::time::sleep(step).await;
        if server.slowstart_stamp() != stamp || !server.is_up() {
            return;
        }
        let done = server.slowstart_progress(Instant::now()).is_none();
        if done {
            server.end_slowstart(Some(stamp));
        }
        be.rebuild_farm();
        if done {
            tracing::debug!("slowstart over: full weight");
            return;
        }
    }
}

/// The checks of one server, until it is deleted (`del server`) or the task is dropped.
pub(crate) async fn check_loop(be: Arc<BackendRt>, server: Arc<ServerRt>) {
    let c = &server.config;
    let mut tracker = Tracker::new(c.rise, c.fall, c.inter, c.fastinter, c.downinter, true);
    let target = SocketAddr::new(
        c.check_addr.unwrap_or(server.addr.ip()),
        c.check_port.unwrap_or(server.addr.port()),
    );
    let probe = probe_for(&be);
    let timeout = check_timeout(&be, &server);
    // Spread the first checks over the interval so that servers are not all probed at once.
    let offset = c.inter.as_millis() as u64 * (server.index as u64 % 8) / 8;
    tokio::time::sleep(Duration::from_millis(offset)).await;
    // The status of the previous check (`None` before the first): `option log-health-checks` logs a check whose
    // status differs from it, or that moved the health counter.
    let mut last_status = None;
    loop {
        if server.is_deleted() {
            return;
        }
        // In maintenance, or after `disable health` on the runtime API, the checks leave the state alone.
        let paused = || server.in_maint() || server.checks_frozen();
        if paused() {
            tokio::time::sleep(c.inter).await;
            continue;
        }
        let outcome = run_probe(target, probe.as_ref(), timeout).await;
        server.stats.check.record(&outcome);
        if paused() {
            continue;
        }
        let health_before = tracker.health();
        let transition = tracker.record(outcome.result());
        if be.config.log_health_checks
            && (last_status != Some(outcome.status) || tracker.health() != health_before)
        {
            log_check(&be, &server, &tracker, &outcome);
        }
        last_status = Some(outcome.status);
        if let Some(transition) = transition {
            let up = transition == Transition::Up;
            // A server coming back UP ramps up over `slowstart` (a DOWN one ends any ramp in progress).
            let ramp = if up {
                server.begin_slowstart(Instant::now())
            } else {
                server.end_slowstart(None);
                None
            };
            server.set_up(up);
            be.rebuild_farm();
            if let Some(stamp) =
                ramp.filter(|_| crate::select::is_dynamic(&be.balance, be.hash_type))
            {
                tokio::spawn(slowstart_ramp(be.clone(), server.clone(), stamp).in_current_span());
            }
            let (active, backups) = be.servers_up();
            be.stats.state.set(active + backups > 0);
            let ctx = LogContext {
                backup: server.config.backup,
                active,
                backups,
                sessions_active: u64::from(server.cur.load(std::sync::atomic::Ordering::Relaxed)),
                requeued: 0,
                queued: 0,
            };
            let line = fulcrum_health::haproxy_log_line(
                &be.name,
                &server.config.name,
                transition,
                &outcome,
                &ctx,
            );
            warn!("{line}");
            let level = if up {
                crate::log::syslog::NOTICE
            } else {
                crate::log::syslog::ALERT
            };
            be.log_event(level, &line);
            if active == 0 && backups == 0 {
                let line = fulcrum_health::no_server_available_line(&be.name);
                tracing::error!("{line}");
                be.log_event(crate::log::syslog::EMERG, &line);
            }
        }
        tokio::time::sleep(tracker.next_interval()).await;
    }
}

/// Logs one check's result as `option log-health-checks` does: a warning on fulcrum's own log and a notice to
/// the backend's `log` targets.
fn log_check(be: &BackendRt, server: &ServerRt, tracker: &Tracker, outcome: &CheckOutcome) {
    let (step, of, up) = tracker.log_status();
    let progress = fulcrum_health::CheckProgress {
        step,
        of,
        up,
        drain: server.user_weight() == 0,
    };
    let line = fulcrum_health::health_check_line(
        &be.name,
        &server.config.name,
        server.config.backup,
        outcome,
        progress,
    );
    warn!("{line}");
    be.log_event(crate::log::syslog::NOTICE, &line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_steps_are_a_twentieth_of_the_period_but_at_least_100ms() {
        assert_eq!(
            ramp_step(Duration::from_secs(2)),
            Duration::from_millis(100)
        );
        assert_eq!(ramp_step(Duration::from_secs(60)), Duration::from_secs(3));
        assert_eq!(
            ramp_step(Duration::from_millis(500)),
            Duration::from_millis(100)
        );
    }
}
