//! The stick table fetches and converters: `sc_*`, `sc0_*`..`sc2_*`, `src_*`, `table_avl`, `table_cnt`, `in_table`,
//! `table_*`. The crate only names what is asked ([`StickFetch`]); the tables live in the proxy, which answers
//! through [`crate::Context::stick`].

use fulcrum_stick::DataType;

use crate::args::{args, Kind};
use crate::error::Error;
use crate::parse::RawCall;
use crate::value::Type;

/// Whose entry a stick fetch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StickTarget {
    /// The entry the stream tracks with stick counter N (`sc0_*`, `sc_*(N)`).
    Sc(u8),
    /// The entry of the client's address (`src_*`).
    Src,
    /// The table as a whole (`table_avl`, `table_cnt`).
    Table,
    /// The entry of the converter's input (`in_table`, `table_*`).
    Input,
}

/// What a stick fetch asks of the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StickWhat {
    /// A stored value (`conn_cnt`, `http_req_rate`, `get_gpc0`, ...).
    Data(DataType),
    /// `kbytes_in` / `kbytes_out`: the byte counter in kilobytes (`true`: in).
    Kbytes(bool),
    /// `inc_gpc0` / `inc_gpc1` (0 or 1): increments and answers the new value.
    IncGpc(u8),
    /// `clr_gpc0` / `clr_gpc1`: clears and answers the old value.
    ClrGpc(u8),
    /// `sc_tracked`: whether the counter tracks an entry.
    Tracked,
    /// `sc_trackers`, `table_trackers`: how many streams track the entry.
    Trackers,
    /// `src_updt_conn_cnt`: counts a connection for the client's address and answers the new count.
    UpdtConnCnt,
    /// `table_avl`: free entries.
    Avl,
    /// `table_cnt`: used entries.
    Cnt,
    /// `in_table`: whether the key is in the table.
    InTable,
    /// Element IDX of an array (`get_gpc(IDX,...)`, `get_gpt`, `gpc_rate`, `table_gpc(IDX,T)` ...).
    DataAt(DataType, u8),
    /// `inc_gpc(IDX,...)`: increments element IDX of `gpc` and `gpc_rate` and answers the new counter.
    IncGpcAt(u8),
    /// `clr_gpc(IDX,...)`: clears element IDX of `gpc` and answers the old value.
    ClrGpcAt(u8),
}

/// The array form of a fetch name (after `sc_`, `src_` ...): what it asks given the element index.
fn array_what(name: &str) -> Option<fn(u8) -> StickWhat> {
    Some(match name {
        "get_gpc" => |i| StickWhat::DataAt(DataType::Gpc, i),
        "get_gpt" => |i| StickWhat::DataAt(DataType::Gpt, i),
        "gpc_rate" => |i| StickWhat::DataAt(DataType::GpcRate, i),
        "inc_gpc" => StickWhat::IncGpcAt,
        "clr_gpc" => StickWhat::ClrGpcAt,
        _ => return None,
    })
}

/// An element index argument: 0 to 99.
fn element_index(a: &crate::args::Args<'_>, i: usize) -> Result<u8, Error> {
    match a.int(i) {
        Some(n @ 0..=99) => Ok(n as u8),
        _ => Err(a.bad(i, "expects an element index from 0 to 99")),
    }
}

/// A stick table fetch or converter, resolved at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickFetch {
    /// Whose entry.
    pub target: StickTarget,
    /// The table named in the arguments (`None`: the one tracked, or the proxy's own).
    pub table: Option<Box<str>>,
    /// What is read.
    pub what: StickWhat,
}

impl StickFetch {
    /// The type of the answer.
    pub fn out_type(&self) -> Type {
        match self.what {
            StickWhat::Tracked | StickWhat::InTable => Type::Bool,
            _ => Type::Int,
        }
    }
}

fn what(name: &str, target: StickTarget) -> Option<StickWhat> {
    use DataType as D;
    let data = |d| Some(StickWhat::Data(d));
    match name {
        "get_gpc0" => data(D::Gpc0),
        "get_gpc1" => data(D::Gpc1),
        "get_gpt0" => data(D::Gpt0),
        "gpc0_rate" => data(D::Gpc0Rate),
        "gpc1_rate" => data(D::Gpc1Rate),
        "conn_cnt" => data(D::ConnCnt),
        "conn_cur" => data(D::ConnCur),
        "conn_rate" => data(D::ConnRate),
        "sess_cnt" => data(D::SessCnt),
        "sess_rate" => data(D::SessRate),
        "http_req_cnt" => data(D::HttpReqCnt),
        "http_req_rate" => data(D::HttpReqRate),
        "http_err_cnt" => data(D::HttpErrCnt),
        "http_err_rate" => data(D::HttpErrRate),
        "http_fail_cnt" => data(D::HttpFailCnt),
        "http_fail_rate" => data(D::HttpFailRate),
        "bytes_in_rate" => data(D::BytesInRate),
        "bytes_out_rate" => data(D::BytesOutRate),
        "kbytes_in" => Some(StickWhat::Kbytes(true)),
        "kbytes_out" => Some(StickWhat::Kbytes(false)),
        "inc_gpc0" => Some(StickWhat::IncGpc(0)),
        "inc_gpc1" => Some(StickWhat::IncGpc(1)),
        "clr_gpc0" => Some(StickWhat::ClrGpc(0)),
        "clr_gpc1" => Some(StickWhat::ClrGpc(1)),
        "tracked" if matches!(target, StickTarget::Sc(_)) => Some(StickWhat::Tracked),
        "trackers" if matches!(target, StickTarget::Sc(_)) => Some(StickWhat::Trackers),
        "updt_conn_cnt" if target == StickTarget::Src => Some(StickWhat::UpdtConnCnt),
        _ => None,
    }
}

/// Resolves `sc_*`, `scN_*`, `src_*`, `table_avl` and `table_cnt`; `None` when the name is none of them.
pub(crate) fn fetch(call: &RawCall<'_>) -> Option<Result<StickFetch, Error>> {
    let n = call.name;
    if n == "table_avl" || n == "table_cnt" {
        let what = if n == "table_avl" {
            StickWhat::Avl
        } else {
            StickWhat::Cnt
        };
        return Some(table_arg(call, 0).map(|table| StickFetch {
            target: StickTarget::Table,
            table,
            what,
        }));
    }
    let (target, rest, first) = if let Some(r) = n.strip_prefix("sc_") {
        (StickTarget::Sc(u8::MAX), r, 1)
    } else if let Some(r) = n.strip_prefix("src_") {
        (StickTarget::Src, r, 0)
    } else {
        let r = n.strip_prefix("sc")?;
        let (d, r) = r.split_at_checked(1)?;
        let r = r.strip_prefix('_')?;
        (
            StickTarget::Sc(d.parse::<u8>().ok().filter(|d| *d < 3)?),
            r,
            0,
        )
    };
    if let Some(array) = array_what(rest) {
        // `sc_X(IDX,SC[,T])` and `src_X(IDX,T)` (haproxy 2.6.12 asks for the table there); no `scN_X` form
        if !matches!(target, StickTarget::Src) && first == 0 {
            return None;
        }
        return Some((|| {
            let mut target = target;
            let kinds: &[Kind] = if first == 1 {
                &[Kind::Int, Kind::Int, Kind::Str]
            } else {
                &[Kind::Int, Kind::Str]
            };
            let a = args(call, kinds, 2)?;
            let idx = element_index(&a, 0)?;
            if first == 1 {
                match a.int(1) {
                    Some(i @ 0..=255) => target = StickTarget::Sc(i as u8),
                    _ => return Err(a.bad(1, "expects a stick counter number (0, 1 or 2)")),
                }
            }
            let at = 1 + first;
            let table = match a.str(at) {
                None => None,
                Some("") => return Err(a.bad(at, "expects a table name")),
                Some(t) => Some(t.into()),
            };
            Ok(StickFetch {
                target,
                table,
                what: array(idx),
            })
        })());
    }
    let what = what(rest, target)?;
    Some((|| {
        let mut target = target;
        if first == 1 {
            let a = args(call, &[Kind::Int, Kind::Str], 1)?;
            match a.int(0) {
                // HAProxy takes any counter number here; one above 2 is never tracked.
                Some(i @ 0..=255) => target = StickTarget::Sc(i as u8),
                _ => return Err(a.bad(0, "expects a stick counter number (0, 1 or 2)")),
            }
        }
        let table = table_arg(call, first)?;
        Ok(StickFetch {
            target,
            table,
            what,
        })
    })())
}

fn table_arg(call: &RawCall<'_>, at: usize) -> Result<Option<Box<str>>, Error> {
    let kinds: &[Kind] = if at == 0 {
        &[Kind::Str]
    } else {
        &[Kind::Int, Kind::Str]
    };
    let a = args(call, kinds, at)?;
    Ok(match a.str(at) {
        None => None,
        Some("") => return Err(a.bad(at, "expects a table name")),
        Some(t) => Some(t.into()),
    })
}

/// Resolves `in_table(T)` and `table_*(T)`; `None` when the name is neither.
pub(crate) fn converter(call: &RawCall<'_>) -> Option<Result<StickFetch, Error>> {
    use DataType as D;
    let n = call.name;
    let what = if n == "in_table" {
        StickWhat::InTable
    } else if let Some(array) = n
        .strip_prefix("table_")
        .and_then(|r| array_what(&format!("get_{r}")).or_else(|| array_what(r)))
        .filter(|_| matches!(n, "table_gpc" | "table_gpt" | "table_gpc_rate"))
    {
        // `table_gpc(IDX,T)`, `table_gpt(IDX,T)`, `table_gpc_rate(IDX,T)`
        return Some((|| {
            let a = args(call, &[Kind::Int, Kind::Str], 2)?;
            let idx = element_index(&a, 0)?;
            let t = a.str(1).unwrap_or_default();
            if t.is_empty() {
                return Err(a.bad(1, "expects a table name"));
            }
            Ok(StickFetch {
                target: StickTarget::Input,
                table: Some(t.into()),
                what: array(idx),
            })
        })());
    } else {
        let d = match n.strip_prefix("table_")? {
            "trackers" => return Some(conv_with(call, StickWhat::Trackers)),
            "kbytes_in" => return Some(conv_with(call, StickWhat::Kbytes(true))),
            "kbytes_out" => return Some(conv_with(call, StickWhat::Kbytes(false))),
            "gpc0" => D::Gpc0,
            "gpc1" => D::Gpc1,
            "gpt0" => D::Gpt0,
            "server_id" => D::ServerId,
            other => other.parse::<DataType>().ok()?,
        };
        StickWhat::Data(d)
    };
    Some(conv_with(call, what))
}

fn conv_with(call: &RawCall<'_>, what: StickWhat) -> Result<StickFetch, Error> {
    let a = args(call, &[Kind::Str], 1)?;
    let t = a.str(0).unwrap_or_default();
    if t.is_empty() {
        return Err(a.bad(0, "expects a table name"));
    }
    Ok(StickFetch {
        target: StickTarget::Input,
        table: Some(t.into()),
        what,
    })
}
