//! mode http: one hyper HTTP/1.1 server connection per client; each request is forwarded to a server chosen by
//! the backend's balancing algorithm over a pooled connection that the request task drives itself.

pub mod body;
pub mod buffered;
pub mod errors;
pub mod h1;
pub mod headers;
pub mod pool;
pub mod reqbody;
pub mod request;
pub mod server_conn;
pub mod tunnel;
pub mod upstream_body;

pub use request::serve_client;
