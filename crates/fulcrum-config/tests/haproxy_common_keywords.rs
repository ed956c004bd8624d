//! Keywords common in real haproxy.cfg files (`cookie`, server `cookie`, `option persist`, `option tcpka`, `node`,
//! `description`...): parsed into the model, refused and warned about where the real haproxy 2.6 refuses or warns
//! (valid configurations also go through `haproxy -c`).

#[path = "haproxy_util.rs"]
mod util;

use fulcrum_config::haproxy::cookie::{CookieMode, CookiePersist};
use fulcrum_config::haproxy::Reply;
use util::*;

fn with(section: &str) -> String {
    format!("{DEFAULTS}{section}")
}

#[test]
fn cookie_line_and_server_values() {
    let c = ok_both(&with(
        "backend b\n cookie SRVID insert indirect nocache postonly preserve httponly secure domain .a.com domain .b.com attr SameSite=Lax attr x=y\n option persist\n default-server cookie dflt\n server s1 127.0.0.1:8001 cookie c1\n server s2 127.0.0.1:8002\n",
    ));
    let b = c.backend("b").unwrap();
    assert_eq!(
        b.cookie,
        Some(CookiePersist {
            name: "SRVID".into(),
            mode: CookieMode::Insert,
            indirect: true,
            nocache: true,
            postonly: true,
            preserve: true,
            httponly: true,
            secure: true,
            domains: vec![".a.com".into(), ".b.com".into()],
            attrs: vec!["SameSite=Lax".into(), "x=y".into()],
            maxidle: None,
            maxlife: None,
            dynamic: false,
            dynamic_key: None,
        })
    );
    assert!(b.persist);
    assert_eq!(b.servers[0].cookie.as_deref(), Some("c1"));
    assert_eq!(b.servers[1].cookie.as_deref(), Some("dflt"));
    for (line, mode) in [
        ("cookie X", CookieMode::Passive),
        ("cookie X rewrite", CookieMode::Rewrite),
        ("cookie X prefix indirect", CookieMode::Prefix),
    ] {
        let c = ok_both(&with(&format!(
            "backend b\n {line}\n server s 127.0.0.1:8001 cookie a\n"
        )));
        assert_eq!(c.backend("b").unwrap().cookie.as_ref().unwrap().mode, mode);
    }
    // Inherited from defaults, and `no option persist`.
    let c = ok_both(&format!(
        "{DEFAULTS} cookie S insert\n option persist\nbackend b\n no option persist\n server s 127.0.0.1:8001\n"
    ));
    let b = c.backend("b").unwrap();
    assert_eq!(b.cookie.as_ref().unwrap().name, "S");
    assert!(!b.persist);
}

#[test]
fn cookie_errors_as_haproxy() {
    err1_both(
        &with("backend b\n cookie\n"),
        7,
        "cookie",
        "expects a cookie name",
    );
    err1_both(
        &with("backend b\n cookie X insert rewrite\n"),
        7,
        "cookie",
        "cannot be combined",
    );
    err1_both(
        &with("backend b\n cookie X rewrite preserve\n"),
        7,
        "cookie",
        "'preserve' requires",
    );
    err1_both(
        &with("backend b\n cookie X foo\n"),
        7,
        "cookie",
        "unknown cookie option 'foo'",
    );
    err1_both(
        &with("backend b\n cookie X insert attr a;b\n"),
        7,
        "cookie",
        "0x3B",
    );
    err1_both(
        &with("backend b\n server s 127.0.0.1:8001 cookie\n"),
        7,
        "server cookie",
        "expects a value",
    );
    // Accepted by both.
    for opt in [
        "maxidle 10s",
        "maxlife 1h",
        "dynamic",
        "maxidle 30 maxlife 2h",
    ] {
        ok_both(&with(&format!(
            "backend b\n cookie X insert {opt}\n server s 127.0.0.1:8001\n"
        )));
    }
}

#[test]
fn cookie_ignored_with_haproxys_warnings() {
    let c = ok_both(&with(
        "frontend f\n bind 127.0.0.1:8000\n cookie X insert\n default_backend b\nbackend b\n server s 127.0.0.1:8001\n",
    ));
    assert!(c.warnings[0].to_string().contains("no backend capability"));
    let c = ok_both(&with(
        "backend b\n mode tcp\n cookie X insert\n server s 127.0.0.1:8001\n",
    ));
    assert!(c.backend("b").unwrap().cookie.is_none());
    assert!(c.warnings[0].to_string().contains("needs 'mode http'"));
}

/// `option tcpka`, `clitcpka`, `srvtcpka`: each side keeps what applies to it; `no option` turns one off.
#[test]
fn tcp_keepalive_options() {
    let c = ok_both(&format!(
        "{DEFAULTS} option tcpka\nfrontend f\n bind 127.0.0.1:8000\n no option clitcpka\n default_backend b\nbackend b\n server s 127.0.0.1:8001\nlisten l\n bind 127.0.0.1:8002\n no option clitcpka\n server s 127.0.0.1:8001\n"
    ));
    let f = c.proxies.iter().find(|p| p.name == "f").unwrap();
    assert!(!f.clitcpka && !f.srvtcpka);
    let b = c.backend("b").unwrap();
    assert!(!b.clitcpka && b.srvtcpka);
    let l = c.proxies.iter().find(|p| p.name == "l").unwrap();
    assert!(!l.clitcpka && l.srvtcpka);
    // Where the proxy lacks the side: HAProxy's warning, the option ignored.
    let c = ok_both(&with(
        "backend b\n option clitcpka\n server s 127.0.0.1:8001\n",
    ));
    assert!(!c.backend("b").unwrap().clitcpka);
    assert!(c.warnings[0]
        .to_string()
        .contains("'clitcpka' ignored because backend 'b' has no frontend capability."));
    err1_both(
        &with("backend b\n no option tcpka\n server s 127.0.0.1:8001\n"),
        7,
        "no option tcpka",
        "cannot be negated",
    );
}

/// Global `node` / `description`, proxy `description` (words joined by one space, as HAProxy joins them).
#[test]
fn node_and_descriptions() {
    let c = ok_both(&format!(
        "global\n node n1\n description a  b\n{DEFAULTS}backend b\n description  hello   world\n server s 127.0.0.1:8001\n"
    ));
    assert_eq!(c.global.node.as_deref(), Some("n1"));
    assert_eq!(c.global.description.as_deref(), Some("a b"));
    assert_eq!(
        c.backend("b").unwrap().description.as_deref(),
        Some("hello world")
    );
    err1_both(
        &format!("{DEFAULTS} description x\n"),
        6,
        "description",
        "not allowed in a 'defaults' section",
    );
}

/// `option dontlog-normal`, inherited from defaults and turned off by `no option`.
#[test]
fn dontlog_normal_option() {
    let c = ok_both(&format!(
        "{DEFAULTS} option dontlog-normal\nfrontend f\n bind 127.0.0.1:8000\n default_backend b\nfrontend g\n bind 127.0.0.1:8001\n no option dontlog-normal\n default_backend b\nbackend b\n server s 127.0.0.1:8002\n"
    ));
    let by = |n: &str| {
        c.proxies
            .iter()
            .find(|p| p.name == n)
            .unwrap()
            .dontlog_normal
    };
    assert!(by("f"));
    assert!(!by("g"));
}

/// `option logasap`, inherited from defaults and turned off by `no option`.
#[test]
fn logasap_option() {
    let c = ok_both(&format!(
        "{DEFAULTS} option logasap\nfrontend f\n bind 127.0.0.1:8000\n default_backend b\nfrontend g\n bind 127.0.0.1:8001\n no option logasap\n default_backend b\nbackend b\n server s 127.0.0.1:8002\n"
    ));
    let by = |n: &str| c.proxies.iter().find(|p| p.name == n).unwrap().logasap;
    assert!(by("f"));
    assert!(!by("g"));
}

/// `http-send-name-header NAME`: backends and listens; a name is required, as by HAProxy.
#[test]
fn http_send_name_header() {
    let c = ok_both(&with(
        "backend b\n http-send-name-header X-Srv\n server s 127.0.0.1:8001\n",
    ));
    assert_eq!(
        c.backend("b").unwrap().send_name_header.as_deref(),
        Some("X-Srv")
    );
    err1_both(
        &with("backend b\n http-send-name-header\n server s 127.0.0.1:8001\n"),
        7,
        "http-send-name-header",
        "expects a header name",
    );
}

/// `errorloc`, `errorloc302`, `errorloc303`: a redirect page for the status; the code must be one HAProxy knows.
#[test]
fn errorloc_lines() {
    let c = ok_both(&with(
        "backend b\n errorloc 503 http://x/sorry\n errorloc303 403 /denied\n server s 127.0.0.1:8001\n",
    ));
    let b = c.backend("b").unwrap();
    let pages: Vec<&(u16, Reply)> = b.rules.errorfiles.iter().collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(matches!(&pages[0].1, Reply::Errorfile(p) if p.starts_with(b"HTTP/1.1 302 Found\r\n")));
    assert!(
        matches!(&pages[1].1, Reply::Errorfile(p) if p.starts_with(b"HTTP/1.1 303 See Other\r\n"))
    );
    err1_both(
        &with("backend b\n errorloc 503\n"),
        7,
        "errorloc",
        "expects 'errorloc CODE URL'",
    );
    err1_both(
        &with("backend b\n errorloc302 999 /x\n"),
        7,
        "errorloc302",
        "",
    );
}

/// `setenv`, `presetenv`, `unsetenv`, `resetenv`: the lines after them see the changed environment, in order.
#[test]
fn environment_keywords_change_later_expansions() {
    let c = ok_both(&format!(
        "global\n setenv SRV_PORT 9000\n presetenv SRV_PORT 1\n presetenv SRV_ADDR 127.0.0.1\n setenv GONE x\n unsetenv GONE\n node \"n${{GONE}}-${{SRV_PORT}}\"\n{DEFAULTS}backend b\n server s \"${{SRV_ADDR}}:${{SRV_PORT}}\"\n"
    ));
    assert_eq!(c.global.node.as_deref(), Some("n-9000"));
    assert_eq!(
        c.backend("b").unwrap().servers[0].addr,
        "127.0.0.1:9000".parse().unwrap()
    );
    // Lines before a change see the old value; `resetenv` keeps only the names it lists.
    let c = ok("global\n description \"${FT_PORT}\"\n setenv FT_PORT 1\n resetenv FT_PORT\n node \"a${FT_ADDR}b${FT_PORT}\"\n");
    assert_eq!(c.global.description.as_deref(), Some("18080"));
    assert_eq!(c.global.node.as_deref(), Some("ab1"));
    err1_both(
        "global\n setenv ONLY_NAME\n",
        2,
        "setenv",
        "expects a name and a value",
    );
    err1_both(
        "global\n presetenv\n",
        2,
        "presetenv",
        "expects a name and a value",
    );
    err1_both(
        "global\n unsetenv\n",
        2,
        "unsetenv",
        "at least one variable name",
    );
}

/// `log-tag` (global, defaults, proxies) and `log-send-hostname [NAME]`.
#[test]
fn log_tag_and_send_hostname() {
    let c = ok_both(&format!(
        "global\n log-tag g\n log-send-hostname\n{DEFAULTS} log-tag d\nbackend b\n server s 127.0.0.1:8001\nbackend c\n log-tag own\n server s 127.0.0.1:8001\n"
    ));
    assert_eq!(c.global.log_tag.as_deref(), Some("g"));
    assert_eq!(c.global.log_send_hostname, Some(None));
    assert_eq!(c.backend("b").unwrap().log_tag.as_deref(), Some("d"));
    assert_eq!(c.backend("c").unwrap().log_tag.as_deref(), Some("own"));
    let c = ok_both("global\n log-send-hostname h1\n");
    assert_eq!(c.global.log_send_hostname, Some(Some("h1".into())));
    assert_eq!(ok("global\n").global.log_send_hostname, None);
    err1_both(
        "global\n log-tag\n",
        2,
        "log-tag",
        "expects a tag for use in syslog",
    );
    err1_both("global\n log-tag a b\n", 2, "log-tag", "extra 'b'");
    err1_both(
        &format!("{DEFAULTS}backend b\n log-tag\n"),
        7,
        "log-tag",
        "expects a tag for use in syslog",
    );
}

/// `use-server NAME if|unless COND` (backends and listens): the server must exist and the condition is required.
#[test]
fn use_server_rules() {
    let c = ok_both(&format!(
        "{DEFAULTS}backend b\n use-server s2 if {{ path_beg /a }}\n use-server s1 unless TRUE\n server s1 127.0.0.1:8001\n server s2 127.0.0.1:8002\n"
    ));
    let r = &c.backend("b").unwrap().rules.use_servers;
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].action.name.as_str(), r[0].action.index), ("s2", 1));
    assert_eq!((r[1].action.name.as_str(), r[1].action.index), ("s1", 0));
    err1_both(
        &format!("{DEFAULTS}backend b\n use-server s1\n server s1 127.0.0.1:8001\n"),
        7,
        "use-server",
        "requires either 'if' or 'unless' followed by a condition",
    );
    err1_both(
        &format!("{DEFAULTS}backend b\n use-server nope if TRUE\n server s1 127.0.0.1:8001\n"),
        7,
        "use-server",
        "unable to find server 'nope' referenced in a 'use-server' rule",
    );
}

/// `monitor fail if|unless COND` (frontends and listens).
#[test]
fn monitor_fail_rules() {
    let c = ok_both(&format!(
        "{DEFAULTS}frontend f\n bind 127.0.0.1:18001\n monitor-uri /m\n monitor fail if {{ nbsrv(b) lt 1 }}\n monitor fail unless TRUE\n default_backend b\nbackend b\n server s 127.0.0.1:8001\n"
    ));
    let f = c.proxies.iter().find(|p| p.name == "f").unwrap();
    assert_eq!(f.rules.monitor_fail.len(), 2);
    let fe = |l: &str| format!("{DEFAULTS}frontend f\n bind 127.0.0.1:18001\n {l}\n");
    err1_both(
        &fe("monitor fail"),
        8,
        "monitor fail",
        "requires either 'if' or 'unless'",
    );
    err1_both(
        &fe("monitor fail TRUE"),
        8,
        "monitor fail",
        "requires either 'if' or 'unless'",
    );
    err1_both(&fe("monitor foo"), 8, "monitor", "only supports 'fail'");
}

/// `ulimit-n N` (0 leaves the limit alone, as HAProxy reads it).
#[test]
fn ulimit_n() {
    assert_eq!(
        ok_both("global\n ulimit-n 4096\n").global.ulimit_n,
        Some(4096)
    );
    assert_eq!(ok_both("global\n ulimit-n 0\n").global.ulimit_n, None);
    err1_both(
        "global\n ulimit-n\n",
        2,
        "ulimit-n",
        "expects an integer argument",
    );
    err1_both("global\n ulimit-n 1 2\n", 2, "ulimit-n", "extra '2'");
    // HAProxy reads a word that is not a number as 0; fulcrum refuses it.
    err1(
        "global\n ulimit-n lots\n",
        2,
        "ulimit-n",
        "expects an integer argument",
    );
}

/// `spread-checks N` (0..50).
#[test]
fn spread_checks() {
    assert_eq!(
        ok_both("global\n spread-checks 5\n").global.spread_checks,
        5
    );
    assert_eq!(ok("global\n").global.spread_checks, 0);
    err1_both(
        "global\n spread-checks 51\n",
        2,
        "spread-checks",
        "range 0..50",
    );
    err1_both(
        "global\n spread-checks -1\n",
        2,
        "spread-checks",
        "range 0..50",
    );
    err1_both(
        "global\n spread-checks\n",
        2,
        "spread-checks",
        "expects an integer argument (0..50)",
    );
}

/// `maxconnrate N`, `maxsessrate N` (0: no limit).
#[test]
fn connection_and_session_rates() {
    let c = ok_both("global\n maxconnrate 100\n maxsessrate 50\n");
    assert_eq!(
        (c.global.maxconnrate, c.global.maxsessrate),
        (Some(100), Some(50))
    );
    assert_eq!(ok_both("global\n maxconnrate 0\n").global.maxconnrate, None);
    err1_both(
        "global\n maxconnrate\n",
        2,
        "maxconnrate",
        "expects an integer argument",
    );
    err1_both("global\n maxsessrate 1 2\n", 2, "maxsessrate", "extra '2'");
}

/// `cpu-map [auto:]PROC[/THREADS] CPUS...` and the CPUs each thread gets.
#[test]
fn cpu_map_lines() {
    use fulcrum_config::haproxy::CpuMap;
    let c = ok_both(
        "global\n nbthread 4\n cpu-map all 0-3\n cpu-map 1/2 1 3\n cpu-map auto:1/3-4 2-3\n cpu-map 2/1 0\n",
    );
    let per = CpuMap::per_thread(&c.global.cpu_map, 4);
    assert_eq!(
        per,
        [
            Some(vec![0, 1, 2, 3]),
            Some(vec![1, 3]),
            Some(vec![2]),
            Some(vec![3])
        ]
    );
    // Odd threads only; `auto:` with fewer CPUs than threads leaves the others as they were.
    let c = ok_both("global\n nbthread 4\n cpu-map 1/odd 0\n cpu-map auto:1/even 1\n");
    assert_eq!(
        CpuMap::per_thread(&c.global.cpu_map, 4),
        [Some(vec![0]), Some(vec![1]), Some(vec![0]), None]
    );
    assert_eq!(
        CpuMap::per_thread(&ok("global\n").global.cpu_map, 2),
        [None, None]
    );
    for bad in [
        "cpu-map 1/1",
        "cpu-map",
        "cpu-map x 0",
        "cpu-map 1/1 a",
        "cpu-map 1/0 0",
    ] {
        err1(
            &format!("global\n {bad}\n"),
            2,
            "cpu-map",
            "expects a process set",
        );
    }
    err1_both(
        "global\n cpu-map 1/1\n",
        2,
        "cpu-map",
        "expects a process set",
    );
}

/// `id N`, `disabled` / `enabled`, `backlog N`, `fullconn N`: parsed, inherited from defaults (but `id`), with
/// HAProxy's refusals and warnings; a disabled proxy is left out of the configuration.
#[test]
fn id_disabled_backlog_fullconn() {
    const D: &str =
        "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n";
    let c = ok_both(&format!(
        "{D} backlog 20\nfrontend f\n id 7\n bind :18080\n backlog 10\n default_backend b\n\
         frontend g\n disabled\n bind :18081\n default_backend b\n\
         backend b\n id 3\n fullconn 100\n server s 127.0.0.1:1\n\
         backend c\n disabled\n enabled\n server s 127.0.0.1:1\n"
    ));
    let names: Vec<_> = c.proxies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["f", "b", "c"]);
    let (f, b) = (&c.proxies[0], &c.proxies[1]);
    assert_eq!((f.id, f.backlog, f.fullconn), (Some(7), Some(10), None));
    assert_eq!((b.id, b.fullconn, b.disabled), (Some(3), Some(100), false));
    // inherited from defaults: `backlog` (a backend ignores it), `disabled`
    let c = ok_both(&format!(
        "{D} backlog 20\nfrontend f\n bind :18080\n default_backend b\nbackend b\n server s 127.0.0.1:1\n"
    ));
    assert_eq!(c.proxies[0].backlog, Some(20));
    // HAProxy's warnings for a side the proxy does not have.
    let c = ok(&format!(
        "{D}frontend f\n bind :18080\n fullconn 5\n default_backend b\nbackend b\n backlog 5\n server s 127.0.0.1:1\n"
    ));
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        w[0].contains("'fullconn' ignored because frontend 'f' has no backend capability"),
        "{w:?}"
    );
    assert!(
        w[1].contains("'backlog' ignored because backend 'b' has no frontend capability"),
        "{w:?}"
    );
    // Numbered as haproxy 2.6 numbers them (observed through fe_id/be_id): a counter moves on at every proxy,
    // disabled ones included, and past the ids `id` lines claim.
    let uids = |text: &str| -> Vec<(String, u32)> {
        ok(&format!("{D}{text}"))
            .proxies
            .iter()
            .map(|p| (p.name.clone(), p.uid))
            .collect()
    };
    let fe =
        |n: &str, extra: &str| format!("frontend {n}\n{extra} bind :18090\n default_backend b\n");
    assert_eq!(
        uids(&format!(
            "{}{}{}backend b\n server s 127.0.0.1:1\n",
            fe("f", ""),
            fe("g", ""),
            fe("h", " id 1\n")
        )),
        [
            ("f".into(), 2),
            ("g".into(), 3),
            ("h".into(), 1),
            ("b".into(), 5)
        ]
    );
    assert_eq!(
        uids(&format!(
            "{}{}{}backend b\n id 3\n server s 127.0.0.1:1\n",
            fe("f", " id 7\n"),
            fe("g", " disabled\n"),
            fe("h", "")
        )),
        [("f".into(), 7), ("h".into(), 4), ("b".into(), 3)]
    );
    // HAProxy's refusals.
    for (v, why) in [
        ("0", "custom id has to be > 0"),
        ("x", "custom id has to be > 0"),
    ] {
        err1_both(
            &format!("{D}frontend f\n id {v}\n bind :18080\n"),
            7,
            "id",
            why,
        );
    }
    err1_both(
        &format!("{D}frontend f\n id 5\n bind :18080\n default_backend b\nbackend b\n id 5\n server s 127.0.0.1:1\n"),
        11,
        "id",
        "backend b reuses same custom id as frontend f (declared at",
    );
    err1_both(
        &format!("{D} id 4\n"),
        6,
        "id",
        "not allowed in a 'defaults' section",
    );
    err1_both(
        &format!("{D}frontend f\n id 2 3\n bind :18080\n"),
        7,
        "id",
        "'3'",
    );
}
