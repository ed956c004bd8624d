//! The XDP data plane (crate `fulcrum-xdp`), the default where it loads (`FULCRUM_L4_PLANE=nftables` turns it
//! off). Its pins live in the network namespace's directory under `/run/fulcrum/bpf` (`xdp_pins`).
//!
//! The nftables plane still stores the whole table (it remains the source of truth that `-L`/`-S` read
//! back, and it keeps serving what XDP does not); the XDP program, attached to the direct-routing devices
//! (`FULCRUM_LVS_DR_DEVICES`), runs before the nftables ingress hook and takes the packets of the
//! services it serves. [`xdp_services`] decides which those are and says why the others stay on
//! nftables: fwmark services (the mark is set after XDP, by the user's own rules: fulcrum generates no
//! marking rule it could mirror), persistence engines (`--pe`) and masks that are not a prefix, NAT real
//! servers of one-packet (`-o`) services (no flow is kept to translate their replies back), schedulers XDP
//! does not implement (none of ipvsadm's today), tunnels to or from IPv6, and real servers whose next hop is not resolved. IPv4 tunnels are served with every `--tun-type` (IP-in-IP,
//! GUE, GRE), which the nftables plane does not (IP-in-IP only). Persistence (`-p`/`-M`), thresholds
//! (`-x`/`-y`), the scheduler flags of sh and mh (`-b sh-fallback,sh-port`, `mh-fallback,mh-port`;
//! flag-3 means nothing to them, as in IPVS), one-packet scheduling of UDP services (`-o`) and
//! lblc/lblcr are served in BPF. NAT (`-m`, alone or mixed with direct routing and tunnels) is served in
//! BPF too: DNAT in, the replies (the director being the real servers' gateway) and ICMP errors translated
//! back, with the replies counted as OutPkts/OutBytes.

use crate::model::{Forward, ServiceKey, Table, TunCsum, TunType};
use fulcrum_balance::lvs::SchedFlags;
use fulcrum_xdp::layout::{MAX_DESTS, MAX_SERVICES};
use fulcrum_xdp::plan::{
    dest_tag, scheduler_number, DestSpec, Encap, Method, Persistence, ServiceSpec, Timeouts,
};
use std::net::{IpAddr, Ipv4Addr};

/// Environment variable selecting the L4 plane (`xdp`: XDP where it loads, with nftables for the rest).
pub const PLANE_ENV: &str = "FULCRUM_L4_PLANE";

/// How a real server is reached from the director.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    /// The next hop's MAC (the real server's on a direct segment).
    pub mac: [u8; 6],
    /// The output device's MAC.
    pub src_mac: [u8; 6],
    /// The output device's index.
    pub ifindex: u32,
    /// The director's address towards it (the outer source of tunnelled packets).
    pub src: Option<Ipv4Addr>,
}

/// The services of `table` the XDP plane serves, and for each service left to nftables, why. `syncing`: a
/// connection sync daemon runs here (`ipvsadm --start-daemon`, keepalived's `lvs_sync_daemon`), which carries
/// NAT connections through conntrack, so NAT stays on nftables.
pub fn xdp_services(
    table: &Table,
    resolve: &mut dyn FnMut(IpAddr) -> Option<NextHop>,
    syncing: bool,
) -> (Vec<ServiceSpec>, Vec<String>) {
    let mut served = Vec::new();
    let mut left = Vec::new();
    'svc: for s in &table.services {
        let why = |w: &str| format!("{}: {w}", s.key);
        let ServiceKey::Addr { proto, addr, port } = s.key else {
            left.push(why(
                "fwmark services stay on nftables (the mark is set after XDP runs, by rules fulcrum does not write)",
            ));
            continue;
        };
        if proto.number() != 6 && proto.number() != 17 {
            left.push(why("only TCP and UDP services"));
            continue;
        }
        if s.pe.is_some() {
            left.push(why("persistence engines (--pe) are not implemented in XDP"));
            continue;
        }
        let persistence = if s.flags.persistent {
            let prefix = s.netmask.prefix_len();
            let contiguous = match s.netmask {
                crate::model::Netmask::V4(m) => {
                    u32::from(m).checked_shl(u32::from(prefix)).unwrap_or(0) == 0
                }
                crate::model::Netmask::Prefix(_) => true,
            };
            if !contiguous {
                left.push(why(&format!(
                    "persistence mask {} is not a prefix",
                    s.netmask
                )));
                continue;
            }
            Some(Persistence {
                timeout: s.timeout.max(1),
                prefix,
            })
        } else {
            None
        };
        if scheduler_number(&s.scheduler).is_none() {
            left.push(why(&format!(
                "scheduler {} is not implemented in XDP",
                s.scheduler
            )));
            continue;
        }
        if s.id >= MAX_SERVICES || s.dests.len() > MAX_DESTS as usize {
            left.push(why("beyond the XDP maps' sizes"));
            continue;
        }
        let mut dests = Vec::with_capacity(s.dests.len());
        for d in &s.dests {
            if d.id >= MAX_DESTS {
                left.push(why("a real server id beyond the XDP maps' sizes"));
                continue 'svc;
            }
            let method = match d.forward {
                Forward::Route => Method::Route,
                Forward::Masq if syncing => {
                    left.push(why(
                        "NAT stays on nftables while a connection sync daemon runs (it carries the connections through conntrack)",
                    ));
                    continue 'svc;
                }
                Forward::Masq if s.flags.one_packet && proto.number() == 17 => {
                    left.push(why(
                        "NAT with one-packet scheduling stays on nftables (no flow is kept to translate the replies back)",
                    ));
                    continue 'svc;
                }
                Forward::Masq => Method::Nat,
                Forward::Tunnel if d.addr.is_ipv4() && addr.is_ipv4() => {
                    let csum = d.tunnel.csum == TunCsum::Csum;
                    // remote checksum offload only changes packets the kernel left for a device to
                    // checksum, which XDP never sees: IPVS sends the others as without a checksum
                    let encap = match d.tunnel.kind {
                        TunType::Ipip => Encap::Ipip,
                        TunType::Gue => Encap::Gue {
                            port: d.tunnel.port,
                            csum,
                        },
                        TunType::Gre => Encap::Gre { csum },
                    };
                    match resolve(d.addr).and_then(|h| h.src) {
                        Some(src) => Method::Tunnel { src, encap },
                        None => {
                            left.push(why(&format!("no source address towards {}", d.addr)));
                            continue 'svc;
                        }
                    }
                }
                _ => {
                    left.push(why(&format!(
                        "{} forwarding stays on nftables",
                        d.forward.label()
                    )));
                    continue 'svc;
                }
            };
            let Some(hop) = resolve(d.addr) else {
                left.push(why(&format!("next hop of {} not resolved", d.addr)));
                continue 'svc;
            };
            dests.push(DestSpec {
                slot: d.id,
                addr: d.addr,
                port: d.port,
                weight: d.weight,
                method,
                mac: hop.mac,
                src_mac: hop.src_mac,
                ifindex: hop.ifindex,
                u_threshold: d.u_threshold,
                l_threshold: d.l_threshold,
            });
        }
        served.push(ServiceSpec {
            id: s.id,
            addr,
            port,
            proto: proto.number(),
            scheduler: s.scheduler.clone(),
            dests,
            persistence,
            flags: SchedFlags {
                fallback: s.flags.sched1,
                port: s.flags.sched2,
            },
            one_packet: s.flags.one_packet,
        });
    }
    (served, left)
}

/// The table's `--set` timeouts for the XDP flow table.
pub fn timeouts(table: &Table) -> Timeouts {
    let t = table.timeouts;
    let d = Timeouts::default();
    Timeouts {
        tcp: if t.tcp == 0 { d.tcp } else { t.tcp },
        tcpfin: if t.tcpfin == 0 { d.tcpfin } else { t.tcpfin },
        udp: if t.udp == 0 { d.udp } else { t.udp },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plane::file::FilePlane;
    use crate::plane::DataPlane;
    use std::ffi::OsString;

    pub(super) fn table(lines: &[&str]) -> Table {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("fulcrum-xdp-plane-{}-{n}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut plane = FilePlane::new(&path);
        for l in lines {
            let mut argv: Vec<OsString> = vec!["ipvsadm".into()];
            argv.extend(l.split_whitespace().map(OsString::from));
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = crate::cli::run(
                argv,
                &mut plane,
                &crate::addr::NumericNames,
                &mut &b""[..],
                &mut out,
                &mut err,
            );
            assert_eq!(code, 0, "{l}: {}", String::from_utf8_lossy(&err));
        }
        let t = plane.load().unwrap();
        let _ = std::fs::remove_file(&path);
        t
    }

    fn hop(_: IpAddr) -> Option<NextHop> {
        Some(NextHop {
            mac: [2, 0, 0, 0, 0, 2],
            src_mac: [2, 0, 0, 0, 0, 1],
            ifindex: 7,
            src: Some(Ipv4Addr::new(198, 18, 0, 1)),
        })
    }

    #[test]
    fn dr_services_go_to_xdp_and_the_rest_says_why() {
        let t = table(&[
            "-A -t 198.18.0.10:80 -s lc",
            "-a -t 198.18.0.10:80 -r 198.18.1.1 -g -w 2",
            "-a -t 198.18.0.10:80 -r 198.18.1.2 -g",
            "-A -u 198.18.0.10:53 -s mh",
            "-a -u 198.18.0.10:53 -r 198.18.1.1 -i",
            "-A -t 198.18.0.11:80 -s rr",
            "-a -t 198.18.0.11:80 -r 198.18.1.1:8080 -m",
            "-A -t 198.18.0.12:80 -s rr -p 60 -M 255.255.255.0",
            "-a -t 198.18.0.12:80 -r 198.18.1.1 -g -x 10 -y 5",
            "-A -f 7 -s rr",
            "-A -t 198.18.0.13:80 -s lblc",
            "-A -t 198.18.0.14:80 -s rr -p 60 -M 255.0.255.0",
            "-A -t [2001:db8::10]:80 -s rr -p",
            "-A -t 198.18.0.15:80 -s sh -b sh-fallback,sh-port",
            "-A -t 198.18.0.16:80 -s mh -b mh-port,flag-3",
            "-A -t 198.18.0.17:80 -s lblcr",
            "-A -u 198.18.0.18:53 -s rr -o",
            "-A -u 198.18.0.19:53 -s rr -o",
            "-a -u 198.18.0.19:53 -r 198.18.1.1:5353 -m",
        ]);
        let (served, left) = xdp_services(&t, &mut hop, false);
        assert_eq!(served.len(), 10, "{left:?}");
        // NAT is served, with the real server's port
        assert_eq!(served[2].dests[0].method, Method::Nat);
        assert_eq!(served[2].dests[0].port, 8080);
        assert_eq!(served[0].scheduler, "lc");
        assert_eq!(served[0].dests[0].weight, 2);
        assert_eq!(served[0].dests[0].ifindex, 7);
        assert_eq!(served[0].persistence, None);
        assert_eq!(served[1].proto, 17);
        assert!(matches!(served[1].dests[0].method, Method::Tunnel { .. }));
        // persistence and thresholds are served
        assert_eq!(
            served[3].persistence,
            Some(Persistence {
                timeout: 60,
                prefix: 24
            })
        );
        assert_eq!(
            (
                served[3].dests[0].u_threshold,
                served[3].dests[0].l_threshold
            ),
            (10, 5)
        );
        assert_eq!(
            served[5].persistence,
            Some(Persistence {
                timeout: 360,
                prefix: 128
            })
        );
        // scheduler flags and the locality schedulers are served
        assert_eq!(served[4].scheduler, "lblc");
        assert_eq!(
            served[6].flags,
            SchedFlags {
                fallback: true,
                port: true
            }
        );
        assert_eq!(
            served[7].flags,
            SchedFlags {
                fallback: false,
                port: true
            }
        );
        assert_eq!(served[8].scheduler, "lblcr");
        // one-packet scheduling is served
        assert!(served[9].one_packet && !served[8].one_packet);
        assert_eq!(left.len(), 3, "{left:?}");
        assert!(left[0].contains("fwmark"), "{left:?}");
        assert!(left[1].contains("not a prefix"), "{left:?}");
        assert!(left[2].contains("one-packet"), "{left:?}");
        let (served, left) = xdp_services(&t, &mut |_| None, false);
        assert_eq!(served.len(), 6, "only the services without real servers");
        assert!(left[0].contains("not resolved"), "{left:?}");
    }
}

/// Where the XDP plane pins its maps and links (`FULCRUM_XDP_PIN_DIR`, default: the network namespace's
/// directory under [`BPFFS_DIR`](super::xdp_pins::BPFFS_DIR)).
pub const PIN_DIR_ENV: &str = "FULCRUM_XDP_PIN_DIR";

/// The nftables plane with the XDP program in front of it (see the module documentation).
#[derive(Debug)]
pub struct XdpPlane {
    nft: super::nft::NftPlane,
    pin_dir: std::path::PathBuf,
    /// Stores the XDP program failed (not for being unavailable here), for the command to report.
    warnings: Vec<String>,
    /// The services the last store put on the XDP program.
    served: Vec<u32>,
    /// When loading the program failed here, and why: stores within [`UNAVAILABLE_RETRY`] of it leave
    /// every service on nftables without loading it again (a load costs the verifier seconds).
    unavailable: Option<(std::time::Instant, String)>,
    /// Load the program on a thread of its own ([`XdpPlane::in_background`]).
    background: bool,
    /// That thread, while it runs or until a store takes its result.
    loading: Option<std::thread::JoinHandle<Result<(), fulcrum_xdp::XdpError>>>,
}

/// How long after the program failed to load a store tries again.
pub const UNAVAILABLE_RETRY: std::time::Duration = std::time::Duration::from_secs(60);

impl Default for XdpPlane {
    fn default() -> Self {
        XdpPlane {
            nft: Default::default(),
            pin_dir: std::env::var_os(PIN_DIR_ENV)
                .filter(|p| !p.is_empty())
                .map_or_else(
                    || super::xdp_pins::netns_dir(std::path::Path::new(super::xdp_pins::BPFFS_DIR)),
                    Into::into,
                ),
            warnings: Vec::new(),
            served: Vec::new(),
            unavailable: None,
            background: false,
            loading: None,
        }
    }
}

/// The planes `FULCRUM_L4_PLANE` names.
const PLANES: [&str; 2] = ["xdp", "nftables"];

/// Whether the XDP plane is selected: the default, unless `FULCRUM_L4_PLANE=nftables` (an empty value counts
/// as unset). A value naming no plane is an error, for the command to report.
pub fn selection() -> Result<bool, String> {
    match std::env::var(PLANE_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(true),
        Ok(v) if v.is_empty() || v == "xdp" => Ok(true),
        Ok(v) if v == "nftables" => Ok(false),
        Ok(v) => Err(format!(
            "{PLANE_ENV}={v}: not a data plane (one of: {})",
            PLANES.join(", ")
        )),
        Err(std::env::VarError::NotUnicode(v)) => Err(format!(
            "{PLANE_ENV}={}: not a data plane (one of: {})",
            v.to_string_lossy(),
            PLANES.join(", ")
        )),
    }
}

/// True when the XDP plane is selected (see [`selection`]; an invalid value selects nftables, the commands
/// having reported it first).
pub fn selected() -> bool {
    selection().unwrap_or(false)
}

fn sys_net(dev: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(format!("/sys/class/net/{dev}/{file}"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    v.try_into().ok()
}

fn ip_json(args: &[&str]) -> Option<serde_json::Value> {
    let out = std::process::Command::new("ip")
        .arg("-j")
        .args(args)
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// Resolves the next hop towards `addr` from the kernel's route and neighbour tables; an unresolved
/// neighbour is prodded with a datagram to the discard port and looked up again for up to a second.
pub fn resolve_next_hop(addr: IpAddr) -> Option<NextHop> {
    let a = addr.to_string();
    let route = ip_json(&["route", "get", &a])?;
    let r = route.get(0)?;
    let dev = r.get("dev")?.as_str()?.to_string();
    let via = r
        .get("gateway")
        .and_then(|g| g.as_str())
        .unwrap_or(&a)
        .to_string();
    let src = r
        .get("prefsrc")
        .and_then(|s| s.as_str())
        .and_then(|s| s.parse().ok());
    let ifindex: u32 = sys_net(&dev, "ifindex")?.parse().ok()?;
    let src_mac = parse_mac(&sys_net(&dev, "address")?)?;
    for attempt in 0..10 {
        let neigh = ip_json(&["neigh", "show", "to", &via, "dev", &dev]);
        let mac = neigh
            .as_ref()
            .and_then(|n| n.get(0))
            .and_then(|n| n.get("lladdr"))
            .and_then(|m| m.as_str())
            .and_then(parse_mac);
        if let Some(mac) = mac {
            return Some(NextHop {
                mac,
                src_mac,
                ifindex,
                src,
            });
        }
        if attempt == 0 {
            if let Ok(via_addr) = via.parse::<IpAddr>() {
                let bind: std::net::SocketAddr = if via_addr.is_ipv4() {
                    "0.0.0.0:0".parse().ok()?
                } else {
                    "[::]:0".parse().ok()?
                };
                if let Ok(s) = std::net::UdpSocket::bind(bind) {
                    let _ = s.send_to(b"", (via_addr, 9));
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    None
}

/// The devices the program is attached to: `FULCRUM_LVS_DR_DEVICES`, else every device but `lo`.
fn devices() -> Vec<String> {
    let mut devs: Vec<String> = match std::env::var(super::nft::DR_DEVICES_ENV) {
        Ok(v) if !v.trim().is_empty() => v.split(',').map(|s| s.trim().to_string()).collect(),
        _ => std::fs::read_dir("/sys/class/net")
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != "lo")
                    .collect()
            })
            .unwrap_or_default(),
    };
    // The kernel refuses a program on a device whose upper device (its bridge or bond) has one already:
    // the ports first, then what they belong to.
    devs.sort_by_key(|d| std::cmp::Reverse(uppers(d)));
    devs
}

/// The index of each of `devs` and the MAC the frames for this host come to on it: its own, or for a port of a
/// bridge or bond the MAC of the topmost device it belongs to (the XDP program leaves frames to other MACs to
/// the stack).
fn device_macs(devs: &[String]) -> Vec<(u32, [u8; 6])> {
    devs.iter()
        .filter_map(|dev| {
            let ifindex = sys_net(dev, "ifindex")?.parse().ok()?;
            let mut top = std::path::PathBuf::from(format!("/sys/class/net/{dev}"));
            for _ in 0..8 {
                match std::fs::canonicalize(top.join("master")) {
                    Ok(m) => top = m,
                    Err(_) => break,
                }
            }
            let mac = std::fs::read_to_string(top.join("address")).ok()?;
            Some((ifindex, parse_mac(mac.trim())?))
        })
        .collect()
}

/// How many upper devices (a bridge, a bond, ...) are stacked above `dev`, following `master` links.
fn uppers(dev: &str) -> usize {
    let mut n = 0;
    let mut at = std::path::PathBuf::from(format!("/sys/class/net/{dev}"));
    while n < 8 {
        match std::fs::canonicalize(at.join("master")) {
            Ok(m) => {
                n += 1;
                at = m;
            }
            Err(_) => break,
        }
    }
    n
}

impl XdpPlane {
    /// Loads the program on a thread of its own rather than in the store that first needs it (`fulcrum
    /// keepalived`): the kernel's verifier takes seconds, longer on a busy machine, and the checkers' changes
    /// keep going to the nftables plane, which serves every service until the program is in; a store then
    /// puts the services on it ([`super::DataPlane::wants_store`]).
    pub fn in_background(mut self) -> Self {
        self.background = true;
        self
    }

    /// The nftables plane behind the program (for the controller, which rewrites only its scheduling
    /// chains).
    pub fn nft_mut(&mut self) -> &mut super::nft::NftPlane {
        &mut self.nft
    }

    /// Makes sure the pin directory is on a bpf file system that later commands see (see `xdp_pins`).
    fn ensure_bpffs(&self) -> Result<(), fulcrum_xdp::XdpError> {
        let base = self.pin_dir.parent().unwrap_or(&self.pin_dir);
        super::xdp_pins::ensure_mounted(base).map_err(fulcrum_xdp::XdpError::Unavailable)?;
        std::fs::create_dir_all(&self.pin_dir).map_err(|e| {
            fulcrum_xdp::XdpError::Unavailable(format!("{}: {e}", self.pin_dir.display()))
        })?;
        super::xdp_pins::sweep_stale(base, &self.pin_dir);
        Ok(())
    }

    /// Opens the pinned maps, or loads the program, pins its maps and attaches it (links pinned).
    fn open_or_load(&mut self) -> Result<fulcrum_xdp::Xdp, fulcrum_xdp::XdpError> {
        self.ensure_bpffs()?;
        if self.pin_dir.join("services").exists() {
            match fulcrum_xdp::Xdp::open_pinned(&self.pin_dir) {
                Err(fulcrum_xdp::XdpError::OtherBuild(why)) => {
                    // Another fulcrum's program (an upgrade): its maps may be laid out otherwise, so it
                    // is replaced; its flows, counts and persistence entries go with it.
                    let w = format!(
                        "the xdp program pinned in {} is another build's ({why}): replaced by this one; its flows start afresh",
                        self.pin_dir.display()
                    );
                    tracing::warn!("{w}");
                    self.warnings.push(w);
                    super::xdp_pins::remove(&self.pin_dir);
                    self.ensure_bpffs()?;
                }
                other => return other,
            }
        }
        load_attach_pin(&self.pin_dir)
    }

    /// Loads the program on a thread of its own: one is started when none runs (`None`, or `Some(Err)` when it
    /// cannot start); `None` while it runs; `Some(result)` once it is over (the pins are in place when it
    /// succeeded).
    fn background_load(&mut self) -> Option<Result<(), fulcrum_xdp::XdpError>> {
        match self.loading.take() {
            Some(h) if h.is_finished() => Some(h.join().unwrap_or_else(|_| {
                Err(fulcrum_xdp::XdpError::Unavailable(
                    "the thread loading the program failed".into(),
                ))
            })),
            Some(h) => {
                self.loading = Some(h);
                None
            }
            None => {
                if let Err(e) = self.ensure_bpffs() {
                    return Some(Err(e));
                }
                let dir = self.pin_dir.clone();
                match std::thread::Builder::new()
                    .name("fulcrum-xdp-load".into())
                    .spawn(move || {
                        let t = std::time::Instant::now();
                        let r = load_attach_pin(&dir).map(drop);
                        tracing::info!(
                            "the xdp program is {} after {} ms",
                            if r.is_ok() { "loaded" } else { "not loaded" },
                            t.elapsed().as_millis()
                        );
                        r
                    }) {
                    Ok(h) => {
                        tracing::info!(
                            "loading the xdp program; the nftables plane serves meanwhile"
                        );
                        self.loading = Some(h);
                        None
                    }
                    Err(e) => Some(Err(fulcrum_xdp::XdpError::Unavailable(format!(
                        "cannot start the thread loading the program: {e}"
                    )))),
                }
            }
        }
    }

    /// Records that the program could not be loaded (the next try waits [`UNAVAILABLE_RETRY`]); the error to
    /// report.
    fn refused(&mut self, why: String) -> fulcrum_xdp::XdpError {
        let e = fulcrum_xdp::XdpError::Unavailable(format!(
            "{why} (tried again in {} s)",
            UNAVAILABLE_RETRY.as_secs()
        ));
        self.unavailable = Some((std::time::Instant::now(), why));
        e
    }

    /// Stores the XDP part of `table`; returns the services left to nftables (with why).
    fn store_xdp(&mut self, table: &Table) -> Result<Vec<String>, fulcrum_xdp::XdpError> {
        let syncing = !crate::sync::running().is_empty();
        let (served, left) = xdp_services(table, &mut resolve_next_hop, syncing);
        for l in &left {
            tracing::info!("served by the nftables plane: {l}");
        }
        // A background load that finished is taken now, whatever this store does (the pins are in place
        // when it succeeded; a failure waits [`UNAVAILABLE_RETRY`] before the next try).
        if self.loading.as_ref().is_some_and(|h| h.is_finished()) {
            match self.background_load() {
                Some(Err(fulcrum_xdp::XdpError::Unavailable(why))) => return Err(self.refused(why)),
                Some(Err(e)) => return Err(e),
                Some(Ok(())) | None => {}
            }
        }
        let pinned = self.pin_dir.join("services").exists();
        if served.is_empty() {
            // Nothing for the program to do: it is not loaded (or is detached), so a table of NAT
            // services costs no verifier run and no per-packet lookup.
            if pinned {
                super::xdp_pins::remove(&self.pin_dir);
                tracing::info!("no service is served by xdp: the xdp program is detached");
            }
            return Ok(left);
        }
        if !pinned && served.iter().all(|s| s.dests.is_empty()) {
            // Services without real servers forward nothing on either plane: the program is loaded
            // with the first real server (a load runs the verifier for seconds), and once loaded it
            // stays while they are empty (their flows and counts are kept when checks fail them all).
            tracing::debug!(
                "the xdp program is loaded with the first real server of an xdp service"
            );
            return Ok(left);
        }
        let plan = fulcrum_xdp::plan(&served, timeouts(table))?;
        if let Some((at, why)) = self.unavailable.as_ref().filter(|_| !pinned) {
            if at.elapsed() < UNAVAILABLE_RETRY {
                tracing::debug!(
                    "xdp unavailable {} s ago ({why}); the nftables plane serves every service",
                    at.elapsed().as_secs()
                );
                return Ok(left);
            }
        }
        if self.background && !pinned {
            // Started now, or still loading: nftables serves every service meanwhile (a failure to start
            // is said as a load failure).
            if let Some(Err(e)) = self.background_load() {
                return Err(e);
            }
            return Ok(left);
        }
        let mut x = match self.open_or_load() {
            Ok(x) => x,
            Err(fulcrum_xdp::XdpError::Unavailable(why)) => return Err(self.refused(why)),
            Err(e) => return Err(e),
        };
        self.unavailable = None;
        x.apply(&plan)?;
        x.set_device_macs(&device_macs(&devices()))?;
        // Counters the table holds at zero (`-Z`, or a service or real server new under a reused id)
        // are zeroed; the others keep counting.
        for s in table
            .services
            .iter()
            .filter(|s| served.iter().any(|v| v.id == s.id))
        {
            if s.observed.stats == Default::default() {
                x.zero_counters(s.id, None)?;
            }
            for d in s
                .dests
                .iter()
                .filter(|d| d.observed.stats == Default::default())
            {
                x.zero_counters(s.id, Some(d.id))?;
            }
        }
        for s in &served {
            tracing::info!(service = %format!("{}:{}", s.addr, s.port), "served by the xdp plane");
        }
        self.served = served.iter().map(|s| s.id).collect();
        Ok(left)
    }
}

impl super::DataPlane for XdpPlane {
    fn load(&mut self) -> Result<Table, super::PlaneError> {
        let mut table = self.nft.load()?;
        if !self.pin_dir.join("services").exists() {
            return Ok(table);
        }
        let Ok(x) = fulcrum_xdp::Xdp::open_pinned(&self.pin_dir) else {
            return Ok(table);
        };
        let served: std::collections::HashSet<u32> = x
            .services()
            .unwrap_or_default()
            .into_iter()
            .map(|(_, i)| i.id)
            .collect();
        for s in table.services.iter_mut().filter(|s| served.contains(&s.id)) {
            if let Ok(c) = x.service_counters(s.id) {
                s.observed.stats.conns = c.conns;
                s.observed.stats.inpkts = c.packets;
                s.observed.stats.inbytes = c.bytes;
                s.observed.stats.outpkts = c.out_packets;
                s.observed.stats.outbytes = c.out_bytes;
            }
            for d in s.dests.iter_mut() {
                if let Ok(c) = x.dest_counters(s.id, d.id) {
                    d.observed.stats.conns = c.conns;
                    d.observed.stats.inpkts = c.packets;
                    d.observed.stats.inbytes = c.bytes;
                    d.observed.stats.outpkts = c.out_packets;
                    d.observed.stats.outbytes = c.out_bytes;
                }
                if let Ok(c) = x.dest_conns(s.id, d.id) {
                    d.observed.active = c.active.max(0) as u32;
                    d.observed.inactive = c.inactive.max(0) as u32;
                }
                d.observed.persist = 0;
            }
        }
        let persist = x.persistence().unwrap_or_default();
        let now = monotonic_ns();
        for (k, p) in &persist {
            if !served.contains(&k.sid) || template_expire(p, now).is_none() {
                continue;
            }
            if let Some(d) = table
                .services
                .iter_mut()
                .find(|s| s.id == k.sid)
                .and_then(|s| s.dests.iter_mut().find(|d| d.id == p.didx))
            {
                d.observed.persist += 1;
            }
        }
        Ok(table)
    }

    fn store(&mut self, table: &Table) -> Result<(), super::PlaneError> {
        self.served.clear();
        self.nft.store(table)?;
        if table.services.is_empty() {
            // An empty table (`-C`, or the last service deleted): the program is detached and its maps go.
            if self.pin_dir.join("services").exists() {
                super::xdp_pins::remove(&self.pin_dir);
                tracing::info!("the table is empty: the xdp program is detached");
            }
            return Ok(());
        }
        // The nftables table is in force; XDP failing leaves every service on it.
        if let Err(e) = self.store_xdp(table) {
            tracing::warn!("{e}; the nftables plane serves every service");
            if !matches!(e, fulcrum_xdp::XdpError::Unavailable(_)) {
                self.warnings
                    .push(format!("{e}; the nftables plane serves every service"));
            }
        }
        Ok(())
    }

    fn connections(&mut self) -> Result<Vec<crate::format::ConnEntry>, super::PlaneError> {
        let mut v = self.nft.connections()?;
        if self.pin_dir.join("flows").exists() {
            if let Ok(x) = fulcrum_xdp::Xdp::open_pinned(&self.pin_dir) {
                let table = self.nft.load()?;
                let flows = x.flows().unwrap_or_default();
                let now = monotonic_ns();
                v.extend(conn_entries(&table, &flows, now));
                let persist = x.persistence().unwrap_or_default();
                v.extend(template_entries(&table, &persist, now));
            }
        }
        Ok(v)
    }

    fn live(&self) -> bool {
        true
    }

    fn lock(&mut self) -> Result<Option<super::lock::TableLock>, super::PlaneError> {
        self.nft.lock()
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn wants_store(&mut self) -> bool {
        self.loading.as_ref().is_some_and(|h| h.is_finished())
    }

    fn serves_every_tunnel(&self, id: u32) -> bool {
        self.served.contains(&id)
    }
}

/// The XDP flow table's entries as `-c` lists them; `now_ns` is CLOCK_MONOTONIC (the program's clock).
/// Flows past their idle timeout (the program drops them on their next packet) are left out.
pub fn conn_entries(
    table: &Table,
    flows: &[(fulcrum_xdp::layout::FlowKey, fulcrum_xdp::layout::Flow)],
    now_ns: u64,
) -> Vec<crate::format::ConnEntry> {
    use crate::model::Protocol;
    use fulcrum_xdp::layout::state;
    let t = timeouts(table);
    let mut v = Vec::new();
    for (k, f) in flows {
        let Some(s) = table.services.iter().find(|s| s.id == f.sid) else {
            continue;
        };
        // (a flow of a server that left its slot to another is not the new one's)
        let Some(d) = s
            .dests
            .iter()
            .find(|d| d.id == f.didx && dest_tag(d.addr, d.port) == f.tag)
        else {
            continue;
        };
        let ServiceKey::Addr { proto, addr, .. } = s.key else {
            continue;
        };
        let (name, timeout) = match (proto, f.state) {
            (Protocol::Udp, _) | (_, state::UDP) => ("UDP", t.udp),
            (_, state::OPEN) => ("ESTABLISHED", t.tcp),
            _ => ("FIN_WAIT", t.tcpfin),
        };
        let idle = now_ns.saturating_sub(f.last) / 1_000_000_000;
        if idle >= u64::from(timeout) {
            continue;
        }
        let client = if k.family == 6 {
            IpAddr::from(k.saddr)
        } else {
            IpAddr::from([k.saddr[0], k.saddr[1], k.saddr[2], k.saddr[3]])
        };
        let dport = u16::from_be(k.dport);
        v.push(crate::format::ConnEntry {
            proto,
            expire: u64::from(timeout) - idle,
            state: name.into(),
            client: (client, u16::from_be(k.sport)),
            virt: (addr, dport),
            // NAT sends to the real server's port; the other methods keep the virtual one
            dest: (
                d.addr,
                if d.forward == crate::model::Forward::Masq {
                    d.port
                } else {
                    dport
                },
            ),
        });
    }
    v
}

/// Seconds left of a persistence entry (IPVS's template timer: the whole timeout while it holds flows),
/// None when it has run out.
fn template_expire(p: &fulcrum_xdp::layout::Persist, now_ns: u64) -> Option<u64> {
    let timeout = p.timeout_ns / 1_000_000_000;
    if p.conns > 0 {
        return Some(timeout);
    }
    let idle = now_ns.saturating_sub(p.last) / 1_000_000_000;
    (idle < timeout).then(|| timeout - idle)
}

/// The XDP persistence entries as `-c` lists IPVS's templates: state `NONE`, the client's address cut
/// to the service's mask with port 0, the virtual service and the real server it is pinned to.
pub fn template_entries(
    table: &Table,
    entries: &[(
        fulcrum_xdp::layout::PersistKey,
        fulcrum_xdp::layout::Persist,
    )],
    now_ns: u64,
) -> Vec<crate::format::ConnEntry> {
    let mut v = Vec::new();
    for (k, p) in entries {
        let Some(s) = table.services.iter().find(|s| s.id == k.sid) else {
            continue;
        };
        let Some(d) = s
            .dests
            .iter()
            .find(|d| d.id == p.didx && dest_tag(d.addr, d.port) == p.tag)
        else {
            continue;
        };
        let ServiceKey::Addr { proto, addr, port } = s.key else {
            continue;
        };
        let Some(expire) = template_expire(p, now_ns) else {
            continue;
        };
        let client = if k.family == 6 {
            IpAddr::from(k.addr)
        } else {
            IpAddr::from([k.addr[0], k.addr[1], k.addr[2], k.addr[3]])
        };
        v.push(crate::format::ConnEntry {
            proto,
            expire,
            state: "NONE".into(),
            client: (client, 0),
            virt: (addr, port),
            dest: (d.addr, d.port),
        });
    }
    v
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Chooses how the program attaches (`FULCRUM_XDP_MODE`): `native` or `generic` everywhere, or by default
/// native mode on devices with a driver behind them and generic mode on virtual ones (veth delivers
/// XDP_TX/redirected frames in native mode only when its peer has XDP or GRO turned on, which a director
/// cannot know of its neighbours).
pub const XDP_MODE_ENV: &str = "FULCRUM_XDP_MODE";

/// True when `dev` gets the program in generic (skb) mode; see [`XDP_MODE_ENV`].
fn generic_mode(dev: &str) -> Result<bool, fulcrum_xdp::XdpError> {
    let has_driver = || std::path::Path::new(&format!("/sys/class/net/{dev}/device")).exists();
    match std::env::var(XDP_MODE_ENV) {
        Ok(v) => mode_is_generic(&v, has_driver),
        Err(std::env::VarError::NotPresent) => mode_is_generic("", has_driver),
        Err(std::env::VarError::NotUnicode(v)) => mode_is_generic(&v.to_string_lossy(), has_driver),
    }
}

/// [`generic_mode`] for the value `v` of [`XDP_MODE_ENV`] (empty: unset).
fn mode_is_generic(
    v: &str,
    has_driver: impl FnOnce() -> bool,
) -> Result<bool, fulcrum_xdp::XdpError> {
    match v {
        "native" => Ok(false),
        "generic" => Ok(true),
        "" => Ok(!has_driver()),
        v => Err(fulcrum_xdp::XdpError::Unavailable(format!(
            "{XDP_MODE_ENV}={v}: not an XDP mode (one of: native, generic)"
        ))),
    }
}

/// Loads the program, attaches it to the devices (links pinned under `pin_dir`) and pins its maps there.
fn load_attach_pin(pin_dir: &std::path::Path) -> Result<fulcrum_xdp::Xdp, fulcrum_xdp::XdpError> {
    let mut x = fulcrum_xdp::Xdp::load()?;
    let attached = devices().into_iter().try_for_each(|dev| {
        let pin = pin_dir.join(format!("link_{dev}"));
        let skb = generic_mode(&dev)?;
        x.attach(&dev, skb, Some(&pin))
    });
    if let Err(e) = attached.and_then(|()| x.pin(pin_dir)) {
        // The links pinned so far would keep devices busy for the next attempt.
        super::xdp_pins::remove(pin_dir);
        return Err(e);
    }
    Ok(x)
}

/// `ipvsadm --plane`: which plane serves each service of `table`. `xdp_ids` are the services in the
/// XDP program's map (None: the XDP plane is not selected); `unavailable` says why XDP cannot run here.
pub fn plane_report(table: &Table, xdp_ids: Option<&[u32]>, unavailable: Option<&str>) -> String {
    let syncing = xdp_ids.is_some() && !crate::sync::running().is_empty();
    let mut out = match (xdp_ids, unavailable) {
        (_, Some(why)) => format!("plane: nftables ({why})\n"),
        (Some(_), None) => "plane: xdp, with nftables for the services xdp does not serve\n".into(),
        (None, None) => format!("plane: nftables ({PLANE_ENV}=nftables)\n"),
    };
    for s in &table.services {
        if xdp_ids.is_some_and(|ids| ids.contains(&s.id)) {
            out.push_str(&format!("xdp       {}\n", s.key));
            continue;
        }
        let one = Table {
            services: vec![s.clone()],
            timeouts: table.timeouts,
        };
        let (_, left) = xdp_services(&one, &mut |_| None, syncing);
        let why = match left.first().and_then(|l| l.split_once(": ")) {
            Some((_, w)) => format!("  ({w})"),
            None if s.dests.is_empty()
                && xdp_ids.is_some_and(|ids| ids.is_empty())
                && unavailable.is_none() =>
            {
                "  (no real servers: the xdp program is loaded with the first)".into()
            }
            None => String::new(),
        };
        out.push_str(&format!("nftables  {}{why}\n", s.key));
    }
    out
}

/// Why the XDP plane cannot keep its program in this network namespace, if it cannot (no bpf file system where
/// every command sees it; this mounts one when it can, as a store would).
pub fn pin_problem() -> Option<String> {
    let plane = XdpPlane::default();
    let base = plane.pin_dir.parent().unwrap_or(&plane.pin_dir);
    super::xdp_pins::ensure_mounted(base)
        .err()
        .map(|e| fulcrum_xdp::XdpError::Unavailable(e).to_string())
}

/// The ids of the services in the XDP maps pinned under `pin_dir` by this build, if any.
pub fn pinned_service_ids_in(pin_dir: &std::path::Path) -> Option<Vec<u32>> {
    if !pin_dir.join("services").exists() {
        return None;
    }
    let x = fulcrum_xdp::Xdp::open_pinned(pin_dir).ok()?;
    Some(x.services().ok()?.into_iter().map(|(_, i)| i.id).collect())
}

/// The pin directory the XDP plane uses in this network namespace (`FULCRUM_XDP_PIN_DIR`, else its own
/// directory under [`super::xdp_pins::BPFFS_DIR`]).
pub fn pin_dir() -> std::path::PathBuf {
    XdpPlane::default().pin_dir
}

#[cfg(test)]
mod report_tests {
    use super::*;
    use fulcrum_xdp::layout::{state, Flow, FlowKey};

    #[test]
    fn xdp_mode_follows_the_variable_else_the_device() {
        assert!(!mode_is_generic("native", || false).unwrap());
        assert!(mode_is_generic("generic", || true).unwrap());
        assert!(mode_is_generic("", || false).unwrap(), "a virtual device");
        assert!(
            !mode_is_generic("", || true).unwrap(),
            "a device with a driver"
        );
        let e = mode_is_generic("drv", || true).unwrap_err().to_string();
        assert_eq!(
            e,
            "xdp unavailable: FULCRUM_XDP_MODE=drv: not an XDP mode (one of: native, generic)"
        );
    }

    #[test]
    fn xdp_flows_list_as_connections() {
        let t = super::tests::table(&[
            "-A -t 198.18.0.10:80 -s lc",
            "-a -t 198.18.0.10:80 -r 198.18.1.1 -g",
            "-a -t 198.18.0.10:80 -r 198.18.1.2 -g",
            "--set 900 120 300",
        ]);
        let (sid, did) = (t.services[0].id, t.services[0].dests[1].id);
        let mut key = FlowKey {
            sport: 40000u16.to_be(),
            dport: 80u16.to_be(),
            proto: 6,
            family: 4,
            ..Default::default()
        };
        key.saddr[..4].copy_from_slice(&[198, 19, 0, 7]);
        let sec = 1_000_000_000u64;
        let tag = dest_tag("198.18.1.2".parse().unwrap(), 80);
        let flow = |st, last| Flow {
            last,
            sid,
            didx: did,
            state: st,
            persist: 0,
            tag,
            pad: 0,
        };
        let now = 1000 * sec;
        let v = conn_entries(&t, &[(key, flow(state::OPEN, now - 10 * sec))], now);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].state, "ESTABLISHED");
        assert_eq!(v[0].expire, 890);
        assert_eq!(v[0].client, ("198.19.0.7".parse().unwrap(), 40000));
        assert_eq!(v[0].dest, ("198.18.1.2".parse().unwrap(), 80));
        let v = conn_entries(&t, &[(key, flow(state::CLOSING, now - 100 * sec))], now);
        assert_eq!((v[0].state.as_str(), v[0].expire), ("FIN_WAIT", 20));
        assert!(conn_entries(&t, &[(key, flow(state::CLOSING, now - 200 * sec))], now).is_empty());
        // a flow of the server that had the slot before is not listed as the new one's
        let stale = Flow {
            tag: tag ^ 1,
            ..flow(state::OPEN, now - 10 * sec)
        };
        assert!(conn_entries(&t, &[(key, stale)], now).is_empty());
    }

    #[test]
    fn persistence_entries_list_as_templates() {
        use fulcrum_xdp::layout::{Persist, PersistKey};
        let t = super::tests::table(&[
            "-A -t 198.18.0.10:80 -s rr -p 300 -M 255.255.255.0",
            "-a -t 198.18.0.10:80 -r 198.18.1.1 -g",
        ]);
        let (sid, did) = (t.services[0].id, t.services[0].dests[0].id);
        let mut key = PersistKey {
            sid,
            family: 4,
            ..Default::default()
        };
        key.addr[..3].copy_from_slice(&[198, 19, 0]);
        let sec = 1_000_000_000u64;
        let now = 1000 * sec;
        let entry = |conns, last| Persist {
            last,
            timeout_ns: 300 * sec,
            didx: did,
            conns,
            tag: dest_tag("198.18.1.1".parse().unwrap(), 80),
            ..Default::default()
        };
        let v = template_entries(&t, &[(key, entry(2, now - 500 * sec))], now);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].state, "NONE");
        assert_eq!(v[0].expire, 300, "held by flows: the whole timeout");
        assert_eq!(v[0].client, ("198.19.0.0".parse().unwrap(), 0));
        assert_eq!(v[0].virt, ("198.18.0.10".parse().unwrap(), 80));
        assert_eq!(v[0].dest, ("198.18.1.1".parse().unwrap(), 80));
        let v = template_entries(&t, &[(key, entry(0, now - 100 * sec))], now);
        assert_eq!(v[0].expire, 200);
        assert!(template_entries(&t, &[(key, entry(0, now - 300 * sec))], now).is_empty());
    }

    #[test]
    fn plane_report_names_each_services_plane() {
        let t = super::tests::table(&[
            "-A -t 198.18.0.10:80 -s lc",
            "-A -t 198.18.0.12:80 -s lblcr",
            "-A -u 198.18.0.13:53 -s sh -p 60 -M 255.0.255.0",
        ]);
        let r = plane_report(&t, Some(&[t.services[0].id]), None);
        assert!(r.starts_with("plane: xdp"), "{r}");
        assert!(r.contains("xdp       TCP 198.18.0.10:80\n"), "{r}");
        assert!(r.contains("nftables  TCP 198.18.0.12:80\n"), "{r}");
        assert!(
            r.contains(
                "nftables  UDP 198.18.0.13:53  (persistence mask 255.0.255.0 is not a prefix"
            ),
            "{r}"
        );
        // No program loaded yet: the empty service says when it will be.
        let r = plane_report(&t, Some(&[]), None);
        assert!(
            r.contains("nftables  TCP 198.18.0.10:80  (no real servers: the xdp program is loaded with the first)\n"),
            "{r}"
        );
        let r = plane_report(&t, None, None);
        assert!(
            r.starts_with("plane: nftables (FULCRUM_L4_PLANE=nftables)"),
            "{r}"
        );
        let r = plane_report(&t, Some(&[]), Some("xdp unavailable: no clang"));
        assert!(
            r.starts_with("plane: nftables (xdp unavailable: no clang)"),
            "{r}"
        );
    }
}
