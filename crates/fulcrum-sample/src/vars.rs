//! Variables' names and scopes ([`VarName`], [`Scope`]), and the conditions of `set-var(scope.name,COND,...)` (HAProxy 2.6): whether a new value replaces a variable's,
//! decided from the variable's current value and the new sample. Pure logic; the proxy keeps the variables.

use std::fmt;
use std::str::FromStr;

use crate::value::Value;

/// The lifetime of a variable (`txn.name`, `sess.name`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `proc.`: shared by the whole process.
    Proc,
    /// `sess.`: one client connection.
    Sess,
    /// `txn.`: one request and its response.
    Txn,
    /// `req.`: the request processing only.
    Req,
    /// `res.`: the response processing only.
    Res,
    /// `check.`: one health check.
    Check,
}

impl Scope {
    /// The prefix written before the dot.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Proc => "proc",
            Scope::Sess => "sess",
            Scope::Txn => "txn",
            Scope::Req => "req",
            Scope::Res => "res",
            Scope::Check => "check",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A variable reference, `scope.name`, as `var()`, `concat()` and the arithmetic converters take.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarName {
    scope: Scope,
    name: Box<str>,
}

/// Why a variable name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarNameError {
    /// The name does not start with `proc.`, `sess.`, `txn.`, `req.`, `res.` or `check.`, or
    /// nothing follows the dot.
    #[error("invalid variable name '{0}': it must start with its scope ('proc.', 'sess.', 'txn.', 'req.', 'res.' or 'check.') followed by a name")]
    Scope(String),
    /// The name holds a character other than a letter, a digit, `.` or `_`.
    #[error("invalid variable name '{0}': only letters, digits, '.' and '_' may follow the scope")]
    Syntax(String),
}

impl VarName {
    /// The variable's scope.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The name after the scope's dot.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for VarName {
    type Err = VarNameError;

    /// Parses `scope.name` (HAProxy's rules: the scope is lower case, the name is made of letters,
    /// digits, `.` and `_`).
    fn from_str(s: &str) -> Result<VarName, VarNameError> {
        let scopes = [
            ("proc.", Scope::Proc),
            ("sess.", Scope::Sess),
            ("txn.", Scope::Txn),
            ("req.", Scope::Req),
            ("res.", Scope::Res),
            ("check.", Scope::Check),
        ];
        let (scope, name) = scopes
            .iter()
            .find_map(|(p, sc)| s.strip_prefix(p).map(|n| (*sc, n)))
            .filter(|(_, n)| !n.is_empty())
            .ok_or_else(|| VarNameError::Scope(s.to_string()))?;
        if !name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_')
        {
            return Err(VarNameError::Syntax(s.to_string()));
        }
        Ok(VarName {
            scope,
            name: name.into(),
        })
    }
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.scope, self.name)
    }
}

/// A set of `set-var` conditions; the value is stored only when every one of them holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct VarConds(u8);

/// The condition names, in the order of their bits.
const NAMES: [&str; 8] = [
    "ifexists",
    "ifnotexists",
    "ifempty",
    "ifnotempty",
    "ifset",
    "ifnotset",
    "ifgt",
    "iflt",
];

/// Why a condition list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown condition '{0}' (expected ifexists, ifnotexists, ifempty, ifnotempty, ifset, ifnotset, ifgt or iflt)")]
pub struct VarCondError(pub String);

impl VarConds {
    /// No condition: the value is always stored.
    pub const NONE: VarConds = VarConds(0);

    /// Parses the condition names written after the variable's name.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<VarConds, VarCondError> {
        let mut bits = 0u8;
        for n in names {
            let i = NAMES
                .iter()
                .position(|k| *k == n)
                .ok_or_else(|| VarCondError(n.to_string()))?;
            bits |= 1 << i;
        }
        Ok(VarConds(bits))
    }

    /// Whether there is no condition.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn has(self, name: &str) -> bool {
        NAMES
            .iter()
            .position(|k| *k == name)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }

    /// Whether `new` may replace `old` (the variable's value, `None` when it is not set) in `scope`.
    ///
    /// As HAProxy 2.6: a `proc.` variable exists from the moment the configuration names it (so `ifexists` always
    /// holds for it and `ifnotexists` never does), the others exist while they are set; `ifempty`/`ifnotempty`
    /// look at the new sample (integers, booleans and addresses are never empty); `ifgt`/`iflt` compare the
    /// variable with the sample and only apply when both are integers or booleans (else they hold).
    pub fn allows(self, scope: Scope, old: Option<&Value<'_>>, new: &Value<'_>) -> bool {
        if self.0 == 0 {
            return true;
        }
        let exists = scope == Scope::Proc || old.is_some();
        if (self.has("ifexists") && !exists) || (self.has("ifnotexists") && exists) {
            return false;
        }
        let empty = matches!(new, Value::Str(s) | Value::Bin(s) if s.is_empty());
        if (self.has("ifempty") && !empty) || (self.has("ifnotempty") && empty) {
            return false;
        }
        let set = old.is_some();
        if (self.has("ifset") && !set) || (self.has("ifnotset") && set) {
            return false;
        }
        let int = |v: &Value<'_>| match v {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        };
        if let (Some(o), Some(n)) = (old.and_then(int), int(new)) {
            if (self.has("ifgt") && o <= n) || (self.has("iflt") && o >= n) {
                return false;
            }
        }
        true
    }
}

impl fmt::Display for VarConds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (i, n) in NAMES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(n)?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> VarConds {
        VarConds::parse(s.split(',')).unwrap()
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(c("ifgt,ifset").to_string(), "ifset,ifgt");
        assert!(VarConds::parse(["nope"]).is_err());
        assert!(VarConds::NONE.is_empty());
    }

    /// The cases of HAProxy's reg-test sample_fetches/cond_set_var.vtc.
    #[test]
    fn like_haproxy() {
        let s = |t: &str| Value::string(t.as_bytes().to_vec());
        let i = Value::Int;
        assert!(c("ifexists").allows(Scope::Proc, None, &i(1)));
        assert!(!c("ifexists").allows(Scope::Sess, None, &i(1)));
        assert!(!c("ifnotexists").allows(Scope::Proc, None, &i(1)));
        assert!(c("ifnotexists").allows(Scope::Res, None, &i(1)));
        assert!(!c("ifempty").allows(Scope::Res, Some(&s("a")), &i(12)));
        assert!(!c("ifempty").allows(Scope::Res, Some(&s("a")), &s("toto")));
        assert!(c("ifempty").allows(Scope::Res, Some(&s("a")), &s("")));
        assert!(c("ifnotempty").allows(Scope::Res, Some(&i(5)), &i(7)));
        assert!(!c("ifnotempty").allows(Scope::Res, Some(&s("a")), &s("")));
        assert!(c("ifset").allows(Scope::Proc, Some(&s("a")), &s("b")));
        assert!(!c("ifset").allows(Scope::Proc, None, &s("b")));
        assert!(!c("ifnotset").allows(Scope::Res, Some(&s("a")), &s("b")));
        assert!(c("ifgt").allows(Scope::Res, Some(&s("a")), &i(55)));
        assert!(c("ifgt").allows(Scope::Res, Some(&i(5)), &s("text")));
        assert!(!c("ifgt").allows(Scope::Res, Some(&i(5)), &i(55)));
        assert!(c("ifgt").allows(Scope::Res, Some(&i(5)), &i(2)));
        assert!(c("iflt").allows(Scope::Res, Some(&i(5)), &i(55)));
        assert!(!c("iflt").allows(Scope::Res, Some(&i(5)), &i(2)));
        assert!(c("ifnotset,ifnotempty").allows(Scope::Proc, None, &s("toto")));
        assert!(c("ifset,iflt").allows(Scope::Res, Some(&i(5)), &i(55)));
    }
}
