//! Bringing the table in line with what the configuration and the checks call for, touching only the services
//! this process owns (services added by hand with `fulcrum ipvsadm` stay as they are, as with IPVS).

use std::collections::HashSet;

use fulcrum_lvs::model::{DestSpec, ServiceKey, ServiceSpec, Table, TableError};

/// One service as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The service settings.
    pub spec: ServiceSpec,
    /// Its real servers (and sorry server).
    pub dests: Vec<DestSpec>,
}

/// Changes `table` so that the services in `desired` are exactly as given and services in `owned` that are no
/// longer desired are gone. Returns true when anything changed (so the caller stores the table only then).
pub fn reconcile(
    table: &mut Table,
    desired: &[Desired],
    owned: &HashSet<ServiceKey>,
) -> Result<bool, TableError> {
    let mut changed = false;
    let keep: HashSet<ServiceKey> = desired.iter().map(|d| d.spec.key).collect();
    for key in owned.iter().filter(|k| !keep.contains(k)) {
        if table.service(key).is_some() {
            table.delete_service(key)?;
            changed = true;
        }
    }
    for d in desired {
        let key = d.spec.key;
        match table.service(&key) {
            None => {
                table.add_service(d.spec.clone())?;
                changed = true;
            }
            Some(s) => {
                let same = s.scheduler == d.spec.scheduler
                    && s.flags == d.spec.flags
                    && s.timeout == d.spec.timeout
                    && s.netmask == d.spec.netmask
                    && s.pe == d.spec.pe;
                if !same {
                    table.edit_service(d.spec.clone())?;
                    changed = true;
                }
            }
        }
        let present: Vec<(std::net::IpAddr, u16)> = table
            .service(&key)
            .map(|s| s.dests.iter().map(|x| (x.addr, x.port)).collect())
            .unwrap_or_default();
        for (addr, port) in present {
            if !d.dests.iter().any(|x| x.addr == addr && x.port == port) {
                table.delete_dest(&key, addr, port)?;
                changed = true;
            }
        }
        for want in &d.dests {
            let cur = table.service(&key).and_then(|s| {
                s.dests
                    .iter()
                    .find(|x| x.addr == want.addr && x.port == want.port)
            });
            match cur {
                None => {
                    table.add_dest(&key, *want)?;
                    changed = true;
                }
                Some(x)
                    if x.forward != want.forward
                        || x.weight != want.weight
                        || x.u_threshold != want.u_threshold
                        || x.l_threshold != want.l_threshold
                        || x.tunnel != want.tunnel =>
                {
                    table.edit_dest(&key, *want)?;
                    changed = true;
                }
                Some(_) => {}
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fulcrum_lvs::model::{Forward, Netmask, Protocol, ServiceFlags, Tunnel};

    fn key(port: u16) -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: "198.18.0.100".parse().unwrap(),
            port,
        }
    }

    fn spec(port: u16, sched: &str) -> ServiceSpec {
        ServiceSpec {
            key: key(port),
            scheduler: sched.into(),
            flags: ServiceFlags::default(),
            timeout: 0,
            netmask: Netmask::default_for(false),
            pe: None,
        }
    }

    fn dest(last: u8, weight: u32) -> DestSpec {
        DestSpec {
            addr: format!("198.18.1.{last}").parse().unwrap(),
            port: 80,
            forward: Forward::Masq,
            weight,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: Tunnel::default(),
        }
    }

    #[test]
    fn adds_edits_removes_and_leaves_hand_made_services_alone() {
        let mut t = Table::new();
        // A service added by hand with ipvsadm.
        t.add_service(spec(443, "rr")).unwrap();
        t.add_dest(&key(443), dest(7, 1)).unwrap();
        let mut owned = HashSet::new();
        let want = vec![Desired {
            spec: spec(80, "wlc"),
            dests: vec![dest(2, 1), dest(3, 2)],
        }];
        assert!(reconcile(&mut t, &want, &owned).unwrap());
        assert!(
            !reconcile(&mut t, &want, &owned).unwrap(),
            "nothing to do twice"
        );
        owned.insert(key(80));
        let want = vec![Desired {
            spec: spec(80, "rr"),
            dests: vec![dest(3, 5), dest(4, 1)],
        }];
        assert!(reconcile(&mut t, &want, &owned).unwrap());
        let s = t.service(&key(80)).unwrap();
        assert_eq!(s.scheduler, "rr");
        let got: Vec<(String, u32)> = s
            .dests
            .iter()
            .map(|d| (d.addr.to_string(), d.weight))
            .collect();
        assert_eq!(got, [("198.18.1.3".into(), 5), ("198.18.1.4".into(), 1)]);
        // Gone from the configuration: removed; the hand-made one stays.
        assert!(reconcile(&mut t, &[], &owned).unwrap());
        assert!(t.service(&key(80)).is_none());
        assert_eq!(t.service(&key(443)).unwrap().dests.len(), 1);
    }

    /// A restart after `--dont-release-ipvs`: the new process owns nothing yet, and the table already holds the
    /// service it wants: adopted as it is, nothing to store. A real server the new process no longer wants goes,
    /// the others stay untouched.
    #[test]
    fn a_service_left_by_the_previous_process_is_adopted() {
        let mut t = Table::new();
        t.add_service(spec(80, "rr")).unwrap();
        for d in [dest(2, 1), dest(3, 1)] {
            t.add_dest(&key(80), d).unwrap();
        }
        let before = t.clone();
        let want = vec![Desired {
            spec: spec(80, "rr"),
            dests: vec![dest(2, 1), dest(3, 1)],
        }];
        assert!(!reconcile(&mut t, &want, &HashSet::new()).unwrap());
        assert_eq!(t, before);
        let want = vec![Desired {
            spec: spec(80, "rr"),
            dests: vec![dest(3, 1)],
        }];
        assert!(reconcile(&mut t, &want, &HashSet::new()).unwrap());
        let s = t.service(&key(80)).unwrap();
        assert_eq!(s.dests.len(), 1);
        assert_eq!(s.dests[0].addr.to_string(), "198.18.1.3");
    }
}
