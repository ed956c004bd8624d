//! Server states carried over a restart: the operator dumps `show servers state` to the `server-state-file`,
//! restarts, and the new proxy starts with the same maintenance, drain, runtime weights and UP/DOWN states; a
//! server whose address or port changed in the configuration keeps its configured state; the file fulcrum writes
//! is also read by the real HAProxy 2.6 to the same states.

mod common;

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fulcrum-state-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The columns of `show servers state` that a restart must carry: names, address, op and admin states,
/// weights, port.
fn carried(out: &str) -> Vec<String> {
    out.lines()
        .skip(2)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            [&f[1..9], &f[18..19]].concat().join(" ")
        })
        .collect()
}

fn spread(p: &Proxy, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        *seen.entry(served_by(&get(p.addr, "/"))).or_insert(0) += 1;
    }
    seen
}

/// A `listen app` with three servers (the first two checked), a stats socket and the global state file.
fn config(dir: &Path, port: u16, servers: [&str; 3]) -> String {
    format!(
        "global
    nbthread 1
    stats socket {dir}/admin.sock level admin
    server-state-base {dir}
    server-state-file state

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    load-server-state-from-file global

listen app
    bind 127.0.0.1:{port}
    balance roundrobin
    server s1 {} weight 10 check inter 100ms
    server s2 {} weight 10 check inter 100ms
    server s3 {} weight 10
",
        servers[0],
        servers[1],
        servers[2],
        dir = dir.display(),
    )
}

#[test]
fn states_survive_a_restart() {
    let o = origins(4);
    let dir = temp_dir("restart");
    let sock = dir.join("admin.sock");
    let port = free_port();
    let addrs: Vec<String> = o.iter().map(|x| x.addr().to_string()).collect();
    let text = config(&dir, port, [&addrs[0], &addrs[1], &addrs[2]]);

    // First life: no file yet (a warning, nothing else); change states on the CLI, then dump them.
    let p = start_proxy(&text);
    assert_eq!(runtime_cmd(&sock, "set server app/s1 state maint"), "\n");
    assert_eq!(runtime_cmd(&sock, "set weight app/s2 4"), "\n");
    assert_eq!(runtime_cmd(&sock, "set server app/s3 state drain"), "\n");
    let dump = runtime_cmd(&sock, "show servers state");
    std::fs::write(dir.join("state"), &dump).unwrap();
    drop(p);

    // Second life, same configuration: the same states, felt by traffic.
    let p = start_proxy(&text);
    let after = runtime_cmd(&sock, "show servers state");
    assert_eq!(carried(&after), carried(&dump), "{dump}\n{after}");
    assert_eq!(
        runtime_cmd(&sock, "get weight app/s2"),
        "4 (initial 10)\n\n",
        "{after}"
    );
    let seen = spread(&p, 6);
    assert_eq!(seen.get("s2"), Some(&6), "{seen:?}");
    drop(p);

    // Third life: s3's port changed in the configuration: its line no longer applies (warned), the others do.
    let moved = config(&dir, port, [&addrs[0], &addrs[1], &addrs[3]]);
    let parsed = fulcrum_config::haproxy::parse_str("t.cfg", &moved).unwrap();
    let snapshot = fulcrum_proxy::Snapshot::build(&parsed).unwrap();
    let warnings = fulcrum_proxy::server_state::load(&parsed, &snapshot).unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(warnings[0], "Server app/s1 is DOWN, changed from server-state after a reload. 2 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.");
    assert_eq!(
        warnings[1],
        format!(
            "server app/s3: state from line 5 not applied: port changed in the configuration (file {}, configuration {})",
            o[2].addr().port(),
            o[3].addr().port()
        )
    );
    let p = start_proxy(&moved);
    let state = runtime_cmd(&sock, "show servers state app");
    let rows = carried(&state);
    assert!(
        rows[0].starts_with("app 1 s1 127.0.0.1 0 1 10 10"),
        "{state}"
    );
    assert!(
        rows[1].starts_with("app 2 s2 127.0.0.1 2 0 4 10"),
        "{state}"
    );
    assert!(
        rows[2].starts_with("app 3 s3 127.0.0.1 2 0 10 10"),
        "{state}"
    );
    let seen = spread(&p, 14);
    assert_eq!(seen.get("s1"), None, "{seen:?}");
    assert!(seen.get("s4").is_some_and(|&n| n > seen["s2"]), "{seen:?}");
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The health counters start from the carried state: an UP server needs `fall` failed checks to go DOWN (not one,
/// as a server assumed up at a cold start), a DOWN one takes no traffic until `rise` checks pass.
#[test]
fn checks_start_from_the_carried_state() {
    let o = origins(1);
    let dir = temp_dir("checks");
    let dead = format!("127.0.0.1:{}", free_port());
    let port = free_port();
    let text = format!(
        "global
    nbthread 1
    server-state-file {dir}/state

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    load-server-state-from-file global

listen app
    bind 127.0.0.1:{port}
    server up {dead} check inter 300ms fall 3 rise 2
    server down {} check inter 100ms rise 3
",
        o[0].addr(),
        dir = dir.display()
    );
    let row = |name: &str, addr: &str, op: u8| {
        let (ip, port) = addr.rsplit_once(':').unwrap();
        format!("2 app 1 {name} {ip} {op} 0 1 1 60 6 3 4 6 0 0 0 - {port} - 0 0 - - 0\n")
    };
    std::fs::write(
        dir.join("state"),
        format!(
            "1\n# header\n{}{}",
            row("up", &dead, 2),
            row("down", &o[0].addr().to_string(), 0)
        ),
    )
    .unwrap();
    let p = start_proxy(&text);
    let snap = p.running.as_ref().unwrap().snapshot().clone();
    let be = &snap.backends[0];
    let (up, down) = (be.servers.get(0).unwrap(), be.servers.get(1).unwrap());
    // Carried: the dead server is UP, the live one DOWN, and the state is 60 s old.
    assert!(up.is_up() && !down.is_up());
    assert!(
        up.last_change()
            <= std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                - 59
    );
    // After the first failed check the UP server is still UP.
    assert!(wait_until(Duration::from_secs(5), || up
        .stats
        .check
        .failures
        .load(Ordering::Relaxed)
        >= 1));
    assert!(up.is_up(), "one failed check took a carried UP server down");
    // It goes DOWN after `fall` failures; the live server comes UP after `rise` passed checks.
    assert!(wait_until(Duration::from_secs(5), || !up.is_up()));
    assert!(up.stats.check.failures.load(Ordering::Relaxed) >= 3);
    assert!(wait_until(Duration::from_secs(5), || down.is_up()));
    assert_eq!(served_by(&get(p.addr, "/")), "s1");
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A local file per backend (`server-state-file-name`, relative to `server-state-base`), and the files fulcrum
/// refuses: a missing one, another version, a truncated line.
#[test]
fn local_files_and_unusable_files() {
    let o = origins(2);
    let dir = temp_dir("local");
    let text = format!(
        "global
    nbthread 1
    server-state-base {dir}

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    load-server-state-from-file local

frontend f
    bind 127.0.0.1:{}
    default_backend a

backend a
    server-state-file-name a.state
    server s1 {}

backend b
    server s1 {}

backend c
    load-server-state-from-file global
    server s1 {}
",
        free_port(),
        o[0].addr(),
        o[1].addr(),
        o[1].addr(),
        dir = dir.display()
    );
    haproxy_accepts(&text);
    let line = |be: &str, addr: &str| {
        let (ip, port) = addr.rsplit_once(':').unwrap();
        format!("2 {be} 1 s1 {ip} 2 1 1 1 0 1 0 0 0 0 0 0 - {port} - 0 0 - - 0\n")
    };
    let a = o[0].addr().to_string();
    std::fs::write(dir.join("a.state"), format!("1\n{}", line("a", &a))).unwrap();
    let parsed = fulcrum_config::haproxy::parse_str("t.cfg", &text).unwrap();
    let snapshot = fulcrum_proxy::Snapshot::build(&parsed).unwrap();
    let warnings = fulcrum_proxy::server_state::load(&parsed, &snapshot).unwrap();
    let b_path = dir.join("b");
    assert_eq!(
        warnings,
        [
            format!(
                "cannot open local server state file '{}': No such file or directory (os error 2)",
                b_path.display()
            ),
            "backend 'c' loads its server states from the global 'server-state-file', which is not set"
                .to_string(),
        ]
    );
    let s = |i: usize| snapshot.backends[i].servers.get(0).unwrap().clone();
    assert!(s(0).in_maint() && !s(1).in_maint());

    std::fs::write(&b_path, "2\n").unwrap();
    let snapshot = fulcrum_proxy::Snapshot::build(&parsed).unwrap();
    let w = fulcrum_proxy::server_state::load(&parsed, &snapshot).unwrap();
    assert!(
        w[0].ends_with("ignored: unknown format version '2' (expected '1')"),
        "{w:?}"
    );
    let b = o[1].addr().to_string();
    std::fs::write(
        &b_path,
        format!("1\n{}2 b 2 s2 127.0.0.1 2\n", line("b", &b)),
    )
    .unwrap();
    let snapshot = fulcrum_proxy::Snapshot::build(&parsed).unwrap();
    let w = fulcrum_proxy::server_state::load(&parsed, &snapshot).unwrap();
    assert!(
        w[0].ends_with("ignored: corrupted at line 3: 6 columns, at least 20 expected"),
        "{w:?}"
    );
    assert!(!snapshot.backends[1].servers.get(0).unwrap().in_maint());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The real HAProxy, stopped by its pid when dropped.
struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The file fulcrum dumps is read by HAProxy 2.6 to the same states.
#[test]
fn haproxy_reads_the_file_fulcrum_writes() {
    if !haproxy_present() {
        return;
    }
    let o = origins(3);
    let dir = temp_dir("haproxy");
    let sock = dir.join("admin.sock");
    let addrs: Vec<String> = o.iter().map(|x| x.addr().to_string()).collect();
    let text = config(&dir, free_port(), [&addrs[0], &addrs[1], &addrs[2]]);
    let p = start_proxy(&text);
    runtime_cmd(&sock, "set server app/s1 state maint");
    runtime_cmd(&sock, "set weight app/s2 4");
    runtime_cmd(&sock, "set server app/s3 state drain");
    let dump = runtime_cmd(&sock, "show servers state");
    std::fs::write(dir.join("state"), &dump).unwrap();
    drop(p);
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, &text).unwrap();
    let child = Command::new("haproxy")
        .arg("-f")
        .arg(&cfg)
        .arg("-db")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy starts");
    let h = Haproxy(child);
    assert!(wait_until(Duration::from_secs(5), || UnixStream::connect(
        &sock
    )
    .is_ok()));
    let theirs = runtime_cmd(&sock, "show servers state");
    assert_eq!(carried(&theirs), carried(&dump), "{dump}\n{theirs}");
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
}

/// HAProxy's precedence rules between the file and a configuration that changed since the dump.
#[test]
fn configuration_changes_win_over_the_file() {
    let dir = temp_dir("rules");
    let port = |i: u16| 20000 + i;
    let text = format!(
        "global
    server-state-file {dir}/state
    stats socket {dir}/admin.sock level admin

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    load-server-state-from-file global

listen app
    bind 127.0.0.1:{}
    server added-disabled 127.0.0.1:{} disabled
    server new-weight 127.0.0.1:{} weight 20
    server drained-by-zero 127.0.0.1:{} weight 5
    server still-disabled 127.0.0.1:{} disabled
    server no-longer-disabled 127.0.0.1:{}
    server cli-drain 127.0.0.1:{} weight 7
",
        free_port(),
        port(1),
        port(2),
        port(3),
        port(4),
        port(5),
        port(6),
        dir = dir.display()
    );
    haproxy_accepts(&text);
    // name, port, admin flags, uweight, iweight
    let rows = [
        ("added-disabled", 1, 0, 1, 1),
        ("new-weight", 2, 0, 4, 10),
        ("drained-by-zero", 3, 8, 0, 0),
        ("still-disabled", 4, 5, 1, 1),
        ("no-longer-disabled", 5, 5, 1, 1),
        ("cli-drain", 6, 8, 3, 7),
    ];
    let mut file = String::from("1\n");
    for (i, (name, p, admin, uw, iw)) in rows.iter().enumerate() {
        file.push_str(&format!(
            "2 app {} {name} 127.0.0.1 2 {admin} {uw} {iw} 0 1 0 1 0 0 0 0 - {} - 0 0 - - 0\n",
            i + 1,
            port(*p)
        ));
    }
    std::fs::write(dir.join("state"), file).unwrap();
    let parsed = fulcrum_config::haproxy::parse_str("t.cfg", &text).unwrap();
    let snapshot = fulcrum_proxy::Snapshot::build(&parsed).unwrap();
    let warnings = fulcrum_proxy::server_state::load(&parsed, &snapshot).unwrap();
    assert_eq!(
        warnings,
        ["Server app/cli-drain remains in forced drain mode."],
        "{warnings:?}"
    );
    let be = &snapshot.backends[0];
    let s = |i: usize| be.servers.get(i).unwrap().clone();
    // `disabled` added since the dump: maintenance, whatever the file says.
    assert!(s(0).in_maint());
    // The configured weight changed: the file's runtime weight is dropped.
    assert_eq!(s(1).user_weight(), 20);
    // A drain recorded because the configured weight was 0 ends now that the configuration gives one.
    assert!(!s(2).is_draining());
    assert_eq!(s(2).user_weight(), 5);
    // `disabled` in both: still in maintenance; removed since: ready.
    assert!(s(3).in_maint());
    assert!(!s(4).in_maint());
    // A drain set on the CLI stays, with its runtime weight.
    assert!(s(5).is_draining() && !s(5).in_maint());
    assert_eq!(s(5).user_weight(), 3);
    // HAProxy 2.6 reads the same file with the same configuration to the same states and weights.
    if haproxy_present() {
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&cfg, &text).unwrap();
        let child = Command::new("haproxy")
            .arg("-f")
            .arg(&cfg)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy starts");
        let h = Haproxy(child);
        let sock = dir.join("admin.sock");
        assert!(wait_until(Duration::from_secs(5), || UnixStream::connect(
            &sock
        )
        .is_ok()));
        let theirs = runtime_cmd(&sock, "show servers state");
        drop(h);
        let rows: Vec<(String, u8, u32)> = theirs
            .lines()
            .skip(2)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (
                    f[3].to_string(),
                    f[6].parse().unwrap(),
                    f[7].parse().unwrap(),
                )
            })
            .collect();
        let ours: Vec<(String, u8, u32)> = (0..6)
            .map(|i| {
                let x = s(i);
                (x.config.name.clone(), x.admin() & 0x7f, x.user_weight())
            })
            .collect();
        assert_eq!(ours, rows, "{theirs}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `init-addr last` on a name nothing resolves: the server-state file's address serves; without a line for the
/// server, the methods after `last` decide, and with none left the start fails (and `-c`), as haproxy 2.6 -c
/// decides on the same files.
#[test]
fn init_addr_last_without_a_state_line_tries_the_next_method() {
    let dir = temp_dir("init-addr");
    let o = origins(1);
    let state = dir.join("state");
    let cfg = |methods: &str| {
        format!(
            "{DEFAULTS}    load-server-state-from-file global
listen app
    bind 127.0.0.1:{}
    server s1 name.invalid:{} init-addr {methods}
",
            free_port(),
            o[0].addr().port()
        )
        .replace(
            "    nbthread 1\n",
            &format!(
                "    nbthread 1\n    server-state-file {}\n",
                state.display()
            ),
        )
    };
    let line = format!(
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n\
         2 app 1 s1 127.0.0.1 2 0 1 1 5 1 0 0 0 0 0 0 name.invalid {} - 0 0 - - 0\n",
        o[0].addr().port()
    );
    let haproxy_ok = |text: &str| -> Option<bool> {
        let path = dir.join("h.cfg");
        std::fs::write(&path, text).unwrap();
        let out = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output();
        out.ok().map(|o| o.status.success())
    };
    let fulcrum = |text: &str| {
        let c = fulcrum_config::haproxy::parse_str("t.cfg", text).unwrap();
        fulcrum_proxy::check(&c).map_err(|e| e.to_string())
    };
    let cases: &[(&str, bool, Result<(), &str>)] = &[
        ("last", true, Ok(())),
        ("last", false, Err("[ALERT] t.cfg:13: 'server': server 'app/s1': no method found to resolve address 'name.invalid'\n[ALERT] Failed to initialize server(s) addr.")),
        ("last,libc", false, Err("[ALERT] t.cfg:13: 'server': server 'app/s1': could not resolve address 'name.invalid': ")),
        ("last,none", false, Ok(())),
        ("libc,last", true, Ok(())),
    ];
    for (methods, with_line, want) in cases {
        if *with_line {
            std::fs::write(&state, &line).unwrap();
        } else {
            let _ = std::fs::remove_file(&state);
        }
        let text = cfg(methods);
        let got = fulcrum(&text);
        match (want, &got) {
            (Ok(()), Ok(_)) => {}
            (Err(w), Err(e)) if e.starts_with(w) => {}
            _ => panic!("init-addr {methods}, state line {with_line}: {got:?}"),
        }
        if haproxy_present() {
            assert_eq!(
                haproxy_ok(&text),
                Some(want.is_ok()),
                "haproxy -c, init-addr {methods}, state line {with_line}"
            );
        }
    }
    // Started, the file's address serves.
    std::fs::write(&state, &line).unwrap();
    let config = fulcrum_config::haproxy::parse_str("t.cfg", &cfg("last")).unwrap();
    let running = fulcrum_proxy::start(&config).expect("starts");
    let addr = running.local_addrs()[0].1;
    assert_eq!(served_by(&get(addr, "/")), "s1");
    running.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
