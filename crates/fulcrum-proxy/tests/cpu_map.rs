//! `cpu-map`: each worker thread runs on the CPUs its line names. A test binary of its own: it looks at every
//! thread of the process.

mod common;

use common::*;

/// The `Cpus_allowed_list` of every worker thread of the process, sorted.
fn worker_cpus() -> Vec<String> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        // Thread names are cut to 15 bytes: `fulcrum-worker-`.
        if !comm.starts_with("fulcrum-worker") {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        if let Some(l) = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        {
            out.push(l.trim().to_string());
        }
    }
    out.sort();
    out
}

fn cfg(map: &str) -> String {
    format!(
        "global\n    nbthread 2\n{map}\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\nlisten app\n    bind 127.0.0.1:{}\n    http-request return status 200\n",
        free_port()
    )
}

#[test]
fn worker_threads_run_on_the_mapped_cpus() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipping: cpu-map needs two CPUs to show");
        return;
    }
    for (map, want) in [
        ("    cpu-map 1/1 0\n    cpu-map 1/2 1", ["0", "1"]),
        ("    cpu-map auto:1/1-2 0-1", ["0", "1"]),
        ("    cpu-map 1/all 1", ["1", "1"]),
        ("    cpu-map all 0\n    cpu-map 1/even 1", ["0", "1"]),
    ] {
        let p = start_proxy(&cfg(map));
        assert_eq!(get(p.addr, "/").status, 200);
        // Both workers have started (and pinned themselves).
        wait_until(std::time::Duration::from_secs(3), || worker_cpus() == want);
        assert_eq!(worker_cpus(), want, "{map}");
        drop(p);
        assert!(
            wait_until(std::time::Duration::from_secs(3), || worker_cpus()
                .is_empty()),
            "the workers did not stop"
        );
    }
}
