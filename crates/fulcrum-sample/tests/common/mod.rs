//! A test [`Context`]: a request described as plain data, with the defaults the haproxy
//! harness used when the expected values were observed (`GET /`, `host: example.com`, client
//! 127.0.0.1:35628, frontend `fe` on 127.0.0.1:18081).

#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::{Duration, SystemTime};

use fulcrum_sample::{Context, Expr, HeaderVisitor, IdOf, Value, VarName};

pub struct Ctx {
    pub method: Option<Vec<u8>>,
    pub uri: Option<Vec<u8>>,
    pub req: Vec<(Vec<u8>, Vec<u8>)>,
    pub res: Vec<(Vec<u8>, Vec<u8>)>,
    pub response: bool,
    pub status: Option<u16>,
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub fe: Option<String>,
    pub first: Option<bool>,
    pub be: Option<String>,
    pub srv: Option<String>,
    /// `fe_id`, `be_id`, `srv_id`, `so_id`
    pub ids: [Option<i64>; 4],
    pub listener: Option<String>,
    pub vars: HashMap<VarName, Value<'static>>,
    pub env: HashMap<String, String>,
    pub now: SystemTime,
    pub rand: u32,
    pub utc_offset: i32,
}

impl Ctx {
    pub fn new() -> Ctx {
        Ctx {
            method: Some(b"GET".to_vec()),
            uri: Some(b"/".to_vec()),
            req: vec![(b"host".to_vec(), b"example.com".to_vec())],
            res: Vec::new(),
            response: false,
            status: None,
            src: Some("127.0.0.1:35628".parse().unwrap()),
            dst: Some("127.0.0.1:18081".parse().unwrap()),
            fe: Some("fe".into()),
            first: None,
            be: None,
            srv: None,
            ids: [None; 4],
            listener: None,
            vars: HashMap::new(),
            env: HashMap::new(),
            // 2014-07-10 13:23:50.123456 UTC
            now: SystemTime::UNIX_EPOCH + Duration::from_micros(1_404_998_630_123_456),
            rand: 0x8000_0000,
            utc_offset: 0,
        }
    }

    pub fn uri(mut self, uri: &str) -> Ctx {
        self.uri = Some(uri.as_bytes().to_vec());
        self
    }

    pub fn hdr(mut self, name: &str, value: &str) -> Ctx {
        self.req
            .push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        self
    }

    pub fn res_hdr(mut self, name: &str, value: &str) -> Ctx {
        self.res
            .push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        self
    }

    pub fn var(mut self, name: &str, v: Value<'static>) -> Ctx {
        self.vars.insert(name.parse().unwrap(), v);
        self
    }

    /// Evaluates `expr` (which must load) and renders it as `%[...]` does.
    pub fn eval(&self, expr: &str) -> Option<String> {
        let e = Expr::parse(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
        e.eval_to_string(self)
            .map(|s| String::from_utf8_lossy(&s).into_owned())
    }

    /// Evaluates `expr` and returns the typed value.
    pub fn value(&self, expr: &str) -> Option<Value<'static>> {
        let e = Expr::parse(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
        e.eval(self).map(Value::into_owned)
    }
}

fn visit<'s>(list: &'s [(Vec<u8>, Vec<u8>)], v: &mut HeaderVisitor<'_, 's>) {
    for (n, val) in list {
        if v(n, val).is_break() {
            return;
        }
    }
}

impl Context for Ctx {
    fn method(&self) -> Option<&[u8]> {
        self.method.as_deref()
    }
    fn uri(&self) -> Option<&[u8]> {
        self.uri.as_deref()
    }
    fn req_headers<'s>(&'s self, v: &mut HeaderVisitor<'_, 's>) {
        visit(&self.req, v)
    }
    fn res_headers<'s>(&'s self, v: &mut HeaderVisitor<'_, 's>) {
        visit(&self.res, v)
    }
    fn is_response(&self) -> bool {
        self.response
    }
    fn status(&self) -> Option<u16> {
        self.status
    }
    fn src(&self) -> Option<SocketAddr> {
        self.src
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.dst
    }
    fn frontend_name(&self) -> Option<&str> {
        self.fe.as_deref()
    }
    fn first_request(&self) -> Option<bool> {
        self.first
    }
    fn backend_name(&self) -> Option<&str> {
        self.be.as_deref()
    }
    fn server_name(&self) -> Option<&str> {
        self.srv.as_deref()
    }
    fn id(&self, of: IdOf) -> Option<i64> {
        self.ids[match of {
            IdOf::Frontend => 0,
            IdOf::Backend => 1,
            IdOf::Server => 2,
            IdOf::Listener => 3,
        }]
    }
    fn listener_name(&self) -> Option<&str> {
        self.listener.as_deref()
    }
    fn var(&self, name: &VarName) -> Option<Value<'_>> {
        self.vars.get(name).map(Value::reborrow)
    }
    fn env(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        self.env.get(name).map(|v| Cow::Borrowed(v.as_bytes()))
    }
    fn now(&self) -> SystemTime {
        self.now
    }
    fn random_u32(&self) -> u32 {
        self.rand
    }
    fn utc_offset(&self, _unix_secs: i64) -> i32 {
        self.utc_offset
    }
}

/// Unused headers visitor result, to silence the import when a test file does not need it.
pub fn cont() -> ControlFlow<()> {
    ControlFlow::Continue(())
}
