//! Stick table replication on loopback: two fulcrum nodes (keys tracked on one are seen on the other with
//! `show table`, in both directions, and a node that starts later is taught the whole table), and fulcrum with
//! the real haproxy 2.6 (each learns the other's keys).

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use fulcrum_config::haproxy::{parse_sources_with, ParseOptions};

/// `N` ports for one test's peers and frontends, from a block below the kernel's ephemeral range: the tests of
/// this file run side by side, and ports from `free_port` (ephemeral, released at once) could be handed to
/// another test's peer, which then taught this test's tables its keys.
fn ports<const N: usize>() -> [u16; N] {
    let base = free_port_block(N as u16);
    std::array::from_fn(|i| base + i as u16)
}
fn sock_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fulcrum-peers-{}-{tag}.sock", std::process::id()))
}

fn cmd(path: &Path, c: &str) -> String {
    let Ok(mut s) = UnixStream::connect(path) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{c}\n").as_bytes()).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The keys and data of `show table T`, sorted, without the entries' addresses and expiry.
fn entries(path: &Path, table: &str) -> Vec<String> {
    let mut v: Vec<String> = cmd(path, &format!("show table {table}"))
        .lines()
        .filter(|l| l.starts_with("0x"))
        .map(|l| {
            l.split(' ')
                .skip(1)
                .filter(|w| !w.starts_with("exp=") && !w.starts_with("use="))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    v.sort();
    v
}

/// A fulcrum node named `name` (its `-L`).
fn node(name: &str, text: &str) -> fulcrum_proxy::RunningProxy {
    let local = name.to_string();
    let env = move |v: &str| (v == "HAPROXY_LOCALPEER").then(|| local.clone());
    let opts = ParseOptions {
        env: &env,
        ..ParseOptions::default()
    };
    let config = parse_sources_with(&[(PathBuf::from("peers.cfg"), text.to_string())], &opts)
        .unwrap_or_else(|e| panic!("fulcrum rejects:\n{e}\n{text}"));
    fulcrum_proxy::start(&config).expect("node starts")
}

fn config(sock: &Path, fe: u16, peers: &[(&str, u16)]) -> String {
    let peer_lines: String = peers
        .iter()
        .map(|(n, p)| format!("    peer {n} 127.0.0.1:{p}\n"))
        .collect();
    format!(
        "global
    nbthread 1
    stats socket {} level admin

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

peers mesh
{peer_lines}
backend st
    stick-table type string len 32 size 1k expire 60s store gpc0,http_req_cnt,conn_rate(50s) peers mesh

frontend fe
    bind 127.0.0.1:{fe}
    http-request track-sc0 path table st
    http-request sc-inc-gpc0(0)
    http-request return status 200
",
        sock.display()
    )
}

fn hit(port: u16, path: &str) {
    let r = get(format!("127.0.0.1:{port}").parse().unwrap(), path);
    assert_eq!(r.status, 200);
}

#[test]
fn two_fulcrum_nodes_replicate_and_a_late_one_is_taught() {
    let [pa, pb, fa, fb] = ports::<4>();
    let (sa, sb) = (sock_path("a"), sock_path("b"));
    let peers = [("A", pa), ("B", pb)];
    let a = node("A", &config(&sa, fa, &peers));
    hit(fa, "/one");
    hit(fa, "/one");
    // B starts after A learned /one: it asks for a resynchronisation and is taught it
    let b = node("B", &config(&sb, fb, &peers));
    let want_one = "key=/one gpc0=2 conn_rate(50000)=2 http_req_cnt=2".to_string();
    assert!(
        wait_until(Duration::from_secs(10), || entries(&sb, "st")
            .contains(&want_one)),
        "B: {:?}",
        entries(&sb, "st")
    );
    // a key tracked on B reaches A
    hit(fb, "/two");
    let want_two = "key=/two gpc0=1 conn_rate(50000)=1 http_req_cnt=1".to_string();
    assert!(
        wait_until(Duration::from_secs(5), || entries(&sa, "st")
            .contains(&want_two)),
        "A: {:?}",
        entries(&sa, "st")
    );
    // and a later change on A reaches B
    hit(fa, "/two");
    let want_two = "key=/two gpc0=2 conn_rate(50000)=2 http_req_cnt=2".to_string();
    assert!(
        wait_until(Duration::from_secs(5), || entries(&sb, "st")
            .contains(&want_two)),
        "B: {:?}",
        entries(&sb, "st")
    );
    assert_eq!(entries(&sa, "st"), entries(&sb, "st"));
    a.stop();
    b.stop();
}

/// A real haproxy named `name`, killed by its pid when dropped.
struct Real(Child, PathBuf);

impl Drop for Real {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_file(&self.1);
    }
}

fn real(name: &str, text: &str, sock: &Path) -> Real {
    real_with(name, text, sock, &[])
}

/// [`real`] with more arguments on haproxy's command line.
fn real_with(name: &str, text: &str, sock: &Path, more: &[&str]) -> Real {
    let path =
        std::env::temp_dir().join(format!("fulcrum-peers-{}-{name}.cfg", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let check = Command::new("haproxy")
        .args(["-c", "-L", name, "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "haproxy -c: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let child = Command::new("haproxy")
        .args(["-db", "-L", name, "-f"])
        .arg(&path)
        .args(more)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Held before anything can fail, so that a failed test still stops it.
    let real = Real(child, path);
    assert!(wait_until(Duration::from_secs(5), || UnixStream::connect(
        sock
    )
    .is_ok()));
    real
}

#[test]
fn fulcrum_and_haproxy_learn_each_others_keys() {
    if !haproxy_present() {
        return;
    }
    let [pf, ph, ff, fh] = ports::<4>();
    let (sf, sh) = (sock_path("f"), sock_path("h"));
    let peers = [("F", pf), ("H", ph)];
    let h = real("H", &config(&sh, fh, &peers), &sh);
    let f = node("F", &config(&sf, ff, &peers));
    // Until the session is up and its first resynchronisation done, a peer's teaching can overwrite a newer local
    // count (the last write wins, in HAProxy too): one key seen across first, then the counted requests.
    hit(ff, "/warm-up");
    assert!(
        wait_until(Duration::from_secs(10), || entries(&sh, "st")
            .iter()
            .any(|l| l.starts_with("key=/warm-up "))),
        "haproxy never learnt fulcrum's first key: {:?}",
        entries(&sh, "st")
    );
    hit(ff, "/from-fulcrum");
    hit(ff, "/from-fulcrum");
    hit(fh, "/from-haproxy");
    let both = |p: &Path| {
        let e = entries(p, "st");
        e.iter()
            .any(|l| l.starts_with("key=/from-fulcrum gpc0=2 conn_rate(50000)=2 http_req_cnt=2"))
            && e.iter().any(|l| {
                l.starts_with("key=/from-haproxy gpc0=1 conn_rate(50000)=1 http_req_cnt=1")
            })
    };
    assert!(
        wait_until(Duration::from_secs(10), || both(&sf) && both(&sh)),
        "fulcrum: {:?}\nhaproxy: {:?}",
        entries(&sf, "st"),
        entries(&sh, "st")
    );
    assert_eq!(entries(&sf, "st"), entries(&sh, "st"));
    // haproxy restarts: it asks for a resynchronisation and fulcrum teaches it both keys
    drop(h);
    let _h = real("H", &config(&sh, fh, &peers), &sh);
    assert!(
        wait_until(Duration::from_secs(10), || both(&sh)),
        "haproxy after its restart: {:?}",
        entries(&sh, "st")
    );
    f.stop();
}

/// `stick on` over a replicated table: the server is kept by name (`server_key`, a dictionary entry on the
/// wire), so each node sends a key back to its own server of that name whatever its id; fulcrum and haproxy 2.6
/// learn each other's keys and names.
#[test]
fn server_keys_travel_between_fulcrum_and_haproxy() {
    if !haproxy_present() {
        return;
    }
    let origin = |name: &'static str| {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut s = s;
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let r = format!(
                            "HTTP/1.1 200 OK\r\nx-srv: {name}\r\ncontent-length: 0\r\n\r\n"
                        );
                        if s.write_all(r.as_bytes()).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    };
    let (a, b) = (origin("a"), origin("b"));
    let [pf, ph, ff, fh] = ports::<4>();
    let (sf, sh) = (sock_path("kf"), sock_path("kh"));
    // The same names in another order on each node: ids differ, names do not.
    let text = |sock: &Path, fe: u16, servers: &str| {
        format!(
            "global
    stats socket {} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
peers mesh
    peer FK 127.0.0.1:{pf}
    peer HK 127.0.0.1:{ph}
    table t type string size 1k
backend be
    stick on url_param(c) table mesh/t
{servers}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be
",
            sock.display()
        )
    };
    // Names of their own: `real` writes its configuration file under the peer's name.
    let h = real(
        "HK",
        &text(&sh, fh, &format!("    server b {b}\n    server a {a}")),
        &sh,
    );
    let f = node(
        "FK",
        &text(&sf, ff, &format!("    server a {a}\n    server b {b}")),
    );
    let srv = |port: u16, path: &str| {
        let r = get(format!("127.0.0.1:{port}").parse().unwrap(), path);
        assert_eq!(r.status, 200);
        r.header("x-srv").unwrap_or_default().to_string()
    };
    // fulcrum picks a for k1, then b for k2 (round robin); haproxy picks b for k3.
    assert_eq!(srv(ff, "/?c=k1"), "a");
    assert_eq!(srv(ff, "/?c=k2"), "b");
    assert_eq!(srv(fh, "/?c=k3"), "b");
    let want = [
        "key=k1 server_id=1 server_key=a",
        "key=k2 server_id=2 server_key=b",
        "key=k3 server_id=1 server_key=b",
    ];
    assert!(
        wait_until(Duration::from_secs(10), || entries(&sf, "mesh/t") == want
            && entries(&sh, "mesh/t") == want),
        "fulcrum: {:?}\nhaproxy: {:?}",
        entries(&sf, "mesh/t"),
        entries(&sh, "mesh/t")
    );
    // Each node sends every key to the server of that name.
    for port in [ff, fh] {
        assert_eq!(srv(port, "/?c=k1"), "a");
        assert_eq!(srv(port, "/?c=k2"), "b");
        assert_eq!(srv(port, "/?c=k3"), "b");
    }
    drop(h);
    f.stop();
}

/// The entries of `show table T` with their expiry in milliseconds (`exp=`), sorted by key.
fn entries_exp(path: &Path, table: &str) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = cmd(path, &format!("show table {table}"))
        .lines()
        .filter(|l| l.starts_with("0x"))
        .map(|l| {
            let exp = l
                .split(' ')
                .find_map(|w| w.strip_prefix("exp="))
                .and_then(|e| e.parse().ok())
                .unwrap_or(0);
            let rest = l
                .split(' ')
                .skip(1)
                .filter(|w| !w.starts_with("exp=") && !w.starts_with("use="))
                .collect::<Vec<_>>()
                .join(" ");
            (rest, exp)
        })
        .collect();
    v.sort();
    v
}

/// A reload with no remote peer: the old process (soft-stopping) hands its table to the new one, which listens
/// on the same local peer address; the entries keep their data and their remaining expiry.
#[test]
fn the_old_process_hands_its_tables_to_the_new_one_on_reload() {
    let [p, f_old, f_new] = ports::<3>();
    let (s_old, s_new) = (sock_path("old"), sock_path("new"));
    let peers = [("A", p)];
    let old = node("A", &config(&s_old, f_old, &peers));
    hit(f_old, "/one");
    hit(f_old, "/one");
    hit(f_old, "/two");
    std::thread::sleep(Duration::from_millis(1500));
    let new = node("A", &config(&s_new, f_new, &peers));
    assert!(entries(&s_new, "st").is_empty());
    old.soft_stop();
    assert!(wait_until(Duration::from_secs(8), || !old.handing_over()));
    let got = entries_exp(&s_new, "st");
    let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "key=/one gpc0=2 conn_rate(50000)=2 http_req_cnt=2",
            "key=/two gpc0=1 conn_rate(50000)=1 http_req_cnt=1"
        ],
        "{got:?}"
    );
    // the remaining expiry came along (not a fresh 60 s)
    for (k, exp) in &got {
        assert!(*exp > 50_000 && *exp <= 58_600, "{k}: exp={exp}");
    }
    // the new process goes on counting
    hit(f_new, "/one");
    assert!(entries(&s_new, "st")
        .contains(&"key=/one gpc0=3 conn_rate(50000)=3 http_req_cnt=3".to_string()));
    old.stop();
    new.stop();
}

/// The same hand-over between fulcrum and haproxy 2.6 both ways: a soft-stopped haproxy teaches a new fulcrum,
/// and a soft-stopped fulcrum teaches a new haproxy (started with `-sf`, as a reload starts it).
#[test]
fn reload_hand_over_between_fulcrum_and_haproxy() {
    if !haproxy_present() {
        return;
    }
    let [p, fh, ff, fh2] = ports::<4>();
    let (sh, sf, sh2) = (sock_path("rh"), sock_path("rf"), sock_path("rh2"));
    let peers = [("R", p)];
    // haproxy first: it teaches only once it counts itself up to date (5 s after its start, with no other peer)
    let h = real("R", &config(&sh, fh, &peers), &sh);
    hit(fh, "/from-haproxy");
    hit(fh, "/from-haproxy");
    std::thread::sleep(Duration::from_millis(5500));
    let f = node("R", &config(&sf, ff, &peers));
    nix_kill(h.0.id(), "USR1");
    let want_h = "key=/from-haproxy gpc0=2 conn_rate(50000)=2 http_req_cnt=2".to_string();
    assert!(
        wait_until(Duration::from_secs(8), || entries(&sf, "st")
            .contains(&want_h)),
        "fulcrum after haproxy's soft stop: {:?}",
        entries(&sf, "st")
    );
    let exp = entries_exp(&sf, "st")[0].1;
    assert!(exp > 40_000 && exp < 55_000, "exp={exp}");
    drop(h);
    // then fulcrum hands both its keys to a new haproxy
    hit(ff, "/from-fulcrum");
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let h2 = real_with(
        "R",
        &config(&sh2, fh2, &peers),
        &sh2,
        &["-sf", &sleeper.id().to_string()],
    );
    f.soft_stop();
    assert!(wait_until(Duration::from_secs(8), || !f.handing_over()));
    let want_f = "key=/from-fulcrum gpc0=1 conn_rate(50000)=1 http_req_cnt=1".to_string();
    assert!(
        wait_until(Duration::from_secs(5), || {
            let e = entries(&sh2, "st");
            e.contains(&want_h) && e.contains(&want_f)
        }),
        "haproxy after fulcrum's soft stop: {:?}",
        entries(&sh2, "st")
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    drop(h2);
    f.stop();
}

fn nix_kill(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// A CA and one certificate (`peer.pem`, for every node: shown by the listeners and as the client certificate)
/// signed by it, made once per test process.
fn peer_pki() -> &'static common::pki::Pki {
    static PKI: std::sync::OnceLock<common::pki::Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fulcrum-peers-pki-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        common::pki::ca(&dir);
        common::pki::leaf(&dir, "peer", "peer.test", &["peer.test"], false, false);
        common::pki::Pki { dir }
    })
}

/// [`config`] with TLS on the peers link: the node `me` listens on `own` with `ssl crt`, and connects to
/// `other` (at its port, or never when `None`) with `ssl verify required ca-file`, through `default-server`.
fn tls_config(sock: &Path, fe: u16, (me, own): (&str, u16), other: (&str, Option<u16>)) -> String {
    let pki = peer_pki();
    let (pem, ca) = (pki.path("peer.pem"), pki.path("ca.pem"));
    let other = match other {
        (name, Some(port)) => format!("    server {name} 127.0.0.1:{port}\n"),
        (name, None) => format!("    server {name}\n"),
    };
    format!(
        "global
    nbthread 1
    stats socket {} level admin

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

peers mesh
    default-server ssl crt {pem} verify required ca-file {ca}
    bind 127.0.0.1:{own} ssl crt {pem}
    server {me}
{other}
backend st
    stick-table type string len 32 size 1k expire 60s store gpc0,http_req_cnt,conn_rate(50s) peers mesh

frontend fe
    bind 127.0.0.1:{fe}
    http-request track-sc0 path table st
    http-request sc-inc-gpc0(0)
    http-request return status 200
",
        sock.display()
    )
}

/// Peers over TLS between fulcrum and haproxy 2.6, each way in turn: haproxy connecting to fulcrum's TLS
/// listener (fulcrum never connects), then fulcrum connecting to haproxy's (haproxy never connects); both verify
/// the other's certificate against the CA. Keys counted on either side are seen on the other.
#[test]
fn fulcrum_and_haproxy_replicate_over_tls_both_ways() {
    if !haproxy_present() {
        return;
    }
    for fulcrum_connects in [false, true] {
        let tag = if fulcrum_connects { "fc" } else { "hc" };
        let [pf, ph, ff, fh] = ports::<4>();
        let (sf, sh) = (
            sock_path(&format!("t{tag}f")),
            sock_path(&format!("t{tag}h")),
        );
        let (to_h, to_f) = if fulcrum_connects {
            (Some(ph), None)
        } else {
            (None, Some(pf))
        };
        let h = real(
            &format!("H{tag}"),
            &tls_config(
                &sh,
                fh,
                (&format!("H{tag}"), ph),
                (&format!("F{tag}"), to_f),
            ),
            &sh,
        );
        let f = node(
            &format!("F{tag}"),
            &tls_config(
                &sf,
                ff,
                (&format!("F{tag}"), pf),
                (&format!("H{tag}"), to_h),
            ),
        );
        hit(ff, "/warm-up");
        assert!(
            wait_until(Duration::from_secs(10), || entries(&sh, "st")
                .iter()
                .any(|l| l.starts_with("key=/warm-up "))),
            "{tag}: haproxy never learnt fulcrum's first key over TLS: {:?}",
            entries(&sh, "st")
        );
        hit(ff, "/from-fulcrum");
        hit(fh, "/from-haproxy");
        hit(fh, "/from-haproxy");
        let both = |p: &Path| {
            let e = entries(p, "st");
            e.iter().any(|l| {
                l.starts_with("key=/from-fulcrum gpc0=1 conn_rate(50000)=1 http_req_cnt=1")
            }) && e.iter().any(|l| {
                l.starts_with("key=/from-haproxy gpc0=2 conn_rate(50000)=2 http_req_cnt=2")
            })
        };
        assert!(
            wait_until(Duration::from_secs(10), || both(&sf) && both(&sh)),
            "{tag}: fulcrum: {:?}\nhaproxy: {:?}",
            entries(&sf, "st"),
            entries(&sh, "st")
        );
        drop(h);
        f.stop();
    }
}

/// A peer that talks clear text to a TLS listener (or TLS to a clear-text one) is never a peer: nothing
/// replicates, as haproxy's node D of `reg-tests/peers/tls_basic_sync.vtc` shows.
#[test]
fn clear_text_and_tls_peers_do_not_replicate() {
    let [pa, pb, fa, fb] = ports::<4>();
    let (sa, sb) = (sock_path("ca"), sock_path("cb"));
    // A listens with TLS and connects with TLS; B talks clear text both ways.
    let a = node("A", &tls_config(&sa, fa, ("A", pa), ("B", Some(pb))));
    let b = node("B", &config(&sb, fb, &[("A", pa), ("B", pb)]));
    hit(fa, "/a");
    hit(fb, "/b");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        entries(&sa, "st"),
        ["key=/a gpc0=1 conn_rate(50000)=1 http_req_cnt=1"]
    );
    assert_eq!(
        entries(&sb, "st"),
        ["key=/b gpc0=1 conn_rate(50000)=1 http_req_cnt=1"]
    );
    a.stop();
    b.stop();
}

/// The hand-over of a reload over TLS: the old process connects to the local peer's TLS listener (the new
/// process) with its own server line's TLS settings, and teaches it the table.
#[test]
fn the_reload_hand_over_goes_over_tls() {
    let [p, f_old, f_new] = ports::<3>();
    let (s_old, s_new) = (sock_path("told"), sock_path("tnew"));
    let text = |sock: &Path, fe: u16| {
        // a second peer never reached (no address) keeps the section's form of the reg-tests
        tls_config(sock, fe, ("A", p), ("Z", None))
    };
    let old = node("A", &text(&s_old, f_old));
    hit(f_old, "/one");
    // the old process counts itself up to date 5 s after its start (its one remote peer never answers)
    std::thread::sleep(Duration::from_millis(5500));
    let new = node("A", &text(&s_new, f_new));
    old.soft_stop();
    assert!(wait_until(Duration::from_secs(8), || !old.handing_over()));
    assert_eq!(
        entries(&s_new, "st"),
        ["key=/one gpc0=1 conn_rate(50000)=1 http_req_cnt=1"]
    );
    old.stop();
    new.stop();
}

/// HAProxy 2.6's arrays (`gpc(N)`, `gpc_rate(N,T)`, `gpt(N)`) on the wire: fulcrum and haproxy 2.6 learn each
/// other's elements, shown alike by `show table`.
#[test]
fn gpc_and_gpt_arrays_travel_between_fulcrum_and_haproxy() {
    if !haproxy_present() {
        return;
    }
    let [pf, ph, ff, fh] = ports::<4>();
    let (sf, sh) = (sock_path("af"), sock_path("ah"));
    let text = |sock: &Path, fe: u16| {
        format!(
            "global
    nbthread 1
    stats socket {} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
peers mesh
    peer FA 127.0.0.1:{pf}
    peer HA 127.0.0.1:{ph}
backend st
    stick-table type string len 32 size 1k expire 60s store gpc(3),gpc_rate(2,50s),gpt(2),http_req_cnt peers mesh
frontend fe
    bind 127.0.0.1:{fe}
    http-request track-sc0 path table st
    http-request sc-inc-gpc(1,0)
    http-request sc-inc-gpc(2,0) if {{ path_end two }}
    http-request sc-set-gpt(1,0) 42
    http-request return status 200
",
            sock.display()
        )
    };
    let _h = real("HA", &text(&sh, fh), &sh);
    let f = node("FA", &text(&sf, ff));
    hit(ff, "/warm-up");
    assert!(
        wait_until(Duration::from_secs(10), || entries(&sh, "st")
            .iter()
            .any(|l| l.starts_with("key=/warm-up "))),
        "haproxy never learnt fulcrum's first key: {:?}",
        entries(&sh, "st")
    );
    hit(ff, "/from-fulcrum-two");
    hit(ff, "/from-fulcrum-two");
    hit(fh, "/from-haproxy");
    let want = [
        "key=/from-fulcrum-two http_req_cnt=2 gpt0=0 gpt1=42 gpc0=0 gpc1=2 gpc2=2 gpc0_rate(50000)=0 gpc1_rate(50000)=2",
        "key=/from-haproxy http_req_cnt=1 gpt0=0 gpt1=42 gpc0=0 gpc1=1 gpc2=0 gpc0_rate(50000)=0 gpc1_rate(50000)=1",
    ];
    // The warm-up key only shows that the session is up: it was written while the session started, and
    // haproxy's answer to fulcrum's resync request can carry an older state of it back over fulcrum's own
    // later update (a race of the initial resync, not of the arrays), so its values are not compared.
    let after_warm_up = |sock: &std::path::Path| -> Vec<String> {
        entries(sock, "st")
            .into_iter()
            .filter(|l| !l.starts_with("key=/warm-up "))
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(10), || after_warm_up(&sf) == want
            && after_warm_up(&sh) == want),
        "fulcrum: {:?}\nhaproxy: {:?}",
        entries(&sf, "st"),
        entries(&sh, "st")
    );
    f.stop();
}
