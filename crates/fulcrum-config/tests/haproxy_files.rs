//! `-f FILE|DIR` loading: several files, directories in lexical order, unreadable paths; and the shipped examples,
//! which the real haproxy must accept too.

#[path = "haproxy_util.rs"]
mod util;

use std::fs;
use std::path::{Path, PathBuf};

use fulcrum_config::haproxy::{load, parse_str, ProxyKind};
use util::*;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fulcrum-cfg-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn several_files_in_the_order_given() {
    let d = tmpdir("files");
    let a = d.join("a.cfg");
    let b = d.join("b.cfg");
    fs::write(
        &a,
        "global\n maxconn 7\nbackend app\n server s1 127.0.0.1:18081\n",
    )
    .unwrap();
    fs::write(
        &b,
        " server s2 127.0.0.1:18082\nfrontend web\n bind :18080\n default_backend app\n",
    )
    .unwrap();
    let c = load(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(c.global.maxconn, Some(7));
    let app = c.backend("app").unwrap();
    assert_eq!(
        app.servers.len(),
        2,
        "the backend continues in the second file"
    );
    assert_eq!(*app.servers[1].location.file, b);
    // the other order: b's first line is out of any section
    let e = load(&[b.clone(), a]).unwrap_err();
    assert_eq!(e.0[0].location.line, 1);
    assert_eq!(*e.0[0].location.file, b);
    assert_eq!(e.0[0].keyword, "server");
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn directory_in_lexical_order() {
    let d = tmpdir("dir");
    fs::write(
        d.join("20-backend.cfg"),
        "backend app\n server s1 127.0.0.1:18081\n",
    )
    .unwrap();
    fs::write(
        d.join("10-global.cfg"),
        "global\n maxconn 9\ndefaults\n mode http\n",
    )
    .unwrap();
    fs::write(
        d.join("30-frontend.cfg"),
        "frontend web\n bind :18080\n default_backend app\n",
    )
    .unwrap();
    fs::write(d.join("99-ignored.txt"), "this is not a cfg file\n").unwrap();
    fs::create_dir(d.join("sub.cfg")).unwrap();
    let c = load(std::slice::from_ref(&d)).unwrap();
    assert_eq!(c.global.maxconn, Some(9));
    let names: Vec<(&str, ProxyKind)> = c
        .proxies
        .iter()
        .map(|p| (p.name.as_str(), p.kind))
        .collect();
    assert_eq!(
        names,
        [("app", ProxyKind::Backend), ("web", ProxyKind::Frontend)]
    );
    assert_eq!(
        c.backend("app").unwrap().mode,
        fulcrum_config::haproxy::Mode::Http,
        "10-global.cfg came first"
    );
    // a file and a directory together
    let extra = tmpdir("dir-extra").join("extra.cfg");
    fs::write(&extra, "backend more\n server m 127.0.0.1:18090\n").unwrap();
    let c = load(&[d.clone(), extra.clone()]).unwrap();
    assert_eq!(c.proxies.last().unwrap().name, "more");
    fs::remove_dir_all(d).unwrap();
    fs::remove_dir_all(extra.parent().unwrap()).unwrap();
}

#[test]
fn unreadable_paths_are_diagnostics() {
    let missing = PathBuf::from("/nonexistent/fulcrum/h.cfg");
    let e = load(std::slice::from_ref(&missing)).unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert_eq!(*e.0[0].location.file, missing);
    assert!(e.0[0]
        .message
        .contains("cannot read '/nonexistent/fulcrum/h.cfg'"));
    // reported along with the problems of the files that could be read
    let d = tmpdir("unreadable");
    let bad = d.join("bad.cfg");
    fs::write(&bad, "global\n frob\n").unwrap();
    let e = load(&[missing, bad]).unwrap_err();
    assert_eq!(e.0.len(), 2);
    assert_eq!(e.0[1].keyword, "frob");
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn file_name_in_diagnostics() {
    let e = parse_str("/etc/haproxy/haproxy.cfg", "global\n\n  maxconn x\n").unwrap_err();
    assert_eq!(e.0[0].location.to_string(), "/etc/haproxy/haproxy.cfg:3");
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/haproxy")
}

#[test]
fn examples_are_valid_for_fulcrum_and_haproxy() {
    let mut files: Vec<PathBuf> = fs::read_dir(examples_dir())
        .expect("examples/haproxy exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cfg"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the example configurations, found {files:?}"
    );
    for f in &files {
        let c = match load(std::slice::from_ref(f)) {
            Ok(c) => c,
            Err(e) => panic!("fulcrum rejects {}:\n{e}", f.display()),
        };
        assert!(!c.proxies.is_empty(), "{}", f.display());
        for p in &c.proxies {
            for b in &p.binds {
                assert!(
                    b.addrs
                        .iter()
                        .all(|a| a.ip().is_loopback() && a.port() >= 18000),
                    "{}",
                    f.display()
                );
            }
            for s in &p.servers {
                assert!(
                    s.addr.ip().is_loopback() && s.addr.port() >= 18000,
                    "{}",
                    f.display()
                );
            }
        }
        if let Some((valid, out)) = haproxy_check_file(f) {
            assert!(valid, "haproxy -c rejects {}:\n{out}", f.display());
            assert!(
                !out.contains("[WARNING]"),
                "haproxy -c warns about {}:\n{out}",
                f.display()
            );
        }
    }
}

#[test]
fn example_contents() {
    let c = load(&[examples_dir().join("http-weighted-backup-checks.cfg")]).unwrap();
    let app = c.backend("app").unwrap();
    assert!(app.httpchk.is_some());
    assert_eq!(
        app.servers
            .iter()
            .map(|s| (s.weight, s.backup, s.check))
            .collect::<Vec<_>>(),
        [(3, false, true), (1, false, true), (1, true, true)]
    );
}
