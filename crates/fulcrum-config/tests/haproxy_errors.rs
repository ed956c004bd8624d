//! Every kind of diagnostic, with its exact line and keyword. Where HAProxy 2.6 rejects the same input, the real
//! haproxy is run too (`err_both`); where fulcrum is stricter or lacks a feature, only fulcrum is checked.

#[path = "haproxy_util.rs"]
mod util;

use fulcrum_config::haproxy::parse_str;
use util::*;

const NS: &str = "does not support yet";
const D: &str = DEFAULTS; // 5 lines

// ---------- lexing and sections ----------

#[test]
fn unmatched_quotes() {
    let e = err_both("global\n maxconn \"10\n");
    assert_eq!((e[0].0, e[0].1.as_str()), (2, "maxconn"));
    assert!(e[0].2.contains("unmatched quote"));
    err1("global\n 'fo\\'o' x\n", 2, "'fo\\'o'", "unmatched quote");
}

#[test]
fn bad_escape_and_variable() {
    err1(
        "global\n maxconn \\x4\n",
        2,
        "maxconn",
        "two hexadecimal digits",
    );
    err1(
        "global\n maxconn ${FT_PORT\n",
        2,
        "maxconn",
        "unterminated '${'",
    );
}

#[test]
fn keyword_out_of_section() {
    let e = err_both("maxconn 10\nglobal\n");
    assert_eq!((e[0].0, e[0].1.as_str()), (1, "maxconn"));
    assert!(e[0].2.contains("out of section"));
}

#[test]
fn unsupported_sections() {
    for s in ["cache c", "ring r", "mailers m"] {
        let kw = s.split(' ').next().unwrap();
        err1(
            &format!("global\n{s}\n some line\n other line\n"),
            2,
            kw,
            "not supported yet by fulcrum",
        );
    }
}

#[test]
fn section_headers() {
    let e = err_both("backend\n server s 127.0.0.1:1\n");
    assert_eq!((e[0].0, e[0].1.as_str()), (1, "backend"));
    assert!(e[0].2.contains("expects a name"));
    err1(
        "frontend f x\n bind :18080\n",
        1,
        "frontend",
        "unexpected argument 'x'",
    );
    err1("global x\n", 1, "global", "expects no argument");
    let e = err_both("backend a/b\n");
    assert_eq!(e[0].1, "backend");
    assert!(e[0].2.contains("character '/' is not permitted"));
    let e = err_both("backend b from nope\n");
    assert_eq!((e[0].0, e[0].1.as_str()), (1, "backend"));
    assert!(e[0].2.contains("no defaults section named 'nope'"));
}

// ---------- global ----------

#[test]
fn global_unknown_keyword() {
    let e = err_both("global\n maxconn 10\n frobnicate 1\n");
    assert_eq!(
        e,
        [(
            3,
            "frobnicate".to_string(),
            "unknown keyword 'frobnicate' in 'global' section".to_string()
        )]
    );
}

#[test]
fn global_known_but_unsupported() {
    for kw in ["ssl-mode-async", "tune.http.cookielen 63", "busy-polling"] {
        let word = kw.split(' ').next().unwrap().to_string();
        err1(
            &format!("global\n{kw}\n"),
            2,
            &word,
            &format!("'{word}' is a HAProxy keyword that fulcrum does not support yet"),
        );
    }
}

#[test]
fn proxy_keyword_in_global() {
    let e = err_both("global\n balance roundrobin\n");
    assert_eq!((e[0].0, e[0].1.as_str()), (2, "balance"));
    assert!(e[0].2.contains("proxy keyword"), "{}", e[0].2);
}

#[test]
fn global_values() {
    err1(
        "global\n maxconn abc\n",
        2,
        "maxconn",
        "expected an integer",
    );
    err_both("global\n nbthread 0\n");
    err1("global\n nbthread 0\n", 2, "nbthread", "between 1 and 4096");
    err1("global\n maxconn 1 2\n", 2, "maxconn", "found an extra '2'");
    err1("global\n maxconn\n", 2, "maxconn", "expects an integer");
    let e = err_both("global\n daemon x\n");
    assert_eq!((e[0].0, e[0].1.as_str()), (2, "daemon"));
    err1("global\n uid bob\n", 2, "uid", "expected an integer");
    err1("global\n chroot\n", 2, "chroot", "expects a path");
}

#[test]
fn global_log_errors() {
    err_both("global\n log 127.0.0.1 local9\n");
    err1(
        "global\n log 127.0.0.1 local9\n",
        2,
        "log",
        "unknown facility 'local9'",
    );
    err_both("global\n log 127.0.0.1\n");
    err1("global\n log 127.0.0.1\n", 2, "log", "missing facility");
    err_both("global\n log 127.0.0.1 format json local0\n");
    err1(
        "global\n log 127.0.0.1 format json local0\n",
        2,
        "log",
        "unknown log format 'json'",
    );
    err1(
        "global\n log 127.0.0.1 local0 loud\n",
        2,
        "log",
        "unknown level 'loud'",
    );
    err1(
        "global\n log 127.0.0.1 local0 info err debug\n",
        2,
        "log",
        "unexpected argument 'debug'",
    );
    err1(
        "global\n log 127.0.0.1 sample 3:2 local0\n",
        2,
        "log",
        "invalid sample '3:2'",
    );
    err_both("global\n log 127.0.0.1 len 79 local0\n");
    err1(
        "global\n log 127.0.0.1 len 10 local0\n",
        2,
        "log",
        "between 80 and 65535",
    );
    err1(
        "global\n log ring@buf local0\n",
        2,
        "log",
        "not yet by fulcrum",
    );
    err_both("global\n log global\n");
    err1(
        "global\n log global\n",
        2,
        "log",
        "only allowed in proxy sections",
    );
    err_both("global\n log $FT_MISSING local0\n");
    err1("global\n log $FT_MISSING local0\n", 2, "log", "empty");
}

#[test]
fn stats_socket_errors() {
    err_both("global\n stats socket /tmp/x level god\n");
    err1(
        "global\n stats socket /tmp/x level god\n",
        2,
        "stats socket",
        "'level' expects user, operator or admin",
    );
    err1(
        "global\n stats socket /tmp/x mode 999\n",
        2,
        "stats socket",
        "octal",
    );
    err1(
        "global\n stats socket /tmp/x user haproxy\n",
        2,
        "stats socket",
        "not yet by fulcrum",
    );
    err1(
        "global\n stats socket /tmp/x frob\n",
        2,
        "stats socket",
        "unknown option 'frob'",
    );
    err1(
        "global\n stats socket ipv4@127.0.0.1\n",
        2,
        "stats socket",
        "has no port",
    );
    err1(
        "global\n stats socket fd@x\n",
        2,
        "stats socket",
        "expected 'fd@N'",
    );
    err1(
        "global\n stats socket\n",
        2,
        "stats socket",
        "expects an address",
    );
}

// ---------- proxies ----------

#[test]
fn proxy_unknown_keyword() {
    let e = err_both(&format!("{D}backend b\n frobnicate 1\n"));
    assert_eq!(
        e,
        [(
            7,
            "frobnicate".to_string(),
            "unknown keyword 'frobnicate' in 'backend' section".to_string()
        )]
    );
}

#[test]
fn global_keyword_in_proxy() {
    let e = err_both(&format!("{D}backend b\n nbthread 2\n"));
    assert_eq!(
        e,
        [(
            7,
            "nbthread".to_string(),
            "'nbthread' is a 'global' keyword: it is not allowed in a 'backend' section"
                .to_string()
        )]
    );
}

#[test]
fn proxy_known_but_unsupported() {
    for (line, kw) in [
        ("filter cache", "filter cache"),
        ("stats show-desc", "stats show-desc"),
        ("grace 1s", "grace"),
    ] {
        err1(&format!("{D}listen l\n bind :18080\n {line}\n"), 8, kw, NS);
    }
    err1(
        &format!("{D}listen l\n bind :18080\n option http-no-delay\n"),
        8,
        "option http-no-delay",
        NS,
    );
    err1(
        &format!("{D}listen l\n bind :18080\n option httplog clf\n"),
        8,
        "option httplog",
        "not yet by fulcrum",
    );
    err1(
        &format!("{D}listen l\n bind :18080\n default option redispatch\n"),
        8,
        "default option",
        NS,
    );
}

#[test]
fn legacy_timeouts() {
    for (kw, instead) in [
        ("clitimeout", "timeout client"),
        ("contimeout", "timeout connect"),
        ("srvtimeout", "timeout server"),
    ] {
        let e = err_both(&format!("defaults\n {kw} 5s\n"));
        assert_eq!((e[0].0, e[0].1.as_str()), (2, kw));
        assert!(e[0].2.contains(&format!("use '{instead}'")), "{}", e[0].2);
    }
}

#[test]
fn keywords_in_the_wrong_proxy_section() {
    err1(
        &format!("{D}backend b\n bind :18080\n"),
        7,
        "bind",
        "'bind' is not allowed in a 'backend' section (allowed in: frontend, listen)",
    );
    let e = err_both(&format!(
        "{D}frontend f\n bind :18080\n server s 127.0.0.1:1\n"
    ));
    assert_eq!(
        e,
        [(
            8,
            "server".into(),
            "'server' is not allowed in a 'frontend' section (allowed in: listen, backend)".into()
        )]
    );
    err1(
        "defaults\n server s 127.0.0.1:1\n",
        2,
        "server",
        "(allowed in: listen, backend)",
    );
    err1(
        "defaults\n bind :1\n",
        2,
        "bind",
        "(allowed in: frontend, listen)",
    );
    err1(
        &format!("{D}backend b\n default_backend x\n"),
        7,
        "default_backend",
        "(allowed in: defaults, frontend, listen)",
    );
    err1(
        &format!("{D}backend b\n maxconn 10\n"),
        7,
        "maxconn",
        "(allowed in: defaults, frontend, listen)",
    );
    err1(
        &format!("{D}frontend f\n bind :18080\n balance roundrobin\n"),
        8,
        "balance",
        "(allowed in: defaults, listen, backend)",
    );
    err1(
        &format!("{D}frontend f\n bind :18080\n default-server check\n"),
        8,
        "default-server",
        "(allowed in: defaults, listen, backend)",
    );
    err1(
        &format!("{D}frontend f\n bind :18080\n timeout server 1s\n"),
        8,
        "timeout server",
        "(allowed in: defaults, listen, backend)",
    );
    err1(
        &format!("{D}backend b\n timeout client 1s\n"),
        7,
        "timeout client",
        "(allowed in: defaults, frontend, listen)",
    );
    err1(
        &format!("{D}frontend f\n bind :18080\n option httpchk\n"),
        8,
        "option httpchk",
        "(allowed in: defaults, listen, backend)",
    );
    err1(
        &format!("{D}backend b\n option httplog\n"),
        7,
        "option httplog",
        "(allowed in: defaults, frontend, listen)",
    );
    err1(
        &format!("{D}frontend f\n bind :18080\n http-check expect status 200\n"),
        8,
        "http-check",
        "(allowed in: defaults, listen, backend)",
    );
}

#[test]
fn mode_and_timeout_values() {
    let e = err_both(&format!("{D}backend b\n mode udp\n"));
    assert_eq!(
        e,
        [(
            7,
            "mode".into(),
            "expects 'tcp' or 'http', got 'udp'".into()
        )]
    );
    let e = err_both(&format!("{D}backend b\n timeout server 5x\n"));
    assert_eq!((e[0].0, e[0].1.as_str()), (7, "timeout server"));
    assert!(e[0].2.contains("expected a time"));
    let e = err_both(&format!("{D}backend b\n timeout frob 5s\n"));
    assert_eq!((e[0].0, e[0].1.as_str()), (7, "timeout frob"));
    err1(
        &format!("{D}backend b\n timeout server\n"),
        7,
        "timeout server",
        "expects a time",
    );
    err1(
        &format!("{D}backend b\n timeout\n"),
        7,
        "timeout",
        "expects 'timeout NAME VALUE'",
    );
    err1(
        &format!("{D}backend b\n timeout server 30d\n"),
        7,
        "timeout server",
        "too large",
    );
    err1(
        &format!("{D}backend b\n retries x\n"),
        7,
        "retries",
        "expected an integer",
    );
}

#[test]
fn option_errors() {
    let e = err_both(&format!("{D}backend b\n option frobnicate\n"));
    assert_eq!((e[0].0, e[0].1.as_str()), (7, "option frobnicate"));
    assert!(e[0].2.contains("unknown option 'frobnicate'"));
    let e = err_both(&format!("{D}backend b\n no option forwardfor\n"));
    assert_eq!((e[0].0, e[0].1.as_str()), (7, "no option forwardfor"));
    err_both(&format!("{D}backend b\n no option httpchk\n"));
    err_both(&format!(
        "{D}frontend f\n bind :18080\n no option httplog\n"
    ));
    err1(
        &format!("{D}backend b\n option forwardfor except 10.0.0.0/40\n"),
        7,
        "option forwardfor",
        "invalid network",
    );
    err1(
        &format!("{D}backend b\n option forwardfor frob\n"),
        7,
        "option forwardfor",
        "unexpected 'frob'",
    );
    err1(
        &format!("{D}backend b\n option redispatch 5\n"),
        7,
        "option redispatch",
        "not yet by fulcrum",
    );
    err1(
        &format!("{D}backend b\n option allbackups x\n"),
        7,
        "option allbackups",
        "expects no argument",
    );
    err1(
        &format!("{D}backend b\n option httpchk GET / HTTP/1.1 x\n"),
        7,
        "option httpchk",
        "at most 3 arguments",
    );
    err1(
        &format!("{D}backend b\n no frob\n"),
        7,
        "no",
        "must be followed by 'option'",
    );
}

#[test]
fn http_check_errors() {
    err_both(&format!("{D}backend b\n http-check expect status abc\n"));
    err1(
        &format!("{D}backend b\n http-check expect status abc\n"),
        7,
        "http-check expect",
        "HTTP status code",
    );
    err1(
        &format!("{D}backend b\n http-check expect hdr name-lf -m reg x\n"),
        7,
        "http-check expect",
        "takes no regular expression",
    );
    err1_both(
        &format!("{D}backend b\n http-check expect rstring (\n"),
        7,
        "http-check expect",
        "does not compile",
    );
    err_both(&format!("{D}backend b\n http-check expect frob 1\n"));
    err1(
        &format!("{D}backend b\n http-check expect status\n"),
        7,
        "http-check expect",
        "expects a pattern",
    );
    err1(
        &format!("{D}backend b\n http-check expect status 200 x\n"),
        7,
        "http-check expect",
        "but got 'x' as argument",
    );
    err_both(&format!("{D}backend b\n http-check frob\n"));
    // HAProxy's own names it refuses in a configuration: `rstring-lf`, and `custom` (its built-in checks').
    for (line, got) in [
        ("rstring-lf x", "rstring-lf"),
        ("custom x", "x"),
        ("tout-status L7RSP status 200", ""),
        ("string-lf %[nosuchfetch]", ""),
    ] {
        let text = format!("{D}backend b\n http-check expect {line}\n");
        err_both(&text);
        let needle = if got.is_empty() {
            String::new()
        } else {
            format!("but got '{got}' as argument")
        };
        err1(&text, 7, "http-check expect", &needle);
    }
}

#[test]
fn balance_and_hash_errors() {
    let e = err_both(&format!("{D}backend b\n balance fastest\n"));
    assert_eq!((e[0].0, e[0].1.as_str()), (7, "balance"));
    assert!(e[0].2.contains("unknown algorithm 'fastest'"));
    // `rdp-cookie` hashes the RDP cookie (`mstshash` by default), in mode tcp as in HAProxy's idiom.
    for algo in ["rdp-cookie", "rdp-cookie(msts)"] {
        ok_both(&format!("{D}backend b\n mode tcp\n balance {algo}\n"));
        ok_both(&format!("{D}backend b\n mode tcp\n persist {algo}\n"));
    }
    err1_both(
        &format!("{D}backend b\n mode tcp\n persist cookie\n"),
        8,
        "persist",
        "",
    );
    err1(
        &format!("{D}backend b\n mode tcp\n balance rdp-cookie()\n"),
        8,
        "balance",
        "expects 'rdp-cookie' or 'rdp-cookie(NAME)'",
    );
    // `req.cookie` is not a fetch: both refuse it (haproxy: unknown fetch method).
    let e = err_both(&format!("{D}backend b\n balance hash req.cookie(id)\n"));
    assert_eq!((e[0].0, e[0].1.as_str()), (7, "balance"));
    err_both(&format!("{D}backend b\n balance hash\n"));
    err1(
        &format!("{D}backend b\n balance hash\n"),
        7,
        "balance",
        "expects a sample expression",
    );
    err_both(&format!("{D}backend b\n balance hash res.hdr(x)\n"));
    ok_both(&format!("{D}backend b\n mode tcp\n balance hash src\n"));
    err1(
        &format!("{D}backend b\n hash-type map-based wt7\n"),
        7,
        "hash-type",
        "unexpected 'wt7'",
    );
    err1(
        &format!("{D}backend b\n balance\n"),
        7,
        "balance",
        "expects an algorithm",
    );
    err1(
        &format!("{D}backend b\n balance url_param\n"),
        7,
        "balance",
        "parameter name",
    );
    err1(
        &format!("{D}backend b\n balance uri len x\n"),
        7,
        "balance",
        "expected an integer",
    );
    err1(
        &format!("{D}backend b\n balance random(x)\n"),
        7,
        "balance",
        "random(N)",
    );
    err1(
        &format!("{D}backend b\n balance hdr()\n"),
        7,
        "balance",
        "hdr(NAME)",
    );
    err1(
        &format!("{D}backend b\n balance roundrobin x\n"),
        7,
        "balance",
        "expects no argument",
    );
    err_both(&format!("{D}backend b\n hash-type ring\n"));
    err1(
        &format!("{D}backend b\n hash-type ring\n"),
        7,
        "hash-type",
        "'map-based' or 'consistent'",
    );
    err_both(&format!("{D}backend b\n hash-type consistent none\n"));
    err1(
        &format!("{D}backend b\n hash-type consistent sha1\n"),
        7,
        "hash-type",
        "unexpected 'sha1'",
    );
}

#[test]
fn log_in_proxies() {
    err1(
        &format!("{D}backend b\n log global x\n"),
        7,
        "log global",
        "expects no argument",
    );
    err1(
        &format!("{D}backend b\n no log x\n"),
        7,
        "no log",
        "expects no argument",
    );
    err1(
        &format!("{D}backend b\n log\n"),
        7,
        "log",
        "expects 'log TARGET",
    );
}

// ---------- bind ----------

#[test]
fn bind_errors() {
    let f = |l: &str| format!("{D}frontend f\n {l}\n");
    let e = err_both(&f("bind 127.0.0.1"));
    assert_eq!((e[0].0, e[0].1.as_str()), (7, "bind"));
    assert!(e[0].2.contains("has no port"));
    err_both(&f("bind :99999"));
    err1(&f("bind :99999"), 7, "bind", "invalid port '99999'");
    err_both(&f("bind :2005-2000"));
    err1(&f("bind :2005-2000"), 7, "bind", "invalid port range");
    err_both(&f("bind :18080 frobnicate"));
    err1(
        &f("bind :18080 frobnicate"),
        7,
        "bind frobnicate",
        "unknown bind option 'frobnicate'",
    );
    err1(&f("bind :18080,"), 7, "bind", "empty address");
    err1(&f("bind"), 7, "bind", "expects 'bind ADDRESS:PORT");
    err1(&f("bind :18080 v4v6 v6only"), 7, "bind", "contradict");
    // The error lists of ca-ignore-err / crt-ignore-err: `all` or numbers 1-94, as haproxy 2.6 takes them.
    err_both(&f("bind :18080 crt-ignore-err X509_V_ERR_CERT_HAS_EXPIRED"));
    err1(
        &f("bind :18080 crt-ignore-err X509_V_ERR_CERT_HAS_EXPIRED"),
        7,
        "bind crt-ignore-err",
        "ID 'X509_V_ERR_CERT_HAS_EXPIRED' out of range (1..94)",
    );
    err_both(&f("bind :18080 ca-ignore-err 10,95"));
    err1(
        &f("bind :18080 ca-ignore-err 10,95"),
        7,
        "bind ca-ignore-err",
        "ID '95' out of range",
    );
    err_both(&f("bind :18080 crt-ignore-err"));
    err1(
        &f("bind :18080 crt-ignore-err"),
        7,
        "bind crt-ignore-err",
        "missing error IDs list",
    );
    // Unix sockets: a name is required; `mode` is octal, `uid` and `gid` numbers; `user` / `group` not yet.
    err1(&f("bind unix@"), 7, "bind", "expected 'unix@PATH'");
    err1(&f("bind abns@"), 7, "bind", "expected 'abns@NAME'");
    err1(
        &f("bind /run/x.sock mode 999"),
        7,
        "bind mode",
        "an octal file mode",
    );
    err1(
        &f("bind /run/x.sock uid root"),
        7,
        "bind uid",
        "expects a number",
    );
    err1(
        &f("bind /run/x.sock user root"),
        7,
        "bind user",
        "not yet by fulcrum",
    );
    err1(
        &f("bind nohost.invalid:18080"),
        7,
        "bind",
        "could not resolve",
    );
    for (opt, kw) in [
        ("mss 1400", "bind mss"),
        ("interface eth0", "bind interface"),
        ("process 1", "bind process"),
        ("thread 1", "bind thread"),
    ] {
        let e = errs(&f(&format!("bind :18080 {opt}")));
        assert_eq!((e[0].0, e[0].1.as_str()), (7, kw), "{opt}");
        assert!(e[0]
            .2
            .contains("is supported by HAProxy, not yet by fulcrum"));
    }
    // TLS options are checked for their words here (files when the proxy builds its TLS settings).
    err1(&f("bind :18080 ssl"), 7, "bind ssl", "no SSL certificate");
    err1(
        &f("bind :18080 ssl crt /x.pem verify optional"),
        7,
        "bind verify",
        "no CA file",
    );
    err1(
        &f("bind :18080 ssl crt /x.pem ssl-min-ver TLSv1.4"),
        7,
        "bind ssl-min-ver",
        "TLSv1.4",
    );
    err1(
        &f("bind :18080 ssl crt /x.pem npn h2"),
        7,
        "bind npn",
        "alpn",
    );
    err1(
        &f("bind :18080 ssl crt /x.pem verify sometimes"),
        7,
        "bind verify",
        "'none', 'optional' or 'required'",
    );
    let e = errs(&f("bind :18080 ssl crt"));
    assert!(
        e.iter()
            .any(|d| d.1 == "bind crt" && d.2.contains("expects")),
        "{e:?}"
    );
    // `mss N` and `transparent` give two diagnostics (one per option), not three
    assert_eq!(errs(&f("bind :18080 mss 1400 transparent")).len(), 2);
    // The TCP options fulcrum sets check their arguments.
    err1_both(&f("bind :18080 backlog"), 7, "bind backlog", "expects");
    err1_both(&f("bind :18080 backlog -1"), 7, "bind backlog", "");
    // HAProxy reads a word that is no number as 0, the default: fulcrum says so.
    err1(&f("bind :18080 backlog many"), 7, "bind backlog", "");
    err1_both(&f("bind :18080 tcp-ut"), 7, "bind tcp-ut", "time");
    err1_both(&f("bind :18080 tcp-ut soon"), 7, "bind tcp-ut", "");
    err1_both(
        &format!("{DEFAULTS}backend b\n server s 127.0.0.1:18081 tcp-ut\n"),
        7,
        "server tcp-ut",
        "time",
    );
}

#[test]
fn global_tls_settings() {
    let c = fulcrum_config::haproxy::parse_str(
        "t.cfg",
        "global
    crt-base /etc/certs
    ca-base /etc/ca
    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets prefer-client-ciphers
    ssl-default-bind-ciphers ECDHE+AESGCM
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256
    tune.ssl.default-dh-param 2048
    tune.ssl.cachesize 1000
    tune.ssl.lifetime 60
    tune.ssl.capture-buffer-size 1
    ssl-load-extra-del-ext
",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let g = &c.global.ssl;
    assert!(g.extra_del_ext);
    assert_eq!(
        g.crt_base.as_deref(),
        Some(std::path::Path::new("/etc/certs"))
    );
    assert_eq!(g.ca_base.as_deref(), Some(std::path::Path::new("/etc/ca")));
    assert_eq!(
        g.bind_defaults.min_ver,
        Some(fulcrum_config::haproxy::ssl::TlsVersion::Tls12)
    );
    assert!(g.bind_defaults.no_tls_tickets && g.bind_defaults.prefer_client_ciphers);
    assert_eq!(g.bind_defaults.ciphers.as_deref(), Some("ECDHE+AESGCM"));
    assert_eq!(g.cachesize(), 1000);
    assert_eq!(g.lifetime(), std::time::Duration::from_secs(60));
    err1(
        "global
    ssl-default-bind-options frobnicate
",
        2,
        "ssl-default-bind-options",
        "unknown option 'frobnicate'",
    );
    err1(
        "global
    tune.ssl.capture-buffer-size lots
",
        2,
        "tune.ssl.capture-buffer-size",
        "lots",
    );
    err1(
        "global
    ssl-load-extra-del-ext on
",
        2,
        "ssl-load-extra-del-ext",
        "expects no argument, found 'on'",
    );
}

#[test]
fn frontend_and_listen_need_a_bind() {
    err1(
        &format!("{D}frontend f\n default_backend b\nbackend b\n"),
        6,
        "frontend",
        "has no 'bind' line",
    );
    err1(
        &format!("{D}listen l\n server s 127.0.0.1:1\n"),
        6,
        "listen",
        "has no 'bind' line",
    );
}

// ---------- server ----------

#[test]
fn server_errors() {
    let b = |l: &str| format!("{D}backend b\n {l}\n");
    // No port, or an offset: the client's destination port (plus the offset), as HAProxy; checks then need a
    // `port`, as HAProxy says.
    let c = ok_both(&b(
        "server s 127.0.0.1\n server t 127.0.0.1:+1\n server u 127.0.0.1:-2 check port 80",
    ));
    let offsets: Vec<_> = c
        .backend("b")
        .unwrap()
        .servers
        .iter()
        .map(|s| s.port_offset)
        .collect();
    assert_eq!(offsets, [Some(0), Some(1), Some(-2)]);
    // `socks4 IP:PORT`, inherited from `default-server`, with `check-via-socks4` and `tcp-check connect
    // via-socks4`.
    let c = ok_both(&b("default-server socks4 127.0.0.1:1080
 server s 127.0.0.1:80 check-via-socks4
 server t 127.0.0.1:81 socks4 [::1]:1081
 server u 127.0.0.1:82
 option tcp-check
 tcp-check connect via-socks4"));
    let servers = &c.backend("b").unwrap().servers;
    let socks: Vec<_> = servers
        .iter()
        .map(|s| (s.socks4.map(|a| a.to_string()), s.check_via_socks4))
        .collect();
    assert_eq!(
        socks,
        [
            (Some("127.0.0.1:1080".into()), true),
            (Some("[::1]:1081".into()), false),
            (Some("127.0.0.1:1080".into()), false)
        ]
    );
    err1(
        &b("server s 127.0.0.1:80 socks4"),
        7,
        "server socks4",
        "'socks4' expects the SOCKS4 proxy's address as IP:PORT, got ''",
    );
    err1(
        &b("server s 127.0.0.1:80 socks4 127.0.0.1"),
        7,
        "server socks4",
        "'socks4' expects the SOCKS4 proxy's address as IP:PORT, got '127.0.0.1'",
    );
    // Stricter than HAProxy: SOCKS4 cannot name an IPv6 server, nor the client's port.
    err1(
        &b("server s [::1]:80 socks4 127.0.0.1:1080"),
        7,
        "server socks4",
        "IPv4 address and port only",
    );
    err1(
        &b("server s 127.0.0.1 socks4 127.0.0.1:1080"),
        7,
        "server socks4",
        "IPv4 address and port only",
    );
    let e = err_both(&b("server s 127.0.0.1 check"));
    assert_eq!((e[0].0, e[0].1.as_str()), (7, "server"));
    assert!(
        e[0].2.contains("has neither service port nor check port"),
        "{e:?}"
    );
    err1(
        &b("server s"),
        7,
        "server",
        "expects 'server NAME ADDRESS:PORT",
    );
    // No host: accepted by both (HAProxy keeps 0.0.0.0); such a server has no address in fulcrum.
    let c = ok_both(&b("server s :\n server t :80"));
    let servers = &c.backend("b").unwrap().servers;
    assert_eq!(servers[0].addr, "0.0.0.0:0".parse().unwrap());
    assert_eq!(servers[1].addr, "0.0.0.0:80".parse().unwrap());
    err1(
        &b("server s 127.0.0.1:+x"),
        7,
        "server",
        "invalid port offset '+x'",
    );
    err1(&b("server s 127.0.0.1:0"), 7, "server", "invalid port '0'");
    let e = err_both(&b("server s nohost.invalid:80"));
    assert_eq!((e[0].0, e[0].1.as_str()), (7, "server"));
    assert!(
        e[0].2
            .contains("could not resolve address 'nohost.invalid'"),
        "{}",
        e[0].2
    );
    err1_both(
        &b("server s 127.0.0.1:1 pool-max-conn -2"),
        7,
        "server pool-max-conn",
        "must be >= -1",
    );
    // Stricter: HAProxy reads a word that is not a number as 0.
    err1(
        &b("server s 127.0.0.1:1 pool-max-conn x"),
        7,
        "server pool-max-conn",
        "expects an integer",
    );
    let e = err_both(&b("server s 127.0.0.1:1 weight 257"));
    assert_eq!((e[0].0, e[0].1.as_str()), (7, "server weight"));
    assert!(e[0].2.contains("between 0 and 256"));
    err_both(&b("server s 127.0.0.1:1 inter 0"));
    err1(
        &b("server s 127.0.0.1:1 inter 0"),
        7,
        "server inter",
        "greater than zero",
    );
    err1(
        &b("server s 127.0.0.1:1 inter"),
        7,
        "server inter",
        "expects a time",
    );
    err1(
        &b("server s 127.0.0.1:1 rise 0"),
        7,
        "server rise",
        "between 1",
    );
    err1(
        &b("server s 127.0.0.1:1 port x"),
        7,
        "server port",
        "invalid port 'x'",
    );
    err1(
        &b("server s 127.0.0.1:1 addr x"),
        7,
        "server addr",
        "expects an IP address",
    );
    err_both(&b("server s 127.0.0.1:1 frobnicate"));
    err1(
        &b("server s 127.0.0.1:1 frobnicate"),
        7,
        "server frobnicate",
        "unknown server option 'frobnicate'",
    );
    // A misspelt option with an argument gives one message, not a second one for its argument.
    err1(
        &b("server s 127.0.0.1:1 wieght 3"),
        7,
        "server wieght",
        "unknown server option 'wieght'",
    );
    err1(
        &b("default-server frobnicate"),
        7,
        "default-server frobnicate",
        "unknown server option",
    );
    for (opt, kw) in [
        ("non-stick", "server non-stick"),
        ("npn http/1.1", "server npn"),
        ("curves X25519", "server curves"),
        ("minconn 3", "server minconn"),
    ] {
        let e = errs(&b(&format!("server s 127.0.0.1:1 {opt}")));
        assert_eq!((e[0].0, e[0].1.as_str()), (7, kw), "{opt}");
        assert!(e[0]
            .2
            .contains("is supported by HAProxy, not yet by fulcrum"));
    }
    assert_eq!(
        errs(&b("server s 127.0.0.1:1 non-stick minconn 3")).len(),
        2
    );
    // TLS towards servers: a verification without CAs is refused as HAProxy refuses it.
    err1(
        &b("server s 127.0.0.1:1 ssl"),
        7,
        "server",
        "verify is enabled by default but no CA file specified",
    );
    err1(
        &b("server s 127.0.0.1:1 ssl verify optional"),
        7,
        "server verify",
        "unknown verify method 'optional'",
    );
}

#[test]
fn duplicate_names() {
    let e = err_both(&format!(
        "{D}backend b\n server s 127.0.0.1:1\n server s 127.0.0.1:2\n"
    ));
    assert_eq!((e[0].0, e[0].1.as_str()), (8, "server"));
    assert!(
        e[0].2
            .contains("already has a server named 's' (at t.cfg:7)"),
        "{}",
        e[0].2
    );
    let e = err_both(&format!("{D}backend b\nbackend b\n"));
    assert_eq!(
        e,
        [(
            7,
            "backend".into(),
            "backend 'b' has the same name as backend 'b' declared at t.cfg:6".into()
        )]
    );
    let e = err_both(&format!(
        "{D}listen b\n bind :18080\nfrontend b\n bind :18081\n"
    ));
    assert_eq!((e[0].0, e[0].1.as_str()), (8, "frontend"));
    err1(
        &format!("{D}backend b\nlisten b\n bind :18080\n"),
        7,
        "listen",
        "same name as backend 'b'",
    );
}

// ---------- references and modes ----------

#[test]
fn default_backend_must_exist() {
    let e = err_both(&format!(
        "{D}frontend f\n bind :18080\n default_backend nope\n"
    ));
    assert_eq!(
        e,
        [(
            8,
            "default_backend".into(),
            "frontend 'f': no backend or listen section named 'nope'".into()
        )]
    );
    // a frontend of the same name is not a backend
    err1(
        &format!("{D}frontend f\n bind :18080\n default_backend g\nfrontend g\n bind :18081\n"),
        8,
        "default_backend",
        "named 'g'",
    );
    // inherited from defaults: reported where it was written
    err1(
        "defaults\n default_backend nope\nfrontend f\n bind :18080\n",
        2,
        "default_backend",
        "named 'nope'",
    );
}

#[test]
fn frontend_and_backend_modes_must_match() {
    let e = err_both("defaults\n timeout connect 1s\n timeout client 1s\n timeout server 1s\nfrontend f\n mode http\n bind :18080\n default_backend b\nbackend b\n mode tcp\n");
    assert_eq!((e[0].0, e[0].1.as_str()), (8, "default_backend"));
    assert!(
        e[0].2
            .contains("http frontend 'f' cannot use tcp backend 'b' (t.cfg:9)"),
        "{}",
        e[0].2
    );
    // tcp -> http is accepted: the connection is upgraded, as HAProxy 2.6 does
    ok("defaults\n timeout connect 1s\n timeout client 1s\n timeout server 1s\nfrontend f\n mode tcp\n bind :18080\n default_backend b\nbackend b\n mode http\n");
}

/// `tcp-request content switch-mode http [proto h1|h2]` (frontends and listens) and `bind ... proto none`
/// (`mode tcp` only), refused elsewhere or with other words in HAProxy's terms.
#[test]
fn switch_mode_and_proto_none() {
    ok("defaults\n timeout connect 1s\n timeout client 1s\n timeout server 1s\nfrontend f\n mode tcp\n bind :18080\n bind :18081 proto none\n tcp-request inspect-delay 1s\n tcp-request content switch-mode http proto h1 if HTTP\n tcp-request content switch-mode http\n default_backend b\nbackend b\n mode http\n");
    err1(
        "backend b\n mode tcp\n tcp-request content switch-mode http\n",
        3,
        "tcp-request content switch-mode",
        "not allowed in a 'backend' section",
    );
    err1(
        "frontend f\n mode tcp\n bind :18080\n tcp-request content switch-mode tcp\n",
        4,
        "tcp-request content switch-mode",
        "expects a valid mode (got 'tcp')",
    );
    err1(
        "frontend f\n mode tcp\n bind :18080\n tcp-request content switch-mode http proto foo\n",
        4,
        "tcp-request content switch-mode",
        "'proto' expects 'h1' or 'h2' (got 'foo')",
    );
    err1(
        "frontend f\n mode http\n bind :18080 proto none\n",
        3,
        "bind proto",
        "MUX protocol 'none' is not usable in 'mode http'",
    );
}

// ---------- collecting everything ----------

#[test]
fn all_problems_are_reported_in_order() {
    let e = errs("global\n frob\n maxconn x\nbackend b\n mode udp\n server s 127.0.0.1:x\n server t 127.0.0.1:1 weight 999\nfrontend f\n default_backend nope\n");
    let got: Vec<(usize, &str)> = e.iter().map(|(l, k, _)| (*l, k.as_str())).collect();
    assert_eq!(
        got,
        [
            (2, "frob"),
            (3, "maxconn"),
            (5, "mode"),
            (6, "server"),
            (7, "server weight"),
            (8, "frontend"),
            (9, "default_backend")
        ]
    );
}

#[test]
fn display_is_alert_file_line_keyword() {
    let d = parse_str("conf/h.cfg", "global\n frob 1\n").unwrap_err();
    assert_eq!(
        d.to_string(),
        "[ALERT] conf/h.cfg:2: 'frob': unknown keyword 'frob' in 'global' section"
    );
    let d = parse_str("h.cfg", "global\n frob 1\n nope\n").unwrap_err();
    assert_eq!(d.to_string().lines().count(), 2);
}

/// `capture request|response header NAME len N`, `capture cookie NAME len N`: malformed lines are refused.
#[test]
fn capture_lines() {
    let fe = |line: &str| {
        format!("{DEFAULTS}frontend f\n bind :18080\n {line}\n default_backend b\nbackend b\n server s 127.0.0.1:18081\n")
    };
    let c = ok_both(&fe("capture request header Host len 32"));
    assert_eq!(
        c.proxies[0].capture_request,
        [fulcrum_config::haproxy::Capture {
            name: "Host".into(),
            len: 32
        }]
    );
    err1_both(
        &fe("capture request header Host"),
        8,
        "capture",
        "expects 'capture request header NAME len LENGTH'",
    );
    // haproxy reads a non-numeric length as 0; fulcrum is stricter, as with every number.
    err1(
        &fe("capture response header Host len x"),
        8,
        "capture",
        "'len' expects a length",
    );
    err1_both(
        &fe("capture request"),
        8,
        "capture",
        "expects 'capture request header NAME len N'",
    );
    let c = ok_both(&fe("capture cookie SRV len 32"));
    assert_eq!(
        c.proxies[0].capture_cookie,
        Some(fulcrum_config::haproxy::Capture {
            name: "SRV".into(),
            len: 32
        })
    );
    err1(
        &fe("capture cookie SRV"),
        8,
        "capture cookie",
        "expects 'capture cookie NAME len N'",
    );
    // haproxy warns and ignores it in a backend; fulcrum refuses a keyword in the wrong section.
    err1(
        &format!(
            "{DEFAULTS}backend b\n capture request header Host len 3\n server s 127.0.0.1:18081\n"
        ),
        7,
        "capture",
        "",
    );
}

/// `log ... sample RANGES:SIZE`.
#[test]
fn log_sample() {
    let g = |s: &str| format!("global\n log 127.0.0.1:514 sample {s} local0\n");
    let c = ok_both(&g("1,3-4:5"));
    assert_eq!(
        c.global.logs[0].sample,
        Some(fulcrum_config::haproxy::LogSample {
            ranges: vec![(1, 1), (3, 4)],
            size: 5
        })
    );
    for bad in ["0:5", "6:5", "1:0", "4-2:5", "1", "a:5"] {
        err1_both(&g(bad), 2, "log", "invalid sample");
    }
}

/// `program` sections: a name and a command are required, one section per name, only HAProxy's keywords.
#[test]
fn program_section_errors() {
    const MW: &str = "global\n master-worker\n";
    err1_both(
        &format!("{MW}program\n command sleep 1\n"),
        3,
        "program",
        "expects an <id> argument",
    );
    err1_both(
        &format!("{MW}program p x\n command sleep 1\n"),
        3,
        "program",
        "unexpected argument 'x'",
    );
    err1_both(
        &format!("{MW}program p\n user nobody\n"),
        3,
        "program",
        "The program section 'p' lacks a command to launch.",
    );
    err1_both(
        &format!("{MW}program p\n command\n"),
        4,
        "command",
        "expects a command with optional arguments",
    );
    err1_both(
        &format!("{MW}program p\n command sleep 1\nprogram p\n command sleep 2\n"),
        5,
        "program",
        "'p' program section already exists",
    );
    err1_both(
        &format!("{MW}program p\n command sleep 1\n bogus 1\n"),
        5,
        "bogus",
        "unknown keyword 'bogus' in 'program' section",
    );
    err1_both(
        &format!("{MW}program p\n command sleep 1\n option foo\n"),
        5,
        "option",
        "unknown option 'foo'",
    );
    err1_both(
        &format!("{MW}program p\n command sleep 1\n user\n"),
        5,
        "user",
        "'user' expects a user name",
    );
    err1_both(
        "global\n master-worker foo\n",
        2,
        "master-worker",
        "only supports 'no-exit-on-failure'",
    );
}

/// `force-persist` / `ignore-persist` need a condition and a proxy with servers; cookie `maxidle`/`maxlife` take
/// times, `dynamic` with `dynamic-cookie-key`.
#[test]
fn persistence_rules_and_cookie_options() {
    let be = |line: &str| {
        format!("{DEFAULTS}backend b\n cookie S insert maxidle 30m maxlife 2h dynamic\n dynamic-cookie-key k\n {line}\n server s 127.0.0.1:18081\n")
    };
    let c = ok_both(&be("force-persist if { src 10.0.0.0/8 }"));
    let cookie = c.proxies[0].cookie.clone().unwrap();
    assert_eq!((cookie.maxidle, cookie.maxlife), (Some(1800), Some(7200)));
    assert!(cookie.dynamic);
    assert_eq!(cookie.dynamic_key.as_deref(), Some("k"));
    assert_eq!(c.proxies[0].rules.persist.len(), 1);
    ok_both(&be("ignore-persist unless { path_beg /app }"));
    err1_both(&be("force-persist"), 9, "force-persist", "");
    err1(
        &be("ignore-persist foo"),
        9,
        "ignore-persist",
        "expects 'if' or 'unless'",
    );
    err1(
        &format!("{DEFAULTS}backend b\n cookie S insert maxidle soon\n server s 127.0.0.1:18081\n"),
        7,
        "cookie",
        "'maxidle'",
    );
    // In defaults both refuse it; in a frontend both warn and drop it.
    err1_both(
        "defaults\n mode http\n force-persist if TRUE\n",
        3,
        "force-persist",
        "",
    );
    let c = ok_both(&format!(
        "{DEFAULTS}frontend f\n bind :18080\n ignore-persist if TRUE\n default_backend b\nbackend b\n server s 127.0.0.1:18081\n"
    ));
    assert!(c.proxies[0].rules.persist.is_empty());
    assert!(c.warnings[0]
        .to_string()
        .contains("'ignore-persist' ignored because frontend 'f' has no backend capability."));
}

#[test]
fn track_and_server_fetch_references() {
    // D is 5 lines; "backend b" is line 6
    let p = ok_both(&format!(
        "{D}backend b\n server a 127.0.0.1:1 check\n server t 127.0.0.1:2 track a\n server u 127.0.0.1:3 track o/c\n server v 127.0.0.1:4 track t\nbackend o\n server c 127.0.0.1:5 check\n acl up srv_is_up(b/a)\n acl few srv_conn(c) lt 10\n http-request deny if !up || !few\n"
    ));
    let b = p.proxies.iter().find(|p| p.name == "b").unwrap();
    assert_eq!(b.servers[1].track, Some(("b".into(), "a".into())));
    assert_eq!(b.servers[2].track, Some(("o".into(), "c".into())));
    let mut refs = b.referenced_servers.clone();
    refs.sort();
    assert_eq!(refs, ["a", "a", "t"]);
    let o = p.proxies.iter().find(|p| p.name == "o").unwrap();
    assert_eq!(o.referenced_servers, ["c", "c"]);
    err1_both(
        &format!(
            "{D}backend b\n server a 127.0.0.1:1 check\n server t 127.0.0.1:2 track a check\n"
        ),
        8,
        "server track",
        "exclude each other",
    );
    err1_both(
        &format!("{D}backend b\n server a 127.0.0.1:1\n server t 127.0.0.1:2 track a\n"),
        8,
        "server track",
        "no check nor agent",
    );
    err1_both(
        &format!("{D}backend b\n server a 127.0.0.1:1 check\n server t 127.0.0.1:2 track zz\n"),
        8,
        "server track",
        "no server 'zz' in backend 'b'",
    );
    err1_both(
        &format!("{D}backend b\n acl x srv_is_up(zz) -m bool\n http-request deny if x\n server a 127.0.0.1:1\n"),
        7,
        "server fetch",
        "unable to find server 'zz' in backend 'b'",
    );
    err1_both(
        &format!("{D}backend b\n acl x srv_conn(nope/a) gt 1\n http-request deny if x\n server a 127.0.0.1:1\n"),
        7,
        "server fetch",
        "no backend named 'nope'",
    );
}

#[test]
fn set_timeout_rules() {
    ok_both(&format!(
        "{D}listen l\n bind 127.0.0.1:9\n http-request set-timeout server 3s\n http-request set-timeout tunnel int(3),mul(1000)\n server a 127.0.0.1:1\n"
    ));
    for (rule, needle) in [
        ("http-request set-timeout client 3s", "not 'client'"),
        ("http-request set-timeout server 0", "cannot be 0"),
        ("http-request set-timeout server", "exactly 2 arguments"),
        ("http-request set-timeout server nope(1)", "nope"),
    ] {
        err1_both(
            &format!("{D}listen l\n bind 127.0.0.1:9\n {rule}\n server a 127.0.0.1:1\n"),
            8,
            "http-request set-timeout",
            needle,
        );
    }
}

#[test]
fn generate_certificates_errors() {
    let f =
        |bind: &str| format!("{D}frontend f\n bind :18080 {bind}\n default_backend b\nbackend b\n");
    // Both refuse these (haproxy loads the certificate first: the messages differ, the lines agree).
    err1(
        &f("ssl crt /x.pem generate-certificates"),
        7,
        "bind generate-certificates",
        "no CA certificate File configured",
    );
    err1_both(
        &f("ssl crt /x.pem ca-sign-file"),
        7,
        "bind ca-sign-file",
        "missing CAfile path",
    );
    err1_both(
        &f("ssl crt /x.pem generate-certificates ca-sign-file /ca.pem ca-sign-pass"),
        7,
        "bind ca-sign-pass",
        "missing CAkey password",
    );
    // `ca-sign-pass` is taken with a warning: fulcrum, as haproxy 2.6, reads no encrypted CA key.
    let c = parse(&f(
        "ssl crt /x.pem generate-certificates ca-sign-file /ca.pem ca-sign-pass s3cret",
    ))
    .expect("accepted");
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter()
            .any(|w| w.contains("t.cfg:7:") && w.contains("'ca-sign-pass' is not used")),
        "{w:?}"
    );
    // They belong to a whole bind line, not to one crt-list line.
    for opt in [
        "generate-certificates",
        "ca-sign-file /ca.pem",
        "ca-sign-pass x",
    ] {
        let words: Vec<String> = opt.split(' ').map(str::to_string).collect();
        let e = fulcrum_config::haproxy::ssl::crt_list_options(&words, "/l.txt", 3).unwrap_err();
        assert!(
            e[0].contains("/l.txt:3") && e[0].contains("whole bind line"),
            "{e:?}"
        );
    }
    // The cache size is a number.
    err1_both(
        "global\n tune.ssl.ssl-ctx-cache-size -1\n",
        2,
        "tune.ssl.ssl-ctx-cache-size",
        "",
    );
    err1_both(
        "global\n tune.ssl.ssl-ctx-cache-size\n",
        2,
        "tune.ssl.ssl-ctx-cache-size",
        "integer",
    );
    err1_both(
        "global\n tune.ssl.ssl-ctx-cache-size 5 6\n",
        2,
        "tune.ssl.ssl-ctx-cache-size",
        "",
    );
}
