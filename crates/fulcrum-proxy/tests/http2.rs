//! HTTP/2 on the client side: curl with prior knowledge (`bind ... proto h2`, and the preface on a plain bind, as
//! HAProxy 2.6 detects it), curl over TLS with ALPN `h2`, h2load with several streams per connection, a request
//! body through h2 -> h1, rules per stream, one access-log line per stream, and two attacks scripted with raw
//! frames (rapid reset, a CONTINUATION flood) after which other clients are still served. Every configuration is
//! also checked with the real `haproxy -c`.

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use common::pki::{ca, leaf, Pki};
use common::*;

fn proxy(global: &str, bind: &str, frontend: &str) -> (Proxy, Vec<fulcrum_proxy::origin::Origin>) {
    let o = origins(1);
    let port = free_port();
    let bind = bind.replace("PORT", &port.to_string());
    let cfg = format!(
        "global\n    nbthread 1\n{global}\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\nfrontend f\n{bind}\n{frontend}\n    default_backend b\n\nbackend b\n{}",
        server_lines(&o, "")
    );
    (start_proxy(&cfg), o)
}

struct Curl {
    ok: bool,
    body: String,
    verbose: String,
}

fn curl(args: &[&str]) -> Curl {
    let out = Command::new("curl")
        .args(["-sS", "-v", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("curl is needed: {e}"));
    Curl {
        ok: out.status.success(),
        body: String::from_utf8_lossy(&out.stdout).into_owned(),
        verbose: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn prior_knowledge_on_proto_h2_and_on_a_plain_bind() {
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:PORT proto h2\n    bind 127.0.0.1:{}",
            free_port()
        ),
        "",
    );
    let h2_port = p.addr.port();
    let addrs = p.running.as_ref().unwrap().local_addrs();
    let plain = addrs
        .iter()
        .map(|a| a.1)
        .find(|a| a.port() != h2_port)
        .unwrap();
    for port in [h2_port, plain.port()] {
        let url = format!("http://127.0.0.1:{port}/");
        let c = curl(&["--http2-prior-knowledge", &url]);
        assert!(c.ok, "{}", c.verbose);
        assert!(c.verbose.contains("< HTTP/2 200"), "{}", c.verbose);
        assert!(c.body.starts_with("Hello from"), "{}", c.body);
    }
    // HTTP/1.1 still works on the plain bind; a `proto h2` bind does not speak it (HAProxy closes, too).
    let c = curl(&[&format!("http://{plain}/")]);
    assert!(
        c.ok && c.verbose.contains("< HTTP/1.1 200"),
        "{}",
        c.verbose
    );
    let c = curl(&[&format!("http://127.0.0.1:{h2_port}/")]);
    assert!(!c.ok, "{}", c.verbose);
}

#[test]
fn headers_are_mapped_as_haproxy_maps_them() {
    let (p, _o) = proxy("", "    bind 127.0.0.1:PORT proto h2", "");
    let url = format!("http://127.0.0.1:{}/headers?x=1", p.addr.port());
    let c = curl(&[
        "--http2-prior-knowledge",
        "-H",
        "cookie: a=1",
        "-H",
        "cookie: b=2",
        "-H",
        "te: trailers",
        &url,
    ]);
    assert!(c.ok, "{}", c.verbose);
    let lines: Vec<&str> = c.body.lines().collect();
    // Origin form and HTTP/1.1 to the server; Host from :authority, first; cookies joined, last.
    assert_eq!(lines[0], "GET /headers?x=1 HTTP/1.1", "{}", c.body);
    assert_eq!(
        lines[1].to_ascii_lowercase(),
        format!("host: 127.0.0.1:{}", p.addr.port())
    );
    assert!(
        lines
            .iter()
            .any(|l| l.eq_ignore_ascii_case("cookie: a=1; b=2")),
        "{}",
        c.body
    );
    assert!(
        lines.iter().any(|l| l.eq_ignore_ascii_case("te: trailers")),
        "{}",
        c.body
    );
}

#[test]
fn rules_run_per_stream_and_samples_see_http2() {
    let (p, _o) = proxy(
        "",
        "    bind 127.0.0.1:PORT proto h2",
        "    http-request deny deny_status 403 if { path /denied }\n    http-request return status 200 content-type text/plain lf-string \"url=%[url] path=%[path] host=%[req.hdr(host)] cookie=%[req.fhdr(cookie)]\" if { path /info }",
    );
    let port = p.addr.port();
    let info = curl(&[
        "--http2-prior-knowledge",
        "-H",
        "cookie: a=1",
        "-H",
        "cookie: b=2",
        &format!("http://127.0.0.1:{port}/info?q"),
    ]);
    assert_eq!(
        info.body,
        format!(
            "url=http://127.0.0.1:{port}/info?q path=/info host=127.0.0.1:{port} cookie=a=1; b=2"
        )
    );
    // Three streams on one connection: each its own verdict (curl 7.88 does not reuse a prior-knowledge
    // connection, h2load does).
    if let Some(text) = h2load(&[
        "-n",
        "3",
        "-c",
        "1",
        "-m",
        "1",
        &format!("http://127.0.0.1:{port}/denied"),
        &format!("http://127.0.0.1:{port}/"),
        &format!("http://127.0.0.1:{port}/denied"),
    ]) {
        // h2load counts a 4xx as failed: all 3 done on one connection, with their own statuses.
        assert!(
            text.contains("3 done, 1 succeeded, 2 failed, 0 errored"),
            "{text}"
        );
        assert!(text.contains("status codes: 1 2xx, 0 3xx, 2 4xx"), "{text}");
    }
}

#[test]
fn request_body_goes_to_an_http1_server_and_a_large_download_does_not_stall() {
    let (p, _o) = proxy("", "    bind 127.0.0.1:PORT proto h2", "");
    let port = p.addr.port();
    let file = std::env::temp_dir().join(format!("fulcrum-h2-body-{}", std::process::id()));
    std::fs::write(&file, vec![b'x'; 300_000]).unwrap();
    let c = curl(&[
        "--http2-prior-knowledge",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("http://127.0.0.1:{port}/count"),
    ]);
    let _ = std::fs::remove_file(&file);
    assert!(c.ok, "{}", c.verbose);
    assert_eq!(c.body.trim(), "300000", "{}", c.verbose);
    let c = curl(&[
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        &format!("http://127.0.0.1:{port}/bytes/1048576"),
    ]);
    assert!(c.ok, "{}", c.verbose);
    assert_eq!(c.body, "1048576");
}

fn pki() -> Pki {
    let dir = std::env::temp_dir().join(format!("fulcrum-h2-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    ca(&dir);
    leaf(&dir, "a", "a.test", &["a.test"], false, false);
    Pki { dir }
}

#[test]
fn alpn_h2_over_tls() {
    let k = pki();
    let (p, _o) = proxy(
        "",
        &format!(
            "    bind 127.0.0.1:PORT ssl crt {} alpn h2,http/1.1",
            k.path("a.pem")
        ),
        "",
    );
    let port = p.addr.port();
    let resolve = format!("a.test:{port}:127.0.0.1");
    let ca = k.path("ca.pem");
    let url = format!("https://a.test:{port}/");
    let c = curl(&["--http2", "--cacert", &ca, "--resolve", &resolve, &url]);
    assert!(c.ok, "{}", c.verbose);
    assert!(c.verbose.contains("< HTTP/2 200"), "{}", c.verbose);
    assert!(c.body.starts_with("Hello from"));
    let c = curl(&[
        "--http2",
        "--cacert",
        &ca,
        "--resolve",
        &resolve,
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        &format!("https://a.test:{port}/bytes/1048576"),
    ]);
    assert_eq!(c.body, "1048576", "{}", c.verbose);
    // A client that offers only HTTP/1.1 gets it.
    let c = curl(&["--http1.1", "--cacert", &ca, "--resolve", &resolve, &url]);
    assert!(c.verbose.contains("< HTTP/1.1 200"), "{}", c.verbose);
}

/// h2load's report of a run with `args`; `None` when h2load is missing (outside CI).
fn h2load(args: &[&str]) -> Option<String> {
    match Command::new("h2load").args(args).output() {
        Ok(out) => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(e) => {
            assert!(!peers_required(), "h2load (nghttp2-client) is needed: {e}");
            eprintln!("skipping: h2load missing");
            None
        }
    }
}

#[test]
fn h2load_many_streams_per_connection() {
    let (p, _o) = proxy(
        "    tune.h2.max-concurrent-streams 20",
        "    bind 127.0.0.1:PORT proto h2",
        "",
    );
    let Some(text) = h2load(&[
        "-n",
        "400",
        "-c",
        "4",
        "-m",
        "10",
        &format!("http://127.0.0.1:{}/", p.addr.port()),
    ]) else {
        return;
    };
    assert!(
        text.contains("400 succeeded, 0 failed, 0 errored"),
        "{text}"
    );
    assert!(text.contains("status codes: 400 2xx"), "{text}");
}

#[test]
fn one_access_log_line_per_stream() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let log_port = sock.local_addr().unwrap().port();
    let (p, _o) = proxy(
        "",
        "    bind 127.0.0.1:PORT proto h2",
        &format!("    log 127.0.0.1:{log_port} local0\n    option httplog"),
    );
    let port = p.addr.port();
    let Some(text) = h2load(&[
        "-n",
        "3",
        "-c",
        "1",
        "-m",
        "3",
        &format!("http://127.0.0.1:{port}/a"),
        &format!("http://127.0.0.1:{port}/b"),
        &format!("http://127.0.0.1:{port}/c"),
    ]) else {
        return;
    };
    assert!(text.contains("3 succeeded"), "{text}");
    let mut lines = Vec::new();
    let until = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 4096];
    while lines.len() < 3 && Instant::now() < until {
        if let Ok(n) = sock.recv(&mut buf) {
            lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    assert_eq!(lines.len(), 3, "{lines:?}");
    for path in ["/a", "/b", "/c"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("\"GET http://127.0.0.1:{port}{path} HTTP/2.0\""))),
            "{lines:?}"
        );
    }
}

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// One HTTP/2 frame in the bytes a test read: type, flags, stream, declared length, and as much of the payload as
/// was read.
struct Frame<'a> {
    kind: u8,
    flags: u8,
    stream: u32,
    len: usize,
    payload: &'a [u8],
}

/// The frames whose 9-byte headers lie in `all`, in order.
fn parse_frames(all: &[u8]) -> Vec<Frame<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 9 <= all.len() {
        let len = (usize::from(all[at]) << 16)
            | (usize::from(all[at + 1]) << 8)
            | usize::from(all[at + 2]);
        out.push(Frame {
            kind: all[at + 3],
            flags: all[at + 4],
            stream: u32::from_be_bytes([all[at + 5], all[at + 6], all[at + 7], all[at + 8]])
                & 0x7fff_ffff,
            len,
            payload: &all[at + 9..(at + 9 + len).min(all.len())],
        });
        at += 9 + len;
    }
    out
}

/// GET / on `a`, HPACK-encoded from the static table.
const GET_BLOCK: &[u8] = &[0x82, 0x86, 0x84, 0x41, 0x01, b'a'];

fn h2_start(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    s.write_all(&frame(4, 0, 0, &[])).unwrap();
    s
}

/// Reads until the proxy closes the connection (or 5 s pass); whether it closed, and whether a GOAWAY frame came.
fn read_until_closed(s: &mut TcpStream) -> (bool, bool) {
    let mut all = Vec::new();
    let mut buf = [0u8; 16384];
    let until = Instant::now() + Duration::from_secs(5);
    let mut closed = false;
    while Instant::now() < until {
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Err(e)
                if e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut =>
            {
                closed = true;
                break;
            }
            Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
    // A GOAWAY is frame type 7.
    (closed, parse_frames(&all).iter().any(|f| f.kind == 7))
}

fn still_serving(port: u16) {
    let c = curl(&[
        "--http2-prior-knowledge",
        &format!("http://127.0.0.1:{port}/"),
    ]);
    assert!(c.ok && c.body.starts_with("Hello from"), "{}", c.verbose);
}

#[test]
fn rapid_reset_is_cut_short_and_others_are_served() {
    let (p, _o) = proxy("", "    bind 127.0.0.1:PORT proto h2", "");
    let mut s = h2_start(p.addr);
    let mut burst = Vec::new();
    // Bounded: 2000 streams opened and reset at once.
    for i in 0..2000u32 {
        let id = 2 * i + 1;
        burst.extend(frame(1, 0x4 | 0x1, id, GET_BLOCK));
        burst.extend(frame(3, 0, id, &8u32.to_be_bytes()));
    }
    let _ = s.write_all(&burst);
    assert_eq!(
        read_until_closed(&mut s),
        (true, true),
        "no GOAWAY after a reset flood"
    );
    still_serving(p.addr.port());
}

#[test]
fn continuation_flood_is_refused_and_others_are_served() {
    let (p, _o) = proxy("", "    bind 127.0.0.1:PORT proto h2", "");
    let mut s = h2_start(p.addr);
    // HEADERS without END_HEADERS, then CONTINUATION frames of literal headers without end (bounded: 16 MB).
    let _ = s.write_all(&frame(1, 0x1, 1, GET_BLOCK));
    let mut field = vec![0x40, 0x05];
    field.extend_from_slice(b"x-pad");
    // A 254-byte value.
    field.extend_from_slice(&[0x7f, 0x7f]);
    field.extend_from_slice(&[b'v'; 254]);
    let chunk: Vec<u8> = field.iter().copied().cycle().take(16000).collect();
    let cont = frame(9, 0, 1, &chunk);
    let mut sent = 0;
    while sent < 1000 {
        if s.write_all(&cont).is_err() {
            break;
        }
        sent += 1;
    }
    let (closed, _) = read_until_closed(&mut s);
    assert!(
        closed,
        "the connection stayed open under a CONTINUATION flood"
    );
    assert!(
        sent < 1000,
        "the proxy kept reading a header block of {sent} frames"
    );
    still_serving(p.addr.port());
}

#[test]
fn buffered_request_body_is_seen_by_the_rules() {
    let (p, _o) = proxy(
        "",
        "    bind 127.0.0.1:PORT proto h2",
        "    option http-buffer-request\n    http-request deny deny_status 403 if { req.body -m sub forbidden }",
    );
    let url = format!("http://127.0.0.1:{}/count", p.addr.port());
    let c = curl(&[
        "--http2-prior-knowledge",
        "-w",
        " %{http_code}",
        "-d",
        "this is forbidden",
        &url,
    ]);
    assert!(c.body.ends_with(" 403"), "{}", c.verbose);
    let c = curl(&["--http2-prior-knowledge", "-d", "fine", &url]);
    assert_eq!(c.body.trim(), "4", "{}", c.verbose);
}

#[test]
fn a_client_that_keeps_its_window_closed_is_reset_after_timeout_client() {
    let (p, _o) = proxy(
        "",
        "    bind 127.0.0.1:PORT proto h2",
        "    timeout client 1s",
    );
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s.write_all(PREFACE).unwrap();
    // SETTINGS_INITIAL_WINDOW_SIZE = 0: no stream may receive a byte of data.
    s.write_all(&frame(4, 0, 0, &[0, 4, 0, 0, 0, 0])).unwrap();
    let path = b"/bytes/1048576";
    let mut block = vec![0x82, 0x86, 0x44, path.len() as u8];
    block.extend_from_slice(path);
    block.extend_from_slice(&[0x41, 0x01, b'a']);
    s.write_all(&frame(1, 0x4 | 0x1, 1, &block)).unwrap();
    let started = Instant::now();
    let mut all = Vec::new();
    let mut buf = [0u8; 16384];
    let mut reset = false;
    while !reset && started.elapsed() < Duration::from_secs(8) {
        if let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        reset |= parse_frames(&all)
            .iter()
            .any(|f| f.kind == 3 && f.stream == 1);
    }
    assert!(reset, "the stalled stream was not reset");
    assert!(started.elapsed() >= Duration::from_millis(900));
    still_serving(p.addr.port());
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The frames the proxy sends until it closes or `limit` passes: (type, flags, stream) of each.
fn frames_until(s: &mut TcpStream, limit: Duration) -> Vec<(u8, u8, u32)> {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let mut all = Vec::new();
    let mut buf = [0u8; 16384];
    while started.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    parse_frames(&all)
        .iter()
        .map(|f| (f.kind, f.flags, f.stream))
        .collect()
}

#[test]
fn an_hpack_bomb_is_refused_and_others_are_served() {
    let (p, _o) = proxy("", "    bind 127.0.0.1:PORT proto h2", "");
    let mut s = h2_start(p.addr);
    // A 4000-byte header put in the dynamic table, then referenced 2000 times: 8 MB once decoded, from 6 kB.
    let mut block = GET_BLOCK.to_vec();
    block.extend_from_slice(&[0x40, 0x01, b'x', 0x7f]);
    let mut n = 4000 - 127;
    while n >= 128 {
        block.push((n % 128) as u8 | 0x80);
        n /= 128;
    }
    block.push(n as u8);
    block.extend(std::iter::repeat_n(b'y', 4000));
    block.extend(std::iter::repeat_n(0xbe, 2000));
    s.write_all(&frame(1, 0x4 | 0x1, 1, &block)).unwrap();
    let frames = frames_until(&mut s, Duration::from_secs(2));
    // The request is refused (a reset, or GOAWAY for the connection), never served.
    assert!(
        frames.iter().any(|f| f.0 == 7 || (f.0 == 3 && f.2 == 1)),
        "{frames:?}"
    );
    assert!(!frames.iter().any(|f| f.0 == 0 && f.2 == 1), "{frames:?}");
    still_serving(p.addr.port());
}

#[test]
fn ping_and_settings_floods_stay_bounded_and_others_are_served() {
    let (p, _o) = proxy("", "    bind 127.0.0.1:PORT proto h2", "");
    let mut s = h2_start(p.addr);
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    // Bounded: 50,000 PINGs and 50,000 SETTINGS, never reading the answers.
    let mut burst = Vec::new();
    for i in 0..50_000u64 {
        burst.extend(frame(6, 0, 0, &i.to_be_bytes()));
        burst.extend(frame(4, 0, 0, &[0, 3, 0, 0, 0, 100]));
    }
    let _ = s.write_all(&burst);
    still_serving(p.addr.port());
    drop(s);
    still_serving(p.addr.port());
}

/// The request an HTTP/1.1 server receives from an HTTP/2 client is the one haproxy 2.6 sends: line, header order
/// and values (`TE: trailers` kept where it was).
#[test]
fn the_server_gets_what_haproxy_sends_it() {
    if !haproxy_present() {
        return;
    }
    let o = origins(1);
    let cfg = |port: u16| {
        format!(
            "global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend f\n    bind 127.0.0.1:{port} proto h2\n    default_backend b\nbackend b\n{}",
            server_lines(&o, "")
        )
    };
    let ask = |port: u16| {
        let c = curl(&[
            "--http2-prior-knowledge",
            "-H",
            "cookie: a=1",
            "-H",
            "x-two:  spaced ",
            "-H",
            "te: trailers",
            "-H",
            "x-three: 3",
            "-H",
            "cookie: b=2",
            "--data-binary",
            "body",
            &format!("http://127.0.0.1:{port}/headers?q=1"),
        ]);
        assert!(c.ok, "{}", c.verbose);
        c.body.replace(&port.to_string(), "PORT")
    };
    let hport = free_port();
    let theirs = {
        let _h = start_haproxy(&cfg(hport), format!("127.0.0.1:{hport}").parse().unwrap());
        ask(hport)
    };
    let port = free_port();
    let p = start_proxy(&cfg(port));
    let ours = ask(p.addr.port());
    assert_eq!(ours, theirs);
    drop(p);
    // And the response head the client gets back (a chunked origin response, whose framing HTTP/2 drops).
    let head = |port: u16| {
        let c = curl(&[
            "--http2-prior-knowledge",
            "-s",
            "-i",
            "-o",
            "-",
            &format!("http://127.0.0.1:{port}/bytes/10"),
        ]);
        c.body
            .lines()
            .filter(|l| !l.starts_with("date:"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let hport = free_port();
    let theirs = {
        let _h = start_haproxy(&cfg(hport), format!("127.0.0.1:{hport}").parse().unwrap());
        head(hport)
    };
    assert!(theirs.starts_with("HTTP/2 200"), "{theirs}");
    let p = start_proxy(&cfg(free_port()));
    assert_eq!(head(p.addr.port()), theirs);
}

/// The settings of the first SETTINGS frame the proxy at `addr` sends after the client's preface.
fn server_settings(addr: std::net::SocketAddr) -> Vec<(u16, u32)> {
    let mut s = h2_start(addr);
    let mut head = [0u8; 9];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[3], 4, "the first frame is not SETTINGS");
    let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    payload
        .chunks_exact(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect()
}

/// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441, WebSocket over HTTP/2) is offered, as by haproxy 2.6, and
/// `h2-workaround-bogus-websocket-clients` withdraws it.
#[test]
fn websocket_over_h2_is_offered_unless_the_workaround_is_set() {
    const ENABLE_CONNECT_PROTOCOL: u16 = 8;
    for (global, offered) in [
        ("", true),
        ("    h2-workaround-bogus-websocket-clients\n", false),
    ] {
        let (p, o) = proxy(global, "    bind 127.0.0.1:PORT proto h2", "");
        let ours = server_settings(p.addr);
        assert_eq!(
            ours.contains(&(ENABLE_CONNECT_PROTOCOL, 1)),
            offered,
            "{global:?}: {ours:?}"
        );
        drop(p);
        if haproxy_present() {
            let port = free_port();
            let cfg = format!(
                "global\n{global}defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    \
                 timeout server 5s\nfrontend f\n    bind 127.0.0.1:{port} proto h2\n    default_backend b\n\
                 backend b\n{}",
                server_lines(&o, "")
            );
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let _h = start_haproxy(&cfg, addr);
            let theirs = server_settings(addr);
            assert_eq!(
                theirs.contains(&(ENABLE_CONNECT_PROTOCOL, 1)),
                offered,
                "haproxy, {global:?}: {theirs:?}"
            );
        }
    }
}

/// The `h2_*` fields of `show stat`'s frontend and backend rows, as "F.proxy.field" and "B.proxy.field".
fn h2_stats(sock: &std::path::Path) -> std::collections::BTreeMap<String, u64> {
    show_stat_cells(sock, |c| c.starts_with("h2_"))
        .into_iter()
        .filter_map(|(k, v)| {
            let (row, field) = k.split_once('.')?;
            let (proxy, row) = row.split_once('/')?;
            let letter = match row {
                "FRONTEND" => "F",
                "BACKEND" => "B",
                _ => return None,
            };
            Some((
                format!("{letter}.{proxy}.{field}"),
                v.parse().unwrap_or(u64::MAX),
            ))
        })
        .collect()
}

/// HAProxy's `h2` statistics module: the frames received by type, the protocol errors found and the RST_STREAM
/// and GOAWAY frames sent for them, the connections and streams, on the frontend that HTTP/2 clients reach and on
/// the backend whose server speaks HTTP/2 (a fulcrum frontend in both runs). The same exchanges through
/// haproxy 2.6 give the same figures, except that haproxy counts a connection's first SETTINGS frame twice (three
/// per connection where the peer sends two): fulcrum counts the frames that came.
#[test]
fn h2_statistics_count_frames_errors_and_streams_as_haproxy() {
    let run = |haproxy: bool| {
        let sock = unix_sock_path(if haproxy { "h2stats-h" } else { "h2stats-f" });
        let (front, origin) = (free_port(), free_port());
        let cfg = format!(
            "global\n    nbthread 1\n    stats socket {} level admin\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend f\n    bind 127.0.0.1:{front} proto h2\n    default_backend b\n\
             backend b\n    server s 127.0.0.1:{origin} proto h2\n",
            sock.display()
        );
        // The server: the same program for both runs (fulcrum), so that what the backend receives is the same. It
        // reads a request's body before it answers (else it may reset the stream with the body unread, or not,
        // depending on when the body arrives).
        let origin_sock = unix_sock_path(if haproxy { "h2stats-oh" } else { "h2stats-of" });
        let _origin = start_proxy(&format!(
            "global\n    stats socket {} level admin\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend o\n    bind 127.0.0.1:{origin} proto h2\n\
             \x20   http-request wait-for-body time 1s\n\
             \x20   http-request return status 200 content-type text/plain string ok\n",
            origin_sock.display()
        ));
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], front));
        // What the exchanges add (haproxy's start is probed with a connection that it counts as an HTTP/2 one
        // failing its preface).
        let exchanges = || {
            let before = h2_stats(&sock);
            let origin_before = h2_stats(&origin_sock);
            let url = format!("http://{addr}/");
            assert!(curl(&["--http2-prior-knowledge", &url]).ok);
            assert!(curl(&["--http2-prior-knowledge", "-d", "hello", &url]).ok);
            // A connection error: DATA on stream 0 (GOAWAY PROTOCOL_ERROR).
            let mut s = h2_start(addr);
            s.write_all(&frame(0, 0, 0, b"x")).unwrap();
            let (closed, goaway) = read_until_closed(&mut s);
            assert!(closed && goaway, "closed {closed}, GOAWAY {goaway}");
            std::thread::sleep(Duration::from_millis(300));
            let mut after = h2_stats(&sock);
            for (k, v) in after.iter_mut() {
                *v = v.saturating_sub(before.get(k).copied().unwrap_or(0));
            }
            // What the server received from the proxy, as row `F.o`.
            for (k, v) in h2_stats(&origin_sock) {
                let added = v.saturating_sub(origin_before.get(&k).copied().unwrap_or(0));
                after.insert(k, added);
            }
            after
        };
        let stats = if haproxy {
            let _h = start_haproxy(&cfg, addr);
            exchanges()
        } else {
            let _p = start_proxy(&cfg);
            exchanges()
        };
        let _ = std::fs::remove_file(&sock);
        let _ = std::fs::remove_file(&origin_sock);
        stats
    };
    let ours = run(false);
    let get = |m: &std::collections::BTreeMap<String, u64>, k: &str| {
        *m.get(k).unwrap_or_else(|| panic!("no {k} in {m:?}"))
    };
    // The frontend: three client connections, two requests (one with a body), one connection error (its DATA
    // frame, invalid, not counted as received).
    let f = |k: &str| get(&ours, &format!("F.f.h2_{k}"));
    assert_eq!(
        [
            f("headers_rcvd"),
            f("data_rcvd"),
            f("settings_rcvd"),
            f("detected_conn_protocol_errors"),
            f("goaway_resp"),
            f("total_connections"),
            f("backend_total_streams"),
            f("open_connections"),
        ],
        [2, 1, 5, 1, 1, 3, 2, 0],
        "{ours:?}"
    );
    // The backend: the server's two responses (HEADERS and DATA each), its SETTINGS and acknowledgements.
    let b = |k: &str| get(&ours, &format!("B.b.h2_{k}"));
    assert_eq!(
        [
            b("headers_rcvd"),
            b("data_rcvd"),
            b("backend_total_streams")
        ],
        [2, 2, 2],
        "{ours:?}"
    );
    assert_eq!(b("settings_rcvd"), 2 * b("total_connections"), "{ours:?}");
    // The server: two requests, the body in one DATA frame that ends the stream.
    let o = |k: &str| get(&ours, &format!("F.o.h2_{k}"));
    assert_eq!([o("headers_rcvd"), o("data_rcvd")], [2, 1], "{ours:?}");
    if haproxy_present() {
        let theirs = run(true);
        let same = [
            "headers_rcvd",
            "data_rcvd",
            "rst_stream_rcvd",
            "goaway_rcvd",
            "detected_conn_protocol_errors",
            "detected_strm_protocol_errors",
            "rst_stream_resp",
            "goaway_resp",
            "backend_total_streams",
        ];
        for row in ["F.f", "B.b"] {
            for k in same {
                let key = format!("{row}.h2_{k}");
                assert_eq!(
                    get(&ours, &key),
                    get(&theirs, &key),
                    "{key}: {ours:?} {theirs:?}"
                );
            }
        }
        let key = "F.f.h2_total_connections";
        assert_eq!(get(&ours, key), get(&theirs, key), "{key}");
        // The server gets the same frames from either proxy.
        for k in [
            "headers_rcvd",
            "data_rcvd",
            "rst_stream_rcvd",
            "goaway_rcvd",
        ] {
            let key = format!("F.o.h2_{k}");
            assert_eq!(
                get(&ours, &key),
                get(&theirs, &key),
                "{key}: {ours:?} {theirs:?}"
            );
        }
    }
}

/// Sends GET `path` on stream 1 of `s` and waits for the end of its answer (END_STREAM on stream 1): when it came.
fn answer_of(s: &mut TcpStream, path: &[u8]) -> Instant {
    let mut block = vec![0x82, 0x86, 0x44, path.len() as u8];
    block.extend_from_slice(path);
    block.extend_from_slice(&[0x41, 0x01, b'a']);
    s.write_all(&frame(1, 0x4 | 0x1, 1, &block)).unwrap();
    let started = Instant::now();
    let mut frames = Vec::new();
    while started.elapsed() < Duration::from_secs(5) {
        let got = frames_until(s, Duration::from_millis(20));
        if got.iter().any(|f| f.2 == 1 && f.1 & 0x1 != 0) {
            return Instant::now();
        }
        frames.extend(got);
    }
    panic!("no answer: {frames:?}");
}

/// When the proxy's GOAWAY comes on `s` (within 3 s), if it comes.
fn goaway_of(s: &mut TcpStream) -> Option<Instant> {
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if frames_until(s, Duration::from_millis(20))
            .iter()
            .any(|f| f.0 == 7)
        {
            return Some(Instant::now());
        }
    }
    None
}

/// `timeout http-keep-alive` counts from the end of the connection's last stream, not from when it began: a
/// stream served for longer than the timeout leaves the connection open for the whole timeout after its answer.
#[test]
fn the_keep_alive_timeout_counts_from_the_last_stream_end() {
    let (p, _o) = proxy(
        "",
        "    bind 127.0.0.1:PORT proto h2",
        "    timeout http-keep-alive 800ms",
    );
    let mut s = h2_start(p.addr);
    let asked = Instant::now();
    let answered = answer_of(&mut s, b"/sleep/1500");
    assert!(answered - asked >= Duration::from_millis(1400));
    let closed = goaway_of(&mut s).expect("no GOAWAY");
    assert!(
        closed - answered >= Duration::from_millis(750),
        "closed {:?} after the answer",
        closed - answered
    );
}

/// The timeout starts when the last stream ends, not at the connection's next periodic wake-up (up to a second
/// later): a connection whose stream outlived its first idle deadline is closed one timeout after the answer.
#[test]
fn an_http2_connection_left_without_streams_is_closed_on_time() {
    let (p, _o) = proxy(
        "",
        "    bind 127.0.0.1:PORT proto h2",
        "    timeout http-keep-alive 300ms",
    );
    let mut s = h2_start(p.addr);
    let answered = answer_of(&mut s, b"/sleep/500");
    let closed = goaway_of(&mut s).expect("no GOAWAY");
    let after = closed - answered;
    assert!(
        after >= Duration::from_millis(250) && after < Duration::from_millis(650),
        "closed {after:?} after the answer"
    );
}

/// The header block of a response, as the proxy writes it on stream 1 after a GET.
fn response_block(addr: std::net::SocketAddr) -> Vec<u8> {
    let mut s = h2_start(addr);
    s.write_all(&frame(1, 0x4 | 0x1, 1, GET_BLOCK)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let mut all = Vec::new();
    let mut buf = [0u8; 16384];
    while started.elapsed() < Duration::from_secs(5) {
        if let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        if let Some(f) = parse_frames(&all)
            .iter()
            .find(|f| f.kind == 1 && f.payload.len() == f.len)
        {
            return f.payload.to_vec();
        }
    }
    panic!("no HEADERS frame: {all:?}");
}

/// Header names and values go out as plain literals (HPACK strings with the Huffman bit clear), as haproxy 2.6
/// writes them: the custom header's name and value appear as they are, each after its length byte.
#[test]
fn header_strings_are_written_raw_as_haproxy_writes_them() {
    let frontend = "    http-request return status 200 content-type text/plain string hello hdr x-custom-header some-longer-value-here\n";
    let raw = |block: &[u8], s: &str| {
        let mut want = vec![s.len() as u8];
        want.extend_from_slice(s.as_bytes());
        block.windows(want.len()).any(|w| w == want)
    };
    let port = free_port();
    let cfg = format!(
        "global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    \
         timeout server 5s\nfrontend f\n    bind 127.0.0.1:{port} proto h2\n{frontend}"
    );
    for haproxy in [false, true] {
        if haproxy && !haproxy_present() {
            continue;
        }
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let _p = start_either(&cfg, haproxy, addr);
        let block = response_block(addr);
        for s in ["x-custom-header", "some-longer-value-here", "text/plain"] {
            assert!(
                raw(&block, s),
                "haproxy {haproxy}: {s:?} not raw in {block:02x?}"
            );
        }
    }
}
