//! A sans-IO DNS resolver core for the addresses of servers (HAProxy's `resolvers` sections).
//!
//! - [`wire`]: the DNS messages a resolver needs, encoded and decoded without panics (A, AAAA, SRV, CNAME; EDNS0
//!   payload size; truncation and response codes).
//! - [`resolution`]: one name's state machine (query due, retries, timeout, status and hold periods), driven by the
//!   caller's clock and datagrams.
//! - [`select`]: which address a server takes from an answer, and how `server-template` slots follow SRV records.
//!
//! The crate owns no socket, clock or randomness: the proxy's resolver task (fulcrum-proxy `resolvers.rs`) sends
//! the queries [`resolution::Resolution::poll`] returns to the nameservers and feeds the answers back.
//!
//! ```
//! use std::time::Instant;
//! use fulcrum_dns::resolution::{Kind, Params, Poll, Resolution, Outcome};
//! use fulcrum_dns::wire::{self, RData, Record};
//! let p = Params::default();
//! let now = Instant::now();
//! let mut r = Resolution::new("www.example", Kind::Host { prefer_v6: false });
//! let Poll::Send(query) = r.poll(now, &p, 7) else { panic!() };
//! let q = wire::decode(&query).unwrap();
//! let answer = wire::encode_response(&q, 0, false, &[Record::new("www.example", 60, RData::A([192, 0, 2, 1].into()))], &[]);
//! assert_eq!(r.on_message(now, &p, &wire::decode(&answer).unwrap()), Outcome::Valid { changed: true });
//! assert_eq!(r.addrs, vec!["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]);
//! ```

#![warn(missing_docs)]

pub mod resolution;
pub mod select;
pub mod wire;

#[cfg(test)]
mod tests;
