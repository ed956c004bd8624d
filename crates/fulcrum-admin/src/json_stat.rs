//! `show stat json` / `<stats uri>;json`: HAProxy 2.6's JSON statistics. One array per row (frontends, servers,
//! backends, in the CSV's order), each holding one object per field that has a value: its object type, proxy and
//! server ids, the field's position and name in the CSV, HAProxy's tags for it (origin, nature, scope) and its
//! typed value.
//!
//! The tags and types are HAProxy 2.6's, as its `show stat json` reports them for each field (observed; a few
//! fields are tagged differently on backends). Fields fulcrum does not measure are left out, as HAProxy leaves out
//! those a row does not have.

use std::fmt::Write as _;

use crate::csv::{value, COLUMNS};
use crate::stats::{Row, RowKind, Stats};

/// Tags and type of each core column (in [`COLUMNS`] order, up to the `-` separator): origin, nature, scope,
/// value type. `None`: a field HAProxy 2.6 was not seen to report (fulcrum has no value for it either).
pub(crate) type Meta = Option<(&'static str, &'static str, &'static str, &'static str)>;

const META: [Meta; 103] = [
    Some(("Key", "Name", "Service", "str")),        // pxname
    Some(("Key", "Name", "Service", "str")),        // svname
    Some(("Metric", "Gauge", "Process", "u32")),    // qcur
    Some(("Metric", "Max", "Process", "u32")),      // qmax
    Some(("Metric", "Gauge", "Process", "u32")),    // scur
    Some(("Metric", "Max", "Process", "u32")),      // smax
    Some(("Config", "Limit", "Process", "u32")),    // slim
    Some(("Metric", "Counter", "Process", "u64")),  // stot
    Some(("Metric", "Counter", "Process", "u64")),  // bin
    Some(("Metric", "Counter", "Process", "u64")),  // bout
    Some(("Metric", "Counter", "Process", "u64")),  // dreq
    Some(("Metric", "Counter", "Process", "u64")),  // dresp
    Some(("Metric", "Counter", "Process", "u64")),  // ereq
    Some(("Metric", "Counter", "Process", "u64")),  // econ
    Some(("Metric", "Counter", "Process", "u64")),  // eresp
    Some(("Metric", "Counter", "Process", "u64")),  // wretr
    Some(("Metric", "Counter", "Process", "u64")),  // wredis
    Some(("Status", "Gauge", "Process", "str")),    // status
    Some(("Metric", "Avg", "Process", "u32")),      // weight
    Some(("Status", "Gauge", "Process", "u32")),    // act
    Some(("Status", "Gauge", "Process", "u32")),    // bck
    Some(("Metric", "Counter", "Process", "u64")),  // chkfail
    Some(("Metric", "Counter", "Process", "u64")),  // chkdown
    Some(("Metric", "Age", "Process", "u32")),      // lastchg
    Some(("Metric", "Counter", "Process", "u32")),  // downtime
    Some(("Config", "Gauge", "Service", "u32")),    // qlimit
    Some(("Key", "Gauge", "Process", "u32")),       // pid
    Some(("Key", "Gauge", "Service", "u32")),       // iid
    Some(("Key", "Gauge", "Service", "u32")),       // sid
    Some(("Metric", "Avg", "Process", "u32")),      // throttle
    Some(("Metric", "Counter", "Process", "u64")),  // lbtot
    Some(("Config", "Name", "Service", "str")),     // tracked
    Some(("Config", "Gauge", "Service", "u32")),    // type
    Some(("Metric", "Rate", "Process", "u32")),     // rate
    Some(("Config", "Limit", "Process", "u32")),    // rate_lim
    Some(("Metric", "Max", "Process", "u32")),      // rate_max
    Some(("Metric", "Output", "Process", "str")),   // check_status
    Some(("Metric", "Output", "Process", "u32")),   // check_code
    Some(("Metric", "Duration", "Process", "u64")), // check_duration
    Some(("Metric", "Counter", "Process", "u64")),  // hrsp_1xx
    Some(("Metric", "Counter", "Process", "u64")),  // hrsp_2xx
    Some(("Metric", "Counter", "Process", "u64")),  // hrsp_3xx
    Some(("Metric", "Counter", "Process", "u64")),  // hrsp_4xx
    Some(("Metric", "Counter", "Process", "u64")),  // hrsp_5xx
    Some(("Metric", "Counter", "Process", "u64")),  // hrsp_other
    Some(("Metric", "Counter", "Process", "u64")),  // hanafail
    Some(("Metric", "Rate", "Process", "u32")),     // req_rate
    Some(("Metric", "Max", "Process", "u32")),      // req_rate_max
    Some(("Metric", "Counter", "Process", "u64")),  // req_tot
    Some(("Metric", "Counter", "Process", "u64")),  // cli_abrt
    Some(("Metric", "Counter", "Process", "u64")),  // srv_abrt
    Some(("Metric", "Counter", "Process", "u64")),  // comp_in
    Some(("Metric", "Counter", "Process", "u64")),  // comp_out
    Some(("Metric", "Counter", "Process", "u64")),  // comp_byp
    Some(("Metric", "Counter", "Process", "u64")),  // comp_rsp
    Some(("Metric", "Age", "Process", "s32")),      // lastsess
    Some(("Metric", "Output", "Process", "str")),   // last_chk
    Some(("Metric", "Output", "Process", "str")),   // last_agt
    Some(("Metric", "Avg", "Process", "u32")),      // qtime
    Some(("Metric", "Avg", "Process", "u32")),      // ctime
    Some(("Metric", "Avg", "Process", "u32")),      // rtime
    Some(("Metric", "Avg", "Process", "u32")),      // ttime
    Some(("Metric", "Output", "Process", "str")),   // agent_status
    None,                                           // agent_code: not observed
    Some(("Metric", "Duration", "Process", "u64")), // agent_duration
    Some(("Metric", "Output", "Process", "str")),   // check_desc
    Some(("Metric", "Output", "Process", "str")),   // agent_desc
    Some(("Config", "Gauge", "Service", "u32")),    // check_rise
    Some(("Config", "Gauge", "Service", "u32")),    // check_fall
    Some(("Config", "Gauge", "Service", "u32")),    // check_health
    Some(("Config", "Gauge", "Service", "u32")),    // agent_rise
    Some(("Config", "Gauge", "Service", "u32")),    // agent_fall
    Some(("Config", "Gauge", "Service", "u32")),    // agent_health
    Some(("Config", "Gauge", "Service", "str")),    // addr
    Some(("Config", "Name", "Service", "str")),     // cookie
    Some(("Config", "Gauge", "Service", "str")),    // mode
    Some(("Config", "Gauge", "Service", "str")),    // algo
    Some(("Metric", "Rate", "Process", "u32")),     // conn_rate
    Some(("Metric", "Max", "Process", "u32")),      // conn_rate_max
    Some(("Metric", "Counter", "Process", "u64")),  // conn_tot
    Some(("Metric", "Counter", "Process", "u64")),  // intercepted
    Some(("Metric", "Counter", "Process", "u64")),  // dcon
    Some(("Metric", "Counter", "Process", "u64")),  // dses
    Some(("Metric", "Counter", "Process", "u64")),  // wrew
    Some(("Metric", "Counter", "Process", "u64")),  // connect
    Some(("Metric", "Counter", "Process", "u64")),  // reuse
    Some(("Metric", "Counter", "Process", "u64")),  // cache_lookups
    Some(("Metric", "Counter", "Process", "u64")),  // cache_hits
    Some(("Metric", "Gauge", "Process", "u32")),    // srv_icur
    None,                                           // src_ilim: not observed
    Some(("Metric", "Max", "Process", "u32")),      // qtime_max
    Some(("Metric", "Max", "Process", "u32")),      // ctime_max
    Some(("Metric", "Max", "Process", "u32")),      // rtime_max
    Some(("Metric", "Max", "Process", "u32")),      // ttime_max
    Some(("Metric", "Counter", "Process", "u64")),  // eint
    Some(("Metric", "Gauge", "Process", "u32")),    // idle_conn_cur
    Some(("Metric", "Gauge", "Process", "u32")),    // safe_conn_cur
    Some(("Metric", "Gauge", "Process", "u32")),    // used_conn_cur
    Some(("Metric", "Gauge", "Process", "u32")),    // need_conn_est
    Some(("Metric", "Avg", "Process", "u32")),      // uweight
    Some(("Metric", "Gauge", "Process", "u32")),    // agg_server_status
    Some(("Metric", "Gauge", "Process", "u32")),    // agg_server_check_status
    Some(("Metric", "Gauge", "Process", "u32")),    // agg_check_status
];

/// The tags and type of `column` on a row of `kind`: [`META`], with the fields HAProxy tags differently on
/// backends, and those of the `ssl`, `h1` and `h2` statistics modules (after the `-` separator).
pub(crate) fn meta(kind: RowKind, pos: usize, column: &str) -> Meta {
    if crate::csv::ssl_index(column).is_some()
        || crate::csv::h1_index(column).is_some()
        || crate::csv::h2_index(column).is_some()
    {
        let nature = if column.starts_with("h1_open_")
            || matches!(column, "h2_open_connections" | "h2_backend_open_streams")
        {
            "Gauge"
        } else {
            "Counter"
        };
        return Some(("Metric", nature, "Process", "u64"));
    }
    let m = META.get(pos).copied().flatten()?;
    Some(match (kind, column) {
        (RowKind::Backend, "rate" | "rate_max") => ("Metric", "Gauge", m.2, m.3),
        (RowKind::Backend, "act" | "bck") => ("Metric", m.1, m.2, m.3),
        _ => m,
    })
}

fn object_type(kind: RowKind) -> &'static str {
    match kind {
        RowKind::Frontend => "Frontend",
        RowKind::Backend => "Backend",
        RowKind::Server => "Server",
    }
}

/// Appends `s` as a JSON string. `escape_slash`: `/` written `\/` as well (json-c's writer does, so keepalived's
/// files have it); HAProxy's JSON leaves `/` alone.
pub fn string(out: &mut String, s: &str, escape_slash: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if escape_slash => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One row as a JSON array.
fn row(out: &mut String, r: &Row) {
    out.push('[');
    let mut first = true;
    // Past the `-` separator, which HAProxy does not number, come the statistics modules' fields.
    for (pos, column) in COLUMNS.iter().filter(|c| **c != "-").enumerate() {
        let v = value(r, column);
        let Some((origin, nature, scope, ty)) = meta(r.kind, pos, column).filter(|_| !v.is_empty())
        else {
            continue;
        };
        // A number that does not read as one is written as text rather than dropped or made up.
        let numeric = ty != "str" && v.parse::<i64>().is_ok();
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(
            out,
            "{{\"objType\":\"{}\",\"proxyId\":{},\"id\":{},\"field\":{{\"pos\":{pos},\"name\":\"{column}\"}},\"processNum\":1,\"tags\":{{\"origin\":\"{origin}\",\"nature\":\"{nature}\",\"scope\":\"{scope}\"}},\"value\":{{\"type\":\"{}\",\"value\":",
            object_type(r.kind),
            r.iid,
            r.sid,
            if numeric { ty } else { "str" },
        );
        if numeric {
            out.push_str(&v);
        } else {
            string(out, &v, false);
        }
        out.push_str("}}");
    }
    out.push(']');
}

/// The whole JSON document (no trailing line break).
pub fn render(stats: &Stats) -> String {
    let mut out = String::from("[");
    for (n, r) in stats.rows().enumerate() {
        if n > 0 {
            out.push(',');
        }
        row(&mut out, r);
    }
    out.push(']');
    out
}
