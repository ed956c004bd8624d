//! The runtime API on a `stats socket`: every command, refusals by level, state and weight changes felt by
//! traffic, servers added and deleted at run time, the socket file's mode and life, the prompt mode, and the
//! output formats compared side by side with the real HAProxy 2.6.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;

fn sock_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "fulcrum-rt-{}-{}-{tag}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Sends `input` as `socat` does (then half-closes) and reads the answer until the server closes.
fn cli(path: &Path, input: &str) -> String {
    let mut s = UnixStream::connect(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(input.as_bytes()).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// One command, non-interactive.
fn cmd(path: &Path, c: &str) -> String {
    cli(path, &format!("{c}\n"))
}

/// A two-server `listen app` with a stats socket at each of `sockets` (path, options).
fn config(
    origins: &[fulcrum_proxy::origin::Origin],
    sockets: &[(&Path, &str)],
    opts: &str,
) -> String {
    let mut global = String::from("global\n    nbthread 1\n");
    for (p, o) in sockets {
        global.push_str(&format!("    stats socket {} {o}\n", p.display()));
    }
    format!(
        "{global}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

listen app
    bind 127.0.0.1:{}
    balance roundrobin
{}",
        free_port(),
        server_lines(origins, opts)
    )
}

fn spread(p: &Proxy, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        *seen.entry(served_by(&get(p.addr, "/"))).or_insert(0) += 1;
    }
    seen
}

/// The real HAProxy on the same configuration, for side-by-side output checks; `None` when it is not
/// installed (a failure in CI).
struct Haproxy {
    child: Child,
    sock: PathBuf,
    cfg: PathBuf,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.sock);
        let _ = std::fs::remove_file(&self.cfg);
    }
}

fn start_haproxy(text: &str, sock: &Path) -> Option<Haproxy> {
    let cfg = sock.with_extension("cfg");
    std::fs::write(&cfg, text).unwrap();
    let child = Command::new("haproxy")
        .arg("-f")
        .arg(&cfg)
        .arg("-db")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) if !peers_required() => {
            eprintln!("skipping the comparison with haproxy: {e}");
            let _ = std::fs::remove_file(&cfg);
            return None;
        }
        Err(e) => panic!("haproxy is needed for the runtime API comparison: {e}"),
    };
    let h = Haproxy {
        child,
        sock: sock.to_path_buf(),
        cfg,
    };
    assert!(
        wait_until(Duration::from_secs(5), || UnixStream::connect(sock).is_ok()),
        "haproxy did not open its stats socket"
    );
    Some(h)
}

/// `show servers state` rows without the columns that depend on time and on check history.
fn stable_state(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            if f.len() == 25 && !l.starts_with('#') {
                let mut keep: Vec<&str> = f[..9].to_vec();
                keep.extend(&f[14..]);
                keep.join(" ")
            } else {
                l.to_string()
            }
        })
        .collect()
}

#[test]
fn outputs_and_refusals_match_haproxy() {
    let o = origins(2);
    let ours = sock_path("ours");
    let theirs = sock_path("haproxy");
    let ours_user = sock_path("ours-user");
    let theirs_user = sock_path("haproxy-user");
    let text_ours = config(
        &o,
        &[(&ours, "level admin"), (&ours_user, "level user")],
        "weight 10",
    );
    let p = start_proxy(&text_ours);
    let text_theirs = text_ours
        .replace(&ours.display().to_string(), &theirs.display().to_string())
        .replace(
            &ours_user.display().to_string(),
            &theirs_user.display().to_string(),
        )
        .replace(&p.addr.port().to_string(), &free_port().to_string());
    let Some(_h) = start_haproxy(&text_theirs, &theirs) else {
        return;
    };
    let same = [
        "show backend",
        "show cli level",
        "get weight app/s1",
        "get weight app/zz",
        "get weight nope/s1",
        "get weight app",
        "get weight",
        "set weight app/s2 300",
        "set weight app/s2 -1",
        "set weight app/s2 abc",
        "set weight app/s2 5x",
        "set weight app/s2 -5%",
        "set weight app/s2",
        "set weight app/zz 3",
        "set server app/s2 state foo",
        "set server app/s2 state",
        "set server app/s2 weight 999",
        "set server app/s2 weight",
        "set server app/zz state ready",
        "set server app/s2 fqdn www.example.net",
        "set server app/s2 fqdn",
        "set server app",
        "show servers state nope",
        "disable server app/zz",
        "disable server nope/x",
        "enable server app",
        "enable health app",
        "disable health nope/x",
        "enable health app/zz",
        "del server app",
        "del server nope/x",
        "del server app/zz",
        "del server app/s1",
        "add server app",
        "add server nope/x 127.0.0.1:5",
        "add server app/s1 127.0.0.1:5",
        "add server app/s3",
        "set weight app/s2 50%;get weight app/s2",
        "set server app/s2 weight 200%;get weight app/s2",
        "set weight app/s2 10;get weight app/s2",
        "set server app/s2 state drain;set server app/s2 state ready",
        "get var proc.rt_nope",
        "get var",
        "get var txn.x",
        "set var proc.rt_x int(3)",
        "experimental-mode on; set var proc.rt_x int(3); get var proc.rt_x",
        "experimental-mode on; set var proc.rt_y fmt %[var(proc.rt_x),add(1)]; get var proc.rt_y",
        "experimental-mode on; set var proc.rt_z expr str(a),upper; get var proc.rt_z",
        "experimental-mode on; set var txn.x int(3)",
        "experimental-mode on; set var proc.x",
        "quit",
        "",
    ];
    for c in same {
        let (a, b) = (cmd(&ours, c), cmd(&theirs, c));
        if c.is_empty() {
            // Both list the commands after the same heading.
            let head = "Unknown command. Please enter one of the following commands only:\n";
            assert!(a.starts_with(head) && b.starts_with(head), "{a}\n{b}");
            continue;
        }
        assert_eq!(a, b, "command {c:?}");
    }
    for c in [
        "set weight app/s1 3",
        "set server app/s1 state maint",
        "set server app/s1 weight 3",
        "disable server app/s1",
        "enable server app/s1",
        "disable health app/s1",
        "enable health app/s1",
        "add server app/s9 127.0.0.1:9",
        "del server app/s1",
    ] {
        let (a, b) = (cmd(&ours_user, c), cmd(&theirs_user, c));
        assert_eq!(a, "Permission denied\n\n", "{c}");
        assert_eq!(a, b, "{c}");
    }
    for c in ["get weight app/s1", "show backend", "show cli level"] {
        assert_eq!(cmd(&ours_user, c), cmd(&theirs_user, c), "{c}");
    }

    // show servers state: same header and the same rows (time and check history aside), before and after
    // state changes.
    for step in [
        "",
        "set server app/s2 state maint",
        "set server app/s1 state drain",
        "set weight app/s1 7",
        "set server app/s2 state ready",
        "disable server app/s1",
        "enable server app/s1",
    ] {
        if !step.is_empty() {
            assert_eq!(cmd(&ours, step), cmd(&theirs, step), "{step}");
        }
        let (a, b) = (
            cmd(&ours, "show servers state"),
            cmd(&theirs, "show servers state app"),
        );
        assert_eq!(stable_state(&a), stable_state(&b), "after {step:?}");
        let header: Vec<&str> = a.lines().take(2).collect();
        assert_eq!(header, b.lines().take(2).collect::<Vec<_>>());
    }

    // The prompt mode, byte for byte.
    let session = "prompt\nget weight app/s1\nset weight app/s1 x\nget weight app/s1;get weight app/s2\nprompt\nget weight app/s1\n";
    assert_eq!(cli(&ours, session), cli(&theirs, session));

    // help: HAProxy's shape (a heading, `  usage<pad to 40>: text` lines, help/prompt/quit last).
    for (who, path) in [("fulcrum", &ours), ("haproxy", &theirs)] {
        let help = cmd(path, "help");
        let mut lines = help.lines();
        assert_eq!(
            lines.next(),
            Some("The following commands are valid at this level:"),
            "{who}"
        );
        let body: Vec<&str> = help.lines().skip(1).filter(|l| !l.is_empty()).collect();
        for l in &body {
            assert!(l.starts_with("  ") && l.len() > 44, "{who}: {l}");
            assert_eq!(&l[42..44], ": ", "{who}: {l}");
        }
        let last: Vec<&str> = body[body.len() - 3..]
            .iter()
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(last, ["help", "prompt", "quit"], "{who}");
        assert!(help.ends_with("\n\n"), "{who}");
    }
    let help_get = cmd(&ours, "help get");
    assert!(help_get.contains("  get weight <bk>/<srv>"), "{help_get}");
    assert!(!help_get.contains("show info"), "{help_get}");
}

#[test]
fn show_info_backend_stat_and_servers_state() {
    let o = origins(2);
    let sock = sock_path("show");
    let p = start_proxy(&config(&o, &[(&sock, "level admin")], "weight 3"));
    let info = cmd(&sock, "show info");
    assert!(info.starts_with("Name: fulcrum\nVersion: "), "{info}");
    assert!(
        info.contains(&format!("\nPid: {}\n", std::process::id())),
        "{info}"
    );
    assert!(info.contains("\nNbthread: 1\n"), "{info}");
    assert!(info.contains("\nCurrConns: "), "{info}");
    assert!(info.contains("\nUptime: 0d 0h00m0"), "{info}");
    assert!(info.ends_with("\n\n"), "{info}");
    assert_eq!(cmd(&sock, "show backend"), "# name\napp\n\n");
    let state = cmd(&sock, "show servers state app");
    let lines: Vec<&str> = state.lines().collect();
    assert_eq!(lines[0], "1");
    assert!(lines[1].starts_with("# be_id be_name srv_id srv_name srv_addr"));
    let row: Vec<&str> = lines[2].split(' ').collect();
    assert_eq!(row.len(), 25);
    assert_eq!(
        &row[..9],
        ["2", "app", "1", "s1", "127.0.0.1", "2", "0", "3", "3"]
    );
    assert_eq!(row[18], o[0].addr().port().to_string());
    assert_eq!(cmd(&sock, "show servers state"), state);
    let stat = cmd(&sock, "show stat");
    assert!(stat.starts_with("# pxname,svname,"), "{stat}");
    assert!(stat.contains("\napp,s1,"), "{stat}");
    let json = cmd(&sock, "show stat json");
    let rows: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
    let s1 = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[1]["value"]["value"] == "s1")
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(s1[0]["objType"], "Server");
    assert_eq!(s1[0]["value"]["value"], "app");
    drop(p);
}

#[test]
fn maint_stops_traffic_and_ready_brings_it_back() {
    let o = origins(2);
    let sock = sock_path("maint");
    let p = start_proxy(&config(&o, &[(&sock, "level admin")], ""));
    assert_eq!(spread(&p, 4).len(), 2);
    assert_eq!(cmd(&sock, "set server app/s2 state maint"), "\n");
    assert_eq!(spread(&p, 10), HashMap::from([("s1".to_string(), 10)]));
    let row = cmd(&sock, "show servers state app");
    assert!(row.contains("\n2 app 2 s2 127.0.0.1 0 1 1 1 "), "{row}");
    assert_eq!(cmd(&sock, "set server app/s2 state ready"), "\n");
    assert_eq!(spread(&p, 4).len(), 2);
    // disable / enable server are the same thing.
    assert_eq!(cmd(&sock, "disable server app/s1"), "\n");
    assert_eq!(spread(&p, 6), HashMap::from([("s2".to_string(), 6)]));
    assert_eq!(cmd(&sock, "enable server app/s1"), "\n");
    assert_eq!(spread(&p, 4).len(), 2);
    // Both in maintenance: 503.
    cmd(&sock, "disable server app/s1;disable server app/s2");
    assert_eq!(get(p.addr, "/").status, 503);
}

#[test]
fn a_server_disabled_in_the_configuration_can_be_enabled() {
    let o = origins(2);
    let sock = sock_path("disabled");
    let mut text = config(&o, &[(&sock, "level admin")], "");
    text = text.replace(
        &format!("server s2 {} \n", o[1].addr()),
        &format!("server s2 {} disabled\n", o[1].addr()),
    );
    let p = start_proxy(&text);
    assert_eq!(spread(&p, 4), HashMap::from([("s1".to_string(), 4)]));
    let row = cmd(&sock, "show servers state app");
    assert!(row.contains(" s2 127.0.0.1 0 5 "), "{row}");
    cmd(&sock, "set server app/s2 state ready");
    assert_eq!(spread(&p, 4).len(), 2);
    let row = cmd(&sock, "show servers state app");
    assert!(row.contains(" s2 127.0.0.1 2 4 "), "{row}");
}

#[test]
fn drain_takes_no_new_traffic_but_connections_in_progress_continue() {
    let o = origins(2);
    let sock = sock_path("drain");
    let text = config(&o, &[(&sock, "level admin")], "").replace("mode http", "mode tcp");
    let p = start_proxy(&text);
    // A TCP connection through the proxy; find the server it reached.
    let mut c = Client::connect(p.addr);
    let first = served_by(&c.get("/"));
    let other = if first == "s1" { "s2" } else { "s1" };
    assert_eq!(
        cmd(&sock, &format!("set server app/{first} state drain")),
        "\n"
    );
    assert_eq!(
        cmd(&sock, &format!("get weight app/{first}")),
        "1 (initial 1)\n\n"
    );
    for _ in 0..6 {
        assert_eq!(served_by(&get(p.addr, "/")), other);
    }
    // The connection opened before the drain still reaches its server.
    assert_eq!(served_by(&c.get("/")), first);
    // Maintenance does not cut it either, but del server is refused while it is open.
    assert_eq!(
        cmd(&sock, &format!("set server app/{first} state maint")),
        "\n"
    );
    assert_eq!(
        cmd(&sock, &format!("del server app/{first}")),
        "Server still has connections attached to it, cannot remove it.\n"
    );
    assert_eq!(served_by(&c.get("/")), first);
    drop(c);
    assert!(wait_until(Duration::from_secs(3), || {
        cmd(&sock, &format!("del server app/{first}")) == "Server deleted.\n"
    }));
    assert_eq!(
        cmd(&sock, &format!("get weight app/{first}")),
        "No such server.\n\n"
    );
}

#[test]
fn weights_change_the_distribution() {
    let o = origins(2);
    let sock = sock_path("weight");
    let p = start_proxy(&config(&o, &[(&sock, "level admin")], "weight 10"));
    let even = spread(&p, 20);
    assert_eq!((even["s1"], even["s2"]), (10, 10));
    assert_eq!(cmd(&sock, "set weight app/s1 30"), "\n");
    assert_eq!(cmd(&sock, "get weight app/s1"), "30 (initial 10)\n\n");
    let w = spread(&p, 40);
    assert_eq!((w["s1"], w["s2"]), (30, 10), "{w:?}");
    // N% is relative to the configured weight.
    assert_eq!(cmd(&sock, "set server app/s2 weight 300%"), "\n");
    assert_eq!(cmd(&sock, "get weight app/s2"), "30 (initial 10)\n\n");
    let w = spread(&p, 40);
    assert_eq!((w["s1"], w["s2"]), (20, 20), "{w:?}");
    assert_eq!(cmd(&sock, "set weight app/s1 0"), "\n");
    assert_eq!(spread(&p, 6), HashMap::from([("s2".to_string(), 6)]));
}

#[test]
fn static_algorithms_take_only_0_and_100_percent() {
    let o = origins(2);
    let sock = sock_path("static");
    let text = config(&o, &[(&sock, "level admin")], "weight 10")
        .replace("balance roundrobin", "balance static-rr");
    let _p = start_proxy(&text);
    assert_eq!(
        cmd(&sock, "set weight app/s1 5"),
        "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n"
    );
    assert_eq!(cmd(&sock, "set weight app/s1 0%"), "\n");
    assert_eq!(cmd(&sock, "set weight app/s1 100%"), "\n");
    assert_eq!(
        cmd(&sock, "add server app/s3 127.0.0.1:1"),
        "Backend must use a dynamic load balancing to support dynamic servers.\n"
    );
}

#[test]
fn add_and_del_server_at_run_time() {
    let o = origins(3);
    let sock = sock_path("add");
    let p = start_proxy(&config(&o[..2], &[(&sock, "level admin")], ""));
    let add = format!("add server app/s3 {} weight 2", o[2].addr());
    assert_eq!(cmd(&sock, &add), "New server registered.\n\n");
    assert_eq!(
        cmd(&sock, &add),
        "Already exists a server with the same name in backend.\n\n"
    );
    // A new server starts in maintenance.
    let state = cmd(&sock, "show servers state app");
    assert!(state.contains("\n2 app 3 s3 127.0.0.1 0 1 2 2 "), "{state}");
    assert!(!spread(&p, 6).contains_key("s3"));
    assert_eq!(cmd(&sock, "set server app/s3 state ready"), "\n");
    let w = spread(&p, 8);
    assert_eq!((w["s1"], w["s2"], w["s3"]), (2, 2, 4), "{w:?}");
    assert_eq!(
        cmd(&sock, "del server app/s3"),
        "Only servers in maintenance mode can be deleted.\n"
    );
    cmd(&sock, "set server app/s3 state maint");
    assert_eq!(cmd(&sock, "del server app/s3"), "Server deleted.\n");
    assert!(!cmd(&sock, "show servers state app").contains(" s3 "));
    let w = spread(&p, 6);
    assert_eq!((w["s1"], w["s2"], w.get("s3")), (3, 3, None), "{w:?}");
    // The name can be used again; the id follows the highest one in use.
    assert_eq!(
        cmd(&sock, &format!("add server app/s3 {}", o[2].addr())),
        "New server registered.\n\n"
    );
    assert!(cmd(&sock, "show servers state app").contains("\n2 app 3 s3 "));
    assert_eq!(
        cmd(&sock, "add server app/s4 nohost:80"),
        "'server app/s4' : fulcrum expects a numeric address with a port (IP:PORT) or a socket path, got 'nohost:80'.\n\n"
    );
    assert!(cmd(&sock, "add server app/s4 127.0.0.1:1 weight 300")
        .starts_with("'server app/s4' : weight of server s4 is not within 0 and 256 (300)."));
}

#[test]
fn added_server_with_check_is_checked() {
    let o = origins(3);
    let sock = sock_path("addcheck");
    let p = start_proxy(&config(&o[..2], &[(&sock, "level admin")], ""));
    let snapshot = p.running.as_ref().unwrap().snapshot().clone();
    // A server that refuses connections, added with `check`, goes DOWN once out of maintenance.
    let dead = format!("127.0.0.1:{}", free_port());
    assert_eq!(
        cmd(&sock, &format!("add server app/s9 {dead} check")),
        "New server registered.\n\n"
    );
    cmd(&sock, "enable server app/s9");
    // Its checks wait for `enable health`, as in HAProxy.
    assert_eq!(cmd(&sock, "enable health app/s9"), "\n");
    let be = snapshot.backends[0].clone();
    let s9 = be
        .servers
        .iter()
        .find(|s| s.config.name == "s9")
        .unwrap()
        .clone();
    assert!(
        wait_until(Duration::from_secs(10), || !s9.is_checked_up()),
        "the added server's checks never ran"
    );
    assert!(!spread(&p, 6).contains_key("s9"));
}

#[test]
fn disable_health_freezes_the_state() {
    let o = origins(2);
    let sock = sock_path("health");
    let text = config(
        &o,
        &[(&sock, "level admin")],
        "check inter 100ms rise 1 fall 1",
    )
    .replace(
        "balance roundrobin",
        "balance roundrobin\n    option httpchk GET /health",
    );
    let p = start_proxy(&text);
    let servers = p.running.as_ref().unwrap().snapshot().servers.clone();
    assert_eq!(cmd(&sock, "disable health app/s2"), "\n");
    o[1].set_healthy(false);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        servers[1].is_up(),
        "s2 went down while its checks were disabled"
    );
    assert_eq!(cmd(&sock, "enable health app/s2"), "\n");
    assert!(
        wait_until(Duration::from_secs(3), || !servers[1].is_up()),
        "s2 never went DOWN after enable health"
    );
}

#[test]
fn socket_file_mode_stale_file_and_removal() {
    let o = origins(1);
    let sock = sock_path("mode");
    let sock2 = sock_path("mode2");
    // A stale file where the socket goes is replaced.
    std::fs::write(&sock, "stale").unwrap();
    let p = start_proxy(&config(
        &o,
        &[
            (&sock, "mode 600 level admin"),
            (&sock2, "mode 660 level operator"),
        ],
        "",
    ));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&sock), 0o600);
    assert_eq!(mode(&sock2), 0o660);
    assert_eq!(cmd(&sock, "show cli level"), "admin\n\n");
    assert_eq!(cmd(&sock2, "show cli level"), "operator\n\n");
    assert_eq!(
        cmd(&sock2, "disable server app/s1"),
        "Permission denied\n\n"
    );
    drop(p);
    assert!(
        !sock.exists() && !sock2.exists(),
        "socket files left behind"
    );
}

#[test]
fn prompt_mode_keeps_the_connection_until_quit() {
    let o = origins(1);
    let sock = sock_path("prompt");
    let _p = start_proxy(&config(&o, &[(&sock, "level admin")], ""));
    let mut s = UnixStream::connect(&sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let read_prompt = |s: &mut UnixStream| {
        let mut got = Vec::new();
        let mut b = [0u8; 1];
        while !got.ends_with(b"> ") {
            let n = s.read(&mut b).unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.push(b[0]);
        }
        String::from_utf8(got).unwrap()
    };
    s.write_all(b"prompt\n").unwrap();
    assert_eq!(read_prompt(&mut s), "\n> ");
    s.write_all(b"get weight app/s1\n").unwrap();
    assert_eq!(read_prompt(&mut s), "1 (initial 1)\n\n> ");
    s.write_all(b"show backend;show cli level\n").unwrap();
    assert_eq!(read_prompt(&mut s), "# name\napp\n\n> ");
    assert_eq!(read_prompt(&mut s), "admin\n\n> ");
    s.write_all(b"user\n").unwrap();
    assert_eq!(read_prompt(&mut s), "\n> ");
    s.write_all(b"set weight app/s1 2\n").unwrap();
    assert_eq!(read_prompt(&mut s), "Permission denied\n\n> ");
    s.write_all(b"quit\n").unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn socat_one_command_per_connection() {
    let o = origins(1);
    let sock = sock_path("socat");
    let _p = start_proxy(&config(&o, &[(&sock, "level admin")], ""));
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo 'show backend' | socat - UNIX:{}",
            sock.display()
        ))
        .output();
    match out {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => {
            assert_eq!(String::from_utf8_lossy(&o.stdout), "# name\napp\n\n");
        }
        other if !peers_required() => eprintln!("skipping the socat check: {other:?}"),
        other => panic!("socat is needed: {other:?}"),
    }
    // Two lines sent at once are both answered, then the connection closes.
    assert_eq!(
        cli(&sock, "get weight app/s1\nshow cli level\n"),
        "1 (initial 1)\n\nadmin\n\n"
    );
}

/// `show acl` lines without their `0xID` (pattern ids differ between processes).
fn acl_patterns(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| match l.split_once(' ') {
            Some((id, rest)) if id.starts_with("0x") => rest.to_string(),
            _ => l.to_string(),
        })
        .collect()
}

/// ACL patterns at run time: `add acl` / `del acl` / `clear acl` on a `-f FILE` reference change every ACL that
/// loads the file, `#ID` names an ACL line's own patterns, values keep their escaped spaces and semicolons, and
/// the answers (refusals, invalid patterns, listings) are HAProxy's.
#[test]
fn acl_patterns_change_at_run_time() {
    let o = origins(1);
    let ours = sock_path("acl");
    let theirs = sock_path("acl-haproxy");
    let paths = temp_pattern_files();
    let text = format!(
        "global\n    nbthread 1\n    stats socket {} level admin\n{}\
listen app
    bind 127.0.0.1:{}
    acl a1 path /x /y
    acl a2 path -f {paths}
    acl net src -f {paths}.ips
    acl port dst_port 1:2
    acl re path -m reg ^/re/
    http-request deny if {{ hdr(user-agent) -i -f {paths} }}
    http-request deny if a1 || a2 || net || port || re
{}",
        ours.display(),
        DEFAULTS.trim_start_matches("global\n    nbthread 1\n"),
        free_port(),
        server_lines(&o, ""),
    );
    let p = start_proxy(&text);
    let status = |path: &str, agent: &str| {
        let mut c = Client::connect(p.addr);
        c.send(
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nUser-Agent: {agent}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        ;
        c.read_response(false).status
    };
    assert_eq!(status("/x", "a"), 403);
    assert_eq!(status("/blocked", "a"), 403);
    assert_eq!(status("/ok", "a"), 200);
    assert_eq!(status("/ok", "Mon User Agent;"), 200);

    // The file's reference is shared: both ACLs that load it see the new pattern.
    assert_eq!(
        cmd(&ours, &format!("add acl {paths} Mon\\ User\\ Agent\\;")),
        "\n"
    );
    assert_eq!(
        status("/ok", "mon user agent;"),
        403,
        "-i ACL sees the added pattern"
    );
    assert_eq!(cmd(&ours, &format!("add acl {paths} /added")), "\n");
    assert_eq!(status("/added", "a"), 403, "path ACL sees it too");
    assert_eq!(status("/ok", "/ADDED"), 403, "and the -i header one");
    let listed = acl_patterns(&cmd(&ours, &format!("show acl {paths}")));
    assert_eq!(listed, ["/blocked", "Mon User Agent;", "/added", ""]);
    assert_eq!(
        cmd(&ours, &format!("del acl {paths} Mon\\ User\\ Agent\\;")),
        "\n"
    );
    assert_eq!(cmd(&ours, &format!("del acl {paths} /added")), "\n");
    assert_eq!(status("/ok", "Mon User Agent;"), 200);
    assert_eq!(status("/added", "a"), 200);
    // `#ID` is an ACL line's own patterns, numbered as HAProxy numbers them.
    assert_eq!(acl_patterns(&cmd(&ours, "show acl #0")), ["/x", "/y", ""]);
    assert_eq!(cmd(&ours, "add acl #0 /z"), "\n");
    assert_eq!(status("/z", "a"), 403);
    assert_eq!(cmd(&ours, "del acl #0 /x"), "\n");
    assert_eq!(status("/x", "a"), 200);
    assert_eq!(cmd(&ours, "clear acl #0"), "\n");
    assert_eq!(status("/z", "a"), 200);
    // A pattern id from `show acl` deletes that one pattern.
    let show = cmd(&ours, &format!("show acl {paths}"));
    let id = show.split_whitespace().next().unwrap();
    assert_eq!(cmd(&ours, &format!("del acl {paths} #{id}")), "\n");
    assert_eq!(status("/blocked", "a"), 200);
    let list = cmd(&ours, "show acl");
    let descriptions: Vec<&str> = list
        .lines()
        .map(|l| l.split(" file '").next().unwrap())
        .collect();
    assert_eq!(
        descriptions,
        [
            "# id (file) description",
            "0 () acl 'path'",
            &format!("1 ({paths}) pattern loaded from")[..],
            "2 () acl 'path'",
            &format!("3 ({paths}.ips) pattern loaded from")[..],
            "4 () acl 'src'",
            "5 () acl 'dst_port'",
            "6 () acl 'path'",
            "7 () acl 'hdr'",
            "",
        ],
        "{list}"
    );
    assert!(
        list.contains(&format!(
            "1 ({paths}) pattern loaded from file '{paths}' used by acl at file 'test.cfg' line 13, by acl at file 'test.cfg' line 17. curr_ver=0 next_ver=0 entry_cnt=0\n"
        )),
        "{list}"
    );

    // Refusals and invalid patterns, compared with HAProxy on the same configuration.
    let text_theirs = text
        .replace(&ours.display().to_string(), &theirs.display().to_string())
        .replace(&p.addr.port().to_string(), &free_port().to_string());
    let Some(_h) = start_haproxy(&text_theirs, &theirs) else {
        return;
    };
    // Ours was cleared above.
    assert_eq!(cmd(&theirs, "clear acl #0"), "\n");
    for c in [
        "show acl nope",
        "show acl #99",
        "show acl #x",
        "add acl",
        &format!("add acl {paths}")[..],
        "add acl nope x",
        "del acl",
        "del acl #0",
        "del acl nope x",
        "del acl #0 /nothing",
        "clear acl",
        "clear acl nope",
        &format!("add acl {paths}.ips notanip")[..],
        "add acl #5 x",
        "add acl #5 9:8",
        &format!("add acl {paths}.ips 10.1.0.0/255.255.0.0")[..],
        "show acl #5",
        &format!("show acl {paths}.ips")[..],
        "add acl #0 a\\ b\\;c;show acl #0",
    ] {
        let (a, b) = (cmd(&ours, c), cmd(&theirs, c));
        let listing = c.starts_with("show acl #")
            || c.starts_with(&format!("show acl {paths}"))
            || c.starts_with("add acl #0 a");
        if listing {
            assert_eq!(acl_patterns(&a), acl_patterns(&b), "command {c:?}");
        } else {
            assert_eq!(a, b, "command {c:?}");
        }
    }
}

/// A pattern file with `/blocked` (and its `.ips` sibling with a network), in a per-process directory.
fn temp_pattern_files() -> String {
    let dir = std::env::temp_dir().join(format!("fulcrum-rt-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("patterns.acl");
    std::fs::write(&f, "/blocked\n").unwrap();
    std::fs::write(dir.join("patterns.acl.ips"), "192.0.2.0/24\n").unwrap();
    f.display().to_string()
}

/// `add server ... proto NAME`: a tcp backend takes no multiplexer, an unknown or missing name is refused with
/// HAProxy's words; an http backend takes `h1` (what fulcrum speaks to servers) and refuses `h2` as not supported
/// yet.
#[test]
fn add_server_proto() {
    let ours = sock_path("proto");
    let theirs = sock_path("proto-haproxy");
    let text = format!(
        "global\n    nbthread 1\n    stats socket {} level admin\n{}\
frontend fe
    bind 127.0.0.1:{}
    default_backend test
backend test
    balance random
backend other2
    balance random
    mode tcp
",
        ours.display(),
        DEFAULTS.trim_start_matches("global\n    nbthread 1\n"),
        free_port(),
    );
    let p = start_proxy(&text);
    let same = [
        "add server other2/s1 127.0.0.1:80 proto h2",
        "add server other2/s2 127.0.0.1:80 proto h1",
        "add server other2/s3 127.0.0.1:80 proto fcgi",
        "add server test/s6 127.0.0.1:80 proto foo",
        "add server test/s7 127.0.0.1:80 proto",
        "add server test/s8 127.0.0.1:80 proto h1",
    ];
    let answers: Vec<String> = same.iter().map(|c| cmd(&ours, c)).collect();
    assert_eq!(answers[0], "MUX protocol is not usable for server.\n\n");
    assert_eq!(answers[5], "New server registered.\n\n");
    assert_eq!(
        cmd(&ours, "add server test/s9 127.0.0.1:80 proto h2"),
        "New server registered.\n\n"
    );
    assert_eq!(
        cmd(&ours, "add server test/s10 127.0.0.1:80 proto fcgi"),
        "'proto fcgi' is not supported yet by fulcrum: it speaks HTTP/1.1 and HTTP/2 to servers ('proto h1', 'proto h2').\n\n"
    );
    let text_theirs = text
        .replace(&ours.display().to_string(), &theirs.display().to_string())
        .replace(&p.addr.port().to_string(), &free_port().to_string());
    let Some(_h) = start_haproxy(&text_theirs, &theirs) else {
        return;
    };
    for (c, a) in same.iter().zip(answers) {
        assert_eq!(a, cmd(&theirs, c), "command {c:?}");
    }
}

/// Map files in a per-process directory: request values, networks and host names to backends.
fn temp_map_files() -> (String, String, String) {
    let dir = std::env::temp_dir().join(format!("fulcrum-rt-map-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        f.display().to_string()
    };
    (
        write(
            "values.map",
            "# key value\nk1 v1\n/old /new\n\nk2 two words\n",
        ),
        write("nets.map", "10.0.0.0/8 wide\n10.1.0.0/16 narrow\n"),
        write("hosts.map", "b.example.com other\nexample.com app\n"),
    )
}

/// `show map REF` lines without their `0xID` (entry ids differ between processes).
fn map_entries(out: &str) -> Vec<String> {
    acl_patterns(out)
}

/// Maps at run time: converters read the file's entries (`map`, `map_str` with `ignore-empty` redirects,
/// `map_ip`'s longest prefix, `map_dom` naming the backend of a dynamic `use_backend`), and `add map`,
/// `set map`, `del map`, `clear map` (and a payload) change what they find at once; `show map`, `get map` and the
/// refusals answer as HAProxy 2.6 does on the same configuration.
#[test]
fn maps_change_at_run_time() {
    let o = origins(1);
    let ours = sock_path("map");
    let theirs = sock_path("map-haproxy");
    let (values, nets, hosts) = temp_map_files();
    let text = format!(
        "global\n    nbthread 1\n    stats socket {} level admin\n{}\
frontend fe
    bind 127.0.0.1:{}
    http-request redirect location %[path,map_str({values})] code 301 ignore-empty
    http-request set-header x-out \"%[req.hdr(x-k),map({values},none)]|%[req.hdr(x-ip),map_ip({nets},-)]\"
    use_backend %[req.hdr(host),lower,map_dom({hosts})]
    default_backend app
backend app
{}backend other
    http-request return status 203
",
        ours.display(),
        DEFAULTS.trim_start_matches("global\n    nbthread 1\n"),
        free_port(),
        server_lines(&o, ""),
    );
    let p = start_proxy(&text);
    let get = |path: &str, headers: &str| {
        let mut c = Client::connect(p.addr);
        c.send(format!("GET {path} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n").as_bytes());
        c.read_response(false)
    };
    let out = |headers: &str| -> String {
        let r = get("/headers", &format!("Host: t\r\n{headers}"));
        assert_eq!(r.status, 200);
        let body = r.text().to_ascii_lowercase();
        body.lines()
            .find_map(|l| l.strip_prefix("x-out: "))
            .unwrap_or_default()
            .to_string()
    };
    // An absent sample stays absent: the converter, and its default, do not run.
    assert_eq!(out("x-k: k1\r\n"), "v1|");
    assert_eq!(out("x-k: k2\r\nx-ip: 10.1.2.3\r\n"), "two words|narrow");
    assert_eq!(out("x-k: k3\r\nx-ip: 10.9.2.3\r\n"), "none|wide");
    assert_eq!(out("x-ip: 11.0.0.1\r\n"), "|-");
    let r = get("/old", "Host: t\r\n");
    assert_eq!((r.status, r.header("location")), (301, Some("/new")));
    // No entry: the redirect is skipped, the request goes on.
    assert_eq!(get("/older", "Host: t\r\n").status, 200);
    assert_eq!(get("/headers", "Host: B.example.com\r\n").status, 203);
    assert_eq!(get("/headers", "Host: x.b.example.com\r\n").status, 203);
    assert_eq!(get("/headers", "Host: example.com\r\n").status, 200);
    // A name no backend has: the default backend.
    assert_eq!(get("/headers", "Host: nowhere\r\n").status, 200);

    assert_eq!(cmd(&ours, &format!("set map {values} k1 v9")), "\n");
    assert_eq!(cmd(&ours, &format!("add map {values} k3 v3")), "\n");
    assert_eq!(out("x-k: k1\r\n"), "v9|");
    assert_eq!(out("x-k: k3\r\n"), "v3|");
    assert_eq!(cmd(&ours, &format!("del map {values} /old")), "\n");
    assert_eq!(get("/old", "Host: t\r\n").status, 200);
    assert_eq!(cmd(&ours, &format!("del map {hosts} b.example.com")), "\n");
    assert_eq!(get("/headers", "Host: b.example.com\r\n").status, 200);
    assert_eq!(
        cli(
            &ours,
            &format!("add map {hosts} <<\nx.test other\ny.test app\n\n")
        ),
        "\n"
    );
    assert_eq!(get("/headers", "Host: x.test\r\n").status, 203);
    assert_eq!(
        map_entries(&cmd(&ours, &format!("show map {values}"))),
        ["k1 v9", "k2 two words", "k3 v3", ""]
    );
    let show = cmd(&ours, &format!("show map {values}"));
    let id = show.split_whitespace().next().unwrap();
    assert_eq!(cmd(&ours, &format!("set map {values} #{id} by-id")), "\n");
    assert_eq!(out("x-k: k1\r\n"), "by-id|");
    assert_eq!(cmd(&ours, &format!("clear map {values}")), "\n");
    assert_eq!(out("x-k: k2\r\n"), "none|");
    assert_eq!(cmd(&ours, "show map #0"), "\n");
    // A prepared version reaches the converters when committed.
    assert_eq!(
        cmd(&ours, &format!("prepare map {values}")),
        "New version created: 1\n\n"
    );
    assert_eq!(cmd(&ours, &format!("add map @1 {values} k1 next")), "\n");
    assert_eq!(out("x-k: k1\r\n"), "none|");
    assert_eq!(cmd(&ours, &format!("commit map @1 {values}")), "\n");
    assert_eq!(out("x-k: k1\r\n"), "next|");

    // The same configuration in HAProxy: listings, look-ups and refusals.
    let text_theirs = text
        .replace(&ours.display().to_string(), &theirs.display().to_string())
        .replace(&p.addr.port().to_string(), &free_port().to_string());
    let Some(_h) = start_haproxy(&text_theirs, &theirs) else {
        return;
    };
    assert_eq!(cmd(&theirs, &format!("clear map {values}")), "\n");
    for c in [
        format!("prepare map {values}"),
        format!("add map @1 {values} k1 next"),
        format!("commit map @1 {values}"),
    ] {
        cmd(&theirs, &c);
    }
    let ours_list = cmd(&ours, "show map");
    assert!(
        ours_list.contains(&format!(
            "1 ({nets}) pattern loaded from file '{nets}' used by map at file 'test.cfg' line 13. curr_ver=0 next_ver=0 entry_cnt=2\n"
        )),
        "{ours_list}"
    );
    // HAProxy names its own configuration file, and numbers the map of a dynamic `use_backend` after its
    // internal ACLs (fulcrum numbers maps alone); the host map also changed above.
    let listing = |out: &str, cfg: &str| -> Vec<String> {
        out.replace(cfg, "test.cfg")
            .lines()
            .filter(|l| !l.contains(&hosts))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        listing(&ours_list, "test.cfg"),
        listing(
            &cmd(&theirs, "show map"),
            &theirs.with_extension("cfg").display().to_string()
        )
    );
    for c in [
        "show map nope".to_string(),
        "show map #99".to_string(),
        "add map".to_string(),
        format!("add map {nets}"),
        format!("add map {nets} notanip x"),
        "add map #99 a b".to_string(),
        "del map".to_string(),
        format!("del map {nets}"),
        format!("del map {nets} nothing"),
        format!("set map {nets} 10.0.0.0/8"),
        format!("set map {nets} nothing x"),
        "clear map".to_string(),
        "clear map nope".to_string(),
        "get map".to_string(),
        format!("get map {nets}"),
        format!("get map {nets} 10.1.2.3"),
        format!("get map {nets} 11.0.0.1"),
        format!("get map {hosts} a.example.com"),
        format!("set map {nets} 10.0.0.0/8 changed"),
        format!("add map {nets} 192.0.2.0/24 test-net"),
        format!("show map {nets}"),
        format!("add map {nets} <<\n1.2.3.4 a\nbad b\n\nshow map {nets}"),
        // Versions: prepared, filled, shown, committed.
        format!("prepare map {nets}"),
        format!("prepare map {nets}"),
        format!("add map @1 {nets} 172.16.0.0/12 v1"),
        format!("add map @1 {nets} notanip v1"),
        format!("add map @2 {nets} 198.51.100.0/24 v2"),
        format!("add map @9 {nets} 10.0.0.0/8 v9"),
        format!("show map @1 {nets}"),
        format!("get map {nets} 172.16.1.1"),
        format!("commit map {nets}"),
        format!("commit map @0 {nets}"),
        format!("commit map @3 {nets}"),
        "prepare map".to_string(),
        "prepare map nope".to_string(),
        format!("commit map @1 {nets}"),
        format!("get map {nets} 172.16.1.1"),
        format!("get map {nets} 10.1.2.3"),
        format!("show map {nets}"),
        format!("show map @2 {nets}"),
        format!("clear map @2 {nets}"),
        format!("show map @2 {nets}"),
        format!("add map @2 {nets} <<\n192.0.2.0/24 p2\n\nshow map @2 {nets}"),
        format!("commit map @2 {nets}"),
        format!("show map {nets}"),
    ] {
        let (a, b) = (cmd(&ours, &c), cmd(&theirs, &c));
        if c.starts_with("show map ") || c.contains("<<") {
            assert_eq!(map_entries(&a), map_entries(&b), "command {c:?}");
        } else {
            assert_eq!(a, b, "command {c:?}");
        }
    }
}

/// `stats timeout` closes a silent connection after that delay; `stats maxconn` serves that many connections at
/// once, the next waiting in the listen queue until one ends.
#[test]
fn stats_timeout_and_maxconn() {
    let o = origins(1);
    let sock = sock_path("limits");
    let cfg = config(&o, &[(&sock, "level admin")], "").replacen(
        "global\n",
        "global\n    stats timeout 1s\n    stats maxconn 1\n",
        1,
    );
    let p = start_proxy(&cfg);
    // A silent interactive connection is closed after about a second.
    let mut silent = UnixStream::connect(&sock).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let t0 = std::time::Instant::now();
    // While it is open, a second connection is accepted only when the first one ends.
    let waiting = std::thread::spawn({
        let sock = sock.clone();
        move || {
            let t = std::time::Instant::now();
            let out = cmd(&sock, "show info");
            (t.elapsed(), out)
        }
    });
    let mut buf = Vec::new();
    let _ = silent.read_to_end(&mut buf);
    let closed_after = t0.elapsed();
    assert!(
        closed_after >= Duration::from_millis(900) && closed_after < Duration::from_secs(4),
        "{closed_after:?}"
    );
    let (waited, out) = waiting.join().unwrap();
    assert!(out.contains("Name: "), "{out}");
    assert!(
        waited >= Duration::from_millis(700),
        "served at once: {waited:?}"
    );
    drop(p);
}

#[test]
fn del_server_refuses_servers_the_configuration_points_to() {
    let o = origins(2);
    let sock = sock_path("refs");
    let a = o[0].addr();
    let cfg = format!(
        "global
    stats socket {} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{}
    acl busy srv_sess_rate(app/s1) gt 50
    http-request deny if busy
    default_backend app
backend app
    use-server s3 if {{ path /s3 }}
    server s1 {a}
    server s2 {a} check
    server s3 {a} track s2
    server s4 {a}
",
        sock.display(),
        free_port()
    );
    let _p = start_proxy(&cfg);
    let refused =
        "This server cannot be removed at runtime due to other configuration elements pointing to it.\n";
    for s in ["s1", "s2", "s3"] {
        cmd(&sock, &format!("disable server app/{s}"));
        assert_eq!(cmd(&sock, &format!("del server app/{s}")), refused, "{s}");
    }
    assert_eq!(
        cmd(&sock, "del server app/s4"),
        "Only servers in maintenance mode can be deleted.\n"
    );
    cmd(&sock, "disable server app/s4");
    assert_eq!(cmd(&sock, "del server app/s4"), "Server deleted.\n");
    drop(o);
}

/// `track`: a tracking server inherits the tracked one's maintenance and drain, down a chain, with HAProxy's admin
/// flags (IMAINT 0x02, IDRAIN 0x10) and log lines; a `disabled` server's trackers start in maintenance.
#[test]
fn trackers_inherit_maintenance_and_drain_as_haproxy() {
    let o = origins(1);
    let origin = o[0].addr();
    let config = |sock: &Path, log: std::net::SocketAddr| {
        format!(
            "global
    nbthread 1
    stats socket {} level admin
    log {log} local0

defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s

listen app
    bind 127.0.0.1:{}
    server x {origin}

backend a
    server s1 {origin} check inter 100ms rise 1 fall 1

backend b
    server t1 {origin} track a/s1

backend c
    server u1 {origin} track b/t1

backend e
    server w1 {origin} check disabled

backend f
    server x1 {origin} track e/w1
",
            sock.display(),
            free_port()
        )
    };
    let steps = [
        "set server a/s1 state maint",
        "show stat",
        "set server a/s1 state ready",
        "set server a/s1 state drain",
        "show servers state",
        "set server a/s1 state ready",
        "set server b/t1 state drain",
        "set server a/s1 state maint",
        "show servers state",
        "set server a/s1 state ready",
        "show servers state",
    ];
    // Each proxy: its answers, then the state-change messages its `log` targets received.
    let run = |sock: &Path, log: &common::syslog::Syslog| -> Vec<String> {
        // Wait for s1's first check, so that both start from UP.
        assert!(
            wait_until(Duration::from_secs(5), || {
                cmd(sock, "show servers state a")
                    .lines()
                    .any(|l| l.contains(" a 1 s1 ") && l.split(' ').nth(5) == Some("2"))
            }),
            "s1 never came UP"
        );
        let mut out = Vec::new();
        for step in steps {
            let answer = cmd(sock, step);
            out.push(format!("> {step}"));
            if step == "show stat" {
                // Proxy, server and status (`MAINT (via a/s1)`).
                out.extend(answer.lines().map(|l| {
                    let f: Vec<&str> = l.split(',').collect();
                    f.get(17)
                        .map_or(l.to_string(), |st| format!("{},{},{st}", f[0], f[1]))
                }));
            } else {
                out.extend(stable_state(&answer));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(300));
        out.extend(
            log.messages()
                .into_iter()
                .filter(|m| m.starts_with("Server ") || m.starts_with("backend ")),
        );
        out
    };
    let theirs_sock = sock_path("track-haproxy");
    let theirs_log = common::syslog::Syslog::start();
    let theirs = {
        let Some(_h) = start_haproxy(&config(&theirs_sock, theirs_log.addr), &theirs_sock) else {
            return;
        };
        run(&theirs_sock, &theirs_log)
    };
    let ours_sock = sock_path("track-ours");
    let ours_log = common::syslog::Syslog::start();
    let p = start_proxy(&config(&ours_sock, ours_log.addr));
    let ours = run(&ours_sock, &ours_log);
    drop(p);
    assert_eq!(ours, theirs);
    // The figures themselves, not only the sameness: t1 inherited maintenance on top of its own drain, and u1
    // both, from t1.
    assert!(
        theirs
            .iter()
            .any(|l| l.starts_with("4 b 1 t1 ") && l.split(' ').nth(6) == Some("10")),
        "{theirs:#?}"
    );
    assert!(
        theirs
            .iter()
            .any(|l| l.starts_with("5 c 1 u1 ") && l.split(' ').nth(6) == Some("18")),
        "{theirs:#?}"
    );
}

/// A listener on loopback counting the connections it accepts (for at most 30 s); each gets `reply` once a
/// few bytes arrived (or at once when `reply` is empty), then is closed.
fn counting_listener(reply: &'static [u8]) -> (std::net::SocketAddr, std::sync::Arc<AtomicUsize>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < until {
            match l.accept() {
                Ok((mut s, _)) => {
                    c.fetch_add(1, Ordering::SeqCst);
                    if !reply.is_empty() {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                        let mut buf = [0u8; 64];
                        let _ = s.read(&mut buf);
                        let _ = s.write_all(reply);
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    (addr, count)
}

#[test]
fn added_server_checks_wait_for_enable_and_end_with_the_server() {
    let o = origins(2);
    let sock = sock_path("dyncheck");
    let p = start_proxy(&config(&o, &[(&sock, "level admin")], ""));
    let snapshot = p.running.as_ref().unwrap().snapshot().clone();
    let (check_addr, checks) = counting_listener(b"");
    let (agent_addr, agents) = counting_listener(b"ready up\n");
    assert_eq!(
        cmd(
            &sock,
            &format!(
                "add server app/d1 {check_addr} check inter 100ms rise 1 fall 1 agent-check agent-addr 127.0.0.1 agent-port {} agent-send hello agent-inter 100ms",
                agent_addr.port()
            )
        ),
        "New server registered.\n\n"
    );
    let d1 = snapshot.backends[0]
        .servers
        .iter()
        .find(|s| s.config.name == "d1")
        .unwrap()
        .clone();
    assert_eq!(d1.running_tasks(), 2, "a check task and an agent task");
    // In maintenance, with checks and agent disabled until enabled: nothing connects.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(checks.load(Ordering::SeqCst), 0);
    assert_eq!(agents.load(Ordering::SeqCst), 0);
    // Out of maintenance, the checks run once enabled.
    assert_eq!(cmd(&sock, "enable server app/d1"), "\n");
    assert_eq!(cmd(&sock, "enable health app/d1"), "\n");
    assert!(wait_until(Duration::from_secs(3), || checks
        .load(Ordering::SeqCst)
        >= 2));
    // The agent's `ready` has no maintenance to end here, its `up` keeps the server up.
    assert_eq!(cmd(&sock, "enable agent app/d1"), "\n");
    assert!(wait_until(Duration::from_secs(3), || agents
        .load(Ordering::SeqCst)
        >= 2));
    assert!(d1.is_up());
    assert_eq!(cmd(&sock, "disable agent app/d1"), "\n");
    std::thread::sleep(Duration::from_millis(300));
    let asked = agents.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        agents.load(Ordering::SeqCst),
        asked,
        "the agent was asked after disable agent"
    );
    // An agent's `ready` takes a server out of maintenance.
    assert_eq!(cmd(&sock, "disable server app/d1"), "\n");
    assert!(d1.in_maint());
    assert_eq!(cmd(&sock, "enable agent app/d1"), "\n");
    assert!(wait_until(Duration::from_secs(3), || !d1.in_maint()));
    // Deleted: both tasks end, nothing connects any more.
    let both = cmd(&sock, "disable agent app/d1; disable server app/d1");
    assert!(both.trim().is_empty(), "{both:?}");
    assert_eq!(cmd(&sock, "del server app/d1"), "Server deleted.\n");
    assert!(
        wait_until(Duration::from_secs(2), || d1.running_tasks() == 0),
        "the deleted server's tasks still run"
    );
    let (c, a) = (checks.load(Ordering::SeqCst), agents.load(Ordering::SeqCst));
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        (checks.load(Ordering::SeqCst), agents.load(Ordering::SeqCst)),
        (c, a)
    );
}

#[test]
fn added_servers_track_and_checks_as_haproxy() {
    let o = origins(1);
    let origin = o[0].addr();
    let config = |sock: &Path, log: std::net::SocketAddr| {
        format!(
            "global
    nbthread 1
    stats socket {} level admin
    log {log} local0

defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s

listen app
    bind 127.0.0.1:{}
    server x {origin}

backend be_check
    server srv_check {origin} check
    server srv_no_check {origin}

backend be1
    server srv {origin} check inter 100ms rise 1 fall 1
",
            sock.display(),
            free_port()
        )
    };
    let steps = [
        format!("add server be_check/s1 {origin} track be_check/srv_no_check"),
        format!("add server be_check/s1 {origin} track be_check/srv_check"),
        format!("add server be_check/s3 {origin} track be_check/s1"),
        format!("add server be_check/s4 {origin} track nope/srv"),
        format!("add server be_check/s4 {origin} track be_check/nope"),
        format!("add server be_check/s4 {origin} check track srv_check"),
        format!("add server be_check/s4 {origin} agent-check"),
        format!("add server be_check/s5 {origin} check inter 0"),
        format!("add server be_check/s5 {origin} check rise 0"),
        "enable agent be_check/srv_check".into(),
        "disable agent be_check/srv_check".into(),
        "enable health be_check/srv_no_check".into(),
        "disable health be_check/srv_no_check".into(),
        "enable agent be_check/nope".into(),
        format!("add server be1/s1 {origin} track be1/srv"),
        "enable server be1/s1".into(),
        format!("add server be1/s2 {origin} track srv"),
        "enable server be1/s2".into(),
        format!("add server be1/s3 {origin} track be1/srv"),
        "enable server be1/s3".into(),
        "show servers state be1".into(),
        "disable server be1/srv".into(),
        "show servers state be1".into(),
        "del server be1/s1".into(),
        "enable server be1/srv".into(),
        "show servers state be1".into(),
        "disable server be1/s3; del server be1/s3".into(),
        "disable server be1/srv".into(),
        "enable server be1/srv".into(),
        // A server tracked at run time cannot be deleted, even once its trackers are gone.
        "disable server be1/srv".into(),
        "del server be1/srv".into(),
        "del server be1/s2".into(),
        "del server be1/srv".into(),
        "enable server be1/srv".into(),
        "show servers state be1".into(),
    ];
    let run = |sock: &Path, log: &common::syslog::Syslog| -> Vec<String> {
        // srv's first check passed: both start from UP.
        assert!(
            wait_until(Duration::from_secs(5), || {
                cmd(sock, "show servers state be1")
                    .lines()
                    .any(|l| l.contains(" be1 1 srv ") && l.split(' ').nth(12) == Some("1"))
            }),
            "srv was never checked"
        );
        let mut out = Vec::new();
        for step in &steps {
            out.push(format!("> {step}"));
            out.extend(stable_state(&cmd(sock, step)));
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        out.extend(
            log.messages()
                .into_iter()
                .filter(|m| m.starts_with("Server ") || m.starts_with("backend ")),
        );
        out
    };
    let theirs_sock = sock_path("dyntrack-haproxy");
    let theirs_log = common::syslog::Syslog::start();
    let theirs = {
        let Some(_h) = start_haproxy(&config(&theirs_sock, theirs_log.addr), &theirs_sock) else {
            return;
        };
        run(&theirs_sock, &theirs_log)
    };
    let ours_sock = sock_path("dyntrack-ours");
    let ours_log = common::syslog::Syslog::start();
    let p = start_proxy(&config(&ours_sock, ours_log.addr));
    let ours = run(&ours_sock, &ours_log);
    drop(p);
    assert_eq!(ours, theirs);
    // The figures themselves: the trackers left are told in the reverse order of their addition.
    let pos = |m: &str| theirs.iter().position(|l| l.starts_with(m));
    let up = |s: &str| pos(&format!("Server be1/{s} is UP/READY (leaving maintenance)"));
    let (s3, s2) = (up("s3"), up("s2"));
    assert!(
        s3.is_some() && s2.is_some() && s3 < s2 && up("s1").is_none(),
        "{theirs:#?}"
    );
}

#[test]
fn a_server_without_host_is_not_in_maintenance_for_its_trackers() {
    let o = origins(1);
    let origin = o[0].addr();
    let sock = sock_path("nohost");
    // `server nohost :` is what an unset `${ADDR}:${PORT}` leaves: HAProxy keeps it out of maintenance (at
    // 0.0.0.0); fulcrum sends it no traffic but shows and passes on HAProxy's state.
    let text = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    server x {origin}

backend be2
    server nohost : check inter 10s
",
        free_port()
    )
    .replace(
        "global\n",
        &format!("global\n    stats socket {} level admin\n", sock.display()),
    );
    let _p = start_proxy(&text);
    // `srv_admin_state` of a server.
    let admin = |name: &str| -> String {
        let out = cmd(&sock, "show servers state be2");
        out.lines()
            .find(|l| l.split(' ').nth(3) == Some(name))
            .and_then(|l| l.split(' ').nth(6).map(str::to_string))
            .unwrap_or_else(|| panic!("{name} not in {out}"))
    };
    assert_eq!(admin("nohost"), "0");
    assert_eq!(
        cmd(&sock, &format!("add server be2/t1 {origin} track nohost")),
        "New server registered.\n\n"
    );
    assert_eq!(admin("t1"), "1");
    cmd(&sock, "enable server be2/t1");
    assert_eq!(admin("t1"), "0");
    cmd(&sock, "disable server be2/nohost");
    assert_eq!((admin("nohost").as_str(), admin("t1").as_str()), ("1", "2"));
    cmd(&sock, "enable server be2/nohost");
    assert_eq!((admin("nohost").as_str(), admin("t1").as_str()), ("0", "0"));
}

/// `check duration: 12ms` as `check duration: Nms`, for comparing log lines.
fn without_durations(line: &str) -> String {
    const KEY: &str = "check duration: ";
    match line.find(KEY) {
        Some(i) => {
            let rest = &line[i + KEY.len()..];
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            format!("{}{KEY}N{}", &line[..i], &rest[digits..])
        }
        None => line.to_string(),
    }
}

#[test]
fn added_server_checks_and_agent_log_as_haproxy() {
    let (agent, _asked) = counting_listener(b"ready up\n");
    let config = |sock: &Path, log: std::net::SocketAddr, pp: u16| {
        format!(
            "global
    nbthread 1
    stats socket {} level admin

defaults
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend pp
    mode http
    bind 127.0.0.1:{pp} accept-proxy
    http-request return status 200

backend be1
    option log-health-checks
    option httpchk GET /
    log {log} daemon
",
            sock.display()
        )
    };
    let run = |sock: &Path, log: &common::syslog::Syslog, pp: u16| -> Vec<String> {
        let logged = |what: &str| {
            let what = what.to_string();
            assert!(
                wait_until(Duration::from_secs(5), || log
                    .messages()
                    .iter()
                    .any(|m| m.starts_with(&what))),
                "never logged: {what}"
            );
        };
        let mut out = Vec::new();
        let mut step = |c: String| {
            out.push(format!("> {c}"));
            out.push(cmd(sock, &c));
        };
        // Without check-send-proxy the check sends no PROXY header: the frontend resets it.
        step(format!(
            "add server be1/p1 127.0.0.1:{pp} send-proxy check inter 100ms rise 1 fall 1"
        ));
        step("enable server be1/p1".into());
        step("enable health be1/p1".into());
        logged("Health check for server be1/p1");
        step("disable server be1/p1".into());
        step("del server be1/p1".into());
        step(format!(
            "add server be1/p2 127.0.0.1:{pp} send-proxy check inter 100ms rise 1 fall 1 check-send-proxy"
        ));
        step("enable server be1/p2".into());
        step("enable health be1/p2".into());
        logged("Health check for server be1/p2");
        // The agent's `ready` takes the server out of maintenance.
        step(format!(
            "add server be1/a1 127.0.0.1:{pp} agent-check agent-port {} agent-send hello agent-inter 100ms",
            agent.port()
        ));
        step("enable agent be1/a1".into());
        logged("Agent check for server be1/a1");
        step("disable agent be1/a1; disable server be1/a1".into());
        step("del server be1/a1".into());
        std::thread::sleep(Duration::from_millis(400));
        out.extend(log.messages().iter().map(|m| without_durations(m)));
        out
    };
    // One port for both frontends (haproxy stops before fulcrum starts), so that the commands are the same.
    let pp = free_port();
    let theirs_sock = sock_path("dynlog-haproxy");
    let theirs_log = common::syslog::Syslog::start();
    let theirs = {
        let Some(_h) = start_haproxy(&config(&theirs_sock, theirs_log.addr, pp), &theirs_sock)
        else {
            return;
        };
        run(&theirs_sock, &theirs_log, pp)
    };
    let ours_sock = sock_path("dynlog-ours");
    let ours_log = common::syslog::Syslog::start();
    let p = start_proxy(&config(&ours_sock, ours_log.addr, pp));
    let ours = run(&ours_sock, &ours_log, pp);
    drop(p);
    assert_eq!(ours, theirs);
    assert!(
        theirs.iter().any(|l| l
            == "Health check for server be1/p2 succeeded, reason: Layer7 check passed, code: 200, check duration: Nms, status: 1/1 UP."),
        "{theirs:#?}"
    );
}

/// The `set server` commands on checks and agents (`agent up|down`, `health up|stopping|down`, `agent-addr`,
/// `agent-port`, `agent-send`, `check-addr`, `check-port`): every reply and the `show servers state` line after
/// each command as haproxy 2.6 gives them; then, on fulcrum, that the checks and the agent go where they were
/// sent and the traffic follows the forced states.
#[test]
fn set_server_check_and_agent_settings_as_haproxy() {
    let o = origins(1);
    let (agent1, _) = counting_listener(b"up\n");
    let config = |sock: &Path, inter: &str| {
        format!(
            "global
    nbthread 1
    stats socket {} level admin

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

listen app
    bind 127.0.0.1:{}
    server s1 {} check inter {inter} agent-check agent-port {} agent-inter {inter}
    server s2 {}
",
            sock.display(),
            free_port(),
            o[0].addr(),
            agent1.port(),
            o[0].addr(),
        )
    };
    let commands = [
        "set server app/s1 agent down",
        "set server app/s1 agent up",
        "set server app/s1 agent foo",
        "set server app/s2 agent down",
        "set server app/s1 health down",
        "set server app/s1 health stopping",
        "set server app/s1 health up",
        "set server app/s1 health foo",
        "set server app/s2 health down",
        "set server app/s2 health up",
        "set server app/s1 agent-addr 127.0.0.2",
        "set server app/s1 agent-addr 127.0.0.3 port 19403",
        "set server app/s1 agent-addr",
        "set server app/s1 agent-addr foo",
        "set server app/s2 agent-addr 127.0.0.2",
        "set server app/s1 agent-port 19404",
        "set server app/s1 agent-port",
        "set server app/s1 agent-port abc",
        "set server app/s1 agent-port 70000",
        "set server app/s2 agent-port 19404",
        "set server app/s1 agent-send hello",
        "set server app/s1 agent-send",
        "set server app/s2 agent-send hello",
        "set server app/s1 check-addr 127.0.0.5",
        "set server app/s1 check-addr 127.0.0.6 port 19405",
        "set server app/s1 check-addr",
        "set server app/s1 check-addr foo",
        "set server app/s2 check-addr 127.0.0.5",
        "set server app/s1 check-port 19406",
        "set server app/s1 check-port",
        "set server app/s1 check-port abc",
        "set server app/s2 check-port 19406",
        "set server app/s1 foo",
    ];
    // Long intervals: the first check and agent exchange pass, then only the commands change anything.
    let run = |sock: &Path| -> Vec<String> {
        std::thread::sleep(Duration::from_millis(300));
        let mut out = Vec::new();
        for c in commands {
            out.push(format!("> {c}\n{}", cmd(sock, c)));
            for l in cmd(sock, "show servers state app").lines().skip(2) {
                let f: Vec<&str> = l.split(' ').collect();
                if f.len() < 25 {
                    continue;
                }
                // Without the ids and the time since the last change.
                out.push([&f[3..9], &f[10..15], &f[21..]].concat().join(" "));
            }
        }
        out
    };
    let ours_sock = sock_path("checks-ours");
    let p = start_proxy(&config(&ours_sock, "10s"));
    let ours = run(&ours_sock);
    drop(p);
    assert!(
        ours.contains(
            &"> set server app/s1 agent-port abc\nprovided port is not an integer\n".to_string()
        ),
        "{ours:#?}"
    );
    let theirs_sock = sock_path("checks-theirs");
    if let Some(_h) = start_haproxy(&config(&theirs_sock, "10s"), &theirs_sock) {
        let theirs = run(&theirs_sock);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a, b);
        }
        assert_eq!(ours.len(), theirs.len());
    }

    // Where the checks and the agent go, and what the forced states do to traffic (fulcrum).
    let (agent2, asked2) = counting_listener(b"up\n");
    let (check2, checked2) = counting_listener(b"");
    let sock = sock_path("checks-effects");
    let p = start_proxy(&config(&sock, "100ms"));
    assert_eq!(
        cmd(
            &sock,
            &format!("set server app/s1 agent-port {}", agent2.port())
        ),
        "\n"
    );
    assert!(wait_until(Duration::from_secs(3), || asked2
        .load(Ordering::SeqCst)
        > 0));
    assert_eq!(
        cmd(
            &sock,
            &format!("set server app/s1 check-port {}", check2.port())
        ),
        "\n"
    );
    assert!(wait_until(Duration::from_secs(3), || checked2
        .load(Ordering::SeqCst)
        > 0));
    cmd(&sock, "set server app/s2 health down");
    cmd(&sock, "set server app/s1 health stopping");
    assert_eq!(get(p.addr, "/").status, 503, "no server takes new traffic");
    cmd(&sock, "set server app/s2 health up");
    assert_eq!(
        served_by(&get(p.addr, "/")),
        "s1",
        "s2 serves (named after the origin)"
    );
    drop(p);
}

/// `show stat typed`: every line fulcrum prints (a field it measures) is one haproxy 2.6 prints for the same
/// configuration with the same object, position, name, tags and type, and names, statuses, modes, ids and
/// weights have the same values.
#[test]
fn show_stat_typed_lines_match_haproxy() {
    let o = origins(2);
    let ours = sock_path("typed-ours");
    let theirs = sock_path("typed-haproxy");
    let text_ours = config(&o, &[(&ours, "level admin")], "check inter 200");
    let p = start_proxy(&text_ours);
    let text_theirs = text_ours
        .replace(&ours.display().to_string(), &theirs.display().to_string())
        .replace(&p.addr.port().to_string(), &free_port().to_string());
    let Some(_h) = start_haproxy(&text_theirs, &theirs) else {
        return;
    };
    std::thread::sleep(Duration::from_millis(700));
    let (mine, haproxy) = (
        cmd(&ours, "show stat typed"),
        cmd(&theirs, "show stat typed"),
    );
    assert!(
        mine.ends_with("\n\n") && haproxy.ends_with("\n\n"),
        "{mine}"
    );
    // Each line: the key (object, position, name, process, tags, type) and the value.
    let split = |l: &str| {
        let at = l.rfind(':').unwrap_or_else(|| panic!("{l}"));
        let (key, value) = (&l[..at], &l[at + 1..]);
        let ty = key.rsplit(':').next().unwrap();
        let key = format!("{}:{ty}", &key[..key.find(':').unwrap() + 4]);
        (key, value.to_string())
    };
    let theirs: HashMap<String, String> = haproxy
        .lines()
        .filter(|l| !l.is_empty())
        .map(split)
        .collect();
    assert!(
        mine.lines().filter(|l| !l.is_empty()).count() > 60,
        "{mine}"
    );
    for line in mine.lines().filter(|l| !l.is_empty()) {
        let (key, value) = split(line);
        let Some(their) = theirs.get(&key) else {
            panic!("haproxy prints no line {key}:...\nours:\n{mine}\nhaproxy:\n{haproxy}");
        };
        let name = key.split('.').nth(4).unwrap();
        if [
            "pxname", "svname", "status", "mode", "iid", "sid", "type", "weight", "act", "bck",
        ]
        .contains(&name)
        {
            assert_eq!(&value, their, "{key}");
        }
    }
    drop(p);
}
