//! HAProxy's peers protocol, version 2.1 as HAProxy 2.6 speaks it, with no I/O: bytes in, messages out.
//!
//! A session starts with a text handshake: the connecting side sends three lines ([`Hello`]), the other answers
//! with a status line ([`Status`]). Then both sides exchange binary messages ([`Message`]): two bytes (class and
//! type) and, for types 128 and above, a length ([`varint`]) and that many bytes. The stick-table class carries
//! table definitions, switches, acknowledgements and entry updates; an update's layout depends on the table
//! definition its sender gave before ([`TableDefinition`], [`EntryUpdate`]).
//!
//! `varint.rs` is the integer encoding, `handshake.rs` the text lines, `message.rs` the binary messages and
//! `update.rs` the entries (keys and data values), `dict.rs` the session dictionary `server_key` values use.

#![warn(missing_docs)]

pub mod dict;
mod handshake;
mod message;
mod update;
pub mod varint;

pub use handshake::{Hello, Status};
pub use message::{Message, TableDefinition, UpdateKind, MAX_MESSAGE};
pub use update::{EntryUpdate, KeyType, Value};

/// Why bytes are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An encoded integer runs past its message or over 64 bits.
    #[error("bad encoded integer")]
    Varint,
    /// A message announces more bytes than the protocol allows.
    #[error("message of {0} bytes is over the size limit")]
    TooLong(u64),
    /// A message's content does not match its type.
    #[error("malformed {0} message")]
    Malformed(&'static str),
    /// The handshake lines are not what the protocol says.
    #[error("bad handshake: {0}")]
    Handshake(&'static str),
    /// A table stores a data type this implementation cannot decode (the `gpc`/`gpt` arrays).
    #[error("data type {0} is not supported")]
    DataType(u8),
    /// A key type this implementation does not know.
    #[error("key type {0} is not supported")]
    KeyType(u64),
}

#[cfg(test)]
mod tests;
