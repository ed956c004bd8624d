//! What the sample expressions and log-format strings of a scripted check see (`tcp-check set-var`,
//! `http-check send uri-lf`, `hdr` values, `expect ... -lf`): the check's own `check.` variables, the names of
//! its backend and server, and the last HTTP response's status and headers. Pure data; the step machine of
//! [`crate::tcpcheck`] fills it as the check goes.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::SystemTime;

use fulcrum_sample::{Context, Expr, HeaderVisitor, LogFormat, Scope, Value, VarConds, VarName};

/// Who is checked: what `be_name` and `srv_name` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckNames {
    /// The backend's name.
    pub backend: String,
    /// The server's name.
    pub server: String,
}

/// The sample context of one check run.
#[derive(Debug, Default)]
pub struct CheckContext {
    names: CheckNames,
    /// `check.` variables (other scopes are not kept by a check).
    vars: RefCell<Vec<(VarName, Value<'static>)>>,
    /// The status of the last HTTP response whose head was read.
    status: Option<u16>,
    /// Its headers, in order.
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Its HTTP version (`1.0`, `1.1`).
    version: Option<&'static str>,
    /// What the server sent so far on the check's connection (`res.payload`, `res.len`), filled before an
    /// expect rule's own formats and expression are evaluated.
    payload: Vec<u8>,
}

impl CheckContext {
    /// A context for checks of `names`, without variables.
    pub fn new(names: CheckNames) -> Self {
        CheckContext {
            names,
            ..CheckContext::default()
        }
    }

    /// `set-var(name[,COND...]) EXPR` of a check rule: the expression's value, or no change when it has none or a
    /// condition does not hold (as HAProxy).
    pub fn set(&self, name: &VarName, conds: VarConds, value: Option<Value<'_>>) {
        if let Some(v) = value {
            self.set_var(name, v, conds);
        }
    }

    /// `unset-var(name)`.
    pub fn unset(&self, name: &VarName) {
        self.vars.borrow_mut().retain(|(n, _)| n != name);
    }

    /// Forgets the previous response (a new request was sent, or a new connection opened).
    pub fn clear_response(&mut self) {
        self.status = None;
        self.headers.clear();
        self.version = None;
    }

    /// Whether a response head was taken in since the last [`CheckContext::clear_response`].
    pub fn has_response(&self) -> bool {
        self.status.is_some()
    }

    /// Takes in the complete response head `head` (status line and header lines, as read): the status and the
    /// headers become what `status`, `res.hdr()` and `res.fhdr()` fetch.
    pub fn take_response(&mut self, head: &[u8]) {
        self.clear_response();
        let mut lines = head.split(|&c| c == b'\n');
        let Some(status) = lines.next().and_then(crate::status_line::parse_status_line) else {
            return;
        };
        self.status = Some(status.code);
        self.version = Some(if head.starts_with(b"HTTP/1.0") {
            "1.0"
        } else {
            "1.1"
        });
        for line in lines {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&c| c == b':') else {
                continue;
            };
            let value = trim(&line[colon + 1..]);
            self.headers.push((line[..colon].to_vec(), value.to_vec()));
        }
    }

    /// Takes `bytes` as what the server sent so far (for `res.payload()` and `res.len`).
    pub fn set_payload(&mut self, bytes: &[u8]) {
        self.payload.clear();
        self.payload.extend_from_slice(bytes);
    }

    /// `format` rendered in this context (HAProxy's HTTP encoding of samples; log variables render nothing).
    pub fn render(&self, format: &LogFormat) -> Vec<u8> {
        let mut out = Vec::new();
        format.render(self, &mut out, &mut |_, _, _| {
            std::ops::ControlFlow::Continue(())
        });
        out
    }
}

/// The parts of an expect rule computed when it decides (`on-success FMT`, `on-error FMT` with `%`
/// sequences, and `status-code EXPR`), evaluated in the check's context; none by default.
#[derive(Debug, Clone, Default)]
pub struct VerdictFormats {
    /// `on-success` as a log-format string (a plain text stays in the rule's own field).
    pub on_success: Option<Arc<LogFormat>>,
    /// `on-error` as a log-format string.
    pub on_error: Option<Arc<LogFormat>>,
    /// `status-code EXPR`: the code reported with the verdict.
    pub status_code: Option<Arc<Expr>>,
}

impl VerdictFormats {
    /// Whether there is anything to evaluate.
    pub fn is_empty(&self) -> bool {
        self.on_success.is_none() && self.on_error.is_none() && self.status_code.is_none()
    }

    /// The info text of a pass (`Some` only with an `on-success` format).
    pub fn success(&self, ctx: &CheckContext) -> Option<String> {
        let f = self.on_success.as_ref()?;
        Some(String::from_utf8_lossy(&ctx.render(f)).into_owned())
    }

    /// The info text of a failure (`Some` only with an `on-error` format).
    pub fn error(&self, ctx: &CheckContext) -> Option<String> {
        let f = self.on_error.as_ref()?;
        Some(String::from_utf8_lossy(&ctx.render(f)).into_owned())
    }

    /// The code `status-code` gives, when it has one and its value is a number (HAProxy keeps the code as
    /// it was otherwise).
    pub fn code(&self, ctx: &CheckContext) -> Option<u16> {
        let v = self.status_code.as_ref()?.eval(ctx)?;
        v.to_int().and_then(|n| u16::try_from(n).ok())
    }
}

impl PartialEq for VerdictFormats {
    fn eq(&self, other: &Self) -> bool {
        let f = |x: &Option<Arc<LogFormat>>| x.as_ref().map(|f| f.source().to_owned());
        f(&self.on_success) == f(&other.on_success)
            && f(&self.on_error) == f(&other.on_error)
            && self.status_code.as_ref().map(|e| e.source())
                == other.status_code.as_ref().map(|e| e.source())
    }
}
impl Eq for VerdictFormats {}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

impl Context for CheckContext {
    fn res_headers<'s>(&'s self, visit: &mut HeaderVisitor<'_, 's>) {
        for (n, v) in &self.headers {
            if visit(n, v).is_break() {
                return;
            }
        }
    }

    fn is_response(&self) -> bool {
        true
    }

    fn http_version(&self, response: bool) -> Option<&str> {
        if response {
            self.version
        } else {
            None
        }
    }

    fn status(&self) -> Option<u16> {
        self.status
    }

    fn response_payload(&self) -> Option<&[u8]> {
        Some(&self.payload)
    }

    fn backend_name(&self) -> Option<&str> {
        Some(&self.names.backend)
    }

    fn server_name(&self) -> Option<&str> {
        Some(&self.names.server)
    }

    fn set_var(&self, name: &VarName, value: Value<'_>, conds: VarConds) {
        if name.scope() != Scope::Check {
            return;
        }
        let mut vars = self.vars.borrow_mut();
        let current = vars.iter().position(|(n, _)| n == name);
        if !conds.allows(Scope::Check, current.map(|i| &vars[i].1), &value) {
            return;
        }
        let value = value.into_owned();
        match current {
            Some(i) => vars[i].1 = value,
            None => vars.push((name.clone(), value)),
        }
    }

    fn var(&self, name: &VarName) -> Option<Value<'_>> {
        self.vars
            .borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn random_u32(&self) -> u32 {
        // Checks have no use for good randomness; the clock's nanoseconds are enough for `rand()`.
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> CheckContext {
        CheckContext::new(CheckNames {
            backend: "be4".into(),
            server: "srv".into(),
        })
    }

    #[test]
    fn check_variables_set_unset_and_render() {
        let c = ctx();
        let path: VarName = "check.path".parse().unwrap();
        let e = Expr::parse("str(/req1)").unwrap();
        c.set(&path, VarConds::NONE, e.eval(&c));
        let f = LogFormat::parse("%[var(check.path)] on %[be_name]-%[srv_name]").unwrap();
        assert_eq!(c.render(&f), b"/req1 on be4-srv");
        c.unset(&path);
        assert_eq!(c.render(&f), b" on be4-srv");
        // Other scopes are not kept by a check.
        let txn: VarName = "txn.x".parse().unwrap();
        c.set(&txn, VarConds::NONE, Some(Value::from(1i64)));
        assert_eq!(c.var(&txn), None);
    }

    #[test]
    fn response_headers_are_fetched() {
        let mut c = ctx();
        c.take_response(b"HTTP/1.1 202 Accepted\r\nx-hdr-name: x-test1\r\nx-a: 1, 2\r\n\r\n");
        assert_eq!(c.status(), Some(202));
        let e = Expr::parse("res.fhdr(x-hdr-name)").unwrap();
        assert_eq!(e.eval(&c), Some(Value::from("x-test1")));
        let e = Expr::parse("res.hdr(x-a,-1)").unwrap();
        assert_eq!(e.eval(&c), Some(Value::from("2")));
        c.clear_response();
        assert!(!c.has_response());
        let e = Expr::parse("res.fhdr(x-hdr-name)").unwrap();
        assert_eq!(e.eval(&c), None);
    }
}
