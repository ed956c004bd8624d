//! Framing a log message for one target, as HAProxy 2.6 does (observed on the wire):
//!
//! - `rfc3164` (default): `<134>Nov 24 21:49:47 TAG[PID]: MSG` (no host name; HAProxy adds one only with
//!   `log-send-hostname`);
//! - `rfc5424`: `<134>1 2026-11-24T21:51:15.595582+00:00 - TAG PID - - MSG` (host name `-`);
//! - `short`: `<6>MSG`: the level alone, without the facility;
//! - `raw`: `MSG`.
//!
//! Every frame ends with `\n`. `len N` (1024 by default) cuts the frame before the `\n` to N bytes.
//! The same framing is written to stdout and stderr targets.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use fulcrum_config::haproxy::{LogAddress, LogFormat as Framing, LogSample, LogTarget};

use super::clock;
use super::digits::push_uint;

/// Syslog facilities (in code order) and levels (most severe first), as the configuration accepts them.
pub use fulcrum_config::haproxy::{SYSLOG_FACILITIES as FACILITIES, SYSLOG_LEVELS as LEVELS};

/// The level of access logs.
pub const INFO: u8 = 6;
/// `emerg`: a backend has no server left.
pub const EMERG: u8 = 0;
/// `alert`: a server goes DOWN.
pub const ALERT: u8 = 1;
/// `notice`: health-check results, a server comes UP.
pub const NOTICE: u8 = 5;

/// Default longest frame (`len`).
pub const DEFAULT_MAX_LEN: usize = 1024;

/// Where frames go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dest {
    /// The process's standard output.
    Stdout,
    /// The process's standard error.
    Stderr,
    /// A syslog server over UDP.
    Udp(std::net::SocketAddr),
    /// A unix datagram socket such as `/dev/log`.
    Unix(PathBuf),
}

/// One `log` line, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where to send.
    pub dest: Dest,
    /// How to frame.
    pub framing: Framing,
    /// Facility code.
    pub facility: u8,
    /// Messages less severe (numerically greater) than this level are not sent.
    pub max_level: u8,
    /// Messages more severe than this level are sent at this level.
    pub min_level: u8,
    /// Longest frame, `\n` excluded.
    pub max_len: usize,
    /// `sample RANGES:SIZE`: the lines this target takes, counted per `log` line.
    pub sample: Option<Arc<Sampler>>,
    /// `log-tag`: the tag of the proxy (or `global`) logging here, over the logger's default.
    pub tag: Option<Arc<str>>,
    /// `log-send-hostname`: the host name written in the syslog header (`rfc3164`, `rfc5424`).
    pub host: Option<Arc<str>>,
}

/// The sampling of one `log` line and its count of lines offered so far (shared by every proxy using it through
/// `log global`, as HAProxy's logger is).
#[derive(Debug)]
pub struct Sampler {
    sample: LogSample,
    seen: AtomicU64,
}

impl PartialEq for Sampler {
    /// The same `log` line: the same sampler.
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Sampler {}

fn code(list: &[&str], name: Option<&str>, default: u8) -> u8 {
    name.and_then(|n| list.iter().position(|l| *l == n))
        .map_or(default, |p| p as u8)
}

impl Target {
    /// Compiles a `log` line of the configuration.
    pub fn from_config(t: &LogTarget) -> Target {
        Target {
            dest: match &t.address {
                LogAddress::Stdout => Dest::Stdout,
                LogAddress::Stderr => Dest::Stderr,
                LogAddress::Udp(a) => Dest::Udp(*a),
                LogAddress::Unix(p) => Dest::Unix(p.clone()),
            },
            framing: t.format,
            facility: code(FACILITIES, Some(&t.facility), 16),
            max_level: code(LEVELS, t.level.as_deref(), 7),
            min_level: code(LEVELS, t.minlevel.as_deref(), 0),
            max_len: t.max_len.map_or(DEFAULT_MAX_LEN, |n| n as usize),
            sample: t.sample.clone().map(|sample| {
                Arc::new(Sampler {
                    sample,
                    seen: AtomicU64::new(0),
                })
            }),
            tag: None,
            host: None,
        }
    }

    /// Whether the next line offered to this target is one its `sample` takes (always, without one).
    pub fn samples_next(&self) -> bool {
        match &self.sample {
            None => true,
            Some(s) => s.sample.takes(s.seen.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// Whether a message of `level` goes to this target.
    pub fn accepts(&self, level: u8) -> bool {
        level <= self.max_level
    }

    /// Appends the frame of `msg` (logged at `level`, at `us` microseconds since the epoch) to `out`.
    pub fn frame(&self, tag: &str, pid: u32, level: u8, us: i64, msg: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let tag = self.tag.as_deref().unwrap_or(tag);
        let level = level.max(self.min_level);
        let pri = u64::from(self.facility) * 8 + u64::from(level);
        match self.framing {
            Framing::Rfc3164 => {
                out.push(b'<');
                push_uint(out, pri);
                out.push(b'>');
                clock::push_rfc3164(out, us);
                out.push(b' ');
                if let Some(host) = &self.host {
                    out.extend_from_slice(host.as_bytes());
                    out.push(b' ');
                }
                out.extend_from_slice(tag.as_bytes());
                out.push(b'[');
                push_uint(out, u64::from(pid));
                out.extend_from_slice(b"]: ");
            }
            Framing::Rfc5424 => {
                out.push(b'<');
                push_uint(out, pri);
                out.extend_from_slice(b">1 ");
                clock::push_rfc5424(out, us);
                out.push(b' ');
                out.extend_from_slice(self.host.as_deref().unwrap_or("-").as_bytes());
                out.push(b' ');
                out.extend_from_slice(tag.as_bytes());
                out.push(b' ');
                push_uint(out, u64::from(pid));
                out.extend_from_slice(b" - - ");
            }
            Framing::Short => {
                out.push(b'<');
                push_uint(out, u64::from(level));
                out.push(b'>');
            }
            Framing::Raw => {}
        }
        out.extend_from_slice(msg);
        out.truncate(start + (out.len() - start).min(self.max_len));
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn target(framing: Framing) -> Target {
        Target {
            dest: Dest::Stdout,
            framing,
            facility: 16,
            max_level: 7,
            min_level: 0,
            max_len: DEFAULT_MAX_LEN,
            sample: None,
            tag: None,
            host: None,
        }
    }

    fn frame(t: &Target, level: u8) -> String {
        let _utc = clock::force_utc_for_tests();
        let mut out = Vec::new();
        t.frame(
            "haproxy",
            28610,
            level,
            1_795_556_987_595_582,
            b"hello",
            &mut out,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn framings() {
        assert_eq!(
            frame(&target(Framing::Rfc3164), INFO),
            "<134>Nov 24 21:49:47 haproxy[28610]: hello\n"
        );
        assert_eq!(
            frame(&target(Framing::Rfc5424), INFO),
            "<134>1 2026-11-24T21:49:47.595582+00:00 - haproxy 28610 - - hello\n"
        );
        assert_eq!(frame(&target(Framing::Short), INFO), "<6>hello\n");
        assert_eq!(frame(&target(Framing::Raw), INFO), "hello\n");
    }

    #[test]
    fn tags_and_host_names_as_haproxy_writes_them() {
        // haproxy 2.6.12 with `log-tag ptag` in the proxy and `log-send-hostname myhost` in global.
        let mut t = target(Framing::Rfc3164);
        t.tag = Some("ptag".into());
        t.host = Some("myhost".into());
        assert_eq!(
            frame(&t, INFO),
            "<134>Nov 24 21:49:47 myhost ptag[28610]: hello\n"
        );
        t.framing = Framing::Rfc5424;
        assert_eq!(
            frame(&t, INFO),
            "<134>1 2026-11-24T21:49:47.595582+00:00 myhost ptag 28610 - - hello\n"
        );
        t.framing = Framing::Short;
        assert_eq!(frame(&t, INFO), "<6>hello\n");
    }

    #[test]
    fn levels_and_length() {
        let mut t = target(Framing::Rfc3164);
        t.facility = 18; // local2
        t.max_len = 30;
        let f = frame(&t, INFO);
        assert_eq!(f, "<150>Nov 24 21:49:47 haproxy[2\n");
        assert_eq!(f.len(), 31);
        t.max_level = 5; // notice
        assert!(!t.accepts(INFO));
        assert!(t.accepts(3));
        t.max_len = 1024;
        t.min_level = 7;
        assert!(frame(&t, 0).starts_with("<151>"));
    }
}

#[cfg(test)]
mod sample_tests {
    use super::*;

    #[test]
    fn sample_takes_the_listed_ranks_of_every_period() {
        let mut t = tests::target(Framing::Raw);
        assert!((0..7).all(|_| t.samples_next()));
        t.sample = Some(Arc::new(Sampler {
            sample: LogSample {
                ranges: vec![(1, 1), (3, 4)],
                size: 5,
            },
            seen: AtomicU64::new(0),
        }));
        let taken: Vec<bool> = (0..10).map(|_| t.samples_next()).collect();
        assert_eq!(
            taken,
            [true, false, true, true, false, true, false, true, true, false]
        );
        // A clone (`log global` in another proxy) shares the count.
        let other = t.clone();
        assert!(other.samples_next());
        assert!(!t.samples_next());
    }
}
