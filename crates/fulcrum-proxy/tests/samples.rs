//! Sample expressions in rules: headers set from `%[...]`, variables carried from the request to the response
//! and across a connection, and `return` replies rendered per request.

mod common;

use common::*;

fn proxy(rules: &str, o: &fulcrum_proxy::origin::Origin) -> Proxy {
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
{rules}
    default_backend app
backend app
    server s1 {}
",
        free_port(),
        o.addr()
    );
    start_proxy(&cfg)
}

fn get(p: &Proxy, path: &str, headers: &str) -> Resp {
    let mut c = Client::connect(p.addr);
    c.send(
        format!("GET {path} HTTP/1.1\r\nHost: h.test\r\n{headers}Connection: close\r\n\r\n")
            .as_bytes(),
    );
    c.read_response(false)
}

#[test]
fn headers_set_from_expressions() {
    let o = origins(1);
    let p = proxy(
        "    http-request set-header X-Path \"%[path,upper] 100%%\"
    http-request add-header X-Fe %f-%[fe_name]
    http-request set-header X-Missing \"<%[req.hdr(nope)]>\"
    http-response set-header X-Status %[status]
    http-response set-header X-B64 %[str(abc),base64]",
        &o[0],
    );
    let r = get(&p, "/headers", "");
    assert_eq!(r.status, 200);
    let body = r.text().to_ascii_lowercase();
    assert!(body.contains("x-path: /headers 100%"), "{body}");
    assert!(body.contains("x-fe: fe-fe"), "{body}");
    // An absent sample renders as nothing.
    assert!(body.contains("x-missing: <>"), "{body}");
    assert_eq!(r.header("x-status"), Some("200"));
    assert_eq!(r.header("x-b64"), Some("YWJj"));
}

#[test]
fn variables_across_request_and_response() {
    let o = origins(1);
    let p = proxy(
        "    http-request set-var(txn.host) req.hdr(host),lower
    http-request set-var(req.n) str(41),add(1)
    http-request set-var-fmt(txn.f) \"%[var(txn.host)]:%[var(req.n)]\"
    http-request set-var(txn.gone) str(x)
    http-request unset-var(txn.gone)
    http-request set-var(txn.only_if) str(yes) if { path /cond }
    http-response set-header X-Host %[var(txn.host)]
    http-response set-header X-N %[var(req.n),mul(2)]
    http-response set-header X-F %[var(txn.f)]
    http-response set-header X-Gone \"<%[var(txn.gone)]>\"
    http-response set-var(res.s) status
    http-response set-header X-S %[var(res.s)]
    http-response set-header X-Cond \"<%[var(txn.only_if)]>\"
    http-response set-header X-Backend %[be_name]",
        &o[0],
    );
    let r = get(&p, "/", "");
    assert_eq!(r.header("x-host"), Some("h.test"));
    assert_eq!(r.header("x-n"), Some("84"));
    assert_eq!(r.header("x-f"), Some("h.test:42"));
    assert_eq!(r.header("x-gone"), Some("<>"));
    assert_eq!(r.header("x-s"), Some("200"));
    assert_eq!(r.header("x-cond"), Some("<>"));
    assert_eq!(r.header("x-backend"), Some("app"));
    assert_eq!(get(&p, "/cond", "").header("x-cond"), Some("<yes>"));
}

#[test]
fn session_variables_live_as_long_as_the_connection() {
    let o = origins(1);
    let p = proxy(
        "    http-request set-var(sess.seen) str(yes) if { path /first }
    http-response set-header X-Seen \"<%[var(sess.seen)]>\"",
        &o[0],
    );
    let mut c = Client::connect(p.addr);
    c.send(b"GET /first HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(c.read_response(false).header("x-seen"), Some("<yes>"));
    c.send(b"GET /second HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert_eq!(c.read_response(false).header("x-seen"), Some("<yes>"));
    // A new connection starts without them.
    assert_eq!(get(&p, "/second", "").header("x-seen"), Some("<>"));
}

#[test]
fn return_bodies_and_redirects_from_formats() {
    let o = origins(1);
    let p = proxy(
        "    http-request return status 200 content-type text/plain lf-string \"path is %[path] from %ci\" hdr X-Url %[url] if { path_beg /ret }
    http-request deny status 403 content-type text/plain hdr X-Why \"denied %[path]\" string no if { path /deny }
    http-request redirect location /new%[path] code 301 if { path_beg /old }",
        &o[0],
    );
    let r = get(&p, "/ret?a=1", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "path is /ret from 127.0.0.1");
    assert_eq!(r.header("x-url"), Some("/ret?a=1"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let r = get(&p, "/deny", "");
    assert_eq!((r.status, r.text().as_str()), (403, "no"));
    assert_eq!(r.header("x-why"), Some("denied /deny"));
    let r = get(&p, "/old/x", "");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/new/old/x"));
}

#[test]
fn proxy_ids_server_and_bind_names() {
    let o = origins(2);
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{} name front1
    http-request set-header X-Req \"%[fe_id]/%[so_name]/%[so_id]\"
    http-response set-header X-Res \"%[fe_id]/%[be_id]/%[srv_id]/%[srv_name]/%[so_name]\"
    http-response set-header X-Cap \"%[capture.req.method] %[capture.req.uri]\"
    default_backend app
backend other
    server o1 {}
backend app
    balance roundrobin
    server s1 {}
    server s2 {}
",
        free_port(),
        o[0].addr(),
        o[0].addr(),
        o[1].addr()
    );
    let p = start_proxy(&cfg);
    // Proxies are numbered in configuration order from 1 (no stats socket), servers in their backend from 1;
    // (be_id, like be_name, is refused in a frontend's http-request rules).
    let r = get(&p, "/headers", "");
    assert!(
        r.text().to_ascii_lowercase().contains("x-req: 1/front1/1"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("x-res"), Some("1/3/1/s1/front1"));
    let r = get(&p, "/headers", "");
    assert_eq!(r.header("x-res"), Some("1/3/2/s2/front1"));
    // the request line, still there for the response rules
    assert_eq!(r.header("x-cap"), Some("GET /headers"));
}

#[test]
fn backend_figures() {
    let o = origins(2);
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    default_backend app
backend other
    server o1 {}
backend app
    http-request set-header X-N \"%[nbsrv]/%[nbsrv(other)]/%[be_conn]/%[be_conn(other)]\"
    server s1 {}
    server s2 {}
",
        free_port(),
        o[0].addr(),
        o[0].addr(),
        o[1].addr()
    );
    let p = start_proxy(&cfg);
    // two usable servers here, one there; this request is the one connection of its backend
    let r = get(&p, "/headers", "");
    assert!(
        r.text().to_ascii_lowercase().contains("x-n: 2/1/1/0"),
        "{}",
        r.text()
    );
}

#[test]
fn listeners_numbered_in_configuration_order() {
    let o = origins(1);
    let ports = [free_port(), free_port()];
    let cfg = format!(
        "{DEFAULTS}
frontend other
    bind 127.0.0.1:{}
    default_backend app
frontend fe
    bind 127.0.0.1:{}
    bind 127.0.0.1:{} name two
    http-request return status 200 hdr so \"%[so_id]/%[so_name]\"
backend app
    server s1 {}
",
        free_port(),
        ports[0],
        ports[1],
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    let addrs = p.running.as_ref().unwrap().local_addrs();
    // as haproxy 2.6.12 numbers them: per frontend, from 1; an unnamed bind has no so_name
    for (port, want) in [(ports[0], "1/"), (ports[1], "2/two")] {
        let addr = addrs.iter().find(|(_, a)| a.port() == port).unwrap().1;
        let mut c = Client::connect(addr);
        c.send(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        let r = c.read_response(false);
        assert_eq!(r.header("so"), Some(want), "port {port}");
    }
}

/// `unique-id`: the ID `unique-id-format` made after the `http-request` rules, the same each time the response
/// rules read it; without a format the fetch has no value.
#[test]
fn unique_id_fetch_reads_the_requests_id() {
    let o = origins(1);
    let p = proxy(
        "    unique-id-format ID-%[uuid]-%[req.hdr(in)]
    http-response set-header A %[unique-id]
    http-response set-header B %[unique-id]",
        &o[0],
    );
    let r = get(&p, "/", "in: 42\r\n");
    let a = r.header("a").expect("a").to_string();
    assert!(
        a.starts_with("ID-") && a.ends_with("-42") && a.len() == 3 + 36 + 3,
        "{a}"
    );
    assert_eq!(r.header("b"), Some(a.as_str()));
    // Another request, another ID.
    assert_ne!(get(&p, "/", "in: 42\r\n").header("a"), Some(a.as_str()));
    let p = proxy("    http-response set-header A <%[unique-id]>", &o[0]);
    assert_eq!(get(&p, "/", "").header("a"), Some("<>"));
}

/// `req.body` (with `option http-buffer-request`) and `json_query`: the same headers as haproxy 2.6 sets.
#[test]
fn json_query_on_the_request_body_like_haproxy() {
    let o = origins(1);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    option http-buffer-request
    http-request set-var(txn.s) req.body,json_query('$.s')
    http-request set-var(txn.i) req.body,json_query('$.n','int'),add(1)
    http-request set-var(txn.d) req.body,json_query('$.n')
    http-request set-var(txn.b) req.body,json_query('$.list[1].ok')
    http-request set-var(txn.k) req.body,json_query('$.my\\\\.key')
    http-response set-header x-s \"<%[var(txn.s)]>\"
    http-response set-header x-i \"<%[var(txn.i)]>\"
    http-response set-header x-d \"<%[var(txn.d)]>\"
    http-response set-header x-b \"<%[var(txn.b)]>\"
    http-response set-header x-k \"<%[var(txn.k)]>\"
    default_backend app
backend app
    server s1 {}
",
        o[0].addr()
    );
    let post = |addr: std::net::SocketAddr, body: &str| -> Vec<String> {
        let mut c = Client::connect(addr);
        c.send(
            format!(
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        let r = c.read_response(false);
        ["x-s", "x-i", "x-d", "x-b", "x-k"]
            .iter()
            .map(|h| r.header(h).unwrap_or("(none)").to_string())
            .collect()
    };
    let bodies = [
        r#"{"s":"a\"b","n":1234567.5,"list":[0,{"ok":true}],"my.key":"v"}"#,
        r#"{"n":-4,"list":[{"ok":false},{"ok":false}]}"#,
        "not json",
    ];
    let p = start_proxy(&cfg);
    let got: Vec<_> = bodies.iter().map(|b| post(p.addr, b)).collect();
    assert_eq!(
        got[0],
        ["<a\"b>", "<1234568>", "<1.23457e+06>", "<1>", "<v>"]
    );
    assert_eq!(got[1], ["<>", "<-3>", "<-4>", "<0>", "<>"]);
    assert_eq!(got[2], ["<>", "<>", "<>", "<>", "<>"]);
    drop(p);
    if haproxy_present() {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&cfg, addr);
        let theirs: Vec<_> = bodies.iter().map(|b| post(addr, b)).collect();
        assert_eq!(theirs, got);
    }
}

/// Capture slots: a `capture request header` line's, `declare`d ones written by `capture ... id N` rules, and one
/// `http-request capture ... len N` declares; read back with `capture.req.hdr(N)` / `capture.res.hdr(N)`, each
/// cut to its slot's length. The same headers as haproxy 2.6 sets.
#[test]
fn capture_slots_like_haproxy() {
    let o = origins(1);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    capture request header X-H len 3
    declare capture request len 4
    declare capture response len 5
    http-request capture req.hdr(x-a) len 2
    http-request capture req.hdr(x-b) id 1
    http-request set-var(txn.c2) capture.req.hdr(2)
    http-response capture status,concat(-,txn.c2) id 0
    http-response set-header r0 \"<%[capture.req.hdr(0)]>\"
    http-response set-header r1 \"<%[capture.req.hdr(1)]>\"
    http-response set-header r2 \"<%[capture.req.hdr(2)]>\"
    http-response set-header r3 \"<%[capture.req.hdr(3)]>\"
    http-response set-header s0 \"<%[capture.res.hdr(0)]>\"
    default_backend app
backend app
    server s1 {}
",
        o[0].addr()
    );
    let names = ["r0", "r1", "r2", "r3", "s0"];
    let ask = |addr: std::net::SocketAddr, headers: &str| -> Vec<String> {
        let mut c = Client::connect(addr);
        c.send(
            format!("GET / HTTP/1.1\r\nHost: h\r\n{headers}Connection: close\r\n\r\n").as_bytes(),
        );
        let r = c.read_response(false);
        names
            .iter()
            .map(|h| r.header(h).unwrap_or("(none)").to_string())
            .collect()
    };
    let requests = ["X-H: abcdef\r\nX-A: xyz\r\nX-B: 123456\r\n", ""];
    let p = start_proxy(&cfg);
    let got: Vec<_> = requests.iter().map(|h| ask(p.addr, h)).collect();
    assert_eq!(got[0], ["<abc>", "<1234>", "<xy>", "<>", "<200-x>"]);
    assert_eq!(got[1], ["<>", "<>", "<>", "<>", "<200->"]);
    drop(p);
    if haproxy_present() {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&cfg, addr);
        let theirs: Vec<_> = requests.iter().map(|h| ask(addr, h)).collect();
        assert_eq!(theirs, got);
    }
}

/// `req.body_param([NAME])` on a url-encoded body waited for: the same values as haproxy 2.6 for the same bodies.
#[test]
fn body_params_like_haproxy() {
    let o = origins(1);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    option http-buffer-request
    http-request set-var(txn.a) req.body_param(a)
    http-request set-var(txn.first) req.body_param()
    http-request set-var(txn.d) req.body_param(d)
    http-response set-header x-a \"<%[var(txn.a)]>\"
    http-response set-header x-first \"<%[var(txn.first)]>\"
    http-response set-header x-d \"<%[var(txn.d)]>\"
    default_backend app
backend app
    server s1 {}
",
        o[0].addr()
    );
    let post = |addr: std::net::SocketAddr, body: &str| -> Vec<String> {
        let mut c = Client::connect(addr);
        c.send(
            format!(
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        let r = c.read_response(false);
        ["x-a", "x-first", "x-d"]
            .iter()
            .map(|h| r.header(h).unwrap_or("(none)").to_string())
            .collect()
    };
    let bodies = ["a=1&b=2&a=3", "x&a=5", "c&a=%41+b;d=7", "b=2&c=3"];
    let p = start_proxy(&cfg);
    let got: Vec<_> = bodies.iter().map(|b| post(p.addr, b)).collect();
    assert_eq!(got[0], ["<1>", "<1>", "<>"]);
    assert_eq!(got[2], ["<%41+b>", "<%41+b>", "<7>"]);
    assert_eq!(got[3], ["<>", "<2>", "<>"]);
    drop(p);
    if haproxy_present() {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&cfg, addr);
        let theirs: Vec<_> = bodies.iter().map(|b| post(addr, b)).collect();
        assert_eq!(theirs, got);
    }
}

/// `connslots(BACKEND)`: free connection and queue places of the servers that can take traffic (backups too), -1
/// when one of them has no limit; the same answers as haproxy 2.6.
#[test]
fn connslots_like_haproxy() {
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain lf-string \"[%[connslots(b1)]][%[connslots(b2)]][%[connslots(b3)]][%[connslots(b4)]]\"
backend b1
    server s1 127.0.0.1:1 maxconn 10 maxqueue 3
    server s2 127.0.0.1:2 maxconn 20 maxqueue 5
backend b2
    server s1 127.0.0.1:1 maxconn 10 maxqueue 3
    server s2 127.0.0.1:2 maxqueue 5
backend b3
    server s1 127.0.0.1:1 maxconn 10 disabled
    server s2 127.0.0.1:2 maxconn 7 maxqueue 1
backend b4
    server s1 127.0.0.1:1 maxconn 10 maxqueue 3
    server s2 127.0.0.1:2 maxconn 7 maxqueue 1 backup
"
    );
    let body = |addr: std::net::SocketAddr| {
        let mut c = Client::connect(addr);
        c.send(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        c.read_response(false).text()
    };
    let p = start_proxy(&cfg);
    let ours = body(p.addr);
    assert_eq!(ours, "[38][-1][8][21]");
    drop(p);
    if haproxy_present() {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&cfg, addr);
        assert_eq!(body(addr), ours);
    }
}

/// `wt6` and `wt6(1)` over request paths and over the bytes `b64dec` gives: the same numbers as haproxy 2.6.
#[test]
fn wt6_like_haproxy() {
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain lf-string \"%[path,wt6] %[path,wt6(1)] %[str(gICA/w==),b64dec,wt6] %[str(),wt6(1)]\"
"
    );
    let body = |addr: std::net::SocketAddr, path: &str| {
        let mut c = Client::connect(addr);
        c.send(format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes());
        c.read_response(false).text()
    };
    let paths = [
        "/",
        "/a",
        "/index.html?x=1",
        "/%ff%00/long/path/with/many/segments/0123456789",
    ];
    let p = start_proxy(&cfg);
    let ours: Vec<_> = paths.iter().map(|u| body(p.addr, u)).collect();
    assert_eq!(ours[0], "1886637733 2250254464 391506271 2385687481");
    drop(p);
    if haproxy_present() {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&cfg, addr);
        let theirs: Vec<_> = paths.iter().map(|u| body(addr, u)).collect();
        assert_eq!(theirs, ours);
    }
}

/// `http-request normalize-uri`, each normaliser in its own frontend, over tricky request targets: the same
/// targets (or 400 answers, under `strict`) as haproxy 2.6.
#[test]
fn normalize_uri_like_haproxy() {
    let normalizers = [
        "path-merge-slashes",
        "path-strip-dot",
        "path-strip-dotdot",
        "path-strip-dotdot full",
        "percent-decode-unreserved",
        "percent-decode-unreserved strict",
        "percent-to-uppercase",
        "percent-to-uppercase strict",
        "query-sort-by-name",
        "fragment-strip",
        "fragment-encode",
    ];
    let ports: Vec<u16> = normalizers.iter().map(|_| free_port()).collect();
    let mut cfg = format!("global\n    expose-experimental-directives\n{DEFAULTS}");
    for (n, port) in normalizers.iter().zip(&ports) {
        cfg.push_str(&format!(
            "frontend f{port}
    bind 127.0.0.1:{port}
    http-request normalize-uri {n}
    http-request return status 200 content-type text/plain lf-string \"[%[url]]\"
"
        ));
    }
    let targets = [
        "/",
        "//a//b//?x=//",
        "/a/b/c/../../../..",
        "/a/./../b/.",
        "/../a/..",
        "/%2e%2e/%7e%41%zz%a?%62=%2f&a&",
        "/%%41",
        "/?b=1&a&=z&a=0",
        "/?a;b=1&a=2&",
    ];
    let ask = |port: u16, target: &str| -> String {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut c = Client::connect(addr);
        c.send(format!("GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes());
        let r = c.read_response(false);
        if r.status == 200 {
            r.text()
        } else {
            r.status.to_string()
        }
    };
    let all = |ports: &[u16]| -> Vec<Vec<String>> {
        ports
            .iter()
            .map(|&p| targets.iter().map(|t| ask(p, t)).collect())
            .collect()
    };
    let p = start_proxy(&cfg);
    let ours = all(&ports);
    drop(p);
    // a few answers written out, so that the test stands without haproxy too
    assert_eq!(ours[0][1], "[/a/b/?x=//]");
    assert_eq!(ours[2][2], "[/../]");
    assert_eq!(ours[3][2], "[/]");
    assert_eq!(ours[1][3], "[/a/../b/]");
    assert_eq!(ours[4][5], "[/../~A%zz%a?b=%2f&a&]");
    assert_eq!(ours[5][5], "400");
    assert_eq!(ours[6][5], "[/%2E%2E/%7E%41%zz%a?%62=%2F&a&]");
    assert_eq!(ours[8][7], "[/?=z&a&a=0&b=1]");
    assert_eq!(ours[8][8], "[/?a=2&a;b=1]");
    if haproxy_present() {
        let _h = start_haproxy(&cfg, format!("127.0.0.1:{}", ports[0]).parse().unwrap());
        assert_eq!(all(&ports), ours);
    }
}

/// `fe_client_timeout`: the frontend's `timeout client` in milliseconds, read in a frontend's and in its backend's
/// rules; the same answers as haproxy 2.6.
#[test]
fn fe_client_timeout_like_haproxy() {
    let (p1, p2) = (free_port(), free_port());
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{p1}
    timeout client 7s
    http-request return status 200 content-type text/plain lf-string \"[%[fe_client_timeout]]\"
frontend fe2
    bind 127.0.0.1:{p2}
    timeout client 1500ms
    default_backend b
backend b
    http-request return status 200 content-type text/plain lf-string \"[%[fe_client_timeout]]\"
"
    );
    let body = |port: u16| {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut c = Client::connect(addr);
        c.send(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        c.read_response(false).text()
    };
    let p = start_proxy(&cfg);
    let ours = [body(p1), body(p2)];
    assert_eq!(ours, ["[7000]", "[1500]"]);
    drop(p);
    if haproxy_present() {
        let _h = start_haproxy(&cfg, format!("127.0.0.1:{p1}").parse().unwrap());
        assert_eq!([body(p1), body(p2)], ours);
    }
}

/// A `\xHH` escape of a byte above 0x7f in the configuration is that byte wherever a sample or a log format
/// carries it: a constant header value, a constant `set-var-fmt`, a fetch argument, the literal text of a return
/// body. The same bytes as haproxy 2.6 sends.
#[test]
fn configuration_bytes_like_haproxy() {
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    http-request set-header x-c \"caf\\xE9\"
    http-request set-var-fmt(txn.c) \"\\xFF!\"
    http-request return status 200 content-type text/plain lf-string \"\\xE0 %[req.hdr(x-c),hex] %[var(txn.c),hex] %[str(\\x80\\xC3\\xA9),hex] %[str(-\\xE0-),json(utf8s)]\"
"
    );
    let body = |addr: std::net::SocketAddr| {
        let mut c = Client::connect(addr);
        c.send(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        c.read_response(false).body
    };
    let p = start_proxy(&cfg);
    let ours = body(p.addr);
    assert_eq!(ours, b"\xe0 636166E9 FF21 80C3A9 --");
    drop(p);
    if haproxy_present() {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&cfg, addr);
        assert_eq!(body(addr), ours);
    }
}

/// `req.ver`, `res.ver`, `capture.req.ver` and `capture.res.ver` give the same as haproxy 2.6 for HTTP/1.0 and
/// HTTP/1.1 requests, in request and response rules; so do the predefined ACLs on them.
#[test]
fn http_versions_like_haproxy() {
    let o = fulcrum_proxy::origin::Origin::start("s1", "127.0.0.1:0".parse().unwrap()).unwrap();
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    http-request set-var(txn.rv) req.ver
    http-request set-var(txn.crv) capture.req.ver
    http-response set-header x-ver \"%[var(txn.rv)] %[var(txn.crv)] %[res.ver] %[capture.res.ver] %[capture.req.ver]\"
    http-request set-var(txn.p) str(http10) if HTTP_1.0 HTTP_URL_SLASH !HTTP_URL_ABS !HTTP_CONTENT
    http-response add-header x-ver %[var(txn.p)] if {{ var(txn.p) -m found }}
    default_backend b
backend b
    server s1 {}
",
        o.addr()
    );
    let ver = |version: &str| {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut c = Client::connect(addr);
        c.send(format!("GET / HTTP/{version}\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes());
        let r = c.read_response(false);
        let all: Vec<&str> = r
            .headers
            .iter()
            .filter(|(k, _)| k == "x-ver")
            .map(|(_, v)| v.as_str())
            .collect();
        all.join(" | ")
    };
    let p = start_proxy(&cfg);
    let ours = [ver("1.0"), ver("1.1")];
    assert!(ours[1].starts_with("1.1 HTTP/1.1 "), "{ours:?}");
    assert!(
        ours[0].ends_with(" | http10") && !ours[1].contains("http10"),
        "{ours:?}"
    );
    drop(p);
    if haproxy_present() {
        let _h = start_haproxy(&cfg, format!("127.0.0.1:{port}").parse().unwrap());
        assert_eq!([ver("1.0"), ver("1.1")], ours);
    }
}
