//! `option pgsql-check user NAME`: send a StartupMessage, pass when the server asks for authentication (or
//! accepts the user outright).
//!
//! As HAProxy 2.6: an `ErrorResponse` (`E`) is an invalid response whose info is the first field's text (the
//! severity, `FATAL`); an `AuthenticationXXX` message (`R`, length 8 to 255, a request code 0, 2 to 7, 9 or 10)
//! passes with `PostgreSQL server is ok`; anything else is a wrong status, `PostgreSQL unknown error`.

use super::{c_str, empty_response, Reply};
use crate::error::SpecError;

/// The info of a passed check.
pub const OK_INFO: &str = "PostgreSQL server is ok";
/// The info of an unexpected reply.
pub const UNKNOWN_INFO: &str = "PostgreSQL unknown error";

/// Authentication request codes that mean "the server is up and talks to us": OK, Kerberos V5, cleartext,
/// crypt, MD5, SCM credentials, GSS, SSPI, SASL.
const AUTH_CODES: &[u8] = &[0, 2, 3, 4, 5, 6, 7, 9, 10];

/// A validated PostgreSQL check: its StartupMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgsqlCheck {
    request: Vec<u8>,
}

impl PgsqlCheck {
    /// The StartupMessage of protocol 3.0 for `user` (not empty, no NUL).
    pub fn new(user: &str) -> Result<Self, SpecError> {
        if user.is_empty() || user.contains('\0') || user.len() > 1024 {
            return Err(SpecError::DatabaseUser(user.to_owned()));
        }
        let mut body = Vec::with_capacity(user.len() + 16);
        body.extend_from_slice(&0x0003_0000u32.to_be_bytes());
        body.extend_from_slice(b"user\0");
        body.extend_from_slice(user.as_bytes());
        body.extend_from_slice(b"\0\0");
        let len = u32::try_from(body.len() + 4).unwrap_or(u32::MAX);
        let mut request = len.to_be_bytes().to_vec();
        request.extend_from_slice(&body);
        Ok(PgsqlCheck { request })
    }

    /// The bytes sent.
    pub fn request(&self) -> &[u8] {
        &self.request
    }
}

/// Whether `buf` starts with an authentication request HAProxy accepts.
fn auth_request(buf: &[u8]) -> bool {
    matches!(buf, [b'R', 0, 0, 0, _, 0, 0, 0, code, ..] if AUTH_CODES.contains(code))
}

/// Judges the reply read so far: `None` while too short to tell.
pub fn judge(buf: &[u8], eof: bool) -> Option<Reply> {
    if buf.len() < 5 && !eof {
        return None;
    }
    if buf.is_empty() {
        return Some(Reply::invalid(empty_response(3)));
    }
    if buf[0] == b'E' {
        // Type, length (4), field type (`S`), then the severity as a C string.
        return Some(Reply::invalid(c_str(buf.get(6..).unwrap_or_default())));
    }
    if buf.len() < 9 && !eof {
        return None;
    }
    if auth_request(buf) {
        Some(Reply::passed(0, OK_INFO))
    } else {
        Some(Reply::wrong_status(0, UNKNOWN_INFO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn startup_message() {
        let c = PgsqlCheck::new("postgres").unwrap();
        let mut want = vec![0, 0, 0, 23, 0, 3, 0, 0];
        want.extend_from_slice(b"user\0postgres\0\0");
        assert_eq!(c.request(), &want[..]);
        assert!(PgsqlCheck::new("").is_err());
        assert!(PgsqlCheck::new("a\0b").is_err());
    }

    #[test]
    fn replies() {
        let ok = Some(Reply::passed(0, OK_INFO));
        assert_eq!(judge(b"R\0\0\0\x08\0\0\0\0", false), ok);
        // MD5 with its salt, SASL with its mechanisms.
        assert_eq!(judge(b"R\0\0\0\x0c\0\0\0\x05salt", false), ok);
        assert_eq!(judge(b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0", false), ok);
        assert_eq!(judge(b"R\0\0\0\x08\0\0\0", false), None);
        assert_eq!(judge(b"R\0\0", false), None);
        let unknown = Some(Reply::wrong_status(0, UNKNOWN_INFO));
        assert_eq!(judge(b"R\0\0\0\x08\0\0\0\x01", false), unknown);
        assert_eq!(judge(b"R\0\0\0\x08\0\0\0\x0b", false), unknown);
        assert_eq!(judge(b"Not a PostgreSQL response", false), unknown);
        assert_eq!(judge(b"R\0", true), unknown);
        assert_eq!(
            judge(b"E\0\0\0\x0bSFATAL\0C28000\0Mbad\0\0", false),
            Some(Reply::invalid(&b"FATAL"[..]))
        );
        assert_eq!(judge(b"Efoo", false), None);
        assert_eq!(judge(b"E", true), Some(Reply::invalid(Vec::new())));
        assert_eq!(
            judge(b"", true),
            Some(Reply::invalid(
                "TCPCHK got an empty response at step 3".as_bytes()
            ))
        );
    }

    proptest! {
        #[test]
        fn decides_at_end_of_stream(buf in prop::collection::vec(any::<u8>(), 0..64)) {
            prop_assert!(judge(&buf, true).is_some());
        }
    }
}
