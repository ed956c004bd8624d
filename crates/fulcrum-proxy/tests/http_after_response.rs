//! `http-after-response` rules and the `http_first_req` fetch through a real proxy: the rules run on every
//! response sent to the client (proxied, `http-request return`, `deny`, 503 without a server), the backend's
//! before the frontend's. Every configuration is also checked by the real `haproxy -c`.

mod common;

use common::*;

fn request(p: &Proxy, raw: &str) -> Resp {
    let mut c = Client::connect(p.addr);
    c.send(raw.as_bytes());
    c.read_response(false)
}

fn get_close(p: &Proxy, path: &str) -> Resp {
    request(
        p,
        &format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
    )
}

/// A frontend and a backend both with `http-after-response` rules; `/none` goes to a backend without servers.
fn proxy(origin: &fulcrum_proxy::origin::Origin) -> Proxy {
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    http-request deny if {{ path /deny }}
    http-after-response set-header x-order \"%[res.hdr(x-order)],fe\"
    http-after-response set-header x-fe-status %[status]
    http-after-response set-status 299 if {{ status 234 }}
    http-after-response set-header x-after-set %[status]
    use_backend empty if {{ path /none }}
    default_backend a
backend a
    http-request return status 200 content-type text/plain string returned if {{ path /return }}
    http-response set-header x-resp r
    http-after-response set-header x-order be
    http-after-response set-header x-saw-resp %[res.hdr(x-resp)]
    http-after-response set-var(txn.st) status
    server s1 {}
backend empty
    http-after-response allow if {{ status 503 }}
    http-after-response set-header x-order never
",
        free_port(),
        origin.addr()
    );
    start_proxy(&cfg)
}

#[test]
fn runs_on_proxied_and_generated_responses_backend_first() {
    let o = origins(1);
    let p = proxy(&o[0]);
    // A server's response: after the http-response rules, the backend's rules then the frontend's.
    let r = get_close(&p, "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello from s1\n");
    assert_eq!(r.header("x-resp"), Some("r"));
    assert_eq!(r.header("x-saw-resp"), Some("r"));
    assert_eq!(r.header("x-order"), Some("be,fe"));
    assert_eq!(r.header("x-fe-status"), Some("200"));
    // `http-request return` in the backend: both rulesets.
    let r = get_close(&p, "/return");
    assert_eq!((r.status, r.text().as_str()), (200, "returned"));
    assert_eq!(r.header("x-order"), Some("be,fe"));
    assert_eq!(r.header("x-resp"), None);
    // A backend without servers: 503, its `allow` skips the rest of its rules, the frontend's still run.
    let r = get_close(&p, "/none");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-order"), Some(",fe"));
    assert_eq!(r.header("x-fe-status"), Some("503"));
    // A frontend's deny: no backend, the frontend's rules only.
    let r = get_close(&p, "/deny");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-order"), Some(",fe"));
    assert_eq!(r.header("x-fe-status"), Some("403"));
}

#[test]
fn set_status_conditions_and_variables() {
    let o = origins(1);
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    http-request return status 200 if {{ path /ok }}
    http-after-response set-var(txn.before) status
    http-after-response set-status 404 if {{ status 200 }}
    http-after-response set-status 201 unless {{ status 404 }}
    http-after-response set-header x-before %[var(txn.before)]
    http-after-response set-header x-now %[status]
    http-after-response add-header x-list \"a1, b2,  zz ,c3\"
    http-after-response replace-value x-list ^([a-z])([0-9])$ \\2\\1
    http-after-response replace-header x-now ^4(.*)$ four\\1
    http-after-response del-header x-gone
    default_backend a
backend a
    http-response set-header x-gone yes
    server s1 {}
",
        free_port(),
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    let r = get_close(&p, "/ok");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-before"), Some("200"));
    assert_eq!(r.header("x-now"), Some("four04"));
    assert_eq!(r.header("x-list"), Some("1a,2b,  zz ,3c"));
    // A server's 500: the first rule does not match, the second does.
    let r = get_close(&p, "/status/500");
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-before"), Some("500"));
    assert_eq!(r.header("x-gone"), None);
}

#[test]
fn http_first_req_tells_the_first_request_of_a_connection() {
    let o = origins(1);
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    http-request return status 200 if {{ path /local }}
    http-after-response set-header x-first %[http_first_req]
    http-request set-header x-first-req %[http_first_req]
    default_backend a
backend a
    server s1 {}
",
        free_port(),
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    let mut c = Client::connect(p.addr);
    let r = c.get("/local");
    assert_eq!(r.header("x-first"), Some("1"));
    let r = c.get("/local");
    assert_eq!(r.header("x-first"), Some("0"));
    let r = c.get("/");
    assert_eq!(r.header("x-first"), Some("0"));
    // A new connection starts again.
    let mut c = Client::connect(p.addr);
    assert_eq!(c.get("/").header("x-first"), Some("1"));
}

#[test]
fn a_rewrite_that_does_not_fit_answers_500() {
    let v = "v".repeat(1000);
    let cfg = format!(
        "global
    nbthread 1
    tune.bufsize 2048
    tune.maxrewrite 128

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend fe
    bind 127.0.0.1:{}
    http-request return status 200 if {{ path /strict }}
    http-request return status 202 if {{ path /lax }}
    http-after-response strict-mode off if {{ status 202 }}
    http-after-response set-header x-a {v}
    http-after-response set-header x-b {v}
    http-after-response set-header x-c {v}
",
        free_port(),
    );
    let p = start_proxy(&cfg);
    let r = get_close(&p, "/strict");
    assert_eq!(r.status, 500);
    assert_eq!(r.header("x-a"), None);
    let r = get_close(&p, "/lax");
    assert_eq!(r.status, 202);
    assert_eq!(r.header("x-a").map(str::len), Some(1000));
    assert_eq!(r.header("x-c"), None);
}

#[test]
fn runs_on_redirects_and_the_stats_page() {
    let o = origins(1);
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{}
    http-request redirect location /elsewhere if {{ path /redir }}
    stats enable
    stats uri /stats
    http-after-response set-header x-after %[status]
    default_backend a
backend a
    server s1 {}
",
        free_port(),
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    let r = get_close(&p, "/redir");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/elsewhere"));
    assert_eq!(r.header("x-after"), Some("302"));
    let r = get_close(&p, "/stats;csv");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-after"), Some("200"));
}

/// `http-response return`: the server's response is replaced by the rule's (status, content type, a body and
/// `hdr` lines rendered from variables the response rules set), the rules after it do not run,
/// `http-after-response` rules still do; compared with haproxy 2.6 (which sees no response in the reply's own
/// log-format strings: fulcrum renders them against the server's, see COMPATIBILITY.md).
#[test]
fn http_response_return_replaces_the_servers_answer_as_haproxy() {
    let o = origins(1);
    let cfg = |port: u16| {
        format!(
            "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    http-after-response set-header x-after %[status]
    default_backend a
backend a
    http-response set-var(txn.code) status
    http-response set-var(txn.srv) res.hdr(content-length)
    http-response return status 503 content-type text/plain lf-string \"server said %[var(txn.code)]\" hdr x-from %[var(txn.srv)] if {{ status 404 }}
    http-response set-header x-not-reached yes if {{ status 404 }}
    server s1 {}
",
            o[0].addr()
        )
    };
    let run = |addr: std::net::SocketAddr| -> Vec<String> {
        ["/status/404", "/plain"]
            .iter()
            .map(|path| {
                let mut c = Client::connect(addr);
                c.send(
                    format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
                let r = c.read_response(false);
                let h = |n: &str| r.header(n).unwrap_or("-").to_string();
                format!(
                    "{} {} ct={} from={} after={} not-reached={} len={}",
                    r.status,
                    if r.status == 503 {
                        r.text()
                    } else {
                        "(server)".into()
                    },
                    h("content-type"),
                    h("x-from"),
                    h("x-after"),
                    h("x-not-reached"),
                    h("content-length"),
                )
            })
            .collect()
    };
    let port = free_port();
    let p = start_proxy(&cfg(port));
    let ours = run(p.addr);
    drop(p);
    assert_eq!(
        ours[0],
        "503 server said 404 ct=text/plain from=0 after=503 not-reached=- len=15"
    );
    assert!(ours[1].starts_with("200 (server)"), "{ours:?}");
    if haproxy_present() {
        let port = free_port();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&cfg(port), addr);
        let theirs = run(addr);
        assert_eq!(
            ours[0], theirs[0],
            "fulcrum (left) and haproxy (right) differ"
        );
    }
}

/// A server answering every request `200 Fine Thanks`, then closing.
fn fine_server() -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let mut c = c;
                let _ = c.write_all(
                    b"HTTP/1.1 200 Fine Thanks\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            });
        }
    });
    addr
}

/// The status line a proxy at `addr` answers `path` with.
fn status_line(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// `set-status CODE reason TEXT` in `http-response` and `http-after-response`: the reason phrase sent; without
/// `reason` the standard one replaces the server's; without a rule the server's stays. As haproxy 2.6 sends
/// them.
#[test]
fn set_status_reason_as_haproxy_sends_it() {
    let srv = fine_server();
    let cfg = |port: u16| {
        format!(
            "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    http-request set-var(txn.p) path
    http-after-response set-status 202 reason \"Accepted Later\" if {{ var(txn.p) -m str /after }}
    http-after-response set-status 404 if {{ var(txn.p) -m str /deny }}
    http-request deny deny_status 403 if {{ path /deny }}
    default_backend b
backend b
    http-response set-status 299 reason \"Very Fine\" if {{ var(txn.p) -m str /reason }}
    http-response set-status 503 if {{ var(txn.p) -m str /plain }}
    http-response set-status 201 reason \"Made It\" if {{ var(txn.p) -m str /twice }}
    http-response set-status 204 if {{ var(txn.p) -m str /twice }}
    server s {srv}
"
        )
    };
    let paths = ["/", "/reason", "/plain", "/after", "/twice", "/deny"];
    let port = free_port();
    let text = cfg(port);
    haproxy_accepts(&text);
    let p = start_proxy(&text);
    let ours: Vec<String> = paths.iter().map(|x| status_line(p.addr, x)).collect();
    assert_eq!(
        ours,
        [
            "HTTP/1.1 200 Fine Thanks",
            "HTTP/1.1 299 Very Fine",
            "HTTP/1.1 503 Service Unavailable",
            "HTTP/1.1 202 Accepted Later",
            "HTTP/1.1 204 No Content",
            "HTTP/1.1 404 Not Found",
        ]
    );
    if !haproxy_present() {
        return;
    }
    let port = free_port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let _h = start_haproxy(&cfg(port), addr);
    let theirs: Vec<String> = paths.iter().map(|x| status_line(addr, x)).collect();
    assert_eq!(ours, theirs);
}

/// The 400 a malformed request gets and the 408 of `timeout http-request` come from the HTTP parser, before any
/// stream exists: no `http-after-response` rule runs on them, as with haproxy 2.6 (observed).
#[test]
fn parser_errors_are_not_seen_by_the_rules() {
    let cfg = format!(
        "{DEFAULTS}    timeout http-request 300ms
frontend fe
    bind 127.0.0.1:{}
    http-after-response set-header x-after yes
    http-after-response set-status 418 if {{ status 400 }}
    http-request return status 200
",
        free_port()
    );
    let p = start_proxy(&cfg);
    let bad = request(&p, "GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n");
    assert_eq!((bad.status, bad.header("x-after")), (400, None));
    let mut c = Client::connect(p.addr);
    c.send(b"GET / HTTP/1.1\r\n");
    let late = c.read_response(false);
    assert_eq!((late.status, late.header("x-after")), (408, None));
    let ok = get_close(&p, "/");
    assert_eq!((ok.status, ok.header("x-after")), (200, Some("yes")));
}
