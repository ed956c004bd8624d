//! `tcp-request inspect-delay`, `tcp-request content accept|reject` and the fetches they use (`req.len`,
//! `req.payload`, `-m bin`): parsed into the model, and every problem with its line and keyword. Valid
//! configurations and the invalid ones HAProxy 2.6 rejects too are also checked by the real haproxy.

#[path = "haproxy_util.rs"]
mod util;

use std::time::Duration;

use fulcrum_config::haproxy::*;
use util::*;

const NS: &str = "not supported yet by fulcrum";

/// A tcp-mode listen section `l` (line 6) with a bind (line 7) and `body` from line 8, then its server.
fn li(body: &str) -> String {
    format!(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         listen l\n bind :18080\n{body} server s 127.0.0.1:1\n"
    )
}

fn proxy<'a>(c: &'a Config, name: &str) -> &'a Proxy {
    c.proxies.iter().find(|p| p.name == name).expect("proxy")
}

#[test]
fn content_rules_and_inspect_delay_parse() {
    let c = ok_both(&li(concat!(
        " tcp-request inspect-delay 100ms\n",
        " acl big req.len gt 100\n",
        " tcp-request content reject if big\n",
        " tcp-request content accept if { req_len eq 14 } { req.payload(0,14) -m str \"*1\\r\\n\\$4\\r\\nPING\\r\\n\" }\n",
        " tcp-request content accept if { req.payload(0,4) -m bin 0000004e } !{ payload(4,0) -m sub x }\n",
        " tcp-request content reject\n",
    )));
    let p = proxy(&c, "l");
    let r = &p.rules;
    assert_eq!(r.inspect_delay, Some(Duration::from_millis(100)));
    let actions: Vec<_> = r.tcp_content.iter().map(|r| r.action.clone()).collect();
    use TcpContentAction::*;
    assert_eq!(actions, [Reject, Accept, Accept, Reject]);
    assert_eq!(r.tcp_content[0].location.line, 10);
    let big = r.acls.iter().find(|a| a.name == "big").unwrap();
    assert_eq!(big.sample, Sample::ReqLen);
    assert_eq!(big.method, MatchMethod::Int);
    assert_eq!(big.patterns, ["101:"]);
    let cond = r.tcp_content[1].cond.as_ref().unwrap();
    let terms = &cond.any_of[0];
    assert_eq!(terms[0].acls[0].sample, Sample::ReqLen);
    assert_eq!(
        terms[1].acls[0].sample,
        Sample::ReqPayload {
            offset: 0,
            length: 14
        }
    );
    assert_eq!(terms[1].acls[0].method, MatchMethod::Str);
    assert_eq!(terms[1].acls[0].patterns, ["*1\r\n$4\r\nPING\r\n"]);
    let cond = r.tcp_content[2].cond.as_ref().unwrap();
    let a = &cond.any_of[0][0].acls[0];
    assert_eq!(a.method, MatchMethod::Bin);
    assert_eq!(a.patterns, ["0000004e"]);
    // As in HAProxy, a binary fetch needs its matching method.
    let e = err_both(&li(
        " tcp-request inspect-delay 1s\n tcp-request content accept if { req.payload(0,2) 1603 }\n",
    ));
    assert!(
        e[0].2.contains("matching method must be specified first"),
        "{e:?}"
    );
    assert_eq!(bin_pattern("1603").unwrap(), [0x16, 0x03]);
}

#[test]
fn content_rules_without_inspect_delay_are_accepted() {
    let c = ok_both(&li(" tcp-request content accept if { req.len gt 0 }\n"));
    assert_eq!(proxy(&c, "l").rules.inspect_delay, None);
    assert_eq!(proxy(&c, "l").rules.tcp_content.len(), 1);
}

/// `req.payload` and `req.len` followed by converters (as `req.payload(0,0),fix_is_valid` in HAProxy's tests) are
/// sample expressions, allowed where the buffered bytes are known and nowhere else.
#[test]
fn payload_with_converters() {
    let c = ok_both(&li(
        " tcp-request inspect-delay 1s\n tcp-request content reject unless { req.payload(0,0),length gt 3 }\n tcp-request content accept if { req.len,mul(2) ge 8 }\n",
    ));
    let r = &proxy(&c, "l").rules.tcp_content;
    let a = &r[0].cond.as_ref().unwrap().any_of[0][0].acls[0];
    assert!(matches!(a.sample, Sample::Expr(_)) && a.sample.is_content());
    assert_eq!(
        (a.method, a.patterns.clone()),
        (MatchMethod::Int, vec!["4:".to_string()])
    );
    err1(
        &format!("{DEFAULTS}frontend f\n bind :18080\n http-request deny if {{ req.payload(0,0),length gt 3 }}\n default_backend b\nbackend b\n server s 127.0.0.1:1\n"),
        8,
        "http-request deny",
        "looks at the buffered request bytes",
    );
}

#[test]
fn bad_patterns_and_arguments() {
    let e = err_both(&li(
        " tcp-request inspect-delay 1s\n tcp-request content accept if { req.payload(0,2) -m bin 0G }\n",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, 9);
    assert!(e[0].2.contains("not a hexadecimal byte"), "{e:?}");
    let e = err_both(&li(
        " tcp-request inspect-delay 1s\n tcp-request content accept if { req.payload(0,2) -m int 1 }\n",
    ));
    assert!(
        e[0].2.contains("cannot be used with fetch 'req.payload'"),
        "{e:?}"
    );
    err1(
        &li(" tcp-request content accept if { req.payload(0,2) -m bin 123 }\n"),
        8,
        "tcp-request content",
        "even number of hexadecimal digits",
    );
    err1(
        &li(" tcp-request content accept if { req.payload(0) -m bin 12 }\n"),
        8,
        "tcp-request content",
        "missing argument 2",
    );
    err1(
        &li(" tcp-request inspect-delay soon\n"),
        8,
        "tcp-request inspect-delay",
        "",
    );
    err1(
        &li(" tcp-request inspect-delay\n"),
        8,
        "tcp-request inspect-delay",
        "expects a time",
    );
    err1(
        &li(" tcp-request content\n"),
        8,
        "tcp-request content",
        "expects an action",
    );
    err1(
        &li(" tcp-request content frobnicate\n"),
        8,
        "tcp-request content",
        "unknown action 'frobnicate'",
    );
}

/// `tcp-request session` and `tcp-request content` variable actions in an HTTP frontend (checked by haproxy too).
#[test]
fn variable_actions_in_http_mode() {
    let http =
        "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
                frontend f\n bind :18080\n";
    let tail = " default_backend b\nbackend b\n server s 127.0.0.1:1\n";
    let c = ok_both(&format!(
        "{http} tcp-request session set-var(sess.a) src if {{ src 127.0.0.1 }}\n tcp-request session unset-var(sess.b)\n tcp-request content set-var-fmt(req.c,ifnotset) \"%[var(sess.a)]\"\n{tail}"
    ));
    let r = &proxy(&c, "f").rules;
    assert_eq!((r.tcp_session.len(), r.tcp_content.len()), (2, 1));
    assert!(
        matches!(&r.tcp_session[0].action, TcpContentAction::Var(HttpRequestAction::SetVar(n, _, _)) if n.to_string() == "sess.a")
    );
    assert!(r.tcp_session[0].cond.is_some());
    // A lone inspect delay has nothing to change in an HTTP proxy (the head is always waited for whole).
    let c = ok_both(&format!("{http} tcp-request inspect-delay 1s\n{tail}"));
    assert_eq!(
        proxy(&c, "f").rules.inspect_delay,
        Some(Duration::from_secs(1))
    );
    err1(
        &format!("{http} tcp-request session set-var(sess.a) req.hdr(host)\n{tail}"),
        8,
        "tcp-request session set-var",
        "reads the HTTP request or its bytes",
    );
    err1_both(
        &format!("{http} tcp-request session set-var(sess.a,ifbogus) src\n{tail}"),
        8,
        "tcp-request session set-var",
        "unknown condition 'ifbogus'",
    );
}

#[test]
fn unsupported_forms_are_refused_with_their_line() {
    // stick counters of content rules in mode tcp belong to the connection (peers/basic_sync.vtc uses them)
    ok_both(&li(
        " stick-table type ip size 1k store gpc0\n tcp-request content track-sc0 src\n tcp-request content sc-inc-gpc0(0)\n",
    ));
    // Session rules run once per connection in mode tcp too, their stick counters the connection's.
    ok_both(&li(
        " tcp-request session reject if { src 10.0.0.0/8 }\n tcp-request session set-var(sess.a) src\n tcp-request session accept\n",
    ));
    ok_both(&li(
        " stick-table type ip size 1k store gpc0\n tcp-request session track-sc0 src\n",
    ));
    // HTTP fetches in content rules, and content fetches in HTTP rules.
    err1(
        &li(" tcp-request content reject if { path /x }\n"),
        8,
        "tcp-request content",
        "needs an HTTP message",
    );
    err1(
        &li(" tcp-request connection reject if { req.len gt 3 }\n"),
        8,
        "tcp-request connection",
        "none is read when a connection is accepted",
    );
    let http =
        "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
                frontend f\n bind :18080\n";
    err1(
        &format!("{http} http-request deny if {{ req.len gt 3 }}\n default_backend b\nbackend b\n server s 127.0.0.1:1\n"),
        8,
        "http-request deny",
        NS,
    );
    // Content rules of an HTTP proxy run on each request, HTTP fetches included.
    let c = ok_both(&format!("{http} tcp-request inspect-delay 1s\n tcp-request content reject if {{ path /x }}\n default_backend b\nbackend b\n server s 127.0.0.1:1\n"));
    assert_eq!(proxy(&c, "f").rules.tcp_content.len(), 1);
    // A backend's content rules run when the connection enters it.
    let tcp_be =
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
                  backend b\n";
    let c = ok_both(&format!(
        "{tcp_be} tcp-request inspect-delay 1s\n tcp-request content reject if {{ req.len lt 2 }}\n server s 127.0.0.1:1\n"
    ));
    let r = &proxy(&c, "b").rules;
    assert_eq!(
        (r.tcp_content.len(), r.inspect_delay),
        (1, Some(Duration::from_secs(1)))
    );
}

#[test]
fn use_backend_in_tcp_mode_may_look_at_the_payload() {
    let c = ok_both(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         frontend f\n bind :18080\n tcp-request inspect-delay 1s\n tcp-request content accept if { req.len ge 3 }\n\
         use_backend c if { req.payload(0,3) -m str TLS }\n default_backend b\n\
         backend b\n server s 127.0.0.1:1\nbackend c\n server s 127.0.0.1:2\n",
    );
    assert_eq!(proxy(&c, "f").rules.use_backends.len(), 1);
}

/// In `mode tcp`, `tcp-request content` variable actions stay in order with accept and reject; `tcp-response
/// content` and `tcp-response inspect-delay` go to backends and listens (checked by haproxy too).
#[test]
fn tcp_mode_variables_and_response_rules_parse() {
    let c = ok_both(&li(concat!(
        " tcp-request inspect-delay 1s\n",
        " tcp-request content reject unless { req.len ge 4 }\n",
        " tcp-request content set-var(txn.cmd) req.payload(0,4)\n",
        " tcp-request content unset-var(txn.other)\n",
        " tcp-request content reject if { var(txn.cmd) -m str QUIT }\n",
        " tcp-response inspect-delay 2s\n",
        " tcp-response content reject unless { res.len ge 2 }\n",
        " tcp-response content set-var-fmt(res.status) \"%[res.payload(0,2)]\"\n",
        " tcp-response content accept if { var(res.status) -m str OK }\n",
        " tcp-response content reject\n",
    )));
    let r = &proxy(&c, "l").rules;
    let kinds = |rules: &[Rule<TcpContentAction>]| -> Vec<&str> {
        rules
            .iter()
            .map(|r| match &r.action {
                TcpContentAction::Accept => "accept",
                TcpContentAction::Reject => "reject",
                TcpContentAction::SilentDrop => "silent-drop",
                TcpContentAction::SetMark(_) => "set-mark",
                TcpContentAction::SetTos(_) => "set-tos",
                TcpContentAction::SwitchHttp(_) => "switch-mode",
                TcpContentAction::SetLogLevel(_) => "set-log-level",
                TcpContentAction::Var(HttpRequestAction::SetVar(..)) => "set-var",
                TcpContentAction::Var(HttpRequestAction::SetVarFmt(..)) => "set-var-fmt",
                TcpContentAction::Var(HttpRequestAction::UnsetVar(..)) => "unset-var",
                TcpContentAction::Var(_) => "other",
            })
            .collect()
    };
    assert_eq!(
        kinds(&r.tcp_content),
        ["reject", "set-var", "unset-var", "reject"]
    );
    assert_eq!(
        kinds(&r.tcp_response),
        ["reject", "set-var-fmt", "accept", "reject"]
    );
    assert_eq!(r.response_inspect_delay, Some(Duration::from_secs(2)));
    assert_eq!(r.tcp_response[0].location.line, 14);

    // A backend holds them too; a frontend may not, as in HAProxy.
    let tcp = "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n";
    let c = ok_both(&format!(
        "{tcp}backend b\n tcp-response content reject if {{ res.payload(0,1) -m bin 00 }}\n server s 127.0.0.1:1\n"
    ));
    assert_eq!(proxy(&c, "b").rules.tcp_response.len(), 1);
    err1_both(
        &format!("{tcp}frontend f\n bind :18080\n tcp-response content reject\n default_backend b\nbackend b\n server s 127.0.0.1:1\n"),
        8,
        "tcp-response content",
        "not allowed in a 'frontend' section",
    );
    // Each side's bytes only where they can be seen (haproxy refuses these too).
    err1_both(
        &li(" tcp-request content set-var(txn.x) res.len\n"),
        8,
        "tcp-request content set-var",
        "only 'tcp-response content' rules see",
    );
    err1_both(
        &li(" tcp-response content set-var(txn.x) req.len\n"),
        8,
        "tcp-response content set-var",
        "cannot see",
    );
    // haproxy only warns that this never matches; fulcrum refuses it.
    err1(
        &li(" tcp-response content reject if { req.payload(0,4) -m str abcd }\n"),
        8,
        "tcp-response content",
        "would never match",
    );
    err1(
        &li(" tcp-response content frobnicate\n"),
        8,
        "tcp-response content",
        "unknown action 'frobnicate'",
    );
    err1(
        &li(" tcp-response content close\n"),
        8,
        "tcp-response content close",
        NS,
    );
    // A named defaults section's rules run first in the backends using it; a frontend may not use it.
    let named =
        "defaults d\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
                 tcp-response inspect-delay 1s\n tcp-response content reject if { res.len lt 2 }\n";
    let c = ok_both(&format!(
        "{named}backend b from d\n tcp-response content accept\n server s 127.0.0.1:1\n"
    ));
    let r = &proxy(&c, "b").rules;
    assert_eq!(kinds(&r.tcp_response), ["reject", "accept"]);
    assert_eq!(r.response_inspect_delay, Some(Duration::from_secs(1)));
    err1_both(
        &format!("{named}frontend f from d\n bind :18080\n default_backend b\nbackend b from d\n server s 127.0.0.1:1\n"),
        8,
        "frontend",
        "cannot inherit from a defaults section defining 'tcp-response content' rules",
    );
    // In an HTTP backend they run on each response head, before the http-response rules.
    let c = ok_both(
        "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         backend b\n tcp-response inspect-delay 1s\n tcp-response content reject if { status 500 }\n server s 127.0.0.1:1\n",
    );
    assert_eq!(proxy(&c, "b").rules.tcp_response.len(), 1);
}
