//! Access logs compared with the real HAProxy: the same configuration and the same requests are run through
//! `haproxy -db` and through fulcrum, each logging to its own UDP syslog socket, and the lines are compared field
//! by field (values that legitimately differ — pid, dates, client ports, timer values — only by shape).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

use common::*;

use common::syslog::Syslog;

/// Builds the config for `log_port`, runs `drive` against haproxy then fulcrum, and returns the syslog lines
/// of each (`expect` lines awaited).
fn run_both(
    cfg: impl Fn(u16, u16) -> String,
    expect: usize,
    drive: impl Fn(SocketAddr),
) -> Option<(Vec<String>, Vec<String>)> {
    if !haproxy_present() {
        return None;
    }
    let hap_log = Syslog::start();
    // Some configs bind `port + 1`..`port + 3` too.
    let port = free_port_block(4);
    let hap_cfg = cfg(port, hap_log.addr.port());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let hap_lines = {
        let _h = start_haproxy(&hap_cfg, addr);
        let before = hap_log.lines.lock().unwrap().len();
        hap_log.lines.lock().unwrap().clear();
        let _ = before;
        drive(addr);
        hap_log.wait(expect)
    };

    let ful_log = Syslog::start();
    let port = free_port_block(4);
    let text = cfg(port, ful_log.addr.port());
    haproxy_accepts(&text);
    let config = fulcrum_config::haproxy::parse_str("test.cfg", &text)
        .unwrap_or_else(|e| panic!("fulcrum rejects the test config:\n{e}\n{text}"));
    let running = fulcrum_proxy::bind(&config)
        .expect("binds")
        .spawn()
        .expect("starts");
    let addr = running.local_addrs()[0].1;
    drive(addr);
    // Lines are emitted when connections end: wait for them before stopping the workers.
    let ful_lines = ful_log.wait(expect);
    running.stop();
    Some((hap_lines, ful_lines))
}

/// A syslog frame split into (PRI, header shape, message).
fn split_rfc3164(frame: &str) -> (String, String) {
    let frame = frame.strip_suffix('\n').expect("frames end with a newline");
    let (head, msg) = frame.split_once("]: ").expect("rfc3164 header");
    let pri = head[..head.find('>').unwrap() + 1].to_string();
    // <134>Nov 24 21:49:47 TAG[PID
    let rest = &head[pri.len()..];
    assert!(
        regex::Regex::new(r"^[A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d [a-z]+\[\d+$")
            .unwrap()
            .is_match(rest),
        "bad rfc3164 header {head:?}"
    );
    (pri, msg.to_string())
}

/// The comparable fields of an httplog message.
fn http_fields(msg: &str, compare_bytes: bool) -> Vec<String> {
    let (head, request) = match msg.find('"') {
        Some(i) => (&msg[..i], &msg[i..]),
        None => (msg, ""),
    };
    let f: Vec<&str> = head.split_whitespace().collect();
    assert_eq!(f.len(), 12, "httplog shape: {msg}");
    let (ip, _port) = f[0].rsplit_once(':').unwrap();
    assert!(
        regex::Regex::new(r"^\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\]$")
            .unwrap()
            .is_match(f[1]),
        "date {}",
        f[1]
    );
    let timers: Vec<String> = f[4]
        .split('/')
        .map(|t| {
            let v: i64 = t.parse().unwrap();
            if v < 0 { "-1" } else { "n" }.to_string()
        })
        .collect();
    assert_eq!(timers.len(), 5, "{msg}");
    vec![
        ip.to_string(),
        f[2].to_string(),
        f[3].to_string(),
        timers.join("/"),
        f[5].to_string(),
        if compare_bytes {
            f[6].to_string()
        } else {
            "B".into()
        },
        f[7].to_string(),
        f[8].to_string(),
        f[9].to_string(),
        f[10].to_string(),
        f[11].to_string(),
        request.to_string(),
    ]
}

fn http_cfg(extra_global: &str, body: &str) -> impl Fn(u16, u16) -> String {
    let (g, b) = (extra_global.to_string(), body.to_string());
    move |port, log| {
        format!(
            "global
    nbthread 1
    log 127.0.0.1:{log} local0
{g}
defaults
    mode http
    log global
    option httplog
    option dontlognull
    retries 0
    timeout connect 1s
    timeout client 5s
    timeout server 1s
    timeout http-request 700ms

listen app
    bind 127.0.0.1:{port}
{}",
            b.replace("PORT", &port.to_string())
        )
    }
}

fn both_messages(hap: &[String], ful: &[String]) -> Vec<(String, String)> {
    assert_eq!(
        hap.len(),
        ful.len(),
        "line counts differ:\nhaproxy: {hap:#?}\nfulcrum: {ful:#?}"
    );
    hap.iter()
        .zip(ful)
        .map(|(h, f)| {
            let (hp, hm) = split_rfc3164(h);
            let (fp, fm) = split_rfc3164(f);
            assert_eq!(hp, fp, "PRI differs:\n{h}\n{f}");
            assert!(f.contains(" fulcrum["), "fulcrum's tag: {f}");
            (hm, fm)
        })
        .collect()
}

fn send_raw(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// `%B` of an httplog message.
fn bytes_of(msg: &str) -> usize {
    msg.split_whitespace().nth(6).unwrap().parse().unwrap()
}

#[test]
fn httplog_normal_404_and_keepalive_match_haproxy() {
    let o = origins(1);
    let cfg = http_cfg("", &server_lines(&o, ""));
    let sizes = Mutex::new(Vec::new());
    let Some((hap, ful)) = run_both(cfg, 4, |addr| {
        let r = send_raw(
            addr,
            b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert!(r.starts_with(b"HTTP/1.1 200"));
        let r404 = send_raw(
            addr,
            b"GET /status/404 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert!(r404.starts_with(b"HTTP/1.1 404"));
        sizes.lock().unwrap().push((r.len(), r404.len()));
        let mut c = Client::connect(addr);
        assert_eq!(c.get("/a?b=c").status, 200);
        assert_eq!(c.get("/status/204").status, 204);
    }) else {
        return;
    };
    let msgs = both_messages(&hap, &ful);
    for (h, f) in &msgs {
        assert_eq!(http_fields(h, false), http_fields(f, false), "\n{h}\n{f}");
        assert!(h.contains(" ---- "), "{h}");
    }
    // fulcrum's %B is the exact count of bytes the client received. HAProxy 2.6 logs the size of the response
    // as it came from the server, minus one, without the `connection: close` it adds: a little less.
    let (ok, not_found) = sizes.lock().unwrap()[1];
    assert_eq!(bytes_of(&msgs[0].1), ok);
    assert_eq!(bytes_of(&msgs[1].1), not_found);
    for (i, wire) in [(0, ok), (1, not_found)] {
        let h = bytes_of(&msgs[i].0);
        assert!(h < wire && h + 21 > wire, "{h} vs {wire}");
    }
}

#[test]
fn httplog_errors_match_haproxy() {
    let o = origins(1);
    let dead = free_port();
    let body = format!(
        "    use_backend down if {{ path /down }}
    use_backend maint if {{ path /maint }}
    http-request deny if {{ path /deny }}
{}
backend down
    server s9 127.0.0.1:{dead}
backend maint
    server s8 127.0.0.1:{dead} disabled
",
        server_lines(&o, "")
    );
    let cfg = http_cfg("", &body);
    let Some((hap, ful)) = run_both(cfg, 5, |addr| {
        assert_eq!(get(addr, "/down").status, 503);
        assert_eq!(get(addr, "/maint").status, 503);
        assert_eq!(get(addr, "/sleep/1500").status, 504);
        assert_eq!(get(addr, "/deny").status, 403);
        let r = send_raw(addr, b"GARBAGE\r\n\r\n");
        assert!(r.starts_with(b"HTTP/1.1 400"), "{r:?}");
    }) else {
        return;
    };
    let msgs = both_messages(&hap, &ful);
    let expected = [
        ("app down/s9 ", "SC--"),
        ("app maint/<NOSRV> ", "SC--"),
        ("app app/s1 ", "sH--"),
        ("app app/<NOSRV> ", "PR--"),
        ("app app/<NOSRV> ", "PR--"),
    ];
    for ((h, f), (names, term)) in msgs.iter().zip(expected) {
        // Error pages are the proxy's own and HAProxy counts bytes its way: sizes are not compared.
        assert_eq!(http_fields(h, false), http_fields(f, false), "\n{h}\n{f}");
        assert!(h.contains(names) && h.contains(term), "{h}");
    }
    assert!(
        msgs[4]
            .1
            .ends_with("400 0 - - PR-- 1/1/0/0/0 0/0 \"<BADREQ>\""),
        "{}",
        msgs[4].1
    );
}

#[test]
fn request_timeout_and_dontlognull_match_haproxy() {
    let o = origins(1);
    let cfg = http_cfg("", &server_lines(&o, ""));
    let Some((hap, ful)) = run_both(cfg, 2, |addr| {
        // Nothing sent: no line with dontlognull (and none for the 408 either).
        drop(TcpStream::connect(addr).unwrap());
        let r = send_raw(addr, b"");
        assert!(r.is_empty() || r.starts_with(b"HTTP/1.1 408"));
        // A partial head that times out: 408, cR.
        let r = send_raw(addr, b"GET / HTTP/1.1\r\n");
        assert!(r.starts_with(b"HTTP/1.1 408"), "{r:?}");
        assert_eq!(get(addr, "/").status, 200);
    }) else {
        return;
    };
    let msgs = both_messages(&hap, &ful);
    for (h, f) in &msgs {
        assert_eq!(http_fields(h, false), http_fields(f, false), "\n{h}\n{f}");
    }
    assert!(msgs[0].1.contains(" 408 0 - - cR-- "), "{}", msgs[0].1);
}

#[test]
fn tcplog_matches_haproxy() {
    let o = origins(1);
    let cfg = move |port: u16, log: u16| {
        format!(
            "global
    nbthread 1
    log 127.0.0.1:{log} local0

defaults
    mode tcp
    log global
    option tcplog
    option dontlognull
    retries 0
    timeout connect 1s
    timeout client 5s
    timeout server 5s

listen app
    bind 127.0.0.1:{port}
    server s1 {}
",
            o[0].addr()
        )
    };
    let Some((hap, ful)) = run_both(cfg, 1, |addr| {
        // Nothing sent: not logged (dontlognull).
        drop(TcpStream::connect(addr).unwrap());
        let r = send_raw(
            addr,
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        );
        assert!(r.starts_with(b"HTTP/1.1 200"));
    }) else {
        return;
    };
    for (h, f) in both_messages(&hap, &ful) {
        let shape = |m: &str| {
            let f: Vec<String> = m.split(' ').map(str::to_string).collect();
            assert_eq!(f.len(), 9, "tcplog shape: {m}");
            assert!(f[5].parse::<u64>().unwrap() > 100, "{m}");
            let timers: Vec<&str> = f[4]
                .split('/')
                .map(|t| if t.starts_with('-') { "-1" } else { "n" })
                .collect();
            vec![
                f[0].rsplit_once(':').unwrap().0.to_string(),
                f[2].clone(),
                f[3].clone(),
                timers.join("/"),
                f[6].clone(),
                f[7].clone(),
                f[8].clone(),
            ]
        };
        assert_eq!(shape(&h), shape(&f), "\n{h}\n{f}");
        assert!(h.contains(" -- "), "{h}");
    }
}

#[test]
fn log_format_matches_haproxy() {
    let o = origins(1);
    const FMT: &str = "%ci|%fi|%bi|%si:%sp|%f|%b|%s|%ST|%ts|%tsc|%HM|%HU|%HP|%HQ|%HV|%{+Q}r|%{+Q}b|%ID|%rc  %hr %hs end%%";
    let cfg = http_cfg(
        "",
        &format!("    log-format \"{FMT}\"\n{}", server_lines(&o, "")),
    );
    let Some((hap, ful)) = run_both(cfg, 2, |addr| {
        assert_eq!(get(addr, "/p/q?x=1&y=%22").status, 200);
        assert_eq!(get(addr, "/status/404").status, 404);
    }) else {
        return;
    };
    for (h, f) in both_messages(&hap, &ful) {
        assert_eq!(h, f);
    }
}

#[test]
fn log_format_sample_expressions_match_haproxy() {
    // Variables set by request and response rules, the connection's and the process's, converters, the status,
    // names, the method, an absent sample, quoting and escaping: what a log line can read once the response
    // has ended.
    let o = origins(1);
    const FMT: &str = "%[var(txn.host)]|%[var(txn.host),upper,field(1,.)]|%[var(txn.code)]|%[var(sess.n)]|\
%[var(proc.p)]|%[var(txn.none)]|%{+Q}[var(txn.none)]|%{+Q}[var(txn.host)]|%[src]|%[src,ipmask(8)]|%[status]|\
%[status,add(1)]|%[method]|%[fe_name]|%[be_name]|%[srv_name]|%[str(a b)]|%{+Q,+E}[var(txn.q)] end";
    let cfg = http_cfg(
        "",
        &format!(
            "    log-format \"{FMT}\"
    http-request set-var(proc.p) str(proc-value)
    http-request set-var(txn.host) req.hdr(host),lower
    http-request set-var(sess.n) int(7)
    http-request set-var(txn.q) req.hdr(x-q)
    http-response set-var(txn.code) status,mul(10)
{}",
            server_lines(&o, "")
        ),
    );
    let Some((hap, ful)) = run_both(cfg, 2, |addr| {
        let get_host = |path: &str, host: &str| {
            let mut c = Client::connect(addr);
            c.send(
                format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Q: say \"hi\" ]\\\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            c.read_response(false).status
        };
        assert_eq!(get_host("/", "WWW.Example.COM"), 200);
        assert_eq!(get_host("/status/404", "b.example"), 404);
    }) else {
        return;
    };
    for (h, f) in both_messages(&hap, &ful) {
        assert_eq!(h, f);
    }
}

#[test]
fn log_format_refuses_what_is_gone_at_log_time() {
    // HAProxy refuses these too ("may not be reliably used here"); the error names the file and line.
    for expr in ["path", "req.hdr(host)", "url", "req.cook(a)", "res.hdr(x)"] {
        let cfg = format!(
            "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
             frontend f\n    bind 127.0.0.1:9\n    log-format \"%[{expr}]\"\n    default_backend b\n\
             backend b\n    server s 127.0.0.1:8\n"
        );
        let err = match fulcrum_config::haproxy::parse_str("t.cfg", &cfg) {
            Err(e) => e.to_string(),
            Ok(c) => match fulcrum_proxy::check(&c) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("fulcrum accepts %[{expr}] in a log-format"),
            },
        };
        assert!(
            err.contains("t.cfg:8")
                && err.contains("log-format")
                && err.contains("no longer available"),
            "{expr}: {err}"
        );
    }
}

#[test]
fn rfc5424_framing_matches_haproxy() {
    let o = origins(1);
    let cfg = move |port: u16, log: u16| {
        format!(
            "global
    nbthread 1
    log 127.0.0.1:{log} format rfc5424 local3 info

defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 1s
    timeout client 5s
    timeout server 5s

listen app
    bind 127.0.0.1:{port}
{}",
            server_lines(&o, "")
        )
    };
    let Some((hap, ful)) = run_both(cfg, 1, |addr| {
        assert_eq!(get(addr, "/").status, 200);
    }) else {
        return;
    };
    assert_eq!(hap.len(), 1, "{hap:?}");
    assert_eq!(ful.len(), 1, "{ful:?}");
    let re = regex::Regex::new(
        r#"^<(\d+)>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d - ([a-z]+) \d+ - - (\S+) \[[^\]]+\] (.*)\n$"#,
    )
    .unwrap();
    let h = re.captures(&hap[0]).unwrap_or_else(|| panic!("{}", hap[0]));
    let f = re.captures(&ful[0]).unwrap_or_else(|| panic!("{}", ful[0]));
    assert_eq!(&h[1], "158");
    assert_eq!(&f[1], "158");
    assert_eq!(&h[2], "haproxy");
    assert_eq!(&f[2], "fulcrum");
    assert_eq!(
        h[3].rsplit_once(':').unwrap().0,
        f[3].rsplit_once(':').unwrap().0
    );
    let tail = |s: &str| {
        let (_, after) = s.split_once(' ').unwrap();
        after.split(' ').skip(2).collect::<Vec<_>>().join(" ")
    };
    let strip_bytes = |s: String| {
        let mut w: Vec<&str> = s.split(' ').collect();
        w[1] = "B";
        w.join(" ")
    };
    assert_eq!(
        strip_bytes(tail(&h[4])),
        strip_bytes(tail(&f[4])),
        "\n{}\n{}",
        &h[4],
        &f[4]
    );
}

#[test]
fn connect_line_without_httplog() {
    let o = origins(1);
    let cfg = move |port: u16, log: u16| {
        format!(
            "global
    nbthread 1
    log 127.0.0.1:{log} local0

defaults
    mode tcp
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s

listen plain
    bind 127.0.0.1:{port}
{}",
            server_lines(&o, "")
        )
    };
    // The readiness probe on haproxy logs one line too: count it on both sides.
    let Some((hap, ful)) = run_both(cfg, 1, |addr| {
        let r = send_raw(
            addr,
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        );
        assert!(r.starts_with(b"HTTP/1.1 200"));
    }) else {
        return;
    };
    let re =
        regex::Regex::new(r"^Connect from 127\.0\.0\.1:\d+ to 127\.0\.0\.1:\d+ \(plain/TCP\)$")
            .unwrap();
    for l in hap.iter().chain(&ful) {
        let (_, msg) = split_rfc3164(l);
        assert!(re.is_match(&msg), "{l}");
    }
    assert!(!ful.is_empty() && !hap.is_empty());
}

/// `capture request header` / `capture response header`: the last value, cut to its length, with HAProxy's `#XX`
/// encoding, in `%hr`/`%hs`/`%hrl`/`%hsl` and in the httplog line, as haproxy writes them.
#[test]
fn header_captures_match_haproxy() {
    let o = origins(1);
    let captures = "    capture request header X-Cap len 6\n    capture request header Absent len 4\n    \
                    capture request header Host len 32\n    capture response header Content-Length len 3\n    \
                    capture response header Nope len 3\n";
    for format in ["    log-format \"%hr|%hs|%hrl|%hsl|%{+Q}r\"\n", ""] {
        let cfg = http_cfg("", &format!("{format}{captures}{}", server_lines(&o, "")));
        let Some((hap, ful)) = run_both(cfg, 2, |addr| {
            let r = send_raw(
                addr,
                b"GET /a HTTP/1.1\r\nHost: cap.example\r\nX-Cap: first\r\nX-Cap: a|{b}\"#c-long\r\nConnection: close\r\n\r\n",
            );
            assert!(
                r.starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&r)
            );
            let r = send_raw(
                addr,
                b"GET /status/404 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            );
            assert!(
                r.starts_with(b"HTTP/1.1 404"),
                "{}",
                String::from_utf8_lossy(&r)
            );
        }) else {
            return;
        };
        for (h, f) in both_messages(&hap, &ful) {
            if format.is_empty() {
                // httplog: compare everything but the client port, dates and timers.
                let cut = |m: &str| {
                    m.split_once(" {")
                        .map(|(_, rest)| rest.to_string())
                        .unwrap()
                };
                assert_eq!(cut(&h), cut(&f), "\n{h}\n{f}");
            } else {
                assert_eq!(h, f);
            }
        }
    }
}

/// `tune.http.logurilen` cuts `%r` where HAProxy cuts it, and `tune.http.maxhdr` refuses a head with as many header
/// lines (HAProxy allows one less) with the same 400 line.
#[test]
fn tune_logurilen_and_maxhdr_match_haproxy() {
    let o = origins(1);
    let cfg = http_cfg(
        "    tune.http.logurilen 12\n    tune.http.maxhdr 5",
        &server_lines(&o, ""),
    );
    let Some((hap, ful)) = run_both(cfg, 2, |addr| {
        let r = send_raw(
            addr,
            b"GET /a-long-path?with=query HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert!(r.starts_with(b"HTTP/1.1 200"));
        let r = send_raw(
            addr,
            b"GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
        );
        assert!(
            r.starts_with(b"HTTP/1.1 400"),
            "{}",
            String::from_utf8_lossy(&r)
        );
    }) else {
        return;
    };
    let msgs = both_messages(&hap, &ful);
    for (h, f) in &msgs {
        assert_eq!(http_fields(h, false), http_fields(f, false), "\n{h}\n{f}");
    }
    assert!(msgs[0].1.contains("\"GET /a-long-\""), "{}", msgs[0].1);
}

#[test]
fn unique_id_in_the_log_matches_haproxy() {
    // `%ID` and the `unique-id` fetch give the ID `unique-id-format` made from the request.
    let o = origins(1);
    let cfg = http_cfg(
        "",
        &format!(
            "    unique-id-format %[req.hdr(x-in)]-%[path]
    log-format \"%ID|%{{+Q}}ID|%[unique-id]\"
{}",
            server_lines(&o, "")
        ),
    );
    let Some((hap, ful)) = run_both(cfg, 2, |addr| {
        for (path, header) in [("/a", "X-In: one\r\n"), ("/b", "")] {
            let mut c = Client::connect(addr);
            c.send(
                format!("GET {path} HTTP/1.1\r\nHost: h\r\n{header}Connection: close\r\n\r\n")
                    .as_bytes(),
            );
            assert_eq!(c.read_response(false).status, 200);
        }
    }) else {
        return;
    };
    let pairs = both_messages(&hap, &ful);
    assert_eq!(pairs[0].1, "one-/a|\"one-/a\"|one-/a");
    for (h, f) in pairs {
        assert_eq!(h, f);
    }
}

#[test]
fn capture_rules_in_the_log_match_haproxy() {
    // `%hr` / `%hs` list every capture slot in order: header lines' and those `capture` rules fill.
    let o = origins(1);
    let cfg = http_cfg(
        "",
        &format!(
            "    log-format \"%hr|%hs\"
    capture request header X-Cap len 6
    declare capture request len 4
    http-request capture req.hdr(x-r) len 3
    http-request capture req.hdr(x-d) id 1
    declare capture response len 5
    capture response header Content-Length len 3
    http-response capture status id 0
{}",
            server_lines(&o, "")
        ),
    );
    let Some((hap, ful)) = run_both(cfg, 2, |addr| {
        for headers in ["X-Cap: abcdefgh\r\nX-R: 12345\r\nX-D: d|#x\r\n", ""] {
            let mut c = Client::connect(addr);
            c.send(
                format!("GET / HTTP/1.1\r\nHost: h\r\n{headers}Connection: close\r\n\r\n")
                    .as_bytes(),
            );
            assert_eq!(c.read_response(false).status, 200);
        }
    }) else {
        return;
    };
    let pairs = both_messages(&hap, &ful);
    assert!(
        pairs[0].1.starts_with("{abcdef|d#7C#23x|123}|{200|"),
        "{}",
        pairs[0].1
    );
    assert!(pairs[1].1.starts_with("{||}|{200|"), "{}", pairs[1].1);
    for (h, f) in pairs {
        assert_eq!(h, f);
    }
}

/// `http-after-response capture`: the slot is filled for the server's responses and for those the proxy makes
/// (`http-request return`), as haproxy 2.6 logs them.
#[test]
fn after_response_capture_in_the_log_matches_haproxy() {
    let o = origins(1);
    let cfg = http_cfg(
        "",
        &format!(
            "    log-format \"%hs\"
    declare capture response len 8
    http-request return status 403 if {{ path /made }}
    http-after-response capture status,concat(-,txn.t) id 0
    http-request set-var(txn.t) str(after)
{}",
            server_lines(&o, "")
        ),
    );
    let Some((hap, ful)) = run_both(cfg, 2, |addr| {
        for (path, status) in [("/", 200), ("/made", 403)] {
            let mut c = Client::connect(addr);
            c.send(
                format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            assert_eq!(c.read_response(false).status, status);
        }
    }) else {
        return;
    };
    let pairs = both_messages(&hap, &ful);
    assert_eq!(pairs[0].1, "{200-afte}");
    // The return came before the variable was set.
    assert_eq!(pairs[1].1, "{403-}");
    for (h, f) in pairs {
        assert_eq!(h, f);
    }
}

/// `log-tag` (global, and a proxy's own over it) and `log-send-hostname NAME`: the syslog header carries them, in
/// both framings, as haproxy writes them.
#[test]
fn log_tag_and_hostname_match_haproxy() {
    let o = origins(1);
    let cfg = move |port: u16, log: u16| {
        format!(
            "global
    nbthread 1
    log-tag gtag
    log-send-hostname myhost
    log 127.0.0.1:{log} local0

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

listen app
    bind 127.0.0.1:{port}
    log global
    log 127.0.0.1:{log} format rfc5424 local0
    log-tag ptag
{}
listen other
    bind 127.0.0.1:{}
    log global
{}",
            server_lines(&o, ""),
            free_port(),
            server_lines(&o, "")
        )
    };
    let Some((hap, ful)) = run_both(cfg, 2, |addr| {
        assert_eq!(get(addr, "/").status, 200);
    }) else {
        return;
    };
    let shapes = |lines: &[String]| {
        let re3164 = regex::Regex::new(r"^<134>\w{3} [ \d]\d \d\d:\d\d:\d\d myhost ptag\[\d+\]: Connect from .* \(app/HTTP\)\n$").unwrap();
        let re5424 =
            regex::Regex::new(r"^<134>1 \S+ myhost ptag \d+ - - Connect from .* \(app/HTTP\)\n$")
                .unwrap();
        let mut v: Vec<&str> = lines
            .iter()
            .map(|l| {
                if re3164.is_match(l) {
                    "3164"
                } else if re5424.is_match(l) {
                    "5424"
                } else {
                    panic!("unexpected frame {l:?}")
                }
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(shapes(&hap), ["3164", "5424"], "{hap:?}");
    assert_eq!(shapes(&ful), ["3164", "5424"], "{ful:?}");
    // Without its own `log-tag`, a proxy uses the global one.
    let o2 = origins(1);
    let log = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    log.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let p = start_proxy(&format!(
        "global\n    log-tag gtag\n{DEFAULTS}\nlisten other\n    bind 127.0.0.1:{}\n    log 127.0.0.1:{} local0\n{}",
        free_port(),
        log.local_addr().unwrap().port(),
        server_lines(&o2, "")
    ));
    assert_eq!(get(p.addr, "/").status, 200);
    let mut buf = [0u8; 2048];
    let n = log.recv(&mut buf).unwrap();
    let line = String::from_utf8_lossy(&buf[..n]);
    assert!(
        regex::Regex::new(r"^<134>\w{3} [ \d]\d \d\d:\d\d:\d\d gtag\[\d+\]: Connect from ")
            .unwrap()
            .is_match(&line),
        "{line}"
    );
}

/// An origin answering every request with a 200 whose 200000-byte body arrives in two parts, the second after
/// `pause`: a response whose head is out long before its end.
fn slow_origin(pause: Duration) -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n");
                let _ = s.write_all(&[b'a'; 1000]);
                std::thread::sleep(pause);
                let _ = s.write_all(&[b'a'; 199_000]);
            });
        }
    });
    addr
}

#[test]
fn logasap_logs_at_the_response_head_with_plus_signs_as_haproxy() {
    // The body's second half waits 800 ms: with `option logasap` the line goes out with the head, so its `%Tt`
    // is short, and `%Tt`, `%Ta` and `%B` carry the `+` saying "at least". `mode tcp` logs once the server
    // connection is up. Same lines (by shape) as haproxy 2.6.
    let origin = slow_origin(Duration::from_millis(800));
    let cfg = move |port: u16, log: u16| {
        format!(
            "global
    nbthread 1
    log 127.0.0.1:{log} local0

defaults
    log global
    option logasap
    option dontlognull
    timeout connect 1s
    timeout client 5s
    timeout server 5s

listen app
    mode http
    option httplog
    bind 127.0.0.1:{port}
    server s1 {origin}

listen fmt
    mode http
    log-format \"%Ta %Tt %B %U %ST\"
    bind 127.0.0.1:{}
    server s1 {origin}

listen raw
    mode tcp
    option tcplog
    bind 127.0.0.1:{}
    server s1 {origin}

listen off
    mode http
    option httplog
    no option logasap
    bind 127.0.0.1:{}
    server s1 {origin}
",
            port + 1,
            port + 2,
            port + 3
        )
    };
    let fetch = |addr: SocketAddr| {
        let r = send_raw(
            addr,
            b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert!(r.len() > 200_000, "{}", r.len());
    };
    let Some((hap, ful)) = run_both(cfg, 4, |addr| {
        for i in 0..4 {
            fetch(SocketAddr::new(addr.ip(), addr.port() + i));
        }
    }) else {
        return;
    };
    let msgs = both_messages(&hap, &ful);
    let shape = |m: &str| -> String {
        // Numbers become `n` (`+n` when marked), so the lines compare by shape.
        let re = regex::Regex::new(r"\d+").unwrap();
        // The client address and the accept date, where the line has them.
        let m = m.split_once("] ").map_or(m, |(_, rest)| rest);
        re.replace_all(m, "n").into_owned()
    };
    for (h, f) in &msgs {
        assert_eq!(shape(h), shape(f), "\n{h}\n{f}");
    }
    let [app, fmt, raw, off] = [0, 1, 2, 3].map(|i| msgs[i].1.clone());
    assert!(
        shape(&app).starts_with("app app/sn n/n/n/n/+n n +n - - ---- n/n/n/n/n "),
        "{app} {}",
        shape(&app)
    );
    assert!(shape(&fmt).starts_with("+n +n +n n n"), "{fmt}");
    assert!(shape(&raw).starts_with("raw raw/sn n/n/+n +n "), "{raw}");
    assert!(
        shape(&off).starts_with("off off/sn n/n/n/n/n n n "),
        "{off}"
    );
    // Logged with the head: before the second half of the body, and with the head's bytes at least.
    let tt = |m: &str, field: usize| -> u64 {
        let f = m.split_whitespace().nth(field).unwrap();
        f.rsplit('/')
            .next()
            .unwrap()
            .trim_start_matches('+')
            .parse()
            .unwrap()
    };
    assert!(tt(&app, 4) < 700, "{app}");
    // The request still counts in its backend's and server's connections (`%bc`, `%sc`) when logged.
    assert!(app.contains(" 1/1/1/1/0 "), "{app}");
    assert!(tt(&off, 4) >= 800, "{off}");
    let bytes = tt(&app, 5);
    assert!((40..200_000).contains(&bytes), "{app}");
    assert_eq!(tt(&raw, 5), 0, "{raw}");
}

/// `option httpslog`: the httplog line and the TLS fields (`fc_err`, `ssl_fc_err`, `ssl_c_err`, `ssl_c_ca_err`,
/// `ssl_fc_is_resumed`, the server name, version and cipher), for a request over TLS and one in clear text on the
/// same proxy, as haproxy 2.6 writes them.
#[test]
fn httpslog_matches_haproxy() {
    let dir = std::env::temp_dir().join(format!("fulcrum-httpslog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    common::pki::ca(&dir);
    common::pki::leaf(
        &dir,
        "srv",
        "www.test1.com",
        &["www.test1.com"],
        false,
        false,
    );
    let o = origins(1);
    let crt = dir.join("srv.pem").display().to_string();
    let body = server_lines(&o, "");
    let cfg = move |port: u16, log: u16| {
        http_cfg("", &body)(port, log).replace("option httplog", "option httpslog")
            + &format!("    bind 127.0.0.1:{} ssl crt {crt}\n", port + 1)
    };
    let Some((hap, ful)) = run_both(cfg, 3, |addr| {
        let r = send_raw(
            addr,
            b"GET /clear HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        );
        assert!(
            r.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&r)
        );
        let tls = addr.port() + 1;
        let requests: [(&str, &[&str]); 2] = [
            (
                "www.test1.com",
                &[
                    "--tls-max",
                    "1.2",
                    "--ciphers",
                    "ECDHE-ECDSA-AES128-GCM-SHA256",
                ],
            ),
            // no server name for an address
            (
                "127.0.0.1",
                &[
                    "--tlsv1.3",
                    "--tls13-ciphers",
                    "TLS_CHACHA20_POLY1305_SHA256",
                ],
            ),
        ];
        for (sni, args) in requests {
            let out = std::process::Command::new("curl")
                .args([
                    "-sk",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--max-time",
                    "5",
                ])
                .args(args)
                .args(["--resolve", &format!("www.test1.com:{tls}:127.0.0.1")])
                .arg(format!("https://{sni}:{tls}/tls"))
                .output()
                .expect("curl is needed");
            assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{args:?}");
        }
    }) else {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let msgs = both_messages(&hap, &ful);
    for (h, f) in &msgs {
        assert_eq!(http_fields(h, false), http_fields(f, false), "\n{h}\n{f}");
    }
    assert!(
        msgs[0]
            .1
            .ends_with("\"GET /clear HTTP/1.1\" 0/-/-/-/0 -/-/-"),
        "{}",
        msgs[0].1
    );
    assert!(
        msgs[1].1.ends_with(
            " 0/0000000000000000/0/0/0 www.test1.com/TLSv1.2/ECDHE-ECDSA-AES128-GCM-SHA256"
        ),
        "{}",
        msgs[1].1
    );
    assert!(
        msgs[2]
            .1
            .ends_with(" 0/0000000000000000/0/0/0 -/TLSv1.3/TLS_CHACHA20_POLY1305_SHA256"),
        "{}",
        msgs[2].1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `http-request set-log-level` and `http-response set-log-level`: the line goes out at the level set last (its
/// syslog PRI), `silent` sends none, and a target whose level is below drops it; compared with haproxy 2.6.
#[test]
fn set_log_level_matches_haproxy() {
    let o = origins(1);
    let body = format!(
        "    http-request set-log-level err if {{ path /err }}\n    http-request set-log-level silent if {{ path /silent }}\n    http-request set-log-level debug if {{ path /debug }}\n    http-response set-log-level notice if {{ status 404 }}\n{}",
        server_lines(&o, "")
    );
    let cfg = http_cfg("", &body);
    let Some((hap, ful)) = run_both(cfg, 4, |addr| {
        for path in ["/plain", "/err", "/silent", "/status/404", "/debug"] {
            let r = send_raw(
                addr,
                format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            assert!(
                r.starts_with(b"HTTP/1.1 "),
                "{}",
                String::from_utf8_lossy(&r)
            );
        }
    }) else {
        return;
    };
    let pri = |frames: &[String]| -> Vec<(String, String)> {
        frames
            .iter()
            .map(|f| {
                let (p, m) = split_rfc3164(f);
                let req = m.split('"').nth(1).unwrap_or("").to_string();
                (p, req)
            })
            .collect()
    };
    let ours = pri(&ful);
    assert_eq!(
        ours,
        [
            ("<134>".to_string(), "GET /plain HTTP/1.1".to_string()),
            ("<131>".to_string(), "GET /err HTTP/1.1".to_string()),
            ("<133>".to_string(), "GET /status/404 HTTP/1.1".to_string()),
            ("<135>".to_string(), "GET /debug HTTP/1.1".to_string()),
        ]
    );
    assert_eq!(ours, pri(&hap));
}

/// `set-log-level` in `tcp-request content` and `tcp-response content` rules: the level of a `mode tcp`
/// connection's line (the response rule after the request rule), and in `mode http` of the request's line;
/// `silent` sends none. Compared with haproxy 2.6 (the PRI of each line).
#[test]
fn tcp_set_log_level_matches_haproxy() {
    let o = origins(1);
    let cfg = move |port: u16, log: u16| {
        format!(
            "global
    nbthread 1
    log 127.0.0.1:{log} local0

defaults
    log global
    option dontlognull
    retries 0
    timeout connect 1s
    timeout client 5s
    timeout server 5s

listen tcp
    mode tcp
    option tcplog
    bind 127.0.0.1:{port}
    tcp-request inspect-delay 1s
    tcp-request content set-log-level err if {{ req.payload(0,8) -m str \"GET /err\" }}
    tcp-request content set-log-level silent if {{ req.payload(0,8) -m str \"GET /sil\" }}
    tcp-request content set-log-level warning if {{ req.payload(0,8) -m str \"GET /res\" }}
    tcp-request content set-var(sess.res) int(1) if {{ req.payload(0,8) -m str \"GET /res\" }}
    tcp-response inspect-delay 1s
    tcp-response content set-log-level debug if {{ var(sess.res) -m int 1 }} {{ res.payload(0,4) -m str HTTP }}
    server s1 {srv}

listen http
    mode http
    option httplog
    bind 127.0.0.1:{p1}
    tcp-request content set-log-level notice if {{ path /notice }}
    server s1 {srv}
",
            srv = o[0].addr(),
            p1 = port + 1
        )
    };
    let get = |addr: SocketAddr, path: &str| {
        let r = send_raw(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert!(r.starts_with(b"HTTP/1.1 200"), "{path}");
    };
    let Some((hap, ful)) = run_both(cfg, 4, |addr| {
        for path in ["/plain", "/err", "/sil", "/res"] {
            get(addr, path);
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let http = SocketAddr::new(addr.ip(), addr.port() + 1);
        get(http, "/notice");
    }) else {
        return;
    };
    let pri = |frames: &[String]| -> Vec<String> {
        let mut v: Vec<String> = frames.iter().map(|f| split_rfc3164(f).0).collect();
        v.sort();
        v
    };
    let ours = pri(&ful);
    // /plain info, /err err, /sil none, /res warning then debug, /notice notice.
    assert_eq!(ours, ["<131>", "<133>", "<134>", "<135>"], "{ful:#?}");
    assert_eq!(ours, pri(&hap), "{hap:#?}");
}
