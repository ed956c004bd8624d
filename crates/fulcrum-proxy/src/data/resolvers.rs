//! The resolver task: servers with `resolvers NAME` have their names asked to the section's nameservers at run
//! time, and the answers change where new connections go, without a reload.
//!
//! One thread (`fulcrum-dns`, a current-thread runtime) drives a [`fulcrum_dns::resolution::Resolution`] per
//! distinct name (per section and kind), sends its queries over UDP to every nameserver of the section, feeds
//! the answers back, and applies the results:
//! - a host name: the server takes an address of the answer ([`fulcrum_dns::select::pick_addr`]: its current one
//!   while it stays, `resolve-prefer`, `resolve-net`, no duplicate in the backend unless `allow-dup-ip`); while the
//!   name cannot be resolved longer than its `hold` period, the server is in resolution maintenance
//!   ([`ServerRt::ADMIN_RMAINT`]);
//! - an SRV name (`_service._proto.domain`): the backend's servers with that name (a `server-template`) are slots
//!   that follow the records ([`fulcrum_dns::select::assign_slots`]): port and weight from the record (unless
//!   `resolve-opts ignore-weight`), address from the additional section or, without one there, from a resolution
//!   of the target of its own; an empty slot is in resolution maintenance.
//!
//! The data path reads the address with one atomic load per connection ([`ServerRt::addr`]); idle pooled
//! connections to an old address are closed when it changes. `set server ... fqdn` wakes the task through
//! [`Registry::wake`]. `show resolvers` reads the per-nameserver counters of [`Registry`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fulcrum_dns::resolution::{Hold, Kind, Outcome, Poll, Resolution};
use fulcrum_dns::select::{assign_slots, pick_addr, Fill, Net, Preference};
use fulcrum_dns::wire::{self, rcode};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::data::http::pool::Pools;
use crate::model::resolvers::{ctr, Registry};
use crate::model::server::ServerRt;
use crate::model::snapshot::{BackendRt, Snapshot};

/// Starts the resolver thread when a server uses a `resolvers` section.
pub fn spawn(
    snapshot: Arc<Snapshot>,
    pools: Arc<Pools>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<Option<JoinHandle<()>>> {
    let used = snapshot.servers.iter().any(|s| {
        s.config
            .resolve
            .as_ref()
            .is_some_and(|r| r.resolvers.is_some())
    });
    if !used || snapshot.resolvers.sections.is_empty() {
        return Ok(None);
    }
    let handle = std::thread::Builder::new()
        .name("fulcrum-dns".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                warn!("resolvers: cannot start their runtime");
                return;
            };
            rt.block_on(run(snapshot, pools, stop));
        })?;
    Ok(Some(handle))
}

/// What is resolved: a section, a name, and how.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    section: usize,
    name: String,
    srv: bool,
    prefer_v6: bool,
}

/// Query ids: a xorshift generator seeded from the clock and the process id.
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> u16 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u16
    }
}

async fn bind(v6: bool) -> Option<UdpSocket> {
    let any = if v6 {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    };
    match UdpSocket::bind(any).await {
        Ok(s) => Some(s),
        Err(e) => {
            warn!("resolvers: cannot open a UDP socket: {e}");
            None
        }
    }
}

async fn recv(sock: &Option<UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match sock {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

async fn run(snap: Arc<Snapshot>, pools: Arc<Pools>, mut stop: watch::Receiver<bool>) {
    let reg = snap.resolvers.clone();
    let need = |v6: bool| {
        reg.sections
            .iter()
            .flat_map(|s| &s.nameservers)
            .any(|n| n.addr.is_ipv6() == v6)
    };
    let v4 = if need(false) { bind(false).await } else { None };
    let v6 = if need(true) { bind(true).await } else { None };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32)
        | 1;
    let mut ids = Ids(seed);
    let mut jobs: HashMap<Key, Resolution> = HashMap::new();
    let mut slots: HashMap<(usize, Key), Vec<Option<Fill>>> = HashMap::new();
    let mut buf4 = vec![0u8; 65535];
    let mut buf6 = vec![0u8; 65535];
    loop {
        if *stop.borrow() {
            return;
        }
        let now = Instant::now();
        // The names wanted now (`set server ... fqdn` may have changed some).
        let mut wanted: Vec<(Key, bool)> = Vec::new();
        for s in &snap.servers {
            if let Some(k) = key_of(&reg, s) {
                match wanted.iter_mut().find(|(w, _)| *w == k) {
                    Some((_, has)) => *has |= s.has_addr(),
                    None => wanted.push((k, s.has_addr())),
                }
            }
        }
        // SRV targets that came without an address: their own A/AAAA resolutions.
        for ((_, k), fills) in slots.iter() {
            for f in fills.iter().flatten().filter(|f| f.addr.is_none()) {
                let t = target_key(k, &f.target);
                if wire::valid_name(&t.name) && !wanted.iter().any(|(w, _)| *w == t) {
                    wanted.push((t, false));
                }
            }
        }
        jobs.retain(|k, _| wanted.iter().any(|(w, _)| w == k));
        for (k, has_addr) in wanted {
            jobs.entry(k.clone()).or_insert_with(|| {
                let mut r = Resolution::new(
                    &k.name,
                    if k.srv {
                        Kind::Srv
                    } else {
                        Kind::Host {
                            prefer_v6: k.prefer_v6,
                        }
                    },
                );
                // An address the server already has (init-addr, the state file, the runtime API) counts as
                // valid from now: an error first holds it for its hold period, as a later one would.
                if has_addr {
                    r.last_valid = Some(now);
                }
                r
            });
        }
        for (k, res) in jobs.iter_mut() {
            let sec = &reg.sections[k.section];
            match res.poll(now, &sec.params, ids.next()) {
                Poll::Send(q) => {
                    for ns in &sec.nameservers {
                        let sock = if ns.addr.is_ipv6() { &v6 } else { &v4 };
                        let sent = match sock {
                            Some(s) => s.send_to(&q, ns.addr).await.is_ok(),
                            None => false,
                        };
                        ns.inc(if sent { ctr::SENT } else { ctr::SND_ERROR });
                    }
                }
                Poll::TimedOut => {
                    for ns in &sec.nameservers {
                        ns.inc(ctr::TIMEOUT);
                    }
                }
                Poll::Idle => {}
            }
        }
        apply(&snap, &pools, &mut jobs, &mut slots, now);
        // A slot waiting for a target not asked yet: start its resolution at once.
        let unasked = slots.iter().any(|((_, k), fills)| {
            fills.iter().flatten().any(|f| {
                let t = target_key(k, &f.target);
                f.addr.is_none() && wire::valid_name(&t.name) && !jobs.contains_key(&t)
            })
        });
        if unasked {
            continue;
        }
        let wake_at = jobs
            .iter()
            .map(|(k, r)| {
                r.next_wakeup(&reg.sections[k.section].params)
                    .unwrap_or(now)
            })
            .min()
            .unwrap_or(now + Duration::from_secs(1))
            .max(now + Duration::from_millis(1));
        tokio::select! {
            _ = stop.changed() => {}
            _ = reg.wake.notified() => {}
            _ = tokio::time::sleep_until(wake_at.into()) => {}
            r = recv(&v4, &mut buf4) => if let Ok((n, from)) = r { answer(&reg, &mut jobs, &buf4[..n], from) },
            r = recv(&v6, &mut buf6) => if let Ok((n, from)) = r { answer(&reg, &mut jobs, &buf6[..n], from) },
        }
    }
}

/// The host resolution of an SRV record's target.
fn target_key(srv: &Key, target: &str) -> Key {
    Key {
        section: srv.section,
        name: target.to_string(),
        srv: false,
        prefer_v6: srv.prefer_v6,
    }
}

/// What server `s` asks, if anything.
fn key_of(reg: &Registry, s: &ServerRt) -> Option<Key> {
    if s.is_deleted() {
        return None;
    }
    let r = s.config.resolve.as_ref()?;
    let section = reg.index(r.resolvers.as_deref()?)?;
    let name = s.fqdn()?.trim_end_matches('.').to_ascii_lowercase();
    if !wire::valid_name(&name) {
        return None;
    }
    Some(Key {
        section,
        srv: name.starts_with('_'),
        name,
        prefer_v6: r.prefer_v6,
    })
}

/// Takes one datagram from `from`.
fn answer(reg: &Registry, jobs: &mut HashMap<Key, Resolution>, data: &[u8], from: SocketAddr) {
    let now = Instant::now();
    let Some((si, ns)) = reg.sections.iter().enumerate().find_map(|(i, s)| {
        s.nameservers
            .iter()
            .find(|n| {
                n.addr == from || (n.addr.ip().is_unspecified() && n.addr.port() == from.port())
            })
            .map(|n| (i, n))
    }) else {
        return;
    };
    let msg = match wire::decode(data) {
        Ok(m) => m,
        Err(_) => {
            ns.inc(ctr::INVALID);
            return;
        }
    };
    let params = &reg.sections[si].params;
    let Some((_, res)) = jobs
        .iter_mut()
        .find(|(k, r)| k.section == si && r.query_id() == Some(msg.id))
    else {
        ns.inc(ctr::OUTDATED);
        return;
    };
    if msg.truncated {
        ns.inc(ctr::TRUNCATED);
    }
    match res.on_message(now, params, &msg) {
        Outcome::NotOurs => ns.inc(ctr::OUTDATED),
        Outcome::Valid { changed } => {
            ns.inc(ctr::VALID);
            if changed {
                ns.inc(ctr::UPDATE);
            }
        }
        Outcome::Fallback => ns.inc(error_counter(&msg, None)),
        Outcome::Error { status, .. } => ns.inc(error_counter(&msg, Some(status))),
    }
}

/// The counter an error answer goes to: an answer that does not match the question is `invalid`, then by
/// response code (NOERROR without the records asked is HAProxy's `any_err`).
fn error_counter(msg: &wire::Message, status: Option<fulcrum_dns::resolution::Status>) -> usize {
    if status == Some(fulcrum_dns::resolution::Status::Invalid) {
        return ctr::INVALID;
    }
    match msg.rcode {
        rcode::NXDOMAIN => ctr::NX,
        rcode::REFUSED => ctr::REFUSED,
        rcode::NOERROR => ctr::ANY_ERR,
        _ => ctr::OTHER,
    }
}

/// Brings every server in line with its resolution.
fn apply(
    snap: &Snapshot,
    pools: &Pools,
    jobs: &mut HashMap<Key, Resolution>,
    slots: &mut HashMap<(usize, Key), Vec<Option<Fill>>>,
    now: Instant,
) {
    let reg = &snap.resolvers;
    for be in &snap.backends {
        let mut changed = false;
        // SRV names: the backend's servers asking the same name are the slots, in order.
        let mut groups: Vec<(Key, Vec<Arc<ServerRt>>)> = Vec::new();
        for s in be.servers.iter() {
            let Some(k) = key_of(reg, s) else { continue };
            if k.srv {
                match groups.iter_mut().find(|(g, _)| *g == k) {
                    Some((_, v)) => v.push(s.clone()),
                    None => groups.push((k, vec![s.clone()])),
                }
                continue;
            }
            let Some(res) = jobs.get(&k) else { continue };
            changed |= apply_host(pools, be, s, res, &reg.sections[k.section].params.hold, now);
        }
        for (k, servers) in groups {
            let Some(res) = jobs.get_mut(&k) else {
                continue;
            };
            let hold = reg.sections[k.section].params.hold;
            let fills = slots.entry((be.id, k.clone())).or_default();
            fills.resize(servers.len(), None);
            if res.status == fulcrum_dns::resolution::Status::None {
                continue;
            }
            res.expire_obsolete(now, &hold);
            if res.usable(now, &hold) {
                assign_slots(fills, &res.srv);
            } else {
                fills.iter_mut().for_each(|f| *f = None);
            }
            // A target the additional section gave no address for is asked on its own (its A/AAAA).
            for f in fills.iter_mut().flatten().filter(|f| f.addr.is_none()) {
                if let Some(r) = jobs.get(&target_key(&k, &f.target)) {
                    if r.status == fulcrum_dns::resolution::Status::Valid {
                        f.addr = r.addrs.first().copied();
                    }
                }
            }
            for (s, fill) in servers.iter().zip(fills.iter()) {
                changed |= apply_slot(pools, be, s, fill.as_ref());
            }
        }
        if changed {
            be.rebuild_farm();
            let (active, backups) = be.servers_up();
            be.stats.state.set(active + backups > 0);
        }
    }
}

/// Sets or clears resolution maintenance; true when it changed.
fn set_rmaint(be: &BackendRt, s: &ServerRt, on: bool, why: &str) -> bool {
    let before = s.admin();
    let after = if on {
        before | ServerRt::ADMIN_RMAINT
    } else {
        before & !ServerRt::ADMIN_RMAINT
    };
    if before == after {
        return false;
    }
    s.set_admin(after);
    let line = if on {
        format!(
            "{} is going DOWN for maintenance ({why}).",
            crate::health::admin_state::who(s)
        )
    } else {
        format!(
            "{} ('{}') is UP/READY (resolves again).",
            crate::health::admin_state::who(s),
            why
        )
    };
    warn!("{line}");
    be.log_event(
        if on {
            crate::model::log::syslog::ALERT
        } else {
            crate::model::log::syslog::NOTICE
        },
        &line,
    );
    true
}

/// Moves `s` to `addr` (new connections only; idle pooled ones are closed).
fn move_to(
    pools: &crate::data::http::pool::Pools,
    be: &BackendRt,
    s: &ServerRt,
    addr: SocketAddr,
    by: &str,
) {
    let old = s.addr();
    if old == addr {
        return;
    }
    s.set_addr(addr);
    pools.purge(s.id);
    let line = if old.ip().is_unspecified() {
        format!(
            "{} changed its IP from (none) to {} by {by}.",
            s.full_name,
            addr.ip()
        )
    } else {
        format!(
            "{} changed its IP from {} to {} by {by}.",
            s.full_name,
            old.ip(),
            addr.ip()
        )
    };
    info!("{line}");
    be.log_event(crate::model::log::syslog::NOTICE, &line);
}

fn apply_host(
    pools: &crate::data::http::pool::Pools,
    be: &BackendRt,
    s: &ServerRt,
    res: &Resolution,
    hold: &Hold,
    now: Instant,
) -> bool {
    use fulcrum_dns::resolution::Status;
    if res.status == Status::None {
        return false;
    }
    if !res.usable(now, hold) {
        let why = match res.status {
            Status::Nx => "DNS NX status",
            Status::Refused => "DNS refused status",
            Status::Timeout => "DNS timeout status",
            _ => "unspecified DNS error",
        };
        return set_rmaint(be, s, true, why);
    }
    let Some(r) = s.config.resolve.as_ref() else {
        return false;
    };
    let pref = Preference {
        prefer_v6: r.prefer_v6,
        nets: r
            .nets
            .iter()
            .map(|(addr, prefix)| Net {
                addr: *addr,
                prefix: *prefix,
            })
            .collect(),
        allow_dup: r.allow_dup_ip,
    };
    let fqdn = s.fqdn();
    let taken: Vec<IpAddr> = be
        .servers
        .iter()
        .filter(|o| o.id != s.id && o.has_addr() && o.fqdn() == fqdn)
        .map(|o| o.addr().ip())
        .collect();
    let current = s.has_addr().then(|| s.addr().ip());
    let Some(ip) = pick_addr(current, &res.addrs, &pref, &taken) else {
        return false;
    };
    move_to(
        pools,
        be,
        s,
        SocketAddr::new(ip, s.addr().port()),
        "DNS cache",
    );
    set_rmaint(be, s, false, fqdn.as_deref().unwrap_or(""))
}

fn apply_slot(
    pools: &crate::data::http::pool::Pools,
    be: &BackendRt,
    s: &ServerRt,
    fill: Option<&Fill>,
) -> bool {
    match fill {
        Some(Fill {
            addr: Some(ip),
            port,
            weight,
            target,
        }) => {
            let mut changed = false;
            move_to(
                pools,
                be,
                s,
                SocketAddr::new(*ip, *port),
                "DNS additional record",
            );
            s.set_srv_target(Some(target.clone()));
            let ignore = s.config.resolve.as_ref().is_some_and(|r| r.ignore_weight);
            if !ignore && s.user_weight() != *weight {
                s.set_user_weight(*weight);
                changed = true;
            }
            changed | set_rmaint(be, s, false, target)
        }
        _ => {
            let gone = set_rmaint(be, s, true, "entry removed from SRV record");
            if gone {
                s.set_addr(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
                s.set_srv_target(None);
                pools.purge(s.id);
            }
            gone
        }
    }
}
