//! The PROXY protocol keywords: `bind ... accept-proxy`, `tcp-request connection expect-proxy layer4`, and the
//! servers' `send-proxy`, `send-proxy-v2[-ssl[-cn]]`, `proxy-v2-options`, `check-send-proxy`, also from
//! `default-server`. Valid configurations, and those HAProxy 2.6 rejects too, are also checked by the real
//! haproxy.

#[path = "haproxy_util.rs"]
mod util;

use fulcrum_config::haproxy::*;
use util::*;

const D: &str = DEFAULTS;

fn cfg(fe_opts: &str, fe_body: &str, servers: &str) -> String {
    format!(
        "{D}frontend f\n bind :18080 {fe_opts}\n{fe_body} default_backend b\nbackend b\n{servers}"
    )
}

fn servers(c: &Config) -> &[Server] {
    &c.proxies.iter().find(|p| p.name == "b").unwrap().servers
}

#[test]
fn accept_proxy_on_bind() {
    let c = ok_both(&cfg("accept-proxy", "", " server s 127.0.0.1:1\n"));
    let f = c.proxies.iter().find(|p| p.name == "f").unwrap();
    assert!(f.binds[0].accept_proxy);
    let c = ok_both(&cfg("", "", " server s 127.0.0.1:1\n"));
    assert!(!c.proxies[0].binds[0].accept_proxy);
}

#[test]
fn expect_proxy_rule() {
    let c = ok_both(&cfg(
        "",
        " tcp-request connection expect-proxy layer4 if { src 10.0.0.0/8 }\n tcp-request connection expect-proxy layer4\n",
        " server s 127.0.0.1:1\n",
    ));
    let f = c.proxies.iter().find(|p| p.name == "f").unwrap();
    let r = &f.rules.tcp_connection;
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].action, TcpConnAction::ExpectProxy);
    assert!(r[0].cond.is_some());
    assert!(r[1].cond.is_none());
    let e = err_both(&cfg(
        "",
        " tcp-request connection expect-proxy layer7\n",
        " server s 127.0.0.1:1\n",
    ));
    assert_eq!(e[0].1, "tcp-request connection expect-proxy");
    assert!(e[0].2.contains("'layer4'"), "{e:?}");
}

#[test]
fn send_proxy_variants() {
    let c = ok_both(&cfg(
        "",
        "",
        " server a 127.0.0.1:1 send-proxy
 server b 127.0.0.1:2 send-proxy-v2
 server c 127.0.0.1:3 send-proxy-v2-ssl
 server d 127.0.0.1:4 send-proxy-v2-ssl-cn check-send-proxy
 server e 127.0.0.1:5 send-proxy-v2 proxy-v2-options ssl,cert-cn,ssl-cipher,authority,crc32c,unique-id
 server f 127.0.0.1:6 send-proxy send-proxy-v2
 server g 127.0.0.1:7
",
    ));
    let s = servers(&c);
    assert_eq!(
        s[0].send_proxy,
        Some(SendProxy {
            v2: false,
            options: ProxyV2Options::default()
        })
    );
    assert_eq!(
        s[1].send_proxy,
        Some(SendProxy {
            v2: true,
            options: ProxyV2Options::default()
        })
    );
    let o = s[2].send_proxy.unwrap().options;
    assert!(o.ssl && !o.cert_cn);
    let o = s[3].send_proxy.unwrap().options;
    assert!(o.ssl && o.cert_cn);
    assert!(s[3].check_send_proxy && !s[2].check_send_proxy);
    let o = s[4].send_proxy.unwrap().options;
    assert!(o.ssl && o.cert_cn && o.ssl_cipher && o.authority && o.crc32c && o.unique_id);
    // Both versions asked for: version 2 wins, as in HAProxy.
    assert!(s[5].send_proxy.unwrap().v2);
    assert_eq!(s[6].send_proxy, None);
}

#[test]
fn default_server_and_no_forms() {
    let c = ok_both(&cfg(
        "",
        "",
        " default-server send-proxy-v2 proxy-v2-options crc32c
 server a 127.0.0.1:1
 server b 127.0.0.1:2 no-send-proxy-v2
 server c 127.0.0.1:3 proxy-v2-options authority
",
    ));
    let s = servers(&c);
    assert!(s[0].send_proxy.unwrap().options.crc32c);
    assert_eq!(s[1].send_proxy, None);
    let o = s[2].send_proxy.unwrap().options;
    assert!(o.crc32c && o.authority);
    let c = ok_both(&cfg(
        "",
        "",
        " default-server send-proxy\n server a 127.0.0.1:1 no-send-proxy\n",
    ));
    assert_eq!(servers(&c)[0].send_proxy, None);
}

#[test]
fn proxy_v2_option_errors() {
    let e = err_both(&cfg(
        "",
        "",
        " server a 127.0.0.1:1 send-proxy-v2 proxy-v2-options ssl,nope\n",
    ));
    assert_eq!(e[0].1, "server proxy-v2-options");
    assert!(e[0].2.contains("unknown option 'nope'"), "{e:?}");
    let e = err_both(&cfg(
        "",
        "",
        " server a 127.0.0.1:1 send-proxy-v2 proxy-v2-options\n",
    ));
    assert!(e[0].2.contains("expects a comma-separated list"), "{e:?}");
}

/// `cert-sig` and `cert-key` (like `cert-cn` and `ssl-cipher`) ask for the SSL TLV too, as in HAProxy.
#[test]
fn certificate_options_ask_for_the_ssl_tlv() {
    let c = ok_both(&cfg(
        "",
        "",
        " server a 127.0.0.1:1 send-proxy-v2 proxy-v2-options cert-sig,cert-key\n server b 127.0.0.1:1 send-proxy-v2 proxy-v2-options ssl-cipher\n",
    ));
    let s = &c
        .proxies
        .iter()
        .find(|p| !p.servers.is_empty())
        .unwrap()
        .servers;
    let o = s[0].send_proxy.unwrap().options;
    assert!(o.ssl && o.cert_sig && o.cert_key && !o.cert_cn && !o.ssl_cipher);
    let o = s[1].send_proxy.unwrap().options;
    assert!(o.ssl && o.ssl_cipher && !o.cert_sig);
}

#[test]
fn unique_id_keywords() {
    let c = ok_both(&format!(
        "{D} unique-id-format %{{+X}}o\\ %ci:%cp_%[req.hdr(x)]\nfrontend f\n bind :18080\n unique-id-header X-Unique-ID\n default_backend b\nbackend b\n server s 127.0.0.1:1\n"
    ));
    let f = c.proxies.iter().find(|p| p.name == "f").unwrap();
    assert!(f.unique_id_format.is_some());
    assert_eq!(f.unique_id_header.as_deref(), Some("X-Unique-ID"));
    // Backends have no unique ID of their own.
    let b = c.proxies.iter().find(|p| p.name == "b").unwrap();
    assert!(b.unique_id_format.is_none());
    let e = errs(&format!(
        "{D}frontend f\n bind :18080\n unique-id-format %[nope]\n default_backend b\nbackend b\n server s 127.0.0.1:1\n"
    ));
    assert_eq!(e[0].1, "unique-id-format");
}
