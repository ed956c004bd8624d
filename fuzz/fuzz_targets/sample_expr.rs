//! The sample expression language (fetches, arguments, converters) and log-format strings.
//!
//! Each input line is parsed as an expression, as an expression prefix (as `%[...]` reads one) and as a
//! log-format string; what parses is evaluated, or rendered, on one fixed request, so the converters run too
//! (`str(...)` hands them text of the fuzzer's choosing).
#![no_main]

use std::borrow::Cow;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::{Duration, SystemTime};

use fulcrum_sample::{Context, Expr, HeaderVisitor, LogFormat, Value, VarName};
use libfuzzer_sys::fuzz_target;

/// `GET /p/a.txt?x=1&y=%41` with a few headers, a response 200, and one variable set.
struct Req;

const REQ_HEADERS: &[(&[u8], &[u8])] = &[
    (b"host", b"example.com"),
    (b"cookie", b"a=1; b=2"),
    (b"x-list", b"a, b ,c"),
    (b"content-length", b"12"),
];
const RES_HEADERS: &[(&[u8], &[u8])] = &[(b"set-cookie", b"s=3; Path=/"), (b"x-a", b"v")];

fn visit<'s>(list: &'s [(&'s [u8], &'s [u8])], v: &mut HeaderVisitor<'_, 's>) {
    for (n, val) in list {
        if v(n, val).is_break() {
            return;
        }
    }
}

impl Context for Req {
    fn method(&self) -> Option<&[u8]> {
        Some(b"GET")
    }
    fn uri(&self) -> Option<&[u8]> {
        Some(b"/p/a.txt?x=1&y=%41")
    }
    fn req_headers<'s>(&'s self, v: &mut HeaderVisitor<'_, 's>) {
        visit(REQ_HEADERS, v)
    }
    fn res_headers<'s>(&'s self, v: &mut HeaderVisitor<'_, 's>) {
        visit(RES_HEADERS, v)
    }
    fn status(&self) -> Option<u16> {
        Some(200)
    }
    fn src(&self) -> Option<SocketAddr> {
        Some(SocketAddr::from(([192, 0, 2, 7], 40000)))
    }
    fn dst(&self) -> Option<SocketAddr> {
        Some(SocketAddr::from(([198, 51, 100, 1], 80)))
    }
    fn frontend_name(&self) -> Option<&str> {
        Some("fe")
    }
    fn backend_name(&self) -> Option<&str> {
        Some("be")
    }
    fn server_name(&self) -> Option<&str> {
        Some("s1")
    }
    fn var(&self, name: &VarName) -> Option<Value<'_>> {
        (name.to_string() == "txn.v").then_some(Value::Str(Cow::Borrowed(b"var-value")))
    }
    fn env(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        (name == "HOME").then_some(Cow::Borrowed(b"/home/fuzz"))
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_micros(1_404_998_630_123_456)
    }
    fn random_u32(&self) -> u32 {
        0x8000_0000
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.split('\n').take(16) {
        if let Ok(expr) = Expr::parse(line) {
            let _ = expr.output_type();
            let _ = expr.needs();
            let _ = expr.fetch_name();
            let _ = expr.eval_to_string(&Req);
        }
        if let Ok((_, used)) = Expr::parse_prefix(line) {
            assert!(used <= line.len());
            assert!(line.is_char_boundary(used));
        }
        if let Ok(lf) = LogFormat::parse(line) {
            let _ = lf.is_constant();
            let mut out = Vec::new();
            lf.render(&Req, &mut out, &mut |name, _, out| {
                out.extend_from_slice(name.as_bytes());
                ControlFlow::Continue(())
            });
        }
    }
});
