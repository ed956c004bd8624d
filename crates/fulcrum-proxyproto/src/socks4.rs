//! SOCKS4's CONNECT exchange (the protocol of 1992, no authentication, IPv4 targets), which HAProxy speaks to
//! reach a server through a SOCKS proxy (`server ... socks4 ADDR:PORT`): the proxy's client sends a request
//! naming the server, the SOCKS proxy answers with eight bytes saying whether it connected, and from then on
//! the connection carries the server's bytes both ways.
//!
//! The request is version 4, command 1 (CONNECT), the port and the IPv4 address, then a user ID ended by a NUL
//! byte: HAProxy sends `HAProxy`, and so does fulcrum, so a SOCKS proxy's rules written for one match the other.

use std::net::SocketAddrV4;

/// The user ID the request carries, with its terminating NUL.
pub const USER_ID: &[u8] = b"HAProxy\0";

/// The length of a request: version, command, port (2), address (4) and [`USER_ID`].
pub const REQUEST_LEN: usize = 8 + USER_ID.len();

/// The length of the SOCKS proxy's reply.
pub const REPLY_LEN: usize = 8;

/// The reply status that grants the request (90); 91, 92 and 93 refuse it.
pub const GRANTED: u8 = 0x5a;

/// The request asking the SOCKS proxy to connect to `target`.
pub fn request(target: SocketAddrV4) -> [u8; REQUEST_LEN] {
    let mut out = [0u8; REQUEST_LEN];
    out[0] = 4;
    out[1] = 1;
    out[2..4].copy_from_slice(&target.port().to_be_bytes());
    out[4..8].copy_from_slice(&target.ip().octets());
    out[8..].copy_from_slice(USER_ID);
    out
}

/// The SOCKS proxy refused the request: its reply's status byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("SOCKS4 Proxy deny the request")]
pub struct Denied(pub u8);

/// Reads the SOCKS proxy's reply: `Ok` when it granted the request. The first byte (0 in the protocol) and the
/// six bytes after the status are not looked at, as HAProxy does not look at them.
pub fn reply(bytes: &[u8; REPLY_LEN]) -> Result<(), Denied> {
    match bytes[1] {
        GRANTED => Ok(()),
        status => Err(Denied(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes HAProxy 2.6 sends for 127.0.0.1:18091 (observed on the wire).
    #[test]
    fn request_as_haproxy_sends_it() {
        let r = request("127.0.0.1:18091".parse().unwrap());
        let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "040146ab7f000001484150726f787900");
    }

    #[test]
    fn replies() {
        assert_eq!(reply(&[0, 0x5a, 0, 0, 0, 0, 0, 0]), Ok(()));
        // What follows the status does not matter, nor the version byte.
        assert_eq!(reply(&[4, 0x5a, 1, 2, 3, 4, 5, 6]), Ok(()));
        for s in [0x5b, 0x5c, 0x5d, 0, 0xff] {
            assert_eq!(reply(&[0, s, 0, 0, 0, 0, 0, 0]), Err(Denied(s)));
        }
        assert_eq!(Denied(0x5b).to_string(), "SOCKS4 Proxy deny the request");
    }
}
