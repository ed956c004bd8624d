//! The bpf file system fulcrum's XDP plane pins under by default (`/run/fulcrum/bpf`), for the network-namespace
//! labs: mounted in the tests' mount namespace (which every `ip netns exec` starts from) when it is not yet, and
//! left mounted, as fulcrum itself leaves it.

use std::process::Command;

pub const BPFFS: &str = "/run/fulcrum/bpf";

/// Mounts [`BPFFS`] unless a bpf file system is there already.
pub fn mount() -> Result<(), String> {
    // Tests of one binary run in threads: one mount, not one stacked on another.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let kind = Command::new("stat")
        .args(["-f", "-c", "%T", BPFFS])
        .output();
    if kind.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "bpf_fs") {
        return Ok(());
    }
    std::fs::create_dir_all(BPFFS).map_err(|e| format!("{BPFFS}: {e}"))?;
    let out = Command::new("mount")
        .args(["-t", "bpf", "bpf", BPFFS])
        .output()
        .map_err(|e| format!("mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}
