//! One VRRP instance as a sans-IO state machine (RFC 3768 / RFC 5798, with keepalived's behaviour).
//!
//! The caller feeds [`Event`]s with the current time and carries out the returned [`Action`]s; it asks
//! [`Instance::poll_timeout`] when to deliver the next [`Event::Timer`]. Nothing here owns a socket, a clock or a
//! random number generator, so tests drive it with fake time.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::codec::{Advert, Auth, Version};
use crate::stats::{InstanceStats, PacketError};

/// The protocol states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started, or stopped.
    Initialize,
    /// Listening to a master; takes over when the master-down timer fires.
    Backup,
    /// Holding the virtual addresses and advertising.
    Master,
    /// A tracked interface or script (weight 0) failed, or the instance's interface is down.
    Fault,
}

/// The state named to notify scripts (`notify_master`, ... and `notify`'s third argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyState {
    /// Became master.
    Master,
    /// Became backup.
    Backup,
    /// Entered fault.
    Fault,
    /// Stopped (shutdown or removed by a reload).
    Stop,
}

impl NotifyState {
    /// keepalived's spelling, as passed to `notify` scripts.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyState::Master => "MASTER",
            NotifyState::Backup => "BACKUP",
            NotifyState::Fault => "FAULT",
            NotifyState::Stop => "STOP",
        }
    }
}

/// Something whose health changes an instance's priority or puts it in fault.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TrackKey {
    /// A `vrrp_script` by name.
    Script(String),
    /// A network interface by name (`track_interface`).
    Interface(String),
}

/// One tracked item and how it weighs on the priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// What is tracked.
    pub key: TrackKey,
    /// 0: failure means FAULT. Positive: added while up. Negative: added while down.
    pub weight: i32,
    /// keepalived's `reverse`: the adjustment goes the other way.
    pub reverse: bool,
}

/// Gratuitous ARP / NA schedule after becoming master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpSchedule {
    /// Delay before the second burst (`garp_master_delay`, default 5 s; zero disables it).
    pub delay: Duration,
    /// Frames per burst (`garp_master_repeat`, default 5).
    pub repeat: u32,
    /// Period of refresh bursts while master (`garp_master_refresh`; none by default).
    pub refresh: Option<Duration>,
    /// Frames per refresh burst (`garp_master_refresh_repeat`, default 1).
    pub refresh_repeat: u32,
}

impl Default for GarpSchedule {
    fn default() -> Self {
        GarpSchedule {
            delay: Duration::from_secs(5),
            repeat: 5,
            refresh: None,
            refresh_repeat: 1,
        }
    }
}

/// Everything the state machine needs to know about one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// The `vrrp_instance` name.
    pub name: String,
    /// The interface the instance runs on.
    pub interface: String,
    /// Virtual router id, 1-255.
    pub vrid: u8,
    /// Configured priority, 1-255 (255: address owner, goes straight to master).
    pub priority: u8,
    /// Protocol version.
    pub version: Version,
    /// Advertisement interval (whole seconds for VRRPv2, centiseconds for VRRPv3).
    pub advert_interval: Duration,
    /// Preempt a lower-priority master (`nopreempt` turns it off).
    pub preempt: bool,
    /// Time after start (or after seeing a lower-priority master) before preempting it.
    pub preempt_delay: Duration,
    /// Our primary address on the interface: the advert source and the tie-breaker.
    pub primary_ip: IpAddr,
    /// The addresses listed in adverts.
    pub vips: Vec<IpAddr>,
    /// VRRPv2 authentication sent and required.
    pub auth: Auth,
    /// Drop adverts not received with TTL / hop limit 255 (on for multicast; keepalived skips it for unicast).
    pub check_ttl: bool,
    /// Gratuitous ARP schedule.
    pub garp: GarpSchedule,
    /// Tracked scripts and interfaces.
    pub tracks: Vec<Tracked>,
    /// The instance has `virtual_routes`: [`Action::AddRoutes`] / [`Action::RemoveRoutes`] are emitted.
    pub routes: bool,
    /// RFC 5798 Accept_Mode (`accept`, the default). When off (`no_accept`) and the priority is below 255,
    /// [`Action::BlockVips`] / [`Action::UnblockVips`] are emitted around the time as master.
    pub accept: bool,
}

impl InstanceConfig {
    /// Whether traffic to the virtual addresses is dropped while master: `no_accept` and not the address owner
    /// (the owner always accepts it).
    pub fn blocks_vips(&self) -> bool {
        !self.accept && self.priority != 255
    }
}

/// An input to the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Start the instance (from Initialize).
    Start,
    /// The time returned by [`Instance::poll_timeout`] has come.
    Timer,
    /// A decoded advert for this instance's VRID arrived.
    AdvertReceived {
        /// Source address of the IP packet.
        src: IpAddr,
        /// The advert.
        advert: Advert,
        /// TTL / hop limit it arrived with.
        ttl: u8,
    },
    /// The instance's own interface came up.
    InterfaceUp,
    /// The instance's own interface went down.
    InterfaceDown,
    /// A tracked script or interface changed health.
    TrackChanged {
        /// What changed.
        key: TrackKey,
        /// Whether it is now healthy.
        ok: bool,
    },
    /// Stop: a master sends priority 0 and gives up its addresses.
    Shutdown,
}

/// What the driver must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send one advert with this priority (build it with [`Instance::advert`]).
    SendAdvert {
        /// Priority to advertise (0 when leaving master).
        priority: u8,
    },
    /// Add every virtual address to the interface.
    AddVips,
    /// Remove every virtual address from the interface (absent ones are fine).
    RemoveVips,
    /// Add every virtual route (after [`Action::AddVips`], so a route's `src` may be a virtual address;
    /// present ones are fine).
    AddRoutes,
    /// Remove every virtual route (before [`Action::RemoveVips`]; absent ones are fine).
    RemoveRoutes,
    /// `no_accept`: start dropping traffic to the virtual addresses (other than VRRP and neighbour discovery);
    /// comes before [`Action::AddVips`], so no packet is accepted in between.
    BlockVips,
    /// `no_accept`: stop dropping traffic to the virtual addresses (after [`Action::RemoveVips`]).
    UnblockVips,
    /// Send a burst of gratuitous ARPs / unsolicited NAs for every virtual address.
    SendGarp {
        /// Frames per address.
        count: u32,
    },
    /// Run the notify scripts for a state change.
    Notify {
        /// New state.
        state: NotifyState,
        /// Effective priority at the time.
        priority: u8,
    },
}

/// Why a received advert was dropped (for counters and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Not in Backup or Master.
    NotRunning,
    /// TTL / hop limit not 255.
    BadTtl,
    /// Another VRID.
    OtherVrid,
    /// Another protocol version.
    OtherVersion,
    /// VRRPv2 auth type other than ours.
    AuthTypeMismatch,
    /// VRRPv2 password other than ours.
    AuthFailure,
    /// VRRPv2 advert with another interval.
    IntervalMismatch,
    /// Our own advert looped back.
    OwnAdvert,
}

/// One VRRP instance.
#[derive(Debug)]
pub struct Instance {
    cfg: InstanceConfig,
    state: State,
    iface_up: bool,
    track_ok: Vec<bool>,
    group_fault: bool,
    master_adv_interval: Duration,
    /// The priority of the last advert obeyed as a backup (0 until one is): keepalived's `master_priority`.
    master_priority: u8,
    adver_timer: Option<Instant>,
    master_down_timer: Option<Instant>,
    preempt_until: Option<Instant>,
    garp_timer: Option<Instant>,
    garp_refresh_timer: Option<Instant>,
    last_drop: Option<DropReason>,
    /// Why the state last changed (`not started` before the start), for the metrics and the cluster page.
    last_reason: String,
    /// The master in sight resigned (its last advert had priority 0): the next takeover says so.
    master_resigned: bool,
    dropped: u64,
    stats: InstanceStats,
    span: tracing::Span,
}

impl Instance {
    /// A stopped instance. The interface is assumed up and every tracked item healthy until told otherwise.
    pub fn new(cfg: InstanceConfig) -> Instance {
        let span = tracing::info_span!("vrrp_instance", name = %cfg.name, vrid = cfg.vrid);
        Instance {
            track_ok: vec![true; cfg.tracks.len()],
            master_adv_interval: cfg.advert_interval,
            cfg,
            state: State::Initialize,
            iface_up: true,
            group_fault: false,
            master_priority: 0,
            adver_timer: None,
            master_down_timer: None,
            preempt_until: None,
            garp_timer: None,
            garp_refresh_timer: None,
            last_drop: None,
            last_reason: "not started".to_string(),
            master_resigned: false,
            dropped: 0,
            stats: InstanceStats::default(),
            span,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The master's advert interval as known here (a VRRPv3 backup adopts the master's).
    pub fn master_adv_interval(&self) -> Duration {
        self.master_adv_interval
    }

    /// The priority of the last master this instance obeyed as a backup (0 until it has obeyed one).
    pub fn master_priority(&self) -> u8 {
        self.master_priority
    }

    /// Why the last dropped advert was dropped, and how many were.
    pub fn drops(&self) -> (Option<DropReason>, u64) {
        (self.last_drop, self.dropped)
    }

    /// The counters (keepalived's statistics).
    pub fn stats(&self) -> &InstanceStats {
        &self.stats
    }

    /// Zeroes the counters (keepalived's STATS_CLEAR).
    pub fn clear_stats(&mut self) {
        self.stats = InstanceStats::default();
    }

    /// Counts a packet for this instance's VRID that did not decode. Changes nothing else: no state, no timer.
    pub fn record_packet_error(&mut self, e: PacketError) {
        self.stats.count(e);
    }

    /// Whether a tracked item, the interface or a sync-group peer holds this instance in fault.
    pub fn is_faulty(&self) -> bool {
        self.own_fault() || self.group_fault
    }

    /// Whether this instance itself (not its sync group) must be in fault.
    pub fn own_fault(&self) -> bool {
        !self.iface_up
            || self
                .cfg
                .tracks
                .iter()
                .zip(&self.track_ok)
                .any(|(t, ok)| t.weight == 0 && !*ok)
    }

    /// Why the state last changed, in words (`higher-priority advert 105 from 198.18.0.2 (ours 100)`, `no advert
    /// for the master down interval`, `tracked interface eth1 down`, ...).
    pub fn last_reason(&self) -> &str {
        &self.last_reason
    }

    /// Why this instance is in fault, in words (the first cause found).
    fn fault_reason(&self) -> String {
        if !self.iface_up {
            return format!("interface {} down", self.cfg.interface);
        }
        for (t, ok) in self.cfg.tracks.iter().zip(&self.track_ok) {
            if t.weight == 0 && !*ok {
                return match &t.key {
                    TrackKey::Interface(n) => format!("tracked interface {n} down"),
                    TrackKey::Script(n) => format!("tracked script {n} failed"),
                };
            }
        }
        if self.group_fault {
            return "its sync group is in FAULT".to_string();
        }
        "fault".to_string()
    }

    /// Each tracked item (the configuration's `tracks`, in order) with whether it is healthy now.
    pub fn tracked(&self) -> impl Iterator<Item = (&Tracked, bool)> {
        self.cfg.tracks.iter().zip(self.track_ok.iter().copied())
    }

    /// The priority after tracked weights: 255 stays 255; otherwise clamped to 1-254.
    pub fn effective_priority(&self) -> u8 {
        if self.cfg.priority == 255 {
            return 255;
        }
        let mut p = i32::from(self.cfg.priority);
        for (t, ok) in self.cfg.tracks.iter().zip(&self.track_ok) {
            let applies = if t.weight > 0 { *ok } else { !*ok };
            if t.weight != 0 && applies {
                p += if t.reverse { -t.weight } else { t.weight };
            }
        }
        p.clamp(1, 254) as u8
    }

    /// The advert this instance sends with `priority`.
    pub fn advert(&self, priority: u8) -> Advert {
        let cs = (self.cfg.advert_interval.as_millis() / 10).clamp(1, 0x0fff) as u16;
        Advert {
            version: self.cfg.version,
            vrid: self.cfg.vrid,
            priority,
            interval_cs: cs,
            addrs: self.cfg.vips.clone(),
            auth: match self.cfg.version {
                Version::V2 => self.cfg.auth,
                Version::V3 => Auth::None,
            },
        }
    }

    /// Skew_Time for our effective priority.
    pub fn skew_time(&self) -> Duration {
        let p = 256 - u32::from(self.effective_priority());
        match self.cfg.version {
            Version::V2 => Duration::from_secs(1) * p / 256,
            Version::V3 => self.master_adv_interval * p / 256,
        }
    }

    /// Master_Down_Interval = 3 x Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        self.master_adv_interval * 3 + self.skew_time()
    }

    /// When the next [`Event::Timer`] is due, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.adver_timer,
            self.master_down_timer,
            self.garp_timer,
            self.garp_refresh_timer,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Feeds one event; returns what to do, in order.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        let span = self.span.clone();
        let _g = span.enter();
        let mut out = Vec::new();
        match event {
            Event::Start => self.start(now, &mut out),
            Event::Timer => self.on_timer(now, &mut out),
            Event::AdvertReceived { src, advert, ttl } => {
                match self.on_advert(now, src, &advert, ttl, &mut out) {
                    Ok(()) => {
                        self.stats.adverts_received += 1;
                        if advert.priority == 0 {
                            self.stats.priority_zero_received += 1;
                        }
                    }
                    Err(reason) => {
                        tracing::debug!(?reason, %src, "advert dropped");
                        self.last_drop = Some(reason);
                        self.dropped += 1;
                        let counter = match reason {
                            DropReason::BadTtl => Some(&mut self.stats.ttl_errors),
                            DropReason::OtherVersion => Some(&mut self.stats.version_errors),
                            DropReason::AuthTypeMismatch => {
                                Some(&mut self.stats.auth_type_mismatch)
                            }
                            DropReason::AuthFailure => Some(&mut self.stats.auth_failure),
                            DropReason::IntervalMismatch => {
                                Some(&mut self.stats.advert_interval_errors)
                            }
                            DropReason::NotRunning
                            | DropReason::OtherVrid
                            | DropReason::OwnAdvert => None,
                        };
                        if let Some(c) = counter {
                            *c = c.saturating_add(1);
                        }
                    }
                }
            }
            Event::InterfaceUp => {
                self.iface_up = true;
                self.reevaluate(now, &mut out);
            }
            Event::InterfaceDown => {
                self.iface_up = false;
                self.reevaluate(now, &mut out);
            }
            Event::TrackChanged { key, ok } => {
                for (t, slot) in self.cfg.tracks.iter().zip(self.track_ok.iter_mut()) {
                    if t.key == key {
                        *slot = ok;
                    }
                }
                self.reevaluate(now, &mut out);
            }
            Event::Shutdown => self.shutdown(&mut out),
        }
        out
    }

    /// Sets or clears the fault imposed by a sync-group peer.
    pub fn set_group_fault(&mut self, now: Instant, fault: bool) -> Vec<Action> {
        let mut out = Vec::new();
        if self.group_fault != fault {
            self.group_fault = fault;
            self.reevaluate(now, &mut out);
        }
        out
    }

    /// Moves a running, non-faulty instance to Master or Backup because its sync group did.
    pub fn force(&mut self, now: Instant, state: State) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state == state || self.is_faulty() {
            return out;
        }
        match (self.state, state) {
            (State::Backup, State::Master) => {
                self.last_reason = "its sync group went MASTER".to_string();
                self.become_master(now, &mut out)
            }
            (State::Master, State::Backup) => {
                self.last_reason = "its sync group went BACKUP".to_string();
                self.become_backup(now, true, &mut out)
            }
            _ => {}
        }
        out
    }

    /// Replaces the configuration (after a reload) keeping the state; tracked health is kept by key.
    pub fn reconfigure(&mut self, cfg: InstanceConfig) {
        let old: Vec<(TrackKey, bool)> = self
            .cfg
            .tracks
            .iter()
            .map(|t| t.key.clone())
            .zip(self.track_ok.iter().copied())
            .collect();
        self.track_ok = cfg
            .tracks
            .iter()
            .map(|t| {
                old.iter()
                    .find(|(k, _)| *k == t.key)
                    .map(|(_, ok)| *ok)
                    .unwrap_or(true)
            })
            .collect();
        if cfg.version == Version::V2 || self.state != State::Backup {
            self.master_adv_interval = cfg.advert_interval;
        }
        self.cfg = cfg;
    }

    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state != State::Initialize {
            return;
        }
        if !self.cfg.preempt_delay.is_zero() {
            self.preempt_until = Some(now + self.cfg.preempt_delay);
        }
        if self.is_faulty() {
            self.remove_stale(out);
            self.enter_fault(out);
        } else if self.effective_priority() == 255 {
            self.last_reason = "started with priority 255 (address owner)".to_string();
            self.become_master(now, out);
        } else {
            self.last_reason = "started".to_string();
            self.remove_stale(out);
            self.become_backup(now, false, out);
        }
    }

    /// What a previous run may have left behind (after SIGKILL): routes, then addresses.
    fn remove_stale(&self, out: &mut Vec<Action>) {
        if self.cfg.routes {
            out.push(Action::RemoveRoutes);
        }
        out.push(Action::RemoveVips);
    }

    /// Gives up what a master holds: its routes, its addresses, then the `no_accept` filter.
    fn release(&mut self, out: &mut Vec<Action>) {
        self.stats.released_master += 1;
        if self.cfg.routes {
            out.push(Action::RemoveRoutes);
        }
        out.push(Action::RemoveVips);
        if self.cfg.blocks_vips() {
            out.push(Action::UnblockVips);
        }
    }

    fn shutdown(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Initialize {
            return;
        }
        if self.state == State::Master {
            self.send_advert(0, out);
            self.release(out);
        }
        tracing::info!("entering STOP");
        self.last_reason = "stopping".to_string();
        self.state = State::Initialize;
        self.clear_timers();
        out.push(Action::Notify {
            state: NotifyState::Stop,
            priority: self.effective_priority(),
        });
    }

    fn reevaluate(&mut self, now: Instant, out: &mut Vec<Action>) {
        match (self.state, self.is_faulty()) {
            (State::Initialize, _) => {}
            (State::Fault, false) => {
                self.last_reason = "out of fault".to_string();
                if self.effective_priority() == 255 {
                    self.become_master(now, out);
                } else {
                    self.become_backup(now, false, out);
                }
            }
            (State::Backup | State::Master, true) => self.enter_fault(out),
            _ => {}
        }
    }

    fn on_timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.state {
            State::Master => {
                if self.adver_timer.is_some_and(|t| t <= now) {
                    self.send_advert(self.effective_priority(), out);
                    self.adver_timer = Some(now + self.cfg.advert_interval);
                }
                if self.garp_timer.is_some_and(|t| t <= now) {
                    out.push(Action::SendGarp {
                        count: self.cfg.garp.repeat,
                    });
                    self.garp_timer = None;
                }
                if let (Some(t), Some(every)) = (self.garp_refresh_timer, self.cfg.garp.refresh) {
                    if t <= now {
                        out.push(Action::SendGarp {
                            count: self.cfg.garp.refresh_repeat,
                        });
                        self.garp_refresh_timer = Some(now + every);
                    }
                }
            }
            State::Backup => {
                if self.master_down_timer.is_some_and(|t| t <= now) {
                    self.last_reason = if self.master_resigned {
                        "the master resigned (priority 0 advert)".to_string()
                    } else {
                        "no advert for the master down interval".to_string()
                    };
                    self.become_master(now, out);
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    fn on_advert(
        &mut self,
        now: Instant,
        src: IpAddr,
        adv: &Advert,
        ttl: u8,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        if !matches!(self.state, State::Backup | State::Master) {
            return Err(DropReason::NotRunning);
        }
        if self.cfg.check_ttl && ttl != crate::codec::VRRP_TTL {
            return Err(DropReason::BadTtl);
        }
        if adv.vrid != self.cfg.vrid {
            return Err(DropReason::OtherVrid);
        }
        if adv.version != self.cfg.version {
            return Err(DropReason::OtherVersion);
        }
        if src == self.cfg.primary_ip {
            return Err(DropReason::OwnAdvert);
        }
        if self.cfg.version == Version::V2 {
            if std::mem::discriminant(&adv.auth) != std::mem::discriminant(&self.cfg.auth) {
                return Err(DropReason::AuthTypeMismatch);
            }
            if adv.auth != self.cfg.auth {
                return Err(DropReason::AuthFailure);
            }
            if Duration::from_millis(u64::from(adv.interval_cs) * 10) != self.cfg.advert_interval {
                return Err(DropReason::IntervalMismatch);
            }
        }
        if !same_addresses(&adv.addrs, &self.cfg.vips) {
            // Logged and counted, and accepted all the same, as keepalived does.
            tracing::debug!(%src, "advert's address list differs from ours");
            self.stats.address_list_errors += 1;
        }
        let adv_interval = Duration::from_millis(u64::from(adv.interval_cs) * 10);
        let ours = self.effective_priority();
        match self.state {
            State::Backup => {
                if adv.priority == 0 {
                    self.master_down_timer = Some(now + self.skew_time());
                    self.master_resigned = true;
                    return Ok(());
                }
                let mut accept = !self.cfg.preempt || adv.priority >= ours;
                if !accept && !self.cfg.preempt_delay.is_zero() {
                    let until = *self
                        .preempt_until
                        .get_or_insert(now + self.cfg.preempt_delay);
                    accept = now < until;
                }
                if accept {
                    if adv.priority >= ours && self.preempt_until.is_some_and(|u| u <= now) {
                        // A new lower-priority master starts a new preempt delay.
                        self.preempt_until = None;
                    }
                    if self.cfg.version == Version::V3 {
                        self.master_adv_interval = adv_interval;
                    }
                    self.master_priority = adv.priority;
                    self.master_resigned = false;
                    self.master_down_timer = Some(now + self.master_down_interval());
                }
            }
            State::Master => {
                if adv.priority == 0 {
                    self.send_advert(ours, out);
                    self.adver_timer = Some(now + self.cfg.advert_interval);
                } else if adv.priority > ours || (adv.priority == ours && src > self.cfg.primary_ip)
                {
                    if self.cfg.version == Version::V3 {
                        self.master_adv_interval = adv_interval;
                    }
                    self.last_reason = format!(
                        "{} advert {} from {src} (ours {ours})",
                        if adv.priority > ours {
                            "higher-priority"
                        } else {
                            "equal-priority, higher-address"
                        },
                        adv.priority
                    );
                    self.become_backup(now, true, out);
                } else {
                    // A lower-priority (or losing equal-priority) master: answer at once to end the election,
                    // and refresh the neighbours' caches, which that master may have taken over: a burst of
                    // gratuitous ARPs now and another after the master delay (keepalived's
                    // `garp_lower_prio_repeat` / `garp_lower_prio_delay`, which default to the master's values).
                    self.send_advert(ours, out);
                    self.adver_timer = Some(now + self.cfg.advert_interval);
                    if self.cfg.garp.repeat > 0 {
                        out.push(Action::SendGarp {
                            count: self.cfg.garp.repeat,
                        });
                        if !self.cfg.garp.delay.is_zero() {
                            self.garp_timer = Some(now + self.cfg.garp.delay);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn become_master(&mut self, now: Instant, out: &mut Vec<Action>) {
        tracing::info!(priority = self.effective_priority(), reason = %self.last_reason, "entering MASTER");
        self.state = State::Master;
        self.stats.became_master += 1;
        self.clear_timers();
        self.master_adv_interval = self.cfg.advert_interval;
        let priority = self.effective_priority();
        self.send_advert(priority, out);
        if self.cfg.blocks_vips() {
            out.push(Action::BlockVips);
        }
        out.push(Action::AddVips);
        if self.cfg.routes {
            out.push(Action::AddRoutes);
        }
        out.push(Action::SendGarp {
            count: self.cfg.garp.repeat,
        });
        out.push(Action::Notify {
            state: NotifyState::Master,
            priority,
        });
        self.adver_timer = Some(now + self.cfg.advert_interval);
        if !self.cfg.garp.delay.is_zero() {
            self.garp_timer = Some(now + self.cfg.garp.delay);
        }
        self.garp_refresh_timer = self.cfg.garp.refresh.map(|r| now + r);
    }

    fn become_backup(&mut self, now: Instant, from_master: bool, out: &mut Vec<Action>) {
        tracing::info!(priority = self.effective_priority(), reason = %self.last_reason, "entering BACKUP");
        if from_master {
            self.release(out);
        } else {
            self.master_adv_interval = self.cfg.advert_interval;
        }
        self.state = State::Backup;
        self.clear_timers();
        self.master_down_timer = Some(now + self.master_down_interval());
        out.push(Action::Notify {
            state: NotifyState::Backup,
            priority: self.effective_priority(),
        });
    }

    fn enter_fault(&mut self, out: &mut Vec<Action>) {
        self.last_reason = self.fault_reason();
        tracing::warn!(reason = %self.last_reason, "entering FAULT");
        if self.state == State::Master {
            if self.iface_up {
                self.send_advert(0, out);
            }
            self.release(out);
        }
        self.state = State::Fault;
        self.clear_timers();
        out.push(Action::Notify {
            state: NotifyState::Fault,
            priority: self.effective_priority(),
        });
    }

    /// Emits an advert and counts it.
    fn send_advert(&mut self, priority: u8, out: &mut Vec<Action>) {
        self.stats.adverts_sent += 1;
        if priority == 0 {
            self.stats.priority_zero_sent += 1;
        }
        out.push(Action::SendAdvert { priority });
    }

    fn clear_timers(&mut self) {
        self.adver_timer = None;
        self.master_down_timer = None;
        self.garp_timer = None;
        self.garp_refresh_timer = None;
    }
}

/// Whether two address lists hold the same addresses, in any order.
fn same_addresses(a: &[IpAddr], b: &[IpAddr]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}
