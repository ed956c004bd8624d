//! MISC_CHECK with /bin/sh scripts: exit statuses, misc_dynamic, timeouts that kill the whole process
//! group, a dropped probe, a missing program and script_user.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fulcrum_health::keepalived::{Checker, MiscCheck, ScriptUser};

fn sh(script: &str, timeout: Duration, dynamic: bool) -> MiscCheck {
    MiscCheck::new(
        vec!["/bin/sh".into(), "-c".into(), script.into()],
        timeout,
        dynamic,
    )
    .unwrap()
}

const SECOND: Duration = Duration::from_secs(1);

/// A fresh directory for a test's scripts to write into, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("fulcrum-misc-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("pids")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether process `pid` is running (present and not a zombie).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
            !matches!(state, Some(Some('Z' | 'X')))
        }
    }
}

/// Waits for a script to write its pids (space-separated) into `path`.
async fn read_pids(path: &PathBuf) -> Vec<i32> {
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.ends_with('\n') {
                return text
                    .split_whitespace()
                    .map(|p| p.parse().unwrap())
                    .collect();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the script did not write {}", path.display());
}

/// Asserts that none of `pids` runs, allowing a moment for the reparented ones to be reaped.
async fn assert_gone(pids: &[i32]) {
    for _ in 0..100 {
        if !pids.iter().any(|&p| running(p)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "still running: {:?}",
        pids.iter().filter(|&&p| running(p)).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn exit_statuses_and_dynamic_weights() {
    let any: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let r = Checker::Misc(sh("exit 0", SECOND * 5, false))
        .run(any)
        .await;
    assert!(r.up && r.weight.is_none(), "{r:?}");
    assert_eq!(r.reason, "exit status 0");
    let r = sh("exit 1", SECOND * 5, false).run().await;
    assert_eq!((r.up, r.reason.as_str()), (false, "exit status 1"));
    let r = sh("exit 5", SECOND * 5, false).run().await;
    assert_eq!((r.up, r.weight), (false, None));
    let r = sh("exit 5", SECOND * 5, true).run().await;
    assert_eq!((r.up, r.weight), (true, Some(3)));
    assert_eq!(r.reason, "exit status 5, weight 3");
    let r = sh("exit 1", SECOND * 5, true).run().await;
    assert_eq!((r.up, r.weight), (false, None));
    let r = sh("exit 0", SECOND * 5, true).run().await;
    assert_eq!((r.up, r.weight), (true, None));
    let r = sh("kill -9 $$", SECOND * 5, true).run().await;
    assert_eq!(
        (r.up, r.reason.as_str()),
        (false, "killed by signal 9 (SIGKILL)")
    );
}

#[tokio::test]
async fn arguments_are_passed_without_a_shell() {
    // The split command line reaches the program as separate arguments; `$HOME` is not expanded.
    let line = r#"/bin/sh -c "test \"\$1\" = 'a b' && test \"\$2\" = '\$HOME'" zero 'a b' $HOME"#;
    let c = MiscCheck::from_command_line(line, SECOND * 5, false).unwrap();
    let r = c.run().await;
    assert!(r.up, "{r:?}");
}

#[tokio::test]
async fn a_timeout_fails_and_kills_the_whole_group() {
    let dir = Scratch::new("timeout");
    let pids = dir.file();
    // The script starts a background child, records both pids, and waits.
    let script = format!("sleep 60 & echo $$ $! > {}; wait", pids.display());
    let c = sh(&script, Duration::from_millis(500), false);
    let start = Instant::now();
    let r = c.run().await;
    assert!(!r.up);
    assert_eq!(r.reason, "timed out after 500ms, killed");
    assert!(r.duration >= Duration::from_millis(500), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(3), "{r:?}");
    let pids = read_pids(&pids).await;
    assert_eq!(pids.len(), 2);
    assert_gone(&pids).await;
}

#[tokio::test]
async fn a_program_ignoring_sigterm_is_killed_after_the_grace() {
    let dir = Scratch::new("stubborn");
    let pids = dir.file();
    // SIG_IGN for TERM is inherited by the background sleep too.
    let script = format!(
        "trap '' TERM; sleep 60 & echo $$ $! > {}; wait; wait",
        pids.display()
    );
    let c =
        sh(&script, Duration::from_millis(300), false).with_kill_grace(Duration::from_millis(300));
    let start = Instant::now();
    let r = c.run().await;
    assert!(!r.up);
    assert!(r.reason.starts_with("timed out"), "{r:?}");
    // The grace was used in full (the group ignored SIGTERM), then SIGKILL ended it.
    assert!(start.elapsed() >= Duration::from_millis(600), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(3), "{r:?}");
    assert_gone(&read_pids(&pids).await).await;
}

#[tokio::test]
async fn a_dropped_probe_kills_its_group() {
    let dir = Scratch::new("dropped");
    let pids = dir.file();
    let script = format!("sleep 60 & echo $$ $! > {}; wait", pids.display());
    let c = sh(&script, Duration::from_secs(60), false);
    let cut = tokio::time::timeout(Duration::from_millis(300), c.run()).await;
    assert!(cut.is_err());
    assert_gone(&read_pids(&pids).await).await;
}

#[tokio::test]
async fn a_missing_program_is_a_failure() {
    let c = MiscCheck::from_command_line("/nonexistent/check arg", SECOND, false).unwrap();
    let r = c.run().await;
    assert!(!r.up);
    assert_eq!(
        r.reason,
        "cannot run /nonexistent/check: No such file or directory"
    );
}

/// Runs only as root (CI runs as root); elsewhere switching users is not possible and it returns early.
#[tokio::test]
async fn script_user_switches_uid_and_gid() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: script_user not tested");
        return;
    }
    let probe = r#"test "$(id -u):$(id -g)" = "65534:65534""#;
    let as_nobody = sh(probe, SECOND * 5, false).with_user(ScriptUser {
        uid: 65534,
        gid: 65534,
    });
    let r = as_nobody.run().await;
    assert!(r.up, "{r:?}");
    // The same check as root fails, so the test above is not vacuous.
    assert!(!sh(probe, SECOND * 5, false).run().await.up);
}
