//! The ipvsadm command line end to end on the file data plane: defaults, errors and exit codes,
//! save/restore round trips, and the binary started as `ipvsadm`.

use fulcrum_lvs::addr::NumericNames;
use fulcrum_lvs::cli::run;
use fulcrum_lvs::plane::file::FilePlane;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

static N: AtomicU32 = AtomicU32::new(0);

struct Env {
    dir: PathBuf,
    plane: FilePlane,
}

impl Env {
    fn new() -> Env {
        let dir = std::env::temp_dir().join(format!(
            "fulcrum-lvs-cli-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::create_dir_all(&dir);
        let plane = FilePlane::new(dir.join("table"));
        Env { dir, plane }
    }

    /// Runs `ipvsadm <line>` with `stdin`; returns (code, stdout, stderr).
    fn run_in(&mut self, line: &str, stdin: &str) -> (i32, String, String) {
        let mut argv: Vec<OsString> = vec!["ipvsadm".into()];
        argv.extend(line.split_whitespace().map(OsString::from));
        let mut input = stdin.as_bytes();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(
            argv,
            &mut self.plane,
            &NumericNames,
            &mut input,
            &mut out,
            &mut err,
        );
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    fn run(&mut self, line: &str) -> (i32, String, String) {
        self.run_in(line, "")
    }

    fn ok(&mut self, line: &str) -> String {
        let (code, out, err) = self.run(line);
        assert_eq!((code, err.as_str()), (0, ""), "ipvsadm {line}");
        out
    }

    fn err(&mut self, line: &str, code: i32, msg: &str) {
        let (c, out, err) = self.run(line);
        assert_eq!(
            (c, out.as_str(), err.as_str()),
            (code, "", format!("{msg}\n").as_str()),
            "ipvsadm {line}"
        );
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const HEADER: &str = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
";

#[test]
fn empty_listing_and_plain_invocation() {
    let mut e = Env::new();
    assert_eq!(e.ok(""), HEADER);
    assert_eq!(e.ok("-L -n"), HEADER);
    assert_eq!(e.ok("-ln"), HEADER);
    assert_eq!(e.ok("-n"), HEADER);
    assert_eq!(e.ok("--list --numeric"), HEADER);
    assert_eq!(e.ok("-S"), "");
    assert_eq!(
        e.ok("-L --timeout"),
        "Timeout (tcp tcpfin udp): 900 120 300\n"
    );
    assert_eq!(e.ok("-L -n -c"), "IPVS connection entries\npro expire state       source             virtual            destination\n");
    assert_eq!(e.ok("-L --daemon"), "");
}

#[test]
fn defaults() {
    let mut e = Env::new();
    e.ok("-A -t 10.0.0.1:80");
    e.ok("-a -t 10.0.0.1:80 -r 192.168.0.1:8080");
    e.ok("-a -t 10.0.0.1:80 -r 192.168.0.2 -m");
    e.ok("-a -t 10.0.0.1:80 -r 192.168.0.3:8080 -m -x 100");
    e.ok("-a -t 10.0.0.1:80 -r 192.168.0.4:81 -i -w 0");
    e.ok("-A -u 10.0.0.1:0 -p");
    e.ok("--add-service --fwmark-service 3 --scheduler rr --persistent=60 --netmask 255.255.0.0");
    e.ok("-a -f 3 -r 192.168.0.9 -m");
    assert_eq!(
        e.ok("-S -n"),
        "-A -t 10.0.0.1:80 -s wlc
-a -t 10.0.0.1:80 -r 192.168.0.1:80 -g -w 1
-a -t 10.0.0.1:80 -r 192.168.0.2:80 -m -w 1
-a -t 10.0.0.1:80 -r 192.168.0.3:8080 -m -w 1
-a -t 10.0.0.1:80 -r 192.168.0.4:80 -i -w 0 --tun-type ipip
-A -u 10.0.0.1:0 -s wlc -p 360
-A -f 3 -s rr -p 60 -M 255.255.0.0
-a -f 3 -r 192.168.0.9:0 -m -w 1
"
    );
    let th = e.ok("-L -n --thresholds -t 10.0.0.1:80");
    assert!(
        th.contains(
            "  -> 192.168.0.3:8080             100        75         0          0         \n"
        ),
        "{th}"
    );
    // -E replaces the settings: scheduler back to wlc when not given, persistence off.
    e.ok("-E -f 3 -s sh -b sh-port");
    assert!(e.ok("-S -n").contains("-A -f 3 -s sh -b sh-port\n"));
    // -e without -w resets the weight to 1.
    e.ok("-e -t 10.0.0.1:80 -r 192.168.0.4 -i");
    assert!(e.ok("-S -n").contains("-r 192.168.0.4:80 -i -w 1"));
    e.ok("-d -t 10.0.0.1:80 -r 192.168.0.4");
    e.ok("-D -u 10.0.0.1:0");
    assert!(!e.ok("-S -n").contains("192.168.0.4") && !e.ok("-S -n").contains("-u"));
    e.ok("--set 0 60 0");
    assert_eq!(
        e.ok("-L --timeout"),
        "Timeout (tcp tcpfin udp): 900 60 0\n".replace(" 0\n", " 300\n")
    );
    e.ok("-Z");
    e.ok("-Z -t 10.0.0.1:80");
    e.ok("-C");
    assert_eq!(e.ok("-S"), "");
    assert_eq!(
        e.ok("-L --timeout"),
        "Timeout (tcp tcpfin udp): 900 60 300\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    let mut e = Env::new();
    e.err(
        "-A -t 10.0.0.1",
        2,
        "Zero port specified for non-persistent service",
    );
    e.err("-A -t 10.0.0.1:80 -A", 2, "multiple commands specified");
    e.err(
        "-A -t 10.0.0.1:80 -s rr -s wrr",
        2,
        "multiple 'scheduler' options specified",
    );
    e.err(
        "-A -t 300.0.0.1:80",
        2,
        "illegal virtual server address[:port] specified",
    );
    e.err(
        "-A -t 10.0.0.1:99999",
        2,
        "illegal virtual server address[:port] specified",
    );
    e.err(
        "-A",
        2,
        "You need to supply the 'service-address' option for the 'add-service' command",
    );
    e.err(
        "-A -t 10.0.0.1:80 -r 1.1.1.1",
        2,
        "Illegal 'real-server' option with the 'add-service' command",
    );
    e.err(
        "-a -t 10.0.0.1:80",
        2,
        "You need to supply the 'real-server' option for the 'add-server' command",
    );
    e.err(
        "-a -t 10.0.0.1:80 -r 1.1.1.1 -w -1",
        2,
        "illegal weight specified",
    );
    e.err(
        "-a -t 10.0.0.1:80 -r 1.1.1.1 -w 2147483648",
        2,
        "illegal weight specified",
    );
    e.err(
        "-a -t 10.0.0.1:80 -r 1.1.1.1 -x 65536",
        2,
        "illegal u_threshold specified",
    );
    e.err(
        "-a -t 10.0.0.1:80 -r 1.1.1.1 -y x",
        2,
        "illegal l_threshold specified",
    );
    e.err(
        "-a -t 10.0.0.1:80 -r 1.1.1.1 -m -g",
        2,
        "multiple 'forwarding-method' options specified",
    );
    e.err(
        "-a -t 10.0.0.1:80 -r ::1",
        2,
        "Different address family is allowed only for tunneling servers",
    );
    e.err(
        "-a -t 10.0.0.1:80 -r 1.1.1.1:x",
        2,
        "illegal real server address[:port] specified",
    );
    e.err(
        "-a -t 10.0.0.1:80 -r 1.1.1.1 --tun-type gue",
        2,
        "Tunnel options conflict with forward method",
    );
    e.err(
        "-a -t 10.0.0.1:80 -r 1.1.1.1 -i --tun-type gue",
        2,
        "You need to supply the 'tun-port' option for the 'gue' tunnel type",
    );
    e.err(
        "-a -t 10.0.0.1:80 -r 1.1.1.1 -i --tun-type vxlan",
        2,
        "illegal tunnel type specified",
    );
    e.err(
        "-a -t 10.0.0.1:80 -r 1.1.1.1 -i --tun-port 5",
        2,
        "Illegal 'tun-port' option with the 'ipip' tunnel type",
    );
    e.err(
        "-A -t 10.0.0.1:80 -p 0",
        2,
        "invalid timeout value `0' specified",
    );
    e.err(
        "-A -t 10.0.0.1:80 -p 2678401",
        2,
        "invalid timeout value `2678401' specified",
    );
    e.err(
        "-A -t 10.0.0.1:80 -M 1.2.3",
        2,
        "illegal virtual server persistent mask specified",
    );
    e.err("-A -t [::1]:80 -M 129", 2, "illegal ipv6 netmask specified");
    e.err(
        "-A -t 10.0.0.1:80 -b nope",
        2,
        "invalid scheduler flag `nope'",
    );
    e.err(
        "-A -t 10.0.0.1:80 -s rr -b sh-port",
        2,
        "incompatible scheduler flag `sh-port'",
    );
    e.err("-A -f 0", 2, "invalid fwmark value `0' specified");
    e.err("-A -6 -f 1", 2, "-6 used before -f");
    e.err(
        "-A -t 10.0.0.1:80 -o",
        2,
        "One-Packet Scheduling is only for UDP virtual services",
    );
    e.err("-L extra", 2, "unexpected argument extra");
    e.err("--set 1 2", 2, "--set option requires 3 timeout values");
    e.err("--set 1 2 x", 2, "invalid timeout value `x' specified");
    e.err(
        "-L -c --timeout",
        2,
        "options conflicts in the list command",
    );
    e.err(
        "-L -s rr",
        2,
        "Illegal 'scheduler' option with the 'list' command",
    );
    e.err(
        "-S --stats",
        2,
        "Illegal 'stats' option with the 'save' command",
    );
    e.err(
        "-C -n",
        2,
        "Illegal 'numeric' option with the 'flush' command",
    );
}

#[test]
fn parser_errors_exit_255() {
    let mut e = Env::new();
    e.err("--bogus", 255, "--bogus: unknown option");
    e.err("-Q", 255, "-Q: unknown option");
    e.err("-A -t", 255, "-t: missing argument");
    e.err(
        "--add-service --tcp-service",
        255,
        "--tcp-service: missing argument",
    );
}

#[test]
fn table_errors_exit_255() {
    let mut e = Env::new();
    e.err("-E -t 10.0.0.1:80", 255, "No such service");
    e.err("-D -t 10.0.0.1:80", 255, "No such service");
    e.err("-Z -t 10.0.0.1:80", 255, "No such service");
    e.err("-a -t 10.0.0.1:80 -r 1.1.1.1", 255, "Service not defined");
    e.err("-L -t 10.0.0.1:80", 1, "No such service");
    e.ok("-A -t 10.0.0.1:80");
    e.err("-A -t 10.0.0.1:80", 255, "Service already exists");
    e.err(
        "-A -t 10.0.0.1:81 -s nope",
        255,
        "Scheduler or persistence engine not found",
    );
    e.ok("-a -t 10.0.0.1:80 -r 1.1.1.1");
    e.err(
        "-a -t 10.0.0.1:80 -r 1.1.1.1",
        255,
        "Destination already exists",
    );
    e.err("-e -t 10.0.0.1:80 -r 1.1.1.2", 255, "No such destination");
    e.err("-d -t 10.0.0.1:80 -r 1.1.1.2", 255, "No such destination");
    e.err(
        "-a -t 10.0.0.1:80 -r 1.1.1.3 -y 5",
        255,
        "Numerical result out of range",
    );
    e.err(
        "--start-daemon master",
        255,
        "Operation not supported: the sync daemon carries the kernel's connections; the dry-run table (FULCRUM_LVS_STATE) has none",
    );
}

#[test]
fn help_and_version() {
    let mut e = Env::new();
    let h = e.ok("-h");
    assert!(h.contains("Usage:\n  ipvsadm -A|E virtual-service"), "{h}");
    assert!(e.ok("--version").starts_with("ipvsadm v1.31 2019/12/24"));
}

const EXAMPLE: &str = "-A -t 10.0.0.100:80 -s wlc -p 360 -M 255.255.255.0
-a -t 10.0.0.100:80 -r 192.168.10.1:80 -m -w 3
-a -t 10.0.0.100:80 -r 192.168.10.2:80 -m -w 1
-A -u 10.0.0.100:53 -s sh -b sh-fallback,sh-port
-a -u 10.0.0.100:53 -r 192.168.10.3:53 -g -w 1
-A -f 1 -s rr
-a -f 1 -r 192.168.10.4:0 -i -w 1 --tun-type ipip
-A -t [2001:db8::80]:443 -s mh -b mh-fallback
-a -t [2001:db8::80]:443 -r [2001:db8::a0a0]:8443 -m -w 5
-a -t [2001:db8::80]:443 -r 192.168.10.9:443 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
";

/// EXAMPLE as `-S -n` prints it: services sorted (IPv4, IPv6, fwmark), servers sorted (IPv4 first).
const SORTED: &str = "-A -t 10.0.0.100:80 -s wlc -p 360 -M 255.255.255.0
-a -t 10.0.0.100:80 -r 192.168.10.1:80 -m -w 3
-a -t 10.0.0.100:80 -r 192.168.10.2:80 -m -w 1
-A -u 10.0.0.100:53 -s sh -b sh-fallback,sh-port
-a -u 10.0.0.100:53 -r 192.168.10.3:53 -g -w 1
-A -t [2001:db8::80]:443 -s mh -b mh-fallback
-a -t [2001:db8::80]:443 -r 192.168.10.9:443 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
-a -t [2001:db8::80]:443 -r [2001:db8::a0a0]:8443 -m -w 5
-A -f 1 -s rr
-a -f 1 -r 192.168.10.4:0 -i -w 1 --tun-type ipip
";

#[test]
fn save_clear_restore_round_trip() {
    let mut e = Env::new();
    // Restore accepts a leading "ipvsadm", blank lines and comments.
    let input = format!("# saved\n\nipvsadm -A -u 10.0.0.200:53 -s rr\n{EXAMPLE}");
    let (code, out, err) = e.run_in("-R", &input);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    let saved = e.ok("-S -n");
    assert!(
        saved.starts_with(EXAMPLE.lines().next().unwrap_or("")),
        "{saved}"
    );
    assert!(saved.contains("-A -u 10.0.0.200:53 -s rr\n"));
    let listed = e.ok("-L -n");
    e.ok("-C");
    assert_eq!(e.ok("-S -n"), "");
    let (code, _, err) = e.run_in("-R", &saved);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(e.ok("-S -n"), saved);
    assert_eq!(e.ok("-L -n"), listed);
    // -R does not clear first: restoring again reports the duplicates and keeps going.
    let (code, _, err) = e.run_in("-R", "-A -t 10.0.0.100:80\n-A -t 10.0.0.7:80\n");
    assert_eq!(code, 255);
    assert_eq!(err, "Service already exists\n");
    assert!(e.ok("-S -n").contains("-A -t 10.0.0.7:80 -s wlc\n"));
    // A usage error stops the restore with exit code 2; earlier lines stay applied.
    let (code, _, err) = e.run_in("-R", "-A -t 10.0.0.8:80\n-A -t bad\n-A -t 10.0.0.9:80\n");
    assert_eq!(
        (code, err.as_str()),
        (2, "illegal virtual server address[:port] specified\n")
    );
    let s = e.ok("-S -n");
    assert!(s.contains("10.0.0.8:80") && !s.contains("10.0.0.9:80"));
}

#[test]
fn save_lists_services_and_servers_in_ipvsadm_order() {
    let mut e = Env::new();
    let (code, _, err) = e.run_in("-R", EXAMPLE);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(e.ok("-S -n"), SORTED);
}
