//! The Linux driver around the sans-IO core: raw VRRP sockets, rtnetlink addresses, routes and link events,
//! GARP/NA, the nftables table of `no_accept`, vrrp_script checks and notify scripts, and the poll(2) event loop in
//! [`daemon`].

pub mod check;
pub mod daemon;
pub mod dump;
pub mod filter;
pub mod garp;
pub mod netlink;
pub mod plan;
pub mod scripts;
pub mod socket;
