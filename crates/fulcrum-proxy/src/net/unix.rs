//! Unix stream sockets on `bind` and `server` lines: socket files and Linux's abstract namespace (`abns@`).
//!
//! The data path is written against tokio's `TcpStream`, used for its file descriptor: readiness, `try_read`,
//! `try_write`, `splice`, `shutdown` and the socket-buffer ioctls are the same system calls on a unix stream
//! socket. So an accepted or connected unix socket is carried in a `TcpStream` ([`carry`]). What differs is
//! asked of the socket only where its answer is optional: its addresses (`local_addr`, `peer_addr` fail with
//! `EINVAL` and are read with `.ok()`), `TCP_NODELAY` and keep-alive (refused by the kernel, ignored).

use std::io;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr as UnixSocketAddr, UnixListener};
use std::path::{Path, PathBuf};

use fulcrum_config::haproxy::{UnixAddr, UnixPerms};

/// The address a connection accepted on a unix socket shows as its source (`src`, `%ci`): the socket has no IP
/// address.
pub const UNIX_PEER: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// Listens on `addr`. A socket file is made under a temporary name, given `perms`, then renamed over the path,
/// which replaces a stale file (a socket a previous process left) atomically, as HAProxy does.
pub fn bind(addr: &UnixAddr, perms: UnixPerms) -> io::Result<UnixListener> {
    match addr {
        UnixAddr::Abstract(name) => {
            let a = UnixSocketAddr::from_abstract_name(name.as_bytes())?;
            let l = UnixListener::bind_addr(&a)?;
            l.set_nonblocking(true)?;
            Ok(l)
        }
        UnixAddr::Path(path) => bind_file(path, perms),
    }
}

fn bind_file(path: &Path, perms: UnixPerms) -> io::Result<UnixListener> {
    let mut tmp = path.to_path_buf().into_os_string();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    let done = (|| {
        if let Some(mode) = perms.mode {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        }
        if perms.uid.is_some() || perms.gid.is_some() {
            std::os::unix::fs::chown(&tmp, perms.uid, perms.gid)?;
        }
        std::fs::rename(&tmp, path)?;
        listener.set_nonblocking(true)
    })();
    match done {
        Ok(()) => Ok(listener),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Carries a unix stream socket in a tokio `TcpStream` (see the module's note). Must run inside a runtime.
pub fn carry(stream: std::os::unix::net::UnixStream) -> io::Result<tokio::net::TcpStream> {
    stream.set_nonblocking(true)?;
    let fd = stream.into_raw_fd();
    // SAFETY: `fd` is an open stream socket just released by `into_raw_fd`, so it has exactly one owner: the
    // new `TcpStream`. Only descriptor-level calls that work on any stream socket are made through it.
    let std = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    tokio::net::TcpStream::from_std(std)
}

/// Accepts one connection on `listener`, carried as a `TcpStream`.
pub async fn accept(listener: &tokio::net::UnixListener) -> io::Result<tokio::net::TcpStream> {
    let (s, _) = listener.accept().await?;
    carry(s.into_std()?)
}

/// Connects to the unix socket `addr`, carried as a `TcpStream`.
pub async fn connect(addr: &UnixAddr) -> io::Result<tokio::net::TcpStream> {
    let s = match addr {
        UnixAddr::Path(p) => tokio::net::UnixStream::connect(p).await?,
        UnixAddr::Abstract(name) => {
            let a = UnixSocketAddr::from_abstract_name(name.as_bytes())?;
            let s = std::os::unix::net::UnixStream::connect_addr(&a)?;
            s.set_nonblocking(true)?;
            tokio::net::UnixStream::from_std(s)?
        }
    };
    carry(s.into_std()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_stale_file_is_replaced_and_bytes_cross_a_carried_socket() {
        let dir = std::env::temp_dir().join(format!("fulcrum-unix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        // A socket file nobody listens on any more.
        drop(UnixListener::bind(&path).unwrap());
        let addr = UnixAddr::Path(path.clone());
        let perms = UnixPerms {
            mode: Some(0o600),
            ..Default::default()
        };
        let l = tokio::net::UnixListener::from_std(bind(&addr, perms).unwrap()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (accepted, connected) = tokio::join!(accept(&l), connect(&addr));
        let (mut a, mut c) = (accepted.unwrap(), connected.unwrap());
        assert!(a.peer_addr().is_err(), "a unix socket has no IP address");
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn abstract_names() {
        let addr = UnixAddr::Abstract(format!("fulcrum-test-{}", std::process::id()));
        let l =
            tokio::net::UnixListener::from_std(bind(&addr, UnixPerms::default()).unwrap()).unwrap();
        let (accepted, connected) = tokio::join!(accept(&l), connect(&addr));
        let (mut a, mut c) = (accepted.unwrap(), connected.unwrap());
        a.write_all(b"pong").await.unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    }
}
