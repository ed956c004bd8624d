//! The nftables data plane.
//!
//! # Why `nft -f` text in and `nft -j` JSON out
//! The table is written by piping a generated script into `nft -f -` and read back with
//! `nft -j list table inet fulcrum_lvs` (and `netdev fulcrum_lvs`). The nft text language is nftables'
//! documented, stable interface; one `nft -f` run is one kernel transaction, so a store replaces the
//! whole table atomically (traffic never sees half a table). Reading JSON gives counters, set elements
//! and rule comments without parsing the text form. A netlink implementation would avoid spawning `nft`,
//! but no well-kept nftables netlink crate was available and the expression encoding is large; a CLI run
//! spawns `nft` a few times, which is fast enough for an administrative command.
//!
//! # Layout of table `inet fulcrum_lvs` (NAT, `-m`)
//! - chain `model`: one rule per table record ([`crate::record`]) in its comment, so that `-L`/`-S` in a
//!   fresh process read back exactly the configured table.
//! - chains `prerouting` (nat, dstnat) and `output` (nat, for clients on the director): one rule per
//!   service matching `ip daddr VIP tcp dport PORT` (or `meta mark M` for fwmark services) jumping to
//!   the service chain `sN`.
//! - chain `sN` (the scheduling chain): persistence lookups (`ip saddr & MASK @sN_pD jump rN_D`, one
//!   dynamic set with timeouts per real server), then the scheduling verdict map:
//!   `numgen inc mod K vmap` over the wrr cycle for rr/wrr (weights by repeated entries),
//!   `jhash ip saddr mod 256 vmap` over the sh bucket table, `jhash ip daddr` for dh, and
//!   `jhash ip saddr mod 4093 vmap` over a precomputed Maglev table for mh, always with the same seed
//!   ([`render::JHASH_SEED`]) so that a client keeps its real server across stores and directors. Weight-0 servers are left
//!   out of the maps (no new connections) but keep their persistence entries and existing connections.
//! - chain `rN_D`: refreshes the persistence set, sets the conntrack mark (`0x4c` << 24 | service id << 12 |
//!   server id), counts the connection, and DNATs to the real server. Conntrack reverses the replies.
//! - chain `counters` (filter, forward): `counter name ct mark map @...` counts packets and bytes per
//!   direction for every real server and service.
//! - `ct timeout` objects `to_tcp4/6`, `to_udp4/6` built from `--set tcp tcpfin udp` (established and
//!   fin_wait; replied and unreplied), attached by chains `timeouts_prerouting`/`timeouts_output`
//!   (priority -140: after conntrack created the entry and after mangle marks, before NAT and before the
//!   entry is confirmed, the only place the kernel accepts a policy) to every TCP and UDP service's new
//!   connections. A store re-creates the objects; connections opened before it fall back to conntrack's
//!   defaults.
//!
//! ActiveConn/InActConn and `-c` of NAT servers come from conntrack entries carrying the mark.
//!
//! # Layout of table `netdev fulcrum_lvs` (direct routing, `-g`)
//! The ingress hook of the director's devices (all but `lo`, or the comma-separated list in
//! `FULCRUM_LVS_DR_DEVICES`) runs before the IP stack, so direct-routed packets never reach conntrack or
//! NAT. Chain `ingress` matches the service and jumps to `vN`, which looks the flow
//! (`saddr . sport . dport`) up in the per-server flow sets `sN_fD` (open) and `sN_xD` (closing, after a
//! FIN or RST). A known flow goes on to `eN_D`/`xN_D`: refresh or move the flow entry, count, and
//! `fwd ip to RIP device DEV`, which rewrites the destination MAC to the real server's and sends the
//! unchanged IP packet out of the device the route to RIP uses (only real servers on a directly connected
//! segment are members). An unknown TCP flow is scheduled only on a SYN (other packets go on to the
//! stack), through scheduling chain `sN` (same maps as NAT), into `nN_D` which adds the flow and counts
//! the connection; with the hashing schedulers (`sh`, `dh`, `mh`) on any packet, so that a flow an ECMP
//! router moves here from another director reaches the same real server ([`render::picks_by_packet`]). Flow entries expire after the `--set` tcp (open), tcpfin (closing) or udp timeout;
//! ActiveConn is the open TCP flows, InActConn the closing ones and UDP flows; `-c` lists them.
//! Real servers answer the client directly: OutPkts/OutBytes stay 0, as with IPVS.
//!
//! # When a store fails
//! Reading the table and rendering change nothing; the changes are made in `commit`: the tunnel filters,
//! then the one `nft -f` transaction. When either fails the table is read back; with the previous table in
//! force the filters attached for the new one are taken back and the error is [`PlaneError::NotApplied`],
//! otherwise [`PlaneError::Uncertain`] (or success, when the new table turns out to be in force).
//!
//! # The controller
//! [`crate::controller`] rewrites only scheduling chains (`flush chain` + rules, one transaction); the
//! first rule then carries a `ctl <digest>` comment so a later pass sees what is in force.
//!
//! # Limits, honestly
//! - A store re-creates both tables: counters carry over (read just before), and the elements of
//!   persistence and flow sets are read and written back with their remaining time; packets counted or
//!   flows opened between that read and the write are lost.
//! - Direct routing does not apply to fwmark services (the mark is set after the ingress hook) or to real
//!   servers behind a gateway; tunnel servers (`-i`, see [`super::tunnel`]) may be anywhere routable, but
//!   only with `--tun-type ipip`, and not for fwmark services either.
//! - In a service mixing `-g` and `-m` servers, the ingress hook takes every new connection for the `-g`
//!   servers while one of them has a weight above 0.

mod commit;

use super::render::{self, mark_ids, Family, Host, CTL_PREFIX, TABLE, TUN_PREFIX};
use super::{conntrack, tunnel, DataPlane, PlaneError};
use crate::format::ConnEntry;
use crate::model::{Forward, Protocol, ServiceKey, Stats, Table};
use crate::record;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};

pub use render::{mark, render, MARK_TAG, MAX_WRR_SLOTS, NFT_MAGLEV_SIZE};

/// Environment variable naming the devices whose ingress hook direct routing uses (comma-separated).
pub const DR_DEVICES_ENV: &str = "FULCRUM_LVS_DR_DEVICES";

/// The nftables data plane (see the module documentation).
#[derive(Debug, Default, Clone)]
pub struct NftPlane {
    /// The `nft` program (default `nft`).
    pub nft: Option<String>,
}

/// One direct-routed flow from a flow set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrFlow {
    /// Service id.
    pub sid: u32,
    /// Real-server id.
    pub did: u32,
    /// True while open (flow set `f`), false once closing (set `x`).
    pub open: bool,
    /// Client address.
    pub saddr: IpAddr,
    /// Client port.
    pub sport: u16,
    /// Virtual port.
    pub dport: u16,
    /// Seconds left.
    pub expires: u64,
}

/// Everything one reading of both tables gives.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The table with live figures.
    pub table: Table,
    /// The controller's marker (weights digest) of each scheduling chain that carries one.
    pub markers: HashMap<(Family, u32), String>,
    /// (service, real server) pairs forwarded by the direct-routing chains.
    pub dr_members: HashSet<(u32, u32)>,
    /// Direct-routed flows.
    pub dr_flows: Vec<DrFlow>,
    /// Set elements as nft text, by `family/set` (with the set's type), to write back on a store.
    pub keep: HashMap<String, (String, Vec<String>)>,
    /// The devices the tunnel forward rules send to (each carries an encapsulation filter).
    pub tun_devs: HashSet<String>,
}

fn run_program(prog: &str, args: &[&str], input: Option<&str>) -> Result<String, PlaneError> {
    let mut cmd = Command::new(prog);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let spawn_err = |source| PlaneError::Spawn {
        program: prog.to_string(),
        source,
    };
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes()).map_err(spawn_err)?;
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    if !out.status.success() {
        return Err(PlaneError::Command {
            program: prog.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl NftPlane {
    fn program(&self) -> &str {
        self.nft.as_deref().unwrap_or("nft")
    }

    fn run(&self, args: &[&str], input: Option<&str>) -> Result<String, PlaneError> {
        run_program(self.program(), args, input)
    }

    /// `nft -j list table FAMILY fulcrum_lvs`, or `None` when the table does not exist.
    fn list(&self, fam: Family) -> Result<Option<Value>, PlaneError> {
        match self.run(&["-j", "list", "table", fam.name(), TABLE], None) {
            Ok(j) => serde_json::from_str(&j)
                .map(Some)
                .map_err(|e| PlaneError::Parse(e.to_string())),
            Err(PlaneError::Command { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads both tables (configuration, counters, set elements, tunnel devices) without conntrack.
    fn read_both(&self) -> Result<Snapshot, PlaneError> {
        match self.list(Family::Inet)? {
            Some(inet) => read_docs(&inet, self.list(Family::Netdev)?.as_ref()),
            None => Ok(Snapshot::default()),
        }
    }

    /// Runs an `nft -f` script (one transaction).
    pub fn apply(&mut self, script: &str) -> Result<(), PlaneError> {
        self.run(&["-f", "-"], Some(script)).map(|_| ())
    }

    /// Reads both tables and conntrack: the table with live figures, and what the controller needs.
    pub fn snapshot(&mut self) -> Result<Snapshot, PlaneError> {
        let Some(inet) = self.list(Family::Inet)? else {
            return Ok(Snapshot::default());
        };
        let netdev = self.list(Family::Netdev)?;
        let mut snap = read_docs(&inet, netdev.as_ref())?;
        if let Some(text) = conntrack::read() {
            apply_connections(
                &mut snap.table,
                &conntrack::parse(&text, |m| mark_ids(m).is_some()),
            );
        }
        Ok(snap)
    }
}

impl NftPlane {
    /// The configured table only: one `nft` listing, no netdev flows and no conntrack read (what a loop that
    /// polls the configuration, such as the announcer, needs; a full [`NftPlane::snapshot`] reads every
    /// connection).
    pub fn model(&mut self) -> Result<Table, PlaneError> {
        let Some(inet) = self.list(Family::Inet)? else {
            return Ok(Table::default());
        };
        Ok(read_docs(&inet, None)?.table)
    }
}

impl DataPlane for NftPlane {
    fn load(&mut self) -> Result<Table, PlaneError> {
        Ok(self.snapshot()?.table)
    }

    fn store(&mut self, table: &Table) -> Result<(), PlaneError> {
        // Nothing has changed until `commit`: a failure up to there leaves the previous table as it is.
        let old = self.read_both().map_err(PlaneError::not_applied)?;
        let host = discover_host(table, old.keep.clone());
        let script = render(table, &host).map_err(PlaneError::not_applied)?;
        let encaps = render::tunnel_encaps(table, &host);
        commit::commit(self, &old, table, &script, &encaps)
    }

    fn connections(&mut self) -> Result<Vec<ConnEntry>, PlaneError> {
        let snap = self.snapshot()?;
        let mut v: Vec<ConnEntry> = match conntrack::read() {
            Some(text) => conntrack::parse(&text, |m| mark_ids(m).is_some())
                .into_iter()
                .map(|t| t.entry)
                .collect(),
            None => Vec::new(),
        };
        for f in &snap.dr_flows {
            let Some(s) = snap.table.services.iter().find(|s| s.id == f.sid) else {
                continue;
            };
            let Some(d) = s.dests.iter().find(|d| d.id == f.did) else {
                continue;
            };
            let ServiceKey::Addr { proto, addr, .. } = s.key else {
                continue;
            };
            let state = match (proto, f.open) {
                (Protocol::Udp, _) => "UDP",
                (_, true) => "ESTABLISHED",
                (_, false) => "FIN_WAIT",
            };
            v.push(ConnEntry {
                proto,
                expire: f.expires,
                state: state.into(),
                client: (f.saddr, f.sport),
                virt: (addr, f.dport),
                dest: (d.addr, f.dport),
            });
        }
        Ok(v)
    }

    fn live(&self) -> bool {
        true
    }

    fn lock(&mut self) -> Result<Option<super::lock::TableLock>, PlaneError> {
        super::lock::TableLock::acquire().map(Some)
    }
}

/// Finds what rendering needs from the host: ingress devices and the on-link real servers (only when
/// some real server uses direct routing), plus the set elements to keep.
pub fn discover_host(table: &Table, keep: HashMap<String, (String, Vec<String>)>) -> Host {
    let mut host = Host {
        keep,
        ..Host::default()
    };
    let direct = |f: Forward| -> HashSet<IpAddr> {
        table
            .services
            .iter()
            .filter(|s| matches!(s.key, ServiceKey::Addr { .. }))
            .flat_map(|s| s.dests.iter())
            .filter(|d| d.forward == f)
            .map(|d| d.addr)
            .collect()
    };
    let routed = direct(Forward::Route);
    let tunnelled = direct(Forward::Tunnel);
    if routed.is_empty() && tunnelled.is_empty() {
        return host;
    }
    host.ingress = match std::env::var(DR_DEVICES_ENV) {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty())
            .collect(),
        _ => run_program("ip", &["-j", "link", "show"], None)
            .ok()
            .and_then(|j| serde_json::from_str::<Value>(&j).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|l| l.get("ifname").and_then(Value::as_str))
            .filter(|n| *n != "lo")
            .map(String::from)
            .collect(),
    };
    for a in routed {
        let Some(r) = route_to(a) else { continue };
        if r.nexthop == a {
            host.onlink.insert(a, r.dev);
        }
    }
    for a in tunnelled {
        if let Some(r) = route_to(a) {
            host.tunnels.insert(a, r);
        }
    }
    host
}

/// The route the director takes to `addr` (`ip route get`): device, next hop and source address; none
/// when `addr` is the director's own or unreachable.
fn route_to(addr: IpAddr) -> Option<tunnel::TunnelRoute> {
    let j = run_program("ip", &["-j", "route", "get", &addr.to_string()], None).ok()?;
    let r = serde_json::from_str::<Value>(&j)
        .ok()
        .and_then(|v| v.as_array().and_then(|a| a.first().cloned()))?;
    let dev = r.get("dev").and_then(Value::as_str).unwrap_or("lo");
    if dev == "lo" {
        return None;
    }
    let ip = |k: &str| {
        r.get(k)
            .and_then(Value::as_str)
            .and_then(|v| v.parse().ok())
    };
    Some(tunnel::TunnelRoute {
        dev: dev.to_string(),
        nexthop: ip("gateway").unwrap_or(addr),
        src: ip("prefsrc")?,
    })
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

fn items(v: &Value) -> Result<&Vec<Value>, PlaneError> {
    v.get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| PlaneError::Parse("no \"nftables\" array".into()))
}

fn val_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => {
            if let Some(Value::Array(parts)) = o.get("concat") {
                let p: Option<Vec<String>> = parts.iter().map(val_text).collect();
                return p.map(|p| p.join(" . "));
            }
            let p = o.get("prefix")?;
            Some(format!(
                "{}/{}",
                val_text(p.get("addr")?)?,
                p.get("len")?.as_u64()?
            ))
        }
        _ => None,
    }
}

/// An element of `nft -j` output: its value, and its timeout and seconds left when it has them.
fn elem_parts(e: &Value) -> Option<(&Value, Option<u64>, Option<u64>)> {
    match e.get("elem") {
        Some(inner) => {
            let val = inner.get("val")?;
            Some((
                val,
                inner.get("timeout").and_then(Value::as_u64),
                inner.get("expires").and_then(Value::as_u64),
            ))
        }
        None => Some((e, None, None)),
    }
}

fn set_type(s: &Value) -> String {
    match s.get("type") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" . "),
        Some(Value::String(t)) => t.clone(),
        _ => String::new(),
    }
}

fn sum_counters(docs: &[&Value], m: &mut HashMap<String, (u64, u64)>) -> Result<(), PlaneError> {
    for d in docs {
        for it in items(d)? {
            if let Some(c) = it.get("counter") {
                let name = c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let p = c.get("packets").and_then(Value::as_u64).unwrap_or(0);
                let b = c.get("bytes").and_then(Value::as_u64).unwrap_or(0);
                let e = m.entry(name).or_insert((0, 0));
                e.0 = e.0.saturating_add(p);
                e.1 = e.1.saturating_add(b);
            }
        }
    }
    Ok(())
}

/// Parses `sN_<kind>D` set names.
fn set_ids(name: &str, kind: char) -> Option<(u32, u32)> {
    let rest = name.strip_prefix('s')?;
    let (sid, did) = rest.split_once(['_'])?;
    let did = did.strip_prefix(kind)?;
    Some((sid.parse().ok()?, did.parse().ok()?))
}

/// Rebuilds the table (configuration from the `model` chain's comments, counters and persistence
/// entries from the counters and sets) from `nft -j list table inet fulcrum_lvs` output.
pub fn readback(json: &str) -> Result<Table, PlaneError> {
    let v: Value = serde_json::from_str(json).map_err(|e| PlaneError::Parse(e.to_string()))?;
    Ok(read_docs(&v, None)?.table)
}

/// Reads the `inet` table's JSON and, when it exists, the `netdev` table's.
pub fn read_docs(inet: &Value, netdev: Option<&Value>) -> Result<Snapshot, PlaneError> {
    let inet_items = items(inet)?;
    let comments: Vec<&str> = inet_items
        .iter()
        .filter_map(|it| it.get("rule"))
        .filter(|r| r.get("chain").and_then(Value::as_str) == Some("model"))
        .filter_map(|r| r.get("comment").and_then(Value::as_str))
        .collect();
    let mut snap = Snapshot {
        table: record::decode(comments)?,
        ..Snapshot::default()
    };
    let mut docs = vec![(Family::Inet, inet)];
    if let Some(n) = netdev {
        items(n)?;
        docs.push((Family::Netdev, n));
    }
    let mut c = HashMap::new();
    sum_counters(&docs.iter().map(|d| d.1).collect::<Vec<_>>(), &mut c)?;
    let get = |n: &str| c.get(n).copied().unwrap_or((0, 0));
    let mut persist: HashMap<(u32, u32), u32> = HashMap::new();
    let mut open: HashMap<(u32, u32), u32> = HashMap::new();
    let mut closing: HashMap<(u32, u32), u32> = HashMap::new();
    for (fam, doc) in &docs {
        for it in items(doc)? {
            if let Some(r) = it.get("rule") {
                let chain = r.get("chain").and_then(Value::as_str).unwrap_or_default();
                let comment = r.get("comment").and_then(Value::as_str).unwrap_or_default();
                if let (Family::Netdev, Some(dev)) = (fam, comment.strip_prefix(TUN_PREFIX)) {
                    snap.tun_devs.insert(dev.to_string());
                }
                if let (Some(sid), Some(digest)) = (
                    chain.strip_prefix('s').and_then(|x| x.parse::<u32>().ok()),
                    comment.strip_prefix(CTL_PREFIX),
                ) {
                    snap.markers.insert((*fam, sid), digest.to_string());
                }
                continue;
            }
            let Some(s) = it.get("set") else { continue };
            let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
            let elems: &[Value] = s
                .get("elem")
                .and_then(Value::as_array)
                .map_or(&[], Vec::as_slice);
            let n = u32::try_from(elems.len()).unwrap_or(u32::MAX);
            let set_timeout = s.get("timeout").and_then(Value::as_u64);
            let mut texts = Vec::new();
            for e in elems {
                let Some((val, timeout, expires)) = elem_parts(e) else {
                    continue;
                };
                let Some(text) = val_text(val) else { continue };
                // An element whose timeout is the set's shows only `expires`; write both back so
                // that a changed set timeout cannot make `expires` exceed it.
                match (timeout.or(set_timeout), expires) {
                    (_, Some(0)) => {}
                    (Some(t), Some(x)) => {
                        texts.push(format!("{text} timeout {t}s expires {}s", x.min(t)))
                    }
                    _ => texts.push(text),
                }
            }
            snap.keep
                .insert(format!("{}/{name}", fam.name()), (set_type(s), texts));
            if let Some(ids) = set_ids(name, 'p') {
                *persist.entry(ids).or_default() += n;
            }
            if *fam == Family::Netdev {
                for (kind, counts, is_open) in [('f', &mut open, true), ('x', &mut closing, false)]
                {
                    let Some(ids) = set_ids(name, kind) else {
                        continue;
                    };
                    if is_open {
                        snap.dr_members.insert(ids);
                    }
                    *counts.entry(ids).or_default() += n;
                    for e in elems {
                        let Some((Value::Object(o), _, expires)) = elem_parts(e) else {
                            continue;
                        };
                        let Some(Value::Array(p)) = o.get("concat") else {
                            continue;
                        };
                        let (Some(saddr), Some(sport), Some(dport)) = (
                            p.first()
                                .and_then(Value::as_str)
                                .and_then(|a| a.parse().ok()),
                            p.get(1).and_then(Value::as_u64),
                            p.get(2).and_then(Value::as_u64),
                        ) else {
                            continue;
                        };
                        snap.dr_flows.push(DrFlow {
                            sid: ids.0,
                            did: ids.1,
                            open: is_open,
                            saddr,
                            sport: u16::try_from(sport).unwrap_or(0),
                            dport: u16::try_from(dport).unwrap_or(0),
                            expires: expires.unwrap_or(0),
                        });
                    }
                }
            }
        }
    }
    for s in &mut snap.table.services {
        let sid = s.id;
        let udp = s.key.protocol() == Some(Protocol::Udp);
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
            d.observed.persist = persist.get(&(sid, did)).copied().unwrap_or(0);
            let o = open.get(&(sid, did)).copied().unwrap_or(0);
            let x = closing.get(&(sid, did)).copied().unwrap_or(0);
            if udp {
                d.observed.inactive += o + x;
            } else {
                d.observed.active += o;
                d.observed.inactive += x;
            }
        }
    }
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readback_rejects_garbage() {
        assert!(readback("not json").is_err());
        assert!(readback("{}").is_err());
        assert_eq!(readback("{\"nftables\": []}").ok(), Some(Table::new()));
    }

    #[test]
    fn reads_flow_sets_markers_and_elements() {
        let inet = serde_json::json!({"nftables": [
            {"rule": {"chain": "model", "comment": "T 900 120 300"}},
            {"rule": {"chain": "model", "comment": "S 0 tcp/198.19.0.100/80 wlc 0 0 m255.255.255.255 -"}},
            {"rule": {"chain": "model", "comment": "R 0 0 198.18.1.2 80 g 1 0 0 ipip 0 n"}},
            {"rule": {"chain": "s0", "comment": "ctl 00ff"}},
            {"counter": {"name": "s0_in", "packets": 5, "bytes": 500}},
        ]});
        let netdev = serde_json::json!({"nftables": [
            {"counter": {"name": "s0_in", "packets": 2, "bytes": 100}},
            {"set": {"name": "s0_f0", "type": ["ipv4_addr", "inet_service", "inet_service"],
              "elem": [{"elem": {"val": {"concat": ["198.18.0.2", 40000, 80]}, "timeout": 900, "expires": 800}}]}},
            {"set": {"name": "s0_x0", "type": ["ipv4_addr", "inet_service", "inet_service"], "elem": [
              {"elem": {"val": {"concat": ["198.18.0.2", 40001, 80]}, "timeout": 120, "expires": 100}},
              {"elem": {"val": {"concat": ["198.18.0.2", 40002, 80]}, "timeout": 120, "expires": 0}}]}},
        ]});
        let snap = read_docs(&inet, Some(&netdev)).unwrap_or_default();
        let s = &snap.table.services[0];
        assert_eq!(s.observed.stats.inpkts, 7);
        assert_eq!(
            (s.dests[0].observed.active, s.dests[0].observed.inactive),
            (1, 2)
        );
        assert_eq!(
            snap.markers.get(&(Family::Inet, 0)).map(String::as_str),
            Some("00ff")
        );
        assert!(snap.dr_members.contains(&(0, 0)));
        assert_eq!(snap.dr_flows.len(), 3);
        assert_eq!(
            snap.keep.get("netdev/s0_x0").map(|k| k.1.clone()),
            Some(vec![
                "198.18.0.2 . 40001 . 80 timeout 120s expires 100s".to_string()
            ])
        );
    }
}
