//! `peers NAME` sections: the nodes that replicate stick tables with HAProxy's peers protocol, and the tables
//! declared in the section itself (`table NAME ...`, known to the rest of the configuration as `PEERS/NAME`).
//!
//! One of the peers is this process: the one named as `-L` says (`HAPROXY_LOCALPEER`), else the host name. Its
//! address (from `peer NAME ADDR` or the section's `bind` line) is where the other peers connect; the others are
//! connected to. A section without the local peer is removed with a warning, as HAProxy 2.6 does.

use std::net::SocketAddr;

use super::addr::{self, Proto, Resolver};
use super::bind;
use super::common::{Line, Sink};
use super::model::{Bind, Peer, Peers, StickTable};
use super::ssl::{self, GlobalSsl, Parsed, ServerSsl};
use crate::diag::Severity;
use crate::Location;

/// The TLS options of a peer's line (over the section's `default-server`), settled once the `global` section's
/// TLS defaults are known ([`settle_tls`]).
pub struct TlsDraft {
    section: String,
    /// The remote peer's name; `None` for the local peer.
    peer: Option<String>,
    ssl: ServerSsl,
    location: Location,
}

/// Parses the options of a `peer` / `server` line (from `words[start..]`, over `defaults`) or of a
/// `default-server` line: the transport options of a server line (`ssl`, `verify`, `ca-file`, `crt`,
/// `verifyhost`, `alpn`, versions and ciphers, `no-ssl-reuse` ...). As HAProxy, `check`, `agent-check`,
/// `init-addr` and `resolvers` (and the health checks' TLS options) are ignored with a warning: peers are
/// neither checked nor resolved. The other server options are refused. `None` after a problem (reported).
fn peer_options(
    line: &Line,
    start: usize,
    defaults: &ServerSsl,
    sink: &mut Sink,
) -> Option<ServerSsl> {
    let loc = &line.location;
    let kw = line.word(0);
    let name = if kw == "default-server" {
        String::new()
    } else {
        format!(" {}", line.word(1))
    };
    let mut own = ServerSsl::default();
    let mut ignored = Vec::new();
    let mut ok = true;
    let mut i = start;
    while i < line.words.len() {
        let opt = line.word(i);
        match ssl::server_option(&mut own, line, i, sink) {
            Parsed::Took(n) => {
                if matches!(
                    opt,
                    "check-ssl" | "no-check-ssl" | "check-sni" | "check-alpn"
                ) {
                    ignored.push(opt.to_string());
                }
                i += n + 1;
                continue;
            }
            Parsed::Bad(n) => {
                ok = false;
                i += n + 1;
                continue;
            }
            Parsed::No => {}
        }
        match opt {
            "check" | "no-check" | "agent-check" | "no-agent-check" => {
                ignored.push(opt.to_string());
                i += 1;
            }
            "init-addr" | "resolvers" => {
                ignored.push(opt.to_string());
                i += 2;
            }
            _ => {
                sink.error(
                    loc,
                    kw,
                    format!("'{kw}{name}': option '{opt}' is supported by HAProxy, not yet by fulcrum on peers"),
                );
                return None;
            }
        }
    }
    if own.sni.is_some() {
        sink.error(
            loc,
            kw,
            format!(
                "'{kw}{name}': option 'sni' is supported by HAProxy, not yet by fulcrum on peers"
            ),
        );
        return None;
    }
    if !ignored.is_empty() {
        sink.warn(
            Severity::Warning,
            loc,
            kw,
            format!(
                "'{kw}{name}': {} ignored: peers are neither health-checked nor resolved.",
                ignored.join(", ")
            ),
        );
    }
    ok.then(|| defaults.overlay(&own))
}

/// Settles the TLS options of the peers' lines once `global` is known (its `ssl-server-verify` and
/// `ssl-default-server-*`), refusing as HAProxy a verification without CAs. Warns, as HAProxy, when the local
/// peer listens with TLS and its own `server` line has none, or the reverse: the old process of a reload would
/// not reach the new one.
pub fn settle_tls(sections: &mut [Peers], drafts: Vec<TlsDraft>, g: &GlobalSsl, sink: &mut Sink) {
    let no_opts = super::server::ServerOpts::default();
    for d in drafts {
        let Some(p) = sections.iter_mut().find(|p| p.name == d.section) else {
            continue;
        };
        let who = d.peer.as_deref().unwrap_or(&p.local).to_string();
        let tls = match super::validate::server_tls(&d.ssl, &no_opts, g, false) {
            Ok(t) => t.filter(|t| t.traffic),
            Err(e) => {
                sink.error(&d.location, "server", format!("peer '{who}': {e}"));
                continue;
            }
        };
        match &d.peer {
            Some(name) => {
                if let Some(peer) = p.peers.iter_mut().find(|q| &q.name == name) {
                    peer.tls = tls;
                }
            }
            None => {
                let listens_tls = p.bind.as_ref().is_some_and(|b| b.ssl.enabled);
                if listens_tls != tls.is_some() && !p.disabled {
                    let (listener, server) = if listens_tls {
                        ("a TLS", "without TLS")
                    } else {
                        ("a clear-text", "with TLS")
                    };
                    sink.warn(
                        Severity::Warning,
                        &d.location,
                        "peers",
                        format!(
                            "peers section '{}': the local peer '{who}' has {listener} listener but its own server line connects {server}: a reload cannot hand the tables over.",
                            p.name
                        ),
                    );
                }
                p.local_tls = tls;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
/// Parses the lines of `peers NAME` into `out` (unless the section lacks the local peer `local`).
pub fn section(
    name: &str,
    location: &Location,
    lines: &[Line],
    local: &str,
    resolver: Resolver<'_>,
    out: &mut Vec<Peers>,
    removed: &mut Vec<String>,
    drafts: &mut Vec<TlsDraft>,
    sink: &mut Sink,
) {
    if let Some(first) = out.iter().find(|p| p.name == name) {
        sink.error(
            location,
            "peers",
            format!(
                "peers section '{name}' has the same name as another peers section declared at {}.",
                first.location
            ),
        );
        return;
    }
    let mut p = Peers {
        name: name.to_string(),
        location: location.clone(),
        disabled: false,
        local: local.to_string(),
        bind: None,
        peers: Vec::new(),
        tables: Vec::new(),
        local_tls: None,
        local_location: None,
    };
    let mut local_seen: Option<Location> = None;
    let mut defaults = ServerSsl::default();
    // a refused `bind` line is reported once (not again as a missing address)
    let mut bind_refused = false;
    let mut bind_line: Option<Line> = None;
    let mut peer_bind_line: Option<Line> = None;
    let mut default_binds: Vec<Line> = Vec::new();
    let mut default_bind_refused = false;
    for line in lines {
        let loc = &line.location;
        let kw = line.word(0);
        match kw {
            "peer" | "server" => {
                let pname = line.word(1);
                if pname.is_empty() {
                    sink.error(
                        loc,
                        kw,
                        format!("'{kw}' expects <name> [<addr:port>] arguments."),
                    );
                    continue;
                }
                let addr_word = line.words.get(2).map(String::as_str);
                let mut opts_at = 3;
                let addr = match addr_word {
                    None => None,
                    Some(a) => match peer_addr(a, resolver) {
                        Ok(a) => a,
                        Err(e) => {
                            // `server NAME option...` for the local peer: no address
                            if kw == "server" && pname == local && !a.contains(':') {
                                opts_at = 2;
                                None
                            } else {
                                sink.error(loc, kw, format!("'{kw} {pname}' : {e}"));
                                continue;
                            }
                        }
                    },
                };
                let Some(ssl) = peer_options(line, opts_at, &defaults, sink) else {
                    continue;
                };
                if pname == local {
                    if let Some(first) = &local_seen {
                        sink.error(
                            loc,
                            &format!("{kw} {pname}"),
                            format!("local peer name already referenced at {first}. {pname}"),
                        );
                        continue;
                    }
                    local_seen = Some(loc.clone());
                    p.local_location = Some(loc.clone());
                    drafts.push(TlsDraft {
                        section: name.to_string(),
                        peer: None,
                        ssl,
                        location: loc.clone(),
                    });
                    if let Some(a) = addr {
                        if p.bind.is_none() {
                            p.bind = Some(empty_bind(vec![a], loc));
                            // what `default-bind` lines add to it is parsed at the end
                            peer_bind_line = Some(Line {
                                location: loc.clone(),
                                words: vec!["bind".into(), line.word(2).to_string()],
                            });
                        }
                    }
                    continue;
                }
                if let Some(first) = p.peers.iter().find(|q| q.name == pname) {
                    sink.error(
                        loc,
                        kw,
                        format!("'{kw} {pname}': peer already defined at {}", first.location),
                    );
                    continue;
                }
                drafts.push(TlsDraft {
                    section: name.to_string(),
                    peer: Some(pname.to_string()),
                    ssl,
                    location: loc.clone(),
                });
                p.peers.push(Peer {
                    name: pname.to_string(),
                    addr,
                    location: loc.clone(),
                    tls: None,
                });
            }
            // parsed at the end, with the `default-bind` options wherever they are in the section
            "bind" => bind_line = Some(line.clone()),
            "table" => {
                let tname = line.word(1);
                if tname.is_empty() {
                    sink.error(loc, kw, "table: missing table name.");
                    continue;
                }
                // The rest of the line reads as a `stick-table` line.
                let rest = Line {
                    location: loc.clone(),
                    words: std::iter::once("table".to_string())
                        .chain(line.words[2..].iter().cloned())
                        .collect(),
                };
                let full = format!("{name}/{tname}");
                if let Some(mut t) = super::stick::stick_table(&rest, &full, sink) {
                    if t.peers.is_some() {
                        sink.error(loc, kw, "table: 'peers' is not allowed in a peers section");
                        continue;
                    }
                    t.peers = Some(name.to_string());
                    // a second table of the same name is ignored, as HAProxy 2.6 does
                    if !p.tables.iter().any(|o: &StickTable| o.def.name == full) {
                        p.tables.push(t);
                    }
                }
            }
            "disabled" => p.disabled = true,
            "enabled" => p.disabled = false,
            "default-server" => {
                if let Some(ssl) = peer_options(line, 1, &ServerSsl::default(), sink) {
                    // later lines take these options, as in proxies
                    defaults = ssl;
                }
            }
            "default-bind" => {
                // checked here, applied to the local peer's listener at the end (before or after its line, as
                // HAProxy does)
                let mut scratch = empty_bind(Vec::new(), loc);
                if bind::options(line, 1, &mut scratch, sink) {
                    default_binds.push(line.clone());
                } else {
                    default_bind_refused = true;
                }
            }
            "log" => sink.error(
                loc,
                kw,
                format!("'{kw}' in a peers section is supported by HAProxy, not yet by fulcrum"),
            ),
            other => sink.error(
                loc,
                other,
                format!("unknown keyword '{other}' in 'peers' section"),
            ),
        }
    }
    // The listener: the `bind` line, else the local peer's address, with the `default-bind` options first (the
    // line's own override them).
    let listener_line = bind_line.or(if default_binds.is_empty() {
        None
    } else {
        peer_bind_line
    });
    if let Some(l) = listener_line.filter(|_| !default_bind_refused) {
        let mut words = l.words[..2.min(l.words.len())].to_vec();
        for d in &default_binds {
            words.extend(d.words[1..].iter().cloned());
        }
        words.extend(l.words.iter().skip(2).cloned());
        let merged = Line {
            location: l.location.clone(),
            words,
        };
        let parsed = bind::parse(&merged, resolver, sink);
        bind_refused |= parsed.is_none();
        match parsed {
            Some(b) if b.addrs.len() + b.fds.len() != 1 => {
                sink.error(
                    &l.location,
                    "bind",
                    "a peers section listens on exactly one address",
                );
                bind_refused = true;
            }
            Some(b) => p.bind = Some(b),
            None => {}
        }
    }
    bind_refused |= default_bind_refused;
    if local_seen.is_none() {
        sink.warn(
            Severity::Warning,
            location,
            "peers",
            format!("Removing incomplete section 'peers {name}' (no peer named '{local}')."),
        );
        removed.push(name.to_string());
        return;
    }
    if p.bind.is_none() && !p.disabled && !bind_refused {
        sink.error(
            location,
            "peers",
            format!("peers section '{name}': the local peer '{local}' has no address: give it one ('peer {local} ADDR:PORT') or add a 'bind' line"),
        );
        return;
    }
    out.push(p);
}

/// A peer's address; `None` for an empty port (`:`, what an unset `${ADDR}:${PORT}` gives), which HAProxy accepts
/// and never reaches.
fn peer_addr(s: &str, resolver: Resolver<'_>) -> Result<Option<SocketAddr>, String> {
    let sp = addr::split(s, Proto::Stream)?;
    let Some(port) = sp.port else {
        return Err(format!("missing port in '{s}'"));
    };
    if port.is_empty() {
        return Ok(None);
    }
    addr::resolve(&sp.host, sp.family, addr::port(&port)?, resolver).map(Some)
}

/// A listener on `addrs` with no option, declared at `loc`.
fn empty_bind(addrs: Vec<SocketAddr>, loc: &Location) -> Bind {
    Bind {
        addrs,
        unix: Vec::new(),
        unix_perms: Default::default(),
        fds: Vec::new(),
        v6only: false,
        v4v6: false,
        name: None,
        ssl: Default::default(),
        accept_proxy: false,
        proto: None,
        proto_none: false,
        tcp: Default::default(),
        location: loc.clone(),
    }
}

/// The name of the local peer: `HAPROXY_LOCALPEER` (which `-L` sets), else the host name.
pub fn local_name(env: &dyn Fn(&str) -> Option<String>) -> String {
    if let Some(n) = env("HAPROXY_LOCALPEER").filter(|n| !n.is_empty()) {
        return n;
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
