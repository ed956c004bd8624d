//! fulcrum's administration surface: the plain-data stats model built from the proxy's counters,
//! and its renderers (HAProxy's CSV, the HTML stats page, Prometheus text exposition).

pub mod cluster_page;
pub mod csv;
pub mod exposition;
pub mod histogram;
pub mod history;
pub mod html;
pub mod json_stat;
pub mod metrics_server;
pub mod prometheus;
pub mod runtime;
pub mod stats;
pub mod typed_stat;

pub use histogram::{Histogram, HistogramSnapshot};
pub use stats::{AgentRow, Row, RowKind, Stats};
