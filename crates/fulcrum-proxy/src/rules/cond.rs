//! `if` / `unless` conditions: OR of AND-groups of (possibly negated) ACL references, evaluated over the facts a
//! request or a connection offers.

use std::net::IpAddr;

use fulcrum_config::haproxy::{Condition, Sample};

use super::acl::{AclError, CompiledAcl};
use super::patref::PatternRefs;

/// What a condition can look at. A connection offers only `src` and `dst_port`; a request offers everything.
pub trait Facts {
    /// The client's address.
    fn src(&self) -> Option<IpAddr>;
    /// The local port the client connected to.
    fn dst_port(&self) -> Option<u16>;
    /// The request method.
    fn method(&self) -> Option<&str>;
    /// The request path, without the query string.
    fn path(&self) -> Option<&str>;
    /// The first value of a query-string parameter.
    fn url_param(&self, name: &str) -> Option<&str>;
    /// Calls `f` on each value of header `name` (comma-separated values one by one) until it returns true;
    /// returns whether it did.
    fn any_header_value(&self, name: &str, f: &mut dyn FnMut(&str) -> bool) -> bool;
    /// Whether header `name` is present.
    fn has_header(&self, name: &str) -> bool;
    /// The response status (known only to `http-response` conditions).
    fn status(&self) -> Option<u16> {
        None
    }
}

fn eval_acl(acl: &CompiledAcl, facts: &dyn Facts) -> bool {
    match &acl.sample {
        Sample::Src => facts.src().is_some_and(|ip| acl.match_ip(ip)),
        Sample::DstPort => facts
            .dst_port()
            .is_some_and(|p| acl.match_int(u64::from(p))),
        Sample::Method => facts.method().is_some_and(|m| acl.match_text(m)),
        Sample::Status => facts.status().is_some_and(|s| acl.match_int(u64::from(s))),
        Sample::Path => facts.path().is_some_and(|p| acl.match_text(p)),
        Sample::UrlParam(name) => facts.url_param(name).is_some_and(|v| acl.match_text(v)),
        Sample::Hdr(name) => {
            if acl.is_found() {
                facts.has_header(name)
            } else {
                facts.any_header_value(name, &mut |v| acl.match_text(v))
            }
        }
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
        let holds = self.any_of.iter().any(|group| {
            group
                .iter()
                .all(|t| t.acls.iter().any(|a| eval_acl(a, facts)) != t.negate)
        });
        holds != self.unless
    }
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
