//! A `bind` line's TLS settings (over the `global` defaults) built into one rustls server configuration, shared by
//! every connection the line accepts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fulcrum_config::haproxy::ssl::{BindSsl, GlobalSsl, TlsVersion, Verify};
use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateRevocationListDer;

use crate::certs::{self, Loaded};
use crate::sni::SniResolver;
use crate::{suites, TlsError};

/// A built server configuration and what the build had to report without failing.
pub struct BindTls {
    /// Shared by every connection of the bind line.
    pub config: Arc<ServerConfig>,
    /// The certificates, in load order (for the runtime API).
    pub certs: Vec<Loaded>,
    /// Settings fulcrum cannot honour exactly (names with no rustls counterpart, old versions), to be logged.
    pub warnings: Vec<String>,
}

/// `path` under `base` when it is relative and a base is set (`crt-base`, `ca-base`).
pub(crate) fn under(base: &Option<PathBuf>, path: &Path) -> PathBuf {
    match base {
        Some(b) if path.is_relative() => b.join(path),
        _ => path.to_path_buf(),
    }
}

/// The versions a bind line enables, from `ssl-min-ver` (TLSv1.2 by default, as HAProxy), `ssl-max-ver`,
/// `no-*` and `force-*`.
pub(crate) fn versions(
    b: &fulcrum_config::haproxy::ssl::SslOptions,
    warnings: &mut Vec<String>,
) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    let enabled: Vec<TlsVersion> = match b.force {
        Some(v) => vec![v],
        None => {
            let min = b.min_ver.unwrap_or(TlsVersion::Tls12);
            let max = b.max_ver.unwrap_or(TlsVersion::Tls13);
            TlsVersion::ALL
                .into_iter()
                .filter(|v| *v >= min && *v <= max && !b.disabled.contains(v))
                .collect()
        }
    };
    let old: Vec<&str> = enabled
        .iter()
        .filter(|v| **v < TlsVersion::Tls12)
        .map(|v| v.name())
        .collect();
    if !old.is_empty() {
        warnings.push(format!(
            "{} not offered: fulcrum's TLS library implements TLS 1.2 and 1.3 only",
            old.join(", ")
        ));
    }
    let mut out = Vec::new();
    if enabled.contains(&TlsVersion::Tls13) {
        out.push(&rustls::version::TLS13);
    }
    if enabled.contains(&TlsVersion::Tls12) {
        out.push(&rustls::version::TLS12);
    }
    if out.is_empty() {
        return Err(TlsError::Settings(
            "no protocol version left to offer: fulcrum's TLS library implements TLS 1.2 and 1.3 only".into(),
        ));
    }
    Ok(out)
}

/// The crypto provider with the line's suites and curves.
pub(crate) fn provider(
    o: &fulcrum_config::haproxy::ssl::SslOptions,
    warnings: &mut Vec<String>,
) -> Result<CryptoProvider, TlsError> {
    let mut p = rustls::crypto::aws_lc_rs::default_provider();
    let (default13, default12): (Vec<_>, Vec<_>) = p
        .cipher_suites
        .iter()
        .partition(|s| s.version() == &rustls::version::TLS13);
    let t13 = match &o.ciphersuites {
        Some(l) => {
            let picked = suites::ciphersuites(l).map_err(TlsError::Settings)?;
            for d in &picked.dropped {
                warnings.push(format!("ciphersuites: '{d}' has no counterpart in fulcrum's TLS library and is not offered"));
            }
            picked.kept
        }
        None => default13,
    };
    let t12 = match &o.ciphers {
        Some(l) => {
            let picked = suites::ciphers(l).map_err(TlsError::Settings)?;
            for d in &picked.dropped {
                warnings.push(format!(
                    "ciphers: '{d}' has no counterpart in fulcrum's TLS library and is not offered"
                ));
            }
            picked.kept
        }
        None => default12,
    };
    p.cipher_suites = t13.into_iter().chain(t12).collect();
    if let Some(l) = &o.curves {
        let picked = suites::curves(l).map_err(TlsError::Settings)?;
        for d in &picked.dropped {
            warnings.push(format!(
                "curves: '{d}' has no counterpart in fulcrum's TLS library and is not offered"
            ));
        }
        p.kx_groups = picked.kept;
    }
    Ok(p)
}

/// The CA certificates of a `ca-file`.
pub(crate) fn roots(ca: &Path) -> Result<RootCertStore, TlsError> {
    let bytes = std::fs::read(ca).map_err(|source| TlsError::Stat {
        path: ca.to_path_buf(),
        source,
    })?;
    let mut roots = RootCertStore::empty();
    for c in certs::certificates(&bytes, ca)? {
        roots.add(c).map_err(|e| TlsError::Pem {
            path: ca.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// Builds the TLS configuration of a `bind` line.
pub fn bind_config(b: &BindSsl, g: &GlobalSsl) -> Result<BindTls, TlsError> {
    let o = b.options.over(&g.bind_defaults);
    let mut warnings = Vec::new();
    let versions = versions(&o, &mut warnings)?;
    let provider = Arc::new(provider(&o, &mut warnings)?);
    let mut loaded = Vec::new();
    for crt in &b.crts {
        loaded.extend(certs::load_crt(&under(&g.crt_base, crt), &provider)?);
    }
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Settings(e.to_string()))?;
    let verify = b.verify.unwrap_or_default();
    let builder = match (verify, &b.ca_file) {
        (Verify::Optional | Verify::Required, Some(ca)) => {
            let roots = roots(&under(&g.ca_base, ca))?;
            let mut v =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if let Some(crl) = &b.crl_file {
                let crl = under(&g.ca_base, crl);
                let crls: Vec<CertificateRevocationListDer<'static>> =
                    CertificateRevocationListDer::pem_file_iter(&crl)
                        .and_then(|i| i.collect::<Result<_, _>>())
                        .map_err(|e| TlsError::Pem {
                            path: crl.clone(),
                            reason: e.to_string(),
                        })?;
                v = v.with_crls(crls);
            }
            if verify == Verify::Optional {
                v = v.allow_unauthenticated();
            }
            let v = v.build().map_err(|e| TlsError::Settings(e.to_string()))?;
            builder.with_client_cert_verifier(v)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(SniResolver::new(&loaded, o.strict_sni)));
    config.alpn_protocols = b.alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    config.ignore_client_order = !o.prefer_client_ciphers;
    config.session_storage = match g.cachesize() {
        0 => Arc::new(NoServerSessionStorage {}),
        n => ServerSessionMemoryCache::new(n as usize),
    };
    if !o.no_tls_tickets {
        config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
            .map_err(|e| TlsError::Settings(e.to_string()))?;
    }
    Ok(BindTls {
        config: Arc::new(config),
        certs: loaded,
        warnings,
    })
}
