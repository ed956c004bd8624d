//! One ACL compiled into matchers: patterns pre-lowercased for `-i`, regexes compiled, networks and port ranges
//! parsed; one matcher per pattern reference the ACL uses (`patref.rs`), which the runtime API may swap. Matching
//! allocates nothing except when `-i` must lowercase a sample.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use regex::{Regex, RegexBuilder};

use fulcrum_config::haproxy::{bin_pattern, Acl, MatchMethod, Sample};

use crate::http::headers::in_network;

use super::patref::{Part, PatternRefs};

/// How samples are compared, with the patterns of one reference.
#[derive(Debug)]
pub enum Matcher {
    Str(Vec<String>),
    Beg(Vec<String>),
    End(Vec<String>),
    Sub(Vec<String>),
    Reg(Vec<Regex>),
    Found,
    Ip(Vec<(IpAddr, u8)>),
    Int(Vec<(u64, u64)>),
    /// `-m bin`: the bytes the hex patterns stand for.
    Bin(Vec<Vec<u8>>),
}

/// A compiled ACL.
#[derive(Debug)]
pub struct CompiledAcl {
    /// What it looks at.
    pub sample: Sample,
    ignore_case: bool,
    method: MatchMethod,
    /// One per pattern reference: the ACL matches when one of them does.
    parts: Vec<Arc<Part>>,
}

/// Why an ACL could not be compiled (the parser validates patterns, so this means a parser bug).
#[derive(Debug, thiserror::Error)]
pub enum AclError {
    /// A regular expression that does not compile.
    #[error("acl '{name}': invalid regular expression '{pattern}': {source}")]
    Regex {
        /// ACL name
        name: String,
        /// the pattern
        pattern: String,
        /// the regex error
        source: regex::Error,
    },
    /// A pattern that is not a valid address, network or integer.
    #[error("acl '{name}': invalid pattern '{pattern}'")]
    Pattern {
        /// ACL name
        name: String,
        /// the pattern
        pattern: String,
    },
    /// A pattern its reference holds that the ACL cannot take.
    #[error("acl '{name}': {message}")]
    Reference {
        /// ACL name
        name: String,
        /// what is wrong
        message: String,
    },
}

fn parse_net(p: &str) -> Option<(IpAddr, u8)> {
    match p.split_once('/') {
        Some((a, bits)) => {
            let ip: IpAddr = a.parse().ok()?;
            let bits: u8 = bits.parse().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            (bits <= max).then_some((ip, bits))
        }
        None => {
            let ip: IpAddr = p.parse().ok()?;
            Some((ip, if ip.is_ipv4() { 32 } else { 128 }))
        }
    }
}

fn parse_range(p: &str) -> Option<(u64, u64)> {
    match p.split_once(':') {
        Some((lo, hi)) => {
            let lo = if lo.is_empty() { 0 } else { lo.parse().ok()? };
            let hi = if hi.is_empty() {
                u64::MAX
            } else {
                hi.parse().ok()?
            };
            Some((lo, hi))
        }
        None => p.parse().ok().map(|n| (n, n)),
    }
}

impl Matcher {
    /// No pattern: matches nothing (except for `-m found`).
    pub fn empty() -> Matcher {
        Matcher::Str(Vec::new())
    }

    /// Compiles checked patterns for `method`; the error is the pattern that does not compile.
    pub fn build(
        method: MatchMethod,
        ignore_case: bool,
        patterns: &[String],
    ) -> Result<Matcher, String> {
        let fold = |p: &String| {
            if ignore_case {
                p.to_lowercase()
            } else {
                p.clone()
            }
        };
        Ok(match method {
            MatchMethod::Str => Matcher::Str(patterns.iter().map(fold).collect()),
            MatchMethod::Beg => Matcher::Beg(patterns.iter().map(fold).collect()),
            MatchMethod::End => Matcher::End(patterns.iter().map(fold).collect()),
            MatchMethod::Sub => Matcher::Sub(patterns.iter().map(fold).collect()),
            MatchMethod::Reg => Matcher::Reg(
                patterns
                    .iter()
                    .map(|p| {
                        RegexBuilder::new(p)
                            .case_insensitive(ignore_case)
                            .build()
                            .map_err(|_| p.clone())
                    })
                    .collect::<Result<_, _>>()?,
            ),
            MatchMethod::Found => Matcher::Found,
            MatchMethod::Ip => Matcher::Ip(
                patterns
                    .iter()
                    .map(|p| parse_net(p).ok_or_else(|| p.clone()))
                    .collect::<Result<_, _>>()?,
            ),
            MatchMethod::Int => Matcher::Int(
                patterns
                    .iter()
                    .map(|p| parse_range(p).ok_or_else(|| p.clone()))
                    .collect::<Result<_, _>>()?,
            ),
            MatchMethod::Bin => Matcher::Bin(
                patterns
                    .iter()
                    .map(|p| bin_pattern(p).map_err(|_| p.clone()))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// Whether a text sample (already lowercased for `-i`, except for regexes) matches.
    fn text(&self, s: &str) -> bool {
        match self {
            Matcher::Str(p) => p.iter().any(|p| p == s),
            Matcher::Beg(p) => p.iter().any(|p| s.starts_with(p.as_str())),
            Matcher::End(p) => p.iter().any(|p| s.ends_with(p.as_str())),
            Matcher::Sub(p) => p.iter().any(|p| s.contains(p.as_str())),
            Matcher::Reg(r) => r.iter().any(|r| r.is_match(s)),
            Matcher::Found => true,
            Matcher::Ip(nets) => s
                .parse::<IpAddr>()
                .is_ok_and(|ip| nets.iter().any(|(n, b)| in_network(ip, *n, *b))),
            Matcher::Int(ranges) => s
                .trim()
                .parse::<u64>()
                .is_ok_and(|v| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&v))),
            Matcher::Bin(p) => p.iter().any(|p| p == s.as_bytes()),
        }
    }

    /// Whether a binary sample (already ASCII-lowercased for `-i`) matches: bytes compared with bytes for the
    /// string methods and `-m bin`, as HAProxy casts a binary sample to a string; `None` for the methods that
    /// need a text.
    fn bytes(&self, s: &[u8]) -> Option<bool> {
        Some(match self {
            Matcher::Str(p) => p.iter().any(|p| p.as_bytes() == s),
            Matcher::Beg(p) => p.iter().any(|p| s.starts_with(p.as_bytes())),
            Matcher::End(p) => p.iter().any(|p| s.ends_with(p.as_bytes())),
            Matcher::Sub(p) => p.iter().any(|p| {
                let p = p.as_bytes();
                p.is_empty() || s.windows(p.len()).any(|w| w == p)
            }),
            Matcher::Bin(p) => p.iter().any(|p| p == s),
            Matcher::Found => true,
            Matcher::Reg(_) | Matcher::Ip(_) | Matcher::Int(_) => return None,
        })
    }
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
        Ok(CompiledAcl {
            sample: acl.sample.clone(),
            ignore_case: acl.ignore_case,
            method: acl.method,
            parts,
        })
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
