//! The pure part: a table of services and real servers turned into the contents of the BPF maps.
//!
//! Testable without BPF. The scheduling tables are the nftables plane's: the same wrr cycle
//! ([`wrr_sequence`], at most [`MAX_WRR_SLOTS`] slots), the same 256-bucket sh/dh table and the same
//! 4093-slot Maglev table with servers named by address and port, looked up with the same hash (the
//! kernel's jhash with the same seed, reduced as nftables' `jhash ... mod N` does), so a client reaches
//! the same real server on either plane. With `sh-port` / `mh-port` the hashed key is the client address
//! and port as nftables lays out `ip saddr . tcp sport` ([`hash_key`]); with `sh-fallback` /
//! `mh-fallback` a client whose slot's server is unavailable goes to the next slot's (in table order)
//! that is available, as the nftables plane's map sends it ([`fallback_slot`]).

use crate::layout::{
    cfg_flags, encap, flags, fwd, sched, tun_flags, Config, Dest, SvcInfo, SvcKey, JHASH_SEED,
    LOCALITY_EXPIRE_S, MAX_DESTS, MAX_SERVICES, NO_DEST, TAB_SIZE,
};
use crate::XdpError;
pub use fulcrum_balance::lvs::SchedFlags;
use fulcrum_balance::lvs::{wrr_sequence, DestState, HashTable, Maglev, HASH_TABLE_SIZE};
use std::net::{IpAddr, Ipv4Addr};

/// Maglev table size (the nftables plane's `NFT_MAGLEV_SIZE`).
pub const MAGLEV_SIZE: usize = 4093;
/// Longest wrr cycle (the nftables plane's `MAX_WRR_SLOTS`).
pub const MAX_WRR_SLOTS: usize = 1024;

/// How a real server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Direct routing: the frame goes to the real server's MAC address unchanged at the IP layer.
    Route,
    /// NAT (masquerading, `-m`): the destination becomes the real server's address and port; its replies,
    /// routed through the director, get the virtual address and port back.
    Nat,
    /// A tunnel from `src` (IPv4 in IPv4 only).
    Tunnel {
        /// Outer source address.
        src: Ipv4Addr,
        /// The encapsulation.
        encap: Encap,
    },
}

/// A real server's identity in its slot: FNV-1a of its address and port, never 0 (an unused slot's). A flow or
/// persistence entry whose tag is not its slot's belongs to a server no longer there.
pub fn dest_tag(addr: IpAddr, port: u16) -> u32 {
    let (bytes, _) = addr_bytes(addr);
    let h = bytes
        .iter()
        .chain(&port.to_be_bytes())
        .fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        });
    h.max(1)
}

fn csum_flag(csum: bool) -> u8 {
    if csum {
        tun_flags::CSUM
    } else {
        0
    }
}

/// A tunnel's encapsulation (ipvsadm `--tun-type`, `--tun-port`, `--tun-csum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encap {
    /// IP-in-IP.
    #[default]
    Ipip,
    /// GUE to UDP `port`; with `csum` the UDP checksum is filled in.
    Gue {
        /// Destination UDP port.
        port: u16,
        /// `--tun-csum`.
        csum: bool,
    },
    /// GRE; with `csum` its checksum is present.
    Gre {
        /// `--tun-csum`.
        csum: bool,
    },
}

/// A real server as the XDP plane needs it (next hop resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestSpec {
    /// Its stable slot in the service (< [`MAX_DESTS`]): flows and connection counts are kept under it,
    /// so a real server keeps its flows when another one is added or removed.
    pub slot: u32,
    /// Address.
    pub addr: IpAddr,
    /// Port (names the server in the Maglev table; NAT's destination port, direct routing and tunnels
    /// do not translate ports).
    pub port: u16,
    /// Weight (0: quiesced).
    pub weight: u32,
    /// Forwarding method.
    pub method: Method,
    /// The next hop's MAC (the real server's for direct routing, the gateway's for a routed tunnel).
    pub mac: [u8; 6],
    /// The output device's MAC.
    pub src_mac: [u8; 6],
    /// The output device's index.
    pub ifindex: u32,
    /// Upper connection threshold (`-x`; 0: none): at it, no new flows until below the lower one.
    pub u_threshold: u32,
    /// Lower connection threshold (`-y`; 0: three quarters of the upper, as IPVS).
    pub l_threshold: u32,
}

/// Persistence (`-p TIMEOUT -M NETMASK`): a client's new flows go to the real server its network was
/// sent to, until `timeout` seconds after its last flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Persistence {
    /// Seconds.
    pub timeout: u32,
    /// Leading bits of the client address that name its entry (32 / 128: per client).
    pub prefix: u8,
}

/// A virtual service as the XDP plane needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Stable id (< [`MAX_SERVICES`]); counters and tables are kept under it.
    pub id: u32,
    /// Virtual address.
    pub addr: IpAddr,
    /// Virtual port.
    pub port: u16,
    /// IP protocol: 6 (TCP) or 17 (UDP).
    pub proto: u8,
    /// ipvsadm scheduler name.
    pub scheduler: String,
    /// Real servers, in the order of the table.
    pub dests: Vec<DestSpec>,
    /// Persistence, if any.
    pub persistence: Option<Persistence>,
    /// Scheduler flags (`-b`): sh and mh read them, the other schedulers ignore them (as IPVS's do).
    pub flags: SchedFlags,
    /// One-packet scheduling (`-o`): on a UDP service every datagram is scheduled on its own.
    pub one_packet: bool,
}

/// Flow idle timeouts (ipvsadm `--set tcp tcpfin udp`), seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Open TCP flows.
    pub tcp: u32,
    /// Closing TCP flows.
    pub tcpfin: u32,
    /// UDP flows.
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

/// One service's map contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedService {
    /// Key of map `services`.
    pub key: SvcKey,
    /// Its value.
    pub info: SvcInfo,
    /// Map `dests` slots `id * MAX_DESTS ..`, by slot (unused slots have `fwd` NONE).
    pub dests: Vec<Dest>,
    /// Map `sched_tab` slots `id * TAB_SIZE ..` ([`NO_DEST`] for an empty slot); empty for the
    /// connection-count schedulers.
    pub table: Vec<u32>,
    /// Map `persist_mask` slot `id`: the `-M` mask over the maps' 16-byte client address.
    pub persist_mask: [u8; 16],
}

/// The contents of every map.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The services.
    pub services: Vec<PlannedService>,
    /// Map `config`.
    pub config: Config,
}

/// The scheduler number of an ipvsadm scheduler name, if the XDP plane implements it.
pub fn scheduler_number(name: &str) -> Option<u32> {
    Some(match name {
        "rr" => sched::RR,
        "wrr" => sched::WRR,
        "lc" => sched::LC,
        "wlc" => sched::WLC,
        "sed" => sched::SED,
        "nq" => sched::NQ,
        "sh" => sched::SH,
        "dh" => sched::DH,
        "mh" => sched::MH,
        "fo" => sched::FO,
        "ovf" => sched::OVF,
        "lblc" => sched::LBLC,
        "lblcr" => sched::LBLCR,
        _ => return None,
    })
}

/// A real server's Maglev name: FNV-1a over its address and port, as the nftables plane names it.
pub fn maglev_name(addr: IpAddr, port: u16) -> u64 {
    let bytes: Vec<u8> = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    bytes
        .iter()
        .chain(port.to_be_bytes().iter())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// The kernel's jhash (Bob Jenkins' lookup3) of `key` with `seed`, which nftables' `jhash` uses.
pub fn jhash(key: &[u8], seed: u32) -> u32 {
    fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
        *a = a.wrapping_sub(*c);
        *a ^= c.rotate_left(4);
        *c = c.wrapping_add(*b);
        *b = b.wrapping_sub(*a);
        *b ^= a.rotate_left(6);
        *a = a.wrapping_add(*c);
        *c = c.wrapping_sub(*b);
        *c ^= b.rotate_left(8);
        *b = b.wrapping_add(*a);
        *a = a.wrapping_sub(*c);
        *a ^= c.rotate_left(16);
        *c = c.wrapping_add(*b);
        *b = b.wrapping_sub(*a);
        *b ^= a.rotate_left(19);
        *a = a.wrapping_add(*c);
        *c = c.wrapping_sub(*b);
        *c ^= b.rotate_left(4);
        *b = b.wrapping_add(*a);
    }
    fn fin(a: &mut u32, b: &mut u32, c: &mut u32) {
        *c ^= *b;
        *c = c.wrapping_sub(b.rotate_left(14));
        *a ^= *c;
        *a = a.wrapping_sub(c.rotate_left(11));
        *b ^= *a;
        *b = b.wrapping_sub(a.rotate_left(25));
        *c ^= *b;
        *c = c.wrapping_sub(b.rotate_left(16));
        *a ^= *c;
        *a = a.wrapping_sub(c.rotate_left(4));
        *b ^= *a;
        *b = b.wrapping_sub(a.rotate_left(14));
        *c ^= *b;
        *c = c.wrapping_sub(b.rotate_left(24));
    }
    let init = 0xdead_beefu32
        .wrapping_add(key.len() as u32)
        .wrapping_add(seed);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut k = key;
    while k.len() > 12 {
        a = a.wrapping_add(u32::from_le_bytes([k[0], k[1], k[2], k[3]]));
        b = b.wrapping_add(u32::from_le_bytes([k[4], k[5], k[6], k[7]]));
        c = c.wrapping_add(u32::from_le_bytes([k[8], k[9], k[10], k[11]]));
        mix(&mut a, &mut b, &mut c);
        k = &k[12..];
    }
    if k.is_empty() {
        return c;
    }
    let mut tail = [0u8; 12];
    tail[..k.len()].copy_from_slice(k);
    a = a.wrapping_add(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    b = b.wrapping_add(u32::from_le_bytes([tail[4], tail[5], tail[6], tail[7]]));
    c = c.wrapping_add(u32::from_le_bytes([tail[8], tail[9], tail[10], tail[11]]));
    fin(&mut a, &mut b, &mut c);
    c
}

/// The slot of a table of `len` slots that the program picks for `addr` (sh and mh hash the client
/// address, dh the virtual one): nftables' `jhash ADDR mod LEN seed ...`.
pub fn hash_slot(addr: IpAddr, len: usize) -> usize {
    key_slot(&hash_key(addr, None), len)
}

/// The bytes sh and mh hash: the client address, and with `sh-port` / `mh-port` its port, laid out as
/// nftables lays out the concatenation `ip saddr . tcp sport` (each part padded to 4 bytes: the port in
/// network order, then two zero bytes).
pub fn hash_key(addr: IpAddr, port: Option<u16>) -> Vec<u8> {
    let mut k = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    if let Some(p) = port {
        k.extend_from_slice(&p.to_be_bytes());
        k.extend_from_slice(&[0, 0]);
    }
    k
}

/// The slot of a table of `len` slots for hash key `key` (nftables' `jhash KEY mod LEN seed ...`).
pub fn key_slot(key: &[u8], len: usize) -> usize {
    ((u64::from(jhash(key, JHASH_SEED)) * len as u64) >> 32) as usize
}

/// The slot whose server a client hashed to `slot` reaches under `sh-fallback` / `mh-fallback`: `slot`
/// itself when its server is available, else the first following slot (in table order, wrapping) whose
/// server is; `None` when none is ([`fulcrum_balance::lvs::fallback_slot`] over the map's table).
pub fn fallback_slot(table: &[u32], slot: usize, available: impl Fn(u32) -> bool) -> Option<usize> {
    let slots: Vec<Option<usize>> = table
        .iter()
        .map(|&d| (d != NO_DEST).then_some(d as usize))
        .collect();
    fulcrum_balance::lvs::fallback_slot(&slots, slot, |d| available(d as u32))
}

/// An address in the maps' 16-byte form.
pub fn addr_bytes(addr: IpAddr) -> ([u8; 16], u8) {
    let mut b = [0u8; 16];
    match addr {
        IpAddr::V4(a) => {
            b[..4].copy_from_slice(&a.octets());
            (b, 4)
        }
        IpAddr::V6(a) => (a.octets(), 6),
    }
}

/// The 16-byte mask keeping the first `prefix` bits of an address.
pub fn prefix_mask(prefix: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    for (i, b) in m.iter_mut().enumerate() {
        let bits = prefix.saturating_sub(8 * i as u32).min(8);
        *b = (0xff00u16 >> bits) as u8;
    }
    m
}

fn table_of(entries: &[Option<usize>], slot_of: &[u32]) -> Vec<u32> {
    entries
        .iter()
        .map(|e| e.and_then(|i| slot_of.get(i).copied()).unwrap_or(NO_DEST))
        .collect()
}

/// Builds the map contents for `services`; [`XdpError::Unsupported`] names what the plane cannot serve.
pub fn plan(services: &[ServiceSpec], timeouts: Timeouts) -> Result<Plan, XdpError> {
    let mut out = Plan {
        services: Vec::with_capacity(services.len()),
        config: Config {
            tcp_ns: u64::from(timeouts.tcp) * 1_000_000_000,
            tcpfin_ns: u64::from(timeouts.tcpfin) * 1_000_000_000,
            udp_ns: u64::from(timeouts.udp) * 1_000_000_000,
            locality_ns: LOCALITY_EXPIRE_S * 1_000_000_000,
            flags: if services
                .iter()
                .any(|s| s.dests.iter().any(|d| d.method == Method::Nat))
            {
                cfg_flags::NAT
            } else {
                0
            },
            pad: 0,
        },
    };
    let mut seen = std::collections::HashSet::new();
    for s in services {
        let name = format!("{} {}:{}", s.proto, s.addr, s.port);
        if s.id >= MAX_SERVICES || !seen.insert(s.id) {
            return Err(XdpError::Unsupported(format!(
                "service {name}: id {} is taken or not below {MAX_SERVICES}",
                s.id
            )));
        }
        if s.proto != 6 && s.proto != 17 {
            return Err(XdpError::Unsupported(format!(
                "service {name}: only TCP and UDP services"
            )));
        }
        if s.dests.len() > MAX_DESTS as usize {
            return Err(XdpError::Unsupported(format!(
                "service {name}: more than {MAX_DESTS} real servers"
            )));
        }
        let sched = scheduler_number(&s.scheduler).ok_or_else(|| {
            XdpError::Unsupported(format!(
                "service {name}: scheduler {} is not implemented in XDP",
                s.scheduler
            ))
        })?;
        let (vip, family) = addr_bytes(s.addr);
        let (persist_s, prefix) = match s.persistence {
            None => (0, 0),
            Some(p) => {
                let max = if family == 4 { 32 } else { 128 };
                if p.timeout == 0 || p.prefix > max {
                    return Err(XdpError::Unsupported(format!(
                        "service {name}: persistence {}s over /{}",
                        p.timeout, p.prefix
                    )));
                }
                (p.timeout, u32::from(p.prefix))
            }
        };
        let slots = s.dests.iter().map(|d| d.slot + 1).max().unwrap_or(0) as usize;
        let mut dests = vec![Dest::default(); slots];
        let mut used = std::collections::HashSet::new();
        for d in &s.dests {
            if d.slot >= MAX_DESTS || !used.insert(d.slot) {
                return Err(XdpError::Unsupported(format!(
                    "service {name}: real server slot {} is taken or not below {MAX_DESTS}",
                    d.slot
                )));
            }
            let (addr, dfam) = addr_bytes(d.addr);
            let (fwd, tun_src, tunnel) = match d.method {
                Method::Route | Method::Nat => {
                    if dfam != family {
                        return Err(XdpError::Unsupported(format!(
                            "service {name}: real server {} of another address family",
                            d.addr
                        )));
                    }
                    let f = if d.method == Method::Nat {
                        fwd::NAT
                    } else {
                        fwd::DR
                    };
                    (f, [0u8; 16], Encap::Ipip)
                }
                Method::Tunnel { src, encap } => {
                    if dfam != 4 || family != 4 {
                        return Err(XdpError::Unsupported(format!(
                            "service {name}: tunnel to {} (only IPv4 in IPv4)",
                            d.addr
                        )));
                    }
                    (fwd::TUN, addr_bytes(IpAddr::V4(src)).0, encap)
                }
            };
            let (encap, tun_flags, tun_port) = match tunnel {
                Encap::Ipip => (encap::IPIP, 0, 0),
                Encap::Gue { port, csum } => (encap::GUE, csum_flag(csum), port.to_be()),
                Encap::Gre { csum } => (encap::GRE, csum_flag(csum), 0),
            };
            dests[d.slot as usize] = Dest {
                addr,
                tun_src,
                mac: d.mac,
                src_mac: d.src_mac,
                ifindex: d.ifindex,
                weight: d.weight,
                fwd,
                family: dfam,
                encap,
                tun_flags,
                u_thresh: d.u_threshold,
                l_thresh: d.l_threshold,
                tun_port,
                port: d.port.to_be(),
                tag: dest_tag(d.addr, d.port),
            };
        }
        let slot_of: Vec<u32> = s.dests.iter().map(|d| d.slot).collect();
        let weights: Vec<u32> = s.dests.iter().map(|d| d.weight).collect();
        let table = match sched {
            sched::RR => weights
                .iter()
                .enumerate()
                .filter(|(_, w)| **w > 0)
                .map(|(i, _)| slot_of[i])
                .collect(),
            sched::WRR => wrr_sequence(&weights, MAX_WRR_SLOTS)
                .into_iter()
                .map(|i| slot_of[i])
                .collect(),
            sched::SH | sched::DH => {
                let states: Vec<DestState> = weights.iter().map(|&w| DestState::new(w)).collect();
                table_of(
                    HashTable::build_with(&states, HASH_TABLE_SIZE, false).buckets(),
                    &slot_of,
                )
            }
            sched::MH => {
                let ids: Vec<u64> = s
                    .dests
                    .iter()
                    .map(|d| maglev_name(d.addr, d.port))
                    .collect();
                match Maglev::build(&ids, &weights, MAGLEV_SIZE) {
                    Ok(t) => table_of(t.table(), &slot_of),
                    Err(e) => return Err(XdpError::Unsupported(format!("service {name}: {e}"))),
                }
            }
            _ => Vec::new(),
        };
        debug_assert!(table.len() <= TAB_SIZE as usize);
        out.services.push(PlannedService {
            key: SvcKey {
                addr: vip,
                port: s.port.to_be(),
                proto: s.proto,
                family,
            },
            info: SvcInfo {
                id: s.id,
                sched,
                ndests: slots as u32,
                tab_len: table.len() as u32,
                persist_s,
                prefix,
                thresholds: u32::from(s.dests.iter().any(|d| d.u_threshold > 0)),
                flags: (if matches!(sched, sched::SH | sched::MH) {
                    (if s.flags.fallback { flags::FALLBACK } else { 0 })
                        | (if s.flags.port { flags::PORT } else { 0 })
                } else {
                    0
                }) | (if s.one_packet && s.proto == 17 {
                    flags::ONE_PACKET
                } else {
                    0
                }),
            },
            dests,
            table,
            persist_mask: prefix_mask(prefix),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(last: u8, weight: u32) -> DestSpec {
        DestSpec {
            slot: u32::from(last) - 2,
            addr: IpAddr::V4(Ipv4Addr::new(198, 18, 1, last)),
            port: 80,
            weight,
            method: Method::Route,
            mac: [2, 0, 0, 0, 0, last],
            src_mac: [2, 0, 0, 0, 0, 1],
            ifindex: 3,
            u_threshold: 0,
            l_threshold: 0,
        }
    }

    fn svc(sched: &str, dests: Vec<DestSpec>) -> ServiceSpec {
        ServiceSpec {
            id: 1,
            addr: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 10)),
            port: 80,
            proto: 6,
            scheduler: sched.into(),
            dests,
            persistence: None,
            flags: SchedFlags::default(),
            one_packet: false,
        }
    }

    #[test]
    fn jhash_known_values() {
        // lookup3's published check values: hashlittle("", 0) and ("Four score and seven years ago", 0);
        // the kernel's jhash is hashlittle with the length added the same way.
        assert_eq!(jhash(b"", 0), 0xdead_beef);
        assert_eq!(jhash(b"Four score and seven years ago", 0), 0x1777_0551);
        assert_eq!(jhash(b"Four score and seven years ago", 1), 0xcd62_8161);
    }

    #[test]
    fn rr_skips_quiesced_and_wrr_follows_weights() {
        let p = plan(
            &[svc("rr", vec![dest(2, 1), dest(3, 0), dest(4, 5)])],
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(p.services[0].table, vec![0, 2]);
        let p = plan(
            &[svc("wrr", vec![dest(2, 1), dest(3, 2)])],
            Timeouts::default(),
        )
        .unwrap();
        let t = &p.services[0].table;
        assert_eq!(t.len(), 3);
        assert_eq!(t.iter().filter(|&&d| d == 1).count(), 2);
    }

    #[test]
    fn hashing_tables_match_the_nftables_plane_sizes() {
        let p = plan(
            &[svc("sh", vec![dest(2, 1), dest(3, 1)])],
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(p.services[0].table.len(), 256);
        let p = plan(
            &[svc("mh", vec![dest(2, 1), dest(3, 0)])],
            Timeouts::default(),
        )
        .unwrap();
        let t = &p.services[0].table;
        assert_eq!(t.len(), MAGLEV_SIZE);
        assert!(
            t.iter().all(|&d| d == 0),
            "a quiesced server gets no Maglev slot"
        );
        assert_eq!(p.services[0].key.port, 80u16.to_be());
    }

    #[test]
    fn connection_schedulers_have_no_table() {
        for s in ["lc", "wlc", "sed", "nq", "fo", "ovf"] {
            let p = plan(&[svc(s, vec![dest(2, 1)])], Timeouts::default()).unwrap();
            assert!(p.services[0].table.is_empty());
            assert_eq!(p.services[0].info.ndests, 1);
        }
    }

    #[test]
    fn persistence_masks_and_limits() {
        assert_eq!(prefix_mask(0), [0; 16]);
        assert_eq!(&prefix_mask(20)[..4], &[0xff, 0xff, 0xf0, 0]);
        assert_eq!(prefix_mask(128), [0xff; 16]);
        let mut s = svc("rr", vec![dest(2, 1)]);
        s.persistence = Some(Persistence {
            timeout: 60,
            prefix: 24,
        });
        let p = plan(std::slice::from_ref(&s), Timeouts::default()).unwrap();
        assert_eq!(
            (p.services[0].info.persist_s, p.services[0].info.prefix),
            (60, 24)
        );
        assert_eq!(&p.services[0].persist_mask[..4], &[255, 255, 255, 0]);
        s.persistence = Some(Persistence {
            timeout: 60,
            prefix: 33,
        });
        assert!(plan(&[s], Timeouts::default()).is_err(), "/33 of IPv4");
    }

    #[test]
    fn flags_reach_sh_and_mh_only() {
        let mut s = svc("mh", vec![dest(2, 1)]);
        s.flags = SchedFlags {
            fallback: true,
            port: true,
        };
        let p = plan(std::slice::from_ref(&s), Timeouts::default()).unwrap();
        assert_eq!(p.services[0].info.flags, flags::FALLBACK | flags::PORT);
        s.flags.fallback = false;
        s.scheduler = "sh".into();
        let p = plan(std::slice::from_ref(&s), Timeouts::default()).unwrap();
        assert_eq!(p.services[0].info.flags, flags::PORT);
        s.scheduler = "wlc".into();
        let p = plan(&[s], Timeouts::default()).unwrap();
        assert_eq!(
            p.services[0].info.flags, 0,
            "IPVS's other schedulers ignore -b"
        );
    }

    #[test]
    fn hash_key_is_nftables_concatenation() {
        let a: IpAddr = "198.18.0.7".parse().unwrap();
        assert_eq!(hash_key(a, None), vec![198, 18, 0, 7]);
        assert_eq!(
            hash_key(a, Some(0x1234)),
            vec![198, 18, 0, 7, 0x12, 0x34, 0, 0]
        );
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(hash_key(b, Some(80)).len(), 20);
        assert_eq!(hash_slot(a, 256), key_slot(&hash_key(a, None), 256));
        assert_ne!(
            key_slot(&hash_key(a, Some(1)), 4093),
            key_slot(&hash_key(a, Some(2)), 4093)
        );
    }

    #[test]
    fn fallback_walks_the_table_forward_and_wraps() {
        let t = [0, 0, 1, 2, NO_DEST, 1];
        assert_eq!(fallback_slot(&t, 0, |_| true), Some(0));
        assert_eq!(fallback_slot(&t, 0, |d| d != 0), Some(2));
        assert_eq!(fallback_slot(&t, 3, |d| d == 1), Some(5));
        assert_eq!(
            fallback_slot(&t, 4, |d| d == 0),
            Some(0),
            "wraps, skips empty"
        );
        assert_eq!(fallback_slot(&t, 1, |_| false), None);
        assert_eq!(fallback_slot(&[], 0, |_| true), None);
    }

    #[test]
    fn locality_schedulers_have_no_table_and_a_day_of_expiry() {
        for (name, n) in [("lblc", sched::LBLC), ("lblcr", sched::LBLCR)] {
            let p = plan(
                &[svc(name, vec![dest(2, 1), dest(3, 1)])],
                Timeouts::default(),
            )
            .unwrap();
            assert_eq!(p.services[0].info.sched, n);
            assert!(p.services[0].table.is_empty());
            assert_eq!(p.config.locality_ns, 86_400_000_000_000);
        }
    }

    #[test]
    fn nat_flag_is_set_by_any_nat_server_of_any_service() {
        let dr = svc("rr", vec![dest(2, 1), dest(3, 1)]);
        let t = Timeouts::default();
        assert_eq!(plan(std::slice::from_ref(&dr), t).unwrap().config.flags, 0);
        assert_eq!(plan(&[], t).unwrap().config.flags, 0);
        let mut nat = svc("wlc", vec![dest(2, 1), dest(3, 0)]);
        nat.id = 2;
        nat.port = 443;
        // one NAT server, quiesced (its flows still run), in the second service
        nat.dests[1].method = Method::Nat;
        let p = plan(&[dr, nat], t).unwrap();
        assert_eq!(p.config.flags, cfg_flags::NAT);
    }

    #[test]
    fn unsupported_is_named() {
        let e = plan(&[svc("twos", vec![dest(2, 1)])], Timeouts::default()).unwrap_err();
        assert!(e.to_string().contains("twos"), "{e}");
        let mut s = svc("rr", vec![dest(2, 1)]);
        s.proto = 132;
        assert!(plan(&[s], Timeouts::default()).is_err());
        let mut s = svc("rr", vec![dest(2, 1)]);
        s.id = MAX_SERVICES;
        assert!(plan(&[s], Timeouts::default()).is_err());
        let mut s = svc("rr", vec![dest(2, 1)]);
        s.dests[0].method = Method::Tunnel {
            src: Ipv4Addr::new(198, 18, 0, 1),
            encap: Encap::Ipip,
        };
        s.addr = "2001:db8::1".parse().unwrap();
        assert!(plan(&[s], Timeouts::default()).is_err());
    }
}
