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
    assert!(help[fulcrum..see_also].contains("  --plane "), "{help}");
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
        "FULCRUM_L4_PLANE=nftables",
        "/run/fulcrum/bpf",
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

/// `--metrics ADDR` serves the table as Prometheus metrics with the node exporter's IPVS names, follows changes of
/// the table, refuses bad arguments, and stops on SIGTERM. The page is parsed with the Prometheus project's parser
/// (`prometheus_client`) when python has it.
#[test]
fn metrics_serve_the_table_with_node_exporter_names() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("fulcrum-ipvs-met-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("table");
    let bin = Path::new(env!("CARGO_BIN_EXE_fulcrum"));
    for args in [
        &["-A", "-t", "198.18.0.100:80", "-s", "rr"][..],
        &[
            "-a",
            "-t",
            "198.18.0.100:80",
            "-r",
            "198.18.1.2:8080",
            "-m",
            "-w",
            "3",
        ],
        &["-A", "-f", "10", "-s", "wlc"],
    ] {
        let (code, _, err) = run(bin, true, &state, args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let (code, _, err) = run(bin, true, &state, &["--metrics", "nowhere"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("'nowhere' is not an address and port"),
        "{err}"
    );
    let (code, _, err) = run(bin, true, &state, &["--metrics", "127.0.0.1:1", "-L"]);
    assert_eq!(code, 2, "{err}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args(["ipvsadm", "--metrics", &format!("127.0.0.1:{port}")])
        .env("FULCRUM_LVS_STATE", &state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Kill(child);
    let get = || -> Option<String> {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        c.read_to_string(&mut out).ok()?;
        Some(out.split_once("\r\n\r\n")?.1.to_string())
    };
    let labels = r#"local_address="198.18.0.100",local_port="80",remote_address="198.18.1.2",remote_port="8080",proto="TCP",local_mark="""#;
    let weight = |w: u32| format!("node_ipvs_backend_weight{{{labels}}} {w}");
    let until = |what: &str, f: &dyn Fn(&str) -> bool| -> String {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(page) = get().filter(|p| f(p)) {
                return page;
            }
            assert!(std::time::Instant::now() < end, "{what}: {:?}", get());
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let page = until("weight 3 never served", &|p| {
        p.lines().any(|l| l == weight(3))
    });
    for line in [
        "node_ipvs_connections_total 0".to_string(),
        format!("node_ipvs_backend_connections_active{{{labels}}} 0"),
        format!("fulcrum_ipvs_backend_outgoing_bytes_total{{{labels}}} 0"),
        r#"fulcrum_ipvs_service_connections_total{local_address="",local_port="0",proto="FWM",local_mark="0000000A"} 0"#.to_string(),
    ] {
        assert!(page.lines().any(|l| l == line), "{line} not in\n{page}");
    }
    // The reference parser reads every line.
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import sys\nfrom prometheus_client.parser import text_string_to_metric_families\n\
             print(sum(len(f.samples) for f in text_string_to_metric_families(sys.stdin.read())))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(page.as_bytes())?;
            c.wait_with_output()
        });
    if let Ok(out) = parsed {
        let err = String::from_utf8_lossy(&out.stderr);
        if !err.contains("No module named 'prometheus_client'") {
            assert!(out.status.success(), "{err}");
            // 5 totals, 3 gauges x 1 backend, 5 counters x (2 services + 1 backend).
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "23");
        }
    }
    // A change of the table reaches the page within a second or two.
    let (code, _, err) = run(
        bin,
        true,
        &state,
        &[
            "-e",
            "-t",
            "198.18.0.100:80",
            "-r",
            "198.18.1.2:8080",
            "-m",
            "-w",
            "5",
        ],
    );
    assert_eq!(code, 0, "{err}");
    until("weight 5 never served", &|p| {
        p.lines().any(|l| l == weight(5))
    });
    // SAFETY: kill(2) on our own child's PID.
    assert_eq!(unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) }, 0);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < end, "SIGTERM did not stop it");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
