//! `option external-check`: the program each health check runs, its arguments and environment compared with
//! what haproxy 2.6 gives the same program for the same configuration, and its exit status moving the server
//! DOWN and UP.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// A directory with `check.sh`, which appends its arguments and the `HAPROXY_*` and `PATH` variables it was
/// given to `dump`, one run per paragraph, then exits with the number in `code`.
fn script_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fulcrum-extchk-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let script = format!(
        "#!/bin/sh\n{{ echo \"ARGS $*\"; /usr/bin/env | /usr/bin/sort | /bin/grep -E '^(HAPROXY_|PATH=)'; echo; }} >> {dump}\n\
         exit $(/bin/cat {code})\n",
        dump = d.join("dump").display(),
        code = d.join("code").display()
    );
    let path = d.join("check.sh");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(d.join("code"), "0").unwrap();
    d
}

/// The first run recorded in `dir`'s dump once it is complete (the program writes it in several pieces, ending
/// with an empty line), each section's own port replaced by `PORT`.
fn first_run(dir: &Path, port: u16) -> Option<String> {
    let dump = std::fs::read_to_string(dir.join("dump")).ok()?;
    let (first, _) = dump.split_once("\n\n")?;
    Some(first.replace(&port.to_string(), "PORT"))
}

fn config(dir: &Path, port: u16, origin: SocketAddr) -> String {
    format!(
        "global\n    nbthread 1\n    external-check\n    insecure-fork-wanted\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         listen app\n    bind 127.0.0.1:{port}\n    option external-check\n    external-check path \"/usr/bin:/bin\"\n\
         \x20   external-check command {}\n    server s1 {origin} check inter 200 rise 1 fall 1\n",
        dir.join("check.sh").display()
    )
}

#[test]
fn the_program_gets_haproxys_arguments_and_environment_and_its_status_moves_the_server() {
    let o = origins(1);
    let ours = script_dir("ours");
    let port = free_port();
    let p = start_proxy(&config(&ours, port, o[0].addr()));
    assert!(
        wait_until(Duration::from_secs(3), || first_run(&ours, port).is_some()),
        "the program never ran"
    );
    let mine = first_run(&ours, port).unwrap();
    assert!(mine.starts_with("ARGS 127.0.0.1 PORT 127.0.0.1 "), "{mine}");
    assert!(
        mine.contains("\nHAPROXY_SERVER_NAME=s1\n") && mine.contains("\nPATH=/usr/bin:/bin"),
        "{mine}"
    );
    let servers = p.running.as_ref().unwrap().snapshot().servers.clone();
    assert!(wait_until(Duration::from_secs(2), || servers[0].is_up()));
    std::fs::write(ours.join("code"), "3").unwrap();
    assert!(
        wait_until(Duration::from_secs(3), || !servers[0].is_up()),
        "exit status 3 did not take the server DOWN"
    );
    std::fs::write(ours.join("code"), "0").unwrap();
    assert!(
        wait_until(Duration::from_secs(3), || servers[0].is_up()),
        "exit status 0 did not bring it back UP"
    );
    drop(p);
    if haproxy_present() {
        let theirs = script_dir("haproxy");
        let hport = free_port();
        let _h = start_haproxy(
            &config(&theirs, hport, o[0].addr()),
            SocketAddr::from(([127, 0, 0, 1], hport)),
        );
        assert!(
            wait_until(Duration::from_secs(3), || first_run(&theirs, hport)
                .is_some()),
            "haproxy never ran the program"
        );
        assert_eq!(
            mine,
            first_run(&theirs, hport).unwrap(),
            "fulcrum and haproxy differ"
        );
        let _ = std::fs::remove_dir_all(theirs);
    }
    let _ = std::fs::remove_dir_all(ours);
}
