//! Fake-time tests of every transition of [`Instance`] and of sync groups in [`Node`].

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::codec::{Advert, Auth, Version};
use crate::instance::*;
use crate::node::{GroupConfig, Node, NodeAction};

const ME: &str = "198.18.0.2";
const LOWER: &str = "198.18.0.1";
const HIGHER: &str = "198.18.0.3";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg(priority: u8) -> InstanceConfig {
    InstanceConfig {
        name: "VI_1".into(),
        interface: "eth0".into(),
        vrid: 51,
        priority,
        version: Version::V2,
        advert_interval: Duration::from_secs(1),
        preempt: true,
        preempt_delay: Duration::ZERO,
        primary_ip: ip(ME),
        vips: vec![ip("198.18.0.100")],
        auth: Auth::pass("s3cret"),
        check_ttl: true,
        garp: GarpSchedule::default(),
        tracks: vec![],
        routes: false,
        accept: true,
    }
}

fn v3cfg(priority: u8) -> InstanceConfig {
    InstanceConfig {
        version: Version::V3,
        auth: Auth::None,
        ..cfg(priority)
    }
}

fn advert_from(inst: &Instance, priority: u8) -> Advert {
    let mut a = inst.advert(priority);
    a.priority = priority;
    a
}

fn rx(inst: &Instance, src: &str, priority: u8) -> Event {
    Event::AdvertReceived {
        src: ip(src),
        advert: advert_from(inst, priority),
        ttl: 255,
    }
}

fn notify(state: NotifyState, priority: u8) -> Action {
    Action::Notify { state, priority }
}

fn master_actions(p: u8) -> Vec<Action> {
    vec![
        Action::SendAdvert { priority: p },
        Action::AddVips,
        Action::SendGarp { count: 5 },
        notify(NotifyState::Master, p),
    ]
}

/// An instance started at t0, in Backup.
fn backup(c: InstanceConfig) -> (Instance, Instant) {
    let t0 = Instant::now();
    let mut i = Instance::new(c);
    let p = i.effective_priority();
    assert_eq!(
        i.handle(t0, Event::Start),
        vec![Action::RemoveVips, notify(NotifyState::Backup, p)]
    );
    assert_eq!(i.state(), State::Backup);
    (i, t0)
}

/// An instance that became master at the returned time.
fn master(c: InstanceConfig) -> (Instance, Instant) {
    let (mut i, _t0) = backup(c);
    let t = i.poll_timeout().unwrap();
    let p = i.effective_priority();
    assert_eq!(i.handle(t, Event::Timer), master_actions(p));
    (i, t)
}

#[test]
fn new_instance_is_initialize_without_timers() {
    let i = Instance::new(cfg(100));
    assert_eq!(i.state(), State::Initialize);
    assert_eq!(i.poll_timeout(), None);
}

#[test]
fn start_below_255_goes_backup_with_master_down_timer() {
    let (i, t0) = backup(cfg(100));
    // 3 x 1 s + (256-100)/256 s
    assert_eq!(
        i.master_down_interval(),
        Duration::from_secs(3) + Duration::from_secs(156) / 256
    );
    assert_eq!(i.poll_timeout(), Some(t0 + i.master_down_interval()));
}

#[test]
fn start_with_255_goes_straight_to_master() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(255));
    assert_eq!(i.handle(t0, Event::Start), master_actions(255));
    assert_eq!(i.state(), State::Master);
    assert_eq!(i.poll_timeout(), Some(t0 + Duration::from_secs(1)));
}

#[test]
fn start_twice_is_ignored() {
    let (mut i, t0) = backup(cfg(100));
    assert!(i.handle(t0, Event::Start).is_empty());
}

#[test]
fn backup_timer_early_does_nothing_then_becomes_master() {
    let (mut i, t0) = backup(cfg(100));
    let deadline = i.poll_timeout().unwrap();
    assert!(i.handle(deadline - ms(1), Event::Timer).is_empty());
    assert_eq!(i.state(), State::Backup);
    assert_eq!(i.handle(deadline, Event::Timer), master_actions(100));
    assert_eq!(i.state(), State::Master);
    assert!(deadline > t0);
}

#[test]
fn master_advertises_every_interval() {
    let (mut i, t) = master(cfg(100));
    assert_eq!(i.poll_timeout(), Some(t + Duration::from_secs(1)));
    let t1 = t + Duration::from_secs(1);
    assert_eq!(
        i.handle(t1, Event::Timer),
        vec![Action::SendAdvert { priority: 100 }]
    );
    assert_eq!(i.poll_timeout(), Some(t1 + Duration::from_secs(1)));
}

#[test]
fn master_sends_second_garp_burst_after_delay_and_refreshes() {
    let mut c = cfg(100);
    c.garp.refresh = Some(Duration::from_secs(7));
    c.garp.refresh_repeat = 2;
    let (mut i, t) = master(c);
    let mut garps = vec![];
    for s in 1..=8 {
        for a in i.handle(t + Duration::from_secs(s), Event::Timer) {
            if let Action::SendGarp { count } = a {
                garps.push((s, count));
            }
        }
    }
    assert_eq!(garps, vec![(5, 5), (7, 2)]);
}

#[test]
fn zero_garp_delay_means_one_burst() {
    let mut c = cfg(100);
    c.garp.delay = Duration::ZERO;
    let (mut i, t) = master(c);
    for s in 1..=10 {
        let acts = i.handle(t + Duration::from_secs(s), Event::Timer);
        assert!(!acts.iter().any(|a| matches!(a, Action::SendGarp { .. })));
    }
}

#[test]
fn backup_resets_timer_on_higher_priority_advert() {
    let (mut i, t0) = backup(cfg(100));
    let t = t0 + Duration::from_secs(2);
    let ev = rx(&i, HIGHER, 150);
    assert!(i.handle(t, ev).is_empty());
    assert_eq!(i.poll_timeout(), Some(t + i.master_down_interval()));
}

#[test]
fn backup_resets_timer_on_equal_priority_advert_from_lower_ip() {
    let (mut i, t0) = backup(cfg(100));
    let t = t0 + Duration::from_secs(2);
    let ev = rx(&i, LOWER, 100);
    i.handle(t, ev);
    assert_eq!(i.poll_timeout(), Some(t + i.master_down_interval()));
}

#[test]
fn preempting_backup_ignores_lower_priority_master() {
    let (mut i, t0) = backup(cfg(100));
    let deadline = i.poll_timeout().unwrap();
    let ev = rx(&i, HIGHER, 50);
    assert!(i.handle(t0 + Duration::from_secs(2), ev).is_empty());
    assert_eq!(i.poll_timeout(), Some(deadline));
    assert_eq!(i.handle(deadline, Event::Timer), master_actions(100));
}

#[test]
fn nopreempt_backup_accepts_lower_priority_master() {
    let mut c = cfg(100);
    c.preempt = false;
    let (mut i, t0) = backup(c);
    let t = t0 + Duration::from_secs(2);
    let ev = rx(&i, HIGHER, 50);
    i.handle(t, ev);
    assert_eq!(i.poll_timeout(), Some(t + i.master_down_interval()));
}

#[test]
fn preempt_delay_defers_preemption() {
    let mut c = cfg(100);
    c.preempt_delay = Duration::from_secs(10);
    let (mut i, t0) = backup(c);
    // Within the delay after start, a lower-priority master is obeyed.
    for s in 1..=9 {
        let ev = rx(&i, HIGHER, 50);
        i.handle(t0 + Duration::from_secs(s), ev);
        assert_eq!(i.state(), State::Backup);
    }
    let last = t0 + Duration::from_secs(9);
    assert_eq!(i.poll_timeout(), Some(last + i.master_down_interval()));
    // After it, the lower master is ignored and the timer runs out.
    let ev = rx(&i, HIGHER, 50);
    i.handle(t0 + Duration::from_secs(11), ev);
    assert_eq!(i.poll_timeout(), Some(last + i.master_down_interval()));
    assert_eq!(
        i.handle(last + i.master_down_interval(), Event::Timer),
        master_actions(100)
    );
}

#[test]
fn backup_priority_zero_advert_sets_skew_timer() {
    let (mut i, t0) = backup(cfg(100));
    let t = t0 + Duration::from_secs(1);
    let ev = rx(&i, HIGHER, 0);
    i.handle(t, ev);
    assert_eq!(i.poll_timeout(), Some(t + Duration::from_secs(156) / 256));
}

#[test]
fn reference_sigterm_takeover_is_skew_time() {
    // Observed with keepalived: 0.61 s after the priority-0 advert (priority 100 backup).
    let (mut i, t0) = backup(cfg(100));
    let ev = rx(&i, HIGHER, 0);
    i.handle(t0, ev);
    let took = i.poll_timeout().unwrap() - t0;
    assert!(took > ms(600) && took < ms(620), "{took:?}");
}

#[test]
fn reference_sigkill_takeover_is_three_intervals_plus_skew() {
    let (mut i, t0) = backup(cfg(100));
    let ev = rx(&i, HIGHER, 150);
    i.handle(t0, ev);
    let took = i.poll_timeout().unwrap() - t0;
    assert!(took > ms(3600) && took < ms(3620), "{took:?}");
}

#[test]
fn master_steps_down_on_higher_priority() {
    let (mut i, t) = master(cfg(100));
    let ev = rx(&i, LOWER, 150);
    assert_eq!(
        i.handle(t, ev),
        vec![Action::RemoveVips, notify(NotifyState::Backup, 100)]
    );
    assert_eq!(i.state(), State::Backup);
    assert_eq!(i.poll_timeout(), Some(t + i.master_down_interval()));
}

#[test]
fn master_equal_priority_higher_ip_wins() {
    let (mut i, t) = master(cfg(100));
    let ev = rx(&i, HIGHER, 100);
    assert_eq!(
        i.handle(t, ev),
        vec![Action::RemoveVips, notify(NotifyState::Backup, 100)]
    );
}

#[test]
fn master_equal_priority_lower_ip_is_answered_at_once() {
    let (mut i, t) = master(cfg(100));
    let t1 = t + ms(300);
    let ev = rx(&i, LOWER, 100);
    assert_eq!(
        i.handle(t1, ev),
        vec![
            Action::SendAdvert { priority: 100 },
            Action::SendGarp { count: 5 }
        ]
    );
    assert_eq!(i.state(), State::Master);
    assert_eq!(i.poll_timeout(), Some(t1 + Duration::from_secs(1)));
}

#[test]
fn master_answers_lower_priority_at_once() {
    let (mut i, t) = master(cfg(100));
    let t1 = t + Duration::from_secs(10);
    // The garp burst of becoming master is long done.
    let _ = i.handle(t + Duration::from_secs(6), Event::Timer);
    let ev = rx(&i, HIGHER, 50);
    // An advert, and gratuitous ARPs now and again after the master delay (5 s), as keepalived's
    // garp_lower_prio_repeat / garp_lower_prio_delay defaults.
    assert_eq!(
        i.handle(t1, ev),
        vec![
            Action::SendAdvert { priority: 100 },
            Action::SendGarp { count: 5 }
        ]
    );
    assert_eq!(i.state(), State::Master);
    let later = t1 + Duration::from_secs(5);
    let acts = i.handle(later, Event::Timer);
    assert!(acts.contains(&Action::SendGarp { count: 5 }), "{acts:?}");
}

#[test]
fn backup_knows_the_priority_of_the_master_it_obeys() {
    let (mut i, t) = backup(cfg(100));
    assert_eq!(i.master_priority(), 0);
    let ev = rx(&i, HIGHER, 150);
    let _ = i.handle(t, ev);
    assert_eq!(i.master_priority(), 150);
}

#[test]
fn master_answers_priority_zero_at_once() {
    let (mut i, t) = master(cfg(100));
    let t1 = t + ms(500);
    let ev = rx(&i, HIGHER, 0);
    assert_eq!(i.handle(t1, ev), vec![Action::SendAdvert { priority: 100 }]);
    assert_eq!(i.poll_timeout(), Some(t1 + Duration::from_secs(1)));
}

#[test]
fn master_shutdown_sends_priority_zero_and_removes_vips() {
    let (mut i, t) = master(cfg(100));
    assert_eq!(
        i.handle(t, Event::Shutdown),
        vec![
            Action::SendAdvert { priority: 0 },
            Action::RemoveVips,
            notify(NotifyState::Stop, 100)
        ]
    );
    assert_eq!(i.state(), State::Initialize);
    assert_eq!(i.poll_timeout(), None);
    assert!(i.handle(t, Event::Shutdown).is_empty());
}

#[test]
fn backup_shutdown_only_notifies() {
    let (mut i, t) = backup(cfg(100));
    assert_eq!(
        i.handle(t, Event::Shutdown),
        vec![notify(NotifyState::Stop, 100)]
    );
}

#[test]
fn ttl_other_than_255_is_dropped_unless_unchecked() {
    let (mut i, t0) = backup(cfg(100));
    let deadline = i.poll_timeout().unwrap();
    let ev = Event::AdvertReceived {
        src: ip(HIGHER),
        advert: i.advert(150),
        ttl: 64,
    };
    i.handle(t0 + ms(10), ev.clone());
    assert_eq!(i.poll_timeout(), Some(deadline));
    assert_eq!(i.drops(), (Some(DropReason::BadTtl), 1));

    let mut c = cfg(100);
    c.check_ttl = false;
    let (mut j, t0) = backup(c);
    j.handle(t0 + ms(10), ev);
    assert_eq!(
        j.poll_timeout(),
        Some(t0 + ms(10) + j.master_down_interval())
    );
}

#[test]
fn invalid_adverts_are_dropped() {
    let (mut i, t0) = backup(cfg(100));
    let deadline = i.poll_timeout().unwrap();
    let cases: Vec<(Advert, &str, DropReason)> = vec![
        (
            Advert {
                auth: Auth::pass("wrong"),
                ..i.advert(150)
            },
            HIGHER,
            DropReason::AuthFailure,
        ),
        (
            Advert {
                auth: Auth::None,
                ..i.advert(150)
            },
            HIGHER,
            DropReason::AuthTypeMismatch,
        ),
        (
            Advert {
                interval_cs: 200,
                ..i.advert(150)
            },
            HIGHER,
            DropReason::IntervalMismatch,
        ),
        (
            Advert {
                vrid: 52,
                ..i.advert(150)
            },
            HIGHER,
            DropReason::OtherVrid,
        ),
        (
            Advert {
                version: Version::V3,
                ..i.advert(150)
            },
            HIGHER,
            DropReason::OtherVersion,
        ),
        (i.advert(150), ME, DropReason::OwnAdvert),
    ];
    for (n, (advert, src, reason)) in cases.into_iter().enumerate() {
        let ev = Event::AdvertReceived {
            src: ip(src),
            advert,
            ttl: 255,
        };
        assert!(i.handle(t0 + ms(10), ev).is_empty());
        assert_eq!(i.drops(), (Some(reason), n as u64 + 1));
        assert_eq!(i.poll_timeout(), Some(deadline));
    }
}

/// Every dropped advert lands in keepalived's counter for it; none changes the state or moves a timer, in Backup
/// and in Master.
#[test]
fn dropped_adverts_are_counted_without_state_change() {
    use crate::stats::{InstanceStats, PacketError};
    for master in [false, true] {
        let (mut i, t0) = backup(cfg(100));
        let mut t = t0;
        if master {
            t = i.poll_timeout().unwrap();
            i.handle(t, Event::Timer);
            assert_eq!(i.state(), State::Master);
        }
        let state = i.state();
        let deadline = i.poll_timeout();
        let before = *i.stats();
        let bad: Vec<(Advert, u8)> = vec![
            (i.advert(200), 64),
            (
                Advert {
                    auth: Auth::pass("wrong"),
                    ..i.advert(200)
                },
                255,
            ),
            (
                Advert {
                    auth: Auth::None,
                    ..i.advert(200)
                },
                255,
            ),
            (
                Advert {
                    interval_cs: 200,
                    ..i.advert(200)
                },
                255,
            ),
            (
                Advert {
                    version: Version::V3,
                    auth: Auth::None,
                    ..i.advert(200)
                },
                255,
            ),
        ];
        for _ in 0..1000 {
            for (advert, ttl) in &bad {
                let ev = Event::AdvertReceived {
                    src: ip(HIGHER),
                    advert: advert.clone(),
                    ttl: *ttl,
                };
                assert!(i.handle(t + ms(10), ev).is_empty());
            }
            for e in [
                PacketError::Length,
                PacketError::Checksum,
                PacketError::InvalidType,
                PacketError::AuthInvalidType,
            ] {
                i.record_packet_error(e);
            }
        }
        assert_eq!(i.state(), state);
        assert_eq!(i.poll_timeout(), deadline);
        assert_eq!(
            *i.stats(),
            InstanceStats {
                ttl_errors: 1000,
                auth_failure: 1000,
                auth_type_mismatch: 1000,
                advert_interval_errors: 1000,
                version_errors: 1000,
                length_errors: 1000,
                checksum_errors: 1000,
                invalid_type_errors: 1000,
                auth_invalid_type: 1000,
                ..before
            }
        );
    }
}

/// Sent, received, priority zero both ways, became and released master, and an address list that differs
/// (counted, accepted).
#[test]
fn adverts_and_transitions_are_counted() {
    let (mut i, t0) = backup(cfg(100));
    assert_eq!(*i.stats(), Default::default());
    i.handle(t0 + ms(10), rx(&i, HIGHER, 150));
    let other = Event::AdvertReceived {
        src: ip(HIGHER),
        advert: Advert {
            addrs: vec![ip("198.18.0.101")],
            ..advert_from(&i, 150)
        },
        ttl: 255,
    };
    i.handle(t0 + ms(20), other);
    assert_eq!(i.stats().adverts_received, 2);
    assert_eq!(i.stats().address_list_errors, 1);
    // The master leaves: priority 0, then our takeover after Skew_Time.
    i.handle(t0 + ms(30), rx(&i, HIGHER, 0));
    assert_eq!(i.stats().priority_zero_received, 1);
    let t = i.poll_timeout().unwrap();
    i.handle(t, Event::Timer);
    assert_eq!(i.state(), State::Master);
    // Two periodic adverts.
    for _ in 0..2 {
        let t = i.poll_timeout().unwrap();
        i.handle(t, Event::Timer);
    }
    i.handle(t + ms(1), Event::Shutdown);
    let st = i.stats();
    assert_eq!(
        (
            st.adverts_received,
            st.adverts_sent,
            st.became_master,
            st.released_master,
            st.priority_zero_sent
        ),
        (3, 4, 1, 1, 1),
        "{st:?}"
    );
}

#[test]
fn adverts_before_start_are_dropped() {
    let mut i = Instance::new(cfg(100));
    let ev = rx(&i, HIGHER, 150);
    assert!(i.handle(Instant::now(), ev).is_empty());
    assert_eq!(i.drops().0, Some(DropReason::NotRunning));
}

#[test]
fn v3_backup_adopts_master_interval() {
    let (mut i, t0) = backup(v3cfg(100));
    let mut advert = i.advert(150);
    advert.interval_cs = 200;
    i.handle(
        t0,
        Event::AdvertReceived {
            src: ip(HIGHER),
            advert,
            ttl: 255,
        },
    );
    assert_eq!(i.master_adv_interval(), Duration::from_secs(2));
    // 3 x 2 s + (156 x 2 s)/256
    assert_eq!(
        i.poll_timeout(),
        Some(t0 + Duration::from_secs(6) + Duration::from_secs(2) * 156 / 256)
    );
    // Becoming master goes back to our own interval.
    let d = i.poll_timeout().unwrap();
    i.handle(d, Event::Timer);
    assert_eq!(i.master_adv_interval(), Duration::from_secs(1));
    assert_eq!(i.poll_timeout(), Some(d + Duration::from_secs(1)));
}

#[test]
fn v3_skew_scales_with_interval_and_centiseconds_work() {
    let mut c = v3cfg(200);
    c.advert_interval = ms(500);
    let (i, _) = backup(c);
    assert_eq!(i.advert(200).interval_cs, 50);
    assert_eq!(i.skew_time(), ms(500) * 56 / 256);
    assert_eq!(i.master_down_interval(), ms(1500) + ms(500) * 56 / 256);
}

#[test]
fn interface_down_puts_master_in_fault_without_advert_and_up_returns_to_backup() {
    let (mut i, t) = master(cfg(100));
    assert_eq!(
        i.handle(t, Event::InterfaceDown),
        vec![Action::RemoveVips, notify(NotifyState::Fault, 100)]
    );
    assert_eq!(i.state(), State::Fault);
    assert_eq!(i.poll_timeout(), None);
    let ev = rx(&i, HIGHER, 150);
    assert!(i.handle(t, ev).is_empty());
    assert_eq!(
        i.handle(t + ms(5), Event::InterfaceUp),
        vec![notify(NotifyState::Backup, 100)]
    );
    assert_eq!(i.state(), State::Backup);
    assert_eq!(i.poll_timeout(), Some(t + ms(5) + i.master_down_interval()));
}

#[test]
fn interface_down_in_backup_goes_fault() {
    let (mut i, t) = backup(cfg(100));
    assert_eq!(
        i.handle(t, Event::InterfaceDown),
        vec![notify(NotifyState::Fault, 100)]
    );
}

#[test]
fn owner_leaving_fault_goes_master() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(255));
    i.handle(t0, Event::InterfaceDown);
    assert_eq!(
        i.handle(t0, Event::Start),
        vec![Action::RemoveVips, notify(NotifyState::Fault, 255)]
    );
    assert_eq!(i.handle(t0, Event::InterfaceUp), master_actions(255));
}

fn script(name: &str, weight: i32, reverse: bool) -> Tracked {
    Tracked {
        key: TrackKey::Script(name.into()),
        weight,
        reverse,
    }
}

fn changed(name: &str, ok: bool) -> Event {
    Event::TrackChanged {
        key: TrackKey::Script(name.into()),
        ok,
    }
}

#[test]
fn weight_zero_script_failure_faults_master_with_priority_zero() {
    let mut c = cfg(100);
    c.tracks = vec![script("chk", 0, false)];
    let (mut i, t) = master(c);
    assert_eq!(
        i.handle(t, changed("chk", false)),
        vec![
            Action::SendAdvert { priority: 0 },
            Action::RemoveVips,
            notify(NotifyState::Fault, 100)
        ]
    );
    assert_eq!(
        i.handle(t, changed("chk", true)),
        vec![notify(NotifyState::Backup, 100)]
    );
}

#[test]
fn failed_script_at_start_means_fault() {
    let mut c = cfg(100);
    c.tracks = vec![script("chk", 0, false)];
    let t0 = Instant::now();
    let mut i = Instance::new(c);
    assert!(i.handle(t0, changed("chk", false)).is_empty());
    assert_eq!(
        i.handle(t0, Event::Start),
        vec![Action::RemoveVips, notify(NotifyState::Fault, 100)]
    );
}

#[test]
fn weights_change_effective_priority() {
    let mut c = cfg(150);
    c.tracks = vec![
        script("neg", -60, false),
        script("pos", 10, false),
        script("rev", 5, true),
        Tracked {
            key: TrackKey::Interface("eth1".into()),
            weight: -20,
            reverse: false,
        },
    ];
    let (mut i, t) = master(c);
    // pos up +10, rev up -5
    assert_eq!(i.effective_priority(), 155);
    i.handle(t, changed("neg", false));
    assert_eq!(i.effective_priority(), 95);
    i.handle(t, changed("pos", false));
    i.handle(t, changed("rev", false));
    assert_eq!(i.effective_priority(), 90);
    i.handle(
        t,
        Event::TrackChanged {
            key: TrackKey::Interface("eth1".into()),
            ok: false,
        },
    );
    assert_eq!(i.effective_priority(), 70);
    assert_eq!(i.state(), State::Master);
    assert_eq!(
        i.handle(t + Duration::from_secs(1), Event::Timer),
        vec![Action::SendAdvert { priority: 70 }]
    );
    // A higher backup now preempts; we see its advert and step down.
    let ev = rx(&i, LOWER, 100);
    assert_eq!(
        i.handle(t + ms(1100), ev),
        vec![Action::RemoveVips, notify(NotifyState::Backup, 70)]
    );
}

#[test]
fn effective_priority_is_clamped_and_owner_fixed() {
    let mut c = cfg(250);
    c.tracks = vec![script("pos", 100, false)];
    assert_eq!(Instance::new(c).effective_priority(), 254);
    let mut c = cfg(10);
    c.tracks = vec![script("neg", -100, false)];
    let mut i = Instance::new(c);
    i.handle(Instant::now(), changed("neg", false));
    assert_eq!(i.effective_priority(), 1);
    let mut c = cfg(255);
    c.tracks = vec![script("neg", -100, false)];
    let mut i = Instance::new(c);
    i.handle(Instant::now(), changed("neg", false));
    assert_eq!(i.effective_priority(), 255);
}

#[test]
fn reference_track_script_takeover() {
    // A master at 150 drops to 90 after a track_script failure; a preempting backup at 100 ignores its
    // adverts and takes over 3 x 1 s + skew after the last priority-150 advert.
    let (mut b, t0) = backup(cfg(100));
    let ev = rx(&b, HIGHER, 150);
    b.handle(t0, ev);
    for s in 1..=5 {
        let ev = rx(&b, HIGHER, 90);
        b.handle(t0 + Duration::from_secs(s) / 2, ev);
    }
    let took = b.poll_timeout().unwrap() - t0;
    assert!(took > ms(3600) && took < ms(3620), "{took:?}");
}

#[test]
fn reconfigure_keeps_state_and_track_health() {
    let mut c = cfg(100);
    c.tracks = vec![script("a", -10, false)];
    let (mut i, t) = master(c.clone());
    i.handle(t, changed("a", false));
    assert_eq!(i.effective_priority(), 90);
    c.priority = 120;
    c.tracks.push(script("b", 5, false));
    i.reconfigure(c);
    assert_eq!(i.state(), State::Master);
    assert_eq!(i.effective_priority(), 115);
}

#[test]
fn advert_uses_config() {
    let i = Instance::new(cfg(100));
    let a = i.advert(100);
    assert_eq!(a.interval_cs, 100);
    assert_eq!(a.vrid, 51);
    assert_eq!(a.auth, Auth::pass("s3cret"));
    let j = Instance::new(v3cfg(100));
    assert_eq!(j.advert(1).auth, Auth::None);
}

// ---- virtual_routes and no_accept ----

/// An instance with virtual routes and `no_accept`.
fn routed(priority: u8) -> InstanceConfig {
    InstanceConfig {
        routes: true,
        accept: false,
        ..cfg(priority)
    }
}

/// What becoming master does with routes and no_accept: block, addresses, routes, then GARPs.
fn routed_master_actions(p: u8) -> Vec<Action> {
    vec![
        Action::SendAdvert { priority: p },
        Action::BlockVips,
        Action::AddVips,
        Action::AddRoutes,
        Action::SendGarp { count: 5 },
        notify(NotifyState::Master, p),
    ]
}

/// Leaving master: routes, addresses, then the filter.
const RELEASE: [Action; 3] = [
    Action::RemoveRoutes,
    Action::RemoveVips,
    Action::UnblockVips,
];

#[test]
fn routes_and_filter_follow_the_master_state() {
    let t0 = Instant::now();
    let mut i = Instance::new(routed(100));
    // Start: stale routes, then stale addresses, are removed; nothing is blocked while backup.
    assert_eq!(
        i.handle(t0, Event::Start),
        vec![
            Action::RemoveRoutes,
            Action::RemoveVips,
            notify(NotifyState::Backup, 100)
        ]
    );
    // Nothing before the master-down timer.
    let deadline = i.poll_timeout().unwrap();
    assert!(i.handle(deadline - ms(1), Event::Timer).is_empty());
    assert_eq!(i.handle(deadline, Event::Timer), routed_master_actions(100));
    // Adverts and GARP repeats while master touch neither routes nor the filter.
    let t = deadline + Duration::from_secs(1);
    assert_eq!(
        i.handle(t, Event::Timer),
        vec![Action::SendAdvert { priority: 100 }]
    );
    let t = deadline + Duration::from_secs(5);
    let acts = i.handle(t, Event::Timer);
    assert!(acts.contains(&Action::SendGarp { count: 5 }), "{acts:?}");
    assert!(!acts.iter().any(|a| matches!(
        a,
        Action::AddRoutes | Action::RemoveRoutes | Action::BlockVips | Action::UnblockVips
    )));
    // A higher-priority master: back to backup, giving everything up.
    let ev = rx(&i, HIGHER, 200);
    let mut want = RELEASE.to_vec();
    want.push(notify(NotifyState::Backup, 100));
    assert_eq!(i.handle(t + ms(10), ev), want);
    // Adverts received as backup do nothing to routes.
    let ev = rx(&i, HIGHER, 200);
    assert!(i.handle(t + ms(500), ev).is_empty());
}

#[test]
fn routes_and_filter_are_released_on_fault_and_shutdown() {
    let t0 = Instant::now();
    let mut i = Instance::new(routed(100));
    i.handle(t0, Event::Start);
    let t = i.poll_timeout().unwrap();
    assert_eq!(i.handle(t, Event::Timer), routed_master_actions(100));
    // FAULT (interface down: no advert).
    let mut want = RELEASE.to_vec();
    want.push(notify(NotifyState::Fault, 100));
    assert_eq!(i.handle(t, Event::InterfaceDown), want);
    // Back up: backup, nothing to add.
    assert_eq!(
        i.handle(t + ms(5), Event::InterfaceUp),
        vec![notify(NotifyState::Backup, 100)]
    );
    let t = i.poll_timeout().unwrap();
    assert_eq!(i.handle(t, Event::Timer), routed_master_actions(100));
    // Shutdown: priority 0, then the release.
    let mut want = vec![Action::SendAdvert { priority: 0 }];
    want.extend(RELEASE);
    want.push(notify(NotifyState::Stop, 100));
    assert_eq!(i.handle(t, Event::Shutdown), want);
    // A backup shutting down has nothing to give up.
    let mut b = Instance::new(routed(100));
    b.handle(t0, Event::Start);
    assert_eq!(
        b.handle(t0, Event::Shutdown),
        vec![notify(NotifyState::Stop, 100)]
    );
}

#[test]
fn owner_accepts_even_with_no_accept() {
    // Priority 255 owns the addresses: no_accept never blocks them, routes still come and go.
    let t0 = Instant::now();
    let c = routed(255);
    assert!(!c.blocks_vips());
    let mut i = Instance::new(c);
    assert_eq!(
        i.handle(t0, Event::Start),
        vec![
            Action::SendAdvert { priority: 255 },
            Action::AddVips,
            Action::AddRoutes,
            Action::SendGarp { count: 5 },
            notify(NotifyState::Master, 255)
        ]
    );
    assert_eq!(
        i.handle(t0, Event::Shutdown),
        vec![
            Action::SendAdvert { priority: 0 },
            Action::RemoveRoutes,
            Action::RemoveVips,
            notify(NotifyState::Stop, 255)
        ]
    );
}

#[test]
fn routes_without_no_accept_and_no_accept_without_routes() {
    let t0 = Instant::now();
    let mut i = Instance::new(InstanceConfig {
        routes: true,
        ..cfg(100)
    });
    i.handle(t0, Event::Start);
    let t = i.poll_timeout().unwrap();
    assert_eq!(
        i.handle(t, Event::Timer),
        vec![
            Action::SendAdvert { priority: 100 },
            Action::AddVips,
            Action::AddRoutes,
            Action::SendGarp { count: 5 },
            notify(NotifyState::Master, 100)
        ]
    );
    let c = InstanceConfig {
        accept: false,
        ..cfg(100)
    };
    let t0 = Instant::now();
    let mut j = Instance::new(c);
    // No routes: the start removes only addresses.
    assert_eq!(
        j.handle(t0, Event::Start),
        vec![Action::RemoveVips, notify(NotifyState::Backup, 100)]
    );
    let t = j.poll_timeout().unwrap();
    assert_eq!(
        j.handle(t, Event::Timer),
        vec![
            Action::SendAdvert { priority: 100 },
            Action::BlockVips,
            Action::AddVips,
            Action::SendGarp { count: 5 },
            notify(NotifyState::Master, 100)
        ]
    );
    let ev = rx(&j, HIGHER, 200);
    assert_eq!(
        j.handle(t, ev),
        vec![
            Action::RemoveVips,
            Action::UnblockVips,
            notify(NotifyState::Backup, 100)
        ]
    );
}

#[test]
fn sync_group_peer_dragged_to_master_adds_its_routes() {
    let mut a = routed(100);
    a.name = "VI_A".into();
    let mut b = routed(100);
    b.name = "VI_B".into();
    b.vrid = 52;
    let mut node = Node::new(
        vec![a, b],
        vec![GroupConfig {
            name: "G".into(),
            members: vec![0, 1],
        }],
    );
    let t0 = Instant::now();
    node.broadcast(t0, Event::Start);
    let ev = rx(&node.instances()[1], HIGHER, 150);
    node.handle(t0 + Duration::from_secs(3), 1, ev);
    let t = node.instances()[0].poll_timeout().unwrap();
    let acts = node.handle(t, 0, Event::Timer);
    let of_b: Vec<Action> = acts
        .iter()
        .filter_map(|a| match a {
            NodeAction::Instance { index: 1, action } => Some(*action),
            _ => None,
        })
        .collect();
    assert_eq!(of_b, routed_master_actions(100));
    // A steps down: B follows and gives its routes up.
    let ev = rx(&node.instances()[0], HIGHER, 200);
    let acts = node.handle(t + ms(100), 0, ev);
    let of_b: Vec<Action> = acts
        .iter()
        .filter_map(|a| match a {
            NodeAction::Instance { index: 1, action } => Some(*action),
            _ => None,
        })
        .collect();
    let mut want = RELEASE.to_vec();
    want.push(notify(NotifyState::Backup, 100));
    assert_eq!(of_b, want);
}

// ---- sync groups ----

fn group_node() -> (Node, Instant) {
    let mut a = cfg(100);
    a.name = "VI_A".into();
    let mut b = cfg(100);
    b.name = "VI_B".into();
    b.vrid = 52;
    b.interface = "eth1".into();
    let mut node = Node::new(
        vec![a, b],
        vec![GroupConfig {
            name: "G".into(),
            members: vec![0, 1],
        }],
    );
    let t0 = Instant::now();
    let acts = node.broadcast(t0, Event::Start);
    assert!(acts.contains(&NodeAction::GroupNotify {
        group: 0,
        state: NotifyState::Backup
    }));
    (node, t0)
}

fn states(node: &Node) -> Vec<State> {
    node.instances().iter().map(Instance::state).collect()
}

#[test]
fn group_members_become_master_together() {
    let (mut node, t0) = group_node();
    // Keep B's own timer alive; A's runs out and drags B along.
    let ev = rx(&node.instances()[1], HIGHER, 150);
    node.handle(t0 + Duration::from_secs(3), 1, ev);
    let t = node.instances()[0].poll_timeout().unwrap();
    let acts = node.handle(t, 0, Event::Timer);
    assert_eq!(states(&node), vec![State::Master, State::Master]);
    assert!(acts.contains(&NodeAction::Instance {
        index: 1,
        action: Action::AddVips
    }));
    assert!(acts.contains(&NodeAction::GroupNotify {
        group: 0,
        state: NotifyState::Master
    }));
}

#[test]
fn group_members_step_down_together() {
    let (mut node, _) = group_node();
    let t = node.poll_timeout().unwrap();
    node.broadcast(t, Event::Timer);
    assert_eq!(states(&node), vec![State::Master, State::Master]);
    let ev = rx(&node.instances()[0], HIGHER, 200);
    let acts = node.handle(t + ms(100), 0, ev);
    assert_eq!(states(&node), vec![State::Backup, State::Backup]);
    assert!(acts.contains(&NodeAction::Instance {
        index: 1,
        action: Action::RemoveVips
    }));
    assert!(acts.contains(&NodeAction::GroupNotify {
        group: 0,
        state: NotifyState::Backup
    }));
}

#[test]
fn group_fault_and_recovery_move_all_members() {
    let (mut node, t0) = group_node();
    let acts = node.link_changed(t0, "eth1", false);
    assert_eq!(states(&node), vec![State::Fault, State::Fault]);
    assert!(acts.contains(&NodeAction::GroupNotify {
        group: 0,
        state: NotifyState::Fault
    }));
    // Timers stay off while in fault.
    assert_eq!(node.poll_timeout(), None);
    let acts = node.link_changed(t0 + ms(10), "eth1", true);
    assert_eq!(states(&node), vec![State::Backup, State::Backup]);
    assert!(acts.contains(&NodeAction::GroupNotify {
        group: 0,
        state: NotifyState::Backup
    }));
}

#[test]
fn ungrouped_instances_are_independent() {
    let mut b = cfg(100);
    b.vrid = 52;
    let mut node = Node::new(vec![cfg(100), b], vec![]);
    let t0 = Instant::now();
    node.broadcast(t0, Event::Start);
    let ev = rx(&node.instances()[1], HIGHER, 150);
    node.handle(t0 + ms(1), 1, ev);
    let t = node.instances()[0].poll_timeout().unwrap();
    node.broadcast(t, Event::Timer);
    assert_eq!(states(&node), vec![State::Master, State::Backup]);
    let acts = node.broadcast(t, Event::Shutdown);
    assert!(acts.contains(&NodeAction::Instance {
        index: 0,
        action: Action::SendAdvert { priority: 0 }
    }));
    assert_eq!(states(&node), vec![State::Initialize, State::Initialize]);
}

#[test]
fn link_changed_tracks_interfaces() {
    let mut c = cfg(100);
    c.tracks = vec![Tracked {
        key: TrackKey::Interface("eth9".into()),
        weight: 0,
        reverse: false,
    }];
    let mut node = Node::new(vec![c], vec![]);
    let t0 = Instant::now();
    node.broadcast(t0, Event::Start);
    node.link_changed(t0, "eth9", false);
    assert_eq!(states(&node), vec![State::Fault]);
    node.link_changed(t0, "eth9", true);
    assert_eq!(states(&node), vec![State::Backup]);
}

#[test]
fn every_transition_says_why() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(100));
    assert_eq!(i.last_reason(), "not started");
    i.handle(t0, Event::Start);
    assert_eq!(i.last_reason(), "started");
    // Nothing heard for the master down interval.
    let t1 = t0 + i.master_down_interval();
    i.handle(t1, Event::Timer);
    assert_eq!(
        (i.state(), i.last_reason()),
        (State::Master, "no advert for the master down interval")
    );
    // A higher-priority master appears.
    let ev = rx(&i, HIGHER, 150);
    i.handle(t1 + ms(10), ev);
    assert_eq!(
        (i.state(), i.last_reason()),
        (
            State::Backup,
            "higher-priority advert 150 from 198.18.0.3 (ours 100)"
        )
    );
    // It resigns: the takeover after the skew time says so.
    let ev = rx(&i, HIGHER, 0);
    i.handle(t1 + ms(20), ev);
    i.handle(t1 + ms(20) + i.skew_time(), Event::Timer);
    assert_eq!(
        (i.state(), i.last_reason()),
        (State::Master, "the master resigned (priority 0 advert)")
    );
    // The link goes, then comes back.
    i.handle(t1 + ms(30) + i.skew_time(), Event::InterfaceDown);
    assert_eq!(
        (i.state(), i.last_reason()),
        (State::Fault, "interface eth0 down")
    );
    i.handle(t1 + ms(40) + i.skew_time(), Event::InterfaceUp);
    assert_eq!(
        (i.state(), i.last_reason()),
        (State::Backup, "out of fault")
    );
    // A tracked script of weight 0 failing is named.
    let mut c = cfg(100);
    c.tracks = vec![script("chk", 0, false)];
    let (mut j, t) = backup(c);
    j.handle(t, changed("chk", false));
    assert_eq!(
        (j.state(), j.last_reason()),
        (State::Fault, "tracked script chk failed")
    );
}
