//! Weighted failover (`fo`) and weighted overflow (`ovf`).

use super::{DestState, Flow, LvsScheduler};

/// `fo`: the available server with the highest weight; the first one wins ties.
#[derive(Debug, Default, Clone, Copy)]
pub struct Failover;

fn highest_weight(dests: &[DestState], ok: impl Fn(&DestState) -> bool) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, d) in dests
        .iter()
        .enumerate()
        .filter(|(_, d)| d.available() && ok(d))
    {
        if best.is_none_or(|b| d.weight > dests[b].weight) {
            best = Some(i);
        }
    }
    best
}

impl LvsScheduler for Failover {
    fn name(&self) -> &'static str {
        "fo"
    }

    fn select(&mut self, dests: &[DestState], _flow: &Flow) -> Option<usize> {
        highest_weight(dests, |_| true)
    }
}

/// `ovf`: the highest-weight available server whose active connections are below its weight.
#[derive(Debug, Default, Clone, Copy)]
pub struct Overflow;

impl LvsScheduler for Overflow {
    fn name(&self) -> &'static str {
        "ovf"
    }

    fn select(&mut self, dests: &[DestState], _flow: &Flow) -> Option<usize> {
        highest_weight(dests, |d| d.active < d.weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fo_and_ovf() {
        let mut dests = [
            DestState::new(1),
            DestState::new(5),
            DestState::new(5),
            DestState::new(0),
        ];
        assert_eq!(Failover.select(&dests, &Flow::default()), Some(1));
        assert_eq!(Overflow.select(&dests, &Flow::default()), Some(1));
        dests[1].active = 5;
        assert_eq!(Failover.select(&dests, &Flow::default()), Some(1));
        assert_eq!(Overflow.select(&dests, &Flow::default()), Some(2));
        dests[2].active = 5;
        dests[0].active = 1;
        assert_eq!(Overflow.select(&dests, &Flow::default()), None);
        dests[1].overloaded = true;
        assert_eq!(Failover.select(&dests, &Flow::default()), Some(2));
    }
}
