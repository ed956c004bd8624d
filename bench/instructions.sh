#!/usr/bin/env bash
# User-space instructions per request of fulcrum proxy and HAProxy, counted by valgrind's callgrind: the same
# haproxy.cfg, the same origin, the same requests, side by side in one run.
#
#   bench/instructions.sh [--requests N] [--scenarios "h2 h1"] [--port BASE]
#                         FULCRUM_BIN=path to count another build (default: the release build)
#
# Scenarios: h2 (h2load -c50 -m10: HTTP/2 with prior knowledge, ten streams on each of 50 connections, to an
# HTTP/1.1 origin), h1 (h2load --h1 -c50: HTTP/1.1 keep-alive). The origin is an HAProxy answering "hello world"
# itself. Each proxy runs under callgrind with one worker thread; after 2,000 warm-up requests the counts are
# zeroed, N requests (20,000 by default) are sent, and the counts dumped.
#
# Why this beside bench/proxy-vs-haproxy.sh: CPU time on this 2-CPU VM moves by 10% from run to run (other
# tenants, and a proxy that gets faster batches less and so spends more per request in the kernel); the count of
# instructions a proxy runs in user space for the same requests moves by under 1%, so a change of a few percent
# in the code's own cost shows. It says nothing of the kernel's share, cache misses or time: the CPU-time ratios
# stay the figures the issues' targets are about. Under callgrind both proxies run about 50 times slower, so each
# batches more requests per system call than at full speed; they are counted alike.
#
# Needs valgrind (callgrind_control), haproxy and h2load (nghttp2-client).
set -euo pipefail
REQUESTS=20000
SCENARIOS="h2 h1"
PORT=19480
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) REQUESTS=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$REQUESTS" in '' | *[!0-9]*) echo "--requests must be a number" >&2; exit 2 ;; esac
for tool in valgrind callgrind_control haproxy h2load; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install valgrind haproxy nghttp2-client)" >&2; exit 1; }
done
cd "$(dirname "$0")/.."
FULCRUM=${FULCRUM_BIN:-}
if [ -z "$FULCRUM" ]; then
  cargo build --release -q -p fulcrum
  FULCRUM=target/release/fulcrum
fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ORIGIN=$PORT PROXY=$((PORT + 1))
# What the origin's and the proxies' configurations share.
cfg_head() {
  cat <<CFG
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
CFG
}
{ cfg_head; cat <<CFG; } > "$work/origin.cfg"
frontend origin
    bind 127.0.0.1:$ORIGIN
    http-request return status 200 content-type text/plain string "hello world"
CFG
haproxy -f "$work/origin.cfg" -db >/dev/null 2>&1 &
pids+=($!)

# count WHO SCENARIO: prints the user-space instructions per request.
count() {
  local who=$1 scen=$2 bind="bind 127.0.0.1:$PROXY" load=(--h1 -c50 -m1)
  if [ "$scen" = h2 ]; then bind="$bind proto h2"; load=(-c50 -m10); fi
  { cfg_head; cat <<CFG; } > "$work/proxy.cfg"
frontend fe
    $bind
    default_backend be
backend be
    server origin 127.0.0.1:$ORIGIN
CFG
  local cmd=("$FULCRUM" proxy -q -f "$work/proxy.cfg")
  [ "$who" = haproxy ] && cmd=(haproxy -db -f "$work/proxy.cfg")
  rm -f "$work"/cg.out*
  : > "$work/cg.out.1"
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "${cmd[@]}" >"$work/$who.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PROXY") 2>/dev/null && break
    sleep 0.2
  done
  timeout 300 h2load "${load[@]}" -n 2000 "http://127.0.0.1:$PROXY/" >/dev/null 2>&1
  callgrind_control -z "$pid" >/dev/null 2>&1
  local out
  out=$(timeout 900 h2load "${load[@]}" -n "$REQUESTS" "http://127.0.0.1:$PROXY/" 2>&1)
  local done_n
  done_n=$(echo "$out" | awk '/^requests:/ {print $8}')
  callgrind_control -d "$pid" >/dev/null 2>&1
  for _ in $(seq 50); do
    grep -qE '^(summary|totals):' "$work/cg.out.1" 2>/dev/null && break
    sleep 0.2
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local total
  # The dump asked for after the zeroing is part 1 (the process's exit writes the rest to cg.out itself).
  total=$(awk '/^(summary|totals):/ {print $2; exit}' "$work/cg.out.1")
  if [ "$done_n" != "$REQUESTS" ]; then
    echo "$who $scen: only $done_n of $REQUESTS requests succeeded" >&2
    exit 1
  fi
  echo $((total / REQUESTS))
}

printf '%-4s %14s %14s %8s\n' scen "haproxy ins/req" "fulcrum ins/req" ratio
for scen in $SCENARIOS; do
  case "$scen" in h1 | h2) ;; *) echo "unknown scenario $scen (h2, h1)" >&2; exit 2 ;; esac
  h=$(count haproxy "$scen")
  f=$(count fulcrum "$scen")
  awk -v s="$scen" -v h="$h" -v f="$f" 'BEGIN {printf "%-4s %14d %14d %8.2f\n", s, h, f, f / h}'
done
echo "(ratio: fulcrum/haproxy user-space instructions per request, lower is better; callgrind, one worker each)"
