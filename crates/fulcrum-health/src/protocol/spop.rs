//! `option spop-check`: the SPOP HELLO handshake (HAProxy's doc/SPOE.txt, sections 3.1 and 3.2), as a health
//! check.
//!
//! The check sends a HAPROXY-HELLO frame (versions `2.0`, a maximum frame size of 16380, no capabilities,
//! `healthcheck` true) and waits for the whole first frame. An AGENT-HELLO of version 2.0 whose maximum frame
//! size lies within 256..=16380 passes with `SPOA server is ok`; anything else is an invalid response whose
//! info is the SPOP error text (an AGENT-DISCONNECT's is the one of its status code), as HAProxy 2.6 logs.

use super::{empty_response, Reply};

/// The info of a passed check.
pub const OK_INFO: &str = "SPOA server is ok";

/// The largest frame this side takes (HAProxy's default buffer less the length field).
pub const MAX_FRAME_SIZE: u32 = 16380;
/// The smallest frame size a peer may announce.
pub const MIN_FRAME_SIZE: u32 = 256;

const HAPROXY_HELLO: u8 = 1;
const AGENT_HELLO: u8 = 101;
const AGENT_DISCONNECT: u8 = 102;
const FLAG_FIN: u32 = 1;

const TYPE_BOOL: u8 = 1;
const TYPE_UINT32: u8 = 3;
const TYPE_STRING: u8 = 8;
const BOOL_TRUE: u8 = 0x10;

/// SPOP status codes and HAProxy's texts for them.
const ERRORS: &[&str] = &[
    "normal",
    "I/O error",
    "a timeout occurred",
    "frame is too big",
    "invalid frame received",
    "version value not found",
    "max-frame-size value not found",
    "capabilities value not found",
    "unsupported version",
    "max-frame-size too big or too small",
    "fragmentation not supported",
    "invalid interlaced frames",
    "frame-id not found",
    "resource allocation error",
];
const UNKNOWN_ERROR: &str = "an unknown error occurred";

const INVALID: u64 = 4;
const NO_VERSION: u64 = 5;
const NO_FRAME_SIZE: u64 = 6;
const BAD_VERSION: u64 = 8;
const BAD_FRAME_SIZE: u64 = 9;
const FRAGMENTED: u64 = 10;

/// HAProxy's text for SPOP status `code`.
pub fn error_text(code: u64) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|i| ERRORS.get(i))
        .copied()
        .unwrap_or(UNKNOWN_ERROR)
}

/// Appends `v` as an SPOP varint.
fn put_varint(out: &mut Vec<u8>, v: u64) {
    if v < 240 {
        out.push(v as u8);
        return;
    }
    out.push((v | 0xf0) as u8);
    let mut v = (v - 240) >> 4;
    while v >= 128 {
        out.push((v | 0x80) as u8);
        v = (v - 128) >> 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// The HAPROXY-HELLO frame the check sends, its length first.
pub fn hello_frame() -> Vec<u8> {
    let mut frame = vec![HAPROXY_HELLO];
    frame.extend_from_slice(&FLAG_FIN.to_be_bytes());
    // Stream and frame IDs.
    frame.extend_from_slice(&[0, 0]);
    put_str(&mut frame, "supported-versions");
    frame.push(TYPE_STRING);
    put_str(&mut frame, "2.0");
    put_str(&mut frame, "max-frame-size");
    frame.push(TYPE_UINT32);
    put_varint(&mut frame, u64::from(MAX_FRAME_SIZE));
    put_str(&mut frame, "capabilities");
    frame.push(TYPE_STRING);
    put_str(&mut frame, "");
    put_str(&mut frame, "healthcheck");
    frame.push(TYPE_BOOL | BOOL_TRUE);
    let mut out = (frame.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&frame);
    out
}

/// Reads SPOP's wire formats from a frame, never past its end.
struct Reader<'a> {
    b: &'a [u8],
}

/// A typed value, as far as the check cares.
enum Value<'a> {
    Int(u64),
    Str(&'a [u8]),
    Other,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.b.split_first()?;
        self.b = rest;
        Some(first)
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.b.len() {
            return None;
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Some(head)
    }

    fn varint(&mut self) -> Option<u64> {
        let first = self.byte()?;
        let mut v = u64::from(first);
        if first < 240 {
            return Some(v);
        }
        let mut shift = 4u32;
        loop {
            let b = self.byte()?;
            if shift > 57 {
                return None;
            }
            v = v.checked_add(u64::from(b) << shift)?;
            shift += 7;
            if b < 128 {
                return Some(v);
            }
        }
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        self.bytes(n)
    }

    fn value(&mut self) -> Option<Value<'a>> {
        let t = self.byte()?;
        Some(match t & 0x0f {
            0 | 1 => Value::Other,
            2..=5 => Value::Int(self.varint()?),
            6 => {
                self.bytes(4)?;
                Value::Other
            }
            7 => {
                self.bytes(16)?;
                Value::Other
            }
            8 => Value::Str(self.string()?),
            9 => {
                self.string()?;
                Value::Other
            }
            _ => return None,
        })
    }
}

/// A version `MAJOR.MINOR` as numbers.
fn version(s: &[u8]) -> Option<(u32, u32)> {
    let s = std::str::from_utf8(s).ok()?.trim();
    let (major, minor) = s.split_once('.')?;
    Some((major.trim().parse().ok()?, minor.trim().parse().ok()?))
}

/// The SPOP status of a complete frame (0 when it is an acceptable AGENT-HELLO).
fn frame_status(frame: &[u8]) -> u64 {
    let mut r = Reader { b: frame };
    let Some(kind) = r.byte() else {
        return INVALID;
    };
    if kind != AGENT_HELLO && kind != AGENT_DISCONNECT {
        return INVALID;
    }
    let Some(flags) = r.bytes(4) else {
        return INVALID;
    };
    if u32::from_be_bytes([flags[0], flags[1], flags[2], flags[3]]) & FLAG_FIN == 0 {
        return FRAGMENTED;
    }
    if r.varint() != Some(0) || r.varint() != Some(0) {
        return INVALID;
    }
    let mut version_seen = None;
    let mut frame_size = None;
    let mut status_code = None;
    while !r.b.is_empty() {
        let (Some(key), Some(value)) = (r.string(), r.value()) else {
            return INVALID;
        };
        match (kind, key, value) {
            (AGENT_HELLO, b"version", Value::Str(v)) => version_seen = Some(version(v)),
            (AGENT_HELLO, b"max-frame-size", Value::Int(n)) => frame_size = Some(n),
            (AGENT_DISCONNECT, b"status-code", Value::Int(n)) => status_code = Some(n),
            (AGENT_HELLO, b"version" | b"max-frame-size", _)
            | (AGENT_DISCONNECT, b"status-code", _) => return INVALID,
            _ => {}
        }
    }
    if kind == AGENT_DISCONNECT {
        return status_code.unwrap_or(99);
    }
    match version_seen {
        None => return NO_VERSION,
        Some(Some((2, 0))) => {}
        Some(_) => return BAD_VERSION,
    }
    match frame_size {
        None => NO_FRAME_SIZE,
        Some(n) if (u64::from(MIN_FRAME_SIZE)..=u64::from(MAX_FRAME_SIZE)).contains(&n) => 0,
        Some(_) => BAD_FRAME_SIZE,
    }
}

/// Judges the reply read so far: `None` until the first frame is complete.
pub fn judge(buf: &[u8], eof: bool) -> Option<Reply> {
    let Some(head) = buf.get(..4) else {
        if !eof {
            return None;
        }
        if buf.is_empty() {
            return Some(Reply::invalid(empty_response(2)));
        }
        return Some(Reply::invalid(error_text(INVALID)));
    };
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if len == 0 {
        return Some(Reply::invalid(error_text(INVALID)));
    }
    let end = usize::try_from(len).unwrap_or(usize::MAX).saturating_add(4);
    let Some(frame) = buf.get(4..end) else {
        if !eof {
            return None;
        }
        return Some(Reply::invalid(error_text(INVALID)));
    };
    match frame_status(frame) {
        0 => Some(Reply::passed(0, OK_INFO)),
        code => Some(Reply::invalid(error_text(code))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A frame of `kind` with `kv` (already encoded), `flags`, stream and frame IDs 0.
    fn frame(kind: u8, flags: u32, kv: &[u8]) -> Vec<u8> {
        let mut f = vec![kind];
        f.extend_from_slice(&flags.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(kv);
        let mut out = (f.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&f);
        out
    }

    fn kv_str(k: &str, v: &str) -> Vec<u8> {
        let mut out = Vec::new();
        put_str(&mut out, k);
        out.push(TYPE_STRING);
        put_str(&mut out, v);
        out
    }

    fn kv_u32(k: &str, v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_str(&mut out, k);
        out.push(TYPE_UINT32);
        put_varint(&mut out, v);
        out
    }

    fn hello(version: &str, size: u64) -> Vec<u8> {
        let kv = [
            kv_str("version", version),
            kv_u32("max-frame-size", size),
            kv_str("capabilities", ""),
        ]
        .concat();
        frame(AGENT_HELLO, FLAG_FIN, &kv)
    }

    fn info(r: Option<Reply>) -> String {
        String::from_utf8(r.expect("a verdict").info).unwrap()
    }

    #[test]
    fn varints() {
        for v in [
            0u64,
            1,
            239,
            240,
            2287,
            2288,
            16380,
            264_431,
            264_432,
            33_818_863,
            u64::from(u32::MAX),
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(Reader { b: &out }.varint(), Some(v), "{v}");
        }
        let mut out = Vec::new();
        put_varint(&mut out, 16380);
        assert_eq!(out, [0xfc, 0xf0, 0x06]);
        assert_eq!(Reader { b: &[0xff, 0xff] }.varint(), None);
    }

    #[test]
    fn haproxy_hello() {
        let f = hello_frame();
        assert_eq!(f.len(), 82);
        assert_eq!(&f[..4], &[0, 0, 0, 78]);
        assert_eq!(&f[4..11], &[HAPROXY_HELLO, 0, 0, 0, 1, 0, 0]);
        let mut r = Reader { b: &f[11..] };
        let mut keys = Vec::new();
        while !r.b.is_empty() {
            keys.push(String::from_utf8(r.string().unwrap().to_vec()).unwrap());
            assert!(r.value().is_some());
        }
        assert_eq!(
            keys,
            [
                "supported-versions",
                "max-frame-size",
                "capabilities",
                "healthcheck"
            ]
        );
    }

    #[test]
    fn agent_hellos() {
        assert_eq!(
            judge(&hello("2.0", 16380), false),
            Some(Reply::passed(0, OK_INFO))
        );
        assert_eq!(
            judge(&hello("2.0", 256), false),
            Some(Reply::passed(0, OK_INFO))
        );
        assert_eq!(
            info(judge(&hello("1.0", 16380), false)),
            "unsupported version"
        );
        assert_eq!(
            info(judge(&hello("2.1", 16380), false)),
            "unsupported version"
        );
        assert_eq!(
            info(judge(&hello("abc", 16380), false)),
            "unsupported version"
        );
        assert_eq!(
            info(judge(&hello("2.0", 100), false)),
            "max-frame-size too big or too small"
        );
        assert_eq!(
            info(judge(&hello("2.0", 20000), false)),
            "max-frame-size too big or too small"
        );
        let no_version = frame(AGENT_HELLO, FLAG_FIN, &kv_u32("max-frame-size", 16380));
        assert_eq!(info(judge(&no_version, false)), "version value not found");
        let no_size = frame(AGENT_HELLO, FLAG_FIN, &kv_str("version", "2.0"));
        assert_eq!(
            info(judge(&no_size, false)),
            "max-frame-size value not found"
        );
        let int_version = frame(AGENT_HELLO, FLAG_FIN, &kv_u32("version", 2));
        assert_eq!(info(judge(&int_version, false)), "invalid frame received");
        let fragment = frame(AGENT_HELLO, 0, &[]);
        assert_eq!(info(judge(&fragment, false)), "fragmentation not supported");
        let notify = frame(3, FLAG_FIN, &[]);
        assert_eq!(info(judge(&notify, false)), "invalid frame received");
    }

    #[test]
    fn disconnects_and_broken_frames() {
        let bye = frame(
            AGENT_DISCONNECT,
            FLAG_FIN,
            &[kv_u32("status-code", 3), kv_str("message", "oops")].concat(),
        );
        assert_eq!(judge(&bye, false), Some(Reply::invalid("frame is too big")));
        let odd = frame(AGENT_DISCONNECT, FLAG_FIN, &kv_u32("status-code", 100));
        assert_eq!(info(judge(&odd, false)), "an unknown error occurred");
        assert_eq!(info(judge(&[0, 0, 0, 0], false)), "invalid frame received");
        let ok = hello("2.0", 16380);
        assert_eq!(judge(&ok[..20], false), None);
        assert_eq!(info(judge(&ok[..20], true)), "invalid frame received");
        assert_eq!(info(judge(b"garbage", true)), "invalid frame received");
        assert_eq!(judge(&[0, 1, 0, 0, 101], false), None);
        assert_eq!(
            info(judge(&[0, 1, 0, 0, 101], true)),
            "invalid frame received"
        );
        assert_eq!(
            info(judge(b"", true)),
            "TCPCHK got an empty response at step 2"
        );
        assert_eq!(error_text(13), "resource allocation error");
        assert_eq!(error_text(50), "an unknown error occurred");
    }

    proptest! {
        #[test]
        fn never_panics(buf in prop::collection::vec(any::<u8>(), 0..96), eof in any::<bool>()) {
            let v = judge(&buf, eof);
            if eof {
                prop_assert!(v.is_some());
            }
            let _ = frame_status(&buf);
        }
    }
}
