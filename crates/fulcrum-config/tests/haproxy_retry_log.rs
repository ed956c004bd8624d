//! `retry-on` and `log-format`.

mod haproxy_util;

use fulcrum_config::haproxy::RetryOn;
use haproxy_util::*;

fn backend(lines: &str) -> String {
    format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend fe\n    bind 127.0.0.1:8080\n    default_backend be\nbackend be\n{lines}\n    server s1 127.0.0.1:8081\n"
    )
}

#[test]
fn retry_on_default_and_lists() {
    let c = ok_both(&backend(""));
    assert_eq!(c.backend("be").unwrap().retry_on, RetryOn::default());
    let c = ok_both(&backend("    retry-on empty-response 503 conn-failure 502"));
    let r = &c.backend("be").unwrap().retry_on;
    assert!(r.conn_failure && r.empty_response && !r.junk_response && !r.response_timeout);
    assert_eq!(r.statuses, [502, 503]);
    assert!(r.replays());
    let c = ok_both(&backend("    retry-on none"));
    let r = &c.backend("be").unwrap().retry_on;
    assert!(!r.conn_failure && !r.replays());
    let c = ok_both(&backend("    retry-on all-retryable-errors"));
    let r = &c.backend("be").unwrap().retry_on;
    assert!(r.conn_failure && r.empty_response && r.junk_response && r.response_timeout);
    assert_eq!(r.statuses, [500, 502, 503, 504]);
}

#[test]
fn retry_on_errors() {
    err1_both(
        &backend("    retry-on bogus"),
        10,
        "retry-on",
        "unknown failure type 'bogus'",
    );
    err1(
        &backend("    retry-on"),
        10,
        "retry-on",
        "expects one or more failure types",
    );
}

#[test]
fn log_format_is_kept_with_its_line_and_inherited() {
    let text = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n    log-format \"%ci:%cp %ST\"\nfrontend fe\n    bind 127.0.0.1:8080\n    default_backend be\nfrontend fe2\n    bind 127.0.0.1:8082\n    log-format %ci\\ %b\n    default_backend be\nbackend be\n    server s1 127.0.0.1:8081\n";
    let c = ok_both(text);
    let fe = c.proxies.iter().find(|p| p.name == "fe").unwrap();
    let lf = fe.log_format.as_ref().unwrap();
    assert_eq!((lf.format.as_str(), lf.location.line), ("%ci:%cp %ST", 6));
    let fe2 = c.proxies.iter().find(|p| p.name == "fe2").unwrap();
    assert_eq!(fe2.log_format.as_ref().unwrap().format, "%ci %b");
}

#[test]
fn log_format_takes_one_argument() {
    let text = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend fe\n    bind 127.0.0.1:8080\n    log-format %ci %b\n    default_backend be\nbackend be\n    server s1 127.0.0.1:8081\n";
    err1_both(text, 8, "log-format", "exactly one format string");
}
