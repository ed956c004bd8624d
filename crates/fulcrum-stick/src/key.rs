//! Table keys: the `type` of a table and the keys it holds.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A table's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// `ip`: IPv4 addresses.
    Ip,
    /// `ipv6`
    Ipv6,
    /// `integer`: 32-bit integers.
    Integer,
    /// `string [len N]`: strings cut to N bytes (31 by default: HAProxy's 32-byte keys hold a final NUL).
    String(usize),
    /// `binary [len N]`: N bytes, cut or padded with zeros (32 by default).
    Binary(usize),
}

impl KeyType {
    /// The name `show table` prints.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ip => "ip",
            KeyType::Ipv6 => "ipv6",
            KeyType::Integer => "integer",
            KeyType::String(_) => "string",
            KeyType::Binary(_) => "binary",
        }
    }
}

/// A key, as a table stores it. IP and integer keys are held inline, so looking them up allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address.
    V6(Ipv6Addr),
    /// An integer.
    Int(u32),
    /// A string or binary key.
    Bytes(Box<[u8]>),
}

/// A sample offered as a key, before it is converted to the table's type.
#[derive(Debug, Clone, Copy)]
pub enum KeyInput<'a> {
    /// An address.
    Ip(IpAddr),
    /// An integer.
    Int(i64),
    /// A string or bytes.
    Bytes(&'a [u8]),
}

impl KeyType {
    /// Converts a sample to a key of this type, as HAProxy casts samples to a table's key type; `None` when it
    /// cannot (an IPv6 address that is not IPv4-mapped for an `ip` table, text that is no number for an
    /// `integer` table).
    pub fn key(self, input: KeyInput<'_>) -> Option<Key> {
        match (self, input) {
            (KeyType::Ip, KeyInput::Ip(IpAddr::V4(a))) => Some(Key::V4(a)),
            (KeyType::Ip, KeyInput::Ip(IpAddr::V6(a))) => a.to_ipv4_mapped().map(Key::V4),
            (KeyType::Ip, KeyInput::Int(n)) => Some(Key::V4(Ipv4Addr::from(n as u32))),
            (KeyType::Ip, KeyInput::Bytes(b)) => std::str::from_utf8(b)
                .ok()?
                .parse::<Ipv4Addr>()
                .ok()
                .map(Key::V4),
            (KeyType::Ipv6, KeyInput::Ip(IpAddr::V6(a))) => Some(Key::V6(a)),
            (KeyType::Ipv6, KeyInput::Ip(IpAddr::V4(a))) => Some(Key::V6(a.to_ipv6_mapped())),
            (KeyType::Ipv6, KeyInput::Int(_)) => None,
            (KeyType::Ipv6, KeyInput::Bytes(b)) => std::str::from_utf8(b)
                .ok()?
                .parse::<Ipv6Addr>()
                .ok()
                .map(Key::V6),
            (KeyType::Integer, KeyInput::Int(n)) => Some(Key::Int(n as u32)),
            (KeyType::Integer, KeyInput::Ip(IpAddr::V4(a))) => Some(Key::Int(u32::from(a))),
            (KeyType::Integer, KeyInput::Ip(IpAddr::V6(_))) => None,
            (KeyType::Integer, KeyInput::Bytes(b)) => std::str::from_utf8(b)
                .ok()?
                .trim()
                .parse::<i64>()
                .ok()
                .map(|n| Key::Int(n as u32)),
            (KeyType::String(len), input) => {
                let mut s = match input {
                    KeyInput::Bytes(b) => b.to_vec(),
                    KeyInput::Ip(a) => a.to_string().into_bytes(),
                    KeyInput::Int(n) => n.to_string().into_bytes(),
                };
                s.truncate(len);
                Some(Key::Bytes(s.into_boxed_slice()))
            }
            (KeyType::Binary(len), input) => {
                let mut b = match input {
                    KeyInput::Bytes(b) => b.to_vec(),
                    KeyInput::Ip(IpAddr::V4(a)) => a.octets().to_vec(),
                    KeyInput::Ip(IpAddr::V6(a)) => a.octets().to_vec(),
                    KeyInput::Int(n) => n.to_be_bytes().to_vec(),
                };
                b.resize(len, 0);
                Some(Key::Bytes(b.into_boxed_slice()))
            }
        }
    }

    /// Parses a key typed on the runtime API (`show table T key K`); binary keys are written in hex.
    pub fn parse(self, text: &str) -> Option<Key> {
        match self {
            KeyType::Integer => text.parse::<i64>().ok().map(|n| Key::Int(n as u32)),
            KeyType::Binary(_) => {
                if text.len() & 1 == 1 {
                    return None;
                }
                let bytes = (0..text.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
                    .collect::<Option<Vec<u8>>>()?;
                self.key(KeyInput::Bytes(&bytes))
            }
            _ => self.key(KeyInput::Bytes(text.as_bytes())),
        }
    }
}

impl fmt::Display for Key {
    /// As `show table` prints keys: addresses and integers as text, strings as they are (bytes outside
    /// printable ASCII as `\xHH`), binary in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::V4(a) => write!(f, "{a}"),
            Key::V6(a) => write!(f, "{a}"),
            Key::Int(n) => write!(f, "{n}"),
            Key::Bytes(b) => {
                for &c in b.iter() {
                    if c.is_ascii_graphic() || c == b' ' {
                        f.write_char(c as char)?;
                    } else {
                        write!(f, "\\x{c:02x}")?;
                    }
                }
                Ok(())
            }
        }
    }
}
