//! The HTTP/2 frame watcher (`fulcrum_http::h2frames`, which the `h2` statistics count with), fed the same bytes
//! whole and in pieces.
//!
//! The first byte says whether the bytes come from a client (they then start with the preface), the second seeds
//! the sizes of the pieces (1 to 16 bytes, as reads from a socket would cut them). The watcher takes anything
//! without failing, reports no more frames than 9-byte headers fit in the input, and the pieces change nothing:
//! the same frames, in the same order, with the same error codes.
#![no_main]

use fulcrum_http::h2frames::{Frame, FrameWatch};
use libfuzzer_sys::fuzz_target;

fn watch(from_client: bool, input: &[u8], mut next_piece: impl FnMut() -> usize) -> Vec<Frame> {
    let mut w = FrameWatch::new(from_client);
    let mut frames = Vec::new();
    let mut fed = 0;
    while fed < input.len() {
        let n = next_piece().clamp(1, input.len() - fed);
        w.feed(&input[fed..fed + n], |f| frames.push(f));
        fed += n;
    }
    frames
}

fuzz_target!(|data: &[u8]| {
    let [client, seed, input @ ..] = data else {
        return;
    };
    let from_client = client & 1 == 1;
    let whole = watch(from_client, input, || usize::MAX);
    assert!(
        whole.len() <= input.len() / 9 + 1,
        "more frames than headers fit"
    );
    for f in &whole {
        assert!(
            f.stream <= 0x7fff_ffff,
            "the reserved bit is not part of the stream"
        );
    }
    let mut state = u32::from(*seed) | 1;
    let pieces = watch(from_client, input, || {
        // xorshift: piece sizes from 1 to 16 bytes.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 16) as usize + 1
    });
    assert_eq!(whole, pieces);
});
