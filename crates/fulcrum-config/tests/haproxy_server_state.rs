//! `server-state-file`, `server-state-base`, `load-server-state-from-file` and `server-state-file-name`: what
//! they set, what defaults pass on, and the forms refused (checked against the real haproxy when present).

#[path = "haproxy_util.rs"]
mod util;

use std::path::PathBuf;

use fulcrum_config::haproxy::{Config, LoadServerState, Proxy};
use util::*;

const D: &str = DEFAULTS; // 5 lines

fn backend<'a>(c: &'a Config, name: &str) -> &'a Proxy {
    c.proxies.iter().find(|p| p.name == name).expect("backend")
}

#[test]
fn server_state_settings() {
    let c = ok_both(&format!(
        "global\n server-state-base /var/lib/haproxy\n server-state-file state\n{D} load-server-state-from-file global\n\
         backend a\n server s 127.0.0.1:1\n\
         backend b\n load-server-state-from-file local\n server-state-file-name mine\n server s 127.0.0.1:1\n\
         backend c\n load-server-state-from-file local\n server-state-file-name use-backend-name\n server s 127.0.0.1:1\n\
         backend d\n load-server-state-from-file none\n server-state-file-name\n server s 127.0.0.1:1\n"
    ));
    assert_eq!(
        c.global.server_state_base,
        Some(PathBuf::from("/var/lib/haproxy"))
    );
    assert_eq!(c.global.server_state_file, Some(PathBuf::from("state")));
    let a = backend(&c, "a");
    assert_eq!(a.load_server_state, LoadServerState::Global);
    assert_eq!(a.server_state_file_name, None);
    let b = backend(&c, "b");
    assert_eq!(b.load_server_state, LoadServerState::Local);
    assert_eq!(b.server_state_file_name.as_deref(), Some("mine"));
    assert_eq!(backend(&c, "c").server_state_file_name, None);
    assert_eq!(backend(&c, "d").load_server_state, LoadServerState::None);
    // Without the keyword, nothing is loaded.
    let c = ok_both(&format!("{D}backend a\n server s 127.0.0.1:1\n"));
    assert_eq!(backend(&c, "a").load_server_state, LoadServerState::None);
}

#[test]
fn server_state_errors() {
    err1_both(
        &format!("{D}backend a\n load-server-state-from-file bogus\n"),
        7,
        "load-server-state-from-file",
        "expects 'global', 'local' or 'none', got 'bogus'",
    );
    err1_both(
        &format!("{D}backend a\n load-server-state-from-file\n"),
        7,
        "load-server-state-from-file",
        "expects 'global', 'local' or 'none'",
    );
    err1_both(
        &format!("{D}backend a\n server-state-file-name a b\n"),
        7,
        "server-state-file-name",
        "extra 'b'",
    );
    err1_both(
        "global\n server-state-file\n",
        2,
        "server-state-file",
        "expects one argument: a file path",
    );
    err1_both(
        "global\n server-state-base\n",
        2,
        "server-state-base",
        "expects one argument: a directory path",
    );
    // HAProxy only warns that a frontend has no servers to load; fulcrum refuses it as it refuses `balance` there.
    err1(
        &format!("{D}frontend f\n bind :8\n load-server-state-from-file global\n"),
        8,
        "load-server-state-from-file",
        "not allowed in a 'frontend' section",
    );
}
