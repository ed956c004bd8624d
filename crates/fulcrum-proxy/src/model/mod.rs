//! The ground floor: the running configuration as the data path reads it, built once from the validated config
//! model, and the live state that changes under it through atomics. Nothing here knows a socket or a task.
//!
//! - [`snapshot`]: the snapshot itself (frontends, backends, servers), built by [`snapshot::Snapshot::build`].
//! - [`server`], [`server_list`], [`slot`], [`ramp`]: a server's live state, a backend's server list, the
//!   `maxconn` slots and queue counts, the `slowstart` ramp.
//! - [`select`]: each backend's selection table (the farm), rebuilt when a server changes state.
//! - [`counters`]: the `show stat` counters' storage; [`stick`]: the stick tables.
//! - [`rules`]: ACLs and rules, compiled here and evaluated per request by the data path.
//! - [`log`]: log formats, targets and the logger thread.
//! - [`limits`], [`error_pages`], [`tls_config`]: the message buffer's limits, the error responses, the
//!   servers' TLS settings; [`error`]: why a snapshot could not be built.

pub mod conn_gauges;
pub mod counters;
pub mod error;
pub mod error_pages;
pub mod h1_stats;
pub mod h2_stats;
pub mod limits;
pub mod log;
pub mod observed;
pub mod process_stats;
pub mod ramp;
pub mod resolvers;
pub mod rules;
pub mod select;
pub mod server;
pub mod server_list;
pub mod slot;
pub mod snapshot;
pub mod ssl_conns;
pub mod ssl_stats;
pub mod stick;
pub mod tls_config;
