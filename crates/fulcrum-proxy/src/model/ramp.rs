//! The arithmetic of a `slowstart` ramp: a server that comes back starts at a fraction of its weight (and of its
//! `maxconn`) and rises linearly to all of it over the period.

use std::time::Duration;

/// Steps of a `slowstart` ramp: a server that comes back starts at 1/`RAMP_STEPS` of its weight.
pub const RAMP_STEPS: u32 = 20;

/// Bound on the work of one farm build while a server ramps up (interleave steps, ring points).
const RAMP_BUDGET: u64 = 1 << 22;

/// How much every weight is multiplied by while a server ramps up, so that even `weight 1` servers can run at
/// a fraction of their weight: [`RAMP_STEPS`], less when the farm's tables would grow too large.
pub fn ramp_scale(total_weight: u64, servers: u64) -> u32 {
    let per_unit = servers.max(u64::from(fulcrum_balance::ring::POINTS_PER_WEIGHT));
    let cost = total_weight.max(1).saturating_mul(per_unit);
    u32::try_from((RAMP_BUDGET / cost).clamp(1, u64::from(RAMP_STEPS))).unwrap_or(1)
}

/// The effective (scaled) weight at `elapsed` into a `slowstart` of `period`: rises linearly from
/// 1/[`RAMP_STEPS`] of `weight * scale` at 0 to all of it at `period`, rounded down; never 0 unless `weight`
/// is 0.
pub fn ramp_weight(weight: u32, scale: u32, elapsed: Duration, period: Duration) -> u32 {
    let full = u64::from(weight) * u64::from(scale.max(1));
    if full == 0 || elapsed >= period || period.is_zero() {
        return u32::try_from(full).unwrap_or(u32::MAX);
    }
    let steps = u128::from(RAMP_STEPS);
    let (e, p) = (elapsed.as_nanos(), period.as_nanos());
    // full * (1 + (steps - 1) * e / p) / steps, rounded down (but at least 1).
    let num = u128::from(full) * (p + (steps - 1) * e);
    let w = (num / (steps * p)).clamp(1, u128::from(full));
    u32::try_from(w).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {

    #[test]
    fn maxconn_ramp_uses_the_same_curve() {
        let p = Duration::from_secs(10);
        assert_eq!(ramp_weight(20, 1, Duration::ZERO, p), 1);
        assert_eq!(ramp_weight(20, 1, Duration::from_secs(5), p), 10);
        assert_eq!(ramp_weight(20, 1, p, p), 20);
        assert_eq!(ramp_weight(3, 1, Duration::ZERO, p), 1);
    }

    use super::*;

    const T: Duration = Duration::from_secs(2);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn ramp_starts_at_a_twentieth_and_never_at_zero() {
        assert_eq!(ramp_weight(1, 20, Duration::ZERO, T), 1);
        assert_eq!(ramp_weight(20, 1, Duration::ZERO, T), 1);
        assert_eq!(ramp_weight(100, 1, Duration::ZERO, T), 5);
        // A weight too small to split still gets 1.
        assert_eq!(ramp_weight(1, 1, Duration::ZERO, T), 1);
        assert_eq!(ramp_weight(3, 1, ms(1), T), 1);
    }

    #[test]
    fn ramp_is_linear_up_to_the_full_weight() {
        // 1/20 + 19/20 * t/T of 20 units, rounded down: 1 at 0, 10.5 -> 10 at T/2, 20 at T.
        assert_eq!(ramp_weight(1, 20, ms(1), T), 1);
        assert_eq!(ramp_weight(1, 20, ms(1000), T), 10);
        assert_eq!(ramp_weight(1, 20, ms(500), T), 5);
        assert_eq!(ramp_weight(1, 20, ms(1999), T), 19);
        assert_eq!(ramp_weight(1, 20, T, T), 20);
        assert_eq!(ramp_weight(1, 20, ms(5000), T), 20);
        assert_eq!(ramp_weight(256, 20, T, T), 5120);
        let mut last = 0;
        for t in (0..=2000).step_by(50) {
            let w = ramp_weight(10, 20, ms(t), T);
            assert!(w >= last && (1..=200).contains(&w), "{t}ms: {w}");
            last = w;
        }
        assert_eq!(last, 200);
    }

    #[test]
    fn ramp_edge_cases() {
        assert_eq!(ramp_weight(0, 20, Duration::ZERO, T), 0);
        assert_eq!(ramp_weight(0, 20, ms(1000), T), 0);
        assert_eq!(ramp_weight(7, 20, ms(5), Duration::ZERO), 140);
        assert_eq!(ramp_weight(u32::MAX, 20, Duration::ZERO, T), u32::MAX);
    }

    #[test]
    fn scale_shrinks_for_large_farms() {
        assert_eq!(ramp_scale(2, 2), RAMP_STEPS);
        assert_eq!(ramp_scale(0, 0), RAMP_STEPS);
        assert_eq!(ramp_scale(256 * 100, 100), 1);
        let s = ramp_scale(256 * 50, 50);
        assert!((2..RAMP_STEPS).contains(&s), "{s}");
        assert!(u64::from(s) * 256 * 50 * 50 <= RAMP_BUDGET);
    }
}
