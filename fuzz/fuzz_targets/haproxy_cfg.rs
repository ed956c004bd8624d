//! haproxy.cfg: the lexer, the section splitter and the whole loader, on one file's text.
//!
//! Names resolve without the system resolver (only `localhost`), and the environment is a fixed map, so a run
//! depends on nothing but its input. Inputs that name a device or a kernel file are skipped: `errorfile`,
//! `-f` and `file` read the files they name, and reading `/dev/zero` would never end.
#![no_main]

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use fulcrum_config::haproxy::{parse_sources_with, ParseOptions};
use libfuzzer_sys::fuzz_target;

fn env(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/home/fuzz".into()),
        "PORT" => Some("8080".into()),
        "ADDR" => Some("127.0.0.1".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if host.eq_ignore_ascii_case("localhost") {
        Ok(vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)])
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no resolver while fuzzing",
        ))
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.contains("/dev") || text.contains("/proc") || text.contains("/sys") {
        return;
    }
    let opts = ParseOptions {
        env: &env,
        resolve: &resolve,
    };
    match parse_sources_with(&[(PathBuf::from("fuzz.cfg"), text.to_string())], &opts) {
        Ok(_) => {}
        Err(diags) => {
            assert!(!diags.0.is_empty(), "refused with no diagnostic");
            let _ = diags.to_string();
        }
    }
});
