//! `stats ...`, `monitor-uri` and `http-request use-service`: parsed into the model, errors with file:line;
//! valid configurations are also checked by the real haproxy (`ok_both`).

#[path = "haproxy_util.rs"]
mod util;

use std::time::Duration;

use fulcrum_config::haproxy::{HttpRequestAction, Service, StatsHttpAction};
use util::*;

const D: &str = DEFAULTS; // 5 lines

#[test]
fn stats_lines_fill_the_page() {
    let c = ok_both(&format!(
        "{D}listen l\n bind 127.0.0.1:18080\n stats enable\n stats uri /st\n stats realm Fulcrum\\ stats\n stats auth admin:s3cret\n stats auth ops:pw\n stats refresh 5s\n stats hide-version\n stats admin if LOCALHOST\n monitor-uri /health\n server s1 127.0.0.1:8080\n"
    ));
    let p = &c.proxies[0];
    let page = p.stats.as_ref().expect("stats enabled");
    assert_eq!(page.uri, "/st");
    assert_eq!(page.realm.as_deref(), Some("Fulcrum stats"));
    assert_eq!(
        page.auth,
        [
            ("admin".to_string(), "s3cret".to_string()),
            ("ops".to_string(), "pw".to_string())
        ]
    );
    assert_eq!(page.refresh, Some(Duration::from_secs(5)));
    assert!(page.hide_version);
    assert_eq!(page.location.line, 8);
    assert_eq!(p.rules.stats_admin.len(), 1);
    assert_eq!(p.monitor_uri.as_deref(), Some("/health"));
}

#[test]
fn any_stats_line_enables_the_page_with_haproxy_defaults() {
    let c = ok_both(&format!(
        "{D}frontend f\n bind 127.0.0.1:18080\n stats auth a:b\n default_backend b\nbackend b\n server s1 127.0.0.1:8080\n"
    ));
    let page = c.proxies[0].stats.as_ref().unwrap();
    assert_eq!(page.uri, "/haproxy?stats");
    assert!(c.proxies[1].stats.is_none());
    // Inherited from defaults.
    let c = ok_both(&format!(
        "{D} stats enable\n stats uri /s\nlisten l\n bind 127.0.0.1:18080\n server s1 127.0.0.1:8080\n"
    ));
    assert_eq!(c.proxies[0].stats.as_ref().unwrap().uri, "/s");
}

#[test]
fn use_service_prometheus_exporter() {
    let c = ok_both(&format!(
        "{D}frontend f\n bind 127.0.0.1:18080\n http-request use-service prometheus-exporter if {{ path /metrics }}\n"
    ));
    let r = &c.proxies[0].rules.http_request[0];
    assert_eq!(
        r.action,
        HttpRequestAction::UseService(Service::PrometheusExporter)
    );
    assert!(r.cond.is_some());
}

#[test]
fn stats_errors_name_the_line() {
    let l = "listen l\n bind 127.0.0.1:18080\n";
    err1(
        &format!("{D}{l} stats uri\n"),
        8,
        "stats uri",
        "expects a URI",
    );
    err1(
        &format!("{D}{l} stats auth nopassword\n"),
        8,
        "stats auth",
        "USER:PASSWORD",
    );
    err1(
        &format!("{D}{l} stats refresh soon\n"),
        8,
        "stats refresh",
        "",
    );
    err1(
        &format!("{D}{l} stats frobnicate\n"),
        8,
        "stats frobnicate",
        "unknown 'stats frobnicate'",
    );
    err1(
        &format!("{D}{l} stats admin\n"),
        8,
        "stats admin",
        "'if' or 'unless'",
    );
    err1(
        &format!("{D}{l} stats admin if nosuchacl\n"),
        8,
        "stats admin",
        "no such ACL",
    );
    err1(
        &format!("{D}{l} stats enable now\n"),
        8,
        "stats enable",
        "no argument",
    );
    err1(
        &format!("{D}{l} stats show-desc\n"),
        8,
        "stats show-desc",
        "does not support yet",
    );
    err1(
        &format!("{D}{l} stats scope\n"),
        8,
        "stats scope",
        "expects a proxy name",
    );
    err1(
        &format!("{D}{l} stats http-request redirect\n"),
        8,
        "stats http-request",
        "expects 'allow', 'deny' or 'auth', got 'redirect'",
    );
    err1(
        &format!("{D}{l} stats http-request deny if nosuchacl\n"),
        8,
        "stats http-request",
        "no such ACL",
    );
    err1_both(
        &format!("{D}{l} stats auth a:b\n stats http-request allow\n"),
        9,
        "stats http-request",
        "proxy 'l': stats 'auth'/'realm' and 'http-request' can't be used at the same time.",
    );
    // `stats scope` lines add up; `stats http-request` rules keep their order, realm and condition.
    let c = ok_both(&format!(
        "{D}{l} stats scope .\n stats scope app\n stats http-request allow if {{ src 10.0.0.0/8 }}\n stats http-request auth realm Ops\n"
    ));
    let p = c.proxies.iter().find(|p| p.name == "l").unwrap();
    assert_eq!(p.stats.as_ref().unwrap().scope, [".", "app"]);
    let actions: Vec<_> = p
        .rules
        .stats_http_request
        .iter()
        .map(|r| (r.action.clone(), r.cond.is_some()))
        .collect();
    assert_eq!(
        actions,
        [
            (StatsHttpAction::Allow, true),
            (StatsHttpAction::Auth(Some("Ops".into())), false)
        ]
    );
    err1(
        &format!("{D} stats admin if TRUE\n{l}"),
        6,
        "stats admin",
        "not allowed in a 'defaults'",
    );
    err1(
        &format!("{D}{l} monitor-uri\n"),
        8,
        "monitor-uri",
        "expects a URI",
    );
    err1(
        &format!("{D}backend b\n monitor-uri /h\n"),
        7,
        "monitor-uri",
        "not allowed in a 'backend'",
    );
    err1(
        &format!("{D}{l} http-request use-service lua.hello\n"),
        8,
        "http-request use-service",
        "unknown service 'lua.hello'",
    );
}
