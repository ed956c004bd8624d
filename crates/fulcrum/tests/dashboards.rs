//! The Grafana dashboards in `dashboards/` chart only what fulcrum exports: every metric a query names (the
//! `haproxy_`, `keepalived_`, `fulcrum_` and `node_ipvs_` names) must be one the proxy serves on a live run, or
//! one the VRRP, L4 and checker renderers declare, and every query must name at least one.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PREFIXES: [&str; 4] = ["haproxy_", "keepalived_", "fulcrum_", "node_ipvs_"];

/// The metric names of an exposition: every sample's name and every `# TYPE` line's.
fn names(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter_map(|l| match l.strip_prefix("# TYPE ") {
            Some(t) => t.split(' ').next(),
            None if l.starts_with('#') || l.is_empty() => None,
            None => l.split(['{', ' ']).next(),
        })
        .map(str::to_string)
        .collect()
}

/// The names a PromQL query uses that start with one of [`PREFIXES`] (label names and functions do not).
fn metrics_in(expr: &str) -> Vec<String> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut depth_braces, mut quote) = (0, 0, false);
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' => quote = !quote,
            b'{' if !quote => depth_braces += 1,
            b'}' if !quote => depth_braces -= 1,
            c if !quote && depth_braces == 0 && (c.is_ascii_alphabetic() || c == b'_') => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &expr[start..i];
                if PREFIXES.iter().any(|p| word.starts_with(p)) {
                    out.push(word.to_string());
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// What a running `fulcrum proxy` serves at its prometheus-exporter URL after one proxied request.
fn proxy_names() -> BTreeSet<String> {
    let origin =
        fulcrum_proxy::origin::Origin::start("web1", "127.0.0.1:0".parse().unwrap()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("fulcrum-dash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n    maxconn 100\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n\
             frontend web\n    bind 127.0.0.1:{port}\n    http-request use-service prometheus-exporter if {{ path /metrics }}\n    default_backend app\n\
             backend app\n    option httpchk GET /health\n    server s1 {} check inter 200ms\n    server s2 {} backup\n",
            origin.addr(),
            origin.addr()
        ),
    )
    .unwrap();
    struct Kill(std::process::Child, std::path::PathBuf);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let _proxy = Kill(
        Command::new(env!("CARGO_BIN_EXE_fulcrum"))
            .args(["proxy", "-f"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        dir.clone(),
    );
    let get = |path: &str| -> Option<String> {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            c,
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        c.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        // A request through the backend (so its histograms have samples), then the page once a check ran.
        let proxied = get("/").is_some_and(|r| r.starts_with("HTTP/1.1 200"));
        if let Some(page) = get("/metrics").filter(|_| proxied) {
            if page.contains("haproxy_server_check_duration_seconds{") {
                return names(&page);
            }
        }
        assert!(Instant::now() < end, "the proxy never served a full page");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_query_names_an_exported_metric() {
    let mut exported = proxy_names();
    exported.extend(names(&fulcrum_vrrp::metrics::render(&[], &[])));
    exported.extend(names(&fulcrum_lvs::metrics::render(
        &fulcrum_lvs::model::Table::new(),
    )));
    exported.extend(names(&fulcrum_checkers::metrics::render(&[])));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    for f in files {
        let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let panels = d["panels"].as_array().expect("panels");
        assert!(!panels.is_empty(), "{}", f.display());
        for p in panels {
            let targets = p["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{}: {}", f.display(), p["title"]);
            for t in targets {
                let expr = t["expr"].as_str().expect("expr");
                let used = metrics_in(expr);
                assert!(!used.is_empty(), "{}: {expr} names no metric", f.display());
                for m in used {
                    assert!(
                        exported.contains(&m),
                        "{}: panel {}: {m} is not a metric fulcrum exports",
                        f.display(),
                        p["title"]
                    );
                }
            }
        }
    }
}

#[test]
fn query_parsing_finds_metrics_but_not_labels() {
    assert_eq!(
        metrics_in(
            "histogram_quantile(0.9, sum by (proxy, le) (rate(haproxy_backend_total_time_seconds_bucket{proxy=\"fulcrum_x\"}[5m])))"
        ),
        ["haproxy_backend_total_time_seconds_bucket"]
    );
    assert_eq!(
        metrics_in("time() - fulcrum_vrrp_last_transition_timestamp_seconds"),
        ["fulcrum_vrrp_last_transition_timestamp_seconds"]
    );
}
