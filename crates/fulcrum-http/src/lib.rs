//! fulcrum's HTTP/1 codec, sans-IO: no sockets, no runtime, nothing of the proxy's data path. Both sides of the
//! proxy use it:
//!
//! - from a client: [`request_in`] reads a request head and decides how its body is delimited (RFC 9112 section
//!   6); [`response_out`] writes the response head and decides how its body is framed for that client;
//! - towards a server: [`request_out`] writes the request head; [`response_in`] reads the response head back;
//! - on both: [`chunked`] decodes the chunked transfer coding, [`headers`] handles hop-by-hop headers;
//! - HTTP/2: [`h2map`] maps a request decoded from an HTTP/2 stream to the same types, and a response back;
//! - rules: [`normalize`] rewrites a request target as `http-request normalize-uri` asks.
//!
//! Heads are parsed with `httparse` into the `http` crate's types; header values share the receive buffer's bytes.

pub mod chunked;
pub mod h2frames;
pub mod h2map;
mod head;
pub mod headers;
pub mod normalize;
pub mod request_in;
pub mod request_out;
pub mod response_in;
pub mod response_out;
