//! The `fulcrum` binary: one program for the proxy, VRRP failover and the L4 virtual server.
//!
//! Invoked through a link named `haproxy`, `keepalived` or `ipvsadm`, it behaves as that subcommand.

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
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns the calling thread's free pages to the system.
fn release_free_memory() {
    // SAFETY: mi_collect only walks and trims the allocator's own structures; any thread may call it at any time.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

fn main() -> ExitCode {
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
