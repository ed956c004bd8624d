//! `fulcrum ipvsadm` and the binary called through a link named `ipvsadm` (file-backed table, no kernel needed).

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(program: &Path, sub: bool, state: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(program);
    if sub {
        cmd.arg("ipvsadm");
    }
    let out = cmd
        .args(args)
        .env("FULCRUM_LVS_STATE", state)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn subcommand_and_link_share_the_table() {
    let dir: PathBuf = std::env::temp_dir().join(format!("fulcrum-ipvs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("table");
    let bin = Path::new(env!("CARGO_BIN_EXE_fulcrum"));
    let link = dir.join("ipvsadm");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(bin, &link).unwrap();

    assert_eq!(
        run(
            bin,
            true,
            &state,
            &["-A", "-t", "198.18.0.100:80", "-s", "rr"]
        )
        .0,
        0
    );
    let (code, _, err) = run(
        &link,
        false,
        &state,
        &[
            "-a",
            "-t",
            "198.18.0.100:80",
            "-r",
            "198.18.1.1:8080",
            "-m",
            "-w",
            "3",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(&link, false, &state, &["-S", "-n"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "-A -t 198.18.0.100:80 -s rr\n-a -t 198.18.0.100:80 -r 198.18.1.1:8080 -m -w 3\n"
    );
    let (code, out, _) = run(bin, true, &state, &["-L", "-n"]);
    assert_eq!(code, 0);
    assert!(out.contains("TCP  198.18.0.100:80 rr\n"), "{out}");
    assert!(
        out.contains("  -> 198.18.1.1:8080              Masq    3      0          0         \n"),
        "{out}"
    );
    // An error as ipvsadm words it, with a non-zero exit.
    let (code, _, err) = run(
        bin,
        true,
        &state,
        &["-d", "-t", "198.18.0.100:80", "-r", "198.18.9.9:1"],
    );
    assert_ne!(code, 0);
    assert!(!err.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

/// The link named `ipvsadm` restores from stdin (`-R`), prints ipvsadm's help and its usage errors.
#[test]
fn link_restores_from_stdin_and_reports_like_ipvsadm() {
    use std::io::Write;
    use std::process::Stdio;
    let dir: PathBuf =
        std::env::temp_dir().join(format!("fulcrum-ipvs-restore-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("table");
    let link = dir.join("ipvsadm");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fulcrum"), &link).unwrap();
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(&link)
            .args(args)
            .env("FULCRUM_LVS_STATE", &state)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(stdin.as_bytes());
        }
        child.wait_with_output().unwrap()
    };
    let saved = "-A -t 10.0.0.7:80 -s rr\n-a -t 10.0.0.7:80 -r 10.0.0.2:80 -g -w 1\n\
                 -a -t 10.0.0.7:80 -r 10.0.0.1:80 -m -w 2\n-A -u 10.0.0.7:53 -s wlc\n";
    let o = run(&["-R"], saved);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["-S", "-n"], "");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "-A -t 10.0.0.7:80 -s rr\n-a -t 10.0.0.7:80 -r 10.0.0.1:80 -m -w 2\n\
         -a -t 10.0.0.7:80 -r 10.0.0.2:80 -g -w 1\n-A -u 10.0.0.7:53 -s wlc\n"
    );
    let o = run(&["-h"], "");
    assert!(String::from_utf8_lossy(&o.stdout).contains("  ipvsadm -D virtual-service"));
    let o = run(&["-A", "-t", "1.2.3.4"], "");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Zero port specified for non-persistent service\n"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `-h` keeps ipvsadm's usage text as it was and ends with fulcrum's "See also" block: the nftables tables, the
/// dry-run file, the controller, forwarding for NAT, and docs that exist.
#[test]
fn help_ends_with_a_see_also_block() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("fulcrum-ipvs-help-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_fulcrum"));
    let (code, help, err) = run(bin, true, &dir.join("table"), &["-h"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(help.starts_with("ipvsadm v1.31 2019/12/24"), "{help}");
    // ipvsadm's own text, then fulcrum's block, then "See also" last.
    let own = help
        .find("  --mcast-ttl ttl                     Multicast TTL (default=1)\n")
        .expect("ipvsadm's daemon options");
    let fulcrum = help
        .find("\nfulcrum (nftables data plane):\n")
        .expect("fulcrum's options");
    let see_also = help.find("\n\nSee also:\n").expect("a See also block");
    assert!(own < fulcrum && fulcrum < see_also, "{help}");
    let block = &help[see_also..];
    for s in [
        "'inet fulcrum_lvs' (NAT, -m)",
        "'netdev fulcrum_lvs' (direct routing",
        "nft list table inet fulcrum_lvs",
        "FULCRUM_LVS_STATE=FILE",
        "lc/wlc/sed/nq",
        "'--controller' runs",
        "FULCRUM_LVS_CONTROLLER_INTERVAL_MS",
        "sysctl -w net.ipv4.ip_forward=1",
        "sysctl -w net.ipv6.conf.all.forwarding=1",
    ] {
        assert!(block.contains(s), "{s:?} missing:\n{block}");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for doc in ["docs/COMPATIBILITY.md", "docs/ARCHITECTURE.md"] {
        assert!(block.contains(doc), "{doc} missing:\n{block}");
        assert!(root.join(doc).is_file(), "{doc} does not exist");
    }
    let _ = std::fs::remove_dir_all(dir);
}
