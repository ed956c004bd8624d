//! `server ... sni EXPR` in `mode tcp`: the server name a new TLS connection to a server is opened for, evaluated
//! when the connection is made, on what a tcp-mode stream offers then: the client's address, its own TLS facts
//! (`ssl_fc_sni`), and the bytes the content rules buffered (`req.payload`, `req.ssl_sni`). Variables are not
//! read at that point: an expression reading one gives no name.

use std::net::SocketAddr;
use std::time::SystemTime;

use fulcrum_sample::{Context, SslFetch, Value};
use fulcrum_tls::Facts;

/// The connection seen by an `sni` expression.
struct SniCtx<'a> {
    first: &'a [u8],
    peer: SocketAddr,
    tls: Option<&'a Facts>,
}

impl Context for SniCtx<'_> {
    fn src(&self) -> Option<SocketAddr> {
        Some(self.peer)
    }
    fn ssl(&self, f: SslFetch) -> Option<Value<'_>> {
        fulcrum_tls::sample(self.tls, f)
    }
    fn payload(&self) -> Option<&[u8]> {
        Some(self.first)
    }
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn random_u32(&self) -> u32 {
        crate::model::rules::vars::random_u32()
    }
}

/// The server name `expr` gives; `None` when it has no value (no SNI is then sent).
pub fn evaluate(
    expr: &fulcrum_sample::Expr,
    first: &[u8],
    peer: SocketAddr,
    tls: Option<&Facts>,
) -> Option<Box<str>> {
    let ctx = SniCtx { first, peer, tls };
    let v = expr.eval_to_string(&ctx)?;
    let name = std::str::from_utf8(&v).ok()?.trim();
    (!name.is_empty()).then(|| Box::from(name))
}
