//! Example-based tests of each algorithm's behaviour.

use std::net::IpAddr;

use fulcrum_balance::{
    query_param_value, Algorithm, BuildError, Farm, HashMethod, HashType, RequestKey, Selector,
    ServerSlot, UriOptions,
};

fn farm(slots: &[ServerSlot], algorithm: Algorithm) -> Farm {
    Farm::new(slots, false, algorithm, HashType::default()).unwrap()
}

fn picks(farm: &Farm, key: &RequestKey<'_>, n: usize, load: impl Fn(usize) -> u32) -> Vec<usize> {
    let mut sel = Selector::new();
    (0..n)
        .map(|_| sel.pick(farm, key, &load, 0).unwrap())
        .collect()
}

#[test]
fn roundrobin_three_to_one() {
    let f = farm(
        &[ServerSlot::new(3), ServerSlot::new(1)],
        Algorithm::RoundRobin,
    );
    assert_eq!(
        picks(&f, &RequestKey::empty(), 8, |_| 0),
        [0, 0, 1, 0, 0, 0, 1, 0]
    );
    let s = farm(
        &[ServerSlot::new(3), ServerSlot::new(1)],
        Algorithm::StaticRr,
    );
    assert_eq!(picks(&s, &RequestKey::empty(), 4, |_| 0), [0, 0, 1, 0]);
}

#[test]
fn roundrobin_skips_down_and_zero_weight() {
    let slots = [
        ServerSlot::new(1),
        ServerSlot::new(1).usable(false),
        ServerSlot::new(0),
        ServerSlot::new(1),
    ];
    let f = farm(&slots, Algorithm::RoundRobin);
    assert_eq!(picks(&f, &RequestKey::empty(), 4, |_| 0), [0, 3, 0, 3]);
    assert_eq!(f.servers(), [0, 3]);
    assert_eq!(f.usable_active(), 2);
    assert_eq!(f.len(), 4);
}

#[test]
fn selector_offset_and_avoid() {
    let f = farm(
        &[ServerSlot::new(1), ServerSlot::new(1), ServerSlot::new(1)],
        Algorithm::RoundRobin,
    );
    let mut sel = Selector::with_offset(1);
    let k = RequestKey::empty();
    assert_eq!(sel.pick(&f, &k, |_| 0, 0), Some(1));
    assert_eq!(sel.pick_avoiding(&f, &k, |_| 0, 0, 2), Some(0));
    let single = farm(&[ServerSlot::new(1)], Algorithm::RoundRobin);
    assert_eq!(sel.pick_avoiding(&single, &k, |_| 0, 0, 0), Some(0));
}

#[test]
fn leastconn_ties_rotate() {
    let f = farm(
        &[ServerSlot::new(1), ServerSlot::new(1), ServerSlot::new(1)],
        Algorithm::LeastConn,
    );
    assert_eq!(
        picks(&f, &RequestKey::empty(), 6, |_| 5),
        [0, 1, 2, 0, 1, 2]
    );
    // (load + 1) / weight: server 1 at weight 4 with 6 connections beats server 0 with 2.
    let w = farm(
        &[ServerSlot::new(1), ServerSlot::new(4)],
        Algorithm::LeastConn,
    );
    let loads = [2u32, 6];
    assert_eq!(picks(&w, &RequestKey::empty(), 1, |i| loads[i]), [1]);
}

#[test]
fn first_fills_lowest_id() {
    let slots = [
        ServerSlot::new(1).maxconn(Some(2)).id(3),
        ServerSlot::new(1).maxconn(Some(2)).id(1),
        ServerSlot::new(1).maxconn(Some(2)).id(2),
    ];
    let f = farm(&slots, Algorithm::First);
    let mut sel = Selector::new();
    let k = RequestKey::empty();
    let at = |l: [u32; 3]| move |i: usize| l[i];
    assert_eq!(sel.pick(&f, &k, at([0, 0, 0]), 0), Some(1));
    assert_eq!(sel.pick(&f, &k, at([0, 2, 0]), 0), Some(2));
    assert_eq!(sel.pick(&f, &k, at([0, 2, 2]), 0), Some(0));
    // All full: the first one, where the request will queue.
    assert_eq!(sel.pick(&f, &k, at([2, 2, 2]), 0), Some(1));
    let unlimited = farm(&[ServerSlot::new(1), ServerSlot::new(1)], Algorithm::First);
    assert_eq!(sel.pick(&unlimited, &k, |_| 1_000_000, 0), Some(0));
}

#[test]
fn hashing_falls_back_to_round_robin() {
    let slots = [ServerSlot::new(1), ServerSlot::new(1)];
    for alg in [
        Algorithm::Source,
        Algorithm::Uri(UriOptions::default()),
        Algorithm::UrlParam("id".into()),
        Algorithm::Hdr("host".into()),
    ] {
        for method in [HashMethod::MapBased, HashMethod::Consistent] {
            let ht = HashType {
                method,
                ..HashType::default()
            };
            let f = Farm::new(&slots, false, alg.clone(), ht).unwrap();
            assert_eq!(
                picks(&f, &RequestKey::empty(), 4, |_| 0),
                [0, 1, 0, 1],
                "{alg:?}"
            );
        }
    }
}

#[test]
fn hashing_uses_the_right_part() {
    let slots = vec![ServerSlot::new(1); 16];
    let uri = farm(
        &slots,
        Algorithm::Uri(UriOptions {
            depth: Some(1),
            ..UriOptions::default()
        }),
    );
    let pick = |f: &Farm, k: RequestKey<'_>| Selector::new().pick(f, &k, |_| 0, 0);
    let a = pick(&uri, RequestKey::empty().with_uri(b"/img/a.png?x=1"));
    for other in [&b"/img/b.png"[..], b"/img", b"/img/c/d?y"] {
        assert_eq!(a, pick(&uri, RequestKey::empty().with_uri(other)));
    }
    let param = farm(&slots, Algorithm::UrlParam("user".into()));
    let u = b"/x?user=alice&z=1";
    let v = query_param_value(u, b"user").unwrap();
    assert_eq!(
        pick(&param, RequestKey::empty().with_param(v)),
        pick(&param, RequestKey::empty().with_param(b"alice"))
    );
    let hdr = farm(&slots, Algorithm::Hdr("host".into()));
    let hosts: std::collections::BTreeSet<_> = (0..200)
        .map(|i| {
            pick(
                &hdr,
                RequestKey::empty().with_header(format!("h{i}.example").as_bytes()),
            )
        })
        .collect();
    assert!(hosts.len() > 8, "header hashing spreads: {hosts:?}");
    let src = farm(&slots, Algorithm::Source);
    let v4: IpAddr = "192.0.2.7".parse().unwrap();
    let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
    assert_eq!(
        pick(&src, RequestKey::empty().with_client_ip(v4)),
        pick(&src, RequestKey::empty().with_client_ip(mapped))
    );
}

#[test]
fn random_two_prefers_the_less_loaded() {
    let f = farm(
        &[ServerSlot::new(1), ServerSlot::new(1)],
        Algorithm::Random(2),
    );
    let loads = [0u32, 10];
    let mut sel = Selector::new();
    let busy = (0..4000u64)
        .filter(|&r| {
            sel.pick(
                &f,
                &RequestKey::empty(),
                |i| loads[i],
                r.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ) == Some(1)
        })
        .count();
    // Only when both draws land on the busy server: about a quarter of the time.
    assert!(
        (700..1300).contains(&busy),
        "busy server picked {busy} times"
    );
}

#[test]
fn backups() {
    let slots = [
        ServerSlot::new(1).usable(false),
        ServerSlot::new(1).backup(true).usable(false),
        ServerSlot::new(1).backup(true),
        ServerSlot::new(1).backup(true),
    ];
    let one = Farm::new(&slots, false, Algorithm::RoundRobin, HashType::default()).unwrap();
    assert!(one.on_backup());
    assert_eq!(one.servers(), [2]);
    assert_eq!((one.usable_active(), one.usable_backup()), (0, 2));
    let all = Farm::new(&slots, true, Algorithm::RoundRobin, HashType::default()).unwrap();
    assert_eq!(picks(&all, &RequestKey::empty(), 4, |_| 0), [2, 3, 2, 3]);
    let none = farm(&[ServerSlot::new(1).usable(false)], Algorithm::LeastConn);
    assert!(none.is_empty());
    assert_eq!(
        Selector::new().pick(&none, &RequestKey::empty(), |_| 0, 0),
        None
    );
}

#[test]
fn build_errors() {
    let slots = [ServerSlot::new(1)];
    let ht = HashType::default();
    assert_eq!(
        Farm::new(&slots, false, Algorithm::Random(0), ht).unwrap_err(),
        BuildError::ZeroDraws
    );
    assert!(matches!(
        Farm::new(&slots, false, Algorithm::Hdr(String::new()), ht),
        Err(BuildError::EmptyName(_))
    ));
    assert!(matches!(
        Farm::new(&slots, false, Algorithm::UrlParam(String::new()), ht),
        Err(BuildError::EmptyName(_))
    ));
    let huge = [ServerSlot::new(u32::MAX)];
    assert!(matches!(
        Farm::new(&huge, false, Algorithm::Random(2), ht),
        Err(BuildError::TableTooLarge { .. })
    ));
}
