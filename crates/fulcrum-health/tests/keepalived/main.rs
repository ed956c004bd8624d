//! keepalived's checkers against servers and programs on this machine: HTTP (and TLS) servers, a UDP DNS
//! responder, an SMTP responder on 127.0.0.1, and shell scripts for MISC_CHECK.

mod dns;
mod http;
mod misc;
mod smtp;
mod tls;

use std::time::Duration;

use fulcrum_health::keepalived::ConnectOptions;

/// Connection options with a short timeout, for servers that answer at once.
pub fn quick() -> ConnectOptions {
    ConnectOptions::with_timeout(Duration::from_secs(3))
}
