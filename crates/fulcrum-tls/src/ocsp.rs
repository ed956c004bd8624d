//! The certificate an OCSP response speaks about: the serial numbers of its single responses, read from the DER
//! (`OCSPResponse` → `BasicOCSPResponse` → `tbsResponseData` → `responses` → `certID`), so the runtime API's
//! `set ssl ocsp-response` can staple it to the certificate it belongs to.

use crate::dn::tlv;

/// The serial numbers (as their DER integer bytes, without a leading zero) of the certificates a successful
/// OCSP response answers for; `None` when `der` is not a successful basic OCSP response.
pub fn serials(der: &[u8]) -> Option<Vec<Vec<u8>>> {
    let (0x30, resp, _) = tlv(der)? else {
        return None;
    };
    // responseStatus ENUMERATED: 0 is successful.
    let (0x0a, status, rest) = tlv(resp)? else {
        return None;
    };
    if status != [0] {
        return None;
    }
    // responseBytes [0] EXPLICIT SEQUENCE { responseType, response OCTET STRING }
    let (0xa0, bytes, _) = tlv(rest)? else {
        return None;
    };
    let (0x30, bytes, _) = tlv(bytes)? else {
        return None;
    };
    let (0x06, _oid, rest) = tlv(bytes)? else {
        return None;
    };
    let (0x04, basic, _) = tlv(rest)? else {
        return None;
    };
    let (0x30, basic, _) = tlv(basic)? else {
        return None;
    };
    let (0x30, mut tbs, _) = tlv(basic)? else {
        return None;
    };
    // [0] version (optional), responderID ([1] or [2]), producedAt, responses.
    let (tag, _, rest) = tlv(tbs)?;
    if tag == 0xa0 {
        tbs = rest;
        let (_, _, rest) = tlv(tbs)?;
        tbs = rest;
    } else {
        tbs = rest;
    }
    let (0x18, _produced, rest) = tlv(tbs)? else {
        return None;
    };
    let (0x30, mut responses, _) = tlv(rest)? else {
        return None;
    };
    let mut out = Vec::new();
    while !responses.is_empty() {
        let (0x30, single, rest) = tlv(responses)? else {
            return None;
        };
        responses = rest;
        let (0x30, cert_id, _) = tlv(single)? else {
            return None;
        };
        let (_, _alg, r) = tlv(cert_id)?;
        let (0x04, _name_hash, r) = tlv(r)? else {
            return None;
        };
        let (0x04, _key_hash, r) = tlv(r)? else {
            return None;
        };
        let (0x02, serial, _) = tlv(r)? else {
            return None;
        };
        out.push(strip_zero(serial).to_vec());
    }
    (!out.is_empty()).then_some(out)
}

/// An INTEGER's bytes without the zero that keeps a positive number positive.
pub fn strip_zero(b: &[u8]) -> &[u8] {
    match b {
        [0, rest @ ..] if !rest.is_empty() => rest,
        s => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_no_ocsp_response() {
        assert_eq!(serials(b""), None);
        assert_eq!(serials(&[0x30, 0x03, 0x0a, 0x01, 0x01]), None);
        assert_eq!(serials(&[0x00, 0x00]), None);
    }
}
