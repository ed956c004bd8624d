//! HAProxy 2.6's conditional blocks (`.if`/`.elif`/`.else`/`.endif`), messages (`.diag`/`.notice`/`.warning`/
//! `.alert`) and the `-cc` evaluator. Where the outcome does not depend on the environment, the version or the build
//! features, the real haproxy (when present) is asked too.

#[path = "haproxy_util.rs"]
mod util;

use std::path::PathBuf;
use std::process::Command;

use fulcrum_config::diag::Severity;
use fulcrum_config::haproxy::cond::{self, CondError};
use fulcrum_config::haproxy::{parse_sources_with, ParseOptions};
use util::*;

#[test]
fn taken_and_dropped_branches() {
    let c = ok_both(
        "global\n\
         .if 1\n\
         \x20maxconn 10\n\
         .else\n\
         \x20frobnicate everything\n\
         \x20.whatever\n\
         \x20.alert \"not taken\"\n\
         .endif\n\
         .if 0\n\
         \x20maxconn 20\n\
         .endif\n",
    );
    assert_eq!(c.global.maxconn, Some(10));
    assert!(c.warnings.is_empty());
}

#[test]
fn elif_chain_takes_the_first_true_branch_only() {
    for (cond1, cond2, want) in [("0", "1", 2), ("1", "1", 1), ("0", "0", 3), ("1", "0", 1)] {
        let c = ok_both(&format!(
            "global\n\
             .if {cond1}\n maxconn 1\n\
             .elif {cond2}\n maxconn 2\n\
             .elif 1\n maxconn 3\n\
             .endif\n"
        ));
        let got = c.global.maxconn;
        // when neither is true the third branch (`.elif 1`) is taken
        assert_eq!(got, Some(want), "{cond1} {cond2}");
    }
    let c = ok_both("global\n.if 0\n maxconn 1\n.elif 0\n maxconn 2\n.else\n maxconn 3\n.endif\n");
    assert_eq!(c.global.maxconn, Some(3));
}

#[test]
fn nesting() {
    let text = "global\n\
                .if 1\n\
                \x20 .if 0\n\
                \x20   maxconn 1\n\
                \x20 .elif streq(a,a)\n\
                \x20   .if !0 && (0 || 1)\n\
                \x20     maxconn 2\n\
                \x20   .endif\n\
                \x20 .else\n\
                \x20   maxconn 3\n\
                \x20 .endif\n\
                .else\n\
                \x20 .if 1\n\
                \x20   maxconn 4\n\
                \x20 .else\n\
                \x20   maxconn 5\n\
                \x20 .endif\n\
                .endif\n";
    assert_eq!(ok_both(text).global.maxconn, Some(2));
}

#[test]
fn conditions_that_cannot_be_taken_are_not_evaluated() {
    // an `.elif` after a taken branch, and an `.if` inside a dropped branch
    ok_both("global\n.if 1\n.elif bad(\n.endif\n.if 0\n .if bad(\n .endif\n.endif\n");
    // but an `.elif` that may be taken is
    let e = err_both("global\n.if 0\n.elif bad(\n.endif\n");
    assert_eq!((e[0].0, e[0].1.as_str()), (3, ".elif"));
    assert!(e[0].2.contains("unparsable"), "{e:?}");
}

#[test]
fn empty_condition_is_false() {
    let c = ok_both(
        "global\n.if\n maxconn 1\n.else\n maxconn 2\n.endif\n.if \"\"\n maxconn 3\n.endif\n",
    );
    assert_eq!(c.global.maxconn, Some(2));
}

#[test]
fn bad_conditions_name_the_line() {
    for (cond, needle) in [
        ("200rrr", "unexpected character 'r'"),
        ("!(0))", "unexpected character ')'"),
        ("1 &&", "unparsable"),
        ("foo(1)", "unparsable"),
        ("(1", "expected ')'"),
        ("streq(a)", "expects 2 argument"),
        ("streq (a,a)", "expects 2 argument"),
        ("streq(a,b,c)", "expected ')'"),
    ] {
        let text = format!("global\n maxconn 1\n.if {cond}\n.endif\n");
        let e = err_both(&text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!((e[0].0, e[0].1.as_str()), (3, ".if"), "{cond}");
        assert!(e[0].2.contains(needle), "{cond}: {}", e[0].2);
    }
}

#[test]
fn a_bad_condition_drops_its_whole_block() {
    // neither branch is taken, and nothing else is reported about them
    let e = errs("global\n.if bad(\n nonsense\n.else\n more nonsense\n.endif\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, 2);
}

#[test]
fn structure_errors() {
    let cases: &[(&str, usize, &str, &str)] = &[
        ("global\n.else\n", 2, ".else", "without a matching '.if'"),
        ("global\n.elif 1\n", 2, ".elif", "without a matching '.if'"),
        ("global\n.endif\n", 2, ".endif", "without a matching '.if'"),
        (
            "global\n.if 1\n.else\n.elif 1\n.endif\n",
            4,
            ".elif",
            "after '.else'",
        ),
        (
            "global\n.if 0\n.else\n.else\n.endif\n",
            4,
            ".else",
            "second '.else'",
        ),
        (
            "global\n.if 1\n.endif x\n",
            3,
            ".endif",
            "unexpected argument 'x'",
        ),
        (
            "global\n.if 1\n.else x\n.endif\n",
            3,
            ".else",
            "unexpected argument 'x'",
        ),
        ("global\n.foo\n", 2, ".foo", "unknown directive '.foo'"),
        ("global\n.warning a b\n", 2, ".warning", "put it in quotes"),
        (
            "global\n.if 1\n .alert \"stop here\"\n.endif\n",
            3,
            ".alert",
            "stop here",
        ),
        ("global\n.alert\n", 2, ".alert", "without a message"),
    ];
    for (text, line, kw, needle) in cases {
        let e = err_both(text);
        assert_eq!(e.len(), 1, "{text}: {e:?}");
        assert_eq!((e[0].0, e[0].1.as_str()), (*line, *kw), "{text}: {e:?}");
        assert!(e[0].2.contains(needle), "{text}: {}", e[0].2);
    }
}

#[test]
fn unclosed_if_is_reported_where_it_opens() {
    let e = err_both("global\n.if 1\n maxconn 1\n .if 0\n .endif\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!((e[0].0, e[0].1.as_str()), (2, ".if"));
    assert!(e[0].2.contains("not closed"));
    // every open block is named
    let e = errs("global\n.if 1\n.if 0\n");
    let lines: Vec<_> = e.iter().map(|d| d.0).collect();
    assert_eq!(lines, [2, 3]);
}

#[test]
fn blocks_close_in_the_file_that_opens_them() {
    let opts = ParseOptions {
        env: &env,
        resolve: &resolve,
    };
    let sources = [
        (PathBuf::from("a.cfg"), "global\n.if 1\n".to_string()),
        (PathBuf::from("b.cfg"), " maxconn 1\n.endif\n".to_string()),
    ];
    let e = parse_sources_with(&sources, &opts).unwrap_err().0;
    let got: Vec<_> = e
        .iter()
        .map(|d| (d.location.to_string(), d.keyword.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("a.cfg:2".to_string(), ".if"),
            ("b.cfg:2".to_string(), ".endif")
        ]
    );
    // whereas a section goes on into the next file, inside a block of that file
    let sources = [
        (PathBuf::from("a.cfg"), "global\n".to_string()),
        (
            PathBuf::from("b.cfg"),
            ".if 1\n maxconn 7\n.endif\n".to_string(),
        ),
    ];
    let c = parse_sources_with(&sources, &opts).unwrap();
    assert_eq!(c.global.maxconn, Some(7));
}

#[test]
fn dropped_lines_are_still_lexed() {
    let e = err_both("global\n.if 0\n maxconn \"10\n.endif\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, 3);
    assert!(e[0].2.contains("unmatched quote"));
}

#[test]
fn a_quoting_error_on_an_if_line_does_not_cascade() {
    let e = errs("global\n.if streq(\"a,a)\n maxconn 1\n.endif\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!((e[0].0, e[0].1.as_str()), (2, ".if"));
    assert!(e[0].2.contains("unmatched quote"));
}

#[test]
fn too_deep_nesting() {
    let depth = 100;
    let text = format!(
        "global\n{}{}",
        ".if 1\n".repeat(depth),
        ".endif\n".repeat(depth)
    );
    let e = errs(&text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!((e[0].0, e[0].1.as_str()), (depth + 1, ".if"));
    assert!(e[0].2.contains("too many nested"));
    let text = format!(
        "global\n{} maxconn 5\n{}",
        ".if 1\n".repeat(depth - 1),
        ".endif\n".repeat(depth - 1)
    );
    assert_eq!(ok(&text).global.maxconn, Some(5));
}

#[test]
fn messages_go_to_warnings() {
    let c = ok_both(
        "global\n\
         .warning \"mind the gap\"\n\
         .if 1\n\
         \x20 .notice 'hello world'\n\
         \x20 .diag details\n\
         .else\n\
         \x20 .warning hidden\n\
         .endif\n\
         .warning\n",
    );
    let got: Vec<_> = c
        .warnings
        .iter()
        .map(|w| {
            (
                w.severity,
                w.diagnostic.location.line,
                w.diagnostic.keyword.as_str(),
                w.diagnostic.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (Severity::Warning, 2, ".warning", "mind the gap"),
            (Severity::Notice, 4, ".notice", "hello world"),
            (Severity::Diag, 5, ".diag", "details"),
            (Severity::Warning, 9, ".warning", ""),
        ]
    );
    assert_eq!(
        c.warnings[0].to_string(),
        "[WARNING] t.cfg:2: '.warning': mind the gap"
    );
    assert_eq!(
        c.warnings[1].to_string(),
        "[NOTICE] t.cfg:4: '.notice': hello world"
    );
    assert_eq!(
        c.warnings[2].to_string(),
        "[DIAG] t.cfg:5: '.diag': details"
    );
}

#[test]
fn alert_fails_the_load() {
    let e = err_both("global\n maxconn 1\n.alert \"this build is not wanted\"\n");
    assert_eq!(
        e,
        [(
            3,
            ".alert".to_string(),
            "this build is not wanted".to_string()
        )]
    );
    let e = parse_str_err("global\n.alert \"no\"\n");
    assert_eq!(e, "[ALERT] t.cfg:2: '.alert': no");
}

fn parse_str_err(text: &str) -> String {
    fulcrum_config::haproxy::parse_str("t.cfg", text)
        .unwrap_err()
        .to_string()
}

#[test]
fn conditions_see_the_environment() {
    // FT_PORT is 18080 in the test environment
    let c = ok("global\n\
                .if defined(FT_PORT) && streq(\"$FT_PORT\",18080) && !defined(FT_NOPE)\n\
                \x20maxconn 1\n\
                .else\n\
                \x20maxconn 2\n\
                .endif\n\
                .if streq(\"$FT_SPACED\",\"a b\")\n\
                \x20nbthread 3\n\
                .endif\n");
    assert_eq!((c.global.maxconn, c.global.nbthread), (Some(1), Some(3)));
}

#[test]
fn features_and_versions() {
    let c = ok("global\n\
                .if feature(LUA) || openssl_version_atleast(1.0.0) || ssllib_name_startswith(Open)\n\
                \x20maxconn 1\n\
                .elif feature(OPENSSL) && feature(LINUX_SPLICE) && version_atleast(2.5-dev0) && version_before(2.7)\n\
                \x20maxconn 2\n\
                .endif\n");
    assert_eq!(c.global.maxconn, Some(2));
}

/// The environment both evaluators see in [`cc_agrees_with_haproxy`].
fn cc_env(name: &str) -> Option<String> {
    match name {
        "FT_COND_ONE" => Some("1".into()),
        "FT_COND_EMPTY" => Some(String::new()),
        "FT_COND_SPACED" => Some("a b".into()),
        _ => None,
    }
}

/// fulcrum's answer in the form of `haproxy -cc`'s exit status: 0 true, 1 false, 2 error.
fn fulcrum_cc(expr: &str) -> i32 {
    match cond::evaluate(expr, &cc_env) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(_) => 2,
    }
}

/// Expressions whose answer depends neither on the version, the build features nor OpenSSL, with the answer of
/// HAProxy 2.6 (0 true, 1 false, 2 error), so that the test means something without haproxy too. Environment
/// variables are only used inside double quotes, the only place HAProxy expands them.
const CC_CASES: &[(&str, i32)] = &[
    ("", 1),
    (" ", 2),
    ("1", 0),
    ("0", 1),
    ("-1000 && 200", 0),
    ("200rrr", 2),
    ("!(0))", 2),
    ("streq(a,\"a)", 2),
    ("streq(foo,'foo')", 0),
    ("streq(\"foo bar\",'foo bar')", 0),
    ("streq(foo,bar)", 1),
    ("defined(FT_COND_ONE) && streq(\"$FT_COND_ONE\",\"1\")", 0),
    ("defined(FT_COND_EMPTY)", 0),
    ("defined(FT_COND_NOPE)", 1),
    ("streq(\"$FT_COND_SPACED\",\"a b\")", 0),
    ("streq(\"$FT_COND_NOPE\",)", 0),
    ("1&&!0&&!((streq(a,b)||!streq(a,a)&&1)||strneq(a,a))", 0),
    (
        "1   &&!   0&&    !((streq(a,b)||!streq(a,a)&&1)||strneq(a,a))",
        0,
    ),
    (
        "1 && !0 && !((streq(a,b) || !streq(a,a) && 1) || strneq(a,a))",
        0,
    ),
    (
        "1 && !0 && !((streq(a,b) || !streq(a,a) && 1) || strneq(a,b))",
        1,
    ),
    (
        "1 && !0 && !((streq(a,a) || !streq(a,a) && 1) || strneq(a,a))",
        1,
    ),
    ("0x10", 0),
    ("08", 2),
    ("010", 0),
    ("+5", 0),
    ("-0", 1),
    ("00", 1),
    ("- 5", 2),
    ("0x", 2),
    ("1e5", 2),
    ("99999999999999999999", 0),
    ("!!1", 0),
    ("! ! 0", 1),
    ("!", 2),
    ("1 || ", 2),
    ("1 &&", 2),
    ("&& 1", 2),
    ("1&&&1", 2),
    ("1|||0", 2),
    ("1 & 1", 2),
    ("1 2", 2),
    ("()", 2),
    ("(1", 2),
    ("( 1 )", 0),
    ("(((1)))", 0),
    ("!(0)", 0),
    ("!!(0)", 1),
    ("1)", 2),
    ("1&&1||0&&0", 0),
    ("0||1&&0", 1),
    ("(0||1)&&0", 1),
    ("foo", 2),
    ("foo(a)", 2),
    ("streq( a , a )", 0),
    ("streq( a ,a)", 1),
    ("streq(\"a \",a)", 1),
    ("streq(a,a) ", 0),
    ("streq (a,a)", 2),
    ("streq", 2),
    ("streq()", 2),
    ("streq(a)", 2),
    ("streq(a,b,c)", 2),
    ("streq(a,b", 2),
    ("streq(,)", 0),
    ("streq(a,)", 1),
    ("streq(a\\ b,\"a b\")", 0),
    ("streq(a\\\\b,\"a\\\\b\")", 0),
    ("streq(a,a\\\\)", 1),
    ("streq(a\\tb,\"a\\tb\")", 0),
    ("streq(a\\,b,a\\,b)", 2),
    ("streq('a,b',\"a,b\")", 2),
    ("'streq(a\"b,c\"d,\"ab,cd\")'", 0),
    ("'streq(\"a,b\",\"a,b\")'", 0),
    ("streq(a,a)x", 2),
    ("streq(a,a)streq(b,b)", 2),
    ("streq(a,a)&&streq(b,b)", 0),
    ("strneq(a,b)", 0),
    ("strneq(a,a)", 1),
    ("defined", 1),
    ("!defined", 0),
    ("defined && 1", 1),
    ("defined&&1", 2),
    ("defined()", 1),
    ("defined(FT_COND_ONE", 2),
    ("defined(FT_COND_ONE,x)", 2),
    ("1 # x", 2),
    ("\"\"", 1),
    ("\"1\"", 0),
    ("\"\" 1", 0),
    ("1 \"\" ", 0),
];

#[test]
fn cc_agrees_with_haproxy() {
    for (expr, want) in CC_CASES {
        assert_eq!(fulcrum_cc(expr), *want, "fulcrum -cc '{expr}'");
    }
    if !have_haproxy() {
        return;
    }
    for (expr, want) in CC_CASES {
        let out = Command::new("haproxy")
            .arg("-cc")
            .arg(expr)
            .env("FT_COND_ONE", "1")
            .env("FT_COND_EMPTY", "")
            .env("FT_COND_SPACED", "a b")
            .env_remove("FT_COND_NOPE")
            .output()
            .expect("run haproxy");
        assert_eq!(
            out.status.code(),
            Some(*want),
            "haproxy -cc '{expr}': {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn cc_errors_are_typed() {
    assert!(matches!(
        cond::evaluate("streq(a,\"a)", &cc_env),
        Err(CondError::Lex(_))
    ));
    assert!(matches!(
        cond::evaluate("200rrr", &cc_env),
        Err(CondError::Trailing { found: 'r', .. })
    ));
}
