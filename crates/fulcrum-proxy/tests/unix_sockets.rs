//! Unix stream sockets on `bind` and `server` lines (`/PATH`, `unix@PATH`, `abns@NAME`), in `mode http` and
//! `mode tcp`, clear and with TLS on both sides; a stale socket file is replaced at start, `mode` applies to
//! the file. The configuration is also checked by `haproxy -c`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::pki::{ca, leaf};
use common::*;

/// An HTTP origin on a unix socket: every request gets `200` with body `hello`, then the connection closes.
fn unix_origin(path: &Path) {
    let l = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                );
            });
        }
    });
}

#[test]
fn http_and_tcp_over_unix_sockets_with_and_without_tls() {
    let dir = std::env::temp_dir().join(format!("fulcrum-unix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    ca(&dir);
    leaf(&dir, "srv", "srv.test", &["srv.test"], false, false);
    let d = dir.display();
    unix_origin(&dir.join("origin.sock"));
    // A socket file left by a process that is gone: replaced at start.
    drop(UnixListener::bind(dir.join("plain.sock")).unwrap());
    let abns = format!("fulcrum-test-{}", std::process::id());
    let (port, tcp_port) = (free_port(), free_port());
    let cfg = format!(
        "{DEFAULTS}
listen front
    bind 127.0.0.1:{port}
    server u unix@{d}/tls.sock ssl verify none

listen tls_lst
    bind unix@{d}/tls.sock ssl crt {d}/srv.pem
    http-response set-header X-TLS %[ssl_fc]
    server o unix@{d}/origin.sock

listen plain_lst
    bind {d}/plain.sock mode 600
    server o {d}/origin.sock

listen tcp_front
    mode tcp
    bind 127.0.0.1:{tcp_port}
    server a abns@{abns}

listen tcp_lst
    mode tcp
    bind abns@{abns}
    server o {d}/origin.sock
"
    );
    let p = start_proxy(&cfg);

    // HTTP to a TLS listener on a unix socket, from a server line with `ssl` on a unix socket.
    let r = get(p.addr, "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello");
    assert_eq!(r.header("x-tls"), Some("1"));

    // A client on the socket file (curl --unix-socket); the file has the bind line's mode.
    let mode = std::fs::metadata(dir.join("plain.sock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let out = Command::new("curl")
        .args(["-s", "-i", "--unix-socket"])
        .arg(dir.join("plain.sock"))
        .arg("http://x/")
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("hello"), "{text}");

    // mode tcp: a TCP listener to an abstract socket, then on to a socket file.
    let mut s = TcpStream::connect(("127.0.0.1", tcp_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("hello"), "{text}");

    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_unix_bind_that_cannot_be_made_names_its_line() {
    let cfg = format!(
        "{DEFAULTS}
listen l
    bind /nonexistent-dir-fulcrum/x.sock
    server o 127.0.0.1:1
"
    );
    let config = fulcrum_config::haproxy::parse_str("test.cfg", &cfg).unwrap();
    let e = fulcrum_proxy::start(&config).err().expect("bind fails");
    let text = e.to_string();
    assert!(
        text.contains("test.cfg:11") && text.contains("unix@/nonexistent-dir-fulcrum/x.sock"),
        "{text}"
    );
}
