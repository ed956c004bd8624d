//! Notify and quorum scripts (`notify_up`, `notify_down`, `quorum_up`, `quorum_down`): started without a
//! shell (the command line is split as keepalived splits it), never waited for on the control thread.

use std::process::{Command, Stdio};

/// Starts `command_line` and reaps it on a short-lived thread; failures are logged.
pub fn spawn(command_line: &str) {
    let words = match fulcrum_health::keepalived::split_command_line(command_line) {
        Ok(w) if !w.is_empty() => w,
        _ => {
            tracing::error!("cannot run script {command_line:?}: not a command line");
            return;
        }
    };
    let mut cmd = Command::new(&words[0]);
    cmd.args(&words[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match cmd.spawn() {
        Ok(mut child) => {
            let line = command_line.to_string();
            let _ = std::thread::Builder::new()
                .name("fulcrum-script".into())
                .spawn(move || match child.wait() {
                    Ok(s) if !s.success() => tracing::warn!("script {line:?} exited with {s}"),
                    Err(e) => tracing::warn!("script {line:?}: {e}"),
                    _ => {}
                });
        }
        Err(e) => tracing::error!("cannot run script {command_line:?}: {e}"),
    }
}
