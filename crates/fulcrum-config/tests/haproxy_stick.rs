//! `stick-table` lines and the stick counter actions: what is accepted (checked with the real haproxy too) and
//! what is refused, with its line.

#[path = "haproxy_util.rs"]
mod util;

use fulcrum_config::haproxy::{HttpRequestAction, StickAction, TcpConnAction, TcpContentAction};
use fulcrum_stick::{DataType, KeyType};
use util::*;

const D: &str = DEFAULTS; // 5 lines

#[test]
fn stick_tables_parse() {
    let c = ok_both(&format!(
        "{D}frontend fe\n bind :18080\n stick-table type ip size 1m expire 30s store http_req_rate(10s),conn_cur,gpc0,gpc0_rate(1m)\n default_backend b\n\
         backend b\n stick-table type string len 8 size 10k nopurge srvkey addr store server_id\n\
         backend c\n stick-table type binary size 10\n\
         backend d\n stick-table type integer size 100 expire 1h\n\
         backend e\n stick-table type ipv6 size 1 store bytes_in_cnt,bytes_out_rate(1s)\n"
    ));
    let t = |n: &str| {
        c.proxies
            .iter()
            .find(|p| p.name == n)
            .and_then(|p| p.stick_table.clone())
            .unwrap()
    };
    let fe = t("fe");
    assert_eq!(fe.def.name, "fe");
    assert_eq!(fe.def.key_type, KeyType::Ip);
    assert_eq!(fe.def.size, 1024 * 1024);
    assert_eq!(fe.def.expire, Some(30_000));
    assert_eq!(
        fe.def.store,
        [
            (DataType::HttpReqRate, 10_000),
            (DataType::ConnCur, 0),
            (DataType::Gpc0, 0),
            (DataType::Gpc0Rate, 60_000)
        ]
    );
    let b = t("b");
    assert_eq!(b.def.key_type, KeyType::String(8));
    assert!(b.def.nopurge && b.srvkey_addr);
    assert_eq!(b.def.size, 10 * 1024);
    assert_eq!(t("c").def.key_type, KeyType::Binary(32));
    assert_eq!(t("d").def.key_type, KeyType::Integer);
    assert_eq!(t("e").def.key_type, KeyType::Ipv6);
}

#[test]
fn stick_table_errors() {
    let be = |l: &str| format!("{D}backend b\n {l}\n");
    for (line, needle) in [
        ("stick-table type ip", "missing size"),
        ("stick-table size 10", "missing type"),
        (
            "stick-table type ip size 10 store foo",
            "unknown store option 'foo'",
        ),
        ("stick-table type foo size 1", "unknown type 'foo'"),
        ("stick-table type string len 0 size 1", "unknown type '0'"),
        ("stick-table type ip size 1 expire 1x", "expire"),
        (
            "stick-table type ip size 1 store http_req_rate",
            "missing argument to store option 'http_req_rate'",
        ),
        (
            "stick-table type ip size 1 store gpc0(10s)",
            "unexpected argument to store option 'gpc0'",
        ),
    ] {
        err1_both(&be(line), 7, "stick-table", needle);
    }
    // the 2.6 arrays: their sizes, and no mixing with the single counters they replace (haproxy's messages)
    for (line, needle) in [
        (
            "stick-table type ip size 1 store gpc(0)",
            "array size is out of allowed range (1-100) for store option 'gpc'",
        ),
        (
            "stick-table type ip size 1 store gpt(101)",
            "array size is out of allowed range (1-100) for store option 'gpt'",
        ),
        (
            "stick-table type ip size 1 store gpc",
            "missing argument to store option 'gpc'",
        ),
        (
            "stick-table type ip size 1 store gpc_rate(2)",
            "missing argument to store option 'gpc_rate'",
        ),
        (
            "stick-table type ip size 1 store gpc(2),gpc1",
            "simultaneous usage of 'gpc' and 'gpc[0/1]'",
        ),
        (
            "stick-table type ip size 1 store gpt0,gpt(2)",
            "simultaneous usage of 'gpt' and 'gpt0'",
        ),
        (
            "stick-table type ip size 1 store gpc_rate(2,1s),gpc0_rate(1s)",
            "simultaneous usage of 'gpc_rate' and 'gpc[0/1]_rate'",
        ),
    ] {
        err1_both(&be(line), 7, "stick-table", needle);
    }
    // a peers section that does not exist (crates/fulcrum-config/tests/haproxy_peers.rs has the rest)
    err1_both(
        &be("stick-table type ip size 1 peers p"),
        7,
        "stick-table",
        "unable to find sync peers 'p'",
    );
    // Not in defaults, once per section
    err1_both(
        "defaults\n mode http\n stick-table type ip size 1\nbackend b\n",
        3,
        "stick-table",
        "not allowed in a 'defaults' section",
    );
    err1(
        &format!("{D}backend b\n stick-table type ip size 1\n stick-table type ip size 1\n"),
        8,
        "stick-table",
        "only one 'stick-table'",
    );
}

#[test]
fn track_and_counter_actions_parse() {
    let c = ok_both(&format!(
        "{D}frontend fe\n bind :18080\n stick-table type ip size 1k store gpc0,gpt0,conn_rate(10s)\n\
         tcp-request connection track-sc1 src\n\
         tcp-request connection reject if {{ sc1_conn_rate gt 10 }}\n\
         tcp-request session track-sc2 src table fe\n\
         tcp-request content track-sc0 src\n\
         http-request track-sc0 req.hdr(x-key) table fe if {{ path /a }}\n\
         http-request sc-inc-gpc0(0)\n\
         http-request sc-inc-gpc1(2)\n\
         http-request sc-set-gpt0(1) 12\n\
         http-request sc-set-gpt0(1) req.hdr_cnt(x)\n\
         http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt 100 }} || {{ src_conn_rate(fe) gt 50 }}\n\
         http-request deny if {{ src,in_table(fe) }} || {{ src,table_gpc0(fe) gt 3 }} || {{ table_avl lt 1 }}\n\
         default_backend b\nbackend b\n"
    ));
    let r = &c.proxies[0].rules;
    assert!(matches!(
        &r.tcp_connection[0].action,
        TcpConnAction::Stick(StickAction::Track {
            sc: 1,
            table: None,
            ..
        })
    ));
    assert!(matches!(
        &r.tcp_session[0].action,
        TcpContentAction::Var(HttpRequestAction::Stick(StickAction::Track { sc: 2, table: Some(t), .. })) if t == "fe"
    ));
    assert!(matches!(
        &r.tcp_content[0].action,
        TcpContentAction::Var(HttpRequestAction::Stick(StickAction::Track { sc: 0, .. }))
    ));
    let h: Vec<_> = r.http_request.iter().map(|r| &r.action).collect();
    assert!(matches!(
        h[0],
        HttpRequestAction::Stick(StickAction::Track {
            sc: 0,
            table: Some(_),
            ..
        })
    ));
    assert!(r.http_request[0].cond.is_some());
    assert!(matches!(
        h[1],
        HttpRequestAction::Stick(StickAction::IncGpc { sc: 0, which: 0 })
    ));
    assert!(matches!(
        h[2],
        HttpRequestAction::Stick(StickAction::IncGpc { sc: 2, which: 1 })
    ));
    assert!(matches!(
        h[3],
        HttpRequestAction::Stick(StickAction::SetGpt0 { sc: 1, .. })
    ));
    assert!(matches!(
        h[4],
        HttpRequestAction::Stick(StickAction::SetGpt0 { sc: 1, .. })
    ));
}

#[test]
fn track_action_errors() {
    let fe = |l: &str| {
        format!("{D}frontend fe\n bind :18080\n stick-table type ip size 1k\n {l}\n default_backend b\nbackend b\n")
    };
    for (line, kw, needle) in [
        (
            "http-request track-sc3 src",
            "http-request track-sc3",
            "must be 0, 1 or 2",
        ),
        (
            "http-request track-sc0",
            "http-request track-sc0",
            "expects a sample expression",
        ),
        (
            "http-request track-sc0 nope",
            "http-request track-sc0",
            "nope",
        ),
        (
            "http-request sc-inc-gpc0(4)",
            "http-request sc-inc-gpc0(4)",
            "stick counter number",
        ),
        (
            "tcp-request connection track-sc0 src table",
            "tcp-request connection",
            "expects a table name",
        ),
    ] {
        err1_both(&fe(line), 9, kw, needle);
    }
    // haproxy 2.6 takes a missing value; fulcrum wants one
    err1(
        &fe("http-request sc-set-gpt0(0)"),
        9,
        "http-request sc-set-gpt0(0)",
        "expects an integer",
    );
    // haproxy 2.6 takes counter 0 without parentheses
    let c = ok_both(&fe("http-request sc-inc-gpc1"));
    assert!(matches!(
        c.proxies[0].rules.http_request[0].action,
        HttpRequestAction::Stick(StickAction::IncGpc { sc: 0, which: 1 })
    ));
}

#[test]
fn stick_rules_parse_and_refuse() {
    let c = ok_both(&format!(
        "{D}backend b\n stick-table type ip size 1k\n stick on src\n stick match req.hdr(x-u) table b if {{ path /a }}\n stick store-request src table b\n"
    ));
    let s = &c.proxies[0].rules.stick;
    assert_eq!(s.len(), 3);
    assert!(s[0].action.matches && s[0].action.stores && s[0].action.table.is_none());
    assert!(s[1].action.matches && !s[1].action.stores && s[1].cond.is_some());
    assert!(!s[2].action.matches && s[2].action.stores);
    let be = |l: &str| format!("{D}backend b\n stick-table type ip size 1k\n {l}\n");
    err1_both(&be("stick foo src"), 8, "stick", "expects 'on', 'match'");
    err1_both(
        &be("stick on"),
        8,
        "stick on",
        "expects a sample expression",
    );
    // `store-response` reads the response; the other rules cannot.
    let c = ok_both(&be("stick store-response res.hdr(x)"));
    assert!(c.backend("b").unwrap().rules.stick[0].action.response);
    err1(
        &be("stick on res.hdr(x)"),
        8,
        "stick on",
        "reads the response",
    );
    // Refused as haproxy 2.6 refuses it.
    err1(
        &format!("{D}backend b\n appsession JSESSIONID len 52 timeout 3h\n"),
        7,
        "appsession",
        "'appsession' is not supported anymore since HAProxy 1.6.",
    );
    // haproxy 2.6 warns and ignores it; fulcrum refuses
    err1(
        &format!("{D}frontend f\n bind :18080\n stick on src\n"),
        8,
        "stick",
        "not allowed in a 'frontend' section",
    );
    // `mode tcp`: request-side rules on the connection (`stick on src`, the payload), `store-response` on the
    // server's first bytes; HTTP fetches refused.
    let c = ok_both(&format!(
        "{D}listen l\n mode tcp\n bind :18080\n stick-table type ip size 1k\n stick on src\n stick match src if {{ req.len ge 4 }}\n server s 127.0.0.1:1\n"
    ));
    assert_eq!(c.backend("l").unwrap().rules.stick.len(), 2);
    err1(
        &format!("{D}listen l\n mode tcp\n bind :18080\n stick-table type ip size 1k\n stick on req.hdr(x)\n server s 127.0.0.1:1\n"),
        10,
        "stick on",
        "sample fetch 'req.hdr' reads HTTP data",
    );
    let c = ok_both(&format!(
        "{D}listen l\n mode tcp\n bind :18080\n stick-table type binary len 32 size 1k\n acl serverhello rep_ssl_hello_type 2\n stick store-response payload_lv(43,1) if serverhello\n server s 127.0.0.1:1\n"
    ));
    assert!(c.backend("l").unwrap().rules.stick[0].action.response);
}

#[test]
fn gpc_and_gpt_arrays_parse() {
    let c = ok_both(&format!(
        "{D}frontend fe\n bind :18080\n stick-table type ip size 1k store gpc(3),gpc_rate(2,10s),gpt(100),http_req_rate(1s)\n\
         http-request track-sc1 src\n\
         http-request sc-inc-gpc(2,1)\n\
         http-request sc-set-gpt(99,1) 12\n\
         http-request sc-set-gpt(0,1) req.hdr_cnt(x)\n\
         http-request deny if {{ sc_get_gpc(2,1) gt 3 }} || {{ sc_gpc_rate(1,1,fe) gt 3 }} || {{ src_get_gpt(0,fe) gt 1 }} || {{ src,table_gpc(1,fe) gt 3 }} || {{ sc_inc_gpc(0,1) gt 9 }} || {{ src_clr_gpc(1,fe) gt 9 }}\n\
         default_backend b\nbackend b\n stick-table type ip size 1 store gpc(2),gpc0_rate(1s)\n"
    ));
    let p = &c.proxies[0];
    let def = &p.stick_table.as_ref().unwrap().def;
    assert_eq!(
        def.store,
        [
            (DataType::Gpc, 0),
            (DataType::GpcRate, 10_000),
            (DataType::Gpt, 0),
            (DataType::HttpReqRate, 1000)
        ]
    );
    assert_eq!(
        def.elements,
        [
            (DataType::Gpc, 3),
            (DataType::GpcRate, 2),
            (DataType::Gpt, 100)
        ]
    );
    let h: Vec<_> = p.rules.http_request.iter().map(|r| &r.action).collect();
    assert!(matches!(
        h[1],
        HttpRequestAction::Stick(StickAction::IncGpcAt { idx: 2, sc: 1 })
    ));
    assert!(matches!(
        h[2],
        HttpRequestAction::Stick(StickAction::SetGptAt { idx: 99, sc: 1, .. })
    ));
    // an index or a counter out of range, with its line; `src_*` without the table, as haproxy 2.6.12
    for bad in [
        "sc-inc-gpc(100,0)",
        "sc-inc-gpc(1)",
        "sc-set-gpt(1,3) 5",
        "deny if { src_get_gpc(0) gt 1 }",
        "deny if { sc0_get_gpc(0) gt 1 }",
    ] {
        let e = errs(&format!(
            "{D}frontend fe\n bind :18080\n stick-table type ip size 1k store gpc(3),gpt(2)\n http-request {bad}\n"
        ));
        assert_eq!(e[0].0, 9, "{bad}: {e:?}");
    }
}
