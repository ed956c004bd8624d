//! How one ACL pattern reference's patterns are compared with a sample: exact, prefix, suffix, substring,
//! regular expression, presence, address in network, integer in range, bytes. Patterns are pre-processed once
//! (lowercased for `-i`, regexes compiled, networks and ranges parsed).

use std::net::IpAddr;

use regex::{Regex, RegexBuilder};

use fulcrum_config::haproxy::{bin_pattern, MatchMethod};

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
    /// `-m dir`: a `/`-delimited part of the sample equals a pattern.
    Dir(Vec<String>),
    /// `-m dom`: a `.`- or `/`-delimited part of the sample equals a pattern.
    Dom(Vec<String>),
    /// `-m len`: the sample's length is in one of the ranges.
    Len(Vec<(u64, u64)>),
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
        // `lt 0` (`:-1`): no non-negative sample is below 0, an empty range
        Some(("", "-1")) => Some((1, 0)),
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
            MatchMethod::Dir => Matcher::Dir(patterns.iter().map(fold).collect()),
            MatchMethod::Dom => Matcher::Dom(patterns.iter().map(fold).collect()),
            MatchMethod::Len => Matcher::Len(
                patterns
                    .iter()
                    .map(|p| parse_range(p).ok_or_else(|| p.clone()))
                    .collect::<Result<_, _>>()?,
            ),
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
            MatchMethod::Found | MatchMethod::Bool => Matcher::Found,
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
    pub(crate) fn text(&self, s: &str) -> bool {
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
            Matcher::Dir(p) => p
                .iter()
                .any(|p| delimited(s.as_bytes(), p.as_bytes(), b"/")),
            Matcher::Dom(p) => p
                .iter()
                .any(|p| delimited(s.as_bytes(), p.as_bytes(), b"/.")),
            Matcher::Len(ranges) => {
                let n = s.len() as u64;
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&n))
            }
        }
    }

    /// Whether a binary sample (already ASCII-lowercased for `-i`) matches: bytes compared with bytes for the
    /// string methods and `-m bin`, as HAProxy casts a binary sample to a string; `None` for the methods that
    /// need a text.
    pub(crate) fn bytes(&self, s: &[u8]) -> Option<bool> {
        Some(match self {
            Matcher::Str(p) => p.iter().any(|p| p.as_bytes() == s),
            Matcher::Beg(p) => p.iter().any(|p| s.starts_with(p.as_bytes())),
            Matcher::End(p) => p.iter().any(|p| s.ends_with(p.as_bytes())),
            Matcher::Sub(p) => p.iter().any(|p| {
                let p = p.as_bytes();
                p.is_empty() || s.windows(p.len()).any(|w| w == p)
            }),
            Matcher::Bin(p) => p.iter().any(|p| p == s),
            Matcher::Dir(p) => p.iter().any(|p| delimited(s, p.as_bytes(), b"/")),
            Matcher::Dom(p) => p.iter().any(|p| delimited(s, p.as_bytes(), b"/.")),
            Matcher::Len(ranges) => {
                let n = s.len() as u64;
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&n))
            }
            Matcher::Found => true,
            Matcher::Reg(_) | Matcher::Ip(_) | Matcher::Int(_) => return None,
        })
    }
}

/// Whether `pat` (its own leading and trailing delimiters ignored) occurs in `s` as a whole run of parts: preceded
/// by the start or a delimiter and followed by the end or a delimiter (`-m dir` with `/`, `-m dom` with `/` and `.`).
fn delimited(s: &[u8], pat: &[u8], delims: &[u8]) -> bool {
    let is_delim = |c: &u8| delims.contains(c);
    let start = pat.iter().position(|c| !is_delim(c)).unwrap_or(pat.len());
    let end = pat
        .iter()
        .rposition(|c| !is_delim(c))
        .map_or(start, |e| e + 1);
    let pat = &pat[start..end.max(start)];
    if pat.is_empty() {
        return false;
    }
    (0..s.len().saturating_sub(pat.len() - 1)).any(|i| {
        s[i..].starts_with(pat)
            && (i == 0 || is_delim(&s[i - 1]))
            && s.get(i + pat.len()).is_none_or(is_delim)
    })
}

/// Whether `ip` lies in `net/bits`.
pub fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits.min(32)))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits.min(128)))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|a| in_network(IpAddr::V4(a), net, bits)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_and_dom() {
        assert!(delimited(b"/a/b/c", b"b", b"/"));
        assert!(delimited(b"/a/b/c", b"/b/c/", b"/"));
        assert!(!delimited(b"/a/bb/c", b"b", b"/"));
        assert!(delimited(b"www.example.com", b"example", b"/."));
        assert!(delimited(b"www.example.com", b"example.com", b"/."));
        assert!(!delimited(b"www.example.com", b"ample", b"/."));
        assert!(!delimited(b"abc", b"/", b"/"));
    }

    #[test]
    fn networks() {
        assert!(in_network(
            "198.18.3.4".parse().unwrap(),
            "198.18.0.0".parse().unwrap(),
            15
        ));
        assert!(!in_network(
            "198.20.0.1".parse().unwrap(),
            "198.18.0.0".parse().unwrap(),
            15
        ));
        assert!(in_network(
            "fd00::1".parse().unwrap(),
            "fd00::".parse().unwrap(),
            8
        ));
        assert!(in_network(
            "1.2.3.4".parse().unwrap(),
            "0.0.0.0".parse().unwrap(),
            0
        ));
    }
}
