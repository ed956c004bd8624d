//! Errors raised while building a [`crate::Farm`].

use thiserror::Error;

/// Why a [`crate::Farm`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BuildError {
    /// `random(N)` needs at least one draw.
    #[error("random(N) needs at least one draw, got 0")]
    ZeroDraws,
    /// `url_param` and `hdr()` need a non-empty name.
    #[error("{0} needs a non-empty name")]
    EmptyName(&'static str),
    /// The weights would expand into a table too large to build (reduce the weights).
    #[error("weights expand into {entries} table entries, more than the limit of {limit}")]
    TableTooLarge {
        /// Entries the table would need.
        entries: u64,
        /// The largest table allowed.
        limit: u64,
    },
}
