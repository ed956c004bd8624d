//! The immutable table a backend balances over, rebuilt off the hot path whenever a server's
//! weight, backup flag or usability changes.

use crate::algorithm::{Algorithm, HashMethod, HashType};
use crate::error::BuildError;
use crate::hash::splitmix64;
use crate::ring::Ring;
use crate::sequence::interleave;

/// One server as the balancer sees it, at the server's index in the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSlot {
    /// `weight N`; 0 means the server never receives new traffic.
    pub weight: u32,
    /// `backup`: used only when no active server is usable.
    pub backup: bool,
    /// Whether the server may receive traffic now (checks pass, not in maintenance or drain).
    pub usable: bool,
    /// `maxconn N`, used by `first`; `None` means no limit.
    pub maxconn: Option<u32>,
    /// HAProxy's server `id` (stable across reloads), which places the server on a consistent
    /// ring; `None` means `index + 1`, as HAProxy numbers servers.
    pub id: Option<u32>,
}

impl ServerSlot {
    /// A usable, active server with `weight`, no `maxconn` and the default id.
    pub const fn new(weight: u32) -> Self {
        ServerSlot {
            weight,
            backup: false,
            usable: true,
            maxconn: None,
            id: None,
        }
    }

    /// Sets the `backup` flag.
    pub const fn backup(mut self, backup: bool) -> Self {
        self.backup = backup;
        self
    }

    /// Sets whether the server is usable.
    pub const fn usable(mut self, usable: bool) -> Self {
        self.usable = usable;
        self
    }

    /// Sets `maxconn`.
    pub const fn maxconn(mut self, maxconn: Option<u32>) -> Self {
        self.maxconn = maxconn;
        self
    }

    /// Sets the stable server id.
    pub const fn id(mut self, id: u32) -> Self {
        self.id = Some(id);
        self
    }
}

/// What a backend balances over: the servers in use and the tables its algorithm needs.
///
/// Built once from [`ServerSlot`]s (allocation happens here), then shared read-only by every
/// worker thread (e.g. behind an `ArcSwap`); each thread picks with its own [`crate::Selector`].
#[derive(Debug, Clone)]
pub struct Farm {
    pub(crate) algorithm: Algorithm,
    pub(crate) hash_type: HashType,
    /// Servers in use, ascending index (ascending id for `first`).
    pub(crate) selected: Vec<u32>,
    /// Weight of every slot.
    pub(crate) weights: Vec<u32>,
    /// `maxconn` of every slot, `u32::MAX` for none.
    pub(crate) maxconn: Vec<u32>,
    /// The smooth weighted round-robin order (round robin and map-based hashing).
    pub(crate) sequence: Vec<u32>,
    /// The consistent ring (consistent hashing and `random`).
    pub(crate) ring: Ring,
    on_backup: bool,
    usable_active: usize,
    usable_backup: usize,
}

impl Farm {
    /// Builds the farm for `slots` under `algorithm` and `hash_type`.
    ///
    /// The servers in use are the usable active (non-backup) servers with a weight above 0;
    /// when there is none, the first usable backup (lowest index) with a weight above 0, or all
    /// of them when `allbackups` is set.
    pub fn new(
        slots: &[ServerSlot],
        allbackups: bool,
        algorithm: Algorithm,
        hash_type: HashType,
    ) -> Result<Farm, BuildError> {
        match &algorithm {
            Algorithm::Random(0) => return Err(BuildError::ZeroDraws),
            Algorithm::UrlParam(n) if n.is_empty() => {
                return Err(BuildError::EmptyName("url_param"))
            }
            Algorithm::Hdr(n) if n.is_empty() => return Err(BuildError::EmptyName("hdr()")),
            _ => {}
        }
        let in_use = |s: &ServerSlot| s.usable && s.weight > 0;
        let usable_active = slots.iter().filter(|s| !s.backup && in_use(s)).count();
        let usable_backup = slots.iter().filter(|s| s.backup && in_use(s)).count();
        let index = |i: usize| i as u32;
        let mut selected: Vec<u32> = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.backup && in_use(s))
            .map(|(i, _)| index(i))
            .collect();
        let on_backup = selected.is_empty() && usable_backup > 0;
        if on_backup {
            let backups = slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.backup && in_use(s))
                .map(|(i, _)| index(i));
            selected = if allbackups {
                backups.collect()
            } else {
                backups.take(1).collect()
            };
        }
        let id_of = |i: u32| slots[i as usize].id.unwrap_or(i.saturating_add(1));
        if algorithm == Algorithm::First {
            selected.sort_by_key(|&i| (id_of(i), i));
        }
        let weighted: Vec<(u32, u32)> = selected
            .iter()
            .map(|&i| (i, slots[i as usize].weight))
            .collect();
        let needs_sequence =
            matches!(algorithm, Algorithm::RoundRobin | Algorithm::StaticRr) || algorithm.is_hash();
        let sequence = if needs_sequence {
            interleave(&weighted)?
        } else {
            Vec::new()
        };
        let needs_ring = matches!(algorithm, Algorithm::Random(_))
            || (algorithm.is_hash() && hash_type.method == HashMethod::Consistent);
        let ring = if needs_ring {
            let placed: Vec<(u32, u32, u32)> =
                weighted.iter().map(|&(i, w)| (i, id_of(i), w)).collect();
            Ring::build(&placed)?
        } else {
            Ring::default()
        };
        Ok(Farm {
            algorithm,
            hash_type,
            selected,
            weights: slots.iter().map(|s| s.weight).collect(),
            maxconn: slots
                .iter()
                .map(|s| s.maxconn.unwrap_or(u32::MAX))
                .collect(),
            sequence,
            ring,
            on_backup,
            usable_active,
            usable_backup,
        })
    }

    /// The algorithm this farm balances with (tells the caller what [`crate::RequestKey`] needs).
    pub fn algorithm(&self) -> &Algorithm {
        &self.algorithm
    }

    /// The hash type this farm was built with.
    pub fn hash_type(&self) -> HashType {
        self.hash_type
    }

    /// Number of slots the farm was built from.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether no server can be picked.
    pub fn is_empty(&self) -> bool {
        self.selected.is_empty()
    }

    /// Indices of the servers in use (ascending index; ascending id for `first`).
    pub fn servers(&self) -> &[u32] {
        &self.selected
    }

    /// Whether traffic goes to backup servers because no active server is usable.
    pub fn on_backup(&self) -> bool {
        self.on_backup
    }

    /// Usable active servers with a weight above 0 (HAProxy's "N active servers").
    pub fn usable_active(&self) -> usize {
        self.usable_active
    }

    /// Usable backup servers with a weight above 0 (HAProxy's "N backup servers").
    pub fn usable_backup(&self) -> usize {
        self.usable_backup
    }

    /// The servers `random(N)` draws for `rng`, in draw order (empty for other algorithms).
    pub fn random_draws(&self, rng: u64) -> impl Iterator<Item = usize> + '_ {
        let draws = match self.algorithm {
            Algorithm::Random(n) => n,
            _ => 0,
        };
        let mut state = rng;
        (0..draws).filter_map(move |_| {
            let point = (splitmix64(&mut state) >> 32) as u32;
            self.ring.lookup(point, None).map(|s| s as usize)
        })
    }
}
