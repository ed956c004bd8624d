//! The hashing algorithms through a real proxy: `balance uri` (and its `len`, `depth`, `whole` options),
//! `url_param`, `hdr(NAME)`, `random` / `random(N)`, and how many keys move when a server goes DOWN with
//! `hash-type consistent` against `hash-type map-based`.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use fulcrum_proxy::origin::Origin;

/// A proxy over `o` with `lines` (balance, hash-type, options) and `opts` on every server line.
fn proxy(o: &[Origin], lines: &str, opts: &str) -> Proxy {
    start_proxy(&format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
{lines}
{}",
        free_port(),
        server_lines(o, opts)
    ))
}

/// Who serves `path`, on the keep-alive connection `c`.
fn who(c: &mut Client, path: &str) -> String {
    let r = c.get(path);
    assert_eq!(r.status, 200, "{path}");
    served_by(&r)
}

/// Who serves `/` with `header: value` (no header when `None`).
fn who_with_header(c: &mut Client, header: &str, value: Option<&str>) -> String {
    let extra = value.map_or(String::new(), |v| format!("{header}: {v}\r\n"));
    c.send(format!("GET / HTTP/1.1\r\nHost: test\r\n{extra}\r\n").as_bytes());
    let r = c.read_response(false);
    assert_eq!(r.status, 200);
    served_by(&r)
}

/// The servers that served `paths`, asked in order on one connection.
fn servers_for(addr: SocketAddr, paths: &[String]) -> Vec<String> {
    let mut c = Client::connect(addr);
    paths.iter().map(|p| who(&mut c, p)).collect()
}

fn distinct(names: &[String]) -> usize {
    names.iter().collect::<HashSet<_>>().len()
}

#[test]
fn uri_same_path_same_server_and_paths_spread() {
    let o = origins(4);
    let p = proxy(&o, "    balance uri", "");
    let paths: Vec<String> = (0..40).map(|i| format!("/item/{i}")).collect();
    let first = servers_for(p.addr, &paths);
    // Asked again, in another order and on another connection: the same answers.
    let mut c = Client::connect(p.addr);
    for (path, server) in paths.iter().zip(&first).rev() {
        assert_eq!(&who(&mut c, path), server, "{path}");
        // The query string is not part of the hashed path.
        assert_eq!(&who(&mut c, &format!("{path}?v=1")), server, "{path}?v=1");
    }
    assert!(distinct(&first) >= 3, "40 paths on {first:?}");
}

#[test]
fn uri_whole_hashes_the_query_string_too() {
    let o = origins(4);
    let p = proxy(&o, "    balance uri whole", "");
    let paths: Vec<String> = (0..40).map(|i| format!("/same?v={i}")).collect();
    let first = servers_for(p.addr, &paths);
    assert!(distinct(&first) >= 3, "one path, 40 queries, on {first:?}");
    assert_eq!(servers_for(p.addr, &paths), first, "not sticky");

    // Without `whole` the same requests all go to one server.
    let o = origins(4);
    let p = proxy(&o, "    balance uri", "");
    assert_eq!(distinct(&servers_for(p.addr, &paths)), 1);
}

#[test]
fn uri_len_hashes_only_the_first_characters() {
    let o = origins(4);
    let p = proxy(&o, "    balance uri len 5", "");
    let mut groups = Vec::new();
    for prefix in 0..20 {
        // "/pNN/..." : the first five characters are "/pNN/".
        let paths: Vec<String> = (0..5).map(|i| format!("/p{prefix:02}/{i}/x{i}")).collect();
        let served = servers_for(p.addr, &paths);
        assert_eq!(distinct(&served), 1, "{paths:?} on {served:?}");
        groups.push(served[0].clone());
    }
    assert!(distinct(&groups) >= 3, "20 prefixes on {groups:?}");
}

#[test]
fn uri_depth_hashes_only_the_first_directories() {
    let o = origins(4);
    let p = proxy(&o, "    balance uri depth 1", "");
    let mut groups = Vec::new();
    for dir in 0..20 {
        let paths: Vec<String> = ["/", "/a", "/b/c", "/d/e/f.html"]
            .iter()
            .map(|rest| format!("/dir{dir}{rest}"))
            .collect();
        let served = servers_for(p.addr, &paths);
        assert_eq!(distinct(&served), 1, "{paths:?} on {served:?}");
        groups.push(served[0].clone());
    }
    assert!(distinct(&groups) >= 3, "20 directories on {groups:?}");
}

#[test]
fn url_param_is_sticky_and_round_robin_without_it() {
    let o = origins(4);
    let p = proxy(&o, "    balance url_param user", "");
    let users: Vec<String> = (0..30).map(|i| format!("user{i}")).collect();
    let mut c = Client::connect(p.addr);
    let mut first = Vec::new();
    for u in &users {
        let s = who(&mut c, &format!("/page?user={u}"));
        // Another path and other parameters around it: the value alone decides.
        assert_eq!(who(&mut c, &format!("/other?a=1&user={u}&b=2")), s, "{u}");
        assert_eq!(who(&mut c, &format!("/page?user={u}")), s, "{u}");
        first.push(s);
    }
    assert!(distinct(&first) >= 3, "30 users on {first:?}");
    // No parameter (or another one): round robin over the four servers.
    let rr: Vec<String> = (0..8)
        .map(|i| who(&mut c, &format!("/page?other=u{}", i % 2)))
        .collect();
    assert_eq!(distinct(&rr[..4]), 4, "{rr:?}");
    assert_eq!(rr[..4], rr[4..], "{rr:?}");
}

#[test]
fn hdr_is_sticky_and_round_robin_without_it() {
    let o = origins(4);
    let p = proxy(&o, "    balance hdr(X-User)", "");
    let mut c = Client::connect(p.addr);
    let mut first = Vec::new();
    for i in 0..30 {
        let v = format!("client-{i}");
        let s = who_with_header(&mut c, "X-User", Some(&v));
        for _ in 0..2 {
            // Header names are case-insensitive.
            assert_eq!(who_with_header(&mut c, "x-user", Some(&v)), s, "{v}");
        }
        first.push(s);
    }
    assert!(distinct(&first) >= 3, "30 header values on {first:?}");
    let rr: Vec<String> = (0..8)
        .map(|_| who_with_header(&mut c, "X-Other", Some("same")))
        .collect();
    assert_eq!(distinct(&rr[..4]), 4, "{rr:?}");
    assert_eq!(rr[..4], rr[4..], "{rr:?}");
    let none: Vec<String> = (0..4)
        .map(|_| who_with_header(&mut c, "X-User", None))
        .collect();
    assert_eq!(distinct(&none), 4, "{none:?}");
}

#[test]
fn balance_hash_expression_is_sticky_and_round_robin_when_absent() {
    // The key is what the expression makes of the request: here the user part of a header, lowercased, so that
    // "Alice:1" and "alice:2" land together; a variable set by a rule works as well.
    for (lines, header) in [
        ("    balance hash req.hdr(x-user),field(1,:),lower", "X-User"),
        (
            "    http-request set-var(txn.k) req.hdr(x-key),field(1,:),lower\n    balance hash var(txn.k)",
            "X-Key",
        ),
    ] {
        let o = origins(4);
        let p = proxy(&o, lines, "");
        let mut c = Client::connect(p.addr);
        let mut first = Vec::new();
        for i in 0..30 {
            let s = who_with_header(&mut c, header, Some(&format!("User{i}:1")));
            assert_eq!(who_with_header(&mut c, header, Some(&format!("user{i}:2"))), s, "{lines}: user{i}");
            first.push(s);
        }
        assert!(distinct(&first) >= 3, "{lines}: 30 keys on {first:?}");
        let none: Vec<String> = (0..4).map(|_| who_with_header(&mut c, "X-None", Some("x"))).collect();
        assert_eq!(distinct(&none), 4, "{lines}: absent key, round robin: {none:?}");
    }
}

#[test]
fn hash_type_function_and_avalanche_change_the_mapping() {
    // The same keys through sdbm, djb2, crc32, wt6 and sdbm with avalanche: each function is really used (a silently
    // ignored `hash-type` argument would give identical mappings).
    let paths: Vec<String> = (0..60).map(|i| format!("/k/{i}")).collect();
    let mut maps = Vec::new();
    for ht in [
        "map-based",
        "map-based djb2",
        "map-based crc32",
        "map-based wt6",
        "map-based sdbm avalanche",
    ] {
        let o = origins(4);
        let p = proxy(&o, &format!("    balance uri\n    hash-type {ht}"), "");
        let m = servers_for(p.addr, &paths);
        assert_eq!(servers_for(p.addr, &paths), m, "{ht}: stable");
        assert!(distinct(&m) >= 3, "{ht}: {m:?}");
        maps.push(m);
    }
    for i in 0..maps.len() {
        for j in i + 1..maps.len() {
            assert_ne!(
                maps[i], maps[j],
                "hash-type variants {i} and {j} map every key alike"
            );
        }
    }
}

fn counts(names: &[String]) -> HashMap<&str, usize> {
    let mut m = HashMap::new();
    for n in names {
        *m.entry(n.as_str()).or_default() += 1;
    }
    m
}

#[test]
fn random_spreads_over_every_server() {
    for algo in ["random", "random(2)", "random(1)"] {
        let o = origins(4);
        let p = proxy(&o, &format!("    balance {algo}"), "");
        let paths: Vec<String> = (0..200).map(|_| "/".to_string()).collect();
        let served = servers_for(p.addr, &paths);
        let n = counts(&served);
        assert_eq!(n.len(), 4, "{algo}: {n:?}");
        assert!(n.values().all(|&k| k >= 15), "{algo}: {n:?}");
    }
}

/// The generator is seeded from the system's randomness, as HAProxy's is: two proxies with the same configuration
/// draw different servers (24 draws over 4 servers agree by chance once in 4^24). They used to draw the same.
#[test]
fn random_draws_differ_from_one_process_to_the_next() {
    let o = origins(4);
    let paths: Vec<String> = (0..24).map(|_| "/".to_string()).collect();
    let first = {
        let p = proxy(&o, "    balance random", "");
        servers_for(p.addr, &paths)
    };
    let second = {
        let p = proxy(&o, "    balance random", "");
        servers_for(p.addr, &paths)
    };
    assert_ne!(first, second);
}

#[test]
fn random_two_draws_prefer_the_idle_servers() {
    let o = origins(3);
    let p = proxy(&o, "    balance random(2)", "");
    // Hold one slow request open: its server is busy while the others are idle.
    let addr = p.addr;
    let slow = std::thread::spawn(move || get(addr, "/sleep/2000"));
    assert!(wait_until(Duration::from_secs(2), || {
        o.iter().map(Origin::requests).sum::<u64>() >= 1
    }));
    let busy = o
        .iter()
        .find(|s| s.requests() == 1)
        .unwrap()
        .name()
        .to_string();
    let paths: Vec<String> = (0..90).map(|_| "/".to_string()).collect();
    let served = servers_for(p.addr, &paths);
    let n = counts(&served);
    // Two draws both on the busy server: about 1 in 9; with a single draw it would be 1 in 3.
    let on_busy = n.get(busy.as_str()).copied().unwrap_or(0);
    assert!(on_busy <= 22, "busy {busy}: {n:?}");
    assert_eq!(n.len() - usize::from(on_busy > 0), 2, "{n:?}");
    assert!(
        n.iter().filter(|(k, _)| **k != busy).all(|(_, &v)| v >= 20),
        "{n:?}"
    );
    assert_eq!(slow.join().unwrap().status, 200);
}

/// Maps 200 keys with `hash_type`, takes s2 DOWN through its health check, maps them again; returns the
/// servers before and after.
fn remap_when_a_server_fails(hash_type: &str) -> (Vec<String>, Vec<String>) {
    let o = origins(4);
    let p = proxy(
        &o,
        &format!("    balance uri\n    hash-type {hash_type}\n    option httpchk GET /health"),
        "check inter 100ms fall 1 rise 1",
    );
    let keys: Vec<String> = (0..200).map(|i| format!("/object/{i}.jpg")).collect();
    let before = servers_for(p.addr, &keys);
    let servers = p.running.as_ref().unwrap().snapshot().servers.clone();
    o[1].set_healthy(false);
    assert!(
        wait_until(Duration::from_secs(3), || !servers[1].is_up()),
        "s2 never went DOWN"
    );
    let after = servers_for(p.addr, &keys);
    assert!(!after.iter().any(|s| s == "s2"), "s2 is DOWN: {after:?}");
    (before, after)
}

#[test]
fn consistent_hashing_moves_only_the_keys_of_the_failed_server() {
    let (before, after) = remap_when_a_server_fails("consistent");
    let n = counts(&before);
    assert_eq!(n.len(), 4, "{n:?}");
    let mut moved = 0;
    for (b, a) in before.iter().zip(&after) {
        if b == "s2" {
            moved += 1;
        } else {
            assert_eq!(a, b, "a key of {b} moved to {a}");
        }
    }
    // About a quarter of the keys were on s2.
    assert!((20..=90).contains(&moved), "{moved} of 200 moved: {n:?}");
    // s2's keys spread over the three others rather than all landing on one.
    let heirs: HashSet<_> = before
        .iter()
        .zip(&after)
        .filter(|(b, _)| *b == "s2")
        .map(|(_, a)| a)
        .collect();
    assert!(heirs.len() >= 2, "{heirs:?}");
}

#[test]
fn map_based_hashing_moves_most_keys() {
    let (before, after) = remap_when_a_server_fails("map-based");
    assert_eq!(counts(&before).len(), 4, "{before:?}");
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    // 4 -> 3 buckets: about three keys in four change server, far more than s2's quarter.
    assert!(moved >= 110, "only {moved} of 200 keys moved");
}

/// Map-based hashing with `wt6` (over the path, and over a `balance hash` expression) and with the default sdbm:
/// the same server as haproxy 2.6 for each key.
#[test]
fn map_based_picks_like_haproxy() {
    for lines in [
        "    balance uri\n    hash-type map-based wt6",
        "    balance hash path,lower\n    hash-type map-based wt6",
        "    balance uri\n    hash-type map-based sdbm",
    ] {
        let o = origins(4);
        let port = free_port();
        let cfg = format!(
            "{DEFAULTS}
listen app
    bind 127.0.0.1:{port}
{lines}
{}",
            server_lines(&o, "")
        );
        let paths: Vec<String> = (0..40).map(|i| format!("/k/{i}/X")).collect();
        let p = start_proxy(&cfg);
        let ours = servers_for(p.addr, &paths);
        drop(p);
        assert!(distinct(&ours) >= 3, "{lines}: {ours:?}");
        if haproxy_present() {
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let _h = start_haproxy(&cfg, addr);
            assert_eq!(servers_for(addr, &paths), ours, "{lines}");
        }
    }
}

/// A TCP server answering whatever it reads with `name`, then closing.
fn named_server(name: &'static str) -> SocketAddr {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let _ = c.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = [0u8; 512];
            let _ = c.read(&mut buf);
            let _ = c.write_all(name.as_bytes());
        }
    });
    addr
}

/// An RDP connection request (TPKT, X.224 Connection Request) with `cookie` (`Cookie: mstshash=USER`), sent in
/// two parts as a slow client may: the server that answers.
fn rdp_client(addr: SocketAddr, cookie: Option<&str>) -> String {
    rdp_client_with(addr, cookie.map(|k| format!("mstshash={k}")).as_deref())
}

/// [`rdp_client`] with the cookie `NAME=VALUE` as given.
fn rdp_client_with(addr: SocketAddr, cookie: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = vec![0x03, 0x00, 0x00, 0x00, 0x00, 0xe0, 0, 0, 0, 0, 0];
    if let Some(k) = cookie {
        req.extend_from_slice(format!("Cookie: {k}\r\n").as_bytes());
    }
    req.extend_from_slice(&[0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00]);
    let n = req.len();
    req[3] = n as u8;
    req[4] = (n - 5) as u8;
    let (a, b) = req.split_at(14);
    c.write_all(a).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    c.write_all(b).unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out
}

/// `balance rdp-cookie` behind HAProxy's RDP idiom (`tcp-request content accept if RDP_COOKIE` within an
/// inspect delay): each user's `mstshash` picks the same server as with haproxy 2.6, every time; a client
/// without a cookie is spread by round robin; `persist rdp-cookie` follows a routing token. `req.rdp_cookie` is
/// readable in rules too.
#[test]
fn rdp_cookie_picks_the_servers_haproxy_picks() {
    let servers = [
        named_server("s1"),
        named_server("s2"),
        named_server("s3"),
        named_server("s4"),
    ];
    let cfg = |port: u16| {
        let mut c = format!(
            "{DEFAULTS}
listen rdp
    mode tcp
    bind 127.0.0.1:{port}
    balance rdp-cookie
    persist rdp-cookie
    tcp-request inspect-delay 10s
    tcp-request content reject if {{ req.rdp_cookie(mstshash) -m str mallory }}
    tcp-request content accept if RDP_COOKIE
"
        );
        for (i, a) in servers.iter().enumerate() {
            c.push_str(&format!("    server s{} {a}\n", i + 1));
        }
        c
    };
    let users: Vec<String> = (0..16).map(|i| format!("user{i}")).collect();
    // `persist rdp-cookie`: a routing token (`msts=IP.PORT.0000`, the address's bytes as a little-endian
    // number, the port's bytes swapped) naming s3 sends the client there.
    let s3 = servers[2];
    let token = format!(
        "msts={}.{}.0000",
        u32::from_le_bytes([127, 0, 0, 1]),
        s3.port().swap_bytes()
    );
    let run = |addr: SocketAddr| -> (Vec<String>, Vec<String>, String) {
        for _ in 0..3 {
            assert_eq!(rdp_client_with(addr, Some(&token)), "s3", "{token}");
        }
        let picks: Vec<String> = users.iter().map(|u| rdp_client(addr, Some(u))).collect();
        let again: Vec<String> = users.iter().map(|u| rdp_client(addr, Some(u))).collect();
        assert_eq!(picks, again, "each user stays on its server");
        let plain: Vec<String> = (0..4).map(|_| rdp_client(addr, None)).collect();
        (picks, plain, rdp_client(addr, Some("mallory")))
    };
    let port = free_port();
    let text = cfg(port);
    let _p = start_proxy(&text);
    // The rules decide as soon as the cookie line is complete (or the bytes are not a cookie), not at the end
    // of the 10 s inspect delay: `req.rdp_cookie` is settled then, as HAProxy's sample is.
    let a = SocketAddr::from(([127, 0, 0, 1], port));
    for c in [Some("x"), None] {
        let t = std::time::Instant::now();
        let _ = rdp_client(a, c);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{c:?}: waited for the inspect delay"
        );
    }
    let (ours, plain, refused) = run(a);
    assert!(distinct(&ours) >= 3, "{ours:?}");
    let mut spread = plain.clone();
    spread.sort();
    assert_eq!(
        spread,
        ["s1", "s2", "s3", "s4"],
        "round robin without a cookie"
    );
    assert_eq!(refused, "", "rejected by the rule reading the cookie");
    if !haproxy_present() {
        return;
    }
    let hport = free_port();
    let _h = start_haproxy(&cfg(hport), SocketAddr::from(([127, 0, 0, 1], hport)));
    let (theirs, _, theirs_refused) = run(SocketAddr::from(([127, 0, 0, 1], hport)));
    assert_eq!(ours, theirs);
    assert_eq!(refused, theirs_refused);
}
