//! The checkers' Prometheus metrics: per virtual server its quorum, per real server its verdict, weight and
//! transitions, per checker its verdict, check counts and the last check's duration. Served with the VRRP job's
//! families at `fulcrum_metrics_listen` (or alone with `-C`), followed by the L4 table's `node_ipvs_*` families
//! when the checkers own a table (fulcrum-lvs renders those). Pure: the control thread builds the views once a
//! second, off the checks' path.

use std::net::SocketAddr;
use std::time::Duration;

use fulcrum_admin::exposition::{head, sample};

/// A virtual server as the page shows it.
#[derive(Debug, Clone)]
pub struct VsView {
    /// keepalived's name for it (`[IP]:tcp:PORT`, `FWM N`, `group NAME`).
    pub name: String,
    /// Whether it holds its quorum (its real servers are in the table).
    pub quorum: bool,
    /// The sum of the weights of the real servers that are up.
    pub live_weight: u64,
    /// Its `quorum` setting.
    pub quorum_needed: u32,
    /// Its real servers.
    pub servers: Vec<RsView>,
}

/// A real server as the page shows it.
#[derive(Debug, Clone)]
pub struct RsView {
    /// Its address and port.
    pub addr: SocketAddr,
    /// Whether every checker of it passes.
    pub up: bool,
    /// Its weight: the configured one, or what its last MISC_CHECK dynamic answer set.
    pub weight: u32,
    /// How often it went down or up.
    pub transitions: u64,
    /// Its checkers, in the configuration's order.
    pub checkers: Vec<CheckerView>,
}

/// One checker of a real server.
#[derive(Debug, Clone)]
pub struct CheckerView {
    /// `TCP_CHECK`, `HTTP_GET`, ...
    pub kind: String,
    /// What it connects to (`connect_ip`/`connect_port` or the real server).
    pub target: SocketAddr,
    /// Its verdict after its retries.
    pub up: bool,
    /// Checks that passed and failed.
    pub passed: u64,
    pub failed: u64,
    /// How long the last check took.
    pub last_duration: Option<Duration>,
}

fn rs_label(a: SocketAddr) -> String {
    format!("[{}]:{}", a.ip(), a.port())
}

/// The exposition text for `services`.
pub fn render(services: &[VsView]) -> String {
    let mut out = String::new();
    let o = &mut out;
    head(
        o,
        "fulcrum_checker_virtual_server_quorum_up",
        "gauge",
        "1 while the virtual server holds its quorum (its real servers are in the table), else 0.",
    );
    for v in services {
        sample(
            o,
            "fulcrum_checker_virtual_server_quorum_up",
            &[("virtual_server", v.name.as_str())],
            u8::from(v.quorum),
        );
    }
    head(
        o,
        "fulcrum_checker_virtual_server_live_weight",
        "gauge",
        "The sum of the weights of the real servers that are up (compared with quorum).",
    );
    for v in services {
        sample(
            o,
            "fulcrum_checker_virtual_server_live_weight",
            &[("virtual_server", v.name.as_str())],
            v.live_weight,
        );
    }
    head(
        o,
        "fulcrum_checker_virtual_server_quorum",
        "gauge",
        "The quorum setting of the virtual server.",
    );
    for v in services {
        sample(
            o,
            "fulcrum_checker_virtual_server_quorum",
            &[("virtual_server", v.name.as_str())],
            v.quorum_needed,
        );
    }
    type RsFamily = (&'static str, &'static str, &'static str, fn(&RsView) -> u64);
    const RS: [RsFamily; 3] = [
        (
            "fulcrum_checker_real_server_up",
            "gauge",
            "1 while every checker of the real server passes, else 0.",
            |r| u64::from(r.up),
        ),
        (
            "fulcrum_checker_real_server_weight",
            "gauge",
            "The weight of the real server (configured, or set by a MISC_CHECK's exit code).",
            |r| u64::from(r.weight),
        ),
        (
            "fulcrum_checker_real_server_transitions_total",
            "counter",
            "How often the real server went down or came back.",
            |r| r.transitions,
        ),
    ];
    for (name, kind, help, get) in RS {
        head(o, name, kind, help);
        for v in services {
            for r in &v.servers {
                let rs = rs_label(r.addr);
                sample(
                    o,
                    name,
                    &[
                        ("virtual_server", v.name.as_str()),
                        ("real_server", rs.as_str()),
                    ],
                    get(r),
                );
            }
        }
    }
    let checkers = || {
        services.iter().flat_map(|v| {
            v.servers.iter().flat_map(move |r| {
                r.checkers
                    .iter()
                    .enumerate()
                    .map(move |(i, c)| (v, r, i, c))
            })
        })
    };
    let labels =
        |v: &VsView, r: &RsView, i: usize, c: &CheckerView| -> [(&'static str, String); 5] {
            [
                ("virtual_server", v.name.clone()),
                ("real_server", rs_label(r.addr)),
                ("checker", c.kind.clone()),
                ("index", i.to_string()),
                ("target", rs_label(c.target)),
            ]
        };
    head(
        o,
        "fulcrum_checker_up",
        "gauge",
        "1 while the checker's verdict (after its retries) is up, else 0.",
    );
    for (v, r, i, c) in checkers() {
        sample(o, "fulcrum_checker_up", &labels(v, r, i, c), u8::from(c.up));
    }
    head(
        o,
        "fulcrum_checker_checks_total",
        "counter",
        "Checks run, by result (passed or failed).",
    );
    for (v, r, i, c) in checkers() {
        let mut l: Vec<(&str, String)> = labels(v, r, i, c).into();
        l.push(("result", "passed".into()));
        sample(o, "fulcrum_checker_checks_total", &l, c.passed);
        l.pop();
        l.push(("result", "failed".into()));
        sample(o, "fulcrum_checker_checks_total", &l, c.failed);
    }
    head(
        o,
        "fulcrum_checker_last_check_duration_seconds",
        "gauge",
        "How long the checker's last check took.",
    );
    for (v, r, i, c) in checkers() {
        if let Some(d) = c.last_duration {
            sample(
                o,
                "fulcrum_checker_last_check_duration_seconds",
                &labels(v, r, i, c),
                d.as_secs_f64(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> Vec<VsView> {
        vec![VsView {
            name: "[198.18.0.1]:tcp:80".into(),
            quorum: true,
            live_weight: 1,
            quorum_needed: 1,
            servers: vec![
                RsView {
                    addr: "198.18.0.2:80".parse().unwrap(),
                    up: true,
                    weight: 1,
                    transitions: 2,
                    checkers: vec![CheckerView {
                        kind: "HTTP_GET".into(),
                        target: "198.18.0.2:8080".parse().unwrap(),
                        up: true,
                        passed: 5,
                        failed: 1,
                        last_duration: Some(Duration::from_millis(3)),
                    }],
                },
                RsView {
                    addr: "[fd00::3]:80".parse().unwrap(),
                    up: false,
                    weight: 2,
                    transitions: 1,
                    checkers: vec![CheckerView {
                        kind: "TCP_CHECK".into(),
                        target: "[fd00::3]:80".parse().unwrap(),
                        up: false,
                        passed: 0,
                        failed: 4,
                        last_duration: None,
                    }],
                },
            ],
        }]
    }

    #[test]
    fn every_family_and_server_is_written() {
        let page = render(&view());
        for line in [
            "fulcrum_checker_virtual_server_quorum_up{virtual_server=\"[198.18.0.1]:tcp:80\"} 1",
            "fulcrum_checker_real_server_up{virtual_server=\"[198.18.0.1]:tcp:80\",real_server=\"[198.18.0.2]:80\"} 1",
            "fulcrum_checker_real_server_up{virtual_server=\"[198.18.0.1]:tcp:80\",real_server=\"[fd00::3]:80\"} 0",
            "fulcrum_checker_real_server_weight{virtual_server=\"[198.18.0.1]:tcp:80\",real_server=\"[fd00::3]:80\"} 2",
            "fulcrum_checker_real_server_transitions_total{virtual_server=\"[198.18.0.1]:tcp:80\",real_server=\"[198.18.0.2]:80\"} 2",
            "fulcrum_checker_up{virtual_server=\"[198.18.0.1]:tcp:80\",real_server=\"[198.18.0.2]:80\",checker=\"HTTP_GET\",index=\"0\",target=\"[198.18.0.2]:8080\"} 1",
            "fulcrum_checker_checks_total{virtual_server=\"[198.18.0.1]:tcp:80\",real_server=\"[fd00::3]:80\",checker=\"TCP_CHECK\",index=\"0\",target=\"[fd00::3]:80\",result=\"failed\"} 4",
            "fulcrum_checker_last_check_duration_seconds{virtual_server=\"[198.18.0.1]:tcp:80\",real_server=\"[198.18.0.2]:80\",checker=\"HTTP_GET\",index=\"0\",target=\"[198.18.0.2]:8080\"} 0.003",
        ] {
            assert!(page.lines().any(|l| l == line), "missing {line} in\n{page}");
        }
        // A checker that never ran has no duration sample.
        assert!(!page.contains("last_check_duration_seconds{virtual_server=\"[198.18.0.1]:tcp:80\",real_server=\"[fd00::3]:80\""));
        // Each family has one HELP and one TYPE line.
        assert_eq!(page.matches("# TYPE fulcrum_checker_up ").count(), 1);
    }
}
