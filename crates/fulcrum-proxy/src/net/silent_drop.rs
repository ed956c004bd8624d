//! `silent-drop`: a client connection closed without telling the client. In TCP repair mode (Linux, needs
//! CAP_NET_ADMIN) closing the socket sends neither a FIN nor a RST, so the client keeps a connection nobody
//! answers on; without that right the connection ends with a RST whose TTL is 1, as HAProxy falls back to.

use std::os::fd::AsRawFd;

/// Leaves `stream` so that closing it says nothing to the client.
pub fn forget(stream: &tokio::net::TcpStream) {
    let fd = stream.as_raw_fd();
    // First acknowledge what the client sent: with the delayed ACK of `tcp-smart-accept` its data may be
    // unacknowledged, and its retransmission would then meet the kernel's reset once the socket is gone. Reading
    // what is pending and turning quick ACKs back on sends that ACK now, as HAProxy does before dropping.
    drain(fd);
    let _ = socket2::SockRef::from(stream).set_quickack(true);
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

/// Reads and discards what the socket holds (at most 64 KiB, without waiting).
fn drain(fd: i32) {
    let mut buf = [0u8; 16384];
    for _ in 0..4 {
        // SAFETY: `buf` is valid for writes of its length; `fd` is a socket this connection owns.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n <= 0 {
            return;
        }
    }
}
