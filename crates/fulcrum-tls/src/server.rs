//! A `bind` line's TLS settings (over the `global` defaults) built into one rustls server configuration, shared by
//! every connection the line accepts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use fulcrum_config::haproxy::ssl::{BindSsl, GlobalSsl, SslOptions, TlsVersion, Verify};
use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};

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

/// The CA certificates of `ca-file` text (`ca` names it in messages).
fn roots_of(bytes: &[u8], ca: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in certs::certificates(bytes, ca)? {
        roots.add(c).map_err(|e| TlsError::Pem {
            path: ca.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// How a build reads the CA and CRL files it names: from disk at start (the bytes then kept in the store), from
/// the store only at run time (HAProxy reads no file then). Given the keyword and the path.
pub type ReadFile<'a> = &'a dyn Fn(&str, &Path) -> Result<Vec<u8>, TlsError>;

/// The TLS configurations of a bind line: one for every handshake, or one per server name when `crt-list` lines
/// have options of their own (the ClientHello is read first, then the configuration chosen). Such lines may be
/// added and deleted at run time (`add ssl crt-list`): their set is swapped whole.
#[derive(Clone)]
pub struct ServerTls {
    /// The bind line's configuration (every certificate, the line's options), swapped whole when a CA or CRL
    /// file it reads is replaced at run time (`commit ssl ca-file` / `commit ssl crl-file`).
    base: Arc<ArcSwap<Base>>,
    /// The certificate chooser of the default configuration (what a resumed session presented: see
    /// [`Self::presented`]).
    resolver: Option<Arc<SniResolver>>,
    lines: Arc<ArcSwap<Lines>>,
}

/// A bind line's own configuration.
struct Base {
    config: Arc<ServerConfig>,
    /// Its client-certificate verifier when it lets errors through (`ca-ignore-err` / `crt-ignore-err`): after
    /// such a handshake, it says which errors there were.
    ignoring: Option<Arc<IgnoringVerifier>>,
}

/// A `crt-list` line with options: its configuration, for the names its certificate serves.
struct OwnLine {
    /// The list and line it comes from.
    origin: Option<(String, usize)>,
    /// The names it serves (lower case; `*.` wildcards).
    names: Vec<String>,
    deny: Vec<String>,
    config: Arc<ServerConfig>,
    resolver: Arc<SniResolver>,
    ignoring: Option<Arc<IgnoringVerifier>>,
    /// Its settings (the line's options over the bind line's), to build it again when a file it reads changes.
    settings: BindSsl,
}

/// The `crt-list` lines with options of a bind line, indexed by the names they serve (the first line for a name
/// wins).
#[derive(Default)]
struct Lines {
    own: Vec<Arc<OwnLine>>,
    exact: HashMap<String, usize>,
    wildcard: HashMap<String, usize>,
}

impl Lines {
    fn of(own: Vec<Arc<OwnLine>>) -> Lines {
        let mut l = Lines {
            own,
            ..Lines::default()
        };
        for (n, line) in l.own.iter().enumerate() {
            for name in &line.names {
                match name.strip_prefix("*.") {
                    Some(p) => l.wildcard.entry(p.to_string()).or_insert(n),
                    None => l.exact.entry(name.clone()).or_insert(n),
                };
            }
        }
        l
    }
}

impl ServerTls {
    /// A bind line with one configuration.
    pub fn single(config: Arc<ServerConfig>) -> ServerTls {
        ServerTls {
            base: Arc::new(ArcSwap::from_pointee(Base {
                config,
                ignoring: None,
            })),
            resolver: None,
            lines: Arc::default(),
        }
    }

    /// The bind line's configuration (every certificate, the line's options), as it is now.
    pub fn default_config(&self) -> Arc<ServerConfig> {
        self.base.load().config.clone()
    }

    /// Records the `file:line` of the bind line (the runtime API names it when it refuses to delete the line's
    /// default certificate).
    pub fn set_location(&self, location: &str) {
        if let Some(r) = &self.resolver {
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
        if Arc::ptr_eq(config, &self.base.load().config) {
            return self.resolver.as_ref()?.for_name(name);
        }
        let lines = self.lines.load();
        let line = lines.own.iter().find(|l| Arc::ptr_eq(&l.config, config))?;
        line.resolver.for_name(name)
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
        let check =
            |v: Option<&Arc<IgnoringVerifier>>| v.map_or_else(Outcome::default, |v| v.check(certs));
        let base = self.base.load();
        if Arc::ptr_eq(config, &base.config) {
            return check(base.ignoring.as_ref());
        }
        let lines = self.lines.load();
        let line = lines.own.iter().find(|l| Arc::ptr_eq(&l.config, config));
        check(line.and_then(|l| l.ignoring.as_ref()))
    }

    /// Whether the configuration depends on the client's server name (the ClientHello must be read first).
    pub fn by_name(&self) -> bool {
        !self.lines.load().own.is_empty()
    }

    /// The configuration for a client asking for `name`.
    pub fn for_name(&self, name: Option<&str>) -> Arc<ServerConfig> {
        let Some(name) = name else {
            return self.default_config();
        };
        let b = self.lines.load();
        if b.own.is_empty() {
            return self.default_config();
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let allowed = |i: &usize| !b.own[*i].deny.iter().any(|d| crate::sni::covers(d, &name));
        let found = b.exact.get(&name).copied().filter(allowed).or_else(|| {
            name.split_once('.')
                .and_then(|(_, parent)| b.wildcard.get(parent).copied())
                .filter(allowed)
        });
        found.map_or_else(|| self.default_config(), |i| b.own[i].config.clone())
    }
}

/// What builds the configurations of a bind line again: of a `crt-list` line added at run time with options,
/// and all of them when a CA or CRL file they read is replaced at run time. The bind line's settings and what its
/// configurations share. The store keeps one per bind line.
pub struct LineBuilder {
    bind: BindSsl,
    global: GlobalSsl,
    /// Replaced with the configurations it serves when they are built again: sessions made under the old
    /// trust do not resume under the new one.
    shared: std::sync::Mutex<Shared>,
    lines: std::sync::Weak<ArcSwap<Lines>>,
    base: std::sync::Weak<ArcSwap<Base>>,
    resolver: std::sync::Weak<SniResolver>,
}

/// The configurations of a bind line built again over replaced files, not serving yet.
pub struct Rebuilt {
    builder: Arc<LineBuilder>,
    shared: Shared,
    base_slot: Arc<ArcSwap<Base>>,
    base: Base,
    lines_slot: Arc<ArcSwap<Lines>>,
    lines: Vec<Arc<OwnLine>>,
    /// How many of them read the file replaced.
    pub users: usize,
}

impl Rebuilt {
    /// Serves them from the next handshakes on.
    pub fn install(self) {
        self.base_slot.store(Arc::new(self.base));
        self.lines_slot.store(Arc::new(Lines::of(self.lines)));
        *self
            .builder
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = self.shared;
    }
}

/// The CA and CRL files settings `b` read (under `ca-base`).
fn files_of(b: &BindSsl, g: &GlobalSsl) -> impl Iterator<Item = PathBuf> {
    [&b.ca_file, &b.ca_verify_file, &b.crl_file]
        .into_iter()
        .flatten()
        .map(|f| under(&g.ca_base, f))
        .collect::<Vec<_>>()
        .into_iter()
}

impl LineBuilder {
    /// Whether the bind line is still running.
    pub fn alive(&self) -> bool {
        self.lines.strong_count() > 0
    }

    /// Whether the bind line, or one of its `crt-list` lines, reads CA or CRL file `path`.
    pub fn uses(&self, path: &Path) -> bool {
        if files_of(&self.bind, &self.global).any(|f| f == path) {
            return true;
        }
        self.lines.upgrade().is_some_and(|l| {
            l.load()
                .own
                .iter()
                .any(|o| files_of(&o.settings, &self.global).any(|f| f == path))
        })
    }

    /// Builds every configuration of the bind line again, reading CA and CRL files through `read` (where a
    /// replaced file gives its new text), when one of them reads `path`. `None` when none does (or the bind line
    /// is gone). Nothing changes until [`Rebuilt::install`].
    pub fn rebuild(
        self: &Arc<Self>,
        path: &Path,
        read: ReadFile<'_>,
    ) -> Result<Option<Rebuilt>, TlsError> {
        if !self.uses(path) {
            return Ok(None);
        }
        let (Some(lines), Some(base), Some(resolver)) = (
            self.lines.upgrade(),
            self.base.upgrade(),
            self.resolver.upgrade(),
        ) else {
            return Ok(None);
        };
        let g = &self.global;
        let shared = Shared::new(g, &self.bind.options.over(&g.bind_defaults))?;
        let mut warnings = Vec::new();
        let mut users = 0;
        let o = self.bind.options.over(&g.bind_defaults);
        let (config, ignoring) = build(&self.bind, g, &o, resolver, &shared, read, &mut warnings)?;
        if files_of(&self.bind, g).any(|f| f == path) {
            users += 1;
        }
        let mut own = Vec::new();
        for l in &lines.load().own {
            let o = l.settings.options.over(&g.bind_defaults);
            let (config, ignoring) = build(
                &l.settings,
                g,
                &o,
                l.resolver.clone(),
                &shared,
                read,
                &mut warnings,
            )?;
            if files_of(&l.settings, g).any(|f| f == path) {
                users += 1;
            }
            own.push(Arc::new(OwnLine {
                origin: l.origin.clone(),
                names: l.names.clone(),
                deny: l.deny.clone(),
                config,
                resolver: l.resolver.clone(),
                ignoring,
                settings: l.settings.clone(),
            }));
        }
        Ok(Some(Rebuilt {
            builder: self.clone(),
            shared,
            base_slot: base,
            base: Base { config, ignoring },
            lines_slot: lines,
            lines: own,
            users,
        }))
    }

    /// Builds the configuration serving `member` (certificate `loaded`, from a line of a list) with the line's
    /// own options `opts`; CA and CRL files are read through `read` (the store's, no disk). `None` when the bind
    /// line is gone. Nothing changes until [`PreparedLine::install`].
    pub fn prepare(
        &self,
        member: &Member,
        loaded: &Loaded,
        opts: &BindSsl,
        read: ReadFile<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<Option<PreparedLine>, TlsError> {
        let Some(lines) = self.lines.upgrade() else {
            return Ok(None);
        };
        let shared = self
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let line = own_line(
            &self.bind,
            &self.global,
            &shared,
            member,
            loaded,
            opts,
            read,
            warnings,
        )?;
        Ok(Some(PreparedLine {
            line: Arc::new(line),
            lines,
        }))
    }

    /// Stops serving the configuration of line `line` of `list`; whether there was one.
    pub fn remove(&self, list: &str, line: usize) -> bool {
        let Some(lines) = self.lines.upgrade() else {
            return false;
        };
        let mut own = lines.load().own.clone();
        let before = own.len();
        own.retain(|l| {
            l.origin
                .as_ref()
                .is_none_or(|(f, n)| f != list || *n != line)
        });
        let removed = own.len() != before;
        lines.store(Arc::new(Lines::of(own)));
        removed
    }
}

/// A `crt-list` line's configuration built for a bind line, not serving yet.
pub struct PreparedLine {
    line: Arc<OwnLine>,
    lines: Arc<ArcSwap<Lines>>,
}

impl PreparedLine {
    /// Serves it from the next handshakes on; its certificate chooser (to index again when its certificate is
    /// replaced).
    pub fn install(self) -> Arc<SniResolver> {
        let mut own = self.lines.load().own.clone();
        own.push(self.line.clone());
        self.lines.store(Arc::new(Lines::of(own)));
        self.line.resolver.clone()
    }
}

/// The configuration of one `crt-list` line with options `opts` over bind line `b`.
#[allow(clippy::too_many_arguments)]
fn own_line(
    b: &BindSsl,
    g: &GlobalSsl,
    shared: &Shared,
    member: &Member,
    loaded: &Loaded,
    opts: &BindSsl,
    read: ReadFile<'_>,
    warnings: &mut Vec<String>,
) -> Result<OwnLine, TlsError> {
    // Every file the line names must be readable, whatever `verify` says (HAProxy loads them all).
    for (kw, file) in [
        ("ca-file", &opts.ca_file),
        ("ca-verify-file", &opts.ca_verify_file),
        ("crl-file", &opts.crl_file),
    ] {
        if let Some(f) = file {
            read(kw, &under(&g.ca_base, f))?;
        }
    }
    let line = overlay(b, opts);
    let o = line.options.over(&g.bind_defaults);
    let one = Arc::new(SniResolver::with_members(
        vec![member.clone()],
        std::slice::from_ref(loaded),
        false,
    ));
    let (config, ignoring) = build(&line, g, &o, one.clone(), shared, read, warnings)?;
    Ok(OwnLine {
        origin: member.origin.clone(),
        names: member
            .names
            .as_ref()
            .unwrap_or(&loaded.names)
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect(),
        deny: member.deny.clone(),
        config,
        resolver: one,
        ignoring,
        settings: line,
    })
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
        ca_verify_file: line
            .ca_verify_file
            .clone()
            .or_else(|| bind.ca_verify_file.clone()),
        allow_0rtt: line.allow_0rtt || bind.allow_0rtt,
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
    // CA and CRL files are read whatever `verify` says, as HAProxy loads them: lines added at run time may use
    // them.
    for file in [&b.ca_file, &b.ca_verify_file].into_iter().flatten() {
        store.read_ca_file(&under(&g.ca_base, file))?;
    }
    if let Some(file) = &b.crl_file {
        store.read_crl_file(&under(&g.ca_base, file))?;
    }
    let mut loaded = Vec::new();
    let mut members = Vec::new();
    for crt in &b.crts {
        for c in certs::load_crt(
            &under(&g.crt_base, crt),
            &load_provider,
            store.load_options(),
            &mut warnings,
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
            if let Some(o) = &e.options {
                for file in [&o.ca_file, &o.ca_verify_file].into_iter().flatten() {
                    store.read_ca_file(&under(&g.ca_base, file))?;
                }
                if let Some(file) = &o.crl_file {
                    store.read_crl_file(&under(&g.ca_base, file))?;
                }
            }
            for c in certs::load_crt(
                &under(&g.crt_base, &e.file),
                &load_provider,
                store.load_options(),
                &mut warnings,
            )? {
                let c = store.insert(c);
                if let Some(o) = &e.options {
                    own.push((members.len(), o.clone()));
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
    if let (true, Some(file)) = (b.generate_certificates, &b.ca_sign_file) {
        let ca = crate::generate::Ca::load(&under(&g.ca_base, file), &certs::LoadOptions::of(g))?;
        resolver.set_generator(crate::generate::Generator::new(
            ca,
            store.forged(g.ctx_cache_size()),
        ));
    }
    store.register(&resolver);
    for l in &list_names {
        store.register_list(l, &resolver);
    }
    // CA and CRL files are read from disk now and kept: lines added at run time find them there.
    let read = |_: &str, path: &Path| store.read_file(path);
    let shared = Shared::new(g, &base)?;
    let (default, ignoring) = build(b, g, &base, resolver.clone(), &shared, &read, &mut warnings)?;
    let mut tls = ServerTls::single(default);
    tls.base.store(Arc::new(Base {
        config: tls.default_config(),
        ignoring,
    }));
    tls.resolver = Some(resolver.clone());
    let mut lines = Vec::new();
    for (i, opts) in own {
        let line = own_line(
            b,
            g,
            &shared,
            &members[i],
            &loaded[i],
            &opts,
            &read,
            &mut warnings,
        )?;
        store.register(&line.resolver);
        lines.push(Arc::new(line));
    }
    tls.lines.store(Arc::new(Lines::of(lines)));
    let builder = Arc::new(LineBuilder {
        bind: b.clone(),
        global: g.clone(),
        shared: std::sync::Mutex::new(shared),
        lines: Arc::downgrade(&tls.lines),
        base: Arc::downgrade(&tls.base),
        resolver: Arc::downgrade(&resolver),
    });
    for l in &list_names {
        store.register_builder(l, &builder);
    }
    store.register_bind(&builder);
    Ok(BindTls {
        tls,
        certs: loaded,
        warnings,
    })
}

/// What every configuration of a bind line shares, so a session resumes whichever line's options served it.
#[derive(Clone)]
struct Shared {
    storage: Arc<dyn rustls::server::StoresServerSessions>,
    ticketer: Option<Arc<dyn rustls::server::ProducesTickets>>,
}

impl Shared {
    fn new(g: &GlobalSsl, o: &SslOptions) -> Result<Shared, TlsError> {
        Ok(Shared {
            storage: match g.cachesize() {
                0 => Arc::new(NoServerSessionStorage {}),
                n => crate::session_cache::counted(n as usize),
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

/// The lists of a `crl-file` (its text `bytes`): the version 2 ones for webpki, and the checks of the version 1
/// ones (which webpki does not read) when there are some, their signatures checked against `cas`.
pub(crate) fn revocation(
    bytes: &[u8],
    crl: &Path,
    cas: &[rustls_pki_types::CertificateDer<'static>],
) -> Result<
    (
        Vec<CertificateRevocationListDer<'static>>,
        Option<crl::V1Crls>,
    ),
    TlsError,
> {
    let crls: Vec<CertificateRevocationListDer<'static>> =
        CertificateRevocationListDer::pem_slice_iter(bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Pem {
                path: crl.to_path_buf(),
                reason: e.to_string(),
            })?;
    let (v1, v2): (Vec<_>, Vec<_>) = crls.into_iter().partition(|c| crl::is_v1(c));
    if v1.is_empty() {
        return Ok((v2, None));
    }
    let mut checks = crl::V1Crls::default();
    for c in &v2 {
        if let Some(i) = crl::issuer(c) {
            checks.issuers.push(i.to_vec());
        }
    }
    for c in &v1 {
        let parsed = crl::V1Crl::parse(c, cas).map_err(|reason| TlsError::Pem {
            path: crl.to_path_buf(),
            reason,
        })?;
        // A list no CA of the file signed covers nothing (its issuer's certificates fail their check).
        if let Some(list) = parsed {
            if let Some(i) = crl::issuer(c) {
                checks.issuers.push(i.to_vec());
            }
            checks.lists.push(list);
        }
    }
    checks.cas = cas.to_vec();
    Ok((v2, Some(checks)))
}

/// One rustls configuration: options `o` (already over the global defaults), client verification from `b`; with
/// the verifier that lets errors through when `b` has `ca-ignore-err` / `crt-ignore-err`.
fn build(
    b: &BindSsl,
    g: &GlobalSsl,
    o: &SslOptions,
    resolver: Arc<SniResolver>,
    shared: &Shared,
    read: ReadFile<'_>,
    warnings: &mut Vec<String>,
) -> Result<(Arc<ServerConfig>, Option<Arc<IgnoringVerifier>>), TlsError> {
    if b.allow_0rtt {
        warnings.push(
            "allow-0rtt: TLS 1.3 early data is not accepted by fulcrum yet; clients make a full handshake".into(),
        );
    }
    let mut ignoring = None;
    let versions = versions(o, warnings)?;
    let provider = Arc::new(provider(o, warnings)?);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Settings(e.to_string()))?;
    let verify = b.verify.unwrap_or_default();
    let builder = match (verify, b.ca_file.as_ref().or(b.ca_verify_file.as_ref())) {
        (Verify::Optional | Verify::Required, Some(_)) => {
            // `ca-file`'s CAs are named to clients in the certificate request; `ca-verify-file`'s only verify.
            let mut cas = Vec::new();
            let mut hints = Vec::new();
            for (kw, file) in [
                ("ca-file", &b.ca_file),
                ("ca-verify-file", &b.ca_verify_file),
            ] {
                let Some(file) = file else { continue };
                let path = under(&g.ca_base, file);
                let bytes = read(kw, &path)?;
                let these = certs::certificates(&bytes, &path)?;
                if kw == "ca-file" {
                    hints.extend(roots_of(&bytes, &path)?.subjects());
                }
                cas.extend(these);
            }
            let mut roots = RootCertStore::empty();
            for c in &cas {
                roots
                    .add(c.clone())
                    .map_err(|e| TlsError::Settings(e.to_string()))?;
            }
            let mut v =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .clear_root_hint_subjects()
                    .add_root_hint_subjects(hints);
            let mut v1_crls = None;
            if let Some(crl) = &b.crl_file {
                let crl = under(&g.ca_base, crl);
                let bytes = read("crl-file", &crl)?;
                let (v2, v1) = revocation(&bytes, &crl, &cas)?;
                if let Some(checks) = v1 {
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
    config.max_fragment_size = g.max_record.map(crate::suites::record_size);
    config.session_storage = shared.storage.clone();
    if let Some(t) = &shared.ticketer {
        config.ticketer = t.clone();
    }
    Ok((Arc::new(config), ignoring))
}
