//! `fulcrum ipvsadm --metrics ADDR`: the L4 table's counters as Prometheus metrics (text exposition 0.0.4) at
//! `http://ADDR/metrics`, read from the data plane once a second until SIGTERM.
//!
//! The `node_ipvs_*` families have the names, types and labels of the node exporter's IPVS collector (totals of
//! every service; per real server active and inactive connections and weight, labelled `local_address`,
//! `local_port`, `remote_address`, `remote_port`, `proto`, `local_mark`), so dashboards made for IPVS hosts read
//! fulcrum's table unchanged. The node exporter reads `/proc/net/ip_vs`, which fulcrum's nftables plane does not
//! fill; the `fulcrum_ipvs_*` families add the per-service and per-real-server counters that file does not carry.

use std::net::IpAddr;

use fulcrum_admin::exposition::{head, sample};

use crate::model::{Observed, ServiceKey, Stats, Table};

/// The labels of a service: local address, port, protocol and mark, as the node exporter writes them (a fwmark
/// service has no address, port 0, protocol `FWM` and its mark in eight hex digits, as `/proc/net/ip_vs` shows it).
fn service_labels(key: &ServiceKey) -> [(&'static str, String); 4] {
    match *key {
        ServiceKey::Addr { proto, addr, port } => [
            ("local_address", addr.to_string()),
            ("local_port", port.to_string()),
            ("proto", proto.label().to_string()),
            ("local_mark", String::new()),
        ],
        ServiceKey::Fwmark { mark, .. } => [
            ("local_address", String::new()),
            ("local_port", "0".to_string()),
            ("proto", "FWM".to_string()),
            ("local_mark", format!("{mark:08X}")),
        ],
    }
}

/// A metric family: name (or suffix), help, and how to read its value.
type Family<T> = (&'static str, &'static str, T);
/// Reads a counter.
type Counter = fn(&Stats) -> u64;
/// Reads a real server's gauge from its figures and weight.
type Gauge = fn(&Observed, u32) -> u64;
/// A real server's labels, figures and weight.
type Backend<'t> = ([(&'static str, String); 6], &'t Observed, u32);

/// The five counters of a service or real server: name suffix, help, reader.
const COUNTERS: [Family<Counter>; 5] = [
    ("connections_total", "connections scheduled", |s| s.conns),
    ("incoming_packets_total", "packets from clients", |s| {
        s.inpkts
    }),
    ("outgoing_packets_total", "packets to clients", |s| {
        s.outpkts
    }),
    ("incoming_bytes_total", "bytes from clients", |s| s.inbytes),
    ("outgoing_bytes_total", "bytes to clients", |s| s.outbytes),
];

/// The exposition text for `table`.
pub fn render(table: &Table) -> String {
    let mut out = String::new();
    let o = &mut out;
    for (suffix, help, get) in COUNTERS {
        let name = format!("node_ipvs_{suffix}");
        head(
            o,
            &name,
            "counter",
            &format!("The total number of {help}, all services together."),
        );
        let total: u64 = table.services.iter().map(|s| get(&s.observed.stats)).sum();
        sample::<&str>(o, &name, &[], total);
    }
    let backends: Vec<Backend<'_>> = table
        .services
        .iter()
        .flat_map(|s| {
            let [la, lp, pr, lm] = service_labels(&s.key);
            s.dests.iter().map(move |d| {
                let remote = match d.addr {
                    IpAddr::V4(a) => a.to_string(),
                    IpAddr::V6(a) => a.to_string(),
                };
                (
                    [
                        la.clone(),
                        lp.clone(),
                        ("remote_address", remote),
                        ("remote_port", d.port.to_string()),
                        pr.clone(),
                        lm.clone(),
                    ],
                    &d.observed,
                    d.weight,
                )
            })
        })
        .collect();
    let gauges: [Family<Gauge>; 3] = [
        (
            "node_ipvs_backend_connections_active",
            "The current active connections by local and remote address.",
            |o, _| u64::from(o.active),
        ),
        (
            "node_ipvs_backend_connections_inactive",
            "The current inactive connections by local and remote address.",
            |o, _| u64::from(o.inactive),
        ),
        (
            "node_ipvs_backend_weight",
            "The current backend weight by local and remote address.",
            |_, w| u64::from(w),
        ),
    ];
    for (name, help, get) in gauges {
        head(o, name, "gauge", help);
        for (labels, obs, weight) in &backends {
            sample(o, name, labels, get(obs, *weight));
        }
    }
    for (suffix, help, get) in COUNTERS {
        let name = format!("fulcrum_ipvs_service_{suffix}");
        head(
            o,
            &name,
            "counter",
            &format!("The number of {help}, per virtual service."),
        );
        for s in &table.services {
            sample(o, &name, &service_labels(&s.key), get(&s.observed.stats));
        }
        let name = format!("fulcrum_ipvs_backend_{suffix}");
        head(
            o,
            &name,
            "counter",
            &format!("The number of {help}, per real server."),
        );
        for (labels, obs, _) in &backends {
            sample(o, &name, labels, get(&obs.stats));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DestSpec, Forward, Netmask, Protocol, ServiceFlags, ServiceSpec, Tunnel};

    #[test]
    fn node_exporter_names_and_labels() {
        let mut t = Table::new();
        let spec = |key| ServiceSpec {
            key,
            scheduler: "rr".into(),
            flags: ServiceFlags::default(),
            timeout: 0,
            netmask: Netmask::default_for(false),
            pe: None,
        };
        let web = ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: "198.18.0.100".parse().unwrap(),
            port: 80,
        };
        t.add_service(spec(web)).unwrap();
        t.add_service(spec(ServiceKey::Fwmark {
            mark: 10,
            ipv6: false,
        }))
        .unwrap();
        t.add_dest(
            &web,
            DestSpec {
                addr: "198.18.1.2".parse().unwrap(),
                port: 8080,
                forward: Forward::Masq,
                weight: 3,
                u_threshold: 0,
                l_threshold: 0,
                tunnel: Tunnel::default(),
            },
        )
        .unwrap();
        let s = &mut t.services[0];
        s.observed.stats.conns = 7;
        s.dests[0].observed.active = 2;
        s.dests[0].observed.stats.conns = 7;
        let m = render(&t);
        let labels = r#"local_address="198.18.0.100",local_port="80",remote_address="198.18.1.2",remote_port="8080",proto="TCP",local_mark="""#;
        for line in [
            "node_ipvs_connections_total 7".to_string(),
            format!("node_ipvs_backend_connections_active{{{labels}}} 2"),
            format!("node_ipvs_backend_weight{{{labels}}} 3"),
            format!("fulcrum_ipvs_backend_connections_total{{{labels}}} 7"),
            r#"fulcrum_ipvs_service_connections_total{local_address="",local_port="0",proto="FWM",local_mark="0000000A"} 0"#.to_string(),
        ] {
            assert!(m.lines().any(|l| l == line), "{line} not in\n{m}");
        }
    }
}
