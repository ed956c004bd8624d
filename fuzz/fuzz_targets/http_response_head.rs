//! The HTTP/1 response head as read from a server, whole and in two pieces.
//!
//! The first byte picks whether the request was a HEAD (bit 0), whether the head is read as under
//! `option accept-invalid-http-response` (bit 1) and the point where the input is cut in two.
#![no_main]

use bytes::BytesMut;
use fulcrum_http::response_in::{parse_with, Framing, ResponseHead, MAX_HEAD};
use http::Version;
use libfuzzer_sys::fuzz_target;

fn check(head: &ResponseHead, head_request: bool) {
    assert!(head.version == Version::HTTP_10 || head.version == Version::HTTP_11);
    let code = head.status.as_u16();
    assert!((100..=999).contains(&code));
    if head_request || code < 200 || code == 204 || code == 304 {
        assert_eq!(head.framing, Framing::Empty, "status {code}");
    }
    if head.framing == Framing::UntilClose {
        assert!(!head.keep_alive);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, input)) = data.split_first() else {
        return;
    };
    let head_request = knob & 1 != 0;
    let accept_invalid = knob & 2 != 0;
    let parse = |buf: &mut BytesMut, head_request| parse_with(buf, head_request, accept_invalid);
    let mut whole = BytesMut::from(input);
    let full = parse(&mut whole, head_request);
    if let Ok(Some(head)) = &full {
        check(head, head_request);
        assert!(input.len() - whole.len() <= MAX_HEAD);
    }
    let cut = usize::from(knob) * input.len() / 256;
    let mut first = BytesMut::from(&input[..cut]);
    match parse(&mut first, head_request) {
        Ok(Some(head)) => {
            check(&head, head_request);
            let Ok(Some(whole_head)) = &full else {
                panic!("a head complete in the first piece, but {full:?} from the whole");
            };
            assert_eq!(cut - first.len(), input.len() - whole.len());
            assert_eq!(head.status, whole_head.status);
            assert_eq!(head.framing, whole_head.framing);
            assert_eq!(head.keep_alive, whole_head.keep_alive);
        }
        Ok(None) => {}
        Err(e) => {
            assert!(
                full.is_err(),
                "the first piece is refused ({e}) but the whole is not"
            );
        }
    }
});
