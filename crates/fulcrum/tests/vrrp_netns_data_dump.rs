//! keepalived's data dump (SIGUSR1, `keepalived.data`) compared with keepalived 2.2.7's for the same configuration
//! and state: every line fulcrum writes must be a line keepalived writes, in the same order (keepalived writes
//! more: the internals of its implementation, which fulcrum leaves out). Times are compared by shape.
//!
//! The JSON dump (`--signum=JSON`, `keepalived.json`) of the same run must be keepalived's, byte for byte, once the
//! transition time (checked by shape) and the advert counters (which depend on how long each ran) are set aside.
//!
//! Two cases, each run with keepalived and then with fulcrum in namespace a: a multicast master with a password
//! and two addresses (one without a prefix), and a unicast backup under nopreempt, whose peer in namespace b is a
//! keepalived of higher priority.
//!
//! Needs root, `ip netns` and keepalived; skips without them unless FULCRUM_REQUIRE_NETNS=1.

#[path = "vrrp_common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

/// keepalived always writes here (tests in this file run one at a time).
const KEEPALIVED_DATA: &str = "/tmp/keepalived.data";
const KEEPALIVED_JSON: &str = "/tmp/keepalived.json";

/// Sends the JSON signal (`keepalived --signum=JSON`) to child `idx` and returns the file it writes at `path`.
fn json_dump(lab: &mut Lab, idx: usize, path: &PathBuf) -> String {
    let _ = std::fs::remove_file(path);
    let signo = fulcrum_vrrp::cli::signum("JSON").unwrap();
    // SAFETY: kill(2) on the PID of a child this test started.
    unsafe { libc::kill(lab.children[idx].id() as i32, signo) };
    assert!(
        lab.until(Duration::from_secs(5), || path.exists())
            .is_some(),
        "no JSON dump at {}\n{}",
        path.display(),
        lab.logs()
    );
    std::thread::sleep(Duration::from_millis(300));
    std::fs::read_to_string(path).unwrap()
}

/// The JSON dump with `last_transition` (after checking its shape: seconds, a point, six digits) and the advert
/// counters replaced by placeholders.
fn json_normalized(text: &str) -> String {
    let mut out = text.trim_end().to_string();
    for key in [
        "\"last_transition\":",
        "\"advert_rcvd\":",
        "\"advert_sent\":",
    ] {
        let mut from = 0;
        while let Some(k) = out[from..].find(key) {
            let start = from + k + key.len();
            let len = out[start..]
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(out.len() - start);
            let value = out[start..start + len].to_string();
            if key.contains("last_transition") {
                let (secs, us) = value.split_once('.').unwrap_or(("", ""));
                assert!(
                    !secs.is_empty() && us.len() == 6,
                    "last_transition {value:?} in {text}"
                );
            } else {
                assert!(!value.is_empty(), "{key} in {text}");
            }
            out.replace_range(start..start + len, "N");
            from = start + 1;
        }
    }
    out
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Sends SIGUSR1 to child `idx` and returns the dump it writes at `path`.
fn dump(lab: &mut Lab, idx: usize, ns: &str, path: &PathBuf) -> String {
    let _ = std::fs::remove_file(path);
    lab.signal(idx, ns, Signal::SIGUSR1);
    assert!(
        lab.until(Duration::from_secs(5), || path.exists())
            .is_some(),
        "no data dump at {}\n{}",
        path.display(),
        lab.logs()
    );
    // keepalived writes the file in pieces: let it finish.
    std::thread::sleep(Duration::from_millis(300));
    std::fs::read_to_string(path).unwrap()
}

/// Whether `s` has the shape of `pattern`: `D` a digit, `A` an upper-case and `a` a lower-case letter, `_` a
/// space or a digit, anything else itself.
fn shaped(s: &str, pattern: &str) -> bool {
    s.len() == pattern.len()
        && s.chars().zip(pattern.chars()).all(|(c, p)| match p {
            'D' => c.is_ascii_digit(),
            'A' => c.is_ascii_uppercase(),
            'a' => c.is_ascii_lowercase(),
            '_' => c == ' ' || c.is_ascii_digit(),
            _ => c == p,
        })
}

/// `Last transition = SECS.USECS (DATE)` becomes `Last transition = T` once its shape is checked.
fn normalize(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| match l.strip_prefix("   Last transition = ") {
            Some(t) => {
                let (secs, rest) = t.split_once('.').unwrap_or(("", t));
                assert!(
                    !secs.is_empty()
                        && secs.bytes().all(|b| b.is_ascii_digit())
                        && shaped(rest, "DDDDDD (Aaa Aaa _D DD:DD:DD.DDDDDD DDDD)"),
                    "time shape: {l:?}"
                );
                "   Last transition = T".to_string()
            }
            None => l.to_string(),
        })
        .collect()
}

/// Every line of `ours` appears in `theirs`, in the same order.
fn assert_subsequence(ours: &str, theirs: &str) {
    let (ours, theirs) = (normalize(ours), normalize(theirs));
    let mut rest = theirs.iter();
    for line in &ours {
        assert!(
            rest.any(|t| t == line),
            "fulcrum's line {line:?} is not in keepalived's dump (in order):\n--- fulcrum\n{}\n--- keepalived\n{}",
            ours.join("\n"),
            theirs.join("\n")
        );
    }
}

/// Runs `conf` in namespace a with keepalived, then with fulcrum, each until `ready` holds, and compares the dumps.
/// `peer`: a configuration keepalived runs in namespace b throughout.
fn compare(a_conf: &str, peer: Option<&str>, ready: &dyn Fn(&Lab) -> bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::new();
    let conf = lab.write("a.conf", a_conf);
    if let Some(p) = peer {
        let pc = lab.write("b.conf", p);
        let b = lab.b.clone();
        lab.keepalived(&b, &pc);
        let vip_b = lab.until(Duration::from_secs(10), || lab.holds(&b, VIP4));
        assert!(
            vip_b.is_some(),
            "the peer never became master\n{}",
            lab.logs()
        );
    }
    let a = lab.a.clone();
    let k = lab.keepalived(&a, &conf);
    assert!(
        lab.until(Duration::from_secs(10), || ready(&lab)).is_some(),
        "keepalived never got ready\n{}",
        lab.logs()
    );
    // Long enough for a backup to have heard its master.
    std::thread::sleep(Duration::from_millis(1500));
    let theirs = dump(&mut lab, k, &a, &PathBuf::from(KEEPALIVED_DATA));
    let theirs_json = json_dump(&mut lab, k, &PathBuf::from(KEEPALIVED_JSON));
    lab.signal(k, &a, Signal::SIGTERM);
    assert!(lab.wait_exit(k, Duration::from_secs(10)).is_some());
    let _ = std::fs::remove_file(KEEPALIVED_DATA);
    let _ = std::fs::remove_file(KEEPALIVED_JSON);
    // The address is gone before fulcrum starts, so that fulcrum's own state is what the dump shows.
    assert!(lab
        .until(Duration::from_secs(5), || !lab.holds(&a, VIP4))
        .is_some());
    let f = lab.fulcrum(&a, &conf);
    assert!(
        lab.until(Duration::from_secs(10), || ready(&lab)).is_some(),
        "fulcrum never got ready\n{}",
        lab.logs()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let path = lab.dir.join(format!("dump-{f}")).join("keepalived.data");
    let ours = dump(&mut lab, f, &a, &path);
    assert!(
        ours.contains("------< VRRP Topology >------\n VRRP Instance = VI_1\n"),
        "{ours}"
    );
    assert_subsequence(&ours, &theirs);
    let ours_json = json_dump(&mut lab, f, &path.with_file_name("keepalived.json"));
    assert_eq!(
        json_normalized(&ours_json),
        json_normalized(&theirs_json),
        "fulcrum's JSON dump (left) is not keepalived's (right)"
    );
}

#[test]
fn master_dump_matches_keepalived() {
    if !available() {
        return;
    }
    // A tracked script and interface (their weights in the effective priority) and an excluded address too.
    let conf = format!(
        "{}vrrp_script chk {{\n    script \"/bin/echo hi there\"\n    interval 1\n    weight 5\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface va\n    virtual_router_id 51\n    priority 150\n    \
         advert_int 1\n    authentication {{\n        auth_type PASS\n        auth_pass s3cret\n    }}\n    \
         track_script {{\n        chk\n    }}\n    track_interface {{\n        va weight 10\n    }}\n    \
         virtual_ipaddress_excluded {{\n        198.18.0.120\n    }}\n    \
         virtual_ipaddress {{\n        {VIP4}/24\n        198.18.0.102\n    }}\n}}\n",
        global("dir-a")
    );
    compare(&conf, None, &|lab: &Lab| lab.holds(&lab.a, VIP4));
}

#[test]
fn unicast_backup_dump_matches_keepalived() {
    if !available() {
        return;
    }
    let backup = Inst {
        name: "VI_1",
        dev: "va",
        vrid: 51,
        priority: 100,
        version: 2,
        vips: &[VIP4],
        extra: &format!("    nopreempt\n{}", unicast(true)),
    };
    let master = Inst {
        name: "VI_1",
        dev: "vb",
        vrid: 51,
        priority: 200,
        version: 2,
        vips: &[VIP4],
        extra: &unicast(false),
    };
    let a_conf = format!("{}{}", global("dir-a"), backup.render());
    let b_conf = format!("{}{}", global("dir-b"), master.render());
    // a never takes the address: ready at once (compare waits before it dumps).
    compare(&a_conf, Some(&b_conf), &|lab: &Lab| {
        !lab.holds(&lab.a, VIP4)
    });
}
