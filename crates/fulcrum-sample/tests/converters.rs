//! Every converter, with expected values from HAProxy's configuration manual (section 7.3.1)
//! where it gives examples, and otherwise observed with haproxy 2.6.12 through
//! `http-request return ... lf-string "[%[EXPR]]"`; `None` is a sample HAProxy reported absent
//! (an ACL `EXPR -m found` did not match).

mod common;

use std::net::Ipv4Addr;

use common::Ctx;
use fulcrum_sample::Value;

/// The variables the haproxy configuration set before the expressions were evaluated.
fn ctx() -> Ctx {
    Ctx::new()
        .var("txn.s", Value::string("hello"))
        .var("txn.i", Value::Int(7))
        .var("txn.big", Value::Int(258))
        .var("txn.e", Value::string(""))
        .var("txn.ip", Value::Ipv4(Ipv4Addr::LOCALHOST))
        .var("txn.b", Value::bin(vec![0x00, 0x41]))
        .var("txn.bo", Value::Bool(true))
        .var("txn.n", Value::string("12x"))
}

fn check(cases: &[(&str, Option<&str>)]) {
    let c = ctx();
    for (expr, want) in cases {
        assert_eq!(c.eval(expr).as_deref(), *want, "{expr}");
    }
}

#[test]
fn case_and_length() {
    check(&[
        ("str(AbC),lower", Some("abc")),
        ("str(AbC),upper", Some("ABC")),
        ("str(abcdef),length", Some("6")),
        // a binary sample cast to a string stops at its first NUL byte
        ("bin(610062),length", Some("1")),
        ("bin(ff41),lower,hex", Some("FF61")),
        ("method,lower", Some("get")),
        ("method,length", Some("3")),
        ("src,lower", Some("127.0.0.1")),
    ]);
}

#[test]
fn base64_and_hex() {
    check(&[
        ("str(abc),base64", Some("YWJj")),
        ("bin(fffe),base64", Some("//4=")),
        ("bin(fffe),ub64enc", Some("__4")),
        ("str(YWJj),b64dec", Some("abc")),
        ("str(YWI=),b64dec", Some("ab")),
        ("str(YWI),b64dec", None),
        ("str(YW=j),b64dec", None),
        ("str(Y),b64dec", None),
        ("str(),b64dec", Some("")),
        ("str(YWJjZA==),b64dec", Some("abcd")),
        ("str(YQ==YQ==),b64dec", Some("aa")),
        ("str(YWJj),b64dec,length", Some("3")),
        ("str(YQ),ub64dec", Some("a")),
        ("str(abc),hex", Some("616263")),
        ("bin(ff41),hex", Some("FF41")),
        ("method,hex", Some("474554")),
        ("method,base64", Some("R0VU")),
        ("int(1),hex", Some("0000000000000001")),
        ("int(-2),hex", Some("FFFFFFFFFFFFFFFE")),
        ("bool(1),hex", Some("0000000000000001")),
        ("ipv4(1.2.3.4),hex", Some("01020304")),
        ("ipv6(::1),hex", Some("00000000000000000000000000000001")),
        ("str(1.2.3.4),hex", Some("312E322E332E34")),
        ("str(ff),hex2i", Some("255")),
        ("str(FF),hex2i", Some("255")),
        ("str(fg),hex2i", None),
        ("str(),hex2i", Some("0")),
        ("str(-1),hex2i", None),
        ("str(7fffffffffffffffff),hex2i", Some("-1")),
    ]);
}

#[test]
fn url_codecs() {
    check(&[
        ("str(a+b%41),url_dec", Some("a+bA")),
        ("str(a+b%41),url_dec(1)", Some("a bA")),
        ("str(a+b%41),url_dec(0)", Some("a+bA")),
        ("str(a+b?c+d),url_dec", Some("a+b?c d")),
        ("str(a+b%4),url_dec", None),
        ("str('a b\\+c%41%zz'),url_dec", None),
        (
            "str('a b/c?d=é~-._*'),url_enc",
            Some("a%20b%2Fc%3Fd%3D%C3%A9~-._%2A"),
        ),
        ("str('a b'),url_enc(query)", Some("a%20b")),
    ]);
}

#[test]
fn json_escaping() {
    check(&[
        // the documentation's example; the quotes are removed by the argument parser
        (
            "str('Very \"Ugly\" UA 1/2'),json",
            Some("Very \\\"Ugly\\\" UA 1\\/2"),
        ),
        (
            "str(Very \\\"Ugly\\\" UA 1/2),json",
            Some("Very \\\"Ugly\\\" UA 1\\/2"),
        ),
        ("str(é),json", Some("\\u00c3\\u00a9")),
        ("str(é),json(ascii)", Some("\\u00c3\\u00a9")),
        ("str(é),json(utf8)", Some("\\u00e9")),
        ("bin(c3a9),json(utf8s)", Some("\\u00e9")),
        ("bin(ff41),json(utf8)", None),
        ("bin(ff41),json(utf8s)", Some("A")),
        ("bin(ff41),json(utf8p)", None),
        ("bin(ff41),json(utf8ps)", Some("A")),
        ("bin(c0af41),json(utf8)", None),
        ("bin(c0af41),json(utf8p)", Some("\\/A")),
        ("bin(c0af41),json(utf8s)", Some("A")),
        ("bin(f09f988041),json(utf8)", None),
        ("bin(f09f988041),json(utf8s)", Some("A")),
        ("bin(eda08041),json(utf8p)", None),
        ("bin(e282),json(utf8s)", Some("")),
        ("bin(e282ac),json(utf8)", Some("\\u20ac")),
        (
            "bin(0108090a0c0d1f207f225c2f),json",
            Some("\\u0001\\b\\t\\n\\f\\r\\u001f \\u007f\\\"\\\\\\/"),
        ),
        ("bin(41ff),json", Some("A\\u00ff")),
        ("bin(410042),json", Some("A")),
    ]);
    // A configuration's `\xE0` reaches `str()` as the byte 0xE0 (reg-test converter/json.vtc), not as U+00E0.
    let e0 = fulcrum_sample::raw_byte_char(0xe0);
    check(&[
        (&format!("str({e0}),json(utf8)"), None),
        (&format!("str(-{e0}-),json(utf8s)"), Some("--")),
        (&format!("str({e0}),hex"), Some("E0")),
        (&format!("str(a),concat({e0}),hex"), Some("61E0")),
    ]);
}

#[test]
fn bytes_field_word() {
    check(&[
        ("str(abcdef),bytes(2)", Some("cdef")),
        ("str(abcdef),bytes(2,3)", Some("cde")),
        ("str(abcdef),bytes(6)", Some("")),
        ("str(abcdef),bytes(10)", Some("")),
        ("str(abcdef),bytes(1,10)", Some("bcdef")),
        ("str(abcdef),bytes(-1)", Some("")),
        ("str(abcdef),bytes(1,-1)", Some("bcdef")),
        ("str(abcdef),bytes(1,0)", Some("")),
        // the documentation's examples
        ("str(f1_f2_f3__f5),field(5,_)", Some("f5")),
        ("str(f1_f2_f3__f5),field(2,_,0)", Some("f2_f3__f5")),
        ("str(f1_f2_f3__f5),field(2,_,2)", Some("f2_f3")),
        ("str(f1_f2_f3__f5),field(-2,_,3)", Some("f2_f3_")),
        ("str(f1_f2_f3__f5),field(-3,_,0)", Some("f1_f2_f3")),
        ("str(f1_f2_f3__f5),word(4,_)", Some("f5")),
        ("str(f1_f2_f3__f5),word(2,_,0)", Some("f2_f3__f5")),
        ("str(f1_f2_f3__f5),word(3,_,2)", Some("f3__f5")),
        ("str(f1_f2_f3__f5),word(-2,_,3)", Some("f1_f2_f3")),
        ("str(f1_f2_f3__f5),word(-3,_,0)", Some("f1_f2")),
        ("str(/f1/f2/f3/f4),word(1,/)", Some("f1")),
        // observed
        ("str(f1_f2_f3__f5),field(-1,_)", Some("f5")),
        ("str(f1_f2_f3__f5),field(6,_)", None),
        ("str(f1_f2_f3__f5),field(4,_)", Some("")),
        ("str(a:b;c),field(2,:;)", Some("b")),
        ("str(x),field(2,:)", None),
        ("str(/f1/f2/f3/f4),word(-1,/)", Some("f4")),
        ("str(/f1/f2/f3/f4),word(5,/)", Some("")),
        ("str(///),word(1,/)", Some("")),
        ("str(x),word(2,:)", Some("")),
        ("str('  a b  '),word(1,' ')", Some("a")),
    ]);
}

#[test]
fn regsub() {
    check(&[
        // the documentation's examples
        (
            "str(/////a///b/c/xzxyz/),regsub('/+','/','g')",
            Some("/a/b/c/xzxyz/"),
        ),
        ("str(?;&a=b),regsub([?;&]*,'')", Some("a=b")),
        (
            "str(xfoo12y),regsub(\"(foo|bar)([0-9]+)?\",\"\\2\\1\",i)",
            Some("x12fooy"),
        ),
        // observed
        (
            "str(/////a///b/c/xzxyz/),regsub('/+','/')",
            Some("/a///b/c/xzxyz/"),
        ),
        (
            "str(xFOO12y),regsub(\"(foo|bar)([0-9]+)?\",\"\\2\\1\",i)",
            Some("x12FOOy"),
        ),
        (
            "str(xFOO12y),regsub(\"(foo|bar)([0-9]+)?\",\"\\2\\1\")",
            Some("xFOO12y"),
        ),
        ("str(abc),regsub(x*,-,g)", Some("-a-b-c-")),
        ("str(abc),regsub(x*,-)", Some("-abc")),
        ("str(abc),regsub(b*,-,g)", Some("-a--c-")),
        ("str(abc),regsub(^,-,g)", Some("-abc")),
        ("str(aaa),regsub(^a,-,g)", Some("-aa")),
        ("str(abc),regsub(b,\\x41)", Some("aAc")),
        ("str(abc),regsub(b,[\\\\0])", Some("a[b]c")),
        ("str(ab),regsub(a,\\1)", Some("b")),
        ("str(ab),regsub('(?i)A',x)", Some("xb")),
        ("str(ab),regsub(a,'x\\\\y')", Some("x\\yb")),
        ("str(ab),regsub(a,\"x\\\\y\")", Some("xyb")),
        ("str(ab),regsub(a,x\\\\y)", Some("xyb")),
        ("str(ab),regsub(a,'x\\y')", Some("xyb")),
    ]);
}

#[test]
fn arithmetic() {
    check(&[
        ("int(5),add(3)", Some("8")),
        ("int(5),sub(3)", Some("2")),
        ("int(5),sub(-3)", Some("8")),
        ("int(5),mul(3)", Some("15")),
        ("int(7),div(2)", Some("3")),
        ("int(-7),div(2)", Some("-3")),
        ("int(7),div(0)", Some("9223372036854775807")),
        ("int(-7),mod(3)", Some("-1")),
        ("int(7),mod(0)", Some("0")),
        ("int(7),neg", Some("-7")),
        ("int(12),and(10)", Some("8")),
        ("int(12),or(3)", Some("15")),
        ("int(12),xor(10)", Some("6")),
        ("int(12),cpl", Some("-13")),
        ("int(0),bool", Some("0")),
        ("int(-7),bool", Some("1")),
        ("int(0),not", Some("1")),
        ("int(3),odd", Some("1")),
        ("int(-7),odd", Some("1")),
        ("int(3),even", Some("0")),
        (
            "int(9223372036854775807),add(1)",
            Some("9223372036854775807"),
        ),
        (
            "int(-9223372036854775808),sub(1)",
            Some("-9223372036854775808"),
        ),
        (
            "int(9223372036854775807),mul(2)",
            Some("9223372036854775807"),
        ),
        ("int(-9223372036854775808),neg", Some("9223372036854775807")),
        (
            "int(-9223372036854775808),div(-1)",
            Some("9223372036854775807"),
        ),
        // haproxy 2.6.12 prints 9223372036854775807 for these two (an overflow-check bug fixed
        // upstream); the manual documents saturation only on overflow
        ("int(-1),add(-1)", Some("-2")),
        ("int(-5),sub(3)", Some("-8")),
        // operands from variables, cast to integers
        ("int(5),add(txn.i)", Some("12")),
        ("int(5),add(txn.n)", Some("17")),
        ("int(5),add(txn.nope)", None),
        ("int(5),add(txn.s)", Some("5")),
        ("int(5),add(txn.e)", None),
        ("int(5),add(txn.ip)", Some("2130706438")),
        ("int(5),add(txn.bo)", Some("6")),
        // inputs cast to integers
        ("str(abc),add(1)", Some("1")),
        ("str(),add(1)", None),
        ("str(12abc),add(1)", Some("13")),
        ("str(-12),add(1)", Some("-11")),
        ("str(+7),add(1)", Some("8")),
        ("ipv4(1.2.3.4),add(1)", Some("16909061")),
        ("bool(1),add(1)", Some("2")),
        ("src,add(0)", Some("2130706433")),
        ("var(txn.s),add(1)", Some("1")),
        ("str(abc),bool", Some("0")),
        ("str(0),bool", Some("0")),
        ("str(),bool", None),
        ("ipv4(1.2.3.4),bool", Some("1")),
        ("str(12),not", Some("0")),
    ]);
}

#[test]
fn concatenation_and_comparison() {
    check(&[
        ("str(a),concat(<,txn.s,>)", Some("a<hello>")),
        ("str(a),concat(<,txn.nope,>)", Some("a<>")),
        ("str(a),concat(<,txn.i,>)", Some("a<7>")),
        ("str(a),concat(<,txn.ip,>)", Some("a<127.0.0.1>")),
        ("str(a),concat(<,txn.b,>)", Some("a<>")),
        ("str(a),concat(<,txn.bo,>)", Some("a<1>")),
        ("str(a),concat(x)", Some("ax")),
        ("str(a),concat", Some("a")),
        ("str(a),concat(,txn.big)", Some("a258")),
        ("str(a),add_item(\",\",txn.s,\"(s)\")", Some("a,hello(s)")),
        ("str(),add_item(\",\",txn.s,\"(s)\")", Some("hello(s)")),
        ("str(a),add_item(\",\",txn.e)", Some("a")),
        ("str(a),add_item(\",\",txn.nope)", Some("a")),
        ("str(a),add_item(\",\",txn.nope,x)", Some("a,x")),
        ("str(a),add_item(\",\",,\"(site1)\")", Some("a,(site1)")),
        ("str(a),add_item(-,txn.big,x)", Some("a-258x")),
        ("str(hello),strcmp(txn.s)", Some("0")),
        ("str(hell),strcmp(txn.s)", Some("-1")),
        ("str(hellp),strcmp(txn.s)", Some("1")),
        ("str(hellz),strcmp(txn.s)", Some("11")),
        ("str(hella),strcmp(txn.s)", Some("-14")),
        ("str(hello!),strcmp(txn.s)", Some("1")),
        ("str(a),strcmp(txn.nope)", None),
        ("str(7),strcmp(txn.i)", Some("0")),
        ("str(hello),secure_memcmp(txn.s)", Some("1")),
        ("str(hellx),secure_memcmp(txn.s)", Some("0")),
        ("str(hello),secure_memcmp(txn.nope)", None),
        ("str(258),secure_memcmp(txn.big)", Some("0")),
        ("bin(0000000000000102),secure_memcmp(txn.big)", Some("1")),
    ]);
}

#[test]
fn hashes_and_digests() {
    check(&[
        ("str(abc),crc32", Some("891568578")),
        ("str(abc),crc32(1)", Some("930845320")),
        ("str(abc),crc32(2)", Some("930845320")),
        ("str(),crc32", Some("0")),
        ("str(),crc32(1)", Some("2874071335")),
        ("str(abc),crc32c", Some("910901175")),
        ("str(abc),wt6", Some("2483038440")),
        ("str(abc),wt6(1)", Some("266135527")),
        ("str(),wt6", Some("4187620192")),
        ("str(abc),djb2", Some("193485963")),
        ("str(abc),djb2(1)", Some("2235766107")),
        ("str(),djb2(1)", Some("3719394183")),
        ("str(a),djb2", Some("177670")),
        ("str(a),djb2(1)", Some("3548763807")),
        ("str(abc),sdbm", Some("807794786")),
        ("str(abc),sdbm(1)", Some("659243622")),
        ("str(abc),xxh32", Some("852579327")),
        ("str(abc),xxh32(1)", Some("2856167679")),
        ("str(a),xxh32(-1)", Some("3443684653")),
        ("str(abc),xxh64", Some("4952883123889572249")),
        ("str(abc),xxh64(1)", Some("-4708009277469325048")),
        ("str(abc),xxh64(-1)", Some("2895935887265243510")),
        ("str(abc),xxh3", Some("8696274497037089104")),
        ("str(abc),xxh3(1)", Some("7729416884403528232")),
        ("str(a),crc32()", Some("3904355907")),
        ("str(abc),sha1,hex", Some("A9993E364706816ABA3E25717850C26C9CD0D89D")),
        (
            "str(abc),sha2,hex",
            Some("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"),
        ),
        (
            "str(abc),sha2(224),hex",
            Some("23097D223405D8228642A477BDA255B32AADBCE4BDA0B3F7E36C9DA7"),
        ),
        (
            "str(abc),sha2(384),hex",
            Some("CB00753F45A35E8BB5A03D699AC65007272C32AB0EDED1631A8B605A43FF5BED8086072BA1E7CC2358BAECA134C825A7"),
        ),
        (
            "str(abc),sha2(512),hex",
            Some("DDAF35A193617ABACC417349AE20413112E6FA4E89A97EA20A9EEEE64B55D39A2192992A274FC1A836BA3C23A3FEEBBD454D4423643CE80E2A9AC94FA54CA49F"),
        ),
        (
            "str(abc),digest(md5),hex",
            Some("900150983CD24FB0D6963F7D28E17F72"),
        ),
        (
            "str(abc),digest(sha256),hex",
            Some("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"),
        ),
        (
            "str(abc),digest(SHA256),hex",
            Some("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"),
        ),
        (
            "str(abc),digest(sha512-256),hex",
            Some("53048E2681941EF99B2E29B76B4C7DABE4C2D0C634FC6D46E0E2F13107E7AF23"),
        ),
    ]);
}

#[test]
fn addresses() {
    check(&[
        ("ipv4(192.168.1.77),ipmask(24)", Some("192.168.1.0")),
        (
            "ipv4(192.168.1.77),ipmask(255.255.0.0)",
            Some("192.168.0.0"),
        ),
        ("ipv4(192.168.1.77),ipmask(255.0.255.0)", Some("192.0.1.0")),
        ("ipv6(2001:db8::1234),ipmask(24)", None),
        ("ipv6(2001:db8::1234),ipmask(24,64)", Some("2001:db8::")),
        ("ipv6(::ffff:10.1.2.3),ipmask(24,64)", Some("10.1.2.0")),
        (
            "ipv6(2001:db8::1234),ipmask(24,ffff:ff00::)",
            Some("2001:d00::"),
        ),
        ("str(10.1.2.3),ipmask(8)", Some("10.0.0.0")),
        ("str(10.1.2.3x),ipmask(8)", Some("10.0.0.0")),
        ("str(::1),ipmask(8,16)", Some("::")),
        ("str(::ffff:1.2.3.4),ipmask(16)", Some("1.2.0.0")),
        ("str(1:2::3),ipmask(8,::ffff:0:0)", Some("::")),
        ("str(::1.2.3.4),ipmask(8,128)", Some("::1.2.3.4")),
        ("str(1.2.3.4junk),ipmask(32)", Some("1.2.3.4")),
        ("str(1.2.3),ipmask(32)", None),
        ("str(1.2.3.4.),ipmask(32)", None),
        ("str(01.2.3.4),ipmask(32)", Some("1.2.3.4")),
        ("str(256.2.3.4),ipmask(32)", None),
        ("int(16909060),ipmask(32)", Some("1.2.3.4")),
        ("int(-2),ipmask(32)", Some("255.255.255.254")),
        ("int(-1),ipmask(32),hex", Some("FFFFFFFF")),
        ("ipv4(1.2.3.4),ipmask(0)", Some("0.0.0.0")),
        ("ipv4(1.2.3.4),ipmask(0.255.0.0)", Some("0.2.0.0")),
        ("src,ipmask(24,64)", Some("127.0.0.0")),
        ("var(txn.ip),ipmask(24)", Some("127.0.0.0")),
    ]);
}

#[test]
fn dates() {
    check(&[
        (
            "int(1404998630),utime(%Y%m%d%H%M%S)",
            Some("20140710132350"),
        ),
        (
            "int(1404998630),ltime(%Y%m%d%H%M%S)",
            Some("20140710132350"),
        ),
        (
            "int(1404998630),utime(%Y%m%d%H%M%S,3600)",
            Some("20140710142350"),
        ),
        ("int(1404998630),utime(%)", Some("%")),
        ("int(1404998630),utime()", Some("")),
        ("int(1609657509),ltime(%Z)", Some("UTC")),
        (
            "int(1609657509),utime(\"%_5d|%-5d|%05e|%3a|%^10b|%#Z|%#a|%_Y|%3j|%C|%-j\")",
            Some("    3|    3|00003|Sun|       JAN|gmt|SUN|2021|003|20|3"),
        ),
        (
            "int(1404998630),http_date",
            Some("Thu, 10 Jul 2014 13:23:50 GMT"),
        ),
        (
            "int(1404998630),http_date(3600)",
            Some("Thu, 10 Jul 2014 14:23:50 GMT"),
        ),
        (
            "int(1404998630123),http_date(0,ms)",
            Some("Thu, 10 Jul 2014 13:23:50.123 GMT"),
        ),
        (
            "int(1404998630005),http_date(0,ms)",
            Some("Thu, 10 Jul 2014 13:23:50.5 GMT"),
        ),
        (
            "int(1404998630000005),http_date(0,us)",
            Some("Thu, 10 Jul 2014 13:23:50.5 GMT"),
        ),
        (
            "int(1404998630),http_date(0,s)",
            Some("Thu, 10 Jul 2014 13:23:50 GMT"),
        ),
        // haproxy 2.6.12 prints a year 1141709097 for these; fulcrum's calendar stops earlier
        // and reports the sample absent
        ("int(-1),utime(%Y-%m-%d)", None),
        ("int(-1),http_date", None),
    ]);
}

#[test]
fn local_time_uses_the_context_offset() {
    let mut c = ctx();
    c.utc_offset = 7200;
    assert_eq!(
        c.eval("int(1404998630),ltime(%H:%M %z %Z)").as_deref(),
        Some("15:23 +0200 +0200")
    );
    assert_eq!(
        c.eval("int(1404998630),utime(%H:%M %z %Z)").as_deref(),
        Some("13:23 +0000 GMT")
    );
}

#[test]
fn big_endian_and_trims() {
    check(&[
        // the documentation's examples
        ("bin(01020304050607),be2dec(:,2)", Some("258:772:1286:7")),
        ("bin(01020304050607),be2dec(-,2,1)", Some("258-772-1286")),
        ("bin(01020304050607),be2dec(,2,1)", Some("2587721286")),
        ("bin(7f000001),be2dec(.,1)", Some("127.0.0.1")),
        ("bin(01020304050607),be2hex", Some("01020304050607")),
        ("bin(01020304050607),be2hex(:,2)", Some("0102:0304:0506:07")),
        (
            "bin(01020304050607),be2hex(--,2,1)",
            Some("0102--0304--0506"),
        ),
        ("bin(0102030405060708),be2hex(,3,1)", Some("010203040506")),
        // observed
        ("bin(0102030405060708),be2hex(,3)", Some("0102030405060708")),
        ("str(ab),be2hex(,0)", Some("6162")),
        ("str(abc),be2dec(,2,1)", Some("24930")),
        ("str(abc),be2dec(,2)", Some("2493099")),
        (
            "bin(ffffffffffffffffff),be2dec(:,8)",
            Some("18446744073709551615:255"),
        ),
        ("str('  abc  '),ltrim(' ')", Some("abc  ")),
        ("str('  abc  '),rtrim(' ')", Some("  abc")),
        ("str(xxabcxy),ltrim(xy)", Some("abcxy")),
        ("str(xxabcxy),rtrim(xy)", Some("xxabc")),
        ("str(ab),ltrim()", Some("ab")),
        ("str(a),ltrim", Some("a")),
        ("str(a\\r\\nb),cut_crlf", Some("a")),
    ]);
}

#[test]
fn iif_and_htonl() {
    check(&[
        ("int(5),iif(a,b)", Some("a")),
        ("int(0),iif(a,b)", Some("b")),
        ("str(0),iif(a,b)", Some("b")),
        ("str(x),iif(a,b)", Some("b")),
        ("str(),iif(a,b)", None),
        ("always_true,iif(yes,no)", Some("yes")),
        ("int(258),htonl,hex", Some("00000102")),
        ("int(-1),htonl,hex", Some("FFFFFFFF")),
    ]);
}

#[test]
fn chains_and_commas() {
    check(&[
        ("str(a),,lower", Some("a")),
        ("str(A),lower,", Some("a")),
        ("str(a),lower(),upper", Some("A")),
        ("str(ab),lower(),upper()", Some("AB")),
        ("str(a),json(utf8),upper", Some("A")),
    ]);
}

#[test]
fn typed_results() {
    let c = ctx();
    assert_eq!(c.value("int(3),odd"), Some(Value::Bool(true)));
    assert_eq!(c.value("str(ff),hex2i"), Some(Value::Int(255)));
    assert_eq!(
        c.value("str(abc),sha1").map(|v| v.kind()),
        Some(fulcrum_sample::Type::Bin)
    );
    assert_eq!(
        c.value("ipv6(::ffff:10.1.2.3),ipmask(24,64)"),
        Some(Value::Ipv4(Ipv4Addr::new(10, 1, 2, 0)))
    );
    assert_eq!(c.value("var(txn.i)"), Some(Value::Int(7)));
}

#[test]
fn hmac() {
    let c = ctx().var("txn.key", Value::string("bXlfc3VwZXJfc2VjcmV0X2xvbmdfa2V5"));
    for (expr, want) in [
        // RFC 2202 / RFC 4231 style checks, values observed with haproxy 2.6.12
        ("str(1),hmac(sha1,a2V5),hex", Some("E23FEB105F9622241BF23DB1638CD2B4208B1F53")),
        ("str(x),hmac(md5,a2V5),hex", Some("73D8B173B9FD35A933E2F69033F551C3")),
        ("str(x),hmac(sha224,a2V5),hex", Some("F2D6C3E32D03EE93C0C5B2E43A9A56EA1B2CE2B61861528F73831AE8")),
        ("str(x),hmac(SHA384,a2V5),hex", Some("0335FDF7D6DAF2D3F2CF9161E3FD5310FB816196FBC8188A16CAC3E25B5F43BCF6780390589C4470B825E505DFA9DF13")),
        ("str(x),hmac(sha512,a2V5),hex", Some("57B78C19ABA1F91DA14B69EE190CDF3926645993B1F555FA48C4674FD03E9DDA0A5DC3943B590888D7BE6E2D3B851CC8C39AEFC9BA28013C16739ED30338F19E")),
        ("str(),hmac(sha1,a2V5),hex", Some("F42BB0EEB018EBBD4597AE7213711EC60760843F")),
        // a key longer than the block is hashed first
        ("str(hello),hmac(sha256,bXlfc3VwZXJfc2VjcmV0X2xvbmdfa2V5X3RoYXRfaXNfbG9uZ2VyX3RoYW5fNjRfYnl0ZXNfZm9yX3N1cmVfeWVzX2luZGVlZA==),hex",
            Some("609A8A6E2BD12CCDE2A1DFF43BD643F02FFAA64F7863E4FFF55B246C2DB1DF01")),
        // the key from a variable (base64 too); an unset variable makes the sample absent
        ("str(1),hmac(sha1,txn.key),hex,lower", Some("87b10ddcf39e26f6bd7c3b0e38e0125997b255be")),
        ("str(x),hmac(sha1,txn.nokey),hex", None),
        ("str(x),hmac(sha1,txn.s),hex", None),
    ] {
        assert_eq!(c.eval(expr).as_deref(), want, "{expr}");
    }
}

/// A FIX message with the right BodyLength and CheckSum around `body` (`|` stands for SOH), as
/// hexadecimal for `bin()`.
fn fix_hex(version: &str, body: &str, sum_delta: u32) -> String {
    let body = body.replace('|', "\x01");
    let mut m = format!("8={version}\x019={}\x01{body}", body.len()).into_bytes();
    let sum = (m.iter().map(|&c| u32::from(c)).sum::<u32>() + sum_delta) % 256;
    m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    m.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn fix() {
    // values observed with haproxy 2.6.12 on the same messages
    let cases = [
        ("FIX.4.4", "35=A|49=C|56=E|", 0, Some("1"), Some("C")),
        ("FIXT.1.1", "35=A|49=C|56=E|", 0, Some("1"), Some("C")),
        ("FIX.5.0", "35=A|49=C|56=E|", 0, Some("0"), Some("C")),
        ("FIX.4.x", "35=A|49=C|56=E|", 0, Some("0"), Some("C")),
        ("FOO.4.4", "35=A|49=C|56=E|", 0, Some("0"), Some("C")),
        ("FIX.4.4", "35=A|49=C|56=E|", 1, Some("0"), Some("C")),
        ("FIX.4.4", "35=A|", 0, Some("1"), None),
        ("FIX.4.4", "35=A|10=000|56=E|", 0, Some("0"), None),
        ("FIX.4.4", "35=A|0049=C|56=E|", 0, Some("1"), Some("C")),
    ];
    let c = ctx();
    for (version, body, delta, valid, sender) in cases {
        let hex = fix_hex(version, body, delta);
        let e = format!("bin({hex}),fix_is_valid");
        assert_eq!(c.eval(&e).as_deref(), valid, "{version} {body}");
        let e = format!("bin({hex}),fix_tag_value(SenderCompID)");
        assert_eq!(c.eval(&e).as_deref(), sender, "{version} {body}");
    }
    let hex = fix_hex("FIX.4.4", "35=A|49=C|56=E|", 0);
    for (tag, want) in [
        ("MsgType", "A"),
        ("msgtype", "A"),
        ("35", "A"),
        ("8", "FIX.4.4"),
        ("BodyLength", "15"),
    ] {
        assert_eq!(
            c.eval(&format!("bin({hex}),fix_tag_value({tag})"))
                .as_deref(),
            Some(want)
        );
    }
    // what follows the checksum (the next message) does not matter
    assert_eq!(
        c.eval(&format!("bin({hex}585858),fix_is_valid")).as_deref(),
        Some("1")
    );
    assert_eq!(c.eval("str(garbage),fix_is_valid").as_deref(), Some("0"));
}

#[test]
fn mqtt() {
    // an MQTT 5.0 CONNECT with a will, will properties, user name and password, and a 5.0
    // CONNACK with properties; values observed with haproxy 2.6.12
    let connect = "107e00044d51545405ee003c182700000014170126000161000162260001630001642100140008746573745f7375622a03000a746578742f706c61696e08000c77696c6c727370746f7069632600016500016626000167000168000977696c6c746f706963000b77696c6c7061796c6f61640004746573740006706173737764";
    let connack = "20250000221100000078217fff24012501270000ffff22000a2600016100016226000163000164";
    let c = ctx();
    for (hex, conv, want) in [
        (connect, "mqtt_is_valid", Some("1")),
        (connack, "mqtt_is_valid", Some("1")),
        ("20020000", "mqtt_is_valid", Some("1")),
        ("21020000", "mqtt_is_valid", Some("0")),
        ("c000", "mqtt_is_valid", Some("0")),
        // incomplete: undecided
        ("101a00044d515454", "mqtt_is_valid", None),
        (connect, "mqtt_field_value(connect,flags)", Some("238")),
        (
            connect,
            "mqtt_field_value(CONNECT,protocol_name)",
            Some("MQTT"),
        ),
        (connect, "mqtt_field_value(1,protocol_version)", Some("5")),
        (
            connect,
            "mqtt_field_value(connect,client_identifier)",
            Some("test_sub"),
        ),
        (
            connect,
            "mqtt_field_value(connect,will_topic)",
            Some("willtopic"),
        ),
        (
            connect,
            "mqtt_field_value(connect,will_payload)",
            Some("willpayload"),
        ),
        (connect, "mqtt_field_value(connect,username)", Some("test")),
        (
            connect,
            "mqtt_field_value(connect,password)",
            Some("passwd"),
        ),
        (connect, "mqtt_field_value(connect,keepalive)", Some("60")),
        (connect, "mqtt_field_value(connect,39)", Some("20")),
        (connect, "mqtt_field_value(connect,3)", Some("text/plain")),
        (connect, "mqtt_field_value(connect,17)", Some("0")),
        (connect, "mqtt_field_value(connect,22)", None),
        (connect, "mqtt_field_value(connack,flags)", None),
        (
            connack,
            "mqtt_field_value(connack,protocol_version)",
            Some("5"),
        ),
        (connack, "mqtt_field_value(connack,reason_code)", Some("0")),
        (connack, "mqtt_field_value(2,17)", Some("120")),
        (connack, "mqtt_field_value(connack,33)", Some("32767")),
        (connack, "mqtt_field_value(connack,19)", Some("0")),
        ("20020100", "mqtt_field_value(connack,flags)", Some("1")),
        (
            "20020006",
            "mqtt_field_value(connack,reason_code)",
            Some("6"),
        ),
        (
            "20020000",
            "mqtt_field_value(connack,protocol_version)",
            Some("4"),
        ),
        ("20020000", "mqtt_field_value(connack,17)", None),
    ] {
        assert_eq!(
            c.eval(&format!("bin({hex}),{conv}")).as_deref(),
            want,
            "{hex} {conv}"
        );
    }
}
