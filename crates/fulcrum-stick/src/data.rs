//! What a table stores per entry: the `store` data types, their layout in an entry, and their values.

use std::fmt;
use std::str::FromStr;

use crate::freq::Freq;

/// A data type of `store` (HAProxy 2.6's names). The order is HAProxy's: `show table` lists an entry's data in
/// this order, whatever the order of the `store` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DataType {
    /// `server_id`: the server the key sticks to.
    ServerId,
    /// `gpt0`: general purpose tag.
    Gpt0,
    /// `gpc0`: general purpose counter.
    Gpc0,
    /// `gpc0_rate(T)`
    Gpc0Rate,
    /// `conn_cnt`: connections tracked.
    ConnCnt,
    /// `conn_rate(T)`
    ConnRate,
    /// `conn_cur`: connections tracked right now.
    ConnCur,
    /// `sess_cnt`: sessions tracked.
    SessCnt,
    /// `sess_rate(T)`
    SessRate,
    /// `http_req_cnt`
    HttpReqCnt,
    /// `http_req_rate(T)`
    HttpReqRate,
    /// `http_err_cnt`: requests answered with a 4xx.
    HttpErrCnt,
    /// `http_err_rate(T)`
    HttpErrRate,
    /// `bytes_in_cnt`: bytes from the client.
    BytesInCnt,
    /// `bytes_in_rate(T)`
    BytesInRate,
    /// `bytes_out_cnt`: bytes to the client.
    BytesOutCnt,
    /// `bytes_out_rate(T)`
    BytesOutRate,
    /// `gpc1`
    Gpc1,
    /// `gpc1_rate(T)`
    Gpc1Rate,
    /// `server_key`: the name (or `addr:port` with `srvkey addr`) of the server the key sticks to, as an entry
    /// of the process's dictionary ([`server_key`], [`intern_server_key`]).
    ServerKey,
    /// `http_fail_cnt`: requests that failed on the server side (a 5xx answer from a server).
    HttpFailCnt,
    /// `http_fail_rate(T)`
    HttpFailRate,
    /// `gpt(N)`: an array of general purpose tags (`gpt0` ... in `show table`).
    Gpt,
    /// `gpc(N)`: an array of general purpose counters (`gpc0` ...); excludes `gpc0`/`gpc1` in one table.
    Gpc,
    /// `gpc_rate(N,T)`: an array of rates of the general purpose counters.
    GpcRate,
}

/// The most elements of an array type (`gpc(N)` ...), as HAProxy 2.6.
pub const MAX_ELEMENTS: u32 = 100;

/// Every data type, in HAProxy's order.
pub const ALL: [DataType; 25] = [
    DataType::ServerId,
    DataType::Gpt0,
    DataType::Gpc0,
    DataType::Gpc0Rate,
    DataType::ConnCnt,
    DataType::ConnRate,
    DataType::ConnCur,
    DataType::SessCnt,
    DataType::SessRate,
    DataType::HttpReqCnt,
    DataType::HttpReqRate,
    DataType::HttpErrCnt,
    DataType::HttpErrRate,
    DataType::BytesInCnt,
    DataType::BytesInRate,
    DataType::BytesOutCnt,
    DataType::BytesOutRate,
    DataType::Gpc1,
    DataType::Gpc1Rate,
    DataType::ServerKey,
    DataType::HttpFailCnt,
    DataType::HttpFailRate,
    DataType::Gpt,
    DataType::Gpc,
    DataType::GpcRate,
];

impl DataType {
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            DataType::ServerId => "server_id",
            DataType::Gpt0 => "gpt0",
            DataType::Gpc0 => "gpc0",
            DataType::Gpc0Rate => "gpc0_rate",
            DataType::ConnCnt => "conn_cnt",
            DataType::ConnRate => "conn_rate",
            DataType::ConnCur => "conn_cur",
            DataType::SessCnt => "sess_cnt",
            DataType::SessRate => "sess_rate",
            DataType::HttpReqCnt => "http_req_cnt",
            DataType::HttpReqRate => "http_req_rate",
            DataType::HttpErrCnt => "http_err_cnt",
            DataType::HttpErrRate => "http_err_rate",
            DataType::BytesInCnt => "bytes_in_cnt",
            DataType::BytesInRate => "bytes_in_rate",
            DataType::BytesOutCnt => "bytes_out_cnt",
            DataType::BytesOutRate => "bytes_out_rate",
            DataType::Gpc1 => "gpc1",
            DataType::Gpc1Rate => "gpc1_rate",
            DataType::ServerKey => "server_key",
            DataType::HttpFailCnt => "http_fail_cnt",
            DataType::HttpFailRate => "http_fail_rate",
            DataType::Gpt => "gpt",
            DataType::Gpc => "gpc",
            DataType::GpcRate => "gpc_rate",
        }
    }

    /// Whether it is an array (`gpt(N)`, `gpc(N)`, `gpc_rate(N,T)`), whose elements are shown and sent one by
    /// one.
    pub fn is_array(self) -> bool {
        matches!(self, DataType::Gpt | DataType::Gpc | DataType::GpcRate)
    }

    /// The name of element `i` in `show table`, as HAProxy 2.6 writes it: `gpt0`, `gpc3`, `gpc3_rate`; the
    /// type's name for the other types.
    pub fn element_name(self, i: usize) -> std::borrow::Cow<'static, str> {
        match self {
            DataType::Gpt => format!("gpt{i}").into(),
            DataType::Gpc => format!("gpc{i}").into(),
            DataType::GpcRate => format!("gpc{i}_rate").into(),
            _ => self.name().into(),
        }
    }

    /// Whether it is a rate, which takes a period (`http_req_rate(10s)`).
    pub fn is_rate(self) -> bool {
        matches!(
            self,
            DataType::Gpc0Rate
                | DataType::ConnRate
                | DataType::SessRate
                | DataType::HttpReqRate
                | DataType::HttpErrRate
                | DataType::BytesInRate
                | DataType::BytesOutRate
                | DataType::Gpc1Rate
                | DataType::HttpFailRate
                | DataType::GpcRate
        )
    }

    /// The bit of the type in the data types bitfield of HAProxy's peers protocol (HAProxy's own numbering).
    pub fn wire_bit(self) -> u8 {
        self as u8
    }

    /// The type of a bit of the peers protocol's bitfield (`None`: a type fulcrum does not store).
    pub fn from_wire_bit(bit: u8) -> Option<DataType> {
        ALL.iter().copied().find(|d| d.wire_bit() == bit)
    }

    /// Whether the value is signed (`server_id`); the others are unsigned.
    pub fn is_signed(self) -> bool {
        self == DataType::ServerId
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DataType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        ALL.iter().copied().find(|d| d.name() == s).ok_or(())
    }
}

/// The process's dictionary of server keys: an entry stores its `server_key` as an index here (plus one; 0 is
/// none), as HAProxy keeps them in a shared dictionary. Server names and addresses are few, so it only grows.
static SERVER_KEYS: std::sync::RwLock<Dictionary> =
    std::sync::RwLock::new((Vec::new(), Vec::new()));

/// The texts by number (minus one), and (hash, number) pairs to find a text's number.
type Dictionary = (Vec<std::sync::Arc<str>>, Vec<(u64, u64)>);

fn key_hash(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// The dictionary number of a server key (the value `server_key` stores), added when new.
pub fn intern_server_key(key: &str) -> u64 {
    let h = key_hash(key);
    let find = |d: &Dictionary| {
        d.1.iter()
            .filter(|(hh, _)| *hh == h)
            .map(|&(_, i)| i)
            .find(|&i| &*d.0[(i - 1) as usize] == key)
    };
    if let Some(i) = find(&SERVER_KEYS.read().unwrap_or_else(|e| e.into_inner())) {
        return i;
    }
    let mut d = SERVER_KEYS.write().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = find(&d) {
        return i;
    }
    d.0.push(key.into());
    let i = d.0.len() as u64;
    d.1.push((h, i));
    i
}

/// The server key a stored `server_key` value stands for (`None` for 0 or an unknown number).
pub fn server_key(value: u64) -> Option<std::sync::Arc<str>> {
    let d = SERVER_KEYS.read().unwrap_or_else(|e| e.into_inner());
    d.0.get(usize::try_from(value).ok()?.checked_sub(1)?)
        .cloned()
}

/// One stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// A counter, a tag or a server id.
    Num(u64),
    /// A rate.
    Rate(Freq),
}

/// Where each stored data type lives in an entry, and the periods of the rates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Index in the entry's slots of the type's (first) value, per data type (`u16::MAX`: not stored).
    index: [u16; ALL.len()],
    /// How many values, per data type: the elements of an array, else 1 (0: not stored).
    count: [u8; ALL.len()],
    /// Period in milliseconds, per data type (rates only).
    period: [u32; ALL.len()],
    /// The stored types in HAProxy's order.
    stored: Vec<DataType>,
}

impl Layout {
    /// The layout of a `store` line: `(type, period in ms)` pairs (the period is ignored for counters), and
    /// the number of elements of the array types (`elements`; an array type not listed there has one).
    pub fn new(store: &[(DataType, u32)], elements: &[(DataType, u8)]) -> Layout {
        let mut l = Layout {
            index: [u16::MAX; ALL.len()],
            count: [0; ALL.len()],
            period: [0; ALL.len()],
            stored: Vec::new(),
        };
        for &(d, p) in store {
            l.period[d as usize] = p;
            l.count[d as usize] = 1;
        }
        for &(d, n) in elements {
            if d.is_array() && l.count[d as usize] != 0 {
                l.count[d as usize] = n.max(1);
            }
        }
        let mut next = 0u16;
        for d in ALL {
            if l.count[d as usize] != 0 {
                l.index[d as usize] = next;
                next += u16::from(l.count[d as usize]);
                l.stored.push(d);
            }
        }
        l
    }

    /// Whether the type is stored.
    pub fn has(&self, d: DataType) -> bool {
        self.count[d as usize] != 0
    }

    /// How many values of the type an entry holds: an array's elements, 1 for the others, 0 when not stored.
    pub fn elements(&self, d: DataType) -> usize {
        usize::from(self.count[d as usize])
    }

    /// How many values an entry holds.
    pub fn width(&self) -> usize {
        self.stored.iter().map(|&d| self.elements(d)).sum()
    }

    /// The period of a stored rate, in milliseconds.
    pub fn period(&self, d: DataType) -> u32 {
        self.period[d as usize]
    }

    /// The stored types, in HAProxy's order.
    pub fn stored(&self) -> &[DataType] {
        &self.stored
    }

    pub(crate) fn empty_slots(&self) -> Box<[Slot]> {
        self.stored
            .iter()
            .flat_map(|&d| {
                let slot = if d.is_rate() {
                    Slot::Rate(Freq::default())
                } else {
                    Slot::Num(0)
                };
                std::iter::repeat_n(slot, self.elements(d))
            })
            .collect()
    }
}

/// A stored value as the peers protocol carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw {
    /// A counter, a tag or a server id.
    Num(u64),
    /// A rate: milliseconds since its period began, events of this period, events of the previous one.
    Freq(u32, u32, u32),
}

/// One entry's data, seen through its table's layout at a given time.
pub struct Data<'a> {
    pub(crate) slots: &'a mut [Slot],
    pub(crate) layout: &'a Layout,
    pub(crate) now: u64,
}

impl Data<'_> {
    fn slot(&mut self, d: DataType) -> Option<&mut Slot> {
        self.slot_at(d, 0)
    }

    /// Element `i` of `d` (0 for a type that is no array).
    fn slot_at(&mut self, d: DataType, i: usize) -> Option<&mut Slot> {
        if i >= self.layout.elements(d) {
            return None;
        }
        let first = self.layout.index[d as usize];
        self.slots.get_mut(usize::from(first) + i)
    }

    /// The value of `d` (a rate read at the current time); `None` when the table does not store it.
    pub fn get(&mut self, d: DataType) -> Option<u64> {
        self.get_at(d, 0)
    }

    /// The value of element `i` of array `d` (`get_at(d, 0)` is `get(d)`); `None` when the table does not
    /// store it or the array is shorter.
    pub fn get_at(&mut self, d: DataType, i: usize) -> Option<u64> {
        let (now, period) = (self.now, self.layout.period(d));
        match self.slot_at(d, i)? {
            Slot::Num(n) => Some(*n),
            Slot::Rate(f) => Some(u64::from(f.read(period, now))),
        }
    }

    /// Adds `n` to a counter or `n` events to a rate, when stored.
    pub fn add(&mut self, d: DataType, n: u64) {
        self.add_at(d, 0, n)
    }

    /// Adds `n` to element `i` of array `d`, when stored.
    pub fn add_at(&mut self, d: DataType, i: usize, n: u64) {
        let (now, period) = (self.now, self.layout.period(d));
        match self.slot_at(d, i) {
            Some(Slot::Num(v)) => *v = v.wrapping_add(n) & Self::mask(d),
            Some(Slot::Rate(f)) => f.add(u32::try_from(n).unwrap_or(u32::MAX), period, now),
            None => {}
        }
    }

    /// Takes one from a counter that is above zero (`conn_cur` when a tracked connection ends).
    pub fn dec(&mut self, d: DataType) {
        if let Some(Slot::Num(v)) = self.slot(d) {
            *v = v.saturating_sub(1);
        }
    }

    /// Sets a value (a rate is set to `n` events in a period starting now); false when the type is not stored.
    pub fn set(&mut self, d: DataType, n: u64) -> bool {
        self.set_at(d, 0, n)
    }

    /// Sets element `i` of array `d`; false when it is not stored.
    pub fn set_at(&mut self, d: DataType, i: usize, n: u64) -> bool {
        let now = self.now;
        match self.slot_at(d, i) {
            Some(Slot::Num(v)) => *v = n & Self::mask(d),
            Some(Slot::Rate(f)) => f.set(u32::try_from(n).unwrap_or(u32::MAX), now),
            None => return false,
        }
        true
    }

    /// The value of `d` as the peers protocol sends it; `None` when the table does not store it.
    pub fn raw(&mut self, d: DataType) -> Option<Raw> {
        self.raw_at(d, 0)
    }

    /// Element `i` of `d` as the peers protocol sends it.
    pub fn raw_at(&mut self, d: DataType, i: usize) -> Option<Raw> {
        let now = self.now;
        Some(match self.slot_at(d, i)? {
            Slot::Num(n) => Raw::Num(*n),
            Slot::Rate(f) => {
                let (e, c, p) = f.to_wire(now);
                Raw::Freq(e, c, p)
            }
        })
    }

    /// Sets `d` to a value a peer sent; values of another shape than the stored one are ignored.
    pub fn set_raw(&mut self, d: DataType, v: Raw) {
        self.set_raw_at(d, 0, v)
    }

    /// Sets element `i` of `d` to a value a peer sent (ignored beyond the stored elements).
    pub fn set_raw_at(&mut self, d: DataType, i: usize, v: Raw) {
        let (now, period) = (self.now, self.layout.period(d));
        match (self.slot_at(d, i), v) {
            (Some(Slot::Num(n)), Raw::Num(v)) => *n = v & Self::mask(d),
            (Some(Slot::Rate(f)), Raw::Freq(e, c, p)) => *f = Freq::from_wire(e, c, p, period, now),
            _ => {}
        }
    }

    /// HAProxy keeps most counters in 32 bits, the byte counters and `*_cnt` of HTTP in 64.
    fn mask(d: DataType) -> u64 {
        match d {
            DataType::BytesInCnt | DataType::BytesOutCnt | DataType::ServerKey => u64::MAX,
            _ => u64::from(u32::MAX),
        }
    }

    /// A new connection tracked: `conn_cnt`, `conn_rate`, `conn_cur`.
    pub fn connection(&mut self) {
        self.add(DataType::ConnCnt, 1);
        self.add(DataType::ConnRate, 1);
        self.add(DataType::ConnCur, 1);
    }

    /// A new session tracked: `sess_cnt`, `sess_rate`.
    pub fn session(&mut self) {
        self.add(DataType::SessCnt, 1);
        self.add(DataType::SessRate, 1);
    }

    /// An HTTP request: `http_req_cnt`, `http_req_rate`.
    pub fn http_request(&mut self) {
        self.add(DataType::HttpReqCnt, 1);
        self.add(DataType::HttpReqRate, 1);
    }

    /// An HTTP error (a 4xx answer): `http_err_cnt`, `http_err_rate`.
    pub fn http_error(&mut self) {
        self.add(DataType::HttpErrCnt, 1);
        self.add(DataType::HttpErrRate, 1);
    }

    /// A server-side failure (a 5xx from a server): `http_fail_cnt`, `http_fail_rate`.
    pub fn http_failure(&mut self) {
        self.add(DataType::HttpFailCnt, 1);
        self.add(DataType::HttpFailRate, 1);
    }

    /// Bytes received from the client.
    pub fn bytes_in(&mut self, n: u64) {
        self.add(DataType::BytesInCnt, n);
        self.add(DataType::BytesInRate, n);
    }

    /// Bytes sent to the client.
    pub fn bytes_out(&mut self, n: u64) {
        self.add(DataType::BytesOutCnt, n);
        self.add(DataType::BytesOutRate, n);
    }

    /// `inc_gpc0`/`sc-inc-gpc0`: increments `gpc0` and its rate; the new `gpc0` (0 when not stored).
    pub fn inc_gpc(&mut self, which: u8, n: u64) -> u64 {
        let (c, r) = if which == 0 {
            (DataType::Gpc0, DataType::Gpc0Rate)
        } else {
            (DataType::Gpc1, DataType::Gpc1Rate)
        };
        self.add(r, n);
        self.add(c, n);
        self.get(c).unwrap_or(0)
    }

    /// Every stored value as the peers protocol sends it, in HAProxy's order, an array's elements in order.
    pub fn raw_values(&mut self) -> Vec<(DataType, Raw)> {
        let layout = self.layout;
        let mut out = Vec::with_capacity(layout.width());
        for &t in layout.stored() {
            for i in 0..layout.elements(t) {
                if let Some(v) = self.raw_at(t, i) {
                    out.push((t, v));
                }
            }
        }
        out
    }

    /// `sc-inc-gpc(IDX,SC)`/`inc_gpc(IDX)`: increments element `idx` of `gpc` and of `gpc_rate`; the new
    /// counter (0 when not stored).
    pub fn inc_gpc_at(&mut self, idx: usize, n: u64) -> u64 {
        self.add_at(DataType::GpcRate, idx, n);
        self.add_at(DataType::Gpc, idx, n);
        self.get_at(DataType::Gpc, idx).unwrap_or(0)
    }

    /// `clr_gpc(IDX)`: element `idx` of `gpc` before it was set to zero (0 when not stored).
    pub fn clr_gpc_at(&mut self, idx: usize) -> u64 {
        let old = self.get_at(DataType::Gpc, idx).unwrap_or(0);
        self.set_at(DataType::Gpc, idx, 0);
        old
    }

    /// `clr_gpc0`: the value before it was set to zero (0 when not stored).
    pub fn clr_gpc(&mut self, which: u8) -> u64 {
        let c = if which == 0 {
            DataType::Gpc0
        } else {
            DataType::Gpc1
        };
        let old = self.get(c).unwrap_or(0);
        self.set(c, 0);
        old
    }
}
