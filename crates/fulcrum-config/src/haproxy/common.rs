//! Pieces shared by the section parsers: a tokenized line and the diagnostics collector.

use std::time::Duration;

use super::units;
use crate::diag::{Severity, Warning};
use crate::{Diagnostic, Location};

/// One non-empty configuration line, split into words.
#[derive(Debug, Clone)]
pub struct Line {
    /// Where it is.
    pub location: Location,
    /// Its words after quote, escape and variable processing; never empty.
    pub words: Vec<String>,
}

impl Line {
    /// The word at `i`, or "".
    pub fn word(&self, i: usize) -> &str {
        self.words.get(i).map(String::as_str).unwrap_or("")
    }
}

/// Collects every problem found.
#[derive(Debug, Default)]
pub struct Sink {
    /// Problems in the order found.
    pub diags: Vec<Diagnostic>,
    /// Messages that do not stop the load (`.warning`, `.notice`, `.diag`), in the order found.
    pub warnings: Vec<Warning>,
    /// ACL expressions numbered so far ([`super::model::Acl::expr_id`]).
    pub acl_exprs: u32,
    /// The map files the `map*` converters read so far.
    pub maps: std::sync::Arc<fulcrum_sample::Maps>,
}

/// How sample expressions compiled at one configuration line get their map files: read from the file system
/// the first time a file is named (the path as written: a relative one is relative to the working directory,
/// as HAProxy reads it), one reference per file.
pub struct MapLoad<'a> {
    /// The configuration's maps.
    pub maps: &'a fulcrum_sample::Maps,
    /// The line compiling the expression.
    pub location: &'a Location,
}

impl fulcrum_sample::MapSource for MapLoad<'_> {
    fn map(
        &mut self,
        path: &str,
        kind: fulcrum_sample::MatchKind,
        out: fulcrum_sample::MapOut,
    ) -> Result<std::sync::Arc<fulcrum_sample::MapTable>, String> {
        let used_by = format!(
            "map at file '{}' line {}",
            self.location.file.display(),
            self.location.line
        );
        self.maps.table(path, kind, out, &used_by, || {
            std::fs::read_to_string(path)
                .map_err(|e| format!("failed to open pattern file <{path}> ({e})"))
        })
    }
}

impl Sink {
    /// Records a problem about `keyword` at `location`.
    pub fn error(&mut self, location: &Location, keyword: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            location: location.clone(),
            keyword: keyword.to_string(),
            message: message.into(),
        });
    }

    /// Records a message that does not stop the load.
    pub fn warn(
        &mut self,
        severity: Severity,
        location: &Location,
        keyword: &str,
        message: impl Into<String>,
    ) {
        self.warnings.push(Warning {
            severity,
            diagnostic: Diagnostic {
                location: location.clone(),
                keyword: keyword.to_string(),
                message: message.into(),
            },
        });
    }

    /// Records "a HAProxy keyword fulcrum does not support yet".
    pub fn unsupported(&mut self, location: &Location, keyword: &str) {
        self.error(
            location,
            keyword,
            format!("'{keyword}' is a HAProxy keyword that fulcrum does not support yet"),
        );
    }

    /// Parses the time of a `tcp-ut` option (TCP_USER_TIMEOUT, milliseconds the kernel keeps in an `int`),
    /// recording a problem on failure.
    pub fn tcp_user_timeout(
        &mut self,
        location: &Location,
        keyword: &str,
        value: Option<&str>,
    ) -> Option<Duration> {
        let d = self.time(location, keyword, value)?;
        if d.as_millis() > u128::from(i32::MAX as u32) {
            self.error(location, keyword, "'tcp-ut' is too large");
            return None;
        }
        Some(d)
    }

    /// Parses a time argument, recording a problem on failure.
    pub fn time(
        &mut self,
        location: &Location,
        keyword: &str,
        arg: Option<&str>,
    ) -> Option<Duration> {
        match arg {
            None => {
                self.error(location, keyword, "expects a time argument (such as '5s')");
                None
            }
            Some(a) => match units::parse_time(a) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.error(location, keyword, e);
                    None
                }
            },
        }
    }

    /// Parses an integer argument within `min..=max`, recording a problem on failure.
    pub fn uint(
        &mut self,
        location: &Location,
        keyword: &str,
        arg: Option<&str>,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        match arg {
            None => {
                self.error(
                    location,
                    keyword,
                    format!("expects an integer argument between {min} and {max}"),
                );
                None
            }
            Some(a) => match units::parse_uint(a, min, max) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.error(location, keyword, e);
                    None
                }
            },
        }
    }

    /// Records a problem when `line` has more than `max` arguments after the `skip` keyword words.
    /// Returns true when the count is fine.
    pub fn max_args(&mut self, line: &Line, keyword: &str, skip: usize, max: usize) -> bool {
        let n = line.words.len().saturating_sub(skip);
        if n > max {
            let extra = &line.words[skip + max];
            let msg = match max {
                0 => format!("expects no argument, found '{extra}'"),
                1 => format!("expects one argument, found an extra '{extra}'"),
                _ => format!("expects at most {max} arguments, found an extra '{extra}'"),
            };
            self.error(&line.location, keyword, msg);
            false
        } else {
            true
        }
    }
}
