//! Data planes: where the table lives and how traffic follows it.
//!
//! A data plane loads the table (configuration plus live counters and connection counts) and stores a
//! new table atomically. The command line works as load, change the model, store: the model is the
//! single source of truth and every data plane renders the whole of it. Two data planes exist:
//!
//! - [`nft::NftPlane`]: the kernel's nftables (the default); see that module for the design and
//!   [`render`] for the script it writes.
//! - [`file::FilePlane`]: a file holding the table's records, with no traffic at all; for tests and dry
//!   runs (`FULCRUM_LVS_STATE=/path/to/file`).
//!
//! Tunnel real servers are forwarded by the nftables plane with an encapsulation program at the egress
//! hook ([`tunnel`]). An XDP data plane can implement the same trait later.

pub mod conntrack;
pub mod file;
pub mod lock;
pub mod nft;
pub mod render;
pub mod tunnel;
pub mod xdp;
pub mod xdp_pins;
pub mod xdp_probe;

use crate::format::ConnEntry;
use crate::model::Table;
use crate::record::RecordError;

/// Errors of a data plane.
#[derive(Debug, thiserror::Error)]
pub enum PlaneError {
    /// A helper program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// A helper program failed.
    #[error("{program} failed: {stderr}")]
    Command {
        /// The program.
        program: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// The kernel's state could not be understood.
    #[error("cannot read the table back: {0}")]
    Parse(String),
    /// A stored record is malformed.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// Reading or writing the state file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The table cannot be expressed by this data plane.
    #[error("{0}")]
    Unsupported(String),
    /// A store failed and the previous table is still in force: nothing of the change was applied (the
    /// cause says why; where a step had already run, the table was read back to check).
    #[error("the change was not applied, the previous table is in place: {0}")]
    NotApplied(Box<PlaneError>),
    /// A store failed and reading the table back could not show which table is in force.
    #[error("the change failed ({cause}) and the table in force is not known: {check}; list it with ipvsadm -Ln")]
    Uncertain {
        /// Why the store failed.
        cause: Box<PlaneError>,
        /// What the check found.
        check: String,
    },
}

impl PlaneError {
    /// `self` as the failure of a store that left the previous table in place.
    pub fn not_applied(self) -> PlaneError {
        match self {
            e @ (PlaneError::NotApplied(_) | PlaneError::Uncertain { .. }) => e,
            e => PlaneError::NotApplied(Box::new(e)),
        }
    }
}

/// Where the virtual-server table lives.
pub trait DataPlane {
    /// The current table with live figures (counters, active/inactive connections).
    fn load(&mut self) -> Result<Table, PlaneError>;
    /// Replaces the whole table atomically; counters of entries that stay carry over from `table`'s
    /// observed figures. A failure leaves the previous table in force and says so
    /// ([`PlaneError::NotApplied`]), or says that the table in force is not known
    /// ([`PlaneError::Uncertain`]).
    fn store(&mut self, table: &Table) -> Result<(), PlaneError>;
    /// The connection entries of the virtual services.
    fn connections(&mut self) -> Result<Vec<ConnEntry>, PlaneError>;
    /// True when the data plane carries traffic (its counters move, so rates are worth sampling).
    fn live(&self) -> bool {
        false
    }
    /// Takes the lock every writer holds from the read its change is based on until its write
    /// ([`lock`]); none for a plane only one process uses.
    fn lock(&mut self) -> Result<Option<lock::TableLock>, PlaneError> {
        Ok(None)
    }
    /// Whether the table should be stored again although it did not change (the XDP program finished loading
    /// in the background and can take its services).
    fn wants_store(&mut self) -> bool {
        false
    }
    /// True when the last store gave service `id` to a plane that forwards every tunnel type (the XDP
    /// program: IP-in-IP, GUE and GRE; the nftables plane forwards IP-in-IP only).
    fn serves_every_tunnel(&self, _id: u32) -> bool {
        false
    }
    /// What went wrong in the last stores without failing them (the table is in force, but served otherwise
    /// than asked: an XDP program that could not be attached leaves every service to nftables).
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
}
