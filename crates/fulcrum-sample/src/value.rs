//! Sample types and HAProxy's implicit casts between them.
//!
//! A sample is one of six kinds of data ([`Value`]); [`Type`] names them, plus the three
//! pseudo-types that only appear in signatures (`any`, `address`, `method`). Before a converter
//! runs, its input is cast to the type the converter takes; a cast that does not exist is refused
//! when the expression is loaded, and a cast that fails on the actual data (say `str(abc)` to an
//! IPv4 address) makes the sample absent, never a panic.
//!
//! The cast matrix (rows: from, columns: to; `-` none, `=` identity) follows HAProxy 2.6:
//!
//! | from \ to | bool | int | addr | ipv4 | ipv6 | str | bin | meth |
//! |-----------|------|-----|------|------|------|-----|-----|------|
//! | bool      | =    | 0/1 | -    | -    | -    | dec | 8B  | -    |
//! | int       | !=0  | =   | v4   | v4   | map  | dec | 8B  | -    |
//! | ipv4      | -    | u32 | =    | =    | map  | dot | 4B  | -    |
//! | ipv6      | -    | -   | =    | unmap| =    | txt | 16B | -    |
//! | str       | int  | int | v4/6 | v4   | v6   | =   | =   | =    |
//! | bin       | -    | -   | -    | -    | -    | NUL | =   | =    |
//! | meth      | -    | -   | -    | -    | -    | =   | =   | =    |
//!
//! `dec` is decimal, `8B` an 8-byte big-endian integer, `map` the IPv4-mapped IPv6 address
//! (`::ffff:a.b.c.d`), `unmap` succeeds only for such an address, `NUL` cuts a binary sample at its
//! first NUL byte, and `int` from a string reads a leading, optionally signed, decimal integer
//! (saturating; an empty string fails, `abc` gives 0).

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The type of a sample, or of a fetch's output and a converter's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// Anything: the output of `var()`, whose type is known only at run time.
    Any,
    /// A boolean.
    Bool,
    /// A signed 64-bit integer.
    Int,
    /// Either IPv4 or IPv6 (the input of `ipmask`).
    Addr,
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// A string of bytes (not necessarily UTF-8).
    Str,
    /// A binary block.
    Bin,
    /// An HTTP method; its values are strings, the type only narrows which converters apply.
    Meth,
}

impl Type {
    /// Whether a sample declared as `self` can be cast to `to` (HAProxy refuses the expression
    /// at load time otherwise).
    pub fn casts_to(self, to: Type) -> bool {
        use Type::*;
        match (self, to) {
            (Any, _) | (_, Any) => true,
            (Bool, Bool | Int | Str | Bin) => true,
            (Int, Bool | Int | Addr | Ipv4 | Ipv6 | Str | Bin) => true,
            (Addr, _) => false,
            (Ipv4, Int | Addr | Ipv4 | Ipv6 | Str | Bin) => true,
            (Ipv6, Addr | Ipv4 | Ipv6 | Str | Bin) => true,
            (Str, _) => true,
            (Bin, Str | Bin | Meth) => true,
            (Meth, Str | Bin | Meth) => true,
            _ => false,
        }
    }

    /// The name HAProxy's documentation uses for the type.
    pub fn name(self) -> &'static str {
        match self {
            Type::Any => "any",
            Type::Bool => "boolean",
            Type::Int => "integer",
            Type::Addr => "address",
            Type::Ipv4 => "ipv4",
            Type::Ipv6 => "ipv6",
            Type::Str => "string",
            Type::Bin => "binary",
            Type::Meth => "method",
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A sample: the result of a fetch or a converter.
///
/// Strings and binary blocks borrow from the request or the expression where they can (`'a`),
/// so that fetching a header or a constant does not allocate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value<'a> {
    /// A boolean (`always_true`, `bool`, `not`, ...).
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address.
    Ipv6(Ipv6Addr),
    /// A string (HAProxy strings are bytes; HTTP methods are strings too).
    Str(Cow<'a, [u8]>),
    /// A binary block.
    Bin(Cow<'a, [u8]>),
}

impl<'a> Value<'a> {
    /// A string sample borrowing `s`.
    pub fn str(s: &'a [u8]) -> Value<'a> {
        Value::Str(Cow::Borrowed(s))
    }

    /// A string sample owning `s`.
    pub fn string(s: impl Into<Vec<u8>>) -> Value<'static> {
        Value::Str(Cow::Owned(s.into()))
    }

    /// A binary sample owning `b`.
    pub fn bin(b: impl Into<Vec<u8>>) -> Value<'static> {
        Value::Bin(Cow::Owned(b.into()))
    }

    /// The sample's type.
    pub fn kind(&self) -> Type {
        match self {
            Value::Bool(_) => Type::Bool,
            Value::Int(_) => Type::Int,
            Value::Ipv4(_) => Type::Ipv4,
            Value::Ipv6(_) => Type::Ipv6,
            Value::Str(_) => Type::Str,
            Value::Bin(_) => Type::Bin,
        }
    }

    /// The same sample, owning its data (to store it in a variable, say).
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Ipv4(a) => Value::Ipv4(a),
            Value::Ipv6(a) => Value::Ipv6(a),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Bin(b) => Value::Bin(Cow::Owned(b.into_owned())),
        }
    }

    /// A copy of the sample borrowing this one's data (what a [`Context`](crate::Context)
    /// returns for a stored variable, without copying it).
    pub fn reborrow(&self) -> Value<'_> {
        match self {
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Int(*i),
            Value::Ipv4(a) => Value::Ipv4(*a),
            Value::Ipv6(a) => Value::Ipv6(*a),
            Value::Str(s) => Value::Str(Cow::Borrowed(s)),
            Value::Bin(b) => Value::Bin(Cow::Borrowed(b)),
        }
    }

    /// Casts the sample to `to` as HAProxy does before a converter or when a typed result is
    /// needed; `None` when no cast exists or it fails on this data.
    pub fn cast(self, to: Type) -> Option<Value<'a>> {
        match to {
            Type::Any => Some(self),
            Type::Bool => match self {
                Value::Bool(_) => Some(self),
                Value::Int(i) => Some(Value::Bool(i != 0)),
                Value::Str(s) => str_to_int(&s).map(|i| Value::Bool(i != 0)),
                _ => None,
            },
            Type::Int => match self {
                Value::Bool(b) => Some(Value::Int(i64::from(b))),
                Value::Int(_) => Some(self),
                Value::Ipv4(a) => Some(Value::Int(i64::from(u32::from(a)))),
                Value::Str(s) => str_to_int(&s).map(Value::Int),
                _ => None,
            },
            Type::Addr => match self {
                Value::Int(i) => Some(Value::Ipv4(int_to_ipv4(i))),
                Value::Ipv4(_) | Value::Ipv6(_) => Some(self),
                Value::Str(s) => match parse_ipv4_prefix(&s) {
                    Some(a) => Some(Value::Ipv4(a)),
                    None => parse_ipv6(&s).map(Value::Ipv6),
                },
                _ => None,
            },
            Type::Ipv4 => match self {
                Value::Int(i) => Some(Value::Ipv4(int_to_ipv4(i))),
                Value::Ipv4(_) => Some(self),
                Value::Ipv6(a) => unmap_ipv4(a).map(Value::Ipv4),
                Value::Str(s) => parse_ipv4_prefix(&s).map(Value::Ipv4),
                _ => None,
            },
            Type::Ipv6 => match self {
                Value::Int(i) => Some(Value::Ipv6(int_to_ipv4(i).to_ipv6_mapped())),
                Value::Ipv4(a) => Some(Value::Ipv6(a.to_ipv6_mapped())),
                Value::Ipv6(_) => Some(self),
                Value::Str(s) => parse_ipv6(&s).map(Value::Ipv6),
                _ => None,
            },
            Type::Str => Some(Value::Str(self.into_str_bytes())),
            Type::Meth => match self {
                Value::Str(s) | Value::Bin(s) => Some(Value::Str(s)),
                _ => None,
            },
            Type::Bin => Some(Value::Bin(match self {
                Value::Bool(b) => Cow::Owned(i64::from(b).to_be_bytes().to_vec()),
                Value::Int(i) => Cow::Owned(i.to_be_bytes().to_vec()),
                Value::Ipv4(a) => Cow::Owned(a.octets().to_vec()),
                Value::Ipv6(a) => Cow::Owned(a.octets().to_vec()),
                Value::Str(s) | Value::Bin(s) => s,
            })),
        }
    }

    /// The sample as HAProxy prints it in `%[...]`: cast to a string (integers in decimal,
    /// booleans as `0`/`1`, addresses in text form, binary blocks cut at their first NUL byte).
    pub fn as_str_bytes(&self) -> Cow<'_, [u8]> {
        self.reborrow().into_str_bytes()
    }

    /// Like [`Value::as_str_bytes`], consuming the sample (no copy for strings).
    pub fn into_str_bytes(self) -> Cow<'a, [u8]> {
        match self {
            Value::Bool(b) => Cow::Borrowed(if b { b"1" } else { b"0" }),
            Value::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            Value::Ipv4(a) => Cow::Owned(a.to_string().into_bytes()),
            Value::Ipv6(a) => Cow::Owned(ipv6_text(a).into_bytes()),
            Value::Str(s) => s,
            Value::Bin(b) => match b.iter().position(|&c| c == 0) {
                None => b,
                Some(n) => match b {
                    Cow::Borrowed(s) => Cow::Borrowed(&s[..n]),
                    Cow::Owned(mut v) => {
                        v.truncate(n);
                        Cow::Owned(v)
                    }
                },
            },
        }
    }

    /// Appends the string form of the sample ([`Value::as_str_bytes`]) to `out`.
    pub fn write_str(&self, out: &mut Vec<u8>) {
        match self {
            Value::Str(s) => out.extend_from_slice(s),
            other => out.extend_from_slice(&other.as_str_bytes()),
        }
    }

    /// The sample cast to an integer, if it can be.
    pub fn to_int(&self) -> Option<i64> {
        match self.reborrow().cast(Type::Int)? {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    /// Whether the sample is empty: an empty string or binary block (scalars never are).
    pub fn is_empty(&self) -> bool {
        matches!(self, Value::Str(s) | Value::Bin(s) if s.is_empty())
    }
}

impl fmt::Display for Value<'_> {
    /// The string form, with invalid UTF-8 replaced.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.as_str_bytes()))
    }
}

impl From<bool> for Value<'static> {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value<'static> {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<Ipv4Addr> for Value<'static> {
    fn from(a: Ipv4Addr) -> Self {
        Value::Ipv4(a)
    }
}

impl From<Ipv6Addr> for Value<'static> {
    fn from(a: Ipv6Addr) -> Self {
        Value::Ipv6(a)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Str(Cow::Borrowed(s.as_bytes()))
    }
}

impl From<String> for Value<'static> {
    fn from(s: String) -> Self {
        Value::Str(Cow::Owned(s.into_bytes()))
    }
}

/// Reads a leading decimal integer with an optional sign, saturating at the bounds of `i64`:
/// `12abc` is 12, `abc` is 0, `-` is 0; only an empty string fails (HAProxy's string-to-integer
/// cast).
pub(crate) fn str_to_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    Some(read_int64(s).0)
}

/// Reads `[+-]?[0-9]*` at the start of `s`, saturating; returns the value and the bytes used.
pub(crate) fn read_int64(s: &[u8]) -> (i64, usize) {
    let (neg, start) = match s.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let mut magnitude: u64 = 0;
    let mut i = start;
    while let Some(d) = s.get(i).filter(|c| c.is_ascii_digit()) {
        magnitude = magnitude
            .saturating_mul(10)
            .saturating_add(u64::from(d - b'0'));
        i += 1;
    }
    let value = if neg {
        if magnitude >= 1 << 63 {
            i64::MIN
        } else {
            -(magnitude as i64)
        }
    } else {
        i64::try_from(magnitude).unwrap_or(i64::MAX)
    };
    (value, i)
}

/// An integer's low 32 bits as an IPv4 address (`int(16909060)` is `1.2.3.4`).
fn int_to_ipv4(i: i64) -> Ipv4Addr {
    Ipv4Addr::from(i as u32)
}

/// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), the only IPv6
/// addresses HAProxy turns into IPv4 ones.
pub(crate) fn unmap_ipv4(a: Ipv6Addr) -> Option<Ipv4Addr> {
    a.to_ipv4_mapped()
}

/// Parses the dotted IPv4 address at the start of `s`, ignoring what follows the fourth number
/// if it is neither a digit nor a dot (`1.2.3.4:80` gives `1.2.3.4`), as HAProxy's string cast does.
/// Octets may have leading zeros and are decimal.
pub(crate) fn parse_ipv4_prefix(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut count = 0usize;
    let mut in_number = false;
    let mut current: u32 = 0;
    for &c in s {
        match c {
            b'0'..=b'9' => {
                current = current * 10 + u32::from(c - b'0');
                if current > 255 {
                    return None;
                }
                if !in_number {
                    count += 1;
                    if count > 4 {
                        return None;
                    }
                    in_number = true;
                }
                octets[count - 1] = current as u8;
            }
            b'.' if in_number => {
                if count == 4 {
                    return None;
                }
                in_number = false;
                current = 0;
            }
            b'.' => return None,
            _ => break,
        }
    }
    (count == 4 && in_number).then(|| Ipv4Addr::from(octets))
}

/// Parses a whole string as an IPv6 address (`inet_pton` rules, so `::1.2.3.4` is accepted).
pub(crate) fn parse_ipv6(s: &[u8]) -> Option<Ipv6Addr> {
    if s.len() > 46 {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// An IPv6 address in glibc's `inet_ntop` form, which HAProxy prints: like Rust's (RFC 5952)
/// except that an IPv4-compatible address (`::a.b.c.d`, 96 zero bits then a value of 2^16 or
/// more) keeps its dotted tail.
pub(crate) fn ipv6_text(a: Ipv6Addr) -> String {
    let s = a.segments();
    if s[..6].iter().all(|&w| w == 0) && s[6] != 0 {
        let o = a.octets();
        return format!("::{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
    }
    a.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value<'_> {
        Value::from(v)
    }

    #[test]
    fn int_to_string_and_back() {
        // observed with haproxy 2.6.12: int(-7) prints -7; str(12abc),add(1) is 13
        assert_eq!(Value::Int(-7).as_str_bytes().as_ref(), b"-7");
        assert_eq!(s("12abc").cast(Type::Int), Some(Value::Int(12)));
        assert_eq!(s("-12").cast(Type::Int), Some(Value::Int(-12)));
        assert_eq!(s("+7").cast(Type::Int), Some(Value::Int(7)));
        assert_eq!(s("abc").cast(Type::Int), Some(Value::Int(0)));
        assert_eq!(s("").cast(Type::Int), None);
        assert_eq!(
            s("99999999999999999999").cast(Type::Int),
            Some(Value::Int(i64::MAX))
        );
        assert_eq!(
            s("-99999999999999999999").cast(Type::Int),
            Some(Value::Int(i64::MIN))
        );
        assert_eq!(
            s("-9223372036854775808").cast(Type::Int),
            Some(Value::Int(i64::MIN))
        );
    }

    #[test]
    fn bool_casts() {
        assert_eq!(Value::Bool(true).as_str_bytes().as_ref(), b"1");
        assert_eq!(Value::Bool(false).cast(Type::Int), Some(Value::Int(0)));
        assert_eq!(Value::Int(-7).cast(Type::Bool), Some(Value::Bool(true)));
        // observed with haproxy 2.6.12: str(abc),bool is 0, str(),bool is absent
        assert_eq!(s("abc").cast(Type::Bool), Some(Value::Bool(false)));
        assert_eq!(s("").cast(Type::Bool), None);
        assert_eq!(Value::Ipv4(Ipv4Addr::LOCALHOST).cast(Type::Bool), None);
        assert_eq!(
            Value::Bool(true).cast(Type::Bin),
            Some(Value::bin(vec![0, 0, 0, 0, 0, 0, 0, 1]))
        );
    }

    #[test]
    fn address_casts() {
        let a = Ipv4Addr::new(1, 2, 3, 4);
        // observed with haproxy 2.6.12: ipv4(1.2.3.4),add(1) is 16909061
        assert_eq!(Value::Ipv4(a).cast(Type::Int), Some(Value::Int(16909060)));
        assert_eq!(Value::Int(16909060).cast(Type::Ipv4), Some(Value::Ipv4(a)));
        // observed with haproxy 2.6.12: int(-2),ipmask(32) is 255.255.255.254
        assert_eq!(
            Value::Int(-2).cast(Type::Addr),
            Some(Value::Ipv4(Ipv4Addr::new(255, 255, 255, 254)))
        );
        assert_eq!(
            Value::Ipv4(a).cast(Type::Ipv6),
            Some(Value::Ipv6(a.to_ipv6_mapped()))
        );
        assert_eq!(
            Value::Ipv6(a.to_ipv6_mapped()).cast(Type::Ipv4),
            Some(Value::Ipv4(a))
        );
        assert_eq!(Value::Ipv6(Ipv6Addr::LOCALHOST).cast(Type::Ipv4), None);
        assert_eq!(Value::Ipv6(Ipv6Addr::LOCALHOST).cast(Type::Int), None);
        assert_eq!(Value::Ipv4(a).as_str_bytes().as_ref(), b"1.2.3.4");
        assert_eq!(
            Value::Ipv4(a).cast(Type::Bin),
            Some(Value::bin(vec![1, 2, 3, 4]))
        );
    }

    #[test]
    fn string_to_address() {
        // observed with haproxy 2.6.12 through ipmask(32)
        assert_eq!(
            parse_ipv4_prefix(b"1.2.3.4junk"),
            Some(Ipv4Addr::new(1, 2, 3, 4))
        );
        assert_eq!(
            parse_ipv4_prefix(b"01.2.3.4"),
            Some(Ipv4Addr::new(1, 2, 3, 4))
        );
        assert_eq!(parse_ipv4_prefix(b"1.2.3"), None);
        assert_eq!(parse_ipv4_prefix(b"1.2.3.4."), None);
        assert_eq!(parse_ipv4_prefix(b"256.2.3.4"), None);
        assert_eq!(parse_ipv4_prefix(b".1.2.3.4"), None);
        assert_eq!(parse_ipv4_prefix(b"1..2.3"), None);
        assert_eq!(parse_ipv4_prefix(b""), None);
        assert_eq!(
            s("::1").cast(Type::Addr),
            Some(Value::Ipv6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(
            s("10.0.0.1").cast(Type::Addr),
            Some(Value::Ipv4(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert_eq!(s("nope").cast(Type::Addr), None);
        assert_eq!(s("1.2.3.4").cast(Type::Ipv6), None);
    }

    #[test]
    fn ipv6_text_like_glibc() {
        // observed with haproxy 2.6.12
        let t = |x: &str| ipv6_text(x.parse().unwrap());
        assert_eq!(t("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(t("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(t("1:0:1:1:1:1:1:1"), "1:0:1:1:1:1:1:1");
        assert_eq!(t("1:0:0:1:0:0:0:1"), "1:0:0:1::1");
        assert_eq!(t("::ffff:0:1.2.3.4"), "::ffff:0:102:304");
        assert_eq!(t("::0.0.1.0"), "::100");
        assert_eq!(t("::1"), "::1");
        assert_eq!(t("::"), "::");
    }

    #[test]
    fn binary_to_string_stops_at_nul() {
        // observed with haproxy 2.6.12: bin(610062) prints "a", bin(0001ff) prints nothing
        assert_eq!(
            Value::bin(vec![0x61, 0, 0x62]).as_str_bytes().as_ref(),
            b"a"
        );
        assert_eq!(Value::bin(vec![0, 1, 0xff]).as_str_bytes().as_ref(), b"");
        assert_eq!(
            Value::bin(vec![0xff, 0x41]).as_str_bytes().as_ref(),
            b"\xffA"
        );
        assert_eq!(
            Value::Bin(Cow::Borrowed(b"x\0y")).into_str_bytes().as_ref(),
            b"x"
        );
    }

    #[test]
    fn matrix() {
        use Type::*;
        assert!(Str.casts_to(Ipv4));
        assert!(Ipv4.casts_to(Int));
        assert!(!Ipv6.casts_to(Int));
        assert!(!Meth.casts_to(Int));
        assert!(!Bin.casts_to(Int));
        assert!(!Bool.casts_to(Ipv4));
        assert!(Any.casts_to(Ipv6));
        assert!(Int.casts_to(Addr));
        assert!(!Bin.casts_to(Addr));
        assert_eq!(
            Value::bin(b"GET".to_vec()).cast(Meth),
            Some(Value::string("GET"))
        );
        assert_eq!(Value::Int(1).cast(Any), Some(Value::Int(1)));
        assert_eq!(
            Value::Int(258).cast(Bin),
            Some(Value::bin(258i64.to_be_bytes().to_vec()))
        );
        assert_eq!(Value::bin(b"ab".to_vec()).cast(Int), None);
    }

    #[test]
    fn display_and_helpers() {
        assert_eq!(Value::Int(5).to_string(), "5");
        assert_eq!(Value::bin(vec![0xff]).to_string(), "\u{fffd}");
        assert!(Value::string("").is_empty());
        assert!(!Value::Int(0).is_empty());
        assert_eq!(s("42").to_int(), Some(42));
        let mut out = Vec::new();
        Value::Int(3).write_str(&mut out);
        s("x").write_str(&mut out);
        assert_eq!(out, b"3x");
        let owned = s("abc").into_owned();
        assert_eq!(owned.reborrow(), s("abc"));
        assert_eq!(Value::from(true).kind(), Type::Bool);
        assert_eq!(Value::from(String::from("a")).kind(), Type::Str);
        assert_eq!(Value::from(Ipv6Addr::LOCALHOST).kind(), Type::Ipv6);
        assert_eq!(Value::from(Ipv4Addr::LOCALHOST).kind(), Type::Ipv4);
        assert_eq!(Value::from(1i64).kind(), Type::Int);
        assert_eq!(Type::Str.to_string(), "string");
    }
}
