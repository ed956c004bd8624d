//! The CA and CRL files of the store at run time, as haproxy 2.6's runtime API handles them: `set ssl
//! ca-file|crl-file NAME <<` opens (or updates) the one transaction of its kind, `commit` puts it in place —
//! every bind line and server reading the file builds its verification again and uses it from its next
//! handshake — or `abort` drops it; `new` makes an empty file that `crt-list` lines added at run time may name,
//! `del` removes a file nothing uses. Answers are HAProxy's words.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use rustls::pki_types::CertificateDer;

use super::{lock, CertStore, Inner};
use crate::certs;
use crate::server_trust::ServerTrust;

/// Which kind of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `ca-file` (and `ca-verify-file`)
    Ca,
    /// `crl-file`
    Crl,
}

impl FileKind {
    /// How HAProxy's answers name it: `CA`, `CRL`.
    pub fn word(self) -> &'static str {
        match self {
            FileKind::Ca => "CA",
            FileKind::Crl => "CRL",
        }
    }
}

/// A replacement file being prepared.
pub(super) struct FilePending {
    name: String,
    bytes: Vec<u8>,
}

/// Why a runtime API CA or CRL file command was refused; the text is HAProxy's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// `set` of a name that is no file of its kind.
    #[error("Can't replace a {0} file which is not referenced by the configuration!\nCan't update {1}!\n")]
    Unknown(&'static str, String),
    /// The payload holds no PEM certificate nor CRL.
    #[error("Invalid payload\nCan't update {0}!\n")]
    Invalid(String),
    /// Another file's transaction is open (that file, the name given).
    #[error("The ongoing transaction is about '{0}' but you are trying to set '{1}'\nCan't update {1}!\n")]
    Busy(String, String),
    /// `commit` of a file while another file's transaction is open.
    #[error("The ongoing transaction is about '{0}' but you are trying to set '{1}'\nCan't commit {1}!\n")]
    CommitOther(String, String),
    /// `abort` of a file while another file's transaction is open.
    #[error("The ongoing transaction is about '{0}' but you are trying to abort a transaction for '{1}'\n")]
    AbortOther(String, String),
    /// `commit` with no transaction open.
    #[error("No ongoing transaction! !\nCan't commit {0}!\n")]
    NoCommit(String),
    /// `abort` with no transaction open.
    #[error("No ongoing transaction!\n")]
    NoAbort,
    /// The verification a user of the file builds from the new text fails (the reason, the file).
    #[error("{0}\nCan't commit {1}!\n")]
    Refused(String, String),
    /// `new` of a name that exists.
    #[error("{0} file '{1}' already exists!\n")]
    Exists(&'static str, String),
    /// `del` of a file whose transaction is open.
    #[error("Can't remove the {0} file: ongoing transaction for the {0} file '{1}'\n")]
    DelPending(&'static str, String),
    /// `del` of an unknown file.
    #[error("Can't remove the {0} file: {0} file '{1}' doesn't exist!\n\n")]
    DelUnknown(&'static str, String),
    /// `del` of a file a bind line, a `crt-list` line or a server reads.
    #[error("Can't remove the {0} file: {0} file '{1}' in use, can't be deleted!\n\n")]
    DelInUse(&'static str, String),
}

/// One file as `show ssl ca-file|crl-file NAME` prints it.
#[derive(Debug, Clone)]
pub struct FileView {
    /// Its name (`*NAME` for the transaction's).
    pub name: String,
    /// Its text.
    pub bytes: Vec<u8>,
    /// Whether a bind line, `crt-list` line or server reads it (never for a transaction).
    pub used: bool,
}

impl Inner {
    fn set_of(&self, kind: FileKind) -> &std::collections::BTreeSet<PathBuf> {
        match kind {
            FileKind::Ca => &self.ca_files,
            FileKind::Crl => &self.crl_files,
        }
    }

    fn set_of_mut(&mut self, kind: FileKind) -> &mut std::collections::BTreeSet<PathBuf> {
        match kind {
            FileKind::Ca => &mut self.ca_files,
            FileKind::Crl => &mut self.crl_files,
        }
    }

    fn pending_of(&mut self, kind: FileKind) -> &mut Option<FilePending> {
        match kind {
            FileKind::Ca => &mut self.ca_pending,
            FileKind::Crl => &mut self.crl_pending,
        }
    }

    /// Whether a running bind line (or one of its `crt-list` lines) or server reads `path`.
    fn in_use(&mut self, path: &Path) -> bool {
        self.binds.retain(|b| b.alive());
        self.trusts.retain(|t| t.strong_count() > 0);
        self.binds.iter().any(|b| b.uses(path))
            || self
                .trusts
                .iter()
                .filter_map(Weak::upgrade)
                .any(|t| t.uses(path))
    }
}

/// Whether `payload` holds at least one PEM certificate or CRL, and every one of them reads (HAProxy takes
/// either kind in either file).
fn valid_payload(payload: &[u8]) -> bool {
    use rustls::pki_types::pem::{PemObject, SectionKind};
    let mut any = false;
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(payload) {
        match item {
            Ok((SectionKind::Certificate | SectionKind::Crl, _)) => any = true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    any
}

impl CertStore {
    /// Reads a CRL file from disk and keeps it, as [`Self::read_file`] does; `show ssl crl-file` lists it.
    pub fn read_crl_file(&self, path: &Path) -> Result<Vec<u8>, crate::TlsError> {
        let bytes = self.read_file(path)?;
        lock(&self.inner).crl_files.insert(path.to_path_buf());
        Ok(bytes)
    }

    /// Remembers what builds a bind line's configurations again.
    pub fn register_bind(&self, builder: &Arc<crate::server::LineBuilder>) {
        lock(&self.inner).binds.push(builder.clone());
    }

    /// Remembers a server line's trust (its files were read through the store: see
    /// [`Self::read_for_server`]).
    pub fn register_trust(&self, trust: &Arc<ServerTrust>) {
        let mut inner = lock(&self.inner);
        inner.trusts.retain(|t| t.strong_count() > 0);
        inner.trusts.push(Arc::downgrade(trust));
    }

    /// How a server line reads its CA and CRL files: as last committed when the store has them, else from
    /// disk (then kept, and listed by `show ssl ca-file|crl-file`).
    pub fn read_for_server(&self, keyword: &str, path: &Path) -> Result<Vec<u8>, crate::TlsError> {
        match keyword {
            "crl-file" => self.read_crl_file(path),
            _ => self.read_ca_file(path),
        }
    }

    /// The files of a kind, in name order, with their text; the open transaction's first when there is one.
    pub fn file_list(&self, kind: FileKind) -> (Option<FileView>, Vec<FileView>) {
        let mut inner = lock(&self.inner);
        let pending = inner.pending_of(kind).as_ref().map(|p| FileView {
            name: format!("*{}", p.name),
            bytes: p.bytes.clone(),
            used: false,
        });
        let paths: Vec<PathBuf> = inner.set_of(kind).iter().cloned().collect();
        let files = paths
            .into_iter()
            .map(|p| FileView {
                name: p.display().to_string(),
                bytes: inner.files.get(&p).cloned().unwrap_or_default(),
                used: inner.in_use(&p),
            })
            .collect();
        (pending, files)
    }

    /// A file of a kind by name (`*NAME`: the open transaction's).
    pub fn file(&self, kind: FileKind, name: &str) -> Option<FileView> {
        let mut inner = lock(&self.inner);
        if let Some(n) = name.strip_prefix('*') {
            return inner
                .pending_of(kind)
                .as_ref()
                .filter(|p| p.name == n)
                .map(|p| FileView {
                    name: name.to_string(),
                    bytes: p.bytes.clone(),
                    used: false,
                });
        }
        let path = PathBuf::from(name);
        if !inner.set_of(kind).contains(&path) {
            return None;
        }
        Some(FileView {
            name: name.to_string(),
            bytes: inner.files.get(&path).cloned().unwrap_or_default(),
            used: inner.in_use(&path),
        })
    }

    /// `set ssl ca-file|crl-file NAME <<`: opens (or updates) the transaction of file `name` with `payload`;
    /// whether it was created.
    pub fn set_file(&self, kind: FileKind, name: &str, payload: &[u8]) -> Result<bool, FileError> {
        let mut inner = lock(&self.inner);
        if let Some(p) = inner.pending_of(kind).as_ref().filter(|p| p.name != name) {
            return Err(FileError::Busy(p.name.clone(), name.to_string()));
        }
        if !inner.set_of(kind).contains(Path::new(name)) {
            return Err(FileError::Unknown(kind.word(), name.to_string()));
        }
        if !valid_payload(payload) {
            return Err(FileError::Invalid(name.to_string()));
        }
        let slot = inner.pending_of(kind);
        let created = slot.is_none();
        *slot = Some(FilePending {
            name: name.to_string(),
            bytes: payload.to_vec(),
        });
        Ok(created)
    }

    /// `commit ssl ca-file|crl-file NAME`: every bind line (and `crt-list` line) and server reading the file
    /// builds its verification from the new text, all before any uses it; how many use it. A refused commit
    /// leaves the transaction open.
    pub fn commit_file(&self, kind: FileKind, name: &str) -> Result<usize, FileError> {
        let mut inner = lock(&self.inner);
        let bytes = match inner.pending_of(kind) {
            Some(p) if p.name == name => p.bytes.clone(),
            Some(p) => return Err(FileError::CommitOther(p.name.clone(), name.to_string())),
            None => return Err(FileError::NoCommit(name.to_string())),
        };
        let path = PathBuf::from(name);
        inner.binds.retain(|b| b.alive());
        inner.trusts.retain(|t| t.strong_count() > 0);
        let refused = |e: crate::TlsError| FileError::Refused(e.to_string(), name.to_string());
        let (binds, trusts) = {
            let files = &inner.files;
            let read = |_: &str, p: &Path| -> Result<Vec<u8>, crate::TlsError> {
                if p == path {
                    return Ok(bytes.clone());
                }
                files.get(p).cloned().ok_or_else(|| {
                    crate::TlsError::Settings(format!("unable to load {}", p.display()))
                })
            };
            let mut binds = Vec::new();
            for b in &inner.binds {
                if let Some(r) = b.rebuild(&path, &read).map_err(refused)? {
                    binds.push(r);
                }
            }
            let mut trusts = Vec::new();
            for t in inner.trusts.iter().filter_map(Weak::upgrade) {
                if t.uses(&path) {
                    trusts.push(t.rebuild(&read).map_err(refused)?);
                }
            }
            (binds, trusts)
        };
        let users = binds.iter().map(|b| b.users).sum::<usize>() + trusts.len();
        for b in binds {
            b.install();
        }
        for t in trusts {
            t.install();
        }
        inner.files.insert(path, bytes);
        *inner.pending_of(kind) = None;
        Ok(users)
    }

    /// `abort ssl ca-file|crl-file NAME`: drops the transaction.
    pub fn abort_file(&self, kind: FileKind, name: &str) -> Result<(), FileError> {
        let mut inner = lock(&self.inner);
        let slot = inner.pending_of(kind);
        match slot {
            Some(p) if p.name == name => {
                *slot = None;
                Ok(())
            }
            Some(p) => Err(FileError::AbortOther(p.name.clone(), name.to_string())),
            None => Err(FileError::NoAbort),
        }
    }

    /// `new ssl ca-file|crl-file NAME`: an empty file a transaction then fills, which `crt-list` lines added
    /// at run time may name.
    pub fn new_file(&self, kind: FileKind, name: &str) -> Result<(), FileError> {
        let mut inner = lock(&self.inner);
        let path = PathBuf::from(name);
        if inner.set_of(kind).contains(&path) {
            return Err(FileError::Exists(kind.word(), name.to_string()));
        }
        inner.files.entry(path.clone()).or_default();
        inner.set_of_mut(kind).insert(path);
        Ok(())
    }

    /// `del ssl ca-file|crl-file NAME`: removes a file nothing reads.
    pub fn del_file(&self, kind: FileKind, name: &str) -> Result<(), FileError> {
        let mut inner = lock(&self.inner);
        if inner
            .pending_of(kind)
            .as_ref()
            .is_some_and(|p| p.name == name)
        {
            return Err(FileError::DelPending(kind.word(), name.to_string()));
        }
        let path = PathBuf::from(name);
        if !inner.set_of(kind).contains(&path) {
            return Err(FileError::DelUnknown(kind.word(), name.to_string()));
        }
        if inner.in_use(&path) {
            return Err(FileError::DelInUse(kind.word(), name.to_string()));
        }
        inner.set_of_mut(kind).remove(&path);
        let other = match kind {
            FileKind::Ca => FileKind::Crl,
            FileKind::Crl => FileKind::Ca,
        };
        if !inner.set_of(other).contains(&path) {
            inner.files.remove(&path);
        }
        Ok(())
    }
}

/// The certificates of a CA file's text.
pub fn ca_certificates(view: &FileView) -> Vec<CertificateDer<'static>> {
    certs::certificates(&view.bytes, Path::new(&view.name)).unwrap_or_default()
}

/// The CRLs (DER) of a CRL file's text.
pub fn crls(view: &FileView) -> Vec<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateRevocationListDer::pem_slice_iter(&view.bytes)
        .filter_map(Result::ok)
        .map(|c| c.as_ref().to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PEM block the payload check takes (its content is not read as a certificate here).
    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";

    #[test]
    fn one_transaction_per_kind_with_haproxy_s_refusals() {
        let store = CertStore::new(Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let (ca, crl) = (FileKind::Ca, FileKind::Crl);
        assert_eq!(
            store.set_file(ca, "a.pem", PEM.as_bytes()),
            Err(FileError::Unknown("CA", "a.pem".into()))
        );
        store.new_file(ca, "a.pem").unwrap();
        store.new_file(ca, "b.pem").unwrap();
        store.new_file(crl, "a.pem").unwrap();
        assert_eq!(
            store.new_file(ca, "a.pem"),
            Err(FileError::Exists("CA", "a.pem".into()))
        );
        assert_eq!(
            store.set_file(ca, "a.pem", b"garbage\n"),
            Err(FileError::Invalid("a.pem".into()))
        );
        assert_eq!(store.set_file(ca, "a.pem", PEM.as_bytes()), Ok(true));
        assert_eq!(store.set_file(ca, "a.pem", PEM.as_bytes()), Ok(false));
        // The other kind has its own transaction.
        assert_eq!(store.set_file(crl, "a.pem", PEM.as_bytes()), Ok(true));
        assert_eq!(
            store.set_file(ca, "b.pem", PEM.as_bytes()),
            Err(FileError::Busy("a.pem".into(), "b.pem".into()))
        );
        assert_eq!(
            store.commit_file(ca, "b.pem"),
            Err(FileError::CommitOther("a.pem".into(), "b.pem".into()))
        );
        assert_eq!(
            store.del_file(ca, "a.pem"),
            Err(FileError::DelPending("CA", "a.pem".into()))
        );
        assert_eq!(store.file_list(ca).0.map(|p| p.name), Some("*a.pem".into()));
        assert!(store.file(ca, "a.pem").is_some_and(|f| f.bytes.is_empty()));
        // Nothing reads it: committed with no user.
        assert_eq!(store.commit_file(ca, "a.pem"), Ok(0));
        assert_eq!(
            store.commit_file(ca, "a.pem"),
            Err(FileError::NoCommit("a.pem".into()))
        );
        assert_eq!(store.file(ca, "a.pem").map(|f| f.bytes), Some(PEM.into()));
        assert_eq!(store.abort_file(crl, "a.pem"), Ok(()));
        assert_eq!(store.abort_file(crl, "a.pem"), Err(FileError::NoAbort));
        assert_eq!(store.del_file(ca, "a.pem"), Ok(()));
        assert_eq!(
            store.del_file(ca, "a.pem"),
            Err(FileError::DelUnknown("CA", "a.pem".into()))
        );
        // The CRL file of the same name stays.
        assert!(store.file(crl, "a.pem").is_some());
        assert_eq!(
            FileError::DelInUse("CRL", "x".into()).to_string(),
            "Can't remove the CRL file: CRL file 'x' in use, can't be deleted!\n\n"
        );
    }
}
