//! Server states carried over a restart or reload: `load-server-state-from-file global|local` reads the file an
//! operator dumped with `show servers state` and applies, per server, its operational state (with `check`), its
//! administrative state (maintenance, drain) and its runtime weight, before any traffic or health check runs.
//!
//! A line is left out, with a warning naming the reason, when its server's address or port in the configuration
//! differs from the file's (the configuration changed: its state no longer describes this server), or when the
//! file says the backend or server id was forced and the ids differ. Lines for servers that are not configured are
//! ignored. As in HAProxy: a change of `disabled` in the configuration wins over the file's maintenance, a
//! changed `weight` in the configuration wins over the file's runtime weight, and a drain the file records only
//! because the configured weight was 0 ends once the configuration gives a weight.

use std::path::{Path, PathBuf};

use fulcrum_admin::runtime::state_file::{self, StateFile, StateLine};
use fulcrum_config::haproxy::{Config, InitAddrFallback, LoadServerState};

use crate::health::admin_state::who;
use crate::model::error::StartError;
use crate::model::server::ServerRt;
use crate::model::snapshot::{BackendRt, Snapshot};

/// `srv_check_state` flag: the server has checks.
const CHK_CONFIGURED: u32 = 0x02;
/// `srv_check_state` flag: its checks run (not `disable health`).
const CHK_ENABLED: u32 = 0x04;

/// Where a file named `name` is: as written when absolute or without `server-state-base`, else under the base.
fn resolve(base: Option<&Path>, name: &Path) -> PathBuf {
    match base {
        Some(b) if name.is_relative() => b.join(name),
        _ => name.to_path_buf(),
    }
}

/// Reads and parses one state file; `what` names it in warnings ("global", "local").
fn read(path: &Path, what: &str, warnings: &mut Vec<String>) -> Option<StateFile> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            warnings.push(format!(
                "cannot open {what} server state file '{}': {e}",
                path.display()
            ));
            return None;
        }
    };
    match state_file::parse(&text) {
        Ok(f) => {
            for s in &f.skipped {
                warnings.push(format!(
                    "{what} server state file '{}', line {}: invalid {} '{}': line ignored",
                    path.display(),
                    s.line,
                    s.column,
                    s.value
                ));
            }
            Some(f)
        }
        Err(e) => {
            warnings.push(format!(
                "{what} server state file '{}' ignored: {e}",
                path.display()
            ));
            None
        }
    }
}

/// Applies the server-state files the configuration names to the snapshot's servers; returns the warnings (each
/// one also logged), or the alerts of the servers that `init-addr ... last ...` leaves without an address.
pub fn load(config: &Config, snapshot: &Snapshot) -> Result<Vec<String>, StartError> {
    let mut warnings = Vec::new();
    if snapshot
        .backends
        .iter()
        .any(|b| b.config.load_server_state != LoadServerState::None)
    {
        apply_files(config, snapshot, &mut warnings);
    }
    // `init-addr` with `last`: a server the file gave no address meets the verdict of the methods after it.
    let mut alerts = Vec::new();
    for s in snapshot.backends.iter().flat_map(|be| be.servers.iter()) {
        let resolve = s.config.resolve.as_ref();
        let Some(fallback) = resolve.and_then(|r| r.last_fallback.as_ref()) else {
            continue;
        };
        if s.has_addr() {
            continue;
        }
        match fallback {
            InitAddrFallback::Fatal(m) => {
                alerts.push(format!("[ALERT] {}: 'server': {m}", s.config.location))
            }
            InitAddrFallback::Unresolved(Some(w)) => {
                warnings.push(format!("{}: 'server': {w}", s.config.location))
            }
            InitAddrFallback::Unresolved(None) => {}
        }
    }
    if !alerts.is_empty() {
        return Err(StartError::InitAddr(alerts));
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    Ok(warnings)
}

/// Reads the files and applies their lines.
fn apply_files(config: &Config, snapshot: &Snapshot, warnings: &mut Vec<String>) {
    let be_ids: Vec<u32> = crate::control::runtime_api::backend_ids(snapshot);
    let be_ids = &be_ids[..];
    let base = config.global.server_state_base.as_deref();
    let mut global: Option<Option<StateFile>> = None;
    for be in &snapshot.backends {
        let file = match be.config.load_server_state {
            LoadServerState::None => continue,
            LoadServerState::Global => {
                let Some(name) = &config.global.server_state_file else {
                    warnings.push(format!(
                        "backend '{}' loads its server states from the global 'server-state-file', which is not set",
                        be.name
                    ));
                    continue;
                };
                global
                    .get_or_insert_with(|| read(&resolve(base, name), "global", warnings))
                    .as_ref()
            }
            LoadServerState::Local => {
                let name = be.config.server_state_file_name.as_deref();
                let path = resolve(base, Path::new(name.unwrap_or(&be.name)));
                let local = read(&path, "local", warnings);
                apply_backend(be, local.as_ref(), be_ids, warnings);
                continue;
            }
        };
        apply_backend(be, file, be_ids, warnings);
    }
    // Trackers take the maintenance and drain of the servers they track, as loaded.
    for be in &snapshot.backends {
        for s in be.servers.iter() {
            be.pass_admin_to_trackers(s, 0);
        }
    }
}

fn apply_backend(
    be: &BackendRt,
    file: Option<&StateFile>,
    be_ids: &[u32],
    warnings: &mut Vec<String>,
) {
    let Some(file) = file else { return };
    let be_id = be_ids.get(be.id).copied().unwrap_or(0);
    let mut changed = false;
    for s in be.servers.iter() {
        let Some(line) = file.get(&be.name, &s.config.name) else {
            continue;
        };
        if let Some(reason) = mismatch(be_id, s, line) {
            warnings.push(format!(
                "server {}: state from line {} not applied: {reason}",
                s.full_name, line.line
            ));
            continue;
        }
        if let Some(w) = apply_server(be, s, line) {
            warnings.push(w);
        }
        changed = true;
    }
    if changed {
        be.rebuild_farm();
        let (active, backups) = be.servers_up();
        be.stats.state.set(active + backups > 0);
    }
}

/// Whether the server takes its starting address from the state file (`init-addr last`).
fn follows_last(s: &ServerRt) -> bool {
    s.config.resolve.as_ref().is_some_and(|r| {
        r.init_addr
            .contains(&fulcrum_config::haproxy::InitAddr::Last)
    })
}

/// Why `line` does not describe `s` any more, if it does not.
fn mismatch(be_id: u32, s: &ServerRt, line: &StateLine) -> Option<String> {
    if line.bk_forced_id && line.be_id != be_id {
        return Some(format!(
            "backend id mismatch (file {}, configuration {be_id})",
            line.be_id
        ));
    }
    if line.srv_forced_id && line.srv_id != s.puid {
        return Some(format!(
            "server id mismatch (file {}, configuration {})",
            line.srv_id, s.puid
        ));
    }
    // `init-addr last`: the file's address is the one to start from.
    if follows_last(s) {
        return None;
    }
    if line.addr != s.addr().ip() {
        return Some(format!(
            "address changed in the configuration (file {}, configuration {})",
            line.addr,
            s.addr().ip()
        ));
    }
    if line.port != s.addr().port() {
        return Some(format!(
            "port changed in the configuration (file {}, configuration {})",
            line.port,
            s.addr().port()
        ));
    }
    None
}

/// Applies one line to its server; returns the message to log, if any.
fn apply_server(be: &BackendRt, s: &ServerRt, line: &StateLine) -> Option<String> {
    let c = &s.config;
    if follows_last(s) && !line.addr.is_unspecified() {
        s.set_addr(std::net::SocketAddr::new(line.addr, line.port));
        s.set_admin(s.admin() & !(ServerRt::ADMIN_RMAINT | ServerRt::ADMIN_NOADDR));
    }
    // Administrative state: the configuration's `disabled` wins when it changed since the file was written.
    let mut admin = s.admin();
    let file_cmaint = line.admin_state & ServerRt::ADMIN_CMAINT != 0;
    let file_fmaint = line.admin_state & ServerRt::ADMIN_FMAINT != 0;
    if file_cmaint == c.disabled {
        if file_fmaint && !c.disabled {
            admin |= ServerRt::ADMIN_FMAINT;
        } else if !file_fmaint && c.disabled {
            admin &= !(ServerRt::ADMIN_FMAINT | ServerRt::ADMIN_CMAINT);
        }
    }
    // A drain recorded only because the configured weight was 0 ends once the configuration gives a weight.
    let drain = admin & ServerRt::ADMIN_FMAINT == 0
        && line.admin_state & ServerRt::ADMIN_FDRAIN != 0
        && (line.iweight > 0 || c.weight == 0);
    if drain {
        admin |= ServerRt::ADMIN_FDRAIN;
    }
    s.set_admin(admin);
    // The runtime weight, unless the configured weight changed since.
    if line.iweight == c.weight {
        s.set_user_weight(line.uweight.min(256));
    }
    // `disable agent` is carried, as HAProxy carries it.
    if c.agent.is_some()
        && line.agent_state & CHK_CONFIGURED != 0
        && line.agent_state & CHK_ENABLED == 0
    {
        s.set_agent_frozen(true);
    }
    // Operational state: only checks can bring a server back, so only checked servers take it.
    let mut message = None;
    if c.check {
        let up = line.op_state >= 2;
        s.carry_state(up);
        if line.check_state & CHK_CONFIGURED != 0 && line.check_state & CHK_ENABLED == 0 {
            s.set_checks_frozen(true);
        }
        if !up {
            let (active, backups) = usable(be);
            message = Some(format!(
                "{} is DOWN, changed from server-state after a reload. {active} active and {backups} backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
                who(s)
            ));
        }
    }
    s.set_last_change_ago(line.since_last_change);
    if message.is_none() && drain {
        message = Some(format!("{} remains in forced drain mode.", who(s)));
    }
    message
}

/// (active, backup) servers of `be` that are up, as the states applied so far leave them.
fn usable(be: &BackendRt) -> (usize, usize) {
    let n = |backup: bool| {
        be.servers
            .iter()
            .filter(|x| x.config.backup == backup && x.is_up())
            .count()
    };
    (n(false), n(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names_go_under_the_base() {
        let base = Path::new("/var/lib/haproxy");
        assert_eq!(
            resolve(Some(base), Path::new("state")),
            PathBuf::from("/var/lib/haproxy/state")
        );
        assert_eq!(
            resolve(Some(base), Path::new("/tmp/state")),
            PathBuf::from("/tmp/state")
        );
        assert_eq!(resolve(None, Path::new("state")), PathBuf::from("state"));
    }
}
