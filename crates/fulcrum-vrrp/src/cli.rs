//! keepalived's command line: `-f FILE -n -l -D -t -e -p PIDFILE -P` (and their long forms).

use std::ffi::OsString;
use std::path::PathBuf;

/// Default configuration file, as keepalived's.
pub const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

/// Parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliOptions {
    /// `-f FILE` / `--use-file=FILE`.
    pub config: PathBuf,
    /// `-n` / `--dont-fork`: stay in the foreground.
    pub dont_fork: bool,
    /// `-l` / `--log-console`.
    pub log_console: bool,
    /// `-D` / `--log-detail`.
    pub log_detail: bool,
    /// `-t` / `--config-test`: check the configuration and exit.
    pub config_test: bool,
    /// `-p FILE` / `--pid=FILE`.
    pub pid_file: Option<PathBuf>,
    /// `-P` / `--vrrp`: VRRP only.
    pub vrrp_only: bool,
    /// `-C` / `--check`: checkers only (the `virtual_server` blocks).
    pub checkers_only: bool,
    /// `-I` / `--dont-release-ipvs`: on stop, leave the L4 services in the table (a restart adopts them).
    pub dont_release_ipvs: bool,
    /// `-v` / `--version`.
    pub version: bool,
    /// `-h` / `--help`.
    pub help: bool,
    /// `--signum=SIGFUNC`: print the signal number of a function and exit.
    pub signum: Option<String>,
}

impl Default for CliOptions {
    fn default() -> Self {
        CliOptions {
            config: PathBuf::from(DEFAULT_CONFIG),
            dont_fork: false,
            log_console: false,
            log_detail: false,
            config_test: false,
            pid_file: None,
            vrrp_only: false,
            checkers_only: false,
            dont_release_ipvs: false,
            version: false,
            help: false,
            signum: None,
        }
    }
}

/// Usage text.
pub const USAGE: &str = "Usage: fulcrum keepalived [OPTION...]
  -f, --use-file=FILE      use the specified configuration file (default /etc/keepalived/keepalived.conf)
  -P, --vrrp               only run the VRRP subsystem
  -C, --check              only run the checkers subsystem (virtual_server blocks)
  -I, --dont-release-ipvs  don't remove the L4 services on stop (a restart adopts them)
  -l, --log-console        log messages to the console
  -D, --log-detail         detailed log messages
  -n, --dont-fork          don't fork the daemon process
  -t, --config-test        check the configuration (and the interfaces and scripts it names) and exit
  -e, --all-config         a missing configuration file is an error (always the case in fulcrum)
  -p, --pid=FILE           use the specified pidfile
      --signum=SIGFUNC     print the number of the signal for STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON
  -v, --version            print the version and exit
  -h, --help               display this help and exit";

/// What `-h`/`--help` prints after [`USAGE`] (usage errors print only [`USAGE`]).
pub const SEE_ALSO: &str = "

Exit codes of -t (as keepalived's):
  0  nothing to report
  4  the configuration file is missing
  5  problems were reported, also those keepalived corrects and runs with (e.g. a script that is not found)
  6  scripts are set up but global_defs has no enable_script_security

Signals:
  SIGTERM, SIGINT  stop: a master sends a priority-0 advert and removes its virtual addresses and routes,
                   notify_stop and notify scripts run, the nftables table of no_accept is deleted, the
                   virtual servers the checkers created are removed from the L4 table; exit 0
  SIGHUP           reload the configuration file: instances with the same name, interface, VRID and family
                   keep their state, and checkers whose settings did not change keep their verdicts;
                   a file with errors changes nothing (the errors are logged)
  SIGUSR2          write the statistics of every VRRP instance to /tmp/keepalived.stats in keepalived's
                   layout, fulcrum's own counters after them (FULCRUM_KEEPALIVED_DUMP_DIR=DIR: DIR instead of /tmp)
  JSON (signal 36) write every VRRP instance's data and counters to /tmp/keepalived.json in keepalived's
                   JSON layout (FULCRUM_KEEPALIVED_DUMP_DIR=DIR: DIR instead of /tmp)
  STATS_CLEAR (63) write the statistics file as SIGUSR2 does, then zero the counters
  SIGUSR1          write every VRRP instance's state, priorities, timers and addresses to
                   /tmp/keepalived.data in keepalived's layout (the lines that mean something for fulcrum;
                   FULCRUM_KEEPALIVED_DUMP_DIR=DIR: DIR instead of /tmp)

See also:
  docs             in fulcrum's source tree: docs/COMPATIBILITY.md, section 'keepalived' (flags, signals,
                   keywords: what is supported and how fulcrum differs)
";

/// `--signum=SIGFUNC`: the signal keepalived uses for a function (`STOP`, `RELOAD`, `DATA`, `STATS`,
/// `STATS_CLEAR`, `JSON`; upper case only, as keepalived), `None` for another name.
pub fn signum(func: &str) -> Option<i32> {
    Some(match func {
        "STOP" => libc::SIGTERM,
        "RELOAD" => libc::SIGHUP,
        "DATA" => libc::SIGUSR1,
        "STATS" => libc::SIGUSR2,
        "STATS_CLEAR" => crate::linux::daemon::sig_stats_clear(),
        "JSON" => crate::linux::daemon::sig_json(),
        _ => return None,
    })
}

/// Parses keepalived-style arguments (`args[0]` is the program name). Short flags may be grouped (`-nlD`).
pub fn parse_args(args: &[OsString]) -> Result<CliOptions, String> {
    let mut o = CliOptions::default();
    let args: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| {
            a.to_str()
                .map(str::to_string)
                .ok_or_else(|| format!("argument {a:?} is not UTF-8"))
        })
        .collect::<Result<_, _>>()?;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let mut value = |what: &str| -> Result<String, String> {
                if let Some(v) = inline.clone() {
                    return Ok(v);
                }
                let v = args
                    .get(i)
                    .cloned()
                    .ok_or_else(|| format!("--{what} needs a value"))?;
                i += 1;
                Ok(v)
            };
            match name {
                "use-file" => o.config = PathBuf::from(value("use-file")?),
                "pid" => o.pid_file = Some(PathBuf::from(value("pid")?)),
                "dont-fork" => o.dont_fork = true,
                "log-console" => o.log_console = true,
                "log-detail" => o.log_detail = true,
                "config-test" => o.config_test = true,
                "vrrp" => o.vrrp_only = true,
                "all-config" => {}
                "check" => o.checkers_only = true,
                "dont-release-ipvs" => o.dont_release_ipvs = true,
                "version" => o.version = true,
                "help" => o.help = true,
                "signum" => o.signum = Some(value("signum")?),
                _ => return Err(format!("unknown option --{name}")),
            }
            continue;
        }
        let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            return Err(format!("unexpected argument '{a}'"));
        };
        let chars: Vec<char> = flags.chars().collect();
        let mut k = 0;
        while k < chars.len() {
            let c = chars[k];
            k += 1;
            match c {
                'f' | 'p' => {
                    let rest: String = chars[k..].iter().collect();
                    let v = if !rest.is_empty() {
                        k = chars.len();
                        rest
                    } else {
                        let v = args
                            .get(i)
                            .cloned()
                            .ok_or_else(|| format!("-{c} needs a value"))?;
                        i += 1;
                        v
                    };
                    if c == 'f' {
                        o.config = PathBuf::from(v);
                    } else {
                        o.pid_file = Some(PathBuf::from(v));
                    }
                }
                'n' => o.dont_fork = true,
                'l' => o.log_console = true,
                'D' => o.log_detail = true,
                't' => o.config_test = true,
                'P' => o.vrrp_only = true,
                // A missing file is always an error in fulcrum.
                'e' => {}
                'C' => o.checkers_only = true,
                'I' => o.dont_release_ipvs = true,
                'v' => o.version = true,
                'h' => o.help = true,
                _ => return Err(format!("unknown option -{c}")),
            }
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<CliOptions, String> {
        let mut v = vec![OsString::from("keepalived")];
        v.extend(args.iter().map(OsString::from));
        parse_args(&v)
    }

    #[test]
    fn defaults() {
        assert_eq!(p(&[]).unwrap(), CliOptions::default());
        assert_eq!(CliOptions::default().config, PathBuf::from(DEFAULT_CONFIG));
    }

    #[test]
    fn short_and_grouped_flags() {
        let o = p(&["-nlD", "-f", "/x.conf", "-P", "-p/run/k.pid"]).unwrap();
        assert!(o.dont_fork && o.log_console && o.log_detail && o.vrrp_only);
        assert_eq!(o.config, PathBuf::from("/x.conf"));
        assert_eq!(o.pid_file, Some(PathBuf::from("/run/k.pid")));
        let o = p(&["-tf/y.conf"]).unwrap();
        assert!(o.config_test);
        assert_eq!(o.config, PathBuf::from("/y.conf"));
        assert!(p(&["-C"]).unwrap().checkers_only);
        let o = p(&["-CI"]).unwrap();
        assert!(o.checkers_only && o.dont_release_ipvs);
        assert!(p(&["--dont-release-ipvs"]).unwrap().dont_release_ipvs);
        assert!(p(&["-v"]).unwrap().version);
        assert_eq!(
            p(&["--signum=JSON"]).unwrap().signum.as_deref(),
            Some("JSON")
        );
        assert_eq!(
            p(&["--signum", "DATA"]).unwrap().signum.as_deref(),
            Some("DATA")
        );
        assert!(p(&["--signum"]).is_err());
        assert!(p(&["-h"]).unwrap().help);
    }

    #[test]
    fn long_flags() {
        let o = p(&[
            "--use-file=/a",
            "--dont-fork",
            "--log-console",
            "--log-detail",
            "--pid",
            "/p",
            "--vrrp",
        ])
        .unwrap();
        assert_eq!(o.config, PathBuf::from("/a"));
        assert_eq!(o.pid_file, Some(PathBuf::from("/p")));
        assert!(o.dont_fork && o.log_console && o.log_detail && o.vrrp_only);
        assert!(p(&["--config-test"]).unwrap().config_test);
        assert!(p(&["--use-file", "/b"]).is_ok());
        // keepalived's -e / --all-config is what fulcrum always does: accepted, nothing changes.
        assert_eq!(p(&["-te", "--all-config"]).unwrap(), p(&["-t"]).unwrap());
    }

    #[test]
    fn errors() {
        assert!(p(&["-x"]).unwrap_err().contains("unknown option -x"));
        assert!(p(&["--bogus"])
            .unwrap_err()
            .contains("unknown option --bogus"));
        assert!(p(&["-f"]).unwrap_err().contains("-f needs a value"));
        assert!(p(&["--pid"]).unwrap_err().contains("--pid needs a value"));
        assert!(p(&["stray"]).unwrap_err().contains("unexpected argument"));
    }

    #[test]
    fn signal_numbers_are_keepalived_2_2_7s() {
        // `keepalived --signum=X` on these machines (glibc, Linux).
        for (f, n) in [
            ("STOP", 15),
            ("RELOAD", 1),
            ("DATA", 10),
            ("STATS", 12),
            ("STATS_CLEAR", 63),
            ("JSON", 36),
        ] {
            assert_eq!(signum(f), Some(n), "{f}");
        }
        assert_eq!(signum("data"), None);
        assert_eq!(signum("TDATA"), None);
    }
}
