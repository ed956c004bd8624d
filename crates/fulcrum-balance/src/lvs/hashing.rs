//! Source hashing (`sh`) and destination hashing (`dh`) over a 256-bucket table, as IPVS does.

use super::{DestState, Flow, LvsScheduler, SchedFlags};
use std::net::IpAddr;

/// Number of buckets in the sh/dh table (IPVS's default, 2^8).
pub const HASH_TABLE_SIZE: usize = 256;

/// A stable 32-bit hash of `data` mixed with `seed` (FNV-1a folded through a murmur3 finalizer).
///
/// Stable across runs, processes and machines: the nftables data plane and the pure schedulers
/// rebuild the same tables from the same input.
pub fn flow_hash(data: &[u8], seed: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h ^ (h >> 32)) as u32
}

fn addr_bytes(addr: &IpAddr, port: Option<u16>) -> Vec<u8> {
    let mut v = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    if let Some(p) = port {
        v.extend_from_slice(&p.to_be_bytes());
    }
    v
}

/// The slot a client hashed to `slot` of `slots` is served from under `sh-fallback` / `mh-fallback`:
/// `slot` itself when its server is available, else the first following slot (in table order, wrapping)
/// whose server is; `None` when none is (or `slot` is out of the table).
///
/// fulcrum's order, the same on every plane: a function of the slot alone, so that the nftables plane
/// can write it into its verdict map and the XDP program walk the same slots. IPVS walks from twice the
/// hash for sh and rehashes the key with the offset for mh, which no static map can express.
pub fn fallback_slot(
    slots: &[Option<usize>],
    slot: usize,
    available: impl Fn(usize) -> bool,
) -> Option<usize> {
    let n = slots.len();
    if slot >= n {
        return None;
    }
    (0..n)
        .map(|i| (slot + i) % n)
        .find(|&s| slots[s].is_some_and(&available))
}

/// The 256-bucket table: bucket -> server index.
///
/// Servers take turns, each claiming `weight` consecutive buckets (a quiescent server still claims one,
/// so that its clients are not reshuffled; lookups then treat it as unavailable).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HashTable {
    buckets: Vec<Option<usize>>,
}

impl HashTable {
    /// Builds the table for `dests` (every server, quiescent ones included).
    pub fn build(dests: &[DestState]) -> Self {
        Self::build_with(dests, HASH_TABLE_SIZE, true)
    }

    /// Builds a table of `size` buckets; with `include_quiescent == false` weight-0 servers get none.
    pub fn build_with(dests: &[DestState], size: usize, include_quiescent: bool) -> Self {
        let members: Vec<usize> = (0..dests.len())
            .filter(|&i| include_quiescent || dests[i].weight > 0)
            .collect();
        let mut buckets = Vec::with_capacity(size);
        if members.is_empty() {
            buckets.resize(size, None);
            return HashTable { buckets };
        }
        let (mut m, mut taken) = (0usize, 0u32);
        for _ in 0..size {
            let i = members[m];
            buckets.push(Some(i));
            taken += 1;
            if taken >= dests[i].weight.max(1) {
                m = (m + 1) % members.len();
                taken = 0;
            }
        }
        HashTable { buckets }
    }

    /// The buckets, in order.
    pub fn buckets(&self) -> &[Option<usize>] {
        &self.buckets
    }

    /// Looks `key` up: the hashed bucket's server if available, else (with `fallback`) the server of
    /// the first following bucket that is available ([`fallback_slot`]).
    pub fn lookup(&self, dests: &[DestState], key: &[u8], fallback: bool) -> Option<usize> {
        let n = self.buckets.len();
        if n == 0 {
            return None;
        }
        let ok = |i: usize| dests.get(i).is_some_and(DestState::available);
        let first = flow_hash(key, 0) as usize % n;
        if !fallback {
            return self.buckets[first].filter(|&i| ok(i));
        }
        fallback_slot(&self.buckets, first, ok).and_then(|b| self.buckets[b])
    }
}

/// `sh`: the client address (and with `sh-port` its port) picks the bucket.
#[derive(Debug, Clone, Default)]
pub struct SourceHash {
    flags: SchedFlags,
    table: HashTable,
    built_for: Vec<u32>,
}

impl SourceHash {
    /// A source-hash scheduler with the given `-b` flags.
    pub fn new(flags: SchedFlags) -> Self {
        SourceHash {
            flags,
            ..Default::default()
        }
    }
}

fn refresh(table: &mut HashTable, built_for: &mut Vec<u32>, dests: &[DestState]) {
    let weights: Vec<u32> = dests.iter().map(|d| d.weight).collect();
    if *built_for != weights || table.buckets.is_empty() {
        *table = HashTable::build(dests);
        *built_for = weights;
    }
}

impl LvsScheduler for SourceHash {
    fn name(&self) -> &'static str {
        "sh"
    }

    fn select(&mut self, dests: &[DestState], flow: &Flow) -> Option<usize> {
        refresh(&mut self.table, &mut self.built_for, dests);
        let key = addr_bytes(&flow.src, self.flags.port.then_some(flow.sport));
        self.table.lookup(dests, &key, self.flags.fallback)
    }

    fn update(&mut self, dests: &[DestState]) {
        refresh(&mut self.table, &mut self.built_for, dests);
    }
}

/// `dh`: the destination address picks the bucket.
#[derive(Debug, Clone, Default)]
pub struct DestinationHash {
    table: HashTable,
    built_for: Vec<u32>,
}

impl LvsScheduler for DestinationHash {
    fn name(&self) -> &'static str {
        "dh"
    }

    fn select(&mut self, dests: &[DestState], flow: &Flow) -> Option<usize> {
        refresh(&mut self.table, &mut self.built_for, dests);
        self.table
            .lookup(dests, &addr_bytes(&flow.dst, None), false)
    }

    fn update(&mut self, dests: &[DestState]) {
        refresh(&mut self.table, &mut self.built_for, dests);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn flow(a: u32, port: u16) -> Flow {
        Flow {
            src: IpAddr::V4(Ipv4Addr::from(a)),
            sport: port,
            ..Flow::default()
        }
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(flow_hash(b"abc", 0), flow_hash(b"abc", 0));
        assert_ne!(flow_hash(b"abc", 0), flow_hash(b"abc", 1));
    }

    #[test]
    fn table_follows_weights() {
        let t = HashTable::build(&[DestState::new(2), DestState::new(1)]);
        assert_eq!(
            &t.buckets()[..6],
            &[Some(0), Some(0), Some(1), Some(0), Some(0), Some(1)]
        );
        assert!(HashTable::build(&[]).buckets().iter().all(Option::is_none));
    }

    #[test]
    fn fallback_walks_forward_and_wraps() {
        let t = [Some(0), Some(0), None, Some(1), Some(2)];
        assert_eq!(fallback_slot(&t, 1, |_| true), Some(1));
        assert_eq!(fallback_slot(&t, 0, |d| d != 0), Some(3));
        assert_eq!(fallback_slot(&t, 4, |d| d == 0), Some(0));
        assert_eq!(fallback_slot(&t, 0, |_| false), None);
        assert_eq!(fallback_slot(&t, 9, |_| true), None);
    }

    #[test]
    fn quiescent_without_fallback_drops() {
        let dests = [DestState::new(1), DestState::new(0)];
        let mut s = SourceHash::new(SchedFlags::default());
        let mut fb = SourceHash::new(SchedFlags {
            fallback: true,
            port: false,
        });
        let mut saw_none = false;
        for a in 0..200u32 {
            let f = flow(a, 1);
            if s.select(&dests, &f).is_none() {
                saw_none = true;
            }
            assert_eq!(fb.select(&dests, &f), Some(0));
        }
        assert!(saw_none);
    }

    proptest! {
        #[test]
        fn sh_is_sticky(a in any::<u32>(), p1 in any::<u16>(), p2 in any::<u16>()) {
            let dests = [DestState::new(1), DestState::new(2), DestState::new(3)];
            let mut s = SourceHash::new(SchedFlags::default());
            prop_assert_eq!(s.select(&dests, &flow(a, p1)), s.select(&dests, &flow(a, p2)));
            prop_assert!(s.select(&dests, &flow(a, p1)).is_some());
        }
    }
}
