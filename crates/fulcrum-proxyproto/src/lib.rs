//! The PROXY protocol, versions 1 (a text line) and 2 (binary, with TLVs), as a pure codec.
//!
//! A load balancer in front of a server opens its connection with a PROXY header that tells the server who the
//! client really was (addresses and ports) and, in version 2, extra facts in type-length-value records (TLVs):
//! the TLS server name (`AUTHORITY`), the negotiated ALPN protocol, a unique ID, the TLS parameters (`SSL` with its
//! sub-TLVs), a network namespace and a CRC32C checksum of the whole header.
//!
//! [`decode`] reads a header from the first bytes of a connection and says how many bytes it took, or that more
//! bytes are needed; it never reads past the header and never panics, whatever the bytes. [`encode_v1`] and
//! [`V2`] write headers. The crate does no I/O: the proxy peeks at its socket, calls [`decode`], then consumes
//! exactly the header's length.
//!
//! [`socks4`] holds the other preamble a connection to a server may start with: the SOCKS4 CONNECT exchange of a
//! server reached through a SOCKS proxy.
//!
//! ```
//! use fulcrum_proxyproto::{decode, encode_v1, Decoded};
//! let src = "192.0.2.1:4000".parse().unwrap();
//! let dst = "198.51.100.2:80".parse().unwrap();
//! let mut wire = Vec::new();
//! encode_v1(Some((src, dst)), &mut wire);
//! assert_eq!(wire, b"PROXY TCP4 192.0.2.1 198.51.100.2 4000 80\r\n");
//! wire.extend_from_slice(b"GET / HTTP/1.1\r\n");
//! let Ok(Decoded::Done { header, len }) = decode(&wire) else { panic!() };
//! assert_eq!(len, 43);
//! assert_eq!(header.source(), Some(src));
//! ```

#![warn(missing_docs)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The twelve bytes every version 2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 line, its CR LF included (the specification's bound).
pub const V1_MAX_LEN: usize = 107;

/// The longest unique ID a version 2 header may carry.
pub const UNIQUE_ID_MAX: usize = 128;

/// The longest authority (server name) a version 2 header may carry.
pub const AUTHORITY_MAX: usize = 255;

pub mod socks4;

/// The TLV and SSL sub-TLV types of version 2.
pub mod kind {
    /// The application protocol (ALPN) of the client connection.
    pub const ALPN: u8 = 0x01;
    /// The host name the client asked for (the TLS server name).
    pub const AUTHORITY: u8 = 0x02;
    /// A CRC32C checksum of the whole header (4 bytes, network order).
    pub const CRC32C: u8 = 0x03;
    /// Padding, ignored.
    pub const NOOP: u8 = 0x04;
    /// An opaque ID of the connection, up to 128 bytes.
    pub const UNIQUE_ID: u8 = 0x05;
    /// TLS facts: a client flags byte, a 32-bit verify result, then sub-TLVs.
    pub const SSL: u8 = 0x20;
    /// Sub-TLV of `SSL`: the protocol version (`TLSv1.3`).
    pub const SSL_VERSION: u8 = 0x21;
    /// Sub-TLV of `SSL`: the common name of the client certificate's subject.
    pub const SSL_CN: u8 = 0x22;
    /// Sub-TLV of `SSL`: the cipher suite's name.
    pub const SSL_CIPHER: u8 = 0x23;
    /// Sub-TLV of `SSL`: the certificate's signature algorithm.
    pub const SSL_SIG_ALG: u8 = 0x24;
    /// Sub-TLV of `SSL`: the certificate's key algorithm.
    pub const SSL_KEY_ALG: u8 = 0x25;
    /// The network namespace's name.
    pub const NETNS: u8 = 0x30;
}

/// Flags of the `SSL` TLV's first byte.
pub mod ssl_client {
    /// The client connected over TLS.
    pub const SSL: u8 = 0x01;
    /// The client presented a certificate on this connection.
    pub const CERT_CONN: u8 = 0x02;
    /// The client presented a certificate at least once in this TLS session.
    pub const CERT_SESS: u8 = 0x04;
}

/// Why bytes are not a valid PROXY header. The connection carrying them is to be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes start with neither `PROXY ` nor the version 2 signature.
    #[error("the connection does not start with a PROXY protocol header")]
    NotProxy,
    /// A version 1 line reached 107 bytes without its CR LF.
    #[error("PROXY v1 line longer than 107 bytes")]
    V1TooLong,
    /// A version 1 line names a protocol other than TCP4, TCP6 or UNKNOWN.
    #[error("PROXY v1 line with an unknown protocol")]
    V1Protocol,
    /// A version 1 address or port is malformed or of the wrong family.
    #[error("PROXY v1 line with a malformed address or port")]
    V1Address,
    /// A version 1 line has missing or extra fields.
    #[error("PROXY v1 line with missing or extra fields")]
    V1Fields,
    /// The version nibble of a version 2 header is not 2.
    #[error("PROXY v2 header with version {0}")]
    V2Version(u8),
    /// The command nibble is neither LOCAL (0) nor PROXY (1).
    #[error("PROXY v2 header with unknown command {0}")]
    V2Command(u8),
    /// The address family / transport byte is not one the specification defines.
    #[error("PROXY v2 header with unknown address family 0x{0:02x}")]
    V2Family(u8),
    /// The announced length is shorter than the addresses of the announced family.
    #[error("PROXY v2 header too short for its addresses")]
    V2AddressLength,
    /// A TLV runs past the end of the header, or bytes too few for a TLV are left at its end.
    #[error("PROXY v2 TLV overflows the header")]
    TlvOverflow,
    /// A TLV's value has a length its type forbids (CRC32C other than 4 bytes, an over-long unique ID or
    /// authority).
    #[error("PROXY v2 TLV 0x{0:02x} with an invalid length")]
    TlvLength(u8),
    /// The CRC32C TLV does not match the header.
    #[error("PROXY v2 header fails its CRC32C check")]
    Crc32c,
    /// The `SSL` TLV's value is malformed (shorter than 5 bytes, or its sub-TLVs overflow).
    #[error("PROXY v2 SSL TLV malformed")]
    Ssl,
}

/// Which version a header was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The text line.
    V1,
    /// The binary header.
    V2,
}

/// What the header asks of the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// The connection relays a client: use the header's addresses.
    Proxy,
    /// The proxy's own connection (a health check): keep the connection's real addresses.
    Local,
}

/// The transport of the relayed connection (version 2; version 1 knows only TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A stream (TCP, or a unix stream socket).
    Stream,
    /// Datagrams (UDP, or a unix datagram socket).
    Datagram,
}

/// The addresses a header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addresses {
    /// None given: `PROXY UNKNOWN`, a LOCAL command, or the unspecified family.
    Unknown,
    /// IPv4 or IPv6 source and destination.
    Inet {
        /// The client.
        src: SocketAddr,
        /// The address the client connected to.
        dst: SocketAddr,
        /// TCP or UDP.
        transport: Transport,
    },
    /// Unix socket paths, NUL padded to 108 bytes on the wire (trailing NULs removed here).
    Unix {
        /// The client's path.
        src: Vec<u8>,
        /// The path the client connected to.
        dst: Vec<u8>,
        /// Stream or datagram socket.
        transport: Transport,
    },
}

/// One type-length-value record of a version 2 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// Its type (see [`kind`]).
    pub kind: u8,
    /// Its value.
    pub value: Vec<u8>,
}

impl Tlv {
    /// A TLV of `kind` holding `value`.
    pub fn new(kind: u8, value: impl Into<Vec<u8>>) -> Tlv {
        Tlv {
            kind,
            value: value.into(),
        }
    }
}

/// The decoded `SSL` TLV.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ssl {
    /// Flags of [`ssl_client`].
    pub client: u8,
    /// The client certificate's verification result, 0 when it was verified (or none was presented).
    pub verify: u32,
    /// The sub-TLVs (`SSL_VERSION`, `SSL_CN`, ...).
    pub sub: Vec<Tlv>,
}

impl Ssl {
    /// Reads the value of an `SSL` TLV.
    pub fn decode(value: &[u8]) -> Result<Ssl, Error> {
        if value.len() < 5 {
            return Err(Error::Ssl);
        }
        let verify = u32::from_be_bytes([value[1], value[2], value[3], value[4]]);
        let sub = tlvs(&value[5..]).map_err(|_| Error::Ssl)?;
        Ok(Ssl {
            client: value[0],
            verify,
            sub,
        })
    }

    /// The bytes of this TLV's value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5);
        out.push(self.client);
        out.extend_from_slice(&self.verify.to_be_bytes());
        for t in &self.sub {
            put_tlv(&mut out, t.kind, &t.value);
        }
        out
    }

    /// The value of the first sub-TLV of `kind`.
    pub fn get(&self, kind: u8) -> Option<&[u8]> {
        self.sub
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| &t.value[..])
    }
}

/// A decoded header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The version it was written in.
    pub version: Version,
    /// PROXY or LOCAL (version 1 is always PROXY).
    pub command: Command,
    /// The relayed connection's addresses.
    pub addresses: Addresses,
    /// The TLVs, in order (version 2 with the PROXY command only).
    pub tlvs: Vec<Tlv>,
}

impl Header {
    /// The client's address, when the header gives an IP one for a relayed connection.
    pub fn source(&self) -> Option<SocketAddr> {
        match (&self.command, &self.addresses) {
            (Command::Proxy, Addresses::Inet { src, .. }) => Some(*src),
            _ => None,
        }
    }

    /// The address the client connected to, when the header gives an IP one for a relayed connection.
    pub fn destination(&self) -> Option<SocketAddr> {
        match (&self.command, &self.addresses) {
            (Command::Proxy, Addresses::Inet { dst, .. }) => Some(*dst),
            _ => None,
        }
    }

    /// The value of the first TLV of `kind`.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| &t.value[..])
    }

    /// The `SSL` TLV, decoded, when there is one.
    pub fn ssl(&self) -> Option<Result<Ssl, Error>> {
        self.tlv(kind::SSL).map(Ssl::decode)
    }
}

/// What [`decode`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The bytes so far are the start of a valid header: read more and call again.
    Incomplete,
    /// A whole header, `len` bytes long; what follows it belongs to the relayed protocol.
    Done {
        /// The header.
        header: Header,
        /// How many bytes it took.
        len: usize,
    },
}

/// Reads a PROXY header (either version) from the first bytes of a connection.
pub fn decode(buf: &[u8]) -> Result<Decoded, Error> {
    const V1_START: &[u8] = b"PROXY ";
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] {
        return if n < V2_SIGNATURE.len() {
            Ok(Decoded::Incomplete)
        } else {
            decode_v2(buf)
        };
    }
    let n = buf.len().min(V1_START.len());
    if buf[..n] == V1_START[..n] {
        return if n < V1_START.len() {
            Ok(Decoded::Incomplete)
        } else {
            decode_v1(buf)
        };
    }
    Err(Error::NotProxy)
}

fn decode_v1(buf: &[u8]) -> Result<Decoded, Error> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        // A lone CR at the very end may still be followed by its LF.
        return if window.len() >= V1_MAX_LEN {
            Err(Error::V1TooLong)
        } else {
            Ok(Decoded::Incomplete)
        };
    };
    let line = &buf[6..end];
    let len = end + 2;
    let mut fields = line.split(|&b| b == b' ');
    let proto = fields.next().unwrap_or_default();
    let v6 = match proto {
        b"UNKNOWN" => {
            // Whatever follows UNKNOWN is to be ignored.
            return Ok(Decoded::Done {
                header: Header {
                    version: Version::V1,
                    command: Command::Proxy,
                    addresses: Addresses::Unknown,
                    tlvs: Vec::new(),
                },
                len,
            });
        }
        b"TCP4" => false,
        b"TCP6" => true,
        _ => return Err(Error::V1Protocol),
    };
    let mut next = || fields.next().ok_or(Error::V1Fields);
    let src_ip = v1_ip(next()?, v6)?;
    let dst_ip = v1_ip(next()?, v6)?;
    let src_port = v1_port(next()?)?;
    let dst_port = v1_port(next()?)?;
    if fields.next().is_some() {
        return Err(Error::V1Fields);
    }
    Ok(Decoded::Done {
        header: Header {
            version: Version::V1,
            command: Command::Proxy,
            addresses: Addresses::Inet {
                src: SocketAddr::new(src_ip, src_port),
                dst: SocketAddr::new(dst_ip, dst_port),
                transport: Transport::Stream,
            },
            tlvs: Vec::new(),
        },
        len,
    })
}

fn v1_ip(field: &[u8], v6: bool) -> Result<IpAddr, Error> {
    let text = std::str::from_utf8(field).map_err(|_| Error::V1Address)?;
    let ip = if v6 {
        IpAddr::V6(text.parse::<Ipv6Addr>().map_err(|_| Error::V1Address)?)
    } else {
        IpAddr::V4(text.parse::<Ipv4Addr>().map_err(|_| Error::V1Address)?)
    };
    Ok(ip)
}

fn v1_port(field: &[u8]) -> Result<u16, Error> {
    if field.is_empty() || field.len() > 5 || !field.iter().all(u8::is_ascii_digit) {
        return Err(Error::V1Address);
    }
    let n = field.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    u16::try_from(n).map_err(|_| Error::V1Address)
}

fn decode_v2(buf: &[u8]) -> Result<Decoded, Error> {
    if buf.len() < 16 {
        return Ok(Decoded::Incomplete);
    }
    let ver_cmd = buf[12];
    if ver_cmd >> 4 != 2 {
        return Err(Error::V2Version(ver_cmd >> 4));
    }
    let command = match ver_cmd & 0x0f {
        0 => Command::Local,
        1 => Command::Proxy,
        c => return Err(Error::V2Command(c)),
    };
    let fam = buf[13];
    let body_len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let addr_len = match fam {
        0x00 => 0,
        0x11 | 0x12 => 12,
        0x21 | 0x22 => 36,
        0x31 | 0x32 => 216,
        f => return Err(Error::V2Family(f)),
    };
    if command == Command::Proxy && body_len < addr_len {
        return Err(Error::V2AddressLength);
    }
    let len = 16 + body_len;
    if buf.len() < len {
        return Ok(Decoded::Incomplete);
    }
    let header_bytes = &buf[..len];
    let body = &header_bytes[16..];
    if command == Command::Local || fam == 0x00 {
        // The addresses (and whatever follows) are to be ignored.
        return Ok(Decoded::Done {
            header: Header {
                version: Version::V2,
                command,
                addresses: Addresses::Unknown,
                tlvs: Vec::new(),
            },
            len,
        });
    }
    let transport = if fam & 0x0f == 2 {
        Transport::Datagram
    } else {
        Transport::Stream
    };
    let a = &body[..addr_len];
    let addresses = match fam >> 4 {
        1 => Addresses::Inet {
            src: SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
                u16::from_be_bytes([a[8], a[9]]),
            ),
            dst: SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(a[4], a[5], a[6], a[7])),
                u16::from_be_bytes([a[10], a[11]]),
            ),
            transport,
        },
        2 => {
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s.copy_from_slice(&a[..16]);
            d.copy_from_slice(&a[16..32]);
            Addresses::Inet {
                src: SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::from(s)),
                    u16::from_be_bytes([a[32], a[33]]),
                ),
                dst: SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::from(d)),
                    u16::from_be_bytes([a[34], a[35]]),
                ),
                transport,
            }
        }
        _ => {
            let path = |p: &[u8]| {
                let end = p.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                p[..end].to_vec()
            };
            Addresses::Unix {
                src: path(&a[..108]),
                dst: path(&a[108..216]),
                transport,
            }
        }
    };
    let list = tlvs(&body[addr_len..])?;
    let mut offset = 16 + addr_len;
    for t in &list {
        match t.kind {
            kind::CRC32C => {
                if t.value.len() != 4 {
                    return Err(Error::TlvLength(t.kind));
                }
                let got = u32::from_be_bytes([t.value[0], t.value[1], t.value[2], t.value[3]]);
                let mut digest = CASTAGNOLI.digest();
                digest.update(&header_bytes[..offset + 3]);
                digest.update(&[0; 4]);
                digest.update(&header_bytes[offset + 7..]);
                if digest.finalize() != got {
                    return Err(Error::Crc32c);
                }
            }
            kind::UNIQUE_ID if t.value.len() > UNIQUE_ID_MAX => {
                return Err(Error::TlvLength(t.kind))
            }
            kind::AUTHORITY if t.value.len() > AUTHORITY_MAX => {
                return Err(Error::TlvLength(t.kind))
            }
            _ => {}
        }
        offset += 3 + t.value.len();
    }
    Ok(Decoded::Done {
        header: Header {
            version: Version::V2,
            command,
            addresses,
            tlvs: list,
        },
        len,
    })
}

/// Splits a run of TLVs that must fill `bytes` exactly.
fn tlvs(mut bytes: &[u8]) -> Result<Vec<Tlv>, Error> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 3 {
            return Err(Error::TlvOverflow);
        }
        let n = usize::from(u16::from_be_bytes([bytes[1], bytes[2]]));
        let Some(value) = bytes.get(3..3 + n) else {
            return Err(Error::TlvOverflow);
        };
        out.push(Tlv::new(bytes[0], value));
        bytes = &bytes[3 + n..];
    }
    Ok(out)
}

const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

fn put_tlv(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    // Values longer than a TLV can say are cut (the callers' values are far shorter).
    let value = &value[..value.len().min(usize::from(u16::MAX))];
    out.push(kind);
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
}

/// Both addresses in one family: an IPv4 one is written as IPv4-mapped IPv6 when the other is IPv6.
fn same_family(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    let v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    if src.is_ipv4() == dst.is_ipv4() {
        (src, dst)
    } else {
        (v6(src), v6(dst))
    }
}

/// Appends a version 1 line to `out`: `PROXY TCP4|TCP6 ...` for `Some((source, destination))`, `PROXY UNKNOWN`
/// for `None` (a health check, or a client without IP addresses).
pub fn encode_v1(addrs: Option<(SocketAddr, SocketAddr)>, out: &mut Vec<u8>) {
    use std::io::Write;
    match addrs.map(|(s, d)| same_family(s, d)) {
        None => out.extend_from_slice(b"PROXY UNKNOWN\r\n"),
        Some((s, d)) => {
            let proto = if s.is_ipv4() { "TCP4" } else { "TCP6" };
            // Writing into a Vec cannot fail.
            let _ = write!(
                out,
                "PROXY {proto} {} {} {} {}\r\n",
                s.ip(),
                d.ip(),
                s.port(),
                d.port()
            );
        }
    }
}

/// A version 2 header to write.
#[derive(Debug, Clone, Default)]
pub struct V2 {
    /// The relayed connection's source and destination; `None` writes the LOCAL command (a health check).
    pub addrs: Option<(SocketAddr, SocketAddr)>,
    /// The TLVs, in order (a CRC32C one is added by [`V2::crc32c`], not here).
    pub tlvs: Vec<Tlv>,
    /// Ends the header with a CRC32C TLV.
    pub crc32c: bool,
}

impl V2 {
    /// Appends the header to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&V2_SIGNATURE);
        match self.addrs.map(|(s, d)| same_family(s, d)) {
            None => out.extend_from_slice(&[0x20, 0x00, 0, 0]),
            Some((s, d)) => {
                out.push(0x21);
                match (s.ip(), d.ip()) {
                    (IpAddr::V4(si), IpAddr::V4(di)) => {
                        out.extend_from_slice(&[0x11, 0, 0]);
                        out.extend_from_slice(&si.octets());
                        out.extend_from_slice(&di.octets());
                    }
                    (si, di) => {
                        let v6 = |ip: IpAddr| match ip {
                            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                            IpAddr::V6(v6) => v6,
                        };
                        out.extend_from_slice(&[0x21, 0, 0]);
                        out.extend_from_slice(&v6(si).octets());
                        out.extend_from_slice(&v6(di).octets());
                    }
                }
                out.extend_from_slice(&s.port().to_be_bytes());
                out.extend_from_slice(&d.port().to_be_bytes());
            }
        }
        for t in &self.tlvs {
            put_tlv(out, t.kind, &t.value);
        }
        let crc_at = self.crc32c.then(|| {
            put_tlv(out, kind::CRC32C, &[0; 4]);
            out.len() - 4
        });
        // The length field counts what follows the 16 fixed bytes; a header that outgrows it is cut off there.
        let body = (out.len() - start - 16).min(usize::from(u16::MAX));
        out.truncate(start + 16 + body);
        out[start + 14..start + 16].copy_from_slice(&(body as u16).to_be_bytes());
        if let Some(at) = crc_at.filter(|&at| at + 4 <= out.len()) {
            let sum = CASTAGNOLI.checksum(&out[start..]);
            out[at..at + 4].copy_from_slice(&sum.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests;
