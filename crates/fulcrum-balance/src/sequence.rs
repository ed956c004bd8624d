//! The smooth weighted round-robin order (nginx's algorithm), computed once per farm.
//!
//! Every server `i` carries a current weight `c[i]`; each step adds `w[i]` to every `c[i]`,
//! picks the largest (lowest position on ties) and subtracts the total weight from it. After
//! `total` steps every server was picked exactly `w[i]` times and all `c[i]` are back to zero,
//! so the order repeats: round robin is then a cursor walking this table, and map-based hashing
//! is `table[hash % len]`.

use crate::error::BuildError;

/// Most `servers x entries` steps the build may take (about a quarter second of work).
pub const MAX_BUILD_STEPS: u64 = 1 << 28;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Builds the interleaved order of `servers` (`(server index, weight)`, weights > 0), with
/// weights reduced by their greatest common divisor. Returns server indices.
pub fn interleave(servers: &[(u32, u32)]) -> Result<Vec<u32>, BuildError> {
    if servers.is_empty() {
        return Ok(Vec::new());
    }
    let g = servers
        .iter()
        .fold(0u64, |g, &(_, w)| gcd(g, u64::from(w)))
        .max(1);
    let weights: Vec<i64> = servers
        .iter()
        .map(|&(_, w)| (u64::from(w) / g) as i64)
        .collect();
    let total: i64 = weights.iter().sum();
    let steps = (total as u64).saturating_mul(servers.len() as u64);
    if steps > MAX_BUILD_STEPS {
        return Err(BuildError::TableTooLarge {
            entries: steps,
            limit: MAX_BUILD_STEPS,
        });
    }
    let mut current = vec![0i64; servers.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (i, w) in weights.iter().enumerate() {
            current[i] += w;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        out.push(servers[best].0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_to_one() {
        assert_eq!(interleave(&[(0, 3), (1, 1)]).unwrap(), vec![0, 0, 1, 0]);
    }

    #[test]
    fn nginx_example() {
        // nginx's documented example: weights 5, 1, 1 give a a b a c a a.
        assert_eq!(
            interleave(&[(0, 5), (1, 1), (2, 1)]).unwrap(),
            vec![0, 0, 1, 0, 2, 0, 0]
        );
    }

    #[test]
    fn gcd_reduces() {
        assert_eq!(interleave(&[(4, 200), (7, 100)]).unwrap(), vec![4, 7, 4]);
        assert_eq!(interleave(&[]).unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn too_large() {
        let servers: Vec<(u32, u32)> = (0..2000).map(|i| (i, u32::MAX - i)).collect();
        assert!(matches!(
            interleave(&servers),
            Err(BuildError::TableTooLarge { .. })
        ));
    }
}
