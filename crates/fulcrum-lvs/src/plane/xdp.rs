//! The XDP data plane (crate `fulcrum-xdp`), opt-in with `FULCRUM_L4_PLANE=xdp`.
//!
//! The nftables plane still stores the whole table (it remains the source of truth that `-L`/`-S` read
//! back, and it keeps serving what XDP does not); the XDP program, attached to the direct-routing devices
//! (`FULCRUM_LVS_DR_DEVICES`), runs before the nftables ingress hook and takes the packets of the
//! services it serves. [`xdp_services`] decides which those are and says why the others stay on
//! nftables: fwmark services (the mark is set after XDP), persistent services (`-p`), NAT real servers,
//! scheduler flags, thresholds (`-x`/`-y`), schedulers XDP does not implement (lblc, lblcr), tunnels other
//! than IPv4 IP-in-IP, and real servers whose next hop is not resolved.

use crate::model::{Forward, ServiceKey, Table, TunType};
use fulcrum_xdp::layout::{MAX_DESTS, MAX_SERVICES};
use fulcrum_xdp::plan::{scheduler_number, DestSpec, Method, ServiceSpec, Timeouts};
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

/// The services of `table` the XDP plane serves, and for each service left to nftables, why.
pub fn xdp_services(
    table: &Table,
    resolve: &mut dyn FnMut(IpAddr) -> Option<NextHop>,
) -> (Vec<ServiceSpec>, Vec<String>) {
    let mut served = Vec::new();
    let mut left = Vec::new();
    'svc: for s in &table.services {
        let why = |w: &str| format!("{}: {w}", s.key);
        let ServiceKey::Addr { proto, addr, port } = s.key else {
            left.push(why(
                "fwmark services stay on nftables (the mark is set after XDP runs)",
            ));
            continue;
        };
        if proto.number() != 6 && proto.number() != 17 {
            left.push(why("only TCP and UDP services"));
            continue;
        }
        if s.flags.persistent || s.pe.is_some() {
            left.push(why("persistence is not implemented in XDP"));
            continue;
        }
        if s.flags.any_sched() || s.flags.one_packet {
            left.push(why("scheduler flags and -o are not implemented in XDP"));
            continue;
        }
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
            if d.u_threshold != 0 || d.l_threshold != 0 {
                left.push(why("thresholds (-x/-y) are not implemented in XDP"));
                continue 'svc;
            }
            let method = match d.forward {
                Forward::Route => Method::Route,
                Forward::Tunnel
                    if d.tunnel.kind == TunType::Ipip && d.addr.is_ipv4() && addr.is_ipv4() =>
                {
                    match resolve(d.addr).and_then(|h| h.src) {
                        Some(src) => Method::Tunnel { src },
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
                addr: d.addr,
                port: d.port,
                weight: d.weight,
                method,
                mac: hop.mac,
                src_mac: hop.src_mac,
                ifindex: hop.ifindex,
            });
        }
        served.push(ServiceSpec {
            id: s.id,
            addr,
            port,
            proto: proto.number(),
            scheduler: s.scheduler.clone(),
            dests,
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

    fn table(lines: &[&str]) -> Table {
        let path = std::env::temp_dir().join(format!("fulcrum-xdp-plane-{}", std::process::id()));
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
            "-A -t 198.18.0.12:80 -s rr -p 60",
            "-A -f 7 -s rr",
            "-A -t 198.18.0.13:80 -s lblc",
        ]);
        let (served, left) = xdp_services(&t, &mut hop);
        assert_eq!(served.len(), 2, "{left:?}");
        assert_eq!(served[0].scheduler, "lc");
        assert_eq!(served[0].dests[0].weight, 2);
        assert_eq!(served[0].dests[0].ifindex, 7);
        assert_eq!(served[1].proto, 17);
        assert!(matches!(served[1].dests[0].method, Method::Tunnel { .. }));
        assert_eq!(left.len(), 4, "{left:?}");
        assert!(left[0].contains("Masq"), "{left:?}");
        assert!(left[1].contains("persistence"), "{left:?}");
        assert!(left[2].contains("fwmark"), "{left:?}");
        assert!(left[3].contains("lblc"), "{left:?}");
        let (served, left) = xdp_services(&t, &mut |_| None);
        assert_eq!(served.len(), 0);
        assert!(left[0].contains("not resolved"), "{left:?}");
    }
}
