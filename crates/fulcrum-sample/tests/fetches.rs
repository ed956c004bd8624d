//! Every fetch, with expected values observed with haproxy 2.6.12 (the same requests sent to a
//! frontend answering `lf-string "[%[EXPR]]"`, or `http-response set-header` for the response
//! side) unless a comment says otherwise; `None` is a sample HAProxy reported absent.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime};

use common::Ctx;
use fulcrum_sample::{Expr, Type, Value};

fn two_x_a() -> Ctx {
    Ctx::new().hdr("x-a", "a, b ,c").hdr("x-a", "d")
}

#[test]
fn constants() {
    let c = Ctx::new();
    assert_eq!(c.eval("str(abc)").as_deref(), Some("abc"));
    assert_eq!(c.eval("str").as_deref(), Some(""));
    assert_eq!(c.eval("str()").as_deref(), Some(""));
    assert_eq!(c.eval("int(-5)").as_deref(), Some("-5"));
    assert_eq!(c.eval("int(+5)").as_deref(), Some("5"));
    assert_eq!(c.eval("int(-0)").as_deref(), Some("0"));
    assert_eq!(
        c.eval("int(99999999999999999999)").as_deref(),
        Some("9223372036854775807")
    );
    assert_eq!(c.value("bool(1)"), Some(Value::Bool(true)));
    assert_eq!(c.value("bool(TRUE)"), Some(Value::Bool(true)));
    assert_eq!(c.value("bool(false)"), Some(Value::Bool(false)));
    assert_eq!(c.value("bool(0)"), Some(Value::Bool(false)));
    assert_eq!(c.eval("always_true").as_deref(), Some("1"));
    assert_eq!(c.eval("always_false").as_deref(), Some("0"));
    assert_eq!(
        c.value("ipv4(1.2.3.4)"),
        Some(Value::Ipv4(Ipv4Addr::new(1, 2, 3, 4)))
    );
    assert_eq!(c.value("ipv6(::1)"), Some(Value::Ipv6(Ipv6Addr::LOCALHOST)));
    assert_eq!(c.eval("ipv6(::1.2.3.4)").as_deref(), Some("::1.2.3.4"));
    assert_eq!(
        c.eval("ipv6(1:0:0:1:0:0:0:1)").as_deref(),
        Some("1:0:0:1::1")
    );
    assert_eq!(c.value("bin(0001ff)"), Some(Value::bin(vec![0, 1, 0xff])));
    assert_eq!(c.eval("bin(0001ff)").as_deref(), Some(""));
    assert_eq!(c.eval("bin(610062)").as_deref(), Some("a"));
    assert_eq!(c.eval("bin(41),hex").as_deref(), Some("41"));
    assert_eq!(c.eval("meth(GET)").as_deref(), Some("GET"));
    assert_eq!(c.eval("meth(get),lower").as_deref(), Some("get"));
}

#[test]
fn variables_and_environment() {
    let mut c = Ctx::new()
        .var("txn.i", Value::Int(258))
        .var("txn.ip", Value::Ipv4(Ipv4Addr::LOCALHOST))
        .var("txn.b", Value::bin(vec![0, 0xff]))
        .var("txn.a.b", Value::string("dotted"));
    c.env.insert("HOME".into(), "/root".into());
    assert_eq!(c.eval("var(txn.i)").as_deref(), Some("258"));
    assert_eq!(
        c.eval("var(txn.i),hex").as_deref(),
        Some("0000000000000102")
    );
    assert_eq!(c.eval("var(txn.ip)").as_deref(), Some("127.0.0.1"));
    assert_eq!(c.eval("var(txn.b),hex").as_deref(), Some("00FF"));
    assert_eq!(c.eval("var(txn.a.b)").as_deref(), Some("dotted"));
    assert_eq!(c.eval("var(txn.nope)"), None);
    assert_eq!(c.eval("var(txn.nope,dflt)").as_deref(), Some("dflt"));
    assert_eq!(c.eval("var(txn.nope,)").as_deref(), Some(""));
    assert_eq!(c.eval("var(sess.i)"), None);
    assert_eq!(c.eval("env(HOME)").as_deref(), Some("/root"));
    assert_eq!(c.eval("env(NOPE_XX)"), None);
    assert_eq!(c.eval("env"), None);
    assert_eq!(Expr::parse("var(txn.i)").unwrap().output_type(), Type::Any);
}

#[test]
fn request_line() {
    let c = Ctx::new();
    assert_eq!(c.eval("method").as_deref(), Some("GET"));
    let mut post = Ctx::new();
    post.method = Some(b"FOO".to_vec());
    assert_eq!(post.eval("method").as_deref(), Some("FOO"));
    let c = Ctx::new().uri("/a/b?c=d&e");
    assert_eq!(c.eval("path").as_deref(), Some("/a/b"));
    assert_eq!(c.eval("pathq").as_deref(), Some("/a/b?c=d&e"));
    assert_eq!(c.eval("query").as_deref(), Some("c=d&e"));
    assert_eq!(c.eval("url").as_deref(), Some("/a/b?c=d&e"));
    assert_eq!(c.eval("base").as_deref(), Some("example.com/a/b"));
    assert_eq!(Ctx::new().uri("/a/b?").eval("query").as_deref(), Some(""));
    assert_eq!(Ctx::new().uri("/a/b").eval("query"), None);
    assert_eq!(
        Ctx::new().uri("/a?b?c").eval("query").as_deref(),
        Some("b?c")
    );
    let abs = Ctx::new().uri("http://h.x/a/b?c=d");
    assert_eq!(abs.eval("path").as_deref(), Some("/a/b"));
    assert_eq!(abs.eval("url").as_deref(), Some("http://h.x/a/b?c=d"));
    assert_eq!(
        Ctx::new().uri("http://h.x").eval("path"),
        None,
        "absolute URI without a path"
    );
    assert_eq!(
        Ctx::new().uri("http://u@h.x/p").eval("path").as_deref(),
        Some("/p")
    );
    assert_eq!(Ctx::new().uri("foo.bar:443").eval("path"), None);
    let mut no_host = Ctx::new().uri("/a/b?c=d");
    no_host.req.clear();
    assert_eq!(no_host.eval("base").as_deref(), Some("/a/b"));
    let empty_host = Ctx::new().uri("/a/b?c=d");
    let mut empty_host = empty_host;
    empty_host.req = vec![(b"host".to_vec(), Vec::new())];
    assert_eq!(empty_host.eval("base").as_deref(), Some("/a/b"));
    let mut tcp = Ctx::new();
    tcp.method = None;
    tcp.uri = None;
    tcp.req.clear();
    for e in ["method", "path", "query", "url", "base", "url_param(a)"] {
        assert_eq!(tcp.eval(e), None, "{e} without HTTP");
    }
}

#[test]
fn headers() {
    let c = two_x_a();
    assert_eq!(c.eval("req.hdr(x-a)").as_deref(), Some("d"));
    assert_eq!(c.eval("req.hdr(x-a,1)").as_deref(), Some("a"));
    assert_eq!(c.eval("req.hdr(x-a,2)").as_deref(), Some("b"));
    assert_eq!(c.eval("req.hdr(x-a,-1)").as_deref(), Some("d"));
    assert_eq!(c.eval("req.hdr(x-a,-2)").as_deref(), Some("c"));
    assert_eq!(c.eval("req.hdr(x-a,-4)").as_deref(), Some("a"));
    assert_eq!(c.eval("req.hdr(x-a,-5)"), None);
    assert_eq!(c.eval("req.hdr(x-a,5)"), None);
    assert_eq!(c.eval("req.hdr(x-a,0)").as_deref(), Some("d"));
    assert_eq!(c.eval("req.hdr(X-A)").as_deref(), Some("d"));
    assert_eq!(c.eval("hdr(x-a)").as_deref(), Some("d"));
    assert_eq!(c.eval("hdr(host)").as_deref(), Some("example.com"));
    assert_eq!(c.eval("req.fhdr(x-a)").as_deref(), Some("d"));
    assert_eq!(c.eval("req.fhdr(x-a,1)").as_deref(), Some("a, b ,c"));
    assert_eq!(c.eval("req.fhdr(x-a,-2)").as_deref(), Some("a, b ,c"));
    assert_eq!(c.eval("req.hdr_cnt(x-a)").as_deref(), Some("4"));
    assert_eq!(c.eval("hdr_cnt(x-a)").as_deref(), Some("4"));
    assert_eq!(c.eval("req.fhdr_cnt(x-a)").as_deref(), Some("2"));
    assert_eq!(c.eval("req.hdr_cnt(nope)").as_deref(), Some("0"));
    assert_eq!(c.eval("req.hdr_cnt").as_deref(), Some("5"));
    // without arguments req.hdr finds nothing; with an empty name it matches any header
    assert_eq!(c.eval("req.hdr"), None);
    assert_eq!(c.eval("req.hdr()").as_deref(), Some("d"));
    assert_eq!(c.eval("req.hdr(,1)").as_deref(), Some("example.com"));
    let q = Ctx::new().hdr("x-a", "\"a,b\",c");
    assert_eq!(q.eval("req.hdr(x-a,1)").as_deref(), Some("\"a,b\""));
    let e = Ctx::new().hdr("x-a", "a,,c");
    assert_eq!(e.eval("req.hdr(x-a,2)").as_deref(), Some(""));
    assert_eq!(e.eval("req.hdr(x-a,3)").as_deref(), Some("c"));
    let t = Ctx::new().hdr("x-a", "a,b,");
    assert_eq!(t.eval("req.hdr(x-a,3)").as_deref(), Some(""));
    assert_eq!(t.eval("req.hdr_cnt(x-a)").as_deref(), Some("3"));
    assert_eq!(
        Ctx::new().hdr("x-a", "").eval("req.hdr(x-a)").as_deref(),
        Some("")
    );
    assert_eq!(Ctx::new().hdr("x-a", "a").eval("req.hdr(x-a,-10)"), None);
    // eleven values: the tenth from the last is still reachable
    let mut many = Ctx::new();
    for i in 1..=11 {
        many = many.hdr("x-n", &i.to_string());
    }
    assert_eq!(many.eval("req.hdr(x-n,-10)").as_deref(), Some("2"));
    assert_eq!(many.eval("req.hdr(x-n,-1)").as_deref(), Some("11"));
    assert_eq!(many.eval("req.hdr(x-n,11)").as_deref(), Some("11"));
}

#[test]
fn response_side() {
    // observed with haproxy 2.6.12 in http-response set-header rules, the server answering
    // 203 with x-r: "a, b", x-r: c and three set-cookie headers
    let mut c = Ctx::new()
        .res_hdr("x-r", "a, b")
        .res_hdr("x-r", "c")
        .res_hdr("set-cookie", "s=1; Path=/; a=2")
        .res_hdr("set-cookie", "t=2, u=3")
        .res_hdr("set-cookie", "=4");
    c.response = true;
    c.status = Some(203);
    c.be = Some("be".into());
    c.srv = Some("s1".into());
    assert_eq!(c.eval("status").as_deref(), Some("203"));
    assert_eq!(c.eval("hdr(x-r)").as_deref(), Some("c"));
    assert_eq!(c.eval("hdr(x-r,1)").as_deref(), Some("a"));
    assert_eq!(c.eval("res.hdr(x-r,-2)").as_deref(), Some("b"));
    assert_eq!(c.eval("shdr(x-r,-2)").as_deref(), Some("b"));
    assert_eq!(c.eval("res.fhdr(x-r,1)").as_deref(), Some("a, b"));
    assert_eq!(c.eval("res.hdr_cnt(x-r)").as_deref(), Some("3"));
    assert_eq!(c.eval("res.fhdr_cnt(x-r)").as_deref(), Some("2"));
    assert_eq!(c.eval("res.cook(s)").as_deref(), Some("1"));
    assert_eq!(c.eval("res.cook(a)"), None);
    assert_eq!(c.eval("res.cook(t)").as_deref(), Some("2"));
    assert_eq!(c.eval("res.cook(u)").as_deref(), Some("3"));
    assert_eq!(c.eval("scook(u)").as_deref(), Some("3"));
    assert_eq!(c.eval("res.cook").as_deref(), Some("1"));
    assert_eq!(c.eval("res.cook_cnt").as_deref(), Some("6"));
    assert_eq!(c.eval("res.cook_cnt(s)").as_deref(), Some("1"));
    assert_eq!(c.eval("be_name").as_deref(), Some("be"));
    assert_eq!(c.eval("srv_name").as_deref(), Some("s1"));
    assert_eq!(c.eval("fe_name").as_deref(), Some("fe"));
    // hdr follows the direction; req.hdr does not
    assert_eq!(c.eval("req.hdr(host)").as_deref(), Some("example.com"));
    assert_eq!(c.eval("hdr(host)"), None);
    let req = Ctx::new();
    assert_eq!(req.eval("status"), None);
    assert_eq!(req.eval("be_name"), None);
    assert_eq!(req.eval("srv_name"), None);
    assert_eq!(req.eval("res.hdr(x-r)"), None);
}

#[test]
fn cookies() {
    let c = |v: &str| Ctx::new().hdr("cookie", v);
    assert_eq!(c("a=1; b=2; a=3").eval("req.cook(a)").as_deref(), Some("3"));
    assert_eq!(
        Ctx::new()
            .hdr("cookie", "a=1; b=2")
            .hdr("cookie", "a=4")
            .eval("req.cook(a)")
            .as_deref(),
        Some("4")
    );
    assert_eq!(
        c("a=1; b = 2 ;c=3").eval("req.cook(b)").as_deref(),
        Some("2")
    );
    assert_eq!(c("a=1; b=2").eval("req.cook").as_deref(), Some("1"));
    assert_eq!(c("a=1; b=2").eval("req.cook()").as_deref(), Some("1"));
    assert_eq!(c("a=1; b=2").eval("req.cook(c)"), None);
    assert_eq!(c("x=1, a=5").eval("req.cook(a)").as_deref(), Some("5"));
    assert_eq!(
        c("a=\"x;y\"; b=2").eval("req.cook(a)").as_deref(),
        Some("\"x;y\"")
    );
    assert_eq!(c("a").eval("req.cook(a)"), None);
    assert_eq!(c("a=").eval("req.cook(a)"), None);
    assert_eq!(c("$a=1; a=2").eval("req.cook(a)").as_deref(), Some("2"));
    assert_eq!(c("a=1").eval("cook(a)").as_deref(), Some("1"));
    assert_eq!(
        c("a=1; b=2; a=3").eval("req.cook_cnt(a)").as_deref(),
        Some("2")
    );
    assert_eq!(c("a=1; b=2; a=3").eval("cook_cnt").as_deref(), Some("3"));
}

#[test]
fn url_parameters() {
    let u = |uri: &str, e: &str| Ctx::new().uri(uri).eval(e);
    assert_eq!(u("/p?a=1&b=2&a=3", "url_param(a)").as_deref(), Some("1"));
    assert_eq!(u("/p?a=1;b=2", "url_param(b)").as_deref(), Some("2"));
    assert_eq!(u("/p?a=1&b=2", "url_param(c)"), None);
    assert_eq!(u("/p?x&a=1&b=2", "url_param").as_deref(), Some("1"));
    assert_eq!(u("/p?a", "url_param(a)"), None);
    assert_eq!(u("/p?a=", "url_param(a)").as_deref(), Some(""));
    assert_eq!(u("/p?aa=1&a=2", "url_param(a)").as_deref(), Some("2"));
    assert_eq!(u("/p;a=1;b=2", "url_param(b,;)").as_deref(), Some("2"));
    assert_eq!(u("/p?q=1?a=2", "url_param(a)").as_deref(), Some("2"));
    assert_eq!(u("/p?a=1", "urlp(a)").as_deref(), Some("1"));
}

#[test]
fn connection() {
    let c = Ctx::new();
    assert_eq!(c.eval("src").as_deref(), Some("127.0.0.1"));
    assert_eq!(c.eval("src_port").as_deref(), Some("35628"));
    assert_eq!(c.eval("dst").as_deref(), Some("127.0.0.1"));
    assert_eq!(c.eval("dst_port").as_deref(), Some("18081"));
    assert_eq!(c.eval("dst_port,add(1)").as_deref(), Some("18082"));
    assert_eq!(c.eval("fe_name").as_deref(), Some("fe"));
    let mut v6 = Ctx::new();
    v6.src = Some("[2001:db8::1]:443".parse().unwrap());
    assert_eq!(v6.eval("src").as_deref(), Some("2001:db8::1"));
    assert_eq!(v6.eval("src_port").as_deref(), Some("443"));
    // an IPv6 source has no integer form: the cast fails at run time (src is declared IPv4)
    assert_eq!(v6.eval("src,add(0)"), None);
    assert_eq!(v6.eval("src,ipmask(24,32)").as_deref(), Some("2001:db8::"));
    let mut none = Ctx::new();
    none.src = None;
    none.dst = None;
    none.fe = None;
    for e in [
        "src",
        "src_port",
        "dst",
        "dst_port",
        "fe_name",
        "http_first_req",
    ] {
        assert_eq!(none.eval(e), None, "{e}");
    }
}

#[test]
fn http_first_req() {
    let mut c = Ctx::new();
    c.first = Some(true);
    assert_eq!(c.eval("http_first_req").as_deref(), Some("1"));
    assert_eq!(c.value("http_first_req"), Some(Value::Bool(true)));
    c.first = Some(false);
    assert_eq!(c.eval("http_first_req").as_deref(), Some("0"));
    assert_eq!(c.eval("http_first_req,add(1)").as_deref(), Some("1"));
}

#[test]
fn clock_and_randomness() {
    // the context's clock: 2014-07-10 13:23:50.123456 UTC
    let c = Ctx::new();
    assert_eq!(c.eval("date").as_deref(), Some("1404998630"));
    assert_eq!(c.eval("date(10)").as_deref(), Some("1404998640"));
    assert_eq!(c.eval("date(-10)").as_deref(), Some("1404998620"));
    assert_eq!(c.eval("date(0,ms)").as_deref(), Some("1404998630123"));
    assert_eq!(c.eval("date(1,us)").as_deref(), Some("1404998630123457"));
    assert_eq!(c.eval("date(0,s)").as_deref(), Some("1404998630"));
    assert_eq!(c.eval("date_us").as_deref(), Some("123456"));
    assert_eq!(
        c.eval("date,http_date").as_deref(),
        Some("Thu, 10 Jul 2014 13:23:50 GMT")
    );
    assert_eq!(
        c.eval("date,ltime(%Y%m%d%H%M%S)").as_deref(),
        Some("20140710132350")
    );
    let mut before = Ctx::new();
    before.now = SystemTime::UNIX_EPOCH - Duration::from_secs(5);
    assert_eq!(before.eval("date").as_deref(), Some("0"));
    // rand: the context's 32-bit draw, scaled to the range with all its bits
    assert_eq!(c.eval("rand").as_deref(), Some("2147483648"));
    assert_eq!(c.eval("rand(10)").as_deref(), Some("5"));
    assert_eq!(c.eval("rand(0)").as_deref(), Some("0"));
    let mut top = Ctx::new();
    top.rand = u32::MAX;
    assert_eq!(top.eval("rand(100)").as_deref(), Some("99"));
    // observed with haproxy 2.6.12: rand(-5) gives 4294967292 for some draw; with the
    // wrapping arithmetic HAProxy uses, a draw of 2^32-1 scaled by 2^64-5 gives this value
    assert_eq!(top.eval("rand(-5)").as_deref(), Some("4294967291"));
}

#[test]
fn needs() {
    let n = |e: &str| Expr::parse(e).unwrap().needs();
    assert!(n("status").response && n("status").http);
    assert!(n("res.hdr(x)").response);
    assert!(!n("hdr(x)").response && !n("hdr(x)").request);
    assert!(n("req.hdr(x)").request);
    assert!(n("path,lower").request);
    assert!(!n("method").request && n("method").http);
    assert!(n("be_name").backend);
    assert!(n("srv_name").server);
    assert_eq!(n("src"), fulcrum_sample::Needs::default());
    // The length-prefixed blocks and TLS hello types of the buffered bytes, on either side.
    assert!(n("payload_lv(43,1)").content && !n("payload_lv(43,1)").response_content);
    assert!(n("res.payload_lv(43,1,+2)").response_content);
    assert!(n("req.ssl_hello_type").content && n("rep_ssl_hello_type").response_content);
    assert_eq!(
        Expr::parse("payload_lv(43,1)").unwrap().output_type(),
        Type::Bin
    );
    assert_eq!(
        Expr::parse("res.ssl_hello_type").unwrap().output_type(),
        Type::Int
    );
    for bad in [
        "payload_lv(43,0)",
        "payload_lv(43,9)",
        "payload_lv(43)",
        "payload_lv(1,1,x)",
    ] {
        assert!(Expr::parse(bad).is_err(), "{bad}");
    }
    let e = Expr::parse("req.hdr(host),lower").unwrap();
    assert_eq!(e.fetch_name(), "req.hdr");
    assert_eq!(e.source(), "req.hdr(host),lower");
    assert_eq!(e.to_string(), "req.hdr(host),lower");
    assert_eq!(e.output_type(), Type::Str);
    let e: Expr = "str(a),".parse().unwrap();
    assert_eq!(e.source(), "str(a)");
}

#[test]
fn through_a_trait_object_and_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Expr>();
    send_sync::<fulcrum_sample::LogFormat>();
    let c = Ctx::new().uri("/x?y=1");
    let dynamic: &dyn fulcrum_sample::Context = &c;
    let e = Expr::parse("url_param(y),add(1)").unwrap();
    assert_eq!(e.eval(dynamic), Some(Value::Int(2)));
}

#[test]
fn cook_val() {
    // observed with haproxy 2.6.12 on `Cookie: a=12x; b=x; c=-5; g=` then `Cookie: a=3`
    let c = Ctx::new()
        .hdr("cookie", "a=12x; b=x; c=-5; g=")
        .hdr("cookie", "a=3");
    for (e, want) in [
        ("req.cook_val(a)", Some("3")),
        ("req.cook_val(b)", Some("0")),
        ("req.cook_val(c)", Some("-5")),
        ("req.cook_val(g)", Some("0")),
        ("req.cook_val()", Some("12")),
        ("cook_val", Some("12")),
        ("req.cook_val(zz)", None),
    ] {
        assert_eq!(c.eval(e).as_deref(), want, "{e}");
    }
    assert_eq!(c.value("req.cook_val(a)"), Some(Value::Int(3)));
    assert!(
        fulcrum_sample::Expr::parse("cook_val(a)")
            .unwrap()
            .needs()
            .request
    );
}

#[test]
fn ids_and_listener_name() {
    let mut c = Ctx::new();
    for e in ["fe_id", "be_id", "srv_id", "so_id", "so_name"] {
        assert_eq!(c.eval(e), None, "{e}");
    }
    c.ids = [Some(1), Some(2), Some(3), Some(4)];
    c.listener = Some("foo".into());
    for (e, want) in [
        ("fe_id", "1"),
        ("be_id", "2"),
        ("srv_id", "3"),
        ("so_id", "4"),
        ("so_name", "foo"),
    ] {
        assert_eq!(c.eval(e).as_deref(), Some(want), "{e}");
    }
    let needs = |e: &str| fulcrum_sample::Expr::parse(e).unwrap().needs();
    assert!(needs("be_id").backend);
    assert!(needs("srv_id").server);
    assert!(!needs("fe_id").backend && !needs("so_name").server);
}

#[test]
fn base32_req_hdrs_and_uuid() {
    // observed with haproxy 2.6.12: GET /p/q?x=1, Host: 127.0.0.1:18461, from 127.0.0.1
    let mut c = Ctx::new().uri("/p/q?x=1");
    c.req = vec![(b"host".to_vec(), b"127.0.0.1:18461".to_vec())];
    assert_eq!(c.eval("base32").as_deref(), Some("2123688263"));
    assert_eq!(c.eval("base,sdbm(1)").as_deref(), Some("2123688263"));
    assert_eq!(
        c.eval("base32+src,hex").as_deref(),
        Some("7E94E9477F000001")
    );
    c.src = Some("[::1]:5000".parse().unwrap());
    assert_eq!(
        c.eval("base32+src,hex").as_deref(),
        Some("7E94E94700000000000000000000000000000001")
    );
    let c = c.hdr("x-a", "1").hdr("x-b", "two");
    assert_eq!(
        c.eval("req.hdrs").as_deref(),
        Some("host: 127.0.0.1:18461\r\nx-a: 1\r\nx-b: two\r\n\r\n")
    );
    // version 4, variant 10, from the context's random source
    let u = c.eval("uuid").unwrap();
    assert_eq!(u, "80000000-8000-4000-8000-000080000000");
    assert_eq!(c.eval("uuid(4)").as_deref(), Some(u.as_str()));
    assert!(fulcrum_sample::Expr::parse("uuid(3)").is_err());
}

#[test]
fn backend_figures_come_from_the_context() {
    // the test context knows no backend: the figures are absent (the proxy answers them)
    let c = Ctx::new();
    for e in [
        "nbsrv",
        "nbsrv(other)",
        "be_conn",
        "be_conn(other)",
        "fe_conn",
    ] {
        assert_eq!(c.eval(e), None, "{e}");
        assert_eq!(
            fulcrum_sample::Expr::parse(e).unwrap().output_type(),
            fulcrum_sample::Type::Int
        );
    }
}

#[test]
fn fe_conn_names_no_other_frontend() {
    let e = fulcrum_sample::Expr::parse("fe_conn(other)").unwrap_err();
    assert!(e.to_string().contains("not supported yet"), "{e}");
}

#[test]
fn captured_request_line() {
    // observed with haproxy 2.6.12 (OPTIONS /a/b?x=1, then OPTIONS *)
    let mut c = Ctx::new().uri("/a/b?x=1");
    c.method = Some(b"OPTIONS".to_vec());
    assert_eq!(c.eval("capture.req.method").as_deref(), Some("OPTIONS"));
    assert_eq!(c.eval("capture.req.uri").as_deref(), Some("/a/b?x=1"));
    let c = c.uri("*");
    assert_eq!(c.eval("capture.req.uri"), None);
    // available to http-response rules, unlike `url`
    let needs = fulcrum_sample::Expr::parse("capture.req.uri")
        .unwrap()
        .needs();
    assert!(needs.http && !needs.request);
}

#[test]
fn http_auth_fetches() {
    // Observed with haproxy 2.6.12 (see fulcrum-proxy's tests/rewrites.rs for the live comparison).
    let c = Ctx::new().hdr("authorization", "Basic YTpwdw=="); // a:pw
    assert_eq!(c.eval("http_auth_type").as_deref(), Some("Basic"));
    assert_eq!(c.eval("http_auth_user").as_deref(), Some("a"));
    assert_eq!(c.eval("http_auth_pass").as_deref(), Some("pw"));
    assert_eq!(c.eval("http_auth(L)").as_deref(), Some("1"));
    assert_eq!(c.eval("http_auth_group(L)").as_deref(), Some("a"));
    // A userlist that does not exist: no sample.
    assert_eq!(c.eval("http_auth(M)"), None);
    let c = Ctx::new().hdr("authorization", "basic  YTp4 "); // a:x
    assert_eq!(c.eval("http_auth_type").as_deref(), Some("Basic"));
    assert_eq!(c.eval("http_auth_pass").as_deref(), Some("x"));
    assert_eq!(c.eval("http_auth(L)").as_deref(), Some("0"));
    assert_eq!(c.eval("http_auth_group(L)"), None);
    let c = Ctx::new().hdr("authorization", "Bearer abc");
    assert_eq!(c.eval("http_auth_type").as_deref(), Some("Bearer"));
    assert_eq!(c.eval("http_auth_user"), None);
    assert_eq!(c.eval("http_auth(L)"), None);
    let c = Ctx::new().hdr("authorization", "Digest username=x");
    assert_eq!(c.eval("http_auth_type"), None);
    assert_eq!(Ctx::new().eval("http_auth_user"), None);
    // Not base64, or no ':' in it.
    assert_eq!(
        Ctx::new()
            .hdr("authorization", "Basic !!")
            .eval("http_auth_user"),
        None
    );
    assert_eq!(
        Ctx::new()
            .hdr("authorization", "Basic YQ==")
            .eval("http_auth_user"),
        None
    );
}
