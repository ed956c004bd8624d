//! Listening sockets. Each worker thread gets its own socket per bind address (SO_REUSEPORT), so the kernel
//! spreads new connections across workers and no accept is shared between threads.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Backlog of every listening socket, unless its proxy sets `backlog`.
pub const BACKLOG: i32 = 4096;

/// Opens `count` listening sockets on `addr`. When `addr` has port 0 the kernel picks a port for the first
/// socket and the others share it.
pub fn bind_reuseport(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    bind_reuseport_with(addr, count, BACKLOG)
}

/// `count` listeners on `addr` for as many workers: sockets of their own (SO_REUSEPORT), or, with `noreuseport`
/// (`shared`), one socket bound without SO_REUSEPORT that they all accept from, so that nothing else can bind
/// the address meanwhile.
pub fn bind_for_workers(
    addr: SocketAddr,
    count: usize,
    backlog: i32,
    shared: bool,
) -> io::Result<Vec<TcpListener>> {
    if !shared {
        return bind_reuseport_with(addr, count, backlog);
    }
    let first = listening(addr, backlog, false)?;
    let mut out = Vec::with_capacity(count.max(1));
    for _ in 1..count.max(1) {
        out.push(first.try_clone()?);
    }
    out.push(first);
    Ok(out)
}

/// One non-blocking listening socket on `addr` (SO_REUSEADDR, TCP_NODELAY for the connections it accepts, and
/// SO_REUSEPORT when `reuse_port`).
fn listening(addr: SocketAddr, backlog: i32, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.set_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// [`bind_reuseport`] with a listen queue of `backlog` connections (a proxy's `backlog N`).
pub fn bind_reuseport_with(
    addr: SocketAddr,
    count: usize,
    backlog: i32,
) -> io::Result<Vec<TcpListener>> {
    let mut out = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count.max(1) {
        let listener = listening(addr, backlog, true)?;
        if addr.port() == 0 {
            addr = listener.local_addr()?;
        }
        out.push(listener);
    }
    Ok(out)
}

/// The TCP options of a frontend's listening sockets (`bind ... backlog defer-accept tfo tcp-ut`, `option
/// tcp-smart-accept`). Accepted connections inherit every one of them from their listener, TCP_NODELAY included,
/// so none needs a system call per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// The listen queue (also the queue of pending Fast Open requests with `tfo`).
    pub backlog: i32,
    /// TCP_DEFER_ACCEPT: a connection is handed over once data arrived (HAProxy sets one second).
    pub defer_accept: bool,
    /// TCP_FASTOPEN.
    pub fast_open: bool,
    /// TCP_USER_TIMEOUT (`None`: the kernel's default).
    pub user_timeout: Option<std::time::Duration>,
    /// TCP_QUICKACK off: the ACK of a client's data waits to leave with the answer.
    pub delay_ack: bool,
    /// SO_LINGER 0 (`option nolinger`): closing an accepted connection resets it.
    pub nolinger: bool,
    /// SO_RCVBUF / SO_SNDBUF (`tune.rcvbuf.client`, `tune.sndbuf.client`), which accepted connections inherit.
    pub bufs: fulcrum_config::haproxy::SocketBufs,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            backlog: BACKLOG,
            defer_accept: false,
            fast_open: false,
            user_timeout: None,
            delay_ack: false,
            nolinger: false,
            bufs: Default::default(),
        }
    }
}

impl Tuning {
    /// Sets every option on a listening socket, each one either way (a socket handed over by the previous
    /// process, or inherited, may carry other values), and applies the backlog again.
    pub fn apply(&self, listener: &TcpListener) -> io::Result<()> {
        let sock = socket2::SockRef::from(listener);
        sock.set_nodelay(true)?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(listener);
        setsockopt_int(fd, libc::TCP_DEFER_ACCEPT, i32::from(self.defer_accept))?;
        setsockopt_int(
            fd,
            libc::TCP_FASTOPEN,
            if self.fast_open { self.backlog } else { 0 },
        )?;
        sock.set_tcp_user_timeout(self.user_timeout)?;
        sock.set_linger(self.nolinger.then_some(std::time::Duration::ZERO))?;
        set_bufs(&sock, self.bufs)?;
        sock.listen(self.backlog)?;
        // After listen, as the kernel's children copy the listener's delayed-ACK mode from then on.
        sock.set_quickack(!self.delay_ack)?;
        Ok(())
    }
}

/// Sets the buffer sizes `bufs` asks for on a socket (as HAProxy, the kernel doubles them for its bookkeeping).
pub fn set_bufs(
    sock: &socket2::SockRef<'_>,
    bufs: fulcrum_config::haproxy::SocketBufs,
) -> io::Result<()> {
    if let Some(n) = bufs.rcv {
        sock.set_recv_buffer_size(n as usize)?;
    }
    if let Some(n) = bufs.snd {
        sock.set_send_buffer_size(n as usize)?;
    }
    Ok(())
}

fn setsockopt_int(fd: i32, opt: libc::c_int, value: i32) -> io::Result<()> {
    // SAFETY: `fd` is an open socket borrowed for the call, the value is a plain int of the size passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            opt,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Why an inherited descriptor (`fd@N`) cannot be used as a listener.
#[derive(Debug, thiserror::Error)]
pub enum InheritError {
    /// The descriptor is not open in this process.
    #[error("cannot use file descriptor '{0}': {1}")]
    NotOpen(i32, io::Error),
    /// It is open but not a listening stream socket of the expected family.
    #[error("file descriptor '{0}' is not a listening {1} socket")]
    NotListening(i32, &'static str),
    /// Two listeners name the same descriptor.
    #[error("file descriptor '{0}' is already used by another listener")]
    Twice(i32),
}

/// Which kind of listening socket an inherited descriptor must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InheritKind {
    /// TCP over IPv4 or IPv6 (proxies, TCP stats sockets).
    Tcp,
    /// A unix stream socket (stats sockets).
    Unix,
}

/// Checks that `fd` is open and is a listening stream socket, without taking it; says which kind it is.
pub fn check_inherited(fd: i32) -> Result<InheritKind, InheritError> {
    use std::os::fd::BorrowedFd;
    if fd < 0 {
        return Err(InheritError::NotOpen(
            fd,
            io::Error::from_raw_os_error(libc::EBADF),
        ));
    }
    // SAFETY: F_GETFD only reads the descriptor's flags; an fd that is not open yields EBADF.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(InheritError::NotOpen(fd, io::Error::last_os_error()));
    }
    // SAFETY: the descriptor was just seen open, and is only borrowed for the getsockopt calls below.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = socket2::SockRef::from(&borrowed);
    let listening = sock.is_listener().unwrap_or(false);
    let stream = sock.r#type().is_ok_and(|t| t == Type::STREAM);
    match sock.domain() {
        Ok(d) if listening && stream && (d == Domain::IPV4 || d == Domain::IPV6) => {
            Ok(InheritKind::Tcp)
        }
        Ok(d) if listening && stream && d == Domain::UNIX => Ok(InheritKind::Unix),
        _ => Err(InheritError::NotListening(fd, "stream")),
    }
}

/// Checks that `fd` is an inherited listening socket of `kind`.
pub fn check_inherited_kind(fd: i32, kind: InheritKind) -> Result<(), InheritError> {
    match check_inherited(fd)? {
        k if k == kind => Ok(()),
        _ => Err(InheritError::NotListening(
            fd,
            match kind {
                InheritKind::Tcp => "TCP",
                InheritKind::Unix => "unix stream",
            },
        )),
    }
}

/// An inherited listening socket, taken over by [`take_inherited`].
pub enum Inherited {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A unix stream listener.
    Unix(std::os::unix::net::UnixListener),
}

/// Takes ownership of the inherited listening socket `fd`, of whichever kind it is. The caller names each
/// descriptor once (see [`Claims`]).
pub fn take_inherited(fd: i32) -> Result<Inherited, InheritError> {
    use std::os::fd::FromRawFd;
    let kind = check_inherited(fd)?;
    // SAFETY: the descriptor is an open listening socket of the kind matched below, handed to the process by its
    // parent, and the caller takes each descriptor number once, so nothing else owns it.
    Ok(match kind {
        InheritKind::Tcp => Inherited::Tcp(unsafe { TcpListener::from_raw_fd(fd) }),
        InheritKind::Unix => {
            Inherited::Unix(unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) })
        }
    })
}

/// Takes ownership of the inherited listening socket `fd` (after [`check_inherited`]) for `count` workers: the
/// first gets the descriptor, the others duplicates of it, so they share one accept queue. The descriptor is
/// marked close-on-exec and non-blocking.
pub fn inherit_tcp(fd: i32, count: usize) -> Result<Vec<TcpListener>, InheritError> {
    use std::os::fd::FromRawFd;
    check_inherited_kind(fd, InheritKind::Tcp)?;
    // SAFETY: the descriptor is open, is a listening TCP socket (checked above), was handed to this process by
    // its parent, and the caller claims each descriptor number once ([`Claims`]), so nothing else owns it.
    let first = unsafe { TcpListener::from_raw_fd(fd) };
    let setup = |l: &TcpListener| -> io::Result<()> {
        l.set_nonblocking(true)?;
        socket2::SockRef::from(l).set_cloexec(true)
    };
    setup(&first).map_err(|e| InheritError::NotOpen(fd, e))?;
    let mut out = Vec::with_capacity(count.max(1));
    for _ in 1..count.max(1) {
        let dup = first
            .try_clone()
            .map_err(|e| InheritError::NotOpen(fd, e))?;
        out.push(dup);
    }
    out.insert(0, first);
    Ok(out)
}

/// The inherited descriptors already taken by a listener, so that none is taken (and later closed) twice.
#[derive(Debug, Default)]
pub struct Claims(std::collections::HashSet<i32>);

impl Claims {
    /// Records `fd` as taken; an error when it already was.
    pub fn claim(&mut self, fd: i32) -> Result<(), InheritError> {
        if self.0.insert(fd) {
            Ok(())
        } else {
            Err(InheritError::Twice(fd))
        }
    }
}

/// Listening sockets handed over by a previous process (a master-worker reload, or `-x`), by address: a new
/// configuration takes the ones whose address it still binds instead of binding them again, so no connection
/// waiting in their accept queues is lost.
#[derive(Debug, Default)]
pub struct Handover(std::collections::HashMap<SocketAddr, Vec<TcpListener>>);

impl Handover {
    /// Adds a listening socket of `addr`.
    pub fn insert(&mut self, addr: SocketAddr, socket: TcpListener) {
        self.0.entry(addr).or_default().push(socket);
    }

    /// Takes the sockets of `addr`, prepared for a worker: non-blocking, closed on exec, at least `count` of them
    /// (duplicates share an accept queue).
    pub fn take(&mut self, addr: SocketAddr, count: usize) -> Option<io::Result<Vec<TcpListener>>> {
        let mut sockets = self.0.remove(&addr)?;
        let mut prepare = || -> io::Result<Vec<TcpListener>> {
            for s in &sockets {
                s.set_nonblocking(true)?;
                socket2::SockRef::from(s).set_cloexec(true)?;
            }
            let have = sockets.len();
            for i in have..count.max(1) {
                let dup = sockets[i % have].try_clone()?;
                sockets.push(dup);
            }
            Ok(std::mem::take(&mut sockets))
        };
        Some(prepare())
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The addresses still held.
    pub fn addrs(&self) -> impl Iterator<Item = &SocketAddr> {
        self.0.keys()
    }
}

/// Asks the process behind the unix `stats socket` at `path` (one with `expose-fd listeners`) for its listening
/// sockets (`_getsocks`, what `-x` does) and returns them by address.
pub fn receive_sockets(path: &std::path::Path) -> io::Result<Handover> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    stream.write_all(b"_getsocks\n")?;
    let mut text = Vec::new();
    let mut fds: Vec<TcpListener> = Vec::new();
    loop {
        let mut buf = [0u8; 512];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 16]);
        let mut iov = [io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        let n = msg.bytes;
        for c in msg.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::ScmRights(received) = c {
                for fd in received {
                    // SAFETY: the descriptor was just received with SCM_RIGHTS: this process owns it alone.
                    fds.push(unsafe { TcpListener::from_raw_fd(fd) });
                }
            }
        }
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != fds.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "'_getsocks' sent {} sockets for {} addresses",
                fds.len(),
                lines.len()
            ),
        ));
    }
    let mut out = Handover::default();
    for (line, fd) in lines.into_iter().zip(fds) {
        let addr: SocketAddr = line.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("'_getsocks' sent an invalid address '{line}'"),
            )
        })?;
        out.insert(addr, fd);
    }
    Ok(out)
}

/// What sample fetches know of a listening socket.
#[derive(Debug, Default)]
pub struct ListenerInfo {
    /// The `bind` line's `name` (`so_name`).
    pub name: Option<Box<str>>,
    /// Its number in the frontend, from 1 in configuration order (`so_id`).
    pub id: i64,
    /// `accept-proxy`: connections start with a PROXY protocol header.
    pub accept_proxy: bool,
    /// `proto h2`: connections speak HTTP/2 from their first byte.
    pub h2: bool,
    /// `proto h1`: connections speak HTTP/1 only (no HTTP/2 preface is looked for).
    pub h1_only: bool,
    /// `proto none` (`mode tcp`): connections are never upgraded to HTTP.
    pub raw_only: bool,
}

impl ListenerInfo {
    /// The facts of listener number `id` of a `bind` line.
    pub fn of(bind: &fulcrum_config::haproxy::Bind, id: i64) -> Self {
        ListenerInfo {
            name: bind.name.as_deref().map(Box::from),
            id,
            accept_proxy: bind.accept_proxy,
            h2: bind.proto == Some(fulcrum_config::haproxy::BindProto::H2),
            h1_only: bind.proto == Some(fulcrum_config::haproxy::BindProto::H1),
            raw_only: bind.proto_none,
        }
    }

    /// The same listener, its connections forced to one HTTP version (`switch-mode http proto P`).
    pub fn forcing(&self, proto: fulcrum_config::haproxy::BindProto) -> Self {
        use fulcrum_config::haproxy::BindProto;
        ListenerInfo {
            name: self.name.clone(),
            id: self.id,
            accept_proxy: self.accept_proxy,
            h2: proto == BindProto::H2,
            h1_only: proto == BindProto::H1,
            raw_only: false,
        }
    }
}

#[cfg(test)]
mod handover_tests {
    use super::*;

    #[test]
    fn handed_over_sockets_are_taken_once_and_duplicated_up_to_the_thread_count() {
        let sockets = bind_reuseport("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        let addr = sockets[0].local_addr().unwrap();
        let mut h = Handover::default();
        for s in sockets {
            h.insert(addr, s);
        }
        assert_eq!(h.addrs().collect::<Vec<_>>(), [&addr]);
        let taken = h.take(addr, 3).unwrap().unwrap();
        assert_eq!(taken.len(), 3);
        for s in &taken {
            assert_eq!(s.local_addr().unwrap(), addr);
        }
        assert!(h.is_empty());
        assert!(h.take(addr, 3).is_none());
        // More sockets than threads: all are kept (the caller spreads them over its workers).
        let more = bind_reuseport("127.0.0.1:0".parse().unwrap(), 4).unwrap();
        let addr = more[0].local_addr().unwrap();
        for s in more {
            h.insert(addr, s);
        }
        assert_eq!(h.take(addr, 2).unwrap().unwrap().len(), 4);
    }
}
