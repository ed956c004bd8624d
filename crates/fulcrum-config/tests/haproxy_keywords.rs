//! Every supported keyword, parsed into the model; valid configurations are also checked by the real haproxy.

#[path = "haproxy_util.rs"]
mod util;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use fulcrum_config::haproxy::*;
use util::*;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn backend<'a>(c: &'a Config, name: &str) -> &'a Proxy {
    c.backend(name).expect("backend")
}

fn proxy<'a>(c: &'a Config, name: &str, kind: ProxyKind) -> &'a Proxy {
    c.proxies
        .iter()
        .find(|p| p.name == name && p.kind == kind)
        .expect("proxy")
}

/// `fd@N` (a listening socket inherited from the parent, as systemd and HAProxy's test harness pass them) on
/// `bind` and `stats socket`, and TCP stats sockets. (haproxy -c also checks that the descriptors are open, which
/// fulcrum checks when it binds and under -c, in fulcrum-proxy; so this one is not given to haproxy.)
#[test]
fn inherited_and_tcp_listeners() {
    let c = ok(
        "global\n stats socket fd@7 level admin\n stats socket ipv4@127.0.0.1:9999\n stats socket unix@/run/u.sock\n\
         defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
         frontend f\n bind fd@8\n bind \"fd@${NOPE-9}\",127.0.0.1:18080\n default_backend b\n\
         backend b\n server s 127.0.0.1:18081\n",
    );
    let socks: Vec<StatsAddr> = c
        .global
        .stats_sockets
        .iter()
        .map(|s| s.addr.clone())
        .collect();
    assert_eq!(
        socks,
        [
            StatsAddr::Fd(7),
            StatsAddr::Tcp(sa("127.0.0.1:9999")),
            StatsAddr::Unix(PathBuf::from("/run/u.sock"))
        ]
    );
    let f = proxy(&c, "f", ProxyKind::Frontend);
    assert_eq!(
        (f.binds[0].fds.as_slice(), f.binds[0].addrs.len()),
        (&[8][..], 0)
    );
    assert_eq!(f.binds[1].fds, [9]);
    assert_eq!(f.binds[1].addrs, [sa("127.0.0.1:18080")]);
}

#[test]
fn global_section() {
    let c = ok_both(
        "global\n maxconn 4096\n nbthread 2\n user haproxy\n group haproxy\n daemon\n chroot /var/empty\n pidfile /run/f.pid\n\
         stats socket /run/f.sock mode 660 level operator expose-fd listeners\n stats socket /run/g.sock\n\
         log stdout format raw local0\n log 127.0.0.1:5140 len 2048 format rfc5424 local1 info notice\n\
         log udp@127.0.0.1 daemon\n log ipv4@10.0.0.1:1514 user err\n log /dev/log local2 debug\n log stderr format short local3\n",
    );
    let g = &c.global;
    assert_eq!(g.maxconn, Some(4096));
    assert_eq!(g.nbthread, Some(2));
    assert_eq!(g.user.as_deref(), Some("haproxy"));
    assert_eq!(g.group.as_deref(), Some("haproxy"));
    assert!(g.daemon);
    assert_eq!(g.chroot, Some(PathBuf::from("/var/empty")));
    assert_eq!(g.pidfile, Some(PathBuf::from("/run/f.pid")));
    assert_eq!(g.stats_sockets.len(), 2);
    let s = &g.stats_sockets[0];
    assert_eq!(
        (s.addr.to_string(), s.mode, s.level, s.expose_fd_listeners),
        (
            "/run/f.sock".to_string(),
            Some(0o660),
            StatsLevel::Operator,
            true
        )
    );
    assert_eq!(s.location.line, 9);
    let s = &g.stats_sockets[1];
    assert_eq!(
        (s.mode, s.level, s.expose_fd_listeners),
        (None, StatsLevel::Admin, false)
    );
    let l = &g.logs;
    assert_eq!(l.len(), 6);
    assert_eq!(
        (&l[0].address, l[0].format, l[0].facility.as_str()),
        (&LogAddress::Stdout, LogFormat::Raw, "local0")
    );
    assert_eq!(l[0].level, None);
    assert_eq!(l[1].address, LogAddress::Udp(sa("127.0.0.1:5140")));
    assert_eq!(
        (l[1].format, l[1].max_len),
        (LogFormat::Rfc5424, Some(2048))
    );
    assert_eq!(
        (l[1].level.as_deref(), l[1].minlevel.as_deref()),
        (Some("info"), Some("notice"))
    );
    assert_eq!(l[2].address, LogAddress::Udp(sa("127.0.0.1:514")));
    assert_eq!(l[2].format, LogFormat::Rfc3164);
    assert_eq!(l[3].address, LogAddress::Udp(sa("10.0.0.1:1514")));
    assert_eq!(l[4].address, LogAddress::Unix(PathBuf::from("/dev/log")));
    assert_eq!(
        (&l[5].address, l[5].format),
        (&LogAddress::Stderr, LogFormat::Short)
    );
    assert_eq!(l[5].location.line, 16);
}

#[test]
fn global_uid_gid_and_merge() {
    let c = ok_both("global\n uid 100\nglobal\n gid 101\n maxconn 10\n");
    assert_eq!(c.global.user.as_deref(), Some("100"));
    assert_eq!(c.global.group.as_deref(), Some("101"));
    assert_eq!(c.global.maxconn, Some(10));
    assert!(c.proxies.is_empty());
}

#[test]
fn empty_config_is_valid() {
    let c = ok("");
    assert_eq!(c.global, Global::default());
    assert!(c.proxies.is_empty());
    ok("# nothing\n\n   \n");
}

#[test]
fn proxy_defaults_values() {
    let c =
        ok("frontend f\n bind :18080\n default_backend b\nbackend b\n server s 127.0.0.1:18081\n");
    let f = proxy(&c, "f", ProxyKind::Frontend);
    assert_eq!(f.mode, Mode::Tcp);
    assert_eq!(f.binds[0].addrs, [sa("0.0.0.0:18080")]);
    assert_eq!(f.default_backend.as_deref(), Some("b"));
    let b = backend(&c, "b");
    assert_eq!(
        (b.balance.clone(), b.hash_type, b.retries),
        (Balance::RoundRobin, HashType::MapBased, 3)
    );
    assert_eq!(b.timeouts, Timeouts::default());
    assert_eq!(b.http_conn_mode, HttpConnMode::KeepAlive);
    assert!(b.forwardfor.is_none() && b.httpchk.is_none() && b.http_check.is_empty());
    assert!(
        !b.redispatch
            && !b.allbackups
            && !b.httplog
            && !b.tcplog
            && !b.dontlognull
            && !b.log_global
    );
    let s = &b.servers[0];
    assert_eq!(s.addr, sa("127.0.0.1:18081"));
    assert_eq!(
        (s.weight, s.backup, s.check, s.rise, s.fall),
        (1, false, false, 2, 3)
    );
    assert_eq!(
        (s.inter, s.fastinter, s.downinter),
        (
            Duration::from_secs(2),
            Duration::from_secs(2),
            Duration::from_secs(2)
        )
    );
    assert_eq!(
        (
            s.check_port,
            s.check_addr,
            s.maxconn,
            s.maxqueue,
            s.slowstart,
            s.disabled
        ),
        (None, None, None, None, None, false)
    );
    assert_eq!(s.location.line, 5);
    assert_eq!(b.location.line, 4);
}

#[test]
fn all_timeouts_and_units() {
    let c = ok_both(
        "defaults\n timeout connect 5000\n timeout client 30s\n timeout server 1m\n timeout http-request 10s\n\
         timeout http-keep-alive 500ms\n timeout tunnel 1h\n timeout queue 2s\n timeout check 1500\n\
         timeout client-fin 1s\n timeout server-fin 1d\nbackend b\n",
    );
    let t = &backend(&c, "b").timeouts;
    assert_eq!(t.connect, Some(Duration::from_secs(5)));
    assert_eq!(t.client, Some(Duration::from_secs(30)));
    assert_eq!(t.server, Some(Duration::from_secs(60)));
    assert_eq!(t.http_request, Some(Duration::from_secs(10)));
    assert_eq!(t.http_keep_alive, Some(Duration::from_millis(500)));
    assert_eq!(t.tunnel, Some(Duration::from_secs(3600)));
    assert_eq!(t.queue, Some(Duration::from_secs(2)));
    assert_eq!(t.check, Some(Duration::from_millis(1500)));
    assert_eq!(t.client_fin, Some(Duration::from_secs(1)));
    assert_eq!(t.server_fin, Some(Duration::from_secs(86400)));
    let c =
        ok("defaults\n timeout server 100us\n timeout connect 5s\nbackend b\n timeout connect 0\n");
    let t = &backend(&c, "b").timeouts;
    assert_eq!(t.server, Some(Duration::from_micros(100)));
    assert_eq!(t.connect, None, "0 means no timeout");
}

#[test]
fn modes_and_connection_options() {
    let c = ok_both(&format!(
        "{DEFAULTS}listen a\n bind :18080\n option httpclose\nlisten b\n bind :18081\n option http-server-close\n\
         listen c\n bind :18082\n option httpclose\n option http-keep-alive\nlisten d\n bind :18083\n option httpclose\n no option httpclose\n\
         listen e\n bind :18084\n mode tcp\n option http-server-close\n option httpclose\n"
    ));
    let m = |n| backend(&c, n).http_conn_mode;
    assert_eq!(m("a"), HttpConnMode::Close);
    assert_eq!(m("b"), HttpConnMode::ServerClose);
    assert_eq!(m("c"), HttpConnMode::KeepAlive);
    assert_eq!(m("d"), HttpConnMode::KeepAlive);
    assert_eq!(m("e"), HttpConnMode::Close, "the last one wins");
    assert_eq!(backend(&c, "a").mode, Mode::Http);
    assert_eq!(backend(&c, "e").mode, Mode::Tcp);
}

#[test]
fn boolean_options_and_negation() {
    let c = ok_both(&format!(
        "{DEFAULTS} option redispatch\n option allbackups\n option httplog\n option dontlognull\n log global\n\
         listen on\n bind :18080\nlisten off\n bind :18081\n no option redispatch\n no option allbackups\n no option dontlognull\n\
         listen tcp\n mode tcp\n bind :18082\n option tcplog\n"
    ));
    let on = backend(&c, "on");
    assert!(on.redispatch && on.allbackups && on.httplog && on.dontlognull && !on.tcplog);
    let off = backend(&c, "off");
    assert!(!off.redispatch && !off.allbackups && off.httplog && !off.dontlognull);
    assert!(backend(&c, "tcp").tcplog);
}

/// `option httpslog` is httplog with the TLS fields; of it and `option httplog`, the later line wins.
#[test]
fn httpslog_and_httplog() {
    let c = ok_both(&format!(
        "{DEFAULTS} option httpslog
 log global
         listen inherited
 bind :18080
         listen plain
 bind :18081
 option httplog
         listen again
 bind :18082
 option httplog
 option httpslog
"
    ));
    let l = |n| {
        let b = backend(&c, n);
        (b.httplog, b.httpslog)
    };
    assert_eq!(l("inherited"), (true, true));
    assert_eq!(l("plain"), (true, false));
    assert_eq!(l("again"), (true, true));
}

#[test]
fn forwardfor_forms() {
    let c = ok_both(&format!(
        "{DEFAULTS}listen a\n bind :18080\n option forwardfor\nlisten b\n bind :18081\n option forwardfor except 10.0.0.0/8 header X-Client if-none\n\
         listen c\n bind :18082\n option forwardfor except 192.168.0.0/255.255.0.0\n"
    ));
    let f = backend(&c, "a").forwardfor.clone().unwrap();
    assert_eq!(
        f,
        ForwardFor {
            except: None,
            header: "X-Forwarded-For".into(),
            if_none: false
        }
    );
    let f = backend(&c, "b").forwardfor.clone().unwrap();
    assert_eq!(f.except, Some(("10.0.0.0".parse().unwrap(), 8)));
    assert_eq!((f.header.as_str(), f.if_none), ("X-Client", true));
    let f = backend(&c, "c").forwardfor.clone().unwrap();
    assert_eq!(f.except, Some(("192.168.0.0".parse().unwrap(), 16)));
}

#[test]
fn httpchk_and_expect() {
    let c = ok_both(&format!(
        "{DEFAULTS}backend a\n option httpchk\nbackend b\n option httpchk /health\n http-check expect status 204\n\
         backend c\n option httpchk HEAD /ping\n http-check expect string OK\n\
         backend d\n option httpchk GET /h HTTP/1.1\n http-check expect rstatus ^2\n"
    ));
    let h = |n| backend(&c, n).httpchk.clone().unwrap();
    assert_eq!(
        h("a"),
        HttpCheck {
            method: "OPTIONS".into(),
            uri: "/".into(),
            version: "HTTP/1.0".into(),
            headers: vec![],
            body: None,
            uri_lf: false,
            body_lf: false,
            headers_lf: false,
        }
    );
    assert_eq!(
        (h("b").method, h("b").uri),
        ("OPTIONS".into(), "/health".into())
    );
    assert_eq!(
        (h("c").method, h("c").uri, h("c").version),
        ("HEAD".into(), "/ping".into(), "HTTP/1.0".into())
    );
    assert_eq!(h("d").version, "HTTP/1.1");
    assert_eq!(
        backend(&c, "b").http_expects()[0].0,
        &HttpExpect::Status(204)
    );
    assert_eq!(
        backend(&c, "c").http_expects()[0].0,
        &HttpExpect::String("OK".into())
    );
    assert_eq!(
        backend(&c, "d").http_expects()[0].0,
        &HttpExpect::RStatus("^2".into())
    );
    // the old way of sending a Host header, still accepted by HAProxy 2.6 with a deprecation warning
    let c = ok(r"backend b
 option httpchk GET /h HTTP/1.1\r\nHost:\ www.example.com
");
    let h = backend(&c, "b").httpchk.clone().unwrap();
    assert_eq!(
        (h.version.as_str(), h.headers.clone()),
        ("HTTP/1.1", vec![("Host".into(), "www.example.com".into())])
    );
}

/// `http-check send` merged with `option httpchk` as HAProxy 2.6 merges them, and the ruleset of a defaults
/// section dropped by a backend that starts its own (`option httpchk` or any `http-check` line).
#[test]
fn http_check_send() {
    let hdrs = |l: &[(&str, &str)]| -> Vec<(String, String)> {
        l.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    let c = ok_both(&format!(
        r#"{DEFAULTS} option httpchk GET /status HTTP/1.1\r\nHdr:\ must-be-removed
 http-check send hdr Host "my-www-host" hdr X-test true body "test"
 http-check expect status 200
backend inherits
 server s 127.0.0.1:8080 check
backend option
 option httpchk
 server s 127.0.0.1:8080 check
backend send
 http-check send hdr Host other body "other test" comment "why"
 server s 127.0.0.1:8080 check
backend upgrade
 http-check send meth GET uri / ver HTTP/1.1 hdr connection upgrade hdr upgrade raw-proto
 http-check expect status 101
 server s 127.0.0.1:8080 check
backend send_then_option
 http-check send meth HEAD hdr X-a 1
 option httpchk GET /x
 server s 127.0.0.1:8080 check
"#
    ));
    let chk = |n| backend(&c, n).httpchk.clone().unwrap();
    let i = chk("inherits");
    assert_eq!(
        (i.method.as_str(), i.uri.as_str(), i.version.as_str()),
        ("GET", "/status", "HTTP/1.1")
    );
    assert_eq!(
        i.headers,
        hdrs(&[("Host", "my-www-host"), ("X-test", "true")])
    );
    assert_eq!(i.body.as_deref(), Some("test"));
    assert_eq!(
        backend(&c, "inherits").http_expects().first().map(|e| e.0),
        Some(&HttpExpect::Status(200))
    );
    // `option httpchk` in the backend: HAProxy's defaults again, no expect rule.
    let o = chk("option");
    assert_eq!(
        (o.method.as_str(), o.uri.as_str(), o.version.as_str()),
        ("OPTIONS", "/", "HTTP/1.0")
    );
    assert!(o.headers.is_empty() && o.body.is_none());
    assert_eq!(backend(&c, "option").http_expects().first(), None);
    // `http-check send` alone: still an HTTP check (the type comes from the defaults), its own request.
    let s = chk("send");
    assert_eq!(
        (s.method.as_str(), s.version.as_str()),
        ("OPTIONS", "HTTP/1.0")
    );
    assert_eq!(s.headers, hdrs(&[("Host", "other")]));
    assert_eq!(s.body.as_deref(), Some("other test"));
    assert_eq!(backend(&c, "send").http_expects().first(), None);
    let u = chk("upgrade");
    assert_eq!(
        u.headers,
        hdrs(&[("connection", "upgrade"), ("upgrade", "raw-proto")])
    );
    assert_eq!(
        backend(&c, "upgrade").http_expects().first().map(|e| e.0),
        Some(&HttpExpect::Status(101))
    );
    // `option httpchk` after `http-check send` overwrites what it sets, keeps the rest.
    let m = chk("send_then_option");
    assert_eq!((m.method.as_str(), m.uri.as_str()), ("GET", "/x"));
    assert_eq!(m.headers, hdrs(&[("X-a", "1")]));
}

#[test]
fn http_check_send_errors() {
    let be = |body: &str| {
        format!("{DEFAULTS}backend b\n option httpchk\n{body} server s 127.0.0.1:8080 check\n")
    };
    // The first line of `body` is line 8 (after the 5 of DEFAULTS, 'backend' and 'option httpchk').
    err1_both(
        &be(" http-check send foo\n"),
        8,
        "http-check send",
        "but got 'foo' as argument",
    );
    err1_both(
        &be(" http-check send meth GET\n http-check send meth HEAD\n"),
        9,
        "http-check send",
        "missing connect rule",
    );
    err1_both(
        &be(" http-check expect status 200\n http-check send meth HEAD\n"),
        9,
        "http-check send",
        "missing connect rule",
    );
    // Log-format parts: compiled when the configuration loads.
    err1(
        &be(" http-check send uri-lf /%[nope()]\n"),
        8,
        "http-check send",
        "nope",
    );
    err1(
        &be(" http-check send hdr x-test %[srv_name\n"),
        8,
        "http-check send",
        "srv_name",
    );
    // What HAProxy accepts and fulcrum does not do yet.
    err1(
        &be(" http-check send ver HTTP/2.0\n"),
        8,
        "http-check send",
        "HTTP/1.0 or HTTP/1.1",
    );
    // `disable-on-404`: a flag of the proxy (as HAProxy's option flags), inherited from defaults even by a
    // backend with its own `option httpchk`, taking no argument.
    let c = ok_both(&format!(
        "{DEFAULTS} option httpchk\n http-check disable-on-404\nbackend b\n server s 127.0.0.1:80 check\nbackend c\n option httpchk\n server s 127.0.0.1:80 check\n\
         defaults\n mode http\nbackend d\n option httpchk\n server s 127.0.0.1:80 check\n"
    ));
    assert!(backend(&c, "b").http_disable_on_404);
    assert!(backend(&c, "c").http_disable_on_404);
    assert!(!backend(&c, "d").http_disable_on_404);
    err1(
        &be(" http-check disable-on-404 now\n"),
        8,
        "http-check disable-on-404",
        "argument",
    );
}

#[test]
fn log_health_checks() {
    let c = ok_both(&format!(
        "{DEFAULTS} option log-health-checks\nbackend a\n server s 127.0.0.1:8080 check\n\
         backend b\n no option log-health-checks\n server s 127.0.0.1:8080 check\n"
    ));
    assert!(backend(&c, "a").log_health_checks);
    assert!(!backend(&c, "b").log_health_checks);
}

#[test]
fn balance_algorithms() {
    let algos = [
        ("roundrobin", Balance::RoundRobin),
        ("static-rr", Balance::StaticRr),
        ("leastconn", Balance::LeastConn),
        ("first", Balance::First),
        ("source", Balance::Source),
        (
            "uri",
            Balance::Uri {
                len: None,
                depth: None,
                whole: false,
                path_only: false,
            },
        ),
        (
            "uri len 10 depth 3 whole",
            Balance::Uri {
                len: Some(10),
                depth: Some(3),
                whole: true,
                path_only: false,
            },
        ),
        (
            "uri path-only",
            Balance::Uri {
                len: None,
                depth: None,
                whole: false,
                path_only: true,
            },
        ),
        ("url_param userid", Balance::UrlParam("userid".into())),
        ("hdr(Host)", Balance::Hdr("Host".into())),
        ("random", Balance::Random(2)),
        ("random(5)", Balance::Random(5)),
    ];
    let mut text = DEFAULTS.to_string();
    for (i, (a, _)) in algos.iter().enumerate() {
        text.push_str(&format!("backend b{i}\n balance {a}\n"));
    }
    let c = ok_both(&text);
    for (i, (a, want)) in algos.iter().enumerate() {
        assert_eq!(&backend(&c, &format!("b{i}")).balance, want, "{a}");
    }
}

#[test]
fn hash_types() {
    let c = ok_both(&format!(
        "{DEFAULTS}backend a\n hash-type consistent\nbackend b\n hash-type map-based\nbackend c\n hash-type consistent sdbm avalanche\n\
         backend d\n balance source\n hash-type consistent djb2\n"
    ));
    assert_eq!(backend(&c, "a").hash_type, HashType::Consistent);
    assert_eq!(backend(&c, "b").hash_type, HashType::MapBased);
    assert_eq!(backend(&c, "c").hash_type, HashType::Consistent);
    assert_eq!(backend(&c, "d").hash_type, HashType::Consistent);
}

#[test]
fn retries_maxconn_default_backend() {
    let c = ok_both(&format!(
        "{DEFAULTS} maxconn 100\n retries 5\nfrontend f\n bind :18080\n maxconn 50\n default_backend b\nbackend b\n retries 0\n"
    ));
    let f = proxy(&c, "f", ProxyKind::Frontend);
    assert_eq!(f.maxconn, Some(50));
    assert_eq!(f.default_backend.as_deref(), Some("b"));
    let b = backend(&c, "b");
    assert_eq!(b.retries, 0);
    assert_eq!(
        b.maxconn,
        Some(100),
        "inherited from defaults (only meaningful for frontends)"
    );
}

#[test]
fn proxy_log_lines() {
    let c = ok_both(&format!(
        "global\n log 127.0.0.1:5140 local0\n{DEFAULTS} log global\nfrontend a\n bind :18080\nfrontend b\n bind :18081\n no log\n\
         frontend c\n bind :18082\n log 127.0.0.1:5141 local1 info\nfrontend d\n bind :18083\n no log\n log stdout format raw daemon\n"
    ));
    let p = |n| proxy(&c, n, ProxyKind::Frontend);
    assert!(p("a").log_global && p("a").logs.is_empty());
    assert!(!p("b").log_global && p("b").logs.is_empty());
    assert!(p("c").log_global);
    assert_eq!(p("c").logs.len(), 1);
    assert_eq!(
        p("c").logs[0].address,
        LogAddress::Udp(sa("127.0.0.1:5141"))
    );
    assert!(!p("d").log_global);
    assert_eq!(p("d").logs[0].address, LogAddress::Stdout);
}

#[test]
fn bind_forms() {
    let c = ok_both(&format!(
        "{DEFAULTS}frontend f\n bind 127.0.0.1:18080\n bind :18081\n bind *:18082\n bind [::1]:18083\n bind :::18084 v6only\n\
         bind ipv4@:18085\n bind ipv6@:18086 v4v6 name dual\n bind 127.0.0.1:18087,127.0.0.1:18088\n bind 127.0.0.1:18090-18092\n\
         bind ::1:18093\n default_backend b\nbackend b\n"
    ));
    let f = proxy(&c, "f", ProxyKind::Frontend);
    let addrs: Vec<Vec<SocketAddr>> = f.binds.iter().map(|b| b.addrs.clone()).collect();
    assert_eq!(
        addrs,
        vec![
            vec![sa("127.0.0.1:18080")],
            vec![sa("0.0.0.0:18081")],
            vec![sa("0.0.0.0:18082")],
            vec![sa("[::1]:18083")],
            vec![sa("[::]:18084")],
            vec![sa("0.0.0.0:18085")],
            vec![sa("[::]:18086")],
            vec![sa("127.0.0.1:18087"), sa("127.0.0.1:18088")],
            vec![
                sa("127.0.0.1:18090"),
                sa("127.0.0.1:18091"),
                sa("127.0.0.1:18092")
            ],
            vec![sa("[::1]:18093")],
        ]
    );
    assert!(f.binds[4].v6only && !f.binds[4].v4v6);
    assert!(f.binds[6].v4v6);
    assert_eq!(f.binds[6].name.as_deref(), Some("dual"));
    assert_eq!(f.binds[0].location.line, 7);
    // host names are resolved
    let c = ok("frontend f\n bind app.test:18080\n");
    assert_eq!(c.proxies[0].binds[0].addrs, [sa("127.0.0.2:18080")]);
}

#[test]
fn server_options() {
    let c = ok_both(&format!(
        "{DEFAULTS}backend b\n server a 127.0.0.1:18081 check inter 1s fastinter 200ms downinter 10s rise 5 fall 7 weight 256\n\
         server c 127.0.0.1:18082 backup port 18099 addr 127.0.0.9 maxconn 30 maxqueue 40 slowstart 30s disabled\n\
         server d 127.0.0.1:18083 check inter 3s weight 0\n server e [::1]:18084 disabled enabled\n server f ::1:18085\n\
         server g ipv4@127.0.0.1:18086 maxconn 0 pool-max-conn -1\n server h 127.0.0.1:18087 pool-max-conn 0\n\
         default-server pool-max-conn 3\n server i 127.0.0.1:18088\n"
    ));
    let b = backend(&c, "b");
    let s = &b.servers;
    assert_eq!(s.len(), 8);
    assert_eq!(
        (
            s[0].pool_max_conn,
            s[5].pool_max_conn,
            s[6].pool_max_conn,
            s[7].pool_max_conn
        ),
        (None, None, Some(0), Some(3))
    );
    assert!(s[0].check);
    assert_eq!(
        (s[0].inter, s[0].fastinter, s[0].downinter),
        (
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(10)
        )
    );
    assert_eq!((s[0].rise, s[0].fall, s[0].weight), (5, 7, 256));
    assert!(s[1].backup && s[1].disabled && !s[1].check);
    assert_eq!(s[1].check_port, Some(18099));
    assert_eq!(s[1].check_addr, Some("127.0.0.9".parse().unwrap()));
    // `addr IP:PORT` sends the checks to that port unless `port` says otherwise (haproxy 2.6, observed).
    let with_ports = ok_both(&format!(
        "{DEFAULTS}backend b\n server a 127.0.0.1:18081 check addr 127.0.0.2:18091\n\
         server b 127.0.0.1:18082 check port 18099 addr 127.0.0.3:80\n"
    ));
    let t = &backend(&with_ports, "b").servers;
    assert_eq!(
        (t[0].check_addr, t[0].check_port),
        ("127.0.0.2".parse().ok(), Some(18091))
    );
    assert_eq!(
        (t[1].check_addr, t[1].check_port),
        ("127.0.0.3".parse().ok(), Some(18099))
    );
    assert_eq!(
        (s[1].maxconn, s[1].maxqueue, s[1].slowstart),
        (Some(30), Some(40), Some(Duration::from_secs(30)))
    );
    assert_eq!(
        (s[2].inter, s[2].fastinter, s[2].downinter),
        (
            Duration::from_secs(3),
            Duration::from_secs(3),
            Duration::from_secs(3)
        )
    );
    assert_eq!(s[2].weight, 0);
    assert!(!s[3].disabled, "the last of disabled/enabled wins");
    assert_eq!(s[3].addr, sa("[::1]:18084"));
    assert_eq!(s[4].addr, sa("[::1]:18085"));
    assert_eq!(s[5].maxconn, None, "maxconn 0 means no limit");
}

#[test]
fn server_host_names_are_resolved() {
    let c = ok("backend b\n server a app.test:80\n server b v6.test:81\n server c dual.test:82\n server d ipv4@dual.test:83\n server e ipv6@dual.test:84\n");
    let a: Vec<SocketAddr> = backend(&c, "b").servers.iter().map(|s| s.addr).collect();
    assert_eq!(
        a,
        [
            sa("127.0.0.2:80"),
            sa("[::1]:81"),
            sa("[::1]:82"),
            sa("127.0.0.3:83"),
            sa("[::1]:84")
        ]
    );
}

#[test]
fn server_with_system_resolver() {
    let c = parse_str("sys.cfg", "backend b\n server a localhost:18081\n").unwrap();
    assert!(c.proxies[0].servers[0].addr.ip().is_loopback());
    assert_eq!(c.proxies[0].servers[0].addr.port(), 18081);
}

#[test]
fn default_server_merge() {
    let c = ok_both(&format!(
        "{DEFAULTS} default-server inter 3s rise 4 weight 10\nbackend a\n server a1 127.0.0.1:18081\n\
         default-server check fall 9 weight 20\n server a2 127.0.0.1:18082\n server a3 127.0.0.1:18083 no-check weight 5 rise 1\n\
         backend b\n server b1 127.0.0.1:18084 check\n default-server backup disabled\n server b2 127.0.0.1:18085 no-backup enabled\n server b3 127.0.0.1:18086\n"
    ));
    let a = &backend(&c, "a").servers;
    // a1: only the defaults' default-server applies (the backend's default-server comes after it)
    assert_eq!(
        (a[0].inter, a[0].rise, a[0].fall, a[0].weight, a[0].check),
        (Duration::from_secs(3), 4, 3, 10, false)
    );
    assert_eq!(
        (a[1].inter, a[1].rise, a[1].fall, a[1].weight, a[1].check),
        (Duration::from_secs(3), 4, 9, 20, true)
    );
    assert_eq!(
        (a[2].rise, a[2].fall, a[2].weight, a[2].check),
        (1, 9, 5, false),
        "the server line wins"
    );
    assert_eq!(
        a[1].fastinter,
        Duration::from_secs(3),
        "fastinter follows the merged inter"
    );
    let b = &backend(&c, "b").servers;
    assert_eq!((b[0].weight, b[0].check, b[0].backup), (10, true, false));
    assert_eq!((b[1].backup, b[1].disabled), (false, false));
    assert_eq!((b[2].backup, b[2].disabled), (true, true));
}

#[test]
fn defaults_apply_to_following_proxies_and_are_replaced() {
    let c = ok_both(
        "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n option forwardfor\n balance leastconn\n retries 7\n\
         backend one\ndefaults\n mode tcp\n timeout connect 2s\n timeout client 2s\n timeout server 2s\nbackend two\n",
    );
    let one = backend(&c, "one");
    assert_eq!(
        (one.mode, one.balance.clone(), one.retries),
        (Mode::Http, Balance::LeastConn, 7)
    );
    assert!(one.forwardfor.is_some());
    assert_eq!(one.timeouts.connect, Some(Duration::from_secs(1)));
    let two = backend(&c, "two");
    assert_eq!(
        (two.mode, two.balance.clone(), two.retries),
        (Mode::Tcp, Balance::RoundRobin, 3),
        "nothing of the first defaults is left"
    );
    assert!(two.forwardfor.is_none());
    assert_eq!(two.timeouts.connect, Some(Duration::from_secs(2)));
    assert_eq!(two.timeouts.http_request, None);
}

#[test]
fn proxy_overrides_defaults() {
    let c = ok_both(&format!("{DEFAULTS} balance source\nbackend b\n mode tcp\n balance roundrobin\n timeout server 9s\n"));
    let b = backend(&c, "b");
    assert_eq!(
        (b.mode, b.balance.clone()),
        (Mode::Tcp, Balance::RoundRobin)
    );
    assert_eq!(b.timeouts.server, Some(Duration::from_secs(9)));
    assert_eq!(b.timeouts.client, Some(Duration::from_secs(1)));
}

#[test]
fn named_defaults_and_from() {
    let c = ok_both(
        "defaults web\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         defaults tcp\n mode tcp\n timeout connect 2s\n timeout client 2s\n timeout server 2s\n\
         backend implicit\nbackend explicit from web\ndefaults derived from web\n retries 9\nbackend last\n",
    );
    assert_eq!(
        backend(&c, "implicit").mode,
        Mode::Tcp,
        "the last defaults section applies"
    );
    assert_eq!(backend(&c, "explicit").mode, Mode::Http);
    assert_eq!(
        (backend(&c, "last").mode, backend(&c, "last").retries),
        (Mode::Http, 9)
    );
}

#[test]
fn frontend_and_backend_may_share_a_name() {
    let c = ok_both(&format!(
        "{DEFAULTS}frontend app\n bind :18080\n default_backend app\nbackend app\n"
    ));
    assert_eq!(c.proxies.len(), 2);
    assert_eq!(c.backend("app").unwrap().kind, ProxyKind::Backend);
}

#[test]
fn listen_is_both() {
    let c = ok_both(&format!("{DEFAULTS}listen l\n bind :18080\n server s 127.0.0.1:18081\nfrontend f\n bind :18081\n default_backend l\n"));
    assert_eq!(c.backend("l").unwrap().kind, ProxyKind::Listen);
    assert_eq!(
        c.proxies
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["l", "f"],
        "file order"
    );
}

#[test]
fn environment_variables_and_quotes() {
    let c = ok(
        "frontend f\n bind \"${FT_ADDR}:$FT_PORT\"\n bind ${FT_MISSING-127.0.0.1}:18081\n default_backend 'b'\n\
         backend b\n server s $FT_ADDR:${FT_PORT} # a comment\n server \"x\\ y\" 127.0.0.1:1\n",
    );
    let f = proxy(&c, "f", ProxyKind::Frontend);
    assert_eq!(f.binds[0].addrs, [sa("127.0.0.1:18080")]);
    assert_eq!(f.binds[1].addrs, [sa("127.0.0.1:18081")]);
    let b = backend(&c, "b");
    assert_eq!(b.servers[0].addr, sa("127.0.0.1:18080"));
    assert_eq!(b.servers[1].name, "x y");
}

#[test]
fn sections_continue_across_sources() {
    let opts = ParseOptions {
        env: &env,
        resolve: &resolve,
    };
    let c = parse_sources_with(
        &[
            (
                PathBuf::from("a.cfg"),
                "global\n maxconn 5\nbackend b\n server s1 127.0.0.1:1\n".into(),
            ),
            (
                PathBuf::from("b.cfg"),
                " server s2 127.0.0.1:2\nfrontend f\n bind :18080\n".into(),
            ),
        ],
        &opts,
    )
    .unwrap();
    let b = backend(&c, "b");
    assert_eq!(b.servers.len(), 2);
    assert_eq!(b.servers[1].location.file.to_str(), Some("b.cfg"));
    assert_eq!(b.servers[1].location.line, 1);
}

#[test]
fn splice_keywords() {
    // `nosplice` turns splicing off; the `option splice-*` hints load in every proxy section, negated or not.
    // fulcrum splices every tcp-mode connection whatever they say; in mode http `splice-response` splices
    // response bodies, `splice-request` request bodies, and `splice-auto` (its own setting, as in HAProxy) both.
    let c = ok_both(
        "global\n nosplice\ndefaults\n mode tcp\n option splice-auto\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         frontend f\n bind 127.0.0.1:8080\n option splice-request\n default_backend b\n\
         backend b\n option splice-response\n no option splice-auto\n server s 127.0.0.1:80\n\
         listen l\n mode http\n bind 127.0.0.1:8081\n option splice-auto\n server s 127.0.0.1:80\n",
    );
    assert!(c.global.nosplice);
    assert!(!backend(&c, "b").splice_response, "mode tcp");
    assert!(backend(&c, "l").splice_response);
    let c = ok_both("global\n nbthread 1\n");
    assert!(!c.global.nosplice);
    let c = ok_both(
        "defaults\n mode http\n option splice-auto\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         frontend f\n bind 127.0.0.1:8080\n option splice-request\n no option splice-auto\n default_backend b\n\
         backend b\n option splice-response\n no option splice-auto\n server s 127.0.0.1:80\n\
         backend off\n no option splice-auto\n server s 127.0.0.1:80\n\
         backend auto\n server s 127.0.0.1:80\n",
    );
    let on = |name: &str| {
        c.proxies
            .iter()
            .find(|p| p.name == name)
            .expect("proxy")
            .splice_response
    };
    assert_eq!(
        (on("f"), on("b"), on("off"), on("auto")),
        (false, true, false, true)
    );
    let requests = |name: &str| {
        c.proxies
            .iter()
            .find(|p| p.name == name)
            .expect("proxy")
            .splice_request
    };
    assert_eq!(
        (
            requests("f"),
            requests("b"),
            requests("off"),
            requests("auto")
        ),
        (true, false, false, true)
    );
}

#[test]
fn splice_keywords_take_no_argument() {
    let e = parse_str("t.cfg", "global\n nosplice 1\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t.cfg:2") && e.contains("'nosplice'") && e.contains("expects no argument"),
        "{e}"
    );
    let e = parse_str("t.cfg", "defaults\n option splice-auto on\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t.cfg:2") && e.contains("option splice-auto"),
        "{e}"
    );
}

/// `program NAME` sections (run by the master process) and `master-worker` in global.
#[test]
fn program_sections_and_master_worker() {
    let c = ok_both(
        "global\n master-worker\nprogram foo\n command sleep \"10 s\" x\n user nobody\n group nogroup\n option start-on-reload\n no option start-on-reload\nprogram bar\n command /bin/true\n option start-on-reload\n",
    );
    assert!(c.global.master_worker);
    assert_eq!(c.programs.len(), 2);
    let foo = &c.programs[0];
    assert_eq!(foo.name, "foo");
    assert_eq!(foo.command, ["sleep", "10 s", "x"]);
    assert_eq!(foo.user.as_deref(), Some("nobody"));
    assert_eq!(foo.group.as_deref(), Some("nogroup"));
    assert!(!foo.start_on_reload);
    assert_eq!(foo.location.line, 3);
    assert_eq!(c.programs[1].command, ["/bin/true"]);
    assert!(c.programs[1].start_on_reload);
    assert!(!ok("global\n maxconn 10\n").global.master_worker);
}

/// `crl-file` on server lines (HAProxy's keyword, under `ca-base` when the proxy reads it), inherited from
/// `default-server` and overridden by the server line.
#[test]
fn server_crl_file_is_taken_and_inherited() {
    let c = fulcrum_config::haproxy::parse_str(
        "t.cfg",
        &format!(
            "{DEFAULTS}backend b\n default-server ssl verify required ca-file ca.pem crl-file crl.pem\n server b1 127.0.0.1:18081\n server b2 127.0.0.1:18082 crl-file other.pem\n"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let b = &backend(&c, "b").servers;
    let crl = |i: usize| b[i].tls.as_ref().and_then(|t| t.crl_file.clone());
    assert_eq!(crl(0), Some("crl.pem".into()));
    assert_eq!(crl(1), Some("other.pem".into()));
}

#[test]
fn server_tls_options_merge_with_default_server_and_global() {
    let c = ok_both(&format!(
        "global\n ssl-server-verify none\n ssl-default-server-options ssl-min-ver TLSv1.2 no-tls-tickets\n ssl-default-server-ciphersuites TLS_AES_128_GCM_SHA256\n\
         {DEFAULTS} default-server ssl sni str(app.test) alpn http/1.1 no-ssl-reuse\nbackend a\n server a1 127.0.0.1:18081 check\n\
         server a2 127.0.0.1:18082 no-ssl check port 81 check-ssl check-sni chk.test ssl-max-ver TLSv1.3 verify none\n\
         server a3 127.0.0.1:18083 check port 81\n server a4 127.0.0.1:18084 no-ssl\n"
    ));
    let a = &backend(&c, "a").servers;
    let t1 = a[0].tls.as_ref().expect("a1 has TLS");
    assert!(t1.traffic && t1.checks && !t1.verify && !t1.reuse);
    assert_eq!(t1.sni.as_ref().map(|e| e.0.source()), Some("str(app.test)"));
    assert_eq!(t1.alpn, vec!["http/1.1".to_string()]);
    assert_eq!(t1.options.min_ver, Some(ssl::TlsVersion::Tls12));
    assert!(t1.options.no_tls_tickets);
    assert_eq!(
        t1.options.ciphersuites.as_deref(),
        Some("TLS_AES_128_GCM_SHA256")
    );
    // Checks over TLS on a clear-text server (`check-ssl`), with their own SNI.
    let t2 = a[1].tls.as_ref().expect("a2 checks over TLS");
    assert!(!t2.traffic && t2.checks);
    assert_eq!(t2.check_sni.as_deref(), Some("chk.test"));
    assert_eq!(t2.options.max_ver, Some(ssl::TlsVersion::Tls13));
    // An `ssl` server checked on another port is checked in clear text; `no-ssl` turns TLS off, keeping the
    // settings `set server ... ssl on` would use.
    let t3 = a[2].tls.as_ref().expect("a3 has TLS");
    assert!(t3.traffic && !t3.checks && !a[2].no_ssl);
    let t4 = a[3].tls.as_ref().expect("a4 keeps its TLS settings");
    assert!(!t4.traffic && !t4.checks && a[3].no_ssl);
    // Without `ssl` or `check-ssl` anywhere there are none; `no-ssl` alone is still shown (-1 in
    // `show servers state`).
    let c = ok_both(&format!(
        "{DEFAULTS}backend b\n server b1 127.0.0.1:18081 no-ssl\n server b2 127.0.0.1:18082\n"
    ));
    let b = &backend(&c, "b").servers;
    assert!(b[0].tls.is_none() && b[0].no_ssl);
    assert!(b[1].tls.is_none() && !b[1].no_ssl);
    // Settings kept only for the runtime API must verify too (haproxy 2.6 refuses this one as well).
    let e = fulcrum_config::haproxy::parse_str(
        "t.cfg",
        &format!("{DEFAULTS}backend b\n default-server ssl\n server b1 127.0.0.1:18081 no-ssl\n"),
    )
    .expect_err("verify required without a CA file");
    assert!(e.to_string().contains("no CA file specified"), "{e}");
}

/// `option accept-invalid-http-request` / `-response` and their `no` forms: taken in every proxy section, read where
/// the proxy has the side they act on (and in `mode http`), warned about elsewhere in HAProxy 2.6.12's words
/// (compared with what `haproxy -c` prints).
#[test]
fn accept_invalid_http_options() {
    let text = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n    \
                option accept-invalid-http-request\n    option accept-invalid-http-response\n\
                frontend f\n    bind 127.0.0.1:18999\n    option accept-invalid-http-response\n    default_backend b\n\
                backend b\n    no option accept-invalid-http-request\n    no option accept-invalid-http-response\n    \
                server s 127.0.0.1:1\n\
                listen l\n    bind 127.0.0.1:18998\n    no option accept-invalid-http-request\n    server s 127.0.0.1:1\n\
                defaults\n    mode tcp\n    option accept-invalid-http-request\n\
                listen t\n    bind 127.0.0.1:18997\n    server s 127.0.0.1:1\n";
    let c = ok_both(text);
    let f = proxy(&c, "f", ProxyKind::Frontend);
    assert!(f.accept_invalid_request && !f.accept_invalid_response);
    let b = backend(&c, "b");
    assert!(!b.accept_invalid_request && !b.accept_invalid_response);
    let l = proxy(&c, "l", ProxyKind::Listen);
    assert!(!l.accept_invalid_request && l.accept_invalid_response);
    let t = proxy(&c, "t", ProxyKind::Listen);
    assert!(!t.accept_invalid_request);
    let expected = [
        (10, "'accept-invalid-http-response' ignored because frontend 'f' has no backend capability."),
        (13, "'accept-invalid-http-request' ignored because backend 'b' has no frontend capability."),
        (23, "'option accept-invalid-http-request' ignored for proxy 't' as it requires HTTP mode."),
    ];
    // (The second `defaults` has no timeouts: `t` is also warned about that, see `missing_timeouts`.)
    let got: Vec<(usize, String)> = c
        .warnings
        .iter()
        .filter(|w| !w.diagnostic.message.starts_with("missing timeouts"))
        .map(|w| (w.diagnostic.location.line, w.diagnostic.message.clone()))
        .collect();
    let want: Vec<(usize, String)> = expected.iter().map(|(l, m)| (*l, m.to_string())).collect();
    assert_eq!(got, want);
    if let Some((_, out)) = haproxy_check(text) {
        for (_, m) in expected {
            assert!(out.contains(m), "haproxy -c does not say {m:?}:\n{out}");
        }
    }
    err1_both(
        "listen l\n    bind :80\n    option accept-invalid-http-request x\n",
        3,
        "option accept-invalid-http-request",
        "expects no argument, found 'x'",
    );
}

/// `grace`, `hard-stop-after` and `mworker-max-reloads`: the soft-stop and reload settings (haproxy accepts the
/// same lines).
#[test]
fn global_stop_and_reload_settings() {
    let c = ok_both("global\n grace 1500ms\n hard-stop-after 30s\n mworker-max-reloads 3\n");
    assert_eq!(c.global.grace, Some(std::time::Duration::from_millis(1500)));
    assert_eq!(
        c.global.hard_stop_after,
        Some(std::time::Duration::from_secs(30))
    );
    assert_eq!(c.global.mworker_max_reloads, Some(3));
    let c = ok_both("global\n maxconn 10\n");
    assert_eq!(
        (
            c.global.grace,
            c.global.hard_stop_after,
            c.global.mworker_max_reloads
        ),
        (None, None, None)
    );
}

#[test]
fn stats_timeout_and_maxconn() {
    // Debian's stock haproxy.cfg has `stats timeout 30s`.
    let c = ok_both("global\n stats timeout 30s\n stats maxconn 4\n");
    assert_eq!(c.global.stats_timeout, Some(Duration::from_secs(30)));
    assert_eq!(c.global.stats_maxconn, Some(4));
    let c = ok_both("global\n maxconn 10\n");
    assert_eq!(
        (c.global.stats_timeout, c.global.stats_maxconn),
        (None, None)
    );
    err1_both("global\n stats maxconn\n", 2, "stats maxconn", "");
    err1("global\n stats timeout 0\n", 2, "stats timeout", "positive");
}

/// Unix stream sockets on `bind` (with `mode`, `uid`, `gid`) and `server` lines: `/PATH`, `unix@PATH`,
/// `abns@NAME`; checked by haproxy too.
#[test]
fn unix_socket_binds_and_servers() {
    let c = ok_both(
        "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
         frontend f\n bind /tmp/fulcrum-kw-a.sock mode 600 uid 0 gid 0\n bind unix@/tmp/fulcrum-kw-b.sock,abns@kw,127.0.0.1:18080\n default_backend b\n\
         backend b\n server s1 /tmp/fulcrum-kw-c.sock\n server s2 unix@/tmp/fulcrum-kw-d.sock ssl verify none\n server s3 abns@kw\n",
    );
    let f = proxy(&c, "f", ProxyKind::Frontend);
    assert_eq!(
        f.binds[0].unix,
        [UnixAddr::Path(PathBuf::from("/tmp/fulcrum-kw-a.sock"))]
    );
    assert_eq!(
        f.binds[0].unix_perms,
        UnixPerms {
            mode: Some(0o600),
            uid: Some(0),
            gid: Some(0)
        }
    );
    assert_eq!(
        f.binds[1].unix,
        [
            UnixAddr::Path(PathBuf::from("/tmp/fulcrum-kw-b.sock")),
            UnixAddr::Abstract("kw".into())
        ]
    );
    assert_eq!(f.binds[1].addrs, [sa("127.0.0.1:18080")]);
    let b = backend(&c, "b");
    let unix: Vec<_> = b.servers.iter().map(|s| s.unix.clone()).collect();
    assert_eq!(
        unix,
        [
            Some(UnixAddr::Path(PathBuf::from("/tmp/fulcrum-kw-c.sock"))),
            Some(UnixAddr::Path(PathBuf::from("/tmp/fulcrum-kw-d.sock"))),
            Some(UnixAddr::Abstract("kw".into())),
        ]
    );
    // Health checks of such servers are not wired yet: refused with the line.
    err1(
        "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
         backend b\n server s1 /tmp/x.sock check\n",
        7,
        "server",
        "'check' on a unix socket server",
    );
}

/// `stats bind-process`, a leftover of `nbproc` haproxy 2.6 still takes: accepted with a warning, nothing kept.
#[test]
fn stats_bind_process_is_ignored_with_a_warning() {
    for v in ["", " 1", " all"] {
        let text = format!(
            "global\n stats bind-process{v}\ndefaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
             listen l\n bind 127.0.0.1:18080\n server s 127.0.0.1:18081\n"
        );
        let c = ok_both(&text);
        let got: Vec<(usize, &str)> = c
            .warnings
            .iter()
            .map(|w| (w.diagnostic.location.line, w.diagnostic.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [(
                2,
                "'stats bind-process' is ignored: there is one process (HAProxy 2.6 ignores it too)"
            )]
        );
    }
}

/// A self-signed ECDSA certificate with its key in one PEM file, made with `openssl` (so that `haproxy -c`, which
/// loads the files a configuration names, accepts the configurations below).
fn self_signed_pem(name: &str) -> String {
    let path = temp_file(name, b"");
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-subj",
            "/CN=gen test",
            "-days",
            "30",
            "-keyout",
            &path,
            "-out",
        ])
        .arg(format!("{path}.crt"))
        .output()
        .expect("openssl is needed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pem = std::fs::read(format!("{path}.crt")).unwrap();
    pem.extend(std::fs::read(&path).unwrap());
    std::fs::write(&path, pem).unwrap();
    path
}

#[test]
fn generate_certificates_and_ca_sign_file() {
    let crt = self_signed_pem("gen-crt.pem");
    let ca = self_signed_pem("gen-ca.pem");
    let c = ok_both(&format!(
        "global\n tune.ssl.ssl-ctx-cache-size 50\n{DEFAULTS}frontend f\n\
         bind 127.0.0.1:18080 ssl crt {crt} generate-certificates ca-sign-file {ca}\n\
         bind 127.0.0.1:18081 ssl crt {crt} ca-sign-file /nonexistent.pem\n\
         bind 127.0.0.1:18082 ssl crt {crt}\n default_backend b\nbackend b\n"
    ));
    assert_eq!(c.global.ssl.ctx_cache_size(), 50);
    let f = proxy(&c, "f", ProxyKind::Frontend);
    let b0 = &f.binds[0].ssl;
    assert!(b0.generate_certificates);
    assert_eq!(b0.ca_sign_file, Some(PathBuf::from(&ca)));
    // `ca-sign-file` alone is kept but read by nothing (HAProxy accepts a missing file there).
    let b1 = &f.binds[1].ssl;
    assert!(!b1.generate_certificates);
    assert_eq!(b1.ca_sign_file, Some(PathBuf::from("/nonexistent.pem")));
    assert!(!f.binds[2].ssl.generate_certificates && f.binds[2].ssl.ca_sign_file.is_none());
    // HAProxy's default cache size.
    let c = ok("frontend f\n bind :18080\n");
    assert_eq!(c.global.ssl.ctx_cache_size(), 1000);
    let c = ok("global\n tune.ssl.ssl-ctx-cache-size 0\n");
    assert_eq!(c.global.ssl.ctx_cache_size(), 0);
}

/// The TCP options of listening sockets and of server connections: `bind ... backlog defer-accept tfo tcp-ut`,
/// `option tcp-smart-accept` (on by default in `mode http`, off in `mode tcp`, as HAProxy) and `option
/// tcp-smart-connect`.
#[test]
fn tcp_socket_options() {
    let c = ok("defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
         frontend web\n bind 127.0.0.1:18080 defer-accept tfo backlog 77 tcp-ut 20s\n bind 127.0.0.1:18081 backlog 0\n default_backend b\n\
         frontend quick\n no option tcp-smart-accept\n bind 127.0.0.1:18082\n default_backend b\n\
         frontend raw\n mode tcp\n bind 127.0.0.1:18083\n default_backend t\n\
         frontend raw_smart\n mode tcp\n option tcp-smart-accept\n bind 127.0.0.1:18084\n default_backend t\n\
         backend b\n option tcp-smart-connect\n default-server tcp-ut 3s\n server s 127.0.0.1:18090\n server s2 127.0.0.1:18092 tcp-ut 1500\n\
         backend t\n mode tcp\n server s 127.0.0.1:18091\n");
    let web = proxy(&c, "web", ProxyKind::Frontend);
    assert_eq!(
        web.binds[0].tcp,
        BindTcp {
            backlog: Some(77),
            defer_accept: true,
            tfo: true,
            user_timeout: Some(Duration::from_secs(20)),
        }
    );
    assert_eq!(
        web.binds[1].tcp,
        BindTcp::default(),
        "backlog 0 is the default"
    );
    let smart = |name| proxy(&c, name, ProxyKind::Frontend).tcp_smart_accept;
    assert_eq!(
        [
            smart("web"),
            smart("quick"),
            smart("raw"),
            smart("raw_smart")
        ],
        [true, false, false, true]
    );
    assert!(backend(&c, "b").tcp_smart_connect);
    let uts: Vec<_> = backend(&c, "b")
        .servers
        .iter()
        .map(|s| s.tcp_user_timeout)
        .collect();
    assert_eq!(
        uts,
        [
            Some(Duration::from_secs(3)),
            Some(Duration::from_millis(1500))
        ]
    );
    assert_eq!(backend(&c, "t").servers[0].tcp_user_timeout, None);
    assert!(!backend(&c, "t").tcp_smart_connect);
}

/// `tune.rcvbuf.client/server`, `tune.sndbuf.client/server` and `tune.pipesize` (sizes in bytes), and
/// `tune.chksize`, which haproxy 2.6 refuses with a pointer to `tune.bufsize`.
#[test]
fn socket_buffer_and_pipe_sizes() {
    let c = ok_both(
        "global\n tune.rcvbuf.client 100000\n tune.sndbuf.client 150000\n tune.rcvbuf.server 120000\n \
         tune.sndbuf.server 170000\n tune.pipesize 131072\n",
    );
    let g = &c.global;
    assert_eq!(
        (g.tune_client_bufs, g.tune_server_bufs, g.tune_pipesize),
        (
            SocketBufs {
                rcv: Some(100_000),
                snd: Some(150_000)
            },
            SocketBufs {
                rcv: Some(120_000),
                snd: Some(170_000)
            },
            Some(131_072)
        )
    );
    let g = ok_both("global\n nbthread 1\n").global;
    assert_eq!(
        (g.tune_client_bufs, g.tune_pipesize),
        (SocketBufs::default(), None)
    );
    err1_both(
        "global\n tune.chksize 16384\n",
        2,
        "tune.chksize",
        "not supported any more (tune.bufsize is used instead)",
    );
    // haproxy 2.6 reads a word as 0 here; fulcrum says what it expected.
    err1("global\n tune.pipesize big\n", 2, "tune.pipesize", "big");
}

/// `tune.ssl.maxrecord N`: plaintext bytes per TLS record; 0, and anything from TLS's own maximum up, leave
/// records whole; below rustls's floor of 32 it is refused (haproxy 2.6 takes it).
#[test]
fn tune_ssl_maxrecord() {
    let max = |text: &str| ok_both(text).global.ssl.max_record;
    assert_eq!(max("global\n tune.ssl.maxrecord 1400\n"), Some(1400));
    assert_eq!(max("global\n tune.ssl.maxrecord 0\n"), None);
    assert_eq!(max("global\n tune.ssl.maxrecord 20000\n"), None);
    assert_eq!(max("global\n nbthread 1\n"), None);
    err1(
        "global\n tune.ssl.maxrecord 20\n",
        2,
        "tune.ssl.maxrecord",
        "32 at least",
    );
}

/// `fd-hard-limit N` and `max-spread-checks TIME` (milliseconds without a unit).
#[test]
fn fd_hard_limit_and_max_spread_checks() {
    let g = ok_both("global\n fd-hard-limit 5000\n max-spread-checks 200\n").global;
    assert_eq!(
        (g.fd_hard_limit, g.max_spread_checks),
        (Some(5000), Some(Duration::from_millis(200)))
    );
    let g = ok_both("global\n max-spread-checks 2s\n").global;
    assert_eq!(g.max_spread_checks, Some(Duration::from_secs(2)));
    let g = ok_both("global\n nbthread 1\n").global;
    assert_eq!((g.fd_hard_limit, g.max_spread_checks), (None, None));
    err1("global\n fd-hard-limit lots\n", 2, "fd-hard-limit", "lots");
}

/// `option external-check` with `external-check command` / `path` (in defaults, listen and backend sections),
/// the globals `external-check` and `insecure-fork-wanted`, and haproxy 2.6's refusals of a check without its
/// command or without `global.external-check`.
#[test]
fn external_check() {
    let c = ok_both(
        "global\n external-check\n insecure-fork-wanted\ndefaults\n mode http\n timeout connect 1s\n \
         timeout client 1s\n timeout server 1s\n external-check command /bin/true\n\
         backend b\n option external-check\n external-check path \"/usr/bin:/bin\"\n server s 127.0.0.1:80 check\n\
         backend plain\n server s 127.0.0.1:80 check\n",
    );
    assert!(c.global.external_check && c.global.insecure_fork_wanted);
    assert_eq!(
        backend(&c, "b").external_check,
        Some(ExternalCheck {
            command: "/bin/true".into(),
            path: "/usr/bin:/bin".into()
        })
    );
    assert_eq!(backend(&c, "plain").external_check, None);
    // The check type written last wins, as in haproxy 2.6 (a server whose `option httpchk` follows
    // `option external-check` is checked over TCP: `L4CON` on a closed port, not the program's `PROCOK`).
    let head =
        "global\n external-check\ndefaults\n mode http\n timeout connect 1s\n timeout client 1s\n \
                timeout server 1s\nbackend b\n external-check command /bin/true\n";
    for later in [
        "option httpchk",
        "option tcp-check",
        "option ssl-hello-chk",
        "option smtpchk",
    ] {
        let c = ok_both(&format!(
            "{head} option external-check\n {later}\n server s 127.0.0.1:80 check\n"
        ));
        assert_eq!(backend(&c, "b").external_check, None, "{later}");
        let c = ok_both(&format!(
            "{head} {later}\n option external-check\n server s 127.0.0.1:80 check\n"
        ));
        assert!(backend(&c, "b").external_check.is_some(), "{later}");
    }
    err1_both(
        "global\n external-check\ndefaults\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         backend b\n option external-check\n server s 127.0.0.1:80 check\n",
        7,
        "option external-check",
        "Proxy 'b' : 'option external-check' unable to find required 'external-check command'.",
    );
    err1_both(
        "defaults\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         backend b\n option external-check\n external-check command /bin/true\n server s 127.0.0.1:80 check\n",
        5,
        "option external-check",
        "Proxy 'b' : 'option external-check' unable to find required 'global.external-check'.",
    );
    err1(
        "global\n external-check\nbackend b\n external-check verify x\n",
        4,
        "external-check",
        "'command' or 'path'",
    );
}

/// `ssl-skip-self-issued-ca` takes no argument.
#[test]
fn ssl_skip_self_issued_ca() {
    assert!(
        ok_both("global\n ssl-skip-self-issued-ca\n")
            .global
            .ssl
            .skip_self_issued_ca
    );
    assert!(
        !ok_both("global\n nbthread 1\n")
            .global
            .ssl
            .skip_self_issued_ca
    );
    // haproxy 2.6 ignores words after it; fulcrum says they are not expected.
    err1(
        "global\n ssl-skip-self-issued-ca on\n",
        2,
        "ssl-skip-self-issued-ca",
        "on",
    );
}

/// `maxsslrate N` (0: no limit), as `maxconnrate`.
#[test]
fn maxsslrate() {
    assert_eq!(
        ok_both("global\n maxsslrate 50\n").global.maxsslrate,
        Some(50)
    );
    assert_eq!(ok_both("global\n maxsslrate 0\n").global.maxsslrate, None);
    // haproxy 2.6 reads a word as 0 here; fulcrum says what it expected.
    err1(
        "global\n maxsslrate fast\n",
        2,
        "maxsslrate",
        "expects an integer argument.",
    );
}

/// `maxsslconn N` (0: no limit), read as `maxsslrate`.
#[test]
fn maxsslconn() {
    assert_eq!(
        ok_both("global\n maxsslconn 2\n").global.maxsslconn,
        Some(2)
    );
    assert_eq!(ok_both("global\n maxsslconn 0\n").global.maxsslconn, None);
    err1(
        "global\n maxsslconn many\n",
        2,
        "maxsslconn",
        "expects an integer argument.",
    );
}

/// HAProxy's "missing timeouts" warning: an enabled frontend without `timeout client`, a backend with servers
/// without `timeout connect` or `timeout server` (`timeout tunnel` stands in for the latter in `mode tcp`), a zero
/// timeout counting as none; a `listen` section is named "proxy". The same proxies as haproxy 2.6 warns about.
#[test]
fn missing_timeouts() {
    let warned = |text: &str| -> Vec<String> {
        let c = ok_both(text);
        let ours: Vec<String> = c
            .warnings
            .iter()
            .filter_map(|w| {
                let m = &w.diagnostic.message;
                m.starts_with("missing timeouts").then(|| {
                    m.split_once(". ")
                        .map_or(m.as_str(), |(s, _)| s)
                        .to_string()
                })
            })
            .collect();
        if let Some((_, out)) = haproxy_check(text) {
            let theirs: Vec<String> = out
                .lines()
                .filter_map(|l| l.split_once("config : missing timeouts"))
                .map(|(_, rest)| format!("missing timeouts{}", rest.trim_end_matches('.')))
                .collect();
            assert_eq!(ours, theirs, "{text}");
        }
        ours
    };
    assert_eq!(
        warned(
            "defaults\n  mode http\nfrontend f\n  bind 127.0.0.1:29999\n  default_backend b\n\
             backend b\n  server s 127.0.0.1:80\n\
             listen l\n  mode tcp\n  bind 127.0.0.1:29998\n  timeout client 1s\n  server s 127.0.0.1:80\n"
        ),
        [
            "missing timeouts for frontend 'f'",
            "missing timeouts for backend 'b'",
            "missing timeouts for proxy 'l'"
        ]
    );
    // None: a backend without servers, `timeout tunnel` in mode tcp, a disabled frontend, all set by defaults.
    assert!(warned(
        "backend nothing\n  timeout connect 1s\n\
         backend t\n  mode tcp\n  timeout connect 1s\n  timeout tunnel 1s\n  server s 127.0.0.1:80\n\
         frontend off\n  mode http\n  bind 127.0.0.1:29997\n  disabled\n\
         defaults\n  timeout client 1s\n  timeout connect 1s\n  timeout server 1s\n\
         listen all\n  bind 127.0.0.1:29996\n  server s 127.0.0.1:80\n"
    )
    .is_empty());
    // `timeout tunnel` does not stand in for `timeout server` in mode http; zero is no timeout.
    assert_eq!(
        warned(
            "backend h\n  mode http\n  timeout connect 1s\n  timeout tunnel 1s\n  server s 127.0.0.1:80\n\
             frontend z\n  mode http\n  bind 127.0.0.1:29995\n  timeout client 0\n  http-request deny\n"
        ),
        [
            "missing timeouts for backend 'h'",
            "missing timeouts for frontend 'z'"
        ]
    );
}

/// `issuers-chain-path DIR`: a directory, else haproxy 2.6's refusal.
#[test]
fn issuers_chain_path() {
    let dir = std::env::temp_dir();
    let c = ok_both(&format!("global\n issuers-chain-path {}\n", dir.display()));
    assert_eq!(
        c.global.ssl.issuers_chain_path.as_deref(),
        Some(dir.as_path())
    );
    err1_both(
        "global\n issuers-chain-path /nonexistent/fulcrum-issuers\n",
        2,
        "issuers-chain-path",
        "global statement 'issuers-chain-path' expects a directory path as an argument.",
    );
}

/// `tune.maxpollevents`, `tune.runqueue-depth`, `maxpipes` (0: the default) and `tune.maxaccept` (-1: no limit,
/// 0: the default). haproxy 2.6 reads a word as 0 in all of them; fulcrum says what it expected.
#[test]
fn scheduling_and_pipe_tunables() {
    let g = ok_both(
        "global\n tune.maxpollevents 100\n tune.runqueue-depth 50\n maxpipes 10\n tune.maxaccept -1\n",
    )
    .global;
    assert_eq!(
        (
            g.tune_maxpollevents,
            g.tune_runqueue_depth,
            g.maxpipes,
            g.tune_maxaccept
        ),
        (Some(100), Some(50), Some(10), Some(None))
    );
    let g = ok_both("global\n tune.maxpollevents 0\n tune.maxaccept 8\n maxpipes 0\n").global;
    assert_eq!(
        (g.tune_maxpollevents, g.tune_maxaccept, g.maxpipes),
        (None, Some(Some(8)), None)
    );
    assert_eq!(
        ok_both("global\n tune.maxaccept 0\n").global.tune_maxaccept,
        None
    );
    err1("global\n maxpipes many\n", 2, "maxpipes", "many");
    err1("global\n tune.maxaccept -2\n", 2, "tune.maxaccept", "-2");
}

/// `rate-limit sessions N` in defaults, frontends and listens (0: no limit); ignored with HAProxy's warning in a
/// backend; anything but `sessions`, a missing or bad number, or an extra word refused.
#[test]
fn rate_limit_sessions() {
    let text = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n    \
                rate-limit sessions 50\n\
                frontend f\n    bind 127.0.0.1:18999\n    default_backend b\n\
                frontend g\n    bind 127.0.0.1:18998\n    rate-limit sessions 0\n    default_backend b\n\
                listen l\n    bind 127.0.0.1:18997\n    rate-limit sessions 7\n    server s 127.0.0.1:1\n\
                backend b\n    rate-limit sessions 9\n    server s 127.0.0.1:1\n";
    let c = ok_both(text);
    let limit = |name: &str, kind: ProxyKind| proxy(&c, name, kind).rate_limit_sessions;
    assert_eq!(limit("f", ProxyKind::Frontend), Some(50));
    assert_eq!(limit("g", ProxyKind::Frontend), None);
    assert_eq!(limit("l", ProxyKind::Listen), Some(7));
    let warned: Vec<(usize, &str)> = c
        .warnings
        .iter()
        .map(|w| (w.diagnostic.location.line, w.diagnostic.message.as_str()))
        .collect();
    assert_eq!(
        warned,
        [(
            19,
            "'rate-limit sessions' ignored because backend 'b' has no frontend capability."
        )]
    );
    let frontend = |line: &str| format!("frontend f\n    bind :80\n    {line}\n");
    err1_both(
        &frontend("rate-limit connections 5"),
        3,
        "rate-limit",
        "only supports 'sessions'",
    );
    err1_both(
        &frontend("rate-limit sessions"),
        3,
        "rate-limit sessions",
        "integer",
    );
    err1_both(
        &frontend("rate-limit sessions abc"),
        3,
        "rate-limit sessions",
        "abc",
    );
    err1_both(&frontend("rate-limit"), 3, "rate-limit", "sessions");
    // HAProxy ignores an extra word; fulcrum says so.
    err1(
        &frontend("rate-limit sessions 5 6"),
        3,
        "rate-limit",
        "extra '6'",
    );
}

/// `noreuseport` takes no argument.
#[test]
fn noreuseport() {
    assert!(ok_both("global\n noreuseport\n").global.noreuseport);
    assert!(!ok_both("global\n nbthread 1\n").global.noreuseport);
    err1("global\n noreuseport yes\n", 2, "noreuseport", "yes");
}
