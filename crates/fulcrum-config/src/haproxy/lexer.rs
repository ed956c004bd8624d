//! Splitting one configuration line into words, the way HAProxy does.
//!
//! * `#` starts a comment unless it is quoted or escaped.
//! * Words are separated by spaces and tabs; quoted parts join the text around them (`a"b c"d` is one word).
//! * Double quotes keep spaces, process backslash escapes and expand environment variables.
//! * Single quotes keep everything verbatim (no escape, no expansion).
//! * Outside quotes, backslash escapes (`\ `, `\#`, `\\`, `\"`, `\'`, `\$`, `\t`, `\r`, `\n`, `\xHH`; a byte `\xHH` of
//!   0x80-0xFF becomes the character `fulcrum_sample::raw_byte_char` gives, which stands for that byte) and environment
//!   variables (`$VAR`, `${VAR}`, `${VAR-default}`) are processed too. A missing variable expands to nothing.
//!   An unknown escape such as `\q` is kept as written.

/// Why a line could not be split into words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    /// A `"` or `'` was opened and never closed on the line.
    #[error("unmatched quote {quote} opened at column {column}")]
    UnmatchedQuote {
        /// the quote character
        quote: char,
        /// 1-based column of the opening quote
        column: usize,
    },
    /// `\x` was not followed by two hexadecimal digits.
    #[error("invalid escape sequence at column {column}: '\\x' must be followed by two hexadecimal digits")]
    BadHexEscape {
        /// 1-based column of the backslash
        column: usize,
    },
    /// `${` without its closing `}`.
    #[error("unterminated '${{' at column {column}: expected '${{NAME}}' or '${{NAME-default}}'")]
    UnterminatedVar {
        /// 1-based column of the dollar sign
        column: usize,
    },
    /// `${...}` whose name is empty or not made of letters, digits and underscores.
    #[error("invalid environment variable name '{name}' at column {column}")]
    BadVarName {
        /// the name as written
        name: String,
        /// 1-based column of the dollar sign
        column: usize,
    },
}

/// Splits `line` into words. `env` looks environment variables up (tests pass their own).
pub fn split_line(
    line: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, LexError> {
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    // whether the current word has started (an empty quoted string "" is still a word)
    let mut in_word = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                i += 1;
            }
            '#' => break,
            '\'' => {
                let start = i;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(LexError::UnmatchedQuote {
                                quote: '\'',
                                column: start + 1,
                            })
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            cur.push(ch);
                            i += 1;
                        }
                    }
                }
                in_word = true;
            }
            '"' => {
                let start = i;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(LexError::UnmatchedQuote {
                                quote: '"',
                                column: start + 1,
                            })
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => i = escape(&chars, i, &mut cur)?,
                        Some('$') => i = variable(&chars, i, &mut cur, env)?,
                        Some(&ch) => {
                            cur.push(ch);
                            i += 1;
                        }
                    }
                }
                in_word = true;
            }
            '\\' => {
                i = escape(&chars, i, &mut cur)?;
                in_word = true;
            }
            '$' => {
                i = variable(&chars, i, &mut cur, env)?;
                in_word = true;
            }
            _ => {
                cur.push(c);
                in_word = true;
                i += 1;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Handles the backslash at `chars[i]`; returns the index after the sequence.
fn escape(chars: &[char], i: usize, out: &mut String) -> Result<usize, LexError> {
    let Some(&next) = chars.get(i + 1) else {
        out.push('\\');
        return Ok(i + 1);
    };
    let simple = match next {
        ' ' => Some(' '),
        '#' => Some('#'),
        '\\' => Some('\\'),
        '"' => Some('"'),
        '\'' => Some('\''),
        '$' => Some('$'),
        't' => Some('\t'),
        'r' => Some('\r'),
        'n' => Some('\n'),
        _ => None,
    };
    if let Some(ch) = simple {
        out.push(ch);
        return Ok(i + 2);
    }
    if next == 'x' {
        let hi = chars.get(i + 2).and_then(|c| c.to_digit(16));
        let lo = chars.get(i + 3).and_then(|c| c.to_digit(16));
        return match (hi, lo) {
            (Some(h), Some(l)) => {
                // a byte; 0x80-0xFF become the characters that carry them (fulcrum_sample::raw_bytes)
                out.push(fulcrum_sample::raw_byte_char((h * 16 + l) as u8));
                Ok(i + 4)
            }
            _ => Err(LexError::BadHexEscape { column: i + 1 }),
        };
    }
    // unknown escape: kept as written
    out.push('\\');
    out.push(next);
    Ok(i + 2)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Handles the `$` at `chars[i]`; returns the index after the variable reference.
fn variable(
    chars: &[char],
    i: usize,
    out: &mut String,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<usize, LexError> {
    match chars.get(i + 1) {
        Some('{') => {
            let close = chars[i + 2..]
                .iter()
                .position(|&c| c == '}')
                .map(|p| p + i + 2)
                .ok_or(LexError::UnterminatedVar { column: i + 1 })?;
            let inner: String = chars[i + 2..close].iter().collect();
            let (name, default) = match inner.find('-') {
                Some(p) => (&inner[..p], Some(&inner[p + 1..])),
                None => (inner.as_str(), None),
            };
            let valid =
                name.chars().next().is_some_and(is_name_start) && name.chars().all(is_name_char);
            if !valid {
                return Err(LexError::BadVarName {
                    name: inner.clone(),
                    column: i + 1,
                });
            }
            match env(name) {
                Some(v) => out.push_str(&v),
                None => out.push_str(default.unwrap_or("")),
            }
            Ok(close + 1)
        }
        Some(&c) if is_name_start(c) => {
            let mut j = i + 1;
            while j < chars.len() && is_name_char(chars[j]) {
                j += 1;
            }
            let name: String = chars[i + 1..j].iter().collect();
            if let Some(v) = env(&name) {
                out.push_str(&v);
            }
            Ok(j)
        }
        _ => {
            out.push('$');
            Ok(i + 1)
        }
    }
}

/// Looks a variable up in the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/me".into()),
            "PORT" => Some("8080".into()),
            "SPACED" => Some("a b".into()),
            _ => None,
        }
    }

    fn split(s: &str) -> Vec<String> {
        split_line(s, &env).unwrap()
    }

    #[test]
    fn words_and_comments() {
        assert_eq!(split("  bind :80   # comment"), ["bind", ":80"]);
        assert_eq!(split("\tmode\thttp"), ["mode", "http"]);
        assert!(split("# only a comment").is_empty());
        assert!(split("").is_empty());
        assert_eq!(split("a#b"), ["a"]);
    }

    #[test]
    fn quotes() {
        assert_eq!(split(r#"x "a b" 'c d'"#), ["x", "a b", "c d"]);
        assert_eq!(split(r#"a"b c"d"#), ["ab cd"]);
        assert_eq!(split(r#"x "" y"#), ["x", "", "y"]);
        assert_eq!(split(r#"x "a#b" 'c#d'"#), ["x", "a#b", "c#d"]);
        assert_eq!(split(r#"'a\tb' "a\tb""#), ["a\\tb", "a\tb"]);
        assert_eq!(split(r#"'$HOME' "$HOME""#), ["$HOME", "/home/me"]);
    }

    #[test]
    fn escapes() {
        assert_eq!(split(r"a\ b c"), ["a b", "c"]);
        assert_eq!(split(r"a\#b"), ["a#b"]);
        assert_eq!(split(r#"\\ \" \' \$"#), ["\\", "\"", "'", "$"]);
        assert_eq!(split(r"a\tb\rc\nd"), ["a\tb\rc\nd"]);
        assert_eq!(split(r"x\x41y"), ["xAy"]);
        // a byte above 0x7f is carried as the byte, not as the Latin-1 character
        let high = split(r"-\xE0-");
        assert_ne!(high, ["-\u{e0}-"]);
        assert_eq!(&*fulcrum_sample::raw_bytes(&high[0]), b"-\xe0-");
        assert_eq!(split(r"fo\qo"), ["fo\\qo"]);
        assert_eq!(split(r"end\"), ["end\\"]);
        assert_eq!(
            split_line(r"x\x4", &env),
            Err(LexError::BadHexEscape { column: 2 })
        );
    }

    #[test]
    fn environment() {
        assert_eq!(split("$HOME/x"), ["/home/me/x"]);
        assert_eq!(split("${HOME}x :${PORT}"), ["/home/mex", ":8080"]);
        assert_eq!(split("${NOPE-127.0.0.1}:1"), ["127.0.0.1:1"]);
        assert_eq!(split("${PORT-1}"), ["8080"]);
        assert_eq!(split("a $NOPE b"), ["a", "", "b"]);
        assert_eq!(split("$SPACED"), ["a b"]);
        assert_eq!(split("cost $ 5 $1"), ["cost", "$", "5", "$1"]);
        assert_eq!(
            split_line("${HOME", &env),
            Err(LexError::UnterminatedVar { column: 1 })
        );
        assert!(matches!(
            split_line("${1x}", &env),
            Err(LexError::BadVarName { .. })
        ));
    }

    #[test]
    fn unmatched_quotes() {
        assert_eq!(
            split_line(r#"a "b"#, &env),
            Err(LexError::UnmatchedQuote {
                quote: '"',
                column: 3
            })
        );
        assert_eq!(
            split_line(r"'fo\'o' x", &env),
            Err(LexError::UnmatchedQuote {
                quote: '\'',
                column: 7
            })
        );
    }
}
