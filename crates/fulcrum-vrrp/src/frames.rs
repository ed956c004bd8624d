//! Gratuitous ARP frames and unsolicited IPv6 neighbour advertisements announcing a virtual address.
//!
//! Pure byte builders; the driver sends them (ARP on an `AF_PACKET` socket, NA on an ICMPv6 raw socket).

use std::net::{Ipv4Addr, Ipv6Addr};

/// Ethernet broadcast address.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// The all-nodes multicast group unsolicited NAs are sent to.
pub const ALL_NODES_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A complete Ethernet frame carrying a gratuitous ARP request for `vip` from `mac`.
///
/// Matches keepalived's: ARP request to broadcast, sender IP = target IP = VIP, target MAC ff:ff:ff:ff:ff:ff.
pub fn gratuitous_arp(mac: [u8; 6], vip: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&BROADCAST_MAC);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    f.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&vip.octets());
    f.extend_from_slice(&BROADCAST_MAC);
    f.extend_from_slice(&vip.octets());
    f
}

/// The ICMPv6 body of an unsolicited neighbour advertisement for `target` (checksum left 0: the kernel fills it in
/// on an ICMPv6 raw socket). Flags: Override, plus Router when `router` (the node forwards).
pub fn unsolicited_na(mac: [u8; 6], target: Ipv6Addr, router: bool) -> Vec<u8> {
    let mut p = Vec::with_capacity(32);
    p.push(136); // type: neighbour advertisement
    p.push(0); // code
    p.extend_from_slice(&[0, 0]); // checksum
    let flags = 0x20 | if router { 0x80 } else { 0 };
    p.extend_from_slice(&[flags, 0, 0, 0]);
    p.extend_from_slice(&target.octets());
    p.push(2); // option: target link-layer address
    p.push(1); // length in units of 8 bytes
    p.extend_from_slice(&mac);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];

    #[test]
    fn garp_matches_keepalived_capture() {
        let f = gratuitous_arp(MAC, Ipv4Addr::new(10, 99, 0, 100));
        let mut want = vec![0xff; 6];
        want.extend_from_slice(&MAC);
        want.extend_from_slice(&[0x08, 0x06]);
        want.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01]);
        want.extend_from_slice(&MAC);
        want.extend_from_slice(&[10, 99, 0, 100]);
        want.extend_from_slice(&[0xff; 6]);
        want.extend_from_slice(&[10, 99, 0, 100]);
        assert_eq!(f, want);
        assert_eq!(f.len(), 42);
    }

    #[test]
    fn na_layout() {
        let t: Ipv6Addr = "fd00::64".parse().unwrap();
        let p = unsolicited_na(MAC, t, false);
        assert_eq!(p.len(), 32);
        assert_eq!(&p[..2], &[136, 0]);
        assert_eq!(p[4], 0x20);
        assert_eq!(&p[8..24], &t.octets());
        assert_eq!(&p[24..26], &[2, 1]);
        assert_eq!(&p[26..], &MAC);
        assert_eq!(unsolicited_na(MAC, t, true)[4], 0xa0);
    }
}
