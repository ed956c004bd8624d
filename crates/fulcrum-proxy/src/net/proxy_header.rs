//! The PROXY protocol on the proxy's sockets: the header a client connection starts with on a `bind ...
//! accept-proxy` line (or after `tcp-request connection expect-proxy layer4`), and the one written first on a
//! connection to a `send-proxy` / `send-proxy-v2` server. The bytes are `fulcrum-proxyproto`'s; this file only
//! moves them.
//!
//! The header is read by peeking at the socket, then exactly its length is consumed, so whatever follows it (a
//! TLS ClientHello, an HTTP request, tcp-mode bytes) stays in the socket for the code that comes next.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use fulcrum_config::haproxy::SendProxy;
use fulcrum_proxyproto::{self as pp, Decoded, Header};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// The most bytes a header may take: version 2's 16 fixed bytes and the longest length it can announce.
const MAX_HEADER: usize = 16 + u16::MAX as usize;

/// While a header is incomplete, how often the socket is looked at again at the latest (a wake-up missed between
/// a peek and the next wait costs no more than this).
const RECHECK: Duration = Duration::from_millis(20);

/// Why a client connection's PROXY header was not read.
#[derive(Debug, thiserror::Error)]
pub enum RecvError {
    /// The bytes are not a valid header.
    #[error("invalid PROXY protocol header: {0}")]
    Invalid(#[from] pp::Error),
    /// The client closed before a whole header arrived.
    #[error("connection closed before the PROXY protocol header was complete")]
    Closed,
    /// No whole header within the time allowed.
    #[error("timed out waiting for the PROXY protocol header")]
    Timeout,
    /// The socket failed.
    #[error("reading the PROXY protocol header: {0}")]
    Io(#[from] io::Error),
}

/// What a client connection's PROXY header said, kept for the connection's life.
#[derive(Debug)]
pub struct Received {
    /// The header.
    pub header: Header,
}

impl Received {
    /// The client's address it gives (none for LOCAL, UNKNOWN or unix sockets).
    pub fn src(&self) -> Option<SocketAddr> {
        self.header.source()
    }

    /// The address the client connected to, as it gives it.
    pub fn dst(&self) -> Option<SocketAddr> {
        self.header.destination()
    }
}

/// Reads the PROXY header `stream` starts with, within `limit`, and consumes exactly its bytes.
pub async fn receive(stream: &TcpStream, limit: Option<Duration>) -> Result<Received, RecvError> {
    let read = read_header(stream);
    let header = match limit {
        Some(t) => tokio::time::timeout(t, read)
            .await
            .map_err(|_| RecvError::Timeout)??,
        None => read.await?,
    };
    Ok(Received { header })
}

async fn read_header(stream: &TcpStream) -> Result<Header, RecvError> {
    // Most headers are short (v1 at most 107 bytes, v2 with a few TLVs); the buffer grows to a v2 header's
    // announced length when needed.
    let mut buf = vec![0u8; 256];
    let (header, len) = loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Err(RecvError::Closed);
        }
        match pp::decode(&buf[..n])? {
            Decoded::Done { header, len } => break (header, len),
            Decoded::Incomplete => {
                if n == buf.len() {
                    // A version 2 header longer than the buffer: make room for all of it.
                    let want = if n >= 16 {
                        16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]))
                    } else {
                        MAX_HEADER
                    };
                    buf.resize(want.clamp(n + 1, MAX_HEADER), 0);
                    continue;
                }
                // Peeking leaves the socket readable: clear that, then wait for more bytes.
                let _ = stream.try_io(Interest::READABLE, || {
                    Err::<(), _>(io::ErrorKind::WouldBlock.into())
                });
                tokio::select! {
                    r = stream.readable() => r?,
                    _ = tokio::time::sleep(RECHECK) => {}
                }
            }
        }
    };
    // The peeked bytes are in the socket: take exactly the header's.
    let mut done = 0;
    while done < len {
        match stream.try_read(&mut buf[done..len]) {
            Ok(0) => return Err(RecvError::Closed),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.readable().await?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(header)
}

/// What a header sent to a server may tell, besides the addresses.
#[derive(Default)]
pub struct Facts<'a> {
    /// The client connection's TLS facts (`None` on clear text).
    pub tls: Option<&'a fulcrum_tls::Facts>,
    /// The stream's unique ID (`unique-id-format`).
    pub unique_id: Option<&'a [u8]>,
}

/// The header opening a connection to a server: the client's `src` and the address it connected to `dst`
/// (`None`: a LOCAL / UNKNOWN header, as for health checks).
pub fn encode(
    how: &SendProxy,
    addrs: Option<(SocketAddr, SocketAddr)>,
    facts: &Facts<'_>,
    out: &mut Vec<u8>,
) {
    if !how.v2 {
        pp::encode_v1(addrs, out);
        return;
    }
    let o = &how.options;
    let mut tlvs = Vec::new();
    if addrs.is_some() {
        if let Some(alpn) = facts.tls.and_then(|t| t.alpn.as_deref()) {
            tlvs.push(pp::Tlv::new(pp::kind::ALPN, alpn));
        }
        if o.authority {
            if let Some(sni) = facts.tls.and_then(|t| t.sni.as_deref()) {
                tlvs.push(pp::Tlv::new(pp::kind::AUTHORITY, sni.as_bytes()));
            }
        }
        if o.unique_id {
            if let Some(id) = facts.unique_id {
                let id = &id[..id.len().min(pp::UNIQUE_ID_MAX)];
                tlvs.push(pp::Tlv::new(pp::kind::UNIQUE_ID, id));
            }
        }
        if o.ssl {
            // `verify`: 1 on clear text; on TLS the verification's result, as `ssl_c_verify` reads it (0 without
            // a client certificate, as haproxy 2.6 sends it).
            let mut ssl = pp::Ssl {
                verify: 1,
                ..pp::Ssl::default()
            };
            if let Some(t) = facts.tls {
                ssl.client = pp::ssl_client::SSL;
                ssl.verify = u32::from(t.verify.verify);
                if t.client_cert.is_some() {
                    ssl.client |= pp::ssl_client::CERT_CONN | pp::ssl_client::CERT_SESS;
                }
                ssl.sub
                    .push(pp::Tlv::new(pp::kind::SSL_VERSION, t.version.as_bytes()));
                if o.cert_cn {
                    if let Some(cn) = t.client_cn() {
                        ssl.sub
                            .push(pp::Tlv::new(pp::kind::SSL_CN, cn.into_bytes()));
                    }
                }
                // HAProxy's order: version, CN, key, signature, cipher.
                if o.cert_key {
                    if let Some(key) = t.own_key_type() {
                        ssl.sub
                            .push(pp::Tlv::new(pp::kind::SSL_KEY_ALG, key.into_bytes()));
                    }
                }
                if o.cert_sig {
                    if let Some(sig) = t.own_sig_alg() {
                        ssl.sub
                            .push(pp::Tlv::new(pp::kind::SSL_SIG_ALG, sig.as_bytes()));
                    }
                }
                if o.ssl_cipher {
                    ssl.sub
                        .push(pp::Tlv::new(pp::kind::SSL_CIPHER, t.cipher.as_bytes()));
                }
            }
            tlvs.push(pp::Tlv::new(pp::kind::SSL, ssl.encode()));
        }
    }
    pp::V2 {
        addrs,
        tlvs,
        crc32c: o.crc32c,
    }
    .encode(out);
}
