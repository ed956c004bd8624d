//! Sample expressions, variables and log-format strings in rules: compiled when loading, with file:line errors
//! taken from fulcrum-sample. Valid configurations and those HAProxy 2.6 rejects too are also checked by the real
//! haproxy.

#[path = "haproxy_util.rs"]
mod util;

use fulcrum_config::haproxy::*;
use util::*;

const D: &str = DEFAULTS;

fn fe(body: &str) -> String {
    format!(
        "{D}frontend f\n bind :18080\n{body} default_backend b\nbackend b\n server s 127.0.0.1:1\n"
    )
}

#[test]
fn formats_and_variables_compile() {
    let c = ok_both(&fe(" http-request set-var(txn.h) req.hdr(host),lower
 http-request set-var-fmt(sess.f) \"%[src]:%[dst_port]\"
 http-request unset-var(proc.x) if TRUE
 http-request set-header X-A \"%[var(txn.h)] 100%%\"
 http-request set-uri /x%[path]
 http-response set-var(res.s) status
 http-response set-header X-S %[var(res.s),add(1)]
 http-response unset-var(txn.h)
"));
    let p = c.proxies.iter().find(|p| p.name == "f").unwrap();
    let r = &p.rules.http_request;
    let HttpRequestAction::SetVar(n, e) = &r[0].action else {
        panic!("{:?}", r[0].action)
    };
    assert_eq!(
        (n.to_string(), e.0.source()),
        ("txn.h".into(), "req.hdr(host),lower")
    );
    assert!(
        matches!(&r[1].action, HttpRequestAction::SetVarFmt(n, f) if n.to_string() == "sess.f" && f.source() == "%[src]:%[dst_port]")
    );
    assert!(matches!(&r[2].action, HttpRequestAction::UnsetVar(n) if n.scope() == VarScope::Proc));
    assert!(r[2].cond.is_some());
    let HttpRequestAction::SetHeader(_, v) = &r[3].action else {
        panic!()
    };
    assert!(v.as_literal().is_none());
    assert!(matches!(&r[4].action, HttpRequestAction::SetUri(_)));
    let s = &p.rules.http_response;
    assert!(matches!(&s[0].action, HttpResponseAction::SetVar(n, _) if n.to_string() == "res.s"));
    assert!(matches!(&s[2].action, HttpResponseAction::UnsetVar(_)));
    // A format without expressions is a constant.
    assert_eq!(Fmt::parse("a %% b").unwrap(), *"a % b");
}

#[test]
fn errors_haproxy_rejects_too() {
    for (line, kw, needle) in [
        (
            "http-request set-header X %[nope]",
            "http-request set-header",
            "unknown fetch method 'nope'",
        ),
        (
            "http-request set-header X %[src,nope]",
            "http-request set-header",
            "unknown converter 'nope'",
        ),
        (
            "http-request set-header X \"%[src\"",
            "http-request set-header",
            "%[src",
        ),
        (
            "http-request set-var(foo) src",
            "http-request set-var",
            "invalid variable name 'foo'",
        ),
        (
            "http-request set-var(txn.x) src,lower(1)",
            "http-request set-var",
            "src,lower(1)",
        ),
        (
            "http-request set-var(txn.x)",
            "http-request set-var",
            "expects a sample expression",
        ),
        (
            "http-request set-header X %[status]",
            "http-request set-header",
            "sample fetch 'status' reads the response",
        ),
    ] {
        err1_both(&fe(&format!(" {line}\n")), 8, kw, needle);
    }
}

#[test]
fn errors_fulcrum_only() {
    for (line, kw, needle) in [
        (
            "http-request set-header X %[str(a),wt6]",
            "http-request set-header",
            "converter 'wt6' is supported by HAProxy, not yet by fulcrum",
        ),
        (
            "http-request set-header X %Tq",
            "http-request set-header",
            "log-format variable '%Tq' is not supported yet",
        ),
        (
            "http-request set-var(txn.x,ifexists) src",
            "http-request set-var",
            "conditions of 'set-var'",
        ),
        (
            "http-response set-header X %[req.hdr(host)]",
            "http-response set-header",
            "reads the request's URI, headers or cookies",
        ),
    ] {
        err1(&fe(&format!(" {line}\n")), 8, kw, needle);
    }
}

#[test]
fn hmac_fix_mqtt_ids_and_captures_compile() {
    ok_both(&fe(
        " http-request set-var(txn.k) str(a2V5)
 http-request set-header X1 %[str(a),hmac(sha256,a2V5),hex]/%[str(a),hmac(sha1,txn.k),hex]
 http-request set-header X2 %[bin(00),fix_is_valid]/%[bin(00),fix_tag_value(MsgType)]/%[bin(00),fix_tag_value(49)]
 http-request set-header X3 %[bin(00),mqtt_is_valid]/%[bin(00),mqtt_field_value(connect,client_identifier)]/%[bin(00),mqtt_field_value(2,17)]
 http-request set-header X4 %[req.cook_val(a)]/%[cook_val]/%[fe_id]/%[so_name]/%[so_id]/%[base32]/%[base32+src,hex]
 http-request set-header X5 %[req.hdrs,length]/%[uuid]/%[nbsrv(b)]/%[be_conn(b)]/%[capture.req.method]/%[capture.req.uri]
 http-response set-header X6 %[srv_id]/%[srv_name]/%[be_id]/%[capture.req.uri]
",
    ));
    err1_both(
        &fe(" http-request set-header X %[str(a),hmac(sha1,abc)]\n"),
        8,
        "http-request set-header",
        "hmac",
    );
    err1_both(
        &fe(" http-request set-header X %[str(a),mqtt_field_value(connect,reason_code)]\n"),
        8,
        "http-request set-header",
        "mqtt_field_value",
    );
}
