//! Keywords of HTTP messaging and server-connection handling: `http-reuse`, `dispatch`, `tune.idle-pool.shared`,
//! `tune.bufsize`, `tune.maxrewrite`, `option http-buffer-request`, `wait-for-body`, `option abortonclose`.
//! Valid configurations are also checked by the real haproxy.

#[path = "haproxy_util.rs"]
mod util;

use fulcrum_config::haproxy::*;
use util::*;

#[test]
fn http_reuse_modes() {
    let c = ok_both(&format!(
        "{DEFAULTS} http-reuse always\nbackend a\n server s 127.0.0.1:80\nbackend b\n http-reuse never\n server s 127.0.0.1:80\n\
         listen l\n bind 127.0.0.1:8080\n http-reuse aggressive\n server s 127.0.0.1:80\n"
    ));
    let mode = |n: &str| c.backend(n).unwrap().http_reuse;
    assert_eq!(
        (mode("a"), mode("b"), mode("l")),
        (HttpReuse::Always, HttpReuse::Never, HttpReuse::Aggressive)
    );
    let c = ok_both(&format!("{DEFAULTS}backend b\n server s 127.0.0.1:80\n"));
    assert_eq!(c.backend("b").unwrap().http_reuse, HttpReuse::Safe);
    err1_both(
        &format!("{DEFAULTS}backend b\n http-reuse sometimes\n server s 127.0.0.1:80\n"),
        7,
        "http-reuse",
        "only supports 'never', 'safe', 'aggressive', 'always'",
    );
}

#[test]
fn dispatch_is_the_only_server() {
    let c = ok_both(&format!(
        "{DEFAULTS}listen l\n bind 127.0.0.1:8080\n dispatch 127.0.0.1:8081\n"
    ));
    let servers = &c.backend("l").unwrap().servers;
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].addr, "127.0.0.1:8081".parse().unwrap());
    err1_both(
        &format!("{DEFAULTS}listen l\n bind 127.0.0.1:8080\n dispatch 127.0.0.1\n"),
        8,
        "dispatch",
        "no port",
    );
    err1_both(
        &format!("{DEFAULTS} dispatch 127.0.0.1:80\n"),
        6,
        "dispatch",
        "",
    );
    // HAProxy accepts servers beside it and ignores them; fulcrum refuses the mix.
    err1(
        &format!("{DEFAULTS}listen l\n bind 127.0.0.1:8080\n dispatch 127.0.0.1:81\n server s 127.0.0.1:80\n"),
        8,
        "dispatch",
        "both 'dispatch' and 'server'",
    );
}

#[test]
fn idle_pool_shared() {
    let c = ok_both("global\n tune.idle-pool.shared off\n");
    assert!(c.warnings.is_empty());
    assert_eq!(c.global.idle_pool_shared, Some(false));
    let c = ok_both("global\n tune.idle-pool.shared on\n");
    assert!(c.warnings.is_empty());
    assert_eq!(c.global.idle_pool_shared, Some(true));
    assert_eq!(ok_both("global\n").global.idle_pool_shared, None);
    err1_both(
        "global\n tune.idle-pool.shared maybe\n",
        2,
        "tune.idle-pool.shared",
        "'on' or 'off'",
    );
    err1_both(
        "global\n tune.idle-pool.shared on off\n",
        2,
        "tune.idle-pool.shared",
        "extra",
    );
}

#[test]
fn buffer_sizes() {
    let c = ok_both("global\n tune.bufsize 2040\n tune.maxrewrite 128\n");
    // Rounded up to a multiple of 16, as HAProxy does.
    assert_eq!(
        (c.global.tune_bufsize, c.global.tune_maxrewrite),
        (Some(2048), Some(128))
    );
    assert_eq!((c.global.bufsize(), c.global.maxrewrite()), (2048, 128));
    // HAProxy's defaults, and maxrewrite capped at half the buffer.
    let c = ok_both("global\n tune.bufsize 1024\n");
    assert_eq!((c.global.bufsize(), c.global.maxrewrite()), (1024, 512));
    let c = ok_both("global\n nbthread 1\n");
    assert_eq!((c.global.bufsize(), c.global.maxrewrite()), (16384, 1024));
    // HAProxy reads `16k` as 16 (atol); fulcrum refuses it.
    err1("global\n tune.bufsize 16k\n", 2, "tune.bufsize", "");
    err1("global\n tune.bufsize 0\n", 2, "tune.bufsize", "");
    err1("global\n tune.maxrewrite\n", 2, "tune.maxrewrite", "");
    // Header count and logged request line: HAProxy's defaults, and its bounds.
    let c = ok_both("global\n tune.http.maxhdr 64\n tune.http.logurilen 200\n");
    assert_eq!((c.global.maxhdr(), c.global.logurilen()), (64, 200));
    let c = ok_both("global\n nbthread 1\n");
    assert_eq!((c.global.maxhdr(), c.global.logurilen()), (101, 1024));
    err1("global\n tune.http.maxhdr 0\n", 2, "tune.http.maxhdr", "");
    err1(
        "global\n tune.http.maxhdr 32768\n",
        2,
        "tune.http.maxhdr",
        "",
    );
    err1(
        "global\n tune.http.logurilen x\n",
        2,
        "tune.http.logurilen",
        "",
    );
}

#[test]
fn body_buffering_and_abortonclose_options() {
    let c = ok_both(&format!(
        "{DEFAULTS} option http-buffer-request\n option abortonclose\nfrontend f\n bind 127.0.0.1:8080\n \
         default_backend b\nbackend b\n no option http-buffer-request\n server s 127.0.0.1:80\n\
         backend c\n no option abortonclose\n server s 127.0.0.1:80\n"
    ));
    let f = c.proxies.iter().find(|p| p.name == "f").unwrap();
    assert!(f.http_buffer_request);
    let (b, cc) = (c.backend("b").unwrap(), c.backend("c").unwrap());
    assert!(!b.http_buffer_request && b.abortonclose);
    assert!(cc.http_buffer_request && !cc.abortonclose);
    // `abortonclose` is a backend option (HAProxy warns and ignores it in a frontend; fulcrum refuses it).
    err1(
        &format!("{DEFAULTS}frontend f\n bind 127.0.0.1:8080\n option abortonclose\n"),
        8,
        "option abortonclose",
        "not allowed in a 'frontend' section",
    );
    err1(
        &format!("{DEFAULTS}backend b\n option http-buffer-request now\n"),
        7,
        "option http-buffer-request",
        "expects no argument",
    );
}

#[test]
fn wait_for_body_actions() {
    let c = ok_both(&format!(
        "{DEFAULTS}frontend f\n bind 127.0.0.1:8080\n \
         http-request wait-for-body time 100ms if {{ path /a }}\n \
         http-request wait-for-body time 1s at-least 1k\n default_backend b\n\
         backend b\n http-response wait-for-body time 100ms at-least 1000 if {{ status eq 200 }}\n \
         server s 127.0.0.1:80\n"
    ));
    let f = c.proxies.iter().find(|p| p.name == "f").unwrap();
    let actions: Vec<_> = f.rules.http_request.iter().map(|r| &r.action).collect();
    assert_eq!(
        actions,
        [
            &HttpRequestAction::WaitForBody(WaitForBody {
                time: std::time::Duration::from_millis(100),
                at_least: 0
            }),
            &HttpRequestAction::WaitForBody(WaitForBody {
                time: std::time::Duration::from_secs(1),
                at_least: 1024
            }),
        ]
    );
    assert!(f.rules.http_request[0].cond.is_some());
    let b = c.backend("b").unwrap();
    assert_eq!(
        b.rules.http_response[0].action,
        HttpResponseAction::WaitForBody(WaitForBody {
            time: std::time::Duration::from_millis(100),
            at_least: 1000
        })
    );
    for (rule, needle) in [
        ("wait-for-body", "expects 'time TIME"),
        ("wait-for-body at-least 10", "expects 'time TIME"),
        ("wait-for-body time soon", "'time': expected a time"),
        (
            "wait-for-body time 1s at-least lots",
            "'at-least': expected a size",
        ),
        ("wait-for-body time 1s forever", "unexpected 'forever'"),
    ] {
        err1_both(
            &format!("{DEFAULTS}backend b\n http-request {rule}\n server s 127.0.0.1:80\n"),
            7,
            "http-request wait-for-body",
            needle,
        );
    }
    // `status` is known to response rules only.
    err1(
        &format!("{DEFAULTS}backend b\n http-request deny if {{ status eq 200 }}\n server s 127.0.0.1:80\n"),
        7,
        "http-request deny",
        "'status' is a response fetch",
    );
}

#[test]
fn strict_mode_actions() {
    let c = ok_both(&format!(
        "{DEFAULTS}backend b\n http-request strict-mode off\n http-response strict-mode on if {{ status eq 200 }}\n \
         server s 127.0.0.1:80\n"
    ));
    let b = c.backend("b").unwrap();
    assert_eq!(
        b.rules.http_request[0].action,
        HttpRequestAction::StrictMode(false)
    );
    assert_eq!(
        b.rules.http_response[0].action,
        HttpResponseAction::StrictMode(true)
    );
    err1_both(
        &format!("{DEFAULTS}backend b\n http-request strict-mode maybe\n server s 127.0.0.1:80\n"),
        7,
        "http-request strict-mode",
        "expects 'on' or 'off'",
    );
}

#[test]
fn set_log_level_actions() {
    let c = ok_both(&format!(
        "{DEFAULTS}backend b\n http-request set-log-level err\n http-request set-log-level silent if {{ path /x }}\n \
         http-response set-log-level debug if {{ status eq 200 }}\n server s 127.0.0.1:80\n"
    ));
    let b = c.backend("b").unwrap();
    assert_eq!(
        b.rules.http_request[0].action,
        HttpRequestAction::SetLogLevel(Some(3))
    );
    assert_eq!(
        b.rules.http_request[1].action,
        HttpRequestAction::SetLogLevel(None)
    );
    assert_eq!(
        b.rules.http_response[0].action,
        HttpResponseAction::SetLogLevel(Some(7))
    );
    err1(
        &format!("{DEFAULTS}backend b\n http-request set-log-level loud\n server s 127.0.0.1:80\n"),
        7,
        "http-request set-log-level",
        "expects a log level (emerg, alert, crit, err, warning, notice, info, debug or silent), got 'loud'",
    );
    // In `tcp-request content` and `tcp-response content` rules too (not `tcp-request session`, as HAProxy).
    let c = ok_both(&format!(
        "{DEFAULTS}backend b\n mode tcp\n tcp-request content set-log-level notice if {{ src 10.0.0.1 }}\n \
         tcp-response content set-log-level silent\n server s 127.0.0.1:80\n"
    ));
    let b = c.backend("b").unwrap();
    assert_eq!(
        b.rules.tcp_content[0].action,
        fulcrum_config::haproxy::TcpContentAction::SetLogLevel(Some(5))
    );
    assert_eq!(
        b.rules.tcp_response[0].action,
        fulcrum_config::haproxy::TcpContentAction::SetLogLevel(None)
    );
    err_both(&format!(
        "{DEFAULTS}frontend f\n bind :8000\n tcp-request session set-log-level err\n"
    ));
    err1(
        &format!("{DEFAULTS}backend b\n tcp-request content set-log-level loud\n server s 127.0.0.1:80\n"),
        7,
        "tcp-request content",
        "got 'loud'",
    );
}

#[test]
fn http2_tunables_and_bind_proto() {
    let c = ok_both(
        "global\n tune.h2.max-concurrent-streams 50\n tune.h2.header-table-size 8192\n \
         tune.h2.initial-window-size 1048576\n tune.h2.max-frame-size 32768\n",
    );
    let t = c.global.tune_h2;
    assert_eq!(
        (
            t.max_concurrent_streams(),
            t.header_table_size(),
            t.initial_window_size(),
            t.max_frame_size()
        ),
        (50, 8192, 1_048_576, 32768)
    );
    let d = ok_both("global\n nbthread 1\n").global.tune_h2;
    assert_eq!(
        (
            d.max_concurrent_streams(),
            d.header_table_size(),
            d.initial_window_size(),
            d.max_frame_size()
        ),
        (100, 4096, 65535, 16384)
    );
    err1_both(
        "global\n tune.h2.max-frame-size 1000\n",
        2,
        "tune.h2.max-frame-size",
        "",
    );
    err1_both(
        "global\n tune.h2.header-table-size 70000\n",
        2,
        "tune.h2.header-table-size",
        "",
    );
    err1_both(
        "global\n tune.h2.max-concurrent-streams -1\n",
        2,
        "tune.h2.max-concurrent-streams",
        "",
    );
    let c = ok_both(&format!(
        "{DEFAULTS}frontend f\n bind 127.0.0.1:8080 proto h2\n bind 127.0.0.1:8081 proto h1\n \
         bind 127.0.0.1:8082\n default_backend b\nbackend b\n server s 127.0.0.1:80\n"
    ));
    let binds = &c.proxies.iter().find(|p| p.name == "f").unwrap().binds;
    assert_eq!(
        binds.iter().map(|b| b.proto).collect::<Vec<_>>(),
        [Some(BindProto::H2), Some(BindProto::H1), None]
    );
    err1(
        &format!("{DEFAULTS}frontend f\n bind 127.0.0.1:8080 proto h3\n"),
        7,
        "bind proto",
        "'h1', 'h2' or 'none'",
    );
    err1_both(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\nfrontend f\n bind 127.0.0.1:8080 proto h2\n default_backend b\nbackend b\n server s 127.0.0.1:80\n",
        7,
        "bind proto",
        "not usable in 'mode tcp'",
    );
}

#[test]
fn server_proto_h2_and_h1() {
    let c = ok_both(&format!(
        "{DEFAULTS}backend b\n default-server proto h2\n server s1 127.0.0.1:80\n \
         server s2 127.0.0.1:81 proto h1\n server s3 127.0.0.1:82 ssl verify none alpn h2,http/1.1\n\
         backend c\n server s 127.0.0.1:80\n"
    ));
    let protos: Vec<_> = c
        .backend("b")
        .unwrap()
        .servers
        .iter()
        .map(|s| s.proto)
        .collect();
    assert_eq!(
        protos,
        [
            Some(BindProto::H2),
            Some(BindProto::H1),
            Some(BindProto::H2)
        ]
    );
    assert_eq!(c.backend("c").unwrap().servers[0].proto, None);
    err1_both(
        &format!("{DEFAULTS}backend b\n server s 127.0.0.1:80 proto h3\n"),
        7,
        "server proto",
        "'proto' expects 'h1' or 'h2'",
    );
    err1_both(
        "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\nbackend b\n server s 127.0.0.1:80 proto h2\n",
        7,
        "server proto",
        "MUX protocol 'h2' is not usable for server 's'",
    );
}
