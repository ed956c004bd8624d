//! `fulcrum keepalived -t` against the real `keepalived -t` (2.2.7) on the same files: the same exit code and a
//! message that means the same, for every condition keepalived's check reports, and the known differences pinned.
//!
//! Both run in a network namespace `fulcrum-<pid>-<n>` made for the test, so the interfaces are known: `ck0` (a veth
//! with multicast), `ckm0` (a veth without multicast) and `lo`; any other name does not exist. Without keepalived,
//! root or network namespaces the test is skipped with a message, unless FULCRUM_REQUIRE_NETNS=1 asks for it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One configuration and what both checks make of it.
struct Case {
    name: &'static str,
    text: String,
    /// keepalived's exit code.
    keepalived: i32,
    /// fulcrum's exit code: the same as keepalived's except for the known differences.
    fulcrum: i32,
    /// A phrase of keepalived's message, to be sure the case tests what it means to.
    keepalived_says: Option<&'static str>,
    /// The phrase of fulcrum's message that means the same.
    fulcrum_says: Option<&'static str>,
}

fn case(
    name: &'static str,
    text: impl Into<String>,
    code: i32,
    keepalived_says: Option<&'static str>,
    fulcrum_says: Option<&'static str>,
) -> Case {
    Case {
        name,
        text: text.into(),
        keepalived: code,
        fulcrum: code,
        keepalived_says,
        fulcrum_says,
    }
}

/// A vrrp_instance VI_1 on ck0 with VRID 51: `extra` lines (indented, each ending in a newline) before its
/// `virtual_ipaddress` block of `vips` (one address a line).
fn vi(extra: &str, vips: &[&str]) -> String {
    vi_named("VI_1", 51, extra, vips)
}

fn vi_named(name: &str, vrid: u8, extra: &str, vips: &[&str]) -> String {
    let mut s = format!(
        "vrrp_instance {name} {{\n    interface ck0\n    virtual_router_id {vrid}\n{extra}    virtual_ipaddress {{\n"
    );
    for v in vips {
        s.push_str(&format!("        {v}\n"));
    }
    s.push_str("    }\n}\n");
    s
}

fn global(lines: &str) -> String {
    format!("global_defs {{\n{lines}}}\n")
}

const V4: &[&str] = &["198.18.0.100/24"];
const V6: &[&str] = &["fd00::100/64"];
const SECURE: &str = "    enable_script_security\n    script_user root\n";

fn cases() -> Vec<Case> {
    let strict = global("    vrrp_strict\n");
    let mut c = vec![
        // Valid configurations: nothing to say.
        case("valid", vi("    priority 150\n", V4), 0, None, None),
        case("owner", vi("    priority 255\n", V4), 0, None, None),
        // Interfaces that do not exist, or cannot carry VRRP.
        case(
            "missing interface",
            vi("", V4).replace("interface ck0", "interface nxif0"),
            5,
            Some("interface nxif0 for vrrp_instance VI_1 doesn't exist"),
            Some("interface 'nxif0' for vrrp_instance VI_1 does not exist"),
        ),
        case(
            "missing track_interface",
            vi("    track_interface {\n        nxif1\n    }\n", V4),
            5,
            Some("tracked interface nxif1 doesn't exist"),
            Some("interface 'nxif1' for track_interface of vrrp_instance VI_1 does not exist"),
        ),
        case(
            "missing dev of an address",
            vi("", &["198.18.0.100/24 dev nxif2"]),
            5,
            Some("interface nxif2 for ip address 198.18.0.100/24 doesn't exist"),
            Some("interface 'nxif2' for address 198.18.0.100/24 does not exist"),
        ),
        case(
            "missing dev of an excluded address",
            vi(
                "    virtual_ipaddress_excluded {\n        198.18.0.7/32 dev nxif3\n    }\n",
                V4,
            ),
            5,
            Some("interface nxif3 for ip address 198.18.0.7/32 doesn't exist"),
            Some("interface 'nxif3' for address 198.18.0.7/32 does not exist"),
        ),
        case(
            "missing dev of a route",
            vi(
                "    virtual_routes {\n        198.51.100.0/24 dev nxif4\n    }\n",
                V4,
            ),
            5,
            Some("interface nxif4 for VROUTE"),
            Some("interface 'nxif4' for route 198.51.100.0/24 does not exist"),
        ),
        case(
            "loopback interface",
            vi("", V4).replace("interface ck0", "interface lo"),
            5,
            Some("loopback"),
            Some("cannot run on the loopback interface 'lo'"),
        ),
        case(
            "interface without multicast",
            vi("", V4).replace("interface ck0", "interface ckm0"),
            5,
            Some("does not support multicast"),
            Some("has no multicast"),
        ),
        case(
            "interface without multicast, unicast peers",
            vi("    unicast_peer {\n        198.18.0.2\n    }\n", V4)
                .replace("interface ck0", "interface ckm0"),
            0,
            None,
            None,
        ),
        // The file itself.
        case(
            "unknown keyword",
            vi("    frobnicate yes\n", V4),
            5,
            Some("Unknown keyword 'frobnicate'"),
            Some("'frobnicate': unknown keyword"),
        ),
        case(
            "unknown global keyword",
            format!("{}{}", global("    frob 1\n"), vi("", V4)),
            5,
            Some("Unknown keyword 'frob'"),
            Some("'frob': unknown keyword in global_defs"),
        ),
        case(
            "unclosed block",
            vi("", V4).trim_end().trim_end_matches('}').to_string(),
            5,
            Some("missing '}'"),
            Some("missing '}'"),
        ),
        case(
            "extra closing brace",
            format!("{}}}\n", vi("", V4)),
            5,
            Some("Extra '}'"),
            Some("'}' closes no block"),
        ),
        case(
            "vrid 0",
            vi("", V4).replace("virtual_router_id 51", "virtual_router_id 0"),
            5,
            Some("VRID '0' not valid"),
            Some("'virtual_router_id': expected an integer from 1 to 255, got '0'"),
        ),
        case(
            "vrid 256",
            vi("", V4).replace("virtual_router_id 51", "virtual_router_id 256"),
            5,
            Some("VRID '256' not valid"),
            Some("got '256'"),
        ),
        case(
            "no vrid",
            vi("", V4).replace("    virtual_router_id 51\n", ""),
            5,
            Some("virtual router id must be set"),
            Some("needs a 'virtual_router_id'"),
        ),
        case(
            "priority 0",
            vi("    priority 0\n", V4),
            5,
            Some("Priority not valid"),
            Some("'priority': expected an integer from 1 to 255, got '0'"),
        ),
        case(
            "priority 256",
            vi("    priority 256\n", V4),
            5,
            Some("Priority not valid"),
            Some("'priority': expected an integer from 1 to 255, got '256'"),
        ),
        case(
            "advert_int 0",
            vi("    advert_int 0\n", V4),
            5,
            Some("Advert interval"),
            Some("'advert_int'"),
        ),
        case(
            "fractional advert_int with VRRPv2",
            vi("    advert_int 0.5\n", V4),
            5,
            Some("must be an integer"),
            Some("VRRPv2 needs whole seconds"),
        ),
        case(
            "bad state",
            vi("    state FOO\n", V4),
            5,
            Some("unknown state 'FOO'"),
            Some("expected MASTER or BACKUP, got 'FOO'"),
        ),
        case(
            "no virtual address",
            vi("", &[]),
            5,
            Some("No VIP specified"),
            Some("needs a 'virtual_ipaddress' block with at least one address"),
        ),
        case(
            "bad virtual address",
            vi("", &["198.18.0.300/24"]),
            5,
            Some("invalid IP 198.18.0.300/24"),
            Some("'198.18.0.300/24' is not an address"),
        ),
        case(
            "no interface keyword",
            vi("", V4).replace("    interface ck0\n", ""),
            5,
            Some("Unknown interface"),
            Some("needs an 'interface'"),
        ),
        case(
            "instance without a name",
            vi("", V4).replace("vrrp_instance VI_1 {", "vrrp_instance {"),
            5,
            Some("must have a name"),
            Some("expected exactly one name"),
        ),
        case(
            "duplicate VRID on one interface",
            format!("{}{}", vi("", V4), vi_named("VI_2", 51, "", &["198.18.0.101/24"])),
            5,
            Some("VI_1 and VI_2 both use VRID 51"),
            Some("VRID 51 on ck0 is also used by instance 'VI_1'"),
        ),
        case(
            "one VRID for IPv4 and IPv6",
            format!("{}{}", vi("", V4), vi_named("VI_2", 51, "", V6)),
            0,
            None,
            None,
        ),
        case(
            "sync group of a missing instance",
            format!(
                "{}vrrp_sync_group G {{\n    group {{\n        VI_X\n    }}\n}}\n",
                vi("", V4)
            ),
            5,
            Some("VI_X specified in sync group G doesn't exist"),
            Some("no vrrp_instance named 'VI_X'"),
        ),
        // Unicast.
        case(
            "unicast",
            vi(
                "    unicast_src_ip 198.18.0.1\n    unicast_peer {\n        198.18.0.2 min_ttl 0 max_ttl 255\n    }\n",
                V4,
            ),
            0,
            None,
            None,
        ),
        case(
            "malformed unicast peer",
            vi("    unicast_peer {\n        198.18.0.999\n    }\n", V4),
            5,
            Some("malformed unicast peer address[198.18.0.999]"),
            Some("'198.18.0.999' is not an IP address"),
        ),
        case(
            "unicast peer of the other family",
            vi("    unicast_peer {\n        fd00::2\n    }\n", V4),
            5,
            Some("address family must match"),
            Some("address fd00::2 is not of the instance's family"),
        ),
        case(
            "empty unicast_peer",
            vi("    unicast_peer {\n    }\n", V4),
            5,
            Some("without any unicast peers"),
            Some("'unicast_peer': is given without any unicast peer"),
        ),
        case(
            "unicast_src_ip without peers",
            vi("    unicast_src_ip 198.18.0.1\n", V4),
            5,
            Some("without any unicast peers"),
            Some("'unicast_src_ip': is given without any unicast peer"),
        ),
        case(
            "unknown unicast_peer option",
            vi("    unicast_peer {\n        198.18.0.2 frob 1\n    }\n", V4),
            5,
            Some("unknown unicast_peer option frob"),
            Some("unknown unicast_peer option 'frob'"),
        ),
        case(
            "min_ttl out of range",
            vi("    unicast_peer {\n        198.18.0.2 min_ttl 256\n    }\n", V4),
            5,
            Some("'256' outside range [0, 255]"),
            Some("min_ttl: expected an integer from 0 to 255, got '256'"),
        ),
        case(
            "min_ttl above max_ttl",
            vi(
                "    unicast_peer {\n        198.18.0.2 min_ttl 10 max_ttl 5\n    }\n",
                V4,
            ),
            5,
            Some("min_ttl 10 > max_ttl 5"),
            Some("min_ttl 10 is above max_ttl 5"),
        ),
        // Scripts.
        case(
            "script not found",
            format!(
                "{}vrrp_script chk {{\n    script \"/nonexistent/chk.sh\"\n}}\n{}",
                global(SECURE),
                vi("    track_script {\n        chk\n    }\n", V4)
            ),
            5,
            Some("Disabling track script chk since not found"),
            Some("program '/nonexistent/chk.sh' is not found: the script is disabled"),
        ),
        case(
            "scripts with script security",
            format!(
                "{}vrrp_script chk {{\n    script \"/bin/true\"\n}}\n{}",
                global(SECURE),
                vi(
                    "    track_script {\n        chk\n    }\n    notify_master \"/bin/true\"\n",
                    V4
                )
            ),
            0,
            None,
            None,
        ),
        case(
            "script without script security",
            format!(
                "vrrp_script chk {{\n    script \"/bin/true\"\n}}\n{}",
                vi("    track_script {\n        chk\n    }\n", V4)
            ),
            6,
            Some("SECURITY VIOLATION"),
            Some("security violation"),
        ),
        case(
            "unused script without script security",
            format!("vrrp_script chk {{\n    script \"true\"\n}}\n{}", vi("", V4)),
            6,
            Some("SECURITY VIOLATION"),
            Some("security violation"),
        ),
        case(
            "notify script without script security",
            vi("    notify_master \"/bin/true\"\n", V4),
            6,
            Some("SECURITY VIOLATION"),
            Some("security violation"),
        ),
        case(
            "missing notify script without script security",
            vi("    notify_master \"/nonexistent/n.sh\"\n", V4),
            0,
            None,
            None,
        ),
        case(
            "script_user that does not exist",
            format!(
                "{}{}",
                global("    script_user nxfulcrumuser\n"),
                vi("", V4)
            ),
            5,
            Some("Error setting global script uid/gid"),
            Some("'script_user': no user named 'nxfulcrumuser'"),
        ),
        case(
            "track_script of no vrrp_script",
            vi("    track_script {\n        nochk\n    }\n", V4),
            5,
            Some("track script nochk not found"),
            Some("no vrrp_script named 'nochk'"),
        ),
        // What keepalived corrects, reports, and runs with.
        case(
            "long auth_pass",
            vi(
                "    authentication {\n        auth_type PASS\n        auth_pass 0123456789\n    }\n",
                V4,
            ),
            5,
            Some("Truncating auth_pass to 8 characters"),
            Some("'auth_pass': is longer than 8 characters"),
        ),
        case(
            "authentication with VRRPv3",
            vi(
                "    version 3\n    authentication {\n        auth_type PASS\n        auth_pass abc\n    }\n",
                V4,
            ),
            5,
            Some("VRRP version 3 does not support authentication"),
            Some("VRRPv3 has no authentication"),
        ),
        case(
            "nopreempt with state MASTER",
            vi("    state MASTER\n    priority 150\n    nopreempt\n", V4),
            5,
            Some("nopreempt will not work with initial state MASTER"),
            Some("'nopreempt': does not work with 'state MASTER'"),
        ),
        case(
            "preempt_delay with nopreempt",
            vi("    nopreempt\n    preempt_delay 5\n", V4),
            5,
            Some("preempt_delay is incompatible with nopreempt"),
            Some("'preempt_delay': has no effect with 'nopreempt'"),
        ),
        case(
            "track_interface of the own interface",
            vi("    track_interface {\n        ck0 weight -5\n    }\n", V4),
            5,
            Some("Ignoring track_interface ck0 since own interface"),
            Some("'ck0': is the instance's own interface"),
        ),
        case(
            "track_interface twice",
            vi("    track_interface {\n        lo\n        lo\n    }\n", V4),
            5,
            Some("duplicate track_interface lo"),
            Some("'lo': is tracked twice"),
        ),
        // vrrp_strict.
        case(
            "strict",
            format!("{strict}{}", vi("", V4)),
            0,
            None,
            None,
        ),
        case(
            "strict, state MASTER below 255",
            format!("{strict}{}", vi("    state MASTER\n    priority 150\n", V4)),
            5,
            Some("State MASTER must match being address owner"),
            Some("only the address owner (priority 255) starts as MASTER"),
        ),
        case(
            "strict, owner MASTER",
            format!("{strict}{}", vi("    state MASTER\n    priority 255\n", V4)),
            0,
            None,
            None,
        ),
        case(
            "strict, authentication",
            format!(
                "{strict}{}",
                vi(
                    "    authentication {\n        auth_type PASS\n        auth_pass abc\n    }\n",
                    V4
                )
            ),
            5,
            Some("Strict mode does not support authentication"),
            Some("vrrp_strict allows no authentication"),
        ),
        case(
            "strict, accept with VRRPv2",
            format!("{strict}{}", vi("    accept\n", V4)),
            5,
            Some("accept mode for VRRP version 2"),
            Some("VRRPv2 (RFC 3768) has no accept mode"),
        ),
        case(
            "strict, accept with VRRPv3",
            format!("{strict}{}", vi("    version 3\n    accept\n", V4)),
            0,
            None,
            None,
        ),
        case(
            "strict, preempt_delay",
            format!("{strict}{}", vi("    preempt_delay 5\n", V4)),
            5,
            Some("preempt_delay is incompatible with strict mode"),
            Some("vrrp_strict allows no preempt_delay"),
        ),
        // Versions and families: IPv6 without `version 3` runs VRRPv3, silently.
        case("IPv6 without version", vi("", V6), 0, None, None),
        case(
            "IPv6 without version, vrrp_version 2",
            format!("{}{}", global("    vrrp_version 2\n"), vi("", V6)),
            0,
            None,
            None,
        ),
        case(
            "IPv6 without version, vrrp_version 3",
            format!("{}{}", global("    vrrp_version 3\n"), vi("", V6)),
            0,
            None,
            None,
        ),
        case(
            "IPv6 without version, fractional advert_int",
            vi("    advert_int 0.5\n", V6),
            0,
            None,
            None,
        ),
        case(
            "IPv6 without version, authentication",
            vi(
                "    authentication {\n        auth_type PASS\n        auth_pass abc\n    }\n",
                V6,
            ),
            5,
            Some("VRRP version 3 does not support authentication"),
            Some("VRRPv3 has no authentication"),
        ),
        case("IPv6 with version 3", vi("    version 3\n", V6), 0, None, None),
        case(
            "IPv4 with vrrp_version 3",
            format!("{}{}", global("    vrrp_version 3\n"), vi("", V4)),
            0,
            None,
            None,
        ),
        case(
            "IPv4 then IPv6 addresses",
            vi("", &["198.18.0.100/24", "fd00::100/64"]),
            5,
            Some("address family must match VRRP instance [fd00::100/64]"),
            Some("mixes IPv4 and IPv6 addresses"),
        ),
        case(
            "IPv6 then IPv4 addresses",
            vi("", &["fd00::100/64", "198.18.0.100/24"]),
            5,
            Some("address family must match VRRP instance [198.18.0.100/24]"),
            Some("mixes IPv4 and IPv6 addresses"),
        ),
        case(
            "mixed addresses with version 3",
            vi("    version 3\n", &["198.18.0.100/24", "fd00::100/64"]),
            5,
            Some("address family must match"),
            Some("mixes IPv4 and IPv6 addresses"),
        ),
        case(
            "strict, IPv6 with version 2",
            format!(
                "{strict}{}",
                vi("    version 2\n", &["fe80::100/64", "fd00::100/64"])
            ),
            5,
            Some("cannot use IPv6 with VRRP version 2; setting version 3"),
            Some("VRRPv2 cannot carry IPv6 addresses under vrrp_strict: VRRPv3 is used"),
        ),
        case(
            "strict, first IPv6 address not link-local",
            format!("{strict}{}", vi("", V6)),
            5,
            Some("the first IPv6 VIP address must be link local"),
            Some("the first IPv6 address must be link-local"),
        ),
        case(
            "strict, IPv6 without version",
            format!("{strict}{}", vi("", &["fe80::100/64", "fd00::100/64"])),
            0,
            None,
            None,
        ),
    ];
    // Known differences: each is documented (docs/COMPATIBILITY.md) and pinned here, so that a change on either
    // side shows.
    let differ = |name, text: String, keepalived, fulcrum, fulcrum_says| Case {
        name,
        text,
        keepalived,
        fulcrum,
        keepalived_says: None,
        fulcrum_says: Some(fulcrum_says),
    };
    c.extend([
        // keepalived sends a VRRPv2 of its own over IPv6; fulcrum speaks VRRPv3 only there.
        differ(
            "IPv6 with an explicit version 2",
            vi("    version 2\n", V6),
            0,
            5,
            "fulcrum runs IPv6 instances with VRRPv3 only",
        ),
        // keepalived only says a missing include is missing (an error with -e); fulcrum always refuses.
        differ(
            "missing include",
            format!("include /nonexistent/fulcrum-x.conf\n{}", vi("", V4)),
            0,
            5,
            "'include': no file matches",
        ),
        // keepalived takes two vrrp_scripts of one name.
        differ(
            "vrrp_script defined twice",
            format!(
                "{}vrrp_script chk {{\n    script /bin/true\n}}\nvrrp_script chk {{\n    script /bin/true\n}}\n{}",
                global(SECURE),
                vi("", V4)
            ),
            0,
            5,
            "'chk' is defined twice",
        ),
        // fulcrum stops at the file's errors before it looks at scripts.
        differ(
            "script without script security and an unknown keyword",
            format!(
                "vrrp_script chk {{\n    script \"/bin/true\"\n}}\n{}",
                vi("    frobnicate yes\n", V4)
            ),
            6,
            5,
            "'frobnicate': unknown keyword",
        ),
    ]);
    c
}

/// Runs `ip netns exec NS ARGS...`: exit code (-1 when killed) and stderr.
fn run_in(ns: &str, args: &[&str], file: &Path) -> (i32, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The namespace and the temporary files; removed on drop, also when an assertion fails.
struct Lab {
    ns: String,
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Why the comparison cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    if Command::new("keepalived")
        .arg("--version")
        .output()
        .is_err()
    {
        return Some("keepalived is not installed".into());
    }
    if !nix::unistd::getuid().is_root() {
        return Some("not root (the checks run in a network namespace)".into());
    }
    None
}

fn lab() -> Result<Lab, String> {
    let lab = Lab {
        ns: format!("fulcrum-{}-0", std::process::id()),
        dir: std::env::temp_dir().join(format!("fulcrum-kconform-{}", std::process::id())),
    };
    std::fs::create_dir_all(&lab.dir).map_err(|e| format!("{}: {e}", lab.dir.display()))?;
    ip(&["netns", "add", &lab.ns])?;
    let ns = lab.ns.as_str();
    ip(&["-n", ns, "link", "set", "lo", "up"])?;
    for (dev, peer) in [("ck0", "ck0p"), ("ckm0", "ckm0p")] {
        ip(&[
            "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", peer,
        ])?;
        ip(&["-n", ns, "link", "set", peer, "up"])?;
    }
    ip(&["-n", ns, "link", "set", "ckm0", "multicast", "off"])?;
    ip(&["-n", ns, "addr", "add", "198.18.0.1/24", "dev", "ck0"])?;
    ip(&["-n", ns, "link", "set", "ck0", "up"])?;
    ip(&["-n", ns, "link", "set", "ckm0", "up"])?;
    Ok(lab)
}

#[test]
fn keepalived_and_fulcrum_check_alike() {
    let required = std::env::var("FULCRUM_REQUIRE_NETNS").is_ok_and(|v| v == "1");
    let lab = match unavailable().map_or_else(lab, Err) {
        Ok(l) => l,
        Err(why) if required => panic!("FULCRUM_REQUIRE_NETNS=1 but {why}"),
        Err(why) => {
            eprintln!("skip: {why}");
            return;
        }
    };
    let fulcrum = env!("CARGO_BIN_EXE_fulcrum");
    let mut failures = Vec::new();
    let cases = cases();
    for (n, c) in cases.iter().enumerate() {
        let file = lab.dir.join(format!("case{n}.conf"));
        std::fs::write(&file, &c.text).unwrap();
        let (kc, ke) = run_in(&lab.ns, &["keepalived", "-t", "-f"], &file);
        let (fc, fe) = run_in(&lab.ns, &[fulcrum, "keepalived", "-t", "-f"], &file);
        let mut why = Vec::new();
        if kc != c.keepalived {
            why.push(format!("keepalived exited {kc}, expected {}", c.keepalived));
        }
        if fc != c.fulcrum {
            why.push(format!("fulcrum exited {fc}, expected {}", c.fulcrum));
        }
        if let Some(p) = c.keepalived_says.filter(|p| !ke.contains(p)) {
            why.push(format!("keepalived did not say {p:?}"));
        }
        match c.fulcrum_says {
            Some(p) if !fe.contains(p) => why.push(format!("fulcrum did not say {p:?}")),
            None if !fe.is_empty() => why.push("fulcrum printed something".into()),
            _ => {}
        }
        if !why.is_empty() {
            failures.push(format!(
                "{} ({}):\n  {}\n--- config\n{}--- keepalived\n{ke}--- fulcrum\n{fe}",
                c.name,
                file.display(),
                why.join("\n  "),
                c.text
            ));
        }
    }
    // A missing file: keepalived says so and exits 0 (4 with -e); fulcrum always behaves as with -e.
    let missing = lab.dir.join("missing.conf");
    let (kc, ke) = run_in(&lab.ns, &["keepalived", "-t", "-f"], &missing);
    let (kce, _) = run_in(&lab.ns, &["keepalived", "-t", "-e", "-f"], &missing);
    let (fc, fe) = run_in(&lab.ns, &[fulcrum, "keepalived", "-t", "-f"], &missing);
    let (fce, _) = run_in(
        &lab.ns,
        &[fulcrum, "keepalived", "-t", "-e", "-f"],
        &missing,
    );
    if (kc, kce, fc, fce) != (0, 4, 4, 4) || !ke.contains("missing") || !fe.contains("is missing") {
        failures.push(format!(
            "missing file: keepalived {kc} (-e {kce}), fulcrum {fc} (-e {fce})\n--- keepalived\n{ke}--- fulcrum\n{fe}"
        ));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        cases.len() + 1,
        failures.join("\n\n")
    );
}
