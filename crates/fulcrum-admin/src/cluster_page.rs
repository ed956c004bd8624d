//! The cluster page: one HTML page for a set of directors, built from nothing but their metrics endpoints (the
//! VRRP job's `fulcrum_metrics_listen`, which keepalived's checkers share, and the proxy's prometheus-exporter).
//! Per director: each VRRP instance's state, priorities and the virtual addresses it holds; the L4 services of
//! keepalived's checkers with their real servers' verdicts and weights; the proxy's backends with their servers'
//! states. Pure: whoever scrapes the endpoints ([`DirectorInput`]) also serves the page; `fulcrum demo --cluster`
//! does both.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::exposition::{parse, Sample};
use crate::html::escape;

/// What was read from one endpoint: its page, or why there is none.
pub type Scrape<'a> = Result<&'a str, &'a str>;

/// One director's endpoints as last read.
pub struct DirectorInput<'a> {
    /// Its name (`lb1`).
    pub name: &'a str,
    /// Where it is (an address to show).
    pub addr: &'a str,
    /// The VRRP job's page (with the checkers' families when they run).
    pub vrrp: Scrape<'a>,
    /// The proxy's page.
    pub proxy: Scrape<'a>,
    /// An earlier reading of the proxy's page and how many seconds before `proxy` it was taken: the request
    /// rates and latencies are those of the time between.
    pub proxy_before: Option<(&'a str, f64)>,
}

/// A VRRP instance as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub name: String,
    pub interface: String,
    pub vrid: String,
    /// `INIT`, `BACKUP`, `MASTER`, `FAULT`.
    pub state: &'static str,
    pub priority: Option<f64>,
    pub effective_priority: Option<f64>,
    /// The virtual addresses it holds (all of them while MASTER, none otherwise).
    pub holds: Vec<String>,
    /// Its last transition (Unix seconds).
    pub since: Option<f64>,
    /// Why it last changed (`fulcrum_vrrp_last_transition_info`'s `reason`).
    pub why: Option<String>,
}

/// An L4 virtual server of keepalived's checkers.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub quorum: bool,
    /// Real server, up, weight.
    pub servers: Vec<(String, bool, f64)>,
}

/// A proxy backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub name: String,
    pub status: String,
    /// Server, status, sessions so far.
    pub servers: Vec<(String, String, f64)>,
    /// Over the time between two readings: requests per second, and the bucket bounds under which half and 99%
    /// of them were served (seconds, from the request head to the response's last byte).
    pub recent: Option<Recent>,
}

/// A backend's traffic between two readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recent {
    /// Seconds between the readings.
    pub over: f64,
    pub per_second: f64,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

/// The `(le, cumulative count)` buckets of `family{proxy=backend}`, sorted by bound.
fn buckets(samples: &[Sample], family: &str, backend: &str) -> Vec<(f64, f64)> {
    let name = format!("{family}_bucket");
    let mut b: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| {
            s.name == name && s.label("proxy") == Some(backend) && s.label("server").is_none()
        })
        .filter_map(|s| {
            let le = match s.label("le")? {
                "+Inf" => f64::INFINITY,
                v => v.parse().ok()?,
            };
            Some((le, s.value))
        })
        .collect();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    b
}

/// What `backend` served between `before` and `now` (`over` seconds apart).
fn recent(now: &[Sample], before: &[Sample], over: f64, backend: &str) -> Option<Recent> {
    let count = |samples: &[Sample]| {
        samples
            .iter()
            .find(|s| {
                s.name == "haproxy_backend_http_requests_total" && s.label("proxy") == Some(backend)
            })
            .map(|s| s.value)
    };
    if over <= 0.0 {
        return None;
    }
    let served = (count(now)? - count(before)?).max(0.0);
    let (b_now, b_before) = (
        buckets(now, "haproxy_backend_total_time_seconds", backend),
        buckets(before, "haproxy_backend_total_time_seconds", backend),
    );
    let diffs: Vec<(f64, f64)> = b_now
        .iter()
        .map(|&(le, c)| {
            let was = b_before.iter().find(|(l, _)| *l == le).map_or(0.0, |b| b.1);
            (le, (c - was).max(0.0))
        })
        .collect();
    let total = diffs.last().map_or(0.0, |d| d.1);
    let quantile = |q: f64| {
        (total > 0.0)
            .then(|| diffs.iter().find(|(_, c)| *c >= q * total).map(|d| d.0))
            .flatten()
    };
    Some(Recent {
        over,
        per_second: served / over,
        p50: quantile(0.5),
        p99: quantile(0.99),
    })
}

/// What the page shows of one director.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectorView {
    pub name: String,
    pub addr: String,
    /// Why the VRRP job's endpoint could not be read, if it could not.
    pub vrrp_error: Option<String>,
    pub instances: Vec<Instance>,
    pub services: Vec<Service>,
    /// Why the proxy's endpoint could not be read, if it could not.
    pub proxy_error: Option<String>,
    pub backends: Vec<Backend>,
}

/// keepalived's state numbers, as `keepalived_vrrp_state` carries them.
fn state_name(v: f64) -> &'static str {
    match v as i64 {
        1 => "BACKUP",
        2 => "MASTER",
        3 => "FAULT",
        _ => "INIT",
    }
}

fn label<'s>(s: &'s Sample, k: &str) -> &'s str {
    s.label(k).unwrap_or("")
}

fn instances(samples: &[Sample]) -> Vec<Instance> {
    let mut by_name: BTreeMap<String, Instance> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == "keepalived_vrrp_state") {
        let i = by_name
            .entry(label(s, "iname").to_string())
            .or_insert_with(|| Instance {
                name: label(s, "iname").to_string(),
                interface: label(s, "intf").to_string(),
                vrid: label(s, "vrid").to_string(),
                state: state_name(s.value),
                priority: None,
                effective_priority: None,
                holds: Vec::new(),
                since: None,
                why: None,
            });
        if s.value as i64 == 2 {
            i.holds.push(label(s, "ip_address").to_string());
        }
    }
    for s in samples {
        let Some(i) = by_name.get_mut(label(s, "iname")) else {
            continue;
        };
        match s.name.as_str() {
            "fulcrum_vrrp_priority" => i.priority = Some(s.value),
            "fulcrum_vrrp_effective_priority" => i.effective_priority = Some(s.value),
            "fulcrum_vrrp_last_transition_timestamp_seconds" => i.since = Some(s.value),
            "fulcrum_vrrp_last_transition_info" => i.why = s.label("reason").map(str::to_string),
            _ => {}
        }
    }
    by_name.into_values().collect()
}

fn services(samples: &[Sample]) -> Vec<Service> {
    let mut by_name: BTreeMap<String, Service> = BTreeMap::new();
    for s in samples
        .iter()
        .filter(|s| s.name == "fulcrum_checker_virtual_server_quorum_up")
    {
        let name = label(s, "virtual_server").to_string();
        by_name.insert(
            name.clone(),
            Service {
                name,
                quorum: s.value != 0.0,
                servers: Vec::new(),
            },
        );
    }
    for s in samples
        .iter()
        .filter(|s| s.name == "fulcrum_checker_real_server_up")
    {
        if let Some(v) = by_name.get_mut(label(s, "virtual_server")) {
            v.servers
                .push((label(s, "real_server").to_string(), s.value != 0.0, 0.0));
        }
    }
    for s in samples
        .iter()
        .filter(|s| s.name == "fulcrum_checker_real_server_weight")
    {
        if let Some(v) = by_name.get_mut(label(s, "virtual_server")) {
            if let Some(r) = v
                .servers
                .iter_mut()
                .find(|r| r.0 == label(s, "real_server"))
            {
                r.2 = s.value;
            }
        }
    }
    by_name.into_values().collect()
}

fn backends(samples: &[Sample], before: Option<(&[Sample], f64)>) -> Vec<Backend> {
    let mut by_name: BTreeMap<String, Backend> = BTreeMap::new();
    for s in samples
        .iter()
        .filter(|s| s.name == "haproxy_backend_status" && s.value == 1.0)
    {
        let name = label(s, "proxy").to_string();
        by_name.insert(
            name.clone(),
            Backend {
                recent: before.and_then(|(b, over)| recent(samples, b, over, &name)),
                name,
                status: label(s, "state").to_string(),
                servers: Vec::new(),
            },
        );
    }
    for s in samples
        .iter()
        .filter(|s| s.name == "haproxy_server_status" && s.value == 1.0)
    {
        if let Some(b) = by_name.get_mut(label(s, "proxy")) {
            b.servers.push((
                label(s, "server").to_string(),
                label(s, "state").to_string(),
                0.0,
            ));
        }
    }
    for s in samples
        .iter()
        .filter(|s| s.name == "haproxy_server_sessions_total")
    {
        if let Some(b) = by_name.get_mut(label(s, "proxy")) {
            if let Some(r) = b.servers.iter_mut().find(|r| r.0 == label(s, "server")) {
                r.2 = s.value;
            }
        }
    }
    by_name.into_values().collect()
}

/// What the page shows of `d`.
pub fn view(d: &DirectorInput<'_>) -> DirectorView {
    let (vrrp, vrrp_error) = match d.vrrp {
        Ok(page) => (parse(page), None),
        Err(why) => (Vec::new(), Some(why.to_string())),
    };
    let (proxy, proxy_error) = match d.proxy {
        Ok(page) => (parse(page), None),
        Err(why) => (Vec::new(), Some(why.to_string())),
    };
    let before = d.proxy_before.map(|(page, over)| (parse(page), over));
    DirectorView {
        name: d.name.to_string(),
        addr: d.addr.to_string(),
        vrrp_error,
        instances: instances(&vrrp),
        services: services(&vrrp),
        proxy_error,
        backends: backends(
            &proxy,
            before.as_ref().map(|(b, over)| (b.as_slice(), *over)),
        ),
    }
}

/// One line about a director: its instances and what they hold, its L4 services, its backends.
pub fn summary(v: &DirectorView) -> String {
    let mut parts = Vec::new();
    match &v.vrrp_error {
        Some(e) => parts.push(format!("VRRP unreadable ({e})")),
        None => {
            for i in &v.instances {
                let mut p = format!("{} {}", i.name, i.state);
                if !i.holds.is_empty() {
                    let _ = write!(p, " holding {}", i.holds.join(" "));
                }
                if let Some(why) = &i.why {
                    let _ = write!(p, " (why: {why})");
                }
                parts.push(p);
            }
            for s in &v.services {
                let up = s.servers.iter().filter(|r| r.1).count();
                parts.push(format!("L4 {} {up}/{} up", s.name, s.servers.len()));
            }
        }
    }
    match &v.proxy_error {
        Some(e) => parts.push(format!("proxy unreadable ({e})")),
        None => {
            for b in &v.backends {
                let servers: Vec<String> = b
                    .servers
                    .iter()
                    .map(|(n, st, _)| format!("{n} {st}"))
                    .collect();
                parts.push(format!("{} {} ({})", b.name, b.status, servers.join(", ")));
            }
        }
    }
    format!("{}: {}", v.name, parts.join("; "))
}

/// A status word as a coloured cell.
fn cell(word: &str) -> String {
    let class = match word {
        "MASTER" | "UP" | "up" | "yes" => "ok",
        "BACKUP" | "NOLB" | "DRAIN" | "MAINT" => "mid",
        _ => "bad",
    };
    format!("<td class=\"{class}\">{}</td>", escape(word))
}

/// The page for `directors`, read at `now` (Unix seconds); it reloads itself every `refresh` seconds.
pub fn render(directors: &[DirectorView], now: f64, refresh: u32) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{refresh}\">\
         <title>fulcrum cluster</title><style>\
         body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse;margin:.3em 0 1em}}\
         td,th{{border:1px solid #bbb;padding:2px 8px;text-align:left}}th{{background:#eee}}\
         .ok{{background:#c8f0c8}}.mid{{background:#f0e8a0}}.bad{{background:#f0b0b0}}\
         .director{{display:inline-block;vertical-align:top;margin-right:2em}}</style></head><body>\n\
         <h1>fulcrum cluster</h1><p>{} directors, read from their metrics endpoints; this page reloads every \
         {refresh} s.</p>\n",
        directors.len()
    );
    for d in directors {
        let _ = writeln!(
            o,
            "<div class=\"director\" id=\"{0}\"><h2>{0} <small>{1}</small></h2>",
            escape(&d.name),
            escape(&d.addr)
        );
        o.push_str("<h3>VRRP</h3>\n");
        match &d.vrrp_error {
            Some(e) => {
                let _ = writeln!(o, "<p class=\"bad\">unreadable: {}</p>", escape(e));
            }
            None if d.instances.is_empty() => o.push_str("<p>no instance</p>\n"),
            None => {
                o.push_str(
                    "<table><tr><th>instance</th><th>interface</th><th>VRID</th><th>state</th>\
                     <th>priority</th><th>effective</th><th>holds</th><th>since</th><th>why</th></tr>\n",
                );
                for i in &d.instances {
                    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
                    let since = i.since.filter(|t| *t > 0.0).map_or(String::new(), |t| {
                        format!("{:.0} s ago", (now - t).max(0.0))
                    });
                    let _ = writeln!(
                        o,
                        "<tr><td>{}</td><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td><td>{since}</td><td>{}</td></tr>",
                        escape(&i.name),
                        escape(&i.interface),
                        escape(&i.vrid),
                        cell(i.state),
                        num(i.priority),
                        num(i.effective_priority),
                        escape(&i.holds.join(" ")),
                        escape(i.why.as_deref().unwrap_or(""))
                    );
                }
                o.push_str("</table>\n");
            }
        }
        o.push_str("<h3>L4 services (keepalived checkers)</h3>\n");
        if d.services.is_empty() {
            o.push_str("<p>none</p>\n");
        }
        for s in &d.services {
            let _ = writeln!(
                o,
                "<table><tr><th colspan=\"3\">{} &middot; quorum {}</th></tr>\
                 <tr><th>real server</th><th>check</th><th>weight</th></tr>",
                escape(&s.name),
                if s.quorum { "held" } else { "lost" }
            );
            for (rs, up, w) in &s.servers {
                let _ = writeln!(
                    o,
                    "<tr><td>{}</td>{}<td>{w}</td></tr>",
                    escape(rs),
                    cell(if *up { "up" } else { "down" })
                );
            }
            o.push_str("</table>\n");
        }
        o.push_str("<h3>Proxy backends</h3>\n");
        match &d.proxy_error {
            Some(e) => {
                let _ = writeln!(o, "<p class=\"bad\">unreadable: {}</p>", escape(e));
            }
            None if d.backends.is_empty() => o.push_str("<p>none</p>\n"),
            None => {
                for b in &d.backends {
                    let _ = writeln!(
                        o,
                        "<table><tr><th>{}</th>{}<th>sessions</th></tr>",
                        escape(&b.name),
                        cell(&b.status)
                    );
                    if let Some(r) = &b.recent {
                        let ms = |v: Option<f64>| match v {
                            Some(v) if v.is_finite() => format!("&le; {} ms", v * 1000.0),
                            Some(_) => "over the last bucket".to_string(),
                            None => "-".to_string(),
                        };
                        let _ = writeln!(
                            o,
                            "<tr><td colspan=\"3\" class=\"recent\">last {:.0} s: {:.1} req/s, p50 {}, p99 {}</td></tr>",
                            r.over,
                            r.per_second,
                            ms(r.p50),
                            ms(r.p99)
                        );
                    }
                    for (n, st, sess) in &b.servers {
                        let _ = writeln!(
                            o,
                            "<tr><td>{}</td>{}<td>{sess}</td></tr>",
                            escape(n),
                            cell(st)
                        );
                    }
                    o.push_str("</table>\n");
                }
            }
        }
        o.push_str("</div>\n");
    }
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const VRRP: &str = "# TYPE keepalived_vrrp_state gauge\n\
        keepalived_vrrp_state{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",ip_address=\"198.18.1.100\"} 2\n\
        fulcrum_vrrp_priority{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 101\n\
        fulcrum_vrrp_effective_priority{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 103\n\
        fulcrum_vrrp_last_transition_timestamp_seconds{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 990\n\
        fulcrum_vrrp_last_transition_info{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",state=\"MASTER\",reason=\"no advert for the master down interval\"} 1\n\
        fulcrum_checker_virtual_server_quorum_up{virtual_server=\"[198.18.1.100]:tcp:80\"} 1\n\
        fulcrum_checker_real_server_up{virtual_server=\"[198.18.1.100]:tcp:80\",real_server=\"[198.18.1.2]:80\"} 1\n\
        fulcrum_checker_real_server_up{virtual_server=\"[198.18.1.100]:tcp:80\",real_server=\"[198.18.1.3]:80\"} 0\n\
        fulcrum_checker_real_server_weight{virtual_server=\"[198.18.1.100]:tcp:80\",real_server=\"[198.18.1.3]:80\"} 2\n";
    const PROXY: &str = "haproxy_backend_status{proxy=\"http_back\",state=\"UP\"} 1\n\
        haproxy_backend_status{proxy=\"http_back\",state=\"DOWN\"} 0\n\
        haproxy_server_status{proxy=\"http_back\",server=\"web1\",state=\"DOWN\"} 1\n\
        haproxy_server_status{proxy=\"http_back\",server=\"web1\",state=\"UP\"} 0\n\
        haproxy_server_status{proxy=\"http_back\",server=\"web2\",state=\"UP\"} 1\n\
        haproxy_server_sessions_total{proxy=\"http_back\",server=\"web2\"} 7\n\
        haproxy_backend_http_requests_total{proxy=\"http_back\"} 120\n\
        haproxy_backend_total_time_seconds_bucket{proxy=\"http_back\",le=\"0.001\"} 60\n\
        haproxy_backend_total_time_seconds_bucket{proxy=\"http_back\",le=\"0.005\"} 117\n\
        haproxy_backend_total_time_seconds_bucket{proxy=\"http_back\",le=\"0.01\"} 119\n\
        haproxy_backend_total_time_seconds_bucket{proxy=\"http_back\",le=\"+Inf\"} 120\n";
    /// Ten seconds earlier: 20 requests, all under 1 ms. Between: 100 requests, 40 under 1 ms, 97 under 5 ms,
    /// 99 under 10 ms.
    const BEFORE: &str = "haproxy_backend_http_requests_total{proxy=\"http_back\"} 20\n\
        haproxy_backend_total_time_seconds_bucket{proxy=\"http_back\",le=\"0.001\"} 20\n\
        haproxy_backend_total_time_seconds_bucket{proxy=\"http_back\",le=\"0.005\"} 20\n\
        haproxy_backend_total_time_seconds_bucket{proxy=\"http_back\",le=\"0.01\"} 20\n\
        haproxy_backend_total_time_seconds_bucket{proxy=\"http_back\",le=\"+Inf\"} 20\n";

    #[test]
    fn a_director_is_read_from_its_two_pages() {
        let v = view(&DirectorInput {
            name: "lb1",
            addr: "198.18.1.11",
            vrrp: Ok(VRRP),
            proxy: Ok(PROXY),
            proxy_before: Some((BEFORE, 10.0)),
        });
        assert_eq!(v.instances.len(), 1);
        let i = &v.instances[0];
        assert_eq!(
            (i.state, i.priority, i.effective_priority, i.holds.clone()),
            (
                "MASTER",
                Some(101.0),
                Some(103.0),
                vec!["198.18.1.100".to_string()]
            )
        );
        assert_eq!(
            v.services[0].servers[1],
            ("[198.18.1.3]:80".to_string(), false, 2.0)
        );
        assert_eq!(v.backends[0].status, "UP");
        assert_eq!(
            v.backends[0].recent,
            Some(Recent {
                over: 10.0,
                per_second: 10.0,
                p50: Some(0.005),
                p99: Some(0.01)
            })
        );
        assert_eq!(
            v.backends[0].servers,
            [
                ("web1".to_string(), "DOWN".to_string(), 0.0),
                ("web2".to_string(), "UP".to_string(), 7.0)
            ]
        );
        assert_eq!(
            summary(&v),
            "lb1: VI_1 MASTER holding 198.18.1.100 (why: no advert for the master down interval); \
             L4 [198.18.1.100]:tcp:80 1/2 up; http_back UP (web1 DOWN, web2 UP)"
        );
        let page = render(&[v], 1000.0, 2);
        for want in [
            "<td class=\"ok\">MASTER</td>",
            "<td>198.18.1.100</td><td>10 s ago</td><td>no advert for the master down interval</td>",
            "[198.18.1.100]:tcp:80 &middot; quorum held",
            "<tr><td>[198.18.1.3]:80</td><td class=\"bad\">down</td><td>2</td></tr>",
            "<tr><td>web1</td><td class=\"bad\">DOWN</td><td>0</td></tr>",
            "<meta http-equiv=\"refresh\" content=\"2\">",
            "last 10 s: 10.0 req/s, p50 &le; 5 ms, p99 &le; 10 ms",
        ] {
            assert!(page.contains(want), "no {want} in\n{page}");
        }
    }

    #[test]
    fn an_unreadable_endpoint_is_said_and_the_other_still_shown() {
        let v = view(&DirectorInput {
            name: "lb2",
            addr: "198.18.1.12",
            vrrp: Err("connection refused"),
            proxy: Ok(PROXY),
            proxy_before: None,
        });
        assert_eq!(v.vrrp_error.as_deref(), Some("connection refused"));
        assert!(summary(&v).starts_with("lb2: VRRP unreadable (connection refused); http_back UP"));
        let page = render(&[v], 0.0, 2);
        assert!(page.contains("unreadable: connection refused"));
        assert!(page.contains("<td>web2</td><td class=\"ok\">UP</td><td>7</td>"));
        // Names are escaped.
        let v = view(&DirectorInput {
            name: "<b>",
            addr: "",
            vrrp: Ok(""),
            proxy: Ok(""),
            proxy_before: None,
        });
        assert!(render(&[v], 0.0, 2).contains("&lt;b&gt;"));
    }
}
