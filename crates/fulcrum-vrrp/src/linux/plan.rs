//! Turns a validated keepalived.conf model into what the daemon runs: state-machine configs plus, per instance,
//! the interface, addresses, destinations and scripts. Interface facts come through [`Env`] so this is testable.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use fulcrum_config::keepalived::{self as kc, Authentication, Config};

use super::filter::FilterPlan;
use super::netlink::{AddrSpec, RouteSpec};
use super::scripts::{resolve_user, CheckSpec, RunAs};
use crate::codec::{Auth, V3Ipv4Checksum, Version};
use crate::instance::{GarpSchedule, InstanceConfig, TrackKey, Tracked};
use crate::node::GroupConfig;

/// What the plan needs to know about interfaces.
pub trait Env {
    /// Interface index by name.
    fn ifindex(&self, name: &str) -> Option<u32>;
    /// Primary address of the family, skipping `exclude`.
    fn primary(&self, name: &str, v6: bool, exclude: &[IpAddr]) -> Option<IpAddr>;
    /// MAC address.
    fn mac(&self, name: &str) -> Option<[u8; 6]>;
    /// Resolves a script user.
    fn user(&self, user: &str, group: Option<&str>) -> Result<RunAs, String> {
        resolve_user(user, group)
    }
}

/// The live system.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn ifindex(&self, name: &str) -> Option<u32> {
        super::netlink::iface::index(name)
    }
    fn primary(&self, name: &str, v6: bool, exclude: &[IpAddr]) -> Option<IpAddr> {
        super::netlink::iface::primary_address(name, v6, exclude)
    }
    fn mac(&self, name: &str) -> Option<[u8; 6]> {
        super::netlink::iface::mac(name)
    }
}

/// One virtual address and the interface it goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipPlan {
    /// Interface name.
    pub ifname: String,
    /// What netlink is asked.
    pub spec: AddrSpec,
    /// Advertised (false for `virtual_ipaddress_excluded`).
    pub advertised: bool,
}

/// Everything the daemon needs for one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstancePlan {
    /// State-machine configuration.
    pub cfg: InstanceConfig,
    /// Interface index.
    pub ifindex: u32,
    /// Source address of adverts.
    pub src: IpAddr,
    /// Whether `src` was configured (`unicast_src_ip`, `mcast_src_ip`) rather than found on the interface.
    pub src_configured: bool,
    /// Where adverts go: the multicast group or the unicast peers.
    pub destinations: Vec<IpAddr>,
    /// The multicast group to join (none for unicast).
    pub group: Option<IpAddr>,
    /// VRRPv3/IPv4 checksum form sent.
    pub checksum: V3Ipv4Checksum,
    /// Addresses added when master.
    pub vips: Vec<VipPlan>,
    /// `virtual_routes`, added when master (after the addresses).
    pub routes: Vec<RouteSpec>,
    /// `no_accept` below priority 255: the nftables sets that drop traffic to the addresses while master.
    pub filter: Option<FilterPlan>,
    /// Notify scripts.
    pub notify: kc::Notify,
    /// The instance's own interface going down does not mean FAULT.
    pub dont_track_primary: bool,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Instances in file order.
    pub instances: Vec<InstancePlan>,
    /// Sync groups (member indexes into `instances`).
    pub groups: Vec<GroupConfig>,
    /// Notify scripts of each group.
    pub group_notify: Vec<kc::Notify>,
    /// `vrrp_script` checks that some instance tracks.
    pub checks: Vec<CheckSpec>,
    /// Who notify scripts run as.
    pub run_as: Option<RunAs>,
    /// The global settings the data dump shows (SIGUSR1).
    pub global: crate::data::GlobalView,
    /// `fulcrum_metrics_listen`: where the Prometheus metrics are served.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Builds the plan; errors name the instance.
pub fn build(config: &Config, env: &dyn Env) -> Result<Plan, Vec<String>> {
    let mut errors = Vec::new();
    let g = &config.global;
    let run_as = match &g.script_user {
        Some(u) => match env.user(&u.user, u.group.as_deref()) {
            Ok(r) => Some(r),
            Err(e) => {
                errors.push(format!("script_user: {e}"));
                None
            }
        },
        None => None,
    };
    let mut instances: Vec<InstancePlan> = Vec::new();
    for (n, i) in config.instances.iter().enumerate() {
        match instance(config, i, env) {
            Ok(mut p) => {
                if p.cfg.blocks_vips() {
                    let taken: Vec<FilterPlan> =
                        instances.iter().filter_map(|o| o.filter.clone()).collect();
                    let addrs = p.vips.iter().map(|v| v.spec.addr).collect();
                    p.filter = Some(FilterPlan::new(&i.name, n, addrs, &taken));
                }
                instances.push(p)
            }
            Err(e) => errors.push(format!("{}: vrrp_instance {}: {e}", i.location, i.name)),
        }
    }
    let mut checks = Vec::new();
    for s in &config.scripts {
        let used = config
            .instances
            .iter()
            .any(|i| i.track_scripts.iter().any(|t| t.name == s.name));
        if !used {
            continue;
        }
        let script_run_as = match &s.user {
            Some(u) => match env.user(&u.user, u.group.as_deref()) {
                Ok(r) => Some(r),
                Err(e) => {
                    errors.push(format!("{}: vrrp_script {}: {e}", s.location, s.name));
                    None
                }
            },
            None => run_as,
        };
        checks.push(CheckSpec {
            name: s.name.clone(),
            script: s.script.clone(),
            interval: s.interval,
            timeout: s.timeout.unwrap_or(s.interval),
            rise: s.rise,
            fall: s.fall,
            init_ok: !s.init_fail,
            run_as: script_run_as,
        });
    }
    let groups = config
        .sync_groups
        .iter()
        .map(|sg| GroupConfig {
            name: sg.name.clone(),
            members: sg
                .members
                .iter()
                .filter_map(|m| config.instances.iter().position(|i| &i.name == m))
                .collect(),
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Plan {
        instances,
        groups,
        group_notify: config
            .sync_groups
            .iter()
            .map(|s| s.notify.clone())
            .collect(),
        checks,
        run_as,
        global: crate::data::GlobalView {
            router_id: g.router_id.clone().unwrap_or_else(|| {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_string())
                    .unwrap_or_default()
            }),
            mcast_group4: g.mcast_group4.into(),
            mcast_group6: g.mcast_group6.into(),
            version: g.vrrp_version,
            strict: g.vrrp_strict,
        },
        metrics_listen: g.metrics_listen,
    })
}

fn instance(config: &Config, i: &kc::VrrpInstance, env: &dyn Env) -> Result<InstancePlan, String> {
    let g = &config.global;
    let ifindex = env
        .ifindex(&i.interface)
        .ok_or_else(|| format!("no interface named '{}'", i.interface))?;
    let v6 = i.is_ipv6();
    let vip_addrs: Vec<IpAddr> = i.virtual_ipaddress.iter().map(|v| v.addr).collect();
    let src = match i.unicast_src_ip.or(i.mcast_src_ip) {
        Some(s) => s,
        None => env.primary(&i.interface, v6, &vip_addrs).ok_or_else(|| {
            format!(
                "interface '{}' has no {} address to send from",
                i.interface,
                if v6 { "link-local IPv6" } else { "IPv4" }
            )
        })?,
    };
    let (destinations, group) = if i.unicast_peers.is_empty() {
        let grp = if v6 {
            IpAddr::V6(g.mcast_group6)
        } else {
            IpAddr::V4(g.mcast_group4)
        };
        (vec![grp], Some(grp))
    } else {
        (i.unicast_peers.clone(), None)
    };
    let version = if i.version == 3 {
        Version::V3
    } else {
        Version::V2
    };
    let auth = match (&i.authentication, version) {
        (Some(Authentication::Pass(p)), Version::V2) => Auth::pass(p),
        (Some(Authentication::Ah(_)), Version::V2) => {
            return Err("auth_type AH is not supported".into())
        }
        _ => Auth::None,
    };
    let mut vips = Vec::new();
    for (list, advertised) in [
        (&i.virtual_ipaddress, true),
        (&i.virtual_ipaddress_excluded, false),
    ] {
        for v in list {
            let ifname = v.dev.clone().unwrap_or_else(|| i.interface.clone());
            let idx = env
                .ifindex(&ifname)
                .ok_or_else(|| format!("no interface named '{ifname}' for {}", v.addr))?;
            let scope = v.scope.unwrap_or(match v.addr {
                IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 => 253,
                _ => 0,
            });
            vips.push(VipPlan {
                ifname,
                spec: AddrSpec {
                    ifindex: idx,
                    addr: v.addr,
                    prefix_len: v.prefix_len,
                    brd: v.brd,
                    scope,
                    label: v.label.clone(),
                },
                advertised,
            });
        }
    }
    let mut routes = Vec::new();
    for r in &i.virtual_routes {
        routes.push(route(i, r, env)?);
    }
    let mut tracks = Vec::new();
    for t in &i.track_scripts {
        let s = config
            .script(&t.name)
            .ok_or_else(|| format!("no vrrp_script named '{}'", t.name))?;
        let (weight, reverse) = match t.weight {
            Some(w) => (w, t.reverse),
            None => (s.weight, s.reverse),
        };
        tracks.push(Tracked {
            key: TrackKey::Script(t.name.clone()),
            weight,
            reverse,
        });
    }
    for t in &i.track_interfaces {
        tracks.push(Tracked {
            key: TrackKey::Interface(t.name.clone()),
            weight: t.weight,
            reverse: t.reverse,
        });
    }
    let garp = GarpSchedule {
        delay: i.garp_master_delay.unwrap_or(g.garp_master_delay),
        repeat: i.garp_master_repeat.unwrap_or(g.garp_master_repeat),
        refresh: i
            .garp_master_refresh
            .or(g.garp_master_refresh)
            .filter(|d| !d.is_zero()),
        refresh_repeat: i
            .garp_master_refresh_repeat
            .unwrap_or(g.garp_master_refresh_repeat),
    };
    let advert_interval = match version {
        Version::V2 => Duration::from_secs(i.advert_int.as_secs().max(1)),
        Version::V3 => Duration::from_millis((i.advert_int.as_millis() / 10 * 10).max(10) as u64),
    };
    Ok(InstancePlan {
        cfg: InstanceConfig {
            name: i.name.clone(),
            interface: i.interface.clone(),
            vrid: i.virtual_router_id,
            priority: i.priority,
            version,
            advert_interval,
            preempt: i.preempt,
            preempt_delay: i.preempt_delay,
            primary_ip: src,
            vips: vip_addrs,
            auth,
            check_ttl: group.is_some(),
            garp,
            tracks,
            routes: !routes.is_empty(),
            accept: i.accept,
        },
        ifindex,
        src,
        src_configured: i.unicast_src_ip.or(i.mcast_src_ip).is_some(),
        destinations,
        group,
        checksum: if g.v3_checksum_as_v2 {
            V3Ipv4Checksum::WithoutPseudoHeader
        } else {
            V3Ipv4Checksum::WithPseudoHeader
        },
        vips,
        routes,
        filter: None,
        notify: i.notify.clone(),
        dont_track_primary: i.dont_track_primary,
    })
}

/// One `virtual_routes` line as rtnetlink is asked. Without `dev`, a unicast route without a gateway, or with an
/// IPv6 link-local one, goes out of the instance's interface. Scope and protocol default as `ip route add` has them
/// (link for a gatewayless IPv4 unicast route, else global; protocol boot); the table defaults to main.
fn route(i: &kc::VrrpInstance, r: &kc::VirtualRoute, env: &dyn Env) -> Result<RouteSpec, String> {
    let link_local_gw =
        matches!(r.via, Some(IpAddr::V6(g)) if (g.segments()[0] & 0xffc0) == 0xfe80);
    let unicast = r.kind == kc::RouteKind::Unicast;
    let dev = match &r.dev {
        Some(d) => Some(d.clone()),
        None if unicast && (r.via.is_none() || link_local_gw) => Some(i.interface.clone()),
        None => None,
    };
    let oif = match dev {
        Some(d) => Some(env.ifindex(&d).ok_or_else(|| {
            format!(
                "{}: no interface named '{d}' for route {}/{}",
                r.location, r.dest, r.prefix_len
            )
        })?),
        None => None,
    };
    let kind = match r.kind {
        kc::RouteKind::Unicast => super::netlink::RTN_UNICAST,
        kc::RouteKind::Blackhole => super::netlink::RTN_BLACKHOLE,
        kc::RouteKind::Unreachable => super::netlink::RTN_UNREACHABLE,
        kc::RouteKind::Prohibit => super::netlink::RTN_PROHIBIT,
    };
    let scope = r
        .scope
        .unwrap_or(if unicast && r.via.is_none() && !r.is_ipv6() {
            253
        } else {
            0
        });
    Ok(RouteSpec {
        dst: r.dest,
        dst_len: r.prefix_len,
        kind,
        gateway: r.via,
        oif,
        prefsrc: r.src,
        metric: r.metric,
        table: r.table.unwrap_or(254),
        scope,
        protocol: r.protocol.unwrap_or(3),
    })
}

/// The interfaces and MACs to announce on, with the advertised-or-not addresses of each.
pub fn announce_sets(p: &InstancePlan) -> BTreeMap<(String, u32), Vec<IpAddr>> {
    let mut m: BTreeMap<(String, u32), Vec<IpAddr>> = BTreeMap::new();
    for v in &p.vips {
        m.entry((v.ifname.clone(), v.spec.ifindex))
            .or_default()
            .push(v.spec.addr);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;
    impl Env for Fake {
        fn ifindex(&self, name: &str) -> Option<u32> {
            match name {
                "eth0" => Some(2),
                "eth1" => Some(3),
                _ => None,
            }
        }
        fn primary(&self, name: &str, v6: bool, _: &[IpAddr]) -> Option<IpAddr> {
            match (name, v6) {
                ("eth0", false) => Some("198.18.0.1".parse().unwrap()),
                ("eth0", true) => Some("fe80::1".parse().unwrap()),
                _ => None,
            }
        }
        fn mac(&self, _: &str) -> Option<[u8; 6]> {
            Some([2, 0, 0, 0, 0, 1])
        }
        fn user(&self, user: &str, _: Option<&str>) -> Result<RunAs, String> {
            if user == "nobody" {
                Ok(RunAs {
                    uid: 65534,
                    gid: 65534,
                })
            } else {
                Err(format!("no user named '{user}'"))
            }
        }
    }

    fn plan(text: &str) -> Result<Plan, Vec<String>> {
        let c = fulcrum_config::keepalived::parse_str("t.conf", text).unwrap();
        build(&c, &Fake)
    }

    #[test]
    fn multicast_v2_instance() {
        let p = plan(
            "global_defs {\n script_user nobody\n vrrp_garp_master_delay 2\n}\n
vrrp_script chk {\n script /bin/true\n weight -20\n}\n
vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 150\n
 authentication {\n auth_type PASS\n auth_pass s3cret\n }\n
 virtual_ipaddress {\n 198.18.0.100/24 label eth0:v\n 198.18.1.100 dev eth1\n }\n
 track_script {\n chk\n }\n track_interface {\n eth1 weight -5\n }\n}\n",
        )
        .unwrap();
        let i = &p.instances[0];
        assert_eq!(i.src, "198.18.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            i.destinations,
            vec!["224.0.0.18".parse::<IpAddr>().unwrap()]
        );
        assert!(i.cfg.check_ttl);
        assert_eq!(i.cfg.auth, Auth::pass("s3cret"));
        assert_eq!(i.cfg.garp.delay, Duration::from_secs(2));
        assert_eq!(i.vips[1].spec.ifindex, 3);
        assert_eq!(i.vips[0].spec.label.as_deref(), Some("eth0:v"));
        assert_eq!(i.cfg.tracks[0].weight, -20);
        assert_eq!(i.cfg.tracks[1].key, TrackKey::Interface("eth1".into()));
        assert_eq!(
            p.checks[0].run_as,
            Some(RunAs {
                uid: 65534,
                gid: 65534
            })
        );
        assert_eq!(announce_sets(i).len(), 2);
    }

    #[test]
    fn unicast_v3_ipv6_instance() {
        let p = plan(
            "global_defs {\n v3_checksum_as_v2\n}\nvrrp_instance V6 {\n interface eth0\n virtual_router_id 7\n version 3\n advert_int 0.5\n
 virtual_ipaddress {\n fe80::7/64\n }\n unicast_peer {\n fe80::2\n }\n}\n",
        )
        .unwrap();
        let i = &p.instances[0];
        assert_eq!(i.src, "fe80::1".parse::<IpAddr>().unwrap());
        assert_eq!(i.group, None);
        assert!(!i.cfg.check_ttl);
        assert_eq!(i.cfg.advert_interval, Duration::from_millis(500));
        assert_eq!(i.vips[0].spec.scope, 253);
        assert_eq!(i.checksum, V3Ipv4Checksum::WithoutPseudoHeader);
    }

    #[test]
    fn virtual_routes_and_no_accept() {
        let p = plan(
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 150\n no_accept
 virtual_ipaddress {\n 198.18.0.100/24\n }\n virtual_ipaddress_excluded {\n fd00::100\n }
 virtual_routes {\n 198.19.5.0/24 via 198.18.0.2\n 198.19.6.0/24 src 198.18.0.100 metric 7 table 100
 blackhole 198.19.7.0/24\n fd00:5::/48 via fe80::1\n default via 198.18.0.254 dev eth1 proto static scope 0\n }\n}
vrrp_instance VI_2 {\n interface eth0\n virtual_router_id 52\n priority 255\n no_accept
 virtual_ipaddress {\n 198.18.0.200\n }\n}
vrrp_instance VI_3 {\n interface eth0\n virtual_router_id 53\n virtual_ipaddress {\n 198.18.0.201\n }\n}\n",
        )
        .unwrap();
        let i = &p.instances[0];
        assert!(i.cfg.routes);
        assert!(!i.cfg.accept);
        let r = &i.routes;
        assert_eq!(r.len(), 5);
        // Through a gateway: no interface, global scope, protocol boot, main table.
        assert_eq!(
            r[0],
            RouteSpec {
                dst: "198.19.5.0".parse().unwrap(),
                dst_len: 24,
                kind: super::super::netlink::RTN_UNICAST,
                gateway: Some("198.18.0.2".parse().unwrap()),
                oif: None,
                prefsrc: None,
                metric: None,
                table: 254,
                scope: 0,
                protocol: 3,
            }
        );
        // Without a gateway: the instance's interface, scope link.
        assert_eq!(
            (r[1].oif, r[1].scope, r[1].table, r[1].metric),
            (Some(2), 253, 100, Some(7))
        );
        assert_eq!(r[1].prefsrc, Some("198.18.0.100".parse().unwrap()));
        assert_eq!(
            (r[2].kind, r[2].oif, r[2].scope),
            (super::super::netlink::RTN_BLACKHOLE, None, 0)
        );
        // A link-local IPv6 gateway needs the interface.
        assert_eq!((r[3].oif, r[3].scope), (Some(2), 0));
        assert_eq!((r[4].oif, r[4].protocol, r[4].dst_len), (Some(3), 4, 0));
        let f = i.filter.as_ref().unwrap();
        assert_eq!(f.set4, "vips4_VI_1");
        assert_eq!(
            f.addrs,
            vec![
                "198.18.0.100".parse::<IpAddr>().unwrap(),
                "fd00::100".parse().unwrap()
            ]
        );
        // The owner accepts whatever it says; accept is the default.
        assert!(p.instances[1].filter.is_none());
        assert!(!p.instances[1].cfg.routes);
        assert!(p.instances[2].filter.is_none());
        assert!(p.instances[2].cfg.accept);
        let e = plan("vrrp_instance X {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 198.18.0.9\n }\n virtual_routes {\n 198.19.0.0/16 dev nope0\n }\n}\n").unwrap_err();
        assert!(
            e[0].contains(
                "vrrp_instance X: t.conf:8: no interface named 'nope0' for route 198.19.0.0/16"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn errors_name_the_instance() {
        let e = plan("vrrp_instance X {\n interface nope0\n virtual_router_id 1\n virtual_ipaddress {\n 198.18.0.9\n }\n}\n").unwrap_err();
        assert!(
            e[0].contains("vrrp_instance X: no interface named 'nope0'"),
            "{e:?}"
        );
        let e = plan("global_defs {\n script_user ghost\n}\n").unwrap_err();
        assert!(e[0].contains("no user named 'ghost'"));
        let e = plan("vrrp_instance X {\n interface eth1\n virtual_router_id 1\n virtual_ipaddress {\n 198.18.0.9\n }\n}\n").unwrap_err();
        assert!(e[0].contains("no IPv4 address"), "{e:?}");
    }
}
