//! A ketama-style consistent-hash ring: every server owns `weight x POINTS_PER_WEIGHT` points
//! on a `u32` circle, placed by hashing the server's id and the point's number; a key belongs
//! to the first point at or after its hash (wrapping). Removing a server only moves its keys.

use crate::error::BuildError;
use crate::hash::splitmix64;

/// Points a server owns per unit of weight.
pub const POINTS_PER_WEIGHT: u32 = 40;

/// Most points a ring may hold (32 MiB of entries).
pub const MAX_POINTS: u64 = 1 << 22;

/// An immutable ring: `(point, server index)` sorted by point.
#[derive(Debug, Clone, Default)]
pub struct Ring {
    points: Vec<(u32, u32)>,
}

/// Where point number `k` of the server with id `id` sits on the circle.
fn point(id: u32, k: u32) -> u32 {
    let mut state = (u64::from(id) << 32) | u64::from(k);
    (splitmix64(&mut state) >> 32) as u32
}

impl Ring {
    /// Builds the ring for `servers`: `(server index, stable id, weight)`.
    pub fn build(servers: &[(u32, u32, u32)]) -> Result<Ring, BuildError> {
        let total: u64 = servers
            .iter()
            .map(|&(_, _, w)| u64::from(w) * u64::from(POINTS_PER_WEIGHT))
            .sum();
        if total > MAX_POINTS {
            return Err(BuildError::TableTooLarge {
                entries: total,
                limit: MAX_POINTS,
            });
        }
        let mut points = Vec::with_capacity(total as usize);
        for &(index, id, weight) in servers {
            for k in 0..weight.saturating_mul(POINTS_PER_WEIGHT) {
                points.push((point(id, k), index));
            }
        }
        // Ties (two servers on one point) resolve by server index, deterministically.
        points.sort_unstable();
        Ok(Ring { points })
    }

    /// Whether the ring has no point.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The server owning `hash`, skipping `avoid` when another server exists.
    pub fn lookup(&self, hash: u32, avoid: Option<u32>) -> Option<u32> {
        let n = self.points.len();
        if n == 0 {
            return None;
        }
        let start = self.points.partition_point(|&(p, _)| p < hash);
        let first = self.points[start % n].1;
        if avoid != Some(first) {
            return Some(first);
        }
        (1..n)
            .map(|i| self.points[(start + i) % n].1)
            .find(|&s| Some(s) != avoid)
            .or(Some(first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_wraps_and_avoids() {
        let ring = Ring::build(&[(0, 1, 1), (1, 2, 1)]).unwrap();
        assert!(!ring.is_empty());
        for h in [0u32, 1, u32::MAX / 2, u32::MAX] {
            let s = ring.lookup(h, None).unwrap();
            assert!(s < 2);
            assert_eq!(ring.lookup(h, Some(s)), Some(1 - s));
        }
        let single = Ring::build(&[(5, 6, 1)]).unwrap();
        assert_eq!(single.lookup(7, Some(5)), Some(5));
        assert_eq!(Ring::default().lookup(7, None), None);
    }

    #[test]
    fn too_many_points() {
        assert!(Ring::build(&[(0, 1, u32::MAX)]).is_err());
    }
}
