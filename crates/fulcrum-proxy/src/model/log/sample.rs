//! `%[...]` in `log-format`: the sample expressions a log line evaluates when it is emitted, after the
//! response.
//!
//! At that moment the request's headers and URI are gone, so HAProxy refuses the fetches that read them in a log
//! format (it says the sample "may not be reliably used here"); fulcrum refuses the same ones when the format is
//! compiled ([`check`]). What stays available is what [`LogCtx`] offers: the addresses, the proxy and server
//! names, the method, the status, the unique ID, the date, the environment, and the variables of the transaction, of the client
//! connection and of the process. The transaction hands its `txn.` and `sess.` variables to the log record
//! ([`LogVars`]) only when the frontend's format reads samples.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::SystemTime;

use fulcrum_sample::{Context, Expr, Scope as VarScope, Value, VarName};

use super::fields::Fields;
pub use super::fields::LogVars;

/// Why an expression cannot be used in a log format.
pub(super) fn check(e: &Expr) -> Result<(), String> {
    let needs = e.needs();
    if needs.request {
        return Err(format!(
            "sample fetch '{e}' reads the request's URI or headers, which are no longer available when the line \
             is logged (set a variable in an http-request rule and log %[var(txn.NAME)] instead)"
        ));
    }
    if needs.response && e.fetch_name() != "status" {
        return Err(format!(
            "sample fetch '{e}' reads the response's headers, which are no longer available when the line is \
             logged (set a variable in an http-response rule and log %[var(txn.NAME)] instead)"
        ));
    }
    Ok(())
}

/// The `fulcrum_sample::Context` of a log line.
pub(super) struct LogCtx<'a, 'f> {
    pub(super) fields: &'a Fields<'f>,
}

impl Context for LogCtx<'_, '_> {
    fn is_htx(&self) -> bool {
        // An HTTP log line's record has its request line.
        self.fields.request.is_some()
    }
    fn method(&self) -> Option<&[u8]> {
        let r = self.fields.request?;
        let end = r.iter().position(|&c| c == b' ').unwrap_or(r.len());
        Some(&r[..end])
    }
    fn http_version(&self, response: bool) -> Option<&str> {
        if response {
            // The response's version does not reach the log record.
            return None;
        }
        // The request line's last word: `HTTP/1.1`.
        let r = self.fields.request?;
        let last = r.rsplit(|&c| c == b' ').next()?;
        std::str::from_utf8(last.strip_prefix(b"HTTP/")?).ok()
    }
    fn is_response(&self) -> bool {
        self.fields.status >= 0
    }
    fn status(&self) -> Option<u16> {
        u16::try_from(self.fields.status).ok()
    }
    fn src(&self) -> Option<SocketAddr> {
        self.fields.client
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.fields.frontend_addr
    }
    fn frontend_name(&self) -> Option<&str> {
        Some(self.fields.frontend)
    }
    fn backend_name(&self) -> Option<&str> {
        Some(self.fields.backend)
    }
    fn timeout(&self, which: fulcrum_sample::TimeoutFetch) -> Option<i64> {
        use fulcrum_sample::TimeoutFetch as T;
        let i = match which {
            T::BeServer => 0,
            T::BeTunnel => 1,
            T::CurServer => 2,
            T::CurTunnel => 3,
            T::FeClient => 4,
        };
        self.fields.vars?.timeouts[i]
    }
    fn last_rule(&self) -> Option<(&std::path::Path, i64)> {
        let l = self.fields.vars?.last_rule.as_ref()?;
        Some((l.file.as_path(), l.line as i64))
    }
    fn server_name(&self) -> Option<&str> {
        (self.fields.server != "<NOSRV>").then_some(self.fields.server)
    }
    fn unique_id(&self) -> Option<Cow<'_, [u8]>> {
        self.fields.unique_id.map(Cow::Borrowed)
    }
    fn compression(&self) -> Option<&str> {
        self.fields.comp_algo
    }
    fn ssl(&self, f: fulcrum_sample::SslFetch) -> Option<Value<'_>> {
        fulcrum_tls::sample(self.fields.tls, f)
    }
    fn ssl_backend(&self, f: fulcrum_sample::SslFetch) -> Option<Value<'_>> {
        fulcrum_tls::sample(self.fields.server_tls, f)
    }
    fn var(&self, name: &VarName) -> Option<Value<'_>> {
        match name.scope() {
            VarScope::Proc => crate::model::rules::vars::proc_var(name),
            VarScope::Check => None,
            VarScope::Sess => self.fields.vars?.sess.get(name).map(Value::reborrow),
            _ => self.fields.vars?.txn.get(name).map(Value::reborrow),
        }
    }
    fn env(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        std::env::var_os(name).map(|v| Cow::Owned(v.into_encoded_bytes()))
    }
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn random_u32(&self) -> u32 {
        crate::model::rules::vars::random_u32()
    }
}
