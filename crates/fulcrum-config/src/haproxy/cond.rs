//! HAProxy 2.6's configuration conditions: the expressions of `.if` / `.elif` lines and of `-cc EXPR`.
//!
//! ```text
//! expr := and ( '||' and )*
//! and  := term ( '&&' term )*
//! term := '!'* ( number | '(' expr ')' | predicate )
//! predicate := NAME [ '(' arg ( ',' arg )* ')' ]
//! ```
//!
//! Spaces and tabs may surround every token. The whole expression is evaluated the way HAProxy 2.6 does it:
//! * The empty expression is false (but an expression made only of blanks is an error).
//! * A number is read as C's `strtol(.., 0)` reads it (decimal, `0x` hexadecimal, `0` octal, optional sign) and is
//!   true when non-zero; what follows it must be an operator, so `200rrr` and `08` are errors.
//! * A predicate name ends at the first space or `(`; `streq (a,b)` therefore has no argument list. Arguments are
//!   taken verbatim up to an unquoted `,` or `)`, spaces included (`streq( a ,a)` is false); inside them `"..."` and
//!   `'...'` group, and `\\`, `\ `, `\"`, `\'`, `\r`, `\n`, `\t` are escapes. A predicate written without `(...)`
//!   receives one empty argument.
//! * fulcrum links no OpenSSL: `openssl_version_atleast()`, `openssl_version_before()` and
//!   `ssllib_name_startswith()` are always false (a HAProxy built without OpenSSL calls the first two an error).
//! * Anything else is an error; the whole expression is parsed before it is evaluated, so an error is reported even
//!   in a part that `&&` or `||` would not evaluate.

use std::cmp::Ordering;

use super::lexer::{self, LexError};

/// The HAProxy version whose haproxy.cfg dialect fulcrum speaks; `version_atleast()` and `version_before()` compare
/// against it.
pub const HAPROXY_VERSION: &str = "2.6";

/// The HAProxy build features (`haproxy -vv`, "Feature list") for which `feature(NAME)` is true: only those fulcrum
/// really has. EPOLL, ACCEPT4 and GETADDRINFO come with tokio and the standard library on Linux, LINUX_SPLICE is the
/// zero-copy tcp relay, PROMEX the Prometheus exporter and THREAD `nbthread`. OPENSSL is what configurations test
/// to know whether the TLS keywords (`ssl`, `crt`, `ca-file`, the `ssl_*` fetches ...) are built in: they are, on
/// rustls, so it is true; the predicates about the library itself (`openssl_version_atleast`,
/// `ssllib_name_startswith(OpenSSL)`) stay false, since the library is not OpenSSL. Everything else is false, notably
/// LUA, PCRE, PCRE2, PCRE2_JIT, ZLIB, SLZ, QUIC, TPROXY, LINUX_TPROXY, TFO, SYSTEMD, NS and CPU_AFFINITY.
pub const FEATURES: &[&str] = &[
    "ACCEPT4",
    "EPOLL",
    "GETADDRINFO",
    "LINUX_SPLICE",
    "OPENSSL",
    "PROMEX",
    "THREAD",
];

/// How deeply parentheses may nest.
const MAX_DEPTH: usize = 100;

/// Why a condition could not be evaluated. Positions are 1-based character columns in the expression as evaluated
/// (after quote removal and variable expansion, words joined by one space).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CondError {
    /// The `-cc` text could not be split into words (an unmatched quote, a bad escape or variable reference).
    #[error("syntax error in condition: {0}")]
    Lex(#[from] LexError),
    /// A term was expected: a number, `!`, `(` or a known predicate.
    #[error("unparsable conditional expression at position {position}: expected a number, '!', '(' or a predicate such as defined(NAME), found {}", found(.rest))]
    Unparsable {
        /// where the term should start
        position: usize,
        /// the text from there on
        rest: String,
    },
    /// A parenthesized expression is not closed.
    #[error("expected ')' at position {position} of conditional expression '{expr}'")]
    MissingParen {
        /// where the `)` should be
        position: usize,
        /// the whole expression
        expr: String,
    },
    /// A complete expression is followed by more text.
    #[error("unexpected character '{found}' at position {position} after the end of conditional expression '{expr}'")]
    Trailing {
        /// the first extra character
        found: char,
        /// its position
        position: usize,
        /// the whole expression
        expr: String,
    },
    /// A predicate was given fewer arguments than it takes.
    #[error("predicate '{predicate}' expects {expected} argument(s), got {got} (arguments go in parentheses right after the name: '{predicate}(...)')")]
    MissingArgs {
        /// the predicate
        predicate: &'static str,
        /// how many it takes
        expected: usize,
        /// how many were found
        got: usize,
    },
    /// A predicate's argument list does not end with `)` after its last argument.
    #[error("expected ')' to close the arguments of predicate '{predicate}' at position {position}, found {}", found(.rest))]
    ArgsNotClosed {
        /// the predicate
        predicate: &'static str,
        /// where the `)` should be
        position: usize,
        /// the text from there on
        rest: String,
    },
    /// An argument ends with a lone backslash.
    #[error("backslash at the end of the arguments of predicate '{predicate}' (position {position}) escapes nothing")]
    TrailingBackslash {
        /// the predicate
        predicate: &'static str,
        /// the position of the backslash
        position: usize,
    },
    /// Parentheses nest more deeply than fulcrum accepts.
    #[error("conditional expression nests parentheses more than {max} levels deep")]
    TooDeep {
        /// the limit
        max: usize,
    },
}

fn found(rest: &str) -> String {
    if rest.is_empty() {
        "the end of the expression".to_string()
    } else {
        format!("'{rest}'")
    }
}

/// Evaluates `expr` as `haproxy -cc EXPR` does: the text is first split into words like a configuration line
/// (quotes, backslash escapes and `$VAR` expansion; `#` is not a comment here), the words are joined with single
/// spaces, and the result is evaluated. `env` looks up environment variables, for the expansion and for `defined()`.
pub fn evaluate(expr: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<bool, CondError> {
    let words = lexer::split_line(&escape_hashes(expr), env)?;
    if words.is_empty() && !expr.is_empty() {
        // HAProxy evaluates blank text as one blank, which does not parse
        return evaluate_text(" ", env);
    }
    evaluate_words(&words, env)
}

/// Evaluates the condition of a `.if` or `.elif` line whose words (after the directive) are `words`, already
/// split by the line lexer: they are joined with single spaces, as HAProxy does. No word at all is false.
pub fn evaluate_words(
    words: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<bool, CondError> {
    evaluate_text(&words.join(" "), env)
}

/// Evaluates an expression given as one text, with no further lexing.
fn evaluate_text(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<bool, CondError> {
    if text.is_empty() {
        return Ok(false);
    }
    let mut p = Parser {
        s: text.chars().collect(),
        pos: 0,
        env,
    };
    let value = p.expr(0)?;
    p.skip_blanks();
    match p.peek() {
        None => Ok(value),
        Some(found) => Err(CondError::Trailing {
            found,
            position: p.pos + 1,
            expr: text.to_string(),
        }),
    }
}

/// Makes `#` literal for the line lexer (which takes it as a comment) everywhere but inside single quotes, where
/// everything is already literal.
fn escape_hashes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut squote, mut dquote) = (false, false);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if !squote => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
                continue;
            }
            '\'' if !dquote => squote = !squote,
            '"' if !squote => dquote = !dquote,
            '#' if !squote => {
                out.push_str("\\#");
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// The predicates of HAProxy 2.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Predicate {
    Defined,
    Feature,
    Streq,
    Strneq,
    VersionAtleast,
    VersionBefore,
    OpensslVersionAtleast,
    OpensslVersionBefore,
    SsllibNameStartswith,
}

impl Predicate {
    const ALL: [Predicate; 9] = [
        Predicate::Defined,
        Predicate::Feature,
        Predicate::Streq,
        Predicate::Strneq,
        Predicate::VersionAtleast,
        Predicate::VersionBefore,
        Predicate::OpensslVersionAtleast,
        Predicate::OpensslVersionBefore,
        Predicate::SsllibNameStartswith,
    ];

    fn name(self) -> &'static str {
        match self {
            Predicate::Defined => "defined",
            Predicate::Feature => "feature",
            Predicate::Streq => "streq",
            Predicate::Strneq => "strneq",
            Predicate::VersionAtleast => "version_atleast",
            Predicate::VersionBefore => "version_before",
            Predicate::OpensslVersionAtleast => "openssl_version_atleast",
            Predicate::OpensslVersionBefore => "openssl_version_before",
            Predicate::SsllibNameStartswith => "ssllib_name_startswith",
        }
    }

    fn arity(self) -> usize {
        match self {
            Predicate::Streq | Predicate::Strneq => 2,
            _ => 1,
        }
    }

    fn eval(self, args: &[String], env: &dyn Fn(&str) -> Option<String>) -> bool {
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
        match self {
            Predicate::Defined => env(arg(0)).is_some(),
            Predicate::Feature => FEATURES.contains(&arg(0)),
            Predicate::Streq => arg(0) == arg(1),
            Predicate::Strneq => arg(0) != arg(1),
            // an unparsable version compares as "not newer", as in HAProxy
            Predicate::VersionAtleast => {
                compare_version(arg(0), HAPROXY_VERSION) != Some(Ordering::Greater)
            }
            Predicate::VersionBefore => {
                compare_version(arg(0), HAPROXY_VERSION) == Some(Ordering::Greater)
            }
            // fulcrum links no OpenSSL (its TLS is rustls)
            Predicate::OpensslVersionAtleast
            | Predicate::OpensslVersionBefore
            | Predicate::SsllibNameStartswith => false,
        }
    }
}

struct Parser<'a> {
    s: Vec<char>,
    pos: usize,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    fn at(&self, op: &str) -> bool {
        op.chars()
            .enumerate()
            .all(|(i, c)| self.s.get(self.pos + i) == Some(&c))
    }

    fn rest(&self) -> String {
        self.s.get(self.pos..).unwrap_or_default().iter().collect()
    }

    fn expr(&mut self, depth: usize) -> Result<bool, CondError> {
        let mut value = self.and(depth)?;
        loop {
            self.skip_blanks();
            if !self.at("||") {
                return Ok(value);
            }
            self.pos += 2;
            value |= self.and(depth)?;
        }
    }

    fn and(&mut self, depth: usize) -> Result<bool, CondError> {
        let mut value = self.term(depth)?;
        loop {
            self.skip_blanks();
            if !self.at("&&") {
                return Ok(value);
            }
            self.pos += 2;
            value &= self.term(depth)?;
        }
    }

    fn term(&mut self, depth: usize) -> Result<bool, CondError> {
        self.skip_blanks();
        let start = self.pos;
        let mut negate = false;
        while self.peek() == Some('!') {
            negate = !negate;
            self.pos += 1;
            self.skip_blanks();
        }
        let value = if let Some((non_zero, len)) = c_integer(&self.s[self.pos..]) {
            self.pos += len;
            non_zero
        } else if self.peek() == Some('(') {
            if depth >= MAX_DEPTH {
                return Err(CondError::TooDeep { max: MAX_DEPTH });
            }
            self.pos += 1;
            let value = self.expr(depth + 1)?;
            self.skip_blanks();
            if self.peek() != Some(')') {
                return Err(CondError::MissingParen {
                    position: self.pos + 1,
                    expr: self.s.iter().collect(),
                });
            }
            self.pos += 1;
            value
        } else {
            let end = self.s[self.pos..]
                .iter()
                .position(|&c| c == ' ' || c == '(')
                .map_or(self.s.len(), |p| self.pos + p);
            let name: String = self.s[self.pos..end].iter().collect();
            let Some(pred) = Predicate::ALL.into_iter().find(|p| p.name() == name) else {
                self.pos = start;
                return Err(CondError::Unparsable {
                    position: start + 1,
                    rest: self.rest(),
                });
            };
            self.pos = end;
            let args = self.args(pred)?;
            pred.eval(&args, self.env)
        };
        Ok(value != negate)
    }

    /// Reads the argument list of `pred`, which starts at the current position.
    fn args(&mut self, pred: Predicate) -> Result<Vec<String>, CondError> {
        let want = pred.arity();
        if self.peek() != Some('(') {
            // no list: one empty argument, as HAProxy's argument parser gives
            if want > 1 {
                return Err(CondError::MissingArgs {
                    predicate: pred.name(),
                    expected: want,
                    got: 1,
                });
            }
            return Ok(vec![String::new()]);
        }
        self.pos += 1;
        let mut args = Vec::with_capacity(want);
        loop {
            args.push(self.arg(pred)?);
            if args.len() >= want || self.peek() != Some(',') {
                break;
            }
            self.pos += 1;
        }
        if args.len() < want {
            return Err(CondError::MissingArgs {
                predicate: pred.name(),
                expected: want,
                got: args.len(),
            });
        }
        if self.peek() != Some(')') {
            return Err(CondError::ArgsNotClosed {
                predicate: pred.name(),
                position: self.pos + 1,
                rest: self.rest(),
            });
        }
        self.pos += 1;
        Ok(args)
    }

    /// Reads one argument, up to an unquoted `,` or `)` or the end.
    fn arg(&mut self, pred: Predicate) -> Result<String, CondError> {
        let mut out = String::new();
        let (mut squote, mut dquote) = (false, false);
        while let Some(c) = self.peek() {
            match c {
                '"' if !squote => dquote = !dquote,
                '\'' if !dquote => squote = !squote,
                '\\' if !squote => {
                    let escaped = match self.s.get(self.pos + 1) {
                        None => {
                            return Err(CondError::TrailingBackslash {
                                predicate: pred.name(),
                                position: self.pos + 1,
                            })
                        }
                        Some(&e @ ('\\' | ' ' | '"' | '\'')) => Some(e),
                        Some('r') => Some('\r'),
                        Some('n') => Some('\n'),
                        Some('t') => Some('\t'),
                        // a lone backslash: kept, and what follows is read normally
                        Some(_) => None,
                    };
                    match escaped {
                        Some(e) => {
                            out.push(e);
                            self.pos += 1;
                        }
                        None => out.push('\\'),
                    }
                }
                ',' | ')' if !squote && !dquote => break,
                _ => out.push(c),
            }
            self.pos += 1;
        }
        Ok(out)
    }
}

/// Reads an integer at the start of `s` the way C's `strtol(s, &end, 0)` does (leading white space, optional sign,
/// `0x` hexadecimal, `0` octal, else decimal). Returns whether it is non-zero (an overflow saturates, so it is) and
/// how many characters it took, or `None` when no digit could be read.
fn c_integer(s: &[char]) -> Option<(bool, usize)> {
    let mut i = s
        .iter()
        .position(|c| !matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'))
        .unwrap_or(s.len());
    if matches!(s.get(i), Some('+' | '-')) {
        i += 1;
    }
    let hex = s.get(i) == Some(&'0')
        && matches!(s.get(i + 1), Some('x' | 'X'))
        && s.get(i + 2).is_some_and(char::is_ascii_hexdigit);
    let (radix, start) = match (hex, s.get(i)) {
        (true, _) => (16, i + 2),
        (false, Some('0')) => (8, i),
        _ => (10, i),
    };
    let digits = s[start..].iter().take_while(|c| c.is_digit(radix)).count();
    if digits == 0 {
        return None;
    }
    let non_zero = s[start..start + digits].iter().any(|&c| c != '0');
    Some((non_zero, start + digits))
}

/// Reads a decimal integer as C's `strtol(s, &end, 10)` does: the value (saturated) and the length read, 0 when no
/// digit could be read.
fn c_long(s: &[u8]) -> (i64, usize) {
    let mut i = s
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .unwrap_or(s.len());
    let negative = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return (0, 0);
    }
    let magnitude = s[i..i + digits].iter().fold(0u64, |m, &d| {
        m.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    let value = if negative {
        0i64.checked_sub_unsigned(magnitude).unwrap_or(i64::MIN)
    } else {
        i64::try_from(magnitude).unwrap_or(i64::MAX)
    };
    (value, i + digits)
}

/// Splits a HAProxy version the way HAProxy does, into major, minor, patch, sub-patch, release tag (1 for `-devN`,
/// 2 for `-preN` / `-rcN`, 3 for a release), tag number and commit count: `2.5-dev0` is `[2,5,0,0,1,0,0]`, `2.6` is
/// `[2,6,0,0,3,0,0]`, `2.4-dev18-f6818d-20` is `[2,4,0,0,1,18,20]`. `None` when it does not read as a version.
fn split_version(version: &str) -> Option<[u32; 7]> {
    let b = version.as_bytes();
    let mut v = [0, 0, 0, 0, 3, 0, 0];
    if b.is_empty() {
        return None;
    }
    // up to four dotted numbers, then possibly '-' and a tag
    let mut p = 0;
    let mut field = 0;
    loop {
        let (n, len) = c_long(&b[p..]);
        // truncated to 32 bits, as C's conversion to unsigned int
        v[field] = n as u32;
        let end = p + len;
        match b.get(end) {
            None => return Some(v),
            Some(b'-') => {
                p = end + 1;
                break;
            }
            Some(b'.') if field < 3 => {
                p = end + 1;
                field += 1;
            }
            _ => return None,
        }
    }
    if !b.get(p).is_some_and(u8::is_ascii_digit) {
        let tag = [(&b"dev"[..], 1), (b"rc", 2), (b"pre", 2)]
            .into_iter()
            .find(|(t, _)| b[p..].starts_with(t));
        if let Some((t, kind)) = tag {
            v[4] = kind;
            p += t.len();
            let (n, len) = c_long(&b[p..]);
            v[5] = n as u32;
            match b.get(p + len) {
                None => return Some(v),
                Some(b'-') => p += len + 1,
                _ => return None,
            }
        }
    }
    // a commit count: the number after the last '-', or what is left
    let rest = &b[p..];
    let commit = match rest.iter().rposition(|&c| c == b'-') {
        Some(dash) if dash + 1 == rest.len() => return None,
        Some(dash) => &rest[dash + 1..],
        None => rest,
    };
    let (n, len) = c_long(commit);
    v[6] = if len == commit.len() { n as u32 } else { 0 };
    Some(v)
}

/// How version `a` compares with version `b`; `None` when either does not read as a version.
fn compare_version(a: &str, b: &str) -> Option<Ordering> {
    Some(split_version(a)?.cmp(&split_version(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TESTVAR" => Some("1".into()),
            "EMPTY" => Some(String::new()),
            "SPACED" => Some("a b".into()),
            _ => None,
        }
    }

    #[track_caller]
    fn yes(expr: &str) {
        assert_eq!(evaluate(expr, &env), Ok(true), "{expr}");
    }

    #[track_caller]
    fn no(expr: &str) {
        assert_eq!(evaluate(expr, &env), Ok(false), "{expr}");
    }

    #[track_caller]
    fn bad(expr: &str) -> CondError {
        match evaluate(expr, &env) {
            Err(e) => e,
            Ok(v) => panic!("{expr}: expected an error, got {v}"),
        }
    }

    #[test]
    fn numbers() {
        for e in [
            "1",
            "-7",
            "+3",
            "0x1f",
            "0X1",
            "010",
            "99999999999999999999",
            "-99999999999999999999",
            " 1",
            "1 ",
        ] {
            yes(e);
        }
        for e in ["0", "-0", "00", "0x0", "+0"] {
            no(e);
        }
        for e in [
            "200abc", "08", "0x", "0xg", "1e3", "1.5", "-", "+", "- 2", "2 3",
        ] {
            bad(e);
        }
    }

    #[test]
    fn empty_and_blank() {
        no("");
        no("\"\"");
        no("''");
        assert!(matches!(bad(" "), CondError::Unparsable { .. }));
        assert!(matches!(bad("\t \t"), CondError::Unparsable { .. }));
        assert!(evaluate_words(&[], &env) == Ok(false));
        assert!(evaluate_words(&[String::new()], &env) == Ok(false));
        yes("\"\" 1");
    }

    #[test]
    fn operators_and_precedence() {
        yes("1&&1||0&&0");
        no("0||1&&0");
        no("(0||1)&&0");
        yes("0 || 1 && 1");
        yes("!0");
        no("!!0");
        yes("! ! ! 0");
        no("!(1)");
        yes("(((1)))");
        yes("( 1 )");
        yes("1 && !0 && !((streq(x,y) || !streq(x,x) && 1) || strneq(x,x))");
        yes("1&&!0&&!((streq(x,y)||!streq(x,x)&&1)||strneq(x,x))");
        yes("1   &&!   0&&    !((streq(x,y)||!streq(x,x)&&1)||strneq(x,x))");
        no("1 && !0 && !((streq(x,y) || !streq(x,x) && 1) || strneq(x,y))");
        no("1 && !0 && !((streq(x,x) || !streq(x,x) && 1) || strneq(x,x))");
        yes("-5 && 300");
    }

    #[test]
    fn syntax_errors() {
        for e in [
            "!",
            "!!",
            "1 &&",
            "&& 1",
            "1 ||",
            "|| 0",
            "1 & 1",
            "1 | 0",
            "1&&&1",
            "1|||0",
            "()",
            "( )",
            "foo",
            "foo(1)",
            "(1",
            "((1)",
            "1)",
            "!(0))",
            "streq(a,a)x",
            "streq(a,a) 1",
            "defined&&1",
        ] {
            bad(e);
        }
        assert_eq!(
            bad("200rrr"),
            CondError::Trailing {
                found: 'r',
                position: 4,
                expr: "200rrr".into()
            }
        );
        assert_eq!(
            bad("1 && bar"),
            CondError::Unparsable {
                position: 6,
                rest: "bar".into()
            }
        );
        assert!(matches!(
            bad("(1"),
            CondError::MissingParen { position: 3, .. }
        ));
    }

    #[test]
    fn quotes_are_checked_before_anything() {
        assert!(matches!(bad("streq(a,\"a)"), CondError::Lex(_)));
        assert!(matches!(bad("streq(a,'a)"), CondError::Lex(_)));
    }

    #[test]
    fn predicates() {
        yes("defined(TESTVAR)");
        yes("defined(EMPTY)");
        no("defined(NOPE)");
        no("defined()");
        no("defined");
        yes("!defined");
        no("defined && 1");
        yes("defined(TESTVAR) && streq(\"$TESTVAR\",\"1\")");
        yes("streq(\"$SPACED\",'a b')");
        yes("streq(foo,'foo')");
        yes("streq(\"foo bar\",'foo bar')");
        no("streq(foo,bar)");
        yes("strneq(foo,bar)");
        no("strneq(foo,foo)");
        yes("streq(,)");
        no("streq(a,)");
        no("streq(,a)");
        // arguments keep their spaces
        yes("streq( a , a )");
        no("streq( a ,a)");
        no("streq(\"a \",a)");
        yes("streq(a\\ b,\"a b\")");
        yes("feature(LINUX_SPLICE)");
        yes("feature(OPENSSL)");
        no("feature(openssl)");
        no("feature(LUA)");
        no("feature(PCRE2)");
        no("feature(linux_splice)");
        no("feature(+LINUX_SPLICE)");
        no("feature()");
        yes("feature(OPENSSL) || !feature(OPENSSL)");
        no("openssl_version_atleast(1.1.1)");
        no("openssl_version_before(1.1.1)");
        no("ssllib_name_startswith(OpenSSL)");
    }

    #[test]
    fn predicate_argument_errors() {
        for e in ["streq", "streq()", "streq(a)", "streq (a,a)", "strneq(a"] {
            assert!(
                matches!(bad(e), CondError::MissingArgs { predicate, expected: 2, got: 1 } if predicate.ends_with("eq")),
                "{e}"
            );
        }
        for e in [
            "streq(a,b,c)",
            "defined(TESTVAR,x)",
            "defined(TESTVAR",
            "streq(a,b",
        ] {
            assert!(matches!(bad(e), CondError::ArgsNotClosed { .. }), "{e}");
        }
        // a backslash that escapes nothing stays, and does not protect a comma
        assert!(matches!(
            bad("streq(a\\,b,a\\,b)"),
            CondError::ArgsNotClosed { .. }
        ));
        // quotes inside an argument group what the argument parser sees
        assert!(matches!(
            bad("streq(a\"b,c\"d,ab,cd)"),
            CondError::ArgsNotClosed { .. }
        ));
        assert!(matches!(
            bad("streq(a\"b,c\"d,'ab,cd')"),
            CondError::ArgsNotClosed { .. }
        ));
        // quotes that survive the line lexer (inside single quotes) group commas
        yes("'streq(a\"b,c\"d,\"ab,cd\")'");
        yes("'streq(\"a,b\",\"a,b\")'");
    }

    #[test]
    fn evaluate_words_joins_with_spaces() {
        let w = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(evaluate_words(&w(&["1", "&&", "!0"]), &env), Ok(true));
        assert_eq!(
            evaluate_words(&w(&["streq(", "a", ",", "a", ")"]), &env),
            Ok(true)
        );
        assert_eq!(evaluate_words(&w(&["streq(a", "b,a b)"]), &env), Ok(true));
        assert!(evaluate_words(&w(&["1", "2"]), &env).is_err());
    }

    #[test]
    fn hash_is_not_a_comment_for_cc() {
        assert!(matches!(
            bad("1 # 2"),
            CondError::Trailing { found: '#', .. }
        ));
        yes("streq(a#b,'a#b')");
        yes("streq(\"#\",\\#)");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(bad(&deep), CondError::TooDeep { max: MAX_DEPTH });
        let ok = format!("{}1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        yes(&ok);
        let long = vec!["1"; 10_000].join("&&");
        yes(&long);
    }

    #[test]
    fn version_split() {
        assert_eq!(split_version("2.6"), Some([2, 6, 0, 0, 3, 0, 0]));
        assert_eq!(split_version("1.2.1-pre2"), Some([1, 2, 1, 0, 2, 2, 0]));
        assert_eq!(split_version("1.2.10.1"), Some([1, 2, 10, 1, 3, 0, 0]));
        assert_eq!(split_version("1.3.16-rc1"), Some([1, 3, 16, 0, 2, 1, 0]));
        assert_eq!(split_version("1.5-dev18-43"), Some([1, 5, 0, 0, 1, 18, 43]));
        assert_eq!(
            split_version("2.4-dev18-f6818d-20"),
            Some([2, 4, 0, 0, 1, 18, 20])
        );
        assert_eq!(split_version("2.6.12-1"), Some([2, 6, 12, 0, 3, 0, 1]));
        assert_eq!(split_version("2.6.12-foo"), Some([2, 6, 12, 0, 3, 0, 0]));
        assert_eq!(split_version("2.6-dev"), Some([2, 6, 0, 0, 1, 0, 0]));
        assert_eq!(split_version("2.6-"), Some([2, 6, 0, 0, 3, 0, 0]));
        for v in ["", "v2.6", "2.6x", "2.6.x", "x2.7", "1.2.3.4.5", "2.6--"] {
            assert_eq!(split_version(v), None, "{v}");
        }
    }

    /// Expectations taken from HAProxy 2.6.12's own `-cc` answers, with 2.6.12 as the current version.
    #[test]
    fn version_compare_like_haproxy_2_6_12() {
        let atleast = |v: &str| compare_version(v, "2.6.12") != Some(Ordering::Greater);
        for v in [
            "2.4",
            "2.5-dev0",
            "2.6",
            "2.6-dev0",
            "2.6.12",
            "2.6.12-dev1",
            "2.6.12-rc1",
            "2.6.12-pre1",
            "2.6.12-foo",
            "2.6.11-dev1",
            "1.5",
            "2",
            "v2.6",
            "2.6x",
            "x2.7",
            "",
            "a",
        ] {
            assert!(atleast(v), "version_atleast({v})");
        }
        for v in ["2.6.13", "2.6.12-1", "2.6.12.1", "2.7-dev0", "3", "1024"] {
            assert!(!atleast(v), "!version_atleast({v})");
        }
    }

    #[test]
    fn version_predicates_against_the_dialect() {
        yes("version_atleast(2.5-dev0)");
        yes("version_atleast(2.4)");
        yes("version_atleast(2.6)");
        yes("version_atleast(2.6.0)");
        yes("version_atleast(2.6-dev8)");
        no("version_atleast(2.6.1)");
        no("version_atleast(2.7)");
        no("version_atleast(1024)");
        yes("version_before(2.7)");
        yes("version_before(2.6.1)");
        no("version_before(2.6)");
        no("version_before(2.5)");
        // unreadable versions: at least, never before
        yes("version_atleast(nope)");
        no("version_before(nope)");
        yes("version_atleast");
    }

    #[test]
    fn messages() {
        assert_eq!(
            bad("1 &&").to_string(),
            "unparsable conditional expression at position 5: expected a number, '!', '(' or a predicate such as defined(NAME), found the end of the expression"
        );
        assert_eq!(
            bad("streq(a)").to_string(),
            "predicate 'streq' expects 2 argument(s), got 1 (arguments go in parentheses right after the name: 'streq(...)')"
        );
    }
}
