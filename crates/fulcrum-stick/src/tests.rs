use super::*;
use std::net::Ipv4Addr;

fn table(size: usize, expire: Option<u32>, nopurge: bool) -> Arc<Table> {
    Arc::new(Table::new(TableDef {
        name: "t".into(),
        key_type: KeyType::Ip,
        size,
        expire,
        nopurge,
        store: vec![
            (DataType::HttpReqRate, 10_000),
            (DataType::ConnCur, 0),
            (DataType::Gpc0, 0),
            (DataType::ServerId, 0),
        ],
        elements: Vec::new(),
        srvkey_addr: false,
    }))
}

fn ip(n: u8) -> Key {
    Key::V4(Ipv4Addr::new(10, 0, 0, n))
}

#[test]
fn track_counts_and_releases() {
    let t = table(10, Some(30_000), false);
    let a = t.track(&ip(1), 1000).unwrap();
    let b = t.track(&ip(1), 1000).unwrap();
    assert_eq!(a.refs(), 2);
    for _ in 0..5 {
        a.update(1000, |d| d.http_request());
    }
    b.update(1000, |d| d.connection());
    assert_eq!(
        t.lookup(&ip(1), 1000, |d| d.get(DataType::HttpReqRate)),
        Some(Some(5))
    );
    assert_eq!(
        t.lookup(&ip(1), 1000, |d| d.get(DataType::ConnCur)),
        Some(Some(1))
    );
    assert_eq!(
        t.lookup(&ip(1), 1000, |d| d.get(DataType::ConnCnt)),
        Some(None)
    );
    drop(b);
    assert_eq!(a.refs(), 1);
    drop(a);
    assert_eq!(t.used(), 1);
    assert_eq!(t.available(), 9);
}

#[test]
fn expiry_is_lazy_and_swept_from_the_cold_end() {
    let t = table(10, Some(1000), false);
    t.upsert(&ip(1), 0, |_| ()).unwrap();
    t.upsert(&ip(2), 500, |_| ()).unwrap();
    let held = t.track(&ip(3), 100).unwrap();
    // ip(1) expired at 1000: a lookup no longer sees it, although it is still counted until a sweep
    assert!(t.lookup(&ip(1), 1000, |_| ()).is_none());
    assert!(t.lookup(&ip(2), 1000, |_| ()).is_some());
    assert_eq!(t.sweep(1200), 1);
    assert_eq!(t.used(), 2);
    // a tracked entry outlives its expiry
    assert_eq!(t.sweep(5000), 1);
    assert_eq!(t.used(), 1);
    assert!(t.lookup(&ip(3), 5000, |_| ()).is_some());
    drop(held);
    assert_eq!(t.sweep(5000), 1);
    assert_eq!(t.used(), 0);
}

#[test]
fn a_full_table_evicts_the_least_recently_used_untracked_entry() {
    let t = table(3, None, false);
    let held = t.track(&ip(1), 0).unwrap();
    t.upsert(&ip(2), 1, |_| ()).unwrap();
    t.upsert(&ip(3), 2, |_| ()).unwrap();
    // ip(2) is touched again: ip(3) is now the coldest unused one
    t.upsert(&ip(2), 3, |_| ()).unwrap();
    t.upsert(&ip(4), 4, |_| ()).unwrap();
    assert_eq!(t.used(), 3);
    assert!(t.lookup(&ip(3), 5, |_| ()).is_none());
    assert!(t.lookup(&ip(1), 5, |_| ()).is_some());
    assert!(t.lookup(&ip(2), 5, |_| ()).is_some());
    drop(held);
}

#[test]
fn nopurge_refuses_new_keys_when_full() {
    let t = table(2, None, true);
    t.upsert(&ip(1), 0, |_| ()).unwrap();
    t.upsert(&ip(2), 0, |_| ()).unwrap();
    assert!(t.upsert(&ip(3), 0, |_| ()).is_none());
    assert!(t.track(&ip(3), 0).is_none());
    assert!(t.upsert(&ip(1), 0, |_| ()).is_some());
}

#[test]
fn sharded_tables_hold_their_size() {
    let t = table(8192, Some(60_000), false);
    for i in 0..20_000u32 {
        t.upsert(&Key::V4(Ipv4Addr::from(i)), u64::from(i), |d| {
            d.http_request()
        })
        .unwrap();
    }
    assert!(t.used() <= 8192);
    assert!(t.used() > 8000);
    // the newest keys are there, the oldest went
    assert!(t
        .lookup(&Key::V4(Ipv4Addr::from(19_999)), 20_000, |_| ())
        .is_some());
    assert!(t
        .lookup(&Key::V4(Ipv4Addr::from(0)), 20_000, |_| ())
        .is_none());
}

#[test]
fn keys_are_cast_to_the_table_type() {
    use std::net::IpAddr;
    let v4: IpAddr = "1.2.3.4".parse().unwrap();
    let mapped: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    assert_eq!(
        KeyType::Ip.key(KeyInput::Ip(v4)),
        KeyType::Ip.key(KeyInput::Ip(mapped))
    );
    assert_eq!(KeyType::Ip.key(KeyInput::Ip(v6)), None);
    assert_eq!(
        KeyType::String(3).key(KeyInput::Bytes(b"abcdef")),
        Some(Key::Bytes(Box::from(&b"abc"[..])))
    );
    assert_eq!(
        KeyType::Binary(4).key(KeyInput::Bytes(b"\x01\x02")),
        Some(Key::Bytes(Box::from(&b"\x01\x02\0\0"[..])))
    );
    assert_eq!(
        KeyType::Integer.key(KeyInput::Bytes(b"42")),
        Some(Key::Int(42))
    );
    assert_eq!(
        KeyType::Ipv6.key(KeyInput::Ip(v4)).unwrap().to_string(),
        "::ffff:1.2.3.4"
    );
}

/// The lines haproxy 2.6.12 printed for the same table and `set table` commands (its addresses differ).
#[test]
fn show_set_and_clear_as_haproxy() {
    let t = Arc::new(Table::new(TableDef {
        name: "fe".into(),
        key_type: KeyType::Ip,
        size: 1024,
        expire: Some(30_000),
        nopurge: false,
        store: vec![
            (DataType::HttpReqRate, 10_000),
            (DataType::ConnCur, 0),
            (DataType::ConnCnt, 0),
            (DataType::Gpc0, 0),
            (DataType::ServerId, 0),
            (DataType::Gpc0Rate, 1000),
        ],
        elements: Vec::new(),
        srvkey_addr: false,
    }));
    assert_eq!(
        t.show(&[], 0).unwrap(),
        "# table: fe, type: ip, size:1024, used:0\n"
    );
    t.set(&["key", "9.9.9.9", "data.gpc0", "1"], 0).unwrap();
    t.set(
        &["key", "10.0.0.1", "data.gpc0", "2", "data.server_id", "-3"],
        0,
    )
    .unwrap();
    t.set(&["key", "1.0.0.1", "data.gpc0", "3"], 0).unwrap();
    assert_eq!(
        t.set(
            &[
                "key",
                "1.0.0.1",
                "data.http_req_rate",
                "4",
                "data.gpc1",
                "1"
            ],
            0
        ),
        Err(ShowError::NotStored)
    );
    assert_eq!(
        t.set(&["key", "1.0.0.1", "data.gpc0"], 0),
        Err(ShowError::StoreValue)
    );
    assert_eq!(
        t.set(&["key", "1.0.0.1", "data.foo", "1"], 0),
        Err(ShowError::DataType)
    );
    assert_eq!(t.set(&["data.gpc0", "1"], 0), Err(ShowError::SetByContent));
    let out = t.show(&[], 14).unwrap();
    let strip = |s: &str| -> String {
        s.lines()
            .map(|l| l.split_once(": ").map_or(l, |(_, r)| r).to_string() + "\n")
            .collect()
    };
    assert_eq!(
        strip(&out),
        "fe, type: ip, size:1024, used:3\n\
         key=1.0.0.1 use=0 exp=29986 server_id=0 gpc0=3 gpc0_rate(1000)=0 conn_cnt=0 conn_cur=0 http_req_rate(10000)=4\n\
         key=9.9.9.9 use=0 exp=29986 server_id=0 gpc0=1 gpc0_rate(1000)=0 conn_cnt=0 conn_cur=0 http_req_rate(10000)=0\n\
         key=10.0.0.1 use=0 exp=29986 server_id=-3 gpc0=2 gpc0_rate(1000)=0 conn_cnt=0 conn_cur=0 http_req_rate(10000)=0\n"
    );
    assert!(out.starts_with("# table: fe, type: ip, size:1024, used:3\n0x"));
    let f = t.show(&["data.gpc0", "ge", "2"], 14).unwrap();
    assert_eq!(f.lines().count(), 3);
    assert_eq!(
        t.show(&["key", "9.9.9.9", "data.gpc0", "gt", "5"], 14)
            .unwrap()
            .lines()
            .count(),
        2
    );
    assert_eq!(t.show(&["key", "9.9.9.8"], 14).unwrap(), "");
    assert_eq!(
        t.show(&["data.nope", "gt", "1"], 14),
        Err(ShowError::FilterType)
    );
    assert_eq!(
        t.show(&["data.gpc0", "xx", "1"], 14),
        Err(ShowError::FilterOp)
    );
    assert_eq!(
        t.show(&["data.gpc0", "gt", "x"], 14),
        Err(ShowError::FilterValue)
    );
    assert_eq!(
        t.show(&["data.gpc1", "gt", "1"], 14),
        Err(ShowError::FilterNotStored)
    );
    assert_eq!(t.show(&["foo"], 14), Err(ShowError::ShowArgs));
    assert_eq!(t.clear(&["foo"], 14), Err(ShowError::Required));
    assert_eq!(t.clear(&["data.gpc0", "eq", "3"], 14), Ok(1));
    assert_eq!(t.clear(&["key", "9.9.9.9"], 14), Ok(1));
    assert_eq!(t.used(), 1);
    assert_eq!(t.clear(&[], 14), Ok(1));
    assert_eq!(t.used(), 0);
    let list = list([&*t, &*table(10, None, false)].into_iter());
    assert_eq!(
        list,
        "# table: t, type: ip, size:10, used:0\n# table: fe, type: ip, size:1024, used:0\n"
    );
}

#[test]
fn local_changes_are_listed_in_update_order_and_remote_ones_are_not() {
    let t = table(10, Some(30_000), false);
    t.replicate();
    assert_eq!(t.update_seq(), 0);
    t.upsert(&ip(1), 1000, |d| d.add(DataType::Gpc0, 1));
    t.upsert(&ip(2), 1000, |d| d.add(DataType::Gpc0, 2));
    // touching 1 again moves it after 2
    t.upsert(&ip(1), 1001, |d| d.add(DataType::Gpc0, 1));
    assert_eq!(t.update_seq(), 3);
    let u = t.updates_after(0, 10, 1002);
    assert_eq!(
        u.iter().map(|u| (u.upd, u.key.clone())).collect::<Vec<_>>(),
        [(2, ip(2)), (3, ip(1))]
    );
    assert!(u[1].values.contains(&(DataType::Gpc0, Raw::Num(2))));
    assert_eq!(u[1].exp, 29_999);
    assert_eq!(t.updates_after(2, 10, 1002).len(), 1);
    assert_eq!(t.updates_after(0, 1, 1002)[0].upd, 2);
    // a change learned from a peer is stored but not listed to be sent on
    assert!(t.apply_remote(&ip(3), 1002, None, |d| d
        .set_raw(DataType::Gpc0, Raw::Num(9))));
    assert_eq!(t.update_seq(), 3);
    assert_eq!(
        t.lookup(&ip(3), 1002, |d| d.get(DataType::Gpc0)),
        Some(Some(9))
    );
    // an entry that goes leaves the list
    t.sweep(40_000);
    assert!(t.updates_after(0, 10, 40_000).is_empty());
}

#[test]
fn rates_travel_as_elapsed_current_previous() {
    let t = table(10, None, false);
    t.replicate();
    t.upsert(&ip(1), 5000, |d| {
        d.add(DataType::HttpReqRate, 3);
    });
    let u = t.updates_after(0, 10, 5400);
    let raw = u[0]
        .values
        .iter()
        .find(|(d, _)| *d == DataType::HttpReqRate)
        .unwrap()
        .1;
    // a counter that never rotated began its period at the clock's start
    assert_eq!(raw, Raw::Freq(5400, 3, 0));
    let other = table(10, None, false);
    other.apply_remote(&ip(1), 90_000, None, |d| {
        d.set_raw(DataType::HttpReqRate, raw)
    });
    assert_eq!(
        other.lookup(&ip(1), 90_000, |d| d.get(DataType::HttpReqRate)),
        Some(Some(3))
    );
    assert_eq!(DataType::HttpFailRate.wire_bit(), 21);
    assert_eq!(DataType::from_wire_bit(19), Some(DataType::ServerKey));
    assert_eq!(DataType::from_wire_bit(22), Some(DataType::Gpt));
    assert_eq!(DataType::from_wire_bit(24), Some(DataType::GpcRate));
    assert_eq!(DataType::from_wire_bit(25), None);
    assert_eq!(DataType::from_wire_bit(5), Some(DataType::ConnRate));
}

#[test]
fn entries_include_what_peers_taught() {
    let t = table(10, None, false);
    t.replicate();
    t.upsert(&ip(1), 1000, |d| d.add(DataType::Gpc0, 1));
    t.apply_remote(&ip(2), 1000, None, |d| {
        d.set_raw(DataType::Gpc0, Raw::Num(5))
    });
    let mut e = t.entries(1000);
    e.sort_by_key(|u| u.upd);
    assert_eq!(
        e.iter().map(|u| (u.upd, u.key.clone())).collect::<Vec<_>>(),
        [(0, ip(2)), (1, ip(1))]
    );
}

#[test]
fn a_table_no_peers_section_replicates_numbers_no_change() {
    let t = table(10, Some(30_000), false);
    t.upsert(&ip(1), 1000, |d| d.add(DataType::Gpc0, 1));
    let _held = t.track(&ip(2), 1000);
    assert_eq!(t.update_seq(), 0);
    assert!(t.updates_after(0, 10, 1000).is_empty());
    // Its entries are still there for a full teach.
    assert_eq!(t.entries(1000).len(), 2);
}

/// `server_key` as haproxy 2.6.12 shows it (after `gpc1_rate`, before `http_fail_cnt`), refused by `set table`
/// and by filters as HAProxy refuses them.
#[test]
fn server_key_shown_and_refused_as_haproxy() {
    let t = Arc::new(Table::new(TableDef {
        name: "be1".into(),
        key_type: KeyType::String(32),
        size: 1024,
        expire: None,
        nopurge: false,
        store: vec![
            (DataType::HttpFailCnt, 0),
            (DataType::Gpc1Rate, 10_000),
            (DataType::ServerId, 0),
            (DataType::ServerKey, 0),
        ],
        elements: Vec::new(),
        srvkey_addr: false,
    }));
    let k = intern_server_key("srv1");
    assert_eq!(intern_server_key("srv1"), k);
    assert_ne!(intern_server_key("srv2"), k);
    assert_eq!(server_key(k).as_deref(), Some("srv1"));
    assert_eq!(server_key(0), None);
    t.upsert(&Key::Bytes(b"c1".to_vec().into_boxed_slice()), 0, |d| {
        d.set(DataType::ServerId, 1);
        d.set(DataType::ServerKey, k);
    });
    let out = t.show(&[], 0).unwrap();
    let line = out.lines().nth(1).unwrap();
    assert_eq!(
        &line[line.find(" key=").unwrap()..],
        " key=c1 use=0 exp=0 server_id=1 gpc1_rate(10000)=0 server_key=srv1 http_fail_cnt=0"
    );
    assert_eq!(
        t.set(&["key", "c1", "data.server_key", "srv9"], 0),
        Err(ShowError::StoreValue)
    );
    assert_eq!(
        t.show(&["data.server_key", "eq", "srv1"], 0),
        Err(ShowError::FilterValue)
    );
}

/// A stored value is 16 bytes (counters in 8, rates in 12 with a 32-bit tick): what an entry costs per type.
#[test]
fn values_are_16_bytes() {
    assert_eq!(std::mem::size_of::<crate::data::Slot>(), 16);
}

/// The arrays: each element a value of its own, laid out after the others in HAProxy's order, shown and sent one
/// by one; elements beyond the array are not stored.
#[test]
fn arrays_hold_their_elements() {
    let t = Table::new(TableDef {
        name: "a".into(),
        key_type: KeyType::Ip,
        size: 10,
        expire: None,
        nopurge: false,
        store: vec![
            (DataType::GpcRate, 10_000),
            (DataType::Gpc, 0),
            (DataType::Gpt, 0),
            (DataType::HttpReqCnt, 0),
        ],
        elements: vec![
            (DataType::Gpc, 3),
            (DataType::GpcRate, 2),
            (DataType::Gpt, 2),
        ],
        srvkey_addr: false,
    });
    assert_eq!(t.layout().width(), 8);
    assert_eq!(t.layout().elements(DataType::Gpc), 3);
    t.upsert(&ip(1), 1000, |d| {
        assert_eq!(d.inc_gpc_at(2, 1), 1);
        assert_eq!(d.inc_gpc_at(2, 1), 2);
        d.inc_gpc_at(1, 1);
        assert!(d.set_at(DataType::Gpt, 1, 42));
        assert!(!d.set_at(DataType::Gpt, 2, 1));
        assert_eq!(d.get_at(DataType::Gpc, 3), None);
        assert_eq!(d.clr_gpc_at(1), 1);
    });
    let out = t.show(&[], 1000).unwrap();
    let line = out.lines().nth(1).unwrap();
    assert_eq!(
        &line[line.find(" key=").unwrap()..],
        " key=10.0.0.1 use=0 exp=0 http_req_cnt=0 gpt0=0 gpt1=42 gpc0=0 gpc1=0 gpc2=2 gpc0_rate(10000)=0 gpc1_rate(10000)=1"
    );
    let e = t.entries(1000);
    let types: Vec<DataType> = e[0].values.iter().map(|(d, _)| *d).collect();
    use DataType::*;
    assert_eq!(
        types,
        [HttpReqCnt, Gpt, Gpt, Gpc, Gpc, Gpc, GpcRate, GpcRate]
    );
    assert_eq!(e[0].values[2], (Gpt, Raw::Num(42)));
    assert_eq!(e[0].values[5], (Gpc, Raw::Num(2)));
}
