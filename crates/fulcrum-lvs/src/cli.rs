//! `ipvsadm` as a function: parse, load the table from the data plane, apply, print, store.

use crate::addr::{Names, SystemNames};
use crate::args::{self, ArgError, Invocation, ListWhat};
use crate::format;
use crate::model::Table;
use crate::plane::file::FilePlane;
use crate::plane::nft::NftPlane;
use crate::plane::{DataPlane, PlaneError};
use crate::usage;
use std::ffi::OsString;
use std::io::{BufRead, Write};

/// Environment variable selecting the file data plane (a path) instead of nftables.
pub const STATE_ENV: &str = "FULCRUM_LVS_STATE";

/// Exit code of errors ipvsadm gets back from the kernel ("No such service", ...).
const KERNEL_ERROR: i32 = 255;

/// Runs ipvsadm with `argv` (`argv[0]` is the program name) on the process's data plane
/// (nftables, or the file named by `FULCRUM_LVS_STATE`) and returns the exit code.
pub fn cli_main(
    argv: Vec<OsString>,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    if argv.get(1).is_some_and(|a| a == CONTROLLER_FLAG) {
        return controller_main(&argv[2..], stderr);
    }
    let mut plane: Box<dyn DataPlane> = match std::env::var_os(STATE_ENV) {
        Some(p) if !p.is_empty() => Box::new(FilePlane::new(p)),
        _ => Box::new(NftPlane::default()),
    };
    let names = SystemNames::load();
    run(argv, plane.as_mut(), &names, stdin, stdout, stderr)
}

/// Environment variable overriding the `--rate` sampling time, in milliseconds (100..=10000).
pub const RATE_ENV: &str = "FULCRUM_LVS_RATE_MS";

/// The non-standard option that runs the controller ([`crate::controller`]) in the foreground.
pub const CONTROLLER_FLAG: &str = "--controller";
/// Environment variable overriding the controller's interval, in milliseconds.
pub const CONTROLLER_INTERVAL_ENV: &str = "FULCRUM_LVS_CONTROLLER_INTERVAL_MS";

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

/// `ipvsadm --controller`: runs the controller until SIGTERM/SIGINT.
fn controller_main(rest: &[OsString], stderr: &mut dyn Write) -> i32 {
    if let Some(extra) = rest.first() {
        let _ = writeln!(
            stderr,
            "{CONTROLLER_FLAG} takes no other option (got {})",
            extra.to_string_lossy()
        );
        return 2;
    }
    if std::env::var_os(STATE_ENV).is_some_and(|p| !p.is_empty()) {
        let _ = writeln!(
            stderr,
            "{CONTROLLER_FLAG} needs the nftables data plane ({STATE_ENV} is set)"
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
    let _ = writeln!(
        stderr,
        "fulcrum ipvsadm controller: re-weighting lc/wlc/sed/nq/fo/ovf/lblc/lblcr and thresholds every {} ms until SIGTERM",
        interval.as_millis()
    );
    let _ = stderr.flush();
    match crate::controller::run_controller(&mut NftPlane::default(), &signals::STOP, interval) {
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
        plane,
        names,
        table: None,
        dirty: false,
        program,
        out: Vec::new(),
        err: Vec::new(),
    };
    let code = s.run_args(&args, Some(stdin));
    let code = match s.flush() {
        Ok(()) => code,
        Err(e) => {
            let _ = writeln!(s.err, "{e}");
            if code == 0 {
                KERNEL_ERROR
            } else {
                code
            }
        }
    };
    let _ = stdout.write_all(&s.out);
    let _ = stdout.flush();
    let _ = stderr.write_all(&s.err);
    code
}

struct Session<'a> {
    plane: &'a mut dyn DataPlane,
    names: &'a dyn Names,
    table: Option<Table>,
    dirty: bool,
    program: String,
    out: Vec<u8>,
    err: Vec<u8>,
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
        let t = self.table()?;
        match f(t) {
            Ok(()) => {
                self.dirty = true;
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
                self.mutate(|t| t.add_dest(&key, d))
            }
            Invocation::EditDest(key, d) => {
                let _span = tracing::debug_span!("virtual_service", service = %key).entered();
                self.mutate(|t| t.edit_dest(&key, d))
            }
            Invocation::DeleteDest(key, addr, port) => {
                self.mutate(|t| t.delete_dest(&key, addr, port))
            }
            Invocation::Zero(key) => self.mutate(|t| t.zero(key.as_ref())),
            Invocation::SetTimeouts(to) => self.mutate(|t| {
                t.set_timeouts(to);
                Ok(())
            }),
            Invocation::Daemon { .. } => Err(Stop::Msg(
                "Operation not supported: fulcrum has no connection sync daemon".into(),
                KERNEL_ERROR,
            )),
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
                    ListWhat::Daemons => String::new(),
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
