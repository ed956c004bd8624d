//! ACLs, conditions, use_backend, http-request, http-response, tcp-request connection, redirect, errorfile and
//! timeout tarpit: parsed into the model, and every problem with its line and keyword. Valid configurations and
//! the invalid ones HAProxy 2.6 rejects too are also checked by the real haproxy.

#[path = "haproxy_util.rs"]
mod util;

use std::time::Duration;

use fulcrum_config::haproxy::*;
use util::*;

const D: &str = DEFAULTS; // 5 lines

/// A frontend `f` (line 6) with a bind (line 7) and `body` from line 8, plus backends `b` and `c`.
fn fe(body: &str) -> String {
    format!("{D}frontend f\n bind :18080\n{body}backend b\n server s 127.0.0.1:1\nbackend c\n server s 127.0.0.1:2\n")
}

/// A backend `b` (line 6) with `body` from line 7.
fn be(body: &str) -> String {
    format!("{D}backend b\n{body}")
}

fn proxy<'a>(c: &'a Config, name: &str) -> &'a Proxy {
    c.proxies.iter().find(|p| p.name == name).expect("proxy")
}

fn acl<'a>(p: &'a Proxy, name: &str) -> &'a Acl {
    p.rules.acls.iter().find(|a| a.name == name).expect("acl")
}

fn pats(a: &Acl) -> Vec<&str> {
    a.patterns.iter().map(String::as_str).collect()
}

// ---------- acl ----------

#[test]
fn every_fetch_implies_its_method() {
    let c = ok_both(&be(
        " acl a1 path /x\n acl a2 path_beg /api\n acl a3 path_end .jpg .png\n acl a4 path_sub adm\n\
          acl a5 path_reg ^/v[0-9]+/\n acl a6 url_param(id) 42\n acl a7 urlp(id) 43\n acl a8 urlp_beg(id) 4\n\
          acl a9 urlp_end(id) 2\n acl a10 urlp_sub(id) x\n acl a11 urlp_reg(id) ^[0-9]+$\n acl a12 hdr(host) example.com\n\
          acl a13 hdr_beg(host) www.\n acl a14 hdr_end(host) .org\n acl a15 hdr_sub(user-agent) curl\n\
          acl a16 hdr_reg(host) ^a.*$\n acl a17 req.hdr(x-a) y\n acl a18 src 10.0.0.0/8 192.168.1.7 ::1 2001:db8::/32\n\
          acl a19 dst_port 80 8000:8080\n acl a20 method GET POST\n server s 127.0.0.1:1\n",
    ));
    let p = proxy(&c, "b");
    use MatchMethod as M;
    let want: &[(&str, Sample, MatchMethod, &[&str])] = &[
        ("a1", Sample::Path, M::Str, &["/x"]),
        ("a2", Sample::Path, M::Beg, &["/api"]),
        ("a3", Sample::Path, M::End, &[".jpg", ".png"]),
        ("a4", Sample::Path, M::Sub, &["adm"]),
        ("a5", Sample::Path, M::Reg, &["^/v[0-9]+/"]),
        ("a6", Sample::UrlParam("id".into()), M::Str, &["42"]),
        ("a7", Sample::UrlParam("id".into()), M::Str, &["43"]),
        ("a8", Sample::UrlParam("id".into()), M::Beg, &["4"]),
        ("a9", Sample::UrlParam("id".into()), M::End, &["2"]),
        ("a10", Sample::UrlParam("id".into()), M::Sub, &["x"]),
        ("a11", Sample::UrlParam("id".into()), M::Reg, &["^[0-9]+$"]),
        ("a12", Sample::Hdr("host".into()), M::Str, &["example.com"]),
        ("a13", Sample::Hdr("host".into()), M::Beg, &["www."]),
        ("a14", Sample::Hdr("host".into()), M::End, &[".org"]),
        ("a15", Sample::Hdr("user-agent".into()), M::Sub, &["curl"]),
        ("a16", Sample::Hdr("host".into()), M::Reg, &["^a.*$"]),
        ("a17", Sample::Hdr("x-a".into()), M::Str, &["y"]),
        (
            "a18",
            Sample::Src,
            M::Ip,
            &["10.0.0.0/8", "192.168.1.7/32", "::1/128", "2001:db8::/32"],
        ),
        ("a19", Sample::DstPort, M::Int, &["80", "8000:8080"]),
        ("a20", Sample::Method, M::Str, &["GET", "POST"]),
    ];
    assert_eq!(p.rules.acls.len(), want.len());
    for (i, (name, sample, method, patterns)) in want.iter().enumerate() {
        let a = &p.rules.acls[i];
        assert_eq!(a.name, *name);
        assert_eq!((&a.sample, a.method), (sample, *method), "{name}");
        assert_eq!(pats(a), *patterns, "{name}");
        assert!(!a.ignore_case);
        assert_eq!(a.location.line, 7 + i);
    }
}

/// HAProxy's integer operators apply to the patterns after them; `status` is an integer fetch of responses.
#[test]
fn integer_operators_and_status() {
    let c = ok_both(&be(
        " acl a dst_port ge 1024 lt 80 8000:8080 eq 443\n acl b dst_port gt 9 le 3\n\
          http-response deny if { status eq 500 }\n server s 127.0.0.1:1\n",
    ));
    let p = proxy(&c, "b");
    assert_eq!(pats(&p.rules.acls[0]), ["1024:", ":79", "8000:8080", "443"]);
    assert_eq!(pats(&p.rules.acls[1]), ["10:", ":3"]);
    let cond = p.rules.http_response[0].cond.as_ref().unwrap();
    let acl = &cond.any_of[0][0].acls[0];
    assert_eq!(
        (&acl.sample, acl.method),
        (&Sample::Status, MatchMethod::Int)
    );
    assert_eq!(pats(acl), ["500"]);
}

#[test]
fn acl_flags() {
    let c = ok_both(&be(
        " acl i path_beg -i /API\n acl m path -m beg /x\n acl m2 path_beg -m sub x\n acl f hdr(host) -m found\n\
          acl r hdr(host) -i -m reg ^www\\.\n acl dd path -- -i\n acl ip hdr(x-forwarded-for) -m ip 10.1.2.3/8\n\
          acl int url_param(n) -m int 5 :3 7:\n acl e path -m end .css\n acl s src -m str 127.0.0.1\n\
          acl none path --\n acl neg dst_port 0:1 010\n server s 127.0.0.1:1\n",
    ));
    let p = proxy(&c, "b");
    let a = acl(p, "i");
    assert!(a.ignore_case);
    assert_eq!((a.method, pats(a)), (MatchMethod::Beg, vec!["/API"]));
    assert_eq!(acl(p, "m").method, MatchMethod::Beg);
    assert_eq!(acl(p, "m2").method, MatchMethod::Sub);
    let a = acl(p, "f");
    assert_eq!((a.method, a.patterns.len()), (MatchMethod::Found, 0));
    let a = acl(p, "r");
    assert!(a.ignore_case);
    assert_eq!((a.method, pats(a)), (MatchMethod::Reg, vec!["^www\\."]));
    assert_eq!(pats(acl(p, "dd")), ["-i"]);
    assert!(!acl(p, "dd").ignore_case);
    let a = acl(p, "ip");
    assert_eq!(
        (&a.sample, a.method, pats(a)),
        (
            &Sample::Hdr("x-forwarded-for".into()),
            MatchMethod::Ip,
            vec!["10.0.0.0/8"]
        )
    );
    let a = acl(p, "int");
    assert_eq!(a.method, MatchMethod::Int);
    assert_eq!(pats(a), ["5", ":3", "7:"]);
    assert_eq!(acl(p, "e").method, MatchMethod::End);
    let a = acl(p, "s");
    assert_eq!((&a.sample, a.method), (&Sample::Src, MatchMethod::Str));
    assert!(acl(p, "none").patterns.is_empty());
    assert_eq!(pats(acl(p, "neg")), ["0:1", "10"]);
}

#[test]
fn acl_patterns_from_files() {
    let f1 = temp_file(
        "rules-pats1.txt",
        b"/a\n\n# comment\n  /b  \n\t/c\r\n   # indented comment\n",
    );
    let f2 = temp_file("rules-pats2.txt", b"10.0.0.0/8\n::1\n");
    let empty = temp_file("rules-empty.txt", b"");
    let c = ok_both(&be(&format!(
        " acl p path_beg -f {f1} /d\n acl ips src -f {f2} -f {empty}\n acl e path -f {empty}\n server s 127.0.0.1:1\n"
    )));
    let p = proxy(&c, "b");
    assert_eq!(pats(acl(p, "p")), ["/a", "/b", "/c", "/d"]);
    assert_eq!(pats(acl(p, "ips")), ["10.0.0.0/8", "::1/128"]);
    assert!(acl(p, "e").patterns.is_empty());

    // relative paths are relative to the current directory
    let cwd = std::env::current_dir().unwrap();
    let rel = format!(
        "{}{}",
        "../".repeat(cwd.components().count()),
        f1.trim_start_matches('/')
    );
    let c = ok_both(&be(&format!(" acl p path -f {rel}\n")));
    assert_eq!(pats(acl(proxy(&c, "b"), "p")), ["/a", "/b", "/c"]);

    // patterns from a file are validated like the others, and the message says where
    let bad = temp_file("rules-badips.txt", b"10.0.0.1\n\nnot-an-ip\n");
    err1_both(
        &be(&format!(" acl a src -f {bad}\n")),
        7,
        "acl",
        "rules-badips.txt:3)",
    );
    err1_both(
        &be(" acl a path -f /nonexistent/fulcrum-pats\n"),
        7,
        "acl",
        "cannot read pattern file '/nonexistent/fulcrum-pats'",
    );
    err1_both(
        &be(" acl a path -f\n"),
        7,
        "acl",
        "'-f' expects a file name",
    );
}

#[test]
fn acl_errors_haproxy_rejects_too() {
    for (line, needle) in [
        ("acl a frob /x", "unknown fetch method 'frob'"),
        ("acl a path(x) /x", "'path' takes no arguments"),
        ("acl a path,frob /x", "'path,frob': unknown converter 'frob'"),
        (
            "acl a var(txn.x) y",
            "matching method must be specified first (using '-m') when using a sample fetch of this type ('var')",
        ),
        (
            "acl a req.hdr(x),sha1 00",
            "matching method must be specified first (using '-m')",
        ),
        ("acl a str(a),length x", "'x' is not a number"),
        ("acl a path -m len x", "'x' is not a number"),
        ("acl a hdr(host /x", "missing ')'"),
        ("acl a path -m bogus x", "unknown matching method 'bogus'"),
        ("acl a path -m", "unknown matching method ''"),
        ("acl a path -x /a", "'-x' is not a valid ACL flag"),
        (
            "acl a method -m ip 1.2.3.4",
            "matching method 'ip' cannot be used with fetch 'method'",
        ),
        (
            "acl a method -m int 1",
            "matching method 'int' cannot be used with fetch 'method'",
        ),
        ("acl a path_reg ^(x", "invalid regex '^(x'"),
        ("acl a path -i -m reg ^(x", "invalid regex '^(x'"),
        ("acl a hdr_reg(host) [z-a]", "invalid regex '[z-a]'"),
        (
            "acl a src 1.2.3.4/33",
            "'1.2.3.4/33' is not a valid IPv4 or IPv6 address",
        ),
        ("acl a src foo.invalid", "'foo.invalid' is not a valid IPv4"),
        ("acl a dst_port x", "'x' is not a number"),
        (
            "acl a dst_port 80:90 1:x",
            "'1:x' is not a valid number range",
        ),
        (
            "acl a dst_port -- -1:1",
            "'-1:1' is not a valid number range",
        ),
        ("acl a dst_port 3:1", "'3:1' is not a valid number range"),
        ("acl a dst_port +5", "'+5' is not a number"),
        ("acl a dst_port 99999999999999999999", "is not a number"),
        ("acl a dst_port -5", "'-5' is not a valid ACL flag"),
        (
            "acl a/b path /x",
            "character '/' is not permitted in acl name 'a/b'",
        ),
        ("acl a", "missing fetch method"),
    ] {
        err1_both(&be(&format!(" {line}\n")), 7, "acl", needle);
    }
}

/// ACLs on any sample expression: converters, HAProxy's suffixed keywords and the default method of each output
/// type, checked by haproxy too.
#[test]
fn acls_on_sample_expressions() {
    let c = ok_both(&be(" acl e1 req.hdr(x),lower,field(1,:) -m str foo
 acl e2 var(txn.x) -m found
 acl e3 hdr_dom(host) example.com
 acl e16 hdr_dom(host),lower www.example.com
 acl e4 str(abc),length 3
 acl e5 src,ipmask(24) 10.0.0.0/24
 acl e6 var(txn.x),bool
 acl e7 int(3) gt 2
 acl e8 path -m len 1:10
 acl e9 path_dir api
 acl e10 url_sub x
 acl e11 req.hdr(x),sha1 -m bin 00ff
 acl e12 path -m dom example
 acl e13 cook(s) -i -n abc
 acl e14 str(a),upper -m beg A
 acl e15 var(txn.raw),sha1,base64,secure_memcmp(txn.hash)
 acl e17 http_first_req
 server s 127.0.0.1:1
"));
    let p = proxy(&c, "b");
    use MatchMethod as M;
    for (name, method, patterns) in [
        ("e1", M::Str, &["foo"][..]),
        ("e2", M::Found, &[]),
        ("e3", M::Dom, &["example.com"]),
        ("e4", M::Int, &["3"]),
        ("e5", M::Ip, &["10.0.0.0/24"]),
        ("e6", M::Bool, &[]),
        ("e7", M::Int, &["3:"]),
        ("e8", M::Len, &["1:10"]),
        ("e9", M::Dir, &["api"]),
        ("e10", M::Sub, &["x"]),
        ("e11", M::Bin, &["00ff"]),
        ("e12", M::Dom, &["example"]),
        ("e13", M::Str, &["abc"]),
        ("e14", M::Beg, &["A"]),
        ("e15", M::Bool, &[]),
        // converters after a suffixed keyword: the method of the output type, as in HAProxy 2.6
        ("e16", M::Str, &["www.example.com"]),
        ("e17", M::Bool, &[]),
    ] {
        let a = acl(p, name);
        let legacy = matches!(name, "e8" | "e12");
        assert_eq!(
            matches!(a.sample, Sample::Expr(_)),
            !legacy,
            "{name}: {:?}",
            a.sample
        );
        assert_eq!((a.method, pats(a)), (method, patterns.to_vec()), "{name}");
    }
    assert!(acl(p, "e13").ignore_case);
    // the legacy forms stay as they were (the runtime API shows them)
    let c = ok(&be(" acl l path_beg /x\n server s 127.0.0.1:1\n"));
    assert_eq!(acl(proxy(&c, "b"), "l").sample, Sample::Path);
}

#[test]
fn acl_errors_fulcrum_only() {
    for (line, needle) in [
        // HAProxy fetches fulcrum does not implement
        (
            "acl a ssl_bc_session_id",
            "fetch method 'ssl_bc_session_id' is supported by HAProxy, not yet by fulcrum",
        ),
        (
            "acl a req.ssl_ver 3.3",
            "fetch method 'req.ssl_ver' is supported by HAProxy, not yet",
        ),
        (
            "acl a url32 1",
            "fetch method 'url32' is supported by HAProxy, not yet",
        ),
        (
            "acl a str(a),debug -m str x",
            "converter 'debug' is supported by HAProxy, not yet",
        ),
        (
            "acl a dst_port -- -5",
            "the negative integer '-5' is not supported yet by fulcrum",
        ),
        ("acl a src 1.2.3", "'1.2.3' is not a valid IPv4"),
        ("acl a src localhost", "host names are not supported yet"),
        // stricter than HAProxy, which only warns that such ACLs never match
        (
            "acl a path_beg",
            "no pattern to match 'path_beg' against, so it would never match (add '--'",
        ),
        (
            "acl a hdr(host) -m found x",
            "'-m found' only tests that 'hdr' exists and takes no pattern, found 'x'",
        ),
    ] {
        err1(&be(&format!(" {line}\n")), 7, "acl", needle);
    }
}

#[test]
fn rules_in_defaults() {
    // anonymous defaults: rejected by HAProxy 2.6
    for kw in [
        "acl a path /x",
        "http-request deny",
        "http-response del-header x",
        "http-after-response del-header x",
        "tcp-request connection reject",
    ] {
        let k = kw.split(' ').next().unwrap();
        err1_both(
            &format!("defaults\n {kw}\nbackend b\n"),
            2,
            k,
            "not allowed in an anonymous 'defaults' section",
        );
        // named defaults: applied to the proxies using them
        let text = format!(
            "defaults d\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n {kw}\nfrontend f from d\n bind :18080\n"
        );
        ok_both(&text);
    }
    for kw in ["use_backend b", "redirect prefix /x"] {
        let k = kw.split(' ').next().unwrap();
        err1_both(
            &format!("defaults\n {kw}\nbackend b\n"),
            2,
            k,
            "is not allowed in a 'defaults' section",
        );
        err1_both(
            &format!("defaults d\n {kw}\nbackend b\n"),
            2,
            k,
            "is not allowed in a 'defaults' section",
        );
    }
}

// ---------- conditions ----------

fn terms(c: &Condition) -> Vec<Vec<(bool, &str)>> {
    c.any_of
        .iter()
        .map(|g| g.iter().map(|t| (t.negate, t.name.as_str())).collect())
        .collect()
}

fn cond(r: &Rule<HttpRequestAction>) -> &Condition {
    r.cond.as_ref().expect("condition")
}

#[test]
fn conditions() {
    let c = ok_both(&fe(" acl a path /a\n acl b path /b\n acl c path /c\n\
          http-request deny if a\n\
          http-request deny unless a\n\
          http-request deny if a !b\n\
          http-request deny if a || b c or !c OR a\n\
          http-request deny if ! a !!b\n\
          http-request deny if { path_beg -i /x /y } !{ src 10.0.0.0/8 } || { method -- }\n\
          http-request deny\n"));
    let r = &proxy(&c, "f").rules.http_request;
    assert_eq!(r.len(), 7);
    assert!(!cond(&r[0]).unless);
    assert_eq!(terms(cond(&r[0])), [[(false, "a")]]);
    assert!(cond(&r[1]).unless);
    assert_eq!(terms(cond(&r[1])), [[(false, "a")]]);
    assert_eq!(terms(cond(&r[2])), [[(false, "a"), (true, "b")]]);
    assert_eq!(
        terms(cond(&r[3])),
        vec![
            vec![(false, "a")],
            vec![(false, "b"), (false, "c")],
            vec![(true, "c")],
            vec![(false, "a")]
        ]
    );
    assert_eq!(terms(cond(&r[4])), [[(true, "a"), (false, "b")]]);
    let c5 = cond(&r[5]);
    assert_eq!(
        terms(c5),
        vec![
            vec![
                (false, "{ path_beg -i /x /y }"),
                (true, "{ src 10.0.0.0/8 }")
            ],
            vec![(false, "{ method -- }")]
        ]
    );
    let anon = &c5.any_of[0][0].acls;
    assert_eq!(anon.len(), 1);
    assert_eq!(anon[0].name, "");
    assert_eq!(
        (&anon[0].sample, anon[0].method, anon[0].ignore_case),
        (&Sample::Path, MatchMethod::Beg, true)
    );
    assert_eq!(pats(&anon[0]), ["/x", "/y"]);
    assert_eq!(anon[0].location.line, 16);
    assert!(r[6].cond.is_none());
    // named terms carry copies of the ACL lines
    assert_eq!(cond(&r[0]).any_of[0][0].acls[0].patterns, ["/a"]);
    assert_eq!(r[0].location.line, 11);
}

#[test]
fn a_name_stands_for_every_line_of_that_name() {
    // HAProxy requires a declaration before the first use, and appends later lines to the same ACL
    let c = ok_both(&fe(
        " acl api path_beg /api\n acl api hdr(host) api.example.com\n use_backend c if api\n\
          acl api src 10.0.0.0/8\n acl other path /o\n",
    ));
    let p = proxy(&c, "f");
    assert_eq!(p.rules.acls.len(), 4);
    let u = &p.rules.use_backends[0];
    let acls = &u.cond.as_ref().unwrap().any_of[0][0].acls;
    assert_eq!(
        acls.iter().map(|a| a.location.line).collect::<Vec<_>>(),
        [8, 9, 11]
    );
    assert_eq!(acls[2].sample, Sample::Src);
}

#[test]
fn predefined_acls() {
    let c = ok_both(&fe(
        " http-request deny if TRUE\n http-request deny if FALSE\n http-request deny if HTTP\n\
          http-request deny if LOCALHOST\n http-request deny if METH_GET\n http-request deny if METH_POST\n\
          http-request deny if METH_HEAD\n http-request deny if METH_OPTIONS\n http-request deny if METH_PUT\n\
          http-request deny if METH_DELETE\n http-request deny if METH_CONNECT\n http-request deny if METH_TRACE\n",
    ));
    let r = &proxy(&c, "f").rules.http_request;
    let one = |i: usize| -> &Acl {
        let t = &cond(&r[i]).any_of[0][0];
        assert_eq!(t.acls.len(), 1);
        &t.acls[0]
    };
    use MatchMethod as M;
    let want: &[(&str, Sample, MatchMethod, &[&str])] = &[
        ("TRUE", Sample::Src, M::Found, &[]),
        ("FALSE", Sample::Src, M::Ip, &[]),
        ("HTTP", Sample::Method, M::Found, &[]),
        ("LOCALHOST", Sample::Src, M::Ip, &["127.0.0.0/8"]),
        ("METH_GET", Sample::Method, M::Str, &["GET", "HEAD"]),
        ("METH_POST", Sample::Method, M::Str, &["POST"]),
        ("METH_HEAD", Sample::Method, M::Str, &["HEAD"]),
        ("METH_OPTIONS", Sample::Method, M::Str, &["OPTIONS"]),
        ("METH_PUT", Sample::Method, M::Str, &["PUT"]),
        ("METH_DELETE", Sample::Method, M::Str, &["DELETE"]),
        ("METH_CONNECT", Sample::Method, M::Str, &["CONNECT"]),
        ("METH_TRACE", Sample::Method, M::Str, &["TRACE"]),
    ];
    for (i, (name, sample, method, patterns)) in want.iter().enumerate() {
        let a = one(i);
        assert_eq!(a.name, *name);
        assert_eq!((&a.sample, a.method), (sample, *method), "{name}");
        assert_eq!(pats(a), *patterns, "{name}");
        assert!(!a.ignore_case);
        assert_eq!(a.location.line, 8 + i);
    }
    // predefined ACLs are not listed among the section's own
    assert!(proxy(&c, "f").rules.acls.is_empty());

    // the ones on a version, the URL form or a body: the ACL line each stands for in HAProxy
    let c = ok_both(&fe(
        " http-request deny if HTTP_1.0\n http-request deny if HTTP_1.1\n http-request deny if HTTP_2.0\n\
          http-request deny if HTTP_CONTENT\n http-request deny if HTTP_URL_ABS\n\
          http-request deny if HTTP_URL_SLASH\n http-request deny if HTTP_URL_STAR\n",
    ));
    let r = &proxy(&c, "f").rules.http_request;
    let want: &[(&str, &str, MatchMethod, &[&str])] = &[
        ("HTTP_1.0", "req.ver", M::Str, &["1.0"]),
        ("HTTP_1.1", "req.ver", M::Str, &["1.1"]),
        ("HTTP_2.0", "req.ver", M::Str, &["2.0"]),
        ("HTTP_CONTENT", "req.hdr", M::Int, &["1:"]),
        ("HTTP_URL_ABS", "url_reg", M::Reg, &["^[^/:]*://"]),
        ("HTTP_URL_SLASH", "url_beg", M::Beg, &["/"]),
        ("HTTP_URL_STAR", "url", M::Str, &["*"]),
    ];
    for (i, (name, fetch, method, patterns)) in want.iter().enumerate() {
        let a = &cond(&r[i]).any_of[0][0].acls[0];
        assert_eq!(
            (a.name.as_str(), a.fetch.as_str(), a.method),
            (*name, *fetch, *method)
        );
        assert_eq!(pats(a), *patterns, "{name}");
    }

    // REQ_CONTENT looks at the buffered request bytes: HAProxy's `req.len gt 0`
    let c = ok_both(&fe(
        " mode tcp\n tcp-request inspect-delay 1s\n tcp-request content accept if REQ_CONTENT\n",
    ));
    let r = &proxy(&c, "f").rules.tcp_content;
    let a = &r[0].cond.as_ref().expect("condition").any_of[0][0].acls[0];
    assert_eq!(
        (a.name.as_str(), a.fetch.as_str(), a.method),
        ("REQ_CONTENT", "req.len", M::Int)
    );
    assert_eq!(pats(a), ["1:"]);

    // a user ACL declared before hides the predefined one
    let c = ok_both(&fe(" acl TRUE path /t\n http-request deny if TRUE\n"));
    let a = &cond(&proxy(&c, "f").rules.http_request[0]).any_of[0][0].acls;
    assert_eq!((a.len(), &a[0].sample), (1, &Sample::Path));
}

#[test]
fn condition_errors_haproxy_rejects_too() {
    let kw = "http-request deny";
    err1_both(
        &fe(" http-request deny if nope\n"),
        8,
        kw,
        "no such ACL 'nope' in frontend 'f'",
    );
    err1_both(
        &fe(" http-request deny if a\n acl a path /x\n"),
        8,
        kw,
        "no such ACL 'a' yet: it is declared later, at t.cfg:9",
    );
    err1_both(
        &fe(" acl a path /x\n http-request deny if a x\n"),
        9,
        kw,
        "no such ACL 'x'",
    );
    err1_both(
        &fe(" http-request deny if {path /x}\n"),
        8,
        kw,
        "no such ACL '{path'",
    );
    err1_both(&fe(" http-request deny if }\n"), 8, kw, "no such ACL '}'");
    err1_both(&fe(" http-request deny if IF\n"), 8, kw, "no such ACL 'IF'");
    err1_both(
        &fe(" http-request deny if { path /x\n"),
        8,
        kw,
        "missing closing '}'",
    );
    err1_both(
        &fe(" http-request deny if { }\n"),
        8,
        kw,
        "missing fetch method",
    );
    err1_both(
        &fe(" http-request deny if { path -- } }\n"),
        8,
        kw,
        "no such ACL '}'",
    );
    err1_both(
        &fe(" http-request deny if { frob x }\n"),
        8,
        kw,
        "unknown fetch method 'frob'",
    );
    err1_both(
        &fe(" http-request deny if { path_reg ( }\n"),
        8,
        kw,
        "anonymous acl: invalid regex '('",
    );
    // ACLs of another section are not visible
    err1_both(
        &format!("{D}backend c\n acl a path /x\nfrontend f\n bind :18080\n use_backend c if a\n"),
        10,
        "use_backend",
        "no such ACL 'a' in frontend 'f'",
    );
}

#[test]
fn condition_errors_fulcrum_only() {
    let kw = "http-request deny";
    // HAProxy accepts these empty conditions
    err1(
        &fe(" http-request deny if\n"),
        8,
        kw,
        "expects a condition after 'if'",
    );
    err1(
        &fe(" http-request deny unless\n"),
        8,
        kw,
        "expects a condition after 'unless'",
    );
    err1(
        &fe(" http-request deny if TRUE ||\n"),
        8,
        kw,
        "'||' / 'or' must be followed by an ACL",
    );
    err1(
        &fe(" http-request deny if || TRUE\n"),
        8,
        kw,
        "'||' must be preceded by an ACL",
    );
    err1(
        &fe(" http-request deny if TRUE or or TRUE\n"),
        8,
        kw,
        "'or' must be preceded by an ACL",
    );
    err1(
        &fe(" http-request deny if TRUE !\n"),
        8,
        kw,
        "'!' must be followed by an ACL",
    );
    ok_both(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\nlisten l\n bind :18080\n \
         tcp-request inspect-delay 5s\n tcp-request content accept if RDP_COOKIE\n server s 127.0.0.1:3389\n",
    );
    err1(
        &fe(" http-request deny if { ssl_bc }\n"),
        8,
        kw,
        "anonymous acl { ssl_bc } would never match in 'http-request deny': 'ssl_bc' reads the connection to the server, which is not made yet",
    );
}

// ---------- use_backend ----------

#[test]
fn use_backend() {
    let c = ok_both(&format!(
        "{D}frontend f\n bind :18080\n acl api path_beg /api\n use_backend c if api\n use_backend l unless {{ src 10.0.0.0/8 }}\n\
         use_backend b\n default_backend b\nbackend b\n server s 127.0.0.1:1\nbackend c\n server s 127.0.0.1:2\n\
         listen l\n bind :18081\n use_backend c if TRUE\n server s 127.0.0.1:3\n"
    ));
    let u = &proxy(&c, "f").rules.use_backends;
    assert_eq!(u.len(), 3);
    assert_eq!((u[0].backend.as_str(), u[0].location.line), ("c", 9));
    assert_eq!(terms(u[0].cond.as_ref().unwrap()), [[(false, "api")]]);
    assert_eq!(u[1].backend, "l");
    assert!(u[1].cond.as_ref().unwrap().unless);
    assert_eq!((u[2].backend.as_str(), u[2].cond.is_none()), ("b", true));
    assert_eq!(proxy(&c, "l").rules.use_backends[0].backend, "c");
    // tcp frontends may switch on layer-4 fetches
    let c = ok_both(&format!(
        "{D}frontend f\n mode tcp\n bind :18080\n use_backend c if {{ src 10.0.0.0/8 }} {{ dst_port 443 }}\n\
         backend c\n mode tcp\n server s 127.0.0.1:2\n"
    ));
    assert_eq!(proxy(&c, "f").rules.use_backends.len(), 1);
}

#[test]
fn use_backend_errors() {
    let kw = "use_backend";
    err1_both(&fe(" use_backend\n"), 8, kw, "expects a backend name");
    err1_both(
        &fe(" use_backend b x\n"),
        8,
        kw,
        "expects 'if' or 'unless' followed by a condition, found 'x'",
    );
    err1_both(
        &fe(" use_backend nope\n"),
        8,
        kw,
        "frontend 'f': no backend or listen section named 'nope'",
    );
    err1_both(&fe(" use_backend b if nope\n"), 8, kw, "no such ACL 'nope'");
    err1_both(
        &format!("{D}frontend f\n bind :18080\n use_backend f2\nfrontend f2\n bind :18081\n"),
        8,
        kw,
        "no backend or listen section named 'f2'",
    );
    err1_both(
        &format!("{D}frontend f\n bind :18080\n use_backend b\nbackend b\n mode tcp\n server s 127.0.0.1:1\n"),
        8,
        kw,
        "http frontend 'f' cannot use tcp backend 'b' (t.cfg:9)",
    );
    err1_both(
        &be(" use_backend b\n"),
        7,
        kw,
        "not allowed in a 'backend' section",
    );
    // A tcp frontend may use an http backend: its connections are upgraded, as HAProxy does.
    ok(&format!(
        "{D}frontend f\n bind :18080\n mode tcp\n use_backend b\nbackend b\n server s 127.0.0.1:1\n"
    ));
    // fulcrum only
    err1(
        &format!("{D}frontend f\n mode tcp\n bind :18080\n use_backend b if {{ path /x }}\nbackend b\n mode tcp\n server s 127.0.0.1:1\n"),
        9,
        kw,
        "anonymous acl { path /x } uses 'path', which needs an HTTP message, but frontend 'f' is in 'mode tcp'",
    );
    err1(
        &format!("{D}frontend f\n bind :18080\n use_backend b if HTTP\n mode tcp\nbackend b\n mode tcp\n server s 127.0.0.1:1\n"),
        8,
        kw,
        "acl 'HTTP' uses 'method'",
    );
    // A dynamic name (haproxy_samples.rs::maps_load_once_per_file) is refused in mode tcp only.
    err1(
        &format!("{D}frontend f\n mode tcp\n bind :18080\n use_backend %[src]\n default_backend b\nbackend b\n mode tcp\n server s 127.0.0.1:1\n"),
        9,
        kw,
        "a dynamic backend name ('%[src]') in frontend 'f' (in 'mode tcp') is not supported yet by fulcrum",
    );
}

// ---------- http-request ----------

#[test]
fn http_request_actions() {
    let page = temp_file("rules-page.html", b"<h1>hi</h1>\n");
    let empty = temp_file("rules-empty.html", b"");
    let c = ok_both(&be(&format!(
        " http-request set-header X-A \"a b\"\n http-request add-header X-B 100%%\n http-request del-header X-C\n\
          http-request replace-header Host ^(.*):80$ \\1\n http-request replace-value Host '(.*):.*' '\\1'\n http-request set-path /new\n http-request set-query a=1&b=2\n\
          http-request redirect location https://example.com/\n\
          http-request redirect prefix /v2 code 301 drop-query append-slash\n\
          http-request redirect scheme https code 308 if !{{ dst_port 443 }}\n\
          http-request deny\n http-request deny deny_status 429\n http-request deny status 404 if METH_POST\n\
          http-request tarpit\n http-request tarpit deny_status 503\n\
          http-request return\n http-request return status 204\n\
          http-request return status 404 content-type text/plain string \"not here\"\n\
          http-request return content-type text/html file {page} if {{ path /p }}\n\
          http-request return status 503 content-type text/plain\n http-request return content-type text/html file {empty}\n\
          server s 127.0.0.1:1\n"
    )));
    use HttpRequestAction as A;
    let r = &proxy(&c, "b").rules.http_request;
    let actions: Vec<&A> = r.iter().map(|r| &r.action).collect();
    assert_eq!(
        actions,
        [
            &A::SetHeader("X-A".into(), "a b".into()),
            &A::AddHeader("X-B".into(), "100%".into()),
            &A::DelHeader("X-C".into()),
            &A::ReplaceHeader("Host".into(), "^(.*):80$".into(), "\\1".into()),
            &A::ReplaceValue("Host".into(), "(.*):.*".into(), "\\1".into()),
            &A::SetPath("/new".into()),
            &A::SetQuery("a=1&b=2".into()),
            &A::Redirect(Redirect {
                target: RedirectTarget::Location("https://example.com/".into()),
                code: 302,
                drop_query: false,
                append_slash: false,
                ignore_empty: false
            }),
            &A::Redirect(Redirect {
                target: RedirectTarget::Prefix("/v2".into()),
                code: 301,
                drop_query: true,
                append_slash: true,
                ignore_empty: false
            }),
            &A::Redirect(Redirect {
                target: RedirectTarget::Scheme("https".into()),
                code: 308,
                drop_query: false,
                append_slash: false,
                ignore_empty: false
            }),
            &A::Deny(403),
            &A::Deny(429),
            &A::Deny(404),
            &A::Tarpit(500),
            &A::Tarpit(503),
            &A::Return(
                200,
                Reply::Built {
                    content_type: None,
                    headers: vec![],
                    body: ReturnBody::Empty
                }
            ),
            &A::Return(
                204,
                Reply::Built {
                    content_type: None,
                    headers: vec![],
                    body: ReturnBody::Empty
                }
            ),
            &A::Return(
                404,
                Reply::Built {
                    content_type: Some("text/plain".into()),
                    headers: vec![],
                    body: ReturnBody::Text("not here".into())
                }
            ),
            &A::Return(
                200,
                Reply::Built {
                    content_type: Some("text/html".into()),
                    headers: vec![],
                    body: ReturnBody::File(b"<h1>hi</h1>\n".to_vec())
                }
            ),
            // as HAProxy: the content type of an empty reply is dropped
            &A::Return(
                503,
                Reply::Built {
                    content_type: None,
                    headers: vec![],
                    body: ReturnBody::Empty
                }
            ),
            &A::Return(
                200,
                Reply::Built {
                    content_type: None,
                    headers: vec![],
                    body: ReturnBody::Empty
                }
            ),
        ]
    );
    assert_eq!(r[0].location.line, 7);
    assert!(r[0].cond.is_none());
    assert_eq!(
        terms(r[9].cond.as_ref().unwrap()),
        [[(true, "{ dst_port 443 }")]]
    );
    assert_eq!(
        terms(r[12].cond.as_ref().unwrap()),
        [[(false, "METH_POST")]]
    );
    assert!(r[18].cond.is_some());
}

#[test]
fn old_style_redirect() {
    let c = ok_both(&fe(
        " redirect prefix /x code 301 if TRUE\n redirect location /y unless { path /y }\n http-request deny\n",
    ));
    let r = &proxy(&c, "f").rules.http_request;
    assert_eq!(r.len(), 3);
    assert_eq!(
        r[0].action,
        HttpRequestAction::Redirect(Redirect {
            target: RedirectTarget::Prefix("/x".into()),
            code: 301,
            drop_query: false,
            append_slash: false,
            ignore_empty: false
        })
    );
    assert!(r[1].cond.as_ref().unwrap().unless);
    assert_eq!(r[2].action, HttpRequestAction::Deny(403));
    let c = ok_both(&be(" redirect scheme https\n server s 127.0.0.1:1\n"));
    assert_eq!(proxy(&c, "b").rules.http_request.len(), 1);
    err1_both(
        &be(" redirect prefix /x frob\n"),
        7,
        "redirect",
        "expects 'location', 'prefix', 'scheme', 'code', 'drop-query', 'append-slash' or 'ignore-empty', found 'frob'",
    );
    err1_both(
        &be(" redirect\n"),
        7,
        "redirect",
        "expects a redirection type",
    );
}

#[test]
fn http_request_errors_haproxy_rejects_too() {
    for (line, kw, needle) in [
        (
            "http-request set-header X-A",
            "http-request set-header",
            "expects a header name and a value",
        ),
        (
            "http-request set-header X-A \"\"",
            "http-request set-header",
            "expects a header name and a value",
        ),
        (
            "http-request add-header",
            "http-request add-header",
            "expects a header name and a value",
        ),
        (
            "http-request set-header X-A \"a b\" c",
            "http-request set-header",
            "expects 'if' or 'unless' followed by a condition, found 'c'",
        ),
        (
            "http-request del-header",
            "http-request del-header",
            "expects a header name",
        ),
        (
            "http-request del-header X-A x",
            "http-request del-header",
            "found 'x'",
        ),
        (
            "http-request replace-header X-A ^(x y",
            "http-request replace-header",
            "invalid regex '^(x'",
        ),
        (
            "http-request replace-header X-A x",
            "http-request replace-header",
            "expects a header name, a regex and a replacement",
        ),
        (
            "http-request set-path",
            "http-request set-path",
            "expects a path",
        ),
        (
            "http-request set-path /a /b",
            "http-request set-path",
            "found '/b'",
        ),
        (
            "http-request set-query",
            "http-request set-query",
            "expects a query string",
        ),
        (
            "http-request set-query \"\"",
            "http-request set-query",
            "expects a query string",
        ),
        (
            "http-request frob",
            "http-request",
            "unknown http-request action 'frob'",
        ),
        ("http-request", "http-request", "expects an action"),
        (
            "http-request redirect",
            "http-request redirect",
            "expects a redirection type",
        ),
        (
            "http-request redirect location",
            "http-request redirect",
            "'location' expects an argument",
        ),
        (
            "http-request redirect location \"\"",
            "http-request redirect",
            "'location' expects an argument",
        ),
        (
            "http-request redirect frob /x",
            "http-request redirect",
            "found 'frob'",
        ),
        (
            "http-request redirect location /x code 304",
            "http-request redirect",
            "unsupported HTTP code '304'",
        ),
        (
            "http-request redirect location /x code x",
            "http-request redirect",
            "unsupported HTTP code 'x'",
        ),
        (
            "http-request redirect location /x code",
            "http-request redirect",
            "'code' expects an argument",
        ),
        (
            "http-request deny deny_status 999",
            "http-request deny",
            "status code '999'",
        ),
        (
            "http-request deny deny_status 302",
            "http-request deny",
            "status code '302'",
        ),
        (
            "http-request deny deny_status",
            "http-request deny",
            "'deny_status' expects a status code",
        ),
        ("http-request deny x", "http-request deny", "found 'x'"),
        (
            "http-request tarpit deny_status 600",
            "http-request tarpit",
            "status code '600'",
        ),
        (
            "http-request return status 100",
            "http-request return",
            "unexpected status code '100'",
        ),
        (
            "http-request return status 600",
            "http-request return",
            "unexpected status code '600'",
        ),
        (
            "http-request return string x",
            "http-request return",
            "a content type must be defined when non-empty payload is configured",
        ),
        (
            "http-request return status 204 content-type text/plain string x",
            "http-request return",
            "a 204 response has no body",
        ),
        (
            "http-request return status 304 content-type text/plain string x",
            "http-request return",
            "a 304 response has no body",
        ),
        (
            "http-request return content-type text/plain file /nonexistent/x",
            "http-request return",
            "cannot read file '/nonexistent/x'",
        ),
        (
            "http-request return content-type text/plain string x file /dev/null",
            "http-request return",
            "unexpected 'file': 'string' was already given",
        ),
        (
            "http-request return content-type text/plain string",
            "http-request return",
            "'string' expects a text",
        ),
        (
            "http-request return content-type \"\" string x",
            "http-request return",
            "'content-type' expects a media type",
        ),
        (
            "http-request return status 200 frob",
            "http-request return",
            "found 'frob'",
        ),
    ] {
        err1_both(&be(&format!(" {line}\n")), 7, kw, needle);
    }
}

#[test]
fn http_request_errors_fulcrum_only() {
    for (line, kw, needle) in [
        (
            "http-request set-priority-class int(1)",
            "http-request set-priority-class",
            "action 'set-priority-class' is not",
        ),
        (
            "http-request use-service lua.hello",
            "http-request use-service",
            "unknown service 'lua.hello'",
        ),
        (
            "http-request add-header X-A %Tq",
            "http-request add-header",
            "log-format variable '%Tq' is not supported yet by fulcrum",
        ),
        (
            "http-request set-path /%[str(a),debug]",
            "http-request set-path",
            "'debug' is supported by HAProxy, not yet by fulcrum",
        ),
        (
            "http-request redirect prefix /x set-cookie A=b",
            "http-request redirect",
            "redirect option 'set-cookie' is not supported",
        ),
        (
            "http-request redirect prefix /x clear-cookie A",
            "http-request redirect",
            "redirect option 'clear-cookie' is not supported",
        ),
        (
            "http-request tarpit string hi",
            "http-request tarpit",
            "option 'string' of 'http-request tarpit' is not supported",
        ),
    ] {
        err1(&be(&format!(" {line}\n")), 7, kw, needle);
    }
}

// ---------- http-response ----------

/// `http-response redirect` takes only `location` (which may read the response), as haproxy 2.6; the
/// `last_rule_file` / `last_rule_line` fetches and the `WAIT_END` ACL are known.
#[test]
fn response_redirect_last_rule_and_wait_end() {
    let c = ok_both(&be(concat!(
        " http-response redirect location /y code 301 if { status 200 }\n",
        " http-response redirect location \"%[res.hdr(x)]\" drop-query ignore-empty\n",
        " http-response set-header x-lr \"%[last_rule_file]:%[last_rule_line]\"\n",
        " tcp-response inspect-delay 1s\n",
        " tcp-response content reject unless WAIT_END\n",
        " server s 127.0.0.1:1\n",
    )));
    let r = &proxy(&c, "b").rules.http_response;
    assert!(matches!(
        &r[0].action,
        HttpResponseAction::Redirect(Redirect {
            code: 301,
            target: RedirectTarget::Location(_),
            ..
        })
    ));
    for kind in ["prefix /x", "scheme https"] {
        err1_both(
            &be(&format!(
                " http-response redirect {kind}\n server s 127.0.0.1:1\n"
            )),
            7,
            "http-response redirect",
            "response only supports redirect type 'location'",
        );
    }
    err1(
        &fe(" http-after-response redirect location /x\n"),
        8,
        "http-after-response",
        "unknown http-after-response action 'redirect'",
    );
}

#[test]
fn http_response_actions() {
    let c = ok_both(&fe(
        " http-response set-header X-A b\n http-response add-header X-B \"c d\"\n http-response del-header Server\n\
          http-response deny\n http-response deny deny_status 503 if METH_POST\n\
          http-response deny if { src 10.0.0.0/8 } || { dst_port 80 }\n",
    ));
    use HttpResponseAction as A;
    let r = &proxy(&c, "f").rules.http_response;
    let actions: Vec<&A> = r.iter().map(|r| &r.action).collect();
    assert_eq!(
        actions,
        [
            &A::SetHeader("X-A".into(), "b".into()),
            &A::AddHeader("X-B".into(), "c d".into()),
            &A::DelHeader("Server".into()),
            &A::Deny(502),
            &A::Deny(503),
            &A::Deny(502),
        ]
    );
    assert_eq!(r[4].location.line, 12);
    assert!(r[4].cond.is_some());
}

#[test]
fn http_response_errors() {
    err1_both(
        &fe(" http-response frob\n"),
        8,
        "http-response",
        "unknown http-response action 'frob'",
    );
    err1_both(
        &fe(" http-response deny deny_status 302\n"),
        8,
        "http-response deny",
        "status code '302'",
    );
    err1_both(
        &fe(" http-response set-header X\n"),
        8,
        "http-response set-header",
        "expects a header name and a value",
    );
    err1_both(
        &fe(" http-response del-header\n"),
        8,
        "http-response del-header",
        "expects a header name",
    );
    err1_both(
        &fe(" http-response deny if nope\n"),
        8,
        "http-response deny",
        "no such ACL 'nope'",
    );
    err1(
        &fe(" http-response set-nice 10\n"),
        8,
        "http-response set-nice",
        "http-response action 'set-nice' is not supported yet by fulcrum",
    );
    err1(
        &fe(" http-response set-header X %[ssl_bc_session_id]\n"),
        8,
        "http-response set-header",
        "fetch method 'ssl_bc_session_id' is supported by HAProxy, not yet by fulcrum",
    );
    // HAProxy warns that these never match
    err1(
        &fe(" http-response deny if { path /x }\n"),
        8,
        "http-response deny",
        "anonymous acl { path /x } would never match in 'http-response': 'path' is a request fetch",
    );
    err1(
        &fe(" acl a src 10.0.0.0/8\n acl a hdr(x) y\n http-response deny if a\n"),
        10,
        "http-response deny",
        "acl 'a' would never match in 'http-response': 'hdr' is a request fetch (use res.hdr(NAME) or shdr(NAME) to test a response header)",
    );
    for (cond, f) in [
        ("{ hdr(content-type) x }", "hdr"),
        ("{ req.hdr(content-type) x }", "req.hdr"),
        ("{ hdr_beg(content-type) x }", "hdr_beg"),
        ("{ url_param(a) x }", "url_param"),
    ] {
        err1(
            &fe(&format!(" http-response deny if {cond}\n")),
            8,
            "http-response deny",
            &format!("'{f}' is a request fetch"),
        );
    }
    // response headers cannot be tested before there is a response (HAProxy warns they never match)
    for (line, kw) in [
        ("http-request deny if { res.hdr(x) y }", "http-request deny"),
        ("use_backend b if { shdr(x) y }", "use_backend"),
        ("redirect location /x if { shdr_beg(x) y }", "redirect"),
    ] {
        err1(
            &fe(&format!(" {line}\n")),
            8,
            kw,
            &format!("would never match in '{kw}': '"),
        );
    }
    err1(
        &fe(" acl ct res.hdr(content-type) text/html\n http-request deny if ct\n"),
        9,
        "http-request deny",
        "acl 'ct' would never match in 'http-request deny': 'res.hdr' is a response fetch",
    );
    err1(
        &fe(" tcp-request connection reject if { shdr(x) y }\n"),
        8,
        "tcp-request connection",
        "'shdr' needs an HTTP message",
    );
}

#[test]
fn response_header_fetches() {
    let c = ok_both(&fe(
        " acl html res.hdr(content-type) -m beg text/html\n\
          http-response set-header X-Html 1 if html\n\
          http-response deny if { shdr(x-secret) -m found } || { shdr_beg(server) apache } { shdr_end(via) x }\n\
          http-response del-header Server if { shdr_sub(server) nginx } !{ shdr_reg(x-a) ^[0-9]+$ } METH_GET\n",
    ));
    let p = proxy(&c, "f");
    let a = acl(p, "html");
    assert_eq!(
        (&a.sample, a.method, pats(a)),
        (
            &Sample::Hdr("content-type".into()),
            MatchMethod::Beg,
            vec!["text/html"]
        )
    );
    let r = &p.rules.http_response;
    assert_eq!(r.len(), 3);
    let g = &r[1].cond.as_ref().unwrap().any_of;
    assert_eq!(g[0][0].acls[0].method, MatchMethod::Found);
    assert_eq!(g[1][0].acls[0].method, MatchMethod::Beg);
    assert_eq!(g[1][1].acls[0].method, MatchMethod::End);
    let g = &r[2].cond.as_ref().unwrap().any_of;
    assert_eq!(
        (g[0][0].acls[0].method, g[0][1].acls[0].method),
        (MatchMethod::Sub, MatchMethod::Reg)
    );
}

// ---------- tcp-request ----------

#[test]
fn tcp_request_connection() {
    let c = ok_both(&format!(
        "{D}frontend f\n mode tcp\n bind :18080\n acl net src 10.0.0.0/8\n tcp-request connection accept if net\n\
         tcp-request connection reject if !{{ dst_port 80 443 }} || LOCALHOST\n tcp-request connection reject\n\
         tcp-request connection accept if TRUE !FALSE\n default_backend b\nbackend b\n mode tcp\n server s 127.0.0.1:1\n"
    ));
    let r = &proxy(&c, "f").rules.tcp_connection;
    assert_eq!(
        r.iter().map(|r| r.action.clone()).collect::<Vec<_>>(),
        [
            TcpConnAction::Accept,
            TcpConnAction::Reject,
            TcpConnAction::Reject,
            TcpConnAction::Accept
        ]
    );
    assert_eq!(r[0].location.line, 10);
    assert!(r[2].cond.is_none());
    assert_eq!(
        terms(r[1].cond.as_ref().unwrap()),
        vec![
            vec![(true, "{ dst_port 80 443 }")],
            vec![(false, "LOCALHOST")]
        ]
    );
    // listen too
    ok_both(&format!(
        "{D}listen l\n bind :18080\n tcp-request connection reject if {{ src 1.2.3.4 }}\n server s 127.0.0.1:1\n"
    ));
}

#[test]
fn tcp_request_errors() {
    err1_both(
        &be(" tcp-request connection reject\n"),
        7,
        "tcp-request connection",
        "'tcp-request connection' is not allowed in a 'backend' section",
    );
    err1_both(
        &fe(" tcp-request connection frob\n"),
        8,
        "tcp-request connection",
        "unknown action 'frob'",
    );
    err1_both(
        &fe(" tcp-request connection\n"),
        8,
        "tcp-request connection",
        "expects an action",
    );
    err1_both(
        &fe(" tcp-request connection accept x\n"),
        8,
        "tcp-request connection",
        "found 'x'",
    );
    err1_both(
        &fe(" tcp-request frob\n"),
        8,
        "tcp-request",
        "expects 'connection', 'content', 'inspect-delay' or 'session'",
    );
    err1_both(
        &fe(" tcp-request\n"),
        8,
        "tcp-request",
        "expects 'connection'",
    );
    err1_both(
        &fe(" tcp-request connection reject if nope\n"),
        8,
        "tcp-request connection",
        "no such ACL 'nope'",
    );
    // In mode http, in frontends and backends alike (the content rules run on each request).
    ok_both(&fe(" tcp-request content reject\n"));
    // A lone inspect delay is accepted in mode http: it has nothing to change there.
    ok_both(&fe(" tcp-request inspect-delay 5s\n"));
    ok_both(&fe(" tcp-request session reject\n"));
    ok_both(&be(
        " tcp-request inspect-delay 5s\n tcp-request content reject\n",
    ));
    err1_both(
        &be(" tcp-request session accept\n"),
        7,
        "tcp-request session",
        "not allowed in a 'backend' section",
    );
    let c = ok_both(&fe(
        " tcp-request session silent-drop if { src 10.0.0.0/8 }\n tcp-request content silent-drop if { path /x }\n",
    ));
    let r = &proxy(&c, "f").rules;
    assert_eq!(r.tcp_session[0].action, TcpContentAction::SilentDrop);
    assert_eq!(r.tcp_content[0].action, TcpContentAction::SilentDrop);
    let c = ok_both(&fe(
        " tcp-request session set-mark 0x10\n tcp-request session set-tos 300 if { src 10.0.0.0/8 }\n tcp-request content set-mark 7\n",
    ));
    let r = &proxy(&c, "f").rules;
    assert_eq!(r.tcp_session[0].action, TcpContentAction::SetMark(16));
    assert_eq!(r.tcp_session[1].action, TcpContentAction::SetTos(300));
    assert!(r.tcp_session[1].cond.is_some());
    assert_eq!(r.tcp_content[0].action, TcpContentAction::SetMark(7));
    err1_both(
        &fe(" tcp-request session set-mark\n"),
        8,
        "tcp-request session set-mark",
        "expects exactly 1 argument (integer/hex value)",
    );
    err1_both(
        &fe(" tcp-request content set-tos x\n"),
        8,
        "tcp-request content set-tos",
        "invalid character starting at 'x' (integer/hex value expected)",
    );
    err1(
        &fe(" tcp-request session set-src src\n"),
        8,
        "tcp-request session set-src",
        "tcp-request session action 'set-src' is not supported yet by fulcrum",
    );
    err1(
        &fe(" tcp-request connection set-mark 1\n"),
        8,
        "tcp-request connection set-mark",
        "tcp-request connection action 'set-mark' is not supported yet by fulcrum",
    );
    // HAProxy warns that layer-7 fetches never match when the connection is accepted
    for (cond, what) in [
        (
            "{ path /x }",
            "anonymous acl { path /x } would never match in 'tcp-request connection': 'path'",
        ),
        ("{ hdr(host) x }", "'hdr' needs an HTTP message"),
        ("{ method GET }", "'method' needs"),
        ("{ url_param(x) y }", "'url_param' needs"),
        ("HTTP", "acl 'HTTP' would never match"),
        ("METH_GET", "acl 'METH_GET' would never match"),
    ] {
        err1(
            &fe(&format!(" tcp-request connection reject if {cond}\n")),
            8,
            "tcp-request connection",
            what,
        );
    }
    err1(
        &fe(" acl a src 1.2.3.4\n acl a path /x\n tcp-request connection reject if TRUE a\n"),
        10,
        "tcp-request connection",
        "acl 'a' would never match",
    );
}

// ---------- errorfile and timeout tarpit ----------

const PAGE: &[u8] = b"HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<h1>down</h1>\n";

#[test]
fn errorfiles_and_tarpit_are_inherited() {
    let p503 = temp_file("rules-503.http", PAGE);
    let p403 = temp_file(
        "rules-403.http",
        b"HTTP/1.1 403 Forbidden\nContent-Length: 2\n\nno",
    );
    let other = temp_file("rules-503b.http", b"HTTP/1.0 503 x\r\n\r\n");
    let empty = temp_file("rules-empty.http", b"");
    let c = ok_both(&format!(
        "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n timeout tarpit 3s\n\
         errorfile 503 {p503}\n errorfile 403 {p403}\n\
         frontend f\n bind :18080\n errorfile 503 {other}\n errorfile 400 {empty}\n default_backend b\n\
         backend b\n timeout tarpit 0\n server s 127.0.0.1:1\n"
    ));
    let f = proxy(&c, "f");
    assert_eq!(f.timeouts.tarpit, Some(Duration::from_secs(3)));
    assert_eq!(
        f.rules.errorfiles,
        [
            (503, Reply::Errorfile(b"HTTP/1.0 503 x\r\n\r\n".to_vec())),
            (
                403,
                Reply::Errorfile(b"HTTP/1.1 403 Forbidden\nContent-Length: 2\n\nno".to_vec())
            ),
            (400, Reply::Errorfile(Vec::new())),
        ]
    );
    let b = proxy(&c, "b");
    assert_eq!(b.timeouts.tarpit, None);
    assert_eq!(
        b.rules.errorfiles,
        [
            (503, Reply::Errorfile(PAGE.to_vec())),
            (
                403,
                Reply::Errorfile(b"HTTP/1.1 403 Forbidden\nContent-Length: 2\n\nno".to_vec())
            )
        ]
    );
    // every code HAProxy handles
    for code in [
        200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
    ] {
        let c = ok(&be(&format!(" errorfile {code} {p503}\n")));
        assert_eq!(proxy(&c, "b").rules.errorfiles[0].0, code);
    }
    // a new defaults section starts afresh
    let c = ok(&format!(
        "defaults\n errorfile 503 {p503}\n timeout tarpit 1s\ndefaults\nbackend b\n"
    ));
    assert!(proxy(&c, "b").rules.errorfiles.is_empty());
    assert_eq!(proxy(&c, "b").timeouts.tarpit, None);
}

#[test]
fn errorfile_errors() {
    let good = temp_file("rules-good.http", PAGE);
    let bad = temp_file("rules-bad.http", b"hello\n");
    let nohdrend = temp_file("rules-nohdrend.http", b"HTTP/1.0 503 x\n");
    let cl = temp_file(
        "rules-cl.http",
        b"HTTP/1.0 503 x\r\nContent-Length: 3\r\n\r\nabcdef",
    );
    let badhdr = temp_file("rules-badhdr.http", b"HTTP/1.0 503 x\r\nFoo\r\n\r\n");
    let lower = temp_file("rules-lower.http", b"http/1.0 503 x\r\n\r\n");
    let kw = "errorfile";
    err1_both(
        &be(&format!(" errorfile 503 {bad}\n")),
        7,
        kw,
        "must be a complete HTTP response",
    );
    err1_both(
        &be(&format!(" errorfile 503 {lower}\n")),
        7,
        kw,
        "must be a complete HTTP response",
    );
    err1_both(
        &be(&format!(" errorfile 503 {nohdrend}\n")),
        7,
        kw,
        "not followed by an empty line",
    );
    err1_both(
        &be(&format!(" errorfile 503 {cl}\n")),
        7,
        kw,
        "the body is 6 bytes long but Content-Length announces 3",
    );
    err1_both(
        &be(&format!(" errorfile 503 {badhdr}\n")),
        7,
        kw,
        "line 2 is not a header",
    );
    err1_both(
        &be(" errorfile 503 /nonexistent/x.http\n"),
        7,
        kw,
        "cannot read '/nonexistent/x.http'",
    );
    err1_both(&be(" errorfile 503 /tmp\n"), 7, kw, "cannot read '/tmp'");
    err1_both(
        &be(&format!(" errorfile 999 {good}\n")),
        7,
        kw,
        "status code '999' is not handled",
    );
    err1_both(
        &be(&format!(" errorfile 302 {good}\n")),
        7,
        kw,
        "status code '302' is not handled",
    );
    err1_both(
        &be(&format!(" errorfile x {good}\n")),
        7,
        kw,
        "status code 'x' is not handled",
    );
    err1_both(
        &be(" errorfile 503\n"),
        7,
        kw,
        "expects 'errorfile CODE FILE'",
    );
    err1_both(&be(" errorfile\n"), 7, kw, "expects 'errorfile CODE FILE'");
    err1_both(
        &format!("defaults\n errorfile 503 {bad}\nbackend b\n"),
        2,
        kw,
        "must be a complete",
    );
    // fulcrum only: HAProxy ignores extra words
    err1(
        &be(&format!(" errorfile 503 {good} x\n")),
        7,
        kw,
        "found an extra 'x'",
    );
    // timeout tarpit
    err1_both(&be(" timeout tarpit x\n"), 7, "timeout tarpit", "");
    let c = ok_both(&format!(
        "{D}listen l\n bind :18080\n timeout tarpit 1m\n server s 127.0.0.1:1\n"
    ));
    assert_eq!(
        proxy(&c, "l").timeouts.tarpit,
        Some(Duration::from_secs(60))
    );
}

#[test]
fn full_example() {
    let c = ok_both(&format!(
        "{D}frontend www\n bind :18080\n\
         acl is_api path_beg -i /api/\n acl is_static path_end .css .js .png\n acl host_admin hdr(host) -i admin.example.com\n\
         acl internal src 10.0.0.0/8 192.168.0.0/16\n\
         tcp-request connection reject if {{ src 203.0.113.0/24 }}\n\
         http-request deny if host_admin !internal\n\
         http-request redirect scheme https code 301 unless {{ dst_port 443 }}\n\
         http-request set-header X-Forwarded-Proto https\n\
         http-request return status 200 content-type text/plain string ok if {{ path /healthz }}\n\
         http-response del-header Server\n\
         use_backend api if is_api\n use_backend static if is_static || METH_GET {{ path_beg /assets/ }}\n\
         default_backend web\n\
         backend api\n server a 127.0.0.1:8001\nbackend static\n server s 127.0.0.1:8002\nbackend web\n server w 127.0.0.1:8003\n"
    ));
    let r = &proxy(&c, "www").rules;
    assert_eq!(r.acls.len(), 4);
    assert_eq!(r.tcp_connection.len(), 1);
    assert_eq!(r.http_request.len(), 4);
    assert_eq!(r.http_response.len(), 1);
    assert_eq!(r.use_backends.len(), 2);
    assert_eq!(
        terms(r.use_backends[1].cond.as_ref().unwrap()),
        vec![
            vec![(false, "is_static")],
            vec![(false, "METH_GET"), (false, "{ path_beg /assets/ }")]
        ]
    );
    for p in &c.proxies {
        if p.name != "www" {
            assert_eq!(p.rules, Rules::default());
        }
    }
}

#[test]
fn http_rules_in_tcp_proxies_are_kept() {
    // HAProxy only warns that they are ignored in tcp mode; the model keeps them and the data path ignores them
    let c = ok_both(&format!(
        "{D}frontend f\n mode tcp\n bind :18080\n http-request deny\n http-response del-header Server\n default_backend b\n\
         backend b\n mode tcp\n http-request set-header X-A b\n server s 127.0.0.1:1\n"
    ));
    assert_eq!(proxy(&c, "f").rules.http_request.len(), 1);
    assert_eq!(proxy(&c, "f").rules.http_response.len(), 1);
    assert_eq!(proxy(&c, "b").rules.http_request.len(), 1);
}

#[test]
fn errorfiles_from_named_defaults() {
    let p = temp_file("rules-named.http", PAGE);
    let c = ok_both(&format!(
        "defaults d\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n errorfile 503 {p}\n\
         timeout tarpit 2s\ndefaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         backend x from d\n server s 127.0.0.1:1\nbackend y\n server s 127.0.0.1:1\n"
    ));
    assert_eq!(
        proxy(&c, "x").rules.errorfiles,
        [(503, Reply::Errorfile(PAGE.to_vec()))]
    );
    assert_eq!(proxy(&c, "x").timeouts.tarpit, Some(Duration::from_secs(2)));
    assert!(proxy(&c, "y").rules.errorfiles.is_empty());
}

#[test]
fn rule_keywords_outside_proxies() {
    for kw in [
        "acl",
        "use_backend",
        "http-request",
        "tcp-request",
        "errorfile",
    ] {
        let e = err_both(&format!("global\n {kw} x\n"));
        assert_eq!((e[0].0, e[0].1.as_str()), (2, kw), "{e:?}");
    }
}

// ---------- http-errors, errorfiles, http-error, reply options ----------

fn page(tag: &str, code: u16) -> Vec<u8> {
    format!("HTTP/1.1 {code} x\r\nx-tag: {tag}\r\n\r\n").into_bytes()
}

#[test]
fn http_errors_sections_and_errorfiles() {
    let a400 = temp_file("he-a400.http", &page("a", 400));
    let a403 = temp_file("he-a403.http", &page("a", 403));
    let b400 = temp_file("he-b400.http", &page("b", 400));
    let own = temp_file("he-own500.http", &page("own", 500));
    let d404 = temp_file("he-d404.http", &page("d", 404));
    // The section may come after the proxies that import it; `defaults` lines come first, later lines win.
    let c = ok_both(&format!(
        "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         errorfiles ea\n errorfile 404 {d404}\n\
         frontend f\n bind :18080\n errorfile 500 {own}\n errorfiles eb 400\n\
         http-error status 403 default-errorfiles\n http-error status 500 errorfiles ea\n\
         http-error status 408 content-type text/plain hdr X-A b string late\n\
         default_backend b\n\
         backend b\n errorfiles eb\n server s 127.0.0.1:1\n\
         http-errors ea\n errorfile 400 {a400}\n errorfile 403 {a403}\n\
         http-errors eb\n errorfile 400 {b400}\n"
    ));
    let f = &proxy(&c, "f").rules.errorfiles;
    let codes: Vec<u16> = f.iter().map(|(c, _)| *c).collect();
    // 403 reset by `default-errorfiles`; 500 not in `ea`, so the proxy's own error (none) is used.
    assert_eq!(codes, [400, 404, 408]);
    assert_eq!(f[0].1, Reply::Errorfile(page("b", 400)));
    assert_eq!(f[1].1, Reply::Errorfile(page("d", 404)));
    assert_eq!(
        f[2].1,
        Reply::Built {
            content_type: Some("text/plain".into()),
            headers: vec![("X-A".into(), "b".into())],
            body: ReturnBody::Text("late".into()),
        }
    );
    let b = &proxy(&c, "b").rules.errorfiles;
    assert_eq!(
        b,
        &[
            (400, Reply::Errorfile(page("b", 400))),
            (403, Reply::Errorfile(page("a", 403))),
            (404, Reply::Errorfile(page("d", 404))),
        ]
    );
    // HAProxy warns about a status the section does not declare
    assert!(c
        .warnings
        .iter()
        .any(|w| w.diagnostic.message.contains("status '500' not declared")));
}

#[test]
fn http_errors_problems() {
    let p = temp_file("he-p400.http", &page("p", 400));
    let base =
        "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n";
    err1_both(
        &format!("{base}http-errors e\n errorfile 400 {p}\nhttp-errors e\n"),
        8,
        "http-errors",
        "http-errors section 'e' already exists",
    );
    err1_both(
        &format!("{base}http-errors\n"),
        6,
        "http-errors",
        "missing name",
    );
    err1_both(
        &format!("{base}http-errors e\n foo bar\n"),
        7,
        "foo",
        "unknown keyword 'foo' in 'http-errors' section",
    );
    err1_both(
        &format!("{base}http-errors e\n errorfile 999 {p}\n"),
        7,
        "errorfile",
        "status code '999' is not handled",
    );
    err1_both(
        &format!("{base}backend b\n errorfiles nosuch\n"),
        7,
        "errorfiles",
        "unknown http-errors section 'nosuch'",
    );
    err1_both(
        &format!("{base}backend b\n errorfiles\n"),
        7,
        "errorfiles",
        "expects 'errorfiles NAME",
    );
    err1_both(
        &format!("{base}backend b\n errorfiles e 999\nhttp-errors e\n"),
        7,
        "errorfiles",
        "status code '999' is not handled",
    );
    err1_both(
        &format!("{base}backend b\n http-error status 999\n"),
        7,
        "http-error",
        "status code '999' is not handled",
    );
    err1_both(
        &format!("{base}backend b\n http-error\n"),
        7,
        "http-error",
        "expects 'http-error status CODE",
    );
    err1_both(
        &format!("{base}backend b\n http-error status 400 string foo\n"),
        7,
        "http-error",
        "a content type must be defined",
    );
    err1_both(
        &format!("{base}backend b\n http-request return status 400 errorfiles nosuch\n"),
        7,
        "http-request return",
        "unknown http-errors section 'nosuch'",
    );
    err1_both(
        &format!("{base}backend b\n http-request return status 201 errorfiles e\nhttp-errors e\n"),
        7,
        "http-request return",
        "status code '201' is not one HAProxy has an error page for",
    );
    err1_both(
        &format!("{base}backend b\n http-request deny deny_status 500 string x\n"),
        7,
        "http-request deny",
        "a content type must be defined",
    );
    err1(
        &format!("{base}backend b\n http-request return hdr x-a \"%[nope]\"\n"),
        7,
        "http-request return",
        "unknown fetch method 'nope'",
    );
}

#[test]
fn return_and_deny_replies() {
    let p = temp_file("he-r400.http", &page("r", 400));
    let body = temp_file("he-lf.txt", b"100%% sure\n");
    let c = ok_both(&format!(
        "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         frontend f\n bind :18080\n\
         http-request return status 400 default-errorfiles if {{ path /a }}\n\
         http-request return status 400 errorfile {p} if {{ path /b }}\n\
         http-request return status 400 errorfiles e if {{ path /c }}\n\
         http-request return hdr x-a b if {{ path /d }}\n\
         http-request return content-type text/plain lf-string \"50%% off\" hdr X-B c if {{ path /e }}\n\
         http-request return content-type text/plain lf-file {body} if {{ path /f }}\n\
         http-request deny deny_status 404 errorfiles e if {{ path /g }}\n\
         http-request deny status 500 content-type text/plain string oops if {{ path /h }}\n\
         http-request deny status 403 default-errorfiles if {{ path /i }}\n\
         http-request deny deny_status 400 errorfile /dev/null if {{ path /j }}\n\
         default_backend b\n\
         backend b\n server s 127.0.0.1:1\n\
         http-errors e\n errorfile 400 {p}\n"
    ));
    use HttpRequestAction as A;
    let built = |ct: Option<&str>, headers: &[(&str, &str)], body: ReturnBody| Reply::Built {
        content_type: ct.map(str::to_string),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), (*v).into()))
            .collect(),
        body,
    };
    let actions: Vec<A> = proxy(&c, "f")
        .rules
        .http_request
        .iter()
        .map(|r| r.action.clone())
        .collect();
    assert_eq!(
        actions,
        [
            A::Return(400, Reply::ProxyError),
            A::Return(400, Reply::Errorfile(page("r", 400))),
            A::Return(400, Reply::Errorfile(page("r", 400))),
            A::Return(200, built(None, &[("x-a", "b")], ReturnBody::Empty)),
            A::Return(
                200,
                built(
                    Some("text/plain"),
                    &[("X-B", "c")],
                    ReturnBody::Text("50% off".into())
                )
            ),
            A::Return(
                200,
                built(
                    Some("text/plain"),
                    &[],
                    ReturnBody::Text("100% sure\n".into())
                )
            ),
            // not in the section: the proxy's error
            A::DenyWith(404, Reply::ProxyError),
            A::DenyWith(
                500,
                built(Some("text/plain"), &[], ReturnBody::Text("oops".into()))
            ),
            A::Deny(403),
            A::DenyWith(400, Reply::Errorfile(Vec::new())),
        ]
    );
}

#[test]
fn del_header_match_methods() {
    let c = ok_both(&fe(
        " http-request del-header X-A -m str\n http-request del-header x-b -m beg\n\
          http-request del-header -c -m end\n http-request del-header sub -m sub\n\
          http-request del-header ^x.reg.$ -m reg if TRUE\n http-response del-header x-b -m beg\n",
    ));
    use HttpRequestAction as A;
    let r: Vec<&A> = proxy(&c, "f")
        .rules
        .http_request
        .iter()
        .map(|r| &r.action)
        .collect();
    assert_eq!(
        r,
        [
            &A::DelHeader("X-A".into()),
            &A::DelHeaderMatch("x-b".into(), MatchMethod::Beg),
            &A::DelHeaderMatch("-c".into(), MatchMethod::End),
            &A::DelHeaderMatch("sub".into(), MatchMethod::Sub),
            &A::DelHeaderMatch("^x.reg.$".into(), MatchMethod::Reg),
        ]
    );
    assert_eq!(
        proxy(&c, "f").rules.http_response[0].action,
        HttpResponseAction::DelHeaderMatch("x-b".into(), MatchMethod::Beg)
    );
    err1_both(
        &fe(" http-request del-header a -m foo\n"),
        8,
        "http-request del-header",
        "-m with unsupported matching method 'foo'",
    );
    err1(
        &fe(" http-request del-header ( -m reg\n"),
        8,
        "http-request del-header",
        "invalid regex",
    );
}

/// Named defaults sections with TCP/HTTP rules (HAProxy 2.5+): the proxies using them, explicitly (`from NAME`) or
/// as the last defaults section, run the defaults' rules before their own, in each list.
#[test]
fn defaults_rules_run_before_the_proxy_own() {
    let c = ok_both(
        "defaults d\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         acl blocked path /blocked\n http-request deny if blocked\n http-request set-header X-From d\n\
         http-response set-header X-Resp d\n tcp-request connection accept if { src 10.0.0.0/8 }\n\
         frontend f from d\n bind :18080\n http-request set-header X-From f\n tcp-request connection reject\n\
         http-response del-header X-Resp\n default_backend b\n\
         frontend g\n bind :18081\n default_backend b\n\
         defaults plain\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         backend b\n http-request set-header X-Be b\n server s 127.0.0.1:1\n",
    );
    let f = proxy(&c, "f");
    let lines = |rules: &[Rule<HttpRequestAction>]| -> Vec<usize> {
        rules.iter().map(|r| r.location.line).collect()
    };
    assert_eq!(lines(&f.rules.http_request), [7, 8, 13]);
    assert!(matches!(
        f.rules.http_request[1].action,
        HttpRequestAction::SetHeader(ref n, ref v) if n == "X-From" && v == "d"
    ));
    assert_eq!(
        f.rules
            .http_response
            .iter()
            .map(|r| r.location.line)
            .collect::<Vec<_>>(),
        [9, 15]
    );
    let conn: Vec<(usize, TcpConnAction)> = f
        .rules
        .tcp_connection
        .iter()
        .map(|r| (r.location.line, r.action.clone()))
        .collect();
    assert_eq!(
        conn,
        [(10, TcpConnAction::Accept), (14, TcpConnAction::Reject)]
    );
    // The defaults' ACL serves its own rules; it is not one of the proxy's ACLs.
    assert_eq!(
        cond(&f.rules.http_request[0]).any_of[0][0].acls[0]
            .location
            .line,
        6
    );
    assert!(f.rules.acls.is_empty());
    // `g` uses `d` implicitly (the last defaults section before it); `b` the anonymous-free `plain`.
    assert_eq!(lines(&proxy(&c, "g").rules.http_request), [7, 8]);
    assert_eq!(lines(&proxy(&c, "b").rules.http_request), [26]);
}

/// What HAProxy 2.6 refuses about rules in defaults sections, with its words.
#[test]
fn defaults_rules_refusals() {
    const T: &str = " timeout connect 1s\n timeout client 1s\n timeout server 1s\n";
    // A defaults section defining rules cannot be the base of another defaults section...
    err1_both(
        &format!("defaults d\n mode http\n{T} http-request deny\ndefaults e from d\n mode http\n"),
        7,
        "defaults",
        "a defaults section cannot inherit from a defaults section defining TCP/HTTP rules (defaults section at",
    );
    // ... nor of a listen section...
    err1_both(
        &format!("defaults d\n mode http\n{T} http-request deny\nlisten l from d\n bind :18080\n server s 127.0.0.1:1\n"),
        7,
        "listen",
        "a listen section cannot inherit from a defaults section defining TCP/HTTP rules.",
    );
    // ... nor of frontends and backends both (explicit or implicit use).
    for (uses, line) in [("from d", 10), ("", 10)] {
        err1_both(
            &format!("defaults d\n mode http\n{T} http-request deny\nfrontend f {uses}\n bind :18080\n default_backend b\nbackend b {uses}\n server s 127.0.0.1:1\n"),
            line,
            "backend",
            "frontends and backends cannot inherit from the same defaults section if it defines TCP/HTTP rules",
        );
    }
    // A backend cannot run `tcp-request connection` rules.
    err1_both(
        &format!("defaults d\n mode tcp\n{T} tcp-request connection accept\nbackend b from d\n server s 127.0.0.1:1\n"),
        7,
        "backend",
        "a backend section cannot inherit from a defaults section defining 'tcp-request connection' or 'tcp-request session' rules",
    );
    // The defaults' ACLs are not visible from the proxy's lines, and its rules see only ACLs declared before them.
    err1_both(
        &format!("defaults d\n mode http\n{T} acl a path /x\n http-request deny if a\nbackend b from d\n http-request deny if a\n server s 127.0.0.1:1\n"),
        9,
        "http-request deny",
        "no such ACL 'a' in backend 'b'",
    );
    err1_both(
        &format!("defaults d\n mode http\n{T} http-request deny if a\n acl a path /x\nbackend b from d\n server s 127.0.0.1:1\n"),
        6,
        "http-request deny",
        "no such ACL 'a' yet",
    );
    // Allowed: several frontends on one defaults; a defaults with ACLs only under a listen; the rules of an unused
    // defaults section; `http-response` rules in a frontend.
    ok_both(&format!("defaults d\n mode http\n{T} http-request deny\n http-response del-header x\nfrontend f from d\n bind :18080\nfrontend g from d\n bind :18081\n"));
    ok_both(&format!("defaults d\n mode http\n{T} acl a path /x\nlisten l from d\n bind :18080\n server s 127.0.0.1:1\n"));
    ok_both(&format!("defaults d\n mode http\n{T} http-request deny\ndefaults\n mode http\n{T}listen l\n bind :18080\n server s 127.0.0.1:1\n"));
    // `tcp-request session` rules are a frontend's, as `tcp-request connection` ones.
    err1_both(
        &format!("defaults d\n mode tcp\n{T} tcp-request session accept\nbackend b from d\n server s 127.0.0.1:1\n"),
        7,
        "backend",
        "a backend section cannot inherit from a defaults section defining 'tcp-request connection' or 'tcp-request session' rules",
    );
    // A defaults section has neither servers nor a table: its rules must name the backend and the table.
    err1_both(
        &format!("defaults d\n mode http\n{T} http-request set-header x \"%[srv_conn(www)]\"\nbackend b from d\n server www 127.0.0.1:1\n"),
        6,
        "http-request",
        "backend name must be set",
    );
    err1_both(
        &format!("defaults d\n mode http\n{T} http-request track-sc0 src\nbackend b\n stick-table type ip size 1k store http_req_rate(10s)\n server www 127.0.0.1:1\n"),
        6,
        "track-sc0",
        "unable to find table 'd' referenced by track-sc0",
    );
    ok_both(&format!("defaults d\n mode http\n{T} http-request track-sc0 src table b\n http-request set-header x \"%[srv_conn(b/www)]\"\nbackend b from d\n stick-table type ip size 1k store http_req_rate(10s)\n server www 127.0.0.1:1\n"));
}

/// `tcp-request connection`, `session`, `inspect-delay`, `content` and `tcp-response` lines of a named defaults
/// section run before the proxy's own (reg-test tcp-rules/default_rules' configuration, checked by haproxy too).
#[test]
fn tcp_rules_in_defaults() {
    const T: &str = " timeout connect 1s\n timeout client 1s\n timeout server 1s\n";
    let c = ok_both(&format!(
        "defaults common\n mode http\n{T}\
         defaults def_front from common\n tcp-request connection accept\n tcp-request session accept\n\
         tcp-request inspect-delay 5s\n tcp-request content set-var(txn.test1) \"str(def_front)\"\n tcp-request content accept\n\
         defaults def_back from common\n tcp-request inspect-delay 5s\n tcp-request content set-var(txn.test1) \"str(def_back)\"\n\
         tcp-request content accept\n tcp-response inspect-delay 5s\n tcp-response content set-var(txn.test2) \"str(def_back)\"\n\
         tcp-response content accept\n\
         frontend fe from def_front\n bind :18080\n tcp-request connection reject\n tcp-request session reject\n\
         tcp-request content reject\n default_backend be\n\
         backend be from def_back\n tcp-response content reject\n server s1 127.0.0.1:1\n"
    ));
    let fe = &proxy(&c, "fe").rules;
    assert_eq!(fe.tcp_connection.len(), 2);
    assert_eq!(fe.tcp_connection[0].action, TcpConnAction::Accept);
    let kinds = |r: &[Rule<TcpContentAction>]| -> Vec<&'static str> {
        r.iter()
            .map(|r| match r.action {
                TcpContentAction::Accept => "accept",
                TcpContentAction::Reject => "reject",
                TcpContentAction::SilentDrop => "silent-drop",
                TcpContentAction::SetMark(_) => "set-mark",
                TcpContentAction::SetTos(_) => "set-tos",
                TcpContentAction::SwitchHttp(_) => "switch-mode",
                TcpContentAction::SetLogLevel(_) => "set-log-level",
                TcpContentAction::Var(_) => "var",
            })
            .collect()
    };
    assert_eq!(kinds(&fe.tcp_session), ["accept", "reject"]);
    assert_eq!(kinds(&fe.tcp_content), ["var", "accept", "reject"]);
    assert_eq!(fe.inspect_delay, Some(std::time::Duration::from_secs(5)));
    let be = &proxy(&c, "be").rules;
    assert_eq!(kinds(&be.tcp_content), ["var", "accept"]);
    assert_eq!(kinds(&be.tcp_response), ["var", "accept", "reject"]);
    assert_eq!(be.tcp_content[0].location.line, 14);
}

// ---------- http-after-response ----------

#[test]
fn http_after_response_rules() {
    let text = fe(" http-after-response allow if { status 403 }
 http-after-response set-header X-A \"%[res.hdr(x-b)] %[http_first_req]\"
 http-after-response add-header X-B b
 http-after-response del-header X-C
 http-after-response replace-header X-D ^(.*)$ <\\1>
 http-after-response replace-value X-E ^a$ b
 http-after-response set-status 299 unless { status 200 }
 http-after-response set-var(txn.s) status
 http-after-response set-var-fmt(txn.t) \"%[status]\"
 http-after-response unset-var(txn.s)
 http-after-response strict-mode off
");
    let c = ok_both(&text);
    let rules = &proxy(&c, "f").rules.http_after_response;
    assert_eq!(rules.len(), 11);
    assert_eq!(rules[0].action, HttpResponseAction::Allow);
    assert!(rules[0].cond.is_some());
    assert_eq!(rules[6].action, HttpResponseAction::SetStatus(299, None));
    assert!(matches!(
        &rules[4].action,
        HttpResponseAction::ReplaceHeader(n, re, _) if n == "X-D" && re == "^(.*)$"
    ));
    assert!(matches!(
        &rules[5].action,
        HttpResponseAction::ReplaceValue(n, _, _) if n == "X-E"
    ));
    assert_eq!(rules[1].location.line, 9);
    // In backends and listens too, and in http-response the new rewrites.
    let c = ok_both(&be(" http-after-response set-header X-A b\n http-response set-status 201\n http-response replace-value X-A a b\n server s 127.0.0.1:1\n"));
    let b = proxy(&c, "b");
    assert_eq!(b.rules.http_after_response.len(), 1);
    assert_eq!(
        b.rules.http_response[0].action,
        HttpResponseAction::SetStatus(201, None)
    );
    ok_both(&format!(
        "{D}listen l\n bind :18080\n http-after-response set-status 200\n server s 127.0.0.1:1\n"
    ));
    // A named defaults section's rules come first.
    let c = ok_both("defaults d\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n http-after-response set-header X-A d\nfrontend f from d\n bind :18080\n http-after-response set-header X-A f\n");
    let r = &proxy(&c, "f").rules.http_after_response;
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].location.line, 6);
}

#[test]
fn http_after_response_errors() {
    for (line, kw, needle) in [
        (
            "http-after-response",
            "http-after-response",
            "expects an action",
        ),
        (
            "http-after-response deny",
            "http-after-response",
            "unknown http-after-response action 'deny'",
        ),
        (
            "http-after-response wait-for-body time 1s",
            "http-after-response",
            "unknown http-after-response action 'wait-for-body'",
        ),
        (
            "http-after-response set-status 99",
            "http-after-response set-status",
            "between 100 and 999",
        ),
        (
            "http-after-response set-status",
            "http-after-response set-status",
            "between 100 and 999",
        ),
        (
            "http-after-response replace-value X-A a",
            "http-after-response replace-value",
            "expects a header name, a regex and a replacement",
        ),
        (
            "http-after-response set-header X-A %[path]",
            "http-after-response set-header",
            "sample fetch 'path' reads the request",
        ),
    ] {
        err1_both(&fe(&format!(" {line}\n")), 8, kw, needle);
    }
    // A capture needs its slot, as in `http-response`.
    err1_both(
        &fe(" http-after-response capture res.hdr(a) id 0\n"),
        8,
        "http-after-response capture",
        "no response capture with id 0",
    );
    // fulcrum only: HAProxy accepts this.
    err1(
        &fe(" http-after-response set-header X-A b if { path /x }\n"),
        8,
        "http-after-response set-header",
        "would never match in 'http-response'",
    );
}

// ---------- request-line rewrites, addresses, allow, auth (issue #23) ----------

#[test]
fn request_line_and_address_actions() {
    let c = ok_both(&fe(" http-request set-method POST\n http-request set-pathq /a?b=1\n\
          http-request replace-path ^/old/(.*) /new/\\1\n http-request replace-pathq (.*) \\1&x=1\n\
          http-request replace-uri ^http://([^/]*)(.*) \\2\n http-request set-src hdr(x-src)\n\
          http-request set-src-port int(4000)\n http-request set-dst hdr(x-dst)\n http-request set-dst-port int(81)\n\
          http-request allow if { path /ok }\n http-request auth\n http-request auth realm \"my site\" if { path /a }\n\
          http-response allow\n default_backend b\n"));
    use HttpRequestAction as A;
    let f = proxy(&c, "f");
    let actions: Vec<&A> = f.rules.http_request.iter().map(|r| &r.action).collect();
    assert_eq!(actions[0], &A::SetMethod("POST".into()));
    assert_eq!(actions[1], &A::SetPathQ("/a?b=1".into()));
    assert_eq!(
        actions[2],
        &A::ReplacePath("^/old/(.*)".into(), "/new/\\1".into())
    );
    assert!(matches!(actions[3], A::ReplacePathQ(..)));
    assert!(matches!(actions[4], A::ReplaceUri(..)));
    assert!(matches!(actions[5], A::SetAddr(AddrPart::Src, _)));
    assert!(matches!(actions[6], A::SetAddr(AddrPart::SrcPort, _)));
    assert!(matches!(actions[7], A::SetAddr(AddrPart::Dst, _)));
    assert!(matches!(actions[8], A::SetAddr(AddrPart::DstPort, _)));
    assert_eq!(actions[9], &A::Allow);
    assert!(f.rules.http_request[9].cond.is_some());
    assert_eq!(actions[10], &A::Auth(None));
    assert_eq!(actions[11], &A::Auth(Some("my site".into())));
    assert_eq!(f.rules.http_response[0].action, HttpResponseAction::Allow);
}

#[test]
fn request_line_action_errors() {
    // HAProxy refuses these too.
    err1_both(
        &fe(" http-request set-method\n"),
        8,
        "http-request set-method",
        "expects a method",
    );
    err1_both(
        &fe(" http-request set-pathq\n"),
        8,
        "http-request set-pathq",
        "expects",
    );
    err1_both(
        &fe(" http-request replace-path /x\n"),
        8,
        "http-request replace-path",
        "expects a regex and a replacement",
    );
    err1_both(
        &fe(" http-request replace-uri\n"),
        8,
        "http-request replace-uri",
        "expects a regex",
    );
    err1_both(
        &fe(" http-request replace-pathq ( x\n"),
        8,
        "http-request replace-pathq",
        "invalid regex",
    );
    err1_both(
        &fe(" http-request set-src\n"),
        8,
        "http-request set-src",
        "expects a sample expression",
    );
    err1_both(
        &fe(" http-request set-dst-port nosuchfetch\n"),
        8,
        "http-request set-dst-port",
        "nosuchfetch",
    );
    err1_both(
        &fe(" http-request set-src res.hdr(x)\n"),
        8,
        "http-request set-src",
        "reads the response",
    );
    err1_both(
        &fe(" http-request auth realm\n"),
        8,
        "http-request auth",
        "'realm' expects",
    );
    // Request-only actions have no response form.
    err1_both(
        &fe(" http-response set-method GET\n"),
        8,
        "http-response",
        "unknown http-response action 'set-method'",
    );
    err1_both(
        &fe(" http-response set-src hdr(x)\n"),
        8,
        "http-response",
        "unknown http-response action 'set-src'",
    );
}

#[test]
fn option_originalto() {
    let c = ok_both(&be(
        " option originalto\n option forwardfor except 10.0.0.0/8\n server s 127.0.0.1:1\n",
    ));
    let b = proxy(&c, "b");
    let ot = b.originalto.as_ref().expect("originalto");
    assert_eq!(ot.header, "X-Original-To");
    assert_eq!(ot.except, None);
    let c = ok_both(&be(
        " option originalto except 2001:db8::/32 header X-Dst\n server s 127.0.0.1:1\n",
    ));
    let ot = proxy(&c, "b").originalto.clone().expect("originalto");
    assert_eq!(ot.header, "X-Dst");
    assert_eq!(ot.except, Some(("2001:db8::".parse().unwrap(), 32)));
    err1_both(
        &be(" option originalto if-none\n"),
        7,
        "option originalto",
        "unexpected 'if-none'",
    );
    err1_both(
        &be(" option originalto except\n"),
        7,
        "option originalto",
        "'except' expects a network",
    );
}

// ---------- userlist sections and http_auth ACLs ----------

const USERLIST: &str = "userlist L\n group admins users alice\n group staff\n user alice insecure-password secret\n user bob password '$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/08R2BPH2xk/' groups staff,admins\n";

#[test]
fn userlists_and_auth_acls() {
    let c = ok_both(&format!(
        "{USERLIST}{}",
        be(" acl ok http_auth(L)\n acl adm http_auth_group(L) admins staff\n http-request auth realm r unless ok\n\
          http-request deny unless adm\n server s 127.0.0.1:1\n")
    ));
    let l = &c.userlists[0];
    assert_eq!(l.name, "L");
    assert_eq!(l.groups, ["admins", "staff"]);
    assert_eq!(l.users[0].name, "alice");
    assert_eq!(
        l.users[0].password,
        Some(Password::Insecure("secret".into()))
    );
    assert_eq!(l.users[0].groups, ["admins"]);
    assert!(
        matches!(&l.users[1].password, Some(Password::Crypt(h)) if h.starts_with("$6$saltsalt$"))
    );
    assert_eq!(l.users[1].groups, ["staff", "admins"]);
    let b = proxy(&c, "b");
    assert_eq!(acl(b, "ok").sample, Sample::HttpAuth("L".into()));
    assert_eq!(acl(b, "adm").sample, Sample::HttpAuthGroup("L".into()));
    assert_eq!(pats(acl(b, "adm")), ["admins", "staff"]);
}

#[test]
fn userlist_errors() {
    // Refused by HAProxy too.
    let e = err_both("userlist L\n user a insecure-password x groups G\n");
    assert!(
        e[0].2.contains("no such group 'G' specified in user 'a'"),
        "{e:?}"
    );
    let e = err_both("userlist L\n group G users b\n");
    assert_eq!((e[0].0, e[0].1.as_str()), (2, "group"));
    assert!(
        e[0].2.contains("no such user 'b' specified in group 'G'"),
        "{e:?}"
    );
    err1_both(
        "userlist L\n user a insecure-password x foo\n",
        2,
        "user",
        "only supports 'password', 'insecure-password' and 'groups'",
    );
    let e = err_both(&be(
        " acl ok http_auth(NOPE)\n http-request auth unless ok\n server s 127.0.0.1:1\n",
    ));
    assert_eq!(e[0].0, 7);
    assert!(e[0].2.contains("unable to find userlist 'NOPE'"), "{e:?}");
    let e = err_both(&format!("{USERLIST}{}", be(" acl ok http_auth_group(L) nobody\n http-request auth unless ok\n server s 127.0.0.1:1\n")));
    assert!(
        e[0].2
            .contains("group 'nobody' is not declared in userlist 'L'"),
        "{e:?}"
    );
    // fulcrum only: a hash scheme it cannot verify (yescrypt), which HAProxy leaves to the system's crypt(3).
    err1(
        "userlist L\n user a password '$y$j9T$abc$def'\n",
        2,
        "user",
        "password hash scheme not supported by fulcrum",
    );
    // Duplicates are warnings, as in HAProxy: the first one stays.
    let c = ok_both("userlist L\n user a insecure-password x\n user a insecure-password y\n group G\n group G\n");
    assert_eq!(c.userlists[0].users.len(), 1);
    assert_eq!(c.userlists[0].groups.len(), 1);
    assert_eq!(c.warnings.len(), 2);
}

#[test]
fn capture_req_uri_acl() {
    let c = ok_both(&fe(" http-response set-header x-a b if { capture.req.uri /a }\n acl x capture.req.uri -m beg /b\n default_backend b\n"));
    let f = proxy(&c, "f");
    assert_eq!(acl(f, "x").sample, Sample::CaptureReqUri);
    assert_eq!(acl(f, "x").method, MatchMethod::Beg);
    // A layer-7 fetch cannot match in tcp-request connection rules: HAProxy warns, fulcrum refuses.
    let e = errs(&fe(
        " tcp-request connection reject if { capture.req.uri /a }\n default_backend b\n",
    ));
    assert_eq!(e[0].0, 8);
}

/// Capture slots: `capture ... header`, `declare capture`, `http-request capture ... len N` number them in order
/// (a named defaults section's first); `capture ... id N` must name one of the frontend's (checked by haproxy too).
#[test]
fn capture_slots_and_rules() {
    let c = ok_both(&fe(concat!(
        " capture request header Host len 10\n",
        " declare capture request len 8\n",
        " declare capture response len 4\n",
        " http-request capture req.hdr(x-a) len 5\n",
        " http-request capture req.hdr(x-b) id 1\n",
        " http-response capture res.hdr(x-c) id 0\n",
        " default_backend b\n",
    )));
    let f = proxy(&c, "f");
    let lens: Vec<_> = f.request_slots.iter().map(|s| s.len).collect();
    assert_eq!(lens, [10, 8, 5]);
    assert_eq!(f.request_slots[0].header.as_deref(), Some("Host"));
    assert_eq!(f.response_slots.len(), 1);
    let slots: Vec<_> = f
        .rules
        .http_request
        .iter()
        .filter_map(|r| match &r.action {
            HttpRequestAction::Capture(_, n) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(slots, [2, 1]);
    assert!(matches!(
        f.rules.http_response[0].action,
        HttpResponseAction::Capture(_, 0)
    ));
    // A named defaults section's slots come first in the frontends using it.
    let c = ok_both(
        "defaults d\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         http-request capture req.hdr(host) len 64\n\
         frontend f from d\n bind :18080\n declare capture request len 32\n\
         http-request capture req.hdr(x) id 1\n default_backend b\n\
         defaults plain\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         backend b\n server s 127.0.0.1:1\n",
    );
    let lens: Vec<_> = proxy(&c, "f").request_slots.iter().map(|s| s.len).collect();
    assert_eq!(lens, [64, 32]);
    // A backend writes its frontend's slots by id, unchecked; it declares none.
    ok_both(&be(
        " http-request capture req.hdr(a) id 3\n server s 127.0.0.1:1\n",
    ));
    err1_both(
        &fe(" http-request capture req.hdr(a) id 0\n default_backend b\n"),
        8,
        "http-request capture",
        "no request capture with id 0",
    );
    err1_both(
        &fe(" declare capture request len 2\n http-response capture res.hdr(a) id 0\n default_backend b\n"),
        9,
        "http-response capture",
        "no response capture with id 0",
    );
    err1_both(
        &be(" http-request capture req.hdr(a) len 3\n server s 127.0.0.1:1\n"),
        7,
        "http-request capture",
        "only frontends and listens have",
    );
    err1_both(
        &fe(" http-response capture res.hdr(a) len 3\n default_backend b\n"),
        8,
        "http-response capture",
        "expects 'id N'",
    );
    err1_both(
        &fe(" http-request capture status len 3\n default_backend b\n"),
        8,
        "http-request capture",
        "reads the response",
    );
    err1_both(
        &be(" declare capture request len 3\n server s 127.0.0.1:1\n"),
        7,
        "declare",
        "",
    );
    err1_both(
        &fe(" declare capture request size 3\n default_backend b\n"),
        8,
        "declare",
        "expects 'declare capture request len N'",
    );
}

/// `http-request normalize-uri`: the eight normalisers of HAProxy 2.6 and their options, allowed only after
/// `expose-experimental-directives` in `global` (as HAProxy, which refuses them otherwise).
#[test]
fn normalize_uri() {
    let g = "global\n expose-experimental-directives\n"; // 2 lines
    let c = ok_both(&format!(
        "{g}{D}frontend f\n bind :18080\n http-request normalize-uri path-merge-slashes\n http-request normalize-uri path-strip-dot\n http-request normalize-uri path-strip-dotdot\n http-request normalize-uri path-strip-dotdot full\n http-request normalize-uri percent-decode-unreserved strict if TRUE\n http-request normalize-uri percent-to-uppercase\n http-request normalize-uri query-sort-by-name\n http-request normalize-uri fragment-strip\n http-request normalize-uri fragment-encode unless TRUE\n"
    ));
    let got: Vec<_> = proxy(&c, "f")
        .rules
        .http_request
        .iter()
        .map(|r| (r.action.clone(), r.cond.is_some()))
        .collect();
    use HttpRequestAction::NormalizeUri as N;
    assert_eq!(
        got,
        [
            (N(UriNormalizer::PathMergeSlashes), false),
            (N(UriNormalizer::PathStripDot), false),
            (N(UriNormalizer::PathStripDotdot { full: false }), false),
            (N(UriNormalizer::PathStripDotdot { full: true }), false),
            (
                N(UriNormalizer::PercentDecodeUnreserved { strict: true }),
                true
            ),
            (
                N(UriNormalizer::PercentToUppercase { strict: false }),
                false
            ),
            (N(UriNormalizer::QuerySortByName), false),
            (N(UriNormalizer::FragmentStrip), false),
            (N(UriNormalizer::FragmentEncode), true),
        ]
    );
    let kw = "http-request normalize-uri";
    // not allowed: no `expose-experimental-directives`, or only after the proxy
    err1_both(
        &fe(" http-request normalize-uri path-merge-slashes\n"),
        8,
        kw,
        "expose-experimental-directives",
    );
    err1_both(
        &format!("{D}frontend f\n bind :18080\n http-request normalize-uri fragment-strip\n{g}"),
        8,
        kw,
        "is experimental",
    );
    // allowed, but wrong
    let fe_g = |body: &str| format!("{g}{D}frontend f\n bind :18080\n{body}");
    err1_both(
        &fe_g(" http-request normalize-uri bogus\n"),
        10,
        kw,
        "unknown normalizer 'bogus'",
    );
    err1_both(
        &fe_g(" http-request normalize-uri\n"),
        10,
        kw,
        "expects one of path-merge-slashes",
    );
    err1_both(
        &fe_g(" http-request normalize-uri path-strip-dot full\n"),
        10,
        kw,
        "found 'full'",
    );
    err1_both(
        &fe_g(" http-request normalize-uri percent-to-uppercase x\n"),
        10,
        kw,
        "found 'x'",
    );
}
