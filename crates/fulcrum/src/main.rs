//! The `fulcrum` binary: one program for the proxy, VRRP failover and the L4 virtual server.
//!
//! Invoked through a link named `haproxy`, `keepalived` or `ipvsadm`, it behaves as that subcommand.

mod allocator;
mod cli;
mod demo;
mod demo_cluster;
mod genhash;
mod keepalived_cmd;
mod logging;
mod master;
mod proxy_cmd;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

/// mimalloc instead of the C library's allocator: with a forced collection after keep-alive connections park, it
/// gives the pages they freed back to the system (the C library's heap keeps them; see docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: allocator::Mimalloc = allocator::Mimalloc;

/// Returns the calling thread's free pages to the system.
fn release_free_memory() {
    // SAFETY: mi_collect only walks and trims the allocator's own structures; any thread may call it at any time.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// Keeps the process's memory in 4 KiB pages: no transparent huge pages. mimalloc asks the kernel for huge pages on
/// its large mappings, and a 2 MiB page counts whole in RSS however little of it is used, so the memory of idle
/// connections varied by a factor of two from run to run (docs/PERFORMANCE.md, "Idle connections").
/// `MIMALLOC_ALLOW_THP=1` in the environment keeps them.
fn without_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process (inherited by its children); no memory is passed.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

fn main() -> ExitCode {
    without_huge_pages();
    fulcrum_proxy::memory::set_release(release_free_memory);
    let args: Vec<OsString> = std::env::args_os().collect();
    let argv0 = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("fulcrum")
        .to_string();
    let rest = args.iter().skip(1).cloned().collect::<Vec<_>>();
    let code = match argv0.as_str() {
        "haproxy" => proxy_cmd::main(rest),
        "keepalived" => cli::keepalived(rest),
        "ipvsadm" => cli::ipvsadm(rest),
        _ => cli::main(args),
    };
    ExitCode::from(code)
}
