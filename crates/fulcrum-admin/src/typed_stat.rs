//! `show stat typed`: HAProxy 2.6's typed statistics, one line per field that has a value, rows in the CSV's
//! order: `F.<iid>.0.` (frontend), `B.<iid>.0.` (backend) or `S.<iid>.<sid>.` (server), then the field's position
//! and name, the process number, the field's tags as three letters (origin, nature, scope), its type and its
//! value, as in `F.2.0.4.scur.1:MGP:u32:0`. The fields, tags and types are those of `show stat json`
//! ([`crate::json_stat`]).

use std::fmt::Write as _;

use crate::csv::{value, COLUMNS};
use crate::json_stat::meta;
use crate::stats::{RowKind, Stats};

/// HAProxy's one-letter spelling of a tag (`stats_emit_field_tags`).
fn letter(tag: &str) -> char {
    match tag {
        // origin
        "Metric" => 'M',
        "Status" => 'S',
        "Key" => 'K',
        "Config" => 'C',
        "Product" => 'P',
        // nature
        "Gauge" => 'G',
        "Limit" => 'L',
        "Min" => 'm',
        "Max" => 'M',
        "Rate" => 'R',
        "Counter" => 'C',
        "Duration" => 'D',
        "Age" => 'A',
        "Time" => 'T',
        "Name" => 'N',
        "Output" => 'O',
        "Avg" => 'a',
        // scope
        "Internal" => 'I',
        "Process" => 'P',
        "Service" => 'S',
        "System" => 's',
        "Cluster" => 'C',
        _ => '?',
    }
}

/// The whole output (the CLI adds its closing empty line).
pub fn render(stats: &Stats) -> String {
    let mut out = String::new();
    for r in stats.rows() {
        let (kind, sid) = match r.kind {
            RowKind::Frontend => ('F', 0),
            RowKind::Backend => ('B', 0),
            RowKind::Server => ('S', r.sid),
        };
        // Past the `-` separator, which HAProxy does not number, come the statistics modules' fields.
        for (pos, column) in COLUMNS.iter().filter(|c| **c != "-").enumerate() {
            let v = value(r, column);
            let Some((origin, nature, scope, ty)) =
                meta(r.kind, pos, column).filter(|_| !v.is_empty())
            else {
                continue;
            };
            // A number that does not read as one is written as text rather than dropped or made up.
            let ty = if ty != "str" && v.parse::<i64>().is_err() {
                "str"
            } else {
                ty
            };
            let _ = writeln!(
                out,
                "{kind}.{}.{sid}.{pos}.{column}.1:{}{}{}:{ty}:{v}",
                r.iid,
                letter(origin),
                letter(nature),
                letter(scope),
            );
        }
    }
    out
}
