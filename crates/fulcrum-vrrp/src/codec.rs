//! The VRRP advertisement on the wire: RFC 3768 (VRRPv2, IPv4 only) and RFC 5798 / RFC 9568 (VRRPv3, IPv4 and IPv6).
//!
//! [`Advert::decode`] validates everything it reads and returns a [`DecodeError`] for any bad packet; it never panics.
//! [`Advert::encode`] produces the bytes that follow the IP header (the kernel writes the IP header).
//!
//! Checksums: VRRPv2 covers the VRRP message only. VRRPv3 over IPv6 uses the usual IPv6 pseudo-header (next header 112).
//! VRRPv3 over IPv4 comes in two forms: keepalived by default includes an IPv4 pseudo-header, RFC 9568 (and Cisco,
//! Juniper and keepalived's `v3_checksum_as_v2`) leave it out. We send the configured form and accept either.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::stats::PacketError;

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// The IPv4 multicast group VRRP adverts are sent to.
pub const MCAST_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group VRRP adverts are sent to.
pub const MCAST_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// TTL / hop limit every advert is sent with, and that multicast adverts must arrive with.
pub const VRRP_TTL: u8 = 255;

const HEADER_LEN: usize = 8;
const AUTH_LEN: usize = 8;

/// Protocol version of an advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// VRRPv2, RFC 3768: IPv4 only, interval in seconds, optional simple-text authentication.
    V2,
    /// VRRPv3, RFC 5798 / RFC 9568: IPv4 or IPv6, interval in centiseconds, no authentication.
    V3,
}

impl Version {
    /// The number carried in the high nibble of the first byte.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// Authentication section of a VRRPv2 advertisement (VRRPv3 has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Auth {
    /// Auth type 0: no authentication; the 8 auth bytes are zero.
    None,
    /// Auth type 1: simple text password, NUL-padded to 8 bytes.
    Pass([u8; 8]),
    /// Auth type 2: IP authentication header (deprecated); the 8 auth bytes are kept as received.
    Ah([u8; 8]),
}

impl Auth {
    /// A simple-text password; longer passwords are truncated to 8 bytes, as keepalived does.
    pub fn pass(password: &str) -> Auth {
        let mut data = [0u8; 8];
        let bytes = password.as_bytes();
        let n = bytes.len().min(8);
        data[..n].copy_from_slice(&bytes[..n]);
        Auth::Pass(data)
    }

    fn type_code(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::Pass(_) => 1,
            Auth::Ah(_) => 2,
        }
    }

    fn data(&self) -> [u8; 8] {
        match self {
            Auth::None => [0; 8],
            Auth::Pass(d) | Auth::Ah(d) => *d,
        }
    }
}

/// Which checksum a VRRPv3-over-IPv4 advert is sent with (IPv6 always uses the pseudo-header, v2 never does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum V3Ipv4Checksum {
    /// keepalived's default: include the IPv4 pseudo-header.
    #[default]
    WithPseudoHeader,
    /// RFC 9568 / `v3_checksum_as_v2`: over the VRRP message only.
    WithoutPseudoHeader,
}

/// Which checksum form a received advert matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumForm {
    /// Over the VRRP message alone (VRRPv2, or VRRPv3/IPv4 in the RFC 9568 form).
    MessageOnly,
    /// Including an IPv4 or IPv6 pseudo-header.
    PseudoHeader,
}

/// One VRRP advertisement, version-independent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// Protocol version.
    pub version: Version,
    /// Virtual router id, 1-255.
    pub vrid: u8,
    /// Sender's priority: 255 address owner, 1-254 backup-capable, 0 master leaving.
    pub priority: u8,
    /// Advertisement interval in centiseconds (VRRPv2 carries whole seconds; they are converted).
    pub interval_cs: u16,
    /// The virtual addresses; all of the family of the IP packet that carried them.
    pub addrs: Vec<IpAddr>,
    /// VRRPv2 authentication (always [`Auth::None`] for VRRPv3).
    pub auth: Auth,
}

/// Why a received packet is not a valid advertisement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The packet is shorter than what its header announces.
    #[error("packet too short: {len} bytes")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// The version nibble is neither 2 nor 3.
    #[error("unsupported VRRP version {0}")]
    BadVersion(u8),
    /// The type nibble is not 1 (ADVERTISEMENT).
    #[error("unknown VRRP packet type {0}")]
    BadType(u8),
    /// A VRRPv2 packet arrived over IPv6, or the source and destination families differ.
    #[error("VRRP version and address family do not match")]
    FamilyMismatch,
    /// VRID 0 is not a valid virtual router.
    #[error("VRID 0 is invalid")]
    ZeroVrid,
    /// The advertisement interval is zero.
    #[error("advertisement interval is zero")]
    ZeroInterval,
    /// The address count does not match the packet length.
    #[error("address count {count} does not match packet length {len}")]
    LengthMismatch {
        /// Count field.
        count: u8,
        /// Bytes received.
        len: usize,
    },
    /// The checksum is wrong (under every accepted form).
    #[error("bad checksum")]
    BadChecksum,
    /// The VRRPv2 auth type is not 0, 1 or 2.
    #[error("unknown auth type {0}")]
    BadAuthType(u8),
}

impl DecodeError {
    /// The counter this error goes to.
    pub fn kind(&self) -> PacketError {
        match self {
            DecodeError::Truncated { .. } | DecodeError::LengthMismatch { .. } => {
                PacketError::Length
            }
            DecodeError::BadVersion(_) | DecodeError::FamilyMismatch => PacketError::Version,
            DecodeError::BadType(_) => PacketError::InvalidType,
            DecodeError::ZeroVrid => PacketError::Vrid,
            DecodeError::ZeroInterval => PacketError::AdvertInterval,
            DecodeError::BadChecksum => PacketError::Checksum,
            DecodeError::BadAuthType(_) => PacketError::AuthInvalidType,
        }
    }
}

/// The VRID of a packet that may not decode, when it can be read (the second byte, not 0): whose counters a bad
/// packet goes to.
pub fn peek_vrid(buf: &[u8]) -> Option<u8> {
    buf.get(1).copied().filter(|v| *v != 0)
}

/// Why an advertisement cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// VRRPv2 carries whole seconds from 1 to 255; VRRPv3 1 to 4095 centiseconds.
    #[error("advertisement interval {0} cs cannot be carried by this version")]
    BadInterval(u16),
    /// More than 255 addresses.
    #[error("too many addresses")]
    TooManyAddresses,
    /// An address, the source or the destination is not of one family, or v2 over IPv6.
    #[error("address family mismatch")]
    FamilyMismatch,
}

/// A decoded advert and the checksum form it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The advertisement.
    pub advert: Advert,
    /// Which checksum form matched.
    pub checksum: ChecksumForm,
}

impl Advert {
    /// Decodes the VRRP part of a packet (after the IP header) received from `src` and sent to `dst`.
    pub fn decode(buf: &[u8], src: IpAddr, dst: IpAddr) -> Result<Decoded, DecodeError> {
        if buf.len() < HEADER_LEN {
            return Err(DecodeError::Truncated { len: buf.len() });
        }
        let version = match buf[0] >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(DecodeError::BadVersion(v)),
        };
        let ptype = buf[0] & 0x0f;
        if ptype != 1 {
            return Err(DecodeError::BadType(ptype));
        }
        let v6 = match (src, dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => false,
            (IpAddr::V6(_), IpAddr::V6(_)) => true,
            _ => return Err(DecodeError::FamilyMismatch),
        };
        if v6 && version == Version::V2 {
            return Err(DecodeError::FamilyMismatch);
        }
        let vrid = buf[1];
        if vrid == 0 {
            return Err(DecodeError::ZeroVrid);
        }
        let priority = buf[2];
        let count = buf[3];
        let alen = if v6 { 16 } else { 4 };
        let auth_len = if version == Version::V2 { AUTH_LEN } else { 0 };
        let expected = HEADER_LEN + alen * count as usize + auth_len;
        if buf.len() < expected {
            return Err(DecodeError::Truncated { len: buf.len() });
        }
        if buf.len() != expected {
            return Err(DecodeError::LengthMismatch {
                count,
                len: buf.len(),
            });
        }
        let (interval_cs, auth_type) = match version {
            Version::V2 => (u16::from(buf[5]) * 100, buf[4]),
            Version::V3 => (u16::from_be_bytes([buf[4], buf[5]]) & 0x0fff, 0),
        };
        if interval_cs == 0 {
            return Err(DecodeError::ZeroInterval);
        }
        let checksum = match version {
            Version::V2 => {
                if internet_checksum(&[buf]) != 0 {
                    return Err(DecodeError::BadChecksum);
                }
                ChecksumForm::MessageOnly
            }
            Version::V3 => {
                if checksum_with_pseudo(buf, src, dst) == 0 {
                    ChecksumForm::PseudoHeader
                } else if !v6 && internet_checksum(&[buf]) == 0 {
                    ChecksumForm::MessageOnly
                } else {
                    return Err(DecodeError::BadChecksum);
                }
            }
        };
        let mut addrs = Vec::with_capacity(count as usize);
        for chunk in buf[HEADER_LEN..HEADER_LEN + alen * count as usize].chunks_exact(alen) {
            addrs.push(if v6 {
                let mut a = [0u8; 16];
                a.copy_from_slice(chunk);
                IpAddr::V6(Ipv6Addr::from(a))
            } else {
                IpAddr::V4(Ipv4Addr::new(chunk[0], chunk[1], chunk[2], chunk[3]))
            });
        }
        let auth = if version == Version::V2 {
            let mut data = [0u8; 8];
            data.copy_from_slice(&buf[expected - AUTH_LEN..expected]);
            match auth_type {
                0 => Auth::None,
                1 => Auth::Pass(data),
                2 => Auth::Ah(data),
                t => return Err(DecodeError::BadAuthType(t)),
            }
        } else {
            Auth::None
        };
        Ok(Decoded {
            advert: Advert {
                version,
                vrid,
                priority,
                interval_cs,
                addrs,
                auth,
            },
            checksum,
        })
    }

    /// Encodes this advert as sent from `src` to `dst`; `v3_ipv4` picks the VRRPv3-over-IPv4 checksum form.
    pub fn encode(
        &self,
        src: IpAddr,
        dst: IpAddr,
        v3_ipv4: V3Ipv4Checksum,
    ) -> Result<Vec<u8>, EncodeError> {
        let v6 = match (src, dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => false,
            (IpAddr::V6(_), IpAddr::V6(_)) => true,
            _ => return Err(EncodeError::FamilyMismatch),
        };
        if (v6 && self.version == Version::V2) || self.addrs.iter().any(|a| a.is_ipv6() != v6) {
            return Err(EncodeError::FamilyMismatch);
        }
        let count = u8::try_from(self.addrs.len()).map_err(|_| EncodeError::TooManyAddresses)?;
        let mut out = Vec::with_capacity(HEADER_LEN + 16 * self.addrs.len() + AUTH_LEN);
        out.push((self.version.number() << 4) | 1);
        out.push(self.vrid);
        out.push(self.priority);
        out.push(count);
        match self.version {
            Version::V2 => {
                if self.interval_cs == 0
                    || self.interval_cs.rem_euclid(100) != 0
                    || self.interval_cs > 25500
                {
                    return Err(EncodeError::BadInterval(self.interval_cs));
                }
                out.push(self.auth.type_code());
                out.push((self.interval_cs / 100) as u8);
            }
            Version::V3 => {
                if self.interval_cs == 0 || self.interval_cs > 0x0fff {
                    return Err(EncodeError::BadInterval(self.interval_cs));
                }
                out.extend_from_slice(&self.interval_cs.to_be_bytes());
            }
        }
        out.extend_from_slice(&[0, 0]);
        for a in &self.addrs {
            match a {
                IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
            }
        }
        if self.version == Version::V2 {
            out.extend_from_slice(&self.auth.data());
        }
        let sum = match (self.version, v6, v3_ipv4) {
            (Version::V2, _, _) | (Version::V3, false, V3Ipv4Checksum::WithoutPseudoHeader) => {
                internet_checksum(&[&out])
            }
            _ => checksum_with_pseudo(&out, src, dst),
        };
        out[6..8].copy_from_slice(&sum.to_be_bytes());
        Ok(out)
    }
}

/// The checksum of `msg` preceded by the IPv4 or IPv6 pseudo-header for protocol 112.
fn checksum_with_pseudo(msg: &[u8], src: IpAddr, dst: IpAddr) -> u16 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let len = (msg.len() as u16).to_be_bytes();
            let pseudo = [0, IPPROTO_VRRP, len[0], len[1]];
            internet_checksum(&[&s.octets(), &d.octets(), &pseudo, msg])
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = (msg.len() as u32).to_be_bytes();
            let tail = [0, 0, 0, IPPROTO_VRRP];
            internet_checksum(&[&s.octets(), &d.octets(), &len, &tail, msg])
        }
        _ => 0xffff,
    }
}

/// RFC 1071 one's-complement checksum over the concatenation of `parts`.
///
/// Computing it over data that already holds a correct checksum yields 0.
pub fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in part.iter() {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const SRC: &str = "10.99.0.1";
    const DST: &str = "224.0.0.18";

    fn captured_v2() -> Advert {
        Advert {
            version: Version::V2,
            vrid: 51,
            priority: 150,
            interval_cs: 100,
            addrs: vec![v4("10.99.0.100")],
            auth: Auth::pass("s3cret"),
        }
    }

    #[test]
    fn v2_golden_bytes_from_keepalived() {
        let bytes = captured_v2()
            .encode(v4(SRC), v4(DST), V3Ipv4Checksum::default())
            .unwrap();
        assert_eq!(
            bytes,
            hex("21 33 96 01 01 01 00e9 0a630064 7333637265740000")
        );
        let d = Advert::decode(&bytes, v4(SRC), v4(DST)).unwrap();
        assert_eq!(d.advert, captured_v2());
        assert_eq!(d.checksum, ChecksumForm::MessageOnly);
    }

    #[test]
    fn v2_priority_zero_golden() {
        let mut a = captured_v2();
        a.priority = 0;
        let bytes = a
            .encode(v4(SRC), v4(DST), V3Ipv4Checksum::default())
            .unwrap();
        assert_eq!(
            bytes,
            hex("21 33 00 01 01 01 96e9 0a630064 7333637265740000")
        );
    }

    fn captured_v3() -> Advert {
        Advert {
            version: Version::V3,
            vrid: 52,
            priority: 150,
            interval_cs: 100,
            addrs: vec![v4("10.99.0.101"), v4("10.99.0.102")],
            auth: Auth::None,
        }
    }

    #[test]
    fn v3_ipv4_golden_with_pseudo_header() {
        let bytes = captured_v3()
            .encode(v4(SRC), v4(DST), V3Ipv4Checksum::WithPseudoHeader)
            .unwrap();
        assert_eq!(bytes, hex("31 34 96 02 0064 37dd 0a630065 0a630066"));
        let d = Advert::decode(&bytes, v4(SRC), v4(DST)).unwrap();
        assert_eq!(d.checksum, ChecksumForm::PseudoHeader);
        assert_eq!(d.advert, captured_v3());
    }

    #[test]
    fn v3_ipv4_golden_without_pseudo_header() {
        let bytes = captured_v3()
            .encode(v4(SRC), v4(DST), V3Ipv4Checksum::WithoutPseudoHeader)
            .unwrap();
        assert_eq!(bytes, hex("31 34 96 02 0064 22d4 0a630065 0a630066"));
        let d = Advert::decode(&bytes, v4(SRC), v4(DST)).unwrap();
        assert_eq!(d.checksum, ChecksumForm::MessageOnly);
    }

    #[test]
    fn v3_ipv4_pseudo_checksum_depends_on_addresses() {
        let bytes = captured_v3()
            .encode(v4(SRC), v4(DST), V3Ipv4Checksum::WithPseudoHeader)
            .unwrap();
        assert_eq!(
            Advert::decode(&bytes, v4("10.99.0.2"), v4(DST)),
            Err(DecodeError::BadChecksum)
        );
    }

    #[test]
    fn v3_ipv6_roundtrip_and_checksum() {
        let src: IpAddr = "fe80::1".parse().unwrap();
        let dst = IpAddr::V6(MCAST_GROUP_V6);
        let a = Advert {
            version: Version::V3,
            vrid: 7,
            priority: 200,
            interval_cs: 50,
            addrs: vec!["fe80::7".parse().unwrap(), "fd00::7".parse().unwrap()],
            auth: Auth::None,
        };
        let bytes = a
            .encode(src, dst, V3Ipv4Checksum::WithoutPseudoHeader)
            .unwrap();
        assert_eq!(bytes.len(), 8 + 32);
        // The pseudo-header is always used for IPv6: the message-only sum must not verify.
        assert_ne!(internet_checksum(&[&bytes]), 0);
        let d = Advert::decode(&bytes, src, dst).unwrap();
        assert_eq!(d.advert, a);
        assert_eq!(d.checksum, ChecksumForm::PseudoHeader);
        let other: IpAddr = "fe80::2".parse().unwrap();
        assert_eq!(
            Advert::decode(&bytes, other, dst),
            Err(DecodeError::BadChecksum)
        );
    }

    #[test]
    fn decode_errors() {
        let good = captured_v2()
            .encode(v4(SRC), v4(DST), V3Ipv4Checksum::default())
            .unwrap();
        let s = v4(SRC);
        let d = v4(DST);
        assert_eq!(
            Advert::decode(&good[..5], s, d),
            Err(DecodeError::Truncated { len: 5 })
        );
        assert_eq!(
            Advert::decode(&good[..12], s, d),
            Err(DecodeError::Truncated { len: 12 })
        );
        let mut extra = good.clone();
        extra.push(0);
        assert!(matches!(
            Advert::decode(&extra, s, d),
            Err(DecodeError::LengthMismatch { .. })
        ));
        let mut b = good.clone();
        b[0] = 0x41;
        assert_eq!(Advert::decode(&b, s, d), Err(DecodeError::BadVersion(4)));
        let mut b = good.clone();
        b[0] = 0x22;
        assert_eq!(Advert::decode(&b, s, d), Err(DecodeError::BadType(2)));
        let mut b = good.clone();
        b[1] = 0;
        assert_eq!(Advert::decode(&b, s, d), Err(DecodeError::ZeroVrid));
        let mut b = good.clone();
        b[5] = 0;
        assert_eq!(Advert::decode(&b, s, d), Err(DecodeError::ZeroInterval));
        let mut b = good.clone();
        b[7] ^= 1;
        assert_eq!(Advert::decode(&b, s, d), Err(DecodeError::BadChecksum));
        let mut b = good.clone();
        b[4] = 3;
        // fix up the checksum so only the auth type is wrong
        b[6] = 0;
        b[7] = 0;
        let c = internet_checksum(&[&b]);
        b[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(Advert::decode(&b, s, d), Err(DecodeError::BadAuthType(3)));
        let v6: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(
            Advert::decode(&good, v6, IpAddr::V6(MCAST_GROUP_V6)),
            Err(DecodeError::FamilyMismatch)
        );
        assert_eq!(
            Advert::decode(&good, s, IpAddr::V6(MCAST_GROUP_V6)),
            Err(DecodeError::FamilyMismatch)
        );
    }

    #[test]
    fn errors_have_counters_and_the_vrid_is_read_when_present() {
        assert_eq!(peek_vrid(&[]), None);
        assert_eq!(peek_vrid(&[0x21]), None);
        assert_eq!(peek_vrid(&[0x21, 0]), None);
        assert_eq!(peek_vrid(&[0x21, 51]), Some(51));
        assert_eq!(
            DecodeError::Truncated { len: 3 }.kind(),
            PacketError::Length
        );
        assert_eq!(DecodeError::BadVersion(4).kind(), PacketError::Version);
        assert_eq!(DecodeError::BadChecksum.kind(), PacketError::Checksum);
        assert_eq!(DecodeError::BadType(2).kind(), PacketError::InvalidType);
        assert_eq!(DecodeError::ZeroVrid.kind(), PacketError::Vrid);
        assert_eq!(
            DecodeError::BadAuthType(3).kind(),
            PacketError::AuthInvalidType
        );
    }

    #[test]
    fn encode_errors() {
        let mut a = captured_v2();
        a.interval_cs = 150;
        assert_eq!(
            a.encode(v4(SRC), v4(DST), V3Ipv4Checksum::default()),
            Err(EncodeError::BadInterval(150))
        );
        let mut a = captured_v3();
        a.interval_cs = 5000;
        assert_eq!(
            a.encode(v4(SRC), v4(DST), V3Ipv4Checksum::default()),
            Err(EncodeError::BadInterval(5000))
        );
        let a = captured_v2();
        let v6: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(
            a.encode(v6, v6, V3Ipv4Checksum::default()),
            Err(EncodeError::FamilyMismatch)
        );
    }

    #[test]
    fn checksum_odd_length() {
        assert_eq!(internet_checksum(&[&[0x01]]), !0x0100);
        assert_eq!(internet_checksum(&[&[0x01], &[0x02]]), !0x0102);
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200), v6 in proptest::bool::ANY) {
            let (s, d) = if v6 {
                ("fe80::1".parse().unwrap(), IpAddr::V6(MCAST_GROUP_V6))
            } else {
                (v4(SRC), v4(DST))
            };
            let _ = Advert::decode(&bytes, s, d);
        }

        #[test]
        fn encode_decode_roundtrip(vrid in 1u8.., prio in proptest::num::u8::ANY, secs in 1u16..=255, n in 0usize..20, v3 in proptest::bool::ANY, pseudo in proptest::bool::ANY) {
            let addrs = (0..n).map(|i| IpAddr::V4(Ipv4Addr::new(198, 18, 0, i as u8))).collect();
            let a = Advert {
                version: if v3 { Version::V3 } else { Version::V2 },
                vrid,
                priority: prio,
                interval_cs: if v3 { secs.min(40) * 100 } else { secs * 100 },
                addrs,
                auth: if v3 { Auth::None } else { Auth::pass("pw") },
            };
            let mode = if pseudo { V3Ipv4Checksum::WithPseudoHeader } else { V3Ipv4Checksum::WithoutPseudoHeader };
            let bytes = a.encode(v4(SRC), v4(DST), mode).unwrap();
            let d = Advert::decode(&bytes, v4(SRC), v4(DST)).unwrap();
            proptest::prop_assert_eq!(d.advert, a);
        }
    }
}
