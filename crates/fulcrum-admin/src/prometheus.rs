//! Prometheus text exposition (version 0.0.4) with the metric names of HAProxy's built-in exporter
//! (`haproxy_frontend_*`, `haproxy_backend_*`, `haproxy_server_*`), plus latency histograms that HAProxy does
//! not have (`*_total_time_seconds`, `*_connect_time_seconds`, `*_response_time_seconds`).

use std::fmt::Write as _;

use crate::histogram::{HistogramSnapshot, BUCKETS};
use crate::stats::{Row, State, Stats, Timings};

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family: name, type, help, and how to read a value from a row (`None`: no sample for that row).
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&Row) -> Option<f64>,
}

const fn f(
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&Row) -> Option<f64>,
) -> Family {
    Family {
        name,
        kind,
        help,
        value,
    }
}

fn n(v: u64) -> Option<f64> {
    Some(v as f64)
}
fn o(v: Option<u64>) -> Option<f64> {
    v.map(|v| v as f64)
}

/// Families of frontend rows (label `proxy`).
const FRONTEND: &[Family] = &[
    f("haproxy_frontend_current_sessions", "gauge", "Number of current sessions on the frontend.", |r| n(r.scur)),
    f("haproxy_frontend_max_sessions", "gauge", "Highest value of current sessions encountered since process started.", |r| n(r.smax)),
    f("haproxy_frontend_limit_sessions", "gauge", "Frontend's maxconn.", |r| o(r.slim)),
    f("haproxy_frontend_sessions_total", "counter", "Total number of sessions since process started.", |r| n(r.stot)),
    f("haproxy_frontend_bytes_in_total", "counter", "Total number of request bytes since process started.", |r| n(r.bin)),
    f("haproxy_frontend_bytes_out_total", "counter", "Total number of response bytes since process started.", |r| n(r.bout)),
    f("haproxy_frontend_requests_denied_total", "counter", "Total number of denied requests since process started.", |r| o(r.dreq)),
    f("haproxy_frontend_responses_denied_total", "counter", "Total number of denied responses since process started.", |r| n(r.dresp)),
    f("haproxy_frontend_request_errors_total", "counter", "Total number of invalid requests since process started.", |r| o(r.ereq)),
    f("haproxy_frontend_http_requests_total", "counter", "Total number of HTTP requests processed by this frontend.", |r| o(r.req_tot)),
    f("haproxy_frontend_connections_total", "counter", "Total number of connections accepted on this frontend.", |r| o(r.conn_tot)),
    f("haproxy_frontend_intercepted_requests_total", "counter", "Total number of HTTP requests answered by the proxy itself (stats, monitor, services, redirects).", |r| o(r.intercepted)),
];

/// Families of backend rows (label `proxy`).
const BACKEND: &[Family] = &[
    f(
        "haproxy_backend_current_queue",
        "gauge",
        "Number of current queued requests.",
        |r| o(r.qcur),
    ),
    f(
        "haproxy_backend_max_queue",
        "gauge",
        "Highest value of queued requests encountered since process started.",
        |r| o(r.qmax),
    ),
    f(
        "haproxy_backend_current_sessions",
        "gauge",
        "Number of current sessions on the backend.",
        |r| n(r.scur),
    ),
    f(
        "haproxy_backend_max_sessions",
        "gauge",
        "Highest value of current sessions encountered since process started.",
        |r| n(r.smax),
    ),
    f(
        "haproxy_backend_sessions_total",
        "counter",
        "Total number of sessions since process started.",
        |r| n(r.stot),
    ),
    f(
        "haproxy_backend_bytes_in_total",
        "counter",
        "Total number of request bytes since process started.",
        |r| n(r.bin),
    ),
    f(
        "haproxy_backend_bytes_out_total",
        "counter",
        "Total number of response bytes since process started.",
        |r| n(r.bout),
    ),
    f(
        "haproxy_backend_requests_denied_total",
        "counter",
        "Total number of denied requests since process started.",
        |r| o(r.dreq),
    ),
    f(
        "haproxy_backend_responses_denied_total",
        "counter",
        "Total number of denied responses since process started.",
        |r| n(r.dresp),
    ),
    f(
        "haproxy_backend_connection_errors_total",
        "counter",
        "Total number of failed connections to servers since process started.",
        |r| o(r.econ),
    ),
    f(
        "haproxy_backend_response_errors_total",
        "counter",
        "Total number of invalid responses since process started.",
        |r| o(r.eresp),
    ),
    f(
        "haproxy_backend_retry_warnings_total",
        "counter",
        "Total number of server connection retries since process started.",
        |r| o(r.wretr),
    ),
    f(
        "haproxy_backend_redispatch_warnings_total",
        "counter",
        "Total number of server redispatches since process started.",
        |r| o(r.wredis),
    ),
    f(
        "haproxy_backend_up",
        "gauge",
        "Whether the backend has a usable server (1) or not (0).",
        |r| Some(if r.state == State::Up { 1.0 } else { 0.0 }),
    ),
    f(
        "haproxy_backend_weight",
        "gauge",
        "Sum of the active servers' effective weights.",
        |r| o(r.weight),
    ),
    f(
        "haproxy_backend_uweight",
        "gauge",
        "Sum of the active servers' configured weights.",
        |r| o(r.uweight),
    ),
    f(
        "haproxy_backend_active_servers",
        "gauge",
        "Number of active servers that are up.",
        |r| o(r.act),
    ),
    f(
        "haproxy_backend_backup_servers",
        "gauge",
        "Number of backup servers that are up.",
        |r| o(r.bck),
    ),
    f(
        "haproxy_backend_check_last_change_seconds",
        "gauge",
        "How long ago the backend's state last changed, in seconds.",
        |r| o(r.lastchg),
    ),
    f(
        "haproxy_backend_downtime_seconds_total",
        "counter",
        "Total time spent without any usable server, in seconds.",
        |r| o(r.downtime),
    ),
    f(
        "haproxy_backend_loadbalanced_total",
        "counter",
        "Total number of times a server of the backend was selected.",
        |r| o(r.lbtot),
    ),
    f(
        "haproxy_backend_http_requests_total",
        "counter",
        "Total number of HTTP requests processed by this backend.",
        |r| o(r.req_tot),
    ),
    f(
        "haproxy_backend_connection_attempts_total",
        "counter",
        "Total number of connections established to the backend's servers.",
        |r| o(r.connect),
    ),
    f(
        "haproxy_backend_connection_reuses_total",
        "counter",
        "Total number of idle server connections reused.",
        |r| o(r.reuse),
    ),
];

/// Families of server rows (labels `proxy`, `server`).
const SERVER: &[Family] = &[
    f(
        "haproxy_server_current_queue",
        "gauge",
        "Number of requests queued for this server.",
        |r| o(r.qcur),
    ),
    f(
        "haproxy_server_max_queue",
        "gauge",
        "Highest value of queued requests encountered since process started.",
        |r| o(r.qmax),
    ),
    f(
        "haproxy_server_current_sessions",
        "gauge",
        "Number of current sessions on the server.",
        |r| n(r.scur),
    ),
    f(
        "haproxy_server_max_sessions",
        "gauge",
        "Highest value of current sessions encountered since process started.",
        |r| n(r.smax),
    ),
    f(
        "haproxy_server_limit_sessions",
        "gauge",
        "The server's maxconn.",
        |r| o(r.slim),
    ),
    f(
        "haproxy_server_sessions_total",
        "counter",
        "Total number of sessions since process started.",
        |r| n(r.stot),
    ),
    f(
        "haproxy_server_bytes_in_total",
        "counter",
        "Total number of request bytes since process started.",
        |r| n(r.bin),
    ),
    f(
        "haproxy_server_bytes_out_total",
        "counter",
        "Total number of response bytes since process started.",
        |r| n(r.bout),
    ),
    f(
        "haproxy_server_responses_denied_total",
        "counter",
        "Total number of denied responses since process started.",
        |r| n(r.dresp),
    ),
    f(
        "haproxy_server_connection_errors_total",
        "counter",
        "Total number of failed connections to the server since process started.",
        |r| o(r.econ),
    ),
    f(
        "haproxy_server_response_errors_total",
        "counter",
        "Total number of invalid responses since process started.",
        |r| o(r.eresp),
    ),
    f(
        "haproxy_server_retry_warnings_total",
        "counter",
        "Total number of connection retries since process started.",
        |r| o(r.wretr),
    ),
    f(
        "haproxy_server_redispatch_warnings_total",
        "counter",
        "Total number of redispatches away from this server since process started.",
        |r| o(r.wredis),
    ),
    f(
        "haproxy_server_weight",
        "gauge",
        "The server's effective weight.",
        |r| o(r.weight),
    ),
    f(
        "haproxy_server_uweight",
        "gauge",
        "The server's configured weight.",
        |r| o(r.uweight),
    ),
    f(
        "haproxy_server_check_failures_total",
        "counter",
        "Total number of failed health checks.",
        |r| o(r.chkfail),
    ),
    f(
        "haproxy_server_check_up_down_total",
        "counter",
        "Total number of UP to DOWN transitions.",
        |r| o(r.chkdown),
    ),
    f(
        "haproxy_server_check_last_change_seconds",
        "gauge",
        "How long ago the server's state last changed, in seconds.",
        |r| o(r.lastchg),
    ),
    f(
        "haproxy_server_check_duration_seconds",
        "gauge",
        "Duration of the last health check, in seconds.",
        |r| r.check_duration.map(|ms| ms as f64 / 1000.0),
    ),
    f(
        "haproxy_server_downtime_seconds_total",
        "counter",
        "Total time spent down, in seconds.",
        |r| o(r.downtime),
    ),
    f(
        "haproxy_server_queue_limit",
        "gauge",
        "The server's maxqueue.",
        |r| o(r.qlimit),
    ),
    f(
        "haproxy_server_current_throttle",
        "gauge",
        "Throttling ratio applied during slowstart (0 to 100%).",
        |r| o(r.throttle),
    ),
    f(
        "haproxy_server_loadbalanced_total",
        "counter",
        "Total number of times the server was selected.",
        |r| o(r.lbtot),
    ),
    f(
        "haproxy_server_connection_attempts_total",
        "counter",
        "Total number of connections established to the server.",
        |r| o(r.connect),
    ),
    f(
        "haproxy_server_connection_reuses_total",
        "counter",
        "Total number of idle connections reused.",
        |r| o(r.reuse),
    ),
];

const CODES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// Escapes a label value (backslash, double quote, line feed).
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(row: &Row, server: bool) -> String {
    if server {
        format!(
            "proxy=\"{}\",server=\"{}\"",
            esc(&row.pxname),
            esc(&row.svname)
        )
    } else {
        format!("proxy=\"{}\"", esc(&row.pxname))
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn families(out: &mut String, list: &[Family], rows: &[&Row], server: bool) {
    for fam in list {
        let samples: Vec<(String, f64)> = rows
            .iter()
            .filter_map(|r| (fam.value)(r).map(|v| (labels(r, server), v)))
            .collect();
        if samples.is_empty() {
            continue;
        }
        head(out, fam.name, fam.kind, fam.help);
        for (l, v) in samples {
            let _ = writeln!(out, "{}{{{l}}} {}", fam.name, num(v));
        }
    }
}

fn status(out: &mut String, prefix: &str, rows: &[&Row], server: bool, states: &[(&str, State)]) {
    if rows.is_empty() {
        return;
    }
    let name = format!("{prefix}_status");
    head(
        out,
        &name,
        "gauge",
        "Current status of the service, per state label value.",
    );
    for r in rows {
        let l = labels(r, server);
        for (label, st) in states {
            let on = r.state == *st
                || (*st == State::Up && matches!(r.state, State::NoCheck | State::Open));
            let _ = writeln!(out, "{name}{{{l},state=\"{label}\"}} {}", u8::from(on));
        }
    }
}

fn responses(out: &mut String, prefix: &str, rows: &[&Row], server: bool) {
    let http: Vec<&&Row> = rows.iter().filter(|r| r.hrsp.is_some()).collect();
    if http.is_empty() {
        return;
    }
    let name = format!("{prefix}_http_responses_total");
    head(
        out,
        &name,
        "counter",
        "Total number of HTTP responses, per status class.",
    );
    for (i, code) in CODES.iter().enumerate() {
        for r in &http {
            let v = r.hrsp.map_or(0, |h| h[i]);
            let _ = writeln!(out, "{name}{{{},code=\"{code}\"}} {v}", labels(r, server));
        }
    }
}

fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    rows: &[&Row],
    server: bool,
    pick: fn(&Timings) -> &HistogramSnapshot,
) {
    let with: Vec<(&&Row, &Timings)> = rows
        .iter()
        .filter_map(|r| r.timings.as_ref().map(|t| (r, t)))
        .collect();
    if with.is_empty() {
        return;
    }
    head(out, name, "histogram", help);
    for (r, t) in with {
        let h = pick(t);
        let l = labels(r, server);
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"{le}\"}} {}", h.cumulative[i]);
        }
        let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum{{{l}}} {}", h.sum_seconds);
        let _ = writeln!(out, "{name}_count{{{l}}} {}", h.count);
    }
}

fn histograms(out: &mut String, prefix: &str, rows: &[&Row], server: bool) {
    let what = if server { "server" } else { "backend" };
    histogram(
        out,
        &format!("{prefix}_total_time_seconds"),
        &format!(
            "Time from the request head received to the last byte of the response, per {what}."
        ),
        rows,
        server,
        |t| &t.total,
    );
    histogram(
        out,
        &format!("{prefix}_connect_time_seconds"),
        &format!("Time to connect to the server (0 for a reused connection), per {what}."),
        rows,
        server,
        |t| &t.connect,
    );
    histogram(
        out,
        &format!("{prefix}_response_time_seconds"),
        &format!("Time from the request sent to the response head received, per {what}."),
        rows,
        server,
        |t| &t.response,
    );
}

/// Renders the whole exposition.
pub fn render(stats: &Stats) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let i = &stats.info;
    head(
        &mut out,
        "haproxy_process_uptime_seconds",
        "gauge",
        "How long ago the process started, in seconds.",
    );
    let _ = writeln!(out, "haproxy_process_uptime_seconds {}", i.uptime_secs);
    head(
        &mut out,
        "haproxy_process_current_connections",
        "gauge",
        "Number of active sessions.",
    );
    let _ = writeln!(
        out,
        "haproxy_process_current_connections {}",
        i.current_connections
    );
    if let Some(m) = i.max_connections {
        head(
            &mut out,
            "haproxy_process_max_connections",
            "gauge",
            "Maximum number of concurrent connections.",
        );
        let _ = writeln!(out, "haproxy_process_max_connections {m}");
    }
    head(
        &mut out,
        "haproxy_process_dropped_logs_total",
        "counter",
        "Log lines lost since the process started: dropped at the logger's queue or not delivered to a target.",
    );
    let _ = writeln!(out, "haproxy_process_dropped_logs_total {}", i.dropped_logs);

    let fe: Vec<&Row> = stats
        .proxies
        .iter()
        .filter_map(|p| p.frontend.as_ref())
        .collect();
    let be: Vec<&Row> = stats
        .proxies
        .iter()
        .filter_map(|p| p.backend.as_ref())
        .collect();
    let sv: Vec<&Row> = stats
        .proxies
        .iter()
        .flat_map(|p| p.servers.iter())
        .collect();

    families(&mut out, FRONTEND, &fe, false);
    status(
        &mut out,
        "haproxy_frontend",
        &fe,
        false,
        &[("DOWN", State::Down), ("UP", State::Up)],
    );
    responses(&mut out, "haproxy_frontend", &fe, false);

    families(&mut out, BACKEND, &be, false);
    status(
        &mut out,
        "haproxy_backend",
        &be,
        false,
        &[("DOWN", State::Down), ("UP", State::Up)],
    );
    responses(&mut out, "haproxy_backend", &be, false);
    histograms(&mut out, "haproxy_backend", &be, false);

    families(&mut out, SERVER, &sv, true);
    status(
        &mut out,
        "haproxy_server",
        &sv,
        true,
        &[
            ("DOWN", State::Down),
            ("UP", State::Up),
            ("MAINT", State::Maint),
            ("DRAIN", State::Drain),
            ("NOLB", State::NoLb),
        ],
    );
    responses(&mut out, "haproxy_server", &sv, true);
    histograms(&mut out, "haproxy_server", &sv, true);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{ProxyStats, RowKind};

    #[test]
    fn dropped_logs_is_a_process_counter() {
        let stats = Stats {
            info: crate::stats::Info {
                dropped_logs: 42,
                ..Default::default()
            },
            ..Stats::default()
        };
        let text = render(&stats);
        assert!(text.contains("# TYPE haproxy_process_dropped_logs_total counter\n"));
        assert!(text.contains("\nhaproxy_process_dropped_logs_total 42\n"));
    }

    #[test]
    fn families_are_declared_once_with_escaped_labels() {
        let row = |sv: &str, kind| Row {
            pxname: "we\"b".into(),
            svname: sv.into(),
            kind,
            hrsp: Some([0, 3, 0, 0, 1, 0]),
            timings: (kind != RowKind::Frontend).then(Timings::default),
            state: if kind == RowKind::Frontend {
                State::Open
            } else {
                State::Up
            },
            ..Row::default()
        };
        let stats = Stats {
            proxies: vec![ProxyStats {
                name: "we\"b".into(),
                mode: "http".into(),
                frontend: Some(row("FRONTEND", RowKind::Frontend)),
                servers: vec![row("s1", RowKind::Server), row("s2", RowKind::Server)],
                backend: Some(row("BACKEND", RowKind::Backend)),
            }],
            ..Stats::default()
        };
        let text = render(&stats);
        assert!(text
            .contains("haproxy_frontend_http_responses_total{proxy=\"we\\\"b\",code=\"2xx\"} 3\n"));
        assert!(text
            .contains("haproxy_server_status{proxy=\"we\\\"b\",server=\"s2\",state=\"UP\"} 1\n"));
        assert!(text.contains("haproxy_backend_up{proxy=\"we\\\"b\"} 1\n"));
        assert!(text.contains("haproxy_server_total_time_seconds_bucket{proxy=\"we\\\"b\",server=\"s1\",le=\"+Inf\"} 0\n"));
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        let mut names: Vec<&str> = types.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
        let before = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(before, names.len(), "a family is declared twice");
    }
}
