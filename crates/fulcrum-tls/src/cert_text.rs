//! The text of a certificate as haproxy 2.6 prints the ones an OCSP response carries (OpenSSL's default text of
//! a certificate, then its PEM), and the pieces the OCSP text shares with it: names, extensions, signatures.
//! Observed against haproxy 2.6.12. Decoded with `x509-cert`; the extensions' contents with the DER walker of
//! [`crate::dn`].
//!
//! What is printed as OpenSSL does: version, serial, algorithms, names, validity, RSA, EC (P-256, P-384,
//! P-521) and Ed25519 keys, and the extensions Basic Constraints, Subject Key Identifier, Authority Key Identifier, Key
//! Usage, Extended Key Usage, Subject and Issuer Alternative Name, Authority Information Access, CRL
//! Distribution Points (full names), Certificate Policies (without qualifiers), OCSP No Check, OCSP Nonce and
//! Netscape Comment. Other extensions, and those forms of these, print their value's printable bytes (others
//! as `.`), as OpenSSL does for extensions it has no printer for, so where OpenSSL decodes one they differ.

use der::Encode;
use x509_cert::ext::Extension;
use x509_cert::Certificate;

use crate::dn::tlv;

/// Bytes in upper-case hexadecimal, no separator.
pub(crate) fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Bytes in upper-case hexadecimal separated by colons (`89:80:D2`).
fn colon_upper(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Bytes in lower-case hexadecimal with a colon after each but the last, `per_line` bytes a line, each line
/// after `indent` spaces and ending in a line break.
fn dump_lower(out: &mut String, b: &[u8], per_line: usize, indent: usize) {
    let n = b.len();
    for (i, chunk) in b.chunks(per_line).enumerate() {
        out.push_str(&" ".repeat(indent));
        for (j, x) in chunk.iter().enumerate() {
            out.push_str(&format!("{x:02x}"));
            if i * per_line + j + 1 < n {
                out.push(':');
            }
        }
        out.push('\n');
    }
}

/// The attributes of a Name (its DER, outer SEQUENCE included): (short name, value) by RDN.
fn rdns(name_der: &[u8]) -> Option<Vec<Vec<(String, String)>>> {
    use fulcrum_sample::x509name as x;
    let (0x30, content, _) = tlv(name_der)? else {
        return None;
    };
    let mut out: Vec<Vec<(String, String)>> = Vec::new();
    let mut last = usize::MAX;
    for e in x::entries(content)? {
        let name = x::short_name(e.oid).map_or_else(|| x::dotted(e.oid), str::to_string);
        let value = String::from_utf8_lossy(e.value).into_owned();
        if e.rdn == last {
            if let Some(rdn) = out.last_mut() {
                rdn.push((name, value));
                continue;
            }
        }
        last = e.rdn;
        out.push(vec![(name, value)]);
    }
    Some(out)
}

fn join_name(name_der: &[u8], eq: &str) -> Option<String> {
    Some(
        rdns(name_der)?
            .iter()
            .map(|rdn| {
                rdn.iter()
                    .map(|(n, v)| format!("{n}{eq}{v}"))
                    .collect::<Vec<_>>()
                    .join(" + ")
            })
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// A name as OpenSSL's one-line form writes it (`C = FR, O = Org, CN = host`), from its DER.
pub(crate) fn name_spaced(name_der: &[u8]) -> Option<String> {
    join_name(name_der, " = ")
}

/// A name as a certificate's text writes it (`C=FR, O=Org, CN=host`), from its DER.
fn name_compact(name_der: &[u8]) -> Option<String> {
    join_name(name_der, "=")
}

/// OpenSSL's long name of an extension, the dotted OID for one it has none for here.
fn extension_name(oid: &str) -> String {
    match oid {
        "2.5.29.14" => "X509v3 Subject Key Identifier",
        "2.5.29.15" => "X509v3 Key Usage",
        "2.5.29.17" => "X509v3 Subject Alternative Name",
        "2.5.29.18" => "X509v3 Issuer Alternative Name",
        "2.5.29.19" => "X509v3 Basic Constraints",
        "2.5.29.31" => "X509v3 CRL Distribution Points",
        "2.5.29.32" => "X509v3 Certificate Policies",
        "2.5.29.35" => "X509v3 Authority Key Identifier",
        "2.5.29.37" => "X509v3 Extended Key Usage",
        "1.3.6.1.5.5.7.1.1" => "Authority Information Access",
        "1.3.6.1.5.5.7.48.1.2" => "OCSP Nonce",
        "1.3.6.1.5.5.7.48.1.5" => "OCSP No Check",
        "2.16.840.1.113730.1.13" => "Netscape Comment",
        other => return other.to_string(),
    }
    .to_string()
}

/// OpenSSL's long name of an extended key usage.
fn eku_name(oid: &str) -> String {
    match oid {
        "1.3.6.1.5.5.7.3.1" => "TLS Web Server Authentication",
        "1.3.6.1.5.5.7.3.2" => "TLS Web Client Authentication",
        "1.3.6.1.5.5.7.3.3" => "Code Signing",
        "1.3.6.1.5.5.7.3.4" => "E-mail Protection",
        "1.3.6.1.5.5.7.3.8" => "Time Stamping",
        "1.3.6.1.5.5.7.3.9" => "OCSP Signing",
        "2.5.29.37.0" => "Any Extended Key Usage",
        other => return other.to_string(),
    }
    .to_string()
}

/// An OID's DER content in dotted form.
fn dotted(oid: &[u8]) -> String {
    fulcrum_sample::x509name::dotted(oid)
}

/// GeneralNames (the content of the SEQUENCE) as OpenSSL lists them.
fn general_names(mut b: &[u8]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (tag, v, rest) = tlv(b)?;
        b = rest;
        out.push(match tag {
            0x81 => format!("email:{}", String::from_utf8_lossy(v)),
            0x82 => format!("DNS:{}", String::from_utf8_lossy(v)),
            0x86 => format!("URI:{}", String::from_utf8_lossy(v)),
            0x87 if v.len() == 4 => format!("IP Address:{}.{}.{}.{}", v[0], v[1], v[2], v[3]),
            0x87 if v.len() == 16 => format!(
                "IP Address:{}",
                v.chunks(2)
                    .map(|c| format!("{:X}", u16::from_be_bytes([c[0], c[1]])))
                    .collect::<Vec<_>>()
                    .join(":")
            ),
            0x87 => "IP Address:<invalid>".to_string(),
            // directoryName [4] EXPLICIT Name
            0xa4 => {
                let (0x30, name, _) = tlv(v)? else {
                    return None;
                };
                format!(
                    "DirName:{}",
                    String::from_utf8_lossy(&fulcrum_sample::x509name::oneline(name)?)
                )
            }
            0x88 => format!("Registered ID:{}", dotted(v)),
            _ => "othername:<unsupported>".to_string(),
        });
    }
    Some(out)
}

/// The text of a known extension's value (its lines, without indentation); `None` for one without a printer
/// here or that does not decode.
fn extension_value(oid: &str, v: &[u8]) -> Option<Vec<String>> {
    Some(match oid {
        "2.5.29.19" => {
            let (0x30, mut seq, _) = tlv(v)? else {
                return None;
            };
            let mut ca = false;
            if let Some((0x01, b, rest)) = tlv(seq) {
                ca = b.first().is_some_and(|x| *x != 0);
                seq = rest;
            }
            let mut line = format!("CA:{}", if ca { "TRUE" } else { "FALSE" });
            if let Some((0x02, n, _)) = tlv(seq) {
                let n = n
                    .iter()
                    .fold(0u64, |a, b| a.saturating_mul(256) | u64::from(*b));
                line.push_str(&format!(", pathlen:{n}"));
            }
            vec![line]
        }
        "2.5.29.14" => {
            let (0x04, id, _) = tlv(v)? else {
                return None;
            };
            vec![colon_upper(id)]
        }
        "2.5.29.35" => {
            let (0x30, mut seq, _) = tlv(v)? else {
                return None;
            };
            let mut lines = Vec::new();
            while !seq.is_empty() {
                let (tag, c, rest) = tlv(seq)?;
                seq = rest;
                match tag {
                    0x80 => lines.push(format!("keyid:{}", colon_upper(c))),
                    0xa1 => lines.extend(general_names(c)?),
                    0x82 => lines.push(format!("serial:{}", colon_upper(c))),
                    _ => return None,
                }
            }
            // A key identifier alone prints bare (observed with haproxy 2.6.12 on OpenSSL 3).
            if let [only] = lines.as_mut_slice() {
                if let Some(id) = only.strip_prefix("keyid:") {
                    *only = id.to_string();
                }
            }
            lines
        }
        "2.5.29.15" => {
            let (0x03, bits, _) = tlv(v)? else {
                return None;
            };
            let names = [
                "Digital Signature",
                "Non Repudiation",
                "Key Encipherment",
                "Data Encipherment",
                "Key Agreement",
                "Certificate Sign",
                "CRL Sign",
                "Encipher Only",
                "Decipher Only",
            ];
            let set: Vec<&str> = names
                .iter()
                .enumerate()
                .filter(|(i, _)| {
                    bits.get(1 + i / 8)
                        .is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
                })
                .map(|(_, n)| *n)
                .collect();
            vec![set.join(", ")]
        }
        "2.5.29.37" => {
            let (0x30, mut seq, _) = tlv(v)? else {
                return None;
            };
            let mut names = Vec::new();
            while !seq.is_empty() {
                let (0x06, oid, rest) = tlv(seq)? else {
                    return None;
                };
                names.push(eku_name(&dotted(oid)));
                seq = rest;
            }
            vec![names.join(", ")]
        }
        "2.5.29.17" | "2.5.29.18" => {
            let (0x30, seq, _) = tlv(v)? else {
                return None;
            };
            vec![general_names(seq)?.join(", ")]
        }
        "1.3.6.1.5.5.7.48.1.2" => vec![hex_upper(v)],
        // OCSP No Check: NULL, no text.
        "1.3.6.1.5.5.7.48.1.5" => Vec::new(),
        "1.3.6.1.5.5.7.1.1" => {
            let (0x30, mut seq, _) = tlv(v)? else {
                return None;
            };
            let mut lines = Vec::new();
            while !seq.is_empty() {
                let (0x30, desc, rest) = tlv(seq)? else {
                    return None;
                };
                seq = rest;
                let (0x06, method, name) = tlv(desc)? else {
                    return None;
                };
                let method = match dotted(method).as_str() {
                    "1.3.6.1.5.5.7.48.1" => "OCSP".to_string(),
                    "1.3.6.1.5.5.7.48.2" => "CA Issuers".to_string(),
                    other => other.to_string(),
                };
                let [name] = general_names(name)?.try_into().ok()?;
                lines.push(format!("{method} - {name}"));
            }
            lines
        }
        "2.5.29.31" => {
            let (0x30, mut seq, _) = tlv(v)? else {
                return None;
            };
            let mut lines = Vec::new();
            while !seq.is_empty() {
                let (0x30, point, rest) = tlv(seq)? else {
                    return None;
                };
                seq = rest;
                // Only a full name (reasons and CRL issuers have no printer here).
                let (0xa0, dp_name, after) = tlv(point)? else {
                    return None;
                };
                let (0xa0, full, _) = tlv(dp_name)? else {
                    return None;
                };
                if !after.is_empty() {
                    return None;
                }
                lines.push("Full Name:".to_string());
                lines.extend(general_names(full)?.into_iter().map(|n| format!("  {n}")));
            }
            lines
        }
        "2.5.29.32" => {
            let (0x30, mut seq, _) = tlv(v)? else {
                return None;
            };
            let mut lines = Vec::new();
            while !seq.is_empty() {
                let (0x30, info, rest) = tlv(seq)? else {
                    return None;
                };
                seq = rest;
                let (0x06, oid, qualifiers) = tlv(info)? else {
                    return None;
                };
                // Policies without qualifiers only (CPS pointers and user notices have no printer here).
                if !qualifiers.is_empty() {
                    return None;
                }
                let name = match dotted(oid).as_str() {
                    "2.5.29.32.0" => "X509v3 Any Policy".to_string(),
                    other => other.to_string(),
                };
                lines.push(format!("Policy: {name}"));
            }
            lines
        }
        "2.16.840.1.113730.1.13" => {
            let (0x16, text, _) = tlv(v)? else {
                return None;
            };
            vec![String::from_utf8_lossy(text).into_owned()]
        }
        _ => return None,
    })
}

/// Extensions after a title at `indent` spaces: each named at `indent + 4` (`critical` after a critical one),
/// its value at `indent + 8`.
pub(crate) fn extensions(out: &mut String, title: &str, exts: &[Extension], indent: usize) {
    out.push_str(&format!("{}{title}:\n", " ".repeat(indent)));
    for e in exts {
        let oid = e.extn_id.to_string();
        out.push_str(&format!(
            "{}{}: {}\n",
            " ".repeat(indent + 4),
            extension_name(&oid),
            if e.critical { "critical" } else { "" }
        ));
        let pad = " ".repeat(indent + 8);
        match extension_value(&oid, e.extn_value.as_bytes()) {
            // A value without text (OCSP No Check) leaves an empty line.
            Some(lines) if lines.is_empty() => out.push('\n'),
            Some(lines) => {
                for l in lines {
                    out.push_str(&format!("{pad}{l}\n"));
                }
            }
            None => {
                let raw: String = e
                    .extn_value
                    .as_bytes()
                    .iter()
                    .map(|&b| match b {
                        b'\n' | 0x20..=0x7e => char::from(b),
                        _ => '.',
                    })
                    .collect();
                out.push_str(&format!("{pad}{raw}\n"));
            }
        }
    }
}

/// The signature algorithm and value, at four and eight spaces (18 bytes a line).
pub(crate) fn signature(out: &mut String, alg: &der::oid::ObjectIdentifier, sig: &[u8]) {
    out.push_str(&format!(
        "    Signature Algorithm: {}\n    Signature Value:\n",
        crate::crl_text::sig_alg_long_name(alg.as_bytes())
    ));
    dump_lower(out, sig, 18, 8);
}

/// An unsigned big-endian number's bit length.
fn bits(magnitude: &[u8]) -> usize {
    let m = crate::ocsp::strip_zero(magnitude);
    match m.iter().position(|b| *b != 0) {
        Some(i) => (m.len() - i) * 8 - m[i].leading_zeros() as usize,
        None => 0,
    }
}

/// The public key part of a certificate's text (from `Public Key Algorithm:` on).
fn public_key(out: &mut String, spki: &x509_cert::spki::SubjectPublicKeyInfoOwned) -> Option<()> {
    let oid = spki.algorithm.oid.to_string();
    let key = spki.subject_public_key.raw_bytes();
    let p16 = " ".repeat(16);
    match oid.as_str() {
        "1.2.840.113549.1.1.1" => {
            let (0x30, seq, _) = tlv(key)? else {
                return None;
            };
            let (0x02, modulus, rest) = tlv(seq)? else {
                return None;
            };
            let (0x02, exponent, _) = tlv(rest)? else {
                return None;
            };
            out.push_str(&format!(
                "            Public Key Algorithm: rsaEncryption\n{p16}Public-Key: ({} bit)\n{p16}Modulus:\n",
                bits(modulus)
            ));
            // The modulus with a zero before a high first byte, as OpenSSL prints it.
            let m = crate::ocsp::strip_zero(modulus);
            let mut shown = Vec::with_capacity(m.len() + 1);
            if m.first().is_some_and(|b| b & 0x80 != 0) {
                shown.push(0);
            }
            shown.extend_from_slice(m);
            dump_lower(out, &shown, 15, 20);
            let e = crate::ocsp::strip_zero(exponent)
                .iter()
                .fold(0u64, |a, b| a.saturating_mul(256) | u64::from(*b));
            out.push_str(&format!("{p16}Exponent: {e} (0x{e:x})\n"));
        }
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<der::oid::ObjectIdentifier>().ok())
                .map(|o| o.to_string());
            let (size, asn1, nist) = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => (256, "prime256v1", "P-256"),
                Some("1.3.132.0.34") => (384, "secp384r1", "P-384"),
                Some("1.3.132.0.35") => (521, "secp521r1", "P-521"),
                _ => return None,
            };
            out.push_str(&format!(
                "            Public Key Algorithm: id-ecPublicKey\n{p16}Public-Key: ({size} bit)\n{p16}pub:\n"
            ));
            dump_lower(out, key, 15, 20);
            out.push_str(&format!("{p16}ASN1 OID: {asn1}\n{p16}NIST CURVE: {nist}\n"));
        }
        "1.3.101.112" => {
            out.push_str(&format!(
                "            Public Key Algorithm: ED25519\n{p16}ED25519 Public-Key:\n{p16}pub:\n"
            ));
            dump_lower(out, key, 15, 20);
        }
        _ => return None,
    }
    Some(())
}

/// A validity time as OpenSSL prints it.
fn time(t: &x509_cert::time::Time) -> String {
    let g = der::asn1::GeneralizedTime::from_date_time(t.to_date_time());
    gmt(&g)
}

/// The text of a certificate, then its PEM (a key other than RSA, EC P-256/384/521 or Ed25519 is said to be
/// unreadable); `None` when its names do not decode.
pub fn describe(cert: &Certificate) -> Option<String> {
    let tbs = &cert.tbs_certificate;
    let v = tbs.version as u8;
    let mut out = format!(
        "Certificate:\n    Data:\n        Version: {} (0x{v:x})\n",
        v + 1
    );
    let serial = crate::ocsp::strip_zero(tbs.serial_number.as_bytes());
    if serial.len() <= 8 {
        let n = serial.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
        out.push_str(&format!("        Serial Number: {n} (0x{n:x})\n"));
    } else {
        out.push_str("        Serial Number:\n");
        dump_lower(&mut out, serial, serial.len(), 12);
    }
    out.push_str(&format!(
        "        Signature Algorithm: {}\n        Issuer: {}\n        Validity\n            Not Before: {}\n            Not After : {}\n        Subject: {}\n        Subject Public Key Info:\n",
        crate::crl_text::sig_alg_long_name(tbs.signature.oid.as_bytes()),
        name_compact(&tbs.issuer.to_der().ok()?)?,
        time(&tbs.validity.not_before),
        time(&tbs.validity.not_after),
        name_compact(&tbs.subject.to_der().ok()?)?,
    ));
    let mut key = String::new();
    match public_key(&mut key, &tbs.subject_public_key_info) {
        Some(()) => out.push_str(&key),
        None => out.push_str(&format!(
            "            Public Key Algorithm: {}\n                Unable to load Public Key\n",
            tbs.subject_public_key_info.algorithm.oid
        )),
    }
    if let Some(exts) = &tbs.extensions {
        extensions(&mut out, "X509v3 extensions", exts, 8);
    }
    signature(
        &mut out,
        &cert.signature_algorithm.oid,
        cert.signature.raw_bytes(),
    );
    out.push_str(&pem(&cert.to_der().ok()?));
    Some(out)
}

/// A certificate's DER in PEM, 64 characters a line.
fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// A time as OpenSSL prints it: `Jun 10 08:55:04 2021 GMT`.
pub(crate) fn gmt(t: &der::asn1::GeneralizedTime) -> String {
    let d = t.to_date_time();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][usize::from(d.month().clamp(1, 12)) - 1];
    format!(
        "{month} {:>2} {:02}:{:02}:{:02} {} GMT",
        d.day(),
        d.hour(),
        d.minutes(),
        d.seconds(),
        d.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_put_a_colon_after_each_byte_but_the_last() {
        let mut s = String::new();
        dump_lower(&mut s, &[1, 2, 3, 4], 3, 2);
        assert_eq!(s, "  01:02:03:\n  04\n");
        assert_eq!(colon_upper(&[0xab, 1]), "AB:01");
        assert_eq!(bits(&[0x00, 0x80, 0]), 16);
        assert_eq!(bits(&[0x01, 0]), 9);
    }

    #[test]
    fn key_usages_and_constraints_read_as_openssl_names_them() {
        // BIT STRING: digitalSignature, keyCertSign.
        assert_eq!(
            extension_value("2.5.29.15", &[0x03, 0x02, 0x02, 0x84]),
            Some(vec!["Digital Signature, Certificate Sign".to_string()])
        );
        assert_eq!(
            extension_value(
                "2.5.29.19",
                &[0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00]
            ),
            Some(vec!["CA:TRUE, pathlen:0".to_string()])
        );
        assert_eq!(
            extension_value("2.5.29.19", &[0x30, 0x00]),
            Some(vec!["CA:FALSE".to_string()])
        );
        // SAN: DNS:a.b, IP 127.0.0.1
        assert_eq!(
            extension_value(
                "2.5.29.17",
                &[0x30, 0x0b, 0x82, 0x03, b'a', b'.', b'b', 0x87, 0x04, 127, 0, 0, 1]
            ),
            Some(vec!["DNS:a.b, IP Address:127.0.0.1".to_string()])
        );
    }
}
