//! Raw IP protocol 112 sockets, one per instance, bound to the instance's interface.
//!
//! IPv4: the kernel writes the IP header (TTL 255, TOS 0xc0); received packets carry the IP header, from which the
//! TTL and destination are read. IPv6: hop limit 255; the hop limit and destination come from `IPV6_HOPLIMIT` and
//! `IPV6_PKTINFO` control messages.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use crate::codec::{IPPROTO_VRRP, VRRP_TTL};

/// One received VRRP packet.
#[derive(Debug, Clone)]
pub struct Received {
    /// IP source.
    pub src: IpAddr,
    /// IP destination.
    pub dst: IpAddr,
    /// TTL or hop limit.
    pub ttl: u8,
    /// The VRRP message (after the IP header).
    pub payload: Vec<u8>,
}

/// A packet read from the socket whose IP header (or control messages) could not be made sense of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Raw VRRP sockets on one interface: `tx` is bound to the source address (so the kernel sends from it, which the
/// VRRPv3 pseudo-header checksum depends on); `rx` is not bound to an address, because a raw socket bound to a local
/// address only receives packets sent to that address, and adverts go to the multicast group.
#[derive(Debug)]
pub struct VrrpSocket {
    tx: Socket,
    sock: Socket,
    ifindex: u32,
    v6: bool,
}

fn raw(v6: bool, ifname: &str) -> io::Result<Socket> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let sock = Socket::new(
        domain,
        Type::RAW,
        Some(Protocol::from(i32::from(IPPROTO_VRRP))),
    )?;
    sock.bind_device(Some(ifname.as_bytes()))?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

impl VrrpSocket {
    /// Opens the sockets on `ifname`, sending from `src`, joined to `group` when it is multicast.
    pub fn open(
        ifname: &str,
        ifindex: u32,
        src: IpAddr,
        group: Option<IpAddr>,
    ) -> io::Result<VrrpSocket> {
        let v6 = src.is_ipv6();
        let tx = raw(v6, ifname)?;
        let sock = raw(v6, ifname)?;
        // The sender never reads: keep its receive queue minimal.
        tx.set_recv_buffer_size(1)?;
        match src {
            IpAddr::V4(a) => {
                tx.set_ttl(u32::from(VRRP_TTL))?;
                tx.set_multicast_ttl_v4(u32::from(VRRP_TTL))?;
                tx.set_tos(0xc0)?;
                tx.set_multicast_loop_v4(false)?;
                tx.set_multicast_if_v4(&a)?;
                tx.bind(&SockAddr::from(SocketAddrV4::new(a, 0)))?;
                if let Some(IpAddr::V4(g)) = group {
                    sock.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex))?;
                }
            }
            IpAddr::V6(a) => {
                tx.set_unicast_hops_v6(u32::from(VRRP_TTL))?;
                tx.set_multicast_hops_v6(u32::from(VRRP_TTL))?;
                tx.set_multicast_loop_v6(false)?;
                tx.set_multicast_if_v6(ifindex)?;
                tx.set_tclass_v6(0xc0)?;
                let scope = if is_link_local(&a) { ifindex } else { 0 };
                tx.bind(&SockAddr::from(SocketAddrV6::new(a, 0, 0, scope)))?;
                setsockopt_int(
                    sock.as_raw_fd(),
                    libc::IPPROTO_IPV6,
                    libc::IPV6_RECVHOPLIMIT,
                    1,
                )?;
                setsockopt_int(
                    sock.as_raw_fd(),
                    libc::IPPROTO_IPV6,
                    libc::IPV6_RECVPKTINFO,
                    1,
                )?;
                if let Some(IpAddr::V6(g)) = group {
                    sock.join_multicast_v6(&g, ifindex)?;
                }
            }
        }
        Ok(VrrpSocket {
            tx,
            sock,
            ifindex,
            v6,
        })
    }

    /// The file descriptor, for poll(2).
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Sends one VRRP message to `dst`.
    pub fn send(&self, dst: IpAddr, payload: &[u8]) -> io::Result<()> {
        let addr = match dst {
            IpAddr::V4(a) => SocketAddr::V4(SocketAddrV4::new(a, 0)),
            IpAddr::V6(a) => {
                let scope = if is_link_local(&a) || a.is_multicast() {
                    self.ifindex
                } else {
                    0
                };
                SocketAddr::V6(SocketAddrV6::new(a, 0, 0, scope))
            }
        };
        self.tx.send_to(payload, &SockAddr::from(addr)).map(|_| ())
    }

    /// Reads one packet; `Ok(None)` when nothing is waiting, `Ok(Some(Err(Malformed)))` when the packet read is not
    /// a well-formed IP packet.
    pub fn recv(&self) -> io::Result<Option<Result<Received, Malformed>>> {
        if self.v6 {
            self.recv_v6()
        } else {
            self.recv_v4()
        }
    }

    fn recv_v4(&self) -> io::Result<Option<Result<Received, Malformed>>> {
        let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
        let n = match self.sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        // SAFETY: recv initialised the first n bytes.
        let data: Vec<u8> = buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        Ok(Some(parse_ipv4(&data).ok_or(Malformed)))
    }

    fn recv_v6(&self) -> io::Result<Option<Result<Received, Malformed>>> {
        let mut data = vec![0u8; 2048];
        // u64 elements: the control messages the kernel writes here must be aligned for cmsghdr.
        let mut ctrl = [0u64; 32];
        // SAFETY: zeroed sockaddr_in6 / msghdr are valid initial values.
        let mut from: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_in6).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctrl.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&ctrl);
        // SAFETY: every pointer in msg refers to live buffers of the stated lengths.
        let n = unsafe { libc::recvmsg(self.fd(), &mut msg, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(None)
            } else {
                Err(e)
            };
        }
        data.truncate(n as usize);
        let mut ttl = 0u8;
        let mut dst = None;
        // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let h = &*c;
                if h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_HOPLIMIT {
                    let v = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::c_int);
                    ttl = v.clamp(0, 255) as u8;
                } else if h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_PKTINFO {
                    let p =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::in6_pktinfo);
                    dst = Some(Ipv6Addr::from(p.ipi6_addr.s6_addr));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        let Some(dst) = dst else {
            return Ok(Some(Err(Malformed)));
        };
        Ok(Some(Ok(Received {
            src: IpAddr::V6(Ipv6Addr::from(from.sin6_addr.s6_addr)),
            dst: IpAddr::V6(dst),
            ttl,
            payload: data,
        })))
    }
}

/// Splits an IPv4 packet as read from a raw socket; `None` unless it is a sane protocol-112 packet.
pub fn parse_ipv4(data: &[u8]) -> Option<Received> {
    if data.len() < 20 || data[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(data[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([data[2], data[3]]));
    if ihl < 20 || total < ihl || total > data.len() || data[9] != IPPROTO_VRRP {
        return None;
    }
    Some(Received {
        src: IpAddr::V4(Ipv4Addr::new(data[12], data[13], data[14], data[15])),
        dst: IpAddr::V4(Ipv4Addr::new(data[16], data[17], data[18], data[19])),
        ttl: data[8],
        payload: data[ihl..total].to_vec(),
    })
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: passes a pointer to a live c_int with its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as u32,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captured_ipv4_header() {
        let mut p = vec![
            0x45, 0xc0, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xd0, 0x2e, 10, 99, 0, 1,
            224, 0, 0, 18,
        ];
        p.extend_from_slice(&[
            0x21, 0x33, 0x96, 0x01, 0x01, 0x01, 0x00, 0xe9, 10, 99, 0, 100,
        ]);
        p.extend_from_slice(b"s3cret\0\0");
        let r = parse_ipv4(&p).unwrap();
        assert_eq!(r.ttl, 255);
        assert_eq!(r.src, "10.99.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(r.dst, "224.0.0.18".parse::<IpAddr>().unwrap());
        assert_eq!(r.payload.len(), 20);
        let d = crate::codec::Advert::decode(&r.payload, r.src, r.dst).unwrap();
        assert_eq!(d.advert.vrid, 51);
        // Malformed headers are rejected, never panic.
        assert!(parse_ipv4(&p[..10]).is_none());
        let mut bad = p.clone();
        bad[3] = 0xff;
        assert!(parse_ipv4(&bad).is_none());
        let mut bad = p.clone();
        bad[0] = 0x41;
        assert!(parse_ipv4(&bad).is_none());
        let mut bad = p;
        bad[9] = 6;
        assert!(parse_ipv4(&bad).is_none());
    }
}
