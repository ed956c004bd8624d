//! Counters, the stats page (HTML and `;csv`), `stats auth`, `monitor-uri` and the Prometheus exporter, through a
//! real proxy. The CSV header and rows are compared with the real HAProxy's for the same configuration, the
//! exposition is parsed by the reference Python parser, and the page is rendered by headless Chromium.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

const AUTH: &str = "Basic YWRtaW46czNjcmV0"; // admin:s3cret

/// The configuration under test: `web` (stats, monitor, exporter) in front of `app`, and a `listen`.
fn config(web: u16, other: u16, o: &[fulcrum_proxy::origin::Origin], extra_server: &str) -> String {
    format!(
        "{DEFAULTS}
frontend web
    bind 127.0.0.1:{web}
    monitor-uri /monitor
    http-request deny if {{ path /deny }}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    stats enable
    stats uri /stats
    stats refresh 5s
    stats auth admin:s3cret
    default_backend app

backend app
{}{extra_server}
listen other
    bind 127.0.0.1:{other}
    server s3 {}
",
        server_lines(&o[..2], ""),
        o[2].addr()
    )
}

fn get_with(addr: SocketAddr, path: &str, auth: Option<&str>) -> Resp {
    let mut c = Client::connect(addr);
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{auth}Connection: close\r\n\r\n").as_bytes());
    c.read_response(false)
}

/// The CSV as (header, rows keyed by "pxname/svname" with cells keyed by column).
type Rows = Vec<(String, HashMap<String, String>)>;

fn parse_csv(text: &str) -> (String, Rows) {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default().to_string();
    let cols: Vec<String> = header
        .trim_start_matches("# ")
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let cells: HashMap<String, String> = cols
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect();
            (format!("{}/{}", cells["pxname"], cells["svname"]), cells)
        })
        .collect();
    (header, rows)
}

fn cell(rows: &Rows, row: &str, col: &str) -> u64 {
    let r = &rows
        .iter()
        .find(|(k, _)| k == row)
        .unwrap_or_else(|| panic!("no row {row}"))
        .1;
    r[col]
        .parse()
        .unwrap_or_else(|_| panic!("{row} {col} = {:?}", r[col]))
}

#[test]
fn counters_count_every_request_by_class_under_concurrent_load() {
    let o = origins(3);
    let p = start_proxy(&config(free_port(), free_port(), &o, ""));
    let (threads, per) = (8, 50);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let addr = p.addr;
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for i in 0..per {
                    let path = match (t + i) % 4 {
                        0 => "/status/200",
                        1 => "/status/404",
                        2 => "/status/503",
                        _ => "/deny",
                    };
                    c.get(path);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let total = threads * per;
    let each = (total / 4) as u64;
    // Backend totals are closed when a response body ends: wait for the last one.
    let snap = p.running.as_ref().unwrap().snapshot().clone();
    assert!(wait_until(Duration::from_secs(5), || {
        snap.backends[0]
            .stats
            .cur
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
    }));
    let r = get_with(p.addr, "/stats;csv", Some(AUTH));
    assert_eq!(r.status, 200);
    let (_, rows) = parse_csv(&r.text());
    let fe = "web/FRONTEND";
    assert_eq!(
        cell(&rows, fe, "req_tot"),
        total as u64 + 1,
        "the CSV request counts too"
    );
    assert_eq!(cell(&rows, fe, "hrsp_2xx"), each);
    assert_eq!(cell(&rows, fe, "hrsp_4xx"), 2 * each, "404s and denials");
    assert_eq!(cell(&rows, fe, "hrsp_5xx"), each);
    assert_eq!(cell(&rows, fe, "dreq"), each);
    assert_eq!(cell(&rows, fe, "stot"), threads as u64 + 1);
    assert_eq!(cell(&rows, fe, "conn_tot"), threads as u64 + 1);
    assert!(cell(&rows, fe, "bin") > 0 && cell(&rows, fe, "bout") > 0);
    let be = "app/BACKEND";
    let routed = 3 * each;
    assert_eq!(cell(&rows, be, "req_tot"), routed);
    assert_eq!(cell(&rows, be, "stot"), routed);
    assert_eq!(cell(&rows, be, "hrsp_2xx"), each);
    assert_eq!(cell(&rows, be, "hrsp_4xx"), each);
    assert_eq!(cell(&rows, be, "hrsp_5xx"), each);
    assert_eq!(cell(&rows, be, "lbtot"), routed);
    assert_eq!(cell(&rows, be, "scur"), 0);
    let s = |col| cell(&rows, "app/s1", col) + cell(&rows, "app/s2", col);
    assert_eq!(s("stot"), routed);
    assert_eq!(s("lbtot"), routed);
    assert_eq!(s("hrsp_2xx"), each);
    assert_eq!(s("hrsp_5xx"), each);
    assert!(cell(&rows, "app/s1", "stot") > 0 && cell(&rows, "app/s2", "stot") > 0);
    assert_eq!(s("connect") + s("reuse"), routed);
    // Histograms count every routed request.
    let t = &snap.backends[0].stats.timings;
    assert_eq!(t.total.snapshot().count, routed);
    assert_eq!(t.response.snapshot().count, routed);
    assert_eq!(t.connect.snapshot().count, routed);
}

#[test]
fn tcp_mode_counts_bytes_and_sessions() {
    let o = origins(1);
    let tcp_port = free_port();
    let cfg = format!(
        "{DEFAULTS}
listen web
    bind 127.0.0.1:{}
    stats enable
    stats uri /stats
    server s1 {}
listen raw
    mode tcp
    bind 127.0.0.1:{tcp_port}
    server s1 {}
",
        free_port(),
        o[0].addr(),
        o[0].addr()
    );
    let p = start_proxy(&cfg);
    let tcp: SocketAddr = format!("127.0.0.1:{tcp_port}").parse().unwrap();
    for _ in 0..3 {
        assert_eq!(get(tcp, "/").status, 200);
    }
    let r = get(p.addr, "/stats;csv");
    let (_, rows) = parse_csv(&r.text());
    assert!(wait_until(Duration::from_secs(2), || {
        let (_, rows) = parse_csv(&get(p.addr, "/stats;csv").text());
        cell(&rows, "raw/BACKEND", "stot") == 3 && cell(&rows, "raw/s1", "bout") > 0
    }));
    assert_eq!(cell(&rows, "raw/FRONTEND", "stot"), 3);
    assert!(cell(&rows, "raw/FRONTEND", "bin") > 0);
    assert_eq!(cell(&rows, "raw/s1", "stot"), 3);
    let line = r
        .text()
        .lines()
        .find(|l| l.starts_with("raw,FRONTEND,"))
        .unwrap()
        .to_string();
    assert!(line.contains(",tcp,"), "{line}");
}

#[test]
fn stats_auth_answers_401_then_200_and_csv() {
    let o = origins(3);
    let p = start_proxy(&config(free_port(), free_port(), &o, ""));
    let r = get_with(p.addr, "/stats", None);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"HAProxy Statistics\"")
    );
    let r = get_with(p.addr, "/stats", Some("Basic YWRtaW46d3Jvbmc="));
    assert_eq!(r.status, 401);
    let r = get_with(p.addr, "/stats", Some(AUTH));
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let page = r.text();
    for name in ["web", "app", "other", "s1", "s2", "s3"] {
        assert!(page.contains(name), "{name} missing from the page");
    }
    assert!(page.contains("http-equiv=\"refresh\" content=\"5\""));
    assert!(page.contains(env!("CARGO_PKG_VERSION")));
    let r = get_with(p.addr, "/stats;csv;norefresh", Some(AUTH));
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("# pxname,svname,qcur,"));
    // Nothing reached a server.
    assert!(o.iter().all(|o| o.requests() == 0));
}

#[test]
fn hide_version_and_norefresh() {
    let o = origins(1);
    let cfg = format!(
        "{DEFAULTS}
listen web
    bind 127.0.0.1:{}
    stats uri /s
    stats refresh 10s
    stats hide-version
{}",
        free_port(),
        server_lines(&o, "")
    );
    let p = start_proxy(&cfg);
    let page = get(p.addr, "/s").text();
    assert!(!page.contains(env!("CARGO_PKG_VERSION")));
    assert!(page.contains("content=\"10\""));
    assert!(!get(p.addr, "/s;norefresh").text().contains("http-equiv"));
    // Other URIs are forwarded.
    assert_eq!(get(p.addr, "/").text(), "Hello from s1\n");
}

#[test]
fn monitor_uri_is_answered_without_forwarding() {
    let o = origins(3);
    let p = start_proxy(&config(free_port(), free_port(), &o, ""));
    let r = get(p.addr, "/monitor");
    assert_eq!(r.status, 200);
    assert!(o.iter().all(|o| o.requests() == 0));
    assert_eq!(get(p.addr, "/monitor/x").status, 200, "served by an origin");
    assert_eq!(o[0].requests() + o[1].requests(), 1);
}

/// Runs `python3 -c SCRIPT` with `input` on stdin; `None` (skip) when python or prometheus_client is missing
/// and peers are not required.
fn python(script: &str, input: &str) -> Option<String> {
    use std::io::Write;
    let child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if !peers_required() => {
            eprintln!("python3 missing, skipping: {e}");
            return None;
        }
        Err(e) => panic!("python3 is needed (scripts/install-deps.sh): {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("No module named 'prometheus_client'") {
        assert!(
            !peers_required(),
            "prometheus_client is needed (scripts/install-deps.sh)"
        );
        eprintln!("prometheus_client missing, skipping");
        return None;
    }
    assert!(out.status.success(), "python failed: {err}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

const PARSE: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{fam.type} {fam.name} {s.name} {labels} {float(s.value)}")
"#;

#[test]
fn prometheus_exposition_parses_with_the_reference_parser() {
    let o = origins(3);
    let p = start_proxy(&config(free_port(), free_port(), &o, ""));
    for _ in 0..10 {
        assert_eq!(get(p.addr, "/status/200").status, 200);
    }
    assert_eq!(get(p.addr, "/status/404").status, 404);
    let r = get(p.addr, "/metrics");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text();
    let Some(parsed) = python(PARSE, &text) else {
        return;
    };
    let has = |needle: &str| parsed.lines().any(|l| l.starts_with(needle));
    assert!(has(
        "gauge haproxy_frontend_current_sessions haproxy_frontend_current_sessions proxy=web "
    ));
    assert!(has("counter haproxy_frontend_http_responses haproxy_frontend_http_responses_total code=2xx,proxy=web 10.0"));
    assert!(has("counter haproxy_frontend_http_responses haproxy_frontend_http_responses_total code=4xx,proxy=web 1.0"));
    assert!(has("counter haproxy_backend_http_responses haproxy_backend_http_responses_total code=2xx,proxy=app 10.0"));
    assert!(has(
        "gauge haproxy_backend_up haproxy_backend_up proxy=app 1.0"
    ));
    assert!(has(
        "gauge haproxy_server_status haproxy_server_status proxy=app,server=s1,state=UP 1.0"
    ));
    assert!(has(
        "counter haproxy_server_sessions haproxy_server_sessions_total proxy=other,server=s3 0.0"
    ));
    assert!(has("histogram haproxy_backend_total_time_seconds haproxy_backend_total_time_seconds_count proxy=app 11.0"));
    assert!(has("histogram haproxy_server_connect_time_seconds haproxy_server_connect_time_seconds_bucket le=+Inf,proxy=app,server=s1"));
    assert!(has("histogram haproxy_backend_response_time_seconds haproxy_backend_response_time_seconds_sum proxy=app"));
}

struct Haproxy(Child, std::path::PathBuf);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_file(&self.1);
    }
}

#[test]
fn csv_header_and_rows_match_real_haproxy() {
    let o = origins(3);
    // HAProxy gets the same configuration on other ports.
    let (hweb, hother) = (free_port(), free_port());
    let text = config(
        hweb,
        hother,
        &o,
        "    server down 127.0.0.1:1 check backup\n",
    );
    let path = std::env::temp_dir().join(format!("fulcrum-stats-{}.cfg", std::process::id()));
    std::fs::write(&path, &text).unwrap();
    let child = match Command::new("haproxy")
        .arg("-f")
        .arg(&path)
        .arg("-db")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            assert!(!peers_required(), "haproxy is needed: {e}");
            eprintln!("haproxy missing: skipping the CSV comparison");
            return;
        }
    };
    let _h = Haproxy(child, path);
    let haddr: SocketAddr = format!("127.0.0.1:{hweb}").parse().unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        std::net::TcpStream::connect(haddr).is_ok()
    }));
    let theirs = get_with(haddr, "/stats;csv", Some(AUTH)).text();

    let p = start_proxy(&config(
        free_port(),
        free_port(),
        &o,
        "    server down 127.0.0.1:1 check backup\n",
    ));
    let ours = get_with(p.addr, "/stats;csv", Some(AUTH)).text();
    let (their_header, their_rows) = parse_csv(&theirs);
    let (our_header, our_rows) = parse_csv(&ours);
    assert_eq!(our_header, their_header);
    let names = |rows: &Rows| -> Vec<String> { rows.iter().map(|(k, _)| k.clone()).collect() };
    assert_eq!(names(&our_rows), names(&their_rows));
    // Columns whose values do not depend on traffic or timing agree too.
    for ((name, ours), (_, theirs)) in our_rows.iter().zip(&their_rows) {
        // A backend's act/bck count the servers up, which depends on when the checks ran.
        let server = ours["type"] == "2";
        for col in [
            "type", "iid", "sid", "act", "bck", "mode", "weight", "uweight", "algo",
        ] {
            if !ours[col].is_empty() && (server || !matches!(col, "act" | "bck")) {
                assert_eq!(ours[col], theirs[col], "{name} {col}");
            }
        }
        assert_eq!(ours.len(), theirs.len(), "{name}: cell count");
    }

    // `;json`: every field fulcrum writes is one HAProxy writes for the same row, at the same position, with the
    // same object type, ids, tags and value type; names and modes have the same values.
    let json = |addr| -> serde_json::Value {
        let r = get_with(addr, "/stats;json", Some(AUTH));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        serde_json::from_str(&r.text()).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
    };
    let (theirs, ours) = (json(haddr), json(p.addr));
    let (theirs, ours) = (theirs.as_array().unwrap(), ours.as_array().unwrap());
    assert_eq!(ours.len(), theirs.len(), "rows");
    let mut compared = 0;
    for (our_row, their_row) in ours.iter().zip(theirs) {
        let their_fields = their_row.as_array().unwrap();
        for f in our_row.as_array().unwrap() {
            let name = &f["field"]["name"];
            let t = their_fields
                .iter()
                .find(|t| &t["field"]["name"] == name)
                .unwrap_or_else(|| panic!("HAProxy has no field {name} in row {their_row}"));
            for key in ["objType", "proxyId", "id", "processNum", "field", "tags"] {
                assert_eq!(f[key], t[key], "{name}: {key}");
            }
            assert_eq!(f["value"]["type"], t["value"]["type"], "{name}: value type");
            if ["pxname", "svname", "mode", "type", "iid", "sid"].contains(&name.as_str().unwrap())
            {
                assert_eq!(f["value"], t["value"], "{name}");
            }
            compared += 1;
        }
    }
    assert!(compared > 100, "{compared} fields compared");
}

/// Runs headless Chromium with `args`; `None` (skip) when it is missing and peers are not required.
fn chromium(args: &[&str]) -> Option<std::process::Output> {
    let profile = std::env::temp_dir().join(format!(
        "fulcrum-chromium-{}-{}",
        std::process::id(),
        args.len()
    ));
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .stdin(Stdio::null());
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            assert!(
                !peers_required(),
                "chromium is needed (scripts/install-deps.sh): {e}"
            );
            eprintln!("chromium missing: skipping the browser test");
            return None;
        }
    };
    let _ = std::fs::remove_dir_all(&profile);
    Some(out)
}

#[test]
fn stats_page_renders_in_a_headless_browser() {
    let o = origins(3);
    let cfg = format!(
        "{DEFAULTS}
frontend web
    bind 127.0.0.1:{}
    stats enable
    stats uri /stats
    default_backend app
backend app
{}    server s3 {} backup check inter 200ms
    server down 127.0.0.1:1 check inter 200ms fall 1 rise 1
    server maint {} disabled
",
        free_port(),
        server_lines(&o[..2], "check inter 200ms"),
        o[2].addr(),
        o[2].addr()
    );
    let p = start_proxy(&cfg);
    let snap = p.running.as_ref().unwrap().snapshot().clone();
    assert!(wait_until(Duration::from_secs(3), || !snap.backends[0]
        .servers[3]
        .is_up()));
    // The sampler took its first reading at start. The test then starts the history afresh with two readings ten
    // seconds apart around the traffic (taken here, not by the sampler's 10 s period): one interval each.
    assert!(wait_until(Duration::from_secs(3), || snap
        .history
        .lock()
        .unwrap()
        .readings("app", "s1")
        >= 1));
    {
        let mut h = snap.history.lock().unwrap();
        *h = fulcrum_admin::history::History::new();
        h.record(1000.0, &fulcrum_proxy::stats::collect(&snap));
    }
    for _ in 0..20 {
        get(p.addr, "/");
    }
    snap.history
        .lock()
        .unwrap()
        .record(1010.0, &fulcrum_proxy::stats::collect(&snap));
    let url = format!("http://{}/stats", p.addr);
    let Some(dom) = chromium(&["--dump-dom", &url]) else {
        return;
    };
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<table"), "no table in the DOM: {dom}");
    // The pictures: 20 requests in 10 s over two servers, and the backend's 2.0/s.
    assert!(dom.contains("<div class=\"pics\">"), "no pictures: {dom}");
    assert!(
        dom.contains("<title>requests per second, last 10 s: now 2.0, peak 2.0</title>"),
        "{dom}"
    );
    assert!(dom.contains("<polyline class=\"p99\""), "{dom}");
    for name in ["s1", "s2", "s3", "down", "maint", "FRONTEND", "BACKEND"] {
        assert!(
            dom.contains(&format!("data-name=\"{name}\"")),
            "{name} missing from the DOM"
        );
    }
    for (class, name) in [
        ("up", "s1"),
        ("backup-up", "s3"),
        ("down", "down"),
        ("maint", "maint"),
    ] {
        assert!(
            dom.contains(&format!("<tr class=\"{class}\" data-name=\"{name}\">")),
            "{name} is not shown as {class}"
        );
    }
    // Under the target directory, so that `make test` leaves the work tree as it found it; docs/stats-page.png
    // is refreshed from here by hand (docs/OPERATIONS.md).
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("stats-page.png");
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    let out = chromium(&[&arg, "--window-size=1280,800", &url]).unwrap();
    assert!(
        shot.exists() && std::fs::metadata(&shot).unwrap().len() > 1000,
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("stats page screenshot: {}", shot.display());
}

fn post_form(addr: SocketAddr, path: &str, body: &str) -> Resp {
    let mut c = Client::connect(addr);
    c.send(
        format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    c.read_response(false)
}

#[test]
fn stats_admin_form_changes_server_states() {
    let o = origins(2);
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind 127.0.0.1:{}
    stats enable
    stats uri /stats
    stats admin if LOCALHOST
{}
listen ro
    bind 127.0.0.1:{}
    stats enable
    stats uri /stats
    stats admin if {{ src 198.18.0.1 }}
{}",
        free_port(),
        server_lines(&o, ""),
        free_port(),
        server_lines(&o, "")
    );
    let p = start_proxy(&cfg);
    let running = p.running.as_ref().unwrap();
    let ro = running.local_addrs()[1].1;
    // The page offers the form only where `stats admin` allows it.
    assert!(get(p.addr, "/stats").text().contains("<form method=post"));
    assert!(!get(ro, "/stats").text().contains("<form method=post"));

    let r = post_form(p.addr, "/stats", "b=app&s=s1&action=maint");
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/stats;st=DONE"))
    );
    for _ in 0..4 {
        assert_eq!(served_by(&get(p.addr, "/")), "s2");
    }
    let csv = get(p.addr, "/stats;csv").text();
    let line = csv
        .lines()
        .find(|l| l.starts_with("app,s1,"))
        .unwrap()
        .to_string();
    assert!(line.contains(",MAINT,"), "{line}");

    let r = post_form(p.addr, "/stats", "b=app&s=s1&s=nosuch&action=ready");
    assert_eq!(r.header("location"), Some("/stats;st=PART"));
    let names: std::collections::HashSet<_> =
        (0..4).map(|_| served_by(&get(p.addr, "/"))).collect();
    assert!(names.contains("s1"), "{names:?}");

    assert_eq!(
        post_form(p.addr, "/stats", "b=app&s=s1&action=bogus").header("location"),
        Some("/stats;st=ERRP")
    );
    // Not allowed from this client: nothing changes.
    let r = post_form(ro, "/stats", "b=ro&s=s1&action=maint");
    assert_eq!(r.header("location"), Some("/stats;st=DENY"));
    let csv = get(ro, "/stats;csv").text();
    let line = csv
        .lines()
        .find(|l| l.starts_with("ro,s1,"))
        .unwrap()
        .to_string();
    assert!(!line.contains(",MAINT,"), "{line}");
}

/// `stats http-request allow|deny|auth [realm R] if COND` decide who sees the page (the first that matches; the
/// credentials checked with `http_auth` against a userlist, as `stats auth` may not be mixed with the rules), and
/// `stats scope` lists the proxies it shows (`.`: the one serving it): status, challenge and the proxies of the CSV
/// compared with haproxy 2.6.
#[test]
fn stats_http_request_rules_and_scope_match_haproxy() {
    let o = origins(3);
    let cfg = |web: u16| {
        format!(
            "{DEFAULTS}
userlist admins
    user admin insecure-password s3cret

frontend web
    bind 127.0.0.1:{web}
    stats enable
    stats uri /stats
    stats scope .
    stats scope app
    stats http-request deny if {{ hdr(x-who) evil }}
    stats http-request allow if {{ hdr(x-who) trusted }}
    stats http-request auth realm Ops if {{ hdr(x-who) ops }}
    stats http-request auth unless {{ http_auth(admins) }}
    default_backend app

backend app
{}
listen other
    bind 127.0.0.1:{}
    server s3 {}
",
            server_lines(&o[..2], ""),
            web + 1,
            o[2].addr()
        )
    };
    let run = |addr: SocketAddr| -> Vec<String> {
        let ask = |who: Option<&str>, auth: Option<&str>| {
            let mut c = Client::connect(addr);
            let who = who.map_or(String::new(), |w| format!("X-Who: {w}\r\n"));
            let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
            c.send(
                format!(
                    "GET /stats;csv HTTP/1.1\r\nHost: t\r\n{who}{auth}Connection: close\r\n\r\n"
                )
                .as_bytes(),
            );
            let r = c.read_response(false);
            let mut proxies: Vec<String> = if r.status == 200 {
                r.text()
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split(',').next().map(str::to_string))
                    .collect()
            } else {
                Vec::new()
            };
            proxies.dedup();
            format!(
                "{} {} {:?}",
                r.status,
                r.header("www-authenticate").unwrap_or("-"),
                proxies
            )
        };
        vec![
            ask(Some("evil"), Some(AUTH)),
            ask(Some("trusted"), None),
            ask(Some("ops"), Some(AUTH)),
            ask(None, None),
            ask(None, Some(AUTH)),
        ]
    };
    let port = free_port_block(2);
    let p = start_proxy(&cfg(port));
    let ours = run(p.addr);
    drop(p);
    assert_eq!(
        ours,
        [
            "403 - []",
            "200 - [\"web\", \"app\"]",
            "401 Basic realm=\"Ops\" []",
            "401 Basic realm=\"HAProxy Statistics\" []",
            "200 - [\"web\", \"app\"]",
        ]
    );
    if haproxy_present() {
        let port = free_port_block(2);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _h = start_haproxy(&cfg(port), addr);
        assert_eq!(ours, run(addr), "fulcrum (left) and haproxy (right) differ");
    }
}
