//! The DNS wire format (RFC 1035, RFC 2782 for SRV, RFC 3596 for AAAA, RFC 6891 for EDNS0), the part a resolver
//! of server addresses needs: one-question queries, and answers with A, AAAA, SRV and CNAME records (others are
//! kept as their type only). Names are compared in lower case and stored without the final dot.
//!
//! Decoding never panics and never loops: compression pointers must point backwards, a name has at most 255
//! bytes, and every length is checked against the message.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Record types this crate knows by name.
pub mod rtype {
    /// An IPv4 address.
    pub const A: u16 = 1;
    /// A canonical name (alias).
    pub const CNAME: u16 = 5;
    /// An IPv6 address.
    pub const AAAA: u16 = 28;
    /// A service location: priority, weight, port and target host.
    pub const SRV: u16 = 33;
    /// The EDNS0 pseudo-record.
    pub const OPT: u16 = 41;
}

/// Response codes this crate names.
pub mod rcode {
    /// No error.
    pub const NOERROR: u16 = 0;
    /// The server could not read the query.
    pub const FORMERR: u16 = 1;
    /// The server failed.
    pub const SERVFAIL: u16 = 2;
    /// The name does not exist.
    pub const NXDOMAIN: u16 = 3;
    /// The server refuses to answer.
    pub const REFUSED: u16 = 5;
}

/// The class of every record this crate asks for: Internet.
pub const CLASS_IN: u16 = 1;
/// The largest payload a DNS message over UDP may have without EDNS0.
pub const PLAIN_UDP_SIZE: u16 = 512;

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The message ends inside its header, a name or a record.
    #[error("message truncated")]
    Short,
    /// A name is longer than 255 bytes, has a label longer than 63 or uses a reserved label type.
    #[error("bad name")]
    BadName,
    /// A compression pointer points forwards or at itself (which could loop).
    #[error("bad compression pointer")]
    BadPointer,
    /// A record's data does not have the length its type needs.
    #[error("bad record data for type {0}")]
    BadRdata(u16),
}

/// Why a query could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty, longer than 253 characters, or has an empty label or one longer than 63.
    #[error("invalid DNS name {0:?}")]
    Invalid(String),
}

/// A question: name, type and class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The name asked, lower case, without the final dot.
    pub name: String,
    /// The record type asked.
    pub qtype: u16,
    /// The class (1 for Internet).
    pub qclass: u16,
}

/// The data of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A service location.
    Srv {
        /// Lower is preferred.
        priority: u16,
        /// Relative weight among records of the same priority.
        weight: u16,
        /// The service's port.
        port: u16,
        /// The host offering it, lower case.
        target: String,
    },
    /// An alias to another name, lower case.
    Cname(String),
    /// Any other type (its data is skipped).
    Other,
}

/// A resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The owner name, lower case, without the final dot.
    pub name: String,
    /// The record type.
    pub rtype: u16,
    /// The class.
    pub class: u16,
    /// Time to live, in seconds.
    pub ttl: u32,
    /// The decoded data.
    pub data: RData,
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The query id.
    pub id: u16,
    /// Whether this is a response (QR bit).
    pub response: bool,
    /// The TC bit: the answer did not fit.
    pub truncated: bool,
    /// The response code (the four header bits, extended by an OPT record's upper eight bits).
    pub rcode: u16,
    /// The questions.
    pub questions: Vec<Question>,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section.
    pub authority: Vec<Record>,
    /// The additional section (without the OPT pseudo-record).
    pub additional: Vec<Record>,
    /// The payload size an OPT record announced, if any.
    pub edns_payload: Option<u16>,
}

fn check_name(name: &str) -> Result<&str, NameError> {
    let n = name.strip_suffix('.').unwrap_or(name);
    if n.is_empty() || n.len() > 253 || n.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err(NameError::Invalid(name.to_string()));
    }
    Ok(n)
}

/// Whether `name` can be asked (checked as [`encode_query`] does).
pub fn valid_name(name: &str) -> bool {
    check_name(name).is_ok()
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
    }
    out.push(0);
}

/// Appends a recursive query for `name` / `qtype` with id `id` to `out`. With `payload` above 512, an EDNS0 OPT
/// record announces it (HAProxy's `accepted_payload_size`).
pub fn encode_query(
    id: u16,
    name: &str,
    qtype: u16,
    payload: u16,
    out: &mut Vec<u8>,
) -> Result<(), NameError> {
    let n = check_name(name)?;
    let edns = payload > PLAIN_UDP_SIZE;
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&(edns as u16).to_be_bytes());
    put_name(out, n);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    if edns {
        out.push(0); // root
        out.extend_from_slice(&rtype::OPT.to_be_bytes());
        out.extend_from_slice(&payload.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // ext rcode, version, flags, rdlen
    }
    Ok(())
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Short)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Short)?;
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    /// Reads a (possibly compressed) name starting at the current position.
    fn name(&mut self) -> Result<String, DecodeError> {
        let (name, end) = read_name(self.buf, self.pos)?;
        self.pos = end;
        Ok(name)
    }
}

/// Reads a name at `start` in `buf`; returns it and the position after it (after the first pointer, if any).
fn read_name(buf: &[u8], start: usize) -> Result<(String, usize), DecodeError> {
    let mut out = String::new();
    let mut pos = start;
    let mut end = None;
    // Every pointer goes strictly backwards, so `pos` decreases at each jump: the walk ends.
    let mut lowest = start;
    let mut wire_len = 1usize;
    loop {
        let len = *buf.get(pos).ok_or(DecodeError::Short)?;
        match len & 0xC0 {
            0x00 => {
                if len == 0 {
                    return Ok((out, end.unwrap_or(pos + 1)));
                }
                let l = len as usize;
                let label = buf.get(pos + 1..pos + 1 + l).ok_or(DecodeError::Short)?;
                wire_len += l + 1;
                if wire_len > 255 {
                    return Err(DecodeError::BadName);
                }
                if !out.is_empty() {
                    out.push('.');
                }
                for &b in label {
                    let c = b.to_ascii_lowercase();
                    if c.is_ascii_graphic() && c != b'.' {
                        out.push(c as char);
                    } else {
                        // Keep odd bytes visible and unambiguous.
                        out.push_str(&format!("\\{:03}", c));
                    }
                }
                pos += 1 + l;
            }
            0xC0 => {
                let lo = *buf.get(pos + 1).ok_or(DecodeError::Short)?;
                let target = (((len & 0x3F) as usize) << 8) | lo as usize;
                if end.is_none() {
                    end = Some(pos + 2);
                }
                if target >= lowest {
                    return Err(DecodeError::BadPointer);
                }
                lowest = target;
                pos = target;
            }
            _ => return Err(DecodeError::BadName),
        }
    }
}

fn record(r: &mut Reader<'_>) -> Result<Record, DecodeError> {
    let name = r.name()?;
    let rtype = r.u16()?;
    let class = r.u16()?;
    let ttl = r.u32()?;
    let rdlen = r.u16()? as usize;
    let start = r.pos;
    let rdata = r.take(rdlen)?;
    let data = match rtype {
        rtype::A => {
            let b: [u8; 4] = rdata.try_into().map_err(|_| DecodeError::BadRdata(rtype))?;
            RData::A(Ipv4Addr::from(b))
        }
        rtype::AAAA => {
            let b: [u8; 16] = rdata.try_into().map_err(|_| DecodeError::BadRdata(rtype))?;
            RData::Aaaa(Ipv6Addr::from(b))
        }
        rtype::SRV => {
            if rdlen < 7 {
                return Err(DecodeError::BadRdata(rtype));
            }
            let mut sub = Reader {
                buf: r.buf,
                pos: start,
            };
            let priority = sub.u16()?;
            let weight = sub.u16()?;
            let port = sub.u16()?;
            let target = sub.name()?;
            if sub.pos != start + rdlen {
                return Err(DecodeError::BadRdata(rtype));
            }
            RData::Srv {
                priority,
                weight,
                port,
                target,
            }
        }
        rtype::CNAME => {
            let mut sub = Reader {
                buf: r.buf,
                pos: start,
            };
            let target = sub.name()?;
            if sub.pos != start + rdlen {
                return Err(DecodeError::BadRdata(rtype));
            }
            RData::Cname(target)
        }
        _ => RData::Other,
    };
    Ok(Record {
        name,
        rtype,
        class,
        ttl,
        data,
    })
}

/// Decodes a whole message. Trailing bytes after the counted records are ignored.
pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    let counts = [r.u16()?, r.u16()?, r.u16()?, r.u16()?];
    let mut m = Message {
        id,
        response: flags & 0x8000 != 0,
        truncated: flags & 0x0200 != 0,
        rcode: flags & 0x000F,
        ..Message::default()
    };
    for _ in 0..counts[0] {
        let name = r.name()?;
        let qtype = r.u16()?;
        let qclass = r.u16()?;
        m.questions.push(Question {
            name,
            qtype,
            qclass,
        });
    }
    for _ in 0..counts[1] {
        m.answers.push(record(&mut r)?);
    }
    for _ in 0..counts[2] {
        m.authority.push(record(&mut r)?);
    }
    for _ in 0..counts[3] {
        let rec = record(&mut r)?;
        if rec.rtype == rtype::OPT {
            m.edns_payload = Some(rec.class);
            m.rcode |= ((rec.ttl >> 24) as u16) << 4;
        } else {
            m.additional.push(rec);
        }
    }
    Ok(m)
}

/// Builds a response (for tests and test servers): the question of `query`, then `answers` and `additional`.
/// Names are written without compression.
pub fn encode_response(
    query: &Message,
    rcode: u16,
    truncated: bool,
    answers: &[Record],
    additional: &[Record],
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&query.id.to_be_bytes());
    let flags = 0x8000u16 | 0x0100 | 0x0080 | (if truncated { 0x0200 } else { 0 }) | (rcode & 0xF);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&(query.questions.len() as u16).to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&(additional.len() as u16).to_be_bytes());
    for q in &query.questions {
        put_name(&mut out, &q.name);
        out.extend_from_slice(&q.qtype.to_be_bytes());
        out.extend_from_slice(&q.qclass.to_be_bytes());
    }
    for rec in answers.iter().chain(additional) {
        put_name(&mut out, &rec.name);
        out.extend_from_slice(&rec.rtype.to_be_bytes());
        out.extend_from_slice(&rec.class.to_be_bytes());
        out.extend_from_slice(&rec.ttl.to_be_bytes());
        let mut data = Vec::new();
        match &rec.data {
            RData::A(a) => data.extend_from_slice(&a.octets()),
            RData::Aaaa(a) => data.extend_from_slice(&a.octets()),
            RData::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                data.extend_from_slice(&priority.to_be_bytes());
                data.extend_from_slice(&weight.to_be_bytes());
                data.extend_from_slice(&port.to_be_bytes());
                put_name(&mut data, target);
            }
            RData::Cname(t) => put_name(&mut data, t),
            RData::Other => {}
        }
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}

impl Record {
    /// A record of class IN with `ttl` and `data` (its type taken from the data).
    pub fn new(name: &str, ttl: u32, data: RData) -> Record {
        let rtype = match data {
            RData::A(_) => rtype::A,
            RData::Aaaa(_) => rtype::AAAA,
            RData::Srv { .. } => rtype::SRV,
            RData::Cname(_) => rtype::CNAME,
            RData::Other => 0,
        };
        Record {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            rtype,
            class: CLASS_IN,
            ttl,
            data,
        }
    }
}
