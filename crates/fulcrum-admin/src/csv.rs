//! `show stat` / `<stats uri>;csv`: HAProxy 2.6's CSV, with its exact column order. Columns fulcrum does not
//! measure are left empty, as HAProxy does for the ones a row does not support.

use std::fmt::Write as _;

use crate::stats::{Row, Stats};

/// HAProxy 2.6's columns, in order (`-` separates the core columns from the per-module ones).
pub const COLUMNS: &[&str] = &[
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
    "-",
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
    "h2_headers_rcvd",
    "h2_data_rcvd",
    "h2_settings_rcvd",
    "h2_rst_stream_rcvd",
    "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp",
    "h2_goaway_resp",
    "h2_open_connections",
    "h2_backend_open_streams",
    "h2_total_connections",
    "h2_backend_total_streams",
    "h1_open_connections",
    "h1_open_streams",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
];

/// The header line, as HAProxy prints it (`# pxname,svname,...,` with a trailing comma).
pub fn header() -> String {
    let mut s = String::from("# ");
    for c in COLUMNS {
        s.push_str(c);
        s.push(',');
    }
    s
}

/// The whole CSV: the header line and one line per row, as the stats page's `;csv` (the runtime API's `show stat`
/// then ends with the CLI's empty line, as HAProxy's).
pub fn render(stats: &Stats) -> String {
    let mut out = header();
    out.push('\n');
    for row in stats.rows() {
        render_row(row, &mut out);
        out.push('\n');
    }
    out
}

/// CSV-escapes a text cell: HAProxy quotes a field holding a comma, a quote or a line break.
fn text(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt(v: Option<u64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_default()
}

/// Mean of a histogram in whole milliseconds (HAProxy's qtime/ctime/rtime/ttime are averages in ms).
fn mean_ms(h: &crate::HistogramSnapshot) -> String {
    if h.count == 0 {
        "0".into()
    } else {
        ((h.sum_seconds * 1000.0 / h.count as f64) as u64).to_string()
    }
}

/// The columns holding text (CSV-quoted when they hold a comma, a quote or a line break).
const TEXT: [&str; 8] = [
    "pxname",
    "svname",
    "status",
    "check_status",
    "check_desc",
    "addr",
    "mode",
    "algo",
];

/// One cell of `row`, as the CSV writes it.
pub fn cell(row: &Row, column: &str) -> String {
    let v = value(row, column);
    if TEXT.contains(&column) {
        text(&v)
    } else {
        v
    }
}

/// One field of `row` as text, unescaped; empty where fulcrum has no value for it.
pub fn value(row: &Row, column: &str) -> String {
    let hrsp = |i: usize| row.hrsp.map(|h| h[i].to_string()).unwrap_or_default();
    let agent = row.agent.as_ref();
    match column {
        "pxname" => row.pxname.clone(),
        "svname" => row.svname.clone(),
        "qcur" => opt(row.qcur),
        "qmax" => opt(row.qmax),
        "scur" => row.scur.to_string(),
        "smax" => row.smax.to_string(),
        "slim" => opt(row.slim),
        "stot" => row.stot.to_string(),
        "bin" => row.bin.to_string(),
        "bout" => row.bout.to_string(),
        "dreq" => opt(row.dreq),
        "dresp" => row.dresp.to_string(),
        "ereq" => opt(row.ereq),
        "econ" => opt(row.econ),
        "eresp" => opt(row.eresp),
        "wretr" => opt(row.wretr),
        "wredis" => opt(row.wredis),
        "status" => row.status_text(),
        "weight" => opt(row.weight),
        "act" => opt(row.act),
        "bck" => opt(row.bck),
        "chkfail" => opt(row.chkfail),
        "chkdown" => opt(row.chkdown),
        "hanafail" => opt(row.hanafail),
        "lastchg" => opt(row.lastchg),
        "downtime" => opt(row.downtime),
        "qlimit" => opt(row.qlimit),
        "pid" => "1".into(),
        "iid" => row.iid.to_string(),
        "sid" => row.sid.to_string(),
        "throttle" => opt(row.throttle),
        "lbtot" => opt(row.lbtot),
        "type" => row.kind.code().to_string(),
        "check_status" => row.check_status.clone().unwrap_or_default(),
        "check_code" => opt(row.check_code),
        "check_duration" => opt(row.check_duration),
        "hrsp_1xx" => hrsp(0),
        "hrsp_2xx" => hrsp(1),
        "hrsp_3xx" => hrsp(2),
        "hrsp_4xx" => hrsp(3),
        "hrsp_5xx" => hrsp(4),
        "hrsp_other" => hrsp(5),
        "req_tot" => opt(row.req_tot),
        "cli_abrt" => opt(row.cli_abrt),
        "srv_abrt" => opt(row.srv_abrt),
        "lastsess" => row.lastsess.map(|n| n.to_string()).unwrap_or_default(),
        "qtime" => row
            .timings
            .as_ref()
            .map(|t| mean_ms(&t.queue))
            .unwrap_or_default(),
        "qtime_max" => opt(row.timings.as_ref().map(|t| t.queue.max_us / 1000)),
        "ctime_max" => opt(row.timings.as_ref().map(|t| t.connect.max_us / 1000)),
        "rtime_max" => opt(row.timings.as_ref().map(|t| t.response.max_us / 1000)),
        "ttime_max" => opt(row.timings.as_ref().map(|t| t.total.max_us / 1000)),
        "ctime" => row
            .timings
            .as_ref()
            .map(|t| mean_ms(&t.connect))
            .unwrap_or_default(),
        "rtime" => row
            .timings
            .as_ref()
            .map(|t| mean_ms(&t.response))
            .unwrap_or_default(),
        "ttime" => row
            .timings
            .as_ref()
            .map(|t| mean_ms(&t.total))
            .unwrap_or_default(),
        "check_desc" => row.check_desc.clone().unwrap_or_default(),
        "last_agt" => agent.map(|a| a.last.clone()).unwrap_or_default(),
        "agent_status" => agent.map(|a| a.status.clone()).unwrap_or_default(),
        "agent_code" => opt(agent.and_then(|a| a.code)),
        "agent_duration" => opt(agent.and_then(|a| a.duration)),
        "agent_desc" => agent.map(|a| a.desc.clone()).unwrap_or_default(),
        "agent_rise" | "agent_fall" => opt(agent.map(|_| 1)),
        "agent_health" => opt(agent.map(|a| a.health)),
        "check_rise" => opt(row.check_rise_fall_health.map(|t| t.0)),
        "check_fall" => opt(row.check_rise_fall_health.map(|t| t.1)),
        "check_health" => opt(row.check_rise_fall_health.map(|t| t.2)),
        "addr" => row.addr.clone().unwrap_or_default(),
        "mode" => row.mode.clone(),
        "algo" => row.algo.clone().unwrap_or_default(),
        "conn_tot" => opt(row.conn_tot),
        "intercepted" => opt(row.intercepted),
        "comp_in" => opt(row.comp.map(|c| c[0])),
        "comp_out" => opt(row.comp.map(|c| c[1])),
        "comp_byp" => opt(row.comp.map(|c| c[2])),
        "comp_rsp" => opt(row.comp.map(|c| c[3])),
        "connect" => opt(row.connect),
        "reuse" => opt(row.reuse),
        "uweight" => opt(row.uweight),
        "dcon" => opt(row.denied_conn_sess.map(|d| d.0)),
        "dses" => opt(row.denied_conn_sess.map(|d| d.1)),
        "rate" => opt(row.rate.map(|r| r.0)),
        "rate_max" => opt(row.rate.map(|r| r.1)),
        "rate_lim" => opt(row.rate_lim),
        "conn_rate" => opt(row.conn_rate.map(|r| r.0)),
        "conn_rate_max" => opt(row.conn_rate.map(|r| r.1)),
        "req_rate" => opt(row.req_rate.map(|r| r.0)),
        "req_rate_max" => opt(row.req_rate.map(|r| r.1)),
        "-" => "-".into(),
        c if c.starts_with("ssl_") => opt(row.ssl.zip(ssl_index(c)).map(|(values, i)| values[i])),
        c if c.starts_with("h1_") => opt(row.h1.zip(h1_index(c)).map(|(values, i)| values[i])),
        c if c.starts_with("h2_") => opt(row.h2.zip(h2_index(c)).map(|(values, i)| values[i])),
        // Caches and the rest: not measured by fulcrum.
        _ => String::new(),
    }
}

/// The position of an `ssl` module column among [`Row::ssl`]'s values.
pub(crate) fn ssl_index(column: &str) -> Option<usize> {
    module_index("ssl_", column)
}

/// The position of an `h1` module column among [`Row::h1`]'s values.
pub(crate) fn h1_index(column: &str) -> Option<usize> {
    module_index("h1_", column)
}

/// The position of an `h2` module column among [`Row::h2`]'s values.
pub(crate) fn h2_index(column: &str) -> Option<usize> {
    module_index("h2_", column)
}

fn module_index(prefix: &str, column: &str) -> Option<usize> {
    COLUMNS
        .iter()
        .filter(|c| c.starts_with(prefix))
        .position(|c| *c == column)
}

/// Appends `row` as one CSV line (with HAProxy's trailing comma).
pub fn render_row(row: &Row, out: &mut String) {
    for c in COLUMNS {
        let _ = write!(out, "{},", cell(row, c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ProxyStats;

    #[test]
    fn header_has_haproxy_26_columns_in_order() {
        assert_eq!(COLUMNS.len(), 128);
        assert!(header().starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,"));
        assert!(header().ends_with(",h1_spliced_bytes_in,h1_spliced_bytes_out,"));
    }

    #[test]
    fn rows_have_one_cell_per_column_and_escape_text() {
        let stats = Stats {
            proxies: vec![ProxyStats {
                name: "a,b".into(),
                frontend: Some(Row {
                    pxname: "a,b".into(),
                    svname: "FRONTEND".into(),
                    hrsp: Some([0, 5, 0, 0, 1, 0]),
                    ..Row::default()
                }),
                ..ProxyStats::default()
            }],
            ..Stats::default()
        };
        let csv = render(&stats);
        let line = csv.lines().nth(1).unwrap();
        assert!(line.starts_with("\"a,b\",FRONTEND,"));
        assert!(line.contains(",OPEN,"));
        let i = COLUMNS.iter().position(|c| *c == "hrsp_2xx").unwrap();
        // The escaped name holds one comma: count cells after it.
        let cells: Vec<&str> = line["\"a,b\",".len()..].split(',').collect();
        assert_eq!(cells.len(), COLUMNS.len());
        assert_eq!(cells[i - 1], "5");
    }
}
