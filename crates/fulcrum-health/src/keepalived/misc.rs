//! `MISC_CHECK`: run a program and read the verdict from its exit status.
//!
//! As keepalived does, the command line is split into arguments (unquoted whitespace separates them,
//! quotes group them) and the program is executed directly, not through a shell. It runs in a process
//! group of its own, with standard input and output on /dev/null, optionally as another user
//! (`user` / `script_user`, resolved to ids by the caller). Exit status 0 is up, anything else down,
//! except with `misc_dynamic`, where 2-255 is up with weight `status - 2`. A program still running at
//! `misc_timeout` fails the check: its whole process group gets SIGTERM, then SIGKILL after a grace
//! period, and is reaped before `run` returns. A probe dropped half-way kills the group too.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::time::Instant;

use super::{CheckSpecError, ProbeResult};

/// How long a timed-out program's group has between SIGTERM and SIGKILL, by default.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(1);

/// The user and group a program runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptUser {
    /// User id.
    pub uid: u32,
    /// Group id (the user's primary group unless configured otherwise).
    pub gid: u32,
}

/// Splits a `misc_path` into arguments: unquoted whitespace separates them; `'...'` and `"..."` group
/// text (the quotes are removed, whitespace inside kept); a backslash outside single quotes takes the
/// next character literally.
pub fn split_command_line(line: &str) -> Result<Vec<String>, CheckSpecError> {
    let bad = || CheckSpecError::CommandLine(line.to_owned());
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_arg = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_arg {
                    args.push(std::mem::take(&mut current));
                    in_arg = false;
                }
            }
            '\'' => {
                in_arg = true;
                loop {
                    match chars.next().ok_or_else(bad)? {
                        '\'' => break,
                        c => current.push(c),
                    }
                }
            }
            '"' => {
                in_arg = true;
                loop {
                    match chars.next().ok_or_else(bad)? {
                        '"' => break,
                        '\\' => current.push(chars.next().ok_or_else(bad)?),
                        c => current.push(c),
                    }
                }
            }
            '\\' => {
                in_arg = true;
                current.push(chars.next().ok_or_else(bad)?);
            }
            c => {
                in_arg = true;
                current.push(c);
            }
        }
    }
    if in_arg {
        args.push(current);
    }
    Ok(args)
}

/// A validated `MISC_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiscCheck {
    program: OsString,
    args: Vec<OsString>,
    timeout: Duration,
    dynamic: bool,
    user: Option<ScriptUser>,
    kill_grace: Duration,
}

impl MiscCheck {
    /// Runs `argv[0]` (searched in `PATH` when it has no `/`) with the rest as arguments, for at most
    /// `timeout` (`misc_timeout`); `dynamic` is `misc_dynamic`.
    pub fn new(
        argv: Vec<String>,
        timeout: Duration,
        dynamic: bool,
    ) -> Result<Self, CheckSpecError> {
        let mut argv = argv.into_iter().map(OsString::from);
        let program = argv.next().ok_or(CheckSpecError::EmptyCommand)?;
        if program.is_empty() {
            return Err(CheckSpecError::EmptyCommand);
        }
        if timeout.is_zero() {
            return Err(CheckSpecError::ZeroTimeout);
        }
        Ok(MiscCheck {
            program,
            args: argv.collect(),
            timeout,
            dynamic,
            user: None,
            kill_grace: DEFAULT_KILL_GRACE,
        })
    }

    /// [`MiscCheck::new`] from a `misc_path` command line (see [`split_command_line`]).
    pub fn from_command_line(
        line: &str,
        timeout: Duration,
        dynamic: bool,
    ) -> Result<Self, CheckSpecError> {
        Self::new(split_command_line(line)?, timeout, dynamic)
    }

    /// Runs the program as `user` (the parent must be allowed to switch to it, e.g. root).
    pub fn with_user(mut self, user: ScriptUser) -> Self {
        self.user = Some(user);
        self
    }

    /// Sets the time between SIGTERM and SIGKILL when the program times out.
    pub fn with_kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    /// The program and its arguments.
    pub fn argv(&self) -> impl Iterator<Item = &OsString> {
        std::iter::once(&self.program).chain(&self.args)
    }

    /// Whether `misc_dynamic` is set.
    pub fn is_dynamic(&self) -> bool {
        self.dynamic
    }

    /// Runs the program once and judges its exit status.
    pub async fn run(&self) -> ProbeResult {
        let start = Instant::now();
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        if let Some(user) = self.user {
            command.uid(user.uid).gid(user.gid);
        }
        let mut child = match command.spawn() {
            Ok(c) => c,
            Err(e) => {
                return ProbeResult::down(
                    super::io_reason(
                        &format!("cannot run {}", self.program.to_string_lossy()),
                        &e,
                    ),
                    start.elapsed(),
                )
            }
        };
        let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
            return ProbeResult::down("the program vanished at start", start.elapsed());
        };
        let group = Pid::from_raw(pid);
        let mut guard = GroupGuard(Some(group));
        match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(Ok(status)) => {
                // Reaped: the id may be reused from now on, so never signal it again.
                guard.0 = None;
                let mut result = judge(status, self.dynamic);
                result.duration = start.elapsed();
                result
            }
            Ok(Err(e)) => ProbeResult::down(
                super::io_reason("waiting for the program failed", &e),
                start.elapsed(),
            ),
            Err(_) => {
                let _ = killpg(group, Signal::SIGTERM);
                wait_unreaped(group, self.kill_grace).await;
                // The leader is a zombie or still running, so its id still names this group.
                let _ = killpg(group, Signal::SIGKILL);
                let _ = child.wait().await;
                guard.0 = None;
                ProbeResult::down(
                    format!("timed out after {:?}, killed", self.timeout),
                    start.elapsed(),
                )
            }
        }
    }
}

/// Kills the process group when a probe is dropped before its program was reaped.
struct GroupGuard(Option<Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            let _ = killpg(group, Signal::SIGKILL);
        }
    }
}

/// Waits up to `grace` for process `pid` to exit, without reaping it.
async fn wait_unreaped(pid: Pid, grace: Duration) {
    let deadline = Instant::now() + grace;
    loop {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            _ => return,
        }
    }
}

/// keepalived's reading of an exit status.
fn judge(status: ExitStatus, dynamic: bool) -> ProbeResult {
    let d = Duration::ZERO;
    match (status.code(), status.signal()) {
        (Some(0), _) => ProbeResult::up("exit status 0", d),
        (Some(code @ 2..=255), _) if dynamic => {
            let weight = u32::try_from(code - 2).unwrap_or(0);
            ProbeResult {
                weight: Some(weight),
                ..ProbeResult::up(format!("exit status {code}, weight {weight}"), d)
            }
        }
        (Some(code), _) => ProbeResult::down(format!("exit status {code}"), d),
        (None, Some(sig)) => {
            let name = Signal::try_from(sig).map(Signal::as_str).unwrap_or("?");
            ProbeResult::down(format!("killed by signal {sig} ({name})"), d)
        }
        (None, None) => ProbeResult::down(format!("ended abnormally ({status})"), d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        split_command_line(s).unwrap()
    }

    #[test]
    fn splits_like_keepalived() {
        assert_eq!(split("/bin/check  web1\t80 "), ["/bin/check", "web1", "80"]);
        assert_eq!(
            split("/bin/check 'a b' \"c d\" e' 'f"),
            ["/bin/check", "a b", "c d", "e f"]
        );
        assert_eq!(split(r#"x a\ b "q\"q" '\n'"#), ["x", "a b", "q\"q", "\\n"]);
        assert_eq!(split("x ''"), ["x", ""]);
        assert!(split("   ").is_empty());
        for bad in ["x 'open", "x \"open", "x \\"] {
            assert!(
                matches!(split_command_line(bad), Err(CheckSpecError::CommandLine(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn validation() {
        let t = Duration::from_secs(1);
        assert_eq!(
            MiscCheck::from_command_line("  ", t, false),
            Err(CheckSpecError::EmptyCommand)
        );
        assert_eq!(
            MiscCheck::new(vec![String::new()], t, false),
            Err(CheckSpecError::EmptyCommand)
        );
        assert_eq!(
            MiscCheck::new(vec!["x".into()], Duration::ZERO, false),
            Err(CheckSpecError::ZeroTimeout)
        );
        let c = MiscCheck::from_command_line("/bin/true 'a b'", t, true).unwrap();
        assert_eq!(c.argv().collect::<Vec<_>>(), ["/bin/true", "a b"]);
        assert!(c.is_dynamic());
    }

    #[test]
    fn exit_statuses() {
        let exit = |code: i32| ExitStatus::from_raw(code << 8);
        let r = judge(exit(0), false);
        assert!(r.up && r.weight.is_none());
        assert!(!judge(exit(1), false).up);
        assert!(!judge(exit(5), false).up);
        assert!(!judge(exit(1), true).up);
        let r = judge(exit(5), true);
        assert_eq!((r.up, r.weight), (true, Some(3)));
        assert_eq!(r.reason, "exit status 5, weight 3");
        assert_eq!(judge(exit(2), true).weight, Some(0));
        assert_eq!(judge(exit(255), true).weight, Some(253));
        let r = judge(exit(0), true);
        assert!(r.up && r.weight.is_none());
        let killed = judge(ExitStatus::from_raw(9), true);
        assert!(!killed.up);
        assert_eq!(killed.reason, "killed by signal 9 (SIGKILL)");
    }
}
