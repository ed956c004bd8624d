//! A TLS ClientHello read from the first bytes a client sent, without terminating TLS: what `mode tcp` rules look
//! at to route TLS by server name (`req.ssl_sni`, `req.ssl_hello_type`, `req.ssl_alpn`, `req.ssl_ver`), as HAProxy
//! reads it from the first record. Our own parser: it is a wire format read on every routed connection and a
//! fuzz target.

/// What the bytes so far are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello<'a> {
    /// A prefix of what may still become a ClientHello: more bytes are needed.
    Incomplete,
    /// Not a TLS handshake record holding a ClientHello (or a broken one).
    NotHello,
    /// A complete ClientHello.
    Client(ClientHello<'a>),
}

/// The parts of a ClientHello the rules use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello<'a> {
    /// The host name of the server_name extension.
    pub sni: Option<&'a [u8]>,
    /// The protocols of the ALPN extension, in the client's order.
    pub alpn: Vec<&'a [u8]>,
    /// The record layer's version (`0x0301` for most clients, whatever they offer).
    pub record_version: u16,
    /// The highest version offered: the supported_versions extension's, else the hello's legacy version.
    pub version: u16,
}

/// A cursor over a byte slice that never panics.
struct Cur<'a>(&'a [u8]);

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// The largest record a ClientHello may come in (2^14 bytes of plaintext).
const MAX_RECORD: usize = 16384;

/// Reads the ClientHello at the start of `buf` (the first record only).
pub fn parse(buf: &[u8]) -> Hello<'_> {
    let mut c = Cur(buf);
    // Record header: type 22 (handshake), version 3.x, length.
    match c.u8() {
        None => return Hello::Incomplete,
        Some(22) => {}
        Some(_) => return Hello::NotHello,
    }
    match c.u8() {
        None => return Hello::Incomplete,
        Some(3) => {}
        Some(_) => return Hello::NotHello,
    }
    let Some(minor) = c.u8() else {
        return Hello::Incomplete;
    };
    let Some(len) = c.u16() else {
        return Hello::Incomplete;
    };
    let len = usize::from(len);
    if len == 0 || len > MAX_RECORD {
        return Hello::NotHello;
    }
    let Some(record) = c.take(len) else {
        // Still arriving: what is there must at least start like a ClientHello.
        return match c.0.first() {
            Some(1) | None => Hello::Incomplete,
            Some(_) => Hello::NotHello,
        };
    };
    match client_hello(record) {
        Some(mut h) => {
            h.record_version = 0x0300 | u16::from(minor);
            Hello::Client(h)
        }
        None => Hello::NotHello,
    }
}

fn client_hello(record: &[u8]) -> Option<ClientHello<'_>> {
    let mut c = Cur(record);
    if c.u8()? != 1 {
        return None;
    }
    let len = c.u24()?;
    // A ClientHello spread over several records is not read (as HAProxy reads only the first).
    let mut h = Cur(c.take(len)?);
    let legacy = h.u16()?;
    h.take(32)?;
    h.vec8()?;
    h.vec16()?;
    h.vec8()?;
    let mut out = ClientHello {
        version: legacy,
        ..ClientHello::default()
    };
    if h.0.is_empty() {
        return Some(out);
    }
    let mut exts = Cur(h.vec16()?);
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let mut body = Cur(exts.vec16()?);
        match kind {
            // server_name: a list of (type, name); type 0 is a host name.
            0 => {
                let mut list = Cur(body.vec16()?);
                while !list.0.is_empty() {
                    let t = list.u8()?;
                    let name = list.vec16()?;
                    if t == 0 && out.sni.is_none() {
                        out.sni = Some(name);
                    }
                }
            }
            // application_layer_protocol_negotiation
            16 => {
                let mut list = Cur(body.vec16()?);
                while !list.0.is_empty() {
                    out.alpn.push(list.vec8()?);
                }
            }
            // supported_versions: the highest offered (GREASE values 0x?a?a skipped).
            43 => {
                let mut list = Cur(body.vec8()?);
                while !list.0.is_empty() {
                    let v = list.u16()?;
                    if v & 0x0f0f != 0x0a0a && v > out.version {
                        out.version = v;
                    }
                }
            }
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello with `sni`, `alpn` and supported_versions 1.3/1.2, in one record.
    pub(crate) fn hello(sni: &[u8], alpn: &[&[u8]]) -> Vec<u8> {
        let mut exts = Vec::new();
        let mut names = vec![0u8];
        names.extend((sni.len() as u16).to_be_bytes());
        names.extend(sni);
        let mut sn = (names.len() as u16).to_be_bytes().to_vec();
        sn.extend(names);
        exts.extend(0u16.to_be_bytes());
        exts.extend((sn.len() as u16).to_be_bytes());
        exts.extend(sn);
        if !alpn.is_empty() {
            let mut l = Vec::new();
            for p in alpn {
                l.push(p.len() as u8);
                l.extend(*p);
            }
            let mut a = (l.len() as u16).to_be_bytes().to_vec();
            a.extend(l);
            exts.extend(16u16.to_be_bytes());
            exts.extend((a.len() as u16).to_be_bytes());
            exts.extend(a);
        }
        exts.extend(43u16.to_be_bytes());
        exts.extend(5u16.to_be_bytes());
        exts.extend([4, 0x03, 0x04, 0x03, 0x03]);
        let mut body = vec![0x03, 0x03];
        body.extend([7u8; 32]);
        body.push(0);
        body.extend([0, 2, 0x13, 0x01]);
        body.extend([1, 0]);
        body.extend((exts.len() as u16).to_be_bytes());
        body.extend(exts);
        let mut hs = vec![1u8];
        hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend(body);
        let mut rec = vec![22, 3, 1];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }

    #[test]
    fn reads_sni_alpn_and_versions() {
        let h = hello(b"www.example.test", &[b"h2", b"http/1.1"]);
        let Hello::Client(c) = parse(&h) else {
            panic!("{:?}", parse(&h))
        };
        assert_eq!(c.sni, Some(&b"www.example.test"[..]));
        assert_eq!(c.alpn, vec![&b"h2"[..], &b"http/1.1"[..]]);
        assert_eq!((c.record_version, c.version), (0x0301, 0x0304));
        for cut in 0..h.len() {
            assert_eq!(parse(&h[..cut]), Hello::Incomplete, "cut at {cut}");
        }
    }

    #[test]
    fn other_bytes_are_not_a_hello() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Hello::NotHello);
        assert_eq!(parse(&[22, 2, 0]), Hello::NotHello);
        assert_eq!(parse(&[22, 3, 1, 0, 5, 2]), Hello::NotHello);
        let mut h = hello(b"a", &[]);
        h[8] ^= 0xff; // the handshake length no longer fits the record
        assert_eq!(parse(&h), Hello::NotHello);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse(&bytes);
        }
    }
}
