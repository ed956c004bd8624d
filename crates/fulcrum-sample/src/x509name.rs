//! X.509 distinguished names as the `ssl_c_s_dn`, `ssl_c_i_dn`, `ssl_s_*_dn` and `ssl_f_*_dn` fetches print
//! them, from the DER of a Name (the content of its outer SEQUENCE: the RDN sets). The proxy hands the DER over
//! ([`crate::SslFetch::is_dn`]); the three forms HAProxy 2.6 has are made here (observed against haproxy 2.6.12):
//!
//! - the default one, `/C=FR/O=Org/CN=host`: every attribute in order, its short name (the dotted OID when
//!   there is none) and its value's bytes as they are in the certificate;
//! - one attribute's value, `ssl_c_s_dn(CN)` (the first), `ssl_c_s_dn(OU,2)` (the second), `ssl_c_s_dn(OU,-1)`
//!   (the last): matched on the short name, or on the dotted OID of an attribute without one;
//! - `rfc2253`, `CN=host,O=Org,C=FR`: attributes in reverse order, `+` between the members of one RDN, RFC 2253
//!   escapes (`,+"\<>;` behind a backslash, a leading `#` or space and a trailing space too, bytes of control
//!   characters and of non-ASCII UTF-8 as `\XX`), and the value of an attribute without a short name as `#`
//!   and the hexadecimal of its DER, as OpenSSL's `X509_NAME_print_ex(XN_FLAG_RFC2253)` prints them.

/// Reads one DER element at the start of `buf`: (tag, content, rest).
pub fn tlv(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
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

/// One attribute of a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The attribute type's OID (content bytes).
    pub oid: &'a [u8],
    /// The value's tag (UTF8String 0x0c, PrintableString 0x13 ...).
    pub tag: u8,
    /// The value's content bytes.
    pub value: &'a [u8],
    /// The value's whole DER (tag, length and content).
    pub der: &'a [u8],
    /// The index of the RDN (the SET) holding it: members of one multi-valued RDN share it.
    pub rdn: usize,
}

/// The attributes of a name, in order; `None` when the encoding is broken.
pub fn entries(name: &[u8]) -> Option<Vec<Entry<'_>>> {
    let mut out = Vec::new();
    let mut rest = name;
    let mut rdn = 0;
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
            let (vtag, value, end) = tlv(after)?;
            out.push(Entry {
                oid,
                tag: vtag,
                value,
                der: &after[..after.len() - end.len()],
                rdn,
            });
            items = more;
        }
        rdn += 1;
        rest = next;
    }
    Some(out)
}

/// An OID in dotted form (`2.5.4.3`).
pub fn dotted(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc = 0u64;
    for &b in oid {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
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

/// The short name OpenSSL gives an attribute type of names (`CN`, `O`, `emailAddress` ...), `None` for an OID
/// it has no name for.
pub fn short_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        // 2.5.4.x: X.520 attribute types.
        [0x55, 0x04, n] => match n {
            3 => "CN",
            4 => "SN",
            5 => "serialNumber",
            6 => "C",
            7 => "L",
            8 => "ST",
            9 => "street",
            10 => "O",
            11 => "OU",
            12 => "title",
            13 => "description",
            14 => "searchGuide",
            15 => "businessCategory",
            16 => "postalAddress",
            17 => "postalCode",
            18 => "postOfficeBox",
            19 => "physicalDeliveryOfficeName",
            20 => "telephoneNumber",
            21 => "telexNumber",
            22 => "teletexTerminalIdentifier",
            23 => "facsimileTelephoneNumber",
            24 => "x121Address",
            25 => "internationaliSDNNumber",
            26 => "registeredAddress",
            27 => "destinationIndicator",
            28 => "preferredDeliveryMethod",
            29 => "presentationAddress",
            30 => "supportedApplicationContext",
            31 => "member",
            32 => "owner",
            33 => "roleOccupant",
            34 => "seeAlso",
            35 => "userPassword",
            36 => "userCertificate",
            37 => "cACertificate",
            38 => "authorityRevocationList",
            39 => "certificateRevocationList",
            40 => "crossCertificatePair",
            41 => "name",
            42 => "GN",
            43 => "initials",
            44 => "generationQualifier",
            45 => "x500UniqueIdentifier",
            46 => "dnQualifier",
            47 => "enhancedSearchGuide",
            48 => "protocolInformation",
            49 => "distinguishedName",
            50 => "uniqueMember",
            51 => "houseIdentifier",
            52 => "supportedAlgorithms",
            53 => "deltaRevocationList",
            54 => "dmdName",
            65 => "pseudonym",
            72 => "role",
            97 => "organizationIdentifier",
            98 => "c3",
            99 => "n3",
            100 => "dnsName",
            _ => return None,
        },
        // 1.2.840.113549.1.9.x: PKCS #9.
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, n] => match n {
            1 => "emailAddress",
            2 => "unstructuredName",
            3 => "contentType",
            7 => "challengePassword",
            8 => "unstructuredAddress",
            _ => return None,
        },
        // 0.9.2342.19200300.100.1.x: RFC 4519's domainComponent and userid.
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        // 1.3.6.1.4.1.311.60.2.1.x: EV jurisdiction.
        [0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02, 0x01, n] => match n {
            1 => "jurisdictionL",
            2 => "jurisdictionST",
            3 => "jurisdictionC",
            _ => return None,
        },
        _ => return None,
    })
}

/// An attribute's name as the fetches print and match it: its short name, else its dotted OID.
fn field_name(oid: &[u8]) -> std::borrow::Cow<'static, str> {
    match short_name(oid) {
        Some(s) => s.into(),
        None => dotted(oid).into(),
    }
}

/// The default form: `/C=FR/O=Org/CN=host`, values as their bytes.
pub fn oneline(name: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len());
    for e in entries(name)? {
        out.push(b'/');
        out.extend_from_slice(field_name(e.oid).as_bytes());
        out.push(b'=');
        out.extend_from_slice(e.value);
    }
    Some(out)
}

/// The value of attribute `key` (a short name, or the dotted OID of one without), the `occ`-th from the start
/// (1 is the first) or, negative, from the end; `None` for 0 or when there are not that many.
pub fn entry<'a>(name: &'a [u8], key: &[u8], occ: i64) -> Option<&'a [u8]> {
    let all = entries(name)?;
    let matching = |e: &&Entry<'_>| field_name(e.oid).as_bytes() == key;
    let n = usize::try_from(occ.unsigned_abs()).ok()?.checked_sub(1)?;
    let found = if occ > 0 {
        all.iter().filter(matching).nth(n)
    } else {
        all.iter().rev().filter(matching).nth(n)
    };
    found.map(|e| e.value)
}

/// The characters of a value as OpenSSL reads its string type (`None`: a type it dumps as DER): Latin-1 for the
/// one-byte types, UTF-8, UTF-16 (BMPString) or UTF-32 (UniversalString).
fn chars(tag: u8, v: &[u8]) -> Option<Vec<u32>> {
    Some(match tag {
        0x0c => std::str::from_utf8(v)
            .ok()?
            .chars()
            .map(u32::from)
            .collect(),
        0x12 | 0x13 | 0x14 | 0x16 | 0x17 | 0x18 | 0x1a => v.iter().map(|&b| u32::from(b)).collect(),
        0x1e if v.len() % 2 == 0 => v
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .collect(),
        0x1c if v.len() % 4 == 0 => v
            .chunks(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        _ => return None,
    })
}

fn push_hex(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 15)]);
}

/// Appends one value with RFC 2253's escapes.
fn escaped(out: &mut Vec<u8>, chars: &[u32]) {
    let last = chars.len().saturating_sub(1);
    for (i, &c) in chars.iter().enumerate() {
        let mut utf8 = [0u8; 4];
        let bytes: &[u8] = match char::from_u32(c) {
            Some(ch) => ch.encode_utf8(&mut utf8).as_bytes(),
            None => {
                // Not a character (a lone surrogate): its code as three bytes of UTF-8 form, as OpenSSL writes it.
                utf8 = [
                    0xe0 | (c >> 12) as u8 & 0x0f,
                    0x80 | (c >> 6) as u8 & 0x3f,
                    0x80 | c as u8 & 0x3f,
                    0,
                ];
                &utf8[..3]
            }
        };
        for &b in bytes {
            let special = matches!(b, b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';')
                || (i == 0 && (b == b'#' || b == b' '))
                || (i == last && b == b' ');
            if special {
                out.push(b'\\');
                out.push(b);
            } else if !(0x20..0x7f).contains(&b) {
                out.push(b'\\');
                push_hex(out, b);
            } else {
                out.push(b);
            }
        }
    }
}

/// The `rfc2253` form: `CN=host,OU=a+O=Org,C=FR`.
pub fn rfc2253(name: &[u8]) -> Option<Vec<u8>> {
    let all = entries(name)?;
    let mut out = Vec::with_capacity(name.len());
    let mut prev: Option<usize> = None;
    for e in all.iter().rev() {
        match prev {
            Some(r) if r == e.rdn => out.push(b'+'),
            Some(_) => out.push(b','),
            None => {}
        }
        prev = Some(e.rdn);
        let named = short_name(e.oid);
        out.extend_from_slice(field_name(e.oid).as_bytes());
        out.push(b'=');
        match named.and_then(|_| chars(e.tag, e.value)) {
            Some(cs) => escaped(&mut out, &cs),
            None => {
                out.push(b'#');
                for &b in e.der {
                    push_hex(&mut out, b);
                }
            }
        }
    }
    Some(out)
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
        s
    }

    fn set(members: &[Vec<u8>]) -> Vec<u8> {
        let body = members.concat();
        let mut set = vec![0x31, body.len() as u8];
        set.extend(body);
        set
    }

    const CN: &[u8] = &[0x55, 4, 3];
    const O: &[u8] = &[0x55, 4, 10];
    const OU: &[u8] = &[0x55, 4, 11];
    const C: &[u8] = &[0x55, 4, 6];

    /// `/C=FR/O=Org, Inc/OU=Unit A/OU=Unit B/OU=#hash/1.2.3.4=odd=val;x/CN= spaced é+x /emailAddress=a@b.c`,
    /// the client certificate the forms were observed with (haproxy 2.6.12).
    fn observed() -> Vec<u8> {
        [
            set(&[atv(C, 0x13, b"FR")]),
            set(&[atv(O, 0x0c, b"Org, Inc")]),
            set(&[atv(OU, 0x0c, b"Unit A")]),
            set(&[atv(OU, 0x0c, b"Unit B")]),
            set(&[atv(OU, 0x0c, b"#hash")]),
            set(&[atv(&[0x2a, 3, 4], 0x0c, b"odd=val;x")]),
            set(&[atv(CN, 0x0c, " spaced é+x ".as_bytes())]),
            set(&[atv(
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 9, 1],
                0x16,
                b"a@b.c",
            )]),
        ]
        .concat()
    }

    #[test]
    fn the_three_forms_as_haproxy_prints_them() {
        let n = observed();
        assert_eq!(
            oneline(&n).unwrap(),
            "/C=FR/O=Org, Inc/OU=Unit A/OU=Unit B/OU=#hash/1.2.3.4=odd=val;x/CN= spaced é+x /emailAddress=a@b.c"
                .as_bytes()
        );
        assert_eq!(
            String::from_utf8(rfc2253(&n).unwrap()).unwrap(),
            "emailAddress=a@b.c,CN=\\ spaced \\C3\\A9\\+x\\ ,1.2.3.4=#0C096F64643D76616C3B78,OU=\\#hash,OU=Unit B,OU=Unit A,O=Org\\, Inc,C=FR"
        );
        assert_eq!(entry(&n, b"OU", 1), Some(&b"Unit A"[..]));
        assert_eq!(entry(&n, b"OU", 2), Some(&b"Unit B"[..]));
        assert_eq!(entry(&n, b"OU", -1), Some(&b"#hash"[..]));
        assert_eq!(entry(&n, b"OU", 0), None);
        assert_eq!(entry(&n, b"OU", 9), None);
        assert_eq!(entry(&n, b"1.2.3.4", 1), Some(&b"odd=val;x"[..]));
        // A known attribute is matched by its short name only.
        assert_eq!(entry(&n, b"2.5.4.3", 1), None);
        assert_eq!(entry(&n, b"organizationalUnitName", 1), None);
    }

    #[test]
    fn multi_valued_rdns_join_with_plus() {
        // /C=FR/O=Org+OU=Unit A/CN=x"y\z<>;
        let n = [
            set(&[atv(C, 0x13, b"FR")]),
            set(&[atv(O, 0x0c, b"Org"), atv(OU, 0x0c, b"Unit A")]),
            set(&[atv(CN, 0x0c, b"x\"y\\z<>;")]),
        ]
        .concat();
        assert_eq!(oneline(&n).unwrap(), b"/C=FR/O=Org/OU=Unit A/CN=x\"y\\z<>;");
        assert_eq!(
            rfc2253(&n).unwrap(),
            b"CN=x\\\"y\\\\z\\<\\>\\;,OU=Unit A+O=Org,C=FR"
        );
    }

    #[test]
    fn string_types_are_read_as_openssl_reads_them() {
        // A BMPString and a T61String with a Latin-1 byte; a control character.
        let n = [
            set(&[atv(O, 0x1e, &[0, b'a', 0, 0xe9])]),
            set(&[atv(OU, 0x14, &[b'b', 0xe9])]),
            set(&[atv(CN, 0x0c, b"t\tab")]),
        ]
        .concat();
        assert_eq!(rfc2253(&n).unwrap(), b"CN=t\\09ab,OU=b\\C3\\A9,O=a\\C3\\A9");
    }

    #[test]
    fn broken_names_are_refused_without_panicking() {
        let n = observed();
        for cut in 0..n.len() {
            let _ = oneline(&n[..cut]);
            let _ = rfc2253(&n[..cut]);
            let _ = entry(&n[..cut], b"CN", -1);
        }
        assert_eq!(entries(&[0x30, 0x00]), None);
        assert_eq!(oneline(&[]).unwrap(), b"");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96)) {
            let _ = oneline(&bytes);
            let _ = rfc2253(&bytes);
            let _ = entry(&bytes, b"CN", 1);
        }
    }
}
