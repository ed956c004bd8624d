//! What an expression may ask of the request it runs on: the trait the proxy implements.
//!
//! Every method has a default that answers "not available" (except the clock and the random
//! source, which a pure crate must not invent), so a context only implements what it has, and new
//! fetches can add methods without breaking existing implementations. Methods return borrowed
//! data, so that fetching a header, the path or a name does not allocate.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::SystemTime;

use crate::vars::VarName;

use crate::value::{Type, Value};

/// The TLS fetches about the client connection (`ssl_fc*`) and its certificate (`ssl_c_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SslFetch {
    /// `ssl_fc`: the connection came over TLS (boolean).
    Fc,
    /// `ssl_fc_sni`: the server name the client asked for.
    FcSni,
    /// `ssl_fc_protocol`: `TLSv1.2`, `TLSv1.3`.
    FcProtocol,
    /// `ssl_fc_cipher`: the cipher suite, in OpenSSL's spelling.
    FcCipher,
    /// `ssl_fc_alpn`: the protocol agreed by ALPN.
    FcAlpn,
    /// `ssl_c_used`: the session was made with a client certificate (boolean).
    CUsed,
    /// `ssl_c_verify`: the verification result code (0: verified or none asked for).
    CVerify,
    /// `ssl_c_err`: the first verification error on the client's certificate (depth 0), OpenSSL's number.
    CErr,
    /// `ssl_c_ca_err`: the first verification error above it.
    CCaErr,
    /// `ssl_c_ca_err_depth`: the depth of that error.
    CCaErrDepth,
    /// `ssl_c_s_dn`: the client certificate's subject (see [`SslFetch::is_dn`]).
    CSDn,
    /// `ssl_c_i_dn`: the client certificate's issuer.
    CIDn,
    /// `ssl_c_serial`: the client certificate's serial number (binary).
    CSerial,
    /// `ssl_c_der`: the client certificate, DER (binary).
    CDer,
    /// `ssl_fc_has_sni`: the client sent a server name (boolean).
    FcHasSni,
    /// `ssl_fc_is_resumed`: the session was resumed (ticket or session cache), boolean.
    FcIsResumed,
    /// `ssl_fc_err`: the TLS layer's first error on the connection, 0 when none (integer).
    FcErr,
    /// `ssl_bc_err`: the same on the connection to the server.
    BcErr,
    /// `ssl_fc_use_keysize`: the bits of the symmetric key the cipher uses.
    FcUseKeysize,
    /// `ssl_fc_alg_keysize`: the bits of the symmetric cipher's key (the same for every suite TLS 1.2/1.3 on
    /// rustls offer).
    FcAlgKeysize,
    /// `ssl_bc`: the connection to the server is TLS (boolean).
    Bc,
    /// `ssl_bc_protocol`
    BcProtocol,
    /// `ssl_bc_cipher`
    BcCipher,
    /// `ssl_bc_alpn`
    BcAlpn,
    /// `ssl_bc_is_resumed`
    BcIsResumed,
    /// `ssl_bc_use_keysize`
    BcUseKeysize,
    /// `ssl_bc_alg_keysize`
    BcAlgKeysize,
    /// `ssl_c_sha1`: the SHA-1 of the client certificate's DER (binary).
    CSha1,
    /// `ssl_c_version`: the client certificate's X.509 version (3 for v3).
    CVersion,
    /// `ssl_s_sha1`: the SHA-1 of the server certificate's DER (binary).
    SSha1,
    /// `ssl_s_version`: the server certificate's X.509 version.
    SVersion,
    /// `ssl_s_der`: the server's certificate, DER (binary).
    SDer,
    /// `ssl_s_s_dn`: its subject.
    SSDn,
    /// `ssl_s_i_dn`: its issuer.
    SIDn,
    /// `ssl_s_serial`: its serial number (binary).
    SSerial,
    /// `ssl_c_notbefore`: the start of the client certificate's validity, `YYMMDDhhmmssZ`.
    CNotBefore,
    /// `ssl_c_notafter`: its end.
    CNotAfter,
    /// `ssl_c_sig_alg`: the algorithm its issuer signed it with, OpenSSL's short name (`RSA-SHA256`).
    CSigAlg,
    /// `ssl_c_key_alg`: the algorithm of its public key, OpenSSL's short name (`rsaEncryption`).
    CKeyAlg,
    /// `ssl_c_chain_der`: the certificates the client sent after its own, DER one after the other (binary).
    CChainDer,
    /// `ssl_s_notbefore`
    SNotBefore,
    /// `ssl_s_notafter`
    SNotAfter,
    /// `ssl_s_sig_alg`
    SSigAlg,
    /// `ssl_s_key_alg`
    SKeyAlg,
    /// `ssl_s_chain_der`: the server's whole chain as it sent it, its own certificate first (binary).
    SChainDer,
    /// `ssl_f_der`: the certificate the frontend presented on the client connection, DER (binary).
    FDer,
    /// `ssl_f_sha1`
    FSha1,
    /// `ssl_f_serial`
    FSerial,
    /// `ssl_f_s_dn`
    FSDn,
    /// `ssl_f_i_dn`
    FIDn,
    /// `ssl_f_notbefore`
    FNotBefore,
    /// `ssl_f_notafter`
    FNotAfter,
    /// `ssl_f_version`
    FVersion,
    /// `ssl_f_sig_alg`
    FSigAlg,
    /// `ssl_f_key_alg`
    FKeyAlg,
    /// `ssl_fc_has_crt`: the client sent a certificate in this handshake (false on a resumed session, where
    /// `ssl_c_used` stays true), boolean.
    FcHasCrt,
}

impl SslFetch {
    /// The fetch of a name, if it is one of these.
    pub fn by_name(name: &str) -> Option<SslFetch> {
        Some(match name {
            "ssl_fc" => SslFetch::Fc,
            "ssl_fc_sni" => SslFetch::FcSni,
            "ssl_fc_protocol" => SslFetch::FcProtocol,
            "ssl_fc_cipher" => SslFetch::FcCipher,
            "ssl_fc_alpn" => SslFetch::FcAlpn,
            "ssl_c_used" => SslFetch::CUsed,
            "ssl_fc_has_crt" => SslFetch::FcHasCrt,
            "ssl_c_verify" => SslFetch::CVerify,
            "ssl_c_err" => SslFetch::CErr,
            "ssl_c_ca_err" => SslFetch::CCaErr,
            "ssl_c_ca_err_depth" => SslFetch::CCaErrDepth,
            "ssl_c_s_dn" => SslFetch::CSDn,
            "ssl_c_i_dn" => SslFetch::CIDn,
            "ssl_c_serial" => SslFetch::CSerial,
            "ssl_c_der" => SslFetch::CDer,
            "ssl_fc_has_sni" => SslFetch::FcHasSni,
            "ssl_fc_is_resumed" => SslFetch::FcIsResumed,
            "ssl_fc_err" => SslFetch::FcErr,
            "ssl_bc_err" => SslFetch::BcErr,
            "ssl_fc_use_keysize" => SslFetch::FcUseKeysize,
            "ssl_fc_alg_keysize" => SslFetch::FcAlgKeysize,
            "ssl_bc" => SslFetch::Bc,
            "ssl_bc_protocol" => SslFetch::BcProtocol,
            "ssl_bc_cipher" => SslFetch::BcCipher,
            "ssl_bc_alpn" => SslFetch::BcAlpn,
            "ssl_bc_is_resumed" => SslFetch::BcIsResumed,
            "ssl_bc_use_keysize" => SslFetch::BcUseKeysize,
            "ssl_bc_alg_keysize" => SslFetch::BcAlgKeysize,
            "ssl_s_der" => SslFetch::SDer,
            "ssl_c_sha1" => SslFetch::CSha1,
            "ssl_c_version" => SslFetch::CVersion,
            "ssl_s_sha1" => SslFetch::SSha1,
            "ssl_s_version" => SslFetch::SVersion,
            "ssl_s_s_dn" => SslFetch::SSDn,
            "ssl_s_i_dn" => SslFetch::SIDn,
            "ssl_s_serial" => SslFetch::SSerial,
            "ssl_c_notbefore" => SslFetch::CNotBefore,
            "ssl_c_notafter" => SslFetch::CNotAfter,
            "ssl_c_sig_alg" => SslFetch::CSigAlg,
            "ssl_c_key_alg" => SslFetch::CKeyAlg,
            "ssl_c_chain_der" => SslFetch::CChainDer,
            "ssl_s_notbefore" => SslFetch::SNotBefore,
            "ssl_s_notafter" => SslFetch::SNotAfter,
            "ssl_s_sig_alg" => SslFetch::SSigAlg,
            "ssl_s_key_alg" => SslFetch::SKeyAlg,
            "ssl_s_chain_der" => SslFetch::SChainDer,
            "ssl_f_der" => SslFetch::FDer,
            "ssl_f_sha1" => SslFetch::FSha1,
            "ssl_f_serial" => SslFetch::FSerial,
            "ssl_f_s_dn" => SslFetch::FSDn,
            "ssl_f_i_dn" => SslFetch::FIDn,
            "ssl_f_notbefore" => SslFetch::FNotBefore,
            "ssl_f_notafter" => SslFetch::FNotAfter,
            "ssl_f_version" => SslFetch::FVersion,
            "ssl_f_sig_alg" => SslFetch::FSigAlg,
            "ssl_f_key_alg" => SslFetch::FKeyAlg,
            _ => return None,
        })
    }

    /// Whether it reads the connection to the server (`ssl_bc*`, `ssl_s_*`) rather than the client's.
    pub fn is_backend(self) -> bool {
        self != self.front()
    }

    /// The client-side fetch reading the same fact as this one (itself for a client-side fetch): `ssl_bc_cipher`
    /// reads of the server's session what `ssl_fc_cipher` reads of the client's.
    pub fn front(self) -> SslFetch {
        match self {
            SslFetch::Bc => SslFetch::Fc,
            SslFetch::BcProtocol => SslFetch::FcProtocol,
            SslFetch::BcCipher => SslFetch::FcCipher,
            SslFetch::BcAlpn => SslFetch::FcAlpn,
            SslFetch::BcIsResumed => SslFetch::FcIsResumed,
            SslFetch::BcErr => SslFetch::FcErr,
            SslFetch::BcUseKeysize => SslFetch::FcUseKeysize,
            SslFetch::BcAlgKeysize => SslFetch::FcAlgKeysize,
            // The server connection's peer certificate is read as the client connection's is.
            SslFetch::SDer => SslFetch::CDer,
            SslFetch::SSDn => SslFetch::CSDn,
            SslFetch::SIDn => SslFetch::CIDn,
            SslFetch::SSerial => SslFetch::CSerial,
            SslFetch::SSha1 => SslFetch::CSha1,
            SslFetch::SVersion => SslFetch::CVersion,
            SslFetch::SNotBefore => SslFetch::CNotBefore,
            SslFetch::SNotAfter => SslFetch::CNotAfter,
            SslFetch::SSigAlg => SslFetch::CSigAlg,
            SslFetch::SKeyAlg => SslFetch::CKeyAlg,
            // The chain differs: a server's starts with its own certificate, a client's does not (as OpenSSL
            // gives them); the facts of the connection know which side they are.
            SslFetch::SChainDer => SslFetch::CChainDer,
            f => f,
        }
    }

    /// The type of the sample.
    pub fn out_type(self) -> Type {
        match self.front() {
            SslFetch::Fc
            | SslFetch::CUsed
            | SslFetch::FcHasCrt
            | SslFetch::FcHasSni
            | SslFetch::FcIsResumed => Type::Bool,
            SslFetch::CVerify
            | SslFetch::CErr
            | SslFetch::CCaErr
            | SslFetch::CCaErrDepth
            | SslFetch::FcErr
            | SslFetch::FcUseKeysize
            | SslFetch::FcAlgKeysize
            | SslFetch::CVersion
            | SslFetch::FVersion => Type::Int,
            SslFetch::CSerial
            | SslFetch::CDer
            | SslFetch::CSha1
            | SslFetch::CChainDer
            | SslFetch::FDer
            | SslFetch::FSha1
            | SslFetch::FSerial => Type::Bin,
            _ => Type::Str,
        }
    }

    /// Whether it reads a distinguished name (`ssl_c_s_dn`, `ssl_f_i_dn` ...): the context answers with the DER
    /// of the Name (the content of its SEQUENCE, binary), which the sample language prints, whole or one
    /// attribute of it (`ssl_c_s_dn(CN)`), in HAProxy's forms.
    pub fn is_dn(self) -> bool {
        matches!(
            self.front(),
            SslFetch::CSDn | SslFetch::CIDn | SslFetch::FSDn | SslFetch::FIDn
        )
    }
}

/// Which numeric id [`Context::id`] is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdOf {
    /// `fe_id`
    Frontend,
    /// `be_id`
    Backend,
    /// `srv_id`
    Server,
    /// `so_id`
    Listener,
}

/// Which backend figure [`Context::backend_stat`] is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendStat {
    /// `nbsrv`: the servers that can take traffic (the active ones, else the backups).
    UsableServers,
    /// `be_conn`: the connections (requests in HTTP) in progress.
    Conns,
    /// `connslots`: the connection and queue slots still free on the servers that can take traffic, -1 when one
    /// of them has no `maxconn` or no `maxqueue` (no limit).
    Slots,
}

/// Which timeout [`Context::timeout`] is asked for, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutFetch {
    /// `be_server_timeout`: the backend's `timeout server`.
    BeServer,
    /// `be_tunnel_timeout`: the backend's `timeout tunnel`.
    BeTunnel,
    /// `cur_server_timeout`: the server timeout of this stream (`http-request set-timeout server` changes it).
    CurServer,
    /// `cur_tunnel_timeout`: the tunnel timeout of this stream (`http-request set-timeout tunnel` changes it).
    CurTunnel,
    /// `fe_client_timeout`: the frontend's `timeout client` (0 when it has none, as HAProxy).
    FeClient,
}

/// Which figure of a server [`Context::server_stat`] is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerStat {
    /// `srv_conn`: the connections (requests in HTTP) in progress on it.
    Conns,
    /// `srv_is_up`: 1 when it is up and not in maintenance, else 0.
    IsUp,
    /// `srv_queue`: the requests waiting in its own queue.
    Queue,
    /// `srv_sess_rate`: the sessions it was given over the last second.
    SessRate,
}

/// A header visitor: called with each header's name and value in order; return
/// [`ControlFlow::Break`] to stop early.
pub type HeaderVisitor<'v, 's> = dyn FnMut(&'s [u8], &'s [u8]) -> ControlFlow<()> + 'v;

/// The request (and response) an expression runs on, as the proxy sees it.
///
/// Implementations hand out borrowed data; a header visitor receives slices that live as long as
/// the context, so a fetch can return them without copying.
pub trait Context {
    /// The request method as received (`None` outside HTTP).
    fn method(&self) -> Option<&[u8]> {
        None
    }

    /// The request target as received on the request line (`/path?query`, or an absolute URI);
    /// `path`, `query`, `url`, `base` and `url_param` are derived from it.
    fn uri(&self) -> Option<&[u8]> {
        None
    }

    /// Calls `visit` with each request header, in order, until it breaks.
    fn req_headers<'s>(&'s self, visit: &mut HeaderVisitor<'_, 's>) {
        let _ = visit;
    }

    /// Calls `visit` with each response header, in order, until it breaks.
    fn res_headers<'s>(&'s self, visit: &mut HeaderVisitor<'_, 's>) {
        let _ = visit;
    }

    /// Whether the expression runs on the response (`http-response` rules, `%[...]` in logs after
    /// the response): `hdr()` then reads the response headers, as in HAProxy.
    fn is_response(&self) -> bool {
        false
    }

    /// The HTTP version of the request, or of the response (`response`), once there is one: `1.0`, `1.1` or
    /// `2.0`.
    fn http_version(&self, response: bool) -> Option<&str> {
        let _ = response;
        None
    }

    /// The response status code, once a response exists.
    fn status(&self) -> Option<u16> {
        None
    }

    /// The client's address (`src`, `src_port`).
    fn src(&self) -> Option<SocketAddr> {
        None
    }

    /// The address the client connected to (`dst`, `dst_port`).
    fn dst(&self) -> Option<SocketAddr> {
        None
    }

    /// A TLS fact of the client connection (`ssl_fc`, `ssl_fc_sni`, ...); `None` when it does not apply (and
    /// `ssl_fc` on a clear-text connection is `false`, which the proxy answers).
    fn ssl(&self, fetch: SslFetch) -> Option<Value<'_>> {
        let _ = fetch;
        None
    }

    /// A TLS fact of the connection to the server (`ssl_bc`, `ssl_bc_cipher`, ...; `fetch` is one of those):
    /// `None` when there is no server connection here.
    fn ssl_backend(&self, fetch: SslFetch) -> Option<Value<'_>> {
        let _ = fetch;
        None
    }

    /// The frontend's name (`fe_name`).
    fn frontend_name(&self) -> Option<&str> {
        None
    }

    /// The backend's name, once one is chosen (`be_name`).
    fn backend_name(&self) -> Option<&str> {
        None
    }

    /// Whether the stream is HTTP (`internal.strm.is_htx`): true where an HTTP message is handled, false in a
    /// `mode tcp` connection's rules.
    fn is_htx(&self) -> bool {
        false
    }

    /// Whether the request is the first of its client connection (`http_first_req`); `None` outside HTTP.
    fn first_request(&self) -> Option<bool> {
        None
    }

    /// Whether the client connection started with a PROXY protocol header (`fc_rcvd_proxy`).
    fn received_proxy(&self) -> Option<bool> {
        None
    }

    /// The value of the TLV of type `kind` in the client connection's PROXY protocol v2 header
    /// (`fc_pp_authority`: 0x02, `fc_pp_unique_id`: 0x05).
    fn proxy_tlv(&self, kind: u8) -> Option<&[u8]> {
        let _ = kind;
        None
    }

    /// The server's name, once one is chosen (`srv_name`).
    fn server_name(&self) -> Option<&str> {
        None
    }

    /// The numeric id of the frontend (`fe_id`), of the backend once chosen (`be_id`), of the
    /// server once chosen (`srv_id`) or of the listening socket (`so_id`), as HAProxy numbers
    /// them (the `id` keyword, else the next free number in configuration order, from 1).
    fn id(&self, of: IdOf) -> Option<i64> {
        let _ = of;
        None
    }

    /// A figure of the current backend (`None`) or of the backend called `backend`; `None` when
    /// there is no such backend.
    fn backend_stat(&self, backend: Option<&str>, stat: BackendStat) -> Option<i64> {
        let _ = (backend, stat);
        None
    }

    /// The client connections open on the stream's frontend (`fe_conn`).
    fn frontend_conns(&self) -> Option<i64> {
        None
    }

    /// The configuration file and line of the last final rule (`accept`, `reject`, `allow`, `deny`, `redirect`,
    /// ...) the stream ran (`last_rule_file`, `last_rule_line`).
    fn last_rule(&self) -> Option<(&std::path::Path, i64)> {
        None
    }

    /// A timeout of the stream or of its backend, in milliseconds; `None` when it is not set.
    fn timeout(&self, which: TimeoutFetch) -> Option<i64> {
        let _ = which;
        None
    }

    /// A figure of server `server` of the current backend (`None`) or of the backend called `backend`; `None`
    /// when there is no such server.
    fn server_stat(&self, backend: Option<&str>, server: &str, stat: ServerStat) -> Option<i64> {
        let _ = (backend, server, stat);
        None
    }

    /// The request body bytes buffered so far (`req.body`), known once they were waited for
    /// (`option http-buffer-request`, `http-request wait-for-body`).
    fn request_body(&self) -> Option<&[u8]> {
        None
    }

    /// The value of the frontend's capture slot `idx`, request or `response` side (`capture.req.hdr(N)`,
    /// `capture.res.hdr(N)`).
    fn capture(&self, response: bool, idx: usize) -> Option<Cow<'_, [u8]>> {
        let _ = (response, idx);
        None
    }

    /// The stream's unique ID (`unique-id`), as the frontend's `unique-id-format` made it.
    fn unique_id(&self) -> Option<Cow<'_, [u8]>> {
        None
    }

    /// The algorithm the proxy compresses the response with (`res.comp`, `res.comp_algo`), by its configuration
    /// name; `None` when it does not compress it.
    fn compression(&self) -> Option<&str> {
        None
    }

    /// The name of the listening socket the client came through (`so_name`: the `bind` line's
    /// `name`).
    fn listener_name(&self) -> Option<&str> {
        None
    }

    /// Whether `pass` is the password of `user` in the userlist named `list` (`http_auth`, `http_auth_group`);
    /// `None` when there is no such userlist.
    fn check_user(&self, list: &str, user: &[u8], pass: &[u8]) -> Option<bool> {
        let _ = (list, user, pass);
        None
    }

    /// The request bytes buffered so far (`req.len`, `req.payload`), known to `tcp-request content` rules.
    fn payload(&self) -> Option<&[u8]> {
        None
    }

    /// The response bytes buffered so far (`res.len`, `res.payload`), known to `tcp-response content` rules.
    fn response_payload(&self) -> Option<&[u8]> {
        None
    }

    /// How many request bytes there are (`req.len`): the buffered bytes by default; an HTTP request counts as
    /// HAProxy's internal representation does.
    fn request_len(&self) -> Option<usize> {
        self.payload().map(<[u8]>::len)
    }

    /// Stores `value` in a variable when `conds` allow it (the `set-var` converter); a context without
    /// variables ignores it.
    fn set_var(&self, name: &VarName, value: Value<'_>, conds: crate::vars::VarConds) {
        let _ = (name, value, conds);
    }

    /// A variable's value, `None` when it is not set.
    fn var(&self, name: &VarName) -> Option<Value<'_>> {
        let _ = name;
        None
    }

    /// An environment variable of the process (`env(NAME)`), read through the context so that
    /// tests control it and the proxy can sample the environment once at start-up.
    fn env(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        let _ = name;
        None
    }

    /// A stick table fetch or converter (`sc0_conn_cur`, `src_http_req_rate(T)`, `in_table(T)` with `key` its
    /// input): `None` when it has no answer (an untracked counter, a table that does not store the data).
    fn stick(
        &self,
        fetch: &crate::stick::StickFetch,
        key: Option<&Value<'_>>,
    ) -> Option<Value<'static>> {
        let _ = (fetch, key);
        None
    }

    /// The current date (`date`, `date_us`).
    fn now(&self) -> SystemTime;

    /// A uniformly distributed 32-bit random number (`rand`).
    fn random_u32(&self) -> u32;

    /// The local time zone's offset from UTC, in seconds east, at `unix_secs` (`ltime`); the
    /// default is UTC.
    fn utc_offset(&self, unix_secs: i64) -> i32 {
        let _ = unix_secs;
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vars::{Scope, VarNameError};

    #[test]
    fn var_names() {
        let v: VarName = "txn.a.b_c9".parse().unwrap();
        assert_eq!(v.scope(), Scope::Txn);
        assert_eq!(v.name(), "a.b_c9");
        assert_eq!(v.to_string(), "txn.a.b_c9");
        for (s, scope) in [
            ("proc.x", Scope::Proc),
            ("sess.x", Scope::Sess),
            ("req.x", Scope::Req),
            ("res.x", Scope::Res),
            ("check.x", Scope::Check),
        ] {
            assert_eq!(s.parse::<VarName>().unwrap().scope(), scope);
        }
        // observed with haproxy 2.6.12: var(nope), var(TXN.x) and var(txn.a-b) are load errors
        assert!(matches!(
            "nope".parse::<VarName>(),
            Err(VarNameError::Scope(_))
        ));
        assert!(matches!(
            "TXN.x".parse::<VarName>(),
            Err(VarNameError::Scope(_))
        ));
        assert!(matches!(
            "txn.".parse::<VarName>(),
            Err(VarNameError::Scope(_))
        ));
        assert!(matches!(
            "txn.a-b".parse::<VarName>(),
            Err(VarNameError::Syntax(_))
        ));
        assert_eq!(Scope::Check.to_string(), "check");
    }

    struct Bare;
    impl Context for Bare {
        fn now(&self) -> SystemTime {
            SystemTime::UNIX_EPOCH
        }
        fn random_u32(&self) -> u32 {
            4
        }
    }

    #[test]
    fn defaults_answer_not_available() {
        let c = Bare;
        assert!(c.method().is_none());
        assert!(c.uri().is_none());
        let mut n = 0;
        c.req_headers(&mut |_, _| {
            n += 1;
            ControlFlow::Continue(())
        });
        c.res_headers(&mut |_, _| {
            n += 1;
            ControlFlow::Continue(())
        });
        assert_eq!(n, 0);
        assert!(!c.is_response());
        assert!(c.status().is_none());
        assert!(c.src().is_none() && c.dst().is_none());
        assert!(c.frontend_name().is_none());
        assert!(c.backend_name().is_none() && c.server_name().is_none());
        assert!(c.var(&"txn.x".parse().unwrap()).is_none());
        assert!(c.env("HOME").is_none());
        assert_eq!(c.utc_offset(0), 0);
        assert_eq!(c.random_u32(), 4);
        assert_eq!(c.now(), SystemTime::UNIX_EPOCH);
    }
}
