//! The controller: keeps the nftables scheduling maps of connection-count schedulers (lc, wlc, sed, nq,
//! fo, ovf, lblc, lblcr) and of real servers with thresholds (`-x`/`-y`) in line with live connection
//! counts.
//!
//! nftables cannot choose "the server with the fewest connections" per packet, so every `interval`
//! (200 ms by default) the controller reads the table and conntrack (active = ESTABLISHED, inactive =
//! every other state; direct-routed flows from the flow sets), asks the scheduler what it would pick next
//! ([`fulcrum_balance::lvs::next_picks`]: the pick and the servers tied with it, by weight), marks servers
//! over their upper threshold overloaded until they drop below the lower one (IPVS's hysteresis,
//! [`fulcrum_balance::lvs::overload_after`]), and, only when the result differs from what is in force,
//! rewrites the service's scheduling chain in one nft transaction (persistence sets, flow sets and
//! counters stay). How exact this is: new connections follow the pick as of the last reading, so a burst
//! arriving within one interval goes to the same server(s) (IPVS decides per connection with live
//! counts); counts come from conntrack, so NAT connections closed on the real server but not yet timed
//! out in conntrack still count (as in IPVS, which keeps its own timeouts).
//!
//! Without a running controller these schedulers fall back to their static rendering (weighted round
//! robin by weight; fo/ovf: the highest weight) and thresholds are not enforced. `ipvsadm --controller`
//! runs it in the foreground until SIGTERM or SIGINT, after which the static rendering is restored.

use crate::model::{Service, ServiceKey};
use crate::plane::nft::{NftPlane, Snapshot};
use crate::plane::render::{self, sched_update, static_weights, weights_digest, Family, Host};
use crate::plane::DataPlane as _;
use crate::plane::PlaneError;
use fulcrum_balance::lvs::{next_picks, overload_after, DestState, SchedFlags, SchedulerKind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Default interval between two readings.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(200);

/// Schedulers whose choice depends on connection counts.
pub const DYNAMIC: [&str; 8] = ["lc", "wlc", "sed", "nq", "fo", "ovf", "lblc", "lblcr"];

/// True when the controller manages `s` (connection-count scheduler or a threshold set).
pub fn needs_control(s: &Service) -> bool {
    DYNAMIC.contains(&s.scheduler.as_str()) || s.dests.iter().any(|d| d.u_threshold > 0)
}

/// The effective weights of `s`'s real servers in one family: the static weights of `members`, or the
/// next picks of a connection-count scheduler; overloaded servers get 0.
pub fn plan(s: &Service, members: &[bool], overloaded: &[bool]) -> Vec<u32> {
    let states: Vec<DestState> = s
        .dests
        .iter()
        .zip(members)
        .zip(overloaded)
        .map(|((d, m), o)| DestState {
            id: u64::from(d.id) + 1,
            weight: if *m { d.weight } else { 0 },
            active: d.observed.active,
            inactive: d.observed.inactive,
            overloaded: *o,
        })
        .collect();
    let Some(kind) = SchedulerKind::from_name(&s.scheduler) else {
        return static_weights(s, members);
    };
    let flags = SchedFlags {
        fallback: s.flags.sched1,
        port: s.flags.sched2,
    };
    next_picks(kind, flags, &states)
}

/// The controller's state between passes: which servers are overloaded.
#[derive(Debug, Default)]
pub struct Controller {
    overloaded: HashMap<(u32, u32), bool>,
    /// Scheduling chains rewritten so far.
    pub updates: u64,
}

impl Controller {
    /// The scheduling-chain updates one snapshot calls for (empty when everything is in force).
    pub fn pass(&mut self, snap: &Snapshot) -> String {
        self.pass_for(snap, &|_| true)
    }

    /// [`Controller::pass`] for the services `mine` selects only (a process controls the services it owns).
    pub fn pass_for(&mut self, snap: &Snapshot, mine: &dyn Fn(&ServiceKey) -> bool) -> String {
        let mut script = String::new();
        for s in snap.table.services.iter().filter(|s| mine(&s.key)) {
            let over: Vec<bool> = s
                .dests
                .iter()
                .map(|d| {
                    let key = (s.id, d.id);
                    let was = self.overloaded.get(&key).copied().unwrap_or(false);
                    let conns = u64::from(d.observed.active) + u64::from(d.observed.inactive);
                    let now = overload_after(was, conns, d.u_threshold, d.l_threshold);
                    self.overloaded.insert(key, now);
                    now
                })
                .collect();
            if !needs_control(s) {
                continue;
            }
            for fam in [Family::Inet, Family::Netdev] {
                let members = members(s, fam, snap);
                if !members.iter().any(|m| *m) {
                    continue;
                }
                let w = plan(s, &members, &over);
                if snap.markers.get(&(fam, s.id)) != Some(&weights_digest(&w)) {
                    tracing::debug!(service = %s.key, family = fam.name(), weights = ?w, "re-weighting");
                    script.push_str(&sched_update(s, fam, &members, &w));
                }
            }
        }
        script
    }

    /// One pass: read, decide, write if needed. Returns true when something was rewritten.
    pub fn tick(&mut self, plane: &mut NftPlane) -> Result<bool, PlaneError> {
        self.tick_for(plane, &|_| true)
    }

    /// [`Controller::tick`] for the services `mine` selects only.
    pub fn tick_for(
        &mut self,
        plane: &mut NftPlane,
        mine: &dyn Fn(&ServiceKey) -> bool,
    ) -> Result<bool, PlaneError> {
        let _lock = plane.lock()?;
        let snap = plane.snapshot()?;
        let script = self.pass_for(&snap, mine);
        if script.is_empty() {
            return Ok(false);
        }
        plane.apply(&script)?;
        self.updates += 1;
        Ok(true)
    }
}

fn members(s: &Service, fam: Family, snap: &Snapshot) -> Vec<bool> {
    s.dests
        .iter()
        .map(|d| match fam {
            Family::Inet => render::member(s, d, fam, &Host::default()),
            Family::Netdev => snap.dr_members.contains(&(s.id, d.id)),
        })
        .collect()
}

/// The script putting every controlled scheduling chain back to its static rendering.
pub fn restore_static(snap: &Snapshot) -> String {
    let mut script = String::new();
    for s in snap.table.services.iter().filter(|s| needs_control(s)) {
        for fam in [Family::Inet, Family::Netdev] {
            let m = members(s, fam, snap);
            if m.iter().any(|x| *x) {
                script.push_str(&sched_update(s, fam, &m, &static_weights(s, &m)));
            }
        }
    }
    script
}

/// Runs the controller every `interval` until `stop` is set, then restores the static rendering.
/// Errors of one pass (a table being replaced at that moment, say) are logged and retried next pass.
pub fn run_controller(
    plane: &mut NftPlane,
    stop: &AtomicBool,
    interval: Duration,
) -> Result<(), PlaneError> {
    let mut c = Controller::default();
    tracing::info!(
        interval_ms = interval.as_millis() as u64,
        "LVS controller started"
    );
    while !stop.load(Ordering::SeqCst) {
        let t0 = Instant::now();
        if let Err(e) = c.tick(plane) {
            tracing::warn!(error = %e, "controller pass failed");
        }
        // Sleep in short steps so a stop request is seen quickly.
        while !stop.load(Ordering::SeqCst) && t0.elapsed() < interval {
            std::thread::sleep(Duration::from_millis(20).min(interval));
        }
    }
    restore_static_maps(plane)?;
    tracing::info!(updates = c.updates, "LVS controller stopped");
    Ok(())
}

/// Puts back the static scheduling maps wherever a controller rewrote them (when it stops).
pub fn restore_static_maps(plane: &mut NftPlane) -> Result<(), PlaneError> {
    let _lock = plane.lock()?;
    let snap = plane.snapshot()?;
    let script = restore_static(&snap);
    if !script.is_empty() {
        plane.apply(&script)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record;

    fn snap(lines: &[&str]) -> Snapshot {
        Snapshot {
            table: record::decode(lines.iter().copied()).unwrap_or_default(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn wlc_moves_new_connections_to_the_idle_server_and_only_once() {
        let mut s = snap(&[
            "S 0 tcp/198.19.0.100/80 wlc 0 0 m255.255.255.255 -",
            "R 0 0 198.18.1.2 8080 m 1 0 0 ipip 0 n",
            "R 0 1 198.18.1.3 8080 m 1 0 0 ipip 0 n",
        ]);
        s.table.services[0].dests[0].observed.active = 6;
        let mut c = Controller::default();
        let script = c.pass(&s);
        assert!(script.contains("jump r0_1"), "{script}");
        assert!(!script.contains("jump r0_0"), "{script}");
        // Once the marker is in force, nothing more to do.
        s.markers.insert((Family::Inet, 0), weights_digest(&[0, 1]));
        assert_eq!(c.pass(&s), "");
    }

    #[test]
    fn thresholds_with_hysteresis() {
        let mut s = snap(&[
            "S 0 tcp/198.19.0.100/80 rr 0 0 m255.255.255.255 -",
            "R 0 0 198.18.1.2 8080 m 1 4 2 ipip 0 n",
            "R 0 1 198.18.1.3 8080 m 1 0 0 ipip 0 n",
        ]);
        let mut c = Controller::default();
        s.table.services[0].dests[0].observed.active = 4;
        assert!(c
            .pass(&s)
            .contains("numgen inc mod 1 vmap { 0 : jump r0_1 }"));
        // 3 connections: still overloaded until below the lower threshold 2.
        s.table.services[0].dests[0].observed.active = 3;
        s.markers.insert((Family::Inet, 0), weights_digest(&[0, 1]));
        assert_eq!(c.pass(&s), "");
        s.table.services[0].dests[0].observed.active = 1;
        assert!(c.pass(&s).contains("numgen inc mod 2"));
        assert!(restore_static(&s).contains("numgen inc mod 2"));
    }
}
