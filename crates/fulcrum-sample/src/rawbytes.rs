//! Bytes 0x80-0xFF written as `\xHH` in a configuration, carried through Rust strings.
//!
//! HAProxy's configuration words are byte strings: `str(\xE0)` is the one byte 0xE0, which is not
//! UTF-8. fulcrum's configuration words are Rust strings, so its lexer writes such an escaped byte as
//! one character of the last 256 code points of Unicode (U+10FF00 + the byte, in the supplementary
//! private use area B, which no real configuration writes). The places where a word becomes the bytes
//! of a sample (the literal arguments of fetches and converters, the literal text of a log format)
//! turn those characters back into their bytes; everything else sees an ordinary character.

use std::borrow::Cow;

/// The code point that stands for byte 0x00; byte `b` is `RAW_BYTE_BASE + b`.
const RAW_BYTE_BASE: u32 = 0x10_FF00;
/// The first byte of the UTF-8 form of every such character (U+10FF00..U+10FFFF are `F4 8F BC..BF xx`).
const LEAD: u8 = 0xF4;

/// The character that carries `byte` through a Rust string (bytes below 0x80 are themselves).
pub fn raw_byte_char(byte: u8) -> char {
    if byte < 0x80 {
        char::from(byte)
    } else {
        char::from_u32(RAW_BYTE_BASE + u32::from(byte)).unwrap_or(char::REPLACEMENT_CHARACTER)
    }
}

/// The byte a character made by [`raw_byte_char`] for a byte of 0x80-0xFF carries.
fn raw_byte_of(c: char) -> Option<u8> {
    let v = u32::from(c).checked_sub(RAW_BYTE_BASE)?;
    u8::try_from(v).ok().filter(|b| *b >= 0x80)
}

/// The bytes `s` stands for: its UTF-8 form with each character of [`raw_byte_char`] replaced by its byte.
/// Borrows when `s` holds none (the usual case).
pub fn raw_bytes(s: &str) -> Cow<'_, [u8]> {
    if !s.as_bytes().contains(&LEAD) {
        return Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    extend_raw(&mut out, s);
    Cow::Owned(out)
}

/// Appends the bytes `s` stands for (see [`raw_bytes`]) to `out`.
pub fn extend_raw(out: &mut Vec<u8>, s: &str) {
    if !s.as_bytes().contains(&LEAD) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let mut buf = [0u8; 4];
    for c in s.chars() {
        match raw_byte_of(c) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_every_byte() {
        for b in 0..=255u8 {
            let s: String = ['-', raw_byte_char(b), '-'].iter().collect();
            assert_eq!(&*raw_bytes(&s), &[b'-', b, b'-'], "byte {b:#x}");
        }
    }

    #[test]
    fn ordinary_text_is_kept() {
        assert!(matches!(raw_bytes("abc"), Cow::Borrowed(b"abc")));
        // a real U+00E0 stays UTF-8; other characters starting with F4 too
        assert_eq!(&*raw_bytes("\u{e0}"), "\u{e0}".as_bytes());
        assert_eq!(&*raw_bytes("\u{100000}x"), "\u{100000}x".as_bytes());
        let mut out = b"<".to_vec();
        extend_raw(&mut out, &format!("a{}b", raw_byte_char(0xe0)));
        assert_eq!(out, b"<a\xe0b");
    }
}
