#!/usr/bin/env bash
# rustls' crypto providers compared on this machine (crates/fulcrum-tls/examples/providers.rs): full and resumed
# TLS 1.3 handshakes per second and bulk MB/s, in memory on one pinned core, for an ECDSA P-256 and an RSA-2048
# certificate made here.
#
#   bench/tls-providers.sh [SECONDS]
set -euo pipefail
secs=${1:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/fulcrum-providers.XXXXXX)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet --manifest-path "$top/Cargo.toml" -p fulcrum-tls --example providers
bin="${CARGO_TARGET_DIR:-$top/target}/release/examples/providers"
leaf=(-addext basicConstraints=critical,CA:FALSE -addext subjectAltName=DNS:bench.test -subj /CN=bench.test -days 2)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ec.key" -out "$work/ec.crt" \
  "${leaf[@]}" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/rsa.key" -out "$work/rsa.crt" "${leaf[@]}" 2>/dev/null
for k in ec rsa; do
  cat "$work/$k.crt" "$work/$k.key" > "$work/$k.pem"
  taskset -c 0 "$bin" "$work/$k.pem" "$secs"
done
