//! Which certificate answers a ClientHello: the one whose name matches the client's server name (SNI), exactly
//! or through a wildcard `*.example.com` that covers one label, as HAProxy matches; without a match the first
//! certificate loaded, or no handshake at all under `strict-sni`. When several certificates serve the name (an
//! ECDSA and an RSA one), the first whose key can sign with a scheme the client offers.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::certs::Loaded;

/// The certificates of one `bind` line, indexed by name.
#[derive(Debug)]
pub struct SniResolver {
    exact: HashMap<String, Vec<Arc<CertifiedKey>>>,
    /// By the part after `*.`.
    wildcard: HashMap<String, Vec<Arc<CertifiedKey>>>,
    /// Every certificate, in load order: the first is the default.
    all: Vec<Arc<CertifiedKey>>,
    strict: bool,
}

impl SniResolver {
    /// Indexes `certs` (in load order); `strict`: refuse a client whose server name matches none.
    pub fn new(certs: &[Loaded], strict: bool) -> SniResolver {
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
        SniResolver {
            exact,
            wildcard,
            all: certs.iter().map(|c| c.key.clone()).collect(),
            strict,
        }
    }

    /// The certificates serving `name` (exact names first, then wildcards).
    pub fn candidates(&self, name: &str) -> Option<&[Arc<CertifiedKey>]> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(l) = self.exact.get(&name) {
            return Some(l);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent).map(Vec::as_slice)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let schemes = hello.signature_schemes();
        let usable = |k: &&Arc<CertifiedKey>| k.key.choose_scheme(schemes).is_some();
        let list = match hello.server_name().and_then(|n| self.candidates(n)) {
            Some(l) => l,
            None if self.strict => return None,
            None => &self.all[..self.all.len().min(1)],
        };
        list.iter().find(usable).or(list.first()).cloned()
    }
}
