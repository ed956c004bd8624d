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
        "{D}peers p\n peer A 127.0.0.1:21001\n peer B 127.0.0.1:21002 send-proxy\n"
    ))
    .unwrap_err();
    assert_eq!((e[0].0, e[0].2.contains("not yet")), (8, true), "{e:?}");
    let e = parse(&format!(
        "{D}peers p\n peer A 127.0.0.1:21001\n default-server ssl verify none sni str(x)\n"
    ))
    .unwrap_err();
    assert_eq!((e[0].0, e[0].2.contains("'sni'")), (8, true), "{e:?}");
}

/// A certificate and key for `haproxy -c` to load (made once with openssl; `None` without it).
fn pem() -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("fulcrum-peers-pem-{}", std::process::id()));
    let path = dir.join("peer.pem");
    if path.exists() {
        return Some(path);
    }
    std::fs::create_dir_all(&dir).unwrap();
    let (crt, key) = (dir.join("c.tmp"), dir.join("k.tmp"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", "/CN=peer.test", "-days", "2", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return None;
    }
    let mut both = std::fs::read(&crt).unwrap();
    both.extend(std::fs::read(&key).unwrap());
    std::fs::write(dir.join("peer.tmp"), both).unwrap();
    std::fs::rename(dir.join("peer.tmp"), &path).unwrap();
    Some(path)
}

#[test]
fn tls_on_the_peers_link() {
    let Some(pem) = pem() else {
        eprintln!("skipped: no openssl to make a certificate");
        return;
    };
    let pem = pem.display();
    // the reg-tests' form: `default-server` gives every server line (the local one too) its TLS options
    let c = ok_both(&format!(
        "{D}peers p\n default-server ssl crt {pem} verify none\n bind 127.0.0.1:21041 ssl crt {pem}\n server A\n server B 127.0.0.1:21042\n server C 127.0.0.1:21043 no-ssl\n"
    ));
    let p = &c.peers[0];
    assert!(p.bind.as_ref().unwrap().ssl.enabled);
    let local = p.local_tls.as_ref().expect("the local server line has TLS");
    assert!(!local.verify);
    assert_eq!(
        local.crt.as_ref().map(|c| c.display().to_string()),
        Some(pem.to_string())
    );
    let b = p.peers[0].tls.as_ref().expect("B over TLS");
    assert!(b.traffic && !b.verify);
    assert!(p.peers[1].tls.is_none(), "no-ssl");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // options on the lines themselves, `peer` lines too; CAs to verify against
    let c = ok_both(&format!(
        "{D}peers p\n peer A 127.0.0.1:21051\n peer B 127.0.0.1:21052 ssl verify required ca-file {pem} ssl-min-ver TLSv1.2\n peer C 127.0.0.1:21053\n"
    ));
    let p = &c.peers[0];
    let b = p.peers[0].tls.as_ref().unwrap();
    assert!(b.verify && b.ca_file.is_some());
    assert!(p.peers[1].tls.is_none() && p.local_tls.is_none());
    // a TLS listener whose own server line has no TLS (a reload could not hand the tables over): a warning,
    // as haproxy gives; so are health-check options, which peers ignore
    let c = ok_both(&format!(
        "{D}peers p\n bind 127.0.0.1:21061 ssl crt {pem}\n server A\n server B 127.0.0.1:21062 ssl verify none check\n"
    ));
    let w: Vec<&str> = c
        .warnings
        .iter()
        .map(|w| w.diagnostic.message.as_str())
        .collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w.iter().any(|m| m.contains("'server B': check ignored")),
        "{w:?}"
    );
    assert!(w.iter().any(|m| m.contains("TLS listener")), "{w:?}");
    // verifying without CAs is refused, as haproxy does
    err1_both(
        &format!("{D}peers p\n bind 127.0.0.1:21071\n server A\n server B 127.0.0.1:21072 ssl\n"),
        9,
        "verify is enabled by default but no CA file specified",
    );
    // through `default-server`: each server line it gives the options to is named
    let text = format!("{D}peers p\n default-server ssl verify required\n bind 127.0.0.1:21081\n server A\n server B 127.0.0.1:21082\n");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.iter().map(|e| e.0).collect::<Vec<_>>(), [9, 10], "{e:?}");
    assert!(
        e[1].2
            .contains("peer 'B': verify is enabled but no CA file specified"),
        "{e:?}"
    );
    if let Some((valid, out)) = haproxy(&text) {
        assert!(!valid, "{out}");
    }
    // `default-bind` gives the local peer's listener its options, wherever it is in the section (haproxy warns
    // about the server lines without TLS, and so does fulcrum)
    for text in [
        format!("{D}peers p\n default-bind ssl crt {pem}\n bind 127.0.0.1:21101\n server A\n server B 127.0.0.1:21102 ssl verify none\n"),
        format!("{D}peers p\n bind 127.0.0.1:21101\n default-bind ssl crt {pem}\n server A\n server B 127.0.0.1:21102 ssl verify none\n"),
        format!("{D}peers p\n default-bind ssl crt {pem}\n peer A 127.0.0.1:21101\n peer B 127.0.0.1:21102 ssl verify none\n"),
    ] {
        let c = ok_both(&text);
        let b = c.peers[0].bind.as_ref().unwrap();
        assert!(b.ssl.enabled && !b.ssl.crts.is_empty(), "{text}");
        assert_eq!(b.addrs, ["127.0.0.1:21101".parse().unwrap()]);
        assert!(
            c.warnings.iter().any(|w| w.diagnostic.message.contains("TLS listener")),
            "{text}"
        );
    }
    err1_both(
        &format!("{D}peers p\n default-bind foo\n bind 127.0.0.1:21111\n server A\n"),
        7,
        "unknown bind option 'foo'",
    );
    // a bind line with `ssl` and no certificate, as for proxies
    err1_both(
        &format!("{D}peers p\n bind 127.0.0.1:21091 ssl\n server A\n"),
        7,
        "no SSL certificate specified",
    );
}
