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

/// How HAProxy labels a message that does not stop the configuration from loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// `[WARNING]`: always shown (`.warning` lines).
    Warning,
    /// `[NOTICE]`: always shown (`.notice` lines).
    Notice,
    /// `[DIAG]`: shown only in diagnostic mode, HAProxy's `-dD` (`.diag` lines).
    Diag,
}

impl Severity {
    /// The label HAProxy prints, such as `[WARNING]`.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Warning => "[WARNING]",
            Severity::Notice => "[NOTICE]",
            Severity::Diag => "[DIAG]",
        }
    }
}

/// A message about a configuration that still loads; displayed like a [`Diagnostic`], with its own label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// How it is labelled, and whether it is shown outside diagnostic mode.
    pub severity: Severity,
    /// Where it comes from, and what it says.
    pub diagnostic: Diagnostic,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.diagnostic;
        write!(
            f,
            "{} {}: '{}': {}",
            self.severity.label(),
            d.location,
            d.keyword,
            d.message
        )
    }
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
