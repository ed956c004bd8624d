//! keepalived.conf: the lexer (comments, quotes, line continuations), the statement tree and the builder with
//! its whole-file validation, on one file's text.
//!
//! Inputs with `include` are skipped: an include reads the files its glob matches, anywhere on the machine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.contains("include") {
        return;
    }
    if let Err(diags) = fulcrum_config::keepalived::parse_str("/nonexistent/fuzz.conf", text) {
        assert!(!diags.0.is_empty(), "refused with no diagnostic");
        let _ = diags.to_string();
    }
});
