//! HAProxy's peers protocol between namespaces: `fulcrum proxy` in one, the real haproxy 2.6 in the other, joined
//! by a veth pair. Keys a client adds on either side show up in the other's `show table`, and a fulcrum that
//! restarts is taught the table again by haproxy.

mod vrrp_common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use vrrp_common::{Lab, A4, B4};

fn cli(sock: &Path, c: &str) -> String {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(format!("{c}\n").as_bytes());
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// One request from inside `ns` to `addr` (curl, bounded by 5 s).
fn request(ns: &str, addr: &str) {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .args(["--max-time", "5", &format!("http://{addr}:8080/")])
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "request from {ns} to {addr}"
    );
}

/// The configuration of either side: a frontend tracking each client in a table replicated between `fa`
/// (fulcrum, in namespace a) and `hb` (haproxy, in namespace b).
fn config(me: &str, sock: &Path) -> String {
    format!(
        "global
    nbthread 1
    stats socket {} level admin

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

peers cluster
    peer fa {A4}:10000
    peer hb {B4}:10000

frontend fe
    bind {me}:8080
    stick-table type ip size 100 expire 10m peers cluster store http_req_cnt
    http-request track-sc0 src
    http-request return status 200
",
        sock.display()
    )
}

#[test]
fn fulcrum_and_haproxy_replicate_across_namespaces() {
    if !vrrp_common::available() {
        return;
    }
    let present = Command::new("haproxy").arg("-v").output().is_ok();
    if !present {
        assert!(
            std::env::var("FULCRUM_REQUIRE_NETNS").as_deref() != Ok("1"),
            "haproxy is needed"
        );
        return;
    }
    let mut lab = Lab::new();
    let (a, b) = (lab.a.clone(), lab.b.clone());
    let sock_a = lab.dir.join("a.sock");
    let sock_b = lab.dir.join("b.sock");
    let cfg_a = lab.write("a.cfg", &config(A4, &sock_a));
    let cfg_b = lab.write("b.cfg", &config(B4, &sock_b));
    let bin = env!("CARGO_BIN_EXE_fulcrum");
    let fulcrum = |lab: &mut Lab| {
        lab.spawn(
            &a,
            "fulcrum",
            &[bin, "proxy", "-db", "-L", "fa", "-f"]
                .iter()
                .map(std::ffi::OsStr::new)
                .chain([cfg_a.as_os_str()])
                .collect::<Vec<_>>(),
        )
    };
    let f = fulcrum(&mut lab);
    lab.spawn(
        &b,
        "haproxy",
        &["haproxy", "-db", "-L", "hb", "-f"]
            .iter()
            .map(std::ffi::OsStr::new)
            .chain([cfg_b.as_os_str()])
            .collect::<Vec<_>>(),
    );
    let up = |sock: &Path| cli(sock, "show info").contains("Pid:");
    assert!(
        lab.until(Duration::from_secs(10), || up(&sock_a) && up(&sock_b))
            .is_some(),
        "both proxies answer\n{}",
        lab.logs()
    );
    let has = |sock: &Path, key: &str| cli(sock, "show table fe").contains(&format!("key={key} "));
    // A client of fulcrum (namespace a) is learned by haproxy, a client of haproxy by fulcrum.
    request(&a, A4);
    assert!(
        lab.until(Duration::from_secs(10), || has(&sock_b, A4))
            .is_some(),
        "haproxy learns fulcrum's key:\n{}\n{}",
        cli(&sock_b, "show table fe"),
        lab.logs()
    );
    request(&b, B4);
    assert!(
        lab.until(Duration::from_secs(10), || has(&sock_a, B4))
            .is_some(),
        "fulcrum learns haproxy's key:\n{}\n{}",
        cli(&sock_a, "show table fe"),
        lab.logs()
    );
    // fulcrum restarts with an empty table: haproxy teaches it both keys again.
    let pid = nix::unistd::Pid::from_raw(lab.children[f].id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let _ = lab.children[f].wait();
    let _ = std::fs::remove_file(&sock_a);
    fulcrum(&mut lab);
    assert!(
        lab.until(Duration::from_secs(10), || has(&sock_a, A4)
            && has(&sock_a, B4))
            .is_some(),
        "the restarted fulcrum is taught the table:\n{}\n{}",
        cli(&sock_a, "show table fe"),
        lab.logs()
    );
}
