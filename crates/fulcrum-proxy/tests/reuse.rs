//! `http-reuse never|safe|aggressive|always`: which idle server connection a request may take, seen from a server
//! that numbers its connections and the requests on each.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// A server answering every request with `x-conn: N` (its connection, from 1) and `x-req: K` (the request on
/// that connection, from 1). Returns its address and the number of connections it saw closed.
fn numbering_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let (addr, closed, _) = numbering_server_counting_resets();
    (addr, closed)
}

/// [`numbering_server`], also counting the connections that ended with a reset rather than a FIN.
fn numbering_server_counting_resets() -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let closed = Arc::new(AtomicUsize::new(0));
    let resets = Arc::new(AtomicUsize::new(0));
    let seen = closed.clone();
    let reset = resets.clone();
    std::thread::spawn(move || {
        for (n, s) in l.incoming().take(64).enumerate() {
            let Ok(s) = s else { return };
            let seen = seen.clone();
            let reset = reset.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut out = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                for k in 1.. {
                    let mut line = String::new();
                    // Reads a bodiless request head.
                    loop {
                        line.clear();
                        match r.read_line(&mut line) {
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                                reset.fetch_add(1, Ordering::SeqCst);
                                seen.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                            Ok(0) | Err(_) => {
                                seen.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nx-conn: {}\r\nx-req: {k}\r\n\r\n",
                        n + 1
                    );
                    if out.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, closed, resets)
}

/// (connection, request on it) as the server numbered them.
fn seen(r: &Resp) -> (u32, u32) {
    assert_eq!(r.status, 200, "{r:?}");
    let n = |h| r.header(h).unwrap().parse().unwrap();
    (n("x-conn"), n("x-req"))
}

fn proxy(mode: &str, server: SocketAddr) -> Proxy {
    start_proxy(&format!(
        "{DEFAULTS}\nlisten app\n    bind 127.0.0.1:{}\n    http-reuse {mode}\n    server s1 {server}\n",
        free_port()
    ))
}

/// `never`: a server connection carries only the requests of the client connection that opened it, and closes
/// with it.
#[test]
fn never_keeps_a_server_connection_per_client() {
    let (server, closed) = numbering_server();
    let p = proxy("never", server);
    let mut a = Client::connect(p.addr);
    assert_eq!(seen(&a.get("/")), (1, 1));
    assert_eq!(seen(&a.get("/")), (1, 2));
    let mut b = Client::connect(p.addr);
    // Connection 1 is idle, but it is a's.
    assert_eq!(seen(&b.get("/")), (2, 1));
    assert_eq!(seen(&a.get("/")), (1, 3));
    assert_eq!(seen(&b.get("/")), (2, 2));
    drop(a);
    assert!(wait_until(Duration::from_secs(5), || closed
        .load(Ordering::SeqCst)
        == 1));
    let mut c = Client::connect(p.addr);
    assert_eq!(seen(&c.get("/")), (3, 1));
}

/// `safe` (the default): a client's first request gets a connection of its own; later ones take idle ones.
#[test]
fn safe_gives_a_first_request_its_own_connection() {
    let (server, _) = numbering_server();
    let p = proxy("safe", server);
    let mut a = Client::connect(p.addr);
    assert_eq!(seen(&a.get("/")), (1, 1));
    drop(a);
    let mut b = Client::connect(p.addr);
    assert_eq!(seen(&b.get("/")), (2, 1));
    // The most recently used idle connection: b's own.
    assert_eq!(seen(&b.get("/")), (2, 2));
    // Without the keyword: the same.
    let (server, _) = numbering_server();
    let p = start_proxy(&format!(
        "{DEFAULTS}\nlisten app\n    bind 127.0.0.1:{}\n    server s1 {server}\n",
        free_port()
    ));
    assert_eq!(seen(&Client::connect(p.addr).get("/")), (1, 1));
    assert_eq!(seen(&Client::connect(p.addr).get("/")), (2, 1));
}

/// `aggressive`: a first request takes an idle connection only once it has carried more than one request.
#[test]
fn aggressive_reuses_proven_connections_for_first_requests() {
    let (server, _) = numbering_server();
    let p = proxy("aggressive", server);
    let mut a = Client::connect(p.addr);
    assert_eq!(seen(&a.get("/")), (1, 1));
    drop(a);
    let mut b = Client::connect(p.addr);
    // Connection 1 carried one request only.
    assert_eq!(seen(&b.get("/")), (2, 1));
    assert_eq!(seen(&b.get("/")), (2, 2));
    drop(b);
    let mut c = Client::connect(p.addr);
    assert_eq!(seen(&c.get("/")), (2, 3));
}

/// `always`: any request takes any idle connection.
#[test]
fn always_reuses_for_first_requests() {
    let (server, _) = numbering_server();
    let p = proxy("always", server);
    let mut a = Client::connect(p.addr);
    assert_eq!(seen(&a.get("/")), (1, 1));
    drop(a);
    let mut b = Client::connect(p.addr);
    assert_eq!(seen(&b.get("/")), (1, 2));
}

/// `dispatch ADDR:PORT` sends every request there.
#[test]
fn dispatch_sends_to_its_address() {
    let (server, _) = numbering_server();
    let p = start_proxy(&format!(
        "{DEFAULTS}\nlisten app\n    bind 127.0.0.1:{}\n    dispatch {server}\n",
        free_port()
    ));
    assert_eq!(seen(&get(p.addr, "/")).1, 1);
}

/// `pool-max-conn N`: at most N idle connections to the server are kept; one more is closed when its response
/// ends, and `0` keeps none.
#[test]
fn pool_max_conn_limits_idle_connections() {
    let (server, closed) = numbering_server();
    let p = start_proxy(&format!(
        "{DEFAULTS}\nlisten app\n    bind 127.0.0.1:{}\n    http-reuse safe\n    server s1 {server} pool-max-conn 1\n",
        free_port()
    ));
    let mut a = Client::connect(p.addr);
    assert_eq!(seen(&a.get("/")), (1, 1));
    // A first request gets its own connection; the pool already holds one, so this one closes after it.
    let mut b = Client::connect(p.addr);
    assert_eq!(seen(&b.get("/")), (2, 1));
    assert!(wait_until(Duration::from_secs(5), || closed
        .load(Ordering::SeqCst)
        == 1));
    assert_eq!(seen(&b.get("/")), (1, 2));
    let (server, closed) = numbering_server();
    let p = start_proxy(&format!(
        "{DEFAULTS}\nlisten app\n    bind 127.0.0.1:{}\n    http-reuse always\n    server s1 {server} pool-max-conn 0\n",
        free_port()
    ));
    let mut a = Client::connect(p.addr);
    assert_eq!(seen(&a.get("/")), (1, 1));
    assert_eq!(seen(&a.get("/")), (2, 1));
    assert!(wait_until(Duration::from_secs(5), || closed
        .load(Ordering::SeqCst)
        == 2));
}

/// An idle connection the proxy does not keep (its pool is full) is reset, as HAProxy does, so the proxy's side of
/// it leaves no TIME_WAIT socket on a local port: under `Connection: close` load, where every request opens a
/// server connection, graceful closes filled the local port range.
#[test]
fn connections_the_pool_does_not_keep_are_reset() {
    let (server, closed, resets) = numbering_server_counting_resets();
    let p = start_proxy(&format!(
        "{DEFAULTS}\nlisten app\n    bind 127.0.0.1:{}\n    http-reuse safe\n    server s1 {server} pool-max-conn 0\n",
        free_port()
    ));
    for n in 1..=3 {
        let mut c = Client::connect(p.addr);
        assert_eq!(seen(&c.get("/")), (n, 1));
        assert!(wait_until(Duration::from_secs(5), || closed
            .load(Ordering::SeqCst)
            == n as usize));
    }
    assert_eq!(resets.load(Ordering::SeqCst), 3);
}

/// Two worker threads: with `tune.idle-pool.shared on` (the default) a thread without an idle connection takes
/// the other's, so sequential clients all reuse the first server connection whichever thread accepted them;
/// with `off` each thread keeps its own, so clients landing on the second thread open a second connection.
#[test]
fn idle_connections_are_shared_between_threads() {
    for shared in [
        "",
        "    tune.idle-pool.shared on\n",
        "    tune.idle-pool.shared off\n",
    ] {
        let (server, _) = numbering_server();
        let p = start_proxy(&format!(
            "global\n    nbthread 2\n{shared}defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nlisten app\n    bind 127.0.0.1:{}\n    http-reuse always\n    server s1 {server}\n",
            free_port()
        ));
        let mut conns = Vec::new();
        for _ in 0..24 {
            // A new client connection each time: the kernel spreads them over the two threads' listeners.
            let mut c = Client::connect(p.addr);
            conns.push(seen(&c.get("/")).0);
        }
        let distinct: std::collections::BTreeSet<u32> = conns.iter().copied().collect();
        if shared.contains("off") {
            assert_eq!(distinct.len(), 2, "per-thread pools: {conns:?}");
        } else {
            assert_eq!(distinct.len(), 1, "shared pools ({shared:?}): {conns:?}");
        }
    }
}

/// A server keeps no more idle connections than it lately needed, as in HAProxy: clients that each send one
/// request with `Connection: close`, one after the other, need one server connection at a time, and under `http-reuse
/// safe` each of those first requests opens its own; all but one or two are closed when their response ends,
/// instead of piling up in the pool (where nothing would ever reuse them). HAProxy closes them the same way.
#[test]
fn idle_connections_are_kept_only_up_to_the_recent_need() {
    let check = |addr: SocketAddr, closed: &AtomicUsize, who: &str| {
        for n in 1..=10 {
            let mut c = Client::connect(addr);
            c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            let r = c.read_response(false);
            assert_eq!(seen(&r), (n, 1), "{who}");
        }
        assert!(
            wait_until(Duration::from_secs(5), || closed.load(Ordering::SeqCst)
                >= 8),
            "{who} keeps {} of 10 idle server connections",
            10 - closed.load(Ordering::SeqCst)
        );
    };
    let (server, closed) = numbering_server();
    let p = proxy("safe", server);
    check(p.addr, &closed, "fulcrum");
    if haproxy_present() {
        let (server, closed) = numbering_server();
        let port = free_port();
        let _h = start_haproxy(
            &format!(
                "{DEFAULTS}\nlisten app\n    bind 127.0.0.1:{port}\n    http-reuse safe\n    server s1 {server}\n"
            ),
            SocketAddr::from(([127, 0, 0, 1], port)),
        );
        check(SocketAddr::from(([127, 0, 0, 1], port)), &closed, "haproxy");
    }
}

/// `option http-server-close`: the server connection is closed after each response, and closed with a reset as
/// HAProxy closes it, so the proxy's side keeps no TIME_WAIT socket on a local port.
#[test]
fn server_close_resets_the_server_connection() {
    let check = |addr: SocketAddr, closed: &AtomicUsize, resets: &AtomicUsize, who: &str| {
        let mut c = Client::connect(addr);
        for n in 1..=3 {
            assert_eq!(seen(&c.get("/")), (n, 1), "{who}");
            assert!(
                wait_until(Duration::from_secs(5), || closed.load(Ordering::SeqCst)
                    == n as usize),
                "{who}"
            );
        }
        assert_eq!(resets.load(Ordering::SeqCst), 3, "{who}");
    };
    let text = |port: u16, server: SocketAddr| {
        format!(
            "{DEFAULTS}\nlisten app\n    bind 127.0.0.1:{port}\n    option http-server-close\n    server s1 {server}\n"
        )
    };
    let (server, closed, resets) = numbering_server_counting_resets();
    let p = start_proxy(&text(free_port(), server));
    check(p.addr, &closed, &resets, "fulcrum");
    if haproxy_present() {
        let (server, closed, resets) = numbering_server_counting_resets();
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let _h = start_haproxy(&text(port, server), addr);
        check(addr, &closed, &resets, "haproxy");
    }
}
