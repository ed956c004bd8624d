//! Connections to a server through a SOCKS4 proxy (`server ... socks4 ADDR:PORT`): the TCP connection goes to the
//! SOCKS proxy, which is asked to connect on to the server (the exchange itself is `fulcrum_proxyproto::socks4`).

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a TCP connection to `target`, through the SOCKS4 proxy `via` when there is one. A refusal of the proxy
/// is a failed connection (`ConnectionRefused`), as HAProxy counts it (`SC` in the log, retried).
pub async fn connect(
    target: SocketAddr,
    via: Option<SocketAddr>,
    tuning: super::connect::Tuning,
) -> io::Result<TcpStream> {
    let Some(proxy) = via else {
        return super::connect::tcp(target, tuning).await;
    };
    let mut stream = super::connect::tcp(proxy, tuning).await?;
    exchange(&mut stream, target).await?;
    Ok(stream)
}

/// The CONNECT exchange for `target` on a connection to a SOCKS4 proxy.
async fn exchange(stream: &mut TcpStream, target: SocketAddr) -> io::Result<()> {
    use fulcrum_proxyproto::socks4;
    let SocketAddr::V4(target) = target else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "SOCKS4 reaches IPv4 addresses only",
        ));
    };
    stream.write_all(&socks4::request(target)).await?;
    let mut reply = [0u8; socks4::REPLY_LEN];
    stream.read_exact(&mut reply).await?;
    socks4::reply(&reply).map_err(|e| io::Error::new(io::ErrorKind::ConnectionRefused, e))
}
