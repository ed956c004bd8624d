//! Keywords of HTTP messaging and server-connection handling: `http-reuse`, `dispatch`, `tune.idle-pool.shared`.
//! Valid configurations are also checked by the real haproxy.

#[path = "haproxy_util.rs"]
mod util;

use fulcrum_config::haproxy::*;
use util::*;

#[test]
fn http_reuse_modes() {
    let c = ok_both(&format!(
        "{DEFAULTS} http-reuse always\nbackend a\n server s 127.0.0.1:80\nbackend b\n http-reuse never\n server s 127.0.0.1:80\n\
         listen l\n bind 127.0.0.1:8080\n http-reuse aggressive\n server s 127.0.0.1:80\n"
    ));
    let mode = |n: &str| c.backend(n).unwrap().http_reuse;
    assert_eq!(
        (mode("a"), mode("b"), mode("l")),
        (HttpReuse::Always, HttpReuse::Never, HttpReuse::Aggressive)
    );
    let c = ok_both(&format!("{DEFAULTS}backend b\n server s 127.0.0.1:80\n"));
    assert_eq!(c.backend("b").unwrap().http_reuse, HttpReuse::Safe);
    err1_both(
        &format!("{DEFAULTS}backend b\n http-reuse sometimes\n server s 127.0.0.1:80\n"),
        7,
        "http-reuse",
        "only supports 'never', 'safe', 'aggressive', 'always'",
    );
}

#[test]
fn dispatch_is_the_only_server() {
    let c = ok_both(&format!(
        "{DEFAULTS}listen l\n bind 127.0.0.1:8080\n dispatch 127.0.0.1:8081\n"
    ));
    let servers = &c.backend("l").unwrap().servers;
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].addr, "127.0.0.1:8081".parse().unwrap());
    err1_both(
        &format!("{DEFAULTS}listen l\n bind 127.0.0.1:8080\n dispatch 127.0.0.1\n"),
        8,
        "dispatch",
        "no port",
    );
    err1_both(
        &format!("{DEFAULTS} dispatch 127.0.0.1:80\n"),
        6,
        "dispatch",
        "",
    );
    // HAProxy accepts servers beside it and ignores them; fulcrum refuses the mix.
    err1(
        &format!("{DEFAULTS}listen l\n bind 127.0.0.1:8080\n dispatch 127.0.0.1:81\n server s 127.0.0.1:80\n"),
        8,
        "dispatch",
        "both 'dispatch' and 'server'",
    );
}

#[test]
fn idle_pool_shared() {
    // `off` is what fulcrum does (idle connections stay with their worker thread); `on` loads with a warning.
    let c = ok_both("global\n tune.idle-pool.shared off\n");
    assert!(c.warnings.is_empty());
    let c = ok_both("global\n tune.idle-pool.shared on\n");
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0].to_string().contains("per worker thread"),
        "{}",
        c.warnings[0]
    );
    err1_both(
        "global\n tune.idle-pool.shared maybe\n",
        2,
        "tune.idle-pool.shared",
        "'on' or 'off'",
    );
    err1_both(
        "global\n tune.idle-pool.shared on off\n",
        2,
        "tune.idle-pool.shared",
        "extra",
    );
}
