//! Health check options: `option smtpchk`, `redis-check`, `pgsql-check`, `mysql-check`, `ldap-check`,
//! `spop-check`, and the `agent-*` server options. Valid and invalid forms are compared with the real haproxy
//! when it is installed.

#[path = "haproxy_util.rs"]
mod util;

use std::time::Duration;

use fulcrum_config::haproxy::{AgentCheck, Config, ProtocolCheck, Proxy};
use util::*;

const D: &str = DEFAULTS; // 5 lines

fn backend<'a>(c: &'a Config, name: &str) -> &'a Proxy {
    c.proxies.iter().find(|p| p.name == name).expect("backend")
}

/// The check of a backend holding `lines`.
fn check_of(lines: &str) -> Option<ProtocolCheck> {
    let c = ok_both(&format!(
        "{D}backend b\n{lines}\n server s 127.0.0.1:1 check\n"
    ));
    backend(&c, "b").protocol_check.clone()
}

fn smtp(verb: &str, domain: &str) -> Option<ProtocolCheck> {
    Some(ProtocolCheck::Smtp {
        verb: verb.into(),
        domain: domain.into(),
    })
}

#[test]
fn protocol_check_options() {
    assert_eq!(check_of(" option smtpchk"), smtp("HELO", "localhost"));
    assert_eq!(
        check_of(" option smtpchk EHLO domain.tld"),
        smtp("EHLO", "domain.tld")
    );
    // HAProxy sends its default for another command, or a command without a domain.
    assert_eq!(
        check_of(" option smtpchk FOO bar.org"),
        smtp("HELO", "localhost")
    );
    assert_eq!(check_of(" option smtpchk EHLO"), smtp("HELO", "localhost"));
    assert_eq!(check_of(" option redis-check"), Some(ProtocolCheck::Redis));
    assert_eq!(
        check_of(" option pgsql-check user postgres"),
        Some(ProtocolCheck::Pgsql {
            user: "postgres".into()
        })
    );
    assert_eq!(
        check_of(" option mysql-check"),
        Some(ProtocolCheck::Mysql {
            user: None,
            pre41: false
        })
    );
    assert_eq!(
        check_of(" option mysql-check user u pre-41"),
        Some(ProtocolCheck::Mysql {
            user: Some("u".into()),
            pre41: true
        })
    );
    assert_eq!(
        check_of(" option mysql-check user u post-41"),
        Some(ProtocolCheck::Mysql {
            user: Some("u".into()),
            pre41: false
        })
    );
    assert_eq!(check_of(" option ldap-check"), Some(ProtocolCheck::Ldap));
    assert_eq!(check_of(" option spop-check"), Some(ProtocolCheck::Spop));
}

#[test]
fn the_last_check_option_wins() {
    let c = ok_both(&format!(
        "{D} option redis-check\nbackend a\n server s 127.0.0.1:1 check\nbackend b\n option httpchk\n server s 127.0.0.1:1 check\nbackend c\n option httpchk\n option ldap-check\n server s 127.0.0.1:1 check\n"
    ));
    assert_eq!(backend(&c, "a").protocol_check, Some(ProtocolCheck::Redis));
    assert_eq!(backend(&c, "b").protocol_check, None);
    assert!(backend(&c, "b").httpchk.is_some());
    assert_eq!(backend(&c, "c").protocol_check, Some(ProtocolCheck::Ldap));
    assert_eq!(backend(&c, "c").httpchk, None);
}

#[test]
fn protocol_check_errors() {
    let b = |l: &str| format!("{D}backend b\n {l}\n server s 127.0.0.1:1 check\n");
    err1_both(
        &b("option redis-check foo"),
        7,
        "option redis-check",
        "cannot handle unexpected argument 'foo'",
    );
    err1_both(
        &b("option smtpchk EHLO a b"),
        7,
        "option smtpchk",
        "cannot handle unexpected argument 'b'",
    );
    err1_both(
        &b("option pgsql-check"),
        7,
        "option pgsql-check",
        "expects 'user <username>' as argument",
    );
    err1_both(
        &b("option pgsql-check user"),
        7,
        "option pgsql-check",
        "expects 'user <username>' as argument",
    );
    err1_both(
        &b("option pgsql-check foo bar"),
        7,
        "option pgsql-check",
        "only supports optional values: 'user'",
    );
    err1_both(
        &b("option mysql-check user"),
        7,
        "option mysql-check",
        "expects <username> as argument",
    );
    err1_both(
        &b("option mysql-check user a foo"),
        7,
        "option mysql-check",
        "only supports 'post-41' and 'pre-41' (got 'foo')",
    );
    err1_both(
        &b("option mysql-check foo"),
        7,
        "option mysql-check",
        "only supports optional values: 'user' (got 'foo')",
    );
    err1_both(
        &b("option spop-check x"),
        7,
        "option spop-check",
        "cannot handle unexpected argument 'x'",
    );
    err1_both(
        &b("no option ldap-check"),
        7,
        "no option ldap-check",
        "cannot be negated",
    );
    // fulcrum is stricter than HAProxy here: nothing may break the SMTP line.
    err1(
        &b("option smtpchk HELO \"a b\""),
        7,
        "option smtpchk",
        "invalid domain",
    );
}

#[test]
fn agent_options() {
    let c = ok_both(&format!(
        "{D}backend b\n default-server agent-inter 100ms\n server s 127.0.0.1:80 weight 100 agent-check agent-addr 127.0.0.2 agent-port 5555 agent-send \"pouet\\n\"\n server t 127.0.0.1:81 agent-check agent-port 1 no-agent-check\n server u 127.0.0.1:82 agent-port 1\n"
    ));
    let b = backend(&c, "b");
    assert_eq!(
        b.servers[0].agent,
        Some(AgentCheck {
            addr: Some("127.0.0.2".parse().unwrap()),
            port: 5555,
            send: Some("pouet\n".into()),
            inter: Duration::from_millis(100),
        })
    );
    assert_eq!(b.servers[1].agent, None);
    assert_eq!(b.servers[2].agent, None);
    let two = ok(&format!(
        "{D}backend b\n server s 127.0.0.1:80 agent-check agent-port 2\n"
    ));
    assert_eq!(
        backend(&two, "b").servers[0].agent.as_ref().unwrap().inter,
        Duration::from_secs(2)
    );
}

#[test]
fn agent_errors() {
    let b = |l: &str| format!("{D}backend b\n server s 127.0.0.1:80 {l}\n");
    err1_both(
        &b("agent-check"),
        7,
        "server agent-check",
        "does not have agent port",
    );
    err1_both(
        &b("agent-port 1 agent-send \"\""),
        7,
        "server agent-send",
        "expects a string as argument",
    );
    // A host name is resolved when the configuration is read; one that does not resolve is an error, as
    // with haproxy -c.
    err1_both(
        &b("agent-check agent-port 1 agent-addr nosuchhost.invalid"),
        7,
        "server agent-addr",
        "could not resolve agent-addr 'nosuchhost.invalid'",
    );
    let c = ok_both(&b("agent-check agent-port 1 agent-addr localhost"));
    let ip = backend(&c, "b").servers[0]
        .agent
        .as_ref()
        .and_then(|a| a.addr)
        .expect("resolved");
    assert!(ip.is_loopback(), "{ip}");
    err1(&b("agent-port 0"), 7, "server agent-port", "");
}

#[test]
fn observe_options() {
    use fulcrum_config::haproxy::{Observe, ObserveLayer, OnError};
    let c = ok_both(&format!(
        "{D}backend b\n default-server observe layer7 error-limit 5\n server s 127.0.0.1:80 check on-error sudden-death on-marked-down shutdown-sessions\n server t 127.0.0.1:81 observe none on-marked-up shutdown-backup-sessions\n server u 127.0.0.1:82 observe layer4 on-error mark-down\n server v 127.0.0.1:83 on-error fastinter\n"
    ));
    let s = &backend(&c, "b").servers;
    assert_eq!(
        s[0].observe,
        Observe {
            layer: Some(ObserveLayer::Layer7),
            error_limit: 5,
            on_error: OnError::SuddenDeath
        }
    );
    assert!(s[0].shutdown_on_down && !s[0].shutdown_backups_on_up);
    assert_eq!(s[1].observe.layer, None);
    assert!(s[1].shutdown_backups_on_up && !s[1].shutdown_on_down);
    assert_eq!(s[2].observe.layer, Some(ObserveLayer::Layer4));
    assert_eq!(s[2].observe.on_error, OnError::MarkDown);
    assert_eq!(s[3].observe.on_error, OnError::FastInter);
    // The defaults: not observed, 10 errors, fail-check.
    let c = ok_both(&format!("{D}backend b\n server s 127.0.0.1:80\n"));
    assert_eq!(backend(&c, "b").servers[0].observe, Observe::default());
    assert_eq!(Observe::default().error_limit, 10);
    assert_eq!(Observe::default().on_error, OnError::FailCheck);
}

#[test]
fn observe_errors() {
    let b = |l: &str| format!("{D}backend b\n server s 127.0.0.1:80 {l}\n");
    err1_both(
        &b("observe foo"),
        7,
        "server observe",
        "expects one of 'none', 'layer4', 'layer7' but got 'foo'",
    );
    err1_both(
        &b("error-limit 0"),
        7,
        "server error-limit",
        "greater than 0",
    );
    err1_both(
        &b("error-limit abc"),
        7,
        "server error-limit",
        "greater than 0",
    );
    err1_both(
        &b("on-error foo"),
        7,
        "server on-error",
        "'fastinter', 'fail-check', 'sudden-death' or 'mark-down'",
    );
    err1_both(
        &b("on-marked-down foo"),
        7,
        "server on-marked-down",
        "expects 'shutdown-sessions'",
    );
    err1_both(
        &b("on-marked-up shutdown-sessions"),
        7,
        "server on-marked-up",
        "expects 'shutdown-backup-sessions'",
    );
    // Layer 7 needs an HTTP proxy: HAProxy warns and the traffic is not watched.
    let c = ok_both(&format!(
        "{D}backend b\n mode tcp\n server s 127.0.0.1:80 observe layer7\n"
    ));
    assert_eq!(backend(&c, "b").servers[0].observe.layer, None);
    assert!(c.warnings[0]
        .to_string()
        .contains("'layer7' can only be used in http proxies"));
}

/// The `tcp-check` rules of a backend holding `lines` after `option tcp-check`.
fn tcp_rules_of(lines: &str) -> Vec<fulcrum_config::haproxy::TcpCheckRule> {
    let c = ok_both(&format!(
        "{D}backend b\n mode tcp\n option tcp-check\n{lines}\n server s 127.0.0.1:1 check\n"
    ));
    backend(&c, "b")
        .tcp_check
        .clone()
        .expect("option tcp-check")
}

#[test]
fn tcp_check_rules() {
    use fulcrum_config::haproxy::{TcpCheckAction as A, TcpCheckConnect, TcpCheckExpect};
    let rules = tcp_rules_of(
        " tcp-check comment \"redis\"\n tcp-check connect port 6379 addr 127.0.0.2 send-proxy linger comment c1\n tcp-check send PING\\r\\n\n tcp-check send-binary 50494e47 comment bin\n tcp-check expect min-recv 5 !rstring ^-ERR comment neg ok-status L6OK error-status L7STS tout-status L4TOUT on-success yes on-error no\n tcp-check expect binary 2b504f4e47",
    );
    assert_eq!(rules.len(), 6);
    assert_eq!(
        (rules[0].action.clone(), rules[0].comment.as_deref()),
        (A::Comment, Some("redis"))
    );
    assert_eq!(
        rules[1].action,
        A::Connect(TcpCheckConnect {
            port: Some(6379),
            addr: Some("127.0.0.2".parse().unwrap()),
            send_proxy: true,
            default: false,
            linger: true,
            ..TcpCheckConnect::default()
        })
    );
    assert_eq!(rules[1].comment.as_deref(), Some("c1"));
    assert_eq!(rules[2].action, A::Send(b"PING\r\n".to_vec()));
    assert_eq!(rules[3].action, A::Send(b"PING".to_vec()));
    assert_eq!(
        rules[4].action,
        A::Expect(TcpCheckExpect {
            inverse: true,
            kind: "rstring".into(),
            pattern: "^-ERR".into(),
            min_recv: Some(5),
            ok_status: Some("L6OK".into()),
            error_status: Some("L7STS".into()),
            tout_status: Some("L4TOUT".into()),
            on_success: Some("yes".into()),
            on_error: Some("no".into()),
            status_code: None,
        })
    );
    assert_eq!(rules[4].comment.as_deref(), Some("neg"));
    // Without rules, `option tcp-check` is a plain connection check.
    assert!(tcp_rules_of("").is_empty());
    // Rules in defaults are inherited by a backend without its own, replaced by a backend's own.
    let c = ok_both(&format!(
        "{D} option tcp-check\n tcp-check send x\nbackend a\n mode tcp\n server s 127.0.0.1:1 check\nbackend b\n mode tcp\n tcp-check send y\n server s 127.0.0.1:1 check\n"
    ));
    assert_eq!(
        backend(&c, "a").tcp_check.as_deref().unwrap()[0].action,
        A::Send(b"x".to_vec())
    );
    let b = backend(&c, "b").tcp_check.clone().unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].action, A::Send(b"y".to_vec()));
    // The last check option wins.
    let c = ok_both(&format!(
        "{D}backend b\n option tcp-check\n option httpchk\n server s 127.0.0.1:1 check\nbackend c\n option httpchk\n option tcp-check\n server s 127.0.0.1:1 check\n"
    ));
    assert!(backend(&c, "b").tcp_check.is_none() && backend(&c, "b").httpchk.is_some());
    assert!(backend(&c, "c").tcp_check.is_some() && backend(&c, "c").httpchk.is_none());
}

#[test]
fn tcp_check_errors() {
    let b =
        |l: &str| format!("{D}backend b\n option tcp-check\n {l}\n server s 127.0.0.1:1 check\n");
    err1_both(
        &b("tcp-check send x\n tcp-check connect port 80"),
        9,
        "tcp-check connect",
        "first step MUST also be a 'connect'",
    );
    err1_both(&b("tcp-check bogus"), 8, "tcp-check", "but got 'bogus'");
    // Conditions on a check variable, as HAProxy; unknown ones and conditions on `unset-var` refused.
    ok_both(&b("tcp-check set-var(check.x,ifnotset,ifgt) int(1)\n tcp-check set-var-fmt(check.y,ifexists) \"a\""));
    err1(
        &b("tcp-check set-var(check.x,ifmaybe) int(1)"),
        8,
        "tcp-check set-var(check.x,ifmaybe)",
        "unknown condition 'ifmaybe'",
    );
    // A TCP check takes no HTTP multiplexer; `proto none` is accepted.
    err1_both(
        &b("tcp-check connect proto h2"),
        8,
        "tcp-check connect",
        "'proto' : invalid MUX protocol 'h2' for tcp-check.",
    );
    ok_both(&b("tcp-check connect proto none"));
    err1_both(
        &b("tcp-check expect foo bar"),
        8,
        "tcp-check expect",
        "but got 'foo' as argument",
    );
    err1_both(
        &b("tcp-check expect string"),
        8,
        "tcp-check expect",
        "'string' expects a <pattern> as argument.",
    );
    err1_both(
        &b("tcp-check send"),
        8,
        "tcp-check send",
        "expects a send as argument",
    );
    err1_both(
        &b("tcp-check connect port 0"),
        8,
        "tcp-check connect",
        "expects a valid TCP port (from range 1 to 65535)",
    );
    err1_both(
        &b("tcp-check connect foo"),
        8,
        "tcp-check connect",
        "but got 'foo' as argument",
    );
    err1_both(
        &b("tcp-check expect string a ok-status L7XX"),
        8,
        "tcp-check expect",
        "'ok-status' only supports 'L4OK', 'L6OK', 'L7OK' or 'L7OKC' status (got 'L7XX')",
    );
    err1_both(
        &b("tcp-check comment"),
        8,
        "tcp-check comment",
        "expects a string as argument",
    );
    err1_both(
        &b("tcp-check expect rstring ("),
        8,
        "tcp-check expect",
        "does not compile",
    );
    err1_both(
        &b("tcp-check send-binary 5"),
        8,
        "tcp-check send-binary",
        "not a valid hexadecimal",
    );
    // Formats and expressions that do not compile are refused, as HAProxy refuses them.
    for (line, needle) in [
        (
            "tcp-check expect string x on-success %[nosuchfetch]",
            "'on-success': '%[nosuchfetch]'",
        ),
        (
            "tcp-check expect status-code nosuchfetch string x",
            "'status-code': 'nosuchfetch'",
        ),
        (
            "tcp-check expect string x status-code",
            "expects an expression",
        ),
    ] {
        let text = b(line);
        err1(&text, 8, "tcp-check expect", needle);
        if let Some((valid, out)) = haproxy_check(&text) {
            assert!(!valid, "haproxy accepts {line}: {out}");
        }
    }
}

#[test]
fn http_check_expect_forms() {
    use fulcrum_config::haproxy::{HttpExpect, HttpExpectOptions};
    let of = |line: &str| {
        let c = ok_both(&format!(
            "{D}backend b\n option httpchk\n http-check expect {line}\n server s 127.0.0.1:1 check\n"
        ));
        let b = backend(&c, "b");
        let (e, o) = b.http_expects()[0];
        (e.clone(), o.clone())
    };
    assert_eq!(
        of("status 200-399,404").0,
        HttpExpect::Statuses(vec![(200, 399), (404, 404)])
    );
    assert_eq!(of("rstring hel+o").0, HttpExpect::RString("hel+o".into()));
    use fulcrum_config::haproxy::TcpCheckAction as A;
    let (e, o) = of(
        "! status 200 comment foo ok-status L6OK error-status L7RSP on-success good on-error bad",
    );
    assert_eq!(e, HttpExpect::Status(200));
    assert_eq!(
        o,
        HttpExpectOptions {
            inverse: true,
            comment: Some("foo".into()),
            ok_status: Some("L6OK".into()),
            error_status: Some("L7RSP".into()),
            on_success: Some("good".into()),
            on_error: Some("bad".into()),
            status_code: None,
            min_recv: None,
            tout_status: None,
        }
    );
    assert_eq!(
        of("status 200 ok-status L7OKC").1.ok_status.as_deref(),
        Some("L7OKC")
    );
    let t = tcp_rules_of(" tcp-check expect string COND ok-status L7OKC");
    let A::Expect(x) = &t[0].action else {
        panic!("{t:?}")
    };
    assert_eq!(x.ok_status.as_deref(), Some("L7OKC"));
    let (e, o) = of("min-recv 20 tout-status L6TOUT string-lf \"%[srv_name]\"");
    assert_eq!(e, HttpExpect::StringLf("%[srv_name]".into()));
    assert_eq!(
        (o.min_recv, o.tout_status.as_deref()),
        (Some(20), Some("L6TOUT"))
    );
    // Log-format texts and a status-code expression are kept for the check to evaluate.
    let (_, o) = of("status 200 on-success \"%[srv_name] ok\" status-code int(299)");
    assert_eq!(o.on_success.as_deref(), Some("%[srv_name] ok"));
    assert_eq!(
        o.status_code.as_ref().map(|e| e.0.source().to_owned()),
        Some("int(299)".to_owned())
    );
    assert!(of("!rstatus ^2").1.inverse);
}

#[test]
fn http_check_expect_header_forms() {
    use fulcrum_config::haproxy::{HeaderExpect, HeaderMatchMethod as M, HttpExpect};
    let text = |line: &str| {
        format!("{D}backend b\n option httpchk\n http-check expect {line}\n server s 127.0.0.1:1 check\n")
    };
    let of = |line: &str| {
        backend(&ok_both(&text(line)), "b").http_expects()[0]
            .0
            .clone()
    };
    let hdr = |full, name: (M, &str), value: Option<(M, &str)>| {
        HttpExpect::Header(HeaderExpect {
            full,
            name: (name.0, name.1.into()),
            value: value.map(|(m, v)| (m, v.into())),
            name_lf: false,
            value_lf: false,
        })
    };
    assert_eq!(
        of("hdr name x-test1"),
        hdr(false, (M::Str, "x-test1"), None)
    );
    assert_eq!(
        of("hdr name -m beg X-Begin-"),
        hdr(false, (M::Beg, "X-Begin-"), None)
    );
    assert_eq!(
        of("fhdr name x-test1 value \"true, next value\""),
        hdr(
            true,
            (M::Str, "x-test1"),
            Some((M::Str, "true, next value"))
        )
    );
    assert_eq!(
        of("hdr name -m end -End value -m reg ^value-reg-[A-Z0-9]+$"),
        hdr(
            false,
            (M::End, "-End"),
            Some((M::Reg, "^value-reg-[A-Z0-9]+$"))
        )
    );
    assert_eq!(
        of("! hdr name -m sub -Sub- value -m sub x comment c"),
        hdr(false, (M::Sub, "-Sub-"), Some((M::Sub, "x")))
    );
    // Several rules, in order; a section's own rules replace the defaults' ones.
    let c = ok_both(&format!(
        "{D} option httpchk\n http-check expect status 201\n http-check expect string x\n\
         backend a\n server s 127.0.0.1:1 check\n\
         backend b\n http-check expect status 200\n http-check expect hdr name h\n http-check expect ! string x\n server s 127.0.0.1:1 check\n"
    ));
    let a = backend(&c, "a");
    assert_eq!(a.http_expects()[0].0, &HttpExpect::Status(201));
    assert_eq!(a.http_expects().len(), 2);
    let b = backend(&c, "b");
    assert_eq!(b.http_expects()[0].0, &HttpExpect::Status(200));
    let more: Vec<_> = b.http_expects()[1..]
        .iter()
        .map(|(e, o)| ((*e).clone(), o.inverse))
        .collect();
    assert_eq!(
        more,
        vec![
            (hdr(false, (M::Str, "h"), None), false),
            (HttpExpect::String("x".into()), true)
        ]
    );
    // Malformed forms are refused by both.
    for (line, needle) in [
        ("hdr value x", "expects 'name"),
        ("hdr name", "'name' expects a pattern"),
        ("hdr name -m foo x", "'name -m' expects"),
        ("hdr name -m reg (", "does not compile"),
    ] {
        err1_both(&text(line), 8, "http-check expect", needle);
    }
    // Log-format names and values.
    let lf = backend(
        &ok_both(&text(
            "hdr name-lf %[var(check.h)] value-lf -m beg x%[srv_name]",
        )),
        "b",
    )
    .http_expects()[0]
        .0
        .clone();
    assert_eq!(
        lf,
        HttpExpect::Header(HeaderExpect {
            full: false,
            name: (M::Str, "%[var(check.h)]".into()),
            value: Some((M::Beg, "x%[srv_name]".into())),
            name_lf: true,
            value_lf: true,
        })
    );
    err1(
        &text("hdr name-lf %[nope()]"),
        8,
        "http-check expect",
        "nope",
    );
}

#[test]
fn http_check_rulesets() {
    use fulcrum_config::haproxy::{BindProto, CheckVarValue, HttpCheckAction as A};
    // The rules of checks/http-check.vtc's be4, in order: connections, variables, requests, expects.
    let c = ok_both(&format!(
        "{D}backend b\n option httpchk\n http-check send-state\n\
         http-check connect addr 127.0.0.1 port 8081\n\
         http-check set-var(check.path) \"str(/req1)\"\n\
         http-check send meth GET uri-lf \"%[var(check.path)]\" ver HTTP/1.1 hdr x-test \"server=%[srv_name]\"\n\
         http-check expect status 200\n\
         http-check connect port 8082 comment second\n\
         http-check unset-var(check.path)\n\
         http-check set-var-fmt(check.x) \"a-%[be_name]\"\n\
         http-check send meth GET uri-lf \"%[var(check.path)]\" body-lf \"on %[be_name]-%[srv_name]\"\n\
         http-check comment done\n\
         server s 127.0.0.1:1 check\n"
    ));
    let b = backend(&c, "b");
    let kinds: Vec<&str> = b
        .http_check
        .iter()
        .map(|r| match &r.action {
            A::Connect(_) => "connect",
            A::SetVar(_, CheckVarValue::Expr(_), _) => "set-var",
            A::SetVar(_, CheckVarValue::Format(_), _) => "set-var-fmt",
            A::UnsetVar(_) => "unset-var",
            A::Send(_) => "send",
            A::Expect(..) => "expect",
            A::Comment => "comment",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "connect",
            "set-var",
            "send",
            "expect",
            "connect",
            "unset-var",
            "set-var-fmt",
            "send",
            "comment"
        ]
    );
    let A::Connect(c2) = &b.http_check[4].action else {
        panic!("not a connect")
    };
    assert_eq!(
        (c2.port, b.http_check[4].comment.as_deref()),
        (Some(8082), Some("second"))
    );
    let A::Connect(c1) = &b.http_check[0].action else {
        panic!("not a connect")
    };
    assert_eq!((c1.addr, c1.port), ("127.0.0.1".parse().ok(), Some(8081)));
    // `addr IP:PORT` carries the port too (checks/http-check.vtc writes it so).
    let c = ok_both(&format!(
        "{D}backend b\n option httpchk\n http-check connect addr 127.0.0.2:8083\n server s 127.0.0.1:1 check\n"
    ));
    let A::Connect(c3) = &backend(&c, "b").http_check[0].action else {
        panic!("not a connect")
    };
    assert_eq!((c3.addr, c3.port), ("127.0.0.2".parse().ok(), Some(8083)));
    // `proto h1|h2`: the HTTP version of the connection's requests.
    for (p, want) in [("h2", BindProto::H2), ("h1", BindProto::H1)] {
        let c = ok_both(&format!(
            "{D}backend b\n option httpchk\n http-check connect proto {p}\n server s 127.0.0.1:1 check\n"
        ));
        let A::Connect(c4) = &backend(&c, "b").http_check[0].action else {
            panic!("not a connect")
        };
        assert_eq!(c4.proto, Some(want));
    }
    let hb =
        |l: &str| format!("{D}backend b\n option httpchk\n {l}\n server s 127.0.0.1:1 check\n");
    err1_both(
        &hb("http-check connect proto none"),
        8,
        "http-check connect",
        "'proto' : invalid MUX protocol 'none' for http-check.",
    );
    err1_both(
        &hb("http-check connect proto bogus"),
        8,
        "http-check connect",
        "'proto' : unknown MUX protocol 'bogus'.",
    );
    // FastCGI: HAProxy has it, fulcrum not yet.
    err1(
        &hb("http-check connect proto fcgi"),
        8,
        "http-check connect",
        "'proto fcgi' is supported by HAProxy, not yet by fulcrum",
    );
    // The first request is merged with `option httpchk`'s; the second has HAProxy's defaults for the rest.
    let A::Send(first) = &b.http_check[2].action else {
        panic!("not a send")
    };
    assert_eq!(
        (
            first.method.as_str(),
            first.uri.as_str(),
            first.version.as_str(),
            first.uri_lf,
            first.headers_lf
        ),
        ("GET", "%[var(check.path)]", "HTTP/1.1", true, true)
    );
    assert_eq!(b.httpchk.as_ref(), Some(first));
    let A::Send(second) = &b.http_check[7].action else {
        panic!("not a send")
    };
    assert_eq!(
        (
            second.version.as_str(),
            second.body.as_deref(),
            second.body_lf
        ),
        ("HTTP/1.0", Some("on %[be_name]-%[srv_name]"), true)
    );
    // Refusals: a second request on the same connection, a connect that does not come first, other scopes.
    let bad = |rules: &str| {
        format!("{D}backend b\n option httpchk\n{rules} server s 127.0.0.1:1 check\n")
    };
    err1(
        &bad(" http-check send meth GET\n http-check send meth HEAD\n"),
        9,
        "http-check send",
        "missing connect rule",
    );
    err1_both(
        &bad(" http-check expect status 200\n http-check connect\n"),
        9,
        "http-check connect",
        "first step MUST also be a 'connect'",
    );
    err1(
        &bad(" http-check set-var(txn.x) str(a)\n"),
        8,
        "http-check set-var(txn.x)",
        "only 'check.' variables",
    );
    err1(
        &bad(" http-check set-var(check.x) nope()\n"),
        8,
        "http-check set-var(check.x)",
        "nope",
    );
    // tcp-check takes the same variables.
    let c = ok_both(&format!(
        "{D}backend t\n option tcp-check\n tcp-check set-var(check.x) int(1)\n tcp-check connect\n\
         tcp-check unset-var(check.x)\n tcp-check expect string +OK\n server s 127.0.0.1:1 check\n"
    ));
    assert_eq!(backend(&c, "t").tcp_check.as_ref().map(Vec::len), Some(4));
    // `send-lf` and `send-binary-lf` formats are compiled when the configuration loads.
    let c = ok_both(&format!(
        "{D}backend t\n option tcp-check\n tcp-check send-lf \"PING %[srv_name]\\r\\n\"\n\
         tcp-check send-binary-lf 50%[str(49)] comment c\n server s 127.0.0.1:1 check\n"
    ));
    let rules = backend(&c, "t").tcp_check.clone().unwrap();
    assert!(matches!(
        &rules[0].action,
        fulcrum_config::haproxy::TcpCheckAction::SendLf { binary: false, .. }
    ));
    assert!(matches!(
        &rules[1].action,
        fulcrum_config::haproxy::TcpCheckAction::SendLf { binary: true, .. }
    ));
    assert_eq!(rules[1].comment.as_deref(), Some("c"));
    err1(
        &format!("{D}backend t\n option tcp-check\n tcp-check send-lf %[nope()]\n server s 127.0.0.1:1 check\n"),
        8,
        "tcp-check send-lf",
        "nope",
    );
}

#[test]
fn tls_check_connections() {
    use fulcrum_config::haproxy::TcpCheckAction;
    // checks/tcp-check-ssl.vtc's forms: `connect ssl sni`, `connect ssl alpn`, `check-alpn`.
    let c = ok_both(&format!(
        "{D}backend b\n option tcp-check\n tcp-check connect ssl sni connect.haproxy.org alpn h2,http/1.1\n\
         server s 127.0.0.1:1 check verify none\n\
         backend a\n server s 127.0.0.1:1 check check-ssl check-alpn h2,http/1.1 verify none\n\
         backend p\n server s 127.0.0.1:1 check\n"
    ));
    let b = backend(&c, "b");
    let Some(TcpCheckAction::Connect(conn)) = b.tcp_check.as_ref().map(|r| &r[0].action) else {
        panic!("no connect rule")
    };
    assert!(conn.ssl);
    assert_eq!(conn.sni.as_deref(), Some("connect.haproxy.org"));
    assert_eq!(
        conn.alpn,
        Some(vec!["h2".to_string(), "http/1.1".to_string()])
    );
    // The server has TLS settings for the rule, though neither `ssl` nor `check-ssl`.
    let tls = b.servers[0]
        .tls
        .as_ref()
        .expect("TLS settings for connect ssl");
    assert!(!tls.traffic && !tls.checks);
    let a = backend(&c, "a").servers[0].tls.clone().unwrap();
    assert!(a.checks);
    assert_eq!(
        a.check_alpn,
        Some(vec!["h2".to_string(), "http/1.1".to_string()])
    );
    assert!(backend(&c, "p").servers[0].tls.is_none());
    err1(
        &format!("{D}backend b\n option tcp-check\n tcp-check connect ssl sni\n server s 127.0.0.1:1 check\n"),
        8,
        "tcp-check connect",
        "'sni' expects an argument",
    );
}

#[test]
fn http_check_send_state() {
    let c = ok_both(&format!(
        "{D} option httpchk\n http-check send-state\nbackend a\n server s 127.0.0.1:1 check\n\
         backend b\n http-check expect status 200\n server s 127.0.0.1:1 check\nbackend c\n server s 127.0.0.1:1 check\n"
    ));
    // A proxy option: inherited from the defaults, kept when a section has its own rules.
    assert!(backend(&c, "a").http_send_state);
    assert!(backend(&c, "b").http_send_state);
    let c = ok_both(&format!("{D}backend c\n server s 127.0.0.1:1 check\n"));
    assert!(!backend(&c, "c").http_send_state);
    err1_both(
        &format!("{D}backend b\n option httpchk\n http-check send-state foo\n server s 127.0.0.1:1 check\n"),
        8,
        "http-check send-state",
        "expects no argument",
    );
}

#[test]
fn ssl_hello_chk_option() {
    assert_eq!(
        check_of(" option ssl-hello-chk"),
        Some(ProtocolCheck::SslHello)
    );
    err1_both(
        &format!("{D}backend b\n option ssl-hello-chk x\n server s 127.0.0.1:1 check\n"),
        7,
        "option ssl-hello-chk",
        "found 'x'",
    );
}
