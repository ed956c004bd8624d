//! Configuration dialects understood by fulcrum.
//!
//! Each dialect is parsed, then validated, into an immutable typed model. Every problem is reported as a
//! [`Diagnostic`] naming the file, the line and the keyword, so that `-c` / `-t` can print them all.

pub mod diag;
pub mod haproxy;
pub mod keepalived;

pub use diag::{Diagnostic, Diagnostics, Location};
