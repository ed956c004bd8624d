//! `DNS_CHECK`: one query over UDP to the real server.
//!
//! keepalived 2.2's rule: the query asks for `type` (SOA by default) records of `name` (`.` by default),
//! class IN, recursion desired, with a random id. Datagrams that are too short, carry another id or are
//! not responses are ignored while waiting; the first response with the id decides: RCODE 0 (NOERROR)
//! passes, whatever the answer count; any other RCODE fails. No response within `connect_timeout` fails,
//! and so does an ICMP error (the port is closed).
//!
//! The query is encoded by hand: a 12-byte header and one question, and only the response header is read,
//! which does not justify a DNS library.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::{io_reason, within, CheckSpecError, ConnectOptions, ProbeResult};

/// The query types keepalived 2.2 accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsType {
    /// IPv4 address.
    A,
    /// Name server.
    Ns,
    /// Canonical name.
    Cname,
    /// Start of authority (the default).
    Soa,
    /// Mail exchanger.
    Mx,
    /// Text.
    Txt,
    /// IPv6 address.
    Aaaa,
    /// DNSSEC signature.
    Rrsig,
    /// DNSSEC key.
    Dnskey,
}

/// keepalived's default `type`.
pub const DEFAULT_DNS_TYPE: DnsType = DnsType::Soa;
/// keepalived's default `name`: the root.
pub const DEFAULT_DNS_NAME: &str = ".";

const TYPES: [(DnsType, &str, u16); 9] = [
    (DnsType::A, "A", 1),
    (DnsType::Ns, "NS", 2),
    (DnsType::Cname, "CNAME", 5),
    (DnsType::Soa, "SOA", 6),
    (DnsType::Mx, "MX", 15),
    (DnsType::Txt, "TXT", 16),
    (DnsType::Aaaa, "AAAA", 28),
    (DnsType::Rrsig, "RRSIG", 46),
    (DnsType::Dnskey, "DNSKEY", 48),
];

impl DnsType {
    /// The type's number in a question (A = 1, SOA = 6...).
    pub fn code(self) -> u16 {
        TYPES.iter().find(|t| t.0 == self).map_or(0, |t| t.2)
    }

    /// The type's mnemonic (`SOA`).
    pub fn name(self) -> &'static str {
        TYPES.iter().find(|t| t.0 == self).map_or("?", |t| t.1)
    }
}

impl FromStr for DnsType {
    type Err = CheckSpecError;

    /// Case-insensitive mnemonic.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TYPES
            .iter()
            .find(|t| t.1.eq_ignore_ascii_case(s))
            .map(|t| t.0)
            .ok_or_else(|| CheckSpecError::DnsType(s.to_owned()))
    }
}

impl fmt::Display for DnsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `name` in wire format: length-prefixed labels, then the root's zero.
fn encode_name(name: &str) -> Result<Vec<u8>, CheckSpecError> {
    let bad = || CheckSpecError::DnsName(name.to_owned());
    let mut out = Vec::with_capacity(name.len() + 2);
    let relative = name.strip_suffix('.').unwrap_or(name);
    if !relative.is_empty() {
        for label in relative.split('.') {
            if label.is_empty() || label.len() > 63 || !label.bytes().all(|c| c.is_ascii_graphic())
            {
                return Err(bad());
            }
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
    } else if name.is_empty() {
        return Err(bad());
    }
    out.push(0);
    if out.len() > 255 {
        return Err(bad());
    }
    Ok(out)
}

/// The text of an RCODE.
fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "other",
    }
}

/// A validated `DNS_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsCheck {
    qtype: DnsType,
    name: String,
    /// The question section: name, type, class IN.
    question: Vec<u8>,
    connect: ConnectOptions,
}

impl DnsCheck {
    /// A query for `qtype` records of `name` (absolute; a trailing dot is optional; `.` is the root).
    pub fn new(
        qtype: DnsType,
        name: &str,
        connect: ConnectOptions,
    ) -> Result<Self, CheckSpecError> {
        let mut question = encode_name(name)?;
        question.extend_from_slice(&qtype.code().to_be_bytes());
        question.extend_from_slice(&1u16.to_be_bytes());
        Ok(DnsCheck {
            qtype,
            name: name.to_owned(),
            question,
            connect: connect.validate()?,
        })
    }

    /// The query type.
    pub fn qtype(&self) -> DnsType {
        self.qtype
    }

    /// The name asked about.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The query datagram with id `id`.
    pub fn query(&self, id: u16) -> Vec<u8> {
        let mut q = Vec::with_capacity(12 + self.question.len());
        q.extend_from_slice(&id.to_be_bytes());
        // Flags: a standard query with recursion desired.
        q.extend_from_slice(&0x0100u16.to_be_bytes());
        // One question; no answer, authority or additional records.
        q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        q.extend_from_slice(&self.question);
        q
    }

    /// Sends the query to `target` and waits for the answer.
    pub async fn run(&self, target: SocketAddr) -> ProbeResult {
        let start = Instant::now();
        let verdict = within(
            self.connect.timeout,
            "waiting for the DNS response",
            self.exchange(target),
        )
        .await;
        ProbeResult::from_verdict(verdict, start)
    }

    async fn exchange(&self, target: SocketAddr) -> Result<String, String> {
        let local = self.connect.bind.unwrap_or(if target.is_ipv4() {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
        });
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|e| io_reason("socket error", &e))?;
        socket
            .connect(target)
            .await
            .map_err(|e| io_reason("socket error", &e))?;
        let id = random_id();
        socket
            .send(&self.query(id))
            .await
            .map_err(|e| io_reason("sending the query failed", &e))?;
        let mut buf = [0u8; 512];
        loop {
            let n = socket
                .recv(&mut buf)
                .await
                .map_err(|e| io_reason("no DNS response", &e))?;
            let Some(header) = buf[..n].get(..12) else {
                continue;
            };
            let is_response = header[2] & 0x80 != 0;
            if u16::from_be_bytes([header[0], header[1]]) != id || !is_response {
                continue;
            }
            let rcode = header[3] & 0x0f;
            let answers = u16::from_be_bytes([header[6], header[7]]);
            if rcode != 0 {
                return Err(format!("DNS error rcode {rcode} ({})", rcode_name(rcode)));
            }
            return Ok(format!("NOERROR, {answers} answer(s)"));
        }
    }
}

/// A query id from the standard library's randomly keyed hasher (new keys on each call).
fn random_id() -> u16 {
    (RandomState::new().build_hasher().finish() & 0xffff) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types() {
        assert_eq!("soa".parse(), Ok(DnsType::Soa));
        assert_eq!("AAAA".parse::<DnsType>().unwrap().code(), 28);
        for (t, name, code) in TYPES {
            assert_eq!(name.parse(), Ok(t));
            assert_eq!((t.code(), t.to_string()), (code, name.to_owned()));
        }
        assert!(matches!(
            "PTR".parse::<DnsType>(),
            Err(CheckSpecError::DnsType(_))
        ));
        assert_eq!(DEFAULT_DNS_TYPE, DnsType::Soa);
    }

    #[test]
    fn names() {
        assert_eq!(encode_name(".").unwrap(), [0]);
        let want = b"\x07example\x03com\x00";
        assert_eq!(encode_name("example.com").unwrap(), want);
        assert_eq!(encode_name("example.com.").unwrap(), want);
        for bad in ["", "a..b", "..", ".a", "a b.c", &"x".repeat(64)] {
            assert!(
                matches!(encode_name(bad), Err(CheckSpecError::DnsName(_))),
                "{bad:?}"
            );
        }
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(encode_name(&long).is_err());
        assert!(encode_name(&long[..250]).is_ok());
    }

    #[test]
    fn query_layout() {
        let c = DnsCheck::new(DnsType::Mx, "example.com", ConnectOptions::default()).unwrap();
        let q = c.query(0xabcd);
        assert_eq!(&q[..12], &[0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..], b"\x07example\x03com\x00\x00\x0f\x00\x01");
        let root = DnsCheck::new(
            DEFAULT_DNS_TYPE,
            DEFAULT_DNS_NAME,
            ConnectOptions::default(),
        )
        .unwrap();
        assert_eq!(&root.query(1)[12..], &[0, 0, 6, 0, 1]);
    }
}
