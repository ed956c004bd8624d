//! Tests for every keepalived.conf keyword fulcrum understands, and for every error.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::*;

pub(super) fn ok(text: &str) -> Config {
    match parse_str("test.conf", text) {
        Ok(c) => c,
        Err(d) => panic!("unexpected diagnostics:\n{d}"),
    }
}

/// Parses text expected to fail; returns "line:keyword:message" strings.
pub(super) fn errs(text: &str) -> Vec<String> {
    match parse_str("test.conf", text) {
        Ok(_) => panic!("expected diagnostics"),
        Err(d) => {
            d.0.iter()
                .map(|d| format!("{}:{}:{}", d.location.line, d.keyword, d.message))
                .collect()
        }
    }
}

fn has(errs: &[String], needle: &str) -> bool {
    errs.iter().any(|e| e.contains(needle))
}

/// Whether the configuration loaded with a warning that reads "line:keyword:message..." from its start.
fn warned(c: &Config, prefix: &str) -> bool {
    c.warnings.iter().any(|w| {
        let d = &w.diagnostic;
        format!("{}:{}:{}", d.location.line, d.keyword, d.message).starts_with(prefix)
    })
}

const MINIMAL: &str = "
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        10.99.0.100
    }
}
";

fn inst(body: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {{\n 10.99.0.100\n }}\n{body}\n}}\n"
    )
}

#[test]
fn minimal_instance_defaults() {
    let c = ok(MINIMAL);
    assert_eq!(c.global, GlobalDefs::default());
    let i = &c.instances[0];
    assert_eq!(i.name, "VI_1");
    assert_eq!(i.interface, "eth0");
    assert_eq!(i.virtual_router_id, 51);
    assert_eq!(i.priority, 100);
    assert_eq!(i.advert_int, Duration::from_secs(1));
    assert_eq!(i.version, 2);
    assert!(i.preempt);
    assert_eq!(i.state, None);
    assert_eq!(i.location.line, 2);
    let v = &i.virtual_ipaddress[0];
    assert_eq!(v.addr, "10.99.0.100".parse::<IpAddr>().unwrap());
    assert_eq!(v.prefix_len, 32);
    assert!(!i.is_ipv6());
}

#[test]
fn full_reference_style_config() {
    let c = ok(r#"
! Configuration File for keepalived
global_defs {
   notification_email {
     admin@example.com
   }
   router_id LVS_DEVEL
   vrrp_version 2
   vrrp_garp_master_delay 3
   vrrp_garp_master_repeat 4
   vrrp_garp_master_refresh 60
   vrrp_garp_master_refresh_repeat 2
   script_user nobody nogroup
   enable_script_security
   vrrp_mcast_group4 224.0.0.19
   vrrp_mcast_group6 ff02::13
   v3_checksum_as_v2
   vrrp_strict
}

vrrp_script chk_haproxy {
    script "/usr/bin/killall -0 haproxy"
    interval 2
    timeout 3
    fall 2
    rise 3
    weight -20 reverse
    user root
    init_fail
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 2
    nopreempt
    preempt_delay 10
    authentication {
        auth_type PASS
        auth_pass s3cret
    }
    virtual_ipaddress {
        10.99.0.100/24 brd 10.99.0.255 dev eth1 scope global label eth0:vip
        10.99.0.101
    }
    virtual_ipaddress_excluded {
        10.99.1.1/24
    }
    unicast_src_ip 10.99.0.1
    unicast_peer {
        10.99.0.2
        10.99.0.3
    }
    mcast_src_ip 10.99.0.1
    track_script {
        chk_haproxy weight -30
    }
    track_interface {
        eth0
        eth1 weight -10
    }
    notify_master "/etc/keepalived/master.sh arg"
    notify_backup /etc/keepalived/backup.sh
    notify_fault /etc/keepalived/fault.sh
    notify_stop /etc/keepalived/stop.sh
    notify /etc/keepalived/notify.sh
    garp_master_delay 1
    garp_master_repeat 3
    garp_master_refresh 30
    garp_master_refresh_repeat 2
    accept
    dont_track_primary
    smtp_alert
}
"#);
    let g = &c.global;
    assert_eq!(g.router_id.as_deref(), Some("LVS_DEVEL"));
    assert_eq!(g.garp_master_delay, Duration::from_secs(3));
    assert_eq!(g.garp_master_repeat, 4);
    assert_eq!(g.garp_master_refresh, Some(Duration::from_secs(60)));
    assert_eq!(g.garp_master_refresh_repeat, 2);
    assert_eq!(
        g.script_user,
        Some(ScriptUser {
            user: "nobody".into(),
            group: Some("nogroup".into())
        })
    );
    assert!(g.enable_script_security && g.v3_checksum_as_v2 && g.vrrp_strict);
    assert_eq!(g.mcast_group4, Ipv4Addr::new(224, 0, 0, 19));
    assert_eq!(
        g.mcast_group6,
        "ff02::13".parse::<std::net::Ipv6Addr>().unwrap()
    );

    let s = &c.scripts[0];
    assert_eq!(s.name, "chk_haproxy");
    assert_eq!(s.script, "/usr/bin/killall -0 haproxy");
    assert_eq!(s.interval, Duration::from_secs(2));
    assert_eq!(s.timeout, Some(Duration::from_secs(3)));
    assert_eq!(
        (s.fall, s.rise, s.weight, s.reverse, s.init_fail),
        (2, 3, -20, true, true)
    );
    assert_eq!(s.user.as_ref().unwrap().user, "root");
    assert_eq!(c.script("chk_haproxy"), Some(s));

    let i = &c.instances[0];
    // vrrp_strict corrects what it does not allow, as keepalived does, and says so.
    let warnings: Vec<String> = c
        .warnings
        .iter()
        .map(|w| format!("{}:{}", w.diagnostic.location.line, w.diagnostic.keyword))
        .collect();
    assert_eq!(
        warnings,
        [
            "40:authentication",
            "33:state",
            "39:preempt_delay",
            "73:accept",
            "61:eth0"
        ]
    );
    assert_eq!(i.state, Some(InitialState::Backup));
    assert_eq!(i.priority, 150);
    assert_eq!(i.advert_int, Duration::from_secs(2));
    assert!(!i.preempt);
    assert_eq!(i.preempt_delay, Duration::ZERO);
    assert_eq!(i.authentication, None);
    let v = &i.virtual_ipaddress[0];
    assert_eq!(v.prefix_len, 24);
    assert_eq!(v.brd, Some(Ipv4Addr::new(10, 99, 0, 255)));
    assert_eq!(v.dev.as_deref(), Some("eth1"));
    assert_eq!(v.scope, Some(0));
    assert_eq!(v.label.as_deref(), Some("eth0:vip"));
    assert_eq!(i.virtual_ipaddress.len(), 2);
    assert_eq!(i.virtual_ipaddress_excluded[0].prefix_len, 24);
    assert_eq!(i.unicast_src_ip, Some("10.99.0.1".parse().unwrap()));
    assert_eq!(i.unicast_peers.len(), 2);
    assert_eq!(i.mcast_src_ip, Some("10.99.0.1".parse().unwrap()));
    assert_eq!(i.track_scripts[0].name, "chk_haproxy");
    assert_eq!(i.track_scripts[0].weight, Some(-30));
    // The instance's own interface is not tracked again.
    assert_eq!(
        i.track_interfaces,
        vec![TrackInterface {
            name: "eth1".into(),
            weight: -10,
            reverse: false
        },]
    );
    assert_eq!(
        i.notify.master.as_deref(),
        Some("/etc/keepalived/master.sh arg")
    );
    assert_eq!(
        i.notify.backup.as_deref(),
        Some("/etc/keepalived/backup.sh")
    );
    assert_eq!(i.notify.fault.as_deref(), Some("/etc/keepalived/fault.sh"));
    assert_eq!(i.notify.stop.as_deref(), Some("/etc/keepalived/stop.sh"));
    assert_eq!(i.notify.any.as_deref(), Some("/etc/keepalived/notify.sh"));
    assert_eq!(i.garp_master_delay, Some(Duration::from_secs(1)));
    assert_eq!(i.garp_master_repeat, Some(3));
    assert_eq!(i.garp_master_refresh, Some(Duration::from_secs(30)));
    assert_eq!(i.garp_master_refresh_repeat, Some(2));
    assert!(i.dont_track_primary);
    // vrrp_strict leaves VRRPv2 no accept mode, even written out.
    assert!(!i.accept);
    assert!(i.virtual_routes.is_empty());
    let ignored: Vec<&str> = c.ignored.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(ignored, vec!["notification_email", "smtp_alert"]);
}

#[test]
fn v3_ipv6_instance_with_fractional_interval() {
    let c = ok("
global_defs {
  vrrp_version 3
}
vrrp_instance V6 {
  interface eth0
  virtual_router_id 7
  advert_int 0.5
  preempt
  virtual_ipaddress {
    fe80::7/64
    fd00::7/64 scope link
  }
}");
    let i = &c.instances[0];
    assert_eq!(i.version, 3);
    assert!(i.is_ipv6());
    assert_eq!(i.advert_int, Duration::from_millis(500));
    assert_eq!(i.virtual_ipaddress[1].scope, Some(253));
    assert_eq!(i.virtual_ipaddress[0].prefix_len, 64);
}

#[test]
fn instance_version_overrides_global() {
    let c = ok(&inst(
        "version 3\nauthentication {\n auth_type PASS\n auth_pass x\n}",
    ));
    assert_eq!(c.instances[0].version, 3);
    // VRRPv3 has no authentication: dropped with a warning, as keepalived does.
    assert_eq!(c.instances[0].authentication, None);
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(
        c.warnings[0].to_string(),
        "[WARNING] test.conf:8: 'authentication': VRRPv3 has no authentication: it is not used"
    );
}

#[test]
fn state_backup_and_ah() {
    let c = ok(&inst(
        "state BACKUP\nauthentication {\n auth_type AH\n auth_pass abc\n}",
    ));
    assert_eq!(c.instances[0].state, Some(InitialState::Backup));
    assert_eq!(
        c.instances[0].authentication,
        Some(Authentication::Ah("abc".into()))
    );
}

#[test]
fn auth_pass_is_truncated_to_8_bytes() {
    let c = ok(&inst(
        "authentication {\n auth_type PASS\n auth_pass 0123456789\n}",
    ));
    assert_eq!(
        c.instances[0].authentication,
        Some(Authentication::Pass("01234567".into()))
    );
    assert!(warned(&c, "9:auth_pass:is longer than 8 characters"));
    assert!(ok(&inst(
        "authentication {\n auth_type PASS\n auth_pass 01234567\n}"
    ))
    .warnings
    .is_empty());
}

#[test]
fn sync_group() {
    let c = ok("
vrrp_sync_group G1 {
  group {
    VI_1
    VI_2
  }
  notify_master /bin/m
  notify /bin/n
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  virtual_ipaddress {
    10.0.0.1
  }
}
vrrp_instance VI_2 {
  interface eth1
  virtual_router_id 2
  virtual_ipaddress {
    10.0.1.1
  }
}");
    let g = &c.sync_groups[0];
    assert_eq!(g.name, "G1");
    assert_eq!(g.members, vec!["VI_1", "VI_2"]);
    assert_eq!(g.notify.master.as_deref(), Some("/bin/m"));
    assert_eq!(g.notify.any.as_deref(), Some("/bin/n"));
}

#[test]
fn braces_on_their_own_lines_and_one_line_blocks() {
    let c = ok("
vrrp_script chk { script /bin/true }
vrrp_instance VI_1
{
  interface eth0
  virtual_router_id 51
  virtual_ipaddress
  {
    10.99.0.100
  }
  track_script { chk }
}");
    assert_eq!(c.instances[0].track_scripts[0].name, "chk");
    assert_eq!(c.scripts[0].script, "/bin/true");
}

#[test]
fn comments_everywhere() {
    let c = ok("
# hash comment
! bang comment
vrrp_instance VI_1 { # trailing
  interface eth0 ! trailing bang
  virtual_router_id 51
  virtual_ipaddress {
    10.99.0.100 # the VIP
  }
}");
    assert_eq!(c.instances[0].virtual_ipaddress.len(), 1);
}

#[test]
fn unknown_keywords_name_file_and_line() {
    let e = errs(&inst("bogus_keyword 1"));
    assert_eq!(e, vec!["7:bogus_keyword:unknown keyword in vrrp_instance"]);
    let e = errs("global_defs {\n  what_is_this\n}\n");
    assert_eq!(e, vec!["2:what_is_this:unknown keyword in global_defs"]);
    let e = errs("frobnicate {\n}\n");
    assert_eq!(e, vec!["1:frobnicate:unknown keyword in the top level"]);
    let e = errs("vrrp_script s {\n script /bin/true\n nope 1\n}\n");
    assert_eq!(e, vec!["3:nope:unknown keyword in vrrp_script"]);
    let e = errs(&inst(
        "authentication {\n auth_type PASS\n auth_pass x\n color red\n}",
    ));
    assert!(has(&e, "color:unknown keyword in authentication"));
    // The rendered form names the file.
    let d = parse_str("/etc/keepalived/keepalived.conf", "nope\n").unwrap_err();
    assert_eq!(
        d.to_string(),
        "[ALERT] /etc/keepalived/keepalived.conf:1: 'nope': unknown keyword in the top level"
    );
}

#[test]
fn virtual_server_beside_vrrp_and_an_empty_group() {
    let e = errs(&format!(
        "{MINIMAL}
virtual_server 10.0.0.1 80 {{
  delay_loop 6
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 10.0.1.1 80 {{
    weight 1
    TCP_CHECK {{
      connect_timeout 3
    }}
  }}
}}
virtual_server_group G {{
}}"
    ));
    assert_eq!(e, ["22:virtual_server_group:has no members"]);
}

#[test]
fn value_range_errors() {
    let e = errs(&inst("priority 0"));
    assert!(has(
        &e,
        "priority:expected an integer from 1 to 255, got '0'"
    ));
    let e = errs(&inst("priority 256"));
    assert!(has(&e, "priority:expected an integer from 1 to 255"));
    let e = errs(&MINIMAL.replace("virtual_router_id 51", "virtual_router_id 0"));
    assert!(has(
        &e,
        "virtual_router_id:expected an integer from 1 to 255"
    ));
    let e = errs(&MINIMAL.replace("virtual_router_id 51", "virtual_router_id 300"));
    assert!(has(
        &e,
        "virtual_router_id:expected an integer from 1 to 255"
    ));
    let e = errs(&inst("advert_int 1.5"));
    assert!(has(&e, "advert_int:VRRPv2 needs whole seconds"));
    let e = errs(&inst("version 3\nadvert_int 50"));
    assert!(has(&e, "advert_int:VRRPv3 needs 0.01 to 40.95 seconds"));
    let e = errs(&inst("advert_int abc"));
    assert!(has(&e, "advert_int:expected a number of seconds"));
    let e = errs(&inst("version 4"));
    assert!(has(&e, "version:expected an integer from 2 to 3"));
    let e = errs(&inst("state SLAVE"));
    assert!(has(&e, "state:expected MASTER or BACKUP"));
    let e = errs(&inst("priority 1 2"));
    assert!(has(&e, "priority:expected one argument, got 2"));
    let e = errs(&inst("nopreempt yes"));
    assert!(has(&e, "nopreempt:expected no argument, got 1"));
    let e = errs(&inst("interface { eth0 }"));
    assert!(has(&e, "interface:takes no block"));
    let e = errs("global_defs {\n vrrp_version 5\n vrrp_mcast_group4 10.0.0.1\n vrrp_mcast_group6 fd00::1\n}\n");
    assert_eq!(e.len(), 3);
}

#[test]
fn vip_syntax_errors() {
    let e = errs(&MINIMAL.replace("10.99.0.100", "10.99.0.300"));
    assert!(has(&e, "10.99.0.300:'10.99.0.300' is not an address"));
    let e = errs(&MINIMAL.replace("10.99.0.100", "10.99.0.100/33"));
    assert!(has(&e, "bad prefix length '33'"));
    let e = errs(&MINIMAL.replace("10.99.0.100", "10.99.0.100 dev"));
    assert!(has(&e, "'dev' needs a value"));
    let e = errs(&MINIMAL.replace("10.99.0.100", "10.99.0.100 scope galaxy"));
    assert!(has(&e, "unknown scope 'galaxy'"));
    let e = errs(&MINIMAL.replace("10.99.0.100", "10.99.0.100 colour red"));
    assert!(has(&e, "unknown address option 'colour'"));
    let e = errs(&MINIMAL.replace("10.99.0.100", "10.99.0.100 label abcdefghijklmnopq"));
    assert!(has(&e, "longer than 15"));
    let e = errs(&MINIMAL.replace("10.99.0.100", "10.99.0.100 brd fd00::1"));
    assert!(has(&e, "bad broadcast address"));
    let e = errs(&MINIMAL.replace("10.99.0.100", "10.99.0.100\n fd00::1"));
    assert!(has(&e, "mixes IPv4 and IPv6"));
    let e = errs(&MINIMAL.replace("10.99.0.100", "fd00::1\n 10.99.0.100"));
    assert!(has(&e, "mixes IPv4 and IPv6"));
}

#[test]
fn missing_required_keywords() {
    let e = errs("vrrp_instance VI_1 {\n}\n");
    assert!(has(&e, "1:vrrp_instance:needs an 'interface'"));
    assert!(has(&e, "1:vrrp_instance:needs a 'virtual_router_id'"));
    assert!(has(&e, "1:vrrp_instance:needs a 'virtual_ipaddress'"));
    let e = errs("vrrp_instance {\n}\n");
    assert!(has(&e, "expected exactly one name"));
    let e = errs("vrrp_instance VI_1\n");
    assert!(has(&e, "expected a '{ ... }' block"));
    let e = errs("vrrp_script s {\n interval 1\n}\n");
    assert!(has(&e, "1:vrrp_script:has no 'script' to run"));
    let e = errs(&inst("authentication {\n auth_pass x\n}"));
    assert!(has(&e, "needs 'auth_type PASS|AH'"));
    let e = errs(&inst("authentication {\n auth_type PASS\n}"));
    assert!(has(&e, "needs 'auth_pass'"));
    let e = errs(&inst("authentication {\n auth_type MD5\n auth_pass x\n}"));
    assert!(has(&e, "expected PASS or AH"));
}

#[test]
fn references_are_checked() {
    let e = errs(&inst("track_script {\n chk_missing\n}"));
    assert!(has(&e, "8:track_script:no vrrp_script named 'chk_missing'"));
    let e = errs(&format!(
        "{MINIMAL}\nvrrp_sync_group G {{\n group {{\n VI_1\n VI_9\n }}\n}}\n"
    ));
    assert!(has(&e, "vrrp_sync_group:no vrrp_instance named 'VI_9'"));
    let e = errs(&format!(
        "{MINIMAL}\nvrrp_sync_group G {{\n group {{\n VI_1\n }}\n}}\nvrrp_sync_group H {{\n group {{\n VI_1\n }}\n}}\n"
    ));
    assert!(has(&e, "instance 'VI_1' is already in group 'G'"));
    let e = errs("vrrp_sync_group G {\n notify /x\n}\n");
    assert!(has(&e, "needs a 'group { INSTANCE ... }' block"));
}

#[test]
fn duplicates_are_errors() {
    let e = errs(&format!("{MINIMAL}{MINIMAL}"));
    assert!(has(&e, "'VI_1' is defined twice"));
    assert!(has(&e, "VRID 51 on eth0 is also used by instance 'VI_1'"));
    let e = errs("vrrp_script a {\n script /x\n}\nvrrp_script a {\n script /y\n}\n");
    assert!(has(&e, "4:vrrp_script:'a' is defined twice"));
}

#[test]
fn track_entry_errors() {
    let base = "vrrp_script chk {\n script /bin/true\n}\n";
    let e = errs(&format!(
        "{base}{}",
        inst("track_script {\n chk weight 999\n}")
    ));
    assert!(has(&e, "expected NAME [weight W [reverse]]"));
    let e = errs(&format!("{base}{}", inst("track_script {\n chk heavy\n}")));
    assert!(has(&e, "expected NAME [weight W [reverse]]"));
    let c = ok(&format!(
        "{base}{}",
        inst("track_script {\n chk weight 10 reverse\n}")
    ));
    assert_eq!(c.instances[0].track_scripts[0].weight, Some(10));
    assert!(c.instances[0].track_scripts[0].reverse);
    let e = errs(&inst("track_interface {\n eth1 weight\n}"));
    assert!(has(&e, "expected INTERFACE [weight W [reverse]]"));
    let e = errs("vrrp_script s {\n script /x\n weight 300\n}\n");
    assert!(has(&e, "expected a weight from -253 to 253"));
    let e = errs("vrrp_script s {\n script /x\n weight 3 forward\n}\n");
    assert!(has(&e, "expected a weight from -253 to 253"));
}

#[test]
fn unicast_family_checks() {
    let e = errs(&inst("unicast_peer {\n fd00::2\n}"));
    assert!(has(&e, "address fd00::2 is not of the instance's family"));
    let e = errs(&inst("unicast_peer {\n not-an-ip\n}"));
    assert!(has(&e, "'not-an-ip' is not an IP address"));
}

#[test]
fn brace_errors() {
    let e = errs("}\n");
    assert!(has(&e, "1:}:'}' closes no block"));
    let e = errs("vrrp_instance VI_1 {\n interface eth0\n");
    assert!(has(&e, "1:vrrp_instance:block is never closed"));
    let e = errs("{\n}\n");
    assert!(has(&e, "block opened without a keyword"));
    let e = errs("vrrp_script s {\n script \"/bin/true\n}\n");
    assert!(has(&e, "unterminated quoted string"));
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("fulcrum-kconf-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn include_with_glob_relative_to_including_file() {
    let d = tempdir("inc");
    std::fs::create_dir_all(d.join("conf.d")).unwrap();
    std::fs::write(
        d.join("keepalived.conf"),
        "global_defs {\n router_id r1\n}\ninclude conf.d/*.conf\n",
    )
    .unwrap();
    std::fs::write(
        d.join("conf.d/a.conf"),
        "vrrp_script chk {\n script /bin/true\n}\ninclude ../more/b.inc\n",
    )
    .unwrap();
    std::fs::write(d.join("conf.d/z.conf"), MINIMAL).unwrap();
    std::fs::write(d.join("conf.d/ignored.txt"), "garbage\n").unwrap();
    std::fs::create_dir_all(d.join("more")).unwrap();
    std::fs::write(
        d.join("more/b.inc"),
        "vrrp_script chk2 {\n script /bin/false\n}\n",
    )
    .unwrap();
    let c = load(d.join("keepalived.conf")).unwrap();
    assert_eq!(c.global.router_id.as_deref(), Some("r1"));
    assert_eq!(c.scripts.len(), 2);
    assert_eq!(c.instances.len(), 1);
    // Locations point into the included file.
    assert!(c.instances[0].location.file.ends_with("conf.d/z.conf"));
    assert_eq!(c.instances[0].location.line, 2);

    // An error in an included file names that file.
    std::fs::write(d.join("conf.d/m.conf"), "\n\nbad_kw\n").unwrap();
    let e = load(d.join("keepalived.conf")).unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert!(e.0[0].location.file.ends_with("conf.d/m.conf"));
    assert_eq!(e.0[0].location.line, 3);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn include_inside_a_block_and_loops_and_missing() {
    let d = tempdir("inc2");
    std::fs::write(d.join("vips"), "10.99.0.100\n10.99.0.101\n").unwrap();
    std::fs::write(
        d.join("main.conf"),
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n include vips\n }\n}\n",
    )
    .unwrap();
    let c = load(d.join("main.conf")).unwrap();
    assert_eq!(c.instances[0].virtual_ipaddress.len(), 2);

    std::fs::write(d.join("loop.conf"), "include loop.conf\n").unwrap();
    let e = load(d.join("loop.conf")).unwrap_err();
    assert!(e.0.iter().any(|d| d.message.contains("nested deeper")));

    std::fs::write(d.join("miss.conf"), "include nothing-here-*.conf\n").unwrap();
    let e = load(d.join("miss.conf")).unwrap_err();
    assert!(e.0[0].message.contains("no file matches"));
    assert_eq!(e.0[0].location.line, 1);

    let e = load(d.join("does-not-exist.conf")).unwrap_err();
    assert!(e.0[0].message.contains("cannot read"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn parse_str_includes_relative_to_name() {
    let d = tempdir("inc3");
    std::fs::write(
        d.join("s.conf"),
        "vrrp_script chk {\n script /bin/true\n}\n",
    )
    .unwrap();
    let c = parse_str(
        d.join("virtual.conf"),
        &format!("include s.conf\n{MINIMAL}"),
    )
    .unwrap();
    assert_eq!(c.scripts.len(), 1);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn notify_takes_several_words() {
    let c = ok(&inst("notify_master /bin/echo master now"));
    assert_eq!(
        c.instances[0].notify.master.as_deref(),
        Some("/bin/echo master now")
    );
    let e = errs(&inst("notify_master"));
    assert!(has(&e, "expected a script command line"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let e = errs("a\nb\nc\n");
    assert_eq!(e.len(), 3);
}

proptest::proptest! {
    #[test]
    fn random_text_never_panics(text in "[a-z_{}\"#! \n0-9./]{0,300}") {
        let _ = parse_str("fuzz.conf", &text);
    }
}

#[test]
fn keywords_whose_behaviour_is_missing_are_errors_not_silence() {
    let e = errs(
        "vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        198.18.0.100/24
    }
    virtual_routes {
        198.19.0.0/16 via 198.18.0.254
    }
    use_vmac
    no_accept
    accept
}
",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("10:use_vmac:not supported yet"), "{e:?}");
}

#[test]
fn virtual_routes_in_keepalived_syntax() {
    use std::net::Ipv6Addr;
    let c = ok(&inst(
        " virtual_routes {
    198.19.5.0/24 via 198.18.0.2
    src 198.18.0.100 to 198.19.6.0/24 via 198.18.0.254 dev eth1 metric 10 table 100 scope global proto static
    198.19.7.0/24 dev eth1 scope link no_track
    0.0.0.0/0 gw 198.18.0.1 table main
    default via fd00::1 table 7 protocol keepalived
    blackhole 198.19.8.0/24
    unreachable fd00:99::/64 metric 5
    prohibit 198.19.9.9 priority 3
    to fd00:5::/48 via fe80::1 dev eth0 src fd00::100 preference 1024 table local
 }",
    ));
    let r = &c.instances[0].virtual_routes;
    assert_eq!(r.len(), 9);
    assert_eq!(r[0].dest, "198.19.5.0".parse::<IpAddr>().unwrap());
    assert_eq!(r[0].prefix_len, 24);
    assert_eq!(r[0].kind, RouteKind::Unicast);
    assert_eq!(r[0].via, Some("198.18.0.2".parse().unwrap()));
    assert_eq!(
        (r[0].dev.as_deref(), r[0].src, r[0].metric, r[0].table),
        (None, None, None, None)
    );
    assert_eq!((r[0].scope, r[0].protocol), (None, None));
    assert_eq!(r[0].location.line, 8);
    assert_eq!(r[1].src, Some("198.18.0.100".parse().unwrap()));
    assert_eq!(r[1].dest, "198.19.6.0".parse::<IpAddr>().unwrap());
    assert_eq!(r[1].dev.as_deref(), Some("eth1"));
    assert_eq!(
        (r[1].metric, r[1].table, r[1].scope, r[1].protocol),
        (Some(10), Some(100), Some(0), Some(4))
    );
    assert_eq!((r[2].via, r[2].scope), (None, Some(253)));
    assert_eq!(r[3].dest, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!((r[3].prefix_len, r[3].table), (0, Some(254)));
    // `default` takes the gateway's family.
    assert_eq!(r[4].dest, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    assert!(r[4].is_ipv6());
    assert_eq!((r[4].table, r[4].protocol), (Some(7), Some(18)));
    assert_eq!(r[5].kind, RouteKind::Blackhole);
    assert_eq!(r[5].prefix_len, 24);
    assert_eq!(r[6].kind, RouteKind::Unreachable);
    assert_eq!((r[6].prefix_len, r[6].metric), (64, Some(5)));
    assert_eq!(r[7].kind, RouteKind::Prohibit);
    assert_eq!((r[7].prefix_len, r[7].metric), (32, Some(3)));
    assert_eq!(r[8].via, Some("fe80::1".parse().unwrap()));
    assert_eq!((r[8].metric, r[8].table), (Some(1024), Some(255)));
}

#[test]
fn virtual_route_errors_name_file_and_line() {
    let e = errs(&inst(
        " virtual_routes {
    198.19.5.0/24 via 198.18.0.2 mtu 1400
    198.19.6.0/24 via 198.18.0.2 or 198.18.0.3
    198.19.7.0/33 dev eth0
    bogus via 198.18.0.1
    198.19.8.0/24 via
    198.19.9.0/24 via fd00::1
    default src fd00::1 via 198.18.0.1
    blackhole 198.19.10.0/24 via 198.18.0.1
    198.19.11.0/24 metric -1
    198.19.12.0/24 table sideways
    198.19.13.0/24 scope galaxy
    198.19.14.0/24 proto smoke-signals
    198.19.15.0/24 dev eth0 dev eth1
    via 198.18.0.1
    198.19.16.0/24 blackhole
    198.19.17.0/24 table 0
 }",
    ));
    assert_eq!(e.len(), 16, "{e:?}");
    assert!(
        e[0].starts_with("8:198.19.5.0/24:unknown route option 'mtu'"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("9:198.19.6.0/24:unknown route option 'or'"),
        "{e:?}"
    );
    assert!(e[2].contains("bad prefix length '33'"), "{e:?}");
    assert!(
        e[3].starts_with("11:bogus:'bogus' is not a route destination"),
        "{e:?}"
    );
    assert!(e[4].contains("'via' needs a value"), "{e:?}");
    assert!(
        e[5].contains("gateway fd00::1 is not of the destination's family"),
        "{e:?}"
    );
    assert!(
        e[6].contains("14:default:source fd00::1 is not of the destination's family"),
        "{e:?}"
    );
    assert!(e[7].contains("takes no 'via' or 'dev'"), "{e:?}");
    assert!(e[8].contains("bad metric '-1'"), "{e:?}");
    assert!(e[9].contains("unknown table 'sideways'"), "{e:?}");
    assert!(e[10].contains("unknown scope 'galaxy'"), "{e:?}");
    assert!(
        e[11].contains("unknown route protocol 'smoke-signals'"),
        "{e:?}"
    );
    assert!(e[12].contains("'dev' is given twice"), "{e:?}");
    assert!(e[13].starts_with("21:via:no destination"), "{e:?}");
    assert!(
        e[14].contains("'blackhole' must come once, before the destination"),
        "{e:?}"
    );
    assert!(e[15].contains("unknown table '0'"), "{e:?}");
    let e = errs(&inst(" virtual_routes 198.19.5.0/24"));
    assert!(
        has(&e, "virtual_routes:expected a '{ ... }' block"),
        "{e:?}"
    );
}

#[test]
fn accept_mode_defaults_and_keywords() {
    // accept is the default; no_accept turns it off; the last keyword wins.
    assert!(ok(MINIMAL).instances[0].accept);
    assert!(!ok(&inst(" no_accept")).instances[0].accept);
    assert!(ok(&inst(" no_accept\n accept")).instances[0].accept);
    // Under vrrp_strict an instance that says neither drops traffic to its addresses, as keepalived does.
    let strict = |body: &str| ok(&format!("global_defs {{\n vrrp_strict\n}}\n{}", inst(body)));
    assert!(!strict("").instances[0].accept);
    // VRRPv2 has no accept mode under vrrp_strict: `accept` is reset with a warning; VRRPv3 keeps it.
    let c = strict(" accept");
    assert!(!c.instances[0].accept);
    assert!(warned(&c, "10:accept:under vrrp_strict VRRPv2"));
    let c = strict(" version 3\n accept");
    assert!(c.instances[0].accept && c.warnings.is_empty());
    let e = errs(&inst(" no_accept yes"));
    assert!(has(&e, "no_accept:expected no argument, got 1"), "{e:?}");
    let e = errs(&inst(" accept { }"));
    assert!(has(&e, "accept:takes no block"), "{e:?}");
}

/// An instance with `addrs` as its virtual addresses, `body` before them and `global` as global_defs.
fn inst6(global: &str, body: &str, addrs: &str) -> String {
    format!(
        "global_defs {{\n{global}\n}}\nvrrp_instance V6 {{\n interface eth0\n virtual_router_id 7\n{body}\n \
         virtual_ipaddress {{\n{addrs}\n }}\n}}\n"
    )
}

#[test]
fn ipv6_without_version_runs_vrrp_v3_silently() {
    // keepalived runs VRRPv3 for IPv6 addresses whatever vrrp_version says, and its -t reports nothing.
    for global in ["", " vrrp_version 2", " vrrp_version 3"] {
        let c = ok(&inst6(global, "", " fd00::7/64"));
        assert_eq!(c.instances[0].version, 3, "{global}");
        assert!(c.instances[0].is_ipv6());
        assert!(c.warnings.is_empty(), "{global}: {:?}", c.warnings);
    }
    // So VRRPv3's fractional intervals are fine, and authentication is dropped with VRRPv3's warning.
    let c = ok(&inst6("", " advert_int 0.5", " fd00::7"));
    assert_eq!(c.instances[0].advert_int, Duration::from_millis(500));
    let c = ok(&inst6(
        "",
        " authentication {\n auth_type PASS\n auth_pass x\n }",
        " fd00::7",
    ));
    assert_eq!(c.instances[0].authentication, None);
    assert!(warned(&c, "7:authentication:VRRPv3 has no authentication"));
    // IPv4 follows vrrp_version; an instance's own `version` wins.
    let v4 =
        |global: &str, body: &str| ok(&inst6(global, body, " 198.18.0.7")).instances[0].version;
    assert_eq!(v4("", ""), 2);
    assert_eq!(v4(" vrrp_version 3", ""), 3);
    assert_eq!(v4(" vrrp_version 3", " version 2"), 2);
    // An explicit `version 3` with IPv6 is what it was.
    assert!(ok(&inst6(" vrrp_version 2", " version 3", " fd00::7"))
        .warnings
        .is_empty());
}

#[test]
fn ipv6_with_an_explicit_version_2() {
    // keepalived would send its non-standard VRRPv2 over IPv6; fulcrum refuses, naming the line.
    let e = errs(&inst6("", " version 2", " fd00::7"));
    assert!(
        has(&e, "7:version:fulcrum runs IPv6 instances with VRRPv3 only"),
        "{e:?}"
    );
    // Under vrrp_strict keepalived turns it into VRRPv3 and reports it; fulcrum does the same.
    let c = ok(&inst6(" vrrp_strict", " version 2", " fe80::7\n fd00::7"));
    assert_eq!(c.instances[0].version, 3);
    assert!(warned(
        &c,
        "7:version:VRRPv2 cannot carry IPv6 addresses under vrrp_strict"
    ));
    assert_eq!(c.warnings.len(), 1);
    // vrrp_strict also wants the first IPv6 address link-local.
    let c = ok(&inst6(" vrrp_strict", "", " fd00::7\n fe80::7"));
    assert!(warned(
        &c,
        "9:virtual_ipaddress:under vrrp_strict the first IPv6 address must be link-local"
    ));
    assert!(ok(&inst6(" vrrp_strict", "", " fe80::7\n fd00::7"))
        .warnings
        .is_empty());
    assert!(ok(&inst6("", "", " fd00::7\n fe80::7")).warnings.is_empty());
}

#[test]
fn unicast_peer_options_and_unicast_without_peers() {
    let c = ok(&inst(
        "unicast_peer {\n 10.99.0.2 min_ttl 0 max_ttl 255\n 10.99.0.3\n}",
    ));
    assert_eq!(c.instances[0].unicast_peers.len(), 2);
    assert!(c.warnings.is_empty());
    let ignored: Vec<&str> = c.ignored.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(ignored, ["min_ttl", "max_ttl"]);
    let e = errs(&inst("unicast_peer {\n 10.99.0.2 frob 1\n}"));
    assert!(
        has(&e, "8:10.99.0.2:unknown unicast_peer option 'frob'"),
        "{e:?}"
    );
    let e = errs(&inst("unicast_peer {\n 10.99.0.2 min_ttl\n}"));
    assert!(has(&e, "'min_ttl' needs a value"), "{e:?}");
    let e = errs(&inst("unicast_peer {\n 10.99.0.2 max_ttl 256\n}"));
    assert!(
        has(&e, "max_ttl: expected an integer from 0 to 255, got '256'"),
        "{e:?}"
    );
    let c = ok(&inst("unicast_peer {\n 10.99.0.2 min_ttl 10 max_ttl 5\n}"));
    assert!(warned(&c, "8:10.99.0.2:min_ttl 10 is above max_ttl 5"));
    // A unicast keyword without any peer: multicast, with keepalived's warning.
    let c = ok(&inst("unicast_peer {\n}"));
    assert!(c.instances[0].unicast_peers.is_empty());
    assert!(warned(
        &c,
        "7:unicast_peer:is given without any unicast peer"
    ));
    let c = ok(&inst("unicast_src_ip 10.99.0.1"));
    assert!(warned(
        &c,
        "7:unicast_src_ip:is given without any unicast peer"
    ));
    assert_eq!(c.warnings.len(), 1);
}

#[test]
fn what_keepalived_corrects_is_corrected_with_a_warning() {
    // nopreempt cannot hold with state MASTER: cleared.
    let c = ok(&inst("state MASTER\nnopreempt"));
    assert!(c.instances[0].preempt);
    assert!(warned(&c, "8:nopreempt:does not work with 'state MASTER'"));
    assert!(!ok(&inst("state BACKUP\nnopreempt")).instances[0].preempt);
    // preempt_delay means nothing without preemption.
    let c = ok(&inst("nopreempt\npreempt_delay 5"));
    assert_eq!(c.instances[0].preempt_delay, Duration::ZERO);
    assert!(warned(&c, "8:preempt_delay:has no effect with 'nopreempt'"));
    assert_eq!(
        ok(&inst("preempt_delay 5")).instances[0].preempt_delay,
        Duration::from_secs(5)
    );
    // track_interface: the instance's own interface and a second line for one interface are not used.
    let c = ok(&inst(
        "track_interface {\n eth1\n eth0 weight -5\n eth1 weight 3\n}",
    ));
    let names: Vec<&str> = c.instances[0]
        .track_interfaces
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["eth1"]);
    assert_eq!(c.instances[0].track_interfaces[0].weight, 0);
    assert!(warned(&c, "10:eth1:is tracked twice"));
    assert!(warned(&c, "9:eth0:is the instance's own interface"));
    // vrrp_strict: only the owner starts as MASTER, no authentication, no preempt_delay.
    let strict = |body: &str| ok(&format!("global_defs {{\n vrrp_strict\n}}\n{}", inst(body)));
    let c =
        strict("state MASTER\nauthentication {\n auth_type PASS\n auth_pass x\n}\npreempt_delay 3");
    let i = &c.instances[0];
    assert_eq!(i.state, Some(InitialState::Backup));
    assert_eq!(i.authentication, None);
    assert_eq!(i.preempt_delay, Duration::ZERO);
    assert!(warned(
        &c,
        "10:state:under vrrp_strict only the address owner"
    ));
    assert!(warned(
        &c,
        "11:authentication:vrrp_strict allows no authentication"
    ));
    assert!(warned(
        &c,
        "15:preempt_delay:vrrp_strict allows no preempt_delay"
    ));
    let c = strict("state MASTER\npriority 255");
    assert_eq!(c.instances[0].state, Some(InitialState::Master));
    assert!(c.warnings.is_empty());
    // A configuration with nothing to correct has no warnings.
    assert!(ok(MINIMAL).warnings.is_empty());
}

#[test]
fn fulcrum_announce_table_and_protocol() {
    let c = ok("global_defs {\n    fulcrum_announce_table 100\n}\n");
    assert_eq!(
        c.global.announce,
        Some(Announce {
            table: 100,
            protocol: ANNOUNCE_PROTOCOL
        })
    );
    let c = ok(
        "global_defs {\n    fulcrum_announce_table 4000\n    fulcrum_announce_protocol 201\n}\n",
    );
    assert_eq!(
        c.global.announce,
        Some(Announce {
            table: 4000,
            protocol: 201
        })
    );
    assert_eq!(ok("global_defs {\n}\n").global.announce, None);
    let e = errs("global_defs {\n    fulcrum_announce_table 254\n}\n");
    assert!(has(&e, "table 254 is one of the kernel's own"), "{e:?}");
    let e = errs("global_defs {\n    fulcrum_announce_protocol 201\n}\n");
    assert!(has(&e, "without fulcrum_announce_table"), "{e:?}");
    let e = errs("global_defs {\n    fulcrum_announce_table 0\n}\n");
    assert!(has(&e, "expected an integer"), "{e:?}");
}

#[test]
fn fulcrum_metrics_listen_address() {
    let c = ok("global_defs {\n    fulcrum_metrics_listen 127.0.0.1:9650\n}\n");
    assert_eq!(
        c.global.metrics_listen,
        Some("127.0.0.1:9650".parse().unwrap())
    );
    let c = ok("global_defs {\n    fulcrum_metrics_listen [::1]:9650\n}\n");
    assert_eq!(c.global.metrics_listen, Some("[::1]:9650".parse().unwrap()));
    assert_eq!(ok("global_defs {\n}\n").global.metrics_listen, None);
    let e = errs("global_defs {\n    fulcrum_metrics_listen 9650\n}\n");
    assert!(has(&e, "'9650' is not an address and port"), "{e:?}");
}

#[test]
fn lvs_sync_daemon_follows_an_instance() {
    let inst = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    priority 100\n    virtual_ipaddress {\n        198.18.0.100/24\n    }\n}\n";
    let c = ok(&format!(
        "global_defs {{\n    lvs_sync_daemon eth1 VI_1 id 7 port 9000 group 239.1.1.1\n}}\n{inst}"
    ));
    let d = c
        .global
        .lvs_sync_daemon
        .unwrap_or_else(|| panic!("no daemon"));
    assert_eq!(
        (
            d.interface.as_str(),
            d.instance.as_str(),
            d.syncid,
            d.port,
            d.maxlen
        ),
        ("eth1", "VI_1", 7, Some(9000), None)
    );
    assert_eq!(d.group, Some("239.1.1.1".parse().unwrap()));
    for (line, want) in [
        (
            "lvs_sync_daemon eth1",
            "2:lvs_sync_daemon:expected INTERFACE VRRP_INSTANCE",
        ),
        (
            "lvs_sync_daemon eth1 VI_9",
            "2:lvs_sync_daemon:no vrrp_instance named 'VI_9'",
        ),
        (
            "lvs_sync_daemon eth1 VI_1 id 300",
            "2:lvs_sync_daemon:'300' is not a sync id",
        ),
        (
            "lvs_sync_daemon eth1 VI_1 group 10.0.0.1",
            "2:lvs_sync_daemon:'10.0.0.1' is not a multicast",
        ),
        (
            "lvs_sync_daemon eth1 VI_1 weight 3",
            "2:lvs_sync_daemon:unknown option 'weight'",
        ),
        (
            "lvs_sync_daemon eth1 VI_1 id",
            "2:lvs_sync_daemon:'id' needs a value",
        ),
    ] {
        let e = errs(&format!("global_defs {{\n    {line}\n}}\n{inst}"));
        assert!(e.iter().any(|l| l.starts_with(want)), "{line}: {e:?}");
    }
}
