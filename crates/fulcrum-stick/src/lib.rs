//! Stick tables, as a pure core: keys, entries, stored data (counters, tags, rates), expiry and eviction.
//!
//! A [`Table`] is what one `stick-table` line declares. Entries are found by key in one of several shards (by the
//! key's hash), each behind its own short mutex; inside a shard, entries sit in a slab threaded on a
//! least-recently-used list, so that touching, evicting and expiring are O(1) and looking up an IP or integer key
//! allocates nothing. Every touch sets an entry's expiry to `now + expire`, so the LRU order is also the expiry
//! order: [`Table::sweep`] pops expired entries from the cold end and stops at the first live one (no timer per
//! entry); an expired entry met on a lookup counts as absent. When the table is full, a new key evicts the coldest
//! entry of its shard that no stream tracks (none with `nopurge`: the new key is then refused).
//!
//! The crate reads no clock: times are milliseconds on the caller's monotonic clock.
//!
//! `freq.rs` holds the rate counters, `data.rs` the data types and their values, `key.rs` the keys, `show.rs` the
//! runtime API's listing, filters and edits (`show table`, `clear table`, `set table`).

#![warn(missing_docs)]

mod data;
mod freq;
mod key;
mod show;

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use data::{
    intern_server_key, server_key, Data, DataType, Layout, Raw, ALL as ALL_DATA_TYPES, MAX_ELEMENTS,
};
pub use freq::Freq;
pub use key::{Key, KeyInput, KeyType};
pub use show::{list, parse_filter, Filter, FilterOp, ShowError};

use data::Slot;

/// What a `stick-table` line declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// The table's name (the proxy's).
    pub name: String,
    /// `type`
    pub key_type: KeyType,
    /// `size`: the most entries.
    pub size: usize,
    /// `expire`, in milliseconds (`None`: entries never expire).
    pub expire: Option<u32>,
    /// `nopurge`: a full table refuses new keys rather than evicting old ones.
    pub nopurge: bool,
    /// `store`: the data types with their periods in milliseconds (rates only).
    pub store: Vec<(DataType, u32)>,
    /// The number of elements of the stored arrays (`gpc(N)` ...; 1 when not listed).
    pub elements: Vec<(DataType, u8)>,
    /// `srvkey addr`: `server_key` holds the server's `addr:port` rather than its name.
    pub srvkey_addr: bool,
}

const NIL: u32 = u32::MAX;

struct Node {
    key: Key,
    /// A process-unique number (the address field of `show table`).
    id: u64,
    /// Expiry date in ms (0: never).
    exp: u64,
    /// How many streams track it (`use=`): a tracked entry is never evicted nor expired.
    refs: u32,
    /// The table's update number of the last local change (0: none; changes learned from peers set none).
    upd: u64,
    prev: u32,
    next: u32,
}

/// Entries per storage chunk: a table grows a chunk at a time, so no vector doubles (and copies) itself and
/// memory follows the entries closely.
const CHUNK: usize = 1024;

/// The nodes of a shard, by slab index, in chunks of [`CHUNK`].
#[derive(Default)]
struct Slab {
    chunks: Vec<Vec<Option<Node>>>,
    len: usize,
}

impl Slab {
    fn get(&self, i: u32) -> Option<&Node> {
        let i = i as usize;
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)?.as_ref()
    }

    fn get_mut(&mut self, i: u32) -> Option<&mut Node> {
        let i = i as usize;
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)?.as_mut()
    }

    fn take(&mut self, i: u32) -> Option<Node> {
        let i = i as usize;
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)?.take()
    }

    fn put(&mut self, i: u32, node: Node) {
        let i = i as usize;
        self.chunks[i / CHUNK][i % CHUNK] = Some(node);
    }

    /// Appends a node; its index.
    fn push(&mut self, node: Node) -> u32 {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(c) = self.chunks.last_mut() {
            c.push(Some(node));
        }
        self.len += 1;
        (self.len - 1) as u32
    }
}

/// The values of a shard's entries, `width` per slab index, in chunks of [`CHUNK`] entries.
#[derive(Default)]
struct Values {
    chunks: Vec<Box<[Slot]>>,
}

impl Values {
    fn get_mut(&mut self, i: u32, width: usize) -> &mut [Slot] {
        let i = i as usize;
        let at = (i % CHUNK) * width;
        &mut self.chunks[i / CHUNK][at..at + width]
    }

    /// [`Values::get_mut`], adding a chunk (filled with `fill`) when `i` is past the last one.
    fn get_mut_or_grow(&mut self, i: u32, width: usize, fill: &[Slot]) -> &mut [Slot] {
        while (i as usize) / CHUNK >= self.chunks.len() {
            self.chunks
                .push(fill.iter().copied().cycle().take(CHUNK * width).collect());
        }
        self.get_mut(i, width)
    }
}

#[derive(Default)]
struct Shard {
    /// Slab indices, found by the hash of their node's key (the key is not stored twice).
    map: hashbrown::HashTable<u32>,
    hasher: std::collections::hash_map::RandomState,
    /// The entries' values, `width` per slab index (no allocation per entry).
    values: Values,
    width: usize,
    /// The entries changed locally, by update number (what peers are sent).
    updates: BTreeMap<u64, u32>,
    slab: Slab,
    free: Vec<u32>,
    /// Most recently touched.
    head: u32,
    /// Least recently touched (expires first).
    tail: u32,
}

impl Shard {
    fn new(width: usize) -> Shard {
        Shard {
            head: NIL,
            tail: NIL,
            width,
            ..Shard::default()
        }
    }

    fn node(&mut self, i: u32) -> &mut Node {
        self.slab.get_mut(i).expect("live slab index")
    }

    /// An entry's node and values.
    fn entry(&mut self, i: u32) -> (&mut Node, &mut [Slot]) {
        (
            self.slab.get_mut(i).expect("live slab index"),
            self.values.get_mut(i, self.width),
        )
    }

    fn hash(&self, key: &Key) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(key)
    }

    /// The slab index of `key`.
    fn find(&self, key: &Key) -> Option<u32> {
        let slab = &self.slab;
        self.map
            .find(self.hash(key), |&i| {
                slab.get(i).is_some_and(|n| n.key == *key)
            })
            .copied()
    }

    fn unlink(&mut self, i: u32) {
        let (p, n) = {
            let node = self.node(i);
            (node.prev, node.next)
        };
        if p == NIL {
            self.head = n;
        } else {
            self.node(p).next = n;
        }
        if n == NIL {
            self.tail = p;
        } else {
            self.node(n).prev = p;
        }
    }

    fn push_front(&mut self, i: u32) {
        let h = self.head;
        {
            let node = self.node(i);
            node.prev = NIL;
            node.next = h;
        }
        if h == NIL {
            self.tail = i;
        } else {
            self.node(h).prev = i;
        }
        self.head = i;
    }

    fn remove(&mut self, i: u32) -> Node {
        self.unlink(i);
        let node = self.slab.take(i).expect("live slab index");
        let hash = self.hash(&node.key);
        if let Ok(e) = self.map.find_entry(hash, |&j| j == i) {
            e.remove();
        }
        if node.upd != 0 {
            self.updates.remove(&node.upd);
        }
        self.free.push(i);
        node
    }

    fn insert(&mut self, node: Node, values: &[Slot]) -> u32 {
        let hash = self.hash(&node.key);
        let i = match self.free.pop() {
            Some(i) => {
                self.slab.put(i, node);
                self.values.get_mut(i, self.width).copy_from_slice(values);
                i
            }
            None => {
                let i = self.slab.push(node);
                self.values
                    .get_mut_or_grow(i, self.width, values)
                    .copy_from_slice(values);
                i
            }
        };
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.map.insert_unique(hash, i, |&j| {
            use std::hash::BuildHasher;
            hasher.hash_one(&slab.get(j).expect("live slab index").key)
        });
        self.push_front(i);
        i
    }

    /// The coldest entry no stream tracks.
    fn coldest_unused(&mut self) -> Option<u32> {
        let mut i = self.tail;
        while i != NIL {
            let n = self.node(i);
            if n.refs == 0 {
                return Some(i);
            }
            i = n.prev;
        }
        None
    }
}

/// One stick table.
pub struct Table {
    def: TableDef,
    layout: Layout,
    /// The values of a new entry.
    empty: Box<[Slot]>,
    shards: Box<[Mutex<Shard>]>,
    used: AtomicUsize,
    next_id: AtomicU64,
    /// The last update number given to a local change.
    seq: AtomicU64,
    /// A peers section replicates the table ([`Table::replicate`]): only then are local changes numbered for
    /// peers, so a table nobody replicates pays no shared counter and no ordered index per update.
    replicated: std::sync::atomic::AtomicBool,
    /// Called after a local change is numbered (the peers thread wakes to send it at once).
    on_update: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
}

/// A locally changed entry, as [`Table::updates_after`] gives it to be sent to peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The table's update number of the change.
    pub upd: u64,
    /// The entry's key.
    pub key: Key,
    /// Milliseconds to expiry (0: never).
    pub exp: u64,
    /// The stored data, in HAProxy's order; an array's elements one after the other, in order.
    pub values: Vec<(DataType, Raw)>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("def", &self.def)
            .field("used", &self.used())
            .finish()
    }
}

/// A stream's hold on an entry (`track-sc0`): the entry stays while the hold lives. Dropping it releases the
/// entry (use `Table::untrack` first to also end a tracked connection's `conn_cur`).
pub struct Tracked {
    table: Arc<Table>,
    shard: u16,
    index: u32,
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tracked({}#{}/{})",
            self.table.name(),
            self.shard,
            self.index
        )
    }
}

impl Tracked {
    /// The table the entry is in.
    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }

    /// Runs `f` on the entry's data at `now`.
    pub fn with<R>(&self, now: u64, f: impl FnOnce(&mut Data<'_>) -> R) -> R {
        let mut shard = self.table.lock(self.shard as usize);
        let (_, slots) = shard.entry(self.index);
        f(&mut Data {
            slots,
            layout: &self.table.layout,
            now,
        })
    }

    /// Runs `f` on the entry's data and refreshes its expiry (an update, as HAProxy touches an entry it writes).
    pub fn update<R>(&self, now: u64, f: impl FnOnce(&mut Data<'_>) -> R) -> R {
        let mut shard = self.table.lock(self.shard as usize);
        let r = {
            let (_, slots) = shard.entry(self.index);
            f(&mut Data {
                slots,
                layout: &self.table.layout,
                now,
            })
        };
        self.table.touch(&mut shard, self.index, now);
        self.table.mark(&mut shard, self.index);
        r
    }

    /// The entry's key.
    pub fn key(&self) -> Key {
        self.table
            .lock(self.shard as usize)
            .node(self.index)
            .key
            .clone()
    }

    /// How many streams track the entry.
    pub fn refs(&self) -> u32 {
        self.table.lock(self.shard as usize).node(self.index).refs
    }
}

/// Another handle on the same entry, counted as one more holder (`use=` of `show table`) until dropped.
impl Clone for Tracked {
    fn clone(&self) -> Self {
        self.table.lock(self.shard as usize).node(self.index).refs += 1;
        Tracked {
            table: Arc::clone(&self.table),
            shard: self.shard,
            index: self.index,
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut shard = self.table.lock(self.shard as usize);
        let n = shard.node(self.index);
        n.refs = n.refs.saturating_sub(1);
    }
}

impl Table {
    /// An empty table.
    pub fn new(def: TableDef) -> Table {
        let layout = Layout::new(&def.store, &def.elements);
        let n = if def.size >= 4096 { 16 } else { 1 };
        let width = layout.width();
        Table {
            empty: layout.empty_slots(),
            layout,
            shards: (0..n).map(|_| Mutex::new(Shard::new(width))).collect(),
            used: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            seq: AtomicU64::new(0),
            replicated: std::sync::atomic::AtomicBool::new(false),
            on_update: std::sync::OnceLock::new(),
            def,
        }
    }

    /// The declaration.
    pub fn def(&self) -> &TableDef {
        &self.def
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.def.key_type
    }

    /// The stored data.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// How many entries it holds (`table_cnt`).
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// How many more entries fit (`table_avl`).
    pub fn available(&self) -> usize {
        self.def.size.saturating_sub(self.used())
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding a shard leaves plain data behind: keep using it.
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn shard_of(&self, key: &Key) -> usize {
        if self.shards.len() == 1 {
            return 0;
        }
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() as usize) % self.shards.len()
    }

    fn per_shard(&self) -> usize {
        self.def.size.div_ceil(self.shards.len())
    }

    fn expired(&self, n: &Node, now: u64) -> bool {
        n.refs == 0 && n.exp != 0 && n.exp <= now
    }

    fn touch(&self, shard: &mut Shard, i: u32, now: u64) {
        let exp = self.def.expire.map_or(0, |e| now + u64::from(e).max(1));
        shard.node(i).exp = exp;
        shard.unlink(i);
        shard.push_front(i);
    }

    /// From now on, local changes get update numbers for peers to send ([`Table::updates_after`]); called when a
    /// peers section takes the table, before traffic.
    pub fn replicate(&self) {
        self.replicated.store(true, Ordering::Relaxed);
    }

    /// Calls `f` after each local change is numbered for peers (the first call of this sets it).
    pub fn on_update(&self, f: Box<dyn Fn() + Send + Sync>) {
        let _ = self.on_update.set(f);
    }

    /// Gives the entry the next update number, when the table is replicated: peers will be sent it.
    fn mark(&self, shard: &mut Shard, i: u32) {
        if !self.replicated.load(Ordering::Relaxed) {
            return;
        }
        let upd = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let old = std::mem::replace(&mut shard.node(i).upd, upd);
        if old != 0 {
            shard.updates.remove(&old);
        }
        shard.updates.insert(upd, i);
        if let Some(f) = self.on_update.get() {
            f();
        }
    }

    /// The last update number given to a local change (0: none yet).
    pub fn update_seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// The live entries changed locally after update number `after`, at most `max`, oldest change first (what
    /// a peer session sends next). Each shard keeps its changed entries ordered by update number, so this costs
    /// the entries returned, not the table's size.
    pub fn updates_after(&self, after: u64, max: usize, now: u64) -> Vec<Update> {
        let mut out = Vec::new();
        for s in 0..self.shards.len() {
            let mut shard = self.lock(s);
            let found: Vec<(u64, u32)> = shard
                .updates
                .range(after + 1..)
                .take(max)
                .map(|(&u, &i)| (u, i))
                .collect();
            for (upd, i) in found {
                let (n, slots) = shard.entry(i);
                if self.expired(n, now) {
                    continue;
                }
                let exp = if n.exp == 0 { 0 } else { n.exp - now };
                let mut d = Data {
                    slots,
                    layout: &self.layout,
                    now,
                };
                let values = d.raw_values();
                out.push(Update {
                    upd,
                    key: n.key.clone(),
                    exp,
                    values,
                });
            }
        }
        out.sort_by_key(|u| u.upd);
        out.truncate(max);
        out
    }

    /// Every live entry, learned from peers or not, as [`Table::updates_after`] gives them (what a peer that
    /// asks for a full resynchronisation is taught); `upd` is the entry's last local update number (0: none).
    pub fn entries(&self, now: u64) -> Vec<Update> {
        let mut out = Vec::with_capacity(self.used());
        for s in 0..self.shards.len() {
            let mut shard = self.lock(s);
            let mut i = shard.head;
            while i != NIL {
                let (n, slots) = shard.entry(i);
                let next = n.next;
                if !self.expired(n, now) {
                    let exp = if n.exp == 0 { 0 } else { n.exp - now };
                    let mut d = Data {
                        slots,
                        layout: &self.layout,
                        now,
                    };
                    let values = d.raw_values();
                    out.push(Update {
                        upd: n.upd,
                        key: n.key.clone(),
                        exp,
                        values,
                    });
                }
                i = next;
            }
        }
        out
    }

    /// Applies a change learned from a peer: creates the entry when missing, runs `f` on its data and refreshes
    /// its expiry (`expire`: milliseconds the peer gave, else the table's), without making it a local change to
    /// send on. False when the table is full.
    pub fn apply_remote(
        &self,
        key: &Key,
        now: u64,
        expire: Option<u32>,
        f: impl FnOnce(&mut Data<'_>),
    ) -> bool {
        let mut shard = self.lock(self.shard_of(key));
        let Some(i) = self.find_or_create(&mut shard, key, now) else {
            return false;
        };
        {
            let (_, slots) = shard.entry(i);
            f(&mut Data {
                slots,
                layout: &self.layout,
                now,
            });
        }
        self.touch(&mut shard, i, now);
        if let Some(e) = expire {
            if self.def.expire.is_some() {
                shard.node(i).exp = now + u64::from(e).max(1);
            }
        }
        true
    }

    /// The index of `key` in its shard, created when missing (`None`: the table is full and nothing can go).
    fn find_or_create(&self, shard: &mut Shard, key: &Key, now: u64) -> Option<u32> {
        if let Some(i) = shard.find(key) {
            if !self.expired(shard.node(i), now) {
                return Some(i);
            }
            shard.remove(i);
            self.used.fetch_sub(1, Ordering::Relaxed);
        }
        if shard.map.len() >= self.per_shard() || self.used() >= self.def.size {
            if self.def.nopurge {
                return None;
            }
            let victim = shard.coldest_unused()?;
            shard.remove(victim);
            self.used.fetch_sub(1, Ordering::Relaxed);
        }
        let node = Node {
            key: key.clone(),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            exp: 0,
            refs: 0,
            upd: 0,
            prev: NIL,
            next: NIL,
        };
        self.used.fetch_add(1, Ordering::Relaxed);
        Some(shard.insert(node, &self.empty))
    }

    /// Tracks `key` (`track-sc*`): finds or creates its entry, refreshes its expiry and holds it. `None` when the
    /// table is full and no entry can be evicted.
    pub fn track(self: &Arc<Self>, key: &Key, now: u64) -> Option<Tracked> {
        let s = self.shard_of(key);
        let mut shard = self.lock(s);
        let i = self.find_or_create(&mut shard, key, now)?;
        shard.node(i).refs += 1;
        self.touch(&mut shard, i, now);
        self.mark(&mut shard, i);
        Some(Tracked {
            table: Arc::clone(self),
            shard: s as u16,
            index: i,
        })
    }

    /// Runs `f` on the data of `key` when it is in the table (`src_conn_rate`, `table_*`): no entry is created
    /// and the expiry is left alone.
    pub fn lookup<R>(&self, key: &Key, now: u64, f: impl FnOnce(&mut Data<'_>) -> R) -> Option<R> {
        let mut shard = self.lock(self.shard_of(key));
        let i = shard.find(key)?;
        let (node, slots) = shard.entry(i);
        if self.expired(node, now) {
            return None;
        }
        Some(f(&mut Data {
            slots,
            layout: &self.layout,
            now,
        }))
    }

    /// How many streams track the entry of `key` (`None`: no such entry).
    pub fn trackers(&self, key: &Key, now: u64) -> Option<u32> {
        let mut shard = self.lock(self.shard_of(key));
        let i = shard.find(key)?;
        let node = shard.node(i);
        (!self.expired(node, now)).then_some(node.refs)
    }

    /// Runs `f` on the data of `key`, creating the entry when missing, and refreshes its expiry
    /// (`src_inc_gpc0`, `set table`, `stick store`). `None` when the table is full.
    pub fn upsert<R>(&self, key: &Key, now: u64, f: impl FnOnce(&mut Data<'_>) -> R) -> Option<R> {
        let mut shard = self.lock(self.shard_of(key));
        let i = self.find_or_create(&mut shard, key, now)?;
        let r = {
            let (_, slots) = shard.entry(i);
            f(&mut Data {
                slots,
                layout: &self.layout,
                now,
            })
        };
        self.touch(&mut shard, i, now);
        self.mark(&mut shard, i);
        Some(r)
    }

    /// Removes the expired entries nobody tracks; returns how many went. Costs nothing for live entries: each
    /// shard is walked from its coldest end and the walk stops at the first entry still valid.
    pub fn sweep(&self, now: u64) -> usize {
        let mut gone = 0;
        for s in 0..self.shards.len() {
            let mut shard = self.lock(s);
            let mut i = shard.tail;
            while i != NIL {
                let n = shard.node(i);
                let prev = n.prev;
                if n.exp == 0 || n.exp > now {
                    break;
                }
                if n.refs == 0 {
                    shard.remove(i);
                    self.used.fetch_sub(1, Ordering::Relaxed);
                    gone += 1;
                }
                i = prev;
            }
        }
        gone
    }

    /// Visits every live entry: its id, key, trackers, milliseconds to expiry (0: never) and data.
    fn for_each(&self, now: u64, f: &mut dyn FnMut(u64, &Key, u32, u64, &mut Data<'_>)) {
        for s in 0..self.shards.len() {
            let mut shard = self.lock(s);
            let mut i = shard.head;
            while i != NIL {
                let (n, slots) = shard.entry(i);
                let next = n.next;
                if !self.expired(n, now) {
                    let exp = if n.exp == 0 { 0 } else { n.exp - now };
                    let mut d = Data {
                        slots,
                        layout: &self.layout,
                        now,
                    };
                    f(n.id, &n.key, n.refs, exp, &mut d);
                }
                i = next;
            }
        }
    }

    /// Removes the entries nobody tracks for which `keep` says false; returns how many went.
    fn retain(&self, now: u64, keep: &mut dyn FnMut(&Key, &mut Data<'_>) -> bool) -> usize {
        let mut gone = 0;
        for s in 0..self.shards.len() {
            let mut shard = self.lock(s);
            let mut i = shard.head;
            while i != NIL {
                let (n, slots) = shard.entry(i);
                let next = n.next;
                let refs = n.refs;
                let mut d = Data {
                    slots,
                    layout: &self.layout,
                    now,
                };
                let key = n.key.clone();
                if refs == 0 && !keep(&key, &mut d) {
                    shard.remove(i);
                    self.used.fetch_sub(1, Ordering::Relaxed);
                    gone += 1;
                }
                i = next;
            }
        }
        gone
    }
}

#[cfg(test)]
mod tests;
