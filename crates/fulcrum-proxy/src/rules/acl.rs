//! One ACL compiled into a matcher: patterns pre-lowercased for `-i`, regexes compiled, networks and port ranges
//! parsed. Matching allocates nothing except when `-i` must lowercase a sample.

use std::borrow::Cow;
use std::net::IpAddr;

use regex::{Regex, RegexBuilder};

use fulcrum_config::haproxy::{Acl, MatchMethod, Sample};

use crate::http::headers::in_network;

/// How samples are compared.
#[derive(Debug)]
enum Matcher {
    Str(Vec<String>),
    Beg(Vec<String>),
    End(Vec<String>),
    Sub(Vec<String>),
    Reg(Vec<Regex>),
    Found,
    Ip(Vec<(IpAddr, u8)>),
    Int(Vec<(u64, u64)>),
}

/// A compiled ACL.
#[derive(Debug)]
pub struct CompiledAcl {
    /// What it looks at.
    pub sample: Sample,
    ignore_case: bool,
    matcher: Matcher,
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

impl CompiledAcl {
    /// Compiles a parsed ACL.
    pub fn compile(acl: &Acl) -> Result<Self, AclError> {
        let fold = |p: &String| {
            if acl.ignore_case {
                p.to_lowercase()
            } else {
                p.clone()
            }
        };
        let bad = |p: &String| AclError::Pattern {
            name: acl.name.clone(),
            pattern: p.clone(),
        };
        let matcher = match acl.method {
            MatchMethod::Str => Matcher::Str(acl.patterns.iter().map(fold).collect()),
            MatchMethod::Beg => Matcher::Beg(acl.patterns.iter().map(fold).collect()),
            MatchMethod::End => Matcher::End(acl.patterns.iter().map(fold).collect()),
            MatchMethod::Sub => Matcher::Sub(acl.patterns.iter().map(fold).collect()),
            MatchMethod::Reg => Matcher::Reg(
                acl.patterns
                    .iter()
                    .map(|p| {
                        RegexBuilder::new(p)
                            .case_insensitive(acl.ignore_case)
                            .build()
                            .map_err(|source| AclError::Regex {
                                name: acl.name.clone(),
                                pattern: p.clone(),
                                source,
                            })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            MatchMethod::Found => Matcher::Found,
            MatchMethod::Ip => Matcher::Ip(
                acl.patterns
                    .iter()
                    .map(|p| parse_net(p).ok_or_else(|| bad(p)))
                    .collect::<Result<_, _>>()?,
            ),
            MatchMethod::Int => Matcher::Int(
                acl.patterns
                    .iter()
                    .map(|p| parse_range(p).ok_or_else(|| bad(p)))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(CompiledAcl {
            sample: acl.sample.clone(),
            ignore_case: acl.ignore_case,
            matcher,
        })
    }

    /// Whether the ACL only asks whether the sample exists (`-m found`).
    pub fn is_found(&self) -> bool {
        matches!(self.matcher, Matcher::Found)
    }

    /// Whether a text sample matches.
    pub fn match_text(&self, sample: &str) -> bool {
        let s: Cow<'_, str> = if self.ignore_case && !matches!(self.matcher, Matcher::Reg(_)) {
            Cow::Owned(sample.to_lowercase())
        } else {
            Cow::Borrowed(sample)
        };
        match &self.matcher {
            Matcher::Str(p) => p.iter().any(|p| *p == *s),
            Matcher::Beg(p) => p.iter().any(|p| s.starts_with(p.as_str())),
            Matcher::End(p) => p.iter().any(|p| s.ends_with(p.as_str())),
            Matcher::Sub(p) => p.iter().any(|p| s.contains(p.as_str())),
            Matcher::Reg(r) => r.iter().any(|r| r.is_match(&s)),
            Matcher::Found => true,
            Matcher::Ip(nets) => s
                .parse::<IpAddr>()
                .is_ok_and(|ip| nets.iter().any(|(n, b)| in_network(ip, *n, *b))),
            Matcher::Int(ranges) => s
                .trim()
                .parse::<u64>()
                .is_ok_and(|v| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&v))),
        }
    }

    /// Whether an address sample matches.
    pub fn match_ip(&self, ip: IpAddr) -> bool {
        match &self.matcher {
            Matcher::Ip(nets) => nets.iter().any(|(n, b)| in_network(ip, *n, *b)),
            Matcher::Found => true,
            _ => self.match_text(&ip.to_string()),
        }
    }

    /// Whether an integer sample matches.
    pub fn match_int(&self, v: u64) -> bool {
        match &self.matcher {
            Matcher::Int(ranges) => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&v)),
            Matcher::Found => true,
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
