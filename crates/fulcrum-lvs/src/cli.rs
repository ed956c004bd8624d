//! `ipvsadm` as a function: parse, load the table from the data plane, apply, print, store.

use crate::addr::{Names, SystemNames};
use crate::announce::daemon;
use crate::args::{self, ArgError, Invocation, ListWhat};
use crate::format;
use crate::model::{Forward, ServiceKey, Table, TunType};
use crate::plane::file::FilePlane;
use crate::plane::nft::NftPlane;
use crate::plane::{DataPlane, PlaneError};
use crate::usage;
use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::path::Path;

pub use crate::usage::{
    CONTROLLER_FLAG, CONTROLLER_INTERVAL_ENV, METRICS_FLAG, RATE_ENV, STATE_ENV,
};

/// Exit code of errors ipvsadm gets back from the kernel ("No such service", ...).
const KERNEL_ERROR: i32 = 255;

/// Runs ipvsadm with `argv` (`argv[0]` is the program name) on the process's data plane (XDP in front of
/// nftables, nftables alone with `FULCRUM_L4_PLANE=nftables`, or the file named by `FULCRUM_LVS_STATE`) and
/// returns the exit code.
pub fn cli_main(
    argv: Vec<OsString>,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    if let Err(e) = crate::plane::xdp::selection() {
        let _ = writeln!(stderr, "{e}");
        return 2;
    }
    if argv.get(1).is_some_and(|a| {
        let a = a.to_string_lossy();
        let name = a.split('=').next().unwrap_or_default();
        [CONTROLLER_FLAG, daemon::TABLE_FLAG, daemon::PROTOCOL_FLAG].contains(&name)
    }) {
        return daemon_main(&argv[1..], stderr);
    }
    if argv
        .get(1)
        .is_some_and(|a| a.to_string_lossy().split('=').next() == Some(METRICS_FLAG))
    {
        return metrics_main(&argv[1..], stderr);
    }
    let mut plane: Box<dyn DataPlane> = match std::env::var_os(STATE_ENV) {
        Some(p) if !p.is_empty() => Box::new(FilePlane::new(p)),
        _ if crate::plane::xdp::selected() => Box::new(crate::plane::xdp::XdpPlane::default()),
        _ => Box::new(NftPlane::default()),
    };
    if argv.get(1).is_some_and(|a| a == PLANE_FLAG) {
        return plane_main(plane.as_mut(), stdout, stderr);
    }
    let names = SystemNames::load();
    run(argv, plane.as_mut(), &names, stdin, stdout, stderr)
}

/// `fulcrum ipvsadm --plane`: which data plane serves each service.
pub const PLANE_FLAG: &str = "--plane";

fn plane_main(plane: &mut dyn DataPlane, stdout: &mut dyn Write, stderr: &mut dyn Write) -> i32 {
    use crate::plane::xdp::{pin_problem, selected};
    use crate::plane::xdp_probe::{probe, XdpProbe};
    let table = match plane.load() {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(stderr, "{e}");
            return 1;
        }
    };
    // A program pinned here proves XDP runs: the load test (seconds of verifier) is only for when none is.
    let (ids, unavailable) = match selected().then(probe) {
        None => (None, None),
        Some(XdpProbe::Pinned(ids)) => (Some(ids), pin_problem()),
        Some(XdpProbe::LoadTested(why)) => (Some(Vec::new()), why.or_else(pin_problem)),
    };
    let report = crate::plane::xdp::plane_report(&table, ids.as_deref(), unavailable.as_deref());
    let _ = stdout.write_all(report.as_bytes());
    0
}

/// Where the kernel's settings are read, as seen from the current network namespace.
pub const PROC_SYS: &str = "/proc/sys";

/// The one-line warning for a NAT (`-m`) real server at `addr` when packet forwarding for its address
/// family is off: `net.ipv4.ip_forward` or `net.ipv6.conf.all.forwarding` read under `proc_sys`
/// (normally [`PROC_SYS`]). `None` when forwarding is on or the setting cannot be read.
pub fn forwarding_warning(proc_sys: &Path, addr: IpAddr) -> Option<String> {
    let name = if addr.is_ipv4() {
        "net.ipv4.ip_forward"
    } else {
        "net.ipv6.conf.all.forwarding"
    };
    let value = std::fs::read_to_string(proc_sys.join(name.replace('.', "/"))).ok()?;
    if value.trim() != "0" {
        return None;
    }
    Some(format!(
        "Warning: {name} is 0: this host forwards no packets, so masquerading (-m) real servers on other \
         hosts get no traffic; enable it with: sysctl -w {name}=1"
    ))
}

mod signals {
    //! SIGTERM/SIGINT set a flag (the only thing the handler does, which is async-signal-safe).
    use std::sync::atomic::{AtomicBool, Ordering};

    pub static STOP: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(_: i32) {
        STOP.store(true, Ordering::SeqCst);
    }

    extern "C" {
        fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    }

    pub fn install() {
        const SIGINT: i32 = 2;
        const SIGTERM: i32 = 15;
        // SAFETY: signal(2) from the C library the standard library links; the handler only stores
        // into an atomic.
        unsafe {
            signal(SIGTERM, on_signal);
            signal(SIGINT, on_signal);
        }
    }
}

/// `ipvsadm --metrics ADDR:PORT`: serves `/metrics` from the table read once a second, until SIGTERM/SIGINT.
fn metrics_main(args: &[OsString], stderr: &mut dyn Write) -> i32 {
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let addr = match words.as_slice() {
        [one] if one.starts_with("--metrics=") => one["--metrics=".len()..].to_string(),
        [flag, addr] if flag == METRICS_FLAG => addr.clone(),
        _ => {
            let _ = writeln!(
                stderr,
                "{METRICS_FLAG} takes one address and port (e.g. {METRICS_FLAG} 127.0.0.1:9651) and nothing else"
            );
            return 2;
        }
    };
    let Ok(addr) = addr.parse::<std::net::SocketAddr>() else {
        let _ = writeln!(
            stderr,
            "{METRICS_FLAG}: '{addr}' is not an address and port (e.g. 127.0.0.1:9651 or [::1]:9651)"
        );
        return 2;
    };
    let mut plane: Box<dyn DataPlane> = match std::env::var_os(STATE_ENV) {
        Some(p) if !p.is_empty() => Box::new(FilePlane::new(p)),
        _ if crate::plane::xdp::selected() => Box::new(crate::plane::xdp::XdpPlane::default()),
        _ => Box::new(NftPlane::default()),
    };
    let server = match fulcrum_admin::metrics_server::MetricsServer::start(addr) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(stderr, "{METRICS_FLAG}: cannot listen on {addr}: {e}");
            return 1;
        }
    };
    signals::install();
    let _ = writeln!(
        stderr,
        "fulcrum ipvsadm metrics: serving http://{}/metrics, the table read every second, until SIGTERM",
        server.addr()
    );
    let _ = stderr.flush();
    let mut last_error = None;
    while !signals::STOP.load(std::sync::atomic::Ordering::SeqCst) {
        match plane.load() {
            Ok(t) => {
                server.publish(crate::metrics::render(&t));
                last_error = None;
            }
            // A store replacing the table at that moment: the page keeps the last reading; said once.
            Err(e) => {
                let msg = e.to_string();
                if last_error.as_deref() != Some(msg.as_str()) {
                    let _ = writeln!(stderr, "{METRICS_FLAG}: cannot read the table: {msg}");
                }
                last_error = Some(msg);
            }
        }
        for _ in 0..10 {
            if signals::STOP.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    0
}

/// `ipvsadm --controller` and/or `--announce-table N [--announce-protocol P]`: runs the controller, the
/// announcer or both until SIGTERM/SIGINT.
fn daemon_main(args: &[OsString], stderr: &mut dyn Write) -> i32 {
    let opts = match daemon::parse(args) {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(stderr, "{e}");
            return 2;
        }
    };
    if std::env::var_os(STATE_ENV).is_some_and(|p| !p.is_empty()) {
        let _ = writeln!(
            stderr,
            "{} needs the nftables data plane ({STATE_ENV} is set)",
            if opts.announce.is_some() {
                daemon::TABLE_FLAG
            } else {
                CONTROLLER_FLAG
            }
        );
        return 2;
    }
    let interval = std::env::var(CONTROLLER_INTERVAL_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| (10..=60_000).contains(ms))
        .map_or(
            crate::controller::DEFAULT_INTERVAL,
            std::time::Duration::from_millis,
        );
    signals::install();
    if opts.controller {
        let _ = writeln!(
            stderr,
            "fulcrum ipvsadm controller: re-weighting lc/wlc/sed/nq/fo/ovf/lblc/lblcr and thresholds every {} ms until SIGTERM",
            interval.as_millis()
        );
    }
    if let Some(a) = opts.announce {
        let _ = writeln!(
            stderr,
            "fulcrum ipvsadm announcer: routing every virtual address whose services each have a real server of weight above 0 in table {} (protocol {}), checked every {} ms until SIGTERM",
            a.table,
            a.protocol,
            interval.as_millis()
        );
    }
    let _ = stderr.flush();
    let mut plane = NftPlane::default();
    let result = match opts.announce {
        Some(a) => daemon::run(&mut plane, a, opts.controller, &signals::STOP, interval)
            .map_err(|e| e.to_string()),
        None => crate::controller::run_controller(&mut plane, &signals::STOP, interval)
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(stderr, "{e}");
            1
        }
    }
}

/// Runs ipvsadm with `argv` against `plane`, resolving names with `names`.
pub fn run(
    argv: Vec<OsString>,
    plane: &mut dyn DataPlane,
    names: &dyn Names,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    run_at(
        argv,
        plane,
        names,
        Path::new(PROC_SYS),
        stdin,
        stdout,
        stderr,
    )
}

/// [`run`] reading kernel settings under `proc_sys` instead of [`PROC_SYS`].
fn run_at(
    argv: Vec<OsString>,
    plane: &mut dyn DataPlane,
    names: &dyn Names,
    proc_sys: &Path,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    let mut it = argv.into_iter();
    let program = it
        .next()
        .map(|p| {
            p.to_string_lossy()
                .rsplit('/')
                .next()
                .unwrap_or("ipvsadm")
                .to_string()
        })
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "ipvsadm".into());
    let args: Vec<String> = it.map(|a| a.to_string_lossy().into_owned()).collect();
    let mut s = Session {
        lock: None,
        plane,
        names,
        table: None,
        dirty: false,
        changes: 0,
        program,
        out: Vec::new(),
        err: Vec::new(),
        proc_sys,
        forwarding_checked: [false; 2],
        tunnels_to_check: Vec::new(),
    };
    let code = s.run_args(&args, Some(stdin));
    let code = match s.flush() {
        Ok(()) => code,
        Err(e) => {
            let _ = writeln!(s.err, "{}", store_failure(&s.program, s.changes, &e));
            if code == 0 {
                KERNEL_ERROR
            } else {
                code
            }
        }
    };
    s.report_tunnels();
    for w in s.plane.take_warnings() {
        let _ = writeln!(s.err, "{}: warning: {w}", s.program);
    }
    let _ = stdout.write_all(&s.out);
    let _ = stdout.flush();
    let _ = stderr.write_all(&s.err);
    code
}

/// The message of a store that failed after `changes` changes were made to the table read: whether the
/// previous table is in place, and why.
fn store_failure(program: &str, changes: usize, e: &PlaneError) -> String {
    match e {
        PlaneError::NotApplied(cause) if changes > 1 => format!(
            "{program}: none of the {changes} changes was applied, the previous table is in place: {cause}"
        ),
        PlaneError::NotApplied(cause) => format!(
            "{program}: the change was not applied, the previous table is in place: {cause}"
        ),
        e => format!("{program}: {e}"),
    }
}

struct Session<'a> {
    plane: &'a mut dyn DataPlane,
    /// The table lock, taken at the first change and held until the session ends (after its store).
    lock: Option<crate::plane::lock::TableLock>,
    names: &'a dyn Names,
    table: Option<Table>,
    dirty: bool,
    /// Changes made to the table since it was read (what a failed store leaves out).
    changes: usize,
    program: String,
    out: Vec<u8>,
    err: Vec<u8>,
    /// Where [`forwarding_warning`] reads the kernel's settings.
    proc_sys: &'a Path,
    /// Whether forwarding was checked in this run, for IPv4 and IPv6 (one warning per family).
    forwarding_checked: [bool; 2],
    /// Tunnel real servers of a type only the XDP plane forwards, added or edited in this run: after the
    /// store, those of services XDP does not serve are reported.
    tunnels_to_check: Vec<(ServiceKey, TunType)>,
}

/// Why a command stopped.
enum Stop {
    /// Print this and exit with the code.
    Msg(String, i32),
}

impl From<ArgError> for Stop {
    fn from(e: ArgError) -> Self {
        let code = e.exit_code();
        Stop::Msg(e.to_string(), code)
    }
}

impl From<PlaneError> for Stop {
    fn from(e: PlaneError) -> Self {
        Stop::Msg(e.to_string(), 2)
    }
}

impl<'a> Session<'a> {
    fn table(&mut self) -> Result<&mut Table, Stop> {
        if self.table.is_none() {
            self.table = Some(self.plane.load()?);
        }
        self.table
            .as_mut()
            .ok_or_else(|| Stop::Msg("internal error".into(), 2))
    }

    /// Reads the table twice, [`crate::rate::SAMPLE`] apart (or `FULCRUM_LVS_RATE_MS`), and keeps the
    /// second reading with its rates.
    fn sample_rates(&mut self) -> Result<(), Stop> {
        let wait = std::env::var(RATE_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|ms| (100..=10_000).contains(ms))
            .map_or(crate::rate::SAMPLE, std::time::Duration::from_millis);
        let before = self.plane.load()?;
        let t0 = std::time::Instant::now();
        std::thread::sleep(wait);
        let mut after = self.plane.load()?;
        crate::rate::estimate(&before, &mut after, t0.elapsed());
        self.table = Some(after);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), PlaneError> {
        if self.dirty {
            if let Some(t) = &self.table {
                self.plane.store(t)?;
            }
            self.dirty = false;
        }
        Ok(())
    }

    /// After a NAT real server at `nat` was added or edited on a data plane that carries traffic: warns
    /// once per run and address family when the host does not forward that family.
    fn check_forwarding(&mut self, nat: Option<IpAddr>) {
        let Some(addr) = nat else { return };
        let family = usize::from(addr.is_ipv6());
        if self.forwarding_checked[family] || !self.plane.live() {
            return;
        }
        self.forwarding_checked[family] = true;
        if let Some(w) = forwarding_warning(self.proc_sys, addr) {
            let _ = writeln!(self.err, "{w}");
        }
    }

    /// After a tunnel real server of a type only the XDP plane forwards: checked after the store.
    fn check_tunnel(&mut self, key: ServiceKey, kind: Option<TunType>) {
        if let Some(k) = kind.filter(|_| self.plane.live()) {
            self.tunnels_to_check.push((key, k));
        }
    }

    /// Says which GUE/GRE real servers get no traffic: those of services the last store left to the
    /// nftables plane, which forwards IP-in-IP only.
    fn report_tunnels(&mut self) {
        for (key, kind) in std::mem::take(&mut self.tunnels_to_check) {
            let id = self
                .table
                .as_ref()
                .and_then(|t| t.service(&key))
                .map(|s| s.id);
            if id.is_some_and(|id| self.plane.serves_every_tunnel(id)) {
                continue;
            }
            let _ = writeln!(
                self.err,
                "{}: warning: --tun-type {} real servers of {key} are listed but get no traffic: the nftables plane forwards ipip tunnels only (see ipvsadm --plane)",
                self.program,
                kind.name()
            );
        }
    }

    fn run_args(&mut self, args: &[String], stdin: Option<&mut dyn BufRead>) -> i32 {
        match self.execute(args, stdin) {
            Ok(code) => code,
            Err(Stop::Msg(m, code)) => {
                let _ = writeln!(self.err, "{m}");
                code
            }
        }
    }

    fn mutate(
        &mut self,
        f: impl FnOnce(&mut Table) -> Result<(), crate::model::TableError>,
    ) -> Result<i32, Stop> {
        if self.lock.is_none() {
            if let Some(l) = self.plane.lock()? {
                // What was read before the lock (a listing earlier in this session) may be stale now.
                self.lock = Some(l);
                self.table = None;
            }
        }
        let t = self.table()?;
        match f(t) {
            Ok(()) => {
                self.dirty = true;
                self.changes += 1;
                Ok(0)
            }
            Err(e) => Err(Stop::Msg(e.to_string(), KERNEL_ERROR)),
        }
    }

    fn execute(&mut self, args: &[String], stdin: Option<&mut dyn BufRead>) -> Result<i32, Stop> {
        let inv = args::parse(args, self.names)?;
        match inv {
            Invocation::Help => {
                self.out
                    .extend_from_slice(usage::usage(&self.program).as_bytes());
                Ok(0)
            }
            Invocation::Version => {
                self.out
                    .extend_from_slice(usage::version_line(&self.program).as_bytes());
                Ok(0)
            }
            Invocation::AddService(spec) => {
                let _span = tracing::debug_span!("virtual_service", service = %spec.key).entered();
                self.mutate(|t| t.add_service(spec))
            }
            Invocation::EditService(spec) => {
                let _span = tracing::debug_span!("virtual_service", service = %spec.key).entered();
                self.mutate(|t| t.edit_service(spec))
            }
            Invocation::DeleteService(key) => self.mutate(|t| t.delete_service(&key)),
            Invocation::Clear => self.mutate(|t| {
                t.clear();
                Ok(())
            }),
            Invocation::AddDest(key, d) => {
                let _span = tracing::debug_span!("virtual_service", service = %key).entered();
                let nat = (d.forward == Forward::Masq).then_some(d.addr);
                let unforwarded = (d.forward == Forward::Tunnel && d.tunnel.kind != TunType::Ipip)
                    .then_some(d.tunnel.kind);
                let code = self.mutate(|t| t.add_dest(&key, d))?;
                self.check_forwarding(nat);
                self.check_tunnel(key, unforwarded);
                Ok(code)
            }
            Invocation::EditDest(key, d) => {
                let _span = tracing::debug_span!("virtual_service", service = %key).entered();
                let nat = (d.forward == Forward::Masq).then_some(d.addr);
                let unforwarded = (d.forward == Forward::Tunnel && d.tunnel.kind != TunType::Ipip)
                    .then_some(d.tunnel.kind);
                let code = self.mutate(|t| t.edit_dest(&key, d))?;
                self.check_forwarding(nat);
                self.check_tunnel(key, unforwarded);
                Ok(code)
            }
            Invocation::DeleteDest(key, addr, port) => {
                self.mutate(|t| t.delete_dest(&key, addr, port))
            }
            Invocation::Zero(key) => self.mutate(|t| t.zero(key.as_ref())),
            Invocation::SetTimeouts(to) => self.mutate(|t| {
                t.set_timeouts(to);
                Ok(())
            }),
            Invocation::Daemon { .. } if !self.plane.live() => Err(Stop::Msg(
                "Operation not supported: the sync daemon carries the kernel's connections; the dry-run \
                 table (FULCRUM_LVS_STATE) has none"
                    .into(),
                KERNEL_ERROR,
            )),
            Invocation::Daemon { start, spec } => {
                let r = if start {
                    if spec.interface.is_empty() {
                        Err(crate::sync::SyncError::NoDevice(
                            "no --mcast-interface given".into(),
                        ))
                    } else {
                        crate::sync::start(&spec)
                    }
                } else {
                    crate::sync::stop(spec.role)
                };
                r.map_err(|e| Stop::Msg(e.to_string(), KERNEL_ERROR))?;
                // The table is stored again: with a sync daemon, NAT services leave the XDP plane for nftables,
                // whose conntrack the daemon carries (and come back when none runs).
                if self.plane.live() {
                    self.mutate(|_| Ok(()))?;
                }
                Ok(0)
            }
            Invocation::Save { numeric } => {
                let names = self.names;
                let text = format::save(self.table()?, numeric, names);
                self.out.extend_from_slice(text.as_bytes());
                Ok(0)
            }
            Invocation::List(what, f) => {
                let names = self.names;
                if f.rate
                    && !self.dirty
                    && self.plane.live()
                    && matches!(what, ListWhat::All | ListWhat::Service(_))
                {
                    self.sample_rates()?;
                }
                let text = match what {
                    ListWhat::All => format::list_all(self.table()?, &f, names),
                    ListWhat::Service(k) => match self.table()?.service(&k) {
                        Some(s) => format::list_service(s, &f, names),
                        None => return Err(Stop::Msg("No such service".into(), 1)),
                    },
                    ListWhat::Timeouts => format::timeouts(&self.table()?.timeouts),
                    ListWhat::Daemons => crate::sync::running()
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    ListWhat::Connections => {
                        let conns = self.plane.connections()?;
                        format::connections(&conns, &f, names)
                    }
                };
                self.out.extend_from_slice(text.as_bytes());
                Ok(0)
            }
            Invocation::Restore => {
                let Some(input) = stdin else { return Ok(0) };
                let mut code = 0;
                let mut line = String::new();
                loop {
                    line.clear();
                    match input.read_line(&mut line) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) => return Err(Stop::Msg(format!("cannot read stdin: {e}"), 2)),
                    }
                    let Some(words) = args::split_restore_line(&line) else {
                        continue;
                    };
                    let c = self.run_args(&words, None);
                    if c == 2 {
                        // ipvsadm exits at the first usage error; what was applied before stays.
                        return Ok(2);
                    }
                    if c != 0 {
                        code = c;
                    }
                }
                Ok(code)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::NumericNames;
    use crate::format::ConnEntry;
    use std::path::PathBuf;

    /// A data plane in memory that says it carries traffic (as nftables does).
    struct Live(Table);

    impl DataPlane for Live {
        fn load(&mut self) -> Result<Table, PlaneError> {
            Ok(self.0.clone())
        }
        fn store(&mut self, table: &Table) -> Result<(), PlaneError> {
            self.0 = table.clone();
            Ok(())
        }
        fn connections(&mut self) -> Result<Vec<ConnEntry>, PlaneError> {
            Ok(Vec::new())
        }
        fn live(&self) -> bool {
            true
        }
    }

    /// A data plane whose stores fail as a refused nft transaction does (the table stays as it was).
    struct Refusing(Table);

    impl DataPlane for Refusing {
        fn load(&mut self) -> Result<Table, PlaneError> {
            Ok(self.0.clone())
        }
        fn store(&mut self, _: &Table) -> Result<(), PlaneError> {
            Err(PlaneError::NotApplied(Box::new(PlaneError::Command {
                program: "nft".into(),
                stderr: "Error: Could not process rule: Too many open files in system".into(),
            })))
        }
        fn connections(&mut self) -> Result<Vec<ConnEntry>, PlaneError> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn a_refused_store_exits_255_and_says_the_previous_table_stays() {
        let sys = proc_sys("refused", "1", "1");
        let mut plane = Refusing(Table::default());
        let (code, err) = ipvsadm(&mut plane, &sys, "-A -t 198.19.0.100:80", "");
        assert_eq!(code, 255);
        assert_eq!(
            err,
            "ipvsadm: the change was not applied, the previous table is in place: nft failed: \
             Error: Could not process rule: Too many open files in system\n"
        );
        let (code, err) = ipvsadm(
            &mut plane,
            &sys,
            "-R",
            "-A -t 198.19.0.100:80\n-a -t 198.19.0.100:80 -r 198.18.1.2 -m\n",
        );
        assert_eq!(code, 255);
        assert!(
            err.starts_with(
                "ipvsadm: none of the 2 changes was applied, the previous table is in place: nft failed: "
            ),
            "{err}"
        );
        // A listing stores nothing, so it does not fail.
        assert_eq!(ipvsadm(&mut plane, &sys, "-L -n", ""), (0, String::new()));
        let _ = std::fs::remove_dir_all(sys);
    }

    /// A fake `/proc/sys` with the two forwarding settings.
    fn proc_sys(tag: &str, v4: &str, v6: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("fulcrum-lvs-procsys-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("net/ipv4")).unwrap();
        std::fs::create_dir_all(dir.join("net/ipv6/conf/all")).unwrap();
        std::fs::write(dir.join("net/ipv4/ip_forward"), format!("{v4}\n")).unwrap();
        std::fs::write(dir.join("net/ipv6/conf/all/forwarding"), format!("{v6}\n")).unwrap();
        dir
    }

    /// Runs `ipvsadm <line>` with `stdin` on `plane`; returns (code, stderr).
    fn ipvsadm(plane: &mut dyn DataPlane, sys: &Path, line: &str, stdin: &str) -> (i32, String) {
        let mut argv: Vec<OsString> = vec!["ipvsadm".into()];
        argv.extend(line.split_whitespace().map(OsString::from));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_at(
            argv,
            plane,
            &NumericNames,
            sys,
            &mut stdin.as_bytes(),
            &mut out,
            &mut err,
        );
        (code, String::from_utf8_lossy(&err).into_owned())
    }

    #[test]
    fn forwarding_warning_names_the_family_sysctl() {
        let off = proc_sys("off", "0", "0");
        let v4: IpAddr = "198.18.1.2".parse().unwrap();
        let v6: IpAddr = "fd00:1::2".parse().unwrap();
        let w = forwarding_warning(&off, v4).unwrap_or_default();
        assert!(
            w.contains("net.ipv4.ip_forward is 0")
                && w.ends_with("sysctl -w net.ipv4.ip_forward=1")
                && !w.contains('\n'),
            "{w}"
        );
        let w = forwarding_warning(&off, v6).unwrap_or_default();
        assert!(
            w.contains("net.ipv6.conf.all.forwarding is 0")
                && w.ends_with("sysctl -w net.ipv6.conf.all.forwarding=1"),
            "{w}"
        );
        let on = proc_sys("on", "1", "1");
        assert_eq!(forwarding_warning(&on, v4), None);
        assert_eq!(forwarding_warning(&on, v6), None);
        // Unreadable (IPv6 disabled, no /proc): nothing is claimed.
        assert_eq!(forwarding_warning(&on.join("missing"), v4), None);
        let _ = std::fs::remove_dir_all(off);
        let _ = std::fs::remove_dir_all(on);
    }

    #[test]
    fn nat_servers_warn_once_per_family_when_forwarding_is_off() {
        let sys = proc_sys("session", "0", "1");
        let mut plane = Live(Table::default());
        assert_eq!(
            ipvsadm(&mut plane, &sys, "-A -t 198.19.0.100:80", ""),
            (0, String::new())
        );
        // Direct routing does not need forwarding.
        assert_eq!(
            ipvsadm(
                &mut plane,
                &sys,
                "-a -t 198.19.0.100:80 -r 198.18.1.3 -g",
                ""
            ),
            (0, String::new())
        );
        let (code, err) = ipvsadm(
            &mut plane,
            &sys,
            "-a -t 198.19.0.100:80 -r 198.18.1.2:8080 -m",
            "",
        );
        assert_eq!(code, 0);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("sysctl -w net.ipv4.ip_forward=1"), "{err}");
        let (code, err) = ipvsadm(
            &mut plane,
            &sys,
            "-e -t 198.19.0.100:80 -r 198.18.1.2:8080 -m -w 2",
            "",
        );
        assert_eq!(code, 0);
        assert!(err.contains("net.ipv4.ip_forward"), "{err}");
        // A failed command warns about nothing.
        let (code, err) = ipvsadm(
            &mut plane,
            &sys,
            "-a -t 198.19.0.100:80 -r 198.18.1.2:8080 -m",
            "",
        );
        assert_eq!(code, 255);
        assert!(!err.contains("forward"), "{err}");
        // A restore warns once for IPv4, and not for IPv6, whose forwarding is on.
        let (code, err) = ipvsadm(
            &mut plane,
            &sys,
            "-R",
            "-C\n-A -t 198.19.0.100:80\n-a -t 198.19.0.100:80 -r 198.18.1.2:8080 -m\n\
             -a -t 198.19.0.100:80 -r 198.18.1.3:8080 -m\n-A -t [fd00:19::100]:80\n\
             -a -t [fd00:19::100]:80 -r [fd00:1::2]:8080 -m\n",
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(err.matches("Warning:").count(), 1, "{err}");
        assert!(err.contains("net.ipv4.ip_forward"), "{err}");
        // The file data plane carries no traffic: no warning.
        let mut file = crate::plane::file::FilePlane::new(sys.join("table"));
        assert_eq!(
            ipvsadm(&mut file, &sys, "-A -t 198.19.0.100:80", ""),
            (0, String::new())
        );
        assert_eq!(
            ipvsadm(
                &mut file,
                &sys,
                "-a -t 198.19.0.100:80 -r 198.18.1.2:8080 -m",
                ""
            ),
            (0, String::new())
        );
        let _ = std::fs::remove_dir_all(sys);
    }
}
