//! The sample expression language (fetches, arguments, converters) and log-format strings.
//!
//! Each input line is parsed as an expression, as an expression prefix (as `%[...]` reads one) and as a
//! log-format string. What parses must report a sane source and prefix length.
#![no_main]

use fulcrum_sample::{Expr, LogFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.split('\n').take(32) {
        if let Ok(expr) = Expr::parse(line) {
            let _ = expr.output_type();
            let _ = expr.needs();
            assert!(!expr.fetch_name().is_empty());
        }
        if let Ok((_, used)) = Expr::parse_prefix(line) {
            assert!(used <= line.len());
            assert!(line.is_char_boundary(used));
        }
        if let Ok(lf) = LogFormat::parse(line) {
            let _ = lf.is_constant();
            let _ = lf.segments().len();
        }
    }
});
