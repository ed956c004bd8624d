//! `fulcrum genhash` against an HTTP server on 127.0.0.1: the digest printed, genhash's flags (-s -p -u -V
//! -P -v, long forms too), and the failures.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::thread;

/// MD5 of `hello world`, as `md5sum` prints it.
const HELLO_MD5: &str = "5eb63bbbe01eeed093cb22bb8f5acdc3";

/// An HTTP server that answers every request with `status` and `hello world`; request heads are sent on
/// the channel.
fn server(status: u16) -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            while !head.ends_with("\r\n\r\n") {
                if reader.read_line(&mut head).unwrap_or(0) == 0 {
                    break;
                }
            }
            let _ = tx.send(head);
            let body = "hello world";
            let _ = write!(
                stream,
                "HTTP/1.0 {status} Something\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, rx)
}

fn genhash(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fulcrum"))
        .arg("genhash")
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn prints_the_md5_of_the_body() {
    let (addr, heads) = server(200);
    let port = addr.port().to_string();
    let out = genhash(&["-s", "127.0.0.1", "-p", &port, "-u", "/index.html"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{HELLO_MD5}\n"));
    assert_eq!(
        heads.recv().unwrap(),
        format!("GET /index.html HTTP/1.0\r\nUser-Agent: fulcrum-checker\r\nHost: {addr}\r\n\r\n")
    );
}

#[test]
fn long_flags_virtualhost_and_protocol() {
    let (addr, heads) = server(200);
    let port = addr.port().to_string();
    let out = genhash(&[
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--url",
        "/status",
        "--use-virtualhost",
        "www.example.test",
        "--protocol",
        "1.1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{HELLO_MD5}\n"));
    assert_eq!(
        heads.recv().unwrap(),
        "GET /status HTTP/1.1\r\nUser-Agent: fulcrum-checker\r\nConnection: close\r\nHost: www.example.test\r\n\r\n"
    );
    let out = genhash(&[
        "-s",
        "127.0.0.1",
        "-p",
        &port,
        "-u",
        "/",
        "-V",
        "v.test",
        "-P",
        "1.0C",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        heads.recv().unwrap(),
        "GET / HTTP/1.0\r\nUser-Agent: fulcrum-checker\r\nConnection: close\r\nHost: v.test\r\n\r\n"
    );
}

#[test]
fn verbose_shows_the_exchange_and_ends_with_the_digest() {
    // genhash hashes whatever the status: a 404 page has a digest too.
    let (addr, _heads) = server(404);
    let port = addr.port().to_string();
    let out = genhash(&[
        "-v",
        "-s",
        "127.0.0.1",
        "-p",
        &port,
        "-u",
        "/missing",
        "-t",
        "5",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("GET /missing HTTP/1.0\r\n"), "{stdout}");
    assert!(
        stdout.contains("HTTP/1.0 404 Something\r\nContent-Length: 11\r\n"),
        "{stdout}"
    );
    assert!(stdout.contains("Status: 404\n"), "{stdout}");
    assert!(stdout.contains("Body: 11 bytes\n"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some(HELLO_MD5));
}

#[test]
fn failures() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let out = genhash(&["-s", "127.0.0.1", "-p", &closed, "-u", "/", "-t", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        format!("genhash: 127.0.0.1:{closed}/: connection failed: Connection refused\n")
    );
    // Usage errors: a missing -u, a server that is not an IP address, an unknown protocol, a bad path.
    for args in [
        &["-s", "127.0.0.1", "-p", "80"][..],
        &["-s", "localhost", "-p", "80", "-u", "/"],
        &["-s", "127.0.0.1", "-p", "80", "-u", "/", "-P", "2"],
        &["-s", "127.0.0.1", "-p", "80", "-u", "/", "-t", "0"],
    ] {
        let out = genhash(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = genhash(&["-s", "127.0.0.1", "-p", "80", "-u", "/a b"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "genhash: invalid url path \"/a b\"\n");
}
