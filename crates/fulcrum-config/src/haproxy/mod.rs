//! The haproxy.cfg dialect.
//!
//! Text is split into words ([`lexer`]), conditional blocks are resolved (`directives`, with conditions evaluated
//! by [`cond`]), the lines left are grouped into sections (`sections`), each keyword line is parsed into
//! per-section drafts (`global`, `proxy`, `bind`, `server`, `log`), and the drafts are checked against each
//! other and turned into the [`model`] (`validate`). Every problem is collected; a [`Config`] is returned only
//! when there is none.

mod addr;
mod bind;
mod common;
pub mod compression;
pub mod cond;
pub mod cookie;
mod directives;
mod env;
mod global;
mod http_check;
pub mod known;
pub mod lexer;
mod log;
pub mod model;
mod peers;
mod program;
mod proxy;
mod resolvers;
mod rules;
mod section_state;
mod sections;
mod server;
pub mod ssl;
mod stick;
mod tcp_check;
pub mod units;
mod userlist;
mod validate;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use addr::inherited_fd;
pub use log::{FACILITIES as SYSLOG_FACILITIES, LEVELS as SYSLOG_LEVELS};
pub use model::*;
pub use rules::{acl_pattern, bin_pattern};

use crate::{Diagnostic, Diagnostics, Location};
use common::Sink;
use sections::SectionKind;

/// How environment variables and host names are looked up while parsing; tests inject their own.
pub struct ParseOptions<'a> {
    /// Returns the value of an environment variable (`$VAR`, `${VAR}`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Resolves a host name and port to addresses (server and bind addresses given by name).
    pub resolve: &'a dyn Fn(&str, u16) -> std::io::Result<Vec<SocketAddr>>,
}

impl Default for ParseOptions<'_> {
    /// The process environment and the system resolver.
    fn default() -> Self {
        ParseOptions {
            env: &lexer::process_env,
            resolve: &addr::system_resolve,
        }
    }
}

/// Parses one file's text. `file_name` is used in diagnostics.
pub fn parse_str(file_name: &str, text: &str) -> Result<Config, Diagnostics> {
    parse_sources(&[(PathBuf::from(file_name), text.to_string())])
}

/// Parses several files as one configuration, in the order given; a section may continue into the next file.
pub fn parse_sources(sources: &[(PathBuf, String)]) -> Result<Config, Diagnostics> {
    parse_sources_with(sources, &ParseOptions::default())
}

/// [`parse_sources`] with explicit environment and resolver.
pub fn parse_sources_with(
    sources: &[(PathBuf, String)],
    opts: &ParseOptions<'_>,
) -> Result<Config, Diagnostics> {
    let mut sink = Sink::default();
    let sections = sections::split(sources, opts.env, &mut sink);
    let mut global = Global::default();
    let mut current = proxy::Settings::default();
    let mut named: HashMap<String, proxy::Settings> = HashMap::new();
    let mut drafts = Vec::new();
    let mut http_errors = rules::HttpErrorsSections::new();
    let mut programs = Vec::new();
    let mut userlists = Vec::new();
    let mut resolvers_list = Vec::new();
    let mut peers_sections = Vec::new();
    let mut peers_removed = Vec::new();
    let mut peers_tls = Vec::new();
    let local_peer = peers::local_name(opts.env);
    // The rule sets of the named defaults sections that define TCP/HTTP rules, and which side (frontend: true)
    // first used each one.
    let mut defaults_rules: Vec<validate::DefaultsRules> = Vec::new();
    let mut rules_users: HashMap<usize, bool> = HashMap::new();
    for sec in sections {
        let base = match &sec.from {
            None => None,
            Some(from) => match named.get(from) {
                Some(s) => Some(s.clone()),
                None => {
                    sink.error(
                        &sec.location,
                        sec.kind.keyword(),
                        format!(
                            "no defaults section named '{from}' was declared before this {}",
                            sec.kind.keyword()
                        ),
                    );
                    continue;
                }
            },
        };
        match sec.kind {
            SectionKind::Global => global::apply(&mut global, &sec.lines, opts.resolve, &mut sink),
            SectionKind::HttpErrors => rules::http_errors_section(
                sec.name.as_deref().unwrap_or_default(),
                &sec.location,
                &sec.lines,
                &mut http_errors,
                &mut sink,
            ),
            SectionKind::Userlist => userlist::section(
                sec.name.as_deref().unwrap_or_default(),
                &sec.location,
                &sec.lines,
                &mut userlists,
                &mut sink,
            ),
            SectionKind::Resolvers => resolvers::section(
                sec.name.as_deref().unwrap_or_default(),
                &sec.location,
                &sec.lines,
                &mut resolvers_list,
                &|| std::fs::read_to_string(resolvers::RESOLV_CONF),
                &mut sink,
            ),
            SectionKind::Peers => peers::section(
                sec.name.as_deref().unwrap_or_default(),
                &sec.location,
                &sec.lines,
                &local_peer,
                opts.resolve,
                &mut peers_sections,
                &mut peers_removed,
                &mut peers_tls,
                &mut sink,
            ),
            SectionKind::Program => program::section(
                sec.name.as_deref().unwrap_or_default(),
                &sec.location,
                &sec.lines,
                &mut programs,
                &mut sink,
            ),
            SectionKind::Defaults => {
                // A new defaults section starts afresh (or from `from NAME`) and replaces the previous one.
                let mut s = base.unwrap_or_default();
                if let Some(r) = s.rules_from.take() {
                    sink.error(
                        &sec.location,
                        "defaults",
                        format!("a defaults section cannot inherit from a defaults section defining TCP/HTTP rules (defaults section at {})", r.location),
                    );
                }
                let mut body = proxy::Body::default();
                body.rules.experimental = global.expose_experimental;
                for line in &sec.lines {
                    let named = sec.name.is_some();
                    proxy::apply(
                        sec.kind,
                        named,
                        line,
                        &mut s,
                        &mut body,
                        opts.resolve,
                        &mut sink,
                    );
                }
                // Finished with the proxies (its problems reported once, used or not); inherited when it has
                // rules.
                if !body.rules.is_empty() {
                    if body.rules.has_rules() {
                        s.rules_from = Some(proxy::InheritedRules {
                            index: defaults_rules.len(),
                            location: sec.location.clone(),
                            frontend_only: body.rules.has_tcp_connection(),
                            backend_only: body.rules.has_tcp_response(),
                        });
                    }
                    defaults_rules.push(validate::DefaultsRules {
                        name: sec.name.clone().unwrap_or_default(),
                        mode: s.mode,
                        rules: body.rules,
                    });
                }
                if let Some(n) = &sec.name {
                    named.insert(n.clone(), s.clone());
                }
                current = s;
            }
            SectionKind::Frontend | SectionKind::Backend | SectionKind::Listen => {
                let mut s = base.unwrap_or_else(|| current.clone());
                inherit_rules(sec.kind, &sec.location, &mut s, &mut rules_users, &mut sink);
                let mut body = proxy::Body::default();
                body.rules.experimental = global.expose_experimental;
                // The capture slots of the named defaults' rules come first, numbered as declared there.
                if let Some(d) = s
                    .rules_from
                    .as_ref()
                    .and_then(|r| defaults_rules.get(r.index))
                {
                    body.rules.request_slots = d.rules.request_slots.clone();
                    body.rules.response_slots = d.rules.response_slots.clone();
                }
                for line in &sec.lines {
                    proxy::apply(
                        sec.kind,
                        true,
                        line,
                        &mut s,
                        &mut body,
                        opts.resolve,
                        &mut sink,
                    );
                }
                drafts.push(validate::ProxyDraft {
                    name: sec.name.clone().unwrap_or_default(),
                    kind: match sec.kind {
                        SectionKind::Frontend => ProxyKind::Frontend,
                        SectionKind::Backend => ProxyKind::Backend,
                        _ => ProxyKind::Listen,
                    },
                    location: sec.location.clone(),
                    settings: s,
                    body,
                });
            }
        }
    }
    peers::settle_tls(&mut peers_sections, peers_tls, &global.ssl, &mut sink);
    let proxies = validate::proxies(
        drafts,
        defaults_rules,
        opts.resolve,
        &http_errors,
        &global.ssl,
        &mut sink,
    );
    // `disabled` proxies were checked like the others; they are not started (nothing listens, nothing is
    // checked, and a frontend whose default backend is disabled answers 503).
    let mut proxies = proxies;
    validate::number_proxies(&mut proxies, global.stats_sockets.is_empty());
    let proxies: Vec<Proxy> = proxies.into_iter().filter(|p| !p.disabled).collect();
    userlist::check_references(&proxies, &userlists, &mut sink);
    resolvers::add_default(&mut resolvers_list, &|| {
        std::fs::read_to_string(resolvers::RESOLV_CONF)
    });
    validate::check_resolvers(&proxies, &resolvers_list, &mut sink);
    for p in proxies.iter().filter(|p| p.external_check.is_some()) {
        if !global.external_check {
            sink.error(
                &p.location,
                "option external-check",
                format!(
                    "Proxy '{}' : 'option external-check' unable to find required 'global.external-check'.",
                    p.name
                ),
            );
        }
    }
    for p in &proxies {
        if let Some(name) = p.stick_table.as_ref().and_then(|t| t.peers.as_ref()) {
            if !peers_sections.iter().any(|s: &Peers| &s.name == name)
                && !peers_removed.contains(name)
            {
                let loc = &p.stick_table.as_ref().expect("checked").location;
                sink.error(
                    loc,
                    "stick-table",
                    format!("Proxy '{}': unable to find sync peers '{name}'.", p.name),
                );
            }
        }
    }
    if sink.diags.is_empty() {
        Ok(Config {
            global,
            proxies,
            warnings: sink.warnings,
            programs,
            userlists,
            resolvers: resolvers_list,
            maps: MapFiles(sink.maps),
            peers: peers_sections,
        })
    } else {
        Err(Diagnostics(sink.diags))
    }
}

/// Checks that a proxy section may run the rules of the defaults section it comes from (HAProxy 2.6's rules: no
/// listen section; no backend for `tcp-request connection` rules; not frontends and backends both); drops them
/// after reporting a problem.
fn inherit_rules(
    kind: SectionKind,
    location: &crate::Location,
    s: &mut proxy::Settings,
    users: &mut HashMap<usize, bool>,
    sink: &mut Sink,
) {
    let Some(r) = &s.rules_from else { return };
    let frontend = kind == SectionKind::Frontend;
    let problem = match kind {
        SectionKind::Listen => Some(
            "a listen section cannot inherit from a defaults section defining TCP/HTTP rules."
                .to_string(),
        ),
        SectionKind::Backend if r.frontend_only => Some(format!(
            "a backend section cannot inherit from a defaults section defining 'tcp-request connection' or 'tcp-request session' rules (defaults section at {}).",
            r.location
        )),
        SectionKind::Frontend if r.backend_only => Some(format!(
            "a frontend section cannot inherit from a defaults section defining 'tcp-response content' rules (defaults section at {}).",
            r.location
        )),
        _ => match users.get(&r.index) {
            Some(&fe) if fe != frontend => Some(format!(
                "frontends and backends cannot inherit from the same defaults section if it defines TCP/HTTP rules (defaults section at {}).",
                r.location
            )),
            _ => None,
        },
    };
    match problem {
        Some(m) => {
            sink.error(location, kind.keyword(), m);
            s.rules_from = None;
        }
        None => {
            users.entry(r.index).or_insert(frontend);
        }
    }
}

/// Implements `-f FILE|DIR` (repeatable): files are read in the order given; a directory contributes its `*.cfg`
/// files in lexical order. Unreadable paths are reported along with every parse problem.
pub fn load(paths: &[PathBuf]) -> Result<Config, Diagnostics> {
    let mut diags = Vec::new();
    let mut sources = Vec::new();
    for p in paths {
        if p.is_dir() {
            match std::fs::read_dir(p) {
                Ok(rd) => {
                    let mut files: Vec<PathBuf> = rd
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| f.extension().is_some_and(|e| e == "cfg") && !f.is_dir())
                        .collect();
                    files.sort();
                    for f in files {
                        read(&f, &mut sources, &mut diags);
                    }
                }
                Err(e) => diags.push(io_diag(p, &e)),
            }
        } else {
            read(p, &mut sources, &mut diags);
        }
    }
    match parse_sources(&sources) {
        Ok(c) if diags.is_empty() => Ok(c),
        Ok(_) => Err(Diagnostics(diags)),
        Err(Diagnostics(mut more)) => {
            diags.append(&mut more);
            Err(Diagnostics(diags))
        }
    }
}

fn read(p: &Path, sources: &mut Vec<(PathBuf, String)>, diags: &mut Vec<Diagnostic>) {
    match std::fs::read(p) {
        Ok(bytes) => sources.push((
            p.to_path_buf(),
            String::from_utf8_lossy(&bytes).into_owned(),
        )),
        Err(e) => diags.push(io_diag(p, &e)),
    }
}

fn io_diag(p: &Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic {
        location: Location::new(p, 0),
        keyword: "-f".to_string(),
        message: format!("cannot read '{}': {e}", p.display()),
    }
}
