//! TLS for fulcrum proxy, on rustls with the aws-lc-rs provider: HAProxy's `bind ... ssl crt ...` options (and
//! their `global` defaults) built into rustls configurations ([`server`]), `server ... ssl` options into client
//! configurations ([`client`]), certificate loading ([`certs`]), SNI
//! selection ([`sni`]), OpenSSL cipher and curve names ([`suites`]), distinguished names ([`dn`]) and what a
//! finished handshake tells the proxy's fetches and logs ([`Facts`]). No I/O beyond reading the files named.

pub mod certs;
pub mod client;
pub mod crtlist;
pub mod dn;
pub mod hello;
pub mod info;
pub mod ocsp;
pub mod server;
pub mod sni;
pub mod store;
pub mod suites;
pub mod verify;

use std::path::PathBuf;

use fulcrum_sample::{SslFetch, Value};

pub use rustls;

/// Why a TLS configuration could not be built. Messages follow HAProxy's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A named file or directory cannot be read.
    #[error("unable to stat SSL certificate from file '{}': {source}", path.display())]
    Stat {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A `crt` directory holds no certificate file.
    #[error("no certificate file in directory '{}'", .0.display())]
    EmptyDir(PathBuf),
    /// A file holds no certificate.
    #[error("unable to load certificate from file '{}'", .0.display())]
    NoCertificate(PathBuf),
    /// No private key in the PEM nor in its `.key` companion.
    #[error("No Private Key found in '{}'", .0.display())]
    NoKey(PathBuf),
    /// A PEM file is malformed.
    #[error("unable to read PEM file '{}': {reason}", path.display())]
    Pem {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The private key is of a kind the provider cannot use.
    #[error("unable to load SSL private key from PEM file '{}': {reason}", path.display())]
    BadKey {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key does not belong to the certificate.
    #[error("inconsistencies between private key and certificate loaded from PEM file '{}'", .0.display())]
    KeyMismatch(PathBuf),
    /// A list or combination of options leaves nothing usable.
    #[error("{0}")]
    Settings(String),
}

/// What a finished server-side handshake tells the proxy (fetches `ssl_fc_*`, `ssl_c_*`, log fields `%sslv`,
/// `%sslc`).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The client's server name (SNI).
    pub sni: Option<Box<str>>,
    /// The protocol agreed through ALPN.
    pub alpn: Option<Box<[u8]>>,
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: &'static str,
    /// OpenSSL's name of the cipher suite.
    pub cipher: &'static str,
    /// The client's certificate (the end-entity one), when it sent one (verified, or its errors let through).
    pub client_cert: Option<rustls::pki_types::CertificateDer<'static>>,
    /// The verification errors let through by `ca-ignore-err` / `crt-ignore-err` (all 0 otherwise).
    pub verify: verify::Outcome,
    /// The session was resumed (a ticket or the session cache) rather than fully negotiated.
    pub resumed: bool,
    /// The bits of the cipher's symmetric key (128 or 256; 0 when unknown).
    pub key_bits: u16,
}

/// The bits of the symmetric key of a suite, by its name (every AEAD rustls offers keeps its whole key).
fn key_bits(suite: Option<rustls::SupportedCipherSuite>) -> u16 {
    let Some(name) = suite.and_then(|s| s.suite().as_str()) else {
        return 0;
    };
    if name.contains("AES_128") {
        128
    } else if name.contains("AES_256") || name.contains("CHACHA20") {
        256
    } else {
        0
    }
}

fn version_name(v: Option<rustls::ProtocolVersion>) -> &'static str {
    match v {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "",
    }
}

/// The X.509 version of a certificate as OpenSSL counts it (1 to 3): its `[0]` version field plus one, 1 without.
fn x509_version(der: &[u8]) -> Option<i64> {
    let (_, c, _) = dn::tlv(der)?;
    let (_, tbs, _) = dn::tlv(c)?;
    match dn::tlv(tbs)? {
        (0xa0, v, _) => {
            let (0x02, n, _) = dn::tlv(v)? else {
                return None;
            };
            Some(i64::from(*n.last()?) + 1)
        }
        _ => Some(1),
    }
}

/// A TLS fetch on a connection: `tls` is `None` on clear text, where `ssl_fc` (`ssl_bc`) is false and the others
/// have no value, as in HAProxy. The `ssl_bc*` fetches read `tls` as the server connection's facts.
pub fn sample(tls: Option<&Facts>, f: SslFetch) -> Option<Value<'_>> {
    let Some(t) = tls else {
        return (f.front() == SslFetch::Fc).then_some(Value::Bool(false));
    };
    let cert = || {
        t.client_cert
            .as_ref()
            .and_then(|c| webpki::EndEntityCert::try_from(c).ok())
    };
    Some(match f {
        SslFetch::Fc => Value::Bool(true),
        SslFetch::FcSni => Value::str(t.sni.as_deref()?.as_bytes()),
        SslFetch::FcProtocol => Value::str(t.version.as_bytes()),
        SslFetch::FcCipher => Value::str(t.cipher.as_bytes()),
        SslFetch::FcAlpn => Value::str(t.alpn.as_deref()?),
        SslFetch::CUsed => Value::Bool(t.client_cert.is_some()),
        // Non-zero only for errors `ca-ignore-err` / `crt-ignore-err` let through: others refused the handshake.
        SslFetch::CVerify => Value::Int(i64::from(t.verify.verify)),
        SslFetch::CErr => Value::Int(i64::from(t.verify.crt_err)),
        SslFetch::CCaErr => Value::Int(i64::from(t.verify.ca_err)),
        SslFetch::CCaErrDepth => Value::Int(i64::from(t.verify.ca_err_depth)),
        SslFetch::CSDn => Value::string(dn::oneline(cert()?.subject())?),
        SslFetch::CIDn => Value::string(dn::oneline(cert()?.issuer())?),
        SslFetch::CSerial => Value::bin(cert()?.serial()),
        SslFetch::CDer => Value::Bin(std::borrow::Cow::Borrowed(t.client_cert.as_deref()?)),
        SslFetch::CSha1 => {
            let der = t.client_cert.as_deref()?;
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
            Value::Bin(std::borrow::Cow::Owned(d.as_ref().to_vec()))
        }
        SslFetch::CVersion => Value::Int(x509_version(t.client_cert.as_deref()?)?),
        SslFetch::FcHasSni => Value::Bool(t.sni.is_some()),
        SslFetch::FcIsResumed => Value::Bool(t.resumed),
        SslFetch::FcUseKeysize | SslFetch::FcAlgKeysize => Value::Int(i64::from(t.key_bits)),
        // A server connection's facts answer for the client-side fetch of the same fact.
        f if f.is_backend() => return sample(Some(t), f.front()),
        _ => return None,
    })
}

impl Facts {
    /// The first common name (CN) of the client certificate's subject, when the client sent a certificate.
    pub fn client_cn(&self) -> Option<String> {
        let cert = webpki::EndEntityCert::try_from(self.client_cert.as_ref()?).ok()?;
        dn::common_names(cert.subject()).into_iter().next()
    }

    /// Reads them from a connection whose handshake is complete, made with `config` of `tls` (which says what
    /// verification let through).
    pub fn of(
        conn: &rustls::ServerConnection,
        tls: &server::ServerTls,
        config: &std::sync::Arc<rustls::ServerConfig>,
    ) -> Facts {
        Facts {
            sni: conn.server_name().map(Box::from),
            alpn: conn.alpn_protocol().map(Box::from),
            version: version_name(conn.protocol_version()),
            cipher: conn
                .negotiated_cipher_suite()
                .map_or("", |s| suites::openssl_name(s.suite())),
            client_cert: conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.clone().into_owned()),
            verify: tls.verify_outcome(config, conn.peer_certificates()),
            resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            key_bits: key_bits(conn.negotiated_cipher_suite()),
        }
    }

    /// Reads them from a connection to a server whose handshake is complete, opened for `sni`; `client_cert` is
    /// then the server's certificate (`ssl_s_*`).
    pub fn of_server(conn: &rustls::ClientConnection, sni: Option<&str>) -> Facts {
        Facts {
            sni: sni.map(Box::from),
            alpn: conn.alpn_protocol().map(Box::from),
            version: version_name(conn.protocol_version()),
            cipher: conn
                .negotiated_cipher_suite()
                .map_or("", |s| suites::openssl_name(s.suite())),
            client_cert: conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.clone().into_owned()),
            verify: verify::Outcome::default(),
            resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            key_bits: key_bits(conn.negotiated_cipher_suite()),
        }
    }
}
