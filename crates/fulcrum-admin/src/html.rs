//! The HTML stats page: one table per proxy (its FRONTEND row, its servers, its BACKEND row), server rows
//! colored by state, an optional auto-refresh and the version hidden on request.

use std::fmt::Write as _;
use std::time::Duration;

use crate::stats::{ProxyStats, Row, RowKind, State, Stats};

/// How the page is rendered (`stats ...` settings).
#[derive(Debug, Clone, Default)]
pub struct PageOptions {
    /// `stats uri`: links on the page point below it.
    pub uri: String,
    /// `stats refresh`: the page reloads itself at this interval (unless `;norefresh` was asked).
    pub refresh: Option<Duration>,
    /// `stats hide-version`: neither the version nor the pid are shown.
    pub hide_version: bool,
    /// `stats show-node` / a title: shown in the heading when set.
    pub node: Option<String>,
    /// `stats admin` allows this request: each backend gets a form to change its servers' state.
    pub admin: bool,
    /// The last minutes of each backend and server: each backend's table is followed by their pictures.
    pub history: Option<std::sync::Arc<std::sync::Mutex<crate::history::History>>>,
}

/// The admin actions the page offers (`action` field of the form), as HAProxy names them.
pub const ADMIN_ACTIONS: &[(&str, &str)] = &[
    ("ready", "Set state to READY"),
    ("drain", "Set state to DRAIN"),
    ("maint", "Set state to MAINT"),
    ("dhlth", "Health: disable checks"),
    ("ehlth", "Health: enable checks"),
];

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body { font-family: sans-serif; font-size: 12px; margin: 1em; color: #1d1d1f; background: #fafafa; }
h1 { font-size: 20px; margin: 0 0 .2em 0; }
.meta { color: #555; margin-bottom: 1em; }
.legend span { display: inline-block; padding: 1px 8px; margin-right: 4px; border: 1px solid #bbb; }
table.px { border-collapse: collapse; margin: 0 0 1.4em 0; }
table.px caption { text-align: left; font-weight: bold; font-size: 15px; padding: 3px 6px; background: #3a3f58; color: #fff; }
table.px th { background: #d9dde8; border: 1px solid #aab; padding: 1px 3px; font-weight: 600; font-size: 11px; }
table.px td { border: 1px solid #ccd; padding: 1px 3px; text-align: right; white-space: nowrap; font-size: 11px; }
table.px td.name { text-align: left; font-weight: 600; }
tr.frontend, tr.backend { background: #ecebe0; }
.up { background: #c4f0c4; }
.backup-up { background: #b9d4fa; }
.nocheck { background: #e6e6e6; }
.down { background: #f7a1a1; }
.maint { background: #d39a5a; }
.drain { background: #7fbdf7; }
.nolb { background: #c0d8f0; }
.pics { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: -1em 0 1.4em 0; }
.pics figure { margin: 0; }
.pics figcaption { font-size: 11px; font-weight: 600; }
svg.spark { display: block; margin-top: 2px; }
svg.spark rect { fill: #fff; stroke: #ccd; }
svg.spark polyline { fill: none; stroke-width: 1.5; }
svg.spark .rate { stroke: #3a3f58; }
svg.spark .p50 { stroke: #2e8b57; }
svg.spark .p90 { stroke: #d2a017; }
svg.spark .p99 { stroke: #c0392b; }
svg.spark text { font-size: 9px; fill: #555; }
"#;

fn class(row: &Row, backup: bool) -> &'static str {
    match row.kind {
        RowKind::Frontend => "frontend",
        RowKind::Backend => "backend",
        RowKind::Server => match row.state {
            State::Up if backup => "backup-up",
            State::Up | State::Open => "up",
            State::NoCheck => "nocheck",
            State::Down => "down",
            State::Maint => "maint",
            State::Drain => "drain",
            State::NoLb => "nolb",
        },
    }
}

fn opt(v: Option<u64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_default()
}

/// A duration in seconds as HAProxy's page shows it: `1d2h`, `3h4m`, `5m6s`, `7s`.
pub fn human_secs(s: u64) -> String {
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{sec}s")
    } else {
        format!("{sec}s")
    }
}

const HEAD: &str = "<tr><th rowspan=2></th><th colspan=3>Queue</th><th colspan=3>Session rate</th>\
<th colspan=5>Sessions</th><th colspan=2>Bytes</th><th colspan=2>Denied</th><th colspan=3>Errors</th><th colspan=2>Warnings</th>\
<th colspan=6>HTTP responses</th><th colspan=9>Server</th></tr>\n\
<tr><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th>\
<th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th>\
<th>In</th><th>Out</th><th>Req</th><th>Resp</th><th>Req</th><th>Conn</th><th>Resp</th><th>Retr</th><th>Redis</th>\
<th>1xx</th><th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th><th>other</th>\
<th>Status</th><th>LastChk</th><th>Wght</th><th>Act</th><th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th><th>Addr</th></tr>\n";

fn row_html(out: &mut String, row: &Row, backup: bool, admin: bool) {
    let status = match (row.kind, row.lastchg) {
        (RowKind::Frontend, _) | (_, None) => row.status_text(),
        (_, Some(s)) => format!("{} {}", human_secs(s), row.status_text()),
    };
    let check = match (&row.check_status, row.check_code, row.check_duration) {
        (Some(s), Some(c), Some(d)) => format!("{s}/{c} in {d}ms"),
        (Some(s), None, Some(d)) => format!("{s} in {d}ms"),
        (Some(s), _, None) => s.clone(),
        _ => String::new(),
    };
    let h = row
        .hrsp
        .map(|h| h.map(|v| v.to_string()))
        .unwrap_or_default();
    let (act, bck) = match row.kind {
        RowKind::Server => (
            opt(row.act).replace('1', "Y").replace('0', "-"),
            opt(row.bck).replace('1', "Y").replace('0', "-"),
        ),
        _ => (opt(row.act), opt(row.bck)),
    };
    let cells = [
        opt(row.qcur),
        opt(row.qmax),
        opt(row.qlimit),
        opt(row.rate.map(|r| r.0)),
        opt(row.rate.map(|r| r.1)),
        opt(row.rate_lim.filter(|&l| l > 0)),
        row.scur.to_string(),
        row.smax.to_string(),
        opt(row.slim),
        row.stot.to_string(),
        opt(row.lbtot),
        row.bin.to_string(),
        row.bout.to_string(),
        opt(row.dreq),
        row.dresp.to_string(),
        opt(row.ereq),
        opt(row.econ),
        opt(row.eresp),
        opt(row.wretr),
        opt(row.wredis),
        h[0].clone(),
        h[1].clone(),
        h[2].clone(),
        h[3].clone(),
        h[4].clone(),
        h[5].clone(),
        status,
        check,
        opt(row.weight),
        act,
        bck,
        opt(row.chkfail),
        opt(row.chkdown),
        row.downtime.map(human_secs).unwrap_or_default(),
        row.addr.clone().unwrap_or_default(),
    ];
    let _ = write!(
        out,
        "<tr class=\"{}\" data-name=\"{}\">",
        class(row, backup),
        escape(&row.svname),
    );
    if admin {
        if row.kind == RowKind::Server {
            let _ = write!(
                out,
                "<td><input type=checkbox name=s value=\"{}\"></td>",
                escape(&row.svname)
            );
        } else {
            out.push_str("<td></td>");
        }
    }
    let _ = write!(out, "<td class=name>{}</td>", escape(&row.svname));
    for c in cells {
        let _ = write!(out, "<td>{}</td>", escape(&c));
    }
    out.push_str("</tr>\n");
}

fn proxy_html(out: &mut String, p: &ProxyStats, opts: &PageOptions) {
    let admin = opts.admin && !p.servers.is_empty();
    if admin {
        let _ = writeln!(
            out,
            "<form method=post action=\"{}\"><input type=hidden name=b value=\"{}\">",
            escape(&opts.uri),
            escape(&p.name)
        );
    }
    let head = if admin {
        HEAD.replacen("<tr>", "<tr><th rowspan=2></th>", 1)
    } else {
        HEAD.to_string()
    };
    let _ = write!(
        out,
        "<table class=px id=\"px-{}\"><caption>{} <small>({})</small></caption>\n{head}",
        escape(&p.name),
        escape(&p.name),
        escape(&p.mode)
    );
    for row in p.rows() {
        let backup = row.kind == RowKind::Server && row.bck == Some(1);
        row_html(out, row, backup, admin);
    }
    out.push_str("</table>\n");
    pictures(out, p, opts);
    if admin {
        out.push_str("Choose the action to perform on the checked servers: <select name=action>");
        for (value, label) in ADMIN_ACTIONS {
            let _ = write!(out, "<option value={value}>{label}</option>");
        }
        out.push_str("</select> <input type=submit value=Apply></form>\n");
    }
}

/// The pictures of a backend's servers and of the backend itself, when there is history for them.
fn pictures(out: &mut String, p: &ProxyStats, opts: &PageOptions) {
    let Some(history) = &opts.history else { return };
    let Ok(h) = history.lock() else { return };
    let mut figures = String::new();
    for row in p.servers.iter().chain(p.backend.iter()) {
        let svg = crate::history::svg(&h.points(&row.pxname, &row.svname));
        if !svg.is_empty() {
            let _ = write!(
                figures,
                "<figure><figcaption>{}</figcaption>{svg}</figure>",
                escape(&row.svname)
            );
        }
    }
    if !figures.is_empty() {
        let _ = writeln!(out, "<div class=pics>{figures}</div>");
    }
}

/// Renders the page.
pub fn render(stats: &Stats, opts: &PageOptions) -> String {
    let mut out = String::with_capacity(32 * 1024);
    out.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<title>Statistics Report for fulcrum</title>\n");
    if let Some(r) = opts.refresh {
        let _ = writeln!(
            out,
            "<meta http-equiv=\"refresh\" content=\"{}\">",
            r.as_secs().max(1)
        );
    }
    let _ = write!(
        out,
        "<style>{STYLE}</style>\n</head><body>\n<h1>Statistics Report"
    );
    if let Some(node) = &opts.node {
        let _ = write!(out, " for {}", escape(node));
    }
    out.push_str("</h1>\n<div class=meta>");
    let i = &stats.info;
    if !opts.hide_version {
        let _ = write!(
            out,
            "{} &middot; pid {} &middot; ",
            escape(&i.version),
            i.pid
        );
    }
    let _ = write!(
        out,
        "uptime {} &middot; current connections {}",
        human_secs(i.uptime_secs),
        i.current_connections
    );
    if let Some(m) = i.max_connections {
        let _ = write!(out, " (maxconn {m})");
    }
    let uri = escape(&opts.uri);
    let _ = write!(out, " &middot; <a href=\"{uri};csv\">CSV export</a>");
    if opts.refresh.is_some() {
        let _ = write!(
            out,
            " &middot; <a href=\"{uri};norefresh\">Disable refresh</a>"
        );
    }
    out.push_str("</div>\n<div class=legend>");
    for (c, label) in [
        ("up", "active UP"),
        ("backup-up", "backup UP"),
        ("down", "DOWN"),
        ("nocheck", "not checked"),
        ("maint", "MAINT"),
        ("drain", "DRAIN"),
    ] {
        let _ = write!(out, "<span class=\"{c}\">{label}</span>");
    }
    out.push_str("</div>\n<p></p>\n");
    for p in &stats.proxies {
        proxy_html(&mut out, p, opts);
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_escapes_names_and_honours_options() {
        let stats = Stats {
            info: crate::stats::Info {
                version: "fulcrum 9.9.9".into(),
                ..Default::default()
            },
            proxies: vec![ProxyStats {
                name: "<app>".into(),
                mode: "http".into(),
                servers: vec![Row {
                    pxname: "<app>".into(),
                    svname: "s&1".into(),
                    kind: RowKind::Server,
                    state: State::Down,
                    ..Row::default()
                }],
                ..ProxyStats::default()
            }],
        };
        let opts = PageOptions {
            uri: "/stats".into(),
            refresh: Some(Duration::from_secs(5)),
            hide_version: false,
            node: None,
            admin: false,
            history: None,
        };
        let page = render(&stats, &opts);
        assert!(!page.contains("<form"));
        let admin = render(
            &stats,
            &PageOptions {
                admin: true,
                ..opts.clone()
            },
        );
        assert!(
            admin.contains("<form method=post action=\"/stats\">"),
            "{admin}"
        );
        assert!(
            admin.contains("<input type=checkbox name=s value="),
            "{admin}"
        );
        assert!(admin.contains("<option value=maint>"), "{admin}");
        assert!(page.contains("&lt;app&gt;"));
        assert!(page.contains("s&amp;1"));
        assert!(page.contains("<tr class=\"down\""));
        assert!(page.contains("content=\"5\""));
        assert!(page.contains("fulcrum 9.9.9"));
        let hidden = render(
            &stats,
            &PageOptions {
                hide_version: true,
                refresh: None,
                ..opts
            },
        );
        assert!(!hidden.contains("9.9.9"));
        assert!(!hidden.contains("http-equiv=\"refresh\""));
    }

    #[test]
    fn session_rate_cells_follow_the_queue_cells() {
        let row = Row {
            svname: "FRONTEND".into(),
            kind: RowKind::Frontend,
            qcur: Some(1),
            qmax: Some(2),
            qlimit: Some(3),
            rate: Some((4, 5)),
            rate_lim: Some(6),
            scur: 7,
            ..Row::default()
        };
        let mut out = String::new();
        row_html(&mut out, &row, false, false);
        assert!(
            out.contains("<td>1</td><td>2</td><td>3</td><td>4</td><td>5</td><td>6</td><td>7</td>"),
            "{out}"
        );
        // No limit: an empty cell, as HAProxy's page leaves it.
        let mut out = String::new();
        row_html(
            &mut out,
            &Row {
                rate_lim: Some(0),
                ..row
            },
            false,
            false,
        );
        assert!(
            out.contains("<td>4</td><td>5</td><td></td><td>7</td>"),
            "{out}"
        );
        // As many cells in a row as headings on the second line of the head, and the name cell.
        let second = HEAD.lines().nth(1).unwrap();
        assert_eq!(
            second.matches("<th>").count() + 1,
            out.matches("<td").count(),
            "{HEAD}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(human_secs(7), "7s");
        assert_eq!(human_secs(367), "6m7s");
        assert_eq!(human_secs(3 * 3600 + 60), "3h1m");
        assert_eq!(human_secs(2 * 86400 + 3600), "2d1h");
    }
}
