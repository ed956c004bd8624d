#!/usr/bin/env bash
# Installs the system packages the test suite uses, only those that are missing.
set -euo pipefail

# wrk, gawk and bc: the benchmark smoke test (bench/proxy-vs-haproxy.sh --smoke); nghttp2-client: h2load for the
# benchmark itself; varnish: varnishtest, which runs HAProxy's regression suite (scripts/conformance.sh); bird2: the
# announcement and ECMP tests; conntrackd: the sync daemon's test; systemd (systemd-analyze), help2man and lintian:
# the unit and package tests (crates/fulcrum/tests/packaging.rs, `make deb`); clang and libbpf-dev: the XDP plane's
# BPF program (crates/fulcrum-xdp/build.rs compiles bpf/xdp_lb.c; without them fulcrum builds without it); faketime:
# OCSP responses dated in the past and the future (crates/fulcrum-tls/tests/ocsp_load.rs).
packages=(haproxy keepalived nftables iproute2 conntrack curl openssl socat procps chromium wrk gawk bc nghttp2-client varnish bird2 conntrackd systemd help2man lintian clang libbpf-dev faketime)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The stats tests parse the Prometheus exposition with the reference parser.
ensure_prometheus_client() {
  python3 -c "import prometheus_client" >/dev/null 2>&1 && return 0
  python3 -m pip install --quiet prometheus-client >/dev/null 2>&1 \
    || python3 -m pip install --quiet --break-system-packages prometheus-client >/dev/null
}
# `make deb` and its test build the package with cargo-deb (a cargo subcommand from crates.io; a few minutes to
# build, once per machine).
ensure_cargo_deb() {
  cargo deb --version >/dev/null 2>&1 && return 0
  echo "installing cargo-deb (cargo install, once)"
  cargo install --locked --quiet cargo-deb
}
if [ ${#missing[@]} -eq 0 ]; then
  ensure_prometheus_client
  ensure_cargo_deb
  exit 0
fi
echo "installing test dependencies: ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The packages would start their own services (haproxy, keepalived, varnishd) on install; the tests start the
# peers they need themselves, so a policy-rc.d keeps every service down while installing (and nothing is stopped
# by name afterwards).
policy=/usr/sbin/policy-rc.d
placed=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && placed=1
fi
status=0
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
if [ "$placed" = 1 ]; then $SUDO rm -f "$policy"; fi
[ "$status" = 0 ] || exit "$status"
ensure_prometheus_client
ensure_cargo_deb
