//! The L4 table survives a restart of `fulcrum keepalived -I` (keepalived's `--dont-release-ipvs`): with the same
//! `virtual_server` blocks, the stopped process leaves its NAT service in place and the new one adopts it as it is,
//! so a client connecting without pause through the restart never fails. Without `-I` the service goes with the
//! process, as keepalived's does (the failures of that restart are printed for comparison).
//!
//! Needs root, `ip netns`, nft and python3 (the lab of `lvs_common`); skips without them unless
//! FULCRUM_REQUIRE_NETNS=1.

#[path = "lvs_common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{setup, Keepalived, Lab, Proc, VIP};

fn config() -> String {
    let rs = |ip: &str| {
        format!(
            "    real_server {ip} 8080 {{
        weight 1
        TCP_CHECK {{
            connect_port 8080
            connect_timeout 1
            retry 0
        }}
    }}
"
        )
    };
    format!(
        "global_defs {{
    router_id fulcrum-test
}}
virtual_server {VIP} 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
{}{}}}
",
        rs("198.18.1.2"),
        rs("198.18.1.3")
    )
}

fn listing(lab: &Lab) -> String {
    lab.ipvsadm(&["-L", "-n", "-t", &format!("{VIP}:80")], "").1
}

/// The listing without the connection counters: the service and its real servers with their weights.
fn settings(lab: &Lab) -> Vec<String> {
    listing(lab)
        .lines()
        .map(|l| l.split_whitespace().take(4).collect::<Vec<_>>().join(" "))
        .collect()
}

/// Stops the background client and returns its lines (one per connection: a server's name or FAIL).
fn results(mut client: Proc) -> Vec<String> {
    client.terminate();
    let mut lines = Vec::new();
    loop {
        let l = client.read_line();
        if l.is_empty() {
            break;
        }
        lines.push(l);
    }
    lines
}

/// Restarts keepalived (SIGTERM, then a new process with `extra` options) while a client connects without
/// pause; returns the client's lines from the whole period and the new process.
fn restart_under_traffic(
    lab: &Lab,
    k: &mut Keepalived,
    conf: &std::path::Path,
    log: &std::path::Path,
    extra: &[&str],
) -> (Vec<String>, Keepalived) {
    let client = lab.connections_background(VIP, 80, 20_000);
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    assert_eq!(k.terminate(), Some(0), "{}", k.log());
    let k2 = Keepalived::start_with(lab, conf, log.to_path_buf(), None, extra);
    // The new process's first checks run after delay_loop (1 s); traffic goes on past them.
    lab.wait_until(
        "the service back in the table",
        Duration::from_secs(10),
        || listing(lab).contains("198.18.1.3:8080"),
    );
    eprintln!("restart: {:?}", t0.elapsed());
    std::thread::sleep(Duration::from_millis(2500));
    (results(client), k2)
}

#[test]
fn the_table_survives_a_restart_with_dont_release_ipvs() {
    let Some(lab) = setup() else { return };
    let dir = std::env::temp_dir().join(format!("{}-karestart", lab.prefix));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, config()).unwrap();
    let log = dir.join("keepalived.log");
    let mut k = Keepalived::start_with(&lab, &conf, log.clone(), None, &["-I"]);
    lab.wait_until(
        "both real servers in the table",
        Duration::from_secs(10),
        || {
            let l = listing(&lab);
            l.contains("198.18.1.2:8080") && l.contains("198.18.1.3:8080")
        },
    );
    let before = settings(&lab);

    // -I: SIGTERM leaves the service; the next start adopts it; no connection fails in between.
    let (lines, mut k2) = restart_under_traffic(&lab, &mut k, &conf, &log, &["-I"]);
    let fails = lines.iter().filter(|l| l.as_str() == "FAIL").count();
    eprintln!("with -I: {} connections, {fails} failed", lines.len());
    assert!(lines.len() > 200, "too few connections: {}", lines.len());
    assert_eq!(fails, 0, "{}", k2.log());
    assert!(lines.iter().any(|l| l == "r1") && lines.iter().any(|l| l == "r2"));
    assert_eq!(settings(&lab), before);
    let klog = k2.log();
    assert!(klog.contains("--dont-release-ipvs"), "{klog}");

    // Without -I the stop removes the service, as keepalived's does.
    assert_eq!(k2.terminate(), Some(0), "{}", k2.log());
    assert!(listing(&lab).contains("198.18.1.2:8080"));
    let mut k3 = Keepalived::start_with(&lab, &conf, log.clone(), None, &[]);
    lab.wait_until("adopted again", Duration::from_secs(10), || {
        listing(&lab).contains("198.18.1.3:8080")
    });
    assert_eq!(k3.terminate(), Some(0), "{}", k3.log());
    let l = lab.ok("-L -n");
    assert!(!l.contains(&format!("{VIP}:80 ")), "{l}");
    let _ = std::fs::remove_dir_all(&dir);
}
