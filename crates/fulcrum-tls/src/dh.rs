//! `ssl-dh-param-file FILE`: the file must hold PKCS#3 Diffie-Hellman parameters (`-----BEGIN DH PARAMETERS-----`,
//! as `openssl dhparam` writes them; HAProxy refuses X9.42 ones too), checked as HAProxy checks it at load. rustls
//! has no finite-field DHE suites, so the parameters are not used beyond that check.

use std::path::Path;

use base64::Engine;

use crate::dn::tlv;
use crate::TlsError;

const BEGIN: &str = "-----BEGIN DH PARAMETERS-----";
const END: &str = "-----END DH PARAMETERS-----";

/// Checks that `path` holds DH parameters: a PEM block whose DER is a SEQUENCE of a prime and a generator
/// (positive INTEGERs), and optionally the private value's length.
pub fn check_file(path: &Path) -> Result<(), TlsError> {
    let bad = || TlsError::DhParams(path.to_path_buf());
    let text = std::fs::read(path).map_err(|_| bad())?;
    parse(&String::from_utf8_lossy(&text)).ok_or_else(bad)
}

fn parse(text: &str) -> Option<()> {
    let body = text.split_once(BEGIN)?.1.split_once(END)?.0;
    let b64: String = body.split_ascii_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let (0x30, params, rest) = tlv(&der)? else {
        return None;
    };
    if !rest.is_empty() {
        return None;
    }
    let (0x02, p, params) = tlv(params)? else {
        return None;
    };
    let (0x02, g, params) = tlv(params)? else {
        return None;
    };
    let positive = |n: &[u8]| n.first().is_some_and(|b| b & 0x80 == 0) && n.iter().any(|b| *b != 0);
    if !positive(p) || !positive(g) {
        return None;
    }
    match tlv(params) {
        None if params.is_empty() => Some(()),
        Some((0x02, _, [])) => Some(()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7919's ffdhe2048 group, as `openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048` writes it.
    const FFDHE2048: &str = "-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
";

    #[test]
    fn dh_parameters_are_told_from_anything_else() {
        assert_eq!(parse(FFDHE2048), Some(()));
        assert_eq!(
            parse(&format!("# comment\n{FFDHE2048}trailing\n")),
            Some(())
        );
        assert_eq!(parse(""), None);
        assert_eq!(parse("junk\n"), None);
        assert_eq!(
            parse(&FFDHE2048.replace("DH PARAMETERS", "X9.42 DH PARAMETERS")),
            None
        );
        assert_eq!(parse(&FFDHE2048.replace("MIIBCAKC", "MIIBCAKD")), None);
        assert_eq!(
            parse("-----BEGIN DH PARAMETERS-----\nMAA=\n-----END DH PARAMETERS-----\n"),
            None
        );
    }
}
