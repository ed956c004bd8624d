//! The conntrackd configuration of a sync daemon (pure).
//!
//! fulcrum's NAT lives in conntrack, whose replication tool is conntrackd; a sync daemon is one conntrackd in
//! FTFW mode (reliable: acknowledged, resent on loss) over UDP multicast on the daemon's interface, with the
//! external cache disabled so that what arrives goes straight into the kernel's conntrack table, as an IPVS
//! backup puts the master's connections straight into its own. When the backup director takes the virtual
//! address over, packets of the master's connections find their entries, with the NAT they had, and continue.
//!
//! IPVS's roles are one-way; conntrackd is symmetric, so the roles become filters: a master sends every TCP,
//! UDP and SCTP connection but those of the loopback addresses; a backup sends nothing (every address is
//! ignored) and only receives. A director that should send and receive runs both, with two sync ids, as with
//! IPVS.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::spec::{Role, SyncSpec};

/// The files of one daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// conntrackd's configuration.
    pub conf: String,
    /// Its control socket (`conntrackd -C conf -k` talks to it; its presence tells the daemon runs).
    pub ctl: String,
    /// Its lock file.
    pub lock: String,
    /// Its log.
    pub log: String,
    /// The spec, for `-L --daemon` ([`SyncSpec::record`]).
    pub spec: String,
}

impl Files {
    /// The files under `dir` for `role` in the network namespace numbered `ns`.
    pub fn new(dir: &str, ns: u64, role: Role) -> Files {
        let base = format!("{dir}/sync-{ns}-{}", role.name());
        Files {
            conf: format!("{base}.conf"),
            ctl: format!("{base}.ctl"),
            lock: format!("{base}.lock"),
            log: format!("{base}.log"),
            spec: format!("{base}.spec"),
        }
    }
}

/// Why a daemon cannot be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfError {
    /// conntrackd's multicast transport is configured here for IPv4 groups only.
    #[error("mcast-group {0}: only IPv4 multicast groups are supported by fulcrum's sync daemon")]
    Ipv6Group(IpAddr),
    /// The interface has no IPv4 address to send from.
    #[error("the interface has no IPv4 address to send sync messages from")]
    NoAddress,
}

/// conntrackd.conf for `spec`, sending from `local` (an IPv4 address of the interface).
pub fn conntrackd_conf(spec: &SyncSpec, local: IpAddr, files: &Files) -> Result<String, ConfError> {
    if spec.group.is_ipv6() {
        return Err(ConfError::Ipv6Group(spec.group));
    }
    if !local.is_ipv4() {
        return Err(ConfError::NoAddress);
    }
    let mut c = String::new();
    let _ = write!(
        c,
        "# Written by fulcrum ipvsadm --start-daemon {role}; removed by --stop-daemon {role}.
Sync {{
    Mode FTFW {{
        DisableExternalCache On
    }}
    Multicast {{
        IPv4_address {group}
        Group {port}
        IPv4_interface {local}
        Interface {iface}
        SndSocketBuffer 1249280
        RcvSocketBuffer 1249280
        Checksum on
    }}
}}
General {{
    HashSize 32768
    HashLimit 131072
    LogFile {log}
    Syslog off
    LockFile {lock}
    UNIX {{
        Path {ctl}
    }}
    NetlinkBufferSize 2097152
    NetlinkBufferSizeMaxGrowth 8388608
    Filter From Userspace {{
        Protocol Accept {{
            TCP
            UDP
            SCTP
        }}
        Address Ignore {{
",
        role = spec.role.name(),
        group = spec.group,
        port = spec.wire_port(),
        iface = spec.interface,
        log = files.log,
        lock = files.lock,
        ctl = files.ctl,
    );
    match spec.role {
        Role::Master => {
            c.push_str("            IPv4_address 127.0.0.0/8\n            IPv6_address ::1\n")
        }
        Role::Backup => {
            c.push_str("            IPv4_address 0.0.0.0/0\n            IPv6_address ::/0\n")
        }
    }
    c.push_str("        }\n    }\n}\n");
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_sends_backup_only_receives_on_the_pairs_port() {
        let files = Files::new("/run/fulcrum", 4026531840, Role::Master);
        assert_eq!(files.ctl, "/run/fulcrum/sync-4026531840-master.ctl");
        let local: IpAddr = "198.18.1.11".parse().unwrap();
        let master = SyncSpec::new(Role::Master, "back", 1);
        let c = conntrackd_conf(&master, local, &files).unwrap_or_default();
        for want in [
            "Mode FTFW {\n        DisableExternalCache On",
            "IPv4_address 224.0.0.81\n        Group 8849\n        IPv4_interface 198.18.1.11\n        Interface back",
            "Path /run/fulcrum/sync-4026531840-master.ctl",
            "IPv4_address 127.0.0.0/8",
        ] {
            assert!(c.contains(want), "{want:?} missing:\n{c}");
        }
        assert!(!c.contains("0.0.0.0/0"), "{c}");
        let backup = SyncSpec::new(Role::Backup, "back", 1);
        let c = conntrackd_conf(&backup, local, &files).unwrap_or_default();
        assert!(c.contains("IPv4_address 0.0.0.0/0"), "{c}");
        assert!(c.contains("Group 8849"), "{c}");
        let mut six = backup.clone();
        six.group = "ff02::81".parse().unwrap();
        assert!(matches!(
            conntrackd_conf(&six, local, &files),
            Err(ConfError::Ipv6Group(_))
        ));
        assert_eq!(
            conntrackd_conf(&backup, "fd00::1".parse().unwrap(), &files),
            Err(ConfError::NoAddress)
        );
    }
}
