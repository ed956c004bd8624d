//! Stick tables through sockets: the rate-limiting idioms (`http-request track-sc0` with a 429 over a request
//! rate, `tcp-request connection track-sc0` with a reject over a connection rate), the gpc counters and the
//! `table_*` converters, and the runtime API's `show table`, `set table` and `clear table` compared with the real
//! HAProxy 2.6 on the same configuration and traffic.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

fn sock_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fulcrum-stick-{}-{tag}.sock", std::process::id()))
}

fn statuses(addr: SocketAddr, n: usize) -> Vec<u16> {
    (0..n).map(|_| get(addr, "/").status).collect()
}

#[test]
fn http_request_rate_limit_answers_429() {
    let o = origins(1);
    let text = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    stick-table type ip size 100k expire 30s store http_req_rate(10s),http_req_cnt,conn_cnt,conn_cur,http_err_cnt
    http-request track-sc0 src
    http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt 3 }}
    default_backend be

backend be
{}",
        free_port(),
        server_lines(&o, "")
    );
    let p = start_proxy(&text);
    assert_eq!(statuses(p.addr, 6), [200, 200, 200, 429, 429, 429]);
    // One connection with several requests: each is counted and judged.
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").status, 429);
}

#[test]
fn tcp_connection_rate_limit_rejects() {
    let o = origins(1);
    let text = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    stick-table type ip size 1k expire 30s store conn_rate(10s),conn_cur
    tcp-request connection track-sc0 src
    tcp-request connection reject if {{ src_conn_rate gt 2 }}
    default_backend be

backend be
{}",
        free_port(),
        server_lines(&o, "")
    );
    let p = start_proxy(&text);
    assert_eq!(statuses(p.addr, 2), [200, 200]);
    // The third connection is counted (rate 3) then rejected: closed before any answer.
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let _ = s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    let mut buf = [0u8; 64];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
}

#[test]
fn gpc_counters_and_table_converters() {
    let text = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    stick-table type string len 16 size 10 expire 1m store gpc0,gpt0,http_req_cnt
    http-request track-sc1 req.hdr(x-key)
    http-request sc-inc-gpc0(1) if {{ path /inc }}
    http-request sc-set-gpt0(1) 7 if {{ path /tag }}
    http-request return status 200 hdr x-gpc0 %[sc1_get_gpc0] hdr x-gpt0 %[sc_get_gpt0(1)] hdr x-cnt %[req.hdr(x-key),table_http_req_cnt(fe)] hdr x-in %[str(nope),in_table(fe)] hdr x-tracked %[sc0_tracked]
",
        free_port()
    );
    let p = start_proxy(&text);
    let mut c = Client::connect(p.addr);
    let ask = |c: &mut Client, path: &str| {
        c.send(format!("GET {path} HTTP/1.1\r\nhost: x\r\nx-key: k1\r\n\r\n").as_bytes());
        c.read_response(false)
    };
    let r = ask(&mut c, "/inc");
    assert_eq!(r.header("x-gpc0"), Some("1"));
    let r = ask(&mut c, "/inc");
    assert_eq!(r.header("x-gpc0"), Some("2"));
    let r = ask(&mut c, "/tag");
    assert_eq!(r.header("x-gpt0"), Some("7"));
    assert_eq!(r.header("x-cnt"), Some("3"));
    assert_eq!(r.header("x-in"), Some("0"));
    assert_eq!(r.header("x-tracked"), Some("0"));
}

/// `show table` lines without the entry address and the expiry (which depend on the process and the clock).
fn stable(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| match l.split_once(": key=") {
            Some((_, rest)) => {
                let words: Vec<&str> = rest.split(' ').filter(|w| !w.starts_with("exp=")).collect();
                format!("key={}", words.join(" "))
            }
            None => l.to_string(),
        })
        .collect()
}

#[test]
fn show_set_clear_table_match_haproxy() {
    let ours_sock = sock_path("ours");
    let theirs_sock = sock_path("theirs");
    let port = free_port();
    let cfg = |sock: &Path, port: u16| {
        format!(
            "global
    nbthread 1
    stats socket {} level admin

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend fe
    bind 127.0.0.1:{port}
    stick-table type ip size 1k expire 30s store http_req_rate(10s),conn_cur,conn_cnt,gpc0,http_req_cnt,server_id,gpt0,http_err_cnt,http_err_rate(10s),sess_cnt,gpc1
    http-request track-sc0 src
    http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt 2 }}
    http-request return status 200 content-type text/plain string ok

backend keys
    stick-table type string len 8 size 10 store server_id,gpc0

backend ints
    stick-table type integer size 10 nopurge
",
            sock.display()
        )
    };
    let p = start_proxy(&cfg(&ours_sock, port));
    let _ = p.addr;
    let theirs = haproxy_present().then(|| {
        let hport = free_port();
        let h = start_haproxy(
            &cfg(&theirs_sock, hport),
            format!("127.0.0.1:{hport}").parse().unwrap(),
        );
        (h, hport)
    });
    let ours_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let script = [
        "show table",
        "show table fe",
        "set table keys key abcdefghijk data.server_id 3 data.gpc0 2",
        "set table keys key zz data.gpc0 1",
        "set table keys key b data.gpc0 5 data.gpc1 1",
        "set table keys key c data.foo 1",
        "set table keys data.gpc0 1",
        "set table ints key 42",
        "set table ints key -1",
        "show table keys",
        "show table keys data.gpc0 gt 1",
        "show table keys data.nope gt 1",
        "show table keys data.gpc0 zz 1",
        "show table keys data.gpc0 gt x",
        "show table keys data.gpt0 gt 1",
        "show table keys key zz",
        "show table keys key yy",
        "show table keys foo",
        "show table ints",
        "clear table keys key zz",
        "clear table keys data.gpc0 eq 5",
        "show table keys",
        "clear table",
        "clear table keys foo",
        "show table nope",
        "show table",
    ];
    let ours: Vec<String> = {
        assert_eq!(statuses(ours_addr, 4), [200, 200, 429, 429]);
        script.iter().map(|c| runtime_cmd(&ours_sock, c)).collect()
    };
    let Some((_h, hport)) = theirs else {
        return;
    };
    let haddr: SocketAddr = format!("127.0.0.1:{hport}").parse().unwrap();
    assert_eq!(statuses(haddr, 4), [200, 200, 429, 429]);
    for (c, ours) in script.iter().zip(&ours) {
        let theirs = runtime_cmd(&theirs_sock, c);
        assert_eq!(
            stable(ours),
            stable(&theirs),
            "'{c}':\nours:\n{ours}\nhaproxy:\n{theirs}"
        );
    }
}

fn served(addr: SocketAddr, key: &str) -> String {
    let mut c = Client::connect(addr);
    c.send(format!("GET / HTTP/1.1\r\nhost: x\r\nx-user: {key}\r\n\r\n").as_bytes());
    served_by(&c.read_response(false))
}

#[test]
fn stick_on_keeps_each_key_on_its_server() {
    let o = origins(3);
    let text = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    balance roundrobin
    stick-table type string len 32 size 1k expire 1m
    stick on req.hdr(x-user)
{}",
        free_port(),
        server_lines(&o, "")
    );
    let p = start_proxy(&text);
    let first: Vec<String> = ["a", "b", "c"].iter().map(|k| served(p.addr, k)).collect();
    // round robin spread the first requests; each key then stays on its server
    assert_eq!(
        first.iter().collect::<std::collections::HashSet<_>>().len(),
        3
    );
    for _ in 0..3 {
        for (k, s) in ["a", "b", "c"].iter().zip(&first) {
            assert_eq!(&served(p.addr, k), s, "key {k}");
        }
    }
}

#[test]
fn stick_match_without_store_and_a_down_server() {
    let o = origins(2);
    let sock = sock_path("match");
    let text = format!(
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
    balance roundrobin
    stick-table type string len 32 size 1k store server_id
    stick match req.hdr(x-user)
    stick store-request req.hdr(x-user) if {{ path /login }}
{}",
        sock.display(),
        free_port(),
        server_lines(&o, "")
    );
    let p = start_proxy(&text);
    // Nothing stored yet: round robin.
    let a = served(p.addr, "u");
    let b = served(p.addr, "u");
    assert_ne!(a, b);
    // Store the key through the runtime API: server 2 (puid 2, the second server line).
    assert_eq!(
        runtime_cmd(&sock, "set table app key u data.server_id 2"),
        "\n"
    );
    for _ in 0..4 {
        assert_eq!(served(p.addr, "u"), o[1].name());
    }
    // A server in maintenance is not used for persistence: round robin takes over.
    runtime_cmd(&sock, &format!("disable server app/{}", o[1].name()));
    for _ in 0..2 {
        assert_eq!(served(p.addr, "u"), o[0].name());
    }
    assert!(runtime_cmd(&sock, "show table app key u").contains("server_id=2"));
}

#[test]
fn session_tracking_lasts_for_the_connection() {
    let text = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    stick-table type ip size 1k expire 1m store conn_cur,conn_cnt,http_req_cnt
    tcp-request session track-sc1 src
    http-request return status 200 hdr x-cur %[sc1_conn_cur] hdr x-cnt %[sc1_conn_cnt] hdr x-req %[sc1_http_req_cnt]
",
        free_port()
    );
    let p = start_proxy(&text);
    let mut c = Client::connect(p.addr);
    for n in 1..=3 {
        let r = c.get("/");
        assert_eq!(r.header("x-cur"), Some("1"));
        assert_eq!(r.header("x-cnt"), Some("1"));
        assert_eq!(r.header("x-req"), Some(n.to_string().as_str()));
    }
    drop(c);
    // The connection ended: a new one counts anew, the old one is no longer current.
    assert!(wait_until(Duration::from_secs(2), || get(p.addr, "/")
        .header("x-cur")
        == Some("1")));
    let cnt: u32 = get(p.addr, "/").header("x-cnt").unwrap().parse().unwrap();
    assert!(cnt >= 3, "conn_cnt {cnt}");
}

/// HAProxy 2.6's arrays: `store gpc(N),gpc_rate(N,T),gpt(N)`, the `sc-inc-gpc(IDX,SC)` and `sc-set-gpt(IDX,SC)`
/// actions, the `sc_get_gpc`, `sc_gpc_rate`, `sc_get_gpt`, `sc_inc_gpc`, `sc_clr_gpc`, `src_get_gpc`,
/// `table_gpc` ... fetches and converters, and `show table`/`set table` on them: the same headers and the same
/// runtime API answers as haproxy 2.6 for the same requests.
#[test]
fn gpc_and_gpt_arrays_match_haproxy() {
    let cfg = |sock: &Path, port: u16| {
        format!(
            "global
    nbthread 1
    stats socket {} level admin

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend fe
    bind 127.0.0.1:{port}
    stick-table type string len 16 size 10 expire 1m store gpc(3),gpc_rate(2,10s),gpt(2),http_req_cnt
    http-request track-sc1 req.hdr(x-key)
    http-request sc-inc-gpc(1,1) if {{ path /inc }}
    http-request sc-inc-gpc(2,1) if {{ path /inc }}
    http-request sc-inc-gpc(2,1) if {{ path /inc }}
    http-request sc-set-gpt(1,1) 42 if {{ path /tag }}
    http-request sc-set-gpt(0,1) req.hdr(x-val) if {{ path /tag }}
    http-request set-var(txn.clr) sc_clr_gpc(0,1) if {{ path /clr }}
    http-request return status 200 hdr x-gpc1 %[sc_get_gpc(1,1)] hdr x-gpc2 %[sc_get_gpc(2,1,fe)] hdr x-rate %[sc_gpc_rate(1,1)] hdr x-gpt %[sc_get_gpt(1,1)] hdr x-gpt0 %[sc_get_gpt(0,1)] hdr x-conv %[req.hdr(x-key),table_gpc(2,fe)] hdr x-convr %[req.hdr(x-key),table_gpc_rate(1,fe)] hdr x-convt %[req.hdr(x-key),table_gpt(1,fe)] hdr x-src %[src_get_gpc(0,fe)] hdr x-inc %[sc_inc_gpc(0,1)] hdr x-none %[sc_get_gpc(2,0)] hdr x-clr %[var(txn.clr)]
",
            sock.display()
        )
    };
    let ask = |addr: SocketAddr, key: &str, path: &str| {
        let mut c = Client::connect(addr);
        c.send(
            format!("GET {path} HTTP/1.1\r\nhost: x\r\nx-key: {key}\r\nx-val: 9\r\n\r\n")
                .as_bytes(),
        );
        let r = c.read_response(false);
        assert_eq!(r.status, 200);
        [
            "x-gpc1", "x-gpc2", "x-rate", "x-gpt", "x-gpt0", "x-conv", "x-convr", "x-convt",
            "x-src", "x-inc", "x-none", "x-clr",
        ]
        .iter()
        .map(|h| format!("{h}={}", r.header(h).unwrap_or("-")))
        .collect::<Vec<_>>()
        .join(" ")
    };
    let requests = [
        ("k1", "/inc"),
        ("k1", "/inc"),
        ("k1", "/tag"),
        ("k2", "/tag"),
        ("k1", "/clr"),
        ("k1", "/"),
    ];
    let script = [
        "show table fe",
        "show table fe data.gpc gt 0",
        "show table fe data.gpc0 gt 0",
        "set table fe key k3 data.gpt 5",
        "set table fe key k4 data.gpc1 5",
        "show table fe key k3",
    ];
    let run = |addr: SocketAddr, sock: &Path| {
        let answers: Vec<String> = requests.iter().map(|(k, p)| ask(addr, k, p)).collect();
        let api: Vec<Vec<String>> = script
            .iter()
            .map(|c| stable(&runtime_cmd(sock, c)))
            .collect();
        (answers, api)
    };
    let ours_sock = sock_path("arrays-ours");
    let port = free_port();
    let p = start_proxy(&cfg(&ours_sock, port));
    let ours = run(p.addr, &ours_sock);
    // what haproxy 2.6.12 answered (also compared live below when it is installed)
    assert_eq!(
        ours.0[4],
        "x-gpc1=2 x-gpc2=4 x-rate=2 x-gpt=42 x-gpt0=9 x-conv=4 x-convr=2 x-convt=42 x-src=0 x-inc=1 x-none=- x-clr=3"
    );
    assert_eq!(
        ours.1[0][1],
        "key=k1 use=0 http_req_cnt=5 gpt0=9 gpt1=42 gpc0=2 gpc1=2 gpc2=4 gpc0_rate(10000)=5 gpc1_rate(10000)=2"
    );
    assert_eq!(
        ours.1[2][0],
        "Filter entry #1: Data type not stored in this table"
    );
    if !haproxy_present() {
        return;
    }
    let theirs_sock = sock_path("arrays-theirs");
    let hport = free_port();
    let haddr: SocketAddr = format!("127.0.0.1:{hport}").parse().unwrap();
    let _h = start_haproxy(&cfg(&theirs_sock, hport), haddr);
    let theirs = run(haddr, &theirs_sock);
    assert_eq!(ours.0, theirs.0, "headers");
    for ((c, o), t) in script.iter().zip(&ours.1).zip(&theirs.1) {
        assert_eq!(o, t, "'{c}'");
    }
}

/// `stick on src` in a `mode tcp` backend (the MySQL-style idiom): each client address stays on the server round
/// robin first gave it, connection after connection. The same order of connections gets the same pattern of
/// servers from haproxy 2.6.
#[test]
fn stick_on_src_in_mode_tcp_matches_haproxy() {
    let o = origins(3);
    let run = |start: &dyn Fn(&str, std::net::SocketAddr) -> Box<dyn std::any::Any>| {
        let port = free_port();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let text = format!(
            "{DEFAULTS}
listen db
    mode tcp
    bind 127.0.0.1:{port}
    balance roundrobin
    stick-table type ip size 1k expire 1m
    stick on src
{}",
            server_lines(&o, "")
        );
        let _p = start(&text, addr);
        let from = |ip: &str| served_by(&Client::connect_from(addr, ip).get("/"));
        let order = [
            "127.0.0.2",
            "127.0.0.3",
            "127.0.0.2",
            "127.0.0.4",
            "127.0.0.3",
            "127.0.0.5",
            "127.0.0.2",
        ];
        order
            .iter()
            .map(|ip| format!("{ip} {}", from(ip)))
            .collect::<Vec<_>>()
    };
    let ours = run(&|t, _| Box::new(start_proxy(t)));
    let server_of = |ip: &str| -> Vec<&str> {
        ours.iter()
            .filter_map(|l| l.strip_prefix(ip).map(str::trim))
            .collect()
    };
    // One server per address, whatever the connection.
    for ip in ["127.0.0.2", "127.0.0.3"] {
        let s = server_of(ip);
        assert!(s.len() >= 2 && s.iter().all(|x| *x == s[0]), "{ours:#?}");
    }
    // Round robin gave the first four addresses four picks over three servers.
    let firsts: std::collections::HashSet<_> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .map(|ip| server_of(ip)[0])
        .collect();
    assert_eq!(firsts.len(), 3, "{ours:#?}");
    if haproxy_present() {
        // start_haproxy's readiness probe is a connection of its own, which round robin gives a server in
        // `mode tcp`: the servers are compared by the order they first appear in.
        let theirs = run(&|t, a| Box::new(start_haproxy(t, a)));
        let by_appearance = |lines: &[String]| -> Vec<String> {
            let mut seen: Vec<String> = Vec::new();
            lines
                .iter()
                .map(|l| {
                    let (ip, s) = l.split_once(' ').unwrap();
                    let n = seen.iter().position(|x| x == s).unwrap_or_else(|| {
                        seen.push(s.to_string());
                        seen.len() - 1
                    });
                    format!("{ip} #{n}")
                })
                .collect()
        };
        assert_eq!(
            by_appearance(&ours),
            by_appearance(&theirs),
            "fulcrum {ours:?}, haproxy {theirs:?}"
        );
    }
}

/// One request on a new connection, the answer read to the end (the server closes).
fn one_exchange(addr: SocketAddr, raw: &[u8]) -> usize {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out.len()
}

/// What tracking at each level counts, compared with haproxy 2.6 on the same traffic: a connection's or a
/// session's tracking counts a connection and a session, a stream's (`tcp-request content`, `http-request`) a
/// connection per stream and no session; `http_req_cnt` counts requests; in `mode tcp` the connection's bytes go
/// to `bytes_in_*` / `bytes_out_*`.
#[test]
fn tracking_levels_count_connections_sessions_and_bytes_as_haproxy() {
    let o = origins(1);
    let srv = o[0].addr();
    let cfg = |sock: &Path, port: u16| {
        let store = "conn_cnt,conn_cur,sess_cnt,sess_rate(10s),bytes_in_cnt,bytes_out_cnt,bytes_in_rate(10s),bytes_out_rate(10s)";
        format!(
            "global
    nbthread 1
    stats socket {} level admin

defaults
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend conn
    mode tcp
    bind 127.0.0.1:{port}
    tcp-request connection track-sc0 src table t_conn
    default_backend srv
frontend sess
    mode tcp
    bind 127.0.0.1:{p1}
    tcp-request session track-sc0 src table t_sess
    default_backend srv
frontend cont
    mode tcp
    bind 127.0.0.1:{p2}
    tcp-request content track-sc0 src table t_cont
    default_backend srv
frontend web
    mode http
    bind 127.0.0.1:{p3}
    tcp-request session track-sc1 src table t_hsess
    http-request track-sc0 src table t_http
    http-request track-sc2 src table t_bytes
    default_backend hsrv
frontend ready
    mode tcp
    bind 127.0.0.1:{p4}
    default_backend srv

backend srv
    mode tcp
    server s {srv}
backend hsrv
    mode http
    server s {srv}
backend t_conn
    stick-table type ip size 1k expire 1m store {store}
backend t_sess
    stick-table type ip size 1k expire 1m store {store}
backend t_cont
    stick-table type ip size 1k expire 1m store {store}
backend t_hsess
    stick-table type ip size 1k expire 1m store conn_cnt,conn_cur,sess_cnt,http_req_cnt
backend t_http
    stick-table type ip size 1k expire 1m store conn_cnt,conn_cur,sess_cnt,http_req_cnt
backend t_bytes
    stick-table type ip size 1k expire 1m store bytes_in_cnt,bytes_out_cnt
",
            sock.display(),
            p1 = port + 1,
            p2 = port + 2,
            p3 = port + 3,
            p4 = port + 4,
        )
    };
    let drive = |port: u16| {
        let at = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        for p in [port, port + 1, port + 2] {
            for _ in 0..2 {
                assert!(one_exchange(at(p), b"GET /tcp HTTP/1.0\r\n\r\n") > 0);
            }
        }
        // Two requests on one connection, then one on another: the bytes the client sent and received.
        let (a, b) = (
            b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n".as_slice(),
            b"GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".as_slice(),
        );
        let mut c = TcpStream::connect(at(port + 3)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(a).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        c.write_all(b).unwrap();
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got);
        let c = b"GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
        let got_c = one_exchange(at(port + 3), c);
        std::thread::sleep(Duration::from_millis(300));
        (
            (a.len() + b.len() + c.len()) as u64,
            (got.len() + got_c) as u64,
        )
    };
    let tables = ["t_conn", "t_sess", "t_cont", "t_hsess", "t_http"];
    let ours_sock = sock_path("levels-ours");
    let port = free_port_block(5);
    let _p = start_proxy(&cfg(&ours_sock, port));
    let (sent, received) = drive(port);
    // In `mode http` the bytes are those of the messages as sent (haproxy 2.6 counts its internal form of
    // them, a few bytes off per message, so this table is not compared).
    let bytes = runtime_cmd(&ours_sock, "show table t_bytes");
    assert!(
        bytes.contains(&format!("bytes_in_cnt={sent} bytes_out_cnt={received}")),
        "sent {sent}, received {received}:\n{bytes}"
    );
    let ours: Vec<String> = tables
        .iter()
        .map(|t| runtime_cmd(&ours_sock, &format!("show table {t}")))
        .collect();
    let row = |out: &str| stable(out).get(1).cloned().unwrap_or_default();
    for (i, want) in [
        (
            0,
            "conn_cnt=2 conn_cur=0 sess_cnt=2 sess_rate(10000)=2 bytes_in_cnt=42",
        ),
        (2, "conn_cnt=2 conn_cur=0 sess_cnt=0"),
        (3, "conn_cnt=2 conn_cur=0 sess_cnt=2 http_req_cnt=3"),
        (4, "conn_cnt=3 conn_cur=0 sess_cnt=0 http_req_cnt=3"),
    ] {
        assert!(row(&ours[i]).contains(want), "{}", ours[i]);
    }
    if !haproxy_present() {
        return;
    }
    let theirs_sock = sock_path("levels-theirs");
    let hport = free_port_block(5);
    let _h = start_haproxy(
        &cfg(&theirs_sock, hport),
        // The readiness probe connects to a frontend that tracks nothing.
        SocketAddr::from(([127, 0, 0, 1], hport + 4)),
    );
    let _ = drive(hport);
    for (t, ours) in tables.iter().zip(&ours) {
        let theirs = runtime_cmd(&theirs_sock, &format!("show table {t}"));
        assert_eq!(
            stable(ours),
            stable(&theirs),
            "{t}:\nours:\n{ours}\nhaproxy:\n{theirs}"
        );
    }
}

/// An `openssl s_server` speaking TLS 1.2 with its own session cache (no tickets); killed (by PID) when dropped.
struct TlsServer {
    child: std::process::Child,
    port: u16,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_server(k: &common::pki::Pki) -> TlsServer {
    let port = free_port();
    let child = std::process::Command::new("openssl")
        // Session IDs, not tickets: what the idiom keys on.
        .args([
            "s_server",
            "-quiet",
            "-tls1_2",
            "-no_ticket",
            "-www",
            "-accept",
        ])
        .arg(port.to_string())
        // The PEM holds the key too.
        .arg("-cert")
        .arg(k.path("srv.pem"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl is needed");
    assert!(wait_until(Duration::from_secs(5), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    TlsServer { child, port }
}

/// One TLS 1.2 handshake through `addr` with `openssl s_client`, saving the session to `out` or resuming the
/// one in `sess`: whether the session was resumed.
fn tls_session(addr: SocketAddr, sess: &Path, resume: bool) -> bool {
    let flag = if resume { "-sess_in" } else { "-sess_out" };
    let out = std::process::Command::new("openssl")
        .args(["s_client", "-tls1_2", "-connect", &addr.to_string(), flag])
        .arg(sess)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl is needed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Cipher"), "{text}");
    text.contains("Reused, TLSv1.2")
}

/// HAProxy's SSL session ID persistence in `mode tcp`: `stick on payload_lv(43,1) if clienthello` and `stick
/// store-response payload_lv(43,1) if serverhello` keep a client that resumes its session on the server that
/// holds it, where round robin alone would send every other resumption to a server that does not know it. The
/// same with haproxy 2.6.
#[test]
fn ssl_session_id_persistence_in_mode_tcp() {
    let dir = std::env::temp_dir().join(format!("fulcrum-sslid-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    common::pki::ca(&dir);
    common::pki::leaf(&dir, "srv", "a.test", &["a.test"], true, false);
    let k = common::pki::Pki { dir: dir.clone() };
    let (s1, s2) = (tls_server(&k), tls_server(&k));
    let config = |port: u16, sticky: bool| {
        let stick = if sticky {
            "    stick on payload_lv(43,1) if clienthello
    stick store-response payload_lv(43,1) if serverhello
"
        } else {
            ""
        };
        format!(
            "global
    nbthread 1
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend f
    bind 127.0.0.1:{port}
    default_backend https
backend https
    balance roundrobin
    stick-table type binary len 32 size 30k expire 30m
    acl clienthello req_ssl_hello_type 1
    acl serverhello rep_ssl_hello_type 2
    tcp-request inspect-delay 5s
    tcp-request content accept if clienthello
    tcp-response inspect-delay 5s
    tcp-response content accept if serverhello
{stick}    server s1 127.0.0.1:{}
    server s2 127.0.0.1:{}
",
            s1.port, s2.port
        )
    };
    let sess = dir.join("session");
    // Resumptions of one session: (resumed, not resumed).
    let run = |addr: SocketAddr| -> (usize, usize) {
        assert!(!tls_session(addr, &sess, false), "a first handshake is new");
        let resumed = (0..4).filter(|_| tls_session(addr, &sess, true)).count();
        (resumed, 4 - resumed)
    };
    let port = free_port();
    let p = start_proxy(&config(port, true));
    assert_eq!(run(p.addr), (4, 0), "every resumption reaches its server");
    drop(p);
    // Without the stick rules, round robin sends half of them elsewhere.
    let port = free_port();
    let p = start_proxy(&config(port, false));
    assert_eq!(run(p.addr), (2, 2));
    drop(p);
    if haproxy_present() {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let _h = start_haproxy(&config(port, true), addr);
        assert_eq!(run(addr), (4, 0), "haproxy 2.6");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
