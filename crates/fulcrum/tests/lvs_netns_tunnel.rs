//! Tunnel real servers (`-i`) end to end in network namespaces: the director schedules at its ingress hook
//! as for direct routing, and the encapsulation program at the egress hook of the device towards the real
//! servers wraps every packet in an outer IPv4 header (IP in IP). The real servers drop any packet for the
//! VIP that arrives unencapsulated, so a reply proves the tunnel; they decapsulate as a `tunl0` device does
//! (this test kernel has no `ipip` module, so a small program reads protocol-4 packets from a raw socket
//! and hands the inner packet to the kernel through a TUN device named `tunl0`), hold the VIP, and answer
//! the client directly over its second leg.

#[path = "lvs_common/mod.rs"]
mod common;

use common::{counts, setup, sh, Lab, VIP, VIP6};

fn egress_filters(lab: &Lab) -> String {
    lab.exec("d", &["tc", "filter", "show", "dev", "br0", "egress"])
        .unwrap_or_default()
}

#[test]
fn tunnel_rr_encapsulates_and_replies_bypass_the_director() {
    tunnel_rr(common::setup());
}

/// The same on the nftables plane alone (`FULCRUM_L4_PLANE=nftables`).
#[test]
fn tunnel_rr_on_the_nftables_plane() {
    tunnel_rr(common::setup_on("nftables"));
}

fn tunnel_rr(lab: Option<common::Lab>) {
    let Some(lab) = lab else { return };
    // The client's second leg and the servers' route back to it.
    lab.direct_routing_legs();
    let _ends = lab.tunnel_ends();

    lab.ok(&format!("-A -t {VIP}:8080 -s rr"));
    lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.2 -i"));
    lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.3 -i -w 1"));
    let list = lab.ok("-L -n");
    assert!(
        list.contains("  -> 198.18.1.2:8080              Tunnel  1      0          0         \n"),
        "{list}"
    );
    assert!(
        egress_filters(&lab).contains("direct-action"),
        "{}",
        egress_filters(&lab)
    );

    let d0_tx = lab.link_stat("d", "d0", "tx", "packets");
    assert_eq!(counts(&lab.traffic("tcp", 8080, 20)), (10, 10), "tunnel rr");
    let d0_tx = lab.link_stat("d", "d0", "tx", "packets") - d0_tx;
    assert!(
        d0_tx < 10,
        "replies do not pass through the director: {d0_tx}"
    );
    for r in ["r1", "r2"] {
        let (ipip, plain) = lab.tunnel_seen(r);
        eprintln!("{r}: {ipip} packets in IP in IP, {plain} unencapsulated");
        assert!(ipip >= 30, "{r} got its packets in IP in IP: {ipip}");
        assert_eq!(plain, 0, "{r} got no packet for the VIP unencapsulated");
    }
    // Counters and connections as with direct routing.
    let stats = lab.ok("-L -n --stats --exact");
    let svc_line = stats
        .lines()
        .find(|l| l.starts_with(&format!("TCP  {VIP}:8080")))
        .unwrap_or_default()
        .to_string();
    assert!(svc_line.split_whitespace().nth(2) == Some("20"), "{stats}");

    // UDP through the tunnel too.
    lab.ok(&format!("-A -u {VIP}:5353 -s rr"));
    lab.ok(&format!("-a -u {VIP}:5353 -r 198.18.1.2 -i"));
    lab.ok(&format!("-a -u {VIP}:5353 -r 198.18.1.3 -i"));
    assert_eq!(
        counts(&lab.traffic("udp", 5353, 10)),
        (5, 5),
        "tunnel udp rr"
    );

    // A weight change keeps the tunnel; a server removed gets no new connections.
    lab.ok(&format!("-d -t {VIP}:8080 -r 198.18.1.3"));
    assert_eq!(
        counts(&lab.traffic("tcp", 8080, 6)),
        (6, 0),
        "one tunnel server left"
    );

    // GUE and GRE: the XDP plane encapsulates them; the nftables plane lists them and says they get no
    // traffic.
    for (kind, extra) in [
        ("gue", &["--tun-port", "6080"][..]),
        ("gre", &["--tun-csum"][..]),
    ] {
        let mut args = vec![
            "-a".to_string(),
            "-t".into(),
            format!("{VIP}:8080"),
            "-r".into(),
            "198.18.1.3".into(),
            "-i".into(),
            "--tun-type".into(),
            kind.into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = lab.ipvsadm(&args, "");
        assert_eq!(code, 0, "{err}");
        let before = lab.tunnel_seen("r2").0;
        let got = counts(&lab.traffic("tcp", 8080, 4));
        if lab.plane == "xdp" {
            assert_eq!(err, "", "{kind}");
            assert_eq!(got, (2, 2), "{kind} through the XDP plane");
            let seen = lab.tunnel_seen("r2").0 - before;
            assert!(seen >= 6, "r2 got its packets in {kind}: {seen}");
        } else {
            assert!(
                err.contains(&format!(
                    "--tun-type {kind} real servers of TCP {VIP}:8080 are listed but get no traffic"
                )),
                "{err}"
            );
            assert_eq!(got, (4, 0), "the {kind} server gets nothing");
        }
        lab.ok(&format!("-d -t {VIP}:8080 -r 198.18.1.3"));
    }

    // With no tunnel server left, the encapsulation filter is gone from the device.
    lab.ok(&format!("-D -u {VIP}:5353"));
    lab.ok(&format!("-d -t {VIP}:8080 -r 198.18.1.2"));
    assert!(
        !egress_filters(&lab).contains("direct-action"),
        "{}",
        egress_filters(&lab)
    );
    lab.ok("-C");
}

#[test]
fn tunnel_ipv6_encapsulates_in_ipv6() {
    let Some(lab) = setup() else { return };
    lab.direct_routing_legs();
    // The client's second leg gets an IPv6 address too, and the servers a route back to the client.
    let c = lab.ns("c");
    sh(&[
        "ip",
        "-n",
        &c,
        "addr",
        "add",
        "fd00:1::9/64",
        "dev",
        "c1",
        "nodad",
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    for r in ["r1", "r2"] {
        lab.run_all(r, &["ip -6 route add fd00::/64 via fd00:1::9"]);
    }
    let _ends = lab.tunnel_ends();
    lab.ok(&format!("-A -t [{VIP6}]:8080 -s wrr"));
    lab.ok(&format!("-a -t [{VIP6}]:8080 -r [fd00:1::2] -i -w 2"));
    lab.ok(&format!("-a -t [{VIP6}]:8080 -r [fd00:1::3] -i -w 1"));
    // One full wrr cycle first: neighbour discovery on the new paths may cost a first attempt.
    let warm = counts(&lab.traffic_to(VIP6, "tcp", 8080, 3, 3));
    assert_eq!(warm.0 + warm.1, 3, "{warm:?}");
    let got = counts(&lab.traffic_to(VIP6, "tcp", 8080, 12, 1));
    assert_eq!(got, (8, 4), "tunnel wrr over IPv6");
    for r in ["r1", "r2"] {
        let (tunnelled, plain) = lab.tunnel_seen(r);
        eprintln!("{r}: {tunnelled} packets in IPv6 in IPv6, {plain} unencapsulated");
        assert!(tunnelled >= 12, "{r}: {tunnelled}");
        assert_eq!(plain, 0, "{r}");
    }
    lab.ok("-C");
    assert!(!egress_filters(&lab).contains("direct-action"));
}
