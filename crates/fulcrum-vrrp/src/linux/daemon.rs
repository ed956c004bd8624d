//! The event loop: poll(2) over the VRRP sockets, the link monitor and a signalfd; feeds the sans-IO [`Node`] and
//! carries out its actions (adverts, addresses, routes, the `no_accept` filter, GARP/NA, notify scripts).
//!
//! A packet that does not decode is counted against the instance of its VRID on that interface when the VRID can be
//! read, otherwise against the interface ([`InterfaceStats`]); it never reaches the state machine. SIGUSR2 writes
//! the counters in keepalived's statistics file ([`super::dump`]).

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::filter::Nft;
use super::garp;
use super::netlink::{iface, AddrSocket, LinkMonitor, RouteSpec};
use super::plan::{self, InstancePlan, Plan, SystemEnv};
use super::scripts::{Check, Notifier, RunAs};
use super::socket::VrrpSocket;
use crate::codec::{peek_vrid, Advert};
use crate::instance::{Action, Event, NotifyState, State, TrackKey};
use crate::node::{Node, NodeAction};
use crate::stats::{InterfaceStats, PacketError};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration has errors.
    #[error("{0}")]
    Config(fulcrum_config::Diagnostics),
    /// The configuration does not fit this system (missing interface, user...).
    #[error("{}", .0.join("\n"))]
    Plan(Vec<String>),
    /// A system call failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

struct Slot {
    plan: InstancePlan,
    sock: Option<VrrpSocket>,
}

/// A running `fulcrum keepalived`.
pub struct Daemon {
    path: PathBuf,
    node: Node,
    slots: Vec<Slot>,
    group_notify: Vec<fulcrum_config::keepalived::Notify>,
    group_names: Vec<String>,
    checks: Vec<Check>,
    notifier: Notifier,
    run_as: Option<RunAs>,
    addrs: AddrSocket,
    nft: Nft,
    announcer: garp::Announcer,
    links: LinkMonitor,
    signals: SignalFd,
    /// Told of SIGHUP (after VRRP reloaded) and of SIGTERM/SIGINT (before VRRP stops): how the process that
    /// runs other subsystems beside VRRP (keepalived's checkers) follows the same signals.
    hook: Option<Box<dyn FnMut(Signal)>>,
    /// Told of every instance's state change (name, `MASTER`/`BACKUP`/`FAULT`/`STOP`), as its notify scripts
    /// are: how the sync daemon follows its instance.
    state_hook: Option<StateHook>,
    /// Packets no instance could be charged with, per interface and family (`true`: IPv6); kept across reloads.
    iface_stats: BTreeMap<(String, bool), InterfaceStats>,
    /// When each instance last changed state, by name (the data dump's `Last transition`); kept across reloads.
    transitions: BTreeMap<String, std::time::SystemTime>,
    /// When the daemon started (the `Last transition` of an instance that never changed).
    started: std::time::SystemTime,
    /// The global settings of the plan in force, for the data dump.
    global: crate::data::GlobalView,
    /// The Prometheus endpoint (`fulcrum_metrics_listen`), and when its page was last published.
    metrics: Option<(fulcrum_admin::metrics_server::MetricsServer, Instant)>,
    /// What other subsystems of the process add to the metrics page (keepalived's checkers), asked at each render.
    metrics_extra: Option<Box<dyn Fn() -> String>>,
    /// A reload whose configuration is being read and checked on a thread of its own (so that adverts keep going
    /// however long that takes), and whether another SIGHUP came meanwhile.
    loading: Option<(std::sync::mpsc::Receiver<Result<Plan, StartError>>, bool)>,
}

/// The signals the daemon takes from its signalfd (the process blocks them in every thread).
pub const SIGNALS: [Signal; 5] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// keepalived's JSON dump signal (`keepalived --signum=JSON`): SIGRTMIN+2, 36 with glibc.
pub fn sig_json() -> i32 {
    libc::SIGRTMIN() + 2
}

/// keepalived's "write the statistics, then clear them" signal (`--signum=STATS_CLEAR`): SIGRTMAX-1, 63 with
/// glibc.
pub fn sig_stats_clear() -> i32 {
    libc::SIGRTMAX() - 1
}

/// Every signal the daemon takes: [`SIGNALS`] and the two real-time ones ([`sig_json`], [`sig_stats_clear`]).
pub fn signal_mask() -> SigSet {
    let mut mask = SigSet::empty();
    for s in SIGNALS {
        mask.add(s);
    }
    let mut raw: libc::sigset_t = *mask.as_ref();
    // SAFETY: `raw` is an initialised set; sigaddset only sets the bit of a valid signal number.
    unsafe {
        libc::sigaddset(&mut raw, sig_json());
        libc::sigaddset(&mut raw, sig_stats_clear());
        SigSet::from_sigset_t_unchecked(raw)
    }
}

/// A virtual address as the dumps show it (`set`: on the system now).
fn vip(v: &super::plan::VipPlan, set: bool) -> crate::data::Vip<'_> {
    (
        v.spec.addr,
        v.spec.prefix_len,
        v.ifname.as_str(),
        v.spec.scope,
        set,
    )
}

/// A callback told of instance state changes (see [`Daemon::set_state_hook`]).
pub type StateHook = Box<dyn FnMut(&str, &'static str)>;

/// Loads the configuration and checks it against the system as `-t` does: what keepalived refuses stops the start
/// (or the reload), what it corrects (disabled scripts and instances) is logged and corrected the same way.
fn load_plan(path: &Path) -> Result<Plan, StartError> {
    let mut config = fulcrum_config::keepalived::load(path).map_err(StartError::Config)?;
    for (loc, kw) in &config.ignored {
        tracing::warn!("{loc}: '{kw}' has no effect in fulcrum");
    }
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let report = super::check::check(&config, &super::check::Live);
    if !report.startable() {
        return Err(StartError::Plan(report.lines()));
    }
    for line in report.lines() {
        tracing::warn!("{line}");
    }
    report.apply(&mut config);
    plan::build(&config, &SystemEnv).map_err(StartError::Plan)
}

impl Daemon {
    /// Loads the configuration, blocks SIGTERM/SIGINT/SIGHUP into a signalfd and opens the sockets.
    pub fn new(path: &Path) -> Result<Daemon, StartError> {
        let plan = load_plan(path)?;
        let mask = signal_mask();
        mask.thread_block().map_err(std::io::Error::from)?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(std::io::Error::from)?;
        let mut d = Daemon {
            path: path.to_path_buf(),
            node: Node::new(Vec::new(), Vec::new()),
            slots: Vec::new(),
            group_notify: Vec::new(),
            group_names: Vec::new(),
            checks: Vec::new(),
            notifier: Notifier::default(),
            run_as: None,
            addrs: AddrSocket::open()?,
            nft: Nft::default(),
            announcer: garp::Announcer::new(),
            links: LinkMonitor::open()?,
            signals,
            hook: None,
            state_hook: None,
            iface_stats: BTreeMap::new(),
            transitions: BTreeMap::new(),
            started: std::time::SystemTime::now(),
            global: plan.global.clone(),
            metrics: None,
            metrics_extra: None,
            loading: None,
        };
        d.install(plan, Vec::new(), Instant::now(), true)
            .map_err(|e| StartError::Plan(vec![e]))?;
        Ok(d)
    }

    /// Calls `hook` on SIGHUP (after VRRP reloaded) and on SIGTERM/SIGINT (before VRRP stops).
    pub fn set_signal_hook(&mut self, hook: Box<dyn FnMut(Signal)>) {
        self.hook = Some(hook);
    }

    /// Calls `hook` with an instance's name and new state at every state change, when its notify scripts run.
    pub fn set_state_hook(&mut self, hook: StateHook) {
        self.state_hook = Some(hook);
    }

    /// Appends what `extra` returns to every render of the metrics page (how keepalived's checkers, which run
    /// beside VRRP, share its endpoint).
    pub fn set_metrics_extra(&mut self, extra: Box<dyn Fn() -> String>) {
        self.metrics_extra = Some(extra);
    }

    /// Runs until SIGTERM/SIGINT; returns the exit code.
    pub fn run(&mut self) -> i32 {
        loop {
            self.finish_reload();
            self.publish_metrics();
            let now = Instant::now();
            let mut deadline = now + Duration::from_secs(1);
            if let Some(t) = self.node.poll_timeout() {
                deadline = deadline.min(t);
            }
            for c in &self.checks {
                deadline = deadline.min(c.deadline());
            }
            if self.notifier.busy() {
                deadline = deadline.min(now + Duration::from_millis(100));
            }
            if self.loading.is_some() {
                // A reload's configuration is being read: look for it every 20 ms.
                deadline = deadline.min(now + Duration::from_millis(20));
            }
            let mut fds = vec![
                libc::pollfd {
                    fd: self.signals.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.links.fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let mut owners = Vec::new();
            for (i, s) in self.slots.iter().enumerate() {
                if let Some(sock) = &s.sock {
                    fds.push(libc::pollfd {
                        fd: sock.fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    });
                    owners.push(i);
                }
            }
            let wait = deadline.saturating_duration_since(now);
            let ms = wait.as_millis().min(1000) as i32
                + i32::from(!wait.is_zero() && wait.as_millis() == 0);
            // SAFETY: fds is a live array of pollfd of the given length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            if n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                tracing::error!("poll: {}", std::io::Error::last_os_error());
            }
            if fds[0].revents != 0 {
                while let Ok(Some(info)) = self.signals.read_signal() {
                    let signo = info.ssi_signo as i32;
                    if signo == sig_json() {
                        self.write_json();
                        continue;
                    }
                    if signo == sig_stats_clear() {
                        self.write_stats();
                        self.clear_stats();
                        continue;
                    }
                    match Signal::try_from(signo) {
                        Ok(Signal::SIGHUP) => {
                            self.reload();
                            if let Some(h) = self.hook.as_mut() {
                                h(Signal::SIGHUP);
                            }
                        }
                        Ok(Signal::SIGUSR2) => self.write_stats(),
                        Ok(Signal::SIGUSR1) => self.write_data(),
                        Ok(sig @ (Signal::SIGTERM | Signal::SIGINT)) => {
                            if let Some(h) = self.hook.as_mut() {
                                h(sig);
                            }
                            self.shutdown();
                            return 0;
                        }
                        _ => {}
                    }
                }
            }
            if fds[1].revents != 0 {
                for ev in self.links.read() {
                    self.link_changed(&ev.name, ev.up);
                }
            }
            for (k, &i) in owners.iter().enumerate() {
                if fds[k + 2].revents != 0 {
                    self.receive(i);
                }
            }
            let now = Instant::now();
            for c in 0..self.checks.len() {
                if let Some(ok) = self.checks[c].poll(now) {
                    let name = self.checks[c].spec.name.clone();
                    tracing::info!(script = %name, ok, "vrrp_script changed");
                    let acts = self.node.broadcast(
                        now,
                        Event::TrackChanged {
                            key: TrackKey::Script(name),
                            ok,
                        },
                    );
                    self.execute(acts);
                }
            }
            if self.node.poll_timeout().is_some_and(|t| t <= now) {
                let acts = self.node.broadcast(now, Event::Timer);
                self.execute(acts);
            }
            self.notifier.reap();
        }
    }

    /// Every instance as the dumps show it.
    fn views(&self) -> Vec<crate::data::InstanceView<'_>> {
        self.slots
            .iter()
            .zip(self.node.instances())
            .map(|(s, inst)| {
                let p = &s.plan;
                let master = inst.state() == State::Master;
                crate::data::InstanceView {
                    name: &p.cfg.name,
                    version: match p.cfg.version {
                        crate::codec::Version::V2 => 2,
                        crate::codec::Version::V3 => 3,
                    },
                    state: match inst.state() {
                        State::Initialize => "INIT",
                        State::Backup => "BACKUP",
                        State::Master => "MASTER",
                        State::Fault => "FAULT",
                    },
                    last_transition: self
                        .transitions
                        .get(&p.cfg.name)
                        .copied()
                        .unwrap_or(self.started),
                    last_reason: inst.last_reason(),
                    interface: &p.cfg.interface,
                    src: p.src,
                    src_configured: p.src_configured,
                    group: p.group,
                    peers: if p.group.is_none() {
                        &p.destinations
                    } else {
                        &[]
                    },
                    garp: p.cfg.garp,
                    vrid: p.cfg.vrid,
                    priority: p.cfg.priority,
                    effective_priority: inst.effective_priority(),
                    advert_interval: p.cfg.advert_interval,
                    accept: p.cfg.accept,
                    preempt: p.cfg.preempt,
                    auth: &p.cfg.auth,
                    vips: p
                        .vips
                        .iter()
                        .filter(|v| v.advertised)
                        .map(|v| vip(v, master))
                        .collect(),
                    evips: p
                        .vips
                        .iter()
                        .filter(|v| !v.advertised)
                        .map(|v| vip(v, master))
                        .collect(),
                    dont_track_primary: p.dont_track_primary,
                    strict: self.global.strict,
                    master_priority: inst.master_priority(),
                    master_advert_interval: inst.master_adv_interval(),
                    preempt_delay: p.cfg.preempt_delay,
                    track_interfaces: p
                        .cfg
                        .tracks
                        .iter()
                        .filter_map(|t| match &t.key {
                            TrackKey::Interface(n) => Some(n.as_str()),
                            TrackKey::Script(_) => None,
                        })
                        .collect(),
                    track_scripts: p
                        .cfg
                        .tracks
                        .iter()
                        .filter_map(|t| match &t.key {
                            TrackKey::Script(n) => self.checks.iter().find(|c| &c.spec.name == n),
                            TrackKey::Interface(_) => None,
                        })
                        .map(|c| crate::data::script_words(&c.spec.script))
                        .collect(),
                    stats: inst.stats(),
                }
            })
            .collect()
    }

    /// Starts, moves or stops the metrics endpoint to match `addr` (a failure to bind is logged; VRRP runs on).
    fn listen_metrics(&mut self, addr: Option<std::net::SocketAddr>) {
        let same = match (&self.metrics, addr) {
            (Some((m, _)), Some(a)) => a.port() != 0 && m.addr() == a,
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        self.metrics = None;
        let Some(addr) = addr else { return };
        match fulcrum_admin::metrics_server::MetricsServer::start(addr) {
            Ok(m) => {
                tracing::info!(%addr, "serving metrics at /metrics");
                self.metrics = Some((m, Instant::now() - Duration::from_secs(2)));
            }
            Err(e) => tracing::error!(%addr, "cannot serve metrics: {e}"),
        }
    }

    /// Renders the metrics page, at most once a second.
    fn publish_metrics(&mut self) {
        let due = self
            .metrics
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() >= Duration::from_secs(1));
        if !due {
            return;
        }
        let tracked: Vec<Vec<crate::metrics::TrackView<'_>>> = self
            .node
            .instances()
            .iter()
            .map(|inst| {
                inst.tracked()
                    .map(|(t, ok)| match &t.key {
                        TrackKey::Script(n) => ("script", n.as_str(), ok),
                        TrackKey::Interface(n) => ("interface", n.as_str(), ok),
                    })
                    .collect()
            })
            .collect();
        let scripts: Vec<crate::metrics::ScriptView<'_>> = self
            .checks
            .iter()
            .map(|c| crate::metrics::ScriptView {
                name: &c.spec.name,
                ok: c.ok(),
                running: c.running(),
            })
            .collect();
        let pairs: Vec<_> = self.views().into_iter().zip(tracked).collect();
        let mut page = crate::metrics::render(&pairs, &scripts);
        if let Some(extra) = &self.metrics_extra {
            page.push_str(&extra());
        }
        if let Some((m, at)) = self.metrics.as_mut() {
            m.publish(page);
            *at = Instant::now();
        }
    }

    /// Writes keepalived's data dump (SIGUSR1).
    fn write_data(&self) {
        let path = super::dump::data_path();
        let text = crate::data::render(&self.global, &self.views());
        match super::dump::write_replacing(&path, &text) {
            Ok(()) => tracing::info!(path = %path.display(), "data written"),
            Err(e) => tracing::error!(path = %path.display(), "cannot write data: {e}"),
        }
    }

    /// Writes keepalived's JSON dump (`--signum=JSON`).
    fn write_json(&self) {
        let path = super::dump::json_path();
        match super::dump::write_replacing(&path, &crate::json::render(&self.views())) {
            Ok(()) => tracing::info!(path = %path.display(), "JSON written"),
            Err(e) => tracing::error!(path = %path.display(), "cannot write JSON: {e}"),
        }
    }

    /// Zeroes every counter of the statistics file (after `--signum=STATS_CLEAR` wrote it).
    fn clear_stats(&mut self) {
        for k in 0..self.slots.len() {
            if let Some(inst) = self.node.instance_mut(k) {
                inst.clear_stats();
            }
        }
        self.iface_stats.clear();
    }

    /// Writes keepalived's statistics file (SIGUSR2).
    fn write_stats(&self) {
        let names: Vec<(&str, &crate::stats::InstanceStats)> = self
            .node
            .instances()
            .iter()
            .map(|i| (i.config().name.as_str(), i.stats()))
            .collect();
        let ifaces: Vec<(String, InterfaceStats)> = self
            .iface_stats
            .iter()
            .map(|((name, v6), st)| {
                let family = if *v6 { "IPv6" } else { "IPv4" };
                (format!("{name} ({family})"), *st)
            })
            .collect();
        let path = super::dump::stats_path();
        match super::dump::write_replacing(&path, &crate::stats::render(&names, &ifaces)) {
            Ok(()) => tracing::info!(path = %path.display(), "statistics written"),
            Err(e) => tracing::error!(path = %path.display(), "cannot write statistics: {e}"),
        }
    }

    /// Counts a bad packet read by slot `i`: against the instance of its VRID on this interface and family when
    /// there is one (the slot of that instance counts it; the others, whose sockets read the same packet, leave
    /// it), otherwise against the interface, counted by the interface's first slot only.
    fn count_bad_packet(&mut self, i: usize, vrid: Option<u8>, e: PacketError) {
        let (iface, v6) = {
            let p = &self.slots[i].plan;
            (p.cfg.interface.clone(), p.src.is_ipv6())
        };
        let same_link = |s: &Slot| s.plan.cfg.interface == iface && s.plan.src.is_ipv6() == v6;
        if let Some(vrid) = vrid {
            if self.slots[i].plan.cfg.vrid == vrid {
                if let Some(inst) = self.node.instance_mut(i) {
                    inst.record_packet_error(e);
                }
                return;
            }
            if self
                .slots
                .iter()
                .any(|s| same_link(s) && s.plan.cfg.vrid == vrid)
            {
                return;
            }
        }
        if self.slots.iter().position(same_link) == Some(i) {
            self.iface_stats.entry((iface, v6)).or_default().count(e);
        }
    }

    fn receive(&mut self, i: usize) {
        for _ in 0..64 {
            let pkt = match self.slots[i].sock.as_ref().map(VrrpSocket::recv) {
                Some(Ok(Some(Ok(p)))) => p,
                Some(Ok(Some(Err(_malformed)))) => {
                    tracing::debug!("malformed IP packet on the VRRP socket");
                    self.count_bad_packet(i, None, PacketError::Length);
                    continue;
                }
                Some(Err(e)) => {
                    tracing::debug!("recv: {e}");
                    return;
                }
                _ => return,
            };
            let decoded = match Advert::decode(&pkt.payload, pkt.src, pkt.dst) {
                Ok(d) => d,
                Err(e) => {
                    tracing::debug!(src = %pkt.src, "bad VRRP packet: {e}");
                    self.count_bad_packet(i, peek_vrid(&pkt.payload), e.kind());
                    continue;
                }
            };
            if decoded.advert.vrid != self.slots[i].plan.cfg.vrid {
                self.count_bad_packet(i, Some(decoded.advert.vrid), PacketError::Vrid);
                continue;
            }
            let acts = self.node.handle(
                Instant::now(),
                i,
                Event::AdvertReceived {
                    src: pkt.src,
                    advert: decoded.advert,
                    ttl: pkt.ttl,
                },
            );
            self.execute(acts);
        }
    }

    fn link_changed(&mut self, ifname: &str, up: bool) {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            let p = &self.slots[i].plan;
            if p.cfg.interface == ifname {
                if up && self.slots[i].sock.is_none() {
                    self.slots[i].sock = open_socket(&self.slots[i].plan);
                }
                if !self.slots[i].plan.dont_track_primary {
                    let ev = if up {
                        Event::InterfaceUp
                    } else {
                        Event::InterfaceDown
                    };
                    let acts = self.node.handle(now, i, ev);
                    self.execute(acts);
                }
            }
            let acts = self.node.handle(
                now,
                i,
                Event::TrackChanged {
                    key: TrackKey::Interface(ifname.to_string()),
                    ok: up,
                },
            );
            self.execute(acts);
        }
    }

    /// Puts a plan in place: carried instances keep their state, others start. The `no_accept` table is rebuilt
    /// before anything starts; when that fails at start (`initial`) nothing starts and the error is returned, on a
    /// reload it is logged and the instances run without the filter.
    fn install(
        &mut self,
        plan: Plan,
        mut old: Vec<(InstancePlan, Option<crate::instance::Instance>)>,
        now: Instant,
        initial: bool,
    ) -> Result<(), String> {
        let mut node = Node::new(
            plan.instances.iter().map(|p| p.cfg.clone()).collect(),
            plan.groups.clone(),
        );
        let mut slots = Vec::new();
        for (ni, p) in plan.instances.iter().enumerate() {
            let carried = old.iter_mut().find(|(op, inst)| {
                inst.is_some()
                    && op.cfg.name == p.cfg.name
                    && op.cfg.interface == p.cfg.interface
                    && op.cfg.vrid == p.cfg.vrid
                    && op.src.is_ipv6() == p.src.is_ipv6()
            });
            if let Some((op, inst)) = carried {
                let mut inst = inst.take().expect("checked is_some");
                inst.reconfigure(p.cfg.clone());
                if inst.state() == State::Master {
                    for r in op.routes.iter().filter(|r| !p.routes.contains(r)) {
                        self.remove_route(&p.cfg.name, r);
                    }
                    let gone: Vec<_> = op.vips.iter().filter(|v| !p.vips.contains(v)).collect();
                    for v in gone {
                        if let Err(e) = self.addrs.remove(&v.spec) {
                            tracing::warn!("removing {}: {e}", v.spec.addr);
                        }
                    }
                    for v in p.vips.iter().filter(|v| !op.vips.contains(v)) {
                        if let Err(e) = self.addrs.add(&v.spec) {
                            tracing::warn!("adding {}: {e}", v.spec.addr);
                        }
                    }
                    for r in p.routes.iter().filter(|r| !op.routes.contains(r)) {
                        self.add_route(&p.cfg.name, r);
                    }
                }
                tracing::info!(instance = %p.cfg.name, state = ?inst.state(), "kept across reload");
                node.adopt(ni, inst);
            }
            slots.push(Slot {
                plan: p.clone(),
                sock: open_socket(p),
            });
        }
        // Instances that are gone stop the way a shutdown does.
        let leftovers: Vec<_> = old
            .into_iter()
            .filter_map(|(p, i)| i.map(|i| (p, i)))
            .collect();
        if !leftovers.is_empty() {
            let (plans, insts): (Vec<_>, Vec<_>) = leftovers.into_iter().unzip();
            let mut gone = Node::new(plans.iter().map(|p| p.cfg.clone()).collect(), Vec::new());
            for (k, inst) in insts.into_iter().enumerate() {
                gone.adopt(k, inst);
            }
            let saved = std::mem::replace(&mut self.node, gone);
            let saved_slots = std::mem::replace(
                &mut self.slots,
                plans
                    .into_iter()
                    .map(|p| Slot {
                        sock: open_socket(&p),
                        plan: p,
                    })
                    .collect(),
            );
            let acts = self.node.broadcast(now, Event::Shutdown);
            self.execute(acts);
            self.node = saved;
            self.slots = saved_slots;
        }
        let old_checks = std::mem::take(&mut self.checks);
        self.checks = plan
            .checks
            .iter()
            .map(|s| {
                let mut c = Check::new(s.clone(), now);
                if let Some(o) = old_checks.iter().find(|o| o.spec.name == s.name) {
                    c.carry_state(o);
                }
                c
            })
            .collect();
        self.node = node;
        self.slots = slots;
        self.group_notify = plan.group_notify;
        self.global = plan.global;
        self.listen_metrics(plan.metrics_listen);
        self.group_names = plan.groups.iter().map(|g| g.name.clone()).collect();
        self.run_as = plan.run_as;
        // The no_accept table, with the addresses of carried masters that drop traffic.
        let filters: Vec<_> = self
            .slots
            .iter()
            .filter_map(|s| s.plan.filter.as_ref())
            .collect();
        let blocked: Vec<_> = self
            .slots
            .iter()
            .zip(self.node.instances())
            .filter(|(_, inst)| inst.state() == State::Master)
            .filter_map(|(s, _)| s.plan.filter.as_ref())
            .collect();
        match self.nft.install(&filters, &blocked) {
            Ok(()) => {}
            Err(e) if initial => return Err(e),
            Err(e) => tracing::error!("{e}; traffic to the virtual addresses is not filtered"),
        }
        // Initial health, then start whatever is not running yet.
        let mut acts = Vec::new();
        for c in &self.checks {
            acts.extend(self.node.broadcast(
                now,
                Event::TrackChanged {
                    key: TrackKey::Script(c.spec.name.clone()),
                    ok: c.ok(),
                },
            ));
        }
        let mut ifnames: Vec<String> = Vec::new();
        for s in &self.slots {
            ifnames.push(s.plan.cfg.interface.clone());
            for t in &s.plan.cfg.tracks {
                if let TrackKey::Interface(n) = &t.key {
                    ifnames.push(n.clone());
                }
            }
        }
        ifnames.sort();
        ifnames.dedup();
        for n in ifnames {
            if !iface::is_up(&n) {
                for i in 0..self.slots.len() {
                    if self.slots[i].plan.cfg.interface == n
                        && !self.slots[i].plan.dont_track_primary
                    {
                        acts.extend(self.node.handle(now, i, Event::InterfaceDown));
                    }
                    acts.extend(self.node.handle(
                        now,
                        i,
                        Event::TrackChanged {
                            key: TrackKey::Interface(n.clone()),
                            ok: false,
                        },
                    ));
                }
            }
        }
        acts.extend(self.node.broadcast(now, Event::Start));
        self.execute(acts);
        Ok(())
    }

    /// SIGHUP: reads and checks the configuration on a thread of its own while this loop keeps advertising
    /// ([`Daemon::finish_reload`] installs it); a SIGHUP during that is served once the current one ends.
    fn reload(&mut self) {
        if let Some((_, again)) = self.loading.as_mut() {
            *again = true;
            return;
        }
        tracing::info!(path = %self.path.display(), "reloading");
        let (tx, rx) = std::sync::mpsc::channel();
        let path = self.path.clone();
        let started = std::thread::Builder::new()
            .name("vrrp-reload".into())
            .spawn(move || {
                let _ = tx.send(load_plan(&path));
            });
        match started {
            Ok(_) => self.loading = Some((rx, false)),
            Err(e) => tracing::error!("reload failed, keeping the running configuration: {e}"),
        }
    }

    /// Installs the configuration a reload has read, when it is ready.
    fn finish_reload(&mut self) {
        let Some((rx, again)) = &self.loading else {
            return;
        };
        let again = *again;
        let plan = match rx.try_recv() {
            Err(std::sync::mpsc::TryRecvError::Empty) => return,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                self.loading = None;
                tracing::error!(
                    "reload failed, keeping the running configuration: the loader stopped"
                );
                return;
            }
            Ok(r) => {
                self.loading = None;
                r
            }
        };
        match plan {
            Ok(plan) => self.install_reloaded(plan),
            Err(e) => tracing::error!("reload failed, keeping the running configuration:\n{e}"),
        }
        if again {
            self.reload();
        }
    }

    /// Replaces the running plan with `plan`, carrying the instances that stay.
    fn install_reloaded(&mut self, plan: Plan) {
        let node = std::mem::replace(&mut self.node, Node::new(Vec::new(), Vec::new()));
        let slots = std::mem::take(&mut self.slots);
        let old = slots
            .into_iter()
            .map(|s| s.plan)
            .zip(node.into_instances().into_iter().map(Some))
            .collect();
        // Only the filter can fail here, and install logs that itself.
        let _ = self.install(plan, old, Instant::now(), false);
    }

    fn shutdown(&mut self) {
        tracing::info!("stopping");
        let acts = self.node.broadcast(Instant::now(), Event::Shutdown);
        self.execute(acts);
        self.nft.remove();
        let end = Instant::now() + Duration::from_secs(2);
        while self.notifier.busy() && Instant::now() < end {
            self.notifier.reap();
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn execute(&mut self, actions: Vec<NodeAction>) {
        for a in actions {
            match a {
                NodeAction::Instance { index, action } => self.instance_action(index, action),
                NodeAction::GroupNotify { group, state } => {
                    let (Some(n), Some(name)) =
                        (self.group_notify.get(group), self.group_names.get(group))
                    else {
                        continue;
                    };
                    let (n, name) = (n.clone(), name.clone());
                    self.notify(&n, "GROUP", &name, state, 0);
                }
            }
        }
    }

    fn instance_action(&mut self, i: usize, action: Action) {
        let Some(slot) = self.slots.get(i) else {
            return;
        };
        let p = &slot.plan;
        match action {
            Action::SendAdvert { priority } => {
                let Some(sock) = &slot.sock else {
                    return;
                };
                let advert = match self.node.instances().get(i) {
                    Some(inst) => inst.advert(priority),
                    None => return,
                };
                for dst in &p.destinations {
                    match advert.encode(p.src, *dst, p.checksum) {
                        Ok(bytes) => {
                            if let Err(e) = sock.send(*dst, &bytes) {
                                tracing::warn!(instance = %p.cfg.name, %dst, "send: {e}");
                            }
                        }
                        Err(e) => tracing::error!(instance = %p.cfg.name, "encode: {e}"),
                    }
                }
            }
            Action::AddVips => {
                for v in &p.vips {
                    if let Err(e) = self.addrs.add(&v.spec) {
                        tracing::error!(instance = %p.cfg.name, "adding {}/{}: {e}", v.spec.addr, v.spec.prefix_len);
                    }
                }
            }
            Action::RemoveVips => {
                for v in &p.vips {
                    if let Err(e) = self.addrs.remove(&v.spec) {
                        tracing::warn!(instance = %p.cfg.name, "removing {}: {e}", v.spec.addr);
                    }
                }
            }
            Action::AddRoutes => {
                let (name, routes) = (p.cfg.name.clone(), p.routes.clone());
                for r in &routes {
                    self.add_route(&name, r);
                }
            }
            Action::RemoveRoutes => {
                let (name, routes) = (p.cfg.name.clone(), p.routes.clone());
                for r in &routes {
                    self.remove_route(&name, r);
                }
            }
            Action::BlockVips => {
                if let Some(f) = &p.filter {
                    if self.nft.active() {
                        if let Err(e) = self.nft.block(f) {
                            tracing::error!(instance = %p.cfg.name, "no_accept: {e}");
                        }
                    }
                }
            }
            Action::UnblockVips => {
                if let Some(f) = &p.filter {
                    if self.nft.active() {
                        if let Err(e) = self.nft.unblock(f) {
                            tracing::warn!(instance = %p.cfg.name, "no_accept: {e}");
                        }
                    }
                }
            }
            Action::SendGarp { count } => {
                for ((ifname, ifindex), addrs) in plan::announce_sets(p) {
                    let Some(mac) = iface::mac(&ifname) else {
                        continue;
                    };
                    if let Err(e) = self
                        .announcer
                        .announce(&ifname, ifindex, mac, &addrs, count)
                    {
                        tracing::warn!(instance = %p.cfg.name, "gratuitous ARP/NA on {ifname}: {e}");
                    }
                }
            }
            Action::Notify { state, priority } => {
                let (n, name) = (p.notify.clone(), p.cfg.name.clone());
                tracing::info!(instance = %name, state = state.as_str(), priority, "state change");
                self.transitions
                    .insert(name.clone(), std::time::SystemTime::now());
                if let Some(h) = self.state_hook.as_mut() {
                    h(&name, state.as_str());
                }
                self.notify(&n, "INSTANCE", &name, state, priority);
            }
        }
    }

    fn add_route(&mut self, instance: &str, r: &RouteSpec) {
        match self.addrs.add_route(r) {
            Ok(true) => tracing::debug!(instance, "route {}/{} added", r.dst, r.dst_len),
            Ok(false) => tracing::info!(
                instance,
                "route {}/{} already present, left as it is",
                r.dst,
                r.dst_len
            ),
            Err(e) => tracing::error!(instance, "adding route {}/{}: {e}", r.dst, r.dst_len),
        }
    }

    fn remove_route(&mut self, instance: &str, r: &RouteSpec) {
        match self.addrs.remove_route(r) {
            Ok(true) => tracing::debug!(instance, "route {}/{} removed", r.dst, r.dst_len),
            Ok(false) => {}
            Err(e) => tracing::warn!(instance, "removing route {}/{}: {e}", r.dst, r.dst_len),
        }
    }

    fn notify(
        &mut self,
        n: &fulcrum_config::keepalived::Notify,
        kind: &str,
        name: &str,
        state: NotifyState,
        prio: u8,
    ) {
        let specific = match state {
            NotifyState::Master => &n.master,
            NotifyState::Backup => &n.backup,
            NotifyState::Fault => &n.fault,
            NotifyState::Stop => &n.stop,
        };
        if let Some(s) = specific {
            if let Err(e) = self.notifier.spawn(s, &[], self.run_as) {
                tracing::warn!("notify script {s}: {e}");
            }
        }
        if let Some(s) = &n.any {
            let p = prio.to_string();
            if let Err(e) = self
                .notifier
                .spawn(s, &[kind, name, state.as_str(), &p], self.run_as)
            {
                tracing::warn!("notify script {s}: {e}");
            }
        }
    }
}

fn open_socket(p: &InstancePlan) -> Option<VrrpSocket> {
    match VrrpSocket::open(&p.cfg.interface, p.ifindex, p.src, p.group) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(instance = %p.cfg.name, interface = %p.cfg.interface, "cannot open VRRP socket: {e}");
            None
        }
    }
}
