//! The cluster's network: one namespace per host and a switch namespace with a bridge, each host cabled to it
//! by a veth pair (`eth0` in the host); the child processes run in the namespaces; and the guard that removes
//! it all, on every way out.

use std::ffi::OsStr;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{Host, PREFIX_LEN};

/// The role of the switch namespace, holding the bridge.
const SWITCH: &str = "switch";
/// The bridge's name in the switch namespace.
const BRIDGE: &str = "br0";
/// How long a child gets to exit after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// Runs `ip ARGS`; the error carries its stderr.
pub fn ip(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Moves the calling thread (only it: network namespaces are per thread) into the named network namespace;
/// the sockets it creates from then on live there.
pub fn enter_netns(ns: &str) -> Result<()> {
    let path = Path::new("/run/netns").join(ns);
    let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: setns(2) on a namespace file held open for the call; it changes only the calling thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("entering network namespace {ns}"));
    }
    Ok(())
}

/// A child process started in a namespace, with its output in a log file.
struct Proc {
    what: String,
    child: Child,
    log: PathBuf,
}

/// What [`Topology::teardown`] did.
pub struct Teardown {
    pub processes: usize,
    pub namespaces: Vec<String>,
    /// Namespaces that could not be deleted, with why.
    pub left: Vec<String>,
}

/// The namespaces, links and processes of the cluster, and the directory of its files and logs. Dropping it
/// removes everything (processes killed by PID, namespaces deleted, directory removed).
pub struct Topology {
    prefix: String,
    namespaces: Vec<String>,
    procs: Vec<Proc>,
    dir: PathBuf,
    torn_down: bool,
}

impl Topology {
    /// Creates the switch and one namespace per host, cabled to the switch's bridge.
    pub fn create(hosts: &[Host]) -> Result<Topology> {
        use std::os::unix::fs::DirBuilderExt;
        let pid = std::process::id();
        let prefix = format!("fulcrum-demo-{pid}");
        let dir = std::env::temp_dir().join(format!("fulcrum-demo-cluster.{pid}"));
        // Left by an earlier process of the same pid that was killed with SIGKILL: stale, as are its namespaces.
        let _ = std::fs::remove_dir_all(&dir);
        if let Ok(list) = ip(&["netns", "list"]) {
            for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
                if name.starts_with(&format!("{prefix}-")) {
                    let _ = ip(&["netns", "del", name]);
                }
            }
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        // The guard exists before anything is created, so that a failing step is cleaned up too.
        let mut t = Topology {
            prefix,
            namespaces: Vec::new(),
            procs: Vec::new(),
            dir,
            torn_down: false,
        };
        let sw = t.add_namespace(SWITCH)?;
        ip(&["-n", &sw, "link", "add", BRIDGE, "type", "bridge"])?;
        ip(&["-n", &sw, "link", "set", BRIDGE, "up"])?;
        for h in hosts {
            let ns = t.add_namespace(h.role)?;
            // The switch's end is named after the host; the host's end is eth0, created in its namespace.
            ip(&[
                "-n", &sw, "link", "add", h.role, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ])?;
            ip(&["-n", &sw, "link", "set", h.role, "master", BRIDGE, "up"])?;
            let addr = format!("{}/{PREFIX_LEN}", h.addr);
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        }
        Ok(t)
    }

    fn add_namespace(&mut self, role: &str) -> Result<String> {
        let ns = self.ns(role);
        // Recorded first: a half-made namespace is deleted too.
        self.namespaces.push(ns.clone());
        ip(&["netns", "add", &ns])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace of `role`.
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    /// The prefix every namespace name starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The directory of the files and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a file into the directory; returns its path.
    pub fn write(&self, name: &str, text: &str) -> Result<PathBuf> {
        let p = self.dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        Ok(p)
    }

    /// Starts `program ARGS` in the namespace of `role` (`ip netns exec`), its output into `<what>.log`;
    /// returns its index for [`Topology::alive`] and [`Topology::log`].
    pub fn spawn(
        &mut self,
        role: &str,
        what: &str,
        program: &Path,
        args: &[&OsStr],
    ) -> Result<usize> {
        let log = self.dir.join(format!("{what}.log"));
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(role)])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {what}"))?;
        self.procs.push(Proc {
            what: what.to_string(),
            child,
            log,
        });
        Ok(self.procs.len() - 1)
    }

    /// An error when child `idx` exited, with the end of its log.
    pub fn alive(&mut self, idx: usize) -> Result<()> {
        let p = &mut self.procs[idx];
        if let Ok(Some(status)) = p.child.try_wait() {
            bail!(
                "{} exited ({status}); the end of its log:\n{}",
                p.what,
                tail(&p.log, 15)
            );
        }
        Ok(())
    }

    /// The log of child `idx` so far.
    pub fn log(&self, idx: usize) -> String {
        std::fs::read_to_string(&self.procs[idx].log).unwrap_or_default()
    }

    /// The end of every child's log (for an error report).
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for p in &self.procs {
            s.push_str(&format!("---- {} ({})\n", p.what, p.log.display()));
            s.push_str(&tail(&p.log, 12));
        }
        s
    }

    /// Whether the host `role` has `addr` on its eth0.
    pub fn holds(&self, role: &str, addr: Ipv4Addr) -> bool {
        let want = addr.to_string();
        ip(&[
            "-n",
            &self.ns(role),
            "-o",
            "-4",
            "addr",
            "show",
            "dev",
            "eth0",
        ])
        .is_ok_and(|s| {
            s.split_whitespace()
                .any(|w| w.split('/').next() == Some(want.as_str()))
        })
    }

    /// Sets the eth0 of host `role` up or down.
    pub fn set_eth0(&self, role: &str, up: bool) -> Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.ns(role), "link", "set", "eth0", state])?;
        Ok(())
    }

    /// Stops every child (SIGTERM by PID, SIGKILL after a grace period), kills what is left in the namespaces
    /// (scripts started by the children), deletes the namespaces and removes the directory. Runs once.
    pub fn teardown(&mut self) -> Teardown {
        let mut done = Teardown {
            processes: 0,
            namespaces: Vec::new(),
            left: Vec::new(),
        };
        if self.torn_down {
            return done;
        }
        self.torn_down = true;
        for p in &mut self.procs {
            if matches!(p.child.try_wait(), Ok(None)) {
                if let Ok(pid) = i32::try_from(p.child.id()) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
                }
                done.processes += 1;
            }
        }
        let end = Instant::now() + TERM_GRACE;
        for p in &mut self.procs {
            loop {
                match p.child.try_wait() {
                    Ok(None) if Instant::now() < end => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Ok(None) => {
                        // kill(2) by PID: the child is not reaped yet, so the PID is still its own.
                        let _ = p.child.kill();
                        let _ = p.child.wait();
                        break;
                    }
                    _ => break,
                }
            }
        }
        let me = std::process::id();
        // Hosts first, the switch last (its bridge is what the hosts' cables plug into).
        for ns in self.namespaces.iter().rev() {
            // Whatever still runs in the namespace was started by the children (a vrrp_script's shell).
            for pid in ip(&["netns", "pids", ns])
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
                .filter(|&p| u32::try_from(p).is_ok_and(|p| p != me))
            {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let mut result = ip(&["netns", "del", ns]);
            for _ in 0..10 {
                if result.is_ok() || !self.exists(ns) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
                result = ip(&["netns", "del", ns]);
            }
            match result {
                Err(e) if self.exists(ns) => done.left.push(format!("{ns}: {e:#}")),
                _ => done.namespaces.push(ns.clone()),
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        done
    }

    fn exists(&self, ns: &str) -> bool {
        Path::new("/run/netns").join(ns).exists()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let t = self.teardown();
        for l in t.left {
            eprintln!("fulcrum demo --cluster: could not delete namespace {l}");
        }
    }
}

/// The last `n` lines of a file, each indented.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut s = String::new();
    for l in &lines[lines.len().saturating_sub(n)..] {
        s.push_str("    ");
        s.push_str(l);
        s.push('\n');
    }
    s
}
