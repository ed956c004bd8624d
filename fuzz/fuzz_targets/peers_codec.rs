//! The peers protocol: the hello and status lines, then a stream of messages, each update read with the last
//! table definition seen (or a fixed one) and encoded again.
#![no_main]

use fulcrum_peers::{EntryUpdate, Hello, KeyType, Message, Status, TableDefinition};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Hello::parse(data);
    let _ = Status::parse(data);
    let mut def = TableDefinition {
        id: 1,
        name: b"t".to_vec(),
        key_type: KeyType::String,
        key_len: 32,
        data_types: 0x30027f,
        expire: 0,
        periods: Vec::new(),
        elements: Vec::new(),
    };
    let mut buf = data;
    while let Ok(Some((m, n))) = Message::decode(buf) {
        assert!(n > 0 && n <= buf.len());
        match &m {
            Message::Define(d) => def = d.clone(),
            Message::Update { kind, payload } => {
                if let Ok(u) = EntryUpdate::decode(payload, *kind, &def) {
                    let mut out = Vec::new();
                    u.encode(def.key_type, def.key_len.min(1 << 16) as usize, &mut out);
                }
            }
            _ => {}
        }
        let mut out = Vec::new();
        m.encode(&mut out);
        buf = &buf[n..];
    }
});
