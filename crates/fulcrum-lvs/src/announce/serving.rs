//! Which virtual addresses a table built with `ipvsadm` alone can serve (pure).
//!
//! Without keepalived there are no checks in fulcrum: whoever keeps the table (an operator, a checker script
//! such as ldirectord's, a configuration tool) says a real server is down the ipvsadm way, by quiescing it
//! (`-e ... -w 0`) or deleting it (`-d`). A service can take new connections while one of its real servers
//! has a weight above 0; an address is announced while every service at that address can, as keepalived's
//! side announces it while every service at that address holds its quorum. fwmark services have no address
//! and are never announced.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::model::{ServiceKey, Table};

/// The addresses to announce for `table`.
pub fn serving(table: &Table) -> BTreeSet<IpAddr> {
    let mut up = BTreeSet::new();
    let mut down = BTreeSet::new();
    for s in &table.services {
        if let ServiceKey::Addr { addr, .. } = s.key {
            if s.dests.iter().any(|d| d.weight > 0) {
                up.insert(addr);
            } else {
                down.insert(addr);
            }
        }
    }
    up.difference(&down).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DestSpec, Forward, Netmask, Protocol, ServiceFlags, ServiceSpec, Tunnel};

    fn key(addr: [u8; 4], port: u16) -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: IpAddr::from(addr),
            port,
        }
    }

    fn service(t: &mut Table, key: ServiceKey, weights: &[u32]) {
        let spec = ServiceSpec {
            key,
            scheduler: "mh".into(),
            flags: ServiceFlags::default(),
            timeout: 0,
            netmask: Netmask::default_for(key.is_ipv6()),
            pe: None,
        };
        assert!(t.add_service(spec).is_ok());
        for (i, w) in weights.iter().enumerate() {
            let d = DestSpec {
                addr: IpAddr::from([198, 18, 1, 2 + i as u8]),
                port: 8080,
                forward: Forward::Masq,
                weight: *w,
                u_threshold: 0,
                l_threshold: 0,
                tunnel: Tunnel::default(),
            };
            assert!(t.add_dest(&key, d).is_ok());
        }
    }

    #[test]
    fn an_address_is_served_while_each_of_its_services_has_a_weighted_server() {
        let vip = IpAddr::from([198, 19, 0, 100]);
        let other = IpAddr::from([198, 19, 0, 101]);
        let mut t = Table::new();
        service(&mut t, key([198, 19, 0, 100], 80), &[0, 1]);
        service(&mut t, key([198, 19, 0, 101], 80), &[0]);
        assert_eq!(serving(&t), BTreeSet::from([vip]));
        // A second service at the VIP without servers: the address is not served as a whole.
        service(&mut t, key([198, 19, 0, 100], 443), &[]);
        assert_eq!(serving(&t), BTreeSet::new());
        service(&mut t, key([198, 19, 0, 101], 443), &[3]);
        t.services[1].dests[0].weight = 2;
        assert_eq!(serving(&t), BTreeSet::from([other]));
        // fwmark services have no address.
        let mut f = Table::new();
        service(
            &mut f,
            ServiceKey::Fwmark {
                mark: 1,
                ipv6: false,
            },
            &[1],
        );
        assert_eq!(serving(&f), BTreeSet::new());
    }
}
