//! Every certificate file the configuration loaded, by name, shared by the bind lines that use it, and the runtime
//! API's transaction that replaces one in a running proxy (`set ssl cert NAME <<` + `commit ssl cert NAME`, or
//! `abort ssl cert NAME`): on commit the bind lines using the file index their certificates again, so new
//! handshakes get the new certificate and no connection is dropped. The client certificates of server lines
//! (`server ... crt FILE`) are kept here too: a commit makes the servers show the new one from their next
//! connection on (their cached sessions, which carried the old one, forgotten).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::certs::{self, Loaded};
use crate::client::ClientIdentity;
use crate::sni::SniResolver;

mod files;
pub use files::{ca_certificates, crls, FileError, FileKind, FileView};

/// A replacement being prepared: what the commit will serve.
struct Pending {
    name: String,
    chain: Vec<CertificateDer<'static>>,
    /// The private key, loaded (a `.key` payload on a committed certificate keeps its chain, and the other way
    /// round).
    key: Option<Arc<dyn rustls::sign::SigningKey>>,
    /// The OCSP response to staple.
    ocsp: Option<Vec<u8>>,
}

#[derive(Default)]
struct Inner {
    certs: BTreeMap<String, Loaded>,
    /// Names made by `new ssl cert` and not committed yet.
    empty: std::collections::BTreeSet<String>,
    resolvers: Vec<Weak<SniResolver>>,
    pending: Option<Pending>,
    /// The `crt-list` files of the bind lines, by name.
    lists: BTreeMap<String, CrtList>,
    /// The client certificates (`crt`) of server lines, one per server.
    clients: Vec<Weak<ClientIdentity>>,
    /// The files only server lines named (no bind line): `show ssl cert` calls them unused once no server
    /// uses them any more.
    client_only: std::collections::BTreeSet<String>,
    /// The CA and CRL files bind lines read at start, by path: what lines added at run time may name (HAProxy
    /// reads no file then).
    files: BTreeMap<std::path::PathBuf, Vec<u8>>,
    /// Which of `files` are CA files (`ca-file`, `ca-verify-file`).
    ca_files: std::collections::BTreeSet<std::path::PathBuf>,
    /// Which of `files` are CRL files (`crl-file`).
    crl_files: std::collections::BTreeSet<std::path::PathBuf>,
    /// The open `set ssl ca-file` transaction.
    ca_pending: Option<files::FilePending>,
    /// The open `set ssl crl-file` transaction.
    crl_pending: Option<files::FilePending>,
    /// What builds each bind line's configurations again when a CA or CRL file they read is replaced.
    binds: Vec<Arc<crate::server::LineBuilder>>,
    /// What server lines verify their server's certificate against.
    trusts: Vec<Weak<crate::server_trust::ServerTrust>>,
}

impl Inner {
    /// The live servers showing certificate `name`.
    fn clients_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Arc<ClientIdentity>> + 'a {
        self.clients
            .iter()
            .filter_map(Weak::upgrade)
            .filter(move |c| c.name == name && !c.is_retired())
    }
}

/// One line of a `crt-list` as the runtime API shows it.
#[derive(Debug, Clone)]
pub struct ListLine {
    /// The certificate file (its name in the store).
    pub file: String,
    /// The words of its `[...]` block, as written.
    pub options: Option<String>,
    /// Its filters as written (`!name` included).
    pub filters: Vec<String>,
    /// Its line number (lines added at run time count on from the last one).
    pub line: usize,
}

/// A `crt-list` file: its lines and the certificate choosers of the bind lines that use it.
#[derive(Default)]
struct CrtList {
    lines: Vec<ListLine>,
    resolvers: Vec<Weak<SniResolver>>,
    /// What builds the configurations of lines with options, one per bind line using the list.
    builders: Vec<Arc<crate::server::LineBuilder>>,
}

/// Why a runtime API `crt-list` or `new/del ssl cert` command was refused; the text is HAProxy's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// `new ssl cert` for a name that exists.
    #[error("Certificate '{0}' already exists!\n")]
    Exists(String),
    /// `del ssl cert` of a certificate a bind line or a crt-list uses.
    #[error("Can't remove the certificate: certificate '{0}' in use, can't be deleted!\n\n")]
    InUse(String),
    /// `del ssl cert` of an unknown name.
    #[error("Can't remove the certificate: certificate '{0}' doesn't exist!\n\n")]
    NoCert(String),
    /// `add ssl crt-list` with a certificate the store does not have.
    #[error("Can't edit the crt-list: certificate '{0}' does not exist!\n")]
    AddUnknown(String),
    /// `add ssl crt-list` with a certificate made by `new ssl cert` and never committed.
    #[error("Can't edit the crt-list: certificate '{0}' is empty!\n")]
    AddEmpty(String),
    /// `add ssl crt-list` to an unknown list.
    #[error("Can't edit the crt-list: crt-list '{0}' does not exist!\n")]
    AddNoList(String),
    /// `del ssl crt-list` from an unknown list.
    #[error("Can't delete the entry: crt-list '{0}' does not exist!\n")]
    DelNoList(String),
    /// `del ssl crt-list` of a certificate the store does not have.
    #[error("Can't delete the entry: certificate '{0}' does not exist!\n")]
    DelNoCert(String),
    /// `del ssl crt-list` of a certificate the list does not have.
    #[error("Can't delete the entry: certificate '{0}' can't be found in crt-list '{1}'!\n")]
    DelNoEntry(String, String),
    /// `del ssl crt-list` of a certificate on several lines, without a line number.
    #[error("Can't delete the entry: found the certificate '{0}' in several entries, please specify a line number preceded by colons ({1})!\n")]
    Ambiguous(String, String),
    /// `del ssl crt-list` of the line that gives bind lines their default certificate (the bind lines'
    /// `\t- file:line` lines follow).
    #[error("Can't delete the entry: certificate '{0}' cannot be deleted, it is used as default certificate by the following frontends:\n{1}\n")]
    Default(String, String),
    /// The options of a line added at run time cannot be served (a file never loaded ...).
    #[error("Can't edit the crt-list: {0}\n")]
    Options(String),
    /// What fulcrum does not do yet, with the reason.
    #[error("{0}\n")]
    NotYet(String),
}

/// The loaded certificates of a proxy.
pub struct CertStore {
    provider: Arc<CryptoProvider>,
    /// How certificate files are read: companions (`ssl-load-extra-del-ext`, which `set ssl cert NAME.key`
    /// follows), `issuers-chain-path`, `ssl-skip-self-issued-ca`.
    load_options: certs::LoadOptions,
    inner: Mutex<Inner>,
    /// The certificates `generate-certificates` made, for every bind line (one cache for the process, as
    /// HAProxy keeps).
    forged: std::sync::OnceLock<Arc<crate::generate::Forged>>,
}

/// Why a runtime API certificate command was refused; the text is HAProxy's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The name is no certificate file of the configuration.
    #[error("Can't replace a certificate which is not referenced by the configuration!\nCan't update {0}!\n")]
    Unknown(String),
    /// The payload is no PEM certificate (the certificate file, the name given).
    #[error(
        "unable to load certificate from file '{0}'.\nCan't load the payload\nCan't update {1}!\n"
    )]
    BadPayload(String, String),
    /// A `.key` payload holds no private key (the certificate file, the name given).
    #[error(
        "unable to load private key from file '{0}'.\nCan't load the payload\nCan't update {1}!\n"
    )]
    BadKeyPayload(String, String),
    /// A `.ocsp` payload is no OCSP response in base64 (HAProxy's text, without its missing line break).
    #[error(
        "Error reading OCSP response in base64 formatCan't load the payload\nCan't update {0}!\n"
    )]
    BadOcspPayload(String),
    /// A `.issuer` or `.sctl` payload (the extension, the name given).
    #[error("'.{0}' payloads are not supported yet by fulcrum\nCan't load the payload\nCan't update {1}!\n")]
    PartNotYet(&'static str, String),
    /// Another file's transaction is open (that file, the file this one names, the name given).
    #[error("The ongoing transaction is about '{0}' but you are trying to set '{1}'\nCan't update {2}!\n")]
    Busy(String, String, String),
    /// `commit` of a file while another file's transaction is open.
    #[error("The ongoing transaction is about '{0}' but you are trying to set '{1}'\nCan't commit {1}!\n")]
    CommitOther(String, String),
    /// Nothing to commit or abort for that name.
    #[error("No ongoing transaction! !\nCan't commit {0}!\n")]
    NoTransaction(String),
    /// The replacement lacks its key or does not match it.
    #[error("{1}\nCan't commit {0}!\n")]
    Incomplete(String, String),
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl CertStore {
    /// An empty store whose certificates load with `provider`.
    pub fn new(provider: Arc<CryptoProvider>) -> Arc<CertStore> {
        CertStore::with_load_options(provider, certs::LoadOptions::default())
    }

    /// How the store's certificate files are read: their companions, `issuers-chain-path`,
    /// `ssl-skip-self-issued-ca`. Bind lines load theirs the same way.
    pub fn load_options(&self) -> &certs::LoadOptions {
        &self.load_options
    }

    /// An empty store whose certificates load with `provider` and whose files are read as `load_options` says.
    pub fn with_load_options(
        provider: Arc<CryptoProvider>,
        load_options: certs::LoadOptions,
    ) -> Arc<CertStore> {
        Arc::new(CertStore {
            provider,
            load_options,
            inner: Mutex::new(Inner::default()),
            forged: std::sync::OnceLock::new(),
        })
    }

    /// The cache of generated certificates, of `size` entries (`tune.ssl.ssl-ctx-cache-size`) when the first
    /// bind line that makes them asks.
    pub fn forged(&self, size: u32) -> Arc<crate::generate::Forged> {
        self.forged
            .get_or_init(|| Arc::new(crate::generate::Forged::new(size)))
            .clone()
    }

    /// Keeps a certificate loaded at start; a file several bind lines name is loaded once.
    pub fn insert(&self, loaded: Loaded) -> Loaded {
        let mut inner = lock(&self.inner);
        inner
            .certs
            .entry(loaded.path.display().to_string())
            .or_insert(loaded)
            .clone()
    }

    /// Keeps a server line's client certificate (`crt`): a file the store has already (another server's, a
    /// bind line's, or one replaced at run time) is shared, and served by this server too.
    pub fn register_client(&self, identity: &Arc<ClientIdentity>) {
        let mut inner = lock(&self.inner);
        inner.clients.retain(|w| w.strong_count() > 0);
        let name = identity.name.clone();
        match inner.certs.get(&name) {
            Some(l) => {
                if !Arc::ptr_eq(&l.key, &identity.current()) {
                    identity.replace(l.key.clone());
                }
            }
            None => {
                inner.certs.insert(name.clone(), identity.loaded.clone());
                inner.client_only.insert(name);
            }
        }
        inner.clients.push(Arc::downgrade(identity));
    }

    /// Remembers a bind line's chooser, to index it again when one of its files is replaced.
    pub fn register(&self, resolver: &Arc<SniResolver>) {
        lock(&self.inner).resolvers.push(Arc::downgrade(resolver));
    }

    /// The certificate files, in name order; the name of the open transaction's file first when there is one.
    pub fn names(&self) -> (Option<String>, Vec<String>) {
        let inner = lock(&self.inner);
        let mut names: Vec<String> = inner.certs.keys().cloned().collect();
        names.extend(inner.empty.iter().cloned());
        names.sort();
        (inner.pending.as_ref().map(|p| p.name.clone()), names)
    }

    /// Keeps the lines of a `crt-list` file loaded at start (`file`: each line's certificate as the store names
    /// it). A list several bind lines use is kept once.
    pub fn insert_list(&self, name: &str, lines: Vec<ListLine>) {
        lock(&self.inner)
            .lists
            .entry(name.to_string())
            .or_insert_with(|| CrtList {
                lines,
                ..CrtList::default()
            });
    }

    /// Reads a CA file from disk and keeps it, as [`Self::read_file`] does; `show ssl ca-file` lists it.
    pub fn read_ca_file(&self, path: &Path) -> Result<Vec<u8>, crate::TlsError> {
        let bytes = self.read_file(path)?;
        lock(&self.inner).ca_files.insert(path.to_path_buf());
        Ok(bytes)
    }

    /// Reads a CA or CRL file from disk and keeps its bytes (the same file read again is not read twice).
    pub fn read_file(&self, path: &Path) -> Result<Vec<u8>, crate::TlsError> {
        if let Some(b) = lock(&self.inner).files.get(path) {
            return Ok(b.clone());
        }
        let bytes = std::fs::read(path).map_err(|source| crate::TlsError::Stat {
            path: path.to_path_buf(),
            source,
        })?;
        lock(&self.inner)
            .files
            .insert(path.to_path_buf(), bytes.clone());
        Ok(bytes)
    }

    /// Remembers what builds the configurations of crt-list `name`'s lines with options for a bind line.
    pub fn register_builder(&self, name: &str, builder: &Arc<crate::server::LineBuilder>) {
        if let Some(l) = lock(&self.inner).lists.get_mut(name) {
            l.builders.push(builder.clone());
        }
    }

    /// Remembers that a bind line's chooser serves the lines of crt-list `name`.
    pub fn register_list(&self, name: &str, resolver: &Arc<SniResolver>) {
        if let Some(l) = lock(&self.inner).lists.get_mut(name) {
            l.resolvers.push(Arc::downgrade(resolver));
        }
    }

    /// The crt-list files, in name order.
    pub fn list_names(&self) -> Vec<String> {
        lock(&self.inner).lists.keys().cloned().collect()
    }

    /// The lines of crt-list `name`.
    pub fn list_lines(&self, name: &str) -> Option<Vec<ListLine>> {
        lock(&self.inner).lists.get(name).map(|l| l.lines.clone())
    }

    /// `set ssl ocsp-response`: staples `der` to the certificates whose serial number it answers for, from the
    /// next handshakes on; how many there were.
    pub fn set_ocsp(&self, der: &[u8]) -> Option<usize> {
        let serials = crate::ocsp::serials(der)?;
        let mut inner = lock(&self.inner);
        let matching: Vec<String> = inner
            .certs
            .iter()
            .filter(|(_, l)| {
                l.key.cert.first().is_some_and(|c| {
                    webpki::EndEntityCert::try_from(c).is_ok_and(|ee| {
                        serials
                            .iter()
                            .any(|s| s == crate::ocsp::strip_zero(ee.serial()))
                    })
                })
            })
            .map(|(n, _)| n.clone())
            .collect();
        for name in &matching {
            let Some(l) = inner.certs.get_mut(name) else {
                continue;
            };
            let mut key = (*l.key).clone();
            key.ocsp = Some(der.to_vec());
            l.key = Arc::new(key);
        }
        inner.resolvers.retain(|w| w.strong_count() > 0);
        for r in inner.resolvers.iter().filter_map(Weak::upgrade) {
            if matching.iter().any(|n| r.uses(n)) {
                r.reindex(&|f| inner.certs.get(f).cloned());
            }
        }
        Some(matching.len())
    }

    /// The OCSP response of certificate file `name` (`*NAME`: the open transaction's), with the certificate it
    /// is for; `None` when there is no such certificate or it has no response.
    pub fn ocsp_of(&self, name: &str) -> Option<(CertificateDer<'static>, Vec<u8>)> {
        let inner = lock(&self.inner);
        match name.strip_prefix('*') {
            Some(n) => inner
                .pending
                .as_ref()
                .filter(|p| p.name == n)
                .and_then(|p| Some((p.chain.first()?.clone(), p.ocsp.clone()?))),
            None => inner
                .certs
                .get(name)
                .and_then(|l| Some((l.key.cert.first()?.clone(), l.key.ocsp.clone()?))),
        }
    }

    /// The OCSP responses the committed certificates staple, by the certificate ID of the single response
    /// answering for each (in the order of their DER, one entry for a response several files share), for
    /// `show ssl ocsp-response`.
    pub fn ocsp_responses(&self) -> Vec<(crate::ocsp_text::CertIdView, Vec<u8>)> {
        let inner = lock(&self.inner);
        let mut by_key = BTreeMap::new();
        for l in inner.certs.values() {
            let (Some(leaf), Some(der)) = (l.key.cert.first(), &l.key.ocsp) else {
                continue;
            };
            if let Some(id) = crate::ocsp_text::id_for(leaf, der) {
                by_key.entry(id.der.clone()).or_insert((id, der.clone()));
            }
        }
        by_key.into_values().collect()
    }

    /// `new ssl cert NAME`: an empty certificate a transaction then fills.
    pub fn create(&self, name: &str) -> Result<(), ListError> {
        let mut inner = lock(&self.inner);
        if inner.certs.contains_key(name) || inner.empty.contains(name) {
            return Err(ListError::Exists(name.to_string()));
        }
        inner.empty.insert(name.to_string());
        Ok(())
    }

    /// `del ssl cert NAME`: removes a certificate no bind line and no crt-list uses.
    pub fn delete(&self, name: &str) -> Result<(), ListError> {
        let mut inner = lock(&self.inner);
        if inner.empty.remove(name) {
            return Ok(());
        }
        if !inner.certs.contains_key(name) {
            return Err(ListError::NoCert(name.to_string()));
        }
        let in_list = inner
            .lists
            .values()
            .any(|l| l.lines.iter().any(|x| x.file == name));
        let in_bind = inner
            .resolvers
            .iter()
            .filter_map(Weak::upgrade)
            .any(|r| r.uses(name));
        let pending = inner.pending.as_ref().is_some_and(|p| p.name == name);
        let in_server = inner.clients_of(name).next().is_some();
        if in_list || in_bind || pending || in_server {
            return Err(ListError::InUse(name.to_string()));
        }
        inner.certs.remove(name);
        inner.client_only.remove(name);
        Ok(())
    }

    /// `add ssl crt-list LIST LINE`: a line (certificate, its options as written and read, filters) served at
    /// once by the bind lines using the list. The warnings building its options gave.
    pub fn add_line(
        &self,
        list: &str,
        file: &str,
        options: Option<(String, fulcrum_config::haproxy::ssl::BindSsl)>,
        filters: Vec<String>,
    ) -> Result<Vec<String>, ListError> {
        let mut inner = lock(&self.inner);
        if !inner.lists.contains_key(list) {
            return Err(ListError::AddNoList(list.to_string()));
        }
        if inner.empty.contains(file) {
            return Err(ListError::AddEmpty(file.to_string()));
        }
        let Some(loaded) = inner.certs.get(file).cloned() else {
            return Err(ListError::AddUnknown(file.to_string()));
        };
        let Inner {
            lists,
            certs,
            files,
            resolvers,
            ..
        } = &mut *inner;
        let l = lists.get_mut(list).expect("checked above");
        let line = l.lines.iter().map(|x| x.line).max().unwrap_or(0) + 1;
        let (names, deny): (Vec<String>, Vec<String>) =
            filters.iter().cloned().partition(|f| !f.starts_with('!'));
        let member = crate::sni::Member {
            file: file.to_string(),
            names: (!names.is_empty()).then_some(names),
            deny: deny.iter().map(|d| d[1..].to_string()).collect(),
            origin: Some((list.to_string(), line)),
        };
        // The line's own configuration for each bind line, all built before any serves.
        let mut warnings = Vec::new();
        let mut prepared = Vec::new();
        if let Some((_, opts)) = &options {
            let read = |kw: &str, path: &Path| {
                files.get(path).cloned().ok_or_else(|| {
                    crate::TlsError::Settings(format!("'{kw}' : unable to load {}", path.display()))
                })
            };
            l.builders.retain(|b| b.alive());
            for b in &l.builders {
                let p = b
                    .prepare(&member, &loaded, opts, &read, &mut warnings)
                    .map_err(|e| ListError::Options(e.to_string()))?;
                prepared.extend(p);
            }
        }
        for p in prepared {
            resolvers.push(Arc::downgrade(&p.install()));
        }
        l.resolvers.retain(|w| w.strong_count() > 0);
        for r in l.resolvers.iter().filter_map(Weak::upgrade) {
            r.push(member.clone());
            r.reindex(&|f| certs.get(f).cloned());
        }
        l.lines.push(ListLine {
            file: file.to_string(),
            options: options.map(|(text, _)| text),
            filters,
            line,
        });
        Ok(warnings)
    }

    /// `del ssl crt-list LIST CERT[:LINE]`: the line stops serving new handshakes.
    pub fn delete_line(
        &self,
        list: &str,
        file: &str,
        line: Option<usize>,
    ) -> Result<(), ListError> {
        let mut inner = lock(&self.inner);
        let Inner { lists, certs, .. } = &mut *inner;
        let Some(l) = lists.get_mut(list) else {
            return Err(ListError::DelNoList(list.to_string()));
        };
        let found: Vec<usize> = l
            .lines
            .iter()
            .enumerate()
            .filter(|(_, x)| x.file == file && line.is_none_or(|n| x.line == n))
            .map(|(i, _)| i)
            .collect();
        let at = match found.as_slice() {
            [] if !certs.contains_key(file) => return Err(ListError::DelNoCert(file.to_string())),
            [] => return Err(ListError::DelNoEntry(file.to_string(), list.to_string())),
            [one] => *one,
            _ => {
                let lines: Vec<String> =
                    found.iter().map(|&i| l.lines[i].line.to_string()).collect();
                return Err(ListError::Ambiguous(file.to_string(), lines.join(", ")));
            }
        };
        // A bind line's default certificate stays (HAProxy's refusal names the bind lines).
        l.resolvers.retain(|w| w.strong_count() > 0);
        let gone_line = l.lines[at].line;
        let defaults: String = l
            .resolvers
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|r| r.default_from(list, gone_line))
            .map(|r| format!("\t- {}\n", r.location().unwrap_or("?")))
            .collect();
        if !defaults.is_empty() {
            return Err(ListError::Default(file.to_string(), defaults));
        }
        let gone = l.lines.remove(at);
        // A line with options: its own configurations stop serving too.
        l.builders.retain(|b| b.alive());
        for b in &l.builders {
            b.remove(list, gone.line);
        }
        l.resolvers.retain(|w| w.strong_count() > 0);
        for r in l.resolvers.iter().filter_map(Weak::upgrade) {
            if r.remove_origin(list, gone.line) {
                r.reindex(&|f| certs.get(f).cloned());
            }
        }
        Ok(())
    }

    /// The certificate of a file (`*NAME`: the one of the open transaction).
    pub fn get(&self, name: &str) -> Option<(Vec<CertificateDer<'static>>, bool)> {
        let inner = lock(&self.inner);
        match name.strip_prefix('*') {
            Some(n) => inner
                .pending
                .as_ref()
                .filter(|p| p.name == n)
                .map(|p| (p.chain.clone(), false)),
            None => {
                // A file only servers named is used while one of them remains.
                let used =
                    !inner.client_only.contains(name) || inner.clients_of(name).next().is_some();
                inner.certs.get(name).map(|l| (l.key.cert.clone(), used))
            }
        }
    }

    /// `set ssl cert NAME <<`: opens (or updates) the transaction of a certificate file with `payload`, as
    /// HAProxy 2.6 reads it: a whole PEM, or one part when NAME ends in a companion's extension (`.key` ...: see
    /// [`crate::payload`]). The certificate file it is about, and whether the transaction was created.
    pub fn set(&self, name: &str, payload: &[u8]) -> Result<(String, bool), StoreError> {
        use crate::payload::{self, Part, Read, Unreadable};
        let mut inner = lock(&self.inner);
        let (part, base) = Part::of(name);
        // A part's file may be named without `.crt` (`ssl-load-extra-del-ext`): `site.key` for `site.crt`.
        let with_crt =
            (part != Part::Whole && self.load_options.del_ext).then(|| format!("{base}.crt"));
        let known = |n: &str| inner.certs.contains_key(n) || inner.empty.contains(n);
        let target = match &inner.pending {
            Some(p) if p.name == base => base.to_string(),
            Some(p) if with_crt.as_deref() == Some(p.name.as_str()) => p.name.clone(),
            Some(p) => {
                let tried = with_crt.as_deref().unwrap_or(base);
                return Err(StoreError::Busy(
                    p.name.clone(),
                    tried.to_string(),
                    name.to_string(),
                ));
            }
            None if known(base) => base.to_string(),
            None => match with_crt.as_deref().filter(|n| known(n)) {
                Some(n) => n.to_string(),
                None => return Err(StoreError::Unknown(name.to_string())),
            },
        };
        let read = payload::read(part, payload).map_err(|e| match e {
            Unreadable::Certificate => StoreError::BadPayload(target.clone(), name.to_string()),
            Unreadable::Key => StoreError::BadKeyPayload(target.clone(), name.to_string()),
            Unreadable::Ocsp => StoreError::BadOcspPayload(name.to_string()),
            Unreadable::NotYet => StoreError::PartNotYet(part.extension(), name.to_string()),
        })?;
        let load_key = |k: PrivateKeyDer<'static>| {
            self.provider
                .key_provider
                .load_private_key(k)
                .map_err(|_| StoreError::BadKeyPayload(target.clone(), name.to_string()))
        };
        let created = inner.pending.is_none();
        // What the transaction starts from: itself, else the committed certificate (nothing for `new ssl cert`).
        let mut next = match inner.pending.take() {
            Some(p) => p,
            None => {
                let current = inner.certs.get(&target).map(|l| l.key.clone());
                Pending {
                    name: target.clone(),
                    chain: current.as_ref().map(|k| k.cert.clone()).unwrap_or_default(),
                    key: current.as_ref().map(|k| k.key.clone()),
                    ocsp: current.and_then(|k| k.ocsp.clone()),
                }
            }
        };
        let loaded = match read {
            Read::Whole(mut chain, key) => key.map(load_key).transpose().map(|key| {
                self.load_options.finish_chain(&mut chain);
                next = Pending {
                    name: target.clone(),
                    chain,
                    key,
                    ocsp: None,
                }
            }),
            Read::Key(k) => load_key(k).map(|key| next.key = Some(key)),
            Read::Ocsp(der) => {
                next.ocsp = Some(der);
                Ok(())
            }
        };
        // A payload that cannot be read leaves an open transaction as it was.
        if let Err(e) = loaded {
            if !created {
                inner.pending = Some(next);
            }
            return Err(e);
        }
        inner.pending = Some(next);
        Ok((target, created))
    }

    /// `commit ssl cert NAME`: puts the transaction's certificate in place everywhere `name` is used; how many
    /// certificate choosers (bind lines, crt-list lines with options) now serve it. A refused commit leaves the
    /// transaction open, as HAProxy does.
    pub fn commit(&self, name: &str) -> Result<usize, StoreError> {
        let mut inner = lock(&self.inner);
        let p = match &inner.pending {
            Some(p) if p.name == name => p,
            Some(p) => return Err(StoreError::CommitOther(p.name.clone(), name.to_string())),
            None => return Err(StoreError::NoTransaction(name.to_string())),
        };
        let incomplete = |m: String| StoreError::Incomplete(name.to_string(), m);
        let Some(key) = p.key.clone() else {
            return Err(incomplete(
                "The transaction must contain at least a certificate and a private key!".into(),
            ));
        };
        let mut loaded = certs::certify(Path::new(name), p.chain.clone(), key).map_err(|_| {
            incomplete(format!(
                "inconsistencies between private key and certificate loaded '{name}'."
            ))
        })?;
        if let Some(der) = &p.ocsp {
            let mut key = (*loaded.key).clone();
            key.ocsp = Some(der.clone());
            loaded.key = Arc::new(key);
        }
        inner.pending = None;
        inner.certs.insert(name.to_string(), loaded);
        inner.empty.remove(name);
        inner.resolvers.retain(|w| w.strong_count() > 0);
        let mut users = 0;
        for r in inner.resolvers.iter().filter_map(Weak::upgrade) {
            if r.uses(name) {
                r.reindex(&|f| inner.certs.get(f).cloned());
                users += 1;
            }
        }
        // Servers show it from their next connection on.
        inner.clients.retain(|w| w.strong_count() > 0);
        let key = inner.certs.get(name).map(|l| l.key.clone());
        if let Some(key) = key {
            for c in inner.clients_of(name) {
                c.replace(key.clone());
                users += 1;
            }
        }
        Ok(users)
    }

    /// `abort ssl cert NAME`: drops the transaction.
    pub fn abort(&self, name: &str) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        match inner.pending.take_if(|p| p.name == name) {
            Some(_) => Ok(()),
            None => Err(StoreError::NoTransaction(name.to_string())),
        }
    }
}
