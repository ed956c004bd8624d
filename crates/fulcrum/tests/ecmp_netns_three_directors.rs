//! Active-active directors behind ECMP (#22), end to end in network namespaces: a router running BIRD 2 with
//! multipath routes and an L4 flow hash, three directors each running BIRD and `fulcrum keepalived` (a direct
//! routing `mh` service with `mh-port`, three real servers with TCP checks, `fulcrum_announce_table`), and a
//! client behind the router.
//!
//! ```text
//!   c 198.18.0.2 ── brc ── 198.18.0.1 rt 198.18.2.1 ── brf ── d1 .11, d2 .12, d3 .13 (front)
//!                           rt 198.18.1.1 ── brb ── d1 .11, d2 .12, d3 .13 (back), r1 .2, r2 .3, r3 .4
//! ```
//!
//! The real servers hold the VIP on `lo` and answer the client directly through the router (their default
//! gateway on the back segment). Checked, with the figures printed:
//! - the router holds one route to the VIP with three next hops;
//! - 3000 new connections spread over the three directors and the three real servers;
//! - when a real server leaves, the share of flows that change real server (Maglev: about 1/N);
//! - a director whose checks all fail withdraws within its check interval and BGP's reaction, and receives
//!   no new flows; a director whose fulcrum is killed with SIGKILL is withdrawn (how, and how fast, is
//!   measured: the routes go with fulcrum's TUN device while the BGP session stays up); a director whose
//!   link is cut is withdrawn by BGP's hold timer, one whose BIRD dies when its session closes;
//! - long-lived connections opened before these events keep echoing through all of them: those whose
//!   director stays keep it, the others continue on another director to the same real server, because
//!   every director builds the same Maglev table and schedules a flow it does not know on any packet.

#[path = "cluster_common/mod.rs"]
mod cluster;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use cluster::{until, Cluster, Holder, Keepalived, Proc};

const VIP: &str = "198.19.0.100";
const PORT: u16 = 8080;
const DIRECTORS: [&str; 3] = ["d1", "d2", "d3"];
const REALS: [(&str, &str); 3] = [
    ("r1", "198.18.1.2"),
    ("r2", "198.18.1.3"),
    ("r3", "198.18.1.4"),
];

/// `n` connections from source ports `first`, `first + 1`, ... to host:port, each reading the server's name
/// and closing with a reset (no TIME_WAIT, so the same ports can be used again); prints `PORT NAME` or
/// `PORT FAIL`. Stops at the deadline (seconds), printing FAIL for the ports not tried.
const SPREAD: &str = r#"
import socket, struct, sys, time
host, port, first, n, deadline = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
end = time.time() + deadline
for p in range(first, first + n):
    name = "FAIL"
    if time.time() < end:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.settimeout(1)
        try:
            s.bind(("0.0.0.0", p))
            s.connect((host, port))
            name = s.recv(100).decode() or "FAIL"
        except OSError:
            pass
        s.close()
    print(p, name, flush=True)
"#;

fn router_bird() -> String {
    let mut conf = String::from(
        "router id 198.18.2.1;
protocol device {}
protocol kernel {
    merge paths yes;
    ipv4 { import none; export all; };
}
",
    );
    for (i, d) in DIRECTORS.iter().enumerate() {
        conf.push_str(&format!(
            "protocol bgp {d} {{
    local 198.18.2.1 as 65000;
    neighbor 198.18.2.{} as 65001;
    hold time 3;
    keepalive time 1;
    connect delay time 1;
    ipv4 {{ import all; export none; }};
}}
",
            11 + i
        ));
    }
    conf
}

fn director_bird(i: usize) -> String {
    format!(
        "router id 198.18.2.{};
protocol device {{}}
protocol kernel fulcrum {{
    kernel table 100;
    learn;
    scan time 1;
    ipv4 {{ import all; export none; }};
}}
protocol bgp uplink {{
    local 198.18.2.{} as 65001;
    neighbor 198.18.2.1 as 65000;
    hold time 3;
    keepalive time 1;
    connect delay time 1;
    ipv4 {{ import none; export where proto = \"fulcrum\"; }};
}}
",
        11 + i,
        11 + i
    )
}

/// Every director's keepalived.conf: the same service, the same real servers (Maglev names them by address and
/// port, so the order would not matter either).
fn keepalived_conf() -> String {
    let mut conf = format!(
        "global_defs {{
    fulcrum_announce_table 100
}}
virtual_server {VIP} {PORT} {{
    delay_loop 1
    lb_algo mh
    mh-port
    lb_kind DR
    protocol TCP
"
    );
    for (_, addr) in REALS {
        conf.push_str(&format!(
            "    real_server {addr} {PORT} {{
        TCP_CHECK {{
            connect_timeout 1
            retry 0
        }}
    }}
"
        ));
    }
    conf.push_str("}\n");
    conf
}

/// Builds the namespaces and links of the module documentation.
fn topology() -> Option<Cluster> {
    let mut roles = vec!["sw", "rt", "c"];
    roles.extend(DIRECTORS);
    roles.extend(REALS.map(|(r, _)| r));
    let cl = cluster::namespaces(&roles)?;
    cluster::tool(&["bird", "--version"], "bird2")?;
    for br in ["brc", "brf", "brb"] {
        cl.ip("sw", &format!("link add {br} type bridge mcast_snooping 0"));
        cl.ip("sw", &format!("link set {br} up"));
    }
    cl.leg("c", "eth0", "brc", "c0", "198.18.0.2/24");
    cl.leg("rt", "cl", "brc", "rtc", "198.18.0.1/24");
    cl.leg("rt", "front", "brf", "rtf", "198.18.2.1/24");
    cl.leg("rt", "back", "brb", "rtb", "198.18.1.1/24");
    for (i, d) in DIRECTORS.iter().enumerate() {
        cl.leg(
            d,
            "front",
            "brf",
            &format!("{d}f"),
            &format!("198.18.2.{}/24", 11 + i),
        );
        cl.leg(
            d,
            "back",
            "brb",
            &format!("{d}b"),
            &format!("198.18.1.{}/24", 11 + i),
        );
    }
    for (r, addr) in REALS {
        cl.leg(r, "eth0", "brb", &format!("{r}b"), &format!("{addr}/24"));
        cl.ip(r, &format!("addr add {VIP}/32 dev lo"));
        cl.ip(r, "route add default via 198.18.1.1");
        cl.exec(
            r,
            &[
                "sysctl",
                "-qw",
                "net.ipv4.conf.all.arp_ignore=1",
                "net.ipv4.conf.all.arp_announce=2",
                "net.ipv4.conf.eth0.arp_ignore=1",
                "net.ipv4.conf.eth0.arp_announce=2",
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    cl.ip("c", "route add default via 198.18.0.1");
    // The router forwards, hashes flows on their 5-tuple, and takes the real servers' replies (source: the VIP)
    // on the back segment although the VIP is routed through the front.
    cl.exec(
        "rt",
        &[
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.ipv4.fib_multipath_hash_policy=1",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
            "net.ipv4.conf.back.rp_filter=0",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    Some(cl)
}

/// The next hops (director front addresses) of the router's route to the VIP.
fn next_hops(cl: &Cluster) -> Vec<String> {
    let out = cl
        .exec(
            "rt",
            &["ip", "route", "show", "exact", &format!("{VIP}/32")],
        )
        .unwrap_or_default();
    let words: Vec<&str> = out.split_whitespace().collect();
    let mut hops: Vec<String> = words
        .windows(2)
        .filter(|w| w[0] == "via")
        .map(|w| w[1].to_string())
        .collect();
    hops.sort();
    hops
}

fn front(d: &str) -> String {
    let i = DIRECTORS.iter().position(|x| *x == d).unwrap_or(0);
    format!("198.18.2.{}", 11 + i)
}

/// The service's connection counter (`--stats` Conns) on a director.
fn conns(cl: &Cluster, d: &str) -> u64 {
    let out = cluster::ipvsadm_text(&cl.ns(d), &["-L", "-n", "--stats"]);
    out.lines()
        .find(|l| l.starts_with(&format!("TCP  {VIP}:{PORT}")))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Packets received on a director's front device.
fn front_rx(cl: &Cluster, d: &str) -> u64 {
    let out = cl
        .exec(d, &["cat", "/sys/class/net/front/statistics/rx_packets"])
        .unwrap_or_default();
    out.trim().parse().unwrap_or(0)
}

/// The real servers' names by source port, from `count` connections starting at port `first`.
fn spread(cl: &Cluster, first: u16, count: u16, deadline_s: u32) -> BTreeMap<u16, String> {
    let out = cl
        .exec(
            "c",
            &[
                "python3",
                "-c",
                SPREAD,
                VIP,
                &PORT.to_string(),
                &first.to_string(),
                &count.to_string(),
                &deadline_s.to_string(),
            ],
        )
        .unwrap_or_else(|e| panic!("client: {e}"));
    out.lines()
        .filter_map(|l| {
            let (p, n) = l.split_once(' ')?;
            Some((p.parse().ok()?, n.to_string()))
        })
        .collect()
}

fn tally(m: &BTreeMap<u16, String>) -> BTreeMap<String, usize> {
    let mut t = BTreeMap::new();
    for n in m.values() {
        *t.entry(n.clone()).or_insert(0) += 1;
    }
    t
}

/// The director whose flow table holds each client port (from `ipvsadm -L -n -c`).
fn flow_directors(cl: &Cluster, ports: &[u16]) -> HashMap<u16, String> {
    let mut out = HashMap::new();
    for d in DIRECTORS {
        let list = cluster::ipvsadm_text(&cl.ns(d), &["-L", "-n", "-c"]);
        for l in list.lines().filter(|l| l.contains("ESTABLISHED")) {
            let Some(src) = l.split_whitespace().nth(3) else {
                continue;
            };
            let Some(p) = src.rsplit_once(':').and_then(|(_, p)| p.parse().ok()) else {
                continue;
            };
            if ports.contains(&p) {
                out.insert(p, d.to_string());
            }
        }
    }
    out
}

fn by_director(m: &HashMap<u16, String>) -> BTreeMap<String, usize> {
    let mut t = BTreeMap::new();
    for d in m.values() {
        *t.entry(d.clone()).or_insert(0) += 1;
    }
    t
}

/// Waits until the router's next hops are `want`; returns the time it took (panics with the routing state after
/// `within`).
fn until_hops(cl: &Cluster, want: &[&str], within: Duration, what: &str) -> Duration {
    let mut want: Vec<String> = want.iter().map(|d| front(d)).collect();
    want.sort();
    match until(within, || next_hops(cl) == want) {
        Some(t) => t,
        None => {
            let route = cl.exec("rt", &["ip", "route"]);
            panic!(
                "{what}: the router's next hops are {:?}, not {want:?} after {within:?}\nroutes: {route:?}",
                next_hops(cl)
            );
        }
    }
}

/// Whether every director lists `n` real servers under the service.
fn every_director_lists(cl: &Cluster, n: usize) -> bool {
    DIRECTORS.iter().all(|d| {
        cluster::members(&cl.listing(d), &format!("TCP  {VIP}:{PORT} "))
            .is_some_and(|m| m.len() == n)
    })
}

/// The state of the router's BGP session with `d` (`birdc show protocols`).
fn session(cl: &Cluster, d: &str) -> String {
    let sock = cl.dir.join("rt.ctl").display().to_string();
    cluster::sh(&["birdc", "-s", &sock, "show", "protocols", d])
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(d))
        .map(|l| l.split_whitespace().skip(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[test]
fn three_directors_share_a_vip_behind_ecmp() {
    let _serial = cluster::SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(cl) = topology() else { return };
    let t0 = Instant::now();
    let file = |name: &str, text: &str| {
        let p = cl.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let mut servers: HashMap<&str, Proc> = REALS
        .iter()
        .map(|(r, _)| (*r, cl.echo_server(r, r)))
        .collect();
    let rconf = file("rt-bird.conf", &router_bird());
    let rsock = cl.dir.join("rt.ctl").display().to_string();
    let mut birds = vec![cl.spawn("rt", &["bird", "-f", "-c", &rconf, "-s", &rsock])];
    let mut directors: HashMap<&str, Keepalived> = HashMap::new();
    for (i, d) in DIRECTORS.iter().enumerate() {
        let conf = file(&format!("{d}-bird.conf"), &director_bird(i));
        let sock = cl.dir.join(format!("{d}.ctl")).display().to_string();
        birds.push(cl.spawn(d, &["bird", "-f", "-c", &conf, "-s", &sock]));
        directors.insert(d, cl.keepalived(d, &keepalived_conf()));
    }

    // 1. One route, three next hops.
    let t = until_hops(&cl, &DIRECTORS, Duration::from_secs(30), "start");
    eprintln!("three next hops {t:?} after the daemons started");
    let route = cl
        .exec(
            "rt",
            &["ip", "route", "show", "exact", &format!("{VIP}/32")],
        )
        .unwrap_or_default();
    assert_eq!(route.matches("nexthop via").count(), 3, "{route}");
    // The route comes with the first passing check (quorum 1); the measurements start once every director
    // lists all three real servers (each later addition rewrites its table and its Maglev map).
    let all = until(Duration::from_secs(8), || every_director_lists(&cl, 3));
    assert!(
        all.is_some(),
        "not all real servers up: {}",
        cl.listing("d1")
    );
    // `fulcrum keepalived` loads the XDP program in the background (nftables serves meanwhile): the counts
    // below are the program's, so the measurements wait until it serves the service on every director.
    let on_xdp = until(Duration::from_secs(30), || {
        DIRECTORS.iter().all(|d| {
            cluster::ipvsadm_in(&cl.ns(d), &["--plane"])
                .contains(&format!("xdp       TCP {VIP}:{PORT}\n"))
        })
    });
    assert!(
        on_xdp.is_some(),
        "not on the XDP plane: {}",
        cluster::ipvsadm_in(&cl.ns("d1"), &["--plane"])
    );
    // Closing flows are forgotten after 1 s, so the same client ports can be scheduled anew below.
    for d in DIRECTORS {
        cluster::ipvsadm_in(&cl.ns(d), &["--set", "0", "1", "0"]);
    }

    // 2. 3000 new connections spread over the directors and the real servers.
    let before: Vec<u64> = DIRECTORS.iter().map(|d| conns(&cl, d)).collect();
    let t1 = Instant::now();
    let first = spread(&cl, 10000, 3000, 40);
    eprintln!(
        "3000 connections in {:?}: {:?}",
        t1.elapsed(),
        tally(&first)
    );
    assert_eq!(tally(&first).get("FAIL"), None, "{:?}", tally(&first));
    let per: Vec<u64> = DIRECTORS
        .iter()
        .zip(&before)
        .map(|(d, b)| conns(&cl, d) - b)
        .collect();
    eprintln!("connections per director: {per:?}");
    assert_eq!(per.iter().sum::<u64>(), 3000, "{per:?}");
    for (d, n) in DIRECTORS.iter().zip(&per) {
        assert!(*n >= 600, "{d} took {n} of 3000: {per:?}");
    }
    for (r, _) in REALS {
        let n = tally(&first).get(r).copied().unwrap_or(0);
        assert!(n >= 600, "{r} took {n} of 3000: {:?}", tally(&first));
    }

    // 3. A real server leaves: the same 3000 client ports again; only r3's flows should move.
    drop(servers.remove("r3"));
    let gone = until(Duration::from_secs(8), || every_director_lists(&cl, 2));
    assert!(gone.is_some(), "r3 still listed: {}", cl.listing("d1"));
    eprintln!(
        "r3 stopped: out of every director's table {:?} later (delay_loop 1)",
        gone.unwrap_or_default()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let second = spread(&cl, 10000, 3000, 40);
    assert_eq!(tally(&second).get("FAIL"), None, "{:?}", tally(&second));
    let moved = first
        .iter()
        .filter(|(p, n)| second.get(p) != Some(n))
        .count();
    let stayed: Vec<_> = first.iter().filter(|(_, n)| *n != "r3").collect();
    let moved_kept = stayed
        .iter()
        .filter(|(p, n)| second.get(p) != Some(n))
        .count();
    eprintln!(
        "r3 left: {moved} of 3000 flows moved ({:.1}%, theory 1/3 = 33.3%); of the {} flows on r1 and r2, {moved_kept} moved ({:.2}%)",
        moved as f64 * 100.0 / 3000.0,
        stayed.len(),
        moved_kept as f64 * 100.0 / stayed.len() as f64
    );
    assert!((750..=1250).contains(&moved), "{moved} flows moved");
    assert!(
        moved_kept * 20 < stayed.len(),
        "{moved_kept} of r1/r2's flows moved"
    );
    servers.insert("r3", cl.echo_server("r3", "r3"));
    let back = until(Duration::from_secs(8), || every_director_lists(&cl, 3));
    assert!(back.is_some(), "r3 not back: {}", cl.listing("d1"));

    // 4. Long-lived connections, spread over the directors.
    let mut holder = Holder::open(&cl, VIP, PORT, 90);
    let ports: Vec<u16> = holder.names.keys().copied().collect();
    let home = flow_directors(&cl, &ports);
    eprintln!(
        "90 long-lived connections: directors {:?}, real servers {:?}",
        by_director(&home),
        tally(&holder.names)
    );
    assert_eq!(home.len(), 90, "{home:?}");
    assert_eq!(holder.ping(), Vec::<u16>::new());

    // 5. d1's real servers all fail d1's checks: withdrawn, no new flows, its connections continue elsewhere.
    for (r, _) in REALS {
        cl.exec(r, &["nft", "add", "table", "inet", "block"])
            .unwrap();
        cl.exec(
            r,
            &[
                "nft",
                "add chain inet block in { type filter hook input priority 0 ; }",
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        cl.exec(
            r,
            &[
                "nft",
                "add rule inet block in ip saddr 198.18.1.11 tcp dport 8080 drop",
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let t = until_hops(
        &cl,
        &["d2", "d3"],
        Duration::from_secs(8),
        "checks failed on d1",
    );
    eprintln!(
        "d1 withdrawn {t:?} after its checks started failing (delay_loop 1, connect_timeout 1)"
    );
    let rx = front_rx(&cl, "d1");
    let after = spread(&cl, 20000, 300, 20);
    assert_eq!(tally(&after).get("FAIL"), None, "{:?}", tally(&after));
    let rx = front_rx(&cl, "d1") - rx;
    eprintln!(
        "300 new connections with d1 withdrawn: {:?}; d1 received {rx} packets",
        tally(&after)
    );
    assert!(rx < 30, "d1 still receives traffic: {rx} packets");
    let failed = holder.ping();
    let now = flow_directors(&cl, &ports);
    eprintln!(
        "after d1's withdrawal: long-lived connections by director {:?}",
        by_director(&now)
    );
    assert_eq!(
        failed,
        Vec::<u16>::new(),
        "connections lost when d1 withdrew"
    );
    let switched = home
        .iter()
        .filter(|(p, d)| *d != "d1" && now.get(p).is_some_and(|n| n != *d))
        .count();
    eprintln!("{switched} connections of d2 and d3 changed director too (the router's rehash)");
    let moved_off: Vec<_> = home
        .iter()
        .filter(|(p, d)| *d == "d1" && now.get(p).is_some_and(|n| n != "d1"))
        .collect();
    assert!(!moved_off.is_empty(), "none of d1's connections moved");

    // 6. fulcrum on d3 killed with SIGKILL: withdrawn, new connections go through d2.
    let k3 = directors.get("d3").unwrap_or_else(|| panic!("d3"));
    k3.signal(nix::sys::signal::Signal::SIGKILL);
    // Polled without pause (one `ip route` costs a few ms), for a finer figure than `until`'s 50 ms steps.
    let killed = Instant::now();
    let want = vec![front("d2")];
    while next_hops(&cl) != want && killed.elapsed() < Duration::from_secs(8) {}
    let t = killed.elapsed();
    until_hops(&cl, &["d2"], Duration::ZERO, "fulcrum killed on d3");
    let state = session(&cl, "d3");
    eprintln!(
        "d3 withdrawn {t:?} after fulcrum's SIGKILL; the router's BGP session with d3: {state} (so the route \
         went with fulcrum's TUN device, not through the hold timer or a session loss)"
    );
    assert!(state.contains("Established"), "{state}");
    let after = spread(&cl, 21000, 300, 20);
    assert_eq!(tally(&after).get("FAIL"), None, "{:?}", tally(&after));
    assert_eq!(
        holder.ping(),
        Vec::<u16>::new(),
        "connections lost when d3's fulcrum died"
    );

    // 7. d1's checks pass again (announced again); d2's link is cut: only BGP's hold timer notices.
    for (r, _) in REALS {
        cl.exec(r, &["nft", "delete", "table", "inet", "block"])
            .unwrap();
    }
    let t = until_hops(
        &cl,
        &["d1", "d2"],
        Duration::from_secs(8),
        "d1's checks pass",
    );
    eprintln!("d1 announced again {t:?} after its checks passed");
    cl.ip("d2", "link set front down");
    let cut = Instant::now();
    until_hops(&cl, &["d1"], Duration::from_secs(8), "d2's link cut");
    eprintln!(
        "d2 withdrawn {:?} after its link was cut (BGP hold time 3 s); session: {}",
        cut.elapsed(),
        session(&cl, "d2")
    );
    let after = spread(&cl, 22000, 300, 20);
    assert_eq!(tally(&after).get("FAIL"), None, "{:?}", tally(&after));
    assert_eq!(
        holder.ping(),
        Vec::<u16>::new(),
        "connections lost when d2's link was cut"
    );

    // 8. BIRD on d1, the last director, killed: its BGP socket closes with it and the router drops the route.
    let killed = Instant::now();
    drop(birds.remove(1));
    while !next_hops(&cl).is_empty() && killed.elapsed() < Duration::from_secs(8) {}
    let t = killed.elapsed();
    until_hops(&cl, &[], Duration::ZERO, "BIRD killed on d1");
    eprintln!(
        "d1 withdrawn {t:?} after its BIRD was killed; session: {}",
        session(&cl, "d1")
    );
    eprintln!("whole test {:?}", t0.elapsed());
    drop(holder);
    drop(directors);
    drop(birds);
    drop(servers);
}
