//! Why a sample expression or a log-format string was refused.
//!
//! Every error carries `at`, the byte offset in the text given to the parser where the problem
//! was found; messages show it as a 1-based character position.

use thiserror::Error;

use crate::value::Type;

/// A load-time error in a sample expression or a log-format string.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The expression does not start with a fetch name (empty text, `,lower`, `%[]`).
    #[error("missing fetch method at position {}", .at + 1)]
    MissingFetch {
        /// Byte offset of the problem.
        at: usize,
    },
    /// A fetch name HAProxy does not know.
    #[error("unknown fetch method '{name}' at position {}", .at + 1)]
    UnknownFetch {
        /// The name as written.
        name: String,
        /// Byte offset of the name.
        at: usize,
    },
    /// A converter name HAProxy does not know.
    #[error("unknown converter '{name}' at position {}", .at + 1)]
    UnknownConverter {
        /// The name as written.
        name: String,
        /// Byte offset of the name.
        at: usize,
    },
    /// A fetch or converter HAProxy 2.6 has that fulcrum does not implement.
    #[error("{kind} '{name}' is supported by HAProxy, not yet by fulcrum")]
    Unsupported {
        /// `fetch method` or `converter`.
        kind: &'static str,
        /// The keyword.
        name: String,
        /// Byte offset of the keyword.
        at: usize,
    },
    /// A `,` not followed by a converter name.
    #[error("missing converter name after ',' at position {}", .at + 1)]
    MissingConverter {
        /// Byte offset of the character after the comma.
        at: usize,
    },
    /// Something follows a fetch or converter that is neither `(` nor `,`.
    #[error("missing ',' after '{after}' at position {}", .at + 1)]
    MissingComma {
        /// The keyword the text follows.
        after: String,
        /// Byte offset of the unexpected character.
        at: usize,
    },
    /// An argument list without its closing parenthesis.
    #[error("'{keyword}': missing ')' to close the arguments opened at position {}", .at + 1)]
    UnclosedParen {
        /// The keyword whose arguments are open.
        keyword: String,
        /// Byte offset of the `(`.
        at: usize,
    },
    /// A quote inside arguments without its closing quote.
    #[error("'{keyword}': the {quote} quote at position {} is never closed", .at + 1)]
    UnclosedQuote {
        /// The keyword whose arguments hold the quote.
        keyword: String,
        /// `'` or `"`.
        quote: char,
        /// Byte offset of the opening quote.
        at: usize,
    },
    /// A backslash at the very end of the text.
    #[error("'{keyword}': the '\\' at position {} escapes nothing", .at + 1)]
    DanglingEscape {
        /// The keyword whose arguments hold the backslash.
        keyword: String,
        /// Byte offset of the backslash.
        at: usize,
    },
    /// More arguments than the keyword takes.
    #[error("'{keyword}' {}, but got more at position {}", takes(*.max), .at + 1)]
    TooManyArgs {
        /// The keyword.
        keyword: String,
        /// How many arguments it takes at most.
        max: usize,
        /// Byte offset of the first argument too many.
        at: usize,
    },
    /// A mandatory argument is missing.
    #[error("'{keyword}': missing argument {position} ({expected} expected)")]
    MissingArg {
        /// The keyword.
        keyword: String,
        /// 1-based position of the missing argument.
        position: usize,
        /// What the argument should be.
        expected: &'static str,
        /// Byte offset where the argument was expected.
        at: usize,
    },
    /// An argument does not parse as its type, or fails the keyword's checks.
    #[error("'{keyword}': argument {position} '{value}': {reason}")]
    BadArg {
        /// The keyword.
        keyword: String,
        /// 1-based position of the argument.
        position: usize,
        /// The argument after unquoting.
        value: String,
        /// What is wrong and what is expected.
        reason: String,
        /// Byte offset of the argument.
        at: usize,
    },
    /// A converter whose input type cannot be reached by a cast from the previous output.
    #[error("converter '{converter}' cannot be applied to {input} (it takes {expected})")]
    CannotApply {
        /// The converter.
        converter: String,
        /// The type the previous step returns.
        input: Type,
        /// The type the converter takes.
        expected: Type,
        /// Byte offset of the converter.
        at: usize,
    },
    /// `%[expr` in a log-format string without the closing `]`.
    #[error("missing ']' after sample expression '{expr}' at position {}", .at + 1)]
    UnclosedExpr {
        /// The expression text parsed so far.
        expr: String,
        /// Byte offset where `]` was expected.
        at: usize,
    },
    /// `%{...` in a log-format string without the closing `}`.
    #[error("missing '}}' to close the log-format flags opened at position {}", .at + 1)]
    UnclosedFlags {
        /// Byte offset of the `{`.
        at: usize,
    },
    /// A log-format flag other than `+Q`, `-Q`, `+E`, `-E`, `+X`, `-X`.
    #[error("unknown log-format flag '{flag}' at position {} (expected +Q, -Q, +E, -E, +X or -X)", .at + 1)]
    BadFlag {
        /// The flag as written.
        flag: String,
        /// Byte offset of the flag.
        at: usize,
    },
    /// A `%` in a log-format string not followed by a variable name, `[`, `{` or `%`.
    #[error("'%' at position {} must be followed by a variable name, '[' or '{{'; write '%%' for a literal '%'", .at + 1)]
    Dangling {
        /// Byte offset of the `%`.
        at: usize,
    },
}

fn takes(n: usize) -> String {
    match n {
        0 => "takes no arguments".to_string(),
        1 => "takes 1 argument at most".to_string(),
        n => format!("takes {n} arguments at most"),
    }
}

/// Runs `$body` with `$at` bound to the offset every variant carries (by reference, as `$e` is borrowed).
macro_rules! with_offset {
    ($e:expr, $at:ident => $body:expr) => {
        match $e {
            Error::MissingFetch { $at }
            | Error::UnknownFetch { $at, .. }
            | Error::UnknownConverter { $at, .. }
            | Error::Unsupported { $at, .. }
            | Error::MissingConverter { $at }
            | Error::MissingComma { $at, .. }
            | Error::UnclosedParen { $at, .. }
            | Error::UnclosedQuote { $at, .. }
            | Error::DanglingEscape { $at, .. }
            | Error::TooManyArgs { $at, .. }
            | Error::MissingArg { $at, .. }
            | Error::BadArg { $at, .. }
            | Error::CannotApply { $at, .. }
            | Error::UnclosedExpr { $at, .. }
            | Error::UnclosedFlags { $at }
            | Error::BadFlag { $at, .. }
            | Error::Dangling { $at } => $body,
        }
    };
}

impl Error {
    /// Byte offset in the parsed text where the problem was found.
    pub fn at(&self) -> usize {
        with_offset!(self, at => *at)
    }

    /// The same error with its offset moved by `by` (an expression parsed inside a larger text).
    pub(crate) fn shifted(mut self, by: usize) -> Error {
        with_offset!(&mut self, at => *at += by);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem_and_position() {
        let e = Error::UnknownFetch {
            name: "nope".into(),
            at: 0,
        };
        assert_eq!(e.to_string(), "unknown fetch method 'nope' at position 1");
        let e = Error::TooManyArgs {
            keyword: "lower".into(),
            max: 0,
            at: 6,
        };
        assert_eq!(
            e.to_string(),
            "'lower' takes no arguments, but got more at position 7"
        );
        let e = Error::TooManyArgs {
            keyword: "str".into(),
            max: 1,
            at: 6,
        };
        assert!(e.to_string().contains("takes 1 argument at most,"));
        assert_eq!(e.clone().shifted(2).at(), 8);
        let e = Error::Dangling { at: 3 };
        assert!(e.to_string().contains("'%%'"));
        let e = Error::UnclosedFlags { at: 0 };
        assert!(e.to_string().starts_with("missing '}'"));
    }
}
