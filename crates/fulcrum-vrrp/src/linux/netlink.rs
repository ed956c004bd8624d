//! Virtual addresses (RTM_NEWADDR / RTM_DELADDR) and virtual routes (RTM_NEWROUTE / RTM_DELROUTE) through
//! rtnetlink, and link-state events (RTMGRP_LINK).
//!
//! The messages are small fixed structures plus a few attributes, so they are built here directly over a
//! `NETLINK_ROUTE` socket: no async runtime and no version churn of the netlink crates.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const NLMSG_HDRLEN: usize = 16;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;
/// `RT_SCOPE_NOWHERE`: in a delete request, "any scope".
const RT_SCOPE_NOWHERE: u8 = 255;
/// `RT_TABLE_UNSPEC`: the table is in RTA_TABLE.
const RT_TABLE_UNSPEC: u8 = 0;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_NODAD: u32 = 0x02;
const IFLA_IFNAME: u16 = 3;
const RTMGRP_LINK: u32 = 1;

/// One address to add or remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSpec {
    /// Interface index.
    pub ifindex: u32,
    /// The address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// IPv4 broadcast.
    pub brd: Option<std::net::Ipv4Addr>,
    /// rtnetlink scope.
    pub scope: u8,
    /// IPv4 label.
    pub label: Option<String>,
}

/// One route to add or remove (rtnetlink's view of a `virtual_routes` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Destination network.
    pub dst: IpAddr,
    /// Its prefix length.
    pub dst_len: u8,
    /// Route type: `RTN_UNICAST` (1), `RTN_BLACKHOLE` (6), `RTN_UNREACHABLE` (7), `RTN_PROHIBIT` (8).
    pub kind: u8,
    /// Next hop.
    pub gateway: Option<IpAddr>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// Preferred source address.
    pub prefsrc: Option<IpAddr>,
    /// Metric (RTA_PRIORITY).
    pub metric: Option<u32>,
    /// Routing table id (254: main).
    pub table: u32,
    /// rtnetlink scope (used when adding).
    pub scope: u8,
    /// rtnetlink protocol (used when adding).
    pub protocol: u8,
}

/// `RTN_UNICAST`.
pub const RTN_UNICAST: u8 = 1;
/// `RTN_BLACKHOLE`.
pub const RTN_BLACKHOLE: u8 = 6;
/// `RTN_UNREACHABLE`.
pub const RTN_UNREACHABLE: u8 = 7;
/// `RTN_PROHIBIT`.
pub const RTN_PROHIBIT: u8 = 8;

fn ip_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

/// Builds an RTM_NEWROUTE (create, exclusive: an existing route answers EEXIST) or RTM_DELROUTE request.
///
/// A delete names what identifies our route (destination, table, type, gateway, interface, source, metric) and
/// leaves scope (`RT_SCOPE_NOWHERE`) and protocol (0) open, as `ip route del` does, so a route left by an earlier
/// run with the same spec is found whatever created it.
pub fn route_message(add: bool, seq: u32, r: &RouteSpec) -> Vec<u8> {
    let mut m = vec![0u8; NLMSG_HDRLEN];
    let family = if r.dst.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    } as u8;
    let table = u8::try_from(r.table)
        .ok()
        .filter(|&t| t != 0)
        .unwrap_or(RT_TABLE_UNSPEC);
    let (protocol, scope) = if add {
        (r.protocol, r.scope)
    } else {
        (0, RT_SCOPE_NOWHERE)
    };
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    m.extend_from_slice(&[family, r.dst_len, 0, 0, table, protocol, scope, r.kind]);
    m.extend_from_slice(&0u32.to_ne_bytes());
    if r.dst_len > 0 {
        push_attr(&mut m, RTA_DST, &ip_bytes(r.dst));
    }
    push_attr(&mut m, RTA_TABLE, &r.table.to_ne_bytes());
    if let Some(g) = r.gateway {
        push_attr(&mut m, RTA_GATEWAY, &ip_bytes(g));
    }
    if let Some(o) = r.oif {
        push_attr(&mut m, RTA_OIF, &o.to_ne_bytes());
    }
    if let Some(s) = r.prefsrc {
        push_attr(&mut m, RTA_PREFSRC, &ip_bytes(s));
    }
    if let Some(p) = r.metric {
        push_attr(&mut m, RTA_PRIORITY, &p.to_ne_bytes());
    }
    let (ty, flags) = if add {
        (
            RTM_NEWROUTE,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
    } else {
        (RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK)
    };
    finish(&mut m, ty, flags, seq);
    m
}

fn finish(m: &mut [u8], ty: u16, flags: u16, seq: u32) {
    let len = m.len() as u32;
    m[0..4].copy_from_slice(&len.to_ne_bytes());
    m[4..6].copy_from_slice(&ty.to_ne_bytes());
    m[6..8].copy_from_slice(&flags.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
}

/// Builds an RTM_NEWADDR / RTM_DELADDR request.
pub fn addr_message(add: bool, seq: u32, a: &AddrSpec) -> Vec<u8> {
    let mut m = vec![0u8; NLMSG_HDRLEN];
    let (family, bytes): (u8, Vec<u8>) = match a.addr {
        IpAddr::V4(v) => (libc::AF_INET as u8, v.octets().to_vec()),
        IpAddr::V6(v) => (libc::AF_INET6 as u8, v.octets().to_vec()),
    };
    m.extend_from_slice(&[family, a.prefix_len, 0, a.scope]);
    m.extend_from_slice(&a.ifindex.to_ne_bytes());
    push_attr(&mut m, IFA_LOCAL, &bytes);
    push_attr(&mut m, IFA_ADDRESS, &bytes);
    if add {
        if let Some(b) = a.brd {
            push_attr(&mut m, IFA_BROADCAST, &b.octets());
        }
        if let (Some(l), IpAddr::V4(_)) = (&a.label, a.addr) {
            let mut z = l.as_bytes().to_vec();
            z.push(0);
            push_attr(&mut m, IFA_LABEL, &z);
        }
        if a.addr.is_ipv6() {
            push_attr(&mut m, IFA_FLAGS, &IFA_F_NODAD.to_ne_bytes());
        }
    }
    let (ty, flags) = if add {
        (
            RTM_NEWADDR,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
        )
    } else {
        (RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK)
    };
    finish(&mut m, ty, flags, seq);
    m
}

fn push_attr(m: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = (4 + data.len()) as u16;
    m.extend_from_slice(&len.to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(data);
    while m.len() & 3 != 0 {
        m.push(0);
    }
}

fn open(groups: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the fd is owned right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: zeroed sockaddr_nl is valid; bind with its size.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as u16;
    sa.nl_groups = groups;
    let r = unsafe {
        libc::bind(
            fd,
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}

/// A request/acknowledge rtnetlink socket for addresses and routes.
#[derive(Debug)]
pub struct AddrSocket {
    fd: OwnedFd,
    seq: u32,
}

impl AddrSocket {
    /// Opens the socket.
    pub fn open() -> io::Result<AddrSocket> {
        Ok(AddrSocket {
            fd: open(0)?,
            seq: 1,
        })
    }

    /// Adds (or replaces) an address; an address already present is fine.
    pub fn add(&mut self, a: &AddrSpec) -> io::Result<()> {
        match self.request(true, a) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// Removes an address; an absent one is fine.
    pub fn remove(&mut self, a: &AddrSpec) -> io::Result<()> {
        match self.request(false, a) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EADDRNOTAVAIL)
                        | Some(libc::ENOENT)
                        | Some(libc::ESRCH)
                        | Some(libc::ENODEV)
                ) =>
            {
                Ok(())
            }
            r => r,
        }
    }

    /// Adds a route; returns false when it (or another route with the same destination, table and metric) was
    /// there already (EEXIST), which is left as it is.
    pub fn add_route(&mut self, r: &RouteSpec) -> io::Result<bool> {
        self.seq = self.seq.wrapping_add(1);
        match self.send(route_message(true, self.seq, r)) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes a route; returns false when there was none (ESRCH), or its interface is gone.
    pub fn remove_route(&mut self, r: &RouteSpec) -> io::Result<bool> {
        self.seq = self.seq.wrapping_add(1);
        match self.send(route_message(false, self.seq, r)) {
            Ok(()) => Ok(true),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ESRCH) | Some(libc::ENOENT) | Some(libc::ENODEV)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn request(&mut self, add: bool, a: &AddrSpec) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        self.send(addr_message(add, self.seq, a))
    }

    /// Sends one request (its sequence number is `self.seq`) and waits for its acknowledgement.
    fn send(&mut self, msg: Vec<u8>) -> io::Result<()> {
        let seq = self.seq;
        // SAFETY: sends a live buffer of its length.
        let r = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; 8192];
        loop {
            // SAFETY: receives into a live buffer of its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            for (ty, mseq, body) in messages(&buf[..n as usize]) {
                if ty == NLMSG_ERROR && mseq == seq && body.len() >= 4 {
                    let code = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
                    return if code == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-code))
                    };
                }
            }
        }
    }
}

/// Splits a netlink datagram into (type, seq, body) triples, ignoring anything malformed.
fn messages(mut buf: &[u8]) -> Vec<(u16, u32, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            break;
        }
        let ty = u16::from_ne_bytes([buf[4], buf[5]]);
        let seq = u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]);
        out.push((ty, seq, &buf[NLMSG_HDRLEN..len]));
        let aligned = (len + 3) & !3;
        buf = &buf[aligned.min(buf.len())..];
    }
    out
}

/// A link changed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    /// Interface name.
    pub name: String,
    /// Administratively up and running (carrier).
    pub up: bool,
}

/// Parses RTM_NEWLINK / RTM_DELLINK messages of one datagram.
pub fn parse_link_events(buf: &[u8]) -> Vec<LinkEvent> {
    let mut out = Vec::new();
    for (ty, _, body) in messages(buf) {
        if (ty != RTM_NEWLINK && ty != RTM_DELLINK) || body.len() < 16 {
            continue;
        }
        let flags = u32::from_ne_bytes([body[8], body[9], body[10], body[11]]);
        let mut attrs = &body[16..];
        let mut name = None;
        while attrs.len() >= 4 {
            let alen = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
            let aty = u16::from_ne_bytes([attrs[2], attrs[3]]);
            if alen < 4 || alen > attrs.len() {
                break;
            }
            if aty == IFLA_IFNAME {
                let raw = &attrs[4..alen];
                let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                name = Some(String::from_utf8_lossy(&raw[..end]).into_owned());
            }
            attrs = &attrs[((alen + 3) & !3).min(attrs.len())..];
        }
        if let Some(name) = name {
            let up = ty == RTM_NEWLINK
                && flags & libc::IFF_UP as u32 != 0
                && flags & libc::IFF_RUNNING as u32 != 0;
            out.push(LinkEvent { name, up });
        }
    }
    out
}

/// A socket subscribed to link changes.
#[derive(Debug)]
pub struct LinkMonitor {
    fd: OwnedFd,
}

impl LinkMonitor {
    /// Subscribes to RTMGRP_LINK.
    pub fn open() -> io::Result<LinkMonitor> {
        let fd = open(RTMGRP_LINK)?;
        // SAFETY: fcntl on our own descriptor.
        unsafe {
            let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        Ok(LinkMonitor { fd })
    }

    /// The file descriptor, for poll(2).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads every pending event.
    pub fn read(&self) -> Vec<LinkEvent> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 16384];
        loop {
            // SAFETY: receives into a live buffer of its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                break;
            }
            out.extend(parse_link_events(&buf[..n as usize]));
        }
        out
    }
}

/// Interface facts read from the system.
pub mod iface {
    use std::net::{IpAddr, Ipv6Addr};

    /// The interface index, if the interface exists.
    pub fn index(name: &str) -> Option<u32> {
        nix::net::if_::if_nametoindex(name).ok().filter(|&i| i != 0)
    }

    /// Whether the interface is up with carrier.
    pub fn is_up(name: &str) -> bool {
        let flags = std::fs::read_to_string(format!("/sys/class/net/{name}/flags"))
            .ok()
            .and_then(|s| u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
            .unwrap_or(0);
        let carrier = std::fs::read_to_string(format!("/sys/class/net/{name}/carrier"))
            .map(|s| s.trim() == "1")
            .unwrap_or(false);
        flags & libc::IFF_UP as u32 != 0 && carrier
    }

    /// The interface's MAC address.
    pub fn mac(name: &str) -> Option<[u8; 6]> {
        let s = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).ok()?;
        let mut mac = [0u8; 6];
        let parts: Vec<&str> = s.trim().split(':').collect();
        if parts.len() != 6 {
            return None;
        }
        for (m, p) in mac.iter_mut().zip(parts) {
            *m = u8::from_str_radix(p, 16).ok()?;
        }
        Some(mac)
    }

    /// The primary address: the first IPv4 address, or for IPv6 the first link-local one; `exclude` are skipped
    /// (our own virtual addresses).
    pub fn primary_address(name: &str, v6: bool, exclude: &[IpAddr]) -> Option<IpAddr> {
        let addrs = nix::ifaddrs::getifaddrs().ok()?;
        for a in addrs {
            if a.interface_name != name {
                continue;
            }
            let Some(sa) = a.address else { continue };
            let ip = if v6 {
                sa.as_sockaddr_in6()
                    .map(|s| IpAddr::V6(s.ip()))
                    .filter(|ip| match ip {
                        IpAddr::V6(x) => is_ll(x),
                        _ => false,
                    })
            } else {
                sa.as_sockaddr_in().map(|s| IpAddr::V4(s.ip()))
            };
            if let Some(ip) = ip {
                if !exclude.contains(&ip) {
                    return Some(ip);
                }
            }
        }
        None
    }

    fn is_ll(a: &Ipv6Addr) -> bool {
        (a.segments()[0] & 0xffc0) == 0xfe80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_addr_message_layout() {
        let a = AddrSpec {
            ifindex: 7,
            addr: "10.99.0.100".parse().unwrap(),
            prefix_len: 24,
            brd: Some("10.99.0.255".parse().unwrap()),
            scope: 0,
            label: Some("eth0:v".into()),
        };
        let m = addr_message(true, 9, &a);
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWADDR);
        assert_eq!(m[16], libc::AF_INET as u8);
        assert_eq!(m[17], 24);
        assert_eq!(u32::from_ne_bytes(m[20..24].try_into().unwrap()), 7);
        // IFA_LOCAL, IFA_ADDRESS, IFA_BROADCAST (8 bytes each), IFA_LABEL "eth0:v\0" padded to 12.
        assert_eq!(m.len(), 16 + 8 + 8 + 8 + 8 + 12);
        assert_eq!(m.len() % 4, 0);
        let d = addr_message(false, 10, &a);
        assert_eq!(u16::from_ne_bytes([d[4], d[5]]), RTM_DELADDR);
        assert_eq!(d.len(), 16 + 8 + 8 + 8);
    }

    fn attrs(body: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        let mut a = body;
        while a.len() >= 4 {
            let alen = usize::from(u16::from_ne_bytes([a[0], a[1]]));
            out.push((u16::from_ne_bytes([a[2], a[3]]), a[4..alen].to_vec()));
            a = &a[((alen + 3) & !3).min(a.len())..];
        }
        out
    }

    #[test]
    fn route_message_layout() {
        let r = RouteSpec {
            dst: "198.19.5.0".parse().unwrap(),
            dst_len: 24,
            kind: RTN_UNICAST,
            gateway: Some("198.18.0.2".parse().unwrap()),
            oif: Some(7),
            prefsrc: Some("198.18.0.100".parse().unwrap()),
            metric: Some(10),
            table: 254,
            scope: 0,
            protocol: 3,
        };
        let m = route_message(true, 5, &r);
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWROUTE);
        assert_eq!(
            u16::from_ne_bytes([m[6], m[7]]),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        );
        assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 5);
        // rtmsg: AF_INET, /24, src_len 0, tos 0, table main, proto boot, scope universe, unicast.
        assert_eq!(&m[16..24], &[libc::AF_INET as u8, 24, 0, 0, 254, 3, 0, 1]);
        let a = attrs(&m[28..]);
        let types: Vec<u16> = a.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            types,
            vec![
                RTA_DST,
                RTA_TABLE,
                RTA_GATEWAY,
                RTA_OIF,
                RTA_PREFSRC,
                RTA_PRIORITY
            ]
        );
        assert_eq!(a[0].1, vec![198, 19, 5, 0]);
        assert_eq!(a[1].1, 254u32.to_ne_bytes().to_vec());
        assert_eq!(a[2].1, vec![198, 18, 0, 2]);
        assert_eq!(a[3].1, 7u32.to_ne_bytes().to_vec());
        assert_eq!(a[4].1, vec![198, 18, 0, 100]);
        assert_eq!(a[5].1, 10u32.to_ne_bytes().to_vec());
        // Delete: any scope and protocol, same identifying attributes.
        let d = route_message(false, 6, &r);
        assert_eq!(u16::from_ne_bytes([d[4], d[5]]), RTM_DELROUTE);
        assert_eq!(u16::from_ne_bytes([d[6], d[7]]), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(&d[16..24], &[libc::AF_INET as u8, 24, 0, 0, 254, 0, 255, 1]);
        assert_eq!(attrs(&d[28..]), a);
    }

    #[test]
    fn route_message_v6_default_blackhole_big_table() {
        let r = RouteSpec {
            dst: "::".parse().unwrap(),
            dst_len: 0,
            kind: RTN_BLACKHOLE,
            gateway: None,
            oif: None,
            prefsrc: None,
            metric: None,
            table: 1000,
            scope: 0,
            protocol: 4,
        };
        let m = route_message(true, 1, &r);
        // Table ids above 255 go in RTA_TABLE only; a default route has no RTA_DST.
        assert_eq!(&m[16..24], &[libc::AF_INET6 as u8, 0, 0, 0, 0, 4, 0, 6]);
        assert_eq!(
            attrs(&m[28..]),
            vec![(RTA_TABLE, 1000u32.to_ne_bytes().to_vec())]
        );
        let v6 = RouteSpec {
            dst: "fd00:5::".parse().unwrap(),
            dst_len: 48,
            gateway: Some("fe80::1".parse().unwrap()),
            ..r
        };
        let a = attrs(&route_message(true, 2, &v6)[28..]);
        assert_eq!(a[0].1.len(), 16);
        assert_eq!(
            a[2],
            (
                RTA_GATEWAY,
                "fe80::1"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets()
                    .to_vec()
            )
        );
    }

    #[test]
    fn link_event_parsing_and_garbage() {
        let mut m = vec![0u8; 16];
        let mut body = vec![0u8; 16];
        let flags = (libc::IFF_UP | libc::IFF_RUNNING) as u32;
        body[8..12].copy_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&body);
        push_attr(&mut m, IFLA_IFNAME, b"veth0\0");
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        m[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
        assert_eq!(
            parse_link_events(&m),
            vec![LinkEvent {
                name: "veth0".into(),
                up: true
            }]
        );
        m[4..6].copy_from_slice(&RTM_DELLINK.to_ne_bytes());
        assert!(!parse_link_events(&m)[0].up);
        for cut in 0..m.len() {
            let _ = parse_link_events(&m[..cut]);
        }
        let mut bad = m.clone();
        bad[0] = 0xff;
        let _ = parse_link_events(&bad);
    }
}
