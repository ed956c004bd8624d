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
    let mut elements: Vec<(DataType, u8)> = Vec::new();
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
                for item in store_items(next.unwrap_or("")) {
                    let (name, arg) = match item.split_once('(') {
                        Some((n, a)) => (n, Some(a.strip_suffix(')').unwrap_or(a))),
                        None => (item, None),
                    };
                    let Ok(d) = name.parse::<DataType>() else {
                        return err(sink, format!("unknown store option '{name}'"));
                    };
                    // an array: `gpc(N)`, `gpt(N)`, `gpc_rate(N,PERIOD)`
                    let mut arg = arg;
                    if d.is_array() {
                        let Some(a) = arg else {
                            return err(sink, format!("missing argument to store option '{name}'"));
                        };
                        let (n, rest) = match a.split_once(',') {
                            Some((n, p)) => (n, Some(p)),
                            None => (a, None),
                        };
                        let n = match n.trim().parse::<u32>() {
                            Ok(n) if (1..=fulcrum_stick::MAX_ELEMENTS).contains(&n) => n,
                            _ => {
                                return err(
                                    sink,
                                    format!("array size is out of allowed range (1-{}) for store option '{name}'", fulcrum_stick::MAX_ELEMENTS),
                                )
                            }
                        };
                        elements.retain(|(o, _)| *o != d);
                        elements.push((d, n as u8));
                        arg = rest;
                    }
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
    // an array replaces the single counters or tags of its kind
    for (array, singles, names) in [
        (
            DataType::Gpc,
            [DataType::Gpc0, DataType::Gpc1],
            ("gpc", "gpc[0/1]"),
        ),
        (
            DataType::Gpt,
            [DataType::Gpt0, DataType::Gpt0],
            ("gpt", "gpt0"),
        ),
        (
            DataType::GpcRate,
            [DataType::Gpc0Rate, DataType::Gpc1Rate],
            ("gpc_rate", "gpc[0/1]_rate"),
        ),
    ] {
        let has = |d: DataType| store.iter().any(|(o, _)| *o == d);
        if has(array) && singles.iter().any(|&d| has(d)) {
            return err(
                sink,
                format!(
                    "simultaneous usage of '{}' and '{}' in a same table is not permitted as '{}' overrides '{}'",
                    names.0, names.1, names.0, names.1
                ),
            );
        }
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
            elements,
            srvkey_addr,
        },
        srvkey_addr,
        peers,
        location: loc.clone(),
    })
}

/// The items of a `store` list: split on the commas outside parentheses (`gpc_rate(2,10s)` is one item).
fn store_items(list: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in list.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&list[start..]);
    out.retain(|s| !s.is_empty());
    out
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
        || action.starts_with("sc-set-gpt")
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
    // The 2.6 array forms: `sc-inc-gpc(IDX,SC)`, `sc-set-gpt(IDX,SC) VALUE`.
    if matches!(name, "sc-inc-gpc" | "sc-set-gpt") {
        let parsed = arg.and_then(|a| a.split_once(',')).and_then(|(i, sc)| {
            let idx = i
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&i| u32::from(i) < fulcrum_stick::MAX_ELEMENTS)?;
            Some((idx, sc_number(sc.trim())?))
        });
        let Some((idx, sc)) = parsed else {
            sink.error(
                loc,
                kw,
                format!(
                    "'{name}' expects an element index (0 to {}) and a stick counter (0 to 2) in parentheses: '{name}(1,0)'",
                    fulcrum_stick::MAX_ELEMENTS - 1
                ),
            );
            return None;
        };
        if name == "sc-inc-gpc" {
            return Some((StickAction::IncGpcAt { idx, sc }, at + 1));
        }
        let value = set_gpt_value(line, at, name, kw, sink)?;
        return Some((StickAction::SetGptAt { idx, sc, value }, at + 2));
    }
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
            let value = set_gpt_value(line, at, name, kw, sink)?;
            Some((StickAction::SetGpt0 { sc, value }, at + 2))
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

/// The value of `sc-set-gpt0(SC) VALUE` / `sc-set-gpt(IDX,SC) VALUE` (the word after the action): an integer or
/// a sample expression.
fn set_gpt_value(
    line: &Line,
    at: usize,
    name: &str,
    kw: &str,
    sink: &mut Sink,
) -> Option<SampleExpr> {
    let loc = &line.location;
    let v = line.word(at + 1);
    if v.is_empty() || v == "if" || v == "unless" {
        sink.error(
            loc,
            kw,
            format!("'{name}' expects an integer or a sample expression"),
        );
        return None;
    }
    let expr = match v.parse::<i64>() {
        Ok(_) => fulcrum_sample::Expr::parse(&format!("int({v})")),
        Err(_) => fulcrum_sample::Expr::parse(v),
    };
    match expr {
        Ok(e) => Some(SampleExpr(Arc::new(e))),
        Err(e) => {
            sink.error(loc, kw, format!("'{v}': {e}"));
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
