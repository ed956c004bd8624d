//! The data path: what serves connections. [`worker`] runs one thread per worker and accepts on its listeners;
//! [`worker_state`] is what a worker and its connections share; a connection is served by [`http`] (mode http:
//! the client loop, each request's transaction, server connections and their pool, the stats page) or [`tcp`]
//! (mode tcp, through [`tls_relay`] when a side speaks TLS, or `net::splice`; [`tcp_sni`] names the server's TLS
//! session). [`client_io`] is the client socket with its counters and
//! TLS; [`queue`] waits for a server slot; [`totals`] counts what ended; [`http_log`] and [`tcp_log`] record a
//! request or connection for its access log line.

pub mod client_io;
pub mod http;
pub mod http_log;
pub mod peers;
pub mod queue;
pub mod rate_gate;
pub mod resolvers;
pub mod tcp;
pub mod tcp_log;
pub mod tcp_sni;
pub mod tls_relay;
pub mod totals;
pub mod worker;
pub mod worker_state;
