//! `compression`: responses compressed on the way to the client. The same requests go through fulcrum and through
//! the real haproxy 2.6 (when present) behind the same haproxy.cfg and in front of the same scripted server; what
//! the client gets (status, the headers compression touches, the body once decoded) and the `Accept-Encoding` the
//! server saw must be the same.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

/// The body the server sends: compressible text of `n` bytes.
fn text(n: usize) -> Vec<u8> {
    let line = b"{\"id\": 12345, \"name\": \"fulcrum\", \"tags\": [\"proxy\", \"balancer\"]}\n";
    line.iter().copied().cycle().take(n).collect()
}

/// The server's answers, chosen by the first path segment after `/r/`.
fn answer(case: usize) -> Vec<u8> {
    let body = text(3000);
    let with_len = |head: &str| {
        let mut v = format!("{head}Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        v.extend_from_slice(&body);
        v
    };
    match case {
        0 => with_len("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"),
        1 => {
            let mut v =
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .to_vec();
            for piece in body.chunks(700) {
                v.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                v.extend_from_slice(piece);
                v.extend_from_slice(b"\r\n");
            }
            v.extend_from_slice(b"0\r\n\r\n");
            v
        }
        2 => with_len("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"),
        3 => with_len("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"),
        4 => with_len("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: br\r\n"),
        5 => with_len("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: public, No-Transform\r\n"),
        6 => with_len("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nETag: \"abc\"\r\n"),
        7 => with_len("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nETag: W/\"abc\"\r\n"),
        8 => with_len("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nETag: abc\r\n"),
        9 => with_len("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nETag: \"a\"\r\nETag: \"b\"\r\n"),
        10 => with_len("HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=x\r\n"),
        11 => with_len("HTTP/1.1 200 OK\r\n"),
        12 => with_len("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"),
        13 => {
            let mut v =
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n".to_vec();
            v.extend_from_slice(&body);
            v
        }
        14 => with_len("HTTP/1.1 201 Created\r\nContent-Type: TEXT/PLAIN\r\n"),
        15 => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
        16 => with_len("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nVary: Origin\r\n"),
        17 => b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n".to_vec(),
        _ => with_len("HTTP/1.1 404 Not Found\r\n"),
    }
}

/// A server answering each request from [`answer`] (one request per connection), recording the path and the
/// `Accept-Encoding` it was sent.
/// What the scripted server saw: each request's path and `Accept-Encoding`.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn scripted_server() -> (SocketAddr, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let record = record.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("").to_string();
                let ae = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .filter(|(k, _)| k.eq_ignore_ascii_case("accept-encoding"))
                    .map(|(_, v)| v.trim().to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                let case: usize = path
                    .split('/')
                    .nth(2)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(99);
                record.lock().unwrap().push((path, ae));
                let mut a = answer(case);
                if head.starts_with("HEAD ") {
                    let end = a.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
                    a.truncate(end);
                }
                let _ = s.write_all(&a);
                let _ = s.shutdown(std::net::Shutdown::Write);
                let _ = s.read(&mut chunk);
            });
        }
    });
    (addr, seen)
}

fn config(port: u16, server: SocketAddr) -> String {
    format!(
        "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    compression offload
    http-after-response set-header X-Comp \"%[res.comp] %[res.comp_algo]\"
    use_backend b2 if {{ path_beg /b2/ }}
    default_backend b1

backend b1
    compression algo gzip deflate
    compression type text/plain application/json
    server s {server}

backend b2
    compression algo raw-deflate
    compression algo identity
    server s {server}
"
    )
}

/// Decodes a body by its `Content-Encoding`; `deflate` may be zlib or raw (`raw-deflate`).
fn decode(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .expect("gzip body");
        }
        Some("deflate") => {
            if flate2::read::ZlibDecoder::new(body)
                .read_to_end(&mut out)
                .is_err()
            {
                out.clear();
                flate2::read::DeflateDecoder::new(body)
                    .read_to_end(&mut out)
                    .expect("deflate body");
            }
        }
        _ => out = body.to_vec(),
    }
    out
}

/// What a client sees of one exchange: the status, the headers compression touches, and the decoded body's
/// length and whether it is the server's text.
fn exchange(addr: SocketAddr, method: &str, path: &str, version: &str, headers: &str) -> String {
    let mut c = Client::connect(addr);
    c.send(
        format!("{method} {path} {version}\r\nHost: test\r\nConnection: close\r\n{headers}\r\n")
            .as_bytes(),
    );
    let r = c.read_response(method == "HEAD");
    let mut shown: Vec<String> = r
        .headers
        .iter()
        .filter(|(k, _)| {
            [
                "content-encoding",
                "transfer-encoding",
                "content-length",
                "vary",
                "etag",
                "cache-control",
                "x-comp",
            ]
            .contains(&k.to_ascii_lowercase().as_str())
        })
        .map(|(k, v)| format!("{}: {v}", k.to_ascii_lowercase()))
        .collect();
    shown.sort();
    let body = decode(r.header("content-encoding"), &r.body);
    let same = body.is_empty() || text(body.len()) == body;
    format!(
        "{} [{}] body {} {}",
        r.status,
        shown.join("; "),
        body.len(),
        if same { "ok" } else { "CORRUPT" }
    )
}

/// (method, path, version, request headers)
const CASES: &[(&str, &str, &str, &str)] = &[
    ("GET", "/b1/0", "HTTP/1.1", ""),
    ("GET", "/b1/0", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/0", "HTTP/1.1", "Accept-Encoding: deflate, gzip\r\n"),
    ("GET", "/b1/0", "HTTP/1.1", "Accept-Encoding: gzip;q=0.5, deflate;q=0.6\r\n"),
    ("GET", "/b1/0", "HTTP/1.1", "Accept-Encoding: br\r\nAccept-Encoding: *\r\n"),
    ("GET", "/b1/0", "HTTP/1.1", "Accept-Encoding: *;q=0, br\r\n"),
    ("GET", "/b1/0", "HTTP/1.1", "Accept-Encoding: GZIP;level=9\r\n"),
    ("GET", "/b1/0", "HTTP/1.1", "Accept-Encoding: gzip\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 5.5)\r\n"),
    ("GET", "/b1/0", "HTTP/1.1", "Accept-Encoding: gzip\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1)\r\n"),
    ("GET", "/b1/0", "HTTP/1.0", "Accept-Encoding: gzip\r\n"),
    ("HEAD", "/b1/0", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/1", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/2", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/3", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/4", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/5", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/6", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/7", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/8", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/9", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/10", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/11", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/14", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/15", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/16", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b1/17", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b2/0", "HTTP/1.1", ""),
    ("GET", "/b2/2", "HTTP/1.1", "Accept-Encoding: deflate\r\n"),
    ("GET", "/b2/11", "HTTP/1.1", "Accept-Encoding: gzip\r\n"),
    ("GET", "/b2/1", "HTTP/1.1", "Accept-Encoding: *\r\n"),
];

fn run_cases(addr: SocketAddr, who: &str) -> Vec<String> {
    CASES
        .iter()
        .map(|(m, p, v, h)| {
            // The server finds its case in the second segment: /b1/N/who.
            let path = format!("{p}/{who}");
            let shown = exchange(addr, m, &path, v, h);
            format!("{m} {p} {v} {:?} -> {shown}", h.trim_end())
        })
        .collect()
}

/// The paths a proxy sent to the server, with the `Accept-Encoding` each carried.
fn seen_by_server(seen: &Mutex<Vec<(String, String)>>, who: &str) -> Vec<String> {
    let mut v: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.ends_with(&format!("/{who}")))
        .map(|(p, ae)| format!("{} ae={ae}", p.trim_end_matches(&format!("/{who}"))))
        .collect();
    v.sort();
    v
}

#[test]
fn compressed_responses_match_haproxy() {
    let (server, seen) = scripted_server();
    let port = free_port();
    let _p = start_proxy(&config(port, server));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ours = run_cases(addr, "fulcrum");
    // A few things that hold whatever haproxy says.
    let gz = &ours[1];
    assert!(
        gz.contains("content-encoding: gzip; transfer-encoding: chunked; vary: Accept-Encoding")
            && gz.contains("x-comp: 1 gzip")
            && gz.contains("body 3000 ok"),
        "{gz}"
    );
    assert!(!ours.iter().any(|l| l.contains("CORRUPT")), "{ours:#?}");
    // `res.comp` / `res.comp_algo` in http-after-response: the configuration name (raw-deflate announces deflate).
    let line = |p: &str| ours.iter().find(|l| l.starts_with(p)).unwrap();
    assert!(ours[0].contains("x-comp: 0]"), "{}", ours[0]);
    assert!(
        line("GET /b2/0 ").contains("x-comp: 1 identity"),
        "{ours:#?}"
    );
    assert!(
        line("GET /b2/2 ").contains("x-comp: 1 raw-deflate"),
        "{ours:#?}"
    );
    let our_seen = seen_by_server(&seen, "fulcrum");
    // A body that ends with the server's connection is not compressed. (It is not compared with haproxy's: fulcrum
    // sends such a body chunked to an HTTP/1.1 client, haproxy as it came, until the close.)
    let close = exchange(
        addr,
        "GET",
        "/b1/13/fulcrum",
        "HTTP/1.1",
        "Accept-Encoding: gzip\r\n",
    );
    assert!(
        !close.contains("content-encoding") && close.contains("body 3000 ok"),
        "{close}"
    );

    if !haproxy_present() {
        return;
    }
    let hport = free_port();
    let haddr: SocketAddr = format!("127.0.0.1:{hport}").parse().unwrap();
    let _h = start_haproxy(&config(hport, server), haddr);
    let theirs = run_cases(haddr, "haproxy");
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b, "fulcrum, then haproxy");
    }
    assert_eq!(our_seen, seen_by_server(&seen, "haproxy"));
}

/// A large response streams through compression piece by piece: a 4 MiB body arrives whole and decodes to the
/// server's bytes, in many chunks.
#[test]
fn large_bodies_stream() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = l.local_addr().unwrap();
    let body = text(4 << 20);
    let sent = body.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut b = [0u8; 4096];
            let _ = s.read(&mut b);
            let _ = s.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                    sent.len()
                )
                .as_bytes(),
            );
            for piece in sent.chunks(100_000) {
                let _ = s.write_all(piece);
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    let port = free_port();
    let _p = start_proxy(&config(port, server));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /b1/0 HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut c = Client {
        reader: std::io::BufReader::new(s),
    };
    let r = c.read_response(false);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r.body.len() < body.len() / 20, "{}", r.body.len());
    assert_eq!(decode(Some("gzip"), &r.body), body);
}

/// An HTTP/2 client gets the same compressed answer (curl decodes it).
#[test]
fn http2_clients_get_compressed_responses() {
    let (server, _seen) = scripted_server();
    let port = free_port();
    let _p = start_proxy(&config(port, server));
    let out = std::process::Command::new("curl")
        .args(["-sS", "-v", "--max-time", "10", "--http2-prior-knowledge"])
        .args(["-H", "Accept-Encoding: gzip", "--compressed"])
        .arg(format!("http://127.0.0.1:{port}/b1/0/h2"))
        .output()
        .unwrap_or_else(|e| panic!("curl is needed: {e}"));
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{verbose}");
    assert!(verbose.contains("< HTTP/2 200"), "{verbose}");
    assert!(verbose.contains("< content-encoding: gzip"), "{verbose}");
    assert!(verbose.contains("< vary: Accept-Encoding"), "{verbose}");
    assert!(!verbose.contains("< content-length"), "{verbose}");
    assert_eq!(out.stdout, text(3000));
}

/// `comp_in`, `comp_out`, `comp_byp`, `comp_rsp` in the stats CSV count compressed responses on the frontend and
/// the backend, as haproxy does (servers show none).
#[test]
fn compression_counters() {
    let (server, _seen) = scripted_server();
    let port = free_port();
    let cfg = config(port, server).replace(
        "    compression offload\n",
        "    compression offload\n    stats uri /st\n",
    );
    let _p = start_proxy(&cfg);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut out = 0;
    for _ in 0..2 {
        let r = exchange(
            addr,
            "GET",
            "/b1/0/c",
            "HTTP/1.1",
            "Accept-Encoding: gzip\r\n",
        );
        assert!(r.contains("content-encoding: gzip"), "{r}");
        let mut c = Client::connect(addr);
        c.send(b"GET /b1/0/c HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
        out += c.read_response(false).body.len();
    }
    // Not compressed: no Accept-Encoding.
    exchange(addr, "GET", "/b1/0/c", "HTTP/1.1", "");
    let csv = get(addr, "/st;csv").text();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let col = |row: &str, name: &str| -> String {
        let i = header.iter().position(|h| *h == name).unwrap();
        row.split(',').nth(i).unwrap().to_string()
    };
    let row = |px: &str, sv: &str| -> String {
        csv.lines()
            .find(|l| l.starts_with(&format!("{px},{sv},")))
            .unwrap_or_else(|| panic!("no {px}/{sv} row in\n{csv}"))
            .to_string()
    };
    for (px, sv) in [("fe", "FRONTEND"), ("b1", "BACKEND")] {
        let r = row(px, sv);
        assert_eq!(col(&r, "comp_rsp"), "4", "{px}");
        assert_eq!(col(&r, "comp_in"), "12000", "{px}");
        assert_eq!(col(&r, "comp_byp"), "0", "{px}");
        let comp_out: usize = col(&r, "comp_out").parse().unwrap();
        // The two responses read whole here; the other two were the same size.
        assert_eq!(comp_out, 2 * out, "{px}");
    }
    assert_eq!(col(&row("b1", "s"), "comp_in"), "");
}

/// `res.comp` and `res.comp_algo` in a log format: the same lines as haproxy 2.6.
#[test]
fn log_format_shows_the_compression() {
    let (server, _seen) = scripted_server();
    let run = |haproxy: bool| {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let cfg = config(port, server).replace(
            "    compression offload\n",
            &format!(
                "    compression offload\n    option dontlognull\n    log 127.0.0.1:{} local0\n    log-format \"%ST %[res.comp] %[res.comp_algo]\"\n",
                sock.local_addr().unwrap().port()
            ),
        );
        let drive = || {
            for (path, ae) in [
                ("/b1/0/l", "Accept-Encoding: gzip\r\n"),
                ("/b1/0/l", ""),
                ("/b2/0/l", ""),
            ] {
                exchange(addr, "GET", path, "HTTP/1.1", ae);
            }
        };
        let _keep = if haproxy {
            (None, Some(start_haproxy(&cfg, addr)))
        } else {
            (Some(start_proxy(&cfg)), None)
        };
        drive();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = sock.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let msg = text.split_once("]: ").map_or(&text[..], |(_, m)| m);
            out.push(msg.trim_end().to_string());
        }
        out
    };
    let ours = run(false);
    assert_eq!(ours, ["200 1 gzip", "200 0 -", "200 1 identity"]);
    if haproxy_present() {
        assert_eq!(run(true), ours, "haproxy's lines");
    }
}

/// `tune.comp.maxlevel`: the deflate level of the compressed responses. The gzip header says which end of the
/// scale made it (XFL 4: the fastest, level 1, HAProxy's default; XFL 2: the best, level 9), and the best
/// compresses this text smaller; both decode to the server's text. A level out of 1..9 is refused as haproxy
/// refuses it.
#[test]
fn tune_comp_maxlevel_sets_the_deflate_level() {
    let (server, _seen) = scripted_server();
    let gzip = |global: &str| {
        let port = free_port();
        let cfg = config(port, server).replacen("global\n", &format!("global\n{global}"), 1);
        let _p = start_proxy(&cfg);
        let mut c = Client::connect(format!("127.0.0.1:{port}").parse().unwrap());
        c.send(b"GET /b1/0 HTTP/1.1\r\nHost: test\r\nConnection: close\r\nAccept-Encoding: gzip\r\n\r\n");
        let r = c.read_response(false);
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(decode(Some("gzip"), &r.body), text(3000));
        r.body
    };
    let fast = gzip("");
    let best = gzip("    tune.comp.maxlevel 9\n");
    assert_eq!((fast[8], best[8]), (4, 2), "gzip XFL bytes");
    assert!(best.len() < fast.len(), "{} < {}", best.len(), fast.len());
    for bad in ["0", "10", "x"] {
        let text = format!("global\n    tune.comp.maxlevel {bad}\n");
        let e = fulcrum_config::haproxy::parse_str("t.cfg", &text)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.cfg:2")
                && e.contains("'tune.comp.maxlevel' expects a numeric value between 1 and 9"),
            "{e}"
        );
    }
}
