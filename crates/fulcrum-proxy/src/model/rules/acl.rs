//! One ACL compiled into matchers: patterns pre-lowercased for `-i`, regexes compiled, networks and port ranges
//! parsed; one matcher per pattern reference the ACL uses (`patref.rs`), which the runtime API may swap. Matching
//! allocates nothing except when `-i` must lowercase a sample.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

pub use crate::model::error::AclError;

use regex::RegexBuilder;

use fulcrum_config::haproxy::{Acl, MatchMethod, Sample};

use super::matcher::{in_network, Matcher};
use super::patref::{Part, PatternRefs};

/// A compiled ACL.
#[derive(Debug)]
pub struct CompiledAcl {
    /// What it looks at.
    pub sample: Sample,
    ignore_case: bool,
    method: MatchMethod,
    /// One per pattern reference: the ACL matches when one of them does.
    parts: Vec<Arc<Part>>,
    /// The userlist of `http_auth(LIST)` / `http_auth_group(LIST)`.
    users: Option<Arc<super::auth::Users>>,
}

impl CompiledAcl {
    /// Compiles a parsed ACL on its own, outside any set of pattern references (nothing can change it).
    pub fn compile(acl: &Acl) -> Result<Self, AclError> {
        Self::compile_with(acl, &PatternRefs::default())
    }

    /// Compiles a parsed ACL whose patterns live in `refs`, where the runtime API can change them.
    pub fn compile_with(acl: &Acl, refs: &PatternRefs) -> Result<Self, AclError> {
        let bad = |p: &String| AclError::Pattern {
            name: acl.name.clone(),
            pattern: p.clone(),
        };
        // The parser checked every pattern; a regex is checked here again for its own error.
        if acl.method == MatchMethod::Reg {
            for p in &acl.patterns {
                RegexBuilder::new(p)
                    .case_insensitive(acl.ignore_case)
                    .build()
                    .map_err(|source| AclError::Regex {
                        name: acl.name.clone(),
                        pattern: p.clone(),
                        source,
                    })?;
            }
        }
        Matcher::build(acl.method, acl.ignore_case, &acl.patterns).map_err(|p| bad(&p))?;
        let parts = refs.parts(acl).map_err(|message| AclError::Reference {
            name: acl.name.clone(),
            message,
        })?;
        let users = match &acl.sample {
            Sample::HttpAuth(l) | Sample::HttpAuthGroup(l) => Some(
                refs.userlists
                    .get(l)
                    .cloned()
                    .ok_or_else(|| AclError::Reference {
                        name: acl.name.clone(),
                        message: format!("unable to find userlist '{l}'"),
                    })?,
            ),
            _ => None,
        };
        Ok(CompiledAcl {
            sample: acl.sample.clone(),
            ignore_case: acl.ignore_case,
            method: acl.method,
            parts,
            users,
        })
    }

    /// `http_auth` / `http_auth_group`: the groups of the user whose Basic credentials `authorization` (the
    /// request's header value) carries, when they are valid in the ACL's userlist.
    pub fn auth_groups(&self, authorization: Option<&str>) -> Option<&[String]> {
        let (user, pass) = super::auth::basic_credentials(authorization?)?;
        self.users.as_ref()?.check(&user, &pass)
    }

    /// Whether the ACL only asks whether the sample exists (`-m found`).
    pub fn is_found(&self) -> bool {
        self.method == MatchMethod::Found
    }

    /// Whether a text sample matches.
    pub fn match_text(&self, sample: &str) -> bool {
        if self.is_found() {
            return true;
        }
        let s: Cow<'_, str> = if self.ignore_case && self.method != MatchMethod::Reg {
            Cow::Owned(sample.to_lowercase())
        } else {
            Cow::Borrowed(sample)
        };
        self.parts.iter().any(|p| p.matcher().text(&s))
    }

    /// Whether a binary sample (`req.payload`) matches.
    pub fn match_bytes(&self, sample: &[u8]) -> bool {
        if self.is_found() {
            return true;
        }
        let folded;
        let s = if self.ignore_case && self.method != MatchMethod::Bin {
            folded = sample.to_ascii_lowercase();
            &folded[..]
        } else {
            sample
        };
        self.parts.iter().any(|p| {
            let m = p.matcher();
            m.bytes(s)
                .unwrap_or_else(|| m.text(&String::from_utf8_lossy(sample)))
        })
    }

    /// Whether an address sample matches.
    pub fn match_ip(&self, ip: IpAddr) -> bool {
        match self.method {
            MatchMethod::Found => true,
            MatchMethod::Ip => self.parts.iter().any(|p| match &**p.matcher() {
                Matcher::Ip(nets) => nets.iter().any(|(n, b)| in_network(ip, *n, *b)),
                _ => false,
            }),
            _ => self.match_text(&ip.to_string()),
        }
    }

    /// Whether a typed sample (the TLS fetches) matches: a boolean by itself (`-m bool`), the others as integers,
    /// text or bytes.
    pub fn match_value(&self, v: &fulcrum_sample::Value<'_>) -> bool {
        use fulcrum_sample::Value;
        match (self.method, v) {
            (MatchMethod::Found, _) => true,
            (MatchMethod::Bool, Value::Bool(b)) => *b,
            (MatchMethod::Bool, Value::Int(i)) => *i != 0,
            (MatchMethod::Bool, _) => false,
            (_, Value::Bool(b)) => self.match_int(u64::from(*b)),
            (_, Value::Int(i)) => u64::try_from(*i).is_ok_and(|i| self.match_int(i)),
            (_, Value::Str(s)) => self.match_text(&String::from_utf8_lossy(s)),
            (_, Value::Bin(b)) => self.match_bytes(b),
            (_, Value::Ipv4(a)) => self.match_ip((*a).into()),
            (_, Value::Ipv6(a)) => self.match_ip((*a).into()),
        }
    }

    /// Whether a sample of any type (a sample expression's result) matches: cast to what the method compares
    /// (`-m int` an integer, `-m ip` an address, `-m bool` a boolean, `-m bin` bytes, the others a string), a sample
    /// the cast refuses does not match, as in HAProxy.
    pub fn match_sample(&self, v: fulcrum_sample::Value<'_>) -> bool {
        use fulcrum_sample::{Type, Value};
        match self.method {
            MatchMethod::Found => true,
            MatchMethod::Bool => matches!(v.cast(Type::Bool), Some(Value::Bool(true))),
            MatchMethod::Int => match v.cast(Type::Int) {
                Some(Value::Int(i)) => u64::try_from(i).is_ok_and(|i| self.match_int(i)),
                _ => false,
            },
            MatchMethod::Ip => match v.cast(Type::Addr) {
                Some(Value::Ipv4(a)) => self.match_ip(a.into()),
                Some(Value::Ipv6(a)) => self.match_ip(a.into()),
                _ => false,
            },
            MatchMethod::Bin => match v.cast(Type::Bin) {
                Some(Value::Bin(b) | Value::Str(b)) => self.match_bytes(&b),
                _ => false,
            },
            _ => match v.cast(Type::Str) {
                Some(Value::Str(s) | Value::Bin(s)) => match std::str::from_utf8(&s) {
                    Ok(t) => self.match_text(t),
                    Err(_) => self.match_bytes(&s),
                },
                _ => false,
            },
        }
    }

    /// Whether an integer sample matches.
    pub fn match_int(&self, v: u64) -> bool {
        match self.method {
            MatchMethod::Found => true,
            MatchMethod::Int => self.parts.iter().any(|p| match &**p.matcher() {
                Matcher::Int(ranges) => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&v)),
                _ => false,
            }),
            _ => self.match_text(&v.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fulcrum_config::Location;

    fn acl(sample: Sample, method: MatchMethod, i: bool, pats: &[&str]) -> CompiledAcl {
        CompiledAcl::compile(&Acl {
            name: "t".into(),
            sample,
            method,
            ignore_case: i,
            patterns: pats.iter().map(|s| s.to_string()).collect(),
            location: Location::new("t.cfg", 1),
            files: Vec::new(),
            fetch: "t".into(),
            expr_id: None,
        })
        .unwrap()
    }

    #[test]
    fn text_methods() {
        assert!(acl(Sample::Path, MatchMethod::Str, false, &["/a", "/b"]).match_text("/b"));
        assert!(!acl(Sample::Path, MatchMethod::Str, false, &["/a"]).match_text("/A"));
        assert!(acl(Sample::Path, MatchMethod::Str, true, &["/A"]).match_text("/a"));
        assert!(acl(Sample::Path, MatchMethod::Beg, false, &["/api/"]).match_text("/api/v1"));
        assert!(acl(Sample::Path, MatchMethod::End, false, &[".jpg"]).match_text("/x.jpg"));
        assert!(acl(Sample::Path, MatchMethod::Sub, true, &["ADMIN"]).match_text("/x/admin/y"));
        assert!(acl(Sample::Path, MatchMethod::Reg, false, &["^/v[0-9]+/"]).match_text("/v2/x"));
        assert!(acl(Sample::Path, MatchMethod::Reg, true, &["^/V[0-9]+/"]).match_text("/v2/x"));
        assert!(!acl(Sample::Path, MatchMethod::Reg, false, &["^/v[0-9]+/"]).match_text("/vx/"));
    }

    #[test]
    fn networks_and_ranges() {
        let a = acl(
            Sample::Src,
            MatchMethod::Ip,
            false,
            &["198.18.0.0/15", "fd00::/8", "10.1.2.3"],
        );
        assert!(a.match_ip("198.19.1.1".parse().unwrap()));
        assert!(a.match_ip("fd00::5".parse().unwrap()));
        assert!(a.match_ip("10.1.2.3".parse().unwrap()));
        assert!(!a.match_ip("10.1.2.4".parse().unwrap()));
        let p = acl(
            Sample::DstPort,
            MatchMethod::Int,
            false,
            &["80", "8000:8080"],
        );
        assert!(p.match_int(80) && p.match_int(8042) && !p.match_int(81));
    }
}
