#!/usr/bin/env bash
# A flame graph of fulcrum proxy under the keep-alive load of bench/proxy-vs-haproxy.sh (scenario ka): an HAProxy
# origin answering "hello world" itself, fulcrum pinned alone to CPU 0, wrk (1 thread, 50 connections) and the
# origin on CPU 1, all on loopback. perf samples fulcrum for 4 s (DWARF call graphs) and inferno draws the SVG.
#
#   bench/flame.sh OUT.svg [TITLE]        FULCRUM_BIN=path to profile another build (default: the release build)
#                                          FOLDED=path to keep the collapsed stacks (for inferno-diff-folded)
#
# Needs perf, haproxy, wrk, taskset and inferno (`cargo install inferno`). Also prints the share of samples in
# the kernel, fulcrum and libc, and the system calls per request, which tell how far the proxy is from the floor
# (the kernel's own work for the recv and send that each request needs on each side).
set -euo pipefail
out=${1:?usage: bench/flame.sh OUT.svg [TITLE]}
title=${2:-"fulcrum proxy, keep-alive (wrk -c50, 11-byte body)"}
cd "$(dirname "$0")/.."
for tool in perf haproxy wrk taskset inferno-collapse-perf inferno-flamegraph; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install linux-perf haproxy wrk; cargo install inferno)" >&2; exit 1; }
done
FULCRUM=${FULCRUM_BIN:-}
if [ -z "$FULCRUM" ]; then
  cargo build --release -q -p fulcrum
  FULCRUM=target/release/fulcrum
fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ORIGIN=19280 PROXY=19281
cat > "$work/origin.cfg" <<CFG
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend origin
    bind 127.0.0.1:$ORIGIN
    http-request return status 200 content-type text/plain string "hello world"
CFG
cat > "$work/proxy.cfg" <<CFG
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$PROXY
    default_backend be
backend be
    server origin 127.0.0.1:$ORIGIN
CFG
taskset -c 1 haproxy -f "$work/origin.cfg" -db >"$work/origin.log" 2>&1 &
pids+=($!)
taskset -c 0 "$FULCRUM" proxy -q -f "$work/proxy.cfg" >"$work/proxy.log" 2>&1 &
proxy=$!
pids+=($proxy)
sleep 0.5
taskset -c 1 wrk -t1 -c50 -d2s "http://127.0.0.1:$PROXY/" >/dev/null
perf record -q -F 2000 -g --call-graph dwarf,16384 -p "$proxy" -o "$work/perf.data" -- sleep 4 >/dev/null 2>&1 &
rec=$!
taskset -c 1 wrk -t1 -c50 -d5s "http://127.0.0.1:$PROXY/" | grep -E "Requests/sec"
wait "$rec"
perf report -i "$work/perf.data" --no-children --sort dso -g none 2>/dev/null | grep '%' | head -4
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf > "$work/folded"
inferno-flamegraph --minwidth 1.5 --width 1600 --title "$title" < "$work/folded" > "$out"
if [ -n "${FOLDED:-}" ]; then cp "$work/folded" "$FOLDED"; fi
# System calls per request, counted over a bounded 2 s run.
events=syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_writev,syscalls:sys_enter_epoll_wait
perf stat -e "$events" -p "$proxy" -o "$work/stat.txt" -- sleep 2.5 &
st=$!
sleep 0.2
requests=$(taskset -c 1 wrk -t1 -c50 -d2s "http://127.0.0.1:$PROXY/" | awk '/requests in/ {print $1}')
wait "$st"
awk -v r="$requests" '/syscalls:/ {gsub(/,/, "", $1); printf "%-32s %.2f per request\n", $2, $1 / r}' "$work/stat.txt"
echo "wrote $out"
