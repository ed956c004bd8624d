//! A client that closes while its request is under way: without `option abortonclose` the request goes on (a
//! client that only shut its side down still gets the response), with it the request is given up in the queue
//! (`CQ`), while connecting (`CC`) or while the response head is awaited (`CH`, status 400), as HAProxy logs them
//! (the cases of HAProxy's http_abortonclose reg-test, written afresh).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// Collects the lines sent to a UDP syslog socket.
fn syslog() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let sink = common::syslog::Syslog::start();
    (sink.addr, sink.lines.clone())
}

/// The logged line of the request for `path`, waited for.
fn line_for(lines: &Mutex<Vec<String>>, path: &str) -> String {
    let needle = format!("\"GET {path} HTTP/1.1\"");
    let mut found = None;
    wait_until(Duration::from_secs(5), || {
        found = lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains(&needle))
            .cloned();
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("no log line for {path}: {:?}", lines.lock().unwrap()))
}

/// A server that reads one request per connection and never answers; each request line comes out of the channel,
/// then `EOF` once the proxy closed that connection.
fn silent_server() -> (SocketAddr, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut r = BufReader::new(s);
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let _ = tx.send(line.trim_end().to_string());
                let mut rest = [0u8; 1024];
                loop {
                    match r.read(&mut rest) {
                        Ok(0) => {
                            let _ = tx.send("EOF".to_string());
                            return;
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn send_get(addr: SocketAddr, path: &str) -> TcpStream {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .unwrap();
    c
}

#[test]
fn abortonclose_gives_up_requests_whose_client_closed() {
    let (log, lines) = syslog();
    let (srv, seen) = silent_server();
    let dead = free_port();
    let p = start_proxy(&format!(
        "{DEFAULTS}    timeout queue 5s\n    option abortonclose\n\
         frontend fe\n    bind 127.0.0.1:{}\n    option httplog\n    log {log} local0\n\
         \x20   use_backend dead if {{ path /dead }}\n    default_backend be\n\
         backend be\n    server s1 {srv} maxconn 1\n\
         backend dead\n    retries 10\n    server s1 127.0.0.1:{dead}\n",
        free_port()
    ));
    // Waiting for the response head: the server holds it.
    let held = send_get(p.addr, "/held");
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(5)).unwrap(),
        "GET /held HTTP/1.1"
    );
    // In the queue behind it: given up when its client closes, never sent.
    let queued = send_get(p.addr, "/queued");
    std::thread::sleep(Duration::from_millis(200));
    drop(queued);
    let l = line_for(&lines, "/queued");
    assert!(
        l.contains(" be/<NOSRV> ") && l.contains(" -1 ") && l.contains(" CQ-- "),
        "{l}"
    );
    // Now the held one: given up, logged with 400, and the server connection closed.
    drop(held);
    let l = line_for(&lines, "/held");
    assert!(
        l.contains(" be/s1 ") && l.contains(" 400 ") && l.contains(" CH-- "),
        "{l}"
    );
    assert_eq!(seen.recv_timeout(Duration::from_secs(5)).unwrap(), "EOF");
    assert!(
        seen.recv_timeout(Duration::from_millis(200)).is_err(),
        "/queued was sent"
    );
    // Between connection attempts (one second apart): given up at once.
    let t0 = Instant::now();
    drop(send_get(p.addr, "/dead"));
    let l = line_for(&lines, "/dead");
    assert!(
        l.contains(" dead/s1 ") && l.contains(" -1 ") && l.contains(" CC-- "),
        "{l}"
    );
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
}

#[test]
fn without_abortonclose_a_half_closed_client_gets_its_response() {
    let origins = origins(1);
    let p = start_proxy(&format!(
        "{DEFAULTS}listen app\n    bind 127.0.0.1:{}\n{}",
        free_port(),
        server_lines(&origins, "")
    ));
    let mut c = send_get(p.addr, "/");
    c.shutdown(Shutdown::Write).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out:?}");
}

/// A client that stops reading its response is closed once `timeout client` passes without the response making
/// progress, as HAProxy does, instead of holding its connection (and the server's) for ever.
#[test]
fn a_client_that_stops_reading_is_closed_after_timeout_client() {
    let origins = origins(1);
    let p = start_proxy(&format!(
        "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    \
         timeout server 5s\n\nlisten app\n    bind 127.0.0.1:{}\n{}",
        free_port(),
        server_lines(&origins, "")
    ));
    let total = 64 * 1024 * 1024;
    let mut c = send_get(p.addr, &format!("/bytes/{total}"));
    // Read nothing for a while: the socket buffers fill and the proxy's writes stall.
    std::thread::sleep(Duration::from_millis(2500));
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let start = std::time::Instant::now();
    let ended = loop {
        match c.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got += n,
            // A reset also ends it.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
        if start.elapsed() > Duration::from_secs(10) {
            break false;
        }
    };
    assert!(ended, "the connection was not closed ({got} bytes read)");
    assert!(got < total, "the whole response came: {got} bytes");
}
