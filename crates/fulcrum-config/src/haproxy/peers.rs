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
use crate::diag::Severity;
use crate::Location;

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
    };
    let mut local_seen: Option<Location> = None;
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
                if let Some(extra) = line.words.get(opts_at) {
                    sink.error(
                        loc,
                        kw,
                        format!("'{kw} {pname}': option '{extra}' is supported by HAProxy, not yet by fulcrum on peers"),
                    );
                    continue;
                }
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
                    if let Some(a) = addr {
                        if p.bind.is_none() {
                            p.bind = Some(Bind {
                                addrs: vec![a],
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
                                location: loc.clone(),
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
                p.peers.push(Peer {
                    name: pname.to_string(),
                    addr,
                    location: loc.clone(),
                });
            }
            "bind" => {
                if let Some(b) = bind::parse(line, resolver, sink) {
                    if b.ssl.enabled {
                        sink.error(
                            loc,
                            kw,
                            "TLS on the peers link ('ssl') is supported by HAProxy, not yet by fulcrum",
                        );
                        continue;
                    }
                    if b.addrs.len() + b.fds.len() != 1 {
                        sink.error(loc, kw, "a peers section listens on exactly one address");
                        continue;
                    }
                    p.bind = Some(b);
                }
            }
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
            "default-server" | "default-bind" | "log" => sink.error(
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
    if p.bind.is_none() && !p.disabled {
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

/// The name of the local peer: `HAPROXY_LOCALPEER` (which `-L` sets), else the host name.
pub fn local_name(env: &dyn Fn(&str) -> Option<String>) -> String {
    if let Some(n) = env("HAPROXY_LOCALPEER").filter(|n| !n.is_empty()) {
        return n;
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
