//! The typed model of a haproxy.cfg, after parsing and validation.
//!
//! Everything here is plain, immutable data: `defaults` sections have already been applied to the proxies that
//! follow them, `default-server` lines have been merged into each server, names have been resolved, and every
//! value is in range. The proxy data path builds its runtime snapshot from this.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::Location;

/// A whole configuration: one `global` section (merged if given several times) and the proxies in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Process-wide settings.
    pub global: Global,
    /// Frontends, backends and listen sections, in the order they appear.
    pub proxies: Vec<Proxy>,
    /// What `.warning`, `.notice` and `.diag` lines in taken branches said, in file order; `.diag` ones are for
    /// diagnostic mode only.
    pub warnings: Vec<crate::diag::Warning>,
    /// `program` sections, in file order (the master process runs them; they need master-worker mode).
    pub programs: Vec<Program>,
    /// `userlist` sections, in file order.
    pub userlists: Vec<Userlist>,
    /// `resolvers` sections, in file order.
    pub resolvers: Vec<Resolvers>,
    /// The map files the `map*` converters of the configuration read, shared with the compiled converters.
    pub maps: MapFiles,
    /// `peers` sections that name the local peer, in file order.
    pub peers: Vec<Peers>,
}

/// A `peers NAME` section that names the local peer.
#[derive(Debug, Clone, PartialEq)]
pub struct Peers {
    /// The section's name.
    pub name: String,
    /// Where the section starts.
    pub location: Location,
    /// `disabled`: the section neither listens nor connects.
    pub disabled: bool,
    /// The local peer's name (`-L` or the host name).
    pub local: String,
    /// Where the other peers connect: the local `peer`'s address or the `bind` line.
    pub bind: Option<Bind>,
    /// The other peers, in order.
    pub peers: Vec<Peer>,
    /// The tables declared in the section (`table NAME ...`), named `PEERS/NAME`.
    pub tables: Vec<StickTable>,
    /// TLS towards the local peer's own address (the local `server` line's `ssl ...` options, over
    /// `default-server`): what the old process of a reload uses to teach the new one.
    pub local_tls: Option<ServerTls>,
    /// The local peer's `peer` / `server` line.
    pub local_location: Option<Location>,
}

/// A remote peer: `peer NAME ADDR:PORT` or `server NAME [ADDR:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its name (the one its `-L` gives it).
    pub name: String,
    /// Where to connect to it (`None`: never connected to, only accepted).
    pub addr: Option<std::net::SocketAddr>,
    /// Where the line was.
    pub location: Location,
    /// TLS towards it (`ssl ...` on its line or on `default-server`).
    pub tls: Option<ServerTls>,
}

/// A `userlist NAME` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Userlist {
    /// The section's name (`http_auth(NAME)`).
    pub name: String,
    /// Its users, in order (a duplicated name is ignored, as in HAProxy).
    pub users: Vec<User>,
    /// Its groups' names, in order.
    pub groups: Vec<String>,
    /// Where the section starts.
    pub location: crate::Location,
}

/// One `user` line of a userlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// Its password (`None`: the user cannot authenticate).
    pub password: Option<Password>,
    /// The groups it belongs to: from its `groups` option and from `group ... users` lines.
    pub groups: Vec<String>,
}

/// A user's password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// `password HASH`: a crypt(3) hash.
    Crypt(String),
    /// `insecure-password TEXT`: the password in clear.
    Insecure(String),
}

/// The maps of a configuration (`show map`): two are equal when they list the same files with the same
/// entries.
#[derive(Debug, Clone, Default)]
pub struct MapFiles(pub std::sync::Arc<fulcrum_sample::Maps>);

impl PartialEq for MapFiles {
    fn eq(&self, other: &MapFiles) -> bool {
        let entries = |m: &fulcrum_sample::Maps| -> Vec<(String, Vec<(String, String)>)> {
            m.list()
                .into_iter()
                .map(|i| {
                    let e = m.show(&i.path).unwrap_or_default();
                    (i.path, e.into_iter().map(|e| (e.key, e.value)).collect())
                })
                .collect()
        };
        std::sync::Arc::ptr_eq(&self.0, &other.0) || entries(&self.0) == entries(&other.0)
    }
}

/// A `program NAME` section: a command the master process starts beside the worker and stops with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The section's name (`show proc` lists the process under it).
    pub name: String,
    /// `command CMD [ARGS...]`: the program and its arguments, run without a shell.
    pub command: Vec<String>,
    /// `user NAME`: the user the program runs as.
    pub user: Option<String>,
    /// `group NAME`: the group the program runs as.
    pub group: Option<String>,
    /// `option start-on-reload` (HAProxy restarts the program on each reload; fulcrum does not reload yet).
    pub start_on_reload: bool,
    /// Where the section starts.
    pub location: Location,
}

impl Config {
    /// The proxy called `name` that can act as a backend (a `backend` or a `listen`).
    pub fn backend(&self, name: &str) -> Option<&Proxy> {
        self.proxies
            .iter()
            .find(|p| p.name == name && p.kind.has_backend())
    }
}

/// A set of process or thread numbers in `cpu-map`: `all`, `odd`, `even`, `N` or `N-M` (numbered from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdSet {
    /// `all`
    All,
    /// `odd`
    Odd,
    /// `even`
    Even,
    /// `N` or `N-M`, inclusive.
    Range(u32, u32),
}

impl IdSet {
    /// Whether `n` (from 1) is in the set.
    pub fn contains(&self, n: u32) -> bool {
        match self {
            IdSet::All => true,
            IdSet::Odd => n % 2 == 1,
            IdSet::Even => n.is_multiple_of(2),
            IdSet::Range(a, b) => (*a..=*b).contains(&n),
        }
    }
}

/// One `cpu-map` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuMap {
    /// `auto:`: the threads take the CPUs one each, in order.
    pub auto: bool,
    /// The process set (only process 1 exists).
    pub process: IdSet,
    /// The thread set; `None`: every thread of the process.
    pub threads: Option<IdSet>,
    /// The CPUs, in order, without repeats.
    pub cpus: Vec<usize>,
}

impl CpuMap {
    /// The CPUs of each of `nthreads` worker threads (index 0 is thread 1) after `maps` in order; `None` for a
    /// thread no line names.
    pub fn per_thread(maps: &[CpuMap], nthreads: usize) -> Vec<Option<Vec<usize>>> {
        let mut out = vec![None; nthreads];
        for m in maps.iter().filter(|m| m.process.contains(1)) {
            let threads: Vec<usize> = (1..=nthreads as u32)
                .filter(|t| m.threads.as_ref().is_none_or(|s| s.contains(*t)))
                .map(|t| t as usize - 1)
                .collect();
            for (i, t) in threads.into_iter().enumerate() {
                out[t] = if m.auto {
                    // One CPU each, in order; threads past the last CPU keep what they had.
                    match m.cpus.get(i) {
                        Some(c) => Some(vec![*c]),
                        None => continue,
                    }
                } else {
                    Some(m.cpus.clone())
                };
            }
        }
        out
    }
}

/// A socket's kernel buffer sizes as `tune.rcvbuf.*` / `tune.sndbuf.*` set them (bytes; `None`: the kernel's own
/// sizing, which grows with the traffic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketBufs {
    /// SO_RCVBUF.
    pub rcv: Option<u32>,
    /// SO_SNDBUF.
    pub snd: Option<u32>,
}

/// The `global` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Global {
    /// `maxconn N`: the process-wide limit of concurrent client connections.
    pub maxconn: Option<u32>,
    /// `nbthread N`: worker threads.
    pub nbthread: Option<u16>,
    /// `log TARGET [len N] [format F] FACILITY [LEVEL [MINLEVEL]]` lines.
    pub logs: Vec<LogTarget>,
    /// `stats socket PATH [mode M] [level L]` lines (served by the runtime API).
    pub stats_sockets: Vec<StatsSocket>,
    /// `user NAME` / `uid N`: the user to switch to after binding (`uid N` is kept as the decimal text of N).
    pub user: Option<String>,
    /// `group NAME` / `gid N`: the group to switch to after binding (`gid N` is kept as the decimal text of N).
    pub group: Option<String>,
    /// `daemon`: fork into the background (same as `-D`).
    pub daemon: bool,
    /// `expose-experimental-directives`: the experimental keywords (`http-request normalize-uri`) are allowed in
    /// the sections that follow.
    pub expose_experimental: bool,
    /// `chroot DIR`: chroot after binding.
    pub chroot: Option<PathBuf>,
    /// `pidfile PATH` (same as `-p`).
    pub pidfile: Option<PathBuf>,
    /// `nosplice`: `mode tcp` copies through user space instead of splice(2).
    pub nosplice: bool,
    /// `noreuseport` (or `-dR`): listening sockets are bound without SO_REUSEPORT, so no other socket can bind
    /// the same address while they are open; the worker threads then share one socket per address.
    pub noreuseport: bool,
    /// `server-state-file PATH`: the file `load-server-state-from-file global` reads at start (relative to
    /// `server-state-base` unless absolute).
    pub server_state_file: Option<PathBuf>,
    /// `server-state-base DIR`: where relative server-state file names are looked up.
    pub server_state_base: Option<PathBuf>,
    /// `master-worker`: run a master process that forks the worker (same as `-W`).
    pub master_worker: bool,
    /// `tune.bufsize N`: the size of a message buffer (rounded up to a multiple of 16, as HAProxy does); see
    /// [`Global::bufsize`].
    pub tune_bufsize: Option<u32>,
    /// `tune.maxrewrite N`: the room kept in a buffer for rewriting headers; see [`Global::maxrewrite`].
    pub tune_maxrewrite: Option<u32>,
    /// `tune.rcvbuf.client` / `tune.sndbuf.client`: SO_RCVBUF / SO_SNDBUF of the listening sockets, which accepted
    /// connections inherit (bytes; the kernel's own sizing when unset).
    pub tune_client_bufs: SocketBufs,
    /// `tune.rcvbuf.server` / `tune.sndbuf.server`: the same for connections to servers.
    pub tune_server_bufs: SocketBufs,
    /// `tune.pipesize N`: the size asked for each pipe that splices (fulcrum's own default: 256 KiB).
    pub tune_pipesize: Option<u32>,
    /// `tune.maxpollevents N`: the most readiness events a worker takes from the kernel in one wait (0: the
    /// runtime's default, 1024).
    pub tune_maxpollevents: Option<u32>,
    /// `tune.runqueue-depth N`: the most tasks a worker runs before it looks for new events (0: the runtime's
    /// default, 61).
    pub tune_runqueue_depth: Option<u32>,
    /// `tune.maxaccept N`: connections a listener accepts in a row before the worker turns to other work
    /// (`None`: 64, HAProxy's default with one process; `Some(None)` for -1: no limit).
    pub tune_maxaccept: Option<Option<u32>>,
    /// `maxpipes N`: pipes open at once for splicing, in the whole process (0: no limit of fulcrum's own;
    /// connections that find none copy through user space).
    pub maxpipes: Option<u32>,
    /// `quiet`: as `-q`, no warnings and no notices at start.
    pub quiet: bool,
    /// `external-check`: proxies may run programs as health checks (`option external-check`).
    pub external_check: bool,
    /// `insecure-fork-wanted`: HAProxy's permission to fork, which its external checks need (fulcrum's do not).
    pub insecure_fork_wanted: bool,
    /// `fd-hard-limit N`: the most the descriptor limit is raised to when `ulimit-n` does not set it.
    pub fd_hard_limit: Option<u64>,
    /// `max-spread-checks TIME`: the first checks of all servers start within this delay, whatever their
    /// intervals.
    pub max_spread_checks: Option<std::time::Duration>,
    /// `zero-warning`: a configuration that gives warnings does not start (nor passes `-c`).
    pub zero_warning: bool,
    /// `tune.http.maxhdr N`: the most header lines in a request or response head; see [`Global::maxhdr`].
    pub tune_http_maxhdr: Option<u32>,
    /// `tune.http.logurilen N`: how much of the request line the access log keeps; see [`Global::logurilen`].
    pub tune_http_logurilen: Option<u32>,
    /// `tune.h2.*`: the HTTP/2 settings offered to clients.
    pub tune_h2: H2Tune,
    /// `tune.comp.maxlevel N` (1 to 9): the deflate level compression uses; see [`Global::comp_level`].
    pub tune_comp_maxlevel: Option<u8>,
    /// `crt-base`, `ca-base`, `ssl-default-bind-*` and `tune.ssl.*`.
    pub ssl: super::ssl::GlobalSsl,
    /// `strict-limits` / `no strict-limits`: whether a descriptor limit too low for `maxconn` stops the start
    /// (HAProxy's default) or only warns.
    pub strict_limits: Option<bool>,
    /// `tune.idle-pool.shared on|off`: `Some(false)` keeps idle server connections to the thread that opened
    /// them; by default (`on`) a thread takes another's when it has none.
    pub idle_pool_shared: Option<bool>,
    /// `set-var proc.NAME EXPR` and `set-var-fmt proc.NAME FMT` lines, in file order: evaluated once when the
    /// proxy starts, each seeing the variables the lines before it set.
    pub vars: Vec<GlobalVar>,
    /// `stats timeout T`: how long a runtime API connection may stay silent (HAProxy's default: 10 s).
    pub stats_timeout: Option<std::time::Duration>,
    /// `stats maxconn N`: runtime API connections served at once, all stats sockets together (default 10).
    pub stats_maxconn: Option<u32>,
    /// `grace T`: after a soft stop starts, listeners keep accepting for this long before they stop.
    pub grace: Option<std::time::Duration>,
    /// `hard-stop-after T`: the longest a soft-stopping process waits for its connections; then it closes them.
    pub hard_stop_after: Option<std::time::Duration>,
    /// `mworker-max-reloads N`: an old worker that has seen more reloads than this is stopped with SIGTERM.
    pub mworker_max_reloads: Option<u32>,
    /// `node NAME`: the node name `show info` reports (the host name by default).
    pub node: Option<String>,
    /// `cpu-map [auto:]PROC[/THREADS] CPUS...` lines, in order (a later line wins for a thread).
    pub cpu_map: Vec<CpuMap>,
    /// `maxconnrate N`: new connections accepted per second, process-wide (0 in the file: no limit).
    pub maxconnrate: Option<u32>,
    /// `maxsslrate N`: new connections per second on the `ssl` listeners, whose TLS handshakes they start.
    pub maxsslrate: Option<u32>,
    /// `maxsslconn N`: TLS connections open at once in the process, from clients and to servers together (0 in
    /// the file: no limit).
    pub maxsslconn: Option<u32>,
    /// `maxsessrate N`: new sessions per second, process-wide (0 in the file: no limit).
    pub maxsessrate: Option<u32>,
    /// `spread-checks N` (0..=50): each check interval moves by up to N% either way, at random.
    pub spread_checks: u8,
    /// `ulimit-n N`: the descriptor limit to set (0 in the file: not set).
    pub ulimit_n: Option<u64>,
    /// `log-tag TAG`: the syslog tag of every log line (the program name by default).
    pub log_tag: Option<String>,
    /// `log-send-hostname [NAME]`: the host name written in syslog headers (`Some(None)`: the system's).
    pub log_send_hostname: Option<Option<String>>,
    /// `description TEXT...`: the process's description, in `show info`.
    pub description: Option<String>,
}

/// `tune.h2.*` of the `global` section; unset fields take HAProxy's defaults (see the methods).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct H2Tune {
    /// `tune.h2.header-table-size N`: the HPACK dynamic table size (4096 to 65536).
    pub header_table_size: Option<u32>,
    /// `tune.h2.initial-window-size N`: each stream's initial receive window.
    pub initial_window_size: Option<u32>,
    /// `tune.h2.max-concurrent-streams N`: streams a client may have open at once on one connection.
    pub max_concurrent_streams: Option<u32>,
    /// `tune.h2.max-frame-size N`: the largest frame the proxy accepts (16384 to 16777215).
    pub max_frame_size: Option<u32>,
    /// `h2-workaround-bogus-websocket-clients`: WebSocket over HTTP/2 (RFC 8441's extended CONNECT) is not
    /// offered to clients, so that those that implement it badly fall back to HTTP/1.1.
    pub no_websocket: bool,
}

impl H2Tune {
    /// The HPACK dynamic table size advertised: 4096 by default.
    pub fn header_table_size(&self) -> u32 {
        self.header_table_size.unwrap_or(4096)
    }
    /// The initial stream window: 65535 by default, as HAProxy 2.6.
    pub fn initial_window_size(&self) -> u32 {
        self.initial_window_size.unwrap_or(65535)
    }
    /// Concurrent streams per connection: 100 by default.
    pub fn max_concurrent_streams(&self) -> u32 {
        self.max_concurrent_streams.unwrap_or(100)
    }
    /// The largest frame accepted: 16384 by default.
    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size.unwrap_or(16384)
    }
}

/// A `set-var` or `set-var-fmt` line of the `global` section.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalVar {
    /// The variable (always of scope `proc`).
    pub name: VarName,
    /// What it is set to.
    pub value: GlobalVarValue,
    /// Where the line was.
    pub location: Location,
}

/// The value of a global `set-var` / `set-var-fmt`.
#[derive(Debug, Clone, PartialEq)]
pub enum GlobalVarValue {
    /// `set-var NAME EXPR`: the expression's sample (nothing is set when it is absent).
    Expr(SampleExpr),
    /// `set-var-fmt NAME FMT`: the rendered string.
    Fmt(Fmt),
}

impl Global {
    /// HAProxy's buffer size: `tune.bufsize`, 16384 by default. A request or response head and the body bytes
    /// waited for (`option http-buffer-request`, `wait-for-body`) must fit in it, less [`Global::maxrewrite`].
    pub fn bufsize(&self) -> u32 {
        self.tune_bufsize.unwrap_or(16384)
    }

    /// The room kept for header rewrites: `tune.maxrewrite`, 1024 by default, at most half of [`Global::bufsize`]
    /// (as HAProxy caps it).
    pub fn maxrewrite(&self) -> u32 {
        self.tune_maxrewrite.unwrap_or(1024).min(self.bufsize() / 2)
    }

    /// `tune.http.maxhdr`, 101 by default: a request head may have one header line less than this (HAProxy's
    /// message layout counts the start line too); more is answered with 400.
    pub fn maxhdr(&self) -> u32 {
        self.tune_http_maxhdr.unwrap_or(101)
    }

    /// The deflate level of `compression` (`tune.comp.maxlevel`): 1 by default, as in HAProxy (the fastest).
    pub fn comp_level(&self) -> u8 {
        self.tune_comp_maxlevel.unwrap_or(1)
    }

    /// How many bytes of the request line the access log keeps (`%r`): `tune.http.logurilen`, 1024 by default.
    pub fn logurilen(&self) -> u32 {
        self.tune_http_logurilen.unwrap_or(1024)
    }
}

/// Where a `log` line sends messages.
#[derive(Debug, Clone, PartialEq)]
pub struct LogTarget {
    /// The destination.
    pub address: LogAddress,
    /// `format rfc3164|rfc5424|raw|short`; rfc3164 when not given.
    pub format: LogFormat,
    /// Syslog facility name (`local0`, `daemon`, ...).
    pub facility: String,
    /// Highest level sent (`info` when not given... HAProxy sends everything up to debug when absent).
    pub level: Option<String>,
    /// Lowest level sent (the optional word after the level); `None`: no lower bound.
    pub minlevel: Option<String>,
    /// `len N`: longest line sent, in bytes (HAProxy's default is 1024).
    pub max_len: Option<u32>,
    /// `sample RANGES:SIZE`: only these lines of every SIZE go to this target.
    pub sample: Option<LogSample>,
    /// Where the line was.
    pub location: Location,
}

/// `sample RANGES:SIZE` of a `log` line: of every `size` lines, those whose 1-based rank is in one of `ranges`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSample {
    /// Inclusive ranks, each within `1..=size`.
    pub ranges: Vec<(u32, u32)>,
    /// The period.
    pub size: u32,
}

impl LogSample {
    /// Whether the line of 0-based sequence number `n` is sent.
    pub fn takes(&self, n: u64) -> bool {
        let rank = (n % u64::from(self.size)) as u32 + 1;
        self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&rank))
    }
}

/// The destination of a `log` line.
#[derive(Debug, Clone, PartialEq)]
pub enum LogAddress {
    /// `stdout`
    Stdout,
    /// `stderr`
    Stderr,
    /// `IP[:PORT]` or `udp@IP:PORT`: syslog over UDP (port 514 when not given).
    Udp(SocketAddr),
    /// `/path/to/socket`: a unix datagram socket such as /dev/log.
    Unix(PathBuf),
}

/// Syslog message format of a log target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `<PRI>Mmm dd hh:mm:ss host tag[pid]: msg`
    #[default]
    Rfc3164,
    /// `<PRI>1 ISO-TIME host tag pid - - msg`
    Rfc5424,
    /// `<PRI>msg`
    Short,
    /// just the message
    Raw,
}

/// Where a `stats socket` listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAddr {
    /// `PATH` or `unix@PATH`: a unix stream socket created by the process.
    Unix(PathBuf),
    /// `IP:PORT`, `ipv4@IP:PORT`, `ipv6@[IP]:PORT`: a TCP listener.
    Tcp(SocketAddr),
    /// `fd@N`: a listening socket inherited from the parent process (systemd, a test harness, a master).
    Fd(i32),
}

impl std::fmt::Display for StatsAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatsAddr::Unix(p) => write!(f, "{}", p.display()),
            StatsAddr::Tcp(a) => write!(f, "{a}"),
            StatsAddr::Fd(n) => write!(f, "fd@{n}"),
        }
    }
}

/// A `stats socket` line.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsSocket {
    /// Where it listens: a unix socket path, a TCP address or an inherited socket.
    pub addr: StatsAddr,
    /// `mode` in octal, as given.
    pub mode: Option<u32>,
    /// `level user|operator|admin`; HAProxy's default is `operator`... the documented default for stats socket is `admin`
    /// in 2.6 for unix sockets created by the process.
    pub level: StatsLevel,
    /// `expose-fd listeners`: the socket may hand the listening sockets over (`-x` of a new process).
    pub expose_fd_listeners: bool,
    /// Where the line was.
    pub location: Location,
}

/// Access level of a runtime API socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum StatsLevel {
    /// read-only, no sensitive data
    User,
    /// read-only plus a few non-sensitive changes
    Operator,
    /// everything
    #[default]
    Admin,
}

/// What kind of section declared a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// `frontend NAME`: accepts connections, has no servers.
    Frontend,
    /// `backend NAME`: has servers, accepts nothing.
    Backend,
    /// `listen NAME`: both at once.
    Listen,
}

impl ProxyKind {
    /// Frontends and listens accept connections.
    pub fn has_frontend(self) -> bool {
        matches!(self, ProxyKind::Frontend | ProxyKind::Listen)
    }
    /// Backends and listens have servers.
    pub fn has_backend(self) -> bool {
        matches!(self, ProxyKind::Backend | ProxyKind::Listen)
    }
}

/// `mode tcp|http`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// L4: bytes forwarded both ways.
    #[default]
    Tcp,
    /// L7: HTTP/1.1 parsed, per-request balancing.
    Http,
}

/// How HTTP connections are handled (`option http-keep-alive`, `option http-server-close`, `option httpclose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpConnMode {
    /// Keep-alive on both sides (the default).
    #[default]
    KeepAlive,
    /// Keep-alive with the client, a new connection to the server for each request.
    ServerClose,
    /// Close both sides after each response.
    Close,
}

/// Which idle server connections a request may use (`http-reuse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpReuse {
    /// A server connection belongs to the client connection that opened it and is closed with it.
    Never,
    /// The first request of a client connection gets a new server connection; later ones may use any idle one
    /// (HAProxy's default).
    #[default]
    Safe,
    /// As `Safe`, except that a first request may use an idle connection that has already carried more than
    /// one request.
    Aggressive,
    /// Any request may use any idle connection.
    Always,
}

impl HttpReuse {
    /// The mode named `s` (`never`, `safe`, `aggressive`, `always`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "never" => HttpReuse::Never,
            "safe" => HttpReuse::Safe,
            "aggressive" => HttpReuse::Aggressive,
            "always" => HttpReuse::Always,
            _ => return None,
        })
    }
}

/// The timeouts a proxy uses (`timeout NAME VALUE`); `None` means not set (no timeout).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// `timeout connect`
    pub connect: Option<Duration>,
    /// `timeout client`
    pub client: Option<Duration>,
    /// `timeout server`
    pub server: Option<Duration>,
    /// `timeout http-request`: the whole request head must arrive within this.
    pub http_request: Option<Duration>,
    /// `timeout http-keep-alive`: idle time between two requests on a client connection.
    pub http_keep_alive: Option<Duration>,
    /// `timeout tunnel`: inactivity once a connection became a tunnel (WebSocket, CONNECT, tcp mode).
    pub tunnel: Option<Duration>,
    /// `timeout queue`
    pub queue: Option<Duration>,
    /// `timeout check`: extra read timeout of a health check once connected.
    pub check: Option<Duration>,
    /// `timeout client-fin`
    pub client_fin: Option<Duration>,
    /// `timeout server-fin`
    pub server_fin: Option<Duration>,
    /// `timeout tarpit` (defaults to `timeout connect` in HAProxy)
    pub tarpit: Option<Duration>,
}

/// `option forwardfor [except NET] [header NAME] [if-none]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardFor {
    /// Do not add the header for clients in this network.
    pub except: Option<(std::net::IpAddr, u8)>,
    /// Header name; `X-Forwarded-For` by default.
    pub header: String,
    /// Only add the header when the request does not already have one.
    pub if_none: bool,
}

/// `balance ALGO [args]`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Balance {
    /// `roundrobin`: weighted, smooth.
    #[default]
    RoundRobin,
    /// `static-rr`
    StaticRr,
    /// `leastconn`
    LeastConn,
    /// `first`
    First,
    /// `source`: hash of the client address.
    Source,
    /// `uri [len N] [depth N] [whole] [path-only]`
    Uri {
        /// only the first N characters are hashed
        len: Option<usize>,
        /// only the first N directories are hashed
        depth: Option<usize>,
        /// hash the query string too
        whole: bool,
        /// hash from the path on, also for a request in absolute form (`http://host/path`, every HTTP/2
        /// request): by default the scheme and authority of such a request are hashed too, as HAProxy does
        path_only: bool,
    },
    /// `url_param NAME`
    UrlParam(String),
    /// `hdr(NAME)`
    Hdr(String),
    /// `random[(N)]`: least loaded of N draws (2 by default).
    Random(u32),
    /// `hash EXPR`: the hash of a sample expression's value, evaluated per request (round robin when it is
    /// absent).
    Hash(SampleExpr),
    /// `rdp-cookie[(NAME)]`: the hash of the RDP cookie NAME (`mstshash` by default) of the connection's
    /// first bytes, as `hash req.rdp_cookie(NAME)` (round robin without one); the expression is that one.
    RdpCookie(SampleExpr),
}

/// The function and modifier of `hash-type METHOD [FUNCTION] [avalanche]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashOptions {
    /// The function applied to the key's bytes (`sdbm` by default).
    pub function: HashFunction,
    /// `avalanche`: the hash is mixed before use.
    pub avalanche: bool,
}

/// The hash function of `hash-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashFunction {
    /// `sdbm` (the default)
    #[default]
    Sdbm,
    /// `djb2`
    Djb2,
    /// `crc32`
    Crc32,
    /// `wt6`
    Wt6,
}

/// `hash-type map-based|consistent`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashType {
    /// the key modulo the total weight
    #[default]
    MapBased,
    /// a consistent ring
    Consistent,
}

/// The request of an HTTP check: `option httpchk [METHOD] [URI] [VERSION]` merged with `http-check send`, as
/// HAProxy merges them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// `OPTIONS` by default
    pub method: String,
    /// `/` by default
    pub uri: String,
    /// `HTTP/1.0` by default
    pub version: String,
    /// Headers in order (`http-check send hdr NAME VALUE`, or `option httpchk ... HTTP/1.1\r\nHost:\ x`)
    pub headers: Vec<(String, String)>,
    /// `http-check send body TEXT`
    pub body: Option<String>,
    /// `uri-lf`: the URI is a log-format string
    pub uri_lf: bool,
    /// `body-lf`: the body is a log-format string
    pub body_lf: bool,
    /// The header values are log-format strings (those of `http-check send hdr`, not `option httpchk`'s)
    pub headers_lf: bool,
}

/// One rule of an `http-check` ruleset, in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheckRule {
    /// What the rule does.
    pub action: HttpCheckAction,
    /// `comment TEXT` (for `http-check comment`, its text).
    pub comment: Option<String>,
}

/// The action of an `http-check` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpCheckAction {
    /// `connect [default] [port N] [addr A] [send-proxy] [linger]`
    Connect(TcpCheckConnect),
    /// `send ...`: the request (the first one merged with `option httpchk`'s).
    Send(HttpCheck),
    /// `expect ...`
    Expect(HttpExpect, HttpExpectOptions),
    /// `set-var(check.NAME[,COND...]) EXPR` or `set-var-fmt(check.NAME[,COND...]) FMT`
    SetVar(fulcrum_sample::VarName, CheckVarValue, VarConds),
    /// `unset-var(check.NAME)`
    UnsetVar(fulcrum_sample::VarName),
    /// `comment TEXT`
    Comment,
}

/// What `set-var` / `set-var-fmt` of a check rule stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckVarValue {
    /// `set-var(NAME) EXPR`
    Expr(SampleExpr),
    /// `set-var-fmt(NAME) FMT`
    Format(Fmt),
}

impl Proxy {
    /// The `http-check expect` rules, in order, with their options.
    pub fn http_expects(&self) -> Vec<(&HttpExpect, &HttpExpectOptions)> {
        self.http_check
            .iter()
            .filter_map(|r| match &r.action {
                HttpCheckAction::Expect(e, o) => Some((e, o)),
                _ => None,
            })
            .collect()
    }
}

/// `http-check expect ...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpExpect {
    /// `status N` (or `status N-M`... only a single code here)
    Status(u16),
    /// `string TEXT`: the body contains TEXT
    String(String),
    /// `rstatus REGEX` (checked to compile)
    RStatus(String),
    /// `status 200-399,404`: inclusive ranges (a single code is [`HttpExpect::Status`])
    Statuses(Vec<(u16, u16)>),
    /// `rstring REGEX` (checked to compile): the body matches
    RString(String),
    /// `hdr name ... [value ...]` / `fhdr ...`: a response header matches
    Header(HeaderExpect),
    /// `string-lf FMT` (checked to compile): the body contains the format, rendered at each check
    StringLf(String),
}

/// `http-check expect hdr|fhdr name [-m METH] NAME [value [-m METH] VALUE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderExpect {
    /// `fhdr`: each header's full value is matched; `hdr` splits values on commas.
    pub full: bool,
    /// How the name is matched (case-insensitively) and against what.
    pub name: (HeaderMatchMethod, String),
    /// How a value is matched (case-sensitively); `None`: the header being present is enough.
    pub value: Option<(HeaderMatchMethod, String)>,
    /// `name-lf`: the name's pattern is a log-format string (checked to compile)
    pub name_lf: bool,
    /// `value-lf`: the value's pattern is a log-format string (checked to compile)
    pub value_lf: bool,
}

/// The `-m` method of `http-check expect hdr`: `str` (the default), `beg`, `end`, `sub` or `reg` (checked to
/// compile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderMatchMethod {
    /// `-m str`: equal
    Str,
    /// `-m beg`: a prefix
    Beg,
    /// `-m end`: a suffix
    End,
    /// `-m sub`: a substring
    Sub,
    /// `-m reg`: a regular expression
    Reg,
}

/// The options of an `http-check expect` line besides its match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpExpectOptions {
    /// `!`
    pub inverse: bool,
    /// `comment TEXT`
    pub comment: Option<String>,
    /// `ok-status` (`L4OK`, `L6OK`, `L7OK`, `L7OKC`)
    pub ok_status: Option<String>,
    /// `error-status` (`L7RSP`, `L7STS`, `L6RSP`, `L4CON`)
    pub error_status: Option<String>,
    /// `on-success FMT` (a log-format string, checked; as written)
    pub on_success: Option<String>,
    /// `on-error FMT` (a log-format string, checked; as written)
    pub on_error: Option<String>,
    /// `status-code EXPR`: the check code reported with the verdict.
    pub status_code: Option<SampleExpr>,
    /// `min-recv N`
    pub min_recv: Option<usize>,
    /// `tout-status` (`L7TOUT`, `L6TOUT`, `L4TOUT`)
    pub tout_status: Option<String>,
}

/// One `tcp-check` rule of `option tcp-check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpCheckRule {
    /// What the rule does.
    pub action: TcpCheckAction,
    /// `comment TEXT` (for `tcp-check comment`, its text).
    pub comment: Option<String>,
}

/// The action of a `tcp-check` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpCheckAction {
    /// `connect [default] [port N] [addr A] [send-proxy] [linger]`
    Connect(TcpCheckConnect),
    /// `send TEXT` or `send-binary HEX`, decoded.
    Send(Vec<u8>),
    /// `expect ...`
    Expect(TcpCheckExpect),
    /// `comment TEXT`
    Comment,
    /// `set-var(check.NAME[,COND...]) EXPR` or `set-var-fmt(check.NAME[,COND...]) FMT`
    SetVar(fulcrum_sample::VarName, CheckVarValue, VarConds),
    /// `unset-var(check.NAME)`
    UnsetVar(fulcrum_sample::VarName),
    /// `send-lf FMT` (`binary`: `send-binary-lf`, the rendered text being hexadecimal)
    SendLf {
        /// The format, compiled.
        format: Fmt,
        /// `send-binary-lf`
        binary: bool,
    },
}

/// `tcp-check connect` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpCheckConnect {
    /// `port N`
    pub port: Option<u16>,
    /// `addr A`
    pub addr: Option<std::net::IpAddr>,
    /// `send-proxy`
    pub send_proxy: bool,
    /// `default`: the server's check settings apply
    pub default: bool,
    /// `linger`
    pub linger: bool,
    /// `ssl`: the connection handshakes TLS with the server's TLS settings
    pub ssl: bool,
    /// `sni NAME`: the server name of that handshake
    pub sni: Option<String>,
    /// `alpn LIST`: the protocols it offers
    pub alpn: Option<Vec<String>>,
    /// `via-socks4`: through the server's SOCKS4 proxy
    pub via_socks4: bool,
    /// `proto h1|h2` (`http-check connect`): the HTTP version the check speaks on this connection (the
    /// server's `check-proto`/`proto` otherwise).
    pub proto: Option<BindProto>,
}

/// `tcp-check expect [min-recv N] [ok-status S] [error-status S] [tout-status S] [on-success T] [on-error T]
/// [!]KIND PATTERN` (the pattern checked: the regular expression compiles, the hex decodes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpCheckExpect {
    /// `!`
    pub inverse: bool,
    /// `string`, `rstring`, `binary` or `rbinary`
    pub kind: String,
    /// The pattern as written.
    pub pattern: String,
    /// `min-recv N`
    pub min_recv: Option<usize>,
    /// `ok-status` (`L4OK`, `L6OK`, `L7OK`, `L7OKC`)
    pub ok_status: Option<String>,
    /// `error-status` (`L7RSP`, `L7STS`, `L6RSP`, `L4CON`)
    pub error_status: Option<String>,
    /// `tout-status` (`L7TOUT`, `L6TOUT`, `L4TOUT`)
    pub tout_status: Option<String>,
    /// `on-success FMT` (a log-format string, checked; as written)
    pub on_success: Option<String>,
    /// `on-error FMT` (a log-format string, checked; as written)
    pub on_error: Option<String>,
    /// `status-code EXPR`: the check code reported with the verdict.
    pub status_code: Option<SampleExpr>,
}

/// `option external-check`: the program each health check runs (see `fulcrum_health::external`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalCheck {
    /// `external-check command CMD`
    pub command: String,
    /// `external-check path PATH`: its `PATH` (empty by default, as in HAProxy).
    pub path: String,
}

/// A health check in the server's own protocol (`option smtpchk`, `option redis-check`...), in place of a TCP
/// connect or an HTTP check. The last check option of a section wins, as in HAProxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolCheck {
    /// `option smtpchk [HELO|EHLO DOMAIN]`: the hello command and domain (`HELO localhost` by default).
    Smtp {
        /// `HELO` or `EHLO`
        verb: String,
        /// the domain presented
        domain: String,
    },
    /// `option redis-check`
    Redis,
    /// `option pgsql-check user NAME`
    Pgsql {
        /// the user of the StartupMessage
        user: String,
    },
    /// `option mysql-check [user NAME [post-41|pre-41]]`
    Mysql {
        /// the user that logs in; `None`: only the server's handshake is read
        user: Option<String>,
        /// `pre-41`: an older client authentication packet (`post-41` is the default)
        pre41: bool,
    },
    /// `option ldap-check`
    Ldap,
    /// `option spop-check`
    Spop,
    /// `option ssl-hello-chk`: an SSLv3 ClientHello, any TLS handshake or alert record back passes.
    SslHello,
}

/// One `server` line, with `default-server` options already merged in.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// The server's name, unique within its backend.
    pub name: String,
    /// Where traffic goes (host names are resolved while validating); `0.0.0.0:0` for a unix socket.
    pub addr: SocketAddr,
    /// `/PATH`, `unix@PATH`, `abns@NAME`: traffic goes to this unix socket instead.
    pub unix: Option<UnixAddr>,
    /// `weight N` (0..=256, default 1)
    pub weight: u32,
    /// `backup`
    pub backup: bool,
    /// `check`: health checks are enabled.
    pub check: bool,
    /// `inter` (2 s by default)
    pub inter: Duration,
    /// `fastinter` (defaults to `inter`)
    pub fastinter: Duration,
    /// `downinter` (defaults to `inter`)
    pub downinter: Duration,
    /// `rise` (2)
    pub rise: u32,
    /// `fall` (3)
    pub fall: u32,
    /// `port N`: health checks go to this port instead of the traffic port.
    pub check_port: Option<u16>,
    /// `addr IP`: health checks go to this address.
    pub check_addr: Option<std::net::IpAddr>,
    /// `maxconn N` (0 or absent: no limit)
    pub maxconn: Option<u32>,
    /// `maxqueue N`
    pub maxqueue: Option<u32>,
    /// `pool-max-conn N`: the most idle connections to this server kept for reuse (`None`: no limit of its
    /// own, -1 in the file).
    pub pool_max_conn: Option<u32>,
    /// `slowstart T`
    pub slowstart: Option<Duration>,
    /// `tcp-ut T`: TCP_USER_TIMEOUT of the connections to this server (0: the kernel's default).
    pub tcp_user_timeout: Option<Duration>,
    /// `disabled`: starts in maintenance.
    pub disabled: bool,
    /// `agent-check` with its `agent-*` options: an agent reports the server's weight and state.
    pub agent: Option<AgentCheck>,
    /// TLS towards the server, when its traffic (`ssl`) or its checks (`check-ssl`) use it, or when `ssl` was
    /// turned off by `no-ssl` (`traffic` and `checks` false: `set server ... ssl on` can turn it on again).
    pub tls: Option<ServerTls>,
    /// `no-ssl` is in force (written on the line or its `default-server`): `srv_use_ssl` -1 in `show servers
    /// state`.
    pub no_ssl: bool,
    /// `send-proxy`, `send-proxy-v2`, `send-proxy-v2-ssl[-cn]` with `proxy-v2-options`: a PROXY protocol header
    /// opens every connection to the server.
    pub send_proxy: Option<SendProxy>,
    /// `check-send-proxy`: health check connections open with a PROXY header too (LOCAL / UNKNOWN).
    pub check_send_proxy: bool,
    /// `socks4 ADDR:PORT`: connections to the server go through this SOCKS4 proxy (an IPv4 server only).
    pub socks4: Option<SocketAddr>,
    /// `check-via-socks4`: so do its health checks (else they go straight to the server).
    pub check_via_socks4: bool,
    /// `observe`, `error-limit`, `on-error`: the traffic's errors count against the server's health.
    pub observe: Observe,
    /// `on-marked-down shutdown-sessions`: a server going DOWN closes the sessions it serves.
    pub shutdown_on_down: bool,
    /// `on-marked-up shutdown-backup-sessions`: an active server coming UP closes the sessions of the
    /// backend's backup servers.
    pub shutdown_backups_on_up: bool,
    /// `track [BACKEND/]SERVER`: `(backend, server)` whose health state this server takes instead of running
    /// checks of its own (the backend is the server's own when not written).
    pub track: Option<(String, String)>,
    /// `cookie VALUE`: the value of the backend's persistence cookie that names this server.
    pub cookie: Option<String>,
    /// `resolvers`, `init-addr`, `resolve-*` and `server-template`: how the address follows names at run time.
    pub resolve: Option<Box<ServerResolve>>,
    /// `proto h2|h1`: the protocol spoken to the server whatever ALPN says (`None`: HTTP/1.1, or HTTP/2 when
    /// the server picks `h2` by ALPN).
    pub proto: Option<BindProto>,
    /// An address without a port (`Some(0)`) or with `+N` / `-N`: the port connected to is the client's
    /// destination port plus this (`addr`'s port is 0).
    pub port_offset: Option<i32>,
    /// `check-proto h2|h1`: the protocol of its HTTP checks (`None`: the server's `proto`).
    pub check_proto: Option<BindProto>,
    /// Where the line was.
    pub location: Location,
}

/// What the traffic of a server tells its health checks (`observe`): which errors count, how many in a row
/// make an event (`error-limit`) and what the event does (`on-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observe {
    /// `observe layer4|layer7`; `None` (`observe none`, the default): the traffic is not watched.
    pub layer: Option<ObserveLayer>,
    /// `error-limit N` (10 by default): consecutive errors that trigger `on_error`.
    pub error_limit: u32,
    /// `on-error` (`fail-check` by default).
    pub on_error: OnError,
}

impl Default for Observe {
    fn default() -> Self {
        Observe {
            layer: None,
            error_limit: 10,
            on_error: OnError::FailCheck,
        }
    }
}

/// `observe layer4|layer7`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObserveLayer {
    /// Connection failures count as errors; an established connection clears the count.
    Layer4,
    /// Connection failures, HTTP 5xx answers (but 501 and 505) and broken or late responses count as errors; a
    /// valid answer clears the count (HTTP proxies only).
    Layer7,
}

/// `on-error`: what `error-limit` consecutive errors do to the server's health checks. Each one also makes
/// the next check come after `fastinter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// `fastinter`: nothing more.
    FastInter,
    /// `fail-check`: counts as one failed check.
    FailCheck,
    /// `sudden-death`: leaves the server one failed check away from DOWN.
    SuddenDeath,
    /// `mark-down`: marks the server DOWN at once.
    MarkDown,
}

/// The PROXY protocol header sent to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendProxy {
    /// Version 2 (binary) rather than version 1 (text).
    pub v2: bool,
    /// The TLVs of a version 2 header.
    pub options: ProxyV2Options,
}

/// `proxy-v2-options` (and what `send-proxy-v2-ssl` / `-ssl-cn` imply): the TLVs a version 2 header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxyV2Options {
    /// `ssl`: the SSL TLV, with the protocol version when the client used TLS.
    pub ssl: bool,
    /// `cert-cn`: the client certificate's common name in the SSL TLV.
    pub cert_cn: bool,
    /// `ssl-cipher`: the cipher's name in the SSL TLV.
    pub ssl_cipher: bool,
    /// `cert-sig`: the signature algorithm of the frontend's certificate in the SSL TLV.
    pub cert_sig: bool,
    /// `cert-key`: the key type and size of the frontend's certificate in the SSL TLV.
    pub cert_key: bool,
    /// `authority`: the server name the client sent (SNI).
    pub authority: bool,
    /// `crc32c`: a checksum of the header.
    pub crc32c: bool,
    /// `unique-id`: the frontend's `unique-id-format` value.
    pub unique_id: bool,
}

impl ProxyV2Options {
    /// Both sets of options together.
    pub fn union(self, o: ProxyV2Options) -> ProxyV2Options {
        ProxyV2Options {
            ssl: self.ssl | o.ssl,
            cert_cn: self.cert_cn | o.cert_cn,
            ssl_cipher: self.ssl_cipher | o.ssl_cipher,
            cert_sig: self.cert_sig | o.cert_sig,
            cert_key: self.cert_key | o.cert_key,
            authority: self.authority | o.authority,
            crc32c: self.crc32c | o.crc32c,
            unique_id: self.unique_id | o.unique_id,
        }
    }
}

/// TLS towards a server, settled from its line, its `default-server` line and `global`. File names are as
/// written (taken under `ca-base` / `crt-base` when the proxy loads them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// `ssl`: the traffic goes over TLS.
    pub traffic: bool,
    /// Health checks go over TLS: `check-ssl`, or `ssl` without `port`/`addr` and without `no-check-ssl`.
    pub checks: bool,
    /// `verify required` (the default, unless `ssl-server-verify none`): the server's certificate must chain
    /// to `ca_file`.
    pub verify: bool,
    /// `ca-file`
    pub ca_file: Option<std::path::PathBuf>,
    /// `crl-file`: the server's certificate chain is checked against these revocation lists (under `verify
    /// required`).
    pub crl_file: Option<std::path::PathBuf>,
    /// `crt`: the client certificate shown to the server.
    pub crt: Option<std::path::PathBuf>,
    /// `sni EXPR`, evaluated per connection on the request; no server name is sent without it.
    pub sni: Option<SampleExpr>,
    /// `verifyhost`: the name the server certificate must carry; without it the SNI sent is checked, and with
    /// neither only the chain is.
    pub verifyhost: Option<String>,
    /// `alpn`
    pub alpn: Vec<String>,
    /// TLS sessions are resumed (no `no-ssl-reuse`).
    pub reuse: bool,
    /// `check-sni`
    pub check_sni: Option<String>,
    /// `check-alpn LIST`: the protocols health checks offer (else `alpn`'s)
    pub check_alpn: Option<Vec<String>>,
    /// Versions, ciphers, tickets: the line's over `ssl-default-server-*`.
    pub options: super::ssl::SslOptions,
}

/// `agent-check agent-port PORT [agent-addr IP] [agent-send STRING] [agent-inter TIME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCheck {
    /// `agent-addr` (the server's address by default)
    pub addr: Option<std::net::IpAddr>,
    /// `agent-port`
    pub port: u16,
    /// `agent-send`: written once connected
    pub send: Option<String>,
    /// `agent-inter` (2 s by default)
    pub inter: Duration,
}

/// The protocol a `bind ... proto NAME` (or `server ... proto NAME`) line forces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindProto {
    /// `proto h1`
    H1,
    /// `proto h2`
    H2,
}

/// A unix stream socket address (`bind` and `server` lines).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// `/PATH` or `unix@PATH`: a socket file.
    Path(std::path::PathBuf),
    /// `abns@NAME`: a name in Linux's abstract socket namespace (no file).
    Abstract(String),
}

impl UnixAddr {
    /// The socket's name without its prefix: the file's path, or the abstract name.
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        match self {
            UnixAddr::Path(p) => p.to_string_lossy(),
            UnixAddr::Abstract(n) => n.as_str().into(),
        }
    }
}

impl std::fmt::Display for UnixAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnixAddr::Path(p) => write!(f, "unix@{}", p.display()),
            UnixAddr::Abstract(n) => write!(f, "abns@{n}"),
        }
    }
}

/// `mode`, `uid` and `gid` of a `bind` line: the owner and permissions given to its unix socket files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnixPerms {
    /// `mode OCTAL`
    pub mode: Option<u32>,
    /// `uid N`
    pub uid: Option<u32>,
    /// `gid N`
    pub gid: Option<u32>,
}

/// A `bind` line's TCP socket options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BindTcp {
    /// `backlog N`: the listen queue of this line's sockets (before the proxy's `backlog`).
    pub backlog: Option<u32>,
    /// `defer-accept`: the kernel hands a connection over only once the client has sent data (TCP_DEFER_ACCEPT).
    pub defer_accept: bool,
    /// `tfo`: TCP Fast Open, with a queue of pending fast-open requests as long as the listen queue.
    pub tfo: bool,
    /// `tcp-ut T`: TCP_USER_TIMEOUT of the accepted connections.
    pub user_timeout: Option<std::time::Duration>,
}

/// One `bind` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Bind {
    /// The addresses to listen on (a comma list and port ranges are expanded).
    pub addrs: Vec<SocketAddr>,
    /// Unix stream sockets to listen on (`/PATH`, `unix@PATH`, `abns@NAME`), after the TCP addresses.
    pub unix: Vec<UnixAddr>,
    /// `mode`, `uid`, `gid`: applied to the socket files of `unix`.
    pub unix_perms: UnixPerms,
    /// Listening sockets inherited from the parent process (`fd@N`), used as they are.
    pub fds: Vec<i32>,
    /// `v6only`
    pub v6only: bool,
    /// `v4v6`: an IPv6 wildcard listener also accepts IPv4 (dual stack).
    pub v4v6: bool,
    /// `name NAME`: the listener's name in stats.
    pub name: Option<String>,
    /// `ssl`, `crt`, `alpn` and the other TLS options.
    pub ssl: super::ssl::BindSsl,
    /// `accept-proxy`: every connection starts with a PROXY protocol header (v1 or v2), whose addresses replace
    /// the connection's own.
    pub accept_proxy: bool,
    /// `proto h2`: every connection speaks HTTP/2 (prior knowledge, no ALPN needed); `proto h1` forces HTTP/1.
    pub proto: Option<BindProto>,
    /// `proto none` (`mode tcp` only): the connections stay raw TCP, never upgraded to HTTP.
    pub proto_none: bool,
    /// `backlog`, `defer-accept`, `tfo`, `tcp-ut`.
    pub tcp: BindTcp,
    /// Where the line was.
    pub location: Location,
}

/// A frontend, a backend or a listen section, after `defaults` were applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Proxy {
    /// The section name.
    pub name: String,
    /// Which section declared it.
    pub kind: ProxyKind,
    /// Where the section header was.
    pub location: Location,
    /// `mode`
    pub mode: Mode,
    /// `bind` lines (frontends and listens only).
    pub binds: Vec<Bind>,
    /// `maxconn`: concurrent connections accepted by this frontend.
    pub maxconn: Option<u32>,
    /// `rate-limit sessions N` (N > 0): new sessions per second this frontend accepts.
    pub rate_limit_sessions: Option<u32>,
    /// `id N`: the proxy's id (stats `iid`, `fe_id`, `be_id`) when the configuration sets one.
    pub id: Option<u32>,
    /// The proxy's id: `id`, else the one HAProxy would give it (see `validate::number_proxies`).
    pub uid: u32,
    /// `disabled`: the proxy is parsed and checked, then not started (left out of [`Config::proxies`]).
    pub disabled: bool,
    /// `backlog N` (frontends and listens): the listen queue of its sockets.
    pub backlog: Option<u32>,
    /// `fullconn N` (backends and listens): accepted and kept; without `minconn` on servers it changes
    /// nothing.
    pub fullconn: Option<u32>,
    /// `timeout ...`
    pub timeouts: Timeouts,
    /// `option http-keep-alive | http-server-close | httpclose`
    pub http_conn_mode: HttpConnMode,
    /// `http-reuse` (backends; `safe` by default)
    pub http_reuse: HttpReuse,
    /// `option forwardfor`
    pub forwardfor: Option<ForwardFor>,
    /// `option originalto [except NET] [header NAME]`: the address the client connected to, in
    /// `X-Original-To` by default (the same settings as `option forwardfor`, without `if-none`).
    pub originalto: Option<ForwardFor>,
    /// `default_backend NAME` (frontends and listens); checked to exist.
    pub default_backend: Option<String>,
    /// `balance`
    pub balance: Balance,
    /// `persist rdp-cookie[(NAME)]`: a client whose RDP cookie NAME (`msts`) holds a server's address and port
    /// (Microsoft's routing token, `msts=IP.PORT.0000`) goes to that server while it is up.
    pub persist_rdp: Option<String>,
    /// `hash-type`
    pub hash_type: HashType,
    /// `hash-type`'s function and `avalanche`
    pub hash_options: HashOptions,
    /// `server` lines (backends and listens only).
    pub servers: Vec<Server>,
    /// The names of its servers other parts of the configuration point to (`use-server` rules, `srv_conn`,
    /// `srv_is_up`, `srv_queue`, `srv_sess_rate` fetches): the runtime API's `del server` refuses them.
    pub referenced_servers: Vec<String>,
    /// `option tcp-check` and its rules (then `httpchk` and `protocol_check` are `None`).
    pub tcp_check: Option<Vec<TcpCheckRule>>,
    /// `option httpchk`: the request of the first `send` (or of the check when no `send` rule is written);
    /// `None` means TCP connect checks.
    pub httpchk: Option<HttpCheck>,
    /// The `http-check` rules (`connect`, `send`, `expect`, `set-var`, `unset-var`, `comment`) in order.
    pub http_check: Vec<HttpCheckRule>,
    /// `http-check send-state`: HTTP checks carry an `x-haproxy-server-state` header.
    pub http_send_state: bool,
    /// `http-check disable-on-404`: an UP server whose HTTP check gets a 404 stops taking new traffic (NOLB)
    /// while it keeps its persistent clients, until a check passes again.
    pub http_disable_on_404: bool,
    /// `option smtpchk`, `redis-check`, `pgsql-check`, `mysql-check`, `ldap-check` or `spop-check`: checks in the
    /// server's protocol (then `httpchk` is `None`).
    pub protocol_check: Option<ProtocolCheck>,
    /// `option external-check` with `external-check command` / `path`: the health check runs a program.
    pub external_check: Option<ExternalCheck>,
    /// `retries N` (3 by default)
    pub retries: u32,
    /// `option redispatch`
    pub redispatch: bool,
    /// `option persist`: a request whose persistence cookie names a down server is still sent there
    pub persist: bool,
    /// `http-send-name-header NAME` (backends): the request sent to a server carries the server's name in this
    /// header (any value the client sent is removed).
    pub send_name_header: Option<String>,
    /// `description TEXT...` (frontends, listens, backends).
    pub description: Option<String>,
    /// `cookie NAME ...` (backends and listens in `mode http`): server persistence through a cookie
    pub cookie: Option<super::cookie::CookiePersist>,
    /// `option allbackups`
    pub allbackups: bool,
    /// `option httplog` (or `option httpslog`)
    pub httplog: bool,
    /// `option httpslog`: the httplog line followed by the TLS fields
    pub httpslog: bool,
    /// `option tcplog`
    pub tcplog: bool,
    /// `option dontlognull`
    pub dontlognull: bool,
    /// `log-tag TAG`: the syslog tag of this proxy's log lines (over the global one).
    pub log_tag: Option<String>,
    /// `option dontlog-normal`: only requests (connections in `mode tcp`) that went wrong are logged.
    pub dontlog_normal: bool,
    /// `option logasap`: the access line is sent once the response head is out (`mode tcp`: once the server
    /// connection is up), with `+` before the totals it cannot know yet.
    pub logasap: bool,
    /// `option log-health-checks`: every change of a server's check status is logged (backends).
    pub log_health_checks: bool,
    /// `load-server-state-from-file`: where the servers' states carried over a restart come from (backends).
    pub load_server_state: LoadServerState,
    /// `server-state-file-name NAME`: the local state file's name (`None`: the backend's name, as with
    /// `use-backend-name` or no argument).
    pub server_state_file_name: Option<String>,
    /// `option http-buffer-request`: the request body is waited for (until it is complete or fills the buffer)
    /// before the proxy's rules run.
    pub http_buffer_request: bool,
    /// `option accept-invalid-http-request` (frontends): header names may hold any visible byte but `:` (and bytes
    /// from 0x80), and request targets `#` and bytes from 0x80; see `fulcrum_http::request_in::parse_with`.
    pub accept_invalid_request: bool,
    /// `option accept-invalid-http-response` (backends): header names of responses as above.
    pub accept_invalid_response: bool,
    /// `option abortonclose` (backends): a request whose client has closed is given up while it waits for a
    /// server connection (in the queue, connecting, or between retries).
    pub abortonclose: bool,
    /// `option clitcpka` / `tcpka` (frontends): SO_KEEPALIVE on accepted client connections.
    pub clitcpka: bool,
    /// `option srvtcpka` / `tcpka` (backends): SO_KEEPALIVE on connections to servers.
    pub srvtcpka: bool,
    /// `option tcp-smart-accept` (frontends; on by default in `mode http`, as in HAProxy): the listening sockets
    /// delay the ACK of a client's data so that it leaves with the answer (TCP_QUICKACK off).
    pub tcp_smart_accept: bool,
    /// `option tcp-smart-connect` (backends): a new server connection delays the last ACK of its handshake so
    /// that it leaves with the request (TCP_QUICKACK off before `connect`).
    pub tcp_smart_connect: bool,
    /// `option splice-response` / `splice-auto`: an HTTP/1 response body of known length that nothing reads on the
    /// way goes from the server's socket to the client's through a pipe (splice(2)) when neither side speaks TLS
    /// (and the global `nosplice` is not set); in a frontend or its backend, as in HAProxy.
    pub splice_response: bool,
    /// `option splice-request` / `splice-auto`: an HTTP/1 request body of known length goes from the client's
    /// socket to the server's through a pipe once none of it waits in the proxy (no `http-buffer-request` or
    /// `wait-for-body` read it whole), when neither side speaks TLS; in a frontend or its backend.
    pub splice_request: bool,
    /// `option nolinger`: connections of this proxy's side(s) end with a reset instead of lingering to deliver
    /// what is unsent (SO_LINGER 0): client connections in a frontend, server connections in a backend.
    pub nolinger: bool,
    /// `log global` was given (or `log` lines of its own, kept in `logs`).
    pub log_global: bool,
    /// `log` lines of this proxy.
    pub logs: Vec<LogTarget>,
    /// ACLs, `use_backend`, `http-request`, `http-response`, `tcp-request connection`, `errorfile`.
    pub rules: Rules,
    /// `retry-on ...` (HAProxy's default: `conn-failure`)
    pub retry_on: RetryOn,
    /// `log-format STRING` (inherited from defaults); compiled and checked by the proxy when the configuration is
    /// applied or checked with `-c`.
    pub log_format: Option<LogFormatLine>,
    /// `stats enable|uri|realm|auth|refresh|hide-version|admin ...`: the stats page this proxy serves.
    pub stats: Option<StatsPage>,
    /// `monitor-uri PATH`: answered with 200 by the proxy itself, never forwarded.
    pub monitor_uri: Option<String>,
    /// `unique-id-format FMT` (frontends): each request's unique ID, sent in `unique-id-header` and in the
    /// PROXY v2 `UNIQUE_ID` TLV of `proxy-v2-options unique-id`.
    pub unique_id_format: Option<Fmt>,
    /// `unique-id-header NAME` (frontends): the request header carrying the unique ID to the server.
    pub unique_id_header: Option<String>,
    /// `capture request header NAME len N` lines (frontends), in order: `%hr` in the logs.
    pub capture_request: Vec<Capture>,
    /// `capture response header NAME len N` lines (frontends), in order: `%hs` in the logs.
    pub capture_response: Vec<Capture>,
    /// `capture cookie NAME len N` (frontends): the first request cookie and the first `Set-Cookie` whose name starts
    /// with NAME, as `%CC` and `%CS` in the logs.
    pub capture_cookie: Option<Capture>,
    /// Every capture slot of the frontend, request side (`capture.req.hdr(N)`).
    pub request_slots: Vec<CaptureSlot>,
    /// Every capture slot of the frontend, response side (`capture.res.hdr(N)`).
    pub response_slots: Vec<CaptureSlot>,
    /// `stick-table ...`: the proxy's table.
    pub stick_table: Option<StickTable>,
    /// `compression ...` lines (own or inherited); `None`: the proxy compresses nothing.
    pub compression: Option<super::compression::Compression>,
}

/// One capture slot of a frontend: the `N` of `capture.req.hdr(N)`, `capture.res.hdr(N)` and `capture ... id N`.
/// Slots are numbered per direction in the order `capture request|response header`, `declare capture
/// request|response len N` and `http-request capture ... len N` lines declare them (those of a named defaults
/// section first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureSlot {
    /// The most bytes kept.
    pub len: usize,
    /// The header a `capture ... header` line fills it with (`None`: filled by `capture` rules).
    pub header: Option<String>,
}

/// One `capture request|response header NAME len N` line: the last value of that header, cut to `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The header name, as written.
    pub name: String,
    /// The most bytes kept.
    pub len: usize,
}

/// The stats page of a proxy (`stats ...` lines; any of them enables the page, as in HAProxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsPage {
    /// `stats uri PREFIX` (`/haproxy?stats` by default): requests whose URI starts with it get the page.
    pub uri: String,
    /// `stats realm REALM` (`HAProxy Statistics` by default) for the Basic authentication challenge.
    pub realm: Option<String>,
    /// `stats auth USER:PASSWORD` lines; none: no authentication.
    pub auth: Vec<(String, String)>,
    /// `stats refresh TIME`: the page reloads itself.
    pub refresh: Option<Duration>,
    /// `stats hide-version`
    pub hide_version: bool,
    /// `stats show-node [NAME]`: the node name shown in the heading (the host name when no name is given).
    pub show_node: Option<String>,
    /// `stats show-legends`: server addresses and balance algorithms are shown (hidden otherwise, as HAProxy).
    pub show_legends: bool,
    /// `stats scope NAME` lines: the page shows only these proxies (`.`: the one serving the page); all when
    /// there is none.
    pub scope: Vec<String>,
    /// Where the first `stats` line was.
    pub location: Location,
}

impl StatsPage {
    /// The page with HAProxy's defaults, enabled at `location`.
    pub fn new(location: Location) -> Self {
        StatsPage {
            uri: "/haproxy?stats".to_string(),
            realm: None,
            auth: Vec::new(),
            refresh: None,
            hide_version: false,
            show_node: None,
            show_legends: false,
            scope: Vec::new(),
            location,
        }
    }
}

/// A service that `http-request use-service` hands a request to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `prometheus-exporter`: the metrics in Prometheus text exposition.
    PrometheusExporter,
}

/// `retry-on`: which failures of an attempt are retried (up to `retries`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOn {
    /// `conn-failure`: the connection to the server could not be made.
    pub conn_failure: bool,
    /// `empty-response`: the server closed without answering.
    pub empty_response: bool,
    /// `junk-response`: the server answered something that is not HTTP.
    pub junk_response: bool,
    /// `response-timeout`: `timeout server` expired before the response head.
    pub response_timeout: bool,
    /// Status codes (404, 408, 425, 500, 501, 502, 503, 504) whose responses are retried.
    pub statuses: Vec<u16>,
}

impl Default for RetryOn {
    fn default() -> Self {
        RetryOn {
            conn_failure: true,
            empty_response: false,
            junk_response: false,
            response_timeout: false,
            statuses: Vec::new(),
        }
    }
}

impl RetryOn {
    /// Whether anything beyond connection failures is retried: the request must then be kept to be sent again.
    pub fn replays(&self) -> bool {
        self.empty_response
            || self.junk_response
            || self.response_timeout
            || !self.statuses.is_empty()
    }
}

/// A `log-format` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormatLine {
    /// The format string (one word: quoted, or with its spaces escaped, as HAProxy requires).
    pub format: String,
    /// Where the line was.
    pub location: Location,
}

/// What an ACL looks at in a request or connection (the part of `acl NAME FETCH ...` before the flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sample {
    /// `path` (and the `path_beg`, `path_end`, `path_sub`, `path_reg` shorthands): the path, without the query.
    Path,
    /// `url_param(NAME)` / `urlp(NAME)`: the value of a query-string parameter.
    UrlParam(String),
    /// `hdr(NAME)` (and `hdr_beg`, `hdr_end`, `hdr_sub`, `hdr_reg`): every value of a header, comma-separated
    /// values counted one by one as HAProxy does.
    Hdr(String),
    /// `src`: the client's address.
    Src,
    /// The predefined ACL `WAIT_END`: true once the rules run for the last time (the inspect delay expired, the
    /// peer closed or the buffer is full; always in HTTP rules), undecided before.
    WaitEnd,
    /// `dst_port`: the port the client connected to.
    DstPort,
    /// `method`: the request method.
    Method,
    /// `status`: the response status code (`http-response` conditions only).
    Status,
    /// `req.len` / `req_len`: how many bytes of the request are buffered (`tcp-request content` in `mode tcp`).
    ReqLen,
    /// `req.payload(OFFSET,LENGTH)` / `payload(...)`: `LENGTH` bytes of the buffered request from `OFFSET`
    /// (`LENGTH` 0: to the end), as a binary sample.
    ReqPayload {
        /// where the bytes start
        offset: u32,
        /// how many (0: every byte after `offset`)
        length: u32,
    },
    /// `ssl_fc`, `ssl_fc_sni`, `ssl_c_verify` and the other TLS fetches of the client connection.
    Ssl(fulcrum_sample::SslFetch),
    /// `req.ssl_sni`, `req.ssl_hello_type`, `req.ssl_alpn`: the TLS ClientHello in the buffered request bytes,
    /// read without terminating TLS (`mode tcp`).
    ReqSsl(ReqSsl),
    /// `capture.req.uri`: the request target as the client sent it (before any rewrite; an absolute one without
    /// its scheme and authority), also known to response rules.
    CaptureReqUri,
    /// `http_auth(USERLIST)`: whether the request's Basic credentials are those of a user of the userlist (a
    /// boolean ACL: its patterns are not used).
    HttpAuth(String),
    /// `http_auth_group(USERLIST)`: the patterns are group names; matches when the request's Basic credentials
    /// are those of a user of the userlist that belongs to one of them.
    HttpAuthGroup(String),
    /// Any other fetch, or any fetch followed by converters (`req.hdr(x),lower`, `var(txn.x)`): a sample
    /// expression compiled by fulcrum-sample and evaluated over the request, the response or the connection.
    Expr(SampleExpr),
}

/// What a `req.ssl_*` fetch reads from a ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqSsl {
    /// `req.ssl_sni` / `req_ssl_sni`: the server name.
    Sni,
    /// `req.ssl_hello_type` / `req_ssl_hello_type`: 1 once a complete ClientHello is there.
    HelloType,
    /// `req.ssl_alpn`: each protocol the client offers by ALPN.
    Alpn,
}

impl Sample {
    /// Whether the sample looks at the buffered request bytes (`req.len`, `req.payload`), which only
    /// `tcp-request content` rules (and `use_backend` in `mode tcp`) can test.
    pub fn is_content(&self) -> bool {
        match self {
            Sample::Expr(e) => e.0.needs().content || e.0.needs().response_content,
            s => matches!(
                s,
                Sample::ReqLen | Sample::ReqPayload { .. } | Sample::ReqSsl(_)
            ),
        }
    }
}

/// How an ACL's sample is compared with its patterns (`-m METHOD`, or implied by the fetch name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMethod {
    /// equal
    Str,
    /// starts with
    Beg,
    /// ends with
    End,
    /// contains
    Sub,
    /// matches a regular expression (patterns validated as regexes by the parser)
    Reg,
    /// the sample exists (no pattern)
    Found,
    /// the address lies in one of the networks (`src`); patterns are `ADDR[/BITS]`
    Ip,
    /// an integer equal to, or within `LOW:HIGH` (`dst_port`)
    Int,
    /// the bytes equal a pattern written in hexadecimal (`-m bin`, the default of `req.payload`); patterns are
    /// kept as the hex digits written
    Bin,
    /// the sample is true (`-m bool`, the default of boolean fetches such as `ssl_fc`); no pattern
    Bool,
    /// a `/`-delimited part of the text equals a pattern (`-m dir`, `path_dir`)
    Dir,
    /// a `.`- or `/`-delimited part of the text equals a pattern (`-m dom`, `hdr_dom`)
    Dom,
    /// the text's length is one of the integers or ranges (`-m len`, `path_len`)
    Len,
}

/// One `acl` line (or an anonymous `{ ... }` ACL), after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    /// The ACL's name (empty for an anonymous ACL).
    pub name: String,
    /// What it looks at.
    pub sample: Sample,
    /// How it compares.
    pub method: MatchMethod,
    /// `-i`: case-insensitive comparison.
    pub ignore_case: bool,
    /// The patterns, from the line and from `-f FILE` (one per line, `#` comments and blank lines skipped).
    pub patterns: Vec<String>,
    /// Where it was declared.
    pub location: Location,
    /// Where the patterns came from: the first ones from these `-f` files, in this order; the others from the
    /// line. A file is a pattern reference the runtime API changes by its name (`add acl FILE PATTERN`).
    pub files: Vec<PatternFile>,
    /// The fetch as written, without its arguments (`req.hdr`), as HAProxy describes the ACL in `show acl`.
    pub fetch: String,
    /// The expression's number, in the order the configuration declares them (`None` for the predefined ACLs):
    /// the runtime API numbers pattern references (`#ID`) in that order, as HAProxy does.
    pub expr_id: Option<u32>,
}

/// The patterns an ACL read from one `-f FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternFile {
    /// The file name as written, which names the pattern reference.
    pub path: String,
    /// How many patterns it gave (they come first in [`Acl::patterns`], in file order).
    pub count: usize,
}

/// One term of a condition: an ACL reference, possibly negated with `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondTerm {
    /// `!NAME`
    pub negate: bool,
    /// The name as written (`{...}` for an anonymous ACL), for messages.
    pub name: String,
    /// The declarations the term stands for: a named ACL declared on several lines matches when any of them
    /// does; an anonymous ACL has exactly one.
    pub acls: Vec<Acl>,
}

/// `if COND` / `unless COND`: terms joined by implicit AND, groups joined by `||` or `or`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `unless`: the condition is inverted.
    pub unless: bool,
    /// OR of AND-groups.
    pub any_of: Vec<Vec<CondTerm>>,
}

/// `use_backend NAME [if|unless COND]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseBackend {
    /// The backend (checked to exist), or the text of a dynamic name.
    pub backend: String,
    /// A name with `%[...]` in it: rendered per stream, and when no backend has that name the frontend's
    /// default backend is used (HAProxy's `use_backend %[...]`).
    pub dynamic: Option<Fmt>,
    /// When it applies; always when `None`.
    pub cond: Option<Condition>,
    /// Where the line was.
    pub location: Location,
}

/// A log-format string (`%[expr]`, `%ci`, `%%`), parsed and compiled once when the configuration is loaded.
///
/// Two formats are equal when both are constant and say the same text, or when they were written the same way.
#[derive(Debug, Clone)]
pub struct Fmt {
    format: std::sync::Arc<fulcrum_sample::LogFormat>,
    /// The text, when the format holds no expression and no variable.
    literal: Option<String>,
}

impl Fmt {
    /// Parses and compiles a log-format string.
    pub fn parse(s: &str) -> Result<Fmt, fulcrum_sample::Error> {
        Fmt::parse_with(s, &mut fulcrum_sample::NoMaps)
    }

    /// As [`Fmt::parse`], with the files of `map*` converters taken from `maps`.
    pub fn parse_with(
        s: &str,
        maps: &mut dyn fulcrum_sample::MapSource,
    ) -> Result<Fmt, fulcrum_sample::Error> {
        let format = fulcrum_sample::LogFormat::parse_with(s, maps)?;
        let literal = format.is_constant().then(|| {
            format
                .segments()
                .iter()
                .map(|seg| match seg {
                    fulcrum_sample::Segment::Literal(l) => l.as_str(),
                    _ => "",
                })
                .collect()
        });
        Ok(Fmt {
            format: std::sync::Arc::new(format),
            literal,
        })
    }

    /// A constant format saying `text` (a `%` in it is a literal `%`).
    pub fn literal(text: &str) -> Fmt {
        Fmt::parse(&text.replace('%', "%%")).unwrap_or_else(|_| Fmt {
            format: std::sync::Arc::new(
                fulcrum_sample::LogFormat::parse("").expect("empty format"),
            ),
            literal: Some(text.to_string()),
        })
    }

    /// The compiled format.
    pub fn format(&self) -> &fulcrum_sample::LogFormat {
        &self.format
    }

    /// The text of a constant format (no expression, no variable).
    pub fn as_literal(&self) -> Option<&str> {
        self.literal.as_deref()
    }

    /// The format as written.
    pub fn source(&self) -> &str {
        self.format.source()
    }
}

impl PartialEq for Fmt {
    fn eq(&self, other: &Fmt) -> bool {
        match (&self.literal, &other.literal) {
            (Some(a), Some(b)) => a == b,
            _ => self.source() == other.source(),
        }
    }
}

impl Eq for Fmt {}

impl PartialEq<str> for Fmt {
    fn eq(&self, other: &str) -> bool {
        self.literal.as_deref() == Some(other)
    }
}

impl From<&str> for Fmt {
    fn from(text: &str) -> Fmt {
        Fmt::literal(text)
    }
}

impl std::fmt::Display for Fmt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.source())
    }
}

/// A sample expression (`set-var(txn.x) EXPR`), compiled once when the configuration is loaded; two are equal
/// when written the same way.
#[derive(Debug, Clone)]
pub struct SampleExpr(pub std::sync::Arc<fulcrum_sample::Expr>);

impl PartialEq for SampleExpr {
    fn eq(&self, other: &SampleExpr) -> bool {
        self.0.source() == other.0.source()
    }
}

impl Eq for SampleExpr {}

pub use fulcrum_sample::{Scope as VarScope, VarConds, VarName};

/// The log variables a log-format string in a rule may use (`%ci` ...): client and frontend addresses and
/// ports, frontend and backend names, the process id, the date, and the request's method, URI, path and query.
pub const RULE_LOG_VARS: &[&str] = &[
    "ci", "cp", "fi", "fp", "f", "ft", "b", "pid", "Ts", "HM", "HU", "HP", "HQ",
];

/// What `redirect` / `http-request redirect` sends the client to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectTarget {
    /// `location URL`: exactly this URL (a log-format string).
    Location(Fmt),
    /// `prefix PFX`: PFX followed by the original path and query.
    Prefix(Fmt),
    /// `scheme SCH`: the same host and path with another scheme.
    Scheme(Fmt),
}

/// `http-request redirect location|prefix|scheme TARGET [code N] [drop-query] [append-slash]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// Where to.
    pub target: RedirectTarget,
    /// 301, 302 (default), 303, 307 or 308.
    pub code: u16,
    /// `drop-query` (prefix only): the query string is not kept.
    pub drop_query: bool,
    /// `append-slash` (prefix only): a `/` is added when the path does not end with one.
    pub append_slash: bool,
    /// `ignore-empty`: when the target renders empty, the rule does nothing and the next one runs.
    pub ignore_empty: bool,
}

/// The body of `http-request return`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnBody {
    /// No body.
    Empty,
    /// `string TEXT`
    Text(String),
    /// `lf-string TEXT` or `lf-file PATH`: a log-format string rendered per request.
    Format(Fmt),
    /// `file PATH`: the file's contents, read while loading the configuration.
    File(Vec<u8>),
}

/// A response the proxy makes up itself (what HAProxy calls an HTTP reply): `errorfile`, `http-error`, and the
/// options of `return` and `deny`. Its status is kept beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `default-errorfiles`: the proxy's error for the status (the backend's, else the frontend's errorfiles, else
    /// the built-in page).
    ProxyError,
    /// `errorfile FILE`: a complete HTTP response, sent as it is. An empty file means the connection is closed
    /// without an answer.
    Errorfile(Vec<u8>),
    /// `errorfiles NAME`: that `http-errors` section's page for the status, else the proxy's error. Loading the
    /// configuration resolves it to [`Reply::Errorfile`] or [`Reply::ProxyError`]: a loaded `Config` never holds it.
    Errorfiles(String),
    /// A response built from parts (`content-type`, `string`/`file`/`lf-string`/`lf-file`, `hdr`).
    Built {
        /// `content-type` (none for an empty body)
        content_type: Option<String>,
        /// `hdr NAME VALUE` lines, in order (values are log-format strings)
        headers: Vec<(String, Fmt)>,
        /// the body
        body: ReturnBody,
    },
}

/// The timeout `http-request set-timeout` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamTimeout {
    /// `server`
    Server,
    /// `tunnel`
    Tunnel,
}

/// The value of `http-request set-timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeoutValue {
    /// A time written in the configuration.
    Fixed(std::time::Duration),
    /// A sample expression giving milliseconds.
    Expr(SampleExpr),
}

/// A normaliser of `http-request normalize-uri` (what each does: `fulcrum_http::normalize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriNormalizer {
    /// `path-merge-slashes`
    PathMergeSlashes,
    /// `path-strip-dot`
    PathStripDot,
    /// `path-strip-dotdot [full]`
    PathStripDotdot {
        /// `full`
        full: bool,
    },
    /// `percent-decode-unreserved [strict]`
    PercentDecodeUnreserved {
        /// `strict`
        strict: bool,
    },
    /// `percent-to-uppercase [strict]`
    PercentToUppercase {
        /// `strict`
        strict: bool,
    },
    /// `query-sort-by-name`
    QuerySortByName,
    /// `fragment-strip`
    FragmentStrip,
    /// `fragment-encode`
    FragmentEncode,
}

/// An `http-request` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpRequestAction {
    /// `set-header NAME VALUE`: replaces every occurrence.
    SetHeader(String, Fmt),
    /// `add-header NAME VALUE`: adds one more line.
    AddHeader(String, Fmt),
    /// `early-hint NAME VALUE`: a header of the `103 Early Hints` response sent to the client at once
    /// (consecutive rules make one response).
    EarlyHint(String, Fmt),
    /// `del-header NAME`
    DelHeader(String),
    /// `del-header NAME -m beg|end|sub|reg`: every header whose (lower-case) name matches.
    DelHeaderMatch(String, MatchMethod),
    /// `replace-header NAME REGEX REPLACEMENT` (`\1`..`\9` refer to groups); applied to each value.
    ReplaceHeader(String, String, Fmt),
    /// `replace-value NAME REGEX REPLACEMENT`: as `replace-header`, on each comma-separated element of the values.
    ReplaceValue(String, String, Fmt),
    /// `set-path PATH`: the query string is kept.
    SetPath(Fmt),
    /// `set-query QUERY`: the path is kept; an empty value removes the query.
    SetQuery(Fmt),
    /// `set-uri URI`: the whole request target.
    SetUri(Fmt),
    /// `set-pathq PATHQ`: the path and the query string together (scheme and authority kept).
    SetPathQ(Fmt),
    /// `set-method METHOD`
    SetMethod(Fmt),
    /// `replace-path REGEX REPLACEMENT`: the path (without the query) rewritten when the regex matches it
    /// (`\1`..`\9` refer to groups).
    ReplacePath(String, Fmt),
    /// `replace-pathq REGEX REPLACEMENT`: as `replace-path`, on the path and query string together.
    ReplacePathQ(String, Fmt),
    /// `replace-uri REGEX REPLACEMENT`: as `replace-path`, on the whole request target as received.
    ReplaceUri(String, Fmt),
    /// `set-src EXPR`, `set-src-port EXPR`, `set-dst EXPR`, `set-dst-port EXPR`: the client's (source) or the
    /// connection's local (destination) address or port as the rest of the stream sees it.
    SetAddr(AddrPart, SampleExpr),
    /// `set-timeout server|tunnel TIME|EXPR`: this stream's server (or tunnel) timeout; an expression gives
    /// milliseconds, and one that gives none (or not a positive number) changes nothing.
    SetTimeout(StreamTimeout, TimeoutValue),
    /// `allow`: the remaining `http-request` rules of this proxy are skipped.
    Allow,
    /// `auth [realm REALM]`: answer 401 asking for credentials (`None`: the proxy's name as the realm).
    Auth(Option<String>),
    /// `set-var(scope.name[,COND...]) EXPR`
    SetVar(VarName, SampleExpr, VarConds),
    /// `set-var-fmt(scope.name[,COND...]) FMT`: the rendered string.
    SetVarFmt(VarName, Fmt, VarConds),
    /// `unset-var(scope.name)`
    UnsetVar(VarName),
    /// `redirect ...`
    Redirect(Redirect),
    /// `deny [deny_status N]` (403 by default): the proxy's error for the status.
    Deny(u16),
    /// `deny [status N] REPLY-OPTIONS`: a deny answered with its own reply.
    DenyWith(u16, Reply),
    /// `return [status N] REPLY-OPTIONS` (200 by default)
    Return(u16, Reply),
    /// `tarpit [deny_status N]`: hold the request for `timeout tarpit` then answer the status (500 by default).
    Tarpit(u16),
    /// `reject` (false): close the connection at once, without an answer; `silent-drop` (true): close it
    /// without telling the client either (no FIN, no RST).
    Reject(bool),
    /// `use-service NAME`: the request is answered by a built-in service.
    UseService(Service),
    /// `wait-for-body time T [at-least N]`: wait up to T for the request body, until it is complete, N bytes of it
    /// have arrived (0: no such limit) or it fills the buffer.
    WaitForBody(WaitForBody),
    /// `strict-mode on|off`: whether a rewrite that fails (the buffer is full) answers 500, for the rules after
    /// it in this proxy's ruleset (on at the start of each).
    StrictMode(bool),
    /// `set-log-level LEVEL|silent`: the syslog level (0 emerg .. 7 debug) the request's log line is sent at,
    /// `None` for `silent` (no line).
    SetLogLevel(Option<u8>),
    /// `normalize-uri NORMALIZER [full|strict]` (experimental in HAProxy 2.6).
    NormalizeUri(UriNormalizer),
    /// `capture EXPR len N|id N`: the sample, cut to the slot's length, stored in capture slot N (request side).
    Capture(SampleExpr, usize),
    /// `track-sc*`, `sc-inc-gpc0/1`, `sc-set-gpt0`: stick counters.
    Stick(StickAction),
}

/// Which address a `set-src`, `set-src-port`, `set-dst` or `set-dst-port` action changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrPart {
    /// `set-src`: the client's address (its port is kept).
    Src,
    /// `set-src-port`
    SrcPort,
    /// `set-dst`: the address the client connected to (its port is kept).
    Dst,
    /// `set-dst-port`
    DstPort,
}

/// `http-request|http-response wait-for-body time T [at-least N]`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitForBody {
    /// The longest wait.
    pub time: Duration,
    /// Stop waiting once this many body bytes have arrived (0: only a complete body or a full buffer ends the
    /// wait).
    pub at_least: u64,
}

/// An `http-response` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpResponseAction {
    /// `set-header NAME VALUE`
    SetHeader(String, Fmt),
    /// `add-header NAME VALUE`
    AddHeader(String, Fmt),
    /// `set-var(scope.name[,COND...]) EXPR`
    SetVar(VarName, SampleExpr, VarConds),
    /// `set-var-fmt(scope.name[,COND...]) FMT`
    SetVarFmt(VarName, Fmt, VarConds),
    /// `unset-var(scope.name)`
    UnsetVar(VarName),
    /// `del-header NAME`
    DelHeader(String),
    /// `del-header NAME -m beg|end|sub|reg`
    DelHeaderMatch(String, MatchMethod),
    /// `deny [deny_status N]`: the response is replaced by an error (502 by default, as HAProxy).
    Deny(u16),
    /// `wait-for-body time T [at-least N]`: wait up to T for the response body (see
    /// [`HttpRequestAction::WaitForBody`]).
    WaitForBody(WaitForBody),
    /// `strict-mode on|off` (see [`HttpRequestAction::StrictMode`]).
    StrictMode(bool),
    /// `set-log-level LEVEL|silent` (see [`HttpRequestAction::SetLogLevel`]).
    SetLogLevel(Option<u8>),
    /// `return [status N] [content-type T] [errorfile F|string S|lf-string S|file F|lf-file F] [hdr N V]...`:
    /// the server's response is replaced by this one (status 200 by default).
    Return(u16, Reply),
    /// `capture EXPR id N`: the sample, cut to the slot's length, stored in response capture slot N.
    Capture(SampleExpr, usize),
    /// `replace-header NAME REGEX REPLACEMENT`: each whole value of the header the regex matches is rewritten
    /// (`\1`..`\9` stand for its groups).
    ReplaceHeader(String, String, Fmt),
    /// `replace-value NAME REGEX REPLACEMENT`: as `replace-header`, for each comma-separated value.
    ReplaceValue(String, String, Fmt),
    /// `set-status CODE [reason TEXT]`: the response's status (100 to 999) and its reason phrase (else the
    /// standard one for CODE).
    SetStatus(u16, Option<String>),
    /// `allow`: the rules after it in this proxy's ruleset are skipped.
    Allow,
    /// `redirect location FMT [code C] [drop-query] [append-slash] [ignore-empty]` (`http-response` only): the
    /// server's response is replaced by a redirect.
    Redirect(Redirect),
}

/// A rule: an action and the condition under which it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule<A> {
    /// What to do.
    pub action: A,
    /// When; always when `None`.
    pub cond: Option<Condition>,
    /// Where the line was.
    pub location: Location,
}

/// `tcp-request connection accept|reject [if|unless COND]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpConnAction {
    /// `track-sc*`, `sc-inc-gpc0/1`, `sc-set-gpt0` (evaluation goes on)
    Stick(StickAction),
    /// stop evaluating, keep the connection
    Accept,
    /// close the connection at once
    Reject,
    /// `expect-proxy layer4`: the connection must start with a PROXY protocol header (evaluation goes on)
    ExpectProxy,
}

/// `tcp-request session`, `tcp-request content` and `tcp-response content` actions: `accept|reject|set-var|
/// set-var-fmt|unset-var|track-sc*|sc-inc-gpc*|sc-set-gpt0 [if|unless COND]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpContentAction {
    /// stop evaluating, forward the connection (with every byte buffered so far)
    Accept,
    /// close the connection
    Reject,
    /// `silent-drop` (`tcp-request session` and `content`): close the connection without telling the client
    SilentDrop,
    /// `set-mark N` (`tcp-request session` and `content`): the client socket's netfilter mark (`SO_MARK`);
    /// evaluation goes on
    SetMark(u32),
    /// `set-tos N` (`tcp-request session` and `content`): the TOS (IPv4) or traffic class (IPv6) of what is sent
    /// to the client; evaluation goes on
    SetTos(u32),
    /// `set-var`, `set-var-fmt` or `unset-var` (only those variants of [`HttpRequestAction`]): the variable lives
    /// as long as the connection, in `mode tcp`; evaluation goes on with the next rule
    Var(HttpRequestAction),
    /// `set-log-level LEVEL|silent` (`tcp-request content`, `tcp-response content`): the level of the
    /// connection's (`mode tcp`) or the request's (`mode http`) log line; evaluation goes on
    SetLogLevel(Option<u8>),
    /// `switch-mode http [proto h1|h2]` (`tcp-request content`, frontends and listens): stop evaluating and
    /// serve the connection as HTTP from here on (`proto`: only that version; the client's other is refused)
    SwitchHttp(Option<BindProto>),
}

/// The rules and ACLs of a proxy (frontend, backend or listen), in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// Every `acl` line of the section (conditions already hold resolved copies).
    pub acls: Vec<Acl>,
    /// `use_backend` lines (frontends and listens).
    pub use_backends: Vec<UseBackend>,
    /// `http-request` lines (also `redirect` lines, as `http-request redirect`).
    pub http_request: Vec<Rule<HttpRequestAction>>,
    /// `http-response` lines.
    pub http_response: Vec<Rule<HttpResponseAction>>,
    /// `http-after-response` lines: run on every response sent to the client, the proxy's own included.
    pub http_after_response: Vec<Rule<HttpResponseAction>>,
    /// `tcp-request connection` lines (frontends and listens).
    pub tcp_connection: Vec<Rule<TcpConnAction>>,
    /// `tcp-request content` lines in file order. In `mode tcp` they run on the client's first bytes (a backend's
    /// when the connection enters it); in `mode http` on each request, before its `http-request` rules (a backend's
    /// when the request enters it).
    pub tcp_content: Vec<Rule<TcpContentAction>>,
    /// `tcp-request session` lines (frontends and listens): run once per client connection, after the
    /// `tcp-request connection` rules and before any content rule.
    pub tcp_session: Vec<Rule<TcpContentAction>>,
    /// `tcp-request inspect-delay`: how long `tcp-request content` rules may wait for the client's bytes.
    pub inspect_delay: Option<std::time::Duration>,
    /// `tcp-response content` lines (backends and listens): in `mode tcp` run on the server's first bytes, in
    /// `mode http` on each response head, before the `http-response` rules.
    pub tcp_response: Vec<Rule<TcpContentAction>>,
    /// `tcp-response inspect-delay`: how long `tcp-response content` rules may wait for the server's bytes.
    pub response_inspect_delay: Option<std::time::Duration>,
    /// The proxy's error replies by status, from `errorfile`, `errorfiles` and `http-error` (those of `defaults`
    /// first, a later line replacing an earlier one): [`Reply::Errorfile`] or [`Reply::Built`].
    pub errorfiles: Vec<(u16, Reply)>,
    /// `stats admin if|unless COND` lines: when one matches, the stats page allows admin actions.
    pub stats_admin: Vec<Rule<()>>,
    /// `stats http-request allow|deny|auth` lines: the first that matches decides who sees the stats page.
    pub stats_http_request: Vec<Rule<StatsHttpAction>>,
    /// `stick on|match|store-request` lines (backends and listens), in order.
    pub stick: Vec<Rule<StickRule>>,
    /// `force-persist if|unless COND` and `ignore-persist if|unless COND` (backends and listens), in order: the first
    /// whose condition holds decides.
    pub persist: Vec<Rule<PersistRule>>,
    /// `use-server NAME if|unless COND` lines (backends and listens), in order.
    pub use_servers: Vec<Rule<UseServer>>,
    /// `monitor fail if|unless COND` lines (frontends and listens): when one holds, `monitor-uri` answers 503.
    pub monitor_fail: Vec<Rule<()>>,
}

/// The server of a `use-server` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseServer {
    /// The server's name.
    pub name: String,
    /// Its position among the backend's servers (set once the servers are known).
    pub index: usize,
}

/// A `stick-table` line of a frontend, backend or listen section (the table takes the proxy's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickTable {
    /// Type, size, expiry and stored data.
    pub def: fulcrum_stick::TableDef,
    /// `srvkey addr`: `stick` rules store and match servers by address rather than by name.
    pub srvkey_addr: bool,
    /// `peers P`: the `peers` section that replicates the table.
    pub peers: Option<String>,
    /// Where the line was.
    pub location: Location,
}

/// What a `stats http-request` rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsHttpAction {
    /// `allow`: the page is served (no `stats auth` asked).
    Allow,
    /// `deny`: 403.
    Deny,
    /// `auth [realm R]`: 401, asking for credentials in that realm (the page's by default).
    Auth(Option<String>),
}

/// A persistence rule: `force-persist` (the server a cookie names is used even when it is down or in maintenance)
/// or `ignore-persist` (the cookie and the `stick match` rules are not used: the balancing decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistRule {
    /// `force-persist`
    Force,
    /// `ignore-persist`
    Ignore,
}

/// A `stick on|match|store-request EXPR [table T]` line: server persistence through a table's `server_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickRule {
    /// `match` or `on`: the server stored for the key is used when it can take the request.
    pub matches: bool,
    /// `store-request`, `store-response` or `on`: the server the request goes to is stored for the key.
    pub stores: bool,
    /// `store-response`: the key is evaluated (and the server stored) when the server's response arrives.
    pub response: bool,
    /// The key.
    pub key: SampleExpr,
    /// `table NAME` (the proxy's own by default).
    pub table: Option<String>,
}

/// An action on a stick counter: `track-sc0/1/2 KEY [table T]`, `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`,
/// `sc-set-gpt0(N) VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickAction {
    /// `track-scN KEY [table T]`: the stream tracks the entry of KEY in table T (the proxy's own by default) with
    /// stick counter N; the first tracking of a counter wins, later ones are ignored.
    Track {
        /// The stick counter (0 to 2).
        sc: u8,
        /// The key's expression.
        key: SampleExpr,
        /// `table NAME`: the proxy whose table it is.
        table: Option<String>,
    },
    /// `sc-inc-gpc0(N)` (`which` 0) / `sc-inc-gpc1(N)` (`which` 1).
    IncGpc {
        /// The stick counter.
        sc: u8,
        /// gpc0 or gpc1
        which: u8,
    },
    /// `sc-set-gpt0(N) VALUE`
    SetGpt0 {
        /// The stick counter.
        sc: u8,
        /// An integer or an expression.
        value: SampleExpr,
    },
    /// `sc-inc-gpc(IDX,SC)`: element IDX of the `gpc` and `gpc_rate` arrays.
    IncGpcAt {
        /// The element.
        idx: u8,
        /// The stick counter.
        sc: u8,
    },
    /// `sc-set-gpt(IDX,SC) VALUE`: element IDX of the `gpt` array.
    SetGptAt {
        /// The element.
        idx: u8,
        /// The stick counter.
        sc: u8,
        /// An integer or an expression.
        value: SampleExpr,
    },
}

/// `load-server-state-from-file`: which file a backend's server states are read from when the proxy starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LoadServerState {
    /// `none` (the default): the configuration alone decides.
    #[default]
    None,
    /// `global`: the file of `server-state-file` in `global`.
    Global,
    /// `local`: the backend's own file (`server-state-file-name`).
    Local,
}

/// A `resolvers NAME` section: the nameservers servers' names are asked at run time, and the timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolvers {
    /// The section's name (`server ... resolvers NAME`).
    pub name: String,
    /// `nameserver ID ADDR:PORT` lines, then those `parse-resolv-conf` read, in order.
    pub nameservers: Vec<Nameserver>,
    /// `resolve_retries N` (default 3): queries sent before a resolution times out.
    pub retries: u32,
    /// `timeout resolve T` (default 1 s): how soon a name is asked again after an error.
    pub timeout_resolve: Duration,
    /// `timeout retry T` (default 1 s): how soon an unanswered query is sent again.
    pub timeout_retry: Duration,
    /// `hold valid T` (default 10 s).
    pub hold_valid: Duration,
    /// `hold nx T` (default 30 s).
    pub hold_nx: Duration,
    /// `hold other T` (default 30 s).
    pub hold_other: Duration,
    /// `hold refused T` (default 30 s).
    pub hold_refused: Duration,
    /// `hold timeout T` (default 30 s).
    pub hold_timeout: Duration,
    /// `hold obsolete T` (default 0).
    pub hold_obsolete: Duration,
    /// `accepted_payload_size N` (default 512): the EDNS0 payload size announced.
    pub accepted_payload_size: u16,
    /// Where the section starts.
    pub location: Location,
}

/// One nameserver of a `resolvers` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nameserver {
    /// Its ID (the name `show resolvers` prints).
    pub id: String,
    /// Its UDP address.
    pub addr: SocketAddr,
    /// Where it was declared (`parse-resolv-conf`'s line for those read from /etc/resolv.conf).
    pub location: Location,
}

/// How a server's address is found at start (`init-addr`), in the order tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitAddr {
    /// `last`: the address the server-state file carried over.
    Last,
    /// `libc`: the system resolver, while the configuration is loaded.
    Libc,
    /// `none`: start without an address, in maintenance until one is found.
    None,
    /// A fixed address.
    Ip(std::net::IpAddr),
}

/// A server whose address follows DNS at run time (`resolvers`), or is set later (`init-addr none`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerResolve {
    /// `resolvers NAME` (none: the address only changes through the runtime API).
    pub resolvers: Option<String>,
    /// The name asked: the server line's host name (a `_service._proto.name` is an SRV name).
    pub fqdn: Option<String>,
    /// `resolve-prefer ipv6` (the default) or `ipv4`.
    pub prefer_v6: bool,
    /// `resolve-net`: preferred networks.
    pub nets: Vec<(std::net::IpAddr, u8)>,
    /// `resolve-opts allow-dup-ip`.
    pub allow_dup_ip: bool,
    /// `resolve-opts ignore-weight`: SRV weights leave the server's weight alone.
    pub ignore_weight: bool,
    /// `init-addr` methods (default `last,libc`).
    pub init_addr: Vec<InitAddr>,
    /// No address was found at start: the server starts in resolution maintenance with address 0.0.0.0.
    pub unresolved: bool,
    /// The server is slot N (1-based) of a `server-template` with this many slots.
    pub template: Option<(u32, u32)>,
    /// No method gave an address when the configuration was read, but `last` comes before `none`: the
    /// server-state file may still give one when the proxy starts. What happens if it does not.
    pub last_fallback: Option<InitAddrFallback>,
}

/// What becomes of a server none of whose `init-addr` methods gave an address (HAProxy's verdicts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitAddrFallback {
    /// `none` comes next: the server starts without an address, warned about when `libc` failed (the text).
    Unresolved(Option<String>),
    /// No `none`: the configuration cannot start, with this message.
    Fatal(String),
}

impl ServerResolve {
    /// Whether the name is an SRV name (`_service._proto.domain`).
    pub fn is_srv(&self) -> bool {
        self.fqdn.as_deref().is_some_and(|n| n.starts_with('_'))
    }
}
