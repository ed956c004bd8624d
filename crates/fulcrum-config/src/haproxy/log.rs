//! `log TARGET [len N] [format F] [sample R:S] FACILITY [LEVEL [MINLEVEL]]`, in `global` and in proxies.

use std::path::PathBuf;

use super::addr::{self, Proto, Resolver};
use super::common::{Line, Sink};
use super::model::{LogAddress, LogFormat, LogSample, LogTarget};

/// Syslog facilities HAProxy accepts.
pub const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Syslog levels, most severe first.
pub const LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Parses a `log` line whose target is at `words[1]` (not `log global`).
pub fn parse(line: &Line, resolver: Resolver<'_>, sink: &mut Sink) -> Option<LogTarget> {
    let loc = &line.location;
    let w = &line.words;
    let Some(target) = w.get(1) else {
        sink.error(
            loc,
            "log",
            "expects 'log TARGET [len N] [format F] FACILITY [LEVEL [MINLEVEL]]' or 'log global'",
        );
        return None;
    };
    let address = match target_address(target, resolver) {
        Ok(a) => a,
        Err(e) => {
            sink.error(loc, "log", e);
            return None;
        }
    };
    let mut i = 2;
    let mut format = LogFormat::Rfc3164;
    let mut max_len = None;
    let mut sample = None;
    let mut ok = true;
    loop {
        match w.get(i).map(String::as_str) {
            Some("len") => {
                match sink.uint(loc, "log", w.get(i + 1).map(String::as_str), 80, 65535) {
                    Some(n) => max_len = Some(n as u32),
                    None => ok = false,
                }
                i += 2;
            }
            Some("format") => {
                match w.get(i + 1).map(String::as_str) {
                    Some("rfc3164") => format = LogFormat::Rfc3164,
                    Some("rfc5424") => format = LogFormat::Rfc5424,
                    Some("short") => format = LogFormat::Short,
                    Some("raw") => format = LogFormat::Raw,
                    Some(f @ ("priority" | "timed" | "iso" | "local")) => {
                        sink.error(
                            loc,
                            "log",
                            format!("log format '{f}' is supported by HAProxy, not yet by fulcrum"),
                        );
                        ok = false;
                    }
                    Some(f) => {
                        sink.error(
                            loc,
                            "log",
                            format!(
                                "unknown log format '{f}': expected rfc3164, rfc5424, short or raw"
                            ),
                        );
                        ok = false;
                    }
                    None => {
                        sink.error(
                            loc,
                            "log",
                            "'format' expects rfc3164, rfc5424, short or raw",
                        );
                        ok = false;
                    }
                }
                i += 2;
            }
            Some("sample") => {
                match w.get(i + 1).map(|v| parse_sample(v)) {
                    Some(Ok(s)) => sample = Some(s),
                    Some(Err(e)) => {
                        sink.error(loc, "log", e);
                        ok = false;
                    }
                    None => {
                        sink.error(loc, "log", "'sample' expects RANGES:SIZE, such as 1,3-4:5");
                        ok = false;
                    }
                }
                i += 2;
            }
            _ => break,
        }
    }
    let Some(facility) = w.get(i) else {
        sink.error(
            loc,
            "log",
            format!(
                "missing facility: expected one of {}",
                FACILITIES.join(", ")
            ),
        );
        return None;
    };
    if !FACILITIES.contains(&facility.as_str()) {
        sink.error(
            loc,
            "log",
            format!(
                "unknown facility '{facility}': expected one of {}",
                FACILITIES.join(", ")
            ),
        );
        ok = false;
    }
    let mut levels = Vec::new();
    for lv in w.iter().skip(i + 1) {
        if levels.len() == 2 {
            sink.error(
                loc,
                "log",
                format!("unexpected argument '{lv}' after the facility, level and minimum level"),
            );
            ok = false;
            break;
        }
        if !LEVELS.contains(&lv.as_str()) {
            sink.error(
                loc,
                "log",
                format!(
                    "unknown level '{lv}': expected one of {}",
                    LEVELS.join(", ")
                ),
            );
            ok = false;
        }
        levels.push(lv.clone());
    }
    if !ok {
        return None;
    }
    Some(LogTarget {
        address,
        format,
        facility: facility.clone(),
        level: levels.first().cloned(),
        minlevel: levels.get(1).cloned(),
        max_len,
        sample,
        location: loc.clone(),
    })
}

/// `RANGES:SIZE`: ranks `N` or `N-M` separated by commas, each within `1..=SIZE`.
fn parse_sample(v: &str) -> Result<LogSample, String> {
    let bad = || {
        format!("invalid sample '{v}': expected RANGES:SIZE such as 1,3-4:5 (ranks from 1 to SIZE)")
    };
    let (ranges, size) = v.rsplit_once(':').ok_or_else(bad)?;
    let size: u32 = size.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
    let mut out = Vec::new();
    for r in ranges.split(',') {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        let (a, b): (u32, u32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        if a == 0 || a > b || b > size {
            return Err(bad());
        }
        out.push((a, b));
    }
    Ok(LogSample { ranges: out, size })
}

fn target_address(t: &str, resolver: Resolver<'_>) -> Result<LogAddress, String> {
    match t {
        "stdout" | "fd@1" => return Ok(LogAddress::Stdout),
        "stderr" | "fd@2" => return Ok(LogAddress::Stderr),
        "" => return Err("the log target is empty (environment variable missing?)".into()),
        _ => {}
    }
    if t.starts_with('/') {
        return Ok(LogAddress::Unix(PathBuf::from(t)));
    }
    if let Some(p) = t.strip_prefix("unix@") {
        return Ok(LogAddress::Unix(PathBuf::from(p)));
    }
    // A target without an address (`:514`, or `:` when the variables of `${HOST}:${PORT}` are unset) is the
    // wildcard address, which the system delivers locally: HAProxy accepts it and sends there.
    let s = addr::split(t, Proto::Datagram)?;
    let port = match s.port.as_deref() {
        None | Some("") => 514,
        Some(p) => addr::port(p)?,
    };
    addr::resolve(&s.host, s.family, port, resolver).map(LogAddress::Udp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_dns(host: &str, _: u16) -> std::io::Result<Vec<std::net::SocketAddr>> {
        Err(std::io::Error::other(format!("no DNS in tests ({host})")))
    }

    #[test]
    fn a_target_without_address_is_the_wildcard() {
        let udp = |t: &str| match target_address(t, &no_dns) {
            Ok(LogAddress::Udp(a)) => a.to_string(),
            other => panic!("{t}: {other:?}"),
        };
        assert_eq!(udp(":"), "0.0.0.0:514");
        assert_eq!(udp(":5555"), "0.0.0.0:5555");
        assert_eq!(udp("127.0.0.1"), "127.0.0.1:514");
        assert!(target_address("", &no_dns).is_err());
    }
}
