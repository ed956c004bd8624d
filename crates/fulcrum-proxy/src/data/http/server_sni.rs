//! `server ... sni EXPR`: the server name a new TLS connection to a server is opened for, evaluated on the
//! request about to be sent (its line and headers, the client's address and its own TLS facts) and the `sess.`
//! and `proc.` variables. `txn.` and `req.` variables are not kept to this point of fulcrum's request path: an
//! expression reading one gives no name.

use std::net::SocketAddr;
use std::time::SystemTime;

use std::cell::RefCell;

use fulcrum_config::haproxy::{VarName, VarScope};
use fulcrum_sample::{Context, HeaderVisitor, SslFetch, Value};
use fulcrum_tls::Facts;

use crate::model::rules::vars::{proc_var, VarMap};
use http::Request;

use super::reqbody::ReqBody;

/// The request seen by an `sni` expression.
struct SniCtx<'a> {
    req: &'a Request<ReqBody>,
    uri: String,
    peer: SocketAddr,
    tls: Option<&'a Facts>,
    sess: &'a RefCell<VarMap>,
}

impl Context for SniCtx<'_> {
    fn method(&self) -> Option<&[u8]> {
        Some(self.req.method().as_str().as_bytes())
    }
    fn uri(&self) -> Option<&[u8]> {
        Some(self.uri.as_bytes())
    }
    fn req_headers<'s>(&'s self, visit: &mut HeaderVisitor<'_, 's>) {
        for (n, v) in self.req.headers() {
            if visit(n.as_str().as_bytes(), v.as_bytes()).is_break() {
                return;
            }
        }
    }
    fn src(&self) -> Option<SocketAddr> {
        Some(self.peer)
    }
    fn ssl(&self, f: SslFetch) -> Option<Value<'_>> {
        fulcrum_tls::sample(self.tls, f)
    }
    fn var(&self, name: &VarName) -> Option<Value<'_>> {
        match name.scope() {
            VarScope::Proc => proc_var(name),
            VarScope::Sess => self.sess.borrow().get(name).cloned(),
            _ => None,
        }
    }
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn random_u32(&self) -> u32 {
        crate::model::rules::vars::random_u32()
    }
}

/// The server name `expr` gives for `req` (with the client connection's `sess.` variables); `None` when it has
/// no value (no SNI is then sent).
pub fn evaluate(
    expr: &fulcrum_sample::Expr,
    req: &Request<ReqBody>,
    peer: SocketAddr,
    tls: Option<&Facts>,
    sess: &RefCell<VarMap>,
) -> Option<Box<str>> {
    let uri = match (req.uri().scheme(), req.uri().path_and_query()) {
        (None, Some(pq)) => pq.as_str().to_string(),
        _ => req.uri().to_string(),
    };
    let ctx = SniCtx {
        req,
        uri,
        peer,
        tls,
        sess,
    };
    let v = expr.eval_to_string(&ctx)?;
    let name = std::str::from_utf8(&v).ok()?.trim();
    (!name.is_empty()).then(|| Box::from(name))
}
