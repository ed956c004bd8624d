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

/// Reads one DER element at the start of `buf`: (tag, content, rest) (the walker the fetches use).
pub(crate) use fulcrum_sample::x509name::tlv;

/// The attributes of a DER-encoded Name whose outer SEQUENCE was already removed (as webpki gives
/// `subject()` and `issuer()`), in the order they appear. `None` when the encoding is broken.
pub fn attributes(name: &[u8]) -> Option<Vec<Attr>> {
    use fulcrum_sample::x509name as x;
    let entries = x::entries(name)?;
    Some(
        entries
            .iter()
            .map(|e| Attr {
                name: x::short_name(e.oid).map_or_else(|| x::dotted(e.oid), str::to_string),
                value: text(e.tag, e.value),
            })
            .collect(),
    )
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
