//! FIX (Financial Information eXchange) messages, for the `fix_is_valid` and `fix_tag_value`
//! converters: a message is a list of `tag=value` fields, each ended by SOH (0x01); the first
//! three are BeginString (8), BodyLength (9) and MsgType (35), the last is CheckSum (10).
//!
//! BodyLength counts the bytes after the SOH that ends field 9, up to and including the SOH
//! before `10=`; CheckSum is the sum of every byte before `10=`, modulo 256, written with three
//! digits. Every function here takes untrusted bytes and only answers yes, no or absent.

/// The field separator.
const SOH: u8 = 0x01;

/// The tags the converter's argument may name instead of giving a number.
const TAG_NAMES: &[(&str, u32)] = &[
    ("BeginString", 8),
    ("BodyLength", 9),
    ("CheckSum", 10),
    ("MsgType", 35),
    ("SenderCompID", 49),
    ("TargetCompID", 56),
];

/// The tag number of `fix_tag_value`'s argument: a decimal number, or one of the names above.
pub(crate) fn tag_from_arg(s: &str) -> Option<u32> {
    if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
        return s.parse().ok();
    }
    TAG_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, t)| *t)
}

/// One field: its tag's digits, its value, and where the field starts in the message.
struct Field<'a> {
    tag: &'a [u8],
    value: &'a [u8],
    start: usize,
}

/// The fields of `msg` in order; stops (returning `Err`) at a field with no `=` or no SOH.
fn fields(msg: &[u8]) -> impl Iterator<Item = Result<Field<'_>, ()>> + '_ {
    let mut pos = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= msg.len() {
            return None;
        }
        let rest = &msg[pos..];
        let parsed = rest.iter().position(|&c| c == SOH).and_then(|end| {
            let field = &rest[..end];
            let eq = field.iter().position(|&c| c == b'=')?;
            Some((
                Field {
                    tag: &field[..eq],
                    value: &field[eq + 1..],
                    start: pos,
                },
                end + 1,
            ))
        });
        match parsed {
            Some((f, used)) => {
                pos += used;
                Some(Ok(f))
            }
            None => {
                failed = true;
                Some(Err(()))
            }
        }
    })
}

fn tag_is(f: &Field<'_>, tag: u32) -> bool {
    parse_tag(f.tag) == Some(tag)
}

fn parse_tag(t: &[u8]) -> Option<u32> {
    if t.is_empty() || t.len() > 9 || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(t.iter().fold(0u32, |n, &c| n * 10 + u32::from(c - b'0')))
}

/// Whether `v` is a FIX version BeginString may hold: `FIX.4.0` to `FIX.4.4`, or `FIXT.1.1`
/// (the session layer of FIX 5.0 and later, which carry their application version elsewhere).
fn valid_version(v: &[u8]) -> bool {
    matches!(
        v,
        b"FIX.4.0" | b"FIX.4.1" | b"FIX.4.2" | b"FIX.4.3" | b"FIX.4.4" | b"FIXT.1.1"
    )
}

/// `fix_is_valid`: the checks listed in the module's documentation, plus non-empty numeric tags
/// and non-empty values everywhere. The message ends with the first CheckSum field after
/// MsgType; what follows it (the next message) is not looked at.
pub(crate) fn is_valid(msg: &[u8]) -> bool {
    let mut body_start = None;
    let mut body_len = None;
    let mut last = None;
    for (i, f) in fields(msg).enumerate() {
        let Ok(f) = f else { return false };
        if parse_tag(f.tag).is_none() || f.value.is_empty() {
            return false;
        }
        match i {
            0 if !(tag_is(&f, 8) && valid_version(f.value)) => return false,
            1 => {
                if !tag_is(&f, 9) || !f.value.iter().all(u8::is_ascii_digit) || f.value.len() > 9 {
                    return false;
                }
                body_len = f.value.iter().try_fold(0usize, |n, &c| {
                    n.checked_mul(10)?.checked_add(usize::from(c - b'0'))
                });
                body_start = Some(f.start + f.tag.len() + 1 + f.value.len() + 1);
            }
            2 if !tag_is(&f, 35) => return false,
            _ => {}
        }
        if i > 2 && tag_is(&f, 10) {
            last = Some(f);
            break;
        }
    }
    let (Some(start), Some(len), Some(sum)) = (body_start, body_len, last) else {
        return false;
    };
    if sum.start.checked_sub(start) != Some(len) || sum.value.len() != 3 {
        return false;
    }
    let Some(expected) = parse_tag(sum.value) else {
        return false;
    };
    let computed = msg[..sum.start]
        .iter()
        .fold(0u32, |s, &c| (s + u32::from(c)) % 256);
    computed == expected
}

/// `fix_tag_value`: the value of the first field with `tag`, if the fields before it are well
/// formed.
pub(crate) fn tag_value(msg: &[u8], tag: u32) -> Option<&[u8]> {
    for f in fields(msg) {
        let f = f.ok()?;
        if tag_is(&f, tag) {
            return Some(f.value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a message with correct BodyLength and CheckSum from `35=...|...` fields.
    fn message(version: &str, body: &str) -> Vec<u8> {
        let body = body.replace('|', "\x01");
        let mut m = format!("8={version}\x019={}\x01{body}", body.len()).into_bytes();
        let sum = m.iter().fold(0u32, |s, &c| (s + u32::from(c)) % 256);
        m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
        m
    }

    #[test]
    fn valid_messages() {
        for v in [
            "FIX.4.0", "FIX.4.1", "FIX.4.2", "FIX.4.3", "FIX.4.4", "FIXT.1.1",
        ] {
            let m = message(v, "35=A|49=CLIENT1|56=EXECUTOR|");
            assert!(is_valid(&m), "{}", String::from_utf8_lossy(&m));
        }
    }

    #[test]
    fn invalid_messages() {
        let good = message("FIX.4.4", "35=A|49=CLIENT1|56=EXECUTOR|");
        assert!(is_valid(&good));
        // wrong checksum
        let mut m = good.clone();
        let n = m.len();
        m[n - 2] = if m[n - 2] == b'9' { b'0' } else { m[n - 2] + 1 };
        assert!(!is_valid(&m));
        // bytes after the checksum belong to the next message; a missing final SOH is invalid
        let mut m = good.clone();
        m.extend_from_slice(b"XXX");
        assert!(is_valid(&m));
        assert!(!is_valid(&good[..good.len() - 1]));
        assert!(!is_valid(&message("FIX.5.0", "35=A|")));
        assert!(!is_valid(&message("FIX.4", "35=A|")));
        // bad version, wrong order, empty tag or value
        assert!(!is_valid(&message("FOO", "35=A|")));
        assert!(!is_valid(&message("FIX.4.4", "49=A|35=A|")));
        assert!(!is_valid(&message("FIX.4.4", "35=A|=0|")));
        assert!(!is_valid(&message("FIX.4.4", "35=A|98=|")));
        assert!(!is_valid(&message("FIX.4.4", "35=A|98|")));
        assert!(!is_valid(&message("FIX.4.4", "35=A|9x=1|")));
        assert!(!is_valid(b""));
        assert!(!is_valid(b"8=FIX.4.4\x01"));
        assert!(!is_valid(
            b"8=FIX.4.4\x019=99999999999999999999\x0135=A\x0110=000\x01"
        ));
    }

    #[test]
    fn no_panic_on_any_prefix_or_byte_flip() {
        let good = message("FIX.4.2", "35=A|34=1|49=X|52=20201029-12:43:07|56=Y|");
        for end in 0..=good.len() {
            let _ = is_valid(&good[..end]);
            let _ = tag_value(&good[..end], 10);
        }
        for i in 0..good.len() {
            for b in [0u8, 1, b'=', b'9', 0xff] {
                let mut m = good.clone();
                m[i] = b;
                let _ = is_valid(&m);
                let _ = tag_value(&m, 56);
            }
        }
    }

    #[test]
    fn tag_values() {
        let m = message("FIX.4.4", "35=A|49=CLIENT1|56=EXECUTOR|");
        assert_eq!(tag_value(&m, 8), Some(&b"FIX.4.4"[..]));
        assert_eq!(tag_value(&m, 9), Some(&b"28"[..]));
        assert_eq!(tag_value(&m, 49), Some(&b"CLIENT1"[..]));
        assert_eq!(tag_value(&m, 99), None);
        assert_eq!(tag_value(b"8=FIX.4.4\x01bad\x0149=A\x01", 49), None);
        assert_eq!(tag_from_arg("MsgType"), Some(35));
        assert_eq!(tag_from_arg("msgtype"), Some(35));
        assert_eq!(tag_from_arg("10"), Some(10));
        assert_eq!(tag_from_arg("Nope"), None);
        assert_eq!(tag_from_arg(""), None);
    }
}
