//! The nftables data plane.
//!
//! # Why `nft -f` text in and `nft -j` JSON out
//! The table is written by piping a generated script into `nft -f -` and read back with
//! `nft -j list table inet fulcrum_lvs`. The nft text language is nftables' documented, stable
//! interface; one `nft -f` run is one kernel transaction, so a store replaces the whole table
//! atomically (traffic never sees half a table). Reading JSON gives counters, set elements and rule
//! comments without parsing the text form. A netlink implementation would avoid spawning `nft`, but no
//! well-kept nftables netlink crate was available and the expression encoding is large; a CLI run spawns
//! `nft` twice, which is fast enough for an administrative command.
//!
//! # Layout of table `inet fulcrum_lvs`
//! - chain `model`: one rule per table record ([`crate::record`]) in its comment, so that `-L`/`-S` in a
//!   fresh process read back exactly the configured table.
//! - chains `prerouting` (nat, dstnat) and `output` (nat, for clients on the director): one rule per
//!   service matching `ip daddr VIP tcp dport PORT` (or `meta mark M` for fwmark services) jumping to
//!   the service chain `sN`.
//! - chain `sN`: persistence lookups (`ip saddr & MASK @sN_pD jump rN_D`, one dynamic set with timeouts
//!   per real server), then the scheduling verdict map:
//!   `numgen inc mod K vmap` over the wrr cycle for rr/wrr (weights by repeated entries),
//!   `jhash ip saddr mod 256 vmap` over the sh bucket table, `jhash ip daddr` for dh, and
//!   `jhash ip saddr mod 4093 vmap` over a precomputed Maglev table for mh. Weight-0 servers are left
//!   out of the maps (no new connections) but keep their persistence entries and existing connections.
//! - chain `rN_D`: refreshes the persistence set, sets the conntrack mark (`0x4c` << 24 | service id << 12 |
//!   server id), counts the connection, and DNATs to the real server. Conntrack reverses the replies.
//! - chain `counters` (filter, forward): `counter name ct mark map @...` counts packets and bytes per
//!   direction for every real server and service.
//!
//! ActiveConn/InActConn and `-c` come from conntrack entries carrying the mark.
//!
//! # Limits, honestly
//! - NAT (`-m`) is forwarded. Direct routing (`-g`) and tunnel (`-i`) servers are stored and listed,
//!   but this data plane does not forward to them yet (netdev-ingress `fwd` and IPIP are planned).
//! - lc, wlc, sed, nq, lblc and lblcr are rendered as weighted round robin by static weight; fo and
//!   ovf send to the highest-weight server. Re-weighting them from live conntrack counts needs a
//!   controller loop, which does not exist yet. Thresholds (`-x`/`-y`) are stored, not enforced.
//! - A store re-creates the table: counters carry over (read just before), persistence entries restart.
//! - `--rate` prints zeros (no rate estimator); `--set` timeouts are stored and listed only.

use super::{conntrack, DataPlane, PlaneError};
use crate::format::ConnEntry;
use crate::model::{Forward, Netmask, Service, ServiceKey, Stats, Table};
use crate::record;
use fulcrum_balance::lvs::{wrr_sequence, DestState, HashTable, Maglev};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};

/// The nftables table name.
pub const TABLE: &str = "fulcrum_lvs";
/// The high byte of conntrack marks set by this data plane.
pub const MARK_TAG: u32 = 0x4c;
/// Maglev table size used in nft maps (prime; > 100 x servers for up to 40 servers).
pub const NFT_MAGLEV_SIZE: usize = 4093;
/// Longest wrr cycle rendered into a numgen map.
pub const MAX_WRR_SLOTS: usize = 1024;

/// The conntrack mark of real server `dest` of service `svc`.
pub fn mark(svc: u32, dest: u32) -> u32 {
    MARK_TAG << 24 | (svc & 0xfff) << 12 | (dest & 0xfff)
}

fn mark_ids(m: u32) -> Option<(u32, u32)> {
    (m >> 24 == MARK_TAG).then_some(((m >> 12) & 0xfff, m & 0xfff))
}

/// The nftables data plane (see the module documentation).
#[derive(Debug, Default, Clone)]
pub struct NftPlane {
    /// The `nft` program (default `nft`).
    pub nft: Option<String>,
}

impl NftPlane {
    fn program(&self) -> &str {
        self.nft.as_deref().unwrap_or("nft")
    }

    fn run(&self, args: &[&str], input: Option<&str>) -> Result<String, PlaneError> {
        let prog = self.program();
        let mut cmd = Command::new(prog);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().map_err(|source| PlaneError::Spawn {
            program: prog.to_string(),
            source,
        })?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(text.as_bytes())
                .map_err(|source| PlaneError::Spawn {
                    program: prog.to_string(),
                    source,
                })?;
        }
        let out = child
            .wait_with_output()
            .map_err(|source| PlaneError::Spawn {
                program: prog.to_string(),
                source,
            })?;
        if !out.status.success() {
            return Err(PlaneError::Command {
                program: prog.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl DataPlane for NftPlane {
    fn load(&mut self) -> Result<Table, PlaneError> {
        let json = match self.run(&["-j", "list", "table", "inet", TABLE], None) {
            Ok(j) => j,
            Err(PlaneError::Command { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                return Ok(Table::new())
            }
            Err(e) => return Err(e),
        };
        let mut table = readback(&json)?;
        if let Some(text) = conntrack::read() {
            apply_connections(
                &mut table,
                &conntrack::parse(&text, |m| mark_ids(m).is_some()),
            );
        }
        Ok(table)
    }

    fn store(&mut self, table: &Table) -> Result<(), PlaneError> {
        let script = render(table)?;
        self.run(&["-f", "-"], Some(&script)).map(|_| ())
    }

    fn connections(&mut self) -> Result<Vec<ConnEntry>, PlaneError> {
        let Some(text) = conntrack::read() else {
            return Ok(Vec::new());
        };
        Ok(conntrack::parse(&text, |m| mark_ids(m).is_some())
            .into_iter()
            .map(|t| t.entry)
            .collect())
    }
}

/// Counts active (TCP established) and inactive connections per real server.
pub fn apply_connections(table: &mut Table, tracked: &[conntrack::Tracked]) {
    for t in tracked {
        let Some((sid, did)) = mark_ids(t.mark) else {
            continue;
        };
        let Some(s) = table.services.iter_mut().find(|s| s.id == sid) else {
            continue;
        };
        let Some(d) = s.dests.iter_mut().find(|d| d.id == did) else {
            continue;
        };
        if t.entry.state == "ESTABLISHED" {
            d.observed.active += 1;
        } else {
            d.observed.inactive += 1;
        }
    }
}

fn family(addr: &IpAddr) -> &'static str {
    if addr.is_ipv6() {
        "ip6"
    } else {
        "ip"
    }
}

fn service_match(s: &Service) -> String {
    match s.key {
        ServiceKey::Addr { proto, addr, port } => {
            let fam = family(&addr);
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
    let ipv6 = s.key.is_ipv6();
    let fam = if ipv6 { "ip6" } else { "ip" };
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

fn counter_decl(out: &mut String, name: &str, packets: u64, bytes: u64) {
    let _ = writeln!(
        out,
        "  counter {name} {{\n    packets {packets} bytes {bytes}\n  }}"
    );
}

fn vmap(out: &mut String, key: &str, slots: &[Option<usize>], chains: &[String]) {
    let entries: Vec<String> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            s.and_then(|d| chains.get(d))
                .map(|c| format!("{i} : jump {c}"))
        })
        .collect();
    if entries.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "    {key} mod {} vmap {{ {} }}",
        slots.len(),
        entries.join(", ")
    );
}

/// Renders the whole table as an `nft -f` script that atomically replaces `inet fulcrum_lvs`.
pub fn render(table: &Table) -> Result<String, PlaneError> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{"
    );
    let mut in_map: Vec<(u32, String)> = Vec::new();
    let mut out_map: Vec<(u32, String)> = Vec::new();
    let mut svc_in_map: Vec<(u32, String)> = Vec::new();
    let mut svc_out_map: Vec<(u32, String)> = Vec::new();
    let mut chains = String::new();
    let mut hooks = String::new();
    for s in &table.services {
        let _span = tracing::debug_span!("virtual_service", service = %s.key).entered();
        if s.id > 0xfff || s.dests.iter().any(|d| d.id > 0xfff) {
            return Err(PlaneError::Unsupported(
                "more than 4096 services or real servers".into(),
            ));
        }
        let sid = s.id;
        let st = &s.observed.stats;
        counter_decl(&mut out, &format!("s{sid}_in"), st.inpkts, st.inbytes);
        counter_decl(&mut out, &format!("s{sid}_out"), st.outpkts, st.outbytes);
        counter_decl(&mut out, &format!("s{sid}_conn"), st.conns, 0);
        let _ = writeln!(hooks, "    {} jump s{sid}", service_match(s));
        let ipv6 = s.key.is_ipv6();
        let set_type = if ipv6 { "ipv6_addr" } else { "ipv4_addr" };
        let masked = saddr_masked(s);
        let dest_chain: Vec<String> = s.dests.iter().map(|d| format!("r{sid}_{}", d.id)).collect();
        let _ = writeln!(chains, "  chain s{sid} {{");
        for (d, chain) in s.dests.iter().zip(&dest_chain) {
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
                let _ = writeln!(
                    out,
                    "  set s{sid}_p{did} {{\n    type {set_type}\n    flags dynamic,timeout\n    timeout {}s\n  }}",
                    s.timeout.max(1)
                );
                if d.forward == Forward::Masq {
                    let _ = writeln!(chains, "    {masked} @s{sid}_p{did} jump {chain}");
                }
            }
        }
        // Only NAT servers with weight > 0 take new connections in this data plane.
        let eligible: Vec<DestState> = s
            .dests
            .iter()
            .map(|d| {
                DestState::with_id(
                    u64::from(d.id) + 1,
                    if d.forward == Forward::Masq {
                        d.weight
                    } else {
                        0
                    },
                )
            })
            .collect();
        let weights: Vec<u32> = eligible.iter().map(|d| d.weight).collect();
        let (saddr, daddr) = if ipv6 {
            ("ip6 saddr", "ip6 daddr")
        } else {
            ("ip saddr", "ip daddr")
        };
        let src_key = match (s.flags.sched2, s.key.protocol()) {
            (true, Some(p)) if p.name() != "sctp" => format!("{saddr} . {} sport", p.name()),
            _ => saddr.to_string(),
        };
        match s.scheduler.as_str() {
            "sh" | "dh" => {
                let t =
                    HashTable::build_with(&eligible, fulcrum_balance::lvs::HASH_TABLE_SIZE, false);
                let key = if s.scheduler == "sh" {
                    src_key.clone()
                } else {
                    daddr.to_string()
                };
                vmap(
                    &mut chains,
                    &format!("jhash {key}"),
                    t.buckets(),
                    &dest_chain,
                );
            }
            "mh" => {
                let ids: Vec<u64> = eligible.iter().map(|d| d.id).collect();
                if let Ok(t) = Maglev::build(&ids, &weights, NFT_MAGLEV_SIZE) {
                    vmap(
                        &mut chains,
                        &format!("jhash {src_key}"),
                        t.table(),
                        &dest_chain,
                    );
                }
            }
            "fo" | "ovf" => {
                let best = weights.iter().enumerate().filter(|(_, w)| **w > 0).fold(
                    None::<(usize, u32)>,
                    |b, (i, &w)| match b {
                        Some((_, bw)) if bw >= w => b,
                        _ => Some((i, w)),
                    },
                );
                if let Some((i, _)) = best {
                    let _ = writeln!(chains, "    jump {}", dest_chain[i]);
                }
            }
            "rr" => {
                let slots: Vec<Option<usize>> = (0..weights.len())
                    .filter(|&i| weights[i] > 0)
                    .map(Some)
                    .collect();
                vmap(&mut chains, "numgen inc", &slots, &dest_chain);
            }
            _ => {
                let slots: Vec<Option<usize>> = wrr_sequence(&weights, MAX_WRR_SLOTS)
                    .into_iter()
                    .map(Some)
                    .collect();
                vmap(&mut chains, "numgen inc", &slots, &dest_chain);
            }
        }
        let _ = writeln!(chains, "  }}");
        for (d, chain) in s.dests.iter().zip(&dest_chain) {
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
    let _ = writeln!(
        out,
        "  chain counters {{\n    type filter hook forward priority -150; policy accept;\n    \
         ct direction original counter name ct mark map @ct_in\n    \
         ct direction reply counter name ct mark map @ct_out\n    \
         ct direction original counter name ct mark map @svc_in\n    \
         ct direction reply counter name ct mark map @svc_out\n  }}"
    );
    out.push_str("}\n");
    Ok(out)
}

fn counters(items: &[Value]) -> HashMap<String, (u64, u64)> {
    let mut m = HashMap::new();
    for it in items {
        if let Some(c) = it.get("counter") {
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let p = c.get("packets").and_then(Value::as_u64).unwrap_or(0);
            let b = c.get("bytes").and_then(Value::as_u64).unwrap_or(0);
            m.insert(name, (p, b));
        }
    }
    m
}

/// Rebuilds the table (configuration from the `model` chain's comments, counters and persistence
/// entries from the counters and sets) from `nft -j list table inet fulcrum_lvs` output.
pub fn readback(json: &str) -> Result<Table, PlaneError> {
    let v: Value = serde_json::from_str(json).map_err(|e| PlaneError::Parse(e.to_string()))?;
    let items = v
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| PlaneError::Parse("no \"nftables\" array".into()))?;
    let comments: Vec<&str> = items
        .iter()
        .filter_map(|it| it.get("rule"))
        .filter(|r| r.get("chain").and_then(Value::as_str) == Some("model"))
        .filter_map(|r| r.get("comment").and_then(Value::as_str))
        .collect();
    let mut table = record::decode(comments)?;
    let c = counters(items);
    let get = |n: &str| c.get(n).copied().unwrap_or((0, 0));
    let mut set_sizes: HashMap<String, u32> = HashMap::new();
    for it in items {
        if let Some(s) = it.get("set") {
            let name = s
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let n = s.get("elem").and_then(Value::as_array).map_or(0, Vec::len);
            set_sizes.insert(name, u32::try_from(n).unwrap_or(u32::MAX));
        }
    }
    for s in &mut table.services {
        let sid = s.id;
        let (inp, inb) = get(&format!("s{sid}_in"));
        let (outp, outb) = get(&format!("s{sid}_out"));
        let (conns, _) = get(&format!("s{sid}_conn"));
        s.observed.stats = Stats {
            conns,
            inpkts: inp,
            outpkts: outp,
            inbytes: inb,
            outbytes: outb,
        };
        for d in &mut s.dests {
            let did = d.id;
            let (inp, inb) = get(&format!("r{sid}_{did}_in"));
            let (outp, outb) = get(&format!("r{sid}_{did}_out"));
            let (conns, _) = get(&format!("r{sid}_{did}_conn"));
            d.observed.stats = Stats {
                conns,
                inpkts: inp,
                outpkts: outp,
                inbytes: inb,
                outbytes: outb,
            };
            d.observed.persist = set_sizes
                .get(&format!("s{sid}_p{did}"))
                .copied()
                .unwrap_or(0);
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip() {
        assert_eq!(mark_ids(mark(5, 7)), Some((5, 7)));
        assert_eq!(mark_ids(0), None);
        assert_eq!(mark(0, 0), 0x4c00_0000);
    }

    #[test]
    fn readback_rejects_garbage() {
        assert!(readback("not json").is_err());
        assert!(readback("{}").is_err());
        assert_eq!(readback("{\"nftables\": []}").ok(), Some(Table::new()));
    }
}
