//! Which certificate answers a ClientHello: the one whose name matches the client's server name (SNI), exactly
//! or through a wildcard `*.example.com` that covers one label, as HAProxy matches; without a match the first
//! certificate loaded, or no handshake at all under `strict-sni`. When several certificates serve the name (an
//! ECDSA and an RSA one), the first whose key can sign with a scheme the client offers. A `crt-list` line may
//! name the server names its certificate serves instead of the certificate's own, and names it must not serve
//! (`!name`). Under `generate-certificates`, a server name no certificate serves gets one made for it
//! ([`crate::generate`]), before `strict-sni` or the default certificate are considered.
//!
//! The index is swapped whole when the runtime API replaces a certificate ([`crate::store`]): handshakes in
//! progress keep the one they started with, new ones get the new certificate.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::certs::Loaded;

/// One certificate of a bind line and the names it serves.
#[derive(Debug, Clone)]
pub struct Member {
    /// The certificate file (its name in the store).
    pub file: String,
    /// The names it serves when a `crt-list` line says so; else the certificate's own.
    pub names: Option<Vec<String>>,
    /// Names it must not serve (`!name` filters of a `crt-list` line; wildcards allowed).
    pub deny: Vec<String>,
    /// The `crt-list` file and line it comes from, when it does (the runtime API adds and removes such lines).
    pub origin: Option<(String, usize)>,
}

impl Member {
    /// A certificate serving its own names.
    pub fn plain(c: &Loaded) -> Member {
        Member {
            file: c.path.display().to_string(),
            names: None,
            deny: Vec::new(),
            origin: None,
        }
    }
}

/// Whether `pattern` (a name or `*.parent`) covers `name` (lower case).
pub fn covers(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => name.split_once('.').is_some_and(|(_, p)| p == parent),
        None => pattern == name,
    }
}

/// The certificates of one bind line, indexed by name.
#[derive(Debug, Default)]
struct Index {
    exact: HashMap<String, Vec<usize>>,
    /// By the part after `*.`.
    wildcard: HashMap<String, Vec<usize>>,
    /// Every certificate with its denied names, in load order: the first is the default.
    all: Vec<(Arc<CertifiedKey>, Vec<String>)>,
}

impl Index {
    fn new(members: &[Member], certs: &[Loaded]) -> Index {
        let mut idx = Index::default();
        for (i, (m, c)) in members.iter().zip(certs).enumerate() {
            let names = m.names.as_ref().unwrap_or(&c.names);
            for n in names {
                let n = n.to_ascii_lowercase();
                let (map, key) = match n.strip_prefix("*.") {
                    Some(rest) => (&mut idx.wildcard, rest.to_string()),
                    None => (&mut idx.exact, n.clone()),
                };
                let list = map.entry(key).or_default();
                if !list.contains(&i) {
                    list.push(i);
                }
            }
            idx.all.push((c.key.clone(), m.deny.clone()));
        }
        idx
    }

    /// The certificates serving `name`: exact names first, then wildcards, less those that deny it.
    fn candidates(&self, name: &str) -> Vec<&Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let allowed = |i: &&usize| !self.all[**i].1.iter().any(|d| covers(d, &name));
        let pick = |l: &Vec<usize>| -> Vec<&Arc<CertifiedKey>> {
            l.iter().filter(allowed).map(|&i| &self.all[i].0).collect()
        };
        if let Some(l) = self.exact.get(&name).map(pick).filter(|l| !l.is_empty()) {
            return l;
        }
        name.split_once('.')
            .and_then(|(_, parent)| self.wildcard.get(parent))
            .map(pick)
            .unwrap_or_default()
    }
}

/// The certificate chooser of one bind line (or of one `crt-list` line with options of its own).
#[derive(Debug)]
pub struct SniResolver {
    index: ArcSwap<Index>,
    /// Changed only by the runtime API (`add/del ssl crt-list`), under the store's lock.
    members: std::sync::Mutex<Vec<Member>>,
    strict: bool,
    /// The `file:line` of the bind line whose chooser it is (set once built; the runtime API names it).
    location: std::sync::OnceLock<String>,
    /// `generate-certificates`: the maker of certificates for names no certificate serves.
    generator: std::sync::OnceLock<crate::generate::Generator>,
}

impl SniResolver {
    /// Indexes `certs` (in load order) serving their own names; `strict`: refuse a client whose server name
    /// matches none.
    pub fn new(certs: &[Loaded], strict: bool) -> SniResolver {
        let members: Vec<Member> = certs.iter().map(Member::plain).collect();
        SniResolver::with_members(members, certs, strict)
    }

    /// Indexes `certs` serving the names `members` say (same order and length).
    pub fn with_members(members: Vec<Member>, certs: &[Loaded], strict: bool) -> SniResolver {
        SniResolver {
            index: ArcSwap::from_pointee(Index::new(&members, certs)),
            members: std::sync::Mutex::new(members),
            strict,
            location: std::sync::OnceLock::new(),
            generator: std::sync::OnceLock::new(),
        }
    }

    /// Makes certificates with `generator` for the names no certificate serves (`generate-certificates`).
    pub fn set_generator(&self, generator: crate::generate::Generator) {
        let _ = self.generator.set(generator);
    }

    /// A certificate made for `name` (when it has none of its own and the line makes them).
    fn generated(&self, index: &Index, name: &str) -> Option<Arc<CertifiedKey>> {
        let generator = self.generator.get()?;
        let (default, _) = index.all.first()?;
        generator.certificate(name, default)
    }

    /// Records the `file:line` of its bind line.
    pub fn set_location(&self, location: &str) {
        let _ = self.location.set(location.to_string());
    }

    /// The `file:line` of its bind line, once set.
    pub fn location(&self) -> Option<&str> {
        self.location.get().map(String::as_str)
    }

    /// Whether its default certificate (the first loaded) comes from line `line` of crt-list `list`; a line
    /// under `strict-sni` has no default certificate.
    pub fn default_from(&self, list: &str, line: usize) -> bool {
        !self.strict
            && self
                .members()
                .first()
                .and_then(|m| m.origin.as_ref())
                .is_some_and(|(l, n)| l == list && *n == line)
    }

    fn members(&self) -> std::sync::MutexGuard<'_, Vec<Member>> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether certificate file `file` is one of the line's.
    pub fn uses(&self, file: &str) -> bool {
        self.members().iter().any(|m| m.file == file)
    }

    /// Indexes the line's certificates again (one of them was replaced, a member came or went), each file's
    /// certificate taken from `cert`; `false` (and the index left alone) when one is missing.
    pub fn reindex(&self, cert: &dyn Fn(&str) -> Option<Loaded>) -> bool {
        let members = self.members();
        let Some(certs) = members
            .iter()
            .map(|m| cert(&m.file))
            .collect::<Option<Vec<Loaded>>>()
        else {
            return false;
        };
        self.index.store(Arc::new(Index::new(&members, &certs)));
        true
    }

    /// Adds a member (a `crt-list` line added at run time); [`Self::reindex`] then serves it.
    pub fn push(&self, m: Member) {
        self.members().push(m);
    }

    /// Removes the members that came from line `line` of crt-list `list`; true when there were some.
    pub fn remove_origin(&self, list: &str, line: usize) -> bool {
        let mut members = self.members();
        let before = members.len();
        members.retain(|m| {
            m.origin
                .as_ref()
                .is_none_or(|(l, n)| l != list || *n != line)
        });
        members.len() != before
    }

    /// Whether `name` has a certificate of its own here (exact or wildcard, not denied).
    pub fn serves(&self, name: &str) -> bool {
        !self.index.load().candidates(name).is_empty()
    }
}

impl SniResolver {
    /// The certificate a client asking for `name` gets, when what it can verify does not matter (the first of
    /// several for the name): what a resumed session, which chose none, presented.
    pub fn for_name(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let index = self.index.load();
        if let Some(n) = name {
            if let Some(k) = index.candidates(n).first() {
                return Some((*k).clone());
            }
            if let Some(k) = self.generated(&index, n) {
                return Some(k);
            }
        }
        if self.strict {
            return None;
        }
        index.all.first().map(|(k, _)| k.clone())
    }
}

thread_local! {
    /// The certificate the last [`SniResolver`] that answered on this thread chose (see [`take_chosen`]).
    static CHOSEN: std::cell::RefCell<Option<Arc<CertifiedKey>>> = const { std::cell::RefCell::new(None) };
}

/// Takes the certificate chosen by the last handshake step run on this thread, if one chose one. rustls does
/// not say which certificate a session presented (`ssl_f_*` fetches need it); its resolver runs inside the call
/// that processes the ClientHello, so the caller clears this before such a call and takes it right after, with
/// no other handshake run on the thread in between.
pub fn take_chosen() -> Option<Arc<CertifiedKey>> {
    CHOSEN.with(|c| c.borrow_mut().take())
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let index = self.index.load();
        let schemes = hello.signature_schemes();
        let mut list = hello
            .server_name()
            .map(|n| index.candidates(n))
            .unwrap_or_default();
        // A certificate made for the name (`generate-certificates`) is its only candidate.
        let made = match hello.server_name() {
            Some(n) if list.is_empty() => self.generated(&index, n),
            _ => None,
        };
        if let Some(k) = &made {
            list.push(k);
        }
        if list.is_empty() {
            if self.strict {
                return None;
            }
            list.extend(index.all.first().map(|(k, _)| k));
        }
        let chosen = list
            .iter()
            .find(|k| k.key.choose_scheme(schemes).is_some())
            .or(list.first())
            .map(|k| (*k).clone());
        CHOSEN.with(|c| *c.borrow_mut() = chosen.clone());
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("*.example.com", "a.example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(covers("a.example.com", "a.example.com"));
    }
}
