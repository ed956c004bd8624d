//! Locality-based least connection (`lblc`) and its replicated variant (`lblcr`).

use super::{DestState, Flow, LvsScheduler, WeightedLeastConnection};
use std::collections::HashMap;
use std::net::IpAddr;

/// Upper bound on remembered destination addresses (oldest entries are dropped past it).
const MAX_ENTRIES: usize = 16384;

/// IPVS's locality overload: a server is unavailable, or has more active connections than its weight
/// while some server of the service has fewer than half its weight.
fn overloaded_for_locality(d: &DestState, dests: &[DestState]) -> bool {
    !d.available()
        || (d.active > d.weight
            && dests
                .iter()
                .any(|o| u64::from(o.active) * 2 < u64::from(o.weight)))
}

/// `lblc`: a destination address keeps its server unless that server is unavailable or has more
/// active connections than its weight while another server is below half its weight; then `wlc` picks
/// a new one and the choice is remembered. (No expiry here: the XDP plane forgets an entry unused for
/// a day, as IPVS does.)
#[derive(Debug, Clone, Default)]
pub struct LocalityLeastConnection {
    map: HashMap<IpAddr, usize>,
}

impl LvsScheduler for LocalityLeastConnection {
    fn name(&self) -> &'static str {
        "lblc"
    }

    fn select(&mut self, dests: &[DestState], flow: &Flow) -> Option<usize> {
        if let Some(&i) = self.map.get(&flow.dst) {
            if dests
                .get(i)
                .is_some_and(|d| !overloaded_for_locality(d, dests))
            {
                return Some(i);
            }
        }
        let pick = WeightedLeastConnection.select(dests, flow)?;
        if self.map.len() >= MAX_ENTRIES {
            self.map.clear();
        }
        self.map.insert(flow.dst, pick);
        Some(pick)
    }

    fn update(&mut self, dests: &[DestState]) {
        self.map.retain(|_, i| *i < dests.len());
    }
}

/// `lblcr`: like `lblc` but a destination address maps to a set of servers; the least loaded member
/// is used, and a new server joins the set when all members are overloaded.
#[derive(Debug, Clone, Default)]
pub struct LocalityReplicated {
    map: HashMap<IpAddr, Vec<usize>>,
}

impl LvsScheduler for LocalityReplicated {
    fn name(&self) -> &'static str {
        "lblcr"
    }

    fn select(&mut self, dests: &[DestState], flow: &Flow) -> Option<usize> {
        let set = self.map.get(&flow.dst).cloned().unwrap_or_default();
        let members: Vec<DestState> = set
            .iter()
            .map(|&i| dests.get(i).copied().unwrap_or(DestState::new(0)))
            .collect();
        if let Some(k) = WeightedLeastConnection.select(&members, flow) {
            if !overloaded_for_locality(&members[k], dests) {
                return Some(set[k]);
            }
        }
        let pick = WeightedLeastConnection.select(dests, flow)?;
        if self.map.len() >= MAX_ENTRIES {
            self.map.clear();
        }
        let entry = self.map.entry(flow.dst).or_default();
        entry.retain(|&i| i < dests.len());
        if !entry.contains(&pick) {
            entry.push(pick);
        }
        Some(pick)
    }

    fn update(&mut self, dests: &[DestState]) {
        for v in self.map.values_mut() {
            v.retain(|&i| i < dests.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn lblc_sticks_until_overloaded() {
        let mut s = LocalityLeastConnection::default();
        let f = Flow {
            dst: IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)),
            ..Flow::default()
        };
        let mut dests = [DestState::new(1), DestState::new(1)];
        let first = s.select(&dests, &f);
        assert_eq!(first, Some(0));
        dests[1].active = 0;
        dests[0].inactive = 100; // wlc would now prefer 1, locality keeps 0
        assert_eq!(s.select(&dests, &f), Some(0));
        dests[0].active = 2; // more active than weight
        assert_eq!(s.select(&dests, &f), Some(1));
        let mut r = LocalityReplicated::default();
        assert_eq!(r.select(&dests, &f), Some(1));
    }

    #[test]
    fn locality_overload_needs_a_server_below_half_its_weight() {
        // the sequences the XDP plane's fixtures check: three servers of weight 1
        let f = Flow::default();
        let run = |s: &mut dyn LvsScheduler| {
            let mut dests = [DestState::new(1), DestState::new(1), DestState::new(1)];
            let mut picks = Vec::new();
            for _ in 0..7 {
                let i = s.select(&dests, &f).unwrap();
                dests[i].active += 1;
                picks.push(i);
            }
            picks
        };
        assert_eq!(
            run(&mut LocalityLeastConnection::default()),
            vec![0, 0, 1, 1, 2, 2, 2]
        );
        assert_eq!(
            run(&mut LocalityReplicated::default()),
            vec![0, 0, 1, 1, 2, 2, 0]
        );
    }
}
