//! TLS on a client connection: rustls' sans-IO server session driven over the connection's own socket, on the
//! worker's thread. The client connection (`client_io.rs`) reads and writes through it when the `bind` line has `ssl`, so
//! the HTTP loop above sees clear text and every counter and timeout stays where it is.
//!
//! A write returns once its records are in the socket, as a clear-text write does: when the socket is full after
//! rustls took the bytes, the count is kept ("owed") and given back on the next poll, once the records left.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::ops::DerefMut;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use fulcrum_tls::rustls::pki_types::ServerName;
use fulcrum_tls::rustls::server::Acceptor;
use fulcrum_tls::rustls::{
    ClientConfig, ClientConnection, ConnectionCommon, ServerConfig, ServerConnection,
};
use fulcrum_tls::server::ServerTls;
use fulcrum_tls::Facts;
use tokio::net::TcpStream;

/// One client connection's TLS session.
pub struct TlsSession {
    conn: RefCell<ServerConnection>,
    /// Clear-text bytes taken by the last write whose records had not all reached the socket.
    owed: Cell<usize>,
    /// What the handshake settled (SNI, ALPN, version, cipher, client certificate).
    pub facts: Arc<Facts>,
}

/// `Read` over a shared tokio socket (non-blocking: `WouldBlock` clears the socket's readiness).
struct SockRead<'a>(&'a TcpStream);

impl Read for SockRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

/// `Write` over a shared tokio socket (non-blocking).
struct SockWrite<'a>(&'a TcpStream);

impl Write for SockWrite<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tls_error(e: fulcrum_tls::rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Reads the ClientHello, then starts the session with the configuration its server name asks for.
async fn choose(
    stream: &TcpStream,
    tls: &ServerTls,
) -> io::Result<(ServerConnection, Arc<ServerConfig>, Chosen)> {
    let mut acceptor = Acceptor::default();
    let accepted = std::future::poll_fn(|cx| loop {
        match acceptor.accept() {
            Ok(Some(a)) => return Poll::Ready(Ok(a)),
            Ok(None) => {}
            Err((e, mut alert)) => {
                let _ = alert.write(&mut SockWrite(stream));
                return Poll::Ready(Err(tls_error(e)));
            }
        }
        ready!(stream.poll_read_ready(cx))?;
        match acceptor.read_tls(&mut SockRead(stream)) {
            Ok(0) => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the client closed during the TLS handshake",
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    })
    .await?;
    let config = tls.for_name(accepted.client_hello().server_name());
    // The certificate is chosen while the ClientHello is processed, here.
    drop(fulcrum_tls::sni::take_chosen());
    let conn = accepted
        .into_connection(config.clone())
        .map_err(|(e, mut alert)| {
            let _ = alert.write(&mut SockWrite(stream));
            tls_error(e)
        })?;
    Ok((conn, config, fulcrum_tls::sni::take_chosen()))
}

/// The certificate a handshake presented, once known.
type Chosen = Option<Arc<fulcrum_tls::rustls::sign::CertifiedKey>>;

/// Sends what rustls holds for the socket, waiting for room.
fn poll_flush_tls<C, D>(
    conn: &mut C,
    stream: &TcpStream,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
    while conn.wants_write() {
        ready!(stream.poll_write_ready(cx))?;
        match conn.write_tls(&mut SockWrite(stream)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
    Poll::Ready(Ok(()))
}

/// Sends what rustls holds for the socket as far as the socket takes it now (an alert before closing).
fn flush_now<C, D>(conn: &mut C, mut out: impl Write)
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
    while conn.wants_write() {
        match conn.write_tls(&mut out) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// Reads records from the socket into rustls and processes them; `Ok(false)` at the end of the stream.
fn poll_read_tls<C, D>(
    conn: &mut C,
    stream: &TcpStream,
    cx: &mut Context<'_>,
) -> Poll<io::Result<bool>>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
    loop {
        ready!(stream.poll_read_ready(cx))?;
        match conn.read_tls(&mut SockRead(stream)) {
            Ok(0) => return Poll::Ready(Ok(false)),
            Ok(_) => {
                if let Err(e) = conn.process_new_packets() {
                    // The alert rustls queued tells the client why.
                    flush_now(conn, SockWrite(stream));
                    return Poll::Ready(Err(tls_error(e)));
                }
                return Poll::Ready(Ok(true));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// Drives a handshake to its end; `peer` names the other side in the error when it closes first.
fn poll_handshake<C, D>(
    conn: &mut C,
    stream: &TcpStream,
    cx: &mut Context<'_>,
    peer: &str,
) -> Poll<io::Result<()>>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
    loop {
        ready!(poll_flush_tls(conn, stream, cx))?;
        if !conn.is_handshaking() {
            return Poll::Ready(Ok(()));
        }
        if !ready!(poll_read_tls(conn, stream, cx))? {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the {peer} closed during the TLS handshake"),
            )));
        }
    }
}

/// Reads clear text into `buf`, reading and processing records until some is there. `Ok(0)`: the peer closed
/// (with or without `close_notify`, read alike, as a clear-text close). Only the bytes rustls hands over are
/// initialised first, not the whole of `buf` (a body read may offer hundreds of KiB).
fn poll_read_plain<C, D>(
    conn: &mut C,
    stream: &TcpStream,
    cx: &mut Context<'_>,
    buf: &mut [MaybeUninit<u8>],
) -> Poll<io::Result<usize>>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
    loop {
        let state = conn.process_new_packets().map_err(tls_error)?;
        let ready_bytes = state.plaintext_bytes_to_read().min(buf.len());
        if ready_bytes > 0 || state.peer_has_closed() {
            let part = &mut buf[..ready_bytes];
            for b in part.iter_mut() {
                b.write(0);
            }
            // SAFETY: every byte of `part` was just initialised.
            let part: &mut [u8] = unsafe { &mut *(part as *mut [MaybeUninit<u8>] as *mut [u8]) };
            return match conn.reader().read(part) {
                Ok(n) => Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(0)),
                Err(e) => Poll::Ready(Err(e)),
            };
        }
        // Records rustls produced meanwhile (a key update, tickets) leave when the socket takes them.
        flush_now(conn, SockWrite(stream));
        if !ready!(poll_read_tls(conn, stream, cx))? {
            return Poll::Ready(Ok(0));
        }
    }
}

impl TlsSession {
    /// Runs the server side of the handshake on `stream`. When the bind line's configuration depends on the
    /// server name (`crt-list` lines with options), the ClientHello is read first to choose it.
    pub async fn accept(stream: &TcpStream, tls: &ServerTls) -> io::Result<TlsSession> {
        let (mut conn, config, mut own) = if tls.by_name() {
            choose(stream, tls).await?
        } else {
            let config = tls.default_config();
            (
                ServerConnection::new(config.clone()).map_err(tls_error)?,
                config,
                None,
            )
        };
        // The certificate the resolver chose, taken in the same poll as the step that chose it (no other
        // handshake runs on this thread in between).
        std::future::poll_fn(|cx| {
            drop(fulcrum_tls::sni::take_chosen());
            let r = poll_handshake(&mut conn, stream, cx, "client");
            if let Some(k) = fulcrum_tls::sni::take_chosen() {
                own = Some(k);
            }
            r
        })
        .await?;
        let mut facts = Facts::of(&conn, tls, &config);
        facts.own = own.or_else(|| tls.presented(&config, conn.server_name()));
        let facts = Arc::new(facts);
        Ok(TlsSession {
            conn: RefCell::new(conn),
            owed: Cell::new(0),
            facts,
        })
    }

    /// Reads clear text into `buf`. `Ok(0)`: the client closed (with or without `close_notify`).
    pub fn poll_read(
        &self,
        stream: &TcpStream,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        poll_read_plain(&mut *self.conn.borrow_mut(), stream, cx, buf)
    }

    /// Reads the clear text already available into `buf`, without waiting (`WouldBlock` when there is none).
    pub fn try_read(&self, stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // SAFETY: only initialised bytes are ever written into the slice.
        let buf: &mut [MaybeUninit<u8>] =
            unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        match self.poll_read(stream, &mut cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Writes clear text from `bufs`; returns once its records are in the socket.
    pub fn poll_write(
        &self,
        stream: &TcpStream,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut conn = self.conn.borrow_mut();
        ready!(poll_flush_tls(&mut *conn, stream, cx))?;
        let owed = self.owed.take();
        if owed > 0 {
            return Poll::Ready(Ok(owed));
        }
        let n = conn.writer().write_vectored(bufs)?;
        self.owed.set(n);
        ready!(poll_flush_tls(&mut *conn, stream, cx))?;
        Poll::Ready(Ok(self.owed.take()))
    }

    /// Whether clear text already decrypted waits to be read.
    pub fn has_plaintext(&self) -> bool {
        self.conn
            .borrow_mut()
            .process_new_packets()
            .is_ok_and(|s| s.plaintext_bytes_to_read() > 0)
    }

    /// Tells the client the session ends (`close_notify`), as far as the socket takes it now.
    pub fn close(&self, stream: &TcpStream) {
        let mut conn = self.conn.borrow_mut();
        conn.send_close_notify();
        flush_now(&mut *conn, SockWrite(stream));
    }

    /// [`TlsSession::close`] for a connection out of the reactor (parked): the socket written directly.
    pub fn close_parked(&self, stream: &std::net::TcpStream) {
        let mut conn = self.conn.borrow_mut();
        conn.send_close_notify();
        flush_now(&mut *conn, stream);
    }
}

/// One server connection's TLS session (`server ... ssl`): rustls' client session driven over the connection's
/// socket like [`TlsSession`], owned by the server connection (`http/server_conn.rs`; no sharing, so no cell).
pub struct TlsClientSession {
    conn: ClientConnection,
    /// Clear-text bytes taken by the last write whose records had not all reached the socket.
    owed: usize,
    /// What the handshake settled (`ssl_bc*` fetches).
    pub facts: Arc<Facts>,
    /// Its place under `maxsslconn` ([`TlsClientSession::counted_as`]).
    counted: Option<crate::model::ssl_conns::SslConn>,
}

impl TlsClientSession {
    /// Holds `conn` (the session's place under `maxsslconn`) for as long as the session lives.
    pub fn counted_as(mut self, conn: crate::model::ssl_conns::SslConn) -> Self {
        self.counted = Some(conn);
        self
    }

    /// Runs the client side of the handshake on `stream`, for `name` (sent as SNI when it is a DNS name).
    pub async fn connect(
        stream: &TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<TlsClientSession> {
        let sni = match &name {
            ServerName::DnsName(n) => Some(n.as_ref().to_string()),
            _ => None,
        };
        let mut conn = ClientConnection::new(config, name).map_err(tls_error)?;
        std::future::poll_fn(|cx| poll_handshake(&mut conn, stream, cx, "server")).await?;
        let facts = Arc::new(Facts::of_server(&conn, sni.as_deref()));
        Ok(TlsClientSession {
            conn,
            owed: 0,
            facts,
            counted: None,
        })
    }

    /// Reads clear text into `buf`. `Ok(0)`: the server closed (with or without `close_notify`).
    pub fn poll_read(
        &mut self,
        stream: &TcpStream,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        poll_read_plain(&mut self.conn, stream, cx, buf)
    }

    /// Writes clear text from `bufs`; returns once its records are in the socket.
    pub fn poll_write(
        &mut self,
        stream: &TcpStream,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(poll_flush_tls(&mut self.conn, stream, cx))?;
        let owed = std::mem::take(&mut self.owed);
        if owed > 0 {
            return Poll::Ready(Ok(owed));
        }
        self.owed = self.conn.writer().write_vectored(bufs)?;
        ready!(poll_flush_tls(&mut self.conn, stream, cx))?;
        Poll::Ready(Ok(std::mem::take(&mut self.owed)))
    }

    /// Whether the idle session can carry another request: records that arrived while it was idle are taken in
    /// (TLS 1.3 session tickets, a key update); clear text, a `close_notify`, an error or the end of the stream
    /// mean it cannot. Never waits.
    pub fn is_idle_usable(&mut self, stream: &TcpStream) -> bool {
        if self.owed > 0 {
            return false;
        }
        loop {
            match self.conn.read_tls(&mut SockRead(stream)) {
                Ok(0) => return false,
                Ok(_) => match self.conn.process_new_packets() {
                    Ok(state) => {
                        if state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() {
                            return false;
                        }
                    }
                    Err(_) => return false,
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        flush_now(&mut self.conn, SockWrite(stream));
        !self.conn.wants_write()
    }

    /// Tells the server the session ends (`close_notify`), as far as the socket takes it now.
    pub fn close(&mut self, stream: &TcpStream) {
        self.conn.send_close_notify();
        flush_now(&mut self.conn, SockWrite(stream));
    }
}
