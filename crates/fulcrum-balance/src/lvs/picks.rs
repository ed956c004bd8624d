//! What a connection-count scheduler would pick next, as shares over the real servers.
//!
//! A data plane that cannot run a scheduler per connection (nftables maps) asks, from time to time, for
//! the server(s) the scheduler would give the *next* connection to given the current counts, and spreads
//! new connections over them until the counts change. Servers tied with the pick share the connections
//! in proportion to their weight (`lc`: equally), which keeps a burst between two readings from landing
//! on one server when several are equally loaded. Static schedulers (rr, wrr, sh, dh, mh) return their
//! weights with unavailable servers (weight 0, overloaded) left out.

use super::{DestState, Flow, SchedFlags, SchedulerKind};

/// The cost a connection-count scheduler minimises, as a fraction `(numerator, denominator)`.
fn cost(kind: SchedulerKind, d: &DestState) -> (u64, u64) {
    match kind {
        SchedulerKind::Lc => (d.overhead(), 1),
        SchedulerKind::Sed | SchedulerKind::Nq => (u64::from(d.active) + 1, u64::from(d.weight)),
        _ => (d.overhead(), u64::from(d.weight)),
    }
}

fn same(a: (u64, u64), b: (u64, u64)) -> bool {
    u128::from(a.0) * u128::from(b.1) == u128::from(b.0) * u128::from(a.1)
}

/// Shares of the next connections per server (0 = gets none) for scheduler `kind`.
///
/// lblc and lblcr, whose locality key is the destination address (one VIP per service), reduce to wlc.
pub fn next_picks(kind: SchedulerKind, flags: SchedFlags, dests: &[DestState]) -> Vec<u32> {
    let available = |d: &DestState| if d.available() { d.weight } else { 0 };
    let kind = match kind {
        SchedulerKind::Lblc | SchedulerKind::Lblcr => SchedulerKind::Wlc,
        k => k,
    };
    match kind {
        SchedulerKind::Rr
        | SchedulerKind::Wrr
        | SchedulerKind::Sh
        | SchedulerKind::Dh
        | SchedulerKind::Mh => return dests.iter().map(available).collect(),
        _ => {}
    }
    let mut shares = vec![0u32; dests.len()];
    let Some(pick) = kind.build(flags).select(dests, &Flow::default()) else {
        return shares;
    };
    match kind {
        SchedulerKind::Fo | SchedulerKind::Ovf => shares[pick] = 1,
        SchedulerKind::Nq if dests[pick].active == 0 => {
            for (s, d) in shares.iter_mut().zip(dests) {
                if d.available() && d.active == 0 {
                    *s = d.weight;
                }
            }
        }
        _ => {
            let c = cost(kind, &dests[pick]);
            for (s, d) in shares.iter_mut().zip(dests) {
                if d.available() && same(cost(kind, d), c) {
                    *s = if kind == SchedulerKind::Lc {
                        1
                    } else {
                        d.weight
                    };
                }
            }
        }
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(weight: u32, active: u32, inactive: u32) -> DestState {
        DestState {
            active,
            inactive,
            ..DestState::new(weight)
        }
    }

    fn picks(kind: SchedulerKind, dests: &[DestState]) -> Vec<u32> {
        next_picks(kind, SchedFlags::default(), dests)
    }

    #[test]
    fn least_connection_family() {
        let idle = [d(1, 0, 0), d(3, 0, 0)];
        assert_eq!(picks(SchedulerKind::Wlc, &idle), vec![1, 3]);
        assert_eq!(picks(SchedulerKind::Lc, &idle), vec![1, 1]);
        let busy = [d(1, 6, 0), d(1, 0, 10)];
        assert_eq!(picks(SchedulerKind::Wlc, &busy), vec![0, 1]);
        assert_eq!(picks(SchedulerKind::Lblc, &busy), vec![0, 1]);
        // wlc: 2 active on weight 2 ties 1 active on weight 1.
        assert_eq!(
            picks(SchedulerKind::Wlc, &[d(2, 2, 0), d(1, 1, 0)]),
            vec![2, 1]
        );
        // sed ignores inactive connections.
        assert_eq!(
            picks(SchedulerKind::Sed, &[d(1, 1, 0), d(1, 1, 50)]),
            vec![1, 1]
        );
        // nq: every idle server, else sed.
        assert_eq!(
            picks(SchedulerKind::Nq, &[d(1, 1, 0), d(2, 0, 0), d(1, 0, 9)]),
            vec![0, 2, 1]
        );
        assert_eq!(
            picks(SchedulerKind::Nq, &[d(1, 2, 0), d(2, 2, 0)]),
            vec![0, 2]
        );
    }

    #[test]
    fn failover_overflow_static_and_unavailable() {
        assert_eq!(
            picks(SchedulerKind::Fo, &[d(1, 0, 0), d(5, 9, 0)]),
            vec![0, 1]
        );
        assert_eq!(
            picks(SchedulerKind::Ovf, &[d(1, 0, 0), d(5, 5, 0)]),
            vec![1, 0]
        );
        let mut v = [d(2, 0, 0), d(3, 0, 0), d(0, 0, 0)];
        v[1].overloaded = true;
        assert_eq!(picks(SchedulerKind::Wrr, &v), vec![2, 0, 0]);
        assert_eq!(picks(SchedulerKind::Wlc, &v), vec![2, 0, 0]);
        v[0].overloaded = true;
        assert_eq!(picks(SchedulerKind::Lc, &v), vec![0, 0, 0]);
    }
}
