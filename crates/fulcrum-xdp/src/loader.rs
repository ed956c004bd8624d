//! Loading the XDP program with aya, filling its maps, attaching it, and reading it back.

use crate::layout::{
    cfg_flags, sched, Config, Conns, Counters, Dest, DevMac, Flow, FlowKey, Locality, LocalityKey,
    NatRev, Persist, PersistKey, SvcInfo, SvcKey, Sweeper, DEV_SLOTS, MAX_DESTS, TAB_SIZE,
};
use crate::plan::Plan;
use crate::XdpError;
use aya::maps::{Array, HashMap, Map, MapData, PerCpuArray, PerCpuValues};
use aya::programs::links::FdLink;
use aya::programs::{Xdp as XdpProg, XdpFlags};
use aya::Ebpf;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

/// An XDP verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `XDP_ABORTED`.
    Aborted,
    /// `XDP_DROP`.
    Drop,
    /// `XDP_PASS`: the packet goes on to the stack.
    Pass,
    /// `XDP_TX`: sent back out of the device it came in on.
    Tx,
    /// `XDP_REDIRECT`: sent out of another device.
    Redirect,
    /// Anything else.
    Other(u32),
}

impl From<u32> for Verdict {
    fn from(v: u32) -> Self {
        match v {
            0 => Verdict::Aborted,
            1 => Verdict::Drop,
            2 => Verdict::Pass,
            3 => Verdict::Tx,
            4 => Verdict::Redirect,
            o => Verdict::Other(o),
        }
    }
}

/// An error with the errors that caused it (aya's say which call failed, their causes why).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// The program's name in the object (its section's function).
pub const PROGRAM: &str = "fulcrum_xdp";

#[cfg(fulcrum_xdp_obj)]
fn object() -> Result<&'static [u8], XdpError> {
    static OBJ: &[u8] = aya::include_bytes_aligned!(env!("FULCRUM_XDP_OBJ"));
    Ok(OBJ)
}

#[cfg(not(fulcrum_xdp_obj))]
fn object() -> Result<&'static [u8], XdpError> {
    Err(XdpError::Unavailable(
        env!("FULCRUM_XDP_MISSING").to_string(),
    ))
}

/// How many times a load the verifier gave up on because a signal arrived is tried again.
const INTERRUPTED_TRIES: usize = 5;

/// Loads the program with this thread's signals blocked, so the verifier, which gives up with `EAGAIN`
/// when a signal is pending for the loading thread, is not cut short by one meant for the process (a
/// checker's child exiting sends SIGCHLD; the signal goes to another thread, or waits until the load is
/// over). A load cut short anyway is tried again, as libbpf does. A refusal says the kernel's error and
/// the verifier's last lines (its whole log is at debug level).
fn load_uninterrupted(prog: &mut XdpProg) -> Result<(), XdpError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let r = with_signals_blocked(|| prog.load());
        let Err(e) = r else { return Ok(()) };
        if let aya::programs::ProgramError::LoadError {
            io_error,
            verifier_log,
        } = &e
        {
            let transient = matches!(io_error.raw_os_error(), Some(libc::EAGAIN | libc::EINTR));
            if transient && attempt < INTERRUPTED_TRIES {
                tracing::debug!("the program's load was interrupted ({io_error}); trying again");
                continue;
            }
            let log = verifier_log.to_string();
            tracing::debug!("verifier log of the refused program:\n{log}");
            return Err(XdpError::Unavailable(refusal(io_error, &log)));
        }
        return Err(XdpError::Unavailable(format!(
            "the kernel refused the program: {}",
            with_causes(&e)
        )));
    }
}

/// What a refused load says: the kernel's error and the verifier's last three lines.
fn refusal(io_error: &std::io::Error, log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
    if tail.is_empty() {
        format!("the kernel refused the program: {io_error}")
    } else {
        format!("the kernel refused the program: {io_error}; the verifier's last lines: {tail}")
    }
}

/// Runs `f` with every signal that can be blocked blocked in this thread, then restores the mask.
fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigfillset and pthread_sigmask only write the sigset_t values given, which live on this
    // stack frame; the previous mask is put back before returning.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let blocked = libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old) == 0;
        let r = f();
        if blocked {
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
        r
    }
}

/// IPVS's overload flag of a real server with counts `c` and thresholds of `d` (the program's rule: set at the
/// upper threshold, kept until below the lower one, three quarters of the upper without one).
fn overloaded(c: &Conns, d: &Dest) -> bool {
    if d.u_thresh == 0 {
        return false;
    }
    let total = (c.active + c.inactive).max(0);
    if c.overload != 0 {
        let below = if d.l_thresh != 0 {
            total < i64::from(d.l_thresh)
        } else {
            total * 4 < i64::from(d.u_thresh) * 3
        };
        !below
    } else {
        total >= i64::from(d.u_thresh)
    }
}

/// Wraps an opened map as its kind.
type MapKind = fn(MapData) -> Map;

/// The maps of the program, with the kind of each.
const MAPS: [(&str, MapKind); 17] = [
    ("services", Map::HashMap),
    ("dests", Map::Array),
    ("sched_tab", Map::Array),
    ("rr_pos", Map::Array),
    ("dest_conns", Map::Array),
    ("flows", Map::LruHashMap),
    ("persist", Map::LruHashMap),
    ("persist_mask", Map::Array),
    ("locality", Map::LruHashMap),
    ("nat_rev", Map::LruHashMap),
    ("dev_macs", Map::HashMap),
    ("dev_mac_tab", Map::Array),
    ("svc_stats", Map::PerCpuArray),
    ("dest_stats", Map::PerCpuArray),
    ("config", Map::Array),
    ("sweep", Map::Array),
    ("build", Map::Array),
];

/// This build's identity: FNV-1a of the program's object, so any change to the program or its map layouts
/// gives another value. Written into map `build` by [`Xdp::load`], compared by [`Xdp::open_pinned`].
/// Hashed once per process (every command that reads the pinned maps asks for it).
fn build_id(obj: &[u8]) -> u64 {
    static ID: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *ID.get_or_init(|| {
        obj.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
    })
}

/// The program (when loaded by this process) and its maps.
pub struct Xdp {
    ebpf: Option<Ebpf>,
    maps: std::collections::HashMap<&'static str, Map>,
}

impl std::fmt::Debug for Xdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xdp")
            .field("program", &self.ebpf.is_some())
            .finish()
    }
}

fn sum(values: &PerCpuValues<Counters>) -> Counters {
    values.iter().fold(Counters::default(), |a, c| Counters {
        conns: a.conns + c.conns,
        packets: a.packets + c.packets,
        bytes: a.bytes + c.bytes,
        out_packets: a.out_packets + c.out_packets,
        out_bytes: a.out_bytes + c.out_bytes,
    })
}

impl Xdp {
    /// Loads the program into the kernel (not attached anywhere yet).
    pub fn load() -> Result<Xdp, XdpError> {
        let obj = object()?;
        let mut ebpf = Ebpf::load(obj)
            .map_err(|e| XdpError::Unavailable(format!("loading the object: {e}")))?;
        let prog: &mut XdpProg = ebpf
            .program_mut(PROGRAM)
            .ok_or_else(|| XdpError::Unavailable(format!("no program {PROGRAM} in the object")))?
            .try_into()
            .map_err(|e| XdpError::Unavailable(format!("{PROGRAM}: {e}")))?;
        load_uninterrupted(prog)?;
        let mut maps = std::collections::HashMap::new();
        for (name, _) in MAPS {
            let m = ebpf
                .take_map(name)
                .ok_or_else(|| XdpError::Unavailable(format!("no map {name} in the object")))?;
            maps.insert(name, m);
        }
        let mut x = Xdp {
            ebpf: Some(ebpf),
            maps,
        };
        {
            let mut b: Array<&mut MapData, u64> =
                Array::try_from(x.map_mut("build")?).map_err(|e| XdpError::bpf("map build", e))?;
            b.set(0, build_id(obj), 0)
                .map_err(|e| XdpError::bpf("build", e))?;
        }
        Ok(x)
    }

    /// Opens the maps pinned under `dir` by [`Xdp::pin`] in an earlier process (no program: the pinned
    /// links keep the attached program running with these maps). [`XdpError::OtherBuild`] when another
    /// build of the program pinned them (map `build` missing or different).
    pub fn open_pinned(dir: &Path) -> Result<Xdp, XdpError> {
        let ours = build_id(object()?);
        let theirs = MapData::from_pin(dir.join("build"))
            .ok()
            .and_then(|d| Array::<MapData, u64>::try_from(Map::Array(d)).ok())
            .and_then(|a| a.get(&0, 0).ok());
        match theirs {
            Some(t) if t == ours => {}
            Some(t) => {
                return Err(XdpError::OtherBuild(format!(
                    "build {t:016x}, this one is {ours:016x}"
                )))
            }
            None => return Err(XdpError::OtherBuild("pinned without a build mark".into())),
        }
        let mut maps = std::collections::HashMap::new();
        for (name, kind) in MAPS {
            let p = dir.join(name);
            let data = MapData::from_pin(&p)
                .map_err(|e| XdpError::bpf(format!("opening {}", p.display()), e))?;
            maps.insert(name, kind(data));
        }
        Ok(Xdp { ebpf: None, maps })
    }

    /// Pins the maps under `dir` (a directory on a bpf file system).
    pub fn pin(&self, dir: &Path) -> Result<(), XdpError> {
        for (name, m) in &self.maps {
            let p = dir.join(name);
            let data = match m {
                Map::HashMap(d) | Map::Array(d) | Map::LruHashMap(d) | Map::PerCpuArray(d) => d,
                _ => return Err(XdpError::bpf(format!("map {name}"), "unexpected kind")),
            };
            data.pin(&p)
                .map_err(|e| XdpError::bpf(format!("pinning {}", p.display()), e))?;
        }
        Ok(())
    }

    fn map_mut(&mut self, name: &str) -> Result<&mut Map, XdpError> {
        self.maps
            .get_mut(name)
            .ok_or_else(|| XdpError::bpf(format!("map {name}"), "missing"))
    }

    fn map(&self, name: &str) -> Result<&Map, XdpError> {
        self.maps
            .get(name)
            .ok_or_else(|| XdpError::bpf(format!("map {name}"), "missing"))
    }

    fn program_mut(&mut self) -> Result<&mut XdpProg, XdpError> {
        self.ebpf
            .as_mut()
            .and_then(|e| e.program_mut(PROGRAM))
            .ok_or_else(|| XdpError::bpf("program", "not loaded by this process"))?
            .try_into()
            .map_err(|e| XdpError::bpf("program", e))
    }

    /// Writes `plan` into the maps: the configuration, real servers and tables first, then the service
    /// entries, then the services that left are removed (their flows then miss the service and go to the
    /// stack). The NAT flag ([`cfg_flags::NAT`]) is on from the first write when the plan has a NAT server,
    /// so that the program looks for replies before the first flow is translated; when the plan has none
    /// it stays as it was until the services that left are removed, and goes last.
    pub fn apply(&mut self, plan: &Plan) -> Result<(), XdpError> {
        let was_nat = self.config()?.flags & cfg_flags::NAT;
        self.set_config(Config {
            flags: plan.config.flags | was_nat,
            ..plan.config
        })?;
        for s in &plan.services {
            let base = s.info.id * MAX_DESTS;
            {
                let mut dests: Array<&mut MapData, Dest> = Array::try_from(self.map_mut("dests")?)
                    .map_err(|e| XdpError::bpf("map dests", e))?;
                // slots another real server takes (or leaves) start with no live counts: the flows
                // counted there were the old server's, and the program no longer matches them
                let mut renewed = Vec::new();
                for i in 0..MAX_DESTS {
                    let new = s.dests.get(i as usize).map_or(0, |d| d.tag);
                    let old = dests.get(&(base + i), 0).map_or(0, |d| d.tag);
                    if old != new {
                        renewed.push(base + i);
                    }
                }
                for (i, d) in s.dests.iter().enumerate() {
                    dests
                        .set(base + i as u32, d, 0)
                        .map_err(|e| XdpError::bpf("dests", e))?;
                }
                for i in s.dests.len() as u32..MAX_DESTS {
                    dests
                        .set(base + i, Dest::default(), 0)
                        .map_err(|e| XdpError::bpf("dests", e))?;
                }
                let mut conns: Array<&mut MapData, Conns> =
                    Array::try_from(self.map_mut("dest_conns")?)
                        .map_err(|e| XdpError::bpf("map dest_conns", e))?;
                for idx in &renewed {
                    conns
                        .set(*idx, Conns::default(), 0)
                        .map_err(|e| XdpError::bpf("dest_conns", e))?;
                }
                // New thresholds take effect at once on the counts the servers have, not at their next
                // change (a packet moving a count between the read and the write redoes the flag itself).
                for (i, d) in s.dests.iter().enumerate() {
                    let idx = base + i as u32;
                    let Ok(mut c) = conns.get(&idx, 0) else {
                        continue;
                    };
                    let flag = u32::from(overloaded(&c, d));
                    if flag != c.overload {
                        c.overload = flag;
                        conns
                            .set(idx, c, 0)
                            .map_err(|e| XdpError::bpf("dest_conns", e))?;
                    }
                }
            }
            {
                let mut masks: Array<&mut MapData, [u8; 16]> =
                    Array::try_from(self.map_mut("persist_mask")?)
                        .map_err(|e| XdpError::bpf("map persist_mask", e))?;
                masks
                    .set(s.info.id, s.persist_mask, 0)
                    .map_err(|e| XdpError::bpf("persist_mask", e))?;
            }
            {
                let mut tab: Array<&mut MapData, u32> = Array::try_from(self.map_mut("sched_tab")?)
                    .map_err(|e| XdpError::bpf("map sched_tab", e))?;
                let tbase = s.info.id * TAB_SIZE;
                for (i, d) in s.table.iter().enumerate() {
                    tab.set(tbase + i as u32, d, 0)
                        .map_err(|e| XdpError::bpf("sched_tab", e))?;
                }
            }
        }
        let mut services: HashMap<&mut MapData, SvcKey, SvcInfo> =
            HashMap::try_from(self.map_mut("services")?)
                .map_err(|e| XdpError::bpf("map services", e))?;
        for s in &plan.services {
            services
                .insert(s.key, s.info, 0)
                .map_err(|e| XdpError::bpf("services", e))?;
        }
        let keep: std::collections::HashSet<SvcKey> = plan.services.iter().map(|s| s.key).collect();
        let gone: Vec<SvcKey> = services
            .keys()
            .filter_map(Result::ok)
            .filter(|k| !keep.contains(k))
            .collect();
        for k in gone {
            services
                .remove(&k)
                .map_err(|e| XdpError::bpf("services", e))?;
        }
        // A service that is no longer lblc/lblcr loses its locality table, as IPVS frees it with the
        // scheduler (a service id taken again starts afresh).
        let local: std::collections::HashSet<u32> = plan
            .services
            .iter()
            .filter(|s| matches!(s.info.sched, sched::LBLC | sched::LBLCR))
            .map(|s| s.info.id)
            .collect();
        let mut loc: HashMap<&mut MapData, LocalityKey, Locality> =
            HashMap::try_from(self.map_mut("locality")?)
                .map_err(|e| XdpError::bpf("map locality", e))?;
        let stale: Vec<LocalityKey> = loc
            .keys()
            .filter_map(Result::ok)
            .filter(|k| !local.contains(&k.sid))
            .collect();
        for k in stale {
            // (the program or the sweeper may have removed it meanwhile)
            let _ = loc.remove(&k);
        }
        if was_nat != 0 && plan.config.flags & cfg_flags::NAT == 0 {
            // no NAT server is left in the maps: replies and ICMP errors go to the stack unlooked-at
            self.set_config(plan.config)?;
        }
        Ok(())
    }

    /// The program's configuration (map `config`).
    pub fn config(&self) -> Result<Config, XdpError> {
        let m: Array<&MapData, Config> =
            Array::try_from(self.map("config")?).map_err(|e| XdpError::bpf("map config", e))?;
        m.get(&0, 0).map_err(|e| XdpError::bpf("config", e))
    }

    fn set_config(&mut self, c: Config) -> Result<(), XdpError> {
        let mut m: Array<&mut MapData, Config> =
            Array::try_from(self.map_mut("config")?).map_err(|e| XdpError::bpf("map config", e))?;
        m.set(0, c, 0).map_err(|e| XdpError::bpf("config", e))
    }

    /// Attaches the program to device `ifname` (native mode, or generic mode with `skb_mode`); with
    /// `pin`, the link is pinned there so that the program stays attached after this process exits
    /// (removing the pin detaches it).
    pub fn attach(
        &mut self,
        ifname: &str,
        skb_mode: bool,
        pin: Option<&Path>,
    ) -> Result<(), XdpError> {
        let prog = self.program_mut()?;
        let flags = if skb_mode {
            XdpFlags::SKB_MODE
        } else {
            XdpFlags::default()
        };
        let id = prog
            .attach(ifname, flags)
            .map_err(|e| XdpError::bpf(format!("attaching to {ifname}"), with_causes(&e)))?;
        if let Some(p) = pin {
            let link = prog.take_link(id).map_err(|e| XdpError::bpf("link", e))?;
            let fd: FdLink = link
                .try_into()
                .map_err(|e| XdpError::bpf(format!("link of {ifname}"), e))?;
            fd.pin(p)
                .map_err(|e| XdpError::bpf(format!("pinning {}", p.display()), e))?;
        }
        Ok(())
    }

    /// Runs one frame through the program with `BPF_PROG_TEST_RUN`: the verdict and the frame as it
    /// leaves (nothing is sent).
    pub fn test_run(&self, frame: &[u8]) -> Result<(Verdict, Vec<u8>), XdpError> {
        let run = self.run(frame, 1)?;
        Ok((run.verdict, run.frame))
    }

    /// Runs one frame through the program `repeat` times in a row with `BPF_PROG_TEST_RUN` (the kernel
    /// runs it on the same buffer: a program that rewrites the frame sees its own output from the second
    /// run on): the last run's verdict and the kernel's average time per run, in nanoseconds (the
    /// attribute's `duration`: the kernel's clock around the runs, divided by `repeat`; a `repeat` of 0
    /// counts as 1, as the kernel takes it).
    pub fn time_run(&self, frame: &[u8], repeat: u32) -> Result<(Verdict, u32), XdpError> {
        let run = self.run(frame, repeat.max(1))?;
        Ok((run.verdict, run.duration_ns))
    }

    /// [`Xdp::test_run`] as if the frame came in on device `ifindex` (of this thread's network namespace;
    /// `BPF_PROG_TEST_RUN` takes the context's `ingress_ifindex`), instead of the loopback device.
    pub fn test_run_on(&self, ifindex: u32, frame: &[u8]) -> Result<(Verdict, Vec<u8>), XdpError> {
        let run = self.run_ctx(frame, 1, Some(ifindex))?;
        Ok((run.verdict, run.frame))
    }

    fn run(&self, frame: &[u8], repeat: u32) -> Result<TestRun, XdpError> {
        self.run_ctx(frame, repeat, None)
    }

    fn run_ctx(
        &self,
        frame: &[u8],
        repeat: u32,
        ifindex: Option<u32>,
    ) -> Result<TestRun, XdpError> {
        let prog = self
            .ebpf
            .as_ref()
            .and_then(|e| e.program(PROGRAM))
            .ok_or_else(|| XdpError::bpf("program", "not loaded by this process"))?;
        let fd = prog.fd().map_err(|e| XdpError::bpf("program fd", e))?;
        let mut out = vec![0u8; frame.len() + 512];
        let mut attr = TestRunAttr {
            prog_fd: fd.as_fd().as_raw_fd() as u32,
            data_size_in: frame.len() as u32,
            data_size_out: out.len() as u32,
            data_in: frame.as_ptr() as u64,
            data_out: out.as_mut_ptr() as u64,
            repeat,
            ..Default::default()
        };
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
        let ctx: [u32; 6] = [0, frame.len() as u32, 0, ifindex.unwrap_or(0), 0, 0];
        if ifindex.is_some() {
            attr.ctx_in = ctx.as_ptr() as u64;
            attr.ctx_size_in = std::mem::size_of_val(&ctx) as u32;
        }
        // SAFETY: `attr` is BPF_PROG_TEST_RUN's attribute block; the buffers it points to (`ctx` among them)
        // outlive the call and their sizes are given.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_TEST_RUN,
                &mut attr as *mut TestRunAttr,
                std::mem::size_of::<TestRunAttr>() as u32,
            )
        };
        if rc < 0 {
            return Err(XdpError::bpf(
                "BPF_PROG_TEST_RUN",
                std::io::Error::last_os_error(),
            ));
        }
        out.truncate((attr.data_size_out as usize).min(out.len()));
        Ok(TestRun {
            verdict: Verdict::from(attr.retval),
            frame: out,
            duration_ns: attr.duration,
        })
    }

    /// Makes `devs` (device index, MAC) the devices whose frames the program takes: a frame to another MAC
    /// on one of them goes to the stack. Devices not listed take every frame. Every device goes into the hash
    /// `dev_macs` (the list of what is stored), and those below [`DEV_SLOTS`] into the array `dev_mac_tab`
    /// too, which is where the program looks for them.
    pub fn set_device_macs(&mut self, devs: &[(u32, [u8; 6])]) -> Result<(), XdpError> {
        let stale: Vec<u32> = {
            let m: HashMap<&MapData, u32, DevMac> = HashMap::try_from(self.map("dev_macs")?)
                .map_err(|e| XdpError::bpf("map dev_macs", e))?;
            m.keys()
                .filter_map(Result::ok)
                .filter(|k| !devs.iter().any(|(i, _)| i == k))
                .collect()
        };
        {
            let mut tab: Array<&mut MapData, DevMac> =
                Array::try_from(self.map_mut("dev_mac_tab")?)
                    .map_err(|e| XdpError::bpf("map dev_mac_tab", e))?;
            for k in stale.iter().filter(|k| **k < DEV_SLOTS) {
                tab.set(*k, DevMac::default(), 0)
                    .map_err(|e| XdpError::bpf("dev_mac_tab", e))?;
            }
        }
        let mut m: HashMap<&mut MapData, u32, DevMac> =
            HashMap::try_from(self.map_mut("dev_macs")?)
                .map_err(|e| XdpError::bpf("map dev_macs", e))?;
        for k in &stale {
            let _ = m.remove(k);
        }
        let entry = |mac: &[u8; 6]| DevMac {
            mac: *mac,
            set: 1,
            pad: 0,
        };
        for (i, mac) in devs {
            m.insert(i, entry(mac), 0)
                .map_err(|e| XdpError::bpf("dev_macs", e))?;
        }
        let mut tab: Array<&mut MapData, DevMac> = Array::try_from(self.map_mut("dev_mac_tab")?)
            .map_err(|e| XdpError::bpf("map dev_mac_tab", e))?;
        for (i, mac) in devs.iter().filter(|(i, _)| *i < DEV_SLOTS) {
            tab.set(*i, entry(mac), 0)
                .map_err(|e| XdpError::bpf("dev_mac_tab", e))?;
        }
        Ok(())
    }

    /// Counters of service `sid`, summed over the CPUs.
    pub fn service_counters(&self, sid: u32) -> Result<Counters, XdpError> {
        let m: PerCpuArray<&MapData, Counters> = PerCpuArray::try_from(self.map("svc_stats")?)
            .map_err(|e| XdpError::bpf("map svc_stats", e))?;
        Ok(sum(&m
            .get(&sid, 0)
            .map_err(|e| XdpError::bpf("svc_stats", e))?))
    }

    /// Counters of real server `didx` of service `sid`, summed over the CPUs.
    pub fn dest_counters(&self, sid: u32, didx: u32) -> Result<Counters, XdpError> {
        let m: PerCpuArray<&MapData, Counters> = PerCpuArray::try_from(self.map("dest_stats")?)
            .map_err(|e| XdpError::bpf("map dest_stats", e))?;
        Ok(sum(&m
            .get(&(sid * MAX_DESTS + didx), 0)
            .map_err(|e| XdpError::bpf("dest_stats", e))?))
    }

    /// Sets the counters of service `sid` (with `didx`: of that real server) to zero on every CPU.
    pub fn zero_counters(&mut self, sid: u32, didx: Option<u32>) -> Result<(), XdpError> {
        let (name, idx) = match didx {
            None => ("svc_stats", sid),
            Some(d) => ("dest_stats", sid * MAX_DESTS + d),
        };
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| XdpError::bpf("possible CPUs", e))?;
        let zeros = PerCpuValues::try_from(vec![Counters::default(); cpus])
            .map_err(|e| XdpError::bpf("per-CPU values", e))?;
        let mut m: PerCpuArray<&mut MapData, Counters> = PerCpuArray::try_from(self.map_mut(name)?)
            .map_err(|e| XdpError::bpf(format!("map {name}"), e))?;
        m.set(idx, zeros, 0)
            .map_err(|e| XdpError::bpf(name.to_string(), e))
    }

    /// Live connection counts of real server `didx` of service `sid`.
    pub fn dest_conns(&self, sid: u32, didx: u32) -> Result<Conns, XdpError> {
        let m: Array<&MapData, Conns> = Array::try_from(self.map("dest_conns")?)
            .map_err(|e| XdpError::bpf("map dest_conns", e))?;
        m.get(&(sid * MAX_DESTS + didx), 0)
            .map_err(|e| XdpError::bpf("dest_conns", e))
    }

    /// The services in the map (key and value).
    pub fn services(&self) -> Result<Vec<(SvcKey, SvcInfo)>, XdpError> {
        let m: HashMap<&MapData, SvcKey, SvcInfo> = HashMap::try_from(self.map("services")?)
            .map_err(|e| XdpError::bpf("map services", e))?;
        Ok(m.iter().filter_map(Result::ok).collect())
    }

    /// The flow table's entries.
    pub fn flows(&self) -> Result<Vec<(FlowKey, Flow)>, XdpError> {
        let m: HashMap<&MapData, FlowKey, Flow> =
            HashMap::try_from(self.map("flows")?).map_err(|e| XdpError::bpf("map flows", e))?;
        Ok(m.iter().filter_map(Result::ok).collect())
    }

    /// The persistence entries (IPVS's templates).
    pub fn persistence(&self) -> Result<Vec<(PersistKey, Persist)>, XdpError> {
        let m: HashMap<&MapData, PersistKey, Persist> =
            HashMap::try_from(self.map("persist")?).map_err(|e| XdpError::bpf("map persist", e))?;
        Ok(m.iter().filter_map(Result::ok).collect())
    }
}

impl Xdp {
    /// The flow sweeper's state: how many sweeps it did and how long the last one took.
    pub fn sweeper(&self) -> Result<Sweeper, XdpError> {
        let m: Array<&MapData, Sweeper> =
            Array::try_from(self.map("sweep")?).map_err(|e| XdpError::bpf("map sweep", e))?;
        m.get(&0, 0).map_err(|e| XdpError::bpf("sweep", e))
    }

    /// NAT's reverse entries: the reply direction's key (real server -> client) and its forward flow.
    pub fn nat_reverse(&self) -> Result<Vec<(FlowKey, NatRev)>, XdpError> {
        let m: HashMap<&MapData, FlowKey, NatRev> =
            HashMap::try_from(self.map("nat_rev")?).map_err(|e| XdpError::bpf("map nat_rev", e))?;
        Ok(m.iter().filter_map(Result::ok).collect())
    }

    /// The locality entries of lblc and lblcr services.
    pub fn locality(&self) -> Result<Vec<(LocalityKey, Locality)>, XdpError> {
        let m: HashMap<&MapData, LocalityKey, Locality> = HashMap::try_from(self.map("locality")?)
            .map_err(|e| XdpError::bpf("map locality", e))?;
        Ok(m.iter().filter_map(Result::ok).collect())
    }
}

const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// What one `BPF_PROG_TEST_RUN` call gave back.
struct TestRun {
    verdict: Verdict,
    frame: Vec<u8>,
    /// The kernel's average time per run, in nanoseconds.
    duration_ns: u32,
}

/// `union bpf_attr` as BPF_PROG_TEST_RUN reads it.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    pad: u32,
}
