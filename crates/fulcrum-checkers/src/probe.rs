//! A configured checker into the fulcrum-health probe that runs it (one probe code for every checker kind:
//! `fulcrum_health::keepalived`).

use std::net::SocketAddr;

use fulcrum_config::keepalived::{Checker as CheckerConf, CheckerKind, ScriptUser as UserConf};
use fulcrum_health::keepalived::{
    Checker, ConnectOptions, DnsCheck, DnsType, HttpGetCheck, HttpGetSpec, MiscCheck, ScriptUser,
    SmtpCheck, StatusCodes, TcpCheck, TlsOptions, UrlSpec,
};

/// A ready-to-run probe.
pub type Probe = Checker;

/// Builds the probe for `c`, or says why its settings are refused.
pub fn build(c: &CheckerConf) -> Result<Probe, String> {
    let connect = ConnectOptions {
        timeout: c.common.connect_timeout,
        bind: c
            .common
            .bindto
            .map(|ip| SocketAddr::new(ip, c.common.bind_port.unwrap_or(0))),
    };
    let probe = match &c.kind {
        CheckerKind::Tcp => TcpCheck::new(connect).map(Checker::Tcp),
        CheckerKind::Http {
            ssl,
            urls,
            virtualhost,
            http_protocol,
        } => {
            let mut specs = Vec::new();
            for u in urls {
                specs.push(UrlSpec {
                    path: u.path.clone(),
                    digest: u.digest.clone(),
                    status_codes: Some(
                        StatusCodes::from_ranges(&u.status).map_err(|e| e.to_string())?,
                    ),
                    virtualhost: u.virtualhost.clone(),
                    regex: u.regex.clone(),
                    regex_no_match: u.regex_no_match,
                });
            }
            let spec = HttpGetSpec {
                urls: specs,
                virtualhost: virtualhost.clone(),
                protocol: http_protocol
                    .parse()
                    .map_err(|e: fulcrum_health::keepalived::CheckSpecError| e.to_string())?,
                tls: ssl.then(TlsOptions::default),
                connect,
                ..HttpGetSpec::default()
            };
            HttpGetCheck::new(spec).map(Checker::HttpGet)
        }
        CheckerKind::Misc {
            path,
            timeout,
            dynamic,
            user,
        } => {
            let check = MiscCheck::from_command_line(path, *timeout, *dynamic)
                .map_err(|e| e.to_string())?;
            match user {
                Some(u) if !is_current_user(u) => Ok(Checker::Misc(check.with_user(resolve(u)?))),
                _ => Ok(Checker::Misc(check)),
            }
        }
        CheckerKind::Dns { qtype, name } => {
            let t: DnsType = qtype
                .parse()
                .map_err(|e: fulcrum_health::keepalived::CheckSpecError| e.to_string())?;
            DnsCheck::new(t, name, connect).map(Checker::Dns)
        }
        CheckerKind::Smtp { helo_name } => {
            SmtpCheck::new(helo_name.as_deref(), connect).map(Checker::Smtp)
        }
    };
    probe.map_err(|e| e.to_string())
}

fn is_current_user(u: &UserConf) -> bool {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .is_some_and(|me| me.name == u.user && u.group.is_none())
}

/// `script_user USER [GROUP]` into ids (the group defaults to the user's primary group).
fn resolve(u: &UserConf) -> Result<ScriptUser, String> {
    let user = nix::unistd::User::from_name(&u.user)
        .map_err(|e| format!("script user '{}': {e}", u.user))?
        .ok_or_else(|| format!("script user '{}' does not exist", u.user))?;
    let gid = match &u.group {
        Some(g) => {
            nix::unistd::Group::from_name(g)
                .map_err(|e| format!("script group '{g}': {e}"))?
                .ok_or_else(|| format!("script group '{g}' does not exist"))?
                .gid
        }
        None => user.gid,
    };
    Ok(ScriptUser {
        uid: user.uid.as_raw(),
        gid: gid.as_raw(),
    })
}
