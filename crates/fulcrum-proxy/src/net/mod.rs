//! The socket toolbox, below everything and knowing nothing of the configuration: binding listeners and
//! inheriting sockets ([`listener`], [`fd_limit`]), connecting to servers ([`connect`]), the PROXY protocol header ([`proxy_header`]), TLS sessions
//! driven over a socket ([`tls_io`]), moving bytes both ways ([`relay`], [`splice`]), parking idle connections
//! without buffers ([`parking`], [`memory`]) the server-side source address ([`origin`]) and unix sockets
//! ([`unix`]).

pub mod connect;
pub mod fd_limit;
pub mod listener;
pub mod memory;
pub mod origin;
pub mod parking;
pub mod pipes;
pub mod proxy_header;
pub mod relay;
pub mod silent_drop;
pub mod socks4;
pub mod splice;
pub mod tls_io;
pub mod unix;
