//! The runtime API's certificate commands (`show ssl cert`, `set ssl cert NAME <<`, `commit ssl cert`,
//! `abort ssl cert`, `show ssl ocsp-response [KEY]`, `set ssl ocsp-response`) over the proxy's certificate
//! store, answered in HAProxy's words.

use fulcrum_tls::info::CertInfo;
use fulcrum_tls::ocsp_text;
use fulcrum_tls::store::{CertStore, StoreError};

/// `show ssl cert NAME` (`*NAME`: the open transaction's certificate); `NAME.ocsp` (`*NAME.ocsp`) prints the
/// OCSP response of certificate file NAME, as `show ssl ocsp-response KEY` does.
pub fn details(store: &CertStore, name: &str) -> Option<String> {
    let Some((chain, used)) = store.get(name) else {
        // A certificate without a response: nothing (haproxy 2.6 answers with the empty line alone).
        let base = name.strip_suffix(".ocsp")?;
        store.get(base)?;
        return Some(match store.ocsp_of(base) {
            Some((_, der)) => ocsp_text::cli_text(&der)?,
            None => String::new(),
        });
    };
    let leaf = chain.first()?;
    let i = CertInfo::of(leaf)?;
    let mut out = format!(
        "Filename: {name}\nStatus: {}\nSerial: {}\nnotBefore: {}\nnotAfter: {}\nSubject Alternative Name: {}\nAlgorithm: {}\nSHA1 FingerPrint: {}\nSubject: {}\nIssuer: {}\n",
        if used { "Used" } else { "Unused" },
        i.serial,
        i.not_before,
        i.not_after,
        i.san,
        i.algorithm,
        i.sha1,
        i.subject,
        i.issuer
    );
    for (n, c) in chain.iter().enumerate().skip(1) {
        if let Some(ci) = CertInfo::of(c) {
            out.push_str(&format!(
                "Chain Subject: {}\nChain Issuer: {}\n",
                ci.subject, ci.issuer
            ));
        } else {
            out.push_str(&format!("Chain certificate {n}: unreadable\n"));
        }
    }
    // After the chain, as HAProxy prints it: the certificate ID of the response stapled with it.
    let key = store
        .ocsp_of(name)
        .and_then(|(leaf, der)| ocsp_text::id_for(&leaf, &der))
        .map(|id| id.key_hex())
        .unwrap_or_default();
    out.push_str(&format!("OCSP Response Key: {key}\n"));
    Some(out)
}

/// `set ssl cert NAME <<` + payload (NAME may name a part: `site.pem.key` ...); the answer names the certificate
/// file, as HAProxy's does.
pub fn set(store: &CertStore, name: &str, payload: &str) -> Result<String, String> {
    match store.set(name, payload.as_bytes()) {
        Ok((file, true)) => Ok(format!("Transaction created for certificate {file}!\n")),
        Ok((file, false)) => Ok(format!("Transaction updated for certificate {file}!\n")),
        Err(e) => Err(e.to_string()),
    }
}

/// `commit ssl cert NAME`.
pub fn commit(store: &CertStore, name: &str) -> Result<String, String> {
    store
        .commit(name)
        // A dot for each place the certificate is served from, as HAProxy counts its instances.
        .map(|users| format!("Committing {name}{}\nSuccess!\n", ".".repeat(users)))
        .map_err(|e| e.to_string())
}

/// `abort ssl cert NAME`.
pub fn abort(store: &CertStore, name: &str) -> Result<String, String> {
    match store.abort(name) {
        Ok(()) => Ok(format!("Transaction aborted for certificate '{name}'!\n")),
        Err(StoreError::NoTransaction(_)) => match store.names().0 {
            Some(open) => Err(format!(
                "The ongoing transaction is about '{open}' but you are trying to abort a transaction for '{name}'\n"
            )),
            None => Err("No ongoing transaction!\n".into()),
        },
        Err(e) => Err(e.to_string()),
    }
}

/// `new ssl cert`, `del ssl cert`, `show ssl crt-list [-n] [FILE]`, `add ssl crt-list FILE CERT` (or a line as
/// `payload`), `del ssl crt-list FILE CERT[:LINE]`: the answer, in HAProxy's words where it has some.
pub fn list_command(store: &CertStore, words: &[&str], payload: Option<&str>) -> String {
    // A crt-list named with trailing slashes is the same list, as HAProxy reads it.
    let trimmed: Vec<&str> = words
        .iter()
        .enumerate()
        .map(|(i, w)| match (i, words.get(2)) {
            (3, Some(&"crt-list")) if w.len() > 1 => w.trim_end_matches('/'),
            (4, Some(&"crt-list")) if words[3] == "-n" && w.len() > 1 => w.trim_end_matches('/'),
            _ => w,
        })
        .collect();
    let words = trimmed.as_slice();
    if let Some(answer) = crate::control::cafile_api::command(store, words, payload) {
        return answer;
    }
    let answer = |r: Result<String, fulcrum_tls::store::ListError>| match r {
        Ok(t) => t,
        Err(e) => e.to_string(),
    };
    match words {
        ["new", "ssl", "cert", name, ..] => answer(
            store
                .create(name)
                .map(|()| format!("New empty certificate store '{name}'!\n")),
        ),
        ["del", "ssl", "cert", name, ..] => answer(
            store
                .delete(name)
                .map(|()| format!("Certificate '{name}' deleted!\n")),
        ),
        ["new" | "del", "ssl", "cert"] => "'new ssl cert' and 'del ssl cert' expect a certificate name\n".into(),
        ["show", "ssl", "crt-list"] => store.list_names().iter().map(|n| format!("{n}\n")).collect(),
        ["show", "ssl", "crt-list", rest @ ..] => {
            let (numbers, name) = match rest {
                ["-n", name, ..] => (true, *name),
                ["-n"] => {
                    return store.list_names().iter().map(|n| format!("{n}\n")).collect();
                }
                [name, ..] => (false, *name),
                [] => unreachable!("matched above"),
            };
            let Some(lines) = store.list_lines(name) else {
                return "didn't find the specified filename\n".into();
            };
            let mut out = format!("# {name}\n");
            for l in lines {
                out.push_str(&l.file);
                if numbers {
                    out.push_str(&format!(":{}", l.line));
                }
                if let Some(o) = &l.options {
                    out.push_str(&format!(" [{o}]"));
                }
                for f in &l.filters {
                    out.push(' ');
                    out.push_str(f);
                }
                out.push('\n');
            }
            out
        }
        ["add", "ssl", "crt-list", list, rest @ ..] => {
            // The one-line form takes the certificate alone (as haproxy 2.6, which ignores what follows it); the
            // payload form a whole crt-list line.
            let line = match (payload, rest.first()) {
                (Some(p), _) => p.lines().find(|l| !l.trim().is_empty()).unwrap_or("").to_string(),
                (None, Some(cert)) => cert.to_string(),
                (None, None) => String::new(),
            };
            if line.trim().is_empty() {
                return "'add ssl crt-list' expects a filename and a certificate name (or a crt-list line as a payload)\n".into();
            }
            let entry = match fulcrum_tls::crtlist::parse(&line, list) {
                Ok(mut e) if e.len() == 1 => e.remove(0),
                Ok(_) => return "Can't edit the crt-list: one line expected\n".into(),
                // An unknown option is named as HAProxy names it on the CLI.
                Err(e) => match e
                    .split_once("unknown option '")
                    .and_then(|(_, w)| w.split_once('\''))
                {
                    Some((word, _)) => {
                        return format!(
                            "Can't edit the crt-list: parsing [CLI:1]: unknown ssl keyword {word}\n"
                        )
                    }
                    None => return format!("Can't edit the crt-list: {e}\n"),
                },
            };
            let file = entry.file.display().to_string();
            let options = entry.options_text.clone().zip(entry.options.clone());
            answer(
                store
                    .add_line(list, &file, options, entry.written_filters())
                    .map(|warnings| {
                        for w in warnings {
                            tracing::warn!(crt_list = %list, file = %file, "{w}");
                        }
                        format!("Inserting certificate '{file}' in crt-list '{list}'.\nSuccess!\n")
                    }),
            )
        }
        ["del", "ssl", "crt-list", list, cert, ..] => {
            let (file, line) = match cert.rsplit_once(':') {
                Some((f, n)) if n.parse::<usize>().is_ok() => (f, n.parse().ok()),
                _ => (*cert, None),
            };
            answer(
                store
                    .delete_line(list, file, line)
                    .map(|()| format!("Entry '{file}' deleted in crtlist '{list}'!\n")),
            )
        }
        ["add" | "del", "ssl", "crt-list", ..] => {
            "'add ssl crt-list' and 'del ssl crt-list' expect a crt-list filename and a certificate\n".into()
        }
        ["show", "ssl", "ocsp-response"] => {
            let mut out = String::from("# Certificate IDs\n");
            for (id, _) in store.ocsp_responses() {
                out.push_str(&id.list_entry());
            }
            out
        }
        ["show", "ssl", "ocsp-response", key, ..] => {
            let key = key.to_ascii_lowercase();
            store
                .ocsp_responses()
                .into_iter()
                .find(|(id, _)| id.key_hex() == key)
                .and_then(|(_, der)| ocsp_text::cli_text(&der))
                .unwrap_or_else(|| "Certificate ID does not match any certificate.\n".into())
        }
        ["set", "ssl", "ocsp-response", rest @ ..] => {
            use base64::Engine;
            let text: String = match (payload, rest.first()) {
                (Some(p), _) => p.split_whitespace().collect(),
                (None, Some(b)) => (*b).to_string(),
                (None, None) => String::new(),
            };
            if text.is_empty() {
                return "'set ssl ocsp-response' expects response in base64 encoding.\n".into();
            }
            let Ok(der) = base64::engine::general_purpose::STANDARD.decode(text.as_bytes()) else {
                return "'set ssl ocsp-response' received invalid base64 encoded response.\n".into();
            };
            match store.set_ocsp(&der) {
                None => "Unable to parse OCSP response.\n".into(),
                Some(0) => "OCSP single response: Certificate ID does not match any certificate or issuer.\n".into(),
                Some(_) => "OCSP Response updated!\n".into(),
            }
        }
        _ => "unknown ssl command\n".into(),
    }
}
