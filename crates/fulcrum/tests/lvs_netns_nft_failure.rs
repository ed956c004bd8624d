//! An `nft` failure in the middle of a change to the L4 table, end to end in network namespaces (the lab of
//! `lvs_common`): the previous table stays in force, byte for byte, traffic keeps flowing, the command or
//! the log says so, and the next change that goes through brings everything in.
//!
//! The failure is real: an `nft` wrapper placed first on the `PATH` of `fulcrum` forwards every call to the
//! real `nft`, and while a flag file exists it appends to each table script (`nft -f -`) two statements the
//! kernel refuses (a set of size 1 given two elements: "Could not process rule: Too many open files in
//! system"). Everything before them in the same transaction (deleting and re-creating both tables, every
//! chain, map and counter) was accepted by the parser and by the kernel when the refusal comes, so the test
//! shows that the kernel undoes the whole transaction and that fulcrum undoes what it did outside it (the
//! tunnel encapsulation filters).

#[path = "lvs_common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{counts, setup, sh, Keepalived, Lab, VIP};

/// The wrapper: `REAL` and `DIR` are filled in.
const WRAPPER: &str = r#"#!/bin/sh
if [ "$1" = "-f" ] && [ "$2" = "-" ] && [ -e "DIR/fail" ]; then
  echo refused >> "DIR/refused"
  { cat; printf '%s\n' \
      'add set inet fulcrum_lvs fault_injected { type ipv4_addr; size 1; }' \
      'add element inet fulcrum_lvs fault_injected { 198.18.0.1, 198.18.0.2 }'; } | "REAL" -f -
  exit $?
fi
exec "REAL" "$@"
"#;

/// A directory holding the `nft` wrapper, its flag and its count of refused transactions.
struct Fault {
    dir: PathBuf,
    path: String,
}

impl Fault {
    fn new(lab: &Lab) -> Fault {
        let real = sh(&["sh", "-c", "command -v nft"])
            .unwrap_or_else(|e| panic!("nft: {e}"))
            .trim()
            .to_string();
        let dir = std::env::temp_dir().join(format!("{}-nftfault", lab.prefix));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let script = WRAPPER
            .replace("DIR", &dir.display().to_string())
            .replace("REAL", &real);
        let nft = dir.join("nft");
        std::fs::write(&nft, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&nft, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Fault { dir, path }
    }

    fn fail(&self, on: bool) {
        let flag = self.dir.join("fail");
        if on {
            std::fs::write(flag, "").unwrap();
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }

    /// Transactions refused so far.
    fn refused(&self) -> usize {
        std::fs::read_to_string(self.dir.join("refused"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// `fulcrum ipvsadm ARGS` with the wrapper first on the PATH.
    fn ipvsadm(&self, lab: &Lab, line: &str, stdin: &str) -> (i32, String, String) {
        let args: Vec<&str> = line.split_whitespace().collect();
        lab.ipvsadm_env(&[("PATH", &self.path)], &args, stdin)
    }
}

impl Drop for Fault {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Both tables as `nft -j list` prints them (the netdev one's error when it does not exist).
fn tables(lab: &Lab) -> (String, String) {
    let list = |fam: &str| {
        lab.exec("d", &["nft", "-j", "list", "table", fam, "fulcrum_lvs"])
            .unwrap_or_else(|e| format!("error: {e}"))
    };
    (list("inet"), list("netdev"))
}

const REFUSED: &str = "Error: Could not process rule: Too many open files in system";

/// Checks the message of a refused change: exit code 255, the verdict, nft's own error.
fn assert_refused(r: &(i32, String, String), verdict: &str) {
    let (code, out, err) = r;
    assert_eq!((*code, out.as_str()), (255, ""), "{err}");
    assert!(
        err.starts_with(&format!(
            "ipvsadm: {verdict}, the previous table is in place: nft failed: /dev/stdin:"
        )) && err.contains(REFUSED),
        "{err}"
    );
}

#[test]
fn a_refused_transaction_leaves_the_table_and_the_traffic_as_they_were() {
    let Some(lab) = setup() else { return };
    let fault = Fault::new(&lab);
    lab.ok(&format!("-A -t {VIP}:8080 -s rr"));
    lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.2:8080 -m"));
    lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.3:8080 -m"));
    assert_eq!(counts(&lab.traffic("tcp", 8080, 4)), (2, 2), "rr over both");

    let before = tables(&lab);
    let (list, save) = (lab.ok("-L -n"), lab.ok("-S -n"));
    assert!(before.0.contains("\"chain\": \"model\""), "{}", before.0);
    fault.fail(true);
    // One change, then several in one restore: neither goes in.
    let r = fault.ipvsadm(&lab, &format!("-d -t {VIP}:8080 -r 198.18.1.3:8080"), "");
    assert_refused(&r, "the change was not applied");
    eprintln!("{}", r.2);
    let r = fault.ipvsadm(
        &lab,
        "-R",
        &format!(
            "-A -u {VIP}:5353 -s sh\n-a -u {VIP}:5353 -r 198.18.1.2 -m\n-E -t {VIP}:8080 -s wrr\n"
        ),
    );
    assert_refused(&r, "none of the 3 changes was applied");
    assert_eq!(fault.refused(), 2);
    assert!(before == tables(&lab), "the tables changed");
    assert_eq!(lab.ok("-L -n"), list);
    assert_eq!(lab.ok("-S -n"), save);
    assert_eq!(
        counts(&lab.traffic("tcp", 8080, 4)),
        (2, 2),
        "both still serve"
    );

    // The same change once nft takes it: in full.
    fault.fail(false);
    let r = fault.ipvsadm(&lab, &format!("-d -t {VIP}:8080 -r 198.18.1.3:8080"), "");
    assert_eq!((r.0, r.2.as_str()), (0, ""));
    assert_eq!(counts(&lab.traffic("tcp", 8080, 4)), (4, 0), "r2 is gone");
    let list = lab.ok("-L -n");
    assert!(
        list.contains("198.18.1.2:8080") && !list.contains("198.18.1.3"),
        "{list}"
    );
    assert_eq!(fault.refused(), 2);
}

fn egress_filters(lab: &Lab, dev: &str) -> String {
    lab.exec("d", &["tc", "filter", "show", "dev", dev, "egress"])
        .unwrap_or_default()
}

#[test]
fn a_refused_store_takes_back_the_tunnel_filters_it_attached() {
    let Some(lab) = setup() else { return };
    lab.direct_routing_legs();
    let _ends = lab.tunnel_ends();
    let fault = Fault::new(&lab);
    lab.ok(&format!("-A -t {VIP}:8080 -s rr"));
    lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.2 -i"));
    lab.ok(&format!("-a -t {VIP}:8080 -r 198.18.1.3 -i"));
    assert!(egress_filters(&lab, "br0").contains("direct-action"));
    assert_eq!(egress_filters(&lab, "d0"), "");

    // A tunnel server behind d0 (the client's segment): its store attaches a filter to d0 and replaces
    // br0's, then the transaction is refused.
    let before = tables(&lab);
    fault.fail(true);
    let r = fault.ipvsadm(&lab, &format!("-a -t {VIP}:8080 -r 198.18.0.2 -i"), "");
    assert_refused(&r, "the change was not applied");
    assert_eq!(fault.refused(), 1);
    assert!(before == tables(&lab), "the tables changed");
    assert_eq!(
        egress_filters(&lab, "d0"),
        "",
        "d0's new filter was taken back"
    );
    assert!(egress_filters(&lab, "br0").contains("direct-action"));
    // br0's filter encapsulates for the previous table: a reply proves it (the real servers drop
    // anything for the VIP that arrives unencapsulated).
    assert_eq!(
        counts(&lab.traffic("tcp", 8080, 10)),
        (5, 5),
        "tunnel rr after the refusal"
    );

    fault.fail(false);
    let r = fault.ipvsadm(&lab, &format!("-a -t {VIP}:8080 -r 198.18.0.2 -i"), "");
    assert_eq!((r.0, r.2.as_str()), (0, ""));
    assert!(egress_filters(&lab, "d0").contains("direct-action"));
    lab.ok(&format!("-d -t {VIP}:8080 -r 198.18.0.2"));
    assert_eq!(egress_filters(&lab, "d0"), "");
}

fn config(flag: &Path, r1_weight: u32) -> String {
    format!(
        "virtual_server {VIP} 8080 {{
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server 198.18.1.2 8080 {{
        weight {r1_weight}
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
    real_server 198.18.1.3 8080 {{
        weight 1
        MISC_CHECK {{
            misc_path \"/usr/bin/test -e {}\"
            misc_timeout 2
        }}
    }}
}}
",
        flag.display()
    )
}

#[test]
fn keepalived_keeps_the_previous_table_while_nft_refuses_and_catches_up() {
    let Some(lab) = setup() else { return };
    let fault = Fault::new(&lab);
    let flag = fault.dir.join("r2-ok");
    std::fs::write(&flag, "").unwrap();
    let conf = fault.dir.join("keepalived.conf");
    std::fs::write(&conf, config(&flag, 1)).unwrap();
    let mut k = Keepalived::start(
        &lab,
        &conf,
        fault.dir.join("keepalived.log"),
        Some(std::ffi::OsStr::new(&fault.path)),
    );
    let listing = || lab.ok("-L -n");
    lab.wait_until("both real servers", Duration::from_secs(10), || {
        let l = listing();
        l.contains("198.18.1.2:8080") && l.contains("198.18.1.3:8080")
    });
    let save = lab.ok("-S -n");

    // nft refuses from now on; r2's MISC_CHECK fails and r1's weight changes by a SIGHUP: two changes
    // the checkers cannot store.
    fault.fail(true);
    std::fs::remove_file(&flag).unwrap();
    lab.wait_until("two refused stores", Duration::from_secs(10), || {
        fault.refused() >= 2
    });
    std::fs::write(&conf, config(&flag, 3)).unwrap();
    k.signal("-HUP");
    let n = fault.refused();
    lab.wait_until(
        "stores refused after the SIGHUP",
        Duration::from_secs(5),
        || fault.refused() >= n + 2,
    );
    // Tried about once a second (less when a try takes long on a busy machine), not at every pass of the
    // control thread (200 ms).
    let (n, t0) = (fault.refused(), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let more = fault.refused() - n;
    assert!((1..=4).contains(&more), "{more} tries in 3 s\n{}", k.log());
    assert_eq!(lab.ok("-S -n"), save, "the previous table stays");
    assert_eq!(
        counts(&lab.traffic("tcp", 8080, 4)),
        (2, 2),
        "both still serve"
    );
    let log = k.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("cannot update the virtual-server table"))
        .collect();
    assert!(
        !lines.is_empty()
            && lines.iter().all(|l| l.contains(
                "the change was not applied, the previous table is in place: nft failed:"
            )),
        "{log}"
    );
    assert!(
        lines.len() < fault.refused(),
        "the same failure is not logged at every try:\n{log}"
    );
    eprintln!(
        "{} refused stores, {} log lines, {:?}",
        fault.refused(),
        lines.len(),
        t0.elapsed()
    );

    // nft takes changes again: the next store brings both in.
    fault.fail(false);
    lab.wait_until("the table catches up", Duration::from_secs(5), || {
        let l = listing();
        l.contains("  -> 198.18.1.2:8080              Masq    3 ") && !l.contains("198.18.1.3")
    });
    assert_eq!(counts(&lab.traffic("tcp", 8080, 4)), (4, 0), "r2 is gone");
    lab.wait_until("the recovery in the log", Duration::from_secs(2), || {
        k.log()
            .contains("the virtual-server table is up to date again, after")
    });
    assert_eq!(k.terminate(), Some(0));
    let l = listing();
    assert!(!l.contains(&format!("{VIP}:8080")), "{l}");
}
