//! The Linux driver around the sans-IO core: raw VRRP sockets, rtnetlink addresses and link events, GARP/NA,
//! vrrp_script checks and notify scripts, and the poll(2) event loop in [`daemon`].

pub mod daemon;
pub mod garp;
pub mod netlink;
pub mod plan;
pub mod scripts;
pub mod socket;
