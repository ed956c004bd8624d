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
    err1(
        &b("agent-check agent-port 1 agent-addr agent.example"),
        7,
        "server agent-addr",
        "expects an IP address",
    );
    err1(&b("agent-port 0"), 7, "server agent-port", "");
}
