//! Runs `vrrp_script` checks (interval, timeout, rise, fall) and notify scripts, as `script_user` when set.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A user and group scripts run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Resolves `user [group]` to ids.
pub fn resolve_user(user: &str, group: Option<&str>) -> Result<RunAs, String> {
    let u = nix::unistd::User::from_name(user)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user named '{user}'"))?;
    let gid = match group {
        Some(g) => {
            nix::unistd::Group::from_name(g)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no group named '{g}'"))?
                .gid
        }
        None => u.gid,
    };
    Ok(RunAs {
        uid: u.uid.as_raw(),
        gid: gid.as_raw(),
    })
}

/// Splits a command line like a shell would (quotes and backslashes), without running a shell.
pub fn split_command(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    cur.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                cur.push(n);
                            }
                        }
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

fn command(argv: &[String], run_as: Option<RunAs>) -> Option<Command> {
    let (prog, args) = argv.split_first()?;
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(r) = run_as {
        if r.uid != nix::unistd::getuid().as_raw() || r.gid != nix::unistd::getgid().as_raw() {
            cmd.uid(r.uid).gid(r.gid);
        }
    }
    Some(cmd)
}

/// Notify scripts in flight; reaped without waiting.
#[derive(Debug, Default)]
pub struct Notifier {
    children: Vec<Child>,
}

impl Notifier {
    /// Starts `line` with `extra` arguments appended.
    pub fn spawn(&mut self, line: &str, extra: &[&str], run_as: Option<RunAs>) -> io::Result<()> {
        let mut argv = split_command(line);
        argv.extend(extra.iter().map(|s| s.to_string()));
        let Some(mut cmd) = command(&argv, run_as) else {
            return Ok(());
        };
        self.children.push(cmd.spawn()?);
        Ok(())
    }

    /// Reaps finished children.
    pub fn reap(&mut self) {
        self.children
            .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }

    /// Whether scripts are still running.
    pub fn busy(&self) -> bool {
        !self.children.is_empty()
    }
}

/// The settings of one `vrrp_script`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    /// Name.
    pub name: String,
    /// Command line.
    pub script: String,
    /// Run every.
    pub interval: Duration,
    /// A run longer than this fails.
    pub timeout: Duration,
    /// Successes in a row to become ok.
    pub rise: u32,
    /// Failures in a row to become failed.
    pub fall: u32,
    /// Starting state.
    pub init_ok: bool,
    /// Who runs it.
    pub run_as: Option<RunAs>,
}

/// One periodic check and its rise/fall state.
#[derive(Debug)]
pub struct Check {
    /// Settings.
    pub spec: CheckSpec,
    ok: bool,
    good: u32,
    bad: u32,
    next_run: Instant,
    running: Option<(Child, Instant)>,
}

impl Check {
    /// A check whose first run is due at `now`.
    pub fn new(spec: CheckSpec, now: Instant) -> Check {
        Check {
            ok: spec.init_ok,
            spec,
            good: 0,
            bad: 0,
            next_run: now,
            running: None,
        }
    }

    /// Current health.
    pub fn ok(&self) -> bool {
        self.ok
    }

    /// Whether a run is in progress.
    pub fn running(&self) -> bool {
        self.running.is_some()
    }

    /// Keeps the health of an earlier check of the same name (reload).
    pub fn carry_state(&mut self, old: &Check) {
        self.ok = old.ok;
        self.good = old.good;
        self.bad = old.bad;
    }

    /// When this check next needs attention.
    pub fn deadline(&self) -> Instant {
        match &self.running {
            // Poll a running child every 20 ms; give up at the timeout.
            Some((_, started)) => {
                (*started + self.spec.timeout).min(Instant::now() + Duration::from_millis(20))
            }
            None => self.next_run,
        }
    }

    /// Advances the check; returns the new health when it changed.
    pub fn poll(&mut self, now: Instant) -> Option<bool> {
        let mut result = None;
        if let Some((child, started)) = &mut self.running {
            match child.try_wait() {
                Ok(Some(status)) => result = Some(status.success()),
                Ok(None) if now >= *started + self.spec.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    result = Some(false);
                }
                Ok(None) => {}
                Err(_) => result = Some(false),
            }
            if result.is_some() {
                self.running = None;
            }
        }
        let changed = result.and_then(|r| self.record(r));
        if self.running.is_none() && now >= self.next_run {
            self.next_run = now + self.spec.interval;
            let argv = split_command(&self.spec.script);
            match command(&argv, self.spec.run_as).map(|mut c| c.spawn()) {
                Some(Ok(child)) => self.running = Some((child, now)),
                _ => {
                    tracing::warn!(script = %self.spec.name, "cannot start check script");
                    return changed.or_else(|| self.record(false));
                }
            }
        }
        changed
    }

    fn record(&mut self, success: bool) -> Option<bool> {
        if success {
            self.bad = 0;
            self.good = self.good.saturating_add(1);
            if !self.ok && self.good >= self.spec.rise {
                self.ok = true;
                return Some(true);
            }
        } else {
            self.good = 0;
            self.bad = self.bad.saturating_add(1);
            if self.ok && self.bad >= self.spec.fall {
                self.ok = false;
                return Some(false);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(split_command("/bin/echo a  b"), vec!["/bin/echo", "a", "b"]);
        assert_eq!(
            split_command(r#"sh -c 'exit 1'"#),
            vec!["sh", "-c", "exit 1"]
        );
        assert_eq!(
            split_command(r#"x "a \"b\"" c\ d"#),
            vec!["x", "a \"b\"", "c d"]
        );
        assert_eq!(split_command(r#"x ''"#), vec!["x", ""]);
        assert!(split_command("   ").is_empty());
    }

    fn spec(script: &str, rise: u32, fall: u32, init_ok: bool) -> CheckSpec {
        CheckSpec {
            name: "chk".into(),
            script: script.into(),
            interval: Duration::from_millis(10),
            timeout: Duration::from_millis(500),
            rise,
            fall,
            init_ok,
            run_as: None,
        }
    }

    fn run_until_change(c: &mut Check, max: Duration) -> Option<bool> {
        let end = Instant::now() + max;
        while Instant::now() < end {
            if let Some(v) = c.poll(Instant::now()) {
                return Some(v);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    #[test]
    fn failing_script_falls_after_fall_runs() {
        let mut c = Check::new(spec("/bin/false", 1, 2, true), Instant::now());
        assert_eq!(
            run_until_change(&mut c, Duration::from_secs(5)),
            Some(false)
        );
        assert!(!c.ok());
        assert!(c.bad >= 2);
    }

    #[test]
    fn passing_script_rises() {
        let mut c = Check::new(spec("/bin/true", 2, 1, false), Instant::now());
        assert_eq!(run_until_change(&mut c, Duration::from_secs(5)), Some(true));
    }

    #[test]
    fn slow_script_times_out() {
        let mut s = spec("/bin/sleep 5", 1, 1, true);
        s.timeout = Duration::from_millis(100);
        let mut c = Check::new(s, Instant::now());
        let t = Instant::now();
        assert_eq!(
            run_until_change(&mut c, Duration::from_secs(3)),
            Some(false)
        );
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn missing_script_counts_as_failure() {
        let mut c = Check::new(spec("/nonexistent/script", 1, 1, true), Instant::now());
        assert_eq!(c.poll(Instant::now()), Some(false));
    }

    #[test]
    fn notifier_runs_with_extra_args() {
        let dir = std::env::temp_dir().join(format!("fulcrum-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let out = dir.join("out");
        let mut n = Notifier::default();
        n.spawn(
            &format!("/bin/sh -c 'echo \"$@\" > {}' sh", out.display()),
            &["INSTANCE", "VI_1", "MASTER", "150"],
            None,
        )
        .unwrap();
        let end = Instant::now() + Duration::from_secs(5);
        while n.busy() && Instant::now() < end {
            n.reap();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            "INSTANCE VI_1 MASTER 150"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn resolves_root() {
        assert_eq!(resolve_user("root", None).unwrap().uid, 0);
        assert!(resolve_user("no-such-user-fulcrum", None).is_err());
    }
}
