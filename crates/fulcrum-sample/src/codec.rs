//! Encodings of the converters: base64, URL encoding, hex, JSON escaping, big-endian numbers.
//!
//! Base64 goes through the `base64` crate. The rest is written here because HAProxy's exact
//! output is the point: upper-case hex digits, `url_dec` switching to form decoding after a `?`,
//! JSON escaping of `/` and of every byte outside printable ASCII as `\u00XX`, and the UTF-8
//! decoder of `json(utf8*)` with its error classes and skip lengths.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `base64`: standard alphabet, padded.
pub(crate) fn base64_encode(data: &[u8]) -> Vec<u8> {
    STANDARD.encode(data).into_bytes()
}

/// `ub64enc`: URL-safe alphabet, unpadded.
pub(crate) fn base64url_encode(data: &[u8]) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(data)
        .into_bytes()
}

/// `b64dec`: the input is a series of padded 4-character groups; like HAProxy, padding may end
/// any group (`YQ==YQ==` is `aa`) and non-zero trailing bits are accepted.
pub(crate) fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    const QUAD: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    if s.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for quad in s.chunks(4) {
        QUAD.decode_vec(quad, &mut out).ok()?;
    }
    Some(out)
}

/// `ub64dec`: URL-safe alphabet, padding optional.
pub(crate) fn base64url_decode(s: &[u8]) -> Option<Vec<u8>> {
    const URL: GeneralPurpose = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    URL.decode(s).ok()
}

/// `hex`: two upper-case digits per byte.
pub(crate) fn hex(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 2);
    for &c in data {
        out.push(HEX[usize::from(c >> 4)]);
        out.push(HEX[usize::from(c & 15)]);
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).map(|d| d as u8)
}

/// `hex2i`: hex digits to an integer (wrapping past 64 bits); any other character fails.
pub(crate) fn hex2i(s: &[u8]) -> Option<i64> {
    s.iter().try_fold(0i64, |n, &c| {
        Some(n.wrapping_shl(4).wrapping_add(i64::from(hex_value(c)?)))
    })
}

/// `url_dec`: `%XX` to bytes (a malformed escape fails), `+` to a space in a form, which
/// `in_form` says the input is or which it becomes after a `?`. A NUL byte ends the input.
pub(crate) fn url_decode(s: &[u8], mut in_form: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i).filter(|&&c| c != 0) {
        match c {
            b'+' => out.push(if in_form { b' ' } else { b'+' }),
            b'%' => {
                let hi = hex_value(*s.get(i + 1)?)?;
                let lo = hex_value(*s.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b'?' => {
                in_form = true;
                out.push(c);
            }
            _ => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

/// `url_enc(query)`: every byte but letters, digits and `-._~` as `%XX` (RFC 3986 unreserved).
pub(crate) fn url_encode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(c);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
        }
    }
    out
}

/// How `json()` reads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonInput {
    /// `ascii` (the default): each byte is a character.
    Ascii,
    /// `utf8`: fail on any UTF-8 error.
    Utf8,
    /// `utf8s`: drop the characters in error.
    Utf8S,
    /// `utf8p`: accept overlong encodings, fail on other errors.
    Utf8P,
    /// `utf8ps`: accept overlong encodings, drop other errors.
    Utf8Ps,
}

impl JsonInput {
    /// Parses the argument of `json()`.
    pub(crate) fn parse(s: &str) -> Option<JsonInput> {
        match s {
            "" | "ascii" => Some(JsonInput::Ascii),
            "utf8" => Some(JsonInput::Utf8),
            "utf8s" => Some(JsonInput::Utf8S),
            "utf8p" => Some(JsonInput::Utf8P),
            "utf8ps" => Some(JsonInput::Utf8Ps),
            _ => None,
        }
    }
}

/// What the UTF-8 decoder found wrong with a sequence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Utf8Flags {
    bad_sequence: bool,
    overlong: bool,
    invalid_range: bool,
}

/// Decodes one UTF-8 sequence at the start of `s` the way HAProxy does (5- and 6-byte forms
/// included); returns the code point, the bytes consumed and the problems seen.
fn utf8_next(s: &[u8]) -> (u32, usize, Utf8Flags) {
    let bad = Utf8Flags {
        bad_sequence: true,
        ..Utf8Flags::default()
    };
    let lead = s[0];
    let (mut c, extra) = match lead {
        0x00..=0x7f => return (u32::from(lead), 1, Utf8Flags::default()),
        0x80..=0xbf | 0xfe..=0xff => return (u32::from(lead), 1, bad),
        0xc0..=0xdf => (u32::from(lead & 0x1f), 1),
        0xe0..=0xef => (u32::from(lead & 0x0f), 2),
        0xf0..=0xf7 => (u32::from(lead & 0x07), 3),
        0xf8..=0xfb => (u32::from(lead & 0x03), 4),
        0xfc..=0xfd => (u32::from(lead & 0x01), 5),
    };
    if s.len() < extra + 1 {
        return (u32::from(lead), 1, bad);
    }
    for (k, &b) in s[1..=extra].iter().enumerate() {
        if b & 0xc0 != 0x80 {
            return (c, k + 1, bad);
        }
        c = c << 6 | u32::from(b & 0x3f);
    }
    let len = extra + 1;
    let flags = Utf8Flags {
        bad_sequence: false,
        overlong: (c <= 0x7f && len > 1)
            || ((0x80..=0x7ff).contains(&c) && len > 2)
            || ((0x800..=0xffff).contains(&c) && len > 3)
            || ((0x10000..=0x1f_ffff).contains(&c) && len > 4),
        invalid_range: (0xd800..=0xdfff).contains(&c) || (0xfffe..=0xffff).contains(&c),
    };
    (c, len, flags)
}

/// `json()`: escapes the input for use inside a JSON string; `None` when the input mode fails
/// on an error.
pub(crate) fn json_escape(s: &[u8], mode: JsonInput) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut p = 0;
    while p < s.len() {
        let c = if mode == JsonInput::Ascii {
            p += 1;
            u32::from(s[p - 1])
        } else {
            let (c, used, f) = utf8_next(&s[p..]);
            p += used;
            let fatal = f.bad_sequence || f.invalid_range;
            match mode {
                JsonInput::Utf8 if fatal || f.overlong => return None,
                JsonInput::Utf8S if fatal || f.overlong => continue,
                JsonInput::Utf8P if fatal => return None,
                JsonInput::Utf8Ps if fatal => continue,
                _ => {}
            }
            if c > 0xffff {
                match mode {
                    JsonInput::Utf8 | JsonInput::Utf8P => return None,
                    _ => continue,
                }
            }
            c
        };
        match c {
            0x22 => out.extend_from_slice(b"\\\""),
            0x5c => out.extend_from_slice(b"\\\\"),
            0x2f => out.extend_from_slice(b"\\/"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x20..=0x7e => out.push(c as u8),
            _ => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
        }
    }
    Some(out)
}

/// `be2dec(sep,chunk,truncate)`: each `chunk`-byte big-endian group as an unsigned decimal,
/// separated by `sep`; with `truncate`, a last shorter group is dropped.
pub(crate) fn be2dec(data: &[u8], sep: &[u8], chunk: usize, truncate: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, group) in data.chunks(chunk.max(1)).enumerate() {
        if truncate && group.len() < chunk {
            break;
        }
        if i > 0 {
            out.extend_from_slice(sep);
        }
        let n = group
            .iter()
            .fold(0u64, |n, &b| n.wrapping_shl(8) | u64::from(b));
        out.extend_from_slice(n.to_string().as_bytes());
    }
    out
}

/// `be2hex([sep[,chunk[,truncate]]])`: hex digits with `sep` every `chunk` bytes; with
/// `truncate`, a last shorter group is dropped. Without a separator nor truncation, one group.
pub(crate) fn be2hex(data: &[u8], sep: &[u8], chunk: usize, truncate: bool) -> Vec<u8> {
    let chunk = if sep.is_empty() && !truncate {
        data.len().max(1)
    } else {
        chunk.max(1)
    };
    let mut out = Vec::new();
    for (i, group) in data.chunks(chunk).enumerate() {
        if truncate && group.len() < chunk {
            break;
        }
        if i > 0 {
            out.extend_from_slice(sep);
        }
        out.extend_from_slice(&hex(group));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &[u8], m: JsonInput) -> Option<String> {
        json_escape(s, m).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn base64() {
        // observed with haproxy 2.6.12
        assert_eq!(base64_encode(b"abc"), b"YWJj");
        assert_eq!(base64_encode(&[0xff, 0xfe]), b"//4=");
        assert_eq!(base64url_encode(&[0xff, 0xfe]), b"__4");
        assert_eq!(base64_decode(b"YWJj").unwrap(), b"abc");
        assert_eq!(base64_decode(b"YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode(b"YWJjZA==").unwrap(), b"abcd");
        assert_eq!(base64_decode(b"YQ==YQ==").unwrap(), b"aa");
        assert_eq!(base64_decode(b"").unwrap(), b"");
        assert_eq!(base64_decode(b"YWI"), None);
        assert_eq!(base64_decode(b"YW=j"), None);
        assert_eq!(base64_decode(b"Y"), None);
        assert_eq!(base64_decode(b"YW Jj"), None);
        assert_eq!(base64_decode(b"YWJj===="), None);
        assert_eq!(base64_decode(b"_-8="), None);
        // haproxy 2.6.12 turns the '=' of a padded base64url input into a garbage byte
        // (__8= gives FF FF 3F); padding is accepted here
        assert_eq!(base64url_decode(b"__8=").unwrap(), [0xff, 0xff]);
        assert_eq!(base64url_decode(b"YQ").unwrap(), b"a");
    }

    #[test]
    fn hex_and_back() {
        // observed with haproxy 2.6.12
        assert_eq!(hex(b"abc"), b"616263");
        assert_eq!(hex(&[0xff, 0x41]), b"FF41");
        assert_eq!(hex2i(b"ff"), Some(255));
        assert_eq!(hex2i(b"FF"), Some(255));
        assert_eq!(hex2i(b"fg"), None);
        assert_eq!(hex2i(b""), Some(0));
        assert_eq!(hex2i(b"-1"), None);
        assert_eq!(hex2i(b"7fffffffffffffffff"), Some(-1));
    }

    #[test]
    fn url_codec() {
        // observed with haproxy 2.6.12
        let d = |s: &str, f| url_decode(s.as_bytes(), f).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(d("a+b%41", false).as_deref(), Some("a+bA"));
        assert_eq!(d("a+b%41", true).as_deref(), Some("a bA"));
        assert_eq!(d("a+b?c+d", false).as_deref(), Some("a+b?c d"));
        assert_eq!(d("a+b%4", false), None);
        assert_eq!(d("a b\\+c%41%zz", false), None);
        assert_eq!(url_decode(b"a\0%zz", false).unwrap(), b"a");
        assert_eq!(
            url_encode("a b/c?d=é~-._*".as_bytes()),
            b"a%20b%2Fc%3Fd%3D%C3%A9~-._%2A"
        );
    }

    #[test]
    fn json() {
        // observed with haproxy 2.6.12
        use JsonInput::*;
        assert_eq!(
            j(b"Very \"Ugly\" UA 1/2", Ascii).as_deref(),
            Some("Very \\\"Ugly\\\" UA 1\\/2")
        );
        assert_eq!(j("é".as_bytes(), Ascii).as_deref(), Some("\\u00c3\\u00a9"));
        assert_eq!(j("é".as_bytes(), Utf8).as_deref(), Some("\\u00e9"));
        assert_eq!(j("é".as_bytes(), Utf8S).as_deref(), Some("\\u00e9"));
        assert_eq!(j(b"\xffA", Utf8), None);
        assert_eq!(j(b"\xffA", Utf8S).as_deref(), Some("A"));
        assert_eq!(j(b"\xffA", Utf8P), None);
        assert_eq!(j(b"\xffA", Utf8Ps).as_deref(), Some("A"));
        assert_eq!(j(b"\xc0\xafA", Utf8), None);
        assert_eq!(j(b"\xc0\xafA", Utf8P).as_deref(), Some("\\/A"));
        assert_eq!(j(b"\xc0\xafA", Utf8Ps).as_deref(), Some("\\/A"));
        assert_eq!(j(b"\xc0\xafA", Utf8S).as_deref(), Some("A"));
        assert_eq!(j(b"\xf0\x9f\x98\x80A", Utf8), None);
        assert_eq!(j(b"\xf0\x9f\x98\x80A", Utf8S).as_deref(), Some("A"));
        assert_eq!(j(b"\xed\xa0\x80A", Utf8), None);
        assert_eq!(j(b"\xed\xa0\x80A", Utf8S).as_deref(), Some("A"));
        assert_eq!(j(b"\xed\xa0\x80A", Utf8P), None);
        assert_eq!(j(b"\xe2\x82", Utf8S).as_deref(), Some(""));
        assert_eq!(j(b"\xe2\x82\xac", Utf8).as_deref(), Some("\\u20ac"));
        assert_eq!(j(b"\xe2\x41", Utf8S).as_deref(), Some("A"));
        assert_eq!(
            j(b"\x01\x08\x09\x0a\x0c\x0d\x1f\x20\x7f\"\\/", Ascii).as_deref(),
            Some("\\u0001\\b\\t\\n\\f\\r\\u001f \\u007f\\\"\\\\\\/")
        );
        assert_eq!(j(b"A\xff", Ascii).as_deref(), Some("A\\u00ff"));
        assert_eq!(JsonInput::parse(""), Some(Ascii));
        assert_eq!(JsonInput::parse("utf8ps"), Some(Utf8Ps));
        assert_eq!(JsonInput::parse("foo"), None);
    }

    #[test]
    fn big_endian() {
        // examples from HAProxy's documentation, confirmed with haproxy 2.6.12
        let d = [1u8, 2, 3, 4, 5, 6, 7];
        assert_eq!(be2dec(&d, b":", 2, false), b"258:772:1286:7");
        assert_eq!(be2dec(&d, b"-", 2, true), b"258-772-1286");
        assert_eq!(be2dec(&d, b"", 2, true), b"2587721286");
        assert_eq!(be2dec(&[0x7f, 0, 0, 1], b".", 1, false), b"127.0.0.1");
        assert_eq!(be2dec(b"abc", b"", 2, false), b"2493099");
        assert_eq!(
            be2dec(&[0xff; 9], b":", 8, false),
            b"18446744073709551615:255"
        );
        assert_eq!(be2hex(&d, b"", 0, false), b"01020304050607");
        assert_eq!(be2hex(&d, b":", 2, false), b"0102:0304:0506:07");
        assert_eq!(be2hex(&d, b"--", 2, true), b"0102--0304--0506");
        let e = [1u8, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(be2hex(&e, b"", 3, true), b"010203040506");
        assert_eq!(be2hex(&e, b"", 3, false), b"0102030405060708");
        assert_eq!(be2hex(b"", b":", 2, false), b"");
    }
}
