//! fulcrum's XDP data plane for the L4 virtual server (direct routing, tunnelling and NAT).
//!
//! - `bpf/xdp_lb.c`: the XDP program (BPF C, compiled by clang from `build.rs`; without clang the crate
//!   builds and [`Xdp::load`] answers "xdp unavailable: ...").
//! - [`layout`]: the maps' keys and values, `#[repr(C)]` twins of the C structs.
//! - [`plan`]: the pure part, a table of services and real servers turned into map contents.
//! - [`loader`]: loading the program with aya, writing a [`plan::Plan`] into the maps, attaching it to a
//!   device, reading counters and flows, and running packets through it with `BPF_PROG_TEST_RUN`.
//!
//! # Why C and aya
//! The program is C compiled by clang 14 (Debian's), because aya-ebpf (Rust for the BPF target) needs
//! a nightly toolchain and bpf-linker, neither of which this project builds with. It is loaded by aya,
//! a pure Rust loader from crates.io: libbpf-rs would add a C library (libbpf-sys builds libbpf from
//! source or links the system one), and aya reads the BTF map definitions clang emits as they are.

pub mod layout;
pub mod loader;
pub mod plan;

pub use loader::{Verdict, Xdp};
pub use plan::{plan, DestSpec, Method, Persistence, Plan, ServiceSpec, Timeouts};

/// Errors of the XDP plane.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    /// The program cannot run here (not built, or the kernel refused it); the nftables plane serves.
    #[error("xdp unavailable: {0}")]
    Unavailable(String),
    /// The table holds something the XDP plane does not implement.
    #[error("not served by xdp: {0}")]
    Unsupported(String),
    /// The pinned maps belong to another build of the program (an older fulcrum's): their layouts may
    /// differ from this build's, so they are not written to.
    #[error("the pinned xdp program is another build's: {0}")]
    OtherBuild(String),
    /// A map or program operation failed.
    #[error("xdp {what}: {why}")]
    Bpf {
        /// The operation.
        what: String,
        /// Why.
        why: String,
    },
}

impl XdpError {
    pub(crate) fn bpf(what: impl Into<String>, why: impl std::fmt::Display) -> XdpError {
        XdpError::Bpf {
            what: what.into(),
            why: why.to_string(),
        }
    }
}
