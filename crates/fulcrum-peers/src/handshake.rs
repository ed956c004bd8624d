//! The text handshake: the hello lines of the connecting side and the status line of the other.

use crate::Error;

/// The protocol name and version the hello starts with.
pub const PROTOCOL: &str = "HAProxyS";
/// The version spoken here (HAProxy 2.6's).
pub const VERSION: &str = "2.1";

/// The connecting side's hello: `HAProxyS 2.1`, the name it expects the other side to have, then its own name,
/// process id and relative process id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The version announced (`2.1`).
    pub version: String,
    /// The name of the peer connected to, as the sender's configuration spells it.
    pub remote: String,
    /// The sender's own peer name.
    pub local: String,
    /// The sender's process id.
    pub pid: u32,
    /// The sender's relative process id (1 without `nbproc`).
    pub relative_pid: u32,
}

/// The longest hello accepted (three short lines).
const MAX_HELLO: usize = 1024;

impl Hello {
    /// A hello from `local` to `remote`.
    pub fn new(remote: &str, local: &str, pid: u32) -> Hello {
        Hello {
            version: VERSION.into(),
            remote: remote.into(),
            local: local.into(),
            pid,
            relative_pid: 1,
        }
    }

    /// The three lines.
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{PROTOCOL} {}\n{}\n{} {} {}\n",
            self.version, self.remote, self.local, self.pid, self.relative_pid
        )
        .into_bytes()
    }

    /// Parses a hello at the start of `buf`: `Ok(None)` until its three lines are there, then the hello and the
    /// bytes it took. A hello of another protocol or an unreadable line is an error (answer [`Status::Protocol`]);
    /// check [`Hello::version_ok`] for [`Status::BadVersion`].
    pub fn parse(buf: &[u8]) -> Result<Option<(Hello, usize)>, Error> {
        let mut lines = Vec::with_capacity(3);
        let mut start = 0;
        for (i, &b) in buf.iter().enumerate() {
            if b == b'\n' {
                lines.push(&buf[start..i]);
                start = i + 1;
                if lines.len() == 3 {
                    break;
                }
            }
        }
        if lines.len() < 3 {
            if buf.len() > MAX_HELLO {
                return Err(Error::Handshake("hello too long"));
            }
            return Ok(None);
        }
        let text = |b: &[u8]| {
            std::str::from_utf8(b)
                .map(|s| s.trim_end_matches('\r').to_string())
                .map_err(|_| Error::Handshake("not text"))
        };
        let first = text(lines[0])?;
        let (proto, version) = first
            .split_once(' ')
            .ok_or(Error::Handshake("no version"))?;
        if proto != PROTOCOL {
            return Err(Error::Handshake("not the peers protocol"));
        }
        let remote = text(lines[1])?;
        let third = text(lines[2])?;
        let mut words = third.split(' ');
        let local = words.next().unwrap_or("").to_string();
        let pid = words
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or(Error::Handshake("no process id"))?;
        let relative_pid = words
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or(Error::Handshake("no relative process id"))?;
        if remote.is_empty() || local.is_empty() {
            return Err(Error::Handshake("empty peer name"));
        }
        Ok(Some((
            Hello {
                version: version.to_string(),
                remote,
                local,
                pid,
                relative_pid,
            },
            start,
        )))
    }

    /// Whether the announced version can be spoken here: major version 2, minor 1 or above (HAProxy's rule).
    pub fn version_ok(&self) -> bool {
        match self.version.split_once('.') {
            Some((maj, min)) => maj == "2" && min.parse::<u32>().is_ok_and(|m| m >= 1),
            None => false,
        }
    }
}

/// The status line that answers a hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 200: the session is open.
    Ok,
    /// 300: try again later (the peer is busy or has a session with us already).
    TryAgain,
    /// 501: the hello is not readable.
    Protocol,
    /// 502: the version is not spoken.
    BadVersion,
    /// 503: the hello names another peer than the one that received it.
    LocalMismatch,
    /// 504: the sender is not a peer of the receiver's section.
    RemoteMismatch,
    /// Another code.
    Other(u16),
}

impl Status {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::TryAgain => 300,
            Status::Protocol => 501,
            Status::BadVersion => 502,
            Status::LocalMismatch => 503,
            Status::RemoteMismatch => 504,
            Status::Other(c) => c,
        }
    }

    /// The status of a code.
    pub fn from_code(c: u16) -> Status {
        match c {
            200 => Status::Ok,
            300 => Status::TryAgain,
            501 => Status::Protocol,
            502 => Status::BadVersion,
            503 => Status::LocalMismatch,
            504 => Status::RemoteMismatch,
            c => Status::Other(c),
        }
    }

    /// The status line.
    pub fn encode(self) -> Vec<u8> {
        format!("{}\n", self.code()).into_bytes()
    }

    /// Parses a status line at the start of `buf`: `Ok(None)` until the line is complete.
    pub fn parse(buf: &[u8]) -> Result<Option<(Status, usize)>, Error> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() > 16 {
                return Err(Error::Handshake("status line too long"));
            }
            return Ok(None);
        };
        let code = std::str::from_utf8(&buf[..end])
            .ok()
            .and_then(|s| s.trim_end_matches('\r').parse::<u16>().ok())
            .ok_or(Error::Handshake("bad status line"))?;
        Ok(Some((Status::from_code(code), end + 1)))
    }
}
