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
    let mut plane: Box<dyn DataPlane> = match std::env::var_os(STATE_ENV) {
        Some(p) if !p.is_empty() => Box::new(FilePlane::new(p)),
        _ => Box::new(NftPlane::default()),
    };
    let names = SystemNames::load();
    run(argv, plane.as_mut(), &names, stdin, stdout, stderr)
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
