//! Picking a server: the per-thread state of the stateful algorithms and the selection itself.

use crate::algorithm::{Algorithm, HashMethod};
use crate::farm::Farm;
use crate::hash::{avalanche, splitmix64};
use crate::key::{ip_hash_input, uri_hash_input, RequestKey};

/// Per-thread selection state: the round-robin cursor and the leastconn tie-break cursor.
///
/// Two words, no allocation; a selector may move between farms (the cursors wrap to the new
/// farm's size). Give each worker thread its own, ideally started at a different offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selector {
    rr: usize,
    lc: usize,
}

impl Selector {
    /// A selector starting at the beginning of the round-robin order.
    pub const fn new() -> Self {
        Selector { rr: 0, lc: 0 }
    }

    /// A selector starting `offset` steps into the round-robin order (e.g. the thread number),
    /// so that threads do not all send their first request to the same server.
    pub const fn with_offset(offset: usize) -> Self {
        Selector {
            rr: offset,
            lc: offset,
        }
    }

    /// Moves the round-robin cursor to `position` (taken modulo the farm's sequence at the next pick): threads
    /// that share one order, as HAProxy's `roundrobin` does across its threads, each take a position from a
    /// shared counter before picking.
    pub fn seek_rr(&mut self, position: usize) {
        self.rr = position;
    }

    /// Moves the leastconn tie-break cursor to `position`: threads that share one cursor per backend send
    /// equally loaded servers their requests in turn whichever thread picks, as HAProxy's one leastconn tree
    /// per backend does. [`Selector::lc_position`] gives the position after a pick, to store back.
    pub fn seek_lc(&mut self, position: usize) {
        self.lc = position;
    }

    /// The leastconn tie-break cursor (see [`Selector::seek_lc`]).
    pub fn lc_position(&self) -> usize {
        self.lc
    }

    /// Picks a server index for a request, or `None` when no server is usable.
    ///
    /// `load(i)` returns server `i`'s current connections (used by `leastconn`, `first` and
    /// `random`); `rng` is a fresh random value from the caller (used by `random`).
    #[inline]
    pub fn pick(
        &mut self,
        farm: &Farm,
        req: &RequestKey<'_>,
        load: impl Fn(usize) -> u32,
        rng: u64,
    ) -> Option<usize> {
        self.pick_inner(farm, req, &load, rng, None)
    }

    /// Like [`Selector::pick`], but prefers any server other than `avoid` (for a redispatch
    /// after a failed attempt); returns `avoid` only when it is the only server in use.
    #[inline]
    pub fn pick_avoiding(
        &mut self,
        farm: &Farm,
        req: &RequestKey<'_>,
        load: impl Fn(usize) -> u32,
        rng: u64,
        avoid: usize,
    ) -> Option<usize> {
        self.pick_inner(farm, req, &load, rng, Some(avoid))
    }

    fn pick_inner<L: Fn(usize) -> u32>(
        &mut self,
        farm: &Farm,
        req: &RequestKey<'_>,
        load: &L,
        rng: u64,
        avoid: Option<usize>,
    ) -> Option<usize> {
        if farm.selected.is_empty() {
            return None;
        }
        // Avoiding only makes sense when there is somewhere else to go.
        let avoid = avoid
            .filter(|_| farm.selected.len() > 1)
            .and_then(|a| u32::try_from(a).ok());
        let picked = match &farm.algorithm {
            Algorithm::RoundRobin | Algorithm::StaticRr => self.round_robin(farm, avoid),
            Algorithm::LeastConn => self.least_conn(farm, load, avoid),
            Algorithm::First => first(farm, load, avoid),
            Algorithm::Random(draws) => random(farm, load, rng, *draws, avoid),
            Algorithm::Source => {
                let mut buf = [0u8; 16];
                match req.client_ip {
                    Some(ip) => hashed(farm, ip_hash_input(ip, &mut buf), avoid),
                    None => self.round_robin(farm, avoid),
                }
            }
            Algorithm::Uri(opts) => match req.uri {
                Some(uri) => hashed(farm, uri_hash_input(uri, opts), avoid),
                None => self.round_robin(farm, avoid),
            },
            Algorithm::UrlParam(_) => match req.param {
                Some(v) => hashed(farm, v, avoid),
                None => self.round_robin(farm, avoid),
            },
            Algorithm::Hdr(_) => match req.header {
                Some(v) => hashed(farm, v, avoid),
                None => self.round_robin(farm, avoid),
            },
            Algorithm::Hash => match req.sample {
                Some(v) => hashed(farm, v, avoid),
                None => self.round_robin(farm, avoid),
            },
        };
        picked.map(|s| s as usize)
    }

    fn round_robin(&mut self, farm: &Farm, avoid: Option<u32>) -> Option<u32> {
        let seq = &farm.sequence;
        let n = seq.len();
        if n == 0 {
            return None;
        }
        let mut i = self.rr % n;
        if avoid.is_some() {
            // Bounded: `avoid` is set only when another server holds entries.
            for _ in 0..n {
                if Some(seq[i]) != avoid {
                    break;
                }
                i = (i + 1) % n;
            }
        }
        self.rr = i + 1;
        Some(seq[i])
    }

    fn least_conn<L: Fn(usize) -> u32>(
        &mut self,
        farm: &Farm,
        load: &L,
        avoid: Option<u32>,
    ) -> Option<u32> {
        let set = &farm.selected;
        let n = set.len();
        let start = self.lc % n;
        // (position, server, (load + 1), weight); compare (l+1)/w by cross-multiplying.
        let mut best: Option<(usize, u32, u64, u64)> = None;
        for k in 0..n {
            let pos = (start + k) % n;
            let s = set[pos];
            if Some(s) == avoid {
                continue;
            }
            let l = u64::from(load(s as usize)) + 1;
            let w = u64::from(farm.weights[s as usize]);
            let better = match best {
                None => true,
                Some((_, _, bl, bw)) => l * bw < bl * w,
            };
            if better {
                best = Some((pos, s, l, w));
            }
        }
        let (pos, s, _, _) = best?;
        self.lc = pos + 1;
        Some(s)
    }
}

/// `first`: the first server (by id) below its `maxconn`; when all are full, the first one
/// (the request waits in its queue).
fn first<L: Fn(usize) -> u32>(farm: &Farm, load: &L, avoid: Option<u32>) -> Option<u32> {
    let mut candidates = farm.selected.iter().copied().filter(|&s| Some(s) != avoid);
    let fallback = candidates.clone().next();
    candidates
        .find(|&s| load(s as usize) < farm.maxconn[s as usize])
        .or(fallback)
}

/// `random(N)`: the least loaded (relative to weight) of `draws` points drawn on the ring.
fn random<L: Fn(usize) -> u32>(
    farm: &Farm,
    load: &L,
    rng: u64,
    draws: u32,
    avoid: Option<u32>,
) -> Option<u32> {
    let mut state = rng;
    let mut best: Option<(u32, u64, u64)> = None;
    for _ in 0..draws {
        let point = (splitmix64(&mut state) >> 32) as u32;
        let Some(s) = farm.ring.lookup(point, avoid) else {
            break;
        };
        let l = u64::from(load(s as usize));
        let w = u64::from(farm.weights[s as usize]);
        let better = match best {
            None => true,
            Some((_, bl, bw)) => l * bw < bl * w,
        };
        if better {
            best = Some((s, l, w));
        }
    }
    best.map(|(s, _, _)| s)
}

/// Hash-based choice: consistent ring or weight-expanded map, per the farm's hash type.
fn hashed(farm: &Farm, key: &[u8], avoid: Option<u32>) -> Option<u32> {
    let ht = farm.hash_type;
    let h = ht.function.hash(key);
    match ht.method {
        HashMethod::Consistent => farm.ring.lookup(avalanche(h), avoid),
        HashMethod::MapBased => {
            let h = if ht.avalanche { avalanche(h) } else { h };
            let seq = &farm.sequence;
            let n = seq.len();
            if n == 0 {
                return None;
            }
            let start = h as usize % n;
            (0..n)
                .map(|k| seq[(start + k) % n])
                .find(|&s| Some(s) != avoid)
                .or(Some(seq[start]))
        }
    }
}
