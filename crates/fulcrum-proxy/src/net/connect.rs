//! New TCP connections to servers, with the options a backend asks for set before `connect`.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpSocket, TcpStream};

/// Options of a new connection to a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tuning {
    /// TCP_QUICKACK off before `connect` (`option tcp-smart-connect`): the last ACK of the handshake waits for the
    /// first data, the request, and leaves with it: one segment fewer per connection.
    pub delay_ack: bool,
    /// TCP_USER_TIMEOUT (`server ... tcp-ut`): how long sent data may stay unacknowledged before the kernel
    /// gives the connection up.
    pub user_timeout: Option<std::time::Duration>,
    /// SO_LINGER 0 (`option nolinger`): closing the connection resets it.
    pub nolinger: bool,
    /// SO_RCVBUF / SO_SNDBUF (`tune.rcvbuf.server`, `tune.sndbuf.server`), set before `connect`.
    pub bufs: fulcrum_config::haproxy::SocketBufs,
}

/// Opens a TCP connection to `addr`, TCP_NODELAY set before the handshake.
pub async fn tcp(addr: SocketAddr, tuning: Tuning) -> io::Result<TcpStream> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_nodelay(true)?;
    if tuning.delay_ack {
        socket2::SockRef::from(&socket).set_quickack(false)?;
    }
    if tuning.nolinger {
        // A zero linger resets at close and never blocks.
        socket2::SockRef::from(&socket).set_linger(Some(std::time::Duration::ZERO))?;
    }
    super::listener::set_bufs(&socket2::SockRef::from(&socket), tuning.bufs)?;
    if tuning.user_timeout.is_some() {
        socket2::SockRef::from(&socket).set_tcp_user_timeout(tuning.user_timeout)?;
    }
    socket.connect(addr).await
}
