//! `ulimit-n N` sets the process's descriptor limit to N, lower or higher than before, and a `maxconn` that needs
//! more stops the start (HAProxy's `strict-limits` default) or only warns (`no strict-limits`). A test binary of
//! its own: the limit is the whole process's.

mod common;

use common::*;

fn soft_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid rlimit to write into.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    r.rlim_cur
}

fn cfg(global: &str) -> String {
    format!(
        "global\n    nbthread 1\n{global}\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\nlisten app\n    bind 127.0.0.1:{}\n    http-request return status 200\n",
        free_port()
    )
}

#[test]
fn ulimit_n_sets_the_descriptor_limit() {
    let before = soft_limit();
    let low = 900.min(before.saturating_sub(1)).max(200);
    let p = start_proxy(&cfg(&format!("    ulimit-n {low}")));
    assert_eq!(soft_limit(), low);
    assert_eq!(get(p.addr, "/").status, 200);
    drop(p);
    // Higher again (within the hard limit).
    let p = start_proxy(&cfg(&format!("    ulimit-n {}", low + 50)));
    assert_eq!(soft_limit(), low + 50);
    drop(p);
    // `maxconn` needing more than `ulimit-n` gives: the start fails, unless `no strict-limits`.
    let text = cfg(&format!("    ulimit-n {low}\n    maxconn {low}"));
    haproxy_accepts(&text);
    let config = fulcrum_config::haproxy::parse_str("t.cfg", &text).unwrap();
    let err = fulcrum_proxy::start(&config)
        .err()
        .expect("the start fails");
    assert!(err.to_string().contains("FD limit"), "{err}");
    let p = start_proxy(&cfg(&format!(
        "    ulimit-n {low}\n    maxconn {low}\n    no strict-limits"
    )));
    assert_eq!(soft_limit(), low);
    assert_eq!(get(p.addr, "/").status, 200);
}
