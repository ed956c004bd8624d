//! Access logs of `mode tcp`: one line when the connection ends (`option tcplog` or a `log-format`), or
//! HAProxy's `Connect from` line when it starts.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::model::log::fields::Fields;
use crate::model::log::{clock, ms, FrontendLog, LogKind};
use crate::model::server::ServerRt;
use crate::model::snapshot::{BackendRt, FrontendRt};

/// The record of one TCP connection.
pub struct TcpLog {
    fe: Arc<FrontendRt>,
    log: Arc<FrontendLog>,
    client: SocketAddr,
    local: Option<SocketAddr>,
    accept: Instant,
    accept_us: i64,
    backend: Option<Arc<BackendRt>>,
    server: Option<Arc<ServerRt>>,
    backend_src: Option<SocketAddr>,
    /// The client connection's TLS facts (`%sslv`, `%sslc`, `%[ssl_fc*]`).
    tls: Option<std::sync::Arc<fulcrum_tls::Facts>>,
    /// The server connection's (`%[ssl_bc*]`).
    server_tls: Option<std::sync::Arc<fulcrum_tls::Facts>>,
    t_queue: Option<Instant>,
    t_connected: Option<Instant>,
    term: [u8; 2],
    retries: u32,
    /// The line went out already (`option logasap`, once the server connection was up).
    logged: bool,
    /// The connection's `unique-id-format` ID (`%ID`).
    unique_id: Option<Box<[u8]>>,
    /// `set-log-level` of the `tcp-request content` / `tcp-response content` rules: the line's level
    /// (`Some(None)`: silent, no line), shared with the rules' facts.
    level: std::rc::Rc<std::cell::Cell<Option<Option<u8>>>>,
}

impl TcpLog {
    /// Starts the record of a connection just accepted by `fe`; `None` when it does not log a line at the end
    /// (the `Connect from` line, if that is what the frontend logs, is sent now).
    pub fn begin(
        fe: &Arc<FrontendRt>,
        client: SocketAddr,
        local: Option<SocketAddr>,
    ) -> Option<TcpLog> {
        let log = fe.log.clone()?;
        let accept_us = clock::unix_us(SystemTime::now());
        if matches!(log.kind, LogKind::Connect) {
            // With dontlognull the line would have to wait for data; like an empty connection, it is not sent.
            if !log.dontlognull {
                log.emit_connect(accept_us, client, local);
            }
            return None;
        }
        Some(TcpLog {
            fe: fe.clone(),
            log,
            client,
            local,
            accept: Instant::now(),
            accept_us,
            backend: None,
            server: None,
            backend_src: None,
            tls: None,
            server_tls: None,
            t_queue: None,
            t_connected: None,
            term: *b"--",
            retries: 0,
            logged: false,
            unique_id: None,
            level: Default::default(),
        })
    }

    /// Where the rules' `set-log-level` leaves the level of the line.
    pub fn level_cell(&self) -> std::rc::Rc<std::cell::Cell<Option<Option<u8>>>> {
        self.level.clone()
    }

    /// The backend chosen.
    pub fn backend(&mut self, be: &Arc<BackendRt>) {
        be.cur.fetch_add(1, Ordering::Relaxed);
        self.backend = Some(be.clone());
    }

    /// A server was picked.
    pub fn server(&mut self, s: &Arc<ServerRt>) {
        if self.t_queue.is_none() {
            self.t_queue = Some(Instant::now());
        }
        self.server = Some(s.clone());
    }

    /// A connection attempt failed and is retried.
    pub fn retry(&mut self) {
        self.retries += 1;
    }

    /// Connected to the server, from local address `src`.
    pub fn connected(&mut self, src: Option<SocketAddr>) {
        self.t_connected = Some(Instant::now());
        self.backend_src = src;
    }

    /// The TLS facts of the client connection and of the server connection, where they speak TLS.
    pub fn tls(
        &mut self,
        client: Option<std::sync::Arc<fulcrum_tls::Facts>>,
        server: Option<std::sync::Arc<fulcrum_tls::Facts>>,
    ) {
        self.tls = client;
        self.server_tls = server;
    }

    /// The connection's unique ID (`unique-id-format`).
    pub fn unique_id(&mut self, id: &[u8]) {
        self.unique_id = Some(id.into());
    }

    /// Sets the termination state.
    pub fn term(&mut self, term: &[u8; 2]) {
        if self.term == *b"--" {
            self.term = *term;
        }
    }

    /// With `option logasap`, logs the connection now that the server connection is up (nothing moved yet).
    pub fn asap(&mut self) {
        if self.log.logasap && !self.logged {
            self.logged = true;
            self.emit(0, 0);
        }
    }

    /// Logs the connection (unless [`TcpLog::asap`] did): `bytes_in` from the client, `bytes_out` to it.
    pub fn end(mut self, bytes_in: u64, bytes_out: u64) {
        if let Some(be) = self.backend.take() {
            be.cur.fetch_sub(1, Ordering::Relaxed);
            self.backend = Some(be);
        }
        if self.logged || (self.log.dontlognull && bytes_in == 0) {
            return;
        }
        self.emit(bytes_in, bytes_out);
    }

    fn emit(&self, bytes_in: u64, bytes_out: u64) {
        let end = Instant::now();
        let wall = |t: Instant| {
            self.accept_us + t.saturating_duration_since(self.accept).as_micros() as i64
        };
        let fields = Fields {
            cookies: [None, None],
            client: Some(self.client),
            frontend_addr: self.local,
            backend_src: self.backend_src,
            server_addr: self.server.as_ref().map(|s| s.addr()),
            accept_us: self.accept_us,
            request_us: self.accept_us,
            frontend: &self.fe.name,
            ssl: self.tls.as_ref().map(|f| (f.version, f.cipher)),
            tls: self.tls.as_deref(),
            server_tls: self.server_tls.as_deref(),
            backend: self
                .backend
                .as_ref()
                .map_or(self.fe.name.as_str(), |b| b.name.as_str()),
            server: self
                .server
                .as_ref()
                .map_or("<NOSRV>", |s| s.config.name.as_str()),
            th: 0,
            ti: -1,
            t_req: -1,
            tw: if self.server.is_some() {
                ms(Some(self.accept), self.t_queue)
            } else {
                -1
            },
            tc: ms(self.t_queue, self.t_connected),
            tr: -1,
            ta: -1,
            tt: ms(Some(self.accept), Some(end)),
            status: 0,
            bytes_out,
            bytes_in,
            term: self.term,
            cookie: *b"--",
            conns: [
                self.fe.actconn.load(Ordering::Relaxed),
                self.fe.cur.load(Ordering::Relaxed),
                self.backend
                    .as_ref()
                    .map_or(0, |b| b.cur.load(Ordering::Relaxed)),
                self.server
                    .as_ref()
                    .map_or(0, |s| s.cur.load(Ordering::Relaxed)),
            ],
            retries: self.retries,
            request: None,
            captures: [&[], &[]],
            vars: None,
            unique_id: self.unique_id.as_deref(),
            asap: self.log.logasap,
            comp_algo: None,
        };
        match self.level.get() {
            None => self.log.emit(wall(end), &fields),
            // `set-log-level silent`
            Some(None) => {}
            Some(Some(level)) => self.log.emit_at(level, wall(end), &fields),
        }
    }
}

/// `unique-id-format` in `mode tcp`: the connection's ID, rendered once the backend is known, before the server
/// connection (which may carry it in a PROXY v2 header), from the connection's facts.
pub fn render_unique_id(
    format: &crate::model::log::LogFormat,
    fe: &FrontendRt,
    be: &BackendRt,
    (client, local, accept_us): (SocketAddr, Option<SocketAddr>, i64),
    tls: Option<&fulcrum_tls::Facts>,
) -> Vec<u8> {
    let fields = Fields {
        client: Some(client),
        frontend_addr: local,
        accept_us,
        request_us: accept_us,
        frontend: &fe.name,
        backend: &be.name,
        ssl: tls.map(|f| (f.version, f.cipher)),
        tls,
        ..Fields::default()
    };
    let mut out = Vec::new();
    format.render(&fields, &mut out);
    out
}
