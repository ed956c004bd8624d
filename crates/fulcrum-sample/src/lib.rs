//! HAProxy's sample expressions, as a pure core: parsing, type checking and evaluation of
//! `fetch,converter,converter...` against a request the caller describes.
//!
//! # The model
//!
//! A *sample* is a typed value ([`Value`]: boolean, integer, IPv4, IPv6, string or binary). A
//! *fetch* produces one (`req.hdr(host)`, `src`, `var(txn.x)`, `str(abc)`); *converters* after
//! commas transform it (`lower`, `field(1,:)`, `base64`). Each converter takes one input type;
//! before it runs, the sample is cast to that type following HAProxy's cast matrix (see
//! [`value`](crate::Value::cast)). A converter no cast can feed is refused at load time, as
//! HAProxy refuses it; a cast or a converter that fails on the data at run time makes the sample
//! *absent* ([`None`]), never a panic.
//!
//! Loading is two steps: the text is cut into keywords and unquoted arguments (HAProxy's
//! second-level quoting: `'...'`, `"..."`, `\`), then names are resolved into typed fetches and
//! converters with validated arguments (integers parsed, regexes compiled, variable names
//! checked). The compiled [`Expr`] is evaluated without looking at text again.
//!
//! The crate does no I/O and knows nothing of the proxy: requests are seen through the
//! [`Context`] trait, which hands out borrowed data so that common fetches do not allocate. The
//! clock, randomness, environment and variables come through it too, so tests are deterministic.
//!
//! ```
//! use std::time::SystemTime;
//! use fulcrum_sample::{Context, Expr, LogFormat, Value};
//!
//! struct Req;
//! impl Context for Req {
//!     fn uri(&self) -> Option<&[u8]> { Some(b"/a/B?x=1") }
//!     fn now(&self) -> SystemTime { SystemTime::UNIX_EPOCH }
//!     fn random_u32(&self) -> u32 { 0 }
//! }
//!
//! let e = Expr::parse("path,lower,field(3,/)").unwrap();
//! assert_eq!(e.eval(&Req), Some(Value::from("b")));
//! assert_eq!(e.eval_to_string(&Req).as_deref(), Some(&b"b"[..]));
//!
//! let f = LogFormat::parse("%[url_param(x),add(41)]!").unwrap();
//! let mut out = Vec::new();
//! f.render(&Req, &mut out, &mut |_, _, _| std::ops::ControlFlow::Continue(()));
//! assert_eq!(out, b"42!");
//!
//! assert!(Expr::parse("src,lower(1)").is_err());
//! ```
//!
//! # Files
//!
//! `parse.rs` cuts text, `args.rs` types the arguments, `compile.rs` resolves names and checks
//! types, `fetch.rs` and `conv.rs` hold
//! what each keyword does, `value.rs` the types and casts, `context.rs` the trait, `logfmt.rs`
//! the `%[...]` form, `vars.rs` the conditions of `set-var`; `http.rs`, `codec.rs`, `text.rs`, `hash.rs`,
//! `timefmt.rs`, `fix.rs` (FIX messages) and `mqtt.rs` (MQTT CONNECT/CONNACK packets) are the helpers behind the
//! keywords; `rawbytes.rs` carries the configuration's `\xHH` bytes 0x80-0xFF through Rust strings.
//!
//! Fetches: `str`, `int`, `bool`, `ipv4`, `ipv6`, `bin`, `meth`, `always_true`, `always_false`,
//! `var`, `env`, `method`, `path`, `pathq`, `query`, `url`, `base`, `req.hdr`/`hdr`, `res.hdr`/`shdr`,
//! `req.fhdr`, `res.fhdr`, `req.hdr_cnt`/`hdr_cnt`, `res.hdr_cnt`, `req.fhdr_cnt`, `res.fhdr_cnt`,
//! `status`, `src`, `src_port`, `dst`, `dst_port`, `fe_name`, `be_name`, `srv_name`, `fe_id`,
//! `be_id`, `srv_id`, `so_id`, `so_name`, `req.cook_val`/`cook_val`, `base32`, `base32+src`,
//! `req.hdrs`, `uuid`, `nbsrv`, `be_conn`, `fe_conn`, `last_rule_file`, `last_rule_line`, `connslots`, `srv_conn`, `srv_is_up`, `srv_queue`, `srv_sess_rate`,
//! `be_server_timeout`, `be_tunnel_timeout`, `cur_server_timeout`, `cur_tunnel_timeout`, `fe_client_timeout`,
//! `capture.req.method`, `capture.req.uri`, `capture.req.ver`, `capture.res.ver`, `req.ver`, `res.ver`,
//! `http_first_req`, `url_param`/`urlp`, `req.cook`/`cook`, `res.cook`/`scook`, `req.cook_cnt`, `res.cook_cnt`, `date`,
//! `date_us`, `rand`, `uuid`, `req.len`, `req.payload`, `req.body`, `req.body_param`, `res.len`, `res.payload`, `req.hdr_ip`/`hdr_ip`, and the stick table fetches
//! `sc_*`, `sc0_*`..`sc2_*`, `src_*`, `table_avl`, `table_cnt` (`stick.rs`; the proxy answers them through
//! [`Context::stick`]).
//!
//! Converters: `lower`, `upper`, `length`, `base64`, `b64dec`, `ub64enc`, `ub64dec`, `url_dec`,
//! `url_enc`, `hex`, `hex2i`, `bytes`, `field`, `word`, `regsub`, `json`, `add`, `sub`, `mul`, `div`,
//! `mod`, `and`, `or`, `xor`, `neg`, `cpl`, `bool`, `not`, `odd`, `even`, `concat`, `add_item`,
//! `strcmp`, `secure_memcmp`, `crc32`, `crc32c`, `djb2`, `sdbm`, `wt6`, `xxh32`, `xxh64`, `xxh3`,
//! `sha1`, `sha2`, `digest`, `ipmask`, `ltime`, `utime`, `http_date`, `be2dec`, `be2hex`, `ltrim`,
//! `rtrim`, `cut_crlf`, `iif`, `htonl`, `hmac`, `fix_is_valid`, `fix_tag_value`, `mqtt_is_valid`,
//! `mqtt_field_value`, `set-var`, and the map converters (`map`, `map_str`, `map_beg`, `map_sub`, `map_dir`, `map_dom`,
//! `map_end`, `map_reg`, `map_regm`, `map_int`, `map_ip`, with `_int` and `_ip` output forms), whose files come
//! through a [`MapSource`] (`map.rs`), and the stick table converters `in_table` and `table_*`.

#![warn(missing_docs)]

mod args;
mod codec;
mod compile;
mod context;
mod conv;
mod error;
mod fetch;
pub use fetch::rdp_cookie;
mod fix;
mod hash;
mod http;
mod json_query;
mod logfmt;
mod map;
mod mqtt;
mod parse;
mod rawbytes;
mod stick;
mod text;
mod timefmt;
mod value;
mod vars;
pub mod x509name;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

pub use context::{BackendStat, Context, HeaderVisitor, IdOf, ServerStat, SslFetch, TimeoutFetch};
pub use error::Error;
pub use logfmt::{encode_http, Flags, LogFormat, Segment, VarRenderer};
pub use map::{
    parse_file, MapEntry, MapError, MapInfo, MapOut, MapSource, MapTable, Maps, MatchKind, NoMaps,
};
pub use rawbytes::{extend_raw, raw_byte_char, raw_bytes};
pub use stick::{StickFetch, StickTarget, StickWhat};
pub use value::{Type, Value};
pub use vars::{Scope, VarCondError, VarConds, VarName, VarNameError};

use conv::Conv;
use fetch::Fetch;
use parse::Mode;

/// What an expression needs from the stream it runs on, for the caller's placement checks
/// (HAProxy refuses `status` in `http-request` rules, for instance).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// It reads the response (`status`, `res.hdr`, `res.cook`, ...).
    pub response: bool,
    /// It reads the chosen backend (`be_name`).
    pub backend: bool,
    /// It reads the chosen server (`srv_name`).
    pub server: bool,
    /// It reads the request's URI, headers or cookies, which HAProxy no longer offers to
    /// `http-response` rules (`method` stays available).
    pub request: bool,
    /// It reads HTTP data (method, URI, headers, cookies, status).
    pub http: bool,
    /// It reads the buffered request bytes (`req.len`, `req.payload`), which only content rules see.
    pub content: bool,
    /// It reads the buffered response bytes (`res.len`, `res.payload`), which only `tcp-response content`
    /// rules see.
    pub response_content: bool,
    /// It reads a variable (`var()`).
    pub vars: bool,
    /// It reads the connection to the server (`ssl_bc*`), which HAProxy offers once it is made.
    pub server_conn: bool,
}

/// A compiled sample expression: a fetch followed by converters.
#[derive(Debug, Clone)]
pub struct Expr {
    fetch: Fetch,
    convs: Vec<Conv>,
    out_type: Type,
    source: String,
}

impl Expr {
    /// Parses and compiles `text`, which must hold one expression and nothing else.
    pub fn parse(text: &str) -> Result<Expr, Error> {
        Expr::parse_with(text, &mut NoMaps)
    }

    /// As [`Expr::parse`], with the map files of `map*` converters taken from `maps`.
    pub fn parse_with(text: &str, maps: &mut dyn MapSource) -> Result<Expr, Error> {
        let raw = parse::parse_raw(text, Mode::Whole)?;
        Expr::from_raw(text, &raw, maps)
    }

    /// Parses the expression at the start of `text`, stopping before the first character that
    /// cannot continue it (a space, a `]`...); returns it with the number of bytes used. This is
    /// how `%[...]` and configuration words followed by other words are read.
    pub fn parse_prefix(text: &str) -> Result<(Expr, usize), Error> {
        Expr::parse_prefix_with(text, &mut NoMaps)
    }

    /// As [`Expr::parse_prefix`], with the map files of `map*` converters taken from `maps`.
    pub fn parse_prefix_with(text: &str, maps: &mut dyn MapSource) -> Result<(Expr, usize), Error> {
        let raw = parse::parse_raw(text, Mode::Prefix)?;
        let end = raw.end;
        Ok((Expr::from_raw(&text[..end], &raw, maps)?, end))
    }

    fn from_raw(
        text: &str,
        raw: &parse::RawExpr<'_>,
        maps: &mut dyn MapSource,
    ) -> Result<Expr, Error> {
        let c = compile::compile(raw, maps)?;
        Ok(Expr {
            fetch: c.fetch,
            convs: c.convs,
            out_type: c.out_type,
            source: text.trim_end_matches(',').to_string(),
        })
    }

    /// Evaluates the expression; `None` when the sample is absent (a missing header, a failed
    /// cast, a converter refusing its input).
    pub fn eval<'a, C: Context + ?Sized>(&'a self, ctx: &'a C) -> Option<Value<'a>> {
        let mut v = self.fetch.eval(ctx)?;
        for c in &self.convs {
            v = c.apply(v.cast(c.in_type())?, ctx)?;
        }
        Some(v)
    }

    /// Evaluates the expression the way an ACL does, calling `match_one` with each result until it answers true
    /// (then returned): a header or cookie fetch without an occurrence gives each of its values in turn, each
    /// through the converters; a value a cast or converter refuses is skipped.
    pub fn any<'a, C: Context + ?Sized>(
        &'a self,
        ctx: &'a C,
        match_one: &mut dyn FnMut(Value<'a>) -> bool,
    ) -> bool {
        self.fetch.each(ctx, &mut |mut v| {
            for c in &self.convs {
                match v.cast(c.in_type()).and_then(|x| c.apply(x, ctx)) {
                    Some(n) => v = n,
                    None => return false,
                }
            }
            match_one(v)
        })
    }

    /// Evaluates the expression and renders it as a string, the way `%[...]` prints it
    /// ([`Value::as_str_bytes`]).
    pub fn eval_to_string<'a, C: Context + ?Sized>(&'a self, ctx: &'a C) -> Option<Cow<'a, [u8]>> {
        Some(self.eval(ctx)?.into_str_bytes())
    }

    /// The type the expression declares it returns (`any` after `var()` without converters).
    pub fn output_type(&self) -> Type {
        self.out_type
    }

    /// The expression as written (trailing commas dropped).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The name of the fetch.
    pub fn fetch_name(&self) -> &str {
        let end = self
            .source
            .bytes()
            .position(|c| !parse::is_idchar(c))
            .unwrap_or(self.source.len());
        &self.source[..end]
    }

    /// Whether the expression's sample may still change as more request bytes arrive (HAProxy's
    /// `SMP_F_MAY_CHANGE`): a content rule whose condition does not match waits for them only then. Known to be
    /// settled: `req.payload(OFFSET,LENGTH)` once those bytes are there, `req.rdp_cookie*` once the cookie
    /// line is complete or the bytes are not an RDP cookie; any other content fetch may change.
    pub fn may_still_change(&self, ctx: &dyn Context) -> bool {
        match &self.fetch {
            Fetch::Payload { offset, length } if *length > 0 => ctx
                .payload()
                .is_none_or(|b| (b.len() as u64) < u64::from(*offset) + u64::from(*length)),
            Fetch::RdpCookie { name, .. } => ctx
                .payload()
                .is_none_or(|b| fetch::rdp_cookie(b, name.as_deref()).is_none()),
            Fetch::PayloadLv {
                len_offset,
                len_size,
                start,
                response,
            } => fetch::buffered(ctx, *response)
                .is_none_or(|b| !fetch::payload_lv_settled(b, *len_offset, *len_size, *start)),
            Fetch::SslHelloType { response } => fetch::buffered(ctx, *response)
                .is_none_or(|b| matches!(fetch::ssl_hello_type(b), Ok(None))),
            _ => true,
        }
    }

    /// What the expression reads from the stream.
    pub fn needs(&self) -> Needs {
        let f = &self.fetch;
        Needs {
            response: f.reads_response(),
            request: f.reads_request(),
            backend: matches!(f, Fetch::BeName | Fetch::Id(IdOf::Backend)),
            server: matches!(f, Fetch::SrvName | Fetch::Id(IdOf::Server)),
            content: matches!(
                f,
                Fetch::Payload { .. }
                    | Fetch::RdpCookie { .. }
                    | Fetch::PayloadLv {
                        response: false,
                        ..
                    }
                    | Fetch::SslHelloType { response: false }
            ),
            response_content: matches!(
                f,
                Fetch::ResLen
                    | Fetch::ResPayload { .. }
                    | Fetch::PayloadLv { response: true, .. }
                    | Fetch::SslHelloType { response: true }
            ),
            vars: matches!(f, Fetch::Var { .. }),
            server_conn: matches!(f, Fetch::Ssl(s) | Fetch::SslDn { fetch: s, .. } if s.is_backend()),
            http: matches!(
                f,
                Fetch::Method
                    | Fetch::HttpFirstReq
                    | Fetch::HttpAuthType
                    | Fetch::HttpAuthUser
                    | Fetch::HttpAuthPass
                    | Fetch::HttpAuth(_)
                    | Fetch::HttpAuthGroup(_)
                    | Fetch::Path { .. }
                    | Fetch::Query
                    | Fetch::Url
                    | Fetch::Base { .. }
                    | Fetch::Hdr { .. }
                    | Fetch::HdrIp { .. }
                    | Fetch::HdrCnt { .. }
                    | Fetch::Status
                    | Fetch::UrlParam { .. }
                    | Fetch::Cook { .. }
                    | Fetch::CookCnt { .. }
                    | Fetch::CookVal { .. }
                    | Fetch::Base32 { .. }
                    | Fetch::ReqHdrs
                    | Fetch::CaptureMethod
                    | Fetch::CaptureUri
                    | Fetch::Ver { .. }
                    | Fetch::ReqBody
                    | Fetch::BodyParam { .. }
                    | Fetch::CaptureHdr { .. }
            ),
        }
    }
}

impl FromStr for Expr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Expr, Error> {
        Expr::parse(s)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}
