//! Load-time errors: every expression here is refused by haproxy 2.6.12 too (observed with
//! `haproxy -c`), except where a comment says fulcrum is stricter.

use fulcrum_sample::{Error, Expr, Type};

fn err(expr: &str) -> Error {
    match Expr::parse(expr) {
        Ok(_) => panic!("{expr} was accepted"),
        Err(e) => e,
    }
}

#[track_caller]
fn bad_arg(expr: &str, keyword: &str, position: usize) {
    match err(expr) {
        Error::BadArg {
            keyword: k,
            position: p,
            ..
        } if k == keyword && p == position => {}
        other => panic!("{expr}: {other:?}"),
    }
}

#[track_caller]
fn missing_arg(expr: &str, keyword: &str, position: usize, expected: &str) {
    match err(expr) {
        Error::MissingArg {
            keyword: k,
            position: p,
            expected: x,
            ..
        } if k == keyword && p == position && x == expected => {}
        other => panic!("{expr}: {other:?}"),
    }
}

#[track_caller]
fn too_many(expr: &str, keyword: &str, max: usize) {
    match err(expr) {
        Error::TooManyArgs {
            keyword: k, max: m, ..
        } if k == keyword && m == max => {}
        other => panic!("{expr}: {other:?}"),
    }
}

#[test]
fn unknown_and_unsupported_names() {
    assert_eq!(
        err("nothere(1)"),
        Error::UnknownFetch {
            name: "nothere".into(),
            at: 0
        }
    );
    // `now` is not a fetch of HAProxy 2.6 (date is)
    assert!(matches!(err("now"), Error::UnknownFetch { .. }));
    assert!(matches!(err("field(1,2)"), Error::UnknownFetch { .. }));
    assert_eq!(
        err("str(a),nope"),
        Error::UnknownConverter {
            name: "nope".into(),
            at: 7
        }
    );
    for (e, name) in [
        ("ssl_bc_session_id", "ssl_bc_session_id"),
        ("sc0_get_gpt(1)", "sc0_get_gpt"),
        ("str(a),debug", "debug"),
        ("str(a),unset-var(txn.x)", "unset-var"),
        ("str(a),jwt_header_query", "jwt_header_query"),
    ] {
        match err(e) {
            Error::Unsupported { name: n, .. } => assert_eq!(n, name),
            other => panic!("{e}: {other:?}"),
        }
    }
    // Map converters exist, but their files come from a configuration (`Expr::parse_with`).
    assert!(
        err("src,map(/etc/x.map)")
            .to_string()
            .contains("map converters are not supported yet by fulcrum in this place"),
        "{}",
        err("src,map(/etc/x.map)")
    );
    assert!(matches!(
        err("src,map_regm_int(/etc/x.map)"),
        Error::UnknownConverter { .. }
    ));
    assert_eq!(
        err("ssl_bc_session_id").to_string(),
        "fetch method 'ssl_bc_session_id' is supported by HAProxy, not yet by fulcrum"
    );
}

#[test]
fn syntax() {
    assert_eq!(err(""), Error::MissingFetch { at: 0 });
    assert_eq!(err(",lower"), Error::MissingFetch { at: 0 });
    assert_eq!(
        err("str(a)lower"),
        Error::MissingComma {
            after: "str".into(),
            at: 6
        }
    );
    assert_eq!(
        err("str(a)),lower"),
        Error::MissingComma {
            after: "str".into(),
            at: 6
        }
    );
    assert_eq!(err("str(a),(x)"), Error::MissingConverter { at: 7 });
    assert_eq!(
        err("str(abc"),
        Error::UnclosedParen {
            keyword: "str".into(),
            at: 3
        }
    );
    assert_eq!(
        err("str('abc)"),
        Error::UnclosedQuote {
            keyword: "str".into(),
            quote: '\'',
            at: 4
        }
    );
    assert_eq!(
        err("str(a\\"),
        Error::DanglingEscape {
            keyword: "str".into(),
            at: 5
        }
    );
    // the `)` of the regex closes the argument list, leaving garbage
    assert!(Expr::parse("str(ab),regsub((a),\\1\\1\\9)").is_err());
    assert_eq!(
        err("str(abc").to_string(),
        "'str': missing ')' to close the arguments opened at position 4"
    );
}

#[test]
fn argument_counts() {
    too_many("str(a,b)", "str", 1);
    too_many("str(a\\,b)", "str", 1);
    too_many("str(a),lower(x)", "lower", 0);
    too_many("str(a),sha2(256,1)", "sha2", 1);
    too_many("src,lower,upper,hex(1)", "hex", 0);
    assert_eq!(
        err("str(a),lower(x)").to_string(),
        "'lower' takes no arguments, but got more at position 14"
    );
    missing_arg("int", "int", 1, "integer");
    missing_arg("int()", "int", 1, "integer");
    missing_arg("str(a),field(1)", "field", 2, "string");
    missing_arg("str(a),field(,:)", "field", 1, "integer");
    missing_arg("str(a),bytes()", "bytes", 1, "integer");
    missing_arg("str(a),add_item(\",\")", "add_item", 2, "string");
    missing_arg("str(abc),regsub(b)", "regsub", 2, "string");
    missing_arg("str(ab),be2hex(,,1)", "be2hex", 2, "integer");
    assert_eq!(
        err("int").to_string(),
        "'int': missing argument 1 (integer expected)"
    );
}

#[test]
fn argument_values() {
    bad_arg("int( 5)", "int", 1);
    bad_arg("int(5x)", "int", 1);
    bad_arg("int(0x10)", "int", 1);
    bad_arg("bool(yes)", "bool", 1);
    bad_arg("bool()", "bool", 1);
    bad_arg("bin(4)", "bin", 1);
    bad_arg("bin(zz)", "bin", 1);
    bad_arg("bin()", "bin", 1);
    bad_arg("ipv4(1.2.3)", "ipv4", 1);
    bad_arg("ipv6(1.2.3.4)", "ipv6", 1);
    bad_arg("meth(a b)", "meth", 1);
    bad_arg("var(nope)", "var", 1);
    bad_arg("var(TXN.x)", "var", 1);
    bad_arg("var(txn.a-b)", "var", 1);
    bad_arg("hdr(x-a,-11)", "hdr", 2);
    bad_arg("date(0,xs)", "date", 2);
    // stricter than HAProxy, which accepts an empty delimiter and then never finds anything
    bad_arg("url_param(a,)", "url_param", 2);
    bad_arg("str(a),field(x,:)", "field", 1);
    bad_arg("str(x),field(0,_)", "field", 1);
    bad_arg("str(x),field(1,)", "field", 2);
    bad_arg("str(x),word(0,_)", "word", 1);
    bad_arg("str(a),json(foo)", "json", 1);
    bad_arg("str(a),url_dec(x)", "url_dec", 1);
    bad_arg("str(a b),url_enc(path)", "url_enc", 1);
    bad_arg("str(a),concat(,nope)", "concat", 2);
    bad_arg("str(a),strcmp(nope)", "strcmp", 1);
    bad_arg("str(a),strcmp()", "strcmp", 1);
    bad_arg("str(a),secure_memcmp(x)", "secure_memcmp", 1);
    bad_arg("str(a),add_item(\",\",,)", "add_item", 2);
    bad_arg("int(5),add(x)", "add", 1);
    bad_arg("date,sub(date)", "sub", 1);
    bad_arg("str(abc),sha2(100)", "sha2", 1);
    bad_arg("str(abc),digest(nope)", "digest", 1);
    bad_arg("str(1),ipmask(1.2.3)", "ipmask", 1);
    bad_arg("ipv4(1.2.3.4),ipmask(33)", "ipmask", 1);
    bad_arg("ipv4(1.2.3.4),ipmask(24,129)", "ipmask", 2);
    bad_arg("str(abc),regsub(b,x,z)", "regsub", 3);
    bad_arg("str(abc),regsub(\"(\",x)", "regsub", 1);
    bad_arg("str(ab),be2dec(,0)", "be2dec", 2);
    bad_arg("str(ab),be2dec(,9)", "be2dec", 2);
    bad_arg("str(ab),be2dec(,2,2)", "be2dec", 3);
    bad_arg("bin(0102030405060708),be2hex(:)", "be2hex", 2);
    bad_arg("int(1404998630),http_date(0,ns)", "http_date", 2);
    // stricter than HAProxy, which writes a garbage byte for a malformed \x escape
    bad_arg("str(ab),regsub(a,\\xzz)", "regsub", 2);
    // the regex crate has no back-references: refused at load time
    bad_arg("str(aa),regsub('(a)\\1',x)", "regsub", 1);
    let e = err("int(5x)");
    assert_eq!(e.to_string(), "'int': argument 1 '5x': expected an integer");
    assert_eq!(e.at(), 4);
    assert!(err("var(nope)")
        .to_string()
        .contains("it must start with its scope"));
}

#[test]
fn type_check() {
    // observed with haproxy 2.6.12: "converter 'add' cannot be applied"
    assert_eq!(
        err("ipv6(::1),add(1)"),
        Error::CannotApply {
            converter: "add".into(),
            input: Type::Ipv6,
            expected: Type::Int,
            at: 10
        }
    );
    assert!(matches!(
        err("ipv6(::ffff:1.2.3.4),add(1)"),
        Error::CannotApply { .. }
    ));
    assert!(matches!(err("method,add(1)"), Error::CannotApply { .. }));
    assert!(matches!(
        err("str(a),sha1,add(1)"),
        Error::CannotApply { .. }
    ));
    assert!(matches!(
        err("str(a),sha1,ipmask(8)"),
        Error::CannotApply { .. }
    ));
    assert!(matches!(
        err("always_true,ipmask(8)"),
        Error::CannotApply { .. }
    ));
    assert!(matches!(
        err("src,add(1),sha1,bool"),
        Error::CannotApply { .. }
    ));
    assert_eq!(
        err("method,add(1)").to_string(),
        "converter 'add' cannot be applied to method (it takes integer)"
    );
    // what a cast can reach is accepted
    for ok in [
        "src,add(1)",
        "str(1),add(1)",
        "int(1),ipmask(8)",
        "var(txn.x),add(1)",
        "var(txn.x),ipmask(8)",
        "bool(1),hex",
        "method,lower",
        "ipv4(1.2.3.4),bool",
        "int(258),htonl,hex",
        "always_true,iif(a,b)",
        "str(x),iif(a,b)",
    ] {
        assert!(Expr::parse(ok).is_ok(), "{ok}");
    }
}

#[test]
fn accepted_forms() {
    for ok in [
        "str(a),",
        "str(a),,lower",
        "str(a),lower()",
        "str(a),crc32()",
        "str(a),ltrim",
        "str(a),concat(,txn.x)",
        "str(a),bytes(1,)",
        "str(a),field(1,:,)",
        "req.hdr",
        "req.hdr()",
        "url_param()",
        "str",
    ] {
        assert!(Expr::parse(ok).is_ok(), "{ok}");
    }
    // `concat` is a converter, not a fetch
    assert!(Expr::parse("concat").is_err());
}

#[test]
fn prefix_parsing() {
    let (e, used) = Expr::parse_prefix("src,ipmask(24) if { always_true }").unwrap();
    assert_eq!(used, 14);
    assert_eq!(e.source(), "src,ipmask(24)");
    let (e, used) = Expr::parse_prefix("str(a]b)]tail").unwrap();
    assert_eq!(used, 8);
    assert_eq!(e.source(), "str(a]b)");
    assert!(Expr::parse_prefix(" src").is_err());
}

#[test]
fn hmac_fix_mqtt_arguments() {
    // a key that is neither base64 nor a variable, an unknown digest
    bad_arg("str(a),hmac(sha1,!!!)", "hmac", 2);
    bad_arg("str(a),hmac(sha1,abc)", "hmac", 2);
    bad_arg("str(a),hmac(nope,a2V5)", "hmac", 1);
    missing_arg("str(a),hmac(sha1)", "hmac", 2, "string");
    bad_arg("str(a),fix_tag_value(NoSuchTag)", "fix_tag_value", 1);
    bad_arg(
        "str(a),mqtt_field_value(publish,flags)",
        "mqtt_field_value",
        1,
    );
    bad_arg("str(a),mqtt_field_value(3,flags)", "mqtt_field_value", 1);
    bad_arg(
        "str(a),mqtt_field_value(connect,reason_code)",
        "mqtt_field_value",
        2,
    );
    bad_arg(
        "str(a),mqtt_field_value(connack,username)",
        "mqtt_field_value",
        2,
    );
    bad_arg(
        "str(a),mqtt_field_value(connack,keepalive)",
        "mqtt_field_value",
        2,
    );
    bad_arg("str(a),mqtt_field_value(connect,36)", "mqtt_field_value", 2);
    bad_arg("str(a),mqtt_field_value(connect,18)", "mqtt_field_value", 2);
    bad_arg("str(a),mqtt_field_value(connect,99)", "mqtt_field_value", 2);
    // and what haproxy accepts
    for ok in [
        "str(a),hmac(sha1,txn.key)",
        "str(a),hmac(SHA256,a2V5)",
        "str(a),fix_tag_value(checksum)",
        "str(a),mqtt_field_value(CONNACK,REASON_CODE)",
        "str(a),mqtt_field_value(connect,Flags)",
        "str(a),mqtt_field_value(connect,38)",
        "str(a),mqtt_field_value(connect,24)",
    ] {
        assert!(Expr::parse(ok).is_ok(), "{ok}");
    }
}

#[test]
fn json_query_and_capture_arguments() {
    bad_arg("str(a),json_query(iss)", "json_query", 1);
    bad_arg("str(a),json_query('$.a',float)", "json_query", 2);
    bad_arg("capture.req.hdr(-1)", "capture.req.hdr", 1);
    assert!(fulcrum_sample::Expr::parse("str(a),json_query('$.a[2].b','int')").is_ok());
    assert!(fulcrum_sample::Expr::parse("capture.res.hdr(3)").is_ok());
}

#[test]
fn stick_samples_resolve() {
    for e in [
        "sc0_conn_cur",
        "sc_http_req_rate(2)",
        "sc_get_gpc0(1,t)",
        "sc2_tracked",
        "src_conn_rate",
        "src_inc_gpc0(t)",
        "src_updt_conn_cnt",
        "table_avl",
        "table_cnt(t)",
        "src,in_table(t)",
        "src,table_http_req_rate(t)",
        "str(k),table_server_id(t)",
        "req.hdr_ip(x-forwarded-for)",
        "hdr_ip(x,-1)",
    ] {
        assert!(Expr::parse(e).is_ok(), "{e}: {:?}", Expr::parse(e).err());
    }
    assert_eq!(
        Expr::parse("sc0_tracked").unwrap().output_type(),
        Type::Bool
    );
    assert_eq!(
        Expr::parse("src_conn_cnt").unwrap().output_type(),
        Type::Int
    );
    // as haproxy 2.6.12: a counter above 2 loads (and is never tracked); fulcrum is stricter on a negative one
    assert!(Expr::parse("sc_conn_cur(3)").is_ok());
    bad_arg("sc_conn_cur(-1)", "sc_conn_cur", 1);
    // haproxy 2.6.12 refuses these too
    for e in [
        "sc0_updt_conn_cnt",
        "src_tracked",
        "src,in_table",
        "sc3_conn_cur",
    ] {
        assert!(Expr::parse(e).is_err(), "{e}");
    }
}
