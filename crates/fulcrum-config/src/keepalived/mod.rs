//! The keepalived.conf dialect.
//!
//! [`load`] reads a file (and its `include`s), [`parse_str`] reads text; both return the typed, validated [`Config`]
//! or every problem found as [`Diagnostics`](crate::Diagnostics) naming file, line and keyword. Unknown keywords
//! are errors; a few keywords that have no effect in fulcrum (mail alerts and the like) are accepted and listed in
//! [`Config::ignored`]. The VRRP half is in [`model`], the LVS half (`virtual_server`, real servers and their
//! checkers) in [`virtual_server`].
//!
//! Layers: [`lexer`] (tokens, comments, quotes, includes) -> [`tree`] (statements and blocks) -> [`build`]
//! (keywords into the [`model`], then whole-file validation).

mod build;
mod lexer;
pub mod model;
mod tree;
pub mod virtual_server;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod virtual_server_tests;

use std::path::Path;

pub use model::*;
pub use virtual_server::*;

use crate::Diagnostics;

/// Reads and validates a keepalived.conf file and everything it includes.
pub fn load(path: impl AsRef<Path>) -> Result<Config, Diagnostics> {
    let mut diags = Vec::new();
    let lines = lexer::lex_file(path.as_ref(), &mut diags);
    finish(lines, diags)
}

/// Parses and validates keepalived.conf text; `name` is used in diagnostics and as the base of relative includes.
pub fn parse_str(name: impl AsRef<Path>, text: &str) -> Result<Config, Diagnostics> {
    let mut diags = Vec::new();
    let lines = lexer::lex_text(name.as_ref(), text, &mut diags);
    finish(lines, diags)
}

fn finish(
    lines: Vec<lexer::Line>,
    mut diags: Vec<crate::Diagnostic>,
) -> Result<Config, Diagnostics> {
    let stmts = tree::build(lines, &mut diags);
    build::Builder::new(diags)
        .config(&stmts)
        .map_err(Diagnostics)
}
