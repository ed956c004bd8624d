//! `bind ADDR[:PORT][,ADDR...] [options]`

use super::addr::{self, Host, Proto, Resolver};
use super::common::{Line, Sink};
use super::known;
use super::model::Bind;
use super::ssl;

/// Most addresses one `bind` line may expand to (port ranges included).
const MAX_ADDRS: usize = 65536;

/// Parses a `bind` line.
pub fn parse(line: &Line, resolver: Resolver<'_>, sink: &mut Sink) -> Option<Bind> {
    let loc = &line.location;
    let Some(list) = line.words.get(1) else {
        sink.error(
            loc,
            "bind",
            "expects 'bind ADDRESS:PORT[,ADDRESS:PORT...] [options]'",
        );
        return None;
    };
    let mut ok = true;
    let mut addrs = Vec::new();
    let mut fds = Vec::new();
    let mut unix = Vec::new();
    for item in list.split(',') {
        if let Some(u) = addr::unix_addr(item) {
            match u {
                Ok(u) => unix.push(u),
                Err(e) => {
                    sink.error(loc, "bind", e);
                    ok = false;
                }
            }
            continue;
        }
        if let Some(fd) = addr::inherited_fd(item) {
            match fd {
                Ok(fd) => fds.push(fd),
                Err(e) => {
                    sink.error(loc, "bind", e);
                    ok = false;
                }
            }
            continue;
        }
        match one(item, resolver) {
            Ok(mut a) => {
                if addrs.len() + a.len() > MAX_ADDRS {
                    sink.error(loc, "bind", "too many addresses on one line");
                    return None;
                }
                addrs.append(&mut a);
            }
            Err(e) => {
                sink.error(loc, "bind", e);
                ok = false;
            }
        }
    }
    let mut bind = Bind {
        addrs,
        unix,
        unix_perms: Default::default(),
        fds,
        v6only: false,
        v4v6: false,
        name: None,
        ssl: Default::default(),
        accept_proxy: false,
        proto: None,
        proto_none: false,
        tcp: Default::default(),
        location: loc.clone(),
    };
    ok &= options(line, 2, &mut bind, sink);
    ok &= ssl::check_bind(&bind.ssl, loc, sink);
    if bind.v4v6 && bind.v6only {
        sink.error(loc, "bind", "'v4v6' and 'v6only' contradict each other");
        ok = false;
    }
    ok.then_some(bind)
}

/// Parses the options of a bind line from `words[start..]` into `bind` (a `default-bind` line's from 1); false
/// after a problem (reported). The checks of the whole line are the caller's.
pub fn options(line: &Line, start: usize, bind: &mut Bind, sink: &mut Sink) -> bool {
    let loc = &line.location;
    let mut ok = true;
    let mut i = start;
    while i < line.words.len() {
        let opt = line.word(i);
        match opt {
            "v4v6" => bind.v4v6 = true,
            "v6only" => bind.v6only = true,
            "accept-proxy" => bind.accept_proxy = true,
            "mode" | "uid" | "gid" => {
                let radix = if opt == "mode" { 8 } else { 10 };
                let v = line
                    .words
                    .get(i + 1)
                    .and_then(|w| u32::from_str_radix(w, radix).ok());
                match (v, opt) {
                    (Some(v), "mode") if v <= 0o7777 => bind.unix_perms.mode = Some(v),
                    (Some(v), "uid") => bind.unix_perms.uid = Some(v),
                    (Some(v), "gid") => bind.unix_perms.gid = Some(v),
                    _ => {
                        let what = if opt == "mode" {
                            "an octal file mode"
                        } else {
                            "a number"
                        };
                        sink.error(
                            loc,
                            &format!("bind {opt}"),
                            format!("'{opt}' expects {what}"),
                        );
                        ok = false;
                    }
                }
                i += 1;
            }
            "proto" => {
                match line.words.get(i + 1).map(String::as_str) {
                    Some("h2") => bind.proto = Some(super::model::BindProto::H2),
                    Some("h1") => bind.proto = Some(super::model::BindProto::H1),
                    Some("none") => bind.proto_none = true,
                    other => {
                        sink.error(
                            loc,
                            "bind proto",
                            format!(
                                "'proto' expects 'h1', 'h2' or 'none', found '{}'",
                                other.unwrap_or("")
                            ),
                        );
                        ok = false;
                    }
                }
                i += 1;
            }
            "defer-accept" => bind.tcp.defer_accept = true,
            "tfo" => bind.tcp.tfo = true,
            "backlog" => {
                match sink.uint(
                    loc,
                    "bind backlog",
                    line.words.get(i + 1).map(String::as_str),
                    0,
                    u64::from(i32::MAX as u32),
                ) {
                    // 0 is the default queue, as in HAProxy.
                    Some(n) => bind.tcp.backlog = (n > 0).then_some(n as u32),
                    None => ok = false,
                }
                i += 1;
            }
            "tcp-ut" => {
                match sink.tcp_user_timeout(
                    loc,
                    "bind tcp-ut",
                    line.words.get(i + 1).map(String::as_str),
                ) {
                    Some(d) => bind.tcp.user_timeout = Some(d),
                    None => ok = false,
                }
                i += 1;
            }
            "name" => {
                match line.words.get(i + 1) {
                    Some(n) => bind.name = Some(n.clone()),
                    None => {
                        sink.error(loc, "bind name", "'name' expects a listener name");
                        ok = false;
                    }
                }
                i += 1;
            }
            _ => match ssl::bind_option(&mut bind.ssl, line, i, sink) {
                ssl::Parsed::Took(n) => i += n,
                ssl::Parsed::Bad(n) => {
                    ok = false;
                    i += n;
                }
                ssl::Parsed::No => {
                    ok = false;
                    match known::BIND_UNSUPPORTED.iter().find(|(n, _)| *n == opt) {
                    Some((_, arity)) => {
                        sink.error(
                            loc,
                            &format!("bind {opt}"),
                            format!(
                                "bind option '{opt}' is supported by HAProxy, not yet by fulcrum"
                            ),
                        );
                        i += arity;
                    }
                    None => sink.error(
                        loc,
                        &format!("bind {opt}"),
                        format!("unknown bind option '{opt}': expected v4v6, v6only, name, accept-proxy, proto, ssl, crt, alpn or another TLS option"),
                    ),
                }
                }
            },
        }
        i += 1;
    }
    ok
}

fn one(item: &str, resolver: Resolver<'_>) -> Result<Vec<std::net::SocketAddr>, String> {
    if item.is_empty() {
        return Err("empty address in the list (expected ADDRESS:PORT)".into());
    }
    let s = addr::split(item, Proto::Stream)?;
    let Some(port) = s.port.as_deref().filter(|p| !p.is_empty()) else {
        return Err(format!(
            "address '{item}' has no port: expected ADDRESS:PORT, :PORT or ADDRESS:FIRST-LAST"
        ));
    };
    let (first, last) = addr::port_range(port)?;
    let base = match (&s.host, s.family) {
        (Host::Any, fam) => addr::any_addr(fam),
        _ => addr::resolve(&s.host, s.family, first, resolver)?.ip(),
    };
    Ok((first..=last)
        .map(|p| std::net::SocketAddr::new(base, p))
        .collect())
}
