//! Health-driven announcement to a routing daemon (`fulcrum_announce_table`), end to end with BIRD in network
//! namespaces (the lab of `lvs_common`): the director runs `fulcrum keepalived -C` and BIRD, which learns
//! fulcrum's routing table and exports it over eBGP to BIRD in the client's namespace (the "router"); the
//! router installs the learned route in its kernel. The virtual address is announced while its service holds
//! its quorum, withdrawn when the checks fail, announced again when they pass, withdrawn at once when fulcrum
//! is killed with SIGKILL (the routes go with fulcrum's TUN device) and when it stops. The same for a table
//! kept with `fulcrum ipvsadm` alone and announced by `fulcrum ipvsadm --announce-table`, where a service is
//! healthy while one of its real servers has a weight above 0.

#[path = "lvs_common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{sh, Lab, VIP};

const DIRECTOR_BIRD: &str = "router id 198.18.0.1;
protocol device {}
protocol kernel fulcrum {
    kernel table 100;
    learn;
    scan time 1;
    ipv4 { import all; export none; };
}
protocol bgp uplink {
    local 198.18.0.1 as 65001;
    neighbor 198.18.0.2 as 65000;
    hold time 3;
    keepalive time 1;
    ipv4 { import none; export where proto = \"fulcrum\"; };
}
";

const ROUTER_BIRD: &str = "router id 198.18.0.2;
protocol device {}
protocol kernel {
    ipv4 { import none; export all; };
}
protocol bgp director {
    local 198.18.0.2 as 65000;
    neighbor 198.18.0.1 as 65001;
    hold time 3;
    keepalive time 1;
    ipv4 { import all; export none; };
}
";

/// True when the router has a route for the VIP learned from the director.
fn routed(lab: &Lab) -> bool {
    lab.exec(
        "c",
        &[
            "ip",
            "route",
            "show",
            "exact",
            &format!("{VIP}/32"),
            "proto",
            "bird",
        ],
    )
    .is_ok_and(|o| o.contains("via 198.18.0.1"))
}

/// Waits (bounded) until the router's route is `want`; returns how long it took.
fn until_routed(lab: &Lab, want: bool, within: Duration, what: &str) -> Duration {
    let t0 = Instant::now();
    lab.wait_until(what, within, || routed(lab) == want);
    t0.elapsed()
}

/// BIRD on the director (learning table 100) and on the router, with their control sockets; killed on drop.
struct Birds {
    dir: std::path::PathBuf,
    dsock: String,
    rsock: String,
    _procs: [common::Proc; 2],
}

impl Birds {
    /// Starts both daemons (None when BIRD is missing and namespace tests may be skipped).
    fn start(lab: &Lab) -> Option<Birds> {
        if sh(&["bird", "--version"]).is_err() && sh(&["which", "bird"]).is_err() {
            if std::env::var("FULCRUM_REQUIRE_NETNS").as_deref() == Ok("1") {
                panic!("bird (package bird2) is missing");
            }
            eprintln!("skipping: bird (package bird2) is missing");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("{}-announce", lab.prefix));
        std::fs::create_dir_all(&dir).unwrap();
        let dconf = Birds::file(&dir, "director-bird.conf", DIRECTOR_BIRD);
        let rconf = Birds::file(&dir, "router-bird.conf", ROUTER_BIRD);
        let dsock = dir.join("d.ctl").display().to_string();
        let rsock = dir.join("r.ctl").display().to_string();
        let procs = [
            lab.spawn("d", &["bird", "-f", "-c", &dconf, "-s", &dsock]),
            lab.spawn("c", &["bird", "-f", "-c", &rconf, "-s", &rsock]),
        ];
        Some(Birds {
            dir,
            dsock,
            rsock,
            _procs: procs,
        })
    }

    /// Writes `text` to `name` in `dir`; returns the path.
    fn file(dir: &std::path::Path, name: &str, text: &str) -> String {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    /// Prints what the director, BIRD and the router hold (for a failure).
    fn show(&self, lab: &Lab, what: &str) {
        let d = lab.exec("d", &["ip", "route", "show", "table", "100"]);
        let db = sh(&["birdc", "-s", &self.dsock, "show", "route", "all"]);
        let rp = sh(&[
            "birdc",
            "-s",
            &self.rsock,
            "show",
            "protocols",
            "all",
            "director",
        ]);
        let links = lab.exec("d", &["ip", "link"]);
        eprintln!("{what}:\ntable 100: {d:?}\ndirector bird: {db:?}\nrouter bgp: {rp:?}\nlinks: {links:?}");
    }

    /// Waits (at most 30 s: BIRD takes a few seconds to establish its session) for the first announcement;
    /// returns how long it took.
    fn first_route(&self, lab: &Lab) -> Duration {
        let started = Instant::now();
        while !routed(lab) && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if !routed(lab) {
            self.show(lab, "not announced");
            panic!("the VIP was not announced within 30 s");
        }
        started.elapsed()
    }
}

impl Drop for Birds {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[test]
fn healthy_services_are_announced_and_withdrawn_with_their_health() {
    let Some(lab) = common::setup() else { return };
    let Some(birds) = Birds::start(&lab) else {
        return;
    };
    let dir = birds.dir.clone();
    let file = |name: &str, text: &str| Birds::file(&dir, name, text);
    let conf = file(
        "keepalived.conf",
        &format!(
            "global_defs {{
    fulcrum_announce_table 100
}}
virtual_server {VIP} 8080 {{
    delay_loop 1
    lb_kind NAT
    real_server 198.18.1.2 8080 {{
        TCP_CHECK {{
            connect_timeout 1
            retry 0
        }}
    }}
}}
"
        ),
    );
    let fulcrum = env!("CARGO_BIN_EXE_fulcrum");
    let args = [fulcrum, "keepalived", "-n", "-l", "-C", "-f", &conf];
    let mut k = lab.spawn("d", &args);
    let t = birds.first_route(&lab);
    eprintln!("announced {t:?} after fulcrum and BIRD started");
    let table = lab
        .exec("d", &["ip", "route", "show", "table", "100"])
        .unwrap_or_default();
    assert!(
        table.contains(&format!("{VIP} dev fulcrum-ann proto 200")),
        "{table}"
    );

    // The real server stops answering the director's checks: quorum lost, the VIP withdrawn.
    lab.run_all(
        "r1",
        &[
            "nft add table inet block",
            "nft add chain inet block in { type filter hook input priority 0 ; }",
            "nft add rule inet block in ip saddr 198.18.1.1 tcp dport 8080 drop",
        ],
    );
    let t = until_routed(&lab, false, Duration::from_secs(10), "the VIP withdrawn");
    eprintln!("withdrawn {t:?} after the checks started failing");
    lab.run_all("r1", &["nft delete table inet block"]);
    let t = until_routed(
        &lab,
        true,
        Duration::from_secs(10),
        "the VIP announced again",
    );
    eprintln!("announced again {t:?} after the checks passed");

    // Killed outright: the TUN device goes with the process, its routes with it, and BIRD withdraws.
    drop(k);
    let t = until_routed(
        &lab,
        false,
        Duration::from_secs(5),
        "the VIP withdrawn after SIGKILL",
    );
    eprintln!("withdrawn {t:?} after SIGKILL");
    assert!(lab
        .exec("d", &["ip", "link", "show", "fulcrum-ann"])
        .is_err());

    // Started again, then stopped: withdrawn before the service goes, and the process exits 0.
    k = lab.spawn("d", &args);
    until_routed(
        &lab,
        true,
        Duration::from_secs(15),
        "the VIP announced after a restart",
    );
    assert_eq!(k.terminate(), Some(0));
    let t = until_routed(
        &lab,
        false,
        Duration::from_secs(5),
        "the VIP withdrawn on SIGTERM",
    );
    eprintln!("withdrawn {t:?} after SIGTERM");
}

#[test]
fn ipvsadm_services_are_announced_while_a_real_server_takes_connections() {
    let Some(lab) = common::setup() else { return };
    let Some(birds) = Birds::start(&lab) else {
        return;
    };
    lab.ok(&format!("-A -t {VIP}:8080 -s rr"));
    lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.2:8080 -m"));
    let fulcrum = env!("CARGO_BIN_EXE_fulcrum");
    let args = [fulcrum, "ipvsadm", "--announce-table", "100"];
    let mut a = lab.spawn("d", &args);
    let t = birds.first_route(&lab);
    eprintln!("announced {t:?} after the announcer and BIRD started");
    let table = lab
        .exec("d", &["ip", "route", "show", "table", "100"])
        .unwrap_or_default();
    assert!(
        table.contains(&format!("{VIP} dev fulcrum-ann proto 200")),
        "{table}"
    );
    let flow = lab.traffic("tcp", 8080, 3);
    assert_eq!(common::counts(&flow), (3, 0), "{flow:?}");

    // The only real server quiesced (what a checker script does to a failed server): withdrawn.
    lab.ok(&format!("-e -t {VIP}:8080 -r 198.18.1.2:8080 -m -w 0"));
    let t = until_routed(&lab, false, Duration::from_secs(5), "withdrawn at weight 0");
    eprintln!("withdrawn {t:?} after the last real server was quiesced");
    lab.ok(&format!("-e -t {VIP}:8080 -r 198.18.1.2:8080 -m -w 1"));
    let t = until_routed(&lab, true, Duration::from_secs(5), "announced at weight 1");
    eprintln!("announced again {t:?} after its weight came back");

    // Another service at the same address without real servers: the address as a whole is not served.
    lab.ok(&format!("-A -t {VIP}:8081 -s rr"));
    until_routed(
        &lab,
        false,
        Duration::from_secs(5),
        "withdrawn: :8081 empty",
    );
    lab.ok(&format!("-a -t {VIP}:8081 -r 198.18.1.3:8081 -m"));
    until_routed(
        &lab,
        true,
        Duration::from_secs(5),
        "announced: :8081 served",
    );

    // The table cleared, then restored.
    let saved = lab.ok("-S -n");
    lab.ok("-C");
    until_routed(&lab, false, Duration::from_secs(5), "withdrawn after -C");
    let (code, _, err) = lab.ipvsadm(&["-R"], &saved);
    assert_eq!((code, err.as_str()), (0, ""), "{saved}");
    until_routed(&lab, true, Duration::from_secs(5), "announced after -R");

    // Killed outright: the device and its routes go with the process.
    drop(a);
    let t = until_routed(
        &lab,
        false,
        Duration::from_secs(5),
        "withdrawn after SIGKILL",
    );
    eprintln!("withdrawn {t:?} after the announcer's SIGKILL");
    assert!(lab
        .exec("d", &["ip", "link", "show", "fulcrum-ann"])
        .is_err());

    // Started again, then stopped: withdrawn, exit 0, the table left as it was.
    a = lab.spawn("d", &args);
    until_routed(
        &lab,
        true,
        Duration::from_secs(15),
        "announced after a restart",
    );
    assert_eq!(a.terminate(), Some(0));
    let t = until_routed(&lab, false, Duration::from_secs(5), "withdrawn on SIGTERM");
    eprintln!("withdrawn {t:?} after SIGTERM");
    assert_eq!(lab.ok("-S -n"), saved);
}
