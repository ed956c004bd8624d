//! Parsing never panics, whatever the text; and what parses evaluates without panicking,
//! whatever the request holds.

mod common;

use common::Ctx;
use fulcrum_sample::{Expr, LogFormat, Value};
use proptest::prelude::*;

/// Keywords, so that generated text reaches the argument checks and the converters.
const WORDS: &[&str] = &[
    "str",
    "int",
    "bool",
    "ipv4",
    "ipv6",
    "bin",
    "var",
    "env",
    "method",
    "path",
    "query",
    "url",
    "base",
    "req.hdr",
    "hdr",
    "req.fhdr",
    "req.hdr_cnt",
    "res.hdr",
    "status",
    "src",
    "dst_port",
    "url_param",
    "req.cook",
    "res.cook",
    "date",
    "rand",
    "lower",
    "upper",
    "base64",
    "b64dec",
    "url_dec",
    "url_enc",
    "hex",
    "hex2i",
    "length",
    "bytes",
    "field",
    "word",
    "regsub",
    "json",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "neg",
    "and",
    "cpl",
    "bool",
    "not",
    "odd",
    "concat",
    "add_item",
    "strcmp",
    "secure_memcmp",
    "crc32",
    "djb2",
    "sdbm",
    "xxh32",
    "xxh64",
    "sha1",
    "sha2",
    "digest",
    "ipmask",
    "ltime",
    "utime",
    "http_date",
    "be2dec",
    "be2hex",
    "ltrim",
    "rtrim",
    "iif",
    "htonl",
    "ub64dec",
    "cut_crlf",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(WORDS).prop_map(str::to_string),
        "[a-z_.:+-]{0,6}",
    ]
}

fn arg() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,20}",
        "(txn|req|sess)\\.[a-z]{1,3}",
        "[%a-zA-Z0-9 ,()'\"\\\\.:/?=&;_*+^$\\[\\]{}|-]{0,12}",
        Just("%Y-%m-%d %H:%M:%S %Z %z %#b %_5d %".to_string()),
    ]
}

fn call() -> impl Strategy<Value = String> {
    (word(), prop::option::of(prop::collection::vec(arg(), 0..4))).prop_map(|(w, a)| match a {
        None => w,
        Some(a) => format!("{w}({})", a.join(",")),
    })
}

fn expr() -> impl Strategy<Value = String> {
    prop::collection::vec(call(), 1..5).prop_map(|c| c.join(","))
}

/// A fetch that loads, with random arguments.
fn valid_fetch() -> impl Strategy<Value = String> {
    let n = any::<i64>();
    prop_oneof![
        "[a-zA-Z0-9 :/._-]{0,12}".prop_map(|s| format!("str('{s}')")),
        n.prop_map(|n| format!("int({n})")),
        (-10i64..20).prop_map(|n| format!("req.hdr(x-a,{n})")),
        Just("req.fhdr(cookie)".to_string()),
        Just("req.cook(a)".to_string()),
        Just("url_param(a)".to_string()),
        Just("path".to_string()),
        Just("query".to_string()),
        Just("base".to_string()),
        Just("src".to_string()),
        Just("var(txn.a)".to_string()),
        Just("var(req.b)".to_string()),
        Just("var(sess.c)".to_string()),
        Just("bin(00ff41c3)".to_string()),
        Just("date".to_string()),
        n.prop_map(|n| format!("rand({n})")),
    ]
}

/// A converter that loads, with random arguments.
fn valid_conv() -> impl Strategy<Value = String> {
    let n = any::<i64>();
    let small = -40i64..40;
    prop_oneof![
        prop::sample::select(vec![
            "lower",
            "upper",
            "length",
            "base64",
            "b64dec",
            "url_dec",
            "url_dec(1)",
            "url_enc",
            "hex",
            "hex2i",
            "json",
            "json(utf8s)",
            "json(utf8p)",
            "neg",
            "cpl",
            "bool",
            "not",
            "odd",
            "concat(<,txn.a,>)",
            "add_item(-,req.b)",
            "strcmp(txn.a)",
            "secure_memcmp(sess.c)",
            "crc32(1)",
            "djb2",
            "xxh64",
            "xxh3(7)",
            "sha2(512)",
            "digest(md5)",
            "ipmask(24,64)",
            "ltime(%c)",
            "ltrim(a)",
            "rtrim(/)",
            "iif(y,n)",
            "htonl",
            "cut_crlf",
            "ub64dec",
            "ub64enc",
            "regsub('a+',x,g)",
            "regsub(^,-)",
            "sub(txn.a)",
            "word(-1,/)",
        ])
        .prop_map(str::to_string),
        (small.clone(), small.clone()).prop_map(|(a, b)| format!("bytes({a},{b})")),
        (small.clone(), small.clone())
            .prop_map(|(i, c)| { format!("field({},:/,{c})", if i == 0 { 1 } else { i }) }),
        (small.clone(), 0i64..3)
            .prop_map(|(i, c)| { format!("word({},/ ,{c})", if i == 0 { -1 } else { i }) }),
        n.prop_map(|n| format!("add({n})")),
        n.prop_map(|n| format!("mul({n})")),
        n.prop_map(|n| format!("div({n})")),
        n.prop_map(|n| format!("mod({n})")),
        n.prop_map(|n| format!("utime('%Y %b %d %Z %s %G',{n})")),
        n.prop_map(|n| format!("http_date({n},ms)")),
        (1i64..=8).prop_map(|c| format!("be2dec(:,{c},1)")),
        (1i64..=9).prop_map(|c| format!("be2hex(-,{c})")),
    ]
}

fn ctx(uri: String, headers: Vec<(String, String)>) -> Ctx {
    let mut c = Ctx::new()
        .uri(&uri)
        .var("txn.a", Value::string("12x"))
        .var("req.b", Value::Int(-3))
        .var("sess.c", Value::bin(vec![0, 255, 1]));
    for (n, v) in headers {
        c = c.hdr(&n, &v);
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_text_parses_or_errs(s in "\\PC{0,64}") {
        let _ = Expr::parse(&s);
        let _ = Expr::parse_prefix(&s);
        let _ = LogFormat::parse(&s);
        let _ = LogFormat::parse(&format!("%[{s}]"));
    }

    #[test]
    fn any_bytes_as_text(b in prop::collection::vec(any::<u8>(), 0..64)) {
        let s = String::from_utf8_lossy(&b);
        let _ = Expr::parse(&s);
        let _ = LogFormat::parse(&s);
    }

    #[test]
    fn structured_expressions_evaluate(
        e in expr(),
        uri in "[/a-z?=&;%0-9+]{0,24}",
        headers in prop::collection::vec(
            (prop::sample::select(vec!["host", "cookie", "x-a", "set-cookie"]),
             "[ a-z0-9=;,\"\\\\]{0,20}"),
            0..4,
        ),
    ) {
        let c = ctx(uri, headers.into_iter().map(|(n, v)| (n.to_string(), v)).collect());
        if let Ok(x) = Expr::parse(&e) {
            let _ = x.eval(&c);
            let _ = x.eval_to_string(&c);
            prop_assert_eq!(x.source(), e.trim_end_matches(','));
        }
        if let Ok(f) = LogFormat::parse(&format!("a %[{e}] %ci %%")) {
            let mut out = Vec::new();
            f.render(&c, &mut out, &mut |_, _, _| std::ops::ControlFlow::Continue(()));
        }
    }

    #[test]
    fn valid_chains_evaluate(
        f in valid_fetch(),
        convs in prop::collection::vec(valid_conv(), 0..5),
        uri in "[/a-z?=&;%0-9+:]{0,24}",
        xa in "[ a-z0-9=;,\"\\/]{0,20}",
    ) {
        let mut text = f;
        for c in convs {
            text.push(',');
            text.push_str(&c);
        }
        let c = ctx(uri, vec![("x-a".into(), xa.clone()), ("cookie".into(), xa)]);
        match Expr::parse(&text) {
            Ok(e) => {
                let _ = e.eval(&c);
            }
            // only the type check may refuse these (for instance a boolean into ipmask)
            Err(err) => prop_assert!(
                matches!(err, fulcrum_sample::Error::CannotApply { .. }),
                "{}: {}", text, err
            ),
        }
    }

    #[test]
    fn values_cast_without_panicking(
        b in prop::collection::vec(any::<u8>(), 0..24),
        i in any::<i64>(),
    ) {
        use fulcrum_sample::Type::*;
        for v in [Value::bin(b.clone()), Value::Str(b.clone().into()), Value::Int(i), Value::Bool(i & 1 == 1)] {
            for t in [Any, Bool, Int, Addr, Ipv4, Ipv6, Str, Bin, Meth] {
                let _ = v.clone().cast(t);
            }
            let _ = v.as_str_bytes();
        }
    }
}
