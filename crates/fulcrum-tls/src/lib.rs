//! TLS for fulcrum proxy, on rustls with the aws-lc-rs provider: HAProxy's `bind ... ssl crt ...` options (and
//! their `global` defaults) built into rustls configurations ([`server`]), `server ... ssl` options into client
//! configurations ([`client`]), certificate loading ([`certs`]), SNI
//! selection ([`sni`]), OpenSSL cipher and curve names ([`suites`]), distinguished names ([`dn`]) and what a
//! finished handshake tells the proxy's fetches and logs ([`Facts`]). No I/O beyond reading the files named.

pub mod cert_text;
pub mod certs;
pub mod client;
pub mod crl;
pub mod crl_text;
pub mod crtlist;
pub mod dh;
pub mod dn;
pub mod generate;
pub mod hello;
pub mod info;
pub mod issuers;
pub mod ocsp;
pub mod ocsp_check;
pub mod ocsp_text;
pub mod payload;
pub mod server;
pub mod server_trust;
pub mod session_cache;
pub mod sni;
pub mod store;
pub mod suites;
pub mod verify;
pub mod x509;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

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
    /// `ssl-dh-param-file` names a file without DH parameters.
    #[error("unable to load DH parameters from file <{}>.", .0.display())]
    DhParams(PathBuf),
    /// `FILE.ocsp` is there but the certificate's issuer is in neither its chain nor `FILE.issuer`.
    #[error("'{}' is present and activates OCSP but it is impossible to compute the OCSP certificate ID (maybe the issuer could not be found)", .0.display())]
    NoOcspIssuer(PathBuf),
    /// `FILE.issuer` holds no certificate.
    #[error("'{}' cannot be read or parsed", .0.display())]
    IssuerUnreadable(PathBuf),
    /// `FILE.issuer` did not issue the certificate.
    #[error("'{}' is not an issuer", .0.display())]
    NotAnIssuer(PathBuf),
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
    /// The CA of `ca-sign-file` cannot sign generated certificates.
    #[error("Failed to read CA certificate file '{}' for certificate generation: {reason}", path.display())]
    CaSign {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
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
    /// The certificates the peer sent after its own (its chain), in the order it sent them.
    pub peer_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// These are the facts of a connection to a server (the peer's certificate is the server's).
    pub server_conn: bool,
    /// The certificate the frontend presented (`ssl_f_*`), on a client connection.
    pub own: Option<Arc<rustls::sign::CertifiedKey>>,
    /// The peer certificate's fields, found at the first fetch that needs them.
    peer_fields: OnceLock<Option<x509::CertFields>>,
    /// The frontend certificate's fields, likewise.
    own_fields: OnceLock<Option<x509::CertFields>>,
}

/// Which fact of a certificate a fetch reads (the same for the client's, the server's and the frontend's).
#[derive(Clone, Copy)]
enum CertFact {
    Der,
    Sha1,
    Serial,
    Subject,
    Issuer,
    NotBefore,
    NotAfter,
    Version,
    SigAlg,
    KeyAlg,
}

impl CertFact {
    /// The fact a certificate fetch reads, and whether it reads the frontend's own certificate.
    fn of(f: SslFetch) -> Option<(CertFact, bool)> {
        Some(match f {
            SslFetch::CDer => (CertFact::Der, false),
            SslFetch::CSha1 => (CertFact::Sha1, false),
            SslFetch::CSerial => (CertFact::Serial, false),
            SslFetch::CSDn => (CertFact::Subject, false),
            SslFetch::CIDn => (CertFact::Issuer, false),
            SslFetch::CNotBefore => (CertFact::NotBefore, false),
            SslFetch::CNotAfter => (CertFact::NotAfter, false),
            SslFetch::CVersion => (CertFact::Version, false),
            SslFetch::CSigAlg => (CertFact::SigAlg, false),
            SslFetch::CKeyAlg => (CertFact::KeyAlg, false),
            SslFetch::FDer => (CertFact::Der, true),
            SslFetch::FSha1 => (CertFact::Sha1, true),
            SslFetch::FSerial => (CertFact::Serial, true),
            SslFetch::FSDn => (CertFact::Subject, true),
            SslFetch::FIDn => (CertFact::Issuer, true),
            SslFetch::FNotBefore => (CertFact::NotBefore, true),
            SslFetch::FNotAfter => (CertFact::NotAfter, true),
            SslFetch::FVersion => (CertFact::Version, true),
            SslFetch::FSigAlg => (CertFact::SigAlg, true),
            SslFetch::FKeyAlg => (CertFact::KeyAlg, true),
            _ => return None,
        })
    }

    /// The fact of certificate `der`, whose fields are `c`.
    fn read<'a>(self, der: &'a [u8], c: &'a x509::CertFields) -> Option<Value<'a>> {
        use std::borrow::Cow::Borrowed;
        Some(match self {
            CertFact::Der => Value::Bin(Borrowed(der)),
            CertFact::Sha1 => Value::Bin(Borrowed(c.sha1())),
            CertFact::Serial => Value::Bin(Borrowed(c.serial(der))),
            // The Name's DER: the sample language prints it (`SslFetch::is_dn`).
            CertFact::Subject => Value::Bin(Borrowed(c.subject(der))),
            CertFact::Issuer => Value::Bin(Borrowed(c.issuer(der))),
            CertFact::NotBefore => Value::str(c.not_before(der)?),
            CertFact::NotAfter => Value::str(c.not_after(der)?),
            CertFact::Version => Value::Int(i64::from(c.version())),
            CertFact::SigAlg => Value::str(c.sig_alg()?.as_bytes()),
            CertFact::KeyAlg => Value::str(c.key_alg()?.as_bytes()),
        })
    }
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

/// The certificates of a peer's chain after its own.
fn chain_after_leaf(
    certs: Option<&[rustls::pki_types::CertificateDer<'_>]>,
) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    certs
        .and_then(|c| c.get(1..))
        .map_or_else(Vec::new, |rest| {
            rest.iter().map(|c| c.clone().into_owned()).collect()
        })
}

fn version_name(v: Option<rustls::ProtocolVersion>) -> &'static str {
    match v {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "",
    }
}

/// A TLS fetch on a connection: `tls` is `None` on clear text, where `ssl_fc`, `ssl_fc_has_sni` and
/// `ssl_fc_is_resumed` (and their `ssl_bc` forms) are false and the others have no value, as in HAProxy (observed:
/// haproxy 2.6 logs `0` for those three on a clear connection and `-` for the others). The `ssl_bc*` fetches read
/// `tls` as the server connection's facts.
pub fn sample(tls: Option<&Facts>, f: SslFetch) -> Option<Value<'_>> {
    let Some(t) = tls else {
        return matches!(
            f.front(),
            SslFetch::Fc | SslFetch::FcHasSni | SslFetch::FcIsResumed
        )
        .then_some(Value::Bool(false));
    };
    if let Some((fact, own)) = CertFact::of(f) {
        let (der, fields) = if own { t.own_cert()? } else { t.peer_cert()? };
        return fact.read(der, fields);
    }
    Some(match f {
        SslFetch::Fc => Value::Bool(true),
        SslFetch::FcSni => Value::str(t.sni.as_deref()?.as_bytes()),
        SslFetch::FcProtocol => Value::str(t.version.as_bytes()),
        SslFetch::FcCipher => Value::str(t.cipher.as_bytes()),
        SslFetch::FcAlpn => Value::str(t.alpn.as_deref()?),
        SslFetch::CUsed => Value::Bool(t.client_cert.is_some()),
        SslFetch::FcHasCrt => Value::Bool(t.client_cert.is_some() && !t.resumed),
        // Non-zero only for errors `ca-ignore-err` / `crt-ignore-err` let through: others refused the handshake.
        SslFetch::CVerify => Value::Int(i64::from(t.verify.verify)),
        SslFetch::CErr => Value::Int(i64::from(t.verify.crt_err)),
        SslFetch::CCaErr => Value::Int(i64::from(t.verify.ca_err)),
        SslFetch::CCaErrDepth => Value::Int(i64::from(t.verify.ca_err_depth)),
        // As OpenSSL gives the chains: a server's with its own certificate first, a client's without it; a
        // resumed session has none.
        SslFetch::CChainDer => {
            let leaf = t.client_cert.as_deref().filter(|_| !t.resumed)?;
            let mut out = Vec::new();
            if t.server_conn {
                out.extend_from_slice(leaf);
            }
            for c in &t.peer_chain {
                out.extend_from_slice(c);
            }
            Value::Bin(std::borrow::Cow::Owned(out))
        }
        SslFetch::FcHasSni => Value::Bool(t.sni.is_some()),
        SslFetch::FcIsResumed => Value::Bool(t.resumed),
        // A connection whose handshake failed, or whose TLS layer met an error afterwards, is closed before any
        // sample is fetched on it (its error is logged on its own line), so the TLS layer's error stack is empty
        // wherever this is read.
        SslFetch::FcErr => Value::Int(0),
        SslFetch::FcUseKeysize | SslFetch::FcAlgKeysize => Value::Int(i64::from(t.key_bits)),
        // A server connection's facts answer for the client-side fetch of the same fact.
        f if f.is_backend() => return sample(Some(t), f.front()),
        _ => return None,
    })
}

impl Facts {
    /// The peer's certificate and its fields.
    fn peer_cert(&self) -> Option<(&[u8], &x509::CertFields)> {
        let der = self.client_cert.as_deref()?;
        let fields = self
            .peer_fields
            .get_or_init(|| x509::CertFields::parse(der))
            .as_ref()?;
        Some((der, fields))
    }

    /// The frontend's own certificate and its fields.
    fn own_cert(&self) -> Option<(&[u8], &x509::CertFields)> {
        let der = self.own.as_ref()?.end_entity_cert().ok()?.as_ref();
        let fields = self
            .own_fields
            .get_or_init(|| x509::CertFields::parse(der))
            .as_ref()?;
        Some((der, fields))
    }

    /// The signature algorithm of the certificate the frontend presented (`RSA-SHA256`), for the PROXY v2
    /// `cert-sig` TLV.
    pub fn own_sig_alg(&self) -> Option<&'static str> {
        self.own_cert()?.1.sig_alg()
    }

    /// The key type and size of the certificate the frontend presented (`RSA2048`, `EC256`), for the PROXY v2
    /// `cert-key` TLV.
    pub fn own_key_type(&self) -> Option<String> {
        let (der, c) = self.own_cert()?;
        c.key_type_bits(der)
    }

    /// The first common name (CN) of the client certificate's subject, when the client sent a certificate.
    pub fn client_cn(&self) -> Option<String> {
        let (der, c) = self.peer_cert()?;
        dn::common_names(c.subject(der)).into_iter().next()
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
            peer_chain: chain_after_leaf(conn.peer_certificates()),
            ..Facts::default()
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
            peer_chain: chain_after_leaf(conn.peer_certificates()),
            server_conn: true,
            ..Facts::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On clear text, as haproxy 2.6 logs them: `ssl_fc`, `ssl_fc_has_sni` and `ssl_fc_is_resumed` (and their
    /// `ssl_bc` forms) are false, the others have no value; over TLS `ssl_fc_err` is 0.
    #[test]
    fn clear_text_and_error_fetches() {
        for f in [
            "ssl_fc",
            "ssl_fc_has_sni",
            "ssl_fc_is_resumed",
            "ssl_bc",
            "ssl_bc_is_resumed",
        ] {
            let f = SslFetch::by_name(f).unwrap();
            assert!(matches!(sample(None, f), Some(Value::Bool(false))), "{f:?}");
        }
        for f in [
            "ssl_fc_err",
            "ssl_c_err",
            "ssl_c_ca_err",
            "ssl_c_used",
            "ssl_fc_sni",
            "ssl_bc_err",
        ] {
            let f = SslFetch::by_name(f).unwrap();
            assert!(sample(None, f).is_none(), "{f:?}");
        }
        let tls = Facts::default();
        for f in ["ssl_fc_err", "ssl_bc_err"] {
            let f = SslFetch::by_name(f).unwrap();
            assert!(
                matches!(sample(Some(&tls), f), Some(Value::Int(0))),
                "{f:?}"
            );
        }
    }
}
