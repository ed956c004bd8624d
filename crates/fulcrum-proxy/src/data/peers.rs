//! Stick table replication with HAProxy's peers protocol (the codec is `fulcrum-peers`): one thread with its own
//! runtime runs every `peers` section of the configuration.
//!
//! Per section, the local peer listens on its address (the other peers connect there) and connects to every
//! other peer that has an address. A peer has at most one session at a time: a new incoming session replaces the
//! one in place, as HAProxy does, and a peer is connected to only while it has no session (after a random
//! 50 ms to 2 s pause, so that two nodes connecting to each other at once settle on one session).
//!
//! A session pushes the local changes of the replicated tables (each table numbers its changes; the session
//! remembers the last one it sent, and the peer's acknowledgements say where a new session resumes), applies
//! the peer's updates to the tables (without sending them on), answers a resynchronisation request by teaching
//! every entry, and asks for one itself when the process has not learned the tables yet (a fresh start): the
//! first peer to answer "finished" makes it up to date, and after 5 s without one it counts as up to date
//! anyway. Heartbeats go out after 3 s without traffic; a session that hears nothing for 5 s is closed.
//!
//! On a reload the old process hands its tables to the new one, as HAProxy does: at the soft stop it closes its
//! listening socket (the new process listens on the same address), ends its other sessions, connects to the
//! local peer's address (so to the new process) announcing itself as the local peer, and teaches every entry
//! with its remaining expiry when the new process asks; it ends the session once the new process confirms, or
//! after 5 s. A process only teaches when it is up to date itself. The new process accepts a session from its
//! own name and asks it to teach the tables.
//!
//! With `ssl` on the section's `bind` line, sessions are accepted over TLS; with `ssl` on a peer's line (or on
//! `default-server`), that peer is connected to over TLS (the local peer's line: the hand-over of a reload).
//! The peers protocol then runs inside, unchanged.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fulcrum_config::haproxy::Config;
use fulcrum_peers::{
    EntryUpdate, Hello, KeyType as WireKey, Message, Status, TableDefinition, UpdateKind, Value,
};
use fulcrum_stick::{DataType, Key, KeyType, Raw, Table, Update};
use fulcrum_tls::rustls::pki_types::ServerName;
use fulcrum_tls::rustls::ClientConfig;
use fulcrum_tls::server::ServerTls;
use fulcrum_tls::store::CertStore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::model::error::StartError;
use crate::model::stick::{now_ms, Tables};

/// A session's byte stream: a TCP connection, or TLS over one.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Stream = Box<dyn Io>;

/// How long a session may stay silent before it is closed.
const SILENCE: Duration = Duration::from_secs(5);
/// How long a session may stay idle before a heartbeat goes out.
const HEARTBEAT: Duration = Duration::from_secs(3);
/// How often a session looks for local changes to push.
const PUSH_EVERY: Duration = Duration::from_millis(50);
/// How long a fresh process waits to be taught before it counts as up to date.
const RESYNC_WAIT: Duration = Duration::from_secs(5);
/// Most updates one push round sends per table.
const BATCH: usize = 256;
/// How long an old process may take to hand its tables to the new one.
const HANDOVER_WAIT: Duration = Duration::from_secs(5);

/// One `peers` section, with its listening socket opened.
pub struct Section {
    name: String,
    local: String,
    listener: Option<std::net::TcpListener>,
    /// The listener's TLS settings (`bind ... ssl`).
    accept_tls: Option<Arc<ServerTls>>,
    /// The other peers: name, address, TLS towards them.
    remotes: Vec<(String, Option<SocketAddr>, Option<Arc<ClientConfig>>)>,
    /// TLS towards the local peer's own address (the new process of a reload).
    local_tls: Option<Arc<ClientConfig>>,
    tables: Vec<Shared>,
    /// Bumped by every local change of the section's tables: sessions send it at once.
    changed: watch::Receiver<u64>,
}

impl Section {
    /// Whether a soft stop of this process hands the section's tables to the next one (through its listening
    /// address).
    fn hands_over(&self) -> bool {
        self.listener.is_some() && !self.tables.is_empty()
    }
}

/// How many `peers` sections of a soft-stopping process have not yet handed their tables to the new process;
/// the process waits for none to be left before it exits.
#[derive(Clone, Default)]
pub struct Handing(Arc<AtomicUsize>);

impl Handing {
    /// Whether a hand-over is still in progress (or has not started yet after a soft stop).
    pub fn busy(&self) -> bool {
        self.0.load(Ordering::Acquire) > 0
    }

    fn done(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

/// A replicated table and how it is described on the wire.
struct Shared {
    table: Arc<Table>,
    def: TableDefinition,
}

impl Section {
    /// The sections of `config` that replicate something, with the tables they replicate. `listener` opens (or
    /// inherits) the socket of a section's `bind`; the certificates of TLS listeners are kept in `store`.
    pub fn all(
        config: &Config,
        tables: &Tables,
        store: &Arc<CertStore>,
        mut listener: impl FnMut(
            &fulcrum_config::haproxy::Bind,
        ) -> std::io::Result<std::net::TcpListener>,
    ) -> Result<Vec<Section>, StartError> {
        let mut out = Vec::new();
        for p in config.peers.iter().filter(|p| !p.disabled) {
            let mut warnings = Vec::new();
            let mut tls = crate::model::tls_config::peers(config, p, store, &mut warnings)?;
            for w in warnings {
                tracing::warn!("{w}");
            }
            let (tx, changed) = watch::channel(0u64);
            let tx = Arc::new(tx);
            let shared: Vec<Shared> = tables
                .replicated_by(&p.name)
                .enumerate()
                .map(|(i, (t, wire))| {
                    t.replicate();
                    let tx = tx.clone();
                    t.on_update(Box::new(move || {
                        tx.send_modify(|n| *n = n.wrapping_add(1));
                    }));
                    Shared {
                        def: definition(t, wire, i as u64 + 1),
                        table: t.clone(),
                    }
                })
                .collect();
            let listener = match &p.bind {
                Some(b) => Some(listener(b).map_err(|source| StartError::Peers {
                    location: b.location.to_string(),
                    source,
                })?),
                None => None,
            };
            out.push(Section {
                name: p.name.clone(),
                local: p.local.clone(),
                listener,
                accept_tls: tls.accept.take(),
                remotes: p
                    .peers
                    .iter()
                    .map(|r| (r.name.clone(), r.addr, tls.connect.remove(&r.name)))
                    .collect(),
                local_tls: tls.connect.remove(&p.local),
                tables: shared,
                changed,
            });
        }
        Ok(out)
    }
}

/// The table definition a table is announced with.
fn definition(t: &Table, wire: &str, id: u64) -> TableDefinition {
    let (key_type, key_len) = match t.key_type() {
        KeyType::Ip => (WireKey::Ipv4, 4),
        KeyType::Ipv6 => (WireKey::Ipv6, 16),
        KeyType::Integer => (WireKey::Integer, 4),
        // HAProxy announces a string key's size with its final NUL
        KeyType::String(n) => (WireKey::String, n as u64 + 1),
        KeyType::Binary(n) => (WireKey::Binary, n as u64),
    };
    let layout = t.layout();
    TableDefinition {
        id,
        name: wire.as_bytes().to_vec(),
        key_type,
        key_len,
        data_types: layout
            .stored()
            .iter()
            .fold(0, |m, d| m | 1u64 << d.wire_bit()),
        expire: u64::from(t.def().expire.unwrap_or(0)),
        periods: layout
            .stored()
            .iter()
            .filter(|d| d.is_rate())
            .map(|d| (d.wire_bit(), u64::from(layout.period(*d))))
            .collect(),
        elements: layout
            .stored()
            .iter()
            .filter(|d| d.is_array())
            .map(|d| (d.wire_bit(), layout.elements(*d) as u64))
            .collect(),
    }
}

/// Starts the thread that runs the sections (none: no thread). After `drain` turns true (a soft stop), the
/// sections hand their tables to the new process; `handing` counts those that have not finished.
pub fn spawn(
    sections: Vec<Section>,
    (stop, drain): (watch::Receiver<bool>, watch::Receiver<bool>),
    handing: &Handing,
) -> std::io::Result<Option<JoinHandle<()>>> {
    if sections.is_empty() {
        return Ok(None);
    }
    handing.0.store(
        sections.iter().filter(|s| s.hands_over()).count(),
        Ordering::Release,
    );
    let handing = handing.clone();
    let handle = std::thread::Builder::new()
        .name("fulcrum-peers".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                warn!("peers: cannot start their runtime");
                return;
            };
            rt.block_on(async move {
                let mut tasks = tokio::task::JoinSet::new();
                let running: Vec<Running> = sections
                    .into_iter()
                    .map(|s| run_section(s, &mut tasks))
                    .collect();
                let mut stop = stop;
                let mut drain = drain;
                let mut drained = false;
                while !*stop.borrow() {
                    if !drained && *drain.borrow() {
                        drained = true;
                        for r in &running {
                            r.hand_over(&mut tasks, &handing);
                        }
                    }
                    tokio::select! {
                        r = stop.changed() => if r.is_err() { break },
                        r = drain.changed(), if !drained => if r.is_err() { drained = true },
                    }
                }
                tasks.abort_all();
            });
        })?;
    Ok(Some(handle))
}

/// A section running in the peers thread.
struct Running {
    state: Arc<State>,
    /// The task accepting sessions on the listening socket (aborting it closes the socket).
    accept: Option<tokio::task::AbortHandle>,
    /// Where the local peer listens: the new process after a reload.
    local_addr: Option<SocketAddr>,
}

impl Running {
    /// Starts handing the tables to the new process (a soft stop): the listening socket closes, the other
    /// sessions end, and a session to the local peer's address teaches the tables.
    fn hand_over(&self, tasks: &mut tokio::task::JoinSet<()>, handing: &Handing) {
        self.state.draining.store(true, Ordering::Release);
        let Some(accept) = &self.accept else { return };
        accept.abort();
        if self.state.tables.is_empty() {
            return;
        }
        let (state, handing) = (self.state.clone(), handing.clone());
        let addr = self.local_addr;
        tasks.spawn(async move {
            // peers that never answered: up to date once the wait is over, sessions or not
            if state.started.elapsed() >= RESYNC_WAIT {
                state.resynced.store(true, Ordering::Release);
            }
            if !state.resynced.load(Ordering::Acquire) {
                // as HAProxy: a process that has not learned the tables itself does not teach them
                info!(section = %state.section, "peers: not up to date, no hand-over to the new process");
            } else if let Some(addr) = addr {
                // let the listening socket close before connecting to the address
                tokio::task::yield_now().await;
                let peer = state.local_peer.clone();
                match tokio::time::timeout(HANDOVER_WAIT, connect(&state, &peer, addr)).await {
                    Ok(Ok(())) => {
                        info!(section = %state.section, "peers: tables handed to the new process")
                    }
                    Ok(Err(e)) => {
                        info!(section = %state.section, "peers: no hand-over to a new process: {e}")
                    }
                    Err(_) => {
                        warn!(section = %state.section, "peers: hand-over to the new process timed out")
                    }
                }
            }
            handing.done();
        });
    }
}

/// What the sessions of one section share.
struct State {
    section: String,
    local: String,
    tables: Vec<Shared>,
    peers: Vec<Arc<PeerState>>,
    /// The tables were learned (or there was nothing to learn): resynchronisation requests are answered
    /// "finished" rather than "partial".
    resynced: AtomicBool,
    /// A session asked for a resynchronisation and waits for its end.
    asking: AtomicBool,
    started: Instant,
    sessions: AtomicU64,
    /// Local changes to send (see [`Section::changed`]).
    changed: watch::Receiver<u64>,
    /// The local peer: the other process of a reload (the old one teaches the new one).
    local_peer: Arc<PeerState>,
    /// The process soft-stops: sessions with other peers end, none are started.
    draining: AtomicBool,
    /// Sessions are accepted over TLS.
    accept_tls: Option<Arc<ServerTls>>,
    /// A session with the old process asked it for the tables.
    asked_local: AtomicBool,
}

/// One remote peer.
struct PeerState {
    name: String,
    addr: Option<SocketAddr>,
    /// The session in place (0: none).
    session: AtomicU64,
    /// Per table, the last local update the peer acknowledged: where a new session resumes.
    acked: Mutex<Vec<u64>>,
    /// This is the local peer (a session with the other process of a reload).
    local: bool,
    /// Connections to it go over TLS.
    tls: Option<Arc<ClientConfig>>,
}

fn run_section(s: Section, tasks: &mut tokio::task::JoinSet<()>) -> Running {
    let n = s.tables.len();
    let local_addr = s
        .listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|mut a| {
            // a wildcard address is reached on loopback
            if a.ip().is_unspecified() {
                a.set_ip(match a {
                    SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            a
        });
    let state = Arc::new(State {
        resynced: AtomicBool::new(s.remotes.is_empty()),
        asking: AtomicBool::new(false),
        section: s.name,
        local: s.local.clone(),
        tables: s.tables,
        peers: s
            .remotes
            .into_iter()
            .map(|(name, addr, tls)| {
                Arc::new(PeerState {
                    name,
                    addr,
                    session: AtomicU64::new(0),
                    acked: Mutex::new(vec![0; n]),
                    local: false,
                    tls,
                })
            })
            .collect(),
        started: Instant::now(),
        sessions: AtomicU64::new(0),
        changed: s.changed,
        local_peer: Arc::new(PeerState {
            name: s.local.clone(),
            addr: None,
            session: AtomicU64::new(0),
            acked: Mutex::new(vec![0; n]),
            local: true,
            tls: s.local_tls,
        }),
        draining: AtomicBool::new(false),
        accept_tls: s.accept_tls,
        asked_local: AtomicBool::new(false),
    });
    let mut accepting = None;
    if let Some(l) = s.listener {
        let state = state.clone();
        accepting = Some(tasks.spawn(async move {
            let Ok(l) = l
                .set_nonblocking(true)
                .and_then(|()| TcpListener::from_std(l))
            else {
                warn!(section = %state.section, "peers: cannot use the listening socket");
                return;
            };
            loop {
                let Ok((stream, from)) = l.accept().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    if let Err(e) = accept(state, stream).await {
                        debug!(%from, "peers: incoming session ended: {e}");
                    }
                });
            }
        }));
    }
    for peer in state.peers.iter().filter(|p| p.addr.is_some()) {
        let (state, peer) = (state.clone(), peer.clone());
        tasks.spawn(async move { connect_loop(state, peer).await });
    }
    Running {
        state,
        accept: accepting,
        local_addr,
    }
}

/// A small pause with jitter, from the clock (no randomness source needed for this).
fn jitter(min_ms: u64, spread_ms: u64) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(min_ms + u64::from(nanos) % spread_ms.max(1))
}

async fn connect_loop(state: Arc<State>, peer: Arc<PeerState>) {
    let Some(addr) = peer.addr else { return };
    loop {
        if state.draining.load(Ordering::Acquire) {
            return;
        }
        if peer.session.load(Ordering::Acquire) == 0 {
            match connect(&state, &peer, addr).await {
                Ok(()) => {}
                Err(e) => debug!(peer = %peer.name, %addr, "peers: session ended: {e}"),
            }
            tokio::time::sleep(jitter(50, 2000)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

type Res<T> = Result<T, String>;

async fn connect(state: &Arc<State>, peer: &Arc<PeerState>, addr: SocketAddr) -> Res<()> {
    let tcp = tokio::time::timeout(SILENCE, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timeout".to_string())?
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let mut stream: Stream = match &peer.tls {
        None => Box::new(tcp),
        // no server name is sent: the certificate's chain is what `verify required` checks, as HAProxy does
        // for a peer without `sni`
        Some(config) => {
            let name = ServerName::IpAddress(addr.ip().into());
            let tls = tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp);
            Box::new(
                tokio::time::timeout(SILENCE, tls)
                    .await
                    .map_err(|_| "TLS handshake timeout".to_string())?
                    .map_err(|e| format!("TLS handshake: {e}"))?,
            )
        }
    };
    let hello = Hello::new(&peer.name, &state.local, std::process::id());
    stream
        .write_all(&hello.encode())
        .await
        .map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(4096);
    let status = tokio::time::timeout(SILENCE, async {
        loop {
            if let Some((s, n)) = Status::parse(&buf).map_err(|e| e.to_string())? {
                buf.drain(..n);
                return Ok::<_, String>(s);
            }
            let mut chunk = [0u8; 512];
            let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed during the handshake".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .map_err(|_| "handshake timeout".to_string())??;
    if status != Status::Ok {
        return Err(format!("refused with status {}", status.code()));
    }
    session(state.clone(), peer.clone(), stream, buf).await
}

/// Runs the server side of a TLS handshake, with the configuration the client's server name asks for.
async fn tls_accept(tls: &ServerTls, tcp: TcpStream) -> std::io::Result<Stream> {
    let start = tokio_rustls::LazyConfigAcceptor::new(
        fulcrum_tls::rustls::server::Acceptor::default(),
        tcp,
    )
    .await?;
    let config = tls.for_name(start.client_hello().server_name());
    let stream = start.into_stream(config).await?;
    // what the certificate chooser noted for the proxy's fetches: nothing reads it here
    drop(fulcrum_tls::sni::take_chosen());
    Ok(Box::new(stream))
}

async fn accept(state: Arc<State>, tcp: TcpStream) -> Res<()> {
    let _ = tcp.set_nodelay(true);
    let mut stream: Stream = match &state.accept_tls {
        None => Box::new(tcp),
        Some(tls) => tokio::time::timeout(SILENCE, tls_accept(tls, tcp))
            .await
            .map_err(|_| "TLS handshake timeout".to_string())?
            .map_err(|e| format!("TLS handshake: {e}"))?,
    };
    let mut buf = Vec::with_capacity(4096);
    let hello = tokio::time::timeout(SILENCE, async {
        loop {
            match Hello::parse(&buf) {
                Ok(Some((h, n))) => {
                    buf.drain(..n);
                    return Ok(h);
                }
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            let mut chunk = [0u8; 512];
            let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed during the handshake".to_string());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    let hello = match hello {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            let _ = stream.write_all(&Status::Protocol.encode()).await;
            let _ = stream.flush().await;
            return Err(e);
        }
        Err(_) => return Err("handshake timeout".into()),
    };
    let refuse = if !hello.version_ok() {
        Some(Status::BadVersion)
    } else if hello.remote != state.local {
        Some(Status::LocalMismatch)
    } else {
        None
    };
    // the local peer's name: the old process of a reload, come to teach the tables
    let peer = if hello.local == state.local {
        Some(state.local_peer.clone())
    } else {
        state.peers.iter().find(|p| p.name == hello.local).cloned()
    };
    let (refuse, peer) = match (refuse, peer) {
        (Some(s), _) => (Some(s), None),
        (None, None) => (Some(Status::RemoteMismatch), None),
        (None, Some(p)) => (None, Some(p)),
    };
    if let Some(s) = refuse {
        let _ = stream.write_all(&s.encode()).await;
        let _ = stream.flush().await;
        return Err(format!(
            "refused '{}' with status {}",
            hello.local,
            s.code()
        ));
    }
    let peer = peer.expect("set when not refused");
    stream
        .write_all(&Status::Ok.encode())
        .await
        .map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())?;
    session(state, peer, stream, buf).await
}

/// What a session knows of one of the peer's tables.
struct RemoteTable {
    def: TableDefinition,
    /// The local table it matches (same name, key type and length).
    local: Option<usize>,
}

/// One established session, until it closes or another replaces it.
async fn session(
    state: Arc<State>,
    peer: Arc<PeerState>,
    stream: Stream,
    mut inbuf: Vec<u8>,
) -> Res<()> {
    let id = state.sessions.fetch_add(1, Ordering::Relaxed) + 1;
    peer.session.store(id, Ordering::Release);
    info!(section = %state.section, peer = %peer.name, "peers: session established");
    let r = run_session(&state, &peer, id, stream, &mut inbuf).await;
    debug!(section = %state.section, peer = %peer.name, "peers: session {id} ended: {r:?}");
    let _ = peer
        .session
        .compare_exchange(id, 0, Ordering::AcqRel, Ordering::Relaxed);
    r
}

async fn run_session(
    state: &Arc<State>,
    peer: &Arc<PeerState>,
    id: u64,
    stream: Stream,
    inbuf: &mut Vec<u8>,
) -> Res<()> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut last_pushed: Vec<u64> = peer.acked.lock().map(|a| a.clone()).unwrap_or_default();
    // With the other process of a reload, the old one teaches everything, then the changes made meanwhile; the
    // new one sends nothing of its own.
    let handing_over = peer.local && state.draining.load(Ordering::Acquire);
    if peer.local {
        for (t, shared) in state.tables.iter().enumerate() {
            last_pushed[t] = shared.table.update_seq();
        }
    }
    let mut confirmed = false;
    let mut defined = vec![false; state.tables.len()];
    let mut current_local: Option<usize> = None;
    let mut remote: HashMap<u64, RemoteTable> = HashMap::new();
    let mut current_remote: Option<u64> = None;
    // The session's `server_key` dictionaries, each way.
    let mut dict = (
        fulcrum_peers::dict::Outgoing::default(),
        fulcrum_peers::dict::Incoming::default(),
    );
    let mut last_update: u32 = 0;
    let mut to_ack: HashMap<u64, u32> = HashMap::new();
    let mut teach: Option<VecDeque<(usize, Update)>> = None;
    let mut asked = false;
    let mut last_rx = Instant::now();
    let mut last_tx = Instant::now();
    let mut tick = tokio::time::interval(PUSH_EVERY);
    let mut changed = state.changed.clone();
    let mut chunk = vec![0u8; 16 * 1024];

    if handing_over {
        // the old process teaches at once, asked or not (a new haproxy does not ask)
        teach = Some(everything(state));
    } else if peer.local {
        if !state.asked_local.swap(true, Ordering::AcqRel) {
            Message::ResyncRequest.encode(&mut out);
        }
    } else if !state.resynced.load(Ordering::Acquire) && !state.asking.swap(true, Ordering::AcqRel)
    {
        Message::ResyncRequest.encode(&mut out);
        asked = true;
    }
    let result = loop {
        if peer.session.load(Ordering::Acquire) != id {
            break Ok(());
        }
        if !peer.local && state.draining.load(Ordering::Acquire) {
            break Ok(());
        }
        if handing_over && confirmed {
            break Ok(());
        }
        if !state.resynced.load(Ordering::Acquire) && state.started.elapsed() >= RESYNC_WAIT {
            state.resynced.store(true, Ordering::Release);
        }
        // Read what came in.
        if let Err(e) = handle_input(
            state,
            peer,
            inbuf,
            &mut out,
            &mut remote,
            &mut current_remote,
            &mut dict.1,
            &mut last_update,
            &mut to_ack,
            &mut teach,
            &mut asked,
            &mut last_pushed,
            &mut confirmed,
        ) {
            let mut m = Vec::new();
            Message::ProtocolError.encode(&mut m);
            let _ = wr.write_all(&m).await;
            let _ = wr.flush().await;
            break Err(e);
        }
        for (rid, upd) in to_ack.drain() {
            Message::Ack {
                id: rid,
                update: upd,
            }
            .encode(&mut out);
        }
        // Teach, then push the local changes.
        let now = now_ms();
        if let Some(q) = &mut teach {
            let mut sent = 0;
            while let Some((t, u)) = q.pop_front() {
                let seq = state.tables[t].table.update_seq();
                select_table(state, t, &mut defined, &mut current_local, &mut out);
                encode_update(state, t, &u, (seq, peer.local), &mut dict.0, &mut out);
                sent += 1;
                if sent >= BATCH {
                    break;
                }
            }
            if q.is_empty() {
                teach = None;
                if state.resynced.load(Ordering::Acquire) {
                    Message::ResyncFinished.encode(&mut out);
                } else {
                    Message::ResyncPartial.encode(&mut out);
                }
            }
        }
        for (t, shared) in state.tables.iter().enumerate() {
            if (peer.local && !handing_over) || shared.table.update_seq() <= last_pushed[t] {
                continue;
            }
            let ups = shared.table.updates_after(last_pushed[t], BATCH, now);
            for u in &ups {
                select_table(state, t, &mut defined, &mut current_local, &mut out);
                encode_update(state, t, u, (u.upd, peer.local), &mut dict.0, &mut out);
            }
            last_pushed[t] = ups
                .last()
                .map_or(shared.table.update_seq(), |u| u.upd.max(last_pushed[t]));
        }
        if out.is_empty() && last_tx.elapsed() >= HEARTBEAT {
            Message::Heartbeat.encode(&mut out);
        }
        if !out.is_empty() {
            if let Err(e) = async {
                wr.write_all(&out).await?;
                wr.flush().await
            }
            .await
            {
                break Err(e.to_string());
            }
            out.clear();
            last_tx = Instant::now();
        }
        if last_rx.elapsed() >= SILENCE {
            break Err("no traffic from the peer".into());
        }
        tokio::select! {
            r = rd.read(&mut chunk) => match r {
                Ok(0) => break Err("closed by the peer".into()),
                Ok(n) => {
                    inbuf.extend_from_slice(&chunk[..n]);
                    last_rx = Instant::now();
                }
                Err(e) => break Err(e.to_string()),
            },
            _ = tick.tick() => {}
            // a local change: sent at once, as HAProxy does (the tick is the fallback)
            _ = async {
                if changed.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            } => {}
        }
    };
    if asked {
        state.asking.store(false, Ordering::Release);
    }
    result
}

/// Every entry of the section's tables, to teach.
fn everything(state: &State) -> VecDeque<(usize, Update)> {
    let now = now_ms();
    let mut q = VecDeque::new();
    for (t, s) in state.tables.iter().enumerate() {
        q.extend(s.table.entries(now).into_iter().map(|u| (t, u)));
    }
    q
}

/// Makes `t` the table the next updates are for: its definition the first time in the session, a switch after.
fn select_table(
    state: &State,
    t: usize,
    defined: &mut [bool],
    current: &mut Option<usize>,
    out: &mut Vec<u8>,
) {
    if *current == Some(t) {
        return;
    }
    let def = &state.tables[t].def;
    if defined[t] {
        Message::Switch { id: def.id }.encode(out);
    } else {
        Message::Define(def.clone()).encode(out);
        defined[t] = true;
    }
    *current = Some(t);
}

/// Encodes one update with the number `id`; `timed`, with the entry's remaining expiry (to the other process of
/// a reload, as HAProxy does, so that entries keep their expiry).
fn encode_update(
    state: &State,
    t: usize,
    u: &Update,
    (id, timed): (u64, bool),
    dict: &mut fulcrum_peers::dict::Outgoing,
    out: &mut Vec<u8>,
) {
    let def = &state.tables[t].def;
    let key = match &u.key {
        Key::V4(a) => a.octets().to_vec(),
        Key::V6(a) => a.octets().to_vec(),
        Key::Int(n) => n.to_be_bytes().to_vec(),
        Key::Bytes(b) => b.to_vec(),
    };
    let values = u
        .values
        .iter()
        .map(|&(d, v)| {
            let v = match v {
                // server_id is signed: a 32-bit value travels sign-extended, as HAProxy sends it
                Raw::Num(n) if d == DataType::ServerId => Value::Num(n as u32 as i32 as i64 as u64),
                // server_key: the session's number for the text, with the text when new to the peer
                Raw::Num(n) if d == DataType::ServerKey => match fulcrum_stick::server_key(n) {
                    None => Value::Dict(0, None),
                    Some(text) => match dict.number(n) {
                        (number, true) => Value::Dict(number, Some(text.as_bytes().to_vec())),
                        (number, false) => Value::Dict(number, None),
                    },
                },
                Raw::Num(n) => Value::Num(n),
                Raw::Freq(e, c, p) => Value::Freq(e, c, p),
            };
            (d.wire_bit(), v)
        })
        .collect();
    let key_len = match def.key_type {
        WireKey::String => def.key_len.saturating_sub(1),
        _ => def.key_len,
    };
    let expire = (timed && u.exp != 0).then(|| u32::try_from(u.exp).unwrap_or(u32::MAX));
    EntryUpdate {
        id: Some(id as u32),
        expire,
        key,
        values,
    }
    .encode(def.key_type, key_len as usize, out);
}

#[allow(clippy::too_many_arguments)]
fn handle_input(
    state: &State,
    peer: &PeerState,
    inbuf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    remote: &mut HashMap<u64, RemoteTable>,
    current_remote: &mut Option<u64>,
    dict: &mut fulcrum_peers::dict::Incoming,
    last_update: &mut u32,
    to_ack: &mut HashMap<u64, u32>,
    teach: &mut Option<VecDeque<(usize, Update)>>,
    asked: &mut bool,
    last_pushed: &mut [u64],
    confirmed: &mut bool,
) -> Res<()> {
    let mut used = 0;
    loop {
        let m = match Message::decode(&inbuf[used..]) {
            Ok(Some((m, n))) => {
                used += n;
                m
            }
            Ok(None) => break,
            Err(e) => return Err(e.to_string()),
        };
        tracing::trace!(section = %state.section, peer = %peer.name, "peers: received {m:?}");
        match m {
            Message::Heartbeat | Message::Unknown { .. } => {}
            Message::ResyncConfirm => *confirmed = true,
            Message::ProtocolError | Message::SizeLimit => {
                return Err("the peer reported an error".into())
            }
            // the old process of a reload teaches once, from the session's start
            Message::ResyncRequest if peer.local && state.draining.load(Ordering::Acquire) => {}
            Message::ResyncRequest => *teach = Some(everything(state)),
            Message::ResyncFinished | Message::ResyncPartial => {
                Message::ResyncConfirm.encode(out);
                if matches!(m, Message::ResyncFinished) {
                    state.resynced.store(true, Ordering::Release);
                }
                if *asked {
                    *asked = false;
                    state.asking.store(false, Ordering::Release);
                }
            }
            Message::Define(def) => {
                let local = state.tables.iter().position(|s| {
                    s.def.name == def.name
                        && s.def.key_type == def.key_type
                        && s.def.key_len == def.key_len
                });
                *current_remote = Some(def.id);
                remote.insert(def.id, RemoteTable { def, local });
            }
            Message::Switch { id } => *current_remote = Some(id),
            Message::Ack { id, update } => {
                if let Some(t) = state.tables.iter().position(|s| s.def.id == id) {
                    // the 32-bit id names the latest local update number with those low bits
                    let pushed = last_pushed[t];
                    let mut acked = (pushed & !0xffff_ffff) | u64::from(update);
                    if acked > pushed {
                        acked = acked.saturating_sub(1 << 32);
                    }
                    if let Ok(mut a) = peer.acked.lock() {
                        if acked > a[t] {
                            a[t] = acked;
                        }
                    }
                }
            }
            Message::Update { kind, payload } => {
                let Some(rid) = *current_remote else {
                    return Err("update before any table definition".into());
                };
                let Some(rt) = remote.get(&rid) else {
                    return Err("update for an undefined table".into());
                };
                let u = match EntryUpdate::decode(payload, kind, &rt.def) {
                    Ok(u) => u,
                    // a data type fulcrum cannot read: skip the entry, keep the session
                    Err(fulcrum_peers::Error::DataType(_)) => {
                        *last_update = last_update.wrapping_add(1);
                        continue;
                    }
                    Err(e) => return Err(e.to_string()),
                };
                *last_update = u.id.unwrap_or(last_update.wrapping_add(1));
                to_ack.insert(rid, *last_update);
                if let Some(t) = rt.local {
                    apply(&state.tables[t].table, &u, kind, dict);
                } else {
                    // a table fulcrum does not have: its dictionary entries still number texts for later
                    for (_, v) in &u.values {
                        if let Value::Dict(number, Some(text)) = v {
                            dict.resolve(*number, Some(text));
                        }
                    }
                }
            }
        }
    }
    inbuf.drain(..used);
    Ok(())
}

/// Stores an update a peer sent.
fn apply(
    table: &Table,
    u: &EntryUpdate,
    _kind: UpdateKind,
    dict: &mut fulcrum_peers::dict::Incoming,
) {
    let key = match table.key_type() {
        KeyType::Ip => match <[u8; 4]>::try_from(u.key.as_slice()) {
            Ok(b) => Key::V4(b.into()),
            Err(_) => return,
        },
        KeyType::Ipv6 => match <[u8; 16]>::try_from(u.key.as_slice()) {
            Ok(b) => Key::V6(b.into()),
            Err(_) => return,
        },
        KeyType::Integer => match <[u8; 4]>::try_from(u.key.as_slice()) {
            Ok(b) => Key::Int(u32::from_be_bytes(b)),
            Err(_) => return,
        },
        KeyType::String(n) => Key::Bytes(u.key[..u.key.len().min(n)].into()),
        KeyType::Binary(n) => {
            let mut b = u.key.clone();
            b.resize(n, 0);
            Key::Bytes(b.into_boxed_slice())
        }
    };
    let now = now_ms();
    table.apply_remote(&key, now, u.expire, |d| {
        // an array's elements come one after the other: their index counts the values of the same type
        let mut element = (u8::MAX, 0usize);
        for (bit, v) in &u.values {
            element = if element.0 == *bit {
                (*bit, element.1 + 1)
            } else {
                (*bit, 0)
            };
            let Some(dt) = DataType::from_wire_bit(*bit) else {
                continue;
            };
            let raw = match v {
                Value::Num(n) => Raw::Num(*n),
                Value::Freq(e, c, p) => Raw::Freq(*e, *c, *p),
                // a server key the session's dictionary names (an unknown number leaves none)
                Value::Dict(number, text) => Raw::Num(
                    dict.resolve(*number, text.as_deref())
                        .and_then(|t| std::str::from_utf8(t).ok())
                        .map_or(0, fulcrum_stick::intern_server_key),
                ),
            };
            d.set_raw_at(dt, element.1, raw);
        }
    });
}
