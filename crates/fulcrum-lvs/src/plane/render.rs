//! Rendering the table as one `nft -f` script (see [`super::nft`] for the layout and the reasons), and the
//! small scripts the controller uses to replace only the scheduling chains.
//!
//! Rendering is pure: everything it needs from the host (ingress devices, which real servers are on a
//! directly connected segment, set elements to keep) comes in a [`Host`].

use super::tunnel::{program::Encap, tun_mark, TunnelRoute};
use super::PlaneError;
use crate::model::{Forward, Netmask, Protocol, Service, ServiceKey, Table, TunType};
use crate::record;
use fulcrum_balance::lvs::{fallback_slot, wrr_sequence, DestState, HashTable, Maglev};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;

/// The nftables table name (in both the `inet` and the `netdev` family).
pub const TABLE: &str = "fulcrum_lvs";
/// The high byte of conntrack marks set by this data plane.
pub const MARK_TAG: u32 = 0x4c;
/// Maglev table size used in nft maps (prime; > 100 x servers for up to 40 servers).
pub const NFT_MAGLEV_SIZE: usize = 4093;
/// Longest wrr cycle rendered into a numgen map.
pub const MAX_WRR_SLOTS: usize = 1024;
/// Prefix of the comment the controller puts on the first rule of a scheduling chain it rewrote.
pub const CTL_PREFIX: &str = "ctl ";

/// The conntrack mark of real server `dest` of service `svc`.
pub fn mark(svc: u32, dest: u32) -> u32 {
    MARK_TAG << 24 | (svc & 0xfff) << 12 | (dest & 0xfff)
}

/// The (service, real server) ids of a conntrack mark set by this data plane.
pub fn mark_ids(m: u32) -> Option<(u32, u32)> {
    (m >> 24 == MARK_TAG).then_some(((m >> 12) & 0xfff, m & 0xfff))
}

/// Prefix of the comment on a tunnel forward rule, followed by the egress device (the devices whose
/// encapsulation filter a later store may have to remove).
pub const TUN_PREFIX: &str = "tun:";

/// The tunnel destinations of `table` by egress device: what the encapsulation program of each device
/// must know.
pub fn tunnel_encaps(table: &Table, host: &Host) -> HashMap<String, Vec<Encap>> {
    let mut out: HashMap<String, Vec<Encap>> = HashMap::new();
    for s in &table.services {
        for d in &s.dests {
            if d.forward != Forward::Tunnel || !member(s, d, Family::Netdev, host) {
                continue;
            }
            if let Some(t) = host.tunnels.get(&d.addr) {
                out.entry(t.dev.clone()).or_default().push(Encap {
                    mark: tun_mark(s.id, d.id),
                    src: t.src,
                    dst: d.addr,
                });
            }
        }
    }
    out
}

/// Which of the two nftables tables a scheduling chain lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `inet fulcrum_lvs`: NAT (`-m`), scheduled in the nat prerouting/output hooks.
    Inet,
    /// `netdev fulcrum_lvs`: direct routing (`-g`), scheduled in the ingress hook.
    Netdev,
}

impl Family {
    /// The nft family keyword.
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Netdev => "netdev",
        }
    }
}

/// What rendering needs to know about the host.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// Devices whose ingress hook the direct-routing chain attaches to.
    pub ingress: Vec<String>,
    /// The egress device of every direct-routing real server on a directly connected segment.
    pub onlink: HashMap<IpAddr, String>,
    /// The route to every tunnel real server that can be reached (see [`super::tunnel`]).
    pub tunnels: HashMap<IpAddr, TunnelRoute>,
    /// Set elements to keep across a store, by `family/set`: the set's type and the elements as nft text.
    pub keep: HashMap<String, (String, Vec<String>)>,
}

fn fam_word(ipv6: bool) -> &'static str {
    if ipv6 {
        "ip6"
    } else {
        "ip"
    }
}

/// True when real server `d` of `s` is forwarded by the chains of `fam` on this host.
pub fn member(s: &Service, d: &crate::model::RealServer, fam: Family, host: &Host) -> bool {
    let same = d.addr.is_ipv6() == s.key.is_ipv6();
    match fam {
        Family::Inet => d.forward == Forward::Masq && same,
        Family::Netdev => {
            let reached = match d.forward {
                Forward::Route => host.onlink.contains_key(&d.addr),
                Forward::Tunnel => {
                    d.tunnel.kind == TunType::Ipip && host.tunnels.contains_key(&d.addr)
                }
                Forward::Masq | Forward::Local => false,
            };
            reached && same && matches!(s.key, ServiceKey::Addr { .. })
        }
    }
}

/// The static weights of the members of `fam` (0 for non-members).
pub fn static_weights(s: &Service, members: &[bool]) -> Vec<u32> {
    s.dests
        .iter()
        .zip(members)
        .map(|(d, m)| if *m { d.weight } else { 0 })
        .collect()
}

fn service_match(s: &Service) -> String {
    match s.key {
        ServiceKey::Addr { proto, addr, port } => {
            let fam = fam_word(addr.is_ipv6());
            if port == 0 {
                format!("{fam} daddr {addr} meta l4proto {}", proto.name())
            } else {
                format!("{fam} daddr {addr} {} dport {port}", proto.name())
            }
        }
        ServiceKey::Fwmark { mark, ipv6 } => {
            format!(
                "meta nfproto {} meta mark {mark:#x}",
                if ipv6 { "ipv6" } else { "ipv4" }
            )
        }
    }
}

fn saddr_masked(s: &Service) -> String {
    let fam = fam_word(s.key.is_ipv6());
    if s.netmask.is_default() {
        return format!("{fam} saddr");
    }
    match s.netmask {
        Netmask::V4(m) => format!("{fam} saddr & {m}"),
        Netmask::Prefix(p) => {
            let bits: u128 = if p >= 128 {
                u128::MAX
            } else {
                !(u128::MAX >> p)
            };
            format!("{fam} saddr & {}", std::net::Ipv6Addr::from(bits))
        }
    }
}

fn addr_type(ipv6: bool) -> &'static str {
    if ipv6 {
        "ipv6_addr"
    } else {
        "ipv4_addr"
    }
}

fn counter_decl(out: &mut String, name: &str, packets: u64, bytes: u64) {
    let _ = writeln!(
        out,
        "  counter {name} {{\n    packets {packets} bytes {bytes}\n  }}"
    );
}

fn set_decl(out: &mut String, fam: Family, name: &str, ty: &str, timeout: u32, host: &Host) {
    let _ = write!(
        out,
        "  set {name} {{\n    type {ty}\n    flags dynamic,timeout\n    timeout {}s\n",
        timeout.max(1)
    );
    if let Some((kept_ty, elems)) = host.keep.get(&format!("{}/{name}", fam.name())) {
        if kept_ty == ty && !elems.is_empty() {
            let _ = writeln!(out, "    elements = {{ {} }}", elems.join(", "));
        }
    }
    out.push_str("  }\n");
}

/// The seed of every `jhash` the plane writes. Without one, nftables draws a random seed each time a rule is
/// created, so every store (even of another service) would move the clients of `sh`, `dh` and `mh` to other
/// real servers, and two directors would never agree: with a fixed seed, the same table on any director
/// sends the same client to the same real server, as IPVS's hashing schedulers do.
pub const JHASH_SEED: u32 = 0x6675_6c63;

fn vmap(key: &str, slots: &[Option<usize>], chains: &[String]) -> Option<String> {
    let entries: Vec<String> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            s.and_then(|d| chains.get(d))
                .map(|c| format!("{i} : jump {c}"))
        })
        .collect();
    if entries.is_empty() {
        return None;
    }
    let seed = if key.starts_with("jhash ") {
        format!(" seed {JHASH_SEED:#x}")
    } else {
        String::new()
    };
    Some(format!(
        "{key} mod {}{seed} vmap {{ {} }}",
        slots.len(),
        entries.join(", ")
    ))
}

/// A real server's Maglev name: FNV-1a over its address and port (stable across processes and directors).
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

/// The new-connection target chain of real server `did` of service `sid` in `fam`.
fn target_chain(fam: Family, sid: u32, did: u32) -> String {
    match fam {
        Family::Inet => format!("r{sid}_{did}"),
        Family::Netdev => format!("n{sid}_{did}"),
    }
}

/// The rules of scheduling chain `s<id>` of `fam`: persistence lookups for the members, then the
/// scheduler's verdict map over `weights` (0 = no new connections). The controller replaces exactly these.
pub fn sched_rules(s: &Service, fam: Family, members: &[bool], weights: &[u32]) -> Vec<String> {
    let sid = s.id;
    let mut rules = Vec::new();
    let targets: Vec<String> = s
        .dests
        .iter()
        .map(|d| target_chain(fam, sid, d.id))
        .collect();
    if s.flags.persistent {
        let masked = saddr_masked(s);
        for ((d, t), m) in s.dests.iter().zip(&targets).zip(members) {
            if *m {
                rules.push(format!("{masked} @s{sid}_p{} jump {t}", d.id));
            }
        }
    }
    // The hashing schedulers' tables are built from the configured weights, so that a server the
    // controller finds over its upper threshold (weight 0 in `weights`) keeps its slots: its clients are
    // refused (no map entry), or with sh-fallback / mh-fallback sent to the next slot's available
    // server ([`fallback_slot`]), as the XDP program does; the other clients stay where they are.
    let configured = static_weights(s, members);
    let eligible: Vec<DestState> = s
        .dests
        .iter()
        .zip(&configured)
        .map(|(d, w)| DestState::with_id(u64::from(d.id) + 1, *w))
        .collect();
    let fallback = s.flags.sched1 && matches!(s.scheduler.as_str(), "sh" | "mh");
    let served = |slots: &[Option<usize>]| -> Vec<Option<usize>> {
        let up = |d: usize| weights.get(d).is_some_and(|w| *w > 0);
        (0..slots.len())
            .map(|i| match slots[i] {
                Some(d) if up(d) => Some(d),
                Some(_) if fallback => fallback_slot(slots, i, up).and_then(|j| slots[j]),
                _ => None,
            })
            .collect()
    };
    let ipv6 = s.key.is_ipv6();
    let (saddr, daddr) = (
        format!("{} saddr", fam_word(ipv6)),
        format!("{} daddr", fam_word(ipv6)),
    );
    let src_key = match (s.flags.sched2, s.key.protocol()) {
        (true, Some(p)) if p != Protocol::Sctp => format!("{saddr} . {} sport", p.name()),
        _ => saddr.clone(),
    };
    let rule = match s.scheduler.as_str() {
        "sh" | "dh" => {
            let t = HashTable::build_with(&eligible, fulcrum_balance::lvs::HASH_TABLE_SIZE, false);
            let key = if s.scheduler == "sh" { src_key } else { daddr };
            vmap(&format!("jhash {key}"), &served(t.buckets()), &targets)
        }
        "mh" => {
            // Named by address and port, not by the order servers were added in: directors that list the
            // same servers in any order build the same table (Maglev's backend names).
            let ids: Vec<u64> = s
                .dests
                .iter()
                .map(|d| maglev_name(d.addr, d.port))
                .collect();
            Maglev::build(&ids, &configured, NFT_MAGLEV_SIZE)
                .ok()
                .and_then(|t| vmap(&format!("jhash {src_key}"), &served(t.table()), &targets))
        }
        "fo" | "ovf" => {
            let best = weights.iter().enumerate().filter(|(_, w)| **w > 0).fold(
                None::<(usize, u32)>,
                |b, (i, &w)| match b {
                    Some((_, bw)) if bw >= w => b,
                    _ => Some((i, w)),
                },
            );
            best.map(|(i, _)| format!("jump {}", targets[i]))
        }
        "rr" => {
            let slots: Vec<Option<usize>> = (0..weights.len())
                .filter(|&i| weights[i] > 0)
                .map(Some)
                .collect();
            vmap("numgen inc", &slots, &targets)
        }
        _ => {
            let slots: Vec<Option<usize>> = wrr_sequence(weights, MAX_WRR_SLOTS)
                .into_iter()
                .map(Some)
                .collect();
            vmap("numgen inc", &slots, &targets)
        }
    };
    rules.extend(rule);
    rules
}

/// The key identifying a direct-routed flow (`saddr . sport . dport`) and its set type.
fn flow_key(s: &Service) -> (String, String) {
    let ipv6 = s.key.is_ipv6();
    let p = s.key.protocol().unwrap_or(Protocol::Tcp).name();
    (
        format!("{} saddr . {p} sport . {p} dport", fam_word(ipv6)),
        format!("{} . inet_service . inet_service", addr_type(ipv6)),
    )
}

fn ct_timeouts(out: &mut String, table: &Table) {
    let t = &table.timeouts;
    for (l3, suffix) in [("ip", "4"), ("ip6", "6")] {
        let _ = writeln!(
            out,
            "  ct timeout to_tcp{suffix} {{\n    protocol tcp; l3proto {l3}\n    \
             policy = {{ established: {}, fin_wait: {} }}\n  }}",
            t.tcp.max(1),
            t.tcpfin.max(1)
        );
        let _ = writeln!(
            out,
            "  ct timeout to_udp{suffix} {{\n    protocol udp; l3proto {l3}\n    \
             policy = {{ unreplied: {}, replied: {} }}\n  }}",
            t.udp.max(1),
            t.udp.max(1)
        );
    }
}

/// Renders the whole table as an `nft -f` script that atomically replaces `inet fulcrum_lvs` and
/// `netdev fulcrum_lvs`.
pub fn render(table: &Table, host: &Host) -> Result<String, PlaneError> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "table inet {TABLE}\ndelete table inet {TABLE}\ntable netdev {TABLE}\ndelete table netdev {TABLE}\ntable inet {TABLE} {{"
    );
    let mut in_map: Vec<(u32, String)> = Vec::new();
    let mut out_map: Vec<(u32, String)> = Vec::new();
    let mut svc_in_map: Vec<(u32, String)> = Vec::new();
    let mut svc_out_map: Vec<(u32, String)> = Vec::new();
    let mut chains = String::new();
    let mut hooks = String::new();
    let mut raw = String::new();
    let mut nd = String::new();
    let mut nd_chains = String::new();
    let mut nd_hooks = String::new();
    ct_timeouts(&mut out, table);
    for s in &table.services {
        let _span = tracing::debug_span!("virtual_service", service = %s.key).entered();
        if s.id > 0xfff || s.dests.iter().any(|d| d.id > 0xfff) {
            return Err(PlaneError::Unsupported(
                "more than 4096 services or real servers".into(),
            ));
        }
        let sid = s.id;
        let ipv6 = s.key.is_ipv6();
        let st = &s.observed.stats;
        counter_decl(&mut out, &format!("s{sid}_in"), st.inpkts, st.inbytes);
        counter_decl(&mut out, &format!("s{sid}_out"), st.outpkts, st.outbytes);
        counter_decl(&mut out, &format!("s{sid}_conn"), st.conns, 0);
        let smatch = service_match(s);
        let _ = writeln!(hooks, "    {smatch} jump s{sid}");
        let fam_n = if ipv6 { 6 } else { 4 };
        match s.key.protocol() {
            Some(Protocol::Sctp) => {}
            Some(p) => {
                let _ = writeln!(
                    raw,
                    "    {smatch} ct timeout set \"to_{}{fam_n}\"",
                    p.name()
                );
            }
            None => {
                for p in ["tcp", "udp"] {
                    let _ = writeln!(
                        raw,
                        "    {smatch} meta l4proto {p} ct timeout set \"to_{p}{fam_n}\""
                    );
                }
            }
        }
        let masked = saddr_masked(s);
        let inet_members: Vec<bool> = s
            .dests
            .iter()
            .map(|d| member(s, d, Family::Inet, host))
            .collect();
        for d in &s.dests {
            let did = d.id;
            let ds = &d.observed.stats;
            counter_decl(&mut out, &format!("r{sid}_{did}_in"), ds.inpkts, ds.inbytes);
            counter_decl(
                &mut out,
                &format!("r{sid}_{did}_out"),
                ds.outpkts,
                ds.outbytes,
            );
            counter_decl(&mut out, &format!("r{sid}_{did}_conn"), ds.conns, 0);
            let m = mark(sid, did);
            in_map.push((m, format!("r{sid}_{did}_in")));
            out_map.push((m, format!("r{sid}_{did}_out")));
            svc_in_map.push((m, format!("s{sid}_in")));
            svc_out_map.push((m, format!("s{sid}_out")));
            if s.flags.persistent {
                set_decl(
                    &mut out,
                    Family::Inet,
                    &format!("s{sid}_p{did}"),
                    addr_type(ipv6),
                    s.timeout,
                    host,
                );
            }
        }
        let _ = writeln!(chains, "  chain s{sid} {{");
        let weights = static_weights(s, &inet_members);
        for r in sched_rules(s, Family::Inet, &inet_members, &weights) {
            let _ = writeln!(chains, "    {r}");
        }
        let _ = writeln!(chains, "  }}");
        for d in &s.dests {
            let chain = format!("r{sid}_{}", d.id);
            let _ = writeln!(chains, "  chain {chain} {{");
            if s.flags.persistent {
                let _ = writeln!(chains, "    update @s{sid}_p{} {{ {masked} }}", d.id);
            }
            let m = mark(sid, d.id);
            let target = match (d.addr, d.port) {
                (IpAddr::V6(a), 0) => format!("ip6 to {a}"),
                (IpAddr::V6(a), p) => format!("ip6 to [{a}]:{p}"),
                (a, 0) => format!("ip to {a}"),
                (a, p) => format!("ip to {a}:{p}"),
            };
            let l4 = match s.key.protocol() {
                _ if d.port == 0 => String::new(),
                Some(p) => format!("meta l4proto {} ", p.name()),
                None => "meta l4proto { tcp, udp, sctp } ".to_string(),
            };
            let _ = writeln!(
                chains,
                "    ct mark set {m:#x} counter name \"r{sid}_{}_conn\" counter name \"s{sid}_conn\"",
                d.id
            );
            if d.forward == Forward::Masq && (d.addr.is_ipv6() == ipv6) {
                let _ = writeln!(chains, "    {l4}dnat {target}");
            }
            let _ = writeln!(chains, "  }}");
        }
        render_netdev(s, table, host, &mut nd, &mut nd_chains, &mut nd_hooks);
    }
    for (name, entries) in [
        ("ct_in", &in_map),
        ("ct_out", &out_map),
        ("svc_in", &svc_in_map),
        ("svc_out", &svc_out_map),
    ] {
        let _ = write!(out, "  map {name} {{\n    type mark : counter\n");
        if !entries.is_empty() {
            let e: Vec<String> = entries
                .iter()
                .map(|(m, c)| format!("{m:#x} : \"{c}\""))
                .collect();
            let _ = writeln!(out, "    elements = {{ {} }}", e.join(", "));
        }
        let _ = writeln!(out, "  }}");
    }
    let _ = writeln!(out, "  chain model {{");
    for r in record::encode(table) {
        if r.len() >= 128 || r.contains('"') {
            return Err(PlaneError::Unsupported(format!(
                "record too long for an nft comment: {r}"
            )));
        }
        let _ = writeln!(out, "    counter comment \"{r}\"");
    }
    let _ = writeln!(out, "  }}");
    out.push_str(&chains);
    let _ = writeln!(
        out,
        "  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n{hooks}  }}"
    );
    let _ = writeln!(
        out,
        "  chain output {{\n    type nat hook output priority -100; policy accept;\n{hooks}  }}"
    );
    // After conntrack (-200) created the entry and the usual mangle marks (-150), before NAT (-100)
    // and before the entry is confirmed: where a timeout policy can still be attached.
    let _ = writeln!(
        out,
        "  chain timeouts_prerouting {{\n    type filter hook prerouting priority -140; policy accept;\n{raw}  }}"
    );
    let _ = writeln!(
        out,
        "  chain timeouts_output {{\n    type filter hook output priority -140; policy accept;\n{raw}  }}"
    );
    let _ = writeln!(
        out,
        "  chain counters {{\n    type filter hook forward priority -150; policy accept;\n    \
         ct direction original counter name ct mark map @ct_in\n    \
         ct direction reply counter name ct mark map @ct_out\n    \
         ct direction original counter name ct mark map @svc_in\n    \
         ct direction reply counter name ct mark map @svc_out\n  }}"
    );
    out.push_str("}\n");
    if !nd_hooks.is_empty() && !host.ingress.is_empty() {
        let devices: Vec<String> = host.ingress.iter().map(|d| format!("\"{d}\"")).collect();
        let _ = writeln!(out, "table netdev {TABLE} {{\n{nd}{nd_chains}  chain ingress {{\n    type filter hook ingress devices = {{ {} }} priority -150; policy accept;\n{nd_hooks}  }}\n}}", devices.join(", "));
    }
    Ok(out)
}

/// True for the schedulers whose pick depends only on the packet and the table (`sh`, `dh`, `mh`): with them an
/// unknown TCP flow is scheduled on any packet, not only on a SYN, as IPVS does with `net.ipv4.vs.sloppy_tcp=1`.
/// A flow that an ECMP router moves to another director in the middle of its life (the director it used died or
/// withdrew) then reaches the same real server there, which holds its TCP state, instead of being dropped.
/// The other schedulers would pick a server that knows nothing of the flow, so they keep waiting for a SYN.
pub fn picks_by_packet(scheduler: &str) -> bool {
    matches!(scheduler, "sh" | "dh" | "mh")
}

/// The direct-routing part of service `s`: counters, flow sets, and the chains
/// `v<s>` (known flows), `s<s>` (scheduling), `n<s>_<d>` (new flow), `e<s>_<d>` (established),
/// `x<s>_<d>` (forward).
fn render_netdev(
    s: &Service,
    table: &Table,
    host: &Host,
    decl: &mut String,
    chains: &mut String,
    hooks: &mut String,
) {
    let members: Vec<bool> = s
        .dests
        .iter()
        .map(|d| member(s, d, Family::Netdev, host))
        .collect();
    if !members.iter().any(|m| *m) {
        return;
    }
    let sid = s.id;
    let ipv6 = s.key.is_ipv6();
    let fam = fam_word(ipv6);
    let tcp = s.key.protocol() == Some(Protocol::Tcp);
    let (key, key_type) = flow_key(s);
    let flow_timeout = if tcp {
        table.timeouts.tcp
    } else {
        table.timeouts.udp
    };
    counter_decl(decl, &format!("s{sid}_in"), 0, 0);
    counter_decl(decl, &format!("s{sid}_conn"), 0, 0);
    let _ = writeln!(hooks, "    {} jump v{sid}", service_match(s));
    let _ = writeln!(chains, "  chain v{sid} {{");
    for (d, _) in s.dests.iter().zip(&members).filter(|(_, m)| **m) {
        let did = d.id;
        let _ = writeln!(chains, "    {key} @s{sid}_f{did} jump e{sid}_{did}");
        if tcp {
            let _ = writeln!(chains, "    {key} @s{sid}_x{did} jump x{sid}_{did}");
        }
    }
    if tcp && !picks_by_packet(&s.scheduler) {
        // Only a SYN opens a flow (as IPVS schedules TCP); other unknown packets go on to the stack.
        let _ = writeln!(chains, "    tcp flags & (syn | ack) != syn return");
    }
    let _ = writeln!(chains, "    jump s{sid}\n  }}");
    let weights = static_weights(s, &members);
    let _ = writeln!(chains, "  chain s{sid} {{");
    for r in sched_rules(s, Family::Netdev, &members, &weights) {
        let _ = writeln!(chains, "    {r}");
    }
    let _ = writeln!(chains, "  }}");
    let masked = saddr_masked(s);
    for (d, _) in s.dests.iter().zip(&members).filter(|(_, m)| **m) {
        let did = d.id;
        let dev = host.onlink.get(&d.addr).map_or("lo", String::as_str);
        counter_decl(decl, &format!("r{sid}_{did}_in"), 0, 0);
        counter_decl(decl, &format!("r{sid}_{did}_conn"), 0, 0);
        set_decl(
            decl,
            Family::Netdev,
            &format!("s{sid}_f{did}"),
            &key_type,
            flow_timeout,
            host,
        );
        if tcp {
            set_decl(
                decl,
                Family::Netdev,
                &format!("s{sid}_x{did}"),
                &key_type,
                table.timeouts.tcpfin,
                host,
            );
        }
        if s.flags.persistent {
            set_decl(
                decl,
                Family::Netdev,
                &format!("s{sid}_p{did}"),
                addr_type(ipv6),
                s.timeout,
                host,
            );
        }
        let _ = writeln!(chains, "  chain n{sid}_{did} {{");
        let _ = writeln!(chains, "    add @s{sid}_f{did} {{ {key} }}");
        if s.flags.persistent {
            let _ = writeln!(chains, "    update @s{sid}_p{did} {{ {masked} }}");
        }
        let _ = writeln!(
            chains,
            "    counter name \"r{sid}_{did}_conn\" counter name \"s{sid}_conn\"\n    goto x{sid}_{did}\n  }}"
        );
        let _ = writeln!(chains, "  chain e{sid}_{did} {{");
        if tcp {
            let _ = writeln!(
                chains,
                "    tcp flags & (fin | rst) != 0 delete @s{sid}_f{did} {{ {key} }} add @s{sid}_x{did} {{ {key} }} goto x{sid}_{did}"
            );
        }
        let _ = writeln!(
            chains,
            "    update @s{sid}_f{did} {{ {key} }}\n    goto x{sid}_{did}\n  }}"
        );
        let forward = match host.tunnels.get(&d.addr) {
            Some(t) if d.forward == Forward::Tunnel => format!(
                "meta mark set {:#x} fwd {fam} to {} device \"{}\" comment \"{TUN_PREFIX}{}\"",
                tun_mark(sid, did),
                t.nexthop,
                t.dev,
                t.dev
            ),
            _ => format!("fwd {fam} to {} device \"{dev}\"", d.addr),
        };
        let _ = writeln!(
            chains,
            "  chain x{sid}_{did} {{\n    counter name \"r{sid}_{did}_in\" counter name \"s{sid}_in\"\n    {forward}\n  }}"
        );
    }
}

/// A short stable digest of effective weights (the controller's marker).
pub fn weights_digest(weights: &[u32]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in weights {
        for b in w.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The script that replaces scheduling chain `s<id>` of `fam` with the schedule over `weights`,
/// marked with the weights' digest. Persistence sets, flow sets and counters stay untouched.
pub fn sched_update(s: &Service, fam: Family, members: &[bool], weights: &[u32]) -> String {
    let sid = s.id;
    let f = fam.name();
    let mut out = format!("flush chain {f} {TABLE} s{sid}\n");
    let _ = writeln!(
        out,
        "add rule {f} {TABLE} s{sid} continue comment \"{CTL_PREFIX}{}\"",
        weights_digest(weights)
    );
    for r in sched_rules(s, fam, members, weights) {
        let _ = writeln!(out, "add rule {f} {TABLE} s{sid} {r}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DestSpec, ServiceFlags, ServiceSpec, Tunnel};

    fn table(forward: Forward) -> Table {
        let mut t = Table::new();
        let key = ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: IpAddr::from([198, 19, 0, 100]),
            port: 80,
        };
        let spec = ServiceSpec {
            key,
            scheduler: "rr".into(),
            flags: ServiceFlags::default(),
            timeout: 0,
            netmask: Netmask::default_for(false),
            pe: None,
        };
        assert!(t.add_service(spec).is_ok());
        for last in [2u8, 3] {
            let d = DestSpec {
                addr: IpAddr::from([198, 18, 1, last]),
                port: 80,
                forward,
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
                tunnel: Tunnel::default(),
            };
            assert!(t.add_dest(&key, d).is_ok());
        }
        t
    }

    #[test]
    fn marks_round_trip() {
        assert_eq!(mark_ids(mark(5, 7)), Some((5, 7)));
        assert_eq!(mark_ids(0), None);
        assert_eq!(mark(0, 0), 0x4c00_0000);
    }

    #[test]
    fn direct_routing_renders_ingress_flow_tables() {
        let t = table(Forward::Route);
        let mut host = Host {
            ingress: vec!["d0".into()],
            ..Host::default()
        };
        let script = render(&t, &host).unwrap_or_default();
        assert!(!script.contains("table netdev fulcrum_lvs {"), "{script}");
        host.onlink
            .insert(IpAddr::from([198, 18, 1, 2]), "br0".into());
        host.keep.insert(
            "netdev/s0_f0".into(),
            (
                "ipv4_addr . inet_service . inet_service".into(),
                vec!["198.18.0.2 . 40000 . 80 timeout 900s expires 800s".into()],
            ),
        );
        let script = render(&t, &host).unwrap_or_default();
        assert!(script.contains("devices = { \"d0\" }"), "{script}");
        assert!(
            script.contains("fwd ip to 198.18.1.2 device \"br0\""),
            "{script}"
        );
        assert!(
            script.contains("elements = { 198.18.0.2 . 40000 . 80 timeout 900s expires 800s }"),
            "{script}"
        );
        // 198.18.1.3 is not on a connected segment: not a member.
        assert!(!script.contains("chain n0_1"), "{script}");
        assert!(script.contains("numgen inc mod 1 vmap { 0 : jump n0_0 }"));
    }

    /// The verdict map's `slot : jump chain` entries of a rendered scheduling rule.
    fn vmap_entries(rule: &str) -> Vec<(usize, String)> {
        let inner = rule
            .split_once("vmap { ")
            .and_then(|(_, r)| r.strip_suffix(" }"))
            .unwrap_or_default();
        inner
            .split(", ")
            .filter_map(|e| e.split_once(" : jump "))
            .map(|(k, c)| (k.parse().unwrap_or(usize::MAX), c.to_string()))
            .collect()
    }

    #[test]
    fn hashing_over_threshold_refuses_or_falls_back_along_the_table() {
        for sched in ["sh", "mh"] {
            let mut t = table(Forward::Masq);
            t.services[0].scheduler = sched.into();
            let s = &t.services[0];
            let members = [true, true];
            let all = sched_rules(s, Family::Inet, &members, &[1, 1]);
            let all = vmap_entries(&all[0]);
            let size = if sched == "sh" { 256 } else { NFT_MAGLEV_SIZE };
            assert_eq!(all.len(), size, "{sched}");
            // server 0 over its threshold (the controller's weight 0): its slots have no entry, the
            // other clients keep their server
            let over = sched_rules(s, Family::Inet, &members, &[0, 1]);
            let over = vmap_entries(&over[0]);
            let of = |v: &[(usize, String)], c: &str| v.iter().filter(|e| e.1 == c).count();
            assert_eq!(over.len(), of(&all, "r0_1"), "{sched}");
            assert!(over.iter().all(|e| all.contains(e)), "{sched}");
            // sh-fallback / mh-fallback: every slot is served, server 0's by the next slot's server
            t.services[0].flags.sched1 = true;
            let s = &t.services[0];
            let fb = sched_rules(s, Family::Inet, &members, &[0, 1]);
            let fb = vmap_entries(&fb[0]);
            assert_eq!((fb.len(), of(&fb, "r0_1")), (size, size), "{sched}");
            // with both available the flag changes nothing
            let same = sched_rules(s, Family::Inet, &members, &[1, 1]);
            assert_eq!(vmap_entries(&same[0]), all, "{sched}");
        }
    }

    #[test]
    fn hashing_schedulers_take_unknown_flows_on_any_packet() {
        let mut t = table(Forward::Route);
        let mut host = Host {
            ingress: vec!["d0".into()],
            ..Host::default()
        };
        for last in [2u8, 3] {
            host.onlink
                .insert(IpAddr::from([198, 18, 1, last]), "br0".into());
        }
        const SYN_ONLY: &str = "tcp flags & (syn | ack) != syn return";
        for (sched, syn_only) in [
            ("rr", true),
            ("wlc", true),
            ("sh", false),
            ("dh", false),
            ("mh", false),
        ] {
            t.services[0].scheduler = sched.into();
            let script = render(&t, &host).unwrap_or_default();
            assert!(script.contains("chain v0 {"), "{sched}: {script}");
            assert_eq!(script.contains(SYN_ONLY), syn_only, "{sched}: {script}");
        }
    }

    #[test]
    fn tunnel_servers_are_marked_and_sent_to_the_next_hop() {
        let mut t = table(Forward::Tunnel);
        let mut host = Host {
            ingress: vec!["d0".into()],
            ..Host::default()
        };
        let gw = IpAddr::from([198, 18, 9, 1]);
        for last in [2u8, 3] {
            host.tunnels.insert(
                IpAddr::from([198, 18, 1, last]),
                TunnelRoute {
                    dev: "eth1".into(),
                    nexthop: gw,
                    src: IpAddr::from([198, 18, 9, 2]),
                },
            );
        }
        // A gue server is stored but not forwarded.
        t.services[0].dests[1].tunnel.kind = TunType::Gue;
        let script = render(&t, &host).unwrap_or_default();
        assert!(
            script.contains(
                "meta mark set 0x4d000000 fwd ip to 198.18.9.1 device \"eth1\" comment \"tun:eth1\""
            ),
            "{script}"
        );
        assert!(!script.contains("chain x0_1"), "{script}");
        let encaps = tunnel_encaps(&t, &host);
        assert_eq!(
            encaps.get("eth1").map(Vec::as_slice),
            Some(
                &[Encap {
                    mark: 0x4d00_0000,
                    src: IpAddr::from([198, 18, 9, 2]),
                    dst: IpAddr::from([198, 18, 1, 2]),
                }][..]
            )
        );
    }

    #[test]
    fn controller_update_replaces_only_the_scheduling_chain() {
        let t = table(Forward::Masq);
        let s = &t.services[0];
        let u = sched_update(s, Family::Inet, &[true, true], &[0, 1]);
        assert!(u.starts_with("flush chain inet fulcrum_lvs s0\n"), "{u}");
        assert!(u.contains(&weights_digest(&[0, 1])));
        assert!(u.contains("numgen inc mod 1 vmap { 0 : jump r0_1 }"), "{u}");
        assert_ne!(weights_digest(&[0, 1]), weights_digest(&[1, 0]));
    }
}
