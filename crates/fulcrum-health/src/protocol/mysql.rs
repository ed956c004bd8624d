//! `option mysql-check [user NAME [post-41|pre-41]]`: read the server's handshake; with a user, log in without
//! a password and quit, and read the login's answer.
//!
//! As HAProxy 2.6: without a user, the first packet decides: an error packet (`0xff`) is a wrong status whose
//! code and info are the error's, anything else passes with the server version as info. With a user, an error
//! in the handshake or in the login's answer is a wrong status; a complete answer of any other kind passes,
//! with the handshake's server version as info. A packet cut short by the end of the stream is an invalid
//! response.

use super::{c_str, empty_response, Reply};
use crate::error::SpecError;

/// `COM_QUIT` in a packet of its own (sequence 0), sent after the login so the server logs a clean exit.
const QUIT: &[u8] = &[1, 0, 0, 0, 1];

/// Client capabilities: `CLIENT_SECURE_CONNECTION` (pre-4.1 packets have 16 bits of them), and
/// `CLIENT_PROTOCOL_41` with it for 4.1 packets.
const CAPS_PRE41: u16 = 0x8000;
const CAPS_41: u32 = 0x0000_8200;
/// `utf8_general_ci`.
const CHARSET: u8 = 0x21;

/// A validated MySQL check: the login and quit packets, or nothing to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlCheck {
    request: Option<Vec<u8>>,
}

impl MysqlCheck {
    /// Without a user: only the server's handshake is read.
    pub fn handshake_only() -> Self {
        MysqlCheck { request: None }
    }

    /// Logs in as `user` (not empty, no NUL) with a 4.1 (`post41`) or an older client authentication packet.
    pub fn login(user: &str, post41: bool) -> Result<Self, SpecError> {
        if user.is_empty() || user.contains('\0') || user.len() > 1024 {
            return Err(SpecError::DatabaseUser(user.to_owned()));
        }
        let mut payload = Vec::with_capacity(user.len() + 40);
        if post41 {
            payload.extend_from_slice(&CAPS_41.to_le_bytes());
            // Max packet size.
            payload.extend_from_slice(&[0x00, 0x80, 0x00, 0x01]);
            payload.push(CHARSET);
            payload.extend_from_slice(&[0; 23]);
        } else {
            payload.extend_from_slice(&CAPS_PRE41.to_le_bytes());
            // Max packet size, on three bytes.
            payload.extend_from_slice(&[0x00, 0x00, 0x01]);
        }
        payload.extend_from_slice(user.as_bytes());
        payload.push(0);
        // No password: an empty auth response.
        payload.push(0);
        let len = u32::try_from(payload.len()).unwrap_or(0).to_le_bytes();
        // Length on three bytes, sequence 1 (the answer to the server's handshake, sequence 0).
        let mut request = vec![len[0], len[1], len[2], 1];
        request.extend_from_slice(&payload);
        request.extend_from_slice(QUIT);
        Ok(MysqlCheck {
            request: Some(request),
        })
    }

    /// The bytes sent once connected, if any.
    pub fn request(&self) -> Option<&[u8]> {
        self.request.as_deref()
    }

    /// Whether the check logs in (and so judges a second packet).
    pub fn logs_in(&self) -> bool {
        self.request.is_some()
    }
}

/// The packet at `at`: its payload and where the next one starts; `None` when it is not all there.
fn packet(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let head = buf.get(at..at.checked_add(4)?)?;
    let len = usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16;
    let end = at + 4 + len;
    Some((buf.get(at + 4..end)?, end))
}

/// An error packet's verdict: its code and message.
fn error(payload: &[u8]) -> Reply {
    let code = match payload {
        [_, lo, hi, ..] => u16::from_le_bytes([*lo, *hi]),
        _ => 0,
    };
    Reply::wrong_status(code, c_str(payload.get(3..).unwrap_or_default()))
}

/// Judges what was read so far; `logs_in` when a login was sent. `None` while a packet is incomplete.
pub fn judge(buf: &[u8], eof: bool, logs_in: bool) -> Option<Reply> {
    if buf.is_empty() {
        let step = if logs_in { 3 } else { 2 };
        return eof.then(|| Reply::invalid(empty_response(step)));
    }
    let incomplete = || eof.then(|| Reply::invalid(Vec::new()));
    let Some((handshake, end)) = packet(buf, 0) else {
        return incomplete();
    };
    if handshake.first() == Some(&0xff) {
        return Some(error(handshake));
    }
    // Protocol version, then the server version as a C string.
    let version = c_str(handshake.get(1..).unwrap_or_default());
    if !logs_in {
        return Some(Reply::passed(0, version));
    }
    let Some((answer, _)) = packet(buf, end) else {
        return incomplete();
    };
    if answer.first() == Some(&0xff) {
        return Some(error(answer));
    }
    Some(Reply::passed(0, version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A handshake (protocol 10) from a server of version `version`.
    fn handshake(version: &str) -> Vec<u8> {
        let mut payload = vec![10];
        payload.extend_from_slice(version.as_bytes());
        payload.push(0);
        payload.extend_from_slice(&[0x0a, 0, 0, 0, b's', b'a', b'l', b't', 0]);
        let mut p = vec![payload.len() as u8, 0, 0, 0];
        p.extend_from_slice(&payload);
        p
    }

    /// An error packet of sequence `seq`.
    fn err_packet(seq: u8, code: u16, msg: &str) -> Vec<u8> {
        let mut payload = vec![0xff];
        payload.extend_from_slice(&code.to_le_bytes());
        payload.extend_from_slice(msg.as_bytes());
        let mut p = vec![payload.len() as u8, 0, 0, seq];
        p.extend_from_slice(&payload);
        p
    }

    const OK_PACKET: &[u8] = &[3, 0, 0, 2, 0, 0, 0];

    #[test]
    fn login_packets() {
        // Pre-4.1: 16-bit capabilities, 3-byte max packet, user, empty scramble; then COM_QUIT.
        let pre = MysqlCheck::login("user", false).unwrap();
        let mut want = vec![11, 0, 0, 1, 0x00, 0x80, 0x00, 0x00, 0x01];
        want.extend_from_slice(b"user\0\0");
        want.extend_from_slice(&[1, 0, 0, 0, 1]);
        assert_eq!(pre.request().unwrap(), &want[..]);
        // 4.1: 32-bit capabilities, max packet, charset, 23 reserved bytes, user, empty auth response.
        let post = MysqlCheck::login("user", true).unwrap();
        let req = post.request().unwrap();
        assert_eq!(req.len(), 47);
        assert_eq!(
            &req[..13],
            &[38, 0, 0, 1, 0x00, 0x82, 0, 0, 0x00, 0x80, 0x00, 0x01, 0x21]
        );
        assert!(req[13..36].iter().all(|&b| b == 0));
        assert_eq!(&req[36..], b"user\0\0\x01\0\0\0\x01");
        assert_eq!(
            MysqlCheck::login("pouet", true)
                .unwrap()
                .request()
                .unwrap()
                .len(),
            48
        );
        assert_eq!(
            MysqlCheck::login("pouet", false)
                .unwrap()
                .request()
                .unwrap()
                .len(),
            21
        );
        assert!(MysqlCheck::login("", true).is_err());
        assert_eq!(MysqlCheck::handshake_only().request(), None);
    }

    #[test]
    fn handshake_alone() {
        let hs = handshake("8.0.19");
        assert_eq!(
            judge(&hs, false, false),
            Some(Reply::passed(0, &b"8.0.19"[..]))
        );
        assert_eq!(judge(&hs[..20], false, false), None);
        assert_eq!(
            judge(&hs[..20], true, false),
            Some(Reply::invalid(Vec::new()))
        );
        // No check of the protocol version, as HAProxy: the text after it is the version.
        assert_eq!(
            judge(b"\x05\0\0\0\x09abcd", true, false),
            Some(Reply::passed(0, &b"abcd"[..]))
        );
        assert_eq!(
            judge(b"\0\0\0\0", true, false),
            Some(Reply::passed(0, Vec::new()))
        );
        let blocked = err_packet(0, 1129, "Host is blocked");
        assert_eq!(
            judge(&blocked, false, false),
            Some(Reply::wrong_status(1129, &b"Host is blocked"[..]))
        );
        assert_eq!(
            judge(b"", true, false),
            Some(Reply::invalid(
                "TCPCHK got an empty response at step 2".as_bytes()
            ))
        );
        assert_eq!(judge(b"garbage", false, false), None);
    }

    #[test]
    fn login_answers() {
        let hs = handshake("8.0.19");
        assert_eq!(judge(&hs, false, true), None);
        assert_eq!(judge(&hs, true, true), Some(Reply::invalid(Vec::new())));
        let ok = [&hs[..], OK_PACKET].concat();
        assert_eq!(
            judge(&ok, false, true),
            Some(Reply::passed(0, &b"8.0.19"[..]))
        );
        assert_eq!(judge(&ok[..ok.len() - 1], false, true), None);
        let msg = "Client does not support authentication protocol requested by server; consider upgrading MySQL client";
        let denied = [&hs[..], &err_packet(2, 1251, msg)].concat();
        assert_eq!(
            judge(&denied, false, true),
            Some(Reply::wrong_status(1251, msg.as_bytes()))
        );
        // A 4.1 error keeps its SQL state marker, as HAProxy logs it.
        let state = [&hs[..], &err_packet(2, 1045, "#28000Access denied")].concat();
        assert_eq!(
            judge(&state, false, true),
            Some(Reply::wrong_status(1045, &b"#28000Access denied"[..]))
        );
        let first = err_packet(0, 1045, "denied");
        assert_eq!(
            judge(&first, false, true),
            Some(Reply::wrong_status(1045, &b"denied"[..]))
        );
        assert_eq!(
            judge(b"\x01\0\0\0\xff", true, true),
            Some(Reply::wrong_status(0, Vec::new()))
        );
        assert_eq!(
            judge(b"", true, true),
            Some(Reply::invalid(
                "TCPCHK got an empty response at step 3".as_bytes()
            ))
        );
    }

    proptest! {
        #[test]
        fn decides_at_end_of_stream(buf in prop::collection::vec(any::<u8>(), 0..64), logs_in in any::<bool>()) {
            prop_assert!(judge(&buf, true, logs_in).is_some());
        }
    }
}
