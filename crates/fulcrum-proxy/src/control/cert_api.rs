//! The runtime API's certificate commands (`show ssl cert`, `set ssl cert NAME <<`, `commit ssl cert`,
//! `abort ssl cert`) over the proxy's certificate store, answered in HAProxy's words.

use fulcrum_tls::info::CertInfo;
use fulcrum_tls::store::{CertStore, StoreError};

/// `show ssl cert NAME` (`*NAME`: the open transaction's certificate).
pub fn details(store: &CertStore, name: &str) -> Option<String> {
    let (chain, used) = store.get(name)?;
    let leaf = chain.first()?;
    let i = CertInfo::of(leaf)?;
    let mut out = format!(
        "Filename: {name}\nStatus: {}\nSerial: {}\nnotBefore: {}\nnotAfter: {}\nSubject Alternative Name: {}\nAlgorithm: {}\nSHA1 FingerPrint: {}\nSubject: {}\nIssuer: {}\nOCSP Response Key: \n",
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
    Some(out)
}

/// `set ssl cert NAME <<` + payload.
pub fn set(store: &CertStore, name: &str, payload: &str) -> Result<String, String> {
    match store.set(name, payload.as_bytes()) {
        Ok(true) => Ok(format!("Transaction created for certificate {name}!\n")),
        Ok(false) => Ok(format!("Transaction updated for certificate {name}!\n")),
        Err(e) => Err(e.to_string()),
    }
}

/// `commit ssl cert NAME`.
pub fn commit(store: &CertStore, name: &str) -> Result<String, String> {
    store
        .commit(name)
        .map(|()| format!("Committing {name}.\nSuccess!\n"))
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
