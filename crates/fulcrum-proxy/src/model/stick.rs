//! Stick tables in the proxy: the tables of a snapshot, the stick counters a connection and a request track, the
//! actions on them (`track-sc*`, `sc-inc-gpc0/1`, `sc-set-gpt0`) and the answers to the `sc_*`, `src_*`,
//! `table_*` and `in_table` samples.
//!
//! The tables themselves (entries, rates, expiry, eviction) are `fulcrum-stick`'s. A connection's counters (from
//! `tcp-request connection|session` rules) live as long as the connection; a request's (from `http-request` and
//! `tcp-request content` rules) as long as the request. Each tracked entry counts the connection in `conn_cnt`,
//! `conn_rate` and `conn_cur` when it starts being tracked, and gives `conn_cur` back when its tracker ends, as
//! HAProxy's stream counters do; every HTTP request counts in `http_req_*` of the entries tracked by then, a 4xx
//! answer in `http_err_*`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use fulcrum_config::haproxy::{Config, StickAction};
use fulcrum_sample::{Context, StickFetch, StickTarget, StickWhat, Value};
use fulcrum_stick::{DataType, Key, KeyInput, Table, Tracked};

use crate::model::error::RulesError;

/// Milliseconds on the process's monotonic clock, from 1 (the tables' time).
pub fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// Marks an answer stick tables do not count as an HTTP error (`http-request return`).
#[derive(Debug, Clone, Copy)]
pub struct NotAnError;

/// As HAProxy 2.6, a table a `stick` rule uses stores `server_id` and `server_key` whatever its `store` line
/// says.
fn add_server_types(def: &mut fulcrum_stick::TableDef) {
    for d in [DataType::ServerId, DataType::ServerKey] {
        if !def.store.iter().any(|(s, _)| *s == d) {
            def.store.push((d, 0));
        }
    }
}

/// The stick tables of a configuration, by name.
#[derive(Default)]
pub struct Tables {
    list: Vec<Arc<Table>>,
    by_name: HashMap<String, usize>,
    /// The replicated tables: (index in `list`, `peers` section, name on the wire).
    replicated: Vec<(usize, String, String)>,
}

impl Tables {
    /// One table per `stick-table` line, swept of expired entries by a background thread while they live.
    pub fn build(config: &Config) -> Arc<Tables> {
        let mut t = Tables::default();
        // As HAProxy, a table a `stick` rule uses stores `server_id` whatever its `store` line says.
        let mut sticky = std::collections::HashSet::new();
        for p in &config.proxies {
            for r in &p.rules.stick {
                sticky.insert(r.action.table.clone().unwrap_or_else(|| p.name.clone()));
            }
        }
        for p in &config.proxies {
            if let Some(st) = &p.stick_table {
                let mut def = st.def.clone();
                if sticky.contains(&p.name) {
                    add_server_types(&mut def);
                }
                if let Some(peers) = &st.peers {
                    t.replicated
                        .push((t.list.len(), peers.clone(), p.name.clone()));
                }
                t.by_name.insert(p.name.clone(), t.list.len());
                t.list.push(Arc::new(Table::new(def)));
            }
        }
        // The tables of `peers` sections, named `PEERS/NAME` (on the wire `/NAME`, as HAProxy 2.6 sends them).
        for section in &config.peers {
            for st in &section.tables {
                let mut def = st.def.clone();
                if sticky.contains(&def.name) {
                    add_server_types(&mut def);
                }
                let wire = def.name[section.name.len()..].to_string();
                t.replicated
                    .push((t.list.len(), section.name.clone(), wire));
                t.by_name.insert(def.name.clone(), t.list.len());
                t.list.push(Arc::new(Table::new(def)));
            }
        }
        let t = Arc::new(t);
        if !t.list.is_empty() {
            let weak = Arc::downgrade(&t);
            let _ = std::thread::Builder::new()
                .name("stick-sweep".into())
                .spawn(move || loop {
                    std::thread::sleep(Duration::from_millis(250));
                    let Some(t) = weak.upgrade() else { return };
                    let now = now_ms();
                    for table in &t.list {
                        table.sweep(now);
                    }
                });
        }
        t
    }

    /// The table of the proxy so named.
    pub fn get(&self, name: &str) -> Option<&Arc<Table>> {
        self.by_name.get(name).map(|&i| &self.list[i])
    }

    /// The tables a `peers` section replicates, with their names on the wire.
    pub fn replicated_by<'a>(
        &'a self,
        peers: &'a str,
    ) -> impl Iterator<Item = (&'a Arc<Table>, &'a str)> + 'a {
        self.replicated
            .iter()
            .filter(move |(_, p, _)| p == peers)
            .map(|(i, _, w)| (&self.list[*i], w.as_str()))
    }

    /// Every table, in configuration order.
    pub fn list(&self) -> &[Arc<Table>] {
        &self.list
    }
}

/// What rules need to resolve table names when they are compiled: the tables and the rules' own proxy.
pub struct Binder<'a> {
    /// The snapshot's tables.
    pub tables: &'a Tables,
    /// The proxy whose rules they are (its table is the default one).
    pub own: &'a str,
}

impl Binder<'_> {
    fn resolve(&self, name: Option<&str>, location: &str) -> Result<Arc<Table>, RulesError> {
        let n = name.unwrap_or(self.own);
        self.tables
            .get(n)
            .cloned()
            .ok_or_else(|| RulesError::Stick {
                location: location.to_string(),
                message: match name {
                    Some(t) => format!("unable to find table '{t}'"),
                    None => format!("proxy '{n}' has no stick-table (add one or name another with 'table NAME')"),
                },
            })
    }
}

/// A compiled stick counter action.
pub struct StickAct {
    sc: usize,
    kind: Kind,
}

enum Kind {
    Track(fulcrum_config::haproxy::SampleExpr, Arc<Table>),
    IncGpc(u8),
    SetGpt0(fulcrum_config::haproxy::SampleExpr),
    /// `sc-inc-gpc(IDX,SC)`
    IncGpcAt(u8),
    /// `sc-set-gpt(IDX,SC) VALUE`
    SetGptAt(u8, fulcrum_config::haproxy::SampleExpr),
}

impl std::fmt::Debug for StickAct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StickAct(sc{})", self.sc)
    }
}

impl StickAct {
    /// Compiles an action, resolving its table.
    pub fn compile(
        a: &StickAction,
        b: &Binder<'_>,
        location: &str,
    ) -> Result<StickAct, RulesError> {
        Ok(match a {
            StickAction::Track { sc, key, table } => StickAct {
                sc: usize::from(*sc),
                kind: Kind::Track(key.clone(), b.resolve(table.as_deref(), location)?),
            },
            StickAction::IncGpc { sc, which } => StickAct {
                sc: usize::from(*sc),
                kind: Kind::IncGpc(*which),
            },
            StickAction::SetGpt0 { sc, value } => StickAct {
                sc: usize::from(*sc),
                kind: Kind::SetGpt0(value.clone()),
            },
            StickAction::IncGpcAt { idx, sc } => StickAct {
                sc: usize::from(*sc),
                kind: Kind::IncGpcAt(*idx),
            },
            StickAction::SetGptAt { idx, sc, value } => StickAct {
                sc: usize::from(*sc),
                kind: Kind::SetGptAt(*idx, value.clone()),
            },
        })
    }

    /// Runs the action: `ctx` evaluates the key or the value; `ctrs` is where a new tracking goes (the
    /// connection's or the request's), `other` the other level (a counter it already tracks is not tracked
    /// again). `http` counts the request being processed in the new entry; `session`: the tracking is the
    /// connection's or the session's (`tcp-request connection` / `session`), which counts a session
    /// (`sess_cnt`, `sess_rate`) besides the connection, where a stream's tracking (`tcp-request content`,
    /// `http-request`) counts a connection only, as haproxy 2.6 counts them (observed).
    pub fn run(
        &self,
        ctx: &dyn Context,
        ctrs: &Ctrs,
        other: Option<&Ctrs>,
        http: bool,
        session: bool,
    ) {
        let now = now_ms();
        match &self.kind {
            Kind::Track(key, table) => {
                if ctrs.tracks(self.sc) || other.is_some_and(|o| o.tracks(self.sc)) {
                    return;
                }
                let Some(key) = key.0.eval(ctx).and_then(|v| key_of(table, &v)) else {
                    return;
                };
                let Some(t) = table.track(&key, now) else {
                    return;
                };
                t.update(now, |d| {
                    d.connection();
                    if session {
                        d.session();
                    }
                    if http {
                        d.http_request();
                    }
                });
                ctrs.set(self.sc, t);
            }
            Kind::IncGpc(which) => {
                if let Some(t) = ctrs
                    .get(self.sc)
                    .or_else(|| other.and_then(|o| o.get(self.sc)))
                {
                    t.update(now, |d| d.inc_gpc(*which, 1));
                }
            }
            Kind::SetGpt0(value) => {
                let Some(v) = value.0.eval(ctx).and_then(|v| v.to_int()) else {
                    return;
                };
                if let Some(t) = ctrs
                    .get(self.sc)
                    .or_else(|| other.and_then(|o| o.get(self.sc)))
                {
                    t.update(now, |d| d.set(DataType::Gpt0, v as u64));
                }
            }
            Kind::IncGpcAt(idx) => {
                if let Some(t) = ctrs
                    .get(self.sc)
                    .or_else(|| other.and_then(|o| o.get(self.sc)))
                {
                    t.update(now, |d| d.inc_gpc_at(usize::from(*idx), 1));
                }
            }
            Kind::SetGptAt(idx, value) => {
                let Some(v) = value.0.eval(ctx).and_then(|v| v.to_int()) else {
                    return;
                };
                if let Some(t) = ctrs
                    .get(self.sc)
                    .or_else(|| other.and_then(|o| o.get(self.sc)))
                {
                    t.update(now, |d| {
                        d.set_at(DataType::Gpt, usize::from(*idx), v as u64)
                    });
                }
            }
        }
    }
}

impl StickAct {
    /// Whether the action tracks a key that has no value yet in `ctx` (a `tcp-request content` rule then waits
    /// for more bytes while it may, as HAProxy does).
    pub fn key_missing(&self, ctx: &dyn Context) -> bool {
        match &self.kind {
            Kind::Track(key, _) => key.0.eval(ctx).is_none(),
            _ => false,
        }
    }
}

/// A sample as a key of `table`'s type.
fn key_of(table: &Table, v: &Value<'_>) -> Option<Key> {
    let input = match v {
        Value::Ipv4(a) => KeyInput::Ip(IpAddr::V4(*a)),
        Value::Ipv6(a) => KeyInput::Ip(IpAddr::V6(*a)),
        Value::Int(n) => KeyInput::Int(*n),
        Value::Bool(b) => KeyInput::Int(i64::from(*b)),
        Value::Str(s) | Value::Bin(s) => KeyInput::Bytes(s),
    };
    table.key_type().key(input)
}

/// The stick counters of one level (a connection's or a request's): up to three tracked entries.
#[derive(Default)]
pub struct Ctrs {
    slots: RefCell<[Option<Tracked>; 3]>,
}

impl Ctrs {
    fn tracks(&self, sc: usize) -> bool {
        self.slots.borrow().get(sc).is_some_and(Option::is_some)
    }

    fn set(&self, sc: usize, t: Tracked) {
        if let Some(s) = self.slots.borrow_mut().get_mut(sc) {
            *s = Some(t);
        }
    }

    /// The entry counter `sc` tracks (a cheap handle: the table and the slot).
    fn get(&self, sc: usize) -> Option<std::cell::Ref<'_, Tracked>> {
        std::cell::Ref::filter_map(self.slots.borrow(), |s| s.get(sc)?.as_ref()).ok()
    }

    /// Whether any counter is tracked.
    pub fn any(&self) -> bool {
        self.slots.borrow().iter().any(Option::is_some)
    }

    /// Handles on the tracked entries, for counting after the stream's rules are done (the bytes of a body
    /// still being sent).
    pub fn handles(&self) -> Vec<fulcrum_stick::Tracked> {
        self.slots.borrow().iter().flatten().cloned().collect()
    }

    /// Runs `f` on each tracked entry's data (counting a request, an error, bytes).
    pub fn each(&self, f: &mut dyn FnMut(&mut fulcrum_stick::Data<'_>)) {
        let now = now_ms();
        for t in self.slots.borrow().iter().flatten() {
            t.update(now, &mut *f);
        }
    }
}

impl Drop for Ctrs {
    fn drop(&mut self) {
        let now = now_ms();
        for t in self.slots.get_mut().iter().flatten() {
            t.update(now, |d| d.dec(DataType::ConnCur));
        }
    }
}

/// What the stick samples of one stream see.
pub struct View<'a> {
    /// The snapshot's tables.
    pub tables: &'a Tables,
    /// The connection's counters.
    pub sess: Option<&'a Ctrs>,
    /// The request's counters.
    pub txn: Option<&'a Ctrs>,
    /// The client's address (`src_*`).
    pub src: Option<IpAddr>,
    /// The table of `src_*` and `table_*` without a table argument: the proxy's own.
    pub own: &'a str,
}

impl View<'_> {
    /// Answers a stick sample.
    pub fn fetch(&self, f: &StickFetch, input: Option<&Value<'_>>) -> Option<Value<'static>> {
        let now = now_ms();
        let named = |t: &Option<Box<str>>| self.tables.get(t.as_deref().unwrap_or(self.own));
        match f.target {
            StickTarget::Table => {
                let t = named(&f.table)?;
                let n = match f.what {
                    StickWhat::Avl => t.available(),
                    _ => t.used(),
                };
                Some(Value::Int(n as i64))
            }
            StickTarget::Sc(n) => {
                let n = usize::from(n);
                let tracked = self
                    .txn
                    .and_then(|c| c.get(n))
                    .or_else(|| self.sess.and_then(|c| c.get(n)));
                let Some(tracked) = tracked else {
                    return match f.what {
                        StickWhat::Tracked => Some(Value::Bool(false)),
                        _ => None,
                    };
                };
                match f.what {
                    StickWhat::Tracked => return Some(Value::Bool(true)),
                    StickWhat::Trackers => return Some(Value::Int(i64::from(tracked.refs()))),
                    _ => {}
                }
                match &f.table {
                    // Another table than the tracked one: the tracked key, looked up there.
                    Some(name) if **name != *tracked.table().name() => {
                        let t = self.tables.get(name)?;
                        let key = tracked.key();
                        entry_answer(t, &key, f.what, now)
                    }
                    _ => {
                        if matches!(
                            f.what,
                            StickWhat::IncGpc(_)
                                | StickWhat::ClrGpc(_)
                                | StickWhat::IncGpcAt(_)
                                | StickWhat::ClrGpcAt(_)
                        ) {
                            tracked.update(now, |d| answer(d, f.what))
                        } else {
                            tracked.with(now, |d| answer(d, f.what))
                        }
                    }
                }
            }
            StickTarget::Src => {
                let t = named(&f.table)?;
                let key = t.key_type().key(KeyInput::Ip(self.src?))?;
                entry_answer(t, &key, f.what, now)
            }
            StickTarget::Input => {
                let t = named(&f.table)?;
                let key = key_of(t, input?)?;
                if f.what == StickWhat::InTable {
                    return Some(Value::Bool(t.lookup(&key, now, |_| ()).is_some()));
                }
                if f.what == StickWhat::Trackers {
                    return Some(Value::Int(t.trackers(&key, now).unwrap_or(0).into()));
                }
                entry_answer(t, &key, f.what, now)
            }
        }
    }
}

/// The answer for the entry of `key` in `t`: 0 when there is none, absent when the table does not store the
/// data. Incrementing, clearing and `updt_conn_cnt` create the entry.
fn entry_answer(t: &Table, key: &Key, what: StickWhat, now: u64) -> Option<Value<'static>> {
    match what {
        StickWhat::IncGpc(_)
        | StickWhat::ClrGpc(_)
        | StickWhat::IncGpcAt(_)
        | StickWhat::ClrGpcAt(_)
        | StickWhat::UpdtConnCnt => t.upsert(key, now, |d| answer(d, what)).flatten(),
        _ => match t.lookup(key, now, |d| answer(d, what)) {
            Some(v) => v,
            None => stored(t, what).then_some(Value::Int(0)),
        },
    }
}

fn stored(t: &Table, what: StickWhat) -> bool {
    match what {
        StickWhat::Data(d) => t.layout().has(d),
        StickWhat::DataAt(d, i) => t.layout().elements(d) > usize::from(i),
        StickWhat::Kbytes(true) => t.layout().has(DataType::BytesInCnt),
        StickWhat::Kbytes(false) => t.layout().has(DataType::BytesOutCnt),
        _ => true,
    }
}

fn answer(d: &mut fulcrum_stick::Data<'_>, what: StickWhat) -> Option<Value<'static>> {
    let v = match what {
        StickWhat::Data(t) => {
            let v = d.get(t)?;
            if t.is_signed() {
                i64::from(v as u32 as i32)
            } else {
                v as i64
            }
        }
        StickWhat::Kbytes(inbound) => {
            let t = if inbound {
                DataType::BytesInCnt
            } else {
                DataType::BytesOutCnt
            };
            (d.get(t)? >> 10) as i64
        }
        StickWhat::IncGpc(w) => {
            let c = if w == 0 {
                DataType::Gpc0
            } else {
                DataType::Gpc1
            };
            let r = if w == 0 {
                DataType::Gpc0Rate
            } else {
                DataType::Gpc1Rate
            };
            if d.get(c).is_none() && d.get(r).is_none() {
                return None;
            }
            d.inc_gpc(w, 1) as i64
        }
        StickWhat::ClrGpc(w) => {
            let c = if w == 0 {
                DataType::Gpc0
            } else {
                DataType::Gpc1
            };
            d.get(c)?;
            d.clr_gpc(w) as i64
        }
        StickWhat::DataAt(t, i) => d.get_at(t, usize::from(i))? as i64,
        StickWhat::IncGpcAt(i) => {
            let i = usize::from(i);
            if d.get_at(DataType::Gpc, i).is_none() && d.get_at(DataType::GpcRate, i).is_none() {
                return None;
            }
            d.inc_gpc_at(i, 1) as i64
        }
        StickWhat::ClrGpcAt(i) => {
            d.get_at(DataType::Gpc, usize::from(i))?;
            d.clr_gpc_at(usize::from(i)) as i64
        }
        StickWhat::UpdtConnCnt => {
            d.get(DataType::ConnCnt)?;
            d.add(DataType::ConnCnt, 1);
            d.get(DataType::ConnCnt)? as i64
        }
        _ => return None,
    };
    Some(Value::Int(v))
}

/// A compiled `stick on|match|store-request` rule.
pub struct StickRuleRt {
    matches: bool,
    stores: bool,
    /// `stick store-response`: run on the response, not in the request's plan.
    pub(crate) response: bool,
    key: fulcrum_config::haproxy::SampleExpr,
    table: Arc<Table>,
}

impl std::fmt::Debug for StickRuleRt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StickRule({})", self.table.name())
    }
}

/// What the `stick` rules decided for one request.
#[derive(Default)]
pub struct Plan {
    /// The server a `match` rule found, if any.
    pub server: Option<Stuck>,
    /// Whether a `match` rule already looked up a key (only the first one found counts).
    matched: bool,
    /// Where the chosen server is stored once known.
    pub stores: Vec<(Arc<Table>, Key)>,
}

/// The server an entry sticks to: its `server_key` (name, or `addr:port` under `srvkey addr`) when the entry has
/// one, else its `server_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    /// `server_id`
    pub id: i64,
    /// `server_key`
    pub key: Option<Arc<str>>,
    /// The key is an address (`srvkey addr`).
    pub by_addr: bool,
}

impl Stuck {
    /// Whether `server` is the one the entry names.
    pub fn is(&self, server: &crate::model::server::ServerRt) -> bool {
        match &self.key {
            Some(k) if self.by_addr => server.addr().to_string() == **k,
            Some(k) => server.config.name == **k,
            None => i64::from(server.puid) == self.id,
        }
    }
}

/// Stores `server` (its id and its key) in an entry of `table`.
fn store_server(
    table: &Table,
    d: &mut fulcrum_stick::Data<'_>,
    server: &crate::model::server::ServerRt,
) {
    d.set(DataType::ServerId, u64::from(server.puid));
    if table.layout().has(DataType::ServerKey) {
        let key = if table.def().srvkey_addr {
            server.addr().to_string()
        } else {
            server.config.name.clone()
        };
        d.set(DataType::ServerKey, fulcrum_stick::intern_server_key(&key));
    }
}

impl Plan {
    /// Stores the chosen server under every key of a store rule.
    pub fn store(&self, server: &crate::model::server::ServerRt) {
        let now = now_ms();
        for (t, k) in &self.stores {
            t.upsert(k, now, |d| store_server(t, d, server));
        }
    }
}

impl StickRuleRt {
    /// Compiles a rule, resolving its table (which must store `server_id`).
    pub fn compile(
        r: &fulcrum_config::haproxy::StickRule,
        b: &Binder<'_>,
        location: &str,
    ) -> Result<StickRuleRt, RulesError> {
        let table = b.resolve(r.table.as_deref(), location)?;
        if !table.layout().has(DataType::ServerId) {
            return Err(RulesError::Stick {
                location: location.to_string(),
                message: format!(
                    "table '{}' does not store 'server_id', which 'stick' rules need (add 'store server_id')",
                    table.name()
                ),
            });
        }
        Ok(StickRuleRt {
            matches: r.matches,
            stores: r.stores,
            response: r.response,
            key: r.key.clone(),
            table,
        })
    }

    /// `stick store-response`: stores the server under the key the response (through `ctx`) gives.
    pub fn store_response(&self, ctx: &dyn Context, server: &crate::model::server::ServerRt) {
        let Some(key) = self.key.0.eval(ctx).and_then(|v| key_of(&self.table, &v)) else {
            return;
        };
        let table = &self.table;
        table.upsert(&key, now_ms(), |d| store_server(table, d, server));
    }

    /// Adds what this rule decides for a request (through `ctx`) to `plan`.
    pub fn plan(&self, ctx: &dyn Context, plan: &mut Plan) {
        let Some(key) = self.key.0.eval(ctx).and_then(|v| key_of(&self.table, &v)) else {
            return;
        };
        if self.matches && !plan.matched {
            let now = now_ms();
            let found = self.table.lookup(&key, now, |d| {
                let id = d.get(DataType::ServerId)?;
                let key = d
                    .get(DataType::ServerKey)
                    .filter(|&k| k != 0)
                    .and_then(fulcrum_stick::server_key);
                Some((id, key))
            });
            if let Some(Some((id, key))) = found {
                plan.matched = true;
                plan.server = Some(Stuck {
                    id: i64::from(id as u32 as i32),
                    key,
                    by_addr: self.table.def().srvkey_addr,
                });
            }
        }
        if self.stores && plan.stores.len() < 8 {
            plan.stores.push((self.table.clone(), key));
        }
    }
}
