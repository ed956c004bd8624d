//! `peers` sections and `stick-table ... peers P`: what is accepted and refused, compared with `haproxy -c -L A`
//! (the local peer is named `A` on both sides).

#[path = "haproxy_util.rs"]
mod util;

use std::path::PathBuf;
use std::process::Command;

use fulcrum_config::haproxy::{parse_sources_with, Config, ParseOptions};
use fulcrum_stick::KeyType;
use util::{have_haproxy, resolve, DEFAULTS as D};

fn env(name: &str) -> Option<String> {
    (name == "HAPROXY_LOCALPEER").then(|| "A".to_string())
}

fn parse(text: &str) -> Result<Config, Vec<(usize, String, String)>> {
    let opts = ParseOptions {
        env: &env,
        resolve: &resolve,
    };
    parse_sources_with(&[(PathBuf::from("t.cfg"), text.to_string())], &opts).map_err(|d| {
        d.0.into_iter()
            .map(|d| (d.location.line, d.keyword, d.message))
            .collect()
    })
}

/// What `haproxy -c -L A` says: (valid, output).
fn haproxy(text: &str) -> Option<(bool, String)> {
    if !have_haproxy() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("fulcrum-peers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "{:x}.cfg",
        text.len() * 31 + text.bytes().map(usize::from).sum::<usize>()
    ));
    std::fs::write(&path, text).unwrap();
    let out = Command::new("haproxy")
        .args(["-c", "-L", "A", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((text.contains("Configuration file is valid"), text))
}

#[track_caller]
fn ok_both(text: &str) -> Config {
    let c = parse(text).unwrap_or_else(|e| panic!("fulcrum refuses:\n{e:?}\n{text}"));
    if let Some((valid, out)) = haproxy(text) {
        assert!(
            valid,
            "haproxy refuses what fulcrum accepts:\n{out}\n{text}"
        );
    }
    c
}

#[track_caller]
fn err1_both(text: &str, line: usize, needle: &str) {
    let e = parse(text)
        .err()
        .unwrap_or_else(|| panic!("fulcrum accepts:\n{text}"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, line, "{e:?}");
    assert!(e[0].2.contains(needle), "{e:?} lacks {needle:?}");
    if let Some((valid, out)) = haproxy(text) {
        assert!(
            !valid,
            "haproxy accepts what fulcrum refuses:\n{out}\n{text}"
        );
    }
}

#[test]
fn peers_sections_parse() {
    // the 2.6 forms: `peer` lines, or `bind` with `server` lines where the local one has no address
    let c = ok_both(&format!(
        "{D}backend st\n stick-table type string size 10m store server_id,gpc0,conn_rate(50s) peers p\n\
         peers p\n peer A 127.0.0.1:21001\n peer B 127.0.0.1:21002\n\
         peers q\n bind 127.0.0.1:21011\n server A\n server B 127.0.0.1:21012\n server C\n table t type ip size 1k expire 30s store gpc0\n table t type ip size 2k\n\
         peers r\n disabled\n peer A 127.0.0.1:21021\n enabled\n"
    ));
    assert_eq!(c.peers.len(), 3);
    let p = &c.peers[0];
    assert_eq!((p.name.as_str(), p.local.as_str()), ("p", "A"));
    assert_eq!(
        p.bind.as_ref().unwrap().addrs,
        ["127.0.0.1:21001".parse().unwrap()]
    );
    assert_eq!(p.peers.len(), 1);
    assert_eq!(p.peers[0].addr, Some("127.0.0.1:21002".parse().unwrap()));
    let q = &c.peers[1];
    assert_eq!(
        q.bind.as_ref().unwrap().addrs,
        ["127.0.0.1:21011".parse().unwrap()]
    );
    assert_eq!(
        q.peers
            .iter()
            .map(|p| (p.name.as_str(), p.addr.is_some()))
            .collect::<Vec<_>>(),
        [("B", true), ("C", false)]
    );
    // the section's table is PEERS/NAME; a second one of the same name is ignored, as haproxy does
    assert_eq!(q.tables.len(), 1);
    assert_eq!(q.tables[0].def.name, "q/t");
    assert_eq!(q.tables[0].def.key_type, KeyType::Ip);
    assert_eq!(q.tables[0].def.size, 1024);
    assert!(!c.peers[2].disabled);
    // an empty port (an unset `${ADDR}:${PORT}`) is accepted as haproxy does: a peer never connected to
    let e = ok_both(&format!(
        "{D}peers p\n bind 127.0.0.1:21031\n server A\n server B :\n"
    ));
    assert_eq!(e.peers[0].peers[0].addr, None);
    let st = c.proxies.iter().find(|p| p.name == "st").unwrap();
    assert_eq!(st.stick_table.as_ref().unwrap().peers.as_deref(), Some("p"));
}

#[test]
fn a_section_without_the_local_peer_is_removed_with_a_warning() {
    let c = ok_both(&format!(
        "{D}frontend f\n bind 127.0.0.1:21099\n default_backend st\nbackend st\n stick-table type ip size 1k peers p\npeers p\n peer B 127.0.0.1:21002\n"
    ));
    assert!(c.peers.is_empty());
    assert!(c.warnings.iter().any(|w| w
        .diagnostic
        .message
        .contains("Removing incomplete section 'peers p' (no peer named 'A')")));
}

#[test]
fn peers_errors() {
    err1_both(
        &format!("{D}peers\n peer A 127.0.0.1:1\n"),
        6,
        "missing name for peers section",
    );
    err1_both(
        &format!("{D}peers p\n peer A 127.0.0.1:1\n shards 3\n"),
        8,
        "unknown keyword 'shards' in 'peers' section",
    );
    err1_both(
        &format!("{D}peers p\n peer A 127.0.0.1:1\n foo\n"),
        8,
        "unknown keyword 'foo'",
    );
    err1_both(
        &format!("{D}peers p\n bind :21001\n server A\n server A 127.0.0.1:3\n"),
        9,
        "local peer name already referenced at t.cfg:8",
    );
    err1_both(
        &format!("{D}peers p\n peer A 127.0.0.1:1\n table t type foo size 1k\n"),
        8,
        "unknown type 'foo'",
    );
    err1_both(
        &format!("{D}peers p\n peer A 127.0.0.1:21001\npeers p\n peer A 127.0.0.1:21002\n"),
        8,
        "peers section 'p' has the same name as another peers section declared at t.cfg:6",
    );
    err1_both(
        &format!("{D}backend b\n stick-table type ip size 1k peers q\npeers p\n peer A 127.0.0.1:21001\n"),
        7,
        "Proxy 'b': unable to find sync peers 'q'.",
    );
    // fulcrum's own limits, refused with their line
    let e = parse(&format!(
        "{D}peers p\n peer A 127.0.0.1:21001\n peer B 127.0.0.1:21002 check\n"
    ))
    .unwrap_err();
    assert_eq!((e[0].0, e[0].2.contains("not yet")), (8, true), "{e:?}");
    let e = parse(&format!(
        "{D}peers p\n bind 127.0.0.1:21001 ssl crt /x.pem\n server A\n"
    ))
    .unwrap_err();
    assert_eq!(e[0].0, 7, "{e:?}");
}
