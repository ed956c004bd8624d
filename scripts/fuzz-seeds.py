#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/) from the inputs the project's own tests and
examples use: configuration files, and the string literals of the tests that hold configurations, command lines,
HTTP heads, chunked bodies, sample expressions and VRRP packets.

The seeds are committed; run this again when the tests grow, then commit what changed. Each seed is named by the
SHA-1 of its content (as libFuzzer names its own), so a rerun rewrites the same files.
"""

import hashlib
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
MAX_SEEDS = 300
MAX_SIZE = 64 * 1024

# A Rust string literal: raw (r"..", r#".."#) or plain with escapes, optionally a byte string; char literals are
# matched (and skipped) so that a '"' does not open a string.
LITERAL = re.compile(r"b?'(?:[^'\\\n]|\\[^\n]{1,9}?)'" + r'|b?r(#*)"(.*?)"\1|b?"((?:[^"\\]|\\.)*)"', re.S)


def unescape(s):
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = s[i + 1] if i + 1 < len(s) else ""
        i += 2
        if n == "n":
            out.append("\n")
        elif n == "r":
            out.append("\r")
        elif n == "t":
            out.append("\t")
        elif n == "0":
            out.append("\0")
        elif n in "\\\"'":
            out.append(n)
        elif n == "x":
            out.append(chr(int(s[i : i + 2], 16)))
            i += 2
        elif n == "u":
            end = s.index("}", i)
            out.append(chr(int(s[i + 1 : end], 16)))
            i = end + 1
        elif n == "\n":
            # A line continuation: the newline and the next line's leading white space are dropped.
            while i < len(s) and s[i] in " \t\n\r":
                i += 1
        else:
            out.append("\\" + n)
    return "".join(out)


def literals(paths):
    for path in paths:
        text = path.read_text(errors="replace")
        for m in LITERAL.finditer(text):
            if m.group(2) is not None:
                yield m.group(2)
            elif m.group(3) is not None:
                try:
                    yield unescape(m.group(3))
                except ValueError:
                    yield m.group(3)


def files(*globs):
    out = []
    for g in globs:
        out.extend(sorted(ROOT.glob(g)))
    return out


def write(target, seeds):
    """Writes up to MAX_SEEDS distinct seeds (bytes), the shortest first, and drops the target's old seeds."""
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    for old in d.iterdir():
        old.unlink()
    distinct = sorted({s for s in seeds if 0 < len(s) <= MAX_SIZE}, key=lambda s: (len(s), s))
    # Keep a spread over the sizes when there are too many.
    if len(distinct) > MAX_SEEDS:
        step = len(distinct) / MAX_SEEDS
        distinct = [distinct[int(i * step)] for i in range(MAX_SEEDS)]
    for s in distinct:
        (d / hashlib.sha1(s).hexdigest()).write_bytes(s)
    print(f"{target}: {len(distinct)} seeds")


def haproxy():
    seeds = [p.read_bytes() for p in files("examples/**/*.cfg")]
    section = re.compile(r"^\s*(global|defaults|frontend|backend|listen|userlist|http-errors|program)\b", re.M)
    srcs = files("crates/fulcrum-config/tests/haproxy_*.rs", "crates/fulcrum-config/src/haproxy/*.rs",
                 "crates/fulcrum-proxy/tests/*.rs", "crates/fulcrum/tests/*.rs")
    for lit in literals(srcs):
        if section.search(lit) and "\n" in lit:
            seeds.append(lit.encode())
    write("haproxy_cfg", seeds)


def keepalived():
    seeds = [p.read_bytes() for p in files("examples/**/*.conf")]
    block = re.compile(r"\b(vrrp_instance|virtual_server|global_defs|vrrp_script|vrrp_sync_group|"
                       r"virtual_server_group|real_server|static_ipaddress|static_routes|track_script)\b")
    srcs = files("crates/fulcrum-config/src/keepalived/*.rs", "crates/fulcrum-config/src/keepalived/**/*.rs",
                 "crates/fulcrum-vrrp/src/**/*.rs", "crates/fulcrum-checkers/src/*.rs", "crates/fulcrum/tests/*.rs",
                 "crates/fulcrum/tests/**/*.rs")
    for lit in literals(srcs):
        if block.search(lit) and "include" not in lit:
            seeds.append(lit.encode())
    write("keepalived_conf", seeds)


def ipvsadm():
    seeds = []
    srcs = files("crates/fulcrum-lvs/tests/*.rs", "crates/fulcrum-lvs/src/args.rs", "crates/fulcrum-lvs/src/cli.rs",
                 "crates/fulcrum/tests/ipvsadm_cli.rs", "crates/fulcrum/tests/lvs_*.rs")
    for lit in literals(srcs):
        lines = [l.strip() for l in lit.splitlines()]
        lines = [l for l in lines if l.startswith("-") and len(l) < 400]
        if lines:
            seeds.append("\n".join(lines).encode())
    write("ipvsadm_args", seeds)


def vrrp():
    seeds = []
    srcs = files("crates/fulcrum-vrrp/src/**/*.rs", "crates/fulcrum-vrrp/src/*.rs")
    for path in srcs:
        text = path.read_text()
        for m in re.finditer(r'hex\(\s*"([0-9a-fA-F\s]+)"\s*\)', text):
            msg = bytes.fromhex("".join(m.group(1).split()))
            # As received (mode 0), with the checksum mended (2), mended with the pseudo-header (6).
            for mode in (0, 2, 6):
                seeds.append(bytes([mode]) + msg)
            # Inside an IPv4 header as the raw socket reads it (mode 8).
            total = 20 + len(msg)
            ip = bytes([0x45, 0xC0, total >> 8, total & 0xFF, 0, 1, 0, 0, 255, 112, 0, 0,
                        10, 99, 0, 1, 224, 0, 0, 18])
            seeds.append(bytes([8]) + ip + msg)
    write("vrrp_codec", seeds)


METHOD = re.compile(r"^(\r?\n)*[A-Z]+ \S+ HTTP/\d")


def http_request():
    seeds = []
    srcs = files("crates/fulcrum-http/src/*.rs", "crates/fulcrum-proxy/tests/*.rs", "crates/fulcrum-proxy/src/**/*.rs")
    for lit in literals(srcs):
        if METHOD.match(lit):
            # Knob 100: the default header-line limit, and a cut a little before the middle.
            seeds.append(b"\x64" + lit.encode())
    write("http_request_head", seeds)


def http_response():
    seeds = []
    srcs = files("crates/fulcrum-http/src/*.rs", "crates/fulcrum-proxy/tests/*.rs", "crates/fulcrum-proxy/src/**/*.rs",
                 "crates/fulcrum-health/src/*.rs", "crates/fulcrum-health/tests/**/*.rs")
    for lit in literals(srcs):
        if lit.startswith("HTTP/1."):
            seeds.append(b"\x80" + lit.encode())
            seeds.append(b"\x81" + lit.encode())
    write("http_response_head", seeds)


def chunked():
    seeds = []
    srcs = files("crates/fulcrum-http/src/*.rs", "crates/fulcrum-proxy/tests/*.rs")
    size_line = re.compile(r"^[0-9a-fA-F]+(;[^\r\n]*)?\r\n")
    for lit in literals(srcs):
        body = lit
        if "Transfer-Encoding: chunked" in lit or "transfer-encoding: chunked" in lit:
            parts = lit.split("\r\n\r\n", 1)
            body = parts[1] if len(parts) == 2 else ""
        if size_line.match(body):
            seeds.append(b"\xff\x01" + body.encode())
            seeds.append(b"\x03\x07" + body.encode())
    write("http_chunked", seeds)


def sample():
    seeds = []
    srcs = files("crates/fulcrum-sample/tests/*.rs", "crates/fulcrum-sample/src/*.rs",
                 "crates/fulcrum-config/tests/haproxy_samples.rs")
    fetch = re.compile(r"^[a-z][a-z0-9_.]*(\(|,|$)")
    for lit in literals(srcs):
        if "\n" in lit or len(lit) > 300:
            continue
        if fetch.match(lit) or "%[" in lit or re.search(r"%[a-zA-Z{]", lit):
            seeds.append(lit.encode())
    write("sample_expr", seeds)


def h2_frames():
    """HTTP/2 byte streams: a client's preface and frames, a server's frames, short and cut ones."""
    def frame(kind, flags, stream, payload):
        return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    client = (preface + frame(4, 0, 0, b"\x00\x03\x00\x00\x00\x64") + frame(4, 1, 0, b"")
              + frame(1, 5, 1, b"\x82\x86\x84\x41\x01a") + frame(0, 1, 3, b"hello")
              + frame(3, 0, 5, b"\x00\x00\x00\x08"))
    server = (frame(4, 0, 0, b"") + frame(1, 4, 1, b"\x88") + frame(0, 1, 1, b"ok")
              + frame(7, 0, 0, b"\x00\x00\x00\x01\x00\x00\x00\x01debug"))
    seeds = [b"\x01\x05" + client, b"\x00\x09" + server, b"\x01\x02" + client[:30],
             b"\x00\x03" + frame(3, 0, 1, b"\x00\x01"), b"\x00\x04" + frame(7, 0, 0, b"\x00" * 8)[:13]]
    write("h2_frames", seeds)


def main():
    haproxy()
    keepalived()
    ipvsadm()
    vrrp()
    http_request()
    http_response()
    chunked()
    sample()
    h2_frames()


if __name__ == "__main__":
    sys.exit(main())
