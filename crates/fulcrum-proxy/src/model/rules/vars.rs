//! Variables that outlive a transaction's rules: the variable map type, the process-wide `proc.` variables (the
//! `global` section's `set-var`, the runtime API's `set var` and `get var`), the per-thread random numbers of
//! `rand` and the backend as sample fetches see it. The model (the snapshot, the log formats) needs these without
//! the request context of `sample.rs`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Mutex;
use std::time::SystemTime;

use fulcrum_config::haproxy::{VarConds, VarName, VarScope};
use fulcrum_sample::{BackendStat, Context, Value};

/// Variables by name (the scope is part of the name).
pub type VarMap = BTreeMap<VarName, Value<'static>>;

/// `proc.` variables: one map for the whole process, shared by the worker threads.
static PROC_VARS: Mutex<VarMap> = Mutex::new(BTreeMap::new());

/// Every backend of the running configuration, as the sample fetches that name one see them (`nbsrv(NAME)`,
/// `be_conn(NAME)`). The snapshot implements it for its list of backends, so the request context need not know
/// the snapshot's types.
pub trait Backends {
    /// The backend named `name`, if there is one.
    fn find(&self, name: &str) -> Option<&dyn StreamBackend>;
}

/// The backend of a stream, as sample fetches see it.
pub trait StreamBackend {
    /// Its name (`be_name`).
    fn name(&self) -> &str;
    /// Its proxy id (`be_id`).
    fn id(&self) -> i64 {
        0
    }
    /// A figure of it (`nbsrv`, `be_conn`).
    fn stat(&self, stat: BackendStat) -> i64 {
        let _ = stat;
        0
    }
    /// Its `timeout server` and `timeout tunnel`.
    fn timeouts(&self) -> (Option<std::time::Duration>, Option<std::time::Duration>) {
        (None, None)
    }
    /// A figure of its server called `server` (`srv_conn`, `srv_is_up`, ...); `None` without such a server.
    fn server_stat(&self, server: &str, stat: fulcrum_sample::ServerStat) -> Option<i64> {
        let _ = (server, stat);
        None
    }
}

/// The value of a `proc.` variable.
pub(crate) fn proc_var(name: &VarName) -> Option<Value<'static>> {
    lock_proc().get(name).cloned()
}

/// Sets a `proc.` variable when `conds` allow it.
pub(crate) fn set_proc_var_if(name: &VarName, v: Value<'static>, conds: VarConds) {
    let mut vars = lock_proc();
    if conds.allows(name.scope(), vars.get(name), &v) {
        vars.insert(name.clone(), v);
    }
}

/// Removes a `proc.` variable.
pub(crate) fn unset_proc_var(name: &VarName) {
    lock_proc().remove(name);
}

/// Runs the `global` section's `set-var` / `set-var-fmt` lines in order (when the proxy starts): each sees the
/// `proc.` variables the lines before it set.
pub fn set_global_vars(vars: &[fulcrum_config::haproxy::GlobalVar]) {
    use fulcrum_config::haproxy::GlobalVarValue;
    for v in vars {
        let value = match &v.value {
            GlobalVarValue::Expr(e) => e.0.eval(&ProcCtx).map(Value::into_owned),
            GlobalVarValue::Fmt(f) => {
                let mut out = Vec::new();
                f.format()
                    .render(&ProcCtx, &mut out, &mut |_, _, _| ControlFlow::Continue(()));
                Some(Value::string(out))
            }
        };
        if let Some(value) = value {
            lock_proc().insert(v.name.clone(), value);
        }
    }
}

/// The runtime API's `set var NAME [expr|fmt] VALUE`: compiles the expression (or log-format string) and sets
/// the `proc.` variable from it; the error is the message to print, worded as haproxy 2.6's.
pub fn set_proc_var(name: &str, fmt: bool, value: &str) -> Result<(), String> {
    let name: VarName = name
        .parse()
        .ok()
        .filter(|n: &VarName| n.scope() == VarScope::Proc)
        .ok_or_else(|| {
            format!("'set var': cannot set variable '{name}', only scope 'proc' is permitted here.")
        })?;
    let v = if fmt {
        let f = fulcrum_sample::LogFormat::parse(value).map_err(|e| format!("'set var': {e}"))?;
        let mut out = Vec::new();
        f.render(&ProcCtx, &mut out, &mut |_, _, _| ControlFlow::Continue(()));
        Some(Value::string(out))
    } else {
        let e = fulcrum_sample::Expr::parse(value).map_err(|e| format!("'set var': {e}"))?;
        let needs = e.needs();
        if needs.http || needs.content || needs.backend || needs.server {
            return Err(format!(
                "fetch method '{}' reads a stream, none of which is available here",
                e.fetch_name()
            ));
        }
        e.eval(&ProcCtx).map(Value::into_owned)
    };
    if let Some(v) = v {
        lock_proc().insert(name, v);
    }
    Ok(())
}

/// The context of the `global` section's expressions: no stream, only `proc.` variables, the environment, the
/// clock and random numbers.
struct ProcCtx;

impl Context for ProcCtx {
    fn var(&self, name: &VarName) -> Option<Value<'_>> {
        match name.scope() {
            VarScope::Proc => lock_proc().get(name).cloned(),
            _ => None,
        }
    }
    fn env(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        std::env::var_os(name).map(|v| Cow::Owned(v.into_encoded_bytes()))
    }
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn random_u32(&self) -> u32 {
        random_u32()
    }
}

/// A `proc.` variable as the runtime API's `get var` prints it: `NAME: type=TYPE value=<VALUE>`; `None` when
/// it is not set.
pub fn describe_proc_var(name: &VarName) -> Option<String> {
    let v = lock_proc().get(name).cloned()?;
    let ty = match &v {
        Value::Bool(_) => "bool",
        Value::Int(_) => "sint",
        Value::Ipv4(_) => "ipv4",
        Value::Ipv6(_) => "ipv6",
        Value::Str(_) => "str",
        Value::Bin(_) => "bin",
    };
    Some(format!(
        "{name}: type={ty} value=<{}>",
        String::from_utf8_lossy(&v.as_str_bytes())
    ))
}

pub(crate) fn lock_proc() -> std::sync::MutexGuard<'static, VarMap> {
    // A thread that panicked while holding the lock left a consistent map: every change is one insert or remove.
    PROC_VARS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A per-thread xorshift generator seeded from the clock and the thread: `rand` needs no cryptographic quality.
pub(crate) fn random_u32() -> u32 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let t = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let here = &t as *const u64 as u64;
            (t ^ here.rotate_left(32)) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 32) as u32
    })
}
