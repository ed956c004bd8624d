//! `fulcrum demo --cluster`: the classic "HAProxy + keepalived" tutorial cluster, built in network namespaces
//! on this machine, and a scripted failover through it.
//!
//! Six namespaces `fulcrum-demo-<pid>-<role>`: a client, two directors (lb1, lb2) running `fulcrum proxy` and
//! `fulcrum keepalived` from the tutorial's two files (examples/cluster, embedded in the binary), two web servers
//! (threads of this process inside their namespaces), and a switch: one bridge every host is cabled to by a veth
//! pair whose host end is `eth0`, so that the tutorial's `interface eth0` works as written. The walk-through
//! ([`walk`]) shows round robin, a web server failing and returning, and the master director failing with the
//! backup taking the virtual IP, timing each from the client's side. Everything it creates is removed on exit,
//! on error and on Ctrl-C / SIGTERM ([`topology::Topology`]).
//!
//! While it runs, a cluster page (`page`, printed as `cluster page: http://127.0.0.1:8098/`) shows each
//! director's VRRP state, the virtual address it holds, the L4 services of keepalived's checkers and the proxy's
//! backends, read from the directors' metrics endpoints, which the demo adds to the tutorial's files
//! ([`with_metrics`]).
//!
//! `fulcrum demo --cluster --print-config` prints the files as the directors run them (lb2's keepalived.conf is
//! derived from lb1's).

mod page;
mod topology;
mod walk;
mod web;

use std::fmt;
use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{SigSet, Signal};

/// The tutorial's haproxy.cfg, run on both directors.
pub const HAPROXY_CFG: &str = include_str!("../../../../examples/cluster/haproxy.cfg");
/// The tutorial's keepalived.conf for lb1, the MASTER; lb2's is [`backup_keepalived_conf`].
pub const KEEPALIVED_CONF: &str = include_str!("../../../../examples/cluster/keepalived.conf");

/// The virtual IP of the files (the tutorial's 192.168.1.100).
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 100);
/// The service's port (`bind *:80`).
pub const PORT: u16 = 80;

/// One host of the cluster: its role (the suffix of its namespace's name) and its address on the bridge.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    pub role: &'static str,
    pub addr: Ipv4Addr,
}

pub const CLIENT: Host = Host {
    role: "client",
    addr: Ipv4Addr::new(198, 18, 1, 50),
};
pub const LB1: Host = Host {
    role: "lb1",
    addr: Ipv4Addr::new(198, 18, 1, 11),
};
pub const LB2: Host = Host {
    role: "lb2",
    addr: Ipv4Addr::new(198, 18, 1, 12),
};
/// web1 and web2: the addresses of haproxy.cfg's `server` lines.
pub const WEB1: Host = Host {
    role: "web1",
    addr: Ipv4Addr::new(198, 18, 1, 2),
};
pub const WEB2: Host = Host {
    role: "web2",
    addr: Ipv4Addr::new(198, 18, 1, 3),
};
/// Every host, in the order they are created.
pub const HOSTS: [Host; 5] = [CLIENT, LB1, LB2, WEB1, WEB2];
/// The prefix length of the hosts' addresses.
pub const PREFIX_LEN: u8 = 24;

/// lb2's keepalived.conf: lb1's with `state BACKUP` and `priority 100`, as the tutorial has it.
pub fn backup_keepalived_conf() -> Result<String> {
    let mut text = KEEPALIVED_CONF.to_string();
    for (from, to) in [
        ("state MASTER", "state BACKUP"),
        ("priority 101", "priority 100"),
    ] {
        let n = text.lines().filter(|l| l.trim() == from).count();
        if n != 1 {
            bail!("the embedded keepalived.conf has {n} lines '{from}' (1 expected): cannot derive lb2's");
        }
        text = text
            .lines()
            .map(|l| {
                if l.trim() == from {
                    l.replace(from, to)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        text.push('\n');
    }
    Ok(text)
}

/// The directors' files as the demo runs them: the tutorial's, plus what the cluster page reads (the proxy's
/// Prometheus metrics on the director's loopback, and `fulcrum_metrics_listen`, a fulcrum-only keyword, in
/// keepalived.conf's `global_defs`). Returns (haproxy.cfg, lb1's keepalived.conf, lb2's keepalived.conf).
pub fn with_metrics() -> Result<(String, String, String)> {
    let haproxy = format!(
        "{HAPROXY_CFG}\n# Added by `fulcrum demo --cluster` for its cluster page: the proxy's Prometheus metrics on \
         this director's loopback.\nfrontend metrics\n    bind 127.0.0.1:{}\n    \
         http-request use-service prometheus-exporter if {{ path /metrics }}\n",
        page::PROXY_METRICS_PORT
    );
    let listen = |conf: &str| -> Result<String> {
        let marker = "global_defs {\n";
        if conf.matches(marker).count() != 1 {
            bail!("the embedded keepalived.conf has no single 'global_defs {{' line");
        }
        Ok(conf.replacen(
            marker,
            &format!(
                "{marker}    ! Added by `fulcrum demo --cluster` for its cluster page (a fulcrum-only keyword).\n    \
                 fulcrum_metrics_listen 127.0.0.1:{}\n",
                page::VRRP_METRICS_PORT
            ),
            1,
        ))
    };
    Ok((
        haproxy,
        listen(KEEPALIVED_CONF)?,
        listen(&backup_keepalived_conf()?)?,
    ))
}

/// What `--print-config` prints: the three files as the directors run them, each after a comment line naming it.
fn print_config() -> Result<String> {
    let (haproxy, lb1, lb2) = with_metrics()?;
    Ok(format!(
        "# ==== haproxy.cfg: lb1 and lb2 run `fulcrum proxy -f haproxy.cfg` ====\n{haproxy}\n\
         ! ==== keepalived.conf of lb1 (MASTER): `fulcrum keepalived -n -l -f keepalived.conf` ====\n\
         {lb1}\n\
         ! ==== keepalived.conf of lb2 (BACKUP): lb1's with 'state BACKUP' and 'priority 100' ====\n{lb2}"
    ))
}

/// Raised by the walk-through's waits when SIGINT or SIGTERM arrived: the demo cleans up and exits 128 + signal.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// The clock of the walk-through and the stop flag set by the signal thread.
pub struct Ctx {
    start: Instant,
    stop: Arc<AtomicBool>,
}

impl Ctx {
    /// Seconds since the demo started.
    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Prints one step, stamped with the time since the start.
    pub fn say(&self, msg: impl fmt::Display) {
        println!("[{:6.2}s] {msg}", self.now());
        let _ = std::io::stdout().flush();
    }

    /// Prints a line belonging to the step above (indented, no time stamp).
    pub fn detail(&self, msg: impl fmt::Display) {
        println!("           {msg}");
        let _ = std::io::stdout().flush();
    }

    /// Err([`Interrupted`]) once a signal arrived.
    pub fn check(&self) -> Result<()> {
        if self.stop.load(Ordering::SeqCst) {
            return Err(Interrupted.into());
        }
        Ok(())
    }

    /// Sleeps `d`, in steps short enough to notice a signal promptly.
    pub fn sleep(&self, d: Duration) -> Result<()> {
        let end = Instant::now() + d;
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            std::thread::sleep((end - now).min(Duration::from_millis(20)));
        }
    }
}

/// What this machine lacks to run the cluster (nothing is created to find out).
fn missing_requirements() -> Vec<&'static str> {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push(
            "root privileges (it creates network namespaces, veth links and a bridge: try sudo)",
        );
    }
    let ip = std::process::Command::new("ip")
        .arg("-V")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !ip.is_ok_and(|s| s.success()) {
        missing.push("iproute2's `ip` command (package iproute2)");
    }
    if !std::path::Path::new("/proc/self/ns/net").exists() {
        missing.push("Linux network namespaces (CONFIG_NET_NS)");
    }
    missing
}

/// Runs `fulcrum demo --cluster [--print-config]`; returns the exit code.
pub fn main(print_only: bool) -> u8 {
    if print_only {
        return match print_config() {
            Ok(text) => {
                print!("{text}");
                0
            }
            Err(e) => {
                eprintln!("fulcrum demo --cluster: {e:#}");
                1
            }
        };
    }
    let missing = missing_requirements();
    if !missing.is_empty() {
        eprintln!(
            "fulcrum demo --cluster: cannot build the cluster on this machine; it needs root, iproute2's `ip` \
             command and Linux network namespaces. Missing:"
        );
        for m in missing {
            eprintln!("  - {m}");
        }
        eprintln!(
            "Nothing was created. (`fulcrum demo --cluster --print-config` prints its files.)"
        );
        return 1;
    }
    let signal = Arc::new(AtomicI32::new(0));
    match run(&signal) {
        Ok(()) => 0,
        // A signal also ends what was running (Ctrl-C reaches the `ip` commands too): not an error.
        Err(e) if e.is::<Interrupted>() || signal.load(Ordering::SeqCst) != 0 => {
            let sig = signal.load(Ordering::SeqCst);
            let name = Signal::try_from(sig).map_or("a signal", Signal::as_str);
            println!("fulcrum demo --cluster: stopped on {name}; everything it created is removed");
            u8::try_from(128 + sig).unwrap_or(1)
        }
        Err(e) => {
            eprintln!("fulcrum demo --cluster: {e:#}");
            1
        }
    }
}

fn run(signal: &Arc<AtomicI32>) -> Result<()> {
    // Blocked before any thread starts, so that every thread inherits the mask and only the thread below takes
    // SIGINT and SIGTERM (as `fulcrum demo` does). Child processes start with an empty mask (std resets it).
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().context("cannot block signals")?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let signal = signal.clone();
        std::thread::Builder::new()
            .name("fulcrum-signals".into())
            .spawn(move || {
                if let Ok(sig) = signals.wait() {
                    signal.store(sig as i32, Ordering::SeqCst);
                }
                stop.store(true, Ordering::SeqCst);
            })
            .context("starting the signal thread")?;
    }
    let ctx = Ctx {
        start: Instant::now(),
        stop,
    };
    walk::run(&ctx)
}
