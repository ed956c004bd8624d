//! What a protocol upgrade needs when it crosses between HTTP/1.1 and HTTP/2 (RFC 8441 extended CONNECT), as
//! HAProxy 2.6 does it: the WebSocket key the proxy makes for an HTTP/1.1 server when an HTTP/2 client sent none
//! (and checks the server's accept key against), and the accept key it gives an HTTP/1.1 client whose upgrade an
//! HTTP/2 server accepted with a `200`. The header mapping itself is `fulcrum_http::h2map`'s.

use base64::Engine as _;
use http::header::{self, HeaderMap, HeaderValue};
use sha1::Digest as _;

/// The key the proxy made for a WebSocket handshake it forwards to an HTTP/1.1 server (a request extension): the
/// server's `Sec-WebSocket-Accept` must answer it.
#[derive(Debug, Clone)]
pub struct MadeKey(pub HeaderValue);

/// Marks a request that came as an extended CONNECT on an HTTP/2 stream: a `101` to it goes back as a `200`.
#[derive(Debug, Clone, Copy)]
pub struct FromExtendedConnect;

/// The `Sec-WebSocket-Accept` value answering `key` (RFC 6455 section 4.2.2).
pub fn websocket_accept(key: &[u8]) -> HeaderValue {
    let mut h = sha1::Sha1::new();
    h.update(key);
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(h.finalize());
    // Base64 is always a valid header value.
    HeaderValue::from_str(&accept).unwrap_or(HeaderValue::from_static(""))
}

/// Gives a WebSocket upgrade that has no `Sec-WebSocket-Key` (an HTTP/2 client's extended CONNECT has none) a key
/// of 16 random bytes, returned to check the server's answer with.
pub fn add_websocket_key(headers: &mut HeaderMap) -> Option<MadeKey> {
    let websocket = fulcrum_http::headers::all_tokens(headers, header::UPGRADE)
        .any(|t| t.eq_ignore_ascii_case("websocket"));
    if !websocket || headers.contains_key(header::SEC_WEBSOCKET_KEY) {
        return None;
    }
    let mut nonce = [0u8; 16];
    for c in nonce.chunks_mut(4) {
        c.copy_from_slice(&crate::model::rules::vars::random_u32().to_ne_bytes());
    }
    let key = base64::engine::general_purpose::STANDARD.encode(nonce);
    let v = HeaderValue::from_str(&key).ok()?;
    headers.insert(header::SEC_WEBSOCKET_KEY, v.clone());
    Some(MadeKey(v))
}

/// Whether a server's `101` answers the key the proxy made.
pub fn accepts(made: &MadeKey, response: &HeaderMap) -> bool {
    response
        .get(header::SEC_WEBSOCKET_ACCEPT)
        .is_some_and(|a| a.as_bytes() == websocket_accept(made.0.as_bytes()).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_of_rfc6455() {
        assert_eq!(
            websocket_accept(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn a_key_is_made_only_for_websocket_without_one() {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        let made = add_websocket_key(&mut h).unwrap();
        assert_eq!(h[header::SEC_WEBSOCKET_KEY], made.0);
        assert_eq!(made.0.len(), 24);
        let mut resp = HeaderMap::new();
        resp.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            websocket_accept(made.0.as_bytes()),
        );
        assert!(accepts(&made, &resp));
        resp.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_static("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        );
        assert!(!accepts(&made, &resp));
        // A key already there is kept; another protocol gets none.
        assert!(add_websocket_key(&mut h).is_none());
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("custom"));
        assert!(add_websocket_key(&mut h).is_none());
        assert!(h.get(header::SEC_WEBSOCKET_KEY).is_none());
    }
}
