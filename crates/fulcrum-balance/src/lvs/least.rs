//! Connection-count schedulers: `lc`, `wlc`, `sed`, `nq`.

use super::{ratio_less, DestState, Flow, LvsScheduler};

/// `lc`: least overhead (`active * 256 + inactive`); the first server wins ties.
#[derive(Debug, Default, Clone, Copy)]
pub struct LeastConnection;

impl LvsScheduler for LeastConnection {
    fn name(&self) -> &'static str {
        "lc"
    }

    fn select(&mut self, dests: &[DestState], _flow: &Flow) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for (i, d) in dests.iter().enumerate().filter(|(_, d)| d.available()) {
            if best.is_none_or(|(_, o)| d.overhead() < o) {
                best = Some((i, d.overhead()));
            }
        }
        best.map(|(i, _)| i)
    }
}

/// Picks the available server minimising `cost(d) / weight`.
fn least_ratio(dests: &[DestState], cost: impl Fn(&DestState) -> u64) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, d) in dests.iter().enumerate().filter(|(_, d)| d.available()) {
        match best {
            None => best = Some(i),
            Some(b) => {
                let bd = &dests[b];
                if ratio_less(cost(d), d.weight, cost(bd), bd.weight) {
                    best = Some(i);
                }
            }
        }
    }
    best
}

/// `wlc`: least overhead per unit of weight (the ipvsadm default).
#[derive(Debug, Default, Clone, Copy)]
pub struct WeightedLeastConnection;

impl LvsScheduler for WeightedLeastConnection {
    fn name(&self) -> &'static str {
        "wlc"
    }

    fn select(&mut self, dests: &[DestState], _flow: &Flow) -> Option<usize> {
        least_ratio(dests, DestState::overhead)
    }
}

/// `sed`: shortest expected delay, least `(active + 1) / weight`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShortestExpectedDelay;

impl LvsScheduler for ShortestExpectedDelay {
    fn name(&self) -> &'static str {
        "sed"
    }

    fn select(&mut self, dests: &[DestState], _flow: &Flow) -> Option<usize> {
        least_ratio(dests, |d| u64::from(d.active) + 1)
    }
}

/// `nq`: never queue, the first idle server (no active connections) if any, else `sed`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NeverQueue;

impl LvsScheduler for NeverQueue {
    fn name(&self) -> &'static str {
        "nq"
    }

    fn select(&mut self, dests: &[DestState], _flow: &Flow) -> Option<usize> {
        dests
            .iter()
            .position(|d| d.available() && d.active == 0)
            .or_else(|| least_ratio(dests, |d| u64::from(d.active) + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(weight: u32, active: u32, inactive: u32) -> DestState {
        DestState {
            active,
            inactive,
            ..DestState::new(weight)
        }
    }

    #[test]
    fn lc_uses_overhead() {
        // 1 active (256) costs more than 200 inactive.
        let dests = [d(1, 1, 0), d(1, 0, 200), d(0, 0, 0)];
        assert_eq!(LeastConnection.select(&dests, &Flow::default()), Some(1));
    }

    #[test]
    fn wlc_divides_by_weight() {
        let dests = [d(1, 2, 0), d(3, 4, 0)];
        assert_eq!(
            WeightedLeastConnection.select(&dests, &Flow::default()),
            Some(1)
        );
        let dests = [d(1, 1, 0), d(3, 4, 0)];
        assert_eq!(
            WeightedLeastConnection.select(&dests, &Flow::default()),
            Some(0)
        );
    }

    #[test]
    fn sed_and_nq() {
        // sed: (1+1)/1 = 2 vs (4+1)/3 = 1.67 -> second.
        let dests = [d(1, 1, 0), d(3, 4, 0)];
        assert_eq!(
            ShortestExpectedDelay.select(&dests, &Flow::default()),
            Some(1)
        );
        // nq: an idle server wins even with low weight.
        let dests = [d(10, 3, 0), d(1, 0, 0)];
        assert_eq!(NeverQueue.select(&dests, &Flow::default()), Some(1));
        let dests = [d(10, 3, 0), d(1, 1, 0)];
        assert_eq!(NeverQueue.select(&dests, &Flow::default()), Some(0));
    }

    proptest! {
        #[test]
        fn choice_is_minimal(ds in proptest::collection::vec((0u32..5, 0u32..50, 0u32..50), 1..10)) {
            let dests: Vec<DestState> = ds.iter().map(|&(w, a, i)| d(w, a, i)).collect();
            match WeightedLeastConnection.select(&dests, &Flow::default()) {
                None => prop_assert!(dests.iter().all(|x| x.weight == 0)),
                Some(c) => {
                    prop_assert!(dests[c].weight > 0);
                    for x in dests.iter().filter(|x| x.weight > 0) {
                        prop_assert!(!ratio_less(x.overhead(), x.weight, dests[c].overhead(), dests[c].weight));
                    }
                }
            }
            if let Some(c) = LeastConnection.select(&dests, &Flow::default()) {
                for x in dests.iter().filter(|x| x.weight > 0) {
                    prop_assert!(x.overhead() >= dests[c].overhead());
                }
            }
        }
    }
}
