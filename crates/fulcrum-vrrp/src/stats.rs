//! Counters of received and sent adverts, and of the packets dropped (sans-IO, plain integers), with the text of
//! keepalived's statistics file (`kill -USR2`, `/tmp/keepalived.stats`).
//!
//! Every instance keeps an [`InstanceStats`] in keepalived's categories, plus checksum and version errors, which
//! keepalived logs but does not write to the file. A packet that cannot be charged to an instance (no readable VRID,
//! VRID 0, or a VRID no instance on that interface runs) is counted in the interface's [`InterfaceStats`].
//!
//! [`render`] writes keepalived 2.2.7's layout for each instance (matched field by field against the file keepalived
//! writes), then fulcrum's own counters in sections of their own after all the instance blocks, so that a reader
//! of keepalived's file finds the blocks it knows unchanged.

use std::fmt::Write as _;

/// The category of a packet error, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketError {
    /// Shorter or longer than its header announces (keepalived: "Packet Errors / Length").
    Length,
    /// A type other than ADVERTISEMENT ("Packet Errors / Invalid Type").
    InvalidType,
    /// An advert interval of zero, or not ours (VRRPv2) ("Packet Errors / Advertisement Interval").
    AdvertInterval,
    /// A VRRPv2 auth type other than 0, 1 or 2 ("Authentication Errors / Invalid Type").
    AuthInvalidType,
    /// The checksum is wrong (fulcrum's own counter).
    Checksum,
    /// A version other than the instance's, or VRRPv2 over IPv6 (fulcrum's own counter).
    Version,
    /// VRID 0 (only counted per interface).
    Vrid,
}

/// One instance's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceStats {
    /// Adverts accepted (after every check; an address-list mismatch is accepted and counted too).
    pub adverts_received: u64,
    /// Adverts sent (one per advert, whatever the number of unicast peers).
    pub adverts_sent: u64,
    /// Transitions to MASTER.
    pub became_master: u64,
    /// Transitions from MASTER to anything else.
    pub released_master: u64,
    /// Packets of a wrong length.
    pub length_errors: u64,
    /// Adverts whose TTL / hop limit was not 255.
    pub ttl_errors: u64,
    /// Packets of another VRRP type.
    pub invalid_type_errors: u64,
    /// Adverts with a zero interval, or (VRRPv2) another interval than ours.
    pub advert_interval_errors: u64,
    /// Adverts whose addresses differ from ours (accepted nevertheless, as keepalived does).
    pub address_list_errors: u64,
    /// VRRPv2 auth type not 0, 1 or 2.
    pub auth_invalid_type: u64,
    /// VRRPv2 auth type not ours.
    pub auth_type_mismatch: u64,
    /// VRRPv2 password not ours.
    pub auth_failure: u64,
    /// Accepted adverts with priority 0.
    pub priority_zero_received: u64,
    /// Adverts sent with priority 0.
    pub priority_zero_sent: u64,
    /// Bad checksums (fulcrum only).
    pub checksum_errors: u64,
    /// Another version, or VRRPv2 over IPv6 (fulcrum only).
    pub version_errors: u64,
}

impl InstanceStats {
    /// Counts a packet error charged to this instance.
    pub fn count(&mut self, e: PacketError) {
        let c = match e {
            PacketError::Length => &mut self.length_errors,
            PacketError::InvalidType => &mut self.invalid_type_errors,
            PacketError::AdvertInterval => &mut self.advert_interval_errors,
            PacketError::AuthInvalidType => &mut self.auth_invalid_type,
            PacketError::Checksum => &mut self.checksum_errors,
            PacketError::Version => &mut self.version_errors,
            // An instance has a VRID; a packet with VRID 0 is never charged to one.
            PacketError::Vrid => return,
        };
        *c = c.saturating_add(1);
    }
}

/// Counters of one interface (and address family) for packets no instance could be charged with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InterfaceStats {
    /// Packets too short to hold a VRID, or with a malformed IP header.
    pub length_errors: u64,
    /// Other packet types.
    pub invalid_type_errors: u64,
    /// Zero advert interval.
    pub advert_interval_errors: u64,
    /// Unknown VRRPv2 auth types.
    pub auth_invalid_type: u64,
    /// Bad checksums.
    pub checksum_errors: u64,
    /// Other versions.
    pub version_errors: u64,
    /// VRID 0, or a VRID no instance runs on this interface (RFC 6527's `vrrpRouterVrIdErrors`).
    pub vrid_errors: u64,
}

impl InterfaceStats {
    /// Counts a packet error no instance was charged with.
    pub fn count(&mut self, e: PacketError) {
        let c = match e {
            PacketError::Length => &mut self.length_errors,
            PacketError::InvalidType => &mut self.invalid_type_errors,
            PacketError::AdvertInterval => &mut self.advert_interval_errors,
            PacketError::AuthInvalidType => &mut self.auth_invalid_type,
            PacketError::Checksum => &mut self.checksum_errors,
            PacketError::Version => &mut self.version_errors,
            PacketError::Vrid => &mut self.vrid_errors,
        };
        *c = c.saturating_add(1);
    }
}

/// keepalived's statistics file: one block per instance (`name`, counters) in keepalived 2.2.7's layout, then
/// fulcrum's sections: `Fulcrum Instance: NAME` (checksum and version errors) for every instance and
/// `Fulcrum Interface: LABEL` for every interface counter.
pub fn render(
    instances: &[(&str, &InstanceStats)],
    interfaces: &[(String, InterfaceStats)],
) -> String {
    let mut s = String::new();
    for (name, st) in instances {
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            "VRRP Instance: {name}\n  Advertisements:\n    Received: {}\n    Sent: {}\n  Became master: {}\n  \
             Released master: {}\n  Packet Errors:\n    Length: {}\n    TTL: {}\n    Invalid Type: {}\n    \
             Advertisement Interval: {}\n    Address List: {}\n  Authentication Errors:\n    Invalid Type: {}\n    \
             Type Mismatch: {}\n    Failure: {}\n  Priority Zero:\n    Received: {}\n    Sent: {}\n",
            st.adverts_received,
            st.adverts_sent,
            st.became_master,
            st.released_master,
            st.length_errors,
            st.ttl_errors,
            st.invalid_type_errors,
            st.advert_interval_errors,
            st.address_list_errors,
            st.auth_invalid_type,
            st.auth_type_mismatch,
            st.auth_failure,
            st.priority_zero_received,
            st.priority_zero_sent,
        );
    }
    for (name, st) in instances {
        let _ = write!(
            s,
            "Fulcrum Instance: {name}\n  Checksum Errors: {}\n  Version Errors: {}\n",
            st.checksum_errors, st.version_errors
        );
    }
    for (label, st) in interfaces {
        let _ = write!(
            s,
            "Fulcrum Interface: {label}\n  Packet Errors:\n    Length: {}\n    Invalid Type: {}\n    \
             Advertisement Interval: {}\n    Checksum: {}\n    Version: {}\n    VRID: {}\n  \
             Authentication Errors:\n    Invalid Type: {}\n",
            st.length_errors,
            st.invalid_type_errors,
            st.advert_interval_errors,
            st.checksum_errors,
            st.version_errors,
            st.vrid_errors,
            st.auth_invalid_type,
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What keepalived 2.2.7 wrote on SIGUSR2 for a master of one VRRPv2 instance, 5 adverts after it started.
    const KEEPALIVED_2_2_7: &str = "VRRP Instance: VI_1
  Advertisements:
    Received: 0
    Sent: 5
  Became master: 1
  Released master: 0
  Packet Errors:
    Length: 0
    TTL: 0
    Invalid Type: 0
    Advertisement Interval: 0
    Address List: 0
  Authentication Errors:
    Invalid Type: 0
    Type Mismatch: 0
    Failure: 0
  Priority Zero:
    Received: 0
    Sent: 0
";

    #[test]
    fn instance_block_is_keepalived_s_layout() {
        let st = InstanceStats {
            adverts_sent: 5,
            became_master: 1,
            ..Default::default()
        };
        let text = render(&[("VI_1", &st)], &[]);
        assert!(text.starts_with(KEEPALIVED_2_2_7), "{text}");
        assert_eq!(
            &text[KEEPALIVED_2_2_7.len()..],
            "Fulcrum Instance: VI_1\n  Checksum Errors: 0\n  Version Errors: 0\n"
        );
    }

    #[test]
    fn every_field_lands_on_its_line() {
        let st = InstanceStats {
            adverts_received: 1,
            adverts_sent: 2,
            became_master: 3,
            released_master: 4,
            length_errors: 5,
            ttl_errors: 6,
            invalid_type_errors: 7,
            advert_interval_errors: 8,
            address_list_errors: 9,
            auth_invalid_type: 10,
            auth_type_mismatch: 11,
            auth_failure: 12,
            priority_zero_received: 13,
            priority_zero_sent: 14,
            checksum_errors: 15,
            version_errors: 16,
        };
        let mut ifs = InterfaceStats::default();
        for e in [
            PacketError::Length,
            PacketError::Vrid,
            PacketError::Vrid,
            PacketError::Checksum,
        ] {
            ifs.count(e);
        }
        let text = render(&[("A", &st)], &[("eth0 (IPv4)".into(), ifs)]);
        let values: Vec<u64> = text
            .lines()
            .filter_map(|l| l.rsplit_once(": ").and_then(|(_, v)| v.parse().ok()))
            .collect();
        assert_eq!(
            values,
            (1..=16).chain([1, 0, 0, 1, 0, 2, 0]).collect::<Vec<u64>>()
        );
        assert!(text.contains("Fulcrum Interface: eth0 (IPv4)\n  Packet Errors:\n    Length: 1\n"));
    }

    #[test]
    fn counting_saturates_and_ignores_vrid_for_instances() {
        let mut st = InstanceStats {
            checksum_errors: u64::MAX,
            ..Default::default()
        };
        st.count(PacketError::Checksum);
        st.count(PacketError::Vrid);
        assert_eq!(
            st,
            InstanceStats {
                checksum_errors: u64::MAX,
                ..Default::default()
            }
        );
    }
}
