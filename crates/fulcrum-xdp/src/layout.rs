//! The BPF maps' keys and values, `#[repr(C)]` twins of the structs in `bpf/xdp_lb.c` (keep both in step;
//! the size assertions below catch a field added on one side only).

/// Largest number of services (and one past the largest service id).
pub const MAX_SERVICES: u32 = 256;
/// Largest number of real servers per service.
pub const MAX_DESTS: u32 = 64;
/// Slots per service in the scheduling table (room for a 4093-slot Maglev table).
pub const TAB_SIZE: u32 = 4096;
/// Flow table (LRU) entries.
pub const FLOW_ENTRIES: u32 = 65536;
/// A scheduling-table slot without a real server.
pub const NO_DEST: u32 = u32::MAX;
/// The seed of the address hash (the nftables plane's `jhash ... seed`).
pub const JHASH_SEED: u32 = 0x6675_6c63;

/// Scheduler numbers (`svc_info.sched`).
pub mod sched {
    /// Round robin.
    pub const RR: u32 = 0;
    /// Weighted round robin.
    pub const WRR: u32 = 1;
    /// Least connection.
    pub const LC: u32 = 2;
    /// Weighted least connection.
    pub const WLC: u32 = 3;
    /// Shortest expected delay.
    pub const SED: u32 = 4;
    /// Never queue.
    pub const NQ: u32 = 5;
    /// Source hashing.
    pub const SH: u32 = 6;
    /// Destination hashing.
    pub const DH: u32 = 7;
    /// Maglev hashing.
    pub const MH: u32 = 8;
    /// Weighted failover.
    pub const FO: u32 = 9;
    /// Weighted overflow.
    pub const OVF: u32 = 10;
    /// Locality-based least connection.
    pub const LBLC: u32 = 11;
    /// Locality-based least connection with replication.
    pub const LBLCR: u32 = 12;
}

/// Service flags (`svc_info.flags`): ipvsadm's `-b`, read by sh and mh, and `-o`.
pub mod flags {
    /// `sh-fallback` / `mh-fallback` (flag-1): when the hashed server is unavailable, the next slots of
    /// the table are tried in order.
    pub const FALLBACK: u32 = 1;
    /// `sh-port` / `mh-port` (flag-2): the client port is hashed with the client address.
    pub const PORT: u32 = 2;
    /// `-o` on a UDP service: every datagram is scheduled on its own and no flow is kept (IPVS's
    /// one-packet scheduling; set only on UDP services, IPVS ignores it on the others).
    pub const ONE_PACKET: u32 = 4;
}

/// Default expiry of a locality entry (lblc, lblcr) unused that long, and of an lblcr set's extra
/// members not changed that long: IPVS's `lblc_expiration` / `lblcr_expiration` (24 hours), seconds.
pub const LOCALITY_EXPIRE_S: u64 = 24 * 60 * 60;

/// Forwarding methods (`dest.fwd`).
pub mod fwd {
    /// Unused slot.
    pub const NONE: u8 = 0;
    /// Direct routing: the destination MAC is rewritten.
    pub const DR: u8 = 1;
    /// A tunnel (its encapsulation in `dest.encap`).
    pub const TUN: u8 = 2;
    /// NAT (masquerading): the destination becomes `dest.addr`:`dest.port`, replies are translated back.
    pub const NAT: u8 = 3;
}

/// Tunnel encapsulations (`dest.encap`, ipvsadm `--tun-type`).
pub mod encap {
    /// IP-in-IP.
    pub const IPIP: u8 = 0;
    /// GUE: UDP to the real server's `--tun-port`, then a 4-byte GUE header (variant 0).
    pub const GUE: u8 = 1;
    /// GRE with protocol 0x0800.
    pub const GRE: u8 = 2;
}

/// Tunnel flags (`dest.tun_flags`).
pub mod tun_flags {
    /// `--tun-csum`: the GUE packet's UDP checksum or the GRE checksum is filled in.
    pub const CSUM: u8 = 1;
}

/// Flow states (`flow.state`).
pub mod state {
    /// An open TCP flow (ActiveConn).
    pub const OPEN: u32 = 1;
    /// A TCP flow after FIN or RST (InActConn).
    pub const CLOSING: u32 = 2;
    /// A UDP flow (InActConn).
    pub const UDP: u32 = 3;
}

/// Key of map `services`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SvcKey {
    /// Virtual address (IPv4 in the first 4 bytes, the rest zero).
    pub addr: [u8; 16],
    /// Virtual port, network byte order.
    pub port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// 4 or 6.
    pub family: u8,
}

/// Value of map `services`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SvcInfo {
    /// Service id (< [`MAX_SERVICES`]): index of its counters, real servers and table.
    pub id: u32,
    /// Scheduler ([`sched`]).
    pub sched: u32,
    /// Real servers in use (slots `id * MAX_DESTS ..`).
    pub ndests: u32,
    /// Slots used in the scheduling table.
    pub tab_len: u32,
    /// Persistence timeout in seconds (`-p`; 0: not persistent).
    pub persist_s: u32,
    /// Persistence granularity (`-M`): the leading bits of the client address that name its entry.
    pub prefix: u32,
    /// 1 when a real server has an upper threshold (no server found: the packet is dropped).
    pub thresholds: u32,
    /// Scheduler flags ([`flags`]).
    pub flags: u32,
}

/// Value of map `dests` (index `service id * MAX_DESTS + real-server index`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dest {
    /// Real server address.
    pub addr: [u8; 16],
    /// Outer source address of tunnelled packets.
    pub tun_src: [u8; 16],
    /// Next hop's MAC address.
    pub mac: [u8; 6],
    /// Output device's MAC address.
    pub src_mac: [u8; 6],
    /// Output device.
    pub ifindex: u32,
    /// Weight (0: quiesced, no new flows).
    pub weight: u32,
    /// Forwarding method ([`fwd`]).
    pub fwd: u8,
    /// 4 or 6.
    pub family: u8,
    /// A tunnel's encapsulation ([`encap`]).
    pub encap: u8,
    /// A tunnel's flags ([`tun_flags`]).
    pub tun_flags: u8,
    /// Upper connection threshold (`-x`; 0: none).
    pub u_thresh: u32,
    /// Lower connection threshold (`-y`; 0: three quarters of the upper).
    pub l_thresh: u32,
    /// GUE's destination UDP port, network byte order.
    pub tun_port: u16,
    /// The real server's port, network byte order (NAT's destination port).
    pub port: u16,
    /// The real server's identity ([`crate::plan::dest_tag`], never 0): flows and persistence entries
    /// made for another server once in this slot do not match it.
    pub tag: u32,
}

/// Value of map `dest_conns`: live connection counts.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Conns {
    /// Open TCP flows.
    pub active: i64,
    /// Closing TCP flows and UDP flows.
    pub inactive: i64,
    /// IPVS's overload flag (1 from the upper threshold until below the lower one).
    pub overload: u32,
    /// Change counter, bumped by every change a packet makes to the counts: the flow sweeper sets
    /// them to its count of the flow table's live flows only when no packet moved it during its walk.
    pub gen: u32,
}

/// Key of map `flows` (the 5-tuple).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    /// Client address.
    pub saddr: [u8; 16],
    /// Virtual address.
    pub daddr: [u8; 16],
    /// Client port, network byte order.
    pub sport: u16,
    /// Virtual port, network byte order.
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
    /// 4 or 6.
    pub family: u8,
    /// Padding.
    pub pad: u16,
}

/// Value of map `flows`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flow {
    /// Monotonic time of the last packet, nanoseconds.
    pub last: u64,
    /// Service id.
    pub sid: u32,
    /// Real-server index within the service.
    pub didx: u32,
    /// [`state`].
    pub state: u32,
    /// The prefix length + 1 of the persistence entry the flow holds (0: none).
    pub persist: u32,
    /// Its real server's [`Dest::tag`].
    pub tag: u32,
    /// Padding.
    pub pad: u32,
}

/// Key of map `persist` (IPVS's persistence template).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PersistKey {
    /// Client address cut to the service's prefix.
    pub addr: [u8; 16],
    /// Service id.
    pub sid: u32,
    /// 4 or 6.
    pub family: u8,
    /// Padding.
    pub pad: [u8; 3],
}

/// Value of map `persist`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Persist {
    /// Monotonic time its last flow started or ended, nanoseconds.
    pub last: u64,
    /// The service's persistence timeout, nanoseconds.
    pub timeout_ns: u64,
    /// Real-server index within the service.
    pub didx: u32,
    /// Live flows it holds (it lasts while any does, then `timeout_ns`).
    pub conns: i32,
    /// Its real server's [`Dest::tag`].
    pub tag: u32,
    /// Change counter, bumped by every change a packet makes to `conns` (as [`Conns::gen`]).
    pub gen: u32,
    /// The flow sweeper's: `gen` as its walk of the flow table began.
    pub snap: u32,
    /// The flow sweeper's: the live flows holding the entry that its walk found (`conns` is set to it
    /// when `gen` did not move meanwhile).
    pub tally: i32,
}

/// Per-CPU counters of a service or real server.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// New connections.
    pub conns: u64,
    /// Packets in.
    pub packets: u64,
    /// Bytes in (IP layer).
    pub bytes: u64,
    /// NAT: replies (and ICMP errors) translated back to the client (IPVS's OutPkts).
    pub out_packets: u64,
    /// Their bytes (IP layer).
    pub out_bytes: u64,
}

/// Value of map `nat_rev` (key: a [`FlowKey`] of the reply direction, real server -> client).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NatRev {
    /// The forward flow (client -> VIP:vport).
    pub fwd: FlowKey,
    /// Service id.
    pub sid: u32,
    /// Real-server index within the service.
    pub didx: u32,
    /// Its real server's [`Dest::tag`].
    pub tag: u32,
    /// The device the client's packets came in on.
    pub hop_ifindex: u32,
    /// The MAC they came from (the client's, or its router's).
    pub hop_mac: [u8; 6],
    /// The MAC they came to (the director's, on that device).
    pub own_mac: [u8; 6],
    /// Padding.
    pub pad: u32,
}

/// Flags of map `config` (`config.flags`).
pub mod cfg_flags {
    /// Some real server of some service is NAT: a packet to no service may be a NAT flow's reply and ICMP
    /// an error about one, which the program then looks up in map `nat_rev`; without it both go to the
    /// stack untouched with no lookup. [`crate::Xdp::apply`] sets it before it writes the first NAT server
    /// and clears it once the last one's service is gone.
    pub const NAT: u32 = 1;
}

/// Value of map `config`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Config {
    /// Idle timeout of an open TCP flow, ns.
    pub tcp_ns: u64,
    /// Of a closing TCP flow, ns.
    pub tcpfin_ns: u64,
    /// Of a UDP flow, ns.
    pub udp_ns: u64,
    /// Expiry of locality entries (lblc, lblcr), ns ([`LOCALITY_EXPIRE_S`] unless changed).
    pub locality_ns: u64,
    /// [`cfg_flags`].
    pub flags: u32,
    /// Padding.
    pub pad: u32,
}

/// Key of map `locality` (lblc, lblcr): a destination address of a service.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LocalityKey {
    /// Destination address (the virtual address).
    pub addr: [u8; 16],
    /// Service id.
    pub sid: u32,
    /// 4 or 6.
    pub family: u8,
    /// Padding.
    pub pad: [u8; 3],
}

/// Value of map `locality`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Locality {
    /// Monotonic time it was last used, ns (unused for the expiry: removed).
    pub lastuse: u64,
    /// Monotonic time its set last changed, ns (lblcr: past the expiry, its most loaded member leaves).
    pub lastmod: u64,
    /// Its real servers, one bit per slot of the service (lblc: one).
    pub members: u64,
}

/// Value of map `sweep`: the flow sweeper (a BPF timer firing every second) and what it measured.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sweeper {
    /// The `struct bpf_timer` (read back as zeros).
    pub timer: [u64; 2],
    /// 1 once the first packet started it.
    pub started: u64,
    /// Sweeps done.
    pub runs: u64,
    /// How long the last sweep took, ns (the program's clock read around it).
    pub last_ns: u64,
}

macro_rules! pod {
    ($($t:ty = $size:expr),* $(,)?) => {
        $(
            // SAFETY: plain #[repr(C)] data of integers and byte arrays, without implicit padding
            // (checked by the size assertion), valid for any bit pattern.
            unsafe impl aya::Pod for $t {}
            const _: () = assert!(std::mem::size_of::<$t>() == $size);
        )*
    };
}

pod!(
    SvcKey = 20,
    SvcInfo = 32,
    Dest = 72,
    Conns = 24,
    FlowKey = 40,
    Flow = 32,
    Counters = 40,
    NatRev = 72,
    Config = 40,
    LocalityKey = 24,
    Locality = 24,
    PersistKey = 24,
    Persist = 40,
    Sweeper = 40,
    DevMac = 8,
);

/// Entries of map `dev_mac_tab`, an array indexed by the device index itself: the devices below it are
/// looked up there by every packet (an array lookup costs a bounds check), those at or above it in the
/// hash `dev_macs`.
pub const DEV_SLOTS: u32 = 4096;

/// Value of maps `dev_macs` (a hash, key: the index of a device the program is attached to; every such
/// device) and `dev_mac_tab` (an array indexed by the device index, for those below [`DEV_SLOTS`]): its
/// MAC, the only destination the program forwards frames for on that device.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DevMac {
    /// The device's MAC.
    pub mac: [u8; 6],
    /// 1 in an entry (an array slot of no device is all zeros).
    pub set: u8,
    /// Padding.
    pub pad: u8,
}
