//! The typed keepalived.conf model: what `fulcrum keepalived` runs from.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

pub use super::virtual_server::ScriptUser;
use super::virtual_server::{VirtualServer, VirtualServerGroup};
use crate::Location;

/// A whole keepalived.conf (with its includes), validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `global_defs`.
    pub global: GlobalDefs,
    /// `vrrp_script` blocks, in file order.
    pub scripts: Vec<VrrpScript>,
    /// `vrrp_instance` blocks, in file order.
    pub instances: Vec<VrrpInstance>,
    /// `vrrp_sync_group` blocks, in file order.
    pub sync_groups: Vec<SyncGroup>,
    /// `virtual_server` blocks, in file order.
    pub virtual_servers: Vec<VirtualServer>,
    /// `virtual_server_group` blocks, in file order.
    pub vs_groups: Vec<VirtualServerGroup>,
    /// Keywords accepted for compatibility that have no effect in fulcrum (for warnings).
    pub ignored: Vec<(Location, String)>,
    /// Problems that keepalived's `-t` reports (exiting 5) although keepalived runs with them, corrected as
    /// keepalived does (a truncated password, authentication dropped in VRRPv3, ...): `-t` prints them and fails,
    /// the daemon logs them and runs.
    pub warnings: Vec<crate::diag::Warning>,
}

impl Config {
    /// The script named `name`.
    pub fn script(&self, name: &str) -> Option<&VrrpScript> {
        self.scripts.iter().find(|s| s.name == name)
    }
}

/// `global_defs { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalDefs {
    /// `router_id`.
    pub router_id: Option<String>,
    /// `vrrp_version` (2 or 3; default 2).
    pub vrrp_version: u8,
    /// `vrrp_garp_master_delay` (default 5 s; 0 disables the second burst).
    pub garp_master_delay: Duration,
    /// `vrrp_garp_master_repeat` (default 5).
    pub garp_master_repeat: u32,
    /// `vrrp_garp_master_refresh` (default none).
    pub garp_master_refresh: Option<Duration>,
    /// `vrrp_garp_master_refresh_repeat` (default 1).
    pub garp_master_refresh_repeat: u32,
    /// `script_user`.
    pub script_user: Option<ScriptUser>,
    /// `enable_script_security`.
    pub enable_script_security: bool,
    /// `vrrp_mcast_group4` (default 224.0.0.18).
    pub mcast_group4: Ipv4Addr,
    /// `vrrp_mcast_group6` (default ff02::12).
    pub mcast_group6: Ipv6Addr,
    /// `v3_checksum_as_v2`: send VRRPv3/IPv4 checksums without the pseudo-header.
    pub v3_checksum_as_v2: bool,
    /// `vrrp_strict`.
    pub vrrp_strict: bool,
    /// fulcrum only: `fulcrum_announce_table` and `fulcrum_announce_protocol`.
    pub announce: Option<Announce>,
    /// `lvs_sync_daemon`.
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    /// fulcrum only: `fulcrum_metrics_listen ADDR:PORT`, where Prometheus metrics are served (`/metrics`).
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// `lvs_sync_daemon INTERFACE VRRP_INSTANCE [id N] [maxlen L] [port P] [ttl T] [group G]`: the connection sync
/// daemon, master while the instance is MASTER and backup otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvsSyncDaemon {
    /// Where it is defined.
    pub location: Location,
    /// The interface sync messages use.
    pub interface: String,
    /// The VRRP instance whose state it follows.
    pub instance: String,
    /// `id` (0-255, default 0).
    pub syncid: u8,
    /// `maxlen`.
    pub maxlen: Option<u16>,
    /// `port`.
    pub port: Option<u16>,
    /// `ttl`.
    pub ttl: Option<u8>,
    /// `group` (a multicast address).
    pub group: Option<std::net::IpAddr>,
}

/// fulcrum only (keepalived has no such keyword): the kernel routing table the addresses of healthy virtual
/// services are put in, for a routing daemon (BIRD, FRR) to announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announce {
    /// `fulcrum_announce_table N`.
    pub table: u32,
    /// `fulcrum_announce_protocol N` (default 200), the routes' protocol number.
    pub protocol: u8,
}

/// The default protocol number of announced routes.
pub const ANNOUNCE_PROTOCOL: u8 = 200;

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            vrrp_version: 2,
            garp_master_delay: Duration::from_secs(5),
            garp_master_repeat: 5,
            garp_master_refresh: None,
            garp_master_refresh_repeat: 1,
            script_user: None,
            enable_script_security: false,
            mcast_group4: Ipv4Addr::new(224, 0, 0, 18),
            mcast_group6: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
            v3_checksum_as_v2: false,
            vrrp_strict: false,
            announce: None,
            lvs_sync_daemon: None,
            metrics_listen: None,
        }
    }
}

/// `vrrp_script NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpScript {
    /// Name used by `track_script`.
    pub name: String,
    /// Where it is defined.
    pub location: Location,
    /// The command line (split like a shell would, without a shell).
    pub script: String,
    /// `interval` between runs (default 1 s).
    pub interval: Duration,
    /// `timeout` of a run (default: the interval).
    pub timeout: Option<Duration>,
    /// `fall`: failures in a row before failed (default 1).
    pub fall: u32,
    /// `rise`: successes in a row before ok (default 1).
    pub rise: u32,
    /// `weight` (-253..253; 0: failure means FAULT).
    pub weight: i32,
    /// `weight W reverse`.
    pub reverse: bool,
    /// `user USER [GROUP]`.
    pub user: Option<ScriptUser>,
    /// `init_fail`: starts failed rather than ok.
    pub init_fail: bool,
}

/// `state MASTER|BACKUP` (a hint: below priority 255 an instance starts as backup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialState {
    /// `state MASTER`.
    Master,
    /// `state BACKUP`.
    Backup,
}

/// One `virtual_ipaddress` line: `ADDR[/LEN] [brd A] [dev IF] [scope S] [label L]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualAddress {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (default /32 or /128).
    pub prefix_len: u8,
    /// `brd` broadcast address (IPv4).
    pub brd: Option<Ipv4Addr>,
    /// `dev`: another interface than the instance's.
    pub dev: Option<String>,
    /// `scope`: numeric rtnetlink scope (global 0, site 200, link 253, host 254, nowhere 255).
    pub scope: Option<u8>,
    /// `label`.
    pub label: Option<String>,
    /// Where it is written.
    pub location: Location,
}

/// What a virtual route does with the packets it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// Forward them (through `via` and / or out of `dev`).
    Unicast,
    /// `blackhole DEST`: drop them silently.
    Blackhole,
    /// `unreachable DEST`: drop them, answering ICMP host unreachable.
    Unreachable,
    /// `prohibit DEST`: drop them, answering ICMP administratively prohibited.
    Prohibit,
}

/// One `virtual_routes` line: `[to] [blackhole|unreachable|prohibit] DEST [via|gw GW] [dev IF] [src IP] [metric N]
/// [table T] [scope S] [proto P]`, installed while the instance is master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualRoute {
    /// The destination network (`default` is 0.0.0.0/0 or ::/0).
    pub dest: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// Unicast, or a type that drops the packets.
    pub kind: RouteKind,
    /// `via` / `gw`: the next hop.
    pub via: Option<IpAddr>,
    /// `dev`: the output interface (for a unicast route without `via`, the instance's interface when absent).
    pub dev: Option<String>,
    /// `src`: the preferred source address (often a virtual address).
    pub src: Option<IpAddr>,
    /// `metric` (also `preference`, `priority`).
    pub metric: Option<u32>,
    /// `table`: routing table id (`main` 254, `local` 255, `default` 253; main when absent).
    pub table: Option<u32>,
    /// `scope`: numeric rtnetlink scope (as for addresses).
    pub scope: Option<u8>,
    /// `proto` / `protocol`: rtnetlink protocol (`boot` 3 when absent, as `ip route add`).
    pub protocol: Option<u8>,
    /// Where it is written.
    pub location: Location,
}

impl VirtualRoute {
    /// Whether the route is IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.dest.is_ipv6()
    }
}

/// `track_script { NAME [weight W [reverse]] }` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackScript {
    /// Script name.
    pub name: String,
    /// Overrides the script's weight.
    pub weight: Option<i32>,
    /// `reverse`.
    pub reverse: bool,
    /// Where it is written.
    pub location: Location,
}

/// `track_interface { IF [weight W [reverse]] }` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInterface {
    /// Interface name.
    pub name: String,
    /// Weight (default 0: down means FAULT).
    pub weight: i32,
    /// `reverse`.
    pub reverse: bool,
}

/// Notify scripts of an instance or sync group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    /// `notify_master`.
    pub master: Option<String>,
    /// `notify_backup`.
    pub backup: Option<String>,
    /// `notify_fault`.
    pub fault: Option<String>,
    /// `notify_stop`.
    pub stop: Option<String>,
    /// `notify`: called on every change with `INSTANCE|GROUP NAME STATE PRIORITY`.
    pub any: Option<String>,
}

/// `authentication { auth_type PASS|AH; auth_pass P }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// Simple text password; longer than 8 bytes is truncated to 8, as keepalived does (it also warns).
    Pass(String),
    /// IPsec AH (accepted in the file; not implemented on the wire).
    Ah(String),
}

/// `vrrp_instance NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpInstance {
    /// Name.
    pub name: String,
    /// Where it is defined.
    pub location: Location,
    /// `state` hint.
    pub state: Option<InitialState>,
    /// `interface`.
    pub interface: String,
    /// `virtual_router_id` (1-255).
    pub virtual_router_id: u8,
    /// `priority` (1-255, default 100).
    pub priority: u8,
    /// `advert_int` (default 1 s).
    pub advert_int: Duration,
    /// `version` (or global `vrrp_version`).
    pub version: u8,
    /// Preemption is on unless `nopreempt`.
    pub preempt: bool,
    /// `preempt_delay`.
    pub preempt_delay: Duration,
    /// `virtual_ipaddress`.
    pub virtual_ipaddress: Vec<VirtualAddress>,
    /// `virtual_ipaddress_excluded` (added and removed with the VIPs, not advertised).
    pub virtual_ipaddress_excluded: Vec<VirtualAddress>,
    /// `unicast_src_ip`.
    pub unicast_src_ip: Option<IpAddr>,
    /// `unicast_peer { ... }`: when non-empty, adverts go to these peers instead of multicast.
    pub unicast_peers: Vec<IpAddr>,
    /// `mcast_src_ip`.
    pub mcast_src_ip: Option<IpAddr>,
    /// `track_script`.
    pub track_scripts: Vec<TrackScript>,
    /// `track_interface`.
    pub track_interfaces: Vec<TrackInterface>,
    /// Notify scripts.
    pub notify: Notify,
    /// `authentication` (VRRPv2 only).
    pub authentication: Option<Authentication>,
    /// `garp_master_delay` (overrides the global one).
    pub garp_master_delay: Option<Duration>,
    /// `garp_master_repeat`.
    pub garp_master_repeat: Option<u32>,
    /// `garp_master_refresh`.
    pub garp_master_refresh: Option<Duration>,
    /// `garp_master_refresh_repeat`.
    pub garp_master_refresh_repeat: Option<u32>,
    /// `dont_track_primary`: the instance's own interface going down does not mean FAULT.
    pub dont_track_primary: bool,
    /// `virtual_routes`: added when the instance becomes master (after its addresses), removed when it leaves.
    pub virtual_routes: Vec<VirtualRoute>,
    /// RFC 5798 Accept_Mode: `accept` (the default, true) or `no_accept` (false: while master and not the address
    /// owner, traffic to the virtual addresses other than VRRP and neighbour discovery is dropped).
    pub accept: bool,
}

impl VrrpInstance {
    /// Whether the instance is IPv6 (its virtual addresses are).
    pub fn is_ipv6(&self) -> bool {
        self.virtual_ipaddress
            .first()
            .is_some_and(|v| v.addr.is_ipv6())
    }
}

/// `vrrp_sync_group NAME { group { ... } notify... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    /// Name.
    pub name: String,
    /// Where it is defined.
    pub location: Location,
    /// Member instance names.
    pub members: Vec<String>,
    /// Notify scripts of the group.
    pub notify: Notify,
}
