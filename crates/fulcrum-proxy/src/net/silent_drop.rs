//! `silent-drop`: a client connection closed without telling the client. In TCP repair mode (Linux, needs
//! CAP_NET_ADMIN) closing the socket sends neither a FIN nor a RST, so the client keeps a connection nobody
//! answers on; without that right the connection ends with a RST whose TTL is 1, as HAProxy falls back to.

use std::os::fd::AsRawFd;

/// Leaves `stream` so that closing it says nothing to the client.
pub fn forget(stream: &tokio::net::TcpStream) {
    let fd = stream.as_raw_fd();
    let on: libc::c_int = 1;
    // SAFETY: plain setsockopt on a socket this connection owns, with a pointer to a live c_int.
    let repaired = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_REPAIR,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    } == 0;
    if !repaired {
        let sock = socket2::SockRef::from(stream);
        let _ = sock.set_ttl(1);
        let _ = sock.set_linger(Some(std::time::Duration::ZERO));
    }
}
