//! The runtime API's CA and CRL file commands (`show|set|commit|abort|new|del ssl ca-file|crl-file`) over the
//! proxy's certificate store, answered in haproxy 2.6's words and layouts.

use fulcrum_tls::info::CertInfo;
use fulcrum_tls::store::{CertStore, FileError, FileKind, FileView};

/// A file named `NAME[:INDEX]` (INDEX from 1), unless NAME itself holds the colon; the error text when the
/// index does not read.
fn find_indexed(
    store: &CertStore,
    kind: FileKind,
    arg: &str,
) -> Result<Option<(FileView, Option<usize>)>, String> {
    if let Some(f) = store.file(kind, arg) {
        return Ok(Some((f, None)));
    }
    match arg.rsplit_once(':') {
        Some((n, i)) => match i.parse::<usize>() {
            Ok(i) if i > 0 => Ok(store.file(kind, n).map(|f| (f, Some(i)))),
            _ => Err(format!(
                "wrong {} index after colons in '{arg}'!\n",
                kind.word()
            )),
        },
        None => Ok(None),
    }
}

/// `show ssl ca-file NAME[:INDEX]`: the certificates of a CA file (the INDEXth alone).
fn ca_details(store: &CertStore, arg: &str) -> String {
    let (file, index) = match find_indexed(store, FileKind::Ca, arg) {
        Ok(Some(found)) => found,
        Ok(None) => return "Can't display the CA file : Not found!\n".into(),
        Err(e) => return e,
    };
    let certs = fulcrum_tls::store::ca_certificates(&file);
    // An empty file, or an index past its end, prints nothing (as haproxy 2.6).
    if certs.is_empty() || index.is_some_and(|i| i > certs.len()) {
        return String::new();
    }
    let mut out = format!(
        "Filename: {}\nStatus: {}\n",
        file.name,
        if file.used { "Used" } else { "Unused" }
    );
    for (n, c) in certs.iter().enumerate().map(|(n, c)| (n + 1, c)) {
        if index.is_some_and(|i| i != n) {
            continue;
        }
        let Some(i) = CertInfo::of(c) else { continue };
        out.push_str(&format!(
            " \nCertificate #{n}:\nSerial: {}\nnotBefore: {}\nnotAfter: {}\nSubject Alternative Name: {}\nAlgorithm: {}\nSHA1 FingerPrint: {}\nSubject: {}\nIssuer: {}\n",
            i.serial, i.not_before, i.not_after, i.san, i.algorithm, i.sha1, i.subject, i.issuer
        ));
    }
    out
}

/// `show ssl crl-file NAME[:INDEX]`: the revocation lists of a CRL file (the INDEXth alone), as OpenSSL
/// prints them.
fn crl_details(store: &CertStore, arg: &str) -> String {
    let (file, index) = match find_indexed(store, FileKind::Crl, arg) {
        Ok(Some(found)) => found,
        Ok(None) => return "Can't display the CRL file : Not found!\n".into(),
        Err(e) => return e,
    };
    let crls = fulcrum_tls::store::crls(&file);
    let status = match (crls.is_empty(), file.used) {
        (true, _) => "Empty",
        (false, true) => "Used",
        (false, false) => "Unused",
    };
    let mut out = format!("Filename: {}\nStatus: {status}\n", file.name);
    for (n, der) in crls.iter().enumerate().map(|(n, c)| (n + 1, c)) {
        if index.is_some_and(|i| i != n) {
            continue;
        }
        out.push_str(&format!(" \nCertificate Revocation List #{n}:\n"));
        match fulcrum_tls::crl_text::describe(der) {
            Some(text) => out.push_str(&text),
            None => out.push_str("(unreadable)\n"),
        }
    }
    out
}

/// `show ssl ca-file` / `show ssl crl-file`: the files, the open transaction's first.
fn list(store: &CertStore, kind: FileKind) -> String {
    let line = |f: &FileView| match kind {
        FileKind::Ca => format!(
            "{} - {} certificate(s)\n",
            f.name,
            fulcrum_tls::store::ca_certificates(f).len()
        ),
        FileKind::Crl => format!("{}\n", f.name),
    };
    let (pending, files) = store.file_list(kind);
    let mut out = String::new();
    if let Some(p) = &pending {
        out.push_str("# transaction\n");
        out.push_str(&line(p));
    }
    out.push_str("# filename\n");
    for f in &files {
        out.push_str(&line(f));
    }
    out
}

/// A `ca-file` or `crl-file` command (`words` from `show|set|commit|abort|new|del`), with the payload of `set`.
/// `None` when the words are no such command.
pub fn command(store: &CertStore, words: &[&str], payload: Option<&str>) -> Option<String> {
    let (verb, kw, name) = match words {
        [verb, "ssl", kw @ ("ca-file" | "crl-file"), rest @ ..] => {
            (*verb, *kw, rest.first().copied())
        }
        _ => return None,
    };
    let kind = if kw == "ca-file" {
        FileKind::Ca
    } else {
        FileKind::Crl
    };
    let text = |r: Result<String, FileError>| match r {
        Ok(t) => t,
        Err(e) => e.to_string(),
    };
    Some(match (verb, name) {
        ("show", None) => list(store, kind),
        ("show", Some(n)) if kind == FileKind::Ca => ca_details(store, n),
        ("show", Some(n)) => crl_details(store, n),
        ("set", Some(n)) if payload.is_some() => text(
            store
                .set_file(kind, n, payload.unwrap_or_default().as_bytes())
                .map(|created| {
                    format!(
                        "transaction {} for {} {n}!\n",
                        if created { "created" } else { "updated" },
                        kind.word()
                    )
                }),
        ),
        ("set", _) => format!(
            "'set ssl {kw} expects a filename and {}s as a payload\n",
            kind.word()
        ),
        ("commit", Some(n)) => text(
            store
                .commit_file(kind, n)
                // A dot for each bind line, crt-list line and server now using it.
                .map(|users| format!("Committing {n}{}\nSuccess!\n", ".".repeat(users))),
        ),
        ("commit", None) => format!("'commit ssl {kw} expects a filename\n"),
        ("abort", Some(n)) => text(
            store
                .abort_file(kind, n)
                .map(|()| format!("Transaction aborted for certificate '{n}'!\n")),
        ),
        ("abort", None) => format!("'abort ssl {kw}' expects a filename\n"),
        ("new", Some(n)) => text(
            store
                .new_file(kind, n)
                .map(|()| format!("New {} file created '{n}'!\n", kind.word())),
        ),
        ("new", None) => format!("'new ssl {kw}' expects a filename\n"),
        ("del", Some(n)) => text(
            store
                .del_file(kind, n)
                .map(|()| format!("{} file '{n}' deleted!\n", kind.word())),
        ),
        ("del", None) => format!("'del ssl {kw}' expects a {} file name\n", kind.word()),
        _ => return None,
    })
}
