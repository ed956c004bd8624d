//! Typed arguments: HAProxy's rules for turning the unquoted argument strings of a keyword into
//! integers, strings, addresses and masks, with the errors a user can act on.
//!
//! A keyword without parentheses whose first argument is mandatory gets one empty argument (so
//! `str` is `str()`, the empty string, while `int` is an error); an empty integer argument is
//! absent when optional and last; there may not be more arguments than the keyword takes.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::Error;
use crate::parse::{RawArg, RawCall};
use crate::timefmt::Unit;
use crate::value::read_int64;
use crate::vars::{VarName, VarNameError};

/// An integer operand: a constant or a variable read at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IntArg {
    /// A constant.
    Const(i64),
    /// A variable, cast to an integer when read.
    Var(VarName),
}

/// The kind of an argument, which decides how its text is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A decimal integer (optionally signed).
    Int,
    /// A string, kept as written.
    Str,
    /// A dotted IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// An IPv4 mask: dotted or a prefix length 0-32.
    Mask4,
    /// An IPv6 mask: an address or a prefix length 0-128.
    Mask6,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Int => "integer",
            Kind::Str => "string",
            Kind::Ipv4 => "IPv4 address",
            Kind::Ipv6 => "IPv6 address",
            Kind::Mask4 => "IPv4 mask",
            Kind::Mask6 => "IPv6 mask",
        }
    }
}

/// A parsed argument.
#[derive(Debug, Clone)]
enum Val {
    Int(i64),
    Str(String),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
}

/// The typed arguments of one keyword, with what is needed to report a bad one.
pub(crate) struct Args<'c> {
    call: &'c RawCall<'c>,
    vals: Vec<(Val, String, usize)>,
}

impl Args<'_> {
    pub(crate) fn keyword(&self) -> String {
        self.call.name.to_string()
    }

    pub(crate) fn int(&self, i: usize) -> Option<i64> {
        match self.vals.get(i) {
            Some((Val::Int(n), ..)) => Some(*n),
            _ => None,
        }
    }

    pub(crate) fn str(&self, i: usize) -> Option<&str> {
        match self.vals.get(i) {
            Some((Val::Str(s), ..)) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn bytes(&self, i: usize) -> Box<[u8]> {
        crate::rawbytes::raw_bytes(self.str(i).unwrap_or_default())
            .into_owned()
            .into_boxed_slice()
    }

    pub(crate) fn ipv4(&self, i: usize) -> Option<Ipv4Addr> {
        match self.vals.get(i) {
            Some((Val::Ipv4(a), ..)) => Some(*a),
            _ => None,
        }
    }

    pub(crate) fn ipv6(&self, i: usize) -> Option<Ipv6Addr> {
        match self.vals.get(i) {
            Some((Val::Ipv6(a), ..)) => Some(*a),
            _ => None,
        }
    }

    /// An error about argument `i` (0-based).
    pub(crate) fn bad(&self, i: usize, reason: impl Into<String>) -> Error {
        let (value, at) = match self.vals.get(i) {
            Some((_, text, at)) => (text.clone(), *at),
            None => (String::new(), self.call.at),
        };
        Error::BadArg {
            keyword: self.keyword(),
            position: i + 1,
            value,
            reason: reason.into(),
            at,
        }
    }

    /// Argument `i` as a variable name.
    pub(crate) fn var(&self, i: usize) -> Result<VarName, Error> {
        self.str(i)
            .unwrap_or_default()
            .parse()
            .map_err(|e: VarNameError| self.bad(i, e.to_string()))
    }

    /// Argument `i` as a variable name, `None` when empty or absent.
    pub(crate) fn opt_var(&self, i: usize) -> Result<Option<VarName>, Error> {
        match self.str(i) {
            None | Some("") => Ok(None),
            Some(_) => self.var(i).map(Some),
        }
    }

    /// Argument `i`, an integer or a variable name (the operand of `add` and friends).
    pub(crate) fn int_or_var(&self, i: usize) -> Result<IntArg, Error> {
        let s = self.str(i).unwrap_or_default();
        if let Ok(v) = s.parse::<VarName>() {
            return Ok(IntArg::Var(v));
        }
        match parse_int(s) {
            Some(n) => Ok(IntArg::Const(n)),
            None => Err(self.bad(i, "expected an integer or a variable name")),
        }
    }

    /// Argument `i` as a flag: absent or 0 is false, 1 is true.
    pub(crate) fn flag01(&self, i: usize) -> Result<bool, Error> {
        match self.int(i) {
            None | Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(_) => Err(self.bad(i, "expected 0 or 1")),
        }
    }

    /// Argument `i` as a unit `s`, `ms` or `us` (seconds when absent).
    pub(crate) fn unit(&self, i: usize) -> Result<Unit, Error> {
        match self.str(i) {
            None => Ok(Unit::S),
            Some(s) => Unit::parse(s).ok_or_else(|| self.bad(i, "expected 's', 'ms' or 'us'")),
        }
    }
}

/// A whole integer argument: `[+-]?[0-9]+`, saturating like HAProxy's reader.
fn parse_int(s: &str) -> Option<i64> {
    let (n, used) = read_int64(s.as_bytes());
    (used == s.len() && s.bytes().any(|c| c.is_ascii_digit())).then_some(n)
}

fn parse_mask4(s: &str) -> Option<Ipv4Addr> {
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Some(a);
    }
    let bits: u32 = s.parse().ok().filter(|&b| b <= 32 && !s.starts_with('+'))?;
    Some(Ipv4Addr::from(u32::MAX.checked_shl(32 - bits).unwrap_or(0)))
}

fn parse_mask6(s: &str) -> Option<Ipv6Addr> {
    if let Ok(a) = s.parse::<Ipv6Addr>() {
        return Some(a);
    }
    let bits: u32 = s
        .parse()
        .ok()
        .filter(|&b| b <= 128 && !s.starts_with('+'))?;
    Some(Ipv6Addr::from(
        u128::MAX.checked_shl(128 - bits).unwrap_or(0),
    ))
}

/// Parses the arguments of `call` against `kinds`, of which the first `min` are mandatory.
pub(crate) fn args<'c>(
    call: &'c RawCall<'c>,
    kinds: &[Kind],
    min: usize,
) -> Result<Args<'c>, Error> {
    let keyword = || call.name.to_string();
    let empty = [RawArg {
        text: String::new(),
        at: call.at + call.name.len(),
    }];
    let raw: &[RawArg] = match &call.args {
        Some(a) => &a.list,
        None if min > 0 => &empty,
        None => &[],
    };
    // `()` on a keyword taking no arguments is allowed
    let raw = if kinds.is_empty() && raw.len() == 1 && raw[0].text.is_empty() {
        &raw[..0]
    } else {
        raw
    };
    if raw.len() > kinds.len() {
        return Err(Error::TooManyArgs {
            keyword: keyword(),
            max: kinds.len(),
            at: raw[kinds.len()].at,
        });
    }
    let mut vals = Vec::with_capacity(raw.len());
    for (i, (arg, kind)) in raw.iter().zip(kinds).enumerate() {
        let text = &arg.text;
        if text.is_empty() && *kind != Kind::Str {
            if i >= min && i + 1 == raw.len() {
                break;
            }
            return Err(Error::MissingArg {
                keyword: keyword(),
                position: i + 1,
                expected: kind.name(),
                at: arg.at,
            });
        }
        let val = match kind {
            Kind::Str => Some(Val::Str(text.clone())),
            Kind::Int => parse_int(text).map(Val::Int),
            Kind::Ipv4 => text.parse().ok().map(Val::Ipv4),
            Kind::Ipv6 => text.parse().ok().map(Val::Ipv6),
            Kind::Mask4 => parse_mask4(text).map(Val::Ipv4),
            Kind::Mask6 => parse_mask6(text).map(Val::Ipv6),
        };
        let Some(val) = val else {
            return Err(Error::BadArg {
                keyword: keyword(),
                position: i + 1,
                value: text.clone(),
                reason: format!("expected {} {}", article(kind.name()), kind.name()),
                at: arg.at,
            });
        };
        vals.push((val, text.clone(), arg.at));
    }
    if vals.len() < min {
        return Err(Error::MissingArg {
            keyword: keyword(),
            position: vals.len() + 1,
            expected: kinds[vals.len()].name(),
            at: call.args.as_ref().map_or(call.at, |a| a.open),
        });
    }
    Ok(Args { call, vals })
}

fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u', 'I']) {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(parse_mask4("24"), Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(parse_mask4("0"), Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(parse_mask4("32"), Some(Ipv4Addr::BROADCAST));
        assert_eq!(
            parse_mask4("255.0.255.0"),
            Some(Ipv4Addr::new(255, 0, 255, 0))
        );
        assert_eq!(parse_mask4("33"), None);
        assert_eq!(parse_mask4("1.2.3"), None);
        assert_eq!(parse_mask6("64"), "ffff:ffff:ffff:ffff::".parse().ok());
        assert_eq!(parse_mask6("0"), Some(Ipv6Addr::UNSPECIFIED));
        assert_eq!(parse_mask6("ffff:ff00::"), "ffff:ff00::".parse().ok());
        assert_eq!(parse_mask6("129"), None);
    }

    #[test]
    fn integers() {
        assert_eq!(parse_int("+5"), Some(5));
        assert_eq!(parse_int("-0"), Some(0));
        assert_eq!(parse_int("99999999999999999999"), Some(i64::MAX));
        assert_eq!(parse_int(" 5"), None);
        assert_eq!(parse_int("5x"), None);
        assert_eq!(parse_int("0x10"), None);
        assert_eq!(parse_int(""), None);
        assert_eq!(parse_int("-"), None);
    }
}
