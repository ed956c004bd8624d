#!/usr/bin/env bash
# Reloads under load: how many requests fail while a proxy is reloaded again and again.
#
#   bench/reload-under-load.sh [--duration SECS] [--reloads N]      FULCRUM_BIN=another build (default: release)
#
# For each setup, an HAProxy origin answers "hello world" on loopback; one wrk drives keep-alive load and another
# `Connection: close` load (1 thread, 20 connections each) through the proxy for SECS seconds (default 15) while
# the proxy is reloaded N times (default 10), evenly spaced. Printed per setup and per load: requests, non-2xx
# answers and wrk's socket errors (connect, read, write, timeout). Setups:
#   haproxy -W            master-worker, SIGUSR2 to the master (no stats socket)
#   haproxy -W expose-fd  the same with 'stats socket ... expose-fd listeners' in the configuration
#   haproxy -sf           a new standalone process each time, '-sf OLD' (binds beside the old one)
#   haproxy -sf -x        the same taking the old process's sockets with '-x' (expose-fd listeners)
#   fulcrum -W            master-worker, SIGUSR2 to the master
#   fulcrum -sf           a new standalone process each time, '-sf OLD'
#   fulcrum -sf -x        the same with '-x' (fulcrum's own _getsocks exchange)
# Needs haproxy and wrk. Not part of `make test` (about two minutes); the test that guards the result is
# crates/fulcrum/tests/proxy_reload.rs::twenty_reloads_under_keep_alive_and_close_load_lose_nothing.
set -euo pipefail
DURATION=15
RELOADS=10
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --reloads) RELOADS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
for tool in haproxy wrk; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install haproxy wrk)" >&2; exit 1; }
done
FULCRUM=${FULCRUM_BIN:-}
if [ -z "$FULCRUM" ]; then
  cargo build --release -q -p fulcrum
  FULCRUM=${CARGO_TARGET_DIR:-target}/release/fulcrum
fi
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/started" ] && while read -r p; do kill "$p" 2>/dev/null || true; done < "$work/started"
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ORIGIN=19380 PROXY=19381
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
haproxy -q -db -f "$work/origin.cfg" & pids+=($!)

# config GEN EXPOSE: the proxy's configuration (a header that changes at each reload).
config() {
  {
    echo "global"
    echo "    nbthread 1"
    echo "    hard-stop-after 30s"
    [ "$2" = yes ] && echo "    stats socket $work/stats.sock level admin expose-fd listeners"
    cat <<CFG
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$PROXY
    default_backend be
backend be
    http-response set-header X-Gen g$1
    server origin 127.0.0.1:$ORIGIN
CFG
  } > "$work/proxy.cfg"
}

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  return 1
}

# start KIND MODE EXPOSE: starts the proxy, its pid in $work/current.
start() {
  local kind=$1 mode=$2
  rm -f "$work/stats.sock"
  if [ "$mode" = master ]; then
    if [ "$kind" = haproxy ]; then haproxy -q -W -db -f "$work/proxy.cfg" 2>>"$work/log" & else "$FULCRUM" proxy -q -W -db -f "$work/proxy.cfg" 2>>"$work/log" & fi
  else
    if [ "$kind" = haproxy ]; then haproxy -q -db -f "$work/proxy.cfg" 2>>"$work/log" & else "$FULCRUM" proxy -q -db -f "$work/proxy.cfg" 2>>"$work/log" & fi
  fi
  echo $! > "$work/current"
  echo $! >> "$work/started"
  wait_port $PROXY
  [ "$3" = yes ] && for _ in $(seq 100); do [ -S "$work/stats.sock" ] && break; sleep 0.1; done
  return 0
}

# reload KIND MODE TAKE: one reload.
reload() {
  local kind=$1 mode=$2 take=$3 old
  old=$(cat "$work/current")
  if [ "$mode" = master ]; then
    kill -USR2 "$old"
    return 0
  fi
  local x=()
  [ "$take" = yes ] && x=(-x "$work/stats.sock")
  if [ "$kind" = haproxy ]; then
    haproxy -q -db -f "$work/proxy.cfg" "${x[@]}" -sf "$old" 2>>"$work/log" &
  else
    "$FULCRUM" proxy -q -db -f "$work/proxy.cfg" "${x[@]}" -sf "$old" 2>>"$work/log" &
  fi
  echo $! > "$work/current"
  echo $! >> "$work/started"
}

# figures FILE: "requests non-2xx socket-errors" from wrk's output.
figures() {
  awk '/requests in/ {r=$1} /Non-2xx/ {n=$NF} /Socket errors/ {gsub(",", ""); e=$4+$6+$8+$10} END {printf "%8d requests %6d non-2xx %6d socket errors", r, n+0, e+0}' "$1"
}

run() {
  local label=$1 kind=$2 mode=$3 expose=$4 take=$5
  config 0 "$expose"
  start "$kind" "$mode" "$expose"
  wrk -t1 -c20 -d"${DURATION}s" "http://127.0.0.1:$PROXY/" > "$work/ka.txt" 2>&1 &
  local ka=$!
  wrk -t1 -c20 -d"${DURATION}s" -H "Connection: close" "http://127.0.0.1:$PROXY/" > "$work/close.txt" 2>&1 &
  local cl=$!
  local gap
  gap=$(awk -v d="$DURATION" -v n="$RELOADS" 'BEGIN {printf "%.2f", d / (n + 1)}')
  for i in $(seq "$RELOADS"); do
    sleep "$gap"
    config "$i" "$expose"
    reload "$kind" "$mode" "$take"
  done
  wait "$ka" "$cl" || true
  printf "%-20s keep-alive: %s\n" "$label" "$(figures "$work/ka.txt")"
  printf "%-20s close:      %s\n" "" "$(figures "$work/close.txt")"
  # Every process this setup started (standalone ones may still be draining).
  while read -r p; do kill "$p" 2>/dev/null || true; done < "$work/started"
  rm -f "$work/started"
  sleep 1
}

echo "$RELOADS reloads in ${DURATION}s under wrk load (keep-alive and Connection: close, 20 connections each)"
run "haproxy -W"           haproxy master     no  no
run "haproxy -W expose-fd" haproxy master     yes no
run "haproxy -sf"          haproxy standalone no  no
run "haproxy -sf -x"       haproxy standalone yes yes
run "fulcrum -W"           fulcrum master     no  no
run "fulcrum -sf"          fulcrum standalone no  no
run "fulcrum -sf -x"       fulcrum standalone yes yes
