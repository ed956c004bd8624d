//! The VRRP codec: advertisements of both versions over IPv4 and IPv6, and the IPv4 header split of the raw socket.
//!
//! The first byte picks the mode: bit 0 IPv6 addresses, bit 1 mends the checksum before decoding (so mutations
//! reach past it), bit 2 the pseudo-header form of that checksum, bit 3 reads the rest as a whole IPv4 packet.
//! Whatever decodes must encode again, and decode to the same advert.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fulcrum_vrrp::codec::{internet_checksum, ChecksumForm};
use fulcrum_vrrp::linux::socket::parse_ipv4;
use fulcrum_vrrp::{Advert, V3Ipv4Checksum};
use libfuzzer_sys::fuzz_target;

const IPPROTO_VRRP: u8 = 112;

/// Writes a checksum into `msg` that makes it valid from `src` to `dst`, with or without the pseudo-header.
fn mend(msg: &mut [u8], src: IpAddr, dst: IpAddr, pseudo: bool) {
    if msg.len() < 8 {
        return;
    }
    msg[6] = 0;
    msg[7] = 0;
    let sum = match (pseudo, src, dst) {
        (true, IpAddr::V4(s), IpAddr::V4(d)) => {
            let len = (msg.len() as u16).to_be_bytes();
            internet_checksum(&[
                &s.octets(),
                &d.octets(),
                &[0, IPPROTO_VRRP, len[0], len[1]],
                msg,
            ])
        }
        (true, IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = (msg.len() as u32).to_be_bytes();
            internet_checksum(&[
                &s.octets(),
                &d.octets(),
                &len,
                &[0, 0, 0, IPPROTO_VRRP],
                msg,
            ])
        }
        _ => internet_checksum(&[msg]),
    };
    msg[6..8].copy_from_slice(&sum.to_be_bytes());
}

fn check(msg: &[u8], src: IpAddr, dst: IpAddr) {
    let Ok(decoded) = Advert::decode(msg, src, dst) else {
        return;
    };
    let advert = decoded.advert;
    assert!(advert.vrid != 0);
    assert!(advert.interval_cs != 0);
    assert!(advert.addrs.iter().all(|a| a.is_ipv6() == src.is_ipv6()));
    let form = match decoded.checksum {
        ChecksumForm::MessageOnly => V3Ipv4Checksum::WithoutPseudoHeader,
        ChecksumForm::PseudoHeader => V3Ipv4Checksum::WithPseudoHeader,
    };
    let bytes = advert
        .encode(src, dst, form)
        .expect("a decoded advert encodes");
    assert_eq!(bytes.len(), msg.len());
    let again = Advert::decode(&bytes, src, dst).expect("an encoded advert decodes");
    assert_eq!(again.advert, advert);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut msg = rest.to_vec();
    let (src, dst) = if mode & 8 != 0 {
        let Some(received) = parse_ipv4(rest) else {
            return;
        };
        assert!(received.payload.len() + 20 <= rest.len());
        msg = received.payload;
        (received.src, received.dst)
    } else if mode & 1 != 0 {
        (
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
        )
    } else {
        (
            IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
        )
    };
    if mode & 2 != 0 {
        mend(&mut msg, src, dst, mode & 4 != 0);
    }
    check(&msg, src, dst);
});
