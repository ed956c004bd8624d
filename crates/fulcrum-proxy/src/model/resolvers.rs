//! The `resolvers` sections at run time ([`Registry`]): their timers, nameservers and the counters `show
//! resolvers` prints, shared by the resolver task (`data/resolvers.rs`) and the runtime API; [`Registry::wake`]
//! asks the task to look at the servers' names again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use fulcrum_admin::runtime::{NameserverInfo, ResolversInfo};
use fulcrum_dns::resolution::{Hold, Params};
use tokio::sync::Notify;

/// Indices of [`Nameserver::counters`], in `show resolvers`' order.
pub(crate) mod ctr {
    pub const SENT: usize = 0;
    pub const SND_ERROR: usize = 1;
    pub const VALID: usize = 2;
    pub const UPDATE: usize = 3;
    pub const ANY_ERR: usize = 6;
    pub const NX: usize = 7;
    pub const TIMEOUT: usize = 8;
    pub const REFUSED: usize = 9;
    pub const OTHER: usize = 10;
    pub const INVALID: usize = 11;
    pub const TRUNCATED: usize = 13;
    pub const OUTDATED: usize = 14;
}

/// One nameserver and its counters.
pub struct Nameserver {
    /// Its ID.
    pub id: String,
    /// Its address.
    pub addr: SocketAddr,
    /// The counters `show resolvers` prints.
    counters: [AtomicU64; 15],
}

impl Nameserver {
    pub(crate) fn inc(&self, i: usize) {
        self.counters[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// One `resolvers` section at run time.
pub struct Section {
    /// Its name.
    pub name: String,
    /// Its timers.
    pub params: Params,
    /// Its nameservers.
    pub nameservers: Vec<Nameserver>,
}

/// Every `resolvers` section, shared by the resolver task and the runtime API.
pub struct Registry {
    /// The sections, in configuration order.
    pub sections: Vec<Section>,
    /// Wakes the resolver task (a name changed at run time).
    pub(crate) wake: Notify,
}

impl Registry {
    /// The sections of the configuration.
    pub fn new(config: &[fulcrum_config::haproxy::Resolvers]) -> Registry {
        let sections = config
            .iter()
            .map(|r| Section {
                name: r.name.clone(),
                params: Params {
                    retries: r.retries,
                    resolve: r.timeout_resolve,
                    retry: r.timeout_retry,
                    hold: Hold {
                        valid: r.hold_valid,
                        nx: r.hold_nx,
                        other: r.hold_other,
                        refused: r.hold_refused,
                        timeout: r.hold_timeout,
                        obsolete: r.hold_obsolete,
                    },
                    payload: r.accepted_payload_size,
                    nameservers: r.nameservers.len(),
                },
                nameservers: r
                    .nameservers
                    .iter()
                    .map(|n| Nameserver {
                        id: n.id.clone(),
                        addr: n.addr,
                        counters: Default::default(),
                    })
                    .collect(),
            })
            .collect();
        Registry {
            sections,
            wake: Notify::new(),
        }
    }

    /// Asks the resolver task to look at the servers' names again now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The index of section `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.sections.iter().position(|s| s.name == name)
    }

    /// The counters, for `show resolvers`.
    pub fn info(&self) -> Vec<ResolversInfo> {
        self.sections
            .iter()
            .map(|s| ResolversInfo {
                name: s.name.clone(),
                nameservers: s
                    .nameservers
                    .iter()
                    .map(|n| NameserverInfo {
                        id: n.id.clone(),
                        counters: std::array::from_fn(|i| n.counters[i].load(Ordering::Relaxed)),
                    })
                    .collect(),
            })
            .collect()
    }
}
