//! Health checking: the pure rise/fall tracker and the probes (TCP connect, HTTP, the protocol checks of
//! [`protocol`]: SMTP, Redis, PostgreSQL, MySQL, LDAP, SPOP), and keepalived's
//! real-server checkers in [`keepalived`]. [`agent`] reads HAProxy's `agent-check` replies.
//!
//! A checker task per server loops: run the server's [`Probe`], feed [`CheckOutcome::result`]
//! to its [`Tracker`], log [`haproxy_log_line`] when a [`Transition`] comes back, and sleep
//! [`Tracker::next_interval`].

pub mod agent;
pub mod check_ctx;
pub mod error;
pub mod external;
pub mod http;
mod http2;
pub mod keepalived;
pub mod log;
pub mod outcome;
pub mod probe;
pub mod protocol;
pub mod response;
mod status_line;
pub mod tcp;
pub mod tcpcheck;
pub mod tls_check;
pub mod tracker;

pub use agent::{agent_exchange, agent_exchange_with, AgentReply, AgentReport};
pub use error::SpecError;
pub use http::{http_check, HttpCheck};
pub use log::{
    agent_check_line, haproxy_log_line, health_check_line, no_server_available_line, CheckProgress,
    LogContext,
};
pub use outcome::{CheckOutcome, CheckStatus};
pub use probe::{Probe, TlsCheck};
pub use protocol::{protocol_check, ProtocolCheck};
pub use response::{Expect, ExpectRule, HeaderRule, Match, TextMatch};
pub use tcp::tcp_check;
pub use tcpcheck::TcpCheck;
pub use tls_check::HandshakeTally;
pub use tracker::{CheckResult, Status, Tracker, Transition};
