//! The L4 virtual-server table, the ipvsadm command line and output formats, and the data-plane backends.
//!
//! - [`model`]: the table (services, real servers, timeouts), independent of any data plane.
//! - [`args`]: ipvsadm's command line; [`format`]: its output formats; [`usage`]: `-h`.
//! - [`record`]: the compact encoding the data planes store next to their rules.
//! - [`plane`]: data planes (nftables, a state file).
//! - [`rate`]: the `--rate` estimator (two readings of the counters).
//! - [`controller`]: [`run_controller`], re-weighting connection-count schedulers from live counts.
//! - [`metrics`]: `--metrics ADDR`, the table's counters for Prometheus.
//! - [`cli`]: [`cli_main`], the `ipvsadm` entry point.

pub mod addr;
pub mod announce;
pub mod args;
pub mod cli;
pub mod controller;
pub mod format;
pub mod metrics;
pub mod model;
pub mod plane;
pub mod rate;
pub mod record;
pub mod sync;
pub mod usage;

pub use cli::cli_main;
pub use controller::run_controller;
