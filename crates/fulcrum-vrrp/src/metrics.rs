//! Prometheus metrics of the VRRP job (text exposition 0.0.4), served at `/metrics` on the address of
//! `fulcrum_metrics_listen` in `global_defs` (a fulcrum-only keyword).
//!
//! The `keepalived_*` families carry the names and labels of the keepalived exporter most dashboards use
//! (github.com/mehdy/keepalived-exporter, which reads keepalived's dumps): per instance the counters of the
//! statistics file with labels `iname`, `intf`, `vrid` and `state`, `keepalived_vrrp_state` per virtual address,
//! and `keepalived_script_status` / `keepalived_script_state` per `vrrp_script`, so a dashboard built on that
//! exporter reads fulcrum without an exporter. The `fulcrum_vrrp_*` families add what the dumps do not show:
//! priorities, the last transition, tracked items and the errors keepalived logs without counting.
//!
//! Rendering is the daemon's once a second, off the advert path; the counters themselves are the plain per-instance
//! fields of [`crate::stats::InstanceStats`].

use std::time::UNIX_EPOCH;

use fulcrum_admin::exposition::{head, sample};

use crate::data::InstanceView;
use crate::stats::InstanceStats;

/// A `vrrp_script` as the metrics show it: name, healthy, running now.
#[derive(Debug, Clone, Copy)]
pub struct ScriptView<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its current verdict.
    pub ok: bool,
    /// Whether a run is in progress.
    pub running: bool,
}

/// One tracked item of an instance: `script` or `interface`, its name, and whether it is healthy.
pub type TrackView<'a> = (&'static str, &'a str, bool);

/// A metric family of instances: name, help, and how to read its value.
type Family<T> = (&'static str, &'static str, T);
/// Reads a counter of an instance.
type Counter = fn(&InstanceStats) -> u64;
/// Reads a gauge of an instance, as the page writes it.
type Gauge = fn(&InstanceView<'_>) -> String;

/// The keepalived exporter's per-instance counters: name, help, and the counter.
const COUNTERS: &[Family<Counter>] = &[
    (
        "keepalived_advertisements_received_total",
        "Advertisements received.",
        |s| s.adverts_received,
    ),
    (
        "keepalived_advertisements_sent_total",
        "Advertisements sent.",
        |s| s.adverts_sent,
    ),
    (
        "keepalived_become_master_total",
        "Transitions to MASTER.",
        |s| s.became_master,
    ),
    (
        "keepalived_release_master_total",
        "Transitions from MASTER.",
        |s| s.released_master,
    ),
    (
        "keepalived_packet_length_errors_total",
        "Packets of a wrong length.",
        |s| s.length_errors,
    ),
    (
        "keepalived_advertisements_interval_errors_total",
        "Adverts with another interval.",
        |s| s.advert_interval_errors,
    ),
    (
        "keepalived_ip_ttl_errors_total",
        "Adverts whose TTL or hop limit was not 255.",
        |s| s.ttl_errors,
    ),
    (
        "keepalived_invalid_type_received_total",
        "Packets of another VRRP type.",
        |s| s.invalid_type_errors,
    ),
    (
        "keepalived_address_list_errors_total",
        "Adverts whose address list differs from ours.",
        |s| s.address_list_errors,
    ),
    (
        "keepalived_authentication_invalid_total",
        "Adverts with an invalid authentication type.",
        |s| s.auth_invalid_type,
    ),
    (
        "keepalived_authentication_mismatch_total",
        "Adverts with another authentication type.",
        |s| s.auth_type_mismatch,
    ),
    (
        "keepalived_authentication_failure_total",
        "Adverts with a wrong password.",
        |s| s.auth_failure,
    ),
    (
        "keepalived_priority_zero_received_total",
        "Priority 0 adverts received.",
        |s| s.priority_zero_received,
    ),
    (
        "keepalived_priority_zero_sent_total",
        "Priority 0 adverts sent.",
        |s| s.priority_zero_sent,
    ),
    (
        "fulcrum_vrrp_checksum_errors_total",
        "Adverts with a bad checksum (keepalived logs them without counting).",
        |s| s.checksum_errors,
    ),
    (
        "fulcrum_vrrp_version_errors_total",
        "Packets of another VRRP version (keepalived logs them without counting).",
        |s| s.version_errors,
    ),
];

/// keepalived's number for a state (`INIT` 0, `BACKUP` 1, `MASTER` 2, `FAULT` 3).
fn state_number(state: &str) -> u8 {
    match state {
        "BACKUP" => 1,
        "MASTER" => 2,
        "FAULT" => 3,
        _ => 0,
    }
}

/// The exposition text for `instances` (each with its tracked items) and the `vrrp_script`s.
pub fn render(
    instances: &[(InstanceView<'_>, Vec<TrackView<'_>>)],
    scripts: &[ScriptView<'_>],
) -> String {
    let mut out = String::new();
    let o = &mut out;
    head(
        o,
        "keepalived_up",
        "gauge",
        "Whether the VRRP job runs (always 1 when this page answers).",
    );
    sample::<&str>(o, "keepalived_up", &[], 1);
    let vrids: Vec<String> = instances.iter().map(|(i, _)| i.vrid.to_string()).collect();
    let common = |i: &InstanceView<'_>, vrid: &str| -> [(&str, String); 4] {
        [
            ("iname", i.name.to_string()),
            ("intf", i.interface.to_string()),
            ("vrid", vrid.to_string()),
            ("state", i.state.to_string()),
        ]
    };
    for (name, help, get) in COUNTERS {
        head(o, name, "counter", help);
        for ((i, _), vrid) in instances.iter().zip(&vrids) {
            let l = common(i, vrid);
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
            sample(o, name, &l, get(i.stats));
        }
    }
    head(o, "keepalived_gratuitous_arp_delay_total", "counter", "The gratuitous ARP delay after becoming master, in seconds (the keepalived exporter's name).");
    for ((i, _), vrid) in instances.iter().zip(&vrids) {
        let l = common(i, vrid);
        let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        sample(
            o,
            "keepalived_gratuitous_arp_delay_total",
            &l,
            i.garp.delay.as_secs(),
        );
    }
    head(
        o,
        "keepalived_vrrp_state",
        "gauge",
        "State per virtual address: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.",
    );
    for ((i, _), vrid) in instances.iter().zip(&vrids) {
        for &(addr, _, dev, _, _) in &i.vips {
            let a = addr.to_string();
            sample(
                o,
                "keepalived_vrrp_state",
                &[
                    ("iname", i.name),
                    ("intf", dev),
                    ("vrid", vrid),
                    ("ip_address", &a),
                ],
                state_number(i.state),
            );
        }
    }
    head(
        o,
        "keepalived_script_status",
        "gauge",
        "vrrp_script verdict: 1 good, 0 bad.",
    );
    for s in scripts {
        sample(
            o,
            "keepalived_script_status",
            &[("name", s.name)],
            u8::from(s.ok),
        );
    }
    head(
        o,
        "keepalived_script_state",
        "gauge",
        "vrrp_script run: 0 idle, 1 running.",
    );
    for s in scripts {
        sample(
            o,
            "keepalived_script_state",
            &[("name", s.name)],
            u8::from(s.running),
        );
    }
    let per_instance: [Family<Gauge>; 5] = [
        ("fulcrum_vrrp_priority", "The configured priority.", |i| {
            i.priority.to_string()
        }),
        (
            "fulcrum_vrrp_effective_priority",
            "The priority after tracked weights.",
            |i| i.effective_priority.to_string(),
        ),
        (
            "fulcrum_vrrp_master_priority",
            "The priority of the master last obeyed as a backup (0 before any).",
            |i| i.master_priority.to_string(),
        ),
        (
            "fulcrum_vrrp_advert_interval_seconds",
            "The master's advert interval as known here.",
            |i| format!("{}", i.master_advert_interval.as_secs_f64()),
        ),
        (
            "fulcrum_vrrp_last_transition_timestamp_seconds",
            "When the state last changed (the start when it never did).",
            |i| {
                let d = i
                    .last_transition
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                format!("{}.{:06}", d.as_secs(), d.subsec_micros())
            },
        ),
    ];
    for (name, help, get) in per_instance {
        head(o, name, "gauge", help);
        for ((i, _), vrid) in instances.iter().zip(&vrids) {
            sample(
                o,
                name,
                &[("iname", i.name), ("intf", i.interface), ("vrid", vrid)],
                get(i),
            );
        }
    }
    head(
        o,
        "fulcrum_vrrp_last_transition_info",
        "gauge",
        "Always 1: the instance's state and why it last changed, in the labels.",
    );
    for ((i, _), vrid) in instances.iter().zip(&vrids) {
        sample(
            o,
            "fulcrum_vrrp_last_transition_info",
            &[
                ("iname", i.name),
                ("intf", i.interface),
                ("vrid", vrid),
                ("state", i.state),
                ("reason", i.last_reason),
            ],
            1,
        );
    }
    head(
        o,
        "fulcrum_vrrp_tracked_up",
        "gauge",
        "Each tracked script or interface of an instance: 1 healthy, 0 not.",
    );
    for (i, tracks) in instances {
        for &(kind, name, ok) in tracks {
            sample(
                o,
                "fulcrum_vrrp_tracked_up",
                &[("iname", i.name), ("kind", kind), ("name", name)],
                u8::from(ok),
            );
        }
    }
    out
}
