//! `option ldap-check`: send an LDAPv3 anonymous simple bind, pass on a bind response whose result is
//! `success` (RFC 4511, 4.2.2).
//!
//! As HAProxy 2.6: a reply that is not an LDAP message with ID 1 holding a bind response and an enumerated
//! result is `Not LDAPv3 protocol`; a result other than 0 is a wrong status with the result as code; the
//! check waits for the whole message (short or long BER lengths), and a message cut short by the end of the
//! stream is an invalid response.

use super::{empty_response, Reply};

/// `LDAPMessage { messageID 1, bindRequest { version 3, name "", simple "" } }` in BER.
pub const BIND_REQUEST: [u8; 14] = [
    0x30, 0x0c, // SEQUENCE, 12 bytes
    0x02, 0x01, 0x01, // messageID INTEGER 1
    0x60, 0x07, // [APPLICATION 0] BindRequest, 7 bytes
    0x02, 0x01, 0x03, // version INTEGER 3
    0x04, 0x00, // name OCTET STRING ""
    0x80, 0x00, // authentication simple [0] ""
];

/// The info of a passed check.
pub const OK_INFO: &str = "Success";
/// The info when the reply is no LDAPv3 bind response.
pub const NOT_LDAP: &str = "Not LDAPv3 protocol";
/// The info of a bind that did not succeed.
pub const RESULT_INFO: &str = "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9";

/// A BER length at the start of `b`: the length and the bytes it took.
enum Length {
    Known(usize, usize),
    /// More bytes are needed to read it.
    Short,
    /// Not a length this check reads (indefinite, or more than four bytes).
    Bad,
}

fn ber_length(b: &[u8]) -> Length {
    let Some(&first) = b.first() else {
        return Length::Short;
    };
    if first < 0x80 {
        return Length::Known(usize::from(first), 1);
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return Length::Bad;
    }
    match b.get(1..=n) {
        Some(bytes) => Length::Known(
            bytes.iter().fold(0, |acc, &x| acc << 8 | usize::from(x)),
            1 + n,
        ),
        None => Length::Short,
    }
}

/// The result code of a complete LDAP message body (after the outer SEQUENCE header), if it is a bind
/// response to message 1.
fn bind_result(msg: &[u8]) -> Option<u8> {
    let rest = msg.strip_prefix(&[0x02, 0x01, 0x01])?;
    let rest = rest.strip_prefix(&[0x61])?;
    let Length::Known(_, used) = ber_length(rest) else {
        return None;
    };
    match rest.get(used..)? {
        [0x0a, 0x01, code, ..] => Some(*code),
        _ => None,
    }
}

/// Judges the reply read so far: `None` while the message is incomplete.
pub fn judge(buf: &[u8], eof: bool) -> Option<Reply> {
    if buf.len() < BIND_REQUEST.len() && !eof {
        return None;
    }
    if buf.is_empty() {
        return Some(Reply::invalid(empty_response(2)));
    }
    if buf[0] != 0x30 {
        return Some(Reply::invalid(NOT_LDAP));
    }
    let incomplete = || eof.then(|| Reply::invalid(Vec::new()));
    let (len, used) = match ber_length(&buf[1..]) {
        Length::Known(len, used) => (len, used),
        Length::Short => return incomplete(),
        Length::Bad => return Some(Reply::invalid(NOT_LDAP)),
    };
    let Some(msg) = buf.get(1 + used..(1 + used).saturating_add(len)) else {
        return incomplete();
    };
    match bind_result(msg) {
        None => Some(Reply::invalid(NOT_LDAP)),
        Some(0) => Some(Reply::passed(0, OK_INFO)),
        Some(code) => Some(Reply::wrong_status(u16::from(code), RESULT_INFO)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A bind response to message 1 with `result`, short lengths.
    fn response(result: u8) -> Vec<u8> {
        vec![
            0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, result, 0x04, 0x00, 0x04, 0x00,
        ]
    }

    #[test]
    fn bind_responses() {
        assert_eq!(judge(&response(0), false), Some(Reply::passed(0, OK_INFO)));
        assert_eq!(
            judge(&response(1), false),
            Some(Reply::wrong_status(1, RESULT_INFO))
        );
        assert_eq!(
            judge(&response(49), false),
            Some(Reply::wrong_status(49, RESULT_INFO))
        );
        let mut bind_request_echo = response(0);
        bind_request_echo[5] = 0x60;
        assert_eq!(
            judge(&bind_request_echo, false),
            Some(Reply::invalid(NOT_LDAP))
        );
        let mut other_id = response(0);
        other_id[4] = 2;
        assert_eq!(judge(&other_id, false), Some(Reply::invalid(NOT_LDAP)));
        let mut not_enum = response(0);
        not_enum[7] = 0x0b;
        assert_eq!(judge(&not_enum, false), Some(Reply::invalid(NOT_LDAP)));
        assert_eq!(
            judge(b"garbage garbage garbage", true),
            Some(Reply::invalid(NOT_LDAP))
        );
    }

    #[test]
    fn waits_for_the_whole_message() {
        let r = response(0);
        assert_eq!(judge(&r[..13], false), None);
        assert_eq!(judge(&r[..10], true), Some(Reply::invalid(Vec::new())));
        // Long-form lengths (four bytes, then two), the message arriving in two pieces.
        let long = [
            &[
                0x30, 0x84, 0, 0, 0, 0x10, 0x02, 0x01, 0x01, 0x61, 0x84, 0, 0, 0, 0x07, 0x0a, 0x01,
            ][..],
            &[0x00, 0x04, 0x00, 0x04, 0x00],
        ]
        .concat();
        assert_eq!(judge(&long[..17], false), None);
        assert_eq!(judge(&long, false), Some(Reply::passed(0, OK_INFO)));
        let two = [
            0x30, 0x82, 0x00, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00,
            0x04, 0x00,
        ];
        assert_eq!(judge(&two, false), Some(Reply::passed(0, OK_INFO)));
        // '0' then a length far beyond what came.
        assert_eq!(
            judge(b"0garbage garbage garbage", true),
            Some(Reply::invalid(Vec::new()))
        );
        assert_eq!(
            judge(b"", true),
            Some(Reply::invalid(
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
