//! Diagnostics shared by every configuration dialect: where a problem is, and what it is.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A place in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as it was named on the command line (or found in a directory given there).
    pub file: Arc<PathBuf>,
    /// 1-based line number.
    pub line: usize,
}

impl Location {
    /// A location for configuration text that came from no file (the embedded demo, tests).
    pub fn new(file: impl Into<PathBuf>, line: usize) -> Self {
        Location {
            file: Arc::new(file.into()),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[ALERT] {location}: '{keyword}': {message}")]
pub struct Diagnostic {
    /// Where the problem is.
    pub location: Location,
    /// The keyword (or section name) the problem is about.
    pub keyword: String,
    /// What is wrong, and what was expected.
    pub message: String,
}

/// Every problem found in one configuration; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.0))]
pub struct Diagnostics(pub Vec<Diagnostic>);

fn render(d: &[Diagnostic]) -> String {
    d.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
