use std::net::IpAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::resolution::{Kind, Outcome, Params, Poll, Resolution, Status};
use crate::select::{assign_slots, pick_addr, srv_weight, Fill, Net, Preference};
use crate::wire::{self, rcode, rtype, DecodeError, Message, RData, Record};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sent(p: Poll) -> Message {
    match p {
        Poll::Send(b) => wire::decode(&b).unwrap(),
        other => panic!("expected a query, got {other:?}"),
    }
}

fn answer(q: &Message, rc: u16, answers: &[Record], additional: &[Record]) -> Message {
    wire::decode(&wire::encode_response(q, rc, false, answers, additional)).unwrap()
}

fn a(name: &str, addr: &str) -> Record {
    match ip(addr) {
        IpAddr::V4(v) => Record::new(name, 60, RData::A(v)),
        IpAddr::V6(v) => Record::new(name, 60, RData::Aaaa(v)),
    }
}

#[test]
fn query_encoding_with_and_without_edns() {
    let mut out = Vec::new();
    wire::encode_query(0x1234, "WWW.Example.", rtype::A, 512, &mut out).unwrap();
    assert_eq!(
        out,
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x00\x00\x01\x00\x01"
            .to_vec()
    );
    let m = wire::decode(&out).unwrap();
    assert_eq!(m.questions[0].name, "www.example");
    assert!(!m.response);
    assert_eq!(m.edns_payload, None);
    out.clear();
    wire::encode_query(1, "a.b", rtype::SRV, 1232, &mut out).unwrap();
    assert_eq!(wire::decode(&out).unwrap().edns_payload, Some(1232));
    for bad in ["", ".", "a..b", &"x".repeat(64), &"a.".repeat(130)] {
        assert!(
            wire::encode_query(1, bad, rtype::A, 512, &mut Vec::new()).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn compressed_names_and_bad_pointers() {
    // A response whose answer's owner name points back at the question.
    let mut m =
        b"\x00\x07\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x03www\x07example\x00\x00\x01\x00\x01"
            .to_vec();
    m.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x01");
    let d = wire::decode(&m).unwrap();
    assert_eq!(d.answers[0].name, "www.example");
    assert_eq!(d.answers[0].data, RData::A("192.0.2.1".parse().unwrap()));
    // A pointer at itself, and one forwards.
    let mut looping = m.clone();
    looping[29] = 0xc0;
    looping[30] = 29;
    assert_eq!(wire::decode(&looping), Err(DecodeError::BadPointer));
    let mut fwd = m.clone();
    fwd[30] = 40;
    assert_eq!(wire::decode(&fwd), Err(DecodeError::BadPointer));
    // Truncated anywhere: an error, never a panic.
    for n in 0..m.len() {
        assert!(wire::decode(&m[..n]).is_err(), "prefix {n}");
    }
    // A bad A record length.
    let mut bad = m.clone();
    bad[40] = 5;
    bad.push(0);
    assert_eq!(wire::decode(&bad), Err(DecodeError::BadRdata(rtype::A)));
}

#[test]
fn srv_round_trip_and_extended_rcode() {
    let mut q = Vec::new();
    wire::encode_query(9, "_http._tcp.example", rtype::SRV, 512, &mut q).unwrap();
    let q = wire::decode(&q).unwrap();
    let srv = Record::new(
        "_http._tcp.example",
        60,
        RData::Srv {
            priority: 1,
            weight: 10,
            port: 8080,
            target: "a.example".into(),
        },
    );
    let m = answer(
        &q,
        0,
        std::slice::from_ref(&srv),
        &[a("a.example", "192.0.2.7")],
    );
    assert_eq!(m.answers, vec![srv]);
    assert_eq!(m.additional, vec![a("a.example", "192.0.2.7")]);
    // OPT with an extended rcode (BADVERS, 16).
    let mut raw = wire::encode_response(&q, 0, false, &[], &[]);
    raw[11] = 1;
    raw.extend_from_slice(b"\x00\x00\x29\x04\xd0\x01\x00\x00\x00\x00\x00");
    let m = wire::decode(&raw).unwrap();
    assert_eq!(m.rcode, 16);
    assert_eq!(m.edns_payload, Some(1232));
}

#[test]
fn valid_answer_then_refresh_after_hold_valid() {
    let p = Params::default();
    let t0 = Instant::now();
    let mut r = Resolution::new("www.example", Kind::Host { prefer_v6: false });
    assert_eq!(r.next_wakeup(&p), None);
    let q = sent(r.poll(t0, &p, 1));
    assert_eq!(q.questions[0].qtype, rtype::A);
    assert_eq!(r.poll(t0, &p, 2), Poll::Idle);
    // Wrong id, not a response, other name: ignored.
    let mut other = q.clone();
    other.id = 2;
    assert_eq!(
        r.on_message(
            t0,
            &p,
            &answer(&other, 0, &[a("www.example", "192.0.2.1")], &[])
        ),
        Outcome::NotOurs
    );
    let mut other = q.clone();
    other.questions[0].name = "evil.example".into();
    let o = r.on_message(
        t0,
        &p,
        &answer(&other, 0, &[a("evil.example", "192.0.2.66")], &[]),
    );
    assert_eq!(
        o,
        Outcome::Error {
            status: Status::Invalid,
            final_: true
        },
        "a wrong question is an invalid answer"
    );
    assert_eq!(r.addrs, Vec::<IpAddr>::new());
    let mut r = Resolution::new("www.example", Kind::Host { prefer_v6: false });
    let q = sent(r.poll(t0, &p, 1));
    let o = r.on_message(
        t0,
        &p,
        &answer(
            &q,
            0,
            &[a("www.example", "192.0.2.1"), a("x.example", "192.0.2.9")],
            &[],
        ),
    );
    assert_eq!(o, Outcome::Valid { changed: true });
    assert_eq!(r.addrs, vec![ip("192.0.2.1")]);
    assert_eq!(r.status, Status::Valid);
    // The same answer again is no change; the next round waits for hold valid (10 s).
    assert_eq!(r.next_wakeup(&p), Some(t0 + Duration::from_secs(10)));
    assert_eq!(r.poll(t0 + Duration::from_secs(9), &p, 3), Poll::Idle);
    let q = sent(r.poll(t0 + Duration::from_secs(10), &p, 3));
    assert_eq!(q.id, 3);
    let o = r.on_message(
        t0,
        &p,
        &answer(&q, 0, &[a("www.example", "192.0.2.1")], &[]),
    );
    assert_eq!(o, Outcome::Valid { changed: false });
}

#[test]
fn cname_chain_is_followed() {
    let p = Params::default();
    let t0 = Instant::now();
    let mut r = Resolution::new("www.example", Kind::Host { prefer_v6: false });
    let q = sent(r.poll(t0, &p, 1));
    let ans = [
        Record::new("www.example", 60, RData::Cname("real.example".into())),
        a("real.example", "192.0.2.5"),
    ];
    assert_eq!(
        r.on_message(t0, &p, &answer(&q, 0, &ans, &[])),
        Outcome::Valid { changed: true }
    );
    assert_eq!(r.addrs, vec![ip("192.0.2.5")]);
}

#[test]
fn retries_then_timeout_then_hold() {
    let p = Params {
        retries: 3,
        retry: Duration::from_secs(1),
        ..Params::default()
    };
    let t0 = Instant::now();
    let mut r = Resolution::new("www.example", Kind::Host { prefer_v6: true });
    let q = sent(r.poll(t0, &p, 1));
    assert_eq!(q.questions[0].qtype, rtype::AAAA);
    assert_eq!(
        r.on_message(
            t0,
            &p,
            &answer(&q, 0, &[a("www.example", "2001:db8::1")], &[])
        ),
        Outcome::Valid { changed: true }
    );
    let t1 = t0 + Duration::from_secs(10);
    sent(r.poll(t1, &p, 2));
    sent(r.poll(t1 + Duration::from_secs(1), &p, 3));
    sent(r.poll(t1 + Duration::from_secs(2), &p, 4));
    assert_eq!(r.poll(t1 + Duration::from_millis(2500), &p, 5), Poll::Idle);
    assert_eq!(r.poll(t1 + Duration::from_secs(3), &p, 5), Poll::TimedOut);
    assert_eq!(r.status, Status::Timeout);
    assert_eq!(
        r.addrs,
        vec![ip("2001:db8::1")],
        "the last valid answer stays"
    );
    // hold timeout (30 s) counts from the last valid answer.
    assert!(r.usable(t0 + Duration::from_secs(29), &p.hold));
    assert!(!r.usable(t0 + Duration::from_secs(30), &p.hold));
    // After an error the next round comes `timeout resolve` later.
    assert_eq!(r.next_wakeup(&p), Some(t1 + Duration::from_secs(4)));
}

#[test]
fn nxdomain_refused_and_fallback_family() {
    let p = Params::default();
    let t0 = Instant::now();
    let mut r = Resolution::new("www.example", Kind::Host { prefer_v6: true });
    let q = sent(r.poll(t0, &p, 1));
    // No AAAA: the A query follows at once.
    assert_eq!(
        r.on_message(t0, &p, &answer(&q, 0, &[], &[])),
        Outcome::Fallback
    );
    assert_eq!(r.next_wakeup(&p), None);
    let q = sent(r.poll(t0, &p, 2));
    assert_eq!(q.questions[0].qtype, rtype::A);
    assert_eq!(
        r.on_message(
            t0,
            &p,
            &answer(&q, 0, &[a("www.example", "192.0.2.1")], &[])
        ),
        Outcome::Valid { changed: true }
    );
    let t1 = t0 + Duration::from_secs(10);
    let q = sent(r.poll(t1, &p, 3));
    assert_eq!(
        r.on_message(t1, &p, &answer(&q, rcode::NXDOMAIN, &[], &[])),
        Outcome::Fallback
    );
    let q = sent(r.poll(t1, &p, 4));
    assert_eq!(
        r.on_message(t1, &p, &answer(&q, rcode::NXDOMAIN, &[], &[])),
        Outcome::Error {
            status: Status::Nx,
            final_: true
        }
    );
    assert_eq!(r.status, Status::Nx);
    assert!(r.usable(t0 + Duration::from_secs(29), &p.hold));
    assert!(!r.usable(t0 + Duration::from_secs(31), &p.hold));
    let mut s = Resolution::new("_x._tcp.example", Kind::Srv);
    let q = sent(s.poll(t0, &p, 5));
    assert_eq!(
        s.on_message(t0, &p, &answer(&q, rcode::REFUSED, &[], &[])),
        Outcome::Error {
            status: Status::Refused,
            final_: true
        }
    );
    assert!(!s.usable(t0, &p.hold), "never valid: no address to hold");
}

#[test]
fn errors_wait_for_every_nameserver() {
    let p = Params {
        nameservers: 2,
        ..Params::default()
    };
    let t0 = Instant::now();
    let mut r = Resolution::new("www.example", Kind::Host { prefer_v6: false });
    let q = sent(r.poll(t0, &p, 1));
    assert_eq!(
        r.on_message(t0, &p, &answer(&q, rcode::SERVFAIL, &[], &[])),
        Outcome::Error {
            status: Status::Other,
            final_: false
        }
    );
    assert_eq!(
        r.on_message(
            t0,
            &p,
            &answer(&q, 0, &[a("www.example", "192.0.2.3")], &[])
        ),
        Outcome::Valid { changed: true }
    );
    // A late answer of the same round is no longer ours.
    assert_eq!(
        r.on_message(
            t0,
            &p,
            &answer(&q, 0, &[a("www.example", "192.0.2.3")], &[])
        ),
        Outcome::NotOurs
    );
}

#[test]
fn srv_records_come_and_go_with_hold_obsolete() {
    let mut p = Params::default();
    p.hold.obsolete = Duration::from_secs(15);
    let t0 = Instant::now();
    let mut r = Resolution::new("_http._tcp.example", Kind::Srv);
    let srv = |t: &str, port, w| {
        Record::new(
            "_http._tcp.example",
            60,
            RData::Srv {
                priority: 0,
                weight: w,
                port,
                target: t.into(),
            },
        )
    };
    let q = sent(r.poll(t0, &p, 1));
    let recs = [
        srv("a.example", 80, 256),
        srv("b.example", 81, 0),
        srv("c.example", 82, 0),
    ];
    let add = [
        a("a.example", "127.0.0.2"),
        a("b.example", "127.0.0.3"),
        a("c.example", "127.0.0.4"),
    ];
    assert_eq!(
        r.on_message(t0, &p, &answer(&q, 0, &recs, &add)),
        Outcome::Valid { changed: true }
    );
    assert_eq!(r.srv.len(), 3);
    let mut slots = vec![None; 4];
    assign_slots(&mut slots, &r.srv);
    assert_eq!(
        slots[0],
        Some(Fill {
            target: "a.example".into(),
            port: 80,
            weight: 2,
            addr: Some(ip("127.0.0.2"))
        })
    );
    assert_eq!(slots[2].as_ref().unwrap().target, "c.example");
    assert_eq!(slots[3], None);
    // b goes: kept until hold obsolete runs out, then its slot empties; the others stay in place.
    let t1 = t0 + Duration::from_secs(10);
    let q = sent(r.poll(t1, &p, 2));
    r.on_message(
        t1,
        &p,
        &answer(&q, 0, &[recs[0].clone(), recs[2].clone()], &add),
    );
    assert!(!r.expire_obsolete(t1, &p.hold));
    assert_eq!(r.srv.len(), 3, "b is held 15 s after it was last seen");
    assert!(r.expire_obsolete(t1 + Duration::from_secs(5), &p.hold));
    assert_eq!(r.srv.len(), 2);
    assign_slots(&mut slots, &r.srv);
    assert_eq!(slots[1], None);
    assert_eq!(slots[2].as_ref().unwrap().target, "c.example");
    // A new record takes the first free slot.
    let t2 = t1 + Duration::from_secs(20);
    let q = sent(r.poll(t2, &p, 3));
    r.on_message(
        t2,
        &p,
        &answer(
            &q,
            0,
            &[
                recs[0].clone(),
                recs[2].clone(),
                srv("d.example", 90, 65535),
            ],
            &[],
        ),
    );
    assign_slots(&mut slots, &r.srv);
    assert_eq!(
        slots[1],
        Some(Fill {
            target: "d.example".into(),
            port: 90,
            weight: 256,
            addr: None
        })
    );
    assert_eq!(srv_weight(0), 1);
}

#[test]
fn address_choice() {
    let v4 = Preference {
        prefer_v6: false,
        ..Preference::default()
    };
    let ans = [ip("2001:db8::1"), ip("192.0.2.1"), ip("192.0.2.2")];
    assert_eq!(pick_addr(None, &ans, &v4, &[]), Some(ip("192.0.2.1")));
    assert_eq!(
        pick_addr(Some(ip("192.0.2.2")), &ans, &v4, &[]),
        Some(ip("192.0.2.2")),
        "the current one stays"
    );
    assert_eq!(
        pick_addr(None, &ans, &v4, &[ip("192.0.2.1")]),
        Some(ip("192.0.2.2")),
        "no duplicate"
    );
    let dup = Preference {
        allow_dup: true,
        ..v4.clone()
    };
    assert_eq!(
        pick_addr(None, &ans, &dup, &[ip("192.0.2.1")]),
        Some(ip("192.0.2.1"))
    );
    let net = Preference {
        nets: vec![Net {
            addr: ip("192.0.2.2"),
            prefix: 32,
        }],
        ..v4
    };
    assert_eq!(pick_addr(None, &ans, &net, &[]), Some(ip("192.0.2.2")));
    let v6 = Preference {
        prefer_v6: true,
        ..Preference::default()
    };
    assert_eq!(pick_addr(None, &ans, &v6, &[]), Some(ip("2001:db8::1")));
    assert_eq!(pick_addr(None, &[], &v6, &[]), None);
    assert!(Net {
        addr: ip("10.0.0.0"),
        prefix: 8
    }
    .contains(ip("10.2.3.4")));
    assert!(!Net {
        addr: ip("10.0.0.0"),
        prefix: 8
    }
    .contains(ip("11.2.3.4")));
    assert!(Net {
        addr: ip("2001:db8::"),
        prefix: 32
    }
    .contains(ip("2001:db8:1::1")));
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = wire::decode(&bytes);
    }

    #[test]
    fn responses_round_trip(id in any::<u16>(), addrs in proptest::collection::vec(any::<[u8; 4]>(), 0..20)) {
        let mut q = Vec::new();
        wire::encode_query(id, "host.example", rtype::A, 512, &mut q).unwrap();
        let q = wire::decode(&q).unwrap();
        let recs: Vec<Record> = addrs.iter().map(|b| Record::new("host.example", 5, RData::A((*b).into()))).collect();
        let m = wire::decode(&wire::encode_response(&q, 0, false, &recs, &[])).unwrap();
        prop_assert_eq!(m.id, id);
        prop_assert_eq!(m.answers, recs);
    }
}
