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

fn backends(samples: &[Sample]) -> Vec<Backend> {
    let mut by_name: BTreeMap<String, Backend> = BTreeMap::new();
    for s in samples
        .iter()
        .filter(|s| s.name == "haproxy_backend_status" && s.value == 1.0)
    {
        let name = label(s, "proxy").to_string();
        by_name.insert(
            name.clone(),
            Backend {
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
    DirectorView {
        name: d.name.to_string(),
        addr: d.addr.to_string(),
        vrrp_error,
        instances: instances(&vrrp),
        services: services(&vrrp),
        proxy_error,
        backends: backends(&proxy),
    }
}

/// One line about a director: its instances and what they hold, its L4 services, its backends.
pub fn summary(v: &DirectorView) -> String {
    let mut parts = Vec::new();
    match &v.vrrp_error {
        Some(e) => parts.push(format!("VRRP unreadable ({e})")),
        None => {
            for i in &v.instances {
                if i.holds.is_empty() {
                    parts.push(format!("{} {}", i.name, i.state));
                } else {
                    parts.push(format!(
                        "{} {} holding {}",
                        i.name,
                        i.state,
                        i.holds.join(" ")
                    ));
                }
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
                     <th>priority</th><th>effective</th><th>holds</th><th>since</th></tr>\n",
                );
                for i in &d.instances {
                    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
                    let since = i.since.filter(|t| *t > 0.0).map_or(String::new(), |t| {
                        format!("{:.0} s ago", (now - t).max(0.0))
                    });
                    let _ = writeln!(
                        o,
                        "<tr><td>{}</td><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td><td>{since}</td></tr>",
                        escape(&i.name),
                        escape(&i.interface),
                        escape(&i.vrid),
                        cell(i.state),
                        num(i.priority),
                        num(i.effective_priority),
                        escape(&i.holds.join(" "))
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
        fulcrum_checker_virtual_server_quorum_up{virtual_server=\"[198.18.1.100]:tcp:80\"} 1\n\
        fulcrum_checker_real_server_up{virtual_server=\"[198.18.1.100]:tcp:80\",real_server=\"[198.18.1.2]:80\"} 1\n\
        fulcrum_checker_real_server_up{virtual_server=\"[198.18.1.100]:tcp:80\",real_server=\"[198.18.1.3]:80\"} 0\n\
        fulcrum_checker_real_server_weight{virtual_server=\"[198.18.1.100]:tcp:80\",real_server=\"[198.18.1.3]:80\"} 2\n";
    const PROXY: &str = "haproxy_backend_status{proxy=\"http_back\",state=\"UP\"} 1\n\
        haproxy_backend_status{proxy=\"http_back\",state=\"DOWN\"} 0\n\
        haproxy_server_status{proxy=\"http_back\",server=\"web1\",state=\"DOWN\"} 1\n\
        haproxy_server_status{proxy=\"http_back\",server=\"web1\",state=\"UP\"} 0\n\
        haproxy_server_status{proxy=\"http_back\",server=\"web2\",state=\"UP\"} 1\n\
        haproxy_server_sessions_total{proxy=\"http_back\",server=\"web2\"} 7\n";

    #[test]
    fn a_director_is_read_from_its_two_pages() {
        let v = view(&DirectorInput {
            name: "lb1",
            addr: "198.18.1.11",
            vrrp: Ok(VRRP),
            proxy: Ok(PROXY),
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
            v.backends[0].servers,
            [
                ("web1".to_string(), "DOWN".to_string(), 0.0),
                ("web2".to_string(), "UP".to_string(), 7.0)
            ]
        );
        assert_eq!(
            summary(&v),
            "lb1: VI_1 MASTER holding 198.18.1.100; L4 [198.18.1.100]:tcp:80 1/2 up; http_back UP (web1 DOWN, web2 UP)"
        );
        let page = render(&[v], 1000.0, 2);
        for want in [
            "<td class=\"ok\">MASTER</td>",
            "<td>198.18.1.100</td><td>10 s ago</td>",
            "[198.18.1.100]:tcp:80 &middot; quorum held",
            "<tr><td>[198.18.1.3]:80</td><td class=\"bad\">down</td><td>2</td></tr>",
            "<tr><td>web1</td><td class=\"bad\">DOWN</td><td>0</td></tr>",
            "<meta http-equiv=\"refresh\" content=\"2\">",
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
        });
        assert!(render(&[v], 0.0, 2).contains("&lt;b&gt;"));
    }
}
