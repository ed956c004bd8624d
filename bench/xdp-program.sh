#!/usr/bin/env bash
# The XDP program's own time per packet (crates/fulcrum-xdp/examples/xdp-prog-time.rs): the program is loaded,
# not attached anywhere, and frames are run through it with BPF_PROG_TEST_RUN; the kernel times the runs.
# Needs root (loading BPF) and clang (building the program). Nothing is sent on any device.
#
#   sudo bench/xdp-program.sh [REPEAT [SYNS]]      (defaults 1000000 and 10000)
#
# Prints ns per packet, the median of 5 runs, for an ACK of an established TCP flow, a datagram of an
# established UDP flow, a TCP packet to an address that is no service (XDP_PASS), and SYNs of new
# connections under rr and wlc. Its numbers only mean something on a quiet machine: run it a few times.
# The run is kept on one CPU (CPU=0 by default): the program's flow sweeper, a BPF timer started by the first
# packet on that packet's CPU, can take an established flow for expired while the runs update it from another
# CPU (its `now - last` goes below zero), and the frame then passes to the stack (the example says so and fails).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "xdp-program.sh: loading the BPF program needs root" >&2
  exit 1
fi
cargo build --release -q -p fulcrum-xdp --example xdp-prog-time
exec taskset -c "${CPU:-0}" "${CARGO_TARGET_DIR:-target}/release/examples/xdp-prog-time" "$@"
