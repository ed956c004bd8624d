//! Log-format strings (`log-format`, `http-request set-header X "..."`, `lf-string`, ...) cut
//! into literal text, sample expressions (`%[expr]`) and log variables (`%ci`, `%{+Q}r`, ...).
//!
//! Expressions are compiled here; log variables are left to the proxy's log-format code as
//! [`Segment::Var`] with their name and flags. `%%` is a literal `%`. Text is kept verbatim,
//! spaces included: in `log-format` directives HAProxy merges runs of spaces into one separator,
//! which is the caller's business.

use std::fmt;
use std::ops::ControlFlow;

use crate::context::Context;
use crate::error::Error;
use crate::Expr;

/// The `%{...}` flags of a variable or an expression: `+X` sets a flag, `-X` clears it, an
/// unmentioned flag is `None` (inherited, for instance from `%{+Q}o`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// `Q`: quote the value.
    pub quote: Option<bool>,
    /// `E`: escape `"`, `\` and `]` with a backslash.
    pub escape: Option<bool>,
    /// `X`: hexadecimal (addresses, ports and some numbers).
    pub hex: Option<bool>,
}

impl Flags {
    fn is_empty(&self) -> bool {
        *self == Flags::default()
    }
}

impl fmt::Display for Flags {
    /// `{+Q,-E}`, or nothing when no flag is given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return Ok(());
        }
        let mut sep = "{";
        for (flag, name) in [(self.quote, 'Q'), (self.escape, 'E'), (self.hex, 'X')] {
            if let Some(on) = flag {
                write!(f, "{sep}{}{name}", if on { '+' } else { '-' })?;
                sep = ",";
            }
        }
        f.write_str("}")
    }
}

/// A piece of a log-format string.
#[derive(Debug, Clone)]
pub enum Segment {
    /// Text copied as it is (`%%` already turned into `%`); its bytes are [`crate::raw_bytes`]'s.
    Literal(String),
    /// A log variable such as `ci` in `%ci` or `r` in `%{+Q}r`, for the proxy's log-format code.
    Var {
        /// The name after `%` (letters only).
        name: String,
        /// Its flags.
        flags: Flags,
    },
    /// A sample expression, `%[expr]` or `%{flags}[expr]`.
    Expr {
        /// The compiled expression.
        expr: Expr,
        /// Its flags.
        flags: Flags,
    },
}

/// Renders a log variable of a [`LogFormat`]: called with its name and flags and the output to
/// append to; [`ControlFlow::Break`] stops the rendering.
pub type VarRenderer<'v> = dyn FnMut(&str, Flags, &mut Vec<u8>) -> ControlFlow<()> + 'v;

/// A parsed log-format string.
#[derive(Debug, Clone)]
pub struct LogFormat {
    segments: Vec<Segment>,
    source: String,
}

impl LogFormat {
    /// Cuts `s` into segments, compiling each `%[...]` expression; errors carry the byte offset
    /// in `s`.
    pub fn parse(s: &str) -> Result<LogFormat, Error> {
        LogFormat::parse_with(s, &mut crate::NoMaps)
    }

    /// As [`LogFormat::parse`], with the map files of `map*` converters taken from `maps`.
    pub fn parse_with(s: &str, maps: &mut dyn crate::MapSource) -> Result<LogFormat, Error> {
        let b = s.as_bytes();
        let mut segments = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        while i < b.len() {
            let Some(rel) = s[i..].find('%') else {
                lit.push_str(&s[i..]);
                break;
            };
            lit.push_str(&s[i..i + rel]);
            let pct = i + rel;
            i = pct + 1;
            if b.get(i) == Some(&b'%') {
                lit.push('%');
                i += 1;
                continue;
            }
            let mut flags = Flags::default();
            if b.get(i) == Some(&b'{') {
                let close = s[i..].find('}').ok_or(Error::UnclosedFlags { at: i })? + i;
                flags = parse_flags(&s[i + 1..close], i + 1)?;
                i = close + 1;
            }
            let segment = if b.get(i) == Some(&b'[') {
                let start = i + 1;
                let (expr, used) =
                    Expr::parse_prefix_with(&s[start..], maps).map_err(|e| e.shifted(start))?;
                let end = start + used;
                if b.get(end) != Some(&b']') {
                    return Err(Error::UnclosedExpr {
                        expr: s[start..end].to_string(),
                        at: end,
                    });
                }
                i = end + 1;
                Segment::Expr { expr, flags }
            } else {
                let start = i;
                while b.get(i).is_some_and(u8::is_ascii_alphabetic) {
                    i += 1;
                }
                if i == start {
                    return Err(Error::Dangling { at: pct });
                }
                Segment::Var {
                    name: s[start..i].to_string(),
                    flags,
                }
            };
            if !lit.is_empty() {
                segments.push(Segment::Literal(std::mem::take(&mut lit)));
            }
            segments.push(segment);
        }
        if !lit.is_empty() {
            segments.push(Segment::Literal(lit));
        }
        Ok(LogFormat {
            segments,
            source: s.to_string(),
        })
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The format string as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the format holds no expression and no variable (a constant string).
    pub fn is_constant(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// Appends the rendered string to `out` as HAProxy renders a format in an HTTP proxy:
    /// expressions print their string form (nothing when absent), with the control characters
    /// other than tab written `%XX` (so that a sample cannot break a header line) and, with the
    /// `E` flag, `"`, `\` and `]` escaped by a backslash. Variables are rendered by `var`.
    pub fn render<C: Context + ?Sized>(
        &self,
        ctx: &C,
        out: &mut Vec<u8>,
        var: &mut VarRenderer<'_>,
    ) {
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => crate::rawbytes::extend_raw(out, l),
                Segment::Var { name, flags } => {
                    if var(name, *flags, out).is_break() {
                        return;
                    }
                }
                Segment::Expr { expr, flags } => {
                    if let Some(v) = expr.eval(ctx) {
                        encode_http(&v.as_str_bytes(), flags.escape == Some(true), out);
                    }
                }
            }
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// HAProxy's encoding of sample values in HTTP log-format strings: bytes 0x00-0x08, 0x0a-0x1f
/// and 0x7f as `%XX`; with `escape`, `"`, `\` and `]` preceded by a backslash.
pub fn encode_http(value: &[u8], escape: bool, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in value {
        match c {
            0x00..=0x08 | 0x0a..=0x1f | 0x7f => {
                out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]])
            }
            b'"' | b'\\' | b']' if escape => out.extend_from_slice(&[b'\\', c]),
            _ => out.push(c),
        }
    }
}

/// Parses `+Q,-E,...` (the text between the braces, which starts at byte `at`).
fn parse_flags(s: &str, at: usize) -> Result<Flags, Error> {
    let mut flags = Flags::default();
    let mut offset = at;
    for part in s.split(',') {
        let bad = || Error::BadFlag {
            flag: part.to_string(),
            at: offset,
        };
        if !part.is_empty() {
            let (on, name) = match part.as_bytes() {
                [b'+', n] => (true, *n),
                [b'-', n] => (false, *n),
                _ => return Err(bad()),
            };
            match name {
                b'Q' => flags.quote = Some(on),
                b'E' => flags.escape = Some(on),
                b'X' => flags.hex = Some(on),
                _ => return Err(bad()),
            }
        }
        offset += part.len() + 1;
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(f: &LogFormat) -> Vec<String> {
        f.segments()
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => format!("L({l})"),
                Segment::Var { name, flags } => format!("V({flags}{name})"),
                Segment::Expr { expr, flags } => format!("E({flags}{expr})"),
            })
            .collect()
    }

    #[test]
    fn cuts_text_variables_and_expressions() {
        let f = LogFormat::parse("%[src]:%[dst_port]").unwrap();
        assert_eq!(kinds(&f), ["E(src)", "L(:)", "E(dst_port)"]);
        let f =
            LogFormat::parse("%ci:%cp [%tr] %{+Q}r 100%% %{+E,-Q}[req.hdr(x),lower] end").unwrap();
        assert_eq!(
            kinds(&f),
            [
                "V(ci)",
                "L(:)",
                "V(cp)",
                "L( [)",
                "V(tr)",
                "L(] )",
                "V({+Q}r)",
                "L( 100% )",
                "E({-Q,+E}req.hdr(x),lower)",
                "L( end)"
            ]
        );
        assert!(!f.is_constant());
        assert_eq!(f.to_string(), f.source());
        let f = LogFormat::parse("plain %% text").unwrap();
        assert!(f.is_constant());
        assert_eq!(kinds(&f), ["L(plain % text)"]);
        assert!(LogFormat::parse("").unwrap().segments().is_empty());
        // a ']' inside a quoted argument does not end the expression
        let f = LogFormat::parse("%[str(']'),length]").unwrap();
        assert_eq!(kinds(&f), ["E(str(']'),length)"]);
    }

    #[test]
    fn errors_point_into_the_format() {
        assert_eq!(
            LogFormat::parse("ab %[src").unwrap_err(),
            Error::UnclosedExpr {
                expr: "src".into(),
                at: 8
            }
        );
        let e = LogFormat::parse("x %[str(a)lower]").unwrap_err();
        assert_eq!(
            e,
            Error::UnclosedExpr {
                expr: "str(a)".into(),
                at: 10
            }
        );
        assert_eq!(
            LogFormat::parse("x %[nope]").unwrap_err(),
            Error::UnknownFetch {
                name: "nope".into(),
                at: 4
            }
        );
        assert_eq!(
            LogFormat::parse("x %[str(a),nope]").unwrap_err(),
            Error::UnknownConverter {
                name: "nope".into(),
                at: 11
            }
        );
        assert_eq!(
            LogFormat::parse("50%").unwrap_err(),
            Error::Dangling { at: 2 }
        );
        assert_eq!(
            LogFormat::parse("5%0").unwrap_err(),
            Error::Dangling { at: 1 }
        );
        assert_eq!(
            LogFormat::parse("%{+Q").unwrap_err(),
            Error::UnclosedFlags { at: 1 }
        );
        assert_eq!(
            LogFormat::parse("%{+Q,+Z}r").unwrap_err(),
            Error::BadFlag {
                flag: "+Z".into(),
                at: 5
            }
        );
        assert_eq!(
            LogFormat::parse("%{Q}r").unwrap_err(),
            Error::BadFlag {
                flag: "Q".into(),
                at: 2
            }
        );
        assert_eq!(
            LogFormat::parse("%[]").unwrap_err(),
            Error::MissingFetch { at: 2 }
        );
    }

    #[test]
    fn http_encoding() {
        // observed with haproxy 2.6.12: "%[str(a\x01\tb\x7f)]" renders a%01<TAB>b%7F,
        // %{+E}[str(a]b)] renders a\]b
        let mut out = Vec::new();
        encode_http(b"a\x01\tb\x7f", false, &mut out);
        assert_eq!(out, b"a%01\tb%7F");
        out.clear();
        encode_http(b"a]b\"\\\n", true, &mut out);
        assert_eq!(out, b"a\\]b\\\"\\\\%0A");
        out.clear();
        encode_http(b"a]b", false, &mut out);
        assert_eq!(out, b"a]b");
        assert_eq!(Flags::default().to_string(), "");
    }
}
