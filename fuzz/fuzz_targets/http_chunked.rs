//! The chunked body decoder, fed the same bytes whole and in pieces.
//!
//! The first byte caps one data piece (1 to 256 bytes), the second seeds the sizes of the pieces the input is fed
//! in (as reads from a socket would cut it). Decoding never yields more than it was given, every data piece is
//! within the cap, and the pieces change nothing: the same body, the same end and the same leftover bytes, or
//! the same refusal.
#![no_main]

use bytes::BytesMut;
use fulcrum_http::chunked::{ChunkError, Decoded, Decoder};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The body ended; the bytes after it.
    End(Vec<u8>),
    /// The input ran out first.
    NeedMore,
    Refused(ChunkError),
}

/// Decodes `input` arriving in pieces of the sizes `next_piece` gives; returns the body and how it ended.
fn decode(input: &[u8], max: usize, mut next_piece: impl FnMut() -> usize) -> (Vec<u8>, Outcome) {
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut fed = 0;
    loop {
        match decoder.decode(&mut buf, max) {
            Ok(Decoded::Data(piece)) => {
                assert!(!piece.is_empty(), "an empty data piece");
                assert!(piece.len() <= max, "a piece over the cap");
                body.extend_from_slice(&piece);
                assert!(body.len() <= fed, "more body than input");
            }
            Ok(Decoded::End) => {
                assert!(decoder.is_done());
                // The end stays the end.
                assert_eq!(decoder.decode(&mut buf, max), Ok(Decoded::End));
                let mut rest = buf.to_vec();
                rest.extend_from_slice(&input[fed..]);
                return (body, Outcome::End(rest));
            }
            Ok(Decoded::NeedMore) => {
                assert!(!decoder.is_done());
                if fed == input.len() {
                    return (body, Outcome::NeedMore);
                }
                let n = next_piece().clamp(1, input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
            Err(e) => return (body, Outcome::Refused(e)),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [cap, seed, input @ ..] = data else {
        return;
    };
    let max = usize::from(*cap) + 1;
    let whole = decode(input, max, || usize::MAX);
    let mut state = u32::from(*seed) | 1;
    let pieces = decode(input, max, || {
        // xorshift: piece sizes from 1 to 16 bytes.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 16) as usize + 1
    });
    match (&whole.1, &pieces.1) {
        // How far a refused body got may depend on where the reads were cut; the refusal may not.
        (Outcome::Refused(a), Outcome::Refused(b)) => {
            assert_eq!(a, b);
        }
        _ => assert_eq!(whole, pieces),
    }
});
