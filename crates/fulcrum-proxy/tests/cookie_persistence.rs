//! Cookie persistence (`cookie NAME insert|rewrite|prefix ...`) compared with the real HAProxy: the same
//! configuration and the same requests go through `haproxy -db` and through fulcrum, against origins that report
//! the `Cookie` header they received and set a cookie of their own on some paths; the server that answered, the
//! cookie it saw, every `Set-Cookie` of the response and the `%tsc` letters of the log line must be the same.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::*;

/// An origin named `name`: answers every request with `x-srv: NAME` and `x-got-cookie: <the Cookie header>`;
/// on a path holding `setck` it sets `SRVID=fromsrv; path=/app`, on one holding `other` `JSESSIONID=abc`.
fn origin(name: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || serve(name, s));
        }
    });
    addr
}

fn serve(name: &str, s: TcpStream) {
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let (mut cookie, mut len) = (Vec::new(), 0usize);
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("cookie") {
                    cookie.push(v.trim().to_string());
                } else if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let got = if cookie.is_empty() {
            "<none>".to_string()
        } else {
            cookie.join(" | ")
        };
        let mut resp = format!("HTTP/1.1 200 OK\r\nx-srv: {name}\r\nx-got-cookie: {got}\r\n");
        if path.contains("setck") {
            resp.push_str("Set-Cookie: SRVID=fromsrv; path=/app\r\n");
        }
        if path.contains("other") {
            resp.push_str("Set-Cookie: JSESSIONID=abc; path=/\r\n");
        }
        resp.push_str("Content-Length: 2\r\n\r\nok");
        if r.get_mut().write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// One request: method, path, `Cookie` header.
type Req = (&'static str, &'static str, Option<&'static str>);

/// What is compared for each request: who answered, the cookie it received, the response's `Set-Cookie`
/// and `Cache-Control` headers.
fn drive(addr: SocketAddr, reqs: &[Req]) -> Vec<String> {
    let mut out = Vec::new();
    for (method, path, cookie) in reqs {
        let mut c = Client::connect(addr);
        let cookie = cookie.map_or(String::new(), |v| format!("Cookie: {v}\r\n"));
        let body = if *method == "POST" {
            "Content-Length: 0\r\n"
        } else {
            ""
        };
        c.send(
            format!(
                "{method} {path} HTTP/1.1\r\nHost: t\r\n{cookie}{body}Connection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        let r = c.read_response(false);
        let mut seen = format!(
            "{} srv={} got={}",
            r.status,
            r.header("x-srv").unwrap_or("-"),
            r.header("x-got-cookie").unwrap_or("-")
        );
        for (k, v) in &r.headers {
            if k.eq_ignore_ascii_case("set-cookie") || k.eq_ignore_ascii_case("cache-control") {
                seen.push_str(&format!(" | {}: {v}", k.to_ascii_lowercase()));
            }
        }
        out.push(undated(&seen));
    }
    out
}

/// `text` with every cookie date (`|` and five base64 digits) written `|DATE`: dates move every 4 s, so a run
/// through haproxy and one through fulcrum may see different ones.
fn undated(text: &str) -> String {
    let b64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('|') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let date: String = rest.chars().take(5).collect();
        if date.len() == 5 && date.chars().all(b64) {
            out.push_str("DATE");
            rest = &rest[5..];
        }
    }
    out.push_str(rest);
    out
}

/// A cookie date `delta` units (4 s each) from now, as HAProxy writes it.
fn date(delta: i64) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let units = ((secs + 3) / 4 + delta) as u32;
    [24, 18, 12, 6, 0]
        .iter()
        .map(|s| B64[((units >> s) & 63) as usize] as char)
        .collect()
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The configuration: a listen section with three servers whose cookies are c1..c3 (`s3_addr` may be a closed
/// port, checked).
fn config(
    port: u16,
    log: u16,
    cookie: &str,
    extra: &str,
    servers: &[SocketAddr; 3],
    s3: &str,
) -> String {
    format!(
        "global
    nbthread 1
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{port}
    log 127.0.0.1:{log} local0
    log-format \"%s %tsc\"
    option dontlognull
    {cookie}
{extra}
    server s1 {} cookie c1
    server s2 {} cookie c2
    server s3 {} cookie c3 {s3}
",
        servers[0], servers[1], servers[2]
    )
}

/// Runs `reqs` through haproxy (when present) and fulcrum on the same configuration; returns fulcrum's
/// responses and log lines after checking they equal haproxy's.
fn compare(cookie: &str, extra: &str, s3_down: bool, reqs: &[Req]) -> (Vec<String>, Vec<String>) {
    compare_with(cookie, extra, s3_down, "", reqs)
}

/// [`compare`], with options for s3 (`disabled`...).
fn compare_with(
    cookie: &str,
    extra: &str,
    s3_down: bool,
    s3_opts: &str,
    reqs: &[Req],
) -> (Vec<String>, Vec<String>) {
    let mut servers = [origin("s1"), origin("s2"), origin("s3")];
    let s3 = if s3_down {
        servers[2] = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        "check inter 100 fall 1 rise 1"
    } else {
        s3_opts
    };
    let run = |start: &dyn Fn(&str, SocketAddr) -> Box<dyn std::any::Any>| {
        let log = common::syslog::Syslog::start();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let text = config(port, log.addr.port(), cookie, extra, &servers, s3);
        let guard = start(&text, addr);
        if s3_down {
            // The check marks s3 down.
            std::thread::sleep(Duration::from_millis(600));
        }
        let seen = drive(addr, reqs);
        // Health-check state changes are logged too: only request lines are compared.
        let lines = log.wait_messages(reqs.len(), |m| !m.starts_with("Server "));
        drop(guard);
        (seen, lines)
    };
    let ours = run(&|text, _| Box::new(start_proxy(text)));
    if haproxy_present() {
        let theirs = run(&|text, addr| Box::new(start_haproxy(text, addr)));
        assert_eq!(
            ours.0, theirs.0,
            "responses differ from haproxy's ({cookie})"
        );
        assert_eq!(
            ours.1, theirs.1,
            "log letters differ from haproxy's ({cookie})"
        );
    }
    ours
}

#[test]
fn insert_indirect_nocache_with_three_servers() {
    let (seen, log) = compare(
        "cookie SRVID insert indirect nocache",
        "",
        false,
        &[
            ("GET", "/", None),
            ("GET", "/", Some("SRVID=c2")),
            ("GET", "/", Some("SRVID=c2; a=b")),
            ("GET", "/", Some("a=b; SRVID=zz; c=d")),
            ("GET", "/setck", Some("SRVID=c3")),
            ("GET", "/setck", None),
            ("POST", "/", None),
        ],
    );
    assert_eq!(
        seen[0],
        "200 srv=s1 got=<none> | set-cookie: SRVID=c1; path=/"
    );
    assert_eq!(seen[1], "200 srv=s2 got=<none>");
    assert_eq!(seen[2], "200 srv=s2 got=a=b");
    assert_eq!(
        seen[3],
        "200 srv=s2 got=a=b; c=d | set-cookie: SRVID=c2; path=/"
    );
    assert_eq!(seen[4], "200 srv=s3 got=<none>");
    assert_eq!(log[0], "s1 --NI");
    assert_eq!(log[1], "s2 --VN");
    assert_eq!(log[3], "s2 --II");
    assert_eq!(log[4], "s3 --VD");
}

#[test]
fn insert_with_attributes_postonly_and_preserve() {
    let (seen, log) = compare(
        "cookie SRVID insert indirect attr SameSite=Lax secure httponly domain .a.com domain .b.com attr x=y postonly",
        "",
        false,
        &[("POST", "/", None), ("GET", "/", None), ("GET", "/", Some("SRVID=zz"))],
    );
    assert_eq!(
        seen[0],
        "200 srv=s1 got=<none> | set-cookie: SRVID=c1; path=/; domain=.a.com; domain=.b.com; HttpOnly; Secure; SameSite=Lax; x=y"
    );
    assert_eq!(log[1], "s2 --NN");
    assert_eq!(log[2], "s3 --IN");
    let (seen, log) = compare(
        "cookie SRVID insert preserve",
        "",
        false,
        &[
            ("GET", "/setck", Some("SRVID=c2")),
            ("GET", "/setck", None),
            ("GET", "/other", None),
        ],
    );
    assert_eq!(
        seen[0],
        "200 srv=s2 got=SRVID=c2 | set-cookie: SRVID=fromsrv; path=/app"
    );
    assert_eq!(log[0], "s2 --VP");
    assert_eq!(log[1], "s1 --NP");
    assert_eq!(log[2], "s2 --NI");
}

#[test]
fn prefix_and_rewrite_modes() {
    let reqs: &[Req] = &[
        ("GET", "/setck", Some("SRVID=c2~abc; x=1")),
        ("GET", "/setck", None),
        ("GET", "/", Some("SRVID=c3")),
        ("GET", "/other", None),
    ];
    let (seen, log) = compare("cookie SRVID prefix", "", false, reqs);
    assert_eq!(
        seen[0],
        "200 srv=s2 got=SRVID=abc; x=1 | set-cookie: SRVID=c2~fromsrv; path=/app"
    );
    assert_eq!(
        seen[1],
        "200 srv=s1 got=<none> | set-cookie: SRVID=c1~fromsrv; path=/app"
    );
    assert_eq!(log[0], "s2 --VR");
    assert_eq!(log[2], "s3 --VN");
    let (_, log) = compare("cookie SRVID prefix indirect", "", false, reqs);
    assert_eq!(log[0], "s2 --VD");
    // In rewrite mode `c2~abc` names no server: round robin, and the server's cookie rewritten.
    let (seen, log) = compare("cookie SRVID rewrite", "", false, reqs);
    assert_eq!(
        seen[0],
        "200 srv=s1 got=SRVID=c2~abc; x=1 | set-cookie: SRVID=c1; path=/app"
    );
    assert_eq!(log[0], "s1 --IR");
    assert_eq!(log[1], "s2 --NR");
    assert_eq!(log[2], "s3 --VN");
}

#[test]
fn down_server_with_and_without_redispatch() {
    let reqs: &[Req] = &[
        ("GET", "/", Some("SRVID=c3")),
        ("GET", "/", Some("SRVID=c3")),
    ];
    for extra in ["", "    option redispatch"] {
        let (seen, log) = compare("cookie SRVID insert indirect", extra, true, reqs);
        assert_eq!(
            seen[0],
            "200 srv=s1 got=<none> | set-cookie: SRVID=c1; path=/"
        );
        assert_eq!(
            seen[1],
            "200 srv=s2 got=<none> | set-cookie: SRVID=c2; path=/"
        );
        assert_eq!(log, ["s1 --DI", "s2 --DI"]);
    }
}

#[test]
fn server_in_maintenance_with_and_without_persist() {
    let reqs: &[Req] = &[("GET", "/", Some("SRVID=c3"))];
    let (seen, log) = compare_with("cookie SRVID insert indirect", "", false, "disabled", reqs);
    assert_eq!(
        seen[0],
        "200 srv=s1 got=<none> | set-cookie: SRVID=c1; path=/"
    );
    assert_eq!(log, ["s1 --DI"]);
    // `option persist`: the server in maintenance gets the request, nothing is inserted, the letter stays D.
    let (seen, log) = compare_with(
        "cookie SRVID insert indirect",
        "    option persist",
        false,
        "disabled",
        reqs,
    );
    assert_eq!(seen[0], "200 srv=s3 got=<none>");
    assert_eq!(log, ["s3 --DN"]);
}

/// `stick store-response res.cook(...)`: the server that set the application's cookie is learnt from its response,
/// and `stick match req.cook(...)` sends the requests carrying that cookie back to it.
#[test]
fn stick_store_response_learns_the_server_from_its_cookie() {
    let (seen, log) = compare(
        "stick-table type string len 32 size 1k",
        "    stick match req.cook(JSESSIONID)\n    stick store-response res.cook(JSESSIONID)",
        false,
        &[
            ("GET", "/", None),
            ("GET", "/other", None),
            ("GET", "/", Some("JSESSIONID=abc")),
            ("GET", "/", Some("JSESSIONID=abc")),
            ("GET", "/", Some("JSESSIONID=zzz")),
        ],
    );
    let srv: Vec<&str> = seen.iter().map(|s| &s[4..10]).collect();
    assert_eq!(srv, ["srv=s1", "srv=s2", "srv=s2", "srv=s2", "srv=s3"]);
    assert_eq!(log[2], "s2 ----");
}

/// `maxidle` / `maxlife`: dates in the value, expired (`E`) and too old (`O`) cookies replaced, valid ones
/// updated (`U`) when their last date is behind, as haproxy 2.6 does.
#[test]
fn maxidle_and_maxlife_dates() {
    let reqs: Vec<Req> = vec![
        ("GET", "/", None),
        // Last seen 400 s ago: over maxidle (40 s).
        (
            "GET",
            "/",
            Some(leak(format!("SRVID=c2|{}|{}", date(-100), date(-100)))),
        ),
        // Last date ahead (accepted), first 800 s ago: valid, nothing to update.
        (
            "GET",
            "/",
            Some(leak(format!("SRVID=c2|{}|{}", date(5), date(-200)))),
        ),
        // First set 4000 s ago: over maxlife (1 h).
        (
            "GET",
            "/",
            Some(leak(format!("SRVID=c3|{}|{}", date(-5), date(-1000)))),
        ),
        // Valid, last date 20 s behind: updated, the first date kept.
        (
            "GET",
            "/",
            Some(leak(format!("SRVID=c2|{}|{}", date(-5), date(-50)))),
        ),
        // No dates at all: both set.
        ("GET", "/", Some("SRVID=c2")),
        // More than a day ahead: expired.
        (
            "GET",
            "/",
            Some(leak(format!("SRVID=c2|{}|{}", date(30_000), date(0)))),
        ),
    ];
    let (seen, log) = compare(
        "cookie SRVID insert maxidle 40s maxlife 1h",
        "",
        false,
        &reqs,
    );
    assert_eq!(
        seen[0],
        "200 srv=s1 got=<none> | set-cookie: SRVID=c1|DATE|DATE; path=/"
    );
    assert_eq!(
        log,
        ["s1 --NI", "s2 --EI", "s2 --VN", "s3 --OI", "s2 --VU", "s2 --VU", "s1 --EI"]
    );
    assert!(
        seen[4].ends_with(" | set-cookie: SRVID=c2|DATE|DATE; path=/"),
        "{}",
        seen[4]
    );
    // maxidle alone: `VALUE|LAST`.
    let (seen, log) = compare(
        "cookie SRVID insert indirect maxidle 1m",
        "",
        false,
        &[
            ("GET", "/", None),
            ("GET", "/", Some(leak(format!("SRVID=c3|{}", date(-3))))),
        ],
    );
    assert_eq!(
        seen[0],
        "200 srv=s1 got=<none> | set-cookie: SRVID=c1|DATE; path=/"
    );
    assert_eq!(
        seen[1],
        "200 srv=s3 got=<none> | set-cookie: SRVID=c3|DATE; path=/"
    );
    assert_eq!(log, ["s1 --NI", "s3 --VU"]);
}

/// `force-persist` sends a request to the server its cookie names even in maintenance; `ignore-persist` leaves
/// the cookie unused (`U`) and inserts none, as haproxy 2.6 does.
#[test]
fn force_and_ignore_persist() {
    let (seen, log) = compare_with(
        "cookie SRVID insert indirect",
        "    force-persist if { path_beg /force }\n    ignore-persist if { path_beg /ignore }",
        false,
        "disabled",
        &[
            ("GET", "/force", Some("SRVID=c3")),
            ("GET", "/", Some("SRVID=c3")),
            ("GET", "/ignore", Some("SRVID=c1")),
            ("GET", "/ignore", None),
            ("GET", "/ignore", Some("SRVID=zz")),
        ],
    );
    assert_eq!(seen[0], "200 srv=s3 got=<none>");
    assert_eq!(log, ["s3 --DN", "s1 --DI", "s2 --UN", "s1 --NN", "s2 --UN"]);
}

/// `capture cookie`: `%CC` and `%CS` as haproxy 2.6 writes them.
#[test]
fn capture_cookie_in_the_log() {
    let (_, log) = compare(
        "cookie SRVID insert",
        "    capture cookie SRV len 12\n    log-format \"%s %tsc %CC %CS\"",
        false,
        &[
            ("GET", "/", Some("a=1; SRVIDX=0123456789abc")),
            ("GET", "/setck", Some("b=2; SRVID=c1")),
            ("GET", "/other", None),
        ],
    );
    assert_eq!(
        log,
        // The server's own `Set-Cookie` is captured, not the one the proxy inserts.
        [
            "s1 --NI SRVIDX=01234 -",
            "s1 --VD SRVID=c1 SRVID=fromsr",
            "s2 --NI - -"
        ]
    );
}

/// `cookie ... dynamic` with `dynamic-cookie-key`: servers without a `cookie` value get haproxy's hashed one
/// (the same bytes as haproxy 2.6 sends), and a request carrying it goes back to that server.
#[test]
fn dynamic_cookies_are_haproxys() {
    let servers = [origin("s1"), origin("s2")];
    let run = |start: &dyn Fn(&str, SocketAddr) -> Box<dyn std::any::Any>| {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let text = format!(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{port}
    cookie DYN insert indirect dynamic
    dynamic-cookie-key s3cret
    server s1 {}
    server s2 {} cookie fixed
",
            servers[0], servers[1]
        );
        let guard = start(&text, addr);
        let first = drive(addr, &[("GET", "/", None), ("GET", "/", None)]);
        let value = first[0]
            .split("DYN=")
            .nth(1)
            .and_then(|v| v.split(';').next())
            .unwrap_or_default()
            .to_string();
        let back = drive(
            addr,
            &[
                ("GET", "/", Some(leak(format!("DYN={value}")))),
                ("GET", "/", Some(leak(format!("DYN={value}")))),
            ],
        );
        drop(guard);
        (first, value, back)
    };
    let ours = run(&|text, _| Box::new(start_proxy(text)));
    assert_eq!(ours.1.len(), 16, "{:?}", ours.0);
    assert!(ours.1.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        ours.0[1],
        "200 srv=s2 got=<none> | set-cookie: DYN=fixed; path=/"
    );
    assert_eq!(ours.2, ["200 srv=s1 got=<none>", "200 srv=s1 got=<none>"]);
    if haproxy_present() {
        let theirs = run(&|text, addr| Box::new(start_haproxy(text, addr)));
        assert_eq!(ours, theirs);
    }
}
