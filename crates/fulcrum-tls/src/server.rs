//! A `bind` line's TLS settings (over the `global` defaults) built into one rustls server configuration, shared by
//! every connection the line accepts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fulcrum_config::haproxy::ssl::{BindSsl, GlobalSsl, SslOptions, TlsVersion, Verify};
use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache, WebPkiClientVerifier};

use crate::verify::{IgnoringVerifier, Outcome};
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateRevocationListDer;

use crate::certs::{self, Loaded};
use crate::sni::{Member, SniResolver};
use crate::store::CertStore;
use crate::{crl, crtlist, suites, TlsError};

/// A built server configuration and what the build had to report without failing.
pub struct BindTls {
    /// Shared by every connection of the bind line.
    pub tls: ServerTls,
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
    // Without a list, AES-128-GCM with SHA-256 first, as Mozilla's recommended configurations order them: its
    // key schedule hashes with SHA-256, which CPUs accelerate (SHA-NI), where SHA-384 runs in software (measured in
    // docs/PERFORMANCE.md: a fifth of a full TLS 1.3 handshake's CPU went to SHA-512 blocks).
    let (default13, default12) = suites::defaults();
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

/// The TLS configurations of a bind line: one for every handshake, or one per server name when `crt-list` lines
/// have options of their own (the ClientHello is read first, then the configuration chosen).
#[derive(Clone)]
pub struct ServerTls {
    /// The bind line's configuration (every certificate, the line's options).
    pub default: Arc<ServerConfig>,
    by_name: Option<Arc<ByName>>,
    /// The client-certificate verifiers that let errors through (`ca-ignore-err` / `crt-ignore-err`), with the
    /// configuration each belongs to: after such a handshake, they say which errors there were.
    ignoring: Vec<(Arc<ServerConfig>, Arc<IgnoringVerifier>)>,
    /// The certificate chooser of each configuration (what a resumed session presented: see [`Self::presented`]).
    resolvers: Vec<(Arc<ServerConfig>, Arc<SniResolver>)>,
}

/// Configurations of `crt-list` lines with options, by the names their certificate serves.
struct ByName {
    exact: HashMap<String, usize>,
    wildcard: HashMap<String, usize>,
    deny: Vec<Vec<String>>,
    configs: Vec<Arc<ServerConfig>>,
}

impl ServerTls {
    /// A bind line with one configuration.
    pub fn single(config: Arc<ServerConfig>) -> ServerTls {
        ServerTls {
            default: config,
            by_name: None,
            ignoring: Vec::new(),
            resolvers: Vec::new(),
        }
    }

    /// Records the `file:line` of the bind line (the runtime API names it when it refuses to delete the line's
    /// default certificate).
    pub fn set_location(&self, location: &str) {
        if let Some((_, r)) = self.resolvers.first() {
            r.set_location(location);
        }
    }

    /// The certificate a session made with `config` for a client asking for `name` presented, when the
    /// handshake did not say (a resumed session chooses none): the first serving the name.
    pub fn presented(
        &self,
        config: &Arc<ServerConfig>,
        name: Option<&str>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let (_, r) = self
            .resolvers
            .iter()
            .find(|(c, _)| Arc::ptr_eq(c, config))?;
        r.for_name(name)
    }

    /// What verification found for the client certificate of a handshake made with `config`: the errors let
    /// through by `ca-ignore-err` / `crt-ignore-err` (none where they are not configured: a failing certificate
    /// was refused).
    pub fn verify_outcome(
        &self,
        config: &Arc<ServerConfig>,
        certs: Option<&[rustls::pki_types::CertificateDer<'_>]>,
    ) -> Outcome {
        let Some(certs) = certs else {
            return Outcome::default();
        };
        self.ignoring
            .iter()
            .find(|(c, _)| Arc::ptr_eq(c, config))
            .map_or_else(Outcome::default, |(_, v)| v.check(certs))
    }

    /// Whether the configuration depends on the client's server name (the ClientHello must be read first).
    pub fn by_name(&self) -> bool {
        self.by_name.is_some()
    }

    /// The configuration for a client asking for `name`.
    pub fn for_name(&self, name: Option<&str>) -> Arc<ServerConfig> {
        let (Some(b), Some(name)) = (&self.by_name, name) else {
            return self.default.clone();
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let allowed = |i: &usize| !b.deny[*i].iter().any(|d| crate::sni::covers(d, &name));
        let found = b.exact.get(&name).copied().filter(allowed).or_else(|| {
            name.split_once('.')
                .and_then(|(_, parent)| b.wildcard.get(parent).copied())
                .filter(allowed)
        });
        found.map_or_else(|| self.default.clone(), |i| b.configs[i].clone())
    }
}

/// A `crt-list` line's options over its bind line's: what the line writes wins.
fn overlay(bind: &BindSsl, line: &BindSsl) -> BindSsl {
    BindSsl {
        alpn: if line.alpn.is_empty() {
            bind.alpn.clone()
        } else {
            line.alpn.clone()
        },
        ca_file: line.ca_file.clone().or_else(|| bind.ca_file.clone()),
        crl_file: line.crl_file.clone().or_else(|| bind.crl_file.clone()),
        ca_ignore_err: line
            .ca_ignore_err
            .clone()
            .or_else(|| bind.ca_ignore_err.clone()),
        crt_ignore_err: line
            .crt_ignore_err
            .clone()
            .or_else(|| bind.crt_ignore_err.clone()),
        verify: line.verify.or(bind.verify),
        options: line.options.over(&bind.options),
        ..bind.clone()
    }
}

/// Builds the TLS configuration of a `bind` line; its certificates are kept in `store` (a file already there is
/// shared), which can replace them at run time.
pub fn bind_config(
    b: &BindSsl,
    g: &GlobalSsl,
    store: &Arc<CertStore>,
) -> Result<BindTls, TlsError> {
    let base = b.options.over(&g.bind_defaults);
    let mut warnings = Vec::new();
    let load_provider = Arc::new(provider(&base, &mut warnings)?);
    let mut loaded = Vec::new();
    let mut members = Vec::new();
    for crt in &b.crts {
        for c in certs::load_crt(
            &under(&g.crt_base, crt),
            &load_provider,
            certs::Companions::of(g),
        )? {
            let c = store.insert(c);
            members.push(Member::plain(&c));
            loaded.push(c);
        }
    }
    // (member index, its own options)
    let mut own = Vec::new();
    let mut list_names = Vec::new();
    for list in &b.crt_lists {
        let list_name = list.display().to_string();
        let mut lines = Vec::new();
        for e in crtlist::load(list)? {
            for c in certs::load_crt(
                &under(&g.crt_base, &e.file),
                &load_provider,
                certs::Companions::of(g),
            )? {
                let c = store.insert(c);
                if let Some(o) = &e.options {
                    own.push((members.len(), overlay(b, o)));
                }
                let file = c.path.display().to_string();
                lines.push(crate::store::ListLine {
                    file: file.clone(),
                    options: e.options_text.clone(),
                    filters: e.written_filters(),
                    line: e.line,
                });
                members.push(Member {
                    file,
                    names: (!e.filters.is_empty()).then(|| e.filters.clone()),
                    deny: e.deny.clone(),
                    origin: Some((list_name.clone(), e.line)),
                });
                loaded.push(c);
            }
        }
        store.insert_list(&list_name, lines);
        list_names.push(list_name);
    }
    let resolver = Arc::new(SniResolver::with_members(
        members.clone(),
        &loaded,
        base.strict_sni,
    ));
    store.register(&resolver);
    for l in &list_names {
        store.register_list(l, &resolver);
    }
    let shared = Shared::new(g, &base)?;
    let (default, ignoring) = build(b, g, &base, resolver.clone(), &shared, &mut warnings)?;
    let mut tls = ServerTls::single(default.clone());
    tls.resolvers.push((default.clone(), resolver));
    if let Some(v) = ignoring {
        tls.ignoring.push((default, v));
    }
    if !own.is_empty() {
        let mut by = ByName {
            exact: HashMap::new(),
            wildcard: HashMap::new(),
            deny: Vec::new(),
            configs: Vec::new(),
        };
        for (i, opts) in own {
            let o = opts.options.over(&g.bind_defaults);
            let one = Arc::new(SniResolver::with_members(
                vec![members[i].clone()],
                std::slice::from_ref(&loaded[i]),
                false,
            ));
            store.register(&one);
            let (config, ignoring) = build(&opts, g, &o, one.clone(), &shared, &mut warnings)?;
            tls.resolvers.push((config.clone(), one));
            if let Some(v) = ignoring {
                tls.ignoring.push((config.clone(), v));
            }
            let n = by.configs.len();
            for name in members[i].names.as_ref().unwrap_or(&loaded[i].names) {
                let name = name.to_ascii_lowercase();
                match name.strip_prefix("*.") {
                    Some(p) => by.wildcard.entry(p.to_string()).or_insert(n),
                    None => by.exact.entry(name.clone()).or_insert(n),
                };
            }
            by.deny.push(members[i].deny.clone());
            by.configs.push(config);
        }
        tls.by_name = Some(Arc::new(by));
    }
    Ok(BindTls {
        tls,
        certs: loaded,
        warnings,
    })
}

/// What every configuration of a bind line shares, so a session resumes whichever line's options served it.
struct Shared {
    storage: Arc<dyn rustls::server::StoresServerSessions>,
    ticketer: Option<Arc<dyn rustls::server::ProducesTickets>>,
}

impl Shared {
    fn new(g: &GlobalSsl, o: &SslOptions) -> Result<Shared, TlsError> {
        Ok(Shared {
            storage: match g.cachesize() {
                0 => Arc::new(NoServerSessionStorage {}),
                n => ServerSessionMemoryCache::new(n as usize),
            },
            ticketer: if o.no_tls_tickets {
                None
            } else {
                Some(
                    rustls::crypto::aws_lc_rs::Ticketer::new()
                        .map_err(|e| TlsError::Settings(e.to_string()))?,
                )
            },
        })
    }
}

/// One rustls configuration: options `o` (already over the global defaults), client verification from `b`; with
/// the verifier that lets errors through when `b` has `ca-ignore-err` / `crt-ignore-err`.
fn build(
    b: &BindSsl,
    g: &GlobalSsl,
    o: &SslOptions,
    resolver: Arc<SniResolver>,
    shared: &Shared,
    warnings: &mut Vec<String>,
) -> Result<(Arc<ServerConfig>, Option<Arc<IgnoringVerifier>>), TlsError> {
    let mut ignoring = None;
    let versions = versions(o, warnings)?;
    let provider = Arc::new(provider(o, warnings)?);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Settings(e.to_string()))?;
    let verify = b.verify.unwrap_or_default();
    let builder = match (verify, &b.ca_file) {
        (Verify::Optional | Verify::Required, Some(ca)) => {
            let ca_path = under(&g.ca_base, ca);
            let roots = roots(&ca_path)?;
            let cas = std::fs::read(&ca_path)
                .map_err(|source| TlsError::Stat {
                    path: ca_path.clone(),
                    source,
                })
                .and_then(|bytes| certs::certificates(&bytes, &ca_path))?;
            let mut v =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let mut v1_crls = None;
            if let Some(crl) = &b.crl_file {
                let crl = under(&g.ca_base, crl);
                let crls: Vec<CertificateRevocationListDer<'static>> =
                    CertificateRevocationListDer::pem_file_iter(&crl)
                        .and_then(|i| i.collect::<Result<_, _>>())
                        .map_err(|e| TlsError::Pem {
                            path: crl.clone(),
                            reason: e.to_string(),
                        })?;
                let (v1, v2): (Vec<_>, Vec<_>) = crls.into_iter().partition(|c| crl::is_v1(c));
                if !v1.is_empty() {
                    // webpki reads version 2 lists only: the others are checked beside it.
                    let mut checks = crl::V1Crls::default();
                    for c in v1.iter().chain(&v2) {
                        if let Some(i) = crl::issuer(c) {
                            checks.issuers.push(i.to_vec());
                        }
                    }
                    for c in &v1 {
                        checks
                            .lists
                            .push(crl::V1Crl::parse(c, &cas).map_err(|reason| TlsError::Pem {
                                path: crl.clone(),
                                reason,
                            })?);
                    }
                    checks.cas = cas.clone();
                    v1_crls = Some(Arc::new(checks));
                    v = v.allow_unknown_revocation_status();
                }
                v = v.with_crls(v2);
            }
            if verify == Verify::Optional {
                v = v.allow_unauthenticated();
            }
            let v = v.build().map_err(|e| TlsError::Settings(e.to_string()))?;
            // webpki's verifier, with what it cannot do: version 1 client certificates and CRLs, errors let
            // through (only such lines ask for the outcome again after the handshake).
            let lets_through = b.ca_ignore_err.is_some() || b.crt_ignore_err.is_some();
            let mut i = IgnoringVerifier::new(v, b.ca_ignore_err.clone(), b.crt_ignore_err.clone())
                .with_algorithms(provider.signature_verification_algorithms)
                .with_cas(cas);
            if let Some(c) = v1_crls {
                i = i.with_v1_crls(c);
            }
            let i = Arc::new(i);
            if lets_through {
                ignoring = Some(i.clone());
            }
            builder.with_client_cert_verifier(i)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = b.alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    config.ignore_client_order = !o.prefer_client_ciphers;
    config.session_storage = shared.storage.clone();
    if let Some(t) = &shared.ticketer {
        config.ticketer = t.clone();
    }
    Ok((Arc::new(config), ignoring))
}
