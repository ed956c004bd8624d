//! Name resolution: from the cut text ([`crate::parse`]) to typed [`Fetch`] and [`Conv`] values,
//! with arguments parsed and checked (integers, addresses, masks, regexes, variable names,
//! keywords such as `json`'s input mode), and the load-time type check of the chain. Generic
//! argument rules live in [`crate::args`]; the checks particular to a keyword live here.

use std::net::{Ipv4Addr, Ipv6Addr};

use regex::bytes::RegexBuilder;

use crate::args::{args, Kind};
use crate::codec;
use crate::codec::JsonInput;
use crate::context::{BackendStat, IdOf, ServerStat, TimeoutFetch};
use crate::conv::{ArithOp, Conv, DigestAlg, Hash32, HmacKey};
use crate::error::Error;
use crate::fetch::{Dir, Fetch, MAX_HDR_HISTORY};
use crate::map::MapSource;
use crate::parse::{RawCall, RawExpr};
use crate::text;
use crate::timefmt::Format;
use crate::value::Type;
use crate::vars::VarName;
use crate::{fix, mqtt};

use Kind::{Int as I, Ipv4 as V4, Ipv6 as V6, Mask4 as M4, Mask6 as M6, Str as S};

/// Fetches HAProxy 2.6 has that fulcrum does not implement (exact names, then prefixes).
const UNSUPPORTED_FETCHES: &[&str] = &[
    "baseq",
    "be_sess_rate",
    "cookie",
    "hdr_val",
    "hostname",
    "http_auth_bearer",
    "nbproc",
    "proc",
    "req.body_len",
    "req.body_size",
    "req.proto_http",
    "res.body",
    "set-cookie",
    "stopping",
    "thread",
    "url32",
    "url32+src",
    "url_ip",
    "url_port",
    "urlp_val",
];
const UNSUPPORTED_FETCH_PREFIXES: &[&str] = &[
    "ssl_", "sc_", "sc0_", "sc1_", "sc2_", "src_", "table_", "fc_", "bc_", "req.ssl_", "res.ssl_",
    "51d.", "da-", "wurfl-", "so_", "quic_", "lat_", "cpu_",
];
/// Converters HAProxy 2.6 has that fulcrum does not implement.
const UNSUPPORTED_CONVERTERS: &[&str] = &[
    "51d.single",
    "aes_gcm_dec",
    "capture-req",
    "capture-res",
    "da-csv-conv",
    "debug",
    "host_only",
    "in_table",
    "jwt_header_query",
    "jwt_payload_query",
    "jwt_verify",
    "language",
    "nbsrv",
    "port_only",
    "protobuf",
    "ungrpc",
    "unset-var",
];
const UNSUPPORTED_CONVERTER_PREFIXES: &[&str] = &["table_"];

fn unknown_fetch(call: &RawCall<'_>) -> Error {
    let n = call.name;
    if UNSUPPORTED_FETCHES.contains(&n)
        || UNSUPPORTED_FETCH_PREFIXES.iter().any(|p| n.starts_with(p))
    {
        Error::Unsupported {
            kind: "fetch method",
            name: n.to_string(),
            at: call.at,
        }
    } else {
        Error::UnknownFetch {
            name: n.to_string(),
            at: call.at,
        }
    }
}

fn unknown_conv(call: &RawCall<'_>) -> Error {
    let n = call.name;
    if UNSUPPORTED_CONVERTERS.contains(&n)
        || UNSUPPORTED_CONVERTER_PREFIXES
            .iter()
            .any(|p| n.starts_with(p))
    {
        Error::Unsupported {
            kind: "converter",
            name: n.to_string(),
            at: call.at,
        }
    } else {
        Error::UnknownConverter {
            name: n.to_string(),
            at: call.at,
        }
    }
}

/// Resolves a fetch and its arguments.
pub(crate) fn fetch(call: &RawCall<'_>) -> Result<Fetch, Error> {
    let hdr = |dir: Dir, full: bool| -> Result<Fetch, Error> {
        let a = args(call, &[S, I], 0)?;
        let occ = a.int(1).unwrap_or(0);
        if occ < -(MAX_HDR_HISTORY as i64) {
            return Err(a.bad(
                1,
                format!("header occurrence must be >= -{MAX_HDR_HISTORY}"),
            ));
        }
        Ok(Fetch::Hdr {
            dir,
            name: a.str(0).map(|s| s.as_bytes().into()),
            occ,
            full,
        })
    };
    let hdr_cnt = |dir: Dir, full: bool| -> Result<Fetch, Error> {
        let a = args(call, &[S], 0)?;
        Ok(Fetch::HdrCnt {
            dir,
            name: a.str(0).map(|s| s.as_bytes().into()),
            full,
        })
    };
    let cook = |dir: Dir, count: bool| -> Result<Fetch, Error> {
        let a = args(call, &[S], 0)?;
        let name = a.bytes(0);
        Ok(if count {
            Fetch::CookCnt { dir, name }
        } else {
            Fetch::Cook { dir, name }
        })
    };
    let simple = |f: Fetch| -> Result<Fetch, Error> {
        args(call, &[], 0)?;
        Ok(f)
    };
    if let Some(f) = crate::context::SslFetch::by_name(call.name) {
        if f.is_dn() {
            // `([entry[,occurrence[,format]]])`: one attribute's value, or the whole name in a format.
            let a = args(call, &[S, I, S], 0)?;
            let rfc2253 = match a.str(2).unwrap_or_default() {
                "" => false,
                "rfc2253" => true,
                _ => {
                    return Err(a.bad(
                        2,
                        "only rfc2253 or a blank value are supported as the format argument",
                    ))
                }
            };
            let entry = a.bytes(0);
            return Ok(Fetch::SslDn {
                fetch: f,
                occ: a.int(1).unwrap_or(if entry.is_empty() { 0 } else { 1 }),
                entry: (!entry.is_empty()).then_some(entry),
                rfc2253,
            });
        }
        return simple(Fetch::Ssl(f));
    }
    match call.name {
        "str" => Ok(Fetch::Str(args(call, &[S], 1)?.bytes(0))),
        "int" => Ok(Fetch::Int(args(call, &[I], 1)?.int(0).unwrap_or(0))),
        "bool" => {
            let a = args(call, &[S], 1)?;
            match a.str(0).unwrap_or_default().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Fetch::Bool(true)),
                "false" | "0" => Ok(Fetch::Bool(false)),
                _ => Err(a.bad(0, "expected 'true', 'false', '0' or '1'")),
            }
        }
        "always_true" => simple(Fetch::Bool(true)),
        "always_false" => simple(Fetch::Bool(false)),
        "ipv4" => Ok(Fetch::Ipv4(
            args(call, &[V4], 1)?
                .ipv4(0)
                .unwrap_or(Ipv4Addr::UNSPECIFIED),
        )),
        "ipv6" => Ok(Fetch::Ipv6(
            args(call, &[V6], 1)?
                .ipv6(0)
                .unwrap_or(Ipv6Addr::UNSPECIFIED),
        )),
        "bin" => {
            let a = args(call, &[S], 1)?;
            let s = a.str(0).unwrap_or_default();
            if s.is_empty() || s.len() % 2 != 0 {
                return Err(a.bad(0, "expected an even, non-zero number of hexadecimal digits"));
            }
            let bytes: Option<Vec<u8>> = s
                .as_bytes()
                .chunks(2)
                .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
                .collect();
            match bytes {
                Some(b) => Ok(Fetch::Bin(b.into())),
                None => Err(a.bad(0, "expected hexadecimal digits")),
            }
        }
        "meth" => {
            let a = args(call, &[S], 1)?;
            let m = a.str(0).unwrap_or_default();
            let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
            if !m.bytes().all(token) {
                return Err(a.bad(0, "expected an HTTP method (a token)"));
            }
            Ok(Fetch::Meth(m.as_bytes().into()))
        }
        "var" => {
            let a = args(call, &[S, S], 1)?;
            Ok(Fetch::Var {
                name: a.var(0)?,
                default: a.str(1).map(|s| s.as_bytes().into()),
            })
        }
        "env" => Ok(Fetch::Env(
            args(call, &[S], 1)?.str(0).unwrap_or_default().into(),
        )),
        "method" => simple(Fetch::Method),
        "path" => simple(Fetch::Path { with_query: false }),
        "pathq" => simple(Fetch::Path { with_query: true }),
        "query" => simple(Fetch::Query),
        "url" => simple(Fetch::Url),
        "base" => simple(Fetch::Base { with_query: false }),
        "req.hdr" => hdr(Dir::Req, false),
        "hdr" => hdr(Dir::Current, false),
        "res.hdr" | "shdr" => hdr(Dir::Res, false),
        "req.fhdr" => hdr(Dir::Req, true),
        "req.hdr_ip" | "hdr_ip" => match hdr(Dir::Req, false)? {
            Fetch::Hdr {
                name: Some(name),
                occ,
                ..
            } => Ok(Fetch::HdrIp { name, occ }),
            _ => Err(Error::UnknownFetch {
                name: call.name.to_string(),
                at: call.at,
            }),
        },
        "res.fhdr" => hdr(Dir::Res, true),
        "req.hdr_cnt" | "hdr_cnt" => hdr_cnt(Dir::Req, false),
        "res.hdr_cnt" | "shdr_cnt" => hdr_cnt(Dir::Res, false),
        "req.fhdr_cnt" => hdr_cnt(Dir::Req, true),
        "res.fhdr_cnt" => hdr_cnt(Dir::Res, true),
        "status" => simple(Fetch::Status),
        "src" => simple(Fetch::Src),
        "src_port" => simple(Fetch::SrcPort),
        "dst" => simple(Fetch::Dst),
        "dst_port" => simple(Fetch::DstPort),
        "fe_name" => simple(Fetch::FeName),
        "be_name" => simple(Fetch::BeName),
        "srv_name" => simple(Fetch::SrvName),
        "fe_id" => simple(Fetch::Id(IdOf::Frontend)),
        "be_id" => simple(Fetch::Id(IdOf::Backend)),
        "srv_id" => simple(Fetch::Id(IdOf::Server)),
        "so_id" => simple(Fetch::Id(IdOf::Listener)),
        "so_name" => simple(Fetch::SoName),
        "base32" => simple(Fetch::Base32 { with_src: false }),
        "base32+src" => simple(Fetch::Base32 { with_src: true }),
        "req.hdrs" => simple(Fetch::ReqHdrs),
        "capture.req.method" => simple(Fetch::CaptureMethod),
        "req.ver" | "req_ver" => simple(Fetch::Ver {
            response: false,
            captured: false,
        }),
        "res.ver" | "resp_ver" => simple(Fetch::Ver {
            response: true,
            captured: false,
        }),
        "capture.req.ver" => simple(Fetch::Ver {
            response: false,
            captured: true,
        }),
        "capture.res.ver" => simple(Fetch::Ver {
            response: true,
            captured: true,
        }),
        "capture.req.uri" => simple(Fetch::CaptureUri),
        "last_rule_file" => simple(Fetch::LastRuleFile),
        "last_rule_line" => simple(Fetch::LastRuleLine),
        "fe_conn" => {
            let a = args(call, &[S], 0)?;
            if a.str(0).is_some() {
                return Err(a.bad(0, "a frontend name is not supported yet by fulcrum"));
            }
            Ok(Fetch::FeConn)
        }
        "nbsrv" | "be_conn" | "connslots" => {
            let a = args(call, &[S], 0)?;
            let backend = match a.str(0) {
                None => None,
                Some("") => return Err(a.bad(0, "expected a backend name")),
                Some(b) => Some(b.into()),
            };
            let stat = match call.name {
                "nbsrv" => BackendStat::UsableServers,
                "connslots" => BackendStat::Slots,
                _ => BackendStat::Conns,
            };
            Ok(Fetch::BeStat { backend, stat })
        }
        "be_server_timeout" => simple(Fetch::Timeout(TimeoutFetch::BeServer)),
        "be_tunnel_timeout" => simple(Fetch::Timeout(TimeoutFetch::BeTunnel)),
        "cur_server_timeout" => simple(Fetch::Timeout(TimeoutFetch::CurServer)),
        "cur_tunnel_timeout" => simple(Fetch::Timeout(TimeoutFetch::CurTunnel)),
        "fe_client_timeout" => simple(Fetch::Timeout(TimeoutFetch::FeClient)),
        "srv_conn" | "srv_is_up" | "srv_queue" | "srv_sess_rate" => {
            let a = args(call, &[S], 1)?;
            let text = a.str(0).unwrap_or_default();
            let (backend, server) = match text.split_once('/') {
                Some((b, s)) => (Some(b), s),
                None => (None, text),
            };
            if server.is_empty() || backend == Some("") {
                return Err(a.bad(0, "expected [BACKEND/]SERVER"));
            }
            let stat = match call.name {
                "srv_conn" => ServerStat::Conns,
                "srv_is_up" => ServerStat::IsUp,
                "srv_queue" => ServerStat::Queue,
                _ => ServerStat::SessRate,
            };
            Ok(Fetch::SrvStat {
                backend: backend.map(Into::into),
                server: server.into(),
                stat,
            })
        }
        "uuid" => {
            let a = args(call, &[I], 0)?;
            match a.int(0) {
                None | Some(4) => Ok(Fetch::Uuid),
                Some(_) => Err(a.bad(0, "only version 4 is supported")),
            }
        }
        "req.cook_val" | "cook_val" => Ok(Fetch::CookVal {
            name: args(call, &[S], 0)?.bytes(0),
        }),
        "http_first_req" => simple(Fetch::HttpFirstReq),
        "internal.strm.is_htx" => simple(Fetch::IsHtx),
        "unique-id" => simple(Fetch::UniqueId),
        "res.comp" => simple(Fetch::ResComp),
        "res.comp_algo" => simple(Fetch::ResCompAlgo),
        "req.body" => simple(Fetch::ReqBody),
        // haproxy 2.6 takes the name only (no `i` flag yet).
        "req.body_param" => Ok(Fetch::BodyParam {
            name: args(call, &[S], 0)?.bytes(0),
        }),
        "capture.req.hdr" | "capture.res.hdr" => {
            let a = args(call, &[I], 1)?;
            let idx = a
                .int(0)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| a.bad(0, "expected a capture slot number (0 or more)"))?;
            Ok(Fetch::CaptureHdr {
                response: call.name == "capture.res.hdr",
                idx,
            })
        }
        "http_auth_type" => simple(Fetch::HttpAuthType),
        "http_auth_user" => simple(Fetch::HttpAuthUser),
        "http_auth_pass" => simple(Fetch::HttpAuthPass),
        "http_auth" | "http_auth_group" => {
            let a = args(call, &[S], 1)?;
            let list: Box<str> = a.str(0).unwrap_or_default().into();
            Ok(if call.name == "http_auth" {
                Fetch::HttpAuth(list)
            } else {
                Fetch::HttpAuthGroup(list)
            })
        }
        "fc_rcvd_proxy" => simple(Fetch::FcRcvdProxy),
        "fc_err" => simple(Fetch::FcErr),
        "fc_pp_authority" => simple(Fetch::FcPpTlv(0x02)),
        "fc_pp_unique_id" => simple(Fetch::FcPpTlv(0x05)),
        "url_param" | "urlp" => {
            let a = args(call, &[S, S], 0)?;
            let delim = match a.str(1) {
                None => b'?',
                Some(d) => *d
                    .as_bytes()
                    .first()
                    .ok_or_else(|| a.bad(1, "expected a delimiter character"))?,
            };
            Ok(Fetch::UrlParam {
                name: a.bytes(0),
                delim,
            })
        }
        "req.cook" | "cook" => cook(Dir::Req, false),
        "res.cook" | "scook" => cook(Dir::Res, false),
        "req.cook_cnt" | "cook_cnt" => cook(Dir::Req, true),
        "res.cook_cnt" | "scook_cnt" => cook(Dir::Res, true),
        "date" => {
            let a = args(call, &[I, S], 0)?;
            Ok(Fetch::Date {
                offset: a.int(0).unwrap_or(0),
                unit: a.unit(1)?,
            })
        }
        "date_us" => simple(Fetch::DateUs),
        "rand" => Ok(Fetch::Rand(args(call, &[I], 0)?.int(0))),
        "req.len" | "req_len" => simple(Fetch::ReqLen),
        "req.payload" | "payload" | "res.payload" => {
            let a = args(call, &[I, I], 2)?;
            let num = |i: usize| -> Result<u32, Error> {
                a.int(i)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| a.bad(i, "expected a number between 0 and 4294967295"))
            };
            Ok(if call.name == "res.payload" {
                Fetch::ResPayload {
                    offset: num(0)?,
                    length: num(1)?,
                }
            } else {
                Fetch::Payload {
                    offset: num(0)?,
                    length: num(1)?,
                }
            })
        }
        "res.len" => simple(Fetch::ResLen),
        "payload_lv" | "req.payload_lv" | "res.payload_lv" => {
            let a = args(call, &[I, I, S], 2)?;
            let num = |i: usize| -> Result<u32, Error> {
                a.int(i)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| a.bad(i, "expected a number between 0 and 4294967295"))
            };
            let len_size = num(1)?;
            if len_size == 0 || len_size > 8 {
                return Err(a.bad(1, "the length's size must be between 1 and 8 bytes"));
            }
            // The third argument may be relative to the end of the length: `+N` / `-N`.
            let start = match a.str(2).filter(|t| !t.is_empty()) {
                None => None,
                Some(t) => {
                    let n: i64 = t
                        .parse()
                        .map_err(|_| a.bad(2, "expected an offset ('N', '+N' or '-N')"))?;
                    Some((t.starts_with(['+', '-']), n))
                }
            };
            Ok(Fetch::PayloadLv {
                len_offset: num(0)?,
                len_size,
                start,
                response: call.name == "res.payload_lv",
            })
        }
        "req.ssl_hello_type" | "req_ssl_hello_type" => {
            simple(Fetch::SslHelloType { response: false })
        }
        "res.ssl_hello_type" | "rep_ssl_hello_type" => {
            simple(Fetch::SslHelloType { response: true })
        }
        "req.rdp_cookie" | "rdp_cookie" | "req_rdp_cookie" | "req.rdp_cookie_cnt"
        | "rdp_cookie_cnt" | "req_rdp_cookie_cnt" => {
            let a = args(call, &[S], 0)?;
            Ok(Fetch::RdpCookie {
                name: a.str(0).map(|n| n.as_bytes().into()),
                count: call.name.ends_with("_cnt"),
            })
        }
        _ => match crate::stick::fetch(call) {
            Some(r) => r.map(Fetch::Stick),
            None => Err(unknown_fetch(call)),
        },
    }
}

/// Resolves a converter and its arguments.
pub(crate) fn conv(call: &RawCall<'_>, maps: &mut dyn MapSource) -> Result<Conv, Error> {
    let simple = |c: Conv| -> Result<Conv, Error> {
        args(call, &[], 0)?;
        Ok(c)
    };
    let arith = |op: ArithOp| -> Result<Conv, Error> {
        let a = args(call, &[S], 1)?;
        Ok(Conv::Arith(op, a.int_or_var(0)?))
    };
    let hash = |h: Hash32| -> Result<Conv, Error> {
        let a = args(call, &[I], 0)?;
        Ok(Conv::Hash32(h, a.int(0).unwrap_or(0) != 0))
    };
    let field = |word: bool| -> Result<Conv, Error> {
        let a = args(call, &[I, S, I], 2)?;
        let index = a.int(0).unwrap_or(0);
        if index == 0 {
            return Err(a.bad(0, "the index counts from 1 (or from -1 at the end), not 0"));
        }
        let delims = a.bytes(1);
        if delims.is_empty() {
            return Err(a.bad(1, "the list of delimiters is empty"));
        }
        let count = a.int(2).unwrap_or(1);
        Ok(if word {
            Conv::Word {
                index,
                delims,
                count,
            }
        } else {
            Conv::Field {
                index,
                delims,
                count,
            }
        })
    };
    let time = |local: bool| -> Result<Conv, Error> {
        let a = args(call, &[S, I], 1)?;
        Ok(Conv::Time {
            local,
            format: Format::compile(a.str(0).unwrap_or_default().as_bytes()),
            offset: a.int(1).unwrap_or(0),
        })
    };
    match call.name {
        "lower" => simple(Conv::Lower),
        "upper" => simple(Conv::Upper),
        "length" => simple(Conv::Length),
        "base64" => simple(Conv::Base64),
        "b64dec" => simple(Conv::B64Dec),
        "ub64enc" => simple(Conv::Ub64Enc),
        "ub64dec" => simple(Conv::Ub64Dec),
        "url_dec" => Ok(Conv::UrlDec {
            in_form: args(call, &[I], 0)?.int(0).unwrap_or(0) != 0,
        }),
        "url_enc" => {
            let a = args(call, &[S], 1)?;
            match a.str(0) {
                None | Some("") | Some("query") => Ok(Conv::UrlEnc),
                Some(_) => Err(a.bad(0, "the only encoding is 'query'")),
            }
        }
        "hex" => simple(Conv::Hex),
        "hex2i" => simple(Conv::Hex2i),
        "bytes" => {
            let a = args(call, &[I, I], 1)?;
            Ok(Conv::Bytes {
                offset: a.int(0).unwrap_or(0),
                length: a.int(1),
            })
        }
        "field" => field(false),
        "word" => field(true),
        "regsub" => {
            let a = args(call, &[S, S, S], 2)?;
            let flags = a.str(2).unwrap_or_default();
            if let Some(f) = flags.chars().find(|c| !matches!(c, 'i' | 'g')) {
                return Err(a.bad(
                    2,
                    format!("invalid flag '{f}', only 'i' and 'g' are supported"),
                ));
            }
            let re = RegexBuilder::new(a.str(0).unwrap_or_default())
                .case_insensitive(flags.contains('i'))
                .unicode(false)
                .build()
                .map_err(|e| a.bad(0, format!("invalid or unsupported regex: {e}")))?;
            let subst = text::compile_subst(a.str(1).unwrap_or_default().as_bytes())
                .map_err(|e| a.bad(1, e))?;
            Ok(Conv::Regsub {
                re,
                subst,
                global: flags.contains('g'),
            })
        }
        "json" => {
            let a = args(call, &[S], 1)?;
            JsonInput::parse(a.str(0).unwrap_or_default())
                .map(Conv::Json)
                .ok_or_else(|| a.bad(0, "expected 'ascii', 'utf8', 'utf8s', 'utf8p' or 'utf8ps'"))
        }
        "add" => arith(ArithOp::Add),
        "sub" => arith(ArithOp::Sub),
        "mul" => arith(ArithOp::Mul),
        "div" => arith(ArithOp::Div),
        "mod" => arith(ArithOp::Mod),
        "and" => arith(ArithOp::And),
        "or" => arith(ArithOp::Or),
        "xor" => arith(ArithOp::Xor),
        "neg" => simple(Conv::Neg),
        "cpl" => simple(Conv::Cpl),
        "bool" => simple(Conv::Bool),
        "not" => simple(Conv::Not),
        "odd" => simple(Conv::Odd),
        "even" => simple(Conv::Even),
        "set-var" => {
            let list = call.args.as_ref().map(|a| &a.list[..]).unwrap_or(&[]);
            let a = args(call, &vec![S; list.len().max(1)], 1)?;
            let conds = crate::vars::VarConds::parse((1..list.len()).filter_map(|i| a.str(i)))
                .map_err(|e| a.bad(1, e.to_string()))?;
            Ok(Conv::SetVar(a.var(0)?, conds))
        }
        "concat" => {
            let a = args(call, &[S, S, S], 1)?;
            Ok(Conv::Concat {
                start: a.bytes(0),
                var: a.opt_var(1)?,
                end: a.bytes(2),
            })
        }
        "add_item" => {
            let a = args(call, &[S, S, S], 2)?;
            let var = a.opt_var(1)?;
            let suffix = a.bytes(2);
            if var.is_none() && suffix.is_empty() {
                return Err(a.bad(1, "a variable or a suffix is needed"));
            }
            Ok(Conv::AddItem {
                delim: a.bytes(0),
                var,
                suffix,
            })
        }
        "strcmp" => Ok(Conv::Strcmp(args(call, &[S], 1)?.var(0)?)),
        "secure_memcmp" => Ok(Conv::SecureMemcmp(args(call, &[S], 1)?.var(0)?)),
        "crc32" => hash(Hash32::Crc32),
        "crc32c" => hash(Hash32::Crc32c),
        "djb2" => hash(Hash32::Djb2),
        "sdbm" => hash(Hash32::Sdbm),
        "wt6" => hash(Hash32::Wt6),
        "xxh32" => Ok(Conv::Xxh32(args(call, &[I], 0)?.int(0).unwrap_or(0) as u32)),
        "xxh64" => Ok(Conv::Xxh64(args(call, &[I], 0)?.int(0).unwrap_or(0) as u64)),
        "xxh3" => Ok(Conv::Xxh3(args(call, &[I], 0)?.int(0).unwrap_or(0) as u64)),
        "sha1" => simple(Conv::Digest(DigestAlg::Sha1)),
        "sha2" => {
            let a = args(call, &[I], 0)?;
            match a.int(0) {
                None | Some(0) | Some(256) => Ok(Conv::Digest(DigestAlg::Sha256)),
                Some(224) => Ok(Conv::Digest(DigestAlg::Sha224)),
                Some(384) => Ok(Conv::Digest(DigestAlg::Sha384)),
                Some(512) => Ok(Conv::Digest(DigestAlg::Sha512)),
                Some(_) => Err(a.bad(0, "expected 224, 256, 384 or 512 bits")),
            }
        }
        "digest" => {
            let a = args(call, &[S], 1)?;
            DigestAlg::from_name(a.str(0).unwrap_or_default())
                .map(Conv::Digest)
                .ok_or_else(|| {
                    a.bad(
                        0,
                        "expected md5, sha1, sha224, sha256, sha384, sha512, sha512-224 or sha512-256",
                    )
                })
        }
        "ipmask" => {
            let a = args(call, &[M4, M6], 1)?;
            Ok(Conv::IpMask {
                v4: a.ipv4(0).unwrap_or(Ipv4Addr::UNSPECIFIED),
                v6: a.ipv6(1),
            })
        }
        "ltime" => time(true),
        "utime" => time(false),
        "http_date" => {
            let a = args(call, &[I, S], 0)?;
            Ok(Conv::HttpDate {
                offset: a.int(0).unwrap_or(0),
                unit: a.unit(1)?,
            })
        }
        "be2dec" => {
            let a = args(call, &[S, I, I], 1)?;
            let chunk = a.int(1).unwrap_or(0);
            if !(1..=8).contains(&chunk) {
                return Err(a.bad(1, "the chunk size must be between 1 and 8"));
            }
            Ok(Conv::Be2Dec {
                sep: a.bytes(0),
                chunk: chunk as usize,
                truncate: a.flag01(2)?,
            })
        }
        "be2hex" => {
            let a = args(call, &[S, I, I], 0)?;
            let sep = a.bytes(0);
            let chunk = a.int(1).unwrap_or(0);
            let truncate = a.flag01(2)?;
            if chunk <= 0 && (!sep.is_empty() || truncate) {
                return Err(a.bad(1, "the chunk size must be positive"));
            }
            Ok(Conv::Be2Hex {
                sep,
                chunk: usize::try_from(chunk).unwrap_or(0).min(1 << 20),
                truncate,
            })
        }
        "ltrim" => Ok(Conv::Ltrim(args(call, &[S], 1)?.bytes(0))),
        "rtrim" => Ok(Conv::Rtrim(args(call, &[S], 1)?.bytes(0))),
        "cut_crlf" => simple(Conv::CutCrlf),
        "iif" => {
            let a = args(call, &[S, S], 2)?;
            Ok(Conv::Iif(a.bytes(0), a.bytes(1)))
        }
        "htonl" => simple(Conv::Htonl),
        "hmac" => {
            let a = args(call, &[S, S], 2)?;
            let alg = DigestAlg::from_name(a.str(0).unwrap_or_default()).ok_or_else(|| {
                a.bad(
                    0,
                    "expected md5, sha1, sha224, sha256, sha384, sha512, sha512-224 or sha512-256",
                )
            })?;
            let k = a.str(1).unwrap_or_default();
            let key = match k.parse::<VarName>() {
                Ok(v) => HmacKey::Var(v),
                Err(_) => match codec::base64_decode(k.as_bytes()) {
                    Some(b) if !k.is_empty() => HmacKey::Const(b.into()),
                    _ => {
                        return Err(a.bad(
                            1,
                            "expected a base64-encoded key or a variable name holding one",
                        ))
                    }
                },
            };
            Ok(Conv::Hmac { alg, key })
        }
        "json_query" => {
            let a = args(call, &[S, S], 1)?;
            let path =
                crate::json_query::parse_path(a.str(0).unwrap_or_default()).ok_or_else(|| {
                    a.bad(0, "expected a JSON path such as '$.key' or '$.list[0].key'")
                })?;
            let int = match a.str(1) {
                None => false,
                Some("int") => true,
                Some(_) => return Err(a.bad(1, "expected 'int'")),
            };
            Ok(Conv::JsonQuery { path, int })
        }
        "fix_is_valid" => simple(Conv::FixIsValid),
        "fix_tag_value" => {
            let a = args(call, &[S], 1)?;
            fix::tag_from_arg(a.str(0).unwrap_or_default())
                .map(Conv::FixTagValue)
                .ok_or_else(|| {
                    a.bad(
                        0,
                        "expected a tag number or one of BeginString, BodyLength, CheckSum, MsgType, SenderCompID, TargetCompID",
                    )
                })
        }
        "mqtt_is_valid" => simple(Conv::MqttIsValid),
        "mqtt_field_value" => {
            let a = args(call, &[S, S], 2)?;
            let ptype = mqtt::packet_type_from_arg(a.str(0).unwrap_or_default())
                .ok_or_else(|| a.bad(0, "expected 'connect', 'connack', 1 or 2"))?;
            let field =
                mqtt::field_from_arg(ptype, a.str(1).unwrap_or_default()).ok_or_else(|| {
                    a.bad(
                        1,
                        "not a field nor a property identifier of this packet type",
                    )
                })?;
            Ok(Conv::MqttFieldValue { ptype, field })
        }
        name => match crate::map::converter(name) {
            Some((kind, out)) => {
                let a = args(call, &[S, S], 1)?;
                let path = a.str(0).unwrap_or_default();
                if path.is_empty() {
                    return Err(a.bad(0, "expects a map file name"));
                }
                let default = match a.str(1) {
                    Some(d) => Some(out.value(d).map_err(|e| a.bad(1, e))?),
                    None => None,
                };
                let table = maps.map(path, kind, out).map_err(|e| a.bad(0, e))?;
                Ok(Conv::Map {
                    table,
                    default,
                    out,
                })
            }
            None => match crate::stick::converter(call) {
                Some(r) => r.map(Conv::Stick),
                None => Err(unknown_conv(call)),
            },
        },
    }
}

/// A resolved and type-checked expression.
pub(crate) struct Compiled {
    pub fetch: Fetch,
    pub convs: Vec<Conv>,
    pub out_type: Type,
}

/// Resolves every keyword of `raw` and checks that each converter's input can be reached from
/// the previous output.
pub(crate) fn compile(raw: &RawExpr<'_>, maps: &mut dyn MapSource) -> Result<Compiled, Error> {
    let fetch = fetch(&raw.fetch)?;
    let mut prev = fetch.out_type();
    let mut convs = Vec::with_capacity(raw.convs.len());
    for call in &raw.convs {
        let c = conv(call, maps)?;
        if !prev.casts_to(c.in_type()) {
            return Err(Error::CannotApply {
                converter: call.name.to_string(),
                input: prev,
                expected: c.in_type(),
                at: call.at,
            });
        }
        // `set-var` passes its input on unchanged
        if c.out_type() != Type::Any {
            prev = c.out_type();
        }
        convs.push(c);
    }
    Ok(Compiled {
        fetch,
        convs,
        out_type: prev,
    })
}
