//! What `-t` and start-up check on this machine, as keepalived does: the interfaces a configuration names exist and
//! suit VRRP, script programs and users exist, and scripts run only with `enable_script_security`.
//!
//! fulcrum-config checks the file itself; this is the part that looks at the system, through [`System`] so that it
//! is testable. Each problem is one of three kinds, as in keepalived:
//! - errors: keepalived refuses to start, and so does fulcrum (`-t` exits 5);
//! - warnings: keepalived corrects them and runs (a script it cannot find is disabled, an instance on an interface
//!   without multicast and without unicast peers is disabled), and so does fulcrum (`-t` exits 5);
//! - the security violation: scripts are set up but `enable_script_security` is not; both run them anyway and `-t`
//!   exits 6.

use std::collections::BTreeSet;
use std::path::Path;

use fulcrum_config::diag::{Severity, Warning};
use fulcrum_config::keepalived::Config;
use fulcrum_config::{Diagnostic, Location};

/// `-t`: everything is fine.
pub const EXIT_OK: i32 = 0;
/// `-t`: the configuration file is missing (keepalived's exit code with `-e`, which fulcrum always applies).
pub const EXIT_MISSING_FILE: i32 = 4;
/// `-t`: problems were found (keepalived's exit code for a failed configuration test).
pub const EXIT_CONFIG: i32 = 5;
/// `-t`: scripts are set up without `enable_script_security` (keepalived's exit code for it).
pub const EXIT_SECURITY: i32 = 6;

/// The facts of an interface the checks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfFlags {
    /// `IFF_LOOPBACK`.
    pub loopback: bool,
    /// `IFF_MULTICAST`.
    pub multicast: bool,
}

/// What the checks need to know about the system.
pub trait System {
    /// The interface's flags, if it exists.
    fn interface(&self, name: &str) -> Option<IfFlags>;
    /// Whether a program (the first word of a script's command line) is found: a path when it has a `/`, else a
    /// name searched in `PATH`, as the scripts are run.
    fn program_exists(&self, program: &str) -> bool;
    /// Whether the user (and group) exist; the error says what is missing.
    fn user(&self, user: &str, group: Option<&str>) -> Result<(), String>;
}

/// The machine fulcrum runs on (its current network namespace).
#[derive(Debug, Clone, Copy, Default)]
pub struct Live;

impl System for Live {
    fn interface(&self, name: &str) -> Option<IfFlags> {
        use nix::net::if_::InterfaceFlags;
        // getifaddrs(3) lists every link of the namespace (an AF_PACKET entry each), with or without addresses.
        if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
            if let Some(a) = addrs.into_iter().find(|a| a.interface_name == name) {
                return Some(IfFlags {
                    loopback: a.flags.contains(InterfaceFlags::IFF_LOOPBACK),
                    multicast: a.flags.contains(InterfaceFlags::IFF_MULTICAST),
                });
            }
        }
        None
    }

    fn program_exists(&self, program: &str) -> bool {
        if program.contains('/') {
            return Path::new(program).is_file();
        }
        let path = std::env::var_os("PATH").unwrap_or_else(|| {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
        });
        std::env::split_paths(&path).any(|d| d.join(program).is_file())
    }

    fn user(&self, user: &str, group: Option<&str>) -> Result<(), String> {
        super::scripts::resolve_user(user, group).map(|_| ())
    }
}

/// What the checks found; see the module documentation for the three kinds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// keepalived refuses to start with these, and so does fulcrum.
    pub errors: Vec<Diagnostic>,
    /// A user named by `script_user` that does not exist (global_defs keeps no line numbers).
    pub script_user: Option<String>,
    /// Some error is an interface that does not exist.
    pub missing_interface: bool,
    /// Corrected at start-up by [`Report::apply`]: a disabled script or instance.
    pub warnings: Vec<Warning>,
    /// `vrrp_script`s whose program is not found: disabled, and no instance tracks them.
    pub disabled_scripts: Vec<String>,
    /// Instances that cannot send their adverts (no multicast, no unicast peer): disabled.
    pub disabled_instances: Vec<String>,
    /// Scripts are set up without `enable_script_security`: where the first one is.
    pub insecure: Option<Location>,
}

impl Report {
    /// Whether fulcrum can start (warnings and the security violation do not stop it).
    pub fn startable(&self) -> bool {
        self.errors.is_empty() && self.script_user.is_none()
    }

    /// The `-t` exit code of a configuration that loaded with `config_warnings` warnings of its own.
    pub fn exit_code(&self, config_warnings: usize) -> i32 {
        if self.insecure.is_some() {
            EXIT_SECURITY
        } else if !self.startable() || !self.warnings.is_empty() || config_warnings > 0 {
            EXIT_CONFIG
        } else {
            EXIT_OK
        }
    }

    /// The lines to print or log: errors, their summary, warnings, then the security violation.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
        if let Some(e) = &self.script_user {
            out.push(format!("[ALERT] global_defs: 'script_user': {e}"));
        }
        if self.missing_interface {
            out.push(
                "[ALERT] the configuration names interfaces that do not exist on this system"
                    .into(),
            );
        }
        out.extend(self.warnings.iter().map(ToString::to_string));
        if let Some(loc) = &self.insecure {
            out.push(format!(
                "[WARNING] {loc}: 'enable_script_security': security violation: scripts are set up to run but \
                 global_defs has no 'enable_script_security'"
            ));
        }
        out
    }

    /// Makes the configuration what runs: removes the disabled scripts (and every `track_script` of them) and the
    /// disabled instances (and their sync group memberships), as keepalived does.
    pub fn apply(&self, config: &mut Config) {
        let scripts = &self.disabled_scripts;
        config.scripts.retain(|s| !scripts.contains(&s.name));
        for i in &mut config.instances {
            i.track_scripts.retain(|t| !scripts.contains(&t.name));
        }
        let gone = &self.disabled_instances;
        config.instances.retain(|i| !gone.contains(&i.name));
        for g in &mut config.sync_groups {
            g.members.retain(|m| !gone.contains(m));
        }
        config.sync_groups.retain(|g| !g.members.is_empty());
    }
}

fn error(report: &mut Report, location: &Location, keyword: &str, message: String) {
    report.errors.push(Diagnostic {
        location: location.clone(),
        keyword: keyword.into(),
        message,
    });
}

fn warning(report: &mut Report, location: &Location, keyword: &str, message: String) {
    report.warnings.push(Warning {
        severity: Severity::Warning,
        diagnostic: Diagnostic {
            location: location.clone(),
            keyword: keyword.into(),
            message,
        },
    });
}

/// The program of a script command line, if it has one.
fn program(line: &str) -> Option<String> {
    super::scripts::split_command(line).into_iter().next()
}

/// Checks a loaded configuration against the system.
pub fn check(config: &Config, sys: &dyn System) -> Report {
    let mut r = Report::default();
    let exists = |r: &mut Report, name: &str, loc: &Location, kw: &str, what: String| {
        let flags = sys.interface(name);
        if flags.is_none() {
            error(
                r,
                loc,
                kw,
                format!("interface '{name}' for {what} does not exist"),
            );
            r.missing_interface = true;
        }
        flags
    };
    for i in &config.instances {
        let what = format!("vrrp_instance {}", i.name);
        if let Some(f) = exists(&mut r, &i.interface, &i.location, "interface", what) {
            if f.loopback {
                error(
                    &mut r,
                    &i.location,
                    "interface",
                    format!(
                        "vrrp_instance {} cannot run on the loopback interface '{}'",
                        i.name, i.interface
                    ),
                );
            } else if !f.multicast && i.unicast_peers.is_empty() {
                warning(
                    &mut r,
                    &i.location,
                    "interface",
                    format!(
                        "interface '{}' has no multicast and vrrp_instance {} has no unicast_peer: the instance is \
                         disabled",
                        i.interface, i.name
                    ),
                );
                r.disabled_instances.push(i.name.clone());
            }
        }
        for t in &i.track_interfaces {
            let what = format!("track_interface of vrrp_instance {}", i.name);
            exists(&mut r, &t.name, &i.location, "track_interface", what);
        }
        for (kw, list) in [
            ("virtual_ipaddress", &i.virtual_ipaddress),
            ("virtual_ipaddress_excluded", &i.virtual_ipaddress_excluded),
        ] {
            for v in list {
                if let Some(dev) = &v.dev {
                    let what = format!("address {}/{}", v.addr, v.prefix_len);
                    exists(&mut r, dev, &v.location, kw, what);
                }
            }
        }
        for rt in &i.virtual_routes {
            if let Some(dev) = &rt.dev {
                let what = format!("route {}/{}", rt.dest, rt.prefix_len);
                exists(&mut r, dev, &rt.location, "virtual_routes", what);
            }
        }
    }
    let g = &config.global;
    if let Some(u) = &g.script_user {
        if let Err(e) = sys.user(&u.user, u.group.as_deref()) {
            r.script_user = Some(e);
        }
    }
    // Scripts that would run: the vrrp_scripts whose program is found, and the notify scripts found.
    let mut runs: Vec<Location> = Vec::new();
    let mut disabled = BTreeSet::new();
    for s in &config.scripts {
        if let Some(u) = &s.user {
            if let Err(e) = sys.user(&u.user, u.group.as_deref()) {
                error(
                    &mut r,
                    &s.location,
                    "user",
                    format!("vrrp_script {}: {e}", s.name),
                );
            }
        }
        match program(&s.script) {
            Some(p) if sys.program_exists(&p) => runs.push(s.location.clone()),
            p => {
                warning(
                    &mut r,
                    &s.location,
                    "script",
                    format!(
                        "vrrp_script {}: program '{}' is not found: the script is disabled and no instance tracks it",
                        s.name,
                        p.unwrap_or_default()
                    ),
                );
                disabled.insert(s.name.clone());
            }
        }
    }
    r.disabled_scripts = disabled.into_iter().collect();
    let notifies = config
        .instances
        .iter()
        .map(|i| (&i.notify, &i.location))
        .chain(config.sync_groups.iter().map(|s| (&s.notify, &s.location)));
    for (n, loc) in notifies {
        for line in [&n.master, &n.backup, &n.fault, &n.stop, &n.any]
            .into_iter()
            .flatten()
        {
            if program(line).is_some_and(|p| sys.program_exists(&p)) {
                runs.push(loc.clone());
            }
        }
    }
    if !g.enable_script_security {
        r.insecure = runs.into_iter().min_by_key(|l| l.line);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;
    impl System for Fake {
        fn interface(&self, name: &str) -> Option<IfFlags> {
            match name {
                "eth0" | "eth1" => Some(IfFlags {
                    loopback: false,
                    multicast: true,
                }),
                "lo" => Some(IfFlags {
                    loopback: true,
                    multicast: false,
                }),
                "ifb0" => Some(IfFlags {
                    loopback: false,
                    multicast: false,
                }),
                _ => None,
            }
        }
        fn program_exists(&self, program: &str) -> bool {
            program == "/bin/true" || program == "true"
        }
        fn user(&self, user: &str, _: Option<&str>) -> Result<(), String> {
            if user == "root" {
                Ok(())
            } else {
                Err(format!("no user named '{user}'"))
            }
        }
    }

    fn run(text: &str) -> (Config, Report) {
        let c = fulcrum_config::keepalived::parse_str("t.conf", text).unwrap();
        let r = check(&c, &Fake);
        (c, r)
    }

    const SECURE: &str = "global_defs {\n enable_script_security\n script_user root\n}\n";

    fn inst(name: &str, body: &str) -> String {
        format!(
            "vrrp_instance {name} {{\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {{\n 198.18.0.9\n \
             }}\n{body}\n}}\n"
        )
    }

    #[test]
    fn a_good_configuration_passes() {
        let (_, r) = run(&format!(
            "{SECURE}{}",
            inst("A", "track_interface {\n eth1\n}")
        ));
        assert_eq!(r, Report::default());
        assert_eq!(r.exit_code(0), EXIT_OK);
        assert_eq!(r.exit_code(1), EXIT_CONFIG);
        assert!(r.lines().is_empty());
    }

    #[test]
    fn missing_interfaces_are_errors_with_their_line() {
        let text = "vrrp_instance A {\n interface nx0\n virtual_router_id 1\n track_interface {\n nx1\n }\n \
                    virtual_ipaddress {\n 198.18.0.9 dev nx2\n }\n virtual_ipaddress_excluded {\n 198.18.0.10 dev \
                    nx3\n }\n virtual_routes {\n 198.19.0.0/16 dev nx4\n }\n}\n";
        let (_, r) = run(text);
        let l = r.lines();
        assert!(
            l[0].contains(
                "t.conf:1: 'interface': interface 'nx0' for vrrp_instance A does not exist"
            ),
            "{l:?}"
        );
        assert!(l[1]
            .contains("'track_interface': interface 'nx1' for track_interface of vrrp_instance A"));
        assert!(l[2]
            .contains("t.conf:8: 'virtual_ipaddress': interface 'nx2' for address 198.18.0.9/32"));
        assert!(l[3].contains("t.conf:11: 'virtual_ipaddress_excluded': interface 'nx3'"));
        assert!(
            l[4].contains("t.conf:14: 'virtual_routes': interface 'nx4' for route 198.19.0.0/16")
        );
        assert_eq!(
            l[5],
            "[ALERT] the configuration names interfaces that do not exist on this system"
        );
        assert_eq!(l.len(), 6);
        assert!(!r.startable());
        assert_eq!(r.exit_code(0), EXIT_CONFIG);
    }

    #[test]
    fn loopback_is_refused_and_no_multicast_disables_the_instance() {
        let (_, r) = run(&inst("A", "").replace("eth0", "lo"));
        assert!(r.errors[0]
            .message
            .contains("cannot run on the loopback interface 'lo'"));
        assert!(!r.missing_interface);
        let (mut c, r) = run(&format!(
            "{}{}vrrp_sync_group G {{\n group {{\n A\n }}\n}}\n",
            inst("A", "").replace("eth0", "ifb0"),
            inst("B", "").replace("51", "52")
        ));
        assert!(r.startable());
        assert_eq!(r.disabled_instances, ["A"]);
        assert!(r.warnings[0]
            .to_string()
            .contains("[WARNING] t.conf:1: 'interface': interface 'ifb0' has no multicast"));
        assert_eq!(r.exit_code(0), EXIT_CONFIG);
        r.apply(&mut c);
        assert_eq!(c.instances.len(), 1);
        assert_eq!(c.instances[0].name, "B");
        assert!(c.sync_groups.is_empty());
        // Unicast peers need no multicast.
        let (_, r) = run(&inst("A", "unicast_peer {\n 198.18.0.2\n}").replace("eth0", "ifb0"));
        assert_eq!(r, Report::default());
    }

    #[test]
    fn missing_script_programs_are_disabled() {
        let text = format!(
            "{SECURE}vrrp_script gone {{\n script \"/nonexistent/chk.sh arg\"\n}}\nvrrp_script ok {{\n script \
             true\n}}\n{}",
            inst("A", "track_script {\n gone\n ok\n}")
        );
        let (mut c, r) = run(&text);
        assert!(r.startable());
        assert_eq!(r.disabled_scripts, ["gone"]);
        assert!(r.lines()[0].contains(
            "t.conf:5: 'script': vrrp_script gone: program '/nonexistent/chk.sh' is not found"
        ));
        assert_eq!(r.exit_code(0), EXIT_CONFIG);
        r.apply(&mut c);
        assert_eq!(c.scripts.len(), 1);
        let tracked: Vec<&str> = c.instances[0]
            .track_scripts
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(tracked, ["ok"]);
    }

    #[test]
    fn scripts_without_script_security_are_a_violation() {
        let (_, r) = run(&format!(
            "vrrp_script chk {{\n script /bin/true\n}}\n{}",
            inst("A", "")
        ));
        assert_eq!(r.insecure.as_ref().map(|l| l.line), Some(1));
        assert_eq!(r.exit_code(0), EXIT_SECURITY);
        assert!(r.lines()[0].contains("security violation"));
        // A notify script counts, when its program is found.
        let (_, r) = run(&inst("A", "notify_master \"/bin/true x\""));
        assert_eq!(r.exit_code(0), EXIT_SECURITY);
        let (_, r) = run(&inst("A", "notify_master /nonexistent/n.sh"));
        assert_eq!(r, Report::default());
        // A disabled script does not run: only its warning.
        let (_, r) = run(&format!(
            "vrrp_script chk {{\n script /nonexistent/x\n}}\n{}",
            inst("A", "")
        ));
        assert_eq!((r.insecure.is_some(), r.exit_code(0)), (false, EXIT_CONFIG));
        // The violation wins over other problems.
        let (_, r) = run(&format!(
            "vrrp_script chk {{\n script /bin/true\n}}\n{}",
            inst("A", "").replace("eth0", "nx0")
        ));
        assert_eq!(r.exit_code(0), EXIT_SECURITY);
    }

    #[test]
    fn users_must_exist() {
        let (_, r) = run(&format!(
            "global_defs {{\n script_user ghost\n}}\nvrrp_script s {{\n script true\n user nobody2\n}}\n{}",
            inst("A", "")
        ));
        assert_eq!(r.script_user.as_deref(), Some("no user named 'ghost'"));
        assert!(r.errors[0]
            .to_string()
            .contains("t.conf:4: 'user': vrrp_script s: no user named 'nobody2'"));
        assert!(!r.startable());
        assert!(r
            .lines()
            .iter()
            .any(|l| l == "[ALERT] global_defs: 'script_user': no user named 'ghost'"));
    }
}
