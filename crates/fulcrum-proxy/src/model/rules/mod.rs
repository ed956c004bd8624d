//! ACLs and rules at run time: compiled once when the snapshot is built, evaluated per request or connection.
//!
//! `acl.rs` compiles each ACL into a matcher; `auth.rs` checks Basic credentials against `userlist` sections; `cond.rs` evaluates `if`/`unless` conditions over a [`Facts`]
//! source; `http.rs` applies `http-request` / `http-response` actions; `sample.rs` holds the variables and the context
//! sample expressions read; `tcp.rs` the variables of a `mode tcp` connection.

pub mod acl;
pub mod auth;
pub mod cond;
pub mod http;
pub mod matcher;
pub mod patref;
pub mod sample;
pub mod tcp;
pub mod vars;

pub use cond::{CompiledCond, Facts};
