//! What `ipvsadm --start-daemon` asks for, and how `ipvsadm -L --daemon` prints it (pure).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// The IPVS sync group, port, packet length and TTL the kernel reports when none was given.
pub const DEFAULT_GROUP: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 81));
/// Default UDP port (IPVS's).
pub const DEFAULT_PORT: u16 = 8848;
/// Default largest sync message (IPVS's, for a 1500-byte MTU).
pub const DEFAULT_MAXLEN: u16 = 1472;
/// Default multicast TTL.
pub const DEFAULT_TTL: u8 = 1;

/// Which side of the synchronisation a daemon is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Sends this director's connections.
    Master,
    /// Receives the master's connections into this director's table.
    Backup,
}

impl Role {
    /// `master` or `backup`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Backup => "backup",
        }
    }

    /// From ipvsadm's word.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "master" => Some(Role::Master),
            "backup" => Some(Role::Backup),
            _ => None,
        }
    }
}

/// A sync daemon's settings (`--mcast-interface`, `--syncid`, `--sync-maxlen`, `--mcast-group`,
/// `--mcast-port`, `--mcast-ttl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSpec {
    /// Master or backup.
    pub role: Role,
    /// The interface the messages leave or arrive on.
    pub interface: String,
    /// The sync id (0-255): master and backup of one pair share it.
    pub syncid: u8,
    /// Largest message.
    pub maxlen: u16,
    /// Multicast group.
    pub group: IpAddr,
    /// Base UDP port.
    pub port: u16,
    /// Multicast TTL.
    pub ttl: u8,
}

impl SyncSpec {
    /// A daemon with IPVS's defaults.
    pub fn new(role: Role, interface: &str, syncid: u8) -> SyncSpec {
        SyncSpec {
            role,
            interface: interface.to_string(),
            syncid,
            maxlen: DEFAULT_MAXLEN,
            group: DEFAULT_GROUP,
            port: DEFAULT_PORT,
            ttl: DEFAULT_TTL,
        }
    }

    /// The UDP port the pair uses: the base port plus the sync id, because conntrackd (which carries the
    /// connections) has no sync id of its own to keep pairs apart on one group.
    pub fn wire_port(&self) -> u16 {
        self.port.saturating_add(u16::from(self.syncid))
    }

    /// One line of the state file: the fields separated by spaces.
    pub fn record(&self) -> String {
        format!(
            "{} {} {} {} {} {} {}",
            self.role.name(),
            self.interface,
            self.syncid,
            self.maxlen,
            self.group,
            self.port,
            self.ttl
        )
    }

    /// Reads a [`SyncSpec::record`] line back.
    pub fn from_record(line: &str) -> Option<SyncSpec> {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() != 7 {
            return None;
        }
        Some(SyncSpec {
            role: Role::parse(w[0])?,
            interface: w[1].to_string(),
            syncid: w[2].parse().ok()?,
            maxlen: w[3].parse().ok()?,
            group: w[4].parse().ok()?,
            port: w[5].parse().ok()?,
            ttl: w[6].parse().ok()?,
        })
    }
}

/// `ipvsadm -L --daemon`'s line for a running daemon.
impl fmt::Display for SyncSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} sync daemon (mcast={}, syncid={}, maxlen={}, group={}, port={}, ttl={})",
            self.role.name(),
            self.interface,
            self.syncid,
            self.maxlen,
            self.group,
            self.port,
            self.ttl
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_line_and_record_round_trip() {
        let mut s = SyncSpec::new(Role::Master, "eth1", 5);
        assert_eq!(
            s.to_string(),
            "master sync daemon (mcast=eth1, syncid=5, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
        );
        assert_eq!(s.wire_port(), 8853);
        s.role = Role::Backup;
        s.group = "239.1.1.1".parse().unwrap();
        assert_eq!(SyncSpec::from_record(&s.record()), Some(s.clone()));
        assert!(s
            .to_string()
            .starts_with("backup sync daemon (mcast=eth1, syncid=5,"));
        assert_eq!(SyncSpec::from_record("master eth1 5"), None);
    }
}
