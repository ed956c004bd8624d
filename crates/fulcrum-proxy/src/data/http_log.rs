//! Access logs of `mode http`.
//!
//! [`ConnLog`] follows one client connection: it counts the bytes read and written (the client connection,
//! `client_io.rs`, reports them), the first byte of each request, and holds the request whose response has
//! ended. [`TxnSlot`] is one request: the request path marks its steps (backend chosen, server picked, connected,
//! response head) and the response body (`http/body.rs`) hands it back when its last byte was
//! written. The line is emitted once the whole response is on the socket — so `%B` counts exactly the bytes sent
//! to the client (status line, headers, chunk framing and body), as HAProxy does.

use std::net::SocketAddr;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::model::log::fields::Fields;
use crate::model::log::{clock, ms, FrontendLog, LogKind};
use crate::model::server::ServerRt;
use crate::model::snapshot::{BackendRt, FrontendRt};

/// A request whose response has ended, waiting for its bytes to be flushed. A lock-free slot.
struct Pending(AtomicPtr<HttpTxn>);

impl Pending {
    fn put(&self, txn: Box<HttpTxn>) -> Option<Box<HttpTxn>> {
        let old = self.0.swap(Box::into_raw(txn), Ordering::AcqRel);
        // SAFETY: a non-null pointer in the slot always comes from `Box::into_raw` above and is owned by the
        // slot alone; swapping it out transfers that ownership back.
        (!old.is_null()).then(|| unsafe { Box::from_raw(old) })
    }

    fn take(&self) -> Option<Box<HttpTxn>> {
        let old = self.0.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: as in `put`.
        (!old.is_null()).then(|| unsafe { Box::from_raw(old) })
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// A time as nanoseconds after the connection's accept, plus one (0 means none).
struct At(AtomicU64);

impl At {
    fn new(v: Option<u64>) -> At {
        At(AtomicU64::new(v.map_or(0, |n| n + 1)))
    }
    fn get(&self) -> Option<u64> {
        self.0.load(Ordering::Relaxed).checked_sub(1)
    }
    fn set(&self, v: Option<u64>) {
        self.0.store(v.map_or(0, |n| n + 1), Ordering::Relaxed);
    }
}

/// The logging state of one client connection.
pub struct ConnLog {
    fe: Arc<FrontendRt>,
    log: Arc<FrontendLog>,
    client: SocketAddr,
    local: Option<SocketAddr>,
    accept: Instant,
    accept_us: i64,
    written: AtomicU64,
    read: AtomicU64,
    logged_written: AtomicU64,
    logged_read: AtomicU64,
    first_byte: At,
    awaiting_request: AtomicBool,
    stream_start: At,
    pending: Pending,
    /// `option logasap`: a request whose response head is being written, logged at the first write.
    asap: Pending,
    requests: AtomicU64,
    connect_logged: AtomicBool,
    /// What the TLS handshake settled, once it is done.
    tls: std::sync::OnceLock<Arc<fulcrum_tls::Facts>>,
}

impl ConnLog {
    /// Starts following a connection of `fe`, if the frontend logs.
    pub fn new(
        fe: &Arc<FrontendRt>,
        client: SocketAddr,
        local: Option<SocketAddr>,
    ) -> Option<Arc<ConnLog>> {
        let log = fe.log.clone()?;
        let accept = Instant::now();
        Some(Arc::new(ConnLog {
            fe: fe.clone(),
            log,
            client,
            local,
            accept,
            accept_us: clock::unix_us(SystemTime::now()),
            written: AtomicU64::new(0),
            read: AtomicU64::new(0),
            logged_written: AtomicU64::new(0),
            logged_read: AtomicU64::new(0),
            first_byte: At::new(None),
            awaiting_request: AtomicBool::new(true),
            stream_start: At::new(Some(0)),
            pending: Pending(AtomicPtr::new(ptr::null_mut())),
            asap: Pending(AtomicPtr::new(ptr::null_mut())),
            requests: AtomicU64::new(0),
            connect_logged: AtomicBool::new(false),
            tls: std::sync::OnceLock::new(),
        }))
    }

    /// Records what the TLS handshake settled (`%sslv`, `%sslc`, the `~` of `%ft`, `%[ssl_fc*]`).
    pub fn set_tls(&self, facts: Arc<fulcrum_tls::Facts>) {
        let _ = self.tls.set(facts);
    }

    fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.accept).as_nanos() as u64
    }

    fn instant(&self, at: &At) -> Option<Instant> {
        at.get().map(|n| self.accept + Duration::from_nanos(n))
    }

    fn wall(&self, t: Instant) -> i64 {
        self.accept_us + t.saturating_duration_since(self.accept).as_micros() as i64
    }

    fn counters(&self) -> [u32; 2] {
        [
            self.fe.actconn.load(Ordering::Relaxed),
            self.fe.cur.load(Ordering::Relaxed),
        ]
    }

    fn log_connect(&self) {
        if !self.connect_logged.swap(true, Ordering::Relaxed) {
            self.log
                .emit_connect(self.wall(Instant::now()), self.client, self.local);
        }
    }

    /// Counts `n` bytes read from the client; the first byte of a request starts its clock.
    pub fn on_read(&self, n: usize) {
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        if self.awaiting_request.load(Ordering::Relaxed) && self.first_byte.get().is_none() {
            self.first_byte.set(Some(self.ns(Instant::now())));
        }
    }

    /// Counts `n` bytes written to the client.
    pub fn on_written(&self, n: usize) {
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        if self.log.logasap {
            self.flush_asap();
        }
    }

    /// `option logasap`: emits the line of the request whose response head is (being) written.
    fn flush_asap(&self) {
        if let Some(mut txn) = self.asap.take() {
            // Emitted before the record lets go of the backend: `%bc` still counts this request, as in HAProxy.
            self.emit_txn(&txn, true);
            txn.finish();
        }
    }

    /// Emits the line of the request whose response ended, once its bytes are all out.
    pub fn flush_pending(&self) {
        self.flush_asap();
        let Some(txn) = self.pending.take() else {
            return;
        };
        self.emit_txn(&txn, false);
    }

    /// `early`: a `logasap` line, sent as the response head goes out (HAProxy shows no `%U` then).
    fn emit_txn(&self, txn: &HttpTxn, early: bool) {
        let end = txn.end.unwrap_or_else(Instant::now);
        let written = self.written.load(Ordering::Relaxed);
        let read = self.read.load(Ordering::Relaxed);
        let bytes_out =
            written.saturating_sub(self.logged_written.swap(written, Ordering::Relaxed));
        let bytes_in = read.saturating_sub(self.logged_read.swap(read, Ordering::Relaxed));
        self.stream_start.set(Some(self.ns(end)));
        self.awaiting_request.store(true, Ordering::Relaxed);
        let [ac, fc] = self.counters();
        let be_name = txn
            .backend
            .as_ref()
            .map_or(self.fe.name.as_str(), |b| b.name.as_str());
        let server = txn
            .server
            .as_ref()
            .map_or("<NOSRV>", |s| s.config.name.as_str());
        let fields = Fields {
            client: Some(self.client),
            frontend_addr: self.local,
            backend_src: txn.backend_src,
            server_addr: txn.server.as_ref().map(|s| s.addr()),
            accept_us: self.wall(txn.start),
            request_us: self.wall(txn.first_byte),
            frontend: &self.fe.name,
            ssl: self.tls.get().map(|f| (f.version, f.cipher)),
            tls: self.tls.get().map(|f| &**f),
            server_tls: txn.server_tls.as_deref(),
            backend: be_name,
            server,
            th: 0,
            ti: ms(Some(txn.start), Some(txn.first_byte)),
            t_req: if txn.bad {
                -1
            } else {
                ms(Some(txn.first_byte), Some(txn.head))
            },
            tw: if txn.server.is_some() || txn.t_queue.is_some() {
                ms(Some(txn.head), txn.t_queue)
            } else {
                -1
            },
            tc: ms(txn.t_queue, txn.t_connected),
            tr: ms(txn.t_connected, txn.t_response),
            ta: ms(Some(txn.first_byte), Some(end)),
            tt: ms(Some(txn.start), Some(end)),
            status: txn.status,
            bytes_out: if txn.bad { 0 } else { bytes_out },
            bytes_in: if early { 0 } else { bytes_in },
            term: txn.term,
            cookie: txn.cookie,
            conns: [
                ac,
                fc,
                txn.backend
                    .as_ref()
                    .map_or(0, |b| b.cur.load(Ordering::Relaxed)),
                txn.server
                    .as_ref()
                    .map_or(0, |s| s.cur.load(Ordering::Relaxed)),
            ],
            retries: txn.retries,
            request: if txn.bad { None } else { Some(&txn.request) },
            captures: [&txn.captures[0], &txn.captures[1]],
            cookies: [txn.cookies[0].as_deref(), txn.cookies[1].as_deref()],
            vars: txn.vars.as_deref(),
            unique_id: txn.unique_id.as_deref(),
            asap: self.log.logasap,
            comp_algo: txn.comp_algo,
        };
        match txn.level {
            // `set-log-level silent`
            Some(None) => {}
            Some(Some(level)) => self.log.emit_at(level, self.wall(end), &fields),
            None => self.log.emit(self.wall(end), &fields),
        }
    }

    /// Called when the connection ends: logs a pending request, and what HAProxy logs for a connection that
    /// ends without a complete request (`408` on a timeout, `400` on a bad or truncated request head).
    pub fn close(&self, end: Option<ConnEnd>, timeout_answered: bool) {
        self.flush_pending();
        let got_bytes =
            self.read.load(Ordering::Relaxed) > self.logged_read.load(Ordering::Relaxed);
        let (status, term) = match end {
            Some(ConnEnd::Timeout) => {
                if !timeout_answered {
                    return;
                }
                (408, *b"cR")
            }
            Some(ConnEnd::BadHead(status)) => (i32::from(status), *b"PR"),
            // A closed or reset connection before a complete request.
            Some(_) | None if self.requests.load(Ordering::Relaxed) == 0 || got_bytes => {
                (400, *b"CR")
            }
            _ => return,
        };
        if self.log.dontlognull && !got_bytes {
            return;
        }
        if matches!(self.log.kind, LogKind::Connect) {
            self.log_connect();
            return;
        }
        let start = self.instant(&self.stream_start).unwrap_or(self.accept);
        let mut txn = HttpTxn::blank(start);
        txn.first_byte = self.instant(&self.first_byte).unwrap_or(start);
        txn.bad = true;
        txn.status = status;
        txn.term = term;
        txn.end = Some(Instant::now());
        self.emit_txn(&txn, false);
    }
}

/// How a client connection ended without a complete request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnEnd {
    /// The request head did not arrive in time.
    Timeout,
    /// The request head was invalid or too large; the status it was answered with.
    BadHead(u16),
    /// The client closed or reset the connection, or a read failed.
    Closed,
}

/// One request being served.
pub struct HttpTxn {
    start: Instant,
    first_byte: Instant,
    head: Instant,
    request: Vec<u8>,
    bad: bool,
    backend: Option<Arc<BackendRt>>,
    server: Option<Arc<ServerRt>>,
    t_queue: Option<Instant>,
    t_connected: Option<Instant>,
    /// The local address of the connection to the server (`%bi:%bp`).
    backend_src: Option<SocketAddr>,
    /// The TLS facts of the connection to the server (`%[ssl_bc*]`).
    server_tls: Option<Arc<fulcrum_tls::Facts>>,
    t_response: Option<Instant>,
    status: i32,
    term: [u8; 2],
    term_set: bool,
    /// The persistence cookie letters (`%tsc`'s last two).
    cookie: [u8; 2],
    retries: u32,
    end: Option<Instant>,
    conn: Option<Arc<ConnLog>>,
    /// `capture request header` and `capture response header` values.
    captures: [crate::model::log::capture::Captured; 2],
    /// `capture cookie`: the request's and the response's.
    cookies: [Option<Box<[u8]>>; 2],
    /// The transaction's variables, kept when the format reads samples.
    vars: Option<Box<crate::model::log::fields::LogVars>>,
    /// The request's unique ID (`%ID`).
    unique_id: Option<Box<[u8]>>,
    /// The algorithm the response was compressed with (`res.comp_algo`).
    comp_algo: Option<&'static str>,
    /// `set-log-level`: the level of the line (`Some(None)`: `silent`, no line).
    level: Option<Option<u8>>,
}

impl HttpTxn {
    fn blank(now: Instant) -> HttpTxn {
        HttpTxn {
            start: now,
            first_byte: now,
            head: now,
            request: Vec::new(),
            bad: false,
            backend: None,
            server: None,
            t_queue: None,
            t_connected: None,
            backend_src: None,
            server_tls: None,
            t_response: None,
            status: -1,
            term: *b"--",
            term_set: false,
            cookie: *b"--",
            retries: 0,
            end: None,
            conn: None,
            captures: [Vec::new(), Vec::new()],
            cookies: [None, None],
            vars: None,
            unique_id: None,
            comp_algo: None,
            level: None,
        }
    }

    /// The response body ended as `end` says (logged as its termination state unless one was set before).
    pub fn body_done(mut self: Box<Self>, end: BodyEnd) {
        if let Some(term) = end.term() {
            self.set_term(term);
        }
        self.finish();
        if let Some(conn) = self.conn.take() {
            if let Some(previous) = conn.pending.put(self) {
                conn.emit_txn(&previous, false);
            }
        }
    }

    fn finish(&mut self) {
        self.end = Some(Instant::now());
        if let Some(be) = &self.backend {
            be.cur.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn set_term(&mut self, term: [u8; 2]) {
        if !self.term_set {
            self.term = term;
            self.term_set = true;
        }
    }
}

/// How a response body ended, as the access log's termination state tells it (data phase).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// All of it reached the client.
    Complete,
    /// The client went away first (`CD`).
    ClientGone,
    /// The client took nothing for `timeout client` (`cD`).
    ClientSilent,
    /// The server's body failed: it closed early, or sent something that is not HTTP (`SD`).
    ServerFailed,
    /// The server sent nothing for `timeout server` (`sD`).
    ServerSilent,
}

impl BodyEnd {
    fn term(self) -> Option<[u8; 2]> {
        match self {
            BodyEnd::Complete => None,
            BodyEnd::ClientGone => Some(*b"CD"),
            BodyEnd::ClientSilent => Some(*b"cD"),
            BodyEnd::ServerFailed => Some(*b"SD"),
            BodyEnd::ServerSilent => Some(*b"sD"),
        }
    }
}

impl Drop for HttpTxn {
    fn drop(&mut self) {
        // Dropped without a response handed to the client (the connection ended under it): log it now.
        if let Some(conn) = self.conn.take() {
            self.set_term(*b"CH");
            self.finish();
            conn.flush_pending();
            conn.emit_txn(self, false);
        } else if self.end.is_none() {
            // A `logasap` record never logged (its connection went away first) still leaves `%bc`.
            self.finish();
        }
    }
}

/// Where a request stands on its way to a server, as the termination state's second letter tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for a server (`Q`).
    Queue,
    /// Connecting to the server, or waiting to try again (`C`).
    Connect,
    /// Waiting for the response head (`H`).
    Response,
}

/// The log record of a request, if its frontend logs (all methods do nothing otherwise).
#[derive(Default)]
pub struct TxnSlot(Option<Box<HttpTxn>>);

impl TxnSlot {
    /// Starts the record of a request whose head was just received.
    pub fn begin<B>(conn: Option<&Arc<ConnLog>>, req: &http::Request<B>) -> TxnSlot {
        let Some(conn) = conn else {
            return TxnSlot(None);
        };
        conn.requests.fetch_add(1, Ordering::Relaxed);
        if conn.log.logasap {
            // The previous response's line went out with its head: the rest of its body is nobody's.
            conn.flush_asap();
            let written = conn.written.load(Ordering::Relaxed);
            conn.logged_written.store(written, Ordering::Relaxed);
        }
        if matches!(conn.log.kind, LogKind::Connect) {
            conn.log_connect();
            return TxnSlot(None);
        }
        let head = Instant::now();
        let start = conn.instant(&conn.stream_start).unwrap_or(conn.accept);
        conn.awaiting_request.store(false, Ordering::Relaxed);
        let first_byte = conn.instant(&conn.first_byte).unwrap_or(head).max(start);
        conn.first_byte.set(None);
        let mut request = Vec::with_capacity(64);
        request.extend_from_slice(req.method().as_str().as_bytes());
        request.push(b' ');
        match req.uri().path_and_query() {
            Some(pq) if req.uri().scheme().is_none() => {
                request.extend_from_slice(pq.as_str().as_bytes())
            }
            _ => request.extend_from_slice(req.uri().to_string().as_bytes()),
        }
        request.push(b' ');
        request.extend_from_slice(match req.version() {
            http::Version::HTTP_10 => b"HTTP/1.0",
            http::Version::HTTP_2 => b"HTTP/2.0",
            _ => b"HTTP/1.1",
        });
        request.truncate(conn.log.uri_len);
        let mut t = Box::new(HttpTxn::blank(head));
        t.start = start;
        t.first_byte = first_byte;
        t.request = request;
        t.captures[0] = conn.fe.captures.request(req.headers());
        t.cookies[0] = conn.fe.captures.request_cookie(req.headers());
        t.conn = Some(conn.clone());
        TxnSlot(Some(t))
    }

    /// Takes the frontend's capture slots as the stream filled them (`%hr`, `%hs`), once the rules have all run;
    /// a side with only `capture ... header` slots keeps what the record took as the messages arrived.
    pub fn keep_captures(
        &mut self,
        slots: [&[fulcrum_config::haproxy::CaptureSlot]; 2],
        captured: &[Vec<Option<Vec<u8>>>; 2],
    ) {
        let Some(t) = &mut self.0 else { return };
        for side in 0..2 {
            if slots[side].iter().all(|s| s.header.is_some()) {
                continue;
            }
            t.captures[side] = (0..slots[side].len())
                .map(|i| {
                    captured[side]
                        .get(i)
                        .cloned()
                        .flatten()
                        .map(Vec::into_boxed_slice)
                })
                .collect();
        }
    }

    /// Keeps the transaction's variables (and a copy of the connection's) for the log line, when its format
    /// reads samples (`%[var(txn.x)]`); called once the rules have all run.
    pub fn keep_vars(
        &mut self,
        txn: &mut crate::model::rules::vars::VarMap,
        sess: &std::cell::RefCell<crate::model::rules::vars::VarMap>,
        timeouts: [Option<i64>; 5],
        last_rule: Option<fulcrum_config::Location>,
    ) {
        let Some(t) = &mut self.0 else {
            return;
        };
        let wants = t
            .conn
            .as_ref()
            .is_some_and(|c| matches!(&c.log.kind, LogKind::Format(f) if f.has_samples()));
        if wants {
            t.vars = Some(Box::new(crate::model::log::fields::LogVars {
                txn: std::mem::take(txn),
                sess: sess.borrow().clone(),
                timeouts,
                last_rule,
            }));
        }
    }

    /// `set-log-level`: the level the line goes out at (`None`: `silent`).
    pub fn set_log_level(&mut self, level: Option<u8>) {
        if let Some(t) = &mut self.0 {
            t.level = Some(level);
        }
    }

    /// Whether the request is being logged.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// The backend chosen for the request (counted in `%bc` until the response ends).
    pub fn backend(&mut self, be: &Arc<BackendRt>) {
        if let Some(t) = &mut self.0 {
            if t.backend.is_none() {
                be.cur.fetch_add(1, Ordering::Relaxed);
                t.backend = Some(be.clone());
            }
        }
    }

    /// A server was picked (the queue step is over).
    pub fn server(&mut self, s: &Arc<ServerRt>) {
        if let Some(t) = &mut self.0 {
            if t.t_queue.is_none() {
                t.t_queue = Some(Instant::now());
            }
            if !t.server.as_ref().is_some_and(|c| Arc::ptr_eq(c, s)) {
                t.server = Some(s.clone());
            }
        }
    }

    /// A connection attempt failed and is retried.
    pub fn retry(&mut self) {
        if let Some(t) = &mut self.0 {
            t.retries += 1;
        }
    }

    /// The connection to the server is ready (new or pooled); `local` is its local address.
    pub fn connected(&mut self, local: Option<SocketAddr>) {
        if let Some(t) = &mut self.0 {
            t.t_connected = Some(Instant::now());
            t.backend_src = local;
        }
    }

    /// The connection to the server speaks TLS, with these facts (`%[ssl_bc*]`).
    pub fn server_tls(&mut self, facts: Option<&Arc<fulcrum_tls::Facts>>) {
        if let Some(t) = &mut self.0 {
            t.server_tls = facts.cloned();
        }
    }

    /// The server's response head arrived, with these headers.
    pub fn response_head(&mut self, headers: &http::HeaderMap) {
        if let Some(t) = &mut self.0 {
            t.t_response = Some(Instant::now());
            if let Some(conn) = &t.conn {
                t.captures[1] = conn.fe.captures.response(headers);
                t.cookies[1] = conn.fe.captures.response_cookie(headers);
            }
        }
    }

    /// Records the algorithm the response is compressed with (`res.comp_algo`).
    pub fn comp_algo(&mut self, algo: &'static str) {
        if let Some(t) = &mut self.0 {
            t.comp_algo = Some(algo);
        }
    }

    /// Records the request's unique ID (`%ID`).
    pub fn unique_id(&mut self, id: &[u8]) {
        if let Some(t) = &mut self.0 {
            t.unique_id = Some(id.into());
        }
    }

    /// Records the persistence cookie's letters: what the request carried (`N`, `I`, `D`, `V`) and what the
    /// response did (`N`, `I`, `D`, `P`, `R`); `-` where it does not apply.
    pub fn cookie(&mut self, letter: usize, value: u8) {
        if let Some(t) = &mut self.0 {
            t.cookie[letter.min(1)] = value;
        }
    }

    /// Marks the request as refused by the parser: logged as `<BADREQ>`, as HAProxy logs it.
    pub fn bad_request(&mut self) {
        if let Some(t) = &mut self.0 {
            t.bad = true;
        }
    }

    /// Sets the termination state (the first cause recorded wins).
    pub fn term(&mut self, term: &[u8; 2]) {
        if let Some(t) = &mut self.0 {
            t.set_term(*term);
        }
    }

    /// The termination state for an error status the proxy answers, unless a cause was already recorded.
    pub fn error_status(&mut self, status: u16) {
        match status {
            503 => self.term(b"SC"),
            504 => self.term(b"sH"),
            502 => self.term(b"SH"),
            _ => self.term(b"PR"),
        }
    }

    /// Ends the record now, with termination state `term` and no status: the request is given up and nothing
    /// will be answered.
    pub fn abort(&mut self, term: &[u8; 2]) {
        self.abort_with(term, None);
    }

    /// [`TxnSlot::abort`], logging `status` as the status (HAProxy logs 400 for a request its client gave up
    /// while the response head was awaited, under `option abortonclose`).
    pub fn abort_with(&mut self, term: &[u8; 2], status: Option<u16>) {
        // A request given up in the queue (`CQ`) logs the time it waited there (`%Tw`), though no server was
        // picked.
        let in_queue = term[1] == b'Q';
        if let Some(mut t) = self.0.take() {
            t.set_term(*term);
            if let Some(s) = status {
                t.status = i32::from(s);
            }
            if in_queue {
                t.t_queue = Some(Instant::now());
            }
            // Dropping a record that still belongs to its connection logs it.
        }
    }

    /// Where the request stands on its way to a server (from what was recorded; [`Phase::Queue`] when the
    /// request is not logged).
    pub fn phase(&self) -> Phase {
        match &self.0 {
            Some(t) if t.t_connected.is_some() => Phase::Response,
            Some(t) if t.t_queue.is_some() => Phase::Connect,
            _ => Phase::Queue,
        }
    }

    /// Takes the record to attach to the response body, noting the status sent. With `option logasap` the
    /// connection keeps it instead, and logs it as soon as the response head is written.
    pub fn into_body_log(mut self, status: u16) -> Option<Box<HttpTxn>> {
        let mut t = self.0.take()?;
        t.status = i32::from(status);
        if let Some(conn) = t.conn.as_ref().filter(|c| c.log.logasap).cloned() {
            t.conn = None;
            if let Some(mut previous) = conn.asap.put(t) {
                conn.emit_txn(&previous, true);
                previous.finish();
            }
            return None;
        }
        Some(t)
    }
}
