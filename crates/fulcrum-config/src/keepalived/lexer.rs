//! Turns keepalived.conf text into lines of tokens, splicing `include` files in place.
//!
//! Grammar facts: `#` and `!` start a comment (at the start of a word, outside quotes); `{` and `}` are tokens of their
//! own even when glued to a word; `"..."` is one word without its quotes; `include PATTERN` takes a glob relative to
//! the including file's directory and may appear at any nesting level.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Diagnostic, Location};

/// Nesting limit for `include`, which also stops include loops.
const MAX_INCLUDE_DEPTH: usize = 16;

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A word or a quoted string.
    Word(String),
    /// `{`
    Open,
    /// `}`
    Close,
}

/// The tokens of one source line.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub loc: Location,
    pub toks: Vec<Tok>,
}

/// Reads `path` and everything it includes.
pub(crate) fn lex_file(path: &Path, diags: &mut Vec<Diagnostic>) -> Vec<Line> {
    let mut out = Vec::new();
    include_file(path, None, 0, &mut out, diags);
    out
}

/// Lexes `text` as if read from a file named `name`.
pub(crate) fn lex_text(name: &Path, text: &str, diags: &mut Vec<Diagnostic>) -> Vec<Line> {
    let mut out = Vec::new();
    lex_into(Arc::new(name.to_path_buf()), text, 0, &mut out, diags);
    out
}

fn include_file(
    path: &Path,
    from: Option<&Location>,
    depth: usize,
    out: &mut Vec<Line>,
    diags: &mut Vec<Diagnostic>,
) {
    match std::fs::read_to_string(path) {
        Ok(text) => lex_into(Arc::new(path.to_path_buf()), &text, depth, out, diags),
        Err(e) => diags.push(Diagnostic {
            location: from
                .cloned()
                .unwrap_or_else(|| Location::new(path.to_path_buf(), 0)),
            keyword: if from.is_some() { "include" } else { "file" }.into(),
            message: format!("cannot read {}: {e}", path.display()),
        }),
    }
}

fn lex_into(
    file: Arc<PathBuf>,
    text: &str,
    depth: usize,
    out: &mut Vec<Line>,
    diags: &mut Vec<Diagnostic>,
) {
    for (i, raw) in text.lines().enumerate() {
        let loc = Location {
            file: file.clone(),
            line: i + 1,
        };
        let toks = match split_line(raw) {
            Ok(t) => t,
            Err(msg) => {
                diags.push(Diagnostic {
                    location: loc,
                    keyword: "\"".into(),
                    message: msg.into(),
                });
                continue;
            }
        };
        if toks.first() == Some(&Tok::Word("include".into())) {
            let args: Vec<&str> = toks[1..]
                .iter()
                .filter_map(|t| match t {
                    Tok::Word(w) => Some(w.as_str()),
                    _ => None,
                })
                .collect();
            if args.len() != 1 || args.len() + 1 != toks.len() {
                diags.push(Diagnostic {
                    location: loc,
                    keyword: "include".into(),
                    message: "expected exactly one file name or glob pattern".into(),
                });
                continue;
            }
            if depth >= MAX_INCLUDE_DEPTH {
                diags.push(Diagnostic {
                    location: loc,
                    keyword: "include".into(),
                    message: format!(
                        "includes nested deeper than {MAX_INCLUDE_DEPTH} (an include loop?)"
                    ),
                });
                continue;
            }
            let pattern = Path::new(args[0]);
            let pattern = if pattern.is_absolute() {
                pattern.to_path_buf()
            } else {
                file.parent().unwrap_or(Path::new(".")).join(pattern)
            };
            let matches = glob(&pattern);
            if matches.is_empty() {
                diags.push(Diagnostic {
                    location: loc.clone(),
                    keyword: "include".into(),
                    message: format!("no file matches {}", pattern.display()),
                });
            }
            for m in matches {
                include_file(&m, Some(&loc), depth + 1, out, diags);
            }
            continue;
        }
        if !toks.is_empty() {
            out.push(Line { loc, toks });
        }
    }
}

/// Splits one line into tokens; an unterminated quote is an error.
fn split_line(line: &str) -> Result<Vec<Tok>, &'static str> {
    let mut toks = Vec::new();
    let mut chars = line.chars().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, toks: &mut Vec<Tok>| {
        if !word.is_empty() {
            toks.push(Tok::Word(std::mem::take(word)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut s = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    s.push(c);
                }
                if !closed {
                    return Err("unterminated quoted string");
                }
                word.push_str(&s);
                // A quoted string is a word even when empty.
                if word.is_empty() {
                    toks.push(Tok::Word(String::new()));
                }
            }
            '#' | '!' if word.is_empty() => break,
            '{' => {
                flush(&mut word, &mut toks);
                toks.push(Tok::Open);
            }
            '}' => {
                flush(&mut word, &mut toks);
                toks.push(Tok::Close);
            }
            c if c.is_whitespace() => flush(&mut word, &mut toks),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut toks);
    Ok(toks)
}

/// Expands `*`, `?` and `[...]` in every component of `pattern`; results sorted, files only.
pub(crate) fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::new()];
    let comps: Vec<_> = pattern.components().collect();
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let s = comp.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        if !s.contains(['*', '?', '[']) {
            for base in &current {
                let p = base.join(comp.as_os_str());
                if last {
                    if p.is_file() {
                        next.push(p);
                    }
                } else {
                    next.push(p);
                }
            }
        } else {
            for base in &current {
                let dir = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base.as_path()
                };
                let Ok(rd) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.') || s.starts_with('.'))
                    .filter(|n| wildcard_match(s.as_bytes(), n.as_bytes()))
                    .collect();
                names.sort();
                for n in names {
                    let p = base.join(n);
                    if !last || p.is_file() {
                        next.push(p);
                    }
                }
            }
        }
        current = next;
    }
    current
}

/// Shell-style matching of `name` against `pat` (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`).
fn wildcard_match(pat: &[u8], name: &[u8]) -> bool {
    match pat.first() {
        None => name.is_empty(),
        Some(b'*') => (0..=name.len()).any(|i| wildcard_match(&pat[1..], &name[i..])),
        Some(b'?') => !name.is_empty() && wildcard_match(&pat[1..], &name[1..]),
        Some(b'[') => {
            let Some(end) = pat.iter().skip(2).position(|&c| c == b']').map(|p| p + 2) else {
                return name.first() == Some(&b'[') && wildcard_match(&pat[1..], &name[1..]);
            };
            let Some(&c) = name.first() else {
                return false;
            };
            let mut class = &pat[1..end];
            let negate = matches!(class.first(), Some(b'!') | Some(b'^'));
            if negate {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && wildcard_match(&pat[end + 1..], &name[1..])
        }
        Some(&p) => name.first() == Some(&p) && wildcard_match(&pat[1..], &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Tok> {
        split_line(line).unwrap()
    }

    fn w(s: &str) -> Tok {
        Tok::Word(s.into())
    }

    #[test]
    fn splits_braces_comments_and_quotes() {
        assert_eq!(
            words("vrrp_instance VI_1 {"),
            vec![w("vrrp_instance"), w("VI_1"), Tok::Open]
        );
        assert_eq!(words("a{b}"), vec![w("a"), Tok::Open, w("b"), Tok::Close]);
        assert_eq!(words("  # comment"), vec![]);
        assert_eq!(words("! comment"), vec![]);
        assert_eq!(
            words("priority 100 # trailing"),
            vec![w("priority"), w("100")]
        );
        assert_eq!(words("auth_pass pa#ss"), vec![w("auth_pass"), w("pa#ss")]);
        assert_eq!(
            words(r#"notify "/bin/x arg {1}" "#),
            vec![w("notify"), w("/bin/x arg {1}")]
        );
        assert_eq!(words(r#"x """#), vec![w("x"), w("")]);
        assert!(split_line(r#"script "unterminated"#).is_err());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match(b"*.conf", b"a.conf"));
        assert!(!wildcard_match(b"*.conf", b"a.conf.bak"));
        assert!(wildcard_match(b"vi_?.conf", b"vi_1.conf"));
        assert!(wildcard_match(b"[a-c]x", b"bx"));
        assert!(!wildcard_match(b"[!a-c]x", b"bx"));
        assert!(wildcard_match(b"*", b""));
    }
}
