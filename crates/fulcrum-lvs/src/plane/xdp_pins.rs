//! Where the XDP plane keeps its program between commands.
//!
//! Every `fulcrum ipvsadm` command is a process of its own, so the program's maps and links are pinned on a bpf
//! file system: the pins keep the program attached and its maps (flow table, counters, the sweep timer, which the
//! kernel stops once no pin or descriptor holds its map) alive from one command to the next.
//!
//! The file system is [`BPFFS_DIR`] (`/run/fulcrum/bpf`), not `/sys/fs/bpf`: `ip netns exec` mounts a fresh
//! `/sys` for the namespace, which hides the host's bpf file system, but keeps `/run`. Each network namespace has a
//! directory of its own there, named by the namespace's cookie (the kernel numbers namespaces with cookies it
//! never reuses), so directors in different namespaces never share maps. A mount made inside `ip netns exec`
//! would vanish with its command, so the file system is mounted in the host's mount namespace (entered through
//! `/proc/1/ns/mnt` when the command runs in another); where that is not possible, the XDP plane says so and
//! nftables serves. Directories whose links all lost their device (the namespace was deleted) are removed by
//! the next store, and a store of an empty table (`ipvsadm -C`) detaches the program and removes its own.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The bpf file system the XDP plane pins under (one directory per network namespace).
pub const BPFFS_DIR: &str = "/run/fulcrum/bpf";

/// `statfs`'s magic number for a bpf file system.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// The directory of the current network namespace under `base`: `netns-<cookie>`.
pub fn netns_dir(base: &Path) -> PathBuf {
    base.join(format!("netns-{}", netns_id()))
}

/// The current network namespace's cookie (`SO_NETNS_COOKIE`), else its inode number.
fn netns_id() -> u64 {
    const SO_NETNS_COOKIE: libc::c_int = 71;
    if let Ok(s) = std::net::UdpSocket::bind("0.0.0.0:0") {
        let mut cookie = 0u64;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        // SAFETY: a valid socket, and a buffer of `len` bytes for the option.
        let r = unsafe {
            libc::getsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_NETNS_COOKIE,
                (&mut cookie as *mut u64).cast(),
                &mut len,
            )
        };
        if r == 0 && cookie != 0 {
            return cookie;
        }
    }
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/net").map_or(0, |m| m.ino())
}

/// Whether `path` is on a bpf file system.
pub fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: an all-zero statfs is a valid buffer for the call to fill.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` a statfs buffer.
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC }
}

/// Makes sure `base` is a bpf file system mounted where later commands see it (see the module documentation).
pub fn ensure_mounted(base: &Path) -> Result<(), String> {
    if is_bpffs(base) {
        return Ok(());
    }
    let host_ns = std::fs::read_link("/proc/1/ns/mnt").ok();
    let own_ns = std::fs::read_link("/proc/self/ns/mnt").ok();
    let status = if host_ns.is_some() && host_ns == own_ns {
        std::fs::create_dir_all(base).map_err(|e| format!("{}: {e}", base.display()))?;
        std::process::Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(base)
            .stderr(std::process::Stdio::null())
            .status()
    } else {
        // Another mount namespace (`ip netns exec`): a mount here would end with this command.
        std::process::Command::new("nsenter")
            .args(["--mount=/proc/1/ns/mnt", "--", "sh", "-c"])
            .arg(format!(
                "mkdir -p '{0}' && mount -t bpf bpf '{0}'",
                base.display()
            ))
            .stderr(std::process::Stdio::null())
            .status()
    };
    if is_bpffs(base) {
        return Ok(());
    }
    Err(match status {
        Ok(s) if s.success() => format!(
            "a bpf file system is now mounted at {} in the host's mount namespace; this command's mount \
             namespace does not see it yet",
            base.display()
        ),
        _ => format!(
            "no bpf file system at {0} where every command sees it (mount one in the host's mount namespace: \
             mkdir -p {0} && mount -t bpf bpf {0})",
            base.display()
        ),
    })
}

/// Removes a pin directory: its pins (the maps and links go when nothing else holds them) and itself.
pub fn remove(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Removes the namespace directories under `base` other than `keep` whose pinned links have all lost their
/// device (their namespace was deleted).
pub fn sweep_stale(base: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let dir = e.path();
        let named = dir
            .file_name()
            .is_some_and(|n| n.as_bytes().starts_with(b"netns-"));
        if !named || dir == keep {
            continue;
        }
        let links: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.as_bytes().starts_with(b"link_"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        // A directory without links yet may be one another command is filling; one left empty for a
        // minute is not (a command that found XDP unavailable, or an older fulcrum's `--plane`).
        if !links.is_empty() && links.iter().all(|l| link_ifindex(l) == Some(0)) {
            remove(&dir);
        } else if links.is_empty() && empty_for(&dir, STALE_EMPTY) {
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// How long a namespace directory may stay empty before a sweep removes it.
const STALE_EMPTY: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether `dir` holds nothing and was last changed at least `age` ago.
fn empty_for(dir: &Path, age: std::time::Duration) -> bool {
    let empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
    let old = std::fs::metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|e| e >= age);
    empty && old
}

/// The device index of the XDP link pinned at `pin` (0 once its device is gone), `None` when it cannot be read.
fn link_ifindex(pin: &Path) -> Option<u32> {
    const BPF_OBJ_GET: libc::c_long = 7;
    const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
    const BPF_LINK_TYPE_XDP: u32 = 6;
    #[repr(C)]
    struct ObjGet {
        pathname: u64,
        bpf_fd: u32,
        file_flags: u32,
    }
    #[repr(C)]
    struct InfoByFd {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    let path = std::ffi::CString::new(pin.as_os_str().as_bytes()).ok()?;
    let attr = ObjGet {
        pathname: path.as_ptr() as u64,
        bpf_fd: 0,
        file_flags: 0,
    };
    // SAFETY: BPF_OBJ_GET reads `attr` (the path stays alive across the call) and returns a new descriptor.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET,
            &attr as *const ObjGet,
            std::mem::size_of::<ObjGet>() as u32,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this descriptor to us.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // struct bpf_link_info: type, id, prog_id, then (8-byte aligned) the per-type part, whose first field
    // for an XDP link is the device index.
    let mut info = [0u64; 16];
    let mut attr = InfoByFd {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: std::mem::size_of_val(&info) as u32,
        info: info.as_mut_ptr() as u64,
    };
    // SAFETY: the kernel writes at most `info_len` bytes into `info`, which outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET_INFO_BY_FD,
            &mut attr as *mut InfoByFd,
            std::mem::size_of::<InfoByFd>() as u32,
        )
    };
    if r != 0 {
        return None;
    }
    let kind = (info[0] & 0xffff_ffff) as u32;
    let ifindex = (info[2] & 0xffff_ffff) as u32;
    (kind == BPF_LINK_TYPE_XDP).then_some(ifindex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_directories_are_named_by_cookie() {
        let d = netns_dir(Path::new(BPFFS_DIR));
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        let n: u64 = name.strip_prefix("netns-").unwrap().parse().unwrap();
        assert!(n > 0);
        // The same namespace, the same directory.
        assert_eq!(netns_dir(Path::new(BPFFS_DIR)), d);
    }

    #[test]
    fn a_plain_directory_is_not_a_bpf_file_system() {
        assert!(!is_bpffs(&std::env::temp_dir()));
        assert!(!is_bpffs(Path::new("/nonexistent/fulcrum")));
    }

    #[test]
    fn a_sweep_removes_directories_left_empty_for_a_minute() {
        let base = std::env::temp_dir().join(format!("fulcrum-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (old, new, full, keep) = (
            base.join("netns-1"),
            base.join("netns-2"),
            base.join("netns-3"),
            base.join("netns-4"),
        );
        for d in [&old, &new, &full, &keep] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(full.join("services"), "").unwrap();
        let two_minutes_ago = libc::timespec {
            tv_sec: (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                - 120) as libc::time_t,
            tv_nsec: 0,
        };
        for d in [&old, &full, &keep] {
            let c = std::ffi::CString::new(d.as_os_str().as_bytes()).unwrap();
            // SAFETY: a valid path and two valid times.
            let r = unsafe {
                libc::utimensat(libc::AT_FDCWD, c.as_ptr(), [two_minutes_ago; 2].as_ptr(), 0)
            };
            assert_eq!(r, 0);
        }
        sweep_stale(&base, &keep);
        assert!(!old.exists(), "empty for two minutes: removed");
        assert!(new.exists(), "just made: another command may be filling it");
        assert!(full.exists(), "pins but no links: left alone");
        assert!(keep.exists(), "this namespace's own");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
