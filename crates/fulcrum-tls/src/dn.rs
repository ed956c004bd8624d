//! Distinguished names read from a certificate's DER (subject and issuer), enough for SNI names (the CN) and for
//! the `ssl_c_s_dn` / `ssl_c_i_dn` fetches, which print a name the way HAProxy does: `/C=FR/O=Example/CN=host`.
//! A small DER walker of our own: the two fields needed do not justify an X.509 parsing dependency.

/// One attribute of a name: its short name (`CN`, `O` ...; the dotted OID when unknown) and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// `CN`, `O`, `OU`, `C` ... or a dotted OID.
    pub name: String,
    /// The value as text (UTF-8, or decoded from BMP/Universal strings).
    pub value: String,
}

/// Reads one DER element at the start of `buf`: (tag, content, rest).
pub(crate) fn tlv(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = buf.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The attributes of a DER-encoded Name whose outer SEQUENCE was already removed (as webpki gives
/// `subject()` and `issuer()`), in the order they appear. `None` when the encoding is broken.
pub fn attributes(name: &[u8]) -> Option<Vec<Attr>> {
    let mut out = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let (tag, set, next) = tlv(rest)?;
        if tag != 0x31 {
            return None;
        }
        let mut items = set;
        while !items.is_empty() {
            let (tag, seq, more) = tlv(items)?;
            if tag != 0x30 {
                return None;
            }
            let (otag, oid, after) = tlv(seq)?;
            if otag != 0x06 {
                return None;
            }
            let (vtag, value, _) = tlv(after)?;
            out.push(Attr {
                name: short_name(oid),
                value: text(vtag, value),
            });
            items = more;
        }
        rest = next;
    }
    Some(out)
}

/// The common names (CN) of a name, in order.
pub fn common_names(name: &[u8]) -> Vec<String> {
    attributes(name)
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.name == "CN")
        .map(|a| a.value)
        .collect()
}

/// A name as HAProxy prints it by default (`show ssl cert`, `ssl_c_s_dn`): `/C=FR/O=Example/CN=host`, the values'
/// bytes as they are (read as UTF-8 here, so bytes of another encoding become U+FFFD). The form is
/// [`fulcrum_sample::x509name::oneline`]'s, shared with the fetches.
pub fn oneline(name: &[u8]) -> Option<String> {
    fulcrum_sample::x509name::oneline(name).map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn text(tag: u8, v: &[u8]) -> String {
    match tag {
        // BMPString: UTF-16BE.
        0x1e => {
            let units: Vec<u16> = v
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // UniversalString: UTF-32BE.
        0x1c => v
            .chunks(4)
            .filter_map(|c| {
                let mut b = [0u8; 4];
                b[..c.len()].copy_from_slice(c);
                char::from_u32(u32::from_be_bytes(b))
            })
            .collect(),
        _ => String::from_utf8_lossy(v).into_owned(),
    }
}

fn dotted(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc = 0u64;
    for (i, &b) in oid.iter().enumerate() {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() && i < 8 {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn short_name(oid: &[u8]) -> String {
    let d = dotted(oid);
    let s = match d.as_str() {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.17" => "postalCode",
        "2.5.4.42" => "GN",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return d,
    };
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atv(oid: &[u8], tag: u8, v: &[u8]) -> Vec<u8> {
        let mut seq = vec![0x06, oid.len() as u8];
        seq.extend_from_slice(oid);
        seq.extend([tag, v.len() as u8]);
        seq.extend_from_slice(v);
        let mut s = vec![0x30, seq.len() as u8];
        s.extend(seq);
        let mut set = vec![0x31, s.len() as u8];
        set.extend(s);
        set
    }

    #[test]
    fn reads_and_prints_a_name() {
        let mut name = atv(&[0x55, 4, 6], 0x13, b"FR");
        name.extend(atv(&[0x55, 4, 10], 0x0c, b"Example Org"));
        name.extend(atv(&[0x55, 4, 3], 0x0c, b"www.example.test"));
        name.extend(atv(&[0x2a, 0x03, 0x04], 0x0c, "é".as_bytes()));
        assert_eq!(common_names(&name), vec!["www.example.test".to_string()]);
        assert_eq!(
            oneline(&name).as_deref(),
            Some("/C=FR/O=Example Org/CN=www.example.test/1.2.3.4=é")
        );
    }

    #[test]
    fn broken_names_are_refused_without_panicking() {
        let name = atv(&[0x55, 4, 3], 0x0c, b"host");
        for cut in 0..name.len() {
            let _ = attributes(&name[..cut]);
        }
        assert_eq!(attributes(&[0x30, 0x00]), None);
        assert_eq!(attributes(&[0x31, 0x85, 1, 1, 1, 1, 1]), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = oneline(&bytes);
        }
    }
}
