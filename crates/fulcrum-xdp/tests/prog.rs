//! The XDP program run on packet fixtures with BPF_PROG_TEST_RUN (as Katran's BpfTester: an input frame,
//! the expected verdict and the expected output frame). Skipped, saying why, where BPF cannot load,
//! unless FULCRUM_REQUIRE_NETNS is set (CI), where they must run.

use fulcrum_balance::lvs::SchedFlags;
use fulcrum_xdp::layout::{cfg_flags, Counters, DEV_SLOTS};
use fulcrum_xdp::plan::{
    dest_tag, fallback_slot, hash_key, hash_slot, key_slot, plan, DestSpec, Encap, Method,
    Persistence, ServiceSpec, Timeouts,
};
use fulcrum_xdp::{Verdict, Xdp};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const CLIENT_MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 1];
const DIRECTOR_MAC: [u8; 6] = [0x02, 0xd1, 0, 0, 0, 1];
const OUT_MAC: [u8; 6] = [0x02, 0xd1, 0, 0, 0, 2];
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 7);
/// BPF_PROG_TEST_RUN runs XDP on the loopback device: a real server behind ifindex 1 is answered with
/// XDP_TX, any other with XDP_REDIRECT.
const LO: u32 = 1;

fn load() -> Option<Xdp> {
    match Xdp::load() {
        Ok(x) => Some(x),
        Err(e) if std::env::var_os("FULCRUM_REQUIRE_NETNS").is_none() => {
            eprintln!("skipped: {e} (set FULCRUM_REQUIRE_NETNS=1 to make this a failure)");
            None
        }
        Err(e) => panic!("FULCRUM_REQUIRE_NETNS is set but {e}"),
    }
}

fn rs_mac(i: usize) -> [u8; 6] {
    [0x02, 0x5e, 0, 0, 0, i as u8 + 1]
}

fn dest(i: usize, weight: u32, ifindex: u32) -> DestSpec {
    DestSpec {
        slot: i as u32,
        addr: IpAddr::V4(Ipv4Addr::new(198, 18, 1, i as u8 + 1)),
        port: 80,
        weight,
        method: Method::Route,
        mac: rs_mac(i),
        src_mac: OUT_MAC,
        ifindex,
        u_threshold: 0,
        l_threshold: 0,
    }
}

fn service(sched: &str, weights: &[u32]) -> ServiceSpec {
    ServiceSpec {
        id: 3,
        addr: IpAddr::V4(VIP),
        port: 80,
        proto: 6,
        scheduler: sched.into(),
        dests: weights
            .iter()
            .enumerate()
            .map(|(i, &w)| dest(i, w, LO))
            .collect(),
        persistence: None,
        flags: SchedFlags::default(),
        one_packet: false,
    }
}

fn setup(services: &[ServiceSpec]) -> Option<Xdp> {
    let mut x = load()?;
    x.apply(&plan(services, Timeouts::default()).expect("plan"))
        .expect("apply");
    Some(x)
}

fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;

fn tcp(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&1024u16.to_be_bytes());
    t.extend_from_slice(b"payload!");
    t
}

fn udp(sport: u16, dport: u16) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&16u16.to_be_bytes());
    u.extend_from_slice(b"datagram");
    u
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&DIRECTOR_MAC);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, frag: u16, l4: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    h[6..8].copy_from_slice(&frag.to_be_bytes());
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(l4);
    eth(0x0800, &h)
}

fn syn_from(port: u16) -> Vec<u8> {
    ipv4(CLIENT, VIP, 6, 0x4000, &tcp(port, 80, SYN))
}

fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, l4: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 40];
    h[0] = 0x60;
    h[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
    h[6] = next;
    h[7] = 64;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
    h.extend_from_slice(l4);
    eth(0x86dd, &h)
}

/// The frame a direct-routed `input` leaves as: real server `i`'s MAC, the output device's, the rest
/// untouched.
fn routed(input: &[u8], i: usize) -> Vec<u8> {
    let mut f = input.to_vec();
    f[0..6].copy_from_slice(&rs_mac(i));
    f[6..12].copy_from_slice(&OUT_MAC);
    f
}

/// Runs `frame`; for XDP_TX / XDP_REDIRECT returns which real server's MAC it went to (checking the
/// rest of the frame is `frame` unchanged).
fn pick(x: &Xdp, frame: &[u8]) -> Option<usize> {
    let (v, out) = x.test_run(frame).expect("test run");
    match v {
        Verdict::Tx | Verdict::Redirect => {
            let i = (out[5] - 1) as usize;
            assert_eq!(out, routed(frame, i), "only the MAC addresses change");
            Some(i)
        }
        Verdict::Pass => {
            assert_eq!(out, frame, "a passed frame is untouched");
            None
        }
        o => panic!("unexpected verdict {o:?}"),
    }
}

fn spread(x: &Xdp, n: u16, first_port: u16, dests: usize) -> Vec<usize> {
    let mut counts = vec![0; dests];
    for p in first_port..first_port + n {
        counts[pick(x, &syn_from(p)).expect("scheduled")] += 1;
    }
    counts
}

/// A frame to another MAC than the device's (a bridge flooding a frame meant for the master director, say) is
/// not this director's to forward: it goes to the stack untouched, as on the nftables plane.
#[test]
fn frames_to_another_mac_go_to_the_stack() {
    let Some(mut x) = setup(&[service("rr", &[1, 1])]) else {
        return;
    };
    x.set_device_macs(&[(LO, DIRECTOR_MAC)]).unwrap();
    let mut other = syn_from(1000);
    other[0..6].copy_from_slice(&[0x02, 0xd2, 0, 0, 0, 1]);
    assert_eq!(x.test_run(&other).unwrap(), (Verdict::Pass, other.clone()));
    assert_eq!(x.flows().unwrap().len(), 0, "no flow made");
    assert_eq!(x.test_run(&syn_from(1000)).unwrap().0, Verdict::Tx);
    // another device's MAC does not matter to this one; without an entry every frame is taken
    x.set_device_macs(&[(LO + 1000, DIRECTOR_MAC)]).unwrap();
    assert_eq!(x.test_run(&other).unwrap().0, Verdict::Tx);
}

/// Devices with an index of `DEV_SLOTS` or more are looked up in the hash `dev_macs` instead of the array
/// `dev_mac_tab`: the check holds for them too.
#[test]
fn frames_to_another_mac_go_to_the_stack_on_a_device_of_a_high_index() {
    let Some(mut x) = setup(&[service("rr", &[1, 1])]) else {
        return;
    };
    let high = DEV_SLOTS + 904;
    let mut other = syn_from(1000);
    other[0..6].copy_from_slice(&[0x02, 0xd2, 0, 0, 0, 1]);
    let runs = std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: unshare only changes this thread's namespaces.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
            let sh = format!(
                "ip link add fxh0 index {high} type veth peer name fxh1 && ip link set fxh1 up && ip link set fxh0 up"
            );
            let out = std::process::Command::new("sh")
                .args(["-c", &sh])
                .output()
                .expect("sh");
            assert!(out.status.success(), "{out:?}");
            x.set_device_macs(&[(high, DIRECTOR_MAC)]).unwrap();
            let first = (
                x.test_run_on(high, &other).unwrap(),
                x.test_run_on(high, &syn_from(1000)).unwrap().0,
            );
            x.set_device_macs(&[]).unwrap();
            (first, x.test_run_on(high, &other).unwrap().0)
        })
        .join()
        .expect("thread")
    });
    let ((to_other, to_own), after) = runs;
    assert_eq!(
        to_other,
        (Verdict::Pass, other.clone()),
        "another MAC: the stack's"
    );
    // (the real servers are behind lo, another device than the one the frames came in on)
    assert_eq!(to_own, Verdict::Redirect, "its own MAC: forwarded");
    assert_eq!(
        after,
        Verdict::Redirect,
        "the entry removed: every frame taken"
    );
}

#[test]
fn dr_new_flow_then_established_flow() {
    let mut svc = service("rr", &[1, 1]);
    svc.dests[1].ifindex = 77;
    let Some(x) = setup(&[svc]) else { return };
    let syn = syn_from(1000);
    let (v, out) = x.test_run(&syn).unwrap();
    assert_eq!((v, out), (Verdict::Tx, routed(&syn, 0)));
    let syn2 = syn_from(1001);
    let (v, out) = x.test_run(&syn2).unwrap();
    assert_eq!(
        (v, out),
        (Verdict::Redirect, routed(&syn2, 1)),
        "other device: redirect"
    );
    // the established flows keep their real servers, whatever rr would pick next
    for _ in 0..3 {
        let ack = ipv4(CLIENT, VIP, 6, 0x4000, &tcp(1001, 80, ACK));
        assert_eq!(pick(&x, &ack), Some(1));
    }
    let ack = ipv4(CLIENT, VIP, 6, 0x4000, &tcp(1000, 80, ACK));
    assert_eq!(pick(&x, &ack), Some(0));
    let s = x.service_counters(3).unwrap();
    assert_eq!((s.conns, s.packets), (2, 6));
    let d1 = x.dest_counters(3, 1).unwrap();
    assert_eq!(
        d1,
        Counters {
            conns: 1,
            packets: 4,
            bytes: 4 * (syn2.len() as u64 - 14),
            ..Default::default()
        }
    );
    assert_eq!(x.dest_conns(3, 0).unwrap().active, 1);
    assert_eq!(x.flows().unwrap().len(), 2);
}

#[test]
fn unknown_flow_without_syn_goes_to_the_stack() {
    let Some(x) = setup(&[service("rr", &[1, 1])]) else {
        return;
    };
    let ack = ipv4(CLIENT, VIP, 6, 0x4000, &tcp(2000, 80, ACK));
    assert_eq!(pick(&x, &ack), None);
    assert!(x.flows().unwrap().is_empty());
    // another port or address of the VIP is no service
    assert_eq!(
        pick(&x, &ipv4(CLIENT, VIP, 6, 0, &tcp(2000, 81, SYN))),
        None
    );
    assert_eq!(pick(&x, &ipv4(CLIENT, VIP, 17, 0, &udp(2000, 80))), None);
    assert_eq!(x.service_counters(3).unwrap().packets, 0);
}

#[test]
fn rr_and_wrr_spread_by_weight() {
    let Some(x) = setup(&[service("rr", &[1, 1, 1])]) else {
        return;
    };
    assert_eq!(spread(&x, 9, 3000, 3), vec![3, 3, 3]);
    let Some(x) = setup(&[service("wrr", &[1, 3])]) else {
        return;
    };
    assert_eq!(spread(&x, 8, 3000, 2), vec![2, 6]);
}

#[test]
fn quiesced_server_keeps_its_flows_and_gets_no_new_ones() {
    let Some(mut x) = setup(&[service("rr", &[1, 1])]) else {
        return;
    };
    assert_eq!(pick(&x, &syn_from(4000)), Some(0));
    assert_eq!(pick(&x, &syn_from(4001)), Some(1));
    x.apply(&plan(&[service("rr", &[0, 1])], Timeouts::default()).unwrap())
        .unwrap();
    assert_eq!(spread(&x, 4, 4100, 2), vec![0, 4]);
    let ack = ipv4(CLIENT, VIP, 6, 0x4000, &tcp(4000, 80, ACK));
    assert_eq!(
        pick(&x, &ack),
        Some(0),
        "an established flow stays on the quiesced server"
    );
    for sched in ["wrr", "wlc", "lc", "sed", "nq", "sh", "mh", "fo"] {
        let Some(x) = setup(&[service(sched, &[0, 1])]) else {
            return;
        };
        assert_eq!(spread(&x, 4, 4200, 2), vec![0, 4], "{sched}");
    }
}

#[test]
fn hashing_schedulers_pick_the_nftables_planes_slot() {
    for sched in ["sh", "mh", "dh"] {
        let svc = service(sched, &[1, 1, 1, 1]);
        let p = plan(std::slice::from_ref(&svc), Timeouts::default()).unwrap();
        let table = p.services[0].table.clone();
        let Some(x) = setup(&[svc]) else { return };
        let mut seen = std::collections::HashSet::new();
        for c in 1..=40u8 {
            let client = Ipv4Addr::new(198, 19, 1, c);
            let key = if sched == "dh" { VIP } else { client };
            let want = table[hash_slot(IpAddr::V4(key), table.len())] as usize;
            // any packet of an unknown flow is scheduled (a flow moved here by ECMP keeps its server)
            let frame = ipv4(client, VIP, 6, 0, &tcp(5000, 80, ACK));
            assert_eq!(pick(&x, &frame), Some(want), "{sched} client {client}");
            seen.insert(want);
        }
        if sched != "dh" {
            assert!(seen.len() > 1, "{sched} spreads clients");
        } else {
            assert_eq!(seen.len(), 1, "dh hashes the one VIP");
        }
        // those flows are held (their packets counted) but are not new connections: a connection is
        // counted where its SYN arrived, so the directors' counts add up to the clients' connections
        let c = x.service_counters(3).unwrap();
        assert_eq!((c.conns, c.packets), (0, 40), "{sched}");
        assert_eq!(x.flows().unwrap().len(), 40);
        assert!(pick(&x, &syn_from(6000)).is_some());
        assert_eq!(
            x.service_counters(3).unwrap().conns,
            1,
            "{sched}: a SYN is one"
        );
    }
}

#[test]
fn least_connection_burst_spreads_by_live_counts() {
    let Some(x) = setup(&[service("lc", &[1, 1, 1])]) else {
        return;
    };
    // a burst of new connections: each goes to the server with the fewest, so they spread evenly
    assert_eq!(spread(&x, 9, 6000, 3), vec![3, 3, 3]);
    // two of server 0's connections close: the next two go to it
    let flows = x.flows().unwrap();
    let mut closed = 0;
    for (k, f) in flows {
        if f.didx == 0 && closed < 2 {
            let port = u16::from_be(k.sport);
            let fin = ipv4(
                CLIENT,
                VIP,
                6,
                0,
                &tcp(port, 80, if closed == 0 { FIN | ACK } else { RST }),
            );
            assert_eq!(pick(&x, &fin), Some(0));
            closed += 1;
        }
    }
    let c = x.dest_conns(3, 0).unwrap();
    assert_eq!((c.active, c.inactive), (1, 2));
    assert_eq!(spread(&x, 2, 6100, 3), vec![2, 0, 0]);

    let Some(x) = setup(&[service("wlc", &[1, 2])]) else {
        return;
    };
    assert_eq!(spread(&x, 9, 6000, 2), vec![3, 6]);
    let Some(x) = setup(&[service("sed", &[1, 3])]) else {
        return;
    };
    assert_eq!(spread(&x, 8, 6000, 2), vec![2, 6]);
    let Some(x) = setup(&[service("nq", &[1, 100])]) else {
        return;
    };
    // nq: an idle server first, whatever its weight
    assert_eq!(spread(&x, 2, 6000, 2), vec![1, 1]);
    let Some(x) = setup(&[service("fo", &[1, 5, 2])]) else {
        return;
    };
    assert_eq!(spread(&x, 4, 6000, 3), vec![0, 4, 0]);
    let Some(x) = setup(&[service("ovf", &[1, 3])]) else {
        return;
    };
    // ovf: the heaviest server until its active connections reach its weight, then the next
    assert_eq!(spread(&x, 4, 6000, 2), vec![1, 3]);
    assert_eq!(
        pick(&x, &syn_from(6010)),
        None,
        "every server full: to the stack"
    );
}

#[test]
fn malformed_fragmented_icmp_and_non_ip_pass_untouched() {
    let Some(x) = setup(&[service("rr", &[1])]) else {
        return;
    };
    let good = syn_from(7000);
    let mut frames: Vec<(&str, Vec<u8>)> = vec![
        // (BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header)
        ("Ethernet header only", good[..14].to_vec()),
        ("truncated IPv4 header", good[..30].to_vec()),
        ("truncated TCP header", good[..40].to_vec()),
        (
            "first fragment",
            ipv4(CLIENT, VIP, 6, 0x2000, &tcp(7000, 80, SYN)),
        ),
        (
            "later fragment",
            ipv4(CLIENT, VIP, 6, 0x0010, &tcp(7000, 80, SYN)),
        ),
        (
            "ICMP error",
            ipv4(CLIENT, VIP, 1, 0, &[3, 4, 0, 0, 0, 0, 5, 0x78]),
        ),
        ("ARP", eth(0x0806, &[0u8; 28])),
        ("VLAN tag", eth(0x8100, &good[14..])),
    ];
    let mut bad_version = good.clone();
    bad_version[14] = 0x65;
    frames.push(("IPv4 ethertype, version 6", bad_version));
    let mut short_ihl = good.clone();
    short_ihl[14] = 0x44;
    frames.push(("IHL below 5", short_ihl));
    let v6c: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let v6v: Ipv6Addr = "2001:db8::10".parse().unwrap();
    let mut frag = vec![6, 0, 0, 1, 0, 0, 0, 1];
    frag.extend_from_slice(&tcp(7000, 80, SYN));
    frames.push(("IPv6 fragment header", ipv6(v6c, v6v, 44, &frag)));
    frames.push(("ICMPv6", ipv6(v6c, v6v, 58, &[1, 4, 0, 0, 0, 0, 0, 0])));
    for (what, f) in frames {
        let (v, out) = x.test_run(&f).unwrap();
        assert_eq!(v, Verdict::Pass, "{what}");
        assert_eq!(out, f, "{what} untouched");
    }
    assert_eq!(x.service_counters(3).unwrap().packets, 0);
    // IPv4 options are skipped, not a reason to pass
    let mut l3 = vec![0x46, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0];
    l3.extend_from_slice(&CLIENT.octets());
    l3.extend_from_slice(&VIP.octets());
    l3.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
    let t = tcp(7001, 80, SYN);
    l3[2..4].copy_from_slice(&((24 + t.len()) as u16).to_be_bytes());
    l3.extend_from_slice(&t);
    assert_eq!(pick(&x, &eth(0x0800, &l3)), Some(0));
}

#[test]
fn ipv6_and_udp_services() {
    let v6c: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let v6v: Ipv6Addr = "2001:db8::10".parse().unwrap();
    let mut s6 = service("rr", &[1, 1]);
    s6.id = 4;
    s6.addr = IpAddr::V6(v6v);
    for (i, d) in s6.dests.iter_mut().enumerate() {
        d.addr = IpAddr::V6(format!("2001:db8::1:{}", i + 1).parse().unwrap());
    }
    let mut su = service("wlc", &[1, 1]);
    su.id = 5;
    su.proto = 17;
    su.port = 53;
    let Some(x) = setup(&[s6, su]) else { return };
    assert_eq!(pick(&x, &ipv6(v6c, v6v, 6, &tcp(8000, 80, SYN))), Some(0));
    assert_eq!(pick(&x, &ipv6(v6c, v6v, 6, &tcp(8001, 80, SYN))), Some(1));
    assert_eq!(pick(&x, &ipv6(v6c, v6v, 6, &tcp(8000, 80, ACK))), Some(0));
    assert_eq!(x.service_counters(4).unwrap().conns, 2);
    // UDP: every datagram of a new flow is scheduled; the flow counts as inactive
    assert_eq!(pick(&x, &ipv4(CLIENT, VIP, 17, 0, &udp(9000, 53))), Some(0));
    assert_eq!(pick(&x, &ipv4(CLIENT, VIP, 17, 0, &udp(9001, 53))), Some(1));
    assert_eq!(pick(&x, &ipv4(CLIENT, VIP, 17, 0, &udp(9000, 53))), Some(0));
    let c = x.dest_conns(5, 0).unwrap();
    assert_eq!((c.active, c.inactive), (0, 1));
}

#[test]
fn tunnel_wraps_in_ipip() {
    let mut svc = service("rr", &[1]);
    svc.dests[0].method = Method::Tunnel {
        src: Ipv4Addr::new(198, 18, 0, 1),
        encap: Encap::Ipip,
    };
    let Some(x) = setup(&[svc]) else { return };
    let syn = syn_from(9500);
    let (v, out) = x.test_run(&syn).unwrap();
    assert_eq!(v, Verdict::Tx);
    assert_eq!(out.len(), syn.len() + 20);
    assert_eq!(&out[0..6], &rs_mac(0));
    assert_eq!(&out[6..12], &OUT_MAC);
    assert_eq!(&out[12..14], &[0x08, 0x00]);
    let outer = &out[14..34];
    assert_eq!(outer[0], 0x45);
    assert_eq!(
        u16::from_be_bytes([outer[2], outer[3]]) as usize,
        syn.len() - 14 + 20
    );
    assert_eq!(outer[9], 4, "IP-in-IP");
    assert_eq!(&outer[12..16], &[198, 18, 0, 1]);
    assert_eq!(&outer[16..20], &[198, 18, 1, 1]);
    assert_eq!(csum(outer), 0, "outer header checksum");
    assert_eq!(&out[34..], &syn[14..], "the inner packet is unchanged");
}

#[test]
fn expired_flow_is_scheduled_again_and_its_count_released() {
    let Some(mut x) = load() else { return };
    let t = Timeouts {
        tcp: 1,
        tcpfin: 1,
        udp: 1,
    };
    x.apply(&plan(&[service("rr", &[1, 1])], t).unwrap())
        .unwrap();
    assert_eq!(pick(&x, &syn_from(9900)), Some(0));
    assert_eq!(x.dest_conns(3, 0).unwrap().active, 1);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // the old flow expired: this SYN is a new flow, scheduled by rr (server 1), and server 0's count went
    assert_eq!(pick(&x, &syn_from(9900)), Some(1));
    assert_eq!(x.dest_conns(3, 0).unwrap().active, 0);
    assert_eq!(x.dest_conns(3, 1).unwrap().active, 1);
}

#[test]
fn removing_a_server_leaves_the_others_flows_alone() {
    let Some(mut x) = setup(&[service("rr", &[1, 1])]) else {
        return;
    };
    assert_eq!(pick(&x, &syn_from(9700)), Some(0));
    assert_eq!(pick(&x, &syn_from(9701)), Some(1));
    let mut svc = service("rr", &[1, 1]);
    svc.dests.remove(0);
    x.apply(&plan(&[svc], Timeouts::default()).unwrap())
        .unwrap();
    let ack = |p| ipv4(CLIENT, VIP, 6, 0x4000, &tcp(p, 80, ACK));
    assert_eq!(pick(&x, &ack(9701)), Some(1), "server 1 keeps its flow");
    // server 0's flow has no server any more: not a SYN, so it goes to the stack
    assert_eq!(pick(&x, &ack(9700)), None);
    assert_eq!(spread(&x, 3, 9710, 2), vec![0, 3]);
}

#[test]
fn a_reused_client_port_reopens_its_flow() {
    let Some(x) = setup(&[service("lc", &[1, 1])]) else {
        return;
    };
    assert_eq!(pick(&x, &syn_from(9800)), Some(0));
    let fin = ipv4(CLIENT, VIP, 6, 0, &tcp(9800, 80, FIN | ACK));
    assert_eq!(pick(&x, &fin), Some(0));
    let c = x.dest_conns(3, 0).unwrap();
    assert_eq!((c.active, c.inactive), (0, 1));
    // the same client port opens a new connection while the old flow is still closing
    assert_eq!(pick(&x, &syn_from(9800)), Some(0));
    let c = x.dest_conns(3, 0).unwrap();
    assert_eq!((c.active, c.inactive), (1, 0));
    assert_eq!(x.service_counters(3).unwrap().conns, 2);
    // padding after the IP packet is not counted
    let mut padded = syn_from(9801);
    let ip_len = padded.len() as u64 - 14;
    padded.extend_from_slice(&[0; 6]);
    assert_eq!(pick(&x, &padded), Some(1));
    assert_eq!(x.dest_counters(3, 1).unwrap().bytes, ip_len);
}

#[test]
fn idle_flows_are_swept_without_another_packet() {
    let Some(mut x) = load() else { return };
    let t = Timeouts {
        tcp: 1,
        tcpfin: 1,
        udp: 1,
    };
    x.apply(&plan(&[service("lc", &[1, 1])], t).unwrap())
        .unwrap();
    assert_eq!(pick(&x, &syn_from(9600)), Some(0));
    assert_eq!(
        pick(&x, &ipv4(CLIENT, VIP, 17, 0, &udp(9600, 80))),
        None,
        "no UDP service"
    );
    assert_eq!(x.dest_conns(3, 0).unwrap().active, 1);
    // the sweeper (every second) removes the flow once idle past its timeout, and its count with it
    let t0 = std::time::Instant::now();
    while x.dest_conns(3, 0).unwrap().active != 0 {
        assert!(t0.elapsed().as_secs() < 5, "the idle flow was not swept");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(x.flows().unwrap().is_empty());
}

fn syn_of(client: Ipv4Addr, port: u16) -> Vec<u8> {
    ipv4(client, VIP, 6, 0x4000, &tcp(port, 80, SYN))
}

fn persistent(sched: &str, weights: &[u32], timeout: u32, prefix: u8) -> ServiceSpec {
    let mut s = service(sched, weights);
    s.persistence = Some(Persistence { timeout, prefix });
    s
}

/// Waits (at most 5 s) for `cond`, the sweeper running every second.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !cond() {
        assert!(t0.elapsed().as_secs() < 5, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn persistence_pins_a_client_network_to_its_server() {
    let Some(mut x) = setup(&[persistent("rr", &[1, 1, 1], 60, 24)]) else {
        return;
    };
    let a = Ipv4Addr::new(198, 19, 0, 7);
    let a2 = Ipv4Addr::new(198, 19, 0, 200);
    let b = Ipv4Addr::new(198, 20, 0, 7);
    // every new flow of the client's /24 goes to the first pick, whatever rr would say
    for p in 1000..1005 {
        assert_eq!(pick(&x, &syn_of(a, p)), Some(0), "port {p}");
    }
    assert_eq!(pick(&x, &syn_of(a2, 1000)), Some(0), "same /24");
    assert_eq!(pick(&x, &syn_of(b, 1000)), Some(1), "another network: rr");
    assert_eq!(pick(&x, &syn_of(b, 1001)), Some(1));
    let entries = x.persistence().unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let ea = entries
        .iter()
        .find(|(k, _)| k.addr[..4] == [198, 19, 0, 0])
        .unwrap();
    assert_eq!((ea.1.didx, ea.1.conns), (0, 6));
    assert_eq!(ea.1.timeout_ns, 60_000_000_000);
    // a quiesced server keeps its persistent clients (IPVS without expire_quiescent_template)
    x.apply(&plan(&[persistent("rr", &[0, 1, 1], 60, 24)], Timeouts::default()).unwrap())
        .unwrap();
    assert_eq!(pick(&x, &syn_of(a, 1010)), Some(0));
    let c = Ipv4Addr::new(198, 21, 0, 7);
    assert_ne!(pick(&x, &syn_of(c, 1000)), Some(0), "no new clients for it");
    // a server that left the service takes its clients' entries with it
    let mut svc = persistent("rr", &[1, 1, 1], 60, 24);
    svc.dests.remove(0);
    x.apply(&plan(&[svc], Timeouts::default()).unwrap())
        .unwrap();
    let moved = pick(&x, &syn_of(a, 1020)).expect("scheduled again");
    assert_ne!(moved, 0);
    assert_eq!(pick(&x, &syn_of(a2, 1021)), Some(moved), "and pinned there");
}

#[test]
fn persistence_lasts_its_timeout_after_the_last_flow_ends() {
    let Some(mut x) = load() else { return };
    let t = Timeouts {
        tcp: 1,
        tcpfin: 1,
        udp: 1,
    };
    x.apply(&plan(&[persistent("rr", &[1, 1], 2, 32)], t).unwrap())
        .unwrap();
    assert_eq!(pick(&x, &syn_from(1100)), Some(0));
    assert_eq!(pick(&x, &syn_from(1101)), Some(0));
    // the flows idle out and are swept; the entry stays, its time running from then
    wait_for("flows swept", || x.flows().unwrap().is_empty());
    let e = x.persistence().unwrap();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].1.conns, 0);
    assert_eq!(pick(&x, &syn_from(1102)), Some(0), "still pinned");
    wait_for("flow swept", || x.flows().unwrap().is_empty());
    // TIMEOUT after the last flow went, the entry goes too, and the client is scheduled afresh (rr's
    // next pick: the entry's flows never asked rr again)
    wait_for("entry swept", || x.persistence().unwrap().is_empty());
    assert_eq!(pick(&x, &syn_from(1103)), Some(1));
}

/// A threshold set on a server that already holds its connections (`ipvsadm -e ... -x`) stops new ones at once,
/// not after the next connection it takes.
#[test]
fn a_threshold_set_later_applies_to_the_connections_held() {
    let Some(mut x) = load() else { return };
    let t = Timeouts {
        tcp: 900,
        tcpfin: 1,
        udp: 1,
    };
    let mut svc = service("rr", &[1, 1]);
    x.apply(&plan(std::slice::from_ref(&svc), t).unwrap())
        .unwrap();
    assert_eq!(spread(&x, 6, 1300, 2), vec![3, 3]);
    svc.dests[0].u_threshold = 3;
    x.apply(&plan(std::slice::from_ref(&svc), t).unwrap())
        .unwrap();
    assert_eq!(x.dest_conns(3, 0).unwrap().overload, 1);
    assert_eq!(spread(&x, 4, 1310, 2), vec![0, 4]);
    // raised again: taken off at once too
    svc.dests[0].u_threshold = 10;
    x.apply(&plan(std::slice::from_ref(&svc), t).unwrap())
        .unwrap();
    assert_eq!(x.dest_conns(3, 0).unwrap().overload, 0);
}

#[test]
fn upper_threshold_stops_new_flows_until_the_lower_one() {
    let Some(mut x) = load() else { return };
    let t = Timeouts {
        tcp: 900,
        tcpfin: 1,
        udp: 1,
    };
    let mut svc = service("rr", &[1, 1]);
    svc.dests[0].u_threshold = 3;
    svc.dests[0].l_threshold = 2;
    x.apply(&plan(std::slice::from_ref(&svc), t).unwrap())
        .unwrap();
    // rr alternates until server 0 holds 3 connections, then everything goes to server 1
    assert_eq!(spread(&x, 6, 1200, 2), vec![3, 3]);
    assert_eq!(spread(&x, 4, 1210, 2), vec![0, 4]);
    assert_eq!(x.dest_conns(3, 0).unwrap().overload, 1);
    let ports: Vec<u16> = x
        .flows()
        .unwrap()
        .iter()
        .filter(|(_, f)| f.didx == 0)
        .map(|(k, _)| u16::from_be(k.sport))
        .collect();
    let close = |x: &Xdp, p: u16| {
        assert_eq!(pick(x, &ipv4(CLIENT, VIP, 6, 0, &tcp(p, 80, RST))), Some(0));
    };
    // one closes and is gone (2 left): not below the lower threshold (2), still overloaded
    close(&x, ports[0]);
    let total = |x: &Xdp| {
        let c = x.dest_conns(3, 0).unwrap();
        c.active + c.inactive
    };
    wait_for("first flow swept", || total(&x) == 2);
    assert_eq!(spread(&x, 2, 1220, 2), vec![0, 2]);
    // another: 1, below the lower threshold, the server takes new flows again
    close(&x, ports[1]);
    wait_for("second flow swept", || total(&x) == 1);
    assert_eq!(spread(&x, 2, 1230, 2), vec![1, 1]);
    assert_eq!(x.dest_conns(3, 0).unwrap().overload, 0);
}

#[test]
fn every_server_over_its_threshold_drops_new_flows() {
    for sched in ["rr", "wlc", "sh"] {
        let mut svc = service(sched, &[1]);
        svc.dests[0].u_threshold = 1;
        let Some(x) = setup(&[svc]) else { return };
        assert_eq!(pick(&x, &syn_from(1300)), Some(0), "{sched}");
        let syn = syn_from(1301);
        let (v, _) = x.test_run(&syn).unwrap();
        assert_eq!(v, Verdict::Drop, "{sched}: no server below its threshold");
        // the open flow goes on
        let ack = ipv4(CLIENT, VIP, 6, 0x4000, &tcp(1300, 80, ACK));
        assert_eq!(pick(&x, &ack), Some(0), "{sched}");
    }
    // the default lower threshold is three quarters of the upper one
    let mut svc = service("lc", &[1]);
    svc.dests[0].u_threshold = 4;
    let Some(x) = setup(&[svc]) else { return };
    for p in 1400..1404 {
        assert_eq!(pick(&x, &syn_from(p)), Some(0));
    }
    assert_eq!(x.test_run(&syn_from(1404)).unwrap().0, Verdict::Drop);
}

fn flagged(sched: &str, weights: &[u32], fallback: bool, port: bool) -> ServiceSpec {
    let mut s = service(sched, weights);
    s.flags = SchedFlags { fallback, port };
    s
}

#[test]
fn sh_port_and_mh_port_hash_the_client_port_as_nftables_lays_it_out() {
    for sched in ["sh", "mh"] {
        let svc = flagged(sched, &[1, 1, 1, 1], false, true);
        let p = plan(std::slice::from_ref(&svc), Timeouts::default()).unwrap();
        let table = p.services[0].table.clone();
        let Some(x) = setup(&[svc]) else { return };
        let mut seen = std::collections::HashSet::new();
        for port in 20000..20040u16 {
            let want = table[key_slot(&hash_key(IpAddr::V4(CLIENT), Some(port)), table.len())];
            assert_eq!(
                pick(&x, &syn_from(port)),
                Some(want as usize),
                "{sched} port {port}"
            );
            seen.insert(want);
        }
        assert!(seen.len() > 1, "{sched}-port spreads one client's ports");
    }
    // IPv6: address and port make a 20-byte key
    let v6c: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let v6v: Ipv6Addr = "2001:db8::10".parse().unwrap();
    let mut s6 = flagged("mh", &[1, 1, 1], false, true);
    s6.addr = IpAddr::V6(v6v);
    for (i, d) in s6.dests.iter_mut().enumerate() {
        d.addr = IpAddr::V6(format!("2001:db8::1:{}", i + 1).parse().unwrap());
    }
    let p = plan(std::slice::from_ref(&s6), Timeouts::default()).unwrap();
    let table = p.services[0].table.clone();
    let Some(x) = setup(&[s6]) else { return };
    for port in 21000..21020u16 {
        let want = table[key_slot(&hash_key(IpAddr::V6(v6c), Some(port)), table.len())];
        let frame = ipv6(v6c, v6v, 6, &tcp(port, 80, SYN));
        assert_eq!(pick(&x, &frame), Some(want as usize), "mh-port v6 {port}");
    }
}

/// Two client ports of CLIENT whose sh-port/mh-port slot holds real server `target`.
fn ports_to(table: &[u32], target: u32) -> Vec<u16> {
    (30000..40000u16)
        .filter(|&p| table[key_slot(&hash_key(IpAddr::V4(CLIENT), Some(p)), table.len())] == target)
        .take(2)
        .collect()
}

#[test]
fn fallback_sends_an_overloaded_slots_clients_to_the_next_slots_server() {
    for sched in ["sh", "mh"] {
        for fallback in [false, true] {
            let mut svc = flagged(sched, &[1, 1, 1], fallback, true);
            svc.dests[0].u_threshold = 1;
            let p = plan(std::slice::from_ref(&svc), Timeouts::default()).unwrap();
            let table = p.services[0].table.clone();
            let Some(x) = setup(&[svc]) else { return };
            let ports = ports_to(&table, 0);
            let what = format!("{sched} fallback={fallback}");
            // the first client of server 0 reaches it and fills it (upper threshold 1)
            assert_eq!(pick(&x, &syn_from(ports[0])), Some(0), "{what}");
            assert_eq!(x.dest_conns(3, 0).unwrap().overload, 1, "{what}");
            let syn = syn_from(ports[1]);
            if !fallback {
                assert_eq!(x.test_run(&syn).unwrap().0, Verdict::Drop, "{what}");
                continue;
            }
            let slot = key_slot(&hash_key(IpAddr::V4(CLIENT), Some(ports[1])), table.len());
            let next = fallback_slot(&table, slot, |d| d != 0).expect("an available slot");
            assert_ne!(table[next], 0);
            assert_eq!(pick(&x, &syn), Some(table[next] as usize), "{what}");
            // clients of the other servers are not moved
            let other = ports_to(&table, 2)[0];
            assert_eq!(pick(&x, &syn_from(other)), Some(2), "{what}");
        }
    }
    // every server over its threshold: nothing to fall back to, dropped
    let mut svc = flagged("sh", &[1], true, false);
    svc.dests[0].u_threshold = 1;
    let Some(x) = setup(&[svc]) else { return };
    assert_eq!(pick(&x, &syn_from(30000)), Some(0));
    assert_eq!(x.test_run(&syn_from(30001)).unwrap().0, Verdict::Drop);
}

#[test]
fn flags_are_ignored_by_the_other_schedulers() {
    let Some(x) = setup(&[flagged("rr", &[1, 1], true, true)]) else {
        return;
    };
    assert_eq!(spread(&x, 4, 31000, 2), vec![2, 2]);
}

#[test]
fn lblc_keeps_the_destinations_server_until_it_is_overloaded() {
    // a server is overloaded for lblc with more active connections than its weight while another has
    // fewer than half its weight; then wlc picks a new one for the destination (the VIP)
    let Some(mut x) = setup(&[service("lblc", &[1, 1, 1])]) else {
        return;
    };
    let picks: Vec<usize> = (32000..32007)
        .map(|p| pick(&x, &syn_from(p)).expect("scheduled"))
        .collect();
    assert_eq!(picks, vec![0, 0, 1, 1, 2, 2, 2]);
    let e = x.locality().unwrap();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(&e[0].0.addr[..4], &VIP.octets());
    assert_eq!((e[0].0.sid, e[0].1.members), (3, 0b100));
    // its server quiesced: wlc picks another and the entry follows
    x.apply(&plan(&[service("lblc", &[1, 1, 0])], Timeouts::default()).unwrap())
        .unwrap();
    assert_eq!(pick(&x, &syn_from(32010)), Some(0));
    assert_eq!(x.locality().unwrap()[0].1.members, 0b001);
    // established flows keep their servers
    let ack = ipv4(CLIENT, VIP, 6, 0x4000, &tcp(32005, 80, ACK));
    assert_eq!(pick(&x, &ack), Some(2));
    // another scheduler: the locality table goes with lblc
    x.apply(&plan(&[service("wlc", &[1, 1, 0])], Timeouts::default()).unwrap())
        .unwrap();
    assert!(x.locality().unwrap().is_empty());
}

#[test]
fn lblcr_grows_a_set_and_uses_its_least_loaded_member() {
    let Some(x) = setup(&[service("lblcr", &[1, 1, 1])]) else {
        return;
    };
    let picks: Vec<usize> = (33000..33007)
        .map(|p| pick(&x, &syn_from(p)).expect("scheduled"))
        .collect();
    // 0 until overloaded, then 1 joins (the set's least loaded), then 2; then no server is below half
    // its weight, so the least loaded member (0, first of the equals) takes the next
    assert_eq!(picks, vec![0, 0, 1, 1, 2, 2, 0]);
    let e = x.locality().unwrap();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].1.members, 0b111);
}

#[test]
fn lblcr_set_loses_its_most_loaded_member_and_idle_entries_expire() {
    let Some(mut x) = load() else { return };
    let mut p = plan(&[service("lblcr", &[1, 1])], Timeouts::default()).unwrap();
    p.config.locality_ns = 1_000_000_000;
    x.apply(&p).unwrap();
    let picks: Vec<usize> = (34000..34003)
        .map(|p| pick(&x, &syn_from(p)).expect("scheduled"))
        .collect();
    assert_eq!(picks, vec![0, 0, 1]);
    assert_eq!(x.locality().unwrap()[0].1.members, 0b11);
    // used again within the expiry: no change to the set
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(pick(&x, &syn_from(34003)), Some(1));
    assert_eq!(x.locality().unwrap()[0].1.members, 0b11);
    // the set unchanged for longer than the expiry: its most loaded member (0 and 1 both hold two
    // connections: the first) leaves it; the pick is still made from the set as it was (IPVS's order)
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(pick(&x, &syn_from(34004)), Some(0));
    assert_eq!(x.locality().unwrap()[0].1.members, 0b10);
    // unused for the expiry: the sweeper forgets the entry
    wait_for("locality entry swept", || x.locality().unwrap().is_empty());
}

fn one_packet(sched: &str, weights: &[u32]) -> ServiceSpec {
    let mut s = service(sched, weights);
    s.proto = 17;
    s.port = 53;
    s.one_packet = true;
    s
}

fn datagram(client: Ipv4Addr, port: u16) -> Vec<u8> {
    ipv4(client, VIP, 17, 0, &udp(port, 53))
}

#[test]
fn one_packet_scheduling_schedules_every_datagram_and_keeps_no_flow() {
    let Some(x) = setup(&[one_packet("rr", &[1, 1])]) else {
        return;
    };
    // the same client and port: each datagram is a new pick (without -o they would all stay on 0)
    let picks: Vec<_> = (0..4).map(|_| pick(&x, &datagram(CLIENT, 9000))).collect();
    assert_eq!(picks, [Some(0), Some(1), Some(0), Some(1)]);
    assert!(x.flows().unwrap().is_empty(), "no flow is kept");
    for d in 0..2 {
        let c = x.dest_conns(3, d).unwrap();
        assert_eq!(
            (c.active, c.inactive),
            (0, 0),
            "each connection ended with its datagram"
        );
        assert_eq!(x.dest_counters(3, d).unwrap().conns, 2, "and was counted");
    }
    assert_eq!(x.service_counters(3).unwrap().conns, 4);
}

#[test]
fn one_packet_scheduling_is_for_udp_only_and_keeps_persistence() {
    // -o on a TCP service changes nothing, as with IPVS
    let mut tcp_svc = service("rr", &[1, 1]);
    tcp_svc.one_packet = true;
    let Some(x) = setup(&[tcp_svc]) else { return };
    assert_eq!(pick(&x, &syn_from(7000)), Some(0));
    assert_eq!(
        pick(&x, &ipv4(CLIENT, VIP, 6, 0x4000, &tcp(7000, 80, ACK))),
        Some(0)
    );
    assert_eq!(x.flows().unwrap().len(), 1);
    // a persistent -o service: a client's datagrams stay on the server of its entry, whose
    // timeout starts at each datagram (no flow holds it)
    let mut s = one_packet("rr", &[1, 1, 1]);
    s.persistence = Some(Persistence {
        timeout: 60,
        prefix: 32,
    });
    let Some(x) = setup(&[s]) else { return };
    let a = Ipv4Addr::new(198, 19, 0, 7);
    let b = Ipv4Addr::new(198, 19, 0, 8);
    for p in 9000..9004 {
        assert_eq!(pick(&x, &datagram(a, p)), Some(0), "port {p}");
    }
    assert_eq!(pick(&x, &datagram(b, 9000)), Some(1));
    assert!(x.flows().unwrap().is_empty());
    let entries = x.persistence().unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries.iter().all(|(_, e)| e.conns == 0), "{entries:?}");
}

/// `frame` (Ethernet, IPv4 without options, TCP or UDP) with its TCP/UDP checksum filled in.
fn with_l4_csum(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    let at = match f[23] {
        6 => 34 + 16,
        _ => 34 + 6,
    };
    f[at..at + 2].copy_from_slice(&[0, 0]);
    let l4 = &f[34..];
    let mut p = Vec::new();
    p.extend_from_slice(&f[26..34]);
    p.extend_from_slice(&[0, f[23]]);
    p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    p.extend_from_slice(l4);
    let c = csum(&p);
    f[at..at + 2].copy_from_slice(&c.to_be_bytes());
    f
}

fn tunnelled(encap: Encap) -> Option<Xdp> {
    let mut svc = service("rr", &[1]);
    svc.dests[0].method = Method::Tunnel {
        src: Ipv4Addr::new(198, 18, 0, 1),
        encap,
    };
    svc.proto = 6;
    let mut u = service("rr", &[1]);
    u.id = 4;
    u.proto = 17;
    u.port = 53;
    u.dests[0].method = svc.dests[0].method;
    setup(&[svc, u])
}

/// Checks the outer Ethernet and IPv4 headers of a tunnelled `out` (IP protocol `proto`, `extra` bytes of
/// tunnel headers after it) and returns those headers; the inner packet after them is `inner` unchanged.
fn outer<'a>(out: &'a [u8], inner: &[u8], proto: u8, extra: usize) -> &'a [u8] {
    assert_eq!(&out[0..6], &rs_mac(0));
    assert_eq!(&out[6..12], &OUT_MAC);
    assert_eq!(&out[12..14], &[0x08, 0x00]);
    let ip = &out[14..34];
    assert_eq!(ip[0], 0x45);
    assert_eq!(
        u16::from_be_bytes([ip[2], ip[3]]) as usize,
        inner.len() - 14 + 20 + extra
    );
    assert_eq!(ip[9], proto);
    assert_eq!(&ip[12..16], &[198, 18, 0, 1]);
    assert_eq!(&ip[16..20], &[198, 18, 1, 1]);
    assert_eq!(csum(ip), 0, "outer header checksum");
    assert_eq!(
        &out[34 + extra..],
        &inner[14..],
        "the inner packet is unchanged"
    );
    &out[34..34 + extra]
}

/// The UDP checksum of the GUE packet `out` verifies (pseudo-header and the whole datagram).
fn udp_csum_ok(out: &[u8]) -> bool {
    let mut p = Vec::new();
    p.extend_from_slice(&out[26..34]);
    p.extend_from_slice(&[0, 17]);
    p.extend_from_slice(&((out.len() - 34) as u16).to_be_bytes());
    p.extend_from_slice(&out[34..]);
    csum(&p) == 0
}

#[test]
fn tunnel_wraps_in_gue() {
    let Some(x) = tunnelled(Encap::Gue {
        port: 6080,
        csum: false,
    }) else {
        return;
    };
    let syn = with_l4_csum(&syn_from(9500));
    let (v, out) = x.test_run(&syn).unwrap();
    assert_eq!(v, Verdict::Tx);
    let h = outer(&out, &syn, 17, 12);
    let sport = u16::from_be_bytes([h[0], h[1]]);
    assert!((32768..=60999).contains(&sport), "source port {sport}");
    assert_eq!(u16::from_be_bytes([h[2], h[3]]), 6080);
    assert_eq!(
        u16::from_be_bytes([h[4], h[5]]) as usize,
        syn.len() - 14 + 12
    );
    assert_eq!(&h[6..8], &[0, 0], "no checksum (--tun-nocsum)");
    assert_eq!(&h[8..12], &[0, 4, 0, 0], "GUE variant 0, IP-in-IP inside");
    // the same flow keeps its source port, other flows spread over others
    let again = x
        .test_run(&with_l4_csum(&ipv4(
            CLIENT,
            VIP,
            6,
            0x4000,
            &tcp(9500, 80, ACK),
        )))
        .unwrap()
        .1;
    assert_eq!(&again[34..36], &h[0..2]);
    let ports: std::collections::HashSet<_> = (9501..9521)
        .map(|p| {
            let o = x.test_run(&with_l4_csum(&syn_from(p))).unwrap().1;
            u16::from_be_bytes([o[34], o[35]])
        })
        .collect();
    assert!(ports.len() > 15, "{ports:?}");
    assert!(ports.iter().all(|p| (32768..=60999).contains(p)));
}

#[test]
fn gue_checksum_is_filled_in_without_reading_the_payload() {
    let Some(x) = tunnelled(Encap::Gue {
        port: 6080,
        csum: true,
    }) else {
        return;
    };
    for frame in [
        with_l4_csum(&syn_from(9600)),
        with_l4_csum(&ipv4(CLIENT, VIP, 17, 0, &udp(9000, 53))),
    ] {
        let (v, out) = x.test_run(&frame).unwrap();
        assert_eq!(v, Verdict::Tx);
        let h = outer(&out, &frame, 17, 12);
        assert_ne!(&h[6..8], &[0, 0], "a checksum");
        assert!(udp_csum_ok(&out), "the UDP checksum verifies");
    }
    // a datagram sent without a checksum goes without one (its sum is not known)
    let bare = ipv4(CLIENT, VIP, 17, 0, &udp(9001, 53));
    let (v, out) = x.test_run(&bare).unwrap();
    assert_eq!(v, Verdict::Tx);
    assert_eq!(&outer(&out, &bare, 17, 12)[6..8], &[0, 0]);
}

#[test]
fn tunnel_wraps_in_gre() {
    let Some(x) = tunnelled(Encap::Gre { csum: false }) else {
        return;
    };
    let syn = with_l4_csum(&syn_from(9700));
    let (v, out) = x.test_run(&syn).unwrap();
    assert_eq!(v, Verdict::Tx);
    assert_eq!(outer(&out, &syn, 47, 4), &[0, 0, 0x08, 0x00]);

    let Some(x) = tunnelled(Encap::Gre { csum: true }) else {
        return;
    };
    let (v, out) = x.test_run(&syn).unwrap();
    assert_eq!(v, Verdict::Tx);
    let h = outer(&out, &syn, 47, 8);
    assert_eq!(&h[0..4], &[0x80, 0, 0x08, 0x00], "C bit, protocol IPv4");
    assert_eq!(&h[6..8], &[0, 0], "reserved");
    assert_eq!(
        csum(&out[34..]),
        0,
        "the GRE checksum covers header and payload"
    );
    // without the inner datagram's checksum the GRE checksum cannot be had: the stack gets it
    let bare = ipv4(CLIENT, VIP, 17, 0, &udp(9001, 53));
    assert_eq!(x.test_run(&bare).unwrap().0, Verdict::Pass);
}

#[test]
fn a_server_taking_another_ones_slot_gets_none_of_its_flows() {
    let mut svc = service("lc", &[1, 1]);
    let Some(mut x) = setup(std::slice::from_ref(&svc)) else {
        return;
    };
    assert_eq!(pick(&x, &syn_from(7100)), Some(0));
    assert_eq!(pick(&x, &syn_from(7101)), Some(1));
    // slot 0 goes to another real server (ids are reused once every server left, for instance)
    svc.dests[0].addr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 9));
    x.apply(&plan(std::slice::from_ref(&svc), Timeouts::default()).unwrap())
        .unwrap();
    let c = x.dest_conns(3, 0).unwrap();
    assert_eq!(
        (c.active, c.inactive),
        (0, 0),
        "the new server starts without counts"
    );
    // the old server's flow is not sent to the new one: without its SYN it goes to the stack
    let ack = |p| ipv4(CLIENT, VIP, 6, 0x4000, &tcp(p, 80, ACK));
    assert_eq!(pick(&x, &ack(7100)), None);
    assert_eq!(
        pick(&x, &ack(7101)),
        Some(1),
        "the other server's flow stays"
    );
    let c = x.dest_conns(3, 0).unwrap();
    assert_eq!(
        (c.active, c.inactive),
        (0, 0),
        "its count was not taken from the new server"
    );
    assert_eq!(
        pick(&x, &syn_from(7102)),
        Some(0),
        "lc: the new server has none"
    );

    // a persistence entry of the old server does not send its clients to the new one
    let mut svc = persistent("rr", &[1, 1], 60, 32);
    let Some(mut x) = setup(std::slice::from_ref(&svc)) else {
        return;
    };
    let a = Ipv4Addr::new(198, 19, 0, 7);
    assert_eq!(pick(&x, &syn_of(a, 1000)), Some(0));
    svc.dests[0].addr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 9));
    x.apply(&plan(std::slice::from_ref(&svc), Timeouts::default()).unwrap())
        .unwrap();
    let again = pick(&x, &syn_of(a, 1001)).expect("scheduled");
    let entries = x.persistence().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let (_, e) = entries[0];
    let holder = &svc.dests[again];
    assert_eq!(e.didx as usize, again);
    assert_eq!(e.tag, dest_tag(holder.addr, holder.port), "bound anew");
    assert_eq!(e.conns, 1, "only the new flow holds it");
}

/// The verifier gives up with EAGAIN when a signal is pending for the loading thread (a checker's child
/// exiting sends the process SIGCHLD, and under load a verifier run lasts seconds): the load blocks the
/// thread's signals, so a stream of signals aimed at that very thread does not stop it, and they are
/// delivered once it is over.
#[test]
fn a_load_is_not_cut_short_by_signals() {
    if load().is_none() {
        return;
    }
    static SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    extern "C" fn count(_: libc::c_int) {
        SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    // SAFETY: the handler only touches an atomic; SIGUSR2 is this test's alone.
    unsafe { libc::signal(libc::SIGUSR2, count as *const () as libc::sighandler_t) };
    let me = unsafe { libc::pthread_self() };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    let spam = std::thread::spawn(move || {
        let mut sent = 0u32;
        while !d.load(std::sync::atomic::Ordering::Relaxed) && sent < 200_000 {
            // SAFETY: `me` is the test's thread, alive until `done` is set and this thread joined.
            unsafe { libc::pthread_kill(me, libc::SIGUSR2) };
            sent += 1;
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        sent
    });
    let r = Xdp::load();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = spam.join().unwrap();
    assert!(sent > 10, "signals were sent during the load ({sent})");
    assert!(r.is_ok(), "{:?}", r.err());
    assert!(
        SEEN.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the signals are delivered after the load"
    );
}

#[test]
fn time_run_repeats_the_frame_and_reports_the_kernels_time_per_run() {
    let Some(x) = setup(&[service("rr", &[1, 1])]) else {
        return;
    };
    let (v, _) = x.time_run(&syn_from(2000), 1).unwrap();
    assert_eq!(v, Verdict::Tx);
    let ack = ipv4(CLIENT, VIP, 6, 0x4000, &tcp(2000, 80, ACK));
    let (v, ns) = x.time_run(&ack, 1000).unwrap();
    assert_eq!(v, Verdict::Tx, "the established flow's server");
    assert!(ns > 0 && ns < 1_000_000, "{ns} ns per run");
    let c = x.service_counters(3).unwrap();
    assert_eq!((c.conns, c.packets), (1, 1001), "every repeat ran");
}

/// Client `i` of a flood: distinct 5-tuples (50,000 ports on each of a few addresses of `net`).
fn flood_client(net: [u8; 2], i: u32) -> (Ipv4Addr, u16) {
    (
        Ipv4Addr::new(net[0], net[1], (i / 50_000) as u8, 7),
        10_000 + (i % 50_000) as u16,
    )
}

/// Per real server: (active, inactive).
type PerServer = Vec<(i64, i64)>;

/// Per real server of service 3: the open and the closing flows of the flow table.
fn table_counts(x: &Xdp, dests: usize) -> PerServer {
    let mut v = vec![(0, 0); dests];
    for (_, f) in x.flows().unwrap() {
        if f.sid == 3 && (f.didx as usize) < dests {
            match f.state {
                fulcrum_xdp::layout::state::OPEN => v[f.didx as usize].0 += 1,
                _ => v[f.didx as usize].1 += 1,
            }
        }
    }
    v
}

fn live_counts(x: &Xdp, dests: usize) -> PerServer {
    (0..dests as u32)
        .map(|i| {
            let c = x.dest_conns(3, i).unwrap();
            (c.active, c.inactive)
        })
        .collect()
}

/// Waits (at most 5 s, the sweeper running every second) until the live counts are those of the
/// flow table, then returns both.
fn wait_for_counts(x: &Xdp, dests: usize) -> (PerServer, PerServer) {
    let t0 = std::time::Instant::now();
    loop {
        let table = table_counts(x, dests);
        let live = live_counts(x, dests);
        if table == live || t0.elapsed().as_secs() >= 5 {
            return (table, live);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn counts_of_flows_the_full_table_evicted_are_taken_back_by_the_sweeper() {
    let Some(x) = setup(&[service("wlc", &[1, 2, 3])]) else {
        return;
    };
    // a SYN flood past the flow table's size from distinct client ports (every tenth connection
    // closed at once, so inactive counts move too): the LRU evicts the oldest flows, their counts
    // stay behind until the sweeper reconciles them with the table
    let n = 80_000;
    for i in 0..n {
        let (c, p) = flood_client([198, 19], i);
        let (v, _) = x.test_run(&syn_of(c, p)).unwrap();
        assert_eq!(v, Verdict::Tx, "SYN {i}");
        if i % 10 == 0 {
            let fin = ipv4(c, VIP, 6, 0, &tcp(p, 80, FIN | ACK));
            assert_eq!(x.test_run(&fin).unwrap().0, Verdict::Tx);
        }
    }
    let flows = x.flows().unwrap().len();
    assert!(flows < n as usize, "the table evicted flows ({flows})");
    let (table, live) = wait_for_counts(&x, 3);
    assert_eq!(
        live, table,
        "live counts (active, inactive) per server are the table's"
    );
    let total: i64 = table.iter().map(|(a, i)| a + i).sum();
    assert_eq!(total as usize, flows);
    // and wlc schedules from them: the next connection goes where the table says
    let oh: Vec<i64> = table.iter().map(|(a, i)| a * 256 + i).collect();
    let best = (0..3)
        .min_by(|&a, &b| (oh[a] * (b as i64 + 1)).cmp(&(oh[b] * (a as i64 + 1))))
        .unwrap();
    assert_eq!(
        pick(&x, &syn_of(Ipv4Addr::new(198, 21, 0, 1), 1)),
        Some(best)
    );
}

#[test]
fn reconciling_leaves_exact_counts_alone() {
    let mut svc = service("lc", &[1, 1, 1]);
    svc.dests[0].u_threshold = 2;
    let mut dns = service("rr", &[1, 1]);
    dns.id = 4;
    dns.port = 53;
    dns.proto = 17;
    let Some(x) = setup(&[svc, dns]) else { return };
    assert_eq!(spread(&x, 6, 4000, 3), vec![2, 2, 2]);
    for (k, f) in x.flows().unwrap() {
        let port = u16::from_be(k.sport);
        if f.didx == 1 && port % 2 == 0 {
            assert_eq!(
                pick(&x, &ipv4(CLIENT, VIP, 6, 0, &tcp(port, 80, RST))),
                Some(1)
            );
        }
    }
    for p in 0..3 {
        assert!(pick(&x, &ipv4(CLIENT, VIP, 17, 0, &udp(5000 + p, 53))).is_some());
    }
    let before = live_counts(&x, 3);
    assert_eq!(before.iter().map(|c| c.0).sum::<i64>(), 5);
    assert_eq!(before[1], (1, 1));
    assert_eq!(x.dest_conns(3, 0).unwrap().overload, 1, "at its threshold");
    let udp_before: Vec<_> = (0..2).map(|i| x.dest_conns(4, i).unwrap()).collect();
    // two sweeps and more: nothing was evicted, nothing moves
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(live_counts(&x, 3), before);
    assert_eq!(table_counts(&x, 3), before);
    assert_eq!(x.dest_conns(3, 0).unwrap().overload, 1, "still overloaded");
    let udp_after: Vec<_> = (0..2).map(|i| x.dest_conns(4, i).unwrap()).collect();
    assert_eq!(
        udp_after
            .iter()
            .map(|c| (c.active, c.inactive))
            .collect::<Vec<_>>(),
        udp_before
            .iter()
            .map(|c| (c.active, c.inactive))
            .collect::<Vec<_>>()
    );
    assert_eq!(udp_after.iter().map(|c| c.inactive).sum::<i64>(), 3);
}

#[test]
fn a_persistence_entry_whose_flows_were_all_evicted_expires() {
    let mut sticky = persistent("rr", &[1, 1], 1, 24);
    sticky.port = 443;
    let mut flood = service("rr", &[1, 1]);
    flood.id = 4;
    let Some(x) = setup(&[sticky, flood]) else {
        return;
    };
    let a = Ipv4Addr::new(198, 19, 0, 7);
    for p in 1000..1005 {
        let syn = ipv4(a, VIP, 6, 0x4000, &tcp(p, 443, SYN));
        assert_eq!(pick(&x, &syn), Some(0));
    }
    assert_eq!(x.persistence().unwrap()[0].1.conns, 5);
    // a flood to the other service pushes the client's (least recently used) flows out of the table
    for i in 0..100_000 {
        let (c, p) = flood_client([198, 20], i);
        assert_eq!(x.test_run(&syn_of(c, p)).unwrap().0, Verdict::Tx);
    }
    let held = |x: &Xdp| {
        x.flows()
            .unwrap()
            .iter()
            .filter(|(k, f)| f.sid == 3 && k.saddr[..4] == a.octets())
            .count() as i32
    };
    assert_eq!(held(&x), 0, "the flood evicted the client's flows");
    // the sweeper finds none of them left: the entry holds none, so its timeout runs, and it goes
    wait_for("the entry holds no flow", || {
        x.persistence()
            .unwrap()
            .first()
            .is_none_or(|(_, e)| e.conns == 0)
    });
    wait_for("the entry expired", || x.persistence().unwrap().is_empty());
}

/// Five sweeps' durations after `runs`, as the sweeper's own clock reading around each.
fn sweep_times(x: &Xdp) -> Vec<u64> {
    let mut runs = x.sweeper().unwrap().runs;
    let mut ns = Vec::new();
    while ns.len() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let s = x.sweeper().unwrap();
        if s.runs != runs {
            runs = s.runs;
            ns.push(s.last_ns);
        }
    }
    ns
}

/// What a sweep costs with a full flow table (65,536 flows of a wlc service with three real servers),
/// and with a single flow: the sweeper's own clock reading around each of five sweeps. A measurement,
/// run by hand: `cargo test -p fulcrum-xdp --test prog -- --ignored sweep_cost --nocapture` (root).
#[test]
#[ignore]
fn sweep_cost_with_a_full_table() {
    let Some(x) = setup(&[service("wlc", &[1, 2, 3])]) else {
        return;
    };
    assert!(pick(&x, &syn_from(1)).is_some());
    eprintln!("1 flow: sweeps took {:?} ns", sweep_times(&x));
    for i in 0..80_000 {
        let (c, p) = flood_client([198, 19], i);
        assert_eq!(x.test_run(&syn_of(c, p)).unwrap().0, Verdict::Tx);
    }
    let flows = x.flows().unwrap().len();
    eprintln!("{flows} flows: sweeps took {:?} ns", sweep_times(&x));
    assert_eq!(x.flows().unwrap().len(), flows, "nothing expired");
}

// ---- NAT (masquerading) ----

const RS: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);

fn nat_services() -> Vec<ServiceSpec> {
    let mut t = service("rr", &[1]);
    t.dests[0].method = Method::Nat;
    t.dests[0].port = 8080;
    let mut u = t.clone();
    u.id = 4;
    u.proto = 17;
    u.port = 53;
    u.dests[0].port = 5353;
    vec![t, u]
}

/// Offsets of an Ethernet frame's IP addresses and L4 header, and its L4 protocol.
fn l4_at(f: &[u8]) -> (std::ops::Range<usize>, usize, u8) {
    if f[12..14] == [0x86, 0xdd] {
        (22..54, 54, f[20])
    } else {
        (26..34, 14 + usize::from(f[14] & 15) * 4, f[23])
    }
}

/// The TCP/UDP/ICMPv6 checksum of `f` summed from scratch with its pseudo-header (0 when it verifies).
fn l4_sum(f: &[u8]) -> u16 {
    let (addrs, at, proto) = l4_at(f);
    let mut p = f[addrs].to_vec();
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&((f.len() - at) as u16).to_be_bytes());
    p.extend_from_slice(&f[at..]);
    csum(&p)
}

/// `f` with its TCP or UDP checksum filled in.
fn fill_l4(f: &[u8]) -> Vec<u8> {
    let mut f = f.to_vec();
    let (_, at, proto) = l4_at(&f);
    let c = at + if proto == 6 { 16 } else { 6 };
    f[c..c + 2].copy_from_slice(&[0, 0]);
    let s = l4_sum(&f);
    f[c..c + 2].copy_from_slice(&s.to_be_bytes());
    f
}

/// Runs `frame` from a thread in a network namespace of its own (no routes, no neighbours, forwarding off),
/// where the program's route lookups find nothing.
fn run_isolated(x: &Xdp, frame: &[u8]) -> (Verdict, Vec<u8>) {
    run_in_own_netns(x, frame, false)
}

/// Runs `frame` from a thread in a network namespace of its own with forwarding on and a route to the clients
/// (198.19.0.0/24, fd00:2::/64) on a veth device, but no neighbour entries: the route lookup stops at the
/// unresolved neighbour.
fn run_unresolved(x: &Xdp, frame: &[u8]) -> (Verdict, Vec<u8>) {
    run_in_own_netns(x, frame, true)
}

fn run_in_own_netns(x: &Xdp, frame: &[u8], routed: bool) -> (Verdict, Vec<u8>) {
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: unshare only changes this thread's namespaces.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
            if routed {
                // (a child forked from this thread starts in its namespace)
                let sh = "ip link set lo up && ip link add fx0 type veth peer name fx1 && ip link set fx1 up && ip link set fx0 up \
                    && ip addr add 198.19.0.1/24 dev fx0 && ip addr add fd00:2::1/64 dev fx0 nodad \
                    && sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1";
                let out = std::process::Command::new("sh")
                    .args(["-c", sh])
                    .output()
                    .expect("sh");
                assert!(out.status.success(), "{out:?}");
            }
            x.test_run(frame).expect("test run")
        })
        .join()
        .expect("thread")
    })
}

#[test]
fn nat_translates_tcp_and_udp_in_and_replies_out() {
    let Some(x) = setup(&nat_services()) else {
        return;
    };
    // in: VIP:80 -> RS:8080, TTL 63, MACs of the real server's next hop, checksums from scratch
    let syn = fill_l4(&syn_from(1000));
    let (v, out) = x.test_run(&syn).unwrap();
    assert_eq!(v, Verdict::Tx);
    assert_eq!(&out[0..6], &rs_mac(0));
    assert_eq!(&out[6..12], &OUT_MAC);
    assert_eq!(&out[30..34], &RS.octets());
    assert_eq!(&out[36..38], &8080u16.to_be_bytes());
    assert_eq!(out[22], 63, "TTL decremented");
    assert_eq!(csum(&out[14..34]), 0, "IPv4 header checksum");
    assert_eq!(l4_sum(&out), 0, "TCP checksum");
    assert_eq!(&out[26..30], &CLIENT.octets());
    let rev = x.nat_reverse().unwrap();
    assert_eq!(rev.len(), 1, "{rev:?}");
    // UDP with a checksum, and without one (it stays 0)
    let d = fill_l4(&ipv4(CLIENT, VIP, 17, 0, &udp(2000, 53)));
    let (v, out) = x.test_run(&d).unwrap();
    assert_eq!(v, Verdict::Tx);
    assert_eq!(&out[36..38], &5353u16.to_be_bytes());
    assert_eq!((csum(&out[14..34]), l4_sum(&out)), (0, 0));
    let d0 = ipv4(CLIENT, VIP, 17, 0, &udp(2001, 53));
    let (v, out) = x.test_run(&d0).unwrap();
    assert_eq!(v, Verdict::Tx);
    assert_eq!(&out[40..42], &[0, 0], "no UDP checksum stays none");
    assert_eq!(csum(&out[14..34]), 0);

    // out: the reply RS:8080 -> client:1000 gets VIP:80 back; with forwarding off (no route) the stack decides:
    // passed, translated
    let reply = fill_l4(&ipv4(RS, CLIENT, 6, 0x4000, &tcp(8080, 1000, SYN | ACK)));
    let (v, out) = run_isolated(&x, &reply);
    assert_eq!(v, Verdict::Pass);
    assert_eq!(&out[26..30], &VIP.octets());
    assert_eq!(&out[34..36], &80u16.to_be_bytes());
    assert_eq!(&out[30..34], &CLIENT.octets());
    assert_eq!(out[22], 64, "the stack forwards it and decrements the TTL");
    assert_eq!((csum(&out[14..34]), l4_sum(&out)), (0, 0));
    // routed, but the client's neighbour entry not resolved yet: back the way the client's SYN came in (that
    // device, to the MAC it came from), where the stack would drop a forwarded packet from the director's own
    // address
    let (v, out) = run_unresolved(&x, &reply);
    assert_eq!(
        v,
        Verdict::Tx,
        "the SYN came in on the device the reply is run on"
    );
    assert_eq!(
        &out[0..6],
        &syn[6..12],
        "to the MAC the client's packets came from"
    );
    assert_eq!(&out[6..12], &syn[0..6], "from the MAC they came to");
    assert_eq!(&out[26..30], &VIP.octets());
    assert_eq!(&out[34..36], &80u16.to_be_bytes());
    assert_eq!(out[22], 63, "TTL decremented");
    assert_eq!((csum(&out[14..34]), l4_sum(&out)), (0, 0));
    let s = x.service_counters(3).unwrap();
    assert_eq!((s.conns, s.packets, s.out_packets), (1, 1, 2));
    assert_eq!(s.out_bytes, 2 * (reply.len() as u64 - 14));
    assert_eq!(x.dest_counters(3, 0).unwrap().out_packets, 2);
    // a FIN from the server moves the flow to closing
    let fin = fill_l4(&ipv4(RS, CLIENT, 6, 0x4000, &tcp(8080, 1000, FIN | ACK)));
    assert_eq!(run_isolated(&x, &fin).0, Verdict::Pass);
    assert_eq!(x.dest_conns(3, 0).unwrap().inactive, 1);
    assert_eq!(x.dest_conns(3, 0).unwrap().active, 0);
    // not a NAT flow's reply: untouched
    let other = fill_l4(&ipv4(RS, CLIENT, 6, 0x4000, &tcp(8080, 1234, ACK)));
    assert_eq!(x.test_run(&other).unwrap(), (Verdict::Pass, other.clone()));
    // TTL 1: the stack answers time-exceeded
    let mut t1 = syn_from(1001);
    t1[22] = 1;
    t1[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&t1[14..34]);
    t1[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(x.test_run(&t1).unwrap(), (Verdict::Pass, t1.clone()));
}

/// An IPv6 NAT service alone in a program, and its addresses.
struct Nat6 {
    x: Xdp,
    rs: Ipv6Addr,
    vip: Ipv6Addr,
    client: Ipv6Addr,
}

/// [`Nat6`] of `nat_services`' TCP service (VIP:80 to RS:8080), or with `udp` of its UDP one on the
/// service's own port (VIP:5353 to RS:5353). None where BPF cannot load.
fn nat6(udp: bool) -> Option<Nat6> {
    let rs: Ipv6Addr = "fd00:1::2".parse().unwrap();
    let vip: Ipv6Addr = "fd00::10".parse().unwrap();
    let client: Ipv6Addr = "fd00:2::7".parse().unwrap();
    let mut s = nat_services().remove(usize::from(udp));
    s.addr = IpAddr::V6(vip);
    s.dests[0].addr = IpAddr::V6(rs);
    if udp {
        s.port = 5353;
        s.dests[0].port = 5353;
    }
    Some(Nat6 {
        x: setup(&[s])?,
        rs,
        vip,
        client,
    })
}

#[test]
fn nat_translates_ipv6() {
    let Some(Nat6 {
        x,
        rs: rs6,
        vip: vip6,
        client: client6,
    }) = nat6(false)
    else {
        return;
    };
    let syn = fill_l4(&ipv6(client6, vip6, 6, &tcp(1000, 80, SYN)));
    let (v, out) = x.test_run(&syn).unwrap();
    assert_eq!(v, Verdict::Tx);
    assert_eq!(&out[38..54], &rs6.octets());
    assert_eq!(&out[56..58], &8080u16.to_be_bytes());
    assert_eq!(out[21], 63, "hop limit decremented");
    assert_eq!(l4_sum(&out), 0);
    let reply = fill_l4(&ipv6(rs6, client6, 6, &tcp(8080, 1000, SYN | ACK)));
    let (v, out) = run_isolated(&x, &reply);
    assert_eq!(v, Verdict::Pass);
    assert_eq!(&out[22..38], &vip6.octets());
    assert_eq!(&out[54..56], &80u16.to_be_bytes());
    assert_eq!(l4_sum(&out), 0);
    let (v, out) = run_unresolved(&x, &reply);
    assert_eq!(v, Verdict::Tx, "back the way the client's SYN came in");
    assert_eq!((&out[0..6], &out[6..12]), (&syn[6..12], &syn[0..6]));
    assert_eq!(out[21], 63, "hop limit decremented");
    assert_eq!(&out[22..38], &vip6.octets());
    assert_eq!(&out[54..56], &80u16.to_be_bytes());
    assert_eq!(l4_sum(&out), 0);
}

/// UDP over IPv6 to a NAT server on the service's own port: every datagram of the flow is translated.
#[test]
fn nat_translates_ipv6_udp_on_the_same_port() {
    let Some(Nat6 {
        x,
        rs: rs6,
        vip: vip6,
        client: client6,
    }) = nat6(true)
    else {
        return;
    };
    let d = fill_l4(&ipv6(client6, vip6, 17, &udp(40000, 5353)));
    for i in 0..3 {
        let (v, out) = x.test_run(&d).unwrap();
        assert_eq!(v, Verdict::Tx, "datagram {i}");
        assert_eq!(&out[38..54], &rs6.octets());
        assert_eq!(l4_sum(&out), 0);
    }
    assert_eq!(x.nat_reverse().unwrap().len(), 1);
}

#[test]
fn nat_reverse_entry_goes_with_its_flow() {
    let Some(mut x) = load() else { return };
    let t = Timeouts {
        tcp: 1,
        tcpfin: 1,
        udp: 1,
    };
    x.apply(&plan(&nat_services(), t).unwrap()).unwrap();
    assert_eq!(
        x.test_run(&fill_l4(&syn_from(1000))).unwrap().0,
        Verdict::Tx
    );
    assert_eq!(x.nat_reverse().unwrap().len(), 1);
    // the sweeper expires the flow and drops its reverse entry in the same pass
    wait_for("the flow and its reverse entry to go", || {
        x.flows().unwrap().is_empty() && x.nat_reverse().unwrap().is_empty()
    });
    // a reply now is no NAT flow's
    let reply = fill_l4(&ipv4(RS, CLIENT, 6, 0x4000, &tcp(8080, 1000, ACK)));
    assert_eq!(x.test_run(&reply).unwrap(), (Verdict::Pass, reply.clone()));
}

/// An ICMPv4 error (type `ty`) from `src` to `dst` quoting `inner` (an IPv4 packet, cut to 28 bytes).
fn icmp_error(src: Ipv4Addr, dst: Ipv4Addr, ty: u8, inner: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&inner[..28]);
    let c = csum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, 1, 0, &m)
}

/// An ICMPv6 error of `ty` from `src` to `dst` quoting `inner` (an IPv6 packet: its header and 8 bytes), with its
/// checksum.
fn icmp6_error(src: Ipv6Addr, dst: Ipv6Addr, ty: u8, inner: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&inner[..48]);
    let mut f = ipv6(src, dst, 58, &m);
    let c = l4_sum(&f);
    f[56..58].copy_from_slice(&c.to_be_bytes());
    f
}

#[test]
fn nat_translates_icmpv6_errors_both_ways() {
    let Some(Nat6 {
        x,
        rs: rs6,
        vip: vip6,
        client: client6,
    }) = nat6(false)
    else {
        return;
    };
    let syn = fill_l4(&ipv6(client6, vip6, 6, &tcp(1000, 80, SYN)));
    assert_eq!(x.test_run(&syn).unwrap().0, Verdict::Tx);
    let router: Ipv6Addr = "fd00:2::1".parse().unwrap();
    // a router to the VIP about a reply (VIP:80 -> client:1000), packet too big: on to the real server
    let quoted = fill_l4(&ipv6(vip6, client6, 6, &tcp(80, 1000, ACK)));
    let err = icmp6_error(router, vip6, 2, &quoted[14..]);
    assert_eq!(l4_sum(&err), 0, "the fixture's own checksum");
    let (v, out) = x.test_run(&err).unwrap();
    assert_eq!(v, Verdict::Tx);
    assert_eq!(&out[38..54], &rs6.octets(), "outer destination");
    assert_eq!(&out[70..86], &rs6.octets(), "embedded source");
    assert_eq!(
        &out[102..104],
        &8080u16.to_be_bytes(),
        "embedded source port"
    );
    assert_eq!(l4_sum(&out), 0, "ICMPv6 checksum");
    // the real server about the client's packet (client:1000 -> RS:8080): to the client, as the VIP
    let quoted = fill_l4(&ipv6(client6, rs6, 6, &tcp(1000, 8080, ACK)));
    let err = icmp6_error(rs6, client6, 1, &quoted[14..]);
    let (v, out) = run_unresolved(&x, &err);
    assert_eq!(v, Verdict::Tx, "back the way the client's SYN came in");
    assert_eq!(&out[22..38], &vip6.octets(), "outer source");
    assert_eq!(&out[86..102], &vip6.octets(), "embedded destination");
    assert_eq!(
        &out[104..106],
        &80u16.to_be_bytes(),
        "embedded destination port"
    );
    assert_eq!(l4_sum(&out), 0, "ICMPv6 checksum");
    // an echo request is no error: untouched
    let echo = icmp6_error(client6, vip6, 128, &quoted[14..]);
    assert_eq!(x.test_run(&echo).unwrap(), (Verdict::Pass, echo.clone()));
}

#[test]
fn nat_translates_icmp_errors_both_ways() {
    let Some(x) = setup(&nat_services()) else {
        return;
    };
    let syn = fill_l4(&syn_from(1000));
    assert_eq!(x.test_run(&syn).unwrap().0, Verdict::Tx);
    let router = Ipv4Addr::new(198, 19, 0, 1);
    // to the VIP about a reply (VIP:80 -> client:1000): on to the real server
    let quoted = fill_l4(&ipv4(VIP, CLIENT, 6, 0x4000, &tcp(80, 1000, ACK)));
    let err = icmp_error(router, VIP, 3, &quoted[14..]);
    let (v, out) = x.test_run(&err).unwrap();
    assert_eq!(v, Verdict::Tx);
    assert_eq!(&out[0..6], &rs_mac(0));
    assert_eq!(&out[30..34], &RS.octets(), "outer destination");
    assert_eq!(&out[54..58], &RS.octets(), "embedded source");
    assert_eq!(&out[62..64], &8080u16.to_be_bytes(), "embedded source port");
    assert_eq!(csum(&out[14..34]), 0, "outer header checksum");
    assert_eq!(csum(&out[42..62]), 0, "embedded header checksum");
    assert_eq!(csum(&out[34..]), 0, "ICMP checksum");
    // from the real server about the client's packet (client:1000 -> RS:8080): to the client, as the VIP
    let quoted = fill_l4(&ipv4(CLIENT, RS, 6, 0x4000, &tcp(1000, 8080, ACK)));
    let err = icmp_error(RS, CLIENT, 3, &quoted[14..]);
    let (v, out) = run_unresolved(&x, &err);
    assert_eq!(v, Verdict::Tx, "back the way the client's SYN came in");
    assert_eq!((&out[0..6], &out[6..12]), (&syn[6..12], &syn[0..6]));
    assert_eq!(&out[26..30], &VIP.octets(), "outer source");
    assert_eq!(&out[58..62], &VIP.octets(), "embedded destination");
    assert_eq!(
        &out[64..66],
        &80u16.to_be_bytes(),
        "embedded destination port"
    );
    assert_eq!(csum(&out[14..34]), 0);
    assert_eq!(csum(&out[42..62]), 0);
    assert_eq!(csum(&out[34..]), 0);
    // an error about no NAT flow, and an echo request: untouched
    let quoted = fill_l4(&ipv4(CLIENT, RS, 6, 0x4000, &tcp(1999, 8080, ACK)));
    let err = icmp_error(RS, CLIENT, 3, &quoted[14..]);
    assert_eq!(x.test_run(&err).unwrap(), (Verdict::Pass, err.clone()));
    let echo = icmp_error(CLIENT, VIP, 8, &quoted[14..]);
    assert_eq!(x.test_run(&echo).unwrap(), (Verdict::Pass, echo.clone()));
}

/// The program looks a packet to no service (and an ICMP error) up among NAT's reverse entries only while some
/// real server is NAT (config flag `NAT`): a director without NAT pays no lookup. A table without NAT that gets
/// a NAT service has the flag set by that same store, before its first flow; once the last NAT service is
/// removed, the reverse entries left are not looked at and a reply goes to the stack untouched.
#[test]
fn nat_replies_are_looked_for_only_while_a_nat_server_is_there() {
    let mut dr = service("rr", &[1, 1]);
    dr.id = 5;
    dr.port = 443;
    let Some(mut x) = setup(&[dr.clone()]) else {
        return;
    };
    let nat_flag = |x: &Xdp| x.config().unwrap().flags & cfg_flags::NAT;
    assert_eq!(nat_flag(&x), 0, "no NAT server: no flag");
    let reply = fill_l4(&ipv4(RS, CLIENT, 6, 0x4000, &tcp(8080, 1000, SYN | ACK)));
    assert_eq!(x.test_run(&reply).unwrap(), (Verdict::Pass, reply.clone()));

    // NAT services added to that table: the first flow is translated, and so are its reply and an ICMP error
    // about it (the flag set by the same store; a program that never set it would pass them untouched)
    let mut with_nat = nat_services();
    with_nat.push(dr.clone());
    x.apply(&plan(&with_nat, Timeouts::default()).unwrap())
        .unwrap();
    assert_eq!(nat_flag(&x), cfg_flags::NAT);
    let (v, out) = x.test_run(&fill_l4(&syn_from(1000))).unwrap();
    assert_eq!(v, Verdict::Tx);
    assert_eq!(&out[30..34], &RS.octets());
    assert_eq!(x.nat_reverse().unwrap().len(), 1);
    let (v, out) = run_isolated(&x, &reply);
    assert_eq!(v, Verdict::Pass);
    assert_eq!(&out[26..30], &VIP.octets(), "the reply's source: the VIP");
    assert_eq!(&out[34..36], &80u16.to_be_bytes());
    assert_eq!((csum(&out[14..34]), l4_sum(&out)), (0, 0));
    let quoted = fill_l4(&ipv4(CLIENT, RS, 6, 0x4000, &tcp(1000, 8080, ACK)));
    let err = icmp_error(RS, CLIENT, 3, &quoted[14..]);
    let (v, out) = run_isolated(&x, &err);
    assert_eq!(v, Verdict::Pass);
    assert_eq!(&out[26..30], &VIP.octets(), "the error's source: the VIP");

    // the NAT services removed, their flow and reverse entry still there: replies and errors go to the stack
    // untouched, without a look at them
    x.apply(&plan(&[dr], Timeouts::default()).unwrap()).unwrap();
    assert_eq!(nat_flag(&x), 0, "the last NAT server gone: no flag");
    assert_eq!(x.nat_reverse().unwrap().len(), 1, "the entry is left");
    assert_eq!(x.test_run(&reply).unwrap(), (Verdict::Pass, reply.clone()));
    assert_eq!(run_isolated(&x, &reply), (Verdict::Pass, reply.clone()));
    assert_eq!(run_isolated(&x, &err), (Verdict::Pass, err.clone()));
}
