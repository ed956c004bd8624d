//! Outputs whose format scripts depend on: `show servers state` (the server-state-file format) and
//! `show info` (`Key: value` lines).

use std::fmt::Write;

use super::{Info, ServerState};

/// The column line of `show servers state`, after the format version line `1`.
pub const SERVERS_STATE_HEADER: &str = "# be_id be_name srv_id srv_name srv_addr srv_op_state \
srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result \
srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord \
srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port";

/// `show servers state`: the version line, the columns, one line per server.
pub fn render_servers_state(rows: &[ServerState]) -> String {
    let mut out = String::from("1\n");
    out.push_str(SERVERS_STATE_HEADER);
    out.push('\n');
    for r in rows {
        let check_addr = r.check_addr.map_or("-".to_string(), |a| a.to_string());
        let addr = r.addr.map_or("-".to_string(), |a| a.to_string());
        let _ = writeln!(
            out,
            "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 0 {} {} {} {} {} {} {} {}",
            r.be_id,
            r.be_name,
            r.srv_id,
            r.srv_name,
            addr,
            r.op_state,
            r.admin_state,
            r.uweight,
            r.iweight,
            r.since_last_change,
            r.check_status,
            r.check_result,
            r.check_health,
            r.check_state,
            r.agent_state,
            r.fqdn.as_deref().unwrap_or("-"),
            r.port,
            r.srvrecord.as_deref().unwrap_or("-"),
            r.use_ssl,
            r.check_port,
            check_addr,
            r.agent_addr.map_or("-".to_string(), |a| a.to_string()),
            r.agent_port,
        );
    }
    out
}

/// `show resolvers [NAME]`: every section's nameservers with their counters, as HAProxy 2.6 prints them.
pub fn render_resolvers(sections: &[super::ResolversInfo]) -> String {
    let mut out = String::new();
    for r in sections {
        let _ = writeln!(out, "Resolvers section {}", r.name);
        for ns in &r.nameservers {
            let _ = writeln!(out, " nameserver {}:", ns.id);
            for (name, v) in super::NAMESERVER_COUNTERS.iter().zip(ns.counters) {
                let _ = writeln!(out, "  {:<13}{v}", format!("{name}:"));
            }
        }
    }
    out
}

/// `show info`: HAProxy's field names and order, for the fields fulcrum knows.
pub fn render_info(i: &Info) -> String {
    let secs = i.uptime.as_secs();
    let uptime = format!(
        "{}d {}h{:02}m{:02}s",
        secs / 86_400,
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    );
    let mut out = String::new();
    let mut kv = |k: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{k}: {v}");
    };
    kv("Name", &"fulcrum");
    kv("Version", &i.version);
    kv("Nbthread", &i.nbthread);
    kv("Nbproc", &1);
    kv("Process_num", &1);
    kv("Pid", &i.pid);
    kv("Uptime", &uptime);
    kv("Uptime_sec", &secs);
    kv("Ulimit-n", &i.ulimit_n);
    kv("Maxconn", &i.maxconn);
    kv("Hard_maxconn", &i.maxconn);
    kv("CurrConns", &i.curr_conns);
    if let Some(n) = i.cum_conns {
        kv("CumConns", &n);
    }
    if let Some(n) = i.cum_req {
        kv("CumReq", &n);
    }
    let counts = ["MaxSslConns", "CurrSslConns", "CumSslConns"]
        .iter()
        .zip(i.ssl_conns)
        .chain(["Maxpipes", "PipesUsed", "PipesFree"].iter().zip(i.pipes));
    for (k, v) in counts {
        kv(k, &v);
    }
    if let Some(r) = &i.rates {
        let names: [(&[&str], &[u64]); 6] = [
            (&["ConnRate", "ConnRateLimit", "MaxConnRate"], &r.conn),
            (&["SessRate", "SessRateLimit", "MaxSessRate"], &r.sess),
            (&["SslRate", "SslRateLimit", "MaxSslRate"], &r.ssl),
            (
                &[
                    "SslFrontendKeyRate",
                    "SslFrontendMaxKeyRate",
                    "SslFrontendSessionReuse_pct",
                ],
                &r.fe_keys,
            ),
            (&["SslBackendKeyRate", "SslBackendMaxKeyRate"], &r.be_keys),
            (&["SslCacheLookups", "SslCacheMisses"], &r.ssl_cache),
        ];
        for (keys, values) in names {
            for (k, v) in keys.iter().zip(values) {
                kv(k, v);
            }
        }
    }
    kv("node", &i.node);
    if let Some(d) = &i.description {
        kv("description", d);
    }
    kv("Stopping", &u8::from(i.stopping));
    kv("Listeners", &i.listeners);
    kv("DroppedLogs", &i.dropped_logs);
    kv("Build info", &i.version);
    kv("Start_time_sec", &i.start_time_sec);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn show_resolvers_layout() {
        let r = super::super::ResolversInfo {
            name: "dns".into(),
            nameservers: vec![super::super::NameserverInfo {
                id: "ns1".into(),
                counters: std::array::from_fn(|i| i as u64),
            }],
        };
        let out = render_resolvers(&[r]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 17);
        assert_eq!(lines[0], "Resolvers section dns");
        assert_eq!(lines[1], " nameserver ns1:");
        assert_eq!(lines[2], "  sent:        0");
        assert_eq!(lines[7], "  cname_error: 5");
        assert_eq!(lines[16], "  outdated:    14");
    }

    #[test]
    fn servers_state_has_the_version_line_the_columns_and_25_fields_per_server() {
        let row = ServerState {
            be_id: 3,
            be_name: "app".into(),
            srv_id: 1,
            srv_name: "s1".into(),
            addr: Some("127.0.0.1".parse().unwrap()),
            port: 8080,
            fqdn: None,
            srvrecord: None,
            op_state: 2,
            admin_state: 0,
            uweight: 10,
            iweight: 10,
            since_last_change: 3,
            check_status: 6,
            check_result: 3,
            check_health: 4,
            check_state: 6,
            check_port: 0,
            check_addr: None,
            agent_state: 0,
            agent_addr: None,
            agent_port: 0,
            use_ssl: 0,
        };
        let out = render_servers_state(std::slice::from_ref(&row));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "1");
        assert_eq!(lines[1].split(' ').count(), 26);
        assert_eq!(
            lines[2],
            "3 app 1 s1 127.0.0.1 2 0 10 10 3 6 3 4 6 0 0 0 - 8080 - 0 0 - - 0"
        );
        let named = ServerState {
            addr: None,
            fqdn: Some("a.example".into()),
            srvrecord: Some("_http._tcp.example".into()),
            use_ssl: -1,
            ..row.clone()
        };
        let out = render_servers_state(&[named]);
        assert!(out.ends_with("\n3 app 1 s1 - 2 0 10 10 3 6 3 4 6 0 0 0 a.example 8080 _http._tcp.example -1 0 - - 0\n"), "{out}");
        // An agent: its flags, address and port.
        let row = ServerState {
            agent_state: 0x16,
            agent_addr: Some("127.0.0.9".parse().unwrap()),
            agent_port: 5555,
            ..row
        };
        let out = render_servers_state(&[row]);
        assert!(
            out.ends_with(
                "\n3 app 1 s1 127.0.0.1 2 0 10 10 3 6 3 4 6 22 0 0 - 8080 - 0 0 - 127.0.0.9 5555\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn info_uptime_reads_like_haproxy() {
        let i = Info {
            uptime: Duration::from_secs(90_061),
            ..Default::default()
        };
        let out = render_info(&i);
        assert!(out.starts_with("Name: fulcrum\n"), "{out}");
        assert!(out.contains("Uptime: 1d 1h01m01s\n"), "{out}");
        assert!(out.contains("Uptime_sec: 90061\n"), "{out}");
    }

    #[test]
    fn info_rates_in_haproxy_order() {
        let i = Info {
            rates: Some(super::super::InfoRates {
                conn: [1, 2, 3],
                sess: [4, 5, 6],
                ssl: [7, 8, 9],
                fe_keys: [10, 11, 12],
                be_keys: [13, 14],
                ssl_cache: [15, 16],
            }),
            ..Default::default()
        };
        let out = render_info(&i);
        let from = out.find("ConnRate:").unwrap();
        let to = out.find("node:").unwrap();
        assert_eq!(
            &out[from..to],
            "ConnRate: 1\nConnRateLimit: 2\nMaxConnRate: 3\nSessRate: 4\nSessRateLimit: 5\nMaxSessRate: 6\n\
             SslRate: 7\nSslRateLimit: 8\nMaxSslRate: 9\nSslFrontendKeyRate: 10\nSslFrontendMaxKeyRate: 11\n\
             SslFrontendSessionReuse_pct: 12\nSslBackendKeyRate: 13\nSslBackendMaxKeyRate: 14\n\
             SslCacheLookups: 15\nSslCacheMisses: 16\n"
        );
    }
}
