//! The XDP plane as fulcrum's default L4 plane, end to end in network namespaces: with no setting at all, a
//! direct-routing service is served by the XDP program, which stays attached with its counters from one
//! `ip netns exec ... fulcrum ipvsadm` command to the next (its pins live under /run/fulcrum/bpf, which `ip netns
//! exec` does not hide, in a directory of the namespace's own); `-C` detaches it and removes the directory;
//! `FULCRUM_L4_PLANE=nftables` keeps XDP out; a value naming no plane is refused. Skipped like the other netns
//! tests (and when the XDP program cannot load) unless FULCRUM_REQUIRE_NETNS=1.

#[path = "lvs_common/mod.rs"]
mod common;

use common::{counts, setup, sh, Lab, VIP};

/// Held by each test: the first one counts the namespace directories under the bpf file system, which
/// another test's lab would add to.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The id of the XDP program attached to `dev` on the director, if any.
fn xdp_prog(lab: &Lab, dev: &str) -> Option<u64> {
    let out = sh(&["ip", "-n", &lab.ns("d"), "-j", "link", "show", "dev", dev]).ok()?;
    let v: serde_json::Value = serde_json::from_str(&out).ok()?;
    v.get(0)?.get("xdp")?.get("prog")?.get("id")?.as_u64()
}

/// The namespace directories under the bpf file system.
fn pin_dirs() -> Vec<String> {
    std::fs::read_dir("/run/fulcrum/bpf")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("netns-"))
                .collect()
        })
        .unwrap_or_default()
}

/// The service line's first figures of `-L -n --stats --exact` (connections, packets in).
/// The pin directories not in `before` (other namespaces' stale ones may be swept meanwhile).
fn new_dirs(before: &[String]) -> Vec<String> {
    pin_dirs()
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect()
}

fn stats(lab: &Lab) -> Vec<u64> {
    let out = lab.ok("-L -n --stats --exact");
    out.lines()
        .find(|l| l.starts_with(&format!("TCP  {VIP}:8080")))
        .unwrap_or_default()
        .split_whitespace()
        .skip(2)
        .filter_map(|v| v.parse().ok())
        .collect()
}

#[test]
fn the_default_plane_keeps_its_program_between_commands() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = fulcrum_xdp::Xdp::load() {
        if std::env::var("FULCRUM_REQUIRE_NETNS").as_deref() == Ok("1") {
            panic!("FULCRUM_REQUIRE_NETNS=1 but {e}");
        }
        eprintln!("skipping the XDP default plane test: {e}");
        return;
    }
    let Some(lab) = setup() else { return };
    assert_eq!(lab.plane, "xdp");
    lab.direct_routing_legs();
    let dirs = pin_dirs();
    lab.ok(&format!("-A -t {VIP}:8080 -s rr"));
    lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.2 -g"));
    lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.3 -g"));
    let plane = lab.ok("--plane");
    assert!(plane.starts_with("plane: xdp"), "{plane}");
    assert!(
        plane.contains(&format!("xdp       TCP {VIP}:8080\n")),
        "{plane}"
    );
    let id = xdp_prog(&lab, "d0").expect("a program on d0");
    assert_eq!(new_dirs(&dirs).len(), 1, "one directory for the namespace");

    assert_eq!(counts(&lab.traffic("tcp", 8080, 20)), (10, 10), "rr on XDP");
    let first = stats(&lab);
    assert_eq!(first.first(), Some(&20), "{first:?}");
    // A later command (a new process in a new `ip netns exec`) finds the same program and its counters.
    lab.ok(&format!("-e -t {VIP}:8080 -r 198.18.1.3 -g -w 2"));
    lab.ok(&format!("-E -t {VIP}:8080 -s wrr"));
    assert_eq!(
        xdp_prog(&lab, "d0"),
        Some(id),
        "the same program stays attached"
    );
    assert_eq!(stats(&lab), first, "its counters carried over");
    assert_eq!(
        counts(&lab.traffic("tcp", 8080, 30)),
        (10, 20),
        "wrr weights 1:2"
    );

    // A program pinned by another build (here: by a fulcrum from before the build mark) is replaced
    // rather than written to with this build's layouts, and the command says so.
    let ours = new_dirs(&dirs);
    assert_eq!(ours.len(), 1, "{ours:?}");
    let mark = format!("/run/fulcrum/bpf/{}/build", ours[0]);
    std::fs::remove_file(&mark).expect("the build mark is pinned");
    let (code, _, err) = lab.ipvsadm(&["-E", "-t", &format!("{VIP}:8080"), "-s", "rr"], "");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.starts_with("ipvsadm: warning: the xdp program pinned in ")
            && err.ends_with(
                "is another build's (pinned without a build mark): replaced by this one; its flows start afresh\n"
            )
            && err.lines().count() == 1,
        "{err}"
    );
    assert!(std::path::Path::new(&mark).exists(), "marked again");
    let replaced = xdp_prog(&lab, "d0").expect("a program on d0");
    assert_ne!(replaced, id, "a new program");
    assert_eq!(
        counts(&lab.traffic("tcp", 8080, 20)),
        (10, 10),
        "the new program serves"
    );
    let (code, _, err) = lab.ipvsadm(&["-L", "-n"], "");
    assert_eq!((code, err.as_str()), (0, ""), "no warning once replaced");

    // An empty table detaches it and removes the namespace's directory.
    lab.ok("-C");
    assert_eq!(xdp_prog(&lab, "d0"), None, "detached by -C");
    assert_eq!(
        new_dirs(&dirs),
        Vec::<String>::new(),
        "the directory is gone"
    );

    // The program is loaded for real servers to forward to, not for an empty service nor for services
    // nftables serves (fwmark); a real server loads it (NAT and direct routing alike), and it stays while its
    // service is emptied; when only services nftables serves are left it is detached.
    lab.ok(&format!("-A -t {VIP}:8080 -s rr"));
    assert_eq!(xdp_prog(&lab, "d0"), None, "an empty service loads nothing");
    let plane = lab.ok("--plane");
    assert!(
        plane.contains(&format!(
            "nftables  TCP {VIP}:8080  (no real servers: the xdp program is loaded with the first)\n"
        )),
        "{plane}"
    );
    lab.ok("-A -f 7 -s rr");
    lab.ok("-a -f 7 -r 198.18.1.3 -g");
    assert_eq!(
        xdp_prog(&lab, "d0"),
        None,
        "a fwmark service loads no program"
    );
    assert_eq!(new_dirs(&dirs), Vec::<String>::new(), "and pins nothing");
    lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.2:8080 -m"));
    let nat = xdp_prog(&lab, "d0").expect("a NAT real server loads the program");
    let plane = lab.ok("--plane");
    assert!(
        plane.contains(&format!("xdp       TCP {VIP}:8080\n")),
        "{plane}"
    );
    lab.ok(&format!("-d -t {VIP}:8080 -r 198.18.1.2:8080"));
    assert_eq!(
        xdp_prog(&lab, "d0"),
        Some(nat),
        "kept while its service is empty"
    );
    lab.ok(&format!("-D -t {VIP}:8080"));
    assert_eq!(
        xdp_prog(&lab, "d0"),
        None,
        "detached: only a service nftables serves is left"
    );
    assert_eq!(new_dirs(&dirs), Vec::<String>::new());
    lab.ok("-C");

    // FULCRUM_L4_PLANE=nftables: nftables alone.
    let nft = [("FULCRUM_L4_PLANE", "nftables")];
    for line in [
        format!("-A -t {VIP}:8080 -s rr"),
        format!("-a -t {VIP}:8080 -r 198.18.1.2 -g"),
    ] {
        let args: Vec<&str> = line.split_whitespace().collect();
        let (code, _, err) = lab.ipvsadm_env(&nft, &args, "");
        assert_eq!((code, err.as_str()), (0, ""), "{line}");
    }
    assert_eq!(
        xdp_prog(&lab, "d0"),
        None,
        "no program on the nftables plane"
    );
    let (_, plane, _) = lab.ipvsadm_env(&nft, &["--plane"], "");
    assert!(
        plane.starts_with("plane: nftables (FULCRUM_L4_PLANE=nftables)"),
        "{plane}"
    );
    assert_eq!(
        counts(&lab.traffic("tcp", 8080, 4)),
        (4, 0),
        "nftables serves"
    );
    let (code, _, err) = lab.ipvsadm_env(&nft, &["-C"], "");
    assert_eq!((code, err.as_str()), (0, ""));

    // A value naming no plane is refused before anything is done.
    let (code, out, err) = lab.ipvsadm_env(&[("FULCRUM_L4_PLANE", "ebpf")], &["-L", "-n"], "");
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        err,
        "FULCRUM_L4_PLANE=ebpf: not a data plane (one of: xdp, nftables)\n"
    );
}

/// Sends `n` datagrams from one client socket (one source port) to the VIP's UDP 5353; the answering
/// servers' names, one line each.
fn datagrams_from_one_port(lab: &Lab, n: usize) -> std::collections::HashMap<String, usize> {
    const ONE_SOCKET: &str = r#"
import socket, sys
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(2)
for i in range(int(sys.argv[2])):
    c.sendto(b"hi", (sys.argv[1], 5353))
    print(c.recvfrom(100)[0].decode(), flush=True)
"#;
    let out = lab
        .exec("c", &["python3", "-c", ONE_SOCKET, VIP, &n.to_string()])
        .unwrap_or_else(|e| panic!("client: {e}"));
    let mut m = std::collections::HashMap::new();
    for l in out.lines() {
        *m.entry(l.to_string()).or_insert(0) += 1;
    }
    m
}

#[test]
fn one_packet_scheduling_on_the_xdp_plane() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if fulcrum_xdp::Xdp::load().is_err()
        && std::env::var("FULCRUM_REQUIRE_NETNS").as_deref() != Ok("1")
    {
        return;
    }
    let Some(lab) = setup() else { return };
    lab.direct_routing_legs();
    lab.ok(&format!("-A -u {VIP}:5353 -s rr -o"));
    lab.ok(&format!("-a -u {VIP}:5353 -r 198.18.1.2 -g"));
    lab.ok(&format!("-a -u {VIP}:5353 -r 198.18.1.3 -g"));
    let plane = lab.ok("--plane");
    assert!(
        plane.contains(&format!("xdp       UDP {VIP}:5353\n")),
        "{plane}"
    );
    // -o: every datagram of the one client socket is scheduled on its own
    assert_eq!(counts(&datagrams_from_one_port(&lab, 10)), (5, 5));
    let list = lab.ok("-L -n --stats --exact");
    let line = list
        .lines()
        .find(|l| l.starts_with(&format!("UDP  {VIP}:5353")))
        .unwrap_or_default();
    assert_eq!(
        line.split_whitespace().nth(2),
        Some("10"),
        "one connection per datagram:\n{list}"
    );
    assert!(
        lab.ok("-L -n -c").lines().all(|l| !l.contains("UDP")),
        "no connection kept"
    );
    // without -o the socket's datagrams form one flow on one server
    lab.ok(&format!("-E -u {VIP}:5353 -s rr"));
    let (a, b) = counts(&datagrams_from_one_port(&lab, 10));
    assert_eq!(a.max(b), 10, "one flow, one server: {a} {b}");
}
