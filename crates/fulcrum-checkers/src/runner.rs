//! The running checker subsystem: one task per checker on a small tokio runtime, and one control thread that
//! owns the data plane, gathers the verdicts, decides what the table holds ([`crate::plan`]), applies it
//! ([`crate::reconcile`]), runs the notify and quorum scripts, and re-weights connection-count schedulers.
//!
//! A checker task repeats its probe forever: after a pass or a final failure it waits `delay_loop`, after a
//! failure with retries left `delay_before_retry` (the pure [`Tracker`] of fulcrum-health with rise 1 and fall
//! `retry + 1`). A reload keeps every checker whose service, real server and settings are unchanged, with its
//! state, and the real servers' and services' states with them: only the differences move.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fulcrum_config::keepalived::{Checker as CheckerConf, Config, RealServer, VirtualServer};
use fulcrum_health::{CheckResult, Tracker, Transition};
use fulcrum_lvs::announce::{AnnounceError, Announcer, Settings};
use fulcrum_lvs::controller::Controller;
use fulcrum_lvs::model::ServiceKey;
use fulcrum_lvs::plane::file::FilePlane;
use fulcrum_lvs::plane::nft::NftPlane;
use fulcrum_lvs::plane::xdp::XdpPlane;
use fulcrum_lvs::plane::{DataPlane, PlaneError};

use crate::metrics;
use crate::plan::{self, Health};
use crate::probe::{self, Probe};
use crate::reconcile::{reconcile, Desired};
use crate::retry::Retry;
use crate::scripts;

/// Where the checkers keep the table.
pub enum Plane {
    /// The kernel's nftables (the default), with the connection-count controller.
    Nft(NftPlane),
    /// A state file without traffic (tests and dry runs).
    File(FilePlane),
    /// The XDP program in front of nftables (the default; not with `FULCRUM_L4_PLANE=nftables`), with the controller on its
    /// nftables part (for the services XDP leaves to it).
    Xdp(XdpPlane),
}

impl Plane {
    fn get(&mut self) -> &mut dyn DataPlane {
        match self {
            Plane::Nft(p) => p,
            Plane::File(p) => p,
            Plane::Xdp(p) => p,
        }
    }
}

/// Why the subsystem could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A checker's settings were refused by its probe.
    #[error("{location}: {checker}: {message}")]
    Checker {
        /// Where the checker is defined.
        location: String,
        /// Its keyword.
        checker: &'static str,
        /// Why.
        message: String,
    },
    /// The tokio runtime or the control thread could not start.
    #[error("cannot start the checkers: {0}")]
    Io(#[from] std::io::Error),
    /// Announcing to a routing daemon cannot start.
    #[error(transparent)]
    Announce(#[from] AnnounceError),
}

/// What the checker tasks and the caller tell the control thread.
enum Msg {
    Verdict {
        id: u64,
        up: bool,
        /// This check's own result (before the retries decide the verdict) and how long it took.
        passed: bool,
        took: Duration,
        transition: Option<Transition>,
        weight: Option<u32>,
        reason: String,
    },
    Reload(Box<Config>, mpsc::Sender<Result<(), StartError>>),
    /// Stop; `true`: remove the services this subsystem owns (keepalived's default), `false`: leave the table
    /// as it is (`--dont-release-ipvs`).
    Stop(mpsc::Sender<()>, bool),
    /// Render the metrics into this page about once a second from now on.
    Metrics(MetricsPage),
}

/// The checkers' metrics page (Prometheus text), refreshed by the control thread about once a second once asked
/// for ([`Checkers::metrics_page`]); whoever serves `/metrics` appends it to its own.
pub type MetricsPage = std::sync::Arc<std::sync::Mutex<String>>;

/// The handle of a running checker subsystem.
pub struct Checkers {
    tx: mpsc::Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl Checkers {
    /// Starts checking every real server of `config` and keeping `plane` in line.
    pub fn start(config: Config, plane: Plane) -> Result<Checkers, StartError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fulcrum-checker")
            .enable_all()
            .build()?;
        let (tx, rx) = mpsc::channel();
        let mut control = Control {
            runtime,
            tx: tx.clone(),
            plane,
            services: Vec::new(),
            tasks: HashMap::new(),
            next_id: 0,
            owned: HashSet::new(),
            controller: Controller::default(),
            dirty: true,
            retry: Retry::default(),
            announcer: None,
            metrics: None,
        };
        control.install(config)?;
        let thread = std::thread::Builder::new()
            .name("fulcrum-checkers".into())
            .spawn(move || control.run(rx))?;
        Ok(Checkers {
            tx,
            thread: Some(thread),
        })
    }

    /// Applies a new configuration: only what differs changes.
    pub fn reload(&self, config: Config) -> Result<(), StartError> {
        self.reloader().reload(config)
    }

    /// The page of the checkers' metrics, rendered about once a second from now on: the checkers' state, then
    /// the table's counters (`node_ipvs_*`, as `fulcrum ipvsadm --metrics` writes them).
    pub fn metrics_page(&self) -> MetricsPage {
        let page = MetricsPage::default();
        let _ = self.tx.send(Msg::Metrics(page.clone()));
        page
    }

    /// A handle that can reload the subsystem from elsewhere (a signal hook).
    pub fn reloader(&self) -> Reloader {
        Reloader {
            tx: self.tx.clone(),
        }
    }

    /// Stops every checker and removes the services this subsystem created, as keepalived does on exit.
    pub fn stop(self) {
        self.stop_with(true);
    }

    /// Stops every checker; the services stay in the table as they are when `release` is false (keepalived's
    /// `--dont-release-ipvs`), so that a restart with the same `virtual_server` blocks adopts them unchanged and
    /// traffic never stops.
    pub fn stop_with(mut self, release: bool) {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Msg::Stop(tx, release)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reloads a running checker subsystem (see [`Checkers::reloader`]).
#[derive(Clone)]
pub struct Reloader {
    tx: mpsc::Sender<Msg>,
}

impl Reloader {
    /// Applies a new configuration: only what differs changes. A refused one changes nothing.
    pub fn reload(&self, config: Config) -> Result<(), StartError> {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Msg::Reload(Box::new(config), tx)).is_err() {
            return Ok(());
        }
        rx.recv().unwrap_or(Ok(()))
    }
}

/// Identity of a checker across reloads: its service, real server and settings.
#[derive(Debug, Clone, PartialEq)]
struct CheckerIdentity {
    keys: Vec<ServiceKey>,
    rs: SocketAddr,
    conf: CheckerConf,
    /// With `ha_suspend`: the virtual addresses, one of which must be on this host for the checker to run.
    suspend_on: Option<Vec<IpAddr>>,
}

struct Task {
    identity: CheckerIdentity,
    handle: tokio::task::JoinHandle<()>,
    up: bool,
    weight: Option<u32>,
    /// Checks that passed and failed, and how long the last one took (for the metrics).
    passed: u64,
    failed: u64,
    last_duration: Option<Duration>,
}

/// One real server's state.
struct RsState {
    conf: RealServer,
    /// Ids of its checkers' tasks.
    checkers: Vec<u64>,
    up: bool,
    /// How often `up` changed (for the metrics).
    transitions: u64,
}

/// One virtual server's state.
struct VsState {
    conf: VirtualServer,
    keys: Vec<ServiceKey>,
    servers: Vec<RsState>,
    quorum: bool,
}

struct Control {
    runtime: tokio::runtime::Runtime,
    tx: mpsc::Sender<Msg>,
    plane: Plane,
    services: Vec<VsState>,
    tasks: HashMap<u64, Task>,
    next_id: u64,
    owned: HashSet<ServiceKey>,
    controller: Controller,
    /// The table must be brought in line (a change, or a failed store to retry).
    dirty: bool,
    /// Failed stores: when to try again, what to log.
    retry: Retry,
    /// Routes for a routing daemon (`fulcrum_announce_table`).
    announcer: Option<Announcer>,
    /// Where the metrics go once asked for, and when they were last rendered.
    metrics: Option<(MetricsPage, Instant)>,
}

/// The address a checker probes: `connect_ip`/`connect_port` over the real server's.
fn target(rs: &RealServer, c: &CheckerConf) -> SocketAddr {
    SocketAddr::new(
        c.common.connect_ip.unwrap_or(rs.addr.ip()),
        c.common.connect_port.unwrap_or(rs.addr.port()),
    )
}

fn rs_name(rs: SocketAddr) -> String {
    format!("[{}]:{}", rs.ip(), rs.port())
}

/// A virtual server as keepalived's log names it: `[IP]:tcp:PORT`, `FWM N` or `group NAME`.
fn vs_name(vs: &VirtualServer) -> String {
    use fulcrum_config::keepalived::{VsProtocol, VsTarget};
    let proto = match vs.protocol {
        VsProtocol::Tcp => "tcp",
        VsProtocol::Udp => "udp",
        VsProtocol::Sctp => "sctp",
    };
    match &vs.target {
        VsTarget::Addr(a) => format!("[{}]:{proto}:{}", a.ip(), a.port()),
        VsTarget::Fwmark(m) => format!("FWM {m}"),
        VsTarget::Group(g) => format!("group {g}"),
    }
}

impl Control {
    /// Sets up the services of `config`, keeping the state and tasks of what did not change.
    fn install(&mut self, config: Config) -> Result<(), StartError> {
        // Build every probe first: a refused one changes nothing.
        let mut probes: Vec<Vec<Vec<Probe>>> = Vec::new();
        for vs in &config.virtual_servers {
            let mut per_rs = Vec::new();
            for rs in &vs.real_servers {
                let mut per_ck = Vec::new();
                for c in &rs.checkers {
                    per_ck.push(probe::build(c).map_err(|message| StartError::Checker {
                        location: c.location.to_string(),
                        checker: c.name(),
                        message,
                    })?);
                }
                per_rs.push(per_ck);
            }
            probes.push(per_rs);
        }
        // The announcement device follows the configuration (a new table or protocol: new routes).
        let wanted = config.global.announce.map(|a| Settings {
            table: a.table,
            protocol: a.protocol,
        });
        if self.announcer.as_ref().map(Announcer::conf) != wanted {
            self.announcer = None;
            if let Some(a) = wanted {
                self.announcer = Some(Announcer::open(a)?);
            }
            self.dirty = true;
        }
        let old_services = std::mem::take(&mut self.services);
        let mut old_tasks = std::mem::take(&mut self.tasks);
        let old_rs: HashMap<(Vec<ServiceKey>, SocketAddr), bool> = old_services
            .iter()
            .flat_map(|v| {
                v.servers
                    .iter()
                    .map(|r| ((v.keys.clone(), r.conf.addr), r.up))
            })
            .collect();
        let old_quorum: HashMap<Vec<ServiceKey>, bool> = old_services
            .iter()
            .map(|v| (v.keys.clone(), v.quorum))
            .collect();
        for (vs, per_rs) in config.virtual_servers.iter().zip(probes) {
            let keys = plan::service_keys(vs, &config.vs_groups);
            let mut servers = Vec::new();
            for (rs, per_ck) in vs.real_servers.iter().zip(per_rs) {
                let mut ids = Vec::new();
                for (c, probe) in rs.checkers.iter().zip(per_ck) {
                    let identity = CheckerIdentity {
                        keys: keys.clone(),
                        rs: rs.addr,
                        conf: c.clone(),
                        suspend_on: suspend_addresses(vs, &keys),
                    };
                    let kept = old_tasks
                        .iter()
                        .find(|(_, t)| t.identity == identity)
                        .map(|(id, _)| *id);
                    if let Some(id) = kept {
                        let t = old_tasks.remove(&id).expect("found above");
                        self.tasks.insert(id, t);
                        ids.push(id);
                        continue;
                    }
                    let id = self.next_id;
                    self.next_id += 1;
                    let initially_up = !rs.alpha;
                    let handle = self.runtime.spawn(check_loop(
                        id,
                        probe,
                        target(rs, c),
                        c.clone(),
                        rs.addr,
                        initially_up,
                        suspend_addresses(vs, &keys),
                        self.tx.clone(),
                    ));
                    self.tasks.insert(
                        id,
                        Task {
                            identity,
                            handle,
                            up: initially_up,
                            weight: None,
                            passed: 0,
                            failed: 0,
                            last_duration: None,
                        },
                    );
                    ids.push(id);
                }
                let up = old_rs
                    .get(&(keys.clone(), rs.addr))
                    .copied()
                    .unwrap_or(!rs.alpha || rs.checkers.is_empty());
                let transitions = old_services
                    .iter()
                    .filter(|v| v.keys == keys)
                    .flat_map(|v| &v.servers)
                    .find(|r| r.conf.addr == rs.addr)
                    .map_or(0, |r| r.transitions);
                servers.push(RsState {
                    conf: rs.clone(),
                    checkers: ids,
                    up,
                    transitions,
                });
            }
            let mut state = VsState {
                conf: vs.clone(),
                keys: keys.clone(),
                servers,
                quorum: old_quorum.get(&keys).copied().unwrap_or(true),
            };
            let live = plan::live_weight(&self.health(&state));
            state.quorum = plan::quorum_after(state.quorum, live, vs.quorum, vs.hysteresis);
            self.services.push(state);
        }
        for (_, t) in old_tasks {
            t.handle.abort();
        }
        self.dirty = true;
        Ok(())
    }

    fn health(&self, vs: &VsState) -> Vec<Health> {
        vs.servers
            .iter()
            .map(|r| Health {
                up: r.up,
                weight: r
                    .checkers
                    .iter()
                    .filter_map(|id| self.tasks.get(id).and_then(|t| t.weight))
                    .next_back()
                    .unwrap_or(r.conf.weight),
            })
            .collect()
    }

    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        let mut last_tick = Instant::now();
        loop {
            if self.plane.get().wants_store() {
                self.dirty = true;
            }
            if self.dirty && self.retry.due(Instant::now()) {
                self.apply();
            }
            let wait = Duration::from_millis(200).saturating_sub(last_tick.elapsed());
            match rx.recv_timeout(wait) {
                Ok(Msg::Verdict {
                    id,
                    up,
                    passed,
                    took,
                    transition,
                    weight,
                    reason,
                }) => {
                    if let Some(t) = self.tasks.get_mut(&id) {
                        if passed {
                            t.passed += 1;
                        } else {
                            t.failed += 1;
                        }
                        t.last_duration = Some(took);
                    }
                    self.verdict(id, up, transition, weight, &reason)
                }
                Ok(Msg::Metrics(page)) => {
                    self.metrics = Some((page, Instant::now() - Duration::from_secs(2)));
                }
                Ok(Msg::Reload(config, reply)) => {
                    let r = self.install(*config);
                    if let Err(e) = &r {
                        tracing::error!(
                            "checkers: reload refused, the running configuration stays: {e}"
                        );
                    }
                    let _ = reply.send(r);
                }
                Ok(Msg::Stop(reply, release)) => {
                    self.shutdown(release);
                    let _ = reply.send(());
                    return;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.shutdown(true);
                    return;
                }
            }
            if last_tick.elapsed() >= Duration::from_millis(200) {
                last_tick = Instant::now();
                self.control_tick();
                self.publish_metrics();
            }
        }
    }

    fn verdict(
        &mut self,
        id: u64,
        up: bool,
        transition: Option<Transition>,
        weight: Option<u32>,
        reason: &str,
    ) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return; // a task of a replaced configuration
        };
        let weight_changed = weight.is_some() && task.weight != weight;
        task.up = up;
        if weight.is_some() {
            task.weight = weight;
        }
        let checker = task.identity.conf.name();
        let rs_addr = task.identity.rs;
        match transition {
            Some(Transition::Down) => tracing::warn!(
                "{checker} on {} failed after {} retries: {reason}",
                rs_name(rs_addr),
                task.identity.conf.common.retry
            ),
            Some(Transition::Up) => {
                tracing::info!("{checker} on {} succeeded: {reason}", rs_name(rs_addr))
            }
            None => {}
        }
        if transition.is_none() && !weight_changed {
            return;
        }
        for v in 0..self.services.len() {
            for r in 0..self.services[v].servers.len() {
                let rs = &self.services[v].servers[r];
                if !rs.checkers.contains(&id) {
                    continue;
                }
                let now_up = rs
                    .checkers
                    .iter()
                    .all(|c| self.tasks.get(c).is_some_and(|t| t.up));
                if now_up != rs.up {
                    let vs = vs_name(&self.services[v].conf);
                    let conf = rs.conf.clone();
                    tracing::info!(
                        "{} real server {} {} virtual server {vs}",
                        if now_up { "Adding" } else { "Removing" },
                        rs_name(conf.addr),
                        if now_up { "to" } else { "from" },
                    );
                    let script = if now_up {
                        &conf.notify_up
                    } else {
                        &conf.notify_down
                    };
                    if let Some(s) = script {
                        scripts::spawn(s);
                    }
                    self.services[v].servers[r].up = now_up;
                    self.services[v].servers[r].transitions += 1;
                }
                self.dirty = true;
            }
            let health = self.health(&self.services[v]);
            let vs = &self.services[v];
            let q = plan::quorum_after(
                vs.quorum,
                plan::live_weight(&health),
                vs.conf.quorum,
                vs.conf.hysteresis,
            );
            if q != vs.quorum {
                tracing::warn!(
                    "virtual server {}: quorum {} (live weight {} against quorum {})",
                    vs_name(&vs.conf),
                    if q { "gained" } else { "lost" },
                    plan::live_weight(&health),
                    vs.conf.quorum
                );
                let script = if q {
                    vs.conf.quorum_up.clone()
                } else {
                    vs.conf.quorum_down.clone()
                };
                if let Some(s) = script {
                    scripts::spawn(&s);
                }
                self.services[v].quorum = q;
                self.dirty = true;
            }
        }
    }

    fn desired(&self) -> Vec<Desired> {
        let mut out = Vec::new();
        for vs in &self.services {
            let dests = plan::dests(&vs.conf, &self.health(vs), vs.quorum);
            for key in &vs.keys {
                out.push(Desired {
                    spec: plan::service_spec(&vs.conf, *key),
                    dests: dests.clone(),
                });
            }
        }
        out
    }

    /// Brings the table in line; on failure keeps `dirty` so that a pass tries again ([`Retry`]). What the
    /// table should hold is worked out afresh from the checkers' state at every try, and `owned` and the
    /// announced routes follow only a store that succeeded, so nothing here drifts from the kernel.
    fn apply(&mut self) {
        let desired = self.desired();
        match self.store(&desired) {
            Ok(()) => {
                self.owned = desired.iter().map(|d| d.spec.key).collect();
                self.dirty = false;
                if let Some(line) = self.retry.succeeded() {
                    tracing::info!("{line}");
                }
                self.announce();
            }
            Err(e) => {
                if let Some(line) = self.retry.failed(Instant::now(), &e.to_string()) {
                    tracing::error!("{line}");
                }
            }
        }
    }

    /// Announces the addresses all of whose services hold their quorum, once the table serves them.
    fn announce(&mut self) {
        let Some(a) = &mut self.announcer else {
            return;
        };
        let mut healthy = std::collections::BTreeSet::new();
        let mut unhealthy = std::collections::BTreeSet::new();
        for vs in &self.services {
            for key in &vs.keys {
                if let ServiceKey::Addr { addr, .. } = key {
                    if vs.quorum {
                        healthy.insert(*addr);
                    } else {
                        unhealthy.insert(*addr);
                    }
                }
            }
        }
        let wanted = healthy.difference(&unhealthy).copied().collect();
        a.set(&wanted);
    }

    fn store(&mut self, desired: &[Desired]) -> Result<(), PlaneError> {
        let plane = self.plane.get();
        // Held until the store: an ipvsadm command in between would otherwise be undone.
        let _lock = plane.lock()?;
        let mut table = plane.load()?.config_only();
        let changed = reconcile(&mut table, desired, &self.owned)
            .map_err(|e| PlaneError::Unsupported(e.to_string()))?;
        // Also when the plane asks for it (the XDP program loaded in the background takes the services).
        if changed || plane.wants_store() {
            plane.store(&table)?;
        }
        Ok(())
    }

    /// Renders the metrics page, at most once a second and only once asked for: the checkers' state, then the
    /// table's counters (a table that cannot be read this time leaves them out; the next second tries again).
    fn publish_metrics(&mut self) {
        let due = self
            .metrics
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() >= Duration::from_secs(1));
        if !due {
            return;
        }
        let views: Vec<metrics::VsView> = self
            .services
            .iter()
            .map(|vs| {
                let health = self.health(vs);
                metrics::VsView {
                    name: vs_name(&vs.conf),
                    quorum: vs.quorum,
                    live_weight: plan::live_weight(&health),
                    quorum_needed: vs.conf.quorum,
                    servers: vs
                        .servers
                        .iter()
                        .zip(&health)
                        .map(|(r, h)| metrics::RsView {
                            addr: r.conf.addr,
                            up: r.up,
                            weight: h.weight,
                            transitions: r.transitions,
                            checkers: r
                                .checkers
                                .iter()
                                .filter_map(|id| self.tasks.get(id))
                                .map(|t| metrics::CheckerView {
                                    kind: t.identity.conf.name().to_string(),
                                    target: target(&r.conf, &t.identity.conf),
                                    up: t.up,
                                    passed: t.passed,
                                    failed: t.failed,
                                    last_duration: t.last_duration,
                                })
                                .collect(),
                        })
                        .collect(),
                }
            })
            .collect();
        let mut page = metrics::render(&views);
        match self.plane.get().load() {
            Ok(table) => page.push_str(&fulcrum_lvs::metrics::render(&table)),
            Err(e) => tracing::debug!("checkers: metrics without the table's counters: {e}"),
        }
        if let Some((p, at)) = self.metrics.as_mut() {
            if let Ok(mut p) = p.lock() {
                *p = page;
            }
            *at = Instant::now();
        }
    }

    /// The connection-count controller for the services this subsystem owns.
    fn control_tick(&mut self) {
        if self.dirty {
            return;
        }
        let nft = match &mut self.plane {
            Plane::Nft(nft) => nft,
            Plane::Xdp(x) => x.nft_mut(),
            Plane::File(_) => return,
        };
        let needed = self.services.iter().any(|v| {
            fulcrum_lvs::controller::DYNAMIC.contains(&v.conf.scheduler.as_str())
                || v.conf.real_servers.iter().any(|r| r.uthreshold > 0)
        });
        if !needed {
            return;
        }
        let owned = &self.owned;
        if let Err(e) = self
            .controller
            .tick_for(nft, &|k: &ServiceKey| owned.contains(k))
        {
            tracing::debug!("checkers: controller pass failed: {e}");
        }
    }

    fn shutdown(&mut self, release: bool) {
        // Withdrawn first, so that the routers stop sending before the services go.
        self.announcer = None;
        for (_, t) in self.tasks.drain() {
            t.handle.abort();
        }
        for vs in &self.services {
            if vs.conf.omega {
                for rs in vs.servers.iter().filter(|r| r.up) {
                    if let Some(s) = &rs.conf.notify_down {
                        scripts::spawn(s);
                    }
                }
                if let Some(s) = &vs.conf.quorum_down {
                    scripts::spawn(s);
                }
            }
        }
        if !release {
            tracing::info!(
                "checkers: leaving {} virtual server(s) in the table (--dont-release-ipvs)",
                self.owned.len()
            );
        } else if let Err(e) = self.store(&[]) {
            tracing::error!("checkers: cannot remove the virtual servers on exit: {e}");
        }
        self.services.clear();
    }
}

/// The addresses `ha_suspend` waits for: the service's virtual addresses (none for fwmark services, which
/// are never suspended).
fn suspend_addresses(vs: &VirtualServer, keys: &[ServiceKey]) -> Option<Vec<IpAddr>> {
    let addrs: Vec<IpAddr> = keys
        .iter()
        .filter_map(|k| match k {
            ServiceKey::Addr { addr, .. } => Some(*addr),
            ServiceKey::Fwmark { .. } => None,
        })
        .collect();
    (vs.ha_suspend && !addrs.is_empty()).then_some(addrs)
}

/// True when one of `addrs` is an address of this host (what a VRRP master adds, so `ha_suspend` follows
/// the instance holding the VIP).
fn any_local(addrs: &[IpAddr]) -> bool {
    let Ok(ifs) = nix::ifaddrs::getifaddrs() else {
        return true;
    };
    ifs.filter_map(|i| i.address).any(|a| {
        let ip = a
            .as_sockaddr_in()
            .map(|v| IpAddr::V4(v.ip()))
            .or_else(|| a.as_sockaddr_in6().map(|v| IpAddr::V6(v.ip())));
        ip.is_some_and(|ip| addrs.contains(&ip))
    })
}

/// How often a suspended checker looks for its virtual address again.
const SUSPEND_POLL: Duration = Duration::from_millis(500);

/// One checker's loop: probe, feed the tracker, report, wait. With `suspend_on` (`ha_suspend`), it probes
/// only while one of those addresses is on this host; while suspended, the verdict stays as it was.
#[allow(clippy::too_many_arguments)]
async fn check_loop(
    id: u64,
    probe: Probe,
    target: SocketAddr,
    conf: CheckerConf,
    rs: SocketAddr,
    initially_up: bool,
    suspend_on: Option<Vec<IpAddr>>,
    tx: mpsc::Sender<Msg>,
) {
    let c = &conf.common;
    let mut tracker = Tracker::new(
        1,
        c.retry + 1,
        c.delay_loop,
        c.delay_before_retry,
        c.delay_loop,
        initially_up,
    );
    if initially_up {
        tracker.force(true);
    }
    if let Some(w) = c.warmup.filter(|w| !w.is_zero()) {
        tokio::time::sleep(random_below(w, id)).await;
    }
    let mut suspended = false;
    loop {
        if let Some(vips) = &suspend_on {
            let here = any_local(vips);
            if here == suspended {
                suspended = !here;
                tracing::info!(
                    "{} on {}: {} (ha_suspend: the virtual address is {} this host)",
                    conf.name(),
                    rs_name(rs),
                    if suspended { "suspended" } else { "resumed" },
                    if suspended { "not on" } else { "on" }
                );
            }
            if suspended {
                tokio::time::sleep(SUSPEND_POLL).await;
                continue;
            }
        }
        let started = Instant::now();
        let result = probe.run(target).await;
        let took = started.elapsed();
        let transition = tracker.record(if result.up {
            CheckResult::Passed
        } else {
            CheckResult::Failed
        });
        if !result.up && transition.is_none() && tracker.is_up() {
            tracing::info!(
                "{} on {}: {} (retrying in {:?})",
                conf.name(),
                rs_name(rs),
                result.reason,
                tracker.next_interval()
            );
        }
        let msg = Msg::Verdict {
            id,
            up: tracker.is_up(),
            passed: result.up,
            took,
            transition,
            weight: result.weight,
            reason: result.reason,
        };
        if tx.send(msg).is_err() {
            return;
        }
        tokio::time::sleep(tracker.next_interval()).await;
    }
}

/// A spread-out start within `max` (keepalived's `warmup`), without a random source: the checker id and the
/// clock decide.
fn random_below(max: Duration, id: u64) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let x = (nanos ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % (max.as_millis().max(1) as u64);
    Duration::from_millis(x)
}
