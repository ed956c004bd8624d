//! What the table should hold, from the configuration and the checkers' verdicts: pure, no I/O.
//!
//! keepalived's rules: a real server is in its service while all of its checkers pass (with
//! `inhibit_on_failure` a failed one stays at weight 0 instead of leaving). A service has quorum while the
//! weights of its live real servers add up to at least `quorum`; with `hysteresis` H it loses quorum below
//! `quorum - H` and regains it at `quorum + H`. While quorum is lost and a `sorry_server` is set, the sorry
//! server alone takes the traffic (live real servers leave; inhibited ones stay at weight 0); otherwise the
//! sorry server is absent (or at weight 0 with `sorry_server_inhibit`).

use std::net::SocketAddr;

use fulcrum_config::keepalived::{
    GroupMember, LbKind, RealServer, VirtualServer, VirtualServerGroup, VsProtocol, VsTarget,
};
use fulcrum_lvs::model::{
    DestSpec, Forward, Netmask, Protocol, ServiceFlags, ServiceKey, ServiceSpec, Tunnel,
};

/// A real server's health as the checkers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// Every checker passes.
    pub up: bool,
    /// The weight to use while up (the configured one, or the last `misc_dynamic` verdict).
    pub weight: u32,
}

/// The table keys a virtual server stands for (one, or one per group member).
pub fn service_keys(vs: &VirtualServer, groups: &[VirtualServerGroup]) -> Vec<ServiceKey> {
    let proto = match vs.protocol {
        VsProtocol::Tcp => Protocol::Tcp,
        VsProtocol::Udp => Protocol::Udp,
        VsProtocol::Sctp => Protocol::Sctp,
    };
    let addr = |a: SocketAddr| ServiceKey::Addr {
        proto,
        addr: a.ip(),
        port: a.port(),
    };
    let mark = |m: u32| ServiceKey::Fwmark {
        mark: m,
        ipv6: vs.ipv6,
    };
    match &vs.target {
        VsTarget::Addr(a) => vec![addr(*a)],
        VsTarget::Fwmark(m) => vec![mark(*m)],
        VsTarget::Group(name) => groups
            .iter()
            .find(|g| &g.name == name)
            .map(|g| {
                g.members
                    .iter()
                    .map(|m| match m {
                        GroupMember::Addr(a) => addr(*a),
                        GroupMember::Fwmark(f) => mark(*f),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The service settings (`ipvsadm -A`) of `vs` under `key`.
pub fn service_spec(vs: &VirtualServer, key: ServiceKey) -> ServiceSpec {
    let netmask = match vs.persistence_granularity.as_deref() {
        Some(g) => match g.parse::<std::net::Ipv4Addr>() {
            Ok(m) => Netmask::V4(m),
            Err(_) => Netmask::Prefix(g.parse().unwrap_or(128)),
        },
        None => Netmask::default_for(key.is_ipv6()),
    };
    ServiceSpec {
        key,
        scheduler: vs.scheduler.clone(),
        flags: ServiceFlags {
            persistent: vs.persistence_timeout.is_some(),
            one_packet: vs.ops,
            sched1: vs.sched_flags[0],
            sched2: vs.sched_flags[1],
            sched3: vs.sched_flags[2],
        },
        timeout: vs.persistence_timeout.unwrap_or(0),
        netmask,
        pe: None,
    }
}

fn forward(k: LbKind) -> Forward {
    match k {
        LbKind::Nat => Forward::Masq,
        LbKind::Dr => Forward::Route,
        LbKind::Tun => Forward::Tunnel,
    }
}

fn dest(addr: SocketAddr, kind: LbKind, weight: u32, thresholds: (u32, u32)) -> DestSpec {
    DestSpec {
        addr: addr.ip(),
        port: addr.port(),
        forward: forward(kind),
        weight,
        u_threshold: thresholds.0,
        l_threshold: thresholds.1,
        tunnel: Tunnel::default(),
    }
}

fn real(rs: &RealServer, weight: u32) -> DestSpec {
    dest(rs.addr, rs.lb_kind, weight, (rs.uthreshold, rs.lthreshold))
}

/// Sum of the weights of the live real servers.
pub fn live_weight(health: &[Health]) -> u64 {
    health
        .iter()
        .filter(|h| h.up)
        .map(|h| u64::from(h.weight))
        .sum()
}

/// Whether the service has quorum after a change, given whether it had it (`hysteresis` as keepalived).
pub fn quorum_after(had: bool, live: u64, quorum: u32, hysteresis: u32) -> bool {
    let (q, h) = (u64::from(quorum), u64::from(hysteresis));
    if had {
        live + h >= q
    } else {
        live >= q + h
    }
}

/// The real servers (and sorry server) `vs` should have in the table, given each real server's health
/// (same order as `vs.real_servers`) and whether the service has quorum.
pub fn dests(vs: &VirtualServer, health: &[Health], quorum: bool) -> Vec<DestSpec> {
    let sorry_in_use = !quorum && vs.sorry_server.is_some();
    let mut out = Vec::new();
    for (rs, h) in vs.real_servers.iter().zip(health) {
        if h.up && !sorry_in_use {
            out.push(real(rs, h.weight));
        } else if rs.inhibit_on_failure {
            out.push(real(rs, 0));
        }
    }
    if let Some(addr) = vs.sorry_server {
        if sorry_in_use || vs.sorry_server_inhibit {
            let kind = vs.sorry_server_lb_kind.unwrap_or(vs.lb_kind);
            out.push(dest(addr, kind, u32::from(sorry_in_use), (0, 0)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fulcrum_config::keepalived::parse_str;

    fn vs(text: &str) -> (VirtualServer, Vec<VirtualServerGroup>) {
        let c = parse_str("t.conf", text).unwrap();
        (c.virtual_servers[0].clone(), c.vs_groups)
    }

    const TWO: &str = "
virtual_server 198.18.0.100 80 {
    lb_algo rr
    persistence_timeout
    quorum 3
    hysteresis 1
    sorry_server 198.18.1.9 80
    real_server 198.18.1.2 80 {
        weight 2
    }
    real_server 198.18.1.3 80 {
        weight 2
        inhibit_on_failure
    }
}";

    fn up(w: u32) -> Health {
        Health {
            up: true,
            weight: w,
        }
    }
    fn down(w: u32) -> Health {
        Health {
            up: false,
            weight: w,
        }
    }

    #[test]
    fn keys_and_spec() {
        let (v, g) = vs(TWO);
        let keys = service_keys(&v, &g);
        assert_eq!(keys.len(), 1);
        let spec = service_spec(&v, keys[0]);
        assert_eq!(spec.scheduler, "rr");
        assert!(spec.flags.persistent);
        assert_eq!(spec.timeout, 360);
        let (v, g) = vs("
virtual_server_group G {
    198.18.0.1-2 80
    fwmark 9
}
virtual_server group G {
    real_server fd00::1 80 {
    }
}");
        assert_eq!(
            service_keys(&v, &g),
            [
                ServiceKey::Addr {
                    proto: Protocol::Tcp,
                    addr: "198.18.0.1".parse().unwrap(),
                    port: 80
                },
                ServiceKey::Addr {
                    proto: Protocol::Tcp,
                    addr: "198.18.0.2".parse().unwrap(),
                    port: 80
                },
                ServiceKey::Fwmark {
                    mark: 9,
                    ipv6: true
                },
            ]
        );
    }

    #[test]
    fn failed_servers_leave_or_stay_at_zero() {
        let (v, _) = vs(TWO);
        let d = dests(&v, &[up(2), up(2)], true);
        assert_eq!(d.iter().map(|d| d.weight).collect::<Vec<_>>(), [2, 2]);
        let d = dests(&v, &[down(2), down(2)], true);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].port, d[0].weight), (80, 0));
        assert_eq!(d[0].addr.to_string(), "198.18.1.3");
        assert_eq!(d[0].forward, Forward::Masq);
    }

    #[test]
    fn quorum_with_hysteresis_and_the_sorry_server() {
        // quorum 3, hysteresis 1: lost below 2, regained at 4.
        assert!(quorum_after(true, 2, 3, 1));
        assert!(!quorum_after(true, 1, 3, 1));
        assert!(!quorum_after(false, 3, 3, 1));
        assert!(quorum_after(false, 4, 3, 1));
        let (v, _) = vs(TWO);
        let d = dests(&v, &[up(2), down(2)], false);
        let got: Vec<String> = d
            .iter()
            .map(|d| format!("{}:{}={}", d.addr, d.port, d.weight))
            .collect();
        assert_eq!(got, ["198.18.1.3:80=0", "198.18.1.9:80=1"]);
        assert_eq!(live_weight(&[up(2), down(2), up(5)]), 7);
    }

    /// The schedulers keepalived.conf accepts are exactly those of the L4 table (two lists in two crates
    /// that must not drift apart).
    #[test]
    fn configured_schedulers_are_the_tables() {
        for s in fulcrum_lvs::model::SCHEDULERS {
            let text = format!("virtual_server 198.18.0.1 80 {{\n lb_algo {s}\n}}\n");
            assert_eq!(vs(&text).0.scheduler, s);
        }
        assert!(parse_str(
            "t.conf",
            "virtual_server 198.18.0.1 80 {\n lb_algo twos\n}\n"
        )
        .is_err());
    }

    #[test]
    fn sorry_server_inhibit_keeps_it_at_zero() {
        let (v, _) = vs("
virtual_server 198.18.0.100 80 {
    sorry_server 198.18.1.9 80
    sorry_server_inhibit
    sorry_server_lvs_method DR
    real_server 198.18.1.2 80 {
    }
}");
        let d = dests(&v, &[up(1)], true);
        assert_eq!(d.len(), 2);
        assert_eq!((d[1].weight, d[1].forward), (0, Forward::Route));
        let d = dests(&v, &[down(1)], false);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].weight, 1);
    }
}
