//! What a runtime API `set ssl cert NAME <<` payload replaces, told by NAME's extension as HAProxy tells it: a
//! name ending in `.key` carries only the private key of the certificate file named without it (`site.pem.key`
//! for `site.pem`; `site.key` for `site.crt` under `ssl-load-extra-del-ext`), `.ocsp` its OCSP response (base64),
//! `.issuer` and `.sctl` the other companions; any other name a whole PEM (certificate, chain, key). Pure: the
//! certificate store applies the parts.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The part of a certificate a payload replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// A PEM with the certificate, its chain and (usually) its key: replaces them all.
    Whole,
    /// A private key alone.
    Key,
    /// A DER OCSP response in base64.
    Ocsp,
    /// The issuer's certificate (used by HAProxy to check OCSP responses).
    Issuer,
    /// A list of Signed Certificate Timestamps.
    Sctl,
}

impl Part {
    /// The part a name's extension says, and the certificate file's name without that extension.
    pub fn of(name: &str) -> (Part, &str) {
        for (ext, part) in [
            (".key", Part::Key),
            (".ocsp", Part::Ocsp),
            (".issuer", Part::Issuer),
            (".sctl", Part::Sctl),
        ] {
            if let Some(base) = name.strip_suffix(ext).filter(|b| !b.is_empty()) {
                return (part, base);
            }
        }
        (Part::Whole, name)
    }

    /// The extension naming the part (`key`, `ocsp` ...), empty for a whole PEM.
    pub fn extension(self) -> &'static str {
        match self {
            Part::Whole => "",
            Part::Key => "key",
            Part::Ocsp => "ocsp",
            Part::Issuer => "issuer",
            Part::Sctl => "sctl",
        }
    }
}

/// What a payload holds once read.
#[derive(Debug)]
pub enum Read {
    /// A whole PEM: the chain (at least one certificate) and the key when there is one.
    Whole(Vec<CertificateDer<'static>>, Option<PrivateKeyDer<'static>>),
    /// A private key.
    Key(PrivateKeyDer<'static>),
    /// An OCSP response (DER).
    Ocsp(Vec<u8>),
}

/// Why a payload could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// No certificate in a whole PEM, or a malformed one.
    Certificate,
    /// No private key in a `.key` payload.
    Key,
    /// Not base64, or not an OCSP response.
    Ocsp,
    /// A part fulcrum does not keep (`.issuer`, `.sctl`).
    NotYet,
}

/// Reads `payload` as `part`.
pub fn read(part: Part, payload: &[u8]) -> Result<Read, Unreadable> {
    match part {
        Part::Whole => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(payload)
                .collect::<Result<_, _>>()
                .map_err(|_| Unreadable::Certificate)?;
            if chain.is_empty() {
                return Err(Unreadable::Certificate);
            }
            match PrivateKeyDer::from_pem_slice(payload) {
                Ok(k) => Ok(Read::Whole(chain, Some(k))),
                Err(rustls::pki_types::pem::Error::NoItemsFound) => Ok(Read::Whole(chain, None)),
                Err(_) => Err(Unreadable::Certificate),
            }
        }
        Part::Key => PrivateKeyDer::from_pem_slice(payload)
            .map(Read::Key)
            .map_err(|_| Unreadable::Key),
        Part::Ocsp => {
            use base64::Engine;
            let text: Vec<u8> = payload
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(&text)
                .map_err(|_| Unreadable::Ocsp)?;
            crate::ocsp::serials(&der).ok_or(Unreadable::Ocsp)?;
            Ok(Read::Ocsp(der))
        }
        Part::Issuer | Part::Sctl => Err(Unreadable::NotYet),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_tells_the_part() {
        assert_eq!(Part::of("/d/site.pem"), (Part::Whole, "/d/site.pem"));
        assert_eq!(Part::of("/d/site.pem.key"), (Part::Key, "/d/site.pem"));
        assert_eq!(Part::of("/d/site.key"), (Part::Key, "/d/site"));
        assert_eq!(Part::of("/d/site.crt.ocsp"), (Part::Ocsp, "/d/site.crt"));
        assert_eq!(Part::of("/d/site.issuer"), (Part::Issuer, "/d/site"));
        assert_eq!(Part::of("x.sctl"), (Part::Sctl, "x"));
        assert_eq!(Part::of(".key"), (Part::Whole, ".key"));
    }

    #[test]
    fn payloads_are_read_as_their_part() {
        assert_eq!(
            read(Part::Whole, b"nothing").err(),
            Some(Unreadable::Certificate)
        );
        assert_eq!(read(Part::Key, b"nothing").err(), Some(Unreadable::Key));
        assert_eq!(read(Part::Ocsp, b"!!!").err(), Some(Unreadable::Ocsp));
        // Base64 of bytes that are no OCSP response.
        assert_eq!(read(Part::Ocsp, b"AAAA").err(), Some(Unreadable::Ocsp));
        assert_eq!(read(Part::Issuer, b"").err(), Some(Unreadable::NotYet));
        let key = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .output()
            .expect("openssl is needed");
        assert!(matches!(read(Part::Key, &key.stdout), Ok(Read::Key(_))));
        // A key is no certificate.
        assert_eq!(
            read(Part::Whole, &key.stdout).err(),
            Some(Unreadable::Certificate)
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            for part in [Part::Whole, Part::Key, Part::Ocsp, Part::Sctl] {
                let _ = read(part, &bytes);
            }
        }
    }
}
