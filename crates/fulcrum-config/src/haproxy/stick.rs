//! `stick-table` lines and the rule actions on tracked entries (`track-sc*`, `sc-inc-gpc0/1`, `sc-set-gpt0`).
//!
//! The table itself and its data types come from `fulcrum-stick`; this file reads the keywords and reports errors
//! with their line, in HAProxy's words where it has some. Which table a `table NAME` argument means is resolved by
//! the proxy when it builds its snapshot (every proxy must be known first).

use std::sync::Arc;

use fulcrum_stick::{DataType, KeyType, TableDef};

use super::common::{Line, Sink};
use super::model::{SampleExpr, StickAction, StickRule, StickTable};
use super::units;

/// Parses `stick-table type T [len N] size N[k|m|g] [expire T] [nopurge] [srvkey name|addr] [store D,...]`.
pub fn stick_table(line: &Line, proxy: &str, sink: &mut Sink) -> Option<StickTable> {
    let loc = &line.location;
    let kw = "stick-table";
    let err = |sink: &mut Sink, m: String| {
        sink.error(loc, kw, format!("stick-table: {m}."));
        None
    };
    let words: Vec<&str> = line.words.iter().map(String::as_str).collect();
    let mut key_type = None;
    let mut size = None;
    let mut expire = None;
    let mut nopurge = false;
    let mut srvkey_addr = false;
    let mut peers = None;
    let mut store: Vec<(DataType, u32)> = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let w = words[i];
        let next = words.get(i + 1).copied();
        match w {
            "type" => {
                let t = next.unwrap_or("");
                // HAProxy's keys are 32 bytes by default; a string's include its final NUL, so it holds 31
                // characters unless `len` says how many.
                let mut len = if t == "string" { 31 } else { 32 };
                let mut step = 2;
                if matches!(t, "string" | "binary") && words.get(i + 2) == Some(&"len") {
                    match words.get(i + 3).and_then(|n| n.parse::<usize>().ok()) {
                        Some(n) if n > 0 => len = n,
                        _ => {
                            return err(
                                sink,
                                format!("unknown type '{}'", words.get(i + 3).unwrap_or(&"")),
                            )
                        }
                    }
                    step = 4;
                }
                key_type = Some(match t {
                    "ip" | "ipv4" => KeyType::Ip,
                    "ipv6" => KeyType::Ipv6,
                    "integer" => KeyType::Integer,
                    "string" => KeyType::String(len),
                    "binary" => KeyType::Binary(len),
                    _ => return err(sink, format!("unknown type '{t}'")),
                });
                i += step;
                continue;
            }
            "size" => {
                let Some(n) = next.and_then(parse_size) else {
                    return err(sink, format!("invalid size '{}'", next.unwrap_or("")));
                };
                size = Some(n);
            }
            "expire" => match next.map(units::parse_time) {
                Some(Ok(d)) => expire = Some(u32::try_from(d.as_millis()).unwrap_or(u32::MAX)),
                Some(Err(e)) => return err(sink, format!("invalid 'expire': {e}")),
                None => return err(sink, "missing argument to 'expire'".into()),
            },
            "nopurge" => {
                nopurge = true;
                i += 1;
                continue;
            }
            "srvkey" => match next {
                Some("name") => srvkey_addr = false,
                Some("addr") => srvkey_addr = true,
                _ => return err(sink, format!("unknown srvkey '{}'", next.unwrap_or(""))),
            },
            "store" => {
                for item in next.unwrap_or("").split(',').filter(|s| !s.is_empty()) {
                    let (name, arg) = match item.split_once('(') {
                        Some((n, a)) => (n, Some(a.strip_suffix(')').unwrap_or(a))),
                        None => (item, None),
                    };
                    let Ok(d) = name.parse::<DataType>() else {
                        if matches!(name, "gpc" | "gpc_rate" | "gpt") {
                            sink.error(
                                loc,
                                kw,
                                format!("store option '{name}' is supported by HAProxy, not yet by fulcrum"),
                            );
                            return None;
                        }
                        return err(sink, format!("unknown store option '{name}'"));
                    };
                    let period = match (d.is_rate(), arg) {
                        (true, None) => {
                            return err(sink, format!("missing argument to store option '{name}'"))
                        }
                        (false, Some(_)) => {
                            return err(
                                sink,
                                format!("unexpected argument to store option '{name}'"),
                            )
                        }
                        (false, None) => 0,
                        (true, Some(a)) => match units::parse_time(a) {
                            Ok(t) => u32::try_from(t.as_millis()).unwrap_or(u32::MAX).max(1),
                            Err(e) => return err(sink, format!("store option '{name}': {e}")),
                        },
                    };
                    store.retain(|(o, _)| *o != d);
                    store.push((d, period));
                }
            }
            "peers" => match next {
                Some(p) => peers = Some(p.to_string()),
                None => return err(sink, "missing argument to 'peers'".into()),
            },
            other => return err(sink, format!("unknown argument '{other}'")),
        }
        if next.is_none() {
            return err(sink, format!("missing argument to '{w}'"));
        }
        i += 2;
    }
    let Some(key_type) = key_type else {
        return err(sink, "missing type".into());
    };
    let Some(size) = size else {
        return err(sink, "missing size".into());
    };
    Some(StickTable {
        def: TableDef {
            name: proxy.to_string(),
            key_type,
            size,
            expire,
            nopurge,
            store,
            srvkey_addr,
        },
        srvkey_addr,
        peers,
        location: loc.clone(),
    })
}

/// `100`, `10k`, `1m`, `1g` (powers of 1024, as HAProxy's table sizes).
fn parse_size(s: &str) -> Option<usize> {
    let (num, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1024),
        b'm' | b'M' => (&s[..s.len() - 1], 1024 * 1024),
        b'g' | b'G' => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<usize>().ok()?.checked_mul(mult)
}

/// The stick counter number of `track-sc0`, `sc-inc-gpc0(1)`...: 0, 1 or 2 (HAProxy's default
/// `tune.stick-counters`).
fn sc_number(s: &str) -> Option<u8> {
    match s {
        "0" => Some(0),
        "1" => Some(1),
        "2" => Some(2),
        _ => None,
    }
}

/// Whether `action` is one of the stick counter actions this file parses.
pub fn is_stick_action(action: &str) -> bool {
    action.starts_with("track-sc")
        || action.starts_with("sc-inc-gpc")
        || action.starts_with("sc-set-gpt0")
}

/// Parses a stick counter action starting at word `at` of `line` (`track-sc0 KEY [table T]`, `sc-inc-gpc0(N)`,
/// `sc-inc-gpc1(N)`, `sc-set-gpt0(N) VALUE`): the action and the index of the word after it.
pub fn stick_action(
    line: &Line,
    at: usize,
    kw: &str,
    sink: &mut Sink,
) -> Option<(StickAction, usize)> {
    let loc = &line.location;
    let action = line.word(at);
    if let Some(n) = action.strip_prefix("track-sc") {
        let Some(sc) = sc_number(n) else {
            sink.error(
                loc,
                kw,
                format!(
                    "'{action}': the stick counter must be 0, 1 or 2 (tune.stick-counters is 3)"
                ),
            );
            return None;
        };
        let key = line.word(at + 1);
        if key.is_empty() || key == "if" || key == "unless" {
            sink.error(
                loc,
                kw,
                format!("'{action}' expects a sample expression (the key), such as 'src'"),
            );
            return None;
        }
        let expr = match fulcrum_sample::Expr::parse(key) {
            Ok(e) => e,
            Err(e) => {
                sink.error(loc, kw, format!("'{key}': {e}"));
                return None;
            }
        };
        let mut next = at + 2;
        let mut table = None;
        if line.word(next) == "table" {
            let t = line.word(next + 1);
            if t.is_empty() {
                sink.error(loc, kw, "'table' expects a table name");
                return None;
            }
            table = Some(t.to_string());
            next += 2;
        }
        return Some((
            StickAction::Track {
                sc,
                key: SampleExpr(Arc::new(expr)),
                table,
            },
            next,
        ));
    }
    let (name, arg) = match action.split_once('(') {
        Some((n, a)) => (n, a.strip_suffix(')')),
        None => (action, None),
    };
    // Without parentheses, HAProxy takes counter 0.
    let Some(sc) = arg.map_or(Some(0), sc_number) else {
        sink.error(
            loc,
            kw,
            format!("'{name}' expects the stick counter number in parentheses: '{name}(0)', '(1)' or '(2)'"),
        );
        return None;
    };
    match name {
        "sc-inc-gpc0" | "sc-inc-gpc1" => Some((
            StickAction::IncGpc {
                sc,
                which: u8::from(name == "sc-inc-gpc1"),
            },
            at + 1,
        )),
        "sc-set-gpt0" => {
            let v = line.word(at + 1);
            if v.is_empty() || v == "if" || v == "unless" {
                sink.error(
                    loc,
                    kw,
                    "'sc-set-gpt0' expects an integer or a sample expression",
                );
                return None;
            }
            let expr = match v.parse::<i64>() {
                Ok(_) => fulcrum_sample::Expr::parse(&format!("int({v})")),
                Err(_) => fulcrum_sample::Expr::parse(v),
            };
            match expr {
                Ok(e) => Some((
                    StickAction::SetGpt0 {
                        sc,
                        value: SampleExpr(Arc::new(e)),
                    },
                    at + 2,
                )),
                Err(e) => {
                    sink.error(loc, kw, format!("'{v}': {e}"));
                    None
                }
            }
        }
        _ => {
            sink.error(
                loc,
                kw,
                format!("'{name}' is supported by HAProxy, not yet by fulcrum"),
            );
            None
        }
    }
}

/// Parses `stick on|match|store-request|store-response EXPR [table T]`: the rule and the index of the word after it.
pub fn stick_rule(line: &Line, kw: &str, sink: &mut Sink) -> Option<(StickRule, usize)> {
    let loc = &line.location;
    let (matches, stores) = match line.word(1) {
        "on" => (true, true),
        "match" => (true, false),
        "store-request" | "store-response" => (false, true),
        other => {
            sink.error(
                loc,
                "stick",
                format!(
                    "expects 'on', 'match', 'store-request' or 'store-response', found '{other}'"
                ),
            );
            return None;
        }
    };
    let key = line.word(2);
    if key.is_empty() || key == "if" || key == "unless" || key == "table" {
        sink.error(
            loc,
            kw,
            "expects a sample expression (the key), such as 'src'",
        );
        return None;
    }
    let expr = match fulcrum_sample::Expr::parse(key) {
        Ok(e) => e,
        Err(e) => {
            sink.error(loc, kw, format!("'{key}': {e}"));
            return None;
        }
    };
    let response = line.word(1) == "store-response";
    if expr.needs().response && !response {
        sink.error(
            loc,
            kw,
            format!(
                "sample fetch '{}' reads the response, which 'stick {}' cannot see",
                expr.fetch_name(),
                line.word(1)
            ),
        );
        return None;
    }
    let mut next = 3;
    let mut table = None;
    if line.word(3) == "table" {
        let t = line.word(4);
        if t.is_empty() {
            sink.error(loc, kw, "'table' expects a table name");
            return None;
        }
        table = Some(t.to_string());
        next = 5;
    }
    Some((
        StickRule {
            matches,
            stores,
            response,
            key: SampleExpr(Arc::new(expr)),
            table,
        },
        next,
    ))
}
