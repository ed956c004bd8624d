//! ipvsadm's command line: each input line is one invocation, split into arguments as `ipvsadm-restore` splits
//! its lines (whitespace, `#` comments, a leading `ipvsadm`), then parsed with numeric names only (no lookups).
//! A line holding a NUL is split on NULs instead, so arguments can hold spaces or be empty.
#![no_main]

use fulcrum_lvs::addr::NumericNames;
use fulcrum_lvs::args::{parse, split_restore_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines().take(64) {
        let args: Vec<String> = if line.contains('\0') {
            line.split('\0').map(str::to_string).collect()
        } else {
            match split_restore_line(line) {
                Some(words) => words,
                None => continue,
            }
        };
        if let Err(e) = parse(&args, &NumericNames) {
            let _ = e.to_string();
            let _ = e.exit_code();
        }
    }
});
