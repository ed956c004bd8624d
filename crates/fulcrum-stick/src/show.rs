//! The runtime API on tables: `show table`, `clear table`, `set table`, with HAProxy 2.6's output and messages.

use std::fmt::Write as _;

use crate::data::{Data, DataType};
use crate::key::{Key, KeyType};
use crate::Table;

/// A comparison of `data.X OP V`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `le`
    Le,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `gt`
    Gt,
}

/// `data.X OP V`: entries whose stored `X` compares so with `V`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter {
    /// The data type.
    pub data: DataType,
    /// The comparison.
    pub op: FilterOp,
    /// The value.
    pub value: i64,
}

impl Filter {
    fn keeps(&self, d: &mut Data<'_>) -> bool {
        let Some(v) = d.get(self.data) else {
            return false;
        };
        let v = if self.data.is_signed() {
            i64::from(v as u32 as i32)
        } else {
            v as i64
        };
        match self.op {
            FilterOp::Eq => v == self.value,
            FilterOp::Ne => v != self.value,
            FilterOp::Le => v <= self.value,
            FilterOp::Ge => v >= self.value,
            FilterOp::Lt => v < self.value,
            FilterOp::Gt => v > self.value,
        }
    }
}

/// A runtime API request the tables refuse; the message is HAProxy's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShowError {
    /// No table has this name.
    #[error("No such table\n")]
    NoTable,
    /// `data.X` names no data type.
    #[error("Filter entry #1: Unknown data type\n")]
    FilterType,
    /// The operator is not one of the six.
    #[error("Filter entry #1: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n")]
    FilterOp,
    /// The value is no integer.
    #[error("Filter entry #1: Require a valid integer value to compare against\n")]
    FilterValue,
    /// The filtered type is not stored.
    #[error("Filter entry #1: Data type not stored in this table\n")]
    FilterNotStored,
    /// Other words after the table name of `show table`.
    #[error("Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n")]
    ShowArgs,
    /// `clear table` / `set table` without what they need.
    #[error("Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n")]
    Required,
    /// A key that does not fit the table's type.
    #[error("Invalid key\n")]
    InvalidKey,
    /// Binary keys cannot be typed in.
    #[error("Showing keys from tables of type other than ip, ipv6, string and integer is not supported\n")]
    ShowBinary,
    /// Binary keys cannot be typed in.
    #[error("Removing keys from tables of type other than ip, ipv6, string and integer is not supported\n")]
    ClearBinary,
    /// Binary keys cannot be typed in.
    #[error("Inserting keys into tables of type other than ip, ipv6, string and integer is not supported\n")]
    SetBinary,
    /// `set table T data.X ...` without a key.
    #[error("content-based lookup is only supported with the \"show\" and \"clear\" actions\n")]
    SetByContent,
    /// `set table ... data.X` names no data type.
    #[error("Unknown data type\n")]
    DataType,
    /// `set table ... data.X` names a type the table does not store.
    #[error("Data type not stored in this table\n")]
    NotStored,
    /// `set table ... data.X V` without an integer.
    #[error("Require a valid integer value to store\n")]
    StoreValue,
    /// The table is full and nothing can be evicted.
    #[error("Unable to allocate a new entry\n")]
    Full,
}

/// Parses `data.X OP V` (the three words after the table name).
pub fn parse_filter(
    table: &Table,
    data: &str,
    op: Option<&str>,
    value: Option<&str>,
) -> Result<Filter, ShowError> {
    let d: DataType = data
        .strip_prefix("data.")
        .and_then(|d| d.parse().ok())
        .ok_or(ShowError::FilterType)?;
    let op = match op.unwrap_or("") {
        "eq" => FilterOp::Eq,
        "ne" => FilterOp::Ne,
        "le" => FilterOp::Le,
        "ge" => FilterOp::Ge,
        "lt" => FilterOp::Lt,
        "gt" => FilterOp::Gt,
        _ => return Err(ShowError::FilterOp),
    };
    // A server key cannot be compared (HAProxy asks for an integer).
    let value = value
        .filter(|_| d != DataType::ServerKey)
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or(ShowError::FilterValue)?;
    if !table.layout().has(d) {
        return Err(ShowError::FilterNotStored);
    }
    Ok(Filter { data: d, op, value })
}

/// What follows the table name: `key K` or `data.X OP V`.
enum Select {
    All,
    Key(Key),
    Data(Filter),
}

/// HAProxy's runtime keys are unsigned integers, addresses of the table's family, or strings.
fn runtime_key(kt: KeyType, text: &str) -> Option<Key> {
    match kt {
        KeyType::Integer => text.parse::<u32>().ok().map(Key::Int),
        KeyType::Ipv6 => text.parse::<std::net::Ipv6Addr>().ok().map(Key::V6),
        _ => kt.parse(text),
    }
}

impl Table {
    /// The line `show table` prints for this table.
    pub fn header(&self) -> String {
        format!(
            "# table: {}, type: {}, size:{}, used:{}\n",
            self.name(),
            self.key_type().name(),
            self.def.size,
            self.used()
        )
    }

    fn entry_line(
        &self,
        out: &mut String,
        id: u64,
        key: &Key,
        refs: u32,
        exp: u64,
        d: &mut Data<'_>,
    ) {
        let _ = write!(out, "0x{:012x}: key=", 0x5000_0000_0000u64 + id * 0x40);
        match (self.key_type(), key) {
            (KeyType::Binary(_), Key::Bytes(b)) => {
                for c in b.iter() {
                    let _ = write!(out, "{c:02X}");
                }
            }
            (KeyType::String(_), Key::Bytes(b)) => {
                // stored as a C string: what follows a NUL is not shown
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                out.push_str(&String::from_utf8_lossy(&b[..end]));
            }
            _ => {
                let _ = write!(out, "{key}");
            }
        }
        let _ = write!(out, " use={refs} exp={exp}");
        for &t in self.layout().stored() {
            if t.is_array() {
                // one `NAME<i>=V` per element (`gpc0_rate(10000)=V` for the rates)
                for i in 0..self.layout().elements(t) {
                    let v = d.get_at(t, i).unwrap_or(0);
                    let name = t.element_name(i);
                    if t.is_rate() {
                        let _ = write!(out, " {name}({})={v}", self.layout().period(t));
                    } else {
                        let _ = write!(out, " {name}={v}");
                    }
                }
                continue;
            }
            let v = d.get(t).unwrap_or(0);
            if t.is_rate() {
                let _ = write!(out, " {}({})={}", t, self.layout().period(t), v);
            } else if t.is_signed() {
                let _ = write!(out, " {}={}", t, v as u32 as i32);
            } else if t == DataType::ServerKey {
                let _ = write!(
                    out,
                    " {t}={}",
                    crate::data::server_key(v).as_deref().unwrap_or("")
                );
            } else {
                let _ = write!(out, " {t}={v}");
            }
        }
        out.push('\n');
    }

    fn select(&self, args: &[&str], binary: ShowError, show: bool) -> Result<Select, ShowError> {
        match args {
            [] => Ok(Select::All),
            ["key", k, ..] => {
                if matches!(self.key_type(), KeyType::Binary(_)) {
                    return Err(binary);
                }
                runtime_key(self.key_type(), k)
                    .map(Select::Key)
                    .ok_or(ShowError::InvalidKey)
            }
            [d, rest @ ..] if d.starts_with("data.") => {
                parse_filter(self, d, rest.first().copied(), rest.get(1).copied()).map(Select::Data)
            }
            _ if show => Err(ShowError::ShowArgs),
            _ => Err(ShowError::Required),
        }
    }

    /// `show table NAME [key K | data.X OP V]`: the header and the entries (in key order), each line ending in a
    /// newline. With `key`, only that entry, and nothing at all when it is missing.
    pub fn show(&self, args: &[&str], now: u64) -> Result<String, ShowError> {
        let sel = match self.select(args, ShowError::ShowBinary, true) {
            Err(ShowError::InvalidKey) => return Ok(String::new()),
            r => r?,
        };
        let mut rows: Vec<(Key, String)> = Vec::new();
        self.for_each(now, &mut |id, key, refs, exp, d| {
            let keep = match &sel {
                Select::All => true,
                Select::Key(k) => k == key,
                Select::Data(f) => f.keeps(d),
            };
            if keep {
                let mut line = String::new();
                self.entry_line(&mut line, id, key, refs, exp, d);
                rows.push((key.clone(), line));
            }
        });
        if matches!(sel, Select::Key(_)) && rows.is_empty() {
            return Ok(String::new());
        }
        rows.sort_by(|a, b| key_order(&a.0, &b.0));
        let mut out = self.header();
        for (_, l) in rows {
            out.push_str(&l);
        }
        Ok(out)
    }

    /// `clear table NAME [key K | data.X OP V]`: removes the matching entries no stream tracks (every such
    /// entry without an argument).
    pub fn clear(&self, args: &[&str], now: u64) -> Result<usize, ShowError> {
        let sel = self.select(args, ShowError::ClearBinary, false)?;
        Ok(self.retain(now, &mut |key, d| match &sel {
            Select::All => false,
            Select::Key(k) => k != key,
            Select::Data(f) => !f.keeps(d),
        }))
    }

    /// `set table NAME key K [data.X V]...`: creates the entry when missing, refreshes it and stores the values in
    /// order, stopping at the first bad one (those before it are kept, as in HAProxy).
    pub fn set(&self, args: &[&str], now: u64) -> Result<(), ShowError> {
        let (k, rest) = match args {
            ["key", k, rest @ ..] => (*k, rest),
            [d, ..] if d.starts_with("data.") => return Err(ShowError::SetByContent),
            _ => return Err(ShowError::Required),
        };
        if matches!(self.key_type(), KeyType::Binary(_)) {
            return Err(ShowError::SetBinary);
        }
        let key = runtime_key(self.key_type(), k).ok_or(ShowError::InvalidKey)?;
        self.upsert(&key, now, |d| {
            let mut it = rest.iter();
            while let Some(w) = it.next() {
                let t: DataType = w
                    .strip_prefix("data.")
                    .and_then(|t| t.parse().ok())
                    .ok_or(ShowError::DataType)?;
                if !d.layout.has(t) {
                    return Err(ShowError::NotStored);
                }
                // As HAProxy: a server key is not set through the runtime API.
                let v = it
                    .next()
                    .filter(|_| t != DataType::ServerKey)
                    .and_then(|v| v.parse::<i64>().ok())
                    .ok_or(ShowError::StoreValue)?;
                d.set(t, v as u64);
            }
            Ok(())
        })
        .ok_or(ShowError::Full)?
    }
}

/// HAProxy lists entries in its tree's order: addresses and strings byte by byte, integers by value.
fn key_order(a: &Key, b: &Key) -> std::cmp::Ordering {
    match (a, b) {
        (Key::V4(x), Key::V4(y)) => x.octets().cmp(&y.octets()),
        (Key::V6(x), Key::V6(y)) => x.octets().cmp(&y.octets()),
        (Key::Int(x), Key::Int(y)) => x.cmp(y),
        (Key::Bytes(x), Key::Bytes(y)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    }
}

/// `show table` without a name: one header line per table, the last declared first (HAProxy's order).
pub fn list<'a>(tables: impl DoubleEndedIterator<Item = &'a Table>) -> String {
    tables.rev().map(Table::header).collect()
}
