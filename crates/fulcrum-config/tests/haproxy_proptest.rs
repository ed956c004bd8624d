//! No input, however broken, makes the parser panic.

#[path = "haproxy_util.rs"]
mod util;

use proptest::prelude::*;

/// Words that steer random lines into real parser paths.
const WORDS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "resolvers",
    "bind",
    "server",
    "default-server",
    "mode",
    "http",
    "tcp",
    "timeout",
    "client",
    "server",
    "connect",
    "option",
    "no",
    "forwardfor",
    "except",
    "httpchk",
    "http-check",
    "expect",
    "status",
    "!",
    "balance",
    "uri",
    "len",
    "depth",
    "random(3)",
    "hdr(x)",
    "hash-type",
    "consistent",
    "log",
    "global",
    "stdout",
    "format",
    "raw",
    "local0",
    "info",
    "stats",
    "socket",
    "level",
    "mode",
    "maxconn",
    "nbthread",
    "default_backend",
    "from",
    "b",
    "f",
    "s",
    "check",
    "inter",
    "weight",
    "backup",
    "port",
    "addr",
    "v4v6",
    ":80",
    "*:1-3",
    "[::1]:8",
    "::",
    "127.0.0.1",
    "127.0.0.1:1",
    "ipv6@:9",
    "udp@1.2.3.4:5",
    "/dev/log",
    "10.0.0.0/8",
    "0",
    "5s",
    "99999999999999999999",
    "-1",
    "acl",
    "a",
    "path_beg",
    "hdr_sub(host)",
    "src",
    "dst_port",
    "-i",
    "-m",
    "-f",
    "--",
    "reg",
    "(",
    "if",
    "unless",
    "!a",
    "!",
    "{",
    "}",
    "||",
    "or",
    "TRUE",
    "use_backend",
    "http-request",
    "http-response",
    "tcp-request",
    "connection",
    "reject",
    "set-header",
    "redirect",
    "location",
    "code",
    "deny",
    "deny_status",
    "return",
    "string",
    "content-type",
    "tarpit",
    "errorfile",
    "503",
    "%[src]",
    "\"",
    "'",
    "\\",
    "\\x4",
    "${",
    "$X",
    "#",
    "\t",
    "",
];

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(proptest::sample::select(WORDS), 0..7).prop_map(|w| w.join(" ")),
        1 => "\\PC{0,40}",
        1 => proptest::collection::vec(any::<char>(), 0..30).prop_map(|c| c.into_iter().collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_input_never_panics(lines in proptest::collection::vec(line(), 0..25)) {
        let text = lines.join("\n");
        // the test resolver never touches the network
        let _ = util::parse(&text);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = util::parse(&text);
    }
}
