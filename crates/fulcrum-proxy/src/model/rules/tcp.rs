//! The variables of a `mode tcp` connection and the `tcp-request content` / `tcp-response content` rules that
//! set them.
//!
//! In `mode tcp` there is one stream per connection, so every scope but `proc.` (`sess.`, `txn.`, `req.`,
//! `res.`) lives as long as the connection: one [`VarMap`] holds them all. Expressions read them through the
//! connection's context (`var()`); the rules write them in file order with the accept and reject actions.

use std::cell::RefCell;

use fulcrum_config::haproxy::{VarConds, VarName, VarScope};
use fulcrum_sample::Value;

use super::vars::VarMap;

/// The value of `name` for a connection whose variables are `vars` (`proc.` ones are the process's).
pub(crate) fn get(vars: Option<&RefCell<VarMap>>, name: &VarName) -> Option<Value<'static>> {
    if name.scope() == VarScope::Proc {
        return super::vars::proc_var(name);
    }
    // A writer in progress (never across an evaluation) makes the variable unset rather than a panic.
    vars?.try_borrow().ok()?.get(name).cloned()
}

/// Stores `v` in `name` when `conds` allow it.
pub(crate) fn set(
    vars: Option<&RefCell<VarMap>>,
    name: &VarName,
    v: Value<'static>,
    conds: VarConds,
) {
    match name.scope() {
        VarScope::Proc => super::vars::set_proc_var_if(name, v, conds),
        VarScope::Check => {}
        scope => {
            let Some(mut map) = vars.and_then(|m| m.try_borrow_mut().ok()) else {
                return;
            };
            if conds.allows(scope, map.get(name), &v) {
                map.insert(name.clone(), v);
            }
        }
    }
}

/// Removes `name`.
pub(crate) fn unset(vars: Option<&RefCell<VarMap>>, name: &VarName) {
    match name.scope() {
        VarScope::Proc => super::vars::unset_proc_var(name),
        VarScope::Check => {}
        _ => {
            if let Some(mut map) = vars.and_then(|m| m.try_borrow_mut().ok()) {
                map.remove(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> VarName {
        s.parse().unwrap()
    }

    #[test]
    fn every_scope_but_proc_lives_in_the_connection() {
        let vars = RefCell::new(VarMap::new());
        let v = Some(&vars);
        set(v, &n("req.a"), Value::Int(1), VarConds::NONE);
        set(v, &n("res.b"), Value::Int(2), VarConds::NONE);
        set(v, &n("sess.c"), Value::Int(3), VarConds::NONE);
        assert_eq!(get(v, &n("req.a")), Some(Value::Int(1)));
        assert_eq!(get(v, &n("res.b")), Some(Value::Int(2)));
        assert_eq!(get(v, &n("txn.a")), None);
        let ifnotset = VarConds::parse(["ifnotset"]).unwrap();
        set(v, &n("sess.c"), Value::Int(4), ifnotset);
        assert_eq!(get(v, &n("sess.c")), Some(Value::Int(3)));
        unset(v, &n("sess.c"));
        assert_eq!(get(v, &n("sess.c")), None);
        // A context without variables reads and writes nothing.
        set(None, &n("req.a"), Value::Int(1), VarConds::NONE);
        assert_eq!(get(None, &n("req.a")), None);
    }
}
