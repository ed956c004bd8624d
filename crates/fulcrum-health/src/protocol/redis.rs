//! `option redis-check`: send `PING`, pass when `+PONG` comes back.
//!
//! As HAProxy 2.6: the reply passes when it holds `+PONG\r\n` anywhere (info `Redis server is ok`); anything
//! else is a wrong status once the server closes (or the reply fills the buffer), with the reply's first line
//! as info. While the connection stays open without `+PONG`, the check waits (and times out).

use super::{cut_crlf, empty_response, Reply};

/// `PING` as a RESP array of one bulk string.
pub const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

/// The info of a passed check.
pub const OK_INFO: &str = "Redis server is ok";

const PONG: &[u8] = b"+PONG\r\n";

/// Judges the reply read so far: `None` while `+PONG` may still come.
pub fn judge(buf: &[u8], eof: bool) -> Option<Reply> {
    if buf.windows(PONG.len()).any(|w| w == PONG) {
        return Some(Reply::passed(0, OK_INFO));
    }
    if !eof {
        return None;
    }
    if buf.is_empty() {
        return Some(Reply::wrong_status(0, empty_response(2)));
    }
    Some(Reply::wrong_status(0, cut_crlf(buf)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn replies() {
        assert_eq!(judge(b"+PONG\r\n", false), Some(Reply::passed(0, OK_INFO)));
        assert_eq!(
            judge(b"xx+PONG\r\n-ERR\r\n", false),
            Some(Reply::passed(0, OK_INFO))
        );
        assert_eq!(judge(b"+PONG", false), None);
        assert_eq!(judge(b"-Error message\r\n", false), None);
        assert_eq!(
            judge(b"-Error message\r\n", true),
            Some(Reply::wrong_status(0, &b"-Error message"[..]))
        );
        assert_eq!(
            judge(b"+PO", true),
            Some(Reply::wrong_status(0, &b"+PO"[..]))
        );
        assert_eq!(
            judge(b"\r\n-ERR\r\n", true),
            Some(Reply::wrong_status(0, Vec::new()))
        );
        assert_eq!(
            judge(b"", true),
            Some(Reply::wrong_status(
                0,
                "TCPCHK got an empty response at step 2".as_bytes()
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
