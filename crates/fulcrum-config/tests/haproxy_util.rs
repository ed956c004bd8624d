//! Helpers shared by the haproxy_*.rs tests (included with `#[path]`; this file has no tests of its own).
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use fulcrum_config::haproxy::{parse_sources_with, Config, ParseOptions};
use fulcrum_config::Diagnostics;

/// The test environment: a few fixed variables, nothing else.
pub fn env(name: &str) -> Option<String> {
    match name {
        "FT_PORT" => Some("18080".into()),
        "FT_ADDR" => Some("127.0.0.1".into()),
        "FT_SPACED" => Some("a b".into()),
        _ => None,
    }
}

/// The test resolver: `app.test` is 127.0.0.2, `v6.test` is ::1, `dual.test` is both, anything else fails.
pub fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let ips: &[&str] = match host {
        "app.test" => &["127.0.0.2"],
        "v6.test" => &["::1"],
        "dual.test" => &["::1", "127.0.0.3"],
        _ => return Err(io::Error::new(io::ErrorKind::NotFound, "host not found")),
    };
    Ok(ips
        .iter()
        .map(|i| SocketAddr::new(i.parse().unwrap(), port))
        .collect())
}

/// Parses `text` as file `t.cfg` with the test environment and resolver.
pub fn parse(text: &str) -> Result<Config, Diagnostics> {
    let opts = ParseOptions {
        env: &env,
        resolve: &resolve,
    };
    parse_sources_with(&[(PathBuf::from("t.cfg"), text.to_string())], &opts)
}

/// Parses and expects success.
#[track_caller]
pub fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(c) => c,
        Err(d) => panic!("expected a valid configuration, got:\n{d}\n--- config:\n{text}"),
    }
}

/// Parses and expects failure; returns (line, keyword, message) of every diagnostic.
#[track_caller]
pub fn errs(text: &str) -> Vec<(usize, String, String)> {
    match parse(text) {
        Ok(_) => panic!("expected diagnostics for:\n{text}"),
        Err(d) => {
            assert!(!d.0.is_empty());
            d.0.into_iter()
                .map(|d| (d.location.line, d.keyword, d.message))
                .collect()
        }
    }
}

/// Expects exactly one diagnostic, at `line` about `keyword`, whose message contains `needle`.
#[track_caller]
pub fn err1(text: &str, line: usize, keyword: &str, needle: &str) {
    let e = errs(text);
    assert_eq!(
        e.len(),
        1,
        "expected one diagnostic, got {e:#?}\n--- config:\n{text}"
    );
    let (l, k, m) = &e[0];
    assert_eq!((*l, k.as_str()), (line, keyword), "diagnostic {e:?}");
    assert!(
        m.contains(needle),
        "message {m:?} does not contain {needle:?}"
    );
}

/// Whether tests must fail (rather than skip) when haproxy is missing.
pub fn haproxy_required() -> bool {
    std::env::var("FULCRUM_REQUIRE_NETNS").is_ok_and(|v| v == "1") || std::env::var("CI").is_ok()
}

/// Whether the real haproxy binary is available; panics when it is required and missing.
pub fn have_haproxy() -> bool {
    let found = Command::new("haproxy")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !haproxy_required(),
            "haproxy is not on PATH but FULCRUM_REQUIRE_NETNS=1 or CI is set"
        );
        eprintln!("skipping the comparison with the real haproxy: not on PATH");
    }
    found
}

/// Runs `haproxy -c -f FILE`; `None` when haproxy is not available. Returns (valid, output).
pub fn haproxy_check_file(path: &Path) -> Option<(bool, String)> {
    if !have_haproxy() {
        return None;
    }
    let out = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(path)
        .output()
        .expect("run haproxy");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // `-c` on a configuration without any listener exits with 2 but calls it error-free
    let valid = out.status.success() || text.contains("Configuration file has no error");
    Some((valid, text))
}

/// Runs `haproxy -c` on `text` written to a temporary file.
pub fn haproxy_check(text: &str) -> Option<(bool, String)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("fulcrum-hx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("c{}.cfg", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, text).unwrap();
    let r = haproxy_check_file(&path);
    let _ = std::fs::remove_file(&path);
    r
}

/// Expects both fulcrum and the real haproxy (when present) to accept `text`.
#[track_caller]
pub fn ok_both(text: &str) -> Config {
    let c = ok(text);
    if let Some((valid, out)) = haproxy_check(text) {
        assert!(
            valid,
            "haproxy rejects a configuration fulcrum accepts:\n{out}\n--- config:\n{text}"
        );
    }
    c
}

/// Expects both fulcrum and the real haproxy (when present) to reject `text`; returns fulcrum's diagnostics.
#[track_caller]
pub fn err_both(text: &str) -> Vec<(usize, String, String)> {
    let e = errs(text);
    if let Some((valid, out)) = haproxy_check(text) {
        assert!(
            !valid,
            "haproxy accepts a configuration fulcrum rejects:\n{out}\n--- config:\n{text}"
        );
    }
    e
}

/// Timeouts good enough to keep haproxy -c free of warnings.
pub const DEFAULTS: &str =
    "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n";

/// [`err1`], and the real haproxy (when present) rejects `text` too.
#[track_caller]
pub fn err1_both(text: &str, line: usize, keyword: &str, needle: &str) {
    err1(text, line, keyword, needle);
    if let Some((valid, out)) = haproxy_check(text) {
        assert!(
            !valid,
            "haproxy accepts a configuration fulcrum rejects:\n{out}\n--- config:\n{text}"
        );
    }
}

/// Writes `contents` to a file named `name` in a per-process temporary directory; returns its absolute path.
pub fn temp_file(name: &str, contents: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("fulcrum-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p.to_str().unwrap().to_string()
}
