//! The TCP options of listening sockets (`bind ... backlog defer-accept tfo tcp-ut`, `option tcp-smart-accept`)
//! and of server connections (`option tcp-smart-connect`), read back from the sockets themselves and compared with
//! what the real HAProxy sets for the same lines.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::time::Duration;

use common::*;

/// What a listening socket says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listening {
    /// TCP_QUICKACK: false when the ACK of received data is delayed (`tcp-smart-accept`).
    quickack: bool,
    /// TCP_DEFER_ACCEPT as the kernel reports it (seconds, rounded to its retransmission steps).
    defer_accept: i32,
    /// TCP_FASTOPEN: the queue of pending fast-open requests, 0 when off.
    fast_open: i32,
    /// TCP_USER_TIMEOUT in milliseconds.
    user_timeout: i32,
    /// The listen queue (`ss`'s Send-Q of a listening socket).
    backlog: u32,
}

fn int_opt(fd: RawFd, level: i32, opt: i32) -> i32 {
    let mut v: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: `fd` is an open socket for the duration of the call; `v` and `len` are valid for writes.
    let r =
        unsafe { libc::getsockopt(fd, level, opt, std::ptr::from_mut(&mut v).cast(), &mut len) };
    assert_eq!(
        r,
        0,
        "getsockopt {opt}: {}",
        std::io::Error::last_os_error()
    );
    v
}

/// The port of `fd`'s local (`peer` false) or remote address when it is an IPv4 socket.
fn port_of(fd: RawFd, peer: bool) -> Option<u16> {
    // SAFETY: a zeroed sockaddr_in is a valid value to be overwritten by getsockname/getpeername.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let at = std::ptr::from_mut(&mut sa).cast();
    // SAFETY: `sa` and `len` are valid for writes of the sizes given.
    let r = unsafe {
        if peer {
            libc::getpeername(fd, at, &mut len)
        } else {
            libc::getsockname(fd, at, &mut len)
        }
    };
    (r == 0 && i32::from(sa.sin_family) == libc::AF_INET).then(|| u16::from_be(sa.sin_port))
}

/// The local port of `fd` when it is a listening IPv4 TCP socket.
fn listening_port(fd: RawFd) -> Option<u16> {
    let listening = int_opt_checked(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN) == Some(1);
    port_of(fd, false).filter(|_| listening)
}

fn int_opt_checked(fd: RawFd, level: i32, opt: i32) -> Option<i32> {
    let mut v: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: `fd` is open for the duration of the call; `v` and `len` are valid for writes.
    let r =
        unsafe { libc::getsockopt(fd, level, opt, std::ptr::from_mut(&mut v).cast(), &mut len) };
    (r == 0).then_some(v)
}

/// Duplicates of the sockets of process `pid` (this process included) that `keep` accepts, taken with
/// pidfd_getfd.
fn sockets_of(pid: u32, keep: impl Fn(RawFd) -> bool) -> Vec<OwnedFd> {
    // SAFETY: plain system calls; the descriptors they return are owned by the OwnedFd made of them.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    assert!(
        pidfd >= 0,
        "pidfd_open: {}",
        std::io::Error::last_os_error()
    );
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let Ok(target) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if !std::fs::read_link(entry.path())
            .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
        {
            continue;
        }
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0) };
        if fd < 0 {
            continue;
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        if keep(fd.as_raw_fd()) {
            found.push(fd);
        }
    }
    found
}

/// A duplicate of the listening socket on `port` held by process `pid`.
fn listener_of(pid: u32, port: u16) -> OwnedFd {
    sockets_of(pid, |fd| listening_port(fd) == Some(port))
        .pop()
        .unwrap_or_else(|| panic!("process {pid} has no listening socket on port {port}"))
}

/// The Send-Q `ss` shows for the listener on `port`: its backlog.
fn backlog(port: u16) -> u32 {
    let out = Command::new("ss")
        .args(["-Hltn", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("ss shows no listener on {port}"));
    line.split_whitespace()
        .nth(2)
        .and_then(|q| q.parse().ok())
        .unwrap_or_else(|| panic!("no Send-Q in {line:?}"))
}

fn listening(pid: u32, port: u16) -> Listening {
    let fd = listener_of(pid, port);
    let fd = fd.as_raw_fd();
    Listening {
        quickack: int_opt(fd, libc::IPPROTO_TCP, libc::TCP_QUICKACK) != 0,
        defer_accept: int_opt(fd, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT),
        fast_open: int_opt(fd, libc::IPPROTO_TCP, libc::TCP_FASTOPEN),
        user_timeout: int_opt(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT),
        backlog: backlog(port),
    }
}

/// A one-frontend configuration: `mode`, the `option` lines and the `bind` options.
fn config(port: u16, mode: &str, options: &str, bind: &str, origin: SocketAddr) -> String {
    format!(
        "global
    nbthread 1
defaults
    mode {mode}
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
{options}    bind 127.0.0.1:{port} {bind}
    default_backend be
backend be
    server s {origin}
"
    )
}

/// A frontend's lines and what its listening socket must then say.
struct Case {
    mode: &'static str,
    options: &'static str,
    bind: &'static str,
    quickack: bool,
    deferred: bool,
    fast_open: i32,
    user_timeout: i32,
    /// The listen queue, when the case sets one (the defaults of the two proxies differ).
    queue: Option<u32>,
}

const PLAIN: Case = Case {
    mode: "http",
    options: "",
    bind: "",
    quickack: false,
    deferred: false,
    fast_open: 0,
    user_timeout: 0,
    queue: None,
};

#[test]
fn listening_sockets_carry_the_options_haproxy_sets() {
    let o = origins(1);
    let cases = [
        // `mode http`: the ACK of a request leaves with the response.
        PLAIN,
        Case {
            bind: "defer-accept tfo backlog 77 tcp-ut 20s",
            deferred: true,
            fast_open: 77,
            user_timeout: 20_000,
            queue: Some(77),
            ..PLAIN
        },
        Case {
            options: "    no option tcp-smart-accept\n",
            quickack: true,
            ..PLAIN
        },
        Case {
            mode: "tcp",
            quickack: true,
            ..PLAIN
        },
        Case {
            mode: "tcp",
            options: "    option tcp-smart-accept\n",
            bind: "backlog 33",
            queue: Some(33),
            ..PLAIN
        },
        Case {
            mode: "tcp",
            bind: "tfo",
            quickack: true,
            ..PLAIN
        },
    ];
    let haproxy = haproxy_present();
    for Case {
        mode,
        options,
        bind,
        quickack,
        deferred,
        fast_open,
        user_timeout,
        queue,
    } in cases
    {
        let what = format!("mode {mode}, {options:?}, bind {bind:?}");
        let port = free_port();
        let text = config(port, mode, options, bind, o[0].addr());
        let p = start_proxy(&text);
        let ours = listening(std::process::id(), p.addr.port());
        assert_eq!(ours.quickack, quickack, "{what}: {ours:?}");
        assert_eq!(ours.defer_accept > 0, deferred, "{what}: {ours:?}");
        assert_eq!(ours.user_timeout, user_timeout, "{what}: {ours:?}");
        if let Some(q) = queue {
            assert_eq!(ours.backlog, q, "{what}: {ours:?}");
        }
        // `tfo` alone: the fast-open queue is as long as the listen queue.
        let want_fo = if bind == "tfo" {
            ours.backlog as i32
        } else {
            fast_open
        };
        assert_eq!(ours.fast_open, want_fo, "{what}: {ours:?}");
        drop(p);
        if haproxy {
            let hport = free_port();
            let h = start_haproxy(&config(hport, mode, options, bind, o[0].addr()), sa(hport));
            let theirs = listening(h.pid(), hport);
            let comparable = |l: &Listening| Listening {
                backlog: if queue.is_some() { l.backlog } else { 0 },
                fast_open: if bind == "tfo" {
                    i32::from(l.fast_open > 0)
                } else {
                    l.fast_open
                },
                ..l.clone()
            };
            assert_eq!(
                comparable(&ours),
                comparable(&theirs),
                "{what}: fulcrum and haproxy differ"
            );
        }
    }
}

fn sa(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The server-side state `ss` gives the connections to `port` (`ESTAB`, `SYN-RECV`, ...).
fn server_states(port: u16) -> Vec<String> {
    let out = Command::new("ss")
        .args(["-Htan", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|s| s != "LISTEN")
        .collect()
}

/// `defer-accept`: a connection that sent nothing stays with the kernel (SYN-RECV on the proxy's side, never
/// accepted); its first bytes hand it over and it is served. Without the option it is accepted at once. HAProxy
/// behaves the same way on the same lines.
#[test]
fn defer_accept_hands_a_connection_over_with_its_first_bytes() {
    let o = origins(1);
    let check = |port: u16, deferred: bool, who: &str| {
        let mut c = TcpStream::connect(sa(port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let want = if deferred { "SYN-RECV" } else { "ESTAB" };
        assert_eq!(
            server_states(port),
            [want],
            "{who}, defer-accept {deferred}"
        );
        c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{who}: {answer}");
    };
    let haproxy = haproxy_present();
    for (bind, deferred) in [("defer-accept", true), ("", false)] {
        let port = free_port();
        let p = start_proxy(&config(port, "http", "", bind, o[0].addr()));
        check(p.addr.port(), deferred, "fulcrum");
        drop(p);
        if haproxy {
            let hport = free_port();
            let _h = start_haproxy(&config(hport, "http", "", bind, o[0].addr()), sa(hport));
            // start_haproxy's readiness probe left a connection that sent nothing: wait until it is gone.
            assert!(wait_until(Duration::from_secs(5), || server_states(hport).is_empty()));
            check(hport, deferred, "haproxy");
        }
    }
}

/// An origin that answers each connection once and reports how many TCP segments its side had received when
/// the request was read (TCP_INFO's tcpi_segs_in, counted from the SYN).
fn counting_origin() -> (SocketAddr, std::sync::mpsc::Receiver<u32>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let mut info = [0u8; 232];
            let mut len = info.len() as libc::socklen_t;
            // SAFETY: `info` and `len` are valid for writes of the size given.
            let r = unsafe {
                libc::getsockopt(
                    s.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    libc::TCP_INFO,
                    info.as_mut_ptr().cast(),
                    &mut len,
                )
            };
            assert_eq!(r, 0);
            // struct tcp_info: tcpi_segs_in is the u32 at byte 140.
            let segs_in = u32::from_ne_bytes(info[140..144].try_into().unwrap());
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            if tx.send(segs_in).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

/// `option tcp-smart-connect`: the last ACK of the handshake with a server leaves with the request, so the
/// server receives two segments (SYN, then ACK and request together) instead of three. HAProxy 2.6 takes the
/// option but its HTTP connections still send the three (the request is not ready when it connects).
#[test]
fn smart_connect_sends_the_handshake_ack_with_the_request() {
    for (options, segments) in [("    option tcp-smart-connect\n", 2), ("", 3)] {
        let (origin, seen) = counting_origin();
        let port = free_port();
        let text = format!(
            "{DEFAULTS}
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
{options}    server s {origin}
"
        );
        let p = start_proxy(&text);
        for _ in 0..3 {
            let mut c = Client::connect(p.addr);
            c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            assert_eq!(c.read_response(false).status, 200);
            let got = seen.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(got, segments, "{options:?}");
        }
    }
}

/// `server ... tcp-ut T`: the connections to that server carry TCP_USER_TIMEOUT (read back from the proxy's idle
/// server connection, in both proxies).
#[test]
fn server_connections_carry_tcp_ut() {
    let o = origins(1);
    let text = |port: u16, opts: &str| {
        format!(
            "{DEFAULTS}
listen app
    bind 127.0.0.1:{port}
    server s {} {opts}
",
            o[0].addr()
        )
    };
    let to_origin = |pid: u32| -> Vec<i32> {
        sockets_of(pid, |fd| port_of(fd, true) == Some(o[0].addr().port()))
            .iter()
            .map(|fd| int_opt(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT))
            .collect()
    };
    let haproxy = haproxy_present();
    for (opts, want) in [("tcp-ut 7s", 7_000), ("", 0)] {
        let p = start_proxy(&text(free_port(), opts));
        // A keep-alive request: its server connection stays open, idle, once the response is read.
        let mut c = Client::connect(p.addr);
        assert_eq!(c.get("/").status, 200);
        assert!(wait_until(Duration::from_secs(5), || !to_origin(
            std::process::id()
        )
        .is_empty()));
        assert_eq!(to_origin(std::process::id()), [want], "fulcrum, {opts:?}");
        drop(c);
        drop(p);
        if haproxy {
            let port = free_port();
            let h = start_haproxy(&text(port, opts), sa(port));
            let mut c = Client::connect(sa(port));
            assert_eq!(c.get("/").status, 200);
            assert!(wait_until(Duration::from_secs(5), || !to_origin(h.pid()).is_empty()));
            assert_eq!(to_origin(h.pid()), [want], "haproxy, {opts:?}");
        }
    }
}

/// Reads a `Connection: close` answer to its end (a FIN or a reset), then closes: the bytes.
fn answer(addr: SocketAddr) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = c.read(&mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// SO_LINGER of `fd`: (on, seconds).
fn linger(fd: RawFd) -> (bool, i32) {
    let mut l = libc::linger {
        l_onoff: 0,
        l_linger: 0,
    };
    let mut len = std::mem::size_of::<libc::linger>() as libc::socklen_t;
    // SAFETY: `l` and `len` are valid for writes of the sizes given.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_mut(&mut l).cast(),
            &mut len,
        )
    };
    assert_eq!(r, 0);
    (l.l_onoff != 0, l.l_linger)
}

/// `option nolinger`: SO_LINGER 0 on the proxy's side of client connections (a frontend's) and of server
/// connections (a backend's), read back from both while they are open, so closing them resets them; a
/// `Connection: close` answer still arrives whole. Without it, the kernel's default (no linger). Whether the proxy's
/// side then keeps a TIME-WAIT socket is not counted: when the client's FIN reaches the socket between the
/// proxy's shutdown and its close (both proxies shut the connection down first), the socket is in TIME-WAIT before
/// the close can reset it (haproxy 2.6: 1 in 5 requests here; fulcrum under CI's load). HAProxy answers the same
/// requests whole (its sockets are not read: it sets the linger just before closing).
#[test]
fn nolinger_ends_connections_with_a_reset() {
    let haproxy = haproxy_present();
    let o = origins(1);
    for nolinger in [true, false] {
        let option = if nolinger {
            "    option nolinger\n"
        } else {
            ""
        };
        let text = |port: u16| {
            format!(
                "{DEFAULTS}
frontend fe
{option}    bind 127.0.0.1:{port}
    default_backend be
backend be
{option}    server s {}
",
                o[0].addr()
            )
        };
        let client_side = |addr: SocketAddr, who: &str| {
            let answer = answer(addr);
            assert!(answer.starts_with("HTTP/1.1 200"), "{who}: {answer}");
            assert!(
                answer.ends_with("Hello from s1\n"),
                "{who}: the answer arrives whole: {answer}"
            );
        };
        let p = start_proxy(&text(free_port()));
        client_side(p.addr, "fulcrum");
        // A client connection kept open: the proxy's side of it carries the zero linger.
        let mut c = Client::connect(p.addr);
        assert_eq!(c.get("/").status, 200);
        let client_port = c.reader.get_ref().local_addr().unwrap().port();
        let accepted = sockets_of(std::process::id(), |fd| {
            port_of(fd, false) == Some(p.addr.port()) && port_of(fd, true) == Some(client_port)
        });
        let lingers: Vec<_> = accepted.iter().map(|fd| linger(fd.as_raw_fd())).collect();
        let want = if nolinger { (true, 0) } else { (false, 0) };
        assert_eq!(lingers, [want], "client side, nolinger {nolinger}");
        drop(c);
        // The server connection of that request stays idle in the pool.
        let to_origin = || {
            sockets_of(std::process::id(), |fd| {
                port_of(fd, true) == Some(o[0].addr().port())
            })
        };
        assert!(wait_until(Duration::from_secs(5), || !to_origin().is_empty()));
        let lingers: Vec<_> = to_origin()
            .iter()
            .map(|fd| linger(fd.as_raw_fd()))
            .collect();
        assert!(
            lingers.iter().all(|l| *l == want),
            "server side, nolinger {nolinger}: {lingers:?}"
        );
        drop(p);
        if haproxy {
            let port = free_port();
            let _h = start_haproxy(&text(port), sa(port));
            client_side(sa(port), "haproxy");
        }
    }
}

/// SO_RCVBUF and SO_SNDBUF of a socket, as the kernel reports them (twice what was set).
fn bufs(fd: RawFd) -> (i32, i32) {
    (
        int_opt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF),
        int_opt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF),
    )
}

/// The buffers of process `pid`'s listener on `port`, of the connection it accepted from a client that sent a
/// request there and waits, and of its connection to the server at `origin`.
fn buffers_of(pid: u32, port: u16, origin: SocketAddr) -> [(i32, i32); 3] {
    let mut client = TcpStream::connect(sa(port)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut b = [0u8; 1024];
    assert!(client.read(&mut b).unwrap() > 0, "no response");
    let me = client.local_addr().unwrap().port();
    let accepted = sockets_of(pid, |fd| port_of(fd, true) == Some(me));
    let to_server = sockets_of(pid, |fd| port_of(fd, true) == Some(origin.port()));
    let (Some(accepted), Some(to_server)) = (accepted.first(), to_server.first()) else {
        panic!("process {pid}: no accepted connection from {me} or none to {origin}");
    };
    [
        bufs(listener_of(pid, port).as_raw_fd()),
        bufs(accepted.as_raw_fd()),
        bufs(to_server.as_raw_fd()),
    ]
}

/// `tune.rcvbuf.client` / `tune.sndbuf.client` size the connections accepted from clients (through their listening
/// sockets, which they inherit) and `tune.rcvbuf.server` / `tune.sndbuf.server` the connections to servers, as
/// haproxy 2.6 sizes them (read back from the sockets of both processes).
#[test]
fn socket_buffers_are_sized_as_haproxy_sizes_them() {
    let o = origins(1);
    let text = |port: u16| {
        config(port, "http", "", "", o[0].addr()).replace(
            "global\n    nbthread 1\n",
            "global\n    nbthread 1\n    tune.rcvbuf.client 100000\n    tune.sndbuf.client 150000\n    \
             tune.rcvbuf.server 120000\n    tune.sndbuf.server 170000\n",
        )
    };
    let port = free_port();
    let p = start_proxy(&text(port));
    let ours = buffers_of(std::process::id(), port, o[0].addr());
    drop(p);
    assert_eq!(
        ours,
        [(200_000, 300_000), (200_000, 300_000), (240_000, 340_000)],
        "fulcrum's listener, accepted and server sockets"
    );
    if haproxy_present() {
        let hport = free_port();
        let h = start_haproxy(&text(hport), sa(hport));
        let theirs = buffers_of(h.pid(), hport, o[0].addr());
        // HAProxy sizes each accepted connection; fulcrum sizes the listener, which they inherit (no system call
        // per connection). The connections are what counts.
        assert_eq!(ours[1..], theirs[1..], "fulcrum and haproxy differ");
    }
}

/// Whether another socket with SO_REUSEPORT can bind `addr` while the proxy listens there.
fn another_can_bind(addr: SocketAddr) -> bool {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_reuse_port(true).unwrap();
    s.bind(&addr.into()).is_ok()
}

/// `noreuseport` (global): the listening sockets are bound without SO_REUSEPORT, so no other socket can bind the
/// same address while the proxy listens (without it, one can, and would share the proxy's connections); two
/// worker threads then accept from one shared socket and serve as before. The same as haproxy 2.6.
#[test]
fn noreuseport_keeps_other_sockets_off_the_address() {
    let o = fulcrum_proxy::origin::Origin::start("o", "127.0.0.1:0".parse().unwrap()).unwrap();
    for (global, alone) in [("", false), ("    noreuseport\n", true)] {
        let cfg = |port: u16| {
            format!(
                "global\n    nbthread 2\n{global}defaults\n    mode http\n    timeout connect 1s\n    \
                 timeout client 5s\n    timeout server 5s\nlisten app\n    bind 127.0.0.1:{port}\n    server s {}\n",
                o.addr()
            )
        };
        let port = free_port();
        let p = start_proxy(&cfg(port));
        assert_eq!(!another_can_bind(sa(port)), alone, "{global:?}");
        for _ in 0..10 {
            assert_eq!(get(p.addr, "/").status, 200, "{global:?}");
        }
        drop(p);
        if haproxy_present() {
            let port = free_port();
            let _h = start_haproxy(&cfg(port), sa(port));
            assert_eq!(!another_can_bind(sa(port)), alone, "haproxy, {global:?}");
        }
    }
}
