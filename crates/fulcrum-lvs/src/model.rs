//! The virtual-server table: services keyed by protocol + address + port or by firewall mark, their real
//! servers, and the connection timeouts. Independent of any data plane; every data plane loads and stores it.

use std::cmp::Ordering;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// IPVS version reported in listings.
pub const IPVS_VERSION: &str = "1.2.1";
/// Connection hash table size reported in listings.
pub const IPVS_TABLE_SIZE: u32 = 4096;
/// Default scheduler.
pub const DEFAULT_SCHEDULER: &str = "wlc";
/// Persistence timeout when `-p` is given without a value, in seconds.
pub const DEFAULT_PERSISTENCE: u32 = 360;
/// Largest persistence timeout accepted, in seconds (31 days).
pub const MAX_TIMEOUT: u32 = 86400 * 31;

/// Transport protocol of an address-based virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP (`-t`).
    Tcp,
    /// UDP (`-u`).
    Udp,
    /// SCTP (`--sctp-service`).
    Sctp,
}

impl Protocol {
    /// IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// Lower-case name (`tcp`, `udp`, `sctp`), as in /etc/services and nft.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// Upper-case label used in listings (`TCP`, `UDP`, `SCTP`).
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// The ipvsadm option selecting this protocol (`-t`, `-u`, `--sctp-service`).
    pub fn switch(self) -> &'static str {
        match self {
            Protocol::Tcp => "-t",
            Protocol::Udp => "-u",
            Protocol::Sctp => "--sctp-service",
        }
    }
}

/// What identifies a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKey {
    /// Protocol, virtual address and port (port 0 = any port, persistent services only).
    Addr {
        /// Transport protocol.
        proto: Protocol,
        /// Virtual IP address.
        addr: IpAddr,
        /// Virtual port.
        port: u16,
    },
    /// Firewall mark (`-f`), IPv4 unless `ipv6` (`-6`).
    Fwmark {
        /// The mark, greater than zero.
        mark: u32,
        /// True for IPv6 fwmark services.
        ipv6: bool,
    },
}

impl ServiceKey {
    /// True when the service handles IPv6.
    pub fn is_ipv6(&self) -> bool {
        match self {
            ServiceKey::Addr { addr, .. } => addr.is_ipv6(),
            ServiceKey::Fwmark { ipv6, .. } => *ipv6,
        }
    }

    /// The service's port (0 for fwmark services).
    pub fn port(&self) -> u16 {
        match self {
            ServiceKey::Addr { port, .. } => *port,
            ServiceKey::Fwmark { .. } => 0,
        }
    }

    /// The protocol, if address-based.
    pub fn protocol(&self) -> Option<Protocol> {
        match self {
            ServiceKey::Addr { proto, .. } => Some(*proto),
            ServiceKey::Fwmark { .. } => None,
        }
    }

    /// ipvsadm's listing order: address services first (IPv4 before IPv6, then protocol, address, port),
    /// then fwmark services by mark.
    pub fn sort_cmp(&self, other: &ServiceKey) -> Ordering {
        fn rank(k: &ServiceKey) -> (u32, bool, u8, IpAddr, u16) {
            match *k {
                ServiceKey::Addr { proto, addr, port } => {
                    (0, addr.is_ipv6(), proto.number(), addr, port)
                }
                ServiceKey::Fwmark { mark, ipv6 } => {
                    (mark, ipv6, 0, IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
                }
            }
        }
        rank(self).cmp(&rank(other))
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr {
                proto,
                addr: IpAddr::V6(a),
                port,
            } => {
                write!(f, "{} [{a}]:{port}", proto.label())
            }
            ServiceKey::Addr { proto, addr, port } => write!(f, "{} {addr}:{port}", proto.label()),
            ServiceKey::Fwmark { mark, ipv6 } => {
                write!(f, "FWM {mark}{}", if *ipv6 { " IPv6" } else { "" })
            }
        }
    }
}

/// Packet-forwarding method of a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Forward {
    /// Direct routing, `-g` (the default): "Route".
    #[default]
    Route,
    /// NAT, `-m`: "Masq".
    Masq,
    /// IP tunnelling, `-i`: "Tunnel".
    Tunnel,
    /// Local node (set by the kernel for local addresses, never by ipvsadm): "Local".
    Local,
}

impl Forward {
    /// Name in listings.
    pub fn label(self) -> &'static str {
        match self {
            Forward::Route => "Route",
            Forward::Masq => "Masq",
            Forward::Tunnel => "Tunnel",
            Forward::Local => "Local",
        }
    }

    /// ipvsadm switch used by `-S`.
    pub fn switch(self) -> &'static str {
        match self {
            Forward::Route | Forward::Local => "-g",
            Forward::Masq => "-m",
            Forward::Tunnel => "-i",
        }
    }
}

/// Tunnel encapsulation (`--tun-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunType {
    /// IP-in-IP (the default).
    #[default]
    Ipip,
    /// Generic UDP encapsulation (needs `--tun-port`).
    Gue,
    /// GRE.
    Gre,
}

impl TunType {
    /// Name as given to `--tun-type`.
    pub fn name(self) -> &'static str {
        match self {
            TunType::Ipip => "ipip",
            TunType::Gue => "gue",
            TunType::Gre => "gre",
        }
    }

    /// Parses a `--tun-type` value.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "ipip" => Some(TunType::Ipip),
            "gue" => Some(TunType::Gue),
            "gre" => Some(TunType::Gre),
            _ => None,
        }
    }
}

/// Tunnel checksum mode (`--tun-nocsum`, `--tun-csum`, `--tun-remcsum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunCsum {
    /// No checksum (the default).
    #[default]
    NoCsum,
    /// Checksum.
    Csum,
    /// Remote checksum offload (GUE only).
    RemCsum,
}

impl TunCsum {
    /// The option selecting this mode.
    pub fn switch(self) -> &'static str {
        match self {
            TunCsum::NoCsum => "--tun-nocsum",
            TunCsum::Csum => "--tun-csum",
            TunCsum::RemCsum => "--tun-remcsum",
        }
    }
}

/// Tunnel parameters of a real server using `-i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tunnel {
    /// Encapsulation.
    pub kind: TunType,
    /// Destination UDP port (GUE).
    pub port: u16,
    /// Checksum mode.
    pub csum: TunCsum,
}

/// Persistence granularity (`-M`): an IPv4 netmask or an IPv6 prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Netmask {
    /// IPv4 netmask such as 255.255.255.0.
    V4(Ipv4Addr),
    /// IPv6 prefix length, 1..=128.
    Prefix(u8),
}

impl Netmask {
    /// The default for a family: /32 (255.255.255.255) or /128.
    pub fn default_for(ipv6: bool) -> Self {
        if ipv6 {
            Netmask::Prefix(128)
        } else {
            Netmask::V4(Ipv4Addr::BROADCAST)
        }
    }

    /// True when this is the family default (a per-host granularity).
    pub fn is_default(&self) -> bool {
        matches!(self, Netmask::V4(m) if *m == Ipv4Addr::BROADCAST) || *self == Netmask::Prefix(128)
    }

    /// Prefix length (IPv4 masks count their leading ones).
    pub fn prefix_len(&self) -> u8 {
        match self {
            Netmask::V4(m) => u32::from(*m).leading_ones() as u8,
            Netmask::Prefix(p) => *p,
        }
    }
}

impl fmt::Display for Netmask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netmask::V4(m) => write!(f, "{m}"),
            Netmask::Prefix(p) => write!(f, "{p}"),
        }
    }
}

/// Service flags (persistence, one-packet scheduling, scheduler flags 1-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ServiceFlags {
    /// Persistent service (`-p`).
    pub persistent: bool,
    /// One-packet scheduling (`-o`).
    pub one_packet: bool,
    /// Scheduler flag 1: sh-fallback / mh-fallback / flag-1.
    pub sched1: bool,
    /// Scheduler flag 2: sh-port / mh-port / flag-2.
    pub sched2: bool,
    /// Scheduler flag 3: flag-3.
    pub sched3: bool,
}

impl ServiceFlags {
    /// True when any scheduler flag is set.
    pub fn any_sched(&self) -> bool {
        self.sched1 || self.sched2 || self.sched3
    }

    /// The scheduler flags as ipvsadm prints them for scheduler `sched` (comma-separated).
    pub fn sched_names(&self, sched: &str) -> String {
        let (f1, f2) = match sched {
            "sh" => ("sh-fallback", "sh-port"),
            "mh" => ("mh-fallback", "mh-port"),
            _ => ("flag-1", "flag-2"),
        };
        let mut v = Vec::new();
        if self.sched1 {
            v.push(f1);
        }
        if self.sched2 {
            v.push(f2);
        }
        if self.sched3 {
            v.push("flag-3");
        }
        v.join(",")
    }

    /// Packs the flags into a bit set (persistent 1, one-packet 4, sched1 8, sched2 16, sched3 32).
    pub fn bits(&self) -> u32 {
        u32::from(self.persistent)
            | u32::from(self.one_packet) << 2
            | u32::from(self.sched1) << 3
            | u32::from(self.sched2) << 4
            | u32::from(self.sched3) << 5
    }

    /// Unpacks [`ServiceFlags::bits`].
    pub fn from_bits(b: u32) -> Self {
        ServiceFlags {
            persistent: b & 1 != 0,
            one_packet: b & 4 != 0,
            sched1: b & 8 != 0,
            sched2: b & 16 != 0,
            sched3: b & 32 != 0,
        }
    }
}

/// Traffic counters of a service or real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets from clients.
    pub inpkts: u64,
    /// Packets to clients.
    pub outpkts: u64,
    /// Bytes from clients.
    pub inbytes: u64,
    /// Bytes to clients.
    pub outbytes: u64,
}

impl Stats {
    /// Component-wise sum.
    pub fn add(&mut self, o: &Stats) {
        self.conns = self.conns.saturating_add(o.conns);
        self.inpkts = self.inpkts.saturating_add(o.inpkts);
        self.outpkts = self.outpkts.saturating_add(o.outpkts);
        self.inbytes = self.inbytes.saturating_add(o.inbytes);
        self.outbytes = self.outbytes.saturating_add(o.outbytes);
    }
}

/// Rates per second of a service or real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Incoming packets per second.
    pub inpps: u64,
    /// Outgoing packets per second.
    pub outpps: u64,
    /// Incoming bytes per second.
    pub inbps: u64,
    /// Outgoing bytes per second.
    pub outbps: u64,
}

/// Live figures a data plane reports for an entry (not part of the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observed {
    /// Counters.
    pub stats: Stats,
    /// Rates.
    pub rates: Rates,
    /// Active (established TCP) connections.
    pub active: u32,
    /// Inactive connections (other TCP states, UDP).
    pub inactive: u32,
    /// Persistence entries.
    pub persist: u32,
}

/// A real server of a virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServer {
    /// Stable identifier inside the table (names the data plane's counters).
    pub id: u32,
    /// Address.
    pub addr: IpAddr,
    /// Port (0 for fwmark services = the request's port).
    pub port: u16,
    /// Forwarding method.
    pub forward: Forward,
    /// Weight, 0..=2147483647; 0 = quiescent.
    pub weight: u32,
    /// Upper connection threshold (0 = none).
    pub u_threshold: u32,
    /// Lower connection threshold.
    pub l_threshold: u32,
    /// Tunnel parameters (meaningful with [`Forward::Tunnel`]).
    pub tunnel: Tunnel,
    /// Live figures from the data plane.
    pub observed: Observed,
}

/// A virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Stable identifier inside the table (names the data plane's chains and counters).
    pub id: u32,
    /// What identifies the service.
    pub key: ServiceKey,
    /// Scheduler name.
    pub scheduler: String,
    /// Flags.
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds (when persistent).
    pub timeout: u32,
    /// Persistence granularity.
    pub netmask: Netmask,
    /// Persistence engine (`--pe`), if any.
    pub pe: Option<String>,
    /// Real servers in insertion order.
    pub dests: Vec<RealServer>,
    /// Live figures from the data plane (active/inactive unused).
    pub observed: Observed,
}

/// The settings of a service, as `-A`/`-E` give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Key.
    pub key: ServiceKey,
    /// Scheduler name.
    pub scheduler: String,
    /// Flags.
    pub flags: ServiceFlags,
    /// Persistence timeout.
    pub timeout: u32,
    /// Persistence granularity.
    pub netmask: Netmask,
    /// Persistence engine.
    pub pe: Option<String>,
}

/// The settings of a real server, as `-a`/`-e` give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestSpec {
    /// Address.
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
    /// Forwarding method.
    pub forward: Forward,
    /// Weight.
    pub weight: u32,
    /// Upper threshold.
    pub u_threshold: u32,
    /// Lower threshold.
    pub l_threshold: u32,
    /// Tunnel parameters.
    pub tunnel: Tunnel,
}

/// Connection timeouts (`--set tcp tcpfin udp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Established TCP, seconds.
    pub tcp: u32,
    /// TCP after FIN, seconds.
    pub tcpfin: u32,
    /// UDP, seconds.
    pub udp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp: 900,
            tcpfin: 120,
            udp: 300,
        }
    }
}

/// Errors of table operations; the messages are the ones ipvsadm prints for the kernel's answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// `-A` of a service that exists.
    #[error("Service already exists")]
    ServiceExists,
    /// Unknown scheduler or persistence engine.
    #[error("Scheduler or persistence engine not found")]
    SchedulerNotFound,
    /// `-E`, `-D`, `-Z`, `-L` of a missing service.
    #[error("No such service")]
    NoSuchService,
    /// `-a`, `-e`, `-d` on a missing service.
    #[error("Service not defined")]
    ServiceNotDefined,
    /// `-a` of a real server that exists.
    #[error("Destination already exists")]
    DestExists,
    /// `-e`, `-d` of a missing real server.
    #[error("No such destination")]
    NoSuchDest,
    /// Lower threshold above the upper one.
    #[error("Numerical result out of range")]
    OutOfRange,
    /// Something the kernel would reject as invalid.
    #[error("Invalid operation.  Possibly wrong module version, address not unicast, ...")]
    Invalid,
}

/// Schedulers the table accepts.
pub const SCHEDULERS: [&str; 13] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
];

fn check_spec(spec: &ServiceSpec) -> Result<(), TableError> {
    if !SCHEDULERS.contains(&spec.scheduler.as_str()) {
        return Err(TableError::SchedulerNotFound);
    }
    if let Some(pe) = &spec.pe {
        if pe != "sip" {
            return Err(TableError::SchedulerNotFound);
        }
    }
    Ok(())
}

fn check_dest(d: &DestSpec) -> Result<(), TableError> {
    if d.l_threshold > d.u_threshold {
        return Err(TableError::OutOfRange);
    }
    if d.addr.is_unspecified() || d.addr.is_multicast() {
        return Err(TableError::Invalid);
    }
    Ok(())
}

/// The whole virtual-server table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// Services in insertion order.
    pub services: Vec<Service>,
    /// Connection timeouts.
    pub timeouts: Timeouts,
}

impl Table {
    /// An empty table with default timeouts.
    pub fn new() -> Self {
        Table::default()
    }

    fn next_service_id(&self) -> u32 {
        self.services.iter().map(|s| s.id + 1).max().unwrap_or(0)
    }

    /// The service with `key`.
    pub fn service(&self, key: &ServiceKey) -> Option<&Service> {
        self.services.iter().find(|s| s.key == *key)
    }

    fn service_mut(&mut self, key: &ServiceKey) -> Option<&mut Service> {
        self.services.iter_mut().find(|s| s.key == *key)
    }

    /// `-A`: adds a service.
    pub fn add_service(&mut self, spec: ServiceSpec) -> Result<(), TableError> {
        if self.service(&spec.key).is_some() {
            return Err(TableError::ServiceExists);
        }
        check_spec(&spec)?;
        let id = self.next_service_id();
        self.services.push(Service {
            id,
            key: spec.key,
            scheduler: spec.scheduler,
            flags: spec.flags,
            timeout: spec.timeout,
            netmask: spec.netmask,
            pe: spec.pe,
            dests: Vec::new(),
            observed: Observed::default(),
        });
        Ok(())
    }

    /// `-E`: replaces a service's settings (its real servers stay).
    pub fn edit_service(&mut self, spec: ServiceSpec) -> Result<(), TableError> {
        if self.service(&spec.key).is_none() {
            return Err(TableError::NoSuchService);
        }
        check_spec(&spec)?;
        let s = self
            .service_mut(&spec.key)
            .ok_or(TableError::NoSuchService)?;
        s.scheduler = spec.scheduler;
        s.flags = spec.flags;
        s.timeout = spec.timeout;
        s.netmask = spec.netmask;
        s.pe = spec.pe;
        Ok(())
    }

    /// `-D`: deletes a service and its real servers.
    pub fn delete_service(&mut self, key: &ServiceKey) -> Result<(), TableError> {
        let before = self.services.len();
        self.services.retain(|s| s.key != *key);
        if self.services.len() == before {
            return Err(TableError::NoSuchService);
        }
        Ok(())
    }

    /// `-C`: removes every service (timeouts stay).
    pub fn clear(&mut self) {
        self.services.clear();
    }

    /// `-a`: adds a real server.
    pub fn add_dest(&mut self, key: &ServiceKey, d: DestSpec) -> Result<(), TableError> {
        let s = self.service_mut(key).ok_or(TableError::ServiceNotDefined)?;
        if s.dests.iter().any(|x| x.addr == d.addr && x.port == d.port) {
            return Err(TableError::DestExists);
        }
        check_dest(&d)?;
        let id = s.dests.iter().map(|x| x.id + 1).max().unwrap_or(0);
        s.dests.push(RealServer {
            id,
            addr: d.addr,
            port: d.port,
            forward: d.forward,
            weight: d.weight,
            u_threshold: d.u_threshold,
            l_threshold: d.l_threshold,
            tunnel: d.tunnel,
            observed: Observed::default(),
        });
        Ok(())
    }

    /// `-e`: replaces a real server's settings.
    pub fn edit_dest(&mut self, key: &ServiceKey, d: DestSpec) -> Result<(), TableError> {
        let s = self.service_mut(key).ok_or(TableError::ServiceNotDefined)?;
        let x = s
            .dests
            .iter_mut()
            .find(|x| x.addr == d.addr && x.port == d.port)
            .ok_or(TableError::NoSuchDest)?;
        check_dest(&d)?;
        x.forward = d.forward;
        x.weight = d.weight;
        x.u_threshold = d.u_threshold;
        x.l_threshold = d.l_threshold;
        x.tunnel = d.tunnel;
        Ok(())
    }

    /// `-d`: removes a real server.
    pub fn delete_dest(
        &mut self,
        key: &ServiceKey,
        addr: IpAddr,
        port: u16,
    ) -> Result<(), TableError> {
        let s = self.service_mut(key).ok_or(TableError::ServiceNotDefined)?;
        let before = s.dests.len();
        s.dests.retain(|x| !(x.addr == addr && x.port == port));
        if s.dests.len() == before {
            return Err(TableError::NoSuchDest);
        }
        Ok(())
    }

    /// `-Z`: zeroes the counters of one service (and its real servers) or of all.
    pub fn zero(&mut self, key: Option<&ServiceKey>) -> Result<(), TableError> {
        let zero = |s: &mut Service| {
            s.observed.stats = Stats::default();
            s.observed.rates = Rates::default();
            for d in &mut s.dests {
                d.observed.stats = Stats::default();
                d.observed.rates = Rates::default();
            }
        };
        match key {
            None => self.services.iter_mut().for_each(zero),
            Some(k) => zero(self.service_mut(k).ok_or(TableError::NoSuchService)?),
        }
        Ok(())
    }

    /// `--set`: sets the timeouts; a 0 keeps the current value.
    pub fn set_timeouts(&mut self, t: Timeouts) {
        if t.tcp != 0 {
            self.timeouts.tcp = t.tcp;
        }
        if t.tcpfin != 0 {
            self.timeouts.tcpfin = t.tcpfin;
        }
        if t.udp != 0 {
            self.timeouts.udp = t.udp;
        }
    }

    /// The same table without live figures (what configuration comparisons use).
    pub fn config_only(&self) -> Table {
        let mut t = self.clone();
        for s in &mut t.services {
            s.observed = Observed::default();
            for d in &mut s.dests {
                d.observed = Observed::default();
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16) -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: "10.0.0.1"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            port,
        }
    }

    fn spec(port: u16, sched: &str) -> ServiceSpec {
        ServiceSpec {
            key: key(port),
            scheduler: sched.into(),
            flags: ServiceFlags::default(),
            timeout: 0,
            netmask: Netmask::default_for(false),
            pe: None,
        }
    }

    fn dest(last: u8, weight: u32) -> DestSpec {
        DestSpec {
            addr: IpAddr::V4(Ipv4Addr::new(192, 168, 0, last)),
            port: 80,
            forward: Forward::Masq,
            weight,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: Tunnel::default(),
        }
    }

    #[test]
    fn service_lifecycle_and_errors() {
        let mut t = Table::new();
        assert_eq!(t.add_service(spec(80, "rr")), Ok(()));
        assert_eq!(
            t.add_service(spec(80, "rr")),
            Err(TableError::ServiceExists)
        );
        assert_eq!(
            t.add_service(spec(81, "bogus")),
            Err(TableError::SchedulerNotFound)
        );
        assert_eq!(
            t.edit_service(spec(81, "rr")),
            Err(TableError::NoSuchService)
        );
        assert_eq!(
            t.edit_service(spec(81, "bogus")),
            Err(TableError::NoSuchService)
        );
        assert_eq!(
            t.edit_service(spec(80, "bogus")),
            Err(TableError::SchedulerNotFound)
        );
        assert_eq!(t.edit_service(spec(80, "wrr")), Ok(()));
        assert_eq!(
            t.service(&key(80)).map(|s| s.scheduler.as_str()),
            Some("wrr")
        );
        assert_eq!(
            t.add_dest(&key(81), dest(1, 1)),
            Err(TableError::ServiceNotDefined)
        );
        assert_eq!(t.add_dest(&key(80), dest(1, 1)), Ok(()));
        assert_eq!(
            t.add_dest(&key(80), dest(1, 1)),
            Err(TableError::DestExists)
        );
        assert_eq!(t.add_dest(&key(80), dest(2, 3)), Ok(()));
        let mut bad = dest(3, 1);
        bad.l_threshold = 5;
        assert_eq!(t.add_dest(&key(80), bad), Err(TableError::OutOfRange));
        assert_eq!(
            t.edit_dest(&key(80), dest(9, 1)),
            Err(TableError::NoSuchDest)
        );
        assert_eq!(t.edit_dest(&key(80), dest(2, 0)), Ok(()));
        let ids: Vec<u32> = t.services[0].dests.iter().map(|d| d.id).collect();
        assert_eq!(ids, vec![0, 1]);
        assert_eq!(t.delete_dest(&key(80), dest(1, 1).addr, 80), Ok(()));
        assert_eq!(
            t.delete_dest(&key(80), dest(1, 1).addr, 80),
            Err(TableError::NoSuchDest)
        );
        assert_eq!(t.zero(Some(&key(99))), Err(TableError::NoSuchService));
        assert_eq!(t.delete_service(&key(80)), Ok(()));
        assert_eq!(t.delete_service(&key(80)), Err(TableError::NoSuchService));
    }

    #[test]
    fn timeouts_zero_keeps() {
        let mut t = Table::new();
        t.set_timeouts(Timeouts {
            tcp: 0,
            tcpfin: 60,
            udp: 0,
        });
        assert_eq!(
            t.timeouts,
            Timeouts {
                tcp: 900,
                tcpfin: 60,
                udp: 300
            }
        );
    }

    #[test]
    fn sort_order() {
        let fw = ServiceKey::Fwmark {
            mark: 1,
            ipv6: false,
        };
        let udp = ServiceKey::Addr {
            proto: Protocol::Udp,
            addr: IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)),
            port: 1,
        };
        let tcp6 = ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: "::1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            port: 1,
        };
        let mut v = vec![fw, tcp6, udp, key(80)];
        v.sort_by(ServiceKey::sort_cmp);
        assert_eq!(v, vec![key(80), udp, tcp6, fw]);
    }

    #[test]
    fn flags_bits_round_trip() {
        for b in 0..64u32 {
            let f = ServiceFlags::from_bits(b);
            assert_eq!(ServiceFlags::from_bits(f.bits()), f);
        }
        let f = ServiceFlags {
            sched1: true,
            sched2: true,
            ..Default::default()
        };
        assert_eq!(f.sched_names("sh"), "sh-fallback,sh-port");
        assert_eq!(f.sched_names("wlc"), "flag-1,flag-2");
    }
}
