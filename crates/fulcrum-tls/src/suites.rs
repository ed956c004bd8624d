//! HAProxy's `ciphers`, `ciphersuites` and `curves` lists, written in OpenSSL's syntax, turned into what rustls
//! offers. rustls implements TLS 1.2 and 1.3 with AEAD suites and ECDHE only: an OpenSSL name with no rustls
//! counterpart is reported (never silently kept), and a list left with nothing is an error, as with OpenSSL.

use rustls::crypto::{SupportedKxGroup, WebPkiSupportedAlgorithms};
use rustls::{CipherSuite, SupportedCipherSuite};

use rustls::crypto::aws_lc_rs::{cipher_suite as cs, kx_group};

/// OpenSSL's name of every suite rustls offers, in a sensible default preference.
const SUITES: &[(&str, SupportedCipherSuite)] = &[
    ("TLS_AES_128_GCM_SHA256", cs::TLS13_AES_128_GCM_SHA256),
    ("TLS_AES_256_GCM_SHA384", cs::TLS13_AES_256_GCM_SHA384),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        cs::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The TLS 1.2 suites (the `ciphers` list's domain).
fn tls12() -> impl Iterator<Item = &'static (&'static str, SupportedCipherSuite)> {
    SUITES.iter().filter(|(n, _)| !n.starts_with("TLS_"))
}

/// The suites offered when no list is written: TLS 1.3 ones, then TLS 1.2 ones, each in the preference order of
/// [`SUITES`] (AES-128-GCM, then AES-256-GCM, then ChaCha20-Poly1305; ECDSA before RSA).
pub fn defaults() -> (Vec<SupportedCipherSuite>, Vec<SupportedCipherSuite>) {
    (
        SUITES
            .iter()
            .filter(|(n, _)| n.starts_with("TLS_"))
            .map(|(_, s)| *s)
            .collect(),
        tls12().map(|(_, s)| *s).collect(),
    )
}

/// OpenSSL's name of a negotiated suite (`ssl_fc_cipher`, `%sslc`).
pub fn openssl_name(suite: CipherSuite) -> &'static str {
    SUITES
        .iter()
        .find(|(_, s)| s.suite() == suite)
        .map_or("UNKNOWN", |(n, _)| n)
}

/// What a list kept, and the words it named that rustls cannot offer (to be reported as warnings).
#[derive(Debug)]
pub struct Picked<T> {
    /// In preference order.
    pub kept: Vec<T>,
    /// Words with no rustls counterpart.
    pub dropped: Vec<String>,
}

impl<T> Picked<T> {
    fn new() -> Self {
        Picked {
            kept: Vec::new(),
            dropped: Vec::new(),
        }
    }
}

/// Which TLS 1.2 suites an OpenSSL alias covers, by OpenSSL name; `None` when the word is no alias known here.
fn alias(word: &str) -> Option<Vec<&'static str>> {
    let all: Vec<&'static str> = tls12().map(|(n, _)| *n).collect();
    let with = |part: &str| -> Vec<&'static str> {
        all.iter().copied().filter(|n| n.contains(part)).collect()
    };
    Some(match word {
        "ALL" | "DEFAULT" | "HIGH" | "ECDHE" | "EECDH" | "kECDHE" | "kEECDH" | "AEAD"
        | "TLSv1.2" | "SSLv3" | "COMPLEMENTOFALL" | "FIPS" => all,
        "ECDSA" | "aECDSA" => with("-ECDSA-"),
        "aRSA" => with("-RSA-"),
        "AESGCM" | "AES" => with("-GCM-"),
        "AES128" => with("AES128"),
        "AES256" => with("AES256"),
        "CHACHA20" => with("CHACHA20"),
        "SHA256" => with("SHA256"),
        "SHA384" => with("SHA384"),
        // Families rustls never offers: they select nothing (OpenSSL's usual exclusions are these).
        "aNULL"
        | "eNULL"
        | "NULL"
        | "MD5"
        | "RC4"
        | "DES"
        | "3DES"
        | "EXP"
        | "EXPORT"
        | "LOW"
        | "MEDIUM"
        | "PSK"
        | "aPSK"
        | "kPSK"
        | "SRP"
        | "DSS"
        | "aDSS"
        | "CAMELLIA"
        | "SEED"
        | "IDEA"
        | "ADH"
        | "AECDH"
        | "kDHE"
        | "EDH"
        | "DHE"
        | "kEDH"
        | "CBC"
        | "SHA1"
        | "SHA"
        | "kRSA"
        | "RSA"
        | "COMPLEMENTOFDEFAULT"
        | "ARIA"
        | "CCM"
        | "CCM8"
        | "aGOST"
        | "kGOST"
        | "GOST94"
        | "GOST89MAC"
        | "SSLv2"
        | "TLSv1"
        | "TLSv1.0"
        | "DH"
        | "kDH"
        | "ECDH"
        | "kECDH"
        | "aECDH" => Vec::new(),
        _ => return None,
    })
}

/// Parses a `ciphers` list (TLS 1.2): names, aliases, `A+B` intersections, `!X` (never), `-X` (remove), `+X`
/// (move to the end), `@STRENGTH` and `@SECLEVEL=n` (no effect here).
pub fn ciphers(list: &str) -> Result<Picked<SupportedCipherSuite>, String> {
    let mut kept: Vec<&'static str> = Vec::new();
    let mut banned: Vec<&'static str> = Vec::new();
    let mut dropped = Vec::new();
    for token in list.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        if token.starts_with('@') {
            continue;
        }
        let (op, body) = match token.as_bytes()[0] {
            b'!' | b'-' | b'+' => (token.as_bytes()[0], &token[1..]),
            _ => (b' ', token),
        };
        let mut set: Option<Vec<&'static str>> = None;
        for part in body.split('+') {
            let names = match tls12().find(|(n, _)| *n == part) {
                Some((n, _)) => vec![*n],
                None => match alias(part) {
                    Some(v) => v,
                    None => {
                        if op == b' ' {
                            dropped.push(part.to_string());
                        }
                        Vec::new()
                    }
                },
            };
            set = Some(match set {
                None => names,
                Some(s) => s.into_iter().filter(|n| names.contains(n)).collect(),
            });
        }
        let set = set.unwrap_or_default();
        match op {
            b'!' => {
                banned.extend(&set);
                kept.retain(|n| !set.contains(n));
            }
            b'-' => kept.retain(|n| !set.contains(n)),
            b'+' => {
                let (moved, stay): (Vec<_>, Vec<_>) = kept.iter().partition(|n| set.contains(n));
                kept = stay.into_iter().chain(moved).collect();
            }
            _ => {
                for n in set {
                    if !kept.contains(&n) && !banned.contains(&n) {
                        kept.push(n);
                    }
                }
            }
        }
    }
    if kept.is_empty() {
        return Err(format!(
            "no cipher of '{list}' is available (fulcrum's TLS library offers {})",
            tls12().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(Picked {
        kept: kept
            .iter()
            .filter_map(|k| tls12().find(|(n, _)| n == k).map(|(_, s)| *s))
            .collect(),
        dropped,
    })
}

/// Parses a `ciphersuites` list (TLS 1.3 names separated by colons).
pub fn ciphersuites(list: &str) -> Result<Picked<SupportedCipherSuite>, String> {
    let mut out = Picked::new();
    for name in list.split(':').filter(|t| !t.is_empty()) {
        match SUITES
            .iter()
            .find(|(n, _)| *n == name && n.starts_with("TLS_"))
        {
            Some((_, s)) => {
                if !out
                    .kept
                    .iter()
                    .any(|k: &SupportedCipherSuite| k.suite() == s.suite())
                {
                    out.kept.push(*s);
                }
            }
            None => out.dropped.push(name.to_string()),
        }
    }
    if out.kept.is_empty() {
        return Err(format!(
            "no TLS 1.3 cipher suite of '{list}' is available (fulcrum's TLS library offers TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256)"
        ));
    }
    Ok(out)
}

/// Parses a `curves` list (OpenSSL and IANA names separated by colons).
pub fn curves(list: &str) -> Result<Picked<&'static dyn SupportedKxGroup>, String> {
    let mut out = Picked::new();
    for name in list.split(':').filter(|t| !t.is_empty()) {
        let g: Option<&'static dyn SupportedKxGroup> = match name {
            "X25519" | "x25519" => Some(kx_group::X25519),
            "P-256" | "prime256v1" | "secp256r1" => Some(kx_group::SECP256R1),
            "P-384" | "secp384r1" => Some(kx_group::SECP384R1),
            "X25519MLKEM768" => Some(kx_group::X25519MLKEM768),
            "SecP256r1MLKEM768" => Some(kx_group::SECP256R1MLKEM768),
            _ => None,
        };
        match g {
            Some(g) => {
                if !out
                    .kept
                    .iter()
                    .any(|k: &&dyn SupportedKxGroup| k.name() == g.name())
                {
                    out.kept.push(g);
                }
            }
            None => out.dropped.push(name.to_string()),
        }
    }
    if out.kept.is_empty() {
        return Err(format!(
            "no curve of '{list}' is available (fulcrum's TLS library offers X25519, P-256, P-384, X25519MLKEM768, SecP256r1MLKEM768)"
        ));
    }
    Ok(out)
}

/// The signature algorithms used to verify client certificates.
pub fn verify_algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms
}

/// rustls's `max_fragment_size` for `tune.ssl.maxrecord N`: HAProxy counts the plaintext of a record, rustls the
/// record with its 5-byte header.
pub(crate) fn record_size(plaintext: u32) -> usize {
    plaintext as usize + 5
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &Picked<SupportedCipherSuite>) -> Vec<String> {
        p.kept
            .iter()
            .map(|s| openssl_name(s.suite()).to_string())
            .collect()
    }

    #[test]
    fn mozilla_intermediate_keeps_what_rustls_has_and_reports_the_rest() {
        let list = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
        let p = ciphers(list).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&p)[0], "ECDHE-ECDSA-AES128-GCM-SHA256");
        assert_eq!(p.kept.len(), 6);
        assert_eq!(
            p.dropped,
            vec!["DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384"]
        );
    }

    #[test]
    fn aliases_and_exclusions() {
        let p = ciphers("HIGH:!aNULL:!MD5").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.kept.len(), 6);
        assert!(p.dropped.is_empty());
        let p = ciphers("ECDHE+AESGCM:!ECDSA").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            names(&p),
            vec!["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"]
        );
        let p = ciphers("ALL:+CHACHA20").unwrap_or_else(|e| panic!("{e}"));
        assert!(names(&p)[4].contains("CHACHA20") && names(&p)[5].contains("CHACHA20"));
        assert!(ciphers("FOO").is_err());
        assert!(ciphers("DHE-RSA-AES128-SHA:RC4").is_err());
    }

    #[test]
    fn defaults_put_aes128_with_sha256_first() {
        let (t13, t12) = defaults();
        assert_eq!(openssl_name(t13[0].suite()), "TLS_AES_128_GCM_SHA256");
        assert_eq!(t13.len(), 3);
        assert_eq!(
            openssl_name(t12[0].suite()),
            "ECDHE-ECDSA-AES128-GCM-SHA256"
        );
        assert_eq!(t12.len(), 6);
    }

    #[test]
    fn suites_and_curves() {
        let p = ciphersuites("TLS_AES_256_GCM_SHA384:TLS_AES_128_CCM_SHA256")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&p), vec!["TLS_AES_256_GCM_SHA384"]);
        assert_eq!(p.dropped, vec!["TLS_AES_128_CCM_SHA256"]);
        assert!(ciphersuites("FOO").is_err());
        let c = curves("X448:P-256:X25519").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.kept.len(), 2);
        assert_eq!(c.dropped, vec!["X448"]);
        assert!(curves("FOO").is_err());
    }
}
