//! HTTP/1.1 towards servers, sans-IO: the request head written to a server ([`request_head`]), the response
//! head read back ([`response_head`]) and the chunked transfer coding of response bodies ([`chunked`]).
//! [`super::server_conn`] drives them over a socket.

pub mod chunked;
pub mod request_head;
pub mod response_head;
