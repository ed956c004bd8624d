//! `if` / `unless` conditions: OR of AND-groups of (possibly negated) ACL references, evaluated over the facts a
//! request or a connection offers.

use std::net::IpAddr;

use fulcrum_config::haproxy::{Condition, ReqSsl, Sample};

use super::acl::{AclError, CompiledAcl};
use super::patref::PatternRefs;

/// What a condition can look at. A connection offers only `src` and `dst_port`; a request offers everything.
pub trait Facts {
    /// The client's address.
    fn src(&self) -> Option<IpAddr>;
    /// The local port the client connected to.
    fn dst_port(&self) -> Option<u16>;
    /// The request method (unknown before an HTTP request was read, as are the facts below).
    fn method(&self) -> Option<&str> {
        None
    }
    /// The request path, without the query string.
    fn path(&self) -> Option<&str> {
        None
    }
    /// The first value of a query-string parameter.
    fn url_param(&self, _name: &str) -> Option<&str> {
        None
    }
    /// Calls `f` on each value of header `name` (comma-separated values one by one) until it returns true;
    /// returns whether it did.
    fn any_header_value(&self, _name: &str, _f: &mut dyn FnMut(&str) -> bool) -> bool {
        false
    }
    /// Whether header `name` is present.
    fn has_header(&self, _name: &str) -> bool {
        false
    }
    /// The request target as the client sent it, before any rewrite (`capture.req.uri`).
    fn captured_uri(&self) -> Option<&str> {
        None
    }
    /// The request's `Authorization` header value (`http_auth`, `http_auth_group`).
    fn authorization(&self) -> Option<&str> {
        None
    }
    /// The response status (known only to `http-response` conditions).
    fn status(&self) -> Option<u16> {
        None
    }
    /// The request bytes buffered so far (known only to `tcp-request content` rules and `use_backend` in
    /// `mode tcp`).
    fn payload(&self) -> Option<&[u8]> {
        None
    }
    /// Whether more request bytes may still arrive before the rules must decide: then a `req.len` that does not
    /// match, or a `req.payload` reaching past the bytes there, cannot be decided yet (HAProxy's
    /// `SMP_F_MAY_CHANGE` without `SMP_OPT_FINAL`).
    fn payload_may_change(&self) -> bool {
        false
    }
    /// A TLS fact of the client connection (`ssl_fc`, `ssl_fc_sni`, ...): on clear text `ssl_fc` is false and the
    /// others have no value.
    fn ssl(&self, f: fulcrum_sample::SslFetch) -> Option<fulcrum_sample::Value<'_>> {
        fulcrum_tls::sample(None, f)
    }
    /// A TLS fact of the server connection (`ssl_bc`, ...): no value where there is none yet.
    fn ssl_backend(&self, f: fulcrum_sample::SslFetch) -> Option<fulcrum_sample::Value<'_>> {
        let _ = f;
        None
    }
    /// Calls `f` with the sample-expression context of this message or connection (what `Sample::Expr` ACLs
    /// evaluate over) and returns its answer; `false` when there is no such context.
    fn with_context(&self, f: &mut dyn FnMut(&dyn fulcrum_sample::Context) -> bool) -> bool {
        let _ = f;
        false
    }
}

/// HAProxy's three-valued ACL result: `Miss` is a result that may change once more request bytes arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    Fail = 0,
    Miss = 1,
    Pass = 3,
}

impl Tri {
    fn from_bits(b: u8) -> Tri {
        match b {
            0 => Tri::Fail,
            3 => Tri::Pass,
            _ => Tri::Miss,
        }
    }
    fn or(self, o: Tri) -> Tri {
        Tri::from_bits(self as u8 | o as u8)
    }
    fn and(self, o: Tri) -> Tri {
        Tri::from_bits(self as u8 & o as u8)
    }
    fn not(self) -> Tri {
        match self {
            Tri::Fail => Tri::Pass,
            Tri::Pass => Tri::Fail,
            Tri::Miss => Tri::Miss,
        }
    }
}

/// A result that may still change: a miss while more bytes may come, else a failure.
fn not_yet(facts: &dyn Facts) -> Tri {
    if facts.payload_may_change() {
        Tri::Miss
    } else {
        Tri::Fail
    }
}

fn eval_content(acl: &CompiledAcl, facts: &dyn Facts) -> Tri {
    let Some(buf) = facts.payload() else {
        return Tri::Fail;
    };
    match acl.sample {
        Sample::ReqLen => {
            if acl.match_int(buf.len() as u64) {
                Tri::Pass
            } else {
                not_yet(facts)
            }
        }
        Sample::ReqPayload { offset, length } => {
            let start = offset as usize;
            let end = start.saturating_add(length as usize);
            if end > buf.len() {
                return not_yet(facts);
            }
            let bytes = if length == 0 {
                buf.get(start..)
            } else {
                buf.get(start..end)
            };
            match bytes {
                Some(b) if acl.match_bytes(b) => Tri::Pass,
                // To the end of the buffer: more bytes may change the sample.
                Some(_) if length == 0 => not_yet(facts),
                _ => Tri::Fail,
            }
        }
        Sample::ReqSsl(what) => match fulcrum_tls::hello::parse(buf) {
            fulcrum_tls::hello::Hello::Incomplete => not_yet(facts),
            fulcrum_tls::hello::Hello::NotHello => Tri::Fail,
            fulcrum_tls::hello::Hello::Client(h) => {
                let text = |b: &[u8]| acl.match_text(&String::from_utf8_lossy(b));
                let pass = match what {
                    ReqSsl::Sni => h.sni.is_some_and(text),
                    ReqSsl::HelloType => acl.match_int(1),
                    ReqSsl::Alpn => h.alpn.iter().any(|p| text(p)),
                };
                if pass {
                    Tri::Pass
                } else {
                    Tri::Fail
                }
            }
        },
        _ => Tri::Fail,
    }
}

fn eval_acl(acl: &CompiledAcl, facts: &dyn Facts) -> Tri {
    if let Sample::Expr(e) = &acl.sample {
        let mut settled = false;
        let pass = facts.with_context(&mut |ctx| {
            let pass = e.0.any(ctx, &mut |v| acl.match_sample(v));
            settled = !pass && !e.0.may_still_change(ctx);
            pass
        });
        return match (pass, acl.sample.is_content()) {
            (true, _) => Tri::Pass,
            // A content sample that more bytes cannot change any more is final, as HAProxy decides.
            (false, true) if settled => Tri::Fail,
            (false, true) => not_yet(facts),
            (false, false) => Tri::Fail,
        };
    }
    if acl.sample.is_content() {
        return eval_content(acl, facts);
    }
    if acl.sample == Sample::WaitEnd {
        // Undecided while more bytes may come; true the last time the rules run (every time in HTTP rules).
        return if facts.payload_may_change() {
            Tri::Miss
        } else {
            Tri::Pass
        };
    }
    let pass = match &acl.sample {
        Sample::ReqLen
        | Sample::ReqPayload { .. }
        | Sample::ReqSsl(_)
        | Sample::Expr(_)
        | Sample::WaitEnd => false,
        Sample::Src => facts.src().is_some_and(|ip| acl.match_ip(ip)),
        Sample::DstPort => facts
            .dst_port()
            .is_some_and(|p| acl.match_int(u64::from(p))),
        Sample::Method => match facts.method() {
            Some(m) => acl.match_text(m),
            // In `mode tcp` the request line may still be arriving.
            None if facts.payload_may_change() => return Tri::Miss,
            None => false,
        },
        Sample::Status => facts.status().is_some_and(|s| acl.match_int(u64::from(s))),
        Sample::Path => facts.path().is_some_and(|p| acl.match_text(p)),
        Sample::UrlParam(name) => facts.url_param(name).is_some_and(|v| acl.match_text(v)),
        Sample::Ssl(f) if f.is_backend() => {
            facts.ssl_backend(*f).is_some_and(|v| acl.match_value(&v))
        }
        Sample::Ssl(f) => facts.ssl(*f).is_some_and(|v| acl.match_value(&v)),
        Sample::CaptureReqUri => facts.captured_uri().is_some_and(|u| acl.match_text(u)),
        Sample::HttpAuth(_) => acl.auth_groups(facts.authorization()).is_some(),
        Sample::HttpAuthGroup(_) => acl
            .auth_groups(facts.authorization())
            .is_some_and(|groups| groups.iter().any(|g| acl.match_text(g))),
        Sample::Hdr(name) => {
            if acl.is_found() {
                facts.has_header(name)
            } else {
                facts.any_header_value(name, &mut |v| acl.match_text(v))
            }
        }
    };
    if pass {
        Tri::Pass
    } else {
        Tri::Fail
    }
}

/// One term: `NAME` or `!NAME`, standing for every declaration of that name.
#[derive(Debug)]
struct Term {
    negate: bool,
    acls: Vec<CompiledAcl>,
}

/// A compiled condition.
#[derive(Debug)]
pub struct CompiledCond {
    unless: bool,
    any_of: Vec<Vec<Term>>,
}

impl CompiledCond {
    /// Compiles a parsed condition on its own (its patterns in no reference the runtime API can change).
    pub fn compile(c: &Condition) -> Result<Self, AclError> {
        Self::compile_with(c, &PatternRefs::default())
    }

    /// Compiles a parsed condition whose ACL patterns live in `refs`.
    pub fn compile_with(c: &Condition, refs: &PatternRefs) -> Result<Self, AclError> {
        let any_of = c
            .any_of
            .iter()
            .map(|group| {
                group
                    .iter()
                    .map(|t| {
                        Ok(Term {
                            negate: t.negate,
                            acls: t
                                .acls
                                .iter()
                                .map(|a| CompiledAcl::compile_with(a, refs))
                                .collect::<Result<_, _>>()?,
                        })
                    })
                    .collect::<Result<Vec<_>, AclError>>()
            })
            .collect::<Result<_, _>>()?;
        Ok(CompiledCond {
            unless: c.unless,
            any_of,
        })
    }

    /// Evaluates the condition.
    pub fn eval(&self, facts: &dyn Facts) -> bool {
        self.decide(facts).unwrap_or(false)
    }

    /// Evaluates the condition as HAProxy does while request bytes may still arrive: `None` when it cannot be
    /// decided yet (a `req.len` or `req.payload` whose result may change with more bytes), else whether it holds.
    pub fn decide(&self, facts: &dyn Facts) -> Option<bool> {
        let mut res = Tri::Fail;
        for group in &self.any_of {
            let mut all = Tri::Pass;
            for t in group {
                let mut any = Tri::Fail;
                for a in &t.acls {
                    any = any.or(eval_acl(a, facts));
                    if any == Tri::Pass {
                        break;
                    }
                }
                all = all.and(if t.negate { any.not() } else { any });
                if all == Tri::Fail {
                    break;
                }
            }
            res = res.or(all);
            if res == Tri::Pass {
                break;
            }
        }
        match res {
            Tri::Miss => None,
            r => Some((r == Tri::Pass) != self.unless),
        }
    }
}

/// Decides an optional condition (see [`CompiledCond::decide`]): no condition always holds.
pub fn decide(cond: &Option<CompiledCond>, facts: &dyn Facts) -> Option<bool> {
    cond.as_ref().map_or(Some(true), |c| c.decide(facts))
}

/// Evaluates an optional condition: no condition always holds.
pub fn holds(cond: &Option<CompiledCond>, facts: &dyn Facts) -> bool {
    cond.as_ref().is_none_or(|c| c.eval(facts))
}

/// Compiles an optional condition, its ACL patterns in `refs`.
pub fn compile_opt(
    c: &Option<Condition>,
    refs: &PatternRefs,
) -> Result<Option<CompiledCond>, AclError> {
    c.as_ref()
        .map(|c| CompiledCond::compile_with(c, refs))
        .transpose()
}
