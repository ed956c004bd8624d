//! Sends gratuitous ARPs (AF_PACKET) and unsolicited neighbour advertisements (ICMPv6 raw socket).

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::frames::{gratuitous_arp, unsolicited_na, ALL_NODES_V6, BROADCAST_MAC, ETHERTYPE_ARP};

/// Sends announcements. Holds one `AF_PACKET` socket for the daemon's lifetime, opened with protocol 0 and never
/// bound: such a socket is not hooked into the receive path, so sending needs no `bind(2)`. Binding (or closing) a
/// packet socket opened for `ETH_P_ARP` waits for an RCU grace period (`synchronize_net`), which cost 8-12 ms
/// between the first advert and the first gratuitous ARP of every takeover when a socket was made per burst.
#[derive(Debug, Default)]
pub struct Announcer {
    arp: Option<OwnedFd>,
}

impl Announcer {
    /// Opens the ARP socket now (so that the first takeover does not pay for it); failures are retried on use.
    pub fn new() -> Announcer {
        let mut a = Announcer::default();
        if let Err(e) = a.arp_socket() {
            tracing::warn!("cannot open the gratuitous ARP socket yet: {e}");
        }
        a
    }

    fn arp_socket(&mut self) -> io::Result<i32> {
        if let Some(fd) = &self.arp {
            return Ok(fd.as_raw_fd());
        }
        // SAFETY: plain socket(2) call; the fd is owned right away. Protocol 0: send-only, no receive hook.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is fresh and ours.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = owned.as_raw_fd();
        self.arp = Some(owned);
        Ok(raw)
    }

    /// Sends `count` announcements of each of `vips` on the interface.
    pub fn announce(
        &mut self,
        ifname: &str,
        ifindex: u32,
        mac: [u8; 6],
        vips: &[IpAddr],
        count: u32,
    ) -> io::Result<()> {
        let mut result = Ok(());
        let v4: Vec<_> = vips
            .iter()
            .filter_map(|v| match v {
                IpAddr::V4(a) => Some(*a),
                _ => None,
            })
            .collect();
        if !v4.is_empty() {
            let fd = self.arp_socket()?;
            let to = arp_destination(ifindex);
            for _ in 0..count {
                for vip in &v4 {
                    let frame = gratuitous_arp(mac, *vip);
                    // SAFETY: sends a live buffer of its length to a live sockaddr_ll of its size.
                    let r = unsafe {
                        libc::sendto(
                            fd,
                            frame.as_ptr().cast(),
                            frame.len(),
                            0,
                            (&to as *const libc::sockaddr_ll).cast(),
                            std::mem::size_of::<libc::sockaddr_ll>() as u32,
                        )
                    };
                    if r < 0 {
                        result = Err(io::Error::last_os_error());
                    }
                }
            }
        }
        let forwarding =
            std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"))
                .map(|s| s.trim() == "1")
                .unwrap_or(false);
        for vip in vips.iter().filter_map(|v| match v {
            IpAddr::V6(a) => Some(*a),
            _ => None,
        }) {
            if let Err(e) = send_na(ifname, ifindex, mac, vip, forwarding, count) {
                result = Err(e);
            }
        }
        result
    }
}

/// Where a complete ARP frame goes on a `SOCK_RAW` packet socket: the interface and the protocol (the frame carries
/// its own Ethernet header, so the link-layer address here is informative only).
pub fn arp_destination(ifindex: u32) -> libc::sockaddr_ll {
    // SAFETY: a zeroed sockaddr_ll is valid; the fields that matter are set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETHERTYPE_ARP.to_be();
    sll.sll_ifindex = ifindex as i32;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&BROADCAST_MAC);
    sll
}

fn send_na(
    ifname: &str,
    ifindex: u32,
    mac: [u8; 6],
    vip: Ipv6Addr,
    router: bool,
    count: u32,
) -> io::Result<()> {
    let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    sock.bind_device(Some(ifname.as_bytes()))?;
    sock.set_multicast_hops_v6(255)?;
    sock.set_unicast_hops_v6(255)?;
    sock.set_multicast_if_v6(ifindex)?;
    let scope = if (vip.segments()[0] & 0xffc0) == 0xfe80 {
        ifindex
    } else {
        0
    };
    sock.bind(&SockAddr::from(SocketAddrV6::new(vip, 0, 0, scope)))?;
    let body = unsolicited_na(mac, vip, router);
    let dst = SockAddr::from(SocketAddrV6::new(ALL_NODES_V6, 0, 0, ifindex));
    for _ in 0..count {
        sock.send_to(&body, &dst)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_destination_names_interface_and_protocol() {
        let d = arp_destination(7);
        assert_eq!(d.sll_family, libc::AF_PACKET as u16);
        assert_eq!(u16::from_be(d.sll_protocol), 0x0806);
        assert_eq!(d.sll_ifindex, 7);
        assert_eq!(&d.sll_addr[..6], &[0xff; 6]);
    }
}
