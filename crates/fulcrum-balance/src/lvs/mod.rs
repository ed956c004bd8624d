//! LVS schedulers (rr, wrr, lc, wlc, sed, nq, fo, ovf, sh, dh, mh, lblc, lblcr) and the Maglev table.
//!
//! Everything here is pure: a scheduler receives the real servers' current state ([`DestState`]) and the
//! flow being scheduled ([`Flow`]) and returns the index of the chosen real server, or `None` when no server
//! may take a new connection. Round-robin cursors and locality maps are the only state a scheduler owns.
//!
//! The rules follow the Linux IPVS schedulers: a server with weight 0 is quiescent (it keeps its existing
//! connections but gets no new ones), an overloaded server (upper connection threshold reached, see
//! [`overload_after`]) gets no new connections, and the "overhead" of a server is `active * 256 + inactive`.
//!
//! Data planes that cannot run code per connection (nftables) use the table builders instead:
//! [`wrr_sequence`], [`HashTable`] (sh, dh) and [`Maglev`] (mh), and [`next_picks`] for the
//! connection-count schedulers (what they would pick next, re-asked whenever the counts change).

mod failover;
mod hashing;
mod least;
mod locality;
mod maglev;
mod picks;
mod round_robin;

pub use failover::{Failover, Overflow};
pub use hashing::{
    fallback_slot, flow_hash, DestinationHash, HashTable, SourceHash, HASH_TABLE_SIZE,
};
pub use least::{LeastConnection, NeverQueue, ShortestExpectedDelay, WeightedLeastConnection};
pub use locality::{LocalityLeastConnection, LocalityReplicated};
pub use maglev::{is_prime, Maglev, MaglevError, MaglevHash, MAGLEV_DEFAULT_SIZE};
pub use picks::next_picks;
pub use round_robin::{wrr_sequence, RoundRobin, WeightedRoundRobin};

use std::net::{IpAddr, Ipv4Addr};

/// The state of one real server as a scheduler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestState {
    /// Stable identity of the server (e.g. a hash of its address); Maglev hashes it, 0 means "use the index".
    pub id: u64,
    /// Relative capacity; 0 means quiescent (no new connections).
    pub weight: u32,
    /// Active connections (TCP established).
    pub active: u32,
    /// Inactive connections (TCP in other states, UDP).
    pub inactive: u32,
    /// True when the server reached its upper connection threshold and takes no new connections.
    pub overloaded: bool,
}

impl DestState {
    /// A server with `weight` and no connections.
    pub fn new(weight: u32) -> Self {
        DestState {
            id: 0,
            weight,
            active: 0,
            inactive: 0,
            overloaded: false,
        }
    }

    /// A server with a stable identity `id` and `weight`.
    pub fn with_id(id: u64, weight: u32) -> Self {
        DestState {
            id,
            ..DestState::new(weight)
        }
    }

    /// IPVS "overhead": `active * 256 + inactive`.
    pub fn overhead(&self) -> u64 {
        u64::from(self.active) * 256 + u64::from(self.inactive)
    }

    /// True when the server may take a new connection (weight above 0 and not overloaded).
    pub fn available(&self) -> bool {
        self.weight > 0 && !self.overloaded
    }
}

/// The flow being scheduled: the addresses and ports of the first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Client address.
    pub src: IpAddr,
    /// Client port.
    pub sport: u16,
    /// Virtual (destination) address.
    pub dst: IpAddr,
    /// Virtual (destination) port.
    pub dport: u16,
}

impl Default for Flow {
    fn default() -> Self {
        Flow {
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            sport: 0,
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dport: 0,
        }
    }
}

/// Scheduler flags (`ipvsadm -b`): `flag-1` is sh-fallback / mh-fallback, `flag-2` is sh-port / mh-port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedFlags {
    /// Fall back to another server when the hashed one is unavailable (`flag-1`).
    pub fallback: bool,
    /// Add the source port to the hash (`flag-2`).
    pub port: bool,
}

/// One LVS scheduler: picks the real server for a new connection.
pub trait LvsScheduler: Send + std::fmt::Debug {
    /// The scheduler's ipvsadm name (`rr`, `wlc`, ...).
    fn name(&self) -> &'static str;
    /// Index into `dests` of the server for `flow`, or `None` if no server may take it.
    fn select(&mut self, dests: &[DestState], flow: &Flow) -> Option<usize>;
    /// Tells the scheduler the set of servers changed (rebuilds hash tables, resets cursors).
    fn update(&mut self, _dests: &[DestState]) {}
}

/// The schedulers ipvsadm knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchedulerKind {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connection.
    Lc,
    /// Weighted least connection (the default).
    Wlc,
    /// Locality-based least connection.
    Lblc,
    /// Locality-based least connection with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing.
    Sh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Maglev hashing.
    Mh,
}

impl SchedulerKind {
    /// Every scheduler, in ipvsadm's help order.
    pub const ALL: [SchedulerKind; 13] = [
        SchedulerKind::Rr,
        SchedulerKind::Wrr,
        SchedulerKind::Lc,
        SchedulerKind::Wlc,
        SchedulerKind::Lblc,
        SchedulerKind::Lblcr,
        SchedulerKind::Dh,
        SchedulerKind::Sh,
        SchedulerKind::Sed,
        SchedulerKind::Nq,
        SchedulerKind::Fo,
        SchedulerKind::Ovf,
        SchedulerKind::Mh,
    ];

    /// The ipvsadm name.
    pub fn name(self) -> &'static str {
        match self {
            SchedulerKind::Rr => "rr",
            SchedulerKind::Wrr => "wrr",
            SchedulerKind::Lc => "lc",
            SchedulerKind::Wlc => "wlc",
            SchedulerKind::Lblc => "lblc",
            SchedulerKind::Lblcr => "lblcr",
            SchedulerKind::Dh => "dh",
            SchedulerKind::Sh => "sh",
            SchedulerKind::Sed => "sed",
            SchedulerKind::Nq => "nq",
            SchedulerKind::Fo => "fo",
            SchedulerKind::Ovf => "ovf",
            SchedulerKind::Mh => "mh",
        }
    }

    /// Looks a scheduler up by its ipvsadm name.
    pub fn from_name(name: &str) -> Option<Self> {
        SchedulerKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Builds a fresh scheduler of this kind.
    pub fn build(self, flags: SchedFlags) -> Box<dyn LvsScheduler> {
        match self {
            SchedulerKind::Rr => Box::new(RoundRobin::default()),
            SchedulerKind::Wrr => Box::new(WeightedRoundRobin::default()),
            SchedulerKind::Lc => Box::new(LeastConnection),
            SchedulerKind::Wlc => Box::new(WeightedLeastConnection),
            SchedulerKind::Lblc => Box::new(LocalityLeastConnection::default()),
            SchedulerKind::Lblcr => Box::new(LocalityReplicated::default()),
            SchedulerKind::Dh => Box::new(DestinationHash::default()),
            SchedulerKind::Sh => Box::new(SourceHash::new(flags)),
            SchedulerKind::Sed => Box::new(ShortestExpectedDelay),
            SchedulerKind::Nq => Box::new(NeverQueue),
            SchedulerKind::Fo => Box::new(Failover),
            SchedulerKind::Ovf => Box::new(Overflow),
            SchedulerKind::Mh => Box::new(MaglevHash::new(flags, MAGLEV_DEFAULT_SIZE)),
        }
    }
}

/// Whether a server is overloaded after its connection count changed (IPVS thresholds).
///
/// `upper == 0` disables the check. A server becomes overloaded when `active + inactive` reaches `upper`
/// and stays overloaded until the count drops below `lower` (or below 3/4 of `upper` when `lower` is 0).
pub fn overload_after(was_overloaded: bool, conns: u64, upper: u32, lower: u32) -> bool {
    if upper == 0 {
        return false;
    }
    if conns >= u64::from(upper) {
        return true;
    }
    if !was_overloaded {
        return false;
    }
    let lower = if lower == 0 {
        u64::from(upper) * 3 / 4
    } else {
        u64::from(lower)
    };
    conns >= lower
}

/// Weighted comparison `a_over / a_weight < b_over / b_weight` without division.
pub(crate) fn ratio_less(a_over: u64, a_weight: u32, b_over: u64, b_weight: u32) -> bool {
    u128::from(a_over) * u128::from(b_weight) < u128::from(b_over) * u128::from(a_weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in SchedulerKind::ALL {
            assert_eq!(SchedulerKind::from_name(k.name()), Some(k));
            assert_eq!(k.build(SchedFlags::default()).name(), k.name());
        }
        assert_eq!(SchedulerKind::from_name("twos-nope"), None);
    }

    #[test]
    fn overload_hysteresis() {
        assert!(!overload_after(false, 100, 0, 0));
        assert!(overload_after(false, 10, 10, 0));
        assert!(overload_after(true, 8, 10, 0));
        assert!(overload_after(true, 7, 10, 0));
        assert!(!overload_after(true, 6, 10, 0));
        assert!(!overload_after(false, 9, 10, 0));
        assert!(overload_after(true, 5, 10, 5));
        assert!(!overload_after(true, 4, 10, 5));
    }

    #[test]
    fn all_schedulers_return_none_without_available_servers() {
        let dests = [
            DestState::new(0),
            DestState {
                overloaded: true,
                ..DestState::new(5)
            },
        ];
        for k in SchedulerKind::ALL {
            let mut s = k.build(SchedFlags {
                fallback: true,
                port: false,
            });
            s.update(&dests);
            assert_eq!(s.select(&dests, &Flow::default()), None, "{}", k.name());
            assert_eq!(s.select(&[], &Flow::default()), None, "{}", k.name());
        }
    }
}
