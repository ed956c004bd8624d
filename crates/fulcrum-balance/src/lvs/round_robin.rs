//! Round robin (`rr`) and weighted round robin (`wrr`), plus the wrr cycle used by static data planes.

use super::{DestState, Flow, LvsScheduler};

/// `rr`: the next available server after the last one chosen.
#[derive(Debug, Default, Clone)]
pub struct RoundRobin {
    last: Option<usize>,
}

impl LvsScheduler for RoundRobin {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn select(&mut self, dests: &[DestState], _flow: &Flow) -> Option<usize> {
        let n = dests.len();
        if n == 0 {
            return None;
        }
        let start = self.last.map_or(0, |l| (l + 1) % n);
        let pick = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| dests[i].available())?;
        self.last = Some(pick);
        Some(pick)
    }

    fn update(&mut self, dests: &[DestState]) {
        if self.last.is_some_and(|l| l >= dests.len()) {
            self.last = None;
        }
    }
}

/// `wrr`: IPVS's interleaved weighted round robin (current weight stepping down by the weights' gcd).
#[derive(Debug, Default, Clone)]
pub struct WeightedRoundRobin {
    last: Option<usize>,
    current_weight: u32,
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl LvsScheduler for WeightedRoundRobin {
    fn name(&self) -> &'static str {
        "wrr"
    }

    fn select(&mut self, dests: &[DestState], _flow: &Flow) -> Option<usize> {
        let n = dests.len();
        let weights = dests.iter().map(|d| d.weight).filter(|&w| w > 0);
        let max = weights.clone().max()?;
        let step = weights.fold(0, gcd).max(1);
        if !dests.iter().any(DestState::available) {
            return None;
        }
        if self.current_weight > max {
            self.current_weight = max;
        }
        // At most (max / step + 1) rounds of n servers before every weight level was visited.
        let limit = (n as u64).saturating_mul(u64::from(max / step) + 2);
        let mut i = self.last;
        for _ in 0..limit {
            let next = match i {
                Some(l) if l + 1 < n => l + 1,
                _ => {
                    self.current_weight = self.current_weight.saturating_sub(step);
                    if self.current_weight == 0 {
                        self.current_weight = max;
                    }
                    0
                }
            };
            i = Some(next);
            let d = &dests[next];
            if d.available() && d.weight >= self.current_weight {
                self.last = Some(next);
                return Some(next);
            }
        }
        None
    }

    fn update(&mut self, dests: &[DestState]) {
        if self.last.is_some_and(|l| l >= dests.len()) {
            self.last = None;
            self.current_weight = 0;
        }
    }
}

/// One full wrr cycle over `weights` as server indexes, at most `max_len` long.
///
/// A static data plane (nftables `numgen inc mod N` over a verdict map) repeats this sequence to give each
/// server exactly its share. When the exact cycle (sum of weights divided by their gcd) is longer than
/// `max_len`, the weights are scaled down proportionally (every positive weight keeps at least one slot).
/// Servers with weight 0 never appear; an empty vector means no server is available.
pub fn wrr_sequence(weights: &[u32], max_len: usize) -> Vec<usize> {
    let step = weights.iter().copied().filter(|&w| w > 0).fold(0, gcd);
    if step == 0 {
        return Vec::new();
    }
    let reduced: Vec<u64> = weights.iter().map(|&w| u64::from(w / step)).collect();
    let total: u64 = reduced.iter().sum();
    let max_len = max_len.max(weights.len()).max(1) as u64;
    let scaled: Vec<u32> = if total > max_len {
        reduced
            .iter()
            .map(|&w| {
                if w == 0 {
                    0
                } else {
                    u32::try_from((w * max_len / total).max(1)).unwrap_or(u32::MAX)
                }
            })
            .collect()
    } else {
        reduced
            .iter()
            .map(|&w| u32::try_from(w).unwrap_or(u32::MAX))
            .collect()
    };
    let dests: Vec<DestState> = scaled.iter().map(|&w| DestState::new(w)).collect();
    let step = scaled
        .iter()
        .copied()
        .filter(|&w| w > 0)
        .fold(0, gcd)
        .max(1);
    let len: u64 = scaled.iter().map(|&w| u64::from(w / step)).sum();
    let mut wrr = WeightedRoundRobin::default();
    let flow = Flow::default();
    (0..len).filter_map(|_| wrr.select(&dests, &flow)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn picks(s: &mut dyn LvsScheduler, dests: &[DestState], n: usize) -> Vec<usize> {
        (0..n)
            .filter_map(|_| s.select(dests, &Flow::default()))
            .collect()
    }

    #[test]
    fn rr_cycles_and_skips_quiescent() {
        let dests = [DestState::new(1), DestState::new(0), DestState::new(5)];
        assert_eq!(
            picks(&mut RoundRobin::default(), &dests, 4),
            vec![0, 2, 0, 2]
        );
    }

    #[test]
    fn wrr_three_to_one() {
        let dests = [DestState::new(3), DestState::new(1)];
        assert_eq!(
            picks(&mut WeightedRoundRobin::default(), &dests, 8),
            vec![0, 0, 0, 1, 0, 0, 0, 1]
        );
    }

    #[test]
    fn wrr_interleaves_like_ipvs() {
        let dests = [DestState::new(4), DestState::new(3), DestState::new(2)];
        assert_eq!(
            picks(&mut WeightedRoundRobin::default(), &dests, 9),
            vec![0, 0, 1, 0, 1, 2, 0, 1, 2]
        );
    }

    #[test]
    fn sequence_scales_down() {
        let seq = wrr_sequence(&[3_000_000, 1_000_000, 0], 8);
        assert_eq!(seq, vec![0, 0, 0, 1]);
        let seq = wrr_sequence(&[1000, 1], 100);
        assert!(seq.len() <= 101 && seq.contains(&1), "{seq:?}");
        assert!(wrr_sequence(&[0, 0], 10).is_empty());
        assert!(wrr_sequence(&[], 10).is_empty());
    }

    proptest! {
        #[test]
        fn wrr_shares_match_weights(weights in proptest::collection::vec(0u32..20, 1..8)) {
            let dests: Vec<DestState> = weights.iter().map(|&w| DestState::new(w)).collect();
            let total: u32 = weights.iter().sum();
            let mut s = WeightedRoundRobin::default();
            let got = picks(&mut s, &dests, total as usize * 3);
            for (i, &w) in weights.iter().enumerate() {
                prop_assert_eq!(got.iter().filter(|&&p| p == i).count(), w as usize * 3);
            }
        }

        #[test]
        fn sequence_matches_weights(weights in proptest::collection::vec(0u32..50, 1..8)) {
            let seq = wrr_sequence(&weights, 10_000);
            let g = weights.iter().copied().filter(|&w| w > 0).fold(0, gcd);
            for (i, &w) in weights.iter().enumerate() {
                let want = w.checked_div(g).unwrap_or(0) as usize;
                prop_assert_eq!(seq.iter().filter(|&&p| p == i).count(), want);
            }
        }
    }
}
