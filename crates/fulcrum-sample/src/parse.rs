//! The syntax of sample expressions: `fetch[(args)][,conv[(args)]]...`.
//!
//! This step only cuts the text into keywords and unquoted argument strings; [`crate::compile`]
//! resolves the names and types the arguments. The rules are HAProxy's:
//!
//! - a keyword is a run of ASCII letters, digits and `.`, `_`, `-`, `+`, `:`;
//! - arguments follow in parentheses, separated by commas; inside them `'...'` quotes strongly,
//!   `"..."` quotes weakly, and outside single quotes a backslash escapes `\`, space, `"` and `'`
//!   and writes `\r`, `\n`, `\t`; any other backslash is kept as it is (so `\1` reaches `regsub`);
//! - a `,` or `)` outside quotes ends an argument; parentheses do not nest, so a `)` inside an
//!   argument must be quoted;
//! - converters follow the fetch after commas; several commas in a row count as one and trailing
//!   commas are ignored.
//!
//! Note that this is the second level of HAProxy's quoting: the configuration parser has already
//! removed one level of quotes and backslashes from the word holding the expression.

use crate::error::Error;

/// A fetch or converter as written: its name and its arguments after unquoting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawCall<'t> {
    /// The keyword.
    pub name: &'t str,
    /// Byte offset of the keyword.
    pub at: usize,
    /// The arguments, `None` without parentheses.
    pub args: Option<RawArgs>,
}

/// A parenthesised argument list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawArgs {
    /// Byte offset of the `(`.
    pub open: usize,
    /// The arguments; `()` holds one empty argument.
    pub list: Vec<RawArg>,
}

/// One argument after unquoting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawArg {
    /// The argument's text.
    pub text: String,
    /// Byte offset of its first character.
    pub at: usize,
}

/// A whole expression as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawExpr<'t> {
    /// The fetch.
    pub fetch: RawCall<'t>,
    /// The converters, in order.
    pub convs: Vec<RawCall<'t>>,
    /// Byte offset just past the expression.
    pub end: usize,
}

/// Whether the expression must use the whole text or may stop where it can no longer continue
/// (inside `%[...]`, where a `]` follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The whole text is one expression.
    Whole,
    /// The expression ends at the first character that cannot continue it.
    Prefix,
}

/// Characters of fetch and converter names.
pub(crate) fn is_idchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+' | b':')
}

/// Cuts `text` into a fetch and converters.
pub(crate) fn parse_raw(text: &str, mode: Mode) -> Result<RawExpr<'_>, Error> {
    let b = text.as_bytes();
    let mut i = 0;
    let fetch = call(text, &mut i)?;
    if fetch.name.is_empty() {
        return Err(Error::MissingFetch { at: fetch.at });
    }
    let mut convs = Vec::new();
    loop {
        match b.get(i) {
            None => break,
            Some(b',') => {}
            Some(_) if mode == Mode::Prefix => break,
            Some(_) => {
                let after = convs.last().map_or(fetch.name, |c: &RawCall<'_>| c.name);
                return Err(Error::MissingComma {
                    after: after.to_string(),
                    at: i,
                });
            }
        }
        while b.get(i) == Some(&b',') {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let conv = call(text, &mut i)?;
        if conv.name.is_empty() {
            return Err(Error::MissingConverter { at: conv.at });
        }
        convs.push(conv);
    }
    Ok(RawExpr {
        fetch,
        convs,
        end: i,
    })
}

/// Reads a keyword and its optional argument list at `*i`.
fn call<'t>(text: &'t str, i: &mut usize) -> Result<RawCall<'t>, Error> {
    let b = text.as_bytes();
    let start = *i;
    while b.get(*i).is_some_and(|&c| is_idchar(c)) {
        *i += 1;
    }
    let name = &text[start..*i];
    let args = if b.get(*i) == Some(&b'(') {
        Some(arg_list(text, i, name)?)
    } else {
        None
    };
    Ok(RawCall {
        name,
        at: start,
        args,
    })
}

/// Reads `(a,b,...)` at `*i` (which points at the `(`), leaving `*i` after the `)`.
fn arg_list(text: &str, i: &mut usize, keyword: &str) -> Result<RawArgs, Error> {
    let b = text.as_bytes();
    let open = *i;
    *i += 1;
    let mut list = Vec::new();
    loop {
        let at = *i;
        let mut out = Vec::new();
        let mut quote: Option<(u8, usize)> = None;
        loop {
            let Some(&c) = b.get(*i) else {
                return Err(match quote {
                    Some((q, qat)) => Error::UnclosedQuote {
                        keyword: keyword.to_string(),
                        quote: char::from(q),
                        at: qat,
                    },
                    None => Error::UnclosedParen {
                        keyword: keyword.to_string(),
                        at: open,
                    },
                });
            };
            match (c, quote) {
                (b'"', None) | (b'\'', None) => {
                    quote = Some((c, *i));
                    *i += 1;
                }
                (b'"', Some((b'"', _))) | (b'\'', Some((b'\'', _))) => {
                    quote = None;
                    *i += 1;
                }
                (b'\\', q) if q.is_none_or(|(q, _)| q == b'"') => {
                    let Some(&next) = b.get(*i + 1) else {
                        return Err(Error::DanglingEscape {
                            keyword: keyword.to_string(),
                            at: *i,
                        });
                    };
                    match next {
                        b'\\' | b' ' | b'"' | b'\'' => {
                            out.push(next);
                            *i += 2;
                        }
                        b'r' => {
                            out.push(b'\r');
                            *i += 2;
                        }
                        b'n' => {
                            out.push(b'\n');
                            *i += 2;
                        }
                        b't' => {
                            out.push(b'\t');
                            *i += 2;
                        }
                        _ => {
                            out.push(b'\\');
                            *i += 1;
                        }
                    }
                }
                (b',' | b')', None) => break,
                _ => {
                    out.push(c);
                    *i += 1;
                }
            }
        }
        list.push(RawArg {
            text: String::from_utf8(out)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            at,
        });
        let end = b[*i];
        *i += 1;
        if end == b')' {
            return Ok(RawArgs { open, list });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        let e = parse_raw(text, Mode::Whole).unwrap();
        e.fetch
            .args
            .map(|a| a.list.into_iter().map(|a| a.text).collect())
            .unwrap_or_default()
    }

    #[test]
    fn fetch_and_converters() {
        let e = parse_raw("req.hdr(host),lower,field(1,:)", Mode::Whole).unwrap();
        assert_eq!(e.fetch.name, "req.hdr");
        assert_eq!(e.convs.len(), 2);
        assert_eq!(e.convs[0].name, "lower");
        assert!(e.convs[0].args.is_none());
        assert_eq!(e.convs[1].name, "field");
        assert_eq!(e.convs[1].at, 20);
        let a = e.convs[1].args.as_ref().unwrap();
        assert_eq!(a.open, 25);
        assert_eq!(a.list[0].text, "1");
        assert_eq!(a.list[1].text, ":");
        assert_eq!(a.list[1].at, 28);
        assert_eq!(e.end, 30);
    }

    #[test]
    fn quoting_inside_arguments() {
        // observed with haproxy 2.6.12 through str(...)
        assert_eq!(args("str('a,b')"), ["a,b"]);
        assert_eq!(args("str(\"a)b\")"), ["a)b"]);
        assert_eq!(args("str(a\\ b)"), ["a b"]);
        assert_eq!(args("str(a\\\\b)"), ["a\\b"]);
        assert_eq!(args("str(a\\nb)"), ["a\nb"]);
        assert_eq!(args("str('a\\nb')"), ["a\\nb"]);
        assert_eq!(args("str(a\\qb)"), ["a\\qb"]);
        assert_eq!(args("str(\"a'b\")"), ["a'b"]);
        assert_eq!(args("str('a\"b')"), ["a\"b"]);
        assert_eq!(args("str(\"a\\\"b\")"), ["a\"b"]);
        assert_eq!(args("str(\"\\2\\1\")"), ["\\2\\1"]);
        assert_eq!(args("str(a\\,b)"), ["a\\", "b"]);
        assert_eq!(args("str()"), [""]);
        assert_eq!(args("str(,)"), ["", ""]);
        assert_eq!(args("str(a]b)"), ["a]b"]);
        assert_eq!(args("str(é)"), ["é"]);
        assert!(args("str").is_empty());
    }

    #[test]
    fn commas_between_converters() {
        let e = parse_raw("str(a),,lower,", Mode::Whole).unwrap();
        assert_eq!(e.convs.len(), 1);
        assert_eq!(e.end, 14);
        let e = parse_raw("base32+src", Mode::Whole).unwrap();
        assert_eq!(e.fetch.name, "base32+src");
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_raw("", Mode::Whole),
            Err(Error::MissingFetch { at: 0 })
        );
        assert_eq!(
            parse_raw(",lower", Mode::Whole),
            Err(Error::MissingFetch { at: 0 })
        );
        assert_eq!(
            parse_raw("str(abc", Mode::Whole),
            Err(Error::UnclosedParen {
                keyword: "str".into(),
                at: 3
            })
        );
        assert_eq!(
            parse_raw("str('abc)", Mode::Whole),
            Err(Error::UnclosedQuote {
                keyword: "str".into(),
                quote: '\'',
                at: 4
            })
        );
        assert_eq!(
            parse_raw("str(a\\", Mode::Whole),
            Err(Error::DanglingEscape {
                keyword: "str".into(),
                at: 5
            })
        );
        assert_eq!(
            parse_raw("str(a)lower", Mode::Whole),
            Err(Error::MissingComma {
                after: "str".into(),
                at: 6
            })
        );
        assert_eq!(
            parse_raw("str(a),lower x", Mode::Whole),
            Err(Error::MissingComma {
                after: "lower".into(),
                at: 12
            })
        );
        assert_eq!(
            parse_raw("str(a),(x)", Mode::Whole),
            Err(Error::MissingConverter { at: 7 })
        );
    }

    #[test]
    fn prefix_mode_stops_before_what_cannot_continue() {
        let e = parse_raw("str(a),lower] rest", Mode::Prefix).unwrap();
        assert_eq!(e.end, 12);
        let e = parse_raw("src:%[dst]", Mode::Prefix).unwrap();
        assert_eq!(e.fetch.name, "src:");
        let e = parse_raw("src]", Mode::Prefix).unwrap();
        assert_eq!(e.end, 3);
    }
}
