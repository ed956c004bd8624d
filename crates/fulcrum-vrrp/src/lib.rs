//! VRRP v2/v3 for `fulcrum keepalived`: a sans-IO codec and state machine, plus the Linux driver.
//!
//! - [`codec`]: adverts on the wire (v2/v3, IPv4/IPv6, both v3 IPv4 checksum forms, PASS auth).
//! - [`frames`]: gratuitous ARP and unsolicited NA frames.
//! - [`instance`]: one instance's state machine (`handle(now, event) -> actions`, `poll_timeout()`).
//! - [`node`]: all instances of a node plus sync groups.
//! - [`linux`]: sockets, netlink, scripts and the event loop behind [`cli_main`].

pub mod codec;
pub mod frames;
pub mod instance;
pub mod node;

#[cfg(test)]
mod instance_tests;

pub use codec::{Advert, Auth, DecodeError, EncodeError, V3Ipv4Checksum, Version};
pub use instance::{
    Action, Event, GarpSchedule, Instance, InstanceConfig, NotifyState, State, TrackKey, Tracked,
};
pub use node::{GroupConfig, Node, NodeAction};

/// `fulcrum keepalived ARGS...`: keepalived's command line (args[0] is the program name); returns the exit code.
pub fn cli_main(args: Vec<std::ffi::OsString>) -> i32 {
    let _ = args;
    eprintln!("fulcrum keepalived: not implemented yet");
    1
}
