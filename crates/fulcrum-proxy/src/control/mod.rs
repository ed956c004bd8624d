//! The control surface on top: the runtime API on `stats socket` lines ([`runtime_api`], with the certificate
//! commands of [`cert_api`] and the CA / CRL file commands of [`cafile_api`]) and the server-state file ([`server_state`]). The stats page and the Prometheus
//! exporter are answered by the HTTP path (`data/http/stats.rs`).

pub mod cafile_api;
pub mod cert_api;
pub mod runtime_api;
pub mod server_state;
