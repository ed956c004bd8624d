//! The DNS message decoder and the resolution state machine, on any bytes.
//!
//! Decoding never panics; a decoded message's records re-encode to a message that decodes to the same records;
//! a resolution fed the message (whatever its id) stays consistent: a valid outcome leaves it in status Valid.
#![no_main]

use std::time::Instant;

use fulcrum_dns::resolution::{Kind, Outcome, Params, Resolution, Status};
use fulcrum_dns::wire::{decode, encode_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = decode(data) else {
        return;
    };
    let plain = |n: &str| !n.contains('\\');
    // Escaped bytes (`\\NNN`) in names do not re-encode to the same labels; only plain names round-trip.
    let names_plain = m.answers.iter().chain(&m.additional).all(|r| {
        plain(&r.name) && !matches!(&r.data, fulcrum_dns::wire::RData::Srv { target, .. } | fulcrum_dns::wire::RData::Cname(target) if !plain(target))
    }) && m.questions.iter().all(|q| plain(&q.name));
    if !names_plain {
        return;
    }
    let again = decode(&encode_response(
        &m,
        m.rcode & 0xF,
        m.truncated,
        &m.answers,
        &m.additional,
    ))
    .expect("a re-encoded message decodes");
    assert_eq!(again.answers, m.answers);
    assert_eq!(again.additional, m.additional);
    let now = Instant::now();
    let p = Params::default();
    for kind in [Kind::Host { prefer_v6: true }, Kind::Srv] {
        let name = m
            .questions
            .first()
            .map(|q| q.name.clone())
            .unwrap_or_else(|| "a.example".into());
        if !fulcrum_dns::wire::valid_name(&name) {
            continue;
        }
        let mut r = Resolution::new(&name, kind);
        let _ = r.start(now, &p, m.id);
        if let Outcome::Valid { .. } = r.on_message(now, &p, &m) {
            assert_eq!(r.status, Status::Valid);
        }
    }
});
