//! End-to-end tests of NAT in network namespaces, on the default plane (XDP) and on nftables alone (see `common`
//! for the lab): real TCP and UDP traffic, listings read back from the kernel by fresh processes.

#[path = "lvs_common/mod.rs"]
mod common;

use common::{counts, setup, VIP, VIP6};

/// NAT on fulcrum's default plane: the XDP program translates both ways.
#[test]
fn nat_schedulers_quiescing_and_listings() {
    nat_schedulers(setup());
}

/// The same on the nftables plane alone (`FULCRUM_L4_PLANE=nftables`): conntrack translates.
#[test]
fn nat_schedulers_on_the_nftables_plane() {
    nat_schedulers(common::setup_on("nftables"));
}

fn nat_schedulers(lab: Option<common::Lab>) {
    let Some(lab) = lab else { return };
    let t0 = std::time::Instant::now();
    lab.ok(&format!("-A -t {VIP}:80 -s rr"));
    lab.ok(&format!("-a -t {VIP}:80 -r 198.18.1.2:8080 -m"));
    lab.ok(&format!("-a -t {VIP}:80 -r 198.18.1.3:8080 -m"));
    let plane = lab.ok("--plane");
    let on = if lab.plane == "xdp" {
        "xdp     "
    } else {
        "nftables"
    };
    assert!(plane.contains(&format!("{on}  TCP {VIP}:80")), "{plane}");
    assert_eq!(counts(&lab.traffic("tcp", 80, 20)), (10, 10), "rr");

    // wrr 3:1 -> 30/10 of 40 connections.
    lab.ok(&format!("-E -t {VIP}:80 -s wrr"));
    lab.ok(&format!("-e -t {VIP}:80 -r 198.18.1.2:8080 -m -w 3"));
    assert_eq!(counts(&lab.traffic("tcp", 80, 40)), (30, 10), "wrr");

    // Weight 0 quiesces: no new connections.
    lab.ok(&format!("-e -t {VIP}:80 -r 198.18.1.2:8080 -m -w 0"));
    assert_eq!(counts(&lab.traffic("tcp", 80, 10)), (0, 10), "quiesced");

    // sh: one client always reaches the same server.
    lab.ok(&format!("-e -t {VIP}:80 -r 198.18.1.2:8080 -m -w 1"));
    lab.ok(&format!("-E -t {VIP}:80 -s sh"));
    let (a, b) = counts(&lab.traffic("tcp", 80, 20));
    assert!((a, b) == (20, 0) || (a, b) == (0, 20), "sh sticky: {a}/{b}");

    // mh: sticky as well.
    lab.ok(&format!("-E -t {VIP}:80 -s mh"));
    let (a, b) = counts(&lab.traffic("tcp", 80, 10));
    assert!((a, b) == (10, 0) || (a, b) == (0, 10), "mh sticky: {a}/{b}");

    // Persistence: a client sticks to its first server even under rr.
    lab.ok(&format!("-E -t {VIP}:80 -s rr -p 60"));
    let (a, b) = counts(&lab.traffic("tcp", 80, 10));
    assert!(
        (a, b) == (10, 0) || (a, b) == (0, 10),
        "persistent: {a}/{b}"
    );
    let pc = lab.ok(&format!("-L -n --persistent-conn -t {VIP}:80"));
    assert!(pc.contains(" 1           "), "one persistence entry:\n{pc}");

    // UDP with port mapping 53 -> 5353.
    lab.ok(&format!("-A -u {VIP}:53 -s rr"));
    lab.ok(&format!("-a -u {VIP}:53 -r 198.18.1.2:5353 -m"));
    lab.ok(&format!("-a -u {VIP}:53 -r 198.18.1.3:5353 -m"));
    assert_eq!(counts(&lab.traffic("udp", 53, 10)), (5, 5), "udp rr");

    // Listings read back from the kernel by fresh processes.
    let list = lab.ok("-L -n");
    assert!(
        list.starts_with("IP Virtual Server version 1.2.1 (size=4096)\n"),
        "{list}"
    );
    assert!(
        list.contains(&format!("TCP  {VIP}:80 rr persistent 60\n")),
        "{list}"
    );
    assert!(list.contains(&format!("UDP  {VIP}:53 rr\n")), "{list}");
    let tcp_line = list
        .lines()
        .find(|l| l.contains("198.18.1.3:8080"))
        .unwrap_or_default()
        .to_string();
    let inact: u32 = tcp_line
        .split_whitespace()
        .last()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        inact > 0,
        "closed TCP connections count as inactive: {tcp_line}"
    );
    let stats = lab.ok("-L -n --stats");
    let svc = stats
        .lines()
        .find(|l| l.starts_with(&format!("TCP  {VIP}:80")))
        .unwrap_or_default()
        .to_string();
    let conns: u64 = svc
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert_eq!(
        conns,
        20 + 40 + 10 + 20 + 10 + 10,
        "service Conns counter: {stats}"
    );
    let inpkts: u64 = svc
        .split_whitespace()
        .nth(3)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(inpkts >= conns * 3, "{stats}");
    assert!(lab.ok("-L -n --rate").contains("  -> RemoteAddress:Port\n"));
    let conn = lab.ok("-L -n -c");
    assert!(conn.starts_with("IPVS connection entries\npro expire state       source             virtual            destination\n"), "{conn}");
    assert!(
        conn.contains("198.18.0.2:") && conn.contains(&format!("{VIP}:80 ")),
        "{conn}"
    );
    assert!(
        conn.lines()
            .any(|l| l.starts_with("UDP ") && l.contains(":5353")),
        "{conn}"
    );
    assert_eq!(
        lab.ok("-L --timeout"),
        "Timeout (tcp tcpfin udp): 900 120 300\n"
    );

    // Zero the counters.
    lab.ok("-Z");
    let stats = lab.ok("-L -n --stats");
    let zeroed = stats.lines().skip(3).all(|l| {
        l.split_whitespace()
            .skip(1)
            .all(|v| v == "0" || v == "->" || v.contains(':'))
    });
    assert!(zeroed, "{stats}");

    // Save, clear, restore: the same table, and traffic flows again.
    let saved = lab.ok("-S -n");
    lab.ok("-C");
    assert_eq!(lab.ok("-S -n"), "");
    assert_eq!(
        lab.traffic_tries("tcp", 80, 1, 1).get("FAIL").copied(),
        Some(1),
        "cleared table forwards nothing"
    );
    let (code, _, err) = lab.ipvsadm(&["-R"], &saved);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(lab.ok("-S -n"), saved);
    let (a, b) = counts(&lab.traffic("tcp", 80, 4));
    assert_eq!(a + b, 4);
    eprintln!("netns NAT test took {:?}", t0.elapsed());
}

/// Minutes:seconds of the `-c` line of a connection matching `pat`, in seconds.
fn expire_of(conns: &str, pat: &str) -> Option<u64> {
    let l = conns.lines().find(|l| l.contains(pat))?;
    let (m, s) = l.split_whitespace().nth(1)?.split_once(':')?;
    Some(m.parse::<u64>().ok()? * 60 + s.parse::<u64>().ok()?)
}

#[test]
fn nat_fwmark_ipv6_quiescing_rate_and_timeouts() {
    nat_fwmark_ipv6(setup());
}

/// The same on the nftables plane alone.
#[test]
fn nat_fwmark_ipv6_on_the_nftables_plane() {
    nat_fwmark_ipv6(common::setup_on("nftables"));
}

fn nat_fwmark_ipv6(lab: Option<common::Lab>) {
    let Some(lab) = lab else { return };
    let t0 = std::time::Instant::now();
    // fwmark service: the director's own mangle rule marks VIP:8080; real servers without a port keep it.
    lab.run_all(
        "d",
        &[
            "nft add table ip fulcrum_test_mark",
            "nft add chain ip fulcrum_test_mark pre { type filter hook prerouting priority mangle ; }",
            "nft add rule ip fulcrum_test_mark pre ip daddr 198.19.0.100 tcp dport 8080 meta mark set 7",
        ],
    );
    lab.ok("-A -f 7 -s rr");
    lab.ok("-a -f 7 -r 198.18.1.2 -m");
    lab.ok("-a -f 7 -r 198.18.1.3 -m");
    assert_eq!(counts(&lab.traffic("tcp", 8080, 10)), (5, 5), "fwmark rr");
    assert!(lab.ok("-L -n").contains("FWM  7 rr\n  -> 198.18.1.2:0"));

    // IPv6 NAT, TCP and UDP (port mapping 80 -> 8080, 53 -> 5353).
    lab.ok(&format!("-A -t [{VIP6}]:80 -s rr"));
    lab.ok(&format!("-a -t [{VIP6}]:80 -r [fd00:1::2]:8080 -m"));
    lab.ok(&format!("-a -t [{VIP6}]:80 -r [fd00:1::3]:8080 -m"));
    assert_eq!(
        counts(&lab.traffic_to(VIP6, "tcp", 80, 10, 50)),
        (5, 5),
        "IPv6 rr"
    );
    // --metrics on the live table: the ten IPv6 connections counted per service and per real server.
    let _metrics = lab.spawn(
        "d",
        &[
            env!("CARGO_BIN_EXE_fulcrum"),
            "ipvsadm",
            "--metrics",
            "127.0.0.1:19651",
        ],
    );
    // The service counted the ten connections (more when a client retried one under load), and its real servers'
    // counters add up to it.
    let svc = format!(
        "fulcrum_ipvs_service_connections_total{{local_address=\"{VIP6}\",local_port=\"80\",proto=\"TCP\",local_mark=\"\"}} "
    );
    let backend = format!(
        "fulcrum_ipvs_backend_connections_total{{local_address=\"{VIP6}\",local_port=\"80\","
    );
    let weight = format!(
        "node_ipvs_backend_weight{{local_address=\"{VIP6}\",local_port=\"80\",remote_address=\"fd00:1::2\",remote_port=\"8080\",proto=\"TCP\",local_mark=\"\"}} 1"
    );
    let value = |l: &str| l.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok());
    let t1 = std::time::Instant::now();
    loop {
        let page = lab
            .exec("d", &["curl", "-s", "http://127.0.0.1:19651/metrics"])
            .unwrap_or_default();
        let total = page.lines().find(|l| l.starts_with(&svc)).and_then(value);
        let per_server: u64 = page
            .lines()
            .filter(|l| l.starts_with(&backend))
            .filter_map(value)
            .sum();
        if total.is_some_and(|t| t >= 10 && t == per_server) && page.lines().any(|l| l == weight) {
            break;
        }
        assert!(
            t1.elapsed() < std::time::Duration::from_secs(10),
            "{svc}(10 or more, = the real servers' sum) / {weight} not in\n{page}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    lab.ok(&format!("-A -u [{VIP6}]:53 -s sh"));
    lab.ok(&format!("-a -u [{VIP6}]:53 -r [fd00:1::2]:5353 -m"));
    lab.ok(&format!("-a -u [{VIP6}]:53 -r [fd00:1::3]:5353 -m"));
    let (a, b) = counts(&lab.traffic_to(VIP6, "udp", 53, 6, 50));
    assert!((a, b) == (6, 0) || (a, b) == (0, 6), "IPv6 UDP sh: {a}/{b}");
    let list = lab.ok("-L -n");
    assert!(
        list.contains(&format!("TCP  [{VIP6}]:80 rr\n  -> [fd00:1::2]:8080")),
        "{list}"
    );

    // --rate: two readings one second apart while traffic flows.
    // The readings start once the client has its first answer (a fixed wait lost the race on a loaded CI
    // host: the client had not started within the window and every rate read 0); a reading of 0 while the
    // client still runs is taken again, at most three times.
    let mut bg = lab.traffic_background(VIP6, "tcp", 80, 3000);
    let first = bg.read_line();
    assert!(
        !first.is_empty() && first != "FAIL",
        "background client: {first:?}"
    );
    let (mut cps, mut rate) = (0u64, String::new());
    for _ in 0..3 {
        rate = lab.ok("-L -n --rate");
        cps = rate
            .lines()
            .find(|l| l.starts_with(&format!("TCP  [{VIP6}]:80")))
            .and_then(|l| l.split_whitespace().nth(2).and_then(|v| v.parse().ok()))
            .unwrap_or(0);
        if cps > 0 {
            break;
        }
    }
    drop(bg);
    assert!(cps > 0, "{rate}");

    // Weight 0 quiesces a server: no new connections, established ones continue.
    lab.ok(&format!("-A -t {VIP}:81 -s rr"));
    lab.ok(&format!("-a -t {VIP}:81 -r 198.18.1.2:8081 -m"));
    lab.ok(&format!("-a -t {VIP}:81 -r 198.18.1.3:8081 -m"));
    let mut held = lab.hold(VIP, 81, 2);
    lab.ok(&format!("-e -t {VIP}:81 -r 198.18.1.2:8081 -m -w 0"));
    let more = lab.hold(VIP, 81, 3);
    assert!(more.names.iter().all(|n| n == "r2"), "{:?}", more.names);
    assert_eq!(held.ping(), 2, "quiesced server keeps its connections");

    // --set: conntrack timeouts of the services' new connections follow tcp / udp.
    lab.ok("--set 100 20 30");
    assert_eq!(
        lab.ok("-L --timeout"),
        "Timeout (tcp tcpfin udp): 100 20 30\n"
    );
    lab.ok(&format!("-A -u {VIP}:53 -s rr"));
    lab.ok(&format!("-a -u {VIP}:53 -r 198.18.1.2:5353 -m"));
    assert_eq!(counts(&lab.traffic("udp", 53, 1)), (1, 0));
    let fresh = lab.hold(VIP, 81, 1);
    let conns = lab.ok("-L -n -c");
    let udp = expire_of(&conns, &format!("{VIP}:53 ")).unwrap_or(u64::MAX);
    assert!(
        (1..=30).contains(&udp),
        "UDP expire <= udp timeout:\n{conns}"
    );
    let est: Vec<u64> = conns
        .lines()
        .filter(|l| l.contains("ESTABLISHED") && l.contains(&format!("{VIP}:81 ")))
        .filter_map(|l| expire_of(l, "ESTABLISHED"))
        .collect();
    assert!(
        est.iter().any(|e| (1..=100).contains(e)),
        "a new TCP connection gets the tcp timeout:\n{conns}"
    );
    drop((fresh, more, held));
    eprintln!(
        "netns fwmark/IPv6/rate/timeouts test took {:?}",
        t0.elapsed()
    );
}
