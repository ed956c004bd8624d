//! Loading the encapsulation program into the kernel and attaching it to a device's egress hook.
//!
//! The program is loaded with the `bpf(2)` system call and pinned for a moment in the BPF file system so
//! that `tc` can attach it (`tc filter replace ... bpf direct-action object-pinned PATH`) as a filter of the
//! device's `clsact` qdisc; the pin is removed right after, the filter keeps the program alive. A later store
//! replaces the filter in one step (same preference and handle), so packets always meet either the old or
//! the new program. The filter goes with its device or when [`detach`] removes it.

use super::program::{encap_program, Encap};
use crate::plane::PlaneError;
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The filter preference fulcrum's encapsulation filter uses on every device.
pub const FILTER_PREF: &str = "49153";
/// Where the BPF file system is (mounted there when it is not).
const BPF_FS: &str = "/sys/fs/bpf";
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
const LICENSE: &[u8] = b"Apache-2.0\0";
const NAME: &[u8] = b"fulcrum_tun";

static PIN_COUNTER: AtomicU32 = AtomicU32::new(0);

fn bpf(cmd: libc::c_long, attr: &mut [u8]) -> std::io::Result<i32> {
    // SAFETY: `attr` is a zero-initialised `union bpf_attr` prefix of the length passed; every pointer in
    // it refers to memory that outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(i32::try_from(r).unwrap_or(-1))
    }
}

fn put_u32(attr: &mut [u8], at: usize, v: u32) {
    attr[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(attr: &mut [u8], at: usize, v: u64) {
    attr[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

/// Loads the program for `dests`; a refusal carries the verifier's log.
pub fn load(dests: &[Encap]) -> Result<OwnedFd, PlaneError> {
    let insns = encap_program(dests);
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = [0u8; 128];
    put_u32(&mut attr, 0, BPF_PROG_TYPE_SCHED_CLS);
    put_u32(&mut attr, 4, u32::try_from(insns.len() / 8).unwrap_or(0));
    put_u64(&mut attr, 8, insns.as_ptr() as u64);
    put_u64(&mut attr, 16, LICENSE.as_ptr() as u64);
    attr[48..48 + NAME.len()].copy_from_slice(NAME);
    let first = bpf(BPF_PROG_LOAD, &mut attr);
    let fd = match first {
        Ok(fd) => fd,
        Err(_) => {
            // Again with the verifier's log, to say why.
            put_u32(&mut attr, 24, 1);
            put_u32(&mut attr, 28, u32::try_from(log.len()).unwrap_or(0));
            put_u64(&mut attr, 32, log.as_mut_ptr() as u64);
            match bpf(BPF_PROG_LOAD, &mut attr) {
                Ok(fd) => fd,
                Err(e) => {
                    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                    let text = String::from_utf8_lossy(&log[..end]);
                    let tail: Vec<&str> = text.lines().rev().take(6).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    return Err(PlaneError::Unsupported(format!(
                        "the kernel refused the tunnel encapsulation program ({e}): {}",
                        tail.join(" / ")
                    )));
                }
            }
        }
    };
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ensure_bpf_fs() -> Result<(), PlaneError> {
    let path = CString::new(BPF_FS).unwrap_or_default();
    // SAFETY: statfs fills the zeroed struct; `path` is a valid C string.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statfs(path.as_ptr(), &mut st) };
    if r == 0 && st.f_type as i64 == BPF_FS_MAGIC {
        return Ok(());
    }
    let kind = CString::new("bpf").unwrap_or_default();
    let opts = CString::new("mode=0700").unwrap_or_default();
    // SAFETY: all arguments are valid C strings.
    let r = unsafe {
        libc::mount(
            kind.as_ptr(),
            path.as_ptr(),
            kind.as_ptr(),
            0,
            opts.as_ptr().cast(),
        )
    };
    if r != 0 {
        return Err(PlaneError::Io {
            path: BPF_FS.into(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

fn pin(fd: &OwnedFd, path: &str) -> Result<(), PlaneError> {
    use std::os::fd::AsRawFd;
    let c = CString::new(path).unwrap_or_default();
    let mut attr = [0u8; 16];
    put_u64(&mut attr, 0, c.as_ptr() as u64);
    put_u32(&mut attr, 8, u32::try_from(fd.as_raw_fd()).unwrap_or(0));
    bpf(BPF_OBJ_PIN, &mut attr).map_err(|source| PlaneError::Io {
        path: path.into(),
        source,
    })?;
    Ok(())
}

fn tc(args: &[&str]) -> Result<String, PlaneError> {
    let out = Command::new("tc")
        .args(args)
        .output()
        .map_err(|source| PlaneError::Spawn {
            program: "tc".into(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(PlaneError::Command {
            program: format!("tc {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Attaches (or replaces) the encapsulation program for `dests` on `dev`'s egress hook.
pub fn attach(dev: &str, dests: &[Encap]) -> Result<(), PlaneError> {
    let prog = load(dests)?;
    ensure_bpf_fs()?;
    if !tc(&["qdisc", "show", "dev", dev])?.contains("clsact") {
        tc(&["qdisc", "add", "dev", dev, "clsact"])?;
    }
    let path = format!(
        "{BPF_FS}/fulcrum_lvs_tun_{}_{}",
        std::process::id(),
        PIN_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    pin(&prog, &path)?;
    let r = tc(&[
        "filter",
        "replace",
        "dev",
        dev,
        "egress",
        "pref",
        FILTER_PREF,
        "handle",
        "1",
        "bpf",
        "direct-action",
        "object-pinned",
        &path,
    ]);
    let _ = std::fs::remove_file(&path);
    r.map(|_| ())
}

/// Removes the encapsulation filter from `dev` (nothing to do when the device or the filter is gone).
pub fn detach(dev: &str) {
    let _ = tc(&[
        "filter",
        "del",
        "dev",
        dev,
        "egress",
        "pref",
        FILTER_PREF,
        "handle",
        "1",
        "bpf",
    ]);
}
