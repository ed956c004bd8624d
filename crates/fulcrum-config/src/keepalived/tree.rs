//! Groups the token lines into statements and `{ }` blocks.
//!
//! A statement is the words of one line; a `{` opens a block owned by the statement before it (on the same line or,
//! when the brace stands alone, the previous line), and `}` closes it.

use super::lexer::{Line, Tok};
use crate::{Diagnostic, Location};

/// One statement: `keyword args... [{ children }]`.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    pub loc: Location,
    pub words: Vec<String>,
    pub block: Option<Vec<Stmt>>,
}

impl Stmt {
    fn new(loc: Location) -> Stmt {
        Stmt {
            loc,
            words: Vec::new(),
            block: None,
        }
    }

    /// The keyword (first word).
    pub fn keyword(&self) -> &str {
        self.words.first().map(String::as_str).unwrap_or("")
    }

    /// The words after the keyword.
    pub fn args(&self) -> &[String] {
        self.words.get(1..).unwrap_or(&[])
    }
}

/// Builds the statement tree of a whole configuration.
pub(crate) fn build(lines: Vec<Line>, diags: &mut Vec<Diagnostic>) -> Vec<Stmt> {
    // Each level: the statement owning the block (None at top level) and its children so far.
    let mut stack: Vec<(Option<Stmt>, Vec<Stmt>)> = vec![(None, Vec::new())];
    for line in lines {
        let mut cur: Option<Stmt> = None;
        for tok in line.toks {
            match tok {
                Tok::Word(w) => cur
                    .get_or_insert_with(|| Stmt::new(line.loc.clone()))
                    .words
                    .push(w),
                Tok::Open => {
                    let owner = match cur.take() {
                        Some(s) => s,
                        None => {
                            let top = &mut stack.last_mut().expect("stack never empty").1;
                            match top.last() {
                                Some(s) if s.block.is_none() => top.pop().expect("checked"),
                                _ => {
                                    diags.push(Diagnostic {
                                        location: line.loc.clone(),
                                        keyword: "{".into(),
                                        message: "block opened without a keyword before it".into(),
                                    });
                                    let mut s = Stmt::new(line.loc.clone());
                                    s.words.push("{".into());
                                    s
                                }
                            }
                        }
                    };
                    stack.push((Some(owner), Vec::new()));
                }
                Tok::Close => {
                    if let Some(s) = cur.take() {
                        stack.last_mut().expect("stack never empty").1.push(s);
                    }
                    if stack.len() == 1 {
                        diags.push(Diagnostic {
                            location: line.loc.clone(),
                            keyword: "}".into(),
                            message: "'}' closes no block".into(),
                        });
                        continue;
                    }
                    close(&mut stack);
                }
            }
        }
        if let Some(s) = cur {
            stack.last_mut().expect("stack never empty").1.push(s);
        }
    }
    while stack.len() > 1 {
        if let Some((Some(owner), _)) = stack.last() {
            diags.push(Diagnostic {
                location: owner.loc.clone(),
                keyword: owner.keyword().to_string(),
                message: "block is never closed (missing '}')".into(),
            });
        }
        close(&mut stack);
    }
    stack.pop().map(|(_, c)| c).unwrap_or_default()
}

fn close(stack: &mut Vec<(Option<Stmt>, Vec<Stmt>)>) {
    if let Some((Some(mut owner), children)) = stack.pop() {
        owner.block = Some(children);
        if let Some(top) = stack.last_mut() {
            top.1.push(owner);
        }
    }
}
