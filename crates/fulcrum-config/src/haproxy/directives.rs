//! Lines whose first word starts with `.`: HAProxy 2.6's conditional blocks (`.if COND`, `.elif COND`, `.else`,
//! `.endif`) and messages (`.diag`, `.notice`, `.warning`, `.alert`).
//!
//! Blocks nest, and each one must close in the file that opened it. A line inside a branch that is not taken is
//! dropped before the section logic sees it, so it may hold any keyword; it was still split into words, so a
//! quoting error there is still reported. Conditions of branches that cannot be taken are not evaluated.

use super::common::Sink;
use super::cond;
use crate::diag::Severity;
use crate::Location;

/// How deeply `.if` blocks may nest (HAProxy's limit).
const MAX_NESTING: usize = 99;

/// Where one open block stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Branch {
    /// The current branch is taken.
    Taken,
    /// No branch was taken yet: a later `.elif` or `.else` may be.
    Waiting,
    /// A branch was taken before, the enclosing block is dropped, or the condition was in error: nothing more in
    /// this block is taken.
    Done,
}

#[derive(Debug)]
struct Block {
    branch: Branch,
    seen_else: bool,
    opened_at: Location,
}

/// The open blocks of the file being read.
#[derive(Debug, Default)]
pub struct Blocks {
    stack: Vec<Block>,
}

impl Blocks {
    /// Whether lines are taken at this point.
    fn active(&self) -> bool {
        self.stack.last().is_none_or(|b| b.branch == Branch::Taken)
    }

    /// Handles one line split into `words` (never empty). Returns whether the section logic should see it: false
    /// for directives and for lines in a branch not taken.
    pub fn line(
        &mut self,
        words: &[String],
        location: &Location,
        env: &dyn Fn(&str) -> Option<String>,
        sink: &mut Sink,
    ) -> bool {
        let first = words[0].as_str();
        match first {
            ".if" => self.open(&words[1..], location, env, sink),
            ".elif" => self.elif(&words[1..], location, env, sink),
            ".else" => {
                no_argument(words, location, sink);
                self.r#else(location, sink);
            }
            ".endif" => {
                no_argument(words, location, sink);
                if self.stack.pop().is_none() {
                    sink.error(location, first, "'.endif' without a matching '.if'");
                }
            }
            _ if !self.active() => {}
            _ if first.starts_with('.') => message(words, location, sink),
            _ => return true,
        }
        false
    }

    /// A line that could not be split into words, whose first word is `first` as written: keeps the block
    /// structure in step so that one quoting mistake does not cause a cascade of unmatched `.endif`s.
    pub fn unsplit_line(&mut self, first: &str, location: &Location) {
        match first {
            ".if" => self.stack.push(Block {
                branch: Branch::Done,
                seen_else: false,
                opened_at: location.clone(),
            }),
            ".endif" => {
                self.stack.pop();
            }
            _ => {}
        }
    }

    /// Reports every block left open at the end of a file, and forgets them.
    pub fn end_of_file(&mut self, sink: &mut Sink) {
        for b in self.stack.drain(..) {
            sink.error(
                &b.opened_at,
                ".if",
                "'.if' block not closed: every '.if' needs its '.endif' in the same file",
            );
        }
    }

    fn open(
        &mut self,
        cond: &[String],
        location: &Location,
        env: &dyn Fn(&str) -> Option<String>,
        sink: &mut Sink,
    ) {
        let branch = if self.stack.len() >= MAX_NESTING {
            sink.error(
                location,
                ".if",
                format!("too many nested '.if' blocks (at most {MAX_NESTING})"),
            );
            Branch::Done
        } else if !self.active() {
            Branch::Done
        } else {
            evaluate(".if", cond, location, env, sink)
        };
        self.stack.push(Block {
            branch,
            seen_else: false,
            opened_at: location.clone(),
        });
    }

    fn elif(
        &mut self,
        cond: &[String],
        location: &Location,
        env: &dyn Fn(&str) -> Option<String>,
        sink: &mut Sink,
    ) {
        let Some(block) = self.stack.last_mut() else {
            sink.error(location, ".elif", "'.elif' without a matching '.if'");
            return;
        };
        if block.seen_else {
            sink.error(location, ".elif", "'.elif' after '.else' is not permitted");
            return;
        }
        block.branch = match block.branch {
            Branch::Taken | Branch::Done => Branch::Done,
            Branch::Waiting => evaluate(".elif", cond, location, env, sink),
        };
    }

    fn r#else(&mut self, location: &Location, sink: &mut Sink) {
        let Some(block) = self.stack.last_mut() else {
            sink.error(location, ".else", "'.else' without a matching '.if'");
            return;
        };
        if block.seen_else {
            sink.error(
                location,
                ".else",
                "a second '.else' in the same block is not permitted",
            );
            return;
        }
        block.seen_else = true;
        block.branch = match block.branch {
            Branch::Waiting => Branch::Taken,
            Branch::Taken | Branch::Done => Branch::Done,
        };
    }
}

/// Evaluates the condition of a `.if` or `.elif`; an error is reported and makes the rest of the block dropped.
fn evaluate(
    directive: &str,
    cond: &[String],
    location: &Location,
    env: &dyn Fn(&str) -> Option<String>,
    sink: &mut Sink,
) -> Branch {
    match cond::evaluate_words(cond, env) {
        Ok(true) => Branch::Taken,
        Ok(false) => Branch::Waiting,
        Err(e) => {
            sink.error(location, directive, e.to_string());
            Branch::Done
        }
    }
}

fn no_argument(words: &[String], location: &Location, sink: &mut Sink) {
    if let Some(extra) = words.get(1) {
        sink.error(
            location,
            &words[0],
            format!("unexpected argument '{extra}': '{}' takes none", words[0]),
        );
    }
}

/// `.diag`, `.notice`, `.warning`, `.alert` and unknown directives, in a taken branch.
fn message(words: &[String], location: &Location, sink: &mut Sink) {
    let first = words[0].as_str();
    let severity = match first {
        ".alert" => None,
        ".warning" => Some(Severity::Warning),
        ".notice" => Some(Severity::Notice),
        ".diag" => Some(Severity::Diag),
        _ => {
            sink.error(
                location,
                first,
                format!("unknown directive '{first}': expected '.if', '.elif', '.else', '.endif', '.diag', '.notice', '.warning' or '.alert'"),
            );
            return;
        }
    };
    if let Some(extra) = words.get(2) {
        sink.error(
            location,
            first,
            format!("unexpected argument '{extra}': '{first}' takes one message; put it in quotes if it contains spaces"),
        );
        return;
    }
    let text = words.get(1).map(String::as_str).unwrap_or("");
    match severity {
        None if text.is_empty() => sink.error(location, first, "'.alert' without a message"),
        None => sink.error(location, first, text),
        Some(s) => sink.warn(s, location, first, text),
    }
}
