//! Maglev consistent hashing (`mh`): a lookup table of prime size filled from per-server permutations.
//!
//! Each server derives `offset = h1(id) mod M` and `skip = h2(id) mod (M - 1) + 1` from two independent
//! hashes of its identity; its preference list is `offset, offset + skip, offset + 2 skip, ... (mod M)`,
//! which visits every slot because M is prime. Servers take turns (as many turns per round as their
//! weight divided by the weights' gcd) claiming their next still-free preferred slot until the table is
//! full. Equal weights then get shares that differ by at most one slot, and when a server leaves most
//! slots of the others stay where they were.

use super::hashing::{fallback_slot, flow_hash};
use super::{DestState, Flow, LvsScheduler, SchedFlags};
use std::net::IpAddr;

/// The default table size: a prime above 2^16, so up to 655 servers stay within 1% of their share.
pub const MAGLEV_DEFAULT_SIZE: usize = 65537;

/// Why a Maglev table could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaglevError {
    /// The table size must be a prime number (at least 3) so that every permutation covers the table.
    #[error("maglev table size {0} is not a prime >= 3")]
    NotPrime(usize),
}

/// True when `n` is prime.
pub fn is_prime(n: usize) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2usize;
    while d.saturating_mul(d) <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// A built Maglev lookup table: slot -> server index (`None` only when no server has weight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maglev {
    table: Vec<Option<usize>>,
}

impl Maglev {
    /// Builds the table of `size` slots for servers identified by `ids` with `weights` (same length;
    /// extra entries of the longer slice are ignored). Weight-0 servers get no slot.
    ///
    /// Servers take their turns in the order of their ids, not in the order of the slices, so the same
    /// servers listed in any order build the same table (slots hold indices into the given slices): two
    /// directors that added their servers in different orders pick the same server for every flow.
    pub fn build(ids: &[u64], weights: &[u32], size: usize) -> Result<Maglev, MaglevError> {
        if size < 3 || !is_prime(size) {
            return Err(MaglevError::NotPrime(size));
        }
        let n = ids.len().min(weights.len());
        let step = weights[..n].iter().copied().filter(|&w| w > 0).fold(0, gcd);
        let mut table: Vec<Option<usize>> = vec![None; size];
        if step == 0 {
            return Ok(Maglev { table });
        }
        let m = size as u64;
        let perms: Vec<(u64, u64)> = ids[..n]
            .iter()
            .map(|id| {
                let b = id.to_le_bytes();
                let offset = u64::from(flow_hash(&b, 0x6d61_676c)) % m;
                let skip = u64::from(flow_hash(&b, 0x736b_6970)) % (m - 1) + 1;
                (offset, skip)
            })
            .collect();
        let turns: Vec<u64> = weights[..n].iter().map(|&w| u64::from(w / step)).collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (ids[i], i));
        let mut next = vec![0u64; n];
        let mut filled = 0usize;
        while filled < size {
            for &i in &order {
                for _ in 0..turns[i] {
                    let (offset, skip) = perms[i];
                    let mut slot = ((offset + next[i] % m * skip) % m) as usize;
                    while table[slot].is_some() {
                        next[i] += 1;
                        slot = ((offset + next[i] % m * skip) % m) as usize;
                    }
                    table[slot] = Some(i);
                    next[i] += 1;
                    filled += 1;
                    if filled == size {
                        return Ok(Maglev { table });
                    }
                }
            }
        }
        Ok(Maglev { table })
    }

    /// The slots, in order.
    pub fn table(&self) -> &[Option<usize>] {
        &self.table
    }

    /// The server for a flow key (bytes hashed with the table's lookup hash).
    pub fn lookup(&self, key: &[u8]) -> Option<usize> {
        self.slot(flow_hash(key, 0))
    }

    fn slot(&self, hash: u32) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        self.table[hash as usize % self.table.len()]
    }
}

/// `mh`: Maglev hashing of the client address (and with `mh-port` its port).
#[derive(Debug, Clone)]
pub struct MaglevHash {
    flags: SchedFlags,
    size: usize,
    table: Option<Maglev>,
    built_for: Vec<(u64, u32)>,
}

impl MaglevHash {
    /// An mh scheduler with `-b` flags and a table of `size` slots (rounded up to the next prime).
    pub fn new(flags: SchedFlags, size: usize) -> Self {
        let mut size = size.max(3);
        while !is_prime(size) {
            size += 1;
        }
        MaglevHash {
            flags,
            size,
            table: None,
            built_for: Vec::new(),
        }
    }

    fn refresh(&mut self, dests: &[DestState]) {
        let key: Vec<(u64, u32)> = dests
            .iter()
            .enumerate()
            .map(|(i, d)| (if d.id == 0 { i as u64 + 1 } else { d.id }, d.weight))
            .collect();
        if self.table.is_none() || key != self.built_for {
            let ids: Vec<u64> = key.iter().map(|k| k.0).collect();
            let weights: Vec<u32> = key.iter().map(|k| k.1).collect();
            self.table = Maglev::build(&ids, &weights, self.size).ok();
            self.built_for = key;
        }
    }
}

impl LvsScheduler for MaglevHash {
    fn name(&self) -> &'static str {
        "mh"
    }

    fn select(&mut self, dests: &[DestState], flow: &Flow) -> Option<usize> {
        self.refresh(dests);
        let table = self.table.as_ref()?;
        let mut key = match flow.src {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        if self.flags.port {
            key.extend_from_slice(&flow.sport.to_be_bytes());
        }
        let ok = |i: usize| dests.get(i).is_some_and(DestState::available);
        if table.table.is_empty() {
            return None;
        }
        let first = flow_hash(&key, 0) as usize % table.table.len();
        if !self.flags.fallback {
            return table.table[first].filter(|&i| ok(i));
        }
        // the first following slot whose server is available, as every plane walks it
        fallback_slot(&table.table, first, ok).and_then(|s| table.table[s])
    }

    fn update(&mut self, dests: &[DestState]) {
        self.refresh(dests);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn counts(m: &Maglev, n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for i in m.table().iter().flatten() {
            c[*i] += 1;
        }
        c
    }

    #[test]
    fn rejects_non_prime() {
        assert_eq!(
            Maglev::build(&[1], &[1], 65536),
            Err(MaglevError::NotPrime(65536))
        );
        assert!(Maglev::build(&[1], &[1], 2).is_err());
        assert!(is_prime(65537) && is_prime(251) && !is_prime(1));
    }

    #[test]
    fn weights_are_respected() {
        let m = Maglev::build(&[11, 22], &[3, 1], 4093).unwrap_or_else(|e| panic!("{e}"));
        let c = counts(&m, 2);
        assert!((c[0] as f64 / c[1] as f64 - 3.0).abs() < 0.01, "{c:?}");
        let empty = Maglev::build(&[1, 2], &[0, 0], 251).unwrap_or_else(|e| panic!("{e}"));
        assert!(empty.table().iter().all(Option::is_none));
    }

    #[test]
    fn quiescent_server_gets_nothing() {
        let mut s = MaglevHash::new(SchedFlags::default(), 251);
        let dests = [DestState::with_id(5, 1), DestState::with_id(6, 0)];
        for a in 0..100u32 {
            let f = Flow {
                src: IpAddr::V4(a.into()),
                ..Flow::default()
            };
            assert_eq!(s.select(&dests, &f), Some(0));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn balanced_within_one_percent(n in 1usize..60, seed in any::<u64>()) {
            let ids: Vec<u64> = (0..n as u64).map(|i| seed.wrapping_add(i.wrapping_mul(0x9e37_79b9))).collect();
            let m = Maglev::build(&ids, &vec![1; n], MAGLEV_DEFAULT_SIZE).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let c = counts(&m, n);
            let avg = MAGLEV_DEFAULT_SIZE as f64 / n as f64;
            for x in c {
                prop_assert!((x as f64 - avg).abs() <= avg * 0.01, "{} vs {}", x, avg);
            }
        }

        #[test]
        fn same_servers_in_any_order_build_the_same_table(n in 2usize..30, seed in any::<u64>(), rot in any::<prop::sample::Index>()) {
            let ids: Vec<u64> = (0..n as u64).map(|i| seed ^ (i + 1).wrapping_mul(0x2545_f491_4f6c_dd1d)).collect();
            let weights: Vec<u32> = (0..n as u32).map(|i| 1 + i % 3).collect();
            let k = rot.index(n);
            let mut ids2 = ids.clone();
            ids2.rotate_left(k);
            ids2.reverse();
            let mut weights2 = weights.clone();
            weights2.rotate_left(k);
            weights2.reverse();
            let a = Maglev::build(&ids, &weights, 4093).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let b = Maglev::build(&ids2, &weights2, 4093).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (x, y) in a.table().iter().zip(b.table()) {
                prop_assert_eq!(x.map(|i| ids[i]), y.map(|i| ids2[i]));
            }
        }

        #[test]
        fn minimal_disruption(n in 3usize..40, gone in any::<prop::sample::Index>(), seed in any::<u64>()) {
            let ids: Vec<u64> = (0..n as u64).map(|i| seed ^ (i + 1).wrapping_mul(0x2545_f491_4f6c_dd1d)).collect();
            let gone = gone.index(n);
            let size = 4099; // > 100 x backends
            let before = Maglev::build(&ids, &vec![1; n], size).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let rest: Vec<u64> = ids.iter().enumerate().filter(|(i, _)| *i != gone).map(|(_, v)| *v).collect();
            let after = Maglev::build(&rest, &vec![1; n - 1], size).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut moved = 0usize;
            for (b, a) in before.table().iter().zip(after.table()) {
                let (Some(b), Some(a)) = (b, a) else { continue };
                if *b == gone {
                    continue;
                }
                if ids[*b] != rest[*a] {
                    moved += 1;
                }
            }
            // Slots of the servers that stayed barely move (Maglev's paper reports a few percent).
            prop_assert!((moved as f64) / (size as f64) < 0.10, "moved {} of {}", moved, size);
        }
    }
}
