//! keepalived's checker half for `fulcrum keepalived`: the real servers of every `virtual_server` are checked
//! (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, DNS_CHECK, SMTP_CHECK: the probes of fulcrum-health) and the L4
//! virtual-server table of fulcrum-lvs follows their verdicts, through the same model and data planes as
//! `fulcrum ipvsadm`.
//!
//! - [`plan`]: pure; configuration plus verdicts into the services and real servers the table should hold
//!   (inhibit_on_failure, quorum with hysteresis, sorry server).
//! - [`reconcile`]: pure; changes a table to match, touching only the services this process owns.
//! - [`probe`]: a configured checker into the fulcrum-health probe that runs it.
//! - [`runner`]: the running subsystem ([`Checkers`]): one task per checker, one control thread.
//! - [`scripts`]: notify and quorum scripts.
//! - [`metrics`]: pure; the checkers' state (and the table's counters) as Prometheus metrics.
//! - [`retry`]: a failed store of the table: when to try again and what to log.

pub mod metrics;
pub mod plan;
pub mod probe;
pub mod reconcile;
pub mod retry;
pub mod runner;
pub mod scripts;

pub use runner::{Checkers, MetricsPage, Plane, Reloader, StartError};
