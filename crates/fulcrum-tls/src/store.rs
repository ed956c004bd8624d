//! Every certificate file the configuration loaded, by name, shared by the bind lines that use it, and the runtime
//! API's transaction that replaces one in a running proxy (`set ssl cert NAME <<` + `commit ssl cert NAME`, or
//! `abort ssl cert NAME`): on commit the bind lines using the file index their certificates again, so new
//! handshakes get the new certificate and no connection is dropped.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::certs::{self, Loaded};
use crate::sni::SniResolver;

/// A replacement being prepared.
struct Pending {
    name: String,
    chain: Vec<CertificateDer<'static>>,
    key: Option<PrivateKeyDer<'static>>,
}

#[derive(Default)]
struct Inner {
    certs: BTreeMap<String, Loaded>,
    resolvers: Vec<Weak<SniResolver>>,
    pending: Option<Pending>,
}

/// The loaded certificates of a proxy.
pub struct CertStore {
    provider: Arc<CryptoProvider>,
    inner: Mutex<Inner>,
}

/// Why a runtime API certificate command was refused; the text is HAProxy's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The name is no certificate file of the configuration.
    #[error("Can't replace a certificate which is not referenced by the configuration!\nCan't update {0}!\n")]
    Unknown(String),
    /// The payload is no PEM certificate.
    #[error(
        "unable to load certificate from file '{0}'.\nCan't load the payload\nCan't update {0}!\n"
    )]
    BadPayload(String),
    /// Another file's transaction is open.
    #[error("The ongoing transaction is about '{0}' but you are trying to set '{1}'\nCan't update {1}!\n")]
    Busy(String, String),
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
        Arc::new(CertStore {
            provider,
            inner: Mutex::new(Inner::default()),
        })
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

    /// Remembers a bind line's chooser, to index it again when one of its files is replaced.
    pub fn register(&self, resolver: &Arc<SniResolver>) {
        lock(&self.inner).resolvers.push(Arc::downgrade(resolver));
    }

    /// The certificate files, in name order; the name of the open transaction's file first when there is one.
    pub fn names(&self) -> (Option<String>, Vec<String>) {
        let inner = lock(&self.inner);
        (
            inner.pending.as_ref().map(|p| p.name.clone()),
            inner.certs.keys().cloned().collect(),
        )
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
            None => inner.certs.get(name).map(|l| (l.key.cert.clone(), true)),
        }
    }

    /// `set ssl cert NAME <<`: opens (or updates) the transaction of `name` with `pem`. True when it was created.
    pub fn set(&self, name: &str, pem: &[u8]) -> Result<bool, StoreError> {
        let mut inner = lock(&self.inner);
        if !inner.certs.contains_key(name) {
            return Err(StoreError::Unknown(name.to_string()));
        }
        if let Some(p) = inner.pending.as_ref().filter(|p| p.name != name) {
            return Err(StoreError::Busy(p.name.clone(), name.to_string()));
        }
        let (chain, key) = certs::parse_pem(pem, Path::new(name))
            .map_err(|_| StoreError::BadPayload(name.to_string()))?;
        let created = inner.pending.is_none();
        inner.pending = Some(Pending {
            name: name.to_string(),
            chain,
            key,
        });
        Ok(created)
    }

    /// `commit ssl cert NAME`: puts the transaction's certificate in place everywhere `name` is used.
    pub fn commit(&self, name: &str) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        let Some(p) = inner.pending.take_if(|p| p.name == name) else {
            return Err(StoreError::NoTransaction(name.to_string()));
        };
        let incomplete = |m: &str| StoreError::Incomplete(name.to_string(), m.to_string());
        let Some(key) = p.key else {
            return Err(incomplete(
                "The transaction must contain at least a certificate and a private key!",
            ));
        };
        let loaded = certs::build(Path::new(name), p.chain, key, &self.provider)
            .map_err(|e| incomplete(&e.to_string()))?;
        inner.certs.insert(name.to_string(), loaded);
        inner.resolvers.retain(|w| w.strong_count() > 0);
        for r in inner.resolvers.iter().filter_map(Weak::upgrade) {
            if r.files().any(|f| f == name) {
                let certs: Option<Vec<Loaded>> =
                    r.files().map(|f| inner.certs.get(f).cloned()).collect();
                if let Some(certs) = certs {
                    r.reindex(&certs);
                }
            }
        }
        Ok(())
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
