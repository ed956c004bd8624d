//! HAProxy-compatible access logs.
//!
//! - [`format`]: `log-format` strings compiled once, rendered per request; `option httplog` and `option tcplog`
//!   are the formats [`default_httplog`] and [`default_tcplog`].
//! - `data/http_log.rs` and `data/tcp_log.rs` (in the data path): what the request path records (timestamps, byte counts, termination state) and the
//!   moment a line is emitted (after the last byte of the response reached the socket, or the connection ended).
//! - [`syslog`]: the framing per target (`rfc3164`, `rfc5424`, `short`, `raw`), levels and `len`.
//! - [`sender`]: the logger thread, fed through a bounded channel that drops (and counts) when full.
//!
//! A proxy logs when it has `log global` (with `log` lines in `global`) or `log` lines of its own. Without
//! `option httplog`/`option tcplog` (or a `log-format`), it logs HAProxy's short line at connection time:
//! `Connect from 127.0.0.1:52320 to 127.0.0.1:18084 (plain/TCP)`.
//!
//! The syslog tag is `fulcrum` (HAProxy writes its program name, `haproxy`) unless `log-tag` names one (the
//! proxy's over the global one); `log-send-hostname` adds a host name to the header. The rest of each frame is
//! identical to HAProxy 2.6's.

pub mod capture;
pub mod clock;
pub mod digits;
pub mod fields;
pub mod format;
pub mod sample;
pub mod sender;
pub mod syslog;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use fulcrum_config::haproxy::{Config, Mode, Proxy};

pub use fields::Fields;
pub use format::{default_httplog, default_httpslog, default_tcplog, FormatError, LogFormat};
pub use sender::{LogStats, Logger, Sink};
pub use syslog::Target;

/// The syslog tag fulcrum sends (HAProxy's `log-tag`, which defaults to the program name).
pub const DEFAULT_TAG: &str = "fulcrum";

/// What a frontend logs.
#[derive(Debug, Clone)]
pub enum LogKind {
    /// A line per request (http) or connection (tcp) in this format.
    Format(LogFormat),
    /// HAProxy's line at connection time when no format is set: `Connect from C to F (NAME/MODE)`.
    Connect,
}

/// The logging of one frontend.
pub struct FrontendLog {
    /// The line logged.
    pub kind: LogKind,
    /// `option dontlognull`: nothing is logged for a connection on which the client sent nothing.
    pub dontlognull: bool,
    /// `option dontlog-normal`: only requests or connections that went wrong are logged.
    pub dontlog_normal: bool,
    /// `option logasap`: the line goes out once the response head is sent (`mode tcp`: once the server
    /// connection is up).
    pub logasap: bool,
    /// `mode http`
    pub http: bool,
    /// The frontend's name.
    pub name: String,
    /// How much of the request line `%r` keeps (`tune.http.logurilen`).
    pub uri_len: usize,
    set: u32,
    sink: Sink,
}

/// Whether a request (or connection) went normally, as `option dontlog-normal` sees it: no termination cause
/// other than a local answer, no retry, and (in `mode http`) no 5xx status.
fn normal(f: &Fields<'_>, http: bool) -> bool {
    matches!(f.term[0], b'-' | b'L') && f.retries == 0 && !(http && f.status >= 500)
}

impl FrontendLog {
    /// Sends a message (already rendered) to this frontend's targets.
    pub fn send(&self, level: u8, us: i64, msg: &[u8]) {
        self.sink.send(self.set, level, us, msg);
    }

    /// Renders `fields` in this frontend's format and sends the line (nothing for [`LogKind::Connect`]) at
    /// level info.
    pub fn emit(&self, us: i64, fields: &Fields<'_>) {
        self.emit_at(syslog::INFO, us, fields);
    }

    /// [`FrontendLog::emit`] at `level` (`set-log-level`): a target whose level is below it drops the line.
    pub fn emit_at(&self, level: u8, us: i64, fields: &Fields<'_>) {
        let LogKind::Format(f) = &self.kind else {
            return;
        };
        if self.dontlog_normal && normal(fields, self.http) {
            return;
        }
        SCRATCH.with(|s| {
            let mut buf = s.borrow_mut();
            buf.clear();
            f.render(fields, &mut buf);
            self.send(level, us, &buf);
        });
    }

    /// Sends HAProxy's connection line.
    pub fn emit_connect(&self, us: i64, client: SocketAddr, local: Option<SocketAddr>) {
        let local = local.map_or_else(|| "-".to_string(), |a| a.to_string());
        let mode = if self.http { "HTTP" } else { "TCP" };
        let line = format!("Connect from {client} to {local} ({}/{mode})", self.name);
        self.send(syslog::INFO, us, line.as_bytes());
    }
}

/// A proxy's event log: what HAProxy sends to a proxy's `log` targets besides traffic logs (health checks,
/// server state changes, `backend X has no server available!`).
pub struct EventLog {
    set: u32,
    sink: Sink,
}

impl EventLog {
    /// Sends `msg` at syslog `level` (see [`syslog::NOTICE`] and its neighbours), stamped now.
    pub fn send(&self, level: u8, msg: &str) {
        let us = clock::unix_us(std::time::SystemTime::now());
        self.sink.send(self.set, level, us, msg.as_bytes());
    }
}

thread_local! {
    /// The buffer lines are rendered into on each worker (reused, so rendering does not allocate).
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

/// The logging of a whole configuration: the target lists, the queue and, once started, the logger thread.
pub struct Logging {
    sets: Mutex<Vec<Vec<Target>>>,
    sink: Sink,
    queue: Mutex<Option<sender::Queue>>,
    tag: String,
    /// `log-send-hostname`: the host name in every syslog header.
    host: Option<Arc<str>>,
    /// The global `log-tag`.
    global_tag: Option<Arc<str>>,
    global: Vec<Target>,
    /// `tune.http.logurilen`
    uri_len: usize,
}

impl Logging {
    /// Prepares logging for `config` (no thread is started yet).
    pub fn new(config: &Config) -> Logging {
        let (sink, queue) = sender::channel(sender::QUEUE_LEN);
        Logging {
            sets: Mutex::new(Vec::new()),
            sink,
            queue: Mutex::new(Some(queue)),
            tag: DEFAULT_TAG.to_string(),
            host: config
                .global
                .log_send_hostname
                .as_ref()
                .map(|h| h.as_deref().unwrap_or_else(|| clock::hostname()).into()),
            global_tag: config.global.log_tag.as_deref().map(Arc::from),
            global: config.global.logs.iter().map(Target::from_config).collect(),
            uri_len: config.global.logurilen() as usize,
        }
    }

    /// The logging of proxy `p` in its frontend role, in HAProxy's default formats; `None` when it has no target.
    pub fn frontend(&self, p: &Proxy) -> Option<Arc<FrontendLog>> {
        self.frontend_with_format(p, None)
    }

    /// The logging of proxy `p` with a `log-format` (which replaces `option httplog`/`tcplog`).
    pub fn frontend_with_format(
        &self,
        p: &Proxy,
        custom: Option<LogFormat>,
    ) -> Option<Arc<FrontendLog>> {
        let set = self.target_set(p)?;
        let http = p.mode == Mode::Http;
        let kind = match custom {
            Some(f) => LogKind::Format(f),
            None if p.httpslog && http => LogKind::Format(default_httpslog()),
            None if p.httplog && http => LogKind::Format(default_httplog()),
            // HAProxy falls back to tcplog for `option httplog` (and `httpslog`) in a tcp proxy.
            None if p.httplog || p.tcplog => LogKind::Format(default_tcplog()),
            None => LogKind::Connect,
        };
        Some(Arc::new(FrontendLog {
            kind,
            dontlognull: p.dontlognull,
            dontlog_normal: p.dontlog_normal,
            logasap: p.logasap,
            http,
            name: p.name.clone(),
            uri_len: self.uri_len,
            set,
            sink: self.sink.clone(),
        }))
    }

    /// The log of proxy `p`'s events (health checks, server state changes), sent to its targets; `None` when it
    /// has none.
    pub fn events(&self, p: &Proxy) -> Option<Arc<EventLog>> {
        let set = self.target_set(p)?;
        Some(Arc::new(EventLog {
            set,
            sink: self.sink.clone(),
        }))
    }

    /// The index of `p`'s target list (`log global` and its own `log` lines), registered on first use.
    fn target_set(&self, p: &Proxy) -> Option<u32> {
        let mut targets: Vec<Target> = Vec::new();
        if p.log_global {
            targets.extend(self.global.iter().cloned());
        }
        targets.extend(p.logs.iter().map(Target::from_config));
        if targets.is_empty() {
            return None;
        }
        // `log-tag` (the proxy's, else the global one) and `log-send-hostname` frame this proxy's lines.
        let tag = p
            .log_tag
            .as_deref()
            .map(Arc::from)
            .or(self.global_tag.clone());
        for t in &mut targets {
            t.tag = tag.clone();
            t.host = self.host.clone();
        }
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        let set = match sets.iter().position(|s| *s == targets) {
            Some(i) => i,
            None => {
                sets.push(targets);
                sets.len() - 1
            }
        };
        Some(set as u32)
    }

    /// Starts the logger thread (once; later calls return `None`). Nothing is started when no proxy logs.
    pub fn start(&self) -> std::io::Result<Option<Logger>> {
        let sets = self.sets.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if sets.is_empty() {
            return Ok(None);
        }
        let Some(queue) = self.queue.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Ok(None);
        };
        sender::spawn(&self.sink, queue, sets, self.tag.clone()).map(Some)
    }

    /// Lines queued, dropped and failed so far.
    pub fn stats(&self) -> &Arc<LogStats> {
        self.sink.stats()
    }
}

/// Milliseconds between two instants, `-1` when either is missing.
pub(crate) fn ms(from: Option<std::time::Instant>, to: Option<std::time::Instant>) -> i64 {
    match (from, to) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_millis() as i64,
        _ => -1,
    }
}
