//! mode http: each client connection is served by its own loop ([`client`]) over fulcrum's HTTP/1 codec
//! (`fulcrum-http`); each request is forwarded to a server chosen by the backend's balancing algorithm
//! ([`request`]) over a pooled connection that the request task drives itself ([`server_conn`]).

pub mod body;
pub mod buffered;
pub mod client;
pub mod client_body;
pub mod compress;
pub mod compress_body;
pub mod conn;
pub(crate) mod cookie;
pub(crate) mod h2;
pub(crate) mod h2_body;
pub mod h2_upstream;
pub mod headers;
pub mod interim;
pub mod pool;
pub mod reqbody;
pub mod request;
pub mod respond;
pub mod server_conn;
pub mod server_sni;
pub mod stats;
pub mod tunnel;
pub mod upgrade;
pub mod upstream_body;

pub use client::serve_client;

/// The error pages moved to the model (`model/error_pages.rs`); this keeps their old path.
pub use crate::model::error_pages as errors;
