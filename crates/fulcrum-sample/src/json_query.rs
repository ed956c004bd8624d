//! `json_query(PATH[,int])`: the value a JSON path names in a JSON text, found by scanning the text once, without
//! building a tree (so without allocating, but for a string that holds escapes).
//!
//! Behaviour as HAProxy 2.6 shows it (observed black-box): the path is `$` followed by `.key` steps (a `\.` in a
//! key is a dot of the key) and `[N]` array indexes; the first member with the key is taken; a string gives its
//! unescaped bytes (`\u00XX` is the one byte XX), `true`/`false` a boolean, a number the text C's `%g` prints, or
//! with `int` the integer its text starts with, when it lies within ±(2^53 - 1). An object, an array, `null`, a
//! missing member or a text that is not JSON give no sample.

use std::borrow::Cow;

use crate::value::Value;

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `.key`: the member of an object.
    Key(Box<[u8]>),
    /// `[N]`: the element of an array.
    Index(usize),
}

/// Parses a JSON path (`$.a.b[2]`, `$.my\.key`); `None` when it is not one.
pub fn parse_path(path: &str) -> Option<Box<[Step]>> {
    let b = path.as_bytes();
    if b.first() != Some(&b'$') {
        return None;
    }
    let mut steps = Vec::new();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'.' => {
                i += 1;
                let mut key = Vec::new();
                while i < b.len() && b[i] != b'.' && b[i] != b'[' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    key.push(b[i]);
                    i += 1;
                }
                if key.is_empty() {
                    return None;
                }
                steps.push(Step::Key(key.into()));
            }
            b'[' => {
                let end = i + b[i..].iter().position(|&c| c == b']')?;
                let n = std::str::from_utf8(&b[i + 1..end]).ok()?.parse().ok()?;
                steps.push(Step::Index(n));
                i = end + 1;
            }
            _ => return None,
        }
    }
    Some(steps.into())
}

/// The largest integer `json_query(...,int)` gives (JSON's exact integers).
const INT_MAX: i64 = (1 << 53) - 1;

/// Runs the query.
pub fn query(text: &[u8], path: &[Step], int: bool) -> Option<Value<'static>> {
    let mut s = Scanner { b: text, i: 0 };
    for step in path {
        s.ws();
        match step {
            Step::Key(k) => s.member(k)?,
            Step::Index(n) => s.element(*n)?,
        }
    }
    s.ws();
    match *s.b.get(s.i)? {
        b'"' => {
            let start = s.i;
            s.string()?;
            Some(Value::Str(Cow::Owned(unescape(&s.b[start + 1..s.i - 1])?)))
        }
        b't' if s.b[s.i..].starts_with(b"true") => Some(Value::Bool(true)),
        b'f' if s.b[s.i..].starts_with(b"false") => Some(Value::Bool(false)),
        b'-' | b'0'..=b'9' => {
            let start = s.i;
            s.number()?;
            let token = std::str::from_utf8(&s.b[start..s.i]).ok()?;
            if int {
                let v = leading_int(token);
                (-INT_MAX..=INT_MAX).contains(&v).then_some(Value::Int(v))
            } else {
                let v: f64 = token.parse().ok()?;
                Some(Value::Str(Cow::Owned(format_g(v).into_bytes())))
            }
        }
        _ => None,
    }
}

/// The integer a number's text starts with, as C's `atoll` reads it (`4.5` is 4, `1e3` is 1), saturated.
fn leading_int(token: &str) -> i64 {
    let (neg, digits) = match token.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, token),
    };
    let mut v: i64 = 0;
    for c in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// A number as C's `printf("%g")` writes it: six significant digits, no trailing zeros, an exponent (at least
/// two digits) below 1e-4 and from 1e6.
pub fn format_g(v: f64) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".to_string()
        } else if v > 0.0 {
            "inf".to_string()
        } else {
            "-inf".to_string()
        };
    }
    // The exponent after rounding to six significant digits.
    let sci = format!("{v:.5e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

/// A JSON string's contents with its escapes decoded.
fn unescape(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let e = *s.get(i)?;
        i += 1;
        match e {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                let hex = std::str::from_utf8(s.get(i..i + 4)?).ok()?;
                let cp = u32::from_str_radix(hex, 16).ok()?;
                i += 4;
                match u8::try_from(cp) {
                    Ok(b) => out.push(b),
                    Err(_) => {
                        let ch = char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER);
                        out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                    }
                }
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// A cursor over a JSON text.
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self
            .b
            .get(self.i)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// Skips a string (the cursor on its opening quote).
    fn string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => self.i += 2,
                c if c < 0x20 => return None,
                _ => self.i += 1,
            }
        }
    }

    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        while self
            .b
            .get(self.i)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            self.i += 1;
        }
        (self.i > start).then_some(())
    }

    /// Skips one value of any kind.
    fn value(&mut self) -> Option<()> {
        self.ws();
        match *self.b.get(self.i)? {
            b'"' => self.string(),
            b'{' => {
                self.i += 1;
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.string()?;
                    self.eat(b':')?;
                    self.value()?;
                    if self.eat(b',').is_none() {
                        return self.eat(b'}');
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.value()?;
                    if self.eat(b',').is_none() {
                        return self.eat(b']');
                    }
                }
            }
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            _ => self.number(),
        }
    }

    fn word(&mut self, w: &[u8]) -> Option<()> {
        self.b[self.i..].starts_with(w).then(|| self.i += w.len())
    }

    /// Moves to the value of the first member named `key` of the object at the cursor.
    fn member(&mut self, key: &[u8]) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return None;
        }
        loop {
            self.ws();
            let start = self.i;
            self.string()?;
            let raw = &self.b[start + 1..self.i - 1];
            let same = if raw.contains(&b'\\') {
                unescape(raw)?.as_slice() == key
            } else {
                raw == key
            };
            self.eat(b':')?;
            if same {
                return Some(());
            }
            self.value()?;
            self.eat(b',')?;
        }
    }

    /// Moves to the element `n` of the array at the cursor.
    fn element(&mut self, n: usize) -> Option<()> {
        self.eat(b'[')?;
        for _ in 0..n {
            self.value()?;
            self.eat(b',')?;
        }
        self.ws();
        (self.b.get(self.i) != Some(&b']')).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str, path: &str, int: bool) -> Option<Value<'static>> {
        query(text.as_bytes(), &parse_path(path).unwrap(), int)
    }

    fn s(v: &str) -> Option<Value<'static>> {
        Some(Value::Str(Cow::Owned(v.as_bytes().to_vec())))
    }

    /// The answers haproxy 2.6 gave to the same queries.
    #[test]
    fn like_haproxy() {
        let doc = r#"{"a":4.5,"b":{"x":1},"c":[10,"z\"q"],"d":{"e":-3},"n":null,"s":"h\"i\\/","t":true,"big":12345678901234567890,"sm":0.0000123}"#;
        assert_eq!(q(doc, "$.a", false), s("4.5"));
        assert_eq!(q(doc, "$.a", true), Some(Value::Int(4)));
        assert_eq!(q(doc, "$.b", false), None);
        assert_eq!(q(doc, "$.c[1]", false), s("z\"q"));
        assert_eq!(q(doc, "$.c[0]", true), Some(Value::Int(10)));
        assert_eq!(q(doc, "$.c[2]", false), None);
        assert_eq!(q(doc, "$.d.e", false), s("-3"));
        assert_eq!(q(doc, "$.n", false), None);
        assert_eq!(q(doc, "$.s", false), s("h\"i\\/"));
        assert_eq!(q(doc, "$.s", true), s("h\"i\\/"));
        assert_eq!(q(doc, "$.t", false), Some(Value::Bool(true)));
        assert_eq!(q(doc, "$", false), None);
        assert_eq!(q(doc, "$.big", false), s("1.23457e+19"));
        assert_eq!(q(doc, "$.big", true), None);
        assert_eq!(q(doc, "$.sm", false), s("1.23e-05"));
        assert_eq!(q(r#"{"a":100000000}"#, "$.a", false), s("1e+08"));
        assert_eq!(q(r#"{"a":1e3,"a":2}"#, "$.a", false), s("1000"));
        assert_eq!(q(r#"{"a":1e3}"#, "$.a", true), Some(Value::Int(1)));
        assert_eq!(q(r#"{"a":9007199254740993}"#, "$.a", true), None);
        assert_eq!(
            q(r#"{"a":9007199254740993}"#, "$.a", false),
            s("9.0072e+15")
        );
        assert_eq!(q(r#"{"s":123.7}"#, "$.s", true), Some(Value::Int(123)));
        assert_eq!(q(r#"{"t":false,"sm":-0.5}"#, "$.sm", false), s("-0.5"));
        assert_eq!(q(r#"{"t":false}"#, "$.t", false), Some(Value::Bool(false)));
        assert_eq!(q(r#"{"my.key":"v"}"#, r"$.my\.key", false), s("v"));
        assert_eq!(
            q(
                r#" { "x" : [ 1 , { "y" : "\u0041" } ] } "#,
                "$.x[1].y",
                false
            ),
            s("A")
        );
        assert_eq!(q("not json", "$.a", false), None);
    }

    #[test]
    fn paths() {
        assert_eq!(
            parse_path(r"$.a\.b[3].c").unwrap().to_vec(),
            [
                Step::Key((*b"a.b").into()),
                Step::Index(3),
                Step::Key((*b"c").into())
            ]
        );
        assert!(parse_path("a.b").is_none());
        assert!(parse_path("$.").is_none());
        assert!(parse_path("$[x]").is_none());
    }

    #[test]
    fn printf_g() {
        for (v, want) in [
            (4.5, "4.5"),
            (1000.0, "1000"),
            (123456.0, "123456"),
            (1234567.0, "1.23457e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-3.0, "-3"),
            (0.1 + 0.2, "0.3"),
            (999999.5, "1e+06"),
        ] {
            assert_eq!(format_g(v), want, "{v}");
        }
    }
}
