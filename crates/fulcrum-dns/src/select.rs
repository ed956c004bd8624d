//! Choosing what the servers get from an answer: one address per server (`resolve-prefer`, `resolve-net`,
//! `resolve-opts prevent-dup-ip`), and the slots of a `server-template` filled from SRV records.

use std::net::IpAddr;

use crate::resolution::SrvItem;

/// A network of `resolve-net`: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length in bits.
    pub prefix: u8,
}

impl Net {
    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let p = self.prefix.min(32) as u32;
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let p = self.prefix.min(128) as u32;
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// How a server picks its address in an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preference {
    /// `resolve-prefer ipv6` (the default) or `ipv4`.
    pub prefer_v6: bool,
    /// `resolve-net`: addresses inside these networks come first.
    pub nets: Vec<Net>,
    /// `resolve-opts allow-dup-ip`: an address another server of the backend uses is as good as any.
    pub allow_dup: bool,
}

/// The address a server takes from `answer`: its `current` one while the answer still has it; otherwise the best
/// by family, then `resolve-net`, then not `taken` by another server of the backend with the same name; the
/// first such in answer order. `None` for an empty answer.
pub fn pick_addr(
    current: Option<IpAddr>,
    answer: &[IpAddr],
    pref: &Preference,
    taken: &[IpAddr],
) -> Option<IpAddr> {
    if let Some(c) = current {
        if answer.contains(&c) {
            return Some(c);
        }
    }
    let score = |ip: &IpAddr| {
        let family = (ip.is_ipv6() == pref.prefer_v6) as u8;
        let net = pref.nets.iter().any(|n| n.contains(*ip)) as u8;
        let free = (pref.allow_dup || !taken.contains(ip)) as u8;
        family * 4 + net * 2 + free
    };
    let mut best: Option<(u8, IpAddr)> = None;
    for ip in answer {
        let s = score(ip);
        if best.is_none_or(|(b, _)| s > b) {
            best = Some((s, *ip));
        }
    }
    best.map(|(_, ip)| ip)
}

/// What one slot of a `server-template` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// The SRV target (the server's FQDN).
    pub target: String,
    /// The port from the record.
    pub port: u16,
    /// The weight converted to HAProxy's range 1..=256.
    pub weight: u32,
    /// The address from the additional section, if one came.
    pub addr: Option<IpAddr>,
}

/// An SRV weight (0..=65535) in HAProxy's server weight range (1..=256).
pub fn srv_weight(w: u16) -> u32 {
    (w as u32 / 256) + 1
}

/// Fills the slots of a `server-template` from `items`: a slot keeps its record while the record stays (same target
/// and port, weight and address refreshed), a record that went empties its slot, and new records take the free
/// slots in order. Records beyond the slots are left out.
pub fn assign_slots(slots: &mut [Option<Fill>], items: &[SrvItem]) {
    let mut used = vec![false; items.len()];
    for slot in slots.iter_mut() {
        let Some(f) = slot else { continue };
        match items
            .iter()
            .position(|i| i.target == f.target && i.port == f.port)
        {
            Some(k) if !used[k] => {
                used[k] = true;
                f.weight = srv_weight(items[k].weight);
                f.addr = pick_srv_addr(f.addr, &items[k].addrs);
            }
            _ => *slot = None,
        }
    }
    let mut free = items
        .iter()
        .enumerate()
        .filter(|(k, _)| !used[*k])
        .map(|(_, i)| i);
    for slot in slots.iter_mut().filter(|s| s.is_none()) {
        let Some(i) = free.next() else { break };
        *slot = Some(Fill {
            target: i.target.clone(),
            port: i.port,
            weight: srv_weight(i.weight),
            addr: pick_srv_addr(None, &i.addrs),
        });
    }
}

fn pick_srv_addr(current: Option<IpAddr>, addrs: &[IpAddr]) -> Option<IpAddr> {
    match current {
        Some(c) if addrs.contains(&c) => Some(c),
        _ => addrs.first().copied().or(current),
    }
}
