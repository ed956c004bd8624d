//! The systemd units (dist/systemd/) and the Debian package (`make deb`, scripts/deb.sh).
//!
//! - `systemd-analyze verify` on the three units, with `/usr/sbin/fulcrum` pointed at the binary of this build,
//!   and any message it prints (an unknown key, a bad value, a missing command) is a failure; `systemd-analyze
//!   security --offline` keeps each unit's exposure score under a ceiling.
//! - The units' own command lines run here as systemd would run them (the same variables, the same word
//!   splitting): the proxy's configuration check before a start or a reload, keepalived's check before its
//!   SIGHUP, and the L4 table's restore at start and save at stop (on the file data plane, `FULCRUM_LVS_STATE`).
//! - The package: scripts/deb.sh builds it (the release binary, man pages from `--help`, cargo-deb, lintian with
//!   no error); its contents (`dpkg-deb -c`), control fields and conffiles (`dpkg-deb -I`) and maintainer scripts
//!   (`dpkg-deb -e`) are checked.
//!
//! Tools: systemd-analyze (package systemd), cargo-deb, help2man, lintian, dpkg-deb; scripts/install-deps.sh
//! installs them. A test whose tool is missing says so and passes, unless `FULCRUM_REQUIRE_NETNS=1` (CI), which
//! makes it a failure, as for the other tests that need the system.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_fulcrum");
const UNITS: [&str; 3] = [
    "fulcrum-proxy.service",
    "fulcrum-keepalived.service",
    "fulcrum-ipvs.service",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn unit_path(name: &str) -> PathBuf {
    repo().join("dist/systemd").join(name)
}

fn required() -> bool {
    std::env::var("FULCRUM_REQUIRE_NETNS").is_ok_and(|v| v == "1")
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Whether every tool is there; when one is missing, a skip message (or a failure under FULCRUM_REQUIRE_NETNS=1).
fn have(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !on_path(t)).collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "missing {} (scripts/install-deps.sh installs it)",
        missing.join(", ")
    );
    assert!(!required(), "{test}: FULCRUM_REQUIRE_NETNS=1 but {why}");
    eprintln!("skip {test}: {why}");
    false
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fulcrum-packaging-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A unit file's `[Service]` (and other) settings: every `Key=value` line in order, comments left out.
fn settings(unit: &str) -> Vec<(String, String)> {
    let body = std::fs::read_to_string(unit_path(unit)).unwrap();
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with(';') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn values(unit: &str, key: &str) -> Vec<String> {
    settings(unit)
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

fn value(unit: &str, key: &str) -> String {
    let v = values(unit, key);
    assert_eq!(v.len(), 1, "{unit}: expected one {key}=, found {v:?}");
    v[0].clone()
}

/// The defaults of `Environment=` lines: `"A=x" "B=y z"` or `A=x`.
fn environment(unit: &str) -> HashMap<String, String> {
    let mut env = HashMap::new();
    for line in values(unit, "Environment") {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                ' ' if !quoted => {
                    if !cur.is_empty() {
                        words.push(std::mem::take(&mut cur));
                    }
                }
                c => cur.push(c),
            }
        }
        if !cur.is_empty() {
            words.push(cur);
        }
        for w in words {
            let (k, v) = w.split_once('=').unwrap();
            env.insert(k.to_string(), v.to_string());
        }
    }
    env
}

/// Runs one `Exec*=` command line as systemd would for these units: `$$` is a literal `$`, `$VAR` a variable
/// split at whitespace, `${VAR}` one word, single quotes keep a word together; a POSIX shell does the same with
/// these lines. `/usr/sbin/fulcrum` is this build's binary.
fn run_exec(line: &str, env: &HashMap<String, String>) -> Output {
    let line = line.replace("/usr/sbin/fulcrum", BIN).replace("$$", "$");
    Command::new("/bin/sh")
        .arg("-c")
        .arg(&line)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .unwrap()
}

#[test]
fn units_pass_systemd_analyze_verify() {
    if !have("units_pass_systemd_analyze_verify", &["systemd-analyze"]) {
        return;
    }
    let dir = scratch("verify");
    let mut paths = Vec::new();
    for u in UNITS {
        let body = std::fs::read_to_string(unit_path(u)).unwrap();
        assert!(
            body.contains("/usr/sbin/fulcrum"),
            "{u} runs /usr/sbin/fulcrum"
        );
        let p = dir.join(u);
        std::fs::write(&p, body.replace("/usr/sbin/fulcrum", BIN)).unwrap();
        paths.push(p);
    }
    // Without systemd as PID 1 it still loads the units and checks every setting and command.
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}",
        text(&out)
    );
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "systemd-analyze verify printed something (a warning is a mistake in a unit): {}",
        text(&out)
    );
    // The check catches mistakes: a misspelt key is reported.
    let bad = dir.join("fulcrum-bad.service");
    let body = std::fs::read_to_string(&paths[0]).unwrap();
    std::fs::write(&bad, body.replace("KillMode=mixed", "KilMode=mixed")).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("KilMode"),
        "a misspelt key goes unnoticed: {}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `systemd-analyze security --offline`: the exposure score of each unit (0 is the best, 10 the worst; the
/// units of Debian's haproxy and keepalived packages score 9.6), kept under a ceiling so a loosened sandbox is
/// noticed.
#[test]
fn units_exposure_stays_low() {
    if !have("units_exposure_stays_low", &["systemd-analyze"]) {
        return;
    }
    let dir = scratch("security");
    for (unit, ceiling) in [
        ("fulcrum-proxy.service", 5.0),
        ("fulcrum-keepalived.service", 6.5),
        ("fulcrum-ipvs.service", 5.0),
    ] {
        let body = std::fs::read_to_string(unit_path(unit)).unwrap();
        let p = dir.join(unit);
        std::fs::write(&p, body.replace("/usr/sbin/fulcrum", BIN)).unwrap();
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(&p)
            .output()
            .unwrap();
        let all = String::from_utf8_lossy(&out.stdout).to_string();
        let score: f64 = all
            .lines()
            .find_map(|l| {
                l.split_once("Overall exposure level for ")?
                    .1
                    .split_once(": ")
            })
            .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{unit}: no exposure level in {}", text(&out)));
        assert!(
            score <= ceiling,
            "{unit}: exposure {score} above {ceiling}:\n{all}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn units_have_the_documented_shape() {
    // The proxy: systemd notification from the master, check before start and before the reload signal.
    let u = "fulcrum-proxy.service";
    assert_eq!(value(u, "Type"), "notify");
    assert_eq!(value(u, "KillMode"), "mixed");
    assert!(value(u, "ExecStart").starts_with("/usr/sbin/fulcrum proxy -Ws -f $CONFIG -p $PIDFILE"));
    let reload = values(u, "ExecReload");
    assert_eq!(reload.len(), 2, "{reload:?}");
    assert!(
        reload[0].starts_with("/usr/sbin/fulcrum proxy -W -c "),
        "{reload:?}"
    );
    assert_eq!(reload[1], "/bin/kill -USR2 $MAINPID");
    assert_eq!(value(u, "ExecStartPre"), reload[0]);
    let env = environment(u);
    assert_eq!(env["CONFIG"], "/etc/haproxy/haproxy.cfg");
    // keepalived: no notification (Type=simple, in the foreground), check then SIGHUP.
    let u = "fulcrum-keepalived.service";
    assert_eq!(value(u, "Type"), "simple");
    assert_eq!(value(u, "KillMode"), "mixed");
    assert!(value(u, "ExecStart").contains("keepalived --dont-fork --use-file=${CONFIG}"));
    let reload = values(u, "ExecReload");
    assert_eq!(reload.len(), 2, "{reload:?}");
    assert!(reload[0].contains("keepalived --config-test"), "{reload:?}");
    assert_eq!(reload[1], "/bin/kill -HUP $MAINPID");
    assert_eq!(environment(u)["CONFIG"], "/etc/keepalived/keepalived.conf");
    // The L4 table: a one-shot that stays active, restore at start, save at stop, before keepalived.
    let u = "fulcrum-ipvs.service";
    assert_eq!(value(u, "Type"), "oneshot");
    assert_eq!(value(u, "RemainAfterExit"), "yes");
    assert!(value(u, "ExecStart").contains("ipvsadm -R"));
    assert!(value(u, "ExecStop").contains("ipvsadm -S -n"));
    assert_eq!(value(u, "Before"), "fulcrum-keepalived.service");
    assert_eq!(environment(u)["RULES"], "/etc/fulcrum/ipvsadm.rules");
    // Every unit: its settings file, the shared runtime directory kept on stop, and a sandbox whose capability
    // set is exactly what the unit's comment explains.
    for (u, caps) in [
        (
            "fulcrum-proxy.service",
            "CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW CAP_SETUID CAP_SETGID CAP_SYS_CHROOT CAP_CHOWN CAP_KILL",
        ),
        (
            "fulcrum-keepalived.service",
            "CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_BPF CAP_SETUID CAP_SETGID CAP_KILL",
        ),
        ("fulcrum-ipvs.service", "CAP_NET_ADMIN CAP_BPF"),
    ] {
        let stem = u.trim_end_matches(".service");
        assert_eq!(
            value(u, "EnvironmentFile"),
            format!("-/etc/default/{stem}"),
            "{u}"
        );
        assert_eq!(value(u, "CapabilityBoundingSet"), caps, "{u}");
        assert!(values(u, "AmbientCapabilities").is_empty(), "{u}: runs as root, no ambient set");
        assert_eq!(value(u, "NoNewPrivileges"), "yes", "{u}");
        assert_eq!(value(u, "ProtectHome"), "yes", "{u}");
        assert_eq!(value(u, "PrivateTmp"), "yes", "{u}");
        assert!(["strict", "full"].contains(&value(u, "ProtectSystem").as_str()), "{u}");
        assert_eq!(value(u, "RuntimeDirectory"), "fulcrum", "{u}");
        assert_eq!(value(u, "RuntimeDirectoryPreserve"), "yes", "{u}");
        assert_eq!(value(u, "WantedBy"), "multi-user.target", "{u}");
    }
}

/// Each /etc/default file lists every variable its unit reads, commented out at the unit's default.
#[test]
fn default_files_show_the_unit_defaults() {
    for u in UNITS {
        let stem = u.trim_end_matches(".service");
        let file = std::fs::read_to_string(repo().join("dist/default").join(stem)).unwrap();
        let env = environment(u);
        for (k, v) in &env {
            if k.starts_with("FULCRUM_") {
                continue; // fixed by the unit, not a setting
            }
            let want = format!("#{k}={v}");
            assert!(
                file.lines().any(|l| l == want),
                "dist/default/{stem} lacks the line '{want}'"
            );
        }
        let set: Vec<&str> = file
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert!(
            set.is_empty(),
            "dist/default/{stem}: {set:?} set: the file only documents the defaults"
        );
    }
}

fn proxy_env(dir: &Path, config: &Path) -> HashMap<String, String> {
    let mut env = environment("fulcrum-proxy.service");
    env.insert("CONFIG".into(), config.display().to_string());
    env.insert(
        "EXTRAOPTS".into(),
        format!("-S {}", dir.join("master.sock").display()),
    );
    env
}

#[test]
fn proxy_unit_checks_the_configuration_before_start_and_reload() {
    let dir = scratch("proxy");
    let check = value("fulcrum-proxy.service", "ExecStartPre");
    let good = repo().join("examples/haproxy/http-roundrobin.cfg");
    let out = run_exec(&check, &proxy_env(&dir, &good));
    assert!(
        out.status.success(),
        "{check} on {}: {}",
        good.display(),
        text(&out)
    );
    assert!(
        !dir.join("master.sock").exists(),
        "the check opened the master CLI"
    );
    let bad = dir.join("bad.cfg");
    std::fs::write(
        &bad,
        "global\n    maxconn 10\nfrontend f\n    bind 127.0.0.1:0\n    bogus\n",
    )
    .unwrap();
    let out = run_exec(&check, &proxy_env(&dir, &bad));
    assert!(
        !out.status.success(),
        "a bad configuration passes: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("{}:5", bad.display())),
        "the refusal names the file and line: {}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keepalived_unit_checks_the_configuration_before_its_sighup() {
    let dir = scratch("keepalived");
    let check = values("fulcrum-keepalived.service", "ExecReload")[0].clone();
    let mut env = environment("fulcrum-keepalived.service");
    let good = dir.join("keepalived.conf");
    std::fs::write(
        &good,
        "virtual_server 198.18.0.1 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    \
         real_server 198.18.1.2 80 {\n        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n}\n",
    )
    .unwrap();
    env.insert("CONFIG".into(), good.display().to_string());
    let out = run_exec(&check, &env);
    assert!(out.status.success(), "{check}: {}", text(&out));
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "vrrp_instance VI_1 {\n    bogus 1\n}\n").unwrap();
    env.insert("CONFIG".into(), bad.display().to_string());
    let out = run_exec(&check, &env);
    assert!(
        !out.status.success(),
        "a bad configuration passes: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bogus"),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ipvs_unit_restores_at_start_and_saves_at_stop() {
    let dir = scratch("ipvs");
    let state = dir.join("table.state");
    let rules = dir.join("ipvsadm.rules");
    let mut env = environment("fulcrum-ipvs.service");
    env.insert("RULES".into(), rules.display().to_string());
    env.insert("FULCRUM_LVS_STATE".into(), state.display().to_string());
    let start = value("fulcrum-ipvs.service", "ExecStart");
    let stop = value("fulcrum-ipvs.service", "ExecStop");
    let ipvsadm = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("ipvsadm")
            .args(args)
            .env("FULCRUM_LVS_STATE", &state)
            .output()
            .unwrap();
        assert!(out.status.success(), "ipvsadm {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // No rules file yet: the start changes nothing and succeeds.
    ipvsadm(&["-A", "-t", "198.18.0.9:443", "-s", "rr"]);
    let out = run_exec(&start, &env);
    assert!(out.status.success(), "{start}: {}", text(&out));
    assert!(ipvsadm(&["-S", "-n"]).contains("198.18.0.9:443"));
    // A rules file (with the comment line Debian's ipvsadm writes): the table becomes exactly the file.
    std::fs::write(
        &rules,
        "# ipvsadm.rules\n-A -t 198.18.0.1:80 -s wrr\n-a -t 198.18.0.1:80 -r 198.18.1.2:80 -m -w 3\n",
    )
    .unwrap();
    let out = run_exec(&start, &env);
    assert!(out.status.success(), "{start}: {}", text(&out));
    let table = ipvsadm(&["-S", "-n"]);
    assert_eq!(
        table,
        "-A -t 198.18.0.1:80 -s wrr\n-a -t 198.18.0.1:80 -r 198.18.1.2:80 -m -w 3\n"
    );
    // A change made at run time is saved at stop, through a temporary file.
    ipvsadm(&[
        "-a",
        "-t",
        "198.18.0.1:80",
        "-r",
        "198.18.1.3:80",
        "-m",
        "-w",
        "1",
    ]);
    let out = run_exec(&stop, &env);
    assert!(out.status.success(), "{stop}: {}", text(&out));
    let saved = std::fs::read_to_string(&rules).unwrap();
    assert!(saved.contains("-r 198.18.1.3:80"), "{saved}");
    assert!(!dir.join("ipvsadm.rules.new").exists());
    // And comes back after a flush (a reboot), through the start.
    ipvsadm(&["-C"]);
    let out = run_exec(&start, &env);
    assert!(out.status.success(), "{start}: {}", text(&out));
    assert_eq!(ipvsadm(&["-S", "-n"]), saved);
    // SAVE_ON_STOP=no leaves the file alone.
    ipvsadm(&["-C"]);
    env.insert("SAVE_ON_STOP".into(), "no".into());
    let out = run_exec(&stop, &env);
    assert!(out.status.success(), "{stop}: {}", text(&out));
    assert_eq!(std::fs::read_to_string(&rules).unwrap(), saved);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The top entry of dist/debian/changelog is this version, revision 1 (cargo-deb's default): lintian and dpkg
/// read the version from both places.
#[test]
fn changelog_names_the_crate_version() {
    let log = std::fs::read_to_string(repo().join("dist/debian/changelog")).unwrap();
    let first = log.lines().next().unwrap();
    let want = format!("fulcrum ({}-1) ", env!("CARGO_PKG_VERSION"));
    assert!(
        first.starts_with(&want),
        "dist/debian/changelog starts with '{first}', expected '{want}...': add an entry for the new version"
    );
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-deb {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `make deb` end to end (it needs the release build, which `make test` makes anyway for the README's demo and
/// the regression tests), then what the package holds.
#[test]
fn debian_package_builds_lintian_clean_with_the_expected_contents() {
    let test = "debian_package_builds_lintian_clean_with_the_expected_contents";
    if !have(test, &["dpkg-deb", "help2man", "lintian", "cargo"]) {
        return;
    }
    let has_cargo_deb = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_cargo_deb {
        assert!(
            !required(),
            "{test}: FULCRUM_REQUIRE_NETNS=1 but cargo-deb is missing (scripts/install-deps.sh)"
        );
        eprintln!("skip {test}: cargo-deb is missing (scripts/install-deps.sh installs it)");
        return;
    }
    let t0 = std::time::Instant::now();
    let out = Command::new("bash")
        .arg(repo().join("scripts/deb.sh"))
        .output()
        .unwrap();
    assert!(out.status.success(), "scripts/deb.sh: {}", text(&out));
    eprintln!("scripts/deb.sh took {:.0?}", t0.elapsed());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !log.lines().any(|l| l.starts_with("E: ")),
        "lintian errors:\n{log}"
    );
    let deb = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let name = deb.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with(&format!("fulcrum_{}-1_", env!("CARGO_PKG_VERSION"))),
        "{name}"
    );

    // Contents.
    let listing = dpkg_deb(&["-c"], &deb);
    let paths: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .collect();
    for want in [
        "./usr/sbin/fulcrum",
        "./usr/lib/systemd/system/fulcrum-proxy.service",
        "./usr/lib/systemd/system/fulcrum-keepalived.service",
        "./usr/lib/systemd/system/fulcrum-ipvs.service",
        "./etc/default/fulcrum-proxy",
        "./etc/default/fulcrum-keepalived",
        "./etc/default/fulcrum-ipvs",
        "./etc/fulcrum/haproxy.cfg",
        "./etc/fulcrum/keepalived.conf",
        "./usr/share/man/man8/fulcrum.8.gz",
        "./usr/share/man/man8/fulcrum-proxy.8.gz",
        "./usr/share/man/man8/fulcrum-keepalived.8.gz",
        "./usr/share/man/man8/fulcrum-ipvsadm.8.gz",
        "./usr/share/doc/fulcrum/copyright",
        "./usr/share/doc/fulcrum/changelog.Debian.gz",
        "./usr/share/doc/fulcrum/OPERATIONS.md",
        "./usr/share/doc/fulcrum/examples/haproxy/http-roundrobin.cfg",
        "./usr/share/lintian/overrides/fulcrum",
    ] {
        assert!(
            paths.contains(&want),
            "{want} missing from the package:\n{listing}"
        );
    }
    // Never a file of the incumbents: their names are alternatives made by postinst, not package files.
    for p in &paths {
        for incumbent in ["/haproxy\n", "/keepalived\n", "/ipvsadm\n"] {
            assert!(
                !format!("{p}\n").ends_with(incumbent) || p.starts_with("./usr/share/doc"),
                "the package ships {p}"
            );
        }
        assert!(
            !p.starts_with("./etc/haproxy") && !p.starts_with("./etc/keepalived"),
            "the package ships {p}, a file of the incumbent's package"
        );
    }
    let binary = listing
        .lines()
        .find(|l| l.ends_with(" ./usr/sbin/fulcrum"))
        .unwrap();
    // Mode 755, owned by root (dpkg-deb shows the owner by name or by number).
    let owner = binary.split_whitespace().nth(1).unwrap();
    assert!(
        binary.starts_with("-rwxr-xr-x ") && ["0/0", "root/root"].contains(&owner),
        "{binary}"
    );

    // Control fields and conffiles.
    let info = dpkg_deb(&["-I"], &deb);
    for want in ["Package: fulcrum", "Section: net", "Priority: optional"] {
        assert!(
            info.contains(want),
            "{want} missing from the control file:\n{info}"
        );
    }
    let depends = info
        .lines()
        .find(|l| l.trim_start().starts_with("Depends:"))
        .unwrap_or_else(|| panic!("no Depends:\n{info}"));
    assert!(
        depends.contains("libc6") && depends.contains("nftables") && depends.contains("iproute2"),
        "{depends}"
    );
    let control = scratch("control");
    let out = Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(&control)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-deb -e: {}", text(&out));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    let mut conffiles: Vec<&str> = conffiles.lines().collect();
    conffiles.sort_unstable();
    assert_eq!(
        conffiles,
        [
            "/etc/default/fulcrum-ipvs",
            "/etc/default/fulcrum-keepalived",
            "/etc/default/fulcrum-proxy",
            "/etc/fulcrum/haproxy.cfg",
            "/etc/fulcrum/keepalived.conf",
        ]
    );

    // Maintainer scripts: alternatives at a low priority, units known to systemd but neither enabled nor
    // started, nothing restarted by an upgrade.
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    for name in ["haproxy", "keepalived", "ipvsadm"] {
        assert!(
            postinst.contains(&format!(
                "update-alternatives --install /usr/sbin/{name} {name} \"$FULCRUM\" \"$PRIORITY\""
            )),
            "{name}:\n{postinst}"
        );
    }
    assert!(postinst.contains("PRIORITY=10"), "{postinst}");
    for unit in UNITS {
        assert!(
            postinst.contains(unit),
            "postinst does not register {unit}:\n{postinst}"
        );
    }
    for forbidden in [
        "deb-systemd-invoke start",
        "deb-systemd-invoke restart",
        "deb-systemd-helper enable",
    ] {
        let active: Vec<&str> = postinst.lines().filter(|l| l.contains(forbidden)).collect();
        // `enable` appears only for units the operator had enabled before (was-enabled), which keeps their choice.
        if forbidden == "deb-systemd-helper enable" {
            assert!(
                postinst.contains("was-enabled"),
                "enable without was-enabled:\n{postinst}"
            );
            continue;
        }
        assert!(
            active.is_empty(),
            "postinst runs '{forbidden}':\n{postinst}"
        );
    }
    let prerm = std::fs::read_to_string(control.join("prerm")).unwrap();
    assert!(prerm.contains("update-alternatives --remove"), "{prerm}");
    let postrm = std::fs::read_to_string(control.join("postrm")).unwrap();
    assert!(postrm.contains("deb-systemd-helper purge"), "{postrm}");
    let _ = std::fs::remove_dir_all(&control);
}
