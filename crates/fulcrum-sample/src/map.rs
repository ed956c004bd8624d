//! Maps: the `map_*` converters' key/value files, compiled for look-up, and the references the runtime API
//! changes (`show map`, `add map`, `del map`, `set map`, `clear map`, `get map`).
//!
//! A map file holds one entry a line: a key, blanks, then the value (the rest of the line); blank lines and
//! lines starting with `#` are skipped. Each file is one [`MapRef`] in a [`Maps`] registry, whatever the
//! number of converters reading it. Each distinct way of reading it (a match method and an output type) is a
//! [`MapTable`]: the entries compiled into an index (a hash for exact keys, hashes by length for the longest
//! prefix, hashes by prefix length for networks, compiled regexes, or the list in file order for the other
//! methods), behind an `ArcSwap`. Converters hold their table, so a look-up takes no lock; the runtime API
//! edits the reference's entries under its mutex, recompiles every table and swaps them in, or changes
//! nothing when one of them refuses an entry.
//!
//! The crate reads no file: the caller gives the text through [`MapSource`] when an expression is compiled.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use arc_swap::ArcSwap;
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::text::{self, Piece};
use crate::value::{Type, Value};

/// How a map's keys are compared with the sample (`map_str`, `map_beg`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchKind {
    /// `map`, `map_str`: the whole string.
    Str,
    /// `map_beg`: the key starts the sample (the longest such key wins).
    Beg,
    /// `map_sub`: the key is inside the sample.
    Sub,
    /// `map_dir`: the key is a run of `/`-delimited words of the sample.
    Dir,
    /// `map_dom`: the key is a run of `.`-delimited words of the sample.
    Dom,
    /// `map_end`: the key ends the sample.
    End,
    /// `map_reg`: the key is a regex matching the sample.
    Reg,
    /// `map_regm`: as `map_reg`, and `\N` in the value is what group N matched.
    Regm,
    /// `map_int`: the key is an integer or a range `LO:HI`.
    Int,
    /// `map_ip`: the key is an address or a network (the longest prefix wins).
    Ip,
}

impl MatchKind {
    /// The name `get map` prints.
    pub fn name(self) -> &'static str {
        match self {
            MatchKind::Str => "str",
            MatchKind::Beg => "beg",
            MatchKind::Sub => "sub",
            MatchKind::Dir => "dir",
            MatchKind::Dom => "dom",
            MatchKind::End => "end",
            MatchKind::Reg => "reg",
            MatchKind::Regm => "regm",
            MatchKind::Int => "int",
            MatchKind::Ip => "ip",
        }
    }

    /// The sample type the converter takes.
    pub(crate) fn in_type(self) -> Type {
        match self {
            MatchKind::Int => Type::Int,
            MatchKind::Ip => Type::Addr,
            _ => Type::Str,
        }
    }

    /// Whether HAProxy indexes it in a tree (`idx=tree` in `get map`) rather than a list.
    fn is_tree(self) -> bool {
        matches!(self, MatchKind::Str | MatchKind::Beg | MatchKind::Ip)
    }
}

/// The type of the values a map converter returns (`map_str` and its `_int`, `_ip` forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapOut {
    /// Strings.
    Str,
    /// Integers (`..._int`).
    Int,
    /// Addresses (`..._ip`).
    Ip,
}

impl MapOut {
    fn name(self) -> &'static str {
        match self {
            MapOut::Str => "str",
            MapOut::Int => "int",
            MapOut::Ip => "ip",
        }
    }

    /// The declared output type of the converter.
    pub(crate) fn sample_type(self) -> Type {
        match self {
            MapOut::Str => Type::Str,
            MapOut::Int => Type::Int,
            MapOut::Ip => Type::Ipv4,
        }
    }

    /// Parses a value (or a default) for this output type.
    pub(crate) fn value(self, s: &str) -> Result<Value<'static>, String> {
        match self {
            MapOut::Str => Ok(Value::Str(s.as_bytes().to_vec().into())),
            MapOut::Int => s
                .trim()
                .parse::<i64>()
                .map(Value::Int)
                .map_err(|_| format!("unable to parse '{s}'")),
            MapOut::Ip => match s.trim().parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) => Ok(Value::Ipv4(a)),
                Ok(IpAddr::V6(a)) => Ok(Value::Ipv6(a)),
                Err(_) => Err(format!("unable to parse '{s}'")),
            },
        }
    }
}

/// The map converters of HAProxy 2.6, by name: match method and output type.
pub(crate) fn converter(name: &str) -> Option<(MatchKind, MapOut)> {
    let rest = name.strip_prefix("map")?;
    if rest.is_empty() {
        return Some((MatchKind::Str, MapOut::Str));
    }
    let rest = rest.strip_prefix('_')?;
    let (kind, out) = match rest.split_once('_') {
        Some((k, "int")) => (k, MapOut::Int),
        Some((k, "ip")) => (k, MapOut::Ip),
        Some(_) => return None,
        None => (rest, MapOut::Str),
    };
    let kind = match kind {
        "str" => MatchKind::Str,
        "beg" => MatchKind::Beg,
        "sub" => MatchKind::Sub,
        "dir" => MatchKind::Dir,
        "dom" => MatchKind::Dom,
        "end" => MatchKind::End,
        "reg" => MatchKind::Reg,
        "regm" if out == MapOut::Str => MatchKind::Regm,
        "int" => MatchKind::Int,
        "ip" => MatchKind::Ip,
        _ => return None,
    };
    Some((kind, out))
}

/// Where compiled expressions get their map tables: the configuration loader reads the file the first time a
/// converter names it and hands out the table for the converter's method and output type.
pub trait MapSource {
    /// The table of `path` read with `kind`, returning `out` values; `Err` says why not, as HAProxy words it.
    fn map(&mut self, path: &str, kind: MatchKind, out: MapOut) -> Result<Arc<MapTable>, String>;
}

/// A [`MapSource`] that has none: expressions compiled without a configuration cannot use maps.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMaps;

impl MapSource for NoMaps {
    fn map(&mut self, _: &str, _: MatchKind, _: MapOut) -> Result<Arc<MapTable>, String> {
        Err("map converters are not supported yet by fulcrum in this place (they are in rules, redirects, use_backend and set-var)".to_string())
    }
}

/// One entry of a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    /// Unique among the entries of the registry (what `show map` prints and `del map REF #ID` takes).
    pub id: u64,
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// The line of the file it came from (0 when the runtime API added it).
    pub line: usize,
}

/// Cuts a map file into (line, key, value): blanks around the key are skipped, the value is the rest of the
/// line (an empty one when there is none).
pub fn parse_file(text: &str) -> Vec<(usize, &str, &str)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let (key, value) = match line.find([' ', '\t']) {
            Some(i) => (&line[..i], line[i..].trim_start_matches([' ', '\t'])),
            None => (line, ""),
        };
        out.push((n + 1, key, value));
    }
    out
}

/// Hash maps by a length (a key's, a prefix's), longest first: key → first entry.
type Buckets<K> = Vec<(usize, HashMap<K, usize>)>;

/// Records entry `i` under `key` in the bucket of length `len` (the first entry of a key stays).
fn bucket_insert<K: std::hash::Hash + Eq>(b: &mut Buckets<K>, len: usize, key: K, i: usize) {
    let slot = match b.iter().position(|(l, _)| *l == len) {
        Some(p) => p,
        None => {
            b.push((len, HashMap::new()));
            b.len() - 1
        }
    };
    b[slot].1.entry(key).or_insert(i);
}

/// The compiled index of a table.
enum Index {
    /// Exact keys → first entry.
    Exact(HashMap<Box<[u8]>, usize>),
    /// Prefixes by length (longest first).
    Prefix(Buckets<Box<[u8]>>),
    /// Keys tried in file order (`sub`, `dir`, `dom`, `end`).
    List(Vec<Box<[u8]>>),
    /// Regexes; the set finds the first one matching.
    Reg(RegexSet, Vec<Regex>),
    /// Integer ranges in file order.
    Int(Vec<(i64, i64)>),
    /// Networks by prefix length (longest first), IPv4 then IPv6.
    Ip(Buckets<u32>, Buckets<u128>),
}

/// What a table returns for an entry.
enum Values {
    /// The values, typed.
    Plain(Vec<Value<'static>>),
    /// `map_regm`: replacement templates.
    Subst(Vec<Vec<Piece>>),
}

/// A map's entries compiled for one method and output type.
struct Compiled {
    index: Index,
    values: Values,
}

/// The mask of a `bits`-long prefix in a `width`-bit address, in the low bits of a `u128`.
fn strip_mask(bits: usize, width: usize) -> u128 {
    let all = if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    if bits == 0 {
        0
    } else {
        (all << (width - bits.min(width))) & all
    }
}

/// Parses a network: `ADDR`, `ADDR/LEN`, or an IPv4 `ADDR/MASK`.
fn parse_net(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

fn network(s: &str) -> Option<(IpAddr, usize)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip = parse_net(addr)?;
    let width = if ip.is_ipv4() { 32 } else { 128 };
    let bits = match len {
        None => width,
        Some(l) => match l.parse::<usize>() {
            Ok(b) if b <= width => b,
            Ok(_) => return None,
            Err(_) => {
                let m: Ipv4Addr = l.parse().ok()?;
                let m = u32::from(m);
                if !ip.is_ipv4() || m.leading_ones() + m.trailing_zeros() != 32 {
                    return None;
                }
                m.leading_ones() as usize
            }
        },
    };
    Some((ip, bits))
}

fn int_range(s: &str) -> Option<(i64, i64)> {
    match s.split_once(':') {
        None => s.parse().ok().map(|v| (v, v)),
        Some((lo, hi)) => {
            let lo = if lo.is_empty() {
                i64::MIN
            } else {
                lo.parse().ok()?
            };
            let hi = if hi.is_empty() {
                i64::MAX
            } else {
                hi.parse().ok()?
            };
            Some((lo, hi))
        }
    }
}

fn at_line(msg: String, line: usize, path: &str) -> String {
    if line == 0 {
        format!("{msg}.")
    } else {
        format!("{msg} at line {line} of file '{path}'.")
    }
}

impl Compiled {
    fn build(
        kind: MatchKind,
        out: MapOut,
        entries: &[MapEntry],
        path: &str,
    ) -> Result<Compiled, String> {
        let values = if kind == MatchKind::Regm {
            Values::Subst(
                entries
                    .iter()
                    .map(|e| {
                        text::compile_subst(e.value.as_bytes())
                            .map_err(|why| at_line(format!("'{}': {why}", e.value), e.line, path))
                    })
                    .collect::<Result<_, _>>()?,
            )
        } else {
            Values::Plain(
                entries
                    .iter()
                    .map(|e| out.value(&e.value).map_err(|m| at_line(m, e.line, path)))
                    .collect::<Result<_, _>>()?,
            )
        };
        let bytes = |e: &MapEntry| -> Box<[u8]> { e.key.as_bytes().into() };
        let index = match kind {
            MatchKind::Str => {
                let mut h = HashMap::with_capacity(entries.len());
                for (i, e) in entries.iter().enumerate() {
                    h.entry(bytes(e)).or_insert(i);
                }
                Index::Exact(h)
            }
            MatchKind::Beg => {
                let mut by_len = Buckets::new();
                for (i, e) in entries.iter().enumerate() {
                    bucket_insert(&mut by_len, e.key.len(), bytes(e), i);
                }
                by_len.sort_by_key(|b| std::cmp::Reverse(b.0));
                Index::Prefix(by_len)
            }
            MatchKind::Sub | MatchKind::Dir | MatchKind::Dom | MatchKind::End => {
                Index::List(entries.iter().map(bytes).collect())
            }
            MatchKind::Reg | MatchKind::Regm => {
                let mut res = Vec::with_capacity(entries.len());
                for e in entries {
                    let re = RegexBuilder::new(&e.key)
                        .unicode(false)
                        .build()
                        .map_err(|why| {
                            at_line(
                                format!("regex '{}' is invalid ({why})", e.key),
                                e.line,
                                path,
                            )
                        })?;
                    res.push(re);
                }
                let set = RegexSetBuilder::new(entries.iter().map(|e| e.key.as_str()))
                    .unicode(false)
                    .build()
                    .map_err(|why| format!("the regexes of '{path}' are too large ({why})."))?;
                Index::Reg(set, res)
            }
            MatchKind::Int => Index::Int(
                entries
                    .iter()
                    .map(|e| {
                        int_range(&e.key).ok_or_else(|| {
                            let what = if e.key.contains(':') {
                                "is not a valid number range"
                            } else {
                                "is not a number"
                            };
                            at_line(format!("'{}' {what}", e.key), e.line, path)
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            MatchKind::Ip => {
                let mut v4 = Buckets::new();
                let mut v6 = Buckets::new();
                for (i, e) in entries.iter().enumerate() {
                    let (ip, bits) = network(&e.key).ok_or_else(|| {
                        at_line(
                            format!("'{}' is not a valid IPv4 or IPv6 address", e.key),
                            e.line,
                            path,
                        )
                    })?;
                    match ip {
                        IpAddr::V4(a) => {
                            let key = u32::from(a) & (strip_mask(bits, 32) as u32);
                            bucket_insert(&mut v4, bits, key, i);
                        }
                        IpAddr::V6(a) => {
                            let key = u128::from(a) & strip_mask(bits, 128);
                            bucket_insert(&mut v6, bits, key, i);
                        }
                    }
                }
                v4.sort_by_key(|b| std::cmp::Reverse(b.0));
                v6.sort_by_key(|b| std::cmp::Reverse(b.0));
                Index::Ip(v4, v6)
            }
        };
        Ok(Compiled { index, values })
    }

    /// The index of the entry matching `v` (already cast to the method's input type).
    fn find(&self, kind: MatchKind, v: &Value<'_>) -> Option<usize> {
        match &self.index {
            Index::Exact(h) => h.get(bytes_of(v)?).copied(),
            Index::Prefix(by_len) => {
                let s = bytes_of(v)?;
                by_len
                    .iter()
                    .filter(|(l, _)| *l <= s.len())
                    .find_map(|(l, h)| h.get(&s[..*l]).copied())
            }
            Index::List(keys) => {
                let s = bytes_of(v)?;
                keys.iter().position(|k| match kind {
                    MatchKind::Sub => contains(s, k),
                    MatchKind::End => s.ends_with(k),
                    MatchKind::Dir => match_word(s, k, b"/?"),
                    _ => match_word(s, k, b"/?.:"),
                })
            }
            Index::Reg(set, _) => set.matches(bytes_of(v)?).iter().next(),
            Index::Int(ranges) => {
                let Value::Int(n) = v else { return None };
                ranges.iter().position(|(lo, hi)| (*lo..=*hi).contains(n))
            }
            Index::Ip(v4, v6) => {
                let find4 = |a: Ipv4Addr| {
                    v4.iter().find_map(|(bits, h)| {
                        h.get(&(u32::from(a) & strip_mask(*bits, 32) as u32))
                            .copied()
                    })
                };
                let find6 = |a: Ipv6Addr| {
                    v6.iter().find_map(|(bits, h)| {
                        h.get(&(u128::from(a) & strip_mask(*bits, 128))).copied()
                    })
                };
                match v {
                    Value::Ipv4(a) => find4(*a).or_else(|| find6(a.to_ipv6_mapped())),
                    Value::Ipv6(a) => find6(*a).or_else(|| a.to_ipv4_mapped().and_then(find4)),
                    _ => None,
                }
            }
        }
    }

    /// The value of entry `i` for the sample `v`.
    fn value(&self, i: usize, v: &Value<'_>) -> Option<Value<'static>> {
        match &self.values {
            Values::Plain(vals) => vals.get(i).cloned(),
            Values::Subst(pieces) => {
                let Index::Reg(_, res) = &self.index else {
                    return None;
                };
                let s = bytes_of(v)?;
                let caps = res.get(i)?.captures(s)?;
                let mut out = Vec::new();
                text::expand(pieces.get(i)?, &caps, &mut out);
                Some(Value::Str(out.into()))
            }
        }
    }
}

/// The bytes of a string or binary sample.
fn bytes_of<'v>(v: &'v Value<'_>) -> Option<&'v [u8]> {
    match v {
        Value::Str(s) | Value::Bin(s) => Some(s),
        _ => None,
    }
}

fn contains(s: &[u8], k: &[u8]) -> bool {
    k.is_empty() || s.windows(k.len()).any(|w| w == k)
}

/// Whether `pat` (its own leading and trailing delimiters ignored) occurs in `s` with a delimiter or an end of
/// the string on both sides.
fn match_word(s: &[u8], pat: &[u8], delims: &[u8]) -> bool {
    let is_delim = |c: &u8| delims.contains(c);
    let start = pat.iter().position(|c| !is_delim(c)).unwrap_or(pat.len());
    let end = pat
        .iter()
        .rposition(|c| !is_delim(c))
        .map_or(start, |e| e + 1);
    let pat = &pat[start..end];
    if pat.is_empty() {
        return true;
    }
    if pat.len() > s.len() {
        return false;
    }
    (0..=s.len() - pat.len()).any(|i| {
        &s[i..i + pat.len()] == pat
            && (i == 0 || is_delim(&s[i - 1]))
            && s.get(i + pat.len()).is_none_or(is_delim)
    })
}

/// One file's entries read one way: what a converter holds.
pub struct MapTable {
    kind: MatchKind,
    out: MapOut,
    compiled: ArcSwap<Compiled>,
}

impl fmt::Debug for MapTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapTable")
            .field("kind", &self.kind)
            .field("out", &self.out)
            .finish_non_exhaustive()
    }
}

impl MapTable {
    /// A table over `entries` outside any registry (tests, tools).
    pub fn new(
        kind: MatchKind,
        out: MapOut,
        entries: &[MapEntry],
    ) -> Result<Arc<MapTable>, String> {
        Ok(Arc::new(MapTable {
            kind,
            out,
            compiled: ArcSwap::from_pointee(Compiled::build(kind, out, entries, "")?),
        }))
    }

    /// The match method.
    pub fn kind(&self) -> MatchKind {
        self.kind
    }

    /// The value for sample `v` (cast to the method's input type), if an entry matches.
    pub fn lookup(&self, v: &Value<'_>) -> Option<Value<'static>> {
        let c = self.compiled.load();
        let i = c.find(self.kind, v)?;
        c.value(i, v)
    }

    /// The index of the entry matching `v` in the entries compiled last.
    fn find(&self, v: &Value<'_>) -> Option<usize> {
        self.compiled.load().find(self.kind, v)
    }
}

/// One map file and the tables reading it.
#[derive(Debug)]
struct MapRef {
    id: u32,
    path: String,
    state: Mutex<RefState>,
}

#[derive(Debug)]
struct RefState {
    /// The entries of the current version: what the tables hold.
    entries: Vec<MapEntry>,
    /// Entries added to prepared versions (`add map @VER`), with their version.
    pending: Vec<(u32, MapEntry)>,
    /// The version the tables hold (`curr_ver`) and the last one prepared (`next_ver`).
    curr_ver: u32,
    next_ver: u32,
    tables: Vec<Weak<MapTable>>,
    /// `map at file 'F' line N`, one per converter.
    users: Vec<String>,
}

impl MapRef {
    fn state(&self) -> MutexGuard<'_, RefState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why a runtime map command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapError {
    /// No map with that `#ID` or file name.
    UnknownRef,
    /// `set map`, `del map`: no entry with that key or id.
    EntryNotFound,
    /// An entry a table using the map cannot take, or a version out of range (worded as HAProxy words it).
    Invalid(String),
}

const FUTURE_VERSION: &str = "Version number in the future, please use 'prepare map' before.";
const VERSION_RANGE: &str = "Version number out of range.";

/// One map, as `show map` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapInfo {
    /// `#ID`
    pub id: u32,
    /// The file.
    pub path: String,
    /// `pattern loaded from file 'F' used by map at file 'C' line N, ...`
    pub display: String,
    /// Entries (of every version) times the tables reading them, as HAProxy counts them.
    pub entry_count: usize,
    /// The version the converters read.
    pub curr_ver: u32,
    /// The last version prepared.
    pub next_ver: u32,
}

/// Every map of a configuration, by file.
#[derive(Debug, Default)]
pub struct Maps {
    refs: Mutex<Vec<Arc<MapRef>>>,
    next_entry: AtomicU64,
    first_id: u32,
}

impl Maps {
    /// An empty registry numbering its maps from `first_id`.
    pub fn new(first_id: u32) -> Maps {
        Maps {
            first_id,
            ..Maps::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<MapRef>>> {
        self.refs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_id(&self) -> u64 {
        self.next_entry.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The table of `path` for `kind` and `out`, used by a converter described by `used_by`
    /// (`map at file 'C' line N`); `read` gives the file's text the first time the file is named.
    pub fn table(
        &self,
        path: &str,
        kind: MatchKind,
        out: MapOut,
        used_by: &str,
        read: impl FnOnce() -> Result<String, String>,
    ) -> Result<Arc<MapTable>, String> {
        let r = {
            let mut refs = self.lock();
            match refs.iter().find(|r| r.path == path) {
                Some(r) => r.clone(),
                None => {
                    let text = read()?;
                    let entries = parse_file(&text)
                        .into_iter()
                        .map(|(line, k, v)| MapEntry {
                            id: self.next_id(),
                            key: k.to_string(),
                            value: v.to_string(),
                            line,
                        })
                        .collect();
                    let r = Arc::new(MapRef {
                        id: self.first_id + refs.len() as u32,
                        path: path.to_string(),
                        state: Mutex::new(RefState {
                            entries,
                            pending: Vec::new(),
                            curr_ver: 0,
                            next_ver: 0,
                            tables: Vec::new(),
                            users: Vec::new(),
                        }),
                    });
                    refs.push(r.clone());
                    r
                }
            }
        };
        let mut st = r.state();
        st.users.push(used_by.to_string());
        if let Some(t) = st
            .tables
            .iter()
            .filter_map(Weak::upgrade)
            .find(|t| t.kind == kind && t.out == out)
        {
            return Ok(t);
        }
        let t = Arc::new(MapTable {
            kind,
            out,
            compiled: ArcSwap::from_pointee(Compiled::build(kind, out, &st.entries, path)?),
        });
        st.tables.push(Arc::downgrade(&t));
        Ok(t)
    }

    fn find(&self, name: &str) -> Option<Arc<MapRef>> {
        let refs = self.lock();
        match name.strip_prefix('#') {
            Some(n) => {
                let id = n.parse::<u32>().ok()?;
                refs.iter().find(|r| r.id == id).cloned()
            }
            None => refs.iter().find(|r| r.path == name).cloned(),
        }
    }

    /// `show map`: every map.
    pub fn list(&self) -> Vec<MapInfo> {
        let refs = self.lock().clone();
        refs.iter()
            .map(|r| {
                let st = r.state();
                let tables = st.tables.iter().filter(|t| t.strong_count() > 0).count();
                MapInfo {
                    id: r.id,
                    path: r.path.clone(),
                    display: format!(
                        "pattern loaded from file '{}' used by {}",
                        r.path,
                        st.users.join(", by ")
                    ),
                    entry_count: (st.entries.len() + st.pending.len()) * tables.max(1),
                    curr_ver: st.curr_ver,
                    next_ver: st.next_ver,
                }
            })
            .collect()
    }

    /// `show map REF`: its entries; `None` when there is no such map.
    pub fn show(&self, name: &str) -> Option<Vec<MapEntry>> {
        Some(self.find(name)?.state().entries.clone())
    }

    /// `show map @VER REF`: the entries of a version (the current one, or one prepared).
    pub fn show_version(&self, name: &str, version: u32) -> Option<Vec<MapEntry>> {
        let r = self.find(name)?;
        let st = r.state();
        Some(if version == st.curr_ver {
            st.entries.clone()
        } else {
            st.pending
                .iter()
                .filter(|(v, _)| *v == version)
                .map(|(_, e)| e.clone())
                .collect()
        })
    }

    /// `prepare map REF`: a new empty version, its number returned; the converters keep reading the current one
    /// until it is committed.
    pub fn prepare(&self, name: &str) -> Result<u32, MapError> {
        let r = self.find(name).ok_or(MapError::UnknownRef)?;
        let mut st = r.state();
        st.next_ver = st.next_ver.wrapping_add(1);
        Ok(st.next_ver)
    }

    /// `add map @VER REF KEY VALUE`: entries for a version; added to the current one they are seen at once,
    /// otherwise when the version is committed. Each entry is checked against every table reading the map.
    pub fn add_version(
        &self,
        name: &str,
        version: u32,
        pairs: &[(&str, &str)],
    ) -> Result<(), MapError> {
        let r = self.find(name).ok_or(MapError::UnknownRef)?;
        let mut st = r.state();
        if version == st.curr_ver {
            drop(st);
            return self.add(name, pairs);
        }
        if version.wrapping_sub(st.curr_ver) > st.next_ver.wrapping_sub(st.curr_ver) {
            return Err(MapError::Invalid(FUTURE_VERSION.to_string()));
        }
        let new: Vec<MapEntry> = pairs
            .iter()
            .map(|(k, v)| MapEntry {
                id: self.next_id(),
                key: k.to_string(),
                value: v.to_string(),
                line: 0,
            })
            .collect();
        for t in st.tables.iter().filter_map(Weak::upgrade) {
            Compiled::build(t.kind, t.out, &new, &r.path).map_err(MapError::Invalid)?;
        }
        st.pending.extend(new.into_iter().map(|e| (version, e)));
        Ok(())
    }

    /// `commit map @VER REF`: the version's entries replace the current ones in every table at once; the older
    /// prepared versions are dropped, the newer ones kept.
    pub fn commit(&self, name: &str, version: u32) -> Result<(), MapError> {
        let r = self.find(name).ok_or(MapError::UnknownRef)?;
        let mut st = r.state();
        let ahead = version.wrapping_sub(st.curr_ver);
        if ahead == 0 || ahead > st.next_ver.wrapping_sub(st.curr_ver) {
            return Err(MapError::Invalid(VERSION_RANGE.to_string()));
        }
        let entries: Vec<MapEntry> = st
            .pending
            .iter()
            .filter(|(v, _)| *v == version)
            .map(|(_, e)| e.clone())
            .collect();
        st.tables.retain(|t| t.strong_count() > 0);
        let tables: Vec<Arc<MapTable>> = st.tables.iter().filter_map(Weak::upgrade).collect();
        let mut compiled = Vec::with_capacity(tables.len());
        for t in &tables {
            compiled.push(
                Compiled::build(t.kind, t.out, &entries, &r.path).map_err(MapError::Invalid)?,
            );
        }
        for (t, c) in tables.iter().zip(compiled) {
            t.compiled.store(Arc::new(c));
        }
        let curr = st.curr_ver;
        // Keep the versions prepared after this one (counted from the current version, as they wrap).
        st.pending.retain(|(v, _)| v.wrapping_sub(curr) > ahead);
        st.entries = entries;
        st.curr_ver = version;
        Ok(())
    }

    /// `clear map @VER REF`: removes the entries of a version.
    pub fn clear_version(&self, name: &str, version: u32) -> Result<(), MapError> {
        let r = self.find(name).ok_or(MapError::UnknownRef)?;
        let mut st = r.state();
        if version == st.curr_ver {
            drop(st);
            return self.clear(name);
        }
        st.pending.retain(|(v, _)| *v != version);
        Ok(())
    }

    /// Changes the entries of a map by `change`, recompiling every table reading it; nothing changes when one
    /// of them refuses the result.
    fn update(
        &self,
        name: &str,
        change: impl FnOnce(&mut Vec<MapEntry>) -> Result<(), MapError>,
    ) -> Result<(), MapError> {
        let r = self.find(name).ok_or(MapError::UnknownRef)?;
        let mut st = r.state();
        let mut entries = st.entries.clone();
        change(&mut entries)?;
        st.tables.retain(|t| t.strong_count() > 0);
        let tables: Vec<Arc<MapTable>> = st.tables.iter().filter_map(Weak::upgrade).collect();
        let mut compiled = Vec::with_capacity(tables.len());
        for t in &tables {
            compiled.push(
                Compiled::build(t.kind, t.out, &entries, &r.path).map_err(MapError::Invalid)?,
            );
        }
        for (t, c) in tables.iter().zip(compiled) {
            t.compiled.store(Arc::new(c));
        }
        st.entries = entries;
        Ok(())
    }

    /// `add map REF KEY VALUE` (several pairs at once for a payload).
    pub fn add(&self, name: &str, pairs: &[(&str, &str)]) -> Result<(), MapError> {
        let new: Vec<MapEntry> = pairs
            .iter()
            .map(|(k, v)| MapEntry {
                id: self.next_id(),
                key: k.to_string(),
                value: v.to_string(),
                line: 0,
            })
            .collect();
        self.update(name, |entries| {
            entries.extend(new);
            Ok(())
        })
    }

    /// `del map REF KEY|#ID`: every entry with that key, or the one with that id.
    pub fn del(&self, name: &str, key: &str) -> Result<(), MapError> {
        let by_id = entry_id(key);
        self.update(name, |entries| {
            let before = entries.len();
            match by_id {
                Some(id) => entries.retain(|e| e.id != id),
                None => entries.retain(|e| e.key != key),
            }
            if entries.len() == before {
                Err(MapError::EntryNotFound)
            } else {
                Ok(())
            }
        })
    }

    /// `set map REF KEY|#ID VALUE`: the value of every entry with that key, or of the one with that id.
    pub fn set(&self, name: &str, key: &str, value: &str) -> Result<(), MapError> {
        let by_id = entry_id(key);
        self.update(name, |entries| {
            let mut found = false;
            for e in entries.iter_mut() {
                if by_id.map_or(e.key == key, |id| e.id == id) {
                    e.value = value.to_string();
                    found = true;
                }
            }
            if found {
                Ok(())
            } else {
                Err(MapError::EntryNotFound)
            }
        })
    }

    /// `clear map REF`.
    pub fn clear(&self, name: &str) -> Result<(), MapError> {
        self.update(name, |entries| {
            entries.clear();
            Ok(())
        })
    }

    /// `get map REF SAMPLE`: one line per table reading the map, as HAProxy prints them; `None` when there is
    /// no such map.
    pub fn get(&self, name: &str, sample: &str) -> Option<String> {
        let r = self.find(name)?;
        let st = r.state();
        let mut out = String::new();
        for t in st.tables.iter().filter_map(Weak::upgrade) {
            let v = Value::Str(sample.as_bytes().into());
            let hit = v.cast(t.kind.in_type()).and_then(|v| t.find(&v));
            out.push_str(&format!("type={}, case=sensitive, found=", t.kind.name()));
            match hit.and_then(|i| st.entries.get(i)) {
                Some(e) => out.push_str(&format!(
                    "yes, idx={}, key=\"{}\", value=\"{}\", type=\"{}\"\n",
                    if t.kind.is_tree() { "tree" } else { "list" },
                    e.key,
                    e.value,
                    t.out.name()
                )),
                None => out.push_str("no\n"),
            }
        }
        Some(out)
    }
}

/// `#ID` or `#0xID` in a runtime command: an entry's id (hexadecimal, as `show map` prints it).
fn entry_id(key: &str) -> Option<u64> {
    let h = key.strip_prefix('#')?;
    u64::from_str_radix(h.strip_prefix("0x").unwrap_or(h), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(kind: MatchKind, out: MapOut, text: &str) -> Arc<MapTable> {
        let maps = Maps::new(0);
        maps.table("/m", kind, out, "test", || Ok(text.to_string()))
            .unwrap()
    }

    fn get(t: &MapTable, v: Value<'_>) -> Option<String> {
        t.lookup(&v)
            .map(|v| String::from_utf8_lossy(&v.into_str_bytes()).into_owned())
    }

    fn s(x: &str) -> Value<'_> {
        Value::Str(x.as_bytes().into())
    }

    #[test]
    fn file_format() {
        assert_eq!(
            parse_file("# c\n\n  a\t b c \nk\n\tx y\r\n"),
            [(3, "a", "b c "), (4, "k", ""), (5, "x", "y")]
        );
    }

    #[test]
    fn names_as_haproxy_26() {
        assert_eq!(converter("map"), Some((MatchKind::Str, MapOut::Str)));
        assert_eq!(converter("map_dom"), Some((MatchKind::Dom, MapOut::Str)));
        assert_eq!(converter("map_int"), Some((MatchKind::Int, MapOut::Str)));
        assert_eq!(converter("map_int_ip"), Some((MatchKind::Int, MapOut::Ip)));
        assert_eq!(
            converter("map_str_int"),
            Some((MatchKind::Str, MapOut::Int))
        );
        assert_eq!(converter("map_regm"), Some((MatchKind::Regm, MapOut::Str)));
        for bad in [
            "map_regm_int",
            "map_str_str",
            "map_len",
            "map_bin",
            "mapx",
            "map_",
        ] {
            assert_eq!(converter(bad), None, "{bad}");
        }
    }

    #[test]
    fn methods() {
        let t = table(MatchKind::Str, MapOut::Str, "ab first\nab second\nx y z\n");
        assert_eq!(get(&t, s("ab")).as_deref(), Some("first"));
        assert_eq!(get(&t, s("x")).as_deref(), Some("y z"));
        assert_eq!(get(&t, s("abc")), None);
        let t = table(MatchKind::Sub, MapOut::Str, "ab first\nb sub1\na sub2\n");
        assert_eq!(get(&t, s("xab")).as_deref(), Some("first"));
        assert_eq!(get(&t, s("xb")).as_deref(), Some("sub1"));
        let t = table(MatchKind::Beg, MapOut::Str, "a/b short\na/b/c long\n");
        assert_eq!(get(&t, s("a/b/c/d")).as_deref(), Some("long"));
        assert_eq!(get(&t, s("a/bx")).as_deref(), Some("short"));
        assert_eq!(get(&t, s("a/")), None);
        let t = table(MatchKind::End, MapOut::Str, ".com com\n");
        assert_eq!(get(&t, s("x.com")).as_deref(), Some("com"));
        let t = table(
            MatchKind::Dom,
            MapOut::Str,
            "test1.example.com test1_be\ntest2.example.com test2_be\n",
        );
        assert_eq!(get(&t, s("test1.example.com")).as_deref(), Some("test1_be"));
        assert_eq!(
            get(&t, s("a.test2.example.com:80")).as_deref(),
            Some("test2_be")
        );
        assert_eq!(get(&t, s("xtest1.example.com")), None);
        assert_eq!(get(&t, s("test3.example.com")), None);
        let t = table(MatchKind::Dir, MapOut::Str, "/b/ b\n");
        assert_eq!(get(&t, s("/a/b/c")).as_deref(), Some("b"));
        assert_eq!(get(&t, s("/a/bc")), None);
        let t = table(MatchKind::Int, MapOut::Str, "1:5 lo\n3 three\n:0 neg\n");
        assert_eq!(get(&t, Value::Int(3)).as_deref(), Some("lo"));
        assert_eq!(get(&t, Value::Int(-9)).as_deref(), Some("neg"));
        assert_eq!(get(&t, Value::Int(6)), None);
        let t = table(
            MatchKind::Ip,
            MapOut::Str,
            "10.0.0.0/8 wide\n10.1.0.0/255.255.0.0 narrow\n::1 six\n",
        );
        assert_eq!(
            get(&t, Value::Ipv4([10, 1, 2, 3].into())).as_deref(),
            Some("narrow")
        );
        assert_eq!(
            get(&t, Value::Ipv4([10, 2, 2, 3].into())).as_deref(),
            Some("wide")
        );
        assert_eq!(
            get(&t, Value::Ipv6(Ipv6Addr::LOCALHOST)).as_deref(),
            Some("six")
        );
        assert_eq!(
            get(&t, Value::Ipv6(Ipv4Addr::new(10, 9, 9, 9).to_ipv6_mapped())).as_deref(),
            Some("wide")
        );
        let t = table(MatchKind::Regm, MapOut::Str, "^(.*)\\.(.*)$ \\1_AND_\\2\n");
        assert_eq!(
            get(&t, s("example.org")).as_deref(),
            Some("example_AND_org")
        );
        assert_eq!(
            get(&t, s("www.example.org")).as_deref(),
            Some("www.example_AND_org")
        );
        let t = table(MatchKind::Reg, MapOut::Int, "^a 1\n^ab 2\n");
        assert_eq!(t.lookup(&s("abc")), Some(Value::Int(1)));
    }

    #[test]
    fn load_errors_name_file_and_line() {
        let maps = Maps::new(0);
        let e = maps
            .table("/m", MatchKind::Ip, MapOut::Str, "t", || {
                Ok("# x\n10 a\n".into())
            })
            .unwrap_err();
        assert_eq!(
            e,
            "'10' is not a valid IPv4 or IPv6 address at line 2 of file '/m'."
        );
        let e = maps
            .table("/m", MatchKind::Str, MapOut::Int, "t", || unreachable!())
            .unwrap_err();
        assert_eq!(e, "unable to parse 'a' at line 2 of file '/m'.");
        let e = maps
            .table("/n", MatchKind::Str, MapOut::Str, "t", || {
                Err("cannot read".into())
            })
            .unwrap_err();
        assert_eq!(e, "cannot read");
    }

    #[test]
    fn runtime_changes_reach_tables() {
        let maps = Maps::new(3);
        let t = maps
            .table(
                "/m",
                MatchKind::Str,
                MapOut::Str,
                "map at file 'c' line 1",
                || Ok("a 1\nb 2\n".into()),
            )
            .unwrap();
        let i = maps
            .table(
                "/m",
                MatchKind::Beg,
                MapOut::Int,
                "map at file 'c' line 2",
                || unreachable!(),
            )
            .unwrap();
        let list = maps.list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].id, 3);
        assert_eq!(list[0].entry_count, 4);
        assert_eq!(
            list[0].display,
            "pattern loaded from file '/m' used by map at file 'c' line 1, by map at file 'c' line 2"
        );
        maps.add("#3", &[("c", "3")]).unwrap();
        assert_eq!(get(&t, s("c")).as_deref(), Some("3"));
        assert_eq!(i.lookup(&s("cc")), Some(Value::Int(3)));
        assert_eq!(
            maps.add("/m", &[("d", "x")]),
            Err(MapError::Invalid("unable to parse 'x'.".into()))
        );
        assert_eq!(get(&t, s("d")), None);
        maps.set("/m", "a", "9").unwrap();
        assert_eq!(get(&t, s("a")).as_deref(), Some("9"));
        assert_eq!(maps.set("/m", "zz", "9"), Err(MapError::EntryNotFound));
        let id = maps.show("/m").unwrap()[1].id;
        maps.del("/m", &format!("#{id:#x}")).unwrap();
        assert_eq!(get(&t, s("b")), None);
        assert_eq!(maps.del("/m", "nope"), Err(MapError::EntryNotFound));
        assert_eq!(
            maps.get("/m", "a").unwrap(),
            "type=str, case=sensitive, found=yes, idx=tree, key=\"a\", value=\"9\", type=\"str\"\n\
             type=beg, case=sensitive, found=yes, idx=tree, key=\"a\", value=\"9\", type=\"int\"\n"
        );
        // A prepared version is seen only once committed, and replaces the entries then.
        assert_eq!(maps.prepare("/m"), Ok(1));
        assert_eq!(maps.prepare("/m"), Ok(2));
        maps.add_version("/m", 1, &[("v1", "1")]).unwrap();
        maps.add_version("/m", 2, &[("v2", "2")]).unwrap();
        assert_eq!(
            maps.add_version("/m", 9, &[("v", "1")]),
            Err(MapError::Invalid(FUTURE_VERSION.into()))
        );
        assert_eq!(
            maps.add_version("/m", 1, &[("v", "x")]),
            Err(MapError::Invalid("unable to parse 'x'.".into()))
        );
        assert_eq!(get(&t, s("v1")), None);
        assert_eq!(maps.show_version("/m", 1).unwrap()[0].key, "v1");
        assert_eq!(maps.list()[0].entry_count, 2 * (2 + 2));
        assert_eq!(
            maps.commit("/m", 0),
            Err(MapError::Invalid(VERSION_RANGE.into()))
        );
        assert_eq!(
            maps.commit("/m", 3),
            Err(MapError::Invalid(VERSION_RANGE.into()))
        );
        maps.commit("/m", 1).unwrap();
        assert_eq!(get(&t, s("v1")).as_deref(), Some("1"));
        assert_eq!(get(&t, s("a")), None);
        assert_eq!((maps.list()[0].curr_ver, maps.list()[0].next_ver), (1, 2));
        assert_eq!(maps.show_version("/m", 2).unwrap().len(), 1);
        maps.clear_version("/m", 2).unwrap();
        maps.commit("/m", 2).unwrap();
        assert_eq!(get(&t, s("v1")), None);
        maps.add("/m", &[("a", "9")]).unwrap();
        maps.clear("/m").unwrap();
        assert_eq!(get(&t, s("a")), None);
        assert_eq!(maps.show("/m").unwrap(), []);
        assert_eq!(maps.clear("/x"), Err(MapError::UnknownRef));
    }
}
