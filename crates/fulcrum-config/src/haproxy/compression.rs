//! `compression algo|type|offload` and `filter` lines of proxy sections.
//!
//! HAProxy 2.6 compresses responses through a filter: a proxy with `compression` lines and no `filter` line gets
//! the compression filter implicitly; a proxy declaring other filters must declare `filter compression` too. Of
//! the other filters, fulcrum takes `filter trace ... quiet` (which only tests filter chains: quiet, it prints
//! nothing and changes nothing a client or server sees) and refuses the rest.

use super::common::{Line, Sink};
use crate::Location;

/// A compression algorithm of `compression algo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompAlgo {
    /// `identity`: no encoding, but the response is still re-framed (chunked, no Content-Length).
    Identity,
    /// `gzip`: RFC 1952.
    Gzip,
    /// `deflate`: the zlib format (RFC 1950), announced as `deflate`.
    Deflate,
    /// `raw-deflate`: bare deflate blocks (RFC 1951), announced as `deflate`.
    RawDeflate,
}

impl CompAlgo {
    /// The name on a `compression algo` line.
    pub fn config_name(self) -> &'static str {
        match self {
            CompAlgo::Identity => "identity",
            CompAlgo::Gzip => "gzip",
            CompAlgo::Deflate => "deflate",
            CompAlgo::RawDeflate => "raw-deflate",
        }
    }

    /// The token that names it in `Accept-Encoding` and `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            CompAlgo::Identity => "identity",
            CompAlgo::Gzip => "gzip",
            CompAlgo::Deflate | CompAlgo::RawDeflate => "deflate",
        }
    }

    fn from_config(name: &str) -> Option<CompAlgo> {
        [
            CompAlgo::Identity,
            CompAlgo::Gzip,
            CompAlgo::Deflate,
            CompAlgo::RawDeflate,
        ]
        .into_iter()
        .find(|a| a.config_name() == name)
    }
}

/// What a proxy's `compression` lines say (inherited from `defaults`, then extended by the proxy's own lines).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compression {
    /// `compression algo` names, in the order they were written. As in HAProxy, the last one written is tried
    /// first (an `Accept-Encoding: *` takes it).
    pub algos: Vec<CompAlgo>,
    /// `compression type` prefixes (matched case-insensitively at the start of `Content-Type`); empty: any type.
    pub types: Vec<String>,
    /// `compression offload`: `Accept-Encoding` is removed from requests for which compression was chosen.
    pub offload: bool,
}

impl Compression {
    /// The algorithms in the order a request's tokens are matched against them (the last written first).
    pub fn preference(&self) -> impl Iterator<Item = CompAlgo> + '_ {
        self.algos.iter().rev().copied()
    }
}

/// A `filter` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `filter compression`
    Compression,
    /// `filter trace ... quiet`: nothing to do.
    Trace,
}

/// Applies a `compression` line to `comp` (the proxy's settings, created by its first line).
pub fn apply(line: &Line, defaults: bool, comp: &mut Option<Compression>, sink: &mut Sink) {
    let loc = &line.location;
    let kw = "compression";
    let args = &line.words[1..];
    let c = comp.get_or_insert_with(Compression::default);
    match args.first().map(String::as_str) {
        Some("algo") => {
            if args.len() < 2 {
                return sink.error(loc, kw, "expects <algorithm>");
            }
            for name in &args[1..] {
                match CompAlgo::from_config(name) {
                    Some(a) => c.algos.push(a),
                    None => {
                        return sink.error(
                            loc,
                            kw,
                            format!("'{name}' is not a supported algorithm (expected gzip, deflate, raw-deflate or identity)"),
                        )
                    }
                }
            }
        }
        Some("type") => {
            if args.len() < 2 {
                return sink.error(loc, kw, "expects <type>");
            }
            c.types.extend(args[1..].iter().cloned());
        }
        Some("offload") => {
            // HAProxy ignores what follows `offload`.
            if defaults {
                sink.warn(
                    crate::diag::Severity::Warning,
                    loc,
                    kw,
                    "'offload' ignored in 'defaults' section",
                );
            } else {
                c.offload = true;
            }
        }
        _ => sink.error(loc, kw, "expects 'algo', 'type' or 'offload'"),
    }
}

/// Parses a `filter` line (frontend, listen, backend) into `filters`.
pub fn filter(line: &Line, filters: &mut Vec<(Filter, Location)>, sink: &mut Sink) {
    let loc = &line.location;
    let args = &line.words[1..];
    match args.first().map(String::as_str) {
        None => sink.error(loc, "filter", "missing argument for 'filter'"),
        Some("compression") => {
            if let Some(extra) = args.get(1) {
                return sink.error(
                    loc,
                    "filter compression",
                    format!("unknown keyword '{extra}'"),
                );
            }
            if filters.iter().any(|(f, _)| *f == Filter::Compression) {
                return sink.error(
                    loc,
                    "filter",
                    "a proxy supports only one compression filter",
                );
            }
            filters.push((Filter::Compression, loc.clone()));
        }
        Some("trace") => {
            let mut quiet = false;
            let mut i = 1;
            while i < args.len() {
                match args[i].as_str() {
                    "name" => {
                        if args.get(i + 1).is_none() {
                            return sink.error(
                                loc,
                                "filter trace",
                                "'name' : expects a name",
                            );
                        }
                        i += 1;
                    }
                    "random-parsing" | "random-forwarding" | "hexdump" => {}
                    "quiet" => quiet = true,
                    other => {
                        return sink.error(
                            loc,
                            "filter trace",
                            format!("unknown keyword '{other}'"),
                        )
                    }
                }
                i += 1;
            }
            if !quiet {
                return sink.error(
                    loc,
                    "filter trace",
                    "fulcrum supports 'filter trace' only with 'quiet' (it does nothing then); the trace messages HAProxy prints are not implemented",
                );
            }
            filters.push((Filter::Trace, loc.clone()));
        }
        Some(kind @ ("cache" | "spoe" | "fcgi-app" | "opentracing")) => {
            sink.unsupported(loc, &format!("filter {kind}"))
        }
        Some(other) => sink.error(
            loc,
            "filter",
            format!("unknown keyword '{other}' (HAProxy 2.6's filters: cache, compression, fcgi-app, opentracing, spoe, trace)"),
        ),
    }
}

/// HAProxy's rule: a proxy that declares filters must declare the compression filter to use `compression` lines.
pub fn check(
    proxy: &str,
    location: &Location,
    comp: Option<&Compression>,
    filters: &[(Filter, Location)],
    sink: &mut Sink,
) {
    if comp.is_some()
        && !filters.is_empty()
        && !filters.iter().any(|(f, _)| *f == Filter::Compression)
    {
        sink.error(
            location,
            "compression",
            format!("{proxy}: require an explicit filter declaration ('filter compression') to use HTTP compression"),
        );
    }
}
