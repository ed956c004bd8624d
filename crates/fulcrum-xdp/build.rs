//! Compiles bpf/xdp_lb.c with clang into the object the loader embeds.
//!
//! Without a working clang (or without the libbpf headers) the crate still builds: the object is left out,
//! `fulcrum_xdp_obj` is not set, and the loader reports "xdp unavailable: ..." with the reason at run time.
//! The compiler is `$FULCRUM_CLANG`, else the first of `clang`, `clang-14` ... that runs.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(fulcrum_xdp_obj)");
    println!("cargo:rerun-if-changed=bpf/xdp_lb.c");
    println!("cargo:rerun-if-env-changed=FULCRUM_CLANG");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let obj = out.join("xdp_lb.o");
    let candidates: Vec<String> = match std::env::var("FULCRUM_CLANG") {
        Ok(c) if !c.is_empty() => vec![c],
        _ => [
            "clang", "clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    };
    let arch_include = format!(
        "-I/usr/include/{}-linux-gnu",
        std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into())
    );
    let mut reasons = Vec::new();
    for clang in &candidates {
        let res = Command::new(clang)
            .args([
                "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Werror",
            ])
            .arg(&arch_include)
            .arg("-c")
            .arg("bpf/xdp_lb.c")
            .arg("-o")
            .arg(&obj)
            .output();
        match res {
            Ok(o) if o.status.success() => {
                println!("cargo:rustc-cfg=fulcrum_xdp_obj");
                println!("cargo:rustc-env=FULCRUM_XDP_OBJ={}", obj.display());
                return;
            }
            Ok(o) => reasons.push(format!(
                "{clang}: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("failed")
            )),
            Err(e) => reasons.push(format!("{clang}: {e}")),
        }
    }
    let reason = if reasons.iter().all(|r| r.contains("No such file")) {
        "the BPF program was not built: no clang found (install clang and libbpf-dev)".to_string()
    } else {
        format!("the BPF program was not built: {}", reasons.join("; "))
    };
    println!("cargo:warning=fulcrum-xdp: {reason}");
    println!("cargo:rustc-env=FULCRUM_XDP_MISSING={reason}");
}
