//! The runtime API (`stats socket PATH [mode M] [level L]`): unix stream sockets served by one thread, each
//! connection a [`fulcrum_admin::runtime::Session`]; [`RuntimeApi`] answers the commands from the live
//! [`Snapshot`] and applies the changes: admin state and weight (atomics on [`ServerRt`], then the backend's
//! balancing table is rebuilt), frozen health checks, and servers added or deleted at run time
//! ([`crate::model::server_list::ServerList`]). Workers never wait on any of it.

use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::watch;
use tracing::{info, warn};

use fulcrum_admin::runtime::{
    cli_addr, cli_port, AclError, AdminState, CheckChange, Control, CtlError, Info, Level,
    MapEntryInfo, MapRefInfo, MuxProto, NewServer, PatternEntry, PatternRef, ServerState, Session,
    Weight,
};
use fulcrum_config::haproxy::{Config, Mode, Server, StatsAddr, StatsLevel, StatsSocket};

use crate::health::admin_state::{admin_flags, apply_admin};
use crate::model::server::ServerRt;
use crate::model::snapshot::{BackendRt, Snapshot};

/// How long a connection may stay silent (HAProxy's default `stats timeout`).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once, every stats socket together (HAProxy's default `stats maxconn`).
const MAXCONN: usize = 10;

/// A bound `stats socket`.
pub struct StatsListener {
    level: Level,
    socket: Bound,
    /// `expose-fd listeners`: `_getsocks` hands the listening sockets over.
    expose: bool,
}

/// The listening sockets a `stats socket ... expose-fd listeners` hands to a new process (`-x`): duplicates of
/// the proxy's own, by address. A soft stop empties it, so that nothing is kept open that nobody accepts on.
#[derive(Clone, Default)]
pub struct Exposed(Arc<Mutex<Vec<(SocketAddr, std::net::TcpListener)>>>);

impl Exposed {
    /// Adds a socket listening on `addr`.
    pub fn push(&self, addr: SocketAddr, socket: std::net::TcpListener) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((addr, socket));
    }

    /// Closes every exposed socket (the proxy's own copies stay open).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Sends every exposed socket over `stream` (SCM_RIGHTS), one message each whose bytes are the address and a
    /// newline; the receiver ([`crate::net::listener::receive_sockets`]) reads until the stream ends.
    fn send(&self, stream: &std::os::unix::net::UnixStream) -> std::io::Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        use std::os::fd::AsRawFd;
        let sockets = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (addr, socket) in sockets.iter() {
            let line = format!("{addr}\n");
            let iov = [std::io::IoSlice::new(line.as_bytes())];
            let fds = [socket.as_raw_fd()];
            let cmsg = [ControlMessage::ScmRights(&fds)];
            sendmsg::<()>(stream.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
                .map_err(std::io::Error::from)?;
        }
        Ok(())
    }
}

impl StatsListener {
    /// A unix listener made by the caller (the master process's channel to its worker), served at `level`; its
    /// file, if any, belongs to the caller.
    pub fn unix(listener: StdUnixListener, level: StatsLevel) -> StatsListener {
        StatsListener {
            level: self::level(level),
            socket: Bound::Unix(listener),
            expose: false,
        }
    }
}

/// The listening socket of a `stats socket`.
enum Bound {
    /// A unix socket the process created: its file is removed at stop if it is still ours (same inode).
    Created {
        path: PathBuf,
        listener: StdUnixListener,
        ino: u64,
    },
    /// An inherited unix socket (`fd@N`): its file, if any, belongs to whoever made it.
    Unix(StdUnixListener),
    /// A TCP listener, bound here or inherited.
    Tcp(std::net::TcpListener),
}

/// Why a `stats socket` could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Binding the address failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The inherited descriptor is unusable.
    #[error("{0}")]
    Inherit(#[from] crate::net::listener::InheritError),
}

fn level(l: StatsLevel) -> Level {
    match l {
        StatsLevel::User => Level::User,
        StatsLevel::Operator => Level::Operator,
        StatsLevel::Admin => Level::Admin,
    }
}

/// Binds a `stats socket` line. A unix socket is created under a temporary name with the configured mode, then
/// renamed over its path, which replaces a stale socket file atomically (HAProxy does the same); a TCP address is
/// bound; an inherited `fd@N` is taken as it is (the caller claimed it once).
pub fn bind_socket(s: &StatsSocket) -> Result<StatsListener, BindError> {
    let socket = match &s.addr {
        StatsAddr::Unix(path) => bind_unix(path, s.mode)?,
        StatsAddr::Tcp(addr) => {
            let mut l = crate::net::listener::bind_reuseport(*addr, 1)?;
            Bound::Tcp(l.remove(0))
        }
        // Claimed once, when the proxy's sockets are bound.
        StatsAddr::Fd(fd) => match crate::net::listener::take_inherited(*fd)? {
            crate::net::listener::Inherited::Tcp(l) => Bound::Tcp(l),
            crate::net::listener::Inherited::Unix(l) => Bound::Unix(l),
        },
    };
    Ok(StatsListener {
        level: level(s.level),
        socket,
        expose: s.expose_fd_listeners,
    })
}

fn bind_unix(path: &Path, mode: Option<u32>) -> std::io::Result<Bound> {
    let mut tmp = path.to_path_buf().into_os_string();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let listener = StdUnixListener::bind(&tmp)?;
    let done = (|| {
        if let Some(mode) = mode {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        }
        std::fs::rename(&tmp, path)?;
        std::fs::metadata(path)
    })();
    match done {
        Ok(meta) => Ok(Bound::Created {
            path: path.to_path_buf(),
            listener,
            ino: meta.ino(),
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Removes the socket file if it is still ours.
fn remove_socket(path: &Path, ino: u64) {
    if std::fs::metadata(path).is_ok_and(|m| m.ino() == ino) {
        let _ = std::fs::remove_file(path);
    }
}

/// What the runtime API reads and changes; shared by every `stats socket` of the process.
pub struct RuntimeApi {
    snapshot: Arc<Snapshot>,
    /// The idle server connections (see [`RuntimeApi::set_pools`]).
    pools: Option<Arc<crate::data::http::pool::Pools>>,
    /// HAProxy's numeric id of each backend (by [`BackendRt::id`]).
    be_ids: Vec<u32>,
    nbthread: u32,
    listeners: u64,
    started: Instant,
    start_unix: u64,
    /// The next process-wide server id (`ServerRt::id`) for `add server`.
    next_id: AtomicUsize,
    /// Serializes changes made from several connections.
    changes: Mutex<()>,
    /// The runtime of the API thread, which runs the checks of servers added at run time.
    handle: OnceLock<tokio::runtime::Handle>,
    /// The certificates of the `bind ... ssl` lines (`show ssl cert`, `set ssl cert`), when there are some.
    certs: Option<Arc<fulcrum_tls::store::CertStore>>,
    /// `global`'s TLS settings, for servers added with `ssl`.
    global_ssl: fulcrum_config::haproxy::ssl::GlobalSsl,
    /// The listening sockets `_getsocks` hands over.
    exposed: Exposed,
    /// `stats timeout`: how long a connection may stay silent.
    idle: Duration,
    /// `stats maxconn`: connections served at once, every stats socket together.
    slots: Arc<tokio::sync::Semaphore>,
}

/// HAProxy's numeric id of each backend of `snapshot` (by [`BackendRt::id`]): its stats id (`id N`, else the
/// configuration order from 2, 1 being HAProxy's own CLI proxy), as `show servers state` and the server-state
/// file show them.
pub(crate) fn backend_ids(snapshot: &Snapshot) -> Vec<u32> {
    snapshot
        .backends
        .iter()
        .map(|b| u32::try_from(b.iid).unwrap_or(u32::MAX))
        .collect()
}

impl RuntimeApi {
    /// The API over `snapshot`, built from `config`, with `nbthread` workers and `listeners` listening sockets.
    pub fn new(
        config: &Config,
        snapshot: Arc<Snapshot>,
        nbthread: usize,
        listeners: usize,
    ) -> Self {
        let be_ids = backend_ids(&snapshot);
        RuntimeApi {
            next_id: AtomicUsize::new(snapshot.servers.len()),
            pools: None,
            snapshot,
            be_ids,
            nbthread: nbthread as u32,
            listeners: listeners as u64,
            started: Instant::now(),
            start_unix: unix_now(),
            changes: Mutex::new(()),
            handle: OnceLock::new(),
            certs: None,
            global_ssl: config.global.ssl.clone(),
            exposed: Exposed::default(),
            idle: config.global.stats_timeout.unwrap_or(IDLE_TIMEOUT),
            slots: Arc::new(tokio::sync::Semaphore::new(
                config.global.stats_maxconn.map_or(MAXCONN, |n| n as usize),
            )),
        }
    }

    /// The listening sockets `_getsocks` hands over on a socket with `expose-fd listeners`.
    pub fn set_exposed(&mut self, exposed: Exposed) {
        self.exposed = exposed;
    }

    /// The TLS settings of a server added with `ssl` (`verify`, `ca-file`, `crt`; the rest from `global`).
    fn added_tls_settings(&self, new: &NewServer) -> Option<fulcrum_config::haproxy::ServerTls> {
        use fulcrum_config::haproxy::ssl::{SslOptions, Verify};
        if !new.ssl {
            return None;
        }
        let g = &self.global_ssl;
        // Checked when the command was read (see `add_server`).
        let sni = new
            .sni
            .as_deref()
            .and_then(|e| fulcrum_sample::Expr::parse(e).ok())
            .map(|e| fulcrum_config::haproxy::SampleExpr(Arc::new(e)));
        Some(fulcrum_config::haproxy::ServerTls {
            traffic: true,
            checks: new.check,
            verify: new
                .verify
                .unwrap_or(g.server_verify.unwrap_or(Verify::Required) == Verify::Required),
            ca_file: new.ca_file.clone(),
            crl_file: new.crl_file.clone(),
            crt: new.crt.clone(),
            sni,
            verifyhost: None,
            alpn: Vec::new(),
            reuse: true,
            check_sni: None,
            check_alpn: None,
            options: SslOptions::default().over(&g.server_defaults),
        })
    }

    /// The client configuration of a server added with `ssl`, or why it cannot be built.
    fn added_server_tls(
        &self,
        new: &NewServer,
    ) -> Result<Option<fulcrum_tls::client::ServerTlsConfig>, String> {
        let Some(t) = self.added_tls_settings(new) else {
            return Ok(None);
        };
        // Its CA and CRL files as the store has them (last committed, or read from disk and kept), so that
        // `commit ssl ca-file|crl-file` reaches it as it reaches the configured servers.
        match &self.certs {
            Some(store) => {
                fulcrum_tls::client::server_config_with(&t, &self.global_ssl, &|kw, path| {
                    store.read_for_server(kw, path)
                })
            }
            None => fulcrum_tls::client::server_config(&t, &self.global_ssl),
        }
        .map(Some)
        .map_err(|e| e.to_string())
    }

    /// The idle server connections, which `set server ... addr` empties for the server it moves.
    pub fn set_pools(&mut self, pools: Arc<crate::data::http::pool::Pools>) {
        self.pools = Some(pools);
    }

    /// Serves the `ssl cert` commands over `store`.
    pub fn set_certs(&mut self, store: Arc<fulcrum_tls::store::CertStore>) {
        self.certs = Some(store);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn backend(&self, name: &str) -> Result<&Arc<BackendRt>, CtlError> {
        self.snapshot
            .backends
            .iter()
            .find(|b| b.name == name)
            .ok_or(CtlError::NoBackend)
    }

    fn find(&self, b: &str, s: &str) -> Result<(Arc<BackendRt>, Arc<ServerRt>), CtlError> {
        let be = self.backend(b)?;
        let srv = be
            .servers
            .iter()
            .find(|x| x.config.name == s)
            .ok_or(CtlError::NoServer)?;
        Ok((be.clone(), srv.clone()))
    }

    fn state_of(&self, be: &BackendRt, s: &ServerRt) -> ServerState {
        let c = &s.config;
        let maint = s.in_maint();
        let checked_up = s.is_checked_up();
        // The check columns are the checks' own view; an agent holding the server DOWN shows elsewhere.
        let health_up = s.health_up();
        // The last check's own status and result (HAProxy's numbers), and the health counter as the checks (or
        // `set server ... health`) left it; a server without checks starts at `rise`.
        let full = c.rise.max(1) + c.fall.max(1) - 1;
        let health = s.stats.check.health();
        let (check_status, check_result) = match s.stats.check.last() {
            _ if !c.check => (1, 0),
            None => (1, 0),
            Some(st) if st == fulcrum_health::CheckStatus::L7OkCond => (st.number(), 4),
            Some(st) if st.passed() => (st.number(), 3),
            Some(st) => (st.number(), 2),
        };
        let (check_health, check_state) = if c.check {
            // CONFIGURED, ENABLED unless `disable health`, PAUSED while in maintenance with checks enabled (as
            // HAProxy's check state: disabled checks are not paused).
            let flags = if s.checks_frozen() {
                0x02
            } else {
                0x06 | if maint { 0x08 } else { 0 }
            };
            let derived = if health_up { full } else { 0 };
            (health.unwrap_or(derived), flags)
        } else {
            let paused = if s.admin() & ServerRt::ADMIN_CMAINT != 0 {
                0x08
            } else {
                0
            };
            let h = if maint { 0 } else { health.unwrap_or(c.rise) };
            (h, paused)
        };
        // Where the checks and the agent go now (one lock each).
        let (check_addr, check_port) = s.check_target();
        let agent = s.agent_target();
        ServerState {
            be_id: self.be_ids.get(be.id).copied().unwrap_or(0),
            be_name: be.name.clone(),
            srv_id: s.puid,
            srv_name: c.name.clone(),
            addr: s.has_addr().then(|| s.addr().ip()),
            port: s.addr().port(),
            fqdn: if c.resolve.as_ref().is_some_and(|r| r.is_srv()) {
                s.srv_target()
            } else {
                s.fqdn()
            },
            srvrecord: c
                .resolve
                .as_ref()
                .filter(|r| r.is_srv())
                .and_then(|r| r.fqdn.clone()),
            // SRV_ST_RUNNING, SRV_ST_STOPPING (disable-on-404), SRV_ST_STOPPED
            op_state: match (checked_up && !maint, s.is_stopping()) {
                (true, false) => 2,
                (true, true) => 3,
                (false, _) => 0,
            },
            // HAProxy's flags only (not fulcrum's NOADDR and DELETED).
            admin_state: s.admin() & 0x3f,
            uweight: s.user_weight(),
            iweight: c.weight,
            since_last_change: unix_now().saturating_sub(s.last_change()),
            check_status,
            check_result,
            check_health,
            check_state,
            use_ssl: s.use_ssl(),
            check_port: check_port.unwrap_or(0),
            check_addr,
            // CONFIGURED | AGENT, and ENABLED unless `disable agent`.
            agent_state: c
                .agent
                .as_ref()
                .map_or(0, |_| if s.agent_frozen() { 0x12 } else { 0x16 }),
            agent_addr: agent.as_ref().and_then(|a| a.addr),
            agent_port: agent.as_ref().map_or(0, |a| a.port),
        }
    }

    /// Applies new admin flags to a server, rebuilds the backend's table and logs the change in HAProxy's words.
    fn change_admin(&self, be: &BackendRt, s: &ServerRt, flags: u8) {
        apply_admin(be, s, flags);
    }

    /// Starts the checks and agent checks of a server added at run time (they wait for `enable health` /
    /// `enable agent`).
    fn start_checks(&self, be: &Arc<BackendRt>, s: &Arc<ServerRt>) {
        if let Some(h) = self.handle.get() {
            crate::health::start_server_tasks(h, be, s);
        }
    }

    /// The server `add server ... track [BACKEND/]SERVER` names, refused as HAProxy refuses it: unknown, added
    /// at run time itself, or with no check nor agent down its chain.
    fn tracked(
        &self,
        own: &Arc<BackendRt>,
        track: &str,
    ) -> Result<(Arc<BackendRt>, Arc<ServerRt>), CtlError> {
        let (be, name) = match track.split_once('/') {
            Some((b, n)) => {
                let be = self.backend(b).map_err(|_| {
                    CtlError::Other(format!("unable to find required proxy '{b}' for tracking."))
                })?;
                (be.clone(), n)
            }
            None => (own.clone(), track),
        };
        let Some(t) = be.servers.iter().find(|s| s.config.name == name).cloned() else {
            return Err(CtlError::Other(format!(
                "unable to find required server '{name}' for tracking."
            )));
        };
        let full = format!("{}/{}", be.name, name);
        if t.dynamic {
            return Err(CtlError::Other(format!(
                "unable to use {full} for tracking as it is a dynamic server."
            )));
        }
        // The end of the chain must run checks or an agent (the configuration refuses loops).
        let mut end = t.clone();
        for _ in 0..64 {
            let Some((tb, ts)) = &end.config.track else {
                break;
            };
            match self.find(tb, ts) {
                Ok((_, next)) => end = next,
                Err(_) => break,
            }
        }
        if !end.config.check && end.config.agent.is_none() {
            return Err(CtlError::Other(format!(
                "unable to use {full} for tracking as it does not have any check nor agent enabled."
            )));
        }
        Ok((be, t))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn nofile_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid rlimit to write into.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
        r.rlim_cur
    } else {
        0
    }
}

impl Control for RuntimeApi {
    fn set_proc_var(&self, name: &str, fmt: bool, value: &str) -> Result<(), String> {
        crate::model::rules::vars::set_proc_var(name, fmt, value)
    }

    fn proc_var(&self, name: &str) -> Option<String> {
        let name: fulcrum_config::haproxy::VarName = name.parse().ok()?;
        if name.scope() != fulcrum_config::haproxy::VarScope::Proc {
            return None;
        }
        crate::model::rules::vars::describe_proc_var(&name)
    }

    fn ssl_certs(&self) -> Option<(Option<String>, Vec<String>)> {
        self.certs.as_ref().map(|c| c.names())
    }
    fn ssl_cert_details(&self, name: &str) -> Option<String> {
        crate::control::cert_api::details(self.certs.as_ref()?, name)
    }
    fn ssl_cert_set(&self, name: &str, payload: &str) -> Result<String, String> {
        match &self.certs {
            Some(c) => crate::control::cert_api::set(c, name, payload),
            None => Err(fulcrum_admin::runtime::NO_TLS.into()),
        }
    }
    fn ssl_cert_commit(&self, name: &str) -> Result<String, String> {
        match &self.certs {
            Some(c) => crate::control::cert_api::commit(c, name),
            None => Err(fulcrum_admin::runtime::NO_TLS.into()),
        }
    }
    fn ssl_cert_abort(&self, name: &str) -> Result<String, String> {
        match &self.certs {
            Some(c) => crate::control::cert_api::abort(c, name),
            None => Err(fulcrum_admin::runtime::NO_TLS.into()),
        }
    }
    fn ssl_list_command(&self, words: &[&str], payload: Option<&str>) -> String {
        match &self.certs {
            Some(c) => crate::control::cert_api::list_command(c, words, payload),
            None => fulcrum_admin::runtime::NO_TLS.into(),
        }
    }
    fn info(&self) -> Info {
        let snap = &self.snapshot;
        let figures = snap.process.figures();
        // A rate, its limit and its most, in `show info`'s order.
        let with_limit = |(now, most): (u64, u64), limit: u32| [now, u64::from(limit), most];
        Info {
            version: env!("CARGO_PKG_VERSION").to_string(),
            nbthread: self.nbthread,
            pid: std::process::id(),
            uptime: self.started.elapsed(),
            start_time_sec: self.start_unix,
            ulimit_n: nofile_limit(),
            maxconn: snap.global_maxconn.unwrap_or(0),
            curr_conns: u64::from(snap.actconn.load(Ordering::Relaxed)),
            cum_conns: Some(figures.cum_conns),
            cum_req: Some(figures.cum_req),
            ssl_conns: snap.ssl_conns.figures(),
            pipes: crate::net::pipes::figures(),
            rates: Some(fulcrum_admin::runtime::InfoRates {
                conn: with_limit(figures.conn_rate, snap.rate_limits[0]),
                sess: with_limit(figures.sess_rate, snap.rate_limits[1]),
                ssl: with_limit(figures.ssl_rate, snap.rate_limits[2]),
                fe_keys: [
                    figures.fe_keys.0,
                    figures.fe_keys.1,
                    figures.ssl_reuse_pct(),
                ],
                be_keys: [figures.be_keys.0, figures.be_keys.1],
                ssl_cache: fulcrum_tls::session_cache::figures(),
            }),
            listeners: self.listeners,
            dropped_logs: snap.logging.stats().lost(),
            node: snap.node.clone().unwrap_or_else(hostname),
            description: snap.description.clone(),
            stopping: false,
        }
    }

    fn backends(&self) -> Vec<String> {
        self.snapshot
            .backends
            .iter()
            .map(|b| b.name.clone())
            .collect()
    }

    fn servers_state(&self, backend: Option<&str>) -> Option<Vec<ServerState>> {
        let backends: Vec<&Arc<BackendRt>> = match backend {
            Some(name) => vec![self.backend(name).ok()?],
            None => self.snapshot.backends.iter().collect(),
        };
        Some(
            backends
                .into_iter()
                .flat_map(|be| be.servers.iter().map(|s| self.state_of(be, s)))
                .collect(),
        )
    }

    fn lookup(&self, backend: &str, server: &str) -> Result<(), CtlError> {
        self.find(backend, server).map(|_| ())
    }

    fn set_server_addr(
        &self,
        backend: &str,
        server: &str,
        addr: &str,
        port: Option<&str>,
    ) -> Result<String, CtlError> {
        let _g = self.lock();
        let (be, s) = self.find(backend, server)?;
        let by = "'stats socket command'";
        let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
            return Ok(format!("Invalid addr '{addr}' by {by}"));
        };
        let old = s.addr();
        let mut msg = if !s.has_addr() {
            format!("IP changed from '(none)' to '{ip}'")
        } else if old.ip() != ip {
            format!("IP changed from '{}' to '{ip}'", old.ip())
        } else {
            "no need to change the addr".to_string()
        };
        let mut new_port = old.port();
        if let Some(p) = port {
            match p.parse::<u16>() {
                Ok(n) if n != old.port() => {
                    msg.push_str(&format!(", port changed from '{}' to '{n}'", old.port()));
                    new_port = n;
                }
                Ok(_) => msg.push_str(", no need to change the port"),
                Err(_) => msg.push_str(&format!(", problem converting port '{p}' to an int")),
            }
        }
        msg.push_str(&format!(" by {by}"));
        let new = std::net::SocketAddr::new(ip, new_port);
        if new != old {
            s.set_addr(new);
            if let Some(p) = &self.pools {
                p.purge(s.id);
            }
        }
        let no_addr = ServerRt::ADMIN_RMAINT | ServerRt::ADMIN_NOADDR;
        if s.admin() & no_addr != 0 {
            s.set_admin(s.admin() & !no_addr);
            be.rebuild_farm();
        }
        info!("{}/{}: {msg}", be.name, s.config.name);
        Ok(msg)
    }

    fn set_server_fqdn(&self, backend: &str, server: &str, fqdn: &str) -> Result<String, CtlError> {
        let _g = self.lock();
        let (be, s) = self.find(backend, server)?;
        let configured = s
            .config
            .resolve
            .as_ref()
            .and_then(|r| r.resolvers.as_deref())
            .and_then(|r| self.snapshot.resolvers.index(r))
            .is_some();
        if !configured {
            return Err(CtlError::Other(
                "set server <b>/<s> fqdn failed because no resolution is configured.".into(),
            ));
        }
        if s.config.resolve.as_ref().is_some_and(|r| r.is_srv()) {
            return Err(CtlError::Other(
                "set server <b>/<s> fqdn failed because SRV resolution is configured.".into(),
            ));
        }
        if !fulcrum_dns::wire::valid_name(fqdn) || fqdn.starts_with('_') {
            return Err(CtlError::Other(format!(
                "could not update {}/{} FQDN by 'stats socket command'",
                be.name, s.config.name
            )));
        }
        let old = s.fqdn().unwrap_or_else(|| "(null)".into());
        s.set_fqdn(Some(fqdn.to_string()));
        self.snapshot.resolvers.wake();
        let msg = format!(
            "{}/{} changed its FQDN from {old} to {fqdn} by 'stats socket command'",
            be.name, s.config.name
        );
        info!("{msg}");
        Ok(msg)
    }

    fn resolvers(&self) -> Vec<fulcrum_admin::runtime::ResolversInfo> {
        self.snapshot.resolvers.info()
    }

    fn weight(&self, backend: &str, server: &str) -> Result<(u32, u32), CtlError> {
        let (_, s) = self.find(backend, server)?;
        Ok((s.user_weight(), s.config.weight))
    }

    fn set_weight(&self, backend: &str, server: &str, weight: Weight) -> Result<(), CtlError> {
        let _g = self.lock();
        let (be, s) = self.find(backend, server)?;
        let w = weight.resolve(s.config.weight);
        // Static algorithms take only 0% and 100% (HAProxy's rule).
        if !crate::model::select::is_dynamic(&be.balance, be.hash_type)
            && w != 0
            && w != s.config.weight
        {
            return Err(CtlError::StaticWeight);
        }
        s.set_user_weight(w);
        be.rebuild_farm();
        Ok(())
    }

    fn set_server_ssl(&self, backend: &str, server: &str, on: bool) -> Result<(), CtlError> {
        let _g = self.lock();
        let (_, s) = self.find(backend, server)?;
        if s.set_use_ssl(on) {
            Ok(())
        } else {
            Err(CtlError::Other(
                "'set server <srv> ssl' cannot be set.  default-server should define ssl settings"
                    .into(),
            ))
        }
    }

    fn set_state(&self, backend: &str, server: &str, state: AdminState) -> Result<(), CtlError> {
        let _g = self.lock();
        let (be, s) = self.find(backend, server)?;
        self.change_admin(&be, &s, admin_flags(&s, state));
        Ok(())
    }

    fn set_maint(&self, backend: &str, server: &str, maint: bool) -> Result<(), CtlError> {
        let _g = self.lock();
        let (be, s) = self.find(backend, server)?;
        let flags = if maint {
            (s.admin() & !ServerRt::ADMIN_FDRAIN) | ServerRt::ADMIN_FMAINT
        } else {
            s.admin() & !ServerRt::ADMIN_FMAINT
        };
        self.change_admin(&be, &s, flags);
        Ok(())
    }

    fn set_health(&self, backend: &str, server: &str, enabled: bool) -> Result<(), CtlError> {
        let (_, s) = self.find(backend, server)?;
        if !s.config.check {
            // HAProxy refuses to enable what is not there, and says nothing when disabling it.
            return if enabled {
                Err(CtlError::Other(
                    "Health check was not configured on this server, cannot enable.".into(),
                ))
            } else {
                Ok(())
            };
        }
        s.set_checks_frozen(!enabled);
        Ok(())
    }

    fn set_agent(&self, backend: &str, server: &str, enabled: bool) -> Result<(), CtlError> {
        let (_, s) = self.find(backend, server)?;
        if s.config.agent.is_none() {
            return if enabled {
                Err(CtlError::Other(
                    "Agent was not configured on this server, cannot enable.".into(),
                ))
            } else {
                Ok(())
            };
        }
        s.set_agent_frozen(!enabled);
        Ok(())
    }

    fn change_checks(
        &self,
        backend: &str,
        server: &str,
        change: CheckChange,
    ) -> Result<String, CtlError> {
        let _g = self.lock();
        let (be, s) = self.find(backend, server)?;
        let agent_on = s.config.agent.is_some() && !s.agent_frozen();
        let checks_on = s.config.check && !s.checks_frozen();
        // haproxy 2.6's refusals, with and without a period and a line end as it writes them.
        let no_agent = "agent checks are not enabled on this server";
        let no_checks = "health checks are not enabled on this server";
        let port_of = |p: &Option<String>| p.as_deref().map(cli_port).transpose();
        match change {
            CheckChange::Agent(_) | CheckChange::AgentSend(_) if !agent_on => {
                return Ok(format!("{no_agent}.\n"))
            }
            CheckChange::AgentAddr(..) | CheckChange::AgentPort(_) if !agent_on => {
                return Ok(no_agent.into())
            }
            CheckChange::CheckAddr(..) | CheckChange::CheckPort(_) if !checks_on => {
                return Ok(no_checks.into())
            }
            CheckChange::Agent(up) => crate::health::forced::agent(&be, &s, up),
            CheckChange::Health(forced) => crate::health::forced::health(&be, &s, forced),
            CheckChange::AgentSend(text) => {
                s.change_agent_target(|t| t.send = Some(text.into_bytes()))
            }
            CheckChange::AgentAddr(addr, port) => {
                let addr = match cli_addr(&addr) {
                    Ok(a) => a,
                    Err(m) => return Ok(m),
                };
                let port = match port_of(&port) {
                    Ok(p) => p,
                    Err(m) => return Ok(m),
                };
                s.change_agent_target(|t| {
                    t.addr = Some(addr);
                    t.port = port.unwrap_or(t.port);
                });
            }
            CheckChange::AgentPort(port) => match cli_port(&port) {
                Ok(p) => s.change_agent_target(|t| t.port = p),
                Err(m) => return Ok(m),
            },
            CheckChange::CheckAddr(addr, port) => {
                let addr = match cli_addr(&addr) {
                    Ok(a) => a,
                    Err(m) => return Ok(m),
                };
                match port_of(&port) {
                    Ok(p) => s.set_check_target(Some(addr), p),
                    Err(m) => return Ok(m),
                }
            }
            CheckChange::CheckPort(port) => match cli_port(&port) {
                Ok(p) => s.set_check_target(None, Some(p)),
                Err(m) => return Ok(m),
            },
        }
        Ok(String::new())
    }

    fn add_server(&self, backend: &str, server: &str, new: &NewServer) -> Result<(), CtlError> {
        let _g = self.lock();
        let be = self.backend(backend)?.clone();
        if !crate::model::select::is_dynamic(&be.balance, be.hash_type) {
            return Err(CtlError::NotDynamic);
        }
        match new.proto {
            // Every multiplexer HAProxy has for servers is an HTTP one, except `none`, which only HTTP backends
            // take too.
            Some(_) if be.mode == Mode::Tcp => {
                return Err(CtlError::Other(
                    "MUX protocol is not usable for server.".into(),
                ))
            }
            None | Some(MuxProto::H1) | Some(MuxProto::H2) => {}
            Some(p) => {
                return Err(CtlError::Other(format!(
                    "'proto {}' is not supported yet by fulcrum: it speaks HTTP/1.1 and HTTP/2 to servers ('proto h1', 'proto h2').",
                    p.name()
                )))
            }
        }
        if be.servers.iter().any(|s| s.config.name == server) {
            return Err(CtlError::AlreadyExists);
        }
        let tracked = match &new.track {
            Some(_) if new.check => {
                return Err(CtlError::Other(
                    "unable to enable checks and tracking at the same time!".into(),
                ))
            }
            Some(track) => Some(self.tracked(&be, track)?),
            None => None,
        };
        let agent = if new.agent.enabled {
            let Some(port) = new.agent.port else {
                return Err(CtlError::Other(format!(
                    "server {server} does not have agent port. Agent check has been disabled."
                )));
            };
            Some(fulcrum_config::haproxy::AgentCheck {
                // `addr` moves the agent too, unless `agent-addr` says otherwise (HAProxy's rule).
                addr: new.agent.addr.or(new.check_addr),
                port,
                send: new.agent.send.clone(),
                inter: new.agent.inter.unwrap_or(Duration::from_secs(2)),
            })
        } else {
            None
        };
        let inter = new.timing.inter.unwrap_or(Duration::from_secs(2));
        let config = Server {
            name: server.to_string(),
            addr: new.addr,
            unix: None,
            weight: new.weight,
            backup: new.backup,
            check: new.check,
            inter,
            fastinter: new.timing.fastinter.unwrap_or(inter),
            downinter: new.timing.downinter.unwrap_or(inter),
            rise: new.timing.rise.unwrap_or(2),
            fall: new.timing.fall.unwrap_or(3),
            check_port: new.check_port,
            check_addr: new.check_addr,
            maxconn: new.maxconn,
            maxqueue: None,
            pool_max_conn: None,
            slowstart: None,
            tcp_user_timeout: None,
            agent,
            tls: None,
            no_ssl: false,
            send_proxy: new
                .send_proxy_v2
                .map(|v2| fulcrum_config::haproxy::SendProxy {
                    v2,
                    options: Default::default(),
                }),
            check_send_proxy: new.check_send_proxy,
            socks4: None,
            check_via_socks4: false,
            observe: Default::default(),
            shutdown_on_down: false,
            shutdown_backups_on_up: false,
            track: tracked
                .as_ref()
                .map(|(tb, ts)| (tb.name.to_string(), ts.config.name.clone())),
            cookie: None,
            disabled: false,
            resolve: None,
            proto: match new.proto {
                Some(MuxProto::H2) => Some(fulcrum_config::haproxy::BindProto::H2),
                Some(MuxProto::H1) => Some(fulcrum_config::haproxy::BindProto::H1),
                _ => None,
            },
            check_proto: None,
            port_offset: None,
            location: fulcrum_config::Location::new("<runtime API>", 0),
        };
        let mut config = config;
        config.unix = new
            .unix
            .clone()
            .map(fulcrum_config::haproxy::UnixAddr::Path);
        if let Some(Err(e)) = new.sni.as_deref().map(fulcrum_sample::Expr::parse) {
            return Err(CtlError::Other(format!(
                "'server {backend}/{server}' : error detected while parsing sni expression : {e}"
            )));
        }
        let (tls, identity, trust) = match self.added_server_tls(new) {
            Ok(Some(built)) => (Some(built.config), built.identity, built.trust),
            Ok(None) => (None, None, None),
            Err(e) => {
                return Err(CtlError::Other(format!(
                    "'server {backend}/{server}' : {e}"
                )))
            }
        };
        config.tls = tls.as_ref().and(self.added_tls_settings(new));
        if let Some(store) = &self.certs {
            if let Some(id) = &identity {
                store.register_client(id);
            }
            if let Some(t) = &trust {
                store.register_trust(t);
            }
        }
        let puid = be.servers.iter().map(|s| s.puid).max().unwrap_or(0) + 1;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let index = be.servers.push_with(|index| {
            let mut s = ServerRt::added(id, index, puid, &be.name, config);
            s.tls = tls;
            s.tls_identity = identity;
            s.tls_trust = trust;
            Arc::new(s)
        });
        let s = be.servers[index].clone();
        if let Some((tbe, t)) = &tracked {
            // It takes the tracked server's state now, and its changes from now on.
            s.set_up(t.is_checked_up());
            s.set_admin(t.flags_for_tracker(&s));
            tbe.add_tracker(t, &be, &s);
        }
        be.rebuild_farm();
        info!("'server {}' : New server registered.", s.full_name);
        self.start_checks(&be, &s);
        Ok(())
    }

    fn del_server(&self, backend: &str, server: &str) -> Result<(), CtlError> {
        let _g = self.lock();
        let (be, s) = self.find(backend, server)?;
        // Named by the configuration, or tracked (even once) by a server added at run time, as HAProxy.
        if s.referenced || s.tracked_at_run_time() {
            return Err(CtlError::Referenced);
        }
        // Maintenance of its own or inherited from the server it tracks, as HAProxy.
        if s.admin() & ServerRt::ADMIN_MAINT == 0 {
            return Err(CtlError::NotInMaint);
        }
        if s.cur.load(Ordering::SeqCst) > 0 || s.queued.load(Ordering::SeqCst) > 0 {
            return Err(CtlError::HasConnections);
        }
        s.set_admin(s.admin() | ServerRt::ADMIN_DELETED);
        // Its checks end now, and the server it tracked no longer passes changes on to it.
        s.stop_tasks();
        if let Some((tb, ts)) = &s.config.track {
            if let Ok((tbe, t)) = self.find(tb, ts) {
                tbe.remove_tracker(&t, &s);
            }
        }
        // Its client certificate, CA and CRL files are no longer used by it (`show ssl cert`, `del ssl
        // ca-file|crl-file`).
        if let Some(id) = &s.tls_identity {
            id.retire();
        }
        if let Some(t) = &s.tls_trust {
            t.retire();
        }
        be.rebuild_farm();
        info!("Server {} deleted.", s.full_name);
        Ok(())
    }

    fn stats(&self) -> Option<fulcrum_admin::Stats> {
        Some(crate::data::http::stats::collect(&self.snapshot))
    }

    fn table(&self, verb: &str, args: &[&str]) -> String {
        let tables = &self.snapshot.tables;
        let now = crate::model::stick::now_ms();
        // What expired since the last sweep is neither counted nor listed.
        for t in tables.list() {
            t.sweep(now);
        }
        let Some((name, rest)) = args.split_first() else {
            return match verb {
                "show" => fulcrum_stick::list(tables.list().iter().map(|t| &**t)),
                _ => fulcrum_stick::ShowError::Required.to_string(),
            };
        };
        let Some(t) = tables.get(name) else {
            return fulcrum_stick::ShowError::NoTable.to_string();
        };
        let r = match verb {
            "show" => t.show(rest, now),
            "clear" => t.clear(rest, now).map(|_| String::new()),
            _ => t.set(rest, now).map(|_| String::new()),
        };
        r.unwrap_or_else(|e| e.to_string())
    }

    fn acl_refs(&self) -> Vec<PatternRef> {
        self.snapshot.pattern_refs.list()
    }

    fn acl_entries(&self, reference: &str) -> Option<Vec<PatternEntry>> {
        self.snapshot.pattern_refs.show(reference)
    }

    fn add_acl(&self, reference: &str, pattern: &str) -> Result<(), AclError> {
        self.snapshot.pattern_refs.add(reference, pattern)
    }

    fn del_acl(&self, reference: &str, key: &str) -> Result<(), AclError> {
        self.snapshot.pattern_refs.del(reference, key)
    }

    fn clear_acl(&self, reference: &str) -> Result<(), AclError> {
        self.snapshot.pattern_refs.clear(reference)
    }

    fn map_refs(&self) -> Vec<MapRefInfo> {
        self.snapshot
            .maps
            .list()
            .into_iter()
            .map(|m| MapRefInfo {
                id: m.id,
                file: m.path,
                display: m.display,
                entries: m.entry_count,
                curr_ver: m.curr_ver,
                next_ver: m.next_ver,
            })
            .collect()
    }

    fn map_entries(&self, reference: &str, version: Option<u32>) -> Option<Vec<MapEntryInfo>> {
        let maps = &self.snapshot.maps;
        let entries = match version {
            Some(v) => maps.show_version(reference, v)?,
            None => maps.show(reference)?,
        };
        Some(
            entries
                .into_iter()
                .map(|e| MapEntryInfo {
                    id: e.id,
                    key: e.key,
                    value: e.value,
                })
                .collect(),
        )
    }

    fn add_map(
        &self,
        reference: &str,
        version: Option<u32>,
        key: &str,
        value: &str,
    ) -> Result<(), AclError> {
        let maps = &self.snapshot.maps;
        match version {
            Some(v) => maps.add_version(reference, v, &[(key, value)]),
            None => maps.add(reference, &[(key, value)]),
        }
        .map_err(map_error)
    }

    fn prepare_map(&self, reference: &str) -> Result<u32, AclError> {
        self.snapshot.maps.prepare(reference).map_err(map_error)
    }

    fn commit_map(&self, reference: &str, version: u32) -> Result<(), AclError> {
        self.snapshot
            .maps
            .commit(reference, version)
            .map_err(map_error)
    }

    fn del_map(&self, reference: &str, key: &str) -> Result<(), AclError> {
        self.snapshot.maps.del(reference, key).map_err(map_error)
    }

    fn set_map(&self, reference: &str, key: &str, value: &str) -> Result<(), AclError> {
        self.snapshot
            .maps
            .set(reference, key, value)
            .map_err(map_error)
    }

    fn clear_map(&self, reference: &str, version: Option<u32>) -> Result<(), AclError> {
        let maps = &self.snapshot.maps;
        match version {
            Some(v) => maps.clear_version(reference, v),
            None => maps.clear(reference),
        }
        .map_err(map_error)
    }

    fn get_map(&self, reference: &str, sample: &str) -> Option<String> {
        self.snapshot.maps.get(reference, sample)
    }
}

fn map_error(e: fulcrum_sample::MapError) -> AclError {
    match e {
        fulcrum_sample::MapError::UnknownRef => AclError::UnknownRef,
        fulcrum_sample::MapError::EntryNotFound => AclError::KeyNotFound,
        fulcrum_sample::MapError::Invalid(m) => AclError::Invalid(m),
    }
}

/// Starts the thread serving `listeners` until `stop` turns true; removes the socket files then.
pub fn spawn(
    api: Arc<RuntimeApi>,
    listeners: Vec<StatsListener>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<Option<JoinHandle<()>>> {
    if listeners.is_empty() {
        return Ok(None);
    }
    let handle = std::thread::Builder::new()
        .name("fulcrum-cli".into())
        .spawn(move || {
            let files: Vec<(PathBuf, u64)> = listeners
                .iter()
                .filter_map(|l| match &l.socket {
                    Bound::Created { path, ino, .. } => Some((path.clone(), *ino)),
                    _ => None,
                })
                .collect();
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(run(api, listeners, stop)),
                Err(e) => warn!("runtime API: cannot start its runtime: {e}"),
            }
            for (path, ino) in files {
                remove_socket(&path, ino);
            }
        })?;
    Ok(Some(handle))
}

async fn run(api: Arc<RuntimeApi>, listeners: Vec<StatsListener>, mut stop: watch::Receiver<bool>) {
    let _ = api.handle.set(tokio::runtime::Handle::current());
    let mut tasks = tokio::task::JoinSet::new();
    for l in listeners {
        let level = l.level;
        let started = match l.socket {
            Bound::Created { listener, .. } | Bound::Unix(listener) => listener
                .set_nonblocking(true)
                .and_then(|()| UnixListener::from_std(listener))
                .map(|listener| {
                    if l.expose {
                        tasks.spawn(accept_loop_expose(api.clone(), listener, level));
                    } else {
                        tasks.spawn(accept_loop(api.clone(), listener, level));
                    }
                }),
            Bound::Tcp(listener) => listener
                .set_nonblocking(true)
                .and_then(|()| TcpListener::from_std(listener))
                .map(|listener| {
                    tasks.spawn(accept_loop(api.clone(), listener, level));
                }),
        };
        if let Err(e) = started {
            warn!("runtime API: {e}");
        }
    }
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            break;
        }
    }
    tasks.abort_all();
}

/// A listener the runtime API accepts on: unix or TCP.
trait Accept: Send + 'static {
    /// The accepted connection.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept_one(&self)
        -> impl std::future::Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Accept for UnixListener {
    type Stream = UnixStream;
    async fn accept_one(&self) -> std::io::Result<UnixStream> {
        self.accept().await.map(|(s, _)| s)
    }
}

impl Accept for TcpListener {
    type Stream = TcpStream;
    async fn accept_one(&self) -> std::io::Result<TcpStream> {
        self.accept().await.map(|(s, _)| s)
    }
}

async fn accept_loop<L: Accept + Sync>(api: Arc<RuntimeApi>, listener: L, level: Level) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        // Past `stats maxconn`, new connections wait in the listen queue, as HAProxy's do.
        let Ok(permit) = api.slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept_one().await {
            Ok(stream) => {
                api.snapshot.process.runtime_api_connection();
                let api = api.clone();
                conns.spawn(async move {
                    serve(api, stream, level).await;
                    drop(permit);
                });
            }
            Err(e) => {
                warn!("runtime API: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        while conns.try_join_next().is_some() {}
    }
}

/// The accept loop of a unix `stats socket` with `expose-fd listeners`: a connection whose first line is
/// `_getsocks` gets the listening sockets (see [`Exposed`]); any other is an ordinary runtime API session.
async fn accept_loop_expose(api: Arc<RuntimeApi>, listener: UnixListener, level: Level) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let Ok(permit) = api.slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                api.snapshot.process.runtime_api_connection();
                let api = api.clone();
                conns.spawn(async move {
                    serve_expose(api, stream, level).await;
                    drop(permit);
                });
            }
            Err(e) => {
                warn!("runtime API: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        while conns.try_join_next().is_some() {}
    }
}

async fn serve_expose(api: Arc<RuntimeApi>, mut stream: UnixStream, level: Level) {
    let mut first = vec![0u8; 8192];
    let n = match tokio::time::timeout(api.idle, stream.read(&mut first)).await {
        Ok(Ok(n)) if n > 0 => n,
        _ => return,
    };
    first.truncate(n);
    let text = String::from_utf8_lossy(&first);
    if text.trim_end() == "_getsocks" {
        if level != Level::Admin {
            let _ = stream.write_all(b"Permission denied\n").await;
            return;
        }
        let exposed = api.exposed.clone();
        let sent = stream.into_std().and_then(|s| {
            s.set_nonblocking(false)?;
            exposed.send(&s)
        });
        if let Err(e) = sent {
            warn!("runtime API: _getsocks: {e}");
        }
        return;
    }
    serve_from(api, stream, level, &first).await;
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(api: Arc<RuntimeApi>, stream: S, level: Level) {
    serve_from(api, stream, level, &[]).await;
}

/// Serves a runtime API session whose first bytes, `first`, were already read.
async fn serve_from<S: AsyncRead + AsyncWrite + Unpin>(
    api: Arc<RuntimeApi>,
    mut stream: S,
    level: Level,
    first: &[u8],
) {
    let mut session = Session::new(level);
    if !first.is_empty() {
        let out = session.receive(first, api.as_ref());
        if !out.is_empty() && stream.write_all(&out).await.is_err() || session.is_closed() {
            let _ = stream.shutdown().await;
            return;
        }
    }
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match tokio::time::timeout(api.idle, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => break,
        };
        let out = session.receive(&buf[..n], api.as_ref());
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            break;
        }
        if session.is_closed() {
            break;
        }
    }
    let _ = stream.shutdown().await;
}
