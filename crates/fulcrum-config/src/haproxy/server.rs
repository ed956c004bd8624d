//! `server NAME ADDR:PORT [options]` and `default-server [options]`.

use std::net::IpAddr;
use std::time::Duration;

use super::addr::{self, Family, Host, Proto};
use super::common::{Line, Sink};
use super::known;
use super::model::{InitAddr, ObserveLayer, OnError, ProxyV2Options};
use super::ssl::{self, Parsed, ServerSsl};
use crate::Location;

/// Server options as written; `None` means "not given here" so that `default-server` lines can be merged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerOpts {
    /// `weight`
    pub weight: Option<u32>,
    /// `backup` / `no-backup`
    pub backup: Option<bool>,
    /// `check` / `no-check`
    pub check: Option<bool>,
    /// `inter`
    pub inter: Option<Duration>,
    /// `fastinter`
    pub fastinter: Option<Duration>,
    /// `downinter`
    pub downinter: Option<Duration>,
    /// `rise`
    pub rise: Option<u32>,
    /// `fall`
    pub fall: Option<u32>,
    /// `port`
    pub check_port: Option<u16>,
    /// `addr`
    pub check_addr: Option<IpAddr>,
    /// `maxconn` (0 stored as `Some(0)`: no limit)
    pub maxconn: Option<u32>,
    /// `maxqueue`
    pub maxqueue: Option<u32>,
    /// `pool-max-conn N` (-1: no limit)
    pub pool_max_conn: Option<i64>,
    /// `slowstart`
    pub slowstart: Option<Duration>,
    /// `tcp-ut T`
    pub tcp_ut: Option<Duration>,
    /// `disabled` / `enabled`
    pub disabled: Option<bool>,
    /// `agent-check` / `no-agent-check`
    pub agent_check: Option<bool>,
    /// `agent-addr`
    pub agent_addr: Option<IpAddr>,
    /// `agent-port`
    pub agent_port: Option<u16>,
    /// `agent-send`
    pub agent_send: Option<String>,
    /// `agent-inter`
    pub agent_inter: Option<Duration>,
    /// TLS towards the server (`ssl`, `verify`, `ca-file`, `crt`, `sni`, `check-ssl` ...).
    pub ssl: ServerSsl,
    /// `send-proxy` / `no-send-proxy`
    pub send_proxy_v1: Option<bool>,
    /// `send-proxy-v2` (and its `-ssl`, `-ssl-cn` forms) / `no-send-proxy-v2`
    pub send_proxy_v2: Option<bool>,
    /// `proxy-v2-options`, with the options `send-proxy-v2-ssl[-cn]` imply; added up over `default-server`.
    pub proxy_v2: ProxyV2Options,
    /// `check-send-proxy`
    pub check_send_proxy: Option<bool>,
    /// `socks4 ADDR:PORT`: the SOCKS4 proxy through which connections to the server go
    pub socks4: Option<std::net::SocketAddr>,
    /// `check-via-socks4`
    pub check_via_socks4: Option<bool>,
    /// `cookie VALUE`: the value of the backend's persistence cookie naming this server
    pub cookie: Option<String>,
    /// `resolvers NAME`
    pub resolvers: Option<String>,
    /// `resolve-prefer ipv6` (true) or `ipv4`
    pub resolve_prefer_v6: Option<bool>,
    /// `resolve-opts`: (allow-dup-ip, ignore-weight)
    pub resolve_opts: Option<(bool, bool)>,
    /// `resolve-net`
    pub resolve_net: Option<Vec<(IpAddr, u8)>>,
    /// `init-addr`
    pub init_addr: Option<Vec<InitAddr>>,
    /// `observe none|layer4|layer7` (`Some(None)`: none)
    pub observe: Option<Option<ObserveLayer>>,
    /// `error-limit`
    pub error_limit: Option<u32>,
    /// `on-error`
    pub on_error: Option<OnError>,
    /// `on-marked-down shutdown-sessions`
    pub shutdown_on_down: Option<bool>,
    /// `on-marked-up shutdown-backup-sessions`
    pub shutdown_backups_on_up: Option<bool>,
    /// `track [BACKEND/]SERVER`, as written
    pub track: Option<String>,
    /// `proto h1|h2`
    pub proto: Option<super::model::BindProto>,
    /// `check-proto h1|h2`
    pub check_proto: Option<super::model::BindProto>,
}

impl ServerOpts {
    /// `self` with every option given in `over` replaced by it.
    pub fn overlay(&self, over: &ServerOpts) -> ServerOpts {
        ServerOpts {
            weight: over.weight.or(self.weight),
            backup: over.backup.or(self.backup),
            check: over.check.or(self.check),
            inter: over.inter.or(self.inter),
            fastinter: over.fastinter.or(self.fastinter),
            downinter: over.downinter.or(self.downinter),
            rise: over.rise.or(self.rise),
            fall: over.fall.or(self.fall),
            check_port: over.check_port.or(self.check_port),
            check_addr: over.check_addr.or(self.check_addr),
            maxconn: over.maxconn.or(self.maxconn),
            maxqueue: over.maxqueue.or(self.maxqueue),
            pool_max_conn: over.pool_max_conn.or(self.pool_max_conn),
            slowstart: over.slowstart.or(self.slowstart),
            tcp_ut: over.tcp_ut.or(self.tcp_ut),
            disabled: over.disabled.or(self.disabled),
            agent_check: over.agent_check.or(self.agent_check),
            agent_addr: over.agent_addr.or(self.agent_addr),
            agent_port: over.agent_port.or(self.agent_port),
            agent_send: over.agent_send.clone().or_else(|| self.agent_send.clone()),
            agent_inter: over.agent_inter.or(self.agent_inter),
            ssl: self.ssl.overlay(&over.ssl),
            send_proxy_v1: over.send_proxy_v1.or(self.send_proxy_v1),
            send_proxy_v2: over.send_proxy_v2.or(self.send_proxy_v2),
            proxy_v2: self.proxy_v2.union(over.proxy_v2),
            check_send_proxy: over.check_send_proxy.or(self.check_send_proxy),
            socks4: over.socks4.or(self.socks4),
            check_via_socks4: over.check_via_socks4.or(self.check_via_socks4),
            cookie: over.cookie.clone().or_else(|| self.cookie.clone()),
            resolvers: over.resolvers.clone().or_else(|| self.resolvers.clone()),
            resolve_prefer_v6: over.resolve_prefer_v6.or(self.resolve_prefer_v6),
            resolve_opts: over.resolve_opts.or(self.resolve_opts),
            resolve_net: over
                .resolve_net
                .clone()
                .or_else(|| self.resolve_net.clone()),
            init_addr: over.init_addr.clone().or_else(|| self.init_addr.clone()),
            observe: over.observe.or(self.observe),
            error_limit: over.error_limit.or(self.error_limit),
            on_error: over.on_error.or(self.on_error),
            shutdown_on_down: over.shutdown_on_down.or(self.shutdown_on_down),
            shutdown_backups_on_up: over.shutdown_backups_on_up.or(self.shutdown_backups_on_up),
            track: over.track.clone().or_else(|| self.track.clone()),
            proto: over.proto.or(self.proto),
            check_proto: over.check_proto.or(self.check_proto),
        }
    }
}

/// A `server` line before its address is resolved; options already merged with `default-server`.
#[derive(Debug, Clone)]
pub struct ServerDraft {
    /// name
    pub name: String,
    /// family prefix of the address
    pub family: Family,
    /// host part
    pub host: Host,
    /// traffic port
    pub port: u16,
    /// No port, or `+N` / `-N`: the port is the client's destination port plus this (`port` is 0).
    pub port_offset: Option<i32>,
    /// merged options
    pub opts: ServerOpts,
    /// where the line is
    pub location: Location,
    /// slot N (1-based) of a `server-template` of this many slots
    pub template: Option<(u32, u32)>,
    /// a unix socket address (then `host` is the unspecified address and `port` 0)
    pub unix: Option<super::model::UnixAddr>,
}

/// Parses the options from `words[start..]`. Returns `None` if any was wrong (all problems are reported).
pub fn parse_opts(line: &Line, start: usize, kw: &str, sink: &mut Sink) -> Option<ServerOpts> {
    let loc = &line.location;
    let mut o = ServerOpts::default();
    let mut ok = true;
    let mut i = start;
    let w = &line.words;
    while i < w.len() {
        let opt = w[i].as_str();
        let val = w.get(i + 1).map(String::as_str);
        let okey = format!("{kw} {opt}");
        let mut took_arg = true;
        let good = match opt {
            "check" | "no-check" => {
                took_arg = false;
                o.check = Some(opt == "check");
                true
            }
            "backup" | "no-backup" => {
                took_arg = false;
                o.backup = Some(opt == "backup");
                true
            }
            "disabled" | "enabled" => {
                took_arg = false;
                o.disabled = Some(opt == "disabled");
                true
            }
            "send-proxy" | "no-send-proxy" => {
                took_arg = false;
                o.send_proxy_v1 = Some(opt == "send-proxy");
                true
            }
            "send-proxy-v2" | "send-proxy-v2-ssl" | "send-proxy-v2-ssl-cn" => {
                took_arg = false;
                o.send_proxy_v2 = Some(true);
                o.proxy_v2.ssl |= opt != "send-proxy-v2";
                o.proxy_v2.cert_cn |= opt == "send-proxy-v2-ssl-cn";
                true
            }
            "no-send-proxy-v2" | "no-send-proxy-v2-ssl" | "no-send-proxy-v2-ssl-cn" => {
                took_arg = false;
                o.send_proxy_v2 = Some(false);
                true
            }
            "track" => match val {
                Some(v) if !v.is_empty() && !v.starts_with('/') && !v.ends_with('/') => {
                    o.track = Some(v.to_string());
                    true
                }
                _ => {
                    sink.error(
                        loc,
                        &okey,
                        "expects [BACKEND/]SERVER: the server whose health this one follows",
                    );
                    false
                }
            },
            "observe" => match val {
                Some("none") => {
                    o.observe = Some(None);
                    true
                }
                Some("layer4") => {
                    o.observe = Some(Some(ObserveLayer::Layer4));
                    true
                }
                Some("layer7") => {
                    o.observe = Some(Some(ObserveLayer::Layer7));
                    true
                }
                v => {
                    sink.error(
                        loc,
                        &okey,
                        format!(
                            "'observe' expects one of 'none', 'layer4', 'layer7' but got '{}'",
                            v.unwrap_or("")
                        ),
                    );
                    false
                }
            },
            "error-limit" => match val.map(str::parse::<u32>) {
                Some(Ok(n)) if n > 0 => {
                    o.error_limit = Some(n);
                    true
                }
                _ => {
                    sink.error(
                        loc,
                        &okey,
                        format!(
                            "'error-limit' expects a number greater than 0, got '{}'",
                            val.unwrap_or("")
                        ),
                    );
                    false
                }
            },
            "on-error" => {
                let action = match val {
                    Some("fastinter") => Some(OnError::FastInter),
                    Some("fail-check") => Some(OnError::FailCheck),
                    Some("sudden-death") => Some(OnError::SuddenDeath),
                    Some("mark-down") => Some(OnError::MarkDown),
                    _ => None,
                };
                if action.is_none() {
                    sink.error(
                        loc,
                        &okey,
                        format!("'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got '{}'", val.unwrap_or("")),
                    );
                }
                o.on_error = action.or(o.on_error);
                action.is_some()
            }
            "on-marked-down" | "on-marked-up" => {
                let want = if opt == "on-marked-down" {
                    "shutdown-sessions"
                } else {
                    "shutdown-backup-sessions"
                };
                if val == Some(want) {
                    if opt == "on-marked-down" {
                        o.shutdown_on_down = Some(true);
                    } else {
                        o.shutdown_backups_on_up = Some(true);
                    }
                    true
                } else {
                    sink.error(
                        loc,
                        &okey,
                        format!("'{opt}' expects '{want}' but got '{}'", val.unwrap_or("")),
                    );
                    false
                }
            }
            "check-send-proxy" => {
                took_arg = false;
                o.check_send_proxy = Some(true);
                true
            }
            "check-via-socks4" => {
                took_arg = false;
                o.check_via_socks4 = Some(true);
                true
            }
            "socks4" => match val.map(str::parse::<std::net::SocketAddr>) {
                Some(Ok(a)) if a.port() != 0 => {
                    o.socks4 = Some(a);
                    true
                }
                _ => {
                    sink.error(
                        loc,
                        &okey,
                        format!(
                            "'socks4' expects the SOCKS4 proxy's address as IP:PORT, got '{}'",
                            val.unwrap_or("")
                        ),
                    );
                    false
                }
            },
            "proxy-v2-options" => match val.map(proxy_v2_options) {
                Some(Ok(opts)) => {
                    o.proxy_v2 = o.proxy_v2.union(opts);
                    true
                }
                Some(Err(e)) => {
                    sink.error(loc, &okey, e);
                    false
                }
                None => {
                    sink.error(loc, &okey, "'proxy-v2-options' expects a comma-separated list of options (ssl, cert-cn, ssl-cipher, cert-sig, cert-key, authority, crc32c, unique-id)");
                    false
                }
            },
            "agent-check" | "no-agent-check" => {
                took_arg = false;
                o.agent_check = Some(opt == "agent-check");
                true
            }
            "agent-port" => {
                o.agent_port = port_value(val, "'agent-port' expects a port number", |e| {
                    sink.error(loc, &okey, e)
                });
                o.agent_port.is_some()
            }
            "agent-addr" => match val.filter(|v| !v.is_empty()).map(agent_address) {
                Some(Ok(ip)) => {
                    o.agent_addr = Some(ip);
                    true
                }
                Some(Err(e)) => {
                    sink.error(
                        loc,
                        &okey,
                        format!("could not resolve agent-addr '{}': {e}", val.unwrap_or("")),
                    );
                    false
                }
                None => {
                    sink.error(loc, &okey, "'agent-addr' expects an address or a host name");
                    false
                }
            },
            "cookie" => match val {
                Some(v) if !v.is_empty() => {
                    o.cookie = Some(v.to_owned());
                    true
                }
                _ => {
                    sink.error(loc, &okey, "'cookie' expects a value as argument");
                    false
                }
            },
            "agent-send" => match val {
                Some(v) if !v.is_empty() => {
                    o.agent_send = Some(v.to_owned());
                    true
                }
                _ => {
                    sink.error(loc, &okey, "'agent-send' expects a string as argument");
                    false
                }
            },
            "agent-inter" => match sink.time(loc, &okey, val) {
                Some(d) if d.is_zero() => {
                    sink.error(loc, &okey, "'agent-inter' must be greater than zero");
                    false
                }
                Some(d) => {
                    o.agent_inter = Some(d);
                    true
                }
                None => false,
            },
            "inter" | "fastinter" | "downinter" => match sink.time(loc, &okey, val) {
                Some(d) if d.is_zero() => {
                    sink.error(loc, &okey, format!("'{opt}' must be greater than zero"));
                    false
                }
                Some(d) => {
                    let slot = match opt {
                        "inter" => &mut o.inter,
                        "fastinter" => &mut o.fastinter,
                        _ => &mut o.downinter,
                    };
                    *slot = Some(d);
                    true
                }
                None => false,
            },
            "slowstart" => sink
                .time(loc, &okey, val)
                .map(|d| o.slowstart = Some(d))
                .is_some(),
            "tcp-ut" => sink
                .tcp_user_timeout(loc, &okey, val)
                .map(|d| o.tcp_ut = Some(d))
                .is_some(),
            "rise" | "fall" => match sink.uint(loc, &okey, val, 1, 1_000_000) {
                Some(n) => {
                    if opt == "rise" {
                        o.rise = Some(n as u32)
                    } else {
                        o.fall = Some(n as u32)
                    }
                    true
                }
                None => false,
            },
            "weight" => sink
                .uint(loc, &okey, val, 0, 256)
                .map(|n| o.weight = Some(n as u32))
                .is_some(),
            "maxconn" | "maxqueue" => match sink.uint(loc, &okey, val, 0, u64::from(u32::MAX)) {
                Some(n) => {
                    if opt == "maxconn" {
                        o.maxconn = Some(n as u32)
                    } else {
                        o.maxqueue = Some(n as u32)
                    }
                    true
                }
                None => false,
            },
            "pool-max-conn" => match val.map(str::parse::<i64>) {
                Some(Ok(n)) if n >= -1 => {
                    o.pool_max_conn = Some(n);
                    true
                }
                Some(Ok(_)) => {
                    sink.error(loc, &okey, "'pool-max-conn' must be >= -1");
                    false
                }
                _ => {
                    sink.error(
                        loc,
                        &okey,
                        "'pool-max-conn' expects an integer (-1: no limit, 0: no idle connection)",
                    );
                    false
                }
            },
            "port" => {
                o.check_port =
                    port_value(val, "'port' expects a port number for health checks", |e| {
                        sink.error(loc, &okey, e)
                    });
                o.check_port.is_some()
            }
            "resolvers" => match val {
                Some(v) if !v.is_empty() => {
                    o.resolvers = Some(v.to_string());
                    true
                }
                _ => {
                    sink.error(
                        loc,
                        &okey,
                        "'resolvers' expects the name of a resolvers section",
                    );
                    false
                }
            },
            "resolve-prefer" => match val {
                Some("ipv4") | Some("ipv6") => {
                    o.resolve_prefer_v6 = Some(val == Some("ipv6"));
                    true
                }
                _ => {
                    sink.error(
                        loc,
                        &okey,
                        "'resolve-prefer' expects either ipv4 or ipv6 as argument",
                    );
                    false
                }
            },
            "resolve-opts" => match val.map(resolve_opts) {
                Some(Ok(v)) => {
                    o.resolve_opts = Some(v);
                    true
                }
                Some(Err(e)) => {
                    sink.error(loc, &okey, e);
                    false
                }
                None => {
                    sink.error(loc, &okey, "'resolve-opts' expects a comma-separated list of options (allow-dup-ip, ignore-weight, prevent-dup-ip)");
                    false
                }
            },
            "resolve-net" => {
                match val.map(resolve_net) {
                    Some(Ok(v)) => {
                        o.resolve_net = Some(v);
                        true
                    }
                    Some(Err(e)) => {
                        sink.error(loc, &okey, e);
                        false
                    }
                    None => {
                        sink.error(loc, &okey, "'resolve-net' expects a comma-separated list of networks (ADDR/PREFIX)");
                        false
                    }
                }
            }
            "init-addr" => match val.map(init_addr) {
                Some(Ok(v)) => {
                    o.init_addr = Some(v);
                    true
                }
                Some(Err(e)) => {
                    sink.error(loc, &okey, e);
                    false
                }
                None => {
                    sink.error(loc, &okey, "'init-addr' expects a comma-separated list of methods (last, libc, none, or an IP address)");
                    false
                }
            },
            "proto" | "check-proto" => match val {
                Some(p @ ("h1" | "h2")) => {
                    let proto = if p == "h2" {
                        super::model::BindProto::H2
                    } else {
                        super::model::BindProto::H1
                    };
                    if opt == "proto" {
                        o.proto = Some(proto);
                    } else {
                        o.check_proto = Some(proto);
                    }
                    true
                }
                other => {
                    sink.error(
                        loc,
                        &okey,
                        format!(
                            "'{opt}' expects 'h1' or 'h2' (fulcrum has no other multiplexer for servers), found '{}'",
                            other.unwrap_or("")
                        ),
                    );
                    false
                }
            },
            "addr" => match val.map(|v| (v.parse::<IpAddr>(), v.parse::<std::net::SocketAddr>())) {
                Some((Ok(ip), _)) => {
                    o.check_addr = Some(ip);
                    true
                }
                // `addr IP:PORT`: the checks go to that port too unless `port` says otherwise (haproxy 2.6,
                // observed).
                Some((_, Ok(sa))) => {
                    o.check_addr = Some(sa.ip());
                    o.check_port = o.check_port.or(Some(sa.port()).filter(|&p| p > 0));
                    true
                }
                _ => {
                    sink.error(
                        loc,
                        &okey,
                        format!(
                            "'addr' expects an IP address for health checks, got '{}'",
                            val.unwrap_or("")
                        ),
                    );
                    false
                }
            },
            _ => {
                match ssl::server_option(&mut o.ssl, line, i, sink) {
                    Parsed::Took(n) => {
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
                if let Some((_, arity)) = known::SERVER_UNSUPPORTED.iter().find(|(n, _)| *n == opt)
                {
                    sink.error(
                        loc,
                        &okey,
                        format!(
                            "server option '{opt}' is supported by HAProxy, not yet by fulcrum"
                        ),
                    );
                    i += 1 + arity;
                } else {
                    sink.error(
                        loc,
                        &okey,
                        format!("unknown server option '{opt}': expected check, no-check, send-proxy, send-proxy-v2, proxy-v2-options, check-send-proxy, inter, fastinter, downinter, rise, fall, weight, backup, port, addr, observe, error-limit, on-error, on-marked-down, on-marked-up, maxconn, maxqueue, pool-max-conn, proto, check-proto, slowstart, disabled, enabled, resolvers, resolve-prefer, resolve-opts, resolve-net, init-addr, agent-check, agent-addr, agent-port, agent-send, agent-inter or a TLS option (ssl, verify, ca-file, crt, sni, alpn, check-ssl ...)"),
                    );
                    // How many arguments an unknown option takes is unknown: the rest of the line is not read,
                    // so that one typo gives one message.
                    return None;
                }
                ok = false;
                continue;
            }
        };
        ok &= good;
        i += if took_arg { 2 } else { 1 };
    }
    ok.then_some(o)
}

/// Parses a `server` line; `defaults` are the `default-server` options in force.
pub fn parse_server(line: &Line, defaults: &ServerOpts, sink: &mut Sink) -> Option<ServerDraft> {
    let loc = &line.location;
    let (Some(name), Some(address)) = (line.words.get(1), line.words.get(2)) else {
        sink.error(
            loc,
            "server",
            "expects 'server NAME ADDRESS:PORT [options]'",
        );
        return None;
    };
    if name.is_empty() {
        sink.error(loc, "server", "the server name is empty");
        return None;
    }
    let opts = parse_opts(line, 3, "server", sink);
    if let Some(unix) = addr::unix_addr(address) {
        let unix = match unix {
            Ok(u) => u,
            Err(e) => {
                sink.error(loc, "server", format!("server '{name}': {e}"));
                return None;
            }
        };
        let opts = defaults.overlay(&opts?);
        // Not wired to unix sockets yet: refused rather than sent to no address.
        for (set, what) in [
            (opts.check == Some(true), "check"),
            (opts.agent_check == Some(true), "agent-check"),
            (opts.resolvers.is_some(), "resolvers"),
        ] {
            if set {
                sink.error(
                    loc,
                    "server",
                    format!("server '{name}': '{what}' on a unix socket server is supported by HAProxy, not yet by fulcrum"),
                );
                return None;
            }
        }
        return Some(ServerDraft {
            name: name.clone(),
            family: Family::Any,
            host: Host::Ip(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            port: 0,
            port_offset: None,
            opts,
            location: loc.clone(),
            template: None,
            unix: Some(unix),
        });
    }
    let split = match addr::split(address, Proto::Stream) {
        Ok(s) => s,
        Err(e) => {
            sink.error(loc, "server", format!("server '{name}': {e}"));
            return None;
        }
    };
    // No host (`:`, `:PORT`, as a test harness leaves an unset address): HAProxy keeps 0.0.0.0; fulcrum gives
    // such a server no address, so it gets no traffic until `set server addr` gives it one.
    let no_host = split.host == Host::Any;
    let mut split = split;
    if no_host {
        split.host = Host::Ip(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    }
    let srv_name = matches!(&split.host, Host::Name(n) if n.starts_with('_'));
    let mut port_offset = None;
    let port = match split.port.as_deref() {
        // An SRV name's records give the port.
        None | Some("") if srv_name || no_host => 0,
        // No port: the client's destination port, as HAProxy.
        None | Some("") => {
            port_offset = Some(0);
            0
        }
        Some(p) if p.starts_with('+') || p.starts_with('-') => match p[1..].parse::<u16>() {
            Ok(n) => {
                port_offset = Some(if p.starts_with('-') {
                    -i32::from(n)
                } else {
                    i32::from(n)
                });
                0
            }
            Err(_) => {
                sink.error(
                    loc,
                    "server",
                    format!("server '{name}': invalid port offset '{p}'"),
                );
                return None;
            }
        },
        Some(p) => match addr::port(p) {
            Ok(p) => p,
            Err(e) => {
                sink.error(loc, "server", format!("server '{name}': {e}"));
                return None;
            }
        },
    };
    let opts = opts?;
    Some(ServerDraft {
        name: name.clone(),
        family: split.family,
        host: split.host,
        port,
        port_offset,
        opts: defaults.overlay(&opts),
        location: loc.clone(),
        template: None,
        unix: None,
    })
}

/// Parses `server-template PREFIX NUM|LOW-HIGH FQDN[:PORT] [options]` into one draft per slot, named PREFIX
/// followed by the slot's number.
pub fn parse_template(line: &Line, defaults: &ServerOpts, sink: &mut Sink) -> Vec<ServerDraft> {
    let loc = &line.location;
    let (Some(prefix), Some(range), Some(fqdn)) =
        (line.words.get(1), line.words.get(2), line.words.get(3))
    else {
        sink.error(
            loc,
            "server-template",
            "expects 'server-template PREFIX NUM|LOW-HIGH FQDN[:PORT] [options]'",
        );
        return Vec::new();
    };
    let bounds = match range.split_once('-') {
        None => range.parse::<u32>().ok().map(|n| (1, n)),
        Some((a, b)) => a.parse::<u32>().ok().zip(b.parse::<u32>().ok()),
    };
    let Some((low, high)) = bounds.filter(|(a, b)| *a >= 1 && a <= b && b - a < 100_000) else {
        sink.error(
            loc,
            "server-template",
            format!("Wrong server-template number or range arg '{range}'"),
        );
        return Vec::new();
    };
    // The line read as `server PREFIX FQDN options` once, for its address and options.
    let mut words = vec!["server".to_string(), format!("{prefix}{low}"), fqdn.clone()];
    words.extend(line.words[4..].iter().cloned());
    let as_server = Line {
        location: loc.clone(),
        words,
    };
    let Some(first) = parse_server(&as_server, defaults, sink) else {
        return Vec::new();
    };
    let count = high - low + 1;
    (low..=high)
        .enumerate()
        .map(|(i, n)| ServerDraft {
            name: format!("{prefix}{n}"),
            template: Some((i as u32 + 1, count)),
            ..first.clone()
        })
        .collect()
}

/// `resolve-opts` options: (allow-dup-ip, ignore-weight).
fn resolve_opts(list: &str) -> Result<(bool, bool), String> {
    let (mut allow_dup, mut ignore_weight) = (false, false);
    for item in list.split(',') {
        match item {
            "allow-dup-ip" => allow_dup = true,
            "prevent-dup-ip" => allow_dup = false,
            "ignore-weight" => ignore_weight = true,
            _ => return Err(format!("'resolve-opts' : unknown resolve-opts option '{item}', supported methods are 'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'")),
        }
    }
    Ok((allow_dup, ignore_weight))
}

/// `resolve-net` networks: `ADDR/PREFIX` (or a bare address, a host network).
fn resolve_net(list: &str) -> Result<Vec<(IpAddr, u8)>, String> {
    list.split(',')
        .map(|item| {
            let bad = || format!("'resolve-net' invalid network '{item}'");
            let (a, p) = match item.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (item, None),
            };
            let ip: IpAddr = a.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = match p {
                None => max,
                Some(p) => match p.parse::<u8>() {
                    Ok(n) if n <= max => n,
                    // A dotted netmask (`255.255.0.0`), as HAProxy also takes.
                    _ => match p.parse::<std::net::Ipv4Addr>() {
                        Ok(m)
                            if ip.is_ipv4()
                                && u32::from(m).leading_ones() == u32::from(m).count_ones() =>
                        {
                            u32::from(m).count_ones() as u8
                        }
                        _ => return Err(bad()),
                    },
                },
            };
            Ok((ip, prefix))
        })
        .collect()
}

/// `init-addr` methods.
fn init_addr(list: &str) -> Result<Vec<InitAddr>, String> {
    list.split(',')
        .map(|m| match m {
            "last" => Ok(InitAddr::Last),
            "libc" => Ok(InitAddr::Libc),
            "none" => Ok(InitAddr::None),
            _ => m.parse().map(InitAddr::Ip).map_err(|_| {
                format!("'init-addr' : unknown init-addr method '{m}', supported methods are 'libc', 'last', 'none'")
            }),
        })
        .collect()
}

/// The list of `proxy-v2-options`.
fn proxy_v2_options(list: &str) -> Result<ProxyV2Options, String> {
    let mut o = ProxyV2Options::default();
    for item in list.split(',') {
        let flag = match item {
            "ssl" => &mut o.ssl,
            "cert-cn" => &mut o.cert_cn,
            "ssl-cipher" => &mut o.ssl_cipher,
            "cert-sig" => &mut o.cert_sig,
            "cert-key" => &mut o.cert_key,
            "authority" => &mut o.authority,
            "crc32c" => &mut o.crc32c,
            "unique-id" => &mut o.unique_id,
            _ => {
                return Err(format!("'proxy-v2-options': unknown option '{item}' (expected ssl, cert-cn, ssl-cipher, cert-sig, cert-key, authority, crc32c or unique-id)"))
            }
        };
        *flag = true;
    }
    // Each option of the SSL TLV asks for that TLV, as in HAProxy.
    o.ssl |= o.cert_cn || o.ssl_cipher || o.cert_sig || o.cert_key;
    Ok(o)
}

/// The port argument of a server option (`port`, `agent-port`); an error (`missing` when there is no argument)
/// goes to `report` and gives none.
fn port_value(val: Option<&str>, missing: &str, mut report: impl FnMut(String)) -> Option<u16> {
    match val.map(addr::port) {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            report(e.to_string());
            None
        }
        None => {
            report(missing.to_string());
            None
        }
    }
}

/// `agent-addr`: an IP address, or a host name the system resolver answers when the configuration is read (its
/// first answer, as HAProxy takes it).
fn agent_address(v: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Ok(ip);
    }
    use std::net::ToSocketAddrs;
    (v, 0u16)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .map(|a| a.ip())
        .ok_or_else(|| "no address".to_string())
}
