//! Choosing a server: the backend's configuration mapped onto `fulcrum-balance`, and the request key the
//! hashing algorithms read. The farm is rebuilt off the hot path; picking only reads it.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::Request;

use fulcrum_balance::{Algorithm, HashFunction, HashMethod, HashType, ServerSlot, UriOptions};
use fulcrum_config::haproxy::{Balance, HashType as CfgHashType};

pub use fulcrum_balance::Selector;

use crate::snapshot::BackendRt;

/// What a request offers to the hashing algorithms, copied out of the request only when the backend's
/// algorithm needs it (round robin and leastconn copy nothing).
#[derive(Debug, Clone, Default)]
pub struct RequestKey {
    ip: Option<IpAddr>,
    uri: Option<Vec<u8>>,
    param: Option<Vec<u8>>,
    header: Option<Vec<u8>>,
}

impl RequestKey {
    /// A key holding only the client address (tcp mode, `balance source`).
    pub fn from_ip(ip: IpAddr) -> Self {
        RequestKey {
            ip: Some(ip),
            ..Default::default()
        }
    }

    /// The key of an HTTP request for backend `be`.
    pub fn for_request<B>(be: &BackendRt, ip: IpAddr, req: &Request<B>) -> Self {
        let mut key = RequestKey::from_ip(ip);
        match &be.balance {
            Balance::Uri { .. } => {
                key.uri = Some(
                    req.uri()
                        .path_and_query()
                        .map_or(b"/".to_vec(), |p| p.as_str().as_bytes().to_vec()),
                );
            }
            Balance::UrlParam(name) => {
                let target = req
                    .uri()
                    .path_and_query()
                    .map_or("", |p| p.as_str())
                    .as_bytes();
                key.param =
                    fulcrum_balance::query_param_value(target, name.as_bytes()).map(<[u8]>::to_vec);
            }
            Balance::Hdr(name) => {
                key.header = req
                    .headers()
                    .get(name.as_str())
                    .map(|v| v.as_bytes().to_vec());
            }
            _ => {}
        }
        key
    }

    fn borrow(&self) -> fulcrum_balance::RequestKey<'_> {
        fulcrum_balance::RequestKey {
            client_ip: self.ip,
            uri: self.uri.as_deref(),
            param: self.param.as_deref(),
            header: self.header.as_deref(),
        }
    }
}

/// The selection table of one backend.
pub struct Farm(Option<fulcrum_balance::Farm>);

fn algorithm(b: &Balance) -> Algorithm {
    match b {
        Balance::RoundRobin => Algorithm::RoundRobin,
        Balance::StaticRr => Algorithm::StaticRr,
        Balance::LeastConn => Algorithm::LeastConn,
        Balance::First => Algorithm::First,
        Balance::Source => Algorithm::Source,
        Balance::Uri { len, depth, whole } => Algorithm::Uri(UriOptions {
            len: *len,
            depth: *depth,
            whole: *whole,
        }),
        Balance::UrlParam(n) => Algorithm::UrlParam(n.clone()),
        Balance::Hdr(n) => Algorithm::Hdr(n.clone()),
        Balance::Random(n) => Algorithm::Random(*n),
    }
}

fn hash_type(h: CfgHashType) -> HashType {
    HashType {
        method: match h {
            CfgHashType::MapBased => HashMethod::MapBased,
            CfgHashType::Consistent => HashMethod::Consistent,
        },
        function: HashFunction::default(),
        avalanche: false,
    }
}

/// Whether `slowstart` applies to `b`: HAProxy's dynamic algorithms (roundrobin, leastconn, random, and the
/// hashing algorithms with `hash-type consistent`). Static round robin, `first` and map-based hashing keep their
/// configured weights.
pub fn is_dynamic(b: &Balance, h: CfgHashType) -> bool {
    match b {
        Balance::RoundRobin | Balance::LeastConn | Balance::Random(_) => true,
        // HAProxy: hashing is dynamic with `hash-type consistent`, static when map-based.
        Balance::Source | Balance::Uri { .. } | Balance::UrlParam(_) | Balance::Hdr(_) => {
            h == CfgHashType::Consistent
        }
        Balance::StaticRr | Balance::First => false,
    }
}

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

impl Farm {
    /// A farm with no server in use (every pick answers none).
    pub fn empty() -> Self {
        Farm(None)
    }

    /// The farm for the servers' current state, with the weights of servers in their `slowstart` ramp reduced
    /// (dynamic algorithms only).
    pub fn build(be: &BackendRt) -> Self {
        let now = Instant::now();
        // Every slot, deleted servers included, so that the table's indices are the servers' indices.
        let ramps: Vec<Option<(Duration, Duration)>> = be
            .servers
            .slots()
            .map(|s| {
                if is_dynamic(&be.balance, be.hash_type) && s.is_up() {
                    s.slowstart_progress(now)
                } else {
                    None
                }
            })
            .collect();
        let scale = if ramps.iter().any(Option::is_some) {
            let total: u64 = be.servers.slots().map(|s| u64::from(s.weight())).sum();
            ramp_scale(total, be.servers.len() as u64)
        } else {
            1
        };
        let slots: Vec<ServerSlot> = be
            .servers
            .slots()
            .zip(&ramps)
            .map(|(s, ramp)| {
                let weight = match ramp {
                    Some((elapsed, period)) => ramp_weight(s.weight(), scale, *elapsed, *period),
                    // The runtime weight (`set weight`), 0 while draining.
                    None => s.weight().saturating_mul(scale),
                };
                ServerSlot::new(weight)
                    .backup(s.config.backup)
                    .usable(s.is_up())
                    .maxconn(s.maxconn())
            })
            .collect();
        match fulcrum_balance::Farm::new(
            &slots,
            be.allbackups,
            algorithm(&be.balance),
            hash_type(be.hash_type),
        ) {
            Ok(f) => Farm(Some(f)),
            Err(e) => {
                tracing::error!(backend = %be.name, error = %e, "cannot build the balancing table");
                Farm(None)
            }
        }
    }

    /// Picks a server index of `be`, preferring another one than `avoid` when possible.
    pub fn pick(
        &self,
        selector: &mut Selector,
        be: &BackendRt,
        key: &RequestKey,
        avoid: Option<usize>,
        rng: u64,
    ) -> Option<usize> {
        let farm = self.0.as_ref()?;
        let load = |i: usize| {
            be.servers
                .get(i)
                .map_or(0, |s| s.cur.load(Ordering::Relaxed))
        };
        let key = key.borrow();
        match avoid {
            Some(a) => selector.pick_avoiding(farm, &key, load, rng, a),
            None => selector.pick(farm, &key, load, rng),
        }
    }
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

    #[test]
    fn only_dynamic_algorithms_ramp() {
        let map = CfgHashType::MapBased;
        assert!(is_dynamic(&Balance::RoundRobin, map));
        assert!(is_dynamic(&Balance::LeastConn, map));
        assert!(is_dynamic(&Balance::Random(2), map));
        assert!(!is_dynamic(&Balance::StaticRr, map));
        assert!(!is_dynamic(&Balance::First, map));
        assert!(!is_dynamic(&Balance::Source, map));
        assert!(!is_dynamic(&Balance::Hdr("x".into()), map));
        assert!(is_dynamic(&Balance::Source, CfgHashType::Consistent));
        assert!(is_dynamic(
            &Balance::Hdr("x".into()),
            CfgHashType::Consistent
        ));
    }
}
