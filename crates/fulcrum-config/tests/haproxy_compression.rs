//! `compression` and `filter` lines: what HAProxy 2.6 accepts (checked with the real haproxy when present) and
//! the model fulcrum builds, and the refusals with their lines.

#[path = "haproxy_util.rs"]
mod util;

use fulcrum_config::haproxy::compression::{CompAlgo, Compression};
use util::*;

const D: &str = DEFAULTS; // 5 lines

fn proxy<'a>(
    c: &'a fulcrum_config::haproxy::Config,
    name: &str,
) -> &'a fulcrum_config::haproxy::Proxy {
    c.proxies.iter().find(|p| p.name == name).unwrap()
}

#[test]
fn algos_types_offload() {
    let c = ok_both(&format!(
        "{D}frontend f\n bind 127.0.0.1:18080\n default_backend b\n compression offload\n\
         backend b\n compression algo raw-deflate deflate\n compression algo gzip identity\n\
         compression type text/plain\n compression type text/html application/json\n server s 127.0.0.1:1\n"
    ));
    assert_eq!(
        proxy(&c, "b").compression,
        Some(Compression {
            algos: vec![
                CompAlgo::RawDeflate,
                CompAlgo::Deflate,
                CompAlgo::Gzip,
                CompAlgo::Identity
            ],
            types: vec![
                "text/plain".into(),
                "text/html".into(),
                "application/json".into()
            ],
            offload: false,
        })
    );
    let b = proxy(&c, "b").compression.clone().unwrap();
    // The last written is tried first.
    assert_eq!(b.preference().next(), Some(CompAlgo::Identity));
    let f = proxy(&c, "f").compression.clone().unwrap();
    assert!(f.offload && f.algos.is_empty());
    assert_eq!(
        proxy(&c, "b").compression.as_ref().map(|c| c.offload),
        Some(false)
    );
}

#[test]
fn inherited_from_defaults() {
    let c = ok_both(
        "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n compression algo gzip\n\
         backend b\n compression algo deflate\n server s 127.0.0.1:1\n",
    );
    assert_eq!(
        proxy(&c, "b").compression.as_ref().unwrap().algos,
        [CompAlgo::Gzip, CompAlgo::Deflate]
    );
    // No compression line at all: nothing.
    let c = ok_both(&format!("{D}backend b\n server s 127.0.0.1:1\n"));
    assert_eq!(proxy(&c, "b").compression, None);
}

#[test]
fn offload_in_defaults_is_ignored_with_a_warning() {
    let text = "defaults\n mode http\n compression offload\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
                backend b\n server s 127.0.0.1:1\n";
    let c = ok(text);
    assert!(!proxy(&c, "b").compression.as_ref().unwrap().offload);
    assert!(c
        .warnings
        .iter()
        .any(|w| w.diagnostic.location.line == 3 && w.diagnostic.message.contains("ignored")));
}

#[test]
fn filters() {
    // The filter may be explicit; quiet traces are accepted beside it.
    ok_both(&format!(
        "{D}frontend f\n bind 127.0.0.1:18080\n compression algo gzip\n filter trace name A random-forwarding quiet\n\
         filter compression\n filter trace name B random-parsing hexdump quiet\n default_backend b\n\
         backend b\n filter compression\n server s 127.0.0.1:1\n"
    ));
    // Other filters and compression without the compression filter: refused by both.
    let e = err_both(&format!(
        "{D}backend b\n compression algo gzip\n filter trace quiet\n server s 127.0.0.1:1\n"
    ));
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].0, e[0].1.as_str()), (6, "compression"));
    assert!(
        e[0].2.contains("require an explicit filter declaration"),
        "{e:?}"
    );
    err1_both(
        &format!("{D}backend b\n filter compression\n filter compression\n server s 127.0.0.1:1\n"),
        8,
        "filter",
        "only one compression filter",
    );
    err1_both(
        &format!("{D}backend b\n filter compression x\n server s 127.0.0.1:1\n"),
        7,
        "filter compression",
        "unknown keyword 'x'",
    );
    err1_both(
        &format!("{D}backend b\n filter trace bogus quiet\n server s 127.0.0.1:1\n"),
        7,
        "filter trace",
        "unknown keyword 'bogus'",
    );
    err1_both(
        &format!("{D}backend b\n filter foo\n server s 127.0.0.1:1\n"),
        7,
        "filter",
        "unknown keyword 'foo'",
    );
    err1_both(
        &format!("{D}backend b\n filter\n server s 127.0.0.1:1\n"),
        7,
        "filter",
        "missing argument",
    );
    err1_both(
        "defaults\n mode http\n filter compression\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n",
        3,
        "filter",
        "not allowed in a 'defaults' section",
    );
    // HAProxy accepts these; fulcrum refuses them, naming the line.
    err1(
        &format!("{D}backend b\n filter trace name X\n server s 127.0.0.1:1\n"),
        7,
        "filter trace",
        "only with 'quiet'",
    );
    err1(
        &format!("{D}backend b\n filter spoe engine x config f.conf\n server s 127.0.0.1:1\n"),
        7,
        "filter spoe",
        "does not support yet",
    );
}

#[test]
fn bad_compression_lines() {
    for (line, needle) in [
        ("compression", "expects 'algo', 'type' or 'offload'"),
        ("compression foo", "expects 'algo', 'type' or 'offload'"),
        ("compression algo", "expects <algorithm>"),
        (
            "compression algo gzip foo",
            "'foo' is not a supported algorithm",
        ),
        ("compression type", "expects <type>"),
    ] {
        err1_both(
            &format!("{D}backend b\n {line}\n server s 127.0.0.1:1\n"),
            7,
            "compression",
            needle,
        );
    }
    // Accepted by both: types without algorithms (nothing is compressed), words after `offload`.
    ok_both(&format!("{D}backend b\n compression type text/plain\n compression offload x\n server s 127.0.0.1:1\n"));
}
