//! Keywords common in real haproxy.cfg files, checked for their effect (configs also go through `haproxy -c`).

mod common;

use std::net::SocketAddr;

use common::*;

/// The keep-alive timer (`tr` 2 in /proc/net/tcp) of the established IPv4 socket going from local port `local`
/// to remote port `remote`: whether SO_KEEPALIVE is on for it.
fn keepalive_on(local: u16, remote: u16) -> Option<bool> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let port = |a: &str| u16::from_str_radix(a.rsplit(':').next()?, 16).ok();
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 5 && port(f[1]) == Some(local) && port(f[2]) == Some(remote) && f[3] == "01")
            .then(|| f[5].starts_with("02:"))
    })
}

/// `option clitcpka` / `srvtcpka` / `tcpka`: SO_KEEPALIVE on the client side, the server side, or both.
#[test]
fn tcp_keepalive_options_set_so_keepalive() {
    for (opts, client, server) in [
        ("", false, false),
        ("option tcpka", true, true),
        ("option clitcpka", true, false),
        ("option srvtcpka", false, true),
        ("option tcpka\n    no option clitcpka", false, true),
    ] {
        let o = origins(1);
        let cfg = format!(
            "{DEFAULTS}listen l\n    bind 127.0.0.1:{}\n    {opts}\n{}",
            free_port(),
            server_lines(&o, "")
        );
        let p = start_proxy(&cfg);
        let mut c = Client::connect(p.addr);
        assert_eq!(c.get("/").status, 200);
        let me: SocketAddr = c.reader.get_ref().local_addr().unwrap();
        let Some(on) = keepalive_on(p.addr.port(), me.port()) else {
            eprintln!("no /proc/net/tcp entry: skipped");
            return;
        };
        assert_eq!(on, client, "client side with '{opts}'");
        // The pooled connection to the origin: from an ephemeral port of the proxy to the origin's port.
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        let origin_port = o[0].addr().port();
        let local = table.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = |a: &str| u16::from_str_radix(a.rsplit(':').next().unwrap(), 16).unwrap();
            (port(f[2]) == origin_port && f[3] == "01").then(|| port(f[1]))
        });
        let local = local.expect("the proxy keeps its server connection");
        assert_eq!(
            keepalive_on(local, origin_port),
            Some(server),
            "server side with '{opts}'"
        );
    }
}

/// `show info`'s `node` and `description` lines on a unix stats socket.
fn node_lines(sock: &std::path::Path) -> Vec<String> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(b"show info\n").unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.lines()
        .filter(|l| l.starts_with("node:") || l.starts_with("description:"))
        .map(str::to_string)
        .collect()
}

/// Global `node` and `description` (in `show info`, as haproxy 2.6 shows them), a proxy's `description`.
#[test]
fn global_node_and_description_in_show_info() {
    let o = origins(1);
    let sock = std::env::temp_dir().join(format!("fulcrum-kw-{}.sock", std::process::id()));
    let cfg = |port: u16| {
        format!(
            "global\n    nbthread 1\n    stats socket {} level admin\n    node edge-1\n    description  the   edge proxy\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             listen l\n    bind 127.0.0.1:{port}\n    description the listen\n{}",
            sock.display(),
            server_lines(&o, "")
        )
    };
    let expected = ["node: edge-1", "description: the edge proxy"];
    {
        let _p = start_proxy(&cfg(free_port()));
        assert_eq!(node_lines(&sock), expected);
    }
    let _ = std::fs::remove_file(&sock);
    if haproxy_present() {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&cfg(port), addr);
        assert_eq!(node_lines(&sock), expected, "haproxy's show info");
    }
    let _ = std::fs::remove_file(&sock);
}

/// The messages a UDP syslog socket receives while `drive` runs (each without its syslog header).
fn logged(sock: &std::net::UdpSocket, drive: impl FnOnce()) -> Vec<String> {
    drive();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    sock.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    while let Ok(n) = sock.recv(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let msg = text.split_once("]: ").map_or(&text[..], |(_, m)| m);
        out.push(msg.trim_end().to_string());
    }
    out
}

/// `option dontlog-normal`: only the requests that went wrong are logged (a deny, a 5xx, a retried one), not a
/// plain 200 nor a local answer; the same lines as haproxy 2.6.
#[test]
fn dontlog_normal_logs_only_what_went_wrong() {
    let o = origins(1);
    let dead = free_port();
    let cfg = |port: u16, log: u16| {
        format!(
            "{DEFAULTS}frontend f\n    bind 127.0.0.1:{port}\n    mode http\n    log 127.0.0.1:{log} local0\n    log-format \"%ST %ts %b\"\n    option dontlognull\n    option dontlog-normal\n\
             http-request deny if {{ path /deny }}\n    http-request return status 200 if {{ path /ret }}\n\
             use_backend dead if {{ path /dead }}\n    default_backend b\n\
             backend b\n{}backend dead\n    retries 1\n    server d 127.0.0.1:{dead}\n",
            server_lines(&o, "")
        )
    };
    let drive = |addr: SocketAddr| {
        for path in ["/", "/deny", "/ret", "/dead", "/"] {
            let _ = get(addr, path);
        }
    };
    let run = |haproxy: bool| {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = free_port();
        let text = cfg(port, sock.local_addr().unwrap().port());
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        if haproxy {
            let _h = start_haproxy(&text, addr);
            logged(&sock, || drive(addr))
        } else {
            let p = start_proxy(&text);
            logged(&sock, || drive(p.addr))
        }
    };
    let ours = run(false);
    assert_eq!(ours, ["403 PR f", "503 SC dead"]);
    if haproxy_present() {
        assert_eq!(run(true), ours, "haproxy's lines");
    }
}

/// `http-send-name-header NAME`: the server gets its own name in NAME, whatever the client sent there, as
/// haproxy 2.6 sends it (the header last, the client's value gone).
#[test]
fn http_send_name_header_names_the_server() {
    let o = origins(2);
    let cfg = |port: u16| {
        format!(
            "{DEFAULTS}listen l\n    bind 127.0.0.1:{port}\n    http-send-name-header X-Backend-Srv\n{}",
            server_lines(&o, "")
        )
    };
    let send = |addr: SocketAddr| {
        let mut c = Client::connect(addr);
        c.send(
            b"GET /headers HTTP/1.1\r\nHost: t\r\nX-Backend-Srv: fake\r\nConnection: close\r\n\r\n",
        );
        let text = c.read_response(false).text().to_ascii_lowercase();
        text.lines()
            .filter(|l| l.starts_with("x-backend-srv"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let p = start_proxy(&cfg(free_port()));
    assert_eq!(send(p.addr), ["x-backend-srv: s1"]);
    assert_eq!(send(p.addr), ["x-backend-srv: s2"]);
    if haproxy_present() {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&cfg(port), addr);
        assert_eq!(send(addr), ["x-backend-srv: s1"]);
    }
}

/// `errorloc`/`errorloc302`/`errorloc303 CODE URL`: the error answered by a redirect, byte for byte as haproxy
/// 2.6 sends it.
#[test]
fn errorloc_redirects_like_haproxy() {
    let dead = free_port();
    let cfg = |port: u16| {
        format!(
            "{DEFAULTS}listen l\n    bind 127.0.0.1:{port}\n    errorloc 503 http://example.com/sorry\n    errorloc303 403 /denied\n\
             http-request deny if {{ path /d }}\n    retries 0\n    server s 127.0.0.1:{dead}\n"
        )
    };
    // A keep-alive request: the head as the proxy wrote it (with `Connection: close` both reorder their headers).
    let raw = |addr: SocketAddr, path: &str| {
        let mut c = Client::connect(addr);
        c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        let mut out = String::new();
        loop {
            let mut l = String::new();
            if std::io::BufRead::read_line(&mut c.reader, &mut l).unwrap_or(0) == 0 || l == "\r\n" {
                break;
            }
            out.push_str(&l);
        }
        out
    };
    let p = start_proxy(&cfg(free_port()));
    let ours = [raw(p.addr, "/"), raw(p.addr, "/d")];
    assert!(
        ours[0].starts_with("HTTP/1.1 302 Found\r\n")
            && ours[0].contains("\r\nlocation: http://example.com/sorry\r\n"),
        "{}",
        ours[0]
    );
    assert!(
        ours[1].starts_with("HTTP/1.1 303 See Other\r\n"),
        "{}",
        ours[1]
    );
    if haproxy_present() {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&cfg(port), addr);
        // The same status line and headers; fulcrum writes an errorfile's content-length before its other
        // headers, where haproxy writes it last.
        let sorted = |h: &str| {
            let mut l: Vec<String> = h.lines().map(str::to_string).collect();
            l[1..].sort();
            l
        };
        let theirs = [raw(addr, "/"), raw(addr, "/d")];
        assert_eq!(sorted(&theirs[0]), sorted(&ours[0]), "haproxy's answer");
        assert_eq!(sorted(&theirs[1]), sorted(&ours[1]), "haproxy's answer");
    }
}

/// `use-server NAME if|unless COND`: the first rule whose condition holds sends the request to its server while
/// that server is UP; otherwise the balancer picks.
#[test]
fn use_server_pins_requests_to_servers_while_they_are_up() {
    let o = origins(3);
    let p = start_proxy(&format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    option httpchk GET /health
    acl to_two path_beg /two
    use-server s2 if to_two
    use-server s1 unless {{ path_beg /one }} || {{ path_beg /any }}
    use-server s3 if {{ path_beg /one }}
{}",
        free_port(),
        server_lines(&o, "check inter 100ms rise 1 fall 1")
    ));
    for _ in 0..5 {
        assert_eq!(served_by(&get(p.addr, "/two/x")), "s2");
        assert_eq!(served_by(&get(p.addr, "/one")), "s3");
        assert_eq!(served_by(&get(p.addr, "/elsewhere")), "s1");
    }
    let any: std::collections::HashSet<_> =
        (0..6).map(|_| served_by(&get(p.addr, "/any"))).collect();
    assert_eq!(any.len(), 3, "{any:?}");
    // s2 DOWN: its rule is passed over, and the next matching one (s1) takes the request.
    let servers = p.running.as_ref().unwrap().snapshot().servers.clone();
    o[1].set_healthy(false);
    assert!(wait_until(std::time::Duration::from_secs(3), || !servers
        [1]
    .is_up()));
    for _ in 0..3 {
        assert_eq!(served_by(&get(p.addr, "/two/x")), "s1");
    }
}

/// `use-server` in a `mode tcp` backend, on the connection's facts.
#[test]
fn use_server_in_tcp_mode() {
    let o = origins(2);
    let p = start_proxy(&format!(
        "{DEFAULTS}
listen app
    mode tcp
    bind 127.0.0.1:{}
    use-server s2 if {{ src 127.0.0.1 }}
{}",
        free_port(),
        server_lines(&o, "")
    ));
    for _ in 0..4 {
        assert_eq!(served_by(&get(p.addr, "/")), "s2");
    }
}

/// `monitor fail if|unless COND`: `monitor-uri` answers 503 (HAProxy's error page) while a condition holds.
#[test]
fn monitor_fail_reports_the_service_down() {
    let o = origins(1);
    let p = start_proxy(&format!(
        "{DEFAULTS}
frontend f
    bind 127.0.0.1:{}
    monitor-uri /mon
    acl down nbsrv(b) lt 1
    monitor fail if down
    monitor fail unless {{ src 127.0.0.1 }}
    default_backend b

backend b
    option httpchk GET /health
{}",
        free_port(),
        server_lines(&o, "check inter 100ms rise 1 fall 1")
    ));
    let servers = p.running.as_ref().unwrap().snapshot().servers.clone();
    assert_eq!(get(p.addr, "/mon").status, 200);
    o[0].set_healthy(false);
    assert!(wait_until(std::time::Duration::from_secs(3), || !servers
        [0]
    .is_up()));
    let r = get(p.addr, "/mon");
    assert_eq!(r.status, 503);
    assert!(r.text().contains("503 Service Unavailable"), "{r:?}");
    o[0].set_healthy(true);
    assert!(wait_until(std::time::Duration::from_secs(3), || servers[0].is_up()));
    assert_eq!(get(p.addr, "/mon").status, 200);
}

/// `maxconnrate N` (and `maxsessrate N`): at most N new connections a second; the others wait in the kernel's
/// queue until the next second.
#[test]
fn maxconnrate_spreads_connections_over_seconds() {
    let o = origins(1);
    for (global, at_least, at_most) in [
        ("", None, Some(900)),
        ("    maxconnrate 4\n", Some(1000), None),
        ("    maxsessrate 4\n", Some(1000), None),
    ] {
        let p = start_proxy(&format!(
            "global\n    nbthread 2\n{global}\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\nlisten app\n    bind 127.0.0.1:{}\n{}",
            free_port(),
            server_lines(&o, "")
        ));
        let start = std::time::Instant::now();
        for _ in 0..10 {
            assert_eq!(get(p.addr, "/").status, 200);
        }
        let ms = start.elapsed().as_millis();
        if let Some(min) = at_least {
            assert!(ms >= min, "{global}: 10 connections in {ms} ms");
        }
        if let Some(max) = at_most {
            assert!(ms <= max, "{global}: 10 connections in {ms} ms");
        }
    }
}

/// `rate-limit sessions N` on a frontend: at most about N new sessions a second there, the previous second's
/// counting less as the current one goes on, the others waiting in the kernel's queue; another frontend of the
/// same process is not held back. `show stat` gives the limit as `rate_lim` and the sessions, connections and
/// requests per second (`rate`, `conn_rate`, `req_rate`) with their most in one second (`*_max`), on frontends,
/// backends and servers, as haproxy 2.6 does for the same connections.
#[test]
fn rate_limit_sessions_paces_a_frontend_and_show_stat_gives_the_rates() {
    let o = origins(1);
    let run = |haproxy: bool| {
        let sock = unix_sock_path(if haproxy { "ratelim-h" } else { "ratelim-f" });
        let (limited, free, probe) = (free_port(), free_port(), free_port());
        let cfg = format!(
            "global\n    nbthread 1\n    stats socket {} level admin\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend limited\n    bind 127.0.0.1:{limited}\n    rate-limit sessions 4\n    default_backend b\n\
             frontend free\n    bind 127.0.0.1:{free}\n    default_backend b\n\
             frontend probe\n    bind 127.0.0.1:{probe}\n    default_backend b\n\
             backend b\n{}",
            sock.display(),
            server_lines(&o, "")
        );
        let (limited, free) = (
            SocketAddr::from(([127, 0, 0, 1], limited)),
            SocketAddr::from(([127, 0, 0, 1], free)),
        );
        // haproxy's start is probed on its own frontend, which counts that connection.
        let _running = start_either(&cfg, haproxy, SocketAddr::from(([127, 0, 0, 1], probe)));
        // Ten connections through the free frontend, then ten through the limited one, one after the other.
        let timed = |addr| {
            let start = std::time::Instant::now();
            for _ in 0..10 {
                assert_eq!(get(addr, "/").status, 200, "haproxy: {haproxy}");
            }
            start.elapsed().as_millis()
        };
        let free_ms = timed(free);
        let stats_free = show_stat_cells(&sock, |c| {
            ["rate_max", "conn_rate_max", "req_rate_max"].contains(&c)
        });
        let limited_ms = timed(limited);
        let stats = show_stat_cells(&sock, |c| {
            [
                "rate",
                "rate_lim",
                "rate_max",
                "conn_rate",
                "req_rate",
                "req_rate_max",
            ]
            .contains(&c)
        });
        (free_ms, limited_ms, stats_free, stats)
    };
    let mut runs = vec![("fulcrum", run(false))];
    if haproxy_present() {
        runs.push(("haproxy", run(true)));
    }
    for (who, (free_ms, limited_ms, stats_free, stats)) in &runs {
        assert!(*free_ms < 900, "{who}: the free frontend took {free_ms} ms");
        // 4 at once, 4 more over the next second as the first 4 count less, then 2: 1.2 s at least.
        assert!(
            (1000..4000).contains(limited_ms),
            "{who}: the limited frontend took {limited_ms} ms"
        );
        // The free frontend's ten (within one second, or split over two).
        let most = |k: &str| stats_free[k].parse::<u64>().unwrap();
        for k in [
            "free/FRONTEND.rate_max",
            "free/FRONTEND.conn_rate_max",
            "free/FRONTEND.req_rate_max",
        ] {
            assert!((5..=10).contains(&most(k)), "{who}: {k}: {stats_free:?}");
        }
        let v = |k: &str| stats[k].as_str();
        assert_eq!(v("limited/FRONTEND.rate_lim"), "4", "{who}: {stats:?}");
        assert_eq!(v("free/FRONTEND.rate_lim"), "0", "{who}: {stats:?}");
        // No calendar second saw more than the limit on the limited frontend.
        let limited_most: u64 = v("limited/FRONTEND.rate_max").parse().unwrap();
        assert!((1..=4).contains(&limited_most), "{who}: {stats:?}");
        // Rates just after: the last sessions still count; backends and servers have theirs, not the
        // frontend-only columns.
        for k in [
            "limited/FRONTEND.rate",
            "limited/FRONTEND.conn_rate",
            "limited/FRONTEND.req_rate",
            "b/BACKEND.rate",
        ] {
            assert!(v(k).parse::<u64>().unwrap() >= 1, "{who}: {k}: {stats:?}");
        }
        assert!(
            v("b/BACKEND.rate_max").parse::<u64>().unwrap() >= 5,
            "{who}: {stats:?}"
        );
        assert_eq!(v("b/BACKEND.conn_rate"), "", "{who}: {stats:?}");
        assert_eq!(v("b/BACKEND.rate_lim"), "", "{who}: {stats:?}");
        assert_eq!(v("b/BACKEND.req_rate"), "", "{who}: {stats:?}");
    }
}

/// `show stat`'s counts of refusals and of server sessions, as haproxy 2.6 gives them for the same traffic:
/// `dcon` (`tcp-request connection reject`) and `dses` (`tcp-request session reject`) on the frontend, `req_tot`
/// on servers of HTTP backends and 0 on `mode tcp` frontends, `intercepted` empty there, and `lastsess` (seconds
/// since the last session, -1 before the first) on servers and backends.
#[test]
fn refusals_server_requests_and_last_sessions_in_show_stat_as_haproxy() {
    let o = origins(1);
    let run = |haproxy: bool| {
        let sock = unix_sock_path(if haproxy { "refusals-h" } else { "refusals-f" });
        let [front, tcp, probe] = [(); 3].map(|_| free_port());
        let cfg = format!(
            "global\n    nbthread 1\n    stats socket {} level admin\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend f\n    bind 127.0.0.1:{front}\n\
             \x20   tcp-request connection reject if {{ src 127.0.0.2 }}\n\
             \x20   tcp-request session reject if {{ src 127.0.0.3 }}\n    default_backend b\n\
             frontend probe\n    bind 127.0.0.1:{probe}\n    default_backend unused\n\
             listen t\n    mode tcp\n    bind 127.0.0.1:{tcp}\n{}\
             backend b\n{}\
             backend unused\n    server idle 127.0.0.1:9\n",
            sock.display(),
            server_lines(&o, ""),
            server_lines(&o, "")
        );
        let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
        // haproxy's start is probed on its own frontend, which counts that connection.
        let _running = start_either(&cfg, haproxy, at(probe));
        // (Each sends a request: HAProxy runs `tcp-request session` rules at once, fulcrum in `mode http` when the
        // first request comes; closed without an answer either way.)
        for from in ["127.0.0.2", "127.0.0.3"] {
            let mut c = Client::connect_from(at(front), from);
            let _ =
                std::io::Write::write_all(c.reader.get_mut(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            assert!(
                c.closed_within(std::time::Duration::from_secs(2)),
                "haproxy: {haproxy}: {from} served"
            );
        }
        for _ in 0..2 {
            assert_eq!(get(at(front), "/").status, 200);
        }
        assert_eq!(get(at(tcp), "/").status, 200);
        let columns = ["dcon", "dses", "req_tot", "intercepted", "lastsess"];
        show_stat_cells(&sock, |c| columns.contains(&c))
    };
    let ours = run(false);
    let want = [
        ("f/FRONTEND.dcon", "1"),
        ("f/FRONTEND.dses", "1"),
        ("f/FRONTEND.req_tot", "2"),
        ("b/s1.req_tot", "2"),
        ("b/BACKEND.req_tot", "2"),
        ("b/s1.lastsess", "0"),
        ("b/BACKEND.lastsess", "0"),
        ("unused/idle.lastsess", "-1"),
        ("unused/BACKEND.lastsess", "-1"),
        ("t/FRONTEND.req_tot", "0"),
        ("t/FRONTEND.intercepted", ""),
        ("t/s1.req_tot", ""),
        ("t/s1.lastsess", "0"),
    ];
    for (k, v) in want {
        assert_eq!(
            ours.get(k).map(String::as_str),
            Some(v),
            "fulcrum: {k}: {ours:?}"
        );
    }
    if haproxy_present() {
        let theirs = run(true);
        for (k, v) in want {
            assert_eq!(
                theirs.get(k).map(String::as_str),
                Some(v),
                "haproxy: {k}: {theirs:?}"
            );
        }
    }
}

/// The listen queue the kernel reports for a listening IPv4 socket on `port` (`ss`'s Send-Q), if `ss` runs.
fn listen_backlog(port: u16) -> Option<u32> {
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next()?.split_whitespace().nth(2)?.parse().ok()
}

/// The configuration of `ids_disabled_proxies_and_backlog`.
fn ids_config(ports: [u16; 3], server: SocketAddr) -> String {
    format!(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend f
    id 7
    bind 127.0.0.1:{}
    backlog 17
    http-response set-header x-ids \"%[fe_id] %[be_id]\"
    default_backend b
frontend g
    disabled
    bind 127.0.0.1:{}
    default_backend b
frontend h
    bind 127.0.0.1:{}
    http-after-response set-header x-ids \"%[fe_id]\"
    use_backend c if {{ path /c }}
    default_backend b
backend b
    id 3
    fullconn 100
    server s1 {server}
backend c
    disabled
    server s1 {server}
",
        ports[0], ports[1], ports[2]
    )
}

/// What the three frontends answer: `x-ids` and the status, `refused` when nothing listens.
fn ids_outcomes(ports: [u16; 3]) -> Vec<String> {
    ports
        .iter()
        .map(|&p| {
            let addr: SocketAddr = format!("127.0.0.1:{p}").parse().unwrap();
            if std::net::TcpStream::connect(addr).is_err() {
                return "refused".to_string();
            }
            let r = get(addr, "/c");
            format!("{} {}", r.status, r.header("x-ids").unwrap_or("-"))
        })
        .collect()
}

/// `id N` numbers a proxy (`fe_id`, `be_id`), the others taking the next free ids in configuration order;
/// a `disabled` frontend does not listen and a `disabled` backend is gone (`use_backend` to it answers 503,
/// not the default backend's answer); `backlog`
/// is the listen queue of the frontend's sockets. The same answers as haproxy 2.6.
#[test]
fn ids_disabled_proxies_and_backlog() {
    let o = origins(1);
    let base = free_port_block(3);
    let ports = [base, base + 1, base + 2];
    let p = start_proxy(&ids_config(ports, o[0].addr()));
    let got = ids_outcomes(ports);
    // f is 7, b 3; the counter HAProxy numbers the others with moves on at every proxy (g, disabled, included)
    // and past the claimed ids: f passes 1, g takes 2, h skips 3 and takes 4
    assert_eq!(got, ["200 7 3", "refused", "503 4"]);
    if let Some(q) = listen_backlog(ports[0]) {
        assert_eq!(q, 17);
    }
    drop(p);
    if haproxy_present() {
        let base = free_port_block(3);
        let ports = [base, base + 1, base + 2];
        let _h = start_haproxy(
            &ids_config(ports, o[0].addr()),
            format!("127.0.0.1:{base}").parse().unwrap(),
        );
        assert_eq!(ids_outcomes(ports), got);
    }
}
