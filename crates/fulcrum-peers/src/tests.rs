//! The golden bytes are what haproxy 2.6.12 sent to a recorder on loopback (`set table` on its runtime API).

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn one(bytes: &[u8]) -> Message<'_> {
    let (m, n) = Message::decode(bytes).unwrap().unwrap();
    assert_eq!(n, bytes.len());
    m
}

#[test]
fn varints_match_the_documented_ranges() {
    for (v, len) in [
        (0u64, 1),
        (239, 1),
        (240, 2),
        (2287, 2),
        (2288, 3),
        (264_431, 3),
        (264_432, 4),
        (33_818_863, 4),
        (33_818_864, 5),
        (u64::from(u32::MAX), 5),
        (u64::MAX, 10),
    ] {
        let mut b = Vec::new();
        varint::encode(v, &mut b);
        assert_eq!(b.len(), len, "{v}");
        assert_eq!(varint::decode(&b).unwrap(), (v, len), "{v}");
        assert!(varint::decode(&b[..len - 1]).is_err());
    }
    // 60000 and 50000 as haproxy wrote them
    assert_eq!(varint::decode(&hex("f0971c")).unwrap(), (60_000, 3));
    assert_eq!(varint::decode(&hex("f0a617")).unwrap(), (50_000, 3));
    assert!(varint::decode(&[0xff; 12]).is_err());
}

#[test]
fn handshake_lines() {
    let (h, n) = Hello::parse(b"HAProxyS 2.1\nB\nA 6708 1\nrest")
        .unwrap()
        .unwrap();
    assert_eq!(n, 24);
    assert_eq!(
        h,
        Hello {
            version: "2.1".into(),
            remote: "B".into(),
            local: "A".into(),
            pid: 6708,
            relative_pid: 1
        }
    );
    assert!(h.version_ok());
    assert_eq!(
        Hello::new("B", "A", 6708).encode(),
        b"HAProxyS 2.1\nB\nA 6708 1\n"
    );
    assert_eq!(Hello::parse(b"HAProxyS 2.1\nB\n").unwrap(), None);
    assert!(Hello::parse(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").is_err());
    assert!(!Hello::parse(b"HAProxyS 3.0\nB\nA 1 1\n")
        .unwrap()
        .unwrap()
        .0
        .version_ok());
    assert_eq!(Status::parse(b"200\n").unwrap(), Some((Status::Ok, 4)));
    assert_eq!(Status::parse(b"50").unwrap(), None);
    assert_eq!(Status::RemoteMismatch.encode(), b"504\n");
}

#[test]
fn control_messages() {
    for (m, b) in [
        (Message::ResyncRequest, [0u8, 0]),
        (Message::ResyncFinished, [0, 1]),
        (Message::ResyncPartial, [0, 2]),
        (Message::ResyncConfirm, [0, 3]),
        (Message::Heartbeat, [0, 4]),
        (Message::ProtocolError, [1, 0]),
        (Message::SizeLimit, [1, 1]),
    ] {
        assert_eq!(one(&b), m);
        let mut out = Vec::new();
        m.encode(&mut out);
        assert_eq!(out, b);
    }
    assert!(Message::decode(&[0, 9]).is_err());
    assert_eq!(Message::decode(&[0]).unwrap(), None);
}

#[test]
fn string_table_definition_and_update_from_haproxy() {
    let def_bytes = hex("0a8218 02 02 7374 06 20 ff98ff0a f0971c 03f0e203 05f0a617 15f82f");
    let Message::Define(def) = one(&def_bytes) else {
        panic!()
    };
    assert_eq!(def.id, 2);
    assert_eq!(def.name, b"st");
    assert_eq!(def.key_type, KeyType::String);
    assert_eq!(def.key_len, 32);
    assert_eq!(def.data_types, 0x30027f);
    assert_eq!(def.expire, 60_000);
    assert_eq!(def.periods, [(3, 10_000), (5, 50_000), (21, 1000)]);
    let mut out = Vec::new();
    Message::Define(def.clone()).encode(&mut out);
    assert_eq!(out, def_bytes);

    let upd_bytes = hex(
        "0a8022 00000001 05 68656c6c6f 03 00 07 010500 00 fff7d5bd220000 02 00 00 fff7d5bd220000",
    );
    let Message::Update { kind, payload } = one(&upd_bytes) else {
        panic!()
    };
    assert_eq!(
        kind,
        UpdateKind {
            incremental: false,
            timed: false
        }
    );
    let u = EntryUpdate::decode(payload, kind, &def).unwrap();
    let (stale, _) = varint::decode(&hex("fff7d5bd22")).unwrap();
    let stale = stale as u32;
    assert_eq!(u.id, Some(1));
    assert_eq!(u.key, b"hello");
    assert_eq!(
        u.values,
        [
            (0, Value::Num(3)),
            (1, Value::Num(0)),
            (2, Value::Num(7)),
            (3, Value::Freq(1, 5, 0)),
            (4, Value::Num(0)),
            (5, Value::Freq(stale, 0, 0)),
            (6, Value::Num(2)),
            (9, Value::Num(0)),
            (20, Value::Num(0)),
            (21, Value::Freq(stale, 0, 0)),
        ]
    );
    let mut out = Vec::new();
    u.encode(KeyType::String, 32, &mut out);
    assert_eq!(out, upd_bytes);
}

#[test]
fn integer_ip_and_ipv6_tables_from_haproxy() {
    let b = hex("0a8208 03 02 7369 02 04 04 00  0a8009 00000001 000004d2 01");
    let (Message::Define(def), n) = Message::decode(&b).unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(
        (def.key_type, def.key_len, def.data_types),
        (KeyType::Integer, 4, 4)
    );
    let Message::Update { kind, payload } = one(&b[n..]) else {
        panic!()
    };
    let u = EntryUpdate::decode(payload, kind, &def).unwrap();
    assert_eq!(u.key, 1234u32.to_be_bytes());
    assert_eq!(u.values, [(2, Value::Num(1))]);

    let b = hex("0a8209 04 03 736970 04 04 04 00");
    let Message::Define(def) = one(&b) else {
        panic!()
    };
    assert_eq!(def.key_type, KeyType::Ipv4);

    // a table of a peers section travels as "/NAME"
    let b =
        hex("0a8209 01 03 2f7474 05 10 00 00  0a8014 00000001 00000000000000000000000000000001");
    let (Message::Define(def), n) = Message::decode(&b).unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(def.name, b"/tt");
    assert_eq!(def.key_type, KeyType::Ipv6);
    let Message::Update { kind, payload } = one(&b[n..]) else {
        panic!()
    };
    let u = EntryUpdate::decode(payload, kind, &def).unwrap();
    assert_eq!(u.key, std::net::Ipv6Addr::LOCALHOST.octets());
    assert!(u.values.is_empty());
}

#[test]
fn incremental_timed_updates_acks_and_switches_round_trip() {
    let def = TableDefinition {
        id: 7,
        name: b"t".to_vec(),
        key_type: KeyType::Binary,
        key_len: 6,
        data_types: 1 << 2 | 1 << 10,
        expire: 1000,
        periods: vec![(10, 10_000)],
        elements: Vec::new(),
    };
    let u = EntryUpdate {
        id: None,
        expire: Some(900),
        key: vec![1, 2, 3, 4, 5, 6],
        values: vec![(2, Value::Num(300)), (10, Value::Freq(5, 6, 7))],
    };
    let mut out = Vec::new();
    u.encode(KeyType::Binary, 6, &mut out);
    Message::Ack {
        id: 7,
        update: 0x01020304,
    }
    .encode(&mut out);
    Message::Switch { id: 300 }.encode(&mut out);
    let (m, n) = Message::decode(&out).unwrap().unwrap();
    let Message::Update { kind, payload } = m else {
        panic!()
    };
    assert_eq!(
        kind,
        UpdateKind {
            incremental: true,
            timed: true
        }
    );
    assert_eq!(EntryUpdate::decode(payload, kind, &def).unwrap(), u);
    let (m, k) = Message::decode(&out[n..]).unwrap().unwrap();
    assert_eq!(
        m,
        Message::Ack {
            id: 7,
            update: 0x01020304
        }
    );
    assert_eq!(one(&out[n + k..]), Message::Switch { id: 300 });
    // an incomplete message waits for more bytes
    assert_eq!(Message::decode(&out[..n - 1]).unwrap(), None);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    // over the size limit
    let mut b = vec![10, 128];
    varint::encode(MAX_MESSAGE + 1, &mut b);
    assert_eq!(Message::decode(&b), Err(Error::TooLong(MAX_MESSAGE + 1)));
    // a string longer than the table's keys
    let def = TableDefinition {
        id: 1,
        name: b"t".to_vec(),
        key_type: KeyType::String,
        key_len: 2,
        data_types: 0,
        expire: 0,
        periods: vec![],
        elements: Vec::new(),
    };
    let kind = UpdateKind {
        incremental: true,
        timed: false,
    };
    assert!(EntryUpdate::decode(&[3, b'a', b'b', b'c'], kind, &def).is_err());
    // a data type HAProxy 2.6 does not have cannot be read
    let def = TableDefinition {
        data_types: 1 << 25,
        ..def
    };
    assert_eq!(
        EntryUpdate::decode(&[1, b'a', 0], kind, &def),
        Err(Error::DataType(25))
    );
    // a dictionary entry running past its length
    let def = TableDefinition {
        data_types: 1 << 19,
        ..def
    };
    assert!(EntryUpdate::decode(&[1, b'a', 3, 1, 4, b's'], kind, &def).is_err());
    // an unknown key type
    assert!(Message::decode(&hex("0a8206 01 01 74 09 04 00")).is_err());
    // unknown long messages are skipped whole
    assert_eq!(
        one(&[10, 200, 1, 0]),
        Message::Unknown {
            class: 10,
            kind: 200
        }
    );
}

/// `server_key` as haproxy 2.6.12 sent it (recorded on loopback): `srv1` numbered 1 the first time, the number
/// alone afterwards.
#[test]
fn server_key_updates_from_haproxy() {
    let def = TableDefinition {
        id: 1,
        name: b"/mytable".to_vec(),
        key_type: KeyType::String,
        key_len: 32,
        data_types: (1 << 0) | (1 << 19),
        expire: 0,
        periods: vec![],
        elements: Vec::new(),
    };
    // table definition: data types f1 f1 fe 00 = bits 0 and 19
    let define = hex("0a82 11 01 08 2f6d797461626c65 06 20 f1f1fe00 00");
    let m = one(&define);
    assert!(matches!(m, Message::Define(d) if d.data_types == def.data_types));
    let full = UpdateKind {
        incremental: false,
        timed: false,
    };
    let inc = UpdateKind {
        incremental: true,
        timed: false,
    };
    let first = hex("00000001 02 6331 01 06 01 04 73727631");
    let u = EntryUpdate::decode(&first, full, &def).unwrap();
    assert_eq!(
        u.values,
        [
            (0, Value::Num(1)),
            (19, Value::Dict(1, Some(b"srv1".to_vec())))
        ]
    );
    let again = hex("04 63333333 01 01 01");
    let u2 = EntryUpdate::decode(&again, inc, &def).unwrap();
    assert_eq!(u2.values, [(0, Value::Num(1)), (19, Value::Dict(1, None))]);
    // encoded back as haproxy sent them
    let mut out = Vec::new();
    u.encode(KeyType::String, 32, &mut out);
    assert_eq!(out, [&hex("0a80 0f")[..], &first[..]].concat());
    let mut dict = crate::dict::Incoming::default();
    assert_eq!(dict.resolve(1, Some(b"srv1")), Some(&b"srv1"[..]));
    assert_eq!(dict.resolve(1, None), Some(&b"srv1"[..]));
    assert_eq!(dict.resolve(2, None), None);
    assert_eq!(dict.resolve(0, None), None);
    assert_eq!(dict.resolve(129, Some(b"x")), None);
}

/// Numbers are given in order, reused for the same text, and the oldest is reassigned when all are taken.
#[test]
fn outgoing_dictionary_numbers() {
    let mut d = crate::dict::Outgoing::default();
    assert_eq!(d.number(70), (1, true));
    assert_eq!(d.number(71), (2, true));
    assert_eq!(d.number(70), (1, false));
    for i in 0..126 {
        d.number(1000 + i);
    }
    assert_eq!(d.number(5), (1, true));
    assert_eq!(d.number(70), (2, true));
    assert_eq!(d.number(71), (3, true));
}

/// A table with HAProxy 2.6's arrays, as haproxy 2.6.12 taught it (recorded on loopback): `store
/// gpc(3),gpc_rate(2,10s),gpt(2),http_req_cnt`, key `/a` after `sc-inc-gpc(1,0)`, `sc-inc-gpc(2,0)` twice and
/// `sc-set-gpt(1,0) 42`. The definition gives each array's number of elements (and a rate array's period), the
/// update the elements one after the other.
#[test]
fn array_table_definition_and_update_from_haproxy() {
    let def_bytes = hex("0a8216 01 02 7374 06 21 f091ff6e f0971c 1602 1703 1802f0e203");
    let Message::Define(def) = one(&def_bytes) else {
        panic!("not a definition")
    };
    assert_eq!(def.name, b"st");
    assert_eq!(def.data_types, 1 << 9 | 1 << 22 | 1 << 23 | 1 << 24);
    assert_eq!(def.expire, 60_000);
    assert_eq!(def.elements, [(22, 2), (23, 3), (24, 2)]);
    assert_eq!(def.periods, [(24, 10_000)]);
    let mut out = Vec::new();
    Message::Define(def.clone()).encode(&mut out);
    assert_eq!(out, def_bytes);
    let upd_bytes =
        hex("0a851c 00000006 0000e5b3 02 2f61 01 002a 000102 fff2bb9624 00 00 fd3b 01 00");
    let Message::Update { kind, payload } = one(&upd_bytes) else {
        panic!("not an update")
    };
    let u = EntryUpdate::decode(payload, kind, &def).unwrap();
    assert_eq!(u.key, b"/a");
    assert_eq!(
        u.values,
        [
            (9, Value::Num(1)),
            (22, Value::Num(0)),
            (22, Value::Num(42)),
            (23, Value::Num(0)),
            (23, Value::Num(1)),
            (23, Value::Num(2)),
            (24, Value::Freq(1_247_668_255, 0, 0)),
            (24, Value::Freq(1197, 1, 0)),
        ]
    );
    let mut out = Vec::new();
    u.encode(def.key_type, def.key_len as usize - 1, &mut out);
    assert_eq!(out, upd_bytes);
    // an array announced with no element, or more than 100, is refused
    assert!(Message::decode(&hex("0a820f 01 02 7374 06 21 f0b0ff07 f0971c 1600")).is_err());
}
