//! `fulcrum ipvsadm` warns when a NAT (`-m`) real server is added or edited while the director does not forward
//! its address family, and says nothing once forwarding is on; tested in the network-namespace lab (see
//! `common`), whose director reads its own namespace's `/proc/sys`.

#[path = "lvs_common/mod.rs"]
mod common;

use common::{counts, setup, VIP, VIP6};

#[test]
fn nat_warns_while_forwarding_is_off() {
    let Some(lab) = setup() else { return };
    lab.run_all(
        "d",
        &[
            "sysctl -qw net.ipv4.ip_forward=0",
            "sysctl -qw net.ipv6.conf.all.forwarding=0",
        ],
    );
    lab.ok(&format!("-A -t {VIP}:80 -s rr"));

    // IPv4: one line naming the IPv4 setting and the fix; the command still succeeds.
    let (code, _, err) = lab.ipvsadm(
        &[
            "-a",
            "-t",
            &format!("{VIP}:80"),
            "-r",
            "198.18.1.2:8080",
            "-m",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("net.ipv4.ip_forward is 0")
            && err.contains("sysctl -w net.ipv4.ip_forward=1")
            && !err.contains("ipv6"),
        "{err}"
    );
    assert!(lab.ok("-S -n").contains("-r 198.18.1.2:8080 -m"));
    // What the warning is about: nothing reaches the real server.
    assert_eq!(
        lab.traffic_tries("tcp", 80, 1, 1).get("FAIL").copied(),
        Some(1),
        "no forwarding, no NAT traffic"
    );

    // IPv6 names its own setting; a restore warns once for several servers.
    lab.ok(&format!("-A -t [{VIP6}]:80 -s rr"));
    let (code, _, err) = lab.ipvsadm(
        &["-R"],
        &format!(
            "-a -t [{VIP6}]:80 -r [fd00:1::2]:8080 -m\n-a -t [{VIP6}]:80 -r [fd00:1::3]:8080 -m\n"
        ),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("sysctl -w net.ipv6.conf.all.forwarding=1"),
        "{err}"
    );

    // Forwarding on: no warning on -e (lab.ok asserts an empty stderr), and the traffic flows.
    lab.run_all(
        "d",
        &[
            "sysctl -qw net.ipv4.ip_forward=1",
            "sysctl -qw net.ipv6.conf.all.forwarding=1",
        ],
    );
    lab.ok(&format!("-e -t {VIP}:80 -r 198.18.1.2:8080 -m -w 2"));
    lab.ok(&format!("-a -t {VIP}:80 -r 198.18.1.3:8080 -m"));
    lab.ok(&format!("-e -t [{VIP6}]:80 -r [fd00:1::2]:8080 -m -w 2"));
    // (rr: where the turn starts depends on the failed connection above, which the XDP plane scheduled too)
    let (a, b) = counts(&lab.traffic("tcp", 80, 3));
    assert!(a + b == 3 && a > 0 && b > 0, "rr over both: {a}, {b}");
    let (a, b) = counts(&lab.traffic_to(VIP6, "tcp", 80, 3, 50));
    assert_eq!(a + b, 3, "IPv6 NAT traffic flows");
}
