//! Compares rustls' two crypto providers on this machine, in memory (no sockets): full TLS 1.3 handshakes,
//! resumed ones, and bulk records, with the certificate and key given (a PEM holding both).
//!
//!     cargo run --release -p fulcrum-tls --example providers -- CERT.pem [SECONDS]
//!
//! bench/tls-providers.sh makes an ECDSA P-256 and an RSA-2048 certificate and runs this for both. The proxy uses
//! the provider this shows faster (docs/PERFORMANCE.md).

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

fn pump(client: &mut ClientConnection, server: &mut ServerConnection) {
    let mut buf = Vec::new();
    loop {
        let mut moved = false;
        while client.wants_write() {
            buf.clear();
            client.write_tls(&mut buf).unwrap_or(0);
            let mut r = &buf[..];
            while !r.is_empty() {
                server.read_tls(&mut r).unwrap_or(0);
                server
                    .process_new_packets()
                    .unwrap_or_else(|e| panic!("server: {e}"));
            }
            moved = true;
        }
        while server.wants_write() {
            buf.clear();
            server.write_tls(&mut buf).unwrap_or(0);
            let mut r = &buf[..];
            while !r.is_empty() {
                client.read_tls(&mut r).unwrap_or(0);
                client
                    .process_new_packets()
                    .unwrap_or_else(|e| panic!("client: {e}"));
            }
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn configs(
    mut provider: CryptoProvider,
    chain: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    // The same suite and group for both providers, as fulcrum offers them first: AES-128-GCM/SHA-256 and X25519.
    provider
        .cipher_suites
        .retain(|s| s.suite() == rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    provider
        .kx_groups
        .retain(|g| g.name() == rustls::NamedGroup::X25519);
    let provider = Arc::new(provider);
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap_or_else(|e| panic!("{e}"))
        .with_no_client_auth()
        .with_single_cert(chain.to_vec(), key.clone_key())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut roots = RootCertStore::empty();
    roots
        .add(chain[0].clone())
        .unwrap_or_else(|e| panic!("{e}"));
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap_or_else(|e| panic!("{e}"))
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// Handshakes per second; `resume`: the client keeps its session cache (tickets), so all but the first resume.
fn handshakes(server: &Arc<ServerConfig>, client: &ClientConfig, resume: bool, secs: f64) -> f64 {
    let mut client = client.clone();
    if !resume {
        client.resumption = rustls::client::Resumption::disabled();
    }
    let client = Arc::new(client);
    let name = ServerName::try_from("bench.test").unwrap_or_else(|e| panic!("{e}"));
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs_f64(secs) {
        let mut c =
            ClientConnection::new(client.clone(), name.clone()).unwrap_or_else(|e| panic!("{e}"));
        let mut s = ServerConnection::new(server.clone()).unwrap_or_else(|e| panic!("{e}"));
        pump(&mut c, &mut s);
        assert!(!c.is_handshaking() && !s.is_handshaking());
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// MB per second of 16 KiB records, server to client, encrypted and decrypted.
fn bulk(server: &Arc<ServerConfig>, client: &Arc<ClientConfig>, secs: f64) -> f64 {
    let name = ServerName::try_from("bench.test").unwrap_or_else(|e| panic!("{e}"));
    let mut c = ClientConnection::new(client.clone(), name).unwrap_or_else(|e| panic!("{e}"));
    let mut s = ServerConnection::new(server.clone()).unwrap_or_else(|e| panic!("{e}"));
    pump(&mut c, &mut s);
    let chunk = vec![7u8; 16384];
    let mut sink = vec![0u8; 65536];
    let start = Instant::now();
    let mut bytes = 0u64;
    while start.elapsed() < Duration::from_secs_f64(secs) {
        s.writer().write_all(&chunk).unwrap_or(());
        pump(&mut c, &mut s);
        while let Ok(n) = c.reader().read(&mut sink) {
            if n == 0 {
                break;
            }
            bytes += n as u64;
        }
    }
    bytes as f64 / 1e6 / start.elapsed().as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| panic!("usage: providers CERT.pem [SECONDS]"));
    let secs: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let pem = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    let key = PrivateKeyDer::from_pem_slice(&pem).unwrap_or_else(|e| panic!("{e}"));
    println!("provider     full/s  resumed/s   bulk MB/s   ({path}, TLS 1.3, AES-128-GCM, X25519, {secs} s each, one core, in memory)");
    // ring's provider is deprecated for its lack of post-quantum key exchange; it is measured as the fallback the
    // issue names, with X25519 as both use here.
    #[allow(deprecated)]
    let ring = rustls::crypto::ring::default_provider();
    for (name, provider) in [
        ("aws-lc-rs", rustls::crypto::aws_lc_rs::default_provider()),
        ("ring", ring),
    ] {
        let (server, client) = configs(provider, &chain, &key);
        let full = handshakes(&server, &client, false, secs);
        let resumed = handshakes(&server, &client, true, secs);
        let mb = bulk(&server, &client, secs);
        println!("{name:<10} {full:>8.0} {resumed:>10.0} {mb:>11.0}");
    }
}
