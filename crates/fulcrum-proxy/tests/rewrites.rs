//! The request-line rewrites (`set-method`, `set-pathq`, `replace-path`, `replace-pathq`, `replace-uri`,
//! `set-uri`), the address actions (`set-src`, `set-dst` and their ports) with `option forwardfor` and
//! `option originalto`, `allow`, and `http-request auth` with `userlist` sections, through real requests. Each
//! configuration is checked by `haproxy -c`; where haproxy is installed, the request lines a server receives are
//! compared with what haproxy 2.6 sends.

mod common;

use common::*;

/// A frontend `fe` with `rules`, in front of backend `app` (origin `o`, with `backend` rules).
fn config(port: u16, rules: &str, backend: &str, o: &fulcrum_proxy::origin::Origin) -> String {
    format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
{rules}
    default_backend app
backend app
{backend}
    server s1 {}
",
        o.addr()
    )
}

fn send(addr: std::net::SocketAddr, target: &str, headers: &str) -> Resp {
    let mut c = Client::connect(addr);
    c.send(
        format!("GET {target} HTTP/1.1\r\nHost: h.test\r\n{headers}Connection: close\r\n\r\n")
            .as_bytes(),
    );
    c.read_response(false)
}

/// The request line the origin received (its `/headers` page starts with it), and the `Host` header.
fn received(r: &Resp) -> (String, Option<String>) {
    let text = r.text();
    let line = text.lines().next().unwrap_or_default().to_string();
    let host = text
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string);
    (line, host)
}

const REWRITES: &str = "    http-request set-method POST if { hdr(x-case) m }
    http-request set-pathq /headers?from=pathq if { hdr(x-case) pq }
    http-request replace-path ^/rp(.*)/x /headers\\1 if { hdr(x-case) rp }
    http-request replace-pathq ^/y\\?(.*) /headers?q=\\1 if { hdr(x-case) rpq }
    http-request replace-uri ^http://[^/]*(/.*) \\1 if { hdr(x-case) ru }
    http-request set-uri other.test/headers if { hdr(x-case) su }";

/// The `x-case` header, the target sent, and what the origin must see (request line without the version, Host
/// header).
const CASES: &[(&str, &str, &str, &str)] = &[
    ("m", "/headers", "POST /headers", "h.test"),
    ("pq", "/other?a=1", "GET /headers?from=pathq", "h.test"),
    ("rp", "/rp/x?k=v", "GET /headers?k=v", "h.test"),
    ("rpq", "/y?a=b&c=d", "GET /headers?q=a=b&c=d", "h.test"),
    (
        "ru",
        "http://h.test/headers?z=1",
        "GET /headers?z=1",
        "h.test",
    ),
    ("su", "/nothing", "GET /headers", "other.test"),
];

#[test]
fn request_line_rewrites() {
    let o = origins(1);
    let port = free_port();
    let p = start_proxy(&config(port, REWRITES, "", &o[0]));
    for (case, target, want, host) in CASES {
        let r = send(p.addr, target, &format!("x-case: {case}\r\n"));
        assert_eq!(r.status, 200, "{target}");
        let (line, got_host) = received(&r);
        assert!(line.starts_with(&format!("{want} ")), "{target}: {line}");
        assert_eq!(got_host.as_deref(), Some(*host), "{target}");
    }
}

#[test]
fn request_line_rewrites_as_haproxy() {
    if !haproxy_present() {
        return;
    }
    let o = origins(1);
    let port = free_port();
    let cfg = config(port, REWRITES, "", &o[0]);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _h = start_haproxy(&cfg, addr);
    // Not `set-uri` to an authority-form target: HAProxy sends that target on as it is, which the origin (hyper)
    // refuses; fulcrum sends the path (what HAProxy's own later rules see, reg-test http-rules/h1_to_h1c).
    for (case, target, want, host) in CASES.iter().filter(|c| c.0 != "su") {
        let r = send(addr, target, &format!("x-case: {case}\r\n"));
        assert_eq!(r.status, 200, "haproxy: {target}");
        let (line, got_host) = received(&r);
        assert!(
            line.starts_with(&format!("{want} ")),
            "haproxy: {target}: {line}"
        );
        assert_eq!(got_host.as_deref(), Some(*host), "haproxy: {target}");
    }
}

#[test]
fn set_src_and_set_dst_with_forwardfor_and_originalto_except() {
    let o = origins(1);
    let port = free_port();
    let rules = "    http-request set-src hdr(x-s) if { hdr(x-s) -m found }
    http-request set-dst hdr(x-d) if { hdr(x-d) -m found }
    http-request set-src-port int(4242) if { hdr(x-sport) -m found }
    http-request set-dst-port hdr(x-dport) if { hdr(x-dport) -m found }
    http-request return status 200 hdr x-a \"%[src] %[src_port] %[dst] %[dst_port]\" if { path /addr }";
    let backend = "    option forwardfor except 10.0.0.0/8
    option originalto except 2001:db8::/32 header X-Dst";
    let p = start_proxy(&config(port, rules, backend, &o[0]));
    let r = send(
        p.addr,
        "/addr",
        "x-s: 192.0.2.7\r\nx-d: ::1\r\nx-sport: 1\r\nx-dport: 81\r\n",
    );
    assert_eq!(r.header("x-a"), Some(&*"192.0.2.7 4242 ::1 81".to_string()));
    // The source port is kept by set-src.
    let r = send(p.addr, "/addr", "x-s: 192.0.2.7\r\n");
    let a = r.header("x-a").unwrap().to_string();
    assert!(
        a.starts_with("192.0.2.7 ") && !a.starts_with("192.0.2.7 0 "),
        "{a}"
    );
    assert!(a.ends_with(&format!("127.0.0.1 {port}")), "{a}");
    let text = send(p.addr, "/headers", "x-s: 192.0.2.7\r\nx-d: 2001:db9::1\r\n").text();
    assert!(text.contains("x-forwarded-for: 192.0.2.7\n"), "{text}");
    assert!(text.contains("\nx-dst: 2001:db9::1\n"), "{text}");
    // Both in their `except` networks: neither header.
    let text = send(p.addr, "/headers", "x-s: 10.1.1.1\r\nx-d: 2001:db8::5\r\n").text();
    assert!(!text.contains("x-forwarded-for"), "{text}");
    assert!(!text.contains("\nx-dst"), "{text}");
    // A value that is not an address changes nothing.
    let text = send(p.addr, "/headers", "x-s: junk\r\n").text();
    assert!(text.contains("x-forwarded-for: 127.0.0.1\n"), "{text}");
    assert!(text.contains("\nx-dst: 127.0.0.1\n"), "{text}");
}

#[test]
fn allow_ends_the_proxys_rules() {
    let o = origins(1);
    let port = free_port();
    let rules = "    http-request allow if { path /headers }
    http-request deny
    http-response allow
    http-response set-header x-after allow";
    let backend = "    http-request set-header x-be yes";
    let p = start_proxy(&config(port, rules, backend, &o[0]));
    let r = send(p.addr, "/headers", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-after"), None);
    // The backend's rules still run.
    assert!(r.text().contains("x-be: yes"), "{}", r.text());
    assert_eq!(send(p.addr, "/other", "").status, 403);
}

/// `Authorization: Basic` for `user:pass`.
fn basic(user_pass: &str) -> String {
    use base64::Engine;
    format!(
        "Authorization: Basic {}\r\n",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

#[test]
fn auth_with_userlists() {
    let o = origins(1);
    let port = free_port();
    // crypt(3) of "pw": SHA-512 and MD5 with salt "saltsalt", single-quoted as HAProxy needs them (it expands
    // `$name` outside single quotes).
    let cfg = format!(
        "{DEFAULTS}
userlist L
    group admins users alice
    group staff
    user alice insecure-password secret
    user bob password '$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/08R2BPH2xk/' groups staff
    user carol password '$1$saltsalt$6SNdNaZLKst2LlSm7oPPL1'
frontend fe
    bind 127.0.0.1:{port}
    acl ok http_auth(L)
    acl admin http_auth_group(L) admins
    http-request auth realm \"the admins\" if {{ path_beg /admin }} !admin
    http-request auth unless ok
    http-request return status 200 hdr x-ok yes
backend app
    http-request auth
    server s1 {}
",
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    let r = send(p.addr, "/", "");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"fe\""));
    assert_eq!(r.header("content-type"), Some("text/html"));
    for good in ["alice:secret", "bob:pw", "carol:pw"] {
        let r = send(p.addr, "/", &basic(good));
        assert_eq!((r.status, r.header("x-ok")), (200, Some("yes")), "{good}");
    }
    for bad in ["alice:Secret", "bob:px", "dave:pw", "carol:"] {
        assert_eq!(send(p.addr, "/", &basic(bad)).status, 401, "{bad}");
    }
    assert_eq!(
        send(p.addr, "/", "Authorization: Bearer abc\r\n").status,
        401
    );
    // Groups: alice is an admin (from the group line), bob only staff.
    assert_eq!(send(p.addr, "/admin", &basic("alice:secret")).status, 200);
    let r = send(p.addr, "/admin", &basic("bob:pw"));
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"the admins\"")
    );
}

#[test]
fn auth_realm_is_the_rules_proxy() {
    let o = origins(1);
    let port = free_port();
    let p = start_proxy(&config(port, "", "    http-request auth", &o[0]));
    let r = send(p.addr, "/", "");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"app\""));
}

#[test]
fn http_auth_fetches_as_haproxy() {
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}
userlist L
    group G users a
    user a insecure-password pw
    user b insecure-password pw
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200 hdr x-t \"<%[http_auth_type]>\" hdr x-u \"<%[http_auth_user]>\" hdr x-p \"<%[http_auth_pass]>\" hdr x-a \"<%[http_auth(L)]>\" hdr x-g \"<%[http_auth_group(L)]>\"
"
    );
    // What haproxy 2.6.12 answers: "type user pass http_auth http_auth_group".
    let cases: &[(&str, &str)] = &[
        ("Basic YTpwdw==", "<Basic> <a> <pw> <1> <a>"),
        ("basic Yjpwdw==", "<Basic> <b> <pw> <1> <b>"),
        ("Basic YTp4", "<Basic> <a> <x> <0> <>"),
        ("Bearer abc", "<Bearer> <> <> <> <>"),
        ("Digest username=x", "<> <> <> <> <>"),
    ];
    let answers = |addr: std::net::SocketAddr| -> Vec<String> {
        cases
            .iter()
            .map(|(auth, _)| {
                let r = send(addr, "/", &format!("Authorization: {auth}\r\n"));
                ["x-t", "x-u", "x-p", "x-a", "x-g"]
                    .iter()
                    .map(|h| r.header(h).unwrap_or("?").to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    let p = start_proxy(&cfg);
    let want: Vec<String> = cases.iter().map(|c| c.1.to_string()).collect();
    assert_eq!(answers(p.addr), want);
    drop(p);
    if haproxy_present() {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&cfg, addr);
        assert_eq!(answers(addr), want, "haproxy");
    }
}

#[test]
fn reply_headers_that_render_empty_are_left_out() {
    let port = free_port();
    // Observed with haproxy 2.6.12: x-a and x-d are not sent.
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200 hdr x-a \"%[req.hdr(nope)]\" hdr x-c c hdr x-d \"%[req.hdr(x)]\" if {{ path /r }}
    http-request deny status 403 hdr x-a \"%[req.hdr(nope)]\" hdr x-c c
"
    );
    let p = start_proxy(&cfg);
    for (path, status) in [("/r", 200), ("/d", 403)] {
        let r = send(p.addr, path, "x: \r\n");
        assert_eq!(r.status, status);
        assert_eq!(r.header("x-c"), Some("c"));
        assert_eq!(r.header("x-a"), None, "{path}");
        assert_eq!(r.header("x-d"), None, "{path}");
    }
}

#[test]
fn capture_req_uri_is_the_target_as_received() {
    let o = origins(1);
    let port = free_port();
    // The path is rewritten, yet `capture.req.uri` in the response rules still sees what the client sent.
    let rules = "    http-request set-path /headers
    http-request set-header x-seen yes if { capture.req.uri /orig?a=1 }
    http-response set-header x-orig yes if { capture.req.uri /orig?a=1 }
    http-after-response set-header x-after yes if { capture.req.uri -m beg /orig }";
    let p = start_proxy(&config(port, rules, "", &o[0]));
    let r = send(p.addr, "http://h.test/orig?a=1", "");
    assert_eq!(r.status, 200);
    assert!(
        r.text().starts_with("GET http://h.test/headers?a=1 "),
        "{}",
        r.text()
    );
    assert!(r.text().contains("x-seen: yes"), "{}", r.text());
    assert_eq!(r.header("x-orig"), Some("yes"));
    assert_eq!(r.header("x-after"), Some("yes"));
    let r = send(p.addr, "/other", "");
    assert_eq!((r.header("x-orig"), r.header("x-after")), (None, None));
}
