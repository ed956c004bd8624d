//! `fulcrum keepalived` as a user runs it: `-t` checks keepalived.conf and reports problems with file:line.

use std::process::Command;

fn run_check(text: &str, tag: &str) -> (i32, String) {
    let path = std::env::temp_dir().join(format!("fulcrum-kcli-{}-{tag}.conf", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fulcrum"))
        .arg("keepalived")
        .arg("-t")
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "K"),
    )
}

const VALID: &str = "\
global_defs {
    router_id test
}
vrrp_instance VI_1 {
    state MASTER
    interface lo
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cret
    }
    virtual_ipaddress {
        198.18.0.100/24
    }
}
";

#[test]
fn check_accepts_a_valid_config() {
    let (code, err) = run_check(VALID, "ok");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn check_names_file_line_and_keyword() {
    let bad = VALID.replace(
        "    advert_int 1\n",
        "    advert_int 1\n    frobnicate yes\n",
    );
    let (code, err) = run_check(&bad, "bad");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("K:10") && err.contains("frobnicate"), "{err}");
}
