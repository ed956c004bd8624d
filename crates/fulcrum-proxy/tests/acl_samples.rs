//! ACLs on any sample expression, through real requests: converters after a fetch, HAProxy's suffixed keywords,
//! the default method of each output type, variables in request and response conditions (the pattern of HAProxy's
//! reg-test converter/secure_memcmp.vtc), `set-var` conditions, and `req.payload` with a converter in
//! `tcp-request content`. The HTTP cases run the same haproxy.cfg through haproxy 2.6 when it is installed, and
//! the headers each answer carries must be the same.

mod common;

use std::net::SocketAddr;

use common::*;

/// The rules under test, for a frontend listening on `port` in front of `origin`: each matching request ACL adds
/// its name to `txn.m`, each matching response ACL to `X-R`.
fn config(port: u16, origin: SocketAddr) -> String {
    format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    acl e1 req.hdr(x),lower,field(1,:) -m str foo
    acl e2 var(txn.raw) -m found
    acl e3 hdr_dom(host) example.com
    acl e3 hdr_dom(host),lower www.example.com
    acl e4 req.hdr(x),length 7
    acl e5 src,ipmask(8) 127.0.0.0/8
    acl e6 path,field(2,/) -m beg ap
    acl e7 url_param(n),add(1) gt 10
    acl e8 path_dir api
    acl e9 req.hdr(x) -m len ge 5
    acl e10 req.hdr_cnt(x) eq 2
    acl e11 query -m sub z=1
    acl e12 req.hdr(x),upper -m reg ^FOO
    acl e13 str(a),upper -i -m str A
    acl e14 path_end .JPG -i
    acl e14 path_beg,lower /img/a
    acl e15 var(txn.raw),bool
    acl r1 var(txn.raw),sha1,base64,secure_memcmp(txn.hash)
    acl r2 res.hdr(content-type),lower -m beg text/
    acl r3 status,div(100) eq 2
    http-request set-var(txn.raw) req.hdr(raw)
    http-request set-var(txn.hash) req.hdr(hash)
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e1,\" if e1
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e2,\" if e2
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e3,\" if e3
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e4,\" if e4
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e5,\" if e5
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e6,\" if e6
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e7,\" if e7
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e8,\" if e8
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e9,\" if e9
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e10,\" if e10
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e11,\" if e11
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e12,\" if e12
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e13,\" if e13
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e14,\" if e14
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]e15,\" if e15
    http-request set-var-fmt(txn.m) \"%[var(txn.m)]anon,\" if {{ req.hdr(x),word(2,-) -m str bar }} !{{ var(txn.nope) -m found }}
    http-response set-header X-M \"%[var(txn.m)]\"
    http-response add-header X-R r1 if r1
    http-response add-header X-R r2 if r2
    http-response add-header X-R r3 if r3
    default_backend app
backend app
    server s1 {origin}
"
    )
}

/// The requests: path and query, extra header lines.
const CASES: &[(&str, &str)] = &[
    ("/", ""),
    (
        "/api/x.jpg?n=10&z=1",
        "Host: www.Example.com\r\nX: FOO:1\r\n",
    ),
    ("/apple/api?n=3", "X: foo-bar\r\nX: z\r\n"),
    ("/img/A.JPG", "X: abcdefg\r\n"),
    ("/", "Raw: 1\r\nHash: NWoZK3kTsExUV00Ywo1G5jlUKKs=\r\n"),
    ("/", "Raw: 2\r\nHash: NWoZK3kTsExUV00Ywo1G5jlUKKs=\r\n"),
    ("/", "Raw: 0\r\n"),
];

fn ask(addr: SocketAddr, path: &str, headers: &str) -> (String, String) {
    let mut c = Client::connect(addr);
    let host = if headers.contains("Host:") {
        ""
    } else {
        "Host: h.test\r\n"
    };
    c.send(format!("GET {path} HTTP/1.1\r\n{host}{headers}Connection: close\r\n\r\n").as_bytes());
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{path} {headers:?}");
    let all = |n: &str| {
        r.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    (all("x-m"), all("x-r"))
}

#[test]
fn acls_on_expressions_match_like_haproxy() {
    let o = origins(1);
    let port = free_port();
    let p = start_proxy(&config(port, o[0].addr()));
    let got: Vec<_> = CASES.iter().map(|(u, h)| ask(p.addr, u, h)).collect();
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        got,
        vec![
            s("e5,e13,", "r2,r3"),
            s("e1,e3,e5,e6,e7,e8,e9,e11,e12,e13,", "r2,r3"),
            // two X lines: each value is tried in turn, through the converters
            s("e4,e5,e6,e8,e9,e10,e12,e13,anon,", "r2,r3"),
            s("e4,e5,e9,e13,e14,", "r2,r3"),
            s("e2,e5,e13,e15,", "r1,r2,r3"),
            s("e2,e5,e13,e15,", "r2,r3"),
            s("e2,e5,e13,", "r2,r3"),
        ]
    );
    if !haproxy_present() {
        return;
    }
    let hport = free_port();
    let haddr: SocketAddr = format!("127.0.0.1:{hport}").parse().unwrap();
    let _h = start_haproxy(&config(hport, o[0].addr()), haddr);
    let theirs: Vec<_> = CASES.iter().map(|(u, h)| ask(haddr, u, h)).collect();
    assert_eq!(got, theirs, "fulcrum, then haproxy");
}

/// `set-var(NAME,COND...)`: the value is stored only when the conditions hold (HAProxy 2.6's semantics, as its
/// reg-test sample_fetches/cond_set_var.vtc shows them).
#[test]
fn set_var_conditions() {
    let o = origins(1);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    http-request set-var(txn.a,ifexists) int(1)
    http-request set-var(txn.b,ifnotexists) int(2)
    http-request set-var(txn.b,ifnotexists) int(3)
    http-request set-var(txn.c) int(5)
    http-request set-var(txn.c,ifgt) int(55)
    http-request set-var(txn.d) int(5)
    http-request set-var(txn.d,ifgt) int(2)
    http-request set-var(txn.e) str(x)
    http-request set-var(txn.e,ifempty) str(y)
    http-request set-var(txn.f) str(x)
    http-request set-var(txn.f,ifnotempty,ifset) str()
    http-request set-var-fmt(txn.g,ifnotset) \"g%[int(1)]\"
    http-request set-var(txn.h) int(5)
    http-request set-var(txn.h,ifset,iflt) int(55)
    http-request deny if {{ req.len,set-var(proc.cv_req_len,ifexists) -m int 0 }}
    http-request deny if {{ req.hdr(x-cust),set-var(sess.x_cust,ifnotempty,ifnotset),length -m int 0 }}
    http-response set-header X-V \"a=%[var(txn.a)] b=%[var(txn.b)] c=%[var(txn.c)] d=%[var(txn.d)] e=%[var(txn.e)] f=%[var(txn.f)] g=%[var(txn.g)] h=%[var(txn.h)]\"
    http-response set-header X-C \"len=%[var(proc.cv_req_len)] cust=%[var(sess.x_cust)]\"
    default_backend app
backend app
    server s1 {}
",
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    let r = get(p.addr, "/");
    assert_eq!(r.header("x-v"), Some("a= b=2 c=5 d=2 e=x f=x g=g1 h=55"));
    // the set-var converter in ACLs (HAProxy's reg-test cond_set_var.vtc): req.len counts the request as
    // HAProxy's internal form does (21 + method + target + version + each header's name and value)
    let mut c = Client::connect(p.addr);
    c.send(b"GET /converter HTTP/1.1\r\nX-Cust: foobar\r\nhost: 127.0.0.1\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.header("x-c"), Some("len=67 cust=foobar"));
}

/// `req.payload` followed by a converter in `tcp-request content` (as `req.payload(0,0),fix_is_valid` in HAProxy's
/// FIX and MQTT tests), waiting for more bytes while the answer may still change.
#[test]
fn payload_with_a_converter_in_tcp_content() {
    let o = origins(1);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}
listen l
    mode tcp
    bind 127.0.0.1:{port}
    tcp-request inspect-delay 2s
    tcp-request content reject if {{ req.payload(0,3),lower -m str bad }}
    tcp-request content accept if {{ req.payload(0,0),length ge 16 }}
    tcp-request content reject
    server s1 {}
",
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    // sent in two parts: the length is only reached with the second one
    let mut c = Client::connect(p.addr);
    c.send(b"GET / HTTP/1.1\r\n");
    std::thread::sleep(std::time::Duration::from_millis(100));
    c.send(b"Host: t\r\nConnection: close\r\n\r\n");
    assert_eq!(c.read_response(false).status, 200);
    let mut c = Client::connect(p.addr);
    c.send(b"BAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(c.closed_within(std::time::Duration::from_secs(3)));
}

/// `global` `set-var` / `set-var-fmt` run once at start, in order, each seeing the `proc.` variables set before it
/// (the first lines of HAProxy's reg-test sample_fetches/vars.vtc); rules and ACLs read them.
#[test]
fn global_variables() {
    let o = origins(1);
    let port = free_port();
    let cfg = format!(
        "global
    nbthread 1
    set-var proc.gv_int12 int(12)
    set-var proc.gv_int5 var(proc.gv_str60,60),div(proc.gv_int12)
    set-var proc.gv_str1 str(\"this is\")
    set-var proc.gv_str var(proc.gv_str1)
    set-var-fmt proc.gv_str \"%[var(proc.gv_str)] a string\"
    set-var proc.gv_uuid uuid()
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-response set-header X-V \"%[var(proc.gv_int5)]|%[var(proc.gv_str)]\"
    http-response set-header X-Five yes if {{ var(proc.gv_int5) -m int 5 }}
    http-response set-header X-U %[var(proc.gv_uuid)]
    default_backend app
backend app
    server s1 {}
",
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    let r = get(p.addr, "/");
    assert_eq!(r.header("x-v"), Some("5|this is a string"));
    assert_eq!(r.header("x-five"), Some("yes"));
    let u = r.header("x-u").unwrap_or_default();
    let parts: Vec<usize> = u.split('-').map(str::len).collect();
    assert_eq!(parts, [8, 4, 4, 4, 12], "{u}");
    assert_eq!(u.as_bytes()[14], b'4', "{u}");
}

/// `tcp-request session` variable rules run once per connection, `tcp-request content` ones on each request,
/// both before `http-request` (the rules of HAProxy's reg-test sample_fetches/vars.vtc, with its expected values).
#[test]
fn session_and_content_variable_rules() {
    let port = free_port();
    let cfg = format!(
        "global
    nbthread 1
    set-var proc.sv_int12 int(12)
    set-var proc.sv_int5 var(proc.sv_str60,60),div(proc.sv_int12)
    set-var proc.sv_str1 str(\"this is\")
    set-var proc.sv_str2 str(\"a string\")
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    tcp-request session set-var-fmt(sess.str3) \"%[var(proc.sv_str1)] %[var(proc.sv_str2)]\"
    tcp-request session set-var(sess.int5) var(proc.sv_int5)
    tcp-request session set-var(proc.sv_int5) var(proc.sv_int5),add(sess.int5)
    tcp-request content set-var-fmt(req.str4) \"%[var(sess.str3),regsub(is a,is also a)]\"
    http-request set-var-fmt(txn.str5) \"%[var(req.str4)]\"
    http-request set-var(req.int5) var(sess.int5)
    http-request set-var(sess.int5) var(sess.int5),add(req.int5)
    http-request return status 200 hdr x-var \"proc=%[var(proc.sv_int5)] sess=%[var(sess.int5)] req=%[var(req.int5)] str5=%[var(txn.str5)]\"
"
    );
    let p = start_proxy(&cfg);
    let mut c = Client::connect(p.addr);
    let ask = |c: &mut Client| c.get("/").header("x-var").unwrap_or_default().to_string();
    assert_eq!(
        ask(&mut c),
        "proc=10 sess=10 req=5 str5=this is also a string"
    );
    assert_eq!(
        ask(&mut c),
        "proc=10 sess=20 req=10 str5=this is also a string"
    );
    let mut c2 = Client::connect(p.addr);
    assert_eq!(
        ask(&mut c2),
        "proc=20 sess=20 req=10 str5=this is also a string"
    );
    assert_eq!(
        ask(&mut c2),
        "proc=20 sess=40 req=20 str5=this is also a string"
    );
}
