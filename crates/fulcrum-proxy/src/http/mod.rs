//! mode http: one hyper HTTP/1.1 server connection per client, each request forwarded to a server chosen by
//! the backend's balancing algorithm over a pooled connection.

pub mod body;
pub mod errors;
pub mod headers;
pub mod pool;
pub mod reqbody;
pub mod request;
pub mod server_io;
pub mod tunnel;

pub use request::serve_client;
