//! Entry updates: a key and the stored values, laid out as the table definition says.

pub use crate::message::KeyType;
use crate::message::{framed, is_array_bit, is_rate_bit, TableDefinition, UpdateKind};
use crate::varint::{self, Reader};
use crate::Error;

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A counter, tag or server id (a signed server id travels as its 64-bit two's complement).
    Num(u64),
    /// A rate: milliseconds since its current period began, events in it, events in the previous one.
    Freq(u32, u32, u32),
    /// A dictionary entry (`server_key`): its number in the session's dictionary, and its text the first time
    /// the sender uses that number (see [`crate::dict`]). Number 0 is no value.
    Dict(u64, Option<Vec<u8>>),
}

/// The data type that travels as a dictionary entry (`server_key`).
const DICT_BIT: u8 = 19;

/// An entry update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryUpdate {
    /// The sender's update id (`None`: the previous one plus one).
    pub id: Option<u32>,
    /// The entry's remaining lifetime in milliseconds (timed updates).
    pub expire: Option<u32>,
    /// The key's bytes: a string's bytes, an integer in network order, an address's bytes, a binary key.
    pub key: Vec<u8>,
    /// The values, by HAProxy's data type number, in increasing order; an array's elements one after the
    /// other, in order.
    pub values: Vec<(u8, Value)>,
}

impl EntryUpdate {
    /// Decodes an update's content with the definition of the table it is for.
    pub fn decode(
        payload: &[u8],
        kind: UpdateKind,
        def: &TableDefinition,
    ) -> Result<EntryUpdate, Error> {
        let mut r = Reader::new(payload, "update");
        let id = if kind.incremental {
            None
        } else {
            Some(r.u32()?)
        };
        let expire = if kind.timed { Some(r.u32()?) } else { None };
        let key = match def.key_type {
            KeyType::String => {
                let n = r.varint()?;
                if n > def.key_len {
                    return Err(Error::Malformed("update"));
                }
                r.bytes(n)?
            }
            KeyType::Integer | KeyType::Ipv4 => r.bytes(4)?,
            KeyType::Ipv6 => r.bytes(16)?,
            KeyType::Binary => r.bytes(def.key_len)?,
        }
        .to_vec();
        let mut values = Vec::new();
        for bit in 0..64u8 {
            if def.data_types & (1 << bit) == 0 {
                continue;
            }
            if bit >= 25 {
                return Err(Error::DataType(bit));
            }
            if is_array_bit(bit) {
                let n = def
                    .elements
                    .iter()
                    .find(|(b, _)| *b == bit)
                    .map_or(1, |&(_, n)| n);
                for _ in 0..n {
                    let v = if is_rate_bit(bit) {
                        let e = r.varint()? as u32;
                        let c = r.varint()? as u32;
                        let p = r.varint()? as u32;
                        Value::Freq(e, c, p)
                    } else {
                        Value::Num(r.varint()?)
                    };
                    values.push((bit, v));
                }
                continue;
            }
            let v = if bit == DICT_BIT {
                // length, then the entry's number and, when new, its text (length and bytes)
                let n = r.varint()?;
                if n == 0 {
                    Value::Dict(0, None)
                } else {
                    let mut e = Reader::new(r.bytes(n)?, "update");
                    let id = e.varint()?;
                    let text = if e.is_empty() {
                        None
                    } else {
                        let len = e.varint()?;
                        Some(e.bytes(len)?.to_vec())
                    };
                    Value::Dict(id, text)
                }
            } else if is_rate_bit(bit) {
                let e = r.varint()? as u32;
                let c = r.varint()? as u32;
                let p = r.varint()? as u32;
                Value::Freq(e, c, p)
            } else {
                Value::Num(r.varint()?)
            };
            values.push((bit, v));
        }
        Ok(EntryUpdate {
            id,
            expire,
            key,
            values,
        })
    }

    /// Appends the whole update message (header, length, content) for a table whose keys are `key_type`
    /// (`key_len`: the size a binary key is padded or cut to).
    pub fn encode(&self, key_type: KeyType, key_len: usize, out: &mut Vec<u8>) {
        let mut p = Vec::with_capacity(16 + self.key.len() + 4 * self.values.len());
        if let Some(id) = self.id {
            p.extend_from_slice(&id.to_be_bytes());
        }
        if let Some(e) = self.expire {
            p.extend_from_slice(&e.to_be_bytes());
        }
        let fixed = |p: &mut Vec<u8>, n: usize| {
            let mut k = self.key.clone();
            k.resize(n, 0);
            p.extend_from_slice(&k);
        };
        match key_type {
            KeyType::String => {
                let k = &self.key[..self.key.len().min(key_len)];
                varint::encode(k.len() as u64, &mut p);
                p.extend_from_slice(k);
            }
            KeyType::Integer | KeyType::Ipv4 => fixed(&mut p, 4),
            KeyType::Ipv6 => fixed(&mut p, 16),
            KeyType::Binary => fixed(&mut p, key_len),
        }
        for (_, v) in &self.values {
            match v {
                Value::Num(n) => varint::encode(*n, &mut p),
                Value::Freq(e, c, pr) => {
                    varint::encode(u64::from(*e), &mut p);
                    varint::encode(u64::from(*c), &mut p);
                    varint::encode(u64::from(*pr), &mut p);
                }
                Value::Dict(0, _) => varint::encode(0, &mut p),
                Value::Dict(id, text) => {
                    let mut e = Vec::new();
                    varint::encode(*id, &mut e);
                    if let Some(t) = text {
                        varint::encode(t.len() as u64, &mut e);
                        e.extend_from_slice(t);
                    }
                    varint::encode(e.len() as u64, &mut p);
                    p.extend_from_slice(&e);
                }
            }
        }
        let kind = UpdateKind {
            incremental: self.id.is_none(),
            timed: self.expire.is_some(),
        };
        framed(out, kind.code(), &p);
    }
}
