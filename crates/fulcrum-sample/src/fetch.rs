//! Fetches: where a sample comes from (a constant, the request, the connection, a variable, the
//! clock), and how each one reads the [`Context`].
//!
//! Header fetches follow HAProxy: `hdr`/`req.hdr` split values on commas, `fhdr` returns whole
//! lines; without an occurrence the last value is returned; occurrence `n > 0` counts from the
//! first, `n < 0` from the last (down to -10). Names are matched case-insensitively.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::ControlFlow;
use std::time::UNIX_EPOCH;

use crate::context::{BackendStat, Context, IdOf, ServerStat, SslFetch, TimeoutFetch};
use crate::hash;
use crate::http;
use crate::timefmt::Unit;
use crate::value::{Type, Value};
use crate::vars::VarName;

/// How many values back a negative header occurrence may reach (HAProxy's MAX_HDR_HISTORY).
pub(crate) const MAX_HDR_HISTORY: usize = 10;

/// Which message's headers a fetch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// The request.
    Req,
    /// The response.
    Res,
    /// The one the rule runs on (`hdr`).
    Current,
}

/// A fetch with its arguments, resolved and typed at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fetch {
    /// `sc_*`, `scN_*`, `src_*`, `table_avl`, `table_cnt`
    Stick(crate::stick::StickFetch),
    /// `req.hdr_ip`, `hdr_ip`: a header value (the last by default) read as an IPv4 or IPv6 address
    HdrIp {
        /// The header name.
        name: Box<[u8]>,
        /// As `req.hdr`'s occurrence.
        occ: i64,
    },
    /// `str(s)`
    Str(Box<[u8]>),
    /// `int(n)`
    Int(i64),
    /// `bool(b)`, `always_true`, `always_false`
    Bool(bool),
    /// `ipv4(a)`
    Ipv4(Ipv4Addr),
    /// `ipv6(a)`
    Ipv6(Ipv6Addr),
    /// `bin(hex)`
    Bin(Box<[u8]>),
    /// `meth(m)`
    Meth(Box<[u8]>),
    /// `var(name[,default])`
    Var {
        /// The variable.
        name: VarName,
        /// Returned as a string when the variable is not set.
        default: Option<Box<[u8]>>,
    },
    /// `env(NAME)`
    Env(Box<str>),
    /// `method`
    Method,
    /// `path` (`pathq` with the query)
    Path {
        /// Keep the query string.
        with_query: bool,
    },
    /// `query`
    Query,
    /// `url`
    Url,
    /// `base` (`baseq` with the query)
    Base {
        /// Keep the query string.
        with_query: bool,
    },
    /// `req.hdr`, `hdr`, `res.hdr`, `shdr`, `req.fhdr`, `res.fhdr`
    Hdr {
        /// Request, response or the current direction.
        dir: Dir,
        /// `None` without arguments (never found); empty matches any header.
        name: Option<Box<[u8]>>,
        /// 0 for the last value.
        occ: i64,
        /// Whole lines (`fhdr`) instead of comma-separated values.
        full: bool,
    },
    /// `req.hdr_cnt`, `hdr_cnt`, `res.hdr_cnt`, `req.fhdr_cnt`, `res.fhdr_cnt`
    HdrCnt {
        /// Request or response.
        dir: Dir,
        /// `None` or empty counts every header.
        name: Option<Box<[u8]>>,
        /// Count lines instead of values.
        full: bool,
    },
    /// `status`
    Status,
    /// `src`
    Src,
    /// `src_port`
    SrcPort,
    /// `dst`
    Dst,
    /// `dst_port`
    DstPort,
    /// `fe_name`
    FeName,
    /// `be_name`
    BeName,
    /// `srv_name`
    SrvName,
    /// `fe_id`, `be_id`, `srv_id`, `so_id`
    Id(IdOf),
    /// `so_name`
    SoName,
    /// `req.cook_val(name)`, `cook_val`: the cookie's value read as an integer.
    CookVal {
        /// Empty for the first cookie.
        name: Box<[u8]>,
    },
    /// `base32` (`base,sdbm(1)`), `base32+src` (that hash then the client address, binary)
    Base32 {
        /// Append the client's address.
        with_src: bool,
    },
    /// `req.hdrs`: the request's header block, `name: value` lines and the empty line.
    ReqHdrs,
    /// `fe_conn`: the client connections open on the stream's frontend.
    FeConn,
    /// `last_rule_file`: the configuration file of the last final rule the stream ran.
    LastRuleFile,
    /// `last_rule_line`: its line.
    LastRuleLine,
    /// `nbsrv([backend])`, `be_conn([backend])`
    BeStat {
        /// Another backend than the current one.
        backend: Option<Box<str>>,
        /// The figure.
        stat: BackendStat,
    },
    /// `be_server_timeout`, `be_tunnel_timeout`, `cur_server_timeout`, `cur_tunnel_timeout`
    Timeout(TimeoutFetch),
    /// `srv_conn([BACKEND/]SERVER)`, `srv_is_up`, `srv_queue`, `srv_sess_rate`
    SrvStat {
        /// The server's backend, when named (else the current one).
        backend: Option<Box<str>>,
        /// The server's name.
        server: Box<str>,
        /// The figure.
        stat: ServerStat,
    },
    /// `req.ver` / `res.ver` (`1.1`), `capture.req.ver` / `capture.res.ver` (`HTTP/1.1`): the HTTP version of the
    /// request or of the response.
    Ver {
        /// The response's version (`res.ver`, `capture.res.ver`).
        response: bool,
        /// Written as on the message's first line (`HTTP/1.1`), as the `capture.` forms give it.
        captured: bool,
    },
    /// `capture.req.method`: the request's method, in requests and responses alike.
    CaptureMethod,
    /// `capture.req.uri`: the request's target from its first slash, in requests and responses.
    CaptureUri,
    /// `uuid([4])`: a random (version 4) UUID.
    Uuid,
    /// `unique-id`: the stream's unique ID (`unique-id-format`).
    UniqueId,
    /// `res.comp`: whether the proxy compresses the response.
    ResComp,
    /// `res.comp_algo`: the algorithm the proxy compresses the response with (its configuration name).
    ResCompAlgo,
    /// `req.body`: the request body bytes waited for.
    ReqBody,
    /// `capture.req.hdr(N)`, `capture.res.hdr(N)`: capture slot N of the frontend.
    CaptureHdr {
        /// The response side's slots.
        response: bool,
        /// The slot.
        idx: usize,
    },
    /// `http_first_req`: whether the request is the first of its client connection.
    HttpFirstReq,
    /// `internal.strm.is_htx`: whether the stream is HTTP (a `mode tcp` connection is until it is upgraded).
    IsHtx,
    /// `http_auth_type`: the scheme of the request's `Authorization` header (`Basic`, `Bearer`).
    HttpAuthType,
    /// `http_auth_user`: the user name of Basic credentials.
    HttpAuthUser,
    /// `http_auth_pass`: the password of Basic credentials.
    HttpAuthPass,
    /// `http_auth(LIST)`: whether the Basic credentials are valid in a userlist (absent without them).
    HttpAuth(Box<str>),
    /// `http_auth_group(LIST)`: the user name of Basic credentials that are valid in a userlist.
    HttpAuthGroup(Box<str>),
    /// `fc_rcvd_proxy`: whether the client connection started with a PROXY protocol header.
    FcRcvdProxy,
    /// `fc_err`: the error met on the client connection (HAProxy's connection error codes), 0 when none. A
    /// connection fails (a refused PROXY header, a failed handshake ...) before any stream is made on it, and its
    /// failure is logged on its own line, so on every stream where a sample is fetched the connection is sound: 0.
    FcErr,
    /// `fc_pp_authority` (TLV 0x02), `fc_pp_unique_id` (TLV 0x05): a TLV of that header.
    FcPpTlv(u8),
    /// `req.body_param([name])`: a parameter of the url-encoded request body waited for
    /// (`option http-buffer-request`, `wait-for-body`).
    BodyParam {
        /// Empty for the first parameter that has a value.
        name: Box<[u8]>,
    },
    /// `url_param(name[,delim])`, `urlp`
    UrlParam {
        /// Empty for the first parameter that has a value.
        name: Box<[u8]>,
        /// Where the parameters start (`?` by default).
        delim: u8,
    },
    /// `req.cook(name)`, `cook`, `res.cook`, `scook`
    Cook {
        /// `Cookie` (request) or `Set-Cookie` (response).
        dir: Dir,
        /// Empty for the first cookie.
        name: Box<[u8]>,
    },
    /// `req.cook_cnt(name)`, `cook_cnt`, `res.cook_cnt`
    CookCnt {
        /// `Cookie` (request) or `Set-Cookie` (response).
        dir: Dir,
        /// Empty counts every cookie.
        name: Box<[u8]>,
    },
    /// `date([offset[,unit]])`
    Date {
        /// Added to the date, in `unit`.
        offset: i64,
        /// Seconds, milliseconds or microseconds.
        unit: Unit,
    },
    /// `date_us`
    DateUs,
    /// `rand([range])`
    Rand(Option<i64>),
    /// The TLS facts of the client connection (`ssl_fc`, `ssl_fc_sni`, `ssl_c_verify`, ...).
    Ssl(SslFetch),
    /// A distinguished name of a certificate (`ssl_c_s_dn([entry[,occ[,format]]])` and its kin).
    SslDn {
        /// Which name, of which certificate.
        fetch: SslFetch,
        /// The attribute whose value is wanted; `None`: the whole name.
        entry: Option<Box<[u8]>>,
        /// Which occurrence of the attribute: from 1 at the start, from -1 at the end (0: none).
        occ: i64,
        /// The whole name in RFC 2253's form rather than `/C=../CN=..`.
        rfc2253: bool,
    },
    /// `req.len`, `req_len`: how many request bytes are buffered (`tcp-request content`).
    ReqLen,
    /// `req.payload(offset,length)`, `payload`: buffered request bytes (`length` 0: to the end).
    Payload {
        /// Where the bytes start.
        offset: u32,
        /// How many (0: every byte after `offset`).
        length: u32,
    },
    /// `req.rdp_cookie([NAME])` (`count`: `req.rdp_cookie_cnt([NAME])`): the cookie of an RDP connection
    /// request in the buffered request bytes, NAME (any when `None`) compared ignoring case.
    RdpCookie {
        /// The cookie's name, when one is asked for.
        name: Option<Box<[u8]>>,
        /// How many such cookies there are (0 or 1: the request carries one) rather than the value.
        count: bool,
    },
    /// `res.len`: how many response bytes are buffered (`tcp-response content`).
    ResLen,
    /// `payload_lv(OFFSET1,LENGTH[,OFFSET2])` / `req.payload_lv`, `res.payload_lv`: a block of the buffered
    /// bytes whose size is the big-endian integer of LENGTH bytes at OFFSET1, starting right after it or at
    /// OFFSET2 (`+N` / `-N`: relative to that point).
    PayloadLv {
        /// Where the length is.
        len_offset: u32,
        /// How many bytes it has.
        len_size: u32,
        /// Where the block starts instead: (relative, offset).
        start: Option<(bool, i64)>,
        /// The response's bytes (`res.payload_lv`) rather than the request's.
        response: bool,
    },
    /// `req.ssl_hello_type` / `res.ssl_hello_type` (`rep_ssl_hello_type`): the handshake type of the TLS record
    /// at the start of the buffered bytes (1: ClientHello, 2: ServerHello).
    SslHelloType {
        /// The response's bytes rather than the request's.
        response: bool,
    },
    /// `res.payload(offset,length)`: buffered response bytes (`length` 0: to the end).
    ResPayload {
        /// Where the bytes start.
        offset: u32,
        /// How many (0: every byte after `offset`).
        length: u32,
    },
}

impl Fetch {
    /// The type the fetch declares (what the load-time type check uses; `src` and `dst` may
    /// return IPv6 at run time, as in HAProxy).
    pub(crate) fn out_type(&self) -> Type {
        match self {
            Fetch::Str(_)
            | Fetch::Env(_)
            | Fetch::Path { .. }
            | Fetch::Query
            | Fetch::Url
            | Fetch::Base { .. }
            | Fetch::Hdr { .. }
            | Fetch::FeName
            | Fetch::LastRuleFile
            | Fetch::BeName
            | Fetch::SrvName
            | Fetch::SoName
            | Fetch::ReqHdrs
            | Fetch::CaptureMethod
            | Fetch::CaptureUri
            | Fetch::Ver { .. }
            | Fetch::Uuid
            | Fetch::UniqueId
            | Fetch::ResCompAlgo
            | Fetch::CaptureHdr { .. }
            | Fetch::UrlParam { .. }
            | Fetch::Cook { .. } => Type::Str,
            Fetch::Int(_)
            | Fetch::HdrCnt { .. }
            | Fetch::Status
            | Fetch::SrcPort
            | Fetch::DstPort
            | Fetch::CookCnt { .. }
            | Fetch::CookVal { .. }
            | Fetch::Id(_)
            | Fetch::BeStat { .. }
            | Fetch::FeConn
            | Fetch::LastRuleLine
            | Fetch::Timeout(_)
            | Fetch::SrvStat {
                stat: ServerStat::Conns | ServerStat::Queue | ServerStat::SessRate,
                ..
            }
            | Fetch::Base32 { with_src: false }
            | Fetch::Date { .. }
            | Fetch::DateUs
            | Fetch::Rand(_)
            | Fetch::ReqLen
            | Fetch::FcErr
            | Fetch::RdpCookie { count: true, .. }
            | Fetch::ResLen => Type::Int,
            Fetch::RdpCookie { count: false, .. } => Type::Str,
            Fetch::Bool(_)
            | Fetch::HttpFirstReq
            | Fetch::IsHtx
            | Fetch::HttpAuth(_)
            | Fetch::FcRcvdProxy
            | Fetch::ResComp
            | Fetch::SrvStat {
                stat: ServerStat::IsUp,
                ..
            } => Type::Bool,
            Fetch::HttpAuthType
            | Fetch::HttpAuthUser
            | Fetch::HttpAuthPass
            | Fetch::HttpAuthGroup(_)
            | Fetch::BodyParam { .. }
            | Fetch::FcPpTlv(_) => Type::Str,
            Fetch::Ipv4(_) | Fetch::Src | Fetch::Dst => Type::Ipv4,
            Fetch::Ipv6(_) => Type::Ipv6,
            Fetch::Bin(_)
            | Fetch::Base32 { with_src: true }
            | Fetch::Payload { .. }
            | Fetch::ReqBody
            | Fetch::ResPayload { .. }
            | Fetch::PayloadLv { .. } => Type::Bin,
            Fetch::SslHelloType { .. } => Type::Int,
            Fetch::Meth(_) | Fetch::Method => Type::Meth,
            Fetch::Var { .. } => Type::Any,
            Fetch::Ssl(f) => f.out_type(),
            Fetch::SslDn { .. } => Type::Str,
            Fetch::Stick(s) => s.out_type(),
            Fetch::HdrIp { .. } => Type::Ipv4,
        }
    }

    /// Whether the fetch reads the response.
    pub(crate) fn reads_response(&self) -> bool {
        match self {
            // `res.comp` and `res.comp_algo` read what the proxy decided, kept for the log line too.
            Fetch::Status | Fetch::ResLen | Fetch::ResPayload { .. } => true,
            Fetch::PayloadLv { response, .. } | Fetch::SslHelloType { response } => *response,
            Fetch::CaptureHdr { response, .. } => *response,
            Fetch::Ver {
                response,
                captured: false,
            } => *response,
            Fetch::Hdr { dir, .. }
            | Fetch::HdrCnt { dir, .. }
            | Fetch::Cook { dir, .. }
            | Fetch::CookCnt { dir, .. } => *dir == Dir::Res,
            _ => false,
        }
    }

    /// Whether the fetch reads the request's URI, headers or cookies.
    pub(crate) fn reads_request(&self) -> bool {
        match self {
            Fetch::Path { .. } | Fetch::Query | Fetch::Url | Fetch::Base { .. } => true,
            Fetch::UrlParam { .. }
            | Fetch::CookVal { .. }
            | Fetch::Base32 { .. }
            | Fetch::ReqBody
            | Fetch::BodyParam { .. }
            | Fetch::ReqHdrs => true,
            Fetch::HttpAuthType
            | Fetch::HttpAuthUser
            | Fetch::HttpAuthPass
            | Fetch::HttpAuth(_)
            | Fetch::HttpAuthGroup(_)
            | Fetch::HdrIp { .. } => true,
            Fetch::Hdr { dir, .. }
            | Fetch::HdrCnt { dir, .. }
            | Fetch::Cook { dir, .. }
            | Fetch::CookCnt { dir, .. } => *dir == Dir::Req,
            _ => false,
        }
    }

    /// Calls `f` with each value the fetch has for an ACL, until it answers true (returned then): every
    /// occurrence of a header or a cookie when no occurrence was asked for (HAProxy's multi-value fetches), else
    /// the one value, if any.
    pub(crate) fn each<'a, C: Context + ?Sized>(
        &'a self,
        ctx: &'a C,
        f: &mut dyn FnMut(Value<'a>) -> bool,
    ) -> bool {
        let mut hit = false;
        let mut visit = |v: &'a [u8]| {
            if f(Value::str(v)) {
                hit = true;
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        match self {
            Fetch::Hdr {
                dir,
                name: Some(name),
                occ: 0,
                full,
            } => for_each_header_value(ctx, *dir, name, *full, &mut visit),
            Fetch::Cook { dir, name } if !name.is_empty() => {
                for_each_cookie(ctx, *dir, name, &mut visit)
            }
            _ => return self.eval(ctx).is_some_and(f),
        }
        hit
    }

    /// Reads the sample from `ctx`; `None` when it is not there.
    pub(crate) fn eval<'a, C: Context + ?Sized>(&'a self, ctx: &'a C) -> Option<Value<'a>> {
        Some(match self {
            Fetch::Str(s) => Value::Str(Cow::Borrowed(s)),
            Fetch::Int(i) => Value::Int(*i),
            Fetch::Bool(b) => Value::Bool(*b),
            Fetch::Ipv4(a) => Value::Ipv4(*a),
            Fetch::Ipv6(a) => Value::Ipv6(*a),
            Fetch::Bin(b) => Value::Bin(Cow::Borrowed(b)),
            Fetch::Meth(m) => Value::Str(Cow::Borrowed(m)),
            Fetch::Var { name, default } => match ctx.var(name) {
                Some(v) => v,
                None => Value::Str(Cow::Borrowed(default.as_deref()?)),
            },
            Fetch::Env(name) => Value::Str(ctx.env(name)?),
            Fetch::Method => Value::str(ctx.method()?),
            Fetch::Ver { response, captured } => {
                let v = ctx.http_version(*response)?;
                if *captured {
                    Value::string(format!("HTTP/{v}"))
                } else {
                    Value::str(v.as_bytes())
                }
            }
            Fetch::Path { with_query } => Value::str(http::path(ctx.uri()?, *with_query)?),
            Fetch::Query => Value::str(http::query(ctx.uri()?)?),
            Fetch::Url => Value::str(ctx.uri()?),
            Fetch::Base { with_query } => base(ctx, *with_query)?,
            Fetch::Hdr {
                dir,
                name,
                occ,
                full,
            } => Value::str(header(ctx, *dir, name.as_deref()?, *occ, *full)?),
            Fetch::HdrCnt { dir, name, full } => {
                let name = name.as_deref().unwrap_or_default();
                let mut n = 0i64;
                for_each_header_value(ctx, *dir, name, *full, &mut |_| {
                    n += 1;
                    ControlFlow::Continue(())
                });
                Value::Int(n)
            }
            Fetch::Status => Value::Int(i64::from(ctx.status()?)),
            Fetch::Src => ip(ctx.src()?.ip()),
            Fetch::Dst => ip(ctx.dst()?.ip()),
            Fetch::SrcPort => Value::Int(i64::from(ctx.src()?.port())),
            Fetch::DstPort => Value::Int(i64::from(ctx.dst()?.port())),
            Fetch::FeName => Value::str(ctx.frontend_name()?.as_bytes()),
            Fetch::BeName => Value::str(ctx.backend_name()?.as_bytes()),
            Fetch::SrvName => Value::str(ctx.server_name()?.as_bytes()),
            Fetch::SoName => Value::str(ctx.listener_name()?.as_bytes()),
            Fetch::Id(of) => Value::Int(ctx.id(*of)?),
            Fetch::Stick(s) => ctx.stick(s, None)?,
            Fetch::HdrIp { name, occ } => {
                let v = header(ctx, Dir::Req, name, *occ, false)?;
                let t = std::str::from_utf8(v).ok()?.trim();
                match t.parse::<Ipv4Addr>() {
                    Ok(a) => Value::Ipv4(a),
                    Err(_) => Value::Ipv6(t.parse::<Ipv6Addr>().ok()?),
                }
            }
            Fetch::BeStat { backend, stat } => {
                Value::Int(ctx.backend_stat(backend.as_deref(), *stat)?)
            }
            Fetch::FeConn => Value::Int(ctx.frontend_conns()?),
            Fetch::LastRuleFile => {
                let (file, _) = ctx.last_rule()?;
                Value::string(file.to_string_lossy().into_owned())
            }
            Fetch::LastRuleLine => Value::Int(ctx.last_rule()?.1),
            Fetch::Timeout(which) => Value::Int(ctx.timeout(*which)?),
            Fetch::SrvStat {
                backend,
                server,
                stat,
            } => {
                let v = ctx.server_stat(backend.as_deref(), server, *stat)?;
                match stat {
                    ServerStat::IsUp => Value::Bool(v != 0),
                    _ => Value::Int(v),
                }
            }
            Fetch::Base32 { with_src } => {
                let b = base(ctx, false)?;
                let h = hash::avalanche(hash::sdbm(&b.into_str_bytes()));
                if !*with_src {
                    return Some(Value::Int(i64::from(h)));
                }
                let mut out = h.to_be_bytes().to_vec();
                match ctx.src()?.ip() {
                    IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                    IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
                }
                Value::bin(out)
            }
            Fetch::CaptureMethod => Value::str(ctx.method()?),
            Fetch::CaptureUri => Value::str(http::path(ctx.uri()?, true)?),
            Fetch::ReqHdrs => {
                let mut out = Vec::new();
                visit_headers(ctx, Dir::Req, &mut |n, v| {
                    out.extend_from_slice(n);
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(v);
                    out.extend_from_slice(b"\r\n");
                    ControlFlow::Continue(())
                });
                out.extend_from_slice(b"\r\n");
                Value::Str(Cow::Owned(out))
            }
            Fetch::UniqueId => Value::Str(ctx.unique_id()?),
            Fetch::ResComp => Value::Bool(ctx.compression().is_some()),
            Fetch::ResCompAlgo => Value::Str(Cow::Borrowed(ctx.compression()?.as_bytes())),
            Fetch::ReqBody => Value::Bin(Cow::Borrowed(ctx.request_body()?)),
            Fetch::CaptureHdr { response, idx } => Value::Str(ctx.capture(*response, *idx)?),
            Fetch::Uuid => {
                let mut b = [0u8; 16];
                for chunk in b.chunks_mut(4) {
                    chunk.copy_from_slice(&ctx.random_u32().to_be_bytes());
                }
                // RFC 4122 section 4.4: version 4, variant 10
                b[6] = (b[6] & 0x0f) | 0x40;
                b[8] = (b[8] & 0x3f) | 0x80;
                let mut out = Vec::with_capacity(36);
                for (i, x) in b.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        out.push(b'-');
                    }
                    out.extend_from_slice(format!("{x:02x}").as_bytes());
                }
                Value::Str(Cow::Owned(out))
            }
            Fetch::CookVal { name } => {
                // the first cookie without a name, else the last occurrence, as `req.cook`
                let mut found = None;
                for_each_cookie(ctx, Dir::Req, name, &mut |v| {
                    found = Some(v);
                    if name.is_empty() {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                });
                // a leading decimal integer, 0 when there is none (an empty value included)
                Value::Int(crate::value::read_int64(found?).0)
            }
            Fetch::HttpFirstReq => Value::Bool(ctx.first_request()?),
            Fetch::IsHtx => Value::Bool(ctx.is_htx()),
            Fetch::HttpAuthType => {
                let (scheme, _) = http::authorization(authorization(ctx)?)?;
                Value::str(scheme.as_bytes())
            }
            Fetch::HttpAuthUser | Fetch::HttpAuthPass => {
                let (u, p) = http::basic_credentials(authorization(ctx)?)?;
                Value::string(if matches!(self, Fetch::HttpAuthUser) {
                    u
                } else {
                    p
                })
            }
            Fetch::HttpAuth(list) => {
                let (u, p) = http::basic_credentials(authorization(ctx)?)?;
                Value::Bool(ctx.check_user(list, &u, &p)?)
            }
            Fetch::HttpAuthGroup(list) => {
                let (u, p) = http::basic_credentials(authorization(ctx)?)?;
                if !ctx.check_user(list, &u, &p)? {
                    return None;
                }
                Value::string(u)
            }
            Fetch::FcRcvdProxy => Value::Bool(ctx.received_proxy()?),
            Fetch::FcErr => Value::Int(0),
            Fetch::FcPpTlv(kind) => Value::str(ctx.proxy_tlv(*kind)?),
            Fetch::Ssl(f) if f.is_backend() => ctx.ssl_backend(*f)?,
            Fetch::Ssl(f) => ctx.ssl(*f)?,
            Fetch::SslDn {
                fetch,
                entry,
                occ,
                rfc2253,
            } => {
                let der = if fetch.is_backend() {
                    ctx.ssl_backend(*fetch)?
                } else {
                    ctx.ssl(*fetch)?
                };
                let name = der.as_str_bytes();
                match entry {
                    Some(key) => Value::string(crate::x509name::entry(&name, key, *occ)?),
                    None if *rfc2253 => Value::string(crate::x509name::rfc2253(&name)?),
                    None => Value::string(crate::x509name::oneline(&name)?),
                }
            }
            Fetch::BodyParam { name } => Value::str(http::body_param(ctx.request_body()?, name)?),
            Fetch::UrlParam { name, delim } => {
                Value::str(http::url_param(ctx.uri()?, name, *delim)?)
            }
            Fetch::Cook { dir, name } => {
                // without a name the first cookie, with one the last occurrence
                let mut found = None;
                for_each_cookie(ctx, *dir, name, &mut |v| {
                    found = Some(v);
                    if name.is_empty() {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                });
                Value::str(found?)
            }
            Fetch::CookCnt { dir, name } => {
                let mut n = 0i64;
                for_each_cookie(ctx, *dir, name, &mut |_| {
                    n += 1;
                    ControlFlow::Continue(())
                });
                Value::Int(n)
            }
            Fetch::Date { offset, unit } => {
                let d = ctx.now().duration_since(UNIX_EPOCH).unwrap_or_default();
                let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                let micros = i64::from(d.subsec_micros());
                let t = match unit {
                    Unit::S => secs,
                    Unit::Ms => secs.wrapping_mul(1000).wrapping_add(micros / 1000),
                    Unit::Us => secs.wrapping_mul(1_000_000).wrapping_add(micros),
                };
                Value::Int(t.wrapping_add(*offset))
            }
            Fetch::DateUs => {
                let d = ctx.now().duration_since(UNIX_EPOCH).unwrap_or_default();
                Value::Int(i64::from(d.subsec_micros()))
            }
            Fetch::ReqLen => Value::Int(i64::try_from(ctx.request_len()?).unwrap_or(i64::MAX)),
            Fetch::Payload { offset, length } => {
                Value::Bin(Cow::Borrowed(payload(ctx.payload()?, *offset, *length)?))
            }
            Fetch::RdpCookie { name, count } => {
                let found = rdp_cookie(ctx.payload()?, name.as_deref())?;
                match (found, count) {
                    (Some(v), false) => Value::Str(Cow::Borrowed(v)),
                    (None, false) => return None,
                    (v, true) => Value::Int(i64::from(v.is_some())),
                }
            }
            Fetch::ResLen => {
                Value::Int(i64::try_from(ctx.response_payload()?.len()).unwrap_or(i64::MAX))
            }
            Fetch::PayloadLv {
                len_offset,
                len_size,
                start,
                response,
            } => Value::Bin(Cow::Borrowed(payload_lv(
                buffered(ctx, *response)?,
                *len_offset,
                *len_size,
                *start,
            )?)),
            Fetch::SslHelloType { response } => {
                Value::Int(i64::from(ssl_hello_type(buffered(ctx, *response)?).ok()??))
            }
            Fetch::ResPayload { offset, length } => Value::Bin(Cow::Borrowed(payload(
                ctx.response_payload()?,
                *offset,
                *length,
            )?)),
            Fetch::Rand(range) => {
                let r = u64::from(ctx.random_u32());
                Value::Int(match range {
                    // scaled, not reduced with a modulo, to use every bit
                    Some(range) => (r.wrapping_mul(*range as u64) >> 32) as i64,
                    None => r as i64,
                })
            }
        })
    }
}

fn ip(a: IpAddr) -> Value<'static> {
    match a {
        IpAddr::V4(a) => Value::Ipv4(a),
        IpAddr::V6(a) => Value::Ipv6(a),
    }
}

fn visit_headers<'s, C: Context + ?Sized>(
    ctx: &'s C,
    dir: Dir,
    visit: &mut dyn FnMut(&'s [u8], &'s [u8]) -> ControlFlow<()>,
) {
    let response = match dir {
        Dir::Req => false,
        Dir::Res => true,
        Dir::Current => ctx.is_response(),
    };
    if response {
        ctx.res_headers(visit)
    } else {
        ctx.req_headers(visit)
    }
}

/// Calls `f` with each value (each line when `full`) of the headers called `name` (any header
/// when `name` is empty), until `f` breaks.
fn for_each_header_value<'s, C: Context + ?Sized>(
    ctx: &'s C,
    dir: Dir,
    name: &[u8],
    full: bool,
    f: &mut dyn FnMut(&'s [u8]) -> ControlFlow<()>,
) {
    visit_headers(ctx, dir, &mut |n, v| {
        if name.is_empty() || n.eq_ignore_ascii_case(name) {
            http::for_each_value(v, full, f)
        } else {
            ControlFlow::Continue(())
        }
    });
}

/// Occurrence `occ` of header `name`: 0 is the last, `n > 0` the n-th from the first, `n < 0`
/// the n-th from the last (no further back than [`MAX_HDR_HISTORY`]).
fn header<'s, C: Context + ?Sized>(
    ctx: &'s C,
    dir: Dir,
    name: &[u8],
    occ: i64,
    full: bool,
) -> Option<&'s [u8]> {
    let occ = if occ == 0 { -1 } else { occ };
    if occ > 0 {
        let mut left = occ;
        let mut found = None;
        for_each_header_value(ctx, dir, name, full, &mut |v| {
            left -= 1;
            if left == 0 {
                found = Some(v);
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        return found;
    }
    let back = usize::try_from(occ.unsigned_abs()).ok()?;
    if back > MAX_HDR_HISTORY {
        return None;
    }
    // a ring of the last values seen, so that no allocation is needed
    let mut ring: [&[u8]; MAX_HDR_HISTORY] = [&[]; MAX_HDR_HISTORY];
    let mut seen = 0usize;
    for_each_header_value(ctx, dir, name, full, &mut |v| {
        ring[seen % MAX_HDR_HISTORY] = v;
        seen += 1;
        ControlFlow::Continue(())
    });
    if back > seen {
        return None;
    }
    Some(ring[(seen - back) % MAX_HDR_HISTORY])
}

/// Calls `f` with each value of cookie `name` (every cookie when empty): `Cookie` headers of
/// the request, or the first pair of each `Set-Cookie` header of the response.
fn for_each_cookie<'s, C: Context + ?Sized>(
    ctx: &'s C,
    dir: Dir,
    name: &[u8],
    f: &mut dyn FnMut(&'s [u8]) -> ControlFlow<()>,
) {
    let response = dir == Dir::Res;
    let header: &[u8] = if response { b"set-cookie" } else { b"cookie" };
    for_each_header_value(ctx, dir, header, false, &mut |v| {
        if v.len() < name.len() + 1 {
            return ControlFlow::Continue(());
        }
        http::for_each_cookie(v, name, !response, f)
    });
}

/// `base`: the first `Host` value followed by the path (when it starts with `/`), or the path
/// alone without a `Host`.
fn base<'a, C: Context + ?Sized>(ctx: &'a C, with_query: bool) -> Option<Value<'a>> {
    let mut host = None;
    for_each_header_value(ctx, Dir::Req, b"host", false, &mut |v| {
        host = Some(v);
        ControlFlow::Break(())
    });
    let path = ctx.uri().and_then(|u| http::path(u, with_query));
    match host.filter(|h| !h.is_empty()) {
        None => Some(Value::str(path?)),
        Some(h) => {
            let mut out = h.to_vec();
            if let Some(p) = path.filter(|p| p.first() == Some(&b'/')) {
                out.extend_from_slice(p);
            }
            Some(Value::Str(Cow::Owned(out)))
        }
    }
}

/// The value of the request's `Authorization` header (the first one).
fn authorization<C: Context + ?Sized>(ctx: &C) -> Option<&[u8]> {
    let mut found = None;
    ctx.req_headers(&mut |n, v| {
        if n.eq_ignore_ascii_case(b"authorization") {
            found = Some(v);
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
}

/// The cookie of an RDP connection request (X.224 Connection Request in a TPKT: 11 bytes of headers, then a
/// `Cookie: NAME=VALUE` line ended by CRLF, as Microsoft's clients send `mstshash=USER` or a `msts=` routing
/// token): `Some(Some(value))` when NAME matches `name` (ignoring case; any name without one), `Some(None)`
/// when the bytes carry no such cookie, `None` while they may still come (the line is not complete).
pub fn rdp_cookie<'a>(buf: &'a [u8], name: Option<&[u8]>) -> Option<Option<&'a [u8]>> {
    const HEADERS: usize = 11;
    const PREFIX: &[u8] = b"Cookie:";
    let rest = buf.get(HEADERS..)?;
    let have = rest.len().min(PREFIX.len());
    if !rest[..have].eq_ignore_ascii_case(&PREFIX[..have]) {
        return Some(None);
    }
    if rest.len() < PREFIX.len() {
        return None;
    }
    let line = &rest[PREFIX.len()..];
    let end = line.windows(2).position(|w| w == b"\r\n")?;
    let line = &line[..end];
    let start = line
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(line.len());
    let line = &line[start..];
    let Some(eq) = line.iter().position(|&c| c == b'=') else {
        return Some(None);
    };
    if name.is_some_and(|n| !line[..eq].eq_ignore_ascii_case(n)) {
        return Some(None);
    }
    Some(Some(&line[eq + 1..]))
}

/// The `length` bytes of `buf` from `offset` (`length` 0: to the end); `None` when they are not all there yet.
fn payload(buf: &[u8], offset: u32, length: u32) -> Option<&[u8]> {
    let start = offset as usize;
    if length == 0 {
        buf.get(start..)
    } else {
        buf.get(start..start.checked_add(length as usize)?)
    }
}

/// The bytes buffered on one side of a `mode tcp` stream: the server's (`response`) or the client's.
pub(crate) fn buffered<C: Context + ?Sized>(ctx: &C, response: bool) -> Option<&[u8]> {
    if response {
        ctx.response_payload()
    } else {
        ctx.payload()
    }
}

/// `payload_lv`: the block whose size is the `len_size`-byte big-endian integer at `len_offset`, starting right
/// after it, or at `start` (relative to that point when its flag says so); `None` when it is empty, larger than a
/// buffer, or not all there yet (then [`payload_lv_complete`] says so).
pub(crate) fn payload_lv(
    buf: &[u8],
    len_offset: u32,
    len_size: u32,
    start: Option<(bool, i64)>,
) -> Option<&[u8]> {
    let (from, size) = payload_lv_span(buf, len_offset, len_size, start)?;
    buf.get(from..from.checked_add(size)?)
}

/// Where a `payload_lv` block starts and how long it is, once its length field is there; `None` before, or when
/// the block can never be there (empty, or past the most bytes buffered).
fn payload_lv_span(
    buf: &[u8],
    len_offset: u32,
    len_size: u32,
    start: Option<(bool, i64)>,
) -> Option<(usize, usize)> {
    let at = len_offset as usize;
    let field = buf.get(at..at.checked_add(len_size as usize)?)?;
    let size = field.iter().fold(0u64, |n, &b| {
        n.saturating_mul(256).saturating_add(u64::from(b))
    });
    let after = (at + field.len()) as i64;
    let from = match start {
        None => after,
        Some((true, d)) => after.checked_add(d)?,
        Some((false, o)) => o,
    };
    // As HAProxy: an empty block, or one past a buffer's size, never matches.
    if size == 0 || from < 0 || (from as u64).saturating_add(size) > MAX_BUFFERED {
        return None;
    }
    Some((from as usize, size as usize))
}

/// Whether a `payload_lv` block can no longer change: it is all there, or can never be.
pub(crate) fn payload_lv_settled(
    buf: &[u8],
    len_offset: u32,
    len_size: u32,
    start: Option<(bool, i64)>,
) -> bool {
    let at = len_offset as usize;
    if buf.len() < at.saturating_add(len_size as usize) {
        return false;
    }
    match payload_lv_span(buf, len_offset, len_size, start) {
        Some((from, size)) => buf.len() >= from + size,
        None => true,
    }
}

/// The most bytes a content rule may see buffered (HAProxy's `tune.bufsize`).
const MAX_BUFFERED: u64 = 16_384;

/// The handshake type of the TLS record at the start of `buf` (an SSLv3/TLS record header, then the handshake
/// header): `Ok(None)` while the record is not all there, `Err` when the bytes are no TLS handshake, as HAProxy's
/// `req.ssl_hello_type` reads them.
pub(crate) fn ssl_hello_type(buf: &[u8]) -> Result<Option<u8>, ()> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    if !((0x14..=0x17).contains(&kind) || kind == 0xff) {
        return Err(());
    }
    if buf.len() < 9 {
        return Ok(None);
    }
    // SSLv3 and later, and a record long enough for a handshake header.
    if u32::from(buf[1]) << 16 | u32::from(buf[2]) << 8 < 0x03_0000
        || u16::from_be_bytes([buf[3], buf[4]]) < 4
    {
        return Err(());
    }
    let hs_len = u32::from(buf[6]) << 16 | u32::from(buf[7]) << 8 | u32::from(buf[8]);
    if (buf.len() as u64) < u64::from(hs_len) + 9 {
        return Ok(None);
    }
    Ok(Some(buf[5]))
}

#[cfg(test)]
mod lv_tests {
    use super::*;

    #[test]
    fn length_value_blocks() {
        // A one-byte length at 2, then the block.
        let buf = [9, 9, 3, b'a', b'b', b'c', b'd'];
        assert_eq!(payload_lv(&buf, 2, 1, None), Some(&b"abc"[..]));
        // Not all there yet: not settled.
        assert_eq!(payload_lv(&buf[..5], 2, 1, None), None);
        assert!(!payload_lv_settled(&buf[..5], 2, 1, None));
        assert!(payload_lv_settled(&buf, 2, 1, None));
        // Two-byte big-endian length; an absolute and a relative start.
        let buf = [0, 2, b'x', b'y', b'z'];
        assert_eq!(payload_lv(&buf, 0, 2, None), Some(&b"xy"[..]));
        assert_eq!(payload_lv(&buf, 0, 2, Some((false, 3))), Some(&b"yz"[..]));
        assert_eq!(payload_lv(&buf, 0, 2, Some((true, 1))), Some(&b"yz"[..]));
        assert_eq!(payload_lv(&buf, 0, 2, Some((true, -3))), None);
        // An empty block never matches, and is settled.
        assert_eq!(payload_lv(&[0, 1], 0, 1, None), None);
        assert!(payload_lv_settled(&[0, 1], 0, 1, None));
        // A block longer than any buffer never matches.
        assert_eq!(payload_lv(&[0xff, 0xff, 0xff], 0, 3, None), None);
    }

    #[test]
    fn hello_types() {
        // A record header (handshake, TLS 1.0, 8 bytes), then a ServerHello header of 4 bytes' body.
        let hello = [0x16, 3, 1, 0, 8, 2, 0, 0, 4, 1, 2, 3, 4];
        assert_eq!(ssl_hello_type(&hello), Ok(Some(2)));
        assert_eq!(ssl_hello_type(&hello[..10]), Ok(None));
        assert_eq!(ssl_hello_type(&[]), Ok(None));
        assert_eq!(ssl_hello_type(b"GET / HTTP/1.1\r\n"), Err(()));
        // SSLv2-era versions are no hello.
        assert_eq!(ssl_hello_type(&[0x16, 2, 0, 0, 8, 1, 0, 0, 0]), Err(()));
    }
}

#[cfg(test)]
mod rdp_tests {
    use super::rdp_cookie;

    /// A TPKT header and an X.224 Connection Request header (11 bytes), then `rest`.
    fn request(rest: &[u8]) -> Vec<u8> {
        let mut v = vec![0x03, 0x00, 0x00, 0x2b, 0x26, 0xe0, 0, 0, 0, 0, 0];
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn the_cookie_of_an_rdp_connection_request() {
        let r = request(b"Cookie: mstshash=alice\r\n\x01\x00\x08\x00\x03\x00\x00\x00");
        assert_eq!(rdp_cookie(&r, None), Some(Some(&b"alice"[..])));
        assert_eq!(rdp_cookie(&r, Some(b"MSTSHASH")), Some(Some(&b"alice"[..])));
        assert_eq!(rdp_cookie(&r, Some(b"msts")), Some(None));
        // Not there yet: waited for.
        assert_eq!(rdp_cookie(&r[..5], None), None);
        assert_eq!(rdp_cookie(&r[..14], None), None);
        assert_eq!(rdp_cookie(&r[..25], None), None);
        // Not an RDP cookie at all, or a line without a name.
        assert_eq!(
            rdp_cookie(&request(b"GET / HTTP/1.1\r\n"), None),
            Some(None)
        );
        assert_eq!(
            rdp_cookie(&request(b"cookie:novalue\r\n"), None),
            Some(None)
        );
        // The prefix ignores case, blanks before the name are skipped, the value may be empty.
        assert_eq!(
            rdp_cookie(
                &request(b"COOKIE:\t msts=3640205228.15629.0000\r\n"),
                Some(b"msts")
            ),
            Some(Some(&b"3640205228.15629.0000"[..]))
        );
        assert_eq!(
            rdp_cookie(&request(b"Cookie: a=\r\n"), None),
            Some(Some(&b""[..]))
        );
    }
}
