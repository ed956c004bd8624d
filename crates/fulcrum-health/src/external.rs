//! HAProxy's external checks (`option external-check`): a program run for each check, whose exit status is the
//! verdict (0 passes: `PROCOK`; anything else fails: `PROCERR`, its status as the check's code).
//!
//! As haproxy 2.6 runs it (observed): with four arguments (the proxy's first listening address and port, or
//! `NOT_USED` twice for a backend, then the server's address and port), an environment of the `HAPROXY_*`
//! variables describing the proxy and the server and `PATH` set to `external-check path` (empty by default),
//! nothing else of the proxy's own environment; standard input on /dev/null, output and errors the proxy's. A
//! program that cannot be started fails with code 255, as HAProxy's child exits when `exec` fails. One still
//! running at the end of the interval fails with `PROCTOUT`; unlike HAProxy, which signals the program alone, its
//! whole process group is killed (a shell's children included) and reaped.

use std::ffi::OsString;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::time::Instant;

use crate::outcome::{CheckOutcome, CheckStatus};

/// What one run of an external check is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalRun {
    /// The program (`external-check command`).
    pub command: OsString,
    /// `PATH` for it (`external-check path`; empty by default).
    pub path: OsString,
    /// `<proxy_address> <proxy_port> <server_address> <server_port>`.
    pub args: [String; 4],
    /// The `HAPROXY_*` variables.
    pub vars: Vec<(&'static str, String)>,
}

/// Runs `run` once, for at most `timeout`, and judges its exit status.
pub async fn external_check(run: &ExternalRun, timeout: Duration) -> CheckOutcome {
    let start = Instant::now();
    let mut command = Command::new(&run.command);
    command
        .args(&run.args)
        .env_clear()
        .envs(run.vars.iter().map(|(k, v)| (*k, v)))
        .env("PATH", &run.path)
        .stdin(Stdio::null())
        .process_group(0);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            return CheckOutcome::new(CheckStatus::ProcError, start.elapsed())
                .with_code(255)
                .with_info(format!(
                    "Failed to exec process for external health check: {e}"
                ));
        }
    };
    let group = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .map(Pid::from_raw);
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => match status.code() {
            Some(0) => CheckOutcome::new(CheckStatus::ProcOk, start.elapsed()).with_code(0),
            Some(n) => CheckOutcome::new(CheckStatus::ProcError, start.elapsed())
                .with_code(u16::try_from(n).unwrap_or(255)),
            // Killed by a signal: no exit status to report.
            None => CheckOutcome::new(CheckStatus::ProcError, start.elapsed()).with_code(255),
        },
        Ok(Err(e)) => CheckOutcome::new(CheckStatus::ProcError, start.elapsed())
            .with_code(255)
            .with_info(format!("waiting for the external check failed: {e}")),
        Err(_) => {
            // Not reaped yet, so the group's id is still its own.
            if let Some(g) = group {
                let _ = killpg(g, Signal::SIGKILL);
            }
            let _ = child.wait().await;
            CheckOutcome::new(CheckStatus::ProcTimeout, start.elapsed()).with_code(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(script: &str) -> ExternalRun {
        ExternalRun {
            command: "/bin/sh".into(),
            path: "/usr/bin:/bin".into(),
            args: ["-c".into(), script.into(), "arg2".into(), "arg3".into()],
            vars: vec![("HAPROXY_SERVER_NAME", "s1".into())],
        }
    }

    #[tokio::test]
    async fn the_exit_status_is_the_verdict() {
        let t = Duration::from_secs(5);
        let ok = external_check(&run("exit 0"), t).await;
        assert_eq!((ok.status, ok.code), (CheckStatus::ProcOk, Some(0)));
        let err = external_check(&run("exit 3"), t).await;
        assert_eq!((err.status, err.code), (CheckStatus::ProcError, Some(3)));
        // The variables and PATH given, nothing else of this process's environment (HOME is in it).
        let env = external_check(
            &run("[ \"$HAPROXY_SERVER_NAME\" = s1 ] && [ \"$PATH\" = /usr/bin:/bin ] && [ -z \"$HOME\" ]"),
            t,
        )
        .await;
        assert_eq!(env.status, CheckStatus::ProcOk, "{env:?}");
    }

    #[tokio::test]
    async fn a_missing_program_fails_with_255_and_a_slow_one_times_out() {
        let mut missing = run("exit 0");
        missing.command = "/nonexistent/check".into();
        let m = external_check(&missing, Duration::from_secs(5)).await;
        assert_eq!((m.status, m.code), (CheckStatus::ProcError, Some(255)));
        let started = Instant::now();
        let slow = external_check(&run("sleep 5"), Duration::from_millis(200)).await;
        assert_eq!(
            (slow.status, slow.code),
            (CheckStatus::ProcTimeout, Some(0))
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
