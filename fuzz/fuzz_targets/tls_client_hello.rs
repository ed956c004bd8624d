//! The ClientHello reader of TLS passthrough routing (`req.ssl_sni`, `req.ssl_hello_type`, `req.ssl_alpn`).
//!
//! Whatever the bytes, it answers without panicking; a complete ClientHello stays complete when more bytes follow
//! it (the rules read a buffer that keeps growing), and what it found lies inside the input.
#![no_main]

use fulcrum_tls::hello::{parse, Hello};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let first = parse(data);
    if let Hello::Client(h) = &first {
        let inside = |s: &[u8]| {
            let (start, end) = (data.as_ptr() as usize, data.as_ptr() as usize + data.len());
            let p = s.as_ptr() as usize;
            s.is_empty() || (p >= start && p + s.len() <= end)
        };
        assert!(h.sni.is_none_or(inside));
        assert!(h.alpn.iter().all(|a| inside(a)));
        let mut more = data.to_vec();
        more.extend_from_slice(b"trailing bytes");
        assert_eq!(parse(&more), first);
    }
});
