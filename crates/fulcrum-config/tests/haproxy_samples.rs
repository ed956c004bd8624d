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
    let HttpRequestAction::SetVar(n, e, _) = &r[0].action else {
        panic!("{:?}", r[0].action)
    };
    assert_eq!(
        (n.to_string(), e.0.source()),
        ("txn.h".into(), "req.hdr(host),lower")
    );
    assert!(
        matches!(&r[1].action, HttpRequestAction::SetVarFmt(n, f, _) if n.to_string() == "sess.f" && f.source() == "%[src]:%[dst_port]")
    );
    assert!(matches!(&r[2].action, HttpRequestAction::UnsetVar(n) if n.scope() == VarScope::Proc));
    assert!(r[2].cond.is_some());
    let HttpRequestAction::SetHeader(_, v) = &r[3].action else {
        panic!()
    };
    assert!(v.as_literal().is_none());
    assert!(matches!(&r[4].action, HttpRequestAction::SetUri(_)));
    let s = &p.rules.http_response;
    assert!(
        matches!(&s[0].action, HttpResponseAction::SetVar(n, _, _) if n.to_string() == "res.s")
    );
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
            "http-request set-header X %[str(a),debug]",
            "http-request set-header",
            "converter 'debug' is supported by HAProxy, not yet by fulcrum",
        ),
        (
            "http-request set-header X %Tq",
            "http-request set-header",
            "log-format variable '%Tq' is not supported yet",
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

/// Map converters read their file once per file, whatever the number of converters naming it; a dynamic
/// `use_backend` and `redirect ... ignore-empty` compile; both HAProxy and fulcrum accept the configuration.
#[test]
fn maps_load_once_per_file() {
    let hosts = temp_file(
        "maps-hosts.map",
        b"# hosts\nexample.com app\n\nb.example.com b\n",
    );
    let nets = temp_file("maps-nets.map", b"10.0.0.0/8 1\n::1 2\n");
    let c = ok_both(&fe(&format!(
        " http-request redirect location %[path,map_str({hosts})] code 301 ignore-empty
 http-request set-header X-A %[req.hdr(host),map({hosts},none)]
 http-request set-header X-B %[src,map_ip_int({nets},0),add(1)]
 http-request set-header X-C %[req.hdr(x),map_regm({hosts},\"\\1\")]
 use_backend %[req.hdr(host),lower,map_dom({hosts})]
 use_backend b%[str()]
"
    )));
    let maps = &c.maps.0;
    let list = maps.list();
    assert_eq!(
        list.iter()
            .map(|m| (m.id, m.path.as_str()))
            .collect::<Vec<_>>(),
        [(0, hosts.as_str()), (1, nets.as_str())]
    );
    assert!(list[0].display.ends_with("used by map at file 't.cfg' line 8, by map at file 't.cfg' line 9, by map at file 't.cfg' line 11, by map at file 't.cfg' line 12"), "{}", list[0].display);
    assert_eq!(maps.show(&hosts).unwrap().len(), 2);
    let p = c.proxies.iter().find(|p| p.name == "f").unwrap();
    let u = &p.rules.use_backends;
    assert_eq!(u.len(), 2);
    assert!(u[0].dynamic.is_some());
    assert!(u[1].dynamic.is_some());
    let HttpRequestAction::Redirect(r) = &p.rules.http_request[0].action else {
        panic!("{:?}", p.rules.http_request[0].action)
    };
    assert!(r.ignore_empty);
}

#[test]
fn map_errors_name_the_file_and_line() {
    let bad = temp_file("maps-bad.map", b"# nets\n10.0.0.0/8 a\nnot-an-ip b\n");
    let vals = temp_file("maps-vals.map", b"k 1\nj x\n");
    for (line, needle) in [
        (
            format!("http-request set-header X %[src,map_ip({bad})]"),
            format!("'not-an-ip' is not a valid IPv4 or IPv6 address at line 3 of file '{bad}'"),
        ),
        (
            format!("http-request set-header X %[str(k),map_str_int({vals})]"),
            format!("unable to parse 'x' at line 2 of file '{vals}'"),
        ),
        (
            "http-request set-header X %[str(k),map(/nonexistent/fulcrum.map)]".to_string(),
            "failed to open pattern file </nonexistent/fulcrum.map>".to_string(),
        ),
        (
            format!("http-request set-header X %[str(k),map_str_int({vals},x)]"),
            "'x'".to_string(),
        ),
        (
            format!("http-request set-header X %[str(k),map_regm_int({vals})]"),
            "unknown converter 'map_regm_int'".to_string(),
        ),
    ] {
        err1_both(
            &fe(&format!(" {line}\n")),
            8,
            "http-request set-header",
            &needle,
        );
    }
}

#[test]
fn dynamic_use_backend_is_refused_in_mode_tcp() {
    let m = temp_file("maps-tcp.map", b"10.0.0.0/8 b\n");
    err1(
        &format!(
            "{D}frontend f\n mode tcp\n bind :18080\n use_backend %[src,map_ip({m})]\n default_backend b\nbackend b\n mode tcp\n server s 127.0.0.1:1\n"
        ),
        9,
        "use_backend",
        "a dynamic backend name",
    );
}

#[test]
fn set_var_conditions() {
    let c = ok_both(&fe(" http-request set-var(txn.x,ifexists,ifgt) int(3)
 http-response set-var-fmt(res.y,ifnotempty) \"%[status]\"
 http-response set-var(proc.z,ifnotset,iflt) int(1)
"));
    let p = c.proxies.iter().find(|p| p.name == "f").unwrap();
    let HttpRequestAction::SetVar(n, _, conds) = &p.rules.http_request[0].action else {
        panic!()
    };
    assert_eq!(
        (n.to_string(), conds.to_string()),
        ("txn.x".into(), "ifexists,ifgt".into())
    );
    let HttpResponseAction::SetVarFmt(_, _, conds) = &p.rules.http_response[0].action else {
        panic!()
    };
    assert_eq!(conds.to_string(), "ifnotempty");
    let HttpResponseAction::SetVar(_, _, conds) = &p.rules.http_response[1].action else {
        panic!()
    };
    assert_eq!(conds.to_string(), "ifnotset,iflt");
    err1_both(
        &fe(" http-request set-var(txn.x,ifbogus) int(3)\n"),
        8,
        "http-request set-var",
        "unknown condition 'ifbogus'",
    );
    err1(
        &fe(" http-request unset-var(txn.x,ifset)\n"),
        8,
        "http-request unset-var",
        "takes no condition",
    );
}

#[test]
fn global_set_var() {
    let c = ok_both(&format!(
        "global\n set-var proc.a int(12)\n set-var proc.b var(proc.c,60),div(proc.a)\n set-var-fmt proc.s \"%[var(proc.a)] x\"\n set-var proc.u uuid()\n{}",
        fe("")
    ));
    let v = &c.global.vars;
    assert_eq!(v.len(), 4);
    assert_eq!(v[0].name.to_string(), "proc.a");
    assert!(
        matches!(&v[1].value, GlobalVarValue::Expr(e) if e.0.source() == "var(proc.c,60),div(proc.a)")
    );
    assert!(matches!(&v[2].value, GlobalVarValue::Fmt(f) if f.source() == "%[var(proc.a)] x"));
    for (line, needle) in [
        (
            "set-var txn.x int(1)",
            "only scope 'proc' is permitted in the global section",
        ),
        (
            "set-var proc.x req.hdr(x)",
            "fetch method 'req.hdr' reads a stream",
        ),
        ("set-var proc.x src", "fetch method 'src' reads a stream"),
        (
            "set-var proc.x",
            "expects a variable name and a sample expression",
        ),
        ("set-var proc.x int(x)", "'int(x)'"),
    ] {
        let text = format!("global\n {line}\n{}", fe(""));
        err1_both(&text, 2, line.split(' ').next().unwrap(), needle);
    }
}
