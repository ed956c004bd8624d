//! Tunnel real servers (`-i`, keepalived's `lb_kind TUN`): IP-in-IP from the director to the real server.
//!
//! # How a tunnelled packet goes
//! Scheduling is direct routing's ([`super::nft`], table `netdev fulcrum_lvs`): the ingress hook matches the
//! service, keeps the flow sticky in the flow sets and picks a real server. For a tunnel real server the
//! forward chain then sets the packet mark to the server's tunnel mark ([`tun_mark`]) and sends the packet
//! with `fwd ip to NEXTHOP device DEV` towards the next hop of the route to the real server. At the egress
//! hook of DEV the encapsulation program ([`program`], attached with `tc` by [`attach`]) inserts the outer
//! header (the director's address on that route to the real server, protocol 4; for IPv6 services an outer
//! IPv6 header, next header 41), clears the mark and lets it go. The real server decapsulates on its
//! `tunl0` (`ip6tnl0`), which holds the VIP, and answers the client directly.
//!
//! Nothing runs in user space on the way and nothing needs a tunnel device or the `ipip` module on the
//! director: the kernel's tc and nftables do it all, and the table stays in force when the command exits.
//!
//! # Limits
//! - Only `--tun-type ipip` is forwarded; `gue` and `gre` servers are stored and listed only.
//! - The outer header adds 20 bytes (40 for IPv6): a full-sized packet that no longer fits the egress
//!   device's MTU is dropped by the device (IPVS answers with ICMP "fragmentation needed" instead). Give the
//!   real servers' `tunl0` a lower MTU or advertise a lower MSS on their routes (`advmss`), as with IPVS.

pub mod attach;
pub mod program;

use std::net::IpAddr;

/// The high byte of the packet marks that select a tunnel destination.
pub const TUN_MARK_TAG: u32 = 0x4d;

/// The packet mark the forward chain sets for tunnel real server `dest` of service `svc`.
pub fn tun_mark(svc: u32, dest: u32) -> u32 {
    TUN_MARK_TAG << 24 | (svc & 0xfff) << 12 | (dest & 0xfff)
}

/// How the director reaches one tunnel real server: the device and next hop of its route, and the
/// source address the route gives (the outer header's source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelRoute {
    /// The egress device.
    pub dev: String,
    /// The gateway of the route, or the real server itself when it is on a connected segment.
    pub nexthop: IpAddr,
    /// The director's address on that route.
    pub src: IpAddr,
}
