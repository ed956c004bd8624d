//! The hashing schedulers (`sh`, `mh`) keep each client on its real server across stores, as IPVS does: eight
//! client addresses map to the two real servers, and the mapping stays the same after unrelated changes to the
//! table and after the whole table is cleared and rebuilt (what another director with the same table does), and
//! for Maglev whatever order the servers were added in.
//! nftables seeds `jhash` at random when no seed is given; fulcrum always gives the same one.

#[path = "lvs_common/mod.rs"]
mod common;

use common::{Lab, VIP};

/// Connects from each of `srcs` to VIP:8080 and returns the name of the server that answered each.
fn mapping(lab: &Lab, srcs: &[String]) -> Vec<String> {
    const CLIENT: &str = r#"
import socket, sys
for src in sys.argv[1:]:
    s = socket.socket()
    s.settimeout(2)
    s.bind((src, 0))
    try:
        s.connect(("198.19.0.100", 8080))
        print(s.recv(100).decode(), flush=True)
    except OSError:
        print("FAIL", flush=True)
    s.close()
"#;
    let mut args = vec!["python3", "-c", CLIENT];
    args.extend(srcs.iter().map(String::as_str));
    let out = lab.exec("c", &args).unwrap_or_else(|e| panic!("{e}"));
    out.lines().map(str::to_string).collect()
}

#[test]
fn hashing_schedulers_keep_clients_across_stores() {
    hashing_keeps_clients(common::setup());
}

/// The same on the nftables plane alone (`FULCRUM_L4_PLANE=nftables`).
#[test]
fn hashing_schedulers_on_the_nftables_plane() {
    hashing_keeps_clients(common::setup_on("nftables"));
}

fn hashing_keeps_clients(lab: Option<common::Lab>) {
    let Some(lab) = lab else { return };
    let srcs: Vec<String> = (10..18).map(|i| format!("198.18.0.{i}")).collect();
    for s in &srcs {
        lab.run_all("c", &[&format!("ip addr add {s}/24 dev c0")]);
    }
    for sched in ["sh", "mh"] {
        let build = || {
            lab.ok(&format!("-A -t {VIP}:8080 -s {sched}"));
            lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.2 -m"));
            lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.3 -m"));
        };
        build();
        let first = mapping(&lab, &srcs);
        assert!(!first.iter().any(|n| n == "FAIL"), "{sched}: {first:?}");
        assert!(
            first.iter().any(|n| n == "r1") && first.iter().any(|n| n == "r2"),
            "{sched} spreads the clients: {first:?}"
        );
        // Unrelated changes: each store re-creates the whole table.
        for port in [9000, 9001, 9002] {
            lab.ok(&format!("-A -t {VIP}:{port} -s rr"));
            assert_eq!(mapping(&lab, &srcs), first, "{sched} after adding :{port}");
        }
        // The same table built again from nothing, as on another director.
        lab.ok("-C");
        build();
        assert_eq!(mapping(&lab, &srcs), first, "{sched} after a rebuild");
        lab.ok("-C");
        if sched == "mh" {
            // Maglev names servers by address and port: the order they were added in does not matter.
            lab.ok(&format!("-A -t {VIP}:8080 -s mh"));
            lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.3 -m"));
            lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.2 -m"));
            assert_eq!(
                mapping(&lab, &srcs),
                first,
                "mh with the servers added the other way round"
            );
            lab.ok("-C");
        }
    }
}
