//! Sends gratuitous ARPs (AF_PACKET) and unsolicited neighbour advertisements (ICMPv6 raw socket).

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::frames::{gratuitous_arp, unsolicited_na, ALL_NODES_V6, ETHERTYPE_ARP};

/// Sends `count` announcements of each of `vips` on the interface.
pub fn announce(
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
        let fd = packet_socket(ifindex)?;
        for _ in 0..count {
            for vip in &v4 {
                let frame = gratuitous_arp(mac, *vip);
                // SAFETY: sends a live buffer of its length on our bound socket.
                let r =
                    unsafe { libc::send(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
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

fn packet_socket(ifindex: u32) -> io::Result<OwnedFd> {
    let proto = ETHERTYPE_ARP.to_be();
    // SAFETY: plain socket(2) call; the fd is owned right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(proto),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is fresh and ours.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: zeroed sockaddr_ll is valid; bind with its size.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as i32;
    let r = unsafe {
        libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
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
