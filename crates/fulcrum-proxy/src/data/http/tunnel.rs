//! A connection that switched protocols (WebSocket) becomes a bidirectional byte tunnel between the client and the
//! server, once the `101` head has reached the client. Either side may be an HTTP/2 stream carrying an extended
//! CONNECT (RFC 8441): its DATA frames are the tunnel's bytes, its end of stream the half-close.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io;
use std::task::{ready, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::{RecvStream, SendStream};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::debug;

use super::server_conn::{poll_read_server, poll_write_server};
use crate::data::client_io::{shutdown_write, ClientIo};
use crate::model::slot::ServerGuard;
use crate::net::tls_io::TlsClientSession;

/// An HTTP/2 stream carrying a tunnel: what is sent on it and what is received from it.
pub struct H2Half {
    /// Where the other side's bytes go.
    pub send: SendStream<Bytes>,
    /// Where this side's bytes come from.
    pub recv: RecvStream,
    /// Held while the tunnel lasts (the stream's place on its connection).
    pub hold: Option<Box<dyn Any>>,
}

/// The server side of a tunnel.
enum ServerSide {
    /// The server connection itself.
    Tcp {
        stream: TcpStream,
        /// The server connection's TLS session (`server ... ssl`): bytes then go through it.
        tls: Option<Box<TlsClientSession>>,
        /// Bytes the server sent right after its `101` head, read along with it; they go to the client first.
        early: Bytes,
    },
    /// A stream on an HTTP/2 connection to the server.
    H2(H2Half),
}

/// The server side of a tunnel, waiting for the client's side.
pub struct Tunnel {
    server: ServerSide,
    idle: Option<Duration>,
    /// Keeps the server counted (leastconn) while the tunnel lasts.
    _guard: ServerGuard,
}

impl Tunnel {
    /// The server's socket, what it sent past its `101` head, the tunnel's idle limit (`timeout tunnel`), and the
    /// server's place in its count.
    pub fn new(
        server: TcpStream,
        server_tls: Option<Box<TlsClientSession>>,
        early: Bytes,
        idle: Option<Duration>,
        guard: ServerGuard,
    ) -> Self {
        Tunnel {
            server: ServerSide::Tcp {
                stream: server,
                tls: server_tls,
                early,
            },
            idle,
            _guard: guard,
        }
    }

    /// A tunnel whose server side is a stream on an HTTP/2 connection (an extended CONNECT the server accepted).
    pub fn h2(server: H2Half, idle: Option<Duration>, guard: ServerGuard) -> Self {
        Tunnel {
            server: ServerSide::H2(server),
            idle,
            _guard: guard,
        }
    }

    /// Whether the bytes must be copied through user space (the server side is TLS or an HTTP/2 stream):
    /// [`Tunnel::run_through`] then joins any client, [`Tunnel::run`] none.
    pub fn needs_copy(&self) -> bool {
        match &self.server {
            ServerSide::Tcp { tls, .. } => tls.is_some(),
            ServerSide::H2(_) => true,
        }
    }

    /// Joins `client` to the server until either side closes or the tunnel is idle too long. `client_early`:
    /// bytes the client sent after its request head, read along with it; they go to the server first. Only
    /// for a clear-text TCP server side ([`Tunnel::needs_copy`] false); any other is run through user space.
    pub async fn run(self, client: &mut TcpStream, client_early: &[u8]) {
        let Tunnel { server, idle, .. } = self;
        let (mut stream, early) = match server {
            ServerSide::Tcp {
                stream,
                tls: None,
                early,
            } => (stream, early),
            _ => {
                // Not reached (see `needs_copy`).
                debug!("tunnel dropped: its server side must be copied through user space");
                return;
            }
        };
        if !early.is_empty() {
            if let Err(e) = client.write_all(&early).await {
                debug!(error = %e, "tunnel ended before it started");
                return;
            }
        }
        if !client_early.is_empty() {
            if let Err(e) = stream.write_all(client_early).await {
                debug!(error = %e, "tunnel ended before it started");
                return;
            }
        }
        crate::net::relay::splice_bidirectional(client, &mut stream, idle).await;
    }

    /// Joins a client whose bytes go through its connection's TLS session, or a server whose bytes go through
    /// the server connection's (or an HTTP/2 stream), until either side closes or the tunnel is idle too long
    /// (copied through user space: splice cannot see clear text).
    pub async fn run_through(self, client: &ClientIo, client_early: &[u8]) {
        let early = Bytes::copy_from_slice(client_early);
        self.join(ClientEnd::H1(client), early).await
    }

    /// Joins an HTTP/2 client's stream (an extended CONNECT answered `200`) to the server.
    pub async fn run_h2(self, client: H2Half) {
        self.join(ClientEnd::H2(client), Bytes::new()).await
    }

    async fn join(self, client: ClientEnd<'_>, client_early: Bytes) {
        let last = Cell::new(Instant::now());
        let idle = self.idle;
        let _guard = self._guard;
        let (tcp, tls, server_early, server_h2) = match self.server {
            ServerSide::Tcp { stream, tls, early } => {
                (Some(stream), RefCell::new(tls), early, None)
            }
            ServerSide::H2(h) => (None, RefCell::new(None), Bytes::new(), Some(h)),
        };
        let (mut server_read, mut server_write, _server_hold) = match (&tcp, server_h2) {
            (Some(s), _) => (Reader::Server(s, &tls), Writer::Server(s, &tls), None),
            (None, Some(H2Half { send, recv, hold })) => {
                (Reader::H2(recv), Writer::H2(send, false), hold)
            }
            (None, None) => return,
        };
        let (mut client_read, mut client_write, _client_hold) = match client {
            ClientEnd::H1(io) => (Reader::Client(io), Writer::Client(io), None),
            ClientEnd::H2(H2Half { send, recv, hold }) => {
                (Reader::H2(recv), Writer::H2(send, false), hold)
            }
        };
        if !server_early.is_empty() && !client_write.write(server_early).await {
            debug!("tunnel ended before it started");
            return;
        }
        if !client_early.is_empty() && !server_write.write(client_early).await {
            debug!("tunnel ended before it started");
            return;
        }
        let upstream = pump(&mut client_read, &mut server_write, &last);
        let downstream = pump(&mut server_read, &mut client_write, &last);
        let idle = async {
            match idle {
                None => std::future::pending().await,
                Some(limit) => loop {
                    tokio::time::sleep_until(last.get() + limit).await;
                    if last.get().elapsed() >= limit {
                        break;
                    }
                },
            }
        };
        tokio::select! {
            _ = async { tokio::join!(upstream, downstream) } => {}
            _ = idle => debug!("tunnel idle for its whole timeout"),
        }
        client_write.abort();
        server_write.abort();
    }
}

/// The client side of a tunnel run through user space.
enum ClientEnd<'a> {
    H1(&'a ClientIo),
    H2(H2Half),
}

/// Where one direction of a tunnel reads.
enum Reader<'a> {
    Client(&'a ClientIo),
    Server(&'a TcpStream, &'a RefCell<Option<Box<TlsClientSession>>>),
    H2(RecvStream),
}

impl Reader<'_> {
    /// The next bytes; `None` at the end (or on an error).
    async fn read(&mut self, buf: &mut BytesMut) -> Option<Bytes> {
        match self {
            Reader::Client(io) => match io.fill(16 * 1024).await {
                Ok(n) if n > 0 => Some(io.rbuf().split().freeze()),
                _ => None,
            },
            Reader::Server(stream, tls) => {
                buf.reserve(16 * 1024);
                let read = std::future::poll_fn(|cx| {
                    poll_read_server(stream, &mut tls.borrow_mut(), cx, buf.spare_capacity_mut())
                })
                .await;
                match read {
                    Ok(n) if n > 0 => {
                        // SAFETY: the read initialised the first `n` bytes of the spare capacity.
                        unsafe { buf.set_len(n) };
                        Some(buf.split().freeze())
                    }
                    _ => None,
                }
            }
            Reader::H2(recv) => loop {
                match recv.data().await {
                    Some(Ok(b)) => {
                        let _ = recv.flow_control().release_capacity(b.len());
                        if !b.is_empty() {
                            return Some(b);
                        }
                    }
                    _ => return None,
                }
            },
        }
    }
}

/// Where one direction of a tunnel writes.
enum Writer<'a> {
    Client(&'a ClientIo),
    Server(&'a TcpStream, &'a RefCell<Option<Box<TlsClientSession>>>),
    /// A stream, and whether its end was sent.
    H2(SendStream<Bytes>, bool),
}

impl Writer<'_> {
    /// Writes all of `data`; false when the other side is gone.
    async fn write(&mut self, mut data: Bytes) -> bool {
        match self {
            Writer::Client(io) => io.write_all(&[&data]).await.is_ok(),
            Writer::Server(stream, tls) => write_server(stream, tls, &data).await.is_ok(),
            Writer::H2(send, _) => {
                while !data.is_empty() {
                    send.reserve_capacity(data.len());
                    let granted = match send.capacity() {
                        0 => match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                            Some(Ok(n)) => n,
                            _ => return false,
                        },
                        n => n,
                    };
                    if granted == 0 {
                        continue;
                    }
                    let piece = data.split_to(granted.min(data.len()));
                    if send.send_data(piece, false).is_err() {
                        return false;
                    }
                }
                true
            }
        }
    }

    /// The reading side ended: the end is passed on (a half-close, or the end of the stream).
    fn finish(&mut self) {
        match self {
            Writer::Client(io) => io.shutdown_write(),
            Writer::Server(stream, tls) => {
                if let Some(t) = tls.borrow_mut().as_mut() {
                    t.close(stream);
                }
                let _ = shutdown_write(stream);
            }
            Writer::H2(send, ended) => {
                *ended = true;
                let _ = send.send_data(Bytes::new(), true);
            }
        }
    }

    /// The tunnel is over: a stream not ended yet is reset (one that was ended keeps its last frames: a reset
    /// would drop those not sent yet).
    fn abort(&mut self) {
        if let Writer::H2(send, false) = self {
            send.send_reset(h2::Reason::CANCEL);
        }
    }
}

/// Copies one direction until its reader ends (passed on as a half-close) or its writer fails.
async fn pump(from: &mut Reader<'_>, to: &mut Writer<'_>, last: &Cell<Instant>) {
    let mut buf = BytesMut::new();
    loop {
        match from.read(&mut buf).await {
            Some(data) => {
                last.set(Instant::now());
                if !to.write(data).await {
                    break;
                }
            }
            None => {
                to.finish();
                break;
            }
        }
    }
}

/// Writes all of `bytes` to the server of a tunnel (through its TLS session when it has one).
async fn write_server(
    stream: &TcpStream,
    tls: &RefCell<Option<Box<TlsClientSession>>>,
    mut bytes: &[u8],
) -> io::Result<()> {
    std::future::poll_fn(|cx| {
        while !bytes.is_empty() {
            let n = ready!(poll_write_server(
                stream,
                &mut tls.borrow_mut(),
                cx,
                &[io::IoSlice::new(bytes)]
            ))?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero)));
            }
            bytes = &bytes[n..];
        }
        Poll::Ready(Ok(()))
    })
    .await
}
