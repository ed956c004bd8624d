//! What a request offers to the hashing algorithms, and how each algorithm extracts its bytes.

use std::net::IpAddr;

use crate::algorithm::UriOptions;

/// The parts of a request that hashing algorithms may use; every part is optional.
///
/// The caller fills only what the farm's algorithm needs (see [`crate::Farm::algorithm`]):
/// the client address for `source`, the request target for `uri`, the parameter's value for
/// `url_param` (see [`query_param_value`]) and the header's value for `hdr()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestKey<'a> {
    /// The client's address (`source`).
    pub client_ip: Option<IpAddr>,
    /// The request target as received: path and optional query string (`uri`).
    pub uri: Option<&'a [u8]>,
    /// The value of the query parameter named in `url_param NAME`.
    pub param: Option<&'a [u8]>,
    /// The value of the header named in `hdr(NAME)`.
    pub header: Option<&'a [u8]>,
    /// The value of the expression of `hash EXPR`, as bytes.
    pub sample: Option<&'a [u8]>,
}

impl<'a> RequestKey<'a> {
    /// A key with nothing in it: hashing algorithms fall back to round robin.
    pub const fn empty() -> Self {
        RequestKey {
            client_ip: None,
            uri: None,
            param: None,
            header: None,
            sample: None,
        }
    }

    /// Sets the client address.
    pub const fn with_client_ip(mut self, ip: IpAddr) -> Self {
        self.client_ip = Some(ip);
        self
    }

    /// Sets the request target (path and query).
    pub const fn with_uri(mut self, uri: &'a [u8]) -> Self {
        self.uri = Some(uri);
        self
    }

    /// Sets the `url_param` value.
    pub const fn with_param(mut self, value: &'a [u8]) -> Self {
        self.param = Some(value);
        self
    }

    /// Sets the `hdr()` value.
    pub const fn with_header(mut self, value: &'a [u8]) -> Self {
        self.header = Some(value);
        self
    }
}

/// The value of query parameter `name` in `uri` (`/p?a=1&name=value`), if present with `=`.
///
/// Pure slicing, no allocation; parameters are separated by `&`, the fragment is ignored.
pub fn query_param_value<'u>(uri: &'u [u8], name: &[u8]) -> Option<&'u [u8]> {
    let q = uri.iter().position(|&c| c == b'?')?;
    let query = &uri[q + 1..];
    let query = match query.iter().position(|&c| c == b'#') {
        Some(h) => &query[..h],
        None => query,
    };
    query.split(|&c| c == b'&').find_map(|pair| {
        let rest = pair.strip_prefix(name)?;
        rest.strip_prefix(b"=")
    })
}

/// The bytes of `uri` that `balance uri` hashes under `opts`.
pub fn uri_hash_input<'u>(uri: &'u [u8], opts: &UriOptions) -> &'u [u8] {
    let mut end = if opts.whole {
        uri.len()
    } else {
        uri.iter().position(|&c| c == b'?').unwrap_or(uri.len())
    };
    if let Some(depth) = opts.depth.filter(|&d| d > 0) {
        let mut slashes = 0usize;
        if let Some(p) = uri[..end].iter().position(|&c| {
            if c == b'/' {
                slashes += 1;
            }
            slashes > depth
        }) {
            end = p;
        }
    }
    if let Some(len) = opts.len.filter(|&l| l > 0) {
        end = end.min(len);
    }
    &uri[..end]
}

/// Writes the bytes `source` hashes for `ip` into `buf` and returns them: 4 bytes for IPv4
/// (IPv4-mapped IPv6 addresses count as IPv4), 16 for IPv6.
pub fn ip_hash_input(ip: IpAddr, buf: &mut [u8; 16]) -> &[u8] {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            buf[..4].copy_from_slice(&v4.octets());
            &buf[..4]
        }
        IpAddr::V6(v6) => {
            buf.copy_from_slice(&v6.octets());
            &buf[..]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        let u = b"/a/b?x=1&name=val&y=2#frag";
        assert_eq!(query_param_value(u, b"name"), Some(&b"val"[..]));
        assert_eq!(query_param_value(u, b"x"), Some(&b"1"[..]));
        assert_eq!(query_param_value(u, b"y"), Some(&b"2"[..]));
        assert_eq!(query_param_value(u, b"nam"), None);
        assert_eq!(query_param_value(b"/a?name", b"name"), None);
        assert_eq!(query_param_value(b"/a?name=", b"name"), Some(&b""[..]));
        assert_eq!(query_param_value(b"/a/name=1", b"name"), None);
        assert_eq!(query_param_value(b"", b"name"), None);
    }

    #[test]
    fn uri_options() {
        let u = b"/a/b/c?q=1";
        let o = |len, depth, whole| UriOptions { len, depth, whole };
        assert_eq!(uri_hash_input(u, &o(None, None, false)), b"/a/b/c");
        assert_eq!(uri_hash_input(u, &o(None, None, true)), b"/a/b/c?q=1");
        assert_eq!(uri_hash_input(u, &o(None, Some(1), false)), b"/a");
        assert_eq!(uri_hash_input(u, &o(None, Some(2), false)), b"/a/b");
        assert_eq!(uri_hash_input(u, &o(None, Some(9), false)), b"/a/b/c");
        assert_eq!(uri_hash_input(u, &o(Some(3), None, false)), b"/a/");
        assert_eq!(uri_hash_input(u, &o(Some(3), Some(1), false)), b"/a");
        assert_eq!(uri_hash_input(u, &o(Some(0), Some(0), true)), u);
        assert_eq!(uri_hash_input(b"", &o(Some(3), Some(1), false)), b"");
    }

    #[test]
    fn ip_inputs() {
        let mut buf = [0u8; 16];
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(ip_hash_input(v4, &mut buf), &[10, 1, 2, 3]);
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(ip_hash_input(mapped, &mut buf), &[10, 1, 2, 3]);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(ip_hash_input(v6, &mut buf).len(), 16);
    }
}
