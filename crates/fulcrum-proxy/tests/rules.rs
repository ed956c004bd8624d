//! ACLs, use_backend, http-request / http-response rules, tcp-request connection and errorfile through a real
//! proxy. Every configuration is also checked by the real `haproxy -c`.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// A frontend with `rules`, routing to backends `a` (origin s1) and `b` (origin s2); `default_backend a`.
fn two_backends(rules: &str, o: &[fulcrum_proxy::origin::Origin]) -> Proxy {
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
{rules}
    default_backend a
backend a
    server s1 {}
backend b
    server s2 {}
",
        free_port(),
        o[0].addr(),
        o[1].addr()
    );
    start_proxy(&cfg)
}

fn request(p: &Proxy, raw: &str) -> Resp {
    let mut c = Client::connect(p.addr);
    c.send(raw.as_bytes());
    c.read_response(raw.starts_with("HEAD"))
}

fn via(p: &Proxy, path: &str, headers: &str) -> String {
    served_by(&request(
        p,
        &format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n"),
    ))
}

#[test]
fn path_fetches_route_with_use_backend() {
    let o = origins(2);
    let p = two_backends(
        "    acl api path_beg /api/
    acl img path_end .png .jpg
    acl adm path_sub -i admin
    acl ver path_reg ^/v[0-9]+/
    acl exact path /exact
    use_backend b if api || img
    use_backend b if adm or ver
    use_backend b if exact",
        &o,
    );
    for (path, want) in [
        ("/api/x", "s2"),
        ("/apix", "s1"),
        ("/a/b.png", "s2"),
        ("/a/b.gif", "s1"),
        ("/x/ADMIN/y", "s2"),
        ("/v12/z", "s2"),
        ("/vx/z", "s1"),
        ("/exact", "s2"),
        ("/exact/no", "s1"),
        ("/exact?q=1", "s2"),
    ] {
        assert_eq!(via(&p, path, ""), want, "path {path}");
    }
}

#[test]
fn header_param_method_and_flags() {
    let o = origins(2);
    let p = two_backends(
        "    acl host_www hdr(host) -i WWW.example.test
    acl ua_beg hdr_beg(user-agent) curl
    acl ua_end hdr_end(x-end) -m str zz
    acl has_x hdr(x-flag) -m found
    acl lang hdr_sub(accept-language) fr
    acl p url_param(user) alice
    acl post method POST
    use_backend b if host_www
    use_backend b if ua_beg
    use_backend b if has_x
    use_backend b if lang
    use_backend b if p
    use_backend b if post",
        &o,
    );
    let host = |h: &str| {
        served_by(&request(
            &p,
            &format!("GET / HTTP/1.1\r\nHost: {h}\r\nConnection: close\r\n\r\n"),
        ))
    };
    assert_eq!(host("www.Example.TEST"), "s2");
    assert_eq!(host("api.example.test"), "s1");
    assert_eq!(via(&p, "/", "User-Agent: curl/8\r\n"), "s2");
    assert_eq!(via(&p, "/", "User-Agent: wget/1\r\n"), "s1");
    assert_eq!(via(&p, "/", "X-Flag: \r\n"), "s2");
    assert_eq!(via(&p, "/", "Accept-Language: en, fr;q=0.5\r\n"), "s2");
    assert_eq!(via(&p, "/?user=alice&x=1", ""), "s2");
    assert_eq!(via(&p, "/?user=bob", ""), "s1");
    let post = request(
        &p,
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(served_by(&post), "s2");
}

#[test]
fn negation_unless_anonymous_and_implicit_and() {
    let o = origins(2);
    let p = two_backends(
        "    acl api path_beg /api
    acl get method GET
    use_backend b if api !get
    use_backend b if { path_end .css }
    use_backend b unless { path_beg /api } || { path_beg /static } || { path_end .css }",
        &o,
    );
    let post = |path: &str| {
        served_by(&request(
            &p,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        ))
    };
    assert_eq!(post("/api/x"), "s2");
    assert_eq!(via(&p, "/api/x", ""), "s1");
    assert_eq!(via(&p, "/static/a.css", ""), "s2");
    assert_eq!(via(&p, "/static/a.js", ""), "s1");
    assert_eq!(via(&p, "/other", ""), "s2");
}

#[test]
fn src_and_dst_port_and_pattern_files() {
    let o = origins(2);
    let dir = std::env::temp_dir().join(format!("fulcrum-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("nets.lst");
    std::fs::write(&list, "# blocked clients\n127.0.0.5\n\n127.0.1.0/24\n").unwrap();
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    acl listed src -f {}
    acl local_port dst_port {port}
    acl other_port dst_port 1:79
    use_backend b if listed local_port !other_port
    default_backend a
backend a
    server s1 {}
backend b
    server s2 {}
",
        list.display(),
        o[0].addr(),
        o[1].addr()
    );
    let p = start_proxy(&cfg);
    for (src, want) in [
        ("127.0.0.5", "s2"),
        ("127.0.1.77", "s2"),
        ("127.0.0.6", "s1"),
    ] {
        let mut c = Client::connect_from(p.addr, src);
        assert_eq!(served_by(&c.get("/")), want, "from {src}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn header_and_path_rewrites() {
    let o = origins(2);
    let p = two_backends(
        "    http-request set-header X-Set one
    http-request add-header X-Add two
    http-request add-header X-Add three
    http-request del-header X-Drop
    http-request replace-header X-User ^user=([a-z]+)$ name:\\1
    http-request replace-value X-List ^(a+)$ <\\1>
    http-request replace-value X-Host '(.*):.*' '\\1'
    http-request set-path /headers if { path /rewrite-me }
    http-request set-query debug=1 if { path /headers }",
        &o,
    );
    let r = request(
        &p,
        "GET /rewrite-me?old=1 HTTP/1.1\r\nHost: t\r\nX-Set: zero\r\nX-Drop: x\r\nX-User: user=alice\r\nX-List: a, b,aa\r\nX-Host: example.org:8443\r\nConnection: close\r\n\r\n",
    );
    let seen = r.text();
    assert!(
        seen.starts_with("GET /headers?debug=1 HTTP/1.1\n"),
        "{seen}"
    );
    assert!(
        seen.contains("x-set: one\n") && !seen.contains("x-set: zero"),
        "{seen}"
    );
    assert!(seen.contains("x-add: two\nx-add: three\n"), "{seen}");
    assert!(!seen.contains("x-drop"), "{seen}");
    assert!(seen.contains("x-user: name:alice\n"), "{seen}");
    // replace-value: each element of the list, the blanks around a replaced one dropped.
    assert!(seen.contains("x-list: <a>, b,<aa>\n"), "{seen}");
    assert!(seen.contains("x-host: example.org\n"), "{seen}");
}

#[test]
fn redirects_deny_return_and_tarpit() {
    let o = origins(2);
    let dir = std::env::temp_dir().join(format!("fulcrum-ret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("maint.html");
    std::fs::write(&file, "<p>maintenance</p>\n").unwrap();
    let p = two_backends(
        &format!(
            "    timeout tarpit 300ms
    http-request redirect location https://example.test/new code 301 if {{ path /old }}
    http-request redirect prefix https://example.test drop-query if {{ path_beg /pfx }}
    http-request redirect scheme https code 308 if {{ path /secure }}
    http-request deny if {{ path /deny }}
    http-request deny deny_status 429 if {{ path /slow-down }}
    http-request return status 200 content-type text/plain string pong if {{ path /ping }}
    http-request return status 503 content-type text/html file {} if {{ path /maint }}
    http-request tarpit if {{ path /tarpit }}",
            file.display()
        ),
        &o,
    );
    let r = request(
        &p,
        "GET /old HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        (r.status, r.header("location")),
        (301, Some("https://example.test/new"))
    );
    let r = request(
        &p,
        "GET /pfx/a?b=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("https://example.test/pfx/a"))
    );
    let r = request(
        &p,
        "GET /secure?x=2 HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        (r.status, r.header("location")),
        (308, Some("https://h.test/secure?x=2"))
    );
    let r = request(
        &p,
        "GET /deny HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 403);
    assert!(r.text().contains("<h1>403 Forbidden</h1>"), "{}", r.text());
    let r = request(
        &p,
        "GET /slow-down HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 429);
    let r = request(
        &p,
        "GET /ping HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        (r.status, r.header("content-type"), r.text().as_str()),
        (200, Some("text/plain"), "pong")
    );
    let r = request(
        &p,
        "GET /maint HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((r.status, r.text().as_str()), (503, "<p>maintenance</p>\n"));
    let start = Instant::now();
    let r = request(
        &p,
        "GET /tarpit HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 500);
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        o[0].requests() + o[1].requests(),
        0,
        "a request answered by a rule reached a server"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn http_response_rules() {
    let o = origins(2);
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    http-response add-header X-Frontend fe
    default_backend a
backend a
    http-response deny if {{ res.hdr(content-type) application/octet-stream }}
    http-response set-header X-Served-By hidden
    http-response add-header X-Type text if {{ res.hdr(content-type) -m beg text/ }}
    server s1 {}
",
        free_port(),
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    let r = request(&p, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert_eq!(r.header("x-served-by"), Some("hidden"));
    assert_eq!(r.header("x-frontend"), Some("fe"));
    assert_eq!(r.header("x-type"), Some("text"));
    assert_eq!(r.text(), "Hello from s1\n");
    let r = request(
        &p,
        "GET /bytes/10 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 502);
}

#[test]
fn tcp_request_connection_reject() {
    let o = origins(1);
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    tcp-request connection reject if {{ src 127.0.0.9 }}
    tcp-request connection accept if {{ src 127.0.0.0/8 }}
    tcp-request connection reject
    default_backend a
backend a
    server s1 {}
",
        free_port(),
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    let mut ok = Client::connect_from(p.addr, "127.0.0.8");
    assert_eq!(ok.get("/").status, 200);
    let mut rejected = Client::connect_from(p.addr, "127.0.0.9");
    rejected.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(rejected.closed_within(Duration::from_secs(2)));
    assert_eq!(o[0].requests(), 1);
}

#[test]
fn errorfile_replaces_generated_errors() {
    let dir = std::env::temp_dir().join(format!("fulcrum-errf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f503 = dir.join("503.http");
    std::fs::write(
        &f503,
        "HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<h1>We'll be back</h1>\n",
    )
    .unwrap();
    let cfg = format!(
        "{DEFAULTS}
    errorfile 503 {}
frontend fe
    bind 127.0.0.1:{}
    default_backend a
backend a
    server dead 127.0.0.1:{}
",
        f503.display(),
        free_port(),
        free_port()
    );
    let p = start_proxy(&cfg);
    let r = get(p.addr, "/");
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "<h1>We'll be back</h1>\n");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn http_errors_errorfiles_http_error_and_replies() {
    let o = origins(1);
    let dir = std::env::temp_dir().join(format!("fulcrum-herr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = |name: &str, code: u16, tag: &str| {
        let f = dir.join(name);
        std::fs::write(
            &f,
            format!("HTTP/1.1 {code} x\r\nContent-Type: text/html\r\nx-tag: {tag}\r\n\r\n<p>{tag}</p>\n"),
        )
        .unwrap();
        f.display().to_string()
    };
    let (e400, own403, e403) = (
        page("e400.http", 400, "e1"),
        page("own403.http", 403, "own"),
        page("e403.http", 403, "e1"),
    );
    let cfg = format!(
        "{DEFAULTS}
    errorfiles e1
    errorfile 408 /dev/null
frontend fe
    bind 127.0.0.1:{}
    errorfile 403 {own403}
    http-error status 404 content-type text/plain hdr X-A b string \"none here\"
    http-error status 429 content-type text/plain hdr X-Path \"p=%[path]\" lf-string \"slow down on %[path]\"
    http-request deny deny_status 429 if {{ path_beg /429 }}
    http-request deny deny_status 400 if {{ path /400 }}
    http-request deny if {{ path /403 }}
    http-request deny deny_status 404 if {{ path /404 }}
    http-request deny deny_status 408 if {{ path /408 }}
    http-request deny deny_status 403 errorfiles e1 if {{ path /403-e1 }}
    http-request return status 400 errorfile {e400} if {{ path /r400 }}
    http-request return hdr X-B c if {{ path /empty }}
    default_backend a
backend a
    http-request deny deny_status 404 if {{ path /be404 }}
    server s1 {}
http-errors e1
    errorfile 400 {e400}
    errorfile 403 {e403}
",
        free_port(),
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    let r = get(p.addr, "/400");
    assert_eq!((r.status, r.header("x-tag")), (400, Some("e1")));
    assert_eq!(r.text(), "<p>e1</p>\n");
    // the frontend's own errorfile replaces the one imported from defaults
    let r = get(p.addr, "/403");
    assert_eq!((r.status, r.header("x-tag")), (403, Some("own")));
    let r = get(p.addr, "/404");
    assert_eq!(
        (r.status, r.header("x-a"), r.header("content-type")),
        (404, Some("b"), Some("text/plain"))
    );
    assert_eq!(r.text(), "none here");
    // an http-error reply's log-format parts are evaluated against the request a rule answered
    let r = get(p.addr, "/429/x");
    assert_eq!(
        (r.status, r.header("x-path"), r.text().as_str()),
        (429, Some("p=/429/x"), "slow down on /429/x")
    );
    // an empty errorfile: the connection is closed without an answer
    let mut c = Client::connect(p.addr);
    c.send(b"GET /408 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(c.closed_within(Duration::from_secs(2)));
    let r = get(p.addr, "/403-e1");
    assert_eq!((r.status, r.header("x-tag")), (403, Some("e1")));
    let r = get(p.addr, "/r400");
    assert_eq!((r.status, r.header("x-tag")), (400, Some("e1")));
    let r = get(p.addr, "/empty");
    assert_eq!(
        (r.status, r.header("x-b"), r.header("content-length")),
        (200, Some("c"), Some("0"))
    );
    // a backend's deny uses the backend's errors (it has the 400 and 403 of defaults), then the frontend's
    let r = get(p.addr, "/be404");
    assert_eq!((r.status, r.header("x-a")), (404, Some("b")));
    assert_eq!(o[0].requests(), 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn del_header_with_match_methods() {
    let o = origins(2);
    let p = two_backends(
        "    http-request del-header x-str -m str
    http-request del-header x-beg -m beg
    http-request del-header -end -m end
    http-request del-header sub -m sub
    http-request del-header ^x.reg.$ -m reg
    http-response set-header X-Resp-A 1
    http-response set-header X-Resp-B 2
    http-response set-header X-Keep 3
    http-response del-header x-resp- -m beg",
        &o,
    );
    let r = request(
        &p,
        "GET /headers HTTP/1.1\r\nHost: t\r\nX-Str: 1\r\nX-Str-Not: 1\r\nX-Beg1: 1\r\nX-Beg2: 1\r\nA-End: 1\r\nX-Subx: 1\r\nX-Reg1: 1\r\nX-Reg12: 1\r\nConnection: close\r\n\r\n",
    );
    let seen = r.text();
    for gone in ["x-str:", "x-beg1", "x-beg2", "a-end", "x-subx", "x-reg1:"] {
        assert!(!seen.contains(gone), "{gone} in {seen}");
    }
    for kept in ["x-str-not: 1", "x-reg12: 1"] {
        assert!(seen.contains(kept), "{kept} not in {seen}");
    }
    assert_eq!(
        (
            r.header("x-resp-a"),
            r.header("x-resp-b"),
            r.header("x-keep")
        ),
        (None, None, Some("3"))
    );
}

/// Rules of a named defaults section run before the proxy's own, in the frontend and in the backend that use it
/// (HAProxy 2.5+): the defaults' `return` answers before the frontend's `deny`, and a header both set ends with the
/// proxy's value; the defaults' ACL serves its own rules.
#[test]
fn named_defaults_rules_run_first() {
    let o = origins(1);
    let cfg = format!(
        "global
    nbthread 1

defaults base
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

defaults front from base
    acl early path /early
    http-request return status 200 content-type text/plain string from-defaults if early
    http-request set-header X-Order defaults
    http-response set-header X-Resp defaults

defaults back from base
    http-request add-header X-Seen defaults-back
    http-response add-header X-Back defaults-back

frontend fe from front
    bind 127.0.0.1:{}
    http-request deny if {{ path /early }} || {{ path /denied }}
    http-request set-header X-Order frontend
    http-response set-header X-Resp frontend
    default_backend be

backend be from back
    http-request add-header X-Seen backend
    http-response add-header X-Back backend
    server s1 {}
",
        free_port(),
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    let r = request(
        &p,
        "GET /early HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((r.status, r.text().as_str()), (200, "from-defaults"));
    assert_eq!(
        request(
            &p,
            "GET /denied HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .status,
        403
    );
    let r = request(
        &p,
        "GET /headers HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let seen = r.text();
    assert!(seen.contains("x-order: frontend\n"), "{seen}");
    let order: Vec<&str> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("x-seen: "))
        .collect();
    assert_eq!(order, ["defaults-back", "backend"], "{seen}");
    assert_eq!(r.header("x-resp"), Some("frontend"));
    let back: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-back"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(back, ["defaults-back", "backend"]);
}

/// `http-request reject` closes the connection with nothing sent (the client reads an end of stream at once);
/// `silent-drop` closes it without telling the client (no FIN, no RST: its read waits). Neither reaches a
/// server, both count a denied request, as haproxy 2.6 does.
#[test]
fn reject_and_silent_drop() {
    use std::io::{Read, Write};
    let o = origins(2);
    let rules =
        "    http-request reject if { path /r }\n    http-request silent-drop if { path /s }";
    haproxy_accepts(&format!(
        "{DEFAULTS}\nfrontend fe\n    bind 127.0.0.1:{}\n{rules}\n    default_backend a\nbackend a\n    server s1 {}\nbackend b\n    server s2 {}\n",
        free_port(),
        o[0].addr(),
        o[1].addr()
    ));
    let p = two_backends(rules, &o);
    let read_after = |path: &str| {
        let mut s = std::net::TcpStream::connect(p.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(600)))
            .unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
            .unwrap();
        let mut buf = [0u8; 64];
        s.read(&mut buf).map_err(|e| e.kind())
    };
    assert_eq!(
        read_after("/r"),
        Ok(0),
        "reject: an end of stream, no answer"
    );
    assert_eq!(
        read_after("/s"),
        Err(std::io::ErrorKind::WouldBlock),
        "silent-drop: nothing reaches the client"
    );
    assert_eq!(o[0].requests() + o[1].requests(), 0);
    assert_eq!(via(&p, "/", ""), "s1");
}

/// The configuration of `last_rule_fetches_and_response_redirect`, listening on `port`.
fn last_rule_config(port: u16, server: std::net::SocketAddr) -> String {
    format!(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request set-var(txn.p) path
    http-request allow if {{ var(txn.p) -m str /allow }}
    default_backend be
backend be
    tcp-request content accept if {{ var(txn.p) -m str /tcp }}
    http-response redirect location /moved code 301 if {{ var(txn.p) -m str /redir }}
    http-response set-header x-lr \"%[last_rule_line] %[last_rule_file]\"
    server s1 {server}
"
    )
}

fn last_rule_outcomes(addr: std::net::SocketAddr) -> Vec<String> {
    let mut c = Client::connect(addr);
    ["/allow", "/tcp", "/none", "/redir"]
        .iter()
        .map(|p| {
            let r = c.get(p);
            let lr = r.header("x-lr").unwrap_or("");
            // the file's name differs between the two programs: only whether one is there
            let (line, file) = lr.split_once(' ').unwrap_or((lr, ""));
            format!(
                "{} {line} {} {}",
                r.status,
                !file.is_empty(),
                r.header("location").unwrap_or("-")
            )
        })
        .collect()
}

/// `last_rule_line` / `last_rule_file` name the last final rule the request met (`allow` in `http-request`, an
/// `accept` in `tcp-request content`), none when no final rule ran; `http-response redirect location` replaces
/// the server's response and keeps the connection. The same answers as haproxy 2.6.
#[test]
fn last_rule_fetches_and_response_redirect() {
    let o = origins(1);
    let p = start_proxy(&last_rule_config(free_port(), o[0].addr()));
    let got = last_rule_outcomes(p.addr);
    assert_eq!(
        got,
        [
            "200 9 true -",
            "200 12 true -",
            "200  false -",
            "301  false /moved"
        ]
    );
    if haproxy_present() {
        let port = free_port();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&last_rule_config(port, o[0].addr()), addr);
        assert_eq!(last_rule_outcomes(addr), got);
    }
}
