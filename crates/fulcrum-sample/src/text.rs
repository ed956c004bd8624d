//! String converters that cut or rewrite text: `field`, `word`, `regsub`.

use std::ops::Range;

use regex::bytes::{Captures, Regex};

/// `field(index,delims[,count])`: the `index`-th field (from 1, or from -1 at the end) between
/// any of the `delims` bytes, and with `count` (0 for all remaining) several fields with their
/// delimiters. `None` when there are not that many fields.
pub(crate) fn field(s: &[u8], index: i64, delims: &[u8], count: i64) -> Option<Range<usize>> {
    let is_delim = |c: u8| delims.contains(&c);
    let mut count = count;
    if index > 0 {
        let (mut field, mut start) = (1i64, 0usize);
        for (end, &c) in s.iter().enumerate() {
            if !is_delim(c) {
                continue;
            }
            if field == index {
                if count == 1 {
                    return Some(start..end);
                }
                if count > 1 {
                    count -= 1;
                }
            } else {
                start = end + 1;
                field += 1;
            }
        }
        (field == index).then_some(start..s.len())
    } else {
        let (mut field, mut end) = (-1i64, s.len());
        for start in (0..s.len()).rev() {
            if !is_delim(s[start]) {
                continue;
            }
            if field == index {
                if count == 1 {
                    return Some(start + 1..end);
                }
                if count > 1 {
                    count -= 1;
                }
            } else {
                end = start;
                field -= 1;
            }
        }
        (field == index).then_some(0..end)
    }
}

/// `word(index,delims[,count])`: like [`field`] but runs of delimiters count as one and
/// delimiters at both ends are ignored. Returns an empty string when there are not that many
/// words (HAProxy returns an empty sample there, where `field` returns none).
pub(crate) fn word(s: &[u8], index: i64, delims: &[u8], count: i64) -> Range<usize> {
    let is_delim = |c: u8| delims.contains(&c);
    let mut count = count;
    let mut word = 0i64;
    let mut in_word = false;
    if index > 0 {
        let mut start = 0;
        for (end, &c) in s.iter().enumerate() {
            let sep = is_delim(c);
            if !in_word {
                if !sep {
                    if word != index {
                        word += 1;
                        start = end;
                    }
                    in_word = true;
                }
            } else if sep {
                if word == index {
                    if count == 1 {
                        return start..end;
                    }
                    if count > 1 {
                        count -= 1;
                    }
                }
                in_word = false;
            }
        }
        if word == index {
            start..s.len()
        } else {
            0..0
        }
    } else {
        let mut end = s.len();
        for start in (1..=s.len()).rev() {
            let sep = is_delim(s[start - 1]);
            if !in_word {
                if !sep {
                    if word != index {
                        word -= 1;
                        end = start;
                    }
                    in_word = true;
                }
            } else if sep {
                if word == index {
                    if count == 1 {
                        return start..end;
                    }
                    if count > 1 {
                        count -= 1;
                    }
                }
                in_word = false;
            }
        }
        if word == index {
            0..end
        } else {
            0..0
        }
    }
}

/// A piece of a `regsub` replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Bytes copied as they are.
    Text(Vec<u8>),
    /// `\N`: what group N matched (nothing when it did not take part).
    Group(usize),
}

/// Compiles a `regsub` replacement: `\0` to `\9` refer to groups, `\xHH` writes a byte, any
/// other `\c` writes `c`. `Err` names a malformed `\x` escape (HAProxy would write a garbage
/// byte) or a trailing backslash.
pub(crate) fn compile_subst(s: &[u8]) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' {
            text.push(s[i]);
            i += 1;
            continue;
        }
        match s.get(i + 1) {
            None => return Err("a '\\' at the end escapes nothing".to_string()),
            Some(d) if d.is_ascii_digit() => {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Group(usize::from(d - b'0')));
                i += 2;
            }
            Some(b'x') => {
                let digit = |k: usize| {
                    s.get(i + k)
                        .and_then(|&c| char::from(c).to_digit(16))
                        .map(|d| d as u8)
                };
                match (digit(2), digit(3)) {
                    (Some(hi), Some(lo)) => text.push(hi << 4 | lo),
                    _ => return Err("'\\x' must be followed by two hexadecimal digits".to_string()),
                }
                i += 4;
            }
            Some(&c) => {
                text.push(c);
                i += 2;
            }
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

pub(crate) fn expand(pieces: &[Piece], caps: &Captures<'_>, out: &mut Vec<u8>) {
    for p in pieces {
        match p {
            Piece::Text(t) => out.extend_from_slice(t),
            Piece::Group(n) => {
                if let Some(m) = caps.get(*n) {
                    out.extend_from_slice(m.as_bytes());
                }
            }
        }
    }
}

/// `regsub(re,subst[,flags])`: replaces the first match (every match with `global`), the way
/// HAProxy walks the string: after an empty match the next byte is copied and the search moves
/// past it, and `^` only matches at the very start.
pub(crate) fn regsub(s: &[u8], re: &Regex, subst: &[Piece], global: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut start = 0;
    let mut first = true;
    loop {
        let caps = if global || first {
            re.captures_at(s, start)
        } else {
            None
        };
        first = false;
        let Some(caps) = caps else {
            out.extend_from_slice(&s[start..]);
            return out;
        };
        let Some(m) = caps.get(0) else {
            out.extend_from_slice(&s[start..]);
            return out;
        };
        out.extend_from_slice(&s[start..m.start()]);
        expand(subst, &caps, &mut out);
        if start >= s.len() {
            return out;
        }
        let mut next = m.end();
        if next == start {
            out.push(s[start]);
            next += 1;
        }
        start = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::bytes::RegexBuilder;

    fn f(s: &str, i: i64, d: &str, c: i64) -> Option<String> {
        field(s.as_bytes(), i, d.as_bytes(), c).map(|r| s[r].to_string())
    }

    fn w(s: &str, i: i64, d: &str, c: i64) -> String {
        s[word(s.as_bytes(), i, d.as_bytes(), c)].to_string()
    }

    fn rs(s: &str, re: &str, subst: &str, flags: &str) -> String {
        let re = RegexBuilder::new(re)
            .case_insensitive(flags.contains('i'))
            .unicode(false)
            .build()
            .unwrap();
        let subst = compile_subst(subst.as_bytes()).unwrap();
        String::from_utf8(regsub(s.as_bytes(), &re, &subst, flags.contains('g'))).unwrap()
    }

    #[test]
    fn fields() {
        // the documentation's examples, confirmed with haproxy 2.6.12
        assert_eq!(f("f1_f2_f3__f5", 5, "_", 1).as_deref(), Some("f5"));
        assert_eq!(f("f1_f2_f3__f5", 2, "_", 0).as_deref(), Some("f2_f3__f5"));
        assert_eq!(f("f1_f2_f3__f5", 2, "_", 2).as_deref(), Some("f2_f3"));
        assert_eq!(f("f1_f2_f3__f5", -2, "_", 3).as_deref(), Some("f2_f3_"));
        assert_eq!(f("f1_f2_f3__f5", -3, "_", 0).as_deref(), Some("f1_f2_f3"));
        // observed with haproxy 2.6.12
        assert_eq!(f("f1_f2_f3__f5", -1, "_", 1).as_deref(), Some("f5"));
        assert_eq!(f("f1_f2_f3__f5", 6, "_", 1), None);
        assert_eq!(f("f1_f2_f3__f5", 4, "_", 1).as_deref(), Some(""));
        assert_eq!(f("a:b;c", 2, ":;", 1).as_deref(), Some("b"));
        assert_eq!(f("x", 2, ":", 1), None);
        assert_eq!(f("x", 1, ":", 1).as_deref(), Some("x"));
        assert_eq!(f("x", -2, ":", 1), None);
        assert_eq!(f("", 1, ":", 1).as_deref(), Some(""));
        assert_eq!(f("a:b", -5, ":", 1), None);
    }

    #[test]
    fn words() {
        // the documentation's examples, confirmed with haproxy 2.6.12
        assert_eq!(w("f1_f2_f3__f5", 4, "_", 1), "f5");
        assert_eq!(w("f1_f2_f3__f5", 2, "_", 0), "f2_f3__f5");
        assert_eq!(w("f1_f2_f3__f5", 3, "_", 2), "f3__f5");
        assert_eq!(w("f1_f2_f3__f5", -2, "_", 3), "f1_f2_f3");
        assert_eq!(w("f1_f2_f3__f5", -3, "_", 0), "f1_f2");
        assert_eq!(w("/f1/f2/f3/f4", 1, "/", 1), "f1");
        // observed with haproxy 2.6.12
        assert_eq!(w("/f1/f2/f3/f4", -1, "/", 1), "f4");
        assert_eq!(w("/f1/f2/f3/f4", 5, "/", 1), "");
        assert_eq!(w("///", 1, "/", 1), "");
        assert_eq!(w("x", 2, ":", 1), "");
        assert_eq!(w("/a/", -1, "/", 1), "a");
    }

    #[test]
    fn regsubs() {
        // the documentation's examples and more, observed with haproxy 2.6.12
        assert_eq!(rs("/////a///b/c/xzxyz/", "/+", "/", "g"), "/a/b/c/xzxyz/");
        assert_eq!(rs("/////a///b/c/xzxyz/", "/+", "/", ""), "/a///b/c/xzxyz/");
        assert_eq!(rs("?;&a=b", "[?;&]*", "", ""), "a=b");
        assert_eq!(
            rs("xfoo12y", "(foo|bar)([0-9]+)?", "\\2\\1", "i"),
            "x12fooy"
        );
        assert_eq!(
            rs("xFOO12y", "(foo|bar)([0-9]+)?", "\\2\\1", "i"),
            "x12FOOy"
        );
        assert_eq!(rs("xFOO12y", "(foo|bar)([0-9]+)?", "\\2\\1", ""), "xFOO12y");
        assert_eq!(rs("abc", "x*", "-", "g"), "-a-b-c-");
        assert_eq!(rs("abc", "x*", "-", ""), "-abc");
        assert_eq!(rs("abc", "b*", "-", "g"), "-a--c-");
        assert_eq!(rs("abc", "^", "-", "g"), "-abc");
        assert_eq!(rs("aaa", "^a", "-", "g"), "-aa");
        assert_eq!(rs("abc", "b", "\\x41", ""), "aAc");
        assert_eq!(rs("abc", "b", "[\\0]", ""), "a[b]c");
        assert_eq!(rs("ab", "a", "\\1", ""), "b");
        assert_eq!(rs("ab", "a", "x\\\\y", ""), "x\\yb");
        assert_eq!(rs("ab", "a", "x\\y", ""), "xyb");
        assert_eq!(rs("", "x*", "-", "g"), "-");
        assert_eq!(rs("", "x", "-", "g"), "");
    }

    #[test]
    fn substitutions() {
        assert!(compile_subst(b"\\xzz").is_err());
        assert!(compile_subst(b"\\x4").is_err());
        assert!(compile_subst(b"a\\").is_err());
        assert_eq!(
            compile_subst(b"a\\1b").unwrap(),
            vec![
                Piece::Text(b"a".to_vec()),
                Piece::Group(1),
                Piece::Text(b"b".to_vec())
            ]
        );
    }
}
