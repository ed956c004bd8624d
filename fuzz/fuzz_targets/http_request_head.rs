//! The HTTP/1 request head as read from a client, whole and in two pieces.
//!
//! The first byte picks the header-line limit (0 to 255, around the default of 100), whether the head is read as
//! under `option accept-invalid-http-request` (bit 0) and the point where the input is cut in two; the rest is the
//! bytes received. The head must be found the same whether it arrived whole
//! or cut: a complete head read from the first piece is the head read from the whole.
#![no_main]

use bytes::BytesMut;
use fulcrum_http::request_in::{parse_with, BodyLength, RequestHead};
use http::Version;
use libfuzzer_sys::fuzz_target;

const MAX_HEAD: usize = 16 * 1024;

fn check(head: &RequestHead, received: usize, left: usize) {
    assert_eq!(head.wire_len + left, received);
    assert!(head.wire_len <= MAX_HEAD);
    assert!(head.version == Version::HTTP_10 || head.version == Version::HTTP_11);
    match head.body {
        BodyLength::Length(n) => assert!(n > 0),
        BodyLength::Chunked => {
            assert!(!head.headers.contains_key(http::header::CONTENT_LENGTH));
            assert!(head.headers.contains_key(http::header::TRANSFER_ENCODING));
        }
        BodyLength::Empty => {}
    }
    if head.expect_continue {
        assert_eq!(head.version, Version::HTTP_11);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, input)) = data.split_first() else {
        return;
    };
    let max_headers = usize::from(knob);
    let accept_invalid = knob & 1 != 0;
    let parse_limited = |buf: &mut BytesMut, max_head, max_headers| {
        parse_with(buf, max_head, max_headers, accept_invalid)
    };
    let mut whole = BytesMut::from(input);
    let full = parse_limited(&mut whole, MAX_HEAD, max_headers);
    if let Ok(Some(head)) = &full {
        check(head, input.len(), whole.len());
        let _ = head.method.as_str();
        let _ = head.uri.to_string();
    }
    let cut = usize::from(knob) * input.len() / 256;
    let mut first = BytesMut::from(&input[..cut]);
    match parse_limited(&mut first, MAX_HEAD, max_headers) {
        Ok(Some(head)) => {
            check(&head, cut, first.len());
            let Ok(Some(whole_head)) = &full else {
                panic!("a head complete in the first piece, but {full:?} from the whole");
            };
            assert_eq!(head.wire_len, whole_head.wire_len);
            assert_eq!(head.method, whole_head.method);
            assert_eq!(head.uri, whole_head.uri);
            assert_eq!(head.body, whole_head.body);
        }
        Ok(None) => {}
        Err(e) => {
            let _ = e.status();
            assert!(
                full.is_err(),
                "the first piece is refused ({e}) but the whole is not"
            );
        }
    }
});
