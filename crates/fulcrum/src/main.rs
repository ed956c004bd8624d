//! The `fulcrum` binary: one program for the proxy, VRRP failover and the L4 virtual server.
//!
//! Invoked through a link named `haproxy`, `keepalived` or `ipvsadm`, it behaves as that subcommand.

mod cli;
mod demo;
mod logging;
mod proxy_cmd;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

/// mimalloc instead of the C library's allocator: it returns the pages that parked keep-alive connections free to
/// the system (see docs/PERFORMANCE.md), which the C library's heap keeps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay`: its position in mimalloc 3's `mi_option_e` (libmimalloc-sys does not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Gives pages back as soon as they are wholly free, instead of 1 s later and only if the thread allocates
/// again: a worker whose connections all went idle would otherwise keep the memory they freed. Costs a few dozen
/// `madvise` calls per second under load.
fn release_free_memory_promptly() {
    // SAFETY: setting an allocator option is allowed at any time; this one only changes when pages are purged.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

fn main() -> ExitCode {
    release_free_memory_promptly();
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
