//! The haproxy.cfg dialect.

pub mod model;

pub use model::*;
