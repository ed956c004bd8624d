//! Which certificate answers a ClientHello: the one whose name matches the client's server name (SNI), exactly
//! or through a wildcard `*.example.com` that covers one label, as HAProxy matches; without a match the first
//! certificate loaded, or no handshake at all under `strict-sni`. When several certificates serve the name (an
//! ECDSA and an RSA one), the first whose key can sign with a scheme the client offers.
//!
//! The index is swapped whole when the runtime API replaces a certificate ([`crate::store`]): handshakes in
//! progress keep the one they started with, new ones get the new certificate.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::certs::Loaded;

/// The certificates of one bind line, indexed by name.
#[derive(Debug, Default)]
struct Index {
    exact: HashMap<String, Vec<Arc<CertifiedKey>>>,
    /// By the part after `*.`.
    wildcard: HashMap<String, Vec<Arc<CertifiedKey>>>,
    /// Every certificate, in load order: the first is the default.
    all: Vec<Arc<CertifiedKey>>,
}

impl Index {
    fn new(certs: &[Loaded]) -> Index {
        let mut exact: HashMap<String, Vec<Arc<CertifiedKey>>> = HashMap::new();
        let mut wildcard: HashMap<String, Vec<Arc<CertifiedKey>>> = HashMap::new();
        for c in certs {
            for n in &c.names {
                let (map, key) = match n.strip_prefix("*.") {
                    Some(rest) => (&mut wildcard, rest.to_string()),
                    None => (&mut exact, n.clone()),
                };
                let list = map.entry(key).or_default();
                if !list.iter().any(|k| Arc::ptr_eq(k, &c.key)) {
                    list.push(c.key.clone());
                }
            }
        }
        Index {
            exact,
            wildcard,
            all: certs.iter().map(|c| c.key.clone()).collect(),
        }
    }

    fn candidates(&self, name: &str) -> Option<&[Arc<CertifiedKey>]> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(l) = self.exact.get(&name) {
            return Some(l);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent).map(Vec::as_slice)
    }
}

/// The certificate chooser of one bind line.
#[derive(Debug)]
pub struct SniResolver {
    index: ArcSwap<Index>,
    /// The certificate files of the line, in load order (their names in the store).
    files: Vec<String>,
    strict: bool,
}

impl SniResolver {
    /// Indexes `certs` (in load order); `strict`: refuse a client whose server name matches none.
    pub fn new(certs: &[Loaded], strict: bool) -> SniResolver {
        SniResolver {
            index: ArcSwap::from_pointee(Index::new(certs)),
            files: certs.iter().map(|c| c.path.display().to_string()).collect(),
            strict,
        }
    }

    /// The certificate files of the line, in load order.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Indexes the line's certificates again (one of them was replaced).
    pub fn reindex(&self, certs: &[Loaded]) {
        self.index.store(Arc::new(Index::new(certs)));
    }

    /// Whether `name` has a certificate of its own (exact or wildcard).
    pub fn serves(&self, name: &str) -> bool {
        self.index.load().candidates(name).is_some()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let index = self.index.load();
        let schemes = hello.signature_schemes();
        let usable = |k: &&Arc<CertifiedKey>| k.key.choose_scheme(schemes).is_some();
        let list = match hello.server_name().and_then(|n| index.candidates(n)) {
            Some(l) => l,
            None if self.strict => return None,
            None => &index.all[..index.all.len().min(1)],
        };
        list.iter().find(usable).or(list.first()).cloned()
    }
}
