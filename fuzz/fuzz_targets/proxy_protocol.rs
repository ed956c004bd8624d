//! The PROXY protocol decoder, on any bytes.
//!
//! A header it accepts is never longer than the input (nor than 107 bytes in version 1), decoding it again gives
//! the same header, any prefix of it is `Incomplete`, and what follows it never changes it. Re-encoding its
//! addresses and TLVs gives a header that decodes to the same facts.
#![no_main]

use fulcrum_proxyproto::{decode, encode_v1, kind, Command, Decoded, Version, V2};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(Decoded::Done { header, len }) = decode(data) else {
        return;
    };
    assert!(len <= data.len());
    if header.version == Version::V1 {
        assert!(len <= fulcrum_proxyproto::V1_MAX_LEN);
    }
    assert_eq!(
        decode(&data[..len]),
        Ok(Decoded::Done {
            header: header.clone(),
            len
        })
    );
    for n in [0, len / 2, len.saturating_sub(1)] {
        if n < len {
            assert_eq!(decode(&data[..n]), Ok(Decoded::Incomplete), "prefix of {n}");
        }
    }
    let addrs = header.source().zip(header.destination());
    let mut wire = Vec::new();
    match header.version {
        Version::V1 => encode_v1(addrs, &mut wire),
        Version::V2 => V2 {
            addrs: if header.command == Command::Local {
                None
            } else {
                addrs
            },
            tlvs: header
                .tlvs
                .iter()
                .filter(|t| t.kind != kind::CRC32C)
                .cloned()
                .collect(),
            crc32c: header.tlv(kind::CRC32C).is_some(),
        }
        .encode(&mut wire),
    }
    let Ok(Decoded::Done { header: again, .. }) = decode(&wire) else {
        panic!("a re-encoded header does not decode");
    };
    assert_eq!(again.source(), header.source());
    assert_eq!(again.destination(), header.destination());
    if addrs.is_some() {
        assert_eq!(again.tlvs.len(), header.tlvs.len());
    }
});
