//! Property tests: distribution, stability and what moves when a server leaves.

use std::net::{IpAddr, Ipv4Addr};

use fulcrum_balance::{
    Algorithm, Farm, HashFunction, HashMethod, HashType, RequestKey, Selector, ServerSlot,
    UriOptions,
};
use proptest::prelude::*;

fn rr_farm(slots: &[ServerSlot]) -> Farm {
    Farm::new(slots, false, Algorithm::RoundRobin, HashType::default()).unwrap()
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn slot_strategy() -> impl Strategy<Value = ServerSlot> {
    (
        0u32..6,
        any::<bool>(),
        prop::bool::weighted(0.8),
        prop::option::of(0u32..4),
    )
        .prop_map(|(weight, backup, usable, maxconn)| ServerSlot {
            weight,
            backup,
            usable,
            maxconn,
            id: None,
        })
}

fn algorithm_strategy() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::RoundRobin),
        Just(Algorithm::StaticRr),
        Just(Algorithm::LeastConn),
        Just(Algorithm::First),
        Just(Algorithm::Source),
        Just(Algorithm::Uri(UriOptions::default())),
        Just(Algorithm::Uri(UriOptions {
            len: Some(4),
            depth: Some(1),
            whole: true
        })),
        Just(Algorithm::UrlParam("id".into())),
        Just(Algorithm::Hdr("host".into())),
        (1u32..4).prop_map(Algorithm::Random),
    ]
}

fn hash_type_strategy() -> impl Strategy<Value = HashType> {
    (
        prop_oneof![Just(HashMethod::MapBased), Just(HashMethod::Consistent)],
        prop_oneof![
            Just(HashFunction::Sdbm),
            Just(HashFunction::Djb2),
            Just(HashFunction::Crc32),
            Just(HashFunction::Wt6)
        ],
        any::<bool>(),
    )
        .prop_map(|(method, function, avalanche)| HashType {
            method,
            function,
            avalanche,
        })
}

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(n))
}

/// Servers of `slots` whose keys stay put, for hashing `keys` by source address.
fn source_picks(farm: &Farm, keys: &[u32]) -> Vec<usize> {
    let mut sel = Selector::new();
    keys.iter()
        .map(|&k| {
            sel.pick(farm, &RequestKey::empty().with_client_ip(ip(k)), |_| 0, 0)
                .unwrap()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Every window of one full cycle holds each server exactly in proportion to its weight.
    #[test]
    fn rr_exactly_proportional(weights in prop::collection::vec(1u32..12, 1..7), offset in 0usize..50) {
        let slots: Vec<_> = weights.iter().map(|&w| ServerSlot::new(w)).collect();
        let farm = rr_farm(&slots);
        let g = weights.iter().fold(0, |g, &w| gcd(g, w));
        let cycle: usize = weights.iter().map(|&w| (w / g) as usize).sum();
        let mut sel = Selector::with_offset(offset);
        let picks: Vec<usize> = (0..cycle * 3)
            .map(|_| sel.pick(&farm, &RequestKey::empty(), |_| 0, 0).unwrap())
            .collect();
        for start in 0..=cycle * 2 {
            let mut counts = vec![0u32; weights.len()];
            for &p in &picks[start..start + cycle] {
                counts[p] += 1;
            }
            for (i, &w) in weights.iter().enumerate() {
                prop_assert_eq!(counts[i], w / g);
            }
        }
    }

    /// Picks are interleaved: every prefix of the order stays within 1.5 picks of each
    /// server's ideal share (smooth weighted round robin stays near one pick).
    #[test]
    fn rr_interleaved(weights in prop::collection::vec(1u32..12, 1..7)) {
        let slots: Vec<_> = weights.iter().map(|&w| ServerSlot::new(w)).collect();
        let farm = rr_farm(&slots);
        let total: u32 = weights.iter().sum();
        let mut sel = Selector::new();
        let picks: Vec<usize> = (0..total * 2)
            .map(|_| sel.pick(&farm, &RequestKey::empty(), |_| 0, 0).unwrap())
            .collect();
        let mut counts = vec![0f64; weights.len()];
        for (t, &p) in picks.iter().enumerate() {
            counts[p] += 1.0;
            for (i, &w) in weights.iter().enumerate() {
                let ideal = (t + 1) as f64 * f64::from(w) / f64::from(total);
                prop_assert!((counts[i] - ideal).abs() < 1.5,
                    "server {} after {} picks: {} vs {}", i, t + 1, counts[i], ideal);
            }
        }
    }

    /// Two servers: the lighter one never comes twice in a row (cyclically).
    #[test]
    fn rr_two_servers_never_double(a in 1u32..30, b in 1u32..30) {
        prop_assume!(a != b);
        let farm = rr_farm(&[ServerSlot::new(a), ServerSlot::new(b)]);
        let light = if a < b { 0 } else { 1 };
        let mut sel = Selector::new();
        let picks: Vec<usize> = (0..(a + b) * 2)
            .map(|_| sel.pick(&farm, &RequestKey::empty(), |_| 0, 0).unwrap())
            .collect();
        for pair in picks.windows(2) {
            prop_assert!(!(pair[0] == light && pair[1] == light), "{:?}", picks);
        }
    }

    /// leastconn always picks a server minimising (load + 1) / weight.
    #[test]
    fn leastconn_picks_a_minimum(
        servers in prop::collection::vec((1u32..8, 0u32..20), 1..8),
        rounds in 1usize..10,
    ) {
        let slots: Vec<_> = servers.iter().map(|&(w, _)| ServerSlot::new(w)).collect();
        let farm = Farm::new(&slots, false, Algorithm::LeastConn, HashType::default()).unwrap();
        let mut sel = Selector::new();
        let mut loads: Vec<u32> = servers.iter().map(|&(_, l)| l).collect();
        for _ in 0..rounds {
            let s = sel.pick(&farm, &RequestKey::empty(), |i| loads[i], 0).unwrap();
            for j in 0..servers.len() {
                let lhs = u64::from(loads[s] + 1) * u64::from(servers[j].0);
                let rhs = u64::from(loads[j] + 1) * u64::from(servers[s].0);
                prop_assert!(lhs <= rhs, "picked {} but {} is less loaded", s, j);
            }
            loads[s] += 1;
        }
    }

    /// The same client address always lands on the same server, whatever the selector did before.
    #[test]
    fn source_is_stable(
        weights in prop::collection::vec(1u32..5, 1..8),
        ht in hash_type_strategy(),
        addr in any::<u32>(),
        noise in 0usize..10,
    ) {
        let slots: Vec<_> = weights.iter().map(|&w| ServerSlot::new(w)).collect();
        let farm = Farm::new(&slots, false, Algorithm::Source, ht).unwrap();
        let again = Farm::new(&slots, false, Algorithm::Source, ht).unwrap();
        let key = RequestKey::empty().with_client_ip(ip(addr));
        let mut sel = Selector::new();
        let first = sel.pick(&farm, &key, |_| 0, 1);
        for n in 0..noise {
            sel.pick(&farm, &RequestKey::empty(), |_| 0, n as u64);
        }
        prop_assert_eq!(first, sel.pick(&farm, &key, |_| 0, 2));
        prop_assert_eq!(first, Selector::with_offset(noise).pick(&again, &key, |_| 7, 3));
    }

    /// Consistent hashing: removing one of N servers moves only its own keys, about 1/N of them.
    #[test]
    fn consistent_moves_only_the_removed_servers_keys(n in 3usize..16, removed in 0usize..16, seed in any::<u32>()) {
        let removed = removed % n;
        let ht = HashType { method: HashMethod::Consistent, ..HashType::default() };
        let mut slots = vec![ServerSlot::new(1); n];
        let before = Farm::new(&slots, false, Algorithm::Source, ht).unwrap();
        slots[removed].usable = false;
        let after = Farm::new(&slots, false, Algorithm::Source, ht).unwrap();
        let keys: Vec<u32> = (0..2000u32).map(|k| seed.wrapping_add(k.wrapping_mul(2_654_435_761))).collect();
        let (b, a) = (source_picks(&before, &keys), source_picks(&after, &keys));
        let mut moved = 0;
        for (x, y) in b.iter().zip(&a) {
            if x != y {
                prop_assert_eq!(*x, removed, "a key moved off a server that stayed");
                moved += 1;
            }
            prop_assert_ne!(*y, removed);
        }
        let share = moved as f64 / keys.len() as f64;
        prop_assert!(share < 2.0 / n as f64 + 0.05, "{} of keys moved with {} servers", share, n);
        prop_assert!(share > 0.3 / n as f64, "{} of keys moved with {} servers", share, n);
    }

    /// Map-based hashing: removing one of N servers moves most keys.
    #[test]
    fn map_based_moves_most(n in 4usize..16, removed in 0usize..16, seed in any::<u32>()) {
        let removed = removed % n;
        let mut slots = vec![ServerSlot::new(1); n];
        let before = Farm::new(&slots, false, Algorithm::Source, HashType::default()).unwrap();
        slots[removed].usable = false;
        let after = Farm::new(&slots, false, Algorithm::Source, HashType::default()).unwrap();
        let keys: Vec<u32> = (0..2000u32).map(|k| seed.wrapping_add(k.wrapping_mul(2_654_435_761))).collect();
        let (b, a) = (source_picks(&before, &keys), source_picks(&after, &keys));
        let moved = b.iter().zip(&a).filter(|(x, y)| x != y).count();
        prop_assert!(moved * 2 > keys.len(), "only {} of {} keys moved", moved, keys.len());
    }

    /// Backups serve only when no active server is usable; one backup unless allbackups.
    #[test]
    fn backups_only_when_actives_are_down(
        slots in prop::collection::vec(slot_strategy(), 1..8),
        allbackups in any::<bool>(),
    ) {
        let farm = Farm::new(&slots, allbackups, Algorithm::RoundRobin, HashType::default()).unwrap();
        let in_use = |s: &ServerSlot| s.usable && s.weight > 0;
        let actives: Vec<usize> = (0..slots.len()).filter(|&i| !slots[i].backup && in_use(&slots[i])).collect();
        let backups: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].backup && in_use(&slots[i])).collect();
        let total: u32 = slots.iter().map(|s| s.weight).sum();
        let mut sel = Selector::new();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..total.max(1) {
            match sel.pick(&farm, &RequestKey::empty(), |_| 0, 0) {
                Some(s) => { seen.insert(s); }
                None => prop_assert!(actives.is_empty() && backups.is_empty()),
            }
        }
        let expected: std::collections::BTreeSet<usize> = if !actives.is_empty() {
            actives.into_iter().collect()
        } else if allbackups {
            backups.into_iter().collect()
        } else {
            backups.into_iter().take(1).collect()
        };
        prop_assert_eq!(&seen, &expected);
        prop_assert_eq!(farm.on_backup(), slots.iter().all(|s| s.backup || !in_use(s)) && !seen.is_empty());
    }

    /// No algorithm ever returns an unusable or weight-0 server, or a backup while an active
    /// server is usable; None only when nothing is usable.
    #[test]
    fn never_picks_an_unusable_server(
        slots in prop::collection::vec(slot_strategy(), 1..8),
        algorithm in algorithm_strategy(),
        ht in hash_type_strategy(),
        allbackups in any::<bool>(),
        loads in prop::collection::vec(0u32..5, 8),
        requests in prop::collection::vec((any::<u32>(), any::<bool>(), any::<u64>()), 1..20),
        avoid in 0usize..8,
    ) {
        let farm = Farm::new(&slots, allbackups, algorithm, ht).unwrap();
        let in_use = |s: &ServerSlot| s.usable && s.weight > 0;
        let any_active = slots.iter().any(|s| !s.backup && in_use(s));
        let any_usable = slots.iter().any(in_use);
        let mut sel = Selector::new();
        for (k, present, rng) in requests {
            let text = format!("/p/{k}?id={k}");
            let mut key = RequestKey::empty();
            if present {
                key = key.with_client_ip(ip(k)).with_uri(text.as_bytes()).with_param(text.as_bytes()).with_header(text.as_bytes());
            }
            for picked in [
                sel.pick(&farm, &key, |i| loads[i], rng),
                sel.pick_avoiding(&farm, &key, |i| loads[i], rng, avoid),
            ] {
                match picked {
                    None => prop_assert!(!any_usable),
                    Some(s) => {
                        prop_assert!(s < slots.len());
                        prop_assert!(in_use(&slots[s]), "picked unusable {}", s);
                        prop_assert!(!(any_active && slots[s].backup), "picked backup {}", s);
                    }
                }
            }
            if farm.servers().len() > 1 {
                let p = sel.pick_avoiding(&farm, &key, |i| loads[i], rng, avoid);
                prop_assert_ne!(p, Some(avoid));
            }
        }
    }

    /// random(N) picks the least loaded (relative to weight) of its draws.
    #[test]
    fn random_picks_least_loaded_draw(
        servers in prop::collection::vec((1u32..5, 0u32..10), 1..8),
        draws in 1u32..4,
        rng in any::<u64>(),
    ) {
        let slots: Vec<_> = servers.iter().map(|&(w, _)| ServerSlot::new(w)).collect();
        let farm = Farm::new(&slots, false, Algorithm::Random(draws), HashType::default()).unwrap();
        let load = |i: usize| servers[i].1;
        let drawn: Vec<usize> = farm.random_draws(rng).collect();
        prop_assert_eq!(drawn.len(), draws as usize);
        let picked = Selector::new().pick(&farm, &RequestKey::empty(), load, rng).unwrap();
        prop_assert!(drawn.contains(&picked));
        for &d in &drawn {
            let lhs = u64::from(load(picked)) * u64::from(servers[d].0);
            let rhs = u64::from(load(d)) * u64::from(servers[picked].0);
            prop_assert!(lhs <= rhs, "picked {} over less loaded draw {}", picked, d);
        }
    }
}
