//! The XDP plane (`FULCRUM_L4_PLANE=xdp`) end to end in network namespaces: the program attached to the
//! director's client-facing veth forwards a direct-routed VIP to two real servers by rewriting the
//! destination MAC, its counters feed the listings, and least-connection spreads a burst of new
//! connections by live connection counts. Skipped like the other netns tests (and also when the XDP
//! program cannot load) unless FULCRUM_REQUIRE_NETNS=1.

#[path = "lvs_common/mod.rs"]
mod common;

use common::{counts, setup_on, sh, Lab, VIP};
use std::path::PathBuf;

/// A bpf file system of the test's own, mounted in the host's mount namespace (every `ip netns exec`
/// sees it), unmounted on drop: the pinned maps and links go with it.
struct BpfFs(PathBuf);

impl BpfFs {
    fn mount(prefix: &str) -> Option<BpfFs> {
        let dir = std::env::temp_dir().join(format!("{prefix}-bpf"));
        std::fs::create_dir_all(&dir).ok()?;
        let d = dir.to_string_lossy().into_owned();
        match sh(&["mount", "-t", "bpf", "bpf", &d]) {
            Ok(_) => Some(BpfFs(dir)),
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                eprintln!("cannot mount a bpf file system: {e}");
                None
            }
        }
    }

    fn pins(&self) -> PathBuf {
        self.0.join("lvs")
    }
}

impl Drop for BpfFs {
    fn drop(&mut self) {
        let d = self.0.to_string_lossy().into_owned();
        let _ = sh(&["umount", &d]);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A process killed by its PID when dropped (also when the test fails).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn xok(lab: &Lab, pins: &str, line: &str) -> String {
    let args: Vec<&str> = line.split_whitespace().collect();
    let env = [
        ("FULCRUM_L4_PLANE", "xdp"),
        ("FULCRUM_XDP_PIN_DIR", pins),
        ("FULCRUM_LVS_DR_DEVICES", "d0"),
    ];
    let (code, out, err) = lab.ipvsadm_env(&env, &args, "");
    assert_eq!((code, err.as_str()), (0, ""), "ipvsadm {line}");
    out
}

#[test]
fn xdp_plane_direct_routing_and_least_connection_burst() {
    if let Err(e) = fulcrum_xdp::Xdp::load() {
        if std::env::var("FULCRUM_REQUIRE_NETNS").as_deref() == Ok("1") {
            panic!("FULCRUM_REQUIRE_NETNS=1 but {e}");
        }
        eprintln!("skipping the XDP plane test: {e}");
        return;
    }
    // The lab's own commands on nftables (as before XDP was the default); the XDP ones name their pins.
    let Some(lab) = setup_on("nftables") else {
        return;
    };
    let Some(bpf) = BpfFs::mount(&lab.prefix) else {
        if std::env::var("FULCRUM_REQUIRE_NETNS").as_deref() == Ok("1") {
            panic!("no bpf file system");
        }
        return;
    };
    let pins = bpf.pins().to_string_lossy().into_owned();
    lab.direct_routing_legs();
    xok(&lab, &pins, &format!("-A -t {VIP}:8080 -s rr"));
    xok(&lab, &pins, &format!("-a -t {VIP}:8080 -r 198.18.1.2 -g"));
    xok(&lab, &pins, &format!("-a -t {VIP}:8080 -r 198.18.1.3 -g"));
    let link = sh(&["ip", "-n", &lab.ns("d"), "link", "show", "d0"]).unwrap_or_default();
    assert!(
        link.contains("xdp"),
        "the program is attached to d0: {link}"
    );

    assert_eq!(counts(&lab.traffic("tcp", 8080, 20)), (10, 10), "XDP DR rr");
    // The XDP program counted them (the nftables ingress hook behind it never saw them).
    let x = fulcrum_xdp::Xdp::open_pinned(&bpf.pins()).expect("pinned maps");
    let svc = x.service_counters(0).expect("counters");
    assert_eq!(svc.conns, 20, "{svc:?}");
    assert!(svc.packets >= 60, "{svc:?}");
    let stats = xok(&lab, &pins, "-L -n --stats --exact");
    let line: Vec<u64> = stats
        .lines()
        .find(|l| l.starts_with(&format!("TCP  {VIP}:8080")))
        .unwrap_or_default()
        .split_whitespace()
        .skip(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    assert_eq!(line.first(), Some(&20), "{stats}");
    assert_eq!(line.get(1), Some(&svc.packets), "{stats}");
    // -Z zeroes the XDP counters too.
    xok(&lab, &pins, "-Z");
    assert_eq!(x.service_counters(0).unwrap(), Default::default());
    assert_eq!(x.dest_counters(0, 0).unwrap(), Default::default());

    // Least connection, per connection: r2 quiesced while three connections open on r1; back at
    // weight 1, a burst of three new connections all goes to r2, the server with the fewest.
    xok(&lab, &pins, &format!("-A -t {VIP}:8081 -s lc"));
    xok(&lab, &pins, &format!("-a -t {VIP}:8081 -r 198.18.1.2 -g"));
    xok(
        &lab,
        &pins,
        &format!("-a -t {VIP}:8081 -r 198.18.1.3 -g -w 0"),
    );
    let mut first = lab.hold(VIP, 8081, 3);
    assert!(first.names.iter().all(|n| n == "r1"), "{:?}", first.names);
    xok(
        &lab,
        &pins,
        &format!("-e -t {VIP}:8081 -r 198.18.1.3 -g -w 1"),
    );
    let mut burst = lab.hold(VIP, 8081, 3);
    assert!(
        burst.names.iter().all(|n| n == "r2"),
        "lc spreads by live counts: {:?}",
        burst.names
    );
    assert_eq!(first.ping(), 3, "r1's connections still flow");
    assert_eq!(burst.ping(), 3);
    let list = xok(&lab, &pins, "-L -n");
    assert!(
        list.contains("  -> 198.18.1.3:8081              Route   1      3          0         \n"),
        "live counts listed: {list}"
    );
    // `-c` lists the XDP flow table.
    let conns = xok(&lab, &pins, "-L -n -c");
    let held = conns
        .lines()
        .filter(|l| l.contains(&format!("{VIP}:8081")) && l.contains("ESTABLISHED"))
        .count();
    assert_eq!(held, 6, "{conns}");
    // `--plane` says which plane serves what.
    xok(&lab, &pins, &format!("-A -t {VIP}:8082 -s lblc"));
    let plane = xok(&lab, &pins, "--plane");
    assert!(plane.starts_with("plane: xdp"), "{plane}");
    assert!(
        plane.contains(&format!("xdp       TCP {VIP}:8080\n")),
        "{plane}"
    );
    assert!(
        plane.contains(&format!("xdp       TCP {VIP}:8081\n")),
        "{plane}"
    );
    assert!(
        plane.contains(&format!("xdp       TCP {VIP}:8082\n")),
        "lblc is served in XDP: {plane}"
    );
    // ... found out from the pinned program, not by loading it again (the verifier's seconds).
    let probe = fulcrum_lvs::plane::xdp_probe::probe_in(&bpf.pins());
    assert!(
        matches!(&probe, fulcrum_lvs::plane::xdp_probe::XdpProbe::Pinned(ids) if ids.len() == 3),
        "{probe:?}"
    );
    drop(burst);
    drop(first);

    // Persistence in XDP: every connection of the client goes to the server of its first one (rr
    // would alternate), `-c` lists the entry as IPVS lists its template, `--persistent-conn` counts it.
    // (The real servers listen on 8080 and 8081 only: the lc service becomes a persistent rr one.)
    xok(&lab, &pins, &format!("-E -t {VIP}:8081 -s rr -p 30"));
    let plane = xok(&lab, &pins, "--plane");
    assert!(
        plane.contains(&format!("xdp       TCP {VIP}:8081\n")),
        "{plane}"
    );
    let mut pinned = lab.hold(VIP, 8081, 3);
    assert!(
        pinned.names.iter().all(|n| n == &pinned.names[0]),
        "persistent: one server {:?}",
        pinned.names
    );
    assert_eq!(pinned.ping(), 3);
    let conns = xok(&lab, &pins, "-L -n -c");
    assert!(
        conns
            .lines()
            .any(|l| l.contains("NONE") && l.contains(&format!("{VIP}:8081"))),
        "a template: {conns}"
    );
    let pc = xok(&lab, &pins, "-L -n --persistent-conn");
    assert!(
        pc.lines()
            .filter(|l| l.starts_with("  -> ") && l.contains(":8081 "))
            .any(|l| l.split_whitespace().nth(3) == Some("1")),
        "one persistent entry: {pc}"
    );
    drop(pinned);
}

/// Connects once from each source (`address` or `address,port`) to `VIP:port`; prints `source name`
/// per connection.
const FROM_EACH: &str = r#"
import socket, sys
port = int(sys.argv[1])
for src in sys.argv[2:]:
    addr, _, sport = src.partition(",")
    try:
        c = socket.create_connection(("198.19.0.100", port), timeout=2, source_address=(addr, int(sport or 0)))
        print(src, c.recv(100).decode(), flush=True)
        c.close()
    except OSError as e:
        print(src, "FAIL", flush=True)
"#;

fn picks(lab: &Lab, port: u16, sources: &[String]) -> Vec<String> {
    let port = port.to_string();
    let mut args = vec!["python3", "-c", FROM_EACH, port.as_str()];
    args.extend(sources.iter().map(String::as_str));
    let out = lab
        .exec("c", &args)
        .unwrap_or_else(|e| panic!("client: {e}"));
    out.lines().map(str::to_string).collect()
}

#[test]
fn xdp_plane_hashes_clients_to_the_same_servers_as_the_nftables_plane() {
    if let Err(e) = fulcrum_xdp::Xdp::load() {
        if std::env::var("FULCRUM_REQUIRE_NETNS").as_deref() == Ok("1") {
            panic!("FULCRUM_REQUIRE_NETNS=1 but {e}");
        }
        eprintln!("skipping the XDP plane test: {e}");
        return;
    }
    // The lab's own commands on nftables (as before XDP was the default); the XDP ones name their pins.
    let Some(lab) = setup_on("nftables") else {
        return;
    };
    let Some(bpf) = BpfFs::mount(&lab.prefix) else {
        if std::env::var("FULCRUM_REQUIRE_NETNS").as_deref() == Ok("1") {
            panic!("no bpf file system");
        }
        return;
    };
    let pins = bpf.pins().to_string_lossy().into_owned();
    lab.direct_routing_legs();
    let sources: Vec<String> = (20..36).map(|i| format!("198.18.0.{i}")).collect();
    for s in &sources {
        sh(&[
            "ip",
            "-n",
            &lab.ns("c"),
            "addr",
            "add",
            &format!("{s}/32"),
            "dev",
            "c0",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    }
    // First the nftables plane alone.
    for (port, sched) in [(8080, "mh"), (8081, "sh")] {
        lab.ok(&format!("-A -t {VIP}:{port} -s {sched}"));
        lab.ok(&format!("-a -t {VIP}:{port} -r 198.18.1.2 -g"));
        lab.ok(&format!("-a -t {VIP}:{port} -r 198.18.1.3 -g"));
    }
    let nft_mh = picks(&lab, 8080, &sources);
    let nft_sh = picks(&lab, 8081, &sources);
    // sh-port on the nftables plane: one client's connections from different ports spread by the rule
    // (nftables' `jhash ip saddr . tcp sport`)
    lab.ok(&format!("-E -t {VIP}:8081 -s sh -b sh-port"));
    let from_ports = |first: u16| -> Vec<String> {
        (first..first + 16)
            .map(|p| format!("198.18.0.20,{p}"))
            .collect()
    };
    let nft_ports = from_ports(42000);
    let got = picks(&lab, 8081, &nft_ports);
    assert_eq!(got, sh_port_rule(&nft_ports), "nftables sh-port");
    lab.ok(&format!("-E -t {VIP}:8081 -s sh"));
    for p in [&nft_mh, &nft_sh] {
        assert!(p.iter().all(|l| !l.ends_with("FAIL")), "{p:?}");
        assert!(
            p.iter().any(|l| l.ends_with("r1")) && p.iter().any(|l| l.ends_with("r2")),
            "{p:?}"
        );
    }
    // Then the same table stored through the XDP plane: every client keeps its real server.
    xok(&lab, &pins, &format!("-E -t {VIP}:8080 -s mh"));
    assert_eq!(
        picks(&lab, 8080, &sources),
        nft_mh,
        "mh: same picks on both planes"
    );
    assert_eq!(
        picks(&lab, 8081, &sources),
        nft_sh,
        "sh: same picks on both planes"
    );
    let x = fulcrum_xdp::Xdp::open_pinned(&bpf.pins()).expect("pinned maps");
    let (mh, sh_) = (
        x.service_counters(0).unwrap(),
        x.service_counters(1).unwrap(),
    );
    assert_eq!(
        (mh.conns, sh_.conns),
        (16, 16),
        "XDP carried the second round"
    );
    // sh-port on the XDP plane: served there (`--plane`), and by the same rule as nftables
    xok(&lab, &pins, &format!("-E -t {VIP}:8081 -s sh -b sh-port"));
    let plane = xok(&lab, &pins, "--plane");
    assert!(
        plane.contains(&format!("xdp       TCP {VIP}:8081\n")),
        "{plane}"
    );
    let xdp_ports = from_ports(43000);
    let got = picks(&lab, 8081, &xdp_ports);
    assert_eq!(got, sh_port_rule(&xdp_ports), "XDP sh-port");
    assert!(
        got.iter().any(|l| l.ends_with("r1")) && got.iter().any(|l| l.ends_with("r2")),
        "one client's ports spread: {got:?}"
    );
    assert_eq!(x.service_counters(1).unwrap().conns, 32, "XDP carried them");

    // mh-fallback in XDP: both servers take one connection (-x 1); the client's second connection
    // finds its hashed server full and goes on to the other one. (The closed flows above count as
    // inactive until their tcpfin timeout: 1 s here, then swept.)
    xok(&lab, &pins, "--set 900 1 300");
    lab.wait_until(
        "the closed flows swept",
        std::time::Duration::from_secs(10),
        || {
            x.flows().is_ok_and(|f| {
                f.iter()
                    .all(|(_, fl)| fl.state != fulcrum_xdp::layout::state::CLOSING)
            })
        },
    );
    xok(
        &lab,
        &pins,
        &format!("-E -t {VIP}:8081 -s mh -b mh-fallback"),
    );
    for r in ["198.18.1.2", "198.18.1.3"] {
        xok(&lab, &pins, &format!("-e -t {VIP}:8081 -r {r} -g -x 1"));
    }
    let plane = xok(&lab, &pins, "--plane");
    assert!(
        plane.contains(&format!("xdp       TCP {VIP}:8081\n")),
        "{plane}"
    );
    let first = mh_rule("198.18.0.2");
    let other = if first == "r1" { "r2" } else { "r1" };
    let mut held = lab.hold(VIP, 8081, 2);
    assert_eq!(
        held.names,
        vec![first.to_string(), other.to_string()],
        "mh-fallback"
    );
    assert_eq!(held.ping(), 2);
    drop(held);
}

/// The server mh's rule gives `client` over the lab's two real servers (weight 1).
fn mh_rule(client: &str) -> String {
    use fulcrum_xdp::plan::{hash_slot, plan};
    let mut spec = two_servers("mh");
    spec.flags.fallback = true;
    let p = plan(&[spec], Default::default()).expect("plan");
    let table = &p.services[0].table;
    format!(
        "r{}",
        table[hash_slot(client.parse().expect("address"), table.len())] + 1
    )
}

/// The `source name` lines sh-port's rule gives for `sources` (`address,port`) over the lab's two real
/// servers (r1 198.18.1.2, r2 198.18.1.3, weight 1): the plan's sh table looked up with the key nftables
/// hashes.
fn sh_port_rule(sources: &[String]) -> Vec<String> {
    use fulcrum_xdp::plan::{hash_key, key_slot, plan};
    let mut spec = two_servers("sh");
    spec.flags.port = true;
    let p = plan(&[spec], Default::default()).expect("plan");
    let table = &p.services[0].table;
    sources
        .iter()
        .map(|s| {
            let (a, port) = s.split_once(',').expect("address,port");
            let key = hash_key(
                a.parse().expect("address"),
                Some(port.parse().expect("port")),
            );
            format!("{s} r{}", table[key_slot(&key, table.len())] + 1)
        })
        .collect()
}

/// The lab's VIP:8081 over r1 (198.18.1.2, slot 0) and r2 (198.18.1.3, slot 1), weight 1, no flags.
fn two_servers(sched: &str) -> fulcrum_xdp::plan::ServiceSpec {
    use fulcrum_xdp::plan::{DestSpec, Method, SchedFlags, ServiceSpec};
    let dest = |slot: u32, last: u8| DestSpec {
        slot,
        addr: std::net::IpAddr::from([198, 18, 1, last]),
        port: 8081,
        weight: 1,
        method: Method::Route,
        mac: [0; 6],
        src_mac: [0; 6],
        ifindex: 1,
        u_threshold: 0,
        l_threshold: 0,
    };
    ServiceSpec {
        id: 0,
        addr: std::net::IpAddr::from([198, 19, 0, 100]),
        port: 8081,
        proto: 6,
        scheduler: sched.into(),
        dests: vec![dest(0, 2), dest(1, 3)],
        persistence: None,
        flags: SchedFlags::default(),
        one_packet: false,
    }
}

/// `fulcrum keepalived -C` with `FULCRUM_L4_PLANE=xdp`: its direct-routing `virtual_server` is served by the
/// XDP program like one made with ipvsadm.
#[test]
fn keepalived_virtual_server_on_the_xdp_plane() {
    if let Err(e) = fulcrum_xdp::Xdp::load() {
        if std::env::var("FULCRUM_REQUIRE_NETNS").as_deref() == Ok("1") {
            panic!("FULCRUM_REQUIRE_NETNS=1 but {e}");
        }
        eprintln!("skipping the XDP plane test: {e}");
        return;
    }
    // The lab's own commands on nftables (as before XDP was the default); the XDP ones name their pins.
    let Some(lab) = setup_on("nftables") else {
        return;
    };
    let Some(bpf) = BpfFs::mount(&lab.prefix) else {
        if std::env::var("FULCRUM_REQUIRE_NETNS").as_deref() == Ok("1") {
            panic!("no bpf file system");
        }
        return;
    };
    let pins = bpf.pins().to_string_lossy().into_owned();
    lab.direct_routing_legs();
    let dir = std::env::temp_dir().join(format!("{}-kaxdp", lab.prefix));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("keepalived.conf");
    let rs = |ip: &str| {
        format!("    real_server {ip} 8080 {{\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 0\n        }}\n    }}\n")
    };
    std::fs::write(
        &conf,
        format!(
            "virtual_server {VIP} 8080 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind DR\n{}{}}}\n",
            rs("198.18.1.2"),
            rs("198.18.1.3")
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("keepalived.log")).unwrap();
    let mut k = KillOnDrop(
        std::process::Command::new("ip")
            .args(["netns", "exec", &lab.ns("d")])
            .arg(env!("CARGO_BIN_EXE_fulcrum"))
            .args(["keepalived", "-n", "-l", "-C", "-f"])
            .arg(&conf)
            .env_remove("FULCRUM_LVS_STATE")
            .env("FULCRUM_L4_PLANE", "xdp")
            .env("FULCRUM_XDP_PIN_DIR", &pins)
            .env("FULCRUM_LVS_DR_DEVICES", "d0")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let read_log = || std::fs::read_to_string(dir.join("keepalived.log")).unwrap_or_default();
    let served = || {
        fulcrum_xdp::Xdp::open_pinned(&bpf.pins())
            .ok()
            .and_then(|x| x.services().ok())
            .is_some_and(|s| s.first().is_some_and(|(_, i)| i.ndests == 2))
    };
    lab.wait_until(
        "both real servers on the XDP plane",
        std::time::Duration::from_secs(15),
        served,
    );
    let counts_seen = counts(&lab.traffic("tcp", 8080, 20));
    let x = fulcrum_xdp::Xdp::open_pinned(&bpf.pins()).expect("pinned maps");
    let (_, info) = x.services().unwrap()[0];
    let svc = x.service_counters(info.id).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &k.0.id().to_string()])
        .status();
    let _ = k.0.wait();
    assert_eq!(counts_seen, (10, 10), "{}", read_log());
    assert_eq!(
        svc.conns,
        20,
        "XDP carried keepalived's service: {}",
        read_log()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The bytes the XDP plane hashes for sh-port/mh-port (`fulcrum_xdp::plan::hash_key`: the address, then
/// the port padded to 4 bytes) are the ones nftables hashes for `jhash ip saddr . udp sport` (and
/// `ip6 saddr . udp sport`), checked against the kernel's own nftables: one counting rule per client port
/// with the slot fulcrum computes, each must count the datagram sent from that port.
#[test]
fn nftables_hashes_address_and_port_as_the_xdp_plane_does() {
    use fulcrum_xdp::plan::{hash_key, key_slot};
    let Some(lab) = setup_on("nftables") else {
        return;
    };
    const SLOTS: usize = 4093;
    let ports: Vec<u16> = (45000..45008).collect();
    let mut rules = String::from("table inet fulcrum_hash_layout {\n  chain out {\n    type filter hook output priority 0;\n");
    for (fam, src) in [("ip", "198.18.0.2"), ("ip6", "fd00::2")] {
        for p in &ports {
            let slot = key_slot(&hash_key(src.parse().unwrap(), Some(*p)), SLOTS);
            rules.push_str(&format!(
                "    {fam} saddr {src} udp sport {p} jhash {fam} saddr . udp sport mod {SLOTS} seed {:#x} {slot} counter\n",
                fulcrum_xdp::layout::JHASH_SEED
            ));
        }
    }
    rules.push_str("  }\n}\n");
    let file = std::env::temp_dir().join(format!("{}-hash.nft", lab.prefix));
    std::fs::write(&file, &rules).unwrap();
    lab.exec("c", &["nft", "-f", &file.to_string_lossy()])
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file(&file);
    let send = r#"
import socket, sys
for fam, src, dst in ((socket.AF_INET, "198.18.0.2", "198.18.0.1"), (socket.AF_INET6, "fd00::2", "fd00::1")):
    for p in sys.argv[1:]:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((src, int(p)))
        s.sendto(b"x", (dst, 9))
        s.close()
"#;
    let mut args = vec!["python3", "-c", send];
    let port_args: Vec<String> = ports.iter().map(u16::to_string).collect();
    args.extend(port_args.iter().map(String::as_str));
    lab.exec("c", &args).unwrap_or_else(|e| panic!("{e}"));
    let listed = lab
        .exec(
            "c",
            &["nft", "list", "table", "inet", "fulcrum_hash_layout"],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let hits = listed.matches("counter packets 1 ").count();
    assert_eq!(
        hits,
        2 * ports.len(),
        "every rule counted its datagram:\n{listed}"
    );
}
