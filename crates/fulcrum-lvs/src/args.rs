//! The ipvsadm command line: options (short, bundled, long, `--opt=value`), the command/option
//! compatibility matrix, defaults, and the error messages and exit codes ipvsadm uses.

use crate::addr::{parse_host_port, Names};
use crate::model::{
    DestSpec, Forward, Netmask, Protocol, ServiceFlags, ServiceKey, ServiceSpec, Timeouts, TunCsum,
    TunType, Tunnel, DEFAULT_PERSISTENCE, DEFAULT_SCHEDULER, MAX_TIMEOUT,
};
use crate::sync::{Role, SyncSpec};
use std::net::{IpAddr, Ipv4Addr};

/// A command-line error: the message ipvsadm prints on stderr and its exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    /// A usage error ipvsadm reports with `fail(2, ...)`: exit code 2.
    #[error("{0}")]
    Usage(String),
    /// An option-parser error (`OPTION: unknown option`, `OPTION: missing argument`): exit code 255.
    #[error("{option}: {reason}")]
    Parser {
        /// The option as written.
        option: String,
        /// What was wrong.
        reason: &'static str,
    },
}

impl ArgError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            ArgError::Usage(_) => 2,
            ArgError::Parser { .. } => 255,
        }
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, ArgError> {
    Err(ArgError::Usage(msg.into()))
}

/// ipvsadm's commands, in the order of its compatibility matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmd {
    /// `-A`.
    Add,
    /// `-E`.
    Edit,
    /// `-D`.
    Delete,
    /// `-C`.
    Flush,
    /// `-L` / `-l` (and no command at all).
    List,
    /// `-a`.
    AddDest,
    /// `-d`.
    DelDest,
    /// `-e`.
    EditDest,
    /// `--set`.
    Timeout,
    /// `--start-daemon`.
    StartDaemon,
    /// `--stop-daemon`.
    StopDaemon,
    /// `-R`.
    Restore,
    /// `-S`.
    Save,
    /// `-Z`.
    Zero,
}

impl Cmd {
    const ALL: [Cmd; 14] = [
        Cmd::Add,
        Cmd::Edit,
        Cmd::Delete,
        Cmd::Flush,
        Cmd::List,
        Cmd::AddDest,
        Cmd::DelDest,
        Cmd::EditDest,
        Cmd::Timeout,
        Cmd::StartDaemon,
        Cmd::StopDaemon,
        Cmd::Restore,
        Cmd::Save,
        Cmd::Zero,
    ];

    /// The command's name in ipvsadm's messages.
    pub fn name(self) -> &'static str {
        match self {
            Cmd::Add => "add-service",
            Cmd::Edit => "edit-service",
            Cmd::Delete => "delete-service",
            Cmd::Flush => "flush",
            Cmd::List => "list",
            Cmd::AddDest => "add-server",
            Cmd::DelDest => "delete-server",
            Cmd::EditDest => "edit-server",
            Cmd::Timeout => "set",
            Cmd::StartDaemon => "start-daemon",
            Cmd::StopDaemon => "stop-daemon",
            Cmd::Restore => "restore",
            Cmd::Save => "save",
            Cmd::Zero => "zero",
        }
    }

    fn index(self) -> usize {
        Cmd::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// Options, in the order of ipvsadm's compatibility matrix (bit i of an option set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opt {
    /// `-n`.
    Numeric,
    /// `-c`.
    Connection,
    /// `-t`, `-u`, `-f`, `--sctp-service`.
    Service,
    /// `-s`.
    Scheduler,
    /// `-p`.
    Persistent,
    /// `-M`.
    Netmask,
    /// `-r`.
    Server,
    /// `-g`, `-m`, `-i`.
    Forward,
    /// `-w`.
    Weight,
    /// `-x`.
    UThreshold,
    /// `-y`.
    LThreshold,
    /// `--mcast-interface`.
    Mcast,
    /// `--timeout`.
    Timeout,
    /// `--daemon`.
    Daemon,
    /// `--stats`.
    Stats,
    /// `--rate`.
    Rate,
    /// `--thresholds`.
    Thresholds,
    /// `--persistent-conn`.
    PersistentConn,
    /// `--nosort`.
    NoSort,
    /// `--syncid`.
    SyncId,
    /// `--exact`.
    Exact,
    /// `-o`.
    OnePacket,
    /// `--pe`.
    Pe,
    /// `-b`.
    SchedFlags,
    /// `--mcast-group`.
    McastGroup,
    /// `--mcast-port`.
    McastPort,
    /// `--mcast-ttl`.
    McastTtl,
    /// `--sync-maxlen`.
    SyncMaxlen,
    /// `--tun-info`.
    TunInfo,
    /// `--tun-type`.
    TunType,
    /// `--tun-port`.
    TunPort,
    /// `--tun-nocsum`.
    TunNoCsum,
    /// `--tun-csum`.
    TunCsum,
    /// `--tun-remcsum`.
    TunRemCsum,
}

const OPT_NAMES: [&str; 34] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-info",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
];

impl Opt {
    const ALL: [Opt; 34] = [
        Opt::Numeric,
        Opt::Connection,
        Opt::Service,
        Opt::Scheduler,
        Opt::Persistent,
        Opt::Netmask,
        Opt::Server,
        Opt::Forward,
        Opt::Weight,
        Opt::UThreshold,
        Opt::LThreshold,
        Opt::Mcast,
        Opt::Timeout,
        Opt::Daemon,
        Opt::Stats,
        Opt::Rate,
        Opt::Thresholds,
        Opt::PersistentConn,
        Opt::NoSort,
        Opt::SyncId,
        Opt::Exact,
        Opt::OnePacket,
        Opt::Pe,
        Opt::SchedFlags,
        Opt::McastGroup,
        Opt::McastPort,
        Opt::McastTtl,
        Opt::SyncMaxlen,
        Opt::TunInfo,
        Opt::TunType,
        Opt::TunPort,
        Opt::TunNoCsum,
        Opt::TunCsum,
        Opt::TunRemCsum,
    ];

    /// The option's name in ipvsadm's messages.
    pub fn name(self) -> &'static str {
        OPT_NAMES[self as usize]
    }

    fn bit(self) -> u64 {
        1u64 << (self as u8)
    }
}

/// Which options each command requires (`+`), forbids (`x`), allows (` `), or allows at most one of (`1`).
/// Rows follow [`Cmd::ALL`], columns follow [`Opt::ALL`].
const MATRIX: [&[u8; 34]; 14] = [
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // add-service
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // edit-service
    b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // delete-service
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // flush
    b" 11xxxxxxxxx11       xxxxxxx xxxxx", // list
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // add-server
    b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx", // delete-server
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // edit-server
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // set
    b"xxxxxxxxxxx xxxxxxx xxxx    xxxxxx", // start-daemon
    b"xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx", // stop-daemon
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // restore
    b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // save
    b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // zero
];

/// How a listing is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListFormat {
    /// `-n`: numeric addresses and ports.
    pub numeric: bool,
    /// `--stats`.
    pub stats: bool,
    /// `--rate`.
    pub rate: bool,
    /// `--thresholds`.
    pub thresholds: bool,
    /// `--persistent-conn`.
    pub persistent_conn: bool,
    /// `--tun-info`.
    pub tun_info: bool,
    /// `--exact`.
    pub exact: bool,
    /// `--nosort`.
    pub nosort: bool,
}

/// What a `-L` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListWhat {
    /// The whole table (with the version header).
    All,
    /// One service.
    Service(ServiceKey),
    /// The connection table (`-c`).
    Connections,
    /// The timeouts (`--timeout`).
    Timeouts,
    /// The sync daemons (`--daemon`).
    Daemons,
}

/// A fully parsed and validated invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// `-h`: print the usage on stdout.
    Help,
    /// `-v`: print the version.
    Version,
    /// `-A`.
    AddService(ServiceSpec),
    /// `-E`.
    EditService(ServiceSpec),
    /// `-D`.
    DeleteService(ServiceKey),
    /// `-C`.
    Clear,
    /// `-a`.
    AddDest(ServiceKey, DestSpec),
    /// `-e`.
    EditDest(ServiceKey, DestSpec),
    /// `-d`.
    DeleteDest(ServiceKey, IpAddr, u16),
    /// `-L`.
    List(ListWhat, ListFormat),
    /// `-S`.
    Save {
        /// `-n`.
        numeric: bool,
    },
    /// `-R`.
    Restore,
    /// `-Z`.
    Zero(Option<ServiceKey>),
    /// `--set`.
    SetTimeouts(Timeouts),
    /// `--start-daemon` / `--stop-daemon` (the interface is empty when `--mcast-interface` was not given).
    Daemon {
        /// True for start.
        start: bool,
        /// The role and settings.
        spec: SyncSpec,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Arity {
    None,
    Required,
    Optional,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Key {
    Cmd(Cmd),
    Help,
    Version,
    Tcp,
    Udp,
    Sctp,
    Fwmark,
    Ipv6,
    Scheduler,
    Pe,
    Persistent,
    Netmask,
    Server,
    Masq,
    Ipip,
    Gate,
    Weight,
    UThr,
    LThr,
    Connection,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Sort,
    Exact,
    Ops,
    Numeric,
    SchedFlags,
    SyncId,
    SyncMaxlen,
    McastIf,
    McastGroup,
    McastPort,
    McastTtl,
    TunType,
    TunPort,
    TunNoCsum,
    TunCsum,
    TunRemCsum,
    TunInfo,
}

const LONG: &[(&str, Key, Arity)] = &[
    ("add-service", Key::Cmd(Cmd::Add), Arity::None),
    ("edit-service", Key::Cmd(Cmd::Edit), Arity::None),
    ("delete-service", Key::Cmd(Cmd::Delete), Arity::None),
    ("clear", Key::Cmd(Cmd::Flush), Arity::None),
    ("list", Key::Cmd(Cmd::List), Arity::None),
    ("save", Key::Cmd(Cmd::Save), Arity::None),
    ("restore", Key::Cmd(Cmd::Restore), Arity::None),
    ("add-server", Key::Cmd(Cmd::AddDest), Arity::None),
    ("edit-server", Key::Cmd(Cmd::EditDest), Arity::None),
    ("delete-server", Key::Cmd(Cmd::DelDest), Arity::None),
    ("zero", Key::Cmd(Cmd::Zero), Arity::None),
    ("set", Key::Cmd(Cmd::Timeout), Arity::None),
    ("start-daemon", Key::Cmd(Cmd::StartDaemon), Arity::Required),
    ("stop-daemon", Key::Cmd(Cmd::StopDaemon), Arity::Required),
    ("help", Key::Help, Arity::None),
    ("version", Key::Version, Arity::None),
    ("tcp-service", Key::Tcp, Arity::Required),
    ("udp-service", Key::Udp, Arity::Required),
    ("sctp-service", Key::Sctp, Arity::Required),
    ("fwmark-service", Key::Fwmark, Arity::Required),
    ("ipv6", Key::Ipv6, Arity::None),
    ("scheduler", Key::Scheduler, Arity::Required),
    ("pe", Key::Pe, Arity::Required),
    ("persistent", Key::Persistent, Arity::Optional),
    ("netmask", Key::Netmask, Arity::Required),
    ("real-server", Key::Server, Arity::Required),
    ("masquerading", Key::Masq, Arity::None),
    ("ipip", Key::Ipip, Arity::None),
    ("gatewaying", Key::Gate, Arity::None),
    ("weight", Key::Weight, Arity::Required),
    ("u-threshold", Key::UThr, Arity::Required),
    ("l-threshold", Key::LThr, Arity::Required),
    ("connection", Key::Connection, Arity::None),
    ("timeout", Key::Timeout, Arity::None),
    ("daemon", Key::Daemon, Arity::None),
    ("stats", Key::Stats, Arity::None),
    ("rate", Key::Rate, Arity::None),
    ("thresholds", Key::Thresholds, Arity::None),
    ("persistent-conn", Key::PersistentConn, Arity::None),
    ("nosort", Key::NoSort, Arity::None),
    ("sort", Key::Sort, Arity::None),
    ("exact", Key::Exact, Arity::None),
    ("ops", Key::Ops, Arity::None),
    ("numeric", Key::Numeric, Arity::None),
    ("sched-flags", Key::SchedFlags, Arity::Required),
    ("syncid", Key::SyncId, Arity::Required),
    ("sync-maxlen", Key::SyncMaxlen, Arity::Required),
    ("mcast-interface", Key::McastIf, Arity::Required),
    ("mcast-group", Key::McastGroup, Arity::Required),
    ("mcast-port", Key::McastPort, Arity::Required),
    ("mcast-ttl", Key::McastTtl, Arity::Required),
    ("tun-type", Key::TunType, Arity::Required),
    ("tun-port", Key::TunPort, Arity::Required),
    ("tun-nocsum", Key::TunNoCsum, Arity::None),
    ("tun-csum", Key::TunCsum, Arity::None),
    ("tun-remcsum", Key::TunRemCsum, Arity::None),
    ("tun-info", Key::TunInfo, Arity::None),
];

fn short(c: char) -> Option<(Key, Arity)> {
    Some(match c {
        'A' => (Key::Cmd(Cmd::Add), Arity::None),
        'E' => (Key::Cmd(Cmd::Edit), Arity::None),
        'D' => (Key::Cmd(Cmd::Delete), Arity::None),
        'C' => (Key::Cmd(Cmd::Flush), Arity::None),
        'L' | 'l' => (Key::Cmd(Cmd::List), Arity::None),
        'S' => (Key::Cmd(Cmd::Save), Arity::None),
        'R' => (Key::Cmd(Cmd::Restore), Arity::None),
        'a' => (Key::Cmd(Cmd::AddDest), Arity::None),
        'e' => (Key::Cmd(Cmd::EditDest), Arity::None),
        'd' => (Key::Cmd(Cmd::DelDest), Arity::None),
        'Z' => (Key::Cmd(Cmd::Zero), Arity::None),
        'h' => (Key::Help, Arity::None),
        'v' => (Key::Version, Arity::None),
        't' => (Key::Tcp, Arity::Required),
        'u' => (Key::Udp, Arity::Required),
        'f' => (Key::Fwmark, Arity::Required),
        '6' => (Key::Ipv6, Arity::None),
        's' => (Key::Scheduler, Arity::Required),
        'p' => (Key::Persistent, Arity::Optional),
        'M' => (Key::Netmask, Arity::Required),
        'r' => (Key::Server, Arity::Required),
        'm' => (Key::Masq, Arity::None),
        'i' => (Key::Ipip, Arity::None),
        'g' => (Key::Gate, Arity::None),
        'w' => (Key::Weight, Arity::Required),
        'x' => (Key::UThr, Arity::Required),
        'y' => (Key::LThr, Arity::Required),
        'c' => (Key::Connection, Arity::None),
        'o' => (Key::Ops, Arity::None),
        'n' => (Key::Numeric, Arity::None),
        'b' => (Key::SchedFlags, Arity::Required),
        _ => return None,
    })
}

/// Parses a whole number in `min..=max` (ipvsadm's string_to_number).
fn number(s: &str, min: i64, max: i64) -> Option<i64> {
    let v: i64 = s.trim_start().parse().ok()?;
    (min..=max).contains(&v).then_some(v)
}

/// The sync daemon's options as given.
#[derive(Default)]
struct Sync {
    interface: Option<String>,
    syncid: Option<u8>,
    maxlen: Option<u16>,
    group: Option<IpAddr>,
    port: Option<u16>,
    ttl: Option<u8>,
}

#[derive(Default)]
struct State {
    cmd: Option<Cmd>,
    options: u64,
    key: Option<ServiceKey>,
    key_port_given: bool,
    sched: Option<String>,
    flags: ServiceFlags,
    timeout: u32,
    netmask: Option<Netmask>,
    pe: Option<String>,
    dest: Option<(IpAddr, Option<u16>)>,
    forward: Option<Forward>,
    weight: Option<u32>,
    u_thr: u32,
    l_thr: Option<u32>,
    tunnel: Tunnel,
    daemon_state: String,
    sync: Sync,
    leftover: Vec<String>,
}

impl State {
    fn set_cmd(&mut self, c: Cmd) -> Result<(), ArgError> {
        if self.cmd.is_some() {
            return fail("multiple commands specified");
        }
        self.cmd = Some(c);
        Ok(())
    }

    fn set_opt(&mut self, o: Opt) -> Result<(), ArgError> {
        if self.options & o.bit() != 0 {
            return fail(format!("multiple '{}' options specified", o.name()));
        }
        self.options |= o.bit();
        Ok(())
    }

    fn has(&self, o: Opt) -> bool {
        self.options & o.bit() != 0
    }

    fn apply(&mut self, key: Key, arg: Option<String>, names: &dyn Names) -> Result<(), ArgError> {
        let arg_s = arg.clone().unwrap_or_default();
        match key {
            Key::Cmd(c) => {
                self.set_cmd(c)?;
                if matches!(c, Cmd::StartDaemon | Cmd::StopDaemon) {
                    if arg_s != "master" && arg_s != "backup" {
                        return fail("illegal start_daemon specified");
                    }
                    self.daemon_state = arg_s;
                }
            }
            Key::Help | Key::Version => {}
            Key::Tcp | Key::Udp | Key::Sctp => {
                self.set_opt(Opt::Service)?;
                let proto = match key {
                    Key::Tcp => Protocol::Tcp,
                    Key::Udp => Protocol::Udp,
                    _ => Protocol::Sctp,
                };
                let hp = parse_host_port(&arg_s, proto.name(), names);
                let Some(hp) = hp else {
                    return fail("illegal virtual server address[:port] specified");
                };
                self.key_port_given = hp.port.is_some();
                self.key = Some(ServiceKey::Addr {
                    proto,
                    addr: hp.addr,
                    port: hp.port.unwrap_or(0),
                });
            }
            Key::Fwmark => {
                self.set_opt(Opt::Service)?;
                let Some(mark) = number(&arg_s, 1, i64::from(u32::MAX)) else {
                    return fail(format!("invalid fwmark value `{arg_s}' specified"));
                };
                self.key = Some(ServiceKey::Fwmark {
                    mark: mark as u32,
                    ipv6: false,
                });
            }
            Key::Ipv6 => match &mut self.key {
                Some(ServiceKey::Fwmark { ipv6, .. }) => *ipv6 = true,
                _ => return fail("-6 used before -f"),
            },
            Key::Scheduler => {
                self.set_opt(Opt::Scheduler)?;
                self.sched = Some(arg_s.chars().take(15).collect());
            }
            Key::Pe => {
                self.set_opt(Opt::Pe)?;
                self.pe = Some(arg_s);
            }
            Key::Persistent => {
                self.set_opt(Opt::Persistent)?;
                self.flags.persistent = true;
                self.timeout = match arg {
                    None => DEFAULT_PERSISTENCE,
                    Some(t) => match number(&t, 1, i64::from(MAX_TIMEOUT)) {
                        Some(v) => v as u32,
                        None => return fail(format!("invalid timeout value `{t}' specified")),
                    },
                };
            }
            Key::Netmask => {
                self.set_opt(Opt::Netmask)?;
                if arg_s.contains('.') {
                    match arg_s.parse::<Ipv4Addr>() {
                        Ok(m) => self.netmask = Some(Netmask::V4(m)),
                        Err(_) => return fail("illegal virtual server persistent mask specified"),
                    }
                } else {
                    match number(&arg_s, 1, 128) {
                        Some(p) => self.netmask = Some(Netmask::Prefix(p as u8)),
                        None => return fail("illegal ipv6 netmask specified"),
                    }
                }
            }
            Key::Server => {
                self.set_opt(Opt::Server)?;
                let proto = match self.key {
                    Some(ServiceKey::Addr { proto, .. }) => proto.name(),
                    _ => "tcp",
                };
                match parse_host_port(&arg_s, proto, names) {
                    Some(hp) => self.dest = Some((hp.addr, hp.port)),
                    None => return fail("illegal real server address[:port] specified"),
                }
            }
            Key::Masq | Key::Ipip | Key::Gate => {
                self.set_opt(Opt::Forward)?;
                self.forward = Some(match key {
                    Key::Masq => Forward::Masq,
                    Key::Ipip => Forward::Tunnel,
                    _ => Forward::Route,
                });
            }
            Key::Weight => {
                self.set_opt(Opt::Weight)?;
                match number(&arg_s, 0, i64::from(i32::MAX)) {
                    Some(w) => self.weight = Some(w as u32),
                    None => return fail("illegal weight specified"),
                }
            }
            Key::UThr => {
                self.set_opt(Opt::UThreshold)?;
                match number(&arg_s, 0, 65535) {
                    Some(w) => self.u_thr = w as u32,
                    None => return fail("illegal u_threshold specified"),
                }
            }
            Key::LThr => {
                self.set_opt(Opt::LThreshold)?;
                match number(&arg_s, 0, 65535) {
                    Some(w) => self.l_thr = Some(w as u32),
                    None => return fail("illegal l_threshold specified"),
                }
            }
            Key::Connection => self.set_opt(Opt::Connection)?,
            Key::Timeout => self.set_opt(Opt::Timeout)?,
            Key::Daemon => self.set_opt(Opt::Daemon)?,
            Key::Stats => self.set_opt(Opt::Stats)?,
            Key::Rate => self.set_opt(Opt::Rate)?,
            Key::Thresholds => self.set_opt(Opt::Thresholds)?,
            Key::PersistentConn => self.set_opt(Opt::PersistentConn)?,
            Key::NoSort => self.set_opt(Opt::NoSort)?,
            Key::Sort => {}
            Key::Exact => self.set_opt(Opt::Exact)?,
            Key::Ops => {
                self.set_opt(Opt::OnePacket)?;
                self.flags.one_packet = true;
            }
            Key::Numeric => self.set_opt(Opt::Numeric)?,
            Key::SchedFlags => {
                self.set_opt(Opt::SchedFlags)?;
                self.parse_sched_flags(&arg_s)?;
            }
            Key::SyncId => {
                self.set_opt(Opt::SyncId)?;
                match number(&arg_s, 0, 255) {
                    Some(n) => self.sync.syncid = Some(n as u8),
                    None => return fail("illegal syncid specified"),
                }
            }
            Key::SyncMaxlen => {
                self.set_opt(Opt::SyncMaxlen)?;
                match number(&arg_s, 1, 65535 - 20 - 8) {
                    Some(n) => self.sync.maxlen = Some(n as u16),
                    None => return fail("illegal sync-maxlen specified"),
                }
            }
            Key::McastIf => {
                self.set_opt(Opt::Mcast)?;
                self.sync.interface = Some(arg_s.clone());
            }
            Key::McastGroup => {
                self.set_opt(Opt::McastGroup)?;
                match arg_s.parse::<IpAddr>() {
                    Ok(a) if a.is_multicast() => self.sync.group = Some(a),
                    _ if arg_s.contains(':') => {
                        return fail(format!("invalid IPv6 mcast-group `{arg_s}'"))
                    }
                    _ => return fail(format!("invalid IPv4 mcast-group `{arg_s}'")),
                }
            }
            Key::McastPort => {
                self.set_opt(Opt::McastPort)?;
                match number(&arg_s, 1, 65535) {
                    Some(n) => self.sync.port = Some(n as u16),
                    None => return fail("illegal mcast-port specified"),
                }
            }
            Key::McastTtl => {
                self.set_opt(Opt::McastTtl)?;
                match number(&arg_s, 1, 255) {
                    Some(n) => self.sync.ttl = Some(n as u8),
                    None => return fail("illegal mcast-ttl specified"),
                }
            }
            Key::TunType => {
                self.set_opt(Opt::TunType)?;
                match TunType::from_name(&arg_s) {
                    Some(t) => self.tunnel.kind = t,
                    None => return fail("illegal tunnel type specified"),
                }
            }
            Key::TunPort => {
                self.set_opt(Opt::TunPort)?;
                match number(&arg_s, 1, 65535) {
                    Some(p) => self.tunnel.port = p as u16,
                    None => return fail("illegal tunnel port specified"),
                }
            }
            Key::TunNoCsum => {
                self.set_opt(Opt::TunNoCsum)?;
                self.tunnel.csum = TunCsum::NoCsum;
            }
            Key::TunCsum => {
                self.set_opt(Opt::TunCsum)?;
                self.tunnel.csum = TunCsum::Csum;
            }
            Key::TunRemCsum => {
                self.set_opt(Opt::TunRemCsum)?;
                self.tunnel.csum = TunCsum::RemCsum;
            }
            Key::TunInfo => self.set_opt(Opt::TunInfo)?,
        }
        Ok(())
    }

    fn parse_sched_flags(&mut self, list: &str) -> Result<(), ArgError> {
        let sched = self.sched.clone();
        for flag in list.split(',').filter(|f| !f.is_empty()) {
            let (bit, needs) = match flag {
                "flag-1" => (1, None),
                "flag-2" => (2, None),
                "flag-3" => (3, None),
                "sh-fallback" => (1, Some("sh")),
                "sh-port" => (2, Some("sh")),
                "mh-fallback" => (1, Some("mh")),
                "mh-port" => (2, Some("mh")),
                _ => return fail(format!("invalid scheduler flag `{flag}'")),
            };
            if let (Some(needs), Some(s)) = (needs, &sched) {
                if s != needs {
                    return fail(format!("incompatible scheduler flag `{flag}'"));
                }
            }
            match bit {
                1 => self.flags.sched1 = true,
                2 => self.flags.sched2 = true,
                _ => self.flags.sched3 = true,
            }
        }
        Ok(())
    }
}

/// Parses ipvsadm arguments (without the program name) into an [`Invocation`].
///
/// `names` resolves host and service names given on the command line.
pub fn parse(args: &[String], names: &dyn Names) -> Result<Invocation, ArgError> {
    let mut st = State::default();
    let mut help = false;
    let mut version = false;
    let mut i = 0;
    let mut only_positional = false;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if only_positional || a == "-" || !a.starts_with('-') {
            st.leftover.push(a.clone());
            continue;
        }
        if a == "--" {
            only_positional = true;
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let Some(&(_, key, arity)) = LONG.iter().find(|(n, _, _)| *n == name) else {
                return Err(ArgError::Parser {
                    option: format!("--{name}"),
                    reason: "unknown option",
                });
            };
            let arg = match arity {
                Arity::None => {
                    if inline.is_some() {
                        return Err(ArgError::Parser {
                            option: format!("--{name}"),
                            reason: "option does not take an argument",
                        });
                    }
                    None
                }
                Arity::Required => match inline {
                    Some(v) => Some(v),
                    None if i < args.len() => {
                        i += 1;
                        Some(args[i - 1].clone())
                    }
                    None => {
                        return Err(ArgError::Parser {
                            option: format!("--{name}"),
                            reason: "missing argument",
                        })
                    }
                },
                Arity::Optional => match inline {
                    Some(v) => Some(v),
                    None if i < args.len() && !args[i].starts_with('-') => {
                        i += 1;
                        Some(args[i - 1].clone())
                    }
                    None => None,
                },
            };
            help |= key == Key::Help;
            version |= key == Key::Version;
            st.apply(key, arg, names)?;
            continue;
        }
        let chars: Vec<char> = a[1..].chars().collect();
        let mut k = 0;
        while k < chars.len() {
            let c = chars[k];
            k += 1;
            let Some((key, arity)) = short(c) else {
                return Err(ArgError::Parser {
                    option: format!("-{c}"),
                    reason: "unknown option",
                });
            };
            let rest: String = chars[k..].iter().collect();
            let arg = match arity {
                Arity::None => None,
                Arity::Required if !rest.is_empty() => {
                    k = chars.len();
                    Some(rest)
                }
                Arity::Required if i < args.len() => {
                    i += 1;
                    Some(args[i - 1].clone())
                }
                Arity::Required => {
                    return Err(ArgError::Parser {
                        option: format!("-{c}"),
                        reason: "missing argument",
                    })
                }
                Arity::Optional if !rest.is_empty() => {
                    k = chars.len();
                    Some(rest)
                }
                Arity::Optional if i < args.len() && !args[i].starts_with('-') => {
                    i += 1;
                    Some(args[i - 1].clone())
                }
                Arity::Optional => None,
            };
            help |= key == Key::Help;
            version |= key == Key::Version;
            st.apply(key, arg, names)?;
        }
    }
    if help {
        return Ok(Invocation::Help);
    }
    if version {
        return Ok(Invocation::Version);
    }
    finish(st)
}

fn finish(mut st: State) -> Result<Invocation, ArgError> {
    let mut timeouts = Timeouts {
        tcp: 0,
        tcpfin: 0,
        udp: 0,
    };
    let mut leftover = std::mem::take(&mut st.leftover).into_iter();
    if st.cmd == Some(Cmd::Timeout) {
        let vals: Vec<String> = leftover.by_ref().take(3).collect();
        if vals.len() < 3 {
            return fail("--set option requires 3 timeout values");
        }
        let mut parsed = [0u32; 3];
        for (slot, v) in parsed.iter_mut().zip(&vals) {
            match number(v, 0, i64::from(MAX_TIMEOUT)) {
                Some(n) => *slot = n as u32,
                None => return fail(format!("invalid timeout value `{v}' specified")),
            }
        }
        timeouts = Timeouts {
            tcp: parsed[0],
            tcpfin: parsed[1],
            udp: parsed[2],
        };
    }
    if let Some(extra) = leftover.next() {
        return fail(format!("unexpected argument {extra}"));
    }
    let cmd = st.cmd.unwrap_or(Cmd::List);
    check_matrix(cmd, st.options)?;

    let key = st.key;
    let ipv6 = key.is_some_and(|k| k.is_ipv6());
    let service_spec = |st: &State, key: ServiceKey| -> Result<ServiceSpec, ArgError> {
        if let ServiceKey::Addr { port: 0, .. } = key {
            if !st.flags.persistent {
                return fail("Zero port specified for non-persistent service");
            }
        }
        if let ServiceKey::Addr { proto, .. } = key {
            if st.flags.one_packet && proto != Protocol::Udp {
                return fail("One-Packet Scheduling is only for UDP virtual services");
            }
        }
        let netmask = match (st.netmask, ipv6) {
            (None, v6) => Netmask::default_for(v6),
            (Some(Netmask::V4(_)), true) => return fail("illegal ipv6 netmask specified"),
            (Some(Netmask::Prefix(p)), false) if p > 32 => {
                return fail("illegal virtual server persistent mask specified")
            }
            (Some(Netmask::Prefix(p)), false) => Netmask::V4(Ipv4Addr::from(
                u32::MAX.checked_shl(32 - u32::from(p)).unwrap_or(0),
            )),
            (Some(m), _) => m,
        };
        Ok(ServiceSpec {
            key,
            scheduler: st
                .sched
                .clone()
                .unwrap_or_else(|| DEFAULT_SCHEDULER.to_string()),
            flags: st.flags,
            timeout: if st.flags.persistent { st.timeout } else { 0 },
            netmask,
            pe: st.pe.clone(),
        })
    };
    let need_key = || {
        key.ok_or_else(|| ArgError::Usage("You need to supply the 'service-address' option".into()))
    };
    Ok(match cmd {
        Cmd::Add => Invocation::AddService(service_spec(&st, need_key()?)?),
        Cmd::Edit => Invocation::EditService(service_spec(&st, need_key()?)?),
        Cmd::Delete => Invocation::DeleteService(need_key()?),
        Cmd::Flush => Invocation::Clear,
        Cmd::Restore => Invocation::Restore,
        Cmd::Save => Invocation::Save {
            numeric: st.has(Opt::Numeric),
        },
        Cmd::Zero => Invocation::Zero(key),
        Cmd::Timeout => Invocation::SetTimeouts(timeouts),
        Cmd::StartDaemon | Cmd::StopDaemon => {
            let role = Role::parse(&st.daemon_state).unwrap_or(Role::Master);
            let mut spec = SyncSpec::new(
                role,
                st.sync.interface.as_deref().unwrap_or_default(),
                st.sync.syncid.unwrap_or(0),
            );
            spec.maxlen = st.sync.maxlen.unwrap_or(spec.maxlen);
            spec.group = st.sync.group.unwrap_or(spec.group);
            spec.port = st.sync.port.unwrap_or(spec.port);
            spec.ttl = st.sync.ttl.unwrap_or(spec.ttl);
            Invocation::Daemon {
                start: cmd == Cmd::StartDaemon,
                spec,
            }
        }
        Cmd::List => {
            let what = if st.has(Opt::Connection) {
                ListWhat::Connections
            } else if st.has(Opt::Timeout) {
                ListWhat::Timeouts
            } else if st.has(Opt::Daemon) {
                ListWhat::Daemons
            } else if let Some(k) = key {
                ListWhat::Service(k)
            } else {
                ListWhat::All
            };
            Invocation::List(
                what,
                ListFormat {
                    numeric: st.has(Opt::Numeric),
                    stats: st.has(Opt::Stats),
                    rate: st.has(Opt::Rate),
                    thresholds: st.has(Opt::Thresholds),
                    persistent_conn: st.has(Opt::PersistentConn),
                    tun_info: st.has(Opt::TunInfo),
                    exact: st.has(Opt::Exact),
                    nosort: st.has(Opt::NoSort),
                },
            )
        }
        Cmd::AddDest | Cmd::EditDest | Cmd::DelDest => {
            let key = need_key()?;
            let Some((addr, port)) = st.dest else {
                return fail("You need to supply the 'real-server' option");
            };
            let mut port = port.unwrap_or(key.port());
            if cmd == Cmd::DelDest {
                return Ok(Invocation::DeleteDest(key, addr, port));
            }
            let forward = st.forward.unwrap_or(Forward::Route);
            if addr.is_ipv6() != key.is_ipv6() && forward != Forward::Tunnel {
                return fail("Different address family is allowed only for tunneling servers");
            }
            if matches!(forward, Forward::Route | Forward::Tunnel) {
                port = key.port();
            }
            check_tunnel(&st, forward)?;
            let u = st.u_thr;
            let l = st.l_thr.unwrap_or(if st.has(Opt::UThreshold) {
                u * 3 / 4
            } else {
                0
            });
            let d = DestSpec {
                addr,
                port,
                forward,
                weight: st.weight.unwrap_or(1),
                u_threshold: u,
                l_threshold: l,
                tunnel: if forward == Forward::Tunnel {
                    st.tunnel
                } else {
                    Tunnel::default()
                },
            };
            if cmd == Cmd::AddDest {
                Invocation::AddDest(key, d)
            } else {
                Invocation::EditDest(key, d)
            }
        }
    })
}

fn check_matrix(cmd: Cmd, options: u64) -> Result<(), ArgError> {
    let row = MATRIX[cmd.index()];
    let mut one_of = 0;
    for (i, o) in Opt::ALL.iter().enumerate() {
        let set = options & o.bit() != 0;
        match (row[i], set) {
            (b'+', false) => {
                return fail(format!(
                    "You need to supply the '{}' option for the '{}' command",
                    o.name(),
                    cmd.name()
                ))
            }
            (b'x', true) => {
                return fail(format!(
                    "Illegal '{}' option with the '{}' command",
                    o.name(),
                    cmd.name()
                ))
            }
            (b'1', true) => {
                one_of += 1;
                if one_of > 1 {
                    return fail("options conflicts in the list command");
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_tunnel(st: &State, forward: Forward) -> Result<(), ArgError> {
    let tun_opts = [
        Opt::TunType,
        Opt::TunPort,
        Opt::TunNoCsum,
        Opt::TunCsum,
        Opt::TunRemCsum,
    ];
    if forward != Forward::Tunnel {
        if tun_opts.iter().any(|o| st.has(*o)) {
            return fail("Tunnel options conflict with forward method");
        }
        return Ok(());
    }
    let kind = st.tunnel.kind;
    let t = kind.name();
    let (required, illegal): (&[Opt], &[Opt]) = match kind {
        TunType::Ipip => (
            &[],
            &[Opt::TunPort, Opt::TunNoCsum, Opt::TunCsum, Opt::TunRemCsum],
        ),
        TunType::Gue => (&[Opt::TunPort], &[]),
        TunType::Gre => (&[], &[Opt::TunPort, Opt::TunRemCsum]),
    };
    for o in required {
        if !st.has(*o) {
            return fail(format!(
                "You need to supply the '{}' option for the '{t}' tunnel type",
                o.name()
            ));
        }
    }
    for o in illegal {
        if st.has(*o) {
            return fail(format!(
                "Illegal '{}' option with the '{t}' tunnel type",
                o.name()
            ));
        }
    }
    let csums: Vec<Opt> = [Opt::TunNoCsum, Opt::TunCsum, Opt::TunRemCsum]
        .into_iter()
        .filter(|o| st.has(*o))
        .collect();
    if csums.len() > 1 {
        return fail(format!(
            "The option '{}' conflicts with the '{}' option in the '{t}' tunnel type",
            csums[1].name(),
            csums[0].name()
        ));
    }
    Ok(())
}

/// Splits one `-R` input line into arguments: whitespace-separated, `#` starts a comment, and a
/// leading `ipvsadm` word is dropped. Returns `None` for blank and comment lines.
pub fn split_restore_line(line: &str) -> Option<Vec<String>> {
    let line = line.split('#').next().unwrap_or("");
    let mut words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    if words
        .first()
        .is_some_and(|w| w == "ipvsadm" || w.ends_with("/ipvsadm"))
    {
        words.remove(0);
    }
    (!words.is_empty()).then_some(words)
}
