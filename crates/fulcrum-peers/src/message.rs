//! The binary messages exchanged once the handshake is done.

use crate::varint::{self, Reader};
use crate::Error;

/// A table's key type as the protocol numbers it (HAProxy's sample types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// `integer`: 32 bits, in network order.
    Integer,
    /// `ip`: an IPv4 address, 4 bytes.
    Ipv4,
    /// `ipv6`: 16 bytes.
    Ipv6,
    /// `string`: a length, then the bytes.
    String,
    /// `binary`: the key length's bytes.
    Binary,
}

impl KeyType {
    /// The number on the wire.
    pub fn code(self) -> u64 {
        match self {
            KeyType::Integer => 2,
            KeyType::Ipv4 => 4,
            KeyType::Ipv6 => 5,
            KeyType::String => 6,
            KeyType::Binary => 7,
        }
    }

    /// The type of a wire number.
    pub fn from_code(c: u64) -> Result<KeyType, Error> {
        Ok(match c {
            2 => KeyType::Integer,
            4 => KeyType::Ipv4,
            5 => KeyType::Ipv6,
            6 => KeyType::String,
            7 => KeyType::Binary,
            c => return Err(Error::KeyType(c)),
        })
    }
}

/// The longest message accepted (HAProxy's own are bounded by its buffer size, 16 kB by default).
pub const MAX_MESSAGE: u64 = 64 * 1024;

const CLASS_CONTROL: u8 = 0;
const CLASS_ERROR: u8 = 1;
const CLASS_TABLE: u8 = 10;

const CTRL_RESYNC_REQUEST: u8 = 0;
const CTRL_RESYNC_FINISHED: u8 = 1;
const CTRL_RESYNC_PARTIAL: u8 = 2;
const CTRL_RESYNC_CONFIRM: u8 = 3;
const CTRL_HEARTBEAT: u8 = 4;

const ERR_PROTOCOL: u8 = 0;
const ERR_SIZE_LIMIT: u8 = 1;

const TBL_UPDATE: u8 = 128;
const TBL_INCUPDATE: u8 = 129;
const TBL_DEFINE: u8 = 130;
const TBL_SWITCH: u8 = 131;
const TBL_ACK: u8 = 132;
const TBL_UPDATE_TIMED: u8 = 133;
const TBL_INCUPDATE_TIMED: u8 = 134;

/// The four kinds of entry update: with or without an update id (an incremental one is the previous id plus
/// one), with or without the entry's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateKind {
    /// The update id is left out: it is the previous one plus one.
    pub incremental: bool,
    /// The entry's remaining lifetime follows the update id.
    pub timed: bool,
}

impl UpdateKind {
    pub(crate) fn code(self) -> u8 {
        match (self.incremental, self.timed) {
            (false, false) => TBL_UPDATE,
            (true, false) => TBL_INCUPDATE,
            (false, true) => TBL_UPDATE_TIMED,
            (true, true) => TBL_INCUPDATE_TIMED,
        }
    }
}

/// A table definition: which of the sender's tables the next updates are for, and how they are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    /// The sender's number for the table (used by switches and acknowledgements).
    pub id: u64,
    /// The name both sides know the table by.
    pub name: Vec<u8>,
    /// The key type.
    pub key_type: KeyType,
    /// The key length (the longest string, the size of a binary key, 4 or 16 for addresses).
    pub key_len: u64,
    /// The stored data types: bit N set for HAProxy's data type N.
    pub data_types: u64,
    /// The table's `expire`, in milliseconds.
    pub expire: u64,
    /// The periods of the stored rates, in milliseconds: (data type, period).
    pub periods: Vec<(u8, u64)>,
    /// The number of elements of the stored arrays (HAProxy 2.6's `gpt(N)`, `gpc(N)`, `gpc_rate(N,T)`):
    /// (data type, elements).
    pub elements: Vec<(u8, u64)>,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// Asks the other side to teach its whole tables.
    ResyncRequest,
    /// Ends a teaching; the sender holds complete tables.
    ResyncFinished,
    /// Ends a teaching; the sender's tables may be incomplete.
    ResyncPartial,
    /// Acknowledges the end of a teaching.
    ResyncConfirm,
    /// Keeps an idle session alive.
    Heartbeat,
    /// The sender found a protocol error and closes.
    ProtocolError,
    /// The sender received a message over its size limit and closes.
    SizeLimit,
    /// A table definition (it also switches to the table).
    Define(TableDefinition),
    /// Switches to a table defined before.
    Switch {
        /// The sender's table number.
        id: u64,
    },
    /// Acknowledges the updates received up to an id.
    Ack {
        /// The table number of the side that sent the updates (the receiver's own).
        id: u64,
        /// The last update id received.
        update: u32,
    },
    /// An entry update, to be read with the current table's definition ([`crate::EntryUpdate::decode`]).
    Update {
        /// Which of the four forms.
        kind: UpdateKind,
        /// The message's content.
        payload: &'a [u8],
    },
    /// A message of a type not known here that carries a length, skipped.
    Unknown {
        /// Its class.
        class: u8,
        /// Its type.
        kind: u8,
    },
}

impl Message<'_> {
    /// Decodes one message at the start of `buf`: `Ok(None)` until it is complete, then the message and the
    /// bytes it took.
    pub fn decode(buf: &[u8]) -> Result<Option<(Message<'_>, usize)>, Error> {
        if buf.len() < 2 {
            return Ok(None);
        }
        let (class, kind) = (buf[0], buf[1]);
        if kind < 128 {
            let m = match (class, kind) {
                (CLASS_CONTROL, CTRL_RESYNC_REQUEST) => Message::ResyncRequest,
                (CLASS_CONTROL, CTRL_RESYNC_FINISHED) => Message::ResyncFinished,
                (CLASS_CONTROL, CTRL_RESYNC_PARTIAL) => Message::ResyncPartial,
                (CLASS_CONTROL, CTRL_RESYNC_CONFIRM) => Message::ResyncConfirm,
                (CLASS_CONTROL, CTRL_HEARTBEAT) => Message::Heartbeat,
                (CLASS_ERROR, ERR_PROTOCOL) => Message::ProtocolError,
                (CLASS_ERROR, ERR_SIZE_LIMIT) => Message::SizeLimit,
                _ => return Err(Error::Malformed("unknown")),
            };
            return Ok(Some((m, 2)));
        }
        let (len, n) = match varint::decode(&buf[2..]) {
            Ok(v) => v,
            // an integer cut by the end of what arrived so far
            Err(_) if buf.len() - 2 < 10 => return Ok(None),
            Err(e) => return Err(e),
        };
        if len > MAX_MESSAGE {
            return Err(Error::TooLong(len));
        }
        let start = 2 + n;
        let end = start + len as usize;
        if buf.len() < end {
            return Ok(None);
        }
        let payload = &buf[start..end];
        let m = if class != CLASS_TABLE {
            Message::Unknown { class, kind }
        } else {
            match kind {
                TBL_UPDATE | TBL_INCUPDATE | TBL_UPDATE_TIMED | TBL_INCUPDATE_TIMED => {
                    Message::Update {
                        kind: UpdateKind {
                            incremental: matches!(kind, TBL_INCUPDATE | TBL_INCUPDATE_TIMED),
                            timed: matches!(kind, TBL_UPDATE_TIMED | TBL_INCUPDATE_TIMED),
                        },
                        payload,
                    }
                }
                TBL_DEFINE => Message::Define(TableDefinition::decode(payload)?),
                TBL_SWITCH => {
                    let mut r = Reader::new(payload, "switch");
                    Message::Switch { id: r.varint()? }
                }
                TBL_ACK => {
                    let mut r = Reader::new(payload, "ack");
                    let id = r.varint()?;
                    Message::Ack {
                        id,
                        update: r.u32()?,
                    }
                }
                _ => Message::Unknown { class, kind },
            }
        };
        Ok(Some((m, end)))
    }

    /// Appends the message's bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let short = |out: &mut Vec<u8>, class: u8, kind: u8| out.extend_from_slice(&[class, kind]);
        match self {
            Message::ResyncRequest => short(out, CLASS_CONTROL, CTRL_RESYNC_REQUEST),
            Message::ResyncFinished => short(out, CLASS_CONTROL, CTRL_RESYNC_FINISHED),
            Message::ResyncPartial => short(out, CLASS_CONTROL, CTRL_RESYNC_PARTIAL),
            Message::ResyncConfirm => short(out, CLASS_CONTROL, CTRL_RESYNC_CONFIRM),
            Message::Heartbeat => short(out, CLASS_CONTROL, CTRL_HEARTBEAT),
            Message::ProtocolError => short(out, CLASS_ERROR, ERR_PROTOCOL),
            Message::SizeLimit => short(out, CLASS_ERROR, ERR_SIZE_LIMIT),
            Message::Define(d) => {
                let mut p = Vec::with_capacity(32 + d.name.len());
                d.encode(&mut p);
                framed(out, TBL_DEFINE, &p);
            }
            Message::Switch { id } => {
                let mut p = Vec::with_capacity(4);
                varint::encode(*id, &mut p);
                framed(out, TBL_SWITCH, &p);
            }
            Message::Ack { id, update } => {
                let mut p = Vec::with_capacity(9);
                varint::encode(*id, &mut p);
                p.extend_from_slice(&update.to_be_bytes());
                framed(out, TBL_ACK, &p);
            }
            Message::Update { kind, payload } => framed(out, kind.code(), payload),
            Message::Unknown { class, kind } => {
                out.extend_from_slice(&[*class, *kind]);
                if *kind >= 128 {
                    out.push(0);
                }
            }
        }
    }
}

/// A stick-table class message with its length.
pub(crate) fn framed(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    out.extend_from_slice(&[CLASS_TABLE, kind]);
    varint::encode(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// Whether HAProxy's data type `bit` is an array (`gpt`, `gpc`, `gpc_rate`): its elements travel one after the
/// other, as many as the table definition says.
pub fn is_array_bit(bit: u8) -> bool {
    matches!(bit, 22..=24)
}

/// Most elements an array may announce (HAProxy's limit is 100).
const MAX_ELEMENTS: u64 = 100;

/// Whether HAProxy's data type `bit` is a rate (its values are frequency counters).
pub fn is_rate_bit(bit: u8) -> bool {
    matches!(bit, 3 | 5 | 8 | 10 | 12 | 14 | 16 | 18 | 21 | 24)
}

impl TableDefinition {
    fn decode(payload: &[u8]) -> Result<TableDefinition, Error> {
        let mut r = Reader::new(payload, "table definition");
        let id = r.varint()?;
        let name_len = r.varint()?;
        let name = r.bytes(name_len)?.to_vec();
        let key_type = KeyType::from_code(r.varint()?)?;
        let key_len = r.varint()?;
        let data_types = r.varint()?;
        let expire = r.varint()?;
        let mut periods = Vec::new();
        let mut elements = Vec::new();
        // Per stored array: its type, its number of elements and (a rate) its period; per other rate: its type
        // and its period. Types HAProxy 2.6 does not have (bits 25 and up) stop the reading: their updates are
        // skipped.
        if data_types >> 25 == 0 {
            while !r.is_empty() {
                let t =
                    u8::try_from(r.varint()?).map_err(|_| Error::Malformed("table definition"))?;
                if is_array_bit(t) {
                    let n = r.varint()?;
                    if n == 0 || n > MAX_ELEMENTS {
                        return Err(Error::Malformed("table definition"));
                    }
                    elements.push((t, n));
                    if is_rate_bit(t) {
                        periods.push((t, r.varint()?));
                    }
                } else {
                    periods.push((t, r.varint()?));
                }
            }
        }
        Ok(TableDefinition {
            id,
            name,
            key_type,
            key_len,
            data_types,
            expire,
            periods,
            elements,
        })
    }

    fn encode(&self, p: &mut Vec<u8>) {
        varint::encode(self.id, p);
        varint::encode(self.name.len() as u64, p);
        p.extend_from_slice(&self.name);
        varint::encode(self.key_type.code(), p);
        varint::encode(self.key_len, p);
        varint::encode(self.data_types, p);
        varint::encode(self.expire, p);
        for t in 0..64u8 {
            let period = self.periods.iter().find(|(b, _)| *b == t).map(|&(_, p)| p);
            match self.elements.iter().find(|(b, _)| *b == t) {
                Some(&(_, n)) => {
                    varint::encode(u64::from(t), p);
                    varint::encode(n, p);
                    if let Some(period) = period {
                        varint::encode(period, p);
                    }
                }
                None => {
                    if let Some(period) = period {
                        varint::encode(u64::from(t), p);
                        varint::encode(period, p);
                    }
                }
            }
        }
    }
}
