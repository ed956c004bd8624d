//! Cross-section checks and the final model: names, references, modes, listeners, server addresses.

use std::collections::HashMap;
use std::time::Duration;

use super::addr::{self, Resolver};
use super::common::Sink;
use super::model::{
    AgentCheck, HttpRequestAction, InitAddr, InitAddrFallback, Mode, Observe, ObserveLayer,
    OnError, Proxy, ProxyKind, Resolvers, Rules, SampleExpr, SendProxy, Server, ServerResolve,
    ServerTls, StickAction, TcpConnAction, TcpContentAction,
};
use super::proxy::{Body, Settings};
use super::rules;
use super::ssl::{GlobalSsl, ServerSsl, Verify};
use crate::Location;

/// A proxy section after its lines were applied, before validation.
#[derive(Debug, Clone)]
pub struct ProxyDraft {
    /// section name
    pub name: String,
    /// section kind
    pub kind: ProxyKind,
    /// header location
    pub location: Location,
    /// inherited and own settings
    pub settings: Settings,
    /// listeners and servers
    pub body: Body,
}

/// The TCP/HTTP rules of a named `defaults` section, before its ACL names are resolved.
#[derive(Debug)]
pub struct DefaultsRules {
    /// The section's name.
    pub name: String,
    /// Its `mode` at the end of the section.
    pub mode: Mode,
    /// Its `acl` lines and rules.
    pub rules: rules::RulesDraft,
}

fn kind_name(k: ProxyKind) -> &'static str {
    match k {
        ProxyKind::Frontend => "frontend",
        ProxyKind::Backend => "backend",
        ProxyKind::Listen => "listen",
    }
}

/// Checks the drafts against each other and builds the proxies of the model.
/// `http_errors` are the `http-errors` sections, which `errorfiles NAME` refers to.
pub fn proxies(
    drafts: Vec<ProxyDraft>,
    defaults: Vec<DefaultsRules>,
    resolver: Resolver<'_>,
    http_errors: &rules::HttpErrorsSections,
    global_ssl: &GlobalSsl,
    sink: &mut Sink,
) -> Vec<Proxy> {
    // `id N`: one proxy per id, whatever its kind (HAProxy's words).
    let mut ids: HashMap<u32, &ProxyDraft> = HashMap::new();
    for d in &drafts {
        if let Some((n, at)) = &d.settings.id {
            match ids.get(n) {
                Some(prev) => sink.error(
                    at,
                    "id",
                    format!(
                        "{} {} reuses same custom id as {} {} (declared at {}).",
                        kind_name(d.kind),
                        d.name,
                        kind_name(prev.kind),
                        prev.name,
                        prev.location
                    ),
                ),
                None => {
                    ids.insert(*n, d);
                }
            }
        }
    }
    // Duplicate names among proxies sharing a capability (a frontend and a backend may share a name).
    let mut seen_fe: HashMap<&str, &ProxyDraft> = HashMap::new();
    let mut seen_be: HashMap<&str, &ProxyDraft> = HashMap::new();
    for d in &drafts {
        let mut clash = None;
        if d.kind.has_frontend() {
            clash = clash.or(seen_fe.get(d.name.as_str()).copied());
        }
        if d.kind.has_backend() {
            clash = clash.or(seen_be.get(d.name.as_str()).copied());
        }
        if let Some(prev) = clash {
            sink.error(
                &d.location,
                kind_name(d.kind),
                format!(
                    "{} '{}' has the same name as {} '{}' declared at {}",
                    kind_name(d.kind),
                    d.name,
                    kind_name(prev.kind),
                    prev.name,
                    prev.location
                ),
            );
            continue;
        }
        if d.kind.has_frontend() {
            seen_fe.insert(&d.name, d);
        }
        if d.kind.has_backend() {
            seen_be.insert(&d.name, d);
        }
    }

    for d in &drafts {
        let kn = kind_name(d.kind);
        if d.kind.has_frontend() && d.body.bind_lines == 0 {
            sink.error(
                &d.location,
                kn,
                format!("{kn} '{}' has no 'bind' line: it would accept no connection (declare it as a backend if that was intended)", d.name),
            );
        }
        if d.kind.has_frontend() {
            if let Some((be_name, be_loc)) = &d.settings.default_backend {
                backend_ref(d, "default_backend", be_name, be_loc, &seen_be, sink);
            }
            for (be_name, be_loc) in d.body.rules.use_backend_refs() {
                backend_ref(d, "use_backend", be_name, be_loc, &seen_be, sink);
            }
        }
        if d.kind.has_backend() {
            let mut names: HashMap<&str, &Location> = HashMap::new();
            for s in &d.body.servers {
                if let Some(prev) = names.insert(&s.name, &s.location) {
                    sink.error(
                        &s.location,
                        "server",
                        format!(
                            "{kn} '{}' already has a server named '{}' (at {prev})",
                            d.name, s.name
                        ),
                    );
                }
            }
        }
    }

    // The servers named by `srv_*` fetches must exist; their backends keep a note for `del server`.
    let mut referenced: HashMap<String, Vec<String>> = HashMap::new();
    for d in &drafts {
        for (backend, server, loc) in &d.body.server_refs {
            let be_name = backend.as_deref().unwrap_or(&d.name);
            let Some(be) = seen_be.get(be_name) else {
                let why = if backend.is_some() {
                    format!("no backend named '{be_name}'")
                } else {
                    format!(
                        "{} '{}' has no servers: write BACKEND/SERVER",
                        kind_name(d.kind),
                        d.name
                    )
                };
                sink.error(loc, "server fetch", format!("'{server}': {why}"));
                continue;
            };
            if !be.body.servers.iter().any(|s| s.name == *server) {
                sink.error(
                    loc,
                    "server fetch",
                    format!("unable to find server '{server}' in backend '{be_name}'"),
                );
                continue;
            }
            referenced
                .entry(be_name.to_string())
                .or_default()
                .push(server.clone());
        }
    }

    // A defaults section's ACL names resolve among its own `acl` lines only, once for every proxy using it.
    let defaults: Vec<Rules> = defaults
        .into_iter()
        .map(|d| {
            let r = rules::finish(
                d.rules,
                d.mode,
                &format!("defaults '{}'", d.name),
                Vec::new(),
                http_errors,
                sink,
            );
            defaults_tracks(&d.name, &r, sink);
            r
        })
        .collect();
    let mut proxies = drafts
        .into_iter()
        .map(|d| {
            let inherited = d
                .settings
                .rules_from
                .as_ref()
                .and_then(|r| defaults.get(r.index));
            let mut p = build(d, inherited, resolver, http_errors, global_ssl, sink);
            if p.kind.has_backend() {
                if let Some(names) = referenced.get(&p.name) {
                    p.referenced_servers.extend(names.iter().cloned());
                }
            }
            p
        })
        .collect::<Vec<_>>();
    check_tracks(&mut proxies, sink);
    for p in &proxies {
        missing_timeouts(p, sink);
    }
    proxies
}

/// HAProxy's warning for a proxy that can wait forever: an enabled frontend without `timeout client`, or a backend
/// with servers without `timeout connect`, or without `timeout server` (in `mode tcp`, `timeout tunnel` stands in
/// for it). A zero timeout is no timeout. A `listen` section is named "proxy", as HAProxy names it.
fn missing_timeouts(p: &Proxy, sink: &mut Sink) {
    let set = |t: Option<std::time::Duration>| t.is_some_and(|d| !d.is_zero());
    let t = &p.timeouts;
    let frontend = p.kind.has_frontend() && !p.disabled && !set(t.client);
    let backend = p.kind.has_backend()
        && !p.servers.is_empty()
        && (!set(t.connect) || !(set(t.server) || (p.mode == Mode::Tcp && set(t.tunnel))));
    if !(frontend || backend) {
        return;
    }
    let kind = match p.kind {
        ProxyKind::Listen => "proxy",
        k => kind_name(k),
    };
    sink.warn(
        crate::diag::Severity::Warning,
        &p.location,
        kind_name(p.kind),
        format!(
            "missing timeouts for {kind} '{}'. Without them a peer that stalls holds its connection for as \
             long as it likes: give 'client', 'connect' and 'server' a non-zero value.",
            p.name
        ),
    );
}

/// `track`: the tracked server exists, the chain ends at a server with checks or an agent, and a tracking server
/// runs no checks of its own; tracked servers are noted as referenced (`del server` refuses them).
fn check_tracks(proxies: &mut [Proxy], sink: &mut Sink) {
    let find = |proxies: &[Proxy], be: &str, srv: &str| -> Option<(usize, usize)> {
        let p = proxies
            .iter()
            .position(|p| p.kind.has_backend() && p.name == be)?;
        let s = proxies[p].servers.iter().position(|s| s.name == srv)?;
        Some((p, s))
    };
    let mut marks = Vec::new();
    // A chain longer than the number of servers has a loop in it.
    let max_hops: usize = proxies.iter().map(|p| p.servers.len()).sum();
    for p in proxies.iter() {
        for s in &p.servers {
            let Some((tb, ts)) = &s.track else { continue };
            let here = format!("'server {}/{}'", p.name, s.name);
            if s.check {
                sink.error(
                    &s.location,
                    "server track",
                    format!("{here}: 'check' and 'track' exclude each other (a tracking server takes the tracked one's state)"),
                );
                continue;
            }
            let Some(mut at) = find(proxies, tb, ts) else {
                sink.error(
                    &s.location,
                    "server track",
                    format!("{here}: no server '{ts}' in backend '{tb}' to track"),
                );
                continue;
            };
            marks.push(at);
            // Follow the chain to the server that runs the checks (a loop, or one without checks, is refused).
            let mut hops = 0;
            loop {
                let t = &proxies[at.0].servers[at.1];
                if t.check || t.agent.is_some() {
                    break;
                }
                let next = t.track.as_ref().and_then(|(b, n)| find(proxies, b, n));
                match next {
                    Some(n) if hops < max_hops => {
                        at = n;
                        hops += 1;
                    }
                    _ => {
                        sink.error(
                            &s.location,
                            "server track",
                            format!(
                                "{here}: '{}/{}' cannot be tracked: it has no check nor agent enabled",
                                proxies[at.0].name, t.name
                            ),
                        );
                        break;
                    }
                }
            }
        }
    }
    for (p, s) in marks {
        let name = proxies[p].servers[s].name.clone();
        proxies[p].referenced_servers.push(name);
    }
}

/// Numbers the proxies as haproxy 2.6 does (observed): in configuration order, disabled ones included, a counter
/// starting at 1 (2 when a `stats socket` makes HAProxy's own CLI proxy the first) moves past the ids `id N` lines
/// claim; a proxy without `id` takes it, and every proxy moves it on by one.
pub fn number_proxies(proxies: &mut [Proxy], no_stats_socket: bool) {
    let claimed: std::collections::HashSet<u32> = proxies.iter().filter_map(|p| p.id).collect();
    let mut next: u32 = if no_stats_socket { 1 } else { 2 };
    for p in proxies {
        while claimed.contains(&next) {
            next += 1;
        }
        p.uid = p.id.unwrap_or(next);
        next += 1;
    }
}

/// A defaults section has no stick table of its own: its `track-sc*` actions must name one with `table`, as
/// HAProxy requires (it looks for a table named after the defaults section).
fn defaults_tracks(name: &str, r: &Rules, sink: &mut Sink) {
    let mut check = |a: &StickAction, loc: &Location| {
        if let StickAction::Track {
            sc, table: None, ..
        } = a
        {
            sink.error(
                loc,
                &format!("track-sc{sc}"),
                format!("defaults '{name}': unable to find table '{name}' referenced by track-sc{sc} (a defaults section's rules must name their table with 'table')"),
            );
        }
    };
    for x in &r.http_request {
        if let HttpRequestAction::Stick(a) = &x.action {
            check(a, &x.location);
        }
    }
    for x in &r.tcp_connection {
        if let TcpConnAction::Stick(a) = &x.action {
            check(a, &x.location);
        }
    }
    for x in r.tcp_session.iter().chain(&r.tcp_content) {
        if let TcpContentAction::Var(HttpRequestAction::Stick(a)) = &x.action {
            check(a, &x.location);
        }
    }
}

/// The rules of a proxy that uses a defaults section defining rules: the defaults' rules of each list first, then
/// the proxy's own (HAProxy evaluates them in that order). The defaults' ACLs stay out of the proxy's `acls`: they
/// are not visible from its own lines.
fn prepend(inherited: &Rules, mut own: Rules) -> Rules {
    fn before<T: Clone>(first: &[T], then: Vec<T>) -> Vec<T> {
        first.iter().cloned().chain(then).collect()
    }
    own.http_request = before(&inherited.http_request, own.http_request);
    own.http_response = before(&inherited.http_response, own.http_response);
    own.http_after_response = before(&inherited.http_after_response, own.http_after_response);
    own.tcp_connection = before(&inherited.tcp_connection, own.tcp_connection);
    own.tcp_session = before(&inherited.tcp_session, own.tcp_session);
    own.tcp_content = before(&inherited.tcp_content, own.tcp_content);
    own.inspect_delay = own.inspect_delay.or(inherited.inspect_delay);
    own.tcp_response = before(&inherited.tcp_response, own.tcp_response);
    own.response_inspect_delay = own
        .response_inspect_delay
        .or(inherited.response_inspect_delay);
    own
}

/// Checks that the backend `be_name` a frontend refers to (`default_backend`, `use_backend`) exists and has a
/// compatible mode.
fn backend_ref(
    d: &ProxyDraft,
    kw: &str,
    be_name: &str,
    be_loc: &Location,
    seen_be: &HashMap<&str, &ProxyDraft>,
    sink: &mut Sink,
) {
    let kn = kind_name(d.kind);
    match seen_be.get(be_name) {
        None => sink.error(
            be_loc,
            kw,
            format!(
                "{kn} '{}': no backend or listen section named '{be_name}'",
                d.name
            ),
        ),
        Some(be) => {
            let (fm, bm) = (d.settings.mode, be.settings.mode);
            if fm == Mode::Http && bm == Mode::Tcp {
                sink.error(
                    be_loc,
                    kw,
                    format!(
                        "http {kn} '{}' cannot use tcp backend '{be_name}' ({}): both must be 'mode http' (see 'mode')",
                        d.name, be.location
                    ),
                );
            }
            // A tcp frontend may hand its connections to an http backend: they are upgraded to HTTP, as in
            // HAProxy.
        }
    }
}

fn build(
    d: ProxyDraft,
    inherited: Option<&Rules>,
    resolver: Resolver<'_>,
    http_errors: &rules::HttpErrorsSections,
    global_ssl: &GlobalSsl,
    sink: &mut Sink,
) -> Proxy {
    let ProxyDraft {
        name,
        kind,
        location,
        settings: s,
        body,
    } = d;
    // Capture slots belong to frontends (a backend's capture rules fill its streams' frontend's).
    let (request_slots, response_slots) = if kind.has_frontend() {
        (
            body.rules.request_slots.clone(),
            body.rules.response_slots.clone(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let rules = rules::finish(
        body.rules,
        s.mode,
        &format!("{} '{name}'", kind_name(kind)),
        s.errorfiles,
        http_errors,
        sink,
    );
    let rules = match inherited {
        Some(r) => prepend(r, rules),
        None => rules,
    };
    let mut rules = rules;
    // As HAProxy: `stats auth` / `stats realm` stand for an implicit last `stats http-request auth` rule, and
    // may not be mixed with explicit ones.
    if let (Some(page), Some(r)) = (&s.stats, rules.stats_http_request.first()) {
        if !page.auth.is_empty() || page.realm.is_some() {
            sink.error(
                &r.location,
                "stats http-request",
                format!("proxy '{name}': stats 'auth'/'realm' and 'http-request' can't be used at the same time."),
            );
        }
    }
    // As HAProxy: persistence rules in a proxy without servers are ignored, with a warning.
    if !kind.has_backend() {
        for r in std::mem::take(&mut rules.persist) {
            let kw = match r.action {
                super::model::PersistRule::Force => "force-persist",
                super::model::PersistRule::Ignore => "ignore-persist",
            };
            sink.warn(
                crate::diag::Severity::Warning,
                &r.location,
                kw,
                format!(
                    "'{kw}' ignored because {} '{name}' has no backend capability.",
                    kind_name(kind)
                ),
            );
        }
    }
    // HTTP/2 is a multiplexer of `mode http` only (HAProxy's error).
    if s.mode == Mode::Tcp {
        for b in body
            .binds
            .iter()
            .filter(|b| b.proto == Some(super::model::BindProto::H2))
        {
            sink.error(
                &b.location,
                "bind proto",
                format!(
                    "{} '{name}': 'proto h2' is not usable in 'mode tcp'",
                    kind_name(kind)
                ),
            );
        }
    }
    // `proto none` keeps connections raw: `mode tcp` only (HAProxy's error).
    if s.mode == Mode::Http {
        for b in body.binds.iter().filter(|b| b.proto_none) {
            sink.error(
                &b.location,
                "bind proto",
                format!(
                    "{} '{name}': MUX protocol 'none' is not usable in 'mode http'",
                    kind_name(kind)
                ),
            );
        }
    }
    // HAProxy's warnings, in its words: an option the proxy has no side for, and one `mode tcp` ignores.
    for (at, option) in &body.ignored_options {
        let (missing, this) = if kind.has_frontend() {
            ("backend", kind_name(kind))
        } else {
            ("frontend", kind_name(kind))
        };
        sink.warn(
            crate::diag::Severity::Warning,
            at,
            &format!("option {option}"),
            format!("'{option}' ignored because {this} '{name}' has no {missing} capability."),
        );
    }
    for (at, kw) in &body.ignored_keywords {
        let (missing, hint) = if *kw == "backlog" || *kw == "rate-limit sessions" {
            ("frontend", "")
        } else {
            ("backend", " Maybe you want 'maxconn' instead ?")
        };
        sink.warn(
            crate::diag::Severity::Warning,
            at,
            kw,
            format!(
                "'{kw}' ignored because {} '{name}' has no {missing} capability.{hint}",
                kind_name(kind)
            ),
        );
    }
    for (set, option, side) in [
        (
            s.accept_invalid_request,
            "accept-invalid-http-request",
            kind.has_frontend(),
        ),
        (
            s.accept_invalid_response,
            "accept-invalid-http-response",
            kind.has_backend(),
        ),
    ] {
        if set && side && s.mode == Mode::Tcp {
            sink.warn(
                crate::diag::Severity::Warning,
                &location,
                &format!("option {option}"),
                format!("'option {option}' ignored for proxy '{name}' as it requires HTTP mode."),
            );
        }
    }
    if s.tcp_check_lines && !s.tcpchk && kind.has_backend() {
        sink.warn(
            crate::diag::Severity::Warning,
            &location,
            "tcp-check",
            format!("{} '{name}' uses tcp-check rules without 'option tcp-check', so the rules are ignored", kind_name(kind)),
        );
    }
    if s.http_check_rules && !s.httpchk && kind.has_backend() {
        sink.warn(
            crate::diag::Severity::Warning,
            &location,
            "http-check",
            format!("{} '{name}' uses http-check rules without 'option httpchk', so the rules are ignored", kind_name(kind)),
        );
    }
    // As HAProxy: a cookie is ignored, with a warning, where the proxy has no servers or is not HTTP.
    let cookie = match s.cookie.clone() {
        Some((_, at)) if !kind.has_backend() => {
            sink.warn(
                crate::diag::Severity::Warning,
                &at,
                "cookie",
                format!(
                    "'cookie' ignored because {} '{name}' has no backend capability.",
                    kind_name(kind)
                ),
            );
            None
        }
        Some(_) if s.mode == Mode::Tcp => {
            sink.warn(
                crate::diag::Severity::Warning,
                &location,
                "cookie",
                format!("cookie will be ignored for backend '{name}' (needs 'mode http')."),
            );
            None
        }
        c => c.map(|(mut c, _)| {
            c.dynamic_key = s.dynamic_cookie_key.clone();
            c
        }),
    };
    let mut servers = Vec::new();
    let mut drafts = body.servers;
    if let Some(d) = body.dispatch {
        match drafts.first() {
            Some(first) => sink.error(
                &d.location,
                "dispatch",
                format!(
                    "'{name}' has both 'dispatch' and 'server' lines ({}): HAProxy then sends every request to the dispatch address and balances nothing; fulcrum refuses this, keep one of them",
                    first.location
                ),
            ),
            None => drafts.push(d),
        }
    }
    // Whether the check ruleset in force opens TLS connections of its own (`connect ssl`).
    let rules_tls = (s.tcpchk
        && s.tcp_check_rules
            .iter()
            .any(|r| matches!(&r.action, super::model::TcpCheckAction::Connect(c) if c.ssl)))
        || (s.httpchk
            && s.http_rules
                .iter()
                .any(|r| matches!(&r.action, super::model::HttpCheckAction::Connect(c) if c.ssl)));
    for sd in drafts {
        let Some((addr, resolve)) = server_addr(&name, &sd, resolver, sink) else {
            continue;
        };
        let o = sd.opts;
        let inter = o.inter.unwrap_or(Duration::from_secs(2));
        let agent = match (o.agent_check, o.agent_port) {
            (Some(true), None) => {
                sink.error(
                    &sd.location,
                    "server agent-check",
                    format!(
                        "'server {name}/{}': server {} does not have agent port",
                        sd.name, sd.name
                    ),
                );
                continue;
            }
            (Some(true), Some(port)) => Some(AgentCheck {
                addr: o.agent_addr,
                port,
                send: o.agent_send.clone(),
                inter: o.agent_inter.unwrap_or(Duration::from_secs(2)),
            }),
            _ => None,
        };
        // HTTP/2 (or HTTP/1) to a server is an HTTP backend's business only.
        if o.proto.is_some() && s.mode != Mode::Http && kind.has_backend() {
            sink.error(
                &sd.location,
                "server proto",
                format!(
                    "backend '{name}' : MUX protocol '{}' is not usable for server '{}'",
                    if o.proto == Some(super::model::BindProto::H2) {
                        "h2"
                    } else {
                        "h1"
                    },
                    sd.name
                ),
            );
            continue;
        }
        // HAProxy warns and watches nothing.
        let layer7_in_tcp = o.observe == Some(Some(ObserveLayer::Layer7)) && s.mode != Mode::Http;
        if layer7_in_tcp {
            sink.warn(
                crate::diag::Severity::Warning,
                &sd.location,
                "server observe",
                format!(
                    "'server {name}/{}' : 'layer7' can only be used in http proxies; the server's traffic is not observed",
                    sd.name
                ),
            );
        }
        let tls = match server_tls(&o.ssl, &o, global_ssl, rules_tls) {
            Ok(t) => t,
            Err(message) => {
                sink.error(
                    &sd.location,
                    "server",
                    format!("'server {name}/{}' : {message}", sd.name),
                );
                continue;
            }
        };
        // SOCKS4 names its target by an IPv4 address and a port (stricter than HAProxy, which sends what it can).
        if o.socks4.is_some() && (sd.unix.is_some() || addr.is_ipv6() || sd.port_offset.is_some()) {
            sink.error(
                &sd.location,
                "server socks4",
                format!(
                    "'server {name}/{}' : 'socks4' reaches a server by its IPv4 address and port only, not a unix socket, an IPv6 address or a port taken from the client's",
                    sd.name
                ),
            );
            continue;
        }
        if sd.port_offset.is_some() && o.check == Some(true) && o.check_port.is_none() {
            sink.error(
                &sd.location,
                "server",
                format!(
                    "backend '{name}': server '{}' has neither service port nor check port.",
                    sd.name
                ),
            );
            continue;
        }
        servers.push(Server {
            name: sd.name,
            addr,
            unix: sd.unix,
            port_offset: sd.port_offset,
            weight: o.weight.unwrap_or(1),
            backup: o.backup.unwrap_or(false),
            check: o.check.unwrap_or(false),
            inter,
            fastinter: o.fastinter.unwrap_or(inter),
            downinter: o.downinter.unwrap_or(inter),
            rise: o.rise.unwrap_or(2),
            fall: o.fall.unwrap_or(3),
            check_port: o.check_port,
            check_addr: o.check_addr,
            maxconn: o.maxconn.filter(|n| *n > 0),
            maxqueue: o.maxqueue.filter(|n| *n > 0),
            pool_max_conn: o
                .pool_max_conn
                .and_then(|n| u32::try_from(n.min(i64::from(u32::MAX))).ok()),
            slowstart: o.slowstart.filter(|t| !t.is_zero()),
            tcp_user_timeout: o.tcp_ut.filter(|t| !t.is_zero()),
            agent,
            disabled: o.disabled.unwrap_or(false),
            tls,
            no_ssl: o.ssl.enabled == Some(false),
            send_proxy: match (o.send_proxy_v1, o.send_proxy_v2) {
                (_, Some(true)) => Some(SendProxy {
                    v2: true,
                    options: o.proxy_v2,
                }),
                (Some(true), _) => Some(SendProxy {
                    v2: false,
                    options: o.proxy_v2,
                }),
                _ => None,
            },
            check_send_proxy: o.check_send_proxy.unwrap_or(false),
            socks4: o.socks4,
            check_via_socks4: o.check_via_socks4.unwrap_or(false),
            observe: Observe {
                layer: o.observe.flatten().filter(|_| !layer7_in_tcp),
                error_limit: o.error_limit.unwrap_or(10),
                on_error: o.on_error.unwrap_or(OnError::FailCheck),
            },
            shutdown_on_down: o.shutdown_on_down.unwrap_or(false),
            shutdown_backups_on_up: o.shutdown_backups_on_up.unwrap_or(false),
            track: o.track.as_deref().map(|t| match t.split_once('/') {
                Some((b, s)) => (b.to_string(), s.to_string()),
                None => (name.clone(), t.to_string()),
            }),
            cookie: o.cookie.clone(),
            resolve,
            proto: o.proto,
            check_proto: o.check_proto,
            location: sd.location,
        });
    }
    // `use-server`: the servers are known now.
    let mut rules = rules;
    rules.use_servers.retain_mut(|r| {
        match servers.iter().position(|sv| sv.name == r.action.name) {
            Some(i) => {
                r.action.index = i;
                true
            }
            None => {
                sink.error(
                    &r.location,
                    "use-server",
                    format!(
                        "{} '{name}' : unable to find server '{}' referenced in a 'use-server' rule.",
                        kind_name(kind),
                        r.action.name
                    ),
                );
                false
            }
        }
    });
    super::compression::check(
        &format!("{} '{name}'", kind_name(kind)),
        &location,
        s.compression.as_ref(),
        &body.filters,
        sink,
    );
    let external_check = match (s.external_check && kind.has_backend(), s.external_command) {
        (true, Some(command)) => Some(super::model::ExternalCheck {
            command,
            path: s.external_path.unwrap_or_default(),
        }),
        (true, None) => {
            sink.error(
                &location,
                "option external-check",
                format!(
                    "Proxy '{name}' : 'option external-check' unable to find required 'external-check command'."
                ),
            );
            None
        }
        _ => None,
    };
    let stick_table = body.stick_table.map(|mut t| {
        t.def.name = name.clone();
        t
    });
    Proxy {
        name,
        kind,
        location,
        mode: s.mode,
        id: s.id.as_ref().map(|(n, _)| *n),
        uid: 0,
        disabled: s.disabled,
        backlog: s.backlog,
        fullconn: s.fullconn,
        binds: body.binds,
        maxconn: s.maxconn,
        rate_limit_sessions: s.rate_limit_sessions.filter(|&n| n > 0),
        timeouts: s.timeouts,
        http_conn_mode: s.http_conn_mode,
        http_reuse: s.http_reuse,
        forwardfor: s.forwardfor,
        originalto: s.originalto,
        default_backend: if kind.has_frontend() {
            s.default_backend.map(|(n, _)| n)
        } else {
            None
        },
        balance: s.balance,
        persist_rdp: s.persist_rdp,
        hash_type: s.hash_type,
        hash_options: s.hash_options,
        referenced_servers: rules
            .use_servers
            .iter()
            .map(|r| r.action.name.clone())
            .collect(),
        servers,
        httpchk: s
            .httpchk
            .then(|| s.http_send.clone().unwrap_or_default().resolve()),
        http_check: http_check_rules(&s.http_rules, s.http_send.as_ref()),
        http_send_state: s.http_send_state,
        http_disable_on_404: s.http_disable_on_404,
        protocol_check: s.protocol_check,
        external_check,
        tcp_check: s.tcpchk.then(|| s.tcp_check_rules.clone()),
        retries: s.retries,
        redispatch: s.redispatch,
        persist: s.persist,
        send_name_header: s.send_name_header.clone().filter(|_| kind.has_backend()),
        cookie,
        description: body.description,
        allbackups: s.allbackups,
        httplog: s.httplog,
        httpslog: s.httpslog,
        tcplog: s.tcplog,
        dontlognull: s.dontlognull,
        log_tag: s.log_tag.clone(),
        dontlog_normal: s.dontlog_normal,
        logasap: s.logasap,
        log_health_checks: s.log_health_checks,
        load_server_state: s.load_server_state,
        server_state_file_name: s.server_state_file_name.clone(),
        http_buffer_request: s.http_buffer_request,
        accept_invalid_request: s.accept_invalid_request
            && kind.has_frontend()
            && s.mode == Mode::Http,
        accept_invalid_response: s.accept_invalid_response
            && kind.has_backend()
            && s.mode == Mode::Http,
        abortonclose: s.abortonclose,
        clitcpka: s.clitcpka && kind.has_frontend(),
        srvtcpka: s.srvtcpka && kind.has_backend(),
        tcp_smart_accept: kind.has_frontend() && s.tcp_smart_accept.unwrap_or(s.mode == Mode::Http),
        tcp_smart_connect: s.tcp_smart_connect && kind.has_backend(),
        splice_response: (s.splice_response || s.splice_auto) && s.mode == Mode::Http,
        splice_request: (s.splice_request || s.splice_auto) && s.mode == Mode::Http,
        nolinger: s.nolinger,
        log_global: s.log_global,
        logs: s.logs,
        rules,
        log_format: s.log_format,
        retry_on: s.retry_on,
        stats: s.stats,
        monitor_uri: if kind.has_frontend() {
            s.monitor_uri
        } else {
            None
        },
        unique_id_format: s.unique_id_format.filter(|_| kind.has_frontend()),
        unique_id_header: s.unique_id_header.filter(|_| kind.has_frontend()),
        capture_request: body.capture_request,
        stick_table,
        capture_response: body.capture_response,
        capture_cookie: body.capture_cookie.filter(|_| kind.has_frontend()),
        request_slots,
        response_slots,
        compression: s.compression,
    }
}

/// Settles a server's TLS options; `None` when neither its traffic nor its checks use TLS. Refuses, as HAProxy
/// does, a verification asked for (explicitly or by default) without the CAs to verify against.
pub(crate) fn server_tls(
    ssl: &ServerSsl,
    o: &super::server::ServerOpts,
    g: &GlobalSsl,
    rules_tls: bool,
) -> Result<Option<ServerTls>, String> {
    let traffic = ssl.enabled.unwrap_or(false);
    // An `ssl` server is checked over TLS unless the checks go to another port or address.
    let checks = o.check.unwrap_or(false)
        && ssl
            .check_ssl
            .unwrap_or(traffic && o.check_port.is_none() && o.check_addr.is_none());
    // A `connect ssl` rule of the check ruleset needs the server's TLS settings even without `check-ssl`.
    let for_rules = rules_tls && o.check.unwrap_or(false);
    if !(traffic || checks || for_rules || ssl.prepared) {
        return Ok(None);
    }
    let explicit = ssl.verify;
    let verify = explicit.or(g.server_verify).unwrap_or(Verify::Required) == Verify::Required;
    // Also for settings kept only for `set server ... ssl on` (`ssl` then `no-ssl`), as HAProxy refuses them.
    if verify && ssl.ca_file.is_none() {
        return Err(match explicit {
            Some(_) => "verify is enabled but no CA file specified ('ca-file'); set 'verify none' to accept any certificate".to_string(),
            None => "verify is enabled by default but no CA file specified: set 'ca-file', or 'verify none' on the server line (or 'ssl-server-verify none' in the global section) to accept any certificate".to_string(),
        });
    }
    let sni = match &ssl.sni {
        Some(text) => Some(SampleExpr(std::sync::Arc::new(
            fulcrum_sample::Expr::parse(text).map_err(|e| format!("'sni': {e}"))?,
        ))),
        None => None,
    };
    Ok(Some(ServerTls {
        traffic,
        checks,
        verify,
        ca_file: ssl.ca_file.clone(),
        crl_file: ssl.crl_file.clone(),
        crt: ssl.crt.clone(),
        sni,
        verifyhost: ssl.verifyhost.clone().filter(|h| !h.is_empty()),
        alpn: ssl.alpn.clone().unwrap_or_default(),
        reuse: ssl.reuse.unwrap_or(true),
        check_sni: ssl.check_sni.clone(),
        check_alpn: ssl.check_alpn.clone(),
        options: ssl.options.over(&g.server_defaults),
    }))
}

/// A server's starting address and, when it has `resolvers`, `init-addr` or comes from a `server-template`, how
/// it follows names at run time. `init-addr` methods are tried in order (default `last,libc`): `libc` asks the
/// system resolver now, an IP address is taken as it is, `none` starts the server without an address (in
/// maintenance until the resolvers or the runtime API give it one), `last` is left to the server-state file the
/// proxy reads at start (a server it does not cover starts without an address). A name nothing resolves is an
/// error, unless the server has `resolvers` (it then starts without an address, with a warning, as HAProxy does).
fn server_addr(
    proxy: &str,
    sd: &super::server::ServerDraft,
    resolver: Resolver<'_>,
    sink: &mut Sink,
) -> Option<(std::net::SocketAddr, Option<Box<ServerResolve>>)> {
    use super::addr::Host;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    let o = &sd.opts;
    let dynamic = o.resolvers.is_some() || o.init_addr.is_some() || sd.template.is_some();
    if !dynamic {
        return match addr::resolve(&sd.host, sd.family, sd.port, resolver) {
            Ok(a) => Some((a, None)),
            Err(e) => {
                sink.error(
                    &sd.location,
                    "server",
                    format!("server '{proxy}/{}': {e}", sd.name),
                );
                None
            }
        };
    }
    let prefer_v6 = o.resolve_prefer_v6.unwrap_or(true);
    let (allow_dup_ip, ignore_weight) = o.resolve_opts.unwrap_or((false, false));
    let mut r = ServerResolve {
        resolvers: o.resolvers.clone(),
        fqdn: None,
        prefer_v6,
        nets: o.resolve_net.clone().unwrap_or_default(),
        allow_dup_ip,
        ignore_weight,
        // HAProxy's default, `none` added for a server with resolvers so that it never fails the start.
        init_addr: o.init_addr.clone().unwrap_or_else(|| {
            let mut m = vec![InitAddr::Last, InitAddr::Libc];
            if o.resolvers.is_some() {
                m.push(InitAddr::None);
            }
            m
        }),
        unresolved: false,
        template: sd.template,
        last_fallback: None,
    };
    let name = match &sd.host {
        Host::Name(n) => n.clone(),
        _ => match addr::resolve(&sd.host, sd.family, sd.port, resolver) {
            Ok(a) => return Some((a, Some(Box::new(r)))),
            Err(e) => {
                sink.error(
                    &sd.location,
                    "server",
                    format!("server '{proxy}/{}': {e}", sd.name),
                );
                return None;
            }
        },
    };
    r.fqdn = Some(name.clone());
    let srv = r.is_srv();
    let mut found: Option<IpAddr> = None;
    let mut last_error = String::from("no matching address");
    for m in &r.init_addr {
        match *m {
            InitAddr::Ip(ip) => {
                found = Some(ip);
                break;
            }
            InitAddr::None => break,
            InitAddr::Last => {}
            InitAddr::Libc if srv => {}
            InitAddr::Libc => match resolver(&name, sd.port) {
                Ok(addrs) => {
                    let fits = |a: &&SocketAddr| match sd.family {
                        super::addr::Family::V4 => a.is_ipv4(),
                        super::addr::Family::V6 => a.is_ipv6(),
                        super::addr::Family::Any => true,
                    };
                    let pick = addrs
                        .iter()
                        .filter(fits)
                        .find(|a| a.is_ipv6() == prefer_v6)
                        .or_else(|| addrs.iter().find(fits));
                    match pick {
                        Some(a) => {
                            found = Some(a.ip());
                            break;
                        }
                        None => last_error = "no matching address".into(),
                    }
                }
                Err(e) => last_error = e.to_string(),
            },
        }
    }
    let ip = match found {
        Some(ip) => ip,
        None => {
            // HAProxy's verdict once the methods are spent: up to `none`, the server starts without an address
            // (warned when `libc` failed); without `none`, the configuration cannot start. A `last` among the
            // methods tried leaves the verdict to the server-state file the proxy reads at start.
            let upto: Vec<&InitAddr> = r
                .init_addr
                .iter()
                .take_while(|m| **m != InitAddr::None)
                .collect();
            let tried_libc = !srv && upto.iter().any(|m| **m == InitAddr::Libc);
            let stopped_at_none = upto.len() < r.init_addr.len();
            let fallback = if stopped_at_none || srv {
                InitAddrFallback::Unresolved(tried_libc.then(|| {
                    format!(
                        "'server {proxy}/{}' : could not resolve address '{name}', disabling server.",
                        sd.name
                    )
                }))
            } else if tried_libc {
                InitAddrFallback::Fatal(format!(
                    "server '{proxy}/{}': could not resolve address '{name}': {last_error}",
                    sd.name
                ))
            } else {
                InitAddrFallback::Fatal(format!(
                    "server '{proxy}/{}': no method found to resolve address '{name}'",
                    sd.name
                ))
            };
            r.unresolved = true;
            if upto.iter().any(|m| **m == InitAddr::Last) {
                r.last_fallback = Some(fallback);
            } else {
                match fallback {
                    InitAddrFallback::Fatal(message) => {
                        sink.error(&sd.location, "server", message);
                        return None;
                    }
                    InitAddrFallback::Unresolved(Some(warning)) => sink.warn(
                        crate::diag::Severity::Warning,
                        &sd.location,
                        "server",
                        warning,
                    ),
                    InitAddrFallback::Unresolved(None) => {}
                }
            }
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        }
    };
    Some((SocketAddr::new(ip, sd.port), Some(Box::new(r))))
}

/// Checks that every `resolvers NAME` a server names exists.
pub fn check_resolvers(proxies: &[Proxy], list: &[Resolvers], sink: &mut Sink) {
    for p in proxies {
        for s in &p.servers {
            let Some(want) = s.resolve.as_ref().and_then(|r| r.resolvers.as_deref()) else {
                continue;
            };
            if !list.iter().any(|r| r.name == want) {
                sink.error(
                    &s.location,
                    "server",
                    format!(
                        "{} '{}', server '{}': unable to find required resolvers '{want}'",
                        kind_name(p.kind),
                        p.name,
                        s.name
                    ),
                );
            }
        }
    }
}

/// The `http-check` rules in order, the first `send` being the request merged with `option httpchk`'s.
fn http_check_rules(
    rules: &[super::model::HttpCheckRule],
    send: Option<&super::proxy::CheckSend>,
) -> Vec<super::model::HttpCheckRule> {
    use super::model::HttpCheckAction;
    let mut first = true;
    rules
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let HttpCheckAction::Send(request) = &mut r.action {
                if std::mem::take(&mut first) {
                    *request = send.cloned().unwrap_or_default().resolve();
                }
            }
            r
        })
        .collect()
}
