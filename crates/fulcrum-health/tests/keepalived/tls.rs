//! SSL_GET against a loopback TLS server with a self-signed certificate (fixtures/, test use only).

use std::net::SocketAddr;
use std::sync::Arc;

use fulcrum_health::keepalived::{Checker, HttpGetCheck, HttpGetSpec, TlsOptions, UrlSpec};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use super::http::{read_head, response, HELLO_MD5};

const CERT: &[u8] = include_bytes!("fixtures/cert.pem");
const KEY: &[u8] = include_bytes!("fixtures/key.pem");

/// A TLS server answering `hello world`; sends (SNI name, request head) for each request.
async fn serve_tls() -> (
    SocketAddr,
    mpsc::UnboundedReceiver<(Option<String>, String)>,
) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(CERT).unwrap()],
            PrivateKeyDer::from_pem_slice(KEY).unwrap(),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let sni = tls.get_ref().1.server_name().map(str::to_owned);
                let head = read_head(&mut tls).await;
                let _ = tx.send((sni, head));
                let _ = tls.write_all(&response(200, "hello world")).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, rx)
}

fn ssl_get(tls: TlsOptions, virtualhost: Option<&str>) -> HttpGetCheck {
    HttpGetCheck::new(HttpGetSpec {
        urls: vec![UrlSpec {
            digest: Some(HELLO_MD5.into()),
            ..UrlSpec::new("/secure")
        }],
        virtualhost: virtualhost.map(str::to_owned),
        tls: Some(tls),
        connect: super::quick(),
        ..HttpGetSpec::default()
    })
    .unwrap()
}

#[tokio::test]
async fn self_signed_server_passes_and_sni_is_sent_only_when_enabled() {
    let (addr, mut seen) = serve_tls().await;
    let plain = ssl_get(TlsOptions::default(), Some("www.example.test"));
    let c = Checker::HttpGet(plain);
    assert_eq!(c.keyword(), "SSL_GET");
    let r = c.run(addr).await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.reason, "/secure: status 200, digest matches");
    let (sni, head) = seen.recv().await.unwrap();
    assert_eq!(sni, None);
    assert!(head.starts_with("GET /secure HTTP/1.0\r\n"), "{head}");
    assert!(head.contains("\r\nHost: www.example.test\r\n"), "{head}");

    let with_sni = ssl_get(
        TlsOptions {
            enable_sni: true,
            sni_name: None,
        },
        Some("www.example.test"),
    );
    assert!(with_sni.run(addr).await.up);
    assert_eq!(
        seen.recv().await.unwrap().0.as_deref(),
        Some("www.example.test")
    );

    let named = ssl_get(
        TlsOptions {
            enable_sni: true,
            sni_name: Some("sni.example.test".into()),
        },
        Some("www.example.test"),
    );
    assert!(named.run(addr).await.up);
    assert_eq!(
        seen.recv().await.unwrap().0.as_deref(),
        Some("sni.example.test")
    );

    let page = named.fetch(addr, 0, true).await.unwrap();
    assert_eq!(page.digest_hex(), HELLO_MD5);
}

#[tokio::test]
async fn ssl_get_to_a_plain_http_server_fails() {
    // A plain HTTP server answers the ClientHello with an HTTP error, as real ones do.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(&response(400, "bad request")).await;
            let _ = s.shutdown().await;
        }
    });
    let r = ssl_get(TlsOptions::default(), None).run(addr).await;
    assert!(!r.up);
    assert!(
        r.reason.starts_with("/secure: TLS handshake failed"),
        "{r:?}"
    );
}
