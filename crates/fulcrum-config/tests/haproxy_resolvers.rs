//! `resolvers` sections and the server options that follow names at run time (`resolvers`, `resolve-prefer`,
//! `resolve-opts`, `resolve-net`, `init-addr`, `server-template`), checked against the real `haproxy -c`.

#[path = "haproxy_util.rs"]
mod util;

use std::time::Duration;

use fulcrum_config::haproxy::{InitAddr, InitAddrFallback};
use util::*;

const R: &str = "resolvers dns\n nameserver ns1 127.0.0.1:5353\n nameserver ns2 udp@[::1]:53\n resolve_retries 5\n timeout resolve 2s\n timeout retry 500ms\n hold valid 3s\n hold nx 4s\n hold other 5s\n hold refused 6s\n hold timeout 7s\n hold obsolete 8s\n accepted_payload_size 1232\n";

#[test]
fn resolvers_section() {
    let c = ok_both(&format!("{R}{DEFAULTS}"));
    let r = &c.resolvers[0];
    assert_eq!(r.name, "dns");
    assert_eq!(r.nameservers.len(), 2);
    assert_eq!(r.nameservers[0].id, "ns1");
    assert_eq!(r.nameservers[1].addr, "[::1]:53".parse().unwrap());
    assert_eq!(r.retries, 5);
    assert_eq!(r.timeout_resolve, Duration::from_secs(2));
    assert_eq!(r.timeout_retry, Duration::from_millis(500));
    assert_eq!(
        [
            r.hold_valid,
            r.hold_nx,
            r.hold_other,
            r.hold_refused,
            r.hold_timeout,
            r.hold_obsolete
        ],
        [3, 4, 5, 6, 7, 8].map(Duration::from_secs)
    );
    assert_eq!(r.accepted_payload_size, 1232);
    // Defaults.
    let c = ok_both(&format!(
        "resolvers d\n nameserver a 127.0.0.1:53\n{DEFAULTS}"
    ));
    let r = &c.resolvers[0];
    assert_eq!((r.retries, r.accepted_payload_size), (3, 512));
    assert_eq!(
        (r.hold_valid, r.hold_nx, r.hold_obsolete),
        (
            Duration::from_secs(10),
            Duration::from_secs(30),
            Duration::ZERO
        )
    );
    // resolve_retries 0 and a payload size below 512 are taken, as by HAProxy (one query, no EDNS0 record).
    let c = ok_both(&format!("resolvers d\n nameserver a 127.0.0.1:53\n resolve_retries 0\n accepted_payload_size 100\n{DEFAULTS}"));
    assert_eq!(
        (c.resolvers[0].retries, c.resolvers[0].accepted_payload_size),
        (1, 100)
    );
    // `resolvers default` may be named without being declared (made from /etc/resolv.conf, as by HAProxy).
    if std::fs::read_to_string("/etc/resolv.conf")
        .is_ok_and(|t| t.lines().any(|l| l.starts_with("nameserver")))
    {
        let c = ok_both(&format!("{DEFAULTS}backend b\n server s www.example.invalid:80 resolvers default init-addr none\n"));
        assert_eq!(c.resolvers.last().unwrap().name, "default");
    }
    // No nameserver: a warning, as in HAProxy.
    let c = ok_both(&format!("resolvers d\n{DEFAULTS}"));
    assert!(c
        .warnings
        .iter()
        .any(|w| w.diagnostic.message.contains("no nameservers")));
}

#[test]
fn resolvers_section_errors() {
    err1_both(
        "resolvers d\n nameserver a 127.0.0.1:1\n nameserver a 127.0.0.1:2\n",
        3,
        "nameserver",
        "same name as another nameserver",
    );
    err1_both(
        "resolvers d\n nameserver a 127.0.0.1\n",
        2,
        "nameserver",
        "missing port",
    );
    err1_both(
        "resolvers d\n nameserver a\n",
        2,
        "nameserver",
        "expects <name> and <addr>",
    );
    err1_both(
        "resolvers d\n hold foo 1s\n",
        2,
        "hold",
        "unknown <event>: 'foo'",
    );
    err1_both("resolvers d\n hold nx\n", 2, "hold nx", "expects a time");
    err1_both(
        "resolvers d\n timeout bar 1s\n",
        2,
        "timeout",
        "expects 'retry' or 'resolve'",
    );
    err1_both(
        "resolvers d\n timeout retry\n",
        2,
        "timeout retry",
        "expects a time",
    );
    err1_both(
        "resolvers d\n accepted_payload_size 70000\n",
        2,
        "accepted_payload_size",
        "between 12 and 65535",
    );
    err1_both(
        "resolvers d\n bogus 1\n",
        2,
        "bogus",
        "unknown keyword 'bogus' in 'resolvers' section",
    );
    err1_both("resolvers\n", 1, "resolvers", "missing name");
    // fulcrum asks over UDP only.
    err1(
        "resolvers d\n nameserver a tcp@127.0.0.1:53\n",
        2,
        "nameserver",
        "not yet by fulcrum",
    );
}

#[test]
fn server_options() {
    let c = ok_both(&format!(
        "{R}{DEFAULTS}backend b\n server s1 www.example.invalid:80 resolvers dns resolve-prefer ipv4 resolve-opts allow-dup-ip,ignore-weight resolve-net 10.0.0.0/8,192.168.0.0/255.255.0.0 init-addr none\n server s2 127.0.0.1:81 resolvers dns\n server s3 www.example.invalid:82 init-addr 10.1.2.3\n"
    ));
    let s = &c.proxies[0].servers;
    let r = s[0].resolve.as_ref().unwrap();
    assert_eq!(r.resolvers.as_deref(), Some("dns"));
    assert_eq!(r.fqdn.as_deref(), Some("www.example.invalid"));
    assert!(!r.prefer_v6 && r.allow_dup_ip && r.ignore_weight && r.unresolved);
    assert_eq!(
        r.nets,
        vec![
            ("10.0.0.0".parse().unwrap(), 8),
            ("192.168.0.0".parse().unwrap(), 16)
        ]
    );
    assert_eq!(r.init_addr, vec![InitAddr::None]);
    assert_eq!(s[0].addr, "0.0.0.0:80".parse().unwrap());
    let r = s[1].resolve.as_ref().unwrap();
    assert_eq!((r.fqdn.as_deref(), r.unresolved), (None, false));
    assert_eq!(s[1].addr, "127.0.0.1:81".parse().unwrap());
    assert_eq!(s[2].addr, "10.1.2.3:82".parse().unwrap());
    assert!(!s[2].resolve.as_ref().unwrap().unresolved);
    // Default init-addr is last,libc (and none, with resolvers): libc finds the test resolver's name.
    let c = ok(&format!(
        "{R}{DEFAULTS}backend b\n server s app.test:80 resolvers dns\n"
    ));
    let r = c.proxies[0].servers[0].resolve.as_ref().unwrap();
    assert_eq!(
        r.init_addr,
        vec![InitAddr::Last, InitAddr::Libc, InitAddr::None]
    );
    assert_eq!(r.last_fallback, None);
    assert_eq!(
        c.proxies[0].servers[0].addr,
        "127.0.0.2:80".parse().unwrap()
    );
    // resolve-prefer picks the family among libc's answers.
    let c = ok(&format!("{R}{DEFAULTS}backend b\n server s dual.test:80 resolvers dns resolve-prefer ipv4\n server t dual.test:80 resolvers dns\n"));
    assert_eq!(
        c.proxies[0].servers[0].addr,
        "127.0.0.3:80".parse().unwrap()
    );
    assert_eq!(c.proxies[0].servers[1].addr, "[::1]:80".parse().unwrap());
    // A name nothing resolves: a warning with resolvers (the server starts without an address, `none` being in
    // their default), else an error. With `last` among the methods, the verdict waits for the server-state
    // file, which the proxy reads when it starts (and `fulcrum proxy -c`).
    let c = ok_both(&format!(
        "{R}{DEFAULTS}backend b\n server s www.example.invalid:80 resolvers dns\n"
    ));
    let r = c.proxies[0].servers[0].resolve.as_ref().unwrap();
    assert!(r.unresolved);
    assert_eq!(
        r.last_fallback,
        Some(InitAddrFallback::Unresolved(Some(
            "'server b/s' : could not resolve address 'www.example.invalid', disabling server."
                .into()
        )))
    );
    let c = ok(&format!(
        "{R}{DEFAULTS}backend b\n server s www.example.invalid:80 init-addr last\n server t www.example.invalid:80 init-addr last,libc resolvers dns\n server u www.example.invalid:80 init-addr libc,none\n"
    ));
    let fallback = |i: usize| {
        c.proxies[0].servers[i]
            .resolve
            .as_ref()
            .unwrap()
            .last_fallback
            .clone()
    };
    assert_eq!(
        fallback(0),
        Some(InitAddrFallback::Fatal(
            "server 'b/s': no method found to resolve address 'www.example.invalid'".into()
        ))
    );
    assert!(
        matches!(fallback(1), Some(InitAddrFallback::Fatal(m)) if m.starts_with("server 'b/t': could not resolve address 'www.example.invalid': "))
    );
    // Without `last` the verdict is given at once.
    assert_eq!(fallback(2), None);
    assert!(c.warnings.iter().any(|w| w.diagnostic.message.contains(
        "'server b/u' : could not resolve address 'www.example.invalid', disabling server"
    )));
    err1_both(
        &format!("{R}{DEFAULTS}backend b\n server s www.example.invalid:80\n"),
        20,
        "server",
        "could not resolve address",
    );
    // default-server carries the options.
    let c = ok_both(&format!("{R}{DEFAULTS}backend b\n default-server resolvers dns init-addr none\n server s www.example.invalid:80\n"));
    assert_eq!(
        c.proxies[0].servers[0]
            .resolve
            .as_ref()
            .unwrap()
            .resolvers
            .as_deref(),
        Some("dns")
    );
}

#[test]
fn server_option_errors() {
    let b = |o: &str| format!("{R}{DEFAULTS}backend b\n server s www.example.invalid:80 {o}\n");
    err1_both(
        &b("resolvers nope init-addr none"),
        20,
        "server",
        "unable to find required resolvers 'nope'",
    );
    err1_both(
        &b("resolvers dns resolve-prefer ipv5"),
        20,
        "server resolve-prefer",
        "expects either ipv4 or ipv6",
    );
    err1_both(
        &b("resolvers dns resolve-opts bar"),
        20,
        "server resolve-opts",
        "unknown resolve-opts option 'bar'",
    );
    err1_both(
        &b("resolvers dns resolve-net 300.0.0.0/8"),
        20,
        "server resolve-net",
        "invalid network '300.0.0.0/8'",
    );
    err1_both(
        &b("init-addr foo"),
        20,
        "server init-addr",
        "unknown init-addr method 'foo'",
    );
}

#[test]
fn server_templates() {
    let c = ok_both(&format!(
        "{R}{DEFAULTS}backend b\n server-template web 3 _http._tcp.example.invalid resolvers dns init-addr none\n server-template app 5-6 www.example.invalid:8080 resolvers dns init-addr none weight 7\n"
    ));
    let s = &c.proxies[0].servers;
    let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web1", "web2", "web3", "app5", "app6"]);
    let r = s[1].resolve.as_ref().unwrap();
    assert!(r.is_srv() && r.unresolved);
    assert_eq!(r.template, Some((2, 3)));
    assert_eq!(s[1].addr.port(), 0);
    assert_eq!(s[4].resolve.as_ref().unwrap().template, Some((2, 2)));
    assert_eq!((s[4].addr.port(), s[4].weight), (8080, 7));
    err1_both(&format!("{R}{DEFAULTS}backend b\n server-template s 0 a.example:80 resolvers dns init-addr none\n"), 20, "server-template", "Wrong server-template number or range arg '0'");
    err1_both(&format!("{R}{DEFAULTS}backend b\n server-template s 5-3 a.example:80 resolvers dns init-addr none\n"), 20, "server-template", "Wrong server-template number or range arg '5-3'");
    let e = err_both(&format!("{R}{DEFAULTS}backend b\n server-template t 1-3 a.example:80 resolvers dns init-addr none\n server-template t 2 a.example:80 resolvers dns init-addr none\n"));
    assert!(
        e.iter()
            .all(|(l, _, m)| *l == 21 && m.contains("already has a server named 't")),
        "{e:?}"
    );
    err1(
        "frontend f\n bind :80\n server-template s 2 a.example:80\n",
        3,
        "server-template",
        "",
    );
}
