//! The limits of HAProxy's message buffer as fulcrum applies them (`tune.bufsize`, `tune.maxrewrite`): how much
//! a head takes in it ([`head_size`], counted as HAProxy's HTX does), and the room left for header rewrites
//! ([`Room`]). The snapshot holds the limits, the rules charge their rewrites to the room, and the HTTP path
//! (`data/http/buffered.rs`) waits for bodies within them.

use http::{HeaderMap, Request};

use fulcrum_config::haproxy::Global;

/// What a head takes in HAProxy's buffer beyond its start line's words and its headers.
const HEAD_OVERHEAD: usize = 85;
/// What each header, and the body's data, take in HAProxy's buffer beyond their bytes.
const BLOCK: usize = 8;

/// The size of a message buffer and the room kept in it for rewrites (`tune.bufsize`, `tune.maxrewrite`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufLimits {
    /// `tune.bufsize`
    pub size: usize,
    /// `tune.maxrewrite`, as HAProxy caps it.
    pub rewrite: usize,
}

impl BufLimits {
    /// The limits the `global` section sets (HAProxy's defaults otherwise: 16384 and 1024).
    pub fn new(global: &Global) -> Self {
        BufLimits {
            size: global.bufsize() as usize,
            rewrite: global.maxrewrite() as usize,
        }
    }

    /// What a head and the body bytes waited for may take: the buffer less the room kept for rewrites.
    pub fn fill(&self) -> usize {
        self.size.saturating_sub(self.rewrite)
    }

    /// How many body bytes a wait may gather after a head of `head` bytes (see [`head_size`]).
    pub fn body_room(&self, head: usize) -> usize {
        self.fill().saturating_sub(head + BLOCK)
    }
}

impl Default for BufLimits {
    fn default() -> Self {
        BufLimits::new(&Global::default())
    }
}

/// The space a head takes in HAProxy's buffer: its start line's three words (`words`: their lengths) and its
/// headers.
pub fn head_size(words: [usize; 3], headers: &HeaderMap) -> usize {
    HEAD_OVERHEAD
        + words.iter().sum::<usize>()
        + headers
            .iter()
            .map(|(n, v)| BLOCK + n.as_str().len() + v.len())
            .sum::<usize>()
}

/// [`head_size`] of a request head as the client sent it.
pub fn request_head_size<B>(req: &Request<B>) -> usize {
    head_size(
        [
            req.method().as_str().len(),
            target_len(req.uri()),
            "HTTP/1.1".len(),
        ],
        req.headers(),
    )
}

/// The length of a request target as written on a request line (the URI's text), counted without writing it:
/// this runs for every request, and an HTTP/2 request's URI is absolute.
pub fn target_len(uri: &http::Uri) -> usize {
    uri.scheme().map_or(0, |s| s.as_str().len() + "://".len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path().len()
        + uri.query().map_or(0, |q| q.len() + 1)
}

/// What a header line takes in HAProxy's buffer.
pub fn header_cost(name: usize, value: usize) -> usize {
    BLOCK + name + value
}

/// What every header line of `headers` takes in HAProxy's buffer.
pub fn headers_cost(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(n, v)| header_cost(n.as_str().len(), v.len()))
        .sum()
}

/// What `len` body bytes received with a head of `head` bytes take in HAProxy's buffer: no more than the buffer
/// lets in before the rules run (its size less the rewrite room).
pub fn body_cost(limits: &BufLimits, head: usize, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (BLOCK + len).min(limits.fill().saturating_sub(head))
    }
}

/// The room left in a message's buffer for header rewrites: HAProxy's buffer less what the head and the body
/// bytes in it take. A rewrite that does not fit fails (`strict-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    free: isize,
}

impl Room {
    /// The room in a buffer of `size` bytes of which `used` are taken.
    pub fn new(size: usize, used: usize) -> Self {
        Room {
            free: size as isize - used as isize,
        }
    }

    /// Room that no rewrite fills.
    pub fn unlimited() -> Self {
        Room {
            free: isize::MAX / 2,
        }
    }

    /// A rewrite that frees `freed` bytes and takes `needed`: whether it fits; if so the room follows it.
    pub fn rewrite(&mut self, freed: usize, needed: usize) -> bool {
        let after = self.free + freed as isize - needed as isize;
        if after < 0 {
            return false;
        }
        self.free = after;
        true
    }

    /// `n` bytes more are taken (body bytes that arrived), or fewer (negative: removed).
    pub fn take(&mut self, n: isize) {
        self.free -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_as_long_as_its_text() {
        for u in [
            "/",
            "/a/b?c=d&e",
            "*",
            "http://example.test/",
            "https://example.test:8443/x?y",
            "http://example.test",
            "example.test:443",
            "/?",
        ] {
            let uri: http::Uri = u.parse().unwrap();
            assert_eq!(target_len(&uri), uri.to_string().len(), "{u}");
        }
    }
}
